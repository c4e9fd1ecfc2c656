/* The host tool: global options and the verbs. */
#ifndef HUSK_H
#define HUSK_H

#include <stdbool.h>

#include "husk-err.h"

#define HUSK_EXIT_RUNTIME 125 /* failure before the process ran */
#define HUSK_EXIT_LOST 255    /* the VM was lost while the process ran */

struct husk_global {
	const char *root; /* state directory, default /run/husk */
	const char *log;
	bool debug;
};

extern struct husk_global husk_global;

typedef int (*husk_verb_fn)(int argc, char **argv);

int husk_cmd_run(int argc, char **argv);

/* state.c */
int husk_id_valid(const char *id, struct husk_err *err);
/* Create <root>/<id>/ exclusively; fails with "already exists". */
int husk_state_create(const char *id, char **dir, struct husk_err *err);
void husk_state_remove(const char *dir);

#endif
