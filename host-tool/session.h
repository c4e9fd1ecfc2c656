/* The host end of the channel to one VM's agent: frames, requests and
 * replies, the console, and the QEMU process. */
#ifndef HUSK_SESSION_H
#define HUSK_SESSION_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "husk-proto.h"
#include "vm.h"

struct husk_session;
struct husk_relay;

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
	int console_log; /* fd or -1 */
	bool console_echo;
	char console_tail[4096]; /* ring of the last console bytes */
	size_t tail_pos;
	bool tail_wrapped;
	uint8_t *rbuf;
	size_t rlen;
	bool greeted;
	bool resync; /* reconnected: skip a cut frame up to the next good one */
	const char *state_dir;
	bool keep_agent_sock; /* test hooks: agent.sock stays for reconnects */
	struct husk_hello hello;
	uint32_t next_id;
	struct husk_pending *pending;
	struct husk_relay *relays;
};

/* Boot the VM and wait (in the loop) for the agent's HELLO. */
int husk_session_start(struct husk_session *s, uv_loop_t *loop, const struct husk_vm_opts *o,
		       const char *console_log, unsigned greet_timeout_ms,
		       const struct husk_session_ops *ops, struct husk_err *err);
int husk_session_request(struct husk_session *s, struct husk_request *r, husk_reply_cb cb,
			 void *data, struct husk_err *err);
void husk_session_send(struct husk_session *s, uint16_t type, uint32_t stream, const void *p,
		       uint32_t len);
/* Watch fd (a connection to the agent's port, now owned) as the channel. */
int husk_session_attach(struct husk_session *s, int fd, struct husk_err *err);
/* Last console lines, for error messages. */
void husk_session_console_tail(struct husk_session *s, char *buf, size_t size);
/* SIGKILL QEMU and wait for it. */
void husk_session_kill_vm(struct husk_session *s);

/* testhooks.c: fault injection for the integration tests, off unless the
 * proxy started with HUSK_TEST_HOOKS=1 in its environment. */
bool husk_test_hooks(void);
typedef void (*husk_hook_cb)(struct husk_session *s, const struct husk_err *err, void *data);
/* Control requests {"op":"inject","data":base64} (raw bytes onto the
 * channel, past the frame encoder) and {"op":"reconnect","after":base64,
 * "hold":bool} (write those bytes, drop the connection and connect again:
 * at once, or with hold at the next reconnect). cb runs once done (err
 * NULL) unless this returns -1. */
int husk_test_hook(struct husk_session *s, const char *op, struct json_object *req, husk_hook_cb cb,
		   void *data, struct husk_err *err);

/* relay.c: one process's stdio between host fds and the agent's streams. */
struct husk_relay {
	struct husk_session *s;
	uint32_t ids[3];
	int fds[3];
	/* stdin */
	uint32_t in_credit;
	bool in_reading, in_eof, in_started;
	uv_fs_t in_req;
	uv_timer_t in_retry;
	uv_poll_t in_poll;
	bool in_pollable, in_polling;
	char *in_buf;
	/* stdout, stderr */
	struct husk_outq {
		struct husk_chunk *head, *tail;
		bool busy;
		uv_fs_t req;
		int fd;
		uint32_t stream;
		bool failed;
		bool closed; /* the agent sent CLOSE */
	} out[2];
	void (*drained)(struct husk_relay *r);
	void (*closed)(struct husk_relay *r);
	int closing;
	bool unlinked;
	void *data;
	struct husk_relay *next;
};

void husk_relay_init(struct husk_relay *r, struct husk_session *s, uint32_t base, int in_fd,
		     int out_fd, int err_fd);
void husk_relay_start_stdin(struct husk_relay *r);
bool husk_relay_idle(const struct husk_relay *r);
void husk_relay_stop(struct husk_relay *r);
/* Remove from the session once idle; closed(r) runs when its handles are
 * closed and r may be freed. */
void husk_relay_unlink(struct husk_relay *r, void (*closed)(struct husk_relay *r));
/* Frame dispatch for relay streams; false if the stream is not ours. */
bool husk_relay_frame(struct husk_session *s, const struct husk_frame_hdr *h, const uint8_t *p);

#endif
