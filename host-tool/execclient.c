/* The host end of an exec'd process, after the verb has set it up: it
 * hands the process and its stdio to the container's proxy, then forwards
 * signals and window sizes until the exit comes back. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "execclient.h"
#include "husk-log.h"
#include "husk.h"
#include "tty.h"

int husk_exec_submit(const char *state_dir, struct json_object *proc, bool tty, bool ignore_paused,
		     const int fds[3], int *status, struct husk_err *err)
{
	struct json_object *reply = NULL, *v;
	*status = HUSK_EXIT_RUNTIME;
	_cleanup_close_ int conn = husk_ctl_connect(state_dir, err);
	if (conn < 0)
		return -1;
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("exec"));
	json_object_object_add(req, "process", json_object_get(proc));
	json_object_object_add(req, "tty", json_object_new_boolean(tty));
	if (ignore_paused)
		json_object_object_add(req, "ignore_paused", json_object_new_boolean(true));
	if (husk_ctl_send(conn, req, fds, 3, err) < 0 ||
	    husk_ctl_recv(conn, &reply, NULL, NULL, err) < 0)
		return -1;
	if (!reply)
		return husk_err_set(err, ECONNRESET, "the container's proxy went away");
	if (json_object_object_get_ex(reply, "error", &v)) {
		husk_err_set(err, EINVAL, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(reply, "status", &v))
			*status = json_object_get_int(v);
		json_object_put(reply);
		return -1;
	}
	json_object_put(reply);
	return husk_steal_fd(conn);
}

/* Wait for the exit message, forwarding signals and window sizes. */
void husk_exec_wait(int conn, int tty_fd, const sigset_t *mask)
{
	struct husk_err err;
	int sfd = signalfd(-1, mask, SFD_CLOEXEC);
	for (;;) {
		struct pollfd pf[2] = {{conn, POLLIN, 0}, {sfd, POLLIN, 0}};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				struct json_object *m = json_object_new_object();
				if (si.ssi_signo == SIGWINCH) {
					unsigned short rows, cols;
					if (tty_fd < 0 || husk_tty_size(tty_fd, &rows, &cols) < 0) {
						json_object_put(m);
						continue;
					}
					json_object_object_add(m, "op",
							       json_object_new_string("resize"));
					json_object_object_add(m, "rows",
							       json_object_new_int(rows));
					json_object_object_add(m, "cols",
							       json_object_new_int(cols));
				} else {
					json_object_object_add(m, "op",
							       json_object_new_string("kill"));
					json_object_object_add(
					    m, "signal", json_object_new_int((int)si.ssi_signo));
				}
				husk_ctl_send(conn, m, NULL, 0, &err);
				json_object_put(m);
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			struct json_object *m, *v;
			if (husk_ctl_recv(conn, &m, NULL, NULL, &err) < 0 || !m)
				break;
			if (json_object_object_get_ex(m, "exit", &v)) {
				struct json_object *ns;
				if (json_object_object_get_ex(m, "runtime_ns", &ns))
					log_debug("the process ran %lld us in the guest",
						  (long long)(json_object_get_int64(ns) / 1000));
				husk_tty_restore();
				exit(json_object_get_int(v));
			}
			json_object_put(m); /* a reply to a forwarded signal */
		}
	}
	husk_tty_restore();
	fprintf(stderr, "husk: lost the container's proxy\n");
	exit(HUSK_EXIT_LOST);
}
