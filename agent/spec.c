#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <json-c/json.h>

#include "husk-json.h"
#include "husk-priv.h"
#include "spec.h"

int agent_cap_from_name(const char *name)
{
	return husk_cap_from_name(name);
}

static const struct {
	const char *name;
	int flag;
} ns_names[] = {
    /* network: the VM's own, which mirrors the caller's namespace; every
     * container of the VM shares it (docs/decisions.md) */
    {"pid", CLONE_NEWPID},   {"network", 0},
    {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},
    {"mount", CLONE_NEWNS},  {"cgroup", CLONE_NEWCGROUP},
    {"user", CLONE_NEWUSER}, {"time", 0},
};

/* ---- mounts ---- */

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
};

static const struct {
	const char *name;
	unsigned long flag;
} propagation_flags[] = {
    {"private", MS_PRIVATE},	   {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},	   {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},	   {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static unsigned long propagation_of(const char *name)
{
	for (size_t i = 0; i < sizeof propagation_flags / sizeof propagation_flags[0]; i++)
		if (!strcmp(propagation_flags[i].name, name))
			return propagation_flags[i].flag;
	return 0;
}

int agent_spec_mount_options(struct json_object *options, struct spec_mount *m,
			     struct husk_err *err)
{
	size_t n = options ? json_object_array_length(options) : 0, len = 0;
	char data[4096] = "";
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(options, i);
		if (!json_object_is_type(o, json_type_string))
			return husk_err_set(err, EINVAL, "mount %s: options must be strings",
					    m->dst);
		const char *opt = json_object_get_string(o);
		bool known = false;
		for (size_t k = 0; !known && k < sizeof mount_flags / sizeof mount_flags[0]; k++) {
			if (strcmp(mount_flags[k].name, opt))
				continue;
			known = true;
			if (mount_flags[k].clear)
				m->flags &= ~mount_flags[k].flag;
			else
				m->flags |= mount_flags[k].flag;
		}
		if (!known && propagation_of(opt)) {
			m->propagation = propagation_of(opt);
			known = true;
		}
		if (!known && (!strcmp(opt, "bind") || !strcmp(opt, "rbind"))) {
			m->bind = true;
			m->recursive |= opt[0] == 'r';
			known = true;
		}
		if (!known && (!strcmp(opt, "tmpcopyup") || !strncmp(opt, "idmap", 5) ||
			       !strncmp(opt, "x-", 2) || !strcmp(opt, "defaults")))
			known = true; /* meaningful to other runtimes only */
		if (known)
			continue;
		size_t ol = strlen(opt);
		if (len + ol + 2 > sizeof data)
			return husk_err_set(err, E2BIG, "mount %s: options too long", m->dst);
		if (len)
			data[len++] = ',';
		memcpy(data + len, opt, ol + 1);
		len += ol;
	}
	if (len && !(m->data = strdup(data)))
		return husk_err_set(err, ENOMEM, "out of memory");
	return 0;
}

static int parse_mounts(struct json_object *mounts, struct agent_spec *s, struct husk_err *err)
{
	size_t n = mounts ? json_object_array_length(mounts) : 0;
	s->mounts = calloc(n + 1, sizeof *s->mounts);
	if (!s->mounts)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(mounts, i), *opts;
		struct spec_mount *m = &s->mounts[s->nmounts++];
		char where[32];
		snprintf(where, sizeof where, "mounts[%zu].", i);
		if (!json_object_is_type(o, json_type_object))
			return husk_err_set(err, EINVAL, "mounts[%zu] must be an object", i);
		if (husk_json_str(o, where, "destination", HUSK_JSON_REQUIRED, &m->dst, err) < 0 ||
		    husk_json_str(o, where, "type", HUSK_JSON_OPTIONAL, &m->type, err) < 0 ||
		    husk_json_str(o, where, "source", HUSK_JSON_OPTIONAL, &m->src, err) < 0)
			return -1;
		if (m->dst[0] != '/')
			return husk_err_set(err, EINVAL, "%sdestination %s must be absolute", where,
					    m->dst);
		if (husk_json_array(o, where, "options", HUSK_JSON_OPTIONAL, SPEC_MAX_ITEMS, &opts,
				    err) < 0 ||
		    agent_spec_mount_options(opts, m, err) < 0)
			return -1;
		if (m->type && !strcmp(m->type, "bind"))
			m->bind = true;
		if (!m->type && !m->bind)
			return husk_err_set(err, EINVAL,
					    "mounts[%zu] (%s) has no type and is not a bind mount",
					    i, m->dst);
		if (m->bind && (!m->src || m->src[0] != '/'))
			return husk_err_set(
			    err, EINVAL, "mounts[%zu] (%s): a bind mount needs an absolute source",
			    i, m->dst);
	}
	return 0;
}

static int parse_namespaces(struct json_object *linux_, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *a;
	if (husk_json_array(linux_, "linux.", "namespaces", HUSK_JSON_OPTIONAL, SPEC_MAX_ITEMS, &a,
			    err) < 0)
		return -1;
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *t, *p;
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "type", &t) ||
		    !json_object_is_type(t, json_type_string))
			return husk_err_set(err, EINVAL, "linux.namespaces[%zu] needs a type", i);
		const char *type = json_object_get_string(t);
		size_t k = 0;
		while (k < sizeof ns_names / sizeof ns_names[0] && strcmp(ns_names[k].name, type))
			k++;
		if (k == sizeof ns_names / sizeof ns_names[0])
			return husk_err_set(err, EINVAL,
					    "linux.namespaces[%zu]: unknown type \"%s\"", i, type);
		if (json_object_object_get_ex(o, "path", &p) &&
		    json_object_is_type(p, json_type_string) && json_object_get_string(p)[0]) {
			/* A path names a namespace on the host, which does not
			 * exist in this VM: the VM is already a separate one;
			 * a pod's container takes its sandbox's instead. */
			s->ns_paths |= ns_names[k].flag;
			continue;
		}
		s->ns_new |= ns_names[k].flag;
	}
	return 0;
}

static int parse_devices(struct json_object *linux_, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *a;
	if (husk_json_array(linux_, "linux.", "devices", HUSK_JSON_OPTIONAL, SPEC_MAX_ITEMS, &a,
			    err) < 0)
		return -1;
	size_t n = a ? json_object_array_length(a) : 0;
	s->devices = calloc(n + 1, sizeof *s->devices);
	if (!s->devices)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		struct spec_device *d = &s->devices[s->ndevices++];
		_cleanup_free_ char *type = NULL;
		char where[40];
		snprintf(where, sizeof where, "linux.devices[%zu].", i);
		if (!json_object_is_type(o, json_type_object))
			return husk_err_set(err, EINVAL, "linux.devices[%zu] must be an object", i);
		if (husk_json_str(o, where, "path", HUSK_JSON_REQUIRED, &d->path, err) < 0 ||
		    husk_json_str(o, where, "type", HUSK_JSON_REQUIRED, &type, err) < 0)
			return -1;
		d->type = type[0];
		if (strlen(type) != 1 || !strchr("cbup", type[0]) || d->path[0] != '/')
			return husk_err_set(
			    err, EINVAL,
			    "linux.devices[%zu]: type must be c, b, u or p and path absolute", i);
		int mode = 0666;
		if (husk_json_i64(o, where, "major", HUSK_JSON_OPTIONAL, 0, 0xfff, &d->major, err) <
			0 ||
		    husk_json_i64(o, where, "minor", HUSK_JSON_OPTIONAL, 0, 0xfffff, &d->minor,
				  err) < 0 ||
		    husk_json_int(o, where, "fileMode", HUSK_JSON_OPTIONAL, 0, 07777, &mode, err) <
			0 ||
		    husk_json_u32(o, where, "uid", HUSK_JSON_OPTIONAL, &d->uid, err) < 0 ||
		    husk_json_u32(o, where, "gid", HUSK_JSON_OPTIONAL, &d->gid, err) < 0)
			return -1;
		d->mode = (uint32_t)mode;
	}
	return 0;
}

/* linux.uidMappings -> "containerID hostID size\n" lines for uid_map */
static int id_map(struct json_object *linux_, const char *key, char **out, struct husk_err *err)
{
	struct json_object *a;
	char buf[4096];
	size_t len = 0;
	*out = NULL;
	if (husk_json_array(linux_, "linux.", key, HUSK_JSON_OPTIONAL, SPEC_MAX_ITEMS, &a, err) < 0)
		return -1;
	if (!a || json_object_array_length(a) == 0)
		return 0;
	if (json_object_array_length(a) > 340)
		return husk_err_set(err, E2BIG, "linux.%s has more than 340 entries", key);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *m = json_object_array_get_idx(a, i);
		int64_t c, h, n;
		int hc, hh, hn;
		char where[40];
		snprintf(where, sizeof where, "linux.%s[%zu].", key, i);
		if (!json_object_is_type(m, json_type_object))
			return husk_err_set(err, EINVAL, "linux.%s[%zu] must be an object", key, i);
		if ((hc = husk_json_i64(m, where, "containerID", HUSK_JSON_OPTIONAL, 0, UINT32_MAX,
					&c, err)) < 0 ||
		    (hh = husk_json_i64(m, where, "hostID", HUSK_JSON_OPTIONAL, 0, UINT32_MAX, &h,
					err)) < 0 ||
		    (hn = husk_json_i64(m, where, "size", HUSK_JSON_OPTIONAL, 1, UINT32_MAX, &n,
					err)) < 0)
			return -1;
		if (!hc || !hh || !hn)
			return husk_err_set(err, EINVAL, "%s needs containerID, hostID and size",
					    where);
		/* the kernel takes the map in one write of less than a page */
		int w = snprintf(buf + len, sizeof buf - len, "%lld %lld %lld\n", (long long)c,
				 (long long)h, (long long)n);
		if (w < 0 || (size_t)w >= sizeof buf - len)
			return husk_err_set(err, E2BIG, "linux.%s is longer than a page", key);
		len += (size_t)w;
	}
	*out = strdup(buf);
	return *out ? 0 : husk_err_set(err, ENOMEM, "out of memory");
}

static int parse_sysctl(struct json_object *linux_, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *sysctl;
	if (!linux_ || !json_object_object_get_ex(linux_, "sysctl", &sysctl) ||
	    json_object_is_type(sysctl, json_type_null))
		return 0;
	if (!json_object_is_type(sysctl, json_type_object) ||
	    json_object_object_length(sysctl) > SPEC_MAX_ITEMS)
		return husk_err_set(err, EINVAL, "linux.sysctl must be an object of strings");
	s->sysctl = calloc(json_object_object_length(sysctl) + 1, sizeof *s->sysctl);
	if (!s->sysctl)
		return husk_err_set(err, ENOMEM, "out of memory");
	json_object_object_foreach(sysctl, key, val)
	{
		struct spec_kv *kv = &s->sysctl[s->nsysctl];
		if (!json_object_is_type(val, json_type_string) || strstr(key, "..") ||
		    strchr(key, '/') || !key[0])
			return husk_err_set(
			    err, EINVAL, "linux.sysctl.%s must be a string and a valid name", key);
		if (husk_json_str_value(val, "linux.sysctl.", key, &kv->value, err) < 0)
			return -1;
		s->nsysctl++;
		if (!(kv->key = strdup(key)))
			return husk_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* linux.resources of config.json: not an object is no limits. */
static int parse_resources(struct json_object *linux_, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *res = NULL;
	if (linux_)
		json_object_object_get_ex(linux_, "resources", &res);
	if (res && !json_object_is_type(res, json_type_object))
		res = NULL;
	return agent_spec_resources(res, &s->resources, err);
}

static int parse_propagation(struct json_object *linux_, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *prop;
	if (!linux_ || !json_object_object_get_ex(linux_, "rootfsPropagation", &prop) ||
	    !json_object_is_type(prop, json_type_string) || !json_object_get_string(prop)[0])
		return 0;
	s->rootfs_propagation = propagation_of(json_object_get_string(prop));
	if (!s->rootfs_propagation)
		return husk_err_set(err, EINVAL,
				    "linux.rootfsPropagation \"%s\" is not a propagation",
				    json_object_get_string(prop));
	return 0;
}

int agent_spec_parse(struct json_object *mounts, struct json_object *linux_, struct agent_spec *s,
		     struct husk_err *err)
{
	size_t n;
	memset(s, 0, sizeof *s);
	if (mounts && !json_object_is_type(mounts, json_type_array))
		return husk_err_set(err, EINVAL, "mounts must be an array");
	if (mounts && json_object_array_length(mounts) > SPEC_MAX_ITEMS)
		return husk_err_set(err, E2BIG, "mounts has more than %d entries", SPEC_MAX_ITEMS);
	if (linux_ && !json_object_is_type(linux_, json_type_object))
		return husk_err_set(err, EINVAL, "linux must be an object");
	if (parse_mounts(mounts, s, err) < 0 || parse_namespaces(linux_, s, err) < 0 ||
	    husk_json_strv(linux_, "linux.", "maskedPaths", HUSK_JSON_ABS_PATHS, SPEC_MAX_ITEMS,
			   &s->masked, &n, err) < 0 ||
	    husk_json_strv(linux_, "linux.", "readonlyPaths", HUSK_JSON_ABS_PATHS, SPEC_MAX_ITEMS,
			   &s->readonly, &n, err) < 0 ||
	    parse_devices(linux_, s, err) < 0 || parse_sysctl(linux_, s, err) < 0 ||
	    id_map(linux_, "uidMappings", &s->uid_map, err) < 0 ||
	    id_map(linux_, "gidMappings", &s->gid_map, err) < 0 ||
	    parse_resources(linux_, s, err) < 0 || parse_propagation(linux_, s, err) < 0 ||
	    husk_priv_seccomp(linux_, "linux.", &s->seccomp, err) < 0) {
		agent_spec_free(s);
		return -1;
	}
	return 0;
}

void agent_spec_free(struct agent_spec *s)
{
	for (size_t i = 0; i < s->nmounts; i++) {
		free(s->mounts[i].dst);
		free(s->mounts[i].type);
		free(s->mounts[i].src);
		free(s->mounts[i].data);
	}
	free(s->mounts);
	husk_strv_free(s->masked);
	husk_strv_free(s->readonly);
	for (size_t i = 0; i < s->nsysctl; i++) {
		free(s->sysctl[i].key);
		free(s->sysctl[i].value);
	}
	free(s->sysctl);
	for (size_t i = 0; i < s->ndevices; i++)
		free(s->devices[i].path);
	free(s->devices);
	free(s->uid_map);
	free(s->gid_map);
	agent_spec_resources_free(&s->resources);
	memset(s, 0, sizeof *s);
}

/* ---- process ---- */

/* The privilege fields are read by protocol/priv.c, as the host read them
 * at create: a value of the wrong type is refused here too, never taken for
 * a default (docs/security.md, "Privilege fields"). */
int agent_spec_process(struct json_object *process, struct spec_process *p, struct husk_err *err)
{
	struct json_object *user = NULL;
	uint64_t sets[HUSK_CAP_SETS];
	int r;
	memset(p, 0, sizeof *p);
	if (!process)
		return 0;
	if (!json_object_is_type(process, json_type_object))
		return husk_err_set(err, EINVAL, "process must be an object");
	if (husk_priv_rlimits(process, "process.", &p->rlimits, &p->nrlimits, err) < 0 ||
	    husk_priv_caps(process, "process.", &p->has_caps, sets, err) < 0 ||
	    husk_priv_no_new_privs(process, "process.", &p->no_new_privs, err) < 0)
		goto fail;
	p->cap_bounding = sets[HUSK_CAPS_BOUNDING];
	p->cap_effective = sets[HUSK_CAPS_EFFECTIVE];
	p->cap_permitted = sets[HUSK_CAPS_PERMITTED];
	p->cap_inheritable = sets[HUSK_CAPS_INHERITABLE];
	p->cap_ambient = sets[HUSK_CAPS_AMBIENT];
	r = husk_json_int(process, "process.", "oomScoreAdj", HUSK_JSON_OPTIONAL, -1000, 1000,
			  &p->oom_score_adj, err);
	if (r < 0)
		goto fail;
	p->has_oom_score_adj = r > 0;
	if (husk_json_obj(process, "process.", "user", HUSK_JSON_OPTIONAL, &user, err) < 0)
		goto fail;
	int64_t umask = 0;
	r = husk_json_i64(user, "process.user.", "umask", HUSK_JSON_OPTIONAL, 0, 0777, &umask, err);
	if (r < 0)
		goto fail;
	p->has_umask = r > 0;
	p->umask = (uint32_t)umask;
	return 0;
fail:
	agent_spec_process_free(p);
	return -1;
}

void agent_spec_process_free(struct spec_process *p)
{
	free(p->rlimits);
	memset(p, 0, sizeof *p);
}
