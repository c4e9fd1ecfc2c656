/* What the container's processes report to the proxy (husk_proxy_procs_ops):
 * started, failed to start, exited, done; and, after the exit of the
 * container's process, its output watched for a reader that does not read. */
#include <stdio.h>

#include <json-c/json.h>

#include "hooks.h"
#include "husk-log.h"
#include "husk.h"
#include "proxy.h"

void husk_proc_reply_started(struct husk_proc *x, int64_t pid)
{
	struct husk_ctl_conn *c = x->waiter;
	if (x->is_init)
		x->waiter = NULL;
	if (c) {
		struct json_object *o = husk_ctl_ok();
		json_object_object_add(o, "pid", json_object_new_int64(pid));
		husk_ctl_reply(c, o);
		if (x->is_init)
			husk_ctl_conn_unref(c);
	}
}

void husk_proc_reply_failed(struct husk_proc *x, const char *msg, int status)
{
	struct husk_ctl_conn *c = x->waiter;
	x->waiter = NULL;
	if (c) {
		husk_ctl_reply(c, husk_ctl_error(msg, status));
		if (!x->is_init) {
			c->data = NULL;
			husk_ctl_conn_close(c);
		}
		husk_ctl_conn_unref(c);
	}
}

void husk_proc_reply_done(struct husk_proc *x)
{
	struct husk_ctl_conn *c = x->waiter;
	if (c) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "exit", json_object_new_int(x->status));
		json_object_object_add(o, "runtime_ns", json_object_new_int64(x->runtime_ns));
		husk_ctl_reply(c, o);
		x->waiter = NULL;
		c->data = NULL;
		husk_ctl_conn_close(c);
		husk_ctl_conn_unref(c);
	}
}

static void proc_started(struct husk_proc *x, int64_t pid, void *data)
{
	struct proxy *P = data;
	if (x->is_init) {
		struct husk_err herr;
		husk_proxy_set_status(P, "running");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&P->st);
		if (husk_hooks_run(P->o->cfg.hooks, "poststart", state, P->o->net.host_ns, &herr) <
		    0)
			log_warn("%s", herr.msg); /* the spec: log, carry on */
		if (P->notify_on_start)
			husk_proxy_notify_ok(P);
	}
	husk_proc_reply_started(x, pid);
}

static void proc_start_failed(struct husk_proc *x, const char *msg, int status, void *data)
{
	struct proxy *P = data;
	bool waited = x->waiter != NULL;
	husk_proc_reply_failed(x, msg, status);
	if (!x->is_init)
		return;
	if (P->o->notify_fd >= 0 || waited)
		husk_proxy_notify(P, msg);
	if (P->o->foreground)
		fprintf(stderr, "husk: %s\n", msg);
	log_error("%s", msg);
	husk_proxy_finish(P, status ? status : HUSK_EXIT_RUNTIME);
}

/* The container's process exited and its output is held for a reader that
 * does not read it: tell the callers it is stopped (state, then the
 * sentinel's exit, which its reaper takes as the container's), as runc's
 * container ends with its output left in pipes. The proxy relays on: its
 * reader may yet read, and delete kills it. */
static void release(struct proxy *P)
{
	struct husk_proc *init = &P->procs.init;
	uv_timer_stop(&P->stall_timer);
	P->released = true;
	log_info("the output of the container's process, which exited with %d, has not been "
		 "read for %d ms: the container is stopped, its output held until read or "
		 "deleted",
		 init->status, HUSK_OUTPUT_STALL_MS);
	husk_proxy_set_status(P, "stopped");
	if (P->sentinel.fd >= 0) {
		uv_poll_stop(&P->sentinel_poll); /* its socket closes with the exit */
		husk_sentinel_exit(&P->sentinel, init->status);
	}
}

/* Each tick after init's exit, until its output is done: has the output
 * waited unwritten, since the exit, for HUSK_OUTPUT_STALL_MS? */
static void stall_tick(uv_timer_t *t)
{
	struct proxy *P = t->data;
	struct husk_proc *init = &P->procs.init;
	uint64_t since_exit = uv_now(P->loop) - P->exited_ms;
	uint64_t stalled = husk_relay_stalled_ms(&init->relay);
	if (P->released || P->stopping || init->done) {
		uv_timer_stop(t);
		return;
	}
	if ((stalled < since_exit ? stalled : since_exit) >= HUSK_OUTPUT_STALL_MS)
		release(P);
}

static void proc_exited(struct husk_proc *x, void *data)
{
	struct proxy *P = data;
	if (!x->is_init)
		return;
	/* "stopped" once its output is done (proc_done), or held for a
	 * reader that does not read it (release); run in the foreground
	 * exits with the status after the output, as it always did */
	P->st.exit_status = x->status;
	if (P->o->foreground)
		return;
	P->exited_ms = uv_now(P->loop);
	uv_timer_start(&P->stall_timer, stall_tick, HUSK_STALL_TICK_MS, HUSK_STALL_TICK_MS);
}

static void proc_done(struct husk_proc *x, void *data)
{
	struct proxy *P = data;
	if (x->is_init && !P->o->foreground) {
		uv_timer_stop(&P->stall_timer);
		if (!P->released)
			husk_proxy_set_status(P, "stopped");
	}
	husk_proc_reply_done(x);
	husk_proxy_maybe_stop(P);
}

const struct husk_procs_ops husk_proxy_procs_ops = {
    .started = proc_started,
    .start_failed = proc_start_failed,
    .exited = proc_exited,
    .done = proc_done,
};
