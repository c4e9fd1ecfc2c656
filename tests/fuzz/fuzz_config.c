/* libFuzzer target: husk_config_parse() on arbitrary config.json text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../host-tool/config.h"

#define check(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct husk_config c;
	struct husk_err err = { 0 };
	/* An exact-size copy: the parser must not need a terminating NUL. */
	char *buf = malloc(size ? size : 1);

	check(buf);
	memcpy(buf, data, size);
	if (husk_config_parse(buf, size, &c, &err) < 0) {
		check(err.code != 0 && err.msg[0]);
		check(!c.process.args && !c.root_path && !c.annotations && !c.nannotations);
		free(buf);
		return 0;
	}
	check(c.process.nargs >= 1 && c.process.args && c.process.args[0][0]);
	check(c.process.args[c.process.nargs] == NULL);
	check(c.process.cwd && c.process.cwd[0] == '/');
	check(c.root_path && c.root_path[0]);
	for (size_t i = 0; i < c.nannotations; i++) {
		const char *v = husk_config_annotation(&c, c.annotations[i].key);
		check(v != NULL);
	}

	/* The process part goes to the agent as JSON: it must survive that. */
	struct json_object *o = husk_process_to_json(&c.process);
	struct husk_process p;
	check(o);
	check(husk_process_from_json(o, &p, &err) == 0);
	check(p.nargs == c.process.nargs && strcmp(p.cwd, c.process.cwd) == 0);
	for (size_t i = 0; i < p.nargs; i++)
		check(strcmp(p.args[i], c.process.args[i]) == 0);
	check(p.user.uid == c.process.user.uid && p.user.ngids == c.process.user.ngids);
	husk_process_free(&p);
	json_object_put(o);
	husk_config_free(&c);
	free(buf);
	return 0;
}
