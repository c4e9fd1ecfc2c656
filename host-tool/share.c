/* The VM's one share (share.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "husk-log.h"
#include "share.h"

int husk_share_read_only(const char *path, bool recursive)
{
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
	if (mount_setattr(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof attr) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* before Linux 5.12: the top mount only */
	return mount(NULL, path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
}

/* Mount trees taken (open_tree's detached clones) in the caller's mount
 * namespace before it joined the sandbox proxy's, by source path. */
#define MAX_TREES 130
static struct {
	char *path;
	char *at; /* where it was attached, once it was */
	int fd;
	bool recursive;
} trees[MAX_TREES];
static size_t ntrees;

int husk_share_take_tree(const char *path, bool recursive, struct husk_err *err)
{
	for (size_t i = 0; i < ntrees; i++)
		if (!strcmp(trees[i].path, path) && trees[i].recursive == recursive)
			return 0;
	if (ntrees == MAX_TREES)
		return husk_err_set(err, E2BIG, "more than %d mount sources", MAX_TREES);
	int fd = open_tree(AT_FDCWD, path,
			   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return husk_err_sys(err, errno, "cannot take the mount tree of %s", path);
	if (!(trees[ntrees].path = strdup(path))) {
		close(fd);
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	trees[ntrees].fd = fd;
	trees[ntrees++].recursive = recursive;
	return 0;
}

static int tree_of(const char *path, bool recursive)
{
	for (size_t i = 0; i < ntrees; i++)
		if (!strcmp(trees[i].path, path) && trees[i].recursive == recursive)
			return (int)i;
	return -1;
}

int husk_share_stat(const char *path, struct stat *sb)
{
	for (size_t i = 0; i < ntrees; i++)
		if (!strcmp(trees[i].path, path))
			return fstat(trees[i].fd, sb);
	return stat(path, sb);
}

int husk_share_bind(const char *src, const char *dst, bool recursive)
{
	int i = tree_of(src, recursive);
	if (i < 0)
		return mount(src, dst, "none", MS_BIND | (recursive ? MS_REC : 0), NULL);
	/* a detached tree attaches once; once attached (here), the same
	 * source again is a bind of where it went */
	if (trees[i].at)
		return mount(trees[i].at, dst, "none", MS_BIND | (recursive ? MS_REC : 0), NULL);
	if (move_mount(trees[i].fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -1;
	trees[i].at = strdup(dst);
	return trees[i].at ? 0 : -1;
}

static int share_names(struct husk_share *s, const char *dir, const char *id, struct husk_err *err)
{
	*s = (struct husk_share){0};
	if (asprintf(&s->dir, "%s", dir) < 0 || asprintf(&s->part, "%s/%s", s->dir, id) < 0 ||
	    asprintf(&s->rootfs, "%s/" HUSK_SHARE_ROOTFS, id) < 0) {
		husk_share_free(s);
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

/* The container's part, <dir>/<id>, with its rootfs bound in it. */
static int make_part(struct husk_share *s, const char *rootfs, bool readonly, struct husk_err *err)
{
	_cleanup_free_ char *root = NULL;
	if (asprintf(&root, "%s/" HUSK_SHARE_ROOTFS, s->part) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (mkdir(s->part, 0755) < 0 || mkdir(root, 0755) < 0)
		return husk_err_sys(err, errno, "mkdir %s", root);
	/* the rootfs with what is mounted under it, as the guest must see it */
	if (husk_share_bind(rootfs, root, true) < 0)
		return husk_err_sys(err, errno, "cannot share the rootfs %s", rootfs);
	if (readonly && husk_share_read_only(root, true) < 0)
		return husk_err_sys(err, errno, "cannot make the shared rootfs read-only");
	log_debug("sharing %s as %s%s", rootfs, root, readonly ? ", read-only" : "");
	return 0;
}

/* The share's top, <state_dir>/<name>, a mount of its own with the
 * propagation given (MS_SHARED: the VM's share; MS_PRIVATE: a pod
 * container's staging top), and the container's part in it. */
static int make_top(struct husk_share *s, const char *state_dir, const char *name, const char *id,
		    unsigned long propagation, const char *rootfs, bool readonly,
		    struct husk_err *err)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/%s", state_dir, name) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (share_names(s, dir, id, err) < 0)
		return -1;
	if (mkdir(s->dir, 0700) < 0)
		return husk_err_sys(err, errno, "mkdir %s", s->dir);
	if (mount(s->dir, s->dir, "none", MS_BIND, NULL) < 0 ||
	    mount(NULL, s->dir, "none", propagation, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make %s a mount of its own", s->dir);
	s->mounted = true;
	return make_part(s, rootfs, readonly, err);
}

int husk_share_prepare(struct husk_share *s, const char *state_dir, const char *id,
		       const char *rootfs, bool readonly, struct husk_err *err)
{
	/* the mounts below exist only here: nobody else sees them */
	*s = (struct husk_share){0};
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make a private mount namespace");
	return make_top(s, state_dir, HUSK_SHARE_DIR, id, MS_SHARED, rootfs, readonly, err);
}

int husk_share_stage(struct husk_share *s, const char *state_dir, const char *id,
		     const char *rootfs, bool readonly, struct husk_err *err)
{
	return make_top(s, state_dir, HUSK_SHARE_STAGE, id, MS_PRIVATE, rootfs, readonly, err);
}

/* <sandbox_state>/share/<id> made (or removed) beneath the share's
 * read-only top: through a bind of the sandbox's state directory alone,
 * which does not carry the share's mount. */
static int beneath_share(const char *sandbox_state, const char *id, bool make, struct husk_err *err)
{
	char under[] = "/tmp/husk-share-XXXXXX";
	_cleanup_free_ char *dir = NULL;
	if (!mkdtemp(under))
		return husk_err_sys(err, errno, "mkdtemp");
	int r = 0;
	if (mount(sandbox_state, under, "none", MS_BIND, NULL) < 0) {
		r = husk_err_sys(err, errno, "cannot bind %s", sandbox_state);
	} else {
		if (mount(NULL, under, "none", MS_PRIVATE, NULL) < 0 ||
		    asprintf(&dir, "%s/" HUSK_SHARE_DIR "/%s", under, id) < 0)
			r = husk_err_sys(err, errno, "cannot bind %s", sandbox_state);
		else if (make ? mkdir(dir, 0755) < 0 && errno != EEXIST
			      : rmdir(dir) < 0 && errno != ENOENT)
			r = husk_err_sys(err, errno, "%s %s/share/%s", make ? "mkdir" : "rmdir",
					 sandbox_state, id);
		umount2(under, MNT_DETACH);
	}
	rmdir(under);
	return r;
}

int husk_share_graft(const struct husk_share *stage, const char *sandbox_state, const char *id,
		     struct husk_err *err)
{
	_cleanup_free_ char *target = NULL;
	struct statvfs sv;
	if (asprintf(&target, "%s/" HUSK_SHARE_DIR "/%s", sandbox_state, id) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (beneath_share(sandbox_state, id, true, err) < 0)
		return -1;
	/* the sealed part with every mount in it; under the share's shared
	 * top, it reaches the VMM's copies of the namespace */
	if (mount(stage->part, target, "none", MS_BIND | MS_REC, NULL) < 0) {
		husk_err_sys(err, errno, "cannot put %s into the sandbox's share", stage->part);
		beneath_share(sandbox_state, id, false, NULL);
		return -1;
	}
	if (statvfs(target, &sv) < 0 || !(sv.f_flag & ST_RDONLY)) {
		husk_share_ungraft(sandbox_state, id);
		return husk_err_set(err, EPERM, "%s is not read-only in the sandbox's share",
				    stage->part);
	}
	log_debug("%s shared as %s", stage->part, target);
	return 0;
}

void husk_share_ungraft(const char *sandbox_state, const char *id)
{
	_cleanup_free_ char *target = NULL;
	if (asprintf(&target, "%s/" HUSK_SHARE_DIR "/%s", sandbox_state, id) < 0)
		return;
	if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_debug("umount %s: %m", target);
	beneath_share(sandbox_state, id, false, NULL);
}

int husk_share_seal(const struct husk_share *s, struct husk_err *err)
{
	if (mount(NULL, s->dir, "none",
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make %s read-only", s->dir);
	return 0;
}

void husk_share_unmount(const struct husk_share *s)
{
	if (s->mounted && umount2(s->dir, MNT_DETACH) < 0)
		log_debug("umount %s: %m", s->dir);
}

void husk_share_free(struct husk_share *s)
{
	free(s->dir);
	free(s->part);
	free(s->rootfs);
	*s = (struct husk_share){0};
}
