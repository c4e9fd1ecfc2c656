/* The host tool: global options, the verbs and what they share. */
#ifndef HUSK_H
#define HUSK_H

#include <getopt.h>
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

typedef int (*husk_verb_fn)(int argc, char **argv);

/* A detached proxy must not write on stderr, which is the container's:
 * without --log it logs to <state_dir>/husk.log. */
void husk_log_to_state(const char *state_dir);
/* Print "husk: msg" on stderr and log it at error level; returns 125. */
int husk_fail(const struct husk_err *err);
/* Write a pid file atomically, as runc does. */
int husk_write_pid_file(const char *path, pid_t pid, struct husk_err *err);
/* A whole number in [lo, hi]; err names what (a flag or variable). */
int husk_parse_uint(const char *s, unsigned lo, unsigned hi, const char *what, unsigned *out,
		    struct husk_err *err);
int husk_parse_signal(const char *s, int *sig, struct husk_err *err);
const char *husk_signal_name(int sig);

int husk_cmd_create(int argc, char **argv);
int husk_cmd_start(int argc, char **argv);
int husk_cmd_state(int argc, char **argv);
int husk_cmd_kill(int argc, char **argv);
int husk_cmd_delete(int argc, char **argv);
int husk_cmd_run(int argc, char **argv);
int husk_cmd_exec(int argc, char **argv);
int husk_cmd_list(int argc, char **argv);
int husk_cmd_ps(int argc, char **argv);
int husk_cmd_spec(int argc, char **argv);
int husk_cmd_features(int argc, char **argv);
int husk_cmd_ping(int argc, char **argv);

/* Options create and run share: runc's, and the VM's. */
#define HUSK_CREATE_LONGOPTS                                                                       \
	{"bundle", required_argument, NULL, 'b'}, {"pid-file", required_argument, NULL, 'p'},      \
	    {"console-socket", required_argument, NULL, 'C'},                                      \
	    {"no-pivot", no_argument, NULL, 1001}, {"no-new-keyring", no_argument, NULL, 1002},    \
	    {"preserve-fds", required_argument, NULL, 1003},                                       \
	    {"kernel", required_argument, NULL, 'K'}, {"initrd", required_argument, NULL, 'I'},    \
	    {"qemu", required_argument, NULL, 'Q'}, {"machine", required_argument, NULL, 'M'},     \
	    {"accel", required_argument, NULL, 'A'}, {"kvm", no_argument, NULL, 1004},             \
	    {"tcg", no_argument, NULL, 1005}, {"memory", required_argument, NULL, 'm'},            \
	    {"cpus", required_argument, NULL, 'c'},                                                \
	    {"boot-timeout", required_argument, NULL, 'T'},                                        \
	    {"share", required_argument, NULL, 'S'},                                               \
	{                                                                                          \
		"help", no_argument, NULL, 'h'                                                     \
	}

struct proxy_opts;
struct create_args {
	const char *bundle;
	const char *pid_file;
	const char *console_socket;
};
/* Handle one option of HUSK_CREATE_LONGOPTS: 1 if handled, 0 if not ours,
 * -1 on a bad value. */
int husk_create_opt(int c, const char *arg, struct create_args *a, struct proxy_opts *o,
		    struct husk_err *err);
void husk_create_usage(FILE *f, const char *verb, const char *what);
/* Boot the proxy in a child and wait until it reports "created" (or
 * "running" when autostart is set); writes the pid file. */
/* Settings of create and run that come from the environment; flags
 * parsed after this override them. */
int husk_create_env(struct proxy_opts *o, struct husk_err *err);
int husk_create_detached(struct proxy_opts *o, const struct create_args *a, struct husk_err *err);

#endif
