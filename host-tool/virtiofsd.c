/* virtiofsd, which serves the rootfs over virtio-fs (see virtiofsd.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "husk.h"
#include "virtiofsd.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/* QEMU 7.2's virtiofsd has no read-only option: for a read-only root it gets
 * a mount namespace of its own in which the rootfs, and every mount under
 * it, is read-only; its own sandbox then binds that view and drops
 * CAP_SYS_ADMIN, so the guest's writes fail with EROFS on the host. In the
 * child before exec; what failed in *what. */
static int readonly_view(const char *path, const char **what)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	*what = "unshare(CLONE_NEWNS)";
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	*what = "making its mounts private";
	if (mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	*what = "binding the rootfs";
	if (mount(path, path, "none", MS_BIND | MS_REC, NULL) < 0)
		return -1;
	*what = "making the rootfs read-only";
	if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* before Linux 5.12: the top mount only */
	return mount(NULL, path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

/* virtiofsd serves the rootfs; it gets a listening socket and we hand QEMU
 * a connection to it, so no socket path has to fit QEMU's limits. It dies
 * with its parent, and exits when QEMU goes away. */
int husk_virtiofsd_start(const struct husk_vm_opts *o, pid_t *pid, int *conn, struct husk_err *err)
{
	_cleanup_close_ int lfd = -1, rep_r = -1, rep_w = -1;
	int rep[2];
	if (access(VIRTIOFSD, X_OK) < 0)
		return husk_err_sys(err, errno, "virtio-fs needs %s (qemu-system-common)",
				    VIRTIOFSD);
	if (husk_vm_listen_and_connect(o->state_dir, "virtiofsd.sock", &lfd, conn, false, err) < 0)
		return -1;
	char src[2 * PATH_MAX + 16], logp[PATH_MAX];
	/* virtiofsd's -o is a fuse option list: a comma there is "\," */
	size_t k = (size_t)snprintf(src, sizeof src, "source=");
	for (const char *c = o->share_path; *c && k < sizeof src - 3; c++) {
		if (*c == ',' || *c == '\\')
			src[k++] = '\\';
		src[k++] = *c;
	}
	src[k] = '\0';
	snprintf(logp, sizeof logp, "%s/virtiofsd.log", o->state_dir);
	/* the child's report of a failed read-only view; EOF when it went on */
	if (pipe2(rep, O_CLOEXEC) < 0) {
		husk_err_sys(err, errno, "pipe");
		close(*conn);
		*conn = -1;
		return -1;
	}
	rep_r = rep[0];
	rep_w = rep[1];
	pid_t parent = getpid();
	*pid = fork();
	if (*pid < 0) {
		husk_err_sys(err, errno, "fork");
		close(*conn);
		*conn = -1;
		return -1;
	}
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(125);
		const char *what;
		if (o->share_readonly && readonly_view(o->share_path, &what) < 0) {
			dprintf(rep_w, "%s: %s", what, strerror(errno));
			_exit(125);
		}
		int null = open("/dev/null", O_RDWR),
		    log = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(null, 0);
		dup2(log >= 0 ? log : null, 1);
		dup2(log >= 0 ? log : null, 2);
		int l = fcntl(lfd, F_DUPFD, 10); /* lfd may be 3 itself */
		if (l < 0 || dup2(l, 3) < 0)
			_exit(125);
		close_range(4, ~0U, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl(VIRTIOFSD, "virtiofsd", "--fd=3", "-o", src, "-o", "cache=auto", "-o",
		      "xattr", "--rlimit-nofile=0", (char *)NULL);
		_exit(125);
	}
	close(husk_steal_fd(rep_w));
	char why[256];
	ssize_t n;
	while ((n = read(rep_r, why, sizeof why - 1)) < 0 && errno == EINTR)
		;
	if (n > 0) {
		why[n] = '\0';
		waitpid(*pid, NULL, 0);
		*pid = 0;
		close(*conn);
		*conn = -1;
		return husk_err_set(err, EPERM, "virtiofsd: no read-only view of the rootfs: %s",
				    why);
	}
	return 0;
}
