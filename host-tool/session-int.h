/* What session.c shares with session-raw.c, and no one else. */
#ifndef HUSK_SESSION_INT_H
#define HUSK_SESSION_INT_H

#include "session.h"

/* len more bytes are queued to the agent (the backlog bound counts them) */
void husk_session_out_added(struct husk_session *s, size_t len);
/* Read the agent's channel from fd. */
int husk_session_attach(struct husk_session *s, int fd, struct husk_err *err);

#endif
