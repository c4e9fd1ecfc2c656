/* husk-testhelper: a small static program the integration tests run inside
 * the guest (and once as a bogus /init). Plain libc only.
 *
 *   pattern N        write N bytes of pattern_byte(i) to stdout, exit 0 at once
 *   exit N           exit with status N
 *   kill-self SIG    kill itself with SIG (name like TERM/SIGTERM, or a number)
 *   orphans N        make N orphaned grandchildren that exit after reparenting
 *   zombies [MS]     print the number of zombie processes in /proc; with MS,
 *                    re-count until it is 0 or MS milliseconds have passed
 *   trap             catch HUP INT QUIT USR1 USR2 TERM, print "ready", wait,
 *                    print the first signal's name, exit 10+signo
 *   sleep-forever    never exit (also the mode when PID 1 or argv[0] ends in
 *                    "init": a bogus /init that never greets the host)
 *   stderr-split     write distinct lines to stdout and to stderr
 *   tcp-serve PORT   serve TCP on PORT (IPv4 and IPv6), one connection at a
 *                    time; the first byte picks: 'S' sink (read to EOF, then
 *                    reply with the count as 8 bytes big-endian), 'G' source
 *                    (read an 8-byte big-endian count, write that many bytes,
 *                    close), 'E' echo (until EOF). For make bench.
 */
#include <ctype.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *msg)
{
	fprintf(stderr, "husk-testhelper: %s\n", msg);
	exit(99);
}

static unsigned long long parse_num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		die("bad number");
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Keep in sync with pattern_bytes() in tests/integration/conftest.py. */
static unsigned char pattern_byte(unsigned long long i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static int cmd_pattern(unsigned long long n)
{
	static unsigned char buf[256 * 1024];
	unsigned long long i = 0;
	while (i < n) {
		size_t chunk = n - i < sizeof buf ? (size_t)(n - i) : sizeof buf;
		for (size_t k = 0; k < chunk; k++)
			buf[k] = pattern_byte(i + k);
		if (write_all(1, buf, chunk) < 0)
			die("write to stdout failed");
		i += chunk;
	}
	_exit(0); /* no stdio flush, no atexit: exit the moment the data is written */
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* File system benchmarks, timed inside (guest or host), printing seconds:
 *   seqwrite PATH BYTES   write then fsync PATH
 *   seqread PATH          read PATH to the end
 *   statdir DIR           stat every entry of DIR */
static int cmd_fs(const char *what, const char *path, unsigned long long n)
{
	static unsigned char buf[1 << 20];
	double t = now_s();
	if (!strcmp(what, "seqwrite")) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		memset(buf, 'w', sizeof buf);
		for (unsigned long long left = n; fd >= 0 && left > 0;) {
			size_t c = left < sizeof buf ? (size_t)left : sizeof buf;
			if (write_all(fd, buf, c) < 0)
				die("write failed");
			left -= c;
		}
		if (fd < 0 || fsync(fd) < 0)
			die("seqwrite: open or fsync failed");
		close(fd);
	} else if (!strcmp(what, "seqread")) {
		int fd = open(path, O_RDONLY);
		ssize_t r;
		if (fd < 0)
			die("seqread: open failed");
		while ((r = read(fd, buf, sizeof buf)) > 0)
			;
		close(fd);
	} else {
		DIR *d = opendir(path);
		struct dirent *e;
		struct stat st;
		char p[4096];
		int count = 0;
		while (d && (e = readdir(d))) {
			snprintf(p, sizeof p, "%s/%s", path, e->d_name);
			if (stat(p, &st) == 0)
				count++;
		}
		if (!d || count < 2)
			die("statdir: nothing to stat");
		closedir(d);
	}
	printf("%.6f\n", now_s() - t);
	return 0;
}

/* fill N: N bytes of one constant buffer, the same work as the raw floor. */
static int cmd_fill(unsigned long long n)
{
	static unsigned char buf[64 * 1024];
	memset(buf, 'x', sizeof buf);
	while (n > 0) {
		size_t chunk = n < sizeof buf ? (size_t)n : sizeof buf;
		if (write_all(1, buf, chunk) < 0)
			die("write to stdout failed");
		n -= chunk;
	}
	_exit(0);
}

static const struct {
	const char *name;
	int sig;
} signames[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"ILL", SIGILL},	{"ABRT", SIGABRT},
    {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"PWR", SIGPWR},
};

static int parse_sig(const char *s)
{
	if (isdigit((unsigned char)s[0]))
		return (int)parse_num(s);
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
		if (!strcmp(s, signames[i].name))
			return signames[i].sig;
	die("unknown signal");
	return 0;
}

static const char *sig_name(int sig)
{
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
		if (signames[i].sig == sig)
			return signames[i].name;
	return "?";
}

static int cmd_kill_self(int sig)
{
	sigset_t all;
	signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	kill(getpid(), sig);
	sleep_ms(5000);
	die("still alive after kill-self");
	return 99;
}

static int cmd_orphans(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0)
			die("fork failed");
		if (c == 0) {
			pid_t me = getpid();
			pid_t g = fork();
			if (g < 0)
				_exit(1);
			if (g == 0) {
				/* Wait (bounded) until reparented, then exit as an orphan. */
				for (int k = 0; k < 500 && getppid() == me; k++)
					sleep_ms(10);
				_exit(0);
			}
			_exit(0);
		}
	}
	int ok = 0;
	for (int i = 0; i < n; i++) {
		int st;
		if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	sleep_ms(500); /* let the grandchildren exit */
	printf("orphans %d\n", ok);
	return ok == n ? 0 : 1;
}

static int count_zombies(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	if (!d)
		die("cannot open /proc");
	while ((e = readdir(d))) {
		char path[300], buf[1024];
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			n++;
	}
	closedir(d);
	return n;
}

static int cmd_zombies(long wait_ms)
{
	int n = count_zombies();
	for (long waited = 0; n > 0 && waited < wait_ms; waited += 20) {
		sleep_ms(20);
		n = count_zombies();
	}
	printf("%d\n", n);
	return 0;
}

static volatile sig_atomic_t got_sig;

static void on_sig(int sig)
{
	if (!got_sig)
		got_sig = sig;
}

static int cmd_trap(void)
{
	static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM};
	sigset_t block, old;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigfillset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaddset(&block, sigs[i]);
		if (sigaction(sigs[i], &sa, NULL) < 0)
			die("sigaction failed");
	}
	sigprocmask(SIG_BLOCK, &block, &old);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigdelset(&old, sigs[i]);
	printf("ready\n");
	fflush(stdout);
	while (!got_sig)
		sigsuspend(&old);
	printf("%s\n", sig_name(got_sig));
	fflush(stdout);
	return 10 + got_sig;
}

static __attribute__((noreturn)) void cmd_sleep_forever(int as_init)
{
	if (as_init) {
		static const char msg[] = "husk-testhelper: bogus init, sleeping forever\n";
		if (write(1, msg, sizeof msg - 1) < 0) {
			/* nothing to report it to */
		}
	}
	for (;;)
		pause();
}

static int cmd_stderr_split(void)
{
	for (int i = 1; i <= 3; i++) {
		printf("stdout line %d\n", i);
		fflush(stdout);
		fprintf(stderr, "stderr line %d\n", i);
		fflush(stderr);
	}
	return 0;
}

static int full_write(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve_one(int c)
{
	static char buf[256 * 1024];
	unsigned char mode, cnt[8];
	unsigned long long n = 0;
	if (read(c, &mode, 1) != 1)
		return;
	if (mode == 'S') {
		ssize_t r;
		while ((r = read(c, buf, sizeof buf)) > 0)
			n += (unsigned long long)r;
		for (int i = 0; i < 8; i++)
			cnt[i] = (unsigned char)(n >> (56 - 8 * i));
		full_write(c, cnt, 8);
	} else if (mode == 'G') {
		size_t got = 0;
		while (got < 8) {
			ssize_t r = read(c, cnt + got, 8 - got);
			if (r <= 0)
				return;
			got += (size_t)r;
		}
		for (int i = 0; i < 8; i++)
			n = n << 8 | cnt[i];
		memset(buf, 'x', sizeof buf);
		while (n) {
			size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
			if (full_write(c, buf, k) < 0)
				return;
			n -= k;
		}
	} else if (mode == 'E') {
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		ssize_t r;
		while ((r = read(c, buf, sizeof buf)) > 0)
			if (full_write(c, buf, (size_t)r) < 0)
				return;
	}
}

static __attribute__((noreturn)) int cmd_tcp_serve(unsigned port)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0), zero = 0, one = 1;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	if (s < 0)
		die("socket");
	setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0)
		die("bind/listen");
	printf("listening %u\n", port);
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
}

/* bind() a unix socket at path, connect to it, pass a line through it */
static int cmd_unix_echo(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char line[64] = "";
	if (strlen(path) >= sizeof a.sun_path)
		die("path too long");
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || c < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0)
		die("bind");
	if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("connect");
	int p = accept(s, NULL, NULL);
	if (p < 0 || full_write(c, "through-socket\n", 15) < 0 ||
	    read(p, line, sizeof line - 1) <= 0)
		die("accept/write/read");
	fputs(line, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *a0 = argv[0] ? argv[0] : "";
	size_t l0 = strlen(a0);
	if (getpid() == 1 || (l0 >= 4 && !strcmp(a0 + l0 - 4, "init")))
		cmd_sleep_forever(1);
	if (argc < 2)
		die("usage: husk-testhelper pattern N | exit N | kill-self SIG | orphans N | "
		    "zombies [MS] | trap | sleep-forever | stderr-split | tcp-serve PORT | "
		    "unix-echo PATH");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "pattern") && argc == 3)
		return cmd_pattern(parse_num(argv[2]));
	if ((!strcmp(cmd, "seqwrite") && argc == 4) || (!strcmp(cmd, "seqread") && argc == 3) ||
	    (!strcmp(cmd, "statdir") && argc == 3))
		return cmd_fs(cmd, argv[2], argc == 4 ? parse_num(argv[3]) : 0);
	if (!strcmp(cmd, "fill") && argc == 3)
		return cmd_fill(parse_num(argv[2]));
	if (!strcmp(cmd, "exit") && argc == 3)
		return (int)parse_num(argv[2]);
	if (!strcmp(cmd, "kill-self") && argc == 3)
		return cmd_kill_self(parse_sig(argv[2]));
	if (!strcmp(cmd, "orphans") && argc == 3)
		return cmd_orphans((int)parse_num(argv[2]));
	if (!strcmp(cmd, "zombies") && argc <= 3)
		return cmd_zombies(argc == 3 ? (long)parse_num(argv[2]) : 0);
	if (!strcmp(cmd, "trap") && argc == 2)
		return cmd_trap();
	if (!strcmp(cmd, "sleep-forever") && argc == 2)
		cmd_sleep_forever(0);
	if (!strcmp(cmd, "stderr-split") && argc == 2)
		return cmd_stderr_split();
	if (!strcmp(cmd, "tcp-serve") && argc == 3)
		return cmd_tcp_serve((unsigned)parse_num(argv[2]));
	if (!strcmp(cmd, "unix-echo") && argc == 3)
		return cmd_unix_echo(argv[2]);
	die("unknown subcommand or wrong arguments");
	return 99;
}
