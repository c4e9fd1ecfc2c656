/* Readers of JSON fields that name the field at fault (husk-json.h). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-json.h"

struct json_object *husk_json_parse_object(const char *buf, size_t len, const char *what, int code,
					   struct husk_err *err)
{
	if (len > INT_MAX) {
		husk_err_set(err, EMSGSIZE, "%s is too large", what);
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(32);
	if (!tok) {
		husk_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	_cleanup_json_ struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		husk_err_set(err, code, "%s is not valid JSON: %s", what,
			     jerr == json_tokener_continue ? "truncated"
							   : json_tokener_error_desc(jerr));
		return NULL;
	}
	for (; used < len; used++) {
		if (buf[used] != ' ' && buf[used] != '\t' && buf[used] != '\r' &&
		    buf[used] != '\n') {
			husk_err_set(err, code, "%s has trailing data after the JSON object", what);
			return NULL;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		husk_err_set(err, code, "%s is not a JSON object", what);
		return NULL;
	}
	return husk_steal(o);
}

/* How a field is named in messages: see husk-json.h. */
static const char *field_name(char *buf, size_t size, const char *where, const char *key)
{
	if (where)
		snprintf(buf, size, "%s%s", where, key);
	else
		snprintf(buf, size, "\"%s\"", key);
	return buf;
}

#define FIELD_NAME_LEN	 256
#define NAME(where, key) field_name((char[FIELD_NAME_LEN]){0}, FIELD_NAME_LEN, (where), (key))

/* The field's value in *v: 1, or 0 when absent (and not required), or -1. */
static int lookup(struct json_object *o, const char *where, const char *key, int flags,
		  struct json_object **v, struct husk_err *err)
{
	*v = NULL;
	if (!o || !json_object_object_get_ex(o, key, v) ||
	    (json_object_is_type(*v, json_type_null) && !(flags & HUSK_JSON_NOT_NULL))) {
		*v = NULL;
		if (flags & HUSK_JSON_REQUIRED)
			return husk_err_set(err, EINVAL, "%s is missing", NAME(where, key));
		return 0;
	}
	return 1;
}

/* A string json-c holds with no NUL byte inside. */
static bool plain_string(struct json_object *v)
{
	return json_object_is_type(v, json_type_string) &&
	       strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

int husk_json_str_value(struct json_object *v, const char *where, const char *key, char **out,
			struct husk_err *err)
{
	*out = NULL;
	if (!json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "%s must be a string", NAME(where, key));
	if (!plain_string(v))
		return husk_err_set(err, EINVAL, "%s contains a NUL byte", NAME(where, key));
	*out = strdup(json_object_get_string(v));
	if (!*out)
		return husk_err_set(err, ENOMEM, "out of memory");
	return 1;
}

int husk_json_str(struct json_object *o, const char *where, const char *key, int flags, char **out,
		  struct husk_err *err)
{
	struct json_object *v;
	int r = lookup(o, where, key, flags, &v, err);
	*out = NULL;
	return r <= 0 ? r : husk_json_str_value(v, where, key, out, err);
}

/* A field that must be of json type type, which messages call what. */
static int typed(struct json_object *o, const char *where, const char *key, int flags,
		 enum json_type type, const char *what, struct json_object **out,
		 struct husk_err *err)
{
	int r = lookup(o, where, key, flags, out, err);
	if (r > 0 && !json_object_is_type(*out, type)) {
		*out = NULL;
		return husk_err_set(err, EINVAL, "%s must be %s", NAME(where, key), what);
	}
	return r;
}

int husk_json_i64(struct json_object *o, const char *where, const char *key, int flags, int64_t lo,
		  int64_t hi, int64_t *out, struct husk_err *err)
{
	struct json_object *v;
	int r = typed(o, where, key, flags, json_type_int, "an integer", &v, err);
	if (r <= 0)
		return r;
	int64_t n = json_object_get_int64(v);
	/* json-c saturates at INT64_MAX: the unsigned value sees past it */
	if (n < lo || n > hi || (n == INT64_MAX && json_object_get_uint64(v) > INT64_MAX))
		return husk_err_set(err, ERANGE, "%s is out of range", NAME(where, key));
	*out = n;
	return 1;
}

int husk_json_int(struct json_object *o, const char *where, const char *key, int flags, int lo,
		  int hi, int *out, struct husk_err *err)
{
	int64_t n;
	int r = husk_json_i64(o, where, key, flags, lo, hi, &n, err);
	if (r > 0)
		*out = (int)n;
	return r;
}

int husk_json_u32(struct json_object *o, const char *where, const char *key, int flags,
		  uint32_t *out, struct husk_err *err)
{
	int64_t n;
	int r = husk_json_i64(o, where, key, flags, 0, UINT32_MAX, &n, err);
	if (r > 0)
		*out = (uint32_t)n;
	return r;
}

int husk_json_u64(struct json_object *o, const char *where, const char *key, int flags,
		  uint64_t *out, struct husk_err *err)
{
	struct json_object *v;
	int r = typed(o, where, key, flags, json_type_int, "an integer", &v, err);
	if (r <= 0)
		return r;
	/* json-c keeps values above INT64_MAX as unsigned: get_int64 is then
	 * INT64_MAX, never negative */
	if (json_object_get_int64(v) < 0)
		return husk_err_set(err, ERANGE, "%s is out of range", NAME(where, key));
	*out = json_object_get_uint64(v);
	return 1;
}

int husk_json_bool(struct json_object *o, const char *where, const char *key, int flags, bool *out,
		   struct husk_err *err)
{
	struct json_object *v;
	int r = typed(o, where, key, flags, json_type_boolean, "true or false", &v, err);
	if (r <= 0)
		return r;
	*out = json_object_get_boolean(v);
	return 1;
}

int husk_json_obj(struct json_object *o, const char *where, const char *key, int flags,
		  struct json_object **out, struct husk_err *err)
{
	return typed(o, where, key, flags, json_type_object, "an object", out, err);
}

int husk_json_array(struct json_object *o, const char *where, const char *key, int flags,
		    size_t max, struct json_object **out, struct husk_err *err)
{
	int r = typed(o, where, key, flags, json_type_array, "an array", out, err);
	if (r > 0 && json_object_array_length(*out) > max) {
		*out = NULL;
		return husk_err_set(err, E2BIG, "%s has more than %zu entries", NAME(where, key),
				    max);
	}
	return r;
}

void husk_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

int husk_json_strv(struct json_object *o, const char *where, const char *key, int flags, size_t max,
		   char ***out, size_t *n, struct husk_err *err)
{
	struct json_object *a;
	bool paths = flags & HUSK_JSON_ABS_PATHS;
	*out = NULL;
	*n = 0;
	int r = typed(o, where, key, flags, json_type_array,
		      paths ? "an array of absolute paths" : "an array of strings", &a, err);
	if (r < 0)
		return -1;
	size_t len = a ? json_object_array_length(a) : 0;
	if (len > max)
		return husk_err_set(err, E2BIG, "%s has more than %zu entries", NAME(where, key),
				    max);
	char **v = calloc(len + 1, sizeof *v);
	if (!v)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		struct json_object *s = json_object_array_get_idx(a, i);
		if (!plain_string(s) || (paths && json_object_get_string(s)[0] != '/')) {
			husk_strv_free(v);
			return husk_err_set(err, EINVAL, "%s[%zu] must be %s", NAME(where, key), i,
					    paths ? "an absolute path" : "a string");
		}
		if (!(v[i] = strdup(json_object_get_string(s)))) {
			husk_strv_free(v);
			return husk_err_set(err, ENOMEM, "out of memory");
		}
	}
	*out = v;
	*n = len;
	return r;
}

struct json_object *husk_strv_to_json(char *const *v)
{
	struct json_object *a = json_object_new_array();
	for (char *const *p = v; a && p && *p; p++)
		json_object_array_add(a, json_object_new_string(*p));
	return a;
}
