/* The host end of an exec'd process: submit it to the container's proxy,
 * then stand for it until it exits. */
#ifndef HUSK_EXECCLIENT_H
#define HUSK_EXECCLIENT_H

#include <signal.h>
#include <stdbool.h>

#include "husk-err.h"

struct json_object;

/* Send proc (OCI process JSON) with fds as its stdio over the proxy's
 * ctl.sock and wait for it to start. The connection's fd, or -1 with err
 * and *status (127/126 for a missing or non-executable program, else 125). */
int husk_exec_submit(const char *state_dir, struct json_object *proc, bool tty,
		     bool ignore_paused /* it starts when the VM resumes */, const int fds[3],
		     int *status, struct husk_err *err);
/* Wait for the exit on conn, forwarding the signals of mask (blocked by the
 * caller) and window sizes read from tty_fd (or -1); exits with the
 * process's status, or 255 when the proxy is lost. */
__attribute__((noreturn)) void husk_exec_wait(int conn, int tty_fd, const sigset_t *mask);

#endif
