/* Pods: one VM for a Kubernetes pod (docs/architecture.md, "Pods"). The
 * sandbox (CRI's pause container) is an ordinary container whose proxy owns
 * the VM; every other container of the pod is created inside that running
 * VM. Each keeps a host process of its own, its member proxy
 * (pod-member.c): its PID is what callers know (through its sentinel), it
 * holds the container's stdio and exits with its status. The member proxy
 * puts the container's rootfs into the sandbox's share and hands the
 * sandbox's proxy the container (pod-sandbox.c), which creates it in the
 * guest and relays its processes; the connection between the two, the
 * link, lives as long as the member proxy does. */
#ifndef HUSK_POD_H
#define HUSK_POD_H

#include <stdbool.h>

#include "husk-err.h"
#include "husk-proto.h"

struct proxy;
struct proxy_opts;
struct husk_ctl_conn;
struct json_object;

/* CRI's annotations (containerd, CRI-O) */
#define HUSK_CRI_TYPE	  "io.kubernetes.cri.container-type"
#define HUSK_CRI_SANDBOX  "io.kubernetes.cri.sandbox-id"
#define HUSK_CRIO_TYPE	  "io.kubernetes.cri-o.ContainerType"
#define HUSK_CRIO_SANDBOX "io.kubernetes.cri-o.SandboxID"

/* At create: a pod's container (o->sandbox set to its sandbox's id, which
 * must be a running husk container under the same root), or not (NULL). A
 * container whose network namespace is one a husk VM already serves joins
 * that VM as its pod's. */
int husk_pod_resolve(struct proxy_opts *o, struct husk_err *err);

struct husk_state;
/* The sandbox of a pod's container, from its state's annotations, or NULL. */
const char *husk_pod_sandbox_of(const struct husk_state *st);

/* ---- the sandbox's proxy (pod-sandbox.c) ---- */

/* "pod.add": a member proxy hands over its container. */
void husk_pod_add(struct proxy *P, struct husk_ctl_conn *c, struct json_object *req, int *fds,
		  int nfds);
/* A control request naming one of the pod's containers ("container"):
 * served, and true; false for one that is the sandbox's own. */
bool husk_pod_request(struct proxy *P, struct husk_ctl_conn *c, const char *op,
		      struct json_object *req, int *fds, int nfds);
/* A connection went: if it was a member's link, the member goes too (its
 * processes killed, the container deleted in the guest, its part of the
 * share removed). */
void husk_pod_gone(struct proxy *P, struct husk_ctl_conn *c);
/* An exit event or stream frame for a member's process; false if none. */
bool husk_pod_exit(struct proxy *P, const struct husk_exit_event *e);
bool husk_pod_stream(struct proxy *P, const struct husk_frame_hdr *h, const uint8_t *p);

/* ---- a member's own proxy (pod-member.c) ---- */

__attribute__((noreturn)) void husk_member_main(struct proxy_opts *o);
/* A signal for the container, sent to the sandbox's proxy. */
void husk_member_signal(struct proxy *P, int sig);
/* Its part of the share removed, the state and sentinel told, exit. */
__attribute__((noreturn)) void husk_member_finish(struct proxy *P, int code);

#endif
