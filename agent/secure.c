/* A process's limits and privileges, in the child between fork and exec:
 * rlimits, OOM score, umask, the capability sets, no_new_privs, identity. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include "kernel-abi.h"
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "secure.h"
#include "util.h"

#define CAP_COUNT (HUSK_CAP_LAST + 1) /* protocol/husk-priv.h */

/* Before the identity changes (needs privilege): limits, OOM score, umask,
 * the bounding set, and keeping capabilities across setuid. */
int agent_secure_before_user(const struct spec_process *sp)
{
	for (size_t i = 0; i < sp->nrlimits; i++) {
		struct rlimit rl = {.rlim_cur = sp->rlimits[i].soft,
				    .rlim_max = sp->rlimits[i].hard};
		if (setrlimit(sp->rlimits[i].resource, &rl) < 0)
			return -1;
	}
	if (sp->has_oom_score_adj) {
		char v[16];
		snprintf(v, sizeof v, "%d", sp->oom_score_adj);
		if (agent_write_file("/proc/self", "oom_score_adj", v, NULL) < 0)
			return -1;
	}
	if (sp->has_umask)
		umask(sp->umask);
	if (!sp->has_caps)
		return 0;
	for (int cap = 0; cap < CAP_COUNT; cap++)
		if (!(sp->cap_bounding & (1ull << cap)) &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	return prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
}

int agent_secure_user(const struct husk_process *spec)
{
	if (setgroups(spec->user.ngids, (const gid_t *)spec->user.gids) < 0 ||
	    setgid(spec->user.gid) < 0 || setuid(spec->user.uid) < 0)
		return -1;
	return 0;
}

/* After the identity change: the capability sets, ambient, no_new_privs. */
int agent_secure_after_user(const struct spec_process *sp)
{
	if (sp->has_caps) {
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct d[2] = {
		    {(uint32_t)sp->cap_effective, (uint32_t)sp->cap_permitted,
		     (uint32_t)sp->cap_inheritable},
		    {(uint32_t)(sp->cap_effective >> 32), (uint32_t)(sp->cap_permitted >> 32),
		     (uint32_t)(sp->cap_inheritable >> 32)},
		};
		if (syscall(SYS_capset, &h, d) < 0)
			return -1;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
		for (int cap = 0; cap < CAP_COUNT; cap++)
			if ((sp->cap_ambient & (1ull << cap)))
				prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
	}
	if (sp->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return 0;
}
