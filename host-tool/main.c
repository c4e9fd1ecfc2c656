/* husk: run OCI containers in lightweight VMs. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "husk-log.h"
#include "husk.h"

struct husk_global husk_global = { .root = "/run/husk" };

static FILE *log_file;

static void log_sink(enum husk_log_level level, const char *msg)
{
	FILE *f = log_file ? log_file : stderr;
	fprintf(f, "husk: %s: %s\n", husk_log_level_name(level), msg);
	fflush(f);
}

static const struct {
	const char *name;
	husk_verb_fn fn;
	const char *help;
} verbs[] = {
	{ "run", husk_cmd_run, "run a bundle's process in a new VM and wait for it" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: husk [global options] COMMAND [options] ...\n\n"
		   "husk runs OCI containers in lightweight virtual machines.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nGlobal options:\n"
		   "  --root DIR   state directory (default /run/husk; $XDG_RUNTIME_DIR/husk if not root)\n"
		   "  --log FILE   write the runtime's log there\n"
		   "  --debug      log more, and show the guest console on stderr\n"
		   "  --version    print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' }, { "log", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },      { "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },       { 0 },
	};
	int c;
	static char user_root[4096];
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
			log_file = fopen(optarg, "ae");
			if (!log_file) {
				fprintf(stderr, "husk: cannot open log file %s: %m\n", optarg);
				return HUSK_EXIT_RUNTIME;
			}
			break;
		case 'd':
			husk_global.debug = true;
			husk_log_max = HUSK_LOG_DEBUG;
			break;
		case 'v': printf("husk version %s\nspec: 1.0.2\n", HUSK_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HUSK_EXIT_RUNTIME;
		}
	}
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
