/* husk create [options] ID, and what run shares with it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "husk-log.h"
#include "husk.h"
#include "proxy.h"
#include "state.h"

int husk_parse_uint(const char *s, unsigned lo, unsigned hi, const char *what, unsigned *out,
		    struct husk_err *err)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi)
		return husk_err_set(err, EINVAL, "%s must be a number from %u to %u, not \"%s\"",
				    what, lo, hi, s);
	*out = (unsigned)v;
	return 0;
}

int husk_create_opt(int c, const char *arg, struct create_args *a, struct proxy_opts *o,
		    struct husk_err *err)
{
	unsigned n;
	switch (c) {
	case 'b': a->bundle = arg; return 1;
	case 'p': a->pid_file = arg; return 1;
	case 'C': a->console_socket = arg; return 1;
	case 1001:
		log_debug("--no-pivot: the container always gets its own root in its VM");
		return 1;
	case 1002: log_debug("--no-new-keyring: keyrings are the guest kernel's own"); return 1;
	case 1003:
		if (husk_parse_uint(arg, 0, 1024, "--preserve-fds", &n, err) < 0)
			return -1;
		if (n)
			log_warn("--preserve-fds %u: host descriptors cannot cross into the VM", n);
		return 1;
	case 'K': o->vo.kernel = arg; return 1;
	case 'I': o->vo.initrd = arg; return 1;
	case 'Q': o->vo.qemu = arg; return 1;
	case 'M': o->vo.machine = arg; return 1;
	case 'A': return husk_accel_parse(arg, &o->vo.accel, err) < 0 ? -1 : 1;
	case 1004: o->vo.accel = HUSK_ACCEL_KVM; return 1;
	case 1005: o->vo.accel = HUSK_ACCEL_TCG; return 1;
	case 'm':
		return husk_parse_uint(arg, 32, 1 << 20, "--memory", &o->vo.mem_mib, err) < 0 ? -1
											      : 1;
	case 'c': return husk_parse_uint(arg, 1, 64, "--cpus", &o->vo.cpus, err) < 0 ? -1 : 1;
	case 'T':
		return husk_parse_uint(arg, 1, 3600, "--boot-timeout", &o->boot_timeout_s, err) < 0
			   ? -1
			   : 1;
	case 'S':
		o->share_set = true;
		return husk_share_parse(arg, &o->vo.virtiofs, err) < 0 ? -1 : 1;
	default: return 0;
	}
}

void husk_create_usage(FILE *f, const char *verb, const char *what)
{
	fprintf(
	    f,
	    "Usage: husk %s [options] ID\n%s\n\n"
	    "  -b, --bundle DIR         bundle with config.json and the rootfs (default: .)\n"
	    "      --pid-file FILE      write the container's PID (its proxy) there\n"
	    "      --console-socket S   send the pty master there (process.terminal)\n"
	    "      --no-pivot, --no-new-keyring, --preserve-fds N  accepted for runc callers\n"
	    "      --kernel FILE        guest kernel (env HUSK_KERNEL)\n"
	    "      --initrd FILE        initrd with husk-agent (env HUSK_INITRD)\n"
	    "      --qemu FILE          QEMU binary (env HUSK_QEMU)\n"
	    "      --machine TYPE       microvm, q35 or pc (env HUSK_MACHINE; default microvm)\n"
	    "      --accel A            kvm, tcg or auto (env HUSK_ACCEL; default auto)\n"
	    "      --kvm, --tcg         force an accelerator\n"
	    "      --memory MIB         guest memory (default 256)\n"
	    "      --cpus N             guest vCPUs (default 1)\n"
	    "      --boot-timeout S     seconds to wait for the agent (env HUSK_BOOT_TIMEOUT; 30)\n"
	    "      --share MODE         rootfs share: 9p or virtiofs (env HUSK_SHARE; default "
	    "9p)\n",
	    verb, what);
}

int husk_write_pid_file(const char *path, pid_t pid, struct husk_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%d", (int)pid) < 0 || rename(tmp, path) < 0) {
		husk_err_sys(err, errno, "cannot write pid file %s", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int husk_create_detached(struct proxy_opts *o, const struct create_args *a, struct husk_err *err)
{
	int p[2];
	if (husk_state_create(o->id, &o->state_dir, err) < 0)
		return -1;
	if (pipe2(p, O_CLOEXEC) < 0) {
		husk_state_remove(o->state_dir);
		return husk_err_sys(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0) {
		husk_state_remove(o->state_dir);
		return husk_err_sys(err, errno, "fork");
	}
	if (pid == 0) {
		/* The proxy: its own session, away from the caller's terminal
		 * signals; the caller's stdio stays the container's stdio. */
		close(p[0]);
		setsid();
		/* Keep nothing of the caller's but its stdio: containerd's shim,
		 * for one, hands its runtime a listening socket as fd 3. */
		int keep = fcntl(p[1], F_DUPFD_CLOEXEC, 3);
		if (keep > 3 && dup3(keep, 3, O_CLOEXEC) == 3) {
			close(keep);
			keep = 3;
		}
		close_range(keep + 1, ~0U, 0);
		if (keep > 3)
			close_range(3, keep - 1, 0);
		husk_log_to_state(o->state_dir);
		o->notify_fd = keep;
		o->console_socket = a->console_socket;
		husk_proxy_main(o);
	}
	close(p[1]);
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
	if (strcmp(msg, "ok") != 0) {
		/* the proxy has exited or is exiting: reap it, clean up */
		int status;
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		husk_state_remove(o->state_dir);
		return husk_err_set(err, EIO, "%s",
				    got ? msg : "the container's proxy died while starting");
	}
	if (a->pid_file && husk_write_pid_file(a->pid_file, pid, err) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		husk_state_remove(o->state_dir);
		return -1;
	}
	return 0;
}

int husk_create_env(struct proxy_opts *o, struct husk_err *err)
{
	const char *t = getenv("HUSK_BOOT_TIMEOUT");
	return t ? husk_parse_uint(t, 1, 3600, "HUSK_BOOT_TIMEOUT", &o->boot_timeout_s, err) : 0;
}

int husk_cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {HUSK_CREATE_LONGOPTS, {0}};
	_cleanup_proxy_opts_ struct proxy_opts o = {.notify_fd = -1, .boot_timeout_s = 30};
	struct create_args a = {.bundle = "."};
	struct husk_err err = {0};
	int c;
	if (husk_create_env(&o, &err) < 0)
		return husk_fail(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		if (c == 'h') {
			husk_create_usage(
			    stdout, "create",
			    "Boot a VM and create the container in it; start runs its process.");
			return 0;
		}
		int r = husk_create_opt(c, optarg, &a, &o, &err);
		if (r < 0)
			return husk_fail(&err);
		if (r == 0) {
			husk_create_usage(stderr, "create", "");
			return HUSK_EXIT_RUNTIME;
		}
	}
	if (optind != argc - 1) {
		husk_err_set(&err, EINVAL, "create needs exactly one container ID");
		return husk_fail(&err);
	}
	if (husk_proxy_prepare(&o, a.bundle, argv[optind], &err) < 0 ||
	    husk_create_detached(&o, &a, &err) < 0)
		return husk_fail(&err);
	return 0;
}
