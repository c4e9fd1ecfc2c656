/* linux.seccomp, compiled to BPF with libseccomp once per container. */
#ifndef HUSK_AGENT_SECCOMP_H
#define HUSK_AGENT_SECCOMP_H

#include <stddef.h>

#include "husk-err.h"

struct json_object;

/* A compiled seccomp program (struct sock_filter[]); empty without a profile. */
struct agent_bpf {
	void *prog;
	size_t len;
};

int agent_seccomp_compile(struct json_object *seccomp, struct agent_bpf *out, struct husk_err *err);
void agent_seccomp_free(struct agent_bpf *bpf);
/* In the child, before exec: -1 with errno. */
int agent_seccomp_load(const struct agent_bpf *bpf);

#endif
