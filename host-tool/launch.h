/* What create and run share: their options, the bundle, and starting the
 * proxy, detached (create, run -d) or as this very process (run). */
#ifndef HUSK_LAUNCH_H
#define HUSK_LAUNCH_H

#include <stdbool.h>

#include "opts.h"
#include "proxy.h"

struct husk_launch {
	const char *bundle;
	const char *pid_file;
	const char *console_socket;
	bool detach;
	struct proxy_opts o;
};

/* runc's options of create and run, and the VM's. */
extern const struct husk_opt husk_launch_opts[];
#define HUSK_LAUNCH_ACCEPTED                                                                       \
	"--no-pivot, --no-new-keyring, --preserve-fds N: accepted for runc callers"

/* Defaults and the environment (HUSK_BOOT_TIMEOUT); options parsed after
 * this override them. */
int husk_launch_init(struct husk_launch *l, struct husk_err *err);
/* One option of husk_launch_opts (data is the struct husk_launch). */
int husk_launch_opt(int key, const char *arg, void *data, struct husk_err *err);
/* Check the bundle and settle the VM's settings for container id. */
int husk_launch_prepare(struct husk_launch *l, const char *id, struct husk_err *err);
/* Fork the proxy and wait until it reports "created" (or "running" when
 * o.autostart is set); writes the pid file. */
int husk_launch_detached(struct husk_launch *l, struct husk_err *err);
/* Become the proxy of husk run in the foreground. */
__attribute__((noreturn)) void husk_launch_foreground(struct husk_launch *l);
void husk_launch_free(struct husk_launch *l);
#define _cleanup_launch_ __attribute__((cleanup(husk_launch_free)))

#endif
