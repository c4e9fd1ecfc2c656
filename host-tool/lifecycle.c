/* husk start, state, kill, delete: the verbs that act on an existing
 * container through its state and its proxy. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "config.h"
#include "ctl.h"
#include "hooks.h"
#include "husk-log.h"
#include "husk.h"
#include "netconf.h"
#include "opts.h"
#include "state.h"
#include "util.h"
#include "verbs.h"

/* The ID and, for verbs with flags, a bool set by the one flag. */
static int flag_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	*(bool *)data = true;
	return 0;
}

/* The state of container id, read under its lock: *lock is the fd to
 * close once done with it (never kept while waiting for the proxy). */
static int locked_state(const char *id, struct husk_state *st, int *lock, struct husk_err *err)
{
	_cleanup_free_ char *dir = NULL;
	*lock = -1;
	if (husk_id_check(id, err) < 0)
		return -1;
	if (!(dir = husk_state_dir(id)))
		return husk_err_set(err, ENOMEM, "out of memory");
	if ((*lock = husk_state_lock(dir, err)) < 0)
		return -1;
	if (husk_state_read(id, st, err) < 0) {
		husk_closep(lock);
		*lock = -1;
		return -1;
	}
	return 0;
}

/* The container's proxy if it still runs (0, else -1); a state without
 * husk_proxy_pid has the proxy as its PID. */
static int open_proxy(struct husk_pidref *r, const struct husk_state *st)
{
	if (st->proxy_pid > 0)
		return husk_pidref_open(r, st->proxy_pid, st->proxy_start_time);
	return husk_pidref_open(r, st->pid, st->start_time);
}

int husk_cmd_start(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "start ID", .about = "Start the process of a created container."};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	const char *id;
	int lock;
	int r = husk_opts_parse_id(argc, argv, &d, NULL, NULL, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	if (locked_state(id, &st, &lock, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	_cleanup_free_ char *dir = husk_state_dir(id);
	if (strcmp(status, "created") != 0) {
		if (!strcmp(status, "paused"))
			husk_err_set(&err, EINVAL, "cannot start a container in the paused state");
		else
			husk_err_set(&err, EINVAL, "cannot start a container that is %s", status);
		husk_state_free(&st);
		close(lock);
		return husk_fail(&err);
	}
	husk_state_free(&st);
	/* The proxy writes "running" under the same lock before it answers:
	 * let go of it first. A second start, or a delete, in between is the
	 * proxy's to refuse (start_asked) or cannot reach it. */
	close(lock);
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("start"));
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	json_object_put(reply);
	return 0;
}

int husk_cmd_state(int argc, char **argv)
{
	static const struct husk_verb_desc d = {.usage = "state ID",
						.about = "Print a container's state as OCI JSON."};
	struct husk_err err = {0};
	struct husk_state st;
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, NULL, NULL, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	/* no lock: state.json is replaced whole (rename), never half written */
	if (husk_state_read(id, &st, &err) < 0)
		return husk_fail(&err);
	struct json_object *o = husk_state_to_oci(&st);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	husk_state_free(&st);
	return 0;
}

int husk_cmd_kill(int argc, char **argv)
{
	static const struct husk_opt opts[] = {
	    {"all", no_argument, 'a', NULL, "signal every process of the container"},
	    HUSK_OPT_END,
	};
	static const struct husk_verb_desc d = {
	    .usage = "kill [--all] ID [SIGNAL]",
	    .about = "Send a signal (default SIGTERM) to a container's process.",
	    .opts = opts};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	bool all = false;
	int sig = SIGTERM, lock = -1;
	int i = husk_opts_parse(argc, argv, &d, flag_opt, &all, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc - 1 && i != argc - 2)
		i = husk_err_set(&err, EINVAL, "kill needs a container ID and at most one signal");
	if (i < 0 || (i == argc - 2 && husk_parse_signal(argv[i + 1], &sig, &err) < 0) ||
	    locked_state(argv[i], &st, &lock, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	_cleanup_free_ char *dir = husk_state_dir(argv[i]);
	if (!strcmp(status, "stopped")) {
		husk_state_free(&st);
		close(lock);
		husk_err_set(&err, ESRCH, "container not running");
		return husk_fail(&err);
	}
	if (sig == SIGKILL && !all) {
		/* Neither the sentinel nor a proxy that is still creating can
		 * catch it: the container dies with either. Through pidfds: the
		 * proxy's first, which says the container is alive, then the
		 * PID's, each checked against its start time, so a PID reused
		 * since state.json was written is never signalled. */
		_cleanup_pidref_ struct husk_pidref proxy = {.fd = -1}, pid = {.fd = -1};
		bool alive = open_proxy(&proxy, &st) == 0;
		bool sentinel = alive && husk_pidref_open(&pid, st.pid, st.start_time) == 0;
		if (!alive)
			husk_err_set(&err, ESRCH, "container not running");
		else if (sentinel && husk_pidref_signal(&pid, SIGKILL) < 0)
			husk_err_sys(&err, errno, "kill %d", (int)st.pid);
		husk_state_free(&st);
		close(lock);
		if (err.code)
			return husk_fail(&err);
		if (sentinel)
			return 0;
		/* the sentinel is gone and its proxy not yet: the proxy's way */
	} else {
		husk_state_free(&st);
		close(lock);
	}
	/* the proxy answers after it has acted, writing state under the lock:
	 * it is let go of before asking */
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("kill"));
	json_object_object_add(req, "signal", json_object_new_int(sig));
	json_object_object_add(req, "all", json_object_new_boolean(all));
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	json_object_put(reply);
	return 0;
}

int husk_cmd_delete(int argc, char **argv)
{
	static const struct husk_opt opts[] = {
	    {"force", no_argument, 'f', NULL, "kill and delete a container that runs"},
	    HUSK_OPT_END,
	};
	static const struct husk_verb_desc d = {
	    .usage = "delete [--force] ID",
	    .about = "Remove a stopped (or, with --force, any) container.",
	    .opts = opts};
	struct husk_err err = {0};
	struct husk_state st;
	bool force = false;
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, flag_opt, &force, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	if (husk_id_check(id, &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(id);
	if (!dir) {
		husk_err_set(&err, ENOMEM, "out of memory");
		return husk_fail(&err);
	}
	/* Everything below under the container's lock, from the first read of
	 * its state to the removal of its directory: no start, kill or status
	 * write of the proxy comes in between. */
	_cleanup_close_ int lock = husk_state_lock(dir, &err);
	if (lock < 0)
		/* --force of a container that is already gone succeeds, as
		 * runc's does: shims send it during their cleanup. */
		return force && err.code == ENOENT ? 0 : husk_fail(&err);
	if (husk_state_read(id, &st, &err) < 0) {
		/* A directory without state: a create that was killed before it
		 * wrote any (create holds the lock until it has). */
		if (force && err.code == ENOENT) {
			husk_state_remove(dir);
			return 0;
		}
		return husk_fail(&err);
	}
	const char *status = husk_state_status(&st);
	if ((!strcmp(status, "running") || !strcmp(status, "paused")) && !force) {
		husk_err_set(&err, EBUSY,
			     "cannot delete container %s that is not stopped: %s (use --force)",
			     st.id, status);
		husk_state_free(&st);
		return husk_fail(&err);
	}
	{
		/* The sentinel first: whoever reaps it sees SIGKILL, as with runc.
		 * Both through pidfds checked against their start times. Also
		 * when the state says stopped: that is read off the sentinel,
		 * and a proxy can outlive it (still cleaning up, or stuck). */
		_cleanup_pidref_ struct husk_pidref proxy = {.fd = -1};
		bool alive = open_proxy(&proxy, &st) == 0;
		if (st.proxy_pid > 0 && st.pid != st.proxy_pid)
			husk_pid_signal(st.pid, st.start_time, SIGKILL);
		/* The proxy cannot take the lock we hold to write its status:
		 * if it waits for it, SIGKILL ends the wait. */
		if (alive && husk_pidref_signal(&proxy, SIGKILL) == 0 &&
		    !husk_pidref_wait(&proxy, 10000))
			log_warn("the proxy of %s did not exit within 10 s", st.id);
	}
	/* and its VM, which follows it (PR_SET_PDEATHSIG), as long as that pid
	 * is still the same QEMU */
	_cleanup_pidref_ struct husk_pidref vm = {.fd = -1};
	if (st.vm_start_time && husk_pidref_open(&vm, st.vm_pid, st.vm_start_time) == 0 &&
	    !husk_pidref_wait(&vm, 10000)) {
		log_warn("the VM of %s outlived its proxy: killing it", st.id);
		husk_pidref_signal(&vm, SIGKILL);
		husk_pidref_wait(&vm, 5000);
	}
	/* the VM's host cgroup, once everything in it is gone */
	struct husk_cgroup cg;
	if (st.cgroup && husk_cgroup_load(&cg, NULL, st.cgroup, &err) == 0) {
		husk_cgroup_kill_all(&cg);
		husk_cgroup_destroy(&cg);
		husk_cgroup_free(&cg);
	}
	/* a proxy killed before it cleaned up left its tc filters behind */
	if (st.netns && husk_netconf_cleanup_path(st.netns, &err) < 0)
		log_warn("%s", err.msg);
	/* Poststop hooks run when the container is deleted: those of the
	 * config create read and kept in the state directory, never the
	 * bundle's config.json, which the container may have rewritten. */
	struct husk_config cfg;
	struct husk_err herr;
	if (husk_config_load_saved(dir, &cfg, &herr) < 0) {
		log_warn("%s: no poststop hooks run", herr.msg);
	} else {
		free(st.status);
		st.status = strdup("stopped");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&st);
		if (husk_hooks_run(cfg.hooks, "poststop", state, -1, &herr) < 0)
			log_warn("%s", herr.msg);
		husk_config_free(&cfg);
	}
	husk_state_remove(dir);
	husk_state_free(&st);
	return 0;
}
