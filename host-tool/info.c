/* husk list, ps, spec, features: read-only verbs and what runc prints. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cgroup.h"
#include "ctl.h"
#include "husk.h"
#include "opts.h"
#include "state.h"
#include "verbs.h"

struct format {
	const char *format;
	bool quiet;
};

static const struct husk_opt format_opts[] = {
    {"format", required_argument, 'f', "FMT", "table or json"},
    HUSK_OPT_END,
};

static int format_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	struct format *f = data;
	if (key == 'q') {
		f->quiet = true;
		return 0;
	}
	if (strcmp(arg, "table") && strcmp(arg, "json"))
		return husk_err_set(err, EINVAL, "invalid format \"%s\" (table or json)", arg);
	f->format = arg;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int husk_cmd_list(int argc, char **argv)
{
	static const struct husk_opt opts[] = {
	    {"format", required_argument, 'f', "FMT", "table or json"},
	    {"quiet", no_argument, 'q', NULL, "print only the IDs"},
	    HUSK_OPT_END,
	};
	static const struct husk_verb_desc d = {
	    .usage = "list [--format table|json] [-q]", .about = "List containers.", .opts = opts};
	struct format f = {"table", false};
	struct husk_err err;
	struct dirent **names;
	int r = husk_opts_parse(argc, argv, &d, format_opt, &f, &err);
	if (r == HUSK_OPTS_HELP)
		return 0;
	if (r >= 0 && r != argc)
		r = husk_err_set(&err, EINVAL, "list takes no arguments");
	/* a root others may write to is refused, not listed */
	if (r < 0 || husk_state_root_check(&err) < 0)
		return husk_fail(&err);
	const char *format = f.format;
	bool quiet = f.quiet;
	int n = scandir(husk_global.root, &names, NULL, by_name);
	if (n < 0)
		n = 0; /* no root yet: no containers */
	struct json_object *arr = json_object_new_array();
	if (!quiet && !strcmp(format, "table"))
		printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "RUNTIME");
	for (int i = 0; i < n; i++) {
		struct husk_state st;
		if (names[i]->d_name[0] != '.' &&
		    husk_state_read(names[i]->d_name, &st, &err) == 0) {
			const char *status = husk_state_status(&st);
			int pid = strcmp(status, "stopped") ? st.pid : 0;
			if (quiet)
				printf("%s\n", st.id);
			else if (!strcmp(format, "table"))
				printf("%-20s %-8d %-10s %-40s %-30s %s\n", st.id, pid, status,
				       st.bundle, st.created, "husk");
			else {
				struct json_object *o = husk_state_to_oci(&st);
				json_object_object_add(o, "runtime",
						       json_object_new_string("husk"));
				json_object_array_add(arr, o);
			}
			husk_state_free(&st);
		}
		free(names[i]);
	}
	if (n > 0)
		free(names);
	if (!quiet && !strcmp(format, "json"))
		printf("%s\n", json_object_to_json_string_ext(
				   arr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

/* The VM's host processes: its cgroup's, or without one the sentinel. */
static int host_pids(const struct husk_state *st, struct husk_err *err)
{
	pid_t pids[256];
	size_t n = 0;
	struct husk_cgroup cg;
	if (st->cgroup) {
		if (husk_cgroup_load(&cg, NULL, st->cgroup, err) < 0)
			return -1;
		int r = husk_cgroup_pids(&cg, pids, 256, &n, err);
		husk_cgroup_free(&cg);
		if (r < 0)
			return -1;
	} else if (st->pid > 0) {
		pids[n++] = st->pid;
	}
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)pids[i]);
	printf("]\n");
	return 0;
}

/* ---- husk ps: the guest's processes as `ps -ef` shows them (runc ps) ---- */

#define PS_HEADER "UID        PID  PPID  C STIME TTY          TIME CMD\n"

/* One process of the guest; a pid the agent told nothing more of has
 * known false and prints "?" in every other column. */
struct ps_row {
	int64_t pid, ppid, uid, start, cpu_ns;
	const char *tty, *cmd;
	bool known;
};

static int by_pid(const void *a, const void *b)
{
	const struct ps_row *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Bytes of the UTF-8 character at p that is safe on a terminal, or 0 for a
 * control character, a C1 control or a byte that starts no valid sequence. */
static size_t safe_char(const unsigned char *p)
{
	uint32_t cp;
	size_t n;
	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* the NUL at the end included */
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A copy of what the guest sent, with '?' for what could drive the
 * terminal (the guest is not trusted), as ps shows such bytes. */
static char *ps_safe(const char *s)
{
	char *out = strdup(s ? s : "?");
	for (unsigned char *p = (unsigned char *)out; out && *p;) {
		size_t n = safe_char(p);
		if (!n)
			*p++ = '?';
		p += n;
	}
	return out;
}

static void ps_print(const struct ps_row *r, int64_t uptime, int64_t boot_time)
{
	char uid[24] = "?", ppid[24] = "?", c[8] = "?", stime[24] = "?", cpu[40] = "?";
	_cleanup_free_ char *tty = NULL, *cmd = NULL;
	if (r->known) {
		int64_t secs = r->cpu_ns / 1000000000, elapsed = uptime - r->start;
		/* C: percent of the time since it started spent on a CPU */
		int64_t pcpu = elapsed > 0 ? r->cpu_ns / 10000000 / elapsed : 0;
		struct tm then, now;
		time_t t = (time_t)(boot_time + r->start), n = (time_t)(boot_time + uptime);
		if (r->uid == 0)
			snprintf(uid, sizeof uid, "root");
		else
			snprintf(uid, sizeof uid, "%lld", (long long)r->uid);
		snprintf(ppid, sizeof ppid, "%lld", (long long)r->ppid);
		snprintf(c, sizeof c, "%d", (int)(pcpu > 99 ? 99 : pcpu));
		/* STIME by the guest's clock: today HH:MM, this year MonDD, else
		 * the year */
		if (boot_time > 0 && localtime_r(&n, &now) && localtime_r(&t, &then))
			strftime(stime, sizeof stime,
				 then.tm_year != now.tm_year   ? "%Y"
				 : then.tm_yday != now.tm_yday ? "%b%d"
							       : "%H:%M",
				 &then);
		if (secs >= 86400)
			snprintf(cpu, sizeof cpu, "%lld-", (long long)(secs / 86400));
		else
			cpu[0] = '\0';
		snprintf(cpu + strlen(cpu), sizeof cpu - strlen(cpu), "%02d:%02d:%02d",
			 (int)(secs / 3600 % 24), (int)(secs / 60 % 60), (int)(secs % 60));
	}
	tty = ps_safe(r->known ? r->tty : "?");
	cmd = ps_safe(r->known ? r->cmd : "?");
	printf("%-8s %5lld %5s %2s %5s %-8s %8s %s\n", uid, (long long)r->pid, ppid, c, stime,
	       tty ? tty : "?", cpu, cmd ? cmd : "?");
}

/* The table of the ctl ps reply: "procs" (the agent's details) for those it
 * has, "pids" for the rest, in pid order as ps prints them. */
static int ps_table(struct json_object *reply, struct husk_err *err)
{
	struct json_object *pids, *procs, *v;
	int64_t uptime = 0, boot_time = 0;
	if (!json_object_object_get_ex(reply, "pids", &pids) ||
	    !json_object_is_type(pids, json_type_array))
		pids = NULL;
	if (!json_object_object_get_ex(reply, "procs", &procs) ||
	    !json_object_is_type(procs, json_type_array))
		procs = NULL;
	if (json_object_object_get_ex(reply, "uptime", &v))
		uptime = json_object_get_int64(v);
	if (json_object_object_get_ex(reply, "boot_time", &v))
		boot_time = json_object_get_int64(v);
	size_t np = procs ? json_object_array_length(procs) : 0,
	       npids = pids ? json_object_array_length(pids) : 0, n = 0;
	_cleanup_free_ struct ps_row *rows = calloc(np + npids + 1, sizeof *rows);
	if (!rows)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < np; i++) {
		struct json_object *e = json_object_array_get_idx(procs, i);
		struct ps_row *r = &rows[n++];
		r->known = true;
		if (json_object_object_get_ex(e, "pid", &v))
			r->pid = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "ppid", &v))
			r->ppid = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "uid", &v))
			r->uid = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "start", &v))
			r->start = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "cpu_ns", &v))
			r->cpu_ns = json_object_get_int64(v);
		if (json_object_object_get_ex(e, "tty", &v))
			r->tty = json_object_get_string(v);
		if (json_object_object_get_ex(e, "cmd", &v))
			r->cmd = json_object_get_string(v);
	}
	qsort(rows, n, sizeof *rows, by_pid);
	size_t known = n;
	for (size_t i = 0; i < npids; i++) {
		struct ps_row key = {.pid =
					 json_object_get_int64(json_object_array_get_idx(pids, i))};
		if (!bsearch(&key, rows, known, sizeof *rows, by_pid))
			rows[n++] = key;
	}
	qsort(rows, n, sizeof *rows, by_pid);
	printf(PS_HEADER);
	for (size_t i = 0; i < n; i++)
		ps_print(&rows[i], uptime, boot_time);
	return 0;
}

int husk_cmd_ps(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "ps [--format table|json] ID",
	    .about = "List a container's processes: the guest's (table), or the host PIDs that "
		     "run its VM, as runc lists its cgroup (json).",
	    .opts = format_opts};
	struct format f = {"table", false};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply;
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, format_opt, &f, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	const char *format = f.format;
	if (husk_state_read(id, &st, &err) < 0)
		return husk_fail(&err);
	const char *status = husk_state_status(&st);
	bool running =
	    !strcmp(status, "running") || !strcmp(status, "created") || !strcmp(status, "paused");
	if (!strcmp(format, "json")) {
		/* docker top and containerd map these onto host processes
		 * (ps -ef): they are the host's, the VM's cgroup's, as runc's
		 * are its container's cgroup's (docs/decisions.md) */
		r = running ? host_pids(&st, &err) : (printf("[]\n"), 0);
		husk_state_free(&st);
		return r < 0 ? husk_fail(&err) : 0;
	}
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	husk_state_free(&st);
	if (!running) {
		/* a stopped container has no processes */
		printf(PS_HEADER);
		return 0;
	}
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("ps"));
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	r = ps_table(reply, &err);
	json_object_put(reply);
	return r < 0 ? husk_fail(&err) : 0;
}

static const char default_spec[] =
    "{\n"
    "\t\"ociVersion\": \"1.0.2\",\n"
    "\t\"process\": {\n"
    "\t\t\"terminal\": true,\n"
    "\t\t\"user\": {\"uid\": 0, \"gid\": 0},\n"
    "\t\t\"args\": [\"sh\"],\n"
    "\t\t\"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
    "\"TERM=xterm\"],\n"
    "\t\t\"cwd\": \"/\",\n"
    "\t\t\"capabilities\": {\n"
    "\t\t\t\"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "\t\t\t\"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "\t\t\t\"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "\t\t\t\"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
    "\t\t},\n"
    "\t\t\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
    "\t\t\"noNewPrivileges\": true\n"
    "\t},\n"
    "\t\"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "\t\"hostname\": \"husk\",\n"
    "\t\"mounts\": [\n"
    "\t\t{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
    "\t\t{\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": "
    "[\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
    "\t\t{\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", "
    "\"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\", "
    "\"gid=5\"]},\n"
    "\t\t{\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", \"options\": "
    "[\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
    "\t\t{\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\", "
    "\"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
    "\t\t{\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", \"options\": "
    "[\"nosuid\", \"noexec\", \"nodev\", \"ro\"]}\n"
    "\t],\n"
    "\t\"linux\": {\n"
    "\t\t\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
    "{\"type\": \"uts\"}, {\"type\": \"mount\"}],\n"
    "\t\t\"maskedPaths\": [\"/proc/kcore\", \"/proc/keys\", \"/proc/timer_list\", "
    "\"/sys/firmware\"],\n"
    "\t\t\"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
    "\"/proc/sysrq-trigger\"]\n"
    "\t}\n"
    "}\n";

static int spec_opt(int key, const char *arg, void *data, struct husk_err *err)
{
	if (key == 'b')
		*(const char **)data = arg;
	return 0;
}

int husk_cmd_spec(int argc, char **argv)
{
	static const struct husk_opt opts[] = {
	    {"bundle", required_argument, 'b', "DIR", "where to write config.json (default: .)"},
	    {"rootless", no_argument, 'r', NULL, NULL},
	    HUSK_OPT_END,
	};
	static const struct husk_verb_desc d = {.usage = "spec [--bundle DIR]",
						.about = "Write a default config.json.",
						.opts = opts,
						.accepted =
						    "--rootless: accepted; the spec is the same"};
	const char *bundle = ".";
	struct husk_err err = {0};
	int i = husk_opts_parse(argc, argv, &d, spec_opt, &bundle, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc)
		i = husk_err_set(&err, EINVAL, "spec takes no arguments");
	if (i < 0)
		return husk_fail(&err);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/config.json", bundle) < 0)
		return HUSK_EXIT_RUNTIME;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		husk_err_sys(
		    &err, errno,
		    errno == EEXIST ? "File %s exists. Remove it first" : "cannot create %s", path);
		return husk_fail(&err);
	}
	if (write(fd, default_spec, sizeof default_spec - 1) != (ssize_t)sizeof default_spec - 1) {
		husk_err_sys(&err, errno, "cannot write %s", path);
		return husk_fail(&err);
	}
	return 0;
}

int husk_cmd_features(int argc, char **argv)
{
	printf("{\n"
	       "  \"ociVersionMin\": \"1.0.0\",\n"
	       "  \"ociVersionMax\": \"1.0.2\",\n"
	       "  \"hooks\": [],\n"
	       "  \"mountOptions\": [],\n"
	       "  \"linux\": {\n"
	       "    \"namespaces\": [\"mount\"],\n"
	       "    \"capabilities\": [],\n"
	       "    \"cgroup\": {\"v1\": false, \"v2\": false, \"systemd\": false, "
	       "\"systemdUser\": false},\n"
	       "    \"seccomp\": {\"enabled\": false},\n"
	       "    \"apparmor\": {\"enabled\": false},\n"
	       "    \"selinux\": {\"enabled\": false}\n"
	       "  },\n"
	       "  \"annotations\": {\n"
	       "    \"io.github.husk.isolation\": \"vm\"\n"
	       "  }\n"
	       "}\n");
	return 0;
}

/* husk ping ID: one request/reply round trip between the proxy and the
 * agent, in microseconds; the floor the exec benchmark compares against. */
int husk_cmd_ping(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "ping ID",
	    .about = "Time one round trip to a container's agent (microseconds)."};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply, *v;
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, NULL, NULL, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	if (husk_state_read(id, &st, &err) < 0)
		return husk_fail(&err);
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	husk_state_free(&st);
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("ping"));
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	long long ns =
	    json_object_object_get_ex(reply, "rtt_ns", &v) ? json_object_get_int64(v) : -1;
	printf("%lld\n", ns / 1000);
	json_object_put(reply);
	return 0;
}
