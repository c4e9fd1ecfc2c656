/* The VM's size and settings from a container's config. */
#ifndef HUSK_VMCONF_H
#define HUSK_VMCONF_H

#include <stdbool.h>

#include "config.h"
#include "vm.h"

/* Flags (already in vo) first, then husk.vm.* annotations, then what
 * linux.resources asks of the container, then HUSK_SHARE; defaults are
 * husk_vm_resolve's. *share_set says whether the share mode was chosen. */
int husk_vmconf_apply(const struct husk_config *c, struct husk_vm_opts *vo, bool *share_set,
		      struct husk_err *err);

#endif
