/* Options and the start of a container's proxy, for create and run. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "husk-log.h"
#include "husk.h"
#include "launch.h"
#include "snapshot.h"
#include "proxy-main.h"
#include "state.h"
#include "util.h"

enum {
	OPT_NO_PIVOT = 1001,
	OPT_NO_NEW_KEYRING,
	OPT_PRESERVE_FDS,
	OPT_KVM,
	OPT_TCG,
	OPT_TEMPLATE,
};

const struct husk_opt husk_launch_opts[] = {
    {"bundle", required_argument, 'b', "DIR",
     "bundle with config.json and the rootfs (default: .)"},
    {"pid-file", required_argument, 'p', "FILE",
     "write the container's PID on the host (its sentinel) there"},
    {"console-socket", required_argument, 'C', "S", "send the pty master there (process.terminal)"},
    {"no-pivot", no_argument, OPT_NO_PIVOT, NULL, NULL},
    {"no-new-keyring", no_argument, OPT_NO_NEW_KEYRING, NULL, NULL},
    {"preserve-fds", required_argument, OPT_PRESERVE_FDS, "N", NULL},
    {"kernel", required_argument, 'K', "FILE", "guest kernel (env HUSK_KERNEL)"},
    {"initrd", required_argument, 'I', "FILE", "initrd with husk-agent (env HUSK_INITRD)"},
    {"qemu", required_argument, 'Q', "FILE", "QEMU binary (env HUSK_QEMU)"},
    {"machine", required_argument, 'M', "TYPE",
     "microvm, q35 or pc (env HUSK_MACHINE; default microvm)"},
    {"accel", required_argument, 'A', "A", "kvm, tcg or auto (env HUSK_ACCEL; default auto)"},
    {"kvm", no_argument, OPT_KVM, NULL, "force KVM"},
    {"tcg", no_argument, OPT_TCG, NULL, "force TCG"},
    {"memory", required_argument, 'm', "MIB", "guest memory (default 256)"},
    {"cpus", required_argument, 'c', "N", "guest vCPUs (default 1)"},
    {"boot-timeout", required_argument, 'T', "S",
     "seconds to wait for the agent (env HUSK_BOOT_TIMEOUT; 30)"},
    {"template", required_argument, OPT_TEMPLATE, "MODE",
     "start from a snapshot of a booted guest: private (default), shared (RAM copy-on-write "
     "between VMs) or off (boot; env HUSK_TEMPLATE, annotation husk.vm.template)"},
    {"share", required_argument, 'S', "MODE",
     "the share (rootfs, bind sources): virtiofs or 9p (env HUSK_SHARE; default virtiofs)"},
    HUSK_OPT_END,
};

int husk_launch_init(struct husk_launch *l, struct husk_err *err)
{
	/* virtiofs by default: QEMU's 9p server refuses fifos and sockets
	 * (docs/decisions.md, "The rootfs share") */
	*l = (struct husk_launch){
	    .bundle = ".", .o = {.notify_fd = -1, .boot_timeout_s = 30, .vo.virtiofs = true}};
	const char *t = getenv("HUSK_BOOT_TIMEOUT");
	return t ? husk_parse_uint(t, 1, 3600, "HUSK_BOOT_TIMEOUT", &l->o.boot_timeout_s, err) : 0;
}

int husk_launch_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct husk_launch *l = data;
	struct proxy_opts *o = &l->o;
	unsigned n;
	switch (key) {
	case 'b': l->bundle = arg; return 0;
	case 'p': l->pid_file = arg; return 0;
	case 'C': l->console_socket = arg; return 0;
	case OPT_NO_PIVOT:
		log_debug("--no-pivot: the container always gets its own root in its VM");
		return 0;
	case OPT_NO_NEW_KEYRING:
		log_debug("--no-new-keyring: keyrings are the guest kernel's own");
		return 0;
	case OPT_PRESERVE_FDS:
		if (husk_parse_uint(arg, 0, 1024, "--preserve-fds", &n, err) < 0)
			return -1;
		if (n)
			log_warn("--preserve-fds %u: host descriptors cannot cross into the VM", n);
		return 0;
	case 'K': o->vo.kernel = arg; return 0;
	case 'I': o->vo.initrd = arg; return 0;
	case 'Q': o->vo.qemu = arg; return 0;
	case 'M': o->vo.machine = arg; return 0;
	case 'A': return husk_accel_parse(arg, &o->vo.accel, err);
	case OPT_KVM: o->vo.accel = HUSK_ACCEL_KVM; return 0;
	case OPT_TCG: o->vo.accel = HUSK_ACCEL_TCG; return 0;
	case 'm': return husk_parse_uint(arg, 32, 1 << 20, "--memory", &o->vo.mem_mib, err);
	case 'c': return husk_parse_uint(arg, 1, 64, "--cpus", &o->vo.cpus, err);
	case 'T': return husk_parse_uint(arg, 1, 3600, "--boot-timeout", &o->boot_timeout_s, err);
	case 'S': o->share_set = true; return husk_share_parse(arg, &o->vo.virtiofs, err);
	case OPT_TEMPLATE: {
		enum husk_template t;
		if (husk_template_parse(arg, &t, err) < 0)
			return husk_err_prefix(err, "--template");
		o->vo.template_mode = (int)t;
		o->vo.template_set = true;
		return 0;
	}
	default: return husk_err_set(err, EINVAL, "internal error: option %d", key);
	}
}

int husk_launch_prepare(struct husk_launch *l, const char *id, struct husk_err *err)
{
	return husk_bundle_prepare(&l->o, l->bundle, id, err);
}

/* Wait up to 10 s for a proxy that reported a failure to exit on its own,
 * then kill it. */
static void reap_proxy(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The container's state directory, made and locked, with the config this
 * create read kept in it (config.json, 0600): every later verb reads that
 * copy, never the bundle (docs/security.md, "The config is read once").
 * The lock is held until the first state.json is written, so a delete in
 * between waits and then finds a container to delete, not a directory
 * without state that it would take for a dead create's. made: the
 * directory's identity, so that a failing create removes its own only. */
static int make_state(struct proxy_opts *o, struct stat *made, int *lock, struct husk_err *err)
{
	*lock = -1;
	if (husk_state_create(o->id, &o->state_dir, err) < 0)
		return -1;
	if (lstat(o->state_dir, made) < 0)
		return husk_err_sys(err, errno, "cannot create state for %s", o->id);
	if ((*lock = husk_state_lock(o->state_dir, err)) < 0)
		return husk_err_set(err, ENOENT, "container %s was deleted while it was created",
				    o->id);
	struct stat st;
	if (fstat(*lock, &st) < 0 || st.st_dev != made->st_dev || st.st_ino != made->st_ino) {
		husk_closep(lock);
		*lock = -1;
		return husk_err_set(err, ENOENT, "container %s was deleted while it was created",
				    o->id);
	}
	if (husk_config_save(&o->cfg, o->state_dir, err) < 0) {
		husk_state_remove(o->state_dir);
		husk_closep(lock);
		*lock = -1;
		return -1;
	}
	free(o->cfg.text); /* kept there now; the proxy has it parsed */
	o->cfg.text = NULL;
	o->cfg.text_len = 0;
	return 0;
}

/* The first state.json, written under the lock make_state took: the proxy
 * (pid) is creating the container. The proxy writes its own next. */
static int first_state(struct proxy_opts *o, pid_t pid, struct husk_err *err)
{
	char now[64];
	husk_now_rfc3339(now, sizeof now);
	unsigned long long t = husk_proc_start_time(pid);
	const struct husk_state st = {.id = (char *)o->id,
				      .bundle = o->bundle,
				      .rootfs = o->rootfs,
				      .status = (char *)"creating",
				      .created = now,
				      .pid = pid,
				      .start_time = t,
				      .proxy_pid = pid,
				      .proxy_start_time = t,
				      .exit_status = -1};
	return husk_state_write(o->state_dir, &st, err);
}

int husk_launch_detached(struct husk_launch *l, struct husk_err *err)
{
	struct proxy_opts *o = &l->o;
	struct stat made;
	int p[2], lock;
	if (make_state(o, &made, &lock, err) < 0)
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		husk_state_remove(o->state_dir);
		close(lock);
		return husk_err_sys(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		husk_state_remove(o->state_dir);
		close(lock);
		return husk_err_sys(err, errno, "fork");
	}
	if (pid == 0) {
		/* The proxy: its own session, away from the caller's terminal
		 * signals; the caller's stdio stays the container's stdio. */
		close(p[0]);
		setsid();
		/* Keep nothing of the caller's but its stdio: containerd's shim,
		 * for one, hands its runtime a listening socket as fd 3. */
		int keep[2] = {p[1], husk_log_fd()};
		husk_close_fds_except(keep, 2);
		husk_log_to_state(o->state_dir);
		o->notify_fd = p[1];
		o->console_socket = l->console_socket;
		husk_proxy_main(o);
	}
	close(p[1]);
	/* the proxy, still our child (its pid cannot be reused), is the
	 * container's now; it blocks on the lock until we let go of it */
	if (first_state(o, pid, err) < 0) {
		close(lock);
		close(p[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		husk_state_remove_made(o->state_dir, made.st_dev, made.st_ino);
		return -1;
	}
	close(lock);
	char msg[1024];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof msg - 1 && (n = read(p[0], msg + got, sizeof msg - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += n;
	}
	close(p[0]);
	msg[got] = '\0';
	int cpid = 0;
	if (sscanf(msg, "ok %d", &cpid) != 1 || cpid <= 0) {
		/* The proxy is exiting: it stops its VM and removes what it made
		 * (taps, filters, mounts). Let it, then make sure it is gone. */
		reap_proxy(pid);
		husk_state_remove_made(o->state_dir, made.st_dev, made.st_ino);
		return husk_err_set(err, EIO, "%s",
				    got ? msg : "the container's proxy died while starting");
	}
	if (l->pid_file && husk_write_pid_file(l->pid_file, cpid, err) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		husk_state_remove_made(o->state_dir, made.st_dev, made.st_ino);
		return -1;
	}
	return 0;
}

void husk_launch_foreground(struct husk_launch *l)
{
	struct husk_err err;
	struct proxy_opts *o = &l->o;
	struct stat made;
	int lock;
	if (make_state(o, &made, &lock, &err) < 0)
		exit(husk_fail(&err));
	if (first_state(o, getpid(), &err) < 0) {
		husk_state_remove(o->state_dir);
		exit(husk_fail(&err));
	}
	close(lock);
	o->pid_file = l->pid_file;
	o->foreground = true;
	o->console_socket = l->console_socket;
	husk_proxy_main(o);
}

void husk_launch_free(struct husk_launch *l)
{
	husk_proxy_opts_free(&l->o);
}
