"""Faults from outside: QEMU killed under a running container, the proxy
killed under its VM. husk reports them, the state says stopped, and nothing
is left behind (no QEMU, no virtiofsd)."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, live_qemus, pid_gone, wait_pid_gone


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_for(pred, tries=600, step=0.05):
    for _ in range(tries):
        if pred():
            return True
        time.sleep(step)
    return pred()


def qemu_of(proxy):
    kids = [k for k in children(proxy) if proc_name(k).startswith("qemu-system")]
    assert kids, f"no QEMU under proxy {proxy}: {children(proxy)}"
    return kids[0]


def test_qemu_killed_under_husk_run(make_bundle, husk_runner, tmp_path):
    b = make_bundle(["sh", "-c", "echo up; exec sleep 1000"])
    p = husk_runner.popen(b, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"up\n"
        q = qemu_of(p.pid)
        os.kill(q, signal.SIGKILL)
        code = p.wait(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read().decode()
    assert code == 255, (code, err)
    assert "the VM stopped" in err and "killed by signal 9" in err, err
    assert wait_for(lambda: not live_qemus(tmp_path))


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_qemu_killed_under_a_detached_container(make_bundle, husk_cli, subreaper, tmp_path, share):
    b = make_bundle(["sleep", "1000"])
    c = husk_cli.create(b, verb=("run", "-d"), flags=("--share", share))
    cid = c.cid
    assert c.returncode == 0, c.stderr
    st = husk_cli.state(cid)
    assert st["status"] == "running"
    proxy = st["pid"]
    q = qemu_of(proxy)
    os.kill(q, signal.SIGKILL)
    assert wait_pid_gone(proxy), "the proxy outlived its VM"
    assert husk_cli.state(cid)["status"] == "stopped"
    res = husk_cli("exec", cid, "true")
    assert res.returncode == 125 and b"stopped" in res.stderr, res.stderr
    assert husk_cli("delete", cid).returncode == 0
    assert wait_for(lambda: not live_qemus(tmp_path))


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_proxy_killed_takes_qemu_and_virtiofsd(make_bundle, husk_cli, subreaper, tmp_path, share):
    b = make_bundle(["sleep", "1000"])
    c = husk_cli.create(b, verb=("run", "-d"), flags=("--share", share))
    cid = c.cid
    assert c.returncode == 0, c.stderr
    proxy = husk_cli.state(cid)["pid"]
    helpers = [k for k in children(proxy)
               if proc_name(k).startswith(("qemu-system", "virtiofsd"))]
    assert len(helpers) == (2 if share == "virtiofs" else 1), [proc_name(k) for k in helpers]
    os.kill(proxy, signal.SIGKILL)
    for k in helpers:
        assert wait_pid_gone(k), f"{proc_name(k)} ({k}) outlived the proxy"
    assert husk_cli.state(cid)["status"] == "stopped"
    res = husk_cli("kill", cid, "TERM")
    assert res.returncode != 0 and b"container not running" in res.stderr
    assert husk_cli("delete", cid).returncode == 0
    assert not (husk_cli.root / cid).exists()
    assert wait_for(lambda: not live_qemus(tmp_path))
