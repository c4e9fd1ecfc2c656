#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "hooks.h"
#include "husk-log.h"
#include "husk.h"
#include "proxy.h"
#include "session.h"
#include "state.h"

#define INIT_BASE 1u /* stream ids of the container's first process: 1, 2, 3 */

struct conn;

struct slot {
	struct husk_relay relay;
	uint32_t base;
	bool is_init, started, exited, done;
	int status;
	int64_t runtime_ns;
	struct conn *conn; /* exec: the client waiting for the exit */
	int fds[3];
	bool own_fds;
	int tty_fd; /* where the window size is read, or -1 */
	char *arg0;
	struct slot *next;
};

struct conn {
	int fd;
	uv_poll_t poll;
	struct slot *slot;
	int refs;
	bool closed;
	uint64_t ping_start;
};

static struct {
	struct proxy_opts *o;
	uv_loop_t *loop;
	struct husk_session s;
	struct slot init;
	struct slot *execs;
	uint32_t next_base;
	int listen_fd;
	uv_poll_t listen_poll;
	struct husk_state st;
	uv_signal_t sigs[40];
	int nsigs;
	uv_timer_t stop_timer;
	uv_timer_t create_timer;
	bool created, stopping, tty_raw, notify_on_start;
	struct conn *start_conn;
} P;

/* ---- lifecycle ---- */

static void notify(const char *msg)
{
	if (P.o->notify_fd < 0)
		return;
	ssize_t n = write(P.o->notify_fd, msg, strlen(msg));
	(void)n;
	close(P.o->notify_fd);
	P.o->notify_fd = -1;
}

static void set_status(const char *status)
{
	struct husk_err err;
	free(P.st.status);
	P.st.status = strdup(status);
	if (husk_state_write(P.o->state_dir, &P.st, &err) < 0)
		log_error("%s", err.msg);
}

static void unmount_binds(void)
{
	char path[PATH_MAX + 32];
	for (int i = 0; P.o->vo.binds_path; i++) {
		snprintf(path, sizeof path, "%s/%d", P.o->vo.binds_path, i);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
			break;
	}
}

static __attribute__((noreturn)) void finish(int code)
{
	husk_session_kill_vm(&P.s);
	unmount_binds();
	if (P.tty_raw)
		husk_tty_restore();
	if (P.o->foreground) {
		/* run without -d deletes the container when it is done */
		struct husk_err herr;
		free(P.st.status);
		P.st.status = strdup("stopped");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&P.st);
		if (P.created && husk_hooks_run(P.o->cfg.hooks, "poststop", state, &herr) < 0)
			log_warn("%s", herr.msg);
		husk_state_remove(P.o->state_dir);
	} else {
		P.st.exit_status = code;
		set_status("stopped");
		/* the control socket goes with the proxy */
		char *sock;
		if (asprintf(&sock, "%s/ctl.sock", P.o->state_dir) >= 0) {
			unlink(sock);
			free(sock);
		}
	}
	exit(code);
}

/* An error before the container process ran: tell whoever waits, exit 125. */
static __attribute__((noreturn)) void fail(const struct husk_err *err, bool tail)
{
	char t[4096] = "", msg[sizeof err->msg + 8];
	if (tail)
		husk_session_console_tail(&P.s, t, sizeof t);
	if (P.o->notify_fd >= 0) {
		snprintf(msg, sizeof msg, "%s", err->msg);
		notify(msg);
	} else if (P.o->foreground) {
		fprintf(stderr, "husk: %s\n", err->msg);
	}
	log_error("%s", err->msg);
	if (t[0] && (P.o->foreground || husk_global.debug))
		fprintf(stderr, "husk: last console output:\n%s%s", t,
			t[strlen(t) - 1] == '\n' ? "" : "\n");
	finish(P.init.started ? HUSK_EXIT_LOST : HUSK_EXIT_RUNTIME);
}

static bool all_done(void)
{
	if (!P.init.exited || !husk_relay_idle(&P.init.relay))
		return false;
	for (struct slot *x = P.execs; x; x = x->next)
		if (!x->done)
			return false;
	return true;
}

static void stopped_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
	(void)s, (void)r, (void)data;
	finish(P.init.status);
}

static void stop_timeout(uv_timer_t *t)
{
	(void)t;
	finish(P.init.status);
}

/* Everything has exited and all output is written: flush the guest, stop. */
static void maybe_stop(void)
{
	struct husk_request req = {.op = HUSK_OP_SHUTDOWN};
	struct husk_err err;
	if (P.stopping || !all_done())
		return;
	P.stopping = true;
	if (husk_session_request(&P.s, &req, stopped_reply, NULL, &err) < 0)
		finish(P.init.status);
	uv_timer_start(&P.stop_timer, stop_timeout, 10000, 0);
}

/* ---- control connections ---- */

static void conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void conn_poll_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->slot && c->slot->conn == c)
		c->slot->conn = NULL;
	uv_close((uv_handle_t *)&c->poll, conn_poll_closed);
	close(c->fd);
}

static void conn_reply(struct conn *c, struct json_object *o)
{
	struct husk_err err;
	if (c && !c->closed && husk_ctl_send(c->fd, o, NULL, 0, &err) < 0)
		log_debug("%s", err.msg);
	json_object_put(o);
}

static struct json_object *jerror(const char *msg, int status)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (status)
		json_object_object_add(o, "status", json_object_new_int(status));
	return o;
}

static struct json_object *jok(void)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

/* ---- processes ---- */

static void slot_closed(struct husk_relay *r)
{
	struct slot *x = r->data;
	for (struct slot **pp = &P.execs; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	free(x->arg0);
	free(x);
}

static void close_slot_fds(struct slot *x)
{
	for (int i = 0; i < 3; i++) {
		bool dup_of_earlier = false;
		for (int k = 0; k < i; k++)
			dup_of_earlier |= x->fds[k] == x->fds[i];
		if (x->own_fds && x->fds[i] >= 0 && !dup_of_earlier)
			close(x->fds[i]);
	}
	x->own_fds = false;
}

static void slot_drained(struct husk_relay *r)
{
	struct slot *x = r->data;
	if (!x->exited)
		return;
	if (x->is_init) {
		maybe_stop();
		return;
	}
	if (x->done)
		return;
	x->done = true;
	if (x->conn) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "exit", json_object_new_int(x->status));
		json_object_object_add(o, "runtime_ns", json_object_new_int64(x->runtime_ns));
		conn_reply(x->conn, o);
		conn_close(x->conn);
	}
	close_slot_fds(x);
	husk_relay_unlink(&x->relay, slot_closed);
	maybe_stop();
}

static struct slot *slot_by_base(uint32_t base)
{
	if (base == INIT_BASE)
		return &P.init;
	for (struct slot *x = P.execs; x; x = x->next)
		if (x->base == base)
			return x;
	return NULL;
}

static void on_exit_event(struct husk_session *s, const struct husk_exit_event *e)
{
	(void)s;
	struct slot *x = slot_by_base(e->process);
	if (!x || x->exited)
		return;
	x->exited = true;
	x->status = e->status;
	x->runtime_ns = e->runtime_ns;
	log_debug("process %u exited with status %d after %lld us in the guest", e->process,
		  e->status, (long long)(e->runtime_ns / 1000));
	if (x->is_init) {
		P.st.exit_status = e->status;
		if (!P.o->foreground)
			set_status("stopped");
	}
	if (husk_relay_idle(&x->relay))
		slot_drained(&x->relay);
}

static void send_signal(struct slot *x, int sig, bool all)
{
	struct husk_request r = {.op = HUSK_OP_PROCESS_SIGNAL,
				 .u.signal = {.process = x->base, .signal = sig, .all = all}};
	struct husk_err err;
	if (husk_session_request(&P.s, &r, NULL, NULL, &err) < 0)
		log_warn("cannot forward signal %d: %s", sig, err.msg);
}

static void send_resize(struct slot *x, unsigned short rows, unsigned short cols)
{
	struct husk_request r = {.op = HUSK_OP_PROCESS_RESIZE,
				 .u.resize = {.process = x->base, .rows = rows, .cols = cols}};
	struct husk_err err;
	if (x->started && !x->exited && husk_session_request(&P.s, &r, NULL, NULL, &err) < 0)
		log_warn("cannot resize: %s", err.msg);
}

struct start_ctx {
	struct slot *slot;
	struct conn *conn;
};

static void started(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct start_ctx *ctx = data;
	struct slot *x = ctx->slot;
	struct conn *c = ctx->conn;
	(void)s;
	free(ctx);
	if (r->err_code) {
		char msg[700];
		snprintf(msg, sizeof msg, "exec \"%s\": %s", x->arg0, r->message);
		if (x->is_init) {
			if (c) {
				conn_reply(c, jerror(msg, r->status));
				conn_unref(c);
			}
			struct husk_err err;
			husk_err_set(&err, r->err_code, "%s", msg);
			if (P.o->notify_fd >= 0 || c)
				notify(msg);
			if (P.o->foreground)
				fprintf(stderr, "husk: %s\n", msg);
			log_error("%s", msg);
			finish(r->status ? r->status : HUSK_EXIT_RUNTIME);
		}
		if (c) {
			conn_reply(c, jerror(msg, r->status));
			conn_close(c);
			conn_unref(c);
		}
		x->exited = x->done = true;
		close_slot_fds(x); /* the caller waits for EOF on them */
		husk_relay_unlink(&x->relay, slot_closed);
		return;
	}
	x->started = true;
	log_debug("process %u started as guest pid %lld", x->base, (long long)r->pid);
	husk_relay_start_stdin(&x->relay);
	if (x->is_init) {
		set_status("running");
		struct husk_err herr;
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&P.st);
		if (husk_hooks_run(P.o->cfg.hooks, "poststart", state, &herr) < 0)
			log_warn("%s", herr.msg); /* the spec: log, carry on */
		if (P.notify_on_start)
			notify("ok");
	}
	if (x->tty_fd >= 0) {
		unsigned short rows, cols;
		if (husk_tty_size(x->tty_fd, &rows, &cols) == 0 && (rows || cols))
			send_resize(x, rows, cols);
	}
	if (c) {
		struct json_object *o = jok();
		json_object_object_add(o, "pid", json_object_new_int64(r->pid));
		conn_reply(c, o);
		conn_unref(c);
	}
}

static int start_process(struct slot *x, const struct husk_process *spec, struct conn *c,
			 struct husk_err *err)
{
	struct husk_request req = {.op = HUSK_OP_PROCESS_START};
	husk_relay_init(&x->relay, &P.s, x->base, x->fds[0], x->fds[1], x->fds[2]);
	x->relay.data = x;
	x->relay.drained = slot_drained;
	struct start_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx)
		return husk_err_set(err, ENOMEM, "out of memory");
	x->arg0 = strdup(spec->args[0]);
	req.u.start.container = (char *)P.o->id;
	req.u.start.process = *spec;
	req.u.start.streams = (struct husk_streams){x->base, x->base + 1, x->base + 2};
	ctx->slot = x;
	ctx->conn = c;
	if (c)
		c->refs++;
	if (husk_session_request(&P.s, &req, started, ctx, err) < 0) {
		if (c)
			conn_unref(c);
		free(ctx);
		return -1;
	}
	return 0;
}

static void start_init(struct conn *c)
{
	struct husk_err err;
	if (start_process(&P.init, &P.o->cfg.process, c, &err) < 0)
		fail(&err, false);
}

/* A signal for the container before its process runs ends it, as the
 * process would have died of it. */
static void kill_created(int sig)
{
	P.init.exited = true;
	P.init.status = 128 + sig;
	P.st.exit_status = P.init.status;
	finish(P.init.status);
}

/* ---- control requests ---- */

static void ctl_exec(struct conn *c, struct json_object *req, int *fds, int nfds)
{
	struct json_object *pj, *t;
	struct husk_process spec;
	struct husk_err err;
	bool tty = json_object_object_get_ex(req, "tty", &t) && json_object_get_boolean(t);
	if (!P.init.started || P.init.exited) {
		conn_reply(c, jerror("container is not running", 0));
		goto close_fds;
	}
	if (nfds != 3) {
		conn_reply(c, jerror("exec needs three stdio descriptors", 0));
		goto close_fds;
	}
	if (!json_object_object_get_ex(req, "process", &pj) ||
	    husk_process_from_json(pj, &spec, &err) < 0) {
		conn_reply(c, jerror(pj ? err.msg : "exec without a process", 0));
		goto close_fds;
	}
	spec.terminal = tty;
	struct slot *x = calloc(1, sizeof *x);
	x->base = P.next_base;
	P.next_base += 4;
	memcpy(x->fds, fds, sizeof x->fds);
	x->own_fds = true;
	x->tty_fd = -1;
	x->conn = c;
	c->slot = x;
	x->next = P.execs;
	P.execs = x;
	if (start_process(x, &spec, c, &err) < 0) {
		conn_reply(c, jerror(err.msg, 0));
		x->exited = x->done = true;
		close_slot_fds(x);
		c->slot = NULL;
		x->conn = NULL;
		husk_relay_unlink(&x->relay, slot_closed); /* frees x */
	}
	husk_process_free(&spec);
	return;
close_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

struct call_ctx {
	struct conn *conn;
};

static void forwarded_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct conn *c = data;
	(void)s;
	if (r->err_code) {
		/* a process that exited before its exit event reached us */
		conn_reply(c,
			   jerror(r->err_code == ESRCH ? "container not running" : r->message, 0));
	} else if (c->ping_start) {
		struct json_object *o = jok();
		json_object_object_add(
		    o, "rtt_ns", json_object_new_int64((int64_t)(uv_hrtime() - c->ping_start)));
		c->ping_start = 0;
		conn_reply(c, o);
	} else if (r->has_pids) {
		struct json_object *o = jok(), *a = json_object_new_array();
		for (size_t i = 0; i < r->npids; i++)
			json_object_array_add(a, json_object_new_int(r->pids[i]));
		json_object_object_add(o, "pids", a);
		conn_reply(c, o);
	} else {
		conn_reply(c, jok());
	}
	conn_unref(c);
}

static void forward(struct conn *c, struct husk_request *req)
{
	struct husk_err err;
	c->refs++;
	if (husk_session_request(&P.s, req, forwarded_reply, c, &err) < 0) {
		conn_reply(c, jerror(err.msg, 0));
		conn_unref(c);
	}
}

static void hook_done(struct husk_session *s, const struct husk_err *err, void *data)
{
	struct conn *c = data;
	(void)s;
	conn_reply(c, err ? jerror(err->msg, 0) : jok());
	conn_unref(c);
}

/* inject, reconnect: test hooks (testhooks.c), refused unless enabled */
static void ctl_test_hook(struct conn *c, const char *op, struct json_object *req)
{
	struct husk_err err;
	c->refs++;
	if (husk_test_hook(&P.s, op, req, hook_done, c, &err) < 0) {
		conn_reply(c, jerror(err.msg, 0));
		conn_unref(c);
	}
}

static void ctl_message(struct conn *c, struct json_object *req, int *fds, int nfds)
{
	struct json_object *v;
	const char *op = json_object_object_get_ex(req, "op", &v) ? json_object_get_string(v) : "";
	int sig = json_object_object_get_ex(req, "signal", &v) ? json_object_get_int(v) : 0;
	bool all = json_object_object_get_ex(req, "all", &v) && json_object_get_boolean(v);

	if (!strcmp(op, "exec")) {
		ctl_exec(c, req, fds, nfds);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (!strcmp(op, "start")) {
		if (P.init.started || P.start_conn)
			conn_reply(c, jerror("container is not in the created state", 0));
		else {
			c->refs++;
			P.start_conn = c;
			start_init(c);
		}
	} else if (!strcmp(op, "kill")) {
		struct slot *x = c->slot ? c->slot : &P.init;
		if (sig < 1 || sig > 64)
			conn_reply(c, jerror("invalid signal", 0));
		else if (x == &P.init && !P.init.started) {
			conn_reply(c, jok());
			kill_created(sig);
		} else if (x->exited)
			conn_reply(c, jerror("container not running", 0));
		else {
			struct husk_request r = {
			    .op = HUSK_OP_PROCESS_SIGNAL,
			    .u.signal = {.process = x->base, .signal = sig, .all = all}};
			forward(c, &r);
		}
	} else if (!strcmp(op, "resize") && c->slot) {
		int rows = json_object_object_get_ex(req, "rows", &v) ? json_object_get_int(v) : 0;
		int cols = json_object_object_get_ex(req, "cols", &v) ? json_object_get_int(v) : 0;
		send_resize(c->slot, (unsigned short)rows, (unsigned short)cols);
	} else if (!strcmp(op, "ping")) {
		/* one request/reply round trip on the channel, timed here */
		struct husk_request r = {.op = HUSK_OP_PING};
		c->ping_start = uv_hrtime();
		forward(c, &r);
	} else if (!strcmp(op, "ps")) {
		struct husk_request r = {.op = HUSK_OP_CONTAINER_PS};
		r.u.ps.container = (char *)P.o->id;
		forward(c, &r);
	} else if (!strcmp(op, "inject") || !strcmp(op, "reconnect")) {
		ctl_test_hook(c, op, req);
	} else {
		conn_reply(c, jerror("unknown control request", 0));
	}
}

static void conn_readable(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;
	struct json_object *req;
	struct husk_err err;
	int fds[CTL_MAX_FDS], nfds = 0;
	(void)events;
	if (status < 0 || husk_ctl_recv(c->fd, &req, fds, &nfds, &err) < 0) {
		if (status >= 0 && err.code == EAGAIN)
			return;
		req = NULL;
	}
	if (!req) {
		/* The client went away: an exec client that dies takes its
		 * process with it, as a killed foreground process would. */
		if (c->slot && c->slot->started && !c->slot->exited)
			send_signal(c->slot, SIGKILL, false);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		conn_close(c);
		return;
	}
	ctl_message(c, req, fds, nfds);
	json_object_put(req);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	(void)h, (void)events;
	if (status < 0)
		return;
	int fd = accept4(P.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->refs = 1;
	uv_poll_init(P.loop, &c->poll, fd);
	c->poll.data = c;
	uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, conn_readable);
}

/* ---- the session ---- */

static void created(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct husk_err err;
	(void)s, (void)data;
	if (r->err_code) {
		husk_err_set(&err, r->err_code, "cannot create the container in the VM: %s",
			     r->message);
		fail(&err, false);
	}
	P.created = true;
	uv_timer_stop(&P.create_timer);
	if (!P.o->foreground) {
		P.listen_fd = husk_ctl_listen(P.o->state_dir, &err);
		if (P.listen_fd < 0)
			fail(&err, false);
		uv_poll_init(P.loop, &P.listen_poll, P.listen_fd);
		uv_poll_start(&P.listen_poll, UV_READABLE, on_accept);
	}
	set_status("created");
	/* prestart (deprecated) and createRuntime run once the container
	 * exists and before its process starts */
	_cleanup_json_ struct json_object *state = husk_state_to_oci(&P.st);
	if (husk_hooks_run(P.o->cfg.hooks, "prestart", state, &err) < 0 ||
	    husk_hooks_run(P.o->cfg.hooks, "createRuntime", state, &err) < 0)
		fail(&err, false);
	if (P.o->autostart)
		start_init(NULL);
	else
		notify("ok");
}

/* ---- bind mounts of host paths ----
 * Only what config.json names is shared into the VM: each bind source is
 * bind-mounted at <state>/binds/<n> in a mount namespace private to the
 * proxy (and QEMU, its child), and that directory is one more 9p share. The
 * mounts vanish with the namespace when the proxy and QEMU are gone, on
 * every path, SIGKILL included. */
static bool has_option(struct json_object *m, const char *a, const char *b)
{
	struct json_object *opts;
	if (!json_object_object_get_ex(m, "options", &opts) ||
	    !json_object_is_type(opts, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(opts); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
		if (o && (!strcmp(o, a) || (b && !strcmp(o, b))))
			return true;
	}
	return false;
}

static bool is_bind(struct json_object *m)
{
	struct json_object *t;
	if (json_object_object_get_ex(m, "type", &t) && json_object_is_type(t, json_type_string) &&
	    !strcmp(json_object_get_string(t), "bind"))
		return true;
	return has_option(m, "bind", "rbind");
}

static bool is_rbind(struct json_object *m)
{
	return has_option(m, "rbind", NULL);
}

static struct json_object *spec_mounts; /* config's mounts, bind sources rewritten */

static int prepare_binds(struct proxy_opts *o, struct husk_err *err)
{
	struct json_object *mounts = o->cfg.mounts;
	size_t n = mounts ? json_object_array_length(mounts) : 0, nbinds = 0;
	if (!mounts)
		return 0;
	if (json_object_deep_copy(mounts, &spec_mounts, NULL) != 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/binds", o->state_dir) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(spec_mounts, i), *src;
		if (!json_object_is_type(m, json_type_object) || !is_bind(m))
			continue;
		if (!json_object_object_get_ex(m, "source", &src) ||
		    !json_object_is_type(src, json_type_string))
			return husk_err_set(
			    err, EINVAL,
			    "config.json: mounts[%zu] is a bind mount without a source", i);
		char host[PATH_MAX], stage[PATH_MAX + 32], guest[300];
		const char *s0 = json_object_get_string(src);
		if (s0[0] == '/')
			snprintf(host, sizeof host, "%s", s0);
		else
			snprintf(host, sizeof host, "%s/%s", o->bundle, s0);
		struct stat st;
		if (stat(host, &st) < 0)
			return husk_err_sys(err, errno, "config.json: mounts[%zu] source %s", i,
					    host);
		if (nbinds == 0) {
			if (unshare(CLONE_NEWNS) < 0 ||
			    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
				return husk_err_sys(err, errno,
						    "cannot make a private mount namespace");
			if (mkdir(dir, 0700) < 0)
				return husk_err_sys(err, errno, "mkdir %s", dir);
		}
		snprintf(stage, sizeof stage, "%s/%zu", dir, nbinds);
		int r = S_ISDIR(st.st_mode) ? mkdir(stage, 0755) : mknod(stage, S_IFREG | 0644, 0);
		/* submounts of the source come along only for rbind */
		if (r < 0 ||
		    mount(host, stage, NULL, MS_BIND | (is_rbind(m) ? MS_REC : 0), NULL) < 0)
			return husk_err_sys(err, errno, "cannot share bind mount source %s", host);
		snprintf(guest, sizeof guest, "/run/husk/%s/binds/%zu", o->id, nbinds);
		json_object_object_add(m, "source", json_object_new_string(guest));
		nbinds++;
	}
	if (nbinds) {
		o->vo.binds_path = strdup(dir);
		log_debug("%zu bind mount sources shared with the VM", nbinds);
	}
	return 0;
}

static void create_timeout(uv_timer_t *t)
{
	struct husk_err err;
	(void)t;
	husk_err_set(&err, ETIMEDOUT, "the agent did not create the container within %u s",
		     P.o->boot_timeout_s);
	fail(&err, true);
}

static void on_hello(struct husk_session *s)
{
	struct husk_err err;
	struct husk_request req = {.op = HUSK_OP_CONTAINER_CREATE};
	_cleanup_json_ struct json_object *spec = json_object_new_object();
	if (spec_mounts)
		json_object_object_add(spec, "mounts", json_object_get(spec_mounts));
	if (P.o->cfg.linux_)
		json_object_object_add(spec, "linux", json_object_get(P.o->cfg.linux_));
	if (P.o->vo.binds_path)
		json_object_object_add(spec, "binds", json_object_new_string(HUSK_BINDS_TAG));
	req.u.create.spec = spec;
	req.u.create.id = (char *)P.o->id;
	req.u.create.rootfs = (struct husk_rootfs){.tag = HUSK_SHARE_TAG,
						   .fstype = P.o->vo.virtiofs ? "virtiofs" : "9p",
						   .path = "",
						   .readonly = P.o->cfg.root_readonly};
	req.u.create.hostname = P.o->cfg.hostname;
	if (husk_session_request(s, &req, created, NULL, &err) < 0)
		fail(&err, false);
	/* a share that never answers must not hang the caller */
	uv_timer_start(&P.create_timer, create_timeout, P.o->boot_timeout_s * 1000, 0);
}

static void on_lost(struct husk_session *s, const struct husk_err *err)
{
	if (P.stopping || (P.init.exited && s->vm_exited))
		finish(P.init.status);
	fail(err, true);
}

static const struct husk_session_ops ops = {
    .hello = on_hello,
    .exit = on_exit_event,
    .lost = on_lost,
};

static void on_signal(uv_signal_t *h, int sig)
{
	(void)h;
	if (sig == SIGWINCH) {
		unsigned short rows, cols;
		if (P.init.tty_fd >= 0 && husk_tty_size(P.init.tty_fd, &rows, &cols) == 0)
			send_resize(&P.init, rows, cols);
		return;
	}
	if (P.init.exited)
		return;
	if (!P.init.started) {
		if (sig != SIGCONT && sig != SIGURG)
			kill_created(sig);
		return;
	}
	send_signal(&P.init, sig, false);
}

static void catch_signals(void)
{
	static const int skip[] = {SIGKILL, SIGSTOP, SIGCHLD, SIGPIPE, SIGSEGV, SIGBUS,	 SIGFPE,
				   SIGILL,  SIGTRAP, SIGSYS,  SIGABRT, SIGTTIN, SIGTTOU, SIGTSTP};
	for (int sig = 1; sig < 32 && P.nsigs < 40; sig++) {
		bool skipped = false;
		for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
			skipped |= skip[i] == sig;
		if (skipped)
			continue;
		uv_signal_init(P.loop, &P.sigs[P.nsigs]);
		uv_signal_start(&P.sigs[P.nsigs++], on_signal, sig);
	}
}

/* The container process's stdio: the caller's fds, or a terminal. */
static int init_stdio(struct husk_err *err)
{
	struct proxy_opts *o = P.o;
	P.init.is_init = true;
	P.init.base = INIT_BASE;
	P.init.tty_fd = -1;
	for (int i = 0; i < 3; i++)
		P.init.fds[i] = i;
	if (!o->cfg.process.terminal)
		return 0;
	if (o->console_socket) {
		int master, slave;
		if (husk_pty_open(&master, &slave, err) < 0)
			return -1;
		if (o->cfg.process.rows || o->cfg.process.cols) {
			struct winsize ws = {.ws_row = o->cfg.process.rows,
					     .ws_col = o->cfg.process.cols};
			ioctl(slave, TIOCSWINSZ, &ws);
		}
		int r = husk_console_send(o->console_socket, master, err);
		close(master);
		if (r < 0) {
			close(slave);
			return -1;
		}
		/* As the session leader with this as its terminal, the proxy
		 * hears SIGWINCH when the caller resizes the master. Its own
		 * stdio goes: callers wait for EOF on the pipe they gave it. */
		if (!o->foreground) {
			ioctl(slave, TIOCSCTTY, 0);
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);
			for (int i = 0; i < 3 && null >= 0; i++)
				dup2(null, i);
			if (null > 2)
				close(null);
		}
		P.init.fds[0] = P.init.fds[1] = P.init.fds[2] = slave;
		P.init.tty_fd = slave;
		return 0;
	}
	if (!o->foreground || !isatty(STDIN_FILENO))
		return husk_err_set(
		    err, EINVAL, "process.terminal needs --console-socket or a terminal on stdin");
	if (husk_tty_raw(STDIN_FILENO, err) < 0)
		return -1;
	P.tty_raw = true;
	P.init.fds[2] = STDOUT_FILENO;
	P.init.tty_fd = STDIN_FILENO;
	if (!o->cfg.process.rows && !o->cfg.process.cols)
		husk_tty_size(STDIN_FILENO, &o->cfg.process.rows, &o->cfg.process.cols);
	return 0;
}

static void nothing(uv_work_t *w)
{
	(void)w;
}

static void nothing_done(uv_work_t *w, int status)
{
	(void)w;
	(void)status;
}

/* libuv starts its whole thread pool at the first request: 64 threads, about
 * 20 ms. Start it now, while the guest boots, not when output first flows. */
static void warm_thread_pool(void)
{
	static uv_work_t w;
	uv_queue_work(P.loop, &w, nothing, nothing_done);
}

void husk_proxy_main(struct proxy_opts *o)
{
	struct husk_err err = {0};
	_cleanup_free_ char *console = NULL, *qlog = NULL;
	char now[64];

	P.o = o;
	P.listen_fd = -1;
	P.next_base = INIT_BASE + 4;
	P.notify_on_start = o->autostart && !o->foreground;
	signal(SIGPIPE, SIG_IGN);
	/* Host writes wait in the thread pool while a reader is slow: give
	 * every stream its own thread before the pool starts. */
	setenv("UV_THREADPOOL_SIZE", "64", 0);
	P.loop = uv_default_loop();
	husk_now_rfc3339(now, sizeof now);
	P.st = (struct husk_state){.id = (char *)o->id,
				   .bundle = o->bundle,
				   .rootfs = o->rootfs,
				   .status = strdup("creating"),
				   .created = now,
				   .pid = getpid(),
				   .start_time = husk_proc_start_time(getpid()),
				   .exit_status = -1};
	P.st.annotations = json_object_new_object();
	for (size_t i = 0; i < o->cfg.nannotations; i++)
		json_object_object_add(P.st.annotations, o->cfg.annotations[i].key,
				       json_object_new_string(o->cfg.annotations[i].value));
	set_status("creating");
	catch_signals();
	uv_timer_init(P.loop, &P.stop_timer);
	uv_timer_init(P.loop, &P.create_timer);
	if (init_stdio(&err) < 0)
		fail(&err, false);
	if (asprintf(&console, "%s/console.log", o->state_dir) < 0 ||
	    asprintf(&qlog, "%s/qemu.log", o->state_dir) < 0)
		fail(&(struct husk_err){ENOMEM, "out of memory"}, false);
	o->vo.qemu_log = qlog;
	o->vo.state_dir = o->state_dir;
	if (prepare_binds(o, &err) < 0)
		fail(&err, false);
	if (husk_session_start(&P.s, P.loop, &o->vo, console, o->boot_timeout_s * 1000, &ops,
			       &err) < 0)
		fail(&err, false);
	P.st.vm_pid = P.s.vm.pid;
	warm_thread_pool();
	P.st.vm_start_time = husk_proc_start_time(P.s.vm.pid);
	set_status("creating");
	uv_run(P.loop, UV_RUN_DEFAULT);
	fail(&(struct husk_err){EIO, "internal error: event loop ended"}, false);
}

/* Find the program in the rootfs as the guest will, so that a missing one
 * fails create (as runc's does, which callers map to 127) rather than start.
 * Symlinks resolve inside the rootfs (RESOLVE_IN_ROOT). */
static int rootfs_open(int root, const char *path, struct stat *st)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
	if (fd < 0)
		return -1;
	int r = fstat(fd, st);
	close(fd);
	return r;
}

static int check_executable(const char *rootfs, const struct husk_process *p, struct husk_err *err)
{
	const char *arg0 = p->args[0],
		   *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	struct stat st;
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return husk_err_sys(err, errno, "rootfs %s", rootfs);
	if (strchr(arg0, '/')) {
		if (rootfs_open(root, arg0, &st) < 0) {
			if (errno == ENOSYS)
				return 0; /* an old host kernel: the guest will tell */
			return husk_err_sys(err, errno, "exec: \"%s\": stat %s", arg0, arg0);
		}
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			return husk_err_set(err, EACCES, "exec: \"%s\": permission denied", arg0);
		return 0;
	}
	for (char **e = p->env; e && *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			path = *e + 5;
	while (*path) {
		size_t n = strcspn(path, ":");
		char full[PATH_MAX];
		snprintf(full, sizeof full, "%.*s/%s", (int)n, n ? path : ".", arg0);
		if (rootfs_open(root, full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return 0;
		if (errno == ENOSYS)
			return 0;
		path += n + (path[n] == ':');
	}
	return husk_err_set(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", arg0);
}

/* VM size and settings: flags first, then annotations, then what
 * linux.resources asks of the container, then defaults. */
#define HEADROOM_MIB 64 /* guest kernel, agent and page cache around the limit */

static int64_t resource(struct json_object *linux_, const char *group, const char *key)
{
	struct json_object *res, *g, *v;
	if (!linux_ || !json_object_object_get_ex(linux_, "resources", &res) ||
	    !json_object_object_get_ex(res, group, &g) || !json_object_object_get_ex(g, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static int apply_vm_settings(struct proxy_opts *o, struct husk_err *err)
{
	const struct husk_config *c = &o->cfg;
	const char *v;
	char *end;
	struct stat st;
	if (!o->vo.kernel && (v = husk_config_annotation(c, "husk.vm.kernel"))) {
		if (stat(v, &st) < 0 || !S_ISREG(st.st_mode))
			return husk_err_set(err, ENOENT,
					    "annotation husk.vm.kernel: %s is not a file", v);
		o->vo.kernel = v;
	}
	if (!o->vo.initrd && (v = husk_config_annotation(c, "husk.vm.initrd"))) {
		if (stat(v, &st) < 0 || !S_ISREG(st.st_mode))
			return husk_err_set(err, ENOENT,
					    "annotation husk.vm.initrd: %s is not a file", v);
		o->vo.initrd = v;
	}
	if (!o->vo.machine && (v = husk_config_annotation(c, "husk.vm.machine"))) {
		if (strcmp(v, "microvm") && strcmp(v, "q35") && strcmp(v, "pc"))
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.machine must be microvm, q35 or pc, not \"%s\"", v);
		o->vo.machine = v;
	}
	if (!o->vo.mem_mib && (v = husk_config_annotation(c, "husk.vm.memory"))) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 32 || n > (1u << 20))
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.memory must be MiB from 32, not \"%s\"", v);
		o->vo.mem_mib = (unsigned)n;
	}
	if (!o->vo.cpus && (v = husk_config_annotation(c, "husk.vm.cpus"))) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 1 || n > 64)
			return husk_err_set(
			    err, EINVAL, "annotation husk.vm.cpus must be 1 to 64, not \"%s\"", v);
		o->vo.cpus = (unsigned)n;
	}
	if (!o->share_set && (v = husk_config_annotation(c, "husk.vm.share"))) {
		if (husk_share_parse(v, &o->vo.virtiofs, err) < 0)
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.share must be 9p or virtiofs, not \"%s\"", v);
		o->share_set = true;
	}
	if (!o->share_set && getenv("HUSK_SHARE") &&
	    husk_share_parse(getenv("HUSK_SHARE"), &o->vo.virtiofs, err) < 0)
		return -1;
	int64_t limit = resource(c->linux_, "memory", "limit");
	if (!o->vo.mem_mib && limit > 0) {
		int64_t mib = (limit + (1 << 20) - 1) / (1 << 20) + HEADROOM_MIB;
		o->vo.mem_mib = (unsigned)(mib < 96 ? 96 : mib > (1 << 20) ? (1 << 20) : mib);
	}
	int64_t quota = resource(c->linux_, "cpu", "quota"),
		period = resource(c->linux_, "cpu", "period");
	if (!o->vo.cpus && quota > 0) {
		if (period <= 0)
			period = 100000;
		int64_t n = (quota + period - 1) / period;
		long host = sysconf(_SC_NPROCESSORS_ONLN);
		o->vo.cpus = (unsigned)(n < 1 ? 1 : n > host ? host : n > 64 ? 64 : n);
	}
	return 0;
}

int husk_proxy_prepare(struct proxy_opts *o, const char *bundle, const char *id,
		       struct husk_err *err)
{
	char abs_bundle[PATH_MAX];
	struct stat st;
	o->id = id;
	if (husk_id_valid(id, err) < 0)
		return -1;
	if (!realpath(bundle, abs_bundle))
		return husk_err_sys(err, errno, "bundle %s", bundle);
	if (!(o->bundle = strdup(abs_bundle)))
		return husk_err_set(err, ENOMEM, "out of memory");
	if (husk_config_load(abs_bundle, &o->cfg, err) < 0)
		return -1;
	if (o->cfg.root_path[0] == '/') {
		o->rootfs = realpath(o->cfg.root_path, NULL);
	} else {
		char *p;
		if (asprintf(&p, "%s/%s", abs_bundle, o->cfg.root_path) < 0)
			return husk_err_set(err, ENOMEM, "out of memory");
		o->rootfs = realpath(p, NULL);
		free(p);
	}
	if (!o->rootfs || stat(o->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return husk_err_set(err, ENOENT,
				    "rootfs %s (root.path in %s/config.json) is not a directory",
				    o->cfg.root_path, abs_bundle);
	if (check_executable(o->rootfs, &o->cfg.process, err) < 0) {
		o->exec_status = err->code == ENOENT ? 127 : 126;
		return -1;
	}
	if (apply_vm_settings(o, err) < 0)
		return -1;
	o->vo.share_path = o->rootfs;
	o->vo.share_readonly = false;
	o->vo.debug = husk_global.debug;
	return husk_vm_resolve(&o->vo, err);
}

void husk_proxy_opts_free(struct proxy_opts *o)
{
	free(o->bundle);
	free(o->rootfs);
	free(o->state_dir);
	o->bundle = o->rootfs = o->state_dir = NULL;
	husk_config_free(&o->cfg);
}
