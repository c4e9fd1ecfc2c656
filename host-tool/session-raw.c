/* Dropping and remaking a session's channel, and bytes written past the
 * frame encoder: what the test hooks (testhooks.c) do to a session. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session-int.h"
#include "session.h"

struct raw_write {
	uv_write_t req;
	struct husk_session *s;
	husk_session_done_cb done;
	void *data;
	size_t len;
	uint8_t buf[];
};

static void raw_written(uv_write_t *req, int status)
{
	struct raw_write *w = (struct raw_write *)req;
	w->s->out_frames--;
	w->s->out_bytes -= w->len;
	if (w->done)
		w->done(w->s, status, w->data);
	free(w);
}

int husk_session_write_raw(struct husk_session *s, const void *buf, size_t len,
			   husk_session_done_cb done, void *data, struct husk_err *err)
{
	if (s->broken)
		return husk_err_set(err, EPIPE, "the channel to the agent is closed");
	struct raw_write *w = malloc(sizeof *w + len);
	if (!w)
		return husk_err_set(err, ENOMEM, "out of memory");
	*w = (struct raw_write){.s = s, .done = done, .data = data, .len = len};
	memcpy(w->buf, buf, len);
	uv_buf_t b = uv_buf_init((char *)w->buf, len);
	int r = uv_write(&w->req, (uv_stream_t *)&s->chan, &b, 1, raw_written);
	if (r < 0) {
		free(w);
		return husk_err_set(err, EIO, "cannot write to the agent's channel: %s",
				    uv_strerror(r));
	}
	/* requests among these bytes get replies the session cannot expect */
	s->raw_written = true;
	husk_session_out_added(s, len);
	return 0;
}

struct disconnect {
	struct husk_session *s;
	husk_session_done_cb done;
	void *data;
};

static void chan_closed(uv_handle_t *h)
{
	struct disconnect *d = h->data;
	d->s->chan.data = d->s;
	if (d->done)
		d->done(d->s, 0, d->data);
	free(d);
}

void husk_session_disconnect(struct husk_session *s, husk_session_done_cb done, void *data)
{
	struct disconnect *d = malloc(sizeof *d);
	if (!d) {
		if (done)
			done(s, UV_ENOMEM, data);
		return;
	}
	*d = (struct disconnect){s, done, data};
	uv_read_stop((uv_stream_t *)&s->chan);
	s->chan.data = d;
	uv_close((uv_handle_t *)&s->chan, chan_closed);
}

bool husk_session_connected(const struct husk_session *s)
{
	return !uv_is_closing((const uv_handle_t *)&s->chan);
}

int husk_session_reconnect(struct husk_session *s, struct husk_err *err)
{
	int fd;
	if (!s->keep_agent_sock)
		return husk_err_set(err, EPERM, "the agent's port cannot be reconnected");
	if (husk_vm_agent_connect(s->state_dir, &fd, err) < 0 ||
	    husk_session_attach(s, fd, err) < 0)
		return -1;
	s->resync = true;
	return 0;
}
