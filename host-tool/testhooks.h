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
 * NULL) unless this returns -1. */
int husk_test_hook(struct husk_session *s, const char *op, struct json_object *req, husk_hook_cb cb,
		   void *data, struct husk_err *err);

#endif
