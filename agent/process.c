/* Container processes: start, stdio streams with credit, exit, reaping.
 * The child side of a start is spawn.c. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "container.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "process.h"
#include "spawn.h"

static struct agent_process *procs;
static uint32_t max_stream; /* the highest stream id a process has used */

struct stdin_write {
	uv_write_t req;
	struct agent_stream *st;
	uint32_t len;
	uint8_t data[];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct agent_process *agent_process_find(uint32_t id)
{
	for (struct agent_process *p = procs; p; p = p->next)
		if (p->id == id && !p->done)
			return p;
	return NULL;
}

static struct agent_stream *stream_find(uint32_t id)
{
	for (struct agent_process *p = procs; p; p = p->next)
		for (int i = 0; i < 3; i++)
			if (p->streams[i].id == id && !p->done)
				return &p->streams[i];
	return NULL;
}

bool agent_stream_in_use(uint32_t id)
{
	return stream_find(id) != NULL;
}

/* The stream a DATA, WINDOW or CLOSE frame is for: 1 with *out; 0 for a
 * frame late for a stream that has ended (its process exited while the
 * frame was on the wire), which is harmless; -1 with err. */
static int stream_for(uint16_t type, uint32_t id, struct agent_stream **out, struct husk_err *err)
{
	*out = stream_find(id);
	if (!*out && id <= max_stream)
		return 0;
	if (!*out)
		return husk_err_set(err, EBADF, "%s frame for unknown stream %u",
				    husk_frame_type_name(type), id);
	/* WINDOW is for output streams, DATA for stdin; CLOSE for either (on
	 * an output stream: the host's reader is gone) */
	if (type != HUSK_FRAME_CLOSE && (type == HUSK_FRAME_WINDOW) == ((*out)->kind == STREAM_IN))
		return husk_err_set(err, EPROTO, "%s frame on %s stream %u",
				    husk_frame_type_name(type),
				    (*out)->kind == STREAM_IN ? "stdin" : "output", id);
	return 1;
}

static void process_free_if_idle(struct agent_process *p)
{
	if (!p->done || p->handles > 0)
		return;
	for (struct agent_process **pp = &procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->container)
		agent_container_put(p->container);
	free(p);
}

static void handle_closed(uv_handle_t *h)
{
	struct agent_process *p = h->data;
	p->handles--;
	process_free_if_idle(p);
}

static void stream_close(struct agent_stream *st)
{
	if (!st->open)
		return;
	st->open = false;
	st->reading = false;
	uv_close((uv_handle_t *)&st->h, handle_closed);
	if (st->kind != STREAM_IN)
		close(st->fd); /* uv_poll leaves it to us; out of epoll by now */
}

static void close_everything(struct agent_process *p)
{
	for (int i = 0; i < 3; i++)
		stream_close(&p->streams[i]);
	if (p->errpipe_open) {
		p->errpipe_open = false;
		uv_close((uv_handle_t *)&p->errpipe, handle_closed);
	}
}

/* The container ends with its first process, as with a PID namespace:
 * nothing else may keep its output pipes open. Only a process that really
 * ran counts: a failed exec leaves the container as it was. */
static void container_check(struct agent_process *p)
{
	if (!p->is_init || p->container->stopped || p->request_id || p->exec_result[0])
		return;
	p->container->stopped = true;
	/* with its own pid namespace the kernel has already done this */
	if (!p->container->own_pidns)
		agent_container_kill(p->container);
}

/* The exit event goes out once the process is reaped and its start was
 * answered, saying whether its output is still open (its CLOSEs follow: the
 * host learns of the exit even while nobody reads); the process is done once
 * both output streams reached EOF and their CLOSEs went out. */
static void maybe_finish(struct agent_process *p)
{
	bool output_open = !p->streams[STREAM_OUT].eof || !p->streams[STREAM_ERR].eof;
	if (p->done || !p->exited || p->request_id)
		return;
	if (!p->exit_sent) {
		struct husk_exit_event e = {.process = p->id,
					    .status = p->status,
					    .signal = p->signal,
					    .runtime_ns = p->reaped_ns - p->forked_ns,
					    .output_open = output_open};
		agent_send_json(HUSK_FRAME_EVENT, husk_exit_encode(&e), NULL);
		log_debug("process %u (pid %d) exited with %d%s", p->id, (int)p->pid, p->status,
			  output_open ? ", its output still open" : "");
		p->exit_sent = true;
	}
	if (output_open)
		return;
	p->done = true;
	close_everything(p);
	process_free_if_idle(p);
}

/* ---- output streams: pipe -> DATA frames, within the host's credit ---- */

/* One frame's worth from an output fd: spliced into the channel when it is
 * a pipe and the channel is idle (no copy: virtio_console takes the pipe's
 * pages), read and queued otherwise. Bytes moved, 0 at EOF, or -errno. */
static ssize_t out_move(struct agent_stream *st)
{
	uint32_t want = st->credit < HUSK_DATA_MAX ? st->credit : HUSK_DATA_MAX;
	if (st->is_pipe) {
		ssize_t r = agent_send_spliced(st->id, st->fd, want);
		if (r != 0)
			return r < 0 ? -EIO : r;
	}
	uint8_t *buf = agent_data_buf();
	if (!buf)
		return -ENOMEM;
	ssize_t n =
	    read(st->fd, buf + HUSK_FRAME_HDR, want < AGENT_COPY_MAX ? want : AGENT_COPY_MAX);
	if (n > 0) {
		agent_send_data(st->id, buf, (uint32_t)n);
		return n;
	}
	int e = errno;
	agent_data_buf_put(buf);
	if (n == 0 || e == EIO) /* EIO: a pty whose other side is gone */
		return 0;
	return -e;
}

static void out_stop(struct agent_stream *st)
{
	if (st->reading)
		uv_poll_stop(&st->h.poll);
	st->reading = false;
}

static void out_ready(uv_poll_t *h, int status, int events)
{
	struct agent_stream *st =
	    (struct agent_stream *)((char *)h - offsetof(struct agent_stream, h));
	(void)events;
	ssize_t n = status < 0 ? status : out_move(st);
	if (n > 0) {
		st->credit -= (uint32_t)n;
		if (st->credit == 0)
			out_stop(st);
		return;
	}
	if (n == -EAGAIN || n == -EINTR)
		return;
	if (n == -ENOMEM) {
		log_error("out of memory for output of stream %u", st->id);
		out_stop(st); /* the next WINDOW tries again */
		return;
	}
	if (n < 0)
		log_warn("stream %u: %s", st->id, strerror((int)-n));
	st->eof = true;
	agent_send_frame(HUSK_FRAME_CLOSE, st->id, NULL, 0);
	stream_close(st);
	maybe_finish(st->proc);
}

/* The host cannot write this output any more (its reader closed a pipe):
 * the process's next write to the pipe gets EPIPE and SIGPIPE, as it would
 * writing to the caller's pipe under runc. A terminal is left alone: its
 * master carries the process's input too. */
static void out_reader_gone(struct agent_stream *st)
{
	if (!st->open || st->eof || !st->is_pipe)
		return;
	out_stop(st);
	st->eof = true;
	agent_send_frame(HUSK_FRAME_CLOSE, st->id, NULL, 0);
	stream_close(st);
	maybe_finish(st->proc);
}

static void out_start(struct agent_stream *st)
{
	if (st->open && !st->reading && !st->eof && st->credit > 0 &&
	    uv_poll_start(&st->h.poll, UV_READABLE, out_ready) == 0)
		st->reading = true;
}

int agent_stream_window(uint32_t stream, uint32_t n, struct husk_err *err)
{
	struct agent_stream *st;
	int r = stream_for(HUSK_FRAME_WINDOW, stream, &st, err);
	if (r <= 0)
		return r;
	if (st->credit > UINT32_MAX - n)
		return husk_err_set(err, EOVERFLOW, "WINDOW on stream %u overflows its credit",
				    st->id);
	st->credit += n;
	if (!st->proc->request_id)
		out_start(st);
	return 0;
}

/* ---- stdin: DATA frames -> pipe, credit granted back as bytes are written ---- */

static void stdin_maybe_close(struct agent_stream *st)
{
	if (st->close_req && st->pending == 0)
		stream_close(st);
}

static void stdin_written(uv_write_t *req, int status)
{
	struct stdin_write *w = (struct stdin_write *)req;
	struct agent_stream *st = w->st;
	st->pending -= w->len;
	if (!st->proc->done)
		agent_send_window(st->id, w->len);
	if (status < 0 && status != UV_ECANCELED) {
		/* The process closed its stdin: later bytes are dropped. */
		log_debug("stdin %u: %s", st->id, uv_strerror(status));
		stream_close(st);
	}
	free(w);
	stdin_maybe_close(st);
}

int agent_stream_data(uint32_t stream, const uint8_t *data, uint32_t len, struct husk_err *err)
{
	struct agent_stream *st;
	int r = stream_for(HUSK_FRAME_DATA, stream, &st, err);
	if (r <= 0)
		return r;
	if (st->close_req || st->pending + len > HUSK_INITIAL_WINDOW)
		return husk_err_set(err, EPROTO, "DATA on stream %u %s", st->id,
				    st->close_req ? "after CLOSE" : "beyond its credit");
	if (len == 0)
		return 0;
	if (!st->open) {
		agent_send_window(st->id, len); /* stdin is gone: drop, keep the host moving */
		return 0;
	}
	struct stdin_write *w = malloc(sizeof *w + len);
	if (!w) {
		log_error("out of memory for stdin of %u", st->id);
		return 0;
	}
	w->st = st;
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init((char *)w->data, len);
	st->pending += len;
	if (uv_write(&w->req, (uv_stream_t *)&st->h.pipe, &b, 1, stdin_written) < 0) {
		st->pending -= len;
		agent_send_window(st->id, len);
		free(w);
		stream_close(st);
	}
	return 0;
}

int agent_stream_close(uint32_t stream, struct husk_err *err)
{
	struct agent_stream *st;
	int r = stream_for(HUSK_FRAME_CLOSE, stream, &st, err);
	if (r <= 0)
		return r;
	if (st->kind != STREAM_IN) {
		out_reader_gone(st);
		return 0;
	}
	st->close_req = true;
	stdin_maybe_close(st);
	return 0;
}

int agent_process_resize(struct agent_process *p, uint16_t rows, uint16_t cols,
			 struct husk_err *err)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	if (!p->terminal)
		return husk_err_set(err, ENOTTY, "process %u has no terminal", p->id);
	if (!p->streams[STREAM_OUT].open)
		return husk_err_set(err, EBADF, "the terminal of process %u is closed", p->id);
	if (ioctl(p->streams[STREAM_OUT].fd, TIOCSWINSZ, &ws) < 0)
		return husk_err_sys(err, errno, "resize the terminal of process %u", p->id);
	return 0;
}

/* ---- start ---- */

static void err_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct agent_process *p = h->data;
	(void)suggested;
	*buf =
	    uv_buf_init((char *)p->exec_result + p->exec_got, sizeof p->exec_result - p->exec_got);
}

static void start_result(struct agent_process *p)
{
	struct husk_err err;
	uint32_t rid = p->request_id;
	p->request_id = 0;
	int stage = p->exec_result[0], e = p->exec_result[1];
	if (stage) {
		agent_spawn_failure(p->container, p->exec_result, &err);
		struct husk_reply r = {
		    .id = rid, .err_code = err.code, .message = err.msg, .pid = -1};
		if (stage == SPAWN_STAGE_EXEC)
			r.status = husk_exec_status(e);
		agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&r), NULL);
		if (p->is_init) {
			p->container->init_pid = 0;
		}
		p->done = true;
		close_everything(p);
		process_free_if_idle(p);
		return;
	}
	agent_reply_ok(rid, p->pid);
	for (int i = STREAM_OUT; i <= STREAM_ERR; i++)
		if (!p->streams[i].open && p->streams[i].eof)
			agent_send_frame(HUSK_FRAME_CLOSE, p->streams[i].id, NULL, 0);
	if (p->exited)
		container_check(p);
	out_start(&p->streams[STREAM_OUT]);
	out_start(&p->streams[STREAM_ERR]);
	maybe_finish(p);
}

static void err_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct agent_process *p = s->data;
	(void)buf;
	if (n >= 0) {
		p->exec_got += n;
		if (p->exec_got < sizeof p->exec_result)
			return; /* more to come, or EOF */
	} else if (p->exec_got > 0 && p->exec_got < sizeof p->exec_result) {
		p->exec_result[0] = SPAWN_STAGE_SETUP; /* a torn message */
		p->exec_result[1] = EIO;
	}
	if (p->errpipe_open) {
		p->errpipe_open = false;
		uv_close((uv_handle_t *)&p->errpipe, handle_closed);
	}
	start_result(p);
}

static int open_pipe(struct agent_process *p, uv_pipe_t *h, int fd, struct husk_err *err)
{
	uv_pipe_init(agent_loop, h, 0);
	h->data = p;
	p->handles++;
	int r = uv_pipe_open(h, fd);
	if (r < 0) {
		close(fd);
		return husk_err_set(err, -r, "pipe: %s", uv_strerror(r));
	}
	return 0;
}

static int open_output(struct agent_process *p, struct agent_stream *st, int fd,
		       struct husk_err *err)
{
	struct stat sb;
	int r = uv_poll_init(agent_loop, &st->h.poll, fd);
	if (r < 0) {
		close(fd);
		return husk_err_set(err, -r, "output: %s", uv_strerror(r));
	}
	st->h.poll.data = p;
	p->handles++;
	st->fd = fd;
	st->is_pipe = fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode);
	return 0;
}

/* The fds of a start; what is still open at its end is closed. */
struct start_fds {
	int stdio[3][2]; /* pipes: the child reads [0][0], writes [1][1] and [2][1] */
	int sock[2];	 /* [0] ours, [1] the child's: exec result, pty master, 'U' */
	int sync[2];	 /* user namespace: [0] the child's, [1] ours for 'M' or 'F' */
};

static void start_fds_close(struct start_fds *f)
{
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < 3; k++)
			husk_closep(&f->stdio[k][i]);
		husk_closep(&f->sock[i]);
		husk_closep(&f->sync[i]);
	}
}

static void close_fd(int *fd)
{
	husk_closep(fd);
	*fd = -1;
}

static int make_fds(struct start_fds *f, bool userns, struct husk_err *err)
{
	if (userns && pipe2(f->sync, O_CLOEXEC) < 0)
		return husk_err_sys(err, errno, "pipe");
	for (int i = 0; i < 3; i++) {
		if (pipe2(f->stdio[i], O_CLOEXEC) < 0)
			return husk_err_sys(err, errno, "pipe");
		/* An output pipe as deep as the stream's credit: the writer and
		 * the agent trade places once per window, not once per 64 KiB,
		 * and a splice can take a whole frame. Best effort. */
		if (i > 0)
			fcntl(f->stdio[i][0], F_SETPIPE_SZ, HUSK_OUTPUT_WINDOW);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sock) < 0)
		return husk_err_sys(err, errno, "socketpair");
	return 0;
}

/* Forks p's child, and closes the child's ends of the fds. */
static int fork_child(struct agent_process *p, struct agent_container *c,
		      const struct husk_process *spec, struct start_fds *f, struct husk_err *err)
{
	__attribute__((cleanup(agent_spec_process_free))) struct spec_process sp = {0};
	if (agent_spec_process(spec->raw, &sp, err) < 0)
		return -1;
	const int child[3] = {f->stdio[0][0], f->stdio[1][1], f->stdio[2][1]};
	p->forked_ns = now_ns();
	p->pid = agent_spawn(c, spec, &sp, child, f->sock[1], f->sync[0], err);
	close_fd(&f->sync[0]);
	close_fd(&f->stdio[0][0]);
	close_fd(&f->stdio[1][1]);
	close_fd(&f->stdio[2][1]);
	close_fd(&f->sock[1]);
	return p->pid < 0 ? -1 : 0;
}

static void add_streams(struct agent_process *p, const struct husk_streams *s, struct start_fds *f)
{
	struct husk_err err;
	const uint32_t ids[3] = {s->in, s->out, s->err};
	int *const mine[3] = {&f->stdio[0][1], &f->stdio[1][0], &f->stdio[2][0]};
	for (int i = 0; i < 3; i++) {
		struct agent_stream *st = &p->streams[i];
		if (ids[i] > max_stream)
			max_stream = ids[i];
		st->id = ids[i];
		st->kind = i;
		st->proc = p;
		st->credit = i == STREAM_IN ? 0 : HUSK_OUTPUT_WINDOW;
		int fd = husk_steal_fd(*mine[i]);
		if (fd >= 0 && (i == STREAM_IN ? open_pipe(p, &st->h.pipe, fd, &err)
					       : open_output(p, st, fd, &err)) == 0)
			st->open = true;
		else if (i != STREAM_IN)
			st->eof = true; /* nothing to read; CLOSE goes out after the reply */
	}
}

int agent_process_start(uint32_t request_id, struct agent_container *c,
			const struct husk_process *spec, const struct husk_streams *s,
			struct husk_err *err)
{
	__attribute__((cleanup(start_fds_close))) struct start_fds f = {
	    {{-1, -1}, {-1, -1}, {-1, -1}}, {-1, -1}, {-1, -1}};
	bool userns = c->init_pid == 0 && (c->spec.ns_new & CLONE_NEWUSER);
	_cleanup_free_ struct agent_process *p = calloc(1, sizeof *p);
	if (!p)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (make_fds(&f, userns, err) < 0)
		return -1;
	if (c->init_pid == 0 && c->sandbox && agent_container_join(c, err) < 0)
		return -1;
	if (fork_child(p, c, spec, &f, err) < 0)
		return -1;
	if (spec->terminal) {
		/* The pty master replaces the pipes: stdin writes and stdout reads
		 * go to it; stderr is merged into the terminal. */
		int master = agent_spawn_recv_master(f.sock[0]);
		close_fd(&f.stdio[0][1]);
		close_fd(&f.stdio[1][0]);
		if (master >= 0) {
			f.stdio[0][1] = master;
			f.stdio[1][0] = fcntl(master, F_DUPFD_CLOEXEC, 3);
		} else {
			userns = false; /* the child failed first: its message follows */
		}
	}
	if (userns)
		agent_spawn_answer_user_ns(p->pid, c, f.sock[0], f.sync[1]);
	p->id = s->in;
	p->terminal = spec->terminal;
	p->request_id = request_id;
	p->container = c;
	c->nprocs++;
	p->is_init = c->init_pid == 0;
	if (p->is_init) {
		c->init_pid = p->pid;
		c->own_pidns = (c->spec.ns_new & CLONE_NEWPID) != 0;
	}
	add_streams(p, s, &f);
	p->errpipe_open = true;
	if (open_pipe(p, &p->errpipe, husk_steal_fd(f.sock[0]), err) == 0)
		uv_read_start((uv_stream_t *)&p->errpipe, err_alloc, err_read);
	log_debug("process %u started as pid %d", p->id, (int)p->pid);
	p->next = procs;
	procs = husk_steal(p);
	return 0;
}

/* ---- reaping: PID 1 waits for every child, adopted orphans too ---- */

void agent_reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct agent_process *p = NULL;
		for (struct agent_process *q = procs; q; q = q->next)
			if (q->pid == pid && !q->exited)
				p = q;
		if (!p)
			continue; /* an orphan: reaped, nothing to report */
		p->exited = true;
		p->reaped_ns = now_ns();
		if (WIFSIGNALED(status)) {
			p->signal = WTERMSIG(status);
			p->status = 128 + p->signal;
		} else {
			p->status = WEXITSTATUS(status);
		}
		container_check(p);
		maybe_finish(p);
	}
}
