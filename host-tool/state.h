/* Container state on the host: <root>/<id>/state.json, written atomically,
 * and <root>/<id>/config.json, the config as create read it. Changes to
 * state.json (create, the proxy's status writes, start, kill, delete, pause,
 * resume, update) serialise on the container's lock: flock on its
 * directory (docs/architecture.md, "The state directory"). */
#ifndef HUSK_STATE_H
#define HUSK_STATE_H

#include <stdbool.h>
#include <sys/types.h>

#include "husk-err.h"

struct json_object;

struct husk_state {
	char *id;
	char *bundle;
	char *rootfs;
	char *status;		       /* creating, created, running, stopped */
	char *created;		       /* RFC 3339 */
	pid_t pid;		       /* the sentinel: what --pid-file holds */
	unsigned long long start_time; /* of pid, against pid reuse */
	pid_t proxy_pid;	       /* the proxy: the container lives while it does */
	unsigned long long proxy_start_time;
	int exit_status; /* -1 until stopped */
	pid_t vm_pid;	 /* QEMU, a child of the proxy */
	unsigned long long vm_start_time;
	char *netns;  /* the caller's network namespace the VM mirrors, or NULL */
	char *cgroup; /* the VM's host cgroup (cgroup.h's rel form), or NULL */
	struct json_object *annotations;
};

/* Whether the state root can be trusted (checked once, before first use):
 * absent, or a directory, not a symlink, owned by this user or root and
 * writable by no one else. A root another user could write to would let
 * them choose the hooks and PIDs husk acts on. */
int husk_state_root_check(struct husk_err *err);
char *husk_state_dir(const char *id);
/* Create <root>/<id>/ exclusively; fails with "already exists". */
int husk_state_create(const char *id, char **dir, struct husk_err *err);
void husk_state_remove(const char *dir);
/* Remove dir under its lock if it is still the directory made (its
 * device and inode when it was created), not one a later create made. */
void husk_state_remove_made(const char *dir, dev_t dev, ino_t ino);
int husk_state_write(const char *dir, const struct husk_state *st, struct husk_err *err);
/* Fails with "container <id> does not exist". */
int husk_state_read(const char *id, struct husk_state *st, struct husk_err *err);
/* The status as of now: a dead proxy means stopped. */
const char *husk_state_status(const struct husk_state *st);
/* Whether the container's proxy runs. */
bool husk_state_alive(const struct husk_state *st);
/* Whether pid runs and started at start_time (0: any), not a zombie. */
bool husk_pid_alive(pid_t pid, unsigned long long start_time);
void husk_state_free(struct husk_state *st);
struct json_object *husk_state_to_oci(const struct husk_state *st);
unsigned long long husk_proc_start_time(pid_t pid);
void husk_now_rfc3339(char *buf, size_t size);
/* flock the state directory (blocking) and check it is still there under
 * its name (a delete may have removed it while this waited): the fd to close,
 * or -1 with ENOENT "container does not exist: <id>". Held only for a
 * read-modify-write of the state: never while waiting for the proxy. */
int husk_state_lock(const char *dir, struct husk_err *err);

/* A process named by its pid and its start time, to signal and wait for:
 * a pidfd, taken (pidfd_open) before the start time is checked, so it
 * cannot name a process that reused the pid; where there are no pidfds (a
 * kernel before 5.3; valgrind 3.19 does not know the call) the pid alone,
 * its start time checked again before each signal. */
struct husk_pidref {
	pid_t pid;
	unsigned long long start_time;
	int fd; /* the pidfd, or -1 */
};
/* 0 if pid is the process that started at start_time (0: any; a zombie is
 * gone), or -1 with errno (ESRCH: gone, or another process). */
int husk_pidref_open(struct husk_pidref *r, pid_t pid, unsigned long long start_time);
/* 0, or -1 with errno (ESRCH: it is gone). */
int husk_pidref_signal(const struct husk_pidref *r, int sig);
/* Wait up to ms for it to exit; whether it did. */
bool husk_pidref_wait(const struct husk_pidref *r, int ms);
void husk_pidref_close(struct husk_pidref *r);
#define _cleanup_pidref_ __attribute__((cleanup(husk_pidref_close)))
/* Signal pid if it is still the process that started at start_time: 0,
 * or -1 with errno (ESRCH: gone or not that process). */
int husk_pid_signal(pid_t pid, unsigned long long start_time, int sig);

#endif
