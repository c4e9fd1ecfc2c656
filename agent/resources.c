/* linux.resources: read for create and update (one reader for both), and
 * turned into the cgroup files that carry them (spec.h). No system calls:
 * unit tested on the host. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-json.h"
#include "spec.h"

/* An object member of res, or false. */
static bool resource_group(struct json_object *res, const char *name, struct json_object **g)
{
	return res && json_object_object_get_ex(res, name, g) &&
	       json_object_is_type(*g, json_type_object);
}

int agent_spec_resources(struct json_object *res, struct spec_resources *r, struct husk_err *err)
{
	static const struct {
		const char *group, *key;
		size_t off;
		int64_t lo, hi;
	} fields[] = {
	    {"memory", "limit", offsetof(struct spec_resources, memory_limit), -1, INT64_MAX},
	    {"memory", "swap", offsetof(struct spec_resources, memory_swap), -1, INT64_MAX},
	    {"memory", "reservation", offsetof(struct spec_resources, memory_reservation), -1,
	     INT64_MAX},
	    {"cpu", "quota", offsetof(struct spec_resources, cpu_quota), -1, INT64_MAX},
	    {"cpu", "period", offsetof(struct spec_resources, cpu_period), 0, INT64_MAX},
	    {"cpu", "shares", offsetof(struct spec_resources, cpu_shares), 0, SPEC_MAX_SHARES},
	    {"pids", "limit", offsetof(struct spec_resources, pids_limit), -1, INT64_MAX},
	    {"blockIO", "weight", offsetof(struct spec_resources, blkio_weight), 0, 1000},
	};
	static const struct {
		const char *key;
		size_t off;
	} lists[] = {
	    {"cpus", offsetof(struct spec_resources, cpu_cpus)},
	    {"mems", offsetof(struct spec_resources, cpu_mems)},
	};
	struct json_object *g;
	*r = (struct spec_resources){0};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		*(int64_t *)((char *)r + fields[i].off) = SPEC_UNSET;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		char where[48];
		snprintf(where, sizeof where, "linux.resources.%s.", fields[i].group);
		if (resource_group(res, fields[i].group, &g) &&
		    husk_json_i64(g, where, fields[i].key, HUSK_JSON_OPTIONAL, fields[i].lo,
				  fields[i].hi, (int64_t *)((char *)r + fields[i].off), err) < 0)
			goto fail;
	}
	/* OCI's range is 10 to 1000; 0 is "not set" */
	if (r->blkio_weight > 0 && r->blkio_weight < 10) {
		husk_err_set(err, ERANGE, "linux.resources.blockIO.weight is out of range");
		goto fail;
	}
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		char **v = (char **)((char *)r + lists[i].off);
		if (resource_group(res, "cpu", &g) &&
		    husk_json_str(g, "linux.resources.cpu.", lists[i].key, HUSK_JSON_OPTIONAL, v,
				  err) < 0)
			goto fail;
		if (*v && strlen(*v) > SPEC_CPUSET_MAX) {
			husk_err_set(err, E2BIG,
				     "linux.resources.cpu.%s is longer than %d characters",
				     lists[i].key, SPEC_CPUSET_MAX);
			goto fail;
		}
	}
	return 0;
fail:
	agent_spec_resources_free(r);
	return -1;
}

void agent_spec_resources_free(struct spec_resources *r)
{
	free(r->cpu_cpus);
	free(r->cpu_mems);
	r->cpu_cpus = r->cpu_mems = NULL;
}

static struct spec_cgroup_write *cgroup_write(struct spec_cgroup_write *w, int *n, const char *file,
					      const char *field, int flags)
{
	struct spec_cgroup_write *x = &w[(*n)++];
	*x = (struct spec_cgroup_write){.file = file, .field = field, .flags = flags};
	return x;
}

/* A limit's value in a cgroup file: a number, or "max" for -1 (and 0). */
static void limit_value(char *buf, size_t size, int64_t v)
{
	if (v > 0)
		snprintf(buf, size, "%lld", (long long)v);
	else
		snprintf(buf, size, "max");
}

/* Whether an OCI memory value is set: 0 is "not set", as in runc. */
static bool memory_set(int64_t v)
{
	return v != SPEC_UNSET && v != 0;
}

int agent_spec_cgroup_writes(const struct spec_resources *r, bool create,
			     struct spec_cgroup_write *w, struct husk_err *err)
{
	struct spec_cgroup_write *x;
	int n = 0;
	int64_t lim = r->memory_limit, swap = r->memory_swap, swap_max = SPEC_UNSET;
	int64_t q = r->cpu_quota, p = r->cpu_period > 0 ? r->cpu_period : SPEC_UNSET;

	/* OCI's swap is memory and swap together, cgroup v2's swap alone
	 * (runc's ConvertMemorySwapToCgroupV2Value) */
	if (swap > 0) {
		if (lim <= 0)
			return husk_err_set(err, EINVAL,
					    "linux.resources.memory.swap %lld needs a "
					    "linux.resources.memory.limit: it is memory and swap "
					    "together",
					    (long long)swap);
		if (swap < lim)
			return husk_err_set(err, EINVAL,
					    "linux.resources.memory.swap %lld is less than "
					    "linux.resources.memory.limit %lld",
					    (long long)swap, (long long)lim);
		swap_max = swap - lim;
	} else if (swap == -1 || (lim == -1 && !memory_set(swap))) {
		swap_max = -1; /* an unlimited memory has unlimited swap */
	}

	if (memory_set(lim) && !(create && lim < 0)) {
		x = cgroup_write(w, &n, "memory.max", "linux.resources.memory.limit", 0);
		limit_value(x->value, sizeof x->value, lim);
	}
	if (swap_max != SPEC_UNSET && !(create && swap_max < 0)) {
		/* no such file: the guest has no swap to limit */
		x = cgroup_write(w, &n, "memory.swap.max",
				 swap > 0 || swap == -1 ? "linux.resources.memory.swap"
							: "linux.resources.memory.limit",
				 SPEC_CG_IF_PRESENT);
		if (swap > 0) /* swap == limit is no swap: "0" */
			snprintf(x->value, sizeof x->value, "%lld", (long long)swap_max);
		else
			snprintf(x->value, sizeof x->value, "max");
		snprintf(x->given, sizeof x->given, "%lld", (long long)(swap > 0 ? swap : -1));
	} else if (create && lim > 0 && !memory_set(swap)) {
		x = cgroup_write(w, &n, "memory.swap.max", "linux.resources.memory.limit",
				 SPEC_CG_BEST_EFFORT);
		snprintf(x->value, sizeof x->value, "0");
	}
	if (memory_set(r->memory_reservation)) {
		x = cgroup_write(w, &n, "memory.low", "linux.resources.memory.reservation", 0);
		limit_value(x->value, sizeof x->value, r->memory_reservation);
	}
	if (r->pids_limit != SPEC_UNSET && !(create && r->pids_limit <= 0)) {
		x = cgroup_write(w, &n, "pids.max", "linux.resources.pids.limit", 0);
		limit_value(x->value, sizeof x->value, r->pids_limit);
	}

	if (create ? q > 0 : q != SPEC_UNSET) {
		x = cgroup_write(w, &n, "cpu.max", "linux.resources.cpu", 0);
		limit_value(x->value, sizeof x->value, q);
		if (p != SPEC_UNSET || create)
			snprintf(x->value + strlen(x->value), sizeof x->value - strlen(x->value),
				 " %lld", (long long)(p != SPEC_UNSET ? p : 100000));
	} else if (!create && p != SPEC_UNSET) {
		x = cgroup_write(w, &n, "cpu.max", "linux.resources.cpu", SPEC_CG_KEEP_QUOTA);
		snprintf(x->value, sizeof x->value, "%lld", (long long)p);
	}
	if (r->cpu_shares > 0) {
		x = cgroup_write(w, &n, "cpu.weight", "linux.resources.cpu.shares", 0);
		snprintf(x->value, sizeof x->value, "%lld",
			 (long long)(1 + ((r->cpu_shares - 2) * 9999) / 262142));
		snprintf(x->given, sizeof x->given, "%lld", (long long)r->cpu_shares);
	}
	/* only where the guest has the cpuset controller */
	if (r->cpu_cpus && r->cpu_cpus[0]) {
		x = cgroup_write(w, &n, "cpuset.cpus", "linux.resources.cpu.cpus",
				 SPEC_CG_IF_PRESENT);
		snprintf(x->value, sizeof x->value, "%s", r->cpu_cpus);
	}
	if (r->cpu_mems && r->cpu_mems[0]) {
		x = cgroup_write(w, &n, "cpuset.mems", "linux.resources.cpu.mems",
				 SPEC_CG_IF_PRESENT);
		snprintf(x->value, sizeof x->value, "%s", r->cpu_mems);
	}
	if (r->blkio_weight > 0) { /* the guest may have no io controller */
		x = cgroup_write(w, &n, "io.weight", "linux.resources.blockIO.weight",
				 SPEC_CG_IF_PRESENT);
		snprintf(x->value, sizeof x->value, "default %lld",
			 (long long)(1 + (r->blkio_weight - 10) * 9999 / 990));
		snprintf(x->given, sizeof x->given, "%lld", (long long)r->blkio_weight);
	}
	return n;
}
