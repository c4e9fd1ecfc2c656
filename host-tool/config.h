/* Reading an OCI bundle's config.json. */
#ifndef HUSK_CONFIG_H
#define HUSK_CONFIG_H

#include "husk-proto.h"

struct husk_annotation {
	char *key, *value;
};

struct husk_config {
	char *oci_version;
	struct husk_process process;
	char *root_path; /* as written in config.json */
	bool root_readonly;
	char *hostname;
	struct husk_annotation *annotations;
	size_t nannotations;
	/* config.json's "mounts" and "linux" as they are (references), for the
	 * agent to apply; NULL when absent */
	struct json_object *mounts;
	struct json_object *linux_;
	struct json_object *hooks;
};

/* Parse config.json text. Errors name the field: "process.args is missing". */
int husk_config_parse(const char *buf, size_t len, struct husk_config *c, struct husk_err *err);
/* Read BUNDLE/config.json and parse it. */
int husk_config_load(const char *bundle, struct husk_config *c, struct husk_err *err);
const char *husk_config_annotation(const struct husk_config *c, const char *key);
/* Whether linux.namespaces has an entry of TYPE ("network", "uts"): 1 with
 * *path its path (NULL when it has none or an empty one), 0 without, -1
 * with err when the entry's path is not a string. */
int husk_config_namespace(const struct husk_config *c, const char *type, const char **path,
			  struct husk_err *err);
void husk_config_free(struct husk_config *c);

#endif
