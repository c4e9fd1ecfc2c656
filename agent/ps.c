/* container.ps: each process of a container as `ps -ef` would show it,
 * read from the guest's /proc (docs/protocol.md, container.ps). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps.h"

/* The most JSON bytes one "procs" entry takes besides its tty and cmd:
 * {"pid":N,"ppid":N,"uid":N,"start":N,"cpu_ns":N,"tty":"","cmd":""}, */
#define PROC_FIXED 128
/* The reply's own fields: id, the keys of pids and procs, uptime, boot_time */
#define REPLY_FIXED 256
/* The least room a cmd gets while there is room for it: it is better to
 * show the first processes' than none */
#define CMD_MIN 64

/* Up to cap bytes of a /proc file, or -1 if it cannot be read (the process
 * is gone). */
static ssize_t read_upto(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	if (fd < 0)
		return -1;
	while (n < cap) {
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			close(fd);
			return -1;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	return (ssize_t)n;
}

/* Bytes s takes inside a JSON string: json-c escapes these three (control
 * characters never get here). */
static size_t json_len(const char *s, size_t len)
{
	size_t n = len;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '"' || s[i] == '\\' || s[i] == '/';
	return n;
}

/* The longest prefix of s (len bytes) that takes at most room JSON bytes
 * and HUSK_PS_CMD_MAX bytes, without a UTF-8 sequence cut short at its end. */
static size_t fit(const char *s, size_t len, size_t room)
{
	size_t n = 0, j = 0, k;
	while (n < len && n < HUSK_PS_CMD_MAX && j + json_len(s + n, 1) <= room)
		j += json_len(s + n++, 1);
	/* the last sequence: its lead byte says how long it should be */
	for (k = n; k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xc0) == 0x80; k--)
		;
	if (k > 0) {
		unsigned char lead = (unsigned char)s[k - 1];
		size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
		if (n - (k - 1) < want)
			n = k - 1;
	}
	return n;
}

/* What ps shows of control characters: '?'. */
static void printable(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

/* The name of a terminal by its device number (tty_nr of /proc/pid/stat),
 * as ps names the usual ones; "?" for none. */
static void tty_name(unsigned long long nr, char *out, size_t size)
{
	unsigned major = (nr >> 8) & 0xfff, minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
	if (nr == 0)
		snprintf(out, size, "?");
	else if (major >= 136 && major <= 143)
		snprintf(out, size, "pts/%u", minor + (major - 136) * 256);
	else if (major == 4 && minor < 64)
		snprintf(out, size, "tty%u", minor);
	else if (major == 4)
		snprintf(out, size, "ttyS%u", minor - 64);
	else if (major == 5 && minor == 1)
		snprintf(out, size, "console");
	else if (major == 229)
		snprintf(out, size, "hvc%u", minor);
	else
		snprintf(out, size, "%u:%u", major, minor);
}

struct stat_fields {
	char comm[64];
	char state;
	int ppid;
	unsigned long long tty_nr, utime, stime, starttime;
};

/* /proc/<pid>/stat: comm is in parentheses and may hold any byte but NUL,
 * so the fields after it are found from its last ')'. */
static int read_stat(int pid, struct stat_fields *f)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	ssize_t n = read_upto(path, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
	if (!lp || !rp || rp < lp)
		return -1;
	size_t clen = (size_t)(rp - lp - 1);
	if (clen >= sizeof f->comm)
		clen = sizeof f->comm - 1;
	memcpy(f->comm, lp + 1, clen);
	f->comm[clen] = '\0';
	long long tty;
	if (sscanf(rp + 1,
		   " %c %d %*d %*d %lld %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
		   "%*d %llu",
		   &f->state, &f->ppid, &tty, &f->utime, &f->stime, &f->starttime) != 6)
		return -1;
	f->tty_nr = (unsigned long long)tty & 0xffffffffu;
	return 0;
}

/* The effective uid, from the "Uid:" line of /proc/<pid>/status. */
static int read_euid(int pid, uint32_t *uid)
{
	char path[64], buf[2048];
	unsigned real, eff;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	ssize_t n = read_upto(path, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *l = strstr(buf, "\nUid:");
	if (!l || sscanf(l + 5, "%u %u", &real, &eff) != 2)
		return -1;
	*uid = eff;
	return 0;
}

/* The command line, arguments joined by spaces, or "[comm]" when it has
 * none (a zombie also gets " <defunct>"), cut to room JSON bytes. */
static char *read_cmd(int pid, const struct stat_fields *f, size_t room)
{
	char path[64], buf[HUSK_PS_CMD_MAX + 1];
	size_t cap = room < HUSK_PS_CMD_MAX ? room : HUSK_PS_CMD_MAX;
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	ssize_t r = read_upto(path, buf, cap);
	size_t n = r > 0 ? (size_t)r : 0;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n == 0)
		n = (size_t)snprintf(buf, sizeof buf, "[%s]%s", f->comm,
				     f->state == 'Z' ? " <defunct>" : "");
	else
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
	printable(buf, n);
	return strndup(buf, fit(buf, n, room));
}

static int64_t cpu_ns(unsigned long long ticks, long hz)
{
	unsigned long long s = ticks / (unsigned long long)hz,
			   rest = ticks % (unsigned long long)hz;
	if (s > INT64_MAX / 1000000000ULL - 1)
		return INT64_MAX;
	return (int64_t)(s * 1000000000ULL + rest * 1000000000ULL / (unsigned long long)hz);
}

int agent_ps_read(struct husk_reply *r, struct husk_err *err)
{
	struct timespec boot, now;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n = r->npids, kept = 0;
	if (hz <= 0)
		hz = 100;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_REALTIME, &now);
	r->uptime = boot.tv_sec;
	/* the guest's boot by its own clock, as /proc/stat's btime */
	r->boot_time = now.tv_sec - boot.tv_sec > 0 ? now.tv_sec - boot.tv_sec : 0;
	r->procs = calloc(n + 1, sizeof *r->procs);
	if (!r->procs)
		return husk_err_set(err, ENOMEM, "out of memory");
	r->has_procs = true;
	/* what the procs may take of a frame: each gets an even share of what
	 * is left (at least CMD_MIN for its cmd), so long command lines are
	 * cut, and with very many processes the last ones are in pids only */
	size_t budget = HUSK_FRAME_MAX_PAYLOAD - REPLY_FIXED;
	for (size_t i = 0; i < n; i++)
		budget -= (size_t)snprintf(NULL, 0, "%d,", (int)r->pids[i]);
	for (size_t i = 0; i < n; i++) {
		int pid = r->pids[i];
		struct stat_fields f;
		uint32_t uid;
		char tty[HUSK_PS_TTY_MAX + 1];
		if (read_stat(pid, &f) < 0 || read_euid(pid, &uid) < 0)
			continue; /* gone */
		r->pids[kept++] = pid;
		tty_name(f.tty_nr, tty, sizeof tty);
		size_t share = budget / (n - i), fixed = PROC_FIXED + json_len(tty, strlen(tty));
		if (share < fixed + CMD_MIN)
			share = fixed + CMD_MIN;
		if (share > budget)
			continue; /* no room left: in pids only */
		struct husk_ps_proc *p = &r->procs[r->nprocs];
		*p = (struct husk_ps_proc){.pid = pid,
					   .ppid = f.ppid,
					   .uid = uid,
					   .start = (int64_t)(f.starttime / (unsigned long long)hz),
					   .cpu_ns = cpu_ns(f.utime + f.stime, hz)};
		if (!(p->tty = strdup(tty)) || !(p->cmd = read_cmd(pid, &f, share - fixed))) {
			free(p->tty);
			p->tty = NULL;
			return husk_err_set(err, ENOMEM, "out of memory");
		}
		r->nprocs++;
		budget -= fixed + json_len(p->cmd, strlen(p->cmd));
	}
	r->npids = kept;
	return 0;
}
