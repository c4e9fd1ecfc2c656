/* Fuzz the agent's reader of config.json's "mounts", "linux" and process
 * fields (agent/spec.c): it runs in the guest on input from the host. The
 * privilege property of privilege.h holds for what it accepts: never more
 * than the empty config, every privilege field honoured or refused. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../agent/spec.h"
#include "privilege.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *o, *mounts = NULL, *linux_ = NULL, *process = NULL;
	struct agent_spec s;
	struct spec_process p;
	struct husk_err err;
	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return 0;
	}
	json_object_object_get_ex(o, "mounts", &mounts);
	json_object_object_get_ex(o, "linux", &linux_);
	json_object_object_get_ex(o, "process", &process);
	if (agent_spec_parse(mounts, linux_, &s, &err) == 0) {
		/* what a successful parse promises the code that applies it */
		for (size_t i = 0; i < s.nmounts; i++) {
			if (!s.mounts[i].dst || s.mounts[i].dst[0] != '/')
				abort();
			if (s.mounts[i].bind && (!s.mounts[i].src || s.mounts[i].src[0] != '/'))
				abort();
			if (!s.mounts[i].bind && !s.mounts[i].type)
				abort();
		}
		for (size_t i = 0; i < s.ndevices; i++)
			if (s.devices[i].path[0] != '/' || !strchr("cbup", s.devices[i].type))
				abort();
		for (char **m = s.masked; m && *m; m++)
			if ((*m)[0] != '/')
				abort();
		/* the privilege property for linux's fields */
		struct priv got, want;
		priv_default(&got);
		priv_default(&want);
		got.seccomp = s.seccomp;
		for (char **m = s.masked; m && *m; m++)
			got.nmasked++;
		for (char **m = s.readonly; m && *m; m++)
			got.nreadonly++;
		ref_linux(linux_, &want);
		priv_check(&got, &want);
		/* the cgroup writes of linux.resources, at create and as an update */
		for (int create = 0; create < 2; create++) {
			struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
			err.msg[0] = '\0';
			int n = agent_spec_cgroup_writes(&s.resources, create, w, &err);
			if (n < 0 ? !err.msg[0] : n > SPEC_CGROUP_WRITES)
				abort();
			for (int i = 0; i < n; i++)
				if (!w[i].file || !w[i].field || !w[i].value[0])
					abort();
		}
		agent_spec_free(&s);
	} else if (!err.msg[0]) {
		abort(); /* every failure says why */
	}
	err.msg[0] = '\0';
	if (process && agent_spec_process(process, &p, &err) == 0) {
		if (p.has_oom_score_adj && (p.oom_score_adj < -1000 || p.oom_score_adj > 1000))
			abort();
		if (p.has_umask && p.umask > 0777)
			abort();
		/* the privilege property for the process's fields (its user is
		 * husk_process_from_json's, checked by fuzz_config) */
		struct priv got, want;
		priv_default(&got);
		priv_default(&want);
		if (p.has_caps) {
			got.caps[HUSK_CAPS_BOUNDING] = p.cap_bounding;
			got.caps[HUSK_CAPS_EFFECTIVE] = p.cap_effective;
			got.caps[HUSK_CAPS_PERMITTED] = p.cap_permitted;
			got.caps[HUSK_CAPS_INHERITABLE] = p.cap_inheritable;
			got.caps[HUSK_CAPS_AMBIENT] = p.cap_ambient;
		}
		got.no_new_privs = p.no_new_privs;
		priv_rlimits(&got, p.rlimits, p.nrlimits);
		ref_process(process, &want, false);
		priv_check(&got, &want);
		agent_spec_process_free(&p);
	} else if (process && !err.msg[0]) {
		abort();
	}
	json_object_put(o);
	return 0;
}
