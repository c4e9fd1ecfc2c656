/* Bind mounts of host paths. The mounts live in a mount namespace private
 * to the proxy and QEMU, so they vanish when both are gone, on every path,
 * SIGKILL included. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <stdlib.h>

#include <json-c/json.h>

#include "binds.h"
#include "husk-log.h"
#include "sentinel.h"

static bool has_option(struct json_object *m, const char *a, const char *b)
{
	struct json_object *opts;
	if (!json_object_object_get_ex(m, "options", &opts) ||
	    !json_object_is_type(opts, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(opts); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
		if (o && (!strcmp(o, a) || (b && !strcmp(o, b))))
			return true;
	}
	return false;
}

static bool is_bind(struct json_object *m)
{
	struct json_object *t;
	if (json_object_object_get_ex(m, "type", &t) && json_object_is_type(t, json_type_string) &&
	    !strcmp(json_object_get_string(t), "bind"))
		return true;
	return has_option(m, "bind", "rbind");
}

static bool is_rbind(struct json_object *m)
{
	return has_option(m, "rbind", NULL);
}

static int private_namespace(const char *dir, struct husk_err *err)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make a private mount namespace");
	if (mkdir(dir, 0700) < 0)
		return husk_err_sys(err, errno, "mkdir %s", dir);
	return 0;
}

void husk_binds_view_free(struct husk_sentinel_bind *view, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)view[i].source);
		free((char *)view[i].dest);
	}
	free(view);
}

static int bind_prepare(const char *id, const char *bundle, const char *dir,
			struct json_object *copy, struct husk_sentinel_bind *view, size_t *nview,
			struct husk_err *err)
{
	size_t n = json_object_array_length(copy), nbinds = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(copy, i), *src, *dst;
		if (!json_object_is_type(m, json_type_object) || !is_bind(m))
			continue;
		if (!json_object_object_get_ex(m, "source", &src) ||
		    !json_object_is_type(src, json_type_string))
			return husk_err_set(
			    err, EINVAL,
			    "config.json: mounts[%zu] is a bind mount without a source", i);
		char host[PATH_MAX], stage[PATH_MAX + 32], guest[300];
		const char *s0 = json_object_get_string(src);
		if (s0[0] == '/')
			snprintf(host, sizeof host, "%s", s0);
		else
			snprintf(host, sizeof host, "%s/%s", bundle, s0);
		struct stat st;
		if (stat(host, &st) < 0)
			return husk_err_sys(err, errno, "config.json: mounts[%zu] source %s", i,
					    host);
		if (nbinds == 0 && private_namespace(dir, err) < 0)
			return -1;
		snprintf(stage, sizeof stage, "%s/%zu", dir, nbinds);
		int r = S_ISDIR(st.st_mode) ? mkdir(stage, 0755) : mknod(stage, S_IFREG | 0644, 0);
		/* submounts of the source come along only for rbind */
		if (r < 0 ||
		    mount(host, stage, NULL, MS_BIND | (is_rbind(m) ? MS_REC : 0), NULL) < 0)
			return husk_err_sys(err, errno, "cannot share bind mount source %s", host);
		snprintf(guest, sizeof guest, "/run/husk/%s/binds/%zu", id, nbinds);
		json_object_object_add(m, "source", json_object_new_string(guest));
		if (json_object_object_get_ex(m, "destination", &dst) &&
		    json_object_is_type(dst, json_type_string)) {
			struct husk_sentinel_bind *b = &view[(*nview)++];
			b->source = strdup(stage);
			b->dest = strdup(json_object_get_string(dst));
			b->readonly = has_option(m, "ro", NULL);
			if (!b->source || !b->dest)
				return husk_err_set(err, ENOMEM, "out of memory");
		}
		nbinds++;
	}
	return (int)nbinds;
}

int husk_binds_prepare(const char *id, const char *bundle, const char *state_dir,
		       struct json_object *mounts, struct json_object **mounts_out,
		       char **binds_path, struct husk_sentinel_bind **view, size_t *nview,
		       struct husk_err *err)
{
	_cleanup_json_ struct json_object *copy = NULL;
	_cleanup_free_ char *dir = NULL;
	*mounts_out = NULL;
	*binds_path = NULL;
	*view = NULL;
	*nview = 0;
	if (!mounts)
		return 0;
	if (json_object_deep_copy(mounts, &copy, NULL) != 0 ||
	    asprintf(&dir, "%s/binds", state_dir) < 0 ||
	    !(*view = calloc(json_object_array_length(mounts) + 1, sizeof **view)))
		return husk_err_set(err, ENOMEM, "out of memory");
	int nbinds = bind_prepare(id, bundle, dir, copy, *view, nview, err);
	if (nbinds < 0) {
		husk_binds_view_free(*view, *nview);
		*view = NULL;
		*nview = 0;
		return -1;
	}
	if (nbinds) {
		*binds_path = husk_steal(dir);
		log_debug("%d bind mount sources shared with the VM", nbinds);
	}
	*mounts_out = husk_steal(copy);
	return 0;
}

void husk_binds_unmount(const char *binds_path)
{
	char path[PATH_MAX + 32];
	for (int i = 0; binds_path; i++) {
		snprintf(path, sizeof path, "%s/%d", binds_path, i);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
			break;
	}
}
