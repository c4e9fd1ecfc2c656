/* Host paths that config.json bind-mounts into the container. */
#ifndef HUSK_BINDS_H
#define HUSK_BINDS_H

#include <stddef.h>

#include "husk-err.h"

struct json_object;
struct husk_sentinel_bind;

/* Share only what config.json names: each bind source is bind-mounted at
 * <state_dir>/binds/<n> in a mount namespace private to the calling process
 * (and its children: QEMU), and that directory is one more share. *mounts_out
 * is a copy of mounts with those sources rewritten to where the guest sees
 * them; *binds_path is the directory, or NULL when there are no binds.
 * *view lists them as the host sees them (for the sentinel), *nview long. */
int husk_binds_prepare(const char *id, const char *bundle, const char *state_dir,
		       struct json_object *mounts, struct json_object **mounts_out,
		       char **binds_path, struct husk_sentinel_bind **view, size_t *nview,
		       struct husk_err *err);
void husk_binds_view_free(struct husk_sentinel_bind *view, size_t n);
/* Detach what prepare mounted (they also vanish with the namespace). */
void husk_binds_unmount(const char *binds_path);

#endif
