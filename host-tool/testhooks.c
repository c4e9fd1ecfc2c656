/* Fault injection for the integration tests (tests/integration/test_faults.py):
 * raw bytes onto the agent's channel, and a host that drops the channel in
 * the middle of a frame and connects again. Built only into the test build of husk
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
