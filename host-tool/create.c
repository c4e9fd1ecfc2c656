/* husk create [options] ID: boot a VM and create the container in it. */
#include <errno.h>

#include "husk.h"
#include "launch.h"
#include "verbs.h"

int husk_cmd_create(int argc, char **argv)
{
	static const struct husk_verb_desc d = {
	    .usage = "create [options] ID",
	    .about = "Boot a VM and create the container in it; start runs its process.",
	    .opts = husk_launch_opts,
	    .accepted = HUSK_LAUNCH_ACCEPTED,
	};
	_cleanup_launch_ struct husk_launch l;
	struct husk_err err = {0};
	if (husk_launch_init(&l, &err) < 0)
		return husk_fail(&err);
	int i = husk_opts_parse(argc, argv, &d, husk_launch_opt, &l, &err);
	if (i == HUSK_OPTS_HELP)
		return 0;
	if (i >= 0 && i != argc - 1)
		i = husk_err_set(&err, EINVAL, "create needs exactly one container ID");
	if (i < 0 || husk_launch_prepare(&l, argv[i], &err) < 0 ||
	    husk_launch_detached(&l, &err) < 0)
		return husk_fail(&err);
	return 0;
}
