/* Unit tests for the agent's rtnetlink messages (agent/netlink.c) and its
 * reader of the host's network description (agent/net.c): the builders
 * and parsers are pure, so they run on the host, under ASan in `make
 * sanitize`. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../agent/net.h"
#include "../../agent/netlink.h"

#include "../../init/init.h"

/* agent/net.c reports a namespace it cannot leave through PID 1's fatal
 * path; the pure parts tested here never reach it. */
void init_fatal(const char *fmt, ...)
{
	abort();
}

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

static uint8_t buf[AGENT_NL_MSG_MAX];

/* The attribute of TYPE in the message (its payload after HLEN bytes of
 * family header); checks every attribute is aligned and padded with 0. */
static const struct rtattr *attr(size_t hlen, unsigned short type)
{
	const struct nlmsghdr *h = (const void *)buf;
	size_t off = NLMSG_SPACE(hlen);
	const struct rtattr *found = NULL;
	while (off < h->nlmsg_len) {
		const struct rtattr *a = (const void *)(buf + off);
		assert_true(a->rta_len >= RTA_LENGTH(0));
		assert_true(off + RTA_ALIGN(a->rta_len) <= h->nlmsg_len);
		for (size_t p = off + a->rta_len; p < off + RTA_ALIGN(a->rta_len); p++)
			assert_int_equal(buf[p], 0);
		if (a->rta_type == type)
			found = a;
		off += RTA_ALIGN(a->rta_len);
	}
	assert_int_equal(off, h->nlmsg_len);
	return found;
}

static void assert_attr(size_t hlen, unsigned short type, const void *data, size_t len)
{
	const struct rtattr *a = attr(hlen, type);
	if (!a)
		fail_msg("attribute %u missing", type);
	assert_int_equal(RTA_PAYLOAD(a), len);
	assert_memory_equal(RTA_DATA(a), data, len);
}

static void fails(ssize_t r, const struct husk_err *err, int code, const char *needle)
{
	assert_int_equal(r, -1);
	assert_int_equal(err->code, code);
	assert_contains(err->msg, needle);
}

static void test_parse_mac(void **state)
{
	uint8_t m[6];
	struct husk_err err = {0};
	assert_int_equal(agent_nl_parse_mac("02:42:AC:11:00:02", m, &err), 0);
	assert_memory_equal(m, ((uint8_t[]){2, 0x42, 0xac, 0x11, 0, 2}), 6);
	const char *bad[] = {"02:42:ac:11:00",	  "02:42:ac:11:00:02:03", "02:42:ac:11:00:0g",
			     "0242ac110002",	  "02:42:ac:11:00:2",	  "",
			     "02:42:ac:11:00:02 "};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		fails(agent_nl_parse_mac(bad[i], m, &err), &err, EINVAL, "not a MAC");
	fails(agent_nl_parse_mac("01:00:5e:00:00:01", m, &err), &err, EINVAL, "multicast");
}

static void test_parse_prefix(void **state)
{
	struct agent_nl_addr a;
	struct husk_err err = {0};
	assert_int_equal(agent_nl_parse_prefix("10.88.0.5/16", &a, &err), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.prefix, 16);
	assert_memory_equal(a.addr, ((uint8_t[]){10, 88, 0, 5}), 4);
	assert_int_equal(agent_nl_parse_prefix("fd00::5/64", &a, &err), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix, 64);
	assert_int_equal(a.addr[0], 0xfd);
	assert_int_equal(a.addr[15], 5);
	assert_int_equal(agent_nl_parse_prefix("0.0.0.0/0", &a, &err), 0);
	assert_int_equal(agent_nl_parse_prefix("::1/128", &a, &err), 0);
	assert_int_equal(a.prefix, 128);
	fails(agent_nl_parse_prefix("10.0.0.1/33", &a, &err), &err, ERANGE, "out of range (0-32)");
	fails(agent_nl_parse_prefix("fd00::1/129", &a, &err), &err, ERANGE, "(0-128)");
	fails(agent_nl_parse_prefix("10.0.0.1/-1", &a, &err), &err, ERANGE, "out of range");
	fails(agent_nl_parse_prefix("10.0.0.1/2x", &a, &err), &err, ERANGE, "out of range");
	fails(agent_nl_parse_prefix("10.0.0.1/ 8", &a, &err), &err, ERANGE, "out of range");
	fails(agent_nl_parse_prefix("10.0.0.1", &a, &err), &err, EINVAL, "not an address/prefix");
	fails(agent_nl_parse_prefix("10.0.0.1/", &a, &err), &err, EINVAL, "not an address/prefix");
	fails(agent_nl_parse_prefix("10.0.0.256/8", &a, &err), &err, EINVAL, "not an IP address");
	fails(agent_nl_parse_prefix("eth0/8", &a, &err), &err, EINVAL, "not an IP address");
	int family;
	uint8_t ip[16];
	assert_int_equal(agent_nl_parse_ip("fe80::1", &family, ip, &err), 0);
	assert_int_equal(family, AF_INET6);
	fails(agent_nl_parse_ip("10.0.0.1/8", &family, ip, &err), &err, EINVAL, "not an IP");
}

static void test_link_msg(void **state)
{
	struct husk_err err = {0};
	uint8_t mac[6] = {2, 0x42, 0xac, 0x11, 0, 2};
	uint32_t mtu = 1400;
	struct agent_nl_link l = {.ifindex = 3, .name = "eth0", .mac = mac, .mtu = mtu, .up = 1};
	ssize_t n = agent_nl_link_msg(buf, sizeof buf, &l, &err);
	const struct nlmsghdr *h = (const void *)buf;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	/* header 16 + ifinfomsg 16 + "eth0\0" 12 + MAC 12 + MTU 8 */
	assert_int_equal(n, 64);
	assert_int_equal(h->nlmsg_len, 64);
	assert_int_equal(h->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST);
	assert_int_equal(h->nlmsg_seq, 0);
	assert_int_equal(ifi->ifi_family, AF_UNSPEC);
	assert_int_equal(ifi->ifi_index, 3);
	assert_int_equal(ifi->ifi_flags, IFF_UP);
	assert_int_equal(ifi->ifi_change, IFF_UP);
	assert_attr(sizeof *ifi, IFLA_IFNAME, "eth0", 5);
	assert_attr(sizeof *ifi, IFLA_ADDRESS, mac, 6);
	assert_attr(sizeof *ifi, IFLA_MTU, &mtu, 4);

	struct agent_nl_link down = {.ifindex = 7, .up = 0};
	assert_int_equal(agent_nl_link_msg(buf, sizeof buf, &down, &err), 32);
	assert_int_equal(ifi->ifi_flags, 0);
	assert_int_equal(ifi->ifi_change, IFF_UP);
	struct agent_nl_link keep = {.ifindex = 7, .mtu = 9000, .up = -1};
	assert_int_equal(agent_nl_link_msg(buf, sizeof buf, &keep, &err), 40);
	assert_int_equal(ifi->ifi_change, 0);
	assert_null(attr(sizeof *ifi, IFLA_IFNAME));

	struct agent_nl_link bad = {.ifindex = 3, .name = "a/b", .up = -1};
	fails(agent_nl_link_msg(buf, sizeof buf, &bad, &err), &err, EINVAL, "\"a/b\"");
	bad.name = "sixteen-chars-xx";
	fails(agent_nl_link_msg(buf, sizeof buf, &bad, &err), &err, EINVAL, "not a valid");
	bad.name = "..";
	fails(agent_nl_link_msg(buf, sizeof buf, &bad, &err), &err, EINVAL, "not a valid");
	bad.name = NULL;
	bad.mtu = 67;
	fails(agent_nl_link_msg(buf, sizeof buf, &bad, &err), &err, ERANGE, "MTU 67");
	bad.mtu = 0;
	bad.ifindex = 0;
	fails(agent_nl_link_msg(buf, sizeof buf, &bad, &err), &err, EINVAL, "ifindex 0");
	fails(agent_nl_link_msg(buf, 40, &l, &err), &err, EMSGSIZE, "too small");
	fails(agent_nl_link_msg(buf, 8, &l, &err), &err, EMSGSIZE, "too small");
}

static void test_addr_msg(void **state)
{
	struct husk_err err = {0};
	struct agent_nl_addr a;
	const struct nlmsghdr *h = (const void *)buf;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	assert_int_equal(agent_nl_parse_prefix("10.88.0.5/16", &a, &err), 0);
	/* header 16 + ifaddrmsg 8 + local 8 + address 8 + broadcast 8 */
	assert_int_equal(agent_nl_addr_msg(buf, sizeof buf, 2, &a, true, &err), 48);
	assert_int_equal(h->nlmsg_type, RTM_NEWADDR);
	assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
	assert_int_equal(ifa->ifa_family, AF_INET);
	assert_int_equal(ifa->ifa_prefixlen, 16);
	assert_int_equal(ifa->ifa_index, 2);
	assert_int_equal(ifa->ifa_flags, 0); /* NODAD is for IPv6 */
	assert_attr(sizeof *ifa, IFA_LOCAL, a.addr, 4);
	assert_attr(sizeof *ifa, IFA_ADDRESS, a.addr, 4);
	assert_attr(sizeof *ifa, IFA_BROADCAST, ((uint8_t[]){10, 88, 255, 255}), 4);

	assert_int_equal(agent_nl_parse_prefix("192.168.1.1/31", &a, &err), 0);
	assert_int_equal(agent_nl_addr_msg(buf, sizeof buf, 2, &a, false, &err), 40);
	assert_null(attr(sizeof *ifa, IFA_BROADCAST));

	assert_int_equal(agent_nl_parse_prefix("fd00::5/64", &a, &err), 0);
	/* header 16 + ifaddrmsg 8 + two 16-byte addresses of 20 */
	assert_int_equal(agent_nl_addr_msg(buf, sizeof buf, 4, &a, true, &err), 64);
	assert_int_equal(ifa->ifa_family, AF_INET6);
	assert_int_equal(ifa->ifa_prefixlen, 64);
	assert_int_equal(ifa->ifa_flags, IFA_F_NODAD);
	assert_attr(sizeof *ifa, IFA_ADDRESS, a.addr, 16);
	assert_null(attr(sizeof *ifa, IFA_BROADCAST));

	a.prefix = 129;
	fails(agent_nl_addr_msg(buf, sizeof buf, 4, &a, true, &err), &err, ERANGE, "IPv6");
	a.prefix = 64;
	fails(agent_nl_addr_msg(buf, sizeof buf, 0, &a, true, &err), &err, EINVAL, "ifindex 0");
	a.family = AF_UNIX;
	fails(agent_nl_addr_msg(buf, sizeof buf, 4, &a, true, &err), &err, EAFNOSUPPORT,
	      "not IPv4 or IPv6");
}

static void test_route_msg(void **state)
{
	struct husk_err err = {0};
	const struct nlmsghdr *h = (const void *)buf;
	const struct rtmsg *rtm = NLMSG_DATA(h);
	struct agent_nl_route r = {.family = AF_INET, .has_gw = true, .oif = 2};
	uint32_t oif = 2, metric = 100;
	inet_pton(AF_INET, "10.88.0.1", r.gw);
	/* default via 10.88.0.1: header 16 + rtmsg 12 + gateway 8 + oif 8 */
	assert_int_equal(agent_nl_route_msg(buf, sizeof buf, &r, &err), 44);
	assert_int_equal(h->nlmsg_type, RTM_NEWROUTE);
	assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
	assert_int_equal(rtm->rtm_family, AF_INET);
	assert_int_equal(rtm->rtm_dst_len, 0);
	assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
	assert_int_equal(rtm->rtm_type, RTN_UNICAST);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
	assert_int_equal(rtm->rtm_flags, 0);
	assert_null(attr(sizeof *rtm, RTA_DST));
	assert_attr(sizeof *rtm, RTA_GATEWAY, r.gw, 4);
	assert_attr(sizeof *rtm, RTA_OIF, &oif, 4);

	/* a link route: 10.89.0.0/16 dev 2 */
	struct agent_nl_route l = {.family = AF_INET, .dst_len = 16, .oif = 2};
	inet_pton(AF_INET, "10.89.0.0", l.dst);
	assert_int_equal(agent_nl_route_msg(buf, sizeof buf, &l, &err), 44);
	assert_int_equal(rtm->rtm_scope, RT_SCOPE_LINK);
	assert_int_equal(rtm->rtm_dst_len, 16);
	assert_attr(sizeof *rtm, RTA_DST, l.dst, 4);
	assert_null(attr(sizeof *rtm, RTA_GATEWAY));

	/* IPv6 via a link-local gateway, onlink, with metric and source */
	struct agent_nl_route v6 = {.family = AF_INET6,
				    .dst_len = 48,
				    .has_gw = true,
				    .has_src = true,
				    .onlink = true,
				    .oif = 2,
				    .metric = metric};
	inet_pton(AF_INET6, "fd01:2::", v6.dst);
	inet_pton(AF_INET6, "fe80::1", v6.gw);
	inet_pton(AF_INET6, "fd00::5", v6.src);
	/* 16 + 12 + dst 20 + gateway 20 + source 20 + oif 8 + metric 8 */
	assert_int_equal(agent_nl_route_msg(buf, sizeof buf, &v6, &err), 104);
	assert_int_equal(rtm->rtm_family, AF_INET6);
	assert_int_equal(rtm->rtm_flags, RTNH_F_ONLINK);
	assert_attr(sizeof *rtm, RTA_DST, v6.dst, 16);
	assert_attr(sizeof *rtm, RTA_GATEWAY, v6.gw, 16);
	assert_attr(sizeof *rtm, RTA_PREFSRC, v6.src, 16);
	assert_attr(sizeof *rtm, RTA_PRIORITY, &metric, 4);

	inet_pton(AF_INET, "10.89.0.1", l.dst);
	fails(agent_nl_route_msg(buf, sizeof buf, &l, &err), &err, EINVAL, "past /16");
	v6.dst_len = 129;
	fails(agent_nl_route_msg(buf, sizeof buf, &v6, &err), &err, ERANGE, "out of range");
	r.oif = 0;
	fails(agent_nl_route_msg(buf, sizeof buf, &r, &err), &err, EINVAL, "without a device");
	r.oif = 2;
	fails(agent_nl_route_msg(buf, 40, &r, &err), &err, EMSGSIZE, "too small");
}

/* An NLMSG_ERROR for SEQ at BUF+OFF with an extended message EXT: capped,
 * or echoing ECHO bytes of the request's payload as the kernel does
 * without NETLINK_CAP_ACK. */
static size_t put_error_echo(size_t off, uint32_t seq, int error, const char *ext, size_t echo)
{
	struct nlmsghdr *h = (void *)(buf + off);
	struct nlmsgerr *e = NLMSG_DATA(h);
	memset(h, 0, NLMSG_SPACE(sizeof *e) + echo);
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_seq = seq;
	h->nlmsg_len = NLMSG_LENGTH(sizeof *e + echo);
	h->nlmsg_flags = echo ? 0 : NLM_F_CAPPED;
	e->error = error;
	e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + (echo ? echo : 28));
	memset(e + 1, 0x5a, echo); /* an echoed payload that is no attribute */
	if (ext) {
		struct nlattr *a = (void *)(buf + off + NLMSG_ALIGN(h->nlmsg_len));
		size_t l = strlen(ext) + 1;
		a->nla_type = NLMSGERR_ATTR_MSG;
		a->nla_len = (uint16_t)(NLA_HDRLEN + l);
		memcpy(a + 1, ext, l);
		h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
		h->nlmsg_flags |= NLM_F_ACK_TLVS;
	}
	return off + NLMSG_ALIGN(h->nlmsg_len);
}

static size_t put_error(size_t off, uint32_t seq, int error, const char *ext)
{
	return put_error_echo(off, seq, error, ext, 0);
}

static void test_parse_ack(void **state)
{
	int e = 1;
	char msg[64];
	size_t len = put_error(0, 7, 0, NULL);
	assert_int_equal(agent_nl_parse_ack(buf, len, 7, &e, msg, sizeof msg), 1);
	assert_int_equal(e, 0);
	assert_int_equal(agent_nl_parse_ack(buf, len, 8, &e, msg, sizeof msg), 0);
	/* someone else's error first, then ours with the kernel's words */
	len = put_error(0, 3, -ENOENT, NULL);
	len = put_error(len, 9, -EEXIST, "Nexthop has invalid gateway");
	assert_int_equal(agent_nl_parse_ack(buf, len, 9, &e, msg, sizeof msg), 1);
	assert_int_equal(e, -EEXIST);
	assert_string_equal(msg, "Nexthop has invalid gateway");
	/* the request echoed before the attributes */
	len = put_error_echo(0, 11, -ENODEV, "Cannot find device", 24);
	assert_int_equal(agent_nl_parse_ack(buf, len, 11, &e, msg, sizeof msg), 1);
	assert_int_equal(e, -ENODEV);
	assert_string_equal(msg, "Cannot find device");
	/* a header cut short, and an error too short for its payload */
	assert_int_equal(agent_nl_parse_ack(buf, 10, 9, &e, msg, sizeof msg), -1);
	struct nlmsghdr *h = (void *)buf;
	len = put_error(0, 4, -EINVAL, NULL);
	h->nlmsg_len = NLMSG_LENGTH(2);
	assert_int_equal(agent_nl_parse_ack(buf, NLMSG_LENGTH(2), 4, &e, msg, sizeof msg), -1);
}

static void test_parse_link(void **state)
{
	struct agent_nl_linkinfo ls[2];
	struct nlmsghdr *h = (void *)buf;
	struct husk_err err = {0};
	uint8_t mac[6] = {2, 'h', 'u', 's', 'k', 0};
	struct agent_nl_link l = {.ifindex = 5, .name = "eth1", .mac = mac, .up = -1};
	ssize_t n = agent_nl_link_msg(buf, sizeof buf, &l, &err);
	assert_true(n > 0);
	((struct ifinfomsg *)NLMSG_DATA(h))->ifi_flags = IFF_UP;
	assert_int_equal(agent_nl_parse_link(buf, (size_t)n, &ls[0]), 0);
	assert_int_equal(ls[0].ifindex, 5);
	assert_string_equal(ls[0].name, "eth1");
	assert_true(ls[0].has_mac);
	assert_memory_equal(ls[0].mac, mac, 6);
	assert_int_equal(ls[0].flags, IFF_UP);
	memset(&ls[1], 0, sizeof ls[1]);
	snprintf(ls[1].name, sizeof ls[1].name, "lo");
	assert_int_equal(agent_nl_find_mac(ls, 2, mac), 0);
	assert_int_equal(agent_nl_find_name(ls, 2, "lo"), 1);
	mac[5] = 1;
	assert_int_equal(agent_nl_find_mac(ls, 2, mac), -1);
	assert_int_equal(agent_nl_parse_link(buf, 20, &ls[0]), -1);
	h->nlmsg_type = RTM_NEWADDR;
	assert_int_equal(agent_nl_parse_link(buf, (size_t)n, &ls[0]), -1);
}

/* ---- agent/net.c's reader ---- */

static int parse(const char *text, struct agent_net *c, struct husk_err *err)
{
	struct json_object *o = json_tokener_parse(text);
	if (!o)
		fail_msg("test JSON does not parse: %s", text);
	memset(err, 0, sizeof *err);
	int r = agent_net_parse(o, c, err);
	json_object_put(o);
	return r;
}

#define IF0 "{\"name\":\"eth0\",\"mac\":\"02:42:ac:11:00:02\",\"mtu\":1400,"
static const char good[] =
    "{\"interfaces\":[" IF0 "\"guest_mac\":\"02:68:75:73:6b:00\","
    "\"addresses\":[\"172.17.0.2/16\",\"fd00::2/64\"]}],"
    "\"routes\":[{\"family\":\"inet\",\"dest\":\"default\",\"gateway\":\"172.17.0.1\","
    "\"dev\":\"eth0\"},{\"dest\":\"10.1.0.0/16\",\"dev\":\"eth0\",\"metric\":5},"
    "{\"family\":\"inet6\",\"dest\":\"default\",\"dev\":\"eth0\",\"onlink\":true}]}";

static void test_net_parse(void **state)
{
	static struct agent_net c;
	struct husk_err err;
	assert_int_equal(parse(good, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.ifs[0].name, "eth0");
	assert_int_equal(c.ifs[0].mtu, 1400);
	assert_true(c.ifs[0].up);
	assert_true(c.ifs[0].has_guest_mac);
	assert_int_equal(c.ifs[0].guest_mac[1], 'h');
	assert_int_equal(c.ifs[0].naddrs, 2);
	assert_int_equal(c.ifs[0].addrs[1].family, AF_INET6);
	assert_int_equal(c.nroutes, 3);
	assert_true(c.routes[0].r.has_gw);
	assert_string_equal(c.routes[0].desc, "default via 172.17.0.1 dev eth0");
	assert_int_equal(c.routes[1].r.family, AF_INET);
	assert_int_equal(c.routes[1].r.dst_len, 16);
	assert_int_equal(c.routes[1].r.metric, 5);
	assert_int_equal(c.routes[2].r.family, AF_INET6);
	assert_true(c.routes[2].r.onlink);
	assert_int_equal(parse("{}", &c, &err), 0);
	assert_int_equal(c.n, 0);
}

static void net_fails(const char *text, int code, const char *needle)
{
	static struct agent_net c;
	struct husk_err err;
	if (parse(text, &c, &err) == 0)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.code, code);
	assert_contains(err.msg, needle);
	assert_int_equal(c.n, 0);
}

static void test_net_parse_errors(void **state)
{
	net_fails("{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"02:42:ac:11:00\"}]}", EINVAL,
		  "interfaces[0].mac: \"02:42:ac:11:00\" is not a MAC address");
	net_fails("{\"interfaces\":[" IF0 "\"addresses\":[\"10.0.0.2/40\"]}]}", ERANGE,
		  "interfaces[0].addresses[0]: \"10.0.0.2/40\": prefix length out of range");
	net_fails("{\"interfaces\":[" IF0 "\"addresses\":[\"10.0.0/8\"]}]}", EINVAL,
		  "not an IP address");
	net_fails("{\"interfaces\":[{\"mac\":\"02:42:ac:11:00:02\"}]}", EINVAL,
		  "interfaces[0].name is missing");
	net_fails("{\"interfaces\":[{\"name\":\"lo\",\"mac\":\"02:42:ac:11:00:02\"}]}", EINVAL,
		  "\"lo\"");
	net_fails("{\"interfaces\":[" IF0 "\"up\":1}]}", EINVAL, "up is not true or false");
	net_fails("{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"02:42:ac:11:00:02\","
		  "\"mtu\":70000}]}",
		  ERANGE, "mtu");
	net_fails("{\"interfaces\":[" IF0 "\"up\":true}," IF0 "\"up\":true}]}", EINVAL,
		  "two interfaces named eth0");
	net_fails("{\"interfaces\":[" IF0 "\"up\":true}],\"routes\":[{\"dest\":\"default\","
		  "\"dev\":\"eth0\"}]}",
		  EINVAL, "needs a family or a gateway");
	net_fails("{\"interfaces\":[" IF0 "\"up\":true}],\"routes\":[{\"dest\":\"default\","
		  "\"gateway\":\"10.0.0.1\",\"dev\":\"eth9\"}]}",
		  EINVAL, "routes[0].dev \"eth9\"");
	net_fails("{\"interfaces\":[" IF0 "\"up\":true}],\"routes\":[{\"family\":\"inet6\","
		  "\"dest\":\"default\",\"gateway\":\"10.0.0.1\",\"dev\":\"eth0\"}]}",
		  EINVAL, "not of the route's family");
	net_fails("{\"interfaces\":[" IF0 "\"up\":true}],\"routes\":[{\"dest\":\"10.0.0.0/33\","
		  "\"dev\":\"eth0\"}]}",
		  ERANGE, "routes[0].dest");
	net_fails("{\"interfaces\":{}}", EINVAL, "must be arrays");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mac),	     cmocka_unit_test(test_parse_prefix),
	    cmocka_unit_test(test_link_msg),	     cmocka_unit_test(test_addr_msg),
	    cmocka_unit_test(test_route_msg),	     cmocka_unit_test(test_parse_ack),
	    cmocka_unit_test(test_parse_link),	     cmocka_unit_test(test_net_parse),
	    cmocka_unit_test(test_net_parse_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
