/* Request handlers: one function per op, found through a table. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <sched.h>

#include <json-c/json.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "husk-log.h"

typedef int (*handler_fn)(const struct husk_request *r, struct husk_err *err);

struct agent_container *agent_container_find(const char *id)
{
	for (struct agent_container *c = agent.containers; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static int do_ping(const struct husk_request *r, struct husk_err *err)
{
	(void)err;
	agent_reply_ok(r->id, -1);
	return 0;
}

static int valid_id(const char *id)
{
	if (!id[0] || strlen(id) > 128 || id[0] == '.')
		return 0;
	for (const char *p = id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    *p))
			return 0;
	return 1;
}

static int mount_share(const struct husk_rootfs *rf, const char *dst, struct husk_err *err)
{
	/* Read-write even for a read-only root: mount points are made first
	 * and the container's root is remounted read-only last, as runc does. */
	unsigned long flags = MS_NOSUID | MS_NODEV;
	if (strcmp(rf->fstype, "9p") == 0) {
		if (mount(rf->tag, dst, "9p", flags,
			  "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0)
			return husk_err_sys(err, errno, "mount 9p share %s", rf->tag);
	} else if (mount(rf->tag, dst, "virtiofs", flags, NULL) < 0) {
		return husk_err_sys(err, errno, "mount virtio-fs share %s", rf->tag);
	}
	return 0;
}

int agent_write_file(const char *dir, const char *name, const char *value)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
}

/* Each container gets a cgroup carrying linux.resources' limits; its
 * processes join it before they make their cgroup namespace. */
static int make_cgroup(struct agent_container *c, struct husk_err *err)
{
	const struct agent_spec *s = &c->spec;
	char v[64];
	if (access("/sys/fs/cgroup/cgroup.procs", F_OK) < 0)
		return 0;
	if (asprintf(&c->cgroup, "/sys/fs/cgroup/%s", c->id) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (mkdir(c->cgroup, 0755) < 0 && errno != EEXIST)
		return husk_err_sys(err, errno, "mkdir %s", c->cgroup);
	if (s->memory_limit > 0) {
		snprintf(v, sizeof v, "%lld", (long long)s->memory_limit);
		if (agent_write_file(c->cgroup, "memory.max", v) < 0)
			return husk_err_sys(err, errno, "linux.resources.memory.limit %s", v);
		agent_write_file(c->cgroup, "memory.swap.max", "0");
	}
	if (s->pids_limit > 0) {
		snprintf(v, sizeof v, "%lld", (long long)s->pids_limit);
		if (agent_write_file(c->cgroup, "pids.max", v) < 0)
			return husk_err_sys(err, errno, "linux.resources.pids.limit %s", v);
	}
	if (s->cpu_quota > 0) {
		snprintf(v, sizeof v, "%lld %lld", (long long)s->cpu_quota,
			 (long long)(s->cpu_period > 0 ? s->cpu_period : 100000));
		if (agent_write_file(c->cgroup, "cpu.max", v) < 0)
			return husk_err_sys(err, errno, "linux.resources.cpu %s", v);
	}
	return 0;
}

static int do_create(const struct husk_request *r, struct husk_err *err)
{
	const char *id = r->u.create.id;
	_cleanup_free_ char *dir = NULL, *share = NULL, *root = NULL;
	struct stat st;

	if (!valid_id(id))
		return husk_err_set(err, EINVAL, "invalid container id \"%s\"", id);
	if (agent_container_find(id))
		return husk_err_set(err, EEXIST, "container %s already exists", id);
	if (asprintf(&dir, AGENT_RUN_DIR "/%s", id) < 0 || asprintf(&share, "%s/share", dir) < 0 ||
	    asprintf(&root, "%s/%s", share,
		     r->u.create.rootfs.path ? r->u.create.rootfs.path : "") < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	mkdir(AGENT_RUN_DIR, 0700);
	if (mkdir(dir, 0700) < 0 || mkdir(share, 0755) < 0)
		return husk_err_sys(err, errno, "mkdir %s", share);
	if (mount_share(&r->u.create.rootfs, share, err) < 0)
		goto undo;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		husk_err_set(err, ENOENT, "rootfs %s is not a directory in share %s",
			     r->u.create.rootfs.path, r->u.create.rootfs.tag);
		umount2(share, MNT_DETACH);
		goto undo;
	}
	struct agent_container *c = calloc(1, sizeof *c);
	if (!c || !(c->id = strdup(id))) {
		free(c);
		umount2(share, MNT_DETACH);
		husk_err_set(err, ENOMEM, "out of memory");
		goto undo;
	}
	struct json_object *spec = r->u.create.spec, *mounts = NULL, *linux_ = NULL, *binds = NULL;
	if (spec) {
		json_object_object_get_ex(spec, "mounts", &mounts);
		json_object_object_get_ex(spec, "linux", &linux_);
		json_object_object_get_ex(spec, "binds", &binds);
	}
	c->has_spec_mounts = mounts && json_object_is_type(mounts, json_type_array);
	if (agent_spec_parse(mounts, linux_, &c->spec, err) < 0)
		goto undo_container;
	struct json_object *sc = NULL;
	if (linux_ && json_object_is_type(linux_, json_type_object))
		json_object_object_get_ex(linux_, "seccomp", &sc);
	if (agent_seccomp_compile(sc, &c->seccomp, err) < 0) {
		agent_spec_free(&c->spec);
		goto undo_container;
	}
	if (make_cgroup(c, err) < 0) {
		agent_spec_free(&c->spec);
		goto undo_container;
	}
	if (binds && json_object_is_type(binds, json_type_string)) {
		/* host paths that bind mounts name, shared as one more share */
		_cleanup_free_ char *bdir = NULL;
		struct husk_rootfs b = {.tag = (char *)json_object_get_string(binds),
					.fstype = "9p" /* always: a share of bind mounts */};
		if (asprintf(&bdir, "%s/binds", dir) < 0 || mkdir(bdir, 0755) < 0 ||
		    mount_share(&b, bdir, err) < 0)
			goto undo_container;
	}
	if (r->u.create.hostname) {
		c->hostname = strdup(r->u.create.hostname);
		/* without a UTS namespace of its own, the container's hostname is
		 * the VM's */
		if (!(c->spec.ns_new & CLONE_NEWUTS) &&
		    sethostname(r->u.create.hostname, strlen(r->u.create.hostname)) < 0)
			log_warn("sethostname: %s", strerror(errno));
	}
	c->rootfs = husk_steal(root);
	c->readonly = r->u.create.rootfs.readonly;
	c->next = agent.containers;
	agent.containers = c;
	log_debug("container %s created", id);
	agent_reply_ok(r->id, -1);
	return 0;
undo_container:
	agent_spec_free(&c->spec);
	free(c->id);
	free(c);
	umount2(share, MNT_DETACH);
undo:
	rmdir(share);
	rmdir(dir);
	return -1;
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
	if (agent_stream_find(s->in) || agent_stream_find(s->out) || agent_stream_find(s->err))
		return husk_err_set(err, EEXIST, "streams %u/%u/%u are in use", s->in, s->out,
				    s->err);
	/* replies once the exec result is known */
	return agent_process_start(r->id, c, &r->u.start.process, s, err);
}

/* Guest pids of the container's processes: those in its mount namespace,
 * which the agent (PID 1) is not. */
static int container_pids(const struct agent_container *c, int32_t **out, size_t *n,
			  struct husk_err *err)
{
	char path[64], want[64] = "", have[64];
	size_t cap = 64;
	*n = 0;
	*out = malloc(cap * sizeof **out);
	if (!*out)
		return husk_err_set(err, ENOMEM, "out of memory");
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)c->init_pid);
	if (c->init_pid <= 0 || c->stopped || readlink(path, want, sizeof want - 1) < 0)
		return 0; /* not running: no processes */
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		long pid = strtol(e->d_name, NULL, 10);
		if (pid <= 1)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
		ssize_t l = readlink(path, have, sizeof have - 1);
		if (l < 0)
			continue;
		have[l] = '\0';
		if (strcmp(have, want) != 0)
			continue;
		if (*n == 65536)
			break; /* the most a reply may carry */
		if (*n == cap) {
			int32_t *m = realloc(*out, (cap *= 2) * sizeof **out);
			if (!m)
				break;
			*out = m;
		}
		(*out)[(*n)++] = (int32_t)pid;
	}
	if (d)
		closedir(d);
	return 0;
}

static int do_signal(const struct husk_request *r, struct husk_err *err)
{
	struct agent_process *p = agent_process_find(r->u.signal.process);
	if (!p)
		return husk_err_set(err, ESRCH, "no process %u", r->u.signal.process);
	if (r->u.signal.all) {
		int32_t *pids;
		size_t n;
		if (container_pids(p->container, &pids, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], r->u.signal.signal);
		free(pids);
		agent_reply_ok(r->id, -1);
		return 0;
	}
	if (p->exited || p->pid <= 0)
		return husk_err_set(err, ESRCH, "process %u has exited", p->id);
	if (kill(p->pid, r->u.signal.signal) < 0)
		return husk_err_sys(err, errno, "kill %d", (int)p->pid);
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
	if (container_pids(c, &rep.pids, &rep.npids, err) < 0)
		return -1;
	agent_send_json(HUSK_FRAME_REPLY, husk_reply_encode(&rep));
	free(rep.pids);
	return 0;
}

static int do_shutdown(const struct husk_request *r, struct husk_err *err)
{
	(void)err;
	agent.shutting_down = true;
	sync();
	agent_reply_ok_then_poweroff(r->id);
	return 0;
}

static const handler_fn handlers[] = {
    [HUSK_OP_PING] = do_ping,		[HUSK_OP_CONTAINER_CREATE] = do_create,
    [HUSK_OP_PROCESS_START] = do_start, [HUSK_OP_PROCESS_SIGNAL] = do_signal,
    [HUSK_OP_SHUTDOWN] = do_shutdown,	[HUSK_OP_PROCESS_RESIZE] = do_resize,
    [HUSK_OP_CONTAINER_PS] = do_ps,
};

void agent_handle_request(const char *payload, size_t len)
{
	struct husk_request r;
	struct husk_err err = {0};
	if (husk_request_decode(payload, len, &r, &err) < 0) {
		uint32_t id = husk_request_peek_id(payload, len);
		if (id)
			agent_reply_error(id, &err);
		else
			agent_send_json(HUSK_FRAME_ERROR,
					husk_error_frame_encode(err.code, err.msg));
		return;
	}
	log_debug("request %u %s", r.id, r.op_name);
	if (agent.shutting_down)
		agent_reply_error(r.id, &(struct husk_err){ESHUTDOWN, "the VM is shutting down"});
	else if ((size_t)r.op >= sizeof handlers / sizeof handlers[0] || !handlers[r.op])
		agent_reply_error(r.id, &(struct husk_err){EOPNOTSUPP, "operation not supported"});
	else if (handlers[r.op](&r, &err) < 0)
		agent_reply_error(r.id, &err);
	husk_request_free(&r);
}
