/* husk pause, resume, update: the verbs that change a running container
 * through its proxy (QMP for the VM, container.update for the guest). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "husk-facts.h"
#include "husk-json.h"
#include "husk-log.h"
#include "husk.h"
#include "opts.h"
#include "state.h"
#include "verbs.h"

/* One control request with no answer but ok, to the container's proxy,
 * when its status is one of the words of want (or any but stopped, for
 * NULL). The status is read under the container's lock, which is let go of
 * before the request: the proxy writes "paused" (or "running") under it
 * before it answers. */
static int call(const char *id, const char *want, const char *wrong, struct json_object *req)
{
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	if (husk_id_check(id, &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(id);
	if (!dir) {
		husk_err_set(&err, ENOMEM, "out of memory");
		return husk_fail(&err);
	}
	int lock = husk_state_lock(dir, &err);
	if (lock < 0)
		return husk_fail(&err);
	if (husk_state_read(id, &st, &err) < 0) {
		close(lock);
		return husk_fail(&err);
	}
	const char *status = husk_state_status(&st);
	bool ok = want ? strstr(want, status) != NULL : strcmp(status, "stopped") != 0;
	husk_state_free(&st);
	close(lock);
	if (!ok) {
		husk_err_set(&err, EINVAL, "%s", wrong);
		return husk_fail(&err);
	}
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	json_object_put(reply);
	return 0;
}

static int pause_resume(int argc, char **argv, const struct husk_verb_desc *d, const char *op,
			const char *want, const char *wrong)
{
	struct husk_err err = {0};
	const char *id;
	int r = husk_opts_parse_id(argc, argv, d, NULL, NULL, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(op));
	return call(id, want, wrong, req);
}

int husk_cmd_pause(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "pause ID", .about = "Stop every vCPU of a running container's VM."};
	return pause_resume(argc, argv, &d, "pause", "running created", "container not running");
}

int husk_cmd_resume(int argc, char **argv)
{
	static const struct husk_verb_desc d = {.usage = "resume ID",
						.about = "Resume a paused container's VM."};
	return pause_resume(argc, argv, &d, "resume", "paused", "container not paused");
}

/* ---- update ---- */

enum {
	U_RESOURCES = 'r',
	U_BLKIO_WEIGHT = 1001,
	U_CPU_PERIOD,
	U_CPU_QUOTA,
	U_CPU_SHARE,
	U_CPU_RT_PERIOD,
	U_CPU_RT_RUNTIME,
	U_CPUSET_CPUS,
	U_CPUSET_MEMS,
	U_KMEM,
	U_KMEM_TCP,
	U_MEMORY,
	U_MEMORY_RESERVATION,
	U_MEMORY_SWAP,
	U_PIDS_LIMIT,
	U_L3,
	U_MEMBW,
};

static const struct husk_opt update_opts[] = {
    {"resources", required_argument, U_RESOURCES, "FILE",
     "linux.resources as JSON from FILE (- for stdin); the flags are ignored then"},
    {"blkio-weight", required_argument, U_BLKIO_WEIGHT, "N", "block IO weight (10 to 1000)"},
    {"cpu-period", required_argument, U_CPU_PERIOD, "US", "CPU CFS period, microseconds"},
    {"cpu-quota", required_argument, U_CPU_QUOTA, "US", "CPU CFS quota per period (-1: none)"},
    {"cpu-share", required_argument, U_CPU_SHARE, "N", "CPU shares (relative weight)"},
    {"cpu-rt-period", required_argument, U_CPU_RT_PERIOD, "US", NULL},
    {"cpu-rt-runtime", required_argument, U_CPU_RT_RUNTIME, "US", NULL},
    {"cpuset-cpus", required_argument, U_CPUSET_CPUS, "LIST", "guest CPUs to use (0-1, 0,1)"},
    {"cpuset-mems", required_argument, U_CPUSET_MEMS, "LIST", "guest memory nodes to use"},
    {"kernel-memory", required_argument, U_KMEM, "BYTES", NULL},
    {"kernel-memory-tcp", required_argument, U_KMEM_TCP, "BYTES", NULL},
    {"memory", required_argument, U_MEMORY, "BYTES", "memory limit (k, m, g suffixes; -1: none)"},
    {"memory-reservation", required_argument, U_MEMORY_RESERVATION, "BYTES", "memory soft limit"},
    {"memory-swap", required_argument, U_MEMORY_SWAP, "BYTES", "memory plus swap limit"},
    {"pids-limit", required_argument, U_PIDS_LIMIT, "N", "most processes (-1: none)"},
    {"l3-cache-schema", required_argument, U_L3, "S", NULL},
    {"mem-bw-schema", required_argument, U_MEMBW, "S", NULL},
    HUSK_OPT_END,
};

struct update_args {
	const char *resources;
	struct json_object *res; /* from the flags */
};

/* "512m", "1G", "1024", "-1" as runc reads them (binary units) */
static int parse_bytes(const char *s, const char *flag, int64_t *out, struct husk_err *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < -1)
		return husk_err_set(err, EINVAL, "invalid value \"%s\" for --%s", s, flag);
	int64_t mult = 1;
	switch (tolower((unsigned char)*end)) {
	case 'k':
		mult = 1LL << 10;
		end++;
		break;
	case 'm':
		mult = 1LL << 20;
		end++;
		break;
	case 'g':
		mult = 1LL << 30;
		end++;
		break;
	case 't':
		mult = 1LL << 40;
		end++;
		break;
	case 'p':
		mult = 1LL << 50;
		end++;
		break;
	default: break;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if ((*end == 'i' || *end == 'I') && mult > 1 && tolower((unsigned char)end[1]) == 'b')
		end += 2;
	if (*end || (v < 0 && (v != -1 || mult != 1)) || v * (double)mult > 9.2e18)
		return husk_err_set(err, EINVAL, "invalid value \"%s\" for --%s", s, flag);
	*out = v < 0 ? -1 : (int64_t)(v * (double)mult);
	return 0;
}

static int parse_int(const char *s, const char *flag, int64_t lo, int64_t *out,
		     struct husk_err *err)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < lo)
		return husk_err_set(err, EINVAL, "invalid value \"%s\" for --%s", s, flag);
	*out = v;
	return 0;
}

static void set_field(struct json_object *res, const char *group, const char *key,
		      struct json_object *v)
{
	struct json_object *g;
	if (!json_object_object_get_ex(res, group, &g)) {
		g = json_object_new_object();
		json_object_object_add(res, group, g);
	}
	json_object_object_add(g, key, v);
}

static int update_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct update_args *a = data;
	const struct husk_opt *o = update_opts;
	while (o->name && o->key != key)
		o++;
	int64_t v = 0;
	const char *group = NULL, *field = NULL;
	switch (key) {
	case U_RESOURCES: a->resources = arg; return 0;
	case U_CPUSET_CPUS: set_field(a->res, "cpu", "cpus", json_object_new_string(arg)); return 0;
	case U_CPUSET_MEMS: set_field(a->res, "cpu", "mems", json_object_new_string(arg)); return 0;
	case U_L3:
	case U_MEMBW:
		return husk_err_set(err, EOPNOTSUPP, "--%s: the VM has no Intel RDT", o->name);
	case U_KMEM:
	case U_KMEM_TCP:
		log_warn("--%s: kernel memory limits are gone from cgroup v2; ignored", o->name);
		return 0;
	case U_MEMORY: group = "memory", field = "limit"; break;
	case U_MEMORY_RESERVATION: group = "memory", field = "reservation"; break;
	case U_MEMORY_SWAP: group = "memory", field = "swap"; break;
	default: break;
	}
	if (group) {
		if (parse_bytes(arg, o->name, &v, err) < 0)
			return -1;
	} else if (parse_int(arg, o->name, key == U_CPU_QUOTA || key == U_PIDS_LIMIT ? -1 : 0, &v,
			     err) < 0) {
		return -1;
	}
	switch (key) {
	case U_BLKIO_WEIGHT: group = "blockIO", field = "weight"; break;
	case U_CPU_PERIOD: group = "cpu", field = "period"; break;
	case U_CPU_QUOTA: group = "cpu", field = "quota"; break;
	case U_CPU_SHARE: group = "cpu", field = "shares"; break;
	case U_CPU_RT_PERIOD: group = "cpu", field = "realtimePeriod"; break;
	case U_CPU_RT_RUNTIME: group = "cpu", field = "realtimeRuntime"; break;
	case U_PIDS_LIMIT: group = "pids", field = "limit"; break;
	default: break;
	}
	if (!group)
		return husk_err_set(err, EINVAL, "internal error: option %d", key);
	set_field(a->res, group, field, json_object_new_int64(v));
	return 0;
}

static struct json_object *read_resources(const char *path, struct husk_err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		husk_err_sys(err, errno, "open %s", path);
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (buf)
		n = fread(buf, 1, cap, f);
	bool big = buf && n == cap;
	if (f != stdin)
		fclose(f);
	if (!buf || big) {
		husk_err_set(err, buf ? EFBIG : ENOMEM, "%s: %s", path,
			     buf ? "over 1 MiB of JSON" : "out of memory");
		return NULL;
	}
	return husk_json_parse_object(buf, n, "--resources", EINVAL, err);
}

int husk_cmd_update(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "update [options] ID",
	    .about = "Change a running container's resource limits, in the guest and on the host.",
	    .opts = update_opts};
	struct husk_err err = {0};
	const char *id;
	_cleanup_json_ struct json_object *flags = json_object_new_object();
	struct update_args a = {.res = flags};
	int r = husk_opts_parse_id(argc, argv, &d, update_opt, &a, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	_cleanup_json_ struct json_object *file = NULL;
	if (a.resources && !(file = read_resources(a.resources, &err)))
		return husk_fail(&err);
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("update"));
	json_object_object_add(req, "resources", json_object_get(file ? file : flags));
	return call(id, NULL, "container not running", req);
}
