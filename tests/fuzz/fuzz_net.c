/* Fuzz the agent's reader of network.configure's object (agent/net.c,
 * agent_net_parse): it runs in the guest on input from the host. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../agent/net.h"
#include "../../init/init.h"

/* agent/net.c's namespace code calls PID 1's fatal path; parsing never does */
void init_fatal(const char *fmt, ...)
{
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct agent_net *c = calloc(1, sizeof *c);
	struct husk_err err = {0};
	struct json_object *o = NULL;
	if (!tok || !c)
		goto out;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (!o)
		goto out;
	if (agent_net_parse(o, c, &err) == 0) {
		/* what a successful parse promises the code that applies it */
		if (c->n > AGENT_NET_MAX_IFACES || c->nroutes > AGENT_NET_MAX_ROUTES)
			abort();
		for (size_t i = 0; i < c->n; i++) {
			if (!agent_nl_valid_ifname(c->ifs[i].name) ||
			    c->ifs[i].naddrs > AGENT_NET_MAX_ADDRS)
				abort();
			for (size_t k = 0; k < c->ifs[i].naddrs; k++) {
				const struct agent_nl_addr *a = &c->ifs[i].addrs[k];
				if (a->prefix > (a->family == AF_INET ? 32 : 128))
					abort();
			}
		}
		for (size_t i = 0; i < c->nroutes; i++)
			if (c->routes[i].iface >= c->n)
				abort();
	} else if (!err.msg[0]) {
		abort(); /* every failure says why */
	}
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	free(c);
	return 0;
}
