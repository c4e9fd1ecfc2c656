/* The privilege fields of an OCI config, read strictly (husk-priv.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <json-c/json.h>

#include "husk-json.h"
#include "husk-priv.h"

#define WHERE_LEN 256

const char *const husk_cap_set_names[HUSK_CAP_SETS] = {
    "bounding", "effective", "permitted", "inheritable", "ambient",
};

static const char *const cap_names[HUSK_CAP_LAST + 1] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

int husk_cap_from_name(const char *name)
{
	if (strncmp(name, "CAP_", 4) == 0)
		name += 4;
	for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
		if (!strcmp(cap_names[i], name))
			return (int)i;
	return -1;
}

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},		  {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},	  {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},	  {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},	  {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},	  {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},	  {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},	  {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

int husk_rlimit_from_name(const char *name)
{
	for (size_t k = 0; k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
		if (!strcmp(rlimit_names[k].name, name))
			return rlimit_names[k].resource;
	return -1;
}

/* How an array entry that is not a string shows in a message. */
static const char *shown(struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
}

/* "where" without its trailing dot names the object itself. */
static int not_object(const char *where, struct husk_err *err)
{
	size_t n = strlen(where);
	return husk_err_set(err, EINVAL, "%.*s must be an object",
			    (int)(n && where[n - 1] == '.' ? n - 1 : n), where);
}

/* ---- process ---- */

static int cap_set(struct json_object *caps, const char *where, const char *key, uint64_t *mask,
		   struct husk_err *err)
{
	struct json_object *a;
	*mask = 0;
	if (husk_json_array(caps, where, key, HUSK_JSON_OPTIONAL, HUSK_PRIV_MAX, &a, err) < 0)
		return -1;
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *c = json_object_array_get_idx(a, i);
		int cap = json_object_is_type(c, json_type_string)
			      ? husk_cap_from_name(json_object_get_string(c))
			      : -1;
		if (cap < 0)
			return husk_err_set(err, EINVAL, "%s%s[%zu]: unknown capability %s", where,
					    key, i, shown(c));
		*mask |= UINT64_C(1) << cap;
	}
	return 0;
}

int husk_priv_caps(struct json_object *process, const char *where, bool *has,
		   uint64_t sets[HUSK_CAP_SETS], struct husk_err *err)
{
	struct json_object *caps;
	char w[WHERE_LEN];
	*has = false;
	memset(sets, 0, HUSK_CAP_SETS * sizeof sets[0]);
	int r = husk_json_obj(process, where, "capabilities", HUSK_JSON_OPTIONAL, &caps, err);
	if (r <= 0)
		return r;
	snprintf(w, sizeof w, "%scapabilities.", where);
	for (int s = 0; s < HUSK_CAP_SETS; s++)
		if (cap_set(caps, w, husk_cap_set_names[s], &sets[s], err) < 0) {
			memset(sets, 0, HUSK_CAP_SETS * sizeof sets[0]);
			return -1;
		}
	*has = true;
	return 1;
}

static int rlimit_entry(struct json_object *o, const char *where, size_t i, struct husk_rlimit *out,
			struct husk_err *err)
{
	_cleanup_free_ char *type = NULL;
	char w[WHERE_LEN];
	snprintf(w, sizeof w, "%srlimits[%zu].", where, i);
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "%srlimits[%zu] must be an object", where, i);
	if (husk_json_str(o, w, "type", HUSK_JSON_REQUIRED, &type, err) < 0)
		return -1;
	if ((out->resource = husk_rlimit_from_name(type)) < 0)
		return husk_err_set(err, EINVAL, "%stype: unknown limit %s", w, type);
	if (husk_json_u64(o, w, "soft", HUSK_JSON_REQUIRED, &out->soft, err) < 0 ||
	    husk_json_u64(o, w, "hard", HUSK_JSON_REQUIRED, &out->hard, err) < 0)
		return -1;
	if (out->soft > out->hard)
		return husk_err_set(err, EINVAL, "%ssoft is above %shard", w, w);
	return 0;
}

int husk_priv_rlimits(struct json_object *process, const char *where, struct husk_rlimit **out,
		      size_t *n, struct husk_err *err)
{
	struct json_object *a;
	*out = NULL;
	*n = 0;
	if (husk_json_array(process, where, "rlimits", HUSK_JSON_OPTIONAL, HUSK_PRIV_MAX, &a, err) <
	    0)
		return -1;
	size_t len = a ? json_object_array_length(a) : 0;
	_cleanup_free_ struct husk_rlimit *v = calloc(len + 1, sizeof *v);
	if (!v)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++)
		if (rlimit_entry(json_object_array_get_idx(a, i), where, i, &v[i], err) < 0)
			return -1;
	*out = husk_steal(v);
	*n = len;
	return 0;
}

int husk_priv_no_new_privs(struct json_object *process, const char *where, bool *out,
			   struct husk_err *err)
{
	*out = false;
	return husk_json_bool(process, where, "noNewPrivileges", HUSK_JSON_OPTIONAL, out, err) < 0
		   ? -1
		   : 0;
}

static int user_check(struct json_object *process, const char *where, struct husk_err *err)
{
	struct json_object *user, *gids;
	char w[WHERE_LEN];
	uint32_t id;
	int64_t umask;
	int r = husk_json_obj(process, where, "user", HUSK_JSON_OPTIONAL, &user, err);
	if (r <= 0)
		return r;
	snprintf(w, sizeof w, "%suser.", where);
	if (husk_json_u32(user, w, "uid", HUSK_JSON_REQUIRED, &id, err) < 0 ||
	    husk_json_u32(user, w, "gid", HUSK_JSON_REQUIRED, &id, err) < 0 ||
	    husk_json_i64(user, w, "umask", HUSK_JSON_OPTIONAL, 0, 0777, &umask, err) < 0 ||
	    husk_json_array(user, w, "additionalGids", HUSK_JSON_OPTIONAL, HUSK_PRIV_MAX, &gids,
			    err) < 0)
		return -1;
	for (size_t i = 0; gids && i < json_object_array_length(gids); i++) {
		struct json_object *g = json_object_array_get_idx(gids, i);
		if (!json_object_is_type(g, json_type_int) || json_object_get_int64(g) < 0 ||
		    json_object_get_int64(g) > UINT32_MAX)
			return husk_err_set(err, EINVAL, "%sadditionalGids[%zu] is not a valid gid",
					    w, i);
	}
	return 0;
}

int husk_priv_process_check(struct json_object *process, const char *where, struct husk_err *err)
{
	uint64_t sets[HUSK_CAP_SETS];
	_cleanup_free_ struct husk_rlimit *rl = NULL;
	size_t nrl;
	bool b;
	int adj;
	if (!process)
		return 0;
	if (!json_object_is_type(process, json_type_object))
		return not_object(where, err);
	if (husk_priv_caps(process, where, &b, sets, err) < 0 ||
	    husk_priv_no_new_privs(process, where, &b, err) < 0 ||
	    husk_priv_rlimits(process, where, &rl, &nrl, err) < 0 ||
	    husk_json_int(process, where, "oomScoreAdj", HUSK_JSON_OPTIONAL, -1000, 1000, &adj,
			  err) < 0 ||
	    user_check(process, where, err) < 0)
		return -1;
	return 0;
}

/* ---- linux ---- */

/* The actions and comparisons agent/seccomp.c compiles. */
static const char *const seccomp_actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",	      "SCMP_ACT_ALLOW",	       "SCMP_ACT_LOG",
};
static const char *const seccomp_ops[] = {
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",	"SCMP_CMP_EQ",
    "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
};

static bool known(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return true;
	return false;
}

/* A required string naming one of names. */
static int named(struct json_object *o, const char *where, const char *key,
		 const char *const *names, size_t n, const char *what, struct husk_err *err)
{
	_cleanup_free_ char *s = NULL;
	if (husk_json_str(o, where, key, HUSK_JSON_REQUIRED, &s, err) < 0)
		return -1;
	if (!known(names, n, s))
		return husk_err_set(err, EOPNOTSUPP, "%s%s: %s %s is not supported", where, key,
				    what, s);
	return 0;
}

/* An array of strings (flags: HUSK_JSON_ABS_PATHS), read only to refuse. */
static int strings(struct json_object *o, const char *where, const char *key, int flags, size_t max,
		   struct husk_err *err)
{
	char **v;
	size_t n;
	int r = husk_json_strv(o, where, key, HUSK_JSON_OPTIONAL | flags, max, &v, &n, err);
	husk_strv_free(v);
	return r < 0 ? -1 : 0;
}

static int seccomp_arg(struct json_object *o, const char *where, struct husk_err *err)
{
	int64_t idx;
	uint64_t v;
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "%s must be an object", where);
	char w[WHERE_LEN];
	snprintf(w, sizeof w, "%s.", where);
	if (husk_json_i64(o, w, "index", HUSK_JSON_REQUIRED, 0, 5, &idx, err) < 0 ||
	    husk_json_u64(o, w, "value", HUSK_JSON_REQUIRED, &v, err) < 0 ||
	    husk_json_u64(o, w, "valueTwo", HUSK_JSON_OPTIONAL, &v, err) < 0 ||
	    named(o, w, "op", seccomp_ops, sizeof seccomp_ops / sizeof seccomp_ops[0], "comparison",
		  err) < 0)
		return -1;
	return 0;
}

static int seccomp_rule(struct json_object *o, const char *where, struct husk_err *err)
{
	struct json_object *args;
	int64_t e;
	char w[WHERE_LEN];
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "%s must be an object", where);
	snprintf(w, sizeof w, "%s.", where);
	if (strings(o, w, "names", 0, HUSK_SECCOMP_MAX_NAMES, err) < 0 ||
	    named(o, w, "action", seccomp_actions,
		  sizeof seccomp_actions / sizeof seccomp_actions[0], "action", err) < 0 ||
	    husk_json_i64(o, w, "errnoRet", HUSK_JSON_OPTIONAL, 0, 0xffff, &e, err) < 0 ||
	    husk_json_array(o, w, "args", HUSK_JSON_OPTIONAL, 6, &args, err) < 0)
		return -1;
	for (size_t i = 0; args && i < json_object_array_length(args); i++) {
		char a[WHERE_LEN];
		snprintf(a, sizeof a, "%sargs[%zu]", w, i);
		if (seccomp_arg(json_object_array_get_idx(args, i), a, err) < 0)
			return -1;
	}
	return 0;
}

int husk_priv_seccomp(struct json_object *linux_, const char *where, bool *present,
		      struct husk_err *err)
{
	struct json_object *sc, *calls;
	_cleanup_free_ char *s = NULL;
	char w[WHERE_LEN];
	int64_t e;
	*present = false;
	int r = husk_json_obj(linux_, where, "seccomp", HUSK_JSON_OPTIONAL, &sc, err);
	if (r <= 0)
		return r;
	snprintf(w, sizeof w, "%sseccomp.", where);
	if (named(sc, w, "defaultAction", seccomp_actions,
		  sizeof seccomp_actions / sizeof seccomp_actions[0], "action", err) < 0 ||
	    husk_json_i64(sc, w, "defaultErrnoRet", HUSK_JSON_OPTIONAL, 0, 0xffff, &e, err) < 0 ||
	    strings(sc, w, "architectures", 0, HUSK_PRIV_MAX, err) < 0 ||
	    strings(sc, w, "flags", 0, HUSK_PRIV_MAX, err) < 0 ||
	    husk_json_str(sc, w, "listenerPath", HUSK_JSON_OPTIONAL, &s, err) < 0)
		return -1;
	free(husk_steal(s));
	if (husk_json_str(sc, w, "listenerMetadata", HUSK_JSON_OPTIONAL, &s, err) < 0 ||
	    husk_json_array(sc, w, "syscalls", HUSK_JSON_OPTIONAL, HUSK_SECCOMP_MAX_RULES, &calls,
			    err) < 0)
		return -1;
	for (size_t i = 0; calls && i < json_object_array_length(calls); i++) {
		char rw[WHERE_LEN];
		snprintf(rw, sizeof rw, "%ssyscalls[%zu]", w, i);
		if (seccomp_rule(json_object_array_get_idx(calls, i), rw, err) < 0)
			return -1;
	}
	*present = true;
	return 1;
}

int husk_priv_linux_check(struct json_object *linux_, const char *where, struct husk_err *err)
{
	bool present;
	if (!linux_)
		return 0;
	if (!json_object_is_type(linux_, json_type_object))
		return not_object(where, err);
	if (strings(linux_, where, "maskedPaths", HUSK_JSON_ABS_PATHS, HUSK_PRIV_MAX, err) < 0 ||
	    strings(linux_, where, "readonlyPaths", HUSK_JSON_ABS_PATHS, HUSK_PRIV_MAX, err) < 0)
		return -1;
	return husk_priv_seccomp(linux_, where, &present, err) < 0 ? -1 : 0;
}
