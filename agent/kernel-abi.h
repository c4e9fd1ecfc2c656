/* Kernel interfaces musl's headers leave out (musl-gcc has no linux/ headers):
 * openat2(2) and capget/capset(2), as the kernel's uapi defines them. */
#ifndef HUSK_KERNEL_ABI_H
#define HUSK_KERNEL_ABI_H

#include <stdint.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct open_how {
	uint64_t flags;
	uint64_t mode;
	uint64_t resolve;
};
#define RESOLVE_NO_XDEV	      0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS   0x04
#define RESOLVE_BENEATH	      0x08
#define RESOLVE_IN_ROOT	      0x10

#define _LINUX_CAPABILITY_VERSION_3 0x20080522
struct __user_cap_header_struct {
	uint32_t version;
	int pid;
};
struct __user_cap_data_struct {
	uint32_t effective;
	uint32_t permitted;
	uint32_t inheritable;
};

#endif
