/* Snapshots of a booted, idle guest (snapshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "husk-proto.h"
#include "console.h"
#include "husk.h"
#include "qmp.h"
#include "session.h"
#include "snapshot-int.h"
#include "snapshot.h"

#define SNAP_DIR    ".snapshots"
#define SNAP_FORMAT 1

static const char *const template_names[] = {"private", "shared", "off"};

int husk_template_parse(const char *s, enum husk_template *t, struct husk_err *err)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, template_names[i])) {
			*t = (enum husk_template)i;
			return 0;
		}
	return husk_err_set(err, EINVAL, "template must be private, shared or off, not \"%s\"", s);
}

const char *husk_template_name(enum husk_template t)
{
	return template_names[t];
}

/* ---- the key and the manifest ---- */

unsigned long long husk_snapshot_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned long long h = 0xcbf29ce484222325ULL;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		unsigned long long w;
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ^ n;
}

/* A file as its identity: device, inode, size and change times. */
static void ident(char *out, size_t size, const char *path)
{
	struct stat st;
	if (!path || stat(path, &st) < 0)
		snprintf(out, size, "%s:none", path ? path : "");
	else
		snprintf(out, size, "%s:%llu:%llu:%lld:%lld.%09ld:%lld.%09ld", path,
			 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

static void key_of(const struct husk_vm_opts *vo, char key[33])
{
	char text[4096], q[PATH_MAX + 100], k[PATH_MAX + 100], i[PATH_MAX + 100], h[PATH_MAX + 100];
	/* husk itself: it writes the QEMU command line the snapshot is for */
	ident(h, sizeof h, "/proc/self/exe");
	ident(q, sizeof q, vo->qemu);
	ident(k, sizeof k, vo->kernel);
	ident(i, sizeof i, vo->initrd);
	int n = snprintf(text, sizeof text,
			 "husk-snapshot %d|husk %s %s|protocol %d|qemu %s|kernel %s|initrd %s|"
			 "machine %s|mem %u|cpus %u|accel %d|9p|debug %d|append %s|nics %zu",
			 SNAP_FORMAT, HUSK_VERSION, h, HUSK_PROTO_VERSION, q, k, i, vo->machine,
			 vo->mem_mib, vo->cpus, (int)vo->accel, vo->debug,
			 getenv("HUSK_KERNEL_APPEND") ?: "", vo->nnics);
	for (size_t j = 0; j < vo->nnics && n > 0 && (size_t)n < sizeof text; j++)
		n += snprintf(text + n, sizeof text - n, "|nic %d %u", vo->nics[j].fd >= 0,
			      vo->nics[j].mtu);
	size_t len = strlen(text);
	unsigned long long a = husk_snapshot_hash(text, len);
	text[len] = '#'; /* a second hash over one more byte */
	unsigned long long b = husk_snapshot_hash(text, len + 1);
	snprintf(key, 33, "%016llx%016llx", a, b);
}

static int hash_file(const char *path, long long *size, unsigned long long *hash)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*size = st.st_size;
	void *p = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	*hash = husk_snapshot_hash(p, st.st_size);
	if (p)
		munmap(p, st.st_size);
	return 0;
}

struct manifest {
	char key[33];
	long long state_size, dev_size, mem_size;
	unsigned long long state_hash, dev_hash;
};

static int manifest_read(const char *dir, struct manifest *m)
{
	char path[PATH_MAX];
	int format = 0;
	snprintf(path, sizeof path, "%s/manifest", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = fscanf(f, "husk-snapshot %d\nkey %32s\nstate %lld %llx\ndev %lld %llx\nmem %lld\n",
		       &format, m->key, &m->state_size, &m->state_hash, &m->dev_size, &m->dev_hash,
		       &m->mem_size);
	fclose(f);
	return n == 7 && format == SNAP_FORMAT ? 0 : -1;
}

/* Whether the snapshot in dir is whole and the one for key: the stream
 * the mode loads hashed as the manifest says, the RAM file its size. */
static bool snapshot_good(const char *dir, const char *key, enum husk_template mode,
			  const char **why)
{
	struct manifest m;
	char path[PATH_MAX];
	long long size;
	unsigned long long hash;
	struct stat st;
	*why = "no manifest";
	if (manifest_read(dir, &m) < 0)
		return false;
	*why = "made for other inputs";
	if (strcmp(m.key, key))
		return false;
	bool shared = mode == HUSK_TEMPLATE_SHARED;
	snprintf(path, sizeof path, "%s/%s", dir, shared ? "dev" : "state");
	*why = "a stream that does not match its manifest";
	if (hash_file(path, &size, &hash) < 0 || size != (shared ? m.dev_size : m.state_size) ||
	    hash != (shared ? m.dev_hash : m.state_hash))
		return false;
	snprintf(path, sizeof path, "%s/mem", dir);
	*why = "a RAM file that does not match its manifest";
	if (shared && (stat(path, &st) < 0 || st.st_size != m.mem_size))
		return false;
	return true;
}

/* ---- making one ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int write_manifest(const char *tmp, const char *key, struct husk_err *err)
{
	struct manifest m = {0};
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/state", tmp);
	if (hash_file(path, &m.state_size, &m.state_hash) < 0)
		return husk_err_sys(err, errno, "%s", path);
	snprintf(path, sizeof path, "%s/dev", tmp);
	if (hash_file(path, &m.dev_size, &m.dev_hash) < 0)
		return husk_err_sys(err, errno, "%s", path);
	snprintf(path, sizeof path, "%s/mem", tmp);
	if (stat(path, &st) < 0)
		return husk_err_sys(err, errno, "%s", path);
	snprintf(path, sizeof path, "%s/manifest", tmp);
	int mfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f = mfd >= 0 ? fdopen(mfd, "w") : NULL;
	if (!f)
		return husk_err_sys(err, errno, "%s", path);
	fprintf(f, "husk-snapshot %d\nkey %s\nstate %lld %016llx\ndev %lld %016llx\nmem %lld\n",
		SNAP_FORMAT, key, m.state_size, m.state_hash, m.dev_size, m.dev_hash,
		(long long)st.st_size);
	return fclose(f) == 0 ? 0 : husk_err_sys(err, errno, "%s", path);
}

/* <root>/.snapshots, or HUSK_SNAPSHOT_DIR (the operator's: a cache that
 * several roots share). */
static int snap_paths(const char *key, char *top, char *dir, size_t size)
{
	const char *env = getenv("HUSK_SNAPSHOT_DIR");
	if (env && *env)
		snprintf(top, size, "%s", env);
	else
		snprintf(top, size, "%s/" SNAP_DIR, husk_global.root);
	snprintf(dir, size, "%s/%s", top, key);
	return 0;
}

/* Whoever can write a snapshot runs code in every VM restored from it:
 * the directory must be ours and closed to everyone else. */
static int top_check(const char *top, struct husk_err *err)
{
	struct stat st;
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", top);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0711) < 0 && errno != EEXIST)
			return husk_err_sys(err, errno, "mkdir %s", parent);
	}
	if (mkdir(top, 0700) < 0 && errno != EEXIST)
		return husk_err_sys(err, errno, "mkdir %s", top);
	if (lstat(top, &st) < 0)
		return husk_err_sys(err, errno, "%s", top);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return husk_err_set(err, EPERM,
				    "snapshot directory %s must be a directory of ours that no one "
				    "else may enter (mode 0700)",
				    top);
	return 0;
}

static int make_locked(const struct husk_vm_opts *vo, const char *key, const char *top,
		       const char *dir, unsigned timeout_s, struct husk_err *err)
{
	char tmp[PATH_MAX], junk[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/.make-XXXXXX", top);
	if (!mkdtemp(tmp))
		return husk_err_sys(err, errno, "mkdtemp %s", tmp);
	uint64_t t0 = uv_hrtime() / 1000000;
	int rc = husk_snapshot_template(vo, tmp, timeout_s, err);
	if (rc < 0) {
		/* what QEMU said, for the log line */
		char said[300];
		husk_vm_qemu_said(tmp, said, sizeof said);
		if (said[0])
			snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg),
				 " (QEMU: %s)", said);
	}
	/* what the template's run left beside the snapshot */
	static const char *const left[] = {"share", "jail", "qemu.pid", HUSK_AGENT_SOCK};
	for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
		snprintf(junk, sizeof junk, "%s/%s", tmp, left[i]);
		rm_tree(junk);
	}
	if (rc == 0)
		rc = write_manifest(tmp, key, err);
	if (rc == 0 && rename(tmp, dir) < 0)
		rc = husk_err_sys(err, errno, "rename %s", dir);
	if (rc < 0) {
		rm_tree(tmp);
		return -1;
	}
	log_info("made snapshot %s in %llu ms", dir,
		 (unsigned long long)(uv_hrtime() / 1000000 - t0));
	return 0;
}

int husk_snapshot_make(const struct husk_vm_opts *vo, unsigned timeout_s, char **out,
		       struct husk_err *err)
{
	char key[33], top[PATH_MAX], dir[PATH_MAX], lockp[PATH_MAX + 8];
	const char *why;
	if (vo->virtiofs)
		return husk_err_set(
		    err, EOPNOTSUPP,
		    "a VM with a virtio-fs share cannot be snapshotted (QEMU cannot "
		    "migrate vhost-user-fs): use the 9p share");
	key_of(vo, key);
	snap_paths(key, top, dir, sizeof top);
	if (top_check(top, err) < 0)
		return -1;
	snprintf(lockp, sizeof lockp, "%s.lock", dir);
	int lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
		if (lock >= 0)
			close(lock);
		return husk_err_set(err, EBUSY, "snapshot %s is being made by another husk", key);
	}
	int rc = 0;
	if (!snapshot_good(dir, key, HUSK_TEMPLATE_PRIVATE, &why)) {
		rm_tree(dir);
		rc = make_locked(vo, key, top, dir, timeout_s, err);
	}
	close(lock);
	if (rc == 0 && out && !(*out = strdup(dir)))
		rc = husk_err_set(err, ENOMEM, "out of memory");
	return rc;
}

bool husk_snapshot_use(struct husk_vm_opts *vo, enum husk_template mode, unsigned timeout_s)
{
	char key[33], top[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 8];
	struct husk_err err;
	const char *why;
	if (mode == HUSK_TEMPLATE_OFF)
		return false;
	if (vo->virtiofs) {
		log_debug("booting: a virtio-fs share cannot come from a snapshot (QEMU cannot "
			  "migrate vhost-user-fs); the 9p share can");
		return false;
	}
	key_of(vo, key);
	snap_paths(key, top, dir, sizeof top);
	if (top_check(top, &err) < 0) {
		log_warn("%s; booting", err.msg);
		return false;
	}
	if (access(dir, F_OK) < 0) {
		if (husk_snapshot_make(vo, timeout_s, NULL, &err) < 0) {
			/* a guest that cannot boot says why when it boots */
			log_info("no snapshot: %s; booting", err.msg);
			return false;
		}
	} else if (!snapshot_good(dir, key, mode, &why)) {
		/* never used: removed, made anew by a later start */
		log_warn("snapshot %s is not usable (%s): removed; booting", dir, why);
		rm_tree(dir);
		return false;
	}
	bool shared = mode == HUSK_TEMPLATE_SHARED;
	snprintf(path, sizeof path, "%s/%s", dir, shared ? "dev" : "state");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
#ifdef HUSK_TEST_BUILD
	/* test_snapshot.py: a stream QEMU refuses, to see the boot instead */
	if (fd >= 0 && getenv("HUSK_TEST_RESTORE_FAIL")) {
		close(fd);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
#endif
	if (fd < 0) {
		log_warn("snapshot %s: %s; booting", path, strerror(errno));
		return false;
	}
	if (shared) {
		static char mem[PATH_MAX + 8];
		snprintf(mem, sizeof mem, "%s/mem", dir);
		vo->mem_file = mem;
		vo->mem_file_shared = false;
		vo->ignore_shared = true;
	}
	vo->incoming = true;
	vo->incoming_fd = fd;
	log_debug("restoring from snapshot %s (%s)", dir, husk_template_name(mode));
	return true;
}

static void incoming_done(struct husk_qmp *q, const struct husk_err *err, struct json_object *ret,
			  void *data)
{
	/* a failed load ends QEMU: the session reports it */
	if (err)
		log_warn("restoring from the snapshot: %s", err->msg);
}

int husk_snapshot_incoming(struct husk_qmp *q, const struct husk_vm_opts *vo, struct husk_err *err)
{
	char uri[32];
	snprintf(uri, sizeof uri, "fd:%d", husk_vm_extra_fd(vo, 0));
	_cleanup_json_ struct json_object *caps = json_tokener_parse(
	    "{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}");
	_cleanup_json_ struct json_object *in = json_object_new_object();
	json_object_object_add(in, "uri", json_object_new_string(uri));
	if (husk_qmp_command(q, "migrate-set-capabilities", caps, incoming_done, NULL, err) < 0 ||
	    husk_qmp_command(q, "migrate-incoming", in, incoming_done, NULL, err) < 0)
		return -1;
	return 0;
}

static void restored(struct husk_session *s, const struct husk_reply *r, void *data)
{
	/* after its HELLO; an error came instead of it (a violation) */
}

/* A VM restored from a snapshot greets once it is made unique: the host's
 * entropy and clock go first (docs/protocol.md, vm.restore). */
int husk_snapshot_unique(struct husk_session *s, struct husk_err *err)
{
	struct husk_request r = {.op = HUSK_OP_VM_RESTORE};
	struct timespec now;
	r.u.restore.nentropy = 64;
	if (getrandom(r.u.restore.entropy, r.u.restore.nentropy, 0) !=
	    (ssize_t)r.u.restore.nentropy)
		return husk_err_sys(err, errno, "getrandom");
	clock_gettime(CLOCK_REALTIME, &now);
	r.u.restore.time_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	int rc = husk_session_request(s, &r, restored, NULL, err);
	explicit_bzero(&r, sizeof r);
	return rc;
}
