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
	/* the bytes it was parsed from (husk_config_load, husk_config_load_saved):
	 * what create keeps in the state directory */
	char *text;
	size_t text_len;
};

/* Parse config.json text. Errors name the field: "process.args is missing".
 * The fields that narrow privilege (protocol/husk-priv.h) are read strictly:
 * "config.json: process.capabilities must be an object". */
int husk_config_parse(const char *buf, size_t len, struct husk_config *c, struct husk_err *err);
/* Read BUNDLE/config.json and parse it; c->text keeps what was read. Only
 * create and run read the bundle's config (docs/security.md, "The config is
 * read once"). */
int husk_config_load(const char *bundle, struct husk_config *c, struct husk_err *err);
/* Write c->text, exactly the bytes husk_config_load parsed, to
 * DIR/config.json: a new file (O_EXCL, no symlink followed), mode 0600. */
int husk_config_save(const struct husk_config *c, const char *dir, struct husk_err *err);
/* Read DIR/config.json as husk_config_save wrote it: every verb after
 * create reads this copy, never the bundle. Refused unless it is a regular
 * file (not a symlink) owned by this user and writable by no one else. */
int husk_config_load_saved(const char *dir, struct husk_config *c, struct husk_err *err);
const char *husk_config_annotation(const struct husk_config *c, const char *key);
/* Whether linux.namespaces has an entry of TYPE ("network", "uts"): 1 with
 * *path its path (NULL when it has none or an empty one), 0 without, -1
 * with err when the entry's path is not a string. */
int husk_config_namespace(const struct husk_config *c, const char *type, const char **path,
			  struct husk_err *err);
void husk_config_free(struct husk_config *c);

#endif
