/* The privilege property shared by fuzz_config.c (the host's reader,
 * host-tool/config.c) and fuzz_spec.c (the agent's, agent/spec.c).
 *
 * What a config grants a process, as a vector P ordered field by field
 * ("a has more privilege than b" when it has more in ANY field):
 *
 *   caps[set]      the five capability sets as masks. Without a
 *                  process.capabilities object (absent or null) the process
 *                  keeps what it has: every capability (HUSK_CAP_ALL). More:
 *                  a bit that b lacks.
 *   no_new_privs   off is more than on.
 *   seccomp        no filter is more than a filter.
 *   soft/hard[r]   each rlimit; one not set is inherited, which root may
 *                  raise to RLIM_INFINITY (2^64-1) anyway: that is its value
 *                  here. More: a higher soft or hard limit.
 *   uid, gid       0 is more than any other id (other ids are not ordered).
 *   nmasked,       masked and read-only paths: fewer is more (b's paths not
 *   nreadonly      all among a's; the default has none, so a count will do).
 *   root_readonly  a writable root is more than a read-only one.
 *
 * The empty config (no privilege fields: P_default below) is runc's
 * default: root with every capability, no filter, nothing masked.
 *
 * Property 1, no escalation: for every input that parses, P <= P_default.
 *
 * Property 2, fail closed: every privilege field the input names (present
 * and not null) is either refused (the parse fails) or honoured exactly: P
 * equals what an independent minimal reader (ref_* below) takes the JSON to
 * say, and that reader aborts on any value of the wrong type or range it
 * finds in an input that was accepted. Property 1 alone cannot see a field
 * that is silently dropped when the default is the most privileged value
 * ("capabilities": ["CAP_KILL"] read as "no capabilities object" gave every
 * capability, "noNewPrivileges": "true" read as false, seccomp.syscalls as
 * an object read as no rules, an rlimit of -1 read as 0); property 2 does. */
#ifndef HUSK_FUZZ_PRIVILEGE_H
#define HUSK_FUZZ_PRIVILEGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <json-c/json.h>

#include "husk-priv.h"

#define PRIV_NRES 16 /* RLIMIT_* are below this on Linux */

struct priv {
	uint64_t caps[HUSK_CAP_SETS];
	bool no_new_privs;
	uint64_t soft[PRIV_NRES], hard[PRIV_NRES];
	bool seccomp;
	uint32_t uid, gid;
	size_t nmasked, nreadonly;
	bool root_readonly;
};

#define need(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: accepted a value it cannot read: %s\n", __FILE__,  \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline void priv_default(struct priv *p)
{
	memset(p, 0, sizeof *p);
	for (int s = 0; s < HUSK_CAP_SETS; s++)
		p->caps[s] = HUSK_CAP_ALL;
	for (int r = 0; r < PRIV_NRES; r++)
		p->soft[r] = p->hard[r] = UINT64_MAX;
}

/* Which field of a holds more privilege than b's, or NULL. */
static inline const char *priv_more(const struct priv *a, const struct priv *b)
{
	for (int s = 0; s < HUSK_CAP_SETS; s++)
		if (a->caps[s] & ~b->caps[s])
			return husk_cap_set_names[s];
	if (!a->no_new_privs && b->no_new_privs)
		return "noNewPrivileges";
	if (!a->seccomp && b->seccomp)
		return "seccomp";
	for (int r = 0; r < PRIV_NRES; r++)
		if (a->soft[r] > b->soft[r] || a->hard[r] > b->hard[r])
			return "rlimits";
	if ((a->uid == 0 && b->uid != 0) || (a->gid == 0 && b->gid != 0))
		return "user";
	if (a->nmasked < b->nmasked)
		return "maskedPaths";
	if (a->nreadonly < b->nreadonly)
		return "readonlyPaths";
	if (!a->root_readonly && b->root_readonly)
		return "root.readonly";
	return NULL;
}

/* Which field of a differs from b's, or NULL. */
static inline const char *priv_differs(const struct priv *a, const struct priv *b)
{
	for (int s = 0; s < HUSK_CAP_SETS; s++)
		if (a->caps[s] != b->caps[s])
			return husk_cap_set_names[s];
	for (int r = 0; r < PRIV_NRES; r++)
		if (a->soft[r] != b->soft[r] || a->hard[r] != b->hard[r])
			return "rlimits";
	if (a->no_new_privs != b->no_new_privs)
		return "noNewPrivileges";
	if (a->seccomp != b->seccomp)
		return "seccomp";
	if (a->uid != b->uid || a->gid != b->gid)
		return "user";
	if (a->nmasked != b->nmasked)
		return "maskedPaths";
	if (a->nreadonly != b->nreadonly)
		return "readonlyPaths";
	if (a->root_readonly != b->root_readonly)
		return "root.readonly";
	return NULL;
}

static inline void priv_check(const struct priv *got, const struct priv *want)
{
	struct priv dflt;
	const char *what;
	priv_default(&dflt);
	if ((what = priv_differs(got, want))) {
		fprintf(stderr, "%s read is not what the JSON says\n", what);
		abort();
	}
	if ((what = priv_more(got, &dflt))) {
		fprintf(stderr, "more privilege than the empty config: %s\n", what);
		abort();
	}
}

/* A member that is present and not null, or NULL. */
static inline struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

/* A JSON integer in [0, 2^64-1] (json-c saturates above it). */
static inline uint64_t ref_u64(struct json_object *v)
{
	need(json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0);
	return json_object_get_uint64(v);
}

static inline void ref_strings(struct json_object *a, bool paths)
{
	need(json_object_is_type(a, json_type_array));
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);
		need(json_object_is_type(s, json_type_string));
		need(!paths || json_object_get_string(s)[0] == '/');
	}
}

/* The reference reading of a process object's privilege fields into w
 * (which starts as P_default); user only when with_user. */
static inline void ref_process(struct json_object *process, struct priv *w, bool with_user)
{
	struct json_object *v, *a;
	if ((v = member(process, "capabilities"))) {
		need(json_object_is_type(v, json_type_object));
		for (int s = 0; s < HUSK_CAP_SETS; s++) {
			w->caps[s] = 0;
			if (!(a = member(v, husk_cap_set_names[s])))
				continue;
			need(json_object_is_type(a, json_type_array));
			for (size_t i = 0; i < json_object_array_length(a); i++) {
				struct json_object *c = json_object_array_get_idx(a, i);
				need(json_object_is_type(c, json_type_string));
				int cap = husk_cap_from_name(json_object_get_string(c));
				need(cap >= 0 && cap <= HUSK_CAP_LAST);
				w->caps[s] |= UINT64_C(1) << cap;
			}
		}
	}
	if ((v = member(process, "noNewPrivileges"))) {
		need(json_object_is_type(v, json_type_boolean));
		w->no_new_privs = json_object_get_boolean(v);
	}
	if ((v = member(process, "rlimits"))) {
		need(json_object_is_type(v, json_type_array));
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i), *t;
			need(json_object_is_type(e, json_type_object));
			need((t = member(e, "type")) && json_object_is_type(t, json_type_string));
			int r = husk_rlimit_from_name(json_object_get_string(t));
			need(r >= 0 && r < PRIV_NRES);
			need(member(e, "soft") && member(e, "hard"));
			uint64_t soft = ref_u64(member(e, "soft")),
				 hard = ref_u64(member(e, "hard"));
			need(soft <= hard);
			w->soft[r] = soft; /* in order: the last one wins, as with setrlimit */
			w->hard[r] = hard;
		}
	}
	if (with_user && (v = member(process, "user"))) {
		need(json_object_is_type(v, json_type_object));
		uint64_t uid = ref_u64(member(v, "uid")), gid = ref_u64(member(v, "gid"));
		need(uid <= UINT32_MAX && gid <= UINT32_MAX);
		w->uid = (uint32_t)uid;
		w->gid = (uint32_t)gid;
	}
}

static inline void ref_seccomp_rule(struct json_object *r)
{
	struct json_object *v;
	need(json_object_is_type(r, json_type_object));
	if ((v = member(r, "names")))
		ref_strings(v, false);
	need((v = member(r, "action")) && json_object_is_type(v, json_type_string));
	if ((v = member(r, "errnoRet")))
		need(ref_u64(v) <= 0xffff);
	if (!(v = member(r, "args")))
		return;
	need(json_object_is_type(v, json_type_array) && json_object_array_length(v) <= 6);
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *a = json_object_array_get_idx(v, i), *op;
		need(json_object_is_type(a, json_type_object));
		need(member(a, "index") && ref_u64(member(a, "index")) <= 5);
		need(member(a, "value"));
		ref_u64(member(a, "value"));
		if (member(a, "valueTwo"))
			ref_u64(member(a, "valueTwo"));
		need((op = member(a, "op")) && json_object_is_type(op, json_type_string));
	}
}

/* linux's privilege fields into w. */
static inline void ref_linux(struct json_object *linux_, struct priv *w)
{
	struct json_object *v, *calls;
	if ((v = member(linux_, "seccomp"))) {
		need(json_object_is_type(v, json_type_object));
		need(member(v, "defaultAction") &&
		     json_object_is_type(member(v, "defaultAction"), json_type_string));
		if (member(v, "defaultErrnoRet"))
			need(ref_u64(member(v, "defaultErrnoRet")) <= 0xffff);
		if ((calls = member(v, "syscalls"))) {
			need(json_object_is_type(calls, json_type_array));
			for (size_t i = 0; i < json_object_array_length(calls); i++)
				ref_seccomp_rule(json_object_array_get_idx(calls, i));
		}
		if (member(v, "architectures"))
			ref_strings(member(v, "architectures"), false);
		w->seccomp = true;
	}
	if ((v = member(linux_, "maskedPaths"))) {
		ref_strings(v, true);
		w->nmasked = json_object_array_length(v);
	}
	if ((v = member(linux_, "readonlyPaths"))) {
		ref_strings(v, true);
		w->nreadonly = json_object_array_length(v);
	}
}

/* What rlimits read as (in order, the last one wins) in a P. */
static inline void priv_rlimits(struct priv *p, const struct husk_rlimit *rl, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rl[i].resource < 0 || rl[i].resource >= PRIV_NRES)
			abort();
		p->soft[rl[i].resource] = rl[i].soft;
		p->hard[rl[i].resource] = rl[i].hard;
	}
}

#endif
