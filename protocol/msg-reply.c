/* Agent -> host messages: HELLO, replies, the exit event, ERROR frames
 * (docs/protocol.md). */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-json.h"
#include "husk-proto.h"

/* ---- hello ---- */

struct json_object *husk_hello_encode(const struct husk_hello *h)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "agent_version", json_object_new_string(h->agent_version));
	json_object_object_add(o, "protocol", json_object_new_int(h->protocol));
	json_object_object_add(o, "kernel", json_object_new_string(h->kernel_release));
	return o;
}

void husk_hello_free(struct husk_hello *h)
{
	free(h->agent_version);
	free(h->kernel_release);
	memset(h, 0, sizeof *h);
}

int husk_hello_decode(const char *buf, size_t len, struct husk_hello *h, struct husk_err *err)
{
	memset(h, 0, sizeof *h);
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "HELLO", EBADMSG, err);
	if (!o)
		return -1;
	if (husk_json_str(o, NULL, "agent_version", HUSK_JSON_REQUIRED, &h->agent_version, err) <
		0 ||
	    husk_json_int(o, NULL, "protocol", HUSK_JSON_REQUIRED, 1, INT_MAX, &h->protocol, err) <
		0 ||
	    husk_json_str(o, NULL, "kernel", HUSK_JSON_REQUIRED, &h->kernel_release, err) < 0) {
		husk_hello_free(h);
		return husk_err_prefix(err, "HELLO");
	}
	return 0;
}

/* ---- replies ---- */

static struct json_object *error_obj(int code, const char *message, int status)
{
	struct json_object *e = json_object_new_object();
	if (!e)
		return NULL;
	json_object_object_add(e, "errno", json_object_new_int(code));
	json_object_object_add(e, "code", json_object_new_string(husk_errno_name(code)));
	json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
	if (status)
		json_object_object_add(e, "status", json_object_new_int(status));
	return e;
}

static struct json_object *proc_obj(const struct husk_ps_proc *p)
{
	struct json_object *e = json_object_new_object();
	if (!e)
		return NULL;
	json_object_object_add(e, "pid", json_object_new_int(p->pid));
	json_object_object_add(e, "ppid", json_object_new_int(p->ppid));
	json_object_object_add(e, "uid", json_object_new_int64(p->uid));
	json_object_object_add(e, "start", json_object_new_int64(p->start));
	json_object_object_add(e, "cpu_ns", json_object_new_int64(p->cpu_ns));
	json_object_object_add(e, "tty", json_object_new_string(p->tty ? p->tty : "?"));
	json_object_object_add(e, "cmd", json_object_new_string(p->cmd ? p->cmd : ""));
	return e;
}

struct json_object *husk_reply_encode(const struct husk_reply *r)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	if (r->err_code)
		json_object_object_add(o, "error", error_obj(r->err_code, r->message, r->status));
	else if (r->pid > 0)
		json_object_object_add(o, "pid", json_object_new_int64(r->pid));
	if (!r->err_code && r->has_pids) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; a && i < r->npids; i++)
			json_object_array_add(a, json_object_new_int(r->pids[i]));
		json_object_object_add(o, "pids", a);
	}
	if (!r->err_code && r->has_procs) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; a && i < r->nprocs; i++)
			json_object_array_add(a, proc_obj(&r->procs[i]));
		json_object_object_add(o, "procs", a);
		json_object_object_add(o, "uptime", json_object_new_int64(r->uptime));
		if (r->boot_time > 0)
			json_object_object_add(o, "boot_time", json_object_new_int64(r->boot_time));
	}
	return o;
}

void husk_reply_free(struct husk_reply *r)
{
	free(r->pids);
	for (size_t i = 0; i < r->nprocs; i++) {
		free(r->procs[i].tty);
		free(r->procs[i].cmd);
	}
	free(r->procs);
	free(r->err_name);
	free(r->message);
	memset(r, 0, sizeof *r);
	r->pid = -1;
}

static int reply_error_from_json(struct json_object *o, struct husk_reply *r, struct husk_err *err)
{
	struct json_object *e;
	int found = husk_json_obj(o, NULL, "error", HUSK_JSON_OPTIONAL, &e, err);
	if (found <= 0)
		return found;
	if (husk_json_int(e, NULL, "errno", HUSK_JSON_REQUIRED, 1, 4095, &r->err_code, err) < 0 ||
	    husk_json_str(e, NULL, "code", HUSK_JSON_OPTIONAL, &r->err_name, err) < 0 ||
	    husk_json_str(e, NULL, "message", HUSK_JSON_REQUIRED, &r->message, err) < 0 ||
	    husk_json_int(e, NULL, "status", HUSK_JSON_OPTIONAL, 1, 255, &r->status, err) < 0)
		return husk_err_prefix(err, "\"error\"");
	return 0;
}

static int reply_pids_from_json(struct json_object *o, struct husk_reply *r, struct husk_err *err)
{
	struct json_object *pids;
	if (!json_object_object_get_ex(o, "pids", &pids) ||
	    json_object_is_type(pids, json_type_null))
		return 0;
	size_t n = json_object_is_type(pids, json_type_array) ? json_object_array_length(pids) : 0;
	if (!json_object_is_type(pids, json_type_array) || n > HUSK_MAX_PIDS)
		return husk_err_set(err, EINVAL, "\"pids\" must be an array of pids");
	r->pids = calloc(n + 1, sizeof *r->pids);
	if (!r->pids)
		return husk_err_set(err, ENOMEM, "out of memory");
	r->has_pids = true;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(pids, i);
		int64_t x = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || x < 1 || x > INT32_MAX)
			return husk_err_set(err, EINVAL, "\"pids\"[%zu] is not a valid pid", i);
		r->pids[r->npids++] = (int32_t)x;
	}
	return 0;
}

/* One entry of "procs"; the guest is not trusted: every field is checked. */
static int reply_proc_from_json(struct json_object *e, struct husk_ps_proc *p, struct husk_err *err)
{
	int64_t pid, ppid;
	if (husk_json_i64(e, NULL, "pid", HUSK_JSON_REQUIRED, 1, INT32_MAX, &pid, err) < 0 ||
	    husk_json_i64(e, NULL, "ppid", HUSK_JSON_REQUIRED, 0, INT32_MAX, &ppid, err) < 0 ||
	    husk_json_u32(e, NULL, "uid", HUSK_JSON_REQUIRED, &p->uid, err) < 0 ||
	    husk_json_i64(e, NULL, "start", HUSK_JSON_REQUIRED, 0, HUSK_PS_SECS_MAX, &p->start,
			  err) < 0 ||
	    husk_json_i64(e, NULL, "cpu_ns", HUSK_JSON_REQUIRED, 0, INT64_MAX, &p->cpu_ns, err) <
		0 ||
	    husk_json_str(e, NULL, "tty", HUSK_JSON_REQUIRED, &p->tty, err) < 0 ||
	    husk_json_str(e, NULL, "cmd", HUSK_JSON_REQUIRED, &p->cmd, err) < 0)
		return -1;
	p->pid = (int32_t)pid;
	p->ppid = (int32_t)ppid;
	if (!p->tty[0] || strlen(p->tty) > HUSK_PS_TTY_MAX)
		return husk_err_set(err, EINVAL, "\"tty\" must be 1 to %d bytes", HUSK_PS_TTY_MAX);
	if (strlen(p->cmd) > HUSK_PS_CMD_MAX)
		return husk_err_set(err, EINVAL, "\"cmd\" is longer than %d bytes",
				    HUSK_PS_CMD_MAX);
	return 0;
}

static int reply_procs_from_json(struct json_object *o, struct husk_reply *r, struct husk_err *err)
{
	struct json_object *a;
	int found = husk_json_array(o, NULL, "procs", HUSK_JSON_OPTIONAL, HUSK_MAX_PIDS, &a, err);
	if (found <= 0)
		return found;
	size_t n = json_object_array_length(a);
	r->procs = calloc(n + 1, sizeof *r->procs);
	if (!r->procs)
		return husk_err_set(err, ENOMEM, "out of memory");
	r->has_procs = true;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		char where[32];
		snprintf(where, sizeof where, "\"procs\"[%zu]", i);
		if (!json_object_is_type(e, json_type_object))
			return husk_err_set(err, EINVAL, "%s must be an object", where);
		r->nprocs = i + 1; /* so a failure frees what this one got */
		if (reply_proc_from_json(e, &r->procs[i], err) < 0)
			return husk_err_prefix(err, where);
	}
	if (husk_json_i64(o, NULL, "uptime", HUSK_JSON_REQUIRED, 0, HUSK_PS_SECS_MAX, &r->uptime,
			  err) < 0 ||
	    husk_json_i64(o, NULL, "boot_time", HUSK_JSON_OPTIONAL, 0, HUSK_PS_SECS_MAX,
			  &r->boot_time, err) < 0)
		return -1;
	return 0;
}

int husk_reply_decode(const char *buf, size_t len, struct husk_reply *r, struct husk_err *err)
{
	struct json_object *pid;
	memset(r, 0, sizeof *r);
	r->pid = -1;
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "REPLY", EBADMSG, err);
	if (!o)
		return -1;
	if (husk_json_u32(o, NULL, "id", HUSK_JSON_REQUIRED, &r->id, err) < 0 ||
	    reply_error_from_json(o, r, err) < 0)
		goto fail;
	if (json_object_object_get_ex(o, "pid", &pid) &&
	    !json_object_is_type(pid, json_type_null)) {
		if (!json_object_is_type(pid, json_type_int) || json_object_get_int64(pid) < 1 ||
		    json_object_get_int64(pid) > INT_MAX) {
			husk_err_set(err, EINVAL, "\"pid\" is not a valid pid");
			goto fail;
		}
		r->pid = json_object_get_int64(pid);
	}
	if (reply_pids_from_json(o, r, err) < 0 || reply_procs_from_json(o, r, err) < 0)
		goto fail;
	return 0;
fail:
	husk_reply_free(r);
	return husk_err_prefix(err, "REPLY");
}

/* ---- the exit event ---- */

struct json_object *husk_exit_encode(const struct husk_exit_event *e)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "event", json_object_new_string("process.exit"));
	json_object_object_add(o, "process", json_object_new_int64(e->process));
	json_object_object_add(o, "status", json_object_new_int(e->status));
	json_object_object_add(o, "signal", json_object_new_int(e->signal));
	if (e->runtime_ns > 0)
		json_object_object_add(o, "runtime_ns", json_object_new_int64(e->runtime_ns));
	if (e->output_open)
		json_object_object_add(o, "output_open", json_object_new_boolean(true));
	return o;
}

int husk_exit_decode(const char *buf, size_t len, struct husk_exit_event *e, struct husk_err *err)
{
	_cleanup_free_ char *name = NULL;
	memset(e, 0, sizeof *e);
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "EVENT", EBADMSG, err);
	if (!o)
		return -1;
	if (husk_json_str(o, NULL, "event", HUSK_JSON_REQUIRED, &name, err) < 0)
		return husk_err_prefix(err, "EVENT");
	if (strcmp(name, "process.exit") != 0)
		return husk_err_set(err, EOPNOTSUPP, "EVENT: unknown event \"%s\"", name);
	if (husk_json_u32(o, NULL, "process", HUSK_JSON_REQUIRED, &e->process, err) < 0 ||
	    husk_json_int(o, NULL, "status", HUSK_JSON_REQUIRED, 0, 255, &e->status, err) < 0 ||
	    husk_json_int(o, NULL, "signal", HUSK_JSON_REQUIRED, 0, 64, &e->signal, err) < 0 ||
	    husk_json_bool(o, NULL, "output_open", 0, &e->output_open, err) < 0)
		return husk_err_prefix(err, "EVENT");
	struct json_object *ns;
	if (json_object_object_get_ex(o, "runtime_ns", &ns) &&
	    !json_object_is_type(ns, json_type_null)) {
		/* json-c saturates at INT64_MAX: read the unsigned value to see past it */
		if (!json_object_is_type(ns, json_type_int) || json_object_get_int64(ns) < 0 ||
		    json_object_get_uint64(ns) > INT64_MAX)
			return husk_err_set(err, EINVAL,
					    "EVENT: \"runtime_ns\" must be a non-negative integer");
		e->runtime_ns = json_object_get_int64(ns);
	}
	return 0;
}

/* ---- ERROR frames ---- */

struct json_object *husk_error_frame_encode(int code, const char *message)
{
	struct json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "error", error_obj(code, message, 0));
	return o;
}
