#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "netconf.h"

/* QEMU's user-mode network (slirp) puts the guest at 10.0.2.15/24 behind a
 * gateway at 10.0.2.2 (DNS at 10.0.2.3); the NIC gets QEMU's usual MAC. */
static const uint8_t user_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

int husk_netconf_resolve(const struct husk_config *c, struct husk_netconf *nc, struct husk_err *err)
{
	const char *v = husk_config_annotation(c, "husk.vm.network"), *n;
	memset(nc, 0, sizeof *nc);
	nc->host_ns = -1;
	husk_net_mirror_init(&nc->m);
	int has = husk_config_namespace(c, "network", &nc->ns_path, err);
	if (has < 0)
		return -1;
	nc->has_ns = has;
	nc->mode = nc->has_ns ? HUSK_NETMODE_MIRROR : HUSK_NETMODE_USER;
	if (v) {
		if (!strcmp(v, "mirror"))
			nc->mode = HUSK_NETMODE_MIRROR;
		else if (!strcmp(v, "user"))
			nc->mode = HUSK_NETMODE_USER;
		else if (!strcmp(v, "none"))
			nc->mode = HUSK_NETMODE_NONE;
		else
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.network must be mirror, user or none, not \"%s\"",
			    v);
		if (nc->mode == HUSK_NETMODE_MIRROR && !nc->has_ns)
			return husk_err_set(err, EINVAL,
					    "annotation husk.vm.network=mirror needs a network "
					    "namespace in linux.namespaces");
	}
	/* A namespace husk makes gets its interfaces from the caller after
	 * QEMU has started: from a prestart hook (docker), or between create
	 * and start (ctr run --cni). One NIC waits for them; the agent keeps it
	 * out of sight until then. */
	nc->placeholders = 1;
	if ((n = husk_config_annotation(c, "husk.vm.nics"))) {
		char *end;
		unsigned long k = strtoul(n, &end, 10);
		if (*end || !*n || k < 1 || k > HUSK_NET_MAX_IFACES)
			return husk_err_set(err, EINVAL,
					    "annotation husk.vm.nics must be 1 to %d, not \"%s\"",
					    HUSK_NET_MAX_IFACES, n);
		nc->placeholders = (unsigned)k;
	}
	return 0;
}

static int enter(struct husk_netconf *nc, struct husk_err *err)
{
	int saved;
	if (!nc->has_ns)
		return 0;
	nc->host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nc->host_ns < 0)
		return husk_err_sys(err, errno, "/proc/thread-self/ns/net");
	if (!nc->ns_path) {
		/* ours: the PID in state is in it, the caller's hooks fill it */
		if (unshare(CLONE_NEWNET) < 0)
			return husk_err_sys(err, errno, "cannot make a network namespace");
	} else {
		if (husk_net_enter(nc->ns_path, &saved, err) < 0)
			return -1;
		close(saved); /* the proxy and QEMU stay in it */
	}
	nc->entered = true;
	return 0;
}

static void add_nic(struct husk_vm_opts *vo, int fd, const uint8_t mac[6], uint32_t mtu)
{
	struct husk_vm_nic *n = &vo->nics[vo->nnics++];
	n->fd = fd;
	memcpy(n->mac, mac, 6);
	n->mtu = mtu;
}

int husk_netconf_setup(struct husk_netconf *nc, struct husk_vm_opts *vo, unsigned max_nics,
		       struct husk_err *err)
{
	vo->nnics = 0;
	if (max_nics > HUSK_NET_MAX_IFACES)
		max_nics = HUSK_NET_MAX_IFACES;
	if (enter(nc, err) < 0)
		return -1;
	if (nc->mode == HUSK_NETMODE_USER) {
		add_nic(vo, -1, user_mac, 0);
		return 0;
	}
	if (nc->mode != HUSK_NETMODE_MIRROR)
		return 0;
	if (nc->ns_path) {
		/* a proxy killed before it could clean up left its filters */
		if (husk_net_cleanup_stale(HUSK_NET_TAP_PREFIX, err) < 0 ||
		    husk_net_scan(&nc->net, max_nics, err) < 0 ||
		    husk_net_mirror(&nc->net, &nc->m, err) < 0)
			return -1;
		for (size_t i = 0; i < nc->net.n; i++)
			add_nic(vo, nc->m.taps[i].fd, nc->net.ifaces[i].mac, nc->net.ifaces[i].mtu);
		log_debug("%zu interfaces of %s mirrored into the VM", nc->net.n, nc->ns_path);
		return 0;
	}
	if (!nc->placeholders)
		return 0;
	if (nc->placeholders > max_nics)
		return husk_err_set(
		    err, E2BIG, "annotation husk.vm.nics: this machine takes at most %u", max_nics);
	if (husk_net_taps_create(&nc->m, nc->placeholders, err) < 0)
		return -1;
	for (size_t i = 0; i < nc->m.n; i++) {
		uint8_t mac[6];
		husk_net_placeholder_mac(i, mac);
		add_nic(vo, nc->m.taps[i].fd, mac, 0);
	}
	nc->pending = true;
	return 0;
}

int husk_netconf_late(struct husk_netconf *nc, struct husk_err *err)
{
	if (!nc->pending)
		return 0;
	if (husk_net_scan(&nc->net, nc->m.n, err) < 0)
		return -1;
	if (nc->net.n == 0)
		return 0;
	for (size_t i = 0; i < nc->net.n; i++) {
		nc->net.ifaces[i].has_guest_mac = true;
		husk_net_placeholder_mac(i, nc->net.ifaces[i].guest_mac);
	}
	if (husk_net_mirror(&nc->net, &nc->m, err) < 0)
		return -1;
	nc->pending = false;
	log_debug("%zu interfaces mirrored into the VM after the hooks", nc->net.n);
	return 1;
}

static struct json_object *user_json(void)
{
	struct husk_net net = {.n = 1};
	struct husk_net_iface *i = &net.ifaces[0];
	struct husk_net_route *r = &net.routes[0];
	snprintf(i->name, sizeof i->name, "eth0");
	memcpy(i->mac, user_mac, 6);
	i->mtu = 1500;
	i->up = true;
	i->naddrs = 1;
	i->addrs[0] =
	    (struct husk_net_addr){.family = AF_INET, .addr = {10, 0, 2, 15}, .prefix = 24};
	net.nroutes = 1;
	*r = (struct husk_net_route){.family = AF_INET, .has_gw = true, .gw = {10, 0, 2, 2}};
	return husk_net_to_json(&net, NULL);
}

struct json_object *husk_netconf_json(const struct husk_netconf *nc, struct husk_err *err)
{
	struct json_object *o = NULL;
	switch (nc->mode) {
	case HUSK_NETMODE_USER: o = user_json(); break;
	case HUSK_NETMODE_MIRROR:
		if (nc->pending || nc->net.n == 0)
			return NULL;
		o = husk_net_to_json(&nc->net, err);
		break;
	default: return NULL;
	}
	if (!o)
		husk_err_set(err, ENOMEM, "out of memory");
	return o;
}

void husk_netconf_cleanup(struct husk_netconf *nc)
{
	struct husk_err err;
	if (nc->m.n && husk_net_unmirror(&nc->m, &err) < 0)
		log_warn("%s", err.msg);
}

int husk_netconf_cleanup_path(const char *path, struct husk_err *err)
{
	int saved;
	if (husk_net_enter(path, &saved, err) < 0)
		return err->code == ENOENT ? 0 : -1; /* gone: nothing is left in it */
	/* The taps go with the last fd on them, QEMU's, but the kernel may
	 * unregister them a moment after QEMU is reaped: give it 2 s. */
	int r;
	for (int i = 0; (r = husk_net_cleanup_stale(HUSK_NET_TAP_PREFIX, err)) > 0 && i < 100; i++)
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	if (r > 0)
		r = husk_err_set(err, EBUSY, "network namespace %s: a mirror is still in use",
				 path);
	struct husk_err e2;
	if (husk_net_leave(saved, &e2) < 0 && r == 0) {
		*err = e2;
		r = -1;
	}
	return r;
}
