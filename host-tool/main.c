/* husk: run OCI containers in lightweight VMs. The command line is runc's. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "husk.h"
#include "opts.h"
#include "state.h"
#include "verbs.h"

struct husk_global husk_global = {.root = "/run/husk"};

static FILE *log_file;

/* Text lines, or JSON lines {"level","msg","time"} as runc writes them:
 * containerd reports the last error-level msg of this file. */
static void log_sink(enum husk_log_level level, const char *msg)
{
	FILE *f = log_file ? log_file : stderr;
	char now[64];
	if (!log_file && level == HUSK_LOG_ERROR)
		return; /* errors reach stderr through husk_fail() */
	if (husk_global.log_json && log_file) {
		husk_now_rfc3339(now, sizeof now);
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "level",
				       json_object_new_string(level == HUSK_LOG_WARN
								  ? "warning"
								  : husk_log_level_name(level)));
		json_object_object_add(o, "msg", json_object_new_string(msg));
		json_object_object_add(o, "time", json_object_new_string(now));
		fprintf(f, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		fprintf(f, "husk[%d]: %s: %s\n", (int)getpid(), husk_log_level_name(level), msg);
	}
	fflush(f);
}

void husk_log_to_state(const char *state_dir)
{
	char *path;
	if (log_file || asprintf(&path, "%s/husk.log", state_dir) < 0)
		return;
	log_file = fopen(path, "ae");
	free(path);
}

int husk_log_fd(void)
{
	return log_file ? fileno(log_file) : -1;
}

int husk_fail(const struct husk_err *err)
{
	fprintf(stderr, "husk: %s\n", err->msg);
	if (log_file)
		log_error("%s", err->msg);
	return HUSK_EXIT_RUNTIME;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
    {"create", husk_cmd_create, "boot a VM and create a container in it"},
    {"start", husk_cmd_start, "start the process of a created container"},
    {"run", husk_cmd_run, "create and start a container (and wait, without -d)"},
    {"exec", husk_cmd_exec, "run another process in a running container"},
    {"state", husk_cmd_state, "print a container's state as OCI JSON"},
    {"kill", husk_cmd_kill, "send a signal to a container's process"},
    {"delete", husk_cmd_delete, "remove a stopped (or, with --force, any) container"},
    {"pause", husk_cmd_pause, "pause a container's VM (every vCPU stops)"},
    {"resume", husk_cmd_resume, "resume a paused container's VM"},
    {"update", husk_cmd_update, "change a running container's resource limits"},
    {"list", husk_cmd_list, "list containers"},
    {"ps", husk_cmd_ps, "list a container's processes (guest PIDs)"},
    {"events", husk_cmd_events, "print a container's resource usage (its VM's), as JSON"},
    {"spec", husk_cmd_spec, "write a default config.json"},
    {"snapshot", husk_cmd_snapshot, "make the snapshot VMs start from, ahead of first use"},
    {"features", husk_cmd_features, "print what this runtime supports, as JSON"},
    {"ping", husk_cmd_ping, "time one round trip to a container's agent (microseconds)"},
};

static const struct husk_opt global_opts[] = {
    {"root", required_argument, 'r', "DIR",
     "state directory (default /run/husk; $XDG_RUNTIME_DIR/husk if not root)"},
    {"log", required_argument, 'l', "FILE", "write the runtime's log there"},
    {"log-format", required_argument, 'f', "FMT", "text or json"},
    {"debug", no_argument, 'd', NULL, "log more, and show the guest console on stderr"},
    {"systemd-cgroup", no_argument, 's', NULL, "accepted; cgroups are the guest's own"},
    {"rootless", required_argument, 'R', "VALUE", "accepted; the VM is the isolation boundary"},
    {"criu", required_argument, 'c', "PATH", NULL},
    {"version", no_argument, 'v', NULL, "print the version"},
    HUSK_OPT_END,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: husk [global options] COMMAND [options] ...\n\n"
		   "husk runs OCI containers in lightweight virtual machines.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nGlobal options:\n");
	husk_opts_usage(f, &(struct husk_verb_desc){.opts = global_opts});
}

#define VERSION_PRINTED 1

static int global_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	switch (key) {
	case 'r':
		/* absolute, as runc makes it: QEMU and the proxy run elsewhere */
		if (arg[0] != '/') {
			static char abs_root[PATH_MAX];
			char cwd[PATH_MAX];
			if (!getcwd(cwd, sizeof cwd) ||
			    (size_t)snprintf(abs_root, sizeof abs_root, "%s/%s", cwd, arg) >=
				sizeof abs_root)
				return husk_err_set(err, ENAMETOOLONG, "--root %s: path too long",
						    arg);
			arg = abs_root;
		}
		husk_global.root = arg;
		return 0;
	case 'l':
		husk_global.log = arg;
		if (!(log_file = fopen(arg, "ae")))
			return husk_err_sys(err, errno, "cannot open log file %s", arg);
		return 0;
	case 'f':
		if (strcmp(arg, "json") && strcmp(arg, "text"))
			return husk_err_set(err, EINVAL, "unknown log format \"%s\" (text or json)",
					    arg);
		husk_global.log_json = !strcmp(arg, "json");
		return 0;
	case 'd':
		husk_global.debug = true;
		husk_log_max = HUSK_LOG_DEBUG;
		return 0;
	case 's': husk_global.systemd_cgroup = true; return 0;
	case 'R': husk_global.rootless = strcmp(arg, "false") != 0; return 0;
	case 'v':
		printf("husk version %s\ncommit: none\nspec: 1.0.2\n", HUSK_VERSION);
		*(int *)data = VERSION_PRINTED;
		return -1;
	default: return 0; /* --criu: accepted */
	}
}

int main(int argc, char **argv)
{
	static char user_root[4096];
	struct husk_err err = {0};
	int printed = 0;
	husk_log_set_sink(log_sink);
	if (geteuid() != 0) {
		/* as runc does for rootless use: a per-user runtime directory */
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0])
			snprintf(user_root, sizeof user_root, "%s/husk", xdg);
		else
			snprintf(user_root, sizeof user_root, "/tmp/husk-%u", (unsigned)geteuid());
		husk_global.root = user_root;
	}
	/* the global options: husk's own usage on --help, not a verb's */
	static const struct husk_verb_desc d = {.opts = global_opts, .usage_fn = usage};
	int i = husk_opts_parse(argc, argv, &d, global_opt, &printed, &err);
	if (printed == VERSION_PRINTED)
		return 0;
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i < 0)
		return husk_fail(&err);
	if (husk_global.systemd_cgroup)
		log_info("--systemd-cgroup: cgroups live in the guest; the host side needs none");
	if (husk_global.rootless)
		log_info("--rootless: husk isolates with a VM; no host user namespace is made");
	if (i >= argc) {
		usage(stderr);
		return HUSK_EXIT_RUNTIME;
	}
	for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
		if (!strcmp(verbs[v].name, argv[i]))
			return verbs[v].fn(argc - i, argv + i);
	fprintf(stderr, "husk: unknown command \"%s\" (see husk --help)\n", argv[i]);
	return HUSK_EXIT_RUNTIME;
}
