#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "husk-log.h"
#include "jail.h"
#include "virtiofsd.h"
#include "vm.h"

#ifndef HUSK_DATADIR
#define HUSK_DATADIR "/usr/local/share/husk"
#endif

#define QEMU_MAX_ARGS 128

int husk_accel_parse(const char *s, enum husk_accel *a, struct husk_err *err)
{
	if (!strcmp(s, "auto"))
		*a = HUSK_ACCEL_AUTO;
	else if (!strcmp(s, "kvm"))
		*a = HUSK_ACCEL_KVM;
	else if (!strcmp(s, "tcg"))
		*a = HUSK_ACCEL_TCG;
	else
		return husk_err_set(err, EINVAL, "unknown accelerator \"%s\" (kvm, tcg or auto)",
				    s);
	return 0;
}

int husk_share_parse(const char *s, bool *virtiofs, struct husk_err *err)
{
	if (!strcmp(s, "9p"))
		*virtiofs = false;
	else if (!strcmp(s, "virtiofs") || !strcmp(s, "virtio-fs"))
		*virtiofs = true;
	else
		return husk_err_set(err, EINVAL, "unknown share mode \"%s\" (9p or virtiofs)", s);
	return 0;
}

int husk_vm_listen_and_connect(const char *dir, const char *name, int *lfd, int *conn, bool keep,
			       struct husk_err *err)
{
	*lfd = husk_sock_at(dir, name, SOCK_STREAM, 1, err);
	if (*lfd < 0)
		return -1;
	*conn = husk_sock_at(dir, name, SOCK_STREAM, 0, err);
	if (!keep) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, name) >= 0)
			unlink(path);
	}
	return *conn < 0 ? -1 : 0;
}

/* The agent's port: QEMU gets a listening socket (server=on,wait=off, as
 * libvirt passes pre-opened sockets) at <state>/agent.sock, and we connect
 * to it. A listener rather than a connected pair lets the host drop the
 * connection and connect again (the test hooks do, see testhooks.c): QEMU
 * accepts the next client and the guest sees the port close and reopen. */
int husk_vm_agent_connect(const char *state_dir, int *fd, struct husk_err *err)
{
	*fd = husk_sock_at(state_dir, HUSK_AGENT_SOCK, SOCK_STREAM, 0, err);
	return *fd < 0 ? -1 : 0;
}

/* Listen for QEMU (*lfd goes to it) and connect to it (*conn is ours). */
static int agent_listen(const struct husk_vm_opts *o, int *lfd, int *conn, struct husk_err *err)
{
	if (!o->state_dir)
		return husk_err_set(err, EINVAL,
				    "internal error: no state directory for the agent's port");
	/* nobody else may connect: the name goes unless a reconnect needs it */
	return husk_vm_listen_and_connect(o->state_dir, HUSK_AGENT_SOCK, lfd, conn,
					  o->keep_agent_sock, err);
}

static bool cpu_has_virt(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "flags", 5))
			return strstr(line, " vmx") || strstr(line, " svm");
	return false;
}

bool husk_kvm_usable(void)
{
	_cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return false;
	_cleanup_close_ int vmfd = ioctl(fd, KVM_CREATE_VM, 0);
	return vmfd >= 0 && cpu_has_virt();
}

/* Directory of the running husk binary. */
static int self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* First existing file among: the flag, the environment, next to the binary
 * (installed layout, then build tree), the compiled-in data directory. */
static int find_file(const char **out, const char *env, const char *installed, const char *built,
		     const char *what, const char *how, struct husk_err *err)
{
	static char found[4][PATH_MAX];
	static int slot;
	char dir[PATH_MAX];
	struct stat st;
	if (!*out)
		*out = getenv(env);
	if (*out) {
		if (stat(*out, &st) < 0 || !S_ISREG(st.st_mode))
			return husk_err_set(err, ENOENT, "%s %s not found (%s)", what, *out, how);
		return 0;
	}
	char *p = found[slot++ % 4];
	if (self_dir(dir, sizeof dir) == 0) {
		snprintf(p, PATH_MAX, "%s/../share/husk/%s", dir, installed);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			return *out = p, 0;
		snprintf(p, PATH_MAX, "%s/%s", dir, built);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			return *out = p, 0;
	}
	snprintf(p, PATH_MAX, "%s/%s", HUSK_DATADIR, installed);
	if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
		return *out = p, 0;
	return husk_err_set(err, ENOENT, "no %s found; set %s or %s", what, env, how);
}

static int find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? (snprintf(out, size, "%s", name), 0) : -1;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		snprintf(out, size, "%.*s/%s", (int)n, path, name);
		if (n && access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -1;
}

int husk_vm_resolve(struct husk_vm_opts *o, struct husk_err *err)
{
	static char qemu[PATH_MAX];
	const char *q = o->qemu ? o->qemu : getenv("HUSK_QEMU");
	if (!q)
		q = "qemu-system-x86_64";
	if (find_in_path(q, qemu, sizeof qemu) < 0)
		return husk_err_set(
		    err, ENOENT, "QEMU %s not found (install qemu-system-x86 or set HUSK_QEMU)", q);
	o->qemu = qemu;
	if (find_file(&o->kernel, "HUSK_KERNEL", "kernel", "kernel/vmlinux", "guest kernel",
		      "--kernel", err) < 0 ||
	    find_file(&o->initrd, "HUSK_INITRD", "initrd.img", "initrd.img", "initrd", "--initrd",
		      err) < 0)
		return -1;
	if (!o->machine)
		o->machine = getenv("HUSK_MACHINE");
	if (!o->machine)
		o->machine = "microvm";
	if (strcmp(o->machine, "microvm") && strcmp(o->machine, "q35") && strcmp(o->machine, "pc"))
		return husk_err_set(err, EINVAL, "unknown machine \"%s\" (microvm, q35 or pc)",
				    o->machine);
	if (o->accel == HUSK_ACCEL_AUTO && getenv("HUSK_ACCEL") &&
	    husk_accel_parse(getenv("HUSK_ACCEL"), &o->accel, err) < 0)
		return -1;
	if (!o->mem_mib)
		o->mem_mib = 256;
	if (!o->cpus)
		o->cpus = 1;
	return 0;
}

#define ARG_STORE (16 + 2 * HUSK_VM_MAX_NICS)

struct argv {
	char *v[QEMU_MAX_ARGS];
	char store[ARG_STORE][PATH_MAX + 256];
	int n, ns;
};

static void add(struct argv *a, const char *s)
{
	if (a->n < QEMU_MAX_ARGS - 1)
		a->v[a->n++] = (char *)s;
}

__attribute__((format(printf, 2, 3))) static void addf(struct argv *a, const char *fmt, ...)
{
	va_list ap;
	if (a->ns >= ARG_STORE)
		return;
	va_start(ap, fmt);
	vsnprintf(a->store[a->ns], sizeof a->store[0], fmt, ap);
	va_end(ap);
	add(a, a->store[a->ns++]);
}

#define QMP_FD	6 /* QEMU's end of its QMP monitor */
#define NIC_FD0 7 /* the first tap's fd in QEMU */

/* A value inside a QEMU option list: a comma is written twice. */
static const char *qemu_escape(const char *v, char out[2 * PATH_MAX + 1])
{
	size_t n = 0;
	for (; *v && n < 2 * PATH_MAX - 1; v++) {
		if (*v == ',')
			out[n++] = ',';
		out[n++] = *v;
	}
	out[n] = '\0';
	return out;
}

/* Child after fork: the fds QEMU inherits land on 3 (the agent port's
 * listening socket), 4 (the console), 5 (virtiofsd's socket), 6 (the QMP
 * monitor, QMP_FD) and 7 on (the taps in NIC order, NIC_FD0). */
static __attribute__((noreturn)) void exec_qemu(const struct husk_vm_opts *o, struct argv *a,
						int chan, int con, int vfs, int qmp,
						const int alive[2], const struct husk_jail *j)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the proxy may have died before that took hold: then the pipe it
	 * holds open is closed (getppid() is 0 in a pid namespace of our own) */
	close(alive[1]);
	struct pollfd pf = {.fd = fcntl(alive[0], F_DUPFD_CLOEXEC, 64), .events = POLLIN};
	if (pf.fd < 0 || poll(&pf, 1, 0) != 0)
		_exit(125);
	int devnull = open("/dev/null", O_RDWR);
	int log = o->qemu_log ? open(o->qemu_log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
	if (devnull < 0 || dup2(devnull, 0) < 0)
		_exit(125);
	dup2(log >= 0 ? log : devnull, 1);
	dup2(log >= 0 ? log : devnull, 2);
	/* move every fd above where any lands first, so none clobbers another */
	int src[5 + HUSK_VM_MAX_NICS] = {chan, con, vfs, qmp}, n = 4; /* src[i] lands on 3 + i */
	for (size_t i = 0; i < o->nnics; i++)
		if (o->nics[i].fd >= 0)
			src[n++] = o->nics[i].fd;
	if (o->incoming)
		src[n++] = o->incoming_fd;
	for (int i = 0; i < n; i++)
		if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD, 64)) < 0)
			_exit(125);
	for (int i = 0; i < n; i++) {
		if (src[i] < 0)
			close(3 + i); /* a slot without an fd (no virtiofsd) stays empty */
		else if (dup2(src[i], 3 + i) < 0)
			_exit(125);
	}
	/* the liveness pipe after them, closed by exec */
	if (dup3(pf.fd, 3 + n, O_CLOEXEC) < 0)
		_exit(125);
	pf.fd = 3 + n;
	close_range(3 + n + 1, ~0U, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	const char *what;
	if (j && husk_jail_enter(j, &what) < 0) {
		dprintf(2, "husk: QEMU's jail: %s: %s\n", what, strerror(errno));
		_exit(125);
	}
	/* a change of uid clears the parent-death signal: set it again */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (poll(&pf, 1, 0) != 0)
		_exit(125);
	if (!j)
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	execv(o->qemu, a->v);
	dprintf(2, "exec %s: %s\n", o->qemu, strerror(errno));
	_exit(125);
}

int husk_vm_extra_fd(const struct husk_vm_opts *o, int i)
{
	size_t taps = 0;
	for (size_t k = 0; k < o->nnics; k++)
		taps += o->nics[k].fd >= 0;
	return NIC_FD0 + (int)taps + i;
}

unsigned husk_vm_max_nics(const struct husk_vm_opts *o)
{
	if (strcmp(o->machine, "microvm"))
		return HUSK_VM_MAX_NICS; /* PCI has slots to spare */
	/* virtio-serial and the one share */
	unsigned left = HUSK_VM_MICROVM_TRANSPORTS - 2;
	return left < HUSK_VM_MAX_NICS ? left : HUSK_VM_MAX_NICS;
}

/* What QEMU needs in its jail (jail.h); false when there is none: not root,
 * or no state directory to build it in. */
static bool make_jail(const struct husk_vm_opts *o, enum husk_accel accel, bool vhost,
		      struct husk_jail *j)
{
	static char root[PATH_MAX];
	if (geteuid() != 0 || !o->state_dir)
		return false;
	snprintf(root, sizeof root, "%s/jail", o->state_dir);
	*j = (struct husk_jail){.root = root, .scratch = o->state_dir};
	j->ro[j->nro++] = o->kernel;
	j->ro[j->nro++] = o->initrd;
	if (o->mem_file)
		j->rw[j->nrw++] = o->mem_file;
	if (strncmp(o->qemu, "/usr/", 5) != 0)
		j->ro[j->nro++] = o->qemu;
	j->dev[j->ndev++] = "/dev/null";
	j->dev[j->ndev++] = "/dev/zero";
	j->dev[j->ndev++] = "/dev/urandom";
	if (accel == HUSK_ACCEL_KVM)
		j->dev[j->ndev++] = "/dev/kvm";
	if (vhost)
		j->dev[j->ndev++] = "/dev/vhost-net";
	if (o->virtiofs) {
		/* virtiofsd touches the files (in its own sandbox): QEMU needs
		 * no privilege at all, and sees none of them */
		struct group *kvm = accel == HUSK_ACCEL_KVM ? getgrnam("kvm") : NULL;
		j->uid = HUSK_JAIL_UID;
		j->gid = HUSK_JAIL_UID;
		j->extra_gid = kvm ? kvm->gr_gid : 0;
		return true;
	}
	/* The share, exposed "read-only": that binds it with every mount
	 * under it, each keeping the flags the proxy gave it (the rootfs and
	 * the bind sources writable or not), and leaves its own directories
	 * read-only as share.c made them. 9p passthrough makes the guest's
	 * files with the owners and modes it asks for and reaches files of
	 * every owner: QEMU runs as root with those capabilities and no
	 * others (an unprivileged uid would need the mapped models, which
	 * show the host other owners and modes than the guest sets:
	 * docs/decisions.md, "The rootfs share") */
	j->ro[j->nro++] = o->share_path;
	j->keep_caps = 1ULL << CAP_CHOWN | 1ULL << CAP_DAC_OVERRIDE | 1ULL << CAP_DAC_READ_SEARCH |
		       1ULL << CAP_FOWNER | 1ULL << CAP_FSETID | 1ULL << CAP_MKNOD;
	return true;
}

int husk_vm_start(const struct husk_vm_opts *o, struct husk_vm *vm, struct husk_err *err)
{
	static char esc[2 * PATH_MAX + 1];
	struct argv a = {0};
	int chan[2] = {-1, -1}, con[2] = {-1, -1}, qmp[2] = {-1, -1};
	vm->virtiofsd = 0; /* fail: reads it */
	vm->qmp_fd = -1;
	vm->alive[0] = vm->alive[1] = -1;
	bool micro = !strcmp(o->machine, "microvm");
	enum husk_accel accel = o->accel;
	if (accel == HUSK_ACCEL_AUTO)
		accel = husk_kvm_usable() ? HUSK_ACCEL_KVM : HUSK_ACCEL_TCG;

	add(&a, o->qemu);
	add(&a, "-M");
	addf(&a, "%s%s",
	     micro ? "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off" : o->machine,
	     o->virtiofs || o->mem_file || o->incoming ? ",memory-backend=mem" : "");
	if (micro) {
		/* virtio 1.0 over MMIO: vhost-user devices refuse legacy virtio,
		 * and the modern transport is the one worth having anyway */
		add(&a, "-global");
		add(&a, "virtio-mmio.force-legacy=false");
	}
	if (o->mem_file) {
		/* a snapshot's RAM (snapshot.h): the file itself while it is
		 * made, a private copy-on-write mapping of it when restored */
		add(&a, "-object");
		addf(&a, "memory-backend-file,id=mem,size=%uM,mem-path=%s,share=%s", o->mem_mib,
		     qemu_escape(o->mem_file, esc), o->mem_file_shared ? "on" : "off");
	} else if (o->incoming) {
		/* a snapshot's whole stream: RAM of our own, named as the
		 * snapshot's was */
		add(&a, "-object");
		addf(&a, "memory-backend-ram,id=mem,size=%uM", o->mem_mib);
	} else if (o->virtiofs) {
		/* vhost-user needs guest memory it can map: a shared memfd */
		add(&a, "-object");
		addf(&a, "memory-backend-memfd,id=mem,size=%uM,share=on", o->mem_mib);
	}
	add(&a, "-accel");
	/* TCG's cache of translated code grows to 1 GiB by default: bound it,
	 * so the VM's host memory is bounded (proxy-res.c) */
	if (accel == HUSK_ACCEL_KVM)
		add(&a, "kvm");
	else
		addf(&a, "tcg,tb-size=%d", HUSK_VM_TCG_TB_MIB);
	add(&a, "-cpu");
	add(&a, accel == HUSK_ACCEL_KVM ? "host" : "max");
	add(&a, "-m");
	addf(&a, "%u", o->mem_mib);
	add(&a, "-smp");
	addf(&a, "%u", o->cpus);
	add(&a, "-nodefaults");
	add(&a, "-no-user-config");
	add(&a, "-display");
	add(&a, "none");
	add(&a, "-no-reboot");
	/* QEMU's own seccomp filter: no obsolete system calls, no setuid, no
	 * fork/exec, no scheduler or resource changes (docs/security.md) */
	add(&a, "-sandbox");
	add(&a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	if (o->state_dir) {
		/* also names the container's state on QEMU's command line */
		add(&a, "-pidfile");
		addf(&a, "%s/qemu.pid", o->state_dir);
	}
	add(&a, "-kernel");
	add(&a, o->kernel);
	add(&a, "-initrd");
	add(&a, o->initrd);
	add(&a, "-append");
	/* HUSK_KERNEL_APPEND: extra kernel parameters, for debugging boots */
	/* no_timer_check: a loaded host can starve the guest through the IO-APIC
	 * timer check, which then panics ("MP-BIOS bug: 8254 timer not connected") */
	/* init_on_alloc=1 under TCG: virtiofsd writes file data straight into
	 * guest RAM, past TCG's tracking of writes to pages it has translated
	 * code from. A freed page of one program's text that comes back as
	 * page cache of another static binary (same load address) ran the old
	 * translations: a SIGSEGV now and then (docs/decisions.md). Zeroing a
	 * page when it is allocated is a CPU write that TCG sees, and drops
	 * them. (Not init_on_free: that zeroes all of RAM as boot frees it,
	 * making the whole guest resident on the host.) Not with 9p: QEMU
	 * writes 9p's data through its DMA path, which TCG tracks. */
	addf(&a, "console=ttyS0 reboot=t panic=-1 random.trust_cpu=on no_timer_check %s%s %s",
	     o->debug ? "husk.debug" : "quiet",
	     accel == HUSK_ACCEL_TCG && o->virtiofs ? " init_on_alloc=1" : "",
	     getenv("HUSK_KERNEL_APPEND") ?: "");
	/* QMP, for pausing and resuming the VM (qmp.h): a connected socket
	 * QEMU takes as a client chardev, as the console's */
	add(&a, "-chardev");
	addf(&a, "socket,id=qmp,fd=%d", QMP_FD);
	add(&a, "-mon");
	add(&a, "chardev=qmp,mode=control");
	add(&a, "-chardev");
	add(&a, "socket,id=con,fd=4");
	add(&a, "-serial");
	add(&a, "chardev:con");
	add(&a, "-device");
	add(&a, micro ? "virtio-serial-device,max_ports=2" : "virtio-serial-pci,max_ports=2");
	add(&a, "-chardev");
	add(&a, "socket,id=agent,fd=3,server=on,wait=off");
	add(&a, "-device");
	add(&a, "virtserialport,chardev=agent,name=" HUSK_AGENT_PORT);
	if (o->virtiofs) {
		add(&a, "-chardev");
		add(&a, "socket,id=vfs,fd=5");
		add(&a, "-device");
		add(&a, micro ? "vhost-user-fs-device,chardev=vfs,tag=" HUSK_SHARE_TAG
			      : "vhost-user-fs-pci,chardev=vfs,tag=" HUSK_SHARE_TAG);
	} else {
		/* no readonly=on: what is read-only in the share is read-only by
		 * its mounts on the host (share.h); remap: the rootfs and the
		 * bind sources may come from several host filesystems, whose
		 * inode numbers must not collide in the guest */
		add(&a, "-fsdev");
		addf(&a, "local,id=share,path=%s,security_model=%s,multidevs=remap",
		     qemu_escape(o->share_path, esc), geteuid() == 0 ? "passthrough" : "none");
		add(&a, "-device");
		add(&a, micro ? "virtio-9p-device,fsdev=share,mount_tag=" HUSK_SHARE_TAG
			      : "virtio-9p-pci,fsdev=share,mount_tag=" HUSK_SHARE_TAG);
	}
	bool vhost =
	    o->nnics && accel == HUSK_ACCEL_KVM && access("/dev/vhost-net", R_OK | W_OK) == 0;
	for (size_t i = 0, tap = 0; i < o->nnics; i++) {
		const struct husk_vm_nic *nic = &o->nics[i];
		const unsigned char *m = nic->mac;
		add(&a, "-netdev");
		if (nic->fd >= 0)
			/* vhost-net moves the NIC's data path into the host kernel
			 * where the host has it (not here: no /dev/vhost-net) */
			addf(&a, "tap,id=net%zu,fd=%zu%s", i, NIC_FD0 + tap++,
			     vhost ? ",vhost=on" : "");
		else
			addf(&a, "user,id=net%zu", i);
		char mtu[32] = "";
		if (nic->mtu)
			snprintf(mtu, sizeof mtu, ",host_mtu=%u", nic->mtu);
		add(&a, "-device");
		addf(&a, "%s,netdev=net%zu,mac=%02x:%02x:%02x:%02x:%02x:%02x%s%s",
		     micro ? "virtio-net-device" : "virtio-net-pci", i, m[0], m[1], m[2], m[3],
		     m[4], m[5], mtu, micro ? "" : ",romfile=");
	}
	if (o->mem_file && o->mem_file_shared) {
		/* a snapshot in the making is saved paused; without the run
		 * state in its stream, a restored VM runs once loaded */
		add(&a, "-global");
		add(&a, "migration.store-global-state=off");
	}
	if (o->incoming) {
		/* the stream lands after the taps (exec_qemu) */
		add(&a, "-incoming");
		/* shared RAM: the capability first, over QMP (the proxy's
		 * husk_snapshot_incoming) */
		if (o->ignore_shared)
			add(&a, "defer");
		else
			addf(&a, "fd:%d", husk_vm_extra_fd(o, 0));
	}
	a.v[a.n] = NULL;

	if (agent_listen(o, &chan[1], &chan[0], err) < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
		husk_err_sys(err, errno, "socketpair");
		goto fail;
	}
	if (husk_log_max >= HUSK_LOG_DEBUG) {
		char line[4096] = "";
		for (int i = 0; i < a.n; i++)
			snprintf(line + strlen(line), sizeof line - strlen(line),
				 strpbrk(a.v[i], " \t") ? "'%s' " : "%s ", a.v[i]);
		log_debug("starting %s", line);
	}
	int vfs = -1;
	if (o->virtiofs && husk_virtiofsd_start(o, &vm->virtiofsd, &vfs, err) < 0)
		goto fail;
	struct husk_jail jail;
	bool jailed = make_jail(o, accel, vhost, &jail);
	if (pipe2(vm->alive, O_CLOEXEC) < 0) {
		husk_err_sys(err, errno, "pipe");
		if (vfs >= 0)
			close(vfs);
		goto fail;
	}
	pid_t pid = jailed ? husk_jail_fork() : fork();
	if (pid < 0) {
		husk_err_sys(err, errno, "fork");
		if (vfs >= 0)
			close(vfs);
		goto fail;
	}
	if (pid == 0)
		exec_qemu(o, &a, chan[1], con[1], vfs, qmp[1], vm->alive, jailed ? &jail : NULL);
	close(vm->alive[0]);
	vm->alive[0] = -1;
	if (vfs >= 0)
		close(vfs);
	close(chan[1]);
	close(con[1]);
	close(qmp[1]);
	vm->pid = pid;
	vm->chan_fd = chan[0];
	vm->console_fd = con[0];
	vm->qmp_fd = qmp[0];
	vm->accel = accel;
	return 0;
fail:
	if (vm->virtiofsd > 0) {
		kill(vm->virtiofsd, SIGKILL);
		waitpid(vm->virtiofsd, NULL, 0);
		vm->virtiofsd = 0;
	}
	for (int i = 0; i < 2; i++) {
		if (chan[i] >= 0)
			close(chan[i]);
		if (con[i] >= 0)
			close(con[i]);
		if (qmp[i] >= 0)
			close(qmp[i]);
	}
	return -1;
}
