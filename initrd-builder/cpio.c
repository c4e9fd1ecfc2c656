#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "cpio.h"

#define MAX_FIELDS 8 /* nod has the most: kind name mode uid gid type major minor */
#define SHOW_MAX 64 /* longest token quoted back in a message */
#define NAME_MAX_LEN 4095

struct tok {
	const char *p;
	size_t n;
};

/* Quote a token back: "%.*s" with at most SHOW_MAX bytes. */
#define TOK_FMT "%.*s"
#define TOK_ARG(t) (int)((t).n < SHOW_MAX ? (t).n : SHOW_MAX), (t).p

struct kind_spec {
	const char *word;
	enum mkinitrd_kind kind;
	size_t nfields; /* including the kind itself */
	bool has_source; /* a path field after the name */
	const char *fields[MAX_FIELDS];
};

static const struct kind_spec kinds[] = {
	{ "file", MKINITRD_FILE, 6, true, { "kind", "name", "source", "mode", "uid", "gid" } },
	{ "dir", MKINITRD_DIR, 5, false, { "kind", "name", "mode", "uid", "gid" } },
	{ "nod", MKINITRD_NOD, 8, false,
	  { "kind", "name", "mode", "uid", "gid", "type", "major", "minor" } },
	{ "slink", MKINITRD_SLINK, 6, true, { "kind", "name", "target", "mode", "uid", "gid" } },
};

static const char *kind_word(enum mkinitrd_kind k)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i].kind == k)
			return kinds[i].word;
	return "?";
}

/* Sets err to "<list>:<line>: <message>" and returns -1. */
static int __attribute__((format(printf, 5, 6)))
line_err(struct husk_err *err, int code, const char *list, unsigned int line, const char *fmt, ...)
{
	char msg[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return husk_err_set(err, code, "%s:%u: %s", list, line, msg);
}

static bool tok_eq(struct tok t, const char *s)
{
	return t.n == strlen(s) && memcmp(t.p, s, t.n) == 0;
}

/* Parses an unsigned number made only of digits of base (8 or 10). */
static bool parse_uint(struct tok t, unsigned int base, uint32_t max, unsigned int *out)
{
	uint64_t v = 0;
	if (t.n == 0)
		return false;
	for (size_t i = 0; i < t.n; i++) {
		unsigned int d = (unsigned char)t.p[i] - '0';
		if (d >= base)
			return false;
		v = v * base + d;
		if (v > max)
			return false;
	}
	*out = (unsigned int)v;
	return true;
}

/* Absolute, not "/", no empty, "." or ".." components, no trailing '/'. */
static bool name_ok(struct tok t)
{
	if (t.n < 2 || t.n > NAME_MAX_LEN || t.p[0] != '/' || t.p[t.n - 1] == '/')
		return false;
	size_t start = 1;
	for (size_t i = 1; i <= t.n; i++) {
		if (i < t.n && t.p[i] != '/')
			continue;
		size_t len = i - start;
		if (len == 0 || (len == 1 && t.p[start] == '.') ||
		    (len == 2 && t.p[start] == '.' && t.p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Splits a line into up to max fields; returns how many were found. */
static size_t split(const char *s, size_t n, struct tok *t, size_t max)
{
	size_t nt = 0, i = 0;
	while (nt < max) {
		while (i < n && is_blank(s[i]))
			i++;
		if (i == n)
			break;
		size_t start = i;
		while (i < n && !is_blank(s[i]))
			i++;
		t[nt++] = (struct tok){ s + start, i - start };
	}
	return nt;
}

static int parse_line(const struct tok *t, size_t nt, const char *list, unsigned int line,
		      struct mkinitrd_entry *e, struct husk_err *err)
{
	const struct kind_spec *k = NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (tok_eq(t[0], kinds[i].word))
			k = &kinds[i];
	if (!k)
		return line_err(err, EINVAL, list, line,
				"unknown entry kind '" TOK_FMT "' (expected file, dir, nod or slink)",
				TOK_ARG(t[0]));
	if (nt < 2)
		return line_err(err, EINVAL, list, line, "%s: missing <name>", k->word);
	if (!name_ok(t[1]))
		return line_err(err, EINVAL, list, line,
				"%s: bad name '" TOK_FMT
				"' (expected an absolute path without '.', '..' or empty components)",
				k->word, TOK_ARG(t[1]));
	if (nt < k->nfields)
		return line_err(err, EINVAL, list, line, "%s " TOK_FMT ": missing <%s>", k->word,
				TOK_ARG(t[1]), k->fields[nt]);
	if (nt > k->nfields)
		return line_err(err, EINVAL, list, line,
				"%s " TOK_FMT ": unexpected '" TOK_FMT "' after <%s>", k->word,
				TOK_ARG(t[1]), TOK_ARG(t[k->nfields]), k->fields[k->nfields - 1]);

	size_t m = k->has_source ? 3 : 2; /* index of <mode> */
	e->kind = k->kind;
	e->line = line;
	if (!parse_uint(t[m], 8, 07777, &e->mode))
		return line_err(err, EINVAL, list, line,
				"%s " TOK_FMT ": bad mode '" TOK_FMT
				"' (expected octal permission bits, at most 07777)",
				k->word, TOK_ARG(t[1]), TOK_ARG(t[m]));
	if (!parse_uint(t[m + 1], 10, UINT32_MAX, &e->uid))
		return line_err(err, EINVAL, list, line, "%s " TOK_FMT ": bad uid '" TOK_FMT "'",
				k->word, TOK_ARG(t[1]), TOK_ARG(t[m + 1]));
	if (!parse_uint(t[m + 2], 10, UINT32_MAX, &e->gid))
		return line_err(err, EINVAL, list, line, "%s " TOK_FMT ": bad gid '" TOK_FMT "'",
				k->word, TOK_ARG(t[1]), TOK_ARG(t[m + 2]));
	if (k->kind == MKINITRD_NOD) {
		if (!tok_eq(t[5], "c") && !tok_eq(t[5], "b"))
			return line_err(err, EINVAL, list, line,
					"nod " TOK_FMT ": bad device type '" TOK_FMT
					"' (expected c or b)",
					TOK_ARG(t[1]), TOK_ARG(t[5]));
		e->devtype = t[5].p[0];
		if (!parse_uint(t[6], 10, 0xfff, &e->major))
			return line_err(err, EINVAL, list, line,
					"nod " TOK_FMT ": bad major '" TOK_FMT "' (0 to 4095)",
					TOK_ARG(t[1]), TOK_ARG(t[6]));
		if (!parse_uint(t[7], 10, 0xfffff, &e->minor))
			return line_err(err, EINVAL, list, line,
					"nod " TOK_FMT ": bad minor '" TOK_FMT "' (0 to 1048575)",
					TOK_ARG(t[1]), TOK_ARG(t[7]));
	}
	e->name = strndup(t[1].p, t[1].n);
	if (k->has_source)
		e->source = strndup(t[2].p, t[2].n);
	if (!e->name || (k->has_source && !e->source))
		return husk_err_set(err, ENOMEM, "out of memory");
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct mkinitrd_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Binary search of the sorted entries for a name given by pointer and length. */
static const struct mkinitrd_entry *find(const struct mkinitrd_list *l, const char *name,
					 size_t len)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = l->entries[mid].name;
		int c = strncmp(s, name, len);
		if (c == 0 && s[len] != '\0')
			c = 1;
		if (c == 0)
			return &l->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* After sorting: no duplicates, and every parent other than "/" is a dir. */
static int check_tree(const struct mkinitrd_list *l, struct husk_err *err)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct mkinitrd_entry *e = &l->entries[i];
		if (i > 0 && strcmp(l->entries[i - 1].name, e->name) == 0)
			return line_err(err, EEXIST, l->listname, e->line,
					"%s %s: duplicate of line %u", kind_word(e->kind), e->name,
					l->entries[i - 1].line);
		size_t plen = (size_t)(strrchr(e->name, '/') - e->name);
		if (plen == 0)
			continue;
		const struct mkinitrd_entry *p = find(l, e->name, plen);
		if (!p)
			return line_err(err, ENOENT, l->listname, e->line,
					"%s %s: parent directory %.*s is not listed", kind_word(e->kind),
					e->name, (int)plen, e->name);
		if (p->kind != MKINITRD_DIR)
			return line_err(err, ENOTDIR, l->listname, e->line,
					"%s %s: parent %s (line %u) is not a dir", kind_word(e->kind),
					e->name, p->name, p->line);
	}
	return 0;
}

void mkinitrd_list_free(struct mkinitrd_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->entries[i].name);
		free(l->entries[i].source);
	}
	free(l->entries);
	free(l->listname);
	memset(l, 0, sizeof *l);
}

static int list_parse(const char *text, size_t len, struct mkinitrd_list *l, struct husk_err *err)
{
	size_t cap = 0;
	unsigned int line = 0;
	for (size_t pos = 0; pos < len;) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		line++;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
				return line_err(err, EINVAL, l->listname, line,
						"control character 0x%02x in the line", c);
		}
		struct tok t[MAX_FIELDS + 1];
		size_t nt = split(s, n, t, MAX_FIELDS + 1);
		if (nt == 0 || t[0].p[0] == '#')
			continue;
		if (l->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct mkinitrd_entry *ne = realloc(l->entries, ncap * sizeof *ne);
			if (!ne)
				return husk_err_set(err, ENOMEM, "out of memory");
			l->entries = ne;
			cap = ncap;
		}
		struct mkinitrd_entry *e = &l->entries[l->n++];
		memset(e, 0, sizeof *e);
		if (parse_line(t, nt, l->listname, line, e, err) < 0)
			return -1;
	}
	if (l->n > 1)
		qsort(l->entries, l->n, sizeof *l->entries, entry_cmp);
	return check_tree(l, err);
}

int mkinitrd_list_parse(const char *text, size_t len, const char *listname,
			struct mkinitrd_list *out, struct husk_err *err)
{
	memset(out, 0, sizeof *out);
	out->listname = strdup(listname ? listname : "<list>");
	if (!out->listname)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (list_parse(text, len, out, err) < 0) {
		mkinitrd_list_free(out);
		return -1;
	}
	return 0;
}

/* ---- writer ---- */

static void archive_write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static void archive_entry_freep(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

static int archive_err(struct archive *a, struct husk_err *err, const char *list,
		       const struct mkinitrd_entry *e)
{
	int code = archive_errno(a);
	const char *s = archive_error_string(a);
	char where[256] = "";
	if (e)
		snprintf(where, sizeof where, "%s:%u: %s %s: ", list, e->line, kind_word(e->kind),
			 e->name);
	if (code > 0)
		return husk_err_sys(err, code, "%scannot write the archive: %s", where,
				    s ? s : "error");
	return husk_err_set(err, EIO, "%scannot write the archive: %s", where, s ? s : "error");
}

/* Copies exactly size bytes of fd into the archive. */
static int copy_data(struct archive *a, int fd, int64_t size, const struct mkinitrd_list *l,
		     const struct mkinitrd_entry *e, struct husk_err *err)
{
	char buf[65536];
	int64_t done = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return line_err(err, errno, l->listname, e->line, "file %s: cannot read %s: %s",
					e->name, e->source, strerror(errno));
		if (n == 0)
			break;
		if (n > size - done)
			break;
		if (archive_write_data(a, buf, (size_t)n) != n)
			return archive_err(a, err, l->listname, e);
		done += n;
	}
	if (done != size)
		return line_err(err, EIO, l->listname, e->line, "file %s: %s changed while being read",
				e->name, e->source);
	return 0;
}

static int write_entry(struct archive *a, const struct mkinitrd_list *l,
		       const struct mkinitrd_entry *e, int64_t ino, struct husk_err *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st = { 0 };
	__attribute__((cleanup(archive_entry_freep))) struct archive_entry *ae = archive_entry_new();
	if (!ae)
		return husk_err_set(err, ENOMEM, "out of memory");

	archive_entry_set_pathname(ae, e->name + 1);
	archive_entry_set_ino64(ae, ino);
	archive_entry_set_devmajor(ae, 0);
	archive_entry_set_devminor(ae, 0);
	archive_entry_set_mtime(ae, 0, 0);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_perm(ae, e->mode);
	archive_entry_set_nlink(ae, e->kind == MKINITRD_DIR ? 2 : 1);
	archive_entry_set_size(ae, 0);
	switch (e->kind) {
	case MKINITRD_FILE:
		fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return line_err(err, errno, l->listname, e->line, "file %s: cannot open %s: %s",
					e->name, e->source, strerror(errno));
		if (fstat(fd, &st) < 0)
			return line_err(err, errno, l->listname, e->line, "file %s: cannot stat %s: %s",
					e->name, e->source, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return line_err(err, EINVAL, l->listname, e->line,
					"file %s: %s is not a regular file", e->name, e->source);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_size(ae, st.st_size);
		break;
	case MKINITRD_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		break;
	case MKINITRD_NOD:
		archive_entry_set_filetype(ae, e->devtype == 'b' ? AE_IFBLK : AE_IFCHR);
		archive_entry_set_rdevmajor(ae, e->major);
		archive_entry_set_rdevminor(ae, e->minor);
		break;
	case MKINITRD_SLINK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_symlink(ae, e->source);
		break;
	}
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		return archive_err(a, err, l->listname, e);
	if (e->kind == MKINITRD_FILE && copy_data(a, fd, st.st_size, l, e, err) < 0)
		return -1;
	if (archive_write_finish_entry(a) != ARCHIVE_OK)
		return archive_err(a, err, l->listname, e);
	return 0;
}

int mkinitrd_write(const struct mkinitrd_list *l, int out_fd, bool gzip, struct husk_err *err)
{
	__attribute__((cleanup(archive_write_freep))) struct archive *a = archive_write_new();
	if (!a)
		return husk_err_set(err, ENOMEM, "out of memory");
	/* Blocked writes, but no padding after the trailer. */
	if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
		return archive_err(a, err, l->listname, NULL);
	if (gzip && (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
		     archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK))
		return archive_err(a, err, l->listname, NULL);
	if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK)
		return archive_err(a, err, l->listname, NULL);
	/* On a failed entry, archive_write_free() still closes the archive
	 * (the caller discards the output): archive_write_fail() would make
	 * libarchive 3.6 leak its output buffer. */
	for (size_t i = 0; i < l->n; i++)
		if (write_entry(a, l, &l->entries[i], (int64_t)i + 1, err) < 0)
			return -1;
	if (archive_write_close(a) != ARCHIVE_OK)
		return archive_err(a, err, l->listname, NULL);
	return 0;
}
