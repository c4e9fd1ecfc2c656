/* husk start, state, kill, delete: the verbs that act on an existing
 * container through its state and its proxy. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "ctl.h"
#include "hooks.h"
#include "husk-log.h"
#include "husk.h"
#include "state.h"

/* ID as the last argument, after options handled by getopt. */
static int one_id(int argc, char **argv, const char *verb, struct husk_err *err)
{
	if (optind != argc - 1)
		return husk_err_set(err, EINVAL, "%s needs exactly one container ID", verb);
	return 0;
}

static int simple_opts(int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: husk %s\n", usage);
			exit(0);
		}
		fprintf(stderr, "Usage: husk %s\n", usage);
		exit(HUSK_EXIT_RUNTIME);
	}
	return 0;
}

int husk_cmd_start(int argc, char **argv)
{
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	simple_opts(argc, argv, "start ID");
	if (one_id(argc, argv, "start", &err) < 0 || husk_state_read(argv[optind], &st, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	if (strcmp(status, "created") != 0) {
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
	struct husk_err err = {0};
	struct husk_state st;
	simple_opts(argc, argv, "state ID");
	if (one_id(argc, argv, "state", &err) < 0 || husk_state_read(argv[optind], &st, &err) < 0)
		return husk_fail(&err);
	struct json_object *o = husk_state_to_oci(&st);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	husk_state_free(&st);
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signames[] = {
    {"HUP", SIGHUP},	   {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},	   {"ABRT", SIGABRT}, {"IOT", SIGIOT},	     {"BUS", SIGBUS},
    {"FPE", SIGFPE},	   {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},	   {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},	   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},	   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"PWR", SIGPWR},	     {"SYS", SIGSYS},
};

const char *husk_signal_name(int sig)
{
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
		if (signames[i].sig == sig)
			return signames[i].name;
	return "?";
}

int husk_parse_signal(const char *s, int *sig, struct husk_err *err)
{
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end) {
		if (n < 1 || n > 64)
			return husk_err_set(err, EINVAL, "invalid signal \"%s\"", s);
		*sig = (int)n;
		return 0;
	}
	const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++) {
		if (strcasecmp(name, signames[i].name) == 0) {
			*sig = signames[i].sig;
			return 0;
		}
	}
	if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
		long off = name[5] ? strtol(name + 5, &end, 10) : 0;
		int v = (strncasecmp(name, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX) + (int)off;
		if (!name[5] || !*end) {
			if (v < SIGRTMIN || v > SIGRTMAX)
				return husk_err_set(err, EINVAL, "invalid signal \"%s\"", s);
			*sig = v;
			return 0;
		}
	}
	return husk_err_set(err, EINVAL, "unknown signal \"%s\"", s);
}

int husk_cmd_kill(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	bool all = false;
	int c, sig = SIGTERM;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
		if (c == 'a')
			all = true;
		else {
			fprintf(c == 'h' ? stdout : stderr,
				"Usage: husk kill [--all] ID [SIGNAL]\n");
			return c == 'h' ? 0 : HUSK_EXIT_RUNTIME;
		}
	}
	if (optind != argc - 1 && optind != argc - 2) {
		husk_err_set(&err, EINVAL, "kill needs a container ID and at most one signal");
		return husk_fail(&err);
	}
	if (optind == argc - 2 && husk_parse_signal(argv[optind + 1], &sig, &err) < 0)
		return husk_fail(&err);
	if (husk_state_read(argv[optind], &st, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	pid_t pid = st.pid;
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	bool stopped = !strcmp(status, "stopped");
	husk_state_free(&st);
	if (stopped) {
		husk_err_set(&err, ESRCH, "container not running");
		return husk_fail(&err);
	}
	if (sig == SIGKILL && !all) {
		/* The proxy cannot catch it: it dies, and its VM with it. */
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
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
	struct husk_err err = {0};
	struct husk_state st;
	bool force = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
		if (c == 'f')
			force = true;
		else {
			fprintf(c == 'h' ? stdout : stderr, "Usage: husk delete [--force] ID\n");
			return c == 'h' ? 0 : HUSK_EXIT_RUNTIME;
		}
	}
	if (one_id(argc, argv, "delete", &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(argv[optind]);
	if (husk_state_read(argv[optind], &st, &err) < 0) {
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
	if (!strcmp(status, "running") && !force) {
		husk_err_set(
		    &err, EBUSY,
		    "cannot delete container %s that is not stopped: running (use --force)", st.id);
		husk_state_free(&st);
		close(lock);
		return husk_fail(&err);
	}
	if (strcmp(status, "stopped") != 0) {
		kill(st.pid, SIGKILL);
		/* wait for the proxy to be gone */
		for (int i = 0; i < 2000 && husk_state_alive(&st); i++)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	/* and its VM, which follows it (PR_SET_PDEATHSIG), as long as that pid
	 * is still the same QEMU */
	if (st.vm_pid > 0 && st.vm_start_time) {
		struct husk_state vm = {.pid = st.vm_pid, .start_time = st.vm_start_time};
		for (int i = 0; i < 2000 && husk_state_alive(&vm); i++)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	/* poststop hooks run when the container is deleted */
	struct husk_config cfg;
	struct husk_err herr;
	if (st.bundle && husk_config_load(st.bundle, &cfg, &herr) == 0) {
		free(st.status);
		st.status = strdup("stopped");
		_cleanup_json_ struct json_object *state = husk_state_to_oci(&st);
		if (husk_hooks_run(cfg.hooks, "poststop", state, &herr) < 0)
			log_warn("%s", herr.msg);
		husk_config_free(&cfg);
	}
	husk_state_remove(dir);
	close(lock);
	husk_state_free(&st);
	return 0;
}
