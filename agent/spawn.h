/* Starting a container process: the fork, and the child between fork and
 * exec. */
#ifndef HUSK_AGENT_SPAWN_H
#define HUSK_AGENT_SPAWN_H

#include <sys/types.h>

#include "agent.h"

/* What the child was doing when it failed; it reports (stage, errno,
 * detail) on errfd. detail is the mount (index + 1) or the sysctl (-(index
 * + 1)) at fault, or 0. */
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

/* Fork the process; the child reports failure on errfd, a SOCK_STREAM
 * socket. For a terminal process stdio is ignored: the child opens a pty in
 * the container's devpts and sends its master back on errfd (one byte 'T'
 * with the fd, or 'E' before an error message). A child that makes the
 * container's user namespace sends 'U' on errfd and waits for 'M' (its id
 * maps are written) on syncfd. The pid, or -1 with err. */
pid_t agent_spawn(const struct agent_container *c, const struct husk_process *spec,
		  const struct spec_process *sp, const int stdio[3], int errfd, int syncfd,
		  struct husk_err *err);
/* What a child's failure report (result: stage, errno, detail) says, for
 * the error reply: the program not found, the sysctl or mount of c that
 * failed when detail names one, else the stage. */
void agent_spawn_failure(const struct agent_container *c, const int result[3],
			 struct husk_err *err);

/* The agent's side of that talk, on errfd's other end (sock) and syncfd's
 * (sync). The pty master a terminal child sends, or -1 when the child
 * failed first (its report follows). */
int agent_spawn_recv_master(int sock);
/* For a child that makes the user namespace: waits for its 'U', writes its
 * id maps and answers 'M', or 'F' when they could not be written. */
void agent_spawn_answer_user_ns(pid_t pid, const struct agent_container *c, int sock, int sync);

#endif
