/* The host cgroup of one container's VM (see cgroup.h): where it goes, as
 * runc places linux.cgroupsPath, and the few files husk writes and reads. */
#include <errno.h>
#include <time.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-int.h"
#include "cgroup.h"
#include "husk-log.h"

void (*husk_cgroup_mkdir_hook)(const char *dir);

const char *const husk_cgroup_ctl_name[HUSK_CG_NCTL] = {"memory", "cpu",   "cpuacct", "pids",
							"cpuset", "blkio", "devices", "freezer"};

static int oom(struct husk_err *err)
{
	return husk_err_set(err, ENOMEM, "out of memory");
}

/* ---- paths ---- */

/* in without empty and "." parts into out[PATH_MAX], "/" first if in is
 * absolute ("/" alone for the root, "" for no relative part); -EINVAL for a
 * ".." part. */
static int clean_path(const char *in, char *out)
{
	char *w = out;
	if (strlen(in) + 2 > PATH_MAX)
		return -ENAMETOOLONG;
	for (const char *p = in; *p;) {
		size_t k = strcspn(p, "/");
		if (k == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (k && !(k == 1 && p[0] == '.'))
			w += sprintf(w, "%s%.*s", w > out || in[0] == '/' ? "/" : "", (int)k, p);
		p += k + (p[k] == '/');
	}
	if (in[0] == '/' && w == out)
		*w++ = '/';
	*w = 0;
	return 0;
}

/* Cut p (an absolute path) to its parent, in place. */
static void up(char *p)
{
	char *s = strrchr(p, '/');
	if (s)
		s[s == p] = 0;
}

static int bad_path(const char *cp, const char *what, struct husk_err *err)
{
	return husk_err_set(err, EINVAL, "linux.cgroupsPath \"%s\": %s", cp, what);
}

/* runc's ExpandSlice: "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice",
 * "-.slice" -> "/". cp is linux.cgroupsPath, for the error. */
static int expand_slice(const char *cp, const char *slice, char **out, struct husk_err *err)
{
	size_t n = strlen(slice), base = n - 6;
	if (n < 6 || strcmp(slice + base, ".slice") != 0 || strchr(slice, '/')) {
		husk_err_set(err, EINVAL, "linux.cgroupsPath \"%s\": slice \"%s\" %s", cp, slice,
			     strchr(slice, '/') ? "has a '/'" : "does not end in .slice");
		return -1;
	}
	if (base == 1 && slice[0] == '-')
		return (*out = strdup("/")) ? 0 : oom(err);
	char *o = malloc((base + 8) * (base + 1) + 1), *w = o;
	if (!o)
		return oom(err);
	*w = 0;
	for (size_t i = 0, start = 0; i <= base; i++) {
		if (i < base && slice[i] != '-')
			continue;
		if (i == start) {
			free(o);
			return husk_err_set(
			    err, EINVAL,
			    "linux.cgroupsPath \"%s\": slice \"%s\" has an empty part "
			    "(\"--\", or '-' first or last)",
			    cp, slice);
		}
		w += sprintf(w, "/%.*s.slice", (int)i, slice);
		start = i + 1;
	}
	*out = o;
	return 0;
}

/* "slice:prefix:name" (runc's systemd driver), "" for husk-<id>.scope. */
static int systemd_path(const char *cp, const char *id, char **rel, struct husk_err *err)
{
	_cleanup_free_ char *dup = strdup(cp), *sp = NULL;
	const char *slice = "system.slice", *prefix = "husk", *name = id;
	if (!dup)
		return oom(err);
	if (*cp) {
		char *c1 = strchr(dup, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || strchr(c2 + 1, ':'))
			return bad_path(cp, "expected slice:prefix:name", err);
		*c1 = *c2 = 0;
		slice = *dup ? dup : slice;
		prefix = c1 + 1;
		name = c2 + 1;
	}
	if (strchr(prefix, '/') || strchr(name, '/'))
		return bad_path(cp, "prefix and name must not have a '/'", err);
	size_t n = strlen(name);
	if (n >= 6 && strcmp(name + n - 6, ".slice") == 0) { /* a slice itself */
		if (expand_slice(cp, name, rel, err) < 0 || strcmp(*rel, "/") != 0)
			return *rel ? 0 : -1;
		free(husk_steal(*rel));
		return bad_path(cp, "the root slice cannot be a container's cgroup", err);
	}
	if (expand_slice(cp, slice, &sp, err) < 0)
		return -1;
	if (asprintf(rel, "%s/%s-%s.scope", strcmp(sp, "/") ? sp : "", prefix, name) < 0)
		return (*rel = NULL), oom(err);
	return 0;
}

/* A relative path under husk's own cgroup(s), as runc's fs and fs2 do. */
static int relative(bool v2, const char *self, const char *cp, const char *path, char **rel,
		    struct husk_err *err)
{
	_cleanup_free_ char *text = strdup(self);
	char *own[HUSK_CG_NCTL] = {0}, *sp, *cs, full[HUSK_CG_NCTL][PATH_MAX];
	int first = -1;
	bool same = true;
	if (!text)
		return oom(err);
	for (char *line = strtok_r(text, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = 0;
		if (v2 && c1 == line + 1 && line[0] == '0' && c2 == c1 + 1)
			own[0] = c2 + 1;
		for (char *c = strtok_r(c1 + 1, ",", &cs); c && !v2; c = strtok_r(NULL, ",", &cs))
			for (int i = 0; i < HUSK_CG_NCTL; i++)
				if (strcmp(c, husk_cgroup_ctl_name[i]) == 0)
					own[i] = c2 + 1;
	}
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		char base[PATH_MAX];
		if (!own[i])
			continue;
		if (clean_path(own[i], base) < 0 || base[0] != '/')
			return husk_err_set(err, EINVAL,
					    "husk's own cgroup \"%s\" is outside its namespace",
					    own[i]);
		if (v2) /* its parent: husk's own cgroup has processes */
			up(base);
		if (snprintf(full[i], PATH_MAX, "%s/%s", strcmp(base, "/") ? base : "", path) >=
		    PATH_MAX)
			return bad_path(cp, "too long", err);
		if (first < 0)
			first = i;
		same = same && strcmp(full[i], full[first]) == 0;
	}
	if (first < 0)
		return husk_err_set(err, ENOENT,
				    "linux.cgroupsPath \"%s\": /proc/self/cgroup has no %s", cp,
				    v2 ? "\"0::\" line" : "cgroup v1 controller");
	if (same)
		return (*rel = strdup(full[first])) ? 0 : oom(err);
	char *w = *rel = malloc(HUSK_CG_NCTL * (PATH_MAX + 10));
	if (!w)
		return oom(err);
	for (int i = first; i < HUSK_CG_NCTL; i++)
		if (own[i])
			w += sprintf(w, "%s%s=%s", i > first ? "\n" : "", husk_cgroup_ctl_name[i],
				     full[i]);
	return 0;
}

int husk_cgroup_resolve_text(bool v2, const char *self_cgroup, const char *cgroups_path,
			     const char *id, bool systemd, char **rel, struct husk_err *err)
{
	const char *cp = cgroups_path ? cgroups_path : "";
	char path[PATH_MAX];
	*rel = NULL;
	if (strchr(cp, '\n'))
		return husk_err_set(err, EINVAL, "linux.cgroupsPath has a newline");
	if (systemd)
		return systemd_path(cp, id ? id : "", rel, err);
	int r = clean_path(*cp ? cp : id ? id : "", path);
	if (r < 0)
		return bad_path(cp, r == -EINVAL ? "\"..\" is not allowed" : "too long", err);
	if (!*path || strcmp(path, "/") == 0)
		return bad_path(cp, "names no cgroup below the root", err);
	if (path[0] == '/')
		return (*rel = strdup(path)) ? 0 : oom(err);
	return relative(v2, self_cgroup, cp, path, rel, err);
}

/* At most size - 1 bytes of dir/file, NUL-terminated; -errno on failure.
 * One read: cgroup and proc files hand over what fits at once. */
int husk_cgroup_read(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static bool is_v2(const char *root)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/cgroup.controllers", root);
	return access(p, F_OK) == 0;
}

int husk_cgroup_resolve(const char *root, const char *cgroups_path, const char *id, bool systemd,
			char **rel, struct husk_err *err)
{
	char self[8192];
	if (systemd || (cgroups_path && cgroups_path[0] == '/'))
		return husk_cgroup_resolve_text(false, "", cgroups_path, id, systemd, rel, err);
	int r = husk_cgroup_read("/proc/self", "cgroup", self, sizeof self);
	if (r < 0)
		return husk_err_sys(err, -r, "cannot read /proc/self/cgroup");
	return husk_cgroup_resolve_text(is_v2(root ? root : HUSK_CGROUP_ROOT), self, cgroups_path,
					id, systemd, rel, err);
}

/* ---- the hierarchies ---- */

int husk_cgroup_load(struct husk_cgroup *cg, const char *root, const char *rel,
		     struct husk_err *err)
{
	_cleanup_free_ char *text = strdup(rel);
	const char *path[HUSK_CG_NCTL] = {0};
	char *sp;
	memset(cg, 0, sizeof *cg);
	root = root ? root : HUSK_CGROUP_ROOT;
	if (!text)
		return oom(err);
	bool multi = rel[0] != '/';
	if (!multi && strchr(rel, '\n'))
		return husk_err_set(err, EINVAL, "cgroup: \"%s\" is not one path", rel);
	for (char *l = strtok_r(text, "\n", &sp); l; l = strtok_r(NULL, "\n", &sp)) {
		char *eq = strchr(l, '='), clean[PATH_MAX];
		int i = 0;
		if (multi) {
			while (eq && i < HUSK_CG_NCTL &&
			       ((size_t)(eq - l) != strlen(husk_cgroup_ctl_name[i]) ||
				strncmp(l, husk_cgroup_ctl_name[i], eq - l) != 0))
				i++;
			if (!eq || i == HUSK_CG_NCTL)
				return husk_err_set(err, EINVAL,
						    "cgroup: \"%s\" is no controller=path", l);
			l = eq + 1;
		}
		if (clean_path(l, clean) < 0 || strcmp(clean, l) != 0 || l[0] != '/' || !l[1])
			return husk_err_set(err, EINVAL,
					    "cgroup: \"%s\" is not a clean path below /", l);
		for (int k = 0; k < HUSK_CG_NCTL; k++)
			if (!multi || k == i)
				path[k] = l;
	}
	cg->v2 = is_v2(root);
	if (cg->v2 && multi)
		return husk_err_set(err, EINVAL, "cgroup: \"%s\" is a cgroup v1 path", rel);
	for (int i = 0; i < (cg->v2 ? 1 : HUSK_CG_NCTL); i++) {
		char m[PATH_MAX];
		struct stat st;
		snprintf(m, sizeof m, "%s/%s", root, husk_cgroup_ctl_name[i]);
		if (!path[i] || (!cg->v2 && (stat(m, &st) < 0 || !S_ISDIR(st.st_mode))))
			continue;
		cg->mnt[i] = cg->v2 ? strdup(root) : realpath(m, NULL);
		if (!cg->mnt[i] || asprintf(&cg->dir[i], "%s%s", cg->mnt[i], path[i]) < 0) {
			cg->dir[i] = NULL;
			husk_cgroup_free(cg);
			return husk_err_sys(err, errno, "cgroup: %s", m);
		}
	}
	for (int i = 0; i < HUSK_CG_NCTL; i++)
		if (cg->dir[i])
			return 0;
	return husk_err_set(err, ENOENT, "cgroup: no controller under %s for \"%s\"", root, rel);
}

/* The first of its directory (cpu and cpuacct may share one), else false. */
bool husk_cgroup_first_dir(const struct husk_cgroup *cg, int i)
{
	for (int j = 0; j < i && cg->dir[i]; j++)
		if (cg->dir[j] && strcmp(cg->dir[j], cg->dir[i]) == 0)
			return false;
	return cg->dir[i] != NULL;
}

/* cgroup files exist from mkdir on: nothing is created here. */
int husk_cgroup_write(const char *dir, const char *file, const char *val, struct husk_err *err)
{
	char path[PATH_MAX];
	size_t n = strlen(val);
	snprintf(path, sizeof path, "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t w = fd < 0 ? -1 : write(fd, val, n);
	if (w >= 0 && (size_t)w != n)
		errno = EIO;
	if (w < 0 || (size_t)w != n)
		return husk_err_sys(err, errno, "cgroup: cannot write \"%s\" to %s", val, path);
	return 0;
}

/* v1 cpuset: an empty cpuset.cpus or .mems takes its parent's (the kernel
 * leaves a new one empty, and an empty one takes no process). */
static int cpuset_inherit(const char *dir, struct husk_err *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	char parent[PATH_MAX], v[4096];
	snprintf(parent, sizeof parent, "%s", dir);
	up(parent);
	for (int k = 0; k < 2; k++) {
		int r = husk_cgroup_read(dir, files[k], v, sizeof v);
		if (r == 0 && v[strspn(v, " \n")])
			continue; /* set already */
		if (r == 0)
			r = husk_cgroup_read(parent, files[k], v, sizeof v);
		if (r < 0)
			return husk_err_sys(err, -r, "cgroup: cannot read %s of %s", files[k], dir);
		v[strcspn(v, "\n")] = 0;
		if (v[strspn(v, " \n")] && husk_cgroup_write(dir, files[k], v, err) < 0)
			return -1;
	}
	return 0;
}

/* v2: let dir's children have our controllers, those dir has; best effort. */
static void enable_controllers(const char *dir)
{
	static const char *const want[] = {"memory", "cpu", "pids", "cpuset", "io"};
	char have[1024], list[64] = "", *sp;
	if (husk_cgroup_read(dir, "cgroup.controllers", have, sizeof have) < 0)
		return;
	for (char *c = strtok_r(have, " \n", &sp); c; c = strtok_r(NULL, " \n", &sp))
		for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
			if (strcmp(c, want[k]) == 0)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s+%s",
					 *list ? " " : "", c);
	if (!*list || husk_cgroup_write(dir, "cgroup.subtree_control", list, NULL) == 0)
		return;
	for (char *c = strtok_r(list, " ", &sp); c; c = strtok_r(NULL, " ", &sp))
		if (husk_cgroup_write(dir, "cgroup.subtree_control", c, NULL) < 0)
			log_debug("cgroup: cannot enable %s for the children of %s", c + 1, dir);
}

/* mkdir -p dir[i] below mnt[i]; *made when the leaf is new. */
static int make_dirs(const struct husk_cgroup *cg, int i, bool *made, struct husk_err *err)
{
	char cur[PATH_MAX];
	snprintf(cur, sizeof cur, "%s", cg->dir[i]);
	for (char *s = cur + strlen(cg->mnt[i]); *s;) {
		char *e = strchr(s + 1, '/');
		if (cg->v2) {
			*s = 0;
			enable_controllers(cur);
			*s = '/';
		}
		if (e)
			*e = 0;
		if (mkdir(cur, 0755) == 0) {
			*made = !e;
			if (husk_cgroup_mkdir_hook)
				husk_cgroup_mkdir_hook(cur);
		} else if (errno != EEXIST) {
			return husk_err_sys(err, errno, "cgroup: cannot create %s", cur);
		}
		if (!cg->v2 && i == HUSK_CG_CPUSET && cpuset_inherit(cur, err) < 0)
			return -1;
		if (!e)
			break;
		*e = '/';
		s = e;
	}
	return 0;
}

int husk_cgroup_create(struct husk_cgroup *cg, const char *root, const char *rel,
		       struct husk_err *err)
{
	bool made[HUSK_CG_NCTL] = {0};
	if (husk_cgroup_load(cg, root, rel, err) < 0)
		return -1;
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		if (husk_cgroup_first_dir(cg, i) && make_dirs(cg, i, &made[i], err) < 0) {
			for (int j = 0; j <= i; j++)
				if (made[j])
					rmdir(cg->dir[j]);
			husk_cgroup_free(cg);
			return -1;
		}
	}
	return 0;
}

int husk_cgroup_join(const struct husk_cgroup *cg, pid_t pid, struct husk_err *err)
{
	char v[24];
	snprintf(v, sizeof v, "%d", (int)pid);
	for (int i = 0; i < HUSK_CG_NCTL; i++)
		if (husk_cgroup_first_dir(cg, i) &&
		    husk_cgroup_write(cg->dir[i], "cgroup.procs", v, err) < 0)
			return -1;
	return 0;
}

int husk_cgroup_pids(const struct husk_cgroup *cg, pid_t *pids, size_t max, size_t *n,
		     struct husk_err *err)
{
	*n = 0;
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		if (!cg->dir[i])
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/cgroup.procs", cg->dir[i]);
		FILE *f = fopen(path, "re");
		if (!f)
			return husk_err_sys(err, errno, "cannot read %s", path);
		long v;
		while (*n < max && fscanf(f, "%ld", &v) == 1)
			pids[(*n)++] = (pid_t)v;
		fclose(f);
		return 0;
	}
	return 0;
}

void husk_cgroup_kill_all(const struct husk_cgroup *cg)
{
	pid_t pids[256];
	size_t n;
	struct husk_err err;
	for (int round = 0; round < 200; round++) {
		if (husk_cgroup_pids(cg, pids, 256, &n, &err) < 0 || n == 0)
			return;
		for (size_t i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

int husk_cgroup_leave(const struct husk_cgroup *cg, struct husk_err *err)
{
	char v[24], p[PATH_MAX];
	snprintf(v, sizeof v, "%d", (int)getpid());
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		snprintf(p, sizeof p, "%s", husk_cgroup_first_dir(cg, i) ? cg->dir[i] : "");
		while (*p) {
			struct husk_err e = {0};
			up(p);
			if (husk_cgroup_write(p, "cgroup.procs", v, &e) == 0)
				break;
			if (e.code != EBUSY || !cg->v2 || strcmp(p, cg->mnt[i]) == 0)
				return err ? (*err = e, -1) : -1;
		}
	}
	return 0;
}

/* ---- the end ---- */

int husk_cgroup_destroy(const struct husk_cgroup *cg)
{
	int ret = 0;
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		int waited = 0, nap = 10;
		while (husk_cgroup_first_dir(cg, i) && rmdir(cg->dir[i]) < 0 && errno != ENOENT) {
			if (errno != EBUSY || waited >= 1000) {
				log_warn("cgroup: cannot remove %s: %s", cg->dir[i],
					 strerror(errno));
				ret = -1;
				break;
			}
			usleep(nap * 1000); /* its last processes are still exiting */
			waited += nap;
			nap = nap < 100 ? nap * 2 : nap;
		}
	}
	return ret;
}

void husk_cgroup_free(struct husk_cgroup *cg)
{
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		free(cg->dir[i]);
		free(cg->mnt[i]);
	}
	memset(cg, 0, sizeof *cg);
}
