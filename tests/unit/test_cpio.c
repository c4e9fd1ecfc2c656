/* Unit tests for initrd-builder/cpio.c: list parsing and the reproducible
 * newc writer, read back with libarchive. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "../../initrd-builder/cpio.h"

/* ---- helpers ---- */

static void parse_ok(const char *text, struct mkinitrd_list *l)
{
	struct husk_err err = { 0 };
	int r = mkinitrd_list_parse(text, strlen(text), "t.list", l, &err);
	if (r != 0)
		fail_msg("parse failed: %s", err.msg);
}

/* Parsing must fail with exactly this message and code, leaving nothing. */
static void parse_fails(const char *text, size_t len, int code, const char *want)
{
	struct husk_err err = { 0 };
	struct mkinitrd_list l;
	memset(&l, 0xaa, sizeof l);
	int r = mkinitrd_list_parse(text, len, "t.list", &l, &err);
	if (r != -1)
		fail_msg("parse of '%s' succeeded, expected '%s'", text, want);
	if (strcmp(err.msg, want) != 0)
		fail_msg("got error '%s'\n  expected '%s'", err.msg, want);
	assert_int_equal(err.code, code);
	assert_null(l.entries);
	assert_null(l.listname);
	assert_int_equal(l.n, 0);
}

#define FAILS(text, code, want) parse_fails((text), strlen(text), (code), (want))

/* ---- parsing ---- */

static void test_parse_every_kind(void **state)
{
	struct mkinitrd_list l;
	parse_ok("file /init build/husk-agent 0755 0 0\n"
		 "dir /dev 0755 0 0\n"
		 "nod /dev/console 0600 0 5 c 5 1\n"
		 "nod /dev/sda 0660 0 6 b 8 16\n"
		 "slink /sh /bin/busybox 0777 1000 1001\n"
		 "dir /tmp 1777 4294967295 7\n",
		 &l);
	assert_string_equal(l.listname, "t.list");
	assert_int_equal(l.n, 6);
	/* sorted by name */
	const struct mkinitrd_entry *e = l.entries;
	assert_string_equal(e[0].name, "/dev");
	assert_int_equal(e[0].kind, MKINITRD_DIR);
	assert_int_equal(e[0].mode, 0755);
	assert_int_equal(e[0].line, 2);
	assert_null(e[0].source);

	assert_string_equal(e[1].name, "/dev/console");
	assert_int_equal(e[1].kind, MKINITRD_NOD);
	assert_int_equal(e[1].mode, 0600);
	assert_int_equal(e[1].uid, 0);
	assert_int_equal(e[1].gid, 5);
	assert_int_equal(e[1].devtype, 'c');
	assert_int_equal(e[1].major, 5);
	assert_int_equal(e[1].minor, 1);
	assert_int_equal(e[1].line, 3);

	assert_string_equal(e[2].name, "/dev/sda");
	assert_int_equal(e[2].devtype, 'b');
	assert_int_equal(e[2].major, 8);
	assert_int_equal(e[2].minor, 16);
	assert_int_equal(e[2].gid, 6);

	assert_string_equal(e[3].name, "/init");
	assert_int_equal(e[3].kind, MKINITRD_FILE);
	assert_string_equal(e[3].source, "build/husk-agent");
	assert_int_equal(e[3].mode, 0755);
	assert_int_equal(e[3].line, 1);

	assert_string_equal(e[4].name, "/sh");
	assert_int_equal(e[4].kind, MKINITRD_SLINK);
	assert_string_equal(e[4].source, "/bin/busybox");
	assert_int_equal(e[4].mode, 0777);
	assert_int_equal(e[4].uid, 1000);
	assert_int_equal(e[4].gid, 1001);

	assert_string_equal(e[5].name, "/tmp");
	assert_int_equal(e[5].mode, 01777);
	assert_int_equal(e[5].uid, 4294967295u);
	assert_int_equal(e[5].gid, 7);
	mkinitrd_list_free(&l);
	assert_null(l.entries);
}

static void test_parse_comments_blanks(void **state)
{
	struct mkinitrd_list l;
	parse_ok("# a comment\n"
		 "\n"
		 "   \t \n"
		 "  # indented comment: dir /nope 0755 0 0\n"
		 "\tdir   /a\t0700  1 2  \r\n"
		 "#dir /b 0755 0 0\n"
		 "dir /c 0755 0 0", /* no final newline */
		 &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.entries[0].name, "/a");
	assert_int_equal(l.entries[0].line, 5);
	assert_int_equal(l.entries[0].mode, 0700);
	assert_int_equal(l.entries[0].uid, 1);
	assert_int_equal(l.entries[0].gid, 2);
	assert_string_equal(l.entries[1].name, "/c");
	assert_int_equal(l.entries[1].line, 7);
	mkinitrd_list_free(&l);

	parse_ok("", &l);
	assert_int_equal(l.n, 0);
	mkinitrd_list_free(&l);
	parse_ok("# only comments\n\n", &l);
	assert_int_equal(l.n, 0);
	mkinitrd_list_free(&l);
}

static void test_parse_bad_mode(void **state)
{
	FAILS("dir /a 0755 0 0\n\ndir /x 0758 0 0\n", EINVAL,
	      "t.list:3: dir /x: bad mode '0758' (expected octal permission bits, at most 07777)");
	FAILS("dir /x rwx 0 0", EINVAL,
	      "t.list:1: dir /x: bad mode 'rwx' (expected octal permission bits, at most 07777)");
	FAILS("dir /x 010000 0 0", EINVAL,
	      "t.list:1: dir /x: bad mode '010000' (expected octal permission bits, at most 07777)");
	FAILS("file /x src -644 0 0", EINVAL,
	      "t.list:1: file /x: bad mode '-644' (expected octal permission bits, at most 07777)");
	FAILS("slink /x y 0x1ff 0 0", EINVAL,
	      "t.list:1: slink /x: bad mode '0x1ff' (expected octal permission bits, at most 07777)");
}

static void test_parse_bad_kind(void **state)
{
	FAILS("dir /a 0755 0 0\nlink /a/b /c 0777 0 0\n", EINVAL,
	      "t.list:2: unknown entry kind 'link' (expected file, dir, nod or slink)");
	FAILS("DIR /a 0755 0 0", EINVAL,
	      "t.list:1: unknown entry kind 'DIR' (expected file, dir, nod or slink)");
	FAILS("/a dir 0755 0 0", EINVAL,
	      "t.list:1: unknown entry kind '/a' (expected file, dir, nod or slink)");
}

static void test_parse_missing_fields(void **state)
{
	FAILS("file", EINVAL, "t.list:1: file: missing <name>");
	FAILS("dir /x 0755 0\n", EINVAL, "t.list:1: dir /x: missing <gid>");
	FAILS("file /x src\n", EINVAL, "t.list:1: file /x: missing <mode>");
	FAILS("slink /x\n", EINVAL, "t.list:1: slink /x: missing <target>");
	FAILS("dir /dev 0755 0 0\nnod /dev/x 0600 0 0 c 5\n", EINVAL,
	      "t.list:2: nod /dev/x: missing <minor>");
	FAILS("nod /x 0600 0 0\n", EINVAL, "t.list:1: nod /x: missing <type>");
}

static void test_parse_trailing_garbage(void **state)
{
	FAILS("dir /x 0755 0 0 extra\n", EINVAL, "t.list:1: dir /x: unexpected 'extra' after <gid>");
	FAILS("nod /x 0600 0 0 c 5 1 2 3\n", EINVAL,
	      "t.list:1: nod /x: unexpected '2' after <minor>");
	FAILS("file /x src 0644 0 0 # comment\n", EINVAL,
	      "t.list:1: file /x: unexpected '#' after <gid>");
}

static void test_parse_bad_numbers(void **state)
{
	FAILS("dir /x 0755 -1 0", EINVAL, "t.list:1: dir /x: bad uid '-1'");
	FAILS("dir /x 0755 0 4294967296", EINVAL, "t.list:1: dir /x: bad gid '4294967296'");
	FAILS("dir /x 0755 12a 0", EINVAL, "t.list:1: dir /x: bad uid '12a'");
	FAILS("nod /x 0600 0 0 u 5 1", EINVAL,
	      "t.list:1: nod /x: bad device type 'u' (expected c or b)");
	FAILS("nod /x 0600 0 0 cb 5 1", EINVAL,
	      "t.list:1: nod /x: bad device type 'cb' (expected c or b)");
	FAILS("nod /x 0600 0 0 c 4096 1", EINVAL, "t.list:1: nod /x: bad major '4096' (0 to 4095)");
	FAILS("nod /x 0600 0 0 b 1 1048576", EINVAL,
	      "t.list:1: nod /x: bad minor '1048576' (0 to 1048575)");
}

static void test_parse_bad_names(void **state)
{
	static const char *const bad[] = { "x", "/", "/a/", "//a", "/a//b", "/./a", "/a/..", "./a" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[128], want[256];
		snprintf(text, sizeof text, "dir %s 0755 0 0\n", bad[i]);
		snprintf(want, sizeof want,
			 "t.list:1: dir: bad name '%s' (expected an absolute path without '.', "
			 "'..' or empty components)",
			 bad[i]);
		FAILS(text, EINVAL, want);
	}
	/* dots inside a component are fine */
	struct mkinitrd_list l;
	parse_ok("dir /.a 0755 0 0\nfile /.a/..b src 0644 0 0\n", &l);
	assert_int_equal(l.n, 2);
	mkinitrd_list_free(&l);
}

static void test_parse_duplicates(void **state)
{
	FAILS("dir /a 0755 0 0\ndir /b 0755 0 0\ndir /a 0700 0 0\n", EEXIST,
	      "t.list:3: dir /a: duplicate of line 1");
	FAILS("file /init x 0755 0 0\n# c\ndir /init 0755 0 0\n", EEXIST,
	      "t.list:3: dir /init: duplicate of line 1");
}

static void test_parse_parents(void **state)
{
	FAILS("dir /a 0755 0 0\nfile /a/b/c src 0644 0 0\n", ENOENT,
	      "t.list:2: file /a/b/c: parent directory /a/b is not listed");
	FAILS("file /a src 0644 0 0\ndir /a/b 0755 0 0\n", ENOTDIR,
	      "t.list:2: dir /a/b: parent /a (line 1) is not a dir");
	FAILS("slink /a b 0777 0 0\nnod /a/c 0600 0 0 c 1 3\n", ENOTDIR,
	      "t.list:2: nod /a/c: parent /a (line 1) is not a dir");
	/* a parent may come after its children in the list, and a sibling
	 * whose name sorts between them ("/a-b" < "/a/x") changes nothing */
	struct mkinitrd_list l;
	parse_ok("file /a/x src 0644 0 0\ndir /a-b 0755 0 0\ndir /a 0755 0 0\n", &l);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.entries[0].name, "/a");
	assert_string_equal(l.entries[1].name, "/a-b");
	assert_string_equal(l.entries[2].name, "/a/x");
	mkinitrd_list_free(&l);
}

static void test_parse_control_chars(void **state)
{
	static const char nul[] = "dir /a 0755 0 0\ndir /b\0 0755 0 0\n";
	parse_fails(nul, sizeof nul - 1, EINVAL, "t.list:2: control character 0x00 in the line");
	FAILS("dir /a\x1b 0755 0 0\n", EINVAL, "t.list:1: control character 0x1b in the line");
}

/* ---- writer ---- */

static char tmpdir[64];
static char big[100000];

static int writer_setup(void **state)
{
	strcpy(tmpdir, "/tmp/test_cpio.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + i / 251);
	static const struct {
		const char *name;
		const char *data;
		size_t len;
	} files[] = {
		{ "init", "#!/bin/sh\necho hi\n", 18 },
		{ "empty", "", 0 },
		{ "big", big, sizeof big },
	};
	for (size_t i = 0; i < 3; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/%s", tmpdir, files[i].name);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, files[i].data, files[i].len) != (ssize_t)files[i].len)
			return -1;
		close(fd);
	}
	return 0;
}

static int writer_teardown(void **state)
{
	static const char *const names[] = { "init", "empty", "big" };
	for (size_t i = 0; i < 3; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
	return 0;
}

/* The same tree listed in two orders; "@" stands for the temp dir. */
static const char list_a[] = "# test tree\n"
			     "dir /bin 0755 0 0\n"
			     "file /bin/big @/big 0644 1000 1001\n"
			     "slink /bin/sh busybox 0777 0 0\n"
			     "file /init @/init 0755 0 0\n"
			     "dir /dev 0755 0 0\n"
			     "nod /dev/console 0600 0 0 c 5 1\n"
			     "nod /dev/sda 0660 0 6 b 8 0\n"
			     "file /empty @/empty 0400 0 0\n"
			     "dir /tmp 1777 0 0\n";
static const char list_b[] = "dir /tmp 1777 0 0\n"
			     "file /empty @/empty 0400 0 0\n"
			     "nod /dev/sda 0660 0 6 b 8 0\n"
			     "nod /dev/console 0600 0 0 c 5 1\n"
			     "file /init @/init 0755 0 0\n"
			     "\n"
			     "slink /bin/sh busybox 0777 0 0\n"
			     "file /bin/big @/big 0644 1000 1001\n"
			     "dir /dev 0755 0 0\n"
			     "dir /bin 0755 0 0\n";

struct want {
	const char *path;
	unsigned int mode; /* with the type */
	unsigned int uid, gid, nlink;
	const char *data; /* file content, or symlink target */
	size_t size;
	unsigned int rmaj, rmin;
};

static const struct want want[] = {
	{ "bin", AE_IFDIR | 0755, 0, 0, 2, NULL, 0, 0, 0 },
	{ "bin/big", AE_IFREG | 0644, 1000, 1001, 1, big, sizeof big, 0, 0 },
	{ "bin/sh", AE_IFLNK | 0777, 0, 0, 1, "busybox", 7, 0, 0 },
	{ "dev", AE_IFDIR | 0755, 0, 0, 2, NULL, 0, 0, 0 },
	{ "dev/console", AE_IFCHR | 0600, 0, 0, 1, NULL, 0, 5, 1 },
	{ "dev/sda", AE_IFBLK | 0660, 0, 6, 1, NULL, 0, 8, 0 },
	{ "empty", AE_IFREG | 0400, 0, 0, 1, "", 0, 0, 0 },
	{ "init", AE_IFREG | 0755, 0, 0, 1, "#!/bin/sh\necho hi\n", 18, 0, 0 },
	{ "tmp", AE_IFDIR | 01777, 0, 0, 2, NULL, 0, 0, 0 },
};

/* Copies in to out, replacing each '@' with the temp dir. */
static void subst(const char *in, char *out, size_t size)
{
	size_t n = 0, dl = strlen(tmpdir);
	for (; *in; in++) {
		const char *s = *in == '@' ? tmpdir : in;
		size_t sl = *in == '@' ? dl : 1;
		assert_true(n + sl < size);
		memcpy(out + n, s, sl);
		n += sl;
	}
	out[n] = '\0';
}

/* Parses tmpl, writes the archive, returns its bytes. */
static unsigned char *build(const char *tmpl, bool gzip, size_t *len)
{
	char text[2048];
	subst(tmpl, text, sizeof text);
	struct mkinitrd_list l;
	struct husk_err err = { 0 };
	parse_ok(text, &l);
	int fd = memfd_create("cpio", MFD_CLOEXEC);
	assert_true(fd >= 0);
	if (mkinitrd_write(&l, fd, gzip, &err) != 0)
		fail_msg("write failed: %s", err.msg);
	mkinitrd_list_free(&l);
	off_t end = lseek(fd, 0, SEEK_END);
	assert_true(end > 0);
	unsigned char *buf = malloc((size_t)end);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	close(fd);
	*len = (size_t)end;
	return buf;
}

static void check_archive(const unsigned char *buf, size_t len, bool gzip)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	assert_non_null(a);
	archive_read_support_format_cpio(a);
	archive_read_support_filter_gzip(a);
	assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
	size_t i = 0;
	int r;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		assert_true(i < sizeof want / sizeof want[0]);
		const struct want *w = &want[i];
		assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
		assert_int_equal(archive_filter_code(a, 0),
				 gzip ? ARCHIVE_FILTER_GZIP : ARCHIVE_FILTER_NONE);
		assert_string_equal(archive_entry_pathname(ae), w->path);
		assert_int_equal(archive_entry_mode(ae), w->mode);
		assert_int_equal(archive_entry_uid(ae), w->uid);
		assert_int_equal(archive_entry_gid(ae), w->gid);
		assert_int_equal(archive_entry_mtime(ae), 0);
		assert_int_equal(archive_entry_ino64(ae), i + 1);
		assert_int_equal(archive_entry_nlink(ae), w->nlink);
		assert_int_equal(archive_entry_devmajor(ae), 0);
		assert_int_equal(archive_entry_devminor(ae), 0);
		assert_int_equal(archive_entry_rdevmajor(ae), w->rmaj);
		assert_int_equal(archive_entry_rdevminor(ae), w->rmin);
		if ((w->mode & AE_IFMT) == AE_IFLNK) {
			assert_string_equal(archive_entry_symlink(ae), w->data);
		} else if ((w->mode & AE_IFMT) == AE_IFREG) {
			assert_int_equal(archive_entry_size(ae), w->size);
			char *got = malloc(w->size + 1);
			assert_non_null(got);
			assert_int_equal(archive_read_data(a, got, w->size + 1), w->size);
			assert_memory_equal(got, w->data, w->size);
			free(got);
		} else {
			assert_int_equal(archive_entry_size(ae), 0);
		}
		i++;
	}
	assert_int_equal(r, ARCHIVE_EOF);
	assert_int_equal(i, sizeof want / sizeof want[0]);
	archive_read_free(a);
}

static void test_write_reproducible(void **state)
{
	size_t n1, n2, n3;
	unsigned char *a1 = build(list_a, false, &n1);
	unsigned char *a2 = build(list_a, false, &n2);
	unsigned char *b = build(list_b, false, &n3);
	assert_int_equal(n1, n2);
	assert_memory_equal(a1, a2, n1);
	/* the order of the list does not matter */
	assert_int_equal(n1, n3);
	assert_memory_equal(a1, b, n1);
	/* newc, first header: "bin", ino 1, mtime 0 */
	assert_memory_equal(a1, "070701", 6);
	assert_memory_equal(a1 + 6, "00000001", 8); /* c_ino */
	assert_memory_equal(a1 + 14, "000041ed", 8); /* c_mode */
	assert_memory_equal(a1 + 46, "00000000", 8); /* c_mtime */
	assert_memory_equal(a1 + 110, "bin", 4);
	/* ends with the trailer, padded to 4 bytes, not to a 10240-byte block */
	assert_int_equal(n1 % 4, 0);
	assert_true(n1 < sizeof big + 2048);
	assert_non_null(memmem(a1 + n1 - 16, 16, "TRAILER!!!", 10));
	check_archive(a1, n1, false);
	free(a1);
	free(a2);
	free(b);
}

static void test_write_gzip(void **state)
{
	size_t n1, n2, n3;
	unsigned char *a1 = build(list_a, true, &n1);
	unsigned char *a2 = build(list_b, true, &n2);
	unsigned char *raw = build(list_a, false, &n3);
	assert_true(n1 > 10);
	assert_int_equal(a1[0], 0x1f);
	assert_int_equal(a1[1], 0x8b);
	assert_int_equal(a1[2], 8); /* deflate */
	/* no timestamp in the gzip header */
	assert_memory_equal(a1 + 4, "\0\0\0\0", 4);
	assert_int_equal(n1, n2);
	assert_memory_equal(a1, a2, n1);
	/* the gzip trailer's ISIZE is the uncompressed archive's size */
	uint32_t isize = (uint32_t)a1[n1 - 4] | (uint32_t)a1[n1 - 3] << 8 |
			 (uint32_t)a1[n1 - 2] << 16 | (uint32_t)a1[n1 - 1] << 24;
	assert_int_equal(isize, n3);
	check_archive(a1, n1, true);
	free(a1);
	free(a2);
	free(raw);
}

static void write_fails(const char *tmpl, int code, const char *want_tmpl)
{
	char text[512], want_msg[512];
	subst(tmpl, text, sizeof text);
	subst(want_tmpl, want_msg, sizeof want_msg);
	struct mkinitrd_list l;
	struct husk_err err = { 0 };
	parse_ok(text, &l);
	int fd = memfd_create("cpio", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(mkinitrd_write(&l, fd, false, &err), -1);
	mkinitrd_list_free(&l);
	close(fd);
	if (strcmp(err.msg, want_msg) != 0)
		fail_msg("got error '%s'\n  expected '%s'", err.msg, want_msg);
	assert_int_equal(err.code, code);
}

static void test_write_errors(void **state)
{
	write_fails("dir /bin 0755 0 0\n"
		    "file /bin/x @/missing 0755 0 0\n",
		    ENOENT,
		    "t.list:2: file /bin/x: cannot open @/missing: No such file or directory");
	write_fails("# c\n\nfile /x @ 0644 0 0\n", EINVAL,
		    "t.list:3: file /x: @ is not a regular file");
}

int main(void)
{
	const struct CMUnitTest parse_tests[] = {
		cmocka_unit_test(test_parse_every_kind),
		cmocka_unit_test(test_parse_comments_blanks),
		cmocka_unit_test(test_parse_bad_mode),
		cmocka_unit_test(test_parse_bad_kind),
		cmocka_unit_test(test_parse_missing_fields),
		cmocka_unit_test(test_parse_trailing_garbage),
		cmocka_unit_test(test_parse_bad_numbers),
		cmocka_unit_test(test_parse_bad_names),
		cmocka_unit_test(test_parse_duplicates),
		cmocka_unit_test(test_parse_parents),
		cmocka_unit_test(test_parse_control_chars),
	};
	const struct CMUnitTest write_tests[] = {
		cmocka_unit_test(test_write_reproducible),
		cmocka_unit_test(test_write_gzip),
		cmocka_unit_test(test_write_errors),
	};
	int failed = cmocka_run_group_tests_name("cpio list", parse_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("cpio writer", write_tests, writer_setup,
					      writer_teardown);
	return failed ? 1 : 0;
}
