/* virtiofsd for a VM's share (QEMU 7.2's C daemon, which sandboxes itself:
 * docs/security.md, "The VMM's jail"). */
#ifndef HUSK_VIRTIOFSD_H
#define HUSK_VIRTIOFSD_H

#include <sys/types.h>

#include "vm.h"

/* Start it on o->share_path: *pid, and *conn our connection to its socket,
 * which QEMU gets. */
int husk_virtiofsd_start(const struct husk_vm_opts *o, pid_t *pid, int *conn, struct husk_err *err);

#endif
