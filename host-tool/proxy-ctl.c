/* The requests of a proxy's control socket: start, kill, exec, resize,
 * ping, ps (and, in the test build, the fault-injection hooks). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "pod.h"
#include "proxy-ctl.h"
#include "proxy-res.h"
#include "proxy.h"
#ifdef HUSK_TEST_BUILD
#include "testhooks.h"
#endif

void husk_proxy_exec(struct proxy *P, struct husk_procs *set, struct husk_ctl_conn *c,
		     struct json_object *req, int *fds, int nfds)
{
	struct json_object *pj = NULL, *t;
	struct husk_process spec;
	struct husk_err err;
	bool tty = json_object_object_get_ex(req, "tty", &t) && json_object_get_boolean(t);
	bool ignore_paused =
	    json_object_object_get_ex(req, "ignore_paused", &t) && json_object_get_boolean(t);
	const char *refused = NULL;
	if (!set->init.started || set->init.exited)
		refused = "container is not running";
	else if ((P->paused || P->pausing) && !ignore_paused)
		refused = "cannot exec in a paused container (use --ignore-paused to override)";
	else if (nfds != 3)
		refused = "exec needs three stdio descriptors";
	else if (!json_object_object_get_ex(req, "process", &pj) ||
		 husk_process_from_json(pj, &spec, &err) < 0)
		refused = pj ? err.msg : "exec without a process";
	if (refused) {
		husk_ctl_reply(c, husk_ctl_error(refused, 0));
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return;
	}
	spec.terminal = tty;
	struct husk_proc *x = husk_procs_new_exec(set, fds, &err);
	if (!x) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
	} else {
		x->waiter = c;
		c->data = x;
		husk_ctl_conn_ref(c);
		if (husk_proc_start(x, &spec, &err) < 0) {
			x->waiter = NULL;
			c->data = NULL;
			husk_ctl_conn_unref(c);
			husk_proc_drop(x);
			x = NULL;
		}
	}
	if (!x)
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
	husk_process_free(&spec);
}

struct forward {
	struct husk_ctl_conn *c;
	uint64_t ping_start; /* a ping: when it was sent */
};

static void forwarded_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct forward *f = data;
	struct husk_ctl_conn *c = f->c;
	if (r->err_code) {
		/* a process that exited before its exit event reached us */
		husk_ctl_reply(
		    c,
		    husk_ctl_error(r->err_code == ESRCH ? "container not running" : r->message, 0));
	} else if (f->ping_start) {
		struct json_object *o = husk_ctl_ok();
		json_object_object_add(
		    o, "rtt_ns", json_object_new_int64((int64_t)(uv_hrtime() - f->ping_start)));
		husk_ctl_reply(c, o);
	} else if (r->has_pids) {
		struct json_object *o = husk_ctl_ok(), *a = json_object_new_array();
		for (size_t i = 0; i < r->npids; i++)
			json_object_array_add(a, json_object_new_int(r->pids[i]));
		json_object_object_add(o, "pids", a);
		if (r->has_procs) {
			/* the processes as the wire has them (docs/protocol.md) */
			static const char *const keys[] = {"procs", "uptime", "boot_time"};
			struct json_object *wire = husk_reply_encode(r), *v;
			for (size_t i = 0; wire && i < sizeof keys / sizeof keys[0]; i++)
				if (json_object_object_get_ex(wire, keys[i], &v))
					json_object_object_add(o, keys[i], json_object_get(v));
			json_object_put(wire);
		}
		husk_ctl_reply(c, o);
	} else {
		husk_ctl_reply(c, husk_ctl_ok());
	}
	husk_ctl_conn_unref(c);
	free(f);
}

void husk_proxy_forward(struct proxy *P, struct husk_ctl_conn *c, struct husk_request *req)
{
	struct husk_err err;
	struct forward *f = malloc(sizeof *f);
	if (!f) {
		husk_ctl_reply(c, husk_ctl_error("out of memory", 0));
		return;
	}
	*f = (struct forward){c, req->op == HUSK_OP_PING ? uv_hrtime() : 0};
	husk_ctl_conn_ref(c);
	if (husk_session_request(&P->s, req, forwarded_reply, f, &err) < 0) {
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
		husk_ctl_conn_unref(c);
		free(f);
	}
}

static void ignore_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
}

static void pause_done(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
		       void *data);

/* stop (pause) or cont (resume) the whole VM; c hears the outcome, or no
 * one when c is NULL */
static void set_paused(struct proxy *P, struct husk_ctl_conn *c, bool pause)
{
	struct husk_err err;
	P->pausing = true;
	if (c)
		husk_ctl_conn_ref(c);
	if (husk_qmp_command(&P->qmp, pause ? "stop" : "cont", NULL, pause_done, c, &err) < 0) {
		P->pausing = false;
		if (c) {
			husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
			husk_ctl_conn_unref(c);
		}
		return;
	}
	/* QMP answers in order: the flag is right once this one's reply is in */
	P->paused = pause;
}

static void pause_done(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
		       void *data)
{
	struct proxy *P = q->data;
	struct husk_ctl_conn *c = data;
	P->pausing = false;
	if (err)
		P->paused = !P->paused;
	else if (!P->procs.init.exited)
		husk_proxy_set_status(P, P->paused		 ? "paused"
					 : P->procs.init.started ? "running"
								 : "created");
	if (c) {
		husk_ctl_reply(c, err ? husk_ctl_error(err->msg, 0) : husk_ctl_ok());
		husk_ctl_conn_unref(c);
	}
}

static void ctl_pause(struct proxy *P, struct husk_ctl_conn *c, bool pause)
{
	/* runc pauses a created container too */
	struct husk_proc *init = &P->procs.init;
	if (!P->created || init->exited || P->stopping || (pause && P->paused))
		husk_ctl_reply(c, husk_ctl_error("container not running", 0));
	else if (P->pausing)
		husk_ctl_reply(c, husk_ctl_error("container is being paused or resumed", 0));
	else if (!pause && !P->paused)
		husk_ctl_reply(c, husk_ctl_error("container not paused", 0));
	else
		set_paused(P, c, pause);
}

static void ctl_kill(struct proxy *P, struct husk_ctl_conn *c, int sig, bool all)
{
	struct husk_proc *x = c->data ? c->data : &P->procs.init;
	if (sig < 1 || sig > 64) {
		husk_ctl_reply(c, husk_ctl_error("invalid signal", 0));
	} else if (x->is_init && !x->started) {
		husk_ctl_reply(c, husk_ctl_ok());
		husk_proxy_kill_created(P, sig);
	} else if (x->exited) {
		husk_ctl_reply(c, husk_ctl_error("container not running", 0));
	} else if (P->paused || P->pausing) {
		/* runc's rule: the signal is queued; SIGKILL (or any signal to
		 * all) also resumes it */
		struct husk_err err;
		struct husk_request r = {
		    .op = HUSK_OP_PROCESS_SIGNAL,
		    .u.signal = {.process = x->base, .signal = sig, .all = all}};
		if (husk_session_request(&P->s, &r, ignore_reply, NULL, &err) < 0) {
			husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
			return;
		}
		husk_ctl_reply(c, husk_ctl_ok());
		if ((sig == SIGKILL || all) && P->paused && !P->pausing)
			set_paused(P, NULL, false);
	} else {
		struct husk_request r = {
		    .op = HUSK_OP_PROCESS_SIGNAL,
		    .u.signal = {.process = x->base, .signal = sig, .all = all}};
		husk_proxy_forward(P, c, &r);
	}
	if (sig == SIGKILL && x->is_init)
		husk_proxy_kill_grace(P);
}

#ifdef HUSK_TEST_BUILD
static void hook_done(struct husk_session *s, const struct husk_err *err, void *data)
{
	struct husk_ctl_conn *c = data;
	husk_ctl_reply(c, err ? husk_ctl_error(err->msg, 0) : husk_ctl_ok());
	husk_ctl_conn_unref(c);
}

/* inject, reconnect: testhooks.c, refused unless HUSK_TEST_HOOKS=1 */
static bool ctl_test_hook(struct proxy *P, struct husk_ctl_conn *c, const char *op,
			  struct json_object *req)
{
	struct husk_err err;
	if (strcmp(op, "inject") && strcmp(op, "reconnect"))
		return false;
	husk_ctl_conn_ref(c);
	if (husk_test_hook(&P->s, op, req, hook_done, c, &err) < 0) {
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
		husk_ctl_conn_unref(c);
	}
	return true;
}
#endif

static int int_field(struct json_object *req, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(req, key, &v) ? json_object_get_int(v) : 0;
}

static void ctl_request(struct husk_ctl_conn *c, struct json_object *req, int *fds, int nfds,
			void *data)
{
	struct proxy *P = data;
	struct json_object *v;
	const char *op = json_object_object_get_ex(req, "op", &v) ? json_object_get_string(v) : "";
	if (!strcmp(op, "pod.add")) {
		husk_pod_add(P, c, req, fds, nfds);
		return;
	}
	if (husk_pod_request(P, c, op, req, fds, nfds))
		return;
	if (!strcmp(op, "exec")) {
		husk_proxy_exec(P, &P->procs, c, req, fds, nfds);
		return;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (!strcmp(op, "start")) {
		if (P->procs.init.started || P->start_asked) {
			husk_ctl_reply(c,
				       husk_ctl_error("container is not in the created state", 0));
		} else {
			P->start_asked = true;
			husk_proxy_start_init(P, c);
		}
	} else if (!strcmp(op, "kill")) {
		ctl_kill(P, c, int_field(req, "signal"),
			 json_object_object_get_ex(req, "all", &v) && json_object_get_boolean(v));
	} else if (!strcmp(op, "resize") && c->data) {
		husk_proc_resize(c->data, (unsigned short)int_field(req, "rows"),
				 (unsigned short)int_field(req, "cols"));
	} else if (!strcmp(op, "ping")) {
		/* one request/reply round trip on the channel, timed here */
		struct husk_request r = {.op = HUSK_OP_PING};
		husk_proxy_forward(P, c, &r);
	} else if (!strcmp(op, "pause") || !strcmp(op, "resume")) {
		ctl_pause(P, c, !strcmp(op, "pause"));
	} else if (!strcmp(op, "update")) {
		husk_proxy_update(P, c, json_object_object_get_ex(req, "resources", &v) ? v : NULL);
	} else if (!strcmp(op, "ps")) {
		struct husk_request r = {.op = HUSK_OP_CONTAINER_PS};
		r.u.ps.container = (char *)P->o->id;
		husk_proxy_forward(P, c, &r);
	}
#ifdef HUSK_TEST_BUILD
	else if (ctl_test_hook(P, c, op, req)) {
	}
#endif
	else {
		husk_ctl_reply(c, husk_ctl_error("unknown control request", 0));
	}
}

/* An exec client that dies takes its process with it, as a killed
 * foreground process would. */
static void ctl_gone(struct husk_ctl_conn *c, void *data)
{
	struct husk_proc *x = c->data;
	husk_pod_gone(data, c);
	if (!x)
		return;
	x->waiter = NULL;
	c->data = NULL;
	husk_ctl_conn_unref(c); /* the process's hold on it */
	if (x->started && !x->exited)
		husk_proc_signal(x, SIGKILL, false);
}

const struct husk_ctl_server_ops husk_proxy_ctl_ops = {.request = ctl_request, .gone = ctl_gone};
