/* husk run [-d] [options] ID: create and start; in the foreground, relay
 * the process's stdio and signals and exit with its status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "husk.h"
#include "proxy.h"
#include "state.h"

int husk_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    HUSK_CREATE_LONGOPTS, {"detach", no_argument, NULL, 'd'}, {0}};
	_cleanup_proxy_opts_ struct proxy_opts o = {
	    .notify_fd = -1, .boot_timeout_s = 30, .autostart = true};
	struct create_args a = {.bundle = "."};
	struct husk_err err = {0};
	bool detach = false;
	int c;
	if (husk_create_env(&o, &err) < 0)
		return husk_fail(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:dh", opts, NULL)) != -1) {
		if (c == 'd') {
			detach = true;
			continue;
		}
		if (c == 'h') {
			husk_create_usage(stdout, "run",
					  "Run the bundle's process in a new VM (-d: and return).");
			return 0;
		}
		int r = husk_create_opt(c, optarg, &a, &o, &err);
		if (r < 0)
			return husk_fail(&err);
		if (r == 0) {
			husk_create_usage(stderr, "run", "");
			return HUSK_EXIT_RUNTIME;
		}
	}
	if (optind != argc - 1) {
		husk_err_set(&err, EINVAL,
			     "run needs exactly one container ID (see husk run --help)");
		return husk_fail(&err);
	}
	if (husk_proxy_prepare(&o, a.bundle, argv[optind], &err) < 0) {
		husk_fail(&err);
		/* a shell's codes for a program that is missing or not executable */
		return o.exec_status ? o.exec_status : HUSK_EXIT_RUNTIME;
	}
	if (detach)
		return husk_create_detached(&o, &a, &err) < 0 ? husk_fail(&err) : 0;
	if (husk_state_create(o.id, &o.state_dir, &err) < 0)
		return husk_fail(&err);
	if (a.pid_file && husk_write_pid_file(a.pid_file, getpid(), &err) < 0) {
		husk_state_remove(o.state_dir);
		return husk_fail(&err);
	}
	o.foreground = true;
	o.console_socket = a.console_socket;
	husk_proxy_main(&o);
}
