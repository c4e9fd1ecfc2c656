/* Readers of JSON fields, for all the JSON husk reads: the wire messages
 * (protocol/msg-*.c), config.json on the host (host-tool/config.c) and the
 * parts of it the agent applies (agent/spec.c).
 *
 * Each reader names the field at fault in err, in one of two styles:
 *   where != NULL: <where><key>, a path ("linux.devices[0].major is out of
 *                  range", or with where "config.json: root.", "config.json:
 *                  root.path must be a string");
 *   where == NULL: the key in double quotes ("\"id\" is missing"), the wire
 *                  style; the caller names the enclosing object with
 *                  husk_err_prefix() ("request: \"streams\": ...").
 * Readers return 1 when the field was read, 0 when it is absent (or null) and
 * not required (out is then NULL for pointers and untouched for numbers), -1
 * with err filled otherwise. An object o of NULL has no fields. */
#ifndef HUSK_JSON_H
#define HUSK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk-err.h"

struct json_object;

enum husk_json_flags {
	HUSK_JSON_OPTIONAL = 0,
	HUSK_JSON_REQUIRED = 1 << 0,  /* absent or null is an error */
	HUSK_JSON_NOT_NULL = 1 << 1,  /* optional, but null is a value of the wrong type */
	HUSK_JSON_ABS_PATHS = 1 << 2, /* husk_json_strv: every entry an absolute path */
};

/* Parses buf (len bytes, not NUL-terminated) as one JSON object; errors say
 * what it is ("request", "config.json") and carry code. */
struct json_object *husk_json_parse_object(const char *buf, size_t len, const char *what, int code,
					   struct husk_err *err);

/* A string without NUL bytes, copied into *out (malloc'd). */
int husk_json_str(struct json_object *o, const char *where, const char *key, int flags, char **out,
		  struct husk_err *err);
/* The same for a value already in hand (an object's member): v must be a
 * string, null included in the check; it is named as where/key are. */
int husk_json_str_value(struct json_object *v, const char *where, const char *key, char **out,
			struct husk_err *err);
/* An integer in [lo, hi]. */
int husk_json_i64(struct json_object *o, const char *where, const char *key, int flags, int64_t lo,
		  int64_t hi, int64_t *out, struct husk_err *err);
int husk_json_int(struct json_object *o, const char *where, const char *key, int flags, int lo,
		  int hi, int *out, struct husk_err *err);
int husk_json_u32(struct json_object *o, const char *where, const char *key, int flags,
		  uint32_t *out, struct husk_err *err);
/* An integer in [0, 2^64-1]; a negative one is out of range (not 0, as
 * json_object_get_uint64 would have it). json-c saturates larger numbers at
 * 2^64-1. */
int husk_json_u64(struct json_object *o, const char *where, const char *key, int flags,
		  uint64_t *out, struct husk_err *err);
int husk_json_bool(struct json_object *o, const char *where, const char *key, int flags, bool *out,
		   struct husk_err *err);
/* An object or an array of at most max entries, as a borrowed reference. */
int husk_json_obj(struct json_object *o, const char *where, const char *key, int flags,
		  struct json_object **out, struct husk_err *err);
int husk_json_array(struct json_object *o, const char *where, const char *key, int flags,
		    size_t max, struct json_object **out, struct husk_err *err);
/* An array of at most max strings, copied into a NULL-terminated vector
 * (an empty one when the field is absent) of *n entries. */
int husk_json_strv(struct json_object *o, const char *where, const char *key, int flags, size_t max,
		   char ***out, size_t *n, struct husk_err *err);

/* Frees a NULL-terminated vector and its strings; NULL is fine. */
void husk_strv_free(char **v);
/* A NULL-terminated vector as a JSON array of strings, NULL on ENOMEM. */
struct json_object *husk_strv_to_json(char *const *v);

#endif
