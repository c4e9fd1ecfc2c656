/* Starting a container's proxy (proxy-main.c). */
#ifndef HUSK_PROXY_MAIN_H
#define HUSK_PROXY_MAIN_H

#include "proxy.h"

/* Become the proxy of o: never returns, exits with the container process's
 * status. */
__attribute__((noreturn)) void husk_proxy_main(struct proxy_opts *o);

#endif
