/* rtnetlink for the guest: message builders and reply parsers over caller
 * buffers (pure), and one blocking socket that sends a request and waits
 * for its ACK. */
#include <net/if.h> /* before the uapi headers */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "husk-log.h"
#include "netlink.h"

/* ---- text ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* By hand: sscanf would pull musl's vfscanf (4 KiB) into the agent. */
int agent_nl_parse_mac(const char *s, uint8_t mac[6], struct husk_err *err)
{
	if (!s || strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1)
		return husk_err_set(err, EINVAL, "%s is a multicast MAC address", s);
	return 0;
bad:
	return husk_err_set(err, EINVAL, "\"%s\" is not a MAC address", s ? s : "");
}

int agent_nl_parse_ip(const char *s, int *family, uint8_t addr[16], struct husk_err *err)
{
	memset(addr, 0, 16);
	if (s && inet_pton(AF_INET, s, addr) == 1)
		*family = AF_INET;
	else if (s && inet_pton(AF_INET6, s, addr) == 1)
		*family = AF_INET6;
	else
		return husk_err_set(err, EINVAL, "\"%s\" is not an IP address", s ? s : "");
	return 0;
}

int agent_nl_parse_prefix(const char *s, struct agent_nl_addr *a, struct husk_err *err)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof ip || !slash[1])
		return husk_err_set(err, EINVAL, "\"%s\" is not an address/prefix", s ? s : "");
	memcpy(ip, s, slash - s);
	ip[slash - s] = 0;
	if (agent_nl_parse_ip(ip, &a->family, a->addr, err) < 0)
		return -1;
	char *end;
	errno = 0;
	unsigned long p = strtoul(slash + 1, &end, 10);
	unsigned max = a->family == AF_INET ? 32 : 128;
	if (*end || errno || slash[1] < '0' || slash[1] > '9' || p > max)
		return husk_err_set(err, ERANGE, "\"%s\": prefix length out of range (0-%u)", s,
				    max);
	a->prefix = (uint8_t)p;
	return 0;
}

bool agent_nl_valid_ifname(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || n >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == ':' || *c == ' ' || (unsigned char)*c < 0x21 ||
		    (unsigned char)*c > 0x7e)
			return false;
	return true;
}

/* ---- building ---- */

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Starts a request in BUF: header plus a zeroed family header of HLEN. */
static void *msg_start(void *buf, size_t cap, uint16_t type, uint16_t flags, size_t hlen)
{
	if (cap < NLMSG_SPACE(hlen))
		return NULL;
	memset(buf, 0, NLMSG_SPACE(hlen));
	struct nlmsghdr *h = buf;
	h->nlmsg_len = NLMSG_LENGTH(hlen);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	return NLMSG_DATA(h);
}

/* Appends an attribute (as iproute2's addattr_l: aligned, zero padded). */
static int put_attr(void *buf, size_t cap, uint16_t type, const void *data, size_t dlen)
{
	struct nlmsghdr *h = buf;
	size_t off = NLMSG_ALIGN(h->nlmsg_len), total = RTA_ALIGN(RTA_LENGTH(dlen));
	if (off + total > cap || RTA_LENGTH(dlen) > 0xffff)
		return -1;
	struct rtattr *rta = (struct rtattr *)((char *)buf + off);
	memset(rta, 0, total);
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(dlen);
	if (dlen)
		memcpy(RTA_DATA(rta), data, dlen);
	h->nlmsg_len = (uint32_t)(off + total);
	return 0;
}

static int too_small(struct husk_err *err)
{
	return husk_err_set(err, EMSGSIZE, "netlink message buffer too small");
}

ssize_t agent_nl_link_msg(void *buf, size_t cap, const struct agent_nl_link *l,
			  struct husk_err *err)
{
	if (l->ifindex <= 0)
		return husk_err_set(err, EINVAL, "no such network device (ifindex %d)", l->ifindex);
	if (l->name && !agent_nl_valid_ifname(l->name))
		return husk_err_set(err, EINVAL, "\"%s\" is not a valid interface name", l->name);
	if (l->mtu && (l->mtu < 68 || l->mtu > 65535))
		return husk_err_set(err, ERANGE, "MTU %u out of range (68-65535)", l->mtu);
	struct ifinfomsg *ifi = msg_start(buf, cap, RTM_NEWLINK, 0, sizeof *ifi);
	if (!ifi)
		return too_small(err);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = l->ifindex;
	if (l->up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = l->up ? IFF_UP : 0;
	}
	if ((l->name && put_attr(buf, cap, IFLA_IFNAME, l->name, strlen(l->name) + 1) < 0) ||
	    (l->mac && put_attr(buf, cap, IFLA_ADDRESS, l->mac, 6) < 0) ||
	    (l->mtu && put_attr(buf, cap, IFLA_MTU, &l->mtu, sizeof l->mtu) < 0) ||
	    (l->netns_fd > 0 &&
	     put_attr(buf, cap, IFLA_NET_NS_FD, &l->netns_fd, sizeof l->netns_fd) < 0))
		return too_small(err);
	return ((struct nlmsghdr *)buf)->nlmsg_len;
}

static int check_family(int family, unsigned prefix, struct husk_err *err)
{
	if (family != AF_INET && family != AF_INET6)
		return husk_err_set(err, EAFNOSUPPORT, "address family %d is not IPv4 or IPv6",
				    family);
	if (prefix > (family == AF_INET ? 32U : 128U))
		return husk_err_set(err, ERANGE, "prefix length %u out of range for %s", prefix,
				    family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

ssize_t agent_nl_addr_msg(void *buf, size_t cap, int ifindex, const struct agent_nl_addr *a,
			  bool nodad, struct husk_err *err)
{
	if (check_family(a->family, a->prefix, err) < 0)
		return -1;
	if (ifindex <= 0)
		return husk_err_set(err, EINVAL, "no such network device (ifindex %d)", ifindex);
	struct ifaddrmsg *ifa =
	    msg_start(buf, cap, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof *ifa);
	if (!ifa)
		return too_small(err);
	size_t alen = addr_len(a->family);
	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)ifindex;
	if (a->family == AF_INET6 && nodad)
		ifa->ifa_flags = IFA_F_NODAD;
	if (put_attr(buf, cap, IFA_LOCAL, a->addr, alen) < 0 ||
	    put_attr(buf, cap, IFA_ADDRESS, a->addr, alen) < 0)
		return too_small(err);
	if (a->family == AF_INET && a->prefix < 31) {
		uint32_t ip, host = a->prefix ? 0xffffffffu >> a->prefix : 0xffffffffu;
		memcpy(&ip, a->addr, 4);
		ip |= htonl(host);
		if (put_attr(buf, cap, IFA_BROADCAST, &ip, 4) < 0)
			return too_small(err);
	}
	return ((struct nlmsghdr *)buf)->nlmsg_len;
}

/* Bits past the prefix must be zero, as `ip route` requires. */
static bool prefix_clean(const uint8_t *a, unsigned len, unsigned alen)
{
	for (unsigned bit = len; bit < alen * 8; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

ssize_t agent_nl_route_msg(void *buf, size_t cap, const struct agent_nl_route *r,
			   struct husk_err *err)
{
	if (check_family(r->family, r->dst_len, err) < 0)
		return -1;
	size_t alen = addr_len(r->family);
	if (!prefix_clean(r->dst, r->dst_len, (unsigned)alen))
		return husk_err_set(err, EINVAL, "route destination has bits set past /%u",
				    r->dst_len);
	if (r->oif <= 0)
		return husk_err_set(err, EINVAL, "route without a device");
	struct rtmsg *rtm =
	    msg_start(buf, cap, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof *rtm);
	if (!rtm)
		return too_small(err);
	rtm->rtm_family = (uint8_t)r->family;
	rtm->rtm_dst_len = r->dst_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = r->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (r->onlink)
		rtm->rtm_flags = RTNH_F_ONLINK;
	uint32_t oif = (uint32_t)r->oif;
	if ((r->dst_len && put_attr(buf, cap, RTA_DST, r->dst, alen) < 0) ||
	    (r->has_gw && put_attr(buf, cap, RTA_GATEWAY, r->gw, alen) < 0) ||
	    (r->has_src && put_attr(buf, cap, RTA_PREFSRC, r->src, alen) < 0) ||
	    put_attr(buf, cap, RTA_OIF, &oif, sizeof oif) < 0 ||
	    (r->metric && put_attr(buf, cap, RTA_PRIORITY, &r->metric, sizeof r->metric) < 0))
		return too_small(err);
	return ((struct nlmsghdr *)buf)->nlmsg_len;
}

ssize_t agent_nl_getlink_msg(void *buf, size_t cap)
{
	struct ifinfomsg *ifi = msg_start(buf, cap, RTM_GETLINK, NLM_F_DUMP, sizeof *ifi);
	if (!ifi)
		return -1;
	ifi->ifi_family = AF_UNSPEC;
	return ((struct nlmsghdr *)buf)->nlmsg_len;
}

/* ---- replies ---- */

/* The kernel's extended ACK message (NLMSGERR_ATTR_MSG), if any. */
static void ext_msg(const struct nlmsghdr *h, char *msg, size_t msglen)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = NLMSG_HDRLEN + sizeof *e;
	if (!(h->nlmsg_flags & NLM_F_CAPPED)) /* the request's payload is echoed */
		off += e->msg.nlmsg_len > NLMSG_HDRLEN ? e->msg.nlmsg_len - NLMSG_HDRLEN : 0;
	off = NLMSG_ALIGN(off);
	while (off + sizeof(struct nlattr) <= h->nlmsg_len) {
		const struct nlattr *a = (const void *)((const char *)h + off);
		if (a->nla_len < sizeof *a || off + a->nla_len > h->nlmsg_len)
			return;
		size_t dlen = a->nla_len - sizeof *a;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && dlen) {
			snprintf(msg, msglen, "%.*s", (int)dlen, (const char *)(a + 1));
			return;
		}
		off += NLA_ALIGN(a->nla_len);
	}
}

int agent_nl_parse_ack(const void *buf, size_t len, uint32_t seq, int *error, char *msg,
		       size_t msglen)
{
	if (msg && msglen)
		msg[0] = 0;
	for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
			continue;
		if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return -1;
		const struct nlmsgerr *e = NLMSG_DATA(h);
		*error = e->error;
		if (e->error && msg && msglen)
			ext_msg(h, msg, msglen);
		return 1;
	}
	return len ? (len < NLMSG_HDRLEN ? -1 : 0) : 0;
}

int agent_nl_parse_link(const void *m, size_t len, struct agent_nl_linkinfo *li)
{
	const struct nlmsghdr *h = m;
	memset(li, 0, sizeof *li);
	if (len < NLMSG_LENGTH(sizeof(struct ifinfomsg)) || h->nlmsg_len > len ||
	    h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return -1;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	li->ifindex = ifi->ifi_index;
	li->flags = ifi->ifi_flags;
	li->type = ifi->ifi_type;
	size_t alen = h->nlmsg_len - NLMSG_LENGTH(sizeof *ifi);
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		size_t dlen = RTA_PAYLOAD(a);
		if (a->rta_type == IFLA_IFNAME && dlen)
			snprintf(li->name, sizeof li->name, "%.*s", (int)dlen,
				 (const char *)RTA_DATA(a));
		else if (a->rta_type == IFLA_ADDRESS && dlen == 6) {
			memcpy(li->mac, RTA_DATA(a), 6);
			li->has_mac = true;
		}
	}
	return li->name[0] ? 0 : -1;
}

int agent_nl_find_mac(const struct agent_nl_linkinfo *ls, size_t n, const uint8_t mac[6])
{
	for (size_t i = 0; i < n; i++)
		if (ls[i].has_mac && !memcmp(ls[i].mac, mac, 6))
			return (int)i;
	return -1;
}

int agent_nl_find_name(const struct agent_nl_linkinfo *ls, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ls[i].name, name))
			return (int)i;
	return -1;
}

/* ---- the socket ---- */

int agent_nl_open(struct agent_nl *nl, struct husk_err *err)
{
	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl->fd < 0)
		return husk_err_sys(err, errno, "netlink socket");
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int one = 1;
	struct timeval tv = {.tv_sec = 5};
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		agent_nl_close(nl);
		return husk_err_sys(err, e, "netlink bind");
	}
	/* best effort: the kernel's own words in errors, no echo of requests */
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
	setsockopt(nl->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	setsockopt(nl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return 0;
}

void agent_nl_close(struct agent_nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

static int send_msg(struct agent_nl *nl, void *msg, size_t len, uint16_t flags, const char *what,
		    struct husk_err *err)
{
	struct nlmsghdr *h = msg;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	h->nlmsg_seq = ++nl->seq;
	h->nlmsg_flags |= flags;
	if (sendto(nl->fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof kernel) != (ssize_t)len)
		return husk_err_sys(err, errno, "%s: netlink send", what);
	return 0;
}

/* A datagram from the kernel (others are dropped); its length. */
static ssize_t recv_msg(struct agent_nl *nl, void *buf, size_t cap, const char *what,
			struct husk_err *err)
{
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(nl->fd, buf, cap, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return husk_err_sys(err, errno, "%s: netlink receive", what);
		if ((size_t)n > cap)
			return husk_err_set(err, EMSGSIZE, "%s: netlink reply truncated", what);
		if (from.nl_pid == 0)
			return n;
	}
}

int agent_nl_call(struct agent_nl *nl, void *msg, size_t len, const char *what,
		  struct husk_err *err)
{
	uint32_t buf[2048]; /* an error echoes at most our request, plus TLVs */
	if (send_msg(nl, msg, len, NLM_F_ACK, what, err) < 0)
		return -1;
	for (;;) {
		ssize_t n = recv_msg(nl, buf, sizeof buf, what, err);
		if (n < 0)
			return -1;
		int e = 0;
		char kmsg[200];
		int r = agent_nl_parse_ack(buf, (size_t)n, nl->seq, &e, kmsg, sizeof kmsg);
		if (r < 0)
			return husk_err_set(err, EPROTO, "%s: malformed netlink reply", what);
		if (!r)
			continue;
		if (!e)
			return 0;
		if (kmsg[0])
			return husk_err_set(err, -e, "%s: %s (%s)", what, strerror(-e), kmsg);
		return husk_err_sys(err, -e, "%s", what);
	}
}

int agent_nl_links(struct agent_nl *nl, struct agent_nl_linkinfo *out, size_t max, size_t *n,
		   struct husk_err *err)
{
	char req[NLMSG_SPACE(sizeof(struct ifinfomsg))];
	_cleanup_free_ uint32_t *buf = malloc(32768);
	*n = 0;
	ssize_t len = agent_nl_getlink_msg(req, sizeof req);
	if (!buf)
		return husk_err_set(err, ENOMEM, "listing network devices");
	if (send_msg(nl, req, (size_t)len, 0, "listing network devices", err) < 0)
		return -1;
	for (;;) {
		ssize_t got = recv_msg(nl, buf, 32768, "listing network devices", err);
		if (got < 0)
			return -1;
		size_t left = (size_t)got;
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != nl->seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return husk_err_sys(err, e->error ? -e->error : EPROTO,
						    "listing network devices");
			}
			if (*n < max && agent_nl_parse_link(h, h->nlmsg_len, &out[*n]) == 0)
				(*n)++;
		}
	}
}
