/* The container's PID on the host: see sentinel.h.
 *
 * The proxy forks a helper that unshares a pid and a mount namespace and
 * forks the sentinel (PID 1 there), then exits: the sentinel is reparented
 * to the nearest subreaper, as runc's container process is. The helper and
 * the sentinel report on one SOCK_SEQPACKET socket: "P" + the sentinel's
 * pid, then "K" (in place) or "E" + what failed. After that each message
 * from the sentinel is one byte, a signal to forward, and the proxy's one
 * message to it is the exit code (an int).
 *
 * Both children are forks of a threaded process: they make only system
 * calls (and snprintf into their own buffers) until they exit. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "husk-facts.h"
#include "husk.h"
#include "sentinel.h"

#define HANDSHAKE_MS 10000

static int sentinel_fd = -1;

static void forward_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int e = errno;
	ssize_t n = send(sentinel_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n;
	errno = e;
}

/* PID 1 of its namespace: whatever enters it (nsenter, podman) and exits
 * is ours to reap. */
static void reap(int sig)
{
	int e = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

static void report(int fd, char tag, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	msg[0] = tag;
	va_start(ap, fmt);
	vsnprintf(msg + 1, sizeof msg - 1, fmt, ap);
	va_end(ap);
	ssize_t n = send(fd, msg, 1 + strlen(msg + 1), MSG_NOSIGNAL);
	(void)n;
}

/* path inside the rootfs, never leaving it (symlinks resolve inside) */
static int open_in_root(int root, const char *path)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	while (*path == '/')
		path++;
	if (!*path)
		return fcntl(root, F_DUPFD_CLOEXEC, 0);
	return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

/* Make dest inside the rootfs (its directories, then a directory or an
 * empty file like src) where the guest has not made it yet; every step is
 * resolved in the rootfs. */
static void make_in_root(int root, const char *dest, const char *src)
{
	char path[PATH_MAX];
	struct stat st;
	bool dir = stat(src, &st) < 0 || S_ISDIR(st.st_mode);
	snprintf(path, sizeof path, "%s", dest);
	for (char *p = path; *p; p++) {
		bool last = !strchr(p + 1, '/');
		char *slash = last ? NULL : strchr(p + 1, '/');
		if (slash)
			*slash = '\0';
		int fd = open_in_root(root, path);
		if (fd >= 0) {
			close(fd);
		} else if (errno == ENOENT) {
			char *base = strrchr(path, '/');
			char parent[PATH_MAX];
			snprintf(parent, sizeof parent, "%.*s", base ? (int)(base - path) : 0,
				 path);
			int pfd = open_in_root(root, parent);
			const char *name = base ? base + 1 : path;
			if (pfd < 0)
				return;
			if (!last || dir)
				mkdirat(pfd, name, 0755);
			else
				close(openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC,
					     0644));
			close(pfd);
		}
		if (!slash)
			return;
		*slash = '/';
		p = slash;
	}
}

/* mount at a path resolved in the rootfs; 1 when it is not there */
static int mount_in_root(int root, const char *dest, const char *src, const char *type,
			 unsigned long flags)
{
	char p[64];
	int fd = open_in_root(root, dest);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	int r = mount(src, p, type, flags, NULL);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

/* The guest can change the rootfs under us: a read-only bind that did not
 * end up read-only (dest swapped between the mount and the remount) is
 * taken away rather than left writable. */
static void ensure_read_only(int root, const char *dest)
{
	struct statvfs sv;
	char p[64];
	int fd = open_in_root(root, dest);
	if (fd < 0)
		return;
	if (fstatvfs(fd, &sv) < 0 || !(sv.f_flag & ST_RDONLY)) {
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		umount2(p, MNT_DETACH);
	}
	close(fd);
}

static int setup_view(int fd, const struct husk_sentinel_view *v)
{
	const char *what;
	if (mount(NULL, "/", "none", MS_REC | MS_SLAVE, NULL) < 0) {
		what = "cannot make its mounts private";
		goto fail;
	}
	if (mount(v->rootfs, v->rootfs, "none", MS_BIND | MS_REC, NULL) < 0) {
		what = "cannot bind the rootfs";
		goto fail;
	}
	int root = open(v->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		what = "cannot open the rootfs";
		goto fail;
	}
	/* where the guest mounts them; a destination the guest has not made
	 * (or one it cannot show) is left as it is */
	for (size_t i = 0; i < v->nbinds; i++) {
		const struct husk_sentinel_bind *b = &v->binds[i];
		make_in_root(root, b->dest, b->source);
		if (mount_in_root(root, b->dest, b->source, "none", MS_BIND | MS_REC) != 0 ||
		    !b->readonly)
			continue;
		mount_in_root(root, b->dest, NULL, "none", MS_BIND | MS_REMOUNT | MS_RDONLY);
		ensure_read_only(root, b->dest);
	}
	/* a /proc of its own pid namespace: its one process */
	mount_in_root(root, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	close(root);
	if (v->readonly &&
	    mount(NULL, v->rootfs, "none", MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
		what = "cannot make the rootfs read-only";
		goto fail;
	}
	if (chdir(v->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		what = "cannot make the rootfs its root";
		goto fail;
	}
	return 0;
fail:
	report(fd, 'E', "the container's PID on the host: %s: %s", what, strerror(errno));
	return -1;
}

static __attribute__((noreturn)) void sentinel_main(int fd, const struct husk_sentinel_view *v)
{
	int devnull = open("/dev/null", O_RDWR);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
	    dup2(fd, 3) < 0) {
		report(fd, 'E', "the container's PID on the host: stdio: %s", strerror(errno));
		_exit(HUSK_EXIT_RUNTIME);
	}
	fd = 3;
	close_range(4, ~0U, 0);
	/* not the proxy's terminal, nor its session */
	setsid();
	prctl(PR_SET_NAME, "husk-sentinel");
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (setup_view(fd, v) < 0)
		_exit(HUSK_EXIT_RUNTIME);
	sentinel_fd = fd;
	struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < 32; sig++)
		if (husk_signal_forwarded(sig))
			sigaction(sig, &sa, NULL);
	sa.sa_handler = reap;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	report(fd, 'K', "");
	for (;;) {
		int code;
		ssize_t n = recv(fd, &code, sizeof code, 0);
		if (n == (ssize_t)sizeof code)
			_exit(code & 0xff);
		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(HUSK_EXIT_LOST); /* the proxy went without a word */
	}
}

static __attribute__((noreturn)) void helper_main(int fd, const struct husk_sentinel_view *v)
{
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) {
		report(fd, 'E', "the container's PID on the host: unshare: %s", strerror(errno));
		_exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		report(fd, 'E', "the container's PID on the host: fork: %s", strerror(errno));
		_exit(1);
	}
	if (pid == 0)
		sentinel_main(fd, v);
	char msg[1 + sizeof pid] = {'P'};
	memcpy(msg + 1, &pid, sizeof pid);
	ssize_t n = send(fd, msg, sizeof msg, MSG_NOSIGNAL);
	_exit(n == (ssize_t)sizeof msg ? 0 : 1);
}

/* One handshake message, waiting at most until deadline_ms runs out. */
static ssize_t recv_within(int fd, char *buf, size_t size, int *left_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (;;) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = poll(&p, 1, *left_ms);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		*left_ms -=
		    (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r == 0 ? ETIMEDOUT : errno;
			return -1;
		}
		ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n >= 0)
			buf[n] = '\0';
		return n;
	}
}

int husk_sentinel_start(struct husk_sentinel *s, const struct husk_sentinel_view *v,
			struct husk_err *err)
{
	int sp[2];
	*s = (struct husk_sentinel){.fd = -1};
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return husk_err_sys(err, errno, "socketpair");
	pid_t helper = fork();
	if (helper < 0) {
		close(sp[0]);
		close(sp[1]);
		return husk_err_sys(err, errno, "fork");
	}
	if (helper == 0) {
		close(sp[0]);
		helper_main(sp[1], v);
	}
	close(sp[1]);
	waitpid(helper, NULL, 0);
	pid_t pid = 0;
	bool ok = false;
	int left = HANDSHAKE_MS;
	char msg[512];
	while (!ok || !pid) {
		ssize_t n = recv_within(sp[0], msg, sizeof msg, &left);
		if (n <= 0) {
			husk_err_set(err, n < 0 ? errno : EPIPE,
				     "the container's PID on the host did not start: %s",
				     n < 0 ? strerror(errno) : "it exited");
			break;
		}
		if (msg[0] == 'P' && n == 1 + (ssize_t)sizeof pid) {
			memcpy(&pid, msg + 1, sizeof pid);
		} else if (msg[0] == 'K') {
			ok = true;
		} else {
			husk_err_set(err, EIO, "%s", msg[0] == 'E' ? msg + 1 : "bad handshake");
			break;
		}
	}
	if (!ok || !pid) {
		if (pid > 0)
			kill(pid, SIGKILL);
		close(sp[0]);
		return -1;
	}
	s->pid = pid;
	s->fd = sp[0];
	fcntl(s->fd, F_SETFL, O_NONBLOCK);
	return 0;
}

int husk_sentinel_read(struct husk_sentinel *s)
{
	unsigned char b;
	if (s->fd < 0)
		return 0;
	ssize_t n = recv(s->fd, &b, 1, MSG_DONTWAIT);
	if (n == 1)
		return b ? b : -1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	return 0;
}

void husk_sentinel_exit(struct husk_sentinel *s, int code)
{
	if (s->fd < 0)
		return;
	ssize_t n = send(s->fd, &code, sizeof code, MSG_NOSIGNAL);
	(void)n;
	close(s->fd);
	s->fd = -1;
	s->pid = 0;
}
