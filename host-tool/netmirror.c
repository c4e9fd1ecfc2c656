/* Taps for QEMU, each tied to a container interface with tc: an ingress
 * qdisc on both, and on each a u32 filter matching everything ("match u8 0
 * 0") whose mirred action redirects to the other's egress and steals the
 * frame. As Kata's setupTCFiltering does, with libnl-route-3 instead of
 * `tc`. u32 rather than matchall: u32 is in every kernel with tc filters
 * (matchall is its own option, CONFIG_NET_CLS_MATCHALL, off in this
 * machine's host kernel).
 *
 * The taps are not persistent: one vanishes when its last fd closes, so a
 * killed husk and QEMU leave no tap behind. Our filters carry the priority
 * HUSK_NET_TC_PRIO, which is how husk_net_cleanup_stale finds them. */
#include <net/if.h> /* before the uapi headers */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <netlink/netlink.h>
#include <netlink/route/action.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/qdisc.h>

#include "husk-log.h"
#include "netmirror.h"

/* ---- libnl plumbing shared with netscan.c ---- */

static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_EXIST: return EEXIST;
	case NLE_OBJ_NOTFOUND: return ENOENT;
	case NLE_NODEV: return ENODEV;
	case NLE_BUSY: return EBUSY;
	case NLE_PERM:
	case NLE_NOACCESS: return EPERM;
	case NLE_NOMEM: return ENOMEM;
	case NLE_INVAL:
	case NLE_RANGE: return EINVAL;
	case NLE_OPNOTSUPP:
	case NLE_AF_NOSUPPORT: return EOPNOTSUPP;
	case NLE_AGAIN: return EAGAIN;
	default: return EIO;
	}
}

int husk_net_nlerr(struct husk_err *err, int nle, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return husk_err_set(err, nle_errno(nle), "%s: %s", what, nl_geterror(nle));
}

int husk_net_nl_open(struct nl_sock **sk, struct husk_err *err)
{
	*sk = nl_socket_alloc();
	if (!*sk)
		return husk_err_set(err, ENOMEM, "netlink socket");
	int e = nl_connect(*sk, NETLINK_ROUTE);
	if (e < 0) {
		nl_socket_free(*sk);
		*sk = NULL;
		return husk_net_nlerr(err, e, "netlink socket");
	}
	return 0;
}

/* Gone already: what a cleanup wanted. */
static bool nle_gone(int e)
{
	return e == -NLE_OBJ_NOTFOUND || e == -NLE_NODEV || e == -NLE_NOATTR;
}

/* ---- entering the container's namespace ---- */

int husk_net_enter(const char *path, int *saved, struct husk_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return husk_err_sys(err, errno, "network namespace %s", path);
	int type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET)
		return husk_err_set(err, EINVAL, "%s is not a network namespace", path);
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return husk_err_sys(err, errno, "/proc/thread-self/ns/net");
	if (setns(fd, CLONE_NEWNET) < 0)
		return husk_err_sys(err, errno, "entering network namespace %s", path);
	*saved = husk_steal_fd(self);
	return 0;
}

int husk_net_leave(int saved, struct husk_err *err)
{
	int r = setns(saved, CLONE_NEWNET);
	int e = errno;
	close(saved);
	return r < 0 ? husk_err_sys(err, e, "returning to husk's network namespace") : 0;
}

/* ---- taps ---- */

void husk_net_mirror_init(struct husk_net_mirror *m)
{
	memset(m, 0, sizeof *m);
	for (size_t i = 0; i < HUSK_NET_MAX_IFACES; i++)
		m->taps[i].fd = -1;
}

/* The kernel picks the first free husk_tap<N>. */
static int tap_open(struct husk_net_tap *t, struct husk_err *err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return husk_err_sys(err, errno, "/dev/net/tun");
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s%%d", HUSK_NET_TAP_PREFIX);
	/* VNET_HDR: QEMU sees it (TUNGETIFF) and passes checksum and
	 * segmentation offloads through virtio-net's header */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return husk_err_sys(err, errno, "creating a tap device");
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = 0;
	t->ifindex = (int)if_nametoindex(t->name);
	if (!t->ifindex)
		return husk_err_sys(err, errno, "tap %s", t->name);
	t->fd = husk_steal_fd(fd);
	log_debug("network: tap %s (ifindex %d)", t->name, t->ifindex);
	return 0;
}

int husk_net_taps_create(struct husk_net_mirror *m, size_t count, struct husk_err *err)
{
	if (count > HUSK_NET_MAX_IFACES)
		return husk_err_set(err, E2BIG, "%zu network devices asked, at most %d", count,
				    HUSK_NET_MAX_IFACES);
	while (m->n < count) {
		if (tap_open(&m->taps[m->n], err) < 0)
			return -1;
		m->n++;
	}
	return 0;
}

/* No IPv6 on the tap (addrgenmode none, set while it is down): else the
 * namespace's stack would send its own MLD and router solicitations out
 * of the tap, into the guest. Best effort: a host may have no IPv6. */
static void tap_no_ipv6(struct nl_sock *sk, struct rtnl_link *cur, const char *name)
{
	struct rtnl_link *chg = rtnl_link_alloc();
	int e = chg ? rtnl_link_inet6_set_addr_gen_mode(chg, IN6_ADDR_GEN_MODE_NONE) : -NLE_NOMEM;
	if (e >= 0)
		e = rtnl_link_change(sk, cur, chg, 0);
	if (e < 0)
		log_debug("network: addrgenmode none on %s: %s", name, nl_geterror(e));
	rtnl_link_put(chg);
}

static int link_set(struct nl_sock *sk, int ifindex, const char *name, uint32_t mtu,
		    struct husk_err *err)
{
	struct rtnl_link *cur = NULL, *chg = rtnl_link_alloc();
	int e = chg ? rtnl_link_get_kernel(sk, ifindex, NULL, &cur) : -NLE_NOMEM;
	if (e >= 0) {
		if (!(rtnl_link_get_flags(cur) & IFF_UP))
			tap_no_ipv6(sk, cur, name);
		rtnl_link_set_mtu(chg, mtu);
		rtnl_link_set_flags(chg, IFF_UP);
		e = rtnl_link_change(sk, cur, chg, 0);
	}
	rtnl_link_put(cur);
	rtnl_link_put(chg);
	return e < 0 ? husk_net_nlerr(err, e, "setting %s up with MTU %u", name, mtu) : 0;
}

/* ---- qdiscs and filters ---- */

static struct rtnl_qdisc *ingress_qdisc(int ifindex)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	if (!q)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(0xffff, 0));
	if (rtnl_tc_set_kind(TC_CAST(q), "ingress") < 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

/* *added: false when the device had an ingress (or clsact) qdisc: it is
 * someone else's and stays. EBUSY is retried, as Kata does. */
static int ingress_add(struct nl_sock *sk, int ifindex, const char *name, bool *added,
		       struct husk_err *err)
{
	struct rtnl_qdisc *q = ingress_qdisc(ifindex);
	if (!q)
		return husk_err_set(err, ENOMEM, "ingress qdisc");
	int e = -NLE_BUSY;
	for (int i = 0; i < 5 && e == -NLE_BUSY; i++) {
		if (i)
			nanosleep(&(struct timespec){0, i * 10000000L}, NULL);
		e = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	}
	rtnl_qdisc_put(q);
	*added = e >= 0;
	if (e == -NLE_EXIST)
		return 0;
	return e < 0 ? husk_net_nlerr(err, e, "adding an ingress qdisc to %s", name) : 0;
}

static int ingress_del(struct nl_sock *sk, int ifindex)
{
	struct rtnl_qdisc *q = ingress_qdisc(ifindex);
	if (!q)
		return -NLE_NOMEM;
	int e = rtnl_qdisc_delete(sk, q);
	rtnl_qdisc_put(q);
	return nle_gone(e) ? 0 : e;
}

static struct rtnl_cls *our_filter(int ifindex)
{
	struct rtnl_cls *c = rtnl_cls_alloc();
	if (!c)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), HUSK_NET_INGRESS_PARENT);
	rtnl_cls_set_prio(c, HUSK_NET_TC_PRIO);
	rtnl_cls_set_protocol(c, ETH_P_ALL);
	if (rtnl_tc_set_kind(TC_CAST(c), "u32") < 0) {
		rtnl_cls_put(c);
		return NULL;
	}
	return c;
}

/* tc filter add dev FROM ingress prio P protocol all u32 match u8 0 0
 *     action mirred egress redirect dev TO */
static int redirect_add(struct nl_sock *sk, int from, const char *fname, int to, const char *tname,
			struct husk_err *err)
{
	struct rtnl_cls *c = our_filter(from);
	struct rtnl_act *a = rtnl_act_alloc();
	int e = c && a ? 0 : -NLE_NOMEM;
	if (!e)
		e = rtnl_u32_add_key_uint8(c, 0, 0, 0, 0);
	if (!e)
		e = rtnl_u32_set_cls_terminal(c);
	if (!e)
		e = rtnl_tc_set_kind(TC_CAST(a), "mirred");
	if (!e) {
		rtnl_mirred_set_action(a, TCA_EGRESS_REDIR);
		rtnl_mirred_set_policy(a, TC_ACT_STOLEN);
		rtnl_mirred_set_ifindex(a, (uint32_t)to);
		e = rtnl_u32_add_action(c, a);
	}
	if (!e)
		e = rtnl_cls_add(sk, c, NLM_F_CREATE | NLM_F_EXCL);
	if (a)
		rtnl_act_put(a);
	if (c)
		rtnl_cls_put(c);
	return e < 0 ? husk_net_nlerr(err, e, "redirecting %s to %s", fname, tname) : 0;
}

/* Deletes our whole filter chain at HUSK_NET_TC_PRIO (no handle given). */
static int redirect_del(struct nl_sock *sk, int ifindex)
{
	struct rtnl_cls *c = our_filter(ifindex);
	if (!c)
		return -NLE_NOMEM;
	int e = rtnl_cls_delete(sk, c, 0);
	rtnl_cls_put(c);
	/* no qdisc: EINVAL ("Parent Qdisc doesn't exists"), no chain: ENOENT */
	return nle_gone(e) || e == -NLE_INVAL ? 0 : e;
}

/* ---- mirror and unmirror ---- */

static int tie(struct nl_sock *sk, const struct husk_net_iface *i, struct husk_net_tap *t,
	       struct husk_err *err)
{
	t->peer_ifindex = i->ifindex;
	memcpy(t->peer, i->name, IFNAMSIZ);
	if (link_set(sk, t->ifindex, t->name, i->mtu, err) < 0 ||
	    ingress_add(sk, t->ifindex, t->name, &t->qdisc_tap, err) < 0 ||
	    ingress_add(sk, i->ifindex, i->name, &t->qdisc_peer, err) < 0)
		return -1;
	if (redirect_add(sk, i->ifindex, i->name, t->ifindex, t->name, err) < 0)
		return -1;
	t->filter_peer = true;
	if (redirect_add(sk, t->ifindex, t->name, i->ifindex, i->name, err) < 0)
		return -1;
	t->filter_tap = true;
	log_debug("network: %s <-> %s (mtu %u)", i->name, t->name, i->mtu);
	return 0;
}

static int first_error(struct husk_err *err, int *failed, int e, const char *what, const char *name)
{
	if (e >= 0)
		return 0;
	log_warn("network cleanup: %s %s: %s", what, name, nl_geterror(e));
	if (!*failed)
		husk_net_nlerr(err, e, "%s %s", what, name);
	*failed = 1;
	return -1;
}

/* Undoes tie(): the filters, then the peer's qdisc if we added it. */
static void untie(struct nl_sock *sk, struct husk_net_tap *t, int *failed, struct husk_err *err)
{
	if (t->filter_peer && !first_error(err, failed, redirect_del(sk, t->peer_ifindex),
					   "removing filter on", t->peer))
		t->filter_peer = false;
	if (t->filter_tap &&
	    !first_error(err, failed, redirect_del(sk, t->ifindex), "removing filter on", t->name))
		t->filter_tap = false;
	if (t->qdisc_peer && !first_error(err, failed, ingress_del(sk, t->peer_ifindex),
					  "removing qdisc on", t->peer))
		t->qdisc_peer = false;
	if (t->qdisc_tap &&
	    !first_error(err, failed, ingress_del(sk, t->ifindex), "removing qdisc on", t->name))
		t->qdisc_tap = false;
}

/* Deletes the tap if the ifindex still names it, and closes our fd. */
static void tap_remove(struct nl_sock *sk, struct husk_net_tap *t, int *failed,
		       struct husk_err *err)
{
	struct rtnl_link *l = NULL;
	if (t->ifindex > 0 && rtnl_link_get_kernel(sk, t->ifindex, NULL, &l) >= 0) {
		if (!strcmp(rtnl_link_get_name(l), t->name)) {
			int e = rtnl_link_delete(sk, l);
			first_error(err, failed, nle_gone(e) ? 0 : e, "deleting tap", t->name);
		}
		rtnl_link_put(l);
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->ifindex = 0;
}

int husk_net_mirror(const struct husk_net *net, struct husk_net_mirror *m, struct husk_err *err)
{
	struct nl_sock *sk = NULL;
	size_t had = m->n;
	int failed = 0;
	if (husk_net_taps_create(m, net->n > m->n ? net->n : m->n, err) < 0)
		goto fail_taps;
	if (husk_net_nl_open(&sk, err) < 0)
		goto fail_taps;
	for (size_t i = 0; i < net->n; i++)
		if (tie(sk, &net->ifaces[i], &m->taps[i], err) < 0)
			goto fail;
	nl_socket_free(sk);
	return 0;
fail:
	for (size_t i = 0; i < net->n; i++)
		untie(sk, &m->taps[i], &failed, NULL);
fail_taps:
	if (!sk && husk_net_nl_open(&sk, NULL) < 0)
		sk = NULL;
	for (size_t i = had; i < m->n; i++)
		if (sk)
			tap_remove(sk, &m->taps[i], &failed, NULL);
		else if (m->taps[i].fd >= 0)
			close(m->taps[i].fd); /* the tap goes with it */
	m->n = had;
	nl_socket_free(sk);
	return -1;
}

int husk_net_unmirror(struct husk_net_mirror *m, struct husk_err *err)
{
	struct nl_sock *sk = NULL;
	int failed = 0;
	if (!m->n)
		return 0;
	if (husk_net_nl_open(&sk, err) < 0) {
		for (size_t i = 0; i < m->n; i++)
			if (m->taps[i].fd >= 0)
				close(m->taps[i].fd);
		husk_net_mirror_init(m);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		untie(sk, &m->taps[i], &failed, err);
		tap_remove(sk, &m->taps[i], &failed, err);
	}
	nl_socket_free(sk);
	if (!failed)
		husk_net_mirror_init(m);
	return failed ? -1 : 0;
}

/* ---- after a crash ---- */

/* Our taps are not persistent: one that exists has a live holder (a QEMU
 * or a husk), so it is never stale. What a crash leaves is the filter on
 * the container's interface, now redirecting to a device that is gone
 * (the kernel reports ifindex 0): every frame it steals is dropped.
 * A u32 dump lists the chain's root and hash table too (no action): only
 * a node with an action says where it redirects; 1 live, 0 stale, -1 no
 * action. */
static int filter_live(struct rtnl_cls *c, struct nl_cache *links, const char *prefix)
{
	struct rtnl_act *a = rtnl_u32_get_action(c);
	if (!a)
		return -1;
	int to = (int)rtnl_mirred_get_ifindex(a);
	char name[IFNAMSIZ] = "";
	if (to <= 0 || !rtnl_link_i2name(links, to, name, sizeof name))
		return 0;
	return !strncmp(name, prefix, strlen(prefix));
}

/* Stale filters of ours on IFINDEX's ingress go; then the ingress qdisc,
 * if that left it empty (an empty ingress qdisc does nothing: ours). */
static void stale_filters(struct nl_sock *sk, struct nl_cache *links, struct nl_cache *qdiscs,
			  int ifindex, const char *name, const char *prefix, size_t *live_total,
			  int *failed, struct husk_err *err)
{
	struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent(qdiscs, ifindex, TC_H_INGRESS);
	if (!q)
		return;
	bool is_ingress = !strcmp(rtnl_tc_get_kind(TC_CAST(q)) ?: "", "ingress");
	rtnl_qdisc_put(q);
	struct nl_cache *cls = NULL;
	int e = rtnl_cls_alloc_cache(sk, ifindex, HUSK_NET_INGRESS_PARENT, &cls);
	if (first_error(err, failed, e, "listing filters on", name) < 0)
		return;
	size_t stale = 0, live = 0, others = 0;
	for (struct nl_object *o = nl_cache_get_first(cls); o; o = nl_cache_get_next(o)) {
		struct rtnl_cls *c = (struct rtnl_cls *)o;
		if (rtnl_cls_get_prio(c) != HUSK_NET_TC_PRIO) {
			others++;
			continue;
		}
		int v = filter_live(c, links, prefix);
		stale += v == 0;
		live += v == 1; /* a live mirror: another VM's, left alone */
	}
	nl_cache_free(cls);
	*live_total += live;
	if (!stale || live)
		return;
	log_info("network: removing a stale mirror filter from %s", name);
	if (first_error(err, failed, redirect_del(sk, ifindex), "removing filter on", name) < 0)
		return;
	if (!others && is_ingress)
		first_error(err, failed, ingress_del(sk, ifindex), "removing qdisc on", name);
}

int husk_net_cleanup_stale(const char *prefix, struct husk_err *err)
{
	struct nl_sock *sk = NULL;
	struct nl_cache *links = NULL, *qdiscs = NULL;
	int failed = 0, e;
	size_t live = 0;
	if (husk_net_nl_open(&sk, err) < 0)
		return -1;
	if ((e = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0 ||
	    (e = rtnl_qdisc_alloc_cache(sk, &qdiscs)) < 0) {
		husk_net_nlerr(err, e, "reading the network namespace");
		failed = 1;
		goto out;
	}
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);
		if (strncmp(name, prefix, strlen(prefix)))
			stale_filters(sk, links, qdiscs, rtnl_link_get_ifindex(l), name, prefix,
				      &live, &failed, err);
	}
out:
	nl_cache_free(qdiscs);
	nl_cache_free(links);
	nl_socket_free(sk);
	return failed ? -1 : (int)live;
}
