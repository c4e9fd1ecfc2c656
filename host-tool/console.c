/* A VM's serial console: console.log, capped and rotated, an echo on
 * stderr with --debug, and the tail a failure shows (see console.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "husk-log.h"

static void console_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char cbuf[4096];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(cbuf, sizeof cbuf);
}

/* console.log at HUSK_CONSOLE_LOG_MAX becomes console.log.1 (the one before
 * goes) and a new console.log starts; if that cannot be done the file
 * starts again from empty. -1: no more console log. */
static int console_rotate(struct husk_session *s)
{
	char old[PATH_MAX];
	int fd = -1;
	if (s->console_path &&
	    snprintf(old, sizeof old, "%s.1", s->console_path) < (int)sizeof old &&
	    rename(s->console_path, old) == 0)
		fd = open(s->console_path,
			  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(s->console_log);
		s->console_log = fd;
	} else if (ftruncate(s->console_log, 0) < 0) {
		log_warn("console log: %s; no more of the console is kept", strerror(errno));
		close(s->console_log);
		s->console_log = -1;
		return -1;
	}
	s->console_size = 0;
	return 0;
}

static void console_log_write(struct husk_session *s, const char *buf, size_t n)
{
	while (n && s->console_log >= 0) {
		if (s->console_size >= HUSK_CONSOLE_LOG_MAX && console_rotate(s) < 0)
			return;
		size_t room = HUSK_CONSOLE_LOG_MAX - s->console_size;
		ssize_t w = write(s->console_log, buf, n < room ? n : room);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_debug("console log: %s", w < 0 ? strerror(errno) : "short write");
			return;
		}
		s->console_size += (size_t)w;
		buf += w;
		n -= (size_t)w;
	}
}

void husk_session_console_feed(struct husk_session *s, const void *buf, size_t n)
{
	const char *p = buf;
	console_log_write(s, p, n);
	if (s->console_echo && write(STDERR_FILENO, p, n) < 0)
		log_debug("console echo: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		s->console_tail[s->tail_pos++] = p[i];
		if (s->tail_pos == sizeof s->console_tail) {
			s->tail_pos = 0;
			s->tail_wrapped = true;
		}
	}
}

static void console_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct husk_session *s = st->data;
	if (n < 0) {
		uv_read_stop(st);
		return;
	}
	husk_session_console_feed(s, buf->base, (size_t)n);
}

void husk_session_console_tail(struct husk_session *s, char *out, size_t size)
{
	char all[sizeof s->console_tail + 1];
	size_t n = 0;
	if (s->tail_wrapped) {
		n = sizeof s->console_tail - s->tail_pos;
		memcpy(all, s->console_tail + s->tail_pos, n);
	}
	memcpy(all + n, s->console_tail, s->tail_pos);
	n += s->tail_pos;
	all[n] = '\0';
	/* keep the last 40 lines: enough for a kernel oops with its header */
	char *start = all + n;
	for (int lines = 0; start > all; start--)
		if (start[-1] == '\n' && ++lines > 40 && start < all + n - 1)
			break;
	snprintf(out, size, "%s", start);
}

void husk_session_console_start(struct husk_session *s)
{
	uv_read_start((uv_stream_t *)&s->console, console_alloc, console_read);
}

/* The last line QEMU wrote to <state_dir>/qemu.log, its program name off. */
void husk_vm_qemu_said(const char *state_dir, char *out, size_t size)
{
	char path[PATH_MAX], buf[4096];
	out[0] = '\0';
	if (!state_dir)
		return;
	snprintf(path, sizeof path, "%s/qemu.log", state_dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, from);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	char *line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	const char *colon = strstr(line, ": ");
	if (!strncmp(line, "qemu-system-", 12) && colon)
		line = (char *)colon + 2;
	snprintf(out, size, "%s", line);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
}
