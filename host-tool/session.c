#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "console.h"
#include "husk-log.h"
#include "session-int.h"
#include "session.h"

#define RBUF_CAP (HUSK_FRAME_HDR + HUSK_FRAME_MAX_PAYLOAD)

struct wreq {
	uv_write_t req;
	struct husk_session *s;
	size_t len;
	uint8_t *buf;
};

__attribute__((format(printf, 3, 0))) static void lost_v(struct husk_session *s, int code,
							 const char *fmt, va_list ap)
{
	struct husk_err err = {.code = code};
	if (s->broken)
		return; /* told once; the owner is ending it */
	s->broken = true;
	vsnprintf(err.msg, sizeof err.msg, fmt, ap);
	uv_read_stop((uv_stream_t *)&s->chan);
	uv_timer_stop(&s->greet_timer);
	if (s->ops->lost)
		s->ops->lost(s, &err);
}

__attribute__((format(printf, 3, 4))) static void lost(struct husk_session *s, int code,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lost_v(s, code, fmt, ap);
	va_end(ap);
}

void husk_session_violation(struct husk_session *s, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	lost(s, EPROTO, "the VM broke the protocol: %s", what);
}

/* Lines were dropped: say how many once the limit lets a line through. */
static void guest_log_flush(uv_timer_t *t)
{
	struct husk_session *s = t->data;
	uint64_t skipped;
	if (husk_log_limit_flush(&s->guest_log, uv_now(s->loop), &skipped))
		husk_log_emit(s->guest_log_level,
			      "%llu more log lines caused by the guest were not logged",
			      (unsigned long long)skipped);
	else if (s->guest_log.suppressed && s->guest_log.left)
		uv_timer_start(t, guest_log_flush, 1000, 0);
}

void husk_session_guest_log(struct husk_session *s, enum husk_log_level level, const char *fmt, ...)
{
	char line[700];
	uint64_t skipped;
	bool last;
	va_list ap;
	if (level > husk_log_max)
		return;
	if (!husk_log_limit_take(&s->guest_log, uv_now(s->loop), &skipped, &last)) {
		s->guest_log_level = level;
		if (s->guest_log.left && !uv_is_active((uv_handle_t *)&s->guest_log_timer))
			uv_timer_start(&s->guest_log_timer, guest_log_flush, 1000, 0);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (skipped)
		husk_log_emit(level, "%s (%llu more like it not logged)", line,
			      (unsigned long long)skipped);
	else
		husk_log_emit(level, "%s", line);
	if (last)
		husk_log_emit(level, "the guest caused %u log lines: no more of them are logged",
			      HUSK_GUEST_LOG_TOTAL);
}

/* A frame that cost the agent no credit: within the burst and the rate,
 * else a violation (false). */
static bool free_frame(struct husk_session *s, const char *what)
{
	if (husk_bucket_take(&s->free_frames, uv_now(s->loop)))
		return true;
	husk_session_violation(s, "a flood of %s (over %u at once or %u a second)", what,
			       HUSK_FREE_FRAMES_BURST, HUSK_FREE_FRAMES_PER_S);
	return false;
}

/* Guest text for the log: printable ASCII, the rest as '?'. */
static void printable(char *out, size_t size, const uint8_t *p, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = p[i] >= ' ' && p[i] < 0x7f ? (char)p[i] : '?';
	out[n] = '\0';
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	if (status < 0 && status != UV_ECANCELED)
		log_debug("channel write: %s", uv_strerror(status));
	w->s->out_frames--;
	w->s->out_bytes -= w->len;
	free(w->buf);
	free(w);
}

/* What waits to be written is bounded: an agent that stops reading while
 * the host owes it grants (or anything else) breaks the protocol. */
void husk_session_out_added(struct husk_session *s, size_t len)
{
	s->out_frames++;
	s->out_bytes += len;
	if (s->out_frames > HUSK_OUT_FRAMES_MAX || s->out_bytes > HUSK_OUT_BYTES_MAX)
		husk_session_violation(s,
				       "it stopped reading its channel (%u frames, %zu bytes "
				       "wait to be written)",
				       s->out_frames, s->out_bytes);
}

static void send_owned(struct husk_session *s, uint8_t *buf, size_t len)
{
	struct wreq *w = s->broken ? NULL : malloc(sizeof *w);
	if (!w) {
		free(buf);
		return;
	}
	w->s = s;
	w->len = len;
	w->buf = buf;
	uv_buf_t b = uv_buf_init((char *)buf, len);
	if (uv_write(&w->req, (uv_stream_t *)&s->chan, &b, 1, write_done) < 0) {
		free(buf);
		free(w);
		return;
	}
	husk_session_out_added(s, len);
}

void husk_session_send(struct husk_session *s, uint16_t type, uint32_t stream, const void *p,
		       uint32_t len)
{
	uint8_t *buf = malloc(HUSK_FRAME_HDR + len);
	if (!buf)
		return;
	husk_frame_encode_hdr(buf, type, stream, len);
	if (len)
		memcpy(buf + HUSK_FRAME_HDR, p, len);
	send_owned(s, buf, HUSK_FRAME_HDR + len);
}

int husk_session_request(struct husk_session *s, struct husk_request *r, husk_reply_cb cb,
			 void *data, struct husk_err *err)
{
	uint8_t *buf;
	if (s->broken)
		return husk_err_set(err, EPIPE, "the channel to the agent is closed");
	struct husk_pending *p = calloc(1, sizeof *p);
	if (!p)
		return husk_err_set(err, ENOMEM, "out of memory");
	r->id = ++s->next_id;
	struct json_object *o = husk_request_encode(r);
	int64_t n = husk_frame_json(HUSK_FRAME_REQUEST, o, &buf, err);
	json_object_put(o); /* the frame holds its own copy of the text */
	if (n < 0) {
		free(p);
		return -1;
	}
	p->id = r->id;
	p->cb = cb;
	p->data = data;
	p->next = s->pending;
	s->pending = p;
	log_debug("request %u %s", r->id, husk_op_name(r->op));
	send_owned(s, buf, (size_t)n);
	return 0;
}

static void on_reply(struct husk_session *s, const uint8_t *p, uint32_t len)
{
	struct husk_reply r;
	struct husk_err err;
	if (husk_reply_decode((const char *)p, len, &r, &err) < 0) {
		husk_session_violation(s, "a bad REPLY: %s", err.msg);
		return;
	}
	for (struct husk_pending **pp = &s->pending; *pp; pp = &(*pp)->next) {
		struct husk_pending *q = *pp;
		if (q->id != r.id)
			continue;
		*pp = q->next;
		if (q->cb)
			q->cb(s, &r, q->data);
		free(q);
		husk_reply_free(&r);
		return;
	}
	uint32_t id = r.id;
	husk_reply_free(&r);
	/* Requests the test hooks injected past the session get replies it
	 * cannot know; any other reply it did not wait for is the agent's. */
	if (!s->raw_written) {
		husk_session_violation(s, "a REPLY to request %u, which nobody waits for", id);
		return;
	}
	if (free_frame(s, "REPLY frames to unknown requests"))
		husk_session_guest_log(s, HUSK_LOG_WARN, "reply to unknown request %u", id);
}

static void on_hello(struct husk_session *s, const uint8_t *p, uint32_t len)
{
	struct husk_err err;
	if (s->greeted) {
		husk_session_violation(s, "%s", "the agent greeted twice (it restarted?)");
		return;
	}
	if (husk_hello_decode((const char *)p, len, &s->hello, &err) < 0) {
		husk_session_violation(s, "a bad greeting: %s", err.msg);
		return;
	}
	if (s->hello.protocol != HUSK_PROTO_VERSION) {
		char v[64];
		snprintf(v, sizeof v, "%d (husk speaks %d)", s->hello.protocol, HUSK_PROTO_VERSION);
		lost(s, EPROTO, "the agent speaks protocol version %s", v);
		return;
	}
	s->greeted = true;
	uv_timer_stop(&s->greet_timer);
	log_debug("agent %s, protocol %d, guest kernel %s", s->hello.agent_version,
		  s->hello.protocol, s->hello.kernel_release);
	s->ops->hello(s);
}

static void dispatch(struct husk_session *s, const struct husk_frame_hdr *h, const uint8_t *p)
{
	struct husk_exit_event e;
	struct husk_err err;
	char msg[600];
	if (!s->greeted && h->type != HUSK_FRAME_HELLO) {
		husk_session_violation(s, "a %s frame before its greeting",
				       husk_frame_type_name(h->type));
		return;
	}
	switch (h->type) {
	case HUSK_FRAME_HELLO: on_hello(s, p, h->length); return;
	case HUSK_FRAME_REPLY: on_reply(s, p, h->length); return;
	case HUSK_FRAME_EVENT:
		if (husk_exit_decode((const char *)p, h->length, &e, &err) < 0) {
			husk_session_violation(s, "a bad EVENT: %s", err.msg);
			return;
		}
		if (s->ops->exit)
			s->ops->exit(s, &e);
		return;
	case HUSK_FRAME_ERROR:
		if (!free_frame(s, "ERROR frames"))
			return;
		printable(msg, sizeof msg, p, h->length < 512 ? h->length : 512);
		husk_session_guest_log(s, HUSK_LOG_WARN, "the agent rejected a frame: %s", msg);
		return;
	default:
		if (h->type == HUSK_FRAME_DATA && h->length == 0 &&
		    !free_frame(s, "empty DATA frames"))
			return;
		if (!s->ops->stream || !s->ops->stream(s, h, p))
			husk_session_violation(s, "a %s frame on stream %u, which is not open",
					       husk_frame_type_name(h->type), h->stream);
	}
}

static bool vm_reaped(struct husk_session *s);

static void chan_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct husk_session *s = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)s->rbuf + s->rlen, RBUF_CAP - s->rlen);
}

/* Every whole frame in rbuf, then keep the rest for the next read. */
static void process(struct husk_session *s)
{
	size_t off = 0;
	while (off < s->rlen && !s->broken) {
		struct husk_frame_hdr h;
		struct husk_err err;
		int r = husk_frame_parse(s->rbuf + off, s->rlen - off, &h, &err);
		if (r == HUSK_PARSE_NEED_MORE)
			break;
		if (r == HUSK_PARSE_BAD && s->resync) {
			/* the tail of a frame cut by a reconnect */
			husk_session_guest_log(s, HUSK_LOG_DEBUG,
					       "skipping bytes after the reconnect: %s", err.msg);
			off += husk_frame_resync(s->rbuf + off, s->rlen - off);
			continue;
		}
		if (r == HUSK_PARSE_BAD) {
			husk_session_violation(s, "%s", err.msg);
			break;
		}
		s->resync = false;
		dispatch(s, &h, s->rbuf + off + HUSK_FRAME_HDR);
		off += HUSK_FRAME_HDR + h.length;
	}
	if (s->broken) {
		s->rlen = 0;
		return;
	}
	memmove(s->rbuf, s->rbuf + off, s->rlen - off);
	s->rlen -= off;
}

static void chan_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct husk_session *s = st->data;
	(void)buf;
	if (n < 0) {
		uv_read_stop(st);
		if (s->vm_exited || s->broken)
			return;
		/* QEMU's end closes as it dies: say so if that is what happened
		 * (it closes its fds just before it can be waited for) */
		for (int i = 0; i < 20 && !s->vm_exited && s->vm.pid > 0; i++) {
			if (vm_reaped(s))
				return;
			usleep(5000);
		}
		lost(s, ECONNRESET, "lost the channel to the agent: %s", uv_strerror((int)n));
		return;
	}
	s->rlen += n;
	process(s);
}

void husk_session_feed(struct husk_session *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len && !s->broken) {
		size_t n = RBUF_CAP - s->rlen < len ? RBUF_CAP - s->rlen : len;
		memcpy(s->rbuf + s->rlen, p, n);
		s->rlen += n;
		p += n;
		len -= n;
		process(s); /* a full rbuf holds a whole frame: it always makes room */
	}
}

/* The last line QEMU wrote to <state>/qemu.log (its own reason for
 * refusing a VM: "cannot set up guest memory", a bad kernel), without its
 * program-name prefix; read from the file's last 4 KiB, at most size-1
 * bytes of it. */

/* If QEMU has exited, reap it and report the loss; true if it had. */
static bool vm_reaped(struct husk_session *s)
{
	int status;
	if (s->vm_exited || s->vm.pid <= 0 || waitpid(s->vm.pid, &status, WNOHANG) != s->vm.pid)
		return false;
	s->vm_exited = true;
	s->vm_status = status;
	uv_signal_stop(&s->sigchld);
	char how[64], said[320] = "";
	if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
	husk_vm_qemu_said(s->state_dir, said, sizeof said);
	lost(s, ECHILD, "the VM stopped (QEMU %s)%s%s", how, said[0] ? ": " : "", said);
	return true;
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	(void)sig;
	vm_reaped(h->data);
}

static void greet_timeout(uv_timer_t *t)
{
	struct husk_session *s = t->data;
	lost(s, ETIMEDOUT, "the agent did not greet within %u s", s->greet_timeout_ms / 1000);
}

void husk_session_kill_vm(struct husk_session *s)
{
	int status;
	if (s->vm.virtiofsd > 0) {
		kill(s->vm.virtiofsd, SIGKILL);
		while (waitpid(s->vm.virtiofsd, &status, 0) < 0 && errno == EINTR)
			;
		s->vm.virtiofsd = 0;
	}
	if (s->keep_agent_sock) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/" HUSK_AGENT_SOCK, s->state_dir);
		unlink(path);
		s->keep_agent_sock = false;
	}
	if (s->vm_exited || s->vm.pid <= 0)
		return;
	kill(s->vm.pid, SIGKILL);
	while (waitpid(s->vm.pid, &status, 0) < 0 && errno == EINTR)
		;
	s->vm_exited = true;
	s->vm_status = status;
	uv_signal_stop(&s->sigchld);
}

int husk_session_attach(struct husk_session *s, int fd, struct husk_err *err)
{
	uv_pipe_init(s->loop, &s->chan, 0);
	s->chan.data = s;
	s->rlen = 0;
	if (uv_pipe_open(&s->chan, fd) < 0) {
		close(fd);
		return husk_err_set(err, EIO, "cannot watch the VM's channel");
	}
	uv_read_start((uv_stream_t *)&s->chan, chan_alloc, chan_read);
	return 0;
}

/* Everything but the VM, the console and the channel. */
static int session_init(struct husk_session *s, uv_loop_t *loop, const struct husk_session_ops *ops,
			void *data, struct husk_err *err)
{
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->ops = ops;
	s->data = data;
	s->console_log = -1;
	uv_update_time(loop);
	husk_bucket_init(&s->free_frames, HUSK_FREE_FRAMES_BURST, HUSK_FREE_FRAMES_PER_S,
			 uv_now(loop));
	husk_log_limit_init(&s->guest_log, HUSK_GUEST_LOG_BURST, HUSK_GUEST_LOG_PER_S,
			    HUSK_GUEST_LOG_TOTAL, uv_now(loop));
	uv_timer_init(loop, &s->greet_timer);
	s->greet_timer.data = s;
	uv_timer_init(loop, &s->guest_log_timer);
	s->guest_log_timer.data = s;
	uv_unref((uv_handle_t *)&s->guest_log_timer); /* keeps no loop alive */
	s->rbuf = malloc(RBUF_CAP);
	if (!s->rbuf)
		return husk_err_set(err, ENOMEM, "out of memory");
	return 0;
}

int husk_session_open(struct husk_session *s, uv_loop_t *loop, int chan_fd,
		      const struct husk_session_ops *ops, void *data, struct husk_err *err)
{
	if (session_init(s, loop, ops, data, err) < 0)
		return -1;
	return husk_session_attach(s, chan_fd, err);
}

void husk_session_close(struct husk_session *s)
{
	s->broken = true;
	if (!uv_is_closing((uv_handle_t *)&s->chan))
		uv_close((uv_handle_t *)&s->chan, NULL);
	if (!uv_is_closing((uv_handle_t *)&s->greet_timer))
		uv_close((uv_handle_t *)&s->greet_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&s->guest_log_timer))
		uv_close((uv_handle_t *)&s->guest_log_timer, NULL);
	while (s->pending) {
		struct husk_pending *q = s->pending;
		s->pending = q->next;
		free(q);
	}
	husk_hello_free(&s->hello);
	free(s->rbuf);
	s->rbuf = NULL;
	free(s->console_path);
	s->console_path = NULL;
	if (s->console_log >= 0)
		close(s->console_log);
	s->console_log = -1;
}

static void end_closed(uv_handle_t *h)
{
	struct husk_session *s = h->data;
	if (--s->closing == 0 && s->ended)
		s->ended(s->ended_data);
}

static void end_close(struct husk_session *s, uv_handle_t *h)
{
	h->data = s;
	if (uv_is_closing(h))
		return;
	s->closing++;
	uv_close(h, end_closed);
}

void husk_session_end(struct husk_session *s, void (*ended)(void *data), void *data)
{
	husk_session_kill_vm(s);
	s->ended = ended;
	s->ended_data = data;
	s->broken = true;
	s->closing = 1; /* until every close below is asked */
	end_close(s, (uv_handle_t *)&s->sigchld);
	end_close(s, (uv_handle_t *)&s->console);
	end_close(s, (uv_handle_t *)&s->chan);
	end_close(s, (uv_handle_t *)&s->greet_timer);
	end_close(s, (uv_handle_t *)&s->guest_log_timer);
	if (s->vm.alive[1] >= 0)
		close(s->vm.alive[1]);
	s->vm.alive[1] = -1;
	husk_session_close(s); /* the rest: its handles are closing already */
	if (--s->closing == 0 && ended)
		ended(data);
}

int husk_session_start(struct husk_session *s, uv_loop_t *loop, const struct husk_vm_opts *o,
		       const char *console_log, unsigned greet_timeout_ms,
		       const struct husk_session_ops *ops, void *data, struct husk_err *err)
{
	struct stat st;
	if (session_init(s, loop, ops, data, err) < 0)
		return -1;
	s->console_echo = o->debug;
	s->state_dir = o->state_dir;
	s->keep_agent_sock = o->keep_agent_sock;
	if (console_log) {
		s->console_log =
		    open(console_log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (s->console_log < 0)
			return husk_err_sys(err, errno, "console log %s", console_log);
		if (!(s->console_path = strdup(console_log)))
			return husk_err_set(err, ENOMEM, "out of memory");
		s->console_size = fstat(s->console_log, &st) == 0 ? (size_t)st.st_size : 0;
	}
	/* Watch for QEMU's exit before it exists, so no SIGCHLD is missed. */
	uv_signal_init(loop, &s->sigchld);
	s->sigchld.data = s;
	uv_signal_start(&s->sigchld, on_sigchld, SIGCHLD);
	if (husk_vm_start(o, &s->vm, err) < 0)
		return -1;
	if (husk_session_attach(s, s->vm.chan_fd, err) < 0)
		return -1;
	uv_pipe_init(loop, &s->console, 0);
	s->console.data = s;
	if (uv_pipe_open(&s->console, s->vm.console_fd) < 0)
		return husk_err_set(err, EIO, "cannot watch the VM's console");
	husk_session_console_start(s);
	s->greet_timeout_ms = greet_timeout_ms;
	uv_timer_start(&s->greet_timer, greet_timeout, greet_timeout_ms, 0);
	return 0;
}
