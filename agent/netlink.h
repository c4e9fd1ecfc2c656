/* A small rtnetlink client for the guest: links, addresses and routes.
 * No libnl or libmnl: the few messages the agent sends are built here.
 * Building and parsing are pure functions on caller buffers, unit-tested
 * on the host (tests/unit/test_netlink.c); only agent_nl_open/call/links
 * touch a socket. */
#ifndef HUSK_AGENT_NETLINK_H
#define HUSK_AGENT_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "husk-err.h"

/* Room for any one request built here. */
#define AGENT_NL_MSG_MAX 512

/* RTM_NEWLINK: what to change on link IFINDEX; unset fields stay. */
struct agent_nl_link {
	int ifindex;
	const char *name;   /* NULL: keep */
	const uint8_t *mac; /* 6 bytes, or NULL: keep */
	uint32_t mtu;	    /* 0: keep */
	int up;		    /* -1: keep, 0: down, 1: up */
	int netns_fd;	    /* > 0: move the link into that network namespace */
};

struct agent_nl_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
};

struct agent_nl_route {
	int family;
	uint8_t dst[16];
	uint8_t dst_len; /* 0: default route */
	bool has_gw, has_src, onlink;
	uint8_t gw[16];
	uint8_t src[16]; /* preferred source address */
	int oif;
	uint32_t metric; /* 0: the kernel's default */
};

/* One link of an RTM_GETLINK dump. */
struct agent_nl_linkinfo {
	int ifindex;
	char name[IFNAMSIZ];
	uint8_t mac[6];
	bool has_mac;
	unsigned flags;	     /* IFF_* */
	unsigned short type; /* ARPHRD_* */
};

/* ---- pure: text ---- */
int agent_nl_parse_mac(const char *s, uint8_t mac[6], struct husk_err *err);
/* An IPv4 or IPv6 address without a prefix. */
int agent_nl_parse_ip(const char *s, int *family, uint8_t addr[16], struct husk_err *err);
/* "address/prefix", the prefix required and in range for the family. */
int agent_nl_parse_prefix(const char *s, struct agent_nl_addr *a, struct husk_err *err);
/* A name the kernel takes for a network device. */
bool agent_nl_valid_ifname(const char *name);

/* ---- pure: messages (sequence number 0: agent_nl_call sets it) ----
 * Each returns the message length, or -1 with err set. */
ssize_t agent_nl_link_msg(void *buf, size_t cap, const struct agent_nl_link *l,
			  struct husk_err *err);
/* RTM_NEWADDR (create or replace); IPv6 addresses skip duplicate address
 * detection when NODAD; IPv4 ones get their broadcast address. */
ssize_t agent_nl_addr_msg(void *buf, size_t cap, int ifindex, const struct agent_nl_addr *a,
			  bool nodad, struct husk_err *err);
/* RTM_NEWROUTE in the main table (create or replace): scope link without
 * a gateway, universe with one. */
ssize_t agent_nl_route_msg(void *buf, size_t cap, const struct agent_nl_route *r,
			   struct husk_err *err);
/* RTM_GETLINK dump request. */
ssize_t agent_nl_getlink_msg(void *buf, size_t cap);

/* ---- pure: replies ---- */
/* Looks for the ACK or error of request SEQ in BUF: 1 found (*error 0 or
 * a negative errno, the kernel's extended message in MSG if any), 0 not
 * there, -1 malformed. */
int agent_nl_parse_ack(const void *buf, size_t len, uint32_t seq, int *error, char *msg,
		       size_t msglen);
/* One RTM_NEWLINK message of a dump. */
int agent_nl_parse_link(const void *msg, size_t len, struct agent_nl_linkinfo *li);
/* The position in LS of the link with that MAC or name, or -1. */
int agent_nl_find_mac(const struct agent_nl_linkinfo *ls, size_t n, const uint8_t mac[6]);
int agent_nl_find_name(const struct agent_nl_linkinfo *ls, size_t n, const char *name);

/* ---- the socket ---- */
struct agent_nl {
	int fd;
	uint32_t seq;
};
int agent_nl_open(struct agent_nl *nl, struct husk_err *err);
void agent_nl_close(struct agent_nl *nl);
/* Sends the request in MSG (LEN bytes) with NLM_F_ACK and waits for its
 * ACK; an error is reported as "WHAT: strerror (kernel's message)". */
int agent_nl_call(struct agent_nl *nl, void *msg, size_t len, const char *what,
		  struct husk_err *err);
/* Every link: up to MAX in OUT, their number in *N. */
int agent_nl_links(struct agent_nl *nl, struct agent_nl_linkinfo *out, size_t max, size_t *n,
		   struct husk_err *err);

#endif
