/* Containers: their root and bind sources from the VM's share, spec, cgroup
 * and seccomp program. */
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
#include "husk-json.h"
#include "husk-log.h"
#include "util.h"

#define AGENT_RUN_DIR "/run/husk"
/* The VM's one share (the host's <state>/share): mounted once, kept for
 * every container of the VM; each takes its parts from it by bind mounts. */
#define AGENT_SHARE_DIR AGENT_RUN_DIR "/.share"

static struct agent_container *containers;

/* The share mounted at AGENT_SHARE_DIR: its tag and fstype, NULL before. */
static struct {
	char *tag, *fstype;
} share;

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
	free(c->sandbox);
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
	/* in the order made: the rootfs from the share, the overlay's upper
	 * tmpfs and the overlay itself (a read-only root), the bind sources */
	struct made_mount rootfs, upper, root, binds, binds_ro;
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
	undo_mount(&m->rootfs, undo);
	if (undo && m->dir)
		rmdir(m->dir);
	if (undo && m->c)
		container_free(m->c);
	free(m->dir);
}

/* The VM's share at AGENT_SHARE_DIR, once; a later container must name the
 * same one. */
static int mount_vm_share(const struct husk_rootfs *rf, struct husk_err *err)
{
	const char *opts = "trans=virtio,version=9p2000.L,msize=262144,cache=mmap";
	if (share.tag) {
		if (strcmp(share.tag, rf->tag) || strcmp(share.fstype, rf->fstype))
			return husk_err_set(err, EINVAL, "the VM's share is %s (%s), not %s (%s)",
					    share.tag, share.fstype, rf->tag, rf->fstype);
		return 0;
	}
	if ((mkdir(AGENT_RUN_DIR, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(AGENT_SHARE_DIR, 0700) < 0 && errno != EEXIST))
		return husk_err_sys(err, errno, "mkdir %s", AGENT_SHARE_DIR);
	bool p9 = strcmp(rf->fstype, "9p") == 0;
	if (mount(rf->tag, AGENT_SHARE_DIR, p9 ? "9p" : "virtiofs", MS_NOSUID | MS_NODEV,
		  p9 ? opts : NULL) < 0)
		return husk_err_sys(err, errno, "mount %s share %s", p9 ? "9p" : "virtio-fs",
				    rf->tag);
	if (!(share.tag = strdup(rf->tag)) || !(share.fstype = strdup(rf->fstype))) {
		umount2(AGENT_SHARE_DIR, MNT_DETACH);
		free(share.tag);
		share.tag = NULL;
		return husk_err_set(err, ENOMEM, "out of memory");
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

/* A part of the VM's share (inside: a path in it the host gave, checked by
 * the codec or husk_share_path_check) bound at <dir>/<name>, read-only when
 * the host made it so: the guest's mount table says what the host enforces.
 * what names the field for errors. */
static int bind_part(struct made *m, const char *inside, const char *name, bool readonly,
		     struct made_mount *mm, const char *what, struct husk_err *err)
{
	struct stat st;
	char src[4096];
	snprintf(src, sizeof src, AGENT_SHARE_DIR "/%s", inside);
	if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		return husk_err_set(err, ENOENT, "%s %s is not a directory in share %s", what,
				    inside, share.tag);
	if (make_dir(&mm->path, 0755, err, "%s/%s", m->dir, name) < 0)
		return -1;
	if (mount(src, mm->path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return husk_err_sys(err, errno, "bind %s %s", what, inside);
	mm->mounted = true;
	if (readonly && mount(NULL, mm->path, NULL,
			      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return husk_err_sys(err, errno, "make %s %s read-only", what, inside);
	return 0;
}

/* A read-only root is read-only at the VMM (a read-only mount on the host:
 * docs/security.md, "Read-only shares"), so the mount points a config names
 * cannot be made in it as runc makes them. The root is an overlay instead:
 * the rootfs below, a small tmpfs above that takes the mount points and
 * devices; the container's root is remounted read-only last, as any other.
 * Nothing reaches the host's files whatever the guest does with its mounts.
 * <dir>/root; the upper layer's root takes the mode and owner of the
 * rootfs's. */
static int overlay_root(struct made *m, const char *lower, struct husk_err *err)
{
	struct stat st;
	char up[512], work[512];
	_cleanup_free_ char *opts = NULL;
	if (stat(lower, &st) < 0)
		return husk_err_sys(err, errno, "stat %s", lower);
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

/* <run dir>/<id>/rootfs: the rootfs from the VM's share; a read-only root
 * is an overlay of it at <run dir>/<id>/root. */
static int mount_root(struct made *m, const char *id, const struct husk_rootfs *rf,
		      struct husk_err *err)
{
	if (mount_vm_share(rf, err) < 0 ||
	    make_dir(&m->dir, 0700, err, AGENT_RUN_DIR "/%s", id) < 0 ||
	    bind_part(m, rf->path ? rf->path : "", "rootfs", rf->readonly, &m->rootfs, "rootfs",
		      err) < 0)
		return -1;
	if (rf->readonly && overlay_root(m, m->rootfs.path, err) < 0)
		return -1;
	if (!(m->c->rootfs = strdup(rf->readonly ? m->root.path : m->rootfs.path)))
		return husk_err_set(err, ENOMEM, "out of memory");
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

/* Host paths that bind mounts name: spec's "binds" is the directory of the
 * share holding the writable ones, bound at <dir>/binds, "binds_ro" that of
 * the read-only ones (read-only mounts on the host), bound read-only at
 * <dir>/binds-ro; the host rewrote each source to its place in one of them. */
static int mount_bind_part(struct made *m, struct json_object *spec, const char *key,
			   const char *name, bool readonly, struct made_mount *mm,
			   struct husk_err *err)
{
	_cleanup_free_ char *inside = NULL;
	char what[32];
	snprintf(what, sizeof what, "spec.%s", key);
	int r = husk_json_str(spec, "spec.", key, HUSK_JSON_OPTIONAL, &inside, err);
	if (r <= 0)
		return r; /* absent: 0 */
	if (husk_share_path_check(inside, what, err) < 0)
		return -1;
	return bind_part(m, inside, name, readonly, mm, what, err);
}

static int mount_binds(struct made *m, struct json_object *spec, struct husk_err *err)
{
	if (mount_bind_part(m, spec, "binds", "binds", false, &m->binds, err) < 0 ||
	    mount_bind_part(m, spec, "binds_ro", "binds-ro", true, &m->binds_ro, err) < 0)
		return -1;
	return 0;
}

/* A pod's container names its sandbox, a container of this VM that is not
 * itself a pod's container; it joins the sandbox's namespaces where its
 * config names a namespace by path: ipc, uts and pid (the network is the
 * VM's for every container). */
static int take_sandbox(struct agent_container *c, const char *sandbox, struct husk_err *err)
{
	struct agent_container *sb = agent_container_find(sandbox);
	if (!sb)
		return husk_err_set(err, ENOENT, "sandbox %s is not in this VM", sandbox);
	if (sb->sandbox)
		return husk_err_set(err, EINVAL, "%s is a pod's container, not a sandbox", sandbox);
	if (sb->stopped)
		return husk_err_set(err, ESRCH, "sandbox %s has stopped", sandbox);
	if (c->spec.ns_paths & (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP))
		return husk_err_set(err, EINVAL,
				    "linux.namespaces: a pod's container shares only the "
				    "sandbox's ipc, uts, pid and network namespaces");
	if (!(c->sandbox = strdup(sandbox)))
		return husk_err_set(err, ENOMEM, "out of memory");
	return 0;
}

int agent_container_join(struct agent_container *c, struct husk_err *err)
{
	struct agent_container *sb = agent_container_find(c->sandbox);
	if (!sb || sb->stopped || sb->init_pid <= 0)
		return husk_err_set(err, ESRCH, "sandbox %s is not running", c->sandbox);
	c->join_pid = sb->init_pid;
	return 0;
}

struct agent_container *agent_container_create(const char *id, const struct husk_rootfs *rootfs,
					       const char *hostname, struct json_object *spec,
					       const char *sandbox, struct husk_err *err)
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
	    (sandbox && take_sandbox(m.c, sandbox, err) < 0) || make_cgroup(&m, err) < 0 ||
	    mount_binds(&m, spec, err) < 0)
		return NULL;
	/* without a UTS namespace of its own, the container's hostname is the
	 * VM's (a pod's container has its sandbox's) */
	if (hostname && !sandbox && !(m.c->spec.ns_new & CLONE_NEWUTS) &&
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

/* Every process of the container, at once: its cgroup's cgroup.kill (Linux
 * 5.14), else those of its mount namespace. A container that shares the
 * VM's pid namespace may not take the other containers with it. */
void agent_container_kill(struct agent_container *c)
{
	if (c->cgroup && agent_write_file(c->cgroup, "cgroup.kill", "1", NULL) == 0)
		return;
	_cleanup_free_ int32_t *pids = NULL;
	size_t n = 0;
	if (agent_container_pids(c, &pids, &n, NULL) == 0)
		for (size_t i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
	if (c->init_pid > 0)
		kill(c->init_pid, SIGKILL);
}

/* What create made under /run/husk/<id>, undone in reverse (each detached:
 * the container's own mount namespace may still hold them while its
 * processes die). */
static void unmount_parts(const char *id)
{
	static const char *const parts[] = {"binds-ro", "binds", "root", "upper", "rootfs"};
	char path[300];
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		snprintf(path, sizeof path, AGENT_RUN_DIR "/%s/%s", id, parts[i]);
		umount2(path, MNT_DETACH);
		rmdir(path);
	}
	snprintf(path, sizeof path, AGENT_RUN_DIR "/%s", id);
	rmdir(path);
}

static void container_finish_delete(struct agent_container *c)
{
	/* its cgroup empties as the killed processes are reaped */
	if (c->cgroup && rmdir(c->cgroup) < 0 && errno != ENOENT)
		log_warn("rmdir %s: %s", c->cgroup, strerror(errno));
	log_debug("container %s deleted", c->id);
	container_free(c);
}

int agent_container_delete(struct agent_container *c, struct husk_err *err)
{
	for (struct agent_container *o = containers; o; o = o->next)
		if (o->sandbox && strcmp(o->sandbox, c->id) == 0)
			return husk_err_set(err, EBUSY, "sandbox %s still has container %s", c->id,
					    o->id);
	for (struct agent_container **pp = &containers; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->deleted = true;
	c->stopped = true;
	agent_container_kill(c);
	unmount_parts(c->id);
	if (c->nprocs == 0)
		container_finish_delete(c);
	return 0;
}

void agent_container_put(struct agent_container *c)
{
	if (--c->nprocs == 0 && c->deleted)
		container_finish_delete(c);
}
