/* Unit tests for where the husk.vm.kernel and husk.vm.initrd annotations may
 * take a file from (host-tool/allow.c, used by vmconf.c): the path check
 * (realpath, regular file, beneath an allowed directory or an allowed file
 * itself), husk.conf's kernel_dirs and the trust in it, and the defaults
 * found next to the binary. Every tree is made in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../host-tool/allow.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

/* <tmp>/allowed/{vmlinux,initrd.img,sub/k,inside -> vmlinux,out -> ../secret,
 * up -> ..}, <tmp>/allowedx/k (a name the allowed one is a prefix of),
 * <tmp>/secret, <tmp>/fifo */
static char tmp[PATH_MAX];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void make(const char *rel, mode_t mode)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	assert_int_equal(mkdir(p, mode), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void link_at(const char *target, const char *rel)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", tmp, rel);
	assert_int_equal(symlink(target, p), 0);
}

static const char *at(const char *rel)
{
	static char p[4][PATH_MAX + 64];
	static int slot;
	char *r = p[slot++ % 4];
	snprintf(r, sizeof p[0], "%s/%s", tmp, rel);
	return r;
}

static int setup(void **state)
{
	snprintf(tmp, sizeof tmp, "/tmp/husk-allow-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	char real[PATH_MAX];
	if (!realpath(tmp, real))
		return -1;
	snprintf(tmp, sizeof tmp, "%s", real);
	chmod(tmp, 0755);
	make("allowed", 0755);
	make("allowed/sub", 0755);
	make("allowedx", 0755);
	write_file("allowed/vmlinux", "kernel", 0644);
	write_file("allowed/initrd.img", "initrd", 0644);
	write_file("allowed/sub/k", "kernel", 0644);
	write_file("allowedx/k", "kernel", 0644);
	write_file("secret", "root:x:0:0", 0600);
	link_at("vmlinux", "allowed/inside");
	link_at("../secret", "allowed/out");
	link_at("..", "allowed/up");
	char f[PATH_MAX + 16];
	snprintf(f, sizeof f, "%s/fifo", tmp);
	if (mkfifo(f, 0644) < 0)
		return -1;
	return 0;
}

static int rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int teardown(void **state)
{
	return nftw(tmp, rm, 16, FTW_DEPTH | FTW_PHYS);
}

static struct husk_allow allowed_dir(void)
{
	struct husk_allow a = {0};
	assert_int_equal(husk_allow_add_dir(&a, at("allowed")), 0);
	return a;
}

static void expect_ok(const struct husk_allow *a, const char *path, const char *want)
{
	char out[PATH_MAX];
	struct husk_err err = {0};
	if (husk_allow_check(a, "husk.vm.kernel", path, out, sizeof out, &err) < 0)
		fail_msg("%s refused: %s", path, err.msg);
	assert_string_equal(out, want);
}

static void expect_refused(const struct husk_allow *a, const char *annotation, const char *path)
{
	char out[PATH_MAX] = "untouched";
	struct husk_err err = {0};
	assert_int_equal(husk_allow_check(a, annotation, path, out, sizeof out, &err), -1);
	assert_int_equal(err.code, EACCES);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "annotation %s: %s is not under an allowed directory (",
		 annotation, path);
	assert_contains(err.msg, want);
	assert_string_equal(out, "untouched");
}

/* ---- the path check ---- */

static void test_file_under_an_allowed_directory(void **state)
{
	struct husk_allow a = allowed_dir();
	expect_ok(&a, at("allowed/vmlinux"), at("allowed/vmlinux"));
	expect_ok(&a, at("allowed/sub/k"), at("allowed/sub/k"));
	/* as it resolves: QEMU gets the resolved path */
	expect_ok(&a, at("allowed/inside"), at("allowed/vmlinux"));
	expect_ok(&a, at("allowed/sub/../initrd.img"), at("allowed/initrd.img"));
	expect_ok(&a, at("allowed/up/allowed/vmlinux"), at("allowed/vmlinux"));
	husk_allow_free(&a);
}

static void test_host_files_refused(void **state)
{
	struct husk_allow a = allowed_dir();
	expect_refused(&a, "husk.vm.initrd", "/etc/shadow");
	expect_refused(&a, "husk.vm.initrd", "/etc/passwd");
	expect_refused(&a, "husk.vm.kernel", at("secret"));
	husk_allow_free(&a);
}

static void test_dot_dot_and_symlinks_out_refused(void **state)
{
	struct husk_allow a = allowed_dir();
	/* lexically under the directory, not once resolved */
	expect_refused(&a, "husk.vm.initrd", at("allowed/../secret"));
	expect_refused(&a, "husk.vm.initrd", at("allowed/sub/../../secret"));
	expect_refused(&a, "husk.vm.initrd", at("allowed/out"));
	expect_refused(&a, "husk.vm.initrd", at("allowed/up/secret"));
	char deep[PATH_MAX];
	snprintf(deep, sizeof deep, "%s/allowed/../../../../../../etc/shadow", tmp);
	expect_refused(&a, "husk.vm.initrd", deep);
	husk_allow_free(&a);
}

static void test_prefix_is_not_beneath(void **state)
{
	struct husk_allow a = allowed_dir();
	expect_refused(&a, "husk.vm.kernel", at("allowedx/k"));
	husk_allow_free(&a);
}

static void test_only_regular_files(void **state)
{
	struct husk_allow a = {0};
	assert_int_equal(husk_allow_add_dir(&a, tmp), 0);
	expect_refused(&a, "husk.vm.kernel", at("allowed"));
	expect_refused(&a, "husk.vm.kernel", at("fifo"));
	expect_refused(&a, "husk.vm.kernel", "/dev/null");
	/* the directory itself is not a file beneath it */
	expect_refused(&a, "husk.vm.kernel", tmp);
	expect_ok(&a, at("secret"), at("secret"));
	husk_allow_free(&a);
}

static void test_missing_and_relative_paths_refused_alike(void **state)
{
	struct husk_allow a = allowed_dir();
	/* one message whether it exists or not */
	expect_refused(&a, "husk.vm.kernel", at("allowed/none"));
	expect_refused(&a, "husk.vm.kernel", "/no/such/kernel");
	expect_refused(&a, "husk.vm.kernel", "allowed/vmlinux");
	expect_refused(&a, "husk.vm.kernel", "");
	husk_allow_free(&a);
}

static void test_allowed_file_alone(void **state)
{
	struct husk_allow a = {0};
	assert_int_equal(husk_allow_add_file(&a, at("allowed/inside")), 0);
	assert_int_equal(a.nfiles, 1);
	assert_string_equal(a.files[0], at("allowed/vmlinux"));
	expect_ok(&a, at("allowed/vmlinux"), at("allowed/vmlinux"));
	expect_ok(&a, at("allowed/inside"), at("allowed/vmlinux"));
	/* its neighbours are not */
	expect_refused(&a, "husk.vm.initrd", at("allowed/initrd.img"));
	husk_allow_free(&a);
}

static void test_nothing_allowed(void **state)
{
	struct husk_allow a = {0};
	struct husk_err err = {0};
	char out[PATH_MAX];
	expect_refused(&a, "husk.vm.kernel", at("allowed/vmlinux"));
	husk_allow_check(&a, "husk.vm.kernel", at("allowed/vmlinux"), out, sizeof out, &err);
	assert_contains(err.msg, "(none; kernel_dirs in " HUSK_CONF_PATH " adds more)");
}

static void test_message_lists_what_is_allowed(void **state)
{
	struct husk_allow a = allowed_dir();
	assert_int_equal(husk_allow_add_dir(&a, at("allowedx")), 0);
	assert_int_equal(husk_allow_add_file(&a, at("secret")), 0);
	/* a file beneath a listed directory is not listed again */
	assert_int_equal(husk_allow_add_file(&a, at("allowed/vmlinux")), 0);
	struct husk_err err = {0};
	char out[PATH_MAX], want[3 * PATH_MAX];
	assert_int_equal(
	    husk_allow_check(&a, "husk.vm.initrd", "/etc/shadow", out, sizeof out, &err), -1);
	snprintf(
	    want, sizeof want,
	    "annotation husk.vm.initrd: /etc/shadow is not under an allowed directory (%s, %s, "
	    "%s; kernel_dirs in %s adds more)",
	    at("allowed"), at("allowedx"), at("secret"), HUSK_CONF_PATH);
	assert_string_equal(err.msg, want);
	husk_allow_free(&a);
}

static void test_add_dedups_and_skips_missing(void **state)
{
	struct husk_allow a = {0};
	assert_int_equal(husk_allow_add_dir(&a, at("allowed")), 0);
	assert_int_equal(husk_allow_add_dir(&a, at("allowed/sub/..")), 0);
	assert_int_equal(a.ndirs, 1);
	assert_int_equal(husk_allow_add_dir(&a, at("nowhere")), -1);
	assert_int_equal(husk_allow_add_dir(&a, at("secret")), -1);   /* not a directory */
	assert_int_equal(husk_allow_add_file(&a, at("allowed")), -1); /* not a file */
	assert_int_equal(husk_allow_add_file(&a, at("fifo")), -1);
	assert_int_equal(a.ndirs, 1);
	assert_int_equal(a.nfiles, 0);
	husk_allow_free(&a);
}

/* ---- husk.conf ---- */

static void test_trusted(void **state)
{
	struct stat st = {.st_uid = 0, .st_mode = S_IFREG | 0644};
	assert_true(husk_allow_trusted(&st));
	st.st_mode = S_IFDIR | 0755;
	assert_true(husk_allow_trusted(&st));
	st.st_mode = S_IFREG | 0664;
	assert_false(husk_allow_trusted(&st));
	st.st_mode = S_IFREG | 0646;
	assert_false(husk_allow_trusted(&st));
	st.st_mode = S_IFDIR | 01777;
	assert_false(husk_allow_trusted(&st));
	st.st_mode = S_IFREG | 0644;
	st.st_uid = 1000;
	assert_false(husk_allow_trusted(&st));
}

static void need_root(void)
{
	if (geteuid() != 0)
		skip(); /* the trust in a directory is root's ownership */
}

static void test_conf_kernel_dirs(void **state)
{
	need_root();
	struct husk_allow a = {0};
	char text[4 * PATH_MAX];
	snprintf(text, sizeof text,
		 "# husk's configuration\n"
		 "\n"
		 "jail = on\n"				/* another reader's key */
		 "  kernel_dirs = %s : %s/sub  # two\n" /* spaces and a comment */
		 "kernel_dirs=%s\n"			/* a second line adds */
		 "kernel_dirs_extra = /etc\n"		/* not the key */
		 "#kernel_dirs = /etc\n"
		 "kernel_dirs /etc\n", /* no "=" */
		 at("allowed"), at("allowed"), at("allowedx"));
	assert_int_equal(husk_allow_parse_conf(&a, text, "husk.conf"), 3);
	assert_int_equal(a.ndirs, 3);
	assert_string_equal(a.dirs[0], at("allowed"));
	assert_string_equal(a.dirs[1], at("allowed/sub"));
	assert_string_equal(a.dirs[2], at("allowedx"));
	expect_ok(&a, at("allowedx/k"), at("allowedx/k"));
	expect_refused(&a, "husk.vm.kernel", "/etc/passwd");
	husk_allow_free(&a);
}

static void test_conf_entries_left_out(void **state)
{
	need_root();
	struct husk_allow a = {0};
	char text[4 * PATH_MAX], longline[6000];
	make("open", 0777);
	make("theirs", 0755);
	assert_int_equal(chown(at("theirs"), 65534, 65534), 0);
	memset(longline, 'a', sizeof longline);
	/* a line too long is left out whole, never cut to a prefix */
	int n = snprintf(longline, sizeof longline, "kernel_dirs = %s:/", tmp);
	longline[n] = '/';
	longline[sizeof longline - 1] = '\0';
	snprintf(text, sizeof text, "kernel_dirs = relative/dir:%s:%s:%s:%s:/no/such\n", at("open"),
		 at("theirs"), at("secret"), at("allowed/up/allowed"));
	assert_int_equal(husk_allow_parse_conf(&a, text, "husk.conf"), 1);
	assert_int_equal(a.ndirs, 1);
	assert_string_equal(a.dirs[0], at("allowed"));
	assert_int_equal(husk_allow_parse_conf(&a, longline, "husk.conf"), 0);
	assert_int_equal(a.ndirs, 1);
	husk_allow_free(&a);
}

static void test_conf_load(void **state)
{
	need_root();
	struct husk_allow a = {0};
	struct husk_err err = {0};
	char text[PATH_MAX + 32];
	make("etc", 0755);
	/* absent: nothing, no error */
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), 0);
	assert_int_equal(husk_allow_load_conf(&a, at("none/husk.conf"), &err), 0);
	assert_int_equal(a.ndirs, 0);
	snprintf(text, sizeof text, "kernel_dirs = %s\n", at("allowed"));
	write_file("etc/husk.conf", text, 0644);
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), 0);
	assert_int_equal(a.ndirs, 1);
	husk_allow_free(&a);

	/* group or world writable, or not root's: not read */
	assert_int_equal(chmod(at("etc/husk.conf"), 0664), 0);
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), -1);
	assert_int_equal(err.code, EPERM);
	assert_contains(err.msg, "husk.conf is not root's or is group or world writable");
	assert_int_equal(chmod(at("etc/husk.conf"), 0644), 0);
	assert_int_equal(chown(at("etc/husk.conf"), 65534, 0), 0);
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), -1);
	assert_int_equal(chown(at("etc/husk.conf"), 0, 0), 0);
	/* nor in a directory others may write */
	assert_int_equal(chmod(at("etc"), 0777), 0);
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), -1);
	assert_contains(err.msg, "its husk.conf is not read");
	assert_int_equal(chmod(at("etc"), 0755), 0);
	/* nor through a symlink */
	make("etc2", 0755);
	link_at("../etc/husk.conf", "etc2/husk.conf");
	assert_int_equal(husk_allow_load_conf(&a, at("etc2/husk.conf"), &err), -1);
	assert_int_equal(a.ndirs, 0);
	/* the check above can pass: the same file is read again */
	assert_int_equal(husk_allow_load_conf(&a, at("etc/husk.conf"), &err), 0);
	assert_int_equal(a.ndirs, 1);
	husk_allow_free(&a);
}

static void test_conf_path(void **state)
{
	/* the unit test is not the test build: HUSK_TEST_CONF means nothing */
	setenv("HUSK_TEST_CONF", "/tmp/elsewhere.conf", 1);
	assert_string_equal(husk_allow_conf_path(), HUSK_CONF_PATH);
	unsetenv("HUSK_TEST_CONF");
}

/* ---- defaults next to the binary ---- */

static void test_defaults_build_tree(void **state)
{
	/* <tmp>/build/{husk,kernel/vmlinux,initrd.img}; the test build's
	 * <tmp>/build/test/{kernel/vmlinux,initrd.img} link to them */
	struct husk_allow a = {0};
	make("build", 0755);
	make("build/kernel", 0755);
	make("build/test", 0755);
	make("build/test/kernel", 0755);
	write_file("build/kernel/vmlinux", "kernel", 0644);
	write_file("build/kernel/bzImage", "kernel", 0644);
	write_file("build/initrd.img", "initrd", 0644);
	write_file("build/husk", "elf", 0755);
	link_at(at("build/kernel/vmlinux"), "build/test/kernel/vmlinux");
	link_at(at("build/initrd.img"), "build/test/initrd.img");

	husk_allow_defaults(&a, at("build"));
	expect_ok(&a, at("build/kernel/vmlinux"), at("build/kernel/vmlinux"));
	expect_ok(&a, at("build/kernel/bzImage"), at("build/kernel/bzImage"));
	expect_ok(&a, at("build/initrd.img"), at("build/initrd.img"));
	/* the build directory itself is not allowed, only its defaults */
	expect_refused(&a, "husk.vm.kernel", at("build/husk"));
	husk_allow_free(&a);

	husk_allow_defaults(&a, at("build/test"));
	expect_ok(&a, at("build/test/kernel/vmlinux"), at("build/kernel/vmlinux"));
	expect_ok(&a, at("build/kernel/vmlinux"), at("build/kernel/vmlinux"));
	expect_ok(&a, at("build/initrd.img"), at("build/initrd.img"));
	expect_refused(&a, "husk.vm.kernel", at("build/kernel/bzImage"));
	expect_refused(&a, "husk.vm.kernel", at("build/husk"));
	husk_allow_free(&a);
}

static void test_defaults_install(void **state)
{
	/* <tmp>/prefix/{bin/husk,share/husk/{kernel,initrd.img}} */
	struct husk_allow a = {0};
	make("prefix", 0755);
	make("prefix/bin", 0755);
	make("prefix/share", 0755);
	make("prefix/share/husk", 0755);
	write_file("prefix/bin/husk", "elf", 0755);
	write_file("prefix/bin/other", "elf", 0755);
	write_file("prefix/share/husk/kernel", "kernel", 0644);
	write_file("prefix/share/husk/initrd.img", "initrd", 0644);
	husk_allow_defaults(&a, at("prefix/bin"));
	expect_ok(&a, at("prefix/share/husk/kernel"), at("prefix/share/husk/kernel"));
	expect_ok(&a, at("prefix/bin/../share/husk/initrd.img"),
		  at("prefix/share/husk/initrd.img"));
	/* the binary's directory is not */
	expect_refused(&a, "husk.vm.kernel", at("prefix/bin/other"));
	husk_allow_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_file_under_an_allowed_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_files_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dot_dot_and_symlinks_out_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_is_not_beneath, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_only_regular_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_and_relative_paths_refused_alike, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_allowed_file_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_message_lists_what_is_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_dedups_and_skips_missing, setup, teardown),
	    cmocka_unit_test(test_trusted),
	    cmocka_unit_test_setup_teardown(test_conf_kernel_dirs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conf_entries_left_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conf_load, setup, teardown),
	    cmocka_unit_test(test_conf_path),
	    cmocka_unit_test_setup_teardown(test_defaults_build_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults_install, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
