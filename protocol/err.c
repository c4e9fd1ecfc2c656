#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-err.h"
#include "husk-log.h"

__attribute__((format(printf, 4, 0))) static int err_vset(struct husk_err *err, int code, int sys,
							  const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	err->code = code ? code : EIO;
	int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	if (sys && n >= 0 && (size_t)n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(err->code));
	return -1;
}

int husk_err_set(struct husk_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int husk_err_sys(struct husk_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, code, 1, fmt, ap);
	va_end(ap);
	return -1;
}

int husk_err_prefix(struct husk_err *err, const char *where)
{
	if (err) {
		char tmp[sizeof err->msg];
		snprintf(tmp, sizeof tmp, "%s", err->msg);
		snprintf(err->msg, sizeof err->msg, "%s: %s", where, tmp);
	}
	return -1;
}

void husk_json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

const char *husk_errno_name(int code)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
	    {EPERM, "EPERM"},
	    {ENOENT, "ENOENT"},
	    {ESRCH, "ESRCH"},
	    {EINTR, "EINTR"},
	    {EIO, "EIO"},
	    {E2BIG, "E2BIG"},
	    {ENOEXEC, "ENOEXEC"},
	    {EBADF, "EBADF"},
	    {ECHILD, "ECHILD"},
	    {EAGAIN, "EAGAIN"},
	    {ENOMEM, "ENOMEM"},
	    {EACCES, "EACCES"},
	    {EFAULT, "EFAULT"},
	    {EBUSY, "EBUSY"},
	    {EEXIST, "EEXIST"},
	    {ENOTDIR, "ENOTDIR"},
	    {EISDIR, "EISDIR"},
	    {EINVAL, "EINVAL"},
	    {EMFILE, "EMFILE"},
	    {ENOSPC, "ENOSPC"},
	    {EPIPE, "EPIPE"},
	    {ERANGE, "ERANGE"},
	    {ENAMETOOLONG, "ENAMETOOLONG"},
	    {ENOSYS, "ENOSYS"},
	    {EPROTO, "EPROTO"},
	    {EBADMSG, "EBADMSG"},
	    {EMSGSIZE, "EMSGSIZE"},
	    {EOPNOTSUPP, "EOPNOTSUPP"},
	    {ETIMEDOUT, "ETIMEDOUT"},
	    {ECONNRESET, "ECONNRESET"},
	    {ELOOP, "ELOOP"},
	    {ENODEV, "ENODEV"},
	    {ENOTSUP, "ENOTSUP"},
	    {ENOTTY, "ENOTTY"},
	    {ESHUTDOWN, "ESHUTDOWN"},
	    {EOVERFLOW, "EOVERFLOW"},
	    {ENOTCONN, "ENOTCONN"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == code)
			return names[i].name;
	return "EUNKNOWN";
}

/* ---- logging ---- */

enum husk_log_level husk_log_max = HUSK_LOG_WARN;
static husk_log_sink log_sink;

void husk_log_set_sink(husk_log_sink sink)
{
	log_sink = sink;
}

const char *husk_log_level_name(enum husk_log_level level)
{
	static const char *const n[] = {"error", "warning", "info", "debug"};
	return (unsigned)level < 4 ? n[level] : "debug";
}

void husk_log_emit(enum husk_log_level level, const char *fmt, ...)
{
	char msg[4096]; /* a QEMU command line (vm.c) is one */
	va_list ap;
	int saved = errno;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (log_sink)
		log_sink(level, msg);
	else
		fprintf(stderr, "husk: %s: %s\n", husk_log_level_name(level), msg);
	errno = saved;
}
