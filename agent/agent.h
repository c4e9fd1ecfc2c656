/* The guest agent: one channel to the host, containers, processes, streams. */
#ifndef HUSK_AGENT_H
#define HUSK_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "husk-proto.h"
#include "spec.h"

#define AGENT_PORT_NAME "org.husk.agent.0"
#define AGENT_RUN_DIR	"/run/husk"

/* A compiled seccomp program (struct sock_filter[]). */
struct agent_bpf {
	void *prog;
	size_t len;
};

struct agent_container {
	char *id;
	char *rootfs; /* where the share (sub)directory is mounted in the agent */
	bool readonly;
	char *hostname;
	struct agent_spec spec;
	bool has_spec_mounts; /* config.json had "mounts": use them, not defaults */
	struct agent_bpf seccomp;
	char *cgroup;	/* /sys/fs/cgroup/<id>, or NULL without cgroup2 */
	pid_t init_pid; /* first process: its namespaces are the container's */
	bool own_pidns; /* the first process is PID 1 of its own pid namespace */
	bool stopped;
	struct agent_container *next;
};

enum agent_stream_kind { STREAM_IN = 0, STREAM_OUT = 1, STREAM_ERR = 2 };

struct agent_process;

struct agent_stream {
	uint32_t id;
	enum agent_stream_kind kind;
	struct agent_process *proc;
	union {
		uv_pipe_t pipe; /* IN: writes to the process */
		uv_poll_t poll; /* OUT/ERR: readiness of fd, which we read */
	} h;
	int fd;		  /* OUT/ERR: the pipe's read end or the pty master */
	bool is_pipe;	  /* OUT/ERR: fd is a pipe, so it can be spliced */
	bool open;	  /* handle initialised and not yet closing */
	bool eof;	  /* OUT/ERR: fd reached EOF and CLOSE was queued */
	bool reading;	  /* OUT/ERR: polling for input */
	uint32_t credit;  /* OUT/ERR: bytes we may still send to the host */
	uint32_t pending; /* IN: bytes queued to the pipe, not yet written */
	bool close_req;	  /* IN: the host sent CLOSE */
};

struct agent_process {
	uint32_t id;	     /* = stdin stream id */
	uint32_t request_id; /* start request awaiting its reply, 0 once replied */
	struct agent_container *container;
	pid_t pid;
	int64_t forked_ns, reaped_ns;
	bool is_init;
	bool terminal;
	bool exited;
	int status; /* shell convention */
	int signal;
	struct agent_stream streams[3];
	uv_pipe_t errpipe; /* exec result from the child */
	bool errpipe_open;
	int exec_result[3]; /* from the child: spawn stage, errno, detail; zero on exec */
	size_t exec_got;
	int handles; /* open libuv handles; freed when 0 and done */
	bool done;   /* exit event sent, or the start failed */
	struct agent_process *next;
};

struct agent {
	uv_loop_t *loop;
	uv_pipe_t chan;
	uv_signal_t sigchld;
	uv_timer_t reopen;
	int chan_fd;
	uint8_t *rbuf; /* channel read buffer */
	size_t rlen;
	struct agent_container *containers;
	struct agent_process *procs;
	bool shutting_down;
	uint32_t max_stream; /* highest stream id a process has used */
};

extern struct agent agent;

/* handlers.c: write value to dir/name in one write(2); -1 with errno */
int agent_write_file(const char *dir, const char *name, const char *value);

/* channel.c */
int agent_channel_open(struct husk_err *err);
void agent_send_frame(uint16_t type, uint32_t stream, const void *payload, uint32_t len);
/* Output read into a buffer goes out in frames of at most this much (a
 * spliced frame may carry up to HUSK_DATA_MAX). */
#define AGENT_COPY_MAX (64u * 1024u)
/* Buffers of HUSK_FRAME_HDR + AGENT_COPY_MAX bytes for DATA frames, reused. */
uint8_t *agent_data_buf(void);
void agent_data_buf_put(uint8_t *buf);
/* Send a DATA frame whose payload follows the header's room in buf, a
 * buffer from agent_data_buf that the channel now owns. */
void agent_send_data(uint32_t stream, uint8_t *buf, uint32_t len);
/* A DATA frame of up to max bytes spliced from the pipe fd straight into
 * the channel: the bytes sent, 0 when nothing was (the channel is busy,
 * splicing is off, or the pipe is empty), -1 once a frame broke off. */
ssize_t agent_send_spliced(uint32_t stream, int fd, uint32_t max);
void agent_send_json(uint16_t type, struct json_object *o);
void agent_send_window(uint32_t stream, uint32_t n);
void agent_reply_error(uint32_t id, const struct husk_err *err);
void agent_reply_ok(uint32_t id, int64_t pid);
/* Reply, and power the VM off once the reply is written. */
void agent_reply_ok_then_poweroff(uint32_t id);

/* handlers.c */
void agent_handle_request(const char *payload, size_t len);
struct agent_container *agent_container_find(const char *id);

/* process.c */
int agent_process_start(uint32_t request_id, struct agent_container *c,
			const struct husk_process *spec, const struct husk_streams *s,
			struct husk_err *err);
struct agent_process *agent_process_find(uint32_t id);
struct agent_stream *agent_stream_find(uint32_t id);
void agent_stream_data(struct agent_stream *st, const uint8_t *data, uint32_t len);
void agent_stream_window(struct agent_stream *st, uint32_t n);
void agent_stream_close(struct agent_stream *st);
void agent_reap(void);
int agent_process_resize(struct agent_process *p, uint16_t rows, uint16_t cols,
			 struct husk_err *err);

/* spawn.c: fork the process; the child reports failure on errfd, a
 * SOCK_STREAM socket. For a terminal process stdio is ignored: the child
 * opens a pty in the container's devpts and sends its master back on errfd
 * (one byte 'T' with the fd, or 'E' before an error message). */
enum spawn_stage {
	SPAWN_STAGE_SETUP = 1,
	SPAWN_STAGE_ROOT = 2,
	SPAWN_STAGE_USER = 3,
	SPAWN_STAGE_CWD = 4,
	SPAWN_STAGE_EXEC = 5,
	SPAWN_STAGE_TTY = 6,
	SPAWN_STAGE_NAMESPACES = 7,
	SPAWN_STAGE_LIMITS = 8,
	SPAWN_STAGE_CAPS = 9,
	SPAWN_STAGE_SECCOMP = 10,
};
pid_t agent_spawn(const struct agent_container *c, const struct husk_process *spec,
		  const struct spec_process *sp, const int stdio[3], int errfd, int syncfd,
		  struct husk_err *err);
const char *agent_spawn_stage_name(int stage);

/* Set by the child before it fails: which mount (index + 1) was at fault. */
extern int agent_fail_detail;

/* rootfs.c: the new container's mount namespace and root (child side). */
int agent_rootfs_enter(const struct agent_container *c);
/* seccomp.c */
int agent_seccomp_compile(struct json_object *seccomp, struct agent_bpf *out, struct husk_err *err);
int agent_seccomp_load(const struct agent_bpf *bpf);

/* secure.c: limits, capabilities, identity (child side). */
int agent_secure_before_user(const struct spec_process *sp);
int agent_secure_user(const struct husk_process *spec);
int agent_secure_after_user(const struct spec_process *sp);

#endif
