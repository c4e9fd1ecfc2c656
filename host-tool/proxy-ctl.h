/* The requests a proxy's control socket serves (proxy-ctl.c). */
#ifndef HUSK_PROXY_CTL_H
#define HUSK_PROXY_CTL_H

#include "ctlsrv.h"

/* data is the struct proxy */
extern const struct husk_ctl_server_ops husk_proxy_ctl_ops;

struct proxy;
struct husk_procs;
struct husk_request;

/* exec: a process of set (the sandbox's own or a pod member's) on the
 * three descriptors passed */
void husk_proxy_exec(struct proxy *P, struct husk_procs *set, struct husk_ctl_conn *c,
		     struct json_object *req, int *fds, int nfds);
/* A request for the agent; its reply goes back to c. */
void husk_proxy_forward(struct proxy *P, struct husk_ctl_conn *c, struct husk_request *req);

#endif
