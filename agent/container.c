/* Containers: their root share, spec, cgroup and seccomp program. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "container.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "util.h"

#define AGENT_RUN_DIR "/run/husk"

static struct agent_container *containers;

struct agent_container *agent_container_find(const char *id)
{
	for (struct agent_container *c = containers; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static void container_free(struct agent_container *c)
{
	free(c->id);
	free(c->rootfs);
	free(c->hostname);
	free(c->cgroup);
	agent_spec_free(&c->spec);
	agent_seccomp_free(&c->seccomp);
	free(c);
}

/* A directory made under the container's run dir, and whether something
 * is mounted on it. */
struct made_mount {
	char *path;
	bool mounted;
};

/* What a create has made so far: all undone unless it succeeds. */
struct made {
	char *dir; /* /run/husk/<id> */
	/* in the order made: the share, the overlay's upper tmpfs and the
	 * overlay itself (a read-only root), the bind sources' shares */
	struct made_mount share, upper, root, binds, binds_ro;
	bool cgroup_made;
	struct agent_container *c;
	bool done;
};

static void undo_mount(struct made_mount *mm, bool undo)
{
	if (undo && mm->mounted)
		umount2(mm->path, MNT_DETACH);
	if (undo && mm->path)
		rmdir(mm->path);
	free(mm->path);
}

static void made_undo(struct made *m)
{
	bool undo = !m->done;
	if (undo && m->cgroup_made)
		rmdir(m->c->cgroup);
	undo_mount(&m->binds_ro, undo);
	undo_mount(&m->binds, undo);
	undo_mount(&m->root, undo);
	undo_mount(&m->upper, undo);
	undo_mount(&m->share, undo);
	if (undo && m->dir)
		rmdir(m->dir);
	if (undo && m->c)
		container_free(m->c);
	free(m->dir);
}

/* A share the VMM serves read-only is mounted read-only here too. */
static int mount_share(const struct husk_rootfs *rf, const char *dst, bool readonly,
		       struct husk_err *err)
{
	unsigned long flags = MS_NOSUID | MS_NODEV | (readonly ? MS_RDONLY : 0);
	if (strcmp(rf->fstype, "9p") == 0) {
		if (mount(rf->tag, dst, "9p", flags,
			  "trans=virtio,version=9p2000.L,msize=262144,cache=mmap") < 0)
			return husk_err_sys(err, errno, "mount 9p share %s", rf->tag);
	} else if (mount(rf->tag, dst, "virtiofs", flags, NULL) < 0) {
		return husk_err_sys(err, errno, "mount virtio-fs share %s", rf->tag);
	}
	return 0;
}

/* Makes the directory fmt names, its path in *made (to remove on undo). */
__attribute__((format(printf, 4, 5))) static int
make_dir(char **made, mode_t mode, struct husk_err *err, const char *fmt, ...)
{
	char *path;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (n < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (mkdir(path, mode) < 0) {
		husk_err_sys(err, errno, "mkdir %s", path);
		free(path);
		return -1;
	}
	*made = path;
	return 0;
}

/* A read-only root is read-only at the VMM (QEMU's readonly=on, a read-only
 * view for virtiofsd: docs/security.md, "Read-only shares"), so the mount
 * points a config names cannot be made in it as runc makes them. The root is
 * an overlay instead: the share below, a small tmpfs above that takes the
 * mount points and devices; the container's root is remounted read-only
 * last, as any other. Nothing reaches the host's files whatever the guest
 * does with its mounts. <dir>/root; the upper layer's root takes the mode and
 * owner of the share's. */
static int overlay_root(struct made *m, const char *lower, struct husk_err *err)
{
	struct stat st;
	char up[512], work[512];
	_cleanup_free_ char *opts = NULL;
	if (stat(lower, &st) < 0 || !S_ISDIR(st.st_mode))
		return 1; /* the caller says what is wrong */
	if (strpbrk(lower, ",:\\"))
		return husk_err_set(err, EINVAL, "rootfs %s: no overlay of a path with , : or \\",
				    lower);
	if (make_dir(&m->upper.path, 0700, err, "%s/upper", m->dir) < 0)
		return -1;
	if (mount("tmpfs", m->upper.path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=4m") < 0)
		return husk_err_sys(err, errno, "mount tmpfs %s", m->upper.path);
	m->upper.mounted = true;
	snprintf(up, sizeof up, "%s/upper", m->upper.path);
	snprintf(work, sizeof work, "%s/work", m->upper.path);
	if (mkdir(up, st.st_mode & 07777) < 0 || chmod(up, st.st_mode & 07777) < 0 ||
	    chown(up, st.st_uid, st.st_gid) < 0 || mkdir(work, 0700) < 0)
		return husk_err_sys(err, errno, "overlay layers in %s", m->upper.path);
	if (asprintf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, up, work) < 0) {
		opts = NULL;
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	if (make_dir(&m->root.path, 0755, err, "%s/root", m->dir) < 0)
		return -1;
	if (mount("overlay", m->root.path, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return husk_err_sys(err, errno, "mount the read-only root's overlay");
	m->root.mounted = true;
	return 0;
}

/* <run dir>/<id>/share holds the rootfs share; the root is in it, or for a
 * read-only root an overlay of it at <run dir>/<id>/root. */
static int mount_root(struct made *m, const char *id, const struct husk_rootfs *rf,
		      struct husk_err *err)
{
	struct stat st;
	const char *path = rf->path ? rf->path : "";
	if (mkdir(AGENT_RUN_DIR, 0700) < 0 && errno != EEXIST)
		return husk_err_sys(err, errno, "mkdir %s", AGENT_RUN_DIR);
	if (make_dir(&m->dir, 0700, err, AGENT_RUN_DIR "/%s", id) < 0 ||
	    make_dir(&m->share.path, 0755, err, "%s/share", m->dir) < 0 ||
	    mount_share(rf, m->share.path, rf->readonly, err) < 0)
		return -1;
	m->share.mounted = true;
	if (asprintf(&m->c->rootfs, "%s/%s", m->share.path, path) < 0) {
		m->c->rootfs = NULL;
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	if (rf->readonly) {
		int r = overlay_root(m, m->c->rootfs, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			free(m->c->rootfs);
			if (!(m->c->rootfs = strdup(m->root.path)))
				return husk_err_set(err, ENOMEM, "out of memory");
		}
	}
	if (stat(m->c->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return husk_err_set(err, ENOENT, "rootfs %s is not a directory in share %s", path,
				    rf->tag);
	return 0;
}

/* config.json's parts the agent applies, and the seccomp program. */
static int read_spec(struct agent_container *c, struct json_object *spec, struct husk_err *err)
{
	struct json_object *mounts = NULL, *linux_ = NULL, *sc = NULL;
	if (spec) {
		json_object_object_get_ex(spec, "mounts", &mounts);
		json_object_object_get_ex(spec, "linux", &linux_);
	}
	c->has_spec_mounts = mounts && json_object_is_type(mounts, json_type_array);
	if (agent_spec_parse(mounts, linux_, &c->spec, err) < 0)
		return -1;
	if (linux_ && json_object_is_type(linux_, json_type_object))
		json_object_object_get_ex(linux_, "seccomp", &sc);
	return agent_seccomp_compile(sc, &c->seccomp, err);
}

/* The first word of dir/name ("max" of cpu.max's "max 100000"). */
static int first_word(const char *dir, const char *name, char *out, size_t size,
		      struct husk_err *err)
{
	char path[512], buf[64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return husk_err_sys(err, n < 0 ? errno : EIO, "read %s", path);
	buf[n] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	snprintf(out, size, "%s", buf);
	return 0;
}

/* One write of linux.resources into the cgroup. Errors name the field and
 * the value: "linux.resources.memory.limit 1234: Invalid argument". */
static int write_limit(const char *cgroup, const struct spec_cgroup_write *w, struct husk_err *err)
{
	char v[sizeof w->value + 32], quota[24];
	struct husk_err e = {0};
	snprintf(v, sizeof v, "%s", w->value);
	if (w->flags & SPEC_CG_KEEP_QUOTA) { /* the period alone */
		if (first_word(cgroup, w->file, quota, sizeof quota, &e) < 0)
			return husk_err_sys(err, e.code, "%s %s: reading the quota of %s", w->field,
					    w->value, w->file);
		snprintf(v, sizeof v, "%s %s", quota, w->value);
	}
	if (agent_write_file(cgroup, w->file, v, &e) == 0)
		return 0;
	if (w->flags & SPEC_CG_BEST_EFFORT)
		return 0;
	if ((w->flags & SPEC_CG_IF_PRESENT) && e.code == ENOENT) {
		log_info("%s %s: the guest's cgroup has no %s, left out", w->field,
			 w->given[0] ? w->given : v, w->file);
		return 0;
	}
	if (w->given[0])
		return husk_err_sys(err, e.code, "%s %s (%s %s)", w->field, w->given, w->file, v);
	return husk_err_sys(err, e.code, "%s %s", w->field, v);
}

/* linux.resources' limits into a cgroup: every one at create, only those
 * it names at container.update (agent_spec_cgroup_writes). */
static int apply_limits(const char *cgroup, const struct spec_resources *r, bool create,
			struct husk_err *err)
{
	struct spec_cgroup_write w[SPEC_CGROUP_WRITES];
	int n = agent_spec_cgroup_writes(r, create, w, err);
	for (int i = 0; i < n; i++)
		if (write_limit(cgroup, &w[i], err) < 0)
			return -1;
	return n < 0 ? -1 : 0;
}

/* Each container gets a cgroup carrying linux.resources' limits; its
 * processes join it before they make their cgroup namespace. */
static int make_cgroup(struct made *m, struct husk_err *err)
{
	struct agent_container *c = m->c;
	if (access("/sys/fs/cgroup/cgroup.procs", F_OK) < 0)
		return 0;
	if (asprintf(&c->cgroup, "/sys/fs/cgroup/%s", c->id) < 0) {
		c->cgroup = NULL;
		return husk_err_set(err, ENOMEM, "out of memory");
	}
	if (mkdir(c->cgroup, 0755) < 0 && errno != EEXIST)
		return husk_err_sys(err, errno, "mkdir %s", c->cgroup);
	m->cgroup_made = true;
	return apply_limits(c->cgroup, &c->spec.resources, true, err);
}

int agent_container_update(struct agent_container *c, struct json_object *resources,
			   struct husk_err *err)
{
	struct spec_resources r;
	int rc;
	if (agent_spec_resources(resources, &r, err) < 0)
		return -1;
	if (!c->cgroup)
		rc = husk_err_set(err, EOPNOTSUPP,
				  "container %s has no cgroup: the guest has no cgroup2", c->id);
	else
		rc = apply_limits(c->cgroup, &r, false, err);
	agent_spec_resources_free(&r);
	if (rc == 0)
		log_debug("container %s updated", c->id);
	return rc;
}

/* Host paths that bind mounts name: spec's "binds" names the share of the
 * writable ones (at <dir>/binds), "binds_ro" that of the read-only ones,
 * which the VMM serves read-only (at <dir>/binds-ro, mounted read-only);
 * the host rewrote each source to its place in one of them. */
static int mount_bind_share(struct made *m, struct json_object *spec, const char *key,
			    const char *name, bool readonly, struct made_mount *mm,
			    struct husk_err *err)
{
	struct json_object *tag;
	if (!spec || !json_object_object_get_ex(spec, key, &tag) ||
	    !json_object_is_type(tag, json_type_string))
		return 0;
	struct husk_rootfs b = {.tag = (char *)json_object_get_string(tag),
				.fstype = "9p" /* always: a share of bind mounts */};
	if (make_dir(&mm->path, 0755, err, "%s/%s", m->dir, name) < 0 ||
	    mount_share(&b, mm->path, readonly, err) < 0)
		return -1;
	mm->mounted = true;
	return 0;
}

static int mount_binds(struct made *m, struct json_object *spec, struct husk_err *err)
{
	if (mount_bind_share(m, spec, "binds", "binds", false, &m->binds, err) < 0 ||
	    mount_bind_share(m, spec, "binds_ro", "binds-ro", true, &m->binds_ro, err) < 0)
		return -1;
	return 0;
}

struct agent_container *agent_container_create(const char *id, const struct husk_rootfs *rootfs,
					       const char *hostname, struct json_object *spec,
					       struct husk_err *err)
{
	__attribute__((cleanup(made_undo))) struct made m = {0};
	if (husk_id_check(id, err) < 0)
		return NULL;
	if (agent_container_find(id)) {
		husk_err_set(err, EEXIST, "container %s already exists", id);
		return NULL;
	}
	if (!(m.c = calloc(1, sizeof *m.c)) || !(m.c->id = strdup(id)) ||
	    (hostname && !(m.c->hostname = strdup(hostname)))) {
		husk_err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	m.c->readonly = rootfs->readonly;
	if (mount_root(&m, id, rootfs, err) < 0 || read_spec(m.c, spec, err) < 0 ||
	    make_cgroup(&m, err) < 0 || mount_binds(&m, spec, err) < 0)
		return NULL;
	/* without a UTS namespace of its own, the container's hostname is the
	 * VM's */
	if (hostname && !(m.c->spec.ns_new & CLONE_NEWUTS) &&
	    sethostname(hostname, strlen(hostname)) < 0)
		log_warn("sethostname: %s", strerror(errno));
	m.done = true;
	m.c->next = containers;
	containers = m.c;
	log_debug("container %s created", id);
	return m.c;
}

int agent_container_pids(const struct agent_container *c, int32_t **out, size_t *n,
			 struct husk_err *err)
{
	char path[64], want[64] = "", have[64];
	size_t cap = 64;
	*n = 0;
	*out = malloc(cap * sizeof **out);
	if (!*out)
		return husk_err_set(err, ENOMEM, "out of memory");
	/* those in its mount namespace, which the agent (PID 1) is not */
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)c->init_pid);
	if (c->init_pid <= 0 || c->stopped || readlink(path, want, sizeof want - 1) < 0)
		return 0; /* not running: no processes */
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && *n < HUSK_MAX_PIDS) {
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
		if (*n == cap) {
			int32_t *more = realloc(*out, (cap *= 2) * sizeof **out);
			if (!more)
				break;
			*out = more;
		}
		(*out)[(*n)++] = (int32_t)pid;
	}
	if (d)
		closedir(d);
	return 0;
}
