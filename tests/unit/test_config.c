/* Unit tests for the OCI config.json reader (host-tool/config.c). */
#include <errno.h>
#include <fcntl.h>
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

#include "../../host-tool/config.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

/* What `runc spec` writes, plus a user with extra groups and annotations.
 * Everything husk does not use (mounts, linux, capabilities, rlimits, ...)
 * must be ignored. */
static const char runc_spec[] =
    "{\n"
    "\t\"ociVersion\": \"1.0.2-dev\",\n"
    "\t\"process\": {\n"
    "\t\t\"terminal\": true,\n"
    "\t\t\"user\": {\n"
    "\t\t\t\"uid\": 1000,\n"
    "\t\t\t\"gid\": 1000,\n"
    "\t\t\t\"additionalGids\": [ 4, 24 ]\n"
    "\t\t},\n"
    "\t\t\"args\": [\n"
    "\t\t\t\"sh\", \"-c\", \"echo hello\"\n"
    "\t\t],\n"
    "\t\t\"env\": [\n"
    "\t\t\t\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\n"
    "\t\t\t\"TERM=xterm\"\n"
    "\t\t],\n"
    "\t\t\"cwd\": \"/srv\",\n"
    "\t\t\"capabilities\": {\n"
    "\t\t\t\"bounding\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
    "\t\t\t\"effective\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
    "\t\t\t\"permitted\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ],\n"
    "\t\t\t\"ambient\": [ \"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\" ]\n"
    "\t\t},\n"
    "\t\t\"rlimits\": [\n"
    "\t\t\t{ \"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024 }\n"
    "\t\t],\n"
    "\t\t\"noNewPrivileges\": true\n"
    "\t},\n"
    "\t\"root\": {\n"
    "\t\t\"path\": \"rootfs\",\n"
    "\t\t\"readonly\": true\n"
    "\t},\n"
    "\t\"hostname\": \"runc\",\n"
    "\t\"mounts\": [\n"
    "\t\t{ \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
    "\t\t{ \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
    "\t\t  \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
    "\t\t{ \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\",\n"
    "\t\t  \"options\": [ \"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\",\n"
    "\t\t\t\"mode=0620\", \"gid=5\" ] },\n"
    "\t\t{ \"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\",\n"
    "\t\t  \"options\": [ \"nosuid\", \"noexec\", \"nodev\", \"ro\" ] }\n"
    "\t],\n"
    "\t\"linux\": {\n"
    "\t\t\"resources\": { \"devices\": [ { \"allow\": false, \"access\": \"rwm\" } ] },\n"
    "\t\t\"namespaces\": [\n"
    "\t\t\t{ \"type\": \"pid\" }, { \"type\": \"network\" }, { \"type\": \"ipc\" },\n"
    "\t\t\t{ \"type\": \"uts\" }, { \"type\": \"mount\" }, { \"type\": \"cgroup\" }\n"
    "\t\t],\n"
    "\t\t\"maskedPaths\": [ \"/proc/acpi\", \"/proc/kcore\", \"/sys/firmware\" ],\n"
    "\t\t\"readonlyPaths\": [ \"/proc/bus\", \"/proc/fs\", \"/proc/sys\" ]\n"
    "\t},\n"
    "\t\"annotations\": {\n"
    "\t\t\"org.opencontainers.image.title\": \"hello\",\n"
    "\t\t\"dev.husk.memory\": \"256M\"\n"
    "\t}\n"
    "}\n";

static const char minimal[] =
    "{\"process\":{\"args\":[\"/bin/true\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"}}";

static void expect_fail(const char *json, int code, const char *words)
{
	size_t len = strlen(json);
	char *copy = malloc(len ? len : 1); /* no NUL: ASan catches over-reads */
	struct husk_config c;
	struct husk_err err = {0};

	assert_non_null(copy);
	memcpy(copy, json, len);
	memset(&c, 0x5a, sizeof c);
	if (husk_config_parse(copy, len, &c, &err) != -1)
		fail_msg("parsed: %s", json);
	if (err.code != code)
		fail_msg("%s: got %s (%s), want %s", json, husk_errno_name(err.code), err.msg,
			 husk_errno_name(code));
	assert_contains(err.msg, words);
	/* Left freed and zeroed. */
	assert_null(c.oci_version);
	assert_null(c.process.args);
	assert_null(c.process.cwd);
	assert_null(c.root_path);
	assert_null(c.annotations);
	assert_int_equal(c.nannotations, 0);
	free(copy);
}

/* Same, and the message must be in config.json terms. */
static void expect_fail_cfg(const char *json, int code, const char *words)
{
	struct husk_err err = {0};
	struct husk_config c;

	expect_fail(json, code, words);
	assert_int_equal(husk_config_parse(json, strlen(json), &c, &err), -1);
	if (strncmp(err.msg, "config.json", 11) != 0)
		fail_msg("\"%s\" does not start with \"config.json\"", err.msg);
}

/* A config with the process object replaced. */
static void expect_process_fail(const char *process, const char *words)
{
	char *json;

	assert_true(asprintf(&json, "{\"process\":%s,\"root\":{\"path\":\"r\"}}", process) > 0);
	expect_fail_cfg(json, EINVAL, words);
	free(json);
}

/* A config with the root object replaced. */
static void expect_root_fail(const char *root, const char *words)
{
	char *json;

	assert_true(asprintf(&json, "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":%s}",
			     root) > 0);
	expect_fail_cfg(json, EINVAL, words);
	free(json);
}

static void test_runc_spec(void **state)
{
	struct husk_config c;
	struct husk_err err = {0};

	if (husk_config_parse(runc_spec, sizeof runc_spec - 1, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.oci_version, "1.0.2-dev");
	assert_int_equal(c.process.nargs, 3);
	assert_string_equal(c.process.args[0], "sh");
	assert_string_equal(c.process.args[1], "-c");
	assert_string_equal(c.process.args[2], "echo hello");
	assert_null(c.process.args[3]);
	assert_int_equal(c.process.nenv, 2);
	assert_string_equal(c.process.env[0],
			    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(c.process.env[1], "TERM=xterm");
	assert_null(c.process.env[2]);
	assert_string_equal(c.process.cwd, "/srv");
	assert_true(c.process.terminal);
	assert_int_equal(c.process.user.uid, 1000);
	assert_int_equal(c.process.user.gid, 1000);
	assert_int_equal(c.process.user.ngids, 2);
	assert_int_equal(c.process.user.gids[0], 4);
	assert_int_equal(c.process.user.gids[1], 24);
	assert_string_equal(c.root_path, "rootfs");
	assert_true(c.root_readonly);
	assert_string_equal(c.hostname, "runc");
	assert_int_equal(c.nannotations, 2);
	assert_string_equal(husk_config_annotation(&c, "org.opencontainers.image.title"), "hello");
	assert_string_equal(husk_config_annotation(&c, "dev.husk.memory"), "256M");
	assert_null(husk_config_annotation(&c, "dev.husk"));
	assert_null(husk_config_annotation(&c, ""));
	husk_config_free(&c);
	assert_null(c.process.args);
	assert_null(c.annotations);
}

static void test_minimal(void **state)
{
	struct husk_config c;
	struct husk_err err = {0};

	if (husk_config_parse(minimal, sizeof minimal - 1, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_null(c.oci_version);
	assert_int_equal(c.process.nargs, 1);
	assert_string_equal(c.process.args[0], "/bin/true");
	assert_int_equal(c.process.nenv, 0);
	assert_string_equal(c.process.cwd, "/");
	assert_false(c.process.terminal);
	assert_int_equal(c.process.user.uid, 0);
	assert_int_equal(c.process.user.gid, 0);
	assert_int_equal(c.process.user.ngids, 0);
	assert_string_equal(c.root_path, "r");
	assert_false(c.root_readonly);
	assert_null(c.hostname);
	assert_int_equal(c.nannotations, 0);
	assert_null(husk_config_annotation(&c, "x"));
	husk_config_free(&c);

	/* null means absent for the optional parts. */
	static const char nulls[] =
	    "{\"ociVersion\":null,\"hostname\":null,\"annotations\":null,"
	    "\"process\":{\"args\":[\"a\"],\"cwd\":\"/\",\"env\":null,\"user\":null},"
	    "\"root\":{\"path\":\"/abs/rootfs\",\"readonly\":false}}";
	if (husk_config_parse(nulls, sizeof nulls - 1, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_null(c.hostname);
	assert_string_equal(c.root_path, "/abs/rootfs");
	husk_config_free(&c);
}

static void test_not_json(void **state)
{
	expect_fail_cfg("{\"process\":", EINVAL, "config.json is not valid JSON");
	expect_fail_cfg("{\"process\":", EINVAL, "truncated");
	expect_fail_cfg("", EINVAL, "not valid JSON");
	expect_fail_cfg("{process: 1}", EINVAL, "not valid JSON");
	expect_fail_cfg("{\"a\":1}}", EINVAL, "data after the JSON object");
	expect_fail_cfg("{} {}", EINVAL, "data after the JSON object");
}

static void test_not_object(void **state)
{
	expect_fail_cfg("[]", EINVAL, "config.json is not a JSON object");
	expect_fail_cfg("\"config\"", EINVAL, "is not a JSON object");
	expect_fail_cfg("true ", EINVAL, "is not a JSON object");
	expect_fail_cfg("12 ", EINVAL, "is not a JSON object");
}

static void test_process_errors(void **state)
{
	expect_fail_cfg("{\"root\":{\"path\":\"r\"}}", EINVAL, "config.json: process is missing");
	expect_fail_cfg("{\"process\":null,\"root\":{\"path\":\"r\"}}", EINVAL,
			"process is missing");
	expect_fail_cfg("{\"process\":[],\"root\":{\"path\":\"r\"}}", EINVAL,
			"config.json: process must be an object");
	expect_process_fail("{\"cwd\":\"/\"}", "config.json: process.args is missing");
	expect_process_fail("{\"args\":[],\"cwd\":\"/\"}",
			    "config.json: process.args must name the program to run");
	expect_process_fail("{\"args\":[\"\"],\"cwd\":\"/\"}",
			    "process.args must name the program");
	expect_process_fail("{\"args\":\"sh\",\"cwd\":\"/\"}",
			    "config.json: process.args must be an array of strings");
	expect_process_fail("{\"args\":{\"0\":\"sh\"},\"cwd\":\"/\"}",
			    "process.args must be an array");
	expect_process_fail("{\"args\":[\"sh\",3],\"cwd\":\"/\"}",
			    "process.args[1] must be a string");
	expect_process_fail("{\"args\":[\"sh\"]}", "config.json: process.cwd is missing");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"srv\"}",
			    "config.json: process.cwd must be an absolute path, not \"srv\"");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"\"}",
			    "process.cwd must be an absolute path");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":[\"/\"]}", "process.cwd must be a string");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"env\":\"A=1\"}",
			    "process.env must be an array of strings");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"terminal\":\"yes\"}",
			    "process.terminal must be true or false");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"gid\":0}}",
			    "config.json: process.user: \"uid\" is missing");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0,"
			    "\"additionalGids\":[-1]}}",
			    "process.user: \"additionalGids\"[0] is not a valid gid");
}

static void test_root_errors(void **state)
{
	expect_fail_cfg("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}", EINVAL,
			"config.json: root is missing");
	expect_root_fail("null", "config.json: root is missing");
	expect_root_fail("\"rootfs\"", "config.json: root");
	expect_root_fail("{}", "config.json: root.path is missing");
	expect_root_fail("{\"path\":\"\"}", "config.json: root.path is missing");
	expect_root_fail("{\"path\":null}", "root.path is missing");
	expect_root_fail("{\"path\":\"r\",\"readonly\":\"true\"}",
			 "config.json: root.readonly must be true or false");
	expect_root_fail("{\"path\":\"r\",\"readonly\":1}", "root.readonly must be true or false");
	expect_root_fail("{\"path\":\"r\",\"readonly\":null}", "root.readonly");
}

static void test_other_field_types(void **state)
{
	/* These name the field but (see the skipped test below) lack the
	 * "config.json" prefix every other message has. */
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":7}}", EINVAL,
		    "root.path must be a string");
	expect_fail("{\"ociVersion\":1,\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"
		    "\"root\":{\"path\":\"r\"}}",
		    EINVAL, "ociVersion must be a string");
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
		    "\"hostname\":[]}",
		    EINVAL, "hostname must be a string");
}

static void test_bad_annotations(void **state)
{
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
		    "\"annotations\":[\"a=b\"]}",
		    EINVAL, "annotations must be an object of strings");
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
		    "\"annotations\":\"a\"}",
		    EINVAL, "annotations must be an object");
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
		    "\"annotations\":{\"ok\":\"1\",\"dev.husk.cpus\":2}}",
		    EINVAL, "annotations.dev.husk.cpus must be a string");
	expect_fail("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
		    "\"annotations\":{\"a\":null}}",
		    EINVAL, "annotations.a must be a string");
}

static void test_every_message_says_config_json(void **state)
{
	/* Every config.json error starts with "config.json", type errors too. */

	expect_fail_cfg("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":7}}",
			EINVAL, "root.path");
	expect_fail_cfg("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
			"\"annotations\":[]}",
			EINVAL, "annotations");
	expect_fail_cfg("{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
			"\"annotations\":{\"a\":1}}",
			EINVAL, "annotations.a");
}

/* ---- husk_config_load ---- */

struct bundle {
	char dir[64];
	char path[128];
};

static int bundle_setup(void **state)
{
	struct bundle *b = calloc(1, sizeof *b);

	if (!b)
		return -1;
	strcpy(b->dir, "/tmp/husk-test-config-XXXXXX");
	if (!mkdtemp(b->dir)) {
		free(b);
		return -1;
	}
	snprintf(b->path, sizeof b->path, "%s/config.json", b->dir);
	*state = b;
	return 0;
}

static int bundle_teardown(void **state)
{
	struct bundle *b = *state;

	if (unlink(b->path) < 0)
		rmdir(b->path);
	rmdir(b->dir);
	free(b);
	return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_load_missing_dir(void **state)
{
	struct bundle *b = *state;
	struct husk_config c;
	struct husk_err err = {0};
	char *missing;

	assert_true(asprintf(&missing, "%s/nope", b->dir) > 0);
	assert_int_equal(husk_config_load(missing, &c, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_contains(err.msg, missing);
	assert_null(c.process.args);
	free(missing);

	/* A file where the bundle directory should be. */
	write_file(b->path, "{}", 2);
	assert_int_equal(husk_config_load(b->path, &c, &err), -1);
	assert_int_equal(err.code, ENOTDIR);
	assert_contains(err.msg, "not a directory");
}

static void test_load_missing_config(void **state)
{
	struct bundle *b = *state;
	struct husk_config c;
	struct husk_err err = {0};

	assert_int_equal(husk_config_load(b->dir, &c, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_contains(err.msg, b->path);
	assert_null(c.root_path);
}

static void test_load_config_is_directory(void **state)
{
	struct bundle *b = *state;
	struct husk_config c;
	struct husk_err err = {0};

	assert_int_equal(mkdir(b->path, 0755), 0);
	assert_int_equal(husk_config_load(b->dir, &c, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_contains(err.msg, b->path);
	assert_contains(err.msg, "not a regular file");
}

static void test_load_good(void **state)
{
	struct bundle *b = *state;
	struct husk_config c;
	struct husk_err err = {0};

	write_file(b->path, runc_spec, sizeof runc_spec - 1);
	if (husk_config_load(b->dir, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.process.args[2], "echo hello");
	assert_string_equal(c.root_path, "rootfs");
	assert_string_equal(c.hostname, "runc");
	assert_string_equal(husk_config_annotation(&c, "dev.husk.memory"), "256M");
	husk_config_free(&c);

	/* A trailing slash on the bundle path is fine too. */
	char *slash;
	assert_true(asprintf(&slash, "%s/", b->dir) > 0);
	assert_int_equal(husk_config_load(slash, &c, &err), 0);
	assert_string_equal(c.process.cwd, "/srv");
	husk_config_free(&c);
	free(slash);
}

static void test_load_bad_content(void **state)
{
	struct bundle *b = *state;
	struct husk_config c;
	struct husk_err err = {0};

	write_file(b->path, "", 0);
	assert_int_equal(husk_config_load(b->dir, &c, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_contains(err.msg, "config.json is not valid JSON");

	write_file(b->path, "{\"process\":{\"args\":[]}}", 23);
	assert_int_equal(husk_config_load(b->dir, &c, &err), -1);
	assert_contains(err.msg, "config.json: process.args");
	assert_null(c.process.args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runc_spec),
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_not_json),
	    cmocka_unit_test(test_not_object),
	    cmocka_unit_test(test_process_errors),
	    cmocka_unit_test(test_root_errors),
	    cmocka_unit_test(test_other_field_types),
	    cmocka_unit_test(test_bad_annotations),
	    cmocka_unit_test(test_every_message_says_config_json),
	    cmocka_unit_test_setup_teardown(test_load_missing_dir, bundle_setup, bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_missing_config, bundle_setup,
					    bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_config_is_directory, bundle_setup,
					    bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_good, bundle_setup, bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_bad_content, bundle_setup, bundle_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
