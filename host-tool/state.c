/* Per-container state directories under --root. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "husk.h"

int husk_id_valid(const char *id, struct husk_err *err)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || id[0] == '.' || id[0] == '-')
		return husk_err_set(err, EINVAL, "invalid container id \"%s\"", id);
	for (const char *p = id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *p))
			return husk_err_set(err, EINVAL,
					    "invalid container id \"%s\": use letters, digits, _ . -", id);
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int husk_state_create(const char *id, char **dir, struct husk_err *err)
{
	if (husk_id_valid(id, err) < 0)
		return -1;
	if (mkdir_p(husk_global.root, 0711) < 0)
		return husk_err_sys(err, errno, "cannot create state directory %s", husk_global.root);
	if (asprintf(dir, "%s/%s", husk_global.root, id) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (mkdir(*dir, 0700) < 0) {
		int e = errno;
		free(*dir);
		*dir = NULL;
		if (e == EEXIST)
			return husk_err_set(err, EEXIST, "container %s already exists", id);
		return husk_err_sys(err, e, "cannot create state for %s", id);
	}
	return 0;
}

void husk_state_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	rmdir(dir);
}
