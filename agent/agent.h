/* The guest agent's shared objects: containers, their processes, and the
 * stdio streams of those. Each module's functions are in its own header. */
#ifndef HUSK_AGENT_H
#define HUSK_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "husk-proto.h"
#include "seccomp.h"
#include "spec.h"

/* The agent's one event loop (main.c). */
extern uv_loop_t *agent_loop;

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
	char *sandbox;	/* a pod's container: the container whose namespaces its
			 * config's namespace paths name, or NULL */
	pid_t join_pid; /* the sandbox's first process, when this one's started */
	int nprocs;	/* its processes the agent still tracks */
	bool deleted;	/* container.delete: gone from the list, freed with its
			 * last process */
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
	int handles;	/* open libuv handles; freed when 0 and done */
	bool exit_sent; /* the exit event went out */
	bool done;	/* exit event sent and both outputs closed, or the start failed */
	struct agent_process *next;
};

#endif
