/* husk events: a container's resource usage as `runc events` prints it, one
 * JSON object a line. The figures are those of the VM's host cgroup (QEMU,
 * virtiofsd and the proxy: docs/architecture.md, "Host cgroups"), not of the
 * container's cgroup in the guest. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "husk-log.h"
#include "husk.h"
#include "opts.h"
#include "pod.h"
#include "state.h"
#include "statsjson.h"
#include "verbs.h"

#define NS_PER_S 1000000000LL

enum { E_INTERVAL = 1001, E_STATS };

static const struct husk_opt events_opts[] = {
    {"interval", required_argument, E_INTERVAL, "DURATION",
     "how often to print the stats, as Go writes durations (default 5s)"},
    {"stats", no_argument, E_STATS, NULL, "print the stats once and exit"},
    HUSK_OPT_END,
};

struct events_args {
	int64_t interval; /* ns */
	bool once;
};

static int events_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct events_args *a = data;
	if (key == E_STATS) {
		a->once = true;
		return 0;
	}
	return husk_parse_duration(arg, "interval", &a->interval, err);
}

static void emit(struct json_object *ev)
{
	printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(ev);
}

static void emit_oom(const char *id)
{
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "type", json_object_new_string("oom"));
	json_object_object_add(ev, "id", json_object_new_string(id));
	emit(ev);
}

static bool running(const char *id)
{
	struct husk_err err = {0};
	struct husk_state st;
	if (husk_state_read(id, &st, &err) < 0)
		return false; /* deleted */
	bool r = strcmp(husk_state_status(&st), "stopped") != 0;
	husk_state_free(&st);
	return r;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * NS_PER_S + t.tv_nsec;
}

/* Until the container stops, or SIGINT or SIGTERM: its stats every
 * interval (the first after one, as runc's ticker), and an oom event when
 * the cgroup's OOM kill count went up, looked at every second at most. */
static int stream(const char *id, const struct husk_cgroup *cg, int64_t interval,
		  struct husk_err *err)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL); /* taken by sigtimedwait below */
	struct husk_cgroup_stats s;
	if (husk_cgroup_stats(cg, &s, err) < 0)
		return -1;
	uint64_t ooms = s.oom_kills;
	int64_t step = interval < NS_PER_S ? interval : NS_PER_S, due = now_ns() + interval;
	for (;;) {
		int64_t left = due - now_ns();
		int64_t wait = left <= 0 ? 0 : left < step ? left : step;
		struct timespec ts = {.tv_sec = wait / NS_PER_S, .tv_nsec = wait % NS_PER_S};
		if (sigtimedwait(&sigs, NULL, &ts) > 0)
			return 0;
		struct husk_err e = {0};
		bool ok = husk_cgroup_stats(cg, &s, &e) == 0;
		if (ok && s.oom_kills > ooms)
			emit_oom(id);
		if (ok)
			ooms = s.oom_kills;
		if (!running(id))
			return 0;
		int64_t now = now_ns();
		if (now < due)
			continue;
		while (due <= now)
			due += interval; /* ticks missed are dropped, as Go's ticker does */
		if (ok)
			emit(husk_stats_event(id, &s));
		else
			log_warn("%s", e.msg); /* runc logs it and goes on */
	}
}

int husk_cmd_events(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "events [--stats] [--interval DURATION] ID",
	    .about = "Print a running container's resource usage (its VM's host cgroup), as runc "
		     "events does: one JSON object a line, until it stops.",
	    .opts = events_opts};
	struct husk_err err = {0};
	struct events_args a = {.interval = 5 * NS_PER_S};
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, events_opt, &a, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	if (a.interval <= 0) {
		husk_err_set(&err, EINVAL, "duration interval must be greater than 0");
		return husk_fail(&err);
	}
	struct husk_state st;
	if (husk_state_read(id, &st, &err) < 0)
		return husk_fail(&err);
	struct husk_cgroup cg;
	struct husk_cgroup_stats s;
	r = -1;
	if (!strcmp(husk_state_status(&st), "stopped")) {
		husk_err_set(&err, EINVAL, "container with id %s is not running", st.id);
	} else if (!st.cgroup && husk_pod_sandbox_of(&st)) {
		husk_err_set(&err, EOPNOTSUPP,
			     "container %s runs in pod sandbox %s's VM: its host figures are the "
			     "sandbox's (husk events %s)",
			     st.id, husk_pod_sandbox_of(&st), husk_pod_sandbox_of(&st));
	} else if (!st.cgroup) {
		husk_err_set(&err, EOPNOTSUPP,
			     "container with id %s has no host cgroup in its state (an older husk "
			     "created it): no stats",
			     st.id);
	} else if (husk_cgroup_load(&cg, NULL, st.cgroup, &err) == 0) {
		if (!a.once)
			r = stream(st.id, &cg, a.interval, &err);
		else if ((r = husk_cgroup_stats(&cg, &s, &err)) == 0)
			emit(husk_stats_event(st.id, &s));
		husk_cgroup_free(&cg);
	}
	husk_state_free(&st);
	return r < 0 ? husk_fail(&err) : 0;
}
