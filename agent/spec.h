/* The parts of an OCI config.json the agent applies inside the guest:
 * mounts, namespaces, paths, sysctls, devices, and per-process security
 * settings. Parsing is pure (no system calls), so it is fuzzed on the host. */
#ifndef HUSK_AGENT_SPEC_H
#define HUSK_AGENT_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk-err.h"

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

struct agent_spec {
	struct spec_mount *mounts;
	size_t nmounts;
	int ns_new;	 /* CLONE_NEW* flags for namespaces without a path */
	char **masked;	 /* NULL-terminated */
	char **readonly; /* NULL-terminated */
	struct spec_kv *sysctl;
	size_t nsysctl;
	struct spec_device *devices;
	size_t ndevices;
	unsigned long rootfs_propagation; /* 0: leave as is */
	/* linux.uidMappings/gidMappings as uid_map/gid_map text, or NULL */
	char *uid_map, *gid_map;
	/* linux.resources; -1 where not set */
	int64_t memory_limit, cpu_quota, cpu_period, pids_limit;
};

struct spec_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct spec_process {
	struct spec_rlimit *rlimits;
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
 * oomScoreAdj and user.umask. */
int agent_spec_process(struct json_object *process, struct spec_process *p, struct husk_err *err);
void agent_spec_process_free(struct spec_process *p);
/* Mount options: flags, propagation and the rest as data. */
int agent_spec_mount_options(struct json_object *options, struct spec_mount *m,
			     struct husk_err *err);
int agent_cap_from_name(const char *name);

#endif
