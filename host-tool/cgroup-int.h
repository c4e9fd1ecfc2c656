/* What cgroup.c and cgroup-limits.c share, and no one else. */
#ifndef HUSK_CGROUP_INT_H
#define HUSK_CGROUP_INT_H

#include <stddef.h>

#include "cgroup.h"

#include <stdbool.h>

extern const char *const husk_cgroup_ctl_name[HUSK_CG_NCTL];
/* file's first size-1 bytes, NUL-terminated: 0, or -errno. */
int husk_cgroup_read(const char *dir, const char *file, char *buf, size_t size);
/* val into dir/file (cgroup files exist from mkdir on: nothing is made). */
int husk_cgroup_write(const char *dir, const char *file, const char *val, struct husk_err *err);

/* whether controller i's directory is the first of its kind (v1 mounts
 * some controllers together: each directory is acted on once) */
bool husk_cgroup_first_dir(const struct husk_cgroup *cg, int i);

#endif
