"""The guest is hostile, and so may be whoever writes a pod's annotations
(docs/security.md, "Annotations" and "Read-only shares").

Annotations: husk.vm.kernel and husk.vm.initrd name only files under the
allowed directories (the install's share/husk, a build tree's own kernel and
initrd, and the kernel_dirs of a root-owned husk.conf); anything else is
refused at create, naming the annotation, before any QEMU starts. The test
build reads its husk.conf from $HUSK_TEST_CONF; the release build never does.

Read-only shares: a read-only root and each `ro` bind are read-only mounts
on the host in the VM's one share, which QEMU (9p) and virtiofsd see as they
are and cannot remount, so a guest whose own mounts are made writable again,
by a container with every capability that remounts them, still cannot write
the host's files; nor can it add anything to the share's own directories.
"""

import os
import shutil
import subprocess

import pytest

from conftest import HuskCli, live_qemus

ANNOTATION_REFUSED = "is not under an allowed directory"

# every capability the guest kernel (and the agent's table) knows
ALL_CAPS = ["CAP_" + c for c in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")]


def annotate(**ann):
    def edit(cfg):
        cfg.setdefault("annotations", {}).update({f"husk.vm.{k}": str(v) for k, v in ann.items()})
    return edit


def symbols(binary):
    res = subprocess.run(["nm", "--defined-only", str(binary)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return {line.split()[-1] for line in res.stdout.splitlines() if line.strip()}


@pytest.fixture(scope="session")
def as_root():
    if os.geteuid() != 0:
        pytest.skip("a husk.conf is trusted only when root owns it")


@pytest.fixture(scope="session")
def test_build(husk, as_root):
    """The test build reads $HUSK_TEST_CONF (allow.c); another husk cannot
    be pointed at a husk.conf of the test's."""
    if "husk_test_hooks" not in symbols(husk):
        pytest.skip(f"{husk} is not the test build (make build/test/husk; HUSK_BIN)")
    return husk


def build_kernel(build_dir):
    return next(build_dir / "kernel" / k for k in ("vmlinux", "bzImage")
                if (build_dir / "kernel" / k).exists())


@pytest.fixture
def kernel_dir(tmp_path):
    """<tmp>/conf/husk.conf (root's, 0644, in a 0755 directory) allowing
    <tmp>/kernels, which holds files named vmlinux and initrd.img (stand-ins:
    a refused create never boots; copy the build's over them to boot) and a
    symlink out to /etc/shadow; <tmp>/kernelsx/initrd.img lies beside it, in
    a directory whose name the allowed one's is a prefix of.
    Returns (conf, kernels)."""
    kernels = tmp_path / "kernels"
    kernels.mkdir(mode=0o755)
    for name in ("vmlinux", "initrd.img"):
        (kernels / name).write_text("a stand-in\n")
        os.chmod(kernels / name, 0o644)
    os.symlink("/etc/shadow", kernels / "shadow")
    (tmp_path / "kernelsx").mkdir(mode=0o755)
    (tmp_path / "kernelsx" / "initrd.img").write_text("a stand-in\n")
    conf = tmp_path / "conf" / "husk.conf"
    conf.parent.mkdir(mode=0o755)
    os.chmod(conf.parent, 0o755)
    conf.write_text(f"# the test's husk.conf\nkernel_dirs = {kernels}\n")
    os.chmod(conf, 0o644)
    os.chmod(tmp_path, 0o755)
    return conf, kernels


def assert_refused_at_create(cli, created, key, path, state_root, tmp_path):
    """Exit 125 from create, a `husk: ` line naming the annotation and the
    path, no state, no QEMU; nothing of the file on the caller's terminal."""
    err = created.stderr.decode(errors="replace")
    assert created.returncode == 125, (created.returncode, err)
    want = f"annotation husk.vm.{key}: {path} {ANNOTATION_REFUSED}"
    assert any(ln.startswith("husk: ") and want in ln for ln in err.splitlines()), err
    assert not (state_root / created.cid).exists()
    assert not live_qemus(tmp_path)
    assert b"root:" not in created.stderr


def qemu_argv(cli, cid):
    with open(f"/proc/{cli.vm_pid(cid)}/cmdline", "rb") as f:
        return f.read().decode().rstrip("\0").split("\0")


def arg_after(argv, flag):
    assert flag in argv, argv
    return argv[argv.index(flag) + 1]


# ================================================================ annotations


@pytest.mark.parametrize("key", ["kernel", "initrd"])
def test_annotation_host_file_refused_at_create(make_bundle, husk_cli, state_root, tmp_path,
                                                key):
    """The issue's attack: husk.vm.initrd (or kernel) = /etc/shadow."""
    c = husk_cli.create(make_bundle(["true"], edit=annotate(**{key: "/etc/shadow"})))
    assert_refused_at_create(husk_cli, c, key, "/etc/shadow", state_root, tmp_path)


@pytest.mark.parametrize("how", ["symlink", "dot-dot", "beside"])
def test_annotation_escaping_an_allowed_directory_refused(make_bundle, husk_cli, test_build,
                                                          kernel_dir, state_root, tmp_path, how):
    """Resolved before the check: a symlink in an allowed directory that
    points out, a path through `..`, and a file beside the directory (in one
    whose name the allowed one's is a prefix of) are each refused."""
    conf, kernels = kernel_dir
    path = {"symlink": f"{kernels}/shadow",
            "dot-dot": f"{kernels}/../../../../../../../etc/shadow",
            "beside": f"{kernels}x/initrd.img"}[how]
    b = make_bundle(["true"], edit=annotate(kernel=kernels / "vmlinux", initrd=path))
    c = husk_cli.create(b, env={"HUSK_TEST_CONF": str(conf)})
    assert_refused_at_create(husk_cli, c, "initrd", path, state_root, tmp_path)


def test_annotation_under_kernel_dirs_accepted(make_bundle, husk_cli, test_build, kernel_dir,
                                               build_dir, tmp_path):
    """A kernel and initrd in a kernel_dirs directory of a root-owned
    husk.conf boot the VM: QEMU gets them as they resolve. No annotation
    picks the QEMU binary: husk.vm.qemu is no setting of husk's."""
    conf, kernels = kernel_dir
    shutil.copyfile(build_kernel(build_dir), kernels / "vmlinux")
    shutil.copyfile(build_dir / "initrd.img", kernels / "initrd.img")
    fake_qemu = tmp_path / "fake-qemu"
    marker = tmp_path / "fake-qemu-ran"
    fake_qemu.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    os.chmod(fake_qemu, 0o755)
    b = make_bundle(["sleep", "100000"],
                    edit=annotate(kernel=f"{kernels}/./vmlinux",
                                  initrd=f"{kernels}/../kernels/initrd.img", qemu=fake_qemu))
    c = husk_cli.create(b, verb=("run", "-d"), env={"HUSK_TEST_CONF": str(conf)})
    assert c.returncode == 0, c.stderr.decode(errors="replace")
    argv = qemu_argv(husk_cli, c.cid)
    assert os.path.basename(argv[0]).startswith("qemu-system"), argv[0]
    assert arg_after(argv, "-kernel") == str((kernels / "vmlinux").resolve()), argv
    assert arg_after(argv, "-initrd") == str((kernels / "initrd.img").resolve()), argv
    assert not marker.exists()
    res = husk_cli("exec", c.cid, "true")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("flaw", ["conf-writable", "dir-writable", "conf-not-roots",
                                  "entry-not-roots", "entry-writable"])
def test_untrusted_husk_conf_adds_nothing(make_bundle, husk_cli, test_build, kernel_dir,
                                          state_root, tmp_path, flaw):
    """husk.conf counts only when root owns it and its directory and neither
    is group or world writable; a kernel_dirs directory likewise."""
    conf, kernels = kernel_dir
    if flaw == "conf-writable":
        os.chmod(conf, 0o666)
    elif flaw == "dir-writable":
        os.chmod(conf.parent, 0o777)
    elif flaw == "conf-not-roots":
        os.chown(conf, 65534, 65534)
    elif flaw == "entry-not-roots":
        os.chown(kernels, 65534, 65534)
    else:
        os.chmod(kernels, 0o775)
    path = f"{kernels}/initrd.img"
    b = make_bundle(["true"], edit=annotate(initrd=path))
    c = husk_cli.create(b, env={"HUSK_TEST_CONF": str(conf)})
    assert_refused_at_create(husk_cli, c, "initrd", path, state_root, tmp_path)
    # and it says why the file was not read (or the entry left out)
    assert b"is not root's or is group or world writable" in c.stderr, c.stderr


def test_release_build_reads_no_test_conf(make_bundle, build_dir, as_root, kernel_dir,
                                          state_root, tmp_path, subreaper):
    """HUSK_TEST_CONF is the test build's alone: the release husk reads only
    /etc/husk/husk.conf, so the same annotation is refused there."""
    conf, kernels = kernel_dir
    cli = HuskCli(build_dir / "husk", state_root, tmp_path)
    try:
        path = f"{kernels}/initrd.img"
        c = cli.create(make_bundle(["true"], edit=annotate(initrd=path)),
                       env={"HUSK_TEST_CONF": str(conf)})
        assert_refused_at_create(cli, c, "initrd", path, state_root, tmp_path)
    finally:
        cli.cleanup()


def test_annotation_build_kernel_accepted(make_bundle, husk_runner, build_dir):
    """The build's own kernel and initrd, named by annotation, are allowed
    (next to the husk binary, as its defaults are found)."""
    b = make_bundle(["sh", "-c", "echo booted"],
                    edit=annotate(kernel=build_kernel(build_dir),
                                  initrd=build_dir / "initrd.img"))
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert res.stdout == b"booted\n"


# ================================================================ read-only shares


ESCAPE = r"""
# Run in the agent's mount namespace (nsenter -t 1 -m) with the container's
# busybox: make the VM's own mounts of the container's parts writable again,
# then try to change the host's files through them and through the VM's
# share itself. $1: the container's id.
# (mount with a source and a target remounts with only the options given:
# with one argument busybox would add those of /proc/mounts, which
# virtio-fs refuses on a remount)
id=$1
S=/run/husk/.share
B=/run/husk/$id/rootfs/bin/busybox
try() {
	name=$1
	shift
	if "$@" 2>/dev/null; then echo "$name ok"; else echo "$name failed"; fi
}
for part in rootfs binds-ro; do
	try "remount $part" $B mount -o remount,rw none /run/husk/$id/$part
done
for d in /run/husk/$id/rootfs /run/husk/$id/binds-ro/0 $S/$id/rootfs $S/$id/binds-ro/0; do
	try "create $d" $B sh -c "echo pwned > $d/pwned"
	try "append $d" $B sh -c "echo pwned >> $d/marker"
	try "truncate $d" $B truncate -s 0 $d/marker
	try "chmod $d" $B chmod 0777 $d/marker
	try "mkdir $d" $B mkdir $d/pwned-dir
	try "rename $d" $B mv $d/marker $d/marker2
	try "unlink $d" $B rm $d/marker
done
# the share's own directories: the host's state directory
for d in $S $S/$id $S/$id/binds $S/$id/binds-ro; do
	try "create $d" $B sh -c "echo pwned > $d/pwned"
	try "mkdir $d" $B mkdir $d/pwned-dir
	try "mknod $d" $B mkfifo $d/pwned-fifo
done
try "move the mount point $S/$id/rootfs" $B mv $S/$id/rootfs $S/$id/moved
echo done
"""


def privileged_readonly(host_ro, host_rw):
    """A read-only root, a read-only and a writable bind, every capability,
    no pid namespace (PID 1 is the agent) and no seccomp."""
    def edit(cfg):
        p = cfg["process"]
        p["capabilities"] = {k: list(ALL_CAPS) for k in
                             ("bounding", "effective", "permitted", "inheritable", "ambient")}
        p["noNewPrivileges"] = False
        cfg["root"]["readonly"] = True
        cfg["linux"] = {"namespaces": [{"type": "mount"}]}
        cfg["mounts"] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755"]},
            {"destination": "/mnt/ro", "type": "bind", "source": str(host_ro),
             "options": ["rbind", "ro"]},
            {"destination": "/mnt/rw", "type": "bind", "source": str(host_rw),
             "options": ["rbind", "rw"]},
        ]
    return edit


def fsdevs(argv):
    """QEMU's -fsdev options by id."""
    out = {}
    for i, a in enumerate(argv[:-1]):
        if a == "-fsdev":
            kv = dict(o.split("=", 1) if "=" in o else (o, "") for o in argv[i + 1].split(","))
            out[kv["id"]] = kv
    return out


def mount_opts(pid):
    """/proc/PID/mountinfo: each mount point's per-mount options (the last
    mount on a path wins, as lookups see it)."""
    found = {}
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            found[fields[4].replace("\\040", " ")] = fields[5].split(",")
    return found


def program(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[0].decode(errors="replace")


def host_tree(tmp_path):
    host_ro, host_rw = tmp_path / "host" / "ro", tmp_path / "host" / "rw"
    host_ro.mkdir(parents=True)
    host_rw.mkdir()
    (host_ro / "marker").write_text("the host's\n")
    os.chmod(host_ro / "marker", 0o644)
    return host_ro, host_rw


def assert_untouched(d, names_before):
    assert sorted(os.listdir(d)) == names_before, (d, sorted(os.listdir(d)))
    assert (d / "marker").read_text() == "the host's\n"
    assert (d / "marker").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_readonly_shares_hold_at_the_vmm(make_bundle, husk_cli, tmp_path, share):
    host_ro, host_rw = host_tree(tmp_path)
    b = make_bundle(["sleep", "100000"], edit=privileged_readonly(host_ro, host_rw))
    rootfs = b / "rootfs"
    # the mount points exist: the host (the sentinel, as runc) would make
    # them in the rootfs, which is no write of the guest's
    (rootfs / "mnt" / "ro").mkdir(parents=True)
    (rootfs / "mnt" / "rw").mkdir()
    (rootfs / "marker").write_text("the host's\n")
    os.chmod(rootfs / "marker", 0o644)
    (rootfs / "escape.sh").write_text(ESCAPE)
    root_before, ro_before = sorted(os.listdir(rootfs)), sorted(os.listdir(host_ro))
    c = husk_cli.create(b, flags=["--share", share], verb=("run", "-d"))
    assert c.returncode == 0, c.stderr.decode(errors="replace")

    # one filesystem device, serving <state>/share; read-only is the host
    # kernel's: the VMM's view of the share has the flags as the proxy set
    # them (the share's own directories, the rootfs and the ro bind
    # read-only, the writable bind not)
    argv = qemu_argv(husk_cli, c.cid)
    fs = fsdevs(argv)
    state = husk_cli.root / c.cid
    share_dir = str(state / "share")
    if share == "9p":
        assert list(fs) == ["share"], fs
        assert fs["share"]["path"] == share_dir and "readonly" not in fs["share"], fs
        views = [(husk_cli.vm_pid(c.cid), share_dir)]
    else:
        assert fs == {}, fs
        vfs = [p for p in live_qemus(tmp_path) if program(p).endswith("virtiofsd")]
        assert vfs, "no virtiofsd"
        assert all(f"source={share_dir}" in open(f"/proc/{p}/cmdline").read() for p in vfs)
        # the sandboxed one has pivoted into the share: it is its "/"
        views = [(p, "") for p in vfs if "/" + c.cid + "/rootfs" in mount_opts(p)]
        assert views, "no virtiofsd serves from inside the share"
    for pid, top in views:
        m = mount_opts(pid)
        assert "ro" in m[top or "/"], m
        assert "ro" in m[f"{top}/{c.cid}/rootfs"], m
        assert "ro" in m[f"{top}/{c.cid}/binds-ro/0"], m
        assert "rw" in m[f"{top}/{c.cid}/binds/0"], m

    # the container makes its root and its read-only bind writable again:
    # the root's writes stay in the guest, the bind's fail on the host
    res = husk_cli("exec", c.cid, "sh", "-c",
                   "mount -o remount,rw none / && echo in-guest > /pwned-overlay; echo root $?; "
                   "mount -o remount,rw none /mnt/ro && echo pwned > /mnt/ro/pwned; "
                   "echo bind $?; "
                   "echo written > /mnt/rw/out; echo rw $?")
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0, (out, res.stderr)
    assert "rw 0" in out, out  # the writable bind still writes
    assert (host_rw / "out").read_text() == "written\n"

    # the agent's own mounts of the container's parts, made writable from
    # its mount namespace, and the VM's share itself: every write fails on
    # the host, whether QEMU or virtiofsd makes it
    res = husk_cli("exec", c.cid, "nsenter", "-t", "1", "-m", "--",
                   f"/run/husk/{c.cid}/rootfs/bin/busybox", "sh",
                   f"/run/husk/{c.cid}/rootfs/escape.sh", c.cid)
    out = res.stdout.decode(errors="replace")
    assert res.returncode == 0 and "done" in out, (out, res.stderr)
    lines = dict(ln.rsplit(" ", 1) for ln in out.splitlines() if ln.endswith((" ok", " failed")))
    assert lines["remount rootfs"] == "ok", out
    assert lines["remount binds-ro"] == "ok", out
    tried = {k: v for k, v in lines.items() if not k.startswith("remount")}
    assert len(tried) == 4 * 7 + 4 * 3 + 1, out
    assert all(v == "failed" for v in tried.values()), out

    assert_untouched(rootfs, root_before)
    assert_untouched(host_ro, ro_before)
    # nothing landed in the share's directories in the host's state dir
    skel = state / "share"
    assert os.listdir(skel) == [c.cid]
    assert sorted(os.listdir(skel / c.cid)) == ["binds", "binds-ro", "rootfs"]
    assert os.listdir(skel / c.cid / "binds") == ["0"]
    assert os.listdir(skel / c.cid / "binds-ro") == ["0"]
    assert os.listdir(skel / c.cid / "rootfs") == []
