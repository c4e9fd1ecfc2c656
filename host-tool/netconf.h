/* The container's network as a VM sees it: which mode, the namespace the
 * VMM runs in, the NICs QEMU gets and what the agent is told.
 *
 *  mirror: config.json has a network namespace. With a path (podman, CNI)
 *          the proxy enters it and mirrors its interfaces (netmirror.h)
 *          before QEMU starts, so the NICs carry their MAC and MTU. Without
 *          one (docker) the proxy makes it, so that the PID husk reports is
 *          inside it, and QEMU gets placeholder NICs: the interfaces appear
 *          only when the caller's hooks have run, and are mirrored then.
 *  user:   no network namespace (--network host): a VM cannot share the
 *          host's stack, so QEMU's user-mode network gives it a way out.
 *  none:   lo only.
 * The annotation husk.vm.network = mirror | user | none overrides. */
#ifndef HUSK_NETCONF_H
#define HUSK_NETCONF_H

#include <stdbool.h>

#include "config.h"
#include "netmirror.h"
#include "vm.h"

enum husk_netmode { HUSK_NETMODE_NONE = 0, HUSK_NETMODE_MIRROR, HUSK_NETMODE_USER };

struct husk_netconf {
	enum husk_netmode mode;
	bool has_ns;	       /* config.json has a network namespace */
	const char *ns_path;   /* its path, or NULL: husk makes it */
	unsigned placeholders; /* NICs QEMU gets before the interfaces are known */
	bool pending;	       /* mirror mode: interfaces not known yet */
	bool entered;	       /* the proxy is in the container's namespace */
	int host_ns;	       /* the one it came from (hooks run there), or -1 */
	struct husk_net net;
	struct husk_net_mirror m;
};

/* The mode from config.json and husk.vm.network (pure: nothing is entered).
 * Errors name the annotation. */
int husk_netconf_resolve(const struct husk_config *c, struct husk_netconf *nc,
			 struct husk_err *err);
/* In the proxy, before QEMU starts and before any thread: enter (or make)
 * the namespace, mirror what it has or make placeholder taps, and give vo
 * its NICs. max_nics is what the machine has room for. */
int husk_netconf_setup(struct husk_netconf *nc, struct husk_vm_opts *vo, unsigned max_nics,
		       struct husk_err *err);
/* The object for the agent's network.configure, or NULL when there is
 * nothing to say yet (placeholders waiting for the hooks, or none). */
struct json_object *husk_netconf_json(const struct husk_netconf *nc, struct husk_err *err);
/* Placeholders: look again for interfaces (after the hooks, and at start)
 * and mirror them onto the placeholder NICs. 1 when there were some (then
 * husk_netconf_json says what), 0 when there are none yet. */
int husk_netconf_late(struct husk_netconf *nc, struct husk_err *err);
/* Remove the taps and filters; safe on every path and more than once. */
void husk_netconf_cleanup(struct husk_netconf *nc);
/* For delete after a proxy died without cleaning up: our filters left in
 * the namespace at path (taps go with their fds). */
int husk_netconf_cleanup_path(const char *path, struct husk_err *err);

#endif
