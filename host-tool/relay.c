/* One process's stdio on the host: stdin -> DATA within the agent's credit,
 * DATA -> stdout/stderr with credit granted back as bytes are written.
 * Host fds may be pipes, files, terminals or /dev/null, so all I/O goes
 * through libuv's fs requests (blocking calls in the thread pool) and the
 * caller's file status flags are never changed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk-log.h"
#include "relay.h"
#include "session.h"

static void in_read(uv_fs_t *req);
static void relay_release(struct husk_relay *r);

static void in_send_eof(struct husk_relay *r)
{
	r->in_eof = true;
	if (r->in_polling) {
		uv_poll_stop(&r->in_poll);
		r->in_polling = false;
	}
	husk_session_send(r->s, HUSK_FRAME_CLOSE, r->ids[0], NULL, 0);
}

/* A pollable stdin (pipe, socket, terminal) is read only once poll says it
 * is readable, so no read ever blocks and nothing is left waiting in the
 * thread pool when the process ends. */
static void in_polled(uv_poll_t *h, int status, int events)
{
	struct husk_relay *r = h->data;
	(void)events;
	uint32_t n = r->in_credit < HUSK_DATA_MAX ? r->in_credit : HUSK_DATA_MAX;
	ssize_t got = status < 0 ? -1 : read(r->fds[0], r->in_buf, n);
	if (got > 0) {
		r->in_credit -= (uint32_t)got;
		husk_session_send(r->s, HUSK_FRAME_DATA, r->ids[0], r->in_buf, (uint32_t)got);
		if (r->in_credit == 0) {
			uv_poll_stop(&r->in_poll);
			r->in_polling = false;
		}
		return;
	}
	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	in_send_eof(r); /* EOF, or EIO from a terminal whose other side hung up */
}

static void in_next(struct husk_relay *r)
{
	if (!r->in_started || r->in_reading || r->in_eof || r->in_credit == 0 || r->fds[0] < 0)
		return;
	if (r->in_pollable) {
		if (!r->in_polling &&
		    uv_poll_start(&r->in_poll, UV_READABLE | UV_DISCONNECT, in_polled) == 0)
			r->in_polling = true;
		return;
	}
	uint32_t n = r->in_credit < HUSK_DATA_MAX ? r->in_credit : HUSK_DATA_MAX;
	uv_buf_t b = uv_buf_init(r->in_buf, n);
	r->in_req.data = r;
	if (uv_fs_read(r->s->loop, &r->in_req, r->fds[0], &b, 1, -1, in_read) == 0)
		r->in_reading = true;
}

static void in_retry(uv_timer_t *t)
{
	in_next(t->data);
}

static void in_read(uv_fs_t *req)
{
	struct husk_relay *r = req->data;
	ssize_t n = req->result;
	uv_fs_req_cleanup(req);
	r->in_reading = false;
	if (r->unlinked) {
		/* the relay was let go while this read was in the thread pool:
		 * whatever it read has nowhere to go */
		relay_release(r);
		return;
	}
	if (n > 0) {
		r->in_credit -= (uint32_t)n;
		husk_session_send(r->s, HUSK_FRAME_DATA, r->ids[0], r->in_buf, (uint32_t)n);
		in_next(r);
		return;
	}
	if (n == UV_EAGAIN || n == UV_EINTR) {
		/* a non-blocking stdin we must not change: poll it gently */
		uv_timer_start(&r->in_retry, in_retry, 10, 0);
		return;
	}
	if (n < 0 && n != UV_EBADF)
		log_debug("stdin: %s", uv_strerror((int)n));
	in_send_eof(r);
}

void husk_relay_start_stdin(struct husk_relay *r)
{
	r->in_started = true;
	if (r->fds[0] < 0) {
		in_send_eof(r);
		return;
	}
	if (uv_poll_init(r->s->loop, &r->in_poll, r->fds[0]) == 0) {
		r->in_poll.data = r;
		r->in_pollable = true;
	}
	in_next(r);
}

static void out_write(uv_fs_t *req);

/* Give the agent back what was written: in batches while more waits, all
 * of it once nothing does. None after the agent's CLOSE. */
static void out_grant(struct husk_relay *r, struct husk_outq *q)
{
	uint8_t grant[4];
	if (q->closed || !q->ungranted || (q->buf.bytes && q->ungranted < HUSK_GRANT_BATCH))
		return;
	husk_put_be32(grant, q->ungranted);
	q->credit += q->ungranted;
	q->ungranted = 0;
	husk_session_send(r->s, HUSK_FRAME_WINDOW, q->stream, grant, 4);
}

/* Nobody takes this output any more: drop what is held (and what comes),
 * granting it back so the process is not stalled. */
static void out_failed(struct husk_relay *r, struct husk_outq *q, int status)
{
	/* A pipe whose reader is gone (`husk run ... | head -1`): the agent
	 * closes the process's end, so its next write fails with EPIPE and
	 * SIGPIPE, as under runc. Any other error: the output is dropped, the
	 * process runs on. */
	if (!q->failed) {
		log_debug("stream %u: %s", q->stream, uv_strerror(status));
		if (status == UV_EPIPE && !q->closed)
			husk_session_send(r->s, HUSK_FRAME_CLOSE, q->stream, NULL, 0);
	}
	q->failed = true;
	q->ungranted += (uint32_t)husk_outbuf_clear(&q->buf);
}

static void out_next(struct husk_relay *r, struct husk_outq *q)
{
	const char *p;
	size_t n;
	if (q->busy || !(n = husk_outbuf_peek(&q->buf, &p)))
		return;
	if (r->write_max && n > r->write_max)
		n = r->write_max;
	uv_buf_t b = uv_buf_init((char *)p, n);
	q->req.data = r;
	int e = uv_fs_write(r->s->loop, &q->req, q->fd, &b, 1, -1, out_write);
	if (e == 0) {
		q->busy = true;
		return;
	}
	out_failed(r, q, e);
	out_grant(r, q);
}

static void out_write(uv_fs_t *req)
{
	struct husk_relay *r = req->data;
	struct husk_outq *q = req == &r->out[0].req ? &r->out[0] : &r->out[1];
	ssize_t n = req->result;
	uv_fs_req_cleanup(req);
	q->busy = false;
	if (r->unlinked) {
		/* let go while this write was in the thread pool */
		husk_outbuf_clear(&q->buf);
		relay_release(r);
		return;
	}
	if (n == UV_EAGAIN || n == UV_EINTR)
		n = 0;
	if (n < 0) {
		out_failed(r, q, (int)n);
	} else {
		husk_outbuf_consume(&q->buf, (size_t)n);
		q->ungranted += (uint32_t)n;
		if (n > 0)
			q->waiting_ms = uv_now(r->s->loop);
	}
	out_grant(r, q);
	if (q->buf.bytes)
		out_next(r, q);
	else if (r->drained && husk_relay_idle(r))
		r->drained(r);
}

/* DATA from the agent: only within the credit the host granted, and never
 * after its CLOSE; so what is held never passes HUSK_OUTPUT_WINDOW. */
static void out_data(struct husk_relay *r, struct husk_outq *q, const uint8_t *p, uint32_t len)
{
	if (q->closed) {
		husk_session_violation(r->s, "DATA on stream %u after its CLOSE", q->stream);
		return;
	}
	if (len > q->credit) {
		husk_session_violation(r->s,
				       "DATA of %u bytes on stream %u, which had %u bytes of "
				       "credit left (the window is %u)",
				       len, q->stream, q->credit, HUSK_OUTPUT_WINDOW);
		return;
	}
	q->credit -= len;
	if (len == 0)
		return;
	if (!q->buf.bytes)
		q->waiting_ms = uv_now(r->s->loop);
	if (!q->failed && husk_outbuf_append(&q->buf, p, len) < 0) {
		log_error("out of memory for output of stream %u", q->stream);
		out_failed(r, q, UV_ENOMEM);
	}
	if (q->failed) {
		q->ungranted += len;
		out_grant(r, q);
		return;
	}
	out_next(r, q);
}

bool husk_relay_idle(const struct husk_relay *r)
{
	return !r->out[0].buf.bytes && !r->out[1].buf.bytes && !r->out[0].busy && !r->out[1].busy;
}

bool husk_relay_output_done(const struct husk_relay *r)
{
	return r->out[0].closed && r->out[1].closed && husk_relay_idle(r);
}

uint64_t husk_relay_stalled_ms(const struct husk_relay *r)
{
	uint64_t now = uv_now(r->s->loop), most = 0;
	for (int i = 0; i < 2; i++) {
		const struct husk_outq *q = &r->out[i];
		if (q->buf.bytes && now - q->waiting_ms > most)
			most = now - q->waiting_ms;
	}
	return most;
}

static void in_window(struct husk_relay *r, const uint8_t *p)
{
	uint32_t n = husk_get_be32(p);
	/* the agent grants back what it took: never more than is out */
	if (n > HUSK_INITIAL_WINDOW - r->in_credit) {
		husk_session_violation(r->s,
				       "WINDOW of %u bytes on stdin stream %u, where %u bytes "
				       "were sent and not granted back",
				       n, r->ids[0], HUSK_INITIAL_WINDOW - r->in_credit);
		return;
	}
	r->in_credit += n;
	in_next(r);
}

bool husk_relay_frame(struct husk_relay_set *set, const struct husk_frame_hdr *h, const uint8_t *p)
{
	for (struct husk_relay *r = set->head; r; r = r->next) {
		for (int i = 0; i < 3; i++) {
			if (r->ids[i] != h->stream)
				continue;
			struct husk_outq *q = i ? &r->out[i - 1] : NULL;
			if (!q && h->type == HUSK_FRAME_WINDOW) {
				in_window(r, p);
			} else if (q && h->type == HUSK_FRAME_DATA) {
				out_data(r, q, p, h->length);
			} else if (q && h->type == HUSK_FRAME_CLOSE) {
				if (q->closed) {
					husk_session_violation(r->s, "a second CLOSE on stream %u",
							       h->stream);
					return true;
				}
				q->closed = true;
				/* the last frame of an output that is all written: the
				 * process may be done (r may be let go) */
				if (r->drained && husk_relay_idle(r))
					r->drained(r);
			} else {
				husk_session_violation(r->s, "a %s frame on %s stream %u",
						       husk_frame_type_name(h->type),
						       q ? "output" : "stdin", h->stream);
			}
			return true;
		}
	}
	return false;
}

/* The last handle or request of an unlinked relay is done with it. */
static void relay_release(struct husk_relay *r)
{
	if (--r->closing > 0)
		return;
	free(r->in_buf); /* only now: a read in the thread pool may write to it */
	r->in_buf = NULL;
	for (int i = 0; i < 2; i++)
		husk_outbuf_clear(&r->out[i].buf);
	if (r->closed)
		r->closed(r);
}

static void relay_handle_closed(uv_handle_t *h)
{
	relay_release(h->data);
}

void husk_relay_stop(struct husk_relay *r)
{
	r->in_eof = true;
	if (r->in_polling)
		uv_poll_stop(&r->in_poll);
	r->in_polling = false;
	uv_timer_stop(&r->in_retry);
}

void husk_relay_unlink(struct husk_relay *r, void (*closed)(struct husk_relay *r))
{
	husk_relay_stop(r);
	for (struct husk_relay **pp = &r->set->head; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->closed = closed;
	r->unlinked = true;
	/* a read or write in flight holds it too */
	r->closing = 1 + r->in_reading + r->out[0].busy + r->out[1].busy;
	uv_close((uv_handle_t *)&r->in_retry, relay_handle_closed);
	if (r->in_pollable) {
		r->in_pollable = false;
		r->closing++;
		uv_close((uv_handle_t *)&r->in_poll, relay_handle_closed);
	}
}

int husk_relay_init(struct husk_relay *r, struct husk_relay_set *set, struct husk_session *s,
		    uint32_t base, int in_fd, int out_fd, int err_fd, struct husk_err *err)
{
	memset(r, 0, sizeof *r);
	r->s = s;
	r->set = set;
	for (int i = 0; i < 3; i++)
		r->ids[i] = base + i;
	r->fds[0] = in_fd;
	r->fds[1] = out_fd;
	r->fds[2] = err_fd;
	r->in_credit = HUSK_INITIAL_WINDOW;
	if (!(r->in_buf = malloc(HUSK_DATA_MAX)))
		return husk_err_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < 2; i++) {
		r->out[i].fd = i == 0 ? out_fd : err_fd;
		r->out[i].stream = base + 1 + i;
		r->out[i].credit = HUSK_OUTPUT_WINDOW;
	}
	uv_timer_init(s->loop, &r->in_retry);
	r->in_retry.data = r;
	r->next = set->head;
	set->head = r;
	return 0;
}
