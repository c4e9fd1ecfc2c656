/* Unit tests for the QMP client (host-tool/qmp.c): QEMU's side is the other
 * end of a socketpair; what QEMU says is fed in exact chunks
 * (husk_qmp_feed) or written to the socket for the loop to read. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../host-tool/qmp.h"
#include "husk-fdpass.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

#define GREETING                                                                                   \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "         \
	"\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\r\n"

struct rec {
	char what[8];  /* "ok" or "err" */
	int code;      /* the error's */
	char msg[512]; /* the error's, or the return value as JSON */
	void *data;
};

struct fx {
	uv_loop_t loop;
	struct husk_qmp q;
	int peer; /* QEMU's end */
	struct rec recs[32];
	int nrecs;
	char events[8][32];
	int nevents;
	/* what a callback does besides recording */
	bool close_in_cb;
	bool queue_in_cb;
	int queue_result;
	struct husk_err queue_err;
};

static void record(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
		   void *data)
{
	struct fx *f = q->data;
	assert_true(f->nrecs < 32);
	struct rec *r = &f->recs[f->nrecs++];
	r->data = data;
	if (err) {
		assert_null(ret);
		snprintf(r->what, sizeof r->what, "err");
		r->code = err->code;
		snprintf(r->msg, sizeof r->msg, "%s", err->msg);
	} else {
		snprintf(r->what, sizeof r->what, "ok");
		snprintf(r->msg, sizeof r->msg, "%s",
			 ret ? json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PLAIN)
			     : "NULL");
	}
	if (f->queue_in_cb) {
		f->queue_in_cb = false;
		f->queue_result = husk_qmp_command(q, "query-status", NULL, record, (void *)"inner",
						   &f->queue_err);
	}
	if (f->close_in_cb) {
		f->close_in_cb = false;
		husk_qmp_close(q);
	}
}

static void on_event(struct husk_qmp *q, const char *name, struct json_object *msg, void *data)
{
	struct fx *f = data;
	assert_ptr_equal(f, q->data);
	assert_non_null(msg);
	assert_true(f->nevents < 8);
	snprintf(f->events[f->nevents++], sizeof f->events[0], "%s", name);
}

static void spin(struct fx *f)
{
	for (int i = 0; i < 10; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Everything the client has written so far. */
static char *sent(struct fx *f)
{
	static char buf[1 << 17];
	size_t n = 0;
	spin(f);
	for (;;) {
		ssize_t r = read(f->peer, buf + n, sizeof buf - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return buf;
}

static void say(struct fx *f, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(write(f->peer, s, n), (ssize_t)n);
	spin(f);
}

static void feed(struct fx *f, const char *s, size_t chunk)
{
	size_t n = strlen(s);
	for (size_t off = 0; off < n; off += chunk)
		husk_qmp_feed(&f->q, s + off, n - off < chunk ? n - off : chunk);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	int sv[2];
	struct husk_err err;
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->peer = sv[1];
	fcntl(f->peer, F_SETFL, O_NONBLOCK);
	assert_int_equal(husk_qmp_init(&f->q, &f->loop, sv[0], &err), 0);
	f->q.on_event = on_event;
	f->q.data = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	husk_qmp_close(&f->q);
	uv_run(&f->loop, UV_RUN_DEFAULT); /* the close */
	assert_null(f->q.rbuf);
	if (f->peer >= 0)
		close(f->peer);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static int queue(struct fx *f, const char *cmd, const char *tag)
{
	struct husk_err err;
	int r = husk_qmp_command(&f->q, cmd, NULL, record, (void *)tag, &err);
	assert_int_equal(r, 0);
	return r;
}

/* Commands wait for the greeting and the capabilities; then they go out in
 * order and their replies come back in order, whatever the chunking. */
static void test_negotiation_and_order(void **state)
{
	struct fx *f = *state;
	queue(f, "query-status", "a");
	assert_string_equal(sent(f), "");
	feed(f, GREETING, 1);
	assert_int_equal(f->q.state, HUSK_QMP_NEGOTIATING);
	assert_string_equal(sent(f), "{\"execute\":\"qmp_capabilities\",\"id\":1}\n");
	queue(f, "stop", "b");
	assert_string_equal(sent(f), ""); /* still negotiating */
	feed(f, CAPS_OK, 3);
	assert_int_equal(f->q.state, HUSK_QMP_READY);
	assert_string_equal(sent(f), "{\"execute\":\"query-status\",\"id\":2}\n"
				     "{\"execute\":\"stop\",\"id\":3}\n");
	assert_int_equal(f->nrecs, 0);
	/* an event, a reply split across reads, an event, the next reply */
	const char *s =
	    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
	    "\"STOP\"}\r\n{\"return\": {\"status\": \"running\", \"singlestep\": false, "
	    "\"running\": true}, \"id\": 2}\r\n{\"event\": \"RESUME\"}\r\n{\"return\": {}, "
	    "\"id\": 3}\r\n";
	size_t n = strlen(s);
	husk_qmp_feed(&f->q, s, 70);
	assert_int_equal(f->nrecs, 0);
	assert_int_equal(f->nevents, 1);
	husk_qmp_feed(&f->q, s + 70, 5);
	assert_int_equal(f->nrecs, 0);
	husk_qmp_feed(&f->q, s + 75, n - 75);
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[0].what, "ok");
	assert_string_equal(f->recs[0].data, "a");
	assert_string_equal(f->recs[0].msg,
			    "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
	assert_string_equal(f->recs[1].what, "ok");
	assert_string_equal(f->recs[1].data, "b");
	assert_string_equal(f->recs[1].msg, "{}");
	assert_int_equal(f->nevents, 2);
	assert_string_equal(f->events[0], "STOP");
	assert_string_equal(f->events[1], "RESUME");
	/* ready: a new command goes out at once */
	queue(f, "cont", "c");
	assert_string_equal(sent(f), "{\"execute\":\"cont\",\"id\":4}\n");
}

/* The same through the socket and the loop's reads. */
static void test_over_the_socket(void **state)
{
	struct fx *f = *state;
	queue(f, "stop", "a");
	say(f, GREETING);
	assert_string_equal(sent(f), "{\"execute\":\"qmp_capabilities\",\"id\":1}\n");
	say(f, "{\"return\": {}, \"id\": 1}\r\n{\"event\": \"X\"}\r\n");
	assert_string_equal(sent(f), "{\"execute\":\"stop\",\"id\":2}\n");
	say(f, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
	       "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].what, "ok");
	assert_int_equal(f->nevents, 2);
}

/* getfd: the descriptor goes with the command's line (SCM_RIGHTS), a copy;
 * the caller keeps its own. */
static void test_command_with_a_descriptor(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	int p[2];
	assert_int_equal(pipe(p), 0);
	say(f, GREETING);
	say(f, CAPS_OK);
	sent(f);
	_cleanup_json_ struct json_object *args = json_tokener_parse("{\"fdname\":\"state\"}");
	assert_int_equal(husk_qmp_command_fd(&f->q, "getfd", args, p[1], record, "g", &err), 0);
	char line[256] = "";
	int fd = -1, nfd = 0;
	ssize_t n = husk_recv_fds(f->peer, line, sizeof line - 1, &fd, &nfd, 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_string_equal(line, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"state\"},"
				  "\"id\":2}\n");
	assert_int_equal(nfd, 1);
	/* the one passed is the same pipe: what goes in p[1] comes out p[0] */
	assert_int_equal(write(fd, "x", 1), 1);
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(fd);
	/* ours is still open */
	assert_int_equal(write(p[1], "y", 1), 1);
	close(p[0]);
	close(p[1]);
	say(f, "{\"return\": {}, \"id\": 2}\r\n");
	assert_int_equal(f->nrecs, 1);
	assert_string_equal(f->recs[0].what, "ok");
}

/* QEMU's error replies: its desc, EIO or ENOSYS; replies without an id
 * (QEMU's own parse errors) are taken in order. */
static void test_errors(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	feed(f, GREETING CAPS_OK, 4096);
	sent(f);
	queue(f, "no-such-command", "a");
	_cleanup_json_ struct json_object *args = json_object_new_object();
	json_object_object_add(args, "x", json_object_new_int(1));
	assert_int_equal(husk_qmp_command(&f->q, "cont", args, record, (void *)"b", &err), 0);
	queue(f, "cont", "c");
	assert_string_equal(sent(f), "{\"execute\":\"no-such-command\",\"id\":2}\n"
				     "{\"execute\":\"cont\",\"arguments\":{\"x\":1},\"id\":3}\n"
				     "{\"execute\":\"cont\",\"id\":4}\n");
	feed(f,
	     "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
	     "no-such-command has not been found\"}, \"id\": 2}\r\n"
	     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is "
	     "unexpected\"}, \"id\": 3}\r\n"
	     "{\"error\": {\"class\": \"GenericError\"}}\r\n",
	     7);
	assert_int_equal(f->nrecs, 3);
	assert_string_equal(f->recs[0].what, "err");
	assert_int_equal(f->recs[0].code, ENOSYS);
	assert_string_equal(f->recs[0].msg, "The command no-such-command has not been found");
	assert_string_equal(f->recs[1].what, "err");
	assert_int_equal(f->recs[1].code, EIO);
	assert_string_equal(f->recs[1].msg, "Parameter 'x' is unexpected");
	assert_int_equal(f->recs[2].code, EIO);
	assert_string_equal(f->recs[2].msg, "QEMU refused cont: GenericError");
	assert_int_equal(f->q.state, HUSK_QMP_READY); /* errors do not end the connection */
	/* arguments must be an object; commands a name */
	_cleanup_json_ struct json_object *arr = json_object_new_array();
	assert_int_equal(husk_qmp_command(&f->q, "cont", arr, record, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(husk_qmp_command(&f->q, "", NULL, record, NULL, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(f->nrecs, 3);
}

static void test_refused_capabilities(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	queue(f, "stop", "a");
	feed(f,
	     GREETING "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 1}\n",
	     9);
	assert_int_equal(f->nrecs, 1);
	assert_int_equal(f->recs[0].code, EPROTO);
	assert_string_equal(f->recs[0].msg, "QEMU refused qmp_capabilities: no");
	assert_int_equal(husk_qmp_command(&f->q, "stop", NULL, record, NULL, &err), -1);
	assert_string_equal(err.msg, "QEMU refused qmp_capabilities: no");
}

/* A line may be 64 KiB; one byte more closes the connection. */
static void test_line_limit(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	feed(f, GREETING CAPS_OK, 4096);
	sent(f);
	queue(f, "query-status", "a");
	queue(f, "stop", "b");
	/* exactly HUSK_QMP_LINE_MAX bytes before the newline: an event */
	static char line[HUSK_QMP_LINE_MAX + 16];
	const char *head = "{\"event\": \"BIG\", \"data\": \"";
	size_t n = strlen(head);
	memcpy(line, head, n);
	memset(line + n, 'x', HUSK_QMP_LINE_MAX - n - 2);
	memcpy(line + HUSK_QMP_LINE_MAX - 2, "\"}\n", 4);
	assert_int_equal(strlen(line), HUSK_QMP_LINE_MAX + 1);
	feed(f, line, 1000);
	assert_int_equal(f->nevents, 1);
	assert_string_equal(f->events[0], "BIG");
	assert_int_equal(f->q.state, HUSK_QMP_READY);
	/* half a reply, then a line one byte too long, fed in pieces */
	feed(f, "{\"return\": {}, \"id\": 2}\r\n{\"ret", 4096);
	assert_int_equal(f->nrecs, 1);
	line[HUSK_QMP_LINE_MAX - 2] = 'x';
	memcpy(line + HUSK_QMP_LINE_MAX - 1, "\"}\n", 4);
	feed(f, line + 5, 777); /* 5 bytes are already in */
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[1].data, "b");
	assert_int_equal(f->recs[1].code, EMSGSIZE);
	assert_contains(f->recs[1].msg, "over 64 KiB");
	assert_int_equal(f->q.state, HUSK_QMP_DEAD);
	assert_int_equal(husk_qmp_feed(&f->q, "{}\n", 3), -1);
	assert_int_equal(husk_qmp_command(&f->q, "stop", NULL, record, NULL, &err), -1);
	assert_contains(err.msg, "over 64 KiB");
	assert_int_equal(f->nrecs, 2);
}

/* QEMU going away fails every pending command, and later ones. */
static void test_eof(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	queue(f, "stop", "a");
	say(f, GREETING CAPS_OK);
	queue(f, "cont", "b");
	assert_string_equal(sent(f), "{\"execute\":\"qmp_capabilities\",\"id\":1}\n"
				     "{\"execute\":\"stop\",\"id\":2}\n"
				     "{\"execute\":\"cont\",\"id\":3}\n");
	say(f, "{\"return\": {}, \"id\": 2}\r\n{\"return\"");
	assert_int_equal(f->nrecs, 1);
	close(f->peer);
	f->peer = -1;
	spin(f);
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[1].data, "b");
	assert_int_equal(f->recs[1].code, ECONNRESET);
	assert_string_equal(f->recs[1].msg, "QEMU's monitor closed");
	assert_int_equal(husk_qmp_command(&f->q, "stop", NULL, record, NULL, &err), -1);
	assert_string_equal(err.msg, "QEMU's monitor closed");
	assert_int_equal(err.code, ECONNRESET);
}

/* Closing fails what is pending, queued or sent; callbacks may not queue. */
static void test_close(void **state)
{
	struct fx *f = *state;
	struct husk_err err;
	queue(f, "stop", "a");
	feed(f, GREETING, 4096);
	queue(f, "cont", "b");
	f->queue_in_cb = true;
	husk_qmp_close(&f->q);
	assert_int_equal(f->q.state, HUSK_QMP_CLOSED);
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[0].data, "a");
	assert_string_equal(f->recs[0].msg, "QEMU's monitor closed");
	assert_string_equal(f->recs[1].data, "b");
	assert_int_equal(f->queue_result, -1);
	assert_string_equal(f->queue_err.msg, "QEMU's monitor closed");
	husk_qmp_close(&f->q); /* again: nothing */
	assert_int_equal(f->nrecs, 2);
	assert_int_equal(husk_qmp_command(&f->q, "stop", NULL, record, NULL, &err), -1);
	assert_int_equal(husk_qmp_feed(&f->q, CAPS_OK, strlen(CAPS_OK)), -1);
	assert_int_equal(f->nrecs, 2);
}

/* A callback may close: the replies after it in the same read are not
 * handed out, the commands still pending fail. */
static void test_close_in_callback(void **state)
{
	struct fx *f = *state;
	feed(f, GREETING CAPS_OK, 4096);
	queue(f, "query-status", "a");
	queue(f, "stop", "b");
	queue(f, "cont", "c");
	f->close_in_cb = true;
	feed(f, "{\"return\": {}, \"id\": 2}\n{\"return\": {}, \"id\": 3}\n", 4096);
	assert_int_equal(f->nrecs, 3);
	assert_string_equal(f->recs[0].what, "ok");
	assert_string_equal(f->recs[1].what, "err");
	assert_string_equal(f->recs[1].data, "b");
	assert_string_equal(f->recs[2].data, "c");
	assert_string_equal(f->recs[2].msg, "QEMU's monitor closed");
}

/* A callback may queue the next command. */
static void test_queue_in_callback(void **state)
{
	struct fx *f = *state;
	feed(f, GREETING CAPS_OK, 4096);
	queue(f, "stop", "a");
	sent(f);
	f->queue_in_cb = true;
	feed(f, "{\"return\": {}, \"id\": 2}\n", 4096);
	assert_int_equal(f->queue_result, 0);
	assert_string_equal(sent(f), "{\"execute\":\"query-status\",\"id\":3}\n");
	feed(f, "{\"return\": {\"status\": \"paused\"}, \"id\": 3}\n", 4096);
	assert_int_equal(f->nrecs, 2);
	assert_string_equal(f->recs[1].data, "inner");
	assert_string_equal(f->recs[1].msg, "{\"status\":\"paused\"}");
}

/* What QEMU never says ends the connection. */
static void test_protocol_errors(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
	    {"{\"return\": {}}\n", "answered a command husk did not send"},
	    {"not json\n", "is not valid JSON"},
	    {"[1]\n", "is not a JSON object"},
	    {GREETING GREETING, "greeted twice"},
	    {GREETING CAPS_OK "{\"return\": {}, \"id\": 7}\n",
	     "answered query-status (id 2) with id 7"},
	    {GREETING CAPS_OK "{\"return\": {}, \"id\": \"2\"}\n", "with id \"2\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct husk_err err;
		int sv[2];
		husk_qmp_close(&f->q);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		f->nrecs = 0;
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		close(f->peer);
		f->peer = sv[1];
		fcntl(f->peer, F_SETFL, O_NONBLOCK);
		assert_int_equal(husk_qmp_init(&f->q, &f->loop, sv[0], &err), 0);
		f->q.data = f;
		if (i >= 3)
			queue(f, "query-status", "a");
		feed(f, cases[i].in, 5);
		assert_int_equal(f->q.state, HUSK_QMP_DEAD);
		assert_int_equal(husk_qmp_command(&f->q, "stop", NULL, record, NULL, &err), -1);
		assert_int_equal(err.code, EPROTO);
		assert_contains(err.msg, cases[i].msg);
		if (i >= 4) {
			assert_int_equal(f->nrecs, 1);
			assert_contains(f->recs[0].msg, cases[i].msg);
		}
	}
}

/* Lines QEMU does send but no command wants: blank, unknown. */
static void test_skipped(void **state)
{
	struct fx *f = *state;
	feed(f, "\r\n\n   \r\n" GREETING "{\"something\": 1}\n" CAPS_OK, 2);
	assert_int_equal(f->q.state, HUSK_QMP_READY);
	assert_int_equal(f->nrecs, 0);
}

static void test_init_bad_fd(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct husk_qmp q;
	struct husk_err err;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(husk_qmp_init(&q, &loop, -1, &err), -1);
	assert_int_equal(err.code, EBADF);
	husk_qmp_close(&q);
	/* not a descriptor at all: the handle is closed in the loop */
	assert_int_equal(husk_qmp_init(&q, &loop, 1000, &err), -1);
	assert_contains(err.msg, "cannot watch QEMU's monitor");
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_null(q.rbuf);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_negotiation_and_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_over_the_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_with_a_descriptor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protocol_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped, setup, teardown),
	    cmocka_unit_test(test_init_bad_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
