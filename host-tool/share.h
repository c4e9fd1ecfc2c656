/* The VM's one share (docs/security.md, "The VMM's jail" and "Read-only
 * shares"): <state>/share, made in a mount namespace private to the proxy
 * and what it starts (virtiofsd, QEMU, the sentinel), so its mounts vanish
 * with them on every path, SIGKILL included. Each container has a part
 * <id>/ in it: <id>/rootfs, a bind of the bundle's rootfs (read-only with
 * every mount under it for a read-only root), and the bind sources binds.c
 * stages in <id>/binds and <id>/binds-ro. The VM gets one filesystem device
 * for all of it: virtiofsd's, or QEMU's 9p export. What is read-only is
 * read-only by the host kernel's mount flags, which neither QEMU nor
 * virtiofsd can change (neither keeps CAP_SYS_ADMIN). */
#ifndef HUSK_SHARE_H
#define HUSK_SHARE_H

#include <stdbool.h>

#include "husk-err.h"

#define HUSK_SHARE_DIR	    "share"    /* <state>/share */
#define HUSK_SHARE_ROOTFS   "rootfs"   /* <id>/rootfs */
#define HUSK_SHARE_BINDS    "binds"    /* <id>/binds/<n>: writable bind sources */
#define HUSK_SHARE_BINDS_RO "binds-ro" /* <id>/binds-ro/<n>: read-only ones */
#define HUSK_SHARE_STAGE    "part"     /* <state>/part: a pod container's, staged */

struct husk_share {
	char *dir;    /* <state>/share: what the VM's filesystem device serves */
	char *part;   /* <dir>/<id>: the container's part, on the host */
	char *rootfs; /* "<id>/rootfs": its rootfs as a path inside the share */
	bool mounted; /* dir is a mount of ours */
};

/* A mount namespace of the caller's own, every mount in it private; the
 * share's top a mount of its own, shared, so that what is mounted under it
 * later reaches virtiofsd's and QEMU's copies (their namespaces are made
 * slaves of ours); the container's part with its rootfs in it. */
int husk_share_prepare(struct husk_share *s, const char *state_dir, const char *id,
		       const char *rootfs, bool readonly, struct husk_err *err);
/* Once the parts are in place (the binds staged too): the share's own
 * directories (its top, <id>, <id>/binds, ...) read-only, so the guest can
 * put nothing in the host's state directory; the mounts under them keep
 * their own flags. A later part would be made through the directory beneath
 * the top's mount (an fd opened before it), not through the share. */
int husk_share_seal(const struct husk_share *s, struct husk_err *err);
/* A pod's container (pod.h): its part made as husk_share_prepare makes one,
 * in the sandbox proxy's mount namespace (which the caller has joined) but
 * under a staging top of its own, <state>/part, a private mount; sealed
 * (husk_share_seal) before it is grafted. */
int husk_share_stage(struct husk_share *s, const char *state_dir, const char *id,
		     const char *rootfs, bool readonly, struct husk_err *err);
/* The staged part, sealed, bound with every mount in it at
 * <sandbox_state>/share/<id>: the sandbox's VM sees it appear. Made beneath
 * the share's read-only top, so the guest never sees a part half made; it
 * must arrive read-only. */
int husk_share_graft(const struct husk_share *stage, const char *sandbox_state, const char *id,
		     struct husk_err *err);
/* Undo a graft (nothing if there is none). */
void husk_share_ungraft(const char *sandbox_state, const char *id);
/* A pod's container's sources live in the caller's mount namespace, where
 * the caller (containerd, kubelet) mounted them, maybe after the sandbox's
 * proxy made its own namespace: take each as a detached tree (open_tree's
 * clone) before joining that namespace. husk_share_bind then attaches the
 * tree taken for src, or binds src by path when none was taken;
 * husk_share_stat stats the tree (or the path). -1 with errno. */
int husk_share_take_tree(const char *path, bool recursive, struct husk_err *err);
int husk_share_bind(const char *src, const char *dst, bool recursive);
struct stat;
int husk_share_stat(const char *path, struct stat *sb);
/* Detach the share with every mount under it (they also go with the
 * namespace); nothing when it was never made. */
void husk_share_unmount(const struct husk_share *s);
void husk_share_free(struct husk_share *s);
/* path (a mount) read-only, with every mount under it when recursive
 * (mount_setattr; before Linux 5.12 the top one only). -1 with errno. */
int husk_share_read_only(const char *path, bool recursive);

#endif
