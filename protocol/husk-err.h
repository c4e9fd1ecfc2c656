/* One error convention for all of husk: functions return a negative value on
 * failure and fill a struct husk_err (errno-style code + message a user can
 * act on). The message is what the CLI prints and what an error reply carries. */
#ifndef HUSK_ERR_H
#define HUSK_ERR_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct json_object;

struct husk_err {
	int code;
	char msg[512];
};

/* Sets err (if non-NULL) and returns -1. */
int husk_err_set(struct husk_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(code)". */
int husk_err_sys(struct husk_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Puts "where: " before err's message (err may be NULL); returns -1. */
int husk_err_prefix(struct husk_err *err, const char *where);
/* Short errno name ("ENOENT"), or "EUNKNOWN". */
const char *husk_errno_name(int code);

/* cleanup helpers */
static inline void husk_freep(void *p)
{
	free(*(void **)p);
}
/* Keeps errno, so a cleanup never changes what a failure reported. */
static inline void husk_closep(int *fd)
{
	if (*fd >= 0) {
		int e = errno;
		close(*fd);
		errno = e;
	}
}
static inline void husk_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_free_	 __attribute__((cleanup(husk_freep)))
#define _cleanup_close_	 __attribute__((cleanup(husk_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(husk_fclosep)))
#define _cleanup_json_	 __attribute__((cleanup(husk_json_putp)))
void husk_json_putp(struct json_object **o);

/* Hand ownership on: returns the value and clears the variable. */
#define husk_steal(p)                                                                              \
	({                                                                                         \
		__typeof__(p) _s = (p);                                                            \
		(p) = NULL;                                                                        \
		_s;                                                                                \
	})
#define husk_steal_fd(fd)                                                                          \
	({                                                                                         \
		int _f = (fd);                                                                     \
		(fd) = -1;                                                                         \
		_f;                                                                                \
	})

#endif
