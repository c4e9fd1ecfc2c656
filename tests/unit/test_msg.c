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

#define assert_contains(hay, needle)                                                       \
	do {                                                                               \
		if (!strstr((hay), (needle)))                                              \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));       \
	} while (0)

#define assert_starts_with(s, prefix)                                                      \
	do {                                                                               \
		if (strncmp((s), (prefix), strlen(prefix)) != 0)                           \
			fail_msg("\"%s\" does not start with \"%s\"", (s), (prefix));      \
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
	struct husk_err err = { 0 };
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
	struct husk_err err = { 0 };
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
	struct husk_err err = { 0 };

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

static const char *const start_ok =
	"{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
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

	assert_true(asprintf(&json,
			     "{\"id\":9,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":%s}",
			     rootfs) > 0);
	expect_request_fail(json, code, words);
	free(json);
}

/* ---- round trips ---- */

static void test_hello_roundtrip(void **state)
{
	struct husk_hello h = { "0.1.0", HUSK_PROTO_VERSION, "6.1.0-husk" }, d;
	struct husk_err err = { 0 };
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_HELLO, husk_hello_encode(&h), &p, &len);

	assert_int_equal(husk_hello_decode(p, len, &d, &err), 0);
	assert_string_equal(d.agent_version, "0.1.0");
	assert_int_equal(d.protocol, 1);
	assert_string_equal(d.kernel_release, "6.1.0-husk");
	husk_hello_free(&d);
	assert_null(d.agent_version);
	free(frame);

	assert_json(husk_hello_encode(&h),
		    "{\"agent_version\":\"0.1.0\",\"protocol\":1,\"kernel\":\"6.1.0-husk\"}");
}

static void test_ping_shutdown_roundtrip(void **state)
{
	struct husk_request r = { .id = 1, .op = HUSK_OP_PING }, d;

	request_roundtrip(&r, &d);
	husk_request_free(&d);
	assert_json(husk_request_encode(&r), "{\"id\":1,\"op\":\"ping\"}");

	r = (struct husk_request){ .id = UINT32_MAX, .op = HUSK_OP_SHUTDOWN };
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
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_RESIZE), "process.resize");
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_PS), "container.ps");
	assert_string_equal(husk_op_name(HUSK_OP_PING), "ping");
	assert_string_equal(husk_op_name(HUSK_OP_CONTAINER_CREATE), "container.create");
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_START), "process.start");
	assert_string_equal(husk_op_name(HUSK_OP_PROCESS_SIGNAL), "process.signal");
	assert_string_equal(husk_op_name(HUSK_OP_SHUTDOWN), "shutdown");
	assert_null(husk_op_name(HUSK_OP_UNKNOWN));
	assert_null(husk_op_name((enum husk_op)8));
}

static void test_create_roundtrip(void **state)
{
	struct husk_request r = { .id = 2, .op = HUSK_OP_CONTAINER_CREATE }, d;

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
	char *args[] = { "/bin/sh", "-c", "echo \"hi\" \\ ünïcode", NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "TERM=xterm", "EMPTY=", NULL };
	uint32_t gids[] = { 10, 0, UINT32_MAX };
	struct husk_request r = { .id = 3, .op = HUSK_OP_PROCESS_START }, d;

	r.u.start.container = "web";
	r.u.start.process = (struct husk_process){
		.args = args, .nargs = 3, .env = env, .nenv = 3, .cwd = "/srv/app",
		.user = { .uid = 1000, .gid = 100, .gids = gids, .ngids = 3 }, .terminal = true,
	};
	r.u.start.streams = (struct husk_streams){ 5, 6, 0xffffffffu };
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
	char *one[] = { "/bin/sh", NULL };
	r.u.start.process = (struct husk_process){ .args = one, .nargs = 1, .cwd = "/" };
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
	struct husk_err err = { 0 };

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
	struct husk_request r = { .id = 4, .op = HUSK_OP_PROCESS_SIGNAL }, d;

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
	struct husk_reply r = { .id = 7, .pid = -1 }, d;
	struct husk_err err = { 0 };
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
	r = (struct husk_reply){ .id = 8, .err_code = ENOENT, .pid = 4242,
				 .message = "process.args: /bin/nope: No such file" };
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
	assert_json(husk_reply_encode(&r),
		    "{\"id\":8,\"error\":{\"errno\":95,\"code\":\"EOPNOTSUPP\",\"message\":\"no\"}}");

	/* A process.start failure says which exit status it stands for. */
	r = (struct husk_reply){ .id = 10, .err_code = ENOENT, .message = "m", .status = 127,
				 .pid = -1 };
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
	r = (struct husk_reply){ .id = 9, .err_code = 4000, .message = NULL, .pid = -1 };
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

	struct husk_reply r = { .id = 1 }, d;
	struct husk_err err = { 0 };
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
		{ 1, 0, 0, 0 }, { 7, 1, 0, 5 }, { 0xffffffffu, 255, 0, 0 }, { 3, 137, 9, 0 },
		{ 3, 192, 64, INT64_MAX },
	};
	struct husk_err err = { 0 };

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
		free(frame);
	}
	assert_json(husk_exit_encode(&evs[1]),
		    "{\"event\":\"process.exit\",\"process\":7,\"status\":1,\"signal\":0,\"runtime_ns\":5}");
	assert_json(husk_exit_encode(&evs[3]),
		    "{\"event\":\"process.exit\",\"process\":3,\"status\":137,\"signal\":9}");
}

static void test_error_frame_encode(void **state)
{
	const char *p;
	size_t len;
	uint8_t *frame = frame_of(HUSK_FRAME_ERROR,
				  husk_error_frame_encode(EPROTO, "unknown frame type 9"), &p, &len);
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
	struct husk_err err = { 0 };
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
	struct husk_err err = { 0 };
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
	expect_streams_fail("{\"stdin\":1,\"stdout\":2}", EINVAL, "\"streams\": \"stderr\" is missing");
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
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":\"root\",\"gid\":0}}",
			    EINVAL, "\"process\": \"user\": \"uid\" must be an integer");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0}}", EINVAL,
			    "\"user\": \"gid\" is missing");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":4294967296}}",
			    ERANGE, "\"user\": \"gid\" is out of range");
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":\"1\",\"signal\":9}",
			    EINVAL, "\"process\" must be an integer");
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":1,\"signal\":\"KILL\"}",
			    EINVAL, "\"signal\" must be an integer");
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":1}", EINVAL,
			    "\"signal\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"rootfs\":"
			    "{\"tag\":\"t\",\"fstype\":\"9p\"}}",
			    EINVAL, "\"container\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"c\"}", EINVAL,
			    "\"rootfs\" is missing");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":\"/\"}",
			    EINVAL, "\"rootfs\" must be an object");
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
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\",\"path\":\"a/../../etc\"}", EINVAL,
			   "\"..\"");

	/* 31 characters is the longest tag. */
	static const char ok[] =
		"{\"id\":1,\"op\":\"container.create\",\"container\":\"c\",\"rootfs\":"
		"{\"tag\":\"abcdefghijabcdefghijabcdefghij1\",\"fstype\":\"virtiofs\"}}";
	struct husk_request r;
	struct husk_err err = { 0 };
	assert_int_equal(husk_request_decode(ok, sizeof ok - 1, &r, &err), 0);
	assert_int_equal(strlen(r.u.create.rootfs.tag), 31);
	assert_null(r.u.create.rootfs.path);
	husk_request_free(&r);
}

static void test_request_empty_args_relative_cwd(void **state)
{
	expect_process_fail("{\"args\":[],\"cwd\":\"/\"}", EINVAL,
			    "\"process\": \"args\" must name the program to run");
	expect_process_fail("{\"args\":[\"\"],\"cwd\":\"/\"}", EINVAL, "\"args\" must name the program");
	expect_process_fail("{\"cwd\":\"/\"}", EINVAL, "\"process\": \"args\" is missing");
	expect_process_fail("{\"args\":null,\"cwd\":\"/\"}", EINVAL, "\"args\" is missing");
	expect_process_fail("{\"args\":[\"sh\"]}", EINVAL, "\"process\": \"cwd\" is missing");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"srv\"}", EINVAL,
			    "\"cwd\" must be an absolute path, not \"srv\"");
	expect_process_fail("{\"args\":[\"sh\"],\"cwd\":\"\"}", EINVAL, "\"cwd\" must be an absolute path");
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
		expect_streams_fail(bad[i], EINVAL, "\"streams\" must be three distinct non-zero ids");
	expect_request_fail("{\"id\":1,\"op\":\"process.start\",\"container\":\"c\","
			    "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}}",
			    EINVAL, "\"streams\" is missing");
}

static void test_request_signal_range(void **state)
{
	static const char *const bad[] = { "0", "65", "-1", "9999999999", "-9223372036854775808" };
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json, "{\"id\":1,\"op\":\"process.signal\",\"process\":1,"
				     "\"signal\":%s}", bad[i]) > 0);
		expect_request_fail(json, ERANGE, "\"signal\" is out of range");
		free(json);
	}
	expect_request_fail("{\"id\":1,\"op\":\"process.signal\",\"process\":-1,\"signal\":9}",
			    ERANGE, "\"process\" is out of range");
}

static void test_request_embedded_nul(void **state)
{
	expect_request_fail("{\"id\":1,\"op\":\"ping\\u0000x\"}", EINVAL, "\"op\" contains a NUL byte");
	expect_request_fail("{\"id\":1,\"op\":\"container.create\",\"container\":\"a\\u0000b\","
			    "\"rootfs\":{\"tag\":\"t\",\"fstype\":\"9p\"}}",
			    EINVAL, "\"container\" contains a NUL byte");
	expect_rootfs_fail("{\"tag\":\"t\\u0000\",\"fstype\":\"9p\"}", EINVAL, "\"tag\" contains a NUL");
	expect_rootfs_fail("{\"tag\":\"t\",\"fstype\":\"9p\\u0000x\"}", EINVAL, "\"fstype\" contains");
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
	static const char *const bad[] = { "\"10\"", "{}", "7", "[-1]", "[4294967296]", "[\"1\"]",
					   "[1.5]", "[1,null]", "[true]" };
	char *json;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_true(asprintf(&json, "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
				     "\"gid\":1,\"additionalGids\":%s}}", bad[i]) > 0);
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
	assert_true(asprintf(&json, "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
			     "\"gid\":1,\"additionalGids\":%s}}", list) > 0);
	expect_process_fail(json, EINVAL, "\"additionalGids\" must be an array of at most 256");
	free(json);

	/* 256 and null are fine. */
	strcpy(strrchr(list, ','), "]");
	const char *const good[] = { list, "null", "[]" };
	for (size_t i = 0; i < 3; i++) {
		struct husk_request r;
		struct husk_err err = { 0 };
		assert_true(asprintf(&json, "{\"id\":9,\"op\":\"process.start\",\"container\":\"c\","
				     "\"streams\":{\"stdin\":1,\"stdout\":2,\"stderr\":3},"
				     "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":1,"
				     "\"gid\":2,\"additionalGids\":%s}}}", good[i]) > 0);
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
	struct husk_err err = { 0 };

	assert_int_equal(husk_request_decode(json, sizeof json - 1, &r, &err), 0);
	assert_int_equal(r.id, 12);
	assert_int_equal(r.op, HUSK_OP_PING);
	husk_request_free(&r);
}

/* ---- other decoders ---- */

static void expect_hello_fail(const char *json, int code, const char *words)
{
	struct husk_hello h;
	struct husk_err err = { 0 };
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
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":1}", EINVAL, "\"kernel\" is missing");
	expect_hello_fail("{\"protocol\":1,\"kernel\":\"k\"}", EINVAL, "\"agent_version\" is missing");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":0,\"kernel\":\"k\"}", ERANGE,
			  "\"protocol\" is out of range");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":\"1\",\"kernel\":\"k\"}", EINVAL,
			  "\"protocol\" must be an integer");
	expect_hello_fail("{\"agent_version\":1,\"protocol\":1,\"kernel\":\"k\"}", EINVAL,
			  "\"agent_version\" must be a string");
	expect_hello_fail("{\"agent_version\":\"1\",\"protocol\":1,\"kernel\":\"k\\u0000\"}", EINVAL,
			  "\"kernel\" contains a NUL byte");
	expect_hello_fail("[]", EBADMSG, "not a JSON object");
	expect_hello_fail("{", EBADMSG, "truncated");
}

static void expect_reply_fail(const char *json, int code, const char *words)
{
	struct husk_reply r;
	struct husk_err err = { 0 };
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
	free(copy);
}

static void test_reply_decode_errors(void **state)
{
	expect_reply_fail("{}", EINVAL, "\"id\" is missing");
	expect_reply_fail("{\"id\":1,\"error\":\"ENOENT\"}", EINVAL, "\"error\" must be an object");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":0,\"message\":\"m\"}}", ERANGE,
			  "\"error\": \"errno\" is out of range");
	expect_reply_fail("{\"id\":1,\"error\":{\"errno\":4096,\"message\":\"m\"}}", ERANGE, "errno");
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
	struct husk_err err = { 0 };
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
	expect_exit_fail("{\"process\":1,\"status\":0,\"signal\":0}", EINVAL, "\"event\" is missing");
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
	struct husk_err err = { 0 };
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
	char *args[] = { "a", NULL };
	struct husk_process p = { .args = args, .nargs = 1, .cwd = "/x",
				  .user = { .uid = 5, .gid = 6 } }, d;
	struct husk_err err = { 0 };
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
