/* Unit tests for the facts host and agent share (protocol/facts.c). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "husk-facts.h"

static void test_agent_port(void **state)
{
	assert_string_equal(HUSK_AGENT_PORT, "org.husk.agent.0");
}

static void test_id_valid(void **state)
{
	static const char *const good[] = {"a", "web-1", "A.b_c", "0", "x.", "a-", "a..b"};
	char longest[129];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_int_equal(husk_id_check(good[i], NULL), 0);
	memset(longest, 'a', 128);
	longest[128] = '\0';
	assert_int_equal(husk_id_check(longest, NULL), 0);
}

static void test_id_invalid(void **state)
{
	static const struct {
		const char *id, *words;
	} bad[] = {
	    {"", "invalid container id \"\""},
	    {".hidden", "invalid container id \".hidden\""},
	    {"-rf", "invalid container id \"-rf\""},
	    {"..", "invalid container id"},
	    {"a/b", "use letters, digits, _ . -"},
	    {"a b", "use letters, digits, _ . -"},
	    {"a:b", "use letters"},
	    {"caf\xc3\xa9", "use letters"},
	    {"a\nb", "use letters"},
	};
	char toolong[130];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct husk_err err = {0};

		assert_int_equal(husk_id_check(bad[i].id, &err), -1);
		assert_int_equal(err.code, EINVAL);
		if (!strstr(err.msg, bad[i].words))
			fail_msg("\"%s\" does not contain \"%s\"", err.msg, bad[i].words);
	}
	memset(toolong, 'a', 129);
	toolong[129] = '\0';
	assert_int_equal(husk_id_check(toolong, NULL), -1);
}

/* A path inside a VM's share: a container id (of any valid spelling) and
 * a name under it pass; nothing that could leave the share does. */
static void test_share_path(void **state)
{
	static const char *const good[] = {"",	"web/rootfs", "a..b/rootfs", "x./binds-ro",
					   "a", "a/b/c",      "...",	     ".a/b."};
	static const char *const bad[] = {"/",	  "/etc",  "..",   ".",	 "a/..",
					  "../a", "a/./b", "a//b", "a/", "//"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (husk_share_path_check(good[i], "p", NULL) != 0)
			fail_msg("\"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct husk_err err = {0};
		if (husk_share_path_check(bad[i], "spec.binds", &err) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(err.code, EINVAL);
		assert_non_null(strstr(err.msg, "spec.binds \""));
	}
}

static void test_path_of_env(void **state)
{
	char *none[] = {NULL};
	char *other[] = {"HOME=/root", "PATHX=/x", "MYPATH=/y", NULL};
	char *two[] = {"TERM=xterm", "PATH=/first", "PATH=/second", NULL};
	char *empty[] = {"PATH=", NULL};

	assert_string_equal(husk_path_of_env(NULL), HUSK_DEFAULT_PATH);
	assert_string_equal(husk_path_of_env(none), HUSK_DEFAULT_PATH);
	assert_string_equal(husk_path_of_env(other), HUSK_DEFAULT_PATH);
	/* the first, as getenv() finds it */
	assert_string_equal(husk_path_of_env(two), "/first");
	assert_string_equal(husk_path_of_env(empty), "");
	assert_string_equal(HUSK_DEFAULT_PATH,
			    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

/* Every candidate husk_path_next gives for prog along path, joined by '|'. */
static void walk(const char *path, const char *prog, size_t size, const char *want)
{
	char buf[256], got[1024] = "";

	assert_true(size <= sizeof buf);
	while (husk_path_next(&path, prog, buf, size)) {
		if (got[0])
			strcat(got, "|");
		strcat(got, buf);
	}
	assert_string_equal(got, want);
	assert_string_equal(path, "");
}

static void test_path_next(void **state)
{
	walk("/bin:/usr/bin", "sh", 256, "/bin/sh|/usr/bin/sh");
	walk("/bin", "sh", 256, "/bin/sh");
	walk("", "sh", 256, "");
	/* an empty entry is the working directory; a trailing ':' adds none */
	walk(":/bin", "sh", 256, "./sh|/bin/sh");
	walk("/bin::/sbin", "sh", 256, "/bin/sh|./sh|/sbin/sh");
	walk("/bin:", "sh", 256, "/bin/sh");
	walk(HUSK_DEFAULT_PATH, "ls", 256,
	     "/usr/local/sbin/ls|/usr/local/bin/ls|/usr/sbin/ls|/usr/bin/ls|/sbin/ls|/bin/ls");
	/* what does not fit is skipped, the rest still comes */
	walk("/a/very/long/directory:/bin", "sh", 12, "/bin/sh");
	walk("/bin:/x", "sh", 8, "/bin/sh|/x/sh");
	walk("/bin:/x", "sh", 7, "/x/sh");
	walk("/toolong", "sh", 4, "");
}

static void test_exec_status(void **state)
{
	assert_int_equal(husk_exec_status(EACCES), 126);
	assert_int_equal(husk_exec_status(ENOEXEC), 126);
	assert_int_equal(husk_exec_status(EISDIR), 126);
	assert_int_equal(husk_exec_status(ENOENT), 127);
	assert_int_equal(husk_exec_status(ENOTDIR), 127);
	assert_int_equal(husk_exec_status(ELOOP), 127);
	assert_int_equal(husk_exec_status(0), 127);
}

static void test_signals(void **state)
{
	static const int forwarded[] = {SIGHUP,	 SIGINT,   SIGQUIT, SIGUSR1, SIGUSR2,  SIGALRM,
					SIGTERM, SIGCONT,  SIGURG,  SIGXCPU, SIGXFSZ,  SIGVTALRM,
					SIGPROF, SIGWINCH, SIGIO,   SIGPWR,  SIGSTKFLT};
	static const int kept[] = {SIGKILL, SIGSTOP, SIGCHLD, SIGPIPE, SIGSEGV, SIGBUS,	 SIGFPE,
				   SIGILL,  SIGTRAP, SIGSYS,  SIGABRT, SIGTTIN, SIGTTOU, SIGTSTP};
	int n = 0;

	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		if (!husk_signal_forwarded(forwarded[i]))
			fail_msg("signal %d is not forwarded", forwarded[i]);
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		if (husk_signal_forwarded(kept[i]))
			fail_msg("signal %d is forwarded", kept[i]);
	for (int sig = -1; sig < 70; sig++)
		n += husk_signal_forwarded(sig);
	/* the standard signals but those kept; none outside 1..31 */
	assert_int_equal(n, 31 - (int)(sizeof kept / sizeof kept[0]));
	assert_false(husk_signal_forwarded(0));
	assert_false(husk_signal_forwarded(32));
	assert_false(husk_signal_forwarded(SIGRTMIN));
	assert_false(husk_signal_forwarded(64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_agent_port), cmocka_unit_test(test_id_valid),
	    cmocka_unit_test(test_id_invalid), cmocka_unit_test(test_path_of_env),
	    cmocka_unit_test(test_path_next),  cmocka_unit_test(test_exec_status),
	    cmocka_unit_test(test_signals),    cmocka_unit_test(test_share_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
