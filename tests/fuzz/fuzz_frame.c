/* libFuzzer target: the input is a byte stream read by a receiver. Frames are
 * parsed, bad headers resynced, and control payloads decoded by type;
 * decoded messages are re-encoded and must decode to the same thing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-proto.h"

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool strv_eq(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return (!a || !a[na]) && (!b || !b[nb]);
}

static bool process_eq(const struct husk_process *a, const struct husk_process *b)
{
	return strv_eq(a->args, a->nargs, b->args, b->nargs) &&
	       strv_eq(a->env, a->nenv, b->env, b->nenv) && str_eq(a->cwd, b->cwd) &&
	       a->user.uid == b->user.uid && a->user.gid == b->user.gid &&
	       a->user.ngids == b->user.ngids &&
	       (!a->user.ngids ||
		!memcmp(a->user.gids, b->user.gids, a->user.ngids * sizeof *a->user.gids)) &&
	       a->terminal == b->terminal && a->rows == b->rows && a->cols == b->cols;
}

static bool request_eq(const struct husk_request *a, const struct husk_request *b)
{
	if (a->id != b->id || a->op != b->op || !str_eq(a->op_name, b->op_name))
		return false;
	switch (a->op) {
	case HUSK_OP_CONTAINER_CREATE:
		/* An absent path is sent as "". */
		return str_eq(a->u.create.id, b->u.create.id) &&
		       str_eq(a->u.create.rootfs.tag, b->u.create.rootfs.tag) &&
		       str_eq(a->u.create.rootfs.fstype, b->u.create.rootfs.fstype) &&
		       str_eq(a->u.create.rootfs.path ? a->u.create.rootfs.path : "",
			      b->u.create.rootfs.path) &&
		       a->u.create.rootfs.readonly == b->u.create.rootfs.readonly &&
		       str_eq(a->u.create.hostname, b->u.create.hostname) &&
		       str_eq(a->u.create.sandbox, b->u.create.sandbox);
	case HUSK_OP_PROCESS_START:
		return str_eq(a->u.start.container, b->u.start.container) &&
		       process_eq(&a->u.start.process, &b->u.start.process) &&
		       !memcmp(&a->u.start.streams, &b->u.start.streams, sizeof a->u.start.streams);
	case HUSK_OP_PROCESS_SIGNAL:
		return a->u.signal.process == b->u.signal.process &&
		       a->u.signal.signal == b->u.signal.signal &&
		       a->u.signal.all == b->u.signal.all;
	case HUSK_OP_PROCESS_RESIZE:
		return a->u.resize.process == b->u.resize.process &&
		       a->u.resize.rows == b->u.resize.rows && a->u.resize.cols == b->u.resize.cols;
	case HUSK_OP_CONTAINER_PS:
	case HUSK_OP_CONTAINER_DELETE: return str_eq(a->u.ps.container, b->u.ps.container);
	case HUSK_OP_VM_RESTORE:
		return a->u.restore.nentropy == b->u.restore.nentropy &&
		       !memcmp(a->u.restore.entropy, b->u.restore.entropy, a->u.restore.nentropy) &&
		       a->u.restore.time_ns == b->u.restore.time_ns;
	case HUSK_OP_NETWORK_CONFIGURE:
		return json_object_equal(a->u.net.network, b->u.net.network);
	case HUSK_OP_CONTAINER_UPDATE:
		return str_eq(a->u.update.container, b->u.update.container) &&
		       json_object_equal(a->u.update.resources, b->u.update.resources);
	case HUSK_OP_PING:
	case HUSK_OP_SHUTDOWN: return true;
	case HUSK_OP_UNKNOWN:
		break; /* never decoded; a new op without a case here fails -Wswitch */
	}
	return false;
}

/* Serializes o the way husk_frame_json() does; the frame itself is checked
 * too when it fits. Returns a malloc'd copy of the JSON text. */
static char *serialize(uint16_t type, struct json_object *o, size_t *len)
{
	struct husk_frame_hdr hdr;
	struct husk_err err = {0};
	uint8_t *frame = NULL;
	const char *s;
	char *copy;
	int64_t n;

	check(o);
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, len);
	check(s);
	copy = malloc(*len ? *len : 1);
	check(copy);
	memcpy(copy, s, *len);

	n = husk_frame_json(type, o, &frame, &err);
	if (*len > HUSK_FRAME_MAX_PAYLOAD) {
		check(n == -1 && !frame);
	} else {
		check(n == (int64_t)(HUSK_FRAME_HDR + *len));
		check(husk_frame_parse(frame, (size_t)n, &hdr, &err) == HUSK_PARSE_FRAME);
		check(hdr.type == type && hdr.stream == 0 && hdr.length == *len);
		check(!memcmp(frame + HUSK_FRAME_HDR, copy, *len));
	}
	free(frame);
	json_object_put(o);
	return copy;
}

static void on_request(const char *p, size_t len)
{
	struct husk_request r, again;
	struct husk_err err = {0};
	uint32_t peek = husk_request_peek_id(p, len);
	size_t n;
	char *text;

	if (husk_request_decode(p, len, &r, &err) < 0) {
		check(err.code != 0 && err.msg[0]);
		check(r.op_name == NULL && r.id == 0);
		return;
	}
	check(r.id != 0 && peek == r.id);
	check(r.op != HUSK_OP_UNKNOWN && str_eq(r.op_name, husk_op_name(r.op)));

	text = serialize(HUSK_FRAME_REQUEST, husk_request_encode(&r), &n);
	if (husk_request_decode(text, n, &again, &err) < 0) {
		fprintf(stderr, "re-encoded request does not decode: %s\n%.*s\n", err.msg, (int)n,
			text);
		abort();
	}
	check(request_eq(&r, &again));
	check(husk_request_peek_id(text, n) == r.id);
	husk_request_free(&again);
	husk_request_free(&r);
	free(text);
}

static void on_reply(const char *p, size_t len)
{
	struct husk_reply r, again;
	struct husk_err err = {0};
	size_t n;
	char *text;

	if (husk_reply_decode(p, len, &r, &err) < 0) {
		check(err.code != 0 && !r.message && r.pid == -1 && !r.pids && !r.has_pids);
		return;
	}
	check(r.err_code == 0 || (r.err_code >= 1 && r.err_code <= 4095 && r.message));
	/* A decoded pids array is allocated, bounded and holds valid pids. */
	check(r.has_pids ? r.pids != NULL && r.npids <= 65536 : !r.pids && !r.npids);
	for (size_t i = 0; i < r.npids; i++)
		check(r.pids[i] >= 1);
	text = serialize(HUSK_FRAME_REPLY, husk_reply_encode(&r), &n);
	if (husk_reply_decode(text, n, &again, &err) < 0) {
		fprintf(stderr, "re-encoded reply does not decode: %s\n%.*s\n", err.msg, (int)n,
			text);
		abort();
	}
	check(again.id == r.id && again.err_code == r.err_code && again.status == r.status);
	check(str_eq(again.message, r.message));
	check(r.err_code ? again.pid == -1 : again.pid == r.pid);
	/* pids survive a success reply, empty array included; an error drops them. */
	if (r.err_code)
		check(!again.has_pids && !again.pids && !again.npids);
	else
		check(again.has_pids == r.has_pids && again.npids == r.npids &&
		      (!r.npids || !memcmp(again.pids, r.pids, r.npids * sizeof *r.pids)));
	husk_reply_free(&again);
	husk_reply_free(&r);
	free(text);
}

static void on_hello(const char *p, size_t len)
{
	struct husk_hello h, again;
	struct husk_err err = {0};
	size_t n;
	char *text;

	if (husk_hello_decode(p, len, &h, &err) < 0) {
		check(err.code != 0 && !h.agent_version && !h.kernel_release);
		return;
	}
	check(h.protocol >= 1);
	text = serialize(HUSK_FRAME_HELLO, husk_hello_encode(&h), &n);
	check(husk_hello_decode(text, n, &again, &err) == 0);
	check(str_eq(h.agent_version, again.agent_version));
	check(str_eq(h.kernel_release, again.kernel_release));
	check(h.protocol == again.protocol);
	husk_hello_free(&again);
	husk_hello_free(&h);
	free(text);
}

static void on_event(const char *p, size_t len)
{
	struct husk_exit_event e, again;
	struct husk_err err = {0};
	size_t n;
	char *text;

	if (husk_exit_decode(p, len, &e, &err) < 0) {
		check(err.code != 0);
		return;
	}
	check(e.status >= 0 && e.status <= 255 && e.signal >= 0 && e.signal <= 64);
	check(e.runtime_ns >= 0);
	text = serialize(HUSK_FRAME_EVENT, husk_exit_encode(&e), &n);
	check(husk_exit_decode(text, n, &again, &err) == 0);
	check(!memcmp(&e, &again, sizeof e));
	free(text);
}

static void on_frame(const struct husk_frame_hdr *hdr, const uint8_t *payload)
{
	/* A private exact-size copy, so ASan sees any read past the payload. */
	char *p = malloc(hdr->length ? hdr->length : 1);

	check(p);
	memcpy(p, payload, hdr->length);
	switch (hdr->type) {
	case HUSK_FRAME_REQUEST: on_request(p, hdr->length); break;
	case HUSK_FRAME_REPLY: on_reply(p, hdr->length); break;
	case HUSK_FRAME_HELLO: on_hello(p, hdr->length); break;
	case HUSK_FRAME_EVENT: on_event(p, hdr->length); break;
	case HUSK_FRAME_DATA: check(hdr->stream != 0 && hdr->length <= HUSK_DATA_MAX); break;
	case HUSK_FRAME_WINDOW:
		check(hdr->stream != 0 && hdr->length == 4 && husk_get_be32(payload) != 0);
		break;
	case HUSK_FRAME_CLOSE: check(hdr->stream != 0 && hdr->length == 0); break;
	case HUSK_FRAME_ERROR: check(hdr->stream == 0); break;
	default: check(!"parser accepted an unknown frame type");
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		const uint8_t *buf = data + off;
		size_t len = size - off;
		struct husk_frame_hdr hdr;
		struct husk_err err = {0};
		int rc = husk_frame_parse(buf, len, &hdr, &err);

		if (rc == HUSK_PARSE_NEED_MORE) {
			check(err.code == 0);
			break; /* a receiver waits for more bytes */
		}
		if (rc == HUSK_PARSE_BAD) {
			size_t skip = husk_frame_resync(buf, len);

			check(err.code != 0 && err.msg[0]);
			check(skip >= 1 && skip <= len);
			/* We skip to a magic, or the last byte is a lone 'H'. */
			check(skip == len || buf[skip] == 'H');
			off += skip;
			continue;
		}
		check(rc == HUSK_PARSE_FRAME);
		check(husk_frame_type_name(hdr.type) != NULL);
		check(hdr.length <= HUSK_FRAME_MAX_PAYLOAD);
		check(len >= HUSK_FRAME_HDR + (size_t)hdr.length);
		/* A shorter prefix of a frame is incomplete: check the header
		 * prefixes and the last two payload cuts. */
		size_t total = HUSK_FRAME_HDR + hdr.length;
		for (size_t cut = 0; cut < total; cut++) {
			struct husk_frame_hdr h2;

			if (cut == HUSK_FRAME_HDR + 1 && total > HUSK_FRAME_HDR + 3)
				cut = total - 2;
			check(husk_frame_parse(buf, cut, &h2, &err) == HUSK_PARSE_NEED_MORE);
		}
		on_frame(&hdr, buf + HUSK_FRAME_HDR);
		off += HUSK_FRAME_HDR + hdr.length;
	}
	return 0;
}
