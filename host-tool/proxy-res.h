/* The proxy's resources: the VM's host cgroup and `update` (proxy-res.c). */
#ifndef HUSK_PROXY_RES_H
#define HUSK_PROXY_RES_H

#include "proxy.h"

/* Make the host cgroup linux.cgroupsPath names, bound it by the VM's RAM
 * plus QEMU's overhead and the container's CPU limits, and move the proxy
 * in: whatever it starts next (virtiofsd, QEMU, the sentinel) follows. Its
 * path goes into state (P->st.cgroup) for delete and events. */
int husk_proxy_cgroup_setup(struct proxy *P, struct husk_err *err);
/* Move the proxy out of it, so that delete can remove it. */
void husk_proxy_cgroup_leave(struct proxy *P);
/* linux.resources for a running container: the guest's cgroup first, then
 * the host's; c hears the outcome. */
void husk_proxy_update(struct proxy *P, struct husk_ctl_conn *c, struct json_object *res);

#endif
