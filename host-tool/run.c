/* husk run [--bundle DIR] ID: boot a VM, run the bundle's process in it,
 * relay its stdio and signals, exit with its status. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "husk-log.h"
#include "husk.h"
#include "session.h"

#define PROC_BASE 1 /* stream ids of the container's first process: 1, 2, 3 */

static const int forwarded[] = { SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2,
				 SIGTERM, SIGALRM, SIGCONT, SIGPWR };
#define NFORWARD (sizeof forwarded / sizeof forwarded[0])

struct run {
	uv_loop_t *loop;
	struct husk_session s;
	struct husk_relay relay;
	struct husk_config cfg;
	char *state_dir;
	char *rootfs;
	const char *id;
	uv_signal_t sigs[NFORWARD];
	uv_timer_t stop_timer;
	bool started, exited, stopping;
	int status;
	int pending_sig[8];
	int npending;
};

static struct run run;

static __attribute__((noreturn)) void finish(int code)
{
	husk_session_kill_vm(&run.s);
	if (run.state_dir)
		husk_state_remove(run.state_dir);
	exit(code);
}

static __attribute__((noreturn)) void fail(const struct husk_err *err, bool tail)
{
	char t[4096] = "";
	if (tail)
		husk_session_console_tail(&run.s, t, sizeof t);
	fprintf(stderr, "husk: %s\n", err->msg);
	if (t[0])
		fprintf(stderr, "husk: last console output:\n%s%s", t, t[strlen(t) - 1] == '\n' ? "" : "\n");
	finish(run.started ? HUSK_EXIT_LOST : HUSK_EXIT_RUNTIME);
}

static void send_signal(int sig)
{
	struct husk_request r = { .op = HUSK_OP_PROCESS_SIGNAL,
				  .u.signal = { .process = PROC_BASE, .signal = sig } };
	struct husk_err err;
	if (husk_session_request(&run.s, &r, NULL, NULL, &err) < 0)
		log_warn("cannot forward signal %d: %s", sig, err.msg);
}

static void on_signal(uv_signal_t *h, int sig)
{
	(void)h;
	if (run.exited)
		return;
	if (!run.started) {
		if (run.npending < (int)(sizeof run.pending_sig / sizeof run.pending_sig[0]))
			run.pending_sig[run.npending++] = sig;
		return;
	}
	send_signal(sig);
}

static void stopped(struct husk_session *s, const struct husk_reply *r, void *data)
{
	(void)s;
	(void)r;
	(void)data;
	finish(run.status);
}

static void stop_timeout(uv_timer_t *t)
{
	(void)t;
	log_warn("the agent did not answer shutdown; stopping the VM");
	finish(run.status);
}

/* All output written: ask the agent to flush and power off. */
static void drained(struct husk_relay *r)
{
	struct husk_request req = { .op = HUSK_OP_SHUTDOWN };
	struct husk_err err;
	(void)r;
	if (!run.exited || run.stopping)
		return;
	run.stopping = true;
	if (husk_session_request(&run.s, &req, stopped, NULL, &err) < 0)
		finish(run.status);
	uv_timer_start(&run.stop_timer, stop_timeout, 10000, 0);
}

static void on_exit_event(struct husk_session *s, const struct husk_exit_event *e)
{
	(void)s;
	if (e->process != PROC_BASE)
		return;
	run.exited = true;
	run.status = e->status;
	log_debug("process exited with status %d", e->status);
	if (husk_relay_idle(&run.relay))
		drained(&run.relay);
}

static void on_lost(struct husk_session *s, const struct husk_err *err)
{
	(void)s;
	if (run.stopping || (run.exited && s->vm_exited))
		finish(run.status);
	fail(err, true);
}

static void started(struct husk_session *s, const struct husk_reply *r, void *data)
{
	(void)s;
	(void)data;
	if (r->err_code) {
		const char *arg0 = run.cfg.process.args[0];
		if (r->status) {
			fprintf(stderr, "husk: exec \"%s\": %s\n", arg0, r->message);
			finish(r->status);
		}
		struct husk_err err;
		husk_err_set(&err, r->err_code, "cannot start \"%s\": %s", arg0, r->message);
		fail(&err, false);
	}
	run.started = true;
	log_debug("process started as guest pid %lld", (long long)r->pid);
	husk_relay_start_stdin(&run.relay);
	for (int i = 0; i < run.npending; i++)
		send_signal(run.pending_sig[i]);
}

static void created(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct husk_err err;
	(void)data;
	if (r->err_code) {
		husk_err_set(&err, r->err_code, "cannot create the container in the VM: %s", r->message);
		fail(&err, false);
	}
	struct husk_request req = { .op = HUSK_OP_PROCESS_START };
	req.u.start.container = (char *)run.id;
	req.u.start.process = run.cfg.process;
	req.u.start.streams = (struct husk_streams){ PROC_BASE, PROC_BASE + 1, PROC_BASE + 2 };
	husk_relay_init(&run.relay, s, PROC_BASE, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
	run.relay.drained = drained;
	if (husk_session_request(s, &req, started, NULL, &err) < 0)
		fail(&err, false);
}

static void on_hello(struct husk_session *s)
{
	struct husk_err err;
	struct husk_request req = { .op = HUSK_OP_CONTAINER_CREATE };
	req.u.create.id = (char *)run.id;
	req.u.create.rootfs = (struct husk_rootfs){ .tag = HUSK_SHARE_TAG, .fstype = "9p",
						    .path = "", .readonly = run.cfg.root_readonly };
	req.u.create.hostname = run.cfg.hostname;
	if (husk_session_request(s, &req, created, NULL, &err) < 0)
		fail(&err, false);
}

static const struct husk_session_ops ops = {
	.hello = on_hello,
	.exit = on_exit_event,
	.lost = on_lost,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: husk run [options] ID\n"
		   "Run the bundle's process in a new VM and wait for it.\n\n"
		   "  -b, --bundle DIR     bundle with config.json and the rootfs (default: .)\n"
		   "      --kernel FILE    guest kernel (env HUSK_KERNEL)\n"
		   "      --initrd FILE    initrd with husk-agent (env HUSK_INITRD)\n"
		   "      --qemu FILE      QEMU binary (env HUSK_QEMU)\n"
		   "      --machine TYPE   microvm, q35 or pc (env HUSK_MACHINE; default microvm)\n"
		   "      --accel A        kvm, tcg or auto (env HUSK_ACCEL; default auto)\n"
		   "      --kvm, --tcg     force an accelerator\n"
		   "      --memory MIB     guest memory (default 256)\n"
		   "      --cpus N         guest vCPUs (default 1)\n"
		   "      --boot-timeout S seconds to wait for the agent (env HUSK_BOOT_TIMEOUT; 30)\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, const char *what, unsigned *out,
		      struct husk_err *err)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi)
		return husk_err_set(err, EINVAL, "%s must be a number from %u to %u, not \"%s\"", what,
				    lo, hi, s);
	*out = (unsigned)v;
	return 0;
}

int husk_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'I' },
		{ "qemu", required_argument, NULL, 'Q' },
		{ "machine", required_argument, NULL, 'M' },
		{ "accel", required_argument, NULL, 'A' },
		{ "kvm", no_argument, NULL, 'k' },
		{ "tcg", no_argument, NULL, 't' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "boot-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct husk_vm_opts vo = { .debug = husk_global.debug };
	struct husk_err err = { 0 };
	const char *bundle = ".";
	unsigned timeout_s = 30;
	int c;

	if (getenv("HUSK_BOOT_TIMEOUT") &&
	    parse_uint(getenv("HUSK_BOOT_TIMEOUT"), 1, 3600, "HUSK_BOOT_TIMEOUT", &timeout_s, &err) < 0)
		goto bad;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': bundle = optarg; break;
		case 'K': vo.kernel = optarg; break;
		case 'I': vo.initrd = optarg; break;
		case 'Q': vo.qemu = optarg; break;
		case 'M': vo.machine = optarg; break;
		case 'A':
			if (husk_accel_parse(optarg, &vo.accel, &err) < 0)
				goto bad;
			break;
		case 'k': vo.accel = HUSK_ACCEL_KVM; break;
		case 't': vo.accel = HUSK_ACCEL_TCG; break;
		case 'm':
			if (parse_uint(optarg, 32, 1 << 20, "--memory", &vo.mem_mib, &err) < 0)
				goto bad;
			break;
		case 'c':
			if (parse_uint(optarg, 1, 64, "--cpus", &vo.cpus, &err) < 0)
				goto bad;
			break;
		case 'T':
			if (parse_uint(optarg, 1, 3600, "--boot-timeout", &timeout_s, &err) < 0)
				goto bad;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return HUSK_EXIT_RUNTIME;
		}
	}
	if (optind != argc - 1) {
		husk_err_set(&err, EINVAL, "run needs exactly one container ID (see husk run --help)");
		goto bad;
	}
	run.id = argv[optind];
	if (husk_id_valid(run.id, &err) < 0)
		goto bad;

	char abs_bundle[PATH_MAX];
	if (!realpath(bundle, abs_bundle)) {
		husk_err_sys(&err, errno, "bundle %s", bundle);
		goto bad;
	}
	if (husk_config_load(abs_bundle, &run.cfg, &err) < 0)
		goto bad;
	if (run.cfg.process.terminal)
		log_warn("process.terminal is not supported by husk run yet; using pipes");
	if (run.cfg.root_path[0] == '/')
		run.rootfs = realpath(run.cfg.root_path, NULL);
	else {
		char *p;
		if (asprintf(&p, "%s/%s", abs_bundle, run.cfg.root_path) < 0)
			goto bad;
		run.rootfs = realpath(p, NULL);
		free(p);
	}
	struct stat st;
	if (!run.rootfs || stat(run.rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
		husk_err_set(&err, ENOENT, "rootfs %s (root.path in %s/config.json) is not a directory",
			     run.cfg.root_path, abs_bundle);
		goto bad;
	}
	vo.share_path = run.rootfs;
	if (husk_vm_resolve(&vo, &err) < 0)
		goto bad;
	if (husk_state_create(run.id, &run.state_dir, &err) < 0)
		goto bad;

	_cleanup_free_ char *console = NULL, *qlog = NULL;
	if (asprintf(&console, "%s/console.log", run.state_dir) < 0 ||
	    asprintf(&qlog, "%s/qemu.log", run.state_dir) < 0)
		goto bad;
	vo.qemu_log = qlog;

	signal(SIGPIPE, SIG_IGN);
	run.loop = uv_default_loop();
	for (size_t i = 0; i < NFORWARD; i++) {
		uv_signal_init(run.loop, &run.sigs[i]);
		uv_signal_start(&run.sigs[i], on_signal, forwarded[i]);
	}
	uv_timer_init(run.loop, &run.stop_timer);
	if (husk_session_start(&run.s, run.loop, &vo, console, timeout_s * 1000, &ops, &err) < 0)
		goto bad;
	uv_run(run.loop, UV_RUN_DEFAULT);
	husk_err_set(&err, EIO, "internal error: event loop ended");
bad:
	if (!err.msg[0])
		husk_err_set(&err, ENOMEM, "out of memory");
	fprintf(stderr, "husk: %s\n", err.msg);
	finish(HUSK_EXIT_RUNTIME);
}
