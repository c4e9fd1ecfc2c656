/* A new container's root, in the child between fork and exec. */
#ifndef HUSK_AGENT_ROOTFS_H
#define HUSK_AGENT_ROOTFS_H

#include "agent.h"

/* The container's mount namespace, its mounts, devices and sysctls, then
 * pivot_root into it. -1 with errno; *detail then names the mount (index +
 * 1) or the sysctl (-(index + 1)) at fault, or is 0. */
int agent_rootfs_enter(const struct agent_container *c, int *detail);

#endif
