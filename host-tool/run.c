/* husk run [-d] [options] ID: create and start; in the foreground, relay
 * the process's stdio and signals and exit with its status. */
#include <errno.h>

#include "husk.h"
#include "launch.h"
#include "verbs.h"

static int run_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct husk_launch *l = data;
	if (key != 'd')
		return husk_launch_opt(key, arg, data, err);
	l->detach = true;
	return 0;
}

int husk_cmd_run(int argc, char **argv)
{
	static const struct husk_opt run_opts[] = {
	    {"detach", no_argument, 'd', NULL, "return once the process runs"},
	    HUSK_OPT_END,
	};
	static const struct husk_verb_desc d = {
	    .usage = "run [options] ID",
	    .about = "Run the bundle's process in a new VM (-d: and return).",
	    .opts = run_opts,
	    .more = husk_launch_opts,
	    .accepted = HUSK_LAUNCH_ACCEPTED,
	};
	_cleanup_launch_ struct husk_launch l;
	struct husk_err err = {0};
	if (husk_launch_init(&l, &err) < 0)
		return husk_fail(&err);
	l.o.autostart = true;
	int i = husk_opts_parse(argc, argv, &d, run_opt, &l, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc - 1)
		i = husk_err_set(&err, EINVAL,
				 "run needs exactly one container ID (see husk run --help)");
	if (i < 0)
		return husk_fail(&err);
	if (husk_launch_prepare(&l, argv[i], &err) < 0) {
		husk_fail(&err);
		/* a shell's codes for a program that is missing or not executable */
		return l.o.exec_status ? l.o.exec_status : HUSK_EXIT_RUNTIME;
	}
	if (l.detach)
		return husk_launch_detached(&l, &err) < 0 ? husk_fail(&err) : 0;
	husk_launch_foreground(&l);
}
