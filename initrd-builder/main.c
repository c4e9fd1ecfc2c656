/* husk-mkinitrd: pack a declarative list into a reproducible newc cpio
 * archive (gzip-compressed with -z). See cpio.h for the list syntax. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "cpio.h"

#define LIST_MAX_BYTES (1u << 20)

static void usage(void)
{
	printf("Usage: husk-mkinitrd [-z] -o OUT LISTFILE\n"
		   "Pack the entries of LISTFILE into a newc cpio archive, reproducibly.\n"
		   "\n"
		   "  -o, --output OUT  write the archive to OUT (atomically, via OUT.tmp)\n"
		   "  -z, --gzip        gzip-compress the archive\n"
		   "  -h, --help        show this help\n"
		   "  -V, --version     show the version\n"
		   "\n"
		   "LISTFILE lines (source paths are relative to the current directory):\n"
		   "  file <name> <source-path> <mode> <uid> <gid>\n"
		   "  dir <name> <mode> <uid> <gid>\n"
		   "  nod <name> <mode> <uid> <gid> <c|b> <major> <minor>\n"
		   "  slink <name> <target> <mode> <uid> <gid>\n");
}

static int read_list(const char *path, char **out, size_t *len, struct husk_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return husk_err_sys(err, errno, "cannot open %s", path);
	_cleanup_free_ char *buf = malloc(LIST_MAX_BYTES + 1);
	if (!buf)
		return husk_err_set(err, ENOMEM, "out of memory");
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, LIST_MAX_BYTES + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return husk_err_sys(err, errno, "cannot read %s", path);
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > LIST_MAX_BYTES)
			return husk_err_set(err, EFBIG, "%s is larger than %u bytes", path,
					    LIST_MAX_BYTES);
	}
	*out = husk_steal(buf);
	*len = n;
	return 0;
}

static int write_out(const struct mkinitrd_list *l, const char *out, const char *tmp, bool gzip,
		     struct husk_err *err)
{
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return husk_err_sys(err, errno, "cannot create %s", tmp);
	if (mkinitrd_write(l, fd, gzip, err) < 0)
		return -1;
	if (fsync(fd) < 0)
		return husk_err_sys(err, errno, "cannot write %s", tmp);
	if (close(husk_steal_fd(fd)) < 0)
		return husk_err_sys(err, errno, "cannot write %s", tmp);
	if (rename(tmp, out) < 0)
		return husk_err_sys(err, errno, "cannot rename %s to %s", tmp, out);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	bool gzip = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:zhV", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'z':
			gzip = true;
			break;
		case 'h':
			usage();
			return 0;
		case 'V':
			printf("husk-mkinitrd %s\n", HUSK_VERSION);
			return 0;
		case ':':
			fprintf(stderr, "husk-mkinitrd: %s needs an argument (see --help)\n",
				argv[optind - 1]);
			return 1;
		default:
			if (optopt)
				fprintf(stderr, "husk-mkinitrd: unknown option '-%c' (see --help)\n",
					optopt);
			else
				fprintf(stderr, "husk-mkinitrd: unknown option '%s' (see --help)\n",
					argv[optind - 1]);
			return 1;
		}
	}
	if (!out || optind != argc - 1) {
		fprintf(stderr, "husk-mkinitrd: %s (see --help)\n",
			!out ? "missing -o OUT" : "expected exactly one LISTFILE");
		return 1;
	}
	const char *listfile = argv[optind];

	struct husk_err err = { 0 };
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct mkinitrd_list list;
	if (read_list(listfile, &text, &len, &err) < 0 ||
	    mkinitrd_list_parse(text, len, listfile, &list, &err) < 0) {
		fprintf(stderr, "husk-mkinitrd: %s\n", err.msg);
		return 1;
	}

	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", out) < 0) {
		mkinitrd_list_free(&list);
		fprintf(stderr, "husk-mkinitrd: out of memory\n");
		return 1;
	}
	int r = write_out(&list, out, tmp, gzip, &err);
	mkinitrd_list_free(&list);
	if (r < 0) {
		unlink(tmp);
		fprintf(stderr, "husk-mkinitrd: %s\n", err.msg);
		return 1;
	}
	return 0;
}
