/* Unit tests for the VM's host cgroup (host-tool/cgroup.c): where
 * linux.cgroupsPath puts it, and create/set/stats/destroy against fake v1
 * and v2 trees in a temporary directory, never the real /sys/fs/cgroup.
 *
 * A fake tree is plain directories and files. The kernel fills each new
 * cgroup directory with its files, and husk only ever writes files that
 * exist (no O_CREAT); so the tests play the kernel through
 * husk_cgroup_mkdir_hook, making those files in each directory husk
 * creates. The kernel also lets rmdir remove a cgroup with its files in
 * it; a plain directory needs them gone first (unkernel). */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../host-tool/cgroup.h"
#include "husk-log.h"

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));               \
	} while (0)

/* ---- resolve ---- */

static char *resolve(bool v2, const char *self, const char *cp, bool systemd, struct husk_err *err)
{
	char *rel = (char *)"unset";
	memset(err, 0, sizeof *err);
	int r = husk_cgroup_resolve_text(v2, self, cp, "abc", systemd, &rel, err);
	assert_true(r == 0 || rel == NULL);
	return r == 0 ? rel : NULL;
}

static void expect_path(bool v2, const char *self, const char *cp, bool systemd, const char *want)
{
	struct husk_err err;
	char *rel = resolve(v2, self, cp, systemd, &err);
	if (!rel)
		fail_msg("\"%s\": %s", cp, err.msg);
	assert_string_equal(rel, want);
	free(rel);
}

static void expect_error(bool v2, const char *self, const char *cp, bool systemd, const char *msg)
{
	struct husk_err err;
	char *rel = resolve(v2, self, cp, systemd, &err);
	if (rel)
		fail_msg("\"%s\" gave \"%s\"", cp, rel);
	assert_int_equal(err.code, strstr(msg, "/proc/self/cgroup") ? ENOENT : EINVAL);
	assert_contains(err.msg, msg);
	assert_null(strchr(err.msg, '\n'));
}

static void test_absolute(void **state)
{
	expect_path(false, "", "/libpod_parent/libpod-abc", false, "/libpod_parent/libpod-abc");
	expect_path(true, "", "/libpod_parent/libpod-abc", false, "/libpod_parent/libpod-abc");
	expect_path(false, "", "//a//b/./c/", false, "/a/b/c");
	expect_path(false, "", "/a/..b/.c", false, "/a/..b/.c");
}

static void test_refused(void **state)
{
	expect_error(false, "", "/a/../b", false, "linux.cgroupsPath \"/a/../b\": \"..\"");
	expect_error(false, "0::/\n", "..", false, "linux.cgroupsPath \"..\": \"..\"");
	expect_error(true, "0::/\n", "a/b/..", false, "\"..\" is not allowed");
	expect_error(false, "", "/", false, "linux.cgroupsPath \"/\": names no cgroup");
	expect_error(false, "", "//./", false, "names no cgroup");
	expect_error(false, "", "a\nb", false, "newline");
}

/* This machine's kind of v1 /proc/self/cgroup: one controller elsewhere. */
static const char self_v1_mixed[] = "12:name=systemd:/user.slice/session-1.scope\n"
				    "9:pids:/user.slice\n"
				    "4:memory:/process_api/bc3d\n"
				    "3:cpuset:/\n"
				    "2:cpu,cpuacct:/user.slice\n"
				    "1:net_cls,net_prio:/\n"
				    "0::/user.slice/session-1.scope\n";

static void test_relative_v1(void **state)
{
	expect_path(false, "9:pids:/\n4:memory:/\n2:cpu,cpuacct:/\n0::/\n", "", false, "/abc");
	expect_path(false, "9:pids:/x\n4:memory:/x/\n2:cpu,cpuacct:/x\n", "a//b", false, "/x/a/b");
	expect_path(false, self_v1_mixed, "ctr", false,
		    "memory=/process_api/bc3d/ctr\n"
		    "cpu=/user.slice/ctr\n"
		    "cpuacct=/user.slice/ctr\n"
		    "pids=/user.slice/ctr\n"
		    "cpuset=/ctr");
	expect_error(false, "0::/\n", "", false, "/proc/self/cgroup has no cgroup v1 controller");
	struct husk_err err;
	assert_null(resolve(false, "4:memory:/../..\n", "x", false, &err));
	assert_contains(err.msg, "outside its namespace");
}

static void test_relative_v2(void **state)
{
	/* the parent of husk's own cgroup, as runc's fs2 driver does */
	expect_path(true, "0::/user.slice/user-0.slice/session-1.scope\n", "ctr", false,
		    "/user.slice/user-0.slice/ctr");
	expect_path(true, "0::/\n", "a/./b", false, "/a/b");
	expect_path(true, "0::/x\n", "", false, "/abc");
	expect_path(true, self_v1_mixed, "", false, "/user.slice/abc");
	struct husk_err err;
	assert_null(resolve(true, "4:memory:/\n", "x", false, &err));
	assert_contains(err.msg, "has no \"0::\" line");
}

static void test_systemd(void **state)
{
	expect_path(false, "", "system.slice:docker:1234", true, "/system.slice/docker-1234.scope");
	expect_path(true, "", "a-b-c.slice:crio:x", true,
		    "/a.slice/a-b.slice/a-b-c.slice/crio-x.scope");
	expect_path(false, "", ":p:n", true, "/system.slice/p-n.scope");
	expect_path(false, "", "-.slice:p:n", true, "/p-n.scope");
	expect_path(false, "", "", true, "/system.slice/husk-abc.scope");
	expect_path(false, "", NULL, true, "/system.slice/husk-abc.scope");
	expect_path(false, "", "user.slice:p:kube-pod1.slice", true, "/kube.slice/kube-pod1.slice");
	expect_path(false, "", "machine.slice::n", true, "/machine.slice/-n.scope");
}

static void test_systemd_errors(void **state)
{
	const char *want = "expected slice:prefix:name";
	expect_error(false, "", "x:y", true,
		     "linux.cgroupsPath \"x:y\": expected slice:prefix:name");
	expect_error(false, "", "a:b:c:d", true, want);
	expect_error(false, "", "/abs/path", true, want);
	expect_error(false, "", "foo:p:n", true, "slice \"foo\" does not end in .slice");
	expect_error(false, "", ".slice:p:n", true, "slice \".slice\" has an empty part");
	expect_error(false, "", "a--b.slice:p:n", true, "\"a--b.slice\" has an empty part");
	expect_error(false, "", "-a.slice:p:n", true, "empty part");
	expect_error(false, "", "a-.slice:p:n", true, "empty part");
	expect_error(false, "", "a/b.slice:p:n", true, "has a '/'");
	expect_error(false, "", "system.slice:p:a/b", true, "must not have a '/'");
	expect_error(false, "", "system.slice:p:-.slice", true, "root slice");
	expect_error(false, "", "system.slice:p:x--y.slice", true, "empty part");
}

static void test_shares_to_weight(void **state)
{
	assert_int_equal(husk_cgroup_shares_to_weight(0), 0);
	assert_int_equal(husk_cgroup_shares_to_weight(1), 1);
	assert_int_equal(husk_cgroup_shares_to_weight(2), 1);
	assert_int_equal(husk_cgroup_shares_to_weight(1024), 39);
	assert_int_equal(husk_cgroup_shares_to_weight(262144), 10000);
	assert_int_equal(husk_cgroup_shares_to_weight(1u << 30), 10000);
}

/* ---- fake trees ---- */

static bool fake_v2;

static void put_file(const char *dir, const char *file, const char *text)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *slurp(const char *dir, const char *file)
{
	static char buf[4096];
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	FILE *f = fopen(p, "r");
	if (!f)
		fail_msg("cannot open %s", p);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static bool exists(const char *dir, const char *sub)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, sub);
	return access(p, F_OK) == 0;
}

/* What the kernel puts in a new cgroup of each hierarchy. */
static void play_kernel(const char *dir)
{
	put_file(dir, "cgroup.procs", "");
	if (fake_v2) {
		put_file(dir, "cgroup.controllers", "cpuset cpu io memory pids\n");
		put_file(dir, "cgroup.subtree_control", "");
		put_file(dir, "memory.max", "max\n");
		put_file(dir, "cpu.max", "max 100000\n");
		put_file(dir, "cpu.weight", "100\n");
		put_file(dir, "pids.max", "max\n");
	} else if (strstr(dir, "/memory/")) {
		put_file(dir, "memory.limit_in_bytes", "9223372036854771712\n");
	} else if (strstr(dir, "/cpu,cpuacct/")) {
		put_file(dir, "cpu.cfs_quota_us", "-1\n");
		put_file(dir, "cpu.cfs_period_us", "100000\n");
		put_file(dir, "cpu.shares", "1024\n");
	} else if (strstr(dir, "/pids/")) {
		put_file(dir, "pids.max", "max\n");
	} else if (strstr(dir, "/cpuset/")) {
		put_file(dir, "cpuset.cpus", "");
		put_file(dir, "cpuset.mems", "\n");
	}
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int unkernel_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return flag == FTW_F ? remove(p) : 0;
}

/* Plain files would keep rmdir from removing a fake cgroup. */
static void unkernel(const char *dir)
{
	assert_int_equal(nftw(dir, unkernel_one, 8, FTW_PHYS), 0);
}

struct tree {
	char root[64];
};

static int v1_setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);
	char p[4096];
	strcpy(t->root, "/tmp/husk-cgroup-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	/* memory, pids, cpuset; cpu and cpuacct mounted together; blkio,
	 * devices and freezer missing; hybrid: unified and systemd are not
	 * controllers and do not make it v2 */
	const char *dirs[] = {"memory", "cpu,cpuacct", "pids", "cpuset", "unified", "systemd"};
	for (size_t i = 0; i < 6; i++) {
		snprintf(p, sizeof p, "%s/%s", t->root, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		put_file(p, "cgroup.procs", "");
	}
	snprintf(p, sizeof p, "%s/unified", t->root);
	put_file(p, "cgroup.controllers", "");
	snprintf(p, sizeof p, "%s/cpuset", t->root);
	put_file(p, "cpuset.cpus", "0-3\n");
	put_file(p, "cpuset.mems", "0\n");
	snprintf(p, sizeof p, "%s/cpu", t->root);
	assert_int_equal(symlink("cpu,cpuacct", p), 0);
	snprintf(p, sizeof p, "%s/cpuacct", t->root);
	assert_int_equal(symlink("cpu,cpuacct", p), 0);
	fake_v2 = false;
	husk_cgroup_mkdir_hook = play_kernel;
	*state = t;
	return 0;
}

static int v2_setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);
	strcpy(t->root, "/tmp/husk-cgroup-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	put_file(t->root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	put_file(t->root, "cgroup.subtree_control", "");
	put_file(t->root, "cgroup.procs", "");
	fake_v2 = true;
	husk_cgroup_mkdir_hook = play_kernel;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	nftw(t->root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(t);
	husk_cgroup_mkdir_hook = NULL;
	return 0;
}

static char *sub(const struct tree *t, const char *rel)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/%s", t->root, rel);
	return p;
}

/* ---- v1 ---- */

static void test_v1_lifecycle(void **state)
{
	struct tree *t = *state;
	struct husk_cgroup cg = {0};
	struct husk_err err = {0};
	if (husk_cgroup_create(&cg, t->root, "/husk/abc", &err) < 0)
		fail_msg("%s", err.msg);
	assert_false(cg.v2);
	assert_string_equal(cg.dir[HUSK_CG_MEMORY], sub(t, "memory/husk/abc"));
	assert_string_equal(cg.dir[HUSK_CG_CPU], sub(t, "cpu,cpuacct/husk/abc"));
	assert_string_equal(cg.dir[HUSK_CG_CPUACCT], sub(t, "cpu,cpuacct/husk/abc"));
	assert_string_equal(cg.mnt[HUSK_CG_PIDS], sub(t, "pids"));
	assert_null(cg.dir[HUSK_CG_BLKIO]);
	assert_null(cg.dir[HUSK_CG_FREEZER]);
	/* cpuset: every new level takes its parent's CPUs and memory nodes */
	assert_string_equal(slurp(sub(t, "cpuset/husk"), "cpuset.cpus"), "0-3");
	assert_string_equal(slurp(sub(t, "cpuset/husk/abc"), "cpuset.cpus"), "0-3");
	assert_string_equal(slurp(sub(t, "cpuset/husk/abc"), "cpuset.mems"), "0");

	assert_int_equal(husk_cgroup_join(&cg, 4242, &err), 0);
	assert_string_equal(slurp(cg.dir[HUSK_CG_PIDS], "cgroup.procs"), "4242");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPU], "cgroup.procs"), "4242");

	struct husk_cgroup_limits l = {.memory = 256 << 20,
				       .cpu_quota = 50000,
				       .cpu_period = 100000,
				       .cpu_shares = 512,
				       .pids = 100,
				       .cpuset_cpus = "1-2"};
	if (husk_cgroup_set(&cg, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(slurp(cg.dir[HUSK_CG_MEMORY], "memory.limit_in_bytes"), "268435456");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPU], "cpu.cfs_quota_us"), "50000");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPU], "cpu.cfs_period_us"), "100000");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPU], "cpu.shares"), "512");
	assert_string_equal(slurp(cg.dir[HUSK_CG_PIDS], "pids.max"), "100");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPUSET], "cpuset.cpus"), "1-2");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPUSET], "cpuset.mems"), "0");
	l = (struct husk_cgroup_limits){.memory = -1, .cpu_quota = -1, .pids = -1};
	assert_int_equal(husk_cgroup_set(&cg, &l, &err), 0);
	assert_string_equal(slurp(cg.dir[HUSK_CG_MEMORY], "memory.limit_in_bytes"), "-1");
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPU], "cpu.cfs_quota_us"), "-1");
	assert_string_equal(slurp(cg.dir[HUSK_CG_PIDS], "pids.max"), "max");

	/* blkio is not mounted in this tree */
	l = (struct husk_cgroup_limits){0};
	assert_int_equal(husk_cgroup_set(&cg, &l, &err), 0);

	put_file(cg.dir[HUSK_CG_CPUACCT], "cpuacct.usage", "123456789\n");
	put_file(cg.dir[HUSK_CG_CPUACCT], "cpuacct.stat", "user 7\nsystem 3\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.usage_in_bytes", "4096\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.max_usage_in_bytes", "8192\n");
	put_file(cg.dir[HUSK_CG_PIDS], "pids.current", "3\n");
	put_file(cg.dir[HUSK_CG_PIDS], "pids.max", "max\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.limit_in_bytes", "9223372036854771712\n");
	put_file(cg.dir[HUSK_CG_CPU], "cpu.stat",
		 "nr_periods 40\nnr_throttled 4\nthrottled_time 123456\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.stat",
		 "cache 65536\nrss 4096\ntotal_cache 131072\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.failcnt", "5\n");
	put_file(cg.dir[HUSK_CG_MEMORY], "memory.oom_control",
		 "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
	struct husk_cgroup_stats s;
	if (husk_cgroup_stats(&cg, &s, &err) < 0)
		fail_msg("%s", err.msg);
	uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
	assert_int_equal(s.cpu_usage_ns, 123456789);
	assert_int_equal(s.cpu_user_ns, 7 * tick);
	assert_int_equal(s.cpu_system_ns, 3 * tick);
	assert_int_equal(s.memory_usage, 4096);
	assert_int_equal(s.memory_limit, 9223372036854771712ull); /* v1's "unlimited" */
	assert_int_equal(s.memory_max_usage, 8192);
	assert_int_equal(s.pids_current, 3);
	assert_int_equal(s.pids_limit, 0);
	assert_int_equal(s.cpu_periods, 40);
	assert_int_equal(s.cpu_throttled_periods, 4);
	assert_int_equal(s.cpu_throttled_ns, 123456); /* v1: already ns */
	assert_int_equal(s.memory_cache, 65536);
	assert_int_equal(s.memory_failcnt, 5);
	assert_int_equal(s.oom_kills, 2); /* not oom_kill_disable */

	/* a later verb finds it again by the path in state.json */
	struct husk_cgroup again;
	assert_int_equal(husk_cgroup_load(&again, t->root, "/husk/abc", &err), 0);
	for (int i = 0; i < HUSK_CG_NCTL; i++)
		assert_true(cg.dir[i] == again.dir[i] || strcmp(cg.dir[i], again.dir[i]) == 0);
	husk_cgroup_free(&again);

	char me[24];
	snprintf(me, sizeof me, "%d", (int)getpid());
	assert_int_equal(husk_cgroup_leave(&cg, &err), 0);
	assert_string_equal(slurp(sub(t, "memory/husk"), "cgroup.procs"), me);
	assert_string_equal(slurp(sub(t, "cpuset/husk"), "cgroup.procs"), me);

	/* a directory that is not empty is refused at once (only EBUSY waits) */
	husk_log_max = HUSK_LOG_ERROR; /* its warnings are expected */
	assert_int_equal(husk_cgroup_destroy(&cg), -1);
	husk_log_max = HUSK_LOG_WARN;
	unkernel(t->root);
	assert_int_equal(husk_cgroup_destroy(&cg), 0);
	assert_false(exists(t->root, "memory/husk/abc"));
	assert_false(exists(t->root, "cpu,cpuacct/husk/abc"));
	assert_false(exists(t->root, "cpuset/husk/abc"));
	assert_true(exists(t->root, "memory/husk")); /* ancestors stay */
	/* gone already: fine */
	assert_int_equal(husk_cgroup_destroy(&cg), 0);
	husk_cgroup_free(&cg);
	assert_null(cg.dir[HUSK_CG_MEMORY]);
}

/* The per-controller form: each hierarchy has its own place. */
static void test_v1_per_controller(void **state)
{
	struct tree *t = *state;
	struct husk_cgroup cg;
	struct husk_err err = {0};
	char *rel = resolve(false, self_v1_mixed, "ctr", false, &err);
	assert_non_null(rel);
	if (husk_cgroup_create(&cg, t->root, rel, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(cg.dir[HUSK_CG_MEMORY], sub(t, "memory/process_api/bc3d/ctr"));
	assert_string_equal(cg.dir[HUSK_CG_CPU], sub(t, "cpu,cpuacct/user.slice/ctr"));
	assert_string_equal(cg.dir[HUSK_CG_CPUSET], sub(t, "cpuset/ctr"));
	assert_true(exists(t->root, "pids/user.slice/ctr"));
	assert_string_equal(slurp(cg.dir[HUSK_CG_CPUSET], "cpuset.mems"), "0");
	husk_cgroup_free(&cg);
	free(rel);

	assert_int_equal(husk_cgroup_load(&cg, t->root, "memory=/a\nbogus=/b", &err), -1);
	assert_contains(err.msg, "\"bogus=/b\" is no controller=path");
	assert_int_equal(husk_cgroup_load(&cg, t->root, "memory=/a/../b", &err), -1);
	assert_contains(err.msg, "not a clean path");
	assert_int_equal(husk_cgroup_load(&cg, t->root, "/", &err), -1);
}

/* Without the kernel's files the cpuset step fails: the leaves made so far
 * are removed again, their ancestors stay. */
static void test_v1_create_fails(void **state)
{
	struct tree *t = *state;
	struct husk_cgroup cg;
	struct husk_err err = {0};
	husk_cgroup_mkdir_hook = NULL;
	assert_int_equal(husk_cgroup_create(&cg, t->root, "/husk/abc", &err), -1);
	assert_contains(err.msg, "cannot read cpuset.cpus of ");
	assert_null(cg.dir[HUSK_CG_MEMORY]);
	assert_false(exists(t->root, "memory/husk/abc"));
	assert_false(exists(t->root, "pids/husk/abc"));
	assert_true(exists(t->root, "memory/husk"));
}

/* Whatever runs this test, the real /proc/self/cgroup reads and resolves. */
static void test_resolve_reads_proc(void **state)
{
	struct tree *t = *state;
	struct husk_err err = {0};
	char *rel = NULL;
	if (husk_cgroup_resolve(t->root, "ctr", "abc", false, &rel, &err) < 0)
		fail_msg("%s", err.msg);
	assert_contains(rel, "/ctr");
	free(rel);
	assert_int_equal(husk_cgroup_resolve(t->root, "/a/b", "abc", false, &rel, &err), 0);
	assert_string_equal(rel, "/a/b");
	free(rel);
}

/* ---- v2 ---- */

static void test_v2_lifecycle(void **state)
{
	struct tree *t = *state;
	struct husk_cgroup cg;
	struct husk_err err = {0};
	if (husk_cgroup_create(&cg, t->root, "/a/b", &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(cg.v2);
	assert_string_equal(cg.dir[0], sub(t, "a/b"));
	for (int i = 1; i < HUSK_CG_NCTL; i++)
		assert_null(cg.dir[i]);
	/* each ancestor lets its children have the controllers husk uses */
	assert_string_equal(slurp(t->root, "cgroup.subtree_control"),
			    "+cpuset +cpu +io +memory +pids");
	assert_string_equal(slurp(sub(t, "a"), "cgroup.subtree_control"),
			    "+cpuset +cpu +io +memory +pids");
	assert_string_equal(slurp(cg.dir[0], "cgroup.subtree_control"), "");

	assert_int_equal(husk_cgroup_join(&cg, 77, &err), 0);
	assert_string_equal(slurp(cg.dir[0], "cgroup.procs"), "77");

	struct husk_cgroup_limits l = {.memory = 1 << 30,
				       .cpu_quota = 50000,
				       .cpu_period = 100000,
				       .cpu_shares = 1024,
				       .pids = 64,
				       .cpuset_mems = "0"};
	put_file(cg.dir[0], "cpuset.mems", "");
	if (husk_cgroup_set(&cg, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(slurp(cg.dir[0], "memory.max"), "1073741824");
	assert_string_equal(slurp(cg.dir[0], "cpu.max"), "50000 100000");
	assert_string_equal(slurp(cg.dir[0], "cpu.weight"), "39");
	assert_string_equal(slurp(cg.dir[0], "pids.max"), "64");
	assert_string_equal(slurp(cg.dir[0], "cpuset.mems"), "0");
	l = (struct husk_cgroup_limits){
	    .memory = -1, .cpu_quota = -1, .cpu_period = 250000, .pids = -1};
	assert_int_equal(husk_cgroup_set(&cg, &l, &err), 0);
	assert_string_equal(slurp(cg.dir[0], "memory.max"), "max");
	assert_string_equal(slurp(cg.dir[0], "cpu.max"), "max 250000");
	assert_string_equal(slurp(cg.dir[0], "pids.max"), "max");
	l = (struct husk_cgroup_limits){.cpu_quota = 20000};
	assert_int_equal(husk_cgroup_set(&cg, &l, &err), 0);
	assert_string_equal(slurp(cg.dir[0], "cpu.max"), "20000");

	put_file(cg.dir[0], "cpu.stat",
		 "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
		 "nr_periods 30\nnr_throttled 3\nthrottled_usec 250\n");
	put_file(cg.dir[0], "memory.stat", "anon 8192\nfile 16384\nfile_mapped 4096\n");
	put_file(cg.dir[0], "memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n");
	put_file(cg.dir[0], "memory.current", "12345\n");
	put_file(cg.dir[0], "pids.current", "2\n");
	put_file(cg.dir[0], "pids.max", "64\n");
	struct husk_cgroup_stats s;
	if (husk_cgroup_stats(&cg, &s, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(s.cpu_usage_ns, 1500000);
	assert_int_equal(s.cpu_user_ns, 1000000);
	assert_int_equal(s.cpu_system_ns, 500000);
	assert_int_equal(s.memory_usage, 12345);
	assert_true(s.memory_limit == UINT64_MAX); /* "max" */
	assert_int_equal(s.memory_max_usage, 0);   /* no memory.peak before 5.19 */
	assert_int_equal(s.pids_current, 2);
	assert_int_equal(s.pids_limit, 64);
	assert_int_equal(s.cpu_periods, 30);
	assert_int_equal(s.cpu_throttled_periods, 3);
	assert_int_equal(s.cpu_throttled_ns, 250000);
	assert_int_equal(s.memory_cache, 16384);
	assert_int_equal(s.memory_failcnt, 0); /* runc 1.1 reports none on v2 */
	assert_int_equal(s.oom_kills, 1);
	put_file(cg.dir[0], "memory.peak", "99999\n");
	put_file(cg.dir[0], "pids.current", "two\n");
	assert_int_equal(husk_cgroup_stats(&cg, &s, &err), -1);
	assert_contains(err.msg, "pids.current: cannot read a number in \"two");
	put_file(cg.dir[0], "pids.current", "2\n");
	assert_int_equal(husk_cgroup_stats(&cg, &s, &err), 0);
	assert_int_equal(s.memory_max_usage, 99999);

	char me[24];
	snprintf(me, sizeof me, "%d", (int)getpid());
	assert_int_equal(husk_cgroup_leave(&cg, &err), 0);
	assert_string_equal(slurp(sub(t, "a"), "cgroup.procs"), me);

	unkernel(cg.dir[0]);
	assert_int_equal(husk_cgroup_destroy(&cg), 0);
	assert_false(exists(t->root, "a/b"));
	assert_true(exists(t->root, "a"));
	assert_int_equal(husk_cgroup_stats(&cg, &s, &err), -1);
	assert_int_equal(err.code, ENOENT);
	husk_cgroup_free(&cg);
}

static void test_v2_errors(void **state)
{
	struct tree *t = *state;
	struct husk_cgroup cg;
	struct husk_err err = {0};
	assert_int_equal(husk_cgroup_create(&cg, t->root, "/c", &err), 0);
	/* the memory controller not enabled for it: no memory.max */
	char p[4096];
	snprintf(p, sizeof p, "%s/memory.max", cg.dir[0]);
	assert_int_equal(unlink(p), 0);
	struct husk_cgroup_limits l = {.memory = 1000};
	assert_int_equal(husk_cgroup_set(&cg, &l, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_contains(err.msg, "cannot write \"1000\" to ");
	assert_contains(err.msg, "/c/memory.max");
	husk_cgroup_free(&cg);

	assert_int_equal(husk_cgroup_load(&cg, t->root, "memory=/a\ncpu=/b", &err), -1);
	assert_contains(err.msg, "is a cgroup v1 path");
	assert_int_equal(husk_cgroup_load(&cg, t->root, "/a\n/b", &err), -1);
	assert_int_equal(husk_cgroup_create(&cg, t->root, "relative", &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_absolute),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_relative_v1),
	    cmocka_unit_test(test_relative_v2),
	    cmocka_unit_test(test_systemd),
	    cmocka_unit_test(test_systemd_errors),
	    cmocka_unit_test(test_shares_to_weight),
	    cmocka_unit_test_setup_teardown(test_v1_lifecycle, v1_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_per_controller, v1_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v1_create_fails, v1_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve_reads_proc, v1_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_lifecycle, v2_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_errors, v2_setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
