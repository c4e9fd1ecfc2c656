/* A process's limits and privileges, in the child between fork and exec.
 * Each returns -1 with errno. */
#ifndef HUSK_AGENT_SECURE_H
#define HUSK_AGENT_SECURE_H

#include "husk-proto.h"
#include "spec.h"

/* Before the identity changes: rlimits, OOM score, umask, bounding set. */
int agent_secure_before_user(const struct spec_process *sp);
/* The identity: groups, gid, uid. */
int agent_secure_user(const struct husk_process *spec);
/* After it: the capability sets, ambient, no_new_privs. */
int agent_secure_after_user(const struct spec_process *sp);

#endif
