#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "husk-fdpass.h"

int husk_ctl_send(int fd, struct json_object *o, const int *fds, int nfds, struct husk_err *err)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (len > CTL_MAX_MSG || nfds > CTL_MAX_FDS)
		return husk_err_set(err, EMSGSIZE, "control message too large");
	if (husk_send_fds(fd, s, len, fds, nfds) < 0)
		return husk_err_sys(err, errno, "cannot talk to the container's proxy");
	return 0;
}

int husk_ctl_recv(int fd, struct json_object **o, int *fds, int *nfds, struct husk_err *err)
{
	static char buf[CTL_MAX_MSG + 1];
	int got[CTL_MAX_FDS], ngot = 0;
	*o = NULL;
	if (nfds)
		*nfds = 0;
	ssize_t n = husk_recv_fds(fd, buf, CTL_MAX_MSG, got, &ngot, CTL_MAX_FDS);
	if (n < 0) {
		if (errno == EAGAIN)
			return husk_err_set(err, EAGAIN, "no message");
		return husk_err_sys(err, errno, "cannot talk to the container's proxy");
	}
	for (int i = 0; i < ngot; i++) {
		if (fds && nfds)
			fds[(*nfds)++] = got[i];
		else
			close(got[i]);
	}
	if (n == 0)
		return 0;
	buf[n] = '\0';
	*o = json_tokener_parse(buf);
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
