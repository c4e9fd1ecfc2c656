/* The requests a proxy's control socket serves (proxy-ctl.c). */
#ifndef HUSK_PROXY_CTL_H
#define HUSK_PROXY_CTL_H

#include "ctlsrv.h"

/* data is the struct proxy */
extern const struct husk_ctl_server_ops husk_proxy_ctl_ops;

#endif
