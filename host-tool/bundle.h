/* Reading and checking a bundle for create and run. */
#ifndef HUSK_BUNDLE_H
#define HUSK_BUNDLE_H

#include "proxy.h"

/* config.json, the rootfs, the program (a missing one sets o->exec_status
 * to 127, one that cannot run to 126), the VM's settings and files. */
int husk_bundle_prepare(struct proxy_opts *o, const char *bundle, const char *id,
			struct husk_err *err);

#endif
