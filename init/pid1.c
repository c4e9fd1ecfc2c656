/* PID 1: the first thing the guest kernel runs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <signal.h>
#include <unistd.h>

#include "husk-log.h"
#include "init.h"

void init_poweroff(void)
{
	kill(-1, SIGKILL);
	sync();
	/* The VM runs with reboot=t and -no-reboot: a reboot ends QEMU at once,
	 * on every machine type, with or without ACPI in the kernel. */
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

void init_fatal(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "husk-agent: fatal: %s\n", msg);
	init_poweroff();
}

static void console_sink(enum husk_log_level level, const char *msg)
{
	dprintf(STDERR_FILENO, "husk-agent: %s: %s\n", husk_log_level_name(level), msg);
}

int init_cmdline_has(const char *word)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	size_t wl = strlen(word);
	for (char *p = buf; (p = strstr(p, word)); p += wl)
		if ((p == buf || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
			return 1;
	return 0;
}

static void make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		init_fatal("mkdir %s: %s", path, strerror(errno));
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		     const char *data)
{
	make_dir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		init_fatal("mount %s on %s: %s", type, dst, strerror(errno));
}

/* The initramfs root can never be pivoted away from, so containers could not
 * pivot_root out of it. Put a tmpfs over it: it becomes a mount with a parent,
 * which pivot_root accepts. The running binary stays mapped after unlink. */
static void reroot(void)
{
	const char *nr = "/.husk-root";
	do_mount("tmpfs", nr, "tmpfs", MS_NOSUID, "mode=0755,size=64k");
	unlink("/init"); /* give the initramfs pages back: best effort */
	if (chdir(nr) < 0 || mount(nr, "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		init_fatal("move root onto tmpfs: %s", strerror(errno));
}

/* stdio on the console of the new /dev; without one, the kernel's stays. */
static void open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			init_fatal("console on fd %d: %s", i, strerror(errno));
	if (fd > 2)
		close(fd);
}

void init_early(void)
{
	if (getpid() != 1)
		init_fatal("must run as PID 1");
	umask(022);
	reroot();
	do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	do_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
	do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "gid=5,mode=620,ptmxmode=666");
	do_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	do_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	make_dir("/tmp", 01777);
	/* cgroup v2 for containers' limits; the kernel has no v1 */
	if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) ==
	    0) {
		static const char *const ctl[] = {"+memory", "+pids", "+cpu", "+cpuset"};
		for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
			int fd =
			    open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				/* best effort: a controller the kernel lacks is left out */
				ssize_t n = write(fd, ctl[i], strlen(ctl[i]));
				(void)n;
				close(fd);
			}
		}
	}
	open_console();
	/* a session of its own: EPERM means it leads one already */
	if (setsid() < 0 && getsid(0) != getpid())
		init_fatal("setsid: %s", strerror(errno));
	if (init_cmdline_has("husk.debug"))
		husk_log_max = HUSK_LOG_DEBUG;
	husk_log_set_sink(console_sink);
	/* PID 1 gets no default signal actions; make the ones we never want
	 * explicit, and let the agent's loop handle SIGCHLD. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
}
