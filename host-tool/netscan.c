/* What the container's network namespace holds: the interfaces to mirror,
 * their addresses and routes (libnl-route-3), and the JSON the agent
 * applies in the guest. Which interfaces can be mirrored follows Kata
 * (virtcontainers/network_linux.go, addSingleEndpoint): veth, macvlan,
 * ipvlan and plain Ethernet devices; loopback and idle tunnel fallback
 * devices (sit0, tunl0, gre0, ...) are left out; everything else is an
 * error that names the interface and its type. */
#include <net/if.h> /* before linux/if_arp.h: glibc first, then the uapi */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_arp.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include <json-c/json.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>

#include "husk-facts.h"
#include "husk-log.h"
#include "netmirror.h"

enum link_verdict { LINK_SKIP, LINK_MIRROR, LINK_REFUSE };

/* Devices the kernel makes in every namespace once their module is
 * loaded; they carry nothing until configured. */
static bool tunnel_kind(const char *kind)
{
	static const char *const kinds[] = {"ipip",   "gre",	"gretap",    "sit",
					    "ip6tnl", "ip6gre", "ip6gretap", "erspan",
					    "vti",    "vti6",	"ip6erspan"};
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

static enum link_verdict classify(struct rtnl_link *l, bool has_addr, struct nl_cache *links,
				  struct husk_err *err)
{
	const char *name = rtnl_link_get_name(l), *kind = rtnl_link_get_type(l);
	unsigned arptype = rtnl_link_get_arptype(l);
	if (rtnl_link_get_flags(l) & IFF_LOOPBACK)
		return LINK_SKIP;
	if (!strncmp(name, HUSK_NET_TAP_PREFIX, strlen(HUSK_NET_TAP_PREFIX)))
		return LINK_SKIP; /* ours: a live one (they go with their last fd) */
	if (tunnel_kind(kind) && !has_addr) {
		log_debug("network: leaving out %s (%s, unconfigured)", name, kind);
		return LINK_SKIP;
	}
	if (arptype != ARPHRD_ETHER) {
		if (kind)
			husk_err_set(err, EOPNOTSUPP,
				     "interface %s (%s) cannot be mirrored into the VM: "
				     "not an Ethernet device",
				     name, kind);
		else
			husk_err_set(err, EOPNOTSUPP,
				     "interface %s (link type %u) cannot be mirrored into the VM: "
				     "not an Ethernet device",
				     name, arptype);
		return LINK_REFUSE;
	}
	int master = rtnl_link_get_master(l);
	if (master > 0) {
		char mname[IFNAMSIZ] = "?";
		rtnl_link_i2name(links, master, mname, sizeof mname);
		husk_err_set(err, EOPNOTSUPP,
			     "interface %s is a port of %s: an enslaved device cannot be mirrored "
			     "into the VM",
			     name, mname);
		return LINK_REFUSE;
	}
	if (!kind || !strcmp(kind, "veth") || !strcmp(kind, "macvlan") || !strcmp(kind, "ipvlan"))
		return LINK_MIRROR;
	husk_err_set(err, EOPNOTSUPP,
		     "interface %s (%s) cannot be mirrored into the VM: husk mirrors veth, "
		     "macvlan, ipvlan and plain Ethernet devices",
		     name, !strcmp(kind, "tun") ? "tap device" : kind);
	return LINK_REFUSE;
}

/* An interface whose ingress already has a filter of ours feeds another
 * VM: one namespace can feed one. */
static int check_not_mirrored(struct nl_sock *sk, struct nl_cache *qdiscs, int ifindex,
			      const char *name, struct husk_err *err)
{
	struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent(qdiscs, ifindex, TC_H_INGRESS);
	if (!q)
		return 0;
	rtnl_qdisc_put(q);
	struct nl_cache *cls = NULL;
	int r = rtnl_cls_alloc_cache(sk, ifindex, HUSK_NET_INGRESS_PARENT, &cls);
	if (r < 0)
		return husk_net_nlerr(err, r, "listing the ingress filters of %s", name);
	bool ours = false;
	for (struct nl_object *o = nl_cache_get_first(cls); o; o = nl_cache_get_next(o))
		if (rtnl_cls_get_prio((struct rtnl_cls *)o) == HUSK_NET_TC_PRIO)
			ours = true;
	nl_cache_free(cls);
	if (ours)
		return husk_err_set(err, EBUSY,
				    "interface %s is already mirrored into another VM (a network "
				    "namespace can feed one husk VM)",
				    name);
	return 0;
}

static bool has_address(struct nl_cache *addrs, int ifindex)
{
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o))
		if (rtnl_addr_get_ifindex((struct rtnl_addr *)o) == ifindex)
			return true;
	return false;
}

static int find_iface(const struct husk_net *net, int ifindex)
{
	for (size_t i = 0; i < net->n; i++)
		if (net->ifaces[i].ifindex == ifindex)
			return (int)i;
	return -1;
}

static int scan_links(struct nl_sock *sk, struct nl_cache *links, struct nl_cache *addrs,
		      struct nl_cache *qdiscs, struct husk_net *net, size_t max,
		      struct husk_err *err)
{
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		int ifindex = rtnl_link_get_ifindex(l);
		enum link_verdict v = classify(l, has_address(addrs, ifindex), links, err);
		if (v == LINK_REFUSE)
			return -1;
		if (v == LINK_SKIP)
			continue;
		const char *name = rtnl_link_get_name(l), *kind = rtnl_link_get_type(l);
		if (net->n == max)
			return husk_err_set(err, E2BIG,
					    "too many interfaces to mirror: the VM takes %zu, and "
					    "%s would be one more",
					    max, name);
		if (check_not_mirrored(sk, qdiscs, ifindex, name, err) < 0)
			return -1;
		struct nl_addr *mac = rtnl_link_get_addr(l);
		if (!mac || nl_addr_get_len(mac) != 6)
			return husk_err_set(err, EOPNOTSUPP, "interface %s has no Ethernet address",
					    name);
		struct husk_net_iface *i = &net->ifaces[net->n++];
		snprintf(i->name, sizeof i->name, "%s", name);
		snprintf(i->kind, sizeof i->kind, "%s", kind ? kind : "");
		i->ifindex = ifindex;
		memcpy(i->mac, nl_addr_get_binary_addr(mac), 6);
		i->mtu = rtnl_link_get_mtu(l);
		i->up = rtnl_link_get_flags(l) & IFF_UP;
	}
	return 0;
}

static void copy_addr(struct nl_addr *a, uint8_t out[16])
{
	memset(out, 0, 16);
	unsigned len = nl_addr_get_len(a);
	memcpy(out, nl_addr_get_binary_addr(a), len > 16 ? 16 : len);
}

static int scan_addrs(struct nl_cache *addrs, struct husk_net *net, struct husk_err *err)
{
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		int idx = find_iface(net, rtnl_addr_get_ifindex(a));
		int family = rtnl_addr_get_family(a);
		struct nl_addr *local = rtnl_addr_get_local(a);
		if (idx < 0 || !local || (family != AF_INET && family != AF_INET6))
			continue;
		const uint8_t *b = nl_addr_get_binary_addr(local);
		/* fe80::/10: the guest's kernel makes its own from the MAC */
		if (family == AF_INET6 && b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
			continue;
		struct husk_net_iface *i = &net->ifaces[idx];
		if (i->naddrs == HUSK_NET_MAX_ADDRS)
			return husk_err_set(err, E2BIG, "interface %s has more than %d addresses",
					    i->name, HUSK_NET_MAX_ADDRS);
		struct husk_net_addr *d = &i->addrs[i->naddrs++];
		d->family = family;
		copy_addr(local, d->addr);
		d->prefix = rtnl_addr_get_prefixlen(a);
	}
	return 0;
}

static int scan_routes(struct nl_cache *routes, struct husk_net *net, struct husk_err *err)
{
	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		int family = rtnl_route_get_family(r);
		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_protocol(r) == RTPROT_KERNEL ||
		    (family != AF_INET && family != AF_INET6))
			continue; /* the guest's kernel makes prefix routes from addresses */
		struct nl_addr *dst = rtnl_route_get_dst(r);
		char dbuf[INET6_ADDRSTRLEN + 4] = "default";
		if (dst && nl_addr_get_prefixlen(dst))
			nl_addr2str(dst, dbuf, sizeof dbuf);
		if (rtnl_route_get_type(r) != RTN_UNICAST) {
			log_warn("network: route %s (type %u) is not carried into the VM", dbuf,
				 rtnl_route_get_type(r));
			continue;
		}
		if (rtnl_route_get_nnexthops(r) != 1) {
			log_warn("network: multipath route %s is not carried into the VM", dbuf);
			continue;
		}
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
		int idx = find_iface(net, rtnl_route_nh_get_ifindex(nh));
		if (idx < 0)
			continue; /* through lo or an interface not mirrored */
		if (rtnl_route_nh_get_via(nh)) {
			log_warn("network: route %s has a gateway of another family, not carried",
				 dbuf);
			continue;
		}
		if (net->nroutes == HUSK_NET_MAX_ROUTES)
			return husk_err_set(err, E2BIG,
					    "the network namespace has more than %d routes",
					    HUSK_NET_MAX_ROUTES);
		struct husk_net_route *d = &net->routes[net->nroutes++];
		d->family = family;
		d->iface = (size_t)idx;
		if (dst) {
			copy_addr(dst, d->dst);
			d->dst_len = nl_addr_get_prefixlen(dst);
		}
		struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
		if ((d->has_gw = gw && nl_addr_get_len(gw)))
			copy_addr(gw, d->gw);
		struct nl_addr *src = rtnl_route_get_pref_src(r);
		if ((d->has_src = src && nl_addr_get_len(src)))
			copy_addr(src, d->src);
		d->metric = rtnl_route_get_priority(r);
		d->onlink = rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK;
	}
	return 0;
}

int husk_net_scan(struct husk_net *net, size_t max, struct husk_err *err)
{
	struct nl_cache *links = NULL, *addrs = NULL, *routes = NULL, *qdiscs = NULL;
	struct nl_sock *sk = NULL;
	int r = -1, e;
	memset(net, 0, sizeof *net);
	if (!max || max > HUSK_NET_MAX_IFACES)
		max = HUSK_NET_MAX_IFACES;
	if (husk_net_nl_open(&sk, err) < 0)
		return -1;
	if ((e = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0 ||
	    (e = rtnl_addr_alloc_cache(sk, &addrs)) < 0 ||
	    (e = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes)) < 0 ||
	    (e = rtnl_qdisc_alloc_cache(sk, &qdiscs)) < 0) {
		husk_net_nlerr(err, e, "reading the network namespace");
		goto out;
	}
	if (scan_links(sk, links, addrs, qdiscs, net, max, err) < 0 ||
	    scan_addrs(addrs, net, err) < 0 || scan_routes(routes, net, err) < 0)
		goto out;
	log_debug("network: %zu interfaces, %zu routes to mirror", net->n, net->nroutes);
	r = 0;
out:
	if (r < 0)
		memset(net, 0, sizeof *net);
	nl_cache_free(qdiscs);
	nl_cache_free(routes);
	nl_cache_free(addrs);
	nl_cache_free(links);
	nl_socket_free(sk);
	return r;
}

void husk_net_placeholder_mac(size_t i, uint8_t mac[6])
{
	static const uint8_t base[HUSK_PLACEHOLDER_MAC_LEN] = HUSK_PLACEHOLDER_MAC_PREFIX;
	memcpy(mac, base, sizeof base);
	mac[5] = (uint8_t)i;
}

/* ---- JSON for the agent ---- */

static void fmt_mac(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int add_str(struct json_object *o, const char *key, const char *s)
{
	struct json_object *v = json_object_new_string(s);
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static int add_int(struct json_object *o, const char *key, int64_t n)
{
	struct json_object *v = json_object_new_int64(n);
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

#define NO_PREFIX 255

/* ADDR, or ADDR/LEN, under KEY (or appended when KEY is NULL). */
static int add_prefix(struct json_object *o, const char *key, int family, const uint8_t *a,
		      uint8_t len)
{
	char buf[INET6_ADDRSTRLEN + 5];
	if (!inet_ntop(family, a, buf, INET6_ADDRSTRLEN))
		return -1;
	if (len != NO_PREFIX)
		snprintf(buf + strlen(buf), 5, "/%u", (unsigned)len);
	if (key)
		return add_str(o, key, buf);
	struct json_object *v = json_object_new_string(buf); /* into an array */
	if (!v || json_object_array_add(o, v) < 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

static struct json_object *iface_json(const struct husk_net_iface *i)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *addrs = json_object_new_array();
	char mac[18];
	if (!o || !addrs || json_object_object_add(o, "addresses", addrs) < 0) {
		json_object_put(addrs);
		return NULL;
	}
	fmt_mac(i->mac, mac);
	if (add_str(o, "name", i->name) < 0 || add_str(o, "mac", mac) < 0 ||
	    add_int(o, "mtu", i->mtu) < 0 ||
	    json_object_object_add(o, "up", json_object_new_boolean(i->up)) < 0)
		return NULL;
	if (i->has_guest_mac) {
		fmt_mac(i->guest_mac, mac);
		if (add_str(o, "guest_mac", mac) < 0)
			return NULL;
	}
	for (size_t k = 0; k < i->naddrs; k++)
		if (add_prefix(addrs, NULL, i->addrs[k].family, i->addrs[k].addr,
			       i->addrs[k].prefix) < 0)
			return NULL;
	return husk_steal(o);
}

static struct json_object *route_json(const struct husk_net *net, const struct husk_net_route *r)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	if (!o || add_str(o, "family", r->family == AF_INET6 ? "inet6" : "inet") < 0)
		return NULL;
	if (r->dst_len ? add_prefix(o, "dest", r->family, r->dst, r->dst_len)
		       : add_str(o, "dest", "default"))
		return NULL;
	if (r->has_gw && add_prefix(o, "gateway", r->family, r->gw, NO_PREFIX) < 0)
		return NULL;
	if (add_str(o, "dev", net->ifaces[r->iface].name) < 0)
		return NULL;
	if (r->has_src && add_prefix(o, "source", r->family, r->src, NO_PREFIX) < 0)
		return NULL;
	if (r->metric && add_int(o, "metric", r->metric) < 0)
		return NULL;
	if (r->onlink && json_object_object_add(o, "onlink", json_object_new_boolean(1)) < 0)
		return NULL;
	return husk_steal(o);
}

struct json_object *husk_net_to_json(const struct husk_net *net, struct husk_err *err)
{
	_cleanup_json_ struct json_object *o = json_object_new_object();
	struct json_object *ifs = json_object_new_array(), *routes = json_object_new_array();
	if (!o || !ifs || !routes) {
		json_object_put(ifs);
		json_object_put(routes);
		husk_err_set(err, ENOMEM, "building the network description");
		return NULL;
	}
	json_object_object_add(o, "interfaces", ifs);
	json_object_object_add(o, "routes", routes);
	for (size_t i = 0; i < net->n; i++) {
		struct json_object *v = iface_json(&net->ifaces[i]);
		if (!v || json_object_array_add(ifs, v) < 0) {
			json_object_put(v);
			husk_err_set(err, ENOMEM, "building the network description");
			return NULL;
		}
	}
	for (size_t i = 0; i < net->nroutes; i++) {
		struct json_object *v = route_json(net, &net->routes[i]);
		if (!v || json_object_array_add(routes, v) < 0) {
			json_object_put(v);
			husk_err_set(err, ENOMEM, "building the network description");
			return NULL;
		}
	}
	return husk_steal(o);
}
