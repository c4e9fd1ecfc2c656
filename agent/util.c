/* Small helpers more than one part of the agent needs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int agent_write_file(const char *dir, const char *name, const char *value, struct husk_err *err)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		return husk_err_sys(err, errno, "write %s", path);
	return 0;
}
