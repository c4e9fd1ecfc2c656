/* Host paths that config.json bind-mounts into the container. */
#ifndef HUSK_BINDS_H
#define HUSK_BINDS_H

#include <stdbool.h>
#include <stddef.h>

#include "husk-err.h"

struct json_object;
struct husk_sentinel_bind;

/* Share only what config.json names: each bind source is bind-mounted at
 * <part>/binds/<n>, part being the container's part of the VM's share
 * (share.h), in the caller's private mount namespace; a read-only ("ro")
 * source goes to <part>/binds-ro/<n> instead, a read-only mount (with every
 * mount under it, for rbind). *mounts_out is a copy of mounts with those
 * sources rewritten to where the guest sees them (/run/husk/<id>/binds/<n>,
 * /run/husk/<id>/binds-ro/<n>); *binds_path and *binds_ro_path are the
 * directories, or NULL when there is nothing in one. *view lists them as the
 * host sees them (for the sentinel), *nview long. */
int husk_binds_prepare(const char *id, const char *bundle, const char *part,
		       struct json_object *mounts, struct json_object **mounts_out,
		       char **binds_path, char **binds_ro_path, struct husk_sentinel_bind **view,
		       size_t *nview, struct husk_err *err);
/* Each bind source taken as a detached mount tree (husk_share_take_tree),
 * before a pod's container's proxy joins its sandbox's mount namespace. */
int husk_binds_take_trees(const char *bundle, struct json_object *mounts, struct husk_err *err);
/* Whether a bind mount is read-only: the options' last word on it, as the
 * agent reads them (agent/spec.c): "ro" (or "rro") unless a later "rw"
 * undoes it. */
bool husk_bind_readonly(struct json_object *m);
void husk_binds_view_free(struct husk_sentinel_bind *view, size_t n);

#endif
