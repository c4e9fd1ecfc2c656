/* VM size and settings: flags first, then annotations, then what
 * linux.resources asks of the container, then defaults. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "allow.h"
#include "husk-log.h"
#include "snapshot.h"
#include "vmconf.h"

int64_t husk_resource(struct json_object *res, const char *group, const char *key)
{
	struct json_object *g, *v;
	if (!res || !json_object_object_get_ex(res, group, &g) ||
	    !json_object_object_get_ex(g, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

static int64_t resource(struct json_object *linux_, const char *group, const char *key)
{
	struct json_object *res;
	if (!linux_ || !json_object_object_get_ex(linux_, "resources", &res))
		return -1;
	return husk_resource(res, group, key);
}

/* The kernel and initrd annotations name host files: only under the
 * allowlist (allow.h), and QEMU gets the path as it resolved, so nothing
 * swapped in along the way later changes which file it opens. Flags and the
 * environment are the operator's and are not checked here. */
static int host_file_annotations(const struct husk_config *c, struct husk_vm_opts *vo,
				 struct husk_err *err)
{
	static char kernel[PATH_MAX], initrd[PATH_MAX];
	const char *k = vo->kernel ? NULL : husk_config_annotation(c, "husk.vm.kernel");
	const char *i = vo->initrd ? NULL : husk_config_annotation(c, "husk.vm.initrd");
	struct husk_allow allow = {0};
	struct husk_err e;
	int rc = 0;
	if (!k && !i)
		return 0;
	husk_allow_defaults(&allow, NULL);
	if (husk_allow_load_conf(&allow, husk_allow_conf_path(), &e) < 0)
		log_warn("%s", e.msg);
	if (k &&
	    (rc = husk_allow_check(&allow, "husk.vm.kernel", k, kernel, sizeof kernel, err)) == 0)
		vo->kernel = kernel;
	if (rc == 0 && i &&
	    (rc = husk_allow_check(&allow, "husk.vm.initrd", i, initrd, sizeof initrd, err)) == 0)
		vo->initrd = initrd;
	husk_allow_free(&allow);
	return rc;
}

/* No annotation picks the QEMU binary (HUSK_QEMU and --qemu are the
 * operator's); those below size and shape the VM within its jail. */
int husk_vmconf_apply(const struct husk_config *c, struct husk_vm_opts *vo, bool *share_set,
		      struct husk_err *err)
{
	const char *v;
	char *end;
	if (host_file_annotations(c, vo, err) < 0)
		return -1;
	if (!vo->machine && (v = husk_config_annotation(c, "husk.vm.machine"))) {
		if (strcmp(v, "microvm") && strcmp(v, "q35") && strcmp(v, "pc"))
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.machine must be microvm, q35 or pc, not \"%s\"", v);
		vo->machine = v;
	}
	if (!vo->mem_mib && (v = husk_config_annotation(c, "husk.vm.memory"))) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 32 || n > (1u << 20))
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.memory must be MiB from 32, not \"%s\"", v);
		vo->mem_mib = (unsigned)n;
	}
	if (!vo->cpus && (v = husk_config_annotation(c, "husk.vm.cpus"))) {
		unsigned long n = strtoul(v, &end, 10);
		if (*end || n < 1 || n > 64)
			return husk_err_set(
			    err, EINVAL, "annotation husk.vm.cpus must be 1 to 64, not \"%s\"", v);
		vo->cpus = (unsigned)n;
	}
	if (!vo->template_set && ((v = husk_config_annotation(c, "husk.vm.template")) ||
				  (v = getenv("HUSK_TEMPLATE")))) {
		enum husk_template t;
		if (husk_template_parse(v, &t, err) < 0)
			return husk_err_prefix(err, husk_config_annotation(c, "husk.vm.template")
							? "annotation husk.vm.template"
							: "HUSK_TEMPLATE");
		vo->template_mode = (int)t;
		vo->template_set = true;
	}
	if (!*share_set && (v = husk_config_annotation(c, "husk.vm.share"))) {
		if (husk_share_parse(v, &vo->virtiofs, err) < 0)
			return husk_err_set(
			    err, EINVAL,
			    "annotation husk.vm.share must be 9p or virtiofs, not \"%s\"", v);
		*share_set = true;
	}
	if (!*share_set && getenv("HUSK_SHARE") &&
	    husk_share_parse(getenv("HUSK_SHARE"), &vo->virtiofs, err) < 0)
		return -1;
	int64_t limit = resource(c->linux_, "memory", "limit");
	if (!vo->mem_mib && limit > 0) {
		int64_t mib = (limit + (1 << 20) - 1) / (1 << 20) + HUSK_VM_HEADROOM_MIB;
		vo->mem_mib = (unsigned)(mib < 96 ? 96 : mib > (1 << 20) ? (1 << 20) : mib);
	}
	int64_t quota = resource(c->linux_, "cpu", "quota"),
		period = resource(c->linux_, "cpu", "period");
	if (!vo->cpus && quota > 0) {
		if (period <= 0)
			period = 100000;
		int64_t n = (quota + period - 1) / period;
		long host = sysconf(_SC_NPROCESSORS_ONLN);
		vo->cpus = (unsigned)(n < 1 ? 1 : n > host ? host : n > 64 ? 64 : n);
	}
	return 0;
}
