/* Making a snapshot: a template VM booted, waited for and saved. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "husk-proto.h"
#include "qmp.h"
#include "snapshot-int.h"

/* A tap of no one's: the template's NICs must not reach a container's
 * network. It goes when its fd closes. */
static int throwaway_tap(struct husk_err *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
		husk_err_sys(err, errno, "a tap for the snapshot's NIC");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The agent's greeting on the channel, within the deadline; the console
 * read meanwhile (and dropped: a guest whose console is not read stops). */
static int wait_hello(int fd, int console, pid_t qemu, uint64_t deadline, struct husk_err *err)
{
	static uint8_t buf[HUSK_FRAME_HDR + 65536];
	size_t len = 0;
	for (;;) {
		struct husk_frame_hdr h;
		struct husk_err perr;
		int r = husk_frame_parse(buf, len, &h, &perr);
		if (r == HUSK_PARSE_FRAME && len >= HUSK_FRAME_HDR + h.length) {
			if (h.type == HUSK_FRAME_HELLO)
				return 0;
			memmove(buf, buf + HUSK_FRAME_HDR + h.length,
				len - HUSK_FRAME_HDR - h.length);
			len -= HUSK_FRAME_HDR + h.length;
			continue;
		}
		if (r != HUSK_PARSE_FRAME && r != HUSK_PARSE_NEED_MORE)
			return husk_err_set(err, EPROTO, "the snapshot's agent: %s", perr.msg);
		if (len == sizeof buf)
			return husk_err_set(err, EPROTO, "the snapshot's agent: a frame too long");
		uint64_t now = now_ms();
		if (now >= deadline)
			return husk_err_set(err, ETIMEDOUT, "the snapshot's guest did not boot");
		struct pollfd pf[2] = {{fd, POLLIN, 0}, {console, POLLIN, 0}};
		int pr = poll(pf, 2, (int)(deadline - now < 100 ? deadline - now : 100));
		if (pr < 0 && errno != EINTR)
			return husk_err_sys(err, errno, "poll");
		if (waitpid(qemu, NULL, WNOHANG) == qemu)
			return husk_err_set(err, EIO, "the snapshot's QEMU exited");
		if (pr > 0 && (pf[1].revents & POLLIN)) {
			char junk[4096];
			if (read(console, junk, sizeof junk) <= 0)
				pf[1].fd = -1;
		}
		if (pr <= 0 || !(pf[0].revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(fd, buf + len, sizeof buf - len);
		if (n <= 0)
			return husk_err_set(err, EIO, "the snapshot's agent channel closed");
		len += (size_t)n;
	}
}

/* The proxy's QMP client (qmp.h) on a loop of our own, one command at a
 * time: the template is made before the proxy's loop runs. */
struct qmp_call {
	bool done;
	struct husk_err err;
	bool failed;
	char status[32]; /* query-migrate's "status" */
};

static void qmp_answered(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
			 void *data)
{
	struct qmp_call *c = data;
	struct json_object *v;
	c->done = true;
	if (err) {
		c->failed = true;
		c->err = *err;
	} else if (ret && json_object_object_get_ex(ret, "status", &v)) {
		snprintf(c->status, sizeof c->status, "%s", json_object_get_string(v));
	}
}

static void tick(uv_timer_t *t)
{
}

static int qmp_do_fd(uv_loop_t *loop, struct husk_qmp *q, const char *cmd, const char *args, int fd,
		     uint64_t deadline, char status[32], struct husk_err *err)
{
	struct qmp_call c = {0};
	_cleanup_json_ struct json_object *a = args ? json_tokener_parse(args) : NULL;
	if (husk_qmp_command_fd(q, cmd, a, fd, qmp_answered, &c, err) < 0)
		return -1;
	while (!c.done) {
		if (now_ms() >= deadline)
			return husk_err_set(err, ETIMEDOUT, "QEMU did not answer %s", cmd);
		uv_run(loop, UV_RUN_ONCE); /* the tick timer wakes it */
	}
	if (c.failed) {
		*err = c.err;
		return husk_err_prefix(err, cmd);
	}
	if (status)
		memcpy(status, c.status, sizeof c.status);
	return 0;
}

static int qmp_do(uv_loop_t *loop, struct husk_qmp *q, const char *cmd, const char *args,
		  uint64_t deadline, char status[32], struct husk_err *err)
{
	return qmp_do_fd(loop, q, cmd, args, -1, deadline, status, err);
}

/* Migrate the paused VM into the file fd (passed to QEMU, named). */
static int save_to(uv_loop_t *loop, struct husk_qmp *q, int fd, const char *name, uint64_t deadline,
		   struct husk_err *err)
{
	char args[64], status[32];
	snprintf(args, sizeof args, "{\"fdname\":\"%s\"}", name);
	if (qmp_do_fd(loop, q, "getfd", args, fd, deadline, NULL, err) < 0)
		return -1;
	snprintf(args, sizeof args, "{\"uri\":\"fd:%s\"}", name);
	if (qmp_do(loop, q, "migrate", args, deadline, NULL, err) < 0)
		return -1;
	for (;;) {
		if (qmp_do(loop, q, "query-migrate", NULL, deadline, status, err) < 0)
			return -1;
		if (!strcmp(status, "completed"))
			return 0;
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled"))
			return husk_err_set(err, EIO, "saving the snapshot: migration %s", status);
		if (now_ms() >= deadline)
			return husk_err_set(err, ETIMEDOUT, "saving the snapshot took too long");
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
}

/* Pause the template, save it twice (snapshot.h's state and dev). */
static int save(const int fds[2], int qmp_fd, uint64_t deadline, struct husk_err *err)
{
	uv_loop_t loop;
	uv_timer_t wake;
	struct husk_qmp q = {0};
	uv_loop_init(&loop);
	uv_timer_init(&loop, &wake);
	uv_timer_start(&wake, tick, 50, 50);
	int rc = husk_qmp_init(&q, &loop, qmp_fd, err);
	/* QEMU migrates a VM once per pause: it runs on a moment (its agent
	 * idles) between the two, and the RAM file is as it stands at the
	 * second */
	if (rc == 0)
		rc = qmp_do(&loop, &q, "stop", NULL, deadline, NULL, err) < 0 ||
			     save_to(&loop, &q, fds[0], "state", deadline, err) < 0 ||
			     qmp_do(&loop, &q, "cont", NULL, deadline, NULL, err) < 0 ||
			     qmp_do(&loop, &q, "stop", NULL, deadline, NULL, err) < 0 ||
			     qmp_do(&loop, &q, "migrate-set-capabilities",
				    "{\"capabilities\":[{\"capability\":\"x-ignore-shared\","
				    "\"state\":true}]}",
				    deadline, NULL, err) < 0 ||
			     save_to(&loop, &q, fds[1], "dev", deadline, err) < 0
			 ? -1
			 : 0;
	if (rc == 0)
		qmp_do(&loop, &q, "quit", NULL, now_ms() + 2000, NULL, &(struct husk_err){0});
	husk_qmp_close(&q);
	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}

int husk_snapshot_template(const struct husk_vm_opts *vo, const char *tmp, unsigned timeout_s,
			   struct husk_err *err)
{
	struct husk_vm_opts t = *vo;
	struct husk_vm vm = {0};
	char share[PATH_MAX], log[PATH_MAX], mem[PATH_MAX], path[PATH_MAX];
	int taps[HUSK_VM_MAX_NICS], saves[2] = {-1, -1};
	int rc = -1;
	size_t ntaps = 0;
	snprintf(share, sizeof share, "%s/share", tmp);
	snprintf(log, sizeof log, "%s/qemu.log", tmp);
	snprintf(mem, sizeof mem, "%s/mem", tmp);
	if (mkdir(share, 0700) < 0)
		return husk_err_sys(err, errno, "mkdir %s", share);
	/* the RAM file, made here: QEMU's jail shows it only if it exists */
	int mfd = open(mem, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (mfd < 0 || ftruncate(mfd, (off_t)vo->mem_mib << 20) < 0) {
		husk_err_sys(err, errno, "%s", mem);
		if (mfd >= 0)
			close(mfd);
		return -1;
	}
	close(mfd);
	static const char *const streams[2] = {"state", "dev"};
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", tmp, streams[i]);
		saves[i] = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (saves[i] < 0) {
			husk_err_sys(err, errno, "%s", path);
			goto out;
		}
	}
	t.state_dir = tmp;
	t.share_path = share;
	t.qemu_log = log;
	t.mem_file = mem;
	t.mem_file_shared = true;
	t.incoming = t.ignore_shared = t.keep_agent_sock = false;
	for (size_t i = 0; i < t.nnics; i++)
		if (t.nics[i].fd >= 0) {
			if ((t.nics[i].fd = taps[ntaps] = throwaway_tap(err)) < 0)
				goto out;
			ntaps++;
		}
	if (husk_vm_start(&t, &vm, err) < 0)
		goto out;
	uint64_t deadline = now_ms() + timeout_s * 1000ULL;
	if (wait_hello(vm.chan_fd, vm.console_fd, vm.pid, deadline, err) < 0)
		close(vm.qmp_fd);
	else if (save(saves, vm.qmp_fd, deadline, err) == 0) /* the client closes it */
		rc = 0;
out:
	if (vm.pid > 0) {
		for (int i = 0; i < 200 && waitpid(vm.pid, NULL, WNOHANG) == 0; i++)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		kill(vm.pid, SIGKILL);
		waitpid(vm.pid, NULL, 0);
		close(vm.chan_fd);
		close(vm.console_fd);
		close(vm.alive[1]);
	}
	for (size_t i = 0; i < ntaps; i++)
		close(taps[i]);
	for (int i = 0; i < 2; i++)
		if (saves[i] >= 0)
			close(saves[i]);
	return rc;
}
