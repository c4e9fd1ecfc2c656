/* The guest's network: lo up, and the container's interfaces, addresses
 * and routes as the host found them in the container's network namespace
 * (host-tool/netmirror.h, husk_net_to_json):
 *
 * {"interfaces": [{"name": "eth0", "mac": "02:42:ac:11:00:02",
 *                  "guest_mac": "02:68:75:73:6b:00",   (optional)
 *                  "mtu": 1500, "up": true,
 *                  "addresses": ["172.17.0.2/16", "fd00::2/64"]}],
 *  "routes": [{"family": "inet", "dest": "default", "gateway": "172.17.0.1",
 *              "dev": "eth0", "metric": 100, "source": "172.17.0.2",
 *              "onlink": false}]}
 *
 * Each interface is the guest NIC whose MAC is guest_mac if given (a NIC
 * QEMU got before the network was known), else mac; it is renamed, gets
 * mac, the MTU and the addresses, and comes up. Routes follow, those
 * without a gateway first. */
#ifndef HUSK_AGENT_NET_H
#define HUSK_AGENT_NET_H

#include <stddef.h>

#include "husk-err.h"
#include "netlink.h"

struct json_object;

#define AGENT_NET_MAX_IFACES 8
#define AGENT_NET_MAX_ADDRS  32
#define AGENT_NET_MAX_ROUTES 64

struct agent_net_if {
	char name[IFNAMSIZ];
	uint8_t mac[6];
	bool has_guest_mac;
	uint8_t guest_mac[6];
	uint32_t mtu; /* 0: leave */
	bool up;
	struct agent_nl_addr addrs[AGENT_NET_MAX_ADDRS];
	size_t naddrs;
};

struct agent_net_route {
	struct agent_nl_route r; /* r.oif set when applied */
	size_t iface;
	char desc[128]; /* "default via 10.0.0.1 dev eth0", for errors */
};

struct agent_net {
	struct agent_net_if ifs[AGENT_NET_MAX_IFACES];
	size_t n;
	struct agent_net_route routes[AGENT_NET_MAX_ROUTES];
	size_t nroutes;
};

/* Reads the object above (pure); errors name the field. */
int agent_net_parse(struct json_object *net, struct agent_net *c, struct husk_err *err);
/* lo up: the kernel gives it 127.0.0.1/8 and ::1 as it comes up. */
int agent_net_lo_up(struct husk_err *err);
/* At boot: placeholder NICs wait out of sight until NET names them. */
int agent_net_park(struct husk_err *err);
/* lo up, then NET (may be NULL: lo only). */
int agent_net_configure(struct json_object *net, struct husk_err *err);

#endif
