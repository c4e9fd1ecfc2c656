/* The proxy: the host process that owns one container's VM. It relays the
 * container process's stdio, forwards the signals it and the sentinel (the
 * PID --pid-file holds, sentinel.h) receive, serves start/exec/kill/ps on
 * the control socket and exits with the container process's status. This header is the state
 * machine's (proxy.c); proxy-main.c starts a proxy, proxy-ctl.c serves its
 * control socket. */
#ifndef HUSK_PROXY_H
#define HUSK_PROXY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cgroup.h"
#include "config.h"
#include "ctlsrv.h"
#include "netconf.h"
#include "procs.h"
#include "qmp.h"
#include "sentinel.h"
#include "session.h"
#include "share.h"
#include "state.h"
#include "vm.h"

struct proxy_opts {
	const char *id;
	char *bundle; /* absolute */
	char *rootfs; /* absolute */
	char *state_dir;
	struct husk_share share; /* the VM's one share: the rootfs, the bind sources */
	char *binds_path;	 /* <share.part>/binds when config.json binds host paths */
	char *binds_ro_path;	 /* <share.part>/binds-ro for its read-only binds */
	struct husk_sentinel_bind *bind_view; /* those binds as the sentinel shows them */
	size_t nbind_view;
	struct husk_config cfg;
	struct husk_vm_opts vo;
	struct husk_netconf net;
	unsigned boot_timeout_s;
	const char *console_socket;
	const char *pid_file; /* run without -d: the proxy writes it */
	int notify_fd;	      /* create/run -d wait here for "ok <pid>" or an error; -1 if none */
	bool foreground;      /* husk run: the caller's own process, stdio and terminal */
	bool autostart;	      /* run: start the process as soon as the container exists */
	bool share_set;	      /* --share given */
	int exec_status; /* set by prepare when the program is missing (127) or not executable (126)
			  */
	char *sandbox;	 /* a pod's container: its sandbox's id (pod.h), or NULL */
	char *staged_rootfs; /* and its rootfs as staged in the sandbox's namespace */
	char *sandbox_dir;   /* and that one's state directory */
};

/* What husk_bundle_prepare and husk_state_create allocated: for the create
 * and run processes that return rather than become the proxy. */
void husk_proxy_opts_free(struct proxy_opts *o);

#define HUSK_PROXY_MAX_SIGNALS 40

/* One proxy; every callback reaches it through its data pointer. */
struct proxy {
	struct proxy_opts *o;
	uv_loop_t *loop;
	struct husk_session s;
	struct husk_procs procs;
	struct husk_ctl_server ctl;
	/* opens the control socket once the container exists (proxy-main.c) */
	int (*serve)(struct proxy *P, struct husk_err *err);
	struct husk_state st;
	struct json_object *spec_mounts; /* config's mounts, bind sources rewritten */
	struct husk_qmp qmp;		 /* QEMU's monitor: pause, resume */
	struct husk_cgroup cg;		 /* the VM's host cgroup (proxy-res.c) */
	bool cg_joined;
	struct husk_sentinel sentinel; /* the container's PID on the host */
	uv_poll_t sentinel_poll;
	uv_signal_t sigs[HUSK_PROXY_MAX_SIGNALS];
	int nsigs;
	uv_timer_t stop_timer;
	uv_timer_t create_timer;
	uv_timer_t kill_timer;	/* SIGKILL's grace (husk_proxy_kill_grace) */
	uv_timer_t live_timer;	/* liveness pings (husk_proxy_watch) */
	uv_timer_t stall_timer; /* after init's exit: is its output read? */
	uint64_t exited_ms;	/* loop time of init's exit event */
	bool released;		/* "stopped" told (state, sentinel) before the output is done */
	uint64_t ping_sent;	/* loop time of the ping that is out, or 0 */
	bool created, stopping, tty_raw, notify_on_start, start_asked;
	bool paused, pausing;	    /* the VM is stopped (QMP "stop"); a change is on its way */
	struct pod_member *members; /* a sandbox's: the pod's other containers (pod.h) */
	const char *console_path;   /* <state>/console.log */
	bool restoring;		    /* the VM is being restored from a snapshot */
	bool restart_asked;	    /* that failed: it boots instead */
	struct pod_link *link;	    /* a pod member's: its sandbox's proxy (pod-member.c) */
};

/* What a process's waiter (a control connection) hears: its start (the
 * pid), its failure to start, and, for an exec, its exit once done. */
void husk_proc_reply_started(struct husk_proc *x, int64_t pid);
void husk_proc_reply_failed(struct husk_proc *x, const char *msg, int status);
void husk_proc_reply_done(struct husk_proc *x);
/* The stdio of the container's process: the caller's, or a terminal. */
int husk_proxy_stdio(struct proxy *P, int fds[3], int *tty_fd, struct husk_err *err);
/* The signals a proxy forwards, each to on(P's handle, sig). */
void husk_proxy_catch_signals(struct proxy *P, uv_signal_cb on);
/* Restoring the VM from its snapshot failed before its agent greeted: it
 * boots instead, once (proxy-main.c). */
void husk_proxy_restore_failed(struct proxy *P, const struct husk_err *err);
/* container.create for the proxy's container into *req (its spec the
 * object returned, the caller's to put; host holds a hostname it may
 * name). A pod member's proxy sends the same, encoded, to its sandbox's. */
struct json_object *husk_proxy_create_request(struct proxy *P, struct husk_request *req,
					      char host[HOST_NAME_MAX + 1]);
/* The sentinel (sentinel.h) started and watched; its PID is the state's. */
int husk_proxy_start_sentinel(struct proxy *P, struct husk_err *err);

extern const struct husk_session_ops husk_proxy_session_ops;
extern const struct husk_procs_ops husk_proxy_procs_ops;

/* state.json as "creating", from the options. */
int husk_proxy_init_state(struct proxy *P, struct husk_err *err);
void husk_proxy_set_status(struct proxy *P, const char *status);
/* Tell create (or run -d), waiting on notify_fd: "ok" or an error. */
void husk_proxy_notify(struct proxy *P, const char *msg);
/* "ok <pid>": the container exists, its PID on the host is the sentinel's. */
void husk_proxy_notify_ok(struct proxy *P);
/* Once every process is done (husk_procs_all_done): flush the guest, stop. */
void husk_proxy_maybe_stop(struct proxy *P);
/* Start the container's process; c (or NULL) hears the outcome. */
void husk_proxy_start_init(struct proxy *P, struct husk_ctl_conn *c);
/* Stop the VM, clean up, record the status and exit with code. */
__attribute__((noreturn)) void husk_proxy_finish(struct proxy *P, int code);
/* A failure: tell whoever waits (with the console's last lines when tail),
 * then finish with 125, or 255 once the process had started. */
__attribute__((noreturn)) void husk_proxy_fail(struct proxy *P, const struct husk_err *err,
					       bool tail);
/* A guest whose agent has not answered a ping for HUSK_LIVENESS_LIMIT_MS is
 * lost; pings go every HUSK_LIVENESS_TICK_MS (generous: TCG on a loaded
 * host is slow, never silent that long). */
#define HUSK_LIVENESS_TICK_MS  5000
#define HUSK_LIVENESS_LIMIT_MS 30000
void husk_proxy_watch(struct proxy *P);
/* The container's process has exited but its output is still held: once
 * the proxy has not been able to write any of it for this long after the
 * exit (nobody reads it), the container is reported stopped to callers
 * (state, and the sentinel exits with its status) as under runc, whose
 * container ends while its output waits in pipes; the proxy keeps the
 * output for its reader until it is read or the container deleted. A
 * reader that takes output, however slowly, holds the report back: docker
 * waits only ~2 s for output once it sees the exit, then deletes. */
#define HUSK_OUTPUT_STALL_MS 1000
#define HUSK_STALL_TICK_MS   100
/* How long the guest has to end the container after SIGKILL before the
 * proxy ends its VM. */
#define HUSK_KILL_GRACE_MS 2000
/* After a SIGKILL for the container: if it has not ended within the grace,
 * end the VM (output not yet delivered is dropped, as a killed process's). */
void husk_proxy_kill_grace(struct proxy *P);
/* A signal for the container (sent to the proxy or the sentinel). */
void husk_proxy_signal(struct proxy *P, int sig);
/* A signal for a container whose process never ran: it ends as if the
 * process had died of it. */
__attribute__((noreturn)) void husk_proxy_kill_created(struct proxy *P, int sig);

#endif
