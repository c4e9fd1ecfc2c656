/* The container's PID on the host (docs/architecture.md, "The container's
 * PID on the host"). The container's processes run in the guest; what a
 * caller finds through the PID in state and --pid-file is a sentinel: PID 1
 * of a pid namespace of its own, in a mount namespace whose root is the
 * container's rootfs with config.json's bind mounts where the config puts
 * them. Whoever enters /proc/PID/root or the PID's mount namespace (podman
 * cp, podman top) works on the container's files, which the guest sees
 * through its share; the PID's network namespace is the container's.
 *
 * It lives as long as the container: it exits with the container process's
 * status once the proxy has cleaned up, forwards the signals sent to it to
 * the container process, and its death (SIGKILL) kills the container. */
#ifndef HUSK_SENTINEL_H
#define HUSK_SENTINEL_H

#include <stdbool.h>
#include <sys/types.h>

#include "husk-err.h"

struct json_object;

/* A bind mount as the host sees it: a path in the calling process's mount
 * namespace and where config.json puts it in the container. */
struct husk_sentinel_bind {
	const char *source; /* absolute */
	const char *dest;   /* inside the rootfs */
	bool readonly;
};

struct husk_sentinel_view {
	const char *rootfs; /* absolute */
	bool readonly;
	const struct husk_sentinel_bind *binds;
	size_t nbinds;
};

struct husk_sentinel {
	pid_t pid; /* in the caller's pid namespace; 0 when there is none */
	int fd;	   /* our end of its socket; -1 when there is none */
};

/* Start one; once this returns it is in place. The sentinel is not our
 * child: it is reparented to the nearest subreaper (containerd's shim,
 * conmon) which reaps it and reads its status. */
int husk_sentinel_start(struct husk_sentinel *s, const struct husk_sentinel_view *v,
			struct husk_err *err);
/* What it sent: a signal number (> 0) to forward, 0 when it is gone (its
 * socket closed), -1 when there is nothing to read now. */
int husk_sentinel_read(struct husk_sentinel *s);
/* Tell it to exit with code (0..255) and forget it. */
void husk_sentinel_exit(struct husk_sentinel *s, int code);

#endif
