/* Unit tests for the control messages (protocol/msg.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "husk-proto.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

#define assert_starts_with(s, prefix)                                                              \
	do {                                                                                       \
		if (strncmp((s), (prefix), strlen(prefix)) != 0)                                   \
			fail_msg("\"%s\" does not start with \"%s\"", (s), (prefix));              \
	} while (0)

/* ---- helpers ---- */

/* An exact-size heap copy without a terminating NUL, so ASan catches any
 * read past len. */
static char *dup_exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

/* Serializes o into a frame with husk_frame_json(), checks the header with
 * husk_frame_parse() and returns the frame; *payload and *len locate the
 * JSON inside it. Drops the reference to o. */
static uint8_t *frame_of(uint16_t type, struct json_object *o, const char **payload, size_t *len)
{
	struct husk_frame_hdr hdr;
	struct husk_err err = {0};
	uint8_t *buf = NULL;
	int64_t n;

	assert_non_null(o);
	n = husk_frame_json(type, o, &buf, &err);
	json_object_put(o);
	if (n < 0)
		fail_msg("husk_frame_json: %s", err.msg);
	assert_non_null(buf);
	assert_true(n > (int64_t)HUSK_FRAME_HDR);
	assert_int_equal(buf[0], 'H');
	assert_int_equal(buf[1], 'K');
	assert_int_equal(husk_frame_parse(buf, (size_t)n, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.type, type);
	assert_int_equal(hdr.stream, HUSK_STREAM_CONTROL);
	assert_int_equal(hdr.length, (uint64_t)n - HUSK_FRAME_HDR);
	*payload = (const char *)buf + HUSK_FRAME_HDR;
	*len = hdr.length;
	return buf;
}

/* The exact JSON an encoder produces. */
static void assert_json(struct json_object *o, const char *want)
{
	assert_non_null(o);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), want);
	json_object_put(o);
}

/* Encodes r, frames it, decodes the frame into *out. */
static void request_roundtrip(const struct husk_request *r, struct husk_request *out)
{
	struct husk_err err = {0};
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_REQUEST, husk_request_encode(r), &p, &len);
	char *copy = dup_exact(p, len);

	if (husk_request_decode(copy, len, out, &err) < 0)
		fail_msg("decode of %.*s: %s", (int)len, p, err.msg);
	assert_int_equal(husk_request_peek_id(copy, len), r->id);
	assert_int_equal(out->id, r->id);
	assert_int_equal(out->op, r->op);
	assert_string_equal(out->op_name, husk_op_name(r->op));
	free(copy);
	free(frame);
}

static void expect_request_fail(const char *json, int code, const char *words)
{
	size_t len = strlen(json);
	char *copy = dup_exact(json, len);
	struct husk_request r;
	struct husk_err err = {0};

	memset(&r, 0x5a, sizeof r);
	if (husk_request_decode(copy, len, &r, &err) != -1)
		fail_msg("request %s decoded, want %s", json, husk_errno_name(code));
	if (err.code != code)
		fail_msg("request %s: got %s (%s), want %s", json, husk_errno_name(err.code),
			 err.msg, husk_errno_name(code));
	assert_starts_with(err.msg, "request");
	assert_contains(err.msg, words);
	/* Left freed and zeroed. */
	assert_null(r.op_name);
	assert_int_equal(r.id, 0);
	assert_int_equal(r.op, HUSK_OP_UNKNOWN);
	free(copy);
}

static const char *const start_ok = "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
				    "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},"
				    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}";

/* A process.start request with `process` replaced by the given JSON. */
static void expect_process_fail(const char *process, int code, const char *words)
{
	char *json;

	assert_true(asprintf(&json,
			     "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
			     "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},\"process\":%s}",
			     process) > 0);
	expect_request_fail(json, code, words);
	free(json);
}

static void expect_streams_fail(const char *streams, int code, const char *words)
{
	char *json;

	assert_true(asprintf(&json,
			     "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
			     "\"streams\":%s,\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}",
			     streams) > 0);
	expect_request_fail(json, code, words);
	free(json);
}

static void expect_rootfs_fail(const char *rootfs, int code, const char *words)
{
	char *json;

	assert_true(
	    asprintf(&json,
		     "{\"id\":9,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":%s}",
		     rootfs) > 0);
	expect_request_fail(json, code, words);
	free(json);
}

/* ---- round trips ---- */

static void test_hello_roundtrip(void **state)
{
	struct husk_hello h = {"0.1.0", 7, "6.1.0-husk"}, d;
	struct husk_err err = {0};
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_HELLO, husk_hello_encode(&h), &p, &len);

	assert_int_equal(husk_hello_decode(p, len, &d, &err), 0);
	assert_string_equal(d.agent_version, "0.1.0");
	assert_int_equal(d.protocol, 7);
	assert_string_equal(d.kernel_release, "6.1.0-husk");
	husk_hello_free(&d);
	assert_null(d.agent_version);
	free(frame);

	assert_json(husk_hello_encode(&h),
		    "{\"agent_version\":\"0.1.0\",\"protocol\":7,\"kernel\":\"6.1.0-husk\"}");
}

static void test_ping_shutdown_roundtrip(void **state)
{
	struct husk_request r = {.id = 1, .op = HUSK_OP_PING}, d;

	request_roundtrip(&r, &d);
	husk_request_free(&d);
	assert_json(husk_request_encode(&r), "{\"id\":1,\"op\":\"ping\"}");

	r = (struct husk_request){.id = UINT32_MAX, .op = HUSK_OP_SHUTDOWN};
	request_roundtrip(&r, &d);
	assert_int_equal(d.id, 4294967295u);
	husk_request_free(&d);
	assert_json(husk_request_encode(&r), "{\"id\":4294967295,\"op\":\"shutdown\"}");

	/* No encoding for an unknown op. */
	r.op = HUSK_OP_UNKNOWN;
	assert_null(husk_request_encode(&r));
	r.op = (enum husk_op)77;
	assert_null(husk_request_encode(&r));
}

static void test_op_names(void **state)
{
	assert_int_equal(HUSK_OP_PING, 1);
	assert_int_equal(HUSK_OP_CONTAINER_CREATE, 2);
	assert_int_equal(HUSK_OP_PROCESS_START, 3);
	assert_int_equal(HUSK_OP_PROCESS_SIGNAL, 4);
	assert_int_equal(HUSK_OP_SHUTDOWN, 5);
	assert_int_equal(HUSK_OP_PROCESS_RESIZE, 6);
	assert_int_equal(HUSK_OP_CONTAINER_PS, 7);
	assert_int_equal(HUSK_OP_NETWORK_CONFIGURE, 8);
	assert_int_equal(HUSK_OP_CONTAINER_UPDATE, 9);
	assert_int_equal(HUSK_OP_CONTAINER_DELETE, 10);
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_UPDATE), "container.update");
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_DELETE), "container.delete");
	assert_string_equal(husk_op_name(HUSK_OP_NETWORK_CONFIGURE), "network.configure");
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_RESIZE), "process.resize");
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_PS), "container.ps");
	assert_string_equal(husk_op_name(HUSK_OP_PING), "ping");
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_CREATE), "container.create");
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_START), "process.start");
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_SIGNAL), "process.signal");
	assert_string_equal(husk_op_name(HUSK_OP_SHUTDOWN), "shutdown");
	assert_null(husk_op_name(HUSK_OP_UNKNOWN));
	assert_null(husk_op_name((enum husk_op)12));
	assert_string_equal(husk_op_name(HUSK_OP_VM_RESTORE), "vm.restore");
}

static void test_create_roundtrip(void **state)
{
	struct husk_request r = {.id = 2, .op = HUSK_OP_CONTAINER_CREATE}, d;

	r.u.create.id = "web";
	r.u.create.rootfs.tag = "rootfs";
	r.u.create.rootfs.fstype = "virtiofs";
	r.u.create.rootfs.path = "bundles/web/rootfs";
	r.u.create.rootfs.readonly = true;
	r.u.create.hostname = "web-1";
	request_roundtrip(&r, &d);
	assert_string_equal(d.u.create.id, "web");
	assert_string_equal(d.u.create.rootfs.tag, "rootfs");
	assert_string_equal(d.u.create.rootfs.fstype, "virtiofs");
	assert_string_equal(d.u.create.rootfs.path, "bundles/web/rootfs");
	assert_true(d.u.create.rootfs.readonly);
	assert_string_equal(d.u.create.hostname, "web-1");
	husk_request_free(&d);

	/* Optional parts absent: path goes out as "", hostname not at all. */
	r.u.create.rootfs.fstype = "9p";
	r.u.create.rootfs.path = NULL;
	r.u.create.rootfs.readonly = false;
	r.u.create.hostname = NULL;
	request_roundtrip(&r, &d);
	assert_string_equal(d.u.create.rootfs.fstype, "9p");
	assert_string_equal(d.u.create.rootfs.path, "");
	assert_false(d.u.create.rootfs.readonly);
	assert_null(d.u.create.hostname);
	husk_request_free(&d);
	assert_json(husk_request_encode(&r),
		    "{\"id\":2,\"op\":\"container.create\",\"container\":\"web\",\"rootfs\":"
		    "{\"tag\":\"rootfs\",\"fstype\":\"9p\",\"path\":\"\",\"readonly\":false}}");
}

static void test_start_roundtrip(void **state)
{
	char *args[] = {"/bin/sh", "-c", "echo \"hi\" \\ ünïcode", NULL};
	char *env[] = {"PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY=", NULL};
	uint32_t gids[] = {10, 0, UINT32_MAX};
	struct husk_request r = {.id = 3, .op = HUSK_OP_PROCESS_START}, d;

	r.u.start.container = "web";
	r.u.start.process = (struct husk_process){
	    .args = args,
	    .nargs = 3,
	    .env = env,
	    .nenv = 3,
	    .cwd = "/srv/app",
	    .user = {.uid = 1000, .gid = 100, .gids = gids, .ngids = 3},
	    .terminal = true,
	};
	r.u.start.streams = (struct husk_streams){5, 6, 0xffffffffu};
	request_roundtrip(&r, &d);
	assert_string_equal(d.u.start.container, "web");
	assert_int_equal(d.u.start.process.nargs, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(d.u.start.process.args[i], args[i]);
	assert_null(d.u.start.process.args[3]);
	assert_int_equal(d.u.start.process.nenv, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(d.u.start.process.env[i], env[i]);
	assert_null(d.u.start.process.env[3]);
	assert_string_equal(d.u.start.process.cwd, "/srv/app");
	assert_int_equal(d.u.start.process.user.uid, 1000);
	assert_int_equal(d.u.start.process.user.gid, 100);
	assert_int_equal(d.u.start.process.user.ngids, 3);
	assert_memory_equal(d.u.start.process.user.gids, gids, sizeof gids);
	assert_true(d.u.start.process.terminal);
	assert_int_equal(d.u.start.streams.in, 5);
	assert_int_equal(d.u.start.streams.out, 6);
	assert_int_equal(d.u.start.streams.err, 0xffffffffu);
	husk_request_free(&d);
	assert_null(d.u.start.container);

	/* No env, no user, no extra groups. */
	char *one[] = {"/bin/sh", NULL};
	r.u.start.process = (struct husk_process){.args = one, .nargs = 1, .cwd = "/"};
	request_roundtrip(&r, &d);
	assert_int_equal(d.u.start.process.nargs, 1);
	assert_string_equal(d.u.start.process.args[0], "/bin/sh");
	assert_null(d.u.start.process.args[1]);
	assert_int_equal(d.u.start.process.nenv, 0);
	assert_int_equal(d.u.start.process.user.uid, 0);
	assert_int_equal(d.u.start.process.user.ngids, 0);
	assert_false(d.u.start.process.terminal);
	husk_request_free(&d);
}

static void test_start_minimal_decode(void **state)
{
	/* The smallest valid process.start: env, user, terminal optional. */
	struct husk_request r;
	struct husk_err err = {0};

	assert_int_equal(husk_request_decode(start_ok, strlen(start_ok), &r, &err), 0);
	assert_int_equal(r.op, HUSK_OP_PROCESS_START);
	assert_int_equal(r.u.start.process.nargs, 1);
	assert_non_null(r.u.start.process.args);
	assert_string_equal(r.u.start.process.args[0], "sh");
	assert_non_null(r.u.start.process.env); /* empty, NULL-terminated */
	assert_null(r.u.start.process.env[0]);
	assert_int_equal(r.u.start.process.nenv, 0);
	assert_int_equal(r.u.start.process.user.uid, 0);
	assert_null(r.u.start.process.user.gids);
	husk_request_free(&r);
}

static void test_signal_roundtrip(void **state)
{
	struct husk_request r = {.id = 4, .op = HUSK_OP_PROCESS_SIGNAL}, d;

	for (int sig = 1; sig <= 64; sig++) {
		r.u.signal.process = 0x01020304u;
		r.u.signal.signal = sig;
		request_roundtrip(&r, &d);
		assert_int_equal(d.u.signal.process, 0x01020304u);
		assert_int_equal(d.u.signal.signal, sig);
		husk_request_free(&d);
	}
	r.u.signal.process = 1;
	r.u.signal.signal = 15;
	assert_json(husk_request_encode(&r),
		    "{\"id\":4,\"op\":\"process.signal\",\"process\":1,\"signal\":15}");
}

static void test_reply_roundtrip(void **state)
{
	struct husk_reply r = {.id = 7, .pid = -1}, d;
	struct husk_err err = {0};
	const char *p;
	size_t len;
	uint8_t *frame;

	/* Plain success. */
	frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);
	assert_int_equal(husk_reply_decode(p, len, &d, &err), 0);
	assert_int_equal(d.id, 7);
	assert_int_equal(d.err_code, 0);
	assert_null(d.err_name);
	assert_null(d.message);
	assert_int_equal(d.pid, -1);
	husk_reply_free(&d);
	free(frame);
	assert_json(husk_reply_encode(&r), "{\"id\":7}");

	/* process.start success carries the pid. */
	r.pid = 4242;
	frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);
	assert_int_equal(husk_reply_decode(p, len, &d, &err), 0);
	assert_int_equal(d.pid, 4242);
	assert_int_equal(d.err_code, 0);
	husk_reply_free(&d);
	assert_int_equal(d.pid, -1);
	free(frame);
	assert_json(husk_reply_encode(&r), "{\"id\":7,\"pid\":4242}");

	/* Failure: errno, its name and the message; no pid. */
	r = (struct husk_reply){.id = 8,
				.err_code = ENOENT,
				.pid = 4242,
				.message = "process.args: /bin/nope: No such file"};
	frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);
	assert_int_equal(husk_reply_decode(p, len, &d, &err), 0);
	assert_int_equal(d.id, 8);
	assert_int_equal(d.err_code, ENOENT);
	assert_string_equal(d.err_name, "ENOENT");
	assert_string_equal(d.message, "process.args: /bin/nope: No such file");
	assert_int_equal(d.pid, -1);
	husk_reply_free(&d);
	free(frame);
	r.message = "no";
	r.err_code = EOPNOTSUPP;
	assert_json(
	    husk_reply_encode(&r),
	    "{\"id\":8,\"error\":{\"errno\":95,\"code\":\"EOPNOTSUPP\",\"message\":\"no\"}}");

	/* A process.start failure says which exit status it stands for. */
	r = (struct husk_reply){
	    .id = 10, .err_code = ENOENT, .message = "m", .status = 127, .pid = -1};
	frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);
	assert_int_equal(husk_reply_decode(p, len, &d, &err), 0);
	assert_int_equal(d.err_code, ENOENT);
	assert_int_equal(d.status, 127);
	husk_reply_free(&d);
	assert_int_equal(d.status, 0);
	free(frame);
	assert_json(husk_reply_encode(&r), "{\"id\":10,\"error\":{\"errno\":2,\"code\":\"ENOENT\","
					   "\"message\":\"m\",\"status\":127}}");
	/* Without an error there is no status to send. */
	r.err_code = 0;
	assert_json(husk_reply_encode(&r), "{\"id\":10}");

	/* An errno without a name still round-trips its number. */
	r = (struct husk_reply){.id = 9, .err_code = 4000, .message = NULL, .pid = -1};
	frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);
	assert_int_equal(husk_reply_decode(p, len, &d, &err), 0);
	assert_int_equal(d.err_code, 4000);
	assert_string_equal(d.err_name, "EUNKNOWN");
	assert_string_equal(d.message, "");
	assert_int_equal(d.status, 0);
	husk_reply_free(&d);
	free(frame);
}

static void test_reply_pid_zero_roundtrip(void **state)
{
	/* A zero-initialised reply (pid 0, not -1) encodes without a pid and
	 * decodes again. */

	struct husk_reply r = {.id = 1}, d;
	struct husk_err err = {0};
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(&r), &p, &len);

	if (husk_reply_decode(p, len, &d, &err) < 0)
		fail_msg("%.*s: %s", (int)len, p, err.msg);
	husk_reply_free(&d);
	free(frame);
}

static void test_exit_roundtrip(void **state)
{
	static const struct husk_exit_event evs[] = {
	    {1, 0, 0, 0, false},   {7, 1, 0, 5, false},		  {0xffffffffu, 255, 0, 0, true},
	    {3, 137, 9, 0, false}, {3, 192, 64, INT64_MAX, true},
	};
	struct husk_err err = {0};

	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
		struct husk_exit_event d;
		const char *p;
		size_t len;
		uint8_t *frame = frame_of(HUSK_FRAME_EVENT, husk_exit_encode(&evs[i]), &p, &len);

		assert_int_equal(husk_exit_decode(p, len, &d, &err), 0);
		assert_int_equal(d.process, evs[i].process);
		assert_int_equal(d.status, evs[i].status);
		assert_int_equal(d.signal, evs[i].signal);
		assert_int_equal(d.runtime_ns, evs[i].runtime_ns);
		assert_int_equal(d.output_open, evs[i].output_open);
		free(frame);
	}
	assert_json(husk_exit_encode(&evs[1]), "{\"event\":\"process.exit\",\"process\":7,"
					       "\"status\":1,\"signal\":0,\"runtime_ns\":5}");
	assert_json(husk_exit_encode(&evs[3]),
		    "{\"event\":\"process.exit\",\"process\":3,\"status\":137,\"signal\":9}");
}

static void test_error_frame_encode(void **state)
{
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(
	    HUSK_FRAME_ERROR, husk_error_frame_encode(EPROTO, "unknown frame type 9"), &p, &len);
	static const char want[] =
	    "{\"error\":{\"errno\":71,\"code\":\"EPROTO\",\"message\":\"unknown frame type 9\"}}";

	assert_int_equal(frame[3], HUSK_FRAME_ERROR);
	assert_int_equal(len, sizeof want - 1);
	assert_memory_equal(p, want, len);
	free(frame);
	assert_json(husk_error_frame_encode(EMSGSIZE, NULL),
		    "{\"error\":{\"errno\":90,\"code\":\"EMSGSIZE\",\"message\":\"\"}}");
}

/* ---- request decode failures ---- */

static void test_request_bad_json(void **state)
{
	expect_request_fail("{nope", EBADMSG, "not valid JSON");
	expect_request_fail("{\"id\":1,\"op\":\"pi", EBADMSG, "truncated");
	expect_request_fail("{\"id\":1,\"op\":\"ping\"", EBADMSG, "truncated");
	expect_request_fail("", EBADMSG, "truncated");
	expect_request_fail("   ", EBADMSG, "not valid JSON");
	expect_request_fail("{\"id\":1,\"op\":\"ping\"} x", EBADMSG, "trailing");
	expect_request_fail("{\"id\":1,\"op\":\"ping\"}{}", EBADMSG, "trailing");
	expect_request_fail("[1,2]", EBADMSG, "not a JSON object");
	expect_request_fail("\"ping\"", EBADMSG, "not a JSON object");
	expect_request_fail("42 ", EBADMSG, "not a JSON object");
	expect_request_fail("null", EBADMSG, "request");
	expect_request_fail("{\"id\":1,,}", EBADMSG, "not valid JSON");

	/* Surrounding whitespace is fine. */
	static const char ok[] = " \r\n{\"id\":1,\"op\":\"ping\"}\t\n ";
	struct husk_request r;
	struct husk_err err = {0};
	char *copy = dup_exact(ok, sizeof ok - 1);
	assert_int_equal(husk_request_decode(copy, sizeof ok - 1, &r, &err), 0);
	assert_int_equal(r.op, HUSK_OP_PING);
	husk_request_free(&r);
	free(copy);
}

static void test_request_nesting_limit(void **state)
{
	/* Deep nesting is refused by the parser, not a stack overflow. */
	size_t depth = 10000, len = 0;
	char *json = malloc(2 * depth + 64);

	assert_non_null(json);
	len += sprintf(json, "{\"id\":1,\"op\":\"ping\",\"x\":");
	for (size_t i = 0; i < depth; i++)
		json[len++] = '[';
	for (size_t i = 0; i < depth; i++)
		json[len++] = ']';
	json[len++] = '}';
	json[len] = '\0';
	expect_request_fail(json, EBADMSG, "not valid JSON");
	free(json);
}

static void test_request_id(void **state)
{
	expect_request_fail("{\"op\":\"ping\"}", EINVAL, "\"id\" is missing");
	expect_request_fail("{\"id\":0,\"op\":\"ping\"}", EINVAL, "id must not be 0");
	expect_request_fail("{\"id\":-1,\"op\":\"ping\"}", ERANGE, "\"id\" is out of range");
	expect_request_fail("{\"id\":4294967296,\"op\":\"ping\"}", ERANGE, "\"id\"");
	expect_request_fail("{\"id\":99999999999999999999,\"op\":\"ping\"}", ERANGE, "\"id\"");
	expect_request_fail("{\"id\":\"1\",\"op\":\"ping\"}", EINVAL, "\"id\" must be an integer");
	expect_request_fail("{\"id\":1.5,\"op\":\"ping\"}", EINVAL, "\"id\" must be an integer");
	expect_request_fail("{\"id\":true,\"op\":\"ping\"}", EINVAL, "\"id\" must be an integer");
	expect_request_fail("{\"id\":null,\"op\":\"ping\"}", EINVAL, "\"id\"");
}

static void test_request_op(void **state)
{
	struct husk_request r;
	struct husk_err err = {0};
	static const char json[] = "{\"id\":3,\"op\":\"container.destroy\"}";

	assert_int_equal(husk_request_decode(json, sizeof json - 1, &r, &err), -1);
	assert_int_equal(err.code, EOPNOTSUPP);
	assert_string_equal(husk_errno_name(err.code), "EOPNOTSUPP");
	assert_contains(err.msg, "container.destroy");
	assert_int_equal(husk_request_peek_id(json, sizeof json - 1), 3);

	expect_request_fail("{\"id\":1,\"op\":\"\"}", EOPNOTSUPP, "unknown request op");
	expect_request_fail("{\"id\":1,\"op\":\"PING\"}", EOPNOTSUPP, "\"PING\"");
	expect_request_fail("{\"id\":1}", EINVAL, "\"op\" is missing");
	expect_request_fail("{\"id\":1,\"op\":null}", EINVAL, "\"op\" is missing");
	expect_request_fail("{\"id\":1,\"op\":1}", EINVAL, "\"op\" must be a string");
	expect_request_fail("{\"id\":1,\"op\":[\"ping\"]}", EINVAL, "\"op\" must be a string");
}

static void test_request_wrong_types(void **state)
{
	expect_request_fail("{\"id\":1,\"op\":\"process.start\",\"container\":5,"
			    "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},"
			    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}",
			    EINVAL, "\"container\" must be a string");
	expect_request_fail("{\"id\":1,\"op\":\"process.start\",\"container\":\"c\","
			    "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},\"process\":[]}",
			    EINVAL, "\"process\" must be an object");
	expect_request_fail("{\"id\":1,\"op\":\"process.start\",\"container\":\"c\","
			    "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3}}",
			    EINVAL, "\"process\" is missing");
	expect_streams_fail("[1,2,3]", EINVAL, "\"streams\" must be an object");
	expect_streams_fail("{\"stdin\":1,\"stdout\":2}", EINVAL,
			    "\"streams\": \"stderr\" is missing");
	expect_streams_fail("{\"stdin\":\"1\",\"stdout\":2,\"stderr\":3}", EINVAL,
			    "\"streams\": \"stdin\" must be an integer");
	expect_streams_fail("{\"stdin\":1,\"stdout\":-2,\"stderr\":3}", ERANGE,
			    "\"streams\": \"stdout\" is out of range");
	expect_process_fail("{\"args\":\"sh\",\"cwd\":\"/\"}", EINVAL,
			    "\"process\": \"args\" must be an array of strings");
	expect_process_fail("{\"args\":[\"sh\",1],\"cwd\":\"/\"}", EINVAL,
			    "\"process\": \"args\"[1] must be a string");
	expect_process_fail("{\"args\":[\"sh\",null],\"cwd\":\"/\"}", EINVAL, "\"args\"[1]");
	expect_process_fail("{\"args\":[\"sh\"],\"env\":{},\"cwd\":\"/\"}", EINVAL,
			    "\"env\" must be an array of strings");
	expect_process_fail("{\"args\":[\"sh\"],\"env\":[\"A=1\",false],\"cwd\":\"/\"}", EINVAL,
			    "\"env\"[1] must be a string");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":7}", EINVAL, "\"cwd\" must be a string");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"terminal\":1}", EINVAL,
			    "\"terminal\" must be true or false");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":0}", EINVAL,
			    "\"user\" must be an object");
	expect_process_fail(
	    "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":\"root\",\"gid\":0}}", EINVAL,
	    "\"process\": \"user\": \"uid\" must be an integer");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0}}", EINVAL,
			    "\"user\": \"gid\" is missing");
	expect_process_fail(
	    "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":4294967296}}", ERANGE,
	    "\"user\": \"gid\" is out of range");
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":\"1\",\"signal\":9}",
			    EINVAL, "\"process\" must be an integer");
	expect_request_fail(
	    "{\"id\":1,\"op\":\"process.signal\",\"process\":1,\"signal\":\"KILL\"}", EINVAL,
	    "\"signal\" must be an integer");
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":1}", EINVAL,
			    "\"signal\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"rootfs\":"
			    "{\"tag\":\"t\",\"fstype\":\"9p\"}}",
			    EINVAL, "\"container\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"c\"}", EINVAL,
			    "\"rootfs\" is missing");
	expect_request_fail(
	    "{\"id\":1,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":\"/\"}", EINVAL,
	    "\"rootfs\" must be an object");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":"
			    "{\"tag\":\"t\",\"fstype\":\"9p\"},\"hostname\":1}",
			    EINVAL, "\"hostname\" must be a string");
	expect_rootfs_fail("{\"fstype\":\"9p\"}", EINVAL, "\"rootfs\": \"tag\" is missing");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":9}", EINVAL,
			   "\"rootfs\": \"fstype\" must be a string");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\",\"readonly\":\"yes\"}", EINVAL,
			   "\"rootfs\": \"readonly\" must be true or false");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\",\"path\":[]}", EINVAL,
			   "\"rootfs\": \"path\" must be a string");
}

static void test_request_rootfs_rules(void **state)
{
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"ext4\"}", EINVAL,
			   "fstype \"ext4\" is not 9p or virtiofs");
	expect_rootfs_fail("{\"tag\":\"\",\"fstype\":\"9p\"}", EINVAL, "tag must be 1 to 31");
	expect_rootfs_fail("{\"tag\":\"abcdefghijabcdefghijabcdefghij12\",\"fstype\":\"9p\"}",
			   EINVAL, "tag must be 1 to 31");
	/* a path inside the share that cannot leave it: relative, no empty,
	 * "." or ".." component */
	static const char *const bad[] = {"a/../../etc", "..",	"/etc", "a//b",
					  "a/",		 "./a", "a/.",	"/"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char rootfs[128];
		snprintf(rootfs, sizeof rootfs, "{\"tag\":\"t\",\"fstype\":\"9p\",\"path\":\"%s\"}",
			 bad[i]);
		expect_rootfs_fail(
		    rootfs, EINVAL,
		    "must be a relative path with no empty, \".\" or \"..\" component");
	}
	/* ".." only as a whole component: a container id may hold dots */
	static const char dots[] =
	    "{\"id\":1,\"op\":\"container.create\",\"container\":\"a..b\",\"rootfs\":"
	    "{\"tag\":\"share\",\"fstype\":\"9p\",\"path\":\"a..b/rootfs\"}}";
	struct husk_request d;
	struct husk_err derr = {0};
	assert_int_equal(husk_request_decode(dots, sizeof dots - 1, &d, &derr), 0);
	assert_string_equal(d.u.create.rootfs.path, "a..b/rootfs");
	husk_request_free(&d);

	/* 31 characters is the longest tag. */
	static const char ok[] =
	    "{\"id\":1,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":"
	    "{\"tag\":\"abcdefghijabcdefghijabcdefghij1\",\"fstype\":\"virtiofs\"}}";
	struct husk_request r;
	struct husk_err err = {0};
	assert_int_equal(husk_request_decode(ok, sizeof ok - 1, &r, &err), 0);
	assert_int_equal(strlen(r.u.create.rootfs.tag), 31);
	assert_null(r.u.create.rootfs.path);
	husk_request_free(&r);
}

static void test_request_empty_args_relative_cwd(void **state)
{
	expect_process_fail("{\"args\":[],\"cwd\":\"/\"}", EINVAL,
			    "\"process\": \"args\" must name the program to run");
	expect_process_fail("{\"args\":[\"\"],\"cwd\":\"/\"}", EINVAL,
			    "\"args\" must name the program");
	expect_process_fail("{\"cwd\":\"/\"}", EINVAL, "\"process\": \"args\" is missing");
	expect_process_fail("{\"args\":null,\"cwd\":\"/\"}", EINVAL, "\"args\" is missing");
	expect_process_fail("{\"args\":[\"sh\"]}", EINVAL, "\"process\": \"cwd\" is missing");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"srv\"}", EINVAL,
			    "\"cwd\" must be an absolute path, not \"srv\"");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"\"}", EINVAL,
			    "\"cwd\" must be an absolute path");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"./x\"}", EINVAL, "absolute path");
}

static void test_request_streams_distinct(void **state)
{
	static const char *const bad[] = {
	    "{\"stdin\":1,\"stdout\":1,\"stderr\":3}", "{\"stdin\":1,\"stdout\":2,\"stderr\":2}",
	    "{\"stdin\":3,\"stdout\":2,\"stderr\":3}", "{\"stdin\":0,\"stdout\":2,\"stderr\":3}",
	    "{\"stdin\":1,\"stdout\":0,\"stderr\":3}", "{\"stdin\":1,\"stdout\":2,\"stderr\":0}",
	    "{\"stdin\":7,\"stdout\":7,\"stderr\":7}",
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_streams_fail(bad[i], EINVAL,
				    "\"streams\" must be three distinct non-zero ids");
	expect_request_fail("{\"id\":1,\"op\":\"process.start\",\"container\":\"c\","
			    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}",
			    EINVAL, "\"streams\" is missing");
}

static void test_request_signal_range(void **state)
{
	static const char *const bad[] = {"0", "65", "-1", "9999999999", "-9223372036854775808"};
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"id\":1,\"op\":\"process.signal\",\"process\":1,"
				     "\"signal\":%s}",
				     bad[i]) > 0);
		expect_request_fail(json, ERANGE, "\"signal\" is out of range");
		free(json);
	}
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":-1,\"signal\":9}",
			    ERANGE, "\"process\" is out of range");
}

static void test_request_embedded_nul(void **state)
{
	expect_request_fail("{\"id\":1,\"op\":\"ping\\u0000x\"}", EINVAL,
			    "\"op\" contains a NUL byte");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"a\\u0000b\","
			    "\"rootfs\":{\"tag\":\"t\",\"fstype\":\"9p\"}}",
			    EINVAL, "\"container\" contains a NUL byte");
	expect_rootfs_fail("{\"tag\":\"t\\u0000\",\"fstype\":\"9p\"}", EINVAL,
			   "\"tag\" contains a NUL");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\\u0000x\"}", EINVAL,
			   "\"fstype\" contains");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\",\"path\":\"a\\u0000/../..\"}", EINVAL,
			   "\"path\" contains a NUL byte");
	expect_process_fail("{\"args\":[\"/bin/sh\\u0000-x\"],\"cwd\":\"/\"}", EINVAL,
			    "\"args\"[0] must be a string");
	expect_process_fail("{\"args\":[\"sh\"],\"env\":[\"A=\\u0000\"],\"cwd\":\"/\"}", EINVAL,
			    "\"env\"[0] must be a string");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\\u0000etc\"}", EINVAL,
			    "\"cwd\" contains a NUL byte");
}

static void test_request_additional_gids(void **state)
{
	static const char *const bad[] = {"\"10\"",  "{}",    "7",	  "[-1]",  "[4294967296]",
					  "[\"1\"]", "[1.5]", "[1,null]", "[true]"};
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
				     "\"gid\":1,\"additionalGids\":%s}}",
				     bad[i]) > 0);
		expect_process_fail(json, EINVAL, "\"additionalGids\"");
		free(json);
	}

	/* At most 256 of them. */
	char *list = malloc(257 * 4 + 2), *q = list;
	assert_non_null(list);
	*q++ = '[';
	for (int i = 0; i < 257; i++)
		q += sprintf(q, "%s%d", i ? "," : "", i);
	strcpy(q, "]");
	assert_true(asprintf(&json,
			     "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
			     "\"gid\":1,\"additionalGids\":%s}}",
			     list) > 0);
	expect_process_fail(json, EINVAL, "\"additionalGids\" must be an array of at most 256");
	free(json);

	/* 256 and null are fine. */
	strcpy(strrchr(list, ','), "]");
	const char *const good[] = {list, "null", "[]"};
	for (size_t i = 0; i < 3; i++) {
		struct husk_request r;
		struct husk_err err = {0};
		assert_true(
		    asprintf(&json,
			     "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
			     "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},"
			     "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
			     "\"gid\":2,\"additionalGids\":%s}}}",
			     good[i]) > 0);
		if (husk_request_decode(json, strlen(json), &r, &err) < 0)
			fail_msg("%s: %s", good[i], err.msg);
		assert_int_equal(r.u.start.process.user.ngids, i == 0 ? 256 : 0);
		if (i == 0)
			assert_int_equal(r.u.start.process.user.gids[255], 255);
		assert_int_equal(r.u.start.process.user.gid, 2);
		husk_request_free(&r);
		free(json);
	}
	free(list);
}

static void test_request_unknown_fields_ignored(void **state)
{
	static const char json[] =
	    "{\"id\":12,\"op\":\"ping\",\"extra\":{\"a\":[1,2,{\"b\":null}]},\"x\":\"y\"}";
	struct husk_request r;
	struct husk_err err = {0};

	assert_int_equal(husk_request_decode(json, sizeof json - 1, &r, &err), 0);
	assert_int_equal(r.id, 12);
	assert_int_equal(r.op, HUSK_OP_PING);
	husk_request_free(&r);
}

/* ---- other decoders ---- */

static void expect_hello_fail(const char *json, int code, const char *words)
{
	struct husk_hello h;
	struct husk_err err = {0};
	char *copy = dup_exact(json, strlen(json));

	assert_int_equal(husk_hello_decode(copy, strlen(json), &h, &err), -1);
	assert_int_equal(err.code, code);
	assert_starts_with(err.msg, "HELLO");
	assert_contains(err.msg, words);
	assert_null(h.agent_version);
	assert_null(h.kernel_release);
	free(copy);
}

static void test_hello_decode_errors(void **state)
{
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":1}", EINVAL,
			  "\"kernel\" is missing");
	expect_hello_fail("{\"protocol\":1,\"kernel\":\"k\"}", EINVAL,
			  "\"agent_version\" is missing");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":0,\"kernel\":\"k\"}", ERANGE,
			  "\"protocol\" is out of range");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":\"1\",\"kernel\":\"k\"}", EINVAL,
			  "\"protocol\" must be an integer");
	expect_hello_fail("{\"agent_version\":1,\"protocol\":1,\"kernel\":\"k\"}", EINVAL,
			  "\"agent_version\" must be a string");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":1,\"kernel\":\"k\\u0000\"}",
			  EINVAL, "\"kernel\" contains a NUL byte");
	expect_hello_fail("[]", EBADMSG, "not a JSON object");
	expect_hello_fail("{", EBADMSG, "truncated");
}

static void expect_reply_fail(const char *json, int code, const char *words)
{
	struct husk_reply r;
	struct husk_err err = {0};
	char *copy = dup_exact(json, strlen(json));

	assert_int_equal(husk_reply_decode(copy, strlen(json), &r, &err), -1);
	assert_int_equal(err.code, code);
	assert_starts_with(err.msg, "REPLY");
	assert_contains(err.msg, words);
	assert_null(r.message);
	assert_null(r.err_name);
	assert_int_equal(r.pid, -1);
	assert_null(r.pids);
	assert_int_equal(r.npids, 0);
	assert_false(r.has_pids);
	assert_null(r.procs);
	assert_int_equal(r.nprocs, 0);
	assert_false(r.has_procs);
	free(copy);
}

static void test_reply_decode_errors(void **state)
{
	expect_reply_fail("{}", EINVAL, "\"id\" is missing");
	expect_reply_fail("{\"id\":1,\"error\":\"ENOENT\"}", EINVAL, "\"error\" must be an object");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":0,\"message\":\"m\"}}", ERANGE,
			  "\"error\": \"errno\" is out of range");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":4096,\"message\":\"m\"}}", ERANGE,
			  "errno");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":2}}", EINVAL,
			  "\"error\": \"message\" is missing");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":2,\"code\":2,\"message\":\"m\"}}", EINVAL,
			  "\"code\" must be a string");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":2,\"message\":\"m\",\"status\":0}}",
			  ERANGE, "\"error\": \"status\" is out of range");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":2,\"message\":\"m\",\"status\":256}}",
			  ERANGE, "\"status\" is out of range");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":2,\"message\":\"m\",\"status\":\"127\"}}",
			  EINVAL, "\"status\" must be an integer");
	expect_reply_fail("{\"id\":1,\"pid\":0}", EINVAL, "\"pid\" is not a valid pid");
	expect_reply_fail("{\"id\":1,\"pid\":\"1\"}", EINVAL, "\"pid\"");
	expect_reply_fail("{\"id\":1,\"pid\":2147483648}", EINVAL, "\"pid\"");
	expect_reply_fail("{\"id\":1} junk", EBADMSG, "trailing");
}

static void expect_exit_fail(const char *json, int code, const char *words)
{
	struct husk_exit_event e;
	struct husk_err err = {0};
	char *copy = dup_exact(json, strlen(json));

	assert_int_equal(husk_exit_decode(copy, strlen(json), &e, &err), -1);
	assert_int_equal(err.code, code);
	assert_starts_with(err.msg, "EVENT");
	assert_contains(err.msg, words);
	free(copy);
}

static void test_exit_decode_errors(void **state)
{
	expect_exit_fail("{\"event\":\"process.oom\",\"process\":1}", EOPNOTSUPP,
			 "unknown event \"process.oom\"");
	expect_exit_fail("{\"process\":1,\"status\":0,\"signal\":0}", EINVAL,
			 "\"event\" is missing");
	expect_exit_fail("{\"event\":\"process.exit\",\"status\":0,\"signal\":0}", EINVAL,
			 "\"process\" is missing");
	expect_exit_fail("{\"event\":\"process.exit\",\"process\":1,\"status\":256,\"signal\":0}",
			 ERANGE, "\"status\" is out of range");
	expect_exit_fail("{\"event\":\"process.exit\",\"process\":1,\"status\":-1,\"signal\":0}",
			 ERANGE, "\"status\"");
	expect_exit_fail("{\"event\":\"process.exit\",\"process\":1,\"status\":0,\"signal\":65}",
			 ERANGE, "\"signal\" is out of range");
	expect_exit_fail("{\"event\":\"process.exit\",\"process\":1,\"status\":0}", EINVAL,
			 "\"signal\" is missing");
	expect_exit_fail("{\"event\":\"process.exit\",\"process\":1,\"status\":0,\"signal\":0",
			 EBADMSG, "truncated");
}

/* ---- peek id ---- */

static uint32_t peek(const char *json)
{
	char *copy = dup_exact(json, strlen(json));
	uint32_t id = husk_request_peek_id(copy, strlen(json));

	free(copy);
	return id;
}

static void test_peek_id(void **state)
{
	assert_int_equal(peek("{\"id\":17,\"op\":\"ping\"}"), 17);
	assert_int_equal(peek("{\"id\":4294967295}"), 4294967295u);
	/* Malformed as a request but the id is readable: answer it. */
	assert_int_equal(peek("{\"id\":5,\"op\":\"nope\"}"), 5);
	assert_int_equal(peek("{\"op\":\"process.start\",\"id\":6,\"process\":[]}"), 6);
	assert_int_equal(peek("{\"id\":7,\"op\":\"process.signal\",\"signal\":99}"), 7);
	assert_int_equal(peek("{\"id\":8,\"op\":\"ping\\u0000\"}"), 8);
	/* No usable id. */
	assert_int_equal(peek("{\"op\":\"ping\"}"), 0);
	assert_int_equal(peek("{\"id\":0,\"op\":\"ping\"}"), 0);
	assert_int_equal(peek("{\"id\":-3}"), 0);
	assert_int_equal(peek("{\"id\":4294967296}"), 0);
	assert_int_equal(peek("{\"id\":\"5\"}"), 0);
	assert_int_equal(peek("{\"id\":5.0}"), 0);
	assert_int_equal(peek("{\"id\":5"), 0);
	assert_int_equal(peek("{\"id\":5} x"), 0);
	assert_int_equal(peek("[{\"id\":5}]"), 0);
	assert_int_equal(peek(""), 0);
	assert_int_equal(peek("garbage"), 0);
}

/* ---- framing of JSON ---- */

static void test_frame_json_limits(void **state)
{
	/* {"s":"xxx"} is 8 bytes of syntax around the string. */
	size_t n = HUSK_FRAME_MAX_PAYLOAD - 8;
	char *big = malloc(n + 2);
	struct husk_err err = {0};
	uint8_t *out = (uint8_t *)&err;
	struct json_object *o;
	int64_t len;

	assert_non_null(big);
	memset(big, 'x', n + 1);
	big[n] = '\0';

	/* Exactly at the limit. */
	o = json_object_new_object();
	json_object_object_add(o, "s", json_object_new_string(big));
	len = husk_frame_json(HUSK_FRAME_REPLY, o, &out, &err);
	assert_int_equal(len, HUSK_FRAME_HDR + HUSK_FRAME_MAX_PAYLOAD);
	assert_non_null(out);
	assert_int_equal(husk_get_be32(out + 8), HUSK_FRAME_MAX_PAYLOAD);
	assert_memory_equal(out + HUSK_FRAME_HDR, "{\"s\":\"xxx", 9);
	assert_int_equal(out[len - 1], '}');
	free(out);
	json_object_put(o);

	/* One byte over. */
	big[n] = 'x';
	big[n + 1] = '\0';
	o = json_object_new_object();
	json_object_object_add(o, "s", json_object_new_string(big));
	out = (uint8_t *)&err;
	memset(&err, 0, sizeof err);
	len = husk_frame_json(HUSK_FRAME_REPLY, o, &out, &err);
	assert_int_equal(len, -1);
	assert_null(out);
	assert_int_equal(err.code, EMSGSIZE);
	assert_contains(err.msg, "REPLY");
	assert_contains(err.msg, "exceeds");
	json_object_put(o);
	free(big);

	/* A failed encoder (NULL) is reported, not framed. */
	out = (uint8_t *)&err;
	assert_int_equal(husk_frame_json(HUSK_FRAME_REQUEST, NULL, &out, &err), -1);
	assert_null(out);
	assert_int_equal(err.code, ENOMEM);
}

static void test_process_json_roundtrip(void **state)
{
	char *args[] = {"a", NULL};
	struct husk_process p = {.args = args,
				 .nargs = 1,
				 .cwd = "/x",
				 .user = {.uid = 5, .gid = 6}},
			    d;
	struct husk_err err = {0};
	struct json_object *o = husk_process_to_json(&p);

	assert_non_null(o);
	assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
			    "{\"args\":[\"a\"],\"env\":[],\"cwd\":\"\\/x\",\"user\":{\"uid\":5,"
			    "\"gid\":6,\"additionalGids\":[]},\"terminal\":false}");
	assert_int_equal(husk_process_from_json(o, &d, &err), 0);
	assert_string_equal(d.args[0], "a");
	assert_string_equal(d.cwd, "/x");
	assert_int_equal(d.user.uid, 5);
	assert_int_equal(d.user.gid, 6);
	husk_process_free(&d);
	assert_null(d.args);
	json_object_put(o);
}

/* ---- process.resize, container.ps, signal "all", consoleSize, reply
 * "pids", exit "runtime_ns" ---- */

/* Encodes r, frames it, decodes the frame into *out. */
static void reply_roundtrip(const struct husk_reply *r, struct husk_reply *out)
{
	struct husk_err err = {0};
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_REPLY, husk_reply_encode(r), &p, &len);
	char *copy = dup_exact(p, len);

	if (husk_reply_decode(copy, len, out, &err) < 0)
		fail_msg("decode of %.*s: %s", (int)len, p, err.msg);
	assert_int_equal(out->id, r->id);
	free(copy);
	free(frame);
}

/* The plain JSON text of o, in a malloc'd string; drops o. */
static char *json_text(struct json_object *o)
{
	char *s;

	assert_non_null(o);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	assert_non_null(s);
	json_object_put(o);
	return s;
}

static void test_resize_roundtrip(void **state)
{
	static const struct {
		uint32_t process;
		uint16_t rows, cols;
	} cases[] = {
	    {1, 24, 80}, {5, 0, 0}, {0xffffffffu, 65535, 65535}, {7, 0, 132}, {7, 50, 0},
	};
	struct husk_request r = {.id = 11, .op = HUSK_OP_PROCESS_RESIZE}, d;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		r.u.resize.process = cases[i].process;
		r.u.resize.rows = cases[i].rows;
		r.u.resize.cols = cases[i].cols;
		request_roundtrip(&r, &d);
		assert_int_equal(d.u.resize.process, cases[i].process);
		assert_int_equal(d.u.resize.rows, cases[i].rows);
		assert_int_equal(d.u.resize.cols, cases[i].cols);
		husk_request_free(&d);
		assert_null(d.op_name);
	}
	r.u.resize.process = 1;
	r.u.resize.rows = 50;
	r.u.resize.cols = 132;
	assert_json(husk_request_encode(&r),
		    "{\"id\":11,\"op\":\"process.resize\",\"process\":1,\"rows\":50,\"cols\":132}");
	/* Both sizes are always sent, 0 included. */
	r.u.resize.rows = 0;
	r.u.resize.cols = 0;
	assert_json(husk_request_encode(&r),
		    "{\"id\":11,\"op\":\"process.resize\",\"process\":1,\"rows\":0,\"cols\":0}");

	/* Field order does not matter; unknown fields are ignored. */
	static const char json[] = "{\"cols\":80,\"x\":[1],\"rows\":25,\"op\":\"process.resize\","
				   "\"process\":9,\"id\":3}";
	struct husk_err err = {0};
	char *copy = dup_exact(json, sizeof json - 1);
	assert_int_equal(husk_request_decode(copy, sizeof json - 1, &d, &err), 0);
	assert_int_equal(d.op, HUSK_OP_PROCESS_RESIZE);
	assert_int_equal(d.u.resize.process, 9);
	assert_int_equal(d.u.resize.rows, 25);
	assert_int_equal(d.u.resize.cols, 80);
	husk_request_free(&d);
	free(copy);
}

static void test_ps_roundtrip(void **state)
{
	static const char *const names[] = {"web", "a-b_c.1", "ünï \"q\" \\ /x"};
	struct husk_request r = {.id = 12, .op = HUSK_OP_CONTAINER_PS}, d;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		r.u.ps.container = (char *)names[i];
		request_roundtrip(&r, &d);
		assert_string_equal(d.u.ps.container, names[i]);
		husk_request_free(&d);
		assert_null(d.u.ps.container);
	}
	r.u.ps.container = "web";
	assert_json(husk_request_encode(&r),
		    "{\"id\":12,\"op\":\"container.ps\",\"container\":\"web\"}");
}

static void test_network_roundtrip(void **state)
{
	struct husk_request r = {.id = 9, .op = HUSK_OP_NETWORK_CONFIGURE}, d;
	const char *net = "{\"interfaces\":[{\"name\":\"eth0\",\"mtu\":1400,"
			  "\"addresses\":[\"10.88.0.5/16\"]}],\"routes\":[]}";

	r.u.net.network = json_tokener_parse(net);
	assert_non_null(r.u.net.network);
	request_roundtrip(&r, &d);
	assert_true(json_object_equal(d.u.net.network, r.u.net.network));
	husk_request_free(&d);
	assert_null(d.u.net.network);
	json_object_put(r.u.net.network);

	expect_request_fail("{\"id\":1,\"op\":\"network.configure\"}", EINVAL,
			    "request: \"network\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"network.configure\",\"network\":[]}", EINVAL,
			    "\"network\" must be an object");
}

static void test_update_roundtrip(void **state)
{
	static const char *const names[] = {"web", "a-b_c.1", "ünï \"q\" \\ /x"};
	static const char *const res[] = {
	    "{}",
	    "{\"memory\":{\"limit\":-1,\"swap\":0},\"pids\":{\"limit\":0}}",
	    "{\"memory\":{\"limit\":1073741824,\"swap\":2147483648,\"reservation\":0},"
	    "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\","
	    "\"mems\":\"0\"},\"pids\":{\"limit\":64},\"blockIO\":{\"weight\":500},"
	    "\"unified\":{\"memory.high\":\"1G\"},\"devices\":[{\"allow\":false}]}",
	};
	struct husk_request r = {.id = 13, .op = HUSK_OP_CONTAINER_UPDATE}, d;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		for (size_t k = 0; k < sizeof res / sizeof res[0]; k++) {
			r.u.update.container = (char *)names[i];
			r.u.update.resources = json_tokener_parse(res[k]);
			assert_non_null(r.u.update.resources);
			request_roundtrip(&r, &d);
			assert_string_equal(d.u.update.container, names[i]);
			/* the object travels whole, fields the codec does not know too */
			assert_true(json_object_equal(d.u.update.resources, r.u.update.resources));
			husk_request_free(&d);
			assert_null(d.u.update.container);
			assert_null(d.u.update.resources);
			json_object_put(r.u.update.resources);
		}
	}
	r.u.update.container = "web";
	r.u.update.resources = json_tokener_parse("{\"pids\":{\"limit\":10}}");
	assert_json(husk_request_encode(&r), "{\"id\":13,\"op\":\"container.update\","
					     "\"container\":\"web\",\"resources\":{\"pids\":"
					     "{\"limit\":10}}}");
	/* the decoded request holds its own reference */
	{
		static const char json[] = "{\"id\":5,\"op\":\"container.update\","
					   "\"container\":\"web\",\"resources\":{\"cpu\":"
					   "{\"quota\":-1}}}";
		struct husk_err err = {0};
		char *copy = dup_exact(json, sizeof json - 1);
		assert_int_equal(husk_request_decode(copy, sizeof json - 1, &d, &err), 0);
		free(copy);
		assert_int_equal(d.op, HUSK_OP_CONTAINER_UPDATE);
		assert_string_equal(d.u.update.container, "web");
		assert_string_equal(
		    json_object_to_json_string_ext(d.u.update.resources, JSON_C_TO_STRING_PLAIN),
		    "{\"cpu\":{\"quota\":-1}}");
		husk_request_free(&d);
	}
	json_object_put(r.u.update.resources);
}

/* A pod's container: container.create names its sandbox; container.delete
 * removes one while the VM goes on. */
static void test_pod_requests(void **state)
{
	struct husk_request r = {.id = 21, .op = HUSK_OP_CONTAINER_CREATE}, d;
	r.u.create.id = "app";
	r.u.create.rootfs = (struct husk_rootfs){
	    .tag = "share", .fstype = "virtiofs", .path = "app/rootfs", .readonly = false};
	r.u.create.sandbox = "pause1";
	request_roundtrip(&r, &d);
	assert_string_equal(d.u.create.sandbox, "pause1");
	assert_string_equal(d.u.create.id, "app");
	husk_request_free(&d);
	r.u.create.sandbox = NULL;
	request_roundtrip(&r, &d);
	assert_null(d.u.create.sandbox);
	husk_request_free(&d);

	struct husk_request del = {.id = 22, .op = HUSK_OP_CONTAINER_DELETE};
	del.u.ps.container = "app";
	assert_json(husk_request_encode(&del),
		    "{\"id\":22,\"op\":\"container.delete\",\"container\":\"app\"}");
	request_roundtrip(&del, &d);
	assert_int_equal(d.op, HUSK_OP_CONTAINER_DELETE);
	assert_string_equal(d.u.ps.container, "app");
	husk_request_free(&d);

	static const char *const bad[] = {
	    "{\"id\":1,\"op\":\"container.delete\"}",
	    "{\"id\":1,\"op\":\"container.delete\",\"container\":7}",
	    "{\"id\":1,\"op\":\"container.create\",\"container\":\"a\",\"rootfs\":{\"tag\":"
	    "\"share\",\"fstype\":\"9p\",\"path\":\"a/rootfs\"},\"sandbox\":[]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct husk_err err = {0};
		char *copy = dup_exact(bad[i], strlen(bad[i]));
		assert_int_equal(husk_request_decode(copy, strlen(bad[i]), &d, &err), -1);
		free(copy);
		assert_int_equal(err.code, EINVAL);
	}
}

/* vm.restore: the host's entropy (hex on the wire, bounded) and clock. */
static void test_restore_request(void **state)
{
	struct husk_request r = {.id = 31, .op = HUSK_OP_VM_RESTORE}, d;
	r.u.restore.nentropy = 64;
	for (int i = 0; i < 64; i++)
		r.u.restore.entropy[i] = (uint8_t)(i * 37 + 1);
	r.u.restore.time_ns = 1796047440123456789LL;
	request_roundtrip(&r, &d);
	assert_int_equal(d.u.restore.nentropy, 64);
	assert_memory_equal(d.u.restore.entropy, r.u.restore.entropy, 64);
	assert_int_equal(d.u.restore.time_ns, r.u.restore.time_ns);
	husk_request_free(&d);
	r.u.restore.nentropy = 32;
	memset(r.u.restore.entropy, 0xab, 32);
	r.u.restore.time_ns = 5;
	assert_json(husk_request_encode(&r),
		    "{\"id\":31,\"op\":\"vm.restore\",\"entropy\":\""
		    "abababababababababababababababababababababababababababababababab\","
		    "\"time_ns\":5}");
	static const struct {
		const char *json, *words;
	} bad[] = {
	    {"{\"id\":1,\"op\":\"vm.restore\",\"time_ns\":1}", "\"entropy\" is missing"},
	    {"{\"id\":1,\"op\":\"vm.restore\",\"entropy\":\"abab\",\"time_ns\":1}",
	     "32 to 256 bytes"},
	    {"{\"id\":1,\"op\":\"vm.restore\",\"entropy\":\"abc\",\"time_ns\":1}",
	     "32 to 256 bytes"},
	    {"{\"id\":1,\"op\":\"vm.restore\",\"entropy\":\""
	     "zzabababababababababababababababababababababababababababababababab\",\"time_ns\":1}",
	     "not lower-case hex"},
	    {"{\"id\":1,\"op\":\"vm.restore\",\"entropy\":\""
	     "abababababababababababababababababababababababababababababababab\",\"time_ns\":-1}",
	     "time_ns"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct husk_err err = {0};
		char *copy = dup_exact(bad[i].json, strlen(bad[i].json));
		assert_int_equal(husk_request_decode(copy, strlen(bad[i].json), &d, &err), -1);
		free(copy);
		if (!strstr(err.msg, bad[i].words))
			fail_msg("\"%s\" does not say \"%s\"", err.msg, bad[i].words);
	}
}

static void test_update_decode_errors(void **state)
{
	static const struct {
		const char *json;
		int code;
		const char *words;
	} bad[] = {
	    {"{\"id\":1,\"op\":\"container.update\",\"resources\":{}}", EINVAL,
	     "request: \"container\" is missing"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":null,\"resources\":{}}", EINVAL,
	     "request: \"container\" is missing"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":7,\"resources\":{}}", EINVAL,
	     "request: \"container\" must be a string"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":[\"web\"],\"resources\":{}}",
	     EINVAL, "\"container\" must be a string"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"w\\u0000b\",\"resources\":{}}",
	     EINVAL, "\"container\" contains a NUL byte"},
	    /* the container is read first: a failure on resources frees it */
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\"}", EINVAL,
	     "request: \"resources\" is missing"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":null}",
	     EINVAL, "request: \"resources\" is missing"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":[]}",
	     EINVAL, "request: \"resources\" must be an object"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":\"{}\"}",
	     EINVAL, "\"resources\" must be an object"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":1}", EINVAL,
	     "\"resources\" must be an object"},
	    {"{\"id\":0,\"op\":\"container.update\",\"container\":\"web\",\"resources\":{}}",
	     EINVAL, "request id must not be 0"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":{}",
	     EBADMSG, "request is not valid JSON"},
	    {"{\"id\":1,\"op\":\"container.update\",\"container\":\"web\",\"resources\":{}}x",
	     EBADMSG, "trailing data"},
	};
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_request_fail(bad[i].json, bad[i].code, bad[i].words);

	/* resources nested past the limit of 32 levels */
	json = malloc(512);
	assert_non_null(json);
	strcpy(json, "{\"id\":1,\"op\":\"container.update\",\"container\":\"w\",\"resources\":");
	for (int i = 0; i < 32; i++)
		strcat(json, "{\"a\":");
	strcat(json, "1");
	for (int i = 0; i < 33; i++)
		strcat(json, "}");
	expect_request_fail(json, EBADMSG, "request is not valid JSON");
	free(json);

	/* a request without resources is not encoded into one that decodes */
	struct husk_request r = {.id = 4, .op = HUSK_OP_CONTAINER_UPDATE};
	r.u.update.container = "web";
	assert_json(
	    husk_request_encode(&r),
	    "{\"id\":4,\"op\":\"container.update\",\"container\":\"web\",\"resources\":null}");

	/* the id of a bad container.update is still readable for the error reply */
	assert_int_equal(peek("{\"id\":22,\"op\":\"container.update\",\"container\":\"web\"}"), 22);
	assert_int_equal(peek("{\"id\":23,\"op\":\"container.update\",\"resources\":[]}"), 23);
}

static void test_signal_all_roundtrip(void **state)
{
	struct husk_request r = {.id = 4, .op = HUSK_OP_PROCESS_SIGNAL}, d;
	struct husk_err err = {0};
	char *text;

	/* all = true goes out and comes back. */
	r.u.signal.process = 1;
	r.u.signal.signal = 9;
	r.u.signal.all = true;
	request_roundtrip(&r, &d);
	assert_int_equal(d.u.signal.process, 1);
	assert_int_equal(d.u.signal.signal, 9);
	assert_true(d.u.signal.all);
	husk_request_free(&d);
	assert_json(husk_request_encode(&r),
		    "{\"id\":4,\"op\":\"process.signal\",\"process\":1,\"signal\":9,\"all\":true}");

	/* all = false is omitted from the JSON and decodes as false. */
	r.u.signal.all = false;
	memset(&d, 0x5a, sizeof d);
	request_roundtrip(&r, &d);
	assert_false(d.u.signal.all);
	assert_int_equal(d.u.signal.signal, 9);
	husk_request_free(&d);
	text = json_text(husk_request_encode(&r));
	assert_null(strstr(text, "all"));
	assert_string_equal(text,
			    "{\"id\":4,\"op\":\"process.signal\",\"process\":1,\"signal\":9}");
	free(text);

	/* Every signal number round-trips with all set. */
	r.u.signal.all = true;
	for (int sig = 1; sig <= 64; sig++) {
		r.u.signal.signal = sig;
		request_roundtrip(&r, &d);
		assert_int_equal(d.u.signal.signal, sig);
		assert_true(d.u.signal.all);
		husk_request_free(&d);
	}

	/* An explicit false is the same as absent. */
	static const char explicit_false[] =
	    "{\"id\":4,\"op\":\"process.signal\",\"process\":1,\"signal\":15,\"all\":false}";
	char *copy = dup_exact(explicit_false, sizeof explicit_false - 1);
	memset(&d, 0x5a, sizeof d);
	assert_int_equal(husk_request_decode(copy, sizeof explicit_false - 1, &d, &err), 0);
	assert_false(d.u.signal.all);
	assert_int_equal(d.u.signal.signal, 15);
	husk_request_free(&d);
	free(copy);

	/* Not a boolean. */
	static const char *const bad[] = {"1", "0", "\"true\"", "[]", "{}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *json;
		assert_true(asprintf(&json,
				     "{\"id\":1,\"op\":\"process.signal\",\"process\":1,"
				     "\"signal\":9,\"all\":%s}",
				     bad[i]) > 0);
		expect_request_fail(json, EINVAL, "request: \"all\" must be true or false");
		free(json);
	}
	/* all does not relax the signal range. */
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":1,\"signal\":0,"
			    "\"all\":true}",
			    ERANGE, "\"signal\" is out of range");
}

static void test_start_console_size(void **state)
{
	static const struct {
		uint16_t rows, cols;
		const char *json; /* consoleSize as encoded, NULL when omitted */
	} cases[] = {
	    {24, 80, "\"consoleSize\":{\"height\":24,\"width\":80}"},
	    {0, 0, NULL},
	    {0, 80, "\"consoleSize\":{\"height\":0,\"width\":80}"},
	    {50, 0, "\"consoleSize\":{\"height\":50,\"width\":0}"},
	    {65535, 65535, "\"consoleSize\":{\"height\":65535,\"width\":65535}"},
	};
	char *args[] = {"/bin/sh", NULL};
	struct husk_request r = {.id = 3, .op = HUSK_OP_PROCESS_START}, d;

	r.u.start.container = "web";
	r.u.start.streams = (struct husk_streams){1, 2, 3};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		r.u.start.process = (struct husk_process){.args = args,
							  .nargs = 1,
							  .cwd = "/",
							  .terminal = true,
							  .rows = cases[i].rows,
							  .cols = cases[i].cols};
		request_roundtrip(&r, &d);
		assert_int_equal(d.u.start.process.rows, cases[i].rows);
		assert_int_equal(d.u.start.process.cols, cases[i].cols);
		assert_true(d.u.start.process.terminal);
		husk_request_free(&d);

		char *text = json_text(husk_request_encode(&r));
		if (cases[i].json)
			assert_contains(text, cases[i].json);
		else
			assert_null(strstr(text, "consoleSize"));
		free(text);
	}

	/* The process object on its own, exactly. */
	r.u.start.process.rows = 24;
	r.u.start.process.cols = 80;
	assert_json(husk_process_to_json(&r.u.start.process),
		    "{\"args\":[\"\\/bin\\/sh\"],\"env\":[],\"cwd\":\"\\/\",\"user\":{\"uid\":0,"
		    "\"gid\":0,\"additionalGids\":[]},\"terminal\":true,"
		    "\"consoleSize\":{\"height\":24,\"width\":80}}");
	r.u.start.process.rows = 0;
	r.u.start.process.cols = 0;
	assert_json(husk_process_to_json(&r.u.start.process),
		    "{\"args\":[\"\\/bin\\/sh\"],\"env\":[],\"cwd\":\"\\/\",\"user\":{\"uid\":0,"
		    "\"gid\":0,\"additionalGids\":[]},\"terminal\":true}");

	/* Decoding: null is absent, 0x0 is accepted, terminal is not required,
	 * unknown fields inside consoleSize are ignored. */
	static const struct {
		const char *size;
		uint16_t rows, cols;
	} dec[] = {
	    {"null", 0, 0},
	    {"{\"height\":0,\"width\":0}", 0, 0},
	    {"{\"width\":132,\"height\":43,\"depth\":1}", 43, 132},
	};
	for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
		struct husk_err err = {0};
		char *json;
		assert_true(asprintf(&json,
				     "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
				     "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},"
				     "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\","
				     "\"consoleSize\":%s}}",
				     dec[i].size) > 0);
		memset(&d, 0x5a, sizeof d);
		if (husk_request_decode(json, strlen(json), &d, &err) < 0)
			fail_msg("%s: %s", dec[i].size, err.msg);
		assert_int_equal(d.u.start.process.rows, dec[i].rows);
		assert_int_equal(d.u.start.process.cols, dec[i].cols);
		assert_false(d.u.start.process.terminal);
		husk_request_free(&d);
		free(json);
	}

	/* Absent: 0x0. */
	struct husk_err err = {0};
	memset(&d, 0x5a, sizeof d);
	assert_int_equal(husk_request_decode(start_ok, strlen(start_ok), &d, &err), 0);
	assert_int_equal(d.u.start.process.rows, 0);
	assert_int_equal(d.u.start.process.cols, 0);
	husk_request_free(&d);
}

static void test_reply_pids_roundtrip(void **state)
{
	int32_t pids[] = {1, 42, INT32_MAX};
	struct husk_reply r = {.id = 12, .pid = -1, .has_pids = true, .pids = pids, .npids = 3}, d;

	reply_roundtrip(&r, &d);
	assert_int_equal(d.err_code, 0);
	assert_true(d.has_pids);
	assert_int_equal(d.npids, 3);
	assert_non_null(d.pids);
	assert_memory_equal(d.pids, pids, sizeof pids);
	assert_int_equal(d.pid, -1);
	husk_reply_free(&d);
	assert_null(d.pids);
	assert_int_equal(d.npids, 0);
	assert_false(d.has_pids);
	assert_int_equal(d.pid, -1);
	assert_json(husk_reply_encode(&r), "{\"id\":12,\"pids\":[1,42,2147483647]}");

	/* An empty container: an empty array, not an absent one. */
	r.pids = NULL;
	r.npids = 0;
	memset(&d, 0x5a, sizeof d);
	reply_roundtrip(&r, &d);
	assert_true(d.has_pids);
	assert_int_equal(d.npids, 0);
	husk_reply_free(&d);
	assert_json(husk_reply_encode(&r), "{\"id\":12,\"pids\":[]}");

	/* No pids at all when has_pids is false. */
	r.has_pids = false;
	memset(&d, 0x5a, sizeof d);
	reply_roundtrip(&r, &d);
	assert_false(d.has_pids);
	assert_null(d.pids);
	assert_int_equal(d.npids, 0);
	husk_reply_free(&d);
	assert_json(husk_reply_encode(&r), "{\"id\":12}");

	/* An error reply carries no pids. */
	r = (struct husk_reply){.id = 13,
				.err_code = ENOENT,
				.message = "container x does not exist",
				.pid = -1,
				.has_pids = true,
				.pids = pids,
				.npids = 3};
	reply_roundtrip(&r, &d);
	assert_int_equal(d.err_code, ENOENT);
	assert_false(d.has_pids);
	assert_null(d.pids);
	husk_reply_free(&d);
	assert_json(husk_reply_encode(&r),
		    "{\"id\":13,\"error\":{\"errno\":2,\"code\":\"ENOENT\",\"message\":"
		    "\"container x does not exist\"}}");

	/* pid and pids are independent fields. */
	r = (struct husk_reply){.id = 14, .pid = 7, .has_pids = true, .pids = pids, .npids = 1};
	reply_roundtrip(&r, &d);
	assert_int_equal(d.pid, 7);
	assert_int_equal(d.npids, 1);
	assert_int_equal(d.pids[0], 1);
	husk_reply_free(&d);

	/* A process.resize failure on a process without a terminal. */
	r = (struct husk_reply){
	    .id = 15, .err_code = ENOTTY, .message = "process 1 has no terminal", .pid = -1};
	reply_roundtrip(&r, &d);
	assert_int_equal(d.err_code, ENOTTY);
	assert_string_equal(d.message, "process 1 has no terminal");
	husk_reply_free(&d);
}

/* n pids 1..n as a reply. */
static char *reply_with_pids(size_t n)
{
	char *json = malloc(32 + n * 7), *q = json;

	assert_non_null(json);
	q += sprintf(q, "{\"id\":1,\"pids\":[");
	for (size_t i = 0; i < n; i++)
		q += sprintf(q, "%s%zu", i ? "," : "", i + 1);
	strcpy(q, "]}");
	return json;
}

static void test_reply_pids_decode_errors(void **state)
{
	static const char *const not_array[] = {"{}", "\"1 2\"", "5", "true", "{\"0\":1}"};
	static const struct {
		const char *pids, *words;
	} bad[] = {
	    {"[0]", "REPLY: \"pids\"[0] is not a valid pid"},
	    {"[1,2147483648]", "REPLY: \"pids\"[1] is not a valid pid"},
	    {"[1,2,0]", "\"pids\"[2] is not a valid pid"},
	    {"[-1]", "\"pids\"[0] is not a valid pid"},
	    {"[-2147483648]", "\"pids\"[0]"},
	    {"[9223372036854775807]", "\"pids\"[0]"},
	    {"[18446744073709551615]", "\"pids\"[0]"},
	    {"[4294967297]", "\"pids\"[0]"},
	    {"[1.0]", "\"pids\"[0]"},
	    {"[\"2\"]", "\"pids\"[0]"},
	    {"[null]", "\"pids\"[0]"},
	    {"[true]", "\"pids\"[0]"},
	    {"[[1]]", "\"pids\"[0]"},
	    {"[5,{}]", "\"pids\"[1]"},
	};
	char *json;

	for (size_t i = 0; i < sizeof not_array / sizeof not_array[0]; i++) {
		assert_true(asprintf(&json, "{\"id\":1,\"pids\":%s}", not_array[i]) > 0);
		expect_reply_fail(json, EINVAL, "REPLY: \"pids\" must be an array of pids");
		free(json);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json, "{\"id\":1,\"pids\":%s}", bad[i].pids) > 0);
		expect_reply_fail(json, EINVAL, bad[i].words);
		free(json);
	}

	/* At most 65536 of them. */
	struct husk_reply r;
	struct husk_err err = {0};
	json = reply_with_pids(65536);
	assert_int_equal(husk_reply_decode(json, strlen(json), &r, &err), 0);
	assert_int_equal(r.npids, 65536);
	assert_int_equal(r.pids[65535], 65536);
	husk_reply_free(&r);
	free(json);
	json = reply_with_pids(65537);
	expect_reply_fail(json, EINVAL, "\"pids\" must be an array of pids");
	free(json);
}

static void test_reply_procs_roundtrip(void **state)
{
	int32_t pids[] = {7, 9};
	struct husk_ps_proc procs[] = {
	    {.pid = 7,
	     .ppid = 1,
	     .uid = 0,
	     .start = 12,
	     .cpu_ns = 1500000000,
	     .tty = "pts/0",
	     .cmd = "sh -c \"echo hi\""},
	    {.pid = 9,
	     .ppid = 7,
	     .uid = UINT32_MAX,
	     .start = HUSK_PS_SECS_MAX,
	     .cpu_ns = INT64_MAX,
	     .tty = "?",
	     .cmd = "[sleep] <defunct>"},
	};
	struct husk_reply r = {.id = 12,
			       .pid = -1,
			       .has_pids = true,
			       .pids = pids,
			       .npids = 2,
			       .has_procs = true,
			       .procs = procs,
			       .nprocs = 2,
			       .uptime = 100,
			       .boot_time = 1700000000},
			  d;

	reply_roundtrip(&r, &d);
	assert_true(d.has_pids);
	assert_int_equal(d.npids, 2);
	assert_true(d.has_procs);
	assert_int_equal(d.nprocs, 2);
	assert_int_equal(d.uptime, 100);
	assert_int_equal(d.boot_time, 1700000000);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(d.procs[i].pid, procs[i].pid);
		assert_int_equal(d.procs[i].ppid, procs[i].ppid);
		assert_int_equal(d.procs[i].uid, procs[i].uid);
		assert_int_equal(d.procs[i].start, procs[i].start);
		assert_int_equal(d.procs[i].cpu_ns, procs[i].cpu_ns);
		assert_string_equal(d.procs[i].tty, procs[i].tty);
		assert_string_equal(d.procs[i].cmd, procs[i].cmd);
	}
	husk_reply_free(&d);
	assert_null(d.procs);
	assert_int_equal(d.nprocs, 0);
	assert_false(d.has_procs);
	r.nprocs = 1;
	assert_json(husk_reply_encode(&r),
		    "{\"id\":12,\"pids\":[7,9],\"procs\":[{\"pid\":7,\"ppid\":1,\"uid\":0,"
		    "\"start\":12,\"cpu_ns\":1500000000,\"tty\":\"pts\\/0\",\"cmd\":\"sh -c "
		    "\\\"echo hi\\\"\"}],\"uptime\":100,\"boot_time\":1700000000}");

	/* An unknown boot time is left out; no processes is an empty array. */
	r.boot_time = 0;
	r.nprocs = 0;
	r.procs = NULL;
	memset(&d, 0x5a, sizeof d);
	reply_roundtrip(&r, &d);
	assert_true(d.has_procs);
	assert_int_equal(d.nprocs, 0);
	assert_int_equal(d.boot_time, 0);
	husk_reply_free(&d);
	assert_json(husk_reply_encode(&r),
		    "{\"id\":12,\"pids\":[7,9],\"procs\":[],\"uptime\":100}");

	/* The limits themselves are fine. */
	char cmd[HUSK_PS_CMD_MAX + 1], tty[HUSK_PS_TTY_MAX + 1];
	memset(cmd, 'c', HUSK_PS_CMD_MAX);
	cmd[HUSK_PS_CMD_MAX] = '\0';
	memset(tty, 't', HUSK_PS_TTY_MAX);
	tty[HUSK_PS_TTY_MAX] = '\0';
	procs[0].cmd = cmd;
	procs[0].tty = tty;
	r.procs = procs;
	r.nprocs = 1;
	reply_roundtrip(&r, &d);
	assert_int_equal(strlen(d.procs[0].cmd), HUSK_PS_CMD_MAX);
	assert_int_equal(strlen(d.procs[0].tty), HUSK_PS_TTY_MAX);
	husk_reply_free(&d);

	/* Without procs (an older agent) there are none, and no clock. */
	r.has_procs = false;
	reply_roundtrip(&r, &d);
	assert_false(d.has_procs);
	assert_null(d.procs);
	assert_int_equal(d.uptime, 0);
	husk_reply_free(&d);
	assert_json(husk_reply_encode(&r), "{\"id\":12,\"pids\":[7,9]}");

	/* An error reply carries none. */
	r = (struct husk_reply){.id = 13,
				.err_code = ENOENT,
				.message = "container x does not exist",
				.pid = -1,
				.has_procs = true,
				.procs = procs,
				.nprocs = 1,
				.uptime = 5};
	reply_roundtrip(&r, &d);
	assert_false(d.has_procs);
	assert_null(d.procs);
	husk_reply_free(&d);
}

/* A container.ps reply whose one process is entry (a JSON object's members). */
static char *reply_with_proc(const char *entry)
{
	char *json;

	assert_true(
	    asprintf(&json, "{\"id\":1,\"pids\":[7],\"procs\":[{%s}],\"uptime\":9}", entry) > 0);
	return json;
}

#define GOOD_PROC "\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\",\"cmd\":\"sh\""

static void test_reply_procs_decode_errors(void **state)
{
	static const struct {
		const char *entry;
		int code;
		const char *words;
	} bad[] = {
	    {GOOD_PROC, EINVAL, "REPLY: \"procs\"[0]: \"pid\" is missing"},
	    {"\"pid\":0," GOOD_PROC, ERANGE, "REPLY: \"procs\"[0]: \"pid\" is out of range"},
	    {"\"pid\":2147483648," GOOD_PROC, ERANGE, "\"procs\"[0]: \"pid\" is out of range"},
	    {"\"pid\":\"7\"," GOOD_PROC, EINVAL, "\"procs\"[0]: \"pid\" must be an integer"},
	    {"\"pid\":7.0," GOOD_PROC, EINVAL, "\"pid\" must be an integer"},
	    {"\"pid\":7,\"ppid\":-1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\",\"cmd\":\"\"",
	     ERANGE, "\"procs\"[0]: \"ppid\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":4294967296,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\","
	     "\"cmd\":\"\"",
	     ERANGE, "\"uid\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":null,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\",\"cmd\":"
	     "\"\"",
	     EINVAL, "\"uid\" is missing"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":-1,\"cpu_ns\":0,\"tty\":\"?\",\"cmd\":\"\"",
	     ERANGE, "\"start\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":1099511627777,\"cpu_ns\":0,\"tty\":\"?\","
	     "\"cmd\":\"\"",
	     ERANGE, "\"start\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":-1,\"tty\":\"?\",\"cmd\":\"\"",
	     ERANGE, "\"cpu_ns\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":9223372036854775808,"
	     "\"tty\":\"?\",\"cmd\":\"\"",
	     ERANGE, "\"cpu_ns\" is out of range"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":true,\"tty\":\"?\",\"cmd\":"
	     "\"\"",
	     EINVAL, "\"cpu_ns\" must be an integer"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"cmd\":\"\"", EINVAL,
	     "\"procs\"[0]: \"tty\" is missing"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":0,\"cmd\":\"\"",
	     EINVAL, "\"tty\" must be a string"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"\",\"cmd\":\"\"",
	     EINVAL, "\"procs\"[0]: \"tty\" must be 1 to 32 bytes"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,"
	     "\"tty\":\"123456789012345678901234567890123\",\"cmd\":\"\"",
	     EINVAL, "\"tty\" must be 1 to 32 bytes"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"pts\\u0000\","
	     "\"cmd\":\"\"",
	     EINVAL, "\"tty\" contains a NUL byte"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\"", EINVAL,
	     "\"procs\"[0]: \"cmd\" is missing"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\",\"cmd\":["
	     "\"sh\"]",
	     EINVAL, "\"cmd\" must be a string"},
	    {"\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\","
	     "\"cmd\":\"sh\\u0000-c\"",
	     EINVAL, "\"cmd\" contains a NUL byte"},
	};
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json = reply_with_proc(bad[i].entry);
		expect_reply_fail(json, bad[i].code, bad[i].words);
		free(json);
	}

	/* The shape of the array and of the clock fields around it. */
	static const struct {
		const char *json;
		int code;
		const char *words;
	} shape[] = {
	    {"{\"id\":1,\"procs\":5,\"uptime\":9}", EINVAL, "REPLY: \"procs\" must be an array"},
	    {"{\"id\":1,\"procs\":{},\"uptime\":9}", EINVAL, "\"procs\" must be an array"},
	    {"{\"id\":1,\"procs\":[5],\"uptime\":9}", EINVAL,
	     "REPLY: \"procs\"[0] must be an object"},
	    {"{\"id\":1,\"procs\":[{\"pid\":7," GOOD_PROC "},null],\"uptime\":9}", EINVAL,
	     "\"procs\"[1] must be an object"},
	    {"{\"id\":1,\"procs\":[{\"pid\":7," GOOD_PROC "},{\"pid\":8}],\"uptime\":9}", EINVAL,
	     "\"procs\"[1]: \"ppid\" is missing"},
	    {"{\"id\":1,\"procs\":[]}", EINVAL, "REPLY: \"uptime\" is missing"},
	    {"{\"id\":1,\"procs\":[],\"uptime\":-1}", ERANGE, "\"uptime\" is out of range"},
	    {"{\"id\":1,\"procs\":[],\"uptime\":\"9\"}", EINVAL, "\"uptime\" must be an integer"},
	    {"{\"id\":1,\"procs\":[],\"uptime\":9,\"boot_time\":\"x\"}", EINVAL,
	     "\"boot_time\" must be an integer"},
	    {"{\"id\":1,\"procs\":[],\"uptime\":9,\"boot_time\":-5}", ERANGE,
	     "\"boot_time\" is out of range"},
	};
	for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++)
		expect_reply_fail(shape[i].json, shape[i].code, shape[i].words);

	/* A cmd longer than HUSK_PS_CMD_MAX is refused, not cut. */
	char *cmd = malloc(HUSK_PS_CMD_MAX + 2), *entry;
	assert_non_null(cmd);
	memset(cmd, 'c', HUSK_PS_CMD_MAX + 1);
	cmd[HUSK_PS_CMD_MAX + 1] = '\0';
	assert_true(
	    asprintf(&entry,
		     "\"pid\":7,\"ppid\":1,\"uid\":0,\"start\":3,\"cpu_ns\":0,\"tty\":\"?\","
		     "\"cmd\":\"%s\"",
		     cmd) > 0);
	json = reply_with_proc(entry);
	expect_reply_fail(json, EINVAL, "REPLY: \"procs\"[0]: \"cmd\" is longer than 4096 bytes");
	free(json);
	free(entry);
	free(cmd);

	/* At most HUSK_MAX_PIDS entries, as pids. */
	size_t n = HUSK_MAX_PIDS + 1;
	char *q = json = malloc(64 + n * 3);
	assert_non_null(json);
	q += sprintf(q, "{\"id\":1,\"uptime\":9,\"procs\":[");
	for (size_t i = 0; i < n; i++)
		q += sprintf(q, "%s{}", i ? "," : "");
	strcpy(q, "]}");
	expect_reply_fail(json, E2BIG, "REPLY: \"procs\" has more than 65536 entries");
	free(json);

	/* A good one decodes. */
	struct husk_reply r;
	struct husk_err err = {0};
	json = reply_with_proc("\"pid\":7," GOOD_PROC);
	assert_int_equal(husk_reply_decode(json, strlen(json), &r, &err), 0);
	assert_int_equal(r.nprocs, 1);
	assert_int_equal(r.procs[0].pid, 7);
	assert_string_equal(r.procs[0].cmd, "sh");
	assert_int_equal(r.uptime, 9);
	husk_reply_free(&r);
	free(json);
}

static void test_resize_ps_decode_errors(void **state)
{
	static const struct {
		const char *rows, *cols;
		int code;
		const char *words;
	} bad[] = {
	    {"65536", "80", ERANGE, "request: \"rows\" is out of range"},
	    {"24", "-1", ERANGE, "request: \"cols\" is out of range"},
	    {"-1", "80", ERANGE, "\"rows\" is out of range"},
	    {"24", "65536", ERANGE, "\"cols\" is out of range"},
	    {"4294967320", "80", ERANGE, "\"rows\" is out of range"},
	    {"24", "-9223372036854775808", ERANGE, "\"cols\" is out of range"},
	    {"99999999999999999999", "80", ERANGE, "\"rows\" is out of range"},
	    {"\"24\"", "80", EINVAL, "\"rows\" must be an integer"},
	    {"24", "80.0", EINVAL, "\"cols\" must be an integer"},
	    {"24", "true", EINVAL, "\"cols\" must be an integer"},
	    {"[24]", "80", EINVAL, "\"rows\" must be an integer"},
	};
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"id\":1,\"op\":\"process.resize\",\"process\":1,"
				     "\"rows\":%s,\"cols\":%s}",
				     bad[i].rows, bad[i].cols) > 0);
		expect_request_fail(json, bad[i].code, bad[i].words);
		free(json);
	}
	expect_request_fail("{\"id\":1,\"op\":\"process.resize\",\"process\":1,\"cols\":80}",
			    EINVAL, "request: \"rows\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"process.resize\",\"process\":1,\"rows\":24}",
			    EINVAL, "request: \"cols\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"process.resize\",\"rows\":24,\"cols\":80}", EINVAL,
			    "request: \"process\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"process.resize\",\"process\":-1,\"rows\":24,"
			    "\"cols\":80}",
			    ERANGE, "\"process\" is out of range");
	expect_request_fail("{\"id\":1,\"op\":\"process.resize\",\"process\":\"1\",\"rows\":24,"
			    "\"cols\":80}",
			    EINVAL, "\"process\" must be an integer");

	expect_request_fail("{\"id\":1,\"op\":\"container.ps\"}", EINVAL,
			    "request: \"container\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.ps\",\"container\":null}", EINVAL,
			    "request: \"container\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.ps\",\"container\":7}", EINVAL,
			    "request: \"container\" must be a string");
	expect_request_fail("{\"id\":1,\"op\":\"container.ps\",\"container\":[\"web\"]}", EINVAL,
			    "\"container\" must be a string");
	expect_request_fail("{\"id\":1,\"op\":\"container.ps\",\"container\":\"w\\u0000b\"}",
			    EINVAL, "\"container\" contains a NUL byte");
	/* The id of a bad container.ps is still readable for the error reply. */
	assert_int_equal(peek("{\"id\":21,\"op\":\"container.ps\"}"), 21);
}

static void test_console_size_decode_errors(void **state)
{
	static const char *const not_object[] = {"[24,80]", "\"24x80\"", "24", "true"};
	static const struct {
		const char *size;
		int code;
		const char *words;
	} bad[] = {
	    {"{\"width\":80}", EINVAL,
	     "request: \"process\": \"consoleSize\": \"height\" is missing"},
	    {"{\"height\":24}", EINVAL, "\"consoleSize\": \"width\" is missing"},
	    {"{}", EINVAL, "\"consoleSize\": \"height\" is missing"},
	    {"{\"height\":65536,\"width\":80}", ERANGE,
	     "\"process\": \"consoleSize\": \"height\" is out of range"},
	    {"{\"height\":24,\"width\":-1}", ERANGE, "\"consoleSize\": \"width\" is out of range"},
	    {"{\"height\":-1,\"width\":80}", ERANGE, "\"consoleSize\": \"height\" is out of range"},
	    {"{\"height\":24,\"width\":65536}", ERANGE,
	     "\"consoleSize\": \"width\" is out of range"},
	    {"{\"height\":\"24\",\"width\":80}", EINVAL,
	     "\"consoleSize\": \"height\" must be an integer"},
	    {"{\"height\":24,\"width\":80.5}", EINVAL,
	     "\"consoleSize\": \"width\" must be an integer"},
	    {"{\"height\":null,\"width\":80}", EINVAL, "\"consoleSize\": \"height\""},
	};
	char *json;

	for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"args\":[\"sh\"],\"cwd\":\"/\",\"terminal\":true,"
				     "\"consoleSize\":%s}",
				     not_object[i]) > 0);
		expect_process_fail(json, EINVAL,
				    "request: \"process\": \"consoleSize\" must be an object");
		free(json);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"args\":[\"sh\"],\"cwd\":\"/\",\"terminal\":true,"
				     "\"consoleSize\":%s}",
				     bad[i].size) > 0);
		expect_process_fail(json, bad[i].code, bad[i].words);
		free(json);
	}
}

static void test_exit_runtime_ns(void **state)
{
	static const struct {
		const char *ns;
		int64_t want;
	} good[] = {
	    {NULL, 0}, {"0", 0}, {"1", 1}, {"1843211", 1843211}, {"9223372036854775807", INT64_MAX},
	};
	static const char *const bad[] = {
	    "-1", "-9223372036854775808", "1.5", "1e9", "1000.0", "\"100\"", "true", "[1]", "{}",
	};
	char *json;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct husk_exit_event e;
		struct husk_err err = {0};
		if (good[i].ns)
			assert_true(asprintf(&json,
					     "{\"event\":\"process.exit\",\"process\":3,"
					     "\"status\":0,\"signal\":0,\"runtime_ns\":%s}",
					     good[i].ns) > 0);
		else
			json = strdup("{\"event\":\"process.exit\",\"process\":3,\"status\":0,"
				      "\"signal\":0}");
		assert_non_null(json);
		memset(&e, 0x5a, sizeof e);
		if (husk_exit_decode(json, strlen(json), &e, &err) < 0)
			fail_msg("%s: %s", json, err.msg);
		assert_int_equal(e.runtime_ns, good[i].want);
		assert_int_equal(e.process, 3);
		free(json);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"event\":\"process.exit\",\"process\":3,\"status\":0,"
				     "\"signal\":0,\"runtime_ns\":%s}",
				     bad[i]) > 0);
		expect_exit_fail(json, EINVAL,
				 "EVENT: \"runtime_ns\" must be a non-negative integer");
		free(json);
	}
	/* 0 (unknown) is not sent. */
	struct husk_exit_event z = {.process = 3, .status = 0, .signal = 0, .runtime_ns = 0};
	assert_json(husk_exit_encode(&z),
		    "{\"event\":\"process.exit\",\"process\":3,\"status\":0,\"signal\":0}");
	z.runtime_ns = -5; /* not a measurement: not sent either */
	assert_json(husk_exit_encode(&z),
		    "{\"event\":\"process.exit\",\"process\":3,\"status\":0,\"signal\":0}");
}

/* "output_open": the exit event may come before the CLOSEs of its output
 * streams, and says so; absent (or null) means both were closed before it. */
static void test_exit_output_open(void **state)
{
	static const struct {
		const char *v; /* NULL: absent */
		bool want;
	} good[] = {{NULL, false}, {"null", false}, {"false", false}, {"true", true}};
	static const char *const bad[] = {"1", "0", "\"true\"", "\"open\"", "[]", "{}"};
	char *json;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct husk_exit_event e;
		struct husk_err err = {0};
		if (good[i].v)
			assert_true(asprintf(&json,
					     "{\"event\":\"process.exit\",\"process\":3,"
					     "\"status\":0,\"signal\":0,\"output_open\":%s}",
					     good[i].v) > 0);
		else
			json = strdup("{\"event\":\"process.exit\",\"process\":3,\"status\":0,"
				      "\"signal\":0}");
		assert_non_null(json);
		memset(&e, 0x5a, sizeof e);
		if (husk_exit_decode(json, strlen(json), &e, &err) < 0)
			fail_msg("%s: %s", json, err.msg);
		assert_int_equal(e.output_open, good[i].want);
		assert_int_equal(e.process, 3);
		free(json);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json,
				     "{\"event\":\"process.exit\",\"process\":3,\"status\":0,"
				     "\"signal\":0,\"output_open\":%s}",
				     bad[i]) > 0);
		expect_exit_fail(json, EINVAL, "EVENT: \"output_open\" must be true or false");
		free(json);
	}
	/* sent only when open; and it survives the round trip */
	struct husk_exit_event x = {.process = 3, .status = 143, .signal = 15, .output_open = true};
	assert_json(husk_exit_encode(&x), "{\"event\":\"process.exit\",\"process\":3,\"status\":"
					  "143,\"signal\":15,\"output_open\":true}");
	const char *p;
	size_t len;
	struct husk_exit_event d;
	struct husk_err err = {0};
	uint8_t *frame = frame_of(HUSK_FRAME_EVENT, husk_exit_encode(&x), &p, &len);
	assert_int_equal(husk_exit_decode(p, len, &d, &err), 0);
	assert_true(d.output_open);
	assert_int_equal(d.status, 143);
	free(frame);
	x.output_open = false;
	assert_json(husk_exit_encode(&x), "{\"event\":\"process.exit\",\"process\":3,\"status\":"
					  "143,\"signal\":15}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_roundtrip),
	    cmocka_unit_test(test_ping_shutdown_roundtrip),
	    cmocka_unit_test(test_op_names),
	    cmocka_unit_test(test_create_roundtrip),
	    cmocka_unit_test(test_start_roundtrip),
	    cmocka_unit_test(test_start_minimal_decode),
	    cmocka_unit_test(test_signal_roundtrip),
	    cmocka_unit_test(test_reply_roundtrip),
	    cmocka_unit_test(test_reply_pid_zero_roundtrip),
	    cmocka_unit_test(test_exit_roundtrip),
	    cmocka_unit_test(test_error_frame_encode),
	    cmocka_unit_test(test_request_bad_json),
	    cmocka_unit_test(test_request_nesting_limit),
	    cmocka_unit_test(test_request_id),
	    cmocka_unit_test(test_request_op),
	    cmocka_unit_test(test_request_wrong_types),
	    cmocka_unit_test(test_request_rootfs_rules),
	    cmocka_unit_test(test_request_empty_args_relative_cwd),
	    cmocka_unit_test(test_request_streams_distinct),
	    cmocka_unit_test(test_request_signal_range),
	    cmocka_unit_test(test_request_embedded_nul),
	    cmocka_unit_test(test_request_additional_gids),
	    cmocka_unit_test(test_request_unknown_fields_ignored),
	    cmocka_unit_test(test_hello_decode_errors),
	    cmocka_unit_test(test_reply_decode_errors),
	    cmocka_unit_test(test_exit_decode_errors),
	    cmocka_unit_test(test_peek_id),
	    cmocka_unit_test(test_frame_json_limits),
	    cmocka_unit_test(test_process_json_roundtrip),
	    cmocka_unit_test(test_resize_roundtrip),
	    cmocka_unit_test(test_ps_roundtrip),
	    cmocka_unit_test(test_network_roundtrip),
	    cmocka_unit_test(test_update_roundtrip),
	    cmocka_unit_test(test_pod_requests),
	    cmocka_unit_test(test_restore_request),
	    cmocka_unit_test(test_update_decode_errors),
	    cmocka_unit_test(test_signal_all_roundtrip),
	    cmocka_unit_test(test_start_console_size),
	    cmocka_unit_test(test_reply_pids_roundtrip),
	    cmocka_unit_test(test_reply_pids_decode_errors),
	    cmocka_unit_test(test_reply_procs_roundtrip),
	    cmocka_unit_test(test_reply_procs_decode_errors),
	    cmocka_unit_test(test_resize_ps_decode_errors),
	    cmocka_unit_test(test_console_size_decode_errors),
	    cmocka_unit_test(test_exit_runtime_ns),
	    cmocka_unit_test(test_exit_output_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
