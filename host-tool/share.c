/* The VM's one share (share.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

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

int husk_share_prepare(struct husk_share *s, const char *state_dir, const char *id,
		       const char *rootfs, bool readonly, struct husk_err *err)
{
	_cleanup_free_ char *root = NULL;
	*s = (struct husk_share){0};
	if (asprintf(&s->dir, "%s/" HUSK_SHARE_DIR, state_dir) < 0 ||
	    asprintf(&s->part, "%s/%s", s->dir, id) < 0 ||
	    asprintf(&s->rootfs, "%s/" HUSK_SHARE_ROOTFS, id) < 0 ||
	    asprintf(&root, "%s/" HUSK_SHARE_ROOTFS, s->part) < 0) {
		husk_share_free(s);
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	/* the mounts below exist only here: nobody else sees them */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make a private mount namespace");
	if (mkdir(s->dir, 0700) < 0)
		return husk_err_sys(err, errno, "mkdir %s", s->dir);
	if (mount(s->dir, s->dir, "none", MS_BIND, NULL) < 0 ||
	    mount(NULL, s->dir, "none", MS_SHARED, NULL) < 0)
		return husk_err_sys(err, errno, "cannot make %s a shared mount", s->dir);
	s->mounted = true;
	if (mkdir(s->part, 0755) < 0 || mkdir(root, 0755) < 0)
		return husk_err_sys(err, errno, "mkdir %s", root);
	/* the rootfs with what is mounted under it, as the guest must see it */
	if (mount(rootfs, root, "none", MS_BIND | MS_REC, NULL) < 0)
		return husk_err_sys(err, errno, "cannot share the rootfs %s", rootfs);
	if (readonly && husk_share_read_only(root, true) < 0)
		return husk_err_sys(err, errno, "cannot make the shared rootfs read-only");
	log_debug("sharing %s as %s%s", rootfs, root, readonly ? ", read-only" : "");
	return 0;
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
