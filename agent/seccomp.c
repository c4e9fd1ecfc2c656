/* linux.seccomp compiled to BPF with libseccomp once per container, in the
 * agent; each process of the container loads the program before exec. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <json-c/json.h>
#include <seccomp.h>

#include "seccomp.h"

static const struct {
	const char *name;
	uint32_t action; /* ERRNO and TRACE take the errno/trace value below */
} actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG},
};

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static int action_of(struct json_object *o, const char *key, const char *errkey, uint32_t *out,
		     const char *where, struct husk_err *err)
{
	struct json_object *v, *e;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "%s.%s is missing", where, key);
	const char *name = json_object_get_string(v);
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
		if (strcmp(actions[i].name, name))
			continue;
		*out = actions[i].action;
		if (*out == SCMP_ACT_ERRNO(0) || *out == SCMP_ACT_TRACE(0)) {
			int64_t n = *out == SCMP_ACT_ERRNO(0) ? EPERM : 0;
			if (json_object_object_get_ex(o, errkey, &e) &&
			    json_object_is_type(e, json_type_int))
				n = json_object_get_int64(e);
			if (n < 0 || n > 0xffff)
				return husk_err_set(err, ERANGE, "%s.%s is out of range", where,
						    errkey);
			*out = *out == SCMP_ACT_ERRNO(0) ? SCMP_ACT_ERRNO((uint16_t)n)
							 : SCMP_ACT_TRACE((uint16_t)n);
		}
		return 0;
	}
	return husk_err_set(err, EOPNOTSUPP, "%s.%s: action %s is not supported", where, key, name);
}

static int args_of(struct json_object *rule, struct scmp_arg_cmp *cmp, unsigned *n,
		   const char *where, struct husk_err *err)
{
	struct json_object *a;
	*n = 0;
	if (!json_object_object_get_ex(rule, "args", &a) || json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > 6)
		return husk_err_set(err, EINVAL, "%s.args must be an array of at most 6", where);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *idx, *val, *val2, *op;
		if (!json_object_object_get_ex(o, "index", &idx) ||
		    !json_object_object_get_ex(o, "value", &val) ||
		    !json_object_object_get_ex(o, "op", &op) || json_object_get_int64(idx) < 0 ||
		    json_object_get_int64(idx) > 5)
			return husk_err_set(
			    err, EINVAL, "%s.args[%zu] needs index (0-5), value and op", where, i);
		size_t k = 0;
		while (k < sizeof ops / sizeof ops[0] &&
		       strcmp(ops[k].name, json_object_get_string(op)))
			k++;
		if (k == sizeof ops / sizeof ops[0])
			return husk_err_set(err, EINVAL, "%s.args[%zu]: unknown op %s", where, i,
					    json_object_get_string(op));
		cmp[*n] = (struct scmp_arg_cmp){
		    .arg = (unsigned)json_object_get_int64(idx),
		    .op = ops[k].op,
		    .datum_a = json_object_get_uint64(val),
		    .datum_b = json_object_object_get_ex(o, "valueTwo", &val2)
				   ? json_object_get_uint64(val2)
				   : 0,
		};
		(*n)++;
	}
	return 0;
}

static void add_archs(scmp_filter_ctx ctx, struct json_object *sc)
{
	struct json_object *a;
	if (!json_object_object_get_ex(sc, "architectures", &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *arch = json_object_get_string(json_object_array_get_idx(a, i));
		uint32_t token = arch ? seccomp_arch_resolve_name(
					    strncasecmp(arch, "SCMP_ARCH_", 10) ? arch : arch + 10)
				      : 0;
		/* unknown or foreign architectures cannot run in this VM anyway */
		if (token && token != seccomp_arch_native())
			seccomp_arch_add(ctx, token);
	}
}

/* One entry of linux.seccomp.syscalls; def is the default action. */
static int add_rule(scmp_filter_ctx ctx, struct json_object *rule, uint32_t def, size_t i,
		    struct husk_err *err)
{
	struct json_object *names;
	struct scmp_arg_cmp cmp[6];
	unsigned ncmp;
	uint32_t act;
	char where[48];
	snprintf(where, sizeof where, "linux.seccomp.syscalls[%zu]", i);
	if (action_of(rule, "action", "errnoRet", &act, where, err) < 0 ||
	    args_of(rule, cmp, &ncmp, where, err) < 0)
		return -1;
	if (act == def || !json_object_object_get_ex(rule, "names", &names) ||
	    !json_object_is_type(names, json_type_array))
		return 0;
	for (size_t k = 0; k < json_object_array_length(names); k++) {
		const char *name = json_object_get_string(json_object_array_get_idx(names, k));
		int nr = name ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown here: as runc, skip it */
		int e = seccomp_rule_add_array(ctx, act, nr, ncmp, cmp);
		if (e < 0 && e != -EEXIST)
			return husk_err_set(err, -e, "%s: cannot add %s", where, name);
	}
	return 0;
}

static int export_bpf(scmp_filter_ctx ctx, struct agent_bpf *out, struct husk_err *err)
{
	_cleanup_close_ int fd = memfd_create("seccomp", MFD_CLOEXEC);
	off_t len;
	if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || (len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    !(out->prog = malloc(len)) || pread(fd, out->prog, len, 0) != len)
		return husk_err_set(err, EIO, "cannot compile the seccomp profile");
	out->len = (size_t)len;
	return 0;
}

static void ctx_release(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

int agent_seccomp_compile(struct json_object *sc, struct agent_bpf *out, struct husk_err *err)
{
	struct json_object *a;
	uint32_t def;
	memset(out, 0, sizeof *out);
	if (!sc || json_object_is_type(sc, json_type_null))
		return 0;
	if (!json_object_is_type(sc, json_type_object))
		return husk_err_set(err, EINVAL, "linux.seccomp must be an object");
	if (action_of(sc, "defaultAction", "defaultErrnoRet", &def, "linux.seccomp", err) < 0)
		return -1;
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		return husk_err_set(err, ENOMEM, "seccomp_init failed");
	/* the agent loads it itself, after no_new_privs or with privilege */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	add_archs(ctx, sc);
	if (json_object_object_get_ex(sc, "syscalls", &a) &&
	    json_object_is_type(a, json_type_array))
		for (size_t i = 0; i < json_object_array_length(a); i++)
			if (add_rule(ctx, json_object_array_get_idx(a, i), def, i, err) < 0)
				return -1;
	if (export_bpf(ctx, out, err) < 0) {
		agent_seccomp_free(out);
		return -1;
	}
	return 0;
}

void agent_seccomp_free(struct agent_bpf *bpf)
{
	free(bpf->prog);
	memset(bpf, 0, sizeof *bpf);
}

int agent_seccomp_load(const struct agent_bpf *bpf)
{
	if (!bpf->prog)
		return 0;
	struct sock_fprog prog = {.len = (unsigned short)(bpf->len / sizeof(struct sock_filter)),
				  .filter = bpf->prog};
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
