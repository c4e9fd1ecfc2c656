/* An asynchronous QMP (QEMU Machine Protocol) client on libuv: the proxy's
 * connection to its QEMU's monitor (vm.c hands QEMU one end of a
 * socketpair, struct husk_vm's qmp_fd is the other).
 *
 * QEMU greets ({"QMP":...}); we answer {"execute":"qmp_capabilities"} and
 * only then send the commands queued so far, in order. QMP (without
 * out-of-band execution, which we never enable) answers in order, one
 * "return" or "error" per command; each command carries an "id" that QEMU
 * echoes, and a reply whose id is not the oldest command's is a protocol
 * error. Asynchronous events ({"event":...}) go to on_event, if set.
 * Nothing is read unbounded: a line over HUSK_QMP_LINE_MAX closes the
 * connection. When it closes (EOF, a read or write error, a protocol error,
 * husk_qmp_close) every command still pending fails. There are no
 * timeouts here: a caller that wants one keeps its own timer. */
#ifndef HUSK_QMP_H
#define HUSK_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "husk-err.h"

struct json_object;
struct husk_qmp;

#define HUSK_QMP_LINE_MAX (64 * 1024) /* bytes in one line, without its newline */

/* Called once per command, in the order they were queued. err is NULL on
 * success and ret is QEMU's "return" value (borrowed: take a reference to
 * keep it); on failure ret is NULL and err says why: QEMU's "error" reply
 * (err->msg is QEMU's desc, err->code EIO, or ENOSYS for CommandNotFound)
 * or the connection's end: ECONNRESET ("QEMU's monitor closed", with the
 * read or write error if there was one), EPROTO (what QEMU never sends:
 * not JSON, a reply to nothing, a wrong id), EMSGSIZE (a line over
 * HUSK_QMP_LINE_MAX). The callback may queue commands or close q. */
typedef void (*husk_qmp_cb)(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
			    void *data);
/* An asynchronous event: name is its "event", msg the whole message
 * (borrowed). */
typedef void (*husk_qmp_event_cb)(struct husk_qmp *q, const char *name, struct json_object *msg,
				  void *data);

enum husk_qmp_state {
	HUSK_QMP_GREETING,    /* waiting for QEMU's greeting */
	HUSK_QMP_NEGOTIATING, /* qmp_capabilities sent */
	HUSK_QMP_READY,	      /* commands go out as they are queued */
	HUSK_QMP_DEAD,	      /* failed (see dead): commands are refused */
	HUSK_QMP_CLOSED,      /* husk_qmp_close was called */
};

struct husk_qmp_cmd; /* a queued command (qmp.c) */

struct husk_qmp {
	/* the caller's: set them after husk_qmp_init */
	husk_qmp_event_cb on_event; /* or NULL: events are skipped */
	void *data;		    /* for on_event, and for the caller */

	/* the client's own */
	uv_pipe_t pipe;
	bool pipe_open; /* pipe is initialized and not yet closed */
	enum husk_qmp_state state;
	struct husk_err dead; /* why it failed, in HUSK_QMP_DEAD and CLOSED */
	char *rbuf;	      /* HUSK_QMP_LINE_MAX + 1 bytes */
	size_t rlen;
	long long next_id;
	struct husk_qmp_cmd *head, *tail; /* oldest first; the sent ones lead */
};

/* Watch fd (a connected stream socket to QEMU's monitor, mode=control) in
 * loop. fd is taken over: closed on failure too. On failure q must still
 * stay valid until the loop has run once more (a handle may be closing);
 * husk_qmp_close on it is harmless. */
int husk_qmp_init(struct husk_qmp *q, uv_loop_t *loop, int fd, struct husk_err *err);

/* Queue cmd with args (an object, or NULL; not consumed: it is copied at
 * once). cb (may be NULL) runs once the reply came or the connection
 * ended, never from inside this call. Fails (cb never runs) once the
 * connection has ended. */
int husk_qmp_command(struct husk_qmp *q, const char *cmd, struct json_object *args, husk_qmp_cb cb,
		     void *data, struct husk_err *err);

/* The same with a descriptor passed along (SCM_RIGHTS), as getfd wants:
 * fd is not consumed (a copy goes). It is sent only with nothing else
 * being written; else the command fails (EBUSY), as a closed monitor's. */
int husk_qmp_command_fd(struct husk_qmp *q, const char *cmd, struct json_object *args, int fd,
			husk_qmp_cb cb, void *data, struct husk_err *err);

/* Fail every pending command ("QEMU's monitor closed") and close the
 * handle; q must stay valid until the loop has run the close. Idempotent.
 * Closing does not stop or affect the VM. */
void husk_qmp_close(struct husk_qmp *q);

/* What the read callback does with the bytes QEMU sent: split them into
 * lines and act on each. Exposed so the unit tests can feed exact chunks.
 * Returns 0, or -1 once the connection has ended (q->dead says why). */
int husk_qmp_feed(struct husk_qmp *q, const char *bytes, size_t n);

#endif
