/* A container's resources on both sides: the host cgroup its VM runs in
 * (linux.cgroupsPath: the proxy, QEMU, virtiofsd and the sentinel) and
 * `update`, which changes the container's guest cgroup and the VM's host
 * cgroup together. docs/architecture.md, "Host cgroups". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "husk-log.h"
#include "husk.h"
#include "proxy-res.h"
#include "vmconf.h"

static struct json_object *config_resources(const struct husk_config *c)
{
	struct json_object *r;
	return c->linux_ && json_object_object_get_ex(c->linux_, "resources", &r) &&
		       json_object_is_type(r, json_type_object)
		   ? r
		   : NULL;
}

/* What bounds the VM on the host: its RAM and QEMU's own overhead, and the
 * CPU the container may use. */
static void host_limits(struct json_object *res, unsigned mem_mib, struct husk_cgroup_limits *l)
{
	*l = (struct husk_cgroup_limits){0};
	if (mem_mib)
		l->memory = ((int64_t)mem_mib + HUSK_VM_HOST_OVERHEAD_MIB) << 20;
	int64_t quota = husk_resource(res, "cpu", "quota");
	int64_t period = husk_resource(res, "cpu", "period");
	int64_t shares = husk_resource(res, "cpu", "shares");
	if (quota > 0 || (res && quota == -1 && period > 0))
		l->cpu_quota = quota;
	if (period > 0)
		l->cpu_period = (uint64_t)period;
	if (shares > 0)
		l->cpu_shares = (uint64_t)shares;
}

int husk_proxy_cgroup_setup(struct proxy *P, struct husk_err *err)
{
	struct proxy_opts *o = P->o;
	struct json_object *v;
	const char *path = NULL;
	_cleanup_free_ char *rel = NULL;
	if (o->cfg.linux_ && json_object_object_get_ex(o->cfg.linux_, "cgroupsPath", &v) &&
	    json_object_is_type(v, json_type_string))
		path = json_object_get_string(v);
	if (husk_cgroup_resolve(NULL, path, o->id, husk_global.systemd_cgroup, &rel, err) < 0)
		return -1;
	if (husk_cgroup_create(&P->cg, NULL, rel, err) < 0) {
		/* as runc's rootless mode: without the right to make cgroups the
		 * VM goes without one (and no limits on the host) */
		bool denied = err->code == EACCES || err->code == EPERM || err->code == EROFS;
		if (denied && (husk_global.rootless || geteuid() != 0) && !path) {
			log_warn("no host cgroup for the VM: %s", err->msg);
			return 0;
		}
		return -1;
	}
	struct husk_cgroup_limits l;
	host_limits(config_resources(&o->cfg), o->vo.mem_mib, &l);
	if (husk_cgroup_set(&P->cg, &l, err) < 0 || husk_cgroup_join(&P->cg, getpid(), err) < 0) {
		husk_cgroup_destroy(&P->cg);
		husk_cgroup_free(&P->cg);
		return -1;
	}
	P->cg_joined = true;
	P->st.cgroup = husk_steal(rel);
	return 0;
}

void husk_proxy_cgroup_leave(struct proxy *P)
{
	struct husk_err err;
	if (P->cg_joined && husk_cgroup_leave(&P->cg, &err) < 0)
		log_warn("%s", err.msg);
	P->cg_joined = false;
}

/* ---- update ---- */

struct update {
	struct proxy *P;
	struct husk_ctl_conn *c;
	struct json_object *res;
};

static void updated(struct husk_session *s, const struct husk_reply *r, void *data)
{
	struct update *u = data;
	struct husk_err err;
	struct husk_cgroup_limits l;
	if (r->err_code) {
		husk_ctl_reply(u->c, husk_ctl_error(r->message, 0));
	} else {
		/* the guest took it; the VM's share of the host follows (its
		 * memory stays its RAM: that is fixed at boot) */
		host_limits(u->res, 0, &l);
		if (u->P->cg_joined && husk_cgroup_set(&u->P->cg, &l, &err) < 0)
			husk_ctl_reply(u->c, husk_ctl_error(err.msg, 0));
		else
			husk_ctl_reply(u->c, husk_ctl_ok());
	}
	husk_ctl_conn_unref(u->c);
	json_object_put(u->res);
	free(u);
}

void husk_proxy_update(struct proxy *P, struct husk_ctl_conn *c, struct json_object *res)
{
	struct husk_err err;
	char msg[256];
	struct husk_proc *init = &P->procs.init;
	if (!res || !json_object_is_type(res, json_type_object)) {
		husk_ctl_reply(c, husk_ctl_error("update without resources", 0));
		return;
	}
	if (!P->created || init->exited || P->stopping) {
		husk_ctl_reply(c, husk_ctl_error("container not running", 0));
		return;
	}
	/* the VM's memory is what it booted with (hotplug is a later step) */
	int64_t limit = husk_resource(res, "memory", "limit");
	int64_t room = ((int64_t)P->o->vo.mem_mib - HUSK_VM_HEADROOM_MIB) << 20;
	if (limit > room) {
		snprintf(
		    msg, sizeof msg,
		    "memory limit %lld exceeds what the VM can give: %lld bytes (%u MiB of RAM "
		    "less %u MiB for its kernel); a VM's memory is set when it boots",
		    (long long)limit, (long long)room, P->o->vo.mem_mib, HUSK_VM_HEADROOM_MIB);
		husk_ctl_reply(c, husk_ctl_error(msg, 0));
		return;
	}
	struct update *u = malloc(sizeof *u);
	if (!u) {
		husk_ctl_reply(c, husk_ctl_error("out of memory", 0));
		return;
	}
	*u = (struct update){P, c, json_object_get(res)};
	husk_ctl_conn_ref(c);
	struct husk_request r = {.op = HUSK_OP_CONTAINER_UPDATE,
				 .u.update = {.container = (char *)P->o->id, .resources = res}};
	if (husk_session_request(&P->s, &r, updated, u, &err) < 0) {
		husk_ctl_reply(c, husk_ctl_error(err.msg, 0));
		husk_ctl_conn_unref(c);
		json_object_put(u->res);
		free(u);
	}
}
