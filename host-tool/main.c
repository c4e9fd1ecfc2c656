/* husk: run OCI containers in lightweight VMs. The command line is runc's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "husk.h"
#include "state.h"

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

int husk_fail(const struct husk_err *err)
{
	fprintf(stderr, "husk: %s\n", err->msg);
	if (log_file)
		log_error("%s", err->msg);
	return HUSK_EXIT_RUNTIME;
}

static const struct {
	const char *name;
	husk_verb_fn fn;
	const char *help;
} verbs[] = {
    {"create", husk_cmd_create, "boot a VM and create a container in it"},
    {"start", husk_cmd_start, "start the process of a created container"},
    {"run", husk_cmd_run, "create and start a container (and wait, without -d)"},
    {"exec", husk_cmd_exec, "run another process in a running container"},
    {"state", husk_cmd_state, "print a container's state as OCI JSON"},
    {"kill", husk_cmd_kill, "send a signal to a container's process"},
    {"delete", husk_cmd_delete, "remove a stopped (or, with --force, any) container"},
    {"list", husk_cmd_list, "list containers"},
    {"ps", husk_cmd_ps, "list a container's processes (guest PIDs)"},
    {"spec", husk_cmd_spec, "write a default config.json"},
    {"features", husk_cmd_features, "print what this runtime supports, as JSON"},
    {"ping", husk_cmd_ping, "time one round trip to a container's agent (microseconds)"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: husk [global options] COMMAND [options] ...\n\n"
		   "husk runs OCI containers in lightweight virtual machines.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR             state directory (default /run/husk; "
		   "$XDG_RUNTIME_DIR/husk if not root)\n"
		   "  --log FILE             write the runtime's log there\n"
		   "  --log-format FMT       text or json\n"
		   "  --debug                log more, and show the guest console on stderr\n"
		   "  --systemd-cgroup       accepted; cgroups are the guest's own\n"
		   "  --rootless VALUE       accepted; the VM is the isolation boundary\n"
		   "  -v, --version          print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"log", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"debug", no_argument, NULL, 'd'},
	    {"systemd-cgroup", no_argument, NULL, 's'},
	    {"rootless", required_argument, NULL, 'R'},
	    {"criu", required_argument, NULL, 'c'},
	    {"version", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static char user_root[4096];
	int c;
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
	while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
		switch (c) {
		case 'r': husk_global.root = optarg; break;
		case 'l':
			husk_global.log = optarg;
			log_file = fopen(optarg, "ae");
			if (!log_file) {
				fprintf(stderr, "husk: cannot open log file %s: %m\n", optarg);
				return HUSK_EXIT_RUNTIME;
			}
			break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "husk: unknown log format \"%s\" (text or json)\n",
					optarg);
				return HUSK_EXIT_RUNTIME;
			}
			husk_global.log_json = !strcmp(optarg, "json");
			break;
		case 'd':
			husk_global.debug = true;
			husk_log_max = HUSK_LOG_DEBUG;
			break;
		case 's': husk_global.systemd_cgroup = true; break;
		case 'R': husk_global.rootless = strcmp(optarg, "false") != 0; break;
		case 'c': break;
		case 'v':
			printf("husk version %s\ncommit: none\nspec: 1.0.2\n", HUSK_VERSION);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HUSK_EXIT_RUNTIME;
		}
	}
	if (husk_global.systemd_cgroup)
		log_info("--systemd-cgroup: cgroups live in the guest; the host side needs none");
	if (husk_global.rootless)
		log_info("--rootless: husk isolates with a VM; no host user namespace is made");
	if (optind >= argc) {
		usage(stderr);
		return HUSK_EXIT_RUNTIME;
	}
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (!strcmp(verbs[i].name, argv[optind]))
			return verbs[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "husk: unknown command \"%s\" (see husk --help)\n", argv[optind]);
	return HUSK_EXIT_RUNTIME;
}
