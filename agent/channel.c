/* The one channel to the host: a virtio-serial port carrying frames. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "channel.h"
#include "husk-facts.h"
#include "husk-log.h"

#define RBUF_CAP (HUSK_FRAME_HDR + HUSK_FRAME_MAX_PAYLOAD)

static struct {
	const struct agent_channel_ops *ops;
	uv_pipe_t pipe;
	uv_timer_t reopen;
	int fd;
	uint8_t *rbuf; /* read buffer */
	size_t rlen;
	bool host_gone; /* said so once: the port reads EOF until it is back */
	/* A short splice into a port is only sent whole by a kernel with our
	 * fix (kernel/patches/virtio-console-splice-sg-end.patch), which says
	 * so. */
	bool splice_ok;
} chan;

struct wreq {
	uv_write_t req;
	uint8_t *buf;
	bool pooled;
	void (*then)(void);
};

/* DATA frame buffers are reused. A fresh 64 KiB allocation means fresh
 * pages for musl's allocator, and faulting and zeroing them costs more than
 * the copy itself under emulation (72 -> 120 MB/s of stdout under TCG). A
 * few are kept: enough for the pipe's depth between two writes. */
#define POOL_MAX 4
static uint8_t *pool[POOL_MAX];
static int pool_n;

uint8_t *agent_data_buf(void)
{
	return pool_n ? pool[--pool_n] : malloc(HUSK_FRAME_HDR + AGENT_COPY_MAX);
}

void agent_data_buf_put(uint8_t *buf)
{
	if (buf && pool_n < POOL_MAX)
		pool[pool_n++] = buf;
	else
		free(buf);
}

static void write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	if (status < 0 && status != UV_ECANCELED)
		log_warn("channel write: %s", uv_strerror(status));
	if (w->pooled)
		agent_data_buf_put(w->buf);
	else
		free(w->buf);
	if (w->then)
		w->then();
	free(w);
}

static void send_buf(uint8_t *buf, size_t len, bool pooled, void (*then)(void))
{
	struct wreq *w = calloc(1, sizeof *w);
	if (!w) {
		if (pooled)
			agent_data_buf_put(buf);
		else
			free(buf);
		log_error("out of memory queueing a frame");
		if (then)
			then();
		return;
	}
	w->buf = buf;
	w->pooled = pooled;
	w->then = then;
	uv_buf_t b = uv_buf_init((char *)buf, len);
	int r = uv_write(&w->req, (uv_stream_t *)&chan.pipe, &b, 1, write_done);
	if (r < 0) {
		log_warn("channel write: %s", uv_strerror(r));
		write_done(&w->req, UV_ECANCELED);
	}
}

void agent_send_data(uint32_t stream, uint8_t *buf, uint32_t len)
{
	husk_frame_encode_hdr(buf, HUSK_FRAME_DATA, stream, len);
	send_buf(buf, HUSK_FRAME_HDR + len, true, NULL);
}

/* Wait until the port takes more; false if the host is gone. */
static bool wait_writable(void)
{
	struct pollfd pf = {.fd = chan.fd, .events = POLLOUT};
	while (poll(&pf, 1, -1) < 0)
		if (errno != EINTR)
			return false;
	return (pf.revents & POLLOUT) != 0;
}

/* Write all of buf to the channel now, waiting for room: only to finish a
 * frame that has begun, when nothing else may come between. */
static int write_now(const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(chan.fd, buf, len);
		if (w > 0) {
			buf += w;
			len -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			if (!wait_writable())
				return -1;
		} else if (w < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* The rest of a spliced frame when splice will not: copy it over. */
static int finish_by_copy(int fd, uint32_t left)
{
	uint8_t *buf = agent_data_buf();
	if (!buf)
		return -1;
	while (left > 0) {
		ssize_t n = read(fd, buf, left < AGENT_COPY_MAX ? left : AGENT_COPY_MAX);
		if (n <= 0 || write_now(buf, (size_t)n) < 0) {
			agent_data_buf_put(buf);
			return -1;
		}
		left -= (uint32_t)n;
	}
	agent_data_buf_put(buf);
	return 0;
}

ssize_t agent_send_spliced(uint32_t stream, int fd, uint32_t max)
{
	uint8_t hdr[HUSK_FRAME_HDR];
	int avail = 0;
	/* Only with nothing queued: the frame must follow everything before it
	 * and nothing may come between its header and its bytes. */
	if (!chan.splice_ok || uv_stream_get_write_queue_size((uv_stream_t *)&chan.pipe) > 0 ||
	    ioctl(fd, FIONREAD, &avail) < 0 || avail <= 0)
		return 0;
	uint32_t n = (uint32_t)avail < max ? (uint32_t)avail : max;
	husk_frame_encode_hdr(hdr, HUSK_FRAME_DATA, stream, n);
	ssize_t w = write(chan.fd, hdr, sizeof hdr);
	if (w < 0) /* nothing of the frame went: the queued path takes over */
		return 0;
	if (w != sizeof hdr && write_now(hdr + w, sizeof hdr - (size_t)w) < 0)
		return -1;
	/* The frame has begun. Fewer bytes than n are never waiting: the fd is
	 * ours alone to read and held at least n. */
	for (uint32_t left = n; left > 0;) {
		ssize_t m =
		    splice(fd, NULL, chan.fd, NULL, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (m > 0) {
			left -= (uint32_t)m;
		} else if (m < 0 && errno == EAGAIN) {
			if (!wait_writable()) /* the host is behind: wait for room */
				return -1;
		} else if (m < 0 && errno == EINTR) {
			continue;
		} else {
			if (m < 0 && (errno == EINVAL || errno == ENOSYS))
				chan.splice_ok = false; /* the port refused: do not ask again */
			return finish_by_copy(fd, left) < 0 ? -1 : (ssize_t)n;
		}
	}
	return n;
}

void agent_send_frame(uint16_t type, uint32_t stream, const void *payload, uint32_t len)
{
	uint8_t *buf = malloc(HUSK_FRAME_HDR + len);
	if (!buf) {
		log_error("out of memory queueing a frame");
		return;
	}
	if (len)
		memcpy(buf + HUSK_FRAME_HDR, payload, len);
	husk_frame_encode_hdr(buf, type, stream, len);
	send_buf(buf, HUSK_FRAME_HDR + len, false, NULL);
}

void agent_send_json(uint16_t type, struct json_object *o, void (*then)(void))
{
	struct husk_err err;
	uint8_t *buf;
	int64_t n = husk_frame_json(type, o, &buf, &err);
	json_object_put(o);
	if (n < 0) {
		log_error("cannot send %s: %s", husk_frame_type_name(type), err.msg);
		if (then)
			then();
		return;
	}
	send_buf(buf, (size_t)n, false, then);
}

void agent_send_window(uint32_t stream, uint32_t n)
{
	uint8_t p[4];
	husk_put_be32(p, n);
	agent_send_frame(HUSK_FRAME_WINDOW, stream, p, 4);
}

void agent_reply_error(uint32_t id, const struct husk_err *err)
{
	struct husk_reply r = {
	    .id = id, .err_code = err->code, .message = (char *)err->msg, .pid = -1};
	log_debug("request %u failed: %s", id, err->msg);
	agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&r), NULL);
}

void agent_reply_ok(uint32_t id, int64_t pid)
{
	struct husk_reply r = {.id = id, .pid = pid};
	agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&r), NULL);
}

static void send_error_frame(const struct husk_err *err)
{
	log_warn("bad frame from host: %s", err->msg);
	agent_send_json(HUSK_FRAME_ERROR, husk_error_frame_encode(err->code, err->msg), NULL);
}

/* Hand a whole frame to the ops; an ERROR frame for what they refuse. */
static void dispatch(const struct husk_frame_hdr *h, const uint8_t *payload)
{
	struct husk_err err = {0};
	const struct agent_channel_ops *ops = chan.ops;
	int r;
	switch (h->type) {
	case HUSK_FRAME_REQUEST: r = ops->request((const char *)payload, h->length, &err); break;
	case HUSK_FRAME_DATA: r = ops->data(h->stream, payload, h->length, &err); break;
	case HUSK_FRAME_WINDOW: r = ops->window(h->stream, husk_get_be32(payload), &err); break;
	case HUSK_FRAME_CLOSE: r = ops->close(h->stream, &err); break;
	default:
		r = husk_err_set(&err, EPROTO, "unexpected %s frame from the host",
				 husk_frame_type_name(h->type));
		break;
	}
	if (r < 0)
		send_error_frame(&err);
}

static void consume(void)
{
	size_t off = 0;
	while (off < chan.rlen) {
		struct husk_frame_hdr h;
		struct husk_err err = {0};
		int r = husk_frame_parse(chan.rbuf + off, chan.rlen - off, &h, &err);
		if (r == HUSK_PARSE_NEED_MORE)
			break;
		if (r == HUSK_PARSE_BAD) {
			send_error_frame(&err);
			off += husk_frame_resync(chan.rbuf + off, chan.rlen - off);
			continue;
		}
		dispatch(&h, chan.rbuf + off + HUSK_FRAME_HDR);
		off += HUSK_FRAME_HDR + h.length;
	}
	if (off) {
		memmove(chan.rbuf, chan.rbuf + off, chan.rlen - off);
		chan.rlen -= off;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init((char *)chan.rbuf + chan.rlen, RBUF_CAP - chan.rlen);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* How soon the port is read again after the host went away: a VM restored
 * from a snapshot (its host gone when it was saved) waits this long at most
 * for its new host. */
#define AGENT_REOPEN_MS 10

static void reopen_cb(uv_timer_t *t)
{
	(void)t;
	uv_read_start((uv_stream_t *)&chan.pipe, alloc_cb, read_cb);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n > 0) {
		chan.host_gone = false;
		chan.rlen += n;
		consume();
		return;
	}
	if (n == 0)
		return;
	/* The host went away (EOF or error). Drop any half frame and listen
	 * again shortly: a host that reconnects starts from a frame boundary. */
	if (chan.rlen)
		log_warn("channel: %s, dropping %zu bytes of a partial frame; waiting for the host",
			 uv_strerror((int)n), chan.rlen);
	else if (!chan.host_gone)
		log_warn("channel: %s; waiting for the host", uv_strerror((int)n));
	chan.rlen = 0;
	uv_read_stop(s);
	uv_timer_start(&chan.reopen, reopen_cb, AGENT_REOPEN_MS, 0);
	if (!chan.host_gone && chan.ops->host_gone)
		chan.ops->host_gone();
	chan.host_gone = true;
}

static bool port_is_ours(const char *port)
{
	char path[300], name[64] = "";
	snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", port);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, name, sizeof name - 1);
	close(fd);
	if (n <= 0)
		return false;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	return strcmp(name, HUSK_AGENT_PORT) == 0;
}

static int find_port(char *dev, size_t size, struct husk_err *err)
{
	/* husk puts the agent's port first on the first device: try it before
	 * walking sysfs, which costs milliseconds under emulation */
	if (port_is_ours("vport0p1")) {
		snprintf(dev, size, "/dev/vport0p1");
		return 0;
	}
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	if (!d)
		return husk_err_sys(err, errno, "no virtio-serial ports (/sys/class/virtio-ports)");
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.' && port_is_ours(e->d_name)) {
			snprintf(dev, size, "/dev/%s", e->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return husk_err_set(err, ENODEV, "no virtio-serial port named %s", HUSK_AGENT_PORT);
}

void agent_channel_greet(void)
{
	struct utsname u;
	uname(&u);
	struct husk_hello hello = {.agent_version = HUSK_VERSION,
				   .protocol = HUSK_PROTO_VERSION,
				   .kernel_release = u.release};
	agent_send_json(HUSK_FRAME_HELLO, husk_hello_encode(&hello), NULL);
}

int agent_channel_open(uv_loop_t *loop, const struct agent_channel_ops *ops, struct husk_err *err)
{
	char dev[300];
	chan.ops = ops;
	/* The port's name comes from the host over the virtio-serial control
	 * queue, a moment after the device itself: wait for it, up to 5 s. */
	for (int i = 0; find_port(dev, sizeof dev, err) < 0; i++) {
		if (i == 5000)
			return -1;
		usleep(1000);
	}
	chan.fd = open(dev, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (chan.fd < 0)
		return husk_err_sys(err, errno, "open %s", dev);
	chan.rbuf = malloc(RBUF_CAP);
	if (!chan.rbuf)
		return husk_err_set(err, ENOMEM, "out of memory");
	uv_pipe_init(loop, &chan.pipe, 0);
	int r = uv_pipe_open(&chan.pipe, chan.fd);
	if (r < 0)
		return husk_err_set(err, -r, "channel %s: %s", dev, uv_strerror(r));
	uv_timer_init(loop, &chan.reopen);
	chan.splice_ok = access("/sys/module/virtio_console/parameters/splice_sg_end", F_OK) == 0;
	agent_channel_greet();
	uv_read_start((uv_stream_t *)&chan.pipe, alloc_cb, read_cb);
	log_debug("channel %s open", dev);
	return 0;
}
