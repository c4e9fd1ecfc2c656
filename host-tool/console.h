/* The session's console half (console.c): what the guest prints on its
 * serial console. husk_session_console_feed and _tail are in session.h. */
#ifndef HUSK_CONSOLE_H
#define HUSK_CONSOLE_H

#include "session.h"

/* Read the console socket into console.log and the tail. */
void husk_session_console_start(struct husk_session *s);

/* What QEMU last said in <state_dir>/qemu.log (one line, its program
 * name off, or ""): beside the console's tail, what a failure shows. */
void husk_vm_qemu_said(const char *state_dir, char *out, size_t size);

#endif
