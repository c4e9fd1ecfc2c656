/* The serving end of a proxy's control socket (<state>/ctl.sock): accepts
 * clients, reads one JSON request per message with any descriptors, and
 * hands each to the owner's callback. Replies go back on the connection;
 * a connection stays open while the owner holds a reference. */
#ifndef HUSK_CTLSRV_H
#define HUSK_CTLSRV_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "husk-err.h"

struct json_object;
struct husk_ctl_conn;

struct husk_ctl_server_ops {
	/* One request; fds are the owner's to close. */
	void (*request)(struct husk_ctl_conn *c, struct json_object *req, int *fds, int nfds,
			void *data);
	/* The client went away (or sent garbage); c closes after this. */
	void (*gone)(struct husk_ctl_conn *c, void *data);
};

struct husk_ctl_server {
	uv_loop_t *loop;
	int fd;
	uv_poll_t poll;
	const struct husk_ctl_server_ops *ops;
	void *data;
};

struct husk_ctl_conn {
	struct husk_ctl_server *srv;
	int fd;
	uv_poll_t poll;
	int refs;
	bool closed;
	void *data; /* the owner's */
};

int husk_ctl_serve(struct husk_ctl_server *srv, uv_loop_t *loop, const char *state_dir,
		   const struct husk_ctl_server_ops *ops, void *data, struct husk_err *err);
/* Send o (consumed) unless the connection is closed. */
void husk_ctl_reply(struct husk_ctl_conn *c, struct json_object *o);
void husk_ctl_conn_close(struct husk_ctl_conn *c);
void husk_ctl_conn_ref(struct husk_ctl_conn *c);
void husk_ctl_conn_unref(struct husk_ctl_conn *c);
/* {"error": msg[, "status": status]} and {"ok": true} */
struct json_object *husk_ctl_error(const char *msg, int status);
struct json_object *husk_ctl_ok(void);

#endif
