/* Where the husk.vm.kernel and husk.vm.initrd annotations may take a file
 * from (docs/security.md, "Annotations"): whoever writes a pod may set
 * annotations, so an annotation names only files under directories the
 * operator chose. The pure parts (path check, husk.conf) are unit tested. */
#ifndef HUSK_ALLOW_H
#define HUSK_ALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "husk-err.h"

/* The root-owned configuration file whose kernel_dirs lines add directories. */
#define HUSK_CONF_PATH "/etc/husk/husk.conf"

/* the compiled-in data directory, as vm.c's */
#ifndef HUSK_DATADIR
#define HUSK_DATADIR "/usr/local/share/husk"
#endif

#define HUSK_ALLOW_MAX 32

struct husk_allow {
	char *dirs[HUSK_ALLOW_MAX]; /* resolved (realpath), a file must lie beneath */
	size_t ndirs;
	char *files[HUSK_ALLOW_MAX]; /* resolved, allowed as they are */
	size_t nfiles;
};

/* Add a directory or a single file, resolved with realpath; one that does not
 * exist (or is not a directory, or a regular file) is left out: 0 if added,
 * -1 if not. */
int husk_allow_add_dir(struct husk_allow *a, const char *dir);
int husk_allow_add_file(struct husk_allow *a, const char *file);
/* The install's defaults, found as husk_vm_resolve finds the kernel and
 * initrd next to the binary in DIR (the directory of the husk binary, or
 * NULL): the directories DIR/../share/husk and HUSK_DATADIR; for a build
 * tree, DIR/kernel and the default files DIR/kernel/vmlinux and
 * DIR/initrd.img themselves (as they resolve). */
void husk_allow_defaults(struct husk_allow *a, const char *dir);

/* A configuration file (or its directory) is trusted when root owns it and
 * neither its group nor others may write it. */
bool husk_allow_trusted(const struct stat *st);
/* husk.conf's text: "kernel_dirs = /a:/b" lines (any number) add those
 * directories; "#" starts a comment, other keys are left to their readers.
 * A kernel_dirs entry that is not absolute, does not exist or is not
 * trusted (husk_allow_trusted) is left out with a warning. NAME is the file's
 * name for those warnings. Returns how many directories were added. */
int husk_allow_parse_conf(struct husk_allow *a, const char *text, const char *name);
/* Read PATH (absent: 0, nothing added). -1 with err when it or its directory
 * is not trusted, is a symlink or cannot be read: the caller warns and goes
 * on without it. */
int husk_allow_load_conf(struct husk_allow *a, const char *path, struct husk_err *err);
/* The configuration file this build reads: HUSK_CONF_PATH, or in the test
 * build (HUSK_TEST_BUILD) $HUSK_TEST_CONF when set. */
const char *husk_allow_conf_path(void);

/* Whether ANNOTATION's value PATH may be used: resolved with realpath, a
 * regular file, beneath an allowed directory or one of the allowed files.
 * The resolved path goes in out (size bytes). Otherwise -1 with err:
 * "annotation husk.vm.initrd: /etc/shadow is not under an allowed directory
 * (...)", one message whether PATH exists or not. */
int husk_allow_check(const struct husk_allow *a, const char *annotation, const char *path,
		     char *out, size_t size, struct husk_err *err);
void husk_allow_free(struct husk_allow *a);

#endif
