/* libFuzzer target: husk_config_parse() on arbitrary config.json text, with
 * the privilege property of privilege.h: what an accepted config grants is
 * never more than the empty config, and every privilege field it names is
 * honoured as the JSON says or the config is refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../host-tool/config.h"
#include "husk-json.h"
#include "husk-priv.h"
#include "privilege.h"

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct husk_config c;
	struct husk_err err = {0};
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

	/* What the agent will read from the accepted config (the same
	 * protocol/priv.c readers spec.c uses) must read, and say what an
	 * independent reading of the JSON says. */
	struct priv got, want;
	struct husk_rlimit *rl;
	uint64_t sets[HUSK_CAP_SETS];
	size_t n;
	char **v;
	bool has;
	priv_default(&got);
	priv_default(&want);
	check(husk_priv_caps(c.process.raw, "process.", &has, sets, &err) >= 0);
	if (has)
		memcpy(got.caps, sets, sizeof sets);
	check(husk_priv_no_new_privs(c.process.raw, "process.", &got.no_new_privs, &err) == 0);
	check(husk_priv_rlimits(c.process.raw, "process.", &rl, &n, &err) == 0);
	priv_rlimits(&got, rl, n);
	free(rl);
	check(husk_priv_seccomp(c.linux_, "linux.", &got.seccomp, &err) >= 0);
	check(husk_json_strv(c.linux_, "linux.", "maskedPaths", HUSK_JSON_ABS_PATHS, SIZE_MAX, &v,
			     &got.nmasked, &err) >= 0);
	husk_strv_free(v);
	check(husk_json_strv(c.linux_, "linux.", "readonlyPaths", HUSK_JSON_ABS_PATHS, SIZE_MAX, &v,
			     &got.nreadonly, &err) >= 0);
	husk_strv_free(v);
	got.uid = c.process.user.uid;
	got.gid = c.process.user.gid;
	got.root_readonly = c.root_readonly;

	struct json_object *all = husk_json_parse_object(buf, size, "config.json", EINVAL, &err);
	check(all);
	ref_process(member(all, "process"), &want, true);
	ref_linux(member(all, "linux"), &want);
	struct json_object *ro = member(member(all, "root"), "readonly");
	if (ro) {
		need(json_object_is_type(ro, json_type_boolean));
		want.root_readonly = json_object_get_boolean(ro);
	}
	priv_check(&got, &want);
	json_object_put(all);

	husk_config_free(&c);
	free(buf);
	return 0;
}
