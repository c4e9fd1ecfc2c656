/* Unit tests for `husk events`' pure parts (host-tool/statsjson.c): the stats
 * event byte for byte as runc 1.1 prints it (Go's encoding/json of runc's
 * types.Event and types.Stats: struct order, omitempty on numbers and
 * slices but not on structs), and Go's duration syntax for --interval. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../host-tool/statsjson.h"

#define CPUSET                                                                                     \
	"\"cpuset\":{\"cpu_exclusive\":0,\"mem_hardwall\":0,\"mem_exclusive\":0,"                  \
	"\"memory_migrate\":0,\"memory_spread_page\":0,\"memory_spread_slab\":0,"                  \
	"\"memory_pressure\":0,\"sched_load_balance\":0,\"sched_relax_domain_level\":0}"
#define ZERO_ENTRIES                                                                               \
	"\"swap\":{\"limit\":0,\"failcnt\":0},\"kernel\":{\"limit\":0,\"failcnt\":0},"             \
	"\"kernelTCP\":{\"limit\":0,\"failcnt\":0}"
#define TAIL "\"blkio\":{},\"hugetlb\":{},\"intel_rdt\":{},\"network_interfaces\":null}}"

static void expect_event(const struct husk_cgroup_stats *s, const char *want)
{
	struct json_object *ev = husk_stats_event("abc", s);
	assert_string_equal(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE),
			    want);
	json_object_put(ev);
}

static void test_full(void **state)
{
	struct husk_cgroup_stats s = {.cpu_usage_ns = 1500000,
				      .cpu_user_ns = 1000000,
				      .cpu_system_ns = 500000,
				      .memory_usage = 12345,
				      .memory_limit = UINT64_MAX,
				      .memory_max_usage = 99999,
				      .pids_current = 2,
				      .pids_limit = 64,
				      .cpu_periods = 30,
				      .cpu_throttled_periods = 3,
				      .cpu_throttled_ns = 250000,
				      .memory_cache = 16384,
				      .memory_failcnt = 5,
				      .oom_kills = 1};
	expect_event(&s,
		     "{\"type\":\"stats\",\"id\":\"abc\",\"data\":{"
		     "\"cpu\":{\"usage\":{\"total\":1500000,\"kernel\":500000,\"user\":1000000},"
		     "\"throttling\":{\"periods\":30,\"throttledPeriods\":3,"
		     "\"throttledTime\":250000}}," CPUSET ","
		     "\"memory\":{\"cache\":16384,\"usage\":{\"limit\":18446744073709551615,"
		     "\"usage\":12345,\"max\":99999,\"failcnt\":5}," ZERO_ENTRIES "},"
		     "\"pids\":{\"current\":2,\"limit\":64}," TAIL);
}

/* Go leaves out a zero number with omitempty, but never a struct */
static void test_zero(void **state)
{
	struct husk_cgroup_stats s = {0};
	expect_event(&s,
		     "{\"type\":\"stats\",\"id\":\"abc\",\"data\":{"
		     "\"cpu\":{\"usage\":{\"kernel\":0,\"user\":0},\"throttling\":{}}," CPUSET ","
		     "\"memory\":{\"usage\":{\"limit\":0,\"failcnt\":0}," ZERO_ENTRIES "},"
		     "\"pids\":{}," TAIL);
}

static void expect_duration(const char *s, int64_t want)
{
	struct husk_err err = {0};
	int64_t ns = 12345;
	if (husk_parse_duration(s, "interval", &ns, &err) < 0)
		fail_msg("\"%s\": %s", s, err.msg);
	if (ns != want)
		fail_msg("\"%s\": %lld, not %lld", s, (long long)ns, (long long)want);
}

static void expect_bad_duration(const char *s)
{
	struct husk_err err = {0};
	int64_t ns;
	if (husk_parse_duration(s, "interval", &ns, &err) == 0)
		fail_msg("\"%s\" gave %lld", s, (long long)ns);
	char want[128];
	snprintf(want, sizeof want, "invalid value \"%s\" for --interval", s);
	if (!strstr(err.msg, want))
		fail_msg("\"%s\" does not contain \"%s\"", err.msg, want);
}

static void test_durations(void **state)
{
	expect_duration("5s", 5000000000);
	expect_duration("500ms", 500000000);
	expect_duration("1m", 60000000000);
	expect_duration("1h30m", 5400000000000);
	expect_duration("1.5s", 1500000000);
	expect_duration(".5s", 500000000);
	expect_duration("5.s", 5000000000);
	expect_duration("300us", 300000);
	expect_duration("300\xc2\xb5s", 300000);
	expect_duration("300\xce\xbcs", 300000);
	expect_duration("10ns", 10);
	expect_duration("0", 0);
	expect_duration("0s", 0);
	expect_duration("-1s", -1000000000);
	expect_duration("+2m3s", 123000000000);
	expect_duration("2562047h", 2562047 * 3600000000000LL);
	expect_bad_duration("");
	expect_bad_duration("5");
	expect_bad_duration("1s5");
	expect_bad_duration(".s");
	expect_bad_duration("s");
	expect_bad_duration("5x");
	expect_bad_duration("5sm");
	expect_bad_duration("-");
	expect_bad_duration("2562048h");
	expect_bad_duration("99999999999999999999s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_zero),
	    cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
