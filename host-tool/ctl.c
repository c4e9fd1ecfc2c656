#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "husk-fdpass.h"

/* A message over CTL_MAX_MSG (an exec whose environment is large) travels
 * in a sealed memfd passed with it, the datagram saying only
 * {"memfd": <its index among the fds>}; the receiver reads it back, up to
 * CTL_MAX_BIG. Callers see one message either way. */
static int big_send(int fd, const char *s, size_t len, const int *fds, int nfds,
		    struct husk_err *err)
{
	char head[64];
	int all[CTL_MAX_FDS];
	if (len > CTL_MAX_BIG || nfds + 1 > CTL_MAX_FDS)
		return husk_err_set(err, EMSGSIZE, "control message too large (%zu bytes)", len);
	_cleanup_close_ int m = memfd_create("husk-ctl", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m < 0)
		return husk_err_sys(err, errno, "memfd_create");
	for (size_t off = 0; off < len;) {
		ssize_t w = write(m, s + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return husk_err_sys(err, errno, "writing a control message");
		off += (size_t)w;
	}
	if (fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return husk_err_sys(err, errno, "sealing a control message");
	memcpy(all, fds, (size_t)nfds * sizeof *fds);
	all[nfds] = m;
	int n = snprintf(head, sizeof head, "{\"memfd\":%d}", nfds);
	if (husk_send_fds(fd, head, (size_t)n, all, nfds + 1) < 0)
		return husk_err_sys(err, errno, "cannot talk to the container's proxy");
	return 0;
}

int husk_ctl_send(int fd, struct json_object *o, const int *fds, int nfds, struct husk_err *err)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (nfds > CTL_MAX_FDS)
		return husk_err_set(err, EMSGSIZE, "too many descriptors for a control message");
	if (len > CTL_MAX_MSG)
		return big_send(fd, s, len, fds, nfds, err);
	if (husk_send_fds(fd, s, len, fds, nfds) < 0)
		return husk_err_sys(err, errno, "cannot talk to the container's proxy");
	return 0;
}

/* The message a {"memfd": i} datagram stands for, from got[i] (which it
 * closes and removes from got). NULL with err on a bad one. */
static struct json_object *big_recv(struct json_object *head, int *got, int *ngot,
				    struct husk_err *err)
{
	struct json_object *v;
	struct stat st;
	json_object_object_get_ex(head, "memfd", &v);
	int i = json_object_get_int(v);
	if (!json_object_is_type(v, json_type_int) || i < 0 || i >= *ngot) {
		husk_err_set(err, EPROTO, "bad control message");
		return NULL;
	}
	_cleanup_close_ int m = got[i];
	memmove(got + i, got + i + 1, (size_t)(*ngot - i - 1) * sizeof *got);
	(*ngot)--;
	int seals = fcntl(m, F_GET_SEALS);
	if (fstat(m, &st) < 0 || seals < 0 || !(seals & F_SEAL_WRITE) || st.st_size <= 0 ||
	    st.st_size > CTL_MAX_BIG) {
		husk_err_set(err, EPROTO, "bad control message");
		return NULL;
	}
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf || pread(m, buf, (size_t)st.st_size, 0) != st.st_size) {
		husk_err_set(err, EPROTO, "bad control message");
		return NULL;
	}
	buf[st.st_size] = '\0';
	return json_tokener_parse(buf);
}

int husk_ctl_recv(int fd, struct json_object **o, int *fds, int *nfds, struct husk_err *err)
{
	static char buf[CTL_MAX_MSG + 1];
	int got[CTL_MAX_FDS], ngot = 0;
	struct json_object *v;
	*o = NULL;
	if (nfds)
		*nfds = 0;
	ssize_t n = husk_recv_fds(fd, buf, CTL_MAX_MSG, got, &ngot, CTL_MAX_FDS);
	if (n < 0) {
		if (errno == EAGAIN)
			return husk_err_set(err, EAGAIN, "no message");
		return husk_err_sys(err, errno, "cannot talk to the container's proxy");
	}
	if (n > 0) {
		buf[n] = '\0';
		*o = json_tokener_parse(buf);
		if (*o && json_object_is_type(*o, json_type_object) &&
		    json_object_object_get_ex(*o, "memfd", &v) &&
		    json_object_object_length(*o) == 1) {
			struct json_object *big = big_recv(*o, got, &ngot, err);
			json_object_put(*o);
			*o = big;
		}
	}
	for (int i = 0; i < ngot; i++) {
		if (fds && nfds)
			fds[(*nfds)++] = got[i];
		else
			close(got[i]);
	}
	if (n == 0)
		return 0;
	if (!*o || !json_object_is_type(*o, json_type_object)) {
		if (*o)
			json_object_put(*o);
		*o = NULL;
		return husk_err_set(err, EPROTO, "bad control message");
	}
	return 0;
}

int husk_sock_at(const char *dir, const char *name, int type, int backlog, struct husk_err *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return husk_err_sys(err, errno, "cannot open %s", dir);
	/* AF_UNIX paths are short; reach the socket through the directory's fd */
	snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd, name);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return husk_err_sys(err, errno, "socket");
	int r = backlog > 0
		    ? bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0
		    : connect(fd, (struct sockaddr *)&a, sizeof a) < 0;
	if (r) {
		husk_err_sys(err, errno, "cannot %s %s/%s",
			     backlog > 0 ? "listen on" : "connect to", dir, name);
		close(fd);
		return -1;
	}
	return fd;
}

int husk_ctl_listen(const char *state_dir, struct husk_err *err)
{
	return husk_sock_at(state_dir, "ctl.sock", SOCK_SEQPACKET | SOCK_NONBLOCK, 16, err);
}

int husk_ctl_connect(const char *state_dir, struct husk_err *err)
{
	int fd = husk_sock_at(state_dir, "ctl.sock", SOCK_SEQPACKET, 0, err);
	if (fd < 0)
		husk_err_sys(err, err->code, "cannot reach the container's proxy");
	return fd;
}

int husk_ctl_call(const char *state_dir, struct json_object *req, struct json_object **reply,
		  struct husk_err *err)
{
	struct json_object *e;
	*reply = NULL;
	_cleanup_close_ int fd = husk_ctl_connect(state_dir, err);
	if (fd < 0 || husk_ctl_send(fd, req, NULL, 0, err) < 0 ||
	    husk_ctl_recv(fd, reply, NULL, NULL, err) < 0)
		return -1;
	if (!*reply)
		return husk_err_set(err, ECONNRESET, "the container's proxy went away");
	if (json_object_object_get_ex(*reply, "error", &e)) {
		husk_err_set(err, EINVAL, "%s", json_object_get_string(e));
		json_object_put(*reply);
		*reply = NULL;
		return -1;
	}
	return 0;
}
