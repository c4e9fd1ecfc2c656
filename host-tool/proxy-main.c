/* The proxy's start: its state, stdio, signals, bind mounts and VM, then
 * the event loop; the control socket opens once the container exists. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "binds.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "husk.h"
#include "pod.h"
#include "proxy-ctl.h"
#include "proxy-main.h"
#include "proxy-res.h"
#include "proxy.h"
#include "snapshot.h"
#include "tty.h"
#include "util.h"
#ifdef HUSK_TEST_BUILD
#include "testhooks.h"
#endif

static void on_signal(uv_signal_t *h, int sig)
{
	struct proxy *P = h->data;
	struct husk_proc *init = &P->procs.init;
	if (sig == SIGWINCH) {
		unsigned short rows, cols;
		if (init->tty_fd >= 0 && husk_tty_size(init->tty_fd, &rows, &cols) == 0)
			husk_proc_resize(init, rows, cols);
		return;
	}
	husk_proxy_signal(P, sig);
}

void husk_proxy_catch_signals(struct proxy *P, uv_signal_cb on)
{
	for (int sig = 1; sig < 32 && P->nsigs < HUSK_PROXY_MAX_SIGNALS; sig++) {
		if (!husk_signal_forwarded(sig) && sig != SIGWINCH)
			continue;
		uv_signal_t *h = &P->sigs[P->nsigs++];
		uv_signal_init(P->loop, h);
		h->data = P;
		uv_signal_start(h, on, sig);
	}
}

/* The container process's stdio: the caller's fds, or a terminal. */
int husk_proxy_stdio(struct proxy *P, int fds[3], int *tty_fd, struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	struct husk_tty_stdio t;
	for (int i = 0; i < 3; i++)
		fds[i] = i;
	*tty_fd = -1;
	if (!o->cfg.process.terminal)
		return 0;
	if (!o->console_socket && !o->cfg.process.rows && !o->cfg.process.cols && o->foreground)
		husk_tty_size(STDIN_FILENO, &o->cfg.process.rows, &o->cfg.process.cols);
	if (husk_tty_stdio(o->console_socket, o->foreground, o->cfg.process.rows,
			   o->cfg.process.cols, "process.terminal", &t, err) < 0)
		return -1;
	P->tty_raw = t.raw;
	memcpy(fds, t.fds, sizeof t.fds);
	*tty_fd = t.tty_fd;
	/* As the session leader with the pty as its terminal, the proxy hears
	 * SIGWINCH when the caller resizes the master. Its own stdio goes:
	 * callers wait for EOF on the pipe they gave it. */
	if (o->console_socket && !o->foreground) {
		ioctl(t.tty_fd, TIOCSCTTY, 0);
		if (husk_stdio_to_null() < 0)
			return husk_err_sys(err, errno, "cannot redirect stdio to /dev/null");
	}
	return 0;
}

static void nothing(uv_work_t *w)
{
}

static void nothing_done(uv_work_t *w, int status)
{
}

/* libuv starts its whole thread pool at the first request: 64 threads, about
 * 20 ms. Start it now, while the guest boots, not when output first flows. */
static void warm_thread_pool(struct proxy *P)
{
	static uv_work_t w;
	uv_queue_work(P->loop, &w, nothing, nothing_done);
}

static int serve(struct proxy *P, struct husk_err *err)
{
	return husk_ctl_serve(&P->ctl, P->loop, P->o->state_dir, &husk_proxy_ctl_ops, P, err);
}

/* The VM: QEMU and its session, and its monitor. */
static void start_vm(struct proxy *P, bool restore)
{
	struct proxy_opts *o = P->o;
	struct husk_err err;
	P->restoring = restore;
	if (husk_session_start(&P->s, P->loop, &o->vo, P->console_path, o->boot_timeout_s * 1000,
			       &husk_proxy_session_ops, P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	if (restore) {
		close(o->vo.incoming_fd);
		if (husk_snapshot_unique(&P->s, &err) < 0)
			husk_proxy_fail(P, &err, false);
	}
	P->st.vm_pid = P->s.vm.pid;
	P->st.vm_start_time = husk_proc_start_time(P->s.vm.pid);
	if (husk_qmp_init(&P->qmp, P->loop, P->s.vm.qmp_fd, &err) < 0)
		husk_proxy_fail(P, &err, false);
	P->s.vm.qmp_fd = -1; /* the client's now */
	P->qmp.data = P;
	if (restore && o->vo.ignore_shared && husk_snapshot_incoming(&P->qmp, &o->vo, &err) < 0)
		husk_proxy_fail(P, &err, false);
}

static void boot_instead(void *data)
{
	struct proxy *P = data;
	struct husk_vm_opts *vo = &P->o->vo;
	memset(&P->s, 0, sizeof P->s);
	memset(&P->qmp, 0, sizeof P->qmp);
	vo->incoming = vo->ignore_shared = false;
	vo->mem_file = NULL;
	start_vm(P, false);
	husk_proxy_set_status(P, "creating");
}

void husk_proxy_restore_failed(struct proxy *P, const struct husk_err *err)
{
	if (P->restart_asked)
		return;
	P->restart_asked = true;
	log_warn("restoring the VM from its snapshot failed (%s): booting it instead", err->msg);
	/* the monitor's handle closes first, so it is closed by the time the
	 * session's last one is */
	husk_qmp_close(&P->qmp);
	husk_session_end(&P->s, boot_instead, P);
}

void husk_proxy_main(struct proxy_opts *o)
{
	static struct proxy proxy;
	struct proxy *P = &proxy;
	P->serve = serve;
	struct husk_err err = {0};
	_cleanup_free_ char *console = NULL, *qlog = NULL;
	int fds[3], tty_fd;

	if (o->sandbox)
		husk_member_main(o); /* a pod's container: the VM is its sandbox's */
	P->o = o;
	P->sentinel.fd = -1;
	P->notify_on_start = o->autostart && !o->foreground;
	signal(SIGPIPE, SIG_IGN);
	/* Host writes wait in the thread pool while a reader is slow: give
	 * every stream its own thread before the pool starts. */
	setenv("UV_THREADPOOL_SIZE", "64", 0);
	P->loop = uv_default_loop();
	if (husk_proxy_init_state(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	husk_proxy_catch_signals(P, on_signal);
	uv_timer_init(P->loop, &P->stop_timer);
	uv_timer_init(P->loop, &P->create_timer);
	uv_timer_init(P->loop, &P->kill_timer);
	uv_timer_init(P->loop, &P->live_timer);
	uv_timer_init(P->loop, &P->stall_timer);
	P->kill_timer.data = P->live_timer.data = P->stall_timer.data = P;
	P->stop_timer.data = P->create_timer.data = P;
	if (husk_proxy_stdio(P, fds, &tty_fd, &err) < 0)
		husk_proxy_fail(P, &err, false);
	husk_procs_init(&P->procs, &P->s, o->id, fds, tty_fd, &husk_proxy_procs_ops, P);
	if (asprintf(&console, "%s/console.log", o->state_dir) < 0 ||
	    asprintf(&qlog, "%s/qemu.log", o->state_dir) < 0)
		husk_proxy_fail(P, &(struct husk_err){ENOMEM, "out of memory"}, false);
	o->vo.qemu_log = qlog;
	o->vo.state_dir = o->state_dir;
#ifdef HUSK_TEST_BUILD
	o->vo.keep_agent_sock = husk_test_hooks(); /* for the reconnect hook */
#endif
	/* the VM's one share: the rootfs (read-only at the VMM too for a
	 * read-only root: docs/security.md) and the bind sources */
	if (husk_share_prepare(&o->share, o->state_dir, o->id, o->rootfs, o->cfg.root_readonly,
			       &err) < 0 ||
	    husk_binds_prepare(o->id, o->bundle, o->share.part, o->cfg.mounts, &P->spec_mounts,
			       &o->binds_path, &o->binds_ro_path, &o->bind_view, &o->nbind_view,
			       &err) < 0 ||
	    husk_share_seal(&o->share, &err) < 0)
		husk_proxy_fail(P, &err, false);
	o->vo.share_path = o->share.dir;
	/* virtiofsd, QEMU and the sentinel start in the VM's host cgroup */
	if (husk_proxy_cgroup_setup(P, &err) < 0)
		husk_proxy_fail(P, &err, false);
	/* before any thread: the proxy and QEMU live in the container's
	 * network namespace */
	if (husk_netconf_setup(&o->net, &o->vo, husk_vm_max_nics(&o->vo), &err) < 0)
		husk_proxy_fail(P, &err, false);
	P->console_path = console;
	/* from a snapshot of a booted guest where one can serve (snapshot.h) */
	start_vm(P, husk_snapshot_use(&o->vo, o->vo.template_mode, o->boot_timeout_s));
	warm_thread_pool(P);
	P->st.vm_start_time = husk_proc_start_time(P->s.vm.pid);
	husk_proxy_set_status(P, "creating");
	uv_run(P->loop, UV_RUN_DEFAULT);
	husk_proxy_fail(P, &(struct husk_err){EIO, "internal error: event loop ended"}, false);
}
