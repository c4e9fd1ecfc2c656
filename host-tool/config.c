#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "config.h"

#define CONFIG_MAX_BYTES (4u << 20)

void husk_config_free(struct husk_config *c)
{
	free(c->oci_version);
	husk_process_free(&c->process);
	free(c->root_path);
	free(c->hostname);
	for (size_t i = 0; i < c->nannotations; i++) {
		free(c->annotations[i].key);
		free(c->annotations[i].value);
	}
	free(c->annotations);
	if (c->mounts)
		json_object_put(c->mounts);
	if (c->linux_)
		json_object_put(c->linux_);
	if (c->hooks)
		json_object_put(c->hooks);
	memset(c, 0, sizeof *c);
}

static int dup_str(struct json_object *o, const char *key, const char *where, char **out,
		   struct husk_err *err)
{
	struct json_object *v;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "config.json: %s%s must be a string", where, key);
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return husk_err_set(err, EINVAL, "config.json: %s%s contains a NUL byte", where,
				    key);
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : husk_err_set(err, ENOMEM, "out of memory");
}

static int parse_annotations(struct json_object *o, struct husk_config *c, struct husk_err *err)
{
	struct json_object *a;
	if (!json_object_object_get_ex(o, "annotations", &a) ||
	    json_object_is_type(a, json_type_null))
		return 0;
	if (!json_object_is_type(a, json_type_object))
		return husk_err_set(err, EINVAL,
				    "config.json: annotations must be an object of strings");
	c->annotations = calloc(json_object_object_length(a) + 1, sizeof *c->annotations);
	if (!c->annotations)
		return husk_err_set(err, ENOMEM, "out of memory");
	json_object_object_foreach(a, key, val)
	{
		if (!json_object_is_type(val, json_type_string) ||
		    strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
			return husk_err_set(err, EINVAL,
					    "config.json: annotations.%s must be a string", key);
		struct husk_annotation *an = &c->annotations[c->nannotations++];
		an->key = strdup(key);
		an->value = strdup(json_object_get_string(val));
		if (!an->key || !an->value)
			return husk_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* Say the process decoder's field names in config.json terms:
 * "\"args\" is missing" becomes "config.json: process.args is missing". */
static void process_err(struct husk_err *err)
{
	char tmp[sizeof err->msg], *q;
	if (!err)
		return;
	snprintf(tmp, sizeof tmp, "%s", err->msg);
	if (tmp[0] == '"' && (q = strchr(tmp + 1, '"'))) {
		*q = '\0';
		husk_err_set(err, err->code, "config.json: process.%s%s", tmp + 1, q + 1);
	} else {
		husk_err_set(err, err->code, "config.json: process: %s", tmp);
	}
}

int husk_config_parse(const char *buf, size_t len, struct husk_config *c, struct husk_err *err)
{
	struct json_object *proc, *root, *v;
	memset(c, 0, sizeof *c);
	if (len > INT_MAX)
		return husk_err_set(err, EFBIG, "config.json is too large");
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_json_ struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		return husk_err_set(err, EINVAL, "config.json is not valid JSON: %s",
				    jerr == json_tokener_continue ? "unexpected end of file"
								  : json_tokener_error_desc(jerr));
	}
	for (; end < len; end++)
		if (buf[end] != ' ' && buf[end] != '\t' && buf[end] != '\r' && buf[end] != '\n')
			return husk_err_set(err, EINVAL,
					    "config.json has data after the JSON object");
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "config.json must hold a JSON object");
	if (dup_str(o, "ociVersion", "", &c->oci_version, err) < 0)
		goto fail;
	if (!json_object_object_get_ex(o, "process", &proc) ||
	    json_object_is_type(proc, json_type_null)) {
		husk_err_set(err, EINVAL, "config.json: process is missing");
		goto fail;
	}
	if (!json_object_is_type(proc, json_type_object)) {
		husk_err_set(err, EINVAL, "config.json: process must be an object");
		goto fail;
	}
	if (husk_process_from_json(proc, &c->process, err) < 0) {
		process_err(err);
		goto fail;
	}
	if (!json_object_object_get_ex(o, "root", &root) ||
	    json_object_is_type(root, json_type_null)) {
		husk_err_set(err, EINVAL, "config.json: root is missing");
		goto fail;
	}
	if (!json_object_is_type(root, json_type_object)) {
		husk_err_set(err, EINVAL, "config.json: root must be an object");
		goto fail;
	}
	if (dup_str(root, "path", "root.", &c->root_path, err) < 0)
		goto fail;
	if (!c->root_path || !c->root_path[0]) {
		husk_err_set(err, EINVAL, "config.json: root.path is missing");
		goto fail;
	}
	if (json_object_object_get_ex(root, "readonly", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			husk_err_set(err, EINVAL,
				     "config.json: root.readonly must be true or false");
			goto fail;
		}
		c->root_readonly = json_object_get_boolean(v);
	}
	if (dup_str(o, "hostname", "", &c->hostname, err) < 0 || parse_annotations(o, c, err) < 0)
		goto fail;
	if (json_object_object_get_ex(o, "mounts", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_array)) {
			husk_err_set(err, EINVAL, "config.json: mounts must be an array");
			goto fail;
		}
		c->mounts = json_object_get(v);
	}
	if (json_object_object_get_ex(o, "linux", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object)) {
			husk_err_set(err, EINVAL, "config.json: linux must be an object");
			goto fail;
		}
		c->linux_ = json_object_get(v);
	}
	if (json_object_object_get_ex(o, "hooks", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object)) {
			husk_err_set(err, EINVAL, "config.json: hooks must be an object");
			goto fail;
		}
		c->hooks = json_object_get(v);
	}
	return 0;
fail:
	husk_config_free(c);
	return -1;
}

int husk_config_load(const char *bundle, struct husk_config *c, struct husk_err *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	memset(c, 0, sizeof *c);
	if (asprintf(&path, "%s/config.json", bundle) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (stat(bundle, &st) < 0)
		return husk_err_sys(err, errno, "bundle %s", bundle);
	if (!S_ISDIR(st.st_mode))
		return husk_err_set(err, ENOTDIR, "bundle %s is not a directory", bundle);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return husk_err_sys(err, errno, "cannot open %s", path);
	if (fstat(fd, &st) < 0)
		return husk_err_sys(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES)
		return husk_err_set(err, EINVAL, "%s is not a regular file of at most %u bytes",
				    path, CONFIG_MAX_BYTES);
	buf = malloc(st.st_size + 1);
	if (!buf)
		return husk_err_set(err, ENOMEM, "out of memory");
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return husk_err_sys(err, errno, "cannot read %s", path);
		if (n == 0)
			break;
		got += n;
	}
	return husk_config_parse(buf, got, c, err);
}

const char *husk_config_annotation(const struct husk_config *c, const char *key)
{
	for (size_t i = 0; i < c->nannotations; i++)
		if (strcmp(c->annotations[i].key, key) == 0)
			return c->annotations[i].value;
	return NULL;
}
