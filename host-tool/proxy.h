/* The proxy: the host process that owns one container's VM. Its PID is what
 * --pid-file holds; it relays the container process's stdio, forwards the
 * signals it receives, serves start/exec/kill/ps on the control socket and
 * exits with the container process's status. */
#ifndef HUSK_PROXY_H
#define HUSK_PROXY_H

#include <stdbool.h>

#include "config.h"
#include "vm.h"

struct proxy_opts {
	const char *id;
	char *bundle; /* absolute */
	char *rootfs; /* absolute */
	char *state_dir;
	struct husk_config cfg;
	struct husk_vm_opts vo;
	unsigned boot_timeout_s;
	const char *console_socket;
	int notify_fd;	 /* create/run -d wait here for "ok" or an error; -1 if none */
	bool foreground; /* husk run: the caller's own process, stdio and terminal */
	bool autostart;	 /* run: start the process as soon as the container exists */
	bool share_set;	 /* --share given */
	int exec_status; /* set by prepare when the program is missing (127) or not executable (126)
			  */
};

/* Never returns: exits with the container process's status. */
void husk_proxy_main(struct proxy_opts *o) __attribute__((noreturn));
/* Common bundle checks for create and run: config, rootfs, VM files. */
int husk_proxy_prepare(struct proxy_opts *o, const char *bundle, const char *id,
		       struct husk_err *err);
/* What prepare and husk_state_create allocated: for the create and run
 * processes that return rather than become the proxy. */
void husk_proxy_opts_free(struct proxy_opts *o);
#define _cleanup_proxy_opts_ __attribute__((cleanup(husk_proxy_opts_free)))

#endif
