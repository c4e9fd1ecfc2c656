/* libFuzzer target: the input is what a hostile agent writes on its
 * channel, fed to the proxy's own session, processes and relays
 * (host-tool/session.c, procs.c, relay.c) in a libuv loop, with no VM.
 *
 * Input: byte 0 is the schedule (bit 7: feed everything at once; else
 * pieces of (byte & 0x7f) * 61 + 1 bytes, the loop run between them); the
 * rest is the agent's byte stream. Once the agent greets, the "host" starts
 * the container's process (request 1, streams 1-3: stdin at EOF, output to
 * /dev/null), an exec (request 2, streams 5-7: 1000 bytes of stdin, stdout
 * to /dev/null, stderr to a pipe nobody reads, EPIPE) and a ping (request 3).
 *
 * Checked: the session reports a loss at most once and calls nothing after
 * it; output held per stream stays within the credit window (credit + held
 * + not yet granted is the window, always) and its memory within
 * husk_outbuf_alloc_bound; stdin credit never exceeds its window; every
 * byte the host writes back is a valid frame; the host grants no more than
 * the input sent on a stream, and sends no more stdin than it was granted;
 * the loop closes with nothing left (LeakSanitizer sees the rest).
 * FUZZ_SESSION_VERBOSE=1 prints why each run ended. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "../../host-tool/procs.h"
#include "../../host-tool/session.h"
#include "husk-proto.h"

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- what session.c, procs.c and relay.c need beyond them: no VM, no tty ---- */

int husk_vm_start(const struct husk_vm_opts *o, struct husk_vm *vm, struct husk_err *err)
{
	return husk_err_set(err, ENOSYS, "no VM in the fuzzer");
}

int husk_vm_agent_connect(const char *state_dir, int *fd, struct husk_err *err)
{
	return husk_err_set(err, ENOSYS, "no VM in the fuzzer");
}

int husk_tty_size(int fd, unsigned short *rows, unsigned short *cols)
{
	*rows = *cols = 0;
	return -1;
}

/* ---- one run ---- */

#define MAX_STREAM 16 /* stream ids the accounting follows */

struct run {
	uv_loop_t loop;
	struct husk_session s;
	struct husk_procs procs;
	int peer; /* the agent's end: what the host writes */
	bool lost;
	int losses;
	/* the host's frames, parsed as they come */
	uint8_t hbuf[HUSK_FRAME_HDR + HUSK_FRAME_MAX_PAYLOAD];
	size_t hlen;
	uint64_t granted[MAX_STREAM];	 /* WINDOW the host sent */
	uint64_t stdin_sent[MAX_STREAM]; /* DATA the host sent */
	/* the input's own frames, counted up front */
	uint64_t in_data[MAX_STREAM];
	uint64_t in_window[MAX_STREAM];
};

static int devnull = -1;
static bool verbose; /* FUZZ_SESSION_VERBOSE=1: say why each run ended */

static void on_hello(struct husk_session *s);

static void quiet(enum husk_log_level level, const char *msg)
{
	check(msg[0]);
}

static void on_exit_event(struct husk_session *s, const struct husk_exit_event *e)
{
	struct run *R = s->data;
	check(!R->lost);
	husk_procs_exit(&R->procs, e);
}

static void on_lost(struct husk_session *s, const struct husk_err *err)
{
	struct run *R = s->data;
	check(err->msg[0]);
	if (verbose)
		fprintf(stderr, "lost: %s\n", err->msg);
	R->losses++;
	R->lost = true;
}

static bool on_stream(struct husk_session *s, const struct husk_frame_hdr *h, const uint8_t *p)
{
	struct run *R = s->data;
	check(!R->lost);
	return husk_procs_frame(&R->procs, h, p);
}

static const struct husk_session_ops session_ops = {
    .hello = on_hello,
    .exit = on_exit_event,
    .lost = on_lost,
    .stream = on_stream,
};

static void proc_started(struct husk_proc *x, int64_t pid, void *data)
{
	check(!((struct run *)data)->lost);
	check(pid >= 1);
}

static void proc_start_failed(struct husk_proc *x, const char *msg, int status, void *data)
{
	check(!((struct run *)data)->lost);
	check(msg[0]);
}

static void proc_exited(struct husk_proc *x, void *data)
{
	check(!((struct run *)data)->lost);
	check(x->exited);
}

static void proc_done(struct husk_proc *x, void *data)
{
	check(x->exited);
}

static const struct husk_procs_ops procs_ops = {
    .started = proc_started,
    .start_failed = proc_start_failed,
    .exited = proc_exited,
    .done = proc_done,
};

static char *args[] = {"sh", NULL};
static char *env[] = {"PATH=/bin", NULL};
static const struct husk_process spec = {
    .args = args, .nargs = 1, .env = env, .nenv = 1, .cwd = "/"};

static void on_hello(struct husk_session *s)
{
	struct run *R = s->data;
	struct husk_err err;
	int p[2], q[2];
	check(!R->lost);
	check(husk_proc_start(&R->procs.init, &spec, &err) == 0);
	/* the exec: 1000 bytes of stdin then EOF; stderr a pipe with no reader */
	check(pipe2(p, O_CLOEXEC) == 0 && pipe2(q, O_CLOEXEC) == 0);
	char in[1000];
	memset(in, 'i', sizeof in);
	check(write(p[1], in, sizeof in) == (ssize_t)sizeof in);
	close(p[1]);
	close(q[0]);
	int fds[3] = {p[0], dup(devnull), q[1]};
	struct husk_proc *x = husk_procs_new_exec(&R->procs, fds, &err);
	check(x);
	if (husk_proc_start(x, &spec, &err) < 0)
		husk_proc_drop(x);
	struct husk_request ping = {.op = HUSK_OP_PING};
	check(husk_session_request(s, &ping, NULL, NULL, &err) == 0 || R->lost);
}

/* Whatever the host wrote: valid frames; what they grant and send. */
static void drain_peer(struct run *R)
{
	for (;;) {
		ssize_t n = read(R->peer, R->hbuf + R->hlen, sizeof R->hbuf - R->hlen);
		if (n <= 0) {
			check(n == 0 || errno == EAGAIN);
			break;
		}
		R->hlen += (size_t)n;
		size_t off = 0;
		for (;;) {
			struct husk_frame_hdr h;
			struct husk_err err;
			int r = husk_frame_parse(R->hbuf + off, R->hlen - off, &h, &err);
			if (r == HUSK_PARSE_NEED_MORE)
				break;
			if (r != HUSK_PARSE_FRAME) {
				fprintf(stderr, "the host wrote a bad frame: %s\n", err.msg);
				abort();
			}
			check(h.type == HUSK_FRAME_REQUEST || h.type == HUSK_FRAME_DATA ||
			      h.type == HUSK_FRAME_WINDOW || h.type == HUSK_FRAME_CLOSE);
			if (h.stream < MAX_STREAM && h.type == HUSK_FRAME_WINDOW)
				R->granted[h.stream] +=
				    husk_get_be32(R->hbuf + off + HUSK_FRAME_HDR);
			if (h.stream < MAX_STREAM && h.type == HUSK_FRAME_DATA)
				R->stdin_sent[h.stream] += h.length;
			off += HUSK_FRAME_HDR + h.length;
		}
		memmove(R->hbuf, R->hbuf + off, R->hlen - off);
		R->hlen -= off;
	}
	for (uint32_t i = 1; i < MAX_STREAM; i++) {
		/* grants only on output streams, never more than came */
		check(R->granted[i] <= R->in_data[i]);
		/* stdin within its window and what the agent granted back */
		check(R->stdin_sent[i] <= HUSK_INITIAL_WINDOW + R->in_window[i]);
	}
}

static void check_relay(const struct husk_relay *r)
{
	check(r->in_credit <= HUSK_INITIAL_WINDOW);
	for (int i = 0; i < 2; i++) {
		const struct husk_outq *q = &r->out[i];
		check(q->buf.bytes <= HUSK_OUTPUT_WINDOW);
		check((uint64_t)q->credit + q->buf.bytes + q->ungranted == HUSK_OUTPUT_WINDOW);
		check(q->buf.alloc <= husk_outbuf_alloc_bound(HUSK_OUTPUT_WINDOW, HUSK_DATA_MAX));
	}
}

static bool busy(struct run *R)
{
	for (const struct husk_relay *r = R->procs.relays.head; r; r = r->next) {
		check_relay(r);
		if (r->out[0].busy || r->out[1].busy || r->in_reading)
			return true;
	}
	return false;
}

/* Run the loop until the thread pool has nothing of ours: the same input
 * then does the same thing. */
static void settle(struct run *R)
{
	uv_run(&R->loop, UV_RUN_NOWAIT);
	while (busy(R))
		uv_run(&R->loop, UV_RUN_ONCE);
	uv_run(&R->loop, UV_RUN_NOWAIT);
	drain_peer(R);
	check(R->losses <= 1);
}

/* The input's DATA and WINDOW per stream, as a receiver would parse it. */
static void count_input(struct run *R, const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		struct husk_frame_hdr h;
		struct husk_err err;
		int r = husk_frame_parse(p + off, len - off, &h, &err);
		if (r == HUSK_PARSE_NEED_MORE)
			break;
		if (r == HUSK_PARSE_BAD) {
			off += husk_frame_resync(p + off, len - off);
			continue;
		}
		if (h.stream < MAX_STREAM && h.type == HUSK_FRAME_DATA)
			R->in_data[h.stream] += h.length;
		if (h.stream < MAX_STREAM && h.type == HUSK_FRAME_WINDOW)
			R->in_window[h.stream] += husk_get_be32(p + off + HUSK_FRAME_HDR);
		off += HUSK_FRAME_HDR + h.length;
	}
}

static void closed_init(struct husk_relay *r)
{
}

static void teardown(struct run *R)
{
	settle(R);
	/* the execs still here, then the container's process */
	struct husk_proc *x = R->procs.execs, *next;
	for (; x; x = next) {
		next = x->next;
		if (!x->done)
			husk_proc_drop(x);
	}
	if (R->procs.init.relay.set)
		husk_relay_unlink(&R->procs.init.relay, closed_init);
	free(R->procs.init.arg0); /* the proxy never lets its init go */
	husk_session_close(&R->s);
	uv_run(&R->loop, UV_RUN_DEFAULT);
	check(R->procs.execs == NULL);
	check(uv_loop_close(&R->loop) == 0);
	close(R->peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run *R;
	struct husk_err err;
	int sv[2];
	if (size < 1)
		return 0;
	if (devnull < 0) {
		signal(SIGPIPE, SIG_IGN);
		verbose = getenv("FUZZ_SESSION_VERBOSE") != NULL;
		/* the log limit runs (debug lines too), the lines go nowhere */
		husk_log_max = HUSK_LOG_DEBUG;
		if (!verbose)
			husk_log_set_sink(quiet);
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		check(devnull >= 0);
		R = malloc(sizeof *R);
		check(R);
	}
	memset(R, 0, sizeof *R);
	check(uv_loop_init(&R->loop) == 0);
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	R->peer = sv[1];
	check(fcntl(R->peer, F_SETFL, O_NONBLOCK) == 0);
	/* the socket's buffer takes what the host writes in one step */
	int big = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	check(husk_session_open(&R->s, &R->loop, sv[0], &session_ops, R, &err) == 0);
	int fds[3] = {-1, devnull, devnull};
	husk_procs_init(&R->procs, &R->s, "fuzz", fds, -1, &procs_ops, R);

	uint8_t sched = data[0];
	data++;
	size--;
	count_input(R, data, size);
	size_t piece = sched & 0x80 ? size : (size_t)(sched & 0x7f) * 61 + 1;
	for (size_t off = 0; off < size && !R->lost;) {
		size_t n = size - off < piece ? size - off : piece;
		husk_session_feed(&R->s, data + off, n);
		off += n;
		settle(R);
	}
	teardown(R);
	return 0;
}
