/* The sandbox's side of a pod (pod.h): the pod's other containers, each
 * handed over by its member proxy on a connection of its own (the link),
 * created in the VM beside the sandbox's own container, their processes
 * relayed on the same session. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-facts.h"
#include "husk-log.h"
#include "husk.h"
#include "pod.h"
#include "proxy-ctl.h"
#include "proxy.h"
#include "vmconf.h"

struct pod_member {
	struct proxy *P;
	char *id;
	struct husk_procs procs;
	struct husk_process spec; /* its process, from its config */
	struct husk_ctl_conn *link;
	int64_t mem_mib; /* its memory limit, MiB, or 0 */
	bool created, start_asked, gone;
	uv_timer_t stall;   /* after its process's exit: is its output read? */
	uint64_t exited_ms; /* loop time of that exit */
	bool released;	    /* reported stopped while its output is held */
	struct pod_member *next;
};

static struct pod_member *find(struct proxy *P, const char *id)
{
	for (struct pod_member *m = P->members; m; m = m->next)
		if (!m->gone && strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void link_send(struct pod_member *m, struct json_object *o)
{
	if (m->link)
		husk_ctl_reply(m->link, o);
	else
		json_object_put(o);
}

static void member_freed(uv_handle_t *h)
{
	struct pod_member *m = h->data;
	husk_process_free(&m->spec);
	free(m->id);
	free(m);
}

static void relay_gone(struct husk_procs *set)
{
	struct pod_member *m = set->data;
	uv_close((uv_handle_t *)&m->stall, member_freed);
}

/* Out of the pod; freed once its process's relay has closed its handles. */
static void member_free(struct pod_member *m)
{
	struct proxy *P = m->P;
	for (struct pod_member **pp = &P->members; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	husk_procs_let_go_init(&m->procs, relay_gone);
}

static void report_exit(struct pod_member *m)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "exit", json_object_new_int(m->procs.init.status));
	link_send(m, o);
}

/* Nothing of a member that is gone refers to it any more: its process is
 * done (or never ran) and every exec's slot is freed. */
static bool unused(const struct pod_member *m)
{
	const struct husk_proc *init = &m->procs.init;
	return (!init->started || init->done) && !m->procs.execs;
}

static void free_tick(uv_timer_t *t)
{
	struct pod_member *m = t->data;
	if (!unused(m))
		return;
	uv_timer_stop(t);
	member_free(m);
}

/* A member that is gone is freed from the loop, never from inside one of
 * its own callbacks, once unused: checked at once and then every tick. */
static void maybe_free(struct pod_member *m)
{
	if (m->gone)
		uv_timer_start(&m->stall, free_tick, 0, HUSK_STALL_TICK_MS);
}

/* ---- what the member's processes report ---- */

static void m_started(struct husk_proc *x, int64_t pid, void *data)
{
	struct pod_member *m = data;
	if (x->is_init) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "started", json_object_new_int64(pid));
		link_send(m, o);
	}
	husk_proc_reply_started(x, pid);
}

static void m_start_failed(struct husk_proc *x, const char *msg, int status, void *data)
{
	struct pod_member *m = data;
	husk_proc_reply_failed(x, msg, status);
	if (!x->is_init)
		return;
	x->exited = x->done = true;
	x->status = status ? status : HUSK_EXIT_RUNTIME;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "start_failed", json_object_new_string(msg));
	json_object_object_add(o, "status", json_object_new_int(x->status));
	link_send(m, o);
}

/* As for a container of its own (proxy-procs.c): a process whose output
 * nobody reads is reported stopped HUSK_OUTPUT_STALL_MS after its exit;
 * its output is held for its reader until read or the member goes. */
static void stall_tick(uv_timer_t *t)
{
	struct pod_member *m = t->data;
	struct husk_proc *init = &m->procs.init;
	uint64_t since = uv_now(m->P->loop) - m->exited_ms;
	uint64_t stalled = husk_relay_stalled_ms(&init->relay);
	if (m->released || init->done) {
		uv_timer_stop(t);
		return;
	}
	if ((stalled < since ? stalled : since) >= HUSK_OUTPUT_STALL_MS) {
		uv_timer_stop(t);
		m->released = true;
		log_info("the output of container %s's process, which exited with %d, has not "
			 "been read for %d ms: it is stopped, its output held",
			 m->id, init->status, HUSK_OUTPUT_STALL_MS);
		report_exit(m);
	}
}

static void m_exited(struct husk_proc *x, void *data)
{
	struct pod_member *m = data;
	if (!x->is_init || m->gone)
		return; /* a member that is gone is watched by free_tick */
	m->exited_ms = uv_now(m->P->loop);
	uv_timer_start(&m->stall, stall_tick, HUSK_STALL_TICK_MS, HUSK_STALL_TICK_MS);
}

static void m_done(struct husk_proc *x, void *data)
{
	struct pod_member *m = data;
	husk_proc_reply_done(x);
	if (x->is_init) {
		uv_timer_stop(&m->stall);
		if (!m->released)
			report_exit(m);
	}
	maybe_free(m);
}

static const struct husk_procs_ops member_ops = {
    .started = m_started,
    .start_failed = m_start_failed,
    .exited = m_exited,
    .done = m_done,
};

/* ---- pod.add ---- */

struct adding {
	struct pod_member *m;
	struct husk_ctl_conn *c;
};

static void added(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct adding *a = data;
	struct pod_member *m = a->m;
	struct husk_ctl_conn *c = a->c;
	free(a);
	if (r->err_code || c->closed) {
		char msg[700];
		snprintf(msg, sizeof msg, "cannot create container %s in the pod's VM: %s", m->id,
			 r->err_code ? r->message : "its proxy went away");
		husk_ctl_reply(c, husk_ctl_error(msg, 0));
		husk_ctl_conn_unref(c);
		member_free(m);
		return;
	}
	m->created = true;
	m->link = c; /* keeps the reference */
	m->next = m->P->members;
	m->P->members = m;
	log_info("container %s joined the pod", m->id);
	husk_ctl_reply(c, husk_ctl_ok());
}

/* What the member asks the agent: the request it sent, read by the codec
 * and held to its own part of the share. */
static int create_request(struct proxy *P, const char *id, struct json_object *create,
			  struct husk_request *r, struct husk_err *err)
{
	_cleanup_json_ struct json_object *o = NULL;
	char want[300], binds[300], binds_ro[300];
	if (json_object_deep_copy(create, &o, NULL) != 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	json_object_object_add(o, "id", json_object_new_int(1));
	json_object_object_add(o, "op", json_object_new_string("container.create"));
	json_object_object_add(o, "container", json_object_new_string(id));
	json_object_object_add(o, "sandbox", json_object_new_string(P->o->id));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (husk_request_decode(text, strlen(text), r, err) < 0)
		return -1;
	snprintf(want, sizeof want, "%s/" HUSK_SHARE_ROOTFS, id);
	snprintf(binds, sizeof binds, "%s/" HUSK_SHARE_BINDS, id);
	snprintf(binds_ro, sizeof binds_ro, "%s/" HUSK_SHARE_BINDS_RO, id);
	struct json_object *v;
	const char *fstype = P->o->vo.virtiofs ? "virtiofs" : "9p";
	if (strcmp(r->u.create.rootfs.tag, HUSK_SHARE_TAG) ||
	    strcmp(r->u.create.rootfs.fstype, fstype) || !r->u.create.rootfs.path ||
	    strcmp(r->u.create.rootfs.path, want) ||
	    (r->u.create.spec && json_object_object_get_ex(r->u.create.spec, "binds", &v) &&
	     strcmp(json_object_get_string(v), binds)) ||
	    (r->u.create.spec && json_object_object_get_ex(r->u.create.spec, "binds_ro", &v) &&
	     strcmp(json_object_get_string(v), binds_ro))) {
		husk_request_free(r);
		return husk_err_set(err, EINVAL, "container %s names a share other than its own",
				    id);
	}
	return 0;
}

/* Whether the member's memory limit fits in what the VM has left. */
static int64_t husk_mib(int64_t bytes)
{
	return bytes > 0 ? (bytes + (1 << 20) - 1) / (1 << 20) : 0;
}

/* Whether a memory limit of mib for container self (by id: one being
 * added, or a member being updated) fits beside the pod's others. */
static int fits_id(struct proxy *P, const char *id, int64_t mib, struct husk_err *err)
{
	int64_t used = HUSK_VM_HEADROOM_MIB, vm = P->o->vo.mem_mib;
	for (struct pod_member *m = P->members; m; m = m->next)
		if (!m->gone && strcmp(m->id, id))
			used += m->mem_mib;
	if (mib > 0 && used + mib > vm)
		return husk_err_set(
		    err, ENOSPC,
		    "container %s's memory limit (%lld MiB) does not fit in the "
		    "pod's VM: %lld MiB of its %lld MiB are left (the sandbox's "
		    "husk.vm.memory annotation sizes it; memory is not hot-plugged)",
		    id, (long long)mib, (long long)(vm > used ? vm - used : 0), (long long)vm);
	return 0;
}

static int fits(struct proxy *P, struct pod_member *m, int64_t mib, struct husk_err *err)
{
	if (fits_id(P, m->id, mib, err) < 0)
		return -1;
	if (mib > 0)
		m->mem_mib = mib;
	return 0;
}

void husk_pod_add(struct proxy *P, struct husk_ctl_conn *c, struct json_object *req, int *fds,
		  int nfds)
{
	struct husk_err err = {0};
	struct json_object *v, *create = NULL, *proc = NULL;
	const char *id = json_object_object_get_ex(req, "container", &v) &&
				 json_object_is_type(v, json_type_string)
			     ? json_object_get_string(v)
			     : "";
	int64_t mib =
	    json_object_object_get_ex(req, "memory_mib", &v) ? json_object_get_int64(v) : 0;
	struct husk_request r = {0};
	struct pod_member *m = NULL;
	int rc = -1;
	if (!P->created || P->stopping || !P->procs.init.started || P->procs.init.exited)
		husk_err_set(&err, ESRCH, "sandbox %s is not running", P->o->id);
	else if (nfds != 3)
		husk_err_set(&err, EINVAL, "pod.add needs three stdio descriptors");
	else if (husk_id_check(id, &err) < 0)
		;
	else if (!strcmp(id, P->o->id) || find(P, id))
		husk_err_set(&err, EEXIST, "container %s already exists in the pod", id);
	else if (!json_object_object_get_ex(req, "create", &create) ||
		 !json_object_object_get_ex(req, "process", &proc))
		husk_err_set(&err, EINVAL, "pod.add without the container");
	else if (fits_id(P, id, mib, &err) == 0 && create_request(P, id, create, &r, &err) == 0)
		rc = 0;
	if (rc == 0 && (!(m = calloc(1, sizeof *m)) || !(m->id = strdup(id))))
		rc = husk_err_set(&err, ENOMEM, "out of memory");
	if (rc == 0 && husk_process_from_json(proc, &m->spec, &err) < 0)
		rc = -1;
	if (rc < 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (m) {
			free(m->id);
			free(m);
		}
		husk_request_free(&r);
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
		return;
	}
	m->P = P;
	m->mem_mib = mib;
	uv_timer_init(P->loop, &m->stall);
	m->stall.data = m;
	husk_procs_init(&m->procs, &P->s, m->id, fds, -1, &member_ops, m);
	husk_procs_share_session(&m->procs, &P->procs);
	struct adding *a = malloc(sizeof *a);
	husk_ctl_conn_ref(c);
	if (!a || husk_session_request(&P->s, &r, added, a, &err) < 0) {
		free(a);
		husk_ctl_conn_unref(c);
		husk_ctl_reply(c, husk_ctl_error(a ? err.msg : "out of memory", 0));
		member_free(m);
	} else {
		*a = (struct adding){m, c};
	}
	husk_request_free(&r);
}

/* ---- the member's control requests ---- */

static void ignore_reply(struct husk_session *s, const struct husk_reply *r, void *data)
{
}

static void m_kill(struct pod_member *m, struct husk_ctl_conn *c, int sig, bool all)
{
	struct husk_proc *x = c->data ? c->data : &m->procs.init;
	if (sig < 1 || sig > 64) {
		husk_ctl_reply(c, husk_ctl_error("invalid signal", 0));
	} else if (x->is_init && !x->started && !x->exited) {
		/* a signal before its process runs ends it, as under runc */
		husk_ctl_reply(c, husk_ctl_ok());
		x->exited = x->done = true;
		x->status = 128 + sig;
		report_exit(m);
	} else if (x->exited) {
		husk_ctl_reply(c, husk_ctl_error("container not running", 0));
	} else {
		struct husk_request r = {
		    .op = HUSK_OP_PROCESS_SIGNAL,
		    .u.signal = {.process = x->base, .signal = sig, .all = all}};
		husk_proxy_forward(m->P, c, &r);
	}
}

static int int_field(struct json_object *req, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(req, key, &v) ? json_object_get_int(v) : 0;
}

static void m_start(struct pod_member *m, struct husk_ctl_conn *c)
{
	struct husk_err err;
	struct husk_proc *init = &m->procs.init;
	if (m->start_asked || init->exited) {
		husk_ctl_reply(c, husk_ctl_error("container is not in the created state", 0));
		return;
	}
	m->start_asked = true;
	husk_ctl_conn_ref(c);
	init->waiter = c;
	if (husk_proc_start(init, &m->spec, &err) < 0) {
		init->waiter = NULL;
		husk_ctl_conn_unref(c);
		m_start_failed(init, err.msg, 0, m);
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
	}
}

bool husk_pod_request(struct proxy *P, struct husk_ctl_conn *c, const char *op,
		      struct json_object *req, int *fds, int nfds)
{
	struct json_object *v;
	if (!json_object_object_get_ex(req, "container", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !strcmp(json_object_get_string(v), P->o->id))
		return false;
	const char *id = json_object_get_string(v);
	struct pod_member *m = find(P, id);
	if (!m || !strcmp(op, "exec")) {
		if (!m) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			husk_ctl_reply(c, husk_ctl_error("no such container in this pod", 0));
		} else {
			husk_proxy_exec(P, &m->procs, c, req, fds, nfds);
		}
		return true;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	struct husk_request r = {0};
	if (!strcmp(op, "start")) {
		m_start(m, c);
	} else if (!strcmp(op, "kill")) {
		m_kill(m, c, int_field(req, "signal"),
		       json_object_object_get_ex(req, "all", &v) && json_object_get_boolean(v));
	} else if (!strcmp(op, "resize")) {
		struct husk_proc *x = c->data ? c->data : c == m->link ? &m->procs.init : NULL;
		if (x)
			husk_proc_resize(x, (unsigned short)int_field(req, "rows"),
					 (unsigned short)int_field(req, "cols"));
	} else if (!strcmp(op, "ps")) {
		r.op = HUSK_OP_CONTAINER_PS;
		r.u.ps.container = m->id;
		husk_proxy_forward(P, c, &r);
	} else if (!strcmp(op, "ping")) {
		r.op = HUSK_OP_PING;
		husk_proxy_forward(P, c, &r);
	} else if (!strcmp(op, "update")) {
		/* the guest's cgroup: the VM's host cgroup is the sandbox's */
		struct husk_err err;
		if (!json_object_object_get_ex(req, "resources", &v) ||
		    !json_object_is_type(v, json_type_object)) {
			husk_ctl_reply(c, husk_ctl_error("update without resources", 0));
		} else if (m->procs.init.exited) {
			husk_ctl_reply(c, husk_ctl_error("container not running", 0));
		} else if (fits(P, m, husk_mib(husk_resource(v, "memory", "limit")), &err) < 0) {
			husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
		} else {
			r.op = HUSK_OP_CONTAINER_UPDATE;
			r.u.update.container = m->id;
			r.u.update.resources = v;
			husk_proxy_forward(P, c, &r);
		}
	} else if (!strcmp(op, "pause") || !strcmp(op, "resume")) {
		husk_ctl_reply(c, husk_ctl_error("a pod's container is paused with its sandbox: "
						 "pause the sandbox",
						 0));
	} else {
		husk_ctl_reply(c, husk_ctl_error("unknown control request", 0));
	}
	return true;
}

/* ---- a member that goes ---- */

/* Its processes killed and the container deleted in the guest; its part
 * of the share (and the staging mount its proxy made in our namespace)
 * removed. Nothing is left of it once its processes are done. */
static void member_remove(struct pod_member *m)
{
	struct proxy *P = m->P;
	struct husk_err err;
	m->gone = true;
	struct husk_proc *init = &m->procs.init;
	if (init->started && !init->exited)
		husk_proc_signal(init, SIGKILL, true);
	for (struct husk_proc *x = m->procs.execs; x; x = x->next)
		if (x->started && !x->exited)
			husk_proc_signal(x, SIGKILL, false);
	struct husk_request r = {.op = HUSK_OP_CONTAINER_DELETE, .u.ps.container = m->id};
	if (m->created && !P->stopping &&
	    husk_session_request(&P->s, &r, ignore_reply, NULL, &err) < 0)
		log_warn("cannot delete container %s in the VM: %s", m->id, err.msg);
	husk_share_ungraft(P->o->state_dir, m->id);
	_cleanup_free_ char *root = strdup(P->o->state_dir), *stage = NULL;
	if (root && asprintf(&stage, "%s/%s/" HUSK_SHARE_STAGE, dirname(root), m->id) >= 0)
		umount2(stage, MNT_DETACH);
	log_info("container %s left the pod", m->id);
	maybe_free(m);
}

void husk_pod_gone(struct proxy *P, struct husk_ctl_conn *c)
{
	for (struct pod_member *m = P->members; m; m = m->next)
		if (m->link == c) {
			m->link = NULL;
			husk_ctl_conn_unref(c);
			member_remove(m);
			return;
		}
}

bool husk_pod_exit(struct proxy *P, const struct husk_exit_event *e)
{
	for (struct pod_member *m = P->members; m; m = m->next)
		if (husk_procs_owns(&m->procs, e->process)) {
			husk_procs_exit(&m->procs, e);
			return true;
		}
	return false;
}

bool husk_pod_stream(struct proxy *P, const struct husk_frame_hdr *h, const uint8_t *p)
{
	for (struct pod_member *m = P->members; m; m = m->next)
		if (husk_procs_frame(&m->procs, h, p))
			return true;
	return false;
}
