/* Fault injection for the integration tests (tests/integration/test_faults.py,
 * test_hostile_agent.py): raw bytes onto the agent's channel, a host that
 * drops the channel in the middle of a frame and connects again, and a
 * hostile agent: frames fed to the session as if the agent had sent them
 * ("as":"agent"), made up here where a test could not send that many.
 * Built only into the test build of husk
 * (build/test/husk, HUSK_TEST_BUILD), and there off unless the proxy started
 * with HUSK_TEST_HOOKS=1; then ctl.sock accepts "inject" and "reconnect".
 * It uses nothing but the session's public calls.
 * With "hold", reconnect leaves the channel closed until the next reconnect,
 * so a test can wait until the agent has seen the port close (a quick
 * reconnect may come before the guest notices). Frames the proxy sends while
 * the channel is down are lost: use it on an idle channel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "session.h"
#include "testhooks.h"

struct hook {
	struct husk_session *s;
	uint8_t *buf;
	bool reconnect, hold;
	husk_hook_cb cb;
	void *data;
};

static bool held; /* the channel is closed until the next reconnect */

bool husk_test_hooks(void)
{
	static int on = -1;
	if (on < 0) {
		const char *v = getenv("HUSK_TEST_HOOKS");
		on = v && !strcmp(v, "1");
	}
	return on;
}

static int b64_value(int c)
{
	static const char set[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(set, c) : NULL;
	return p ? (int)(p - set) : -1;
}

/* Standard base64 with padding; *out is malloc'd (at least 1 byte). */
static int b64_decode(const char *in, uint8_t **out, size_t *len, struct husk_err *err)
{
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (n % 4)
		return husk_err_set(err, EINVAL, "base64 length %zu is not a multiple of 4", n);
	if (!(*out = malloc(n / 4 * 3 + 1)))
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(in[i]);
		if (in[i] == '=' && i >= n - 2)
			break;
		if (v < 0) {
			free(*out);
			*out = NULL;
			return husk_err_set(err, EINVAL, "bad base64 character at %zu", i);
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			(*out)[o++] = (uint8_t)(acc >> bits);
		}
	}
	*len = o;
	return 0;
}

static void hook_free(struct hook *k)
{
	free(k->buf);
	free(k);
}

static void hook_done(struct hook *k, const struct husk_err *err)
{
	k->cb(k->s, err, k->data);
	hook_free(k);
}

static void connect_again(struct hook *k)
{
	struct husk_session *s = k->s;
	struct husk_err err;
	held = false;
	if (husk_session_reconnect(s, &err) < 0) {
		/* the proxy can no longer reach its VM */
		hook_done(k, &err);
		if (s->ops->lost)
			s->ops->lost(s, &err);
		return;
	}
	log_info("test hook: reconnected to the agent's port");
	hook_done(k, NULL);
}

static void chan_dropped(struct husk_session *s, int status, void *data)
{
	struct hook *k = data;
	if (!k->hold) {
		connect_again(k);
		return;
	}
	held = true;
	log_info("test hook: the agent's port stays closed until the next reconnect");
	hook_done(k, NULL);
}

static void written(struct husk_session *s, int status, void *data)
{
	struct hook *k = data;
	struct husk_err err;
	if (status < 0) {
		husk_err_set(&err, EIO, "cannot write to the agent's channel: %s",
			     uv_strerror(status));
		hook_done(k, &err);
	} else if (k->reconnect) {
		husk_session_disconnect(s, chan_dropped, k);
	} else {
		hook_done(k, NULL);
	}
}

static int hook_bytes(struct json_object *req, bool reconnect, struct hook *k, size_t *len,
		      struct husk_err *err)
{
	struct json_object *v = NULL;
	const char *field = reconnect ? "after" : "data";
	*len = 0;
	if (!json_object_object_get_ex(req, field, &v) || !v)
		return reconnect ? 0 : husk_err_set(err, EINVAL, "\"inject\" needs \"data\"");
	if (!json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "\"%s\" must be a base64 string", field);
	if (b64_decode(json_object_get_string(v), &k->buf, len, err) < 0)
		return -1;
	if (!*len && !reconnect)
		return husk_err_set(err, EINVAL, "nothing to inject");
	return 0;
}

/* ---- a hostile agent ---- */

enum hostile_kind {
	H_RAW,		   /* the request's "data", as is */
	H_DATA_FLOOD,	   /* DATA of "frame" bytes on "stream", "bytes" in all */
	H_EMPTY_DATA,	   /* "count" empty DATA frames on "stream" */
	H_ERROR_FLOOD,	   /* "count" ERROR frames */
	H_UNKNOWN_EXIT,	   /* an exit event for "process" */
	H_UNKNOWN_REPLY,   /* a REPLY to request "id" */
	H_UNKNOWN_STREAM,  /* DATA on "stream" */
	H_OVERSIZED_JSON,  /* a REPLY of "bytes" (past HUSK_FRAME_MAX_PAYLOAD) */
	H_OVERSIZED_EVENT, /* an exit EVENT of "bytes" of valid JSON */
	H_WINDOW_FLOOD,	   /* a WINDOW of 2^32-1 on stdin "stream" */
	H_CONSOLE_FLOOD,   /* "bytes" of lines on the console */
};

static const struct {
	const char *name;
	enum hostile_kind kind;
	uint32_t stream;
	uint64_t bytes, count;
} kinds[] = {
    {"data-flood", H_DATA_FLOOD, 2, 16u << 20, 0},
    {"empty-data-flood", H_EMPTY_DATA, 2, 0, 100000},
    {"error-flood", H_ERROR_FLOOD, 0, 0, 200000},
    {"unknown-exit", H_UNKNOWN_EXIT, 0, 0, 1},
    {"unknown-reply", H_UNKNOWN_REPLY, 0, 0, 1},
    {"unknown-stream", H_UNKNOWN_STREAM, 0x40000000u, 0, 1},
    {"oversized-json", H_OVERSIZED_JSON, 0, 2u << 20, 1},
    {"oversized-event", H_OVERSIZED_EVENT, 0, 64u << 10, 1},
    {"window-flood", H_WINDOW_FLOOD, 1, 0, 1},
    {"console-flood", H_CONSOLE_FLOOD, 0, 8u << 20, 0},
};

struct hostile {
	uv_timer_t timer;
	struct husk_session *s;
	enum hostile_kind kind;
	uint32_t stream, process, id, frame;
	uint64_t bytes, count; /* what is still to come */
	uint64_t per_tick;     /* 0: everything at once */
	unsigned interval_ms;
	uint64_t sent; /* frames so far */
	uint8_t *raw;  /* H_RAW */
	size_t raw_len;
	bool started; /* an oversized frame's header is out */
};

#define FILL_CAP (HUSK_FRAME_HDR + HUSK_DATA_MAX)

static size_t put_frame(uint8_t *out, uint16_t type, uint32_t stream, const void *p, size_t len)
{
	husk_frame_encode_hdr(out, type, stream, (uint32_t)len);
	if (len)
		memcpy(out + HUSK_FRAME_HDR, p, len);
	return HUSK_FRAME_HDR + len;
}

/* The next bytes of the attack into out (FILL_CAP bytes): whole frames but
 * for an oversized one; 0 once it is all out. */
static size_t hostile_fill(struct hostile *h, uint8_t *out)
{
	char json[256];
	size_t n = 0, len;
	switch (h->kind) {
	case H_RAW: return 0;
	case H_DATA_FLOOD:
		if (!h->bytes)
			return 0;
		len = h->bytes < h->frame ? h->bytes : h->frame;
		husk_frame_encode_hdr(out, HUSK_FRAME_DATA, h->stream, (uint32_t)len);
		memset(out + HUSK_FRAME_HDR, 'x', len);
		h->bytes -= len;
		return HUSK_FRAME_HDR + len;
	case H_EMPTY_DATA:
	case H_ERROR_FLOOD:
		while (h->count && n + HUSK_FRAME_HDR + sizeof json <= FILL_CAP) {
			if (h->kind == H_EMPTY_DATA) {
				n += put_frame(out + n, HUSK_FRAME_DATA, h->stream, NULL, 0);
			} else {
				len =
				    (size_t)snprintf(json, sizeof json,
						     "{\"error\":{\"errno\":71,\"code\":\"EPROTO\","
						     "\"message\":\"hostile frame %llu\"}}",
						     (unsigned long long)h->sent);
				n += put_frame(out + n, HUSK_FRAME_ERROR, 0, json, len);
			}
			h->count--;
			h->sent++;
		}
		return n;
	case H_UNKNOWN_EXIT:
	case H_UNKNOWN_REPLY:
	case H_UNKNOWN_STREAM:
	case H_WINDOW_FLOOD:
		if (!h->count)
			return 0;
		h->count = 0;
		if (h->kind == H_UNKNOWN_EXIT) {
			len = (size_t)snprintf(json, sizeof json,
					       "{\"event\":\"process.exit\",\"process\":%u,"
					       "\"status\":0,\"signal\":0}",
					       h->process);
			return put_frame(out, HUSK_FRAME_EVENT, 0, json, len);
		}
		if (h->kind == H_UNKNOWN_REPLY) {
			len = (size_t)snprintf(json, sizeof json, "{\"id\":%u}", h->id);
			return put_frame(out, HUSK_FRAME_REPLY, 0, json, len);
		}
		if (h->kind == H_UNKNOWN_STREAM)
			return put_frame(out, HUSK_FRAME_DATA, h->stream, "hello", 5);
		husk_put_be32((uint8_t *)json, UINT32_MAX);
		return put_frame(out, HUSK_FRAME_WINDOW, h->stream, json, 4);
	case H_OVERSIZED_JSON:
	case H_OVERSIZED_EVENT:
		if (!h->bytes)
			return 0;
		if (!h->started) {
			h->started = true;
			husk_frame_encode_hdr(
			    out, h->kind == H_OVERSIZED_JSON ? HUSK_FRAME_REPLY : HUSK_FRAME_EVENT,
			    0, (uint32_t)h->bytes);
			n = HUSK_FRAME_HDR;
			/* valid JSON all along: an exit event with a long member */
			n += (size_t)snprintf((char *)out + n, FILL_CAP - n,
					      "{\"event\":\"process.exit\",\"process\":1,"
					      "\"status\":0,\"signal\":0,\"id\":1,\"pad\":\"");
			h->bytes -= n - HUSK_FRAME_HDR;
		}
		len = FILL_CAP - n < h->bytes ? FILL_CAP - n : h->bytes;
		memset(out + n, 'x', len);
		h->bytes -= len;
		n += len;
		if (!h->bytes && len >= 2)
			memcpy(out + n - 2, "\"}", 2);
		return n;
	case H_CONSOLE_FLOOD:
		if (!h->bytes)
			return 0;
		for (; n + 81 <= FILL_CAP && n < h->bytes; h->sent++)
			n += (size_t)snprintf((char *)out + n, 81, "%-71llu hostile\n",
					      (unsigned long long)h->sent);
		if (n > h->bytes)
			n = h->bytes;
		h->bytes -= n;
		return n;
	}
	return 0;
}

static void hostile_closed(uv_handle_t *t)
{
	struct hostile *h = t->data;
	free(h->raw);
	free(h);
}

static void hostile_tick(uv_timer_t *t)
{
	struct hostile *h = t->data;
	struct husk_session *s = h->s;
	uint64_t fed = 0;
	size_t n;
	/* never in the middle of one of the agent's own frames */
	if (s->rlen && !h->started) {
		uv_timer_start(&h->timer, hostile_tick, h->interval_ms, 0);
		return;
	}
	if (h->kind == H_RAW) {
		husk_session_feed(s, h->raw, h->raw_len);
		uv_close((uv_handle_t *)&h->timer, hostile_closed);
		return;
	}
	uint8_t *buf = malloc(FILL_CAP);
	if (!buf) {
		log_error("test hook: out of memory");
		uv_close((uv_handle_t *)&h->timer, hostile_closed);
		return;
	}
	while (!s->broken && (!h->per_tick || fed < h->per_tick) && (n = hostile_fill(h, buf))) {
		if (h->kind == H_CONSOLE_FLOOD)
			husk_session_console_feed(s, buf, n);
		else
			husk_session_feed(s, buf, n);
		fed += n;
	}
	free(buf);
	if (s->broken || !fed) {
		log_info("test hook: the hostile agent is done%s",
			 s->broken ? " (the session broke)" : "");
		uv_close((uv_handle_t *)&h->timer, hostile_closed);
		return;
	}
	uv_timer_start(&h->timer, hostile_tick, h->interval_ms, 0);
}

static int64_t int_param(struct json_object *req, const char *key, int64_t dflt, int64_t min,
			 int64_t max, struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(req, key, &v) || !v)
		return dflt;
	errno = 0;
	int64_t n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || errno || n < min || n > max)
		return husk_err_set(err, EINVAL, "\"%s\" must be an integer from %lld to %lld", key,
				    (long long)min, (long long)max);
	return n;
}

/* {"op":"inject","as":"agent", "data":base64 | "hostile":kind, ...}: fed to
 * the session from a timer, after the reply: the attack may end the proxy. */
static int hostile_start(struct husk_session *s, struct json_object *req, struct husk_err *err)
{
	struct json_object *v;
	const char *kind =
	    json_object_object_get_ex(req, "hostile", &v) && v ? json_object_get_string(v) : NULL;
	struct hostile *h = calloc(1, sizeof *h);
	size_t i = 0;
	if (!h)
		return husk_err_set(err, ENOMEM, "out of memory");
	h->s = s;
	if (!kind) {
		struct hook k = {0};
		if (hook_bytes(req, false, &k, &h->raw_len, err) < 0) {
			free(h);
			return -1;
		}
		h->raw = k.buf;
		h->kind = H_RAW;
	} else {
		for (; i < sizeof kinds / sizeof kinds[0] && strcmp(kinds[i].name, kind); i++)
			;
		if (i == sizeof kinds / sizeof kinds[0]) {
			free(h);
			return husk_err_set(err, EINVAL, "unknown hostile agent \"%s\"", kind);
		}
		int64_t stream, bytes, count, frame, per_tick, interval, process, id;
		h->kind = kinds[i].kind;
		if ((stream = int_param(req, "stream", kinds[i].stream, 1, UINT32_MAX, err)) < 0 ||
		    (bytes = int_param(req, "bytes", kinds[i].bytes, 2, INT64_MAX, err)) < 0 ||
		    (count = int_param(req, "count", kinds[i].count, 0, INT64_MAX, err)) < 0 ||
		    (frame = int_param(req, "frame", 64 << 10, 1, HUSK_DATA_MAX, err)) < 0 ||
		    (per_tick = int_param(req, "per_tick", 0, 0, INT64_MAX, err)) < 0 ||
		    (interval = int_param(req, "interval_ms", 10, 0, 60000, err)) < 0 ||
		    (process = int_param(req, "process", 0x40000000, 1, UINT32_MAX, err)) < 0 ||
		    (id = int_param(req, "id", 4000000000, 1, UINT32_MAX, err)) < 0) {
			free(h);
			return -1;
		}
		if ((h->kind == H_OVERSIZED_JSON || h->kind == H_OVERSIZED_EVENT) &&
		    (bytes < 128 || bytes > UINT32_MAX)) {
			free(h);
			return husk_err_set(err, EINVAL, "\"bytes\" must be from 128 to %u",
					    UINT32_MAX);
		}
		h->stream = (uint32_t)stream;
		h->bytes = (uint64_t)bytes;
		h->count = (uint64_t)count;
		h->frame = (uint32_t)frame;
		h->per_tick = (uint64_t)per_tick;
		h->interval_ms = (unsigned)interval;
		h->process = (uint32_t)process;
		h->id = (uint32_t)id;
	}
	uv_timer_init(s->loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, hostile_tick, 0, 0);
	log_info("test hook: a hostile agent: %s", kind ? kind : "raw bytes");
	return 0;
}

int husk_test_hook(struct husk_session *s, const char *op, struct json_object *req, husk_hook_cb cb,
		   void *data, struct husk_err *err)
{
	struct json_object *v;
	size_t len;
	if (!husk_test_hooks())
		return husk_err_set(
		    err, EPERM,
		    "\"%s\" is a test hook, off unless the container's proxy started "
		    "with HUSK_TEST_HOOKS=1",
		    op);
	if (!husk_session_connected(s) && !held)
		return husk_err_set(err, EBUSY, "a reconnect is under way");
	if (!strcmp(op, "inject") && json_object_object_get_ex(req, "as", &v) && v) {
		if (strcmp(json_object_get_string(v), "agent"))
			return husk_err_set(err, EINVAL, "\"as\" can only be \"agent\"");
		if (held)
			return husk_err_set(err, ENOTCONN,
					    "the channel is held closed: reconnect first");
		if (hostile_start(s, req, err) < 0)
			return -1;
		cb(s, NULL, data);
		return 0;
	}
	struct hook *k = calloc(1, sizeof *k);
	if (!k)
		return husk_err_set(err, ENOMEM, "out of memory");
	*k = (struct hook){.s = s, .reconnect = !strcmp(op, "reconnect"), .cb = cb, .data = data};
	k->hold = k->reconnect && json_object_object_get_ex(req, "hold", &v) &&
		  json_object_get_boolean(v);
	if (hook_bytes(req, k->reconnect, k, &len, err) < 0) {
		hook_free(k);
		return -1;
	}
	if (held && (len || k->hold || !k->reconnect)) {
		hook_free(k);
		return husk_err_set(err, ENOTCONN, "the channel is held closed: reconnect first");
	}
	log_info("test hook: %s, %zu raw bytes%s", op, len, k->hold ? ", then hold" : "");
	if (held) {
		connect_again(k);
		return 0;
	}
	if (!len) {
		husk_session_disconnect(s, chan_dropped, k);
		return 0;
	}
	if (husk_session_write_raw(s, k->buf, len, written, k, err) < 0) {
		hook_free(k);
		return -1;
	}
	return 0;
}
