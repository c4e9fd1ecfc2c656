#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

#define MAX_OPTS 64

static size_t count(const struct husk_opt *t)
{
	size_t n = 0;
	while (t && t[n].name)
		n++;
	return n;
}

static void print_table(FILE *f, const struct husk_opt *t)
{
	for (; t && t->name; t++) {
		char left[64];
		if (!t->help)
			continue;
		bool shrt = t->key > ' ' && t->key < 127;
		snprintf(left, sizeof left, "%s%c%s--%s%s%s", shrt ? "-" : " ", shrt ? t->key : ' ',
			 shrt ? ", " : "  ", t->name, t->arg ? " " : "", t->arg ? t->arg : "");
		fprintf(f, "  %-26s %s\n", left, t->help);
	}
}

void husk_opts_usage(FILE *f, const struct husk_verb_desc *d)
{
	if (d->usage_fn) {
		d->usage_fn(f);
		return;
	}
	if (d->usage)
		fprintf(f, "Usage: husk %s\n", d->usage);
	if (d->about)
		fprintf(f, "%s\n", d->about);
	if (d->usage && (d->opts || d->more))
		fputc('\n', f);
	print_table(f, d->opts);
	print_table(f, d->more);
	if (d->accepted)
		fprintf(f, "  %s\n", d->accepted);
}

static void add(struct option *lo, size_t *n, char *so, size_t *sn, const struct husk_opt *t)
{
	for (; t && t->name; t++) {
		lo[(*n)++] = (struct option){t->name, t->has_arg, NULL, t->key};
		if (t->key > ' ' && t->key < 127) {
			so[(*sn)++] = (char)t->key;
			if (t->has_arg == required_argument)
				so[(*sn)++] = ':';
		}
	}
}

int husk_opts_parse(int argc, char **argv, const struct husk_verb_desc *d, husk_opt_fn fn,
		    void *data, struct husk_err *err)
{
	struct option lo[MAX_OPTS + 2];
	char so[3 * MAX_OPTS + 8] = "+:h";
	size_t n = 0, sn = strlen(so);
	if (count(d->opts) + count(d->more) > MAX_OPTS)
		return husk_err_set(err, E2BIG, "internal error: too many options");
	add(lo, &n, so, &sn, d->opts);
	add(lo, &n, so, &sn, d->more);
	lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n] = (struct option){0};
	so[sn] = '\0';
	optind = 1;
	opterr = 0;
	int c, idx;
	/* argv[0] is the verb, or husk's own path for the global options */
	const char *verb = strchr(argv[0], '/') ? "husk" : argv[0];
	const char *sep = strcmp(verb, "husk") ? " " : "";
	if (!sep[0])
		verb = "";
	while ((c = getopt_long(argc, argv, so, lo, &idx)) != -1) {
		if (c == 'h') {
			husk_opts_usage(stdout, d);
			return HUSK_OPTS_HELP;
		}
		if (c == '?' || c == ':') {
			char shrt[3] = {'-', (char)optopt, 0};
			const char *bad = optopt ? shrt : argv[optind - 1];
			if (c == ':')
				return husk_err_set(err, EINVAL, "%s%s%s needs a value", verb, sep,
						    bad);
			return husk_err_set(err, EINVAL, "unknown option %s (see husk %s%s--help)",
					    bad, verb, sep);
		}
		if (!fn)
			return husk_err_set(err, EINVAL, "internal error: no handler for options");
		if (fn(c, optarg, data, err) < 0)
			return -1;
	}
	return optind;
}

int husk_opts_parse_id(int argc, char **argv, const struct husk_verb_desc *d, husk_opt_fn fn,
		       void *data, const char **id, struct husk_err *err)
{
	int i = husk_opts_parse(argc, argv, d, fn, data, err);
	if (i < 0)
		return i;
	if (i != argc - 1)
		return husk_err_set(err, EINVAL, "%s needs exactly one container ID", argv[0]);
	*id = argv[i];
	return 0;
}
