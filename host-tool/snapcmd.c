/* husk snapshot [options]: make now the snapshot that VMs of these settings
 * start from (snapshot.h), instead of on first use; print its directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "husk.h"
#include "launch.h"
#include "snapshot.h"
#include "util.h"
#include "verbs.h"

enum { OPT_NETWORK = 2000, OPT_NIC_MTU };

static const struct husk_opt snapshot_opts[] = {
    {"kernel", required_argument, 'K', "FILE", "guest kernel (env HUSK_KERNEL)"},
    {"initrd", required_argument, 'I', "FILE", "initrd with husk-agent (env HUSK_INITRD)"},
    {"qemu", required_argument, 'Q', "FILE", "QEMU binary (env HUSK_QEMU)"},
    {"machine", required_argument, 'M', "TYPE", "microvm (default), q35 or pc (env HUSK_MACHINE)"},
    {"accel", required_argument, 'A', "A", "kvm, tcg or auto (env HUSK_ACCEL; default auto)"},
    {"memory", required_argument, 'm', "MIB", "guest memory (default 256)"},
    {"cpus", required_argument, 'c', "N", "guest vCPUs (default 1)"},
    {"boot-timeout", required_argument, 'T', "S", "how long the guest may take to boot"},
    {"network", required_argument, OPT_NETWORK, "NET",
     "the VM's NICs: user (QEMU's user network, as a container without a network namespace "
     "has; the default), none, or N (taps, as one in a namespace with N interfaces has)"},
    {"nic-mtu", required_argument, OPT_NIC_MTU, "MTU", "the taps' MTU (default 1500)"},
    HUSK_OPT_END,
};

struct snap_args {
	struct husk_launch l;
	const char *network;
	unsigned mtu;
};

static int snapshot_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct snap_args *a = data;
	if (key == OPT_NETWORK) {
		a->network = arg;
		return 0;
	}
	if (key == OPT_NIC_MTU)
		return husk_parse_uint(arg, 68, 65535, "--nic-mtu", &a->mtu, err);
	return husk_launch_opt(key, arg, &a->l, err);
}

int husk_cmd_snapshot(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "snapshot [options]",
	    .about = "Make the snapshot VMs of these settings start from (else made on first use); "
		     "print its directory. The share is 9p: virtio-fs VMs always boot.",
	    .opts = snapshot_opts,
	};
	static struct snap_args a = {.mtu = 1500, .network = "user"};
	unsigned taps = 0;
	struct husk_err err = {0};
	_cleanup_free_ char *dir = NULL;
	if (husk_launch_init(&a.l, &err) < 0)
		return husk_fail(&err);
	int i = husk_opts_parse(argc, argv, &d, snapshot_opt, &a, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc)
		i = husk_err_set(&err, EINVAL, "snapshot takes no arguments");
	struct husk_vm_opts *vo = &a.l.o.vo;
	vo->virtiofs = false;
	vo->debug = husk_global.debug;
	if (i >= 0 && strcmp(a.network, "user") && strcmp(a.network, "none") &&
	    husk_parse_uint(a.network, 1, HUSK_VM_MAX_NICS, "--network", &taps, &err) < 0)
		i = -1;
	if (i < 0 || husk_state_root_check(&err) < 0 || husk_vm_resolve(vo, &err) < 0)
		return husk_fail(&err);
	/* the NICs as netconf.c gives them: what the snapshot's key holds */
	if (!strcmp(a.network, "user"))
		vo->nics[vo->nnics++] = (struct husk_vm_nic){.fd = -1};
	for (unsigned n = 0; n < taps; n++)
		vo->nics[vo->nnics++] = (struct husk_vm_nic){.fd = 0, .mtu = a.mtu};
	if (husk_snapshot_make(vo, a.l.o.boot_timeout_s, &dir, &err) < 0)
		return husk_fail(&err);
	printf("%s\n", dir);
	husk_launch_free(&a.l);
	return 0;
}
