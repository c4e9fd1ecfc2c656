/* Facts kept once for host and agent (husk-facts.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "husk-facts.h"

#define ID_MAX 128

int husk_id_check(const char *id, struct husk_err *err)
{
	size_t n = strlen(id);
	if (n == 0 || n > ID_MAX || id[0] == '.' || id[0] == '-')
		return husk_err_set(err, EINVAL, "invalid container id \"%s\"", id);
	if (strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return husk_err_set(err, EINVAL,
				    "invalid container id \"%s\": use letters, digits, _ . -", id);
	return 0;
}

int husk_share_path_check(const char *path, const char *what, struct husk_err *err)
{
	for (const char *c = path; *path;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return husk_err_set(
			    err, EINVAL,
			    "%s \"%s\" must be a relative path with no empty, \".\" "
			    "or \"..\" component",
			    what, path);
		if (!c[n])
			break;
		c += n + 1;
	}
	return 0;
}

const char *husk_path_of_env(char *const *env)
{
	for (; env && *env; env++)
		if (strncmp(*env, "PATH=", 5) == 0)
			return *env + 5;
	return HUSK_DEFAULT_PATH;
}

bool husk_path_next(const char **path, const char *prog, char *buf, size_t size)
{
	while (**path) {
		const char *dir = *path;
		size_t n = strcspn(dir, ":");
		*path += n + (dir[n] == ':');
		if (!n) {
			dir = ".";
			n = 1;
		}
		if (n + strlen(prog) + 2 <= size) {
			snprintf(buf, size, "%.*s/%s", (int)n, dir, prog);
			return true;
		}
	}
	return false;
}

int husk_exec_status(int e)
{
	return e == EACCES || e == ENOEXEC || e == EISDIR ? 126 : 127;
}

bool husk_signal_forwarded(int sig)
{
	static const int kept[] = {SIGKILL, SIGSTOP, SIGCHLD, SIGPIPE, SIGSEGV, SIGBUS,	 SIGFPE,
				   SIGILL,  SIGTRAP, SIGSYS,  SIGABRT, SIGTTIN, SIGTTOU, SIGTSTP};
	if (sig < 1 || sig >= 32)
		return false;
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		if (kept[i] == sig)
			return false;
	return true;
}
