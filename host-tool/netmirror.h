/* The container's network, mirrored into the VM (Kata's "tcfilter" model).
 *
 * Everything here works in the calling thread's network namespace: the
 * caller enters the container's namespace first (husk_net_enter). There,
 * husk_net_scan lists the interfaces to mirror with their MAC, MTU,
 * addresses and routes; husk_net_mirror gives each one a tap device
 * (husk_tap<N>) and joins the two with an ingress u32 filter on each whose
 * mirred action redirects every frame to the other's egress. The tap fds go
 * to QEMU (-netdev tap,fd=N); husk_net_to_json is what the agent applies in
 * the guest (docs/decisions.md, "The container's network"). */
#ifndef HUSK_NETMIRROR_H
#define HUSK_NETMIRROR_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "husk-err.h"

struct json_object;

/* Most interfaces a container may bring: microvm (acpi=off) has 8
 * virtio-mmio transports and the channel and shares take up to 3. */
#define HUSK_NET_MAX_IFACES 8
#define HUSK_NET_MAX_ADDRS  32 /* per interface */
#define HUSK_NET_MAX_ROUTES 64
/* Our taps are husk_tap0 .. husk_tap7 (IFNAMSIZ-bound). */
#define HUSK_NET_TAP_PREFIX "husk_tap"
/* The priority of our ingress filters: it marks them as ours. */
#define HUSK_NET_TC_PRIO 0x4855

struct husk_net_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};

struct husk_net_iface {
	char name[IFNAMSIZ];
	char kind[16]; /* "veth", "macvlan", "ipvlan", "" for a physical device */
	int ifindex;
	uint8_t mac[6];
	uint32_t mtu;
	bool up;
	/* A NIC that QEMU got before the interface was known has this MAC
	 * (husk_net_placeholder_mac); the agent finds it by it and sets mac. */
	bool has_guest_mac;
	uint8_t guest_mac[6];
	struct husk_net_addr addrs[HUSK_NET_MAX_ADDRS];
	size_t naddrs;
};

struct husk_net_route {
	int family;
	uint8_t dst[16];
	uint8_t dst_len; /* 0: default */
	bool has_gw, has_src, onlink;
	uint8_t gw[16];
	uint8_t src[16]; /* preferred source */
	uint32_t metric;
	size_t iface; /* index into husk_net.ifaces */
};

struct husk_net {
	struct husk_net_iface ifaces[HUSK_NET_MAX_IFACES];
	size_t n;
	struct husk_net_route routes[HUSK_NET_MAX_ROUTES];
	size_t nroutes;
};

struct husk_net_tap {
	char name[IFNAMSIZ];
	int ifindex;
	int fd; /* IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; for QEMU's tap,fd= */
	/* the mirrored interface, once husk_net_mirror has joined them */
	int peer_ifindex;
	char peer[IFNAMSIZ];
	bool qdisc_tap, qdisc_peer;   /* ingress qdiscs we added */
	bool filter_tap, filter_peer; /* our filters */
};

struct husk_net_mirror {
	struct husk_net_tap taps[HUSK_NET_MAX_IFACES];
	size_t n;
};

/* Enters the network namespace at PATH (checked to be one) in the calling
 * thread; *saved gets our own namespace for husk_net_leave. */
int husk_net_enter(const char *path, int *saved, struct husk_err *err);
int husk_net_leave(int saved, struct husk_err *err);

/* Lists the interfaces to mirror (every link but lo, our taps and idle
 * tunnel fallback devices), at most MAX (<= HUSK_NET_MAX_IFACES), with
 * their addresses (IPv6 link-local left out) and their main-table routes
 * (kernel-made prefix routes left out: the guest kernel makes its own).
 * An interface that cannot be mirrored, or one too many, is an error
 * naming it; so is one already mirrored (run husk_net_cleanup_stale
 * first: a filter left by a crash would count). */
int husk_net_scan(struct husk_net *net, size_t max, struct husk_err *err);

/* The agent's network object:
 * {"interfaces": [{"name", "mac", ["guest_mac"], "mtu", "up", "addresses": ["a/p"]}],
 *  "routes": [{"family": "inet"|"inet6", "dest": "default"|"a/p", ["gateway"],
 *              "dev", ["source"], ["metric"], ["onlink"]}]} */
struct json_object *husk_net_to_json(const struct husk_net *net, struct husk_err *err);

/* 02:68:75:73:6b:<i>: a locally administered MAC for NIC I before the
 * interface it will carry is known. */
void husk_net_placeholder_mac(size_t i, uint8_t mac[6]);

void husk_net_mirror_init(struct husk_net_mirror *m);
/* Makes taps until M has COUNT (for QEMU's NICs before the network is
 * known). They vanish when their last fd closes. */
int husk_net_taps_create(struct husk_net_mirror *m, size_t count, struct husk_err *err);
/* Joins interface i of NET to tap i of M (made if missing): the tap gets
 * the interface's MTU and is brought up, both get an ingress qdisc (unless
 * they have one) and a filter redirecting everything to the other. On
 * failure everything done is undone. */
int husk_net_mirror(const struct husk_net *net, struct husk_net_mirror *m, struct husk_err *err);
/* Removes our filters, the qdiscs we added and the taps, and closes the
 * fds. Idempotent; goes on after a failure and reports the first. A
 * device already gone counts as removed. */
int husk_net_unmirror(struct husk_net_mirror *m, struct husk_err *err);
/* After a crash: removes our filters whose redirect target is gone (or is
 * not a PREFIX* tap), and ingress qdiscs left empty by that, in the current
 * namespace. A tap of ours is never stale: it exists only while an fd
 * holds it, so a live mirror (another VM's) is left alone. Returns how many
 * live mirror filters remain, or -1. */
int husk_net_cleanup_stale(const char *prefix, struct husk_err *err);

/* Internal to netscan.c and netmirror.c (libnl-route-3). */
struct nl_sock;
/* Filters go on the ingress hook, ffff:fff2 (as `tc filter add dev X
 * ingress`): valid under both the ingress and the clsact qdisc. */
#define HUSK_NET_INGRESS_PARENT 0xfffffff2U
int husk_net_nl_open(struct nl_sock **sk, struct husk_err *err);
/* Fills err from a libnl error (negative NLE_*) and returns -1. */
int husk_net_nlerr(struct husk_err *err, int nle, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
