#ifndef HUSK_HOOKS_H
#define HUSK_HOOKS_H

#include "husk-err.h"

struct json_object;

/* Run config.json's hooks.<phase> in order; the first failure stops. */
int husk_hooks_run(struct json_object *hooks, const char *phase, struct json_object *state,
		   struct husk_err *err);

#endif
