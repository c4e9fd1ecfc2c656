#ifndef HUSK_HOOKS_H
#define HUSK_HOOKS_H

#include "husk-err.h"

struct json_object;

/* Run config.json's hooks.<phase> in order; the first failure stops. They
 * run in the runtime's namespaces, as runc's do: netns, when not -1, is
 * the network namespace to run them in (the proxy itself lives in the
 * container's). */
int husk_hooks_run(struct json_object *hooks, const char *phase, struct json_object *state,
		   int netns, struct husk_err *err);

#endif
