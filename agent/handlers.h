/* Requests from the host: one function per op, found through a table. */
#ifndef HUSK_AGENT_HANDLERS_H
#define HUSK_AGENT_HANDLERS_H

#include <stddef.h>

#include "husk-err.h"

/* A REQUEST's payload (struct agent_channel_ops): every request gets its
 * reply; -1 with err only for one too broken to name its id. */
int agent_handle_request(const char *payload, size_t len, struct husk_err *err);

#endif
