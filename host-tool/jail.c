/* QEMU's jail: see jail.h. Runs in the forked child before exec, so it makes
 * only system calls and formats into its own buffers. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"

pid_t husk_jail_fork(void)
{
	struct clone_args a = {.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC,
			       .exit_signal = SIGCHLD};
	pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
	/* clone3 is missing before Linux 5.3 and under valgrind 3.19: clone
	 * without a stack is fork into the same namespaces */
	if (pid < 0 && errno == ENOSYS)
		pid = (pid_t)syscall(SYS_clone, (unsigned long)a.flags | SIGCHLD, 0, NULL, NULL, 0);
	return pid;
}

/* mkdir -p of path's directories (and path itself when dir) under root */
static int make_path(const char *root, const char *path, bool dir)
{
	char p[PATH_MAX];
	size_t rl = strlen(root);
	if (snprintf(p, sizeof p, "%s%s", root, path) >= (int)sizeof p)
		return errno = ENAMETOOLONG, -1;
	for (char *s = p + rl + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (dir)
		return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* host path at the same path inside root */
static int expose(const char *root, const char *path, bool rw)
{
	struct stat st;
	char in[PATH_MAX];
	if (stat(path, &st) < 0 || make_path(root, path, S_ISDIR(st.st_mode)) < 0)
		return -1;
	snprintf(in, sizeof in, "%s%s", root, path);
	if (mount(path, in, "none", MS_BIND | MS_REC, NULL) < 0)
		return -1;
	unsigned long ro = rw ? 0 : MS_RDONLY;
	return mount(NULL, in, "none", MS_BIND | MS_REMOUNT | MS_NOSUID | ro, NULL);
}

/* /bin, /lib...: the same symlink into /usr, or the directory read-only */
static int expose_top(const char *root, const char *top)
{
	char target[PATH_MAX], in[PATH_MAX];
	struct stat st;
	if (lstat(top, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISLNK(st.st_mode))
		return expose(root, top, false);
	ssize_t n = readlink(top, target, sizeof target - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	snprintf(in, sizeof in, "%s%s", root, top);
	return symlink(target, in);
}

static int drop_bound(uint64_t keep)
{
	for (int c = 0; c <= 63; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL)
			return -1;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

static int set_caps(uint64_t keep)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
	    {.effective = (uint32_t)keep, .permitted = (uint32_t)keep},
	    {.effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32)}};
	return (int)syscall(SYS_capset, &h, d);
}

int husk_jail_enter(const struct husk_jail *j, const char **what)
{
	static const char *const tops[] = {"/usr",   "/bin",   "/sbin",	 "/lib",
					   "/lib32", "/lib64", "/libx32"};
	char p[PATH_MAX];
	const char *r = j->root;
#define STEP(s, call)                                                                              \
	do {                                                                                       \
		*what = s;                                                                         \
		if ((call) < 0)                                                                    \
			return -1;                                                                 \
	} while (0)
	STEP("mount / as a slave", mount(NULL, "/", "none", MS_REC | MS_SLAVE, NULL));
	if (mkdir(r, 0700) < 0 && errno != EEXIST)
		return *what = "mkdir the jail", -1;
	STEP("mount the jail's tmpfs",
	     mount("tmpfs", r, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
	for (size_t i = 0; i < sizeof tops / sizeof *tops; i++)
		STEP("expose /usr", expose_top(r, tops[i]));
	if (access("/etc/ld.so.cache", R_OK) == 0)
		STEP("expose ld.so.cache", expose(r, "/etc/ld.so.cache", false));
	/* first: the state directory's shares go on top of it */
	if (j->scratch) {
		STEP("make the scratch directory", make_path(r, j->scratch, true));
		snprintf(p, sizeof p, "%s%s", r, j->scratch);
		STEP("mount the scratch tmpfs",
		     mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k"));
		STEP("chown the scratch directory", chown(p, j->uid, j->gid));
	}
	for (size_t i = 0; i < j->nro; i++)
		STEP("expose a read-only path", expose(r, j->ro[i], false));
	for (size_t i = 0; i < j->nrw; i++)
		STEP("expose a share", expose(r, j->rw[i], true));
	for (size_t i = 0; i < j->ndev; i++)
		if (access(j->dev[i], F_OK) == 0)
			STEP("expose a device", expose(r, j->dev[i], true));
	snprintf(p, sizeof p, "%s/proc", r);
	STEP("mkdir /proc", mkdir(p, 0555));
	STEP("mount /proc", mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	STEP("make the jail read-only",
	     mount(NULL, r, "none", MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, "size=1m"));
	STEP("chdir into the jail", chdir(r));
	STEP("pivot_root", syscall(SYS_pivot_root, ".", "."));
	STEP("detach the host's root", umount2(".", MNT_DETACH));
	STEP("chdir /", chdir("/"));

	struct rlimit files, core = {0, 0};
	STEP("RLIMIT_NOFILE", getrlimit(RLIMIT_NOFILE, &files));
	files.rlim_cur = files.rlim_max = files.rlim_max < 4096 ? files.rlim_max : 4096;
	/* lowering needs no privilege; only valgrind's emulation refuses it
	 * (EPERM for any change of the hard limit) */
	if (setrlimit(RLIMIT_NOFILE, &files) < 0 && errno != EPERM)
		return *what = "RLIMIT_NOFILE", -1;
	STEP("RLIMIT_CORE", setrlimit(RLIMIT_CORE, &core));
	STEP("no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	uint64_t keep = j->uid ? 0 : j->keep_caps;
	STEP("drop the capability bounding set", drop_bound(keep));
	if (j->uid) {
		gid_t groups[1] = {j->extra_gid};
		STEP("setgroups", setgroups(j->extra_gid ? 1 : 0, groups));
		STEP("setresgid", setresgid(j->gid, j->gid, j->gid));
		STEP("setresuid", setresuid(j->uid, j->uid, j->uid));
	}
	/* as another uid the kernel has cleared them already */
	STEP("drop capabilities", set_caps(keep));
#undef STEP
	return 0;
}
