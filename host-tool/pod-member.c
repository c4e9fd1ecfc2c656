/* A pod's container's own proxy (pod.h): no VM of its own. It joins the
 * sandbox proxy's mount namespace, stages the container's part of the
 * share and grafts it into the sandbox's share, starts the sentinel, hands
 * the container (config, process, stdio) to the sandbox's proxy on the
 * link, and then stands for the container: its control socket forwards
 * every request to the sandbox's naming the container, the signals it and
 * the sentinel get go down the link, and it exits with the status the link
 * brings back. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "binds.h"
#include "ctl.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "husk.h"
#include "pod.h"
#include "proxy.h"
#include "tty.h"
#include "util.h"
#include "vmconf.h"

struct pod_link {
	int fd; /* to the sandbox's proxy */
	uv_poll_t poll;
	bool grafted;
};

/* ---- which containers are a pod's ---- */

static const char *annotation(const struct husk_config *c, const char *a, const char *b)
{
	const char *v = husk_config_annotation(c, a);
	return v ? v : husk_config_annotation(c, b);
}

/* The running husk container whose VM already serves network namespace
 * path (the same inode as the one its state names), or NULL: a second VM
 * must never mirror the same interfaces. */
static char *serving_vm(const char *path)
{
	struct stat want;
	struct dirent **names = NULL;
	char *found = NULL;
	if (stat(path, &want) < 0)
		return NULL;
	int n = scandir(husk_global.root, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		struct husk_state st;
		struct stat have;
		if (!found && names[i]->d_name[0] != '.' &&
		    husk_state_read(names[i]->d_name, &st, NULL) == 0) {
			if (st.netns && husk_state_alive(&st) && stat(st.netns, &have) == 0 &&
			    have.st_dev == want.st_dev && have.st_ino == want.st_ino)
				found = strdup(st.id);
			husk_state_free(&st);
		}
		free(names[i]);
	}
	free(names);
	return found;
}

int husk_pod_resolve(struct proxy_opts *o, struct husk_err *err)
{
	const char *type = annotation(&o->cfg, HUSK_CRI_TYPE, HUSK_CRIO_TYPE);
	const char *sb = annotation(&o->cfg, HUSK_CRI_SANDBOX, HUSK_CRIO_SANDBOX);
	struct husk_state st;
	if (!type || strcmp(type, "container") != 0) {
		/* a sandbox, or a container of its own: but not one in a
		 * network namespace another VM serves (a podman pod) */
		_cleanup_free_ char *other = o->net.mode == HUSK_NETMODE_MIRROR && o->net.ns_path
						 ? serving_vm(o->net.ns_path)
						 : NULL;
		if (other)
			return husk_err_set(
			    err, EBUSY,
			    "network namespace %s is served by container %s's VM: a second VM "
			    "cannot share it; create this container in that pod (annotations "
			    "%s=container, "
			    "%s=%s)",
			    o->net.ns_path, other, HUSK_CRI_TYPE, HUSK_CRI_SANDBOX, other);
		return 0;
	}
	if (!sb || !*sb)
		return husk_err_set(err, EINVAL, "annotation %s: a pod's container needs %s",
				    HUSK_CRI_TYPE, HUSK_CRI_SANDBOX);
	if (husk_id_check(sb, err) < 0)
		return husk_err_prefix(err, "annotation " HUSK_CRI_SANDBOX);
	if (husk_state_read(sb, &st, NULL) < 0)
		return husk_err_set(err, ENOENT, "sandbox %s does not exist", sb);
	const char *status = husk_state_status(&st);
	bool running = !strcmp(status, "running");
	bool member = husk_pod_sandbox_of(&st) != NULL;
	husk_state_free(&st);
	if (member)
		return husk_err_set(err, EINVAL, "%s is a pod's container, not a sandbox", sb);
	if (!running)
		return husk_err_set(err, ESRCH, "sandbox %s is %s, not running", sb, status);
	if (!(o->sandbox = strdup(sb)) || !(o->sandbox_dir = husk_state_dir(sb)))
		return husk_err_set(err, ENOMEM, "out of memory");
	/* the network is the sandbox's VM's: nothing of it is this one's */
	o->net = (struct husk_netconf){.mode = HUSK_NETMODE_NONE, .host_ns = -1};
	return 0;
}

const char *husk_pod_sandbox_of(const struct husk_state *st)
{
	struct json_object *t, *sb;
	if (!st->annotations || !json_object_object_get_ex(st->annotations, HUSK_CRI_TYPE, &t) ||
	    strcmp(json_object_get_string(t), "container") ||
	    !json_object_object_get_ex(st->annotations, HUSK_CRI_SANDBOX, &sb))
		return NULL;
	return json_object_get_string(sb);
}

/* ---- the link: what the sandbox's proxy says of the container ---- */

static void link_send(struct proxy *P, struct json_object *o)
{
	struct husk_err err;
	json_object_object_add(o, "container", json_object_new_string(P->o->id));
	if (husk_ctl_send(P->link->fd, o, NULL, 0, &err) < 0)
		log_warn("%s", err.msg);
	json_object_put(o);
}

void husk_member_signal(struct proxy *P, int sig)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "op", json_object_new_string("kill"));
	json_object_object_add(o, "signal", json_object_new_int(sig));
	link_send(P, o);
}

static void on_link(uv_poll_t *h, int status, int events)
{
	struct proxy *P = h->data;
	struct husk_err err;
	struct json_object *m, *v;
	int fds[4], nfds = 4;
	if (husk_ctl_recv(P->link->fd, &m, fds, &nfds, &err) < 0 || !m) {
		/* the sandbox's proxy is gone, and the VM with it */
		log_warn("the pod's sandbox %s went away: container %s is stopped", P->o->sandbox,
			 P->o->id);
		husk_proxy_finish(P, 128 + SIGKILL);
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (json_object_object_get_ex(m, "started", &v)) {
		P->procs.init.started = true;
		husk_proxy_set_status(P, "running");
		if (P->notify_on_start)
			husk_proxy_notify_ok(P);
	} else if (json_object_object_get_ex(m, "start_failed", &v)) {
		const char *msg = json_object_get_string(v);
		int code = json_object_object_get_ex(m, "status", &v) ? json_object_get_int(v)
								      : HUSK_EXIT_RUNTIME;
		if (P->o->foreground)
			fprintf(stderr, "husk: %s\n", msg);
		husk_proxy_notify(P, msg);
		log_error("%s", msg);
		husk_proxy_finish(P, code);
	} else if (json_object_object_get_ex(m, "exit", &v)) {
		P->procs.init.exited = true;
		P->procs.init.status = json_object_get_int(v);
		P->st.exit_status = P->procs.init.status;
		husk_proxy_finish(P, P->procs.init.status);
	}
	json_object_put(m); /* replies to our kills */
}

/* ---- the control socket: every request forwarded ---- */

struct fwd {
	struct husk_ctl_conn *c;
	int fd;
	uv_poll_t poll;
	struct fwd *next;
};

static struct fwd *fwds; /* open forwarding connections */

static void fwd_closed(uv_handle_t *h)
{
	struct fwd *f = h->data;
	close(f->fd);
	free(f);
}

/* One answer from the sandbox's proxy to the client; false at the end. */
static bool fwd_relay(struct fwd *f)
{
	struct husk_err err;
	struct json_object *m;
	int fds[4], nfds = 4;
	if (husk_ctl_recv(f->fd, &m, fds, &nfds, &err) < 0 || !m)
		return false;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	husk_ctl_reply(f->c, m);
	return true;
}

/* Before the member proxy ends: what the sandbox's proxy has already
 * answered (a start's reply comes before the exit of a process that ends
 * at once, on another connection) reaches its client. */
static void fwd_drain(void)
{
	for (struct fwd *f = fwds; f; f = f->next) {
		struct pollfd pf = {f->fd, POLLIN, 0};
		while (poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN) && fwd_relay(f))
			;
	}
}

static void fwd_end(struct fwd *f)
{
	struct husk_ctl_conn *c = f->c;
	for (struct fwd **pp = &fwds; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	c->data = NULL;
	uv_poll_stop(&f->poll);
	uv_close((uv_handle_t *)&f->poll, fwd_closed);
	husk_ctl_conn_close(c);
	husk_ctl_conn_unref(c);
}

static void on_upstream(uv_poll_t *h, int status, int events)
{
	struct fwd *f = h->data;
	if (!fwd_relay(f))
		fwd_end(f);
}

static void fwd_request(struct husk_ctl_conn *c, struct json_object *req, int *fds, int nfds,
			void *data)
{
	struct proxy *P = data;
	struct husk_err err;
	struct fwd *f = c->data;
	if (!f) {
		int fd = husk_ctl_connect(P->o->sandbox_dir, &err);
		if (fd < 0 || !(f = calloc(1, sizeof *f))) {
			if (fd >= 0)
				close(fd);
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			husk_ctl_reply(c, husk_ctl_error("the pod's sandbox is gone", 0));
			return;
		}
		*f = (struct fwd){.c = c, .fd = fd, .next = fwds};
		fwds = f;
		uv_poll_init(P->loop, &f->poll, fd);
		f->poll.data = f;
		uv_poll_start(&f->poll, UV_READABLE | UV_DISCONNECT, on_upstream);
		husk_ctl_conn_ref(c);
		c->data = f;
	}
	json_object_object_add(req, "container", json_object_new_string(P->o->id));
	if (husk_ctl_send(f->fd, req, fds, nfds, &err) < 0)
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

static void fwd_gone(struct husk_ctl_conn *c, void *data)
{
	if (c->data)
		fwd_end(c->data);
}

static const struct husk_ctl_server_ops fwd_ops = {.request = fwd_request, .gone = fwd_gone};

/* ---- start and end ---- */

void husk_member_finish(struct proxy *P, int code)
{
	struct proxy_opts *o = P->o;
	fwd_drain();
	if (P->link->grafted)
		husk_share_ungraft(o->sandbox_dir, o->id);
	husk_share_unmount(&o->share);
	if (P->tty_raw)
		husk_tty_restore();
	P->st.exit_status = code;
	if (o->foreground) {
		husk_sentinel_exit(&P->sentinel, code);
		_cleanup_close_ int lock = husk_state_lock(o->state_dir, NULL);
		if (lock >= 0)
			husk_state_remove(o->state_dir);
	} else {
		husk_proxy_set_status(P, "stopped");
		_cleanup_free_ char *sock = NULL;
		if (asprintf(&sock, "%s/ctl.sock", o->state_dir) >= 0)
			unlink(sock);
		husk_sentinel_exit(&P->sentinel, code);
	}
	fflush(NULL);
	_exit(code);
}

static void on_signal(uv_signal_t *h, int sig)
{
	struct proxy *P = h->data;
	if (sig == SIGWINCH) {
		unsigned short rows, cols;
		if (P->procs.init.tty_fd >= 0 &&
		    husk_tty_size(P->procs.init.tty_fd, &rows, &cols) == 0) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "op", json_object_new_string("resize"));
			json_object_object_add(o, "rows", json_object_new_int(rows));
			json_object_object_add(o, "cols", json_object_new_int(cols));
			link_send(P, o);
		}
		return;
	}
	husk_member_signal(P, sig);
}

/* Into the sandbox proxy's mount namespace, where its share is: by a
 * pidfd of the process state.json names, checked against its start time. */
static int join_sandbox_ns(struct proxy *P, struct husk_err *err)
{
	struct husk_state st;
	_cleanup_pidref_ struct husk_pidref r = {.fd = -1};
	if (husk_state_read(P->o->sandbox, &st, err) < 0)
		return -1;
	int rc = husk_pidref_open(&r, st.proxy_pid, st.proxy_start_time);
	husk_state_free(&st);
	if (rc < 0)
		return husk_err_set(err, ESRCH, "sandbox %s is not running", P->o->sandbox);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)r.pid);
	_cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
	/* the pid is still the sandbox's proxy (the pidfd holds it) */
	if (ns < 0 || (r.fd >= 0 && husk_pidref_signal(&r, 0) < 0) || setns(ns, CLONE_NEWNS) < 0)
		return husk_err_sys(err, errno, "cannot join sandbox %s's mount namespace",
				    P->o->sandbox);
	return 0;
}

/* The container's part of the share: staged, sealed, grafted. */
static int share_part(struct proxy *P, struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	if (husk_share_stage(&o->share, o->state_dir, o->id, o->rootfs, o->cfg.root_readonly, err) <
		0 ||
	    husk_binds_prepare(o->id, o->bundle, o->share.part, o->cfg.mounts, &P->spec_mounts,
			       &o->binds_path, &o->binds_ro_path, &o->bind_view, &o->nbind_view,
			       err) < 0 ||
	    husk_share_seal(&o->share, err) < 0 ||
	    husk_share_graft(&o->share, o->sandbox_dir, o->id, err) < 0)
		return -1;
	if (asprintf(&o->staged_rootfs, "%s/" HUSK_SHARE_ROOTFS, o->share.part) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	P->link->grafted = true;
	return 0;
}

/* pod.add: the container.create fields, its process, its stdio. */
static int hand_over(struct proxy *P, const int fds[3], struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	struct json_object *reply = NULL, *v;
	struct husk_request cr;
	char host[HOST_NAME_MAX + 1];
	_cleanup_json_ struct json_object *spec = husk_proxy_create_request(P, &cr, host);
	_cleanup_json_ struct json_object *req = json_object_new_object(),
					  *create = husk_request_encode(&cr);
	if (!create)
		return husk_err_set(err, ENOMEM, "out of memory");
	struct json_object *res = NULL;
	if (o->cfg.linux_)
		json_object_object_get_ex(o->cfg.linux_, "resources", &res);
	int64_t limit = husk_resource(res, "memory", "limit");
	json_object_object_add(req, "op", json_object_new_string("pod.add"));
	json_object_object_add(req, "container", json_object_new_string(o->id));
	json_object_object_add(req, "create", json_object_get(create));
	json_object_object_add(req, "process", husk_process_to_json(&o->cfg.process));
	json_object_object_add(
	    req, "memory_mib",
	    json_object_new_int64(limit > 0 ? (limit + (1 << 20) - 1) / (1 << 20) : 0));
	if (husk_ctl_send(P->link->fd, req, fds, 3, err) < 0 ||
	    husk_ctl_recv(P->link->fd, &reply, NULL, NULL, err) < 0)
		return -1;
	if (!reply)
		return husk_err_set(err, ECONNRESET, "sandbox %s went away", o->sandbox);
	int rc = 0;
	if (json_object_object_get_ex(reply, "error", &v))
		rc = husk_err_set(err, EINVAL, "%s", json_object_get_string(v));
	json_object_put(reply);
	return rc;
}

void husk_member_main(struct proxy_opts *o)
{
	static struct proxy proxy;
	static struct pod_link link = {.fd = -1};
	struct proxy *P = &proxy;
	struct husk_err err = {0};
	int fds[3], tty_fd;
	P->o = o;
	P->link = &link;
	P->sentinel.fd = -1;
	P->notify_on_start = o->autostart && !o->foreground;
	signal(SIGPIPE, SIG_IGN);
	P->loop = uv_default_loop();
	if (husk_proxy_init_state(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	husk_proxy_catch_signals(P, on_signal);
	if (husk_proxy_stdio(P, fds, &tty_fd, &err) < 0)
		husk_proxy_fail(P, &err, false);
	husk_procs_init(&P->procs, NULL, o->id, fds, tty_fd, NULL, P);
	/* the rootfs and bind sources as mounted here, taken before joining
	 * the sandbox's namespace, which may predate them; then (before any
	 * thread: setns into a mount namespace needs one) the part made there */
	if (husk_share_take_tree(o->rootfs, true, &err) < 0 ||
	    husk_binds_take_trees(o->bundle, o->cfg.mounts, &err) < 0 ||
	    join_sandbox_ns(P, &err) < 0 || share_part(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	if ((link.fd = husk_ctl_connect(o->sandbox_dir, &err)) < 0)
		husk_proxy_fail(P, &err, false);
	if (hand_over(P, fds, &err) < 0)
		husk_proxy_fail(P, &err, false);
	P->created = true;
	if (husk_proxy_start_sentinel(P, &err) < 0 ||
	    (!o->foreground &&
	     husk_ctl_serve(&P->ctl, P->loop, o->state_dir, &fwd_ops, P, &err) < 0))
		husk_proxy_fail(P, &err, false);
	uv_poll_init(P->loop, &link.poll, link.fd);
	link.poll.data = P;
	uv_poll_start(&link.poll, UV_READABLE | UV_DISCONNECT, on_link);
	husk_proxy_set_status(P, "created");
	if (o->autostart) {
		struct json_object *s = json_object_new_object();
		json_object_object_add(s, "op", json_object_new_string("start"));
		link_send(P, s);
	} else {
		husk_proxy_notify_ok(P);
	}
	uv_run(P->loop, UV_RUN_DEFAULT);
	husk_proxy_fail(P, &(struct husk_err){EIO, "internal error: event loop ended"}, false);
}
