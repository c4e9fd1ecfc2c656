/* Per-container state directories under --root. */
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-facts.h"
#include "husk.h"
#include "state.h"

/* Found fine once: the root does not change within one process. An absent
 * root is looked at again (create makes it). */
static bool root_trusted;

int husk_state_root_check(struct husk_err *err)
{
	const char *root = husk_global.root;
	struct stat st;
	if (root_trusted)
		return 0;
	if (lstat(root, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* nothing in it to trust */
		return husk_err_sys(err, errno, "state root %s", root);
	}
	if (!S_ISDIR(st.st_mode))
		return husk_err_set(
		    err, ENOTDIR,
		    "state root %s is not a directory (a symlink?): refusing to use it", root);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return husk_err_set(
		    err, EPERM,
		    "state root %s is owned by uid %u, not by uid %u%s: refusing to "
		    "use it",
		    root, (unsigned)st.st_uid, (unsigned)geteuid(), geteuid() ? " or root" : "");
	if (st.st_mode & 022)
		return husk_err_set(
		    err, EPERM, "state root %s is writable by others (mode %o): refusing to use it",
		    root, (unsigned)(st.st_mode & 07777));
	root_trusted = true;
	return 0;
}

char *husk_state_dir(const char *id)
{
	char *dir;
	return asprintf(&dir, "%s/%s", husk_global.root, id) < 0 ? NULL : dir;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int husk_state_create(const char *id, char **dir, struct husk_err *err)
{
	if (husk_id_check(id, err) < 0 || husk_state_root_check(err) < 0)
		return -1;
	if (mkdir_p(husk_global.root, 0711) < 0)
		return husk_err_sys(err, errno, "cannot create state directory %s",
				    husk_global.root);
	if (husk_state_root_check(err) < 0) /* the one we just made, or found */
		return -1;
	if (!(*dir = husk_state_dir(id)))
		return husk_err_set(err, ENOMEM, "out of memory");
	if (mkdir(*dir, 0700) < 0) {
		int e = errno;
		free(*dir);
		*dir = NULL;
		if (e == EEXIST)
			return husk_err_set(err, EEXIST, "container %s already exists", id);
		return husk_err_sys(err, e, "cannot create state for %s", id);
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void husk_state_remove(const char *dir)
{
	/* depth first, never crossing into a mount */
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int husk_state_lock(const char *dir, struct husk_err *err)
{
	const char *id = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	struct stat held, now;
	if (husk_state_root_check(err) < 0)
		return -1;
	for (int tries = 0; tries < 16; tries++) {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			return husk_err_set(err, ENOENT, "container does not exist: %s", id);
		if (fd < 0)
			return husk_err_sys(err, errno, "cannot open %s", dir);
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				husk_closep(&fd);
				return husk_err_sys(err, errno, "cannot lock %s", dir);
			}
		}
		/* Whoever held it may have removed the directory (delete), and
		 * a create may have made a new one under the name since: the
		 * lock counts only on the directory that is there now. The
		 * open fd keeps the old inode from being reused. */
		if (fstat(fd, &held) == 0 && lstat(dir, &now) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino)
			return fd;
		close(fd);
		if (lstat(dir, &now) < 0 && errno == ENOENT)
			return husk_err_set(err, ENOENT, "container does not exist: %s", id);
	}
	return husk_err_set(err, EAGAIN, "cannot lock %s: it keeps being replaced", dir);
}

void husk_state_remove_made(const char *dir, dev_t dev, ino_t ino)
{
	struct stat st;
	_cleanup_close_ int lock = husk_state_lock(dir, NULL);
	if (lock >= 0 && fstat(lock, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		husk_state_remove(dir);
}

int husk_pidref_open(struct husk_pidref *r, pid_t pid, unsigned long long start_time)
{
	*r = (struct husk_pidref){.pid = pid, .start_time = start_time, .fd = -1};
	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	r->fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (r->fd < 0 && errno != ENOSYS)
		return -1;
	/* The fd names whichever process had pid at the open; that it started
	 * at start_time (and is not a zombie) says it is ours. */
	if (!husk_pid_alive(pid, start_time)) {
		husk_pidref_close(r);
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int husk_pidref_signal(const struct husk_pidref *r, int sig)
{
	if (r->fd >= 0) {
		int n = (int)syscall(SYS_pidfd_send_signal, r->fd, sig, NULL, 0);
		if (n == 0 || errno != ENOSYS)
			return n;
	}
	/* without pidfds: check again, as close to the kill as can be */
	if (!husk_pid_alive(r->pid, r->start_time)) {
		errno = ESRCH;
		return -1;
	}
	return kill(r->pid, sig);
}

bool husk_pidref_wait(const struct husk_pidref *r, int ms)
{
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left =
		    (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
		if (r->fd >= 0) {
			struct pollfd p = {.fd = r->fd, .events = POLLIN};
			int n = poll(&p, 1, left > 0 ? (int)left : 0);
			if (n > 0)
				return true;
			if (n < 0 && errno != EINTR)
				return !husk_pid_alive(r->pid, r->start_time);
		} else {
			if (!husk_pid_alive(r->pid, r->start_time))
				return true;
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
		}
		if (left <= 0)
			return !husk_pid_alive(r->pid, r->start_time);
	}
}

void husk_pidref_close(struct husk_pidref *r)
{
	husk_closep(&r->fd);
	r->fd = -1;
}

int husk_pid_signal(pid_t pid, unsigned long long start_time, int sig)
{
	_cleanup_pidref_ struct husk_pidref r;
	if (husk_pidref_open(&r, pid, start_time) < 0)
		return -1;
	return husk_pidref_signal(&r, sig);
}

void husk_now_rfc3339(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%09ldZ", ts.tv_nsec);
}

unsigned long long husk_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* comm may hold spaces */
	if (!p)
		return 0;
	/* field 22 is starttime; after ")" comes field 3 */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

struct json_object *husk_state_to_oci(const struct husk_state *st)
{
	struct json_object *o = json_object_new_object();
	const char *status = husk_state_status(st);
	json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(o, "id", json_object_new_string(st->id));
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "pid",
			       json_object_new_int(strcmp(status, "stopped") ? st->pid : 0));
	json_object_object_add(o, "bundle", json_object_new_string(st->bundle ? st->bundle : ""));
	json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs ? st->rootfs : ""));
	json_object_object_add(o, "created",
			       json_object_new_string(st->created ? st->created : ""));
	json_object_object_add(o, "owner", json_object_new_string(""));
	json_object_object_add(o, "annotations",
			       st->annotations ? json_object_get(st->annotations)
					       : json_object_new_object());
	return o;
}

int husk_state_write(const char *dir, const struct husk_state *st, struct husk_err *err)
{
	_cleanup_free_ char *tmp = NULL, *path = NULL;
	_cleanup_json_ struct json_object *o = husk_state_to_oci(st);
	json_object_object_add(o, "status", json_object_new_string(st->status));
	json_object_object_add(o, "pid", json_object_new_int(st->pid));
	json_object_object_add(o, "husk_start_time",
			       json_object_new_int64((int64_t)st->start_time));
	json_object_object_add(o, "husk_exit_status", json_object_new_int(st->exit_status));
	json_object_object_add(o, "husk_proxy_pid", json_object_new_int(st->proxy_pid));
	json_object_object_add(o, "husk_proxy_start_time",
			       json_object_new_int64((int64_t)st->proxy_start_time));
	json_object_object_add(o, "husk_vm_pid", json_object_new_int(st->vm_pid));
	json_object_object_add(o, "husk_vm_start_time",
			       json_object_new_int64((int64_t)st->vm_start_time));
	if (st->netns)
		json_object_object_add(o, "husk_netns", json_object_new_string(st->netns));
	if (st->cgroup)
		json_object_object_add(o, "husk_cgroup", json_object_new_string(st->cgroup));
	if (asprintf(&tmp, "%s/state.json.tmp", dir) < 0 ||
	    asprintf(&path, "%s/state.json", dir) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PLAIN) < 0)
		return husk_err_sys(err, errno, "cannot write %s", tmp);
	if (rename(tmp, path) < 0)
		return husk_err_sys(err, errno, "cannot write %s", path);
	return 0;
}

static char *str_field(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

int husk_state_read(const char *id, struct husk_state *st, struct husk_err *err)
{
	struct json_object *v;
	memset(st, 0, sizeof *st);
	st->exit_status = -1;
	if (husk_id_check(id, err) < 0 || husk_state_root_check(err) < 0)
		return -1;
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s/state.json", husk_global.root, id) < 0)
		return husk_err_set(err, ENOMEM, "out of memory");
	_cleanup_json_ struct json_object *o = json_object_from_file(path);
	if (!o || !json_object_is_type(o, json_type_object))
		return husk_err_set(err, ENOENT, "container does not exist: %s", id);
	st->id = str_field(o, "id");
	st->bundle = str_field(o, "bundle");
	st->rootfs = str_field(o, "rootfs");
	st->status = str_field(o, "status");
	st->created = str_field(o, "created");
	st->netns = str_field(o, "husk_netns");
	st->cgroup = str_field(o, "husk_cgroup");
	if (json_object_object_get_ex(o, "pid", &v))
		st->pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "husk_start_time", &v))
		st->start_time = (unsigned long long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "husk_exit_status", &v))
		st->exit_status = json_object_get_int(v);
	if (json_object_object_get_ex(o, "husk_proxy_pid", &v))
		st->proxy_pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "husk_proxy_start_time", &v))
		st->proxy_start_time = (unsigned long long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "husk_vm_pid", &v))
		st->vm_pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "husk_vm_start_time", &v))
		st->vm_start_time = (unsigned long long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "annotations", &v))
		st->annotations = json_object_get(v);
	if (!st->id || !st->status) {
		husk_state_free(st);
		return husk_err_set(err, EIO, "state of container %s is damaged", id);
	}
	return 0;
}

bool husk_state_alive(const struct husk_state *st)
{
	if (st->proxy_pid > 0)
		return husk_pid_alive(st->proxy_pid, st->proxy_start_time);
	return husk_pid_alive(st->pid, st->start_time);
}

bool husk_pid_alive(pid_t pid, unsigned long long start_time)
{
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	/* a zombie (not yet reaped by its parent) is gone too */
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (n > 0) {
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		if (p && (p[2] == 'Z' || p[2] == 'X'))
			return false;
	}
	return !start_time || husk_proc_start_time(pid) == start_time;
}

const char *husk_state_status(const struct husk_state *st)
{
	if (!strcmp(st->status, "stopped") || !husk_state_alive(st))
		return "stopped";
	/* the sentinel is the container's PID: once it is gone (SIGKILL), so
	 * is the container, even while its proxy is still cleaning up */
	if (st->proxy_pid > 0 && st->pid != st->proxy_pid && st->start_time &&
	    strcmp(st->status, "creating") != 0 && !husk_pid_alive(st->pid, st->start_time))
		return "stopped";
	return st->status;
}

void husk_state_free(struct husk_state *st)
{
	free(st->id);
	free(st->bundle);
	free(st->rootfs);
	free(st->status);
	free(st->created);
	free(st->netns);
	free(st->cgroup);
	if (st->annotations)
		json_object_put(st->annotations);
	memset(st, 0, sizeof *st);
}
