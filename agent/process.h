/* Container processes: starting them, their stdio streams with credit, the
 * exit event, reaping. */
#ifndef HUSK_AGENT_PROCESS_H
#define HUSK_AGENT_PROCESS_H

#include <stdint.h>

#include "agent.h"

/* Forks the process; the reply to request_id goes out once the child has
 * exec'd or failed. -1 with err when it could not be forked. */
int agent_process_start(uint32_t request_id, struct agent_container *c,
			const struct husk_process *spec, const struct husk_streams *s,
			struct husk_err *err);
/* A process by its id (its stdin stream), until it is done: its exit event
 * sent and its output closed. */
struct agent_process *agent_process_find(uint32_t id);
/* Whether a live process uses stream id. */
bool agent_stream_in_use(uint32_t id);
int agent_process_resize(struct agent_process *p, uint16_t rows, uint16_t cols,
			 struct husk_err *err);
/* Waits for every exited child, adopted orphans too (the agent is PID 1). */
void agent_reap(void);

/* Frames from the host for a stream (struct agent_channel_ops): -1 with err
 * for a frame the protocol does not allow. */
int agent_stream_data(uint32_t stream, const uint8_t *data, uint32_t len, struct husk_err *err);
int agent_stream_window(uint32_t stream, uint32_t n, struct husk_err *err);
int agent_stream_close(uint32_t stream, struct husk_err *err);

#endif
