/* The guest's network from the host's description (net.h): parsing is
 * pure; applying goes through agent/netlink.c. */
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../init/init.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "net.h"

/* ---- parsing ---- */

static int get_str(struct json_object *o, const char *key, const char *where, bool required,
		   const char **out, struct husk_err *err)
{
	struct json_object *v;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return husk_err_set(err, EINVAL, "network: %s.%s is missing", where, key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return husk_err_set(err, EINVAL, "network: %s.%s is not a string", where, key);
	*out = json_object_get_string(v);
	return 0;
}

static int get_uint(struct json_object *o, const char *key, const char *where, uint32_t max,
		    uint32_t *out, struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	int64_t n = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || n < 0 || n > max)
		return husk_err_set(err, ERANGE, "network: %s.%s is not a number in 0-%u", where,
				    key, max);
	*out = (uint32_t)n;
	return 0;
}

static int get_bool(struct json_object *o, const char *key, const char *where, bool *out,
		    struct husk_err *err)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return husk_err_set(err, EINVAL, "network: %s.%s is not true or false", where, key);
	*out = json_object_get_boolean(v);
	return 0;
}

/* Prefixes a field's path to the message of a failed text parse. */
static int field_err(struct husk_err *err, const char *where, const char *key)
{
	char path[96];
	snprintf(path, sizeof path, "network: %s.%s", where, key);
	return husk_err_prefix(err, path);
}

static int parse_iface(struct json_object *o, const char *where, struct agent_net_if *i,
		       struct husk_err *err)
{
	const char *name, *mac, *gmac;
	struct json_object *addrs;
	i->up = true;
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "network: %s is not an object", where);
	if (get_str(o, "name", where, true, &name, err) < 0 ||
	    get_str(o, "mac", where, true, &mac, err) < 0 ||
	    get_str(o, "guest_mac", where, false, &gmac, err) < 0 ||
	    get_uint(o, "mtu", where, 65535, &i->mtu, err) < 0 ||
	    get_bool(o, "up", where, &i->up, err) < 0)
		return -1;
	if (!agent_nl_valid_ifname(name) || !strcmp(name, "lo"))
		return husk_err_set(err, EINVAL, "network: %s.name \"%s\" is not a name for it",
				    where, name);
	snprintf(i->name, sizeof i->name, "%s", name);
	if (i->mtu && i->mtu < 68)
		return husk_err_set(err, ERANGE, "network: %s.mtu %u is below 68", where, i->mtu);
	if (agent_nl_parse_mac(mac, i->mac, err) < 0)
		return field_err(err, where, "mac");
	if (gmac && agent_nl_parse_mac(gmac, i->guest_mac, err) < 0)
		return field_err(err, where, "guest_mac");
	i->has_guest_mac = gmac != NULL;
	if (!json_object_object_get_ex(o, "addresses", &addrs))
		return 0;
	if (!json_object_is_type(addrs, json_type_array))
		return husk_err_set(err, EINVAL, "network: %s.addresses is not an array", where);
	size_t n = json_object_array_length(addrs);
	if (n > AGENT_NET_MAX_ADDRS)
		return husk_err_set(err, E2BIG, "network: %s has more than %d addresses", where,
				    AGENT_NET_MAX_ADDRS);
	for (size_t k = 0; k < n; k++) {
		struct json_object *a = json_object_array_get_idx(addrs, k);
		char key[32];
		snprintf(key, sizeof key, "addresses[%zu]", k);
		if (!json_object_is_type(a, json_type_string))
			return husk_err_set(err, EINVAL, "network: %s.%s is not a string", where,
					    key);
		if (agent_nl_parse_prefix(json_object_get_string(a), &i->addrs[k], err) < 0)
			return field_err(err, where, key);
	}
	i->naddrs = n;
	return 0;
}

static int find_if(const struct agent_net *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->ifs[i].name, name))
			return (int)i;
	return -1;
}

static int parse_route(struct json_object *o, const char *where, struct agent_net *c,
		       struct agent_net_route *d, struct husk_err *err)
{
	const char *family, *dest, *gw, *dev, *src;
	struct agent_nl_route *r = &d->r;
	if (!json_object_is_type(o, json_type_object))
		return husk_err_set(err, EINVAL, "network: %s is not an object", where);
	if (get_str(o, "family", where, false, &family, err) < 0 ||
	    get_str(o, "dest", where, true, &dest, err) < 0 ||
	    get_str(o, "gateway", where, false, &gw, err) < 0 ||
	    get_str(o, "dev", where, true, &dev, err) < 0 ||
	    get_str(o, "source", where, false, &src, err) < 0 ||
	    get_uint(o, "metric", where, UINT32_MAX, &r->metric, err) < 0 ||
	    get_bool(o, "onlink", where, &r->onlink, err) < 0)
		return -1;
	if (family && strcmp(family, "inet") && strcmp(family, "inet6"))
		return husk_err_set(err, EINVAL, "network: %s.family \"%s\" is not inet or inet6",
				    where, family);
	r->family = !family ? 0 : !strcmp(family, "inet") ? AF_INET : AF_INET6;
	if (strcmp(dest, "default")) {
		struct agent_nl_addr a;
		if (agent_nl_parse_prefix(dest, &a, err) < 0)
			return field_err(err, where, "dest");
		if (r->family && a.family != r->family)
			return husk_err_set(err, EINVAL, "network: %s.dest %s is not %s", where,
					    dest, family);
		r->family = a.family;
		memcpy(r->dst, a.addr, sizeof r->dst);
		r->dst_len = a.prefix;
	}
	int fam;
	if (gw && agent_nl_parse_ip(gw, &fam, r->gw, err) < 0)
		return field_err(err, where, "gateway");
	if (gw && r->family && fam != r->family)
		return husk_err_set(
		    err, EINVAL, "network: %s.gateway %s is not of the route's family", where, gw);
	if (gw)
		r->family = fam;
	r->has_gw = gw != NULL;
	if (!r->family)
		return husk_err_set(err, EINVAL,
				    "network: %s: a default route needs a family or "
				    "a gateway",
				    where);
	if (src && agent_nl_parse_ip(src, &fam, r->src, err) < 0)
		return field_err(err, where, "source");
	if (src && fam != r->family)
		return husk_err_set(
		    err, EINVAL, "network: %s.source %s is not of the route's family", where, src);
	r->has_src = src != NULL;
	int i = find_if(c, dev);
	if (i < 0)
		return husk_err_set(
		    err, EINVAL, "network: %s.dev \"%s\" is not one of the interfaces", where, dev);
	d->iface = (size_t)i;
	snprintf(d->desc, sizeof d->desc, "%s%s%s dev %s", dest, gw ? " via " : "", gw ? gw : "",
		 dev);
	return 0;
}

static int check_unique(const struct agent_net *c, size_t k, struct husk_err *err)
{
	const struct agent_net_if *a = &c->ifs[k];
	const uint8_t *ka = a->has_guest_mac ? a->guest_mac : a->mac;
	for (size_t i = 0; i < k; i++) {
		const struct agent_net_if *b = &c->ifs[i];
		if (!strcmp(a->name, b->name))
			return husk_err_set(err, EINVAL, "network: two interfaces named %s",
					    a->name);
		if (!memcmp(ka, b->has_guest_mac ? b->guest_mac : b->mac, 6))
			return husk_err_set(err, EINVAL,
					    "network: %s and %s name the same guest NIC", b->name,
					    a->name);
	}
	return 0;
}

int agent_net_parse(struct json_object *net, struct agent_net *c, struct husk_err *err)
{
	struct json_object *ifs = NULL, *routes = NULL;
	memset(c, 0, sizeof *c);
	if (!net)
		return 0;
	if (!json_object_is_type(net, json_type_object))
		return husk_err_set(err, EINVAL, "network: not an object");
	json_object_object_get_ex(net, "interfaces", &ifs);
	json_object_object_get_ex(net, "routes", &routes);
	if ((ifs && !json_object_is_type(ifs, json_type_array)) ||
	    (routes && !json_object_is_type(routes, json_type_array)))
		return husk_err_set(err, EINVAL, "network: interfaces and routes must be arrays");
	size_t n = ifs ? json_object_array_length(ifs) : 0;
	size_t nr = routes ? json_object_array_length(routes) : 0;
	if (n > AGENT_NET_MAX_IFACES || nr > AGENT_NET_MAX_ROUTES)
		return husk_err_set(err, E2BIG, "network: more than %d interfaces or %d routes",
				    AGENT_NET_MAX_IFACES, AGENT_NET_MAX_ROUTES);
	char where[32];
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof where, "interfaces[%zu]", i);
		if (parse_iface(json_object_array_get_idx(ifs, i), where, &c->ifs[i], err) < 0)
			goto fail;
		c->n = i + 1;
		if (check_unique(c, i, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < nr; i++) {
		snprintf(where, sizeof where, "routes[%zu]", i);
		if (parse_route(json_object_array_get_idx(routes, i), where, c, &c->routes[i],
				err) < 0)
			goto fail;
		c->nroutes = i + 1;
	}
	return 0;
fail:
	memset(c, 0, sizeof *c);
	return -1;
}

/* ---- applying ---- */

static int link_call(struct agent_nl *nl, const struct agent_nl_link *l, const char *what,
		     struct husk_err *err)
{
	char buf[AGENT_NL_MSG_MAX];
	ssize_t n = agent_nl_link_msg(buf, sizeof buf, l, err);
	return n < 0 ? -1 : agent_nl_call(nl, buf, (size_t)n, what, err);
}

static int lo_up(struct agent_nl *nl, struct husk_err *err)
{
	unsigned lo = if_nametoindex("lo");
	struct agent_nl_link l = {.ifindex = lo ? (int)lo : 1, .up = 1};
	return link_call(nl, &l, "network: bringing lo up", err);
}

int agent_net_lo_up(struct husk_err *err)
{
	struct agent_nl nl;
	if (agent_nl_open(&nl, err) < 0)
		return -1;
	int r = lo_up(&nl, err);
	agent_nl_close(&nl);
	return r;
}

static void fmt_mac(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Renames link LS[J] (its name updated in LS). */
static int rename_link(struct agent_nl *nl, struct agent_nl_linkinfo *li, const char *to,
		       struct husk_err *err)
{
	char what[96];
	struct agent_nl_link l = {.ifindex = li->ifindex, .name = to, .up = -1};
	snprintf(what, sizeof what, "network: renaming %s to %s", li->name, to);
	if (link_call(nl, &l, what, err) < 0)
		return -1;
	snprintf(li->name, sizeof li->name, "%s", to);
	return 0;
}

/* Each interface's guest NIC, down, under its name; a guest link holding
 * a name that another NIC needs moves aside to husk<ifindex> first. */
static int match_and_name(struct agent_nl *nl, const struct agent_net *c,
			  struct agent_nl_linkinfo *ls, size_t nls, int *idx, struct husk_err *err)
{
	char what[96], mac[18];
	for (size_t i = 0; i < c->n; i++) {
		const struct agent_net_if *f = &c->ifs[i];
		const uint8_t *key = f->has_guest_mac ? f->guest_mac : f->mac;
		idx[i] = agent_nl_find_mac(ls, nls, key);
		if (idx[i] < 0 && f->has_guest_mac) /* configured before: has its MAC */
			idx[i] = agent_nl_find_mac(ls, nls, f->mac);
		fmt_mac(key, mac);
		if (idx[i] < 0 || (ls[idx[i]].flags & IFF_LOOPBACK))
			return husk_err_set(err, ENODEV, "network: no guest NIC with MAC %s for %s",
					    mac, f->name);
		struct agent_nl_link down = {.ifindex = ls[idx[i]].ifindex, .up = 0};
		snprintf(what, sizeof what, "network: %s (%s) down", ls[idx[i]].name, mac);
		if ((ls[idx[i]].flags & IFF_UP) && link_call(nl, &down, what, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->n; i++) {
		int j = agent_nl_find_name(ls, nls, c->ifs[i].name);
		char tmp[IFNAMSIZ];
		snprintf(tmp, sizeof tmp, "husk%d", j >= 0 ? ls[j].ifindex : 0);
		if (j >= 0 && j != idx[i] && rename_link(nl, &ls[j], tmp, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(ls[idx[i]].name, c->ifs[i].name) &&
		    rename_link(nl, &ls[idx[i]], c->ifs[i].name, err) < 0)
			return -1;
	return 0;
}

static int setup_iface(struct agent_nl *nl, const struct agent_net_if *f, int ifindex,
		       struct husk_err *err)
{
	char what[128], mac[18], buf[AGENT_NL_MSG_MAX];
	fmt_mac(f->mac, mac);
	struct agent_nl_link l = {.ifindex = ifindex, .mtu = f->mtu, .up = -1};
	if (f->has_guest_mac && memcmp(f->guest_mac, f->mac, 6))
		l.mac = f->mac;
	snprintf(what, sizeof what, "network: %s: MAC %s, MTU %u", f->name, mac, f->mtu);
	if ((l.mac || l.mtu) && link_call(nl, &l, what, err) < 0)
		return -1;
	for (size_t k = 0; k < f->naddrs; k++) {
		const struct agent_nl_addr *a = &f->addrs[k];
		char ip[INET6_ADDRSTRLEN] = "?";
		inet_ntop(a->family, a->addr, ip, sizeof ip);
		snprintf(what, sizeof what, "network: %s: address %s/%u", f->name, ip, a->prefix);
		/* no DAD: the address was checked in the container's namespace */
		ssize_t n = agent_nl_addr_msg(buf, sizeof buf, ifindex, a, true, err);
		if (n < 0 || agent_nl_call(nl, buf, (size_t)n, what, err) < 0)
			return -1;
	}
	struct agent_nl_link up = {.ifindex = ifindex, .up = 1};
	snprintf(what, sizeof what, "network: bringing %s up", f->name);
	return f->up ? link_call(nl, &up, what, err) : 0;
}

static int add_routes(struct agent_nl *nl, struct agent_net *c, const int *ifindex, bool gateways,
		      struct husk_err *err)
{
	char buf[AGENT_NL_MSG_MAX], what[160];
	for (size_t i = 0; i < c->nroutes; i++) {
		struct agent_net_route *d = &c->routes[i];
		if (d->r.has_gw != gateways)
			continue;
		if (!c->ifs[d->iface].up) {
			log_warn("network: route %s left out: %s is down", d->desc,
				 c->ifs[d->iface].name);
			continue;
		}
		d->r.oif = ifindex[d->iface];
		snprintf(what, sizeof what, "network: route %s", d->desc);
		ssize_t n = agent_nl_route_msg(buf, sizeof buf, &d->r, err);
		if (n < 0 || agent_nl_call(nl, buf, (size_t)n, what, err) < 0)
			return -1;
	}
	return 0;
}

#define MAX_LINKS 64

/* ---- NICs waiting for their interface ----
 * A placeholder NIC (HUSK_PLACEHOLDER_MAC_PREFIX) waits in a network
 * namespace of its own, the park, until network.configure says what it
 * carries: without one the VM's network is lo only, as runc's is when the
 * caller adds nothing. The agent keeps both namespaces open. */
static int root_ns = -1, park_ns = -1;

static bool is_placeholder(const struct agent_nl_linkinfo *l)
{
	static const uint8_t prefix[] = HUSK_PLACEHOLDER_MAC_PREFIX;
	return l->has_mac && !memcmp(l->mac, prefix, HUSK_PLACEHOLDER_MAC_LEN);
}

/* A netlink socket in network namespace NS (sockets stay in the namespace
 * they were made in). */
static int nl_open_in(int ns, struct agent_nl *nl, struct husk_err *err)
{
	if (setns(ns, CLONE_NEWNET) < 0)
		return husk_err_sys(err, errno, "network: entering a namespace");
	int r = agent_nl_open(nl, err);
	if (setns(root_ns, CLONE_NEWNET) < 0)
		init_fatal("network: cannot return to the VM's namespace: %m");
	return r;
}

/* Moves the links of the namespace NL talks to that WANT says, to NS. */
static int move_links(struct agent_nl *nl, int ns,
		      bool (*want)(const struct agent_nl_linkinfo *, const void *), const void *arg,
		      struct husk_err *err)
{
	_cleanup_free_ struct agent_nl_linkinfo *ls = calloc(MAX_LINKS, sizeof *ls);
	size_t n = 0;
	if (!ls)
		return husk_err_set(err, ENOMEM, "network");
	if (agent_nl_links(nl, ls, MAX_LINKS, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char what[64];
		if (!want(&ls[i], arg))
			continue;
		struct agent_nl_link l = {.ifindex = ls[i].ifindex, .up = -1, .netns_fd = ns};
		snprintf(what, sizeof what, "network: moving %s", ls[i].name);
		if (link_call(nl, &l, what, err) < 0)
			return -1;
	}
	return 0;
}

static bool want_placeholder(const struct agent_nl_linkinfo *l, const void *arg)
{
	return is_placeholder(l);
}

int agent_net_park(struct husk_err *err)
{
	struct agent_nl nl;
	root_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (root_ns < 0)
		return husk_err_sys(err, errno, "network: /proc/self/ns/net");
	if (unshare(CLONE_NEWNET) < 0)
		return husk_err_sys(err, errno, "network: a namespace for waiting NICs");
	park_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (setns(root_ns, CLONE_NEWNET) < 0)
		init_fatal("network: cannot return to the VM's namespace: %m");
	if (park_ns < 0)
		return husk_err_sys(err, errno, "network: /proc/self/ns/net");
	if (agent_nl_open(&nl, err) < 0)
		return -1;
	int r = move_links(&nl, park_ns, want_placeholder, NULL, err);
	agent_nl_close(&nl);
	return r;
}

static bool want_configured(const struct agent_nl_linkinfo *l, const void *arg)
{
	const struct agent_net *c = arg;
	for (size_t i = 0; i < c->n; i++)
		if (c->ifs[i].has_guest_mac && l->has_mac &&
		    !memcmp(l->mac, c->ifs[i].guest_mac, 6))
			return true;
	return false;
}

/* The parked NICs that C configures come back to the VM's namespace. */
static int unpark(const struct agent_net *c, struct husk_err *err)
{
	struct agent_nl nl;
	if (park_ns < 0)
		return 0;
	if (nl_open_in(park_ns, &nl, err) < 0)
		return -1;
	int r = move_links(&nl, root_ns, want_configured, c, err);
	agent_nl_close(&nl);
	return r;
}

int agent_net_configure(struct json_object *net, struct husk_err *err)
{
	_cleanup_free_ struct agent_net *c = calloc(1, sizeof *c);
	_cleanup_free_ struct agent_nl_linkinfo *ls = calloc(MAX_LINKS, sizeof *ls);
	struct agent_nl nl;
	int idx[AGENT_NET_MAX_IFACES], ifindex[AGENT_NET_MAX_IFACES];
	size_t nls = 0;
	if (!c || !ls)
		return husk_err_set(err, ENOMEM, "network");
	if (agent_net_parse(net, c, err) < 0 || agent_nl_open(&nl, err) < 0)
		return -1;
	int r = -1;
	if (lo_up(&nl, err) < 0 || unpark(c, err) < 0)
		goto out;
	if (c->n && (agent_nl_links(&nl, ls, MAX_LINKS, &nls, err) < 0 ||
		     match_and_name(&nl, c, ls, nls, idx, err) < 0))
		goto out;
	for (size_t i = 0; i < c->n; i++) {
		ifindex[i] = ls[idx[i]].ifindex;
		if (setup_iface(&nl, &c->ifs[i], ifindex[i], err) < 0)
			goto out;
	}
	/* link routes first: gateways are reached through them */
	if (add_routes(&nl, c, ifindex, false, err) < 0 ||
	    add_routes(&nl, c, ifindex, true, err) < 0)
		goto out;
	log_debug("network: %zu interfaces, %zu routes", c->n, c->nroutes);
	r = 0;
out:
	agent_nl_close(&nl);
	return r;
}
