/* husk-probe: run as a container's process, print one JSON object that
 * describes what the process sees, so a test can compare it with the
 * config.json that made the container. Plain libc only.
 *
 *   husk-probe [--masked P] [--readonly P] [--sysctl KEY] [--exists P]
 *              [--cat P] [--ns-of PID] [--syscall NAME] [--fork N] ...
 *
 * Always reported: pid, ppid, uid, gid, euid, egid, groups, umask, caps
 * (CapInh/CapPrm/CapEff/CapBnd/CapAmb as hex strings), no_new_privs,
 * oom_score_adj, seccomp (Seccomp: in /proc/self/status, -1 if absent), rlimits ({"NOFILE": [soft, hard]}, -1 for unlimited),
 * hostname, domainname, mounts (/proc/self/mountinfo, one object a line),
 * ns (inode numbers of /proc/self/ns/...), procs (every pid in /proc with its
 * comm and ppid) and dev_virtio (names in /dev that look like virtio ports).
 *
 * Per option, in an object named after the option and keyed by its argument:
 *   masked    {exists, empty, kind: "devnull" | "tmpfs" | "other", entries}
 *   readonly  {erofs, error, ro_mount}: a directory gets a subdirectory made
 *             (and removed again), anything else is opened for writing only;
 *             ro_mount is statvfs's ST_RDONLY for the mount holding P
 *   sysctl    the value read from /proc/sys (trailing newline cut), or null
 *   exists    {exists, type, mode, uid, gid, major, minor, target}
 *   cat       the first 4 KiB of the file as a string, or null
 *   ns_of     the namespace inodes of process PID
 *   syscall   {ret, errno}: the raw syscall NAME, one of mkdir and mkdirat (of
 *             /tmp/.husk-probe-sc-PID, removed again), getcwd, uname, getpid,
 *             personality=N (personality(N); the old persona is put back)
 *   fork      {started, errno}: fork up to N children that pause, stop at the
 *             first failure (its errno, else 0), then kill and reap them all
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TMPFS_MAGIC 0x01021994

/* ---- a small JSON writer: KEY is NULL for an array element ---- */

static bool comma[32];
static int depth;

static void raw_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void pre(const char *key)
{
	if (comma[depth])
		putchar(',');
	comma[depth] = true;
	if (key) {
		raw_str(key);
		putchar(':');
	}
}

static void jopen(const char *key, char c)
{
	pre(key);
	putchar(c);
	comma[++depth] = false;
}

static void jclose(char c)
{
	putchar(c);
	depth--;
}

static void jstr(const char *key, const char *s)
{
	pre(key);
	if (s)
		raw_str(s);
	else
		fputs("null", stdout);
}

static void jint(const char *key, long long v)
{
	pre(key);
	printf("%lld", v);
}

static void jbool(const char *key, bool b)
{
	pre(key);
	fputs(b ? "true" : "false", stdout);
}

/* ---- readers ---- */

/* Up to SIZE-1 bytes of PATH, NUL-terminated; the length or -1 (errno). */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
	size_t len = 0;
	if (fd < 0)
		return -1;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	errno = e;
	return e ? -1 : (ssize_t)len;
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* The value of "Key:" in /proc/self/status, or NULL. */
static const char *status_field(const char *status, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	for (const char *p = status; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || p[kl] != ':')
			continue;
		p += kl + 1 + strspn(p + kl + 1, " \t");
		snprintf(out, size, "%.*s", (int)strcspn(p, "\n"), p);
		return out;
	}
	return NULL;
}

/* mountinfo escapes blanks and backslashes as \ooo */
static char *unescape(char *s)
{
	char *o = s, *p = s;
	for (; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return s;
}

static void mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	jopen("mounts", '[');
	while (f && fgets(line, sizeof line, f)) {
		char *fl[64], *save = NULL;
		int n = 0, dash = 6;
		chomp(line);
		for (char *t = strtok_r(line, " ", &save); t && n < 64;
		     t = strtok_r(NULL, " ", &save))
			fl[n++] = t;
		while (dash < n && strcmp(fl[dash], "-"))
			dash++;
		if (n < 7 || dash + 3 >= n)
			continue;
		jopen(NULL, '{');
		jint("id", atoll(fl[0]));
		jint("parent", atoll(fl[1]));
		jstr("dev", fl[2]);
		jstr("root", unescape(fl[3]));
		jstr("mount_point", unescape(fl[4]));
		jstr("options", fl[5]);
		jopen("propagation", '[');
		for (int i = 6; i < dash; i++)
			jstr(NULL, fl[i]);
		jclose(']');
		jstr("fstype", fl[dash + 1]);
		jstr("source", unescape(fl[dash + 2]));
		jstr("super", fl[dash + 3]);
		jclose('}');
	}
	jclose(']');
	if (f)
		fclose(f);
}

static void namespaces(const char *key, const char *pid)
{
	static const char *const names[] = { "pid", "ipc", "uts", "net", "mnt", "cgroup", "user" };
	jopen(key, '{');
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[64], link[128], *b;
		snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, names[i]);
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n >= 0)
			link[n] = '\0';
		if (n >= 0 && (b = strchr(link, '[')))
			jint(names[i], atoll(b + 1));
		else
			jstr(names[i], NULL);
	}
	jclose('}');
}

#define R(x) { #x, RLIMIT_##x }

static void rlimits(void)
{
	static const struct {
		const char *name;
		int res;
	} r[] = { R(CPU),   R(FSIZE),  R(DATA),    R(STACK), R(CORE),     R(RSS),
		  R(NPROC), R(NOFILE), R(MEMLOCK), R(AS),    R(LOCKS),    R(SIGPENDING),
		  R(MSGQUEUE), R(NICE), R(RTPRIO), R(RTTIME) };
	jopen("rlimits", '{');
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
		struct rlimit rl;
		if (getrlimit(r[i].res, &rl) < 0)
			continue;
		jopen(r[i].name, '[');
		jint(NULL, rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur);
		jint(NULL, rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max);
		jclose(']');
	}
	jclose('}');
}

/* Every pid in /proc, and /dev's names that look like a virtio port. */
static void procs_and_dev(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	jopen("procs", '[');
	while (d && (e = readdir(d))) {
		char path[300], buf[512], *lp, *rp;
		if (strspn(e->d_name, "0123456789") != strlen(e->d_name))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (read_file(path, buf, sizeof buf) < 0 || !(lp = strchr(buf, '(')) ||
		    !(rp = strrchr(buf, ')')) || strlen(rp) < 5)
			continue;
		*rp = '\0';
		jopen(NULL, '{');
		jint("pid", atoll(e->d_name));
		jstr("comm", lp + 1);
		char st[2] = { rp[2], '\0' };
		jstr("state", st);
		jint("ppid", atoll(rp + 4));
		jclose('}');
	}
	jclose(']');
	if (d)
		closedir(d);
	d = opendir("/dev");
	jopen("dev_virtio", '[');
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "vport", 5) || !strncmp(e->d_name, "virtio", 6) ||
		    !strncmp(e->d_name, "hvc", 3))
			jstr(NULL, e->d_name);
	jclose(']');
	if (d)
		closedir(d);
}

/* ---- per-argument reports ---- */

static void masked(const char *p)
{
	struct stat st;
	struct statfs sf;
	bool found = stat(p, &st) == 0, empty = false;
	long entries = -1;
	const char *kind = "other";
	jopen(p, '{');
	jbool("exists", found);
	if (found && S_ISDIR(st.st_mode)) {
		DIR *d = opendir(p);
		struct dirent *e;
		entries = 0;
		while (d && (e = readdir(d)))
			entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		empty = d && entries == 0;
		if (d)
			closedir(d);
		if (statfs(p, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
			kind = "tmpfs";
	} else if (found) {
		char buf[64];
		empty = read_file(p, buf, sizeof buf) == 0;
		if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3)
			kind = "devnull";
	}
	if (found) {
		jbool("empty", empty);
		jstr("kind", kind);
		jint("entries", entries);
	}
	jclose('}');
}

static void readonly(const char *p)
{
	struct stat st;
	struct statvfs sv;
	int e = 0, fd;
	char sub[4096];
	if (stat(p, &st) < 0) {
		e = errno;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(sub, sizeof sub, "%s/.husk-probe-%d", p, (int)getpid());
		if (mkdir(sub, 0700) == 0)
			rmdir(sub);
		else
			e = errno;
	} else if ((fd = open(p, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) >= 0) {
		close(fd);
	} else {
		e = errno;
	}
	jopen(p, '{');
	jbool("erofs", e == EROFS);
	jstr("error", e ? strerror(e) : NULL);
	jbool("ro_mount", statvfs(p, &sv) == 0 && (sv.f_flag & ST_RDONLY));
	jclose('}');
}

static void sysctl(const char *key)
{
	char path[512], buf[4096];
	int n = snprintf(path, sizeof path, "/proc/sys/%s", key);
	for (char *c = path + 10; c < path + n && c < path + sizeof path; c++)
		if (*c == '.')
			*c = '/';
	ssize_t r = read_file(path, buf, sizeof buf);
	if (r >= 0)
		chomp(buf);
	jstr(key, r < 0 ? NULL : buf);
}

static void exists(const char *p)
{
	struct stat st;
	bool found = lstat(p, &st) == 0;
	char target[4096];
	jopen(p, '{');
	jbool("exists", found);
	if (found) {
		mode_t m = st.st_mode;
		static const char types[] = "?pc?d?b?f?l?s???";
		char t[2] = { types[(m & S_IFMT) >> 12], 0 };
		jstr("type", t);
		jint("mode", m & 07777);
		jint("uid", st.st_uid);
		jint("gid", st.st_gid);
		jint("major", major(st.st_rdev));
		jint("minor", minor(st.st_rdev));
		ssize_t n = S_ISLNK(m) ? readlink(p, target, sizeof target - 1) : -1;
		if (n >= 0)
			target[n] = '\0';
		jstr("target", n >= 0 ? target : NULL);
	}
	jclose('}');
}

static void cat(const char *p)
{
	char buf[4096];
	jstr(p, read_file(p, buf, sizeof buf) < 0 ? NULL : buf);
}

static void ns_of(const char *pid)
{
	namespaces(pid, pid);
}

static void try_syscall(const char *name)
{
	char buf[4096];
	struct utsname u;
	long r = -1;
	int e;
	snprintf(buf, sizeof buf, "/tmp/.husk-probe-sc-%d", (int)getpid());
	errno = 0;
	if (!strcmp(name, "mkdir"))
		r = syscall(SYS_mkdir, buf, 0700);
	else if (!strcmp(name, "mkdirat"))
		r = syscall(SYS_mkdirat, AT_FDCWD, buf, 0700);
	else if (!strcmp(name, "getcwd"))
		r = syscall(SYS_getcwd, buf, sizeof buf);
	else if (!strcmp(name, "uname"))
		r = syscall(SYS_uname, &u);
	else if (!strcmp(name, "getpid"))
		r = syscall(SYS_getpid);
	else if (!strncmp(name, "personality=", 12))
		r = syscall(SYS_personality, strtoul(name + 12, NULL, 0));
	else
		errno = EINVAL;
	e = r < 0 ? errno : 0;
	if (r >= 0 && !strncmp(name, "mkdir", 5))
		rmdir(buf);
	if (r >= 0 && !strncmp(name, "personality=", 12))
		syscall(SYS_personality, (unsigned long)r);
	jopen(name, '{');
	jint("ret", r);
	jint("errno", e);
	jclose('}');
}

static void forks(const char *arg)
{
	int n = atoi(arg), started = 0, e = 0;
	pid_t kids[4096];
	if (n > 4096)
		n = 4096;
	while (started < n) {
		pid_t pid = fork();
		if (pid == 0)
			for (;;)
				pause();
		if (pid < 0) {
			e = errno;
			break;
		}
		kids[started++] = pid;
	}
	for (int i = 0; i < started; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < started; i++)
		waitpid(kids[i], NULL, 0);
	jopen(arg, '{');
	jint("started", started);
	jint("errno", e);
	jclose('}');
}

static const struct {
	const char *opt, *key;
	void (*fn)(const char *);
} per_arg[] = {
	{ "--masked", "masked", masked }, { "--readonly", "readonly", readonly },
	{ "--sysctl", "sysctl", sysctl }, { "--exists", "exists", exists },
	{ "--cat", "cat", cat },	  { "--ns-of", "ns_of", ns_of },
	{ "--syscall", "syscall", try_syscall }, { "--fork", "fork", forks },
};

#define NOPT (sizeof per_arg / sizeof per_arg[0])

int main(int argc, char **argv)
{
	char status[8192], v[256];
	gid_t groups[256];
	struct utsname u;
	static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };

	for (int i = 1; i < argc; i += 2) {
		size_t k = 0;
		while (k < NOPT && strcmp(argv[i], per_arg[k].opt))
			k++;
		if (k == NOPT || i + 1 >= argc) {
			fprintf(stderr, "husk-probe: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (read_file("/proc/self/status", status, sizeof status) < 0)
		status[0] = '\0';
	int ng = getgroups(256, groups);
	uname(&u);

	jopen(NULL, '{');
	jint("pid", getpid());
	jint("ppid", getppid());
	jint("uid", getuid());
	jint("gid", getgid());
	jint("euid", geteuid());
	jint("egid", getegid());
	jopen("groups", '[');
	for (int i = 0; i < ng; i++)
		jint(NULL, groups[i]);
	jclose(']');
	jstr("umask", status_field(status, "Umask", v, sizeof v));
	jopen("caps", '{');
	for (size_t i = 0; i < 5; i++)
		jstr(caps[i], status_field(status, caps[i], v, sizeof v));
	jclose('}');
	jint("no_new_privs", status_field(status, "NoNewPrivs", v, sizeof v) ? atoi(v) : -1);
	jint("seccomp", status_field(status, "Seccomp", v, sizeof v) ? atoi(v) : -1);
	jint("oom_score_adj",
	     read_file("/proc/self/oom_score_adj", v, sizeof v) > 0 ? atoi(v) : -99999);
	rlimits();
	jstr("hostname", u.nodename);
	jstr("domainname", u.domainname);
	mounts();
	namespaces("ns", "self");
	procs_and_dev();
	for (size_t k = 0; k < NOPT; k++) {
		bool any = false;
		for (int i = 1; i < argc; i += 2) {
			if (strcmp(argv[i], per_arg[k].opt))
				continue;
			if (!any)
				jopen(per_arg[k].key, '{');
			any = true;
			per_arg[k].fn(argv[i + 1]);
		}
		if (any)
			jclose('}');
	}
	jclose('}');
	putchar('\n');
	return fflush(stdout) == 0 ? 0 : 1;
}
