/* Requests, host -> agent: JSON encode/decode (docs/protocol.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-facts.h"
#include "husk-json.h"
#include "husk-proto.h"

static const struct {
	enum husk_op op;
	const char *name;
} op_names[] = {
    {HUSK_OP_PING, "ping"},
    {HUSK_OP_CONTAINER_CREATE, "container.create"},
    {HUSK_OP_PROCESS_START, "process.start"},
    {HUSK_OP_PROCESS_SIGNAL, "process.signal"},
    {HUSK_OP_SHUTDOWN, "shutdown"},
    {HUSK_OP_PROCESS_RESIZE, "process.resize"},
    {HUSK_OP_CONTAINER_PS, "container.ps"},
    {HUSK_OP_NETWORK_CONFIGURE, "network.configure"},
    {HUSK_OP_CONTAINER_UPDATE, "container.update"},
    {HUSK_OP_CONTAINER_DELETE, "container.delete"},
    {HUSK_OP_VM_RESTORE, "vm.restore"},
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int entropy_from_json(struct json_object *o, struct husk_request *r, struct husk_err *err)
{
	_cleanup_free_ char *hex = NULL;
	if (husk_json_str(o, NULL, "entropy", HUSK_JSON_REQUIRED, &hex, err) < 0)
		return -1;
	size_t n = strlen(hex);
	if (n % 2 || n / 2 < HUSK_RESTORE_ENTROPY_MIN || n / 2 > HUSK_RESTORE_ENTROPY_MAX)
		return husk_err_set(err, EINVAL,
				    "\"entropy\" must be %d to %d bytes in lower-case hex",
				    HUSK_RESTORE_ENTROPY_MIN, HUSK_RESTORE_ENTROPY_MAX);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return husk_err_set(err, EINVAL, "\"entropy\" is not lower-case hex");
		r->u.restore.entropy[i] = (uint8_t)(hi << 4 | lo);
	}
	r->u.restore.nentropy = n / 2;
	return 0;
}

const char *husk_op_name(enum husk_op op)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return NULL;
}

static enum husk_op op_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(op_names[i].name, name) == 0)
			return op_names[i].op;
	return HUSK_OP_UNKNOWN;
}

static int streams_from_json(struct json_object *o, struct husk_streams *s, struct husk_err *err)
{
	struct json_object *st;
	if (husk_json_obj(o, NULL, "streams", HUSK_JSON_REQUIRED, &st, err) < 0)
		return -1;
	if (husk_json_u32(st, NULL, "stdin", HUSK_JSON_REQUIRED, &s->in, err) < 0 ||
	    husk_json_u32(st, NULL, "stdout", HUSK_JSON_REQUIRED, &s->out, err) < 0 ||
	    husk_json_u32(st, NULL, "stderr", HUSK_JSON_REQUIRED, &s->err, err) < 0)
		return husk_err_prefix(err, "\"streams\"");
	if (!s->in || !s->out || !s->err || s->in == s->out || s->in == s->err || s->out == s->err)
		return husk_err_set(err, EINVAL, "\"streams\" must be three distinct non-zero ids");
	return 0;
}

static int rootfs_from_json(struct json_object *o, struct husk_rootfs *r, struct husk_err *err)
{
	struct json_object *ro;
	if (husk_json_obj(o, NULL, "rootfs", HUSK_JSON_REQUIRED, &ro, err) < 0)
		return -1;
	if (husk_json_str(ro, NULL, "tag", HUSK_JSON_REQUIRED, &r->tag, err) < 0 ||
	    husk_json_str(ro, NULL, "fstype", HUSK_JSON_REQUIRED, &r->fstype, err) < 0 ||
	    husk_json_str(ro, NULL, "path", HUSK_JSON_OPTIONAL, &r->path, err) < 0 ||
	    husk_json_bool(ro, NULL, "readonly", HUSK_JSON_OPTIONAL, &r->readonly, err) < 0)
		return husk_err_prefix(err, "\"rootfs\"");
	if (strcmp(r->fstype, "9p") != 0 && strcmp(r->fstype, "virtiofs") != 0)
		return husk_err_set(err, EINVAL, "\"rootfs\": fstype \"%s\" is not 9p or virtiofs",
				    r->fstype);
	if (!r->tag[0] || strlen(r->tag) > 31)
		return husk_err_set(err, EINVAL, "\"rootfs\": tag must be 1 to 31 characters");
	if (r->path && husk_share_path_check(r->path, "\"rootfs\": path", err) < 0)
		return -1;
	return 0;
}

void husk_request_free(struct husk_request *r)
{
	free(r->op_name);
	switch (r->op) {
	case HUSK_OP_CONTAINER_CREATE:
		free(r->u.create.id);
		free(r->u.create.rootfs.tag);
		free(r->u.create.rootfs.fstype);
		free(r->u.create.rootfs.path);
		free(r->u.create.hostname);
		free(r->u.create.sandbox);
		if (r->u.create.spec)
			json_object_put(r->u.create.spec);
		break;
	case HUSK_OP_PROCESS_START:
		free(r->u.start.container);
		husk_process_free(&r->u.start.process);
		break;
	case HUSK_OP_CONTAINER_PS:
	case HUSK_OP_CONTAINER_DELETE: free(r->u.ps.container); break;
	case HUSK_OP_NETWORK_CONFIGURE:
		if (r->u.net.network)
			json_object_put(r->u.net.network);
		break;
	case HUSK_OP_CONTAINER_UPDATE:
		free(r->u.update.container);
		if (r->u.update.resources)
			json_object_put(r->u.update.resources);
		break;
	default: break;
	}
	memset(r, 0, sizeof *r);
}

uint32_t husk_request_peek_id(const char *buf, size_t len)
{
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "request", EBADMSG, NULL);
	uint32_t id = 0;
	husk_json_u32(o, NULL, "id", HUSK_JSON_REQUIRED, &id, NULL);
	return id;
}

/* The fields of each op; r->op is set. */
static int request_fields(struct json_object *o, struct husk_request *r, struct husk_err *err)
{
	struct json_object *proc;
	int rows = 0, cols = 0;
	switch (r->op) {
	case HUSK_OP_UNKNOWN:
		return husk_err_set(err, EOPNOTSUPP, "unknown request op \"%s\"", r->op_name);
	case HUSK_OP_PING:
	case HUSK_OP_SHUTDOWN: return 0;
	case HUSK_OP_CONTAINER_CREATE:
		if (husk_json_str(o, NULL, "container", HUSK_JSON_REQUIRED, &r->u.create.id, err) <
			0 ||
		    rootfs_from_json(o, &r->u.create.rootfs, err) < 0 ||
		    husk_json_str(o, NULL, "hostname", HUSK_JSON_OPTIONAL, &r->u.create.hostname,
				  err) < 0 ||
		    husk_json_obj(o, NULL, "spec", HUSK_JSON_OPTIONAL, &r->u.create.spec, err) <
			0 ||
		    husk_json_str(o, NULL, "sandbox", HUSK_JSON_OPTIONAL, &r->u.create.sandbox,
				  err) < 0)
			return -1;
		if (r->u.create.spec)
			json_object_get(r->u.create.spec);
		return 0;
	case HUSK_OP_NETWORK_CONFIGURE:
		if (husk_json_obj(o, NULL, "network", HUSK_JSON_REQUIRED, &r->u.net.network, err) <
		    0)
			return -1;
		json_object_get(r->u.net.network);
		return 0;
	case HUSK_OP_PROCESS_START:
		if (husk_json_str(o, NULL, "container", HUSK_JSON_REQUIRED, &r->u.start.container,
				  err) < 0 ||
		    streams_from_json(o, &r->u.start.streams, err) < 0 ||
		    husk_json_obj(o, NULL, "process", HUSK_JSON_REQUIRED, &proc, err) < 0)
			return -1;
		if (husk_process_from_json(proc, &r->u.start.process, err) < 0)
			return husk_err_prefix(err, "\"process\"");
		return 0;
	case HUSK_OP_PROCESS_SIGNAL:
		if (husk_json_u32(o, NULL, "process", HUSK_JSON_REQUIRED, &r->u.signal.process,
				  err) < 0 ||
		    husk_json_int(o, NULL, "signal", HUSK_JSON_REQUIRED, 1, 64, &r->u.signal.signal,
				  err) < 0 ||
		    husk_json_bool(o, NULL, "all", HUSK_JSON_OPTIONAL, &r->u.signal.all, err) < 0)
			return -1;
		return 0;
	case HUSK_OP_PROCESS_RESIZE:
		if (husk_json_u32(o, NULL, "process", HUSK_JSON_REQUIRED, &r->u.resize.process,
				  err) < 0 ||
		    husk_json_int(o, NULL, "rows", HUSK_JSON_REQUIRED, 0, 65535, &rows, err) < 0 ||
		    husk_json_int(o, NULL, "cols", HUSK_JSON_REQUIRED, 0, 65535, &cols, err) < 0)
			return -1;
		r->u.resize.rows = (uint16_t)rows;
		r->u.resize.cols = (uint16_t)cols;
		return 0;
	case HUSK_OP_CONTAINER_PS:
	case HUSK_OP_CONTAINER_DELETE:
		return husk_json_str(o, NULL, "container", HUSK_JSON_REQUIRED, &r->u.ps.container,
				     err) < 0
			   ? -1
			   : 0;
	case HUSK_OP_VM_RESTORE:
		if (entropy_from_json(o, r, err) < 0 ||
		    husk_json_i64(o, NULL, "time_ns", HUSK_JSON_REQUIRED, 0, INT64_MAX,
				  &r->u.restore.time_ns, err) < 0)
			return -1;
		return 0;
	case HUSK_OP_CONTAINER_UPDATE:
		if (husk_json_str(o, NULL, "container", HUSK_JSON_REQUIRED, &r->u.update.container,
				  err) < 0 ||
		    husk_json_obj(o, NULL, "resources", HUSK_JSON_REQUIRED, &r->u.update.resources,
				  err) < 0)
			return -1;
		json_object_get(r->u.update.resources);
		return 0;
	}
	return 0;
}

int husk_request_decode(const char *buf, size_t len, struct husk_request *r, struct husk_err *err)
{
	memset(r, 0, sizeof *r);
	_cleanup_json_ struct json_object *o =
	    husk_json_parse_object(buf, len, "request", EBADMSG, err);
	if (!o)
		return -1;
	if (husk_json_u32(o, NULL, "id", HUSK_JSON_REQUIRED, &r->id, err) < 0 ||
	    husk_json_str(o, NULL, "op", HUSK_JSON_REQUIRED, &r->op_name, err) < 0)
		goto fail;
	if (r->id == 0) {
		husk_err_set(err, EINVAL, "request id must not be 0");
		goto fail;
	}
	r->op = op_from_name(r->op_name);
	if (request_fields(o, r, err) < 0)
		goto fail;
	return 0;
fail:
	husk_err_prefix(err, "request");
	husk_request_free(r);
	return -1;
}

static struct json_object *rootfs_to_json(const struct husk_rootfs *r)
{
	struct json_object *x = json_object_new_object();
	if (!x)
		return NULL;
	json_object_object_add(x, "tag", json_object_new_string(r->tag));
	json_object_object_add(x, "fstype", json_object_new_string(r->fstype));
	json_object_object_add(x, "path", json_object_new_string(r->path ? r->path : ""));
	json_object_object_add(x, "readonly", json_object_new_boolean(r->readonly));
	return x;
}

static struct json_object *streams_to_json(const struct husk_streams *s)
{
	struct json_object *x = json_object_new_object();
	if (!x)
		return NULL;
	json_object_object_add(x, "stdin", json_object_new_int64(s->in));
	json_object_object_add(x, "stdout", json_object_new_int64(s->out));
	json_object_object_add(x, "stderr", json_object_new_int64(s->err));
	return x;
}

struct json_object *husk_request_encode(const struct husk_request *r)
{
	const char *name = husk_op_name(r->op);
	struct json_object *o = json_object_new_object();
	if (!o || !name) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "id", json_object_new_int64(r->id));
	json_object_object_add(o, "op", json_object_new_string(name));
	switch (r->op) {
	case HUSK_OP_CONTAINER_CREATE:
		json_object_object_add(o, "container", json_object_new_string(r->u.create.id));
		json_object_object_add(o, "rootfs", rootfs_to_json(&r->u.create.rootfs));
		if (r->u.create.hostname)
			json_object_object_add(o, "hostname",
					       json_object_new_string(r->u.create.hostname));
		if (r->u.create.spec)
			json_object_object_add(o, "spec", json_object_get(r->u.create.spec));
		if (r->u.create.sandbox)
			json_object_object_add(o, "sandbox",
					       json_object_new_string(r->u.create.sandbox));
		break;
	case HUSK_OP_NETWORK_CONFIGURE:
		json_object_object_add(o, "network", json_object_get(r->u.net.network));
		break;
	case HUSK_OP_PROCESS_START:
		json_object_object_add(o, "container",
				       json_object_new_string(r->u.start.container));
		json_object_object_add(o, "process", husk_process_to_json(&r->u.start.process));
		json_object_object_add(o, "streams", streams_to_json(&r->u.start.streams));
		break;
	case HUSK_OP_PROCESS_SIGNAL:
		json_object_object_add(o, "process", json_object_new_int64(r->u.signal.process));
		json_object_object_add(o, "signal", json_object_new_int(r->u.signal.signal));
		if (r->u.signal.all)
			json_object_object_add(o, "all", json_object_new_boolean(true));
		break;
	case HUSK_OP_PROCESS_RESIZE:
		json_object_object_add(o, "process", json_object_new_int64(r->u.resize.process));
		json_object_object_add(o, "rows", json_object_new_int(r->u.resize.rows));
		json_object_object_add(o, "cols", json_object_new_int(r->u.resize.cols));
		break;
	case HUSK_OP_CONTAINER_PS:
	case HUSK_OP_CONTAINER_DELETE:
		json_object_object_add(o, "container", json_object_new_string(r->u.ps.container));
		break;
	case HUSK_OP_CONTAINER_UPDATE:
		json_object_object_add(o, "container",
				       json_object_new_string(r->u.update.container));
		json_object_object_add(o, "resources", json_object_get(r->u.update.resources));
		break;
	case HUSK_OP_VM_RESTORE: {
		char hex[2 * HUSK_RESTORE_ENTROPY_MAX + 1];
		size_t n = r->u.restore.nentropy;
		for (size_t i = 0; i < n && i < HUSK_RESTORE_ENTROPY_MAX; i++)
			snprintf(hex + 2 * i, 3, "%02x", r->u.restore.entropy[i]);
		hex[2 * (n < HUSK_RESTORE_ENTROPY_MAX ? n : HUSK_RESTORE_ENTROPY_MAX)] = '\0';
		json_object_object_add(o, "entropy", json_object_new_string(hex));
		json_object_object_add(o, "time_ns", json_object_new_int64(r->u.restore.time_ns));
		break;
	}
	default: break;
	}
	return o;
}
