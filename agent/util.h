/* Small helpers more than one part of the agent needs. */
#ifndef HUSK_AGENT_UTIL_H
#define HUSK_AGENT_UTIL_H

#include "husk-err.h"

/* Writes value to dir/name in one write(2), as cgroup and /proc files
 * want it. Leaves errno as the failure set it (err may be NULL), so the
 * child of a spawn can use it too. */
int agent_write_file(const char *dir, const char *name, const char *value, struct husk_err *err);

#endif
