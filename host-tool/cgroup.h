/* The host cgroup of one container's VM: the proxy, QEMU and virtiofsd all
 * go into it, so linux.resources (and whoever set linux.cgroupsPath, such as
 * containerd or podman) see the VM as the container. Where it goes follows
 * runc's handling of linux.cgroupsPath:
 *
 * - cgroupfs (the default): an absolute path is used as is under each
 *   hierarchy's root; a relative one, or the container id when cgroupsPath
 *   is empty, is relative to husk's own cgroup (/proc/self/cgroup): per
 *   controller on v1 (runc's fs driver), the parent of the "0::" cgroup on
 *   v2 (runc's fs2 driver: husk's own cgroup has processes in it, so its
 *   children could have no controllers). ".." is refused, "//" and "." are
 *   cleaned away.
 * - systemd (--systemd-cgroup): "slice:prefix:name" becomes
 *   <expanded slice>/<prefix>-<name>.scope, as runc's systemd driver names
 *   it ("a-b.slice" -> "/a.slice/a-b.slice", "" -> "system.slice", "-.slice"
 *   -> the root); a name ending in ".slice" is a slice itself, placed where
 *   systemd puts that slice (its own expansion). Empty: system.slice/
 *   husk-<id>.scope. Known difference: husk does not talk to systemd over
 *   D-Bus; it makes the directories itself, so systemd does not know the
 *   unit (no `systemctl status`, no Delegate=, its limits are not systemd
 *   properties).
 *
 * The resolved form ("rel", what state.json keeps) is an absolute path under
 * each hierarchy's root, "/a/b". Only on v1, when a relative path meets
 * controllers whose own cgroups differ (usual under systemd: memory in
 * /system.slice/x.service, cpuset in /), it is one "controller=/path" per
 * line instead; treat it as opaque and hand it back to husk_cgroup_load.
 *
 * v2 when <root>/cgroup.controllers exists; otherwise v1 (hybrid included:
 * limits go to the v1 controllers), each of memory, cpu, cpuacct, pids,
 * cpuset, blkio, devices, freezer that is mounted under <root>. */
#ifndef HUSK_CGROUP_H
#define HUSK_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk-err.h"

#define HUSK_CGROUP_ROOT "/sys/fs/cgroup"

enum husk_cgroup_ctl {
	HUSK_CG_MEMORY,
	HUSK_CG_CPU,
	HUSK_CG_CPUACCT,
	HUSK_CG_PIDS,
	HUSK_CG_CPUSET,
	HUSK_CG_BLKIO,
	HUSK_CG_DEVICES,
	HUSK_CG_FREEZER,
	HUSK_CG_NCTL
};

struct husk_cgroup {
	bool v2;
	/* v2: [0] only. v1: per controller, NULL when it is not mounted; "cpu"
	 * and "cpuacct" are the same directory when mounted together. */
	char *dir[HUSK_CG_NCTL]; /* the container's cgroup */
	char *mnt[HUSK_CG_NCTL]; /* the hierarchy's root it is under */
};

/* rel for cgroups_path (NULL or "" allowed), under root (NULL: HUSK_CGROUP_ROOT).
 * Touches nothing; reads root (v1 or v2) and /proc/self/cgroup only for a
 * relative cgroupfs path. Errors name linux.cgroupsPath. */
int husk_cgroup_resolve(const char *root, const char *cgroups_path, const char *id, bool systemd,
			char **rel, struct husk_err *err);
/* The same with /proc/self/cgroup's text given (unit tests). */
int husk_cgroup_resolve_text(bool v2, const char *self_cgroup, const char *cgroups_path,
			     const char *id, bool systemd, char **rel, struct husk_err *err);

/* mkdir -p rel in each hierarchy. v1 cpuset: each level's empty
 * cpuset.cpus/cpuset.mems are copied from its parent. v2: each ancestor's
 * cgroup.subtree_control gets +memory +cpu +pids (+cpuset +io) where its
 * cgroup.controllers has them, best effort. On failure the leaves it made
 * are removed and cg is left empty. */
int husk_cgroup_create(struct husk_cgroup *cg, const char *root, const char *rel,
		       struct husk_err *err);
/* Fill cg for a rel made earlier (state.json); does not check it exists. */
int husk_cgroup_load(struct husk_cgroup *cg, const char *root, const char *rel,
		     struct husk_err *err);
/* Write pid to cgroup.procs in each hierarchy. */
int husk_cgroup_join(const struct husk_cgroup *cg, pid_t pid, struct husk_err *err);
/* Move the calling process out, to the parent in each hierarchy (on v2, the
 * nearest ancestor that takes it: one with controllers enabled for its
 * children refuses processes, EBUSY). Needed before destroy by a member. */
/* Up to max of the processes in it (the first hierarchy's cgroup.procs). */
int husk_cgroup_pids(const struct husk_cgroup *cg, pid_t *pids, size_t max, size_t *n,
		     struct husk_err *err);
/* SIGKILL whatever is still in it, until it is empty (2 s at most), as
 * runc's delete does: what a killed proxy left (QEMU, virtiofsd). */
void husk_cgroup_kill_all(const struct husk_cgroup *cg);
int husk_cgroup_leave(const struct husk_cgroup *cg, struct husk_err *err);

/* What linux.resources asks for; 0 (or NULL, "") leaves a setting alone. */
struct husk_cgroup_limits {
	int64_t memory;	     /* bytes; < 0: unlimited */
	int64_t cpu_quota;   /* us per period; < 0: unlimited */
	uint64_t cpu_period; /* us */
	uint64_t cpu_shares; /* v2: cpu.weight, see husk_cgroup_shares_to_weight */
	int64_t pids;	     /* < 0: unlimited */
	const char *cpuset_cpus, *cpuset_mems;
};
/* v1: memory.limit_in_bytes, cpu.cfs_period_us/cpu.cfs_quota_us, cpu.shares,
 * pids.max, cpuset.*; v2: memory.max, cpu.max, cpu.weight, pids.max,
 * cpuset.*. An error names the file and the value. */
int husk_cgroup_set(const struct husk_cgroup *cg, const struct husk_cgroup_limits *l,
		    struct husk_err *err);
/* runc's conversion: 0 -> 0 (unset), else 1 + ((shares - 2) * 9999) / 262142,
 * shares clamped to the kernel's [2, 262144] first (so 1..10000). */
uint64_t husk_cgroup_shares_to_weight(uint64_t shares);

/* A file a controller does not have in this cgroup reads as 0. */
struct husk_cgroup_stats {
	uint64_t cpu_usage_ns, cpu_user_ns, cpu_system_ns;
	uint64_t memory_usage, memory_limit; /* v2 "max": UINT64_MAX; v1: as read */
	uint64_t memory_max_usage;	     /* v1 max_usage_in_bytes, v2 memory.peak */
	uint64_t pids_current, pids_limit;   /* limit 0: none, as runc reports */
	/* cpu.stat: nr_periods, nr_throttled, throttled_usec (v1 throttled_time) */
	uint64_t cpu_periods, cpu_throttled_periods, cpu_throttled_ns;
	uint64_t memory_cache;	 /* memory.stat "file" (v1 "cache") */
	uint64_t memory_failcnt; /* v1 memory.failcnt; v2 none (0), as runc 1.1 */
	uint64_t oom_kills;	 /* "oom_kill" of memory.events (v1 memory.oom_control) */
};
int husk_cgroup_stats(const struct husk_cgroup *cg, struct husk_cgroup_stats *s,
		      struct husk_err *err);

/* rmdir the container's cgroup in each hierarchy (never its ancestors, which
 * may be shared), retrying up to ~1 s while it is busy; a missing one is
 * fine. Moves nobody. Failures are logged; -1 if any. */
int husk_cgroup_destroy(const struct husk_cgroup *cg);
void husk_cgroup_free(struct husk_cgroup *cg);

/* Unit tests only: called with each directory husk_cgroup_create makes, so
 * a test can play the kernel and fill it with the files a cgroup has. */
extern void (*husk_cgroup_mkdir_hook)(const char *dir);

#endif
