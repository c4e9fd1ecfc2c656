/* A container's processes on the host: start, signal, resize, and the
 * order of the end: done once the exit event and the CLOSE of both output
 * streams have come (in either order) and every byte of output is written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk-log.h"
#include "procs.h"
#include "session.h"
#include "tty.h"

#define INIT_BASE 1u /* stream ids of the container's first process: 1, 2, 3 */
#define BASE_STEP 4u /* each process takes four ids; the fourth is unused */

static void proc_freed(struct husk_relay *r)
{
	struct husk_proc *x = r->data;
	for (struct husk_proc **pp = &x->set->execs; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	free(x->arg0);
	free(x);
}

static void close_fds(struct husk_proc *x)
{
	for (int i = 0; i < 3; i++) {
		bool dup_of_earlier = false;
		for (int k = 0; k < i; k++)
			dup_of_earlier |= x->fds[k] == x->fds[i];
		if (x->own_fds && x->fds[i] >= 0 && !dup_of_earlier)
			close(x->fds[i]);
	}
	if (x->own_fds)
		x->fds[0] = x->fds[1] = x->fds[2] = -1; /* closed once, never again */
	x->own_fds = false;
}

/* An exec whose relay was never set up has no handles to close. */
static void let_go(struct husk_proc *x, bool relay_ready)
{
	x->exited = x->done = true;
	close_fds(x); /* the caller waits for EOF on them */
	if (relay_ready) {
		husk_relay_unlink(&x->relay, proc_freed);
		return;
	}
	x->relay.data = x;
	proc_freed(&x->relay);
}

static void drained(struct husk_relay *r)
{
	struct husk_proc *x = r->data;
	struct husk_procs *set = x->set;
	if (!x->exited || x->done || !husk_relay_output_done(r))
		return;
	if (x->is_init) {
		x->done = true; /* its slot stays: the proxy reads its status */
		set->ops->done(x, set->data);
		return;
	}
	x->done = true;
	set->ops->done(x, set->data);
	close_fds(x);
	husk_relay_unlink(&x->relay, proc_freed);
}

void husk_procs_init(struct husk_procs *set, struct husk_session *s, const char *container,
		     const int fds[3], int tty_fd, const struct husk_procs_ops *ops, void *data)
{
	memset(set, 0, sizeof *set);
	set->s = s;
	set->container = container;
	set->ops = ops;
	set->data = data;
	set->own_next_base = INIT_BASE + BASE_STEP;
	set->next_base = &set->own_next_base;
	set->init.set = set;
	set->init.is_init = true;
	set->init.base = INIT_BASE;
	set->init.tty_fd = tty_fd;
	memcpy(set->init.fds, fds, sizeof set->init.fds);
}

struct husk_proc *husk_procs_new_exec(struct husk_procs *set, const int fds[3],
				      struct husk_err *err)
{
	struct husk_proc *x = calloc(1, sizeof *x);
	if (!x) {
		husk_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	x->set = set;
	x->base = *set->next_base;
	*set->next_base += BASE_STEP;
	memcpy(x->fds, fds, sizeof x->fds);
	x->own_fds = true;
	x->tty_fd = -1;
	x->next = set->execs;
	set->execs = x;
	return x;
}

void husk_proc_drop(struct husk_proc *x)
{
	let_go(x, x->relay.set != NULL);
}

void husk_proc_signal(struct husk_proc *x, int sig, bool all)
{
	struct husk_request r = {.op = HUSK_OP_PROCESS_SIGNAL,
				 .u.signal = {.process = x->base, .signal = sig, .all = all}};
	struct husk_err err;
	if (husk_session_request(x->set->s, &r, NULL, NULL, &err) < 0)
		log_warn("cannot forward signal %d: %s", sig, err.msg);
}

void husk_proc_resize(struct husk_proc *x, unsigned short rows, unsigned short cols)
{
	struct husk_request r = {.op = HUSK_OP_PROCESS_RESIZE,
				 .u.resize = {.process = x->base, .rows = rows, .cols = cols}};
	struct husk_err err;
	if (x->started && !x->exited && husk_session_request(x->set->s, &r, NULL, NULL, &err) < 0)
		log_warn("cannot resize: %s", err.msg);
}

static void started(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct husk_proc *x = data;
	struct husk_procs *set = x->set;
	if (r->err_code) {
		char msg[700];
		snprintf(msg, sizeof msg, "exec \"%s\": %s", x->arg0, r->message);
		set->ops->start_failed(x, msg, r->status, set->data);
		if (!x->is_init)
			let_go(x, true);
		return;
	}
	if (r->pid < 1) {
		husk_session_violation(s, "a REPLY to the start of process %u without its pid",
				       x->base);
		return;
	}
	x->started = true;
	log_debug("process %u started as guest pid %lld", x->base, (long long)r->pid);
	husk_relay_start_stdin(&x->relay);
	if (x->tty_fd >= 0) {
		unsigned short rows, cols;
		if (husk_tty_size(x->tty_fd, &rows, &cols) == 0 && (rows || cols))
			husk_proc_resize(x, rows, cols);
	}
	set->ops->started(x, r->pid, set->data);
}

int husk_proc_start(struct husk_proc *x, const struct husk_process *spec, struct husk_err *err)
{
	struct husk_procs *set = x->set;
	struct husk_request req = {.op = HUSK_OP_PROCESS_START};
	if (husk_relay_init(&x->relay, &set->relays, set->s, x->base, x->fds[0], x->fds[1],
			    x->fds[2], err) < 0) {
		x->relay.set = NULL;
		return -1;
	}
	x->relay.data = x;
	x->relay.drained = drained;
	if (!(x->arg0 = strdup(spec->args[0])))
		return husk_err_set(err, ENOMEM, "out of memory");
	req.u.start.container = (char *)set->container;
	req.u.start.process = *spec;
	req.u.start.streams = (struct husk_streams){x->base, x->base + 1, x->base + 2};
	return husk_session_request(set->s, &req, started, x, err);
}

void husk_procs_share_session(struct husk_procs *set, struct husk_procs *first)
{
	set->next_base = first->next_base;
	set->init.base = *set->next_base;
	*set->next_base += BASE_STEP;
}

static void init_unlinked(struct husk_relay *r)
{
	struct husk_proc *x = r->data;
	struct husk_procs *set = x->set;
	x->own_fds = true;
	close_fds(x);
	set->let_go(set);
}

void husk_procs_let_go_init(struct husk_procs *set, void (*gone)(struct husk_procs *set))
{
	struct husk_proc *x = &set->init;
	set->let_go = gone;
	if (x->relay.set && !x->relay.unlinked) {
		x->relay.data = x;
		husk_relay_unlink(&x->relay, init_unlinked);
		return;
	}
	x->own_fds = true;
	close_fds(x);
	gone(set);
}

static struct husk_proc *by_base(struct husk_procs *set, uint32_t base)
{
	if (base == set->init.base)
		return &set->init;
	for (struct husk_proc *x = set->execs; x; x = x->next)
		if (x->base == base)
			return x;
	return NULL;
}

bool husk_procs_owns(const struct husk_procs *set, uint32_t base)
{
	return by_base((struct husk_procs *)set, base) != NULL;
}

void husk_procs_exit(struct husk_procs *set, const struct husk_exit_event *e)
{
	struct husk_proc *x = by_base(set, e->process);
	/* the agent reports only processes the host started, once each, after
	 * it answered their start */
	if (!x) {
		husk_session_violation(set->s, "an exit event for unknown process %u", e->process);
		return;
	}
	if (!x->started || x->exited) {
		husk_session_violation(set->s, "%s exit event for process %u%s",
				       x->exited ? "a second" : "an", e->process,
				       x->exited ? "" : ", which has not started");
		return;
	}
	/* the event says whether the agent has closed both outputs yet, and
	 * the frames come in order: the CLOSEs seen here must agree */
	bool closed = x->relay.out[0].closed && x->relay.out[1].closed;
	if (e->output_open == closed) {
		husk_session_violation(set->s,
				       "an exit event for process %u that says its output is %s, "
				       "where the agent has %s",
				       e->process, closed ? "open" : "closed",
				       closed ? "closed both its streams" : "not closed them");
		return;
	}
	x->exited = true;
	x->status = e->status;
	x->runtime_ns = e->runtime_ns;
	log_debug("process %u exited with status %d after %lld us in the guest%s", e->process,
		  e->status, (long long)(e->runtime_ns / 1000),
		  e->output_open ? ", its output still open" : "");
	/* nobody reads its stdin any more; what is left of its output is
	 * written in small writes, so that a reader's progress shows */
	husk_relay_stop(&x->relay);
	x->relay.write_max = HUSK_SMALL_WRITE;
	set->ops->exited(x, set->data);
	drained(&x->relay);
}

/* Frames for streams of no process here (never opened, or of a process
 * that is done) are the session's to refuse. */
bool husk_procs_frame(struct husk_procs *set, const struct husk_frame_hdr *h, const uint8_t *p)
{
	return husk_relay_frame(&set->relays, h, p);
}

bool husk_procs_all_done(const struct husk_procs *set)
{
	if (!set->init.done)
		return false;
	for (const struct husk_proc *x = set->execs; x; x = x->next)
		if (!x->done)
			return false;
	return true;
}
