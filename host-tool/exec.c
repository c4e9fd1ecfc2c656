/* husk exec [options] ID [ARGS...]: run another process in a running
 * container. This process (or, with --detach, a child of it whose PID goes
 * in --pid-file) is the exec'd process's proxy: it hands its stdio to the
 * container's proxy, forwards the signals it gets and exits with the
 * process's status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "execclient.h"
#include "husk-facts.h"
#include "husk-log.h"
#include "husk-priv.h"
#include "husk.h"
#include "opts.h"
#include "state.h"
#include "tty.h"
#include "util.h"
#include "verbs.h"

#define MAX_ENV 256

struct exec_args {
	const char *process_file, *pid_file, *console_socket, *cwd, *user;
	const char *env[MAX_ENV];
	int nenv;
	bool tty, detach, ignore_paused;
};

enum { OPT_PID_FILE = 1000, OPT_CONSOLE_SOCKET, OPT_CWD, OPT_IGNORE_PAUSED, OPT_IGNORED };

static const struct husk_opt exec_opts[] = {
    {"process", required_argument, 'p', "FILE", "the process as OCI process JSON"},
    {"tty", no_argument, 't', NULL, "give the process a terminal"},
    {"detach", no_argument, 'd', NULL, "return once it runs; --pid-file gets its proxy's PID"},
    {"pid-file", required_argument, OPT_PID_FILE, "FILE", "write the PID of the process's proxy"},
    {"console-socket", required_argument, OPT_CONSOLE_SOCKET, "S", "send the pty master there"},
    {"cwd", required_argument, OPT_CWD, "DIR", "working directory"},
    {"env", required_argument, 'e', "K=V", "add an environment variable (repeatable)"},
    {"user", required_argument, 'u', "UID[:GID]", "user to run as"},
    {"additional-gids", required_argument, OPT_IGNORED, "G", NULL},
    {"no-new-privs", no_argument, OPT_IGNORED, NULL, NULL},
    {"cap", required_argument, OPT_IGNORED, "C", NULL},
    {"preserve-fds", required_argument, OPT_IGNORED, "N", NULL},
    {"process-label", required_argument, OPT_IGNORED, "L", NULL},
    {"apparmor", required_argument, OPT_IGNORED, "P", NULL},
    {"ignore-paused", no_argument, OPT_IGNORE_PAUSED, NULL,
     "exec into a paused container: the process starts when it resumes"},
    HUSK_OPT_END,
};

static int exec_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct exec_args *a = data;
	switch (key) {
	case 'p': a->process_file = arg; break;
	case 't': a->tty = true; break;
	case 'd': a->detach = true; break;
	case OPT_PID_FILE: a->pid_file = arg; break;
	case OPT_CONSOLE_SOCKET: a->console_socket = arg; break;
	case OPT_CWD: a->cwd = arg; break;
	case OPT_IGNORE_PAUSED: a->ignore_paused = true; break;
	case 'e':
		if (a->nenv == MAX_ENV)
			return husk_err_set(err, E2BIG, "more than %d --env options", MAX_ENV);
		a->env[a->nenv++] = arg;
		break;
	case 'u': a->user = arg; break;
	default: break; /* accepted for runc callers */
	}
	return 0;
}

/* Append copies of add[0..nadd) to *v, a NULL-terminated vector of *n
 * strings; it stays NULL-terminated whatever happens. */
static int strv_extend(char ***v, size_t *n, const char *const *add, size_t nadd,
		       struct husk_err *err)
{
	char **nv = realloc(*v, (*n + nadd + 1) * sizeof **v);
	if (!nv)
		return husk_err_set(err, ENOMEM, "out of memory");
	*v = nv;
	for (size_t i = 0; i < nadd; i++) {
		if (!(nv[*n] = strdup(add[i]))) {
			nv[*n] = NULL;
			return husk_err_set(err, ENOMEM, "out of memory");
		}
		nv[++*n] = NULL;
	}
	nv[*n] = NULL;
	return 0;
}

static int parse_user(const char *s, struct husk_user *u, struct husk_err *err)
{
	char *end;
	unsigned long uid = strtoul(s, &end, 10), gid = 0;
	if (end == s || (*end && *end != ':'))
		goto bad;
	if (*end == ':') {
		const char *g = end + 1;
		gid = strtoul(g, &end, 10);
		if (end == g || *end)
			goto bad;
	}
	u->uid = (uint32_t)uid;
	u->gid = (uint32_t)gid;
	return 0;
bad:
	return husk_err_set(err, EINVAL, "--user must be UID[:GID] in numbers, not \"%s\"", s);
}

/* The process: --process's file, or the container's config's (the copy
 * create kept in its state directory dir, never the bundle's) with these
 * args; then the flags. */
static int build_process(const char *dir, const struct exec_args *a, char **args, int nargs,
			 struct json_object **out, struct husk_err *err)
{
	struct husk_process p = {0};
	if (a->process_file) {
		_cleanup_json_ struct json_object *o = json_object_from_file(a->process_file);
		if (!o)
			return husk_err_set(err, EINVAL, "cannot read process file %s",
					    a->process_file);
		if (husk_process_from_json(o, &p, err) < 0)
			return -1;
		/* what narrows privilege is refused here if it cannot be read,
		 * as config.json's is at create */
		if (husk_priv_process_check(o, "--process: ", err) < 0) {
			husk_process_free(&p);
			return -1;
		}
	} else {
		struct husk_config cfg;
		if (nargs == 0)
			return husk_err_set(err, EINVAL, "exec needs a command (or --process)");
		if (husk_config_load_saved(dir, &cfg, err) < 0)
			return -1;
		p = cfg.process;
		memset(&cfg.process, 0, sizeof cfg.process);
		husk_config_free(&cfg);
		for (char **x = p.args; x && *x; x++)
			free(*x);
		free(p.args);
		p.args = NULL;
		p.nargs = 0;
	}
	int r = 0;
	if (!a->process_file)
		r = strv_extend(&p.args, &p.nargs, (const char *const *)args, (size_t)nargs, err);
	if (r == 0 && a->cwd) {
		free(p.cwd);
		if (!(p.cwd = strdup(a->cwd)))
			r = husk_err_set(err, ENOMEM, "out of memory");
	}
	if (r == 0 && a->nenv)
		r = strv_extend(&p.env, &p.nenv, a->env, (size_t)a->nenv, err);
	if (r == 0 && a->user)
		r = parse_user(a->user, &p.user, err);
	if (r == 0) {
		/* --process is the whole truth; a flag overrides only what it
		 * names (runc's rule): -t asks for a terminal, its absence does
		 * not take the file's away */
		if (!a->process_file || a->tty)
			p.terminal = a->tty;
		if (!(*out = husk_process_to_json(&p)))
			r = husk_err_set(err, ENOMEM, "out of memory");
	}
	husk_process_free(&p);
	return r;
}

int husk_cmd_exec(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "exec [options] ID [ARGS...]",
	    .about = "Run another process in a running container.",
	    .opts = exec_opts,
	    .accepted = "--additional-gids, --no-new-privs, --cap, --preserve-fds, "
			"--process-label, --apparmor, --ignore-paused: accepted for runc callers"};
	struct exec_args a = {0};
	struct husk_err err = {0};
	struct husk_state st;
	int notify[2] = {-1, -1};
	int i = husk_opts_parse(argc, argv, &d, exec_opt, &a, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i >= argc)
		i = husk_err_set(&err, EINVAL, "exec needs a container ID");
	if (i < 0)
		return husk_fail(&err);
	if (husk_id_check(argv[i], &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(argv[i]);
	if (!dir) {
		husk_err_set(&err, ENOMEM, "out of memory");
		return husk_fail(&err);
	}
	/* the state and the kept config, read under the container's lock (not
	 * held while the proxy runs the process) */
	int lock = husk_state_lock(dir, &err);
	if (lock < 0 || husk_state_read(argv[i], &st, &err) < 0) {
		if (lock >= 0)
			close(lock);
		return husk_fail(&err);
	}
	const char *cur = husk_state_status(&st);
	if (!strcmp(cur, "paused") && !a.ignore_paused) {
		husk_err_set(&err, EINVAL,
			     "cannot exec in a paused container (use --ignore-paused to override)");
		husk_state_free(&st);
		close(lock);
		return husk_fail(&err);
	}
	if (strcmp(cur, "running") != 0 && strcmp(cur, "paused") != 0) {
		husk_err_set(&err, EINVAL, "cannot exec in a %s container", cur);
		husk_state_free(&st);
		close(lock);
		return husk_fail(&err);
	}
	_cleanup_json_ struct json_object *proc = NULL;
	int built = build_process(dir, &a, argv + i + 1, argc - i - 1, &proc, &err);
	husk_state_free(&st);
	close(lock);
	if (built < 0)
		return husk_fail(&err);
	struct json_object *tv;
	if (json_object_object_get_ex(proc, "terminal", &tv) && json_object_get_boolean(tv))
		a.tty = true;

	struct husk_tty_stdio t = {.fds = {0, 1, 2}, .tty_fd = -1};
	if (a.tty) {
		if (husk_tty_stdio(a.console_socket, !a.detach, 0, 0, "--tty", &t, &err) < 0)
			return husk_fail(&err);
		if (t.raw)
			atexit(husk_tty_restore);
	}
	int *fds = t.fds, tty_fd = t.tty_fd;
	/* Signals wait in a signalfd from here on; none is lost before the loop. */
	sigset_t mask;
	sigemptyset(&mask);
	for (int s = 1; s < 32; s++)
		if (husk_signal_forwarded(s) || s == SIGWINCH)
			sigaddset(&mask, s);
	signal(SIGPIPE, SIG_IGN);

	if (a.detach) {
		if (pipe2(notify, O_CLOEXEC) < 0) {
			husk_err_sys(&err, errno, "pipe");
			return husk_fail(&err);
		}
		pid_t pid = fork();
		if (pid < 0) {
			husk_err_sys(&err, errno, "fork");
			return husk_fail(&err);
		}
		if (pid > 0) {
			char msg[1024];
			close(notify[1]);
			ssize_t n = read(notify[0], msg, sizeof msg - 1);
			msg[n > 0 ? n : 0] = '\0';
			if (strncmp(msg, "ok", 2) != 0) {
				fprintf(stderr, "husk: %s\n",
					n > 0 ? msg + 4 : "the exec proxy died");
				husk_err_set(&err, EIO, "%s",
					     n > 0 ? msg + 4 : "the exec proxy died");
				log_error("%s", err.msg);
				return n > 4 ? atoi(msg + 1) : HUSK_EXIT_RUNTIME;
			}
			if (a.pid_file && husk_write_pid_file(a.pid_file, pid, &err) < 0) {
				kill(pid, SIGKILL);
				return husk_fail(&err);
			}
			return 0;
		}
		close(notify[0]);
		setsid();
		if (tty_fd >= 0)
			ioctl(tty_fd, TIOCSCTTY, 0); /* hear SIGWINCH from the caller */
	}
	sigprocmask(SIG_BLOCK, &mask, NULL);

	int status = HUSK_EXIT_RUNTIME;
	int conn = husk_exec_submit(dir, proc, a.tty, a.ignore_paused, fds, &status, &err);
	if (conn < 0) {
		husk_tty_restore();
		if (notify[1] >= 0) {
			dprintf(notify[1], "E%03d%s", status, err.msg);
			_exit(status);
		}
		husk_fail(&err);
		return status;
	}
	if (notify[1] >= 0) {
		if (write(notify[1], "ok", 2) < 0)
			log_debug("notify: %s", strerror(errno));
		close(notify[1]);
	} else if (a.pid_file && husk_write_pid_file(a.pid_file, getpid(), &err) < 0) {
		log_warn("%s", err.msg);
	}
	if (a.detach) {
		/* The container's proxy has its own copies of the stdio; callers
		 * wait for EOF on the pipes they gave us. */
		if (husk_stdio_to_null() < 0)
			log_warn("cannot redirect stdio to /dev/null: %s", strerror(errno));
	}
	husk_exec_wait(conn, tty_fd, &mask);
}
