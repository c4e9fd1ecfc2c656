/* The QMP client of qmp.h: line splitting, the greeting and capabilities
 * negotiation, the queue of commands and their replies in order. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-fdpass.h"
#include "husk-json.h"
#include "husk-log.h"
#include "qmp.h"

#define RBUF_CAP (HUSK_QMP_LINE_MAX + 1) /* the longest line and its newline */

struct husk_qmp_cmd {
	struct husk_qmp_cmd *next;
	long long id;
	bool sent;
	bool internal; /* our qmp_capabilities */
	husk_qmp_cb cb;
	void *data;
	char name[64];		 /* for messages */
	struct json_object *msg; /* what to send, until it is sent; its id comes then */
	int fd;			 /* passed with it (getfd), or -1 */
};

struct wreq {
	uv_write_t req;
	char *buf;
};

static bool alive(const struct husk_qmp *q)
{
	return q->state < HUSK_QMP_DEAD;
}

static void free_cmd(struct husk_qmp_cmd *c)
{
	json_object_put(c->msg);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* Fail every queued command with q->dead; they are unlinked first, so a
 * callback that queues or closes finds an empty queue. */
static void fail_pending(struct husk_qmp *q)
{
	struct husk_qmp_cmd *c = q->head;
	struct husk_err e = q->dead;
	q->head = q->tail = NULL;
	while (c) {
		struct husk_qmp_cmd *next = c->next;
		if (c->cb)
			c->cb(q, &e, NULL, c->data);
		free_cmd(c);
		c = next;
	}
}

/* The connection is over: stop reading and fail what is pending. The
 * handle stays open until husk_qmp_close. */
__attribute__((format(printf, 3, 4))) static void fail(struct husk_qmp *q, int code,
						       const char *fmt, ...)
{
	if (!alive(q))
		return;
	va_list ap;
	q->dead.code = code;
	va_start(ap, fmt);
	vsnprintf(q->dead.msg, sizeof q->dead.msg, fmt, ap);
	va_end(ap);
	q->state = HUSK_QMP_DEAD;
	log_debug("qmp: %s", q->dead.msg);
	if (q->pipe_open)
		uv_read_stop((uv_stream_t *)&q->pipe);
	fail_pending(q);
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct husk_qmp *q = req->handle->data;
	free(w->buf);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		fail(q, ECONNRESET, "QEMU's monitor closed: cannot write to it: %s",
		     uv_strerror(status));
}

/* Number c (ids go up in the order commands are sent) and hand its line
 * to a write; 0 or a libuv error. */
static int send_cmd(struct husk_qmp *q, struct husk_qmp_cmd *c)
{
	size_t n;
	c->id = ++q->next_id;
	if (json_object_object_add(c->msg, "id", json_object_new_int64(c->id)) < 0)
		return UV_ENOMEM;
	const char *s = json_object_to_json_string_length(c->msg, JSON_C_TO_STRING_PLAIN, &n);
	struct wreq *w = malloc(sizeof *w);
	char *line = s ? malloc(n + 1) : NULL;
	if (!w || !line) {
		free(w);
		free(line);
		return UV_ENOMEM;
	}
	memcpy(line, s, n);
	line[n] = '\n'; /* JSON text escapes every newline inside its strings */
	w->buf = line;
	size_t off = 0;
	if (c->fd >= 0) {
		/* a descriptor goes with the line's first bytes (SCM_RIGHTS),
		 * sent here: libuv passes only its own handles. Nothing else
		 * may be on its way then, or the order would change. */
		uv_os_fd_t sock;
		ssize_t k = -1;
		if (uv_stream_get_write_queue_size((uv_stream_t *)&q->pipe) == 0 &&
		    uv_fileno((uv_handle_t *)&q->pipe, &sock) == 0)
			k = husk_send_fds(sock, line, n + 1, &c->fd, 1);
		if (k <= 0) {
			free(w);
			free(line);
			return UV_EBUSY;
		}
		off = (size_t)k;
		close(c->fd);
		c->fd = -1;
	}
	uv_buf_t b = uv_buf_init(line + off, n + 1 - off);
	int r = off == n + 1 ? 0 : uv_write(&w->req, (uv_stream_t *)&q->pipe, &b, 1, write_done);
	if (off == n + 1) {
		free(w);
		free(line);
	}
	if (r < 0) {
		free(w);
		free(line);
		return r;
	}
	json_object_put(husk_steal(c->msg));
	c->sent = true;
	log_debug("qmp: -> %s (id %lld)", c->name, c->id);
	return 0;
}

/* Send every command queued while QEMU had not yet been negotiated with. */
static void flush(struct husk_qmp *q)
{
	for (struct husk_qmp_cmd *c = q->head; c && alive(q); c = c->next) {
		if (c->sent)
			continue;
		int r = send_cmd(q, c);
		if (r < 0) {
			fail(q, ECONNRESET, "QEMU's monitor closed: cannot write to it: %s",
			     uv_strerror(r));
			return;
		}
	}
}

/* A command, not yet queued; args are copied. */
static struct husk_qmp_cmd *new_cmd(const char *cmd, struct json_object *args, husk_qmp_cb cb,
				    void *data, struct husk_err *err)
{
	struct husk_qmp_cmd *c = calloc(1, sizeof *c);
	struct json_object *copy = NULL;
	if (!c || !(c->msg = json_object_new_object()) ||
	    json_object_object_add(c->msg, "execute", json_object_new_string(cmd)) < 0 ||
	    (args && (json_object_deep_copy(args, &copy, NULL) < 0 ||
		      json_object_object_add(c->msg, "arguments", copy) < 0))) {
		json_object_put(copy);
		if (c)
			free_cmd(c);
		husk_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	c->cb = cb;
	c->data = data;
	c->fd = -1;
	snprintf(c->name, sizeof c->name, "%s", cmd);
	return c;
}

int husk_qmp_command(struct husk_qmp *q, const char *cmd, struct json_object *args, husk_qmp_cb cb,
		     void *data, struct husk_err *err)
{
	return husk_qmp_command_fd(q, cmd, args, -1, cb, data, err);
}

int husk_qmp_command_fd(struct husk_qmp *q, const char *cmd, struct json_object *args, int fd,
			husk_qmp_cb cb, void *data, struct husk_err *err)
{
	if (!alive(q))
		return husk_err_set(err, q->dead.code ? q->dead.code : ECONNRESET, "%s",
				    q->dead.msg[0] ? q->dead.msg : "QEMU's monitor closed");
	if (!cmd || !*cmd)
		return husk_err_set(err, EINVAL, "internal error: an empty QMP command");
	if (args && !json_object_is_type(args, json_type_object))
		return husk_err_set(err, EINVAL,
				    "internal error: QMP arguments of %s must be an object", cmd);
	struct husk_qmp_cmd *c = new_cmd(cmd, args, cb, data, err);
	if (!c)
		return -1;
	if (fd >= 0 && (c->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		free_cmd(c);
		return husk_err_sys(err, errno, "dup");
	}
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	if (q->state != HUSK_QMP_READY)
		return 0; /* flush sends it once QEMU is negotiated with */
	int r = send_cmd(q, c);
	if (r == 0)
		return 0;
	/* c is the tail: take it back, its callback must not run */
	struct husk_qmp_cmd **pp = &q->head;
	while (*pp != c)
		pp = &(*pp)->next;
	*pp = NULL;
	q->tail = NULL;
	for (struct husk_qmp_cmd *p = q->head; p; p = p->next)
		q->tail = p;
	free_cmd(c);
	husk_err_set(err, ECONNRESET, "QEMU's monitor closed: cannot write to it: %s",
		     uv_strerror(r));
	fail(q, ECONNRESET, "QEMU's monitor closed: cannot write to it: %s", uv_strerror(r));
	return -1;
}

static void on_greeting(struct husk_qmp *q, struct json_object *o)
{
	struct json_object *v;
	if (q->state != HUSK_QMP_GREETING) {
		fail(q, EPROTO, "QEMU's monitor greeted twice");
		return;
	}
	if (json_object_object_get_ex(o, "QMP", &v) && json_object_object_get_ex(v, "version", &v))
		log_debug("qmp: QEMU %s",
			  json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	struct husk_err err;
	struct husk_qmp_cmd *c = new_cmd("qmp_capabilities", NULL, NULL, NULL, &err);
	if (!c) {
		fail(q, err.code, "QMP: %s", err.msg);
		return;
	}
	c->internal = true;
	/* first in line: whatever is queued waits for it */
	c->next = q->head;
	q->head = c;
	if (!q->tail)
		q->tail = c;
	q->state = HUSK_QMP_NEGOTIATING;
	int r = send_cmd(q, c);
	if (r < 0)
		fail(q, ECONNRESET, "QEMU's monitor closed: cannot write to it: %s",
		     uv_strerror(r));
}

/* QEMU's error object as a husk_err: its desc, EIO (ENOSYS for a command
 * it does not know). */
static void qemu_error(struct json_object *error, const char *cmd, struct husk_err *e)
{
	struct json_object *desc = NULL, *cls = NULL;
	json_object_object_get_ex(error, "desc", &desc);
	json_object_object_get_ex(error, "class", &cls);
	const char *c =
	    json_object_is_type(cls, json_type_string) ? json_object_get_string(cls) : "";
	e->code = !strcmp(c, "CommandNotFound") ? ENOSYS : EIO;
	if (json_object_is_type(desc, json_type_string))
		snprintf(e->msg, sizeof e->msg, "%s", json_object_get_string(desc));
	else
		snprintf(e->msg, sizeof e->msg, "QEMU refused %s%s%s", cmd, *c ? ": " : "", c);
	for (char *p = e->msg; *p; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
}

static void on_reply(struct husk_qmp *q, struct json_object *o, struct json_object *ret,
		     struct json_object *error)
{
	struct husk_qmp_cmd *c = q->head;
	struct json_object *id;
	if (!c || !c->sent) {
		fail(q, EPROTO, "QEMU's monitor answered a command husk did not send");
		return;
	}
	if (json_object_object_get_ex(o, "id", &id) &&
	    (!json_object_is_type(id, json_type_int) || json_object_get_int64(id) != c->id)) {
		fail(q, EPROTO, "QEMU's monitor answered %s (id %lld) with id %.32s", c->name,
		     c->id, json_object_to_json_string_ext(id, JSON_C_TO_STRING_PLAIN));
		return;
	}
	q->head = c->next;
	if (!q->head)
		q->tail = NULL;
	struct husk_err e;
	if (error)
		qemu_error(error, c->name, &e);
	log_debug("qmp: <- %s (id %lld): %s", c->name, c->id, error ? e.msg : "ok");
	if (c->internal) {
		if (error)
			fail(q, EPROTO, "QEMU refused qmp_capabilities: %s", e.msg);
		else {
			q->state = HUSK_QMP_READY;
			flush(q);
		}
	} else if (c->cb) {
		c->cb(q, error ? &e : NULL, error ? NULL : ret, c->data);
	}
	free_cmd(c);
}

static void on_line(struct husk_qmp *q, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (!len)
		return;
	struct husk_err err;
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(line, len, "a message from QEMU's monitor", EPROTO, &err);
	struct json_object *v, *ret = NULL, *error = NULL;
	if (!o) {
		fail(q, EPROTO, "%s", err.msg);
		return;
	}
	if (json_object_object_get_ex(o, "QMP", NULL)) {
		on_greeting(q, o);
	} else if (json_object_object_get_ex(o, "event", &v)) {
		const char *name =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "?";
		log_debug("qmp: event %s", name);
		if (q->on_event)
			q->on_event(q, name, o, q->data);
	} else if (json_object_object_get_ex(o, "return", &ret) ||
		   json_object_object_get_ex(o, "error", &error)) {
		on_reply(q, o, ret, error);
	} else {
		log_debug("qmp: skipping a message that is no reply nor event");
	}
}

/* Act on every whole line in rbuf; keep the rest. */
static void process(struct husk_qmp *q)
{
	size_t off = 0;
	while (alive(q)) {
		char *nl = memchr(q->rbuf + off, '\n', q->rlen - off);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (q->rbuf + off));
		on_line(q, q->rbuf + off, len);
		off += len + 1;
	}
	if (!alive(q))
		return; /* rbuf stays allocated until the handle is closed */
	memmove(q->rbuf, q->rbuf + off, q->rlen - off);
	q->rlen -= off;
	if (q->rlen == RBUF_CAP)
		fail(q, EMSGSIZE, "QEMU's monitor sent a line over %d KiB; closing it",
		     HUSK_QMP_LINE_MAX / 1024);
}

int husk_qmp_feed(struct husk_qmp *q, const char *bytes, size_t n)
{
	while (n && alive(q)) {
		size_t k = RBUF_CAP - q->rlen < n ? RBUF_CAP - q->rlen : n;
		memcpy(q->rbuf + q->rlen, bytes, k);
		q->rlen += k;
		bytes += k;
		n -= k;
		process(q);
	}
	return alive(q) ? 0 : -1;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct husk_qmp *q = h->data;
	(void)suggested;
	*buf = uv_buf_init(q->rbuf + q->rlen, RBUF_CAP - q->rlen);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct husk_qmp *q = st->data;
	(void)buf;
	if (n == UV_EOF)
		fail(q, ECONNRESET, "QEMU's monitor closed");
	else if (n < 0)
		fail(q, ECONNRESET, "QEMU's monitor closed: %s", uv_strerror((int)n));
	else if (n > 0 && alive(q)) {
		q->rlen += (size_t)n;
		process(q);
	}
}

static void on_closed(uv_handle_t *h)
{
	struct husk_qmp *q = h->data;
	free(q->rbuf);
	q->rbuf = NULL;
}

void husk_qmp_close(struct husk_qmp *q)
{
	if (q->state == HUSK_QMP_CLOSED)
		return;
	if (q->state != HUSK_QMP_DEAD)
		q->dead = (struct husk_err){.code = ECONNRESET, .msg = "QEMU's monitor closed"};
	q->state = HUSK_QMP_CLOSED;
	if (q->pipe_open) {
		q->pipe_open = false;
		uv_read_stop((uv_stream_t *)&q->pipe);
		uv_close((uv_handle_t *)&q->pipe, on_closed);
	} else {
		free(q->rbuf);
		q->rbuf = NULL;
	}
	fail_pending(q);
}

int husk_qmp_init(struct husk_qmp *q, uv_loop_t *loop, int fd, struct husk_err *err)
{
	memset(q, 0, sizeof *q);
	q->state = HUSK_QMP_CLOSED;
	q->dead = (struct husk_err){.code = ECONNRESET, .msg = "QEMU's monitor closed"};
	if (fd < 0)
		return husk_err_set(err, EBADF, "QEMU has no monitor connection");
	q->rbuf = malloc(RBUF_CAP);
	if (!q->rbuf) {
		close(fd);
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	int r = uv_pipe_init(loop, &q->pipe, 0);
	if (r < 0) {
		close(fd);
		free(husk_steal(q->rbuf));
		return husk_err_set(err, EIO, "cannot watch QEMU's monitor: %s", uv_strerror(r));
	}
	q->pipe.data = q;
	q->pipe_open = true;
	q->state = HUSK_QMP_GREETING;
	q->dead = (struct husk_err){0};
	if ((r = uv_pipe_open(&q->pipe, fd)) < 0)
		close(fd);
	else
		r = uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read);
	if (r < 0) {
		husk_qmp_close(q);
		return husk_err_set(err, EIO, "cannot watch QEMU's monitor: %s", uv_strerror(r));
	}
	return 0;
}
