"""The agent under repetition: 1,000 orphans reaped, sequential execs (400
in make check, HUSK_SOAK_EXECS=1000 in make soak, which repeats the file)
leave its memory and descriptors as they were (and the proxy's descriptors)."""
import json
import os

import pytest

from conftest import HANG_GUARD_S  # noqa: F401

EXECS = int(os.environ.get("HUSK_SOAK_EXECS", "400"))


def agent_usage(husk_cli, cid):
    """VmRSS (KiB) and open fds of the VM's PID 1, read from a container with
    no pid namespace (its /proc shows the agent)."""
    res = husk_cli("exec", cid, "sh", "-c", "grep VmRSS /proc/1/status; ls /proc/1/fd | wc -l")
    assert res.returncode == 0, res.stderr
    rss_line, fds = res.stdout.decode().split("\n")[:2]
    return int(rss_line.split()[1]), int(fds)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_thousand_orphans_are_reaped(make_bundle, husk_runner):
    b = make_bundle(["sh", "-c", "husk-testhelper orphans 1000 && husk-testhelper zombies 5000"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split()[-1] == "0", res.stdout


def test_many_execs_leave_the_agent_as_it_was(make_bundle, husk_cli):
    b = make_bundle(["sleep", "1000000"])
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    proxy = husk_cli.state(c.cid)["pid"]
    # warm up: allocator arenas and libuv's first handles settle
    for _ in range(20):
        assert husk_cli("exec", c.cid, "true").returncode == 0
    rss0, fds0 = agent_usage(husk_cli, c.cid)
    pfds0 = fd_count(proxy)
    for i in range(EXECS):
        res = husk_cli("exec", c.cid, "true")
        assert res.returncode == 0, (i, res.stderr)
    rss1, fds1 = agent_usage(husk_cli, c.cid)
    assert fds1 == fds0, (fds0, fds1)
    assert abs(rss1 - rss0) <= 64, (rss0, rss1)
    assert fd_count(proxy) == pfds0
    assert husk_cli("delete", "--force", c.cid).returncode == 0


def test_twenty_containers_at_once(make_bundle, husk_runner, tmp_path):
    """20 VMs started together on a 2-core machine all finish with their
    process's status, and none is left running."""
    from conftest import live_qemus
    import time
    b = make_bundle(["sh", "-c", "echo ran-$((6*7)); exit 3"])
    procs = [husk_runner.popen(b, flags=("--memory", "96")) for _ in range(20)]
    results = [(p.wait(timeout=HANG_GUARD_S), p.stdout.read(), p.stderr.read()) for p in procs]
    for code, out, err in results:
        assert code == 3, (code, err)
        assert out == b"ran-42\n", (out, err)
    for _ in range(200):
        if not live_qemus(tmp_path):
            break
        time.sleep(0.05)
    assert not live_qemus(tmp_path)
