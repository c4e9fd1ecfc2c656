/* husk wire protocol: framing and messages shared by host and agent.
 * docs/protocol.md is the contract; values here never change meaning. */
#ifndef HUSK_PROTO_H
#define HUSK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk-err.h"

struct json_object;

#define HUSK_PROTO_VERSION 4

/* Frame header: 12 bytes, all fields big-endian.
 *   magic u16 0x484b ("HK") | type u16 | stream u32 | length u32 */
#define HUSK_FRAME_MAGIC       0x484bu
#define HUSK_FRAME_HDR	       12u
#define HUSK_FRAME_MAX_PAYLOAD (1u << 20)      /* any frame */
#define HUSK_DATA_MAX	       (256u * 1024u)  /* one DATA frame */
#define HUSK_INITIAL_WINDOW    (256u * 1024u)  /* credit a stdin stream starts with */
#define HUSK_OUTPUT_WINDOW     (1024u * 1024u) /* credit stdout, stderr start with */
#define HUSK_SMALL_JSON_MAX    4096u	       /* HELLO, EVENT, ERROR payloads */
#define HUSK_STREAM_CONTROL    0u

enum husk_frame_type {
	HUSK_FRAME_HELLO = 1,	/* agent -> host, stream 0, JSON */
	HUSK_FRAME_REQUEST = 2, /* host -> agent, stream 0, JSON */
	HUSK_FRAME_REPLY = 3,	/* agent -> host, stream 0, JSON */
	HUSK_FRAME_EVENT = 4,	/* agent -> host, stream 0, JSON */
	HUSK_FRAME_DATA = 5,	/* either way, stream > 0, raw bytes */
	HUSK_FRAME_WINDOW = 6,	/* either way, stream > 0, u32 credit grant */
	HUSK_FRAME_CLOSE = 7,	/* either way, stream > 0, empty: no more DATA */
	HUSK_FRAME_ERROR = 8,	/* agent -> host, stream 0, JSON: bad frame */
};

struct husk_frame_hdr {
	uint16_t type;
	uint32_t stream;
	uint32_t length;
};

/* Result of husk_frame_parse(). */
enum husk_parse {
	HUSK_PARSE_NEED_MORE = 0, /* not a whole frame yet */
	HUSK_PARSE_FRAME = 1,	  /* hdr filled; frame is HDR + length bytes */
	HUSK_PARSE_BAD = -1,	  /* err says why; resync with husk_frame_resync() */
};

void husk_frame_encode_hdr(uint8_t out[HUSK_FRAME_HDR], uint16_t type, uint32_t stream,
			   uint32_t length);
/* Checks magic, type, stream/type agreement, length bounds and, once the
 * payload is present, type-specific payload rules (WINDOW is 4 bytes and
 * non-zero, CLOSE is empty). */
int husk_frame_parse(const uint8_t *buf, size_t len, struct husk_frame_hdr *hdr,
		     struct husk_err *err);
/* Bytes to drop to reach the next possible frame start after a bad header. */
size_t husk_frame_resync(const uint8_t *buf, size_t len);
const char *husk_frame_type_name(uint16_t type);
uint32_t husk_get_be32(const uint8_t *p);
void husk_put_be32(uint8_t *p, uint32_t v);

/* ---- messages ---- */

struct husk_hello {
	char *agent_version;
	int protocol;
	char *kernel_release;
};

struct husk_user {
	uint32_t uid, gid;
	uint32_t *gids;
	size_t ngids;
};

struct husk_process {
	char **args; /* NULL-terminated */
	size_t nargs;
	char **env; /* NULL-terminated */
	size_t nenv;
	char *cwd;
	struct husk_user user;
	bool terminal;
	uint16_t rows, cols; /* consoleSize; 0 when not given */
	/* The whole OCI process object as received (a reference), so fields
	 * the codec does not model (rlimits, capabilities, ...) travel on. */
	struct json_object *raw;
};

/* Streams of one process: the host chooses them, all distinct and non-zero.
 * The process is named by its stdin stream id. */
struct husk_streams {
	uint32_t in, out, err;
};

struct husk_rootfs {
	char *tag;    /* share mount tag */
	char *fstype; /* "9p" or "virtiofs" */
	char *path;   /* subdirectory inside the share, "" for its top */
	bool readonly;
};

enum husk_op {
	HUSK_OP_UNKNOWN = 0,
	HUSK_OP_PING = 1,
	HUSK_OP_CONTAINER_CREATE = 2,
	HUSK_OP_PROCESS_START = 3,
	HUSK_OP_PROCESS_SIGNAL = 4,
	HUSK_OP_SHUTDOWN = 5,
	HUSK_OP_PROCESS_RESIZE = 6,
	HUSK_OP_CONTAINER_PS = 7,
	HUSK_OP_NETWORK_CONFIGURE = 8,
	HUSK_OP_CONTAINER_UPDATE = 9,
	HUSK_OP_CONTAINER_DELETE = 10,
	HUSK_OP_VM_RESTORE = 11,
};

#define HUSK_RESTORE_ENTROPY_MIN 32
#define HUSK_RESTORE_ENTROPY_MAX 256
struct husk_request {
	uint32_t id;
	enum husk_op op;
	char *op_name;
	union {
		struct {
			char *id;
			struct husk_rootfs rootfs;
			char *hostname;
			/* config.json's "mounts" and "linux" (a reference), or NULL */
			struct json_object *spec;
			/* a pod's container: the VM's container whose namespaces
			 * config.json's namespace paths name, or NULL */
			char *sandbox;
		} create;
		struct {
			char *container;
			struct husk_process process;
			struct husk_streams streams;
		} start;
		struct {
			uint32_t process;
			int signal;
			bool all; /* every process of the process's container */
		} signal;
		struct {
			uint32_t process;
			uint16_t rows, cols;
		} resize;
		struct {
			char *container;
		} ps; /* container.ps, container.delete */
		struct {
			/* interfaces, addresses, routes (a reference) */
			struct json_object *network;
		} net;
		struct {
			char *container;
			/* the new limits: an OCI linux.resources object (a
			 * reference); what it leaves out stays as it is */
			struct json_object *resources;
		} update;
		struct {
			/* host entropy for the guest's RNG, and the host's
			 * CLOCK_REALTIME in ns: a VM restored from a snapshot is
			 * made unique before anything runs in it */
			uint8_t entropy[HUSK_RESTORE_ENTROPY_MAX];
			size_t nentropy;
			int64_t time_ns;
		} restore;
	} u;
};

#define HUSK_MAX_PIDS	 65536		    /* the most pids a container.ps reply carries */
#define HUSK_PS_CMD_MAX	 4096		    /* bytes of a container.ps "cmd" */
#define HUSK_PS_TTY_MAX	 32		    /* bytes of a container.ps "tty" */
#define HUSK_PS_SECS_MAX ((int64_t)1 << 40) /* bound of its times in seconds */

/* One process of a container.ps reply, as the guest's /proc shows it. */
struct husk_ps_proc {
	int32_t pid, ppid;
	uint32_t uid;	/* effective */
	int64_t start;	/* seconds since the guest booted */
	int64_t cpu_ns; /* user + system CPU time */
	char *tty;	/* "pts/0", "?" for none */
	char *cmd;	/* the command line joined by spaces, or "[comm]" */
};

struct husk_reply {
	uint32_t id;
	int err_code; /* 0 on success, else errno */
	char *err_name;
	char *message;
	int status;    /* process.start error: the exit status it means (126, 127), or 0 */
	int64_t pid;   /* process.start: guest pid, else -1 */
	int32_t *pids; /* container.ps: guest pids */
	size_t npids;
	bool has_pids;
	/* container.ps, optional: each process's details (those of pids the
	 * agent could read), with the guest's clock: seconds since it booted
	 * when they were read, and its boot in seconds since the Epoch by its
	 * clock (0: unknown) */
	struct husk_ps_proc *procs;
	size_t nprocs;
	bool has_procs;
	int64_t uptime;
	int64_t boot_time;
};

struct husk_exit_event {
	uint32_t process;
	int status;	    /* shell convention: code, or 128 + signal */
	int signal;	    /* 0 unless killed by a signal */
	int64_t runtime_ns; /* fork to reap, measured by the agent; 0 if unknown */
	bool output_open;   /* stdout or stderr not closed yet: its CLOSE follows */
};

/* Encoders return a new json_object (caller puts it) or NULL on ENOMEM. */
struct json_object *husk_hello_encode(const struct husk_hello *h);
struct json_object *husk_request_encode(const struct husk_request *r);
struct json_object *husk_reply_encode(const struct husk_reply *r);
struct json_object *husk_exit_encode(const struct husk_exit_event *e);
struct json_object *husk_error_frame_encode(int code, const char *message);

/* Decoders parse a frame payload (not NUL-terminated). On failure they return
 * -1, leave the out struct freed, and err names the field at fault. */
int husk_hello_decode(const char *buf, size_t len, struct husk_hello *h, struct husk_err *err);
int husk_request_decode(const char *buf, size_t len, struct husk_request *r, struct husk_err *err);
int husk_reply_decode(const char *buf, size_t len, struct husk_reply *r, struct husk_err *err);
int husk_exit_decode(const char *buf, size_t len, struct husk_exit_event *e, struct husk_err *err);
/* Also returns the request id of a payload that fails to decode as a whole,
 * when one can be read, so the error reply can carry it; else 0. */
uint32_t husk_request_peek_id(const char *buf, size_t len);

/* The process spec is shared with the host's config.json reader. */
int husk_process_from_json(struct json_object *o, struct husk_process *p, struct husk_err *err);
struct json_object *husk_process_to_json(const struct husk_process *p);

void husk_hello_free(struct husk_hello *h);
void husk_process_free(struct husk_process *p);
void husk_request_free(struct husk_request *r);
void husk_reply_free(struct husk_reply *r);

const char *husk_op_name(enum husk_op op);
/* Serialize a JSON message into one frame (header + payload) in a malloc'd
 * buffer; returns its size or -1 (payload too large or ENOMEM). */
int64_t husk_frame_json(uint16_t type, struct json_object *o, uint8_t **out, struct husk_err *err);

#endif
