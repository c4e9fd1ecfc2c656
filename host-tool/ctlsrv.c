#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "ctlsrv.h"
#include "husk-log.h"

void husk_ctl_conn_ref(struct husk_ctl_conn *c)
{
	c->refs++;
}

void husk_ctl_conn_unref(struct husk_ctl_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void poll_closed(uv_handle_t *h)
{
	husk_ctl_conn_unref(h->data);
}

void husk_ctl_conn_close(struct husk_ctl_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	uv_close((uv_handle_t *)&c->poll, poll_closed);
	close(c->fd);
}

void husk_ctl_reply(struct husk_ctl_conn *c, struct json_object *o)
{
	struct husk_err err;
	if (c && !c->closed && husk_ctl_send(c->fd, o, NULL, 0, &err) < 0)
		log_debug("%s", err.msg);
	json_object_put(o);
}

struct json_object *husk_ctl_error(const char *msg, int status)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (status)
		json_object_object_add(o, "status", json_object_new_int(status));
	return o;
}

struct json_object *husk_ctl_ok(void)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

static void readable(uv_poll_t *h, int status, int events)
{
	struct husk_ctl_conn *c = h->data;
	struct husk_ctl_server *srv = c->srv;
	struct json_object *req;
	struct husk_err err;
	int fds[CTL_MAX_FDS], nfds = 0;
	if (status < 0 || husk_ctl_recv(c->fd, &req, fds, &nfds, &err) < 0) {
		if (status >= 0 && err.code == EAGAIN)
			return;
		req = NULL;
	}
	if (!req) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		srv->ops->gone(c, srv->data);
		husk_ctl_conn_close(c);
		return;
	}
	srv->ops->request(c, req, fds, nfds, srv->data);
	json_object_put(req);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct husk_ctl_server *srv = h->data;
	if (status < 0)
		return;
	int fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct husk_ctl_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->refs = 1;
	uv_poll_init(srv->loop, &c->poll, fd);
	c->poll.data = c;
	uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, readable);
}

int husk_ctl_serve(struct husk_ctl_server *srv, uv_loop_t *loop, const char *state_dir,
		   const struct husk_ctl_server_ops *ops, void *data, struct husk_err *err)
{
	*srv = (struct husk_ctl_server){.loop = loop, .ops = ops, .data = data};
	srv->fd = husk_ctl_listen(state_dir, err);
	if (srv->fd < 0)
		return -1;
	uv_poll_init(loop, &srv->poll, srv->fd);
	srv->poll.data = srv;
	return uv_poll_start(&srv->poll, UV_READABLE, on_accept) < 0
		   ? husk_err_set(err, EIO, "cannot watch the control socket")
		   : 0;
}
