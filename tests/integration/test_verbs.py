"""The container's PID on the host (the sentinel), pause and resume, update,
host cgroups, events, and fifos and sockets on the rootfs: issue 11's verbs
driven through husk itself. The callers' view of the same is test_matrix.py."""
import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HANG_GUARD_S, pid_gone, wait_child, wait_pid_gone

SLEEPER = ["sleep", "100000"]


def read_pid(path):
    return int(Path(path).read_text())


def wait_until(pred, limit=HANG_GUARD_S):
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail("hang guard: condition never held")
        time.sleep(0.05)


def err_of(res):
    assert res.returncode != 0, (res.returncode, res.stdout, res.stderr)
    return res.stderr.decode().strip()


def state_file(husk_cli, cid):
    return json.loads((husk_cli.root / cid / "state.json").read_text())


# ----------------------------------------------------------------- the sentinel

def with_binds(src_rw, src_ro):
    def edit(cfg):
        cfg["mounts"] = [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/data-rw", "type": "bind", "source": str(src_rw),
             "options": ["rbind", "rw"]},
            {"destination": "/data-ro", "type": "bind", "source": str(src_ro),
             "options": ["rbind", "ro"]},
        ]
        cfg["linux"] = {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    return edit


def test_sentinel_shows_the_container(make_bundle, husk_cli, tmp_path):
    """What podman cp and podman top do: enter the PID's mount namespace or
    /proc/PID/root and work in "/". They see the rootfs and its bind mounts,
    what they write the guest reads, a read-only bind stays read-only, and
    the PID has a pid namespace of its own."""
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("read-only source\n")
    b = make_bundle(SLEEPER, edit=with_binds(rw, ro))
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid(tmp_path / "pid")
    st = state_file(husk_cli, c.cid)
    assert st["pid"] == pid != st["husk_proxy_pid"]
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "husk-sentinel"
    nspid = [l for l in Path(f"/proc/{pid}/status").read_text().splitlines()
             if l.startswith("NSpid:")][0].split()[1:]
    assert nspid == [str(pid), "1"], nspid
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{st['husk_proxy_pid']}/ns/net")

    root = Path(f"/proc/{pid}/root")
    assert (root / "bin" / "busybox").exists()
    assert (root / "data-ro" / "f").read_text() == "read-only source\n"
    (root / "tmp" / "from-host").write_text("written through the PID's root\n")
    (root / "data-rw" / "into-bind").write_text("into the bind\n")
    assert (rw / "into-bind").read_text() == "into the bind\n"
    with pytest.raises(OSError) as e:
        (root / "data-ro" / "nope").write_text("x")
    assert e.value.errno == errno.EROFS

    res = husk_cli("exec", c.cid, "cat", "/tmp/from-host", "/data-rw/into-bind")
    assert res.stdout == b"written through the PID's root\ninto the bind\n", res.stderr
    # what the guest writes, the PID's root shows
    res = husk_cli("exec", c.cid, "sh", "-c", "echo from-guest > /tmp/g")
    assert res.returncode == 0, res.stderr
    assert (root / "tmp" / "g").read_text() == "from-guest\n"

    # nsenter as podman does: the mount namespace's "/" is the rootfs, its
    # /proc the sentinel's own pid namespace
    res = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "--", "/bin/busybox", "sh", "-c",
                          "cat /proc/1/comm; ls /bin/busybox; ls /proc | grep -c '^[0-9]'"],
                         capture_output=True, timeout=HANG_GUARD_S)
    out = res.stdout.decode().split()
    assert res.returncode == 0 and out[:2] == ["husk-sentinel", "/bin/busybox"], res
    assert int(out[2]) <= 4, out  # the sentinel and nsenter's own, not the host's
    assert husk_cli("delete", "--force", c.cid).returncode == 0


def test_sentinel_read_only_root(make_bundle, husk_cli, tmp_path):
    b = make_bundle(SLEEPER, edit=lambda cfg: cfg["root"].update(readonly=True))
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    with pytest.raises(OSError) as e:
        Path(f"/proc/{read_pid(tmp_path / 'pid')}/root/tmp/x").write_text("x")
    assert e.value.errno == errno.EROFS
    assert husk_cli("delete", c.cid).returncode == 0


def test_sentinel_exit_status_and_signals(make_bundle, husk_cli, tmp_path):
    """The caller (a subreaper, as the shim and conmon are) reaps the PID and
    reads the container's status from it; signals sent to the PID reach the
    container's process; SIGKILL to it kills the container, as with runc."""
    trap = ["sh", "-c", "trap 'exit 7' TERM; touch /tmp/trapped; while :; do sleep 1; done"]
    b = make_bundle(trap)
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", tmp_path / "p1"])
    assert c.returncode == 0, c.stderr
    pid = read_pid(tmp_path / "p1")
    wait_until(lambda: (b / "rootfs/tmp/trapped").exists())
    proxy = husk_cli.proxy_pid(c.cid)
    os.kill(pid, signal.SIGTERM)
    assert wait_child(pid) == 7
    assert husk_cli.state(c.cid)["status"] == "stopped"
    assert wait_pid_gone(proxy)
    assert husk_cli("delete", c.cid).returncode == 0

    c = husk_cli.create(make_bundle(SLEEPER, name="b2"), verb=("run", "-d"),
                        flags=["--pid-file", tmp_path / "p2"])
    assert c.returncode == 0, c.stderr
    pid, proxy, vm = read_pid(tmp_path / "p2"), husk_cli.proxy_pid(c.cid), husk_cli.vm_pid(c.cid)
    os.kill(pid, signal.SIGKILL)
    assert wait_child(pid) == -signal.SIGKILL
    assert wait_pid_gone(proxy) and wait_pid_gone(vm), "the VM outlived its sentinel"
    st = husk_cli.state(c.cid)
    assert st["status"] == "stopped" and state_file(husk_cli, c.cid)["husk_exit_status"] == 137
    assert husk_cli("delete", c.cid).returncode == 0


# ------------------------------------------------------------ pause and resume

COUNTER = ["sh", "-c", "trap 'echo got-term > /tmp/term; exit 3' TERM; "
           "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done"]
# /tmp/count is written after the trap is set: a TERM then reaches the trap


def count_of(b):
    return (b / "rootfs" / "tmp" / "count").read_text().strip()


def test_pause_and_resume_follow_runc(make_bundle, husk_cli, tmp_path):
    """runc's rules: pause freezes it (state "paused"); exec is refused
    unless --ignore-paused; a second pause, a resume of a running one, start
    and delete without --force are refused with runc's messages; kill's
    signal waits for resume."""
    b = make_bundle(COUNTER)
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid(tmp_path / "pid")
    wait_until(lambda: (b / "rootfs/tmp/count").exists())
    assert err_of(husk_cli("resume", c.cid)) == "husk: container not paused"
    assert husk_cli("pause", c.cid).returncode == 0
    assert husk_cli.state(c.cid)["status"] == "paused"
    frozen = count_of(b)
    time.sleep(1)  # not a timing assertion: a running counter would move in this time
    assert count_of(b) == frozen, "the counter moved while paused"

    assert err_of(husk_cli("exec", c.cid, "true")) == \
        "husk: cannot exec in a paused container (use --ignore-paused to override)"
    assert err_of(husk_cli("pause", c.cid)) == "husk: container not running"
    assert err_of(husk_cli("start", c.cid)) == "husk: cannot start a container in the paused state"
    msg = err_of(husk_cli("delete", c.cid))
    assert f"cannot delete container {c.cid} that is not stopped: paused" in msg, msg
    # --ignore-paused: as runc's, it waits for the resume
    late = subprocess.Popen(husk_cli.argv("exec", "--ignore-paused", c.cid, "sh", "-c",
                                          "echo late > /tmp/late"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=husk_cli.env())
    time.sleep(0.5)  # not a timing assertion: it must not have run while paused
    assert late.poll() is None and not (b / "rootfs/tmp/late").exists()
    assert husk_cli("resume", c.cid).returncode == 0
    assert late.wait(timeout=HANG_GUARD_S) == 0, late.stderr.read()
    assert (b / "rootfs/tmp/late").read_text() == "late\n"
    assert husk_cli("pause", c.cid).returncode == 0

    # kill returns at once, the signal waits
    assert husk_cli("kill", c.cid, "TERM").returncode == 0
    assert not (b / "rootfs/tmp/term").exists()
    assert husk_cli.state(c.cid)["status"] == "paused"

    assert husk_cli("resume", c.cid).returncode == 0
    assert wait_child(pid) == 3
    assert (b / "rootfs/tmp/term").read_text() == "got-term\n"
    assert husk_cli("delete", c.cid).returncode == 0


def test_sigkill_resumes_a_paused_container_and_created_ones_pause(make_bundle, husk_cli,
                                                                   tmp_path):
    b = make_bundle(COUNTER)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid(tmp_path / "pid")
    # runc pauses a created container too; it stays created when resumed
    assert husk_cli("pause", c.cid).returncode == 0
    assert husk_cli.state(c.cid)["status"] == "paused"
    assert husk_cli("resume", c.cid).returncode == 0
    assert husk_cli.state(c.cid)["status"] == "created"
    assert husk_cli("start", c.cid).returncode == 0
    wait_until(lambda: (b / "rootfs/tmp/count").exists())
    assert husk_cli("pause", c.cid).returncode == 0
    assert husk_cli("kill", "--all", c.cid, "KILL").returncode == 0
    assert wait_child(pid) == 137
    assert husk_cli("delete", c.cid).returncode == 0

    c = husk_cli.create(make_bundle(SLEEPER, name="b2"), verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    assert husk_cli("pause", c.cid).returncode == 0
    res = husk_cli("delete", "--force", c.cid)
    assert res.returncode == 0 and res.stderr == b"", res.stderr


# ------------------------------------------------------- update, host cgroups

CG = Path("/sys/fs/cgroup")
V2 = (CG / "cgroup.controllers").exists()


def host_cgroup_dir(ctrl, path):
    return CG / path.lstrip("/") if V2 else CG / ctrl / path.lstrip("/")


def host_cpu_quota(path):
    if V2:
        return int((host_cgroup_dir("", path) / "cpu.max").read_text().split()[0])
    return int((host_cgroup_dir("cpu", path) / "cpu.cfs_quota_us").read_text())


def host_memory_limit(path):
    if V2:
        return int((host_cgroup_dir("", path) / "memory.max").read_text())
    return int((host_cgroup_dir("memory", path) / "memory.limit_in_bytes").read_text())


@pytest.fixture
def cgroup_parent():
    """An absolute cgroup parent of this test's own, removed afterwards."""
    parent = f"/husk-test-{os.getpid()}"
    yield parent
    for ctrl in ([""] if V2 else os.listdir(CG)):
        d = host_cgroup_dir(ctrl, parent) if ctrl or V2 else None
        if d and d.is_dir():
            for sub in sorted(d.glob("**/"), key=lambda p: -len(p.parts)):
                try:
                    sub.rmdir()
                except OSError:
                    pass


def limited(path, cgroup_mount=True):
    def edit(cfg):
        cfg["mounts"] = [{"destination": "/proc", "type": "proc", "source": "proc"}]
        if cgroup_mount:
            cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup",
                                  "source": "cgroup"})
        cfg["linux"] = {"cgroupsPath": path,
                        "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "cgroup"}],
                        "resources": {"memory": {"limit": 128 << 20},
                                      "cpu": {"quota": 50000, "period": 100000}}}
    return edit


def test_host_cgroup_holds_and_bounds_the_vm(make_bundle, husk_cli, cgroup_parent):
    path = f"{cgroup_parent}/vm1"
    c = husk_cli.create(make_bundle(SLEEPER, edit=limited(path)), verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    st = state_file(husk_cli, c.cid)
    procs = {int(p) for p in (host_cgroup_dir("memory", path) / "cgroup.procs").read_text().split()}
    names = {Path(f"/proc/{p}/comm").read_text().strip() for p in procs}
    assert {st["pid"], st["husk_proxy_pid"], st["husk_vm_pid"]} <= procs, (st, procs)
    assert names <= {"husk", "husk-sentinel", "qemu-system-x86", "virtiofsd"}, names
    # RAM: the limit plus 64 MiB of headroom; the host allows 256 MiB more
    assert host_memory_limit(path) == (128 + 64 + 256) << 20
    assert host_cpu_quota(path) == 50000
    # ps --format json: the cgroup's host PIDs
    res = husk_cli("ps", "--format", "json", c.cid)
    assert set(json.loads(res.stdout)) == procs, res
    # events --stats: runc's JSON, the VM's figures
    res = husk_cli("events", "--stats", c.cid)
    assert res.returncode == 0, res.stderr
    ev = json.loads(res.stdout)
    assert ev["type"] == "stats" and ev["id"] == c.cid
    assert ev["data"]["memory"]["usage"]["usage"] > 0
    assert ev["data"]["memory"]["usage"]["limit"] == host_memory_limit(path)
    assert ev["data"]["pids"]["current"] >= 3
    assert husk_cli("delete", "--force", c.cid).returncode == 0
    assert not host_cgroup_dir("memory", path).exists(), "delete left the host cgroup"
    assert "not running" in err_of(husk_cli("events", "--stats", "no-such"))  \
        or "does not exist" in err_of(husk_cli("events", "--stats", "no-such"))


def test_update_changes_guest_and_host_limits(make_bundle, husk_cli, cgroup_parent, tmp_path):
    path = f"{cgroup_parent}/vm2"
    c = husk_cli.create(make_bundle(SLEEPER, edit=limited(path)), verb=("run", "-d"))
    assert c.returncode == 0, c.stderr

    def guest(f):
        res = husk_cli("exec", c.cid, "cat", f"/sys/fs/cgroup/{f}")
        assert res.returncode == 0, res.stderr
        return res.stdout.decode().strip()

    assert guest("memory.max") == str(128 << 20)
    res = husk_cli("update", "--memory", "64m", "--cpu-quota", "30000", "--pids-limit", "40",
                   c.cid)
    assert res.returncode == 0 and res.stdout == b"" and res.stderr == b"", res
    assert guest("memory.max") == str(64 << 20)
    assert guest("cpu.max") == "30000 100000"
    assert guest("pids.max") == "40"
    assert host_cpu_quota(path) == 30000
    # -r: the resources as JSON; the flags are not read then
    (tmp_path / "r.json").write_text(json.dumps({"pids": {"limit": 60}}))
    res = husk_cli("update", "-r", tmp_path / "r.json", "--pids-limit", "5", c.cid)
    assert res.returncode == 0, res.stderr
    assert guest("pids.max") == "60" and guest("memory.max") == str(64 << 20)
    res = husk_cli("update", "-r", "-", c.cid, input=b'{"memory": {"limit": -1}}')
    assert res.returncode == 0, res.stderr
    assert guest("memory.max") == "max"
    # past what the VM booted with: a clear error naming the figures
    msg = err_of(husk_cli("update", "--memory", "4g", c.cid))
    assert "memory limit 4294967296 exceeds what the VM can give" in msg, msg
    assert "192 MiB" in msg, msg
    assert guest("memory.max") == "max"
    assert "invalid value" in err_of(husk_cli("update", "--memory", "12x", c.cid))
    assert husk_cli("delete", "--force", c.cid).returncode == 0
    assert "does not exist" in err_of(husk_cli("update", "--memory", "64m", c.cid))


def test_systemd_cgroup_path(make_bundle, husk_cli, cgroup_parent):
    """--systemd-cgroup reads slice:prefix:name as runc does; husk makes the
    directories itself."""
    slice_ = f"husk-test-{os.getpid()}.slice"
    c = husk_cli.create(make_bundle(SLEEPER, edit=limited(f"{slice_}:husk:vm3",
                                                          cgroup_mount=False)),
                        verb=("run", "-d"), global_flags=["--systemd-cgroup"])
    try:
        assert c.returncode == 0, c.stderr
        d = host_cgroup_dir("memory", f"/husk.slice/husk-test.slice/{slice_}/husk-vm3.scope")
        # husk-test-<pid>.slice expands to husk.slice/husk-test.slice/husk-test-<pid>.slice
        assert d.is_dir(), sorted(p for p in (CG / ("" if V2 else "memory")).iterdir())
        assert husk_cli.proxy_pid(c.cid) in {int(p) for p in (d / "cgroup.procs").read_text().split()}
        assert husk_cli("delete", "--force", c.cid, global_flags=["--systemd-cgroup"]).returncode == 0
        assert not d.exists()
    finally:
        for ctrl in ([""] if V2 else os.listdir(CG)):
            base = (CG / ctrl) if ctrl else CG
            top = base / "husk.slice"
            if top.is_dir() and not top.is_symlink():
                for sub in sorted(top.glob("**/"), key=lambda p: -len(p.parts)):
                    try:
                        sub.rmdir()
                    except OSError:
                        pass


def test_bad_cgroups_path_is_refused(make_bundle, husk_cli):
    c = husk_cli.create(make_bundle(SLEEPER, edit=limited("/a/../../b", cgroup_mount=False)))
    assert c.returncode != 0
    assert "linux.cgroupsPath" in c.stderr.decode(), c.stderr


# ------------------------------------------------- fifos and sockets on the rootfs

@pytest.mark.skipif(os.environ.get("HUSK_SHARE") == "9p", reason="QEMU's 9p makes no fifos")
def test_fifo_and_unix_socket_on_the_rootfs(make_bundle, husk_runner):
    """Databases and supervisors put sockets on the rootfs: over virtio-fs
    (the default) mkfifo and bind() work, as under runc."""
    script = ("mkfifo /tmp/f && (echo through-fifo > /tmp/f &) && cat /tmp/f && "
              "husk-testhelper unix-echo /tmp/s")
    b = make_bundle(["sh", "-c", script])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"through-fifo\nthrough-socket\n", res
    assert (b / "rootfs" / "tmp" / "f").is_fifo() and (b / "rootfs" / "tmp" / "s").is_socket()


def test_9p_refuses_fifos_with_a_clear_errno(make_bundle, husk_runner):
    """The documented limit of --share 9p (docs/decisions.md)."""
    res = husk_runner.run(make_bundle(["sh", "-c", "mkfifo /tmp/f"]), flags=["--share", "9p"])
    assert res.returncode == 1
    assert b"No such device or address" in res.stderr, res.stderr


# ------------------------------------------------------ a guest that halts

def test_a_halted_guest_is_lost(make_bundle, husk_cli, tmp_path):
    """`halt -f` in a container (no pid namespace: the VM's kernel halts):
    the agent no longer answers, the proxy notices within its liveness
    limit, the waiting exec ends with an error, the container is reported
    lost (255) and nothing is left running."""
    c = husk_cli.create(make_bundle(SLEEPER), verb=("run", "-d"),
                        flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    pid, vm = read_pid(tmp_path / "pid"), husk_cli.vm_pid(c.cid)
    log = husk_cli.root / c.cid / "husk.log"
    res = husk_cli("exec", c.cid, "halt", "-f")
    assert res.returncode != 0, res
    assert wait_child(pid) == 255
    assert wait_pid_gone(vm), "QEMU outlived the halted guest"
    assert "stopped answering" in log.read_text(), log.read_text()[-2000:]
    assert husk_cli.state(c.cid)["status"] == "stopped"
    assert husk_cli("delete", c.cid).returncode == 0
