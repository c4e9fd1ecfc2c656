/* The benchmark floor: as PID 1 in a VM it ends the VM at once. QEMU runs
 * with -no-reboot and the kernel with reboot=t, so a reboot request makes
 * QEMU exit; the boot time measured with this /init is the floor that
 * husk-agent's start-up is compared against. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
