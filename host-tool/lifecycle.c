/* husk start, state, kill, delete: the verbs that act on an existing
 * container through its state and its proxy. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Parse options and read the state of the one container named. */
static int id_and_state(int argc, char **argv, const struct husk_verb_desc *d, bool *flag,
			struct husk_state *st, struct husk_err *err)
{
	const char *id;
	int r = husk_opts_parse_id(argc, argv, d, flag ? flag_opt : NULL, flag, &id, err);
	if (r < 0)
		return r;
	return husk_state_read(id, st, err);
}

int husk_cmd_start(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "start ID", .about = "Start the process of a created container."};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	int r = id_and_state(argc, argv, &d, NULL, &st, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	const char *status = husk_state_status(&st);
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	if (strcmp(status, "created") != 0) {
		if (!strcmp(status, "paused"))
			husk_err_set(&err, EINVAL, "cannot start a container in the paused state");
		else
			husk_err_set(&err, EINVAL, "cannot start a container that is %s", status);
		husk_state_free(&st);
		return husk_fail(&err);
	}
	husk_state_free(&st);
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
	int r = id_and_state(argc, argv, &d, NULL, &st, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
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
	int sig = SIGTERM;
	int i = husk_opts_parse(argc, argv, &d, flag_opt, &all, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc - 1 && i != argc - 2)
		i = husk_err_set(&err, EINVAL, "kill needs a container ID and at most one signal");
	if (i < 0 || (i == argc - 2 && husk_parse_signal(argv[i + 1], &sig, &err) < 0) ||
	    husk_state_read(argv[i], &st, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	pid_t pid = st.pid;
	bool same = husk_pid_alive(st.pid, st.start_time);
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	bool stopped = !strcmp(status, "stopped");
	husk_state_free(&st);
	if (stopped) {
		husk_err_set(&err, ESRCH, "container not running");
		return husk_fail(&err);
	}
	if (sig == SIGKILL && !all && same) {
		/* Neither the sentinel nor a proxy that is still creating can
		 * catch it: the container dies with either. */
		if (kill(pid, SIGKILL) < 0) {
			husk_err_sys(&err, errno, "kill %d", (int)pid);
			return husk_fail(&err);
		}
		return 0;
	}
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
	_cleanup_free_ char *dir = husk_state_dir(id);
	if (husk_state_read(id, &st, &err) < 0) {
		/* a directory left without state (a create that was killed) */
		if (force && dir && access(dir, F_OK) == 0)
			husk_state_remove(dir);
		/* --force of a container that is already gone succeeds, as
		 * runc's does: shims send it during their cleanup. */
		return force && err.code == ENOENT ? 0 : husk_fail(&err);
	}
	int lock = husk_state_lock(dir, &err);
	if (lock < 0) {
		husk_state_free(&st);
		return husk_fail(&err);
	}
	const char *status = husk_state_status(&st);
	if ((!strcmp(status, "running") || !strcmp(status, "paused")) && !force) {
		husk_err_set(&err, EBUSY,
			     "cannot delete container %s that is not stopped: %s (use --force)", st.id,
			     status);
		husk_state_free(&st);
		close(lock);
		return husk_fail(&err);
	}
	if (strcmp(status, "stopped") != 0) {
		/* the sentinel first: whoever reaps it sees SIGKILL, as with runc */
		if (husk_pid_alive(st.pid, st.start_time))
			kill(st.pid, SIGKILL);
		if (st.proxy_pid > 0 && husk_pid_alive(st.proxy_pid, st.proxy_start_time))
			kill(st.proxy_pid, SIGKILL);
		/* wait for the proxy to be gone */
		for (int i = 0; i < 2000 && husk_state_alive(&st); i++)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	/* and its VM, which follows it (PR_SET_PDEATHSIG), as long as that pid
	 * is still the same QEMU */
	for (int i = 0; i < 2000 && st.vm_start_time && husk_pid_alive(st.vm_pid, st.vm_start_time);
	     i++)
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	/* the VM's host cgroup, once everything in it is gone */
	struct husk_cgroup cg;
	if (st.cgroup && husk_cgroup_load(&cg, NULL, st.cgroup, &err) == 0) {
		husk_cgroup_destroy(&cg);
		husk_cgroup_free(&cg);
	}
	/* a proxy killed before it cleaned up left its tc filters behind */
	if (st.netns && husk_netconf_cleanup_path(st.netns, &err) < 0)
		log_warn("%s", err.msg);
	/* poststop hooks run when the container is deleted */
	struct husk_config cfg;
	struct husk_err herr;
	if (st.bundle && husk_config_load(st.bundle, &cfg, &herr) == 0) {
		free(st.status);
		st.status = strdup("stopped");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&st);
		if (husk_hooks_run(cfg.hooks, "poststop", state, -1, &herr) < 0)
			log_warn("%s", herr.msg);
		husk_config_free(&cfg);
	}
	husk_state_remove(dir);
	close(lock);
	husk_state_free(&st);
	return 0;
}
