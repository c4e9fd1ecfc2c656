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

#include "cgroup.h"
#include "husk-log.h"

void (*husk_cgroup_mkdir_hook)(const char *dir);

static const char *const ctl_name[HUSK_CG_NCTL] = {"memory", "cpu",   "cpuacct", "pids",
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
				if (strcmp(c, ctl_name[i]) == 0)
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
			w += sprintf(w, "%s%s=%s", i > first ? "\n" : "", ctl_name[i], full[i]);
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
static int read_small(const char *dir, const char *file, char *buf, size_t size)
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
	int r = read_small("/proc/self", "cgroup", self, sizeof self);
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
			       ((size_t)(eq - l) != strlen(ctl_name[i]) ||
				strncmp(l, ctl_name[i], eq - l) != 0))
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
		snprintf(m, sizeof m, "%s/%s", root, ctl_name[i]);
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
static bool first_dir(const struct husk_cgroup *cg, int i)
{
	for (int j = 0; j < i && cg->dir[i]; j++)
		if (cg->dir[j] && strcmp(cg->dir[j], cg->dir[i]) == 0)
			return false;
	return cg->dir[i] != NULL;
}

/* cgroup files exist from mkdir on: nothing is created here. */
static int write_file(const char *dir, const char *file, const char *val, struct husk_err *err)
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
		int r = read_small(dir, files[k], v, sizeof v);
		if (r == 0 && v[strspn(v, " \n")])
			continue; /* set already */
		if (r == 0)
			r = read_small(parent, files[k], v, sizeof v);
		if (r < 0)
			return husk_err_sys(err, -r, "cgroup: cannot read %s of %s", files[k], dir);
		v[strcspn(v, "\n")] = 0;
		if (v[strspn(v, " \n")] && write_file(dir, files[k], v, err) < 0)
			return -1;
	}
	return 0;
}

/* v2: let dir's children have our controllers, those dir has; best effort. */
static void enable_controllers(const char *dir)
{
	static const char *const want[] = {"memory", "cpu", "pids", "cpuset", "io"};
	char have[1024], list[64] = "", *sp;
	if (read_small(dir, "cgroup.controllers", have, sizeof have) < 0)
		return;
	for (char *c = strtok_r(have, " \n", &sp); c; c = strtok_r(NULL, " \n", &sp))
		for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
			if (strcmp(c, want[k]) == 0)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s+%s",
					 *list ? " " : "", c);
	if (!*list || write_file(dir, "cgroup.subtree_control", list, NULL) == 0)
		return;
	for (char *c = strtok_r(list, " ", &sp); c; c = strtok_r(NULL, " ", &sp))
		if (write_file(dir, "cgroup.subtree_control", c, NULL) < 0)
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
		if (first_dir(cg, i) && make_dirs(cg, i, &made[i], err) < 0) {
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
		if (first_dir(cg, i) && write_file(cg->dir[i], "cgroup.procs", v, err) < 0)
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
		snprintf(p, sizeof p, "%s", first_dir(cg, i) ? cg->dir[i] : "");
		while (*p) {
			struct husk_err e = {0};
			up(p);
			if (write_file(p, "cgroup.procs", v, &e) == 0)
				break;
			if (e.code != EBUSY || !cg->v2 || strcmp(p, cg->mnt[i]) == 0)
				return err ? (*err = e, -1) : -1;
		}
	}
	return 0;
}

/* ---- limits and statistics ---- */

uint64_t husk_cgroup_shares_to_weight(uint64_t shares)
{
	if (!shares)
		return 0;
	shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
	return 1 + ((shares - 2) * 9999) / 262142;
}

/* val into file in controller i's directory. */
static int set_file(const struct husk_cgroup *cg, int i, const char *file, const char *val,
		    struct husk_err *err)
{
	const char *d = cg->v2 ? cg->dir[0] : cg->dir[i];
	if (!d)
		return husk_err_set(err, ENOTSUP, "cgroup: no %s controller for %s", ctl_name[i],
				    file);
	return write_file(d, file, val, err);
}

int husk_cgroup_set(const struct husk_cgroup *cg, const struct husk_cgroup_limits *l,
		    struct husk_err *err)
{
	char mem[24], quota[24], per[24], shares[24], pids[24], max[48];
	struct husk_err e = {0};
	bool v2 = cg->v2, cpu = l->cpu_quota || l->cpu_period;
	snprintf(mem, sizeof mem, "%" PRId64, l->memory > 0 ? l->memory : -1);
	snprintf(quota, sizeof quota, "%" PRId64, l->cpu_quota > 0 ? l->cpu_quota : -1);
	snprintf(per, sizeof per, "%" PRIu64, l->cpu_period);
	snprintf(shares, sizeof shares, "%" PRIu64,
		 v2 ? husk_cgroup_shares_to_weight(l->cpu_shares) : l->cpu_shares);
	snprintf(pids, sizeof pids, "%" PRId64, l->pids);
	snprintf(max, sizeof max, "%s%s%s", l->cpu_quota > 0 ? quota : "max",
		 l->cpu_period ? " " : "", l->cpu_period ? per : "");
	if (l->memory && set_file(cg, HUSK_CG_MEMORY, v2 ? "memory.max" : "memory.limit_in_bytes",
				  l->memory < 0 && v2 ? "max" : mem, err) < 0)
		return -1;
	if (v2 && cpu && set_file(cg, HUSK_CG_CPU, "cpu.max", max, err) < 0)
		return -1;
	if (!v2 && cpu) {
		/* runc's order: a shorter period can be refused (EINVAL) until the
		 * quota is lowered; it is then written again after the quota. */
		int r = l->cpu_period ? set_file(cg, HUSK_CG_CPU, "cpu.cfs_period_us", per, &e) : 0;
		bool again = r < 0 && e.code == EINVAL && l->cpu_quota;
		if (r < 0 && !again) {
			if (err)
				*err = e;
			return -1;
		}
		if (l->cpu_quota && set_file(cg, HUSK_CG_CPU, "cpu.cfs_quota_us", quota, err) < 0)
			return -1;
		if (again && set_file(cg, HUSK_CG_CPU, "cpu.cfs_period_us", per, err) < 0)
			return -1;
	}
	if (l->cpu_shares &&
	    set_file(cg, HUSK_CG_CPU, v2 ? "cpu.weight" : "cpu.shares", shares, err) < 0)
		return -1;
	if (l->pids && set_file(cg, HUSK_CG_PIDS, "pids.max", l->pids > 0 ? pids : "max", err) < 0)
		return -1;
	if (l->cpuset_cpus && *l->cpuset_cpus &&
	    set_file(cg, HUSK_CG_CPUSET, "cpuset.cpus", l->cpuset_cpus, err) < 0)
		return -1;
	if (l->cpuset_mems && *l->cpuset_mems &&
	    set_file(cg, HUSK_CG_CPUSET, "cpuset.mems", l->cpuset_mems, err) < 0)
		return -1;
	return 0;
}

/* A number, "max" (as max), or a missing file (the controller is not there:
 * 0). With key, the value on its "key value" line of a flat keyed file. */
static int get(const char *dir, const char *file, const char *key, uint64_t max, uint64_t *out,
	       struct husk_err *err)
{
	char buf[4096], *p = buf, *end;
	int r = read_small(dir, file, buf, sizeof buf);
	*out = 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return husk_err_sys(err, -r, "cgroup: cannot read %s/%s", dir, file);
	for (size_t k = key ? strlen(key) : 0; key; p++) {
		if (strncmp(p, key, k) == 0 && p[k] == ' ') {
			p += k + 1;
			break;
		}
		if (!(p = strchr(p, '\n')))
			return 0;
	}
	if (strncmp(p, "max", 3) == 0 && (p[3] == '\n' || !p[3])) {
		*out = max;
		return 0;
	}
	errno = 0;
	*out = strtoull(p, &end, 10);
	if (errno || end == p || (*end && *end != '\n'))
		return husk_err_set(err, EINVAL, "cgroup: %s/%s: cannot read a number in \"%.32s\"",
				    dir, file, p);
	return 0;
}

/* Where each statistic is read; scale 0: USER_HZ ticks. */
struct stat_src {
	int ctl;
	const char *file, *key;
	uint64_t max, scale;
	size_t off;
};
#define AT(f) offsetof(struct husk_cgroup_stats, f)
static const struct stat_src v2_stats[] = {
    {0, "cpu.stat", "usage_usec", 0, 1000, AT(cpu_usage_ns)},
    {0, "cpu.stat", "user_usec", 0, 1000, AT(cpu_user_ns)},
    {0, "cpu.stat", "system_usec", 0, 1000, AT(cpu_system_ns)},
    {0, "memory.current", NULL, 0, 1, AT(memory_usage)},
    {0, "memory.max", NULL, UINT64_MAX, 1, AT(memory_limit)},
    {0, "memory.peak", NULL, 0, 1, AT(memory_max_usage)},
    {0, "pids.current", NULL, 0, 1, AT(pids_current)},
    {0, "pids.max", NULL, 0, 1, AT(pids_limit)},
    {0, "cpu.stat", "nr_periods", 0, 1, AT(cpu_periods)},
    {0, "cpu.stat", "nr_throttled", 0, 1, AT(cpu_throttled_periods)},
    {0, "cpu.stat", "throttled_usec", 0, 1000, AT(cpu_throttled_ns)},
    {0, "memory.stat", "file", 0, 1, AT(memory_cache)},
    {0, "memory.events", "oom_kill", 0, 1, AT(oom_kills)},
    {0},
};
static const struct stat_src v1_stats[] = {
    {HUSK_CG_CPUACCT, "cpuacct.usage", NULL, 0, 1, AT(cpu_usage_ns)},
    {HUSK_CG_CPUACCT, "cpuacct.stat", "user", 0, 0, AT(cpu_user_ns)},
    {HUSK_CG_CPUACCT, "cpuacct.stat", "system", 0, 0, AT(cpu_system_ns)},
    {HUSK_CG_MEMORY, "memory.usage_in_bytes", NULL, 0, 1, AT(memory_usage)},
    {HUSK_CG_MEMORY, "memory.limit_in_bytes", NULL, UINT64_MAX, 1, AT(memory_limit)},
    {HUSK_CG_MEMORY, "memory.max_usage_in_bytes", NULL, 0, 1, AT(memory_max_usage)},
    {HUSK_CG_PIDS, "pids.current", NULL, 0, 1, AT(pids_current)},
    {HUSK_CG_PIDS, "pids.max", NULL, 0, 1, AT(pids_limit)},
    {HUSK_CG_CPU, "cpu.stat", "nr_periods", 0, 1, AT(cpu_periods)},
    {HUSK_CG_CPU, "cpu.stat", "nr_throttled", 0, 1, AT(cpu_throttled_periods)},
    {HUSK_CG_CPU, "cpu.stat", "throttled_time", 0, 1, AT(cpu_throttled_ns)},
    {HUSK_CG_MEMORY, "memory.stat", "cache", 0, 1, AT(memory_cache)},
    {HUSK_CG_MEMORY, "memory.failcnt", NULL, 0, 1, AT(memory_failcnt)},
    {HUSK_CG_MEMORY, "memory.oom_control", "oom_kill", 0, 1, AT(oom_kills)},
    {0},
};
#undef AT

int husk_cgroup_stats(const struct husk_cgroup *cg, struct husk_cgroup_stats *s,
		      struct husk_err *err)
{
	long hz = sysconf(_SC_CLK_TCK);
	memset(s, 0, sizeof *s);
	for (int i = 0; i < HUSK_CG_NCTL; i++)
		if (first_dir(cg, i) && access(cg->dir[i], F_OK) < 0)
			return husk_err_sys(err, errno, "cgroup %s", cg->dir[i]);
	for (const struct stat_src *t = cg->v2 ? v2_stats : v1_stats; t->file; t++) {
		uint64_t *v = (uint64_t *)((char *)s + t->off);
		if (!cg->dir[t->ctl])
			continue;
		if (get(cg->dir[t->ctl], t->file, t->key, t->max, v, err) < 0)
			return -1;
		*v *= t->scale ? t->scale : 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	}
	return 0;
}

/* ---- the end ---- */

int husk_cgroup_destroy(const struct husk_cgroup *cg)
{
	int ret = 0;
	for (int i = 0; i < HUSK_CG_NCTL; i++) {
		int waited = 0, nap = 10;
		while (first_dir(cg, i) && rmdir(cg->dir[i]) < 0 && errno != ENOENT) {
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
