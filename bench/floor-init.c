/* The benchmark floors, run as /init in the same VM husk boots.
 *   (nothing)               end the VM at once: the cold-start floor.
 *   floor_bytes=N           write N bytes to the agent's virtio-serial port
 *                           with no framing, then end the VM: the stdout floor.
 * QEMU runs with -no-reboot and the kernel with reboot=t, so a reboot
 * request makes QEMU exit. Unknown name=value kernel parameters reach /init
 * as environment variables (arguments after "--" cannot be used: microvm
 * appends its virtio-mmio devices to the command line after them). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

static void end(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static int open_port(void)
{
	char path[300], name[64];
	struct dirent *e;
	DIR *d = opendir("/sys/class/virtio-ports");
	while (d && (e = readdir(d))) {
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof name, f) && !strncmp(name, "org.husk.agent.0", 16)) {
			fclose(f);
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			closedir(d);
			return open(path, O_WRONLY);
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return -1;
}

int main(void)
{
	static char buf[65536];
	const char *bytes = getenv("floor_bytes");
	if (!bytes)
		end();
	unsigned long long left = strtoull(bytes, NULL, 10);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int fd = -1;
	/* the port's name arrives from the host shortly after the device */
	for (int i = 0; i < 5000 && fd < 0; i++) {
		fd = open_port();
		if (fd < 0)
			usleep(1000);
	}
	memset(buf, 'x', sizeof buf);
	if (fd < 0)
		perror("floor-init: no agent port");
	while (fd >= 0 && left > 0) {
		ssize_t n = write(fd, buf, left < sizeof buf ? left : sizeof buf);
		if (n <= 0)
			break;
		left -= n;
	}
	end();
}
