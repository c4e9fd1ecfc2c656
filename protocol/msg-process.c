/* The OCI process object: in process.start requests and in config.json. */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-json.h"
#include "husk-proto.h"

#define HUSK_MAX_ARGS 4096
#define HUSK_MAX_GIDS 256

void husk_process_free(struct husk_process *p)
{
	if (p->raw)
		json_object_put(p->raw);
	husk_strv_free(p->args);
	husk_strv_free(p->env);
	free(p->cwd);
	free(p->user.gids);
	memset(p, 0, sizeof *p);
}

static int console_size_from_json(struct json_object *o, struct husk_process *p,
				  struct husk_err *err)
{
	struct json_object *size;
	int h = 0, w = 0;
	int r = husk_json_obj(o, NULL, "consoleSize", HUSK_JSON_OPTIONAL, &size, err);
	if (r <= 0)
		return r;
	if (husk_json_int(size, NULL, "height", HUSK_JSON_REQUIRED, 0, 65535, &h, err) < 0 ||
	    husk_json_int(size, NULL, "width", HUSK_JSON_REQUIRED, 0, 65535, &w, err) < 0)
		return husk_err_prefix(err, "\"consoleSize\"");
	p->rows = (uint16_t)h;
	p->cols = (uint16_t)w;
	return 0;
}

static int user_from_json(struct json_object *o, struct husk_user *u, struct husk_err *err)
{
	struct json_object *user, *gids;
	int r = husk_json_obj(o, NULL, "user", HUSK_JSON_OPTIONAL, &user, err);
	if (r <= 0)
		return r;
	if (husk_json_u32(user, NULL, "uid", HUSK_JSON_REQUIRED, &u->uid, err) < 0 ||
	    husk_json_u32(user, NULL, "gid", HUSK_JSON_REQUIRED, &u->gid, err) < 0)
		return husk_err_prefix(err, "\"user\"");
	if (!json_object_object_get_ex(user, "additionalGids", &gids) ||
	    json_object_is_type(gids, json_type_null))
		return 0;
	if (!json_object_is_type(gids, json_type_array) ||
	    json_object_array_length(gids) > HUSK_MAX_GIDS)
		return husk_err_set(
		    err, EINVAL, "\"user\": \"additionalGids\" must be an array of at most %d ids",
		    HUSK_MAX_GIDS);
	u->ngids = json_object_array_length(gids);
	u->gids = calloc(u->ngids + 1, sizeof *u->gids);
	if (!u->gids)
		return husk_err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < u->ngids; i++) {
		struct json_object *g = json_object_array_get_idx(gids, i);
		int64_t n = json_object_get_int64(g);
		if (!json_object_is_type(g, json_type_int) || n < 0 || n > UINT32_MAX)
			return husk_err_set(
			    err, EINVAL, "\"user\": \"additionalGids\"[%zu] is not a valid gid", i);
		u->gids[i] = (uint32_t)n;
	}
	return 0;
}

int husk_process_from_json(struct json_object *o, struct husk_process *p, struct husk_err *err)
{
	memset(p, 0, sizeof *p);
	p->raw = json_object_get(o);
	if (husk_json_strv(o, NULL, "args", HUSK_JSON_REQUIRED, HUSK_MAX_ARGS, &p->args, &p->nargs,
			   err) < 0)
		goto fail;
	if (p->nargs == 0 || p->args[0][0] == '\0') {
		husk_err_set(err, EINVAL, "\"args\" must name the program to run");
		goto fail;
	}
	if (husk_json_strv(o, NULL, "env", HUSK_JSON_OPTIONAL, HUSK_MAX_ARGS, &p->env, &p->nenv,
			   err) < 0 ||
	    husk_json_str(o, NULL, "cwd", HUSK_JSON_REQUIRED, &p->cwd, err) < 0)
		goto fail;
	if (p->cwd[0] != '/') {
		husk_err_set(err, EINVAL, "\"cwd\" must be an absolute path, not \"%s\"", p->cwd);
		goto fail;
	}
	if (husk_json_bool(o, NULL, "terminal", HUSK_JSON_OPTIONAL, &p->terminal, err) < 0 ||
	    console_size_from_json(o, p, err) < 0 || user_from_json(o, &p->user, err) < 0)
		goto fail;
	return 0;
fail:
	husk_process_free(p);
	return -1;
}

struct json_object *husk_process_to_json(const struct husk_process *p)
{
	struct json_object *o = NULL, *user = json_object_new_object(),
			   *gids = json_object_new_array();
	/* start from the fields we do not model, then set the ones we do */
	if (p->raw && json_object_deep_copy(p->raw, &o, NULL) != 0)
		o = NULL;
	if (!o)
		o = json_object_new_object();
	else if (json_object_object_get_ex(o, "user", NULL)) {
		struct json_object *old;
		json_object_object_get_ex(o, "user", &old);
		json_object_put(user);
		user = NULL;
		if (json_object_is_type(old, json_type_object) &&
		    json_object_deep_copy(old, &user, NULL) != 0)
			user = NULL;
		if (!user)
			user = json_object_new_object();
	}
	if (!o || !user || !gids) {
		json_object_put(o);
		json_object_put(user);
		json_object_put(gids);
		return NULL;
	}
	json_object_object_add(o, "args", husk_strv_to_json(p->args));
	json_object_object_add(o, "env", husk_strv_to_json(p->env));
	json_object_object_add(o, "cwd", json_object_new_string(p->cwd ? p->cwd : "/"));
	json_object_object_add(user, "uid", json_object_new_int64(p->user.uid));
	json_object_object_add(user, "gid", json_object_new_int64(p->user.gid));
	for (size_t i = 0; i < p->user.ngids; i++)
		json_object_array_add(gids, json_object_new_int64(p->user.gids[i]));
	json_object_object_add(user, "additionalGids", gids);
	json_object_object_add(o, "user", user);
	json_object_object_add(o, "terminal", json_object_new_boolean(p->terminal));
	if (p->rows || p->cols) {
		struct json_object *size = json_object_new_object();
		json_object_object_add(size, "height", json_object_new_int(p->rows));
		json_object_object_add(size, "width", json_object_new_int(p->cols));
		json_object_object_add(o, "consoleSize", size);
	}
	return o;
}
