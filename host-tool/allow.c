/* The directories annotations may take the guest kernel and initrd from:
 * the install's share/husk (or a build tree's own kernel and initrd), and
 * those the kernel_dirs lines of a root-owned /etc/husk/husk.conf add. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allow.h"
#include "husk-log.h"

static bool known(char *const *list, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], p))
			return true;
	return false;
}

static int add(char **list, size_t *n, const char *path, mode_t type)
{
	char real[PATH_MAX];
	struct stat st;
	if (!realpath(path, real) || stat(real, &st) < 0 || (st.st_mode & S_IFMT) != type)
		return -1;
	if (known(list, *n, real))
		return 0;
	if (*n >= HUSK_ALLOW_MAX) {
		log_warn("more than %d allowed kernel paths: %s left out", HUSK_ALLOW_MAX, real);
		return -1;
	}
	if (!(list[*n] = strdup(real)))
		return -1;
	(*n)++;
	return 0;
}

int husk_allow_add_dir(struct husk_allow *a, const char *dir)
{
	return add(a->dirs, &a->ndirs, dir, S_IFDIR);
}

int husk_allow_add_file(struct husk_allow *a, const char *file)
{
	return add(a->files, &a->nfiles, file, S_IFREG);
}

void husk_allow_defaults(struct husk_allow *a, const char *dir)
{
	char self[PATH_MAX], p[PATH_MAX + 32];
	if (!dir) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
		char *slash;
		if (n > 0) {
			self[n] = '\0';
			if ((slash = strrchr(self, '/'))) {
				*slash = '\0';
				dir = self;
			}
		}
	}
	if (dir) {
		snprintf(p, sizeof p, "%s/../share/husk", dir);
		husk_allow_add_dir(a, p);
	}
	husk_allow_add_dir(a, HUSK_DATADIR);
	if (!dir)
		return;
	/* a build tree: its kernel directory, and the default files as they
	 * resolve (the test build's are links to the build's own) */
	snprintf(p, sizeof p, "%s/kernel/vmlinux", dir);
	if (husk_allow_add_file(a, p) == 0) {
		snprintf(p, sizeof p, "%s/kernel", dir);
		husk_allow_add_dir(a, p);
	}
	snprintf(p, sizeof p, "%s/initrd.img", dir);
	husk_allow_add_file(a, p);
}

bool husk_allow_trusted(const struct stat *st)
{
	return st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int add_conf_dir(struct husk_allow *a, const char *d, const char *name, int lineno)
{
	char real[PATH_MAX];
	struct stat st;
	if (d[0] != '/') {
		log_warn("%s:%d: kernel_dirs entry \"%s\" is not an absolute path: left out", name,
			 lineno, d);
		return 0;
	}
	if (!realpath(d, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warn("%s:%d: kernel_dirs entry %s is not a directory: left out", name, lineno,
			 d);
		return 0;
	}
	if (!husk_allow_trusted(&st)) {
		log_warn("%s:%d: kernel_dirs entry %s is not root's or is group or world "
			 "writable: left out",
			 name, lineno, d);
		return 0;
	}
	return husk_allow_add_dir(a, real) == 0;
}

int husk_allow_parse_conf(struct husk_allow *a, const char *text, const char *name)
{
	int added = 0, lineno = 0;
	char line[4096];
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		const char *next = p + n + (p[n] == '\n');
		lineno++;
		if (n >= sizeof line) {
			/* never cut an entry short: a prefix is another directory */
			log_warn("%s:%d: line too long: left out", name, lineno);
			p = next;
			continue;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = next;
		char *hash = strchr(line, '#'), *eq;
		if (hash)
			*hash = '\0';
		if (!(eq = strchr(line, '=')))
			continue;
		*eq = '\0';
		if (strcmp(trim(line), "kernel_dirs"))
			continue; /* another reader's key */
		for (char *tok = eq + 1; tok;) {
			char *colon = strchr(tok, ':');
			if (colon)
				*colon = '\0';
			char *d = trim(tok);
			if (*d)
				added += add_conf_dir(a, d, name, lineno);
			tok = colon ? colon + 1 : NULL;
		}
	}
	return added;
}

int husk_allow_load_conf(struct husk_allow *a, const char *path, struct husk_err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash || (size_t)(slash - path) >= sizeof dir)
		return husk_err_set(err, EINVAL, "%s: not an absolute path", path);
	snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	_cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : husk_err_sys(err, errno, "%s", dir);
	if (fstat(dfd, &st) < 0)
		return husk_err_sys(err, errno, "%s", dir);
	if (!husk_allow_trusted(&st))
		return husk_err_set(err, EPERM,
				    "%s is not root's or is group or world writable: its husk.conf "
				    "is not read",
				    dir);
	_cleanup_close_ int fd = openat(dfd, slash + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : husk_err_sys(err, errno, "%s", path);
	if (fstat(fd, &st) < 0)
		return husk_err_sys(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return husk_err_set(err, EINVAL, "%s is not a regular file: not read", path);
	if (!husk_allow_trusted(&st))
		return husk_err_set(
		    err, EPERM, "%s is not root's or is group or world writable: not read", path);
	if (st.st_size > 1 << 20)
		return husk_err_set(err, EFBIG, "%s is over 1 MiB: not read", path);
	_cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
	if (!text)
		return husk_err_set(err, ENOMEM, "out of memory");
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return husk_err_sys(err, errno, "read %s", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = '\0';
	husk_allow_parse_conf(a, text, path);
	return 0;
}

const char *husk_allow_conf_path(void)
{
#ifdef HUSK_TEST_BUILD
	/* the integration tests' own husk.conf; never in the release build */
	const char *t = getenv("HUSK_TEST_CONF");
	if (t && *t)
		return t;
#endif
	return HUSK_CONF_PATH;
}

static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (!strcmp(dir, "/"))
		return path[0] == '/' && path[1];
	return !strncmp(path, dir, n) && path[n] == '/' && path[n + 1];
}

int husk_allow_check(const struct husk_allow *a, const char *annotation, const char *path,
		     char *out, size_t size, struct husk_err *err)
{
	char real[PATH_MAX], list[384] = "";
	struct stat st;
	/* one answer whether the file exists or not: no oracle for host paths */
	if (path[0] == '/' && realpath(path, real) && stat(real, &st) == 0 && S_ISREG(st.st_mode)) {
		bool ok = known(a->files, a->nfiles, real);
		for (size_t i = 0; !ok && i < a->ndirs; i++)
			ok = beneath(real, a->dirs[i]);
		if (ok && strlen(real) < size) {
			memcpy(out, real, strlen(real) + 1);
			return 0;
		}
	}
	for (size_t i = 0; i < a->ndirs + a->nfiles; i++) {
		const char *p = i < a->ndirs ? a->dirs[i] : a->files[i - a->ndirs];
		size_t len = strlen(list);
		bool listed = false; /* a file beneath a listed directory */
		for (size_t d = 0; i >= a->ndirs && !listed && d < a->ndirs; d++)
			listed = beneath(p, a->dirs[d]);
		if (listed)
			continue;
		snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", p);
	}
	return husk_err_set(err, EACCES,
			    "annotation %s: %.160s is not under an allowed directory (%s; "
			    "kernel_dirs in %s adds more)",
			    annotation, path, list[0] ? list : "none", husk_allow_conf_path());
}

void husk_allow_free(struct husk_allow *a)
{
	for (size_t i = 0; i < a->ndirs; i++)
		free(a->dirs[i]);
	for (size_t i = 0; i < a->nfiles; i++)
		free(a->files[i]);
	a->ndirs = a->nfiles = 0;
}
