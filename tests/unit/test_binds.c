/* Unit tests for the VM's share (host-tool/share.c) and the staging of bind
 * sources in it (host-tool/binds.c): which binds are read-only (the
 * options' last word, as the agent reads them), and, as root, the layout:
 * <state>/share/<id>/rootfs (read-only for a read-only root), writable binds
 * under <id>/binds, read-only ones under <id>/binds-ro and read-only on the
 * host, the share's own directories read-only once sealed, the guest's
 * sources rewritten to match. The staging runs in a child, whose private
 * mount namespace goes with it. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../host-tool/binds.h"
#include "../../host-tool/sentinel.h"
#include "../../host-tool/share.h"

static bool readonly_of(const char *mount_json)
{
	struct json_object *m = json_tokener_parse(mount_json);
	assert_non_null(m);
	bool ro = husk_bind_readonly(m);
	json_object_put(m);
	return ro;
}

static void test_readonly_is_the_last_word(void **state)
{
	assert_false(readonly_of("{\"type\":\"bind\"}"));
	assert_false(readonly_of("{\"options\":[]}"));
	assert_false(readonly_of("{\"options\":\"ro\"}")); /* not an array: the agent refuses it */
	assert_false(readonly_of("{\"options\":[\"rbind\",\"rw\"]}"));
	assert_true(readonly_of("{\"options\":[\"rbind\",\"ro\"]}"));
	assert_true(readonly_of("{\"options\":[\"ro\",\"nosuid\"]}"));
	assert_true(readonly_of("{\"options\":[\"rro\"]}"));
	assert_true(readonly_of("{\"options\":[\"rw\",\"ro\"]}"));
	assert_false(readonly_of("{\"options\":[\"ro\",\"rw\"]}"));
	assert_false(readonly_of("{\"options\":[\"rdonly\",\"readonly\",\"ro=1\"]}"));
	assert_true(readonly_of("{\"options\":[1,\"ro\",null]}"));
}

static void test_no_binds_no_shares(void **state)
{
	struct json_object *mounts = json_tokener_parse(
	    "[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	    "{\"destination\":\"/"
	    "tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"ro\"]}]");
	struct json_object *out = NULL;
	char *rw = (char *)"unset", *ro = (char *)"unset";
	struct husk_sentinel_bind *view = NULL;
	size_t nview = 1;
	struct husk_err err = {0};
	assert_int_equal(husk_binds_prepare("c1", "/nonexistent", "/nonexistent", mounts, &out, &rw,
					    &ro, &view, &nview, &err),
			 0);
	assert_null(rw);
	assert_null(ro);
	assert_int_equal(nview, 0);
	assert_true(json_object_equal(out, mounts));
	husk_binds_view_free(view, nview);
	json_object_put(out);
	json_object_put(mounts);

	assert_int_equal(
	    husk_binds_prepare("c1", "/x", "/x", NULL, &out, &rw, &ro, &view, &nview, &err), 0);
	assert_null(out);
	assert_null(rw);
	assert_null(ro);
}

/* ---- staging, as root in a child ---- */

static char tmp[PATH_MAX];

static int rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static const char *source_of(struct json_object *mounts, size_t i)
{
	struct json_object *src;
	json_object_object_get_ex(json_object_array_get_idx(mounts, i), "source", &src);
	return json_object_get_string(src);
}

/* open(path, O_WRONLY | O_CREAT) fails with EROFS, or mkdir does */
static bool refused_rofs(const char *path, bool dir)
{
	int r = dir ? mkdir(path, 0755) : open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (r >= 0 && !dir)
		close(r);
	return r < 0 && errno == EROFS;
}

static bool writes(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static void stage_in_child(bool ro_root)
{
	char p[PATH_MAX + 64], json[8 * PATH_MAX];
	snprintf(json, sizeof json,
		 "[{\"destination\":\"/mnt/ro\",\"type\":\"bind\",\"source\":\"%s/host/ro\","
		 "\"options\":[\"rbind\",\"ro\"]},"
		 "{\"destination\":\"/mnt/rw\",\"type\":\"bind\",\"source\":\"%s/host/rw\","
		 "\"options\":[\"rbind\",\"rw\"]},"
		 "{\"destination\":\"/etc/f\",\"type\":\"bind\",\"source\":\"%s/host/file\","
		 "\"options\":[\"bind\",\"ro\"]},"
		 "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
		 "{\"destination\":\"/mnt/rel\",\"type\":\"bind\",\"source\":\"rel\","
		 "\"options\":[\"bind\",\"ro\",\"rw\"]}]",
		 tmp, tmp, tmp);
	struct json_object *mounts = json_tokener_parse(json), *out = NULL;
	CHECK(mounts);
	char *rw = NULL, *ro = NULL, state[PATH_MAX + 16], bundle[PATH_MAX + 16],
	     rootfs[PATH_MAX + 16];
	struct husk_sentinel_bind *view = NULL;
	struct husk_share share;
	size_t nview = 0;
	struct husk_err err = {0};
	snprintf(state, sizeof state, "%s/state", tmp);
	snprintf(bundle, sizeof bundle, "%s/bundle", tmp);
	snprintf(rootfs, sizeof rootfs, "%s/bundle/rootfs", tmp);
	if (husk_share_prepare(&share, state, "c1", rootfs, ro_root, &err) < 0 ||
	    husk_binds_prepare("c1", bundle, share.part, mounts, &out, &rw, &ro, &view, &nview,
			       &err) < 0 ||
	    husk_share_seal(&share, &err) < 0) {
		fprintf(stderr, "prepare: %s\n", err.msg);
		_exit(err.code == EPERM ? 77 : 1);
	}
	snprintf(p, sizeof p, "%s/share", state);
	CHECK(!strcmp(share.dir, p));
	snprintf(p, sizeof p, "%s/share/c1", state);
	CHECK(!strcmp(share.part, p));
	CHECK(!strcmp(share.rootfs, "c1/rootfs"));
	snprintf(p, sizeof p, "%s/share/c1/binds", state);
	CHECK(rw && !strcmp(rw, p));
	snprintf(p, sizeof p, "%s/share/c1/binds-ro", state);
	CHECK(ro && !strcmp(ro, p));
	/* the guest's sources, each in its directory */
	CHECK(!strcmp(source_of(out, 0), "/run/husk/c1/binds-ro/0"));
	CHECK(!strcmp(source_of(out, 1), "/run/husk/c1/binds/0"));
	CHECK(!strcmp(source_of(out, 2), "/run/husk/c1/binds-ro/1"));
	CHECK(!strcmp(source_of(out, 3), "proc"));
	CHECK(!strcmp(source_of(out, 4), "/run/husk/c1/binds/1"));
	/* the sentinel's view: host paths and read-only flags */
	CHECK(nview == 4);
	CHECK(view[0].readonly && !strcmp(view[0].dest, "/mnt/ro"));
	CHECK(!view[1].readonly && !strcmp(view[1].dest, "/mnt/rw"));
	CHECK(view[2].readonly && !strcmp(view[2].dest, "/etc/f"));
	CHECK(!view[3].readonly && !strcmp(view[3].dest, "/mnt/rel"));
	snprintf(p, sizeof p, "%s/0", ro);
	CHECK(!strcmp(view[0].source, p));
	/* the content is there; read-only ones refuse writes on the host too,
	 * with the submount rbind brought along */
	snprintf(p, sizeof p, "%s/0/hello", ro);
	CHECK(access(p, R_OK) == 0);
	snprintf(p, sizeof p, "%s/0/new", ro);
	CHECK(refused_rofs(p, false));
	snprintf(p, sizeof p, "%s/0/sub/new", ro);
	CHECK(refused_rofs(p, false));
	snprintf(p, sizeof p, "%s/1", ro);
	CHECK(open(p, O_WRONLY) < 0 && errno == EROFS);
	snprintf(p, sizeof p, "%s/0/new", rw);
	CHECK(writes(p));
	snprintf(p, sizeof p, "%s/1/new", rw);
	CHECK(writes(p));
	/* the rootfs, with its submount, read-only or not as the root is */
	snprintf(p, sizeof p, "%s/rootfs/hello", share.part);
	CHECK(access(p, R_OK) == 0);
	snprintf(p, sizeof p, "%s/rootfs/new", share.part);
	CHECK(ro_root ? refused_rofs(p, false) : writes(p));
	snprintf(p, sizeof p, "%s/rootfs/sub/new", share.part);
	CHECK(ro_root ? refused_rofs(p, false) : writes(p));
	/* the share's own directories take nothing */
	snprintf(p, sizeof p, "%s/pwned", share.dir);
	CHECK(refused_rofs(p, false) && refused_rofs(p, true));
	snprintf(p, sizeof p, "%s/pwned", share.part);
	CHECK(refused_rofs(p, false) && refused_rofs(p, true));
	snprintf(p, sizeof p, "%s/pwned", rw);
	CHECK(refused_rofs(p, false));
	/* a mount made under the share later reaches a namespace copied
	 * before it, made a slave of ours, as virtiofsd's and QEMU's are:
	 * one under a mount in the share, then one on the share's own
	 * directories (where a later container's part would go) */
	int ready[2], go[2];
	char c;
	CHECK(pipe(ready) == 0 && pipe(go) == 0);
	pid_t kid = fork();
	CHECK(kid >= 0);
	if (kid == 0) {
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
			_exit(3);
		CHECK(write(ready[1], "r", 1) == 1 && read(go[0], &c, 1) == 1);
		snprintf(p, sizeof p, "%s/rootfs/sub/later", share.part);
		if (access(p, F_OK) < 0)
			_exit(4);
		CHECK(write(ready[1], "r", 1) == 1 && read(go[0], &c, 1) == 1);
		snprintf(p, sizeof p, "%s/later", share.part);
		_exit(access(p, F_OK) == 0 ? 0 : 5);
	}
	close(ready[1]); /* a kid that exits early ends the reads below */
	close(go[0]);
	CHECK(read(ready[0], &c, 1) == 1);
	snprintf(p, sizeof p, "%s/rootfs/sub", share.part);
	CHECK(mount("tmpfs", p, "tmpfs", 0, "size=64k") == 0);
	snprintf(p, sizeof p, "%s/rootfs/sub/later", share.part);
	close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	CHECK(write(go[1], "g", 1) == 1);
	if (read(ready[0], &c, 1) == 1) {
		CHECK(mount("tmpfs", share.part, "tmpfs", 0, "size=64k") == 0);
		snprintf(p, sizeof p, "%s/later", share.part);
		close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
		CHECK(write(go[1], "g", 1) == 1);
	}
	int st;
	CHECK(waitpid(kid, &st, 0) == kid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "propagation: status %x\n", st);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	husk_share_unmount(&share);
	snprintf(p, sizeof p, "%s/0", ro);
	CHECK(access(p, F_OK) == 0); /* the empty mount point */
	snprintf(p, sizeof p, "%s/0/hello", ro);
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof p, "%s/rootfs", share.part);
	CHECK(access(p, F_OK) == 0);
	snprintf(p, sizeof p, "%s/rootfs/hello", share.part);
	CHECK(access(p, F_OK) < 0);
	husk_share_free(&share);
	husk_binds_view_free(view, nview);
	json_object_put(out);
	json_object_put(mounts);
	free(rw);
	free(ro);
	_exit(0);
}

static void staging(bool ro_root)
{
	if (geteuid() != 0)
		skip();
	snprintf(tmp, sizeof tmp, "/tmp/husk-binds-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	char p[PATH_MAX + 64];
	const char *dirs[] = {"host",	"host/ro",    "host/ro/sub",   "host/rw",	   "state",
			      "bundle", "bundle/rel", "bundle/rootfs", "bundle/rootfs/sub"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", tmp, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof p, "%s/host/ro/hello", tmp);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	snprintf(p, sizeof p, "%s/host/file", tmp);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	snprintf(p, sizeof p, "%s/bundle/rootfs/hello", tmp);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* submounts under the ro source and the rootfs, in the child's
		 * namespace */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		snprintf(p, sizeof p, "%s/host/ro/sub", tmp);
		if (mount("tmpfs", p, "tmpfs", 0, "size=64k") < 0)
			_exit(77);
		snprintf(p, sizeof p, "%s/bundle/rootfs/sub", tmp);
		if (mount("tmpfs", p, "tmpfs", 0, "size=64k") < 0)
			_exit(77);
		stage_in_child(ro_root);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* nothing written through a read-only share reached the host */
	snprintf(p, sizeof p, "%s/host/ro/new", tmp);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/host/rw/new", tmp);
	bool rw_written = access(p, F_OK) == 0;
	snprintf(p, sizeof p, "%s/bundle/rootfs/new", tmp);
	bool root_written = access(p, F_OK) == 0;
	/* the state directory holds only the share's empty skeleton */
	snprintf(p, sizeof p, "%s/state/share/c1/rootfs/hello", tmp);
	bool leaked = access(p, F_OK) == 0;
	nftw(tmp, rm, 16, FTW_DEPTH | FTW_PHYS);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* no mount namespaces here */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(rw_written);
	assert_int_equal(root_written, !ro_root);
	assert_false(leaked);
}

static void test_staging(void **state)
{
	staging(false);
}

static void test_staging_readonly_root(void **state)
{
	staging(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readonly_is_the_last_word),
	    cmocka_unit_test(test_no_binds_no_shares),
	    cmocka_unit_test(test_staging),
	    cmocka_unit_test(test_staging_readonly_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
