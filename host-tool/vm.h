/* Starting QEMU for one container. */
#ifndef HUSK_VM_H
#define HUSK_VM_H

#include <stdbool.h>
#include <sys/types.h>

#include "husk-err.h"
#include "husk-facts.h" /* HUSK_AGENT_PORT */

#define HUSK_SHARE_TAG	"share"	     /* the VM's one share (share.h) */
#define HUSK_AGENT_SOCK "agent.sock" /* in the state dir: QEMU listens for us */

enum husk_accel { HUSK_ACCEL_AUTO = 0, HUSK_ACCEL_KVM, HUSK_ACCEL_TCG };

/* MiB of translated code TCG may cache (QEMU's default is 1 GiB) */
#define HUSK_VM_TCG_TB_MIB 128

/* the uid and gid QEMU runs as when it needs no privilege (virtio-fs:
 * virtiofsd, not QEMU, touches the share's files) */
#define HUSK_JAIL_UID 65534

#define HUSK_VM_MAX_NICS 8
/* microvm (acpi=off) has 8 virtio-mmio transports: the channel and the one
 * share take 2 */
#define HUSK_VM_MICROVM_TRANSPORTS 8

/* A virtio-net NIC: on a tap fd (which QEMU gets as fd 7 + its index among
 * the taps), or, with fd -1, on QEMU's user-mode network. */
struct husk_vm_nic {
	int fd;
	unsigned char mac[6];
	unsigned mtu; /* 0: QEMU's default */
};

struct husk_vm_opts {
	const char *qemu;
	const char *kernel;
	const char *initrd;
	const char *machine; /* microvm, q35 or pc */
	enum husk_accel accel;
	unsigned mem_mib;
	unsigned cpus;
	const char *share_path; /* the one share (share.h): the rootfs and bind sources */
	bool virtiofs;		/* serve it with virtiofsd instead of QEMU's 9p */
	const char *state_dir;	/* for virtiofsd's socket and log */
	const char *qemu_log;	/* QEMU's own stdout/stderr */
	bool debug;		/* kernel messages on the console */
	bool keep_agent_sock;	/* leave agent.sock for husk_vm_agent_connect */
	struct husk_vm_nic nics[HUSK_VM_MAX_NICS];
	size_t nnics;
	/* a snapshot (snapshot.h): guest RAM in this file, mapped shared
	 * (making the snapshot) or copy-on-write (restoring in shared mode) */
	const char *mem_file;
	bool mem_file_shared;
	bool incoming; /* restore: load the migration stream incoming_fd */
	int incoming_fd;
	bool ignore_shared; /* RAM is in mem_file, not in the stream */
	int template_mode;  /* enum husk_template (snapshot.h): restore or boot */
	bool template_set;  /* chosen by --template */
};

struct husk_vm {
	pid_t pid;
	pid_t virtiofsd; /* or 0 */
	int chan_fd;	 /* our connection to the agent's virtio-serial port */
	int console_fd;	 /* our end of the serial console */
	int qmp_fd;	 /* our end of QEMU's QMP monitor (qmp.h); CLOEXEC, -1 on failure */
	int alive[2];	 /* [1] stays open while we live: QEMU's check at its start */
	enum husk_accel accel;
};

/* Fill opts from flags already set, environment (HUSK_QEMU, HUSK_KERNEL,
 * HUSK_INITRD, HUSK_MACHINE, HUSK_ACCEL) and defaults found next to the
 * husk binary; checks every file exists. */
int husk_vm_resolve(struct husk_vm_opts *o, struct husk_err *err);
int husk_accel_parse(const char *s, enum husk_accel *a, struct husk_err *err);
int husk_share_parse(const char *s, bool *virtiofs, struct husk_err *err);
/* KVM where /dev/kvm opens, answers and the CPU has vmx or svm. */
bool husk_kvm_usable(void);
/* The fd numbers QEMU has past the taps: 0, the incoming stream. */
int husk_vm_extra_fd(const struct husk_vm_opts *o, int i);
/* How many NICs the machine of o has room for beside its other devices. */
unsigned husk_vm_max_nics(const struct husk_vm_opts *o);
/* Fork and exec QEMU; it gets SIGKILL when the calling process dies. */
int husk_vm_start(const struct husk_vm_opts *o, struct husk_vm *vm, struct husk_err *err);
/* A new connection to the agent's port (QEMU accepts it once the previous
 * one has closed); needs keep_agent_sock. */
int husk_vm_agent_connect(const char *state_dir, int *fd, struct husk_err *err);

/* A listening socket NAME in DIR (*lfd) and our connection to it (*conn).
 * Once connected the name has served its purpose, unless KEEP. */
int husk_vm_listen_and_connect(const char *dir, const char *name, int *lfd, int *conn, bool keep,
			       struct husk_err *err);

#endif
