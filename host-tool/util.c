/* Small helpers the verbs share: numbers, signals, pid files, stdio. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

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

static const struct {
	const char *name;
	int sig;
} signames[] = {
    {"HUP", SIGHUP},	   {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},	   {"ABRT", SIGABRT}, {"IOT", SIGIOT},	     {"BUS", SIGBUS},
    {"FPE", SIGFPE},	   {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},	   {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},	   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},	   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"PWR", SIGPWR},	     {"SYS", SIGSYS},
};

int husk_parse_signal(const char *s, int *sig, struct husk_err *err)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end) {
		if (n < 1 || n > 64)
			return husk_err_set(err, EINVAL, "invalid signal \"%s\"", s);
		*sig = (int)n;
		return 0;
	}
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++) {
		if (strcasecmp(name, signames[i].name) == 0) {
			*sig = signames[i].sig;
			return 0;
		}
	}
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
		long off = name[5] ? strtol(name + 5, &end, 10) : 0;
		int v = (strncasecmp(name, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX) + (int)off;
		if (!name[5] || !*end) {
			if (v < SIGRTMIN || v > SIGRTMAX)
				return husk_err_set(err, EINVAL, "invalid signal \"%s\"", s);
			*sig = v;
			return 0;
		}
	}
	return husk_err_set(err, EINVAL, "unknown signal \"%s\"", s);
}

void husk_close_fds_except(const int *keep, int n)
{
	unsigned from = 3;
	for (;;) {
		/* the lowest kept fd at or above from */
		int next = -1;
		for (int i = 0; i < n; i++)
			if (keep[i] >= (int)from && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			close_range(from, ~0U, 0);
			return;
		}
		if ((unsigned)next > from)
			close_range(from, (unsigned)next - 1, 0);
		from = (unsigned)next + 1;
	}
}

int husk_stdio_to_null(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (dup2(null, i) < 0) {
			int e = errno;
			if (null > 2)
				close(null);
			errno = e;
			return -1;
		}
	}
	if (null > 2)
		close(null);
	return 0;
}
