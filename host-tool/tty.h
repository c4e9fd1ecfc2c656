/* Host pseudo-terminals: the console socket, raw mode, window sizes. */
#ifndef HUSK_TTY_H
#define HUSK_TTY_H

#include <stdbool.h>

#include "husk-err.h"

int husk_pty_open(int *master, int *slave, struct husk_err *err);
/* Send the pty master over the caller's --console-socket. */
int husk_console_send(const char *path, int master, struct husk_err *err);
/* Raw mode on a terminal; husk_tty_restore() undoes it (safe to call often). */
int husk_tty_raw(int fd, struct husk_err *err);
void husk_tty_restore(void);
int husk_tty_size(int fd, unsigned short *rows, unsigned short *cols);

/* The stdio of a process that has a terminal: a new pty whose master goes
 * to console_socket (fds are the slave; a size given is set on it first),
 * or, without one and with may_use_stdin, the caller's own terminal on
 * stdin in raw mode (fds 0, 1, 1). *tty_fd is where the window size is read.
 * what names the request in the error ("--tty", "process.terminal"). */
struct husk_tty_stdio {
	int fds[3];
	int tty_fd;
	bool raw; /* the caller's terminal is in raw mode */
};
int husk_tty_stdio(const char *console_socket, bool may_use_stdin, unsigned short rows,
		   unsigned short cols, const char *what, struct husk_tty_stdio *out,
		   struct husk_err *err);

#endif
