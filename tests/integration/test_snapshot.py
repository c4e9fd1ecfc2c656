"""Starting from a snapshot of a booted guest (host-tool/snapshot.h): the
snapshot is made on first use, restored after, made unique, checked, and
any failure boots instead. Snapshots need the 9p share (QEMU cannot migrate
virtio-fs), so these tests choose it. Each test has a snapshot directory of
its own, so what it makes and checks is its own.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, live_qemus, vm_mark

SHOW = ("sh", "-c", "uname -r; cat /proc/sys/kernel/random/uuid; "
        "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; date +%s; exit 7")


@pytest.fixture
def snapdir(tmp_path):
    d = tmp_path / "snapshots"
    d.mkdir(mode=0o700)
    return d


def run(husk_runner, bundle, snapdir, tmp_path, mode=None, extra=None, flags=()):
    log = tmp_path / f"husk-{time.monotonic_ns()}.log"
    env = {"HUSK_SHARE": "9p", "HUSK_SNAPSHOT_DIR": str(snapdir)}
    if mode:
        env["HUSK_TEMPLATE"] = mode
    env.update(extra or {})
    r = husk_runner.run(bundle, flags=flags, env=env,
                        global_flags=("--debug", "--log", str(log)))
    r.log = log.read_text() if log.exists() else ""
    return r


def snapshots(snapdir):
    return sorted(p.name for p in snapdir.iterdir() if not p.name.startswith(".")
                  and not p.name.endswith(".lock"))


def shown(r):
    lines = r.stdout.decode().split("\n")
    return {"kernel": lines[0], "uuid": lines[1], "random": lines[2], "time": int(lines[3])}


def test_made_then_restored_and_correct(husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(SHOW)
    first = run(husk_runner, b, snapdir, tmp_path)
    assert first.returncode == 7, first.stderr
    assert "made snapshot" in first.log, first.log[-2000:]
    assert len(snapshots(snapdir)) == 1
    second = run(husk_runner, b, snapdir, tmp_path)
    assert second.returncode == 7, second.stderr
    assert "the VM was restored from its snapshot" in second.log, second.log[-2000:]
    assert "made snapshot" not in second.log
    # the same guest kernel, booted or restored
    assert shown(first)["kernel"] == shown(second)["kernel"]
    # stdin and stdout relayed as on a boot
    cat = make_bundle(("sh", "-c", "cat; echo done >&2"), name="cat")
    r = husk_runner.run(cat, input=b"through the restored VM\n",
                        env={"HUSK_SHARE": "9p", "HUSK_SNAPSHOT_DIR": str(snapdir)})
    assert r.returncode == 0 and r.stdout == b"through the restored VM\n", r.stderr
    assert r.stderr == b"done\n"


def test_each_restored_vm_has_its_own_random_state_and_the_hosts_clock(
        husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(SHOW)
    run(husk_runner, b, snapdir, tmp_path)  # makes it
    a = run(husk_runner, b, snapdir, tmp_path)
    c = run(husk_runner, b, snapdir, tmp_path)
    for r in (a, c):
        assert r.returncode == 7, r.stderr
        assert "the VM was restored from its snapshot" in r.log
    sa, sc = shown(a), shown(c)
    assert sa["uuid"] != sc["uuid"]
    assert sa["random"] != sc["random"] and len(sa["random"]) == 64
    # the guest's clock is the host's, not the snapshot's
    for s in (sa, sc):
        assert abs(s["time"] - time.time()) < 120, s


def test_a_changed_kernel_or_initrd_makes_a_new_snapshot(husk_runner, make_bundle, snapdir,
                                                          tmp_path, build_dir):
    b = make_bundle(("true",))
    kernel = next(p for p in (build_dir / "kernel" / "vmlinux", build_dir / "kernel" / "bzImage")
                  if p.exists())
    k, i = tmp_path / "vmlinux", tmp_path / "initrd.img"
    shutil.copy(kernel, k)
    shutil.copy(build_dir / "initrd.img", i)
    flags = ("--kernel", str(k), "--initrd", str(i))
    assert run(husk_runner, b, snapdir, tmp_path, flags=flags).returncode == 0
    one = snapshots(snapdir)
    assert len(one) == 1
    r = run(husk_runner, b, snapdir, tmp_path, flags=flags)
    assert "restored" in r.log and snapshots(snapdir) == one
    os.utime(k)  # the kernel changed
    r = run(husk_runner, b, snapdir, tmp_path, flags=flags)
    assert r.returncode == 0 and "made snapshot" in r.log
    two = snapshots(snapdir)
    assert len(two) == 2
    shutil.copy(build_dir / "initrd.img", tmp_path / "initrd2.img")
    os.replace(tmp_path / "initrd2.img", i)  # a new initrd, same path
    r = run(husk_runner, b, snapdir, tmp_path, flags=flags)
    assert r.returncode == 0 and "made snapshot" in r.log
    assert len(snapshots(snapdir)) == 3


def test_a_corrupt_snapshot_is_not_used(husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(SHOW)
    assert run(husk_runner, b, snapdir, tmp_path).returncode == 7
    (name,) = snapshots(snapdir)
    state = snapdir / name / "state"
    data = bytearray(state.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(16)
    state.write_bytes(bytes(data))
    r = run(husk_runner, b, snapdir, tmp_path)
    assert r.returncode == 7, r.stderr
    assert "is not usable (a stream that does not match its manifest): removed; booting" in r.log
    assert "restored from its snapshot" not in r.log
    assert name not in snapshots(snapdir)
    # the next start makes it anew
    r = run(husk_runner, b, snapdir, tmp_path)
    assert r.returncode == 7 and "made snapshot" in r.log


def test_a_restore_qemu_refuses_boots_instead(husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(SHOW)
    assert run(husk_runner, b, snapdir, tmp_path).returncode == 7
    r = run(husk_runner, b, snapdir, tmp_path, extra={"HUSK_TEST_RESTORE_FAIL": "1"})
    assert r.returncode == 7, r.stderr
    assert "restoring the VM from its snapshot failed" in r.log
    assert "booting it instead" in r.log
    assert r.stdout.decode().split("\n")[0]  # it ran


def test_off_and_virtio_fs_boot(husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(("true",))
    r = run(husk_runner, b, snapdir, tmp_path, mode="off")
    assert r.returncode == 0 and not snapshots(snapdir)
    r = husk_runner.run(b, env={"HUSK_SHARE": "virtiofs", "HUSK_SNAPSHOT_DIR": str(snapdir)},
                        global_flags=("--debug", "--log", str(tmp_path / "v.log")))
    assert r.returncode == 0
    assert "cannot come from a snapshot" in (tmp_path / "v.log").read_text()
    assert not snapshots(snapdir)
    r = husk_runner.run(b, env={"HUSK_TEMPLATE": "sometimes"})
    assert r.returncode != 0 and b"HUSK_TEMPLATE" in r.stderr and b"sometimes" in r.stderr


def test_shared_mode_runs_ten_containers_at_once(husk_cli, make_bundle, snapdir, tmp_path):
    b = make_bundle(("sleep", "100000"))
    env = {"HUSK_SHARE": "9p", "HUSK_SNAPSHOT_DIR": str(snapdir), "HUSK_TEMPLATE": "shared"}
    ids = []
    for n in range(10):
        c = husk_cli.create(b, f"sh{n}", env=env, verb=("run", "-d"))
        assert c.proc.returncode == 0, c.stderr
        ids.append(c.cid)
    assert len(snapshots(snapdir)) == 1
    uuids = set()
    for cid in ids:
        assert husk_cli.state(cid)["status"] == "running"
        r = husk_cli("exec", cid, "cat", "/proc/sys/kernel/random/uuid")
        assert r.returncode == 0, r.stderr
        uuids.add(r.stdout)
    assert len(uuids) == 10
    for cid in ids:
        assert husk_cli("delete", "--force", cid).returncode == 0
    assert not live_qemus(vm_mark(husk_cli.root, ids[0]))


def test_q35_restores_too(husk_runner, make_bundle, snapdir, tmp_path):
    b = make_bundle(SHOW)
    first = run(husk_runner, b, snapdir, tmp_path, flags=("--machine", "q35"))
    assert first.returncode == 7 and "made snapshot" in first.log, first.stderr
    second = run(husk_runner, b, snapdir, tmp_path, flags=("--machine", "q35"))
    assert second.returncode == 7, second.stderr
    assert "the VM was restored from its snapshot" in second.log
    assert shown(first)["uuid"] != shown(second)["uuid"]
