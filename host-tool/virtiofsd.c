/* virtiofsd, which serves the VM's share over virtio-fs (see virtiofsd.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "husk.h"
#include "virtiofsd.h"

#define VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/* virtiofsd serves the VM's share (share.h); it gets a listening socket and
 * we hand QEMU a connection to it, so no socket path has to fit QEMU's
 * limits. It dies with its parent, and exits when QEMU goes away.
 *
 * QEMU 7.2's C virtiofsd has no read-only option: what is read-only in the
 * share is a read-only mount in our namespace. Its sandbox (a mount
 * namespace made a slave of ours, the share bound recursively as its root,
 * pivot_root) keeps each mount's flags, and it drops CAP_SYS_ADMIN, so the
 * guest's writes there fail with EROFS on the host. */
int husk_virtiofsd_start(const struct husk_vm_opts *o, pid_t *pid, int *conn, struct husk_err *err)
{
	_cleanup_close_ int lfd = -1;
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
	return 0;
}
