/* husk-mkinitrd's library: a declarative initrd list (in the spirit of the
 * kernel's usr/gen_init_cpio.c) and a reproducible newc cpio writer.
 *
 * List syntax, one entry per line; blank lines and lines whose first
 * non-blank character is '#' are ignored; fields are separated by blanks:
 *
 *   file  <name> <source-path> <mode> <uid> <gid>
 *   dir   <name> <mode> <uid> <gid>
 *   nod   <name> <mode> <uid> <gid> <c|b> <major> <minor>
 *   slink <name> <target> <mode> <uid> <gid>
 *
 * <name> is absolute ("/dev/console"), without ".", ".." or empty components;
 * the archive stores it without the leading '/'. <mode> is octal permission
 * bits (at most 07777); the file type comes from the kind. <source-path> is
 * relative to the current directory or absolute. Names cannot contain blanks.
 *
 * Parents are never added implicitly: every entry's parent directory other
 * than "/" must be listed as a dir (anywhere in the list), otherwise parsing
 * fails naming the child's line. Duplicate names are an error too.
 *
 * The archive is byte-for-byte reproducible: entries sorted by name (so a
 * parent precedes its children), mtime 0, uid/gid as listed, inode numbers
 * 1, 2, 3... in that order, nlink 1 (2 for directories), dev 0:0, no padding
 * after the trailer, and with -z a gzip header without a timestamp. */
#ifndef HUSK_MKINITRD_CPIO_H
#define HUSK_MKINITRD_CPIO_H

#include <stdbool.h>
#include <stddef.h>

#include "husk-err.h"

enum mkinitrd_kind {
	MKINITRD_FILE = 0,
	MKINITRD_DIR = 1,
	MKINITRD_NOD = 2,
	MKINITRD_SLINK = 3,
};

struct mkinitrd_entry {
	enum mkinitrd_kind kind;
	char *name; /* as listed, with the leading '/' */
	char *source; /* file: source path; slink: link target; else NULL */
	unsigned int mode; /* permission bits only */
	unsigned int uid, gid;
	char devtype; /* nod: 'c' or 'b' */
	unsigned int major, minor; /* nod only */
	unsigned int line; /* 1-based line in the list, for messages */
};

struct mkinitrd_list {
	char *listname; /* for messages: "<listname>:<line>: ..." */
	struct mkinitrd_entry *entries; /* sorted by name */
	size_t n;
};

/* Parse list text (no file access). On failure returns -1 with err set to
 * "<listname>:<line>: <what>" and *out left empty (nothing to free). */
int mkinitrd_list_parse(const char *text, size_t len, const char *listname,
			struct mkinitrd_list *out, struct husk_err *err);

/* Write the newc archive to out_fd, gzip-compressed if asked. Reads the
 * source files; errors name the list line of the entry at fault. */
int mkinitrd_write(const struct mkinitrd_list *l, int out_fd, bool gzip, struct husk_err *err);

void mkinitrd_list_free(struct mkinitrd_list *l);

#endif
