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
 * What the host does not apply itself (mounts, linux, capabilities,
 * rlimits, ...) is kept for the agent; the privilege fields among them are
 * checked here too (test_privilege_fields). */
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

/* ---- the fields that narrow privilege (issue 12) ---- */

/* A config with one member of "process" added (or replaced). */
static void expect_process_field_fail(const char *member, int code, const char *words)
{
	char *json;

	assert_true(asprintf(&json,
			     "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",%s},"
			     "\"root\":{\"path\":\"r\"}}",
			     member) > 0);
	expect_fail_cfg(json, code, words);
	free(json);
}

/* A config whose "linux" object is given. */
static void expect_linux_fail(const char *linux_, int code, const char *words)
{
	char *json;

	assert_true(asprintf(&json,
			     "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"
			     "\"root\":{\"path\":\"r\"},\"linux\":%s}",
			     linux_) > 0);
	expect_fail_cfg(json, code, words);
	free(json);
}

static void test_privilege_fields(void **state)
{
	/* the four of the issue, each refused at create with the field named */
	expect_process_field_fail("\"capabilities\":[\"CAP_KILL\"]", EINVAL,
				  "config.json: process.capabilities must be an object");
	expect_process_field_fail("\"noNewPrivileges\":\"true\"", EINVAL,
				  "config.json: process.noNewPrivileges must be true or false");
	expect_linux_fail("{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			  "\"syscalls\":{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"}}}",
			  EINVAL, "config.json: linux.seccomp.syscalls must be an array");
	expect_process_field_fail(
	    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":-1,\"hard\":-1}]", ERANGE,
	    "config.json: process.rlimits[0].soft is out of range");

	/* capabilities */
	expect_process_field_fail("\"capabilities\":\"ALL\"", EINVAL,
				  "config.json: process.capabilities must be an object");
	expect_process_field_fail("\"capabilities\":{\"bounding\":\"CAP_KILL\"}", EINVAL,
				  "config.json: process.capabilities.bounding must be an array");
	expect_process_field_fail(
	    "\"capabilities\":{\"ambient\":[\"CAP_KILL\",\"CAP_FLY\"]}", EINVAL,
	    "config.json: process.capabilities.ambient[1]: unknown capability "
	    "CAP_FLY");
	expect_process_field_fail("\"capabilities\":{\"effective\":[21]}", EINVAL,
				  "config.json: process.capabilities.effective[0]: unknown "
				  "capability 21");
	/* noNewPrivileges */
	expect_process_field_fail("\"noNewPrivileges\":1", EINVAL,
				  "config.json: process.noNewPrivileges must be true or false");
	/* rlimits */
	expect_process_field_fail("\"rlimits\":{\"RLIMIT_NOFILE\":1}", EINVAL,
				  "config.json: process.rlimits must be an array");
	expect_process_field_fail("\"rlimits\":[\"RLIMIT_NOFILE\"]", EINVAL,
				  "config.json: process.rlimits[0] must be an object");
	expect_process_field_fail(
	    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,\"hard\":\"2\"}]", EINVAL,
	    "config.json: process.rlimits[0].hard must be an integer");
	expect_process_field_fail(
	    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":3,\"hard\":2}]", EINVAL,
	    "config.json: process.rlimits[0].soft is above");
	expect_process_field_fail("\"rlimits\":[{\"type\":\"RLIMIT_BOGUS\",\"soft\":1,\"hard\":1}]",
				  EINVAL, "config.json: process.rlimits[0].type: unknown limit");
	/* user */
	expect_process_field_fail("\"user\":\"root\"", EINVAL,
				  "config.json: process.user must be an object");
	expect_process_field_fail("\"user\":{\"uid\":-1,\"gid\":0}", ERANGE,
				  "config.json: process.user");
	expect_process_field_fail("\"user\":{\"uid\":\"0\",\"gid\":0}", EINVAL,
				  "config.json: process.user");
	expect_process_field_fail("\"user\":{\"uid\":4294967296,\"gid\":0}", ERANGE,
				  "config.json: process.user");
	expect_process_field_fail("\"user\":{\"uid\":0,\"gid\":0,\"umask\":\"022\"}", EINVAL,
				  "config.json: process.user.umask must be an integer");
	expect_process_field_fail("\"user\":{\"uid\":0,\"gid\":0,\"umask\":4096}", ERANGE,
				  "config.json: process.user.umask is out of range");
	expect_process_field_fail("\"oomScoreAdj\":-1001", ERANGE,
				  "config.json: process.oomScoreAdj is out of range");
	/* maskedPaths, readonlyPaths */
	expect_linux_fail("{\"maskedPaths\":\"/proc/kcore\"}", EINVAL,
			  "config.json: linux.maskedPaths must be an array");
	expect_linux_fail("{\"maskedPaths\":[\"/proc/kcore\",7]}", EINVAL,
			  "config.json: linux.maskedPaths[1] must be an absolute path");
	expect_linux_fail("{\"readonlyPaths\":{\"/proc/sys\":true}}", EINVAL,
			  "config.json: linux.readonlyPaths must be an array");
	expect_linux_fail("{\"readonlyPaths\":[\"proc/sys\"]}", EINVAL,
			  "config.json: linux.readonlyPaths[0] must be an absolute path");
	/* seccomp */
	expect_linux_fail("{\"seccomp\":[]}", EINVAL,
			  "config.json: linux.seccomp must be an object");
	expect_linux_fail("{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_BOGUS\"}}", EOPNOTSUPP,
			  "config.json: linux.seccomp.defaultAction: action SCMP_ACT_BOGUS");
	expect_linux_fail("{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\","
			  "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\","
			  "\"args\":[{\"index\":0,\"value\":-5,\"op\":\"SCMP_CMP_EQ\"}]}]}}",
			  ERANGE,
			  "config.json: linux.seccomp.syscalls[0].args[0].value is out of range");
	/* root.readonly (already strict) */
	expect_root_fail("{\"path\":\"r\",\"readonly\":\"yes\"}",
			 "config.json: root.readonly must be true or false");
}

static void test_privilege_fields_accepted(void **state)
{
	struct husk_config c;
	struct husk_err err = {0};
	/* null is absent, as for runc; values at the ends of their ranges */
	static const char ok[] =
	    "{\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"capabilities\":null,"
	    "\"noNewPrivileges\":null,\"rlimits\":[{\"type\":\"RLIMIT_CORE\","
	    "\"soft\":0,\"hard\":18446744073709551615}],\"oomScoreAdj\":-1000,"
	    "\"user\":{\"uid\":4294967295,\"gid\":0,\"umask\":511,\"additionalGids\":null}},"
	    "\"root\":{\"path\":\"r\"},\"linux\":{\"maskedPaths\":null,\"readonlyPaths\":[],"
	    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":65535,"
	    "\"syscalls\":[{\"names\":[],\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":5,"
	    "\"value\":18446744073709551615,\"op\":\"SCMP_CMP_MASKED_EQ\",\"valueTwo\":0}]}]}}}";

	if (husk_config_parse(ok, sizeof ok - 1, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c.process.user.uid, 4294967295u);
	husk_config_free(&c);
	/* runc's spec, with its capabilities, rlimits and noNewPrivileges */
	if (husk_config_parse(runc_spec, sizeof runc_spec - 1, &c, &err) < 0)
		fail_msg("%s", err.msg);
	husk_config_free(&c);
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

/* create keeps the bytes it parsed; later verbs read that copy */
static void test_save_and_load_saved(void **state)
{
	struct bundle *b = *state;
	struct husk_config c, saved;
	struct husk_err err = {0};
	char *state_dir, *copy;
	struct stat st;

	write_file(b->path, runc_spec, sizeof runc_spec - 1);
	if (husk_config_load(b->dir, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(c.text);
	assert_int_equal(c.text_len, sizeof runc_spec - 1);
	assert_memory_equal(c.text, runc_spec, sizeof runc_spec - 1);

	assert_true(asprintf(&state_dir, "%s/state", b->dir) > 0);
	assert_true(asprintf(&copy, "%s/config.json", state_dir) > 0);
	assert_int_equal(mkdir(state_dir, 0700), 0);
	if (husk_config_save(&c, state_dir, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(lstat(copy, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	/* a second save does not overwrite it */
	assert_int_equal(husk_config_save(&c, state_dir, &err), -1);
	assert_int_equal(err.code, EEXIST);

	/* the bundle's config.json rewritten after create changes nothing */
	static const char evil[] =
	    "{\"process\":{\"args\":[\"evil\"],\"cwd\":\"/\"},\"root\":{\"path\":\"r\"},"
	    "\"hooks\":{\"poststop\":[{\"path\":\"/bin/evil\"}]}}";
	write_file(b->path, evil, sizeof evil - 1);
	if (husk_config_load_saved(state_dir, &saved, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(saved.process.args[2], "echo hello");
	assert_null(saved.hooks);
	assert_memory_equal(saved.text, runc_spec, sizeof runc_spec - 1);
	husk_config_free(&saved);

	/* writable by others: refused */
	assert_int_equal(chmod(copy, 0622), 0);
	assert_int_equal(husk_config_load_saved(state_dir, &saved, &err), -1);
	assert_int_equal(err.code, EPERM);
	assert_contains(err.msg, "refusing to use it");
	assert_null(saved.process.args);
	assert_int_equal(chmod(copy, 0600), 0);
	/* owned by someone else (only root can make one) */
	if (geteuid() == 0) {
		assert_int_equal(chown(copy, 1, 1), 0);
		assert_int_equal(husk_config_load_saved(state_dir, &saved, &err), -1);
		assert_int_equal(err.code, EPERM);
		assert_contains(err.msg, "owner 1");
		assert_int_equal(chown(copy, 0, 0), 0);
	}
	/* a symlink in its place (to the bundle's): refused */
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(symlink(b->path, copy), 0);
	assert_int_equal(husk_config_load_saved(state_dir, &saved, &err), -1);
	assert_int_equal(err.code, ELOOP);
	/* and none at all */
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(husk_config_load_saved(state_dir, &saved, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_contains(err.msg, copy);

	/* a config that was not read from a file has nothing to keep */
	struct husk_config parsed;
	assert_int_equal(husk_config_parse(minimal, sizeof minimal - 1, &parsed, &err), 0);
	assert_int_equal(husk_config_save(&parsed, state_dir, &err), -1);
	husk_config_free(&parsed);

	assert_int_equal(rmdir(state_dir), 0);
	husk_config_free(&c);
	free(copy);
	free(state_dir);
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
	    cmocka_unit_test(test_privilege_fields),
	    cmocka_unit_test(test_privilege_fields_accepted),
	    cmocka_unit_test_setup_teardown(test_load_missing_dir, bundle_setup, bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_missing_config, bundle_setup,
					    bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_config_is_directory, bundle_setup,
					    bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_good, bundle_setup, bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_load_bad_content, bundle_setup, bundle_teardown),
	    cmocka_unit_test_setup_teardown(test_save_and_load_saved, bundle_setup,
					    bundle_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
