/* container.ps: what the guest's /proc says of a container's processes. */
#ifndef HUSK_AGENT_PS_H
#define HUSK_AGENT_PS_H

#include "husk-proto.h"

/* Fills r->procs (and the clock fields) for the pids in r->pids, from
 * /proc/<pid>/stat, status and cmdline; a pid that vanished meanwhile
 * leaves both lists. The procs are cut down (their cmd shortened, the last
 * ones left out) so that the reply fits in one frame. -1 only for ENOMEM. */
int agent_ps_read(struct husk_reply *r, struct husk_err *err);

#endif
