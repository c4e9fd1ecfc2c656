/* The jail QEMU runs in (docs/security.md, "The VMM's jail"): its own pid,
 * mount and ipc namespaces; a root of its own holding only what it opens
 * (the QEMU binary's /usr, the kernel and initrd read-only, the shares, a
 * few devices, an empty state directory for its pid file); no_new_privs;
 * only the capabilities its share needs, or an unprivileged uid when it
 * needs none; rlimits. QEMU's own seccomp filter (-sandbox) comes on top. */
#ifndef HUSK_JAIL_H
#define HUSK_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define HUSK_JAIL_MAX_PATHS 16

struct husk_jail {
	const char *root; /* where to build it: an absent or empty directory */
	/* host paths seen at the same path inside, read-only or writable */
	const char *ro[HUSK_JAIL_MAX_PATHS];
	size_t nro;
	const char *rw[HUSK_JAIL_MAX_PATHS];
	size_t nrw;
	/* device nodes (host paths) to expose */
	const char *dev[HUSK_JAIL_MAX_PATHS];
	size_t ndev;
	const char *scratch; /* an empty writable directory at this path, or NULL */
	uid_t uid;	     /* 0: stay root with only keep_caps */
	gid_t gid;
	gid_t extra_gid; /* a supplementary group (kvm), or 0 */
	uint64_t keep_caps;
};

/* fork into new pid, mount and ipc namespaces: 0 in the child (PID 1 of
 * its pid namespace), its pid in the parent, -1 with errno. */
pid_t husk_jail_fork(void);
/* In the child: build the jail and enter it. -1 with errno and *what set to
 * the step that failed. */
int husk_jail_enter(const struct husk_jail *j, const char **what);

#endif
