/* The parts of an OCI config.json the agent applies inside the guest:
 * mounts, namespaces, paths, sysctls, devices, cgroup limits, and
 * per-process security settings. Parsing is pure (no system calls), so it is fuzzed on the host. */
#ifndef HUSK_AGENT_SPEC_H
#define HUSK_AGENT_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk-err.h"
#include "husk-priv.h"

struct json_object;

#define SPEC_MAX_ITEMS 1024

struct spec_mount {
	char *dst;
	char *type;
	char *src;
	unsigned long flags;	   /* MS_* for the mount itself */
	unsigned long propagation; /* MS_SHARED/SLAVE/PRIVATE/UNBINDABLE (| MS_REC) */
	bool bind, recursive;
	char *data; /* the options that are not flags, comma-joined */
};

struct spec_device {
	char *path;
	char type; /* c, b, u, p */
	int64_t major, minor;
	uint32_t mode, uid, gid;
};

struct spec_kv {
	char *key, *value;
};

/* linux.resources as given: SPEC_UNSET where a field is absent (or null),
 * NULL for absent strings. Nothing is interpreted yet: -1 and 0 keep their
 * OCI meanings for agent_spec_cgroup_writes. */
#define SPEC_UNSET	INT64_MIN
#define SPEC_CPUSET_MAX 255    /* longest cpu.cpus or cpu.mems list */
#define SPEC_MAX_SHARES 262144 /* the kernel's cpu.shares range, 2..2^18 */
struct spec_resources {
	int64_t memory_limit, memory_swap, memory_reservation;
	int64_t cpu_quota, cpu_period, cpu_shares;
	char *cpu_cpus, *cpu_mems;
	int64_t pids_limit;
	int64_t blkio_weight;
};

struct agent_spec {
	struct spec_mount *mounts;
	size_t nmounts;
	int ns_new;	 /* CLONE_NEW* flags for namespaces without a path */
	int ns_paths;	 /* those given a path: a pod's container joins its sandbox's */
	char **masked;	 /* NULL-terminated */
	char **readonly; /* NULL-terminated */
	struct spec_kv *sysctl;
	size_t nsysctl;
	struct spec_device *devices;
	size_t ndevices;
	unsigned long rootfs_propagation; /* 0: leave as is */
	/* linux.uidMappings/gidMappings as uid_map/gid_map text, or NULL */
	char *uid_map, *gid_map;
	struct spec_resources resources;
	/* linux.seccomp is an object of the right shape (protocol/priv.c):
	 * container.c compiles it, and every process loads the filter */
	bool seccomp;
};

struct spec_process {
	struct husk_rlimit *rlimits;
	size_t nrlimits;
	bool has_caps;
	uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
	bool no_new_privs;
	bool has_oom_score_adj;
	int oom_score_adj;
	bool has_umask;
	uint32_t umask;
};

/* config.json's "mounts" and "linux" objects (either may be NULL). */
int agent_spec_parse(struct json_object *mounts, struct json_object *linux_, struct agent_spec *s,
		     struct husk_err *err);
void agent_spec_free(struct agent_spec *s);
/* An OCI process object's rlimits, capabilities, noNewPrivileges,
 * oomScoreAdj and user.umask. A field of the wrong type or out of range is
 * an error naming it ("process.noNewPrivileges must be true or false"). */
int agent_spec_process(struct json_object *process, struct spec_process *p, struct husk_err *err);
void agent_spec_process_free(struct spec_process *p);
/* A linux.resources object (NULL, or an object) into *r; the one reader
 * of it, for container.create's spec and for container.update. Groups that
 * are not objects are ignored; fields of the wrong type or out of range are
 * errors naming them ("linux.resources.memory.limit is out of range").
 * On failure *r is left freed. */
int agent_spec_resources(struct json_object *res, struct spec_resources *r, struct husk_err *err);
void agent_spec_resources_free(struct spec_resources *r);

/* One cgroup v2 file write that linux.resources asks for. */
#define SPEC_CGROUP_WRITES 9 /* the most one linux.resources makes */
enum {
	SPEC_CG_IF_PRESENT = 1 << 0,  /* a cgroup without the file (the guest lacks
				       * its controller, or swap) leaves it out */
	SPEC_CG_BEST_EFFORT = 1 << 1, /* a failure is ignored */
	SPEC_CG_KEEP_QUOTA = 1 << 2,  /* cpu.max with value the period alone: the
				       * writer puts the current quota before it */
};
struct spec_cgroup_write {
	const char *file;		 /* in the container's cgroup: "memory.max" */
	const char *field;		 /* what asked for it: "linux.resources.memory.limit" */
	char value[SPEC_CPUSET_MAX + 1]; /* what to write */
	/* the field's value when the file gets another ("1024" of cpu.shares
	 * for cpu.weight 39), else "" */
	char given[24];
	int flags; /* SPEC_CG_* */
};
/* The writes r asks for, in order, into w (SPEC_CGROUP_WRITES entries);
 * their number, or -1 with err when the values do not go together (a swap
 * limit without a memory limit, or below it). Absent fields write nothing,
 * so an update changes only what it names; -1 (and 0 for cpu.quota and
 * pids.limit) means "max". Conversions are runc's for cgroup v2: memory.swap
 * is memory and swap together (memory.swap.max gets swap - limit), cpu.shares
 * becomes cpu.weight 1 + (shares - 2) * 9999 / 262142, blockIO.weight becomes
 * io.weight 1 + (weight - 10) * 9999 / 990. create: for a new cgroup, where
 * memory.max, memory.swap.max, pids.max and cpu.max are "max" already, those
 * writes of "max" are left out, a cpu.quota gets period 100000 unless it has
 * one (a period alone is left out), and a memory limit without swap gets no
 * swap (memory.swap.max 0, where the guest has swap). */
int agent_spec_cgroup_writes(const struct spec_resources *r, bool create,
			     struct spec_cgroup_write *w, struct husk_err *err);

/* Mount options: flags, propagation and the rest as data. */
int agent_spec_mount_options(struct json_object *options, struct spec_mount *m,
			     struct husk_err *err);
int agent_cap_from_name(const char *name);

#endif
