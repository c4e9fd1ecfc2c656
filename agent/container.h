/* Containers: the share their root comes from, the config.json parts the
 * agent applies, their cgroup and seccomp program, the list of them. */
#ifndef HUSK_AGENT_CONTAINER_H
#define HUSK_AGENT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

struct json_object;

/* Mounts the VM's share (once per VM) and takes the rootfs (rootfs->path
 * in it) and the bind sources (spec's "binds" and "binds_ro") from it, reads
 * spec (config.json's "mounts" and "linux", or NULL), makes the cgroup; the
 * new container, or NULL with err. Nothing of a container that fails is
 * left behind but the VM's share. */
struct agent_container *agent_container_create(const char *id, const struct husk_rootfs *rootfs,
					       const char *hostname, struct json_object *spec,
					       const char *sandbox, struct husk_err *err);
struct agent_container *agent_container_find(const char *id);
/* container.update: linux.resources (an object, or NULL for none) into the
 * container's cgroup, read as at create (agent_spec_resources); fields it
 * leaves out keep their values. A write that fails leaves those before it
 * made; values that do not parse or go together change nothing. */
int agent_container_update(struct agent_container *c, struct json_object *resources,
			   struct husk_err *err);
/* Guest pids of the container's processes (none once it has stopped), at
 * most as many as a reply carries, in *out (malloc'd). */
int agent_container_pids(const struct agent_container *c, int32_t **out, size_t *n,
			 struct husk_err *err);

/* A pod's container about to start its first process: the namespaces it
 * joins are those of its sandbox's first process, which must still run. */
int agent_container_join(struct agent_container *c, struct husk_err *err);
/* SIGKILL to every process of the container (and no other's). */
void agent_container_kill(struct agent_container *c);
/* container.delete: its processes killed, its mounts and cgroup removed, it
 * leaves the list; the struct goes with its last process
 * (agent_container_put). A sandbox with containers is refused. */
int agent_container_delete(struct agent_container *c, struct husk_err *err);
/* A process of c is freed: c->nprocs counts them. */
void agent_container_put(struct agent_container *c);

#endif
