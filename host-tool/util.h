/* Small helpers the verbs share. */
#ifndef HUSK_UTIL_H
#define HUSK_UTIL_H

#include <sys/types.h>

#include "husk-err.h"

/* A whole number in [lo, hi]; err names what (a flag or variable). */
int husk_parse_uint(const char *s, unsigned lo, unsigned hi, const char *what, unsigned *out,
		    struct husk_err *err);
/* A signal by number, by name, with or without SIG, or RTMIN+n/RTMAX-n. */
int husk_parse_signal(const char *s, int *sig, struct husk_err *err);
/* Write a pid file atomically, as runc does. */
int husk_write_pid_file(const char *path, pid_t pid, struct husk_err *err);
/* Close every fd above stderr but the n in keep (-1 entries are skipped). */
void husk_close_fds_except(const int *keep, int n);
/* Point stdin, stdout and stderr at /dev/null; -1 with errno. */
int husk_stdio_to_null(void);

#endif
