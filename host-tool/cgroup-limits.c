/* A VM's host cgroup: its limits and its figures (see cgroup.h); where it
 * is and its directories are cgroup.c's. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-int.h"
#include "cgroup.h"

uint64_t husk_cgroup_shares_to_weight(uint64_t shares)
{
	if (!shares)
		return 0;
	shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
	return 1 + ((shares - 2) * 9999) / 262142;
}

/* val into file in controller i's directory. */
static int set_file(const struct husk_cgroup *cg, int i, const char *file, const char *val,
		    struct husk_err *err)
{
	const char *d = cg->v2 ? cg->dir[0] : cg->dir[i];
	if (!d)
		return husk_err_set(err, ENOTSUP, "cgroup: no %s controller for %s",
				    husk_cgroup_ctl_name[i], file);
	return husk_cgroup_write(d, file, val, err);
}

int husk_cgroup_set(const struct husk_cgroup *cg, const struct husk_cgroup_limits *l,
		    struct husk_err *err)
{
	char mem[24], quota[24], per[24], shares[24], pids[24], max[48];
	struct husk_err e = {0};
	bool v2 = cg->v2, cpu = l->cpu_quota || l->cpu_period;
	snprintf(mem, sizeof mem, "%" PRId64, l->memory > 0 ? l->memory : -1);
	snprintf(quota, sizeof quota, "%" PRId64, l->cpu_quota > 0 ? l->cpu_quota : -1);
	snprintf(per, sizeof per, "%" PRIu64, l->cpu_period);
	snprintf(shares, sizeof shares, "%" PRIu64,
		 v2 ? husk_cgroup_shares_to_weight(l->cpu_shares) : l->cpu_shares);
	snprintf(pids, sizeof pids, "%" PRId64, l->pids);
	snprintf(max, sizeof max, "%s%s%s", l->cpu_quota > 0 ? quota : "max",
		 l->cpu_period ? " " : "", l->cpu_period ? per : "");
	if (l->memory && set_file(cg, HUSK_CG_MEMORY, v2 ? "memory.max" : "memory.limit_in_bytes",
				  l->memory < 0 && v2 ? "max" : mem, err) < 0)
		return -1;
	if (v2 && cpu && set_file(cg, HUSK_CG_CPU, "cpu.max", max, err) < 0)
		return -1;
	if (!v2 && cpu) {
		/* runc's order: a shorter period can be refused (EINVAL) until the
		 * quota is lowered; it is then written again after the quota. */
		int r = l->cpu_period ? set_file(cg, HUSK_CG_CPU, "cpu.cfs_period_us", per, &e) : 0;
		bool again = r < 0 && e.code == EINVAL && l->cpu_quota;
		if (r < 0 && !again) {
			if (err)
				*err = e;
			return -1;
		}
		if (l->cpu_quota && set_file(cg, HUSK_CG_CPU, "cpu.cfs_quota_us", quota, err) < 0)
			return -1;
		if (again && set_file(cg, HUSK_CG_CPU, "cpu.cfs_period_us", per, err) < 0)
			return -1;
	}
	if (l->cpu_shares &&
	    set_file(cg, HUSK_CG_CPU, v2 ? "cpu.weight" : "cpu.shares", shares, err) < 0)
		return -1;
	if (l->pids && set_file(cg, HUSK_CG_PIDS, "pids.max", l->pids > 0 ? pids : "max", err) < 0)
		return -1;
	if (l->cpuset_cpus && *l->cpuset_cpus &&
	    set_file(cg, HUSK_CG_CPUSET, "cpuset.cpus", l->cpuset_cpus, err) < 0)
		return -1;
	if (l->cpuset_mems && *l->cpuset_mems &&
	    set_file(cg, HUSK_CG_CPUSET, "cpuset.mems", l->cpuset_mems, err) < 0)
		return -1;
	return 0;
}

/* A number, "max" (as max), or a missing file (the controller is not there:
 * 0). With key, the value on its "key value" line of a flat keyed file. */
static int get(const char *dir, const char *file, const char *key, uint64_t max, uint64_t *out,
	       struct husk_err *err)
{
	char buf[4096], *p = buf, *end;
	int r = husk_cgroup_read(dir, file, buf, sizeof buf);
	*out = 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return husk_err_sys(err, -r, "cgroup: cannot read %s/%s", dir, file);
	for (size_t k = key ? strlen(key) : 0; key; p++) {
		if (strncmp(p, key, k) == 0 && p[k] == ' ') {
			p += k + 1;
			break;
		}
		if (!(p = strchr(p, '\n')))
			return 0;
	}
	if (strncmp(p, "max", 3) == 0 && (p[3] == '\n' || !p[3])) {
		*out = max;
		return 0;
	}
	errno = 0;
	*out = strtoull(p, &end, 10);
	if (errno || end == p || (*end && *end != '\n'))
		return husk_err_set(err, EINVAL, "cgroup: %s/%s: cannot read a number in \"%.32s\"",
				    dir, file, p);
	return 0;
}

/* Where each statistic is read; scale 0: USER_HZ ticks. */
struct stat_src {
	int ctl;
	const char *file, *key;
	uint64_t max, scale;
	size_t off;
};
#define AT(f) offsetof(struct husk_cgroup_stats, f)
static const struct stat_src v2_stats[] = {
    {0, "cpu.stat", "usage_usec", 0, 1000, AT(cpu_usage_ns)},
    {0, "cpu.stat", "user_usec", 0, 1000, AT(cpu_user_ns)},
    {0, "cpu.stat", "system_usec", 0, 1000, AT(cpu_system_ns)},
    {0, "memory.current", NULL, 0, 1, AT(memory_usage)},
    {0, "memory.max", NULL, UINT64_MAX, 1, AT(memory_limit)},
    {0, "memory.peak", NULL, 0, 1, AT(memory_max_usage)},
    {0, "pids.current", NULL, 0, 1, AT(pids_current)},
    {0, "pids.max", NULL, 0, 1, AT(pids_limit)},
    {0, "cpu.stat", "nr_periods", 0, 1, AT(cpu_periods)},
    {0, "cpu.stat", "nr_throttled", 0, 1, AT(cpu_throttled_periods)},
    {0, "cpu.stat", "throttled_usec", 0, 1000, AT(cpu_throttled_ns)},
    {0, "memory.stat", "file", 0, 1, AT(memory_cache)},
    {0, "memory.events", "oom_kill", 0, 1, AT(oom_kills)},
    {0},
};
static const struct stat_src v1_stats[] = {
    {HUSK_CG_CPUACCT, "cpuacct.usage", NULL, 0, 1, AT(cpu_usage_ns)},
    {HUSK_CG_CPUACCT, "cpuacct.stat", "user", 0, 0, AT(cpu_user_ns)},
    {HUSK_CG_CPUACCT, "cpuacct.stat", "system", 0, 0, AT(cpu_system_ns)},
    {HUSK_CG_MEMORY, "memory.usage_in_bytes", NULL, 0, 1, AT(memory_usage)},
    {HUSK_CG_MEMORY, "memory.limit_in_bytes", NULL, UINT64_MAX, 1, AT(memory_limit)},
    {HUSK_CG_MEMORY, "memory.max_usage_in_bytes", NULL, 0, 1, AT(memory_max_usage)},
    {HUSK_CG_PIDS, "pids.current", NULL, 0, 1, AT(pids_current)},
    {HUSK_CG_PIDS, "pids.max", NULL, 0, 1, AT(pids_limit)},
    {HUSK_CG_CPU, "cpu.stat", "nr_periods", 0, 1, AT(cpu_periods)},
    {HUSK_CG_CPU, "cpu.stat", "nr_throttled", 0, 1, AT(cpu_throttled_periods)},
    {HUSK_CG_CPU, "cpu.stat", "throttled_time", 0, 1, AT(cpu_throttled_ns)},
    {HUSK_CG_MEMORY, "memory.stat", "cache", 0, 1, AT(memory_cache)},
    {HUSK_CG_MEMORY, "memory.failcnt", NULL, 0, 1, AT(memory_failcnt)},
    {HUSK_CG_MEMORY, "memory.oom_control", "oom_kill", 0, 1, AT(oom_kills)},
    {0},
};
#undef AT

int husk_cgroup_stats(const struct husk_cgroup *cg, struct husk_cgroup_stats *s,
		      struct husk_err *err)
{
	long hz = sysconf(_SC_CLK_TCK);
	memset(s, 0, sizeof *s);
	for (int i = 0; i < HUSK_CG_NCTL; i++)
		if (husk_cgroup_first_dir(cg, i) && access(cg->dir[i], F_OK) < 0)
			return husk_err_sys(err, errno, "cgroup %s", cg->dir[i]);
	for (const struct stat_src *t = cg->v2 ? v2_stats : v1_stats; t->file; t++) {
		uint64_t *v = (uint64_t *)((char *)s + t->off);
		if (!cg->dir[t->ctl])
			continue;
		if (get(cg->dir[t->ctl], t->file, t->key, t->max, v, err) < 0)
			return -1;
		*v *= t->scale ? t->scale : 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	}
	return 0;
}
