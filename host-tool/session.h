/* The host end of the channel to one VM's agent: frames, requests and
 * replies, the console, and the QEMU process. */
#ifndef HUSK_SESSION_H
#define HUSK_SESSION_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "bounds.h"
#include "husk-log.h"
#include "husk-proto.h"
#include "vm.h"

/* What the host takes from the guest is bounded (docs/security.md, "The
 * host bounds the guest"); going past a bound is a protocol violation: the
 * session stops reading, and lost() says "the VM broke the protocol: ...".
 *
 * Frames that cost the agent no credit and that an honest agent sends
 * only when the host erred (ERROR, DATA with no bytes, in the test build a
 * REPLY to a request injected past the session): a burst, then a rate. */
#define HUSK_FREE_FRAMES_BURST 4096u
#define HUSK_FREE_FRAMES_PER_S 1024u
/* Frames (and their bytes) waiting to be written to the agent: it stopped
 * reading its channel. Credit bounds what the host sends honestly. */
#define HUSK_OUT_FRAMES_MAX 65536u
#define HUSK_OUT_BYTES_MAX  (64u << 20)
/* Log lines the guest causes: a burst, a rate, and a total per session. */
#define HUSK_GUEST_LOG_BURST 100u
#define HUSK_GUEST_LOG_PER_S 1u
#define HUSK_GUEST_LOG_TOTAL 1000u
/* console.log is rotated to console.log.1 at this size: both together
 * hold the last 1 to 2 MiB of what the guest printed. */
#define HUSK_CONSOLE_LOG_MAX (1u << 20)

struct husk_session;

typedef void (*husk_reply_cb)(struct husk_session *s, const struct husk_reply *r, void *data);

struct husk_pending {
	uint32_t id;
	husk_reply_cb cb;
	void *data;
	struct husk_pending *next;
};

struct husk_session_ops {
	void (*hello)(struct husk_session *s);
	void (*exit)(struct husk_session *s, const struct husk_exit_event *e);
	/* The VM is gone or the channel broke: err says why. */
	void (*lost)(struct husk_session *s, const struct husk_err *err);
	/* DATA, WINDOW or CLOSE on a process stream (stream > 0); false if
	 * the stream is nobody's. */
	bool (*stream)(struct husk_session *s, const struct husk_frame_hdr *h, const uint8_t *p);
};

struct husk_session {
	uv_loop_t *loop;
	const struct husk_session_ops *ops;
	void *data;
	struct husk_vm vm;
	bool vm_exited;
	int vm_status;
	uv_pipe_t chan;
	uv_pipe_t console;
	uv_signal_t sigchld;
	uv_timer_t greet_timer;
	unsigned greet_timeout_ms;
	int console_log;     /* fd or -1 */
	char *console_path;  /* where it is, for the rotation */
	size_t console_size; /* bytes in console_log */
	bool console_echo;
	char console_tail[4096]; /* ring of the last console bytes */
	size_t tail_pos;
	bool tail_wrapped;
	uint8_t *rbuf;
	size_t rlen;
	bool greeted;
	bool resync; /* reconnected: skip a cut frame up to the next good one */
	const char *state_dir;
	bool keep_agent_sock; /* agent.sock stays: the channel can be remade */
	struct husk_hello hello;
	uint32_t next_id;
	struct husk_pending *pending;
	/* the bounds */
	bool broken;	  /* lost() was called: nothing more is read or sent */
	bool raw_written; /* the test hooks wrote requests of their own */
	uint32_t out_frames;
	size_t out_bytes;
	struct husk_bucket free_frames;
	struct husk_log_limit guest_log;
	uv_timer_t guest_log_timer; /* says how many lines were not logged */
	int closing;		    /* husk_session_end: handles still closing */
	void (*ended)(void *data);
	void *ended_data;
	enum husk_log_level guest_log_level;
};

/* Boot the VM and wait (in the loop) for the agent's HELLO. With
 * o->keep_agent_sock the channel can be dropped and made again
 * (husk_session_disconnect, husk_session_reconnect). */
/* Everything of a started session gone, its VM killed; ended(data) once
 * its handles have closed, when s may be started again. */
void husk_session_end(struct husk_session *s, void (*ended)(void *data), void *data);
int husk_session_start(struct husk_session *s, uv_loop_t *loop, const struct husk_vm_opts *o,
		       const char *console_log, unsigned greet_timeout_ms,
		       const struct husk_session_ops *ops, void *data, struct husk_err *err);
int husk_session_request(struct husk_session *s, struct husk_request *r, husk_reply_cb cb,
			 void *data, struct husk_err *err);
void husk_session_send(struct husk_session *s, uint16_t type, uint32_t stream, const void *p,
		       uint32_t len);
/* Raw bytes onto the channel, past the frame encoder (copied); done runs
 * once they are written (status < 0: they were not). */
typedef void (*husk_session_done_cb)(struct husk_session *s, int status, void *data);
int husk_session_write_raw(struct husk_session *s, const void *buf, size_t len,
			   husk_session_done_cb done, void *data, struct husk_err *err);
/* Drop the connection to the agent's port; done runs once it is closed. */
void husk_session_disconnect(struct husk_session *s, husk_session_done_cb done, void *data);
/* Connect to the agent's port again (needs keep_agent_sock); the tail of a
 * frame cut by the disconnect is skipped. */
int husk_session_reconnect(struct husk_session *s, struct husk_err *err);
/* The channel is open (not dropped, not being dropped). */
bool husk_session_connected(const struct husk_session *s);
/* The agent broke the protocol (what it did, in fmt): stop reading the
 * channel and report the VM lost ("the VM broke the protocol: ..."). For
 * the modules that handle its frames (procs.c, relay.c). */
void husk_session_violation(struct husk_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A log line the guest caused, within the session's log limit. */
void husk_session_guest_log(struct husk_session *s, enum husk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Bytes as if read from the agent's channel, or printed on the console:
 * the seams for tests/fuzz/fuzz_session.c and the test hooks. Nothing is
 * read once the session is broken. */
void husk_session_feed(struct husk_session *s, const void *buf, size_t len);
void husk_session_console_feed(struct husk_session *s, const void *buf, size_t len);
/* A session on a connected channel fd, without a VM (the fuzz target's);
 * husk_session_close undoes it once the loop has nothing else of it. */
int husk_session_open(struct husk_session *s, uv_loop_t *loop, int chan_fd,
		      const struct husk_session_ops *ops, void *data, struct husk_err *err);
void husk_session_close(struct husk_session *s);
/* Last console lines, for error messages. */
void husk_session_console_tail(struct husk_session *s, char *buf, size_t size);
/* SIGKILL QEMU and wait for it. */
void husk_session_kill_vm(struct husk_session *s);

#endif
