/* A bundle's checks for create and run: the config, the rootfs, the
 * program, the VM's settings and files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "bundle.h"
#include "pod.h"
#include "husk-facts.h"
#include "husk.h"
#include "state.h"
#include "vmconf.h"

/* Find the program in the rootfs as the guest will, so that a missing one
 * fails create (as runc's does, which callers map to 127) rather than start.
 * Symlinks resolve inside the rootfs (RESOLVE_IN_ROOT). */
static int rootfs_open(int root, const char *path, struct stat *st)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
	int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
	if (fd < 0)
		return -1;
	int r = fstat(fd, st);
	close(fd);
	return r;
}

static int check_executable(const char *rootfs, const struct husk_process *p, struct husk_err *err)
{
	const char *arg0 = p->args[0], *path = husk_path_of_env(p->env);
	char full[PATH_MAX];
	struct stat st;
	_cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return husk_err_sys(err, errno, "rootfs %s", rootfs);
	if (strchr(arg0, '/')) {
		if (rootfs_open(root, arg0, &st) < 0) {
			if (errno == ENOSYS)
				return 0; /* an old host kernel: the guest will tell */
			return husk_err_sys(err, errno, "exec: \"%s\": stat %s", arg0, arg0);
		}
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			return husk_err_set(err, EACCES, "exec: \"%s\": permission denied", arg0);
		return 0;
	}
	while (husk_path_next(&path, arg0, full, sizeof full)) {
		if (rootfs_open(root, full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return 0;
		if (errno == ENOSYS)
			return 0;
	}
	return husk_err_set(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", arg0);
}

int husk_bundle_prepare(struct proxy_opts *o, const char *bundle, const char *id,
			struct husk_err *err)
{
	char abs_bundle[PATH_MAX];
	struct stat st;
	o->id = id;
	if (husk_id_check(id, err) < 0)
		return -1;
	if (!realpath(bundle, abs_bundle))
		return husk_err_sys(err, errno, "bundle %s", bundle);
	if (!(o->bundle = strdup(abs_bundle)))
		return husk_err_set(err, ENOMEM, "out of memory");
	if (husk_config_load(abs_bundle, &o->cfg, err) < 0)
		return -1;
	if (o->cfg.root_path[0] == '/') {
		o->rootfs = realpath(o->cfg.root_path, NULL);
	} else {
		char *p;
		if (asprintf(&p, "%s/%s", abs_bundle, o->cfg.root_path) < 0)
			return husk_err_set(err, ENOMEM, "out of memory");
		o->rootfs = realpath(p, NULL);
		free(p);
	}
	if (!o->rootfs || stat(o->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
		return husk_err_set(err, ENOENT,
				    "rootfs %s (root.path in %s/config.json) is not a directory",
				    o->cfg.root_path, abs_bundle);
	if (check_executable(o->rootfs, &o->cfg.process, err) < 0) {
		o->exec_status = husk_exec_status(err->code);
		return -1;
	}
	if (husk_vmconf_apply(&o->cfg, &o->vo, &o->share_set, err) < 0 ||
	    husk_netconf_resolve(&o->cfg, &o->net, err) < 0 || husk_pod_resolve(o, err) < 0)
		return -1;
	o->vo.debug = husk_global.debug;
	return husk_vm_resolve(&o->vo, err);
}
