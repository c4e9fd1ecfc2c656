/* Starting a VM from a snapshot instead of a boot (docs/architecture.md,
 * "Snapshots"). A snapshot is a guest booted to its agent's greeting with
 * no container, paused and saved with QEMU's migration, under
 * <root>/.snapshots/<key>/, the key a hash of everything that went into it
 * (husk and protocol version, QEMU, kernel and initrd by identity, machine,
 * memory, vCPUs, accelerator, NICs, the kernel command line's inputs). It
 * holds:
 *   state     the whole migration stream, RAM included (private mode)
 *   mem, dev  the RAM as a file and a stream of the devices alone (shared
 *             mode: the RAM mapped copy-on-write from mem)
 *   manifest  the key, and each file's size and hash, checked before use
 * A snapshot is made on first use (or by `husk snapshot`), never after a
 * container ran in the guest. Anything that keeps it from being used
 * (virtio-fs, which QEMU cannot migrate; a missing, stale or corrupt
 * snapshot; a failure to make it) means a normal boot, said in the log:
 * never a failed container. */
#ifndef HUSK_SNAPSHOT_H
#define HUSK_SNAPSHOT_H

#include <stdbool.h>

#include "husk-err.h"
#include "vm.h"

enum husk_template {
	HUSK_TEMPLATE_PRIVATE = 0, /* default: each VM a private copy of the saved RAM */
	HUSK_TEMPLATE_SHARED,	   /* RAM mapped copy-on-write from the saved file */
	HUSK_TEMPLATE_OFF,	   /* boot */
};

int husk_template_parse(const char *s, enum husk_template *t, struct husk_err *err);
const char *husk_template_name(enum husk_template t);

/* Set vo up to restore (incoming, and mem_file in shared mode), making the
 * snapshot first if there is none: true; false to boot (the reason
 * logged). The caller closes vo->incoming_fd once QEMU has it. */
bool husk_snapshot_use(struct husk_vm_opts *vo, enum husk_template mode, unsigned timeout_s);
struct husk_qmp;
struct husk_session;
/* A restored VM made unique before anything runs in it: the host's
 * entropy and clock go first (vm.restore); the agent greets after. */
int husk_snapshot_unique(struct husk_session *s, struct husk_err *err);
/* Shared mode: QEMU waits (-incoming defer) for the capability that keeps
 * the RAM out of the stream, then the stream; both asked on its monitor. */
int husk_snapshot_incoming(struct husk_qmp *q, const struct husk_vm_opts *vo, struct husk_err *err);
/* Make the snapshot for vo now (husk snapshot): its directory in *dir. */
int husk_snapshot_make(const struct husk_vm_opts *vo, unsigned timeout_s, char **dir,
		       struct husk_err *err);
/* The 64-bit hash a manifest records of a file's bytes (unit tested). */
unsigned long long husk_snapshot_hash(const void *p, size_t n);

#endif
