/* Bind mounts of host paths, staged in the container's part of the VM's
 * share (share.h), in the proxy's private mount namespace: they vanish when
 * the proxy, QEMU and virtiofsd are gone, on every path, SIGKILL included.
 * Read-only ones are read-only mounts on the host (docs/security.md,
 * "Read-only shares"). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "share.h"

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

bool husk_bind_readonly(struct json_object *m)
{
	struct json_object *opts;
	bool ro = false;
	if (!json_object_object_get_ex(m, "options", &opts) ||
	    !json_object_is_type(opts, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(opts); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
		if (o && (!strcmp(o, "ro") || !strcmp(o, "rro")))
			ro = true;
		else if (o && !strcmp(o, "rw"))
			ro = false;
	}
	return ro;
}

void husk_binds_view_free(struct husk_sentinel_bind *view, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)view[i].source);
		free((char *)view[i].dest);
	}
	free(view);
}

/* One staging directory: [0] the writable binds, [1] the read-only ones. */
struct stage {
	char *dir;	  /* <part>/binds or <part>/binds-ro */
	const char *name; /* and where the guest mounts it: /run/husk/<id>/<name> */
	size_t n;	  /* sources staged in it */
};

static int bind_prepare(const char *id, const char *bundle, struct stage st[2],
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
		struct stat sb;
		if (husk_share_stat(host, &sb) < 0)
			return husk_err_sys(err, errno, "config.json: mounts[%zu] source %s", i,
					    host);
		bool ro = husk_bind_readonly(m);
		struct stage *s = &st[ro];
		if (s->n == 0 && mkdir(s->dir, 0700) < 0)
			return husk_err_sys(err, errno, "mkdir %s", s->dir);
		snprintf(stage, sizeof stage, "%s/%zu", s->dir, s->n);
		int r = S_ISDIR(sb.st_mode) ? mkdir(stage, 0755) : mknod(stage, S_IFREG | 0644, 0);
		/* submounts of the source come along only for rbind */
		if (r < 0 || husk_share_bind(host, stage, is_rbind(m)) < 0 ||
		    (ro && husk_share_read_only(stage, is_rbind(m)) < 0))
			return husk_err_sys(err, errno, "cannot share bind mount source %s", host);
		snprintf(guest, sizeof guest, "/run/husk/%s/%s/%zu", id, s->name, s->n);
		json_object_object_add(m, "source", json_object_new_string(guest));
		if (json_object_object_get_ex(m, "destination", &dst) &&
		    json_object_is_type(dst, json_type_string)) {
			struct husk_sentinel_bind *b = &view[(*nview)++];
			b->source = strdup(stage);
			b->dest = strdup(json_object_get_string(dst));
			b->readonly = ro;
			if (!b->source || !b->dest)
				return husk_err_set(err, ENOMEM, "out of memory");
		}
		s->n++;
		nbinds++;
	}
	return (int)nbinds;
}

/* The host path of bind mount m (absolute, or relative to the bundle). */
static int bind_source(struct json_object *m, const char *bundle, char *host, size_t size)
{
	struct json_object *src;
	if (!json_object_object_get_ex(m, "source", &src) ||
	    !json_object_is_type(src, json_type_string))
		return -1;
	const char *s0 = json_object_get_string(src);
	if (s0[0] == '/')
		snprintf(host, size, "%s", s0);
	else
		snprintf(host, size, "%s/%s", bundle, s0);
	return 0;
}

int husk_binds_take_trees(const char *bundle, struct json_object *mounts, struct husk_err *err)
{
	for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
		struct json_object *m = json_object_array_get_idx(mounts, i);
		char host[PATH_MAX];
		if (!json_object_is_type(m, json_type_object) || !is_bind(m) ||
		    bind_source(m, bundle, host, sizeof host) < 0)
			continue; /* bind_prepare says what is wrong */
		if (husk_share_take_tree(host, is_rbind(m), err) < 0)
			return husk_err_prefix(err, "config.json: mounts");
	}
	return 0;
}

int husk_binds_prepare(const char *id, const char *bundle, const char *part,
		       struct json_object *mounts, struct json_object **mounts_out,
		       char **binds_path, char **binds_ro_path, struct husk_sentinel_bind **view,
		       size_t *nview, struct husk_err *err)
{
	_cleanup_json_ struct json_object *copy = NULL;
	_cleanup_free_ char *dir = NULL, *dir_ro = NULL;
	*mounts_out = NULL;
	*binds_path = *binds_ro_path = NULL;
	*view = NULL;
	*nview = 0;
	if (!mounts)
		return 0;
	if (json_object_deep_copy(mounts, &copy, NULL) != 0 ||
	    asprintf(&dir, "%s/" HUSK_SHARE_BINDS, part) < 0 ||
	    asprintf(&dir_ro, "%s/" HUSK_SHARE_BINDS_RO, part) < 0 ||
	    !(*view = calloc(json_object_array_length(mounts) + 1, sizeof **view)))
		return husk_err_set(err, ENOMEM, "out of memory");
	struct stage st[2] = {{dir, HUSK_SHARE_BINDS, 0}, {dir_ro, HUSK_SHARE_BINDS_RO, 0}};
	int nbinds = bind_prepare(id, bundle, st, copy, *view, nview, err);
	if (nbinds < 0) {
		husk_binds_view_free(*view, *nview);
		*view = NULL;
		*nview = 0;
		return -1;
	}
	if (st[0].n)
		*binds_path = husk_steal(dir);
	if (st[1].n)
		*binds_ro_path = husk_steal(dir_ro);
	if (nbinds)
		log_debug("%zu writable and %zu read-only bind mount sources shared with the VM",
			  st[0].n, st[1].n);
	*mounts_out = husk_steal(copy);
	return 0;
}
