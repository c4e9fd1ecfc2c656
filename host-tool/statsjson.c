/* runc's events JSON and Go durations (statsjson.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <json-c/json.h>

#include "statsjson.h"

/* A uint64 field; omitempty leaves a zero out, as Go does. */
static void put(struct json_object *o, const char *key, uint64_t v, bool omitempty)
{
	if (v || !omitempty)
		json_object_object_add(o, key, json_object_new_uint64(v));
}

static struct json_object *obj(struct json_object *parent, const char *key)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(parent, key, o);
	return o;
}

/* types.MemoryEntry */
static void mem_entry(struct json_object *parent, const char *key, uint64_t limit, uint64_t usage,
		      uint64_t max, uint64_t failcnt)
{
	struct json_object *o = obj(parent, key);
	put(o, "limit", limit, false);
	put(o, "usage", usage, true);
	put(o, "max", max, true);
	put(o, "failcnt", failcnt, false);
}

struct json_object *husk_stats_event(const char *id, const struct husk_cgroup_stats *s)
{
	static const char *const cpuset_zeros[] = {
	    "cpu_exclusive",   "mem_hardwall",	     "mem_exclusive",
	    "memory_migrate",  "memory_spread_page", "memory_spread_slab",
	    "memory_pressure", "sched_load_balance", "sched_relax_domain_level"};
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "type", json_object_new_string("stats"));
	json_object_object_add(ev, "id", json_object_new_string(id));
	struct json_object *data = obj(ev, "data");

	struct json_object *cpu = obj(data, "cpu"), *o = obj(cpu, "usage");
	put(o, "total", s->cpu_usage_ns, true);
	put(o, "kernel", s->cpu_system_ns, false);
	put(o, "user", s->cpu_user_ns, false);
	o = obj(cpu, "throttling");
	put(o, "periods", s->cpu_periods, true);
	put(o, "throttledPeriods", s->cpu_throttled_periods, true);
	put(o, "throttledTime", s->cpu_throttled_ns, true);

	o = obj(data, "cpuset");
	for (size_t i = 0; i < sizeof cpuset_zeros / sizeof cpuset_zeros[0]; i++)
		put(o, cpuset_zeros[i], 0, false);

	struct json_object *mem = obj(data, "memory");
	put(mem, "cache", s->memory_cache, true);
	mem_entry(mem, "usage", s->memory_limit, s->memory_usage, s->memory_max_usage,
		  s->memory_failcnt);
	mem_entry(mem, "swap", 0, 0, 0, 0);
	mem_entry(mem, "kernel", 0, 0, 0, 0);
	mem_entry(mem, "kernelTCP", 0, 0, 0, 0);

	o = obj(data, "pids");
	put(o, "current", s->pids_current, true);
	put(o, "limit", s->pids_limit, true);

	obj(data, "blkio");
	obj(data, "hugetlb");
	obj(data, "intel_rdt");
	json_object_object_add(data, "network_interfaces", NULL);
	return ev;
}

int husk_parse_duration(const char *str, const char *what, int64_t *ns, struct husk_err *err)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
	    {"ns", 1},	     {"us", 1000},	   {"\xc2\xb5s", 1000},	  {"\xce\xbcs", 1000},
	    {"ms", 1000000}, {"s", 1000000000ull}, {"m", 60000000000ull}, {"h", 3600000000000ull}};
	const char *p = str;
	bool neg = *p == '-';
	uint64_t total = 0;
	p += *p == '-' || *p == '+';
	if (!strcmp(p, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*p)
		goto bad;
	while (*p) {
		uint64_t whole = 0, frac = 0, scale = 1;
		const char *start = p;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (whole > (UINT64_MAX - 9) / 10)
				goto bad;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		bool digits = p > start;
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true)
				if (scale < 1000000000000000000ull) /* more digits cannot matter */
					frac = frac * 10 + (uint64_t)(*p - '0'), scale *= 10;
		}
		size_t k = strcspn(p, ".0123456789"), i = 0;
		while (i < sizeof units / sizeof units[0] &&
		       (strlen(units[i].name) != k || strncmp(p, units[i].name, k)))
			i++;
		if (!digits || i == sizeof units / sizeof units[0])
			goto bad;
		p += k;
		uint64_t u = units[i].ns;
		if (whole > (uint64_t)INT64_MAX / u)
			goto bad;
		/* the fraction in floating point, as Go does */
		uint64_t part = whole * u + (uint64_t)((double)frac * ((double)u / (double)scale));
		if (part > (uint64_t)INT64_MAX - total)
			goto bad;
		total += part;
	}
	*ns = neg ? -(int64_t)total : (int64_t)total;
	return 0;
bad:
	return husk_err_set(err, EINVAL, "invalid value \"%s\" for --%s: not a duration", str,
			    what);
}
