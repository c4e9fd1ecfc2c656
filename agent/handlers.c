/* Request handlers: one function per op, found through a table. Each
 * replies itself, or returns -1 with err for the error reply. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../init/init.h"
#include "channel.h"
#include "container.h"
#include "handlers.h"
#include "husk-log.h"
#include "net.h"
#include "process.h"
#include "ps.h"

typedef int (*handler_fn)(const struct husk_request *r, struct husk_err *err);

static bool shutting_down;

static int do_ping(const struct husk_request *r, struct husk_err *err)
{
	agent_reply_ok(r->id, -1);
	return 0;
}

static int do_create(const struct husk_request *r, struct husk_err *err)
{
	if (!agent_container_create(r->u.create.id, &r->u.create.rootfs, r->u.create.hostname,
				    r->u.create.spec, r->u.create.sandbox, err))
		return -1;
	agent_reply_ok(r->id, -1);
	return 0;
}

/* The VM's network: every container of the VM shares it (docs/decisions.md,
 * "The container's network") */
static int do_network(const struct husk_request *r, struct husk_err *err)
{
	if (agent_net_configure(r->u.net.network, err) < 0)
		return -1;
	agent_reply_ok(r->id, -1);
	return 0;
}

static int do_start(const struct husk_request *r, struct husk_err *err)
{
	struct agent_container *c = agent_container_find(r->u.start.container);
	const struct husk_streams *s = &r->u.start.streams;
	if (!c)
		return husk_err_set(err, ENOENT, "container %s does not exist",
				    r->u.start.container);
	if (c->stopped)
		return husk_err_set(err, ESRCH, "container %s is stopped", c->id);
	if (agent_stream_in_use(s->in) || agent_stream_in_use(s->out) ||
	    agent_stream_in_use(s->err))
		return husk_err_set(err, EEXIST, "streams %u/%u/%u are in use", s->in, s->out,
				    s->err);
	/* replies once the exec result is known */
	return agent_process_start(r->id, c, &r->u.start.process, s, err);
}

static int do_signal(const struct husk_request *r, struct husk_err *err)
{
	struct agent_process *p = agent_process_find(r->u.signal.process);
	if (!p)
		return husk_err_set(err, ESRCH, "no process %u", r->u.signal.process);
	if (r->u.signal.all) {
		_cleanup_free_ int32_t *pids = NULL;
		size_t n;
		if (agent_container_pids(p->container, &pids, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], r->u.signal.signal);
	} else if (p->exited || p->pid <= 0) {
		return husk_err_set(err, ESRCH, "process %u has exited", p->id);
	} else if (kill(p->pid, r->u.signal.signal) < 0) {
		return husk_err_sys(err, errno, "kill %d", (int)p->pid);
	}
	agent_reply_ok(r->id, -1);
	return 0;
}

static int do_resize(const struct husk_request *r, struct husk_err *err)
{
	struct agent_process *p = agent_process_find(r->u.resize.process);
	if (!p)
		return husk_err_set(err, ESRCH, "no process %u", r->u.resize.process);
	if (agent_process_resize(p, r->u.resize.rows, r->u.resize.cols, err) < 0)
		return -1;
	agent_reply_ok(r->id, -1);
	return 0;
}

static int do_ps(const struct husk_request *r, struct husk_err *err)
{
	struct agent_container *c = agent_container_find(r->u.ps.container);
	struct husk_reply rep = {.id = r->id, .pid = -1, .has_pids = true};
	if (!c)
		return husk_err_set(err, ENOENT, "container %s does not exist", r->u.ps.container);
	if (agent_container_pids(c, &rep.pids, &rep.npids, err) < 0)
		return -1;
	if (agent_ps_read(&rep, err) < 0) {
		husk_reply_free(&rep);
		return -1;
	}
	agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&rep), NULL);
	husk_reply_free(&rep);
	return 0;
}

/* runc update: new limits for the container's cgroup */
static int do_update(const struct husk_request *r, struct husk_err *err)
{
	struct agent_container *c = agent_container_find(r->u.update.container);
	if (!c)
		return husk_err_set(err, ENOENT, "container %s does not exist",
				    r->u.update.container);
	if (c->stopped)
		return husk_err_set(err, ESRCH, "container %s is stopped", c->id);
	if (agent_container_update(c, r->u.update.resources, err) < 0)
		return -1;
	agent_reply_ok(r->id, -1);
	return 0;
}

/* A pod's container removed while its VM goes on */
static int do_delete(const struct husk_request *r, struct husk_err *err)
{
	struct agent_container *c = agent_container_find(r->u.ps.container);
	if (!c)
		return husk_err_set(err, ENOENT, "container %s does not exist", r->u.ps.container);
	if (agent_container_delete(c, err) < 0)
		return -1;
	agent_reply_ok(r->id, -1);
	return 0;
}

/* A VM restored from a snapshot: every restored copy had the same RNG
 * state and the clock of when it was saved. Mix in the host's entropy and
 * reseed now, take the host's clock, then greet the new host: nothing of
 * a container runs before. The HELLO comes before the REPLY. */
static int do_restore(const struct husk_request *r, struct husk_err *err)
{
	struct {
		struct rand_pool_info info;
		uint8_t buf[HUSK_RESTORE_ENTROPY_MAX];
	} pool;
	pool.info.entropy_count = (int)(r->u.restore.nentropy * 8);
	pool.info.buf_size = (int)r->u.restore.nentropy;
	memcpy(pool.buf, r->u.restore.entropy, r->u.restore.nentropy);
	_cleanup_close_ int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &pool) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
		return husk_err_sys(err, errno, "cannot reseed the guest's RNG");
	explicit_bzero(&pool, sizeof pool);
	struct timespec ts = {.tv_sec = r->u.restore.time_ns / 1000000000,
			      .tv_nsec = r->u.restore.time_ns % 1000000000};
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return husk_err_sys(err, errno, "cannot set the guest's clock");
	log_debug("restored: RNG reseeded with %zu bytes, clock set", r->u.restore.nentropy);
	agent_channel_greet();
	agent_reply_ok(r->id, -1);
	return 0;
}

static int do_shutdown(const struct husk_request *r, struct husk_err *err)
{
	struct husk_reply rep = {.id = r->id, .pid = -1};
	shutting_down = true;
	sync();
	/* power off once the reply is written */
	agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&rep), init_poweroff);
	return 0;
}

static const handler_fn handlers[] = {
    [HUSK_OP_PING] = do_ping,
    [HUSK_OP_CONTAINER_CREATE] = do_create,
    [HUSK_OP_PROCESS_START] = do_start,
    [HUSK_OP_PROCESS_SIGNAL] = do_signal,
    [HUSK_OP_SHUTDOWN] = do_shutdown,
    [HUSK_OP_PROCESS_RESIZE] = do_resize,
    [HUSK_OP_CONTAINER_PS] = do_ps,
    [HUSK_OP_NETWORK_CONFIGURE] = do_network,
    [HUSK_OP_CONTAINER_UPDATE] = do_update,
    [HUSK_OP_CONTAINER_DELETE] = do_delete,
    [HUSK_OP_VM_RESTORE] = do_restore,
};

int agent_handle_request(const char *payload, size_t len, struct husk_err *err)
{
	struct husk_request r;
	if (husk_request_decode(payload, len, &r, err) < 0) {
		uint32_t id = husk_request_peek_id(payload, len);
		if (!id)
			return -1; /* nothing to reply to: an ERROR frame says it */
		agent_reply_error(id, err);
		return 0;
	}
	log_debug("request %u %s", r.id, r.op_name);
	int rc;
	if (shutting_down)
		rc = husk_err_set(err, ESHUTDOWN, "the VM is shutting down");
	else if ((size_t)r.op >= sizeof handlers / sizeof handlers[0] || !handlers[r.op])
		rc = husk_err_set(err, EOPNOTSUPP, "operation not supported");
	else
		rc = handlers[r.op](&r, err);
	if (rc < 0)
		agent_reply_error(r.id, err);
	husk_request_free(&r);
	return 0;
}
