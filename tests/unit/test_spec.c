/* Unit tests for the agent's reader of config.json's "mounts", "linux" and
 * process fields (agent/spec.c). The parser is pure, so it builds with glibc
 * on the host; `make sanitize` runs it under ASan and UBSan. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../agent/spec.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

/* Parse {"mounts": ..., "linux": ...} text; returns agent_spec_parse's value. */
static int parse(const char *text, struct agent_spec *s, struct husk_err *err)
{
	struct json_object *o = json_tokener_parse(text), *mounts = NULL, *linux_ = NULL;
	if (!o)
		fail_msg("test JSON does not parse: %s", text);
	json_object_object_get_ex(o, "mounts", &mounts);
	json_object_object_get_ex(o, "linux", &linux_);
	memset(err, 0, sizeof *err);
	int r = agent_spec_parse(mounts, linux_, s, err);
	json_object_put(o);
	return r;
}

/* Parse must fail with code and a message containing needle. */
static void parse_fails(const char *text, int code, const char *needle)
{
	struct agent_spec s;
	struct husk_err err;
	if (parse(text, &s, &err) == 0) {
		agent_spec_free(&s);
		fail_msg("accepted: %s", text);
	}
	if (!err.msg[0])
		fail_msg("no message for: %s", text);
	assert_int_equal(err.code, code);
	assert_contains(err.msg, needle);
	/* a failed parse leaves nothing to free */
	assert_null(s.mounts);
	assert_null(s.masked);
	assert_null(s.devices);
	assert_null(s.uid_map);
	assert_null(s.resources.cpu_cpus);
}

static int process(const char *text, struct spec_process *p, struct husk_err *err)
{
	struct json_object *o = json_tokener_parse(text);
	if (!o)
		fail_msg("test JSON does not parse: %s", text);
	memset(err, 0, sizeof *err);
	int r = agent_spec_process(o, p, err);
	json_object_put(o);
	return r;
}

static void process_fails(const char *text, int code, const char *needle)
{
	struct spec_process p;
	struct husk_err err;
	if (process(text, &p, &err) == 0) {
		agent_spec_process_free(&p);
		fail_msg("accepted: %s", text);
	}
	if (!err.msg[0])
		fail_msg("no message for: %s", text);
	assert_int_equal(err.code, code);
	assert_contains(err.msg, needle);
	assert_null(p.rlimits);
}

/* The mounts and linux objects of `runc spec`, plus every field the agent
 * applies. */
static const char full[] =
    "{\"mounts\": ["
    " {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    " {\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
    "  \"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},"
    " {\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\","
    "  \"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\", \"rw\", \"ro\"]},"
    " {\"destination\": \"/data\", \"source\": \"/srv/data\","
    "  \"options\": [\"rbind\", \"rslave\", \"x-keep\", \"defaults\", \"tmpcopyup\"]},"
    " {\"destination\": \"/etc/hosts\", \"type\": \"bind\", \"source\": \"/etc/hosts\","
    "  \"options\": [\"ro\"], \"uidMappings\": null},"
    " {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": null, \"options\": null}"
    "],"
    "\"linux\": {"
    " \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": \"/proc/1/ns/net\"},"
    "  {\"type\": \"ipc\"}, {\"type\": \"uts\", \"path\": \"\"}, {\"type\": \"mount\"},"
    "  {\"type\": \"cgroup\"}, {\"type\": \"time\"}],"
    " \"maskedPaths\": [\"/proc/acpi\", \"/proc/kcore\"],"
    " \"readonlyPaths\": [\"/proc/sys\"],"
    " \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,"
    "   \"fileMode\": 438, \"uid\": 0, \"gid\": 0},"
    "  {\"path\": \"/dev/sda\", \"type\": \"b\", \"major\": 8, \"minor\": 0, \"fileMode\": 384,"
    "   \"uid\": 4294967295, \"gid\": 6},"
    "  {\"path\": \"/dev/fifo\", \"type\": \"p\"}],"
    " \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"kernel.msgmax\": \"8192\"},"
    " \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 1},"
    "  {\"containerID\": 1, \"hostID\": 100000, \"size\": 65536}],"
    " \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 4294967295}],"
    " \"resources\": {\"memory\": {\"limit\": 268435456, \"swap\": 536870912,"
    "  \"reservation\": 134217728, \"kernel\": -1}, \"cpu\": {\"quota\": 50000,"
    "  \"period\": 100000, \"shares\": 1024, \"cpus\": \"0-1\", \"mems\": \"0\"},"
    "  \"pids\": {\"limit\": 64}, \"blockIO\": {\"weight\": 500},"
    "  \"devices\": [{\"allow\": false}]},"
    " \"rootfsPropagation\": \"rprivate\","
    " \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\"}"
    "}}";

static void test_full(void **state)
{
	struct agent_spec s;
	struct husk_err err;
	assert_int_equal(parse(full, &s, &err), 0);

	assert_int_equal(s.nmounts, 6);
	assert_string_equal(s.mounts[0].dst, "/proc");
	assert_string_equal(s.mounts[0].type, "proc");
	assert_string_equal(s.mounts[0].src, "proc");
	assert_int_equal(s.mounts[0].flags, 0);
	assert_null(s.mounts[0].data);
	assert_false(s.mounts[0].bind);

	assert_int_equal(s.mounts[1].flags, MS_NOSUID | MS_STRICTATIME);
	assert_string_equal(s.mounts[1].data, "mode=755,size=65536k");

	/* later options win: ro, rw, ro */
	assert_int_equal(s.mounts[2].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	assert_null(s.mounts[2].data);

	assert_null(s.mounts[3].type);
	assert_string_equal(s.mounts[3].src, "/srv/data");
	assert_true(s.mounts[3].bind);
	assert_true(s.mounts[3].recursive);
	assert_int_equal(s.mounts[3].propagation, MS_SLAVE | MS_REC);
	assert_null(s.mounts[3].data); /* x-, defaults and tmpcopyup are dropped */

	assert_true(s.mounts[4].bind);
	assert_false(s.mounts[4].recursive);
	assert_int_equal(s.mounts[4].flags, MS_RDONLY);

	assert_string_equal(s.mounts[5].type, "tmpfs");
	assert_null(s.mounts[5].src);

	/* a namespace with a path is the VM itself (an empty path is none);
	 * time has no clone flag */
	assert_int_equal(s.ns_new, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS |
				       CLONE_NEWCGROUP);

	assert_string_equal(s.masked[0], "/proc/acpi");
	assert_string_equal(s.masked[1], "/proc/kcore");
	assert_null(s.masked[2]);
	assert_string_equal(s.readonly[0], "/proc/sys");
	assert_null(s.readonly[1]);

	assert_int_equal(s.ndevices, 3);
	assert_string_equal(s.devices[0].path, "/dev/fuse");
	assert_int_equal(s.devices[0].type, 'c');
	assert_int_equal(s.devices[0].major, 10);
	assert_int_equal(s.devices[0].minor, 229);
	assert_int_equal(s.devices[0].mode, 0666);
	assert_int_equal(s.devices[1].type, 'b');
	assert_int_equal(s.devices[1].mode, 0600);
	assert_int_equal(s.devices[1].uid, UINT32_MAX);
	assert_int_equal(s.devices[1].gid, 6);
	assert_int_equal(s.devices[2].type, 'p');
	assert_int_equal(s.devices[2].mode, 0666); /* the default */
	assert_int_equal(s.devices[2].uid, 0);

	assert_int_equal(s.nsysctl, 2);
	assert_string_equal(s.sysctl[0].key, "net.ipv4.ip_forward");
	assert_string_equal(s.sysctl[0].value, "1");
	assert_string_equal(s.sysctl[1].key, "kernel.msgmax");
	assert_string_equal(s.sysctl[1].value, "8192");

	assert_string_equal(s.uid_map, "0 1000 1\n1 100000 65536\n");
	assert_string_equal(s.gid_map, "0 1000 4294967295\n");

	assert_int_equal(s.resources.memory_limit, 268435456);
	assert_int_equal(s.resources.memory_swap, 536870912);
	assert_int_equal(s.resources.memory_reservation, 134217728);
	assert_int_equal(s.resources.cpu_quota, 50000);
	assert_int_equal(s.resources.cpu_period, 100000);
	assert_int_equal(s.resources.cpu_shares, 1024);
	assert_string_equal(s.resources.cpu_cpus, "0-1");
	assert_string_equal(s.resources.cpu_mems, "0");
	assert_int_equal(s.resources.pids_limit, 64);
	assert_int_equal(s.resources.blkio_weight, 500);
	assert_int_equal(s.rootfs_propagation, MS_PRIVATE | MS_REC);
	assert_true(s.seccomp);
	agent_spec_free(&s);
	/* free leaves an empty spec, safe to free again */
	assert_null(s.mounts);
	agent_spec_free(&s);
}

static void assert_resources_unset(const struct spec_resources *r)
{
	assert_true(r->memory_limit == SPEC_UNSET);
	assert_true(r->memory_swap == SPEC_UNSET);
	assert_true(r->memory_reservation == SPEC_UNSET);
	assert_true(r->cpu_quota == SPEC_UNSET);
	assert_true(r->cpu_period == SPEC_UNSET);
	assert_true(r->cpu_shares == SPEC_UNSET);
	assert_null(r->cpu_cpus);
	assert_null(r->cpu_mems);
	assert_true(r->pids_limit == SPEC_UNSET);
	assert_true(r->blkio_weight == SPEC_UNSET);
}

static void test_empty(void **state)
{
	struct agent_spec s;
	struct husk_err err = {0};
	/* neither object: nothing to apply, limits unset */
	assert_int_equal(agent_spec_parse(NULL, NULL, &s, &err), 0);
	assert_int_equal(s.nmounts, 0);
	assert_int_equal(s.ns_new, 0);
	assert_null(s.masked[0]);
	assert_null(s.readonly[0]);
	assert_int_equal(s.ndevices, 0);
	assert_int_equal(s.nsysctl, 0);
	assert_null(s.uid_map);
	assert_null(s.gid_map);
	assert_resources_unset(&s.resources);
	assert_int_equal(s.rootfs_propagation, 0);
	assert_false(s.seccomp);
	agent_spec_free(&s);

	/* nulls and empty arrays mean "not set"; limits keep -1 and 0 (what
	 * they mean is agent_spec_cgroup_writes's business) */
	assert_int_equal(
	    parse("{\"mounts\": [], \"linux\": {\"namespaces\": null,"
		  " \"maskedPaths\": [], \"devices\": null, \"sysctl\": null,"
		  " \"uidMappings\": [], \"gidMappings\": null,"
		  " \"resources\": {\"memory\": {\"limit\": -1}, \"cpu\": {\"quota\": 0,"
		  "  \"period\": null}, \"pids\": 3},"
		  " \"rootfsPropagation\": \"\"}}",
		  &s, &err),
	    0);
	assert_int_equal(s.nmounts, 0);
	assert_null(s.uid_map);
	assert_int_equal(s.resources.memory_limit, -1);
	assert_int_equal(s.resources.cpu_quota, 0);
	assert_true(s.resources.cpu_period == SPEC_UNSET);
	assert_true(s.resources.pids_limit == SPEC_UNSET); /* "pids": 3 is no object */
	assert_int_equal(s.rootfs_propagation, 0);
	agent_spec_free(&s);

	/* resources that are not an object: no limits */
	assert_int_equal(parse("{\"linux\": {\"resources\": [1]}}", &s, &err), 0);
	assert_resources_unset(&s.resources);
	agent_spec_free(&s);
}

static void test_mount_errors(void **state)
{
	parse_fails("{\"mounts\": {}}", EINVAL, "mounts must be an array");
	parse_fails("{\"mounts\": [3]}", EINVAL, "mounts[0] must be an object");
	parse_fails("{\"mounts\": [null]}", EINVAL, "mounts[0] must be an object");
	parse_fails("{\"mounts\": [{\"type\": \"tmpfs\"}]}", EINVAL,
		    "mounts[0].destination is missing");
	parse_fails("{\"mounts\": [{\"destination\": null, \"type\": \"tmpfs\"}]}", EINVAL,
		    "mounts[0].destination is missing");
	parse_fails("{\"mounts\": [{\"destination\": 7, \"type\": \"tmpfs\"}]}", EINVAL,
		    "mounts[0].destination must be a string");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\\u0000b\", \"type\": \"tmpfs\"}]}",
		    EINVAL, "mounts[0].destination contains a NUL byte");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\"},"
		    " {\"destination\": \"/b\", \"type\": [\"tmpfs\"]}]}",
		    EINVAL, "mounts[1].type must be a string");
	parse_fails(
	    "{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", \"source\": {}}]}",
	    EINVAL, "mounts[0].source must be a string");
	parse_fails("{\"mounts\": [{\"destination\": \"tmp\", \"type\": \"tmpfs\"}]}", EINVAL,
		    "mounts[0].destination tmp must be absolute");
	parse_fails("{\"mounts\": [{\"destination\": \"\", \"type\": \"tmpfs\"}]}", EINVAL,
		    "must be absolute");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\","
		    " \"options\": \"ro\"}]}",
		    EINVAL, "options must be an array");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\","
		    " \"options\": [\"ro\", 1]}]}",
		    EINVAL, "mount /a: options must be strings");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\","
		    " \"options\": [null]}]}",
		    EINVAL, "mount /a: options must be strings");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"source\": \"/b\"}]}", EINVAL,
		    "mounts[0] (/a) has no type and is not a bind mount");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"options\": [\"bind\"]}]}", EINVAL,
		    "mounts[0] (/a): a bind mount needs an absolute source");
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"bind\","
		    " \"source\": \"rel\"}]}",
		    EINVAL, "a bind mount needs an absolute source");
}

/* JSON text: wrap ("{\"mounts\": %s}") with its %s replaced by an array of n
 * copies of item. */
static char *repeated(const char *wrap, const char *item, size_t n)
{
	const char *hole = strstr(wrap, "%s");
	assert_non_null(hole);
	size_t il = strlen(item), len = strlen(wrap) + 2 + n * (il + 1);
	char *out = malloc(len + 1), *p = out;
	assert_non_null(out);
	memcpy(p, wrap, (size_t)(hole - wrap));
	p += hole - wrap;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, item, il);
		p += il;
	}
	*p++ = ']';
	strcpy(p, hole + 2);
	return out;
}

static void test_limits(void **state)
{
	char *t;
	struct agent_spec s;
	struct husk_err err;
	t = repeated("{\"mounts\": %s}", "{\"destination\": \"/a\", \"type\": \"tmpfs\"}",
		     SPEC_MAX_ITEMS);
	assert_int_equal(parse(t, &s, &err), 0);
	assert_int_equal(s.nmounts, SPEC_MAX_ITEMS);
	agent_spec_free(&s);
	free(t);
	t = repeated("{\"mounts\": %s}", "{\"destination\": \"/a\", \"type\": \"tmpfs\"}",
		     SPEC_MAX_ITEMS + 1);
	parse_fails(t, E2BIG, "mounts has more than 1024 entries");
	free(t);
	t = repeated("{\"linux\": {\"namespaces\": %s}}", "{\"type\": \"pid\"}",
		     SPEC_MAX_ITEMS + 1);
	parse_fails(t, E2BIG, "linux.namespaces has more than 1024 entries");
	free(t);
	t = repeated("{\"linux\": {\"maskedPaths\": %s}}", "\"/proc/kcore\"", SPEC_MAX_ITEMS + 1);
	parse_fails(t, E2BIG, "linux.maskedPaths has more than 1024 entries");
	free(t);

	/* the data of a mount fits the kernel's one page */
	char opt[1100];
	memset(opt, 'o', sizeof opt - 1);
	opt[sizeof opt - 1] = '\0';
	char item[1200];
	snprintf(item, sizeof item, "\"%s\"", opt);
	t = repeated(
	    "{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", \"options\": %s}]}", item,
	    3);
	assert_int_equal(parse(t, &s, &err), 0);
	assert_int_equal(strlen(s.mounts[0].data), 3 * 1099 + 2);
	agent_spec_free(&s);
	free(t);
	t = repeated(
	    "{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", \"options\": %s}]}", item,
	    4);
	parse_fails(t, E2BIG, "mount /a: options too long");
	free(t);

	/* uid_map: at most 340 lines, each with the widest numbers */
	const char *wide = "{\"containerID\": 4294967295, \"hostID\": 4294967295, "
			   "\"size\": 4294967295}";
	const size_t line = strlen("4294967295 4294967295 4294967295\n");
	t = repeated("{\"linux\": {\"uidMappings\": %s}}", wide, 4095 / line);
	assert_int_equal(parse(t, &s, &err), 0);
	assert_int_equal(strlen(s.uid_map), 4095 / line * line);
	agent_spec_free(&s);
	free(t);
	/* the kernel takes less than a page in one write */
	t = repeated("{\"linux\": {\"uidMappings\": %s}}", wide, 4095 / line + 1);
	parse_fails(t, E2BIG, "linux.uidMappings is longer than a page");
	free(t);
	t = repeated("{\"linux\": {\"uidMappings\": %s}}", wide, 340);
	parse_fails(t, E2BIG, "linux.uidMappings is longer than a page");
	free(t);
	t = repeated("{\"linux\": {\"gidMappings\": %s}}", wide, 341);
	parse_fails(t, E2BIG, "linux.gidMappings has more than 340 entries");
	free(t);
}

static void test_namespace_errors(void **state)
{
	parse_fails("{\"linux\": []}", EINVAL, "linux must be an object");
	parse_fails("{\"linux\": {\"namespaces\": {}}}", EINVAL,
		    "linux.namespaces must be an array");
	parse_fails("{\"linux\": {\"namespaces\": [\"pid\"]}}", EINVAL,
		    "linux.namespaces[0] needs a type");
	parse_fails("{\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"path\": \"/x\"}]}}",
		    EINVAL, "linux.namespaces[1] needs a type");
	parse_fails("{\"linux\": {\"namespaces\": [{\"type\": null}]}}", EINVAL,
		    "linux.namespaces[0] needs a type");
	parse_fails("{\"linux\": {\"namespaces\": [{\"type\": \"pids\"}]}}", EINVAL,
		    "linux.namespaces[0]: unknown type \"pids\"");
	/* a failure after mounts were read frees them */
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\","
		    " \"options\": [\"size=1m\"]}],"
		    " \"linux\": {\"namespaces\": [{\"type\": \"bogus\"}]}}",
		    EINVAL, "unknown type");
}

static void test_path_list_errors(void **state)
{
	parse_fails("{\"linux\": {\"maskedPaths\": \"/proc\"}}", EINVAL,
		    "linux.maskedPaths must be an array");
	parse_fails("{\"linux\": {\"maskedPaths\": [\"/proc/kcore\", \"proc/acpi\"]}}", EINVAL,
		    "linux.maskedPaths[1] must be an absolute path");
	parse_fails("{\"linux\": {\"maskedPaths\": [\"/a\", 5]}}", EINVAL,
		    "linux.maskedPaths[1] must be an absolute path");
	parse_fails("{\"linux\": {\"maskedPaths\": [null]}}", EINVAL,
		    "linux.maskedPaths[0] must be an absolute path");
	parse_fails("{\"linux\": {\"maskedPaths\": [\"/a\"], \"readonlyPaths\": [\"\"]}}", EINVAL,
		    "linux.readonlyPaths[0] must be an absolute path");
	parse_fails("{\"linux\": {\"maskedPaths\": {\"/proc/kcore\": true}}}", EINVAL,
		    "linux.maskedPaths must be an array");
	parse_fails("{\"linux\": {\"readonlyPaths\": \"/proc/sys\"}}", EINVAL,
		    "linux.readonlyPaths must be an array");
	parse_fails("{\"linux\": {\"readonlyPaths\": true}}", EINVAL,
		    "linux.readonlyPaths must be an array");
}

static void test_device_errors(void **state)
{
	parse_fails("{\"linux\": {\"devices\": {}}}", EINVAL, "linux.devices must be an array");
	parse_fails("{\"linux\": {\"devices\": [1]}}", EINVAL,
		    "linux.devices[0] must be an object");
	parse_fails("{\"linux\": {\"devices\": [{\"type\": \"c\"}]}}", EINVAL,
		    "linux.devices[0].path is missing");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\"}]}}", EINVAL,
		    "linux.devices[0].type is missing");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"x\"}]}}", EINVAL,
		    "type must be c, b, u or p and path absolute");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"cb\"}]}}",
		    EINVAL, "type must be c, b, u or p");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"\"}]}}", EINVAL,
		    "type must be c, b, u or p");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"dev/x\", \"type\": \"c\"}]}}", EINVAL,
		    "path absolute");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"major\": 4096}]}}",
		    ERANGE, "linux.devices[0].major is out of range");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"major\": -1}]}}",
		    ERANGE, "linux.devices[0].major is out of range");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"minor\": \"1\"}]}}",
		    EINVAL, "linux.devices[0].minor must be an integer");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"minor\": 1048576}]}}",
		    ERANGE, "minor is out of range");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"fileMode\": 4096}]}}",
		    ERANGE, "linux.devices[0].fileMode is out of range");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"fileMode\": 1.5}]}}",
		    EINVAL, "fileMode must be an integer");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"uid\": 4294967296}]}}",
		    ERANGE, "linux.devices[0].uid is out of range");
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\"},"
		    " {\"path\": \"/dev/y\", \"type\": \"c\", \"gid\": -5}]}}",
		    ERANGE, "linux.devices[1].gid is out of range");
	/* past INT64_MAX json-c clamps; the clamp is caught */
	parse_fails("{\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\","
		    " \"gid\": 18446744073709551615}]}}",
		    ERANGE, "gid is out of range");
}

static void test_sysctl_errors(void **state)
{
	parse_fails("{\"linux\": {\"sysctl\": [\"a=b\"]}}", EINVAL,
		    "linux.sysctl must be an object of strings");
	parse_fails("{\"linux\": {\"sysctl\": {\"net.a\": \"1\", \"kernel.b\": 2}}}", EINVAL,
		    "linux.sysctl.kernel.b must be a string and a valid name");
	parse_fails("{\"linux\": {\"sysctl\": {\"kernel.b\": null}}}", EINVAL,
		    "must be a string and a valid name");
	parse_fails("{\"linux\": {\"sysctl\": {\"../../etc/passwd\": \"x\"}}}", EINVAL,
		    "valid name");
	parse_fails("{\"linux\": {\"sysctl\": {\"net/ipv4\": \"x\"}}}", EINVAL, "valid name");
	parse_fails("{\"linux\": {\"sysctl\": {\"\": \"x\"}}}", EINVAL, "valid name");
}

static void test_idmap_errors(void **state)
{
	parse_fails("{\"linux\": {\"uidMappings\": {}}}", EINVAL,
		    "linux.uidMappings must be an array");
	parse_fails("{\"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1}]}}", EINVAL,
		    "linux.uidMappings[0]. needs containerID, hostID and size");
	parse_fails("{\"linux\": {\"gidMappings\": [{\"containerID\": 0, \"hostID\": 1,"
		    " \"size\": 0}]}}",
		    ERANGE, "linux.gidMappings[0].size is out of range");
	parse_fails("{\"linux\": {\"uidMappings\": [{\"containerID\": -1, \"hostID\": 1,"
		    " \"size\": 1}]}}",
		    ERANGE, "containerID is out of range");
	parse_fails("{\"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": \"1\","
		    " \"size\": 1}]}}",
		    EINVAL, "hostID must be an integer");
	parse_fails("{\"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1,"
		    " \"size\": 1}, 7]}}",
		    EINVAL, "linux.uidMappings[1] must be an object");
	parse_fails("{\"linux\": {\"gidMappings\": [null]}}", EINVAL,
		    "linux.gidMappings[0] must be an object");
}

static void test_resource_errors(void **state)
{
	parse_fails("{\"linux\": {\"resources\": {\"memory\": {\"limit\": \"1G\"}}}}", EINVAL,
		    "linux.resources.memory.limit must be an integer");
	parse_fails("{\"linux\": {\"resources\": {\"memory\": {\"limit\": -2}}}}", ERANGE,
		    "linux.resources.memory.limit is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"period\": -1}}}}", ERANGE,
		    "linux.resources.cpu.period is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"pids\": {\"limit\": 1.5}}}}", EINVAL,
		    "linux.resources.pids.limit must be an integer");
	parse_fails("{\"linux\": {\"rootfsPropagation\": \"everywhere\"}}", EINVAL,
		    "linux.rootfsPropagation \"everywhere\" is not a propagation");
	/* the fields create did not read before: the same reader, the same words */
	parse_fails("{\"linux\": {\"resources\": {\"memory\": {\"swap\": \"1G\"}}}}", EINVAL,
		    "linux.resources.memory.swap must be an integer");
	parse_fails("{\"linux\": {\"resources\": {\"memory\": {\"reservation\": -2}}}}", ERANGE,
		    "linux.resources.memory.reservation is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"shares\": 262145}}}}", ERANGE,
		    "linux.resources.cpu.shares is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"shares\": -1}}}}", ERANGE,
		    "linux.resources.cpu.shares is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"cpus\": 3}}}}", EINVAL,
		    "linux.resources.cpu.cpus must be a string");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"mems\": \"0\\u00001\"}}}}", EINVAL,
		    "linux.resources.cpu.mems contains a NUL byte");
	parse_fails("{\"linux\": {\"resources\": {\"blockIO\": {\"weight\": 9}}}}", ERANGE,
		    "linux.resources.blockIO.weight is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"blockIO\": {\"weight\": 1001}}}}", ERANGE,
		    "linux.resources.blockIO.weight is out of range");
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"quota\": 9223372036854775808}}}}",
		    ERANGE, "linux.resources.cpu.quota is out of range");
	/* a failure after a string was read leaves nothing behind (ASan) */
	parse_fails("{\"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"0\", \"mems\": []}}}}",
		    EINVAL, "linux.resources.cpu.mems must be a string");
	char cpus[SPEC_CPUSET_MAX + 2], text[400];
	memset(cpus, '1', sizeof cpus - 1);
	cpus[sizeof cpus - 1] = '\0';
	snprintf(text, sizeof text, "{\"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"%s\"}}}}",
		 cpus);
	parse_fails(text, E2BIG, "linux.resources.cpu.cpus is longer than 255 characters");
	cpus[SPEC_CPUSET_MAX] = '\0';
	snprintf(text, sizeof text, "{\"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"%s\"}}}}",
		 cpus);
	struct agent_spec s;
	struct husk_err err;
	assert_int_equal(parse(text, &s, &err), 0);
	assert_int_equal(strlen(s.resources.cpu_cpus), SPEC_CPUSET_MAX);
	agent_spec_free(&s);
}

/* ---- linux.resources alone (container.update) and its cgroup writes ---- */

/* agent_spec_resources of text (NULL: none). */
static int resources(const char *text, struct spec_resources *r, struct husk_err *err)
{
	struct json_object *o = text ? json_tokener_parse(text) : NULL;
	if (text && !o)
		fail_msg("test JSON does not parse: %s", text);
	memset(err, 0, sizeof *err);
	int rc = agent_spec_resources(o, r, err);
	json_object_put(o);
	return rc;
}

static void test_resources(void **state)
{
	struct spec_resources r;
	struct husk_err err;
	assert_int_equal(resources(NULL, &r, &err), 0);
	assert_resources_unset(&r);
	agent_spec_resources_free(&r);
	assert_int_equal(resources("{}", &r, &err), 0);
	assert_resources_unset(&r);
	agent_spec_resources_free(&r);
	/* null members and groups that are no objects are absent */
	assert_int_equal(resources("{\"memory\": null, \"cpu\": 7, \"pids\": {\"limit\": null},"
				   " \"blockIO\": {}, \"hugepageLimits\": []}",
				   &r, &err),
			 0);
	assert_resources_unset(&r);
	agent_spec_resources_free(&r);

	/* what runc update sends: every value as given */
	assert_int_equal(resources("{\"memory\": {\"limit\": -1, \"swap\": 0, \"reservation\": 0},"
				   " \"cpu\": {\"quota\": -1, \"period\": 0, \"shares\": 0,"
				   "  \"cpus\": \"\", \"mems\": \"0\"},"
				   " \"pids\": {\"limit\": 0}, \"blockIO\": {\"weight\": 0}}",
				   &r, &err),
			 0);
	assert_int_equal(r.memory_limit, -1);
	assert_int_equal(r.memory_swap, 0);
	assert_int_equal(r.memory_reservation, 0);
	assert_int_equal(r.cpu_quota, -1);
	assert_int_equal(r.cpu_period, 0);
	assert_int_equal(r.cpu_shares, 0);
	assert_string_equal(r.cpu_cpus, "");
	assert_string_equal(r.cpu_mems, "0");
	assert_int_equal(r.pids_limit, 0);
	assert_int_equal(r.blkio_weight, 0);
	agent_spec_resources_free(&r);
	assert_null(r.cpu_mems);
	agent_spec_resources_free(&r); /* twice is fine */

	/* errors name the field as config.json's do, and leave nothing */
	assert_int_equal(resources("{\"memory\": {\"limit\": 12.5}}", &r, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, "linux.resources.memory.limit must be an integer");
	assert_int_equal(resources("{\"cpu\": {\"cpus\": \"0-3\", \"shares\": 1e3}}", &r, &err),
			 -1);
	assert_string_equal(err.msg, "linux.resources.cpu.shares must be an integer");
	assert_null(r.cpu_cpus);
	assert_int_equal(resources("{\"pids\": {\"limit\": -7}}", &r, &err), -1);
	assert_int_equal(err.code, ERANGE);
	assert_string_equal(err.msg, "linux.resources.pids.limit is out of range");
}

/* The writes for a linux.resources text, as "file=value; ..." in *out. */
static int writes(const char *text, bool create, struct spec_cgroup_write *w, char *out,
		  size_t size, struct husk_err *err)
{
	struct spec_resources r;
	if (resources(text, &r, err) < 0)
		fail_msg("%s: %s", text, err->msg);
	int n = agent_spec_cgroup_writes(&r, create, w, err);
	agent_spec_resources_free(&r);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		assert_non_null(w[i].file);
		assert_non_null(w[i].field);
		snprintf(out + strlen(out), size - strlen(out), "%s%s=%s", i ? "; " : "", w[i].file,
			 w[i].value);
	}
	assert_true(n <= SPEC_CGROUP_WRITES);
	return n;
}

static void expect_writes(const char *text, bool create, const char *want)
{
	struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
	struct husk_err err;
	char got[2048];
	if (writes(text, create, w, got, sizeof got, &err) < 0)
		fail_msg("%s (%s): %s", text, create ? "create" : "update", err.msg);
	if (strcmp(got, want) != 0)
		fail_msg("%s (%s):\n got  \"%s\"\n want \"%s\"", text, create ? "create" : "update",
			 got, want);
}

static void expect_writes_fail(const char *text, bool create, const char *want)
{
	struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
	struct husk_err err;
	char got[2048];
	if (writes(text, create, w, got, sizeof got, &err) != -1)
		fail_msg("%s (%s): accepted: %s", text, create ? "create" : "update", got);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, want);
}

static void test_cgroup_writes_create(void **state)
{
	struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
	struct husk_err err;
	char got[2048];

	/* what create wrote before container.update, unchanged */
	expect_writes("{}", true, "");
	expect_writes("{\"memory\": {\"limit\": 268435456}}", true,
		      "memory.max=268435456; memory.swap.max=0");
	assert_int_equal(writes("{\"memory\": {\"limit\": 1}}", true, w, got, sizeof got, &err), 2);
	assert_string_equal(w[0].field, "linux.resources.memory.limit");
	assert_int_equal(w[0].flags, 0);
	assert_int_equal(w[1].flags, SPEC_CG_BEST_EFFORT); /* no swap, where there is swap */
	expect_writes("{\"memory\": {\"limit\": -1}}", true, "");
	expect_writes("{\"memory\": {\"limit\": 0}}", true, "");
	expect_writes("{\"pids\": {\"limit\": 64}}", true, "pids.max=64");
	expect_writes("{\"pids\": {\"limit\": -1}}", true, "");
	expect_writes("{\"pids\": {\"limit\": 0}}", true, "");
	expect_writes("{\"cpu\": {\"quota\": 50000, \"period\": 200000}}", true,
		      "cpu.max=50000 200000");
	expect_writes("{\"cpu\": {\"quota\": 50000}}", true, "cpu.max=50000 100000");
	expect_writes("{\"cpu\": {\"quota\": 50000, \"period\": 0}}", true, "cpu.max=50000 100000");
	expect_writes("{\"cpu\": {\"quota\": -1, \"period\": 200000}}", true, "");
	expect_writes("{\"cpu\": {\"quota\": 0}}", true, "");
	expect_writes("{\"cpu\": {\"period\": 200000}}", true, "");
	assert_int_equal(writes("{\"cpu\": {\"quota\": 1}}", true, w, got, sizeof got, &err), 1);
	assert_string_equal(w[0].field, "linux.resources.cpu");

	/* and the new fields, every one: the most writes there are */
	assert_int_equal(
	    writes("{\"memory\": {\"limit\": 536870912, \"swap\": 1073741824,"
		   " \"reservation\": 268435456}, \"cpu\": {\"quota\": 20000, \"period\": 50000,"
		   " \"shares\": 1024, \"cpus\": \"0-1\", \"mems\": \"0\"},"
		   " \"pids\": {\"limit\": 100}, \"blockIO\": {\"weight\": 500}}",
		   true, w, got, sizeof got, &err),
	    SPEC_CGROUP_WRITES);
	assert_string_equal(
	    got, "memory.max=536870912; memory.swap.max=536870912; "
		 "memory.low=268435456; pids.max=100; cpu.max=20000 50000; "
		 "cpu.weight=39; cpuset.cpus=0-1; cpuset.mems=0; io.weight=default 4950");
	/* swap is limited where the guest has it */
	assert_int_equal(w[1].flags, SPEC_CG_IF_PRESENT);
	assert_string_equal(w[1].field, "linux.resources.memory.swap");
	assert_string_equal(w[1].given, "1073741824");
	assert_string_equal(w[2].field, "linux.resources.memory.reservation");
	assert_string_equal(w[2].given, "");
	assert_string_equal(w[5].field, "linux.resources.cpu.shares");
	assert_string_equal(w[5].given, "1024");
	assert_int_equal(w[5].flags, 0);
	assert_int_equal(w[6].flags, SPEC_CG_IF_PRESENT);
	assert_int_equal(w[7].flags, SPEC_CG_IF_PRESENT);
	assert_string_equal(w[8].field, "linux.resources.blockIO.weight");
	assert_string_equal(w[8].given, "500");
	assert_int_equal(w[8].flags, SPEC_CG_IF_PRESENT);

	/* swap as memory + swap: equal is none, unlimited is left as new */
	expect_writes("{\"memory\": {\"limit\": 1024, \"swap\": 1024}}", true,
		      "memory.max=1024; memory.swap.max=0");
	expect_writes("{\"memory\": {\"limit\": 1024, \"swap\": -1}}", true, "memory.max=1024");
	expect_writes("{\"memory\": {\"limit\": 1024, \"swap\": 0}}", true,
		      "memory.max=1024; memory.swap.max=0");
	expect_writes("{\"memory\": {\"swap\": -1, \"reservation\": -1}}", true, "memory.low=max");
	expect_writes_fail("{\"memory\": {\"swap\": 1024}}", true,
			   "linux.resources.memory.swap 1024 needs a linux.resources.memory.limit: "
			   "it is memory and swap together");
	expect_writes_fail("{\"memory\": {\"limit\": 2048, \"swap\": 1024}}", true,
			   "linux.resources.memory.swap 1024 is less than "
			   "linux.resources.memory.limit 2048");
}

static void test_cgroup_writes_update(void **state)
{
	struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
	struct husk_err err;
	char got[2048];

	/* absent fields change nothing */
	expect_writes("{}", false, "");
	expect_writes("{\"memory\": {}, \"cpu\": {\"cpus\": \"\"}, \"pids\": null}", false, "");
	expect_writes("{\"memory\": {\"limit\": 0, \"swap\": 0, \"reservation\": 0},"
		      " \"cpu\": {\"period\": 0, \"shares\": 0}, \"blockIO\": {\"weight\": 0}}",
		      false, "");

	/* memory: no swap default at update; -1 is max, for swap too */
	expect_writes("{\"memory\": {\"limit\": 1073741824}}", false, "memory.max=1073741824");
	assert_int_equal(writes("{\"memory\": {\"limit\": -1}}", false, w, got, sizeof got, &err),
			 2);
	assert_string_equal(got, "memory.max=max; memory.swap.max=max");
	assert_string_equal(w[1].field, "linux.resources.memory.limit");
	assert_string_equal(w[1].given, "-1");
	assert_int_equal(w[1].flags, SPEC_CG_IF_PRESENT);
	expect_writes("{\"memory\": {\"limit\": 1073741824, \"swap\": 2147483648}}", false,
		      "memory.max=1073741824; memory.swap.max=1073741824");
	expect_writes("{\"memory\": {\"limit\": 1073741824, \"swap\": 1073741824}}", false,
		      "memory.max=1073741824; memory.swap.max=0");
	expect_writes("{\"memory\": {\"limit\": 1073741824, \"swap\": -1}}", false,
		      "memory.max=1073741824; memory.swap.max=max");
	expect_writes("{\"memory\": {\"swap\": -1}}", false, "memory.swap.max=max");
	expect_writes("{\"memory\": {\"reservation\": 67108864}}", false, "memory.low=67108864");
	expect_writes("{\"memory\": {\"reservation\": -1}}", false, "memory.low=max");
	expect_writes_fail("{\"memory\": {\"swap\": 2147483648}}", false,
			   "linux.resources.memory.swap 2147483648 needs a "
			   "linux.resources.memory.limit: it is memory and swap together");
	expect_writes_fail("{\"memory\": {\"limit\": -1, \"swap\": 2147483648}}", false,
			   "linux.resources.memory.swap 2147483648 needs a "
			   "linux.resources.memory.limit: it is memory and swap together");
	expect_writes_fail("{\"memory\": {\"limit\": 2, \"swap\": 1}}", false,
			   "linux.resources.memory.swap 1 is less than "
			   "linux.resources.memory.limit 2");

	/* pids: -1 and 0 are max */
	expect_writes("{\"pids\": {\"limit\": 10}}", false, "pids.max=10");
	expect_writes("{\"pids\": {\"limit\": -1}}", false, "pids.max=max");
	expect_writes("{\"pids\": {\"limit\": 0}}", false, "pids.max=max");

	/* cpu.max: a quota alone keeps the period (the kernel does), a period
	 * alone keeps the quota (the writer reads it) */
	expect_writes("{\"cpu\": {\"quota\": 50000}}", false, "cpu.max=50000");
	expect_writes("{\"cpu\": {\"quota\": 50000, \"period\": 200000}}", false,
		      "cpu.max=50000 200000");
	expect_writes("{\"cpu\": {\"quota\": -1}}", false, "cpu.max=max");
	expect_writes("{\"cpu\": {\"quota\": 0, \"period\": 0}}", false, "cpu.max=max");
	expect_writes("{\"cpu\": {\"quota\": -1, \"period\": 200000}}", false,
		      "cpu.max=max 200000");
	assert_int_equal(writes("{\"cpu\": {\"period\": 200000}}", false, w, got, sizeof got, &err),
			 1);
	assert_string_equal(got, "cpu.max=200000");
	assert_int_equal(w[0].flags, SPEC_CG_KEEP_QUOTA);
	assert_string_equal(w[0].field, "linux.resources.cpu");

	/* cpu.weight by runc's formula, across the range of shares */
	expect_writes("{\"cpu\": {\"shares\": 2}}", false, "cpu.weight=1");
	expect_writes("{\"cpu\": {\"shares\": 1}}", false, "cpu.weight=1");
	expect_writes("{\"cpu\": {\"shares\": 1024}}", false, "cpu.weight=39");
	expect_writes("{\"cpu\": {\"shares\": 262144}}", false, "cpu.weight=10000");
	expect_writes("{\"cpu\": {\"cpus\": \"1,3-5\", \"mems\": \"0\"}}", false,
		      "cpuset.cpus=1,3-5; cpuset.mems=0");
	expect_writes("{\"blockIO\": {\"weight\": 10}}", false, "io.weight=default 1");
	expect_writes("{\"blockIO\": {\"weight\": 1000}}", false, "io.weight=default 10000");

	/* in one update, in a fixed order */
	expect_writes(
	    "{\"blockIO\": {\"weight\": 100}, \"pids\": {\"limit\": 5},"
	    " \"cpu\": {\"shares\": 512, \"quota\": 1000}, \"memory\": {\"limit\": 4096}}",
	    false,
	    "memory.max=4096; pids.max=5; cpu.max=1000; cpu.weight=20; "
	    "io.weight=default 910");
}

static void test_mount_options(void **state)
{
	struct spec_mount m = {.dst = "/x"};
	struct husk_err err = {0};
	struct json_object *o =
	    json_tokener_parse("[\"remount\", \"bind\", \"ro\", \"private\", \"mand\","
			       " \"nomand\", \"noatime\", \"nodiratime\", \"relatime\","
			       " \"norelatime\", \"dirsync\", \"sync\", \"async\", \"silent\","
			       " \"idmap=0:0:1\", \"uid=5\", \"exec\", \"suid\", \"dev\"]");
	assert_non_null(o);
	assert_int_equal(agent_spec_mount_options(o, &m, &err), 0);
	assert_int_equal(m.flags, MS_REMOUNT | MS_RDONLY | MS_NOATIME | MS_NODIRATIME | MS_DIRSYNC |
				      MS_SILENT);
	assert_true(m.bind);
	assert_false(m.recursive);
	assert_int_equal(m.propagation, MS_PRIVATE);
	assert_string_equal(m.data, "uid=5");
	free(m.data);
	json_object_put(o);

	/* no options: nothing set */
	m = (struct spec_mount){.dst = "/x"};
	assert_int_equal(agent_spec_mount_options(NULL, &m, &err), 0);
	assert_int_equal(m.flags, 0);
	assert_null(m.data);
}

static void test_cap_names(void **state)
{
	assert_int_equal(agent_cap_from_name("CAP_CHOWN"), 0);
	assert_int_equal(agent_cap_from_name("CHOWN"), 0);
	assert_int_equal(agent_cap_from_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(agent_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
	assert_int_equal(agent_cap_from_name("CAP_"), -1);
	assert_int_equal(agent_cap_from_name(""), -1);
	assert_int_equal(agent_cap_from_name("cap_chown"), -1);
	assert_int_equal(agent_cap_from_name("CAP_NOPE"), -1);
}

static void test_process(void **state)
{
	struct spec_process p;
	struct husk_err err;
	assert_int_equal(
	    process("{\"args\": [\"sh\"],"
		    " \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 4096, \"soft\": 1024},"
		    "  {\"type\": \"RLIMIT_CORE\", \"hard\": 18446744073709551615, \"soft\": 0}],"
		    " \"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_SYS_ADMIN\"],"
		    "  \"effective\": [\"KILL\"], \"permitted\": [\"CAP_KILL\"],"
		    "  \"inheritable\": [], \"ambient\": null},"
		    " \"noNewPrivileges\": true, \"oomScoreAdj\": -1000,"
		    " \"user\": {\"uid\": 0, \"umask\": 18}}",
		    &p, &err),
	    0);
	assert_int_equal(p.nrlimits, 2);
	assert_int_equal(p.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(p.rlimits[0].soft, 1024);
	assert_int_equal(p.rlimits[0].hard, 4096);
	assert_int_equal(p.rlimits[1].resource, RLIMIT_CORE);
	assert_true(p.rlimits[1].hard == UINT64_MAX);
	assert_int_equal(p.rlimits[1].soft, 0);
	assert_true(p.has_caps);
	assert_true(p.cap_bounding == ((1ull << 5) | (1ull << 21)));
	assert_true(p.cap_effective == 1ull << 5);
	assert_true(p.cap_permitted == 1ull << 5);
	assert_true(p.cap_inheritable == 0);
	assert_true(p.cap_ambient == 0);
	assert_true(p.no_new_privs);
	assert_true(p.has_oom_score_adj);
	assert_int_equal(p.oom_score_adj, -1000);
	assert_true(p.has_umask);
	assert_int_equal(p.umask, 022);
	agent_spec_process_free(&p);
	assert_null(p.rlimits);

	/* nothing set (null is absent, as for runc) */
	assert_int_equal(process("{\"args\": [\"sh\"], \"noNewPrivileges\": null,"
				 " \"capabilities\": null, \"rlimits\": null, \"user\": null}",
				 &p, &err),
			 0);
	assert_int_equal(p.nrlimits, 0);
	assert_false(p.has_caps);
	assert_false(p.no_new_privs);
	assert_false(p.has_oom_score_adj);
	assert_false(p.has_umask);
	agent_spec_process_free(&p);
	memset(&err, 0, sizeof err);
	assert_int_equal(agent_spec_process(NULL, &p, &err), 0);
	assert_null(p.rlimits);
}

static void test_process_errors(void **state)
{
	process_fails("{\"rlimits\": {}}", EINVAL, "process.rlimits must be an array");
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1}]}", EINVAL,
		      "process.rlimits[0].soft is missing");
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1, \"soft\": 1},"
		      " {\"type\": \"RLIMIT_FOO\", \"hard\": 1, \"soft\": 1}]}",
		      EINVAL, "process.rlimits[1].type: unknown limit RLIMIT_FOO");
	process_fails(
	    "{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": \"1\", \"soft\": 1}]}", EINVAL,
	    "process.rlimits[0].hard must be an integer");
	process_fails("{\"rlimits\": [{\"type\": null, \"hard\": 1, \"soft\": 1}]}", EINVAL,
		      "process.rlimits[0].type is missing");
	process_fails("{\"rlimits\": [{\"type\": 7, \"hard\": 1, \"soft\": 1}]}", EINVAL,
		      "process.rlimits[0].type must be a string");
	process_fails("{\"rlimits\": [[]]}", EINVAL, "process.rlimits[0] must be an object");
	process_fails("{\"capabilities\": {\"bounding\": \"CAP_KILL\"}}", EINVAL,
		      "process.capabilities.bounding must be an array");
	process_fails("{\"capabilities\": {\"ambient\": [\"CAP_KILL\", \"CAP_FLY\"]}}", EINVAL,
		      "process.capabilities.ambient[1]: unknown capability CAP_FLY");
	process_fails("{\"capabilities\": {\"effective\": [5]}}", EINVAL,
		      "process.capabilities.effective[0]: unknown capability 5");
	process_fails("{\"capabilities\": {\"permitted\": [null]}}", EINVAL,
		      "process.capabilities.permitted[0]: unknown capability null");
	process_fails("{\"oomScoreAdj\": 1001}", ERANGE, "process.oomScoreAdj is out of range");
	process_fails("{\"oomScoreAdj\": \"5\"}", EINVAL, "process.oomScoreAdj must be an integer");
	process_fails("{\"user\": {\"umask\": 512}}", ERANGE, "process.user.umask is out of range");
	process_fails("{\"user\": {\"umask\": -1}}", ERANGE, "process.user.umask is out of range");
}

/* Issue 12: every field that narrows privilege refuses a value it cannot
 * read, where it used to fall back to "not set" (more privilege). */
static void test_process_privilege_types(void **state)
{
	/* capabilities as an array gave every capability */
	process_fails("{\"capabilities\": [\"CAP_KILL\"]}", EINVAL,
		      "process.capabilities must be an object");
	process_fails("{\"capabilities\": \"CAP_KILL\"}", EINVAL,
		      "process.capabilities must be an object");
	process_fails("{\"capabilities\": true}", EINVAL, "process.capabilities must be an object");
	process_fails("{\"capabilities\": {\"bounding\": {\"CAP_KILL\": true}}}", EINVAL,
		      "process.capabilities.bounding must be an array");
	process_fails("{\"capabilities\": {\"inheritable\": 0}}", EINVAL,
		      "process.capabilities.inheritable must be an array");
	process_fails("{\"capabilities\": {\"effective\": [[\"CAP_KILL\"]]}}", EINVAL,
		      "process.capabilities.effective[0]: unknown capability");
	/* noNewPrivileges as a string left it off */
	process_fails("{\"noNewPrivileges\": \"true\"}", EINVAL,
		      "process.noNewPrivileges must be true or false");
	process_fails("{\"noNewPrivileges\": 1}", EINVAL,
		      "process.noNewPrivileges must be true or false");
	process_fails("{\"noNewPrivileges\": {}}", EINVAL,
		      "process.noNewPrivileges must be true or false");
	/* an rlimit of -1 became 0; one above hard, or not an integer */
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": -1, \"soft\": 1}]}",
		      ERANGE, "process.rlimits[0].hard is out of range");
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1, \"soft\": -1}]}",
		      ERANGE, "process.rlimits[0].soft is out of range");
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NPROC\", \"hard\": 10, \"soft\": 11}]}",
		      EINVAL, "process.rlimits[0].soft is above process.rlimits[0].hard");
	process_fails("{\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1.5, \"soft\": 1}]}",
		      EINVAL, "process.rlimits[0].hard must be an integer");
	process_fails("{\"rlimits\": \"RLIMIT_NOFILE=1\"}", EINVAL,
		      "process.rlimits must be an array");
	/* user */
	process_fails("{\"user\": 0}", EINVAL, "process.user must be an object");
	process_fails("{\"user\": {\"umask\": \"022\"}}", EINVAL,
		      "process.user.umask must be an integer");
	process_fails("[]", EINVAL, "process must be an object");
}

static void test_rlimit_bounds(void **state)
{
	struct spec_process p;
	struct husk_err err;
	/* RLIM_INFINITY as runc's spec writes it, 0, and soft == hard */
	assert_int_equal(
	    process("{\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"soft\": 18446744073709551615,"
		    " \"hard\": 18446744073709551615}, {\"type\": \"RLIMIT_NPROC\", \"soft\": 0,"
		    " \"hard\": 0}, {\"type\": \"RLIMIT_NOFILE\", \"soft\": 9223372036854775808,"
		    " \"hard\": 9223372036854775809}]}",
		    &p, &err),
	    0);
	assert_int_equal(p.nrlimits, 3);
	assert_true(p.rlimits[0].soft == UINT64_MAX && p.rlimits[0].hard == UINT64_MAX);
	assert_true(p.rlimits[1].soft == 0 && p.rlimits[1].hard == 0);
	assert_true(p.rlimits[2].soft == (UINT64_C(1) << 63));
	assert_true(p.rlimits[2].hard == (UINT64_C(1) << 63) + 1);
	agent_spec_process_free(&p);
	/* an empty capabilities object: every set empty, not "keep all" */
	assert_int_equal(process("{\"capabilities\": {}}", &p, &err), 0);
	assert_true(p.has_caps);
	assert_true(p.cap_bounding == 0 && p.cap_effective == 0 && p.cap_permitted == 0 &&
		    p.cap_inheritable == 0 && p.cap_ambient == 0);
	agent_spec_process_free(&p);
}

/* linux.seccomp given in a shape that cannot be read is refused, not
 * compiled into a filter that allows more (syscalls as an object were
 * ignored). */
static void test_seccomp_shape(void **state)
{
	struct agent_spec s;
	struct husk_err err;
	assert_int_equal(
	    parse("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\","
		  " \"defaultErrnoRet\": 1, \"architectures\": [\"SCMP_ARCH_X86_64\"],"
		  " \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"], \"syscalls\": [{\"names\":"
		  " [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"}, {\"names\":"
		  " [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\":"
		  " 0, \"value\": 4294967295, \"valueTwo\": 0, \"op\": \"SCMP_CMP_EQ\"}]},"
		  " {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\":"
		  " 38, \"args\": null}]}}}",
		  &s, &err),
	    0);
	assert_true(s.seccomp);
	agent_spec_free(&s);
	assert_int_equal(parse("{\"linux\": {\"seccomp\": null}}", &s, &err), 0);
	assert_false(s.seccomp);
	agent_spec_free(&s);
	assert_int_equal(parse("{\"linux\": {}}", &s, &err), 0);
	assert_false(s.seccomp);
	agent_spec_free(&s);

	parse_fails("{\"linux\": {\"seccomp\": [\"SCMP_ACT_ERRNO\"]}}", EINVAL,
		    "linux.seccomp must be an object");
	parse_fails("{\"linux\": {\"seccomp\": \"default\"}}", EINVAL,
		    "linux.seccomp must be an object");
	parse_fails("{\"linux\": {\"seccomp\": {}}}", EINVAL,
		    "linux.seccomp.defaultAction is missing");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": 1}}}", EINVAL,
		    "linux.seccomp.defaultAction must be a string");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_BOGUS\"}}}",
		    EOPNOTSUPP,
		    "linux.seccomp.defaultAction: action SCMP_ACT_BOGUS is not supported");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\","
		    " \"defaultErrnoRet\": -1}}}",
		    ERANGE, "linux.seccomp.defaultErrnoRet is out of range");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\","
		    " \"defaultErrnoRet\": \"1\"}}}",
		    EINVAL, "linux.seccomp.defaultErrnoRet must be an integer");
	/* syscalls as an object allowed everything */
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": {\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\"}}}}",
		    EINVAL, "linux.seccomp.syscalls must be an array");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [\"mkdir\"]}}}",
		    EINVAL, "linux.seccomp.syscalls[0] must be an object");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": \"mkdir\", \"action\": \"SCMP_ACT_ERRNO\"}]}}}",
		    EINVAL, "linux.seccomp.syscalls[0].names must be an array of strings");
	parse_fails(
	    "{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
	    " \"syscalls\": [{\"names\": [\"mkdir\", 3], \"action\": \"SCMP_ACT_ERRNO\"}]}}}",
	    EINVAL, "linux.seccomp.syscalls[0].names[1] must be a string");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"]}]}}}",
		    EINVAL, "linux.seccomp.syscalls[0].action is missing");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOPE\"}]}}}",
		    EOPNOTSUPP, "linux.seccomp.syscalls[0].action: action SCMP_ACT_NOPE");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"errnoRet\": 65536}]}}}",
		    ERANGE, "linux.seccomp.syscalls[0].errnoRet is out of range");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"args\": {\"index\": 0}}]}}}",
		    EINVAL, "linux.seccomp.syscalls[0].args must be an array");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"args\": [{},{},{},{},{},{},{}]}]}}}",
		    E2BIG, "linux.seccomp.syscalls[0].args has more than 6 entries");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}}}",
		    ERANGE, "linux.seccomp.syscalls[0].args[0].index is out of range");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}}}",
		    ERANGE, "linux.seccomp.syscalls[0].args[0].value is out of range");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
		    " \"args\": [{\"index\": 0, \"value\": \"1\", \"op\": \"SCMP_CMP_EQ\"}]}]}}}",
		    EINVAL, "linux.seccomp.syscalls[0].args[0].value must be an integer");
	parse_fails(
	    "{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
	    " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_ERRNO\","
	    " \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_SOMETIMES\"}]}]}}}",
	    EOPNOTSUPP, "linux.seccomp.syscalls[0].args[0].op: comparison SCMP_CMP_SOMETIMES");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"architectures\": \"SCMP_ARCH_X86_64\"}}}",
		    EINVAL, "linux.seccomp.architectures must be an array of strings");
	parse_fails("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"flags\": [1]}}}",
		    EINVAL, "linux.seccomp.flags[0] must be a string");
	/* a failure after mounts were read frees them */
	parse_fails("{\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\"}],"
		    " \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
		    " \"syscalls\": {}}}}",
		    EINVAL, "linux.seccomp.syscalls must be an array");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_mount_errors),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_namespace_errors),
	    cmocka_unit_test(test_path_list_errors),
	    cmocka_unit_test(test_device_errors),
	    cmocka_unit_test(test_sysctl_errors),
	    cmocka_unit_test(test_idmap_errors),
	    cmocka_unit_test(test_resource_errors),
	    cmocka_unit_test(test_resources),
	    cmocka_unit_test(test_cgroup_writes_create),
	    cmocka_unit_test(test_cgroup_writes_update),
	    cmocka_unit_test(test_mount_options),
	    cmocka_unit_test(test_cap_names),
	    cmocka_unit_test(test_process),
	    cmocka_unit_test(test_process_errors),
	    cmocka_unit_test(test_process_privilege_types),
	    cmocka_unit_test(test_rlimit_bounds),
	    cmocka_unit_test(test_seccomp_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
