/* A new container's root, in the child between fork and exec: its mount
 * namespace, the mounts config.json asks for, devices, sysctls, masked and
 * read-only paths, pivot_root. Mount targets are resolved inside the rootfs
 * (openat2 RESOLVE_IN_ROOT) so a symlink in the image cannot point a mount
 * at the agent's own tree. */
#include <errno.h>
#include <fcntl.h>
#include "kernel-abi.h"
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rootfs.h"
#include "util.h"

static int openat2_in(int root, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

/* Open PATH inside ROOT as an O_PATH fd, creating missing directories (and
 * the last component as an empty file when FILE). */
static int open_target(int root, const char *path, bool file)
{
	char prefix[4096];
	size_t len = 0;
	int parent = fcntl(root, F_DUPFD_CLOEXEC, 3);
	const char *p = path;
	while (parent >= 0 && *p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (!n)
			break;
		bool last = p[n] == '\0' || p[n + strspn(p + n, "/")] == '\0';
		if (len + n + 2 > sizeof prefix) {
			close(parent);
			errno = ENAMETOOLONG;
			return -1;
		}
		prefix[len++] = '/';
		memcpy(prefix + len, p, n);
		len += n;
		prefix[len] = '\0';
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)n, p);
		int fd = openat2_in(root, prefix, O_PATH | ((last && file) ? 0 : O_DIRECTORY));
		if (fd < 0 && errno == ENOENT) {
			if (last && file) {
				int f = openat(parent, name,
					       O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
					       0644);
				if (f >= 0)
					close(f);
			} else {
				mkdirat(parent, name, 0755);
			}
			fd = openat2_in(root, prefix, O_PATH | ((last && file) ? 0 : O_DIRECTORY));
		}
		close(parent);
		parent = fd;
		p += n;
	}
	return parent;
}

static int fd_path(int fd, char *buf, size_t size)
{
	return snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Remount flags and propagation apply to the new mount's root, so the target
 * is opened again after the mount: the first fd still names what lies under. */
static int mount_again(int root, const struct spec_mount *m, bool file, unsigned long flags)
{
	char target[64];
	_cleanup_close_ int fd = open_target(root, m->dst, file);
	if (fd < 0)
		return -1;
	fd_path(fd, target, sizeof target);
	return mount(NULL, target, NULL, flags, NULL);
}

static int do_mount(int root, const struct spec_mount *m)
{
	struct stat st;
	bool file = false;
	if (m->bind && stat(m->src, &st) == 0 && !S_ISDIR(st.st_mode))
		file = true;
	_cleanup_close_ int fd = open_target(root, m->dst, file);
	if (fd < 0)
		return -1;
	char target[64];
	fd_path(fd, target, sizeof target);
	int r;
	const char *type = m->type;
	if (m->bind) {
		r = mount(m->src, target, NULL, MS_BIND | (m->recursive ? MS_REC : 0), NULL);
	} else {
		if (!strcmp(type, "cgroup"))
			type = "cgroup2"; /* the guest kernel runs the unified hierarchy */
		const char *src = m->src && m->src[0] ? m->src : type;
		r = mount(src, target, type, m->flags, !strcmp(type, "cgroup2") ? NULL : m->data);
		if (r < 0 && errno == EINVAL && m->data && !strcmp(type, "mqueue"))
			r = mount(src, target, type, m->flags, NULL);
	}
	/* flags of a bind mount take a remount (ro, nosuid, ...) */
	if (r == 0 && m->bind && (m->flags & ~MS_REMOUNT))
		r = mount_again(root, m, file, MS_REMOUNT | MS_BIND | m->flags);
	if (r == 0 && m->propagation)
		r = mount_again(root, m, file, m->propagation);
	return r;
}

/* runc's defaults for a tmpfs /dev: the usual nodes and links. */
static void default_devices(int root)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = {{"null", 1, 3},   {"zero", 1, 5},	  {"full", 1, 7},
		     {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	static const char *const links[][2] = {{"/proc/self/fd", "fd"},
					       {"/proc/self/fd/0", "stdin"},
					       {"/proc/self/fd/1", "stdout"},
					       {"/proc/self/fd/2", "stderr"},
					       {"/proc/kcore", "core"}};
	int dev = openat2_in(root, "/dev", O_DIRECTORY);
	if (dev < 0)
		return;
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666,
			    makedev(nodes[i].maj, nodes[i].min)) == 0)
			fchmodat(dev, nodes[i].name, 0666, 0);
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		symlinkat(links[i][0], dev, links[i][1]);
	/* /dev/ptmx follows the container's own devpts instance */
	struct stat st;
	if (fstatat(dev, "pts/ptmx", &st, 0) == 0) {
		unlinkat(dev, "ptmx", 0);
		symlinkat("pts/ptmx", dev, "ptmx");
	}
	close(dev);
}

static int make_devices(int root, const struct agent_spec *s)
{
	for (size_t i = 0; i < s->ndevices; i++) {
		const struct spec_device *d = &s->devices[i];
		char dir[4096], *slash;
		snprintf(dir, sizeof dir, "%s", d->path);
		slash = strrchr(dir, '/');
		*slash = '\0';
		_cleanup_close_ int parent = open_target(root, dir[0] ? dir : "/", false);
		if (parent < 0)
			return -1;
		mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
		unlinkat(parent, slash + 1, 0);
		int r = mknodat(parent, slash + 1, type | (d->mode & 07777),
				makedev(d->major, d->minor));
		if (r == 0)
			r = fchmodat(parent, slash + 1, d->mode & 07777, 0);
		if (r == 0)
			r = fchownat(parent, slash + 1, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int write_sysctls(const struct agent_spec *s, int *detail)
{
	for (size_t i = 0; i < s->nsysctl; i++) {
		*detail = -(int)(i + 1);
		char name[512];
		snprintf(name, sizeof name, "%s", s->sysctl[i].key);
		for (char *p = name; *p; p++)
			if (*p == '.')
				*p = '/';
		if (agent_write_file("/proc/sys", name, s->sysctl[i].value, NULL) < 0)
			return -1;
	}
	*detail = 0;
	return 0;
}

/* After pivot_root: masked paths become empty and read-only paths so. */
static void mask_paths(const struct agent_spec *s)
{
	for (char **p = s->masked; p && *p; p++) {
		struct stat st;
		if (stat(*p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			mount("tmpfs", *p, "tmpfs", MS_RDONLY, "size=0");
		else
			mount("/dev/null", *p, NULL, MS_BIND, NULL);
	}
	for (char **p = s->readonly; p && *p; p++) {
		if (mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) == 0)
			mount(NULL, *p, NULL,
			      MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			      NULL);
	}
}

/* The mounts a bundle without "mounts" gets: /proc, a private /dev, /sys. */
static const char *const default_json_mounts[][4] = {
    {"/proc", "proc", "proc", "nosuid,noexec,nodev"},
    {"/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"},
    {"/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"},
    {"/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"},
    {"/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"},
};

static void mount_defaults(int root)
{
	for (size_t i = 0; i < sizeof default_json_mounts / sizeof default_json_mounts[0]; i++) {
		struct spec_mount m = {.dst = (char *)default_json_mounts[i][0],
				       .type = (char *)default_json_mounts[i][1],
				       .src = (char *)default_json_mounts[i][2]};
		char opts[128];
		snprintf(opts, sizeof opts, "%s", default_json_mounts[i][3]);
		char data[128] = "";
		for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ",")) {
			if (!strcmp(tok, "nosuid"))
				m.flags |= MS_NOSUID;
			else if (!strcmp(tok, "noexec"))
				m.flags |= MS_NOEXEC;
			else if (!strcmp(tok, "nodev"))
				m.flags |= MS_NODEV;
			else if (!strcmp(tok, "ro"))
				m.flags |= MS_RDONLY;
			else if (!strcmp(tok, "strictatime"))
				m.flags |= MS_STRICTATIME;
			else {
				if (data[0])
					strcat(data, ",");
				strcat(data, tok);
			}
		}
		m.data = data[0] ? data : NULL;
		do_mount(root, &m);
	}
}

int agent_rootfs_enter(const struct agent_container *c, int *detail)
{
	const struct agent_spec *s = &c->spec;
	/* A slave root follows the agent's tree (made shared before unshare);
	 * anything else starts private, since pivot_root refuses a shared new
	 * root or parent. The root's own propagation is set after pivot_root. */
	unsigned long first = s->rootfs_propagation & MS_SLAVE ? MS_SLAVE : MS_PRIVATE;
	if (mount(NULL, "/", NULL, MS_REC | first, NULL) < 0)
		return -1;
	if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return -1;
	_cleanup_close_ int root = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	if (!c->has_spec_mounts)
		mount_defaults(root);
	for (size_t i = 0; i < s->nmounts; i++) {
		if (do_mount(root, &s->mounts[i]) < 0) {
			*detail = (int)i + 1;
			return -1;
		}
	}
	default_devices(root);
	if (make_devices(root, s) < 0 || write_sysctls(s, detail) < 0)
		return -1;
	close(husk_steal_fd(root));
	/* pivot_root(".", ".") stacks the old root on the new one; detach it. */
	if (chdir(c->rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return -1;
	mask_paths(s);
	if (c->readonly && mount(NULL, "/", NULL,
				 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return -1;
	if (s->rootfs_propagation && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
		return -1;
	return 0;
}
