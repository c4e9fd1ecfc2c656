/* The VM's size and settings from a container's config. */
#ifndef HUSK_VMCONF_H
#define HUSK_VMCONF_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "vm.h"

/* guest kernel, agent and page cache around a container's memory limit:
 * a VM sized from linux.resources.memory.limit gets that much more */
#define HUSK_VM_HEADROOM_MIB 64
/* What the VM takes on the host beyond its RAM: QEMU's own heap, TCG's
 * translated code (bounded by HUSK_VM_TCG_TB_MIB), virtiofsd, the proxy,
 * and the host page cache of the share. Measured under TCG: 170 MiB of
 * anonymous memory beyond the guest's RAM after 400 execs and 300 MB
 * written through virtio-fs. The VM's host cgroup allows RAM plus this. */
#define HUSK_VM_HOST_OVERHEAD_MIB 256

/* linux.resources.<group>.<key> as an integer, -1 when absent */
int64_t husk_resource(struct json_object *resources, const char *group, const char *key);
/* Flags (already in vo) first, then husk.vm.* annotations, then what
 * linux.resources asks of the container, then HUSK_SHARE; defaults are
 * husk_vm_resolve's. *share_set says whether the share mode was chosen.
 * husk.vm.kernel and husk.vm.initrd must name files the allowlist allows
 * (allow.h), or this fails naming the annotation; vo then holds the path
 * as it resolved. */
int husk_vmconf_apply(const struct husk_config *c, struct husk_vm_opts *vo, bool *share_set,
		      struct husk_err *err);

#endif
