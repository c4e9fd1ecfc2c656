/* One process's stdio between host fds and the agent's streams. */
#ifndef HUSK_RELAY_H
#define HUSK_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bounds.h"
#include "husk-proto.h"

struct husk_session;

/* Written output is granted back to the agent once this much has been
 * written, or once nothing is left to write. */
#define HUSK_GRANT_BATCH (64u * 1024u)
/* A write_max small enough that a reader that takes output, however
 * slowly, lets a write finish often (husk_relay_stalled_ms). */
#define HUSK_SMALL_WRITE (16u * 1024u)

struct husk_relay {
	struct husk_session *s;
	struct husk_relay_set *set;
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
	/* stdout, stderr: what the agent sends is held only within the credit
	 * granted, so credit + buf.bytes + ungranted == HUSK_OUTPUT_WINDOW */
	struct husk_outq {
		struct husk_outbuf buf;
		bool busy; /* a write of buf's first bytes is in the thread pool */
		uv_fs_t req;
		int fd;
		uint32_t stream;
		uint32_t credit;    /* what the agent may still send */
		uint32_t ungranted; /* written (or dropped), not yet granted back */
		bool failed;
		bool closed;	     /* the agent sent CLOSE */
		uint64_t waiting_ms; /* loop time of the last write, or of bytes coming to
					an empty buf: what is held has waited since */
	} out[2];
	uint32_t write_max; /* cap on one write to stdout/stderr, 0: none */
	/* now idle (a write finished, or a CLOSE came while nothing was held) */
	void (*drained)(struct husk_relay *r);
	void (*closed)(struct husk_relay *r);
	int closing;
	bool unlinked;
	void *data;
	struct husk_relay *next;
};

/* The relays of one session, for frame dispatch. */
struct husk_relay_set {
	struct husk_relay *head;
};

/* Streams base, base+1, base+2 between in_fd, out_fd, err_fd and the agent. */
int husk_relay_init(struct husk_relay *r, struct husk_relay_set *set, struct husk_session *s,
		    uint32_t base, int in_fd, int out_fd, int err_fd, struct husk_err *err);
void husk_relay_start_stdin(struct husk_relay *r);
/* Nothing held to write and no write in flight. */
bool husk_relay_idle(const struct husk_relay *r);
/* Both output streams closed by the agent (CLOSE), and idle: all of the
 * output written (or dropped, where nobody takes it any more). */
bool husk_relay_output_done(const struct husk_relay *r);
/* How long output has been held without a byte of it written (ms by the
 * loop's clock): the writer cannot write, its reader does not read. 0 when
 * nothing is held. A write in flight counts only when it finishes, so a
 * slow reader shows as progress only as often as writes end: write_max
 * bounds them. */
uint64_t husk_relay_stalled_ms(const struct husk_relay *r);
void husk_relay_stop(struct husk_relay *r);
/* Remove from the set once idle; closed(r) runs when its handles are
 * closed and r may be freed. */
void husk_relay_unlink(struct husk_relay *r, void (*closed)(struct husk_relay *r));
/* A stream frame for one of the set's relays; false if the stream is not
 * theirs. A frame the protocol does not allow (DATA past the credit granted
 * or after CLOSE, a second CLOSE, a grant of more than the host sent, a
 * frame the wrong way) is a violation (husk_session_violation). */
bool husk_relay_frame(struct husk_relay_set *set, const struct husk_frame_hdr *h, const uint8_t *p);

#endif
