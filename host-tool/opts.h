/* Command-line options, declared once as tables: each verb lists its
 * options with their help, and one parser and one usage printer serve all. */
#ifndef HUSK_OPTS_H
#define HUSK_OPTS_H

#include <getopt.h>
#include <stdio.h>

#include "husk-err.h"

struct husk_opt {
	const char *name; /* long name, without -- */
	int has_arg;	  /* no_argument or required_argument */
	int key;	  /* a letter (also the short option) or a number from 1000 */
	const char *arg;  /* the argument's name in the usage */
	const char *help; /* NULL: accepted for callers, not listed */
};
#define HUSK_OPT_END                                                                               \
	{                                                                                          \
		0                                                                                  \
	}

struct husk_verb_desc {
	const char *usage;	     /* "create [options] ID" */
	const char *about;	     /* one line */
	const struct husk_opt *opts; /* may be NULL */
	const struct husk_opt *more; /* a second table (run: create's), or NULL */
	const char *accepted;	     /* listed as accepted only, or NULL */
	void (*usage_fn)(FILE *f);   /* prints the usage instead, or NULL */
};

/* Called for each option: 0 to go on, -1 with err set to stop. */
typedef int (*husk_opt_fn)(int key, const char *arg, void *data, struct husk_err *err);

#define HUSK_OPTS_HELP (-2) /* --help was printed on stdout: the verb returns 0 */

/* getopt_long over the tables (and -h/--help), stopping at the first
 * operand. Returns the index of the first operand, HUSK_OPTS_HELP, or -1
 * with err set (an unknown option, a missing or bad value). */
int husk_opts_parse(int argc, char **argv, const struct husk_verb_desc *d, husk_opt_fn fn,
		    void *data, struct husk_err *err);
/* The usage line (when d->usage is set), the about line, the options. */
void husk_opts_usage(FILE *f, const struct husk_verb_desc *d);
/* The same for a verb that takes exactly one container ID: *id is it.
 * Returns 0, HUSK_OPTS_HELP or -1. fn may be NULL when d has no options. */
int husk_opts_parse_id(int argc, char **argv, const struct husk_verb_desc *d, husk_opt_fn fn,
		       void *data, const char **id, struct husk_err *err);

#endif
