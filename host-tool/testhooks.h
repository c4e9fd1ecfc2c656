/* Fault injection for the integration tests: only in the test build of husk
 * (HUSK_TEST_BUILD), off there unless the proxy started with
 * HUSK_TEST_HOOKS=1 in its environment. */
#ifndef HUSK_TESTHOOKS_H
#define HUSK_TESTHOOKS_H

#include <stdbool.h>

#include "husk-err.h"

struct husk_session;
struct json_object;

bool husk_test_hooks(void);
typedef void (*husk_hook_cb)(struct husk_session *s, const struct husk_err *err, void *data);
/* Control requests {"op":"inject","data":base64} (raw bytes onto the
 * channel, past the frame encoder) and {"op":"reconnect","after":base64,
 * "hold":bool} (write those bytes, drop the connection and connect again:
 * at once, or with hold at the next reconnect). cb runs once done (err
 * NULL) unless this returns -1.
 *
 * A hostile agent: {"op":"inject","as":"agent","data":base64} feeds those
 * bytes to the session as if the agent had sent them; with "hostile" instead
 * of "data", testhooks.c makes them up: "data-flood" (DATA past the credit
 * window), "empty-data-flood", "error-flood", "unknown-exit",
 * "unknown-reply", "unknown-stream", "oversized-json", "oversized-event",
 * "window-flood", "console-flood" (what the console reads), with optional
 * "stream", "bytes", "count", "frame", "process", "id", and a pace:
 * "per_tick" bytes every "interval_ms". cb runs as soon as the attack is
 * accepted; it is fed from the loop after that, and may end the proxy. */
int husk_test_hook(struct husk_session *s, const char *op, struct json_object *req, husk_hook_cb cb,
		   void *data, struct husk_err *err);

#endif
