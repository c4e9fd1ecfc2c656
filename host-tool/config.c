#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "husk-json.h"
#include "husk-priv.h"

#define CONFIG_MAX_BYTES (4u << 20)
/* Every message about config.json says so; fields are named by their path. */
#define CFG "config.json: "

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
	free(c->text);
	memset(c, 0, sizeof *c);
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
		struct husk_annotation *an = &c->annotations[c->nannotations];
		if (husk_json_str_value(val, "config.json: annotations.", key, &an->value, err) < 0)
			return -1;
		c->nannotations++;
		if (!(an->key = strdup(key)))
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

/* A member that must be an object or array, if present: a reference to it. */
static int keep(struct json_object *o, const char *key, bool array, struct json_object **out,
		struct husk_err *err)
{
	int r = array ? husk_json_array(o, CFG, key, HUSK_JSON_OPTIONAL, SIZE_MAX, out, err)
		      : husk_json_obj(o, CFG, key, HUSK_JSON_OPTIONAL, out, err);
	if (r > 0)
		json_object_get(*out);
	return r;
}

int husk_config_parse(const char *buf, size_t len, struct husk_config *c, struct husk_err *err)
{
	struct json_object *proc, *root;
	memset(c, 0, sizeof *c);
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "config.json", EINVAL, err);
	if (!o)
		return -1;
	if (husk_json_str(o, CFG, "ociVersion", HUSK_JSON_OPTIONAL, &c->oci_version, err) < 0 ||
	    husk_json_obj(o, CFG, "process", HUSK_JSON_REQUIRED, &proc, err) < 0)
		goto fail;
	if (husk_process_from_json(proc, &c->process, err) < 0) {
		process_err(err);
		goto fail;
	}
	/* what narrows privilege, strictly: a value that cannot be read is
	 * refused here, at create, rather than ignored in the guest */
	if (husk_priv_process_check(proc, CFG "process.", err) < 0)
		goto fail;
	if (husk_json_obj(o, CFG, "root", HUSK_JSON_REQUIRED, &root, err) < 0 ||
	    husk_json_str(root, CFG "root.", "path", HUSK_JSON_REQUIRED, &c->root_path, err) < 0)
		goto fail;
	if (!c->root_path[0]) {
		husk_err_set(err, EINVAL, "config.json: root.path is missing");
		goto fail;
	}
	if (husk_json_bool(root, CFG "root.", "readonly", HUSK_JSON_NOT_NULL, &c->root_readonly,
			   err) < 0 ||
	    husk_json_str(o, CFG, "hostname", HUSK_JSON_OPTIONAL, &c->hostname, err) < 0 ||
	    parse_annotations(o, c, err) < 0 || keep(o, "mounts", true, &c->mounts, err) < 0 ||
	    keep(o, "linux", false, &c->linux_, err) < 0 ||
	    husk_priv_linux_check(c->linux_, CFG "linux.", err) < 0 ||
	    keep(o, "hooks", false, &c->hooks, err) < 0)
		goto fail;
	return 0;
fail:
	husk_config_free(c);
	return -1;
}

/* Read the open file fd (named path) and parse it; c->text keeps the bytes. */
static int load_fd(int fd, const char *path, struct husk_config *c, struct husk_err *err)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
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
	if (husk_config_parse(buf, got, c, err) < 0)
		return -1;
	c->text = husk_steal(buf);
	c->text_len = got;
	return 0;
}

int husk_config_load(const char *bundle, struct husk_config *c, struct husk_err *err)
{
	_cleanup_free_ char *path = NULL;
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
	return load_fd(fd, path, c, err);
}

int husk_config_save(const struct husk_config *c, const char *dir, struct husk_err *err)
{
	_cleanup_free_ char *path = NULL;
	if (!c->text)
		return husk_err_set(err, EINVAL, "internal error: no config text to keep");
	if (asprintf(&path, "%s/config.json", dir) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int fd =
	    open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0)
		return husk_err_sys(err, errno, "cannot write %s", path);
	for (size_t done = 0; done < c->text_len;) {
		ssize_t n = write(fd, c->text + done, c->text_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return husk_err_sys(err, errno, "cannot write %s", path);
		done += (size_t)n;
	}
	if (close(husk_steal_fd(fd)) < 0)
		return husk_err_sys(err, errno, "cannot write %s", path);
	return 0;
}

int husk_config_load_saved(const char *dir, struct husk_config *c, struct husk_err *err)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	memset(c, 0, sizeof *c);
	if (asprintf(&path, "%s/config.json", dir) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return husk_err_sys(err, errno, "cannot open the container's config %s", path);
	if (fstat(fd, &st) < 0)
		return husk_err_sys(err, errno, "cannot stat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return husk_err_set(err, EPERM,
				    "%s is not the copy create kept (owner %u, mode %o): refusing "
				    "to use it",
				    path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return load_fd(fd, path, c, err);
}

const char *husk_config_annotation(const struct husk_config *c, const char *key)
{
	for (size_t i = 0; i < c->nannotations; i++)
		if (strcmp(c->annotations[i].key, key) == 0)
			return c->annotations[i].value;
	return NULL;
}

int husk_config_namespace(const struct husk_config *c, const char *type, const char **path,
			  struct husk_err *err)
{
	struct json_object *nss, *ns, *t, *p;
	int found = 0;
	*path = NULL;
	if (!c->linux_ || !json_object_object_get_ex(c->linux_, "namespaces", &nss) ||
	    !json_object_is_type(nss, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(nss); i++) {
		ns = json_object_array_get_idx(nss, i);
		if (!json_object_object_get_ex(ns, "type", &t) ||
		    !json_object_is_type(t, json_type_string) ||
		    strcmp(json_object_get_string(t), type))
			continue;
		found = 1;
		if (!json_object_object_get_ex(ns, "path", &p) ||
		    json_object_is_type(p, json_type_null))
			continue;
		if (!json_object_is_type(p, json_type_string))
			return husk_err_set(err, EINVAL,
					    "linux.namespaces[%zu].path must be a string", i);
		if (json_object_get_string(p)[0])
			*path = json_object_get_string(p);
	}
	return found;
}
