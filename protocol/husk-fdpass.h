#ifndef HUSK_FDPASS_H
#define HUSK_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define HUSK_MAX_PASSED_FDS 4

/* One message of len bytes with nfds descriptors attached; EINTR retried. */
ssize_t husk_send_fds(int sock, const void *data, size_t len, const int *fds, int nfds);
/* Receive one message; up to maxfds descriptors land in fds (close-on-exec),
 * extra ones are closed. Returns the bytes received (0 at EOF). */
ssize_t husk_recv_fds(int sock, void *data, size_t len, int *fds, int *nfds, int maxfds);

#endif
