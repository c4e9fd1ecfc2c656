/* PID-1 duties of husk-agent: early mounts, console, re-rooting, shutdown. */
#ifndef HUSK_INIT_H
#define HUSK_INIT_H

/* Move / from the initramfs onto a tmpfs so containers can pivot_root,
 * mount the API filesystems and set up the console. Fatal on failure. */
void init_early(void);
/* Print on the console and power the VM off; never returns. */
void init_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Kill every other process, flush file systems and power off. */
void init_poweroff(void) __attribute__((noreturn));
/* True when the kernel command line carries WORD (e.g. "husk.debug"). */
int init_cmdline_has(const char *word);

#endif
