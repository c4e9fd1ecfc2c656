/* The proxy's state machine: creating -> created -> running -> stopped,
 * and what it does as the session (the VM) reports. proxy-procs.c hears the
 * processes, proxy-ctl.c serves the control socket, proxy-main.c sets it all
 * up. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "binds.h"
#include "ctlsrv.h"
#include "hooks.h"
#include "husk-log.h"
#include "husk.h"
#include "pod.h"
#include "proxy.h"
#include "proxy-res.h"
#include "tty.h"
#include "util.h"

/* ---- the state machine ---- */

void husk_proxy_notify(struct proxy *P, const char *msg)
{
	if (P->o->notify_fd < 0)
		return;
	ssize_t n = write(P->o->notify_fd, msg, strlen(msg));
	(void)n;
	close(P->o->notify_fd);
	P->o->notify_fd = -1;
}

void husk_proxy_notify_ok(struct proxy *P)
{
	char msg[32];
	snprintf(msg, sizeof msg, "ok %d", (int)P->st.pid);
	husk_proxy_notify(P, msg);
}

/* Under the container's lock, as every verb's read-modify-write is: held
 * only for the write, never while waiting. A directory that is gone was
 * deleted (delete holds the lock while it kills us): nothing is written. */
void husk_proxy_set_status(struct proxy *P, const char *status)
{
	struct husk_err err;
	char *s = strdup(status);
	if (!s) {
		log_error("out of memory for status %s", status);
		return;
	}
	free(P->st.status);
	P->st.status = s;
	_cleanup_close_ int lock = husk_state_lock(P->o->state_dir, &err);
	if (lock < 0 || husk_state_write(P->o->state_dir, &P->st, &err) < 0)
		log_error("%s", err.msg);
}

void husk_proxy_finish(struct proxy *P, int code)
{
	if (P->link)
		husk_member_finish(P, code);
	husk_session_kill_vm(&P->s);
	husk_netconf_cleanup(&P->o->net);
	husk_share_unmount(&P->o->share);
	if (P->tty_raw)
		husk_tty_restore();
	/* out of the host cgroup, so that delete (or we) can remove it */
	husk_proxy_cgroup_leave(P);
	if (P->o->foreground) {
		/* run without -d deletes the container when it is done */
		struct husk_err herr;
		free(P->st.status);
		P->st.status = strdup("stopped");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&P->st);
		if (P->created && husk_hooks_run(P->o->cfg.hooks, "poststop", state,
						 P->o->net.host_ns, &herr) < 0)
			log_warn("%s", herr.msg);
		husk_sentinel_exit(&P->sentinel, code);
		if (P->st.cgroup)
			husk_cgroup_destroy(&P->cg);
		_cleanup_close_ int lock = husk_state_lock(P->o->state_dir, NULL);
		if (lock >= 0)
			husk_state_remove(P->o->state_dir);
	} else {
		P->st.exit_status = code;
		husk_proxy_set_status(P, "stopped");
		/* the control socket goes with the proxy */
		_cleanup_free_ char *sock = NULL;
		if (asprintf(&sock, "%s/ctl.sock", P->o->state_dir) >= 0)
			unlink(sock);
		/* last: whoever reaps it (a shim) may delete the container at
		 * once, and delete removes the cgroup */
		husk_sentinel_exit(&P->sentinel, code);
	}
	/* not exit(): libuv joins its threads at exit, and one may be blocked
	 * writing output to a pipe nobody reads */
	fflush(NULL);
	_exit(code);
}

/* An error before the container process ran: tell whoever waits, exit 125. */
void husk_proxy_fail(struct proxy *P, const struct husk_err *err, bool tail)
{
	char t[4096] = "";
	if (tail)
		husk_session_console_tail(&P->s, t, sizeof t);
	if (P->o->notify_fd >= 0)
		husk_proxy_notify(P, err->msg);
	else if (P->o->foreground)
		fprintf(stderr, "husk: %s\n", err->msg);
	log_error("%s", err->msg);
	if (t[0] && (P->o->foreground || husk_global.debug))
		fprintf(stderr, "husk: last console output:\n%s%s", t,
			t[strlen(t) - 1] == '\n' ? "" : "\n");
	husk_proxy_finish(P, P->procs.init.started ? HUSK_EXIT_LOST : HUSK_EXIT_RUNTIME);
}

static void stopped_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct proxy *P = data;
	husk_proxy_finish(P, P->procs.init.status);
}

static void stop_timeout(uv_timer_t *t)
{
	struct proxy *P = t->data;
	husk_proxy_finish(P, P->procs.init.status);
}

void husk_proxy_maybe_stop(struct proxy *P)
{
	struct husk_request req = {.op = HUSK_OP_SHUTDOWN};
	struct husk_err err;
	if (P->stopping || !husk_procs_all_done(&P->procs))
		return;
	P->stopping = true;
	if (husk_session_request(&P->s, &req, stopped_reply, P, &err) < 0)
		husk_proxy_finish(P, P->procs.init.status);
	uv_timer_start(&P->stop_timer, stop_timeout, 10000, 0);
}

/* ---- the network, told to the agent ---- */

struct net_wait {
	struct proxy *P;
	void (*then)(struct proxy *P, void *arg); /* or NULL */
	void *arg;
};

static void net_configured(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct net_wait w = *(struct net_wait *)data;
	struct husk_err err;
	free(data);
	if (r->err_code) {
		husk_err_set(&err, r->err_code, "cannot configure the VM's network: %s",
			     r->message);
		husk_proxy_fail(w.P, &err, false);
	}
	if (w.then)
		w.then(w.P, w.arg);
}

/* network.configure with what husk_netconf_json says; then(P, arg) once
 * the agent has applied it. */
static void send_network(struct proxy *P, struct json_object *net,
			 void (*then)(struct proxy *P, void *arg), void *arg)
{
	struct husk_err err;
	struct husk_request req = {.op = HUSK_OP_NETWORK_CONFIGURE, .u.net.network = net};
	struct net_wait *w = malloc(sizeof *w);
	if (!w)
		husk_proxy_fail(P, &(struct husk_err){ENOMEM, "out of memory"}, false);
	*w = (struct net_wait){P, then, arg};
	if (husk_session_request(&P->s, &req, net_configured, w, &err) < 0)
		husk_proxy_fail(P, &err, false);
}

/* Interfaces the caller's hooks put in a namespace husk made: mirror them
 * and tell the agent, then go on with then(P, arg). */
static void late_network(struct proxy *P, void (*then)(struct proxy *P, void *arg), void *arg)
{
	struct husk_err err;
	int found = husk_netconf_late(&P->o->net, &err);
	if (found < 0)
		husk_proxy_fail(P, &err, false);
	if (!found) {
		then(P, arg);
		return;
	}
	_cleanup_json_ struct json_object *net = husk_netconf_json(&P->o->net, &err);
	if (!net)
		husk_proxy_fail(P, &err, false);
	send_network(P, net, then, arg);
}

static void start_init_now(struct proxy *P, void *arg)
{
	struct husk_err err;
	P->procs.init.waiter = arg; /* its reference was taken by start_init */
	if (husk_proc_start(&P->procs.init, &P->o->cfg.process, &err) < 0)
		husk_proxy_fail(P, &err, false);
}

void husk_proxy_start_init(struct proxy *P, struct husk_ctl_conn *c)
{
	if (c)
		husk_ctl_conn_ref(c);
	/* a caller that adds the interfaces after create (before start) */
	late_network(P, start_init_now, c);
}

void husk_proxy_signal(struct proxy *P, int sig)
{
	struct husk_proc *init = &P->procs.init;
	if (P->link) {
		husk_member_signal(P, sig);
		return;
	}
	if (init->exited)
		return;
	if (!init->started) {
		if (sig != SIGCONT && sig != SIGURG)
			husk_proxy_kill_created(P, sig);
		return;
	}
	husk_proc_signal(init, sig, false);
}

static void kill_timeout(uv_timer_t *t)
{
	struct proxy *P = t->data;
	struct husk_proc *init = &P->procs.init;
	if (P->stopping || husk_procs_all_done(&P->procs))
		return;
	/* The guest has not ended it: its output has nowhere to go (nobody
	 * reads it), or it does not answer. SIGKILL ends a runc container at
	 * once; here too. */
	log_warn("the container did not end within %d ms of SIGKILL: ending its VM",
		 HUSK_KILL_GRACE_MS);
	if (!init->exited) {
		init->exited = true;
		init->status = 128 + SIGKILL;
	}
	P->st.exit_status = init->status;
	husk_proxy_finish(P, init->status);
}

void husk_proxy_kill_grace(struct proxy *P)
{
	if (!uv_is_active((uv_handle_t *)&P->kill_timer))
		uv_timer_start(&P->kill_timer, kill_timeout, HUSK_KILL_GRACE_MS, 0);
}

/* A signal for the container before its process runs ends it, as the
 * process would have died of it. */
void husk_proxy_kill_created(struct proxy *P, int sig)
{
	if (P->link)
		husk_member_signal(P, sig);
	P->procs.init.exited = true;
	P->procs.init.status = 128 + sig;
	P->st.exit_status = P->procs.init.status;
	husk_proxy_finish(P, P->procs.init.status);
}

/* ---- liveness: a guest that halts or hangs ---- */

static void pong(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct proxy *P = data;
	P->ping_sent = 0;
}

/* Every HUSK_LIVENESS_TICK_MS: a ping if none is out; one out for
 * HUSK_LIVENESS_LIMIT_MS means the guest no longer runs its agent (halted,
 * panicked, hung): the container is lost. Not while paused: then the
 * silence is ours. */
static void liveness_tick(uv_timer_t *t)
{
	struct proxy *P = t->data;
	struct husk_err err;
	uint64_t now = uv_now(P->loop);
	if (P->paused || P->pausing || P->stopping) {
		P->ping_sent = 0;
		return;
	}
	if (P->ping_sent && now - P->ping_sent >= HUSK_LIVENESS_LIMIT_MS) {
		husk_err_set(&err, ETIMEDOUT,
			     "the VM stopped answering: no reply from its agent in %d s (halted, "
			     "panicked or hung)",
			     HUSK_LIVENESS_LIMIT_MS / 1000);
		husk_proxy_fail(P, &err, true);
	}
	if (P->ping_sent)
		return;
	struct husk_request req = {.op = HUSK_OP_PING};
	if (husk_session_request(&P->s, &req, pong, P, &err) == 0)
		P->ping_sent = now;
}

void husk_proxy_watch(struct proxy *P)
{
	uv_timer_start(&P->live_timer, liveness_tick, HUSK_LIVENESS_TICK_MS, HUSK_LIVENESS_TICK_MS);
}

/* ---- the container's PID on the host ---- */

static void on_sentinel(uv_poll_t *h, int status, int events)
{
	struct proxy *P = h->data;
	int sig;
	while ((sig = husk_sentinel_read(&P->sentinel)) > 0)
		husk_proxy_signal(P, sig);
	if (sig < 0)
		return;
	/* SIGKILLed, as the container's process would be under runc: the
	 * container goes with it */
	uv_poll_stop(h);
	close(P->sentinel.fd);
	P->sentinel.fd = -1;
	if (!P->procs.init.exited)
		husk_proxy_kill_created(P, SIGKILL);
}

int husk_proxy_start_sentinel(struct proxy *P, struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	/* a pod's container: the rootfs the caller mounted is seen only as
	 * it was staged (pod-member.c) */
	struct husk_sentinel_view v = {.rootfs = o->staged_rootfs ? o->staged_rootfs : o->rootfs,
				       .readonly = o->cfg.root_readonly,
				       .binds = o->bind_view,
				       .nbinds = o->nbind_view};
	if (husk_sentinel_start(&P->sentinel, &v, err) < 0)
		return -1;
	P->st.pid = P->sentinel.pid;
	P->st.start_time = husk_proc_start_time(P->sentinel.pid);
	/* run without -d: create's part is ours */
	if (o->foreground && o->pid_file && husk_write_pid_file(o->pid_file, P->st.pid, err) < 0)
		return -1;
	uv_poll_init(P->loop, &P->sentinel_poll, P->sentinel.fd);
	P->sentinel_poll.data = P;
	uv_poll_start(&P->sentinel_poll, UV_READABLE | UV_DISCONNECT, on_sentinel);
	return 0;
}

/* ---- the session ---- */

/* Created, hooks run, and the interfaces they added (if any) mirrored. */
static void created_network(struct proxy *P, void *arg)
{
	if (P->o->autostart)
		husk_proxy_start_init(P, NULL);
	else
		husk_proxy_notify_ok(P);
}

static void created(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct proxy *P = data;
	struct husk_err err;
	if (r->err_code) {
		husk_err_set(&err, r->err_code, "cannot create the container in the VM: %s",
			     r->message);
		husk_proxy_fail(P, &err, false);
	}
	P->created = true;
	uv_timer_stop(&P->create_timer);
	husk_proxy_watch(P);
	if (husk_proxy_start_sentinel(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	if (!P->o->foreground && P->serve && P->serve(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	husk_proxy_set_status(P, "created");
	/* prestart (deprecated) and createRuntime run once the container
	 * exists and before its process starts */
	_cleanup_json_ struct json_object *state = husk_state_to_oci(&P->st);
	if (husk_hooks_run(P->o->cfg.hooks, "prestart", state, P->o->net.host_ns, &err) < 0 ||
	    husk_hooks_run(P->o->cfg.hooks, "createRuntime", state, P->o->net.host_ns, &err) < 0)
		husk_proxy_fail(P, &err, false);
	late_network(P, created_network, NULL);
}

static void create_timeout(uv_timer_t *t)
{
	struct proxy *P = t->data;
	struct husk_err err;
	husk_err_set(&err, ETIMEDOUT, "the agent did not create the container within %u s",
		     P->o->boot_timeout_s);
	husk_proxy_fail(P, &err, true);
}

struct json_object *husk_proxy_create_request(struct proxy *P, struct husk_request *req,
					      char host[HOST_NAME_MAX + 1])
{
	struct proxy_opts *o = P->o;
	struct json_object *spec = json_object_new_object();
	*req = (struct husk_request){.op = HUSK_OP_CONTAINER_CREATE};
	if (P->spec_mounts)
		json_object_object_add(spec, "mounts", json_object_get(P->spec_mounts));
	if (o->cfg.linux_)
		json_object_object_add(spec, "linux", json_object_get(o->cfg.linux_));
	/* the bind sources' directories in the share; the agent mounts the
	 * read-only ones read-only */
	char binds[160], binds_ro[160];
	snprintf(binds, sizeof binds, "%s/" HUSK_SHARE_BINDS, o->id);
	snprintf(binds_ro, sizeof binds_ro, "%s/" HUSK_SHARE_BINDS_RO, o->id);
	if (o->binds_path)
		json_object_object_add(spec, "binds", json_object_new_string(binds));
	if (o->binds_ro_path)
		json_object_object_add(spec, "binds_ro", json_object_new_string(binds_ro));
	req->u.create.spec = spec;
	req->u.create.id = (char *)o->id;
	req->u.create.rootfs = (struct husk_rootfs){.tag = HUSK_SHARE_TAG,
						    .fstype = o->vo.virtiofs ? "virtiofs" : "9p",
						    .path = o->share.rootfs,
						    .readonly = o->cfg.root_readonly};
	req->u.create.hostname = o->cfg.hostname;
	/* without a UTS namespace runc's container has the host's name */
	const char *uts_path;
	if (!o->cfg.hostname && husk_config_namespace(&o->cfg, "uts", &uts_path, NULL) == 0 &&
	    gethostname(host, HOST_NAME_MAX + 1) == 0) {
		host[HOST_NAME_MAX] = '\0';
		req->u.create.hostname = host;
	}
	return spec;
}

static void on_hello(struct husk_session *s)
{
	struct proxy *P = s->data;
	if (P->restoring)
		log_debug("the VM was restored from its snapshot");
	P->restoring = false;
	struct proxy_opts *o = P->o;
	struct husk_err err;
	struct husk_request req;
	char host[HOST_NAME_MAX + 1];
	_cleanup_json_ struct json_object *spec = husk_proxy_create_request(P, &req, host);
	/* what is known of the network goes first: the agent applies requests
	 * in order */
	_cleanup_json_ struct json_object *net = husk_netconf_json(&o->net, &err);
	if (net)
		send_network(P, net, NULL, NULL);
	if (husk_session_request(s, &req, created, P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	/* a share that never answers must not hang the caller */
	uv_timer_start(&P->create_timer, create_timeout, o->boot_timeout_s * 1000, 0);
}

static void on_exit_event(struct husk_session *s, const struct husk_exit_event *e)
{
	struct proxy *P = s->data;
	if (husk_procs_owns(&P->procs, e->process) || !husk_pod_exit(P, e))
		husk_procs_exit(&P->procs, e);
}

static bool on_stream(struct husk_session *s, const struct husk_frame_hdr *h, const uint8_t *p)
{
	struct proxy *P = s->data;
	return husk_procs_frame(&P->procs, h, p) || husk_pod_stream(P, h, p);
}

static void on_lost(struct husk_session *s, const struct husk_err *err)
{
	struct proxy *P = s->data;
	if (P->restoring && !s->greeted) {
		husk_proxy_restore_failed(P, err);
		return;
	}
	if (P->stopping || (P->procs.init.exited && s->vm_exited))
		husk_proxy_finish(P, P->procs.init.status);
	husk_proxy_fail(P, err, true);
}

const struct husk_session_ops husk_proxy_session_ops = {
    .hello = on_hello,
    .exit = on_exit_event,
    .lost = on_lost,
    .stream = on_stream,
};

int husk_proxy_init_state(struct proxy *P, struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	char now[64];
	husk_now_rfc3339(now, sizeof now);
	P->st = (struct husk_state){.id = (char *)o->id,
				    .bundle = o->bundle,
				    .rootfs = o->rootfs,
				    .status = strdup("creating"),
				    .created = strdup(now),
				    .pid = getpid(),
				    .start_time = husk_proc_start_time(getpid()),
				    .proxy_pid = getpid(),
				    .proxy_start_time = husk_proc_start_time(getpid()),
				    .exit_status = -1};
	P->st.annotations = json_object_new_object();
	/* delete cleans up there after a proxy that could not */
	if (o->net.mode == HUSK_NETMODE_MIRROR && o->net.ns_path &&
	    !(P->st.netns = strdup(o->net.ns_path)))
		return husk_err_set(err, ENOMEM, "out of memory");
	if (!P->st.status || !P->st.created || !P->st.annotations)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < o->cfg.nannotations; i++)
		json_object_object_add(P->st.annotations, o->cfg.annotations[i].key,
				       json_object_new_string(o->cfg.annotations[i].value));
	husk_proxy_set_status(P, "creating");
	return 0;
}

void husk_proxy_opts_free(struct proxy_opts *o)
{
	free(o->bundle);
	free(o->rootfs);
	free(o->state_dir);
	free(o->binds_path);
	free(o->binds_ro_path);
	free(o->sandbox);
	free(o->sandbox_dir);
	free(o->staged_rootfs);
	o->sandbox = o->sandbox_dir = o->staged_rootfs = NULL;
	husk_share_free(&o->share);
	husk_binds_view_free(o->bind_view, o->nbind_view);
	o->bind_view = NULL;
	o->nbind_view = 0;
	o->bundle = o->rootfs = o->state_dir = o->binds_path = o->binds_ro_path = NULL;
	husk_config_free(&o->cfg);
}
