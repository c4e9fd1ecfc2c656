/* The control socket of a container's proxy: <root>/<id>/ctl.sock, a
 * SOCK_SEQPACKET socket carrying one JSON object per message, with file
 * descriptors attached where a message hands stdio over. */
#ifndef HUSK_CTL_H
#define HUSK_CTL_H

#include "husk-err.h"
#include "husk-fdpass.h"

#define CTL_MAX_MSG 65536
/* a larger message goes in a sealed memfd, up to this */
#define CTL_MAX_BIG (16 << 20)
#define CTL_MAX_FDS HUSK_MAX_PASSED_FDS

struct json_object;

int husk_ctl_send(int fd, struct json_object *o, const int *fds, int nfds, struct husk_err *err);
/* Blocking receive; *o is NULL at EOF. Received fds are close-on-exec. */
int husk_ctl_recv(int fd, struct json_object **o, int *fds, int *nfds, struct husk_err *err);
/* A unix socket of TYPE named NAME in DIR: bound and listening with BACKLOG
 * when it is positive, else connected. The fd or -1. */
int husk_sock_at(const char *dir, const char *name, int type, int backlog, struct husk_err *err);
int husk_ctl_listen(const char *state_dir, struct husk_err *err);
int husk_ctl_connect(const char *state_dir, struct husk_err *err);
/* Send one request and wait for its answer; an {"error": msg} answer fails
 * with that message. */
int husk_ctl_call(const char *state_dir, struct json_object *req, struct json_object **reply,
		  struct husk_err *err);

#endif
