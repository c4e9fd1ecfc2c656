/* The fields of an OCI config that narrow a process's privilege, read
 * strictly and the same way on both sides: process.capabilities,
 * noNewPrivileges, rlimits, oomScoreAdj, user; linux.seccomp, maskedPaths,
 * readonlyPaths. A value of the wrong type or out of range is an error that
 * names the field, never a default: a field that narrows privilege and
 * cannot be read must not fail open (docs/security.md, "Privilege fields").
 *
 * The host reads them at create (host-tool/config.c) and for exec --process
 * only to refuse, so the caller hears why; the agent reads them again
 * (agent/spec.c) to apply them, and refuses on its own too.
 *
 * Messages follow husk-json.h's path style: where is the prefix of the
 * object's path ("config.json: process.", "process.", "linux."). null is
 * "absent", as Go's encoding/json (runc) reads it. */
#ifndef HUSK_PRIV_H
#define HUSK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk-err.h"

struct json_object;

#define HUSK_CAP_LAST	       40 /* CAP_CHECKPOINT_RESTORE */
#define HUSK_CAP_ALL	       ((UINT64_C(1) << (HUSK_CAP_LAST + 1)) - 1)
#define HUSK_PRIV_MAX	       1024 /* entries of one list (rlimits, a capability set, paths) */
#define HUSK_SECCOMP_MAX_RULES 8192
#define HUSK_SECCOMP_MAX_NAMES 8192

enum husk_cap_set {
	HUSK_CAPS_BOUNDING,
	HUSK_CAPS_EFFECTIVE,
	HUSK_CAPS_PERMITTED,
	HUSK_CAPS_INHERITABLE,
	HUSK_CAPS_AMBIENT,
	HUSK_CAP_SETS
};
/* "bounding", "effective", ... as config.json names them */
extern const char *const husk_cap_set_names[HUSK_CAP_SETS];

/* A capability's number from "CAP_KILL" (or "KILL"); -1 if unknown. */
int husk_cap_from_name(const char *name);
/* RLIMIT_* from "RLIMIT_NOFILE"; -1 if unknown. */
int husk_rlimit_from_name(const char *name);

struct husk_rlimit {
	int resource;
	uint64_t soft, hard;
};

/* process.capabilities: *has is false when it is absent or null (the
 * process keeps what it has, as with runc); otherwise sets[] holds each
 * set's mask, a set that is absent or null being empty. */
int husk_priv_caps(struct json_object *process, const char *where, bool *has,
		   uint64_t sets[HUSK_CAP_SETS], struct husk_err *err);
/* process.rlimits: entries {type, soft, hard}, soft and hard integers in
 * [0, 2^64-1] (RLIM_INFINITY is 18446744073709551615), soft not above hard.
 * *out is calloc'd (n + 1 entries, so never NULL on success). */
int husk_priv_rlimits(struct json_object *process, const char *where, struct husk_rlimit **out,
		      size_t *n, struct husk_err *err);
/* process.noNewPrivileges: true or false (absent or null: false). */
int husk_priv_no_new_privs(struct json_object *process, const char *where, bool *out,
			   struct husk_err *err);
/* Every privilege field of a process object (those above, oomScoreAdj in
 * [-1000, 1000], user: an object with uid and gid in [0, 2^32-1], gids
 * the same, umask in [0, 0777]), read only to refuse. process may be NULL. */
int husk_priv_process_check(struct json_object *process, const char *where, struct husk_err *err);

/* linux.seccomp's shape: an object (or absent/null: *present false) with a
 * known defaultAction; defaultErrnoRet and each errnoRet in [0, 65535];
 * architectures and flags arrays of strings; syscalls an array of objects
 * with names (strings), a known action and args (at most 6: index 0-5,
 * value and valueTwo in [0, 2^64-1], a known op). linux_ may be NULL. */
int husk_priv_seccomp(struct json_object *linux_, const char *where, bool *present,
		      struct husk_err *err);
/* linux's privilege fields (maskedPaths and readonlyPaths, arrays of
 * absolute paths; seccomp), read only to refuse. linux_ may be NULL. */
int husk_priv_linux_check(struct json_object *linux_, const char *where, struct husk_err *err);

#endif
