/* The child side of starting a container process: namespaces, root,
 * identity, working directory, exec. Runs between fork and exec only. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const char *agent_spawn_stage_name(int stage)
{
	switch (stage) {
	case SPAWN_STAGE_SETUP: return "set up the process";
	case SPAWN_STAGE_ROOT: return "set up the container root";
	case SPAWN_STAGE_USER: return "switch user";
	case SPAWN_STAGE_CWD: return "enter the working directory";
	case SPAWN_STAGE_EXEC: return "exec";
	case SPAWN_STAGE_TTY: return "set up the terminal";
	default: return "start";
	}
}

static bool marker_pending; /* a terminal child owes the agent 'T' or 'E' */

static __attribute__((noreturn)) void child_fail(int errfd, int stage, int e)
{
	int msg[2] = { stage, e };
	if (marker_pending && write(errfd, "E", 1) < 0)
		_exit(127);
	ssize_t n = write(errfd, msg, sizeof msg);
	(void)n;
	_exit(stage == SPAWN_STAGE_EXEC && (e == EACCES || e == ENOEXEC || e == EISDIR) ? 126 : 127);
}

static void try_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		      const char *data)
{
	mkdir(dst, 0755);
	mount(src, dst, type, flags, data);
}

static void make_dev(void)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = { { "null", 1, 3 }, { "zero", 1, 5 },    { "full", 1, 7 },
		      { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 } };
	static const char *const links[][2] = { { "/proc/self/fd", "fd" },
						{ "/proc/self/fd/0", "stdin" },
						{ "/proc/self/fd/1", "stdout" },
						{ "/proc/self/fd/2", "stderr" },
						{ "pts/ptmx", "ptmx" } };
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		char p[32];
		snprintf(p, sizeof p, "dev/%s", nodes[i].name);
		mknod(p, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min));
		chmod(p, 0666);
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		char p[32];
		snprintf(p, sizeof p, "dev/%s", links[i][1]);
		symlink(links[i][0], p);
	}
}

/* Baseline container mounts: /proc, a private /dev, /sys read-only. */
static void default_mounts(void)
{
	const unsigned long hard = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	try_mount("proc", "proc", "proc", hard, NULL);
	try_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	make_dev();
	try_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620,gid=5");
	try_mount("shm", "dev/shm", "tmpfs", hard, "mode=1777,size=65536k");
	try_mount("sysfs", "sys", "sysfs", hard | MS_RDONLY, NULL);
}

static int enter_root(const struct agent_container *c)
{
	if (c->init_pid > 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)c->init_pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNS) < 0)
			return -1;
		close(fd);
		return chdir("/");
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(c->rootfs) < 0)
		return -1;
	default_mounts();
	/* pivot_root(".", ".") stacks the old root on the new one; detach it. */
	if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	if (c->readonly &&
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return -1;
	return 0;
}

/* Open a pty in the container's own devpts, make its slave our controlling
 * terminal and stdio, and hand the master to the agent. */
static int setup_tty(const struct husk_process *spec, int errfd)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		return -1;
	char name[64];
	if (ptsname_r(master, name, sizeof name) != 0)
		return -1;
	int slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return -1;
	if (spec->rows || spec->cols) {
		struct winsize ws = { .ws_row = spec->rows, .ws_col = spec->cols };
		ioctl(slave, TIOCSWINSZ, &ws);
	}
	if (fchown(slave, spec->user.uid, spec->user.gid) < 0 && errno != EPERM)
		return -1;
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return -1;
	if (slave > 2)
		close(slave);
	char byte = 'T';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof master);
	if (sendmsg(errfd, &mh, MSG_NOSIGNAL) != 1)
		return -1;
	marker_pending = false;
	close(master);
	return 0;
}

static const char *env_path(char *const *env)
{
	for (; env && *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			return *env + 5;
	return DEFAULT_PATH;
}

/* execvpe with the container's PATH, not the agent's. */
static int exec_in_path(char *const *args, char *const *env)
{
	static char *const empty[] = { NULL };
	char *const *e = env ? env : empty;
	if (strchr(args[0], '/')) {
		execve(args[0], args, e);
		return errno;
	}
	int found = ENOENT;
	const char *p = env_path(env);
	while (*p) {
		size_t n = strcspn(p, ":");
		char full[PATH_MAX];
		if (n + strlen(args[0]) + 2 <= sizeof full) {
			snprintf(full, sizeof full, "%.*s/%s", (int)n, n ? p : ".", args[0]);
			execve(full, args, e);
			if (errno == EACCES || errno == ENOEXEC || errno == EISDIR)
				found = errno;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return found;
}

pid_t agent_spawn(const struct agent_container *c, const struct husk_process *spec,
		  const int stdio[3], int errfd, struct husk_err *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return husk_err_sys(err, errno, "fork");
	if (pid > 0)
		return pid;

	/* child */
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	marker_pending = spec->terminal;
	if (setsid() < 0)
		child_fail(errfd, SPAWN_STAGE_SETUP, errno);
	for (int i = 0; i < 3 && !spec->terminal; i++)
		if (dup2(stdio[i], i) < 0)
			child_fail(errfd, SPAWN_STAGE_SETUP, errno);
	umask(022);
	if (enter_root(c) < 0)
		child_fail(errfd, SPAWN_STAGE_ROOT, errno);
	if (spec->terminal && setup_tty(spec, errfd) < 0)
		child_fail(errfd, SPAWN_STAGE_TTY, errno);
	if (setgroups(spec->user.ngids, (const gid_t *)spec->user.gids) < 0 ||
	    setgid(spec->user.gid) < 0 || setuid(spec->user.uid) < 0)
		child_fail(errfd, SPAWN_STAGE_USER, errno);
	if (chdir(spec->cwd) < 0)
		child_fail(errfd, SPAWN_STAGE_CWD, errno);
	child_fail(errfd, SPAWN_STAGE_EXEC, exec_in_path(spec->args, spec->env));
}
