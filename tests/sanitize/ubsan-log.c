/* Linked into build/asan/husk only. With gcc, -fsanitize=address,undefined
 * loads two runtimes, libasan and libubsan, each with its own copy of the
 * sanitizer's report file; libubsan, run as ASan's plugin, never reads its
 * log_path, so its reports go to stderr: for the proxy that is the
 * container's stderr, where no check would see them. Hand libubsan the
 * log_path of UBSAN_OPTIONS, so that `make sanitize` finds its reports as
 * files beside ASan's. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void ubsan_log_path(void)
{
	static char path[4096];
	const char *o = getenv("UBSAN_OPTIONS"), *p;
	if (!o || !(p = strstr(o, "log_path=")))
		return;
	p += strlen("log_path=");
	size_t n = strcspn(p, ":");
	if (n == 0 || n >= sizeof path)
		return;
	memcpy(path, p, n);
	path[n] = '\0';
	void *h = dlopen("libubsan.so.1", RTLD_NOLOAD | RTLD_LAZY);
	void (*set)(const char *) =
	    h ? (void (*)(const char *))dlsym(h, "__sanitizer_set_report_path") : NULL;
	if (set)
		set(path);
	if (h)
		dlclose(h);
}
