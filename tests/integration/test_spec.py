"""config.json is what the container gets: each test builds a config from the
one `runc spec` writes, changes the fields under test, runs husk-probe as the
container's process in a real VM and compares its report with the config.
Mounts, namespaces, hostname, process.user, rlimits, capabilities,
noNewPrivileges, oomScoreAdj, masked and read-only paths, sysctls, devices,
root propagation, a read-only root, and the wall between the container and
the agent.
"""

import os
import re
import time

import pytest

from conftest import live_qemus, stderr_lines
from conftest_probe import (RUNC_SPEC, detached, parse_report, probe,  # noqa: F401
                            run_probe, spec_bundle)

CAP = {"CHOWN": 0, "DAC_OVERRIDE": 1, "KILL": 5, "SETGID": 6, "SETUID": 7,
       "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "SYS_PTRACE": 19, "SYS_ADMIN": 21,
       "AUDIT_WRITE": 29}
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
RLIM_INFINITY = 2**64 - 1


def mask(*names):
    return sum(1 << CAP[n] for n in names)


def caps(report):
    return {k: int(v, 16) for k, v in report["caps"].items()}


def mount_at(report, path):
    """The topmost mount at path in the probe's mount table, or None."""
    found = [m for m in report["mounts"] if m["mount_point"] == path]
    return found[-1] if found else None


def opts(m):
    return set(m["options"].split(","))


def super_opts(m):
    return set(m["super"].split(","))


def probe_args(**per):
    """husk-probe argv: per={"masked": [...], "readonly": [...], ...}."""
    argv = ["husk-probe"]
    for opt, values in per.items():
        for v in values:
            argv += ["--" + opt.replace("_", "-"), v]
    return argv


def set_namespaces(cfg, *types):
    cfg["linux"]["namespaces"] = [{"type": t} for t in types]


def wait_qemus_gone(mark, tries=200, step=0.05):
    """Bounded poll (a hang guard, not a timing assertion)."""
    for _ in range(tries):
        if not live_qemus(mark):
            return True
        time.sleep(step)
    return not live_qemus(mark)


# ---------------------------------------------------------------- runc's spec as is


def test_runc_spec_as_is(spec_bundle, run_probe):
    """`runc spec`'s config, only args and terminal changed: read-only root,
    its seven mounts, six namespaces, three capabilities, NOFILE 1024,
    no_new_privs, masked and read-only paths."""
    masked = RUNC_SPEC["linux"]["maskedPaths"]
    args = probe_args(masked=masked, readonly=["/", "/proc/sys", "/proc/sys/kernel/shmmax",
                                               "/dev/shm"])
    r = run_probe(spec_bundle(args, readonly=True))
    assert r["pid"] == 1 and r["ppid"] == 0
    assert [p["pid"] for p in r["procs"]] == [1]
    assert r["hostname"] == "runc"
    three = mask("AUDIT_WRITE", "KILL", "NET_BIND_SERVICE")
    c = caps(r)
    assert (c["CapBnd"], c["CapEff"], c["CapPrm"], c["CapInh"]) == (three, three, three, 0), c
    # Ambient capabilities must also be inheritable: runc's spec has none
    # inheritable, so none can be ambient (the kernel refuses).
    assert c["CapAmb"] == 0, c
    assert r["no_new_privs"] == 1
    assert r["rlimits"]["NOFILE"] == [1024, 1024]
    assert r["umask"] == "0022"
    for m in RUNC_SPEC["mounts"]:
        got = mount_at(r, m["destination"])
        assert got is not None, f"{m['destination']} not mounted: {r['mounts']}"
        want_type = "cgroup2" if m["type"] == "cgroup" else m["type"]
        assert got["fstype"] == want_type, got
    for p in masked:
        rep = r["masked"][p]
        assert not rep["exists"] or rep["empty"], (p, rep)
    assert r["readonly"]["/"]["erofs"], r["readonly"]["/"]
    assert r["readonly"]["/proc/sys/kernel/shmmax"]["erofs"]
    assert r["readonly"]["/proc/sys"]["ro_mount"]
    assert not r["readonly"]["/dev/shm"]["erofs"], r["readonly"]["/dev/shm"]
    assert r["dev_virtio"] == []


# ---------------------------------------------------------------- namespaces


def test_pid_namespace_makes_the_process_pid_1(spec_bundle, run_probe):
    b = spec_bundle(["sh", "-c", "sleep 100 & exec husk-probe"])
    r = run_probe(b)
    assert r["pid"] == 1, r["pid"]
    assert r["ppid"] == 0
    procs = {p["pid"]: p["comm"] for p in r["procs"]}
    # Only the container's processes: the probe and its sleep; no agent.
    # (busybox may run its sleep applet through /proc/self/exe: comm "exe";
    # the probe may look before the forked shell has exec'd it: "sh")
    assert set(procs) == {1, 2} and procs[1] == "husk-probe", procs
    assert procs[2] in ("sleep", "exe", "sh"), procs


def test_without_pid_namespace_the_vm_is_visible(spec_bundle, run_probe):
    """Checks the check above: without a pid namespace the VM's processes
    (the agent as PID 1, kernel threads) are there to be seen."""
    def edit(cfg):
        set_namespaces(cfg, "network", "ipc", "uts", "mount", "cgroup")

    r = run_probe(spec_bundle(edit=edit))
    assert r["pid"] != 1
    pids = {p["pid"] for p in r["procs"]}
    assert 1 in pids and r["pid"] in pids and len(pids) > 2, r["procs"]


NS_KEYS = {"ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup"}


def test_namespaces_differ_from_the_vms(spec_bundle, run_probe):
    """ipc, uts, mount and cgroup namespaces are new: their inodes differ
    from those of the VM's PID 1 (the agent); pid and user are shared. The
    network namespace is the VM's own: it is the mirror of the caller's
    (docs/decisions.md, "The container's network")."""
    def edit(cfg):
        set_namespaces(cfg, "network", *NS_KEYS)
        del cfg["process"]["capabilities"]  # reading /proc/1/ns takes CAP_SYS_PTRACE

    r = run_probe(spec_bundle(probe_args(ns_of=["1"]), edit=edit))
    mine, vm = r["ns"], r["ns_of"]["1"]
    assert all(isinstance(v, int) for v in vm.values()), vm
    for k in NS_KEYS.values():
        assert mine[k] != vm[k], (k, mine, vm)
    for k in ("pid", "user", "net"):
        assert mine[k] == vm[k], (k, mine, vm)


def test_without_namespaces_the_vms_are_shared(spec_bundle, run_probe):
    def edit(cfg):
        set_namespaces(cfg, "mount")
        del cfg["process"]["capabilities"]

    r = run_probe(spec_bundle(probe_args(ns_of=["1"]), edit=edit))
    mine, vm = r["ns"], r["ns_of"]["1"]
    for k in ("pid", "ipc", "uts", "net", "cgroup", "user"):
        assert mine[k] == vm[k], (k, mine, vm)
    assert mine["mnt"] != vm["mnt"]


@pytest.mark.parametrize("ns", ["ipc", "uts", "cgroup"])
def test_namespace_inode_differs_from_a_run_without_it(spec_bundle, run_probe, ns):
    def without(cfg):
        set_namespaces(cfg, "mount")

    def with_(cfg):
        set_namespaces(cfg, "mount", ns)

    base = run_probe(spec_bundle(edit=without, name="without"))
    new = run_probe(spec_bundle(edit=with_, name="with"))
    key = NS_KEYS[ns]
    assert new["ns"][key] != base["ns"][key], (ns, base["ns"], new["ns"])


@pytest.mark.parametrize("uts", [True, False], ids=["own-uts", "vm-uts"])
def test_hostname(spec_bundle, run_probe, uts):
    def edit(cfg):
        cfg["hostname"] = "probe-host.example"
        if not uts:
            set_namespaces(cfg, "pid", "mount")

    r = run_probe(spec_bundle(edit=edit))
    assert r["hostname"] == "probe-host.example"


# ---------------------------------------------------------------- process.user


def test_user_uid_gid_groups_umask(spec_bundle, run_probe):
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 1001],
                                  "umask": 0o027}

    r = run_probe(spec_bundle(edit=edit))
    assert (r["uid"], r["euid"], r["gid"], r["egid"]) == (1000, 1000, 1001, 1001)
    assert sorted(r["groups"]) == [10, 20, 1001]
    assert r["umask"] == "0027"


def test_user_defaults(spec_bundle, run_probe):
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}

    r = run_probe(spec_bundle(edit=edit))
    assert (r["uid"], r["gid"]) == (1000, 1000)
    assert r["groups"] == []
    assert r["umask"] == "0022"


# ---------------------------------------------------------------- rlimits


def test_rlimits(spec_bundle, run_probe):
    def edit(cfg):
        cfg["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
            {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": RLIM_INFINITY},
        ]

    r = run_probe(spec_bundle(edit=edit))
    assert r["rlimits"]["NOFILE"] == [512, 2048]
    assert r["rlimits"]["NPROC"] == [100, 200]
    assert r["rlimits"]["CORE"] == [4096, -1]


# ---------------------------------------------------------------- capabilities


def test_capabilities_reduced_set(spec_bundle, run_probe):
    def edit(cfg):
        cfg["process"]["capabilities"] = {s: ["CAP_CHOWN", "CAP_KILL"] for s in CAP_SETS}

    r = run_probe(spec_bundle(edit=edit))
    c = caps(r)
    assert mask("CHOWN", "KILL") == 0x21
    for k in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert c[k] == 0x21, (k, r["caps"])


def test_capabilities_ambient_for_a_non_root_user(spec_bundle, run_probe):
    """Ambient capabilities survive exec for uid 1000 and land in its
    permitted and effective sets."""
    want = mask("NET_BIND_SERVICE", "KILL")

    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["capabilities"] = {s: ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
                                          for s in CAP_SETS}

    r = run_probe(spec_bundle(edit=edit))
    c = caps(r)
    assert r["uid"] == 1000
    for k in ("CapAmb", "CapInh", "CapPrm", "CapEff", "CapBnd"):
        assert c[k] == want, (k, r["caps"])


def test_capabilities_without_ambient_a_non_root_user_has_none(spec_bundle, run_probe):
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["capabilities"] = {s: ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
                                          for s in CAP_SETS if s != "ambient"}

    r = run_probe(spec_bundle(edit=edit))
    c = caps(r)
    assert c["CapPrm"] == c["CapEff"] == c["CapAmb"] == 0, r["caps"]
    assert c["CapBnd"] == mask("NET_BIND_SERVICE", "KILL")


# ---------------------------------------------------------------- noNewPrivileges, oomScoreAdj


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(spec_bundle, run_probe, nnp):
    def edit(cfg):
        cfg["process"]["noNewPrivileges"] = nnp

    r = run_probe(spec_bundle(edit=edit))
    assert r["no_new_privs"] == (1 if nnp else 0)


@pytest.mark.parametrize("adj", [500, -300, None])
def test_oom_score_adj(spec_bundle, run_probe, adj):
    def edit(cfg):
        if adj is not None:
            cfg["process"]["oomScoreAdj"] = adj

    r = run_probe(spec_bundle(edit=edit))
    assert r["oom_score_adj"] == (adj or 0)


# ---------------------------------------------------------------- masked and read-only paths


def test_masked_paths(spec_bundle, run_probe):
    """Files read as /dev/null, directories as an empty read-only tmpfs;
    paths the guest kernel lacks (/proc/kcore, /proc/keys, /proc/scsi in
    husk's kernel) are skipped."""
    masked = ["/proc/kcore", "/proc/keys", "/proc/scsi", "/proc/timer_list", "/proc/irq",
              "/sys/firmware", "/etc/secret", "/opt/secret", "/no/such/path"]

    def edit(cfg):
        cfg["linux"]["maskedPaths"] = masked

    b = spec_bundle(probe_args(masked=masked, cat=["/etc/secret"],
                               readonly=["/opt/secret", "/sys/firmware"]), edit=edit)
    (b / "rootfs" / "etc" / "secret").write_text("secret file\n")
    (b / "rootfs" / "opt" / "secret").mkdir(parents=True)
    (b / "rootfs" / "opt" / "secret" / "inside").write_text("secret dir\n")
    r = run_probe(b)
    m = r["masked"]
    for p in ("/proc/timer_list", "/proc/irq", "/sys/firmware", "/etc/secret", "/opt/secret"):
        assert m[p]["exists"], (p, m[p])
    for p in masked:
        assert not m[p]["exists"] or m[p]["empty"], (p, m[p])
    assert m["/proc/timer_list"]["kind"] == "devnull"
    assert m["/etc/secret"]["kind"] == "devnull"
    for p in ("/proc/irq", "/sys/firmware", "/opt/secret"):
        assert m[p]["kind"] == "tmpfs" and m[p]["entries"] == 0, (p, m[p])
    assert r["cat"]["/etc/secret"] == ""
    assert r["readonly"]["/opt/secret"]["erofs"], r["readonly"]
    assert r["readonly"]["/sys/firmware"]["ro_mount"], r["readonly"]
    assert not m["/no/such/path"]["exists"]


def test_readonly_paths(spec_bundle, run_probe):
    ro = ["/proc/sys", "/proc/bus", "/etc"]

    def edit(cfg):
        cfg["linux"]["readonlyPaths"] = ro

    args = probe_args(readonly=["/proc/sys", "/proc/sys/kernel/shmmax",
                                "/proc/sys/net/ipv4/ip_forward", "/proc/bus", "/etc",
                                "/etc/passwd", "/tmp", "/proc/self/oom_score_adj"])
    b = spec_bundle(args, edit=edit)
    (b / "rootfs" / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    r = run_probe(b)
    rep = r["readonly"]
    for p in ("/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward", "/etc",
              "/etc/passwd"):
        assert rep[p]["erofs"], (p, rep[p])
    for p in ro:
        assert rep[p]["ro_mount"], (p, rep[p])
        assert "ro" in opts(mount_at(r, p)), mount_at(r, p)
    # Not in readonlyPaths: writable.
    assert not rep["/tmp"]["erofs"] and not rep["/tmp"]["ro_mount"], rep["/tmp"]
    assert rep["/proc/self/oom_score_adj"]["error"] is None, rep["/proc/self/oom_score_adj"]


# ---------------------------------------------------------------- sysctl


def test_sysctl(spec_bundle, run_probe):
    """Namespaced sysctls in the container's new network, ipc and uts
    namespaces; /proc/sys is read-only afterwards, as runc's spec asks."""
    sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789",
              "kernel.msgmax": "4096", "kernel.domainname": "example.org"}

    def edit(cfg):
        cfg["linux"]["sysctl"] = sysctl

    r = run_probe(spec_bundle(probe_args(sysctl=list(sysctl)), edit=edit))
    assert r["sysctl"] == sysctl
    assert r["domainname"] == "example.org"
    assert "ro" in opts(mount_at(r, "/proc/sys"))


def test_unknown_sysctl_fails_and_names_it(spec_bundle, husk_runner, state_root):
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"kernel.no_such_knob": "1"}

    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(edit=edit), cid=cid)
    lines = stderr_lines(res)
    assert res.returncode != 0 and res.stdout == b"", (res.returncode, res.stdout)
    assert lines and lines[0].startswith("husk: "), lines
    assert "no_such_knob" in lines[0], lines[0]
    assert not (state_root / cid).exists()


# ---------------------------------------------------------------- devices


def test_devices(spec_bundle, run_probe):
    devices = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o666,
         "uid": 0, "gid": 0},
        {"path": "/dev/loop7", "type": "b", "major": 7, "minor": 7, "fileMode": 0o660,
         "uid": 0, "gid": 6},
        {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600, "uid": 0, "gid": 0},
    ]

    def edit(cfg):
        cfg["linux"]["devices"] = devices

    r = run_probe(spec_bundle(probe_args(exists=[d["path"] for d in devices]), edit=edit))
    for d in devices:
        got = r["exists"][d["path"]]
        assert got["exists"], (d, got)
        assert got["type"] == d["type"], (d, got)
        assert got["mode"] == d["fileMode"], (d, got)
        assert (got["uid"], got["gid"]) == (d["uid"], d["gid"]), (d, got)
        if d["type"] in "cb":
            assert (got["major"], got["minor"]) == (d["major"], d["minor"]), (d, got)


def test_default_dev_nodes(spec_bundle, run_probe):
    nodes = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
             "urandom": (1, 9), "tty": (5, 0)}
    links = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
    paths = [f"/dev/{n}" for n in [*nodes, *links]] + ["/dev/pts/ptmx", "/dev/shm",
                                                        "/dev/mqueue"]
    r = run_probe(spec_bundle(probe_args(exists=paths)))
    e = r["exists"]
    for n, (maj, mi) in nodes.items():
        got = e[f"/dev/{n}"]
        assert (got["exists"], got["type"], got["major"], got["minor"], got["mode"]) == \
            (True, "c", maj, mi, 0o666), (n, got)
    for n, target in links.items():
        got = e[f"/dev/{n}"]
        assert got["exists"] and got["type"] == "l" and got["target"] == target, (n, got)
    pt = e["/dev/pts/ptmx"]
    assert (pt["type"], pt["major"], pt["minor"], pt["mode"]) == ("c", 5, 2, 0o666), pt
    assert e["/dev/shm"]["mode"] == 0o1777, e["/dev/shm"]


# ---------------------------------------------------------------- mounts


def test_runc_default_mounts_and_options(spec_bundle, run_probe):
    r = run_probe(spec_bundle(probe_args(readonly=["/sys", "/sys/fs/cgroup"])))
    proc = mount_at(r, "/proc")
    assert proc["fstype"] == "proc"
    dev = mount_at(r, "/dev")
    assert dev["fstype"] == "tmpfs" and "nosuid" in opts(dev)
    assert {"size=65536k", "mode=755"} <= super_opts(dev), dev
    pts = mount_at(r, "/dev/pts")
    assert pts["fstype"] == "devpts" and {"nosuid", "noexec"} <= opts(pts), pts
    assert {"ptmxmode=666", "mode=620", "gid=5"} <= super_opts(pts), pts
    shm = mount_at(r, "/dev/shm")
    assert shm["fstype"] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= opts(shm), shm
    assert "size=65536k" in super_opts(shm), shm
    mq = mount_at(r, "/dev/mqueue")
    assert mq["fstype"] == "mqueue" and {"nosuid", "noexec", "nodev"} <= opts(mq), mq
    sysfs = mount_at(r, "/sys")
    assert sysfs["fstype"] == "sysfs" and {"ro", "nosuid", "noexec", "nodev"} <= opts(sysfs)
    cg = mount_at(r, "/sys/fs/cgroup")
    assert cg["fstype"] == "cgroup2" and "ro" in opts(cg), cg
    assert r["readonly"]["/sys"]["ro_mount"] and r["readonly"]["/sys/fs/cgroup"]["ro_mount"]


def test_devpts_newinstance_ptmxmode(spec_bundle, run_probe):
    def edit(cfg):
        for m in cfg["mounts"]:
            if m["destination"] == "/dev/pts":
                m["options"] = ["nosuid", "noexec", "newinstance", "ptmxmode=0600", "mode=0600",
                                "gid=5"]

    r = run_probe(spec_bundle(probe_args(exists=["/dev/pts/ptmx", "/dev/ptmx"]), edit=edit))
    pts = mount_at(r, "/dev/pts")
    assert {"ptmxmode=600", "mode=600", "gid=5"} <= super_opts(pts), pts
    assert r["exists"]["/dev/pts/ptmx"]["mode"] == 0o600, r["exists"]
    assert r["exists"]["/dev/ptmx"]["target"] == "pts/ptmx", r["exists"]


def test_tmpfs_mode_and_size(spec_bundle, run_probe):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=2m"]})

    r = run_probe(spec_bundle(probe_args(exists=["/mnt/t"], readonly=["/mnt/t"]), edit=edit))
    t = mount_at(r, "/mnt/t")
    assert t["fstype"] == "tmpfs", t
    assert {"nosuid", "nodev", "noexec"} <= opts(t), t
    assert {"size=2048k", "mode=1770"} <= super_opts(t), t
    assert r["exists"]["/mnt/t"]["mode"] == 0o1770
    assert r["readonly"]["/mnt/t"]["error"] is None


def test_bind_mounts_of_host_paths(spec_bundle, run_probe, tmp_path):
    """A host directory read-only and one read-write (a file written in the
    container appears on the host), a single host file, and a source given
    relative to the bundle."""
    host = tmp_path / "host"
    (host / "ro").mkdir(parents=True)
    (host / "ro" / "hello").write_text("read-only content\n")
    (host / "rw").mkdir()
    (host / "file.txt").write_text("a single file\n")

    def edit(cfg):
        cfg["mounts"] += [
            {"destination": "/mnt/ro", "type": "bind", "source": str(host / "ro"),
             "options": ["rbind", "ro"]},
            {"destination": "/mnt/rw", "type": "bind", "source": str(host / "rw"),
             "options": ["rbind", "rw"]},
            {"destination": "/etc/husk-file", "type": "bind", "source": str(host / "file.txt"),
             "options": ["bind", "ro"]},
            {"destination": "/mnt/rel", "type": "bind", "source": "data", "options": ["bind"]},
        ]

    pargs = probe_args(readonly=["/mnt/ro", "/mnt/ro/hello", "/mnt/rw", "/etc/husk-file"],
                       cat=["/mnt/ro/hello", "/etc/husk-file", "/mnt/rel/in-bundle"],
                       exists=["/etc/husk-file"])
    b = spec_bundle(["sh", "-c", 'echo from the container > /mnt/rw/out && exec "$@"', "sh",
                     *pargs], edit=edit)
    (b / "data").mkdir()
    (b / "data" / "in-bundle").write_text("relative source\n")
    r = run_probe(b)
    assert r["cat"]["/mnt/ro/hello"] == "read-only content\n"
    assert r["readonly"]["/mnt/ro"]["erofs"] and r["readonly"]["/mnt/ro/hello"]["erofs"]
    assert "ro" in opts(mount_at(r, "/mnt/ro"))
    assert not r["readonly"]["/mnt/rw"]["erofs"], r["readonly"]["/mnt/rw"]
    assert (host / "rw" / "out").read_text() == "from the container\n"
    assert r["exists"]["/etc/husk-file"]["type"] == "f"
    assert r["cat"]["/etc/husk-file"] == "a single file\n"
    assert r["readonly"]["/etc/husk-file"]["erofs"]
    assert r["cat"]["/mnt/rel/in-bundle"] == "relative source\n"
    # The host's files are untouched by the read-only mounts.
    assert (host / "ro" / "hello").read_text() == "read-only content\n"
    assert sorted(os.listdir(host / "ro")) == ["hello"]


@pytest.fixture
def host_tree_with_submount(tmp_path):
    """host/dir/sub/under, with a tmpfs holding `over` mounted on host/dir/sub
    in a private mount namespace that husk runs in (the host is untouched).
    Returns (dir, wrap): wrap(argv) runs argv inside that namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a mount namespace")
    d = tmp_path / "host" / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "under").write_text("under the submount\n")
    script = 'mount -t tmpfs tmpfs "$0/sub" && echo over > "$0/sub/over" && exec "$@"'

    def wrap(argv):
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                str(d), *argv]

    return d, wrap


def probe_bind_of_submount(spec_bundle, run_probe, husk_runner, tree, dst, option):
    """Bind the host tree with a submount at dst with option; the probe reads
    dst/sub/over (on the submount) and dst/sub/under (beneath it)."""
    d, wrap = tree

    def edit(cfg):
        cfg["mounts"].append({"destination": dst, "type": "bind", "source": str(d),
                              "options": [option]})

    b = spec_bundle(probe_args(cat=[dst + "/sub/over", dst + "/sub/under"]), edit=edit)
    return run_probe(b, argv=wrap(husk_runner.argv(b)))


def test_rbind_takes_host_submounts(spec_bundle, run_probe, husk_runner,
                                    host_tree_with_submount):
    r = probe_bind_of_submount(spec_bundle, run_probe, husk_runner, host_tree_with_submount,
                               "/mnt/r", "rbind")
    assert r["cat"]["/mnt/r/sub/over"] == "over\n"
    assert r["cat"]["/mnt/r/sub/under"] is None


def test_bind_without_r_leaves_host_submounts_out(spec_bundle, run_probe, husk_runner,
                                                  host_tree_with_submount):
    """A plain "bind" is not recursive (MS_BIND without MS_REC, as in runc):
    the directory under the host's submount shows, not the submount."""
    r = probe_bind_of_submount(spec_bundle, run_probe, husk_runner, host_tree_with_submount,
                               "/mnt/b", "bind")
    assert r["cat"]["/mnt/b/sub/under"] == "under the submount\n", r["cat"]
    assert r["cat"]["/mnt/b/sub/over"] is None, r["cat"]


# ---------------------------------------------------------------- rootfsPropagation


@pytest.mark.parametrize("prop,want", [("shared", r"^shared:\d+$"), ("slave", r"^master:\d+$"),
                                       ("private", None), ("unbindable", r"^unbindable$")])
def test_rootfs_propagation(spec_bundle, run_probe, prop, want):
    def edit(cfg):
        cfg["linux"]["rootfsPropagation"] = prop

    r = run_probe(spec_bundle(edit=edit))
    root = mount_at(r, "/")
    if want is None:
        assert root["propagation"] == [], root
    else:
        assert any(re.match(want, f) for f in root["propagation"]), root


# ---------------------------------------------------------------- root.readonly


def test_readonly_root_with_a_writable_tmp(spec_bundle, run_probe):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "mode=1777"]})

    r = run_probe(spec_bundle(probe_args(readonly=["/", "/bin/busybox", "/tmp", "/dev"]),
                              edit=edit, readonly=True))
    rep = r["readonly"]
    assert rep["/"]["erofs"] and rep["/"]["ro_mount"], rep["/"]
    assert rep["/bin/busybox"]["erofs"], rep["/bin/busybox"]
    assert "ro" in opts(mount_at(r, "/"))
    assert rep["/tmp"]["error"] is None and not rep["/tmp"]["ro_mount"], rep["/tmp"]
    assert rep["/dev"]["error"] is None, rep["/dev"]


def test_readonly_root_still_creates_mount_points(spec_bundle, run_probe):
    """runc makes missing mount points before it remounts the root read-only:
    a read-only root does not stop a mount on a path the image lacks."""
    def edit(cfg):
        cfg["mounts"].append({"destination": "/data/scratch", "type": "tmpfs",
                              "source": "tmpfs", "options": ["nosuid", "nodev"]})

    r = run_probe(spec_bundle(probe_args(readonly=["/", "/data/scratch"]), edit=edit,
                              readonly=True))
    assert mount_at(r, "/data/scratch")["fstype"] == "tmpfs"
    assert r["readonly"]["/"]["erofs"]
    assert r["readonly"]["/data/scratch"]["error"] is None


# ---------------------------------------------------------------- the agent's wall


@pytest.mark.parametrize("shape", ["runc", "no-mounts"])
def test_no_virtio_port_in_dev(spec_bundle, run_probe, shape):
    def edit(cfg):
        if shape == "no-mounts":
            del cfg["mounts"]  # husk's defaults: /proc, a tmpfs /dev, /dev/pts, /dev/shm, /sys

    r = run_probe(spec_bundle(edit=edit))
    assert r["dev_virtio"] == [], r["dev_virtio"]
    assert mount_at(r, "/dev")["fstype"] == "tmpfs", r["mounts"]


def test_agent_mounts_are_not_in_the_container(spec_bundle, run_probe):
    r = run_probe(spec_bundle())
    cfg = RUNC_SPEC
    expected = {"/", *(m["destination"] for m in cfg["mounts"]), *cfg["linux"]["maskedPaths"],
                *cfg["linux"]["readonlyPaths"]}
    points = [m["mount_point"] for m in r["mounts"]]
    assert set(points) <= expected, sorted(set(points) - expected)
    fstypes = {m["fstype"] for m in r["mounts"]}
    assert not fstypes & {"rootfs", "devtmpfs"}, fstypes
    root = mount_at(r, "/")
    share = "9p" if os.environ.get("HUSK_SHARE") == "9p" else "virtiofs"
    assert r["mounts"][0] is root and root["fstype"] == share, r["mounts"][0]
    for m in r["mounts"]:
        assert "husk" not in m["mount_point"] and "husk" not in m["root"], m


def test_kill_all_inside_a_pid_namespace(spec_bundle, detached, husk_runner, tmp_path):
    """`kill -9 -1` from an exec'd process kills the container's other
    processes but not its init (PID 1 of the namespace) nor the agent: the
    container still serves execs; delete leaves no VM."""
    cid = detached.start(spec_bundle(["sleep", "1000"]))
    res = detached.husk("exec", cid, "sh", "-c",
                        "sleep 500 & sleep 600 & kill -9 -1; echo killed $?")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"killed 0\n"
    assert detached.status(cid) == "running"
    res = detached.husk("exec", cid, "husk-probe", "--ns-of", "1")
    assert res.returncode == 0, res.stderr
    r = parse_report(res.stdout)
    # The killed sleeps may linger as zombies: their parent shell is gone and
    # the namespace's init (sleep) never reaps, as under runc. None may live.
    procs = {p["pid"]: p["comm"] for p in r["procs"] if p["state"] != "Z"}
    assert procs == {1: "sleep", r["pid"]: "husk-probe"}, procs
    # The exec'd process is in the init's namespaces, with its caps and limits.
    assert r["ns"] == r["ns_of"]["1"], (r["ns"], r["ns_of"])
    assert int(r["caps"]["CapBnd"], 16) == mask("AUDIT_WRITE", "KILL", "NET_BIND_SERVICE")
    assert r["rlimits"]["NOFILE"] == [1024, 1024] and r["no_new_privs"] == 1
    res = detached.husk("delete", "--force", cid)
    assert res.returncode == 0, res.stderr
    assert wait_qemus_gone(tmp_path), f"QEMU left: {live_qemus(tmp_path)}"


def test_kill_all_without_pid_namespace_stops_cleanly(spec_bundle, detached, tmp_path):
    """Without a pid namespace `kill -9 -1` reaches the container's init (and
    everything else but the agent, the VM's PID 1, and the caller): the
    container stops, husk reports it, refuses execs, and delete leaves no VM."""
    def edit(cfg):
        set_namespaces(cfg, "network", "ipc", "uts", "mount", "cgroup")

    cid = detached.start(spec_bundle(["sleep", "1000"], edit=edit))
    res = detached.husk("exec", cid, "sh", "-c", "kill -9 -1; echo killed $?")
    # The shell survives its own kill(-1), but the container's processes are
    # killed as its init dies: before the shell gets to echo, or after.
    assert (res.returncode, res.stdout) in ((0, b"killed 0\n"), (137, b""),
                                            (137, b"killed 0\n")), res
    assert detached.wait_status(cid, "stopped") == "stopped"
    res = detached.husk("exec", cid, "true")
    assert res.returncode == 125 and b"stopped" in res.stderr, res
    res = detached.husk("delete", cid)
    assert res.returncode == 0, res.stderr
    assert wait_qemus_gone(tmp_path), f"QEMU left: {live_qemus(tmp_path)}"


# ------------------------------------------------------------ user namespace


def test_user_namespace_with_mappings(spec_bundle, husk_runner):
    """A user namespace maps the container's root to host id 100000: the
    process is uid 0 inside, its maps say so, and files the host's root owns
    in the rootfs are unmapped (65534)."""
    def edit(cfg):
        set_namespaces(cfg, "pid", "mount", "user")
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["process"]["args"] = ["sh", "-c",
                                  "cat /proc/self/uid_map /proc/self/gid_map; "
                                  "stat -c '%u %g' /bin/busybox; exec husk-probe"]
        del cfg["process"]["capabilities"]

    res = husk_runner.run(spec_bundle(edit=edit))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert lines[0].split() == ["0", "100000", "65536"], lines
    assert lines[1].split() == ["0", "100000", "65536"], lines
    assert lines[2] == "65534 65534", lines
    r = parse_report("\n".join(lines[3:]).encode())
    assert r["uid"] == 0 and r["gid"] == 0, r
    assert r["ns"]["user"] != 4026531837, r["ns"]  # not the initial user namespace
