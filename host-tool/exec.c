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
#include "ctl.h"
#include "husk-log.h"
#include "husk.h"
#include "state.h"

struct exec_args {
	const char *process_file, *pid_file, *console_socket, *cwd, *user;
	char *env[256];
	int nenv;
	bool tty, detach;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: husk exec [options] ID [ARGS...]\n"
		"  -p, --process FILE      the process as OCI process JSON\n"
		"  -t, --tty               give the process a terminal\n"
		"  -d, --detach            return once it runs; --pid-file gets its proxy's PID\n"
		"      --pid-file FILE     write the PID of the process's proxy\n"
		"      --console-socket S  send the pty master there\n"
		"      --cwd DIR           working directory\n"
		"  -e, --env K=V           add an environment variable (repeatable)\n"
		"  -u, --user UID[:GID]    user to run as\n");
}

static int build_process(const struct husk_state *st, const struct exec_args *a, char **args,
			 int nargs, struct json_object **out, struct husk_err *err)
{
	struct husk_process p;
	if (a->process_file) {
		_cleanup_json_ struct json_object *o = json_object_from_file(a->process_file);
		if (!o)
			return husk_err_set(err, EINVAL, "cannot read process file %s",
					    a->process_file);
		if (husk_process_from_json(o, &p, err) < 0)
			return -1;
	} else {
		struct husk_config cfg;
		if (nargs == 0)
			return husk_err_set(err, EINVAL, "exec needs a command (or --process)");
		if (husk_config_load(st->bundle, &cfg, err) < 0)
			return -1;
		p = cfg.process;
		memset(&cfg.process, 0, sizeof cfg.process);
		husk_config_free(&cfg);
		for (char **x = p.args; x && *x; x++)
			free(*x);
		free(p.args);
		p.args = calloc(nargs + 1, sizeof *p.args);
		for (int i = 0; i < nargs; i++)
			p.args[i] = strdup(args[i]);
		p.nargs = nargs;
	}
	if (a->cwd) {
		free(p.cwd);
		p.cwd = strdup(a->cwd);
	}
	if (a->nenv) {
		p.env = realloc(p.env, (p.nenv + a->nenv + 1) * sizeof *p.env);
		for (int i = 0; i < a->nenv; i++)
			p.env[p.nenv++] = strdup(a->env[i]);
		p.env[p.nenv] = NULL;
	}
	if (a->user) {
		char *end;
		unsigned long uid = strtoul(a->user, &end, 10), gid = 0;
		if (end == a->user || (*end && *end != ':'))
			goto bad_user;
		if (*end == ':') {
			const char *g = end + 1;
			gid = strtoul(g, &end, 10);
			if (end == g || *end)
				goto bad_user;
		}
		p.user.uid = (uint32_t)uid;
		p.user.gid = (uint32_t)gid;
	}
	p.terminal = a->tty;
	*out = husk_process_to_json(&p);
	husk_process_free(&p);
	return 0;
bad_user:
	husk_process_free(&p);
	return husk_err_set(err, EINVAL, "--user must be UID[:GID] in numbers, not \"%s\"",
			    a->user);
}

/* Wait for the exit message, forwarding signals and window sizes. */
static __attribute__((noreturn)) void exec_wait(int conn, int tty_fd, const sigset_t *mask)
{
	struct husk_err err;
	int sfd = signalfd(-1, mask, SFD_CLOEXEC);
	for (;;) {
		struct pollfd pf[2] = {{conn, POLLIN, 0}, {sfd, POLLIN, 0}};
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				struct json_object *m = json_object_new_object();
				if (si.ssi_signo == SIGWINCH) {
					unsigned short rows, cols;
					if (tty_fd < 0 || husk_tty_size(tty_fd, &rows, &cols) < 0) {
						json_object_put(m);
						continue;
					}
					json_object_object_add(m, "op",
							       json_object_new_string("resize"));
					json_object_object_add(m, "rows",
							       json_object_new_int(rows));
					json_object_object_add(m, "cols",
							       json_object_new_int(cols));
				} else {
					json_object_object_add(m, "op",
							       json_object_new_string("kill"));
					json_object_object_add(
					    m, "signal", json_object_new_int((int)si.ssi_signo));
				}
				husk_ctl_send(conn, m, NULL, 0, &err);
				json_object_put(m);
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			struct json_object *m, *v;
			if (husk_ctl_recv(conn, &m, NULL, NULL, &err) < 0 || !m)
				break;
			if (json_object_object_get_ex(m, "exit", &v)) {
				struct json_object *ns;
				if (json_object_object_get_ex(m, "runtime_ns", &ns))
					log_debug("the process ran %lld us in the guest",
						  (long long)(json_object_get_int64(ns) / 1000));
				husk_tty_restore();
				exit(json_object_get_int(v));
			}
			json_object_put(m); /* a reply to a forwarded signal */
		}
	}
	husk_tty_restore();
	fprintf(stderr, "husk: lost the container's proxy\n");
	exit(HUSK_EXIT_LOST);
}

int husk_cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"process", required_argument, NULL, 'p'},
	    {"tty", no_argument, NULL, 't'},
	    {"detach", no_argument, NULL, 'd'},
	    {"pid-file", required_argument, NULL, 'P'},
	    {"console-socket", required_argument, NULL, 'C'},
	    {"cwd", required_argument, NULL, 'w'},
	    {"env", required_argument, NULL, 'e'},
	    {"user", required_argument, NULL, 'u'},
	    {"additional-gids", required_argument, NULL, 'g'},
	    {"no-new-privs", no_argument, NULL, 'n'},
	    {"cap", required_argument, NULL, 'c'},
	    {"preserve-fds", required_argument, NULL, 'f'},
	    {"process-label", required_argument, NULL, 'l'},
	    {"apparmor", required_argument, NULL, 'a'},
	    {"ignore-paused", no_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct exec_args a = {0};
	struct husk_err err = {0};
	struct husk_state st;
	int c, notify[2] = {-1, -1};
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:tdP:e:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': a.process_file = optarg; break;
		case 't': a.tty = true; break;
		case 'd': a.detach = true; break;
		case 'P': a.pid_file = optarg; break;
		case 'C': a.console_socket = optarg; break;
		case 'w': a.cwd = optarg; break;
		case 'e':
			if (a.nenv < 256)
				a.env[a.nenv++] = optarg;
			break;
		case 'u': a.user = optarg; break;
		case 'g':
		case 'n':
		case 'c':
		case 'f':
		case 'l':
		case 'a':
		case 'i': break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HUSK_EXIT_RUNTIME;
		}
	}
	if (optind >= argc) {
		husk_err_set(&err, EINVAL, "exec needs a container ID");
		return husk_fail(&err);
	}
	if (husk_state_read(argv[optind], &st, &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	if (strcmp(husk_state_status(&st), "running") != 0) {
		husk_err_set(&err, EINVAL, "cannot exec in a container that is %s",
			     husk_state_status(&st));
		husk_state_free(&st);
		return husk_fail(&err);
	}
	_cleanup_json_ struct json_object *proc = NULL;
	int built = build_process(&st, &a, argv + optind + 1, argc - optind - 1, &proc, &err);
	husk_state_free(&st);
	if (built < 0)
		return husk_fail(&err);
	struct json_object *tv;
	if (json_object_object_get_ex(proc, "terminal", &tv) && json_object_get_boolean(tv))
		a.tty = true;

	int fds[3] = {0, 1, 2}, tty_fd = -1;
	if (a.tty) {
		if (a.console_socket) {
			int master, slave;
			if (husk_pty_open(&master, &slave, &err) < 0 ||
			    husk_console_send(a.console_socket, master, &err) < 0)
				return husk_fail(&err);
			close(master);
			fds[0] = fds[1] = fds[2] = tty_fd = slave;
		} else if (!a.detach && isatty(STDIN_FILENO)) {
			if (husk_tty_raw(STDIN_FILENO, &err) < 0)
				return husk_fail(&err);
			atexit(husk_tty_restore);
			fds[2] = 1;
			tty_fd = STDIN_FILENO;
		} else {
			husk_err_set(&err, EINVAL,
				     "--tty needs --console-socket or a terminal on stdin");
			return husk_fail(&err);
		}
	}
	/* Signals wait in a signalfd from here on; none is lost before the loop. */
	sigset_t mask;
	sigemptyset(&mask);
	for (int s = 1; s < 32; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD && s != SIGPIPE && s != SIGSEGV &&
		    s != SIGBUS && s != SIGFPE && s != SIGILL && s != SIGTRAP && s != SIGSYS &&
		    s != SIGABRT && s != SIGTTIN && s != SIGTTOU && s != SIGTSTP)
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

	int conn = husk_ctl_connect(dir, &err);
	struct json_object *req = json_object_new_object(), *reply = NULL, *v;
	json_object_object_add(req, "op", json_object_new_string("exec"));
	json_object_object_add(req, "process", json_object_get(proc));
	json_object_object_add(req, "tty", json_object_new_boolean(a.tty));
	int r = conn < 0 ? -1 : husk_ctl_send(conn, req, fds, 3, &err);
	json_object_put(req);
	if (r == 0 && husk_ctl_recv(conn, &reply, NULL, NULL, &err) == 0 && !reply)
		husk_err_set(&err, ECONNRESET, "the container's proxy went away");
	int status = HUSK_EXIT_RUNTIME;
	if (reply && json_object_object_get_ex(reply, "error", &v)) {
		husk_err_set(&err, EINVAL, "%s", json_object_get_string(v));
		if (json_object_object_get_ex(reply, "status", &v))
			status = json_object_get_int(v);
		json_object_put(reply);
		reply = NULL;
	}
	if (!reply) {
		husk_tty_restore();
		if (notify[1] >= 0) {
			dprintf(notify[1], "E%03d%s", status, err.msg);
			_exit(status);
		}
		husk_fail(&err);
		return status;
	}
	json_object_put(reply);
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
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int i = 0; i < 3 && null >= 0; i++)
			dup2(null, i);
		if (null > 2)
			close(null);
	}
	exec_wait(conn, tty_fd, &mask);
}
