/* Starting a container process: the fork, the child between fork and exec
 * (namespaces, root, identity, working directory, exec), and the agent's
 * side of what the child tells it on the way. */
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
#include <termios.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/sched.h>

#include "husk-facts.h"
#include "husk-fdpass.h"
#include "husk-log.h"
#include "rootfs.h"
#include "secure.h"
#include "spawn.h"
#include "util.h"

static const char *stage_name(int stage)
{
	switch (stage) {
	case SPAWN_STAGE_SETUP: return "set up the process";
	case SPAWN_STAGE_ROOT: return "set up the container root";
	case SPAWN_STAGE_USER: return "switch user";
	case SPAWN_STAGE_CWD: return "enter the working directory";
	case SPAWN_STAGE_EXEC: return "exec";
	case SPAWN_STAGE_TTY: return "set up the terminal";
	case SPAWN_STAGE_NAMESPACES: return "create the namespaces";
	case SPAWN_STAGE_LIMITS: return "set limits";
	case SPAWN_STAGE_CAPS: return "set capabilities";
	case SPAWN_STAGE_SECCOMP: return "load the seccomp profile";
	default: return "start";
	}
}

void agent_spawn_failure(const struct agent_container *c, const int result[3], struct husk_err *err)
{
	int stage = result[0], e = result[1], detail = result[2];
	if (stage == SPAWN_STAGE_EXEC && e == ENOENT)
		husk_err_set(err, e, "executable file not found in $PATH or rootfs");
	else if (stage == SPAWN_STAGE_ROOT && detail < 0 && (size_t)-detail <= c->spec.nsysctl)
		husk_err_set(err, e, "cannot set linux.sysctl %s: %s",
			     c->spec.sysctl[-detail - 1].key, strerror(e));
	else if (stage == SPAWN_STAGE_ROOT && detail > 0 && (size_t)detail <= c->spec.nmounts) {
		const struct spec_mount *m = &c->spec.mounts[detail - 1];
		husk_err_set(err, e, "cannot mount %s (%s): %s", m->dst, m->bind ? "bind" : m->type,
			     strerror(e));
	} else
		husk_err_set(err, e, "cannot %s: %s", stage_name(stage), strerror(e));
}

/* The child's side of its talk with the agent. */
struct child {
	int errfd, syncfd;
	int markers; /* 'T' (pty master) and 'U' (user ns) still owed to the agent */
	int detail;  /* what was at fault, for the report: see spawn.h */
};

static __attribute__((noreturn)) void child_fail(const struct child *ch, int stage, int e)
{
	int msg[3] = {stage, e, ch->detail};
	if (ch->markers && write(ch->errfd, "E", 1) < 0)
		_exit(127);
	ssize_t n = write(ch->errfd, msg, sizeof msg);
	(void)n;
	_exit(stage == SPAWN_STAGE_EXEC ? husk_exec_status(e) : 127);
}

/* Enter every namespace of the container's first process that differs from
 * ours (the pid namespace was entered by the parent, before fork). */
static int join_namespaces(const struct agent_container *c)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {{"ipc", CLONE_NEWIPC},
		  {"uts", CLONE_NEWUTS},
		  {"net", CLONE_NEWNET},
		  {"cgroup", CLONE_NEWCGROUP},
		  {"mnt", CLONE_NEWNS},
		  /* last: after it the agent's privilege over the others is gone */
		  {"user", CLONE_NEWUSER}};
	/* open and compare them all first: once in the container's mount
	 * namespace, /proc is the container's own (or none), and the agent's pid
	 * numbers mean nothing */
	int fds[sizeof ns / sizeof ns[0]];
	bool differs[sizeof ns / sizeof ns[0]];
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		char path[64];
		struct stat theirs, ours;
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)c->init_pid, ns[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i].name);
		if (fds[i] < 0 || fstat(fds[i], &theirs) < 0 || stat(path, &ours) < 0)
			return -1;
		differs[i] = theirs.st_ino != ours.st_ino;
	}
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		if (differs[i] && setns(fds[i], ns[i].flag) < 0)
			return -1;
		close(fds[i]);
	}
	return chdir("/");
}

/* A pod's container: the sandbox's ipc and uts namespaces, where its
 * config names them by path (the pid namespace was chosen before fork). */
static int join_sandbox(const struct agent_container *c)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}};
	if (!c->sandbox)
		return 0;
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		if (!(c->spec.ns_paths & ns[i].flag))
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)c->join_pid, ns[i].name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, ns[i].flag) < 0)
			return -1;
	}
	return 0;
}

static int new_namespaces(const struct agent_container *c)
{
	/* the cgroup namespace too: the process has joined its cgroup already,
	 * and a cgroup2 mount in the container must show that as its root */
	int flags =
	    (c->spec.ns_new & (CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP)) |
	    CLONE_NEWNS;
	/* for a slave container root, its mounts need a master: the agent's
	 * tree, made shared before the copy */
	if ((c->spec.rootfs_propagation & MS_SLAVE) &&
	    mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0)
		return -1;
	if (unshare(flags) < 0)
		return -1;
	if ((flags & CLONE_NEWUTS) && c->hostname &&
	    sethostname(c->hostname, strlen(c->hostname)) < 0)
		return -1;
	return 0;
}

static bool user_ns(const struct agent_container *c)
{
	return c->init_pid == 0 && (c->spec.ns_new & CLONE_NEWUSER);
}

/* The user namespace comes last, once the root is built (so mounts are made
 * with the agent's privilege): the agent writes the id maps, then the
 * process becomes root of the namespace. */
static int enter_user_ns(struct child *ch)
{
	char ack;
	if (unshare(CLONE_NEWUSER) < 0 || write(ch->errfd, "U", 1) != 1)
		return -1;
	ch->markers--;
	if (read(ch->syncfd, &ack, 1) != 1 || ack != 'M') {
		errno = EPERM; /* the agent could not write the maps */
		return -1;
	}
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return -1;
	return 0;
}

static int enter_root(const struct agent_container *c, struct child *ch)
{
	if (c->init_pid > 0)
		return join_namespaces(c);
	return agent_rootfs_enter(c, &ch->detail);
}

/* Open a pty in the container's own devpts, make its slave our controlling
 * terminal and stdio, and hand the master to the agent. */
static int setup_tty(const struct husk_process *spec, struct child *ch)
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
		struct winsize ws = {.ws_row = spec->rows, .ws_col = spec->cols};
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
	if (husk_send_fds(ch->errfd, "T", 1, &master, 1) != 1)
		return -1;
	ch->markers--;
	close(master);
	return 0;
}

/* execvpe with the container's PATH, not the agent's: the errno of the
 * failure that says most. */
static int exec_in_path(char *const *args, char *const *env)
{
	static char *const empty[] = {NULL};
	char *const *e = env ? env : empty;
	if (strchr(args[0], '/')) {
		execve(args[0], args, e);
		return errno;
	}
	int found = ENOENT;
	const char *path = husk_path_of_env(env);
	char full[PATH_MAX];
	while (husk_path_next(&path, args[0], full, sizeof full)) {
		execve(full, args, e);
		if (errno == EACCES || errno == ENOEXEC || errno == EISDIR)
			found = errno;
		else if (errno != ENOENT && errno != ENOTDIR)
			return errno;
	}
	return found;
}

/* The pid namespace is chosen before fork: unshare or setns change where
 * the agent's next child goes, and the agent returns to its own after. An
 * exec goes where the container's first process is; a pod's container
 * whose config names a pid namespace by path, to its sandbox's. */
static int pidns_for_child(const struct agent_container *c, int *saved, struct husk_err *err)
{
	*saved = -1;
	pid_t from = 0;
	bool fresh = false;
	if (c->init_pid > 0)
		from = c->own_pidns || c->sandbox ? c->init_pid : 0;
	else if (c->sandbox && (c->spec.ns_paths & CLONE_NEWPID))
		from = c->join_pid;
	else
		fresh = (c->spec.ns_new & CLONE_NEWPID) != 0;
	if (!fresh && from <= 0)
		return 0;
	*saved = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return husk_err_sys(err, errno, "open pid namespace");
	if (fresh) {
		if (unshare(CLONE_NEWPID) < 0)
			return husk_err_sys(err, errno, "unshare pid namespace");
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)from);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
		return husk_err_sys(err, errno, "enter the container's pid namespace");
	return 0;
}

/* Fork straight into the container's cgroup (clone3 with
 * CLONE_INTO_CGROUP): moving a running process by writing cgroup.procs
 * waits for an RCU grace period, 12 ms of every start under TCG. The child
 * only calls what is safe after a raw clone: the agent has one thread. */
static pid_t fork_into_cgroup(const struct agent_container *c, bool *in_cgroup)
{
	*in_cgroup = false;
	if (!c->cgroup)
		return fork();
	int dir = open(c->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return fork(); /* the child's cgroup.procs write names the error */
	struct clone_args args = {
	    .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dir};
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
	int e = errno;
	close(dir);
	if (pid < 0 && (e == ENOSYS || e == E2BIG))
		return fork();
	*in_cgroup = pid >= 0;
	errno = e;
	return pid;
}

/* The child, from fork to exec. */
static __attribute__((noreturn)) void child_main(const struct agent_container *c,
						 const struct husk_process *spec,
						 const struct spec_process *sp, const int stdio[3],
						 bool in_cgroup, struct child *ch)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	ch->markers = spec->terminal + user_ns(c);
	if (setsid() < 0)
		child_fail(ch, SPAWN_STAGE_SETUP, errno);
	for (int i = 0; i < 3 && !spec->terminal; i++)
		if (dup2(stdio[i], i) < 0)
			child_fail(ch, SPAWN_STAGE_SETUP, errno);
	umask(022);
	if (c->cgroup && !in_cgroup && agent_write_file(c->cgroup, "cgroup.procs", "0", NULL) < 0)
		child_fail(ch, SPAWN_STAGE_LIMITS, errno);
	if (c->init_pid == 0 && (join_sandbox(c) < 0 || new_namespaces(c) < 0))
		child_fail(ch, SPAWN_STAGE_NAMESPACES, errno);
	if (enter_root(c, ch) < 0)
		child_fail(ch, SPAWN_STAGE_ROOT, errno);
	if (spec->terminal && setup_tty(spec, ch) < 0)
		child_fail(ch, SPAWN_STAGE_TTY, errno);
	if (user_ns(c) && enter_user_ns(ch) < 0)
		child_fail(ch, SPAWN_STAGE_NAMESPACES, errno);
	if (agent_secure_before_user(sp) < 0)
		child_fail(ch, SPAWN_STAGE_LIMITS, errno);
	/* Without no_new_privs the filter needs privilege to load: load it now,
	 * as runc does; the profile must then allow what follows. */
	if (!sp->no_new_privs && agent_seccomp_load(&c->seccomp) < 0)
		child_fail(ch, SPAWN_STAGE_SECCOMP, errno);
	if (agent_secure_user(spec) < 0)
		child_fail(ch, SPAWN_STAGE_USER, errno);
	if (agent_secure_after_user(sp) < 0)
		child_fail(ch, SPAWN_STAGE_CAPS, errno);
	if (chdir(spec->cwd) < 0)
		child_fail(ch, SPAWN_STAGE_CWD, errno);
	if (sp->no_new_privs && agent_seccomp_load(&c->seccomp) < 0)
		child_fail(ch, SPAWN_STAGE_SECCOMP, errno);
	child_fail(ch, SPAWN_STAGE_EXEC, exec_in_path(spec->args, spec->env));
}

pid_t agent_spawn(const struct agent_container *c, const struct husk_process *spec,
		  const struct spec_process *sp, const int stdio[3], int errfd, int syncfd,
		  struct husk_err *err)
{
	int saved;
	bool in_cgroup = false;
	int r = pidns_for_child(c, &saved, err);
	pid_t pid = r < 0 ? -1 : fork_into_cgroup(c, &in_cgroup);
	int fork_errno = errno;
	/* the agent's next children go to its own pid namespace again (in the
	 * child this fails, as the agent's is above its own: harmless) */
	if (saved >= 0) {
		setns(saved, CLONE_NEWPID);
		close(saved);
	}
	if (r < 0)
		return -1;
	if (pid < 0)
		return husk_err_sys(err, fork_errno, "fork");
	if (pid == 0) {
		struct child ch = {.errfd = errfd, .syncfd = syncfd};
		child_main(c, spec, sp, stdio, in_cgroup, &ch);
	}
	return pid;
}

/* ---- the agent's side of the child's talk ---- */

/* A terminal child sends 'T' with the pty master, or 'E' and then its error
 * message. The child gets there within its own setup, so waiting is short. */
int agent_spawn_recv_master(int sock)
{
	char byte = 0;
	int master = -1, n = 0;
	if (husk_recv_fds(sock, &byte, 1, &master, &n, 1) != 1 || byte != 'T' || n != 1) {
		if (n == 1)
			close(master);
		return -1;
	}
	return master;
}

/* Without mappings the namespace still needs one: root to root. */
static int write_id_maps(pid_t pid, const struct agent_spec *s, struct husk_err *err)
{
	char dir[32];
	snprintf(dir, sizeof dir, "/proc/%d", (int)pid);
	if (agent_write_file(dir, "uid_map", s->uid_map ? s->uid_map : "0 0 1\n", err) < 0 ||
	    agent_write_file(dir, "gid_map", s->gid_map ? s->gid_map : "0 0 1\n", err) < 0)
		return -1;
	return 0;
}

void agent_spawn_answer_user_ns(pid_t pid, const struct agent_container *c, int sock, int sync)
{
	struct husk_err err = {0};
	char byte = 0;
	if (read(sock, &byte, 1) == 1 && byte == 'U') {
		if (write_id_maps(pid, &c->spec, &err) == 0)
			byte = 'M';
		else
			log_warn("process %d: %s", (int)pid, err.msg);
	}
	if (byte != 'M')
		byte = 'F';
	if (write(sync, &byte, 1) != 1)
		log_warn("cannot answer process %d", (int)pid);
}
