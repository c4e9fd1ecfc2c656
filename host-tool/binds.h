/* Host paths that config.json bind-mounts into the container. */
#ifndef HUSK_BINDS_H
#define HUSK_BINDS_H

#include <stdbool.h>
#include <stddef.h>

#include "husk-err.h"

struct json_object;
struct husk_sentinel_bind;

/* Share only what config.json names: each bind source is bind-mounted at
 * <state_dir>/binds/<n> in a mount namespace private to the calling process
 * (and its children: QEMU), and that directory is one more share; a
 * read-only ("ro") source goes to <state_dir>/binds-ro/<n> instead, made
 * read-only there too, a share QEMU serves read-only. *mounts_out is a copy
 * of mounts with those sources rewritten to where the guest sees them
 * (/run/husk/<id>/binds/<n>, /run/husk/<id>/binds-ro/<n>); *binds_path and
 * *binds_ro_path are the directories, or NULL when there is nothing in one.
 * *view lists them as the host sees them (for the sentinel), *nview long. */
int husk_binds_prepare(const char *id, const char *bundle, const char *state_dir,
		       struct json_object *mounts, struct json_object **mounts_out,
		       char **binds_path, char **binds_ro_path, struct husk_sentinel_bind **view,
		       size_t *nview, struct husk_err *err);
/* Whether a bind mount is read-only: the options' last word on it, as the
 * agent reads them (agent/spec.c): "ro" (or "rro") unless a later "rw"
 * undoes it. */
bool husk_bind_readonly(struct json_object *m);
void husk_binds_view_free(struct husk_sentinel_bind *view, size_t n);
/* Detach what prepare mounted in one of its directories (they also vanish
 * with the namespace); NULL does nothing. */
void husk_binds_unmount(const char *binds_path);

#endif
