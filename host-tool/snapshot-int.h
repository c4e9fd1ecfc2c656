/* What snapshot.c and snapshot-make.c share (snapshot.h). */
#ifndef HUSK_SNAPSHOT_INT_H
#define HUSK_SNAPSHOT_INT_H

#include "husk-err.h"
#include "vm.h"

/* Boot a template VM like vo in the directory tmp (its RAM in tmp/mem,
 * a scratch share, throwaway taps), wait for its agent's greeting, pause
 * it and save it to tmp/state (whole) and tmp/dev (devices only). */
int husk_snapshot_template(const struct husk_vm_opts *vo, const char *tmp, unsigned timeout_s,
			   struct husk_err *err);

#endif
