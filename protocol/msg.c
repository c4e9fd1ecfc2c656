/* JSON encode/decode of every control message (docs/protocol.md). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-proto.h"

#define HUSK_MAX_ARGS 4096
#define HUSK_MAX_GIDS 256

static const struct {
	enum husk_op op;
	const char *name;
} op_names[] = {
    {HUSK_OP_PING, "ping"},
    {HUSK_OP_CONTAINER_CREATE, "container.create"},
    {HUSK_OP_PROCESS_START, "process.start"},
    {HUSK_OP_PROCESS_SIGNAL, "process.signal"},
    {HUSK_OP_SHUTDOWN, "shutdown"},
    {HUSK_OP_PROCESS_RESIZE, "process.resize"},
    {HUSK_OP_CONTAINER_PS, "container.ps"},
};

const char *husk_op_name(enum husk_op op)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return NULL;
}

static enum husk_op op_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(op_names[i].name, name) == 0)
			return op_names[i].op;
	return HUSK_OP_UNKNOWN;
}

/* ---- field readers ---- */

static struct json_object *parse_obj(const char *buf, size_t len, const char *what,
				     struct husk_err *err)
{
	if (len > INT_MAX) {
		husk_err_set(err, EMSGSIZE, "%s too large", what);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (!tok) {
		husk_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_success && !o) {
		husk_err_set(err, EBADMSG, "%s is not a JSON object", what);
		return NULL;
	}
	if (jerr != json_tokener_success || !o) {
		json_object_put(o);
		husk_err_set(err, EBADMSG, "%s is not valid JSON: %s", what,
			     jerr == json_tokener_continue ? "truncated"
							   : json_tokener_error_desc(jerr));
		return NULL;
	}
	for (; used < len; used++) {
		if (buf[used] != ' ' && buf[used] != '\t' && buf[used] != '\r' &&
		    buf[used] != '\n') {
			json_object_put(o);
			husk_err_set(err, EBADMSG, "%s has trailing data after the JSON value",
				     what);
			return NULL;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		husk_err_set(err, EBADMSG, "%s is not a JSON object", what);
		return NULL;
	}
	return o;
}

static int get_str(struct json_object *o, const char *key, bool required, char **out,
		   struct husk_err *err)
{
	struct json_object *v;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return husk_err_set(err, EINVAL, "\"%s\" is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "\"%s\" must be a string", key);
	const char *s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return husk_err_set(err, EINVAL, "\"%s\" contains a NUL byte", key);
	*out = strdup(s);
	if (!*out)
		return husk_err_set(err, ENOMEM, "out of memory");
	return 0;
}

static int get_u32(struct json_object *o, const char *key, bool required, uint32_t *out,
		   struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return husk_err_set(err, EINVAL, "\"%s\" is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return husk_err_set(err, EINVAL, "\"%s\" must be an integer", key);
	int64_t n = json_object_get_int64(v);
	if (n < 0 || n > UINT32_MAX || (n == INT64_MAX && errno == ERANGE))
		return husk_err_set(err, ERANGE, "\"%s\" is out of range", key);
	*out = (uint32_t)n;
	return 0;
}

static int get_int(struct json_object *o, const char *key, bool required, int lo, int hi, int *out,
		   struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return husk_err_set(err, EINVAL, "\"%s\" is missing", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return husk_err_set(err, EINVAL, "\"%s\" must be an integer", key);
	int64_t n = json_object_get_int64(v);
	if (n < lo || n > hi)
		return husk_err_set(err, ERANGE, "\"%s\" is out of range", key);
	*out = (int)n;
	return 0;
}

static int get_bool(struct json_object *o, const char *key, bool *out, struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return husk_err_set(err, EINVAL, "\"%s\" must be true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int get_strv(struct json_object *o, const char *key, bool required, char ***out, size_t *n,
		    struct husk_err *err)
{
	struct json_object *v;
	*out = NULL;
	*n = 0;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return husk_err_set(err, EINVAL, "\"%s\" is missing", key);
		v = NULL;
	} else if (!json_object_is_type(v, json_type_array)) {
		return husk_err_set(err, EINVAL, "\"%s\" must be an array of strings", key);
	}
	size_t len = v ? json_object_array_length(v) : 0;
	if (len > HUSK_MAX_ARGS)
		return husk_err_set(err, E2BIG, "\"%s\" has more than %d entries", key,
				    HUSK_MAX_ARGS);
	char **arr = calloc(len + 1, sizeof *arr);
	if (!arr)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		struct json_object *s = json_object_array_get_idx(v, i);
		if (!json_object_is_type(s, json_type_string) ||
		    strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s)) {
			strv_free(arr);
			return husk_err_set(err, EINVAL, "\"%s\"[%zu] must be a string", key, i);
		}
		arr[i] = strdup(json_object_get_string(s));
		if (!arr[i]) {
			strv_free(arr);
			return husk_err_set(err, ENOMEM, "out of memory");
		}
	}
	*out = arr;
	*n = len;
	return 0;
}

static int get_obj(struct json_object *o, const char *key, bool required, struct json_object **out,
		   struct husk_err *err)
{
	*out = NULL;
	if (!json_object_object_get_ex(o, key, out) || json_object_is_type(*out, json_type_null)) {
		*out = NULL;
		return required ? husk_err_set(err, EINVAL, "\"%s\" is missing", key) : 0;
	}
	if (!json_object_is_type(*out, json_type_object))
		return husk_err_set(err, EINVAL, "\"%s\" must be an object", key);
	return 0;
}

/* Prefix err's message with the object it came from. */
static int in(const char *where, struct husk_err *err)
{
	if (err) {
		char tmp[sizeof err->msg];
		size_t n = strlen(where);
		if (n + 2 < sizeof tmp) {
			memcpy(tmp, where, n);
			memcpy(tmp + n, ": ", 2);
			memcpy(tmp + n + 2, err->msg, sizeof tmp - n - 3);
			tmp[sizeof tmp - 1] = '\0';
			memcpy(err->msg, tmp, sizeof err->msg);
		}
	}
	return -1;
}

static struct json_object *strv_to_json(char **v)
{
	struct json_object *a = json_object_new_array();
	for (char **p = v; a && p && *p; p++)
		json_object_array_add(a, json_object_new_string(*p));
	return a;
}

/* ---- process ---- */

void husk_process_free(struct husk_process *p)
{
	if (p->raw)
		json_object_put(p->raw);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->user.gids);
	memset(p, 0, sizeof *p);
}

int husk_process_from_json(struct json_object *o, struct husk_process *p, struct husk_err *err)
{
	struct json_object *user, *gids;
	memset(p, 0, sizeof *p);
	p->raw = json_object_get(o);
	if (get_strv(o, "args", true, &p->args, &p->nargs, err) < 0)
		goto fail;
	if (p->nargs == 0 || p->args[0][0] == '\0') {
		husk_err_set(err, EINVAL, "\"args\" must name the program to run");
		goto fail;
	}
	if (get_strv(o, "env", false, &p->env, &p->nenv, err) < 0)
		goto fail;
	if (get_str(o, "cwd", true, &p->cwd, err) < 0)
		goto fail;
	if (p->cwd[0] != '/') {
		husk_err_set(err, EINVAL, "\"cwd\" must be an absolute path, not \"%s\"", p->cwd);
		goto fail;
	}
	if (get_bool(o, "terminal", &p->terminal, err) < 0)
		goto fail;
	struct json_object *size;
	if (get_obj(o, "consoleSize", false, &size, err) < 0)
		goto fail;
	if (size) {
		int h = 0, w = 0;
		if (get_int(size, "height", true, 0, 65535, &h, err) < 0 ||
		    get_int(size, "width", true, 0, 65535, &w, err) < 0) {
			in("\"consoleSize\"", err);
			goto fail;
		}
		p->rows = (uint16_t)h;
		p->cols = (uint16_t)w;
	}
	if (get_obj(o, "user", false, &user, err) < 0)
		goto fail;
	if (user) {
		if (get_u32(user, "uid", true, &p->user.uid, err) < 0 ||
		    get_u32(user, "gid", true, &p->user.gid, err) < 0) {
			in("\"user\"", err);
			goto fail;
		}
		if (json_object_object_get_ex(user, "additionalGids", &gids) &&
		    !json_object_is_type(gids, json_type_null)) {
			if (!json_object_is_type(gids, json_type_array) ||
			    json_object_array_length(gids) > HUSK_MAX_GIDS) {
				husk_err_set(err, EINVAL,
					     "\"user\": \"additionalGids\" must be an array of at "
					     "most %d ids",
					     HUSK_MAX_GIDS);
				goto fail;
			}
			p->user.ngids = json_object_array_length(gids);
			p->user.gids = calloc(p->user.ngids + 1, sizeof *p->user.gids);
			if (!p->user.gids) {
				husk_err_set(err, ENOMEM, "out of memory");
				goto fail;
			}
			for (size_t i = 0; i < p->user.ngids; i++) {
				struct json_object *g = json_object_array_get_idx(gids, i);
				int64_t n = json_object_get_int64(g);
				if (!json_object_is_type(g, json_type_int) || n < 0 ||
				    n > UINT32_MAX) {
					husk_err_set(
					    err, EINVAL,
					    "\"user\": \"additionalGids\"[%zu] is not a valid gid",
					    i);
					goto fail;
				}
				p->user.gids[i] = (uint32_t)n;
			}
		}
	}
	return 0;
fail:
	husk_process_free(p);
	return -1;
}

struct json_object *husk_process_to_json(const struct husk_process *p)
{
	struct json_object *o = NULL, *user = json_object_new_object(),
			   *gids = json_object_new_array();
	/* start from the fields we do not model, then set the ones we do */
	if (p->raw && json_object_deep_copy(p->raw, &o, NULL) != 0)
		o = NULL;
	if (!o)
		o = json_object_new_object();
	else if (json_object_object_get_ex(o, "user", NULL)) {
		struct json_object *old;
		json_object_object_get_ex(o, "user", &old);
		json_object_put(user);
		user = NULL;
		if (json_object_is_type(old, json_type_object) &&
		    json_object_deep_copy(old, &user, NULL) != 0)
			user = NULL;
		if (!user)
			user = json_object_new_object();
	}
	if (!o || !user || !gids) {
		json_object_put(o);
		json_object_put(user);
		json_object_put(gids);
		return NULL;
	}
	json_object_object_add(o, "args", strv_to_json(p->args));
	json_object_object_add(o, "env", strv_to_json(p->env));
	json_object_object_add(o, "cwd", json_object_new_string(p->cwd ? p->cwd : "/"));
	json_object_object_add(user, "uid", json_object_new_int64(p->user.uid));
	json_object_object_add(user, "gid", json_object_new_int64(p->user.gid));
	for (size_t i = 0; i < p->user.ngids; i++)
		json_object_array_add(gids, json_object_new_int64(p->user.gids[i]));
	json_object_object_add(user, "additionalGids", gids);
	json_object_object_add(o, "user", user);
	json_object_object_add(o, "terminal", json_object_new_boolean(p->terminal));
	if (p->rows || p->cols) {
		struct json_object *size = json_object_new_object();
		json_object_object_add(size, "height", json_object_new_int(p->rows));
		json_object_object_add(size, "width", json_object_new_int(p->cols));
		json_object_object_add(o, "consoleSize", size);
	}
	return o;
}

/* ---- hello ---- */

struct json_object *husk_hello_encode(const struct husk_hello *h)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "agent_version", json_object_new_string(h->agent_version));
	json_object_object_add(o, "protocol", json_object_new_int(h->protocol));
	json_object_object_add(o, "kernel", json_object_new_string(h->kernel_release));
	return o;
}

void husk_hello_free(struct husk_hello *h)
{
	free(h->agent_version);
	free(h->kernel_release);
	memset(h, 0, sizeof *h);
}

int husk_hello_decode(const char *buf, size_t len, struct husk_hello *h, struct husk_err *err)
{
	memset(h, 0, sizeof *h);
	_cleanup_json_ struct json_object *o = parse_obj(buf, len, "HELLO", err);
	if (!o)
		return -1;
	if (get_str(o, "agent_version", true, &h->agent_version, err) < 0 ||
	    get_int(o, "protocol", true, 1, INT_MAX, &h->protocol, err) < 0 ||
	    get_str(o, "kernel", true, &h->kernel_release, err) < 0) {
		husk_hello_free(h);
		return in("HELLO", err);
	}
	return 0;
}

/* ---- requests ---- */

static int streams_from_json(struct json_object *o, struct husk_streams *s, struct husk_err *err)
{
	struct json_object *st;
	if (get_obj(o, "streams", true, &st, err) < 0)
		return -1;
	if (get_u32(st, "stdin", true, &s->in, err) < 0 ||
	    get_u32(st, "stdout", true, &s->out, err) < 0 ||
	    get_u32(st, "stderr", true, &s->err, err) < 0)
		return in("\"streams\"", err);
	if (!s->in || !s->out || !s->err || s->in == s->out || s->in == s->err ||
	    (s->out == s->err))
		return husk_err_set(err, EINVAL, "\"streams\" must be three distinct non-zero ids");
	return 0;
}

static int rootfs_from_json(struct json_object *o, struct husk_rootfs *r, struct husk_err *err)
{
	struct json_object *ro;
	if (get_obj(o, "rootfs", true, &ro, err) < 0)
		return -1;
	if (get_str(ro, "tag", true, &r->tag, err) < 0 ||
	    get_str(ro, "fstype", true, &r->fstype, err) < 0 ||
	    get_str(ro, "path", false, &r->path, err) < 0 ||
	    get_bool(ro, "readonly", &r->readonly, err) < 0)
		return in("\"rootfs\"", err);
	if (strcmp(r->fstype, "9p") != 0 && strcmp(r->fstype, "virtiofs") != 0)
		return husk_err_set(err, EINVAL, "\"rootfs\": fstype \"%s\" is not 9p or virtiofs",
				    r->fstype);
	if (!r->tag[0] || strlen(r->tag) > 31)
		return husk_err_set(err, EINVAL, "\"rootfs\": tag must be 1 to 31 characters");
	if (r->path && strstr(r->path, ".."))
		return husk_err_set(err, EINVAL, "\"rootfs\": path must not contain \"..\"");
	return 0;
}

void husk_request_free(struct husk_request *r)
{
	free(r->op_name);
	switch (r->op) {
	case HUSK_OP_CONTAINER_CREATE:
		free(r->u.create.id);
		free(r->u.create.rootfs.tag);
		free(r->u.create.rootfs.fstype);
		free(r->u.create.rootfs.path);
		free(r->u.create.hostname);
		if (r->u.create.spec)
			json_object_put(r->u.create.spec);
		break;
	case HUSK_OP_PROCESS_START:
		free(r->u.start.container);
		husk_process_free(&r->u.start.process);
		break;
	case HUSK_OP_CONTAINER_PS: free(r->u.ps.container); break;
	default: break;
	}
	memset(r, 0, sizeof *r);
}

uint32_t husk_request_peek_id(const char *buf, size_t len)
{
	_cleanup_json_ struct json_object *o = parse_obj(buf, len, "request", NULL);
	uint32_t id = 0;
	if (o)
		get_u32(o, "id", true, &id, NULL);
	return id;
}

int husk_request_decode(const char *buf, size_t len, struct husk_request *r, struct husk_err *err)
{
	struct json_object *proc;
	memset(r, 0, sizeof *r);
	_cleanup_json_ struct json_object *o = parse_obj(buf, len, "request", err);
	if (!o)
		return -1;
	if (get_u32(o, "id", true, &r->id, err) < 0 || get_str(o, "op", true, &r->op_name, err) < 0)
		goto fail;
	if (r->id == 0) {
		husk_err_set(err, EINVAL, "request id must not be 0");
		goto fail;
	}
	r->op = op_from_name(r->op_name);
	switch (r->op) {
	case HUSK_OP_UNKNOWN:
		husk_err_set(err, EOPNOTSUPP, "unknown request op \"%s\"", r->op_name);
		goto fail;
	case HUSK_OP_PING:
	case HUSK_OP_SHUTDOWN: break;
	case HUSK_OP_CONTAINER_CREATE:
		if (get_str(o, "container", true, &r->u.create.id, err) < 0 ||
		    rootfs_from_json(o, &r->u.create.rootfs, err) < 0 ||
		    get_str(o, "hostname", false, &r->u.create.hostname, err) < 0 ||
		    get_obj(o, "spec", false, &r->u.create.spec, err) < 0)
			goto fail;
		if (r->u.create.spec)
			json_object_get(r->u.create.spec);
		break;
	case HUSK_OP_PROCESS_START:
		if (get_str(o, "container", true, &r->u.start.container, err) < 0 ||
		    streams_from_json(o, &r->u.start.streams, err) < 0 ||
		    get_obj(o, "process", true, &proc, err) < 0)
			goto fail;
		if (husk_process_from_json(proc, &r->u.start.process, err) < 0) {
			in("\"process\"", err);
			goto fail;
		}
		break;
	case HUSK_OP_PROCESS_SIGNAL:
		if (get_u32(o, "process", true, &r->u.signal.process, err) < 0 ||
		    get_int(o, "signal", true, 1, 64, &r->u.signal.signal, err) < 0 ||
		    get_bool(o, "all", &r->u.signal.all, err) < 0)
			goto fail;
		break;
	case HUSK_OP_PROCESS_RESIZE: {
		int rows = 0, cols = 0;
		if (get_u32(o, "process", true, &r->u.resize.process, err) < 0 ||
		    get_int(o, "rows", true, 0, 65535, &rows, err) < 0 ||
		    get_int(o, "cols", true, 0, 65535, &cols, err) < 0)
			goto fail;
		r->u.resize.rows = (uint16_t)rows;
		r->u.resize.cols = (uint16_t)cols;
		break;
	}
	case HUSK_OP_CONTAINER_PS:
		if (get_str(o, "container", true, &r->u.ps.container, err) < 0)
			goto fail;
		break;
	}
	return 0;
fail:
	in("request", err);
	husk_request_free(r);
	return -1;
}

struct json_object *husk_request_encode(const struct husk_request *r)
{
	const char *name = husk_op_name(r->op);
	struct json_object *o = json_object_new_object(), *x;
	if (!o || !name) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "op", json_object_new_string(name));
	switch (r->op) {
	case HUSK_OP_CONTAINER_CREATE:
		json_object_object_add(o, "container", json_object_new_string(r->u.create.id));
		x = json_object_new_object();
		json_object_object_add(x, "tag", json_object_new_string(r->u.create.rootfs.tag));
		json_object_object_add(x, "fstype",
				       json_object_new_string(r->u.create.rootfs.fstype));
		json_object_object_add(
		    x, "path",
		    json_object_new_string(r->u.create.rootfs.path ? r->u.create.rootfs.path : ""));
		json_object_object_add(x, "readonly",
				       json_object_new_boolean(r->u.create.rootfs.readonly));
		json_object_object_add(o, "rootfs", x);
		if (r->u.create.hostname)
			json_object_object_add(o, "hostname",
					       json_object_new_string(r->u.create.hostname));
		if (r->u.create.spec)
			json_object_object_add(o, "spec", json_object_get(r->u.create.spec));
		break;
	case HUSK_OP_PROCESS_START:
		json_object_object_add(o, "container",
				       json_object_new_string(r->u.start.container));
		json_object_object_add(o, "process", husk_process_to_json(&r->u.start.process));
		x = json_object_new_object();
		json_object_object_add(x, "stdin", json_object_new_int64(r->u.start.streams.in));
		json_object_object_add(x, "stdout", json_object_new_int64(r->u.start.streams.out));
		json_object_object_add(x, "stderr", json_object_new_int64(r->u.start.streams.err));
		json_object_object_add(o, "streams", x);
		break;
	case HUSK_OP_PROCESS_SIGNAL:
		json_object_object_add(o, "process", json_object_new_int64(r->u.signal.process));
		json_object_object_add(o, "signal", json_object_new_int(r->u.signal.signal));
		if (r->u.signal.all)
			json_object_object_add(o, "all", json_object_new_boolean(true));
		break;
	case HUSK_OP_PROCESS_RESIZE:
		json_object_object_add(o, "process", json_object_new_int64(r->u.resize.process));
		json_object_object_add(o, "rows", json_object_new_int(r->u.resize.rows));
		json_object_object_add(o, "cols", json_object_new_int(r->u.resize.cols));
		break;
	case HUSK_OP_CONTAINER_PS:
		json_object_object_add(o, "container", json_object_new_string(r->u.ps.container));
		break;
	default: break;
	}
	return o;
}

/* ---- replies, events, error frames ---- */

static struct json_object *error_obj(int code, const char *message, int status)
{
	struct json_object *e = json_object_new_object();
	if (!e)
		return NULL;
	json_object_object_add(e, "errno", json_object_new_int(code));
	json_object_object_add(e, "code", json_object_new_string(husk_errno_name(code)));
	json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
	if (status)
		json_object_object_add(e, "status", json_object_new_int(status));
	return e;
}

struct json_object *husk_reply_encode(const struct husk_reply *r)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	if (r->err_code)
		json_object_object_add(o, "error", error_obj(r->err_code, r->message, r->status));
	else if (r->pid > 0)
		json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	if (!r->err_code && r->has_pids) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; a && i < r->npids; i++)
			json_object_array_add(a, json_object_new_int(r->pids[i]));
		json_object_object_add(o, "pids", a);
	}
	return o;
}

void husk_reply_free(struct husk_reply *r)
{
	free(r->pids);
	free(r->err_name);
	free(r->message);
	memset(r, 0, sizeof *r);
	r->pid = -1;
}

int husk_reply_decode(const char *buf, size_t len, struct husk_reply *r, struct husk_err *err)
{
	struct json_object *e, *pid;
	memset(r, 0, sizeof *r);
	r->pid = -1;
	_cleanup_json_ struct json_object *o = parse_obj(buf, len, "REPLY", err);
	if (!o)
		return -1;
	if (get_u32(o, "id", true, &r->id, err) < 0 || get_obj(o, "error", false, &e, err) < 0)
		goto fail;
	if (e) {
		if (get_int(e, "errno", true, 1, 4095, &r->err_code, err) < 0 ||
		    get_str(e, "code", false, &r->err_name, err) < 0 ||
		    get_str(e, "message", true, &r->message, err) < 0 ||
		    get_int(e, "status", false, 1, 255, &r->status, err) < 0) {
			in("\"error\"", err);
			goto fail;
		}
	}
	if (json_object_object_get_ex(o, "pid", &pid) &&
	    !json_object_is_type(pid, json_type_null)) {
		if (!json_object_is_type(pid, json_type_int) || json_object_get_int64(pid) < 1 ||
		    json_object_get_int64(pid) > INT_MAX) {
			husk_err_set(err, EINVAL, "\"pid\" is not a valid pid");
			goto fail;
		}
		r->pid = json_object_get_int64(pid);
	}
	struct json_object *pids;
	if (json_object_object_get_ex(o, "pids", &pids) &&
	    !json_object_is_type(pids, json_type_null)) {
		size_t n =
		    json_object_is_type(pids, json_type_array) ? json_object_array_length(pids) : 0;
		if (!json_object_is_type(pids, json_type_array) || n > 65536) {
			husk_err_set(err, EINVAL, "\"pids\" must be an array of pids");
			goto fail;
		}
		r->pids = calloc(n + 1, sizeof *r->pids);
		if (!r->pids) {
			husk_err_set(err, ENOMEM, "out of memory");
			goto fail;
		}
		r->has_pids = true;
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(pids, i);
			int64_t x = json_object_get_int64(v);
			if (!json_object_is_type(v, json_type_int) || x < 1 || x > INT32_MAX) {
				husk_err_set(err, EINVAL, "\"pids\"[%zu] is not a valid pid", i);
				goto fail;
			}
			r->pids[r->npids++] = (int32_t)x;
		}
	}
	return 0;
fail:
	husk_reply_free(r);
	return in("REPLY", err);
}

struct json_object *husk_exit_encode(const struct husk_exit_event *e)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "event", json_object_new_string("process.exit"));
	json_object_object_add(o, "process", json_object_new_int64(e->process));
	json_object_object_add(o, "status", json_object_new_int(e->status));
	json_object_object_add(o, "signal", json_object_new_int(e->signal));
	if (e->runtime_ns > 0)
		json_object_object_add(o, "runtime_ns", json_object_new_int64(e->runtime_ns));
	return o;
}

int husk_exit_decode(const char *buf, size_t len, struct husk_exit_event *e, struct husk_err *err)
{
	_cleanup_free_ char *name = NULL;
	memset(e, 0, sizeof *e);
	_cleanup_json_ struct json_object *o = parse_obj(buf, len, "EVENT", err);
	if (!o)
		return -1;
	if (get_str(o, "event", true, &name, err) < 0)
		return in("EVENT", err);
	if (strcmp(name, "process.exit") != 0)
		return husk_err_set(err, EOPNOTSUPP, "EVENT: unknown event \"%s\"", name);
	if (get_u32(o, "process", true, &e->process, err) < 0 ||
	    get_int(o, "status", true, 0, 255, &e->status, err) < 0 ||
	    get_int(o, "signal", true, 0, 64, &e->signal, err) < 0)
		return in("EVENT", err);
	struct json_object *ns;
	if (json_object_object_get_ex(o, "runtime_ns", &ns) &&
	    !json_object_is_type(ns, json_type_null)) {
		/* json-c saturates at INT64_MAX: read the unsigned value to see past it */
		if (!json_object_is_type(ns, json_type_int) || json_object_get_int64(ns) < 0 ||
		    json_object_get_uint64(ns) > INT64_MAX)
			return husk_err_set(err, EINVAL,
					    "EVENT: \"runtime_ns\" must be a non-negative integer");
		e->runtime_ns = json_object_get_int64(ns);
	}
	return 0;
}

struct json_object *husk_error_frame_encode(int code, const char *message)
{
	struct json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "error", error_obj(code, message, 0));
	return o;
}

int64_t husk_frame_json(uint16_t type, struct json_object *o, uint8_t **out, struct husk_err *err)
{
	size_t len;
	const char *s;
	*out = NULL;
	if (!o)
		return husk_err_set(err, ENOMEM, "out of memory");
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (!s)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (len > HUSK_FRAME_MAX_PAYLOAD)
		return husk_err_set(err, EMSGSIZE, "%s message of %zu bytes exceeds %u",
				    husk_frame_type_name(type), len, HUSK_FRAME_MAX_PAYLOAD);
	uint8_t *buf = malloc(HUSK_FRAME_HDR + len);
	if (!buf)
		return husk_err_set(err, ENOMEM, "out of memory");
	husk_frame_encode_hdr(buf, type, HUSK_STREAM_CONTROL, (uint32_t)len);
	memcpy(buf + HUSK_FRAME_HDR, s, len);
	*out = buf;
	return (int64_t)(HUSK_FRAME_HDR + len);
}
