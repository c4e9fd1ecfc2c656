/* The processes of one container as its proxy sees them: the first process
 * (init) and each exec'd one, their streams and their exits. The owner
 * hears what happens through an ops table; this module knows nothing of
 * who asked for a process or how the answer travels. */
#ifndef HUSK_PROCS_H
#define HUSK_PROCS_H

#include <stdbool.h>
#include <stdint.h>

#include "husk-proto.h"
#include "relay.h"

struct husk_session;
struct husk_procs;

struct husk_proc {
	struct husk_relay relay;
	struct husk_procs *set;
	uint32_t base; /* stream ids base, base+1, base+2 */
	bool is_init, started, exited, done;
	int status;
	int64_t runtime_ns;
	int fds[3];
	bool own_fds; /* close fds when done (an exec's passed descriptors) */
	int tty_fd;   /* where the window size is read, or -1 */
	char *arg0;
	void *waiter; /* the owner's: who waits for this process */
	struct husk_proc *next;
};

struct husk_procs_ops {
	void (*started)(struct husk_proc *x, int64_t guest_pid, void *data);
	/* msg names the process; status is 127/126 for a program that is
	 * missing or not executable, else 0. An exec's slot is let go after. */
	void (*start_failed)(struct husk_proc *x, const char *msg, int status, void *data);
	/* its exit event came: its output may still be open, and be held
	 * here for a reader that does not read (husk_relay_stalled_ms) */
	void (*exited)(struct husk_proc *x, void *data);
	/* exited, its output closed and every byte of it written */
	void (*done)(struct husk_proc *x, void *data);
};

struct husk_procs {
	struct husk_session *s;
	const char *container;
	struct husk_relay_set relays;
	struct husk_proc init;
	struct husk_proc *execs;
	uint32_t own_next_base;
	uint32_t *next_base; /* own_next_base, or the set whose session it shares */
	const struct husk_procs_ops *ops;
	void *data;
	void (*let_go)(struct husk_procs *set); /* husk_procs_let_go_init's */
};

/* init's stdio is fds; tty_fd (or -1) is where its window size is read. */
void husk_procs_init(struct husk_procs *set, struct husk_session *s, const char *container,
		     const int fds[3], int tty_fd, const struct husk_procs_ops *ops, void *data);
/* set (after husk_procs_init) shares the session of first, another
 * container of the same VM: its stream ids come from first's range. */
void husk_procs_share_session(struct husk_procs *set, struct husk_procs *first);
/* Whether the process with this stream base is one of set's. */
bool husk_procs_owns(const struct husk_procs *set, uint32_t base);
/* A pod container's set goes: init's relay closed (its handles), its
 * stdio closed, then gone(set), when set may be freed. */
void husk_procs_let_go_init(struct husk_procs *set, void (*gone)(struct husk_procs *set));
/* A slot for an exec'd process on these (now owned) stdio descriptors. */
struct husk_proc *husk_procs_new_exec(struct husk_procs *set, const int fds[3],
				      struct husk_err *err);
/* Ask the agent to start x; ops->started or ops->start_failed follows. On
 * -1 nothing was sent: the owner lets an exec go with husk_proc_drop. */
int husk_proc_start(struct husk_proc *x, const struct husk_process *spec, struct husk_err *err);
/* An exec slot that will not run: close its fds and free it. */
void husk_proc_drop(struct husk_proc *x);
void husk_proc_signal(struct husk_proc *x, int sig, bool all);
void husk_proc_resize(struct husk_proc *x, unsigned short rows, unsigned short cols);
/* The exit event of a process, from the agent; one for a process that is
 * not running here (unknown, not started, already exited) is a violation
 * (husk_session_violation). */
void husk_procs_exit(struct husk_procs *set, const struct husk_exit_event *e);
/* A stream frame for one of the processes; false if the stream is unknown. */
bool husk_procs_frame(struct husk_procs *set, const struct husk_frame_hdr *h, const uint8_t *p);
/* init has exited and is done with its output, and so is every exec. */
bool husk_procs_all_done(const struct husk_procs *set);

#endif
