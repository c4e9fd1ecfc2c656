/* The host tool's command line (main.c): global options, logging, failure. */
#ifndef HUSK_H
#define HUSK_H

#include <stdbool.h>

#include "husk-err.h"

#define HUSK_EXIT_RUNTIME 125 /* failure before the process ran */
#define HUSK_EXIT_LOST	  255 /* the VM was lost while the process ran */

struct husk_global {
	const char *root; /* state directory, default /run/husk */
	const char *log;
	bool log_json;
	bool debug;
	bool systemd_cgroup;
	bool rootless;
};

extern struct husk_global husk_global;

/* A detached proxy must not write on stderr, which is the container's:
 * without --log it logs to <state_dir>/husk.log. */
void husk_log_to_state(const char *state_dir);
/* The fd of the --log file, or -1: what a forked proxy must keep open. */
int husk_log_fd(void);
/* Print "husk: msg" on stderr and log it at error level; returns 125. */
int husk_fail(const struct husk_err *err);

#endif
