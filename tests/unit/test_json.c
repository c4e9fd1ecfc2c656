/* Unit tests for the JSON field readers (protocol/json-field.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "husk-json.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

static struct json_object *obj(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	if (!o)
		fail_msg("test JSON does not parse: %s", text);
	return o;
}

static void test_parse_object(void **state)
{
	static const struct {
		const char *text, *words;
	} bad[] = {
	    {"", "thing is not valid JSON: truncated"},
	    {"{\"a\":", "truncated"},
	    {"{nope}", "thing is not valid JSON"},
	    {"{} x", "thing has trailing data after the JSON object"},
	    {"{}{}", "trailing data"},
	    {"[]", "thing is not a JSON object"},
	    {"null ", "not a JSON object"},
	    {"7 ", "not a JSON object"},
	};
	struct husk_err err = {0};
	struct json_object *o =
	    husk_json_parse_object("{\"a\":1} \r\n\t", 11, "thing", EBADMSG, &err);

	assert_non_null(o);
	json_object_put(o);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		assert_null(husk_json_parse_object(bad[i].text, strlen(bad[i].text), "thing",
						   EINVAL, &err));
		assert_int_equal(err.code, EINVAL);
		assert_contains(err.msg, bad[i].words);
	}
	/* a NUL after the object is not white space */
	assert_null(husk_json_parse_object("{}\0", 3, "thing", EBADMSG, &err));
	assert_int_equal(err.code, EBADMSG);
	assert_null(husk_json_parse_object("[]", 2, "thing", EBADMSG, NULL));
	assert_non_null(o = husk_json_parse_object("{}", 2, "thing", EBADMSG, NULL));
	json_object_put(o);
}

static void test_str(void **state)
{
	struct json_object *o = obj("{\"s\":\"x\",\"n\":null,\"i\":1,\"z\":\"a\\u0000b\"}");
	struct husk_err err = {0};
	char *s = (char *)1;

	assert_int_equal(husk_json_str(o, NULL, "s", HUSK_JSON_REQUIRED, &s, &err), 1);
	assert_string_equal(s, "x");
	free(s);
	assert_int_equal(husk_json_str(o, NULL, "absent", HUSK_JSON_OPTIONAL, &s, &err), 0);
	assert_null(s);
	assert_int_equal(husk_json_str(o, NULL, "n", HUSK_JSON_OPTIONAL, &s, &err), 0);
	assert_null(s);
	assert_int_equal(husk_json_str(NULL, NULL, "s", HUSK_JSON_OPTIONAL, &s, &err), 0);

	assert_int_equal(husk_json_str(o, NULL, "absent", HUSK_JSON_REQUIRED, &s, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, "\"absent\" is missing");
	assert_int_equal(husk_json_str(o, "x.", "n", HUSK_JSON_REQUIRED, &s, &err), -1);
	assert_string_equal(err.msg, "x.n is missing");
	assert_int_equal(husk_json_str(o, "x.", "n", HUSK_JSON_NOT_NULL, &s, &err), -1);
	assert_string_equal(err.msg, "x.n must be a string");
	assert_int_equal(husk_json_str(o, NULL, "i", HUSK_JSON_OPTIONAL, &s, &err), -1);
	assert_string_equal(err.msg, "\"i\" must be a string");
	assert_int_equal(husk_json_str(o, "cfg: a.", "z", HUSK_JSON_OPTIONAL, &s, &err), -1);
	assert_string_equal(err.msg, "cfg: a.z contains a NUL byte");
	assert_null(s);
	json_object_put(o);
}

static void test_str_value(void **state)
{
	struct json_object *o = obj("{\"s\":\"x\",\"i\":1}"), *v;
	struct husk_err err = {0};
	char *s;

	json_object_object_get_ex(o, "s", &v);
	assert_int_equal(husk_json_str_value(v, "m.", "s", &s, &err), 1);
	assert_string_equal(s, "x");
	free(s);
	json_object_object_get_ex(o, "i", &v);
	assert_int_equal(husk_json_str_value(v, "m.", "i", &s, &err), -1);
	assert_string_equal(err.msg, "m.i must be a string");
	assert_int_equal(husk_json_str_value(NULL, "m.", "null", &s, &err), -1);
	assert_string_equal(err.msg, "m.null must be a string");
	json_object_put(o);
}

static void test_numbers(void **state)
{
	struct json_object *o = obj("{\"a\":5,\"neg\":-1,\"big\":9223372036854775807,"
				    "\"huge\":9223372036854775808,\"f\":1.5,\"s\":\"5\","
				    "\"u\":4294967295,\"u1\":4294967296}");
	struct husk_err err = {0};
	int64_t v = 42;
	int i = 42;
	uint32_t u = 42;

	assert_int_equal(husk_json_i64(o, NULL, "absent", 0, 0, 9, &v, &err), 0);
	assert_int_equal(v, 42); /* untouched */
	assert_int_equal(husk_json_int(o, NULL, "absent", 0, 0, 9, &i, &err), 0);
	assert_int_equal(i, 42);
	assert_int_equal(husk_json_u32(o, NULL, "absent", 0, &u, &err), 0);
	assert_int_equal(u, 42);

	assert_int_equal(husk_json_i64(o, NULL, "a", 0, 0, 9, &v, &err), 1);
	assert_int_equal(v, 5);
	assert_int_equal(husk_json_int(o, NULL, "a", 0, 5, 5, &i, &err), 1);
	assert_int_equal(i, 5);
	assert_int_equal(husk_json_i64(o, NULL, "big", 0, 0, INT64_MAX, &v, &err), 1);
	assert_true(v == INT64_MAX);
	assert_int_equal(husk_json_u32(o, NULL, "u", 0, &u, &err), 1);
	assert_true(u == UINT32_MAX);

	assert_int_equal(husk_json_int(o, NULL, "a", 0, 6, 9, &i, &err), -1);
	assert_int_equal(err.code, ERANGE);
	assert_string_equal(err.msg, "\"a\" is out of range");
	assert_int_equal(husk_json_u32(o, "p.", "neg", 0, &u, &err), -1);
	assert_string_equal(err.msg, "p.neg is out of range");
	assert_int_equal(husk_json_u32(o, NULL, "u1", 0, &u, &err), -1);
	assert_int_equal(err.code, ERANGE);
	/* json-c saturates past INT64_MAX: still out of range */
	assert_int_equal(husk_json_i64(o, NULL, "huge", 0, 0, INT64_MAX, &v, &err), -1);
	assert_int_equal(err.code, ERANGE);
	assert_int_equal(husk_json_i64(o, NULL, "f", 0, 0, 9, &v, &err), -1);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, "\"f\" must be an integer");
	assert_int_equal(husk_json_i64(o, NULL, "s", 0, 0, 9, &v, &err), -1);
	assert_string_equal(err.msg, "\"s\" must be an integer");
	assert_int_equal(husk_json_i64(o, "q.", "absent", HUSK_JSON_REQUIRED, 0, 9, &v, &err), -1);
	assert_string_equal(err.msg, "q.absent is missing");
	json_object_put(o);
}

static void test_u64(void **state)
{
	struct json_object *o =
	    obj("{\"zero\":0,\"max\":18446744073709551615,"
		"\"mid\":9223372036854775808,\"neg\":-1,\"min\":-9223372036854775808,"
		"\"f\":1.0,\"s\":\"1\",\"n\":null}");
	struct husk_err err = {0};
	uint64_t v = 42;

	assert_int_equal(husk_json_u64(o, NULL, "absent", 0, &v, &err), 0);
	assert_int_equal(husk_json_u64(o, NULL, "n", 0, &v, &err), 0);
	assert_true(v == 42);
	assert_int_equal(husk_json_u64(o, NULL, "zero", 0, &v, &err), 1);
	assert_true(v == 0);
	assert_int_equal(husk_json_u64(o, NULL, "max", 0, &v, &err), 1);
	assert_true(v == UINT64_MAX);
	assert_int_equal(husk_json_u64(o, NULL, "mid", 0, &v, &err), 1);
	assert_true(v == UINT64_C(1) << 63);
	/* negative is out of range, never 0 (json_object_get_uint64's answer) */
	v = 42;
	assert_int_equal(husk_json_u64(o, "r.", "neg", 0, &v, &err), -1);
	assert_int_equal(err.code, ERANGE);
	assert_string_equal(err.msg, "r.neg is out of range");
	assert_int_equal(husk_json_u64(o, NULL, "min", 0, &v, &err), -1);
	assert_true(v == 42);
	assert_int_equal(husk_json_u64(o, NULL, "f", 0, &v, &err), -1);
	assert_string_equal(err.msg, "\"f\" must be an integer");
	assert_int_equal(husk_json_u64(o, NULL, "s", 0, &v, &err), -1);
	assert_int_equal(husk_json_u64(o, NULL, "n", HUSK_JSON_NOT_NULL, &v, &err), -1);
	assert_int_equal(husk_json_u64(o, "r.", "absent", HUSK_JSON_REQUIRED, &v, &err), -1);
	assert_string_equal(err.msg, "r.absent is missing");
	json_object_put(o);
}

static void test_bool(void **state)
{
	struct json_object *o = obj("{\"t\":true,\"n\":null,\"s\":\"true\"}");
	struct husk_err err = {0};
	bool b = false;

	assert_int_equal(husk_json_bool(o, NULL, "t", 0, &b, &err), 1);
	assert_true(b);
	b = false;
	assert_int_equal(husk_json_bool(o, NULL, "n", 0, &b, &err), 0);
	assert_false(b);
	assert_int_equal(husk_json_bool(o, "r.", "n", HUSK_JSON_NOT_NULL, &b, &err), -1);
	assert_string_equal(err.msg, "r.n must be true or false");
	assert_int_equal(husk_json_bool(o, NULL, "s", 0, &b, &err), -1);
	assert_string_equal(err.msg, "\"s\" must be true or false");
	json_object_put(o);
}

static void test_obj_array(void **state)
{
	struct json_object *o = obj("{\"o\":{},\"a\":[1,2,3],\"n\":null}"), *v;
	struct husk_err err = {0};

	assert_int_equal(husk_json_obj(o, NULL, "o", 0, &v, &err), 1);
	assert_true(json_object_is_type(v, json_type_object));
	assert_int_equal(husk_json_obj(o, NULL, "n", 0, &v, &err), 0);
	assert_null(v);
	assert_int_equal(husk_json_obj(o, NULL, "a", 0, &v, &err), -1);
	assert_null(v);
	assert_string_equal(err.msg, "\"a\" must be an object");
	assert_int_equal(husk_json_array(o, "l.", "a", 0, 3, &v, &err), 1);
	assert_int_equal(json_object_array_length(v), 3);
	assert_int_equal(husk_json_array(o, "l.", "a", 0, 2, &v, &err), -1);
	assert_null(v);
	assert_int_equal(err.code, E2BIG);
	assert_string_equal(err.msg, "l.a has more than 2 entries");
	assert_int_equal(husk_json_array(o, "l.", "o", 0, 9, &v, &err), -1);
	assert_string_equal(err.msg, "l.o must be an array");
	assert_int_equal(husk_json_array(o, "l.", "x", HUSK_JSON_REQUIRED, 9, &v, &err), -1);
	assert_string_equal(err.msg, "l.x is missing");
	json_object_put(o);
}

static void test_strv(void **state)
{
	struct json_object *o = obj("{\"v\":[\"a\",\"b\"],\"p\":[\"/x\",\"y\"],\"e\":[],"
				    "\"bad\":[\"a\",1],\"nul\":[\"a\\u0000\"],\"s\":\"a\"}");
	struct husk_err err = {0};
	char **v;
	size_t n;

	assert_int_equal(husk_json_strv(o, NULL, "v", 0, 9, &v, &n, &err), 1);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_null(v[2]);
	husk_strv_free(v);
	/* absent: an empty vector */
	assert_int_equal(husk_json_strv(o, NULL, "absent", 0, 9, &v, &n, &err), 0);
	assert_non_null(v);
	assert_null(v[0]);
	assert_int_equal(n, 0);
	husk_strv_free(v);
	assert_int_equal(husk_json_strv(o, NULL, "e", 0, 9, &v, &n, &err), 1);
	assert_null(v[0]);
	husk_strv_free(v);

	assert_int_equal(husk_json_strv(o, NULL, "v", 0, 1, &v, &n, &err), -1);
	assert_null(v);
	assert_int_equal(err.code, E2BIG);
	assert_string_equal(err.msg, "\"v\" has more than 1 entries");
	assert_int_equal(husk_json_strv(o, NULL, "bad", 0, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "\"bad\"[1] must be a string");
	assert_int_equal(husk_json_strv(o, NULL, "nul", 0, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "\"nul\"[0] must be a string");
	assert_int_equal(husk_json_strv(o, NULL, "s", 0, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "\"s\" must be an array of strings");
	assert_int_equal(husk_json_strv(o, "l.", "p", HUSK_JSON_ABS_PATHS, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "l.p[1] must be an absolute path");
	assert_int_equal(husk_json_strv(o, "l.", "s", HUSK_JSON_ABS_PATHS, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "l.s must be an array of absolute paths");
	assert_int_equal(husk_json_strv(o, "l.", "x", HUSK_JSON_REQUIRED, 9, &v, &n, &err), -1);
	assert_string_equal(err.msg, "l.x is missing");
	assert_null(v);
	json_object_put(o);
}

static void test_strv_to_json(void **state)
{
	char *v[] = {"a", "b c", NULL};
	struct json_object *a = husk_strv_to_json(v);

	assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN),
			    "[\"a\",\"b c\"]");
	json_object_put(a);
	a = husk_strv_to_json(NULL);
	assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN), "[]");
	json_object_put(a);
}

static void test_err_prefix(void **state)
{
	struct husk_err err = {0};

	husk_err_set(&err, EINVAL, "\"uid\" is missing");
	assert_int_equal(husk_err_prefix(&err, "\"user\""), -1);
	assert_int_equal(husk_err_prefix(&err, "request"), -1);
	assert_string_equal(err.msg, "request: \"user\": \"uid\" is missing");
	assert_int_equal(err.code, EINVAL);
	assert_int_equal(husk_err_prefix(NULL, "x"), -1);
	/* a long message is cut, still terminated */
	memset(err.msg, 'm', sizeof err.msg - 1);
	err.msg[sizeof err.msg - 1] = '\0';
	husk_err_prefix(&err, "where");
	assert_int_equal(strlen(err.msg), sizeof err.msg - 1);
	assert_true(strncmp(err.msg, "where: mmm", 10) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_object), cmocka_unit_test(test_str),
	    cmocka_unit_test(test_str_value),	 cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_u64),		 cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_obj_array),	 cmocka_unit_test(test_strv),
	    cmocka_unit_test(test_strv_to_json), cmocka_unit_test(test_err_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
