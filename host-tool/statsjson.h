/* The pure parts of `husk events` (events.c), apart so unit tests can call
 * them: the stats event as runc 1.1 prints it, and Go's duration syntax. */
#ifndef HUSK_STATSJSON_H
#define HUSK_STATSJSON_H

#include <stdint.h>

#include "cgroup.h"
#include "husk-err.h"

struct json_object;

/* {"type":"stats","id":id,"data":...}: runc's types.Event around its
 * types.Stats, with its field names, nesting and omitempty as Go's
 * encoding/json writes them (runc 1.1: an empty struct is still written).
 * What s has not (percpu, swap, kernel, blkio, hugetlb, ...) is zero or
 * left out where runc leaves out a zero. */
struct json_object *husk_stats_event(const char *id, const struct husk_cgroup_stats *s);

/* A duration as Go's time.ParseDuration reads it ("5s", "500ms", "1m30s",
 * "1.5h", "-2us", "0") into *ns; err names what (a flag). */
int husk_parse_duration(const char *str, const char *what, int64_t *ns, struct husk_err *err);

#endif
