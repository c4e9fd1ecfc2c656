/* Facts both sides of husk must agree on, kept once: the agent's port name,
 * what a container id may be, how a program is found along PATH and what
 * failing to exec it means, which signals reach the container's process. Pure functions, no system
 * calls. */
#ifndef HUSK_FACTS_H
#define HUSK_FACTS_H

#include <stdbool.h>
#include <stddef.h>

#include "husk-err.h"

/* The virtio-serial port that carries the channel: QEMU names it, the agent
 * finds it by this name in /sys/class/virtio-ports. */
#define HUSK_AGENT_PORT "org.husk.agent.0"

/* A NIC QEMU got before the interface it will carry was known (docker's
 * interfaces arrive with its prestart hook) has the MAC 02:68:75:73:6b:<n>
 * ("\2husk"): locally administered, the same in every VM. The agent hides
 * such NICs until the host says what they carry. */
#define HUSK_PLACEHOLDER_MAC_PREFIX                                                                \
	{                                                                                          \
		0x02, 'h', 'u', 's', 'k'                                                           \
	}
#define HUSK_PLACEHOLDER_MAC_LEN 5

/* A container id: 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'.
 * 0, or -1 with EINVAL and a message naming the id. */
int husk_id_check(const char *id, struct husk_err *err);

/* A path inside a VM's share (container.create's rootfs.path, spec.binds,
 * spec.binds_ro): "" (the share's top) or relative, its components
 * separated by one '/', none of them empty, "." or "..": it cannot leave the
 * share. 0, or -1 with EINVAL and a message naming what (a field). */
int husk_share_path_check(const char *path, const char *what, struct husk_err *err);

/* The PATH searched when the process's environment has none (runc's). */
#define HUSK_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The PATH of a process with environment env (NULL-terminated, or NULL): its
 * first PATH= entry, as getenv() would find, else HUSK_DEFAULT_PATH. */
const char *husk_path_of_env(char *const *env);
/* The next place to look for prog along *path, a PATH string: writes
 * "<dir>/<prog>" into buf (an empty entry is ".") and moves *path past the
 * entry. Entries whose result does not fit in size are skipped. False once
 * *path is used up. Only for a prog without '/': one with a '/' is not
 * looked up. */
bool husk_path_next(const char **path, const char *prog, char *buf, size_t size);

/* The exit status of a process whose exec failed with errno e: 126 when
 * the program was found but cannot be executed (EACCES, ENOEXEC, EISDIR),
 * else 127 (not found). */
int husk_exec_status(int e);

/* Whether a process that stands for the container's (the proxy, an exec'd
 * process's husk) forwards sig to it: every standard signal but the ones
 * that cannot be caught or that concern that process itself (SIGCHLD,
 * SIGPIPE, faults, job control). Real-time signals are not forwarded. */
bool husk_signal_forwarded(int sig);

#endif
