/* Host pseudo-terminals: the console socket, raw mode, window sizes. */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "husk-fdpass.h"
#include "tty.h"

int husk_pty_open(int *master, int *slave, struct husk_err *err)
{
	struct termios t;
	if (openpty(master, slave, NULL, NULL, NULL) < 0)
		return husk_err_sys(err, errno, "cannot allocate a pseudo-terminal");
	fcntl(*master, F_SETFD, FD_CLOEXEC);
	fcntl(*slave, F_SETFD, FD_CLOEXEC);
	/* The guest's own pty does the line discipline: ours passes bytes. */
	if (tcgetattr(*slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(*slave, TCSANOW, &t);
	}
	return 0;
}

int husk_console_send(const char *path, int master, struct husk_err *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		return husk_err_set(err, ENAMETOOLONG, "console socket path %s is too long", path);
	strcpy(a.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return husk_err_sys(err, errno, "cannot connect to console socket %s", path);
	/* the payload is the name, as runc sends it: callers want a byte */
	const char name[] = "/dev/ptmx";
	if (husk_send_fds(fd, name, sizeof name - 1, &master, 1) < 0)
		return husk_err_sys(err, errno, "cannot send the terminal to %s", path);
	return 0;
}

static struct termios saved;
static int saved_fd = -1;

int husk_tty_raw(int fd, struct husk_err *err)
{
	struct termios t;
	if (tcgetattr(fd, &saved) < 0)
		return husk_err_sys(err, errno, "cannot read terminal settings");
	t = saved;
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return husk_err_sys(err, errno, "cannot set the terminal to raw mode");
	saved_fd = fd;
	return 0;
}

void husk_tty_restore(void)
{
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSANOW, &saved);
	saved_fd = -1;
}

int husk_tty_size(int fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -1;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

int husk_tty_stdio(const char *console_socket, bool may_use_stdin, unsigned short rows,
		   unsigned short cols, const char *what, struct husk_tty_stdio *out,
		   struct husk_err *err)
{
	*out = (struct husk_tty_stdio){.fds = {0, 1, 2}, .tty_fd = -1};
	if (console_socket) {
		int master;
		_cleanup_close_ int slave = -1;
		if (husk_pty_open(&master, &slave, err) < 0)
			return -1;
		if (rows || cols) {
			struct winsize ws = {.ws_row = rows, .ws_col = cols};
			ioctl(slave, TIOCSWINSZ, &ws);
		}
		int r = husk_console_send(console_socket, master, err);
		close(master);
		if (r < 0)
			return -1;
		out->fds[0] = out->fds[1] = out->fds[2] = out->tty_fd = husk_steal_fd(slave);
		return 0;
	}
	if (!may_use_stdin || !isatty(STDIN_FILENO))
		return husk_err_set(err, EINVAL, "%s needs --console-socket or a terminal on stdin",
				    what);
	if (husk_tty_raw(STDIN_FILENO, err) < 0)
		return -1;
	out->raw = true;
	out->fds[2] = STDOUT_FILENO;
	out->tty_fd = STDIN_FILENO;
	return 0;
}
