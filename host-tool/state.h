/* Container state on the host: <root>/<id>/state.json, written atomically. */
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
	int exit_status;	       /* -1 until stopped */
	pid_t vm_pid;		       /* QEMU, a child of the proxy */
	unsigned long long vm_start_time;
	char *netns;  /* the caller's network namespace the VM mirrors, or NULL */
	char *cgroup; /* the VM's host cgroup (cgroup.h's rel form), or NULL */
	struct json_object *annotations;
};

char *husk_state_dir(const char *id);
/* Create <root>/<id>/ exclusively; fails with "already exists". */
int husk_state_create(const char *id, char **dir, struct husk_err *err);
void husk_state_remove(const char *dir);
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
/* flock the state directory; returns the fd to close, or -1. */
int husk_state_lock(const char *dir, struct husk_err *err);

#endif
