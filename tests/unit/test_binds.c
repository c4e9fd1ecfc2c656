/* Unit tests for the staging of bind sources (host-tool/binds.c): which
 * binds are read-only (the options' last word, as the agent reads them),
 * and, as root, where prepare stages them: writable ones under
 * <state>/binds, read-only ones under <state>/binds-ro and read-only on the
 * host too, the guest's sources rewritten to match. The staging runs in a
 * child, whose private mount namespace goes with it. */
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

static void stage_in_child(void)
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
	char *rw = NULL, *ro = NULL, state[PATH_MAX + 16], bundle[PATH_MAX + 16];
	struct husk_sentinel_bind *view = NULL;
	size_t nview = 0;
	struct husk_err err = {0};
	snprintf(state, sizeof state, "%s/state", tmp);
	snprintf(bundle, sizeof bundle, "%s/bundle", tmp);
	if (husk_binds_prepare("c1", bundle, state, mounts, &out, &rw, &ro, &view, &nview, &err) <
	    0) {
		fprintf(stderr, "prepare: %s\n", err.msg);
		_exit(err.code == EPERM ? 77 : 1);
	}
	snprintf(p, sizeof p, "%s/binds", state);
	CHECK(rw && !strcmp(rw, p));
	snprintf(p, sizeof p, "%s/binds-ro", state);
	CHECK(ro && !strcmp(ro, p));
	/* the guest's sources, each in its share */
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
	CHECK(open(p, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS);
	snprintf(p, sizeof p, "%s/0/sub/new", ro);
	CHECK(open(p, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS);
	snprintf(p, sizeof p, "%s/1", ro);
	CHECK(open(p, O_WRONLY) < 0 && errno == EROFS);
	snprintf(p, sizeof p, "%s/0/new", rw);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);
	snprintf(p, sizeof p, "%s/1/new", rw);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);
	husk_binds_unmount(rw);
	husk_binds_unmount(ro);
	snprintf(p, sizeof p, "%s/0/hello", ro);
	CHECK(access(p, F_OK) < 0);
	husk_binds_view_free(view, nview);
	json_object_put(out);
	json_object_put(mounts);
	free(rw);
	free(ro);
	_exit(0);
}

static void test_staging(void **state)
{
	if (geteuid() != 0)
		skip();
	snprintf(tmp, sizeof tmp, "/tmp/husk-binds-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	char p[PATH_MAX + 64];
	const char *dirs[] = {"host",  "host/ro", "host/ro/sub", "host/rw",
			      "state", "bundle",  "bundle/rel"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", tmp, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	snprintf(p, sizeof p, "%s/host/ro/hello", tmp);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	snprintf(p, sizeof p, "%s/host/file", tmp);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a submount under the ro source, in the child's namespace */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		snprintf(p, sizeof p, "%s/host/ro/sub", tmp);
		if (mount("tmpfs", p, "tmpfs", 0, "size=64k") < 0)
			_exit(77);
		stage_in_child();
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* nothing written through a read-only share reached the host */
	snprintf(p, sizeof p, "%s/host/ro/new", tmp);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/host/rw/new", tmp);
	bool rw_written = access(p, F_OK) == 0;
	nftw(tmp, rm, 16, FTW_DEPTH | FTW_PHYS);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* no mount namespaces here */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(rw_written);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readonly_is_the_last_word),
	    cmocka_unit_test(test_no_binds_no_shares),
	    cmocka_unit_test(test_staging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
