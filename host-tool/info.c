/* husk list, ps, spec, features: read-only verbs and what runc prints. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

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
	if (r < 0)
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

int husk_cmd_ps(int argc, char **argv)
{
	static const struct husk_verb_desc d = {.usage = "ps [--format table|json] ID",
						.about =
						    "List a container's processes (guest PIDs).",
						.opts = format_opts};
	struct format f = {"table", false};
	struct husk_err err = {0};
	struct husk_state st;
	struct json_object *reply, *pids;
	const char *id;
	int r = husk_opts_parse_id(argc, argv, &d, format_opt, &f, &id, &err);
	if (r < 0)
		return r == HUSK_OPTS_HELP ? 0 : husk_fail(&err);
	const char *format = f.format;
	if (husk_state_read(id, &st, &err) < 0)
		return husk_fail(&err);
	bool running = !strcmp(husk_state_status(&st), "running") ||
		       !strcmp(husk_state_status(&st), "created");
	_cleanup_free_ char *dir = husk_state_dir(st.id);
	husk_state_free(&st);
	if (!running) {
		/* a stopped container has no processes */
		printf(!strcmp(format, "json") ? "[]\n" : "PID\n");
		return 0;
	}
	_cleanup_json_ struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("ps"));
	if (husk_ctl_call(dir, req, &reply, &err) < 0)
		return husk_fail(&err);
	if (!json_object_object_get_ex(reply, "pids", &pids))
		pids = NULL;
	if (!strcmp(format, "json")) {
		printf("%s\n",
		       pids ? json_object_to_json_string_ext(pids, JSON_C_TO_STRING_PLAIN) : "[]");
	} else {
		printf("PID\n");
		for (size_t i = 0; pids && i < json_object_array_length(pids); i++)
			printf("%d\n", json_object_get_int(json_object_array_get_idx(pids, i)));
	}
	json_object_put(reply);
	return 0;
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
