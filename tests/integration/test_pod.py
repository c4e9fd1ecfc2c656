"""Pods built by calling husk directly with CRI's annotations (as
containerd's CRI plugin marks each config): one VM for the sandbox, the
pod's other containers created inside it. Each rule fast, one VM a test
(test_cri.py drives the same through containerd's CRI API).
"""
import json
import os
import re
import time

import pytest

from conftest import HANG_GUARD_S, live_qemus, pid_gone, vm_mark, wait_child

TYPE = "io.kubernetes.cri.container-type"
SANDBOX = "io.kubernetes.cri.sandbox-id"


def pod_config(role, sandbox=None, shared=("ipc", "uts")):
    """An edit for make_bundle: CRI's annotations, and (for a container)
    namespace paths naming the sandbox's, as CRI writes them."""
    def edit(cfg):
        cfg["annotations"] = {TYPE: role}
        ns = [{"type": "mount"}, {"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
              {"type": "network"}]
        if sandbox:
            cfg["annotations"][SANDBOX] = sandbox
            for n in ns:
                if n["type"] in shared:
                    n["path"] = f"/proc/1/ns/{n['type']}"
            cfg.pop("hostname", None)
        else:
            cfg["hostname"] = "the-pod"
        cfg.setdefault("linux", {})["namespaces"] = ns
        return cfg
    return edit


class Pod:
    def __init__(self, cli, make_bundle):
        self.cli = cli
        self.make_bundle = make_bundle
        self.sid = cli.next_id() + "-sb"
        b = make_bundle(("sleep", "100000"), name=self.sid, edit=pod_config("sandbox"))
        c = cli.create(b, self.sid)
        assert c.proc.returncode == 0, c.stderr
        r = cli("start", self.sid)
        assert r.returncode == 0, r.stderr
        self.pid = c.proc.pid

    def add(self, args, name, start=True, shared=("ipc", "uts"), edit=None):
        def ed(cfg):
            cfg = pod_config("container", self.sid, shared)(cfg)
            if edit:
                edit(cfg)
            return cfg
        b = self.make_bundle(args, name=name, edit=ed)
        c = self.cli.create(b, name)
        if c.proc.returncode == 0 and start:
            r = self.cli("start", name)
            assert r.returncode == 0, r.stderr
        return c

    def proxy(self, cid):
        return self.cli.proxy_pid(cid)


@pytest.fixture
def pod(husk_cli, make_bundle):
    return Pod(husk_cli, make_bundle)


def wait_exit(cli, cid):
    """The exit status the container's proxy records once it has ended it.
    `state` may say stopped a moment before (after `kill KILL` the PID is
    dead first, as with runc), so the record itself is waited for."""
    cli.wait_status(cid, "stopped")
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        saved = json.loads((cli.root / cid / "state.json").read_text())
        if saved.get("status") == "stopped" or time.monotonic() > deadline:
            return saved.get("husk_exit_status")
        time.sleep(0.05)


def test_two_containers_share_the_pods_vm_and_network(pod, husk_cli):
    cli = husk_cli
    srv = pod.add(["sh", "-c", "echo pong | nc -l -p 7777; echo served"], "srv")
    assert srv.proc.returncode == 0, srv.stderr
    cl = pod.add(["sh", "-c", "for i in $(seq 200); do nc 127.0.0.1 7777 && exit 0; "
                  "usleep 50000; done; exit 9"], "cl")
    assert cl.proc.returncode == 0, cl.stderr
    assert wait_exit(cli, "cl") == 0
    assert b"pong" in (cli.tmp / "cl.out").read_bytes()
    assert wait_exit(cli, "srv") == 0
    assert b"served" in (cli.tmp / "srv.out").read_bytes()
    # one VM for the whole pod
    assert len([p for p in live_qemus(vm_mark(cli.root, pod.sid))]) >= 1
    for cid in ("srv", "cl"):
        assert not (cli.root / pod.sid / "share" / cid / "rootfs").is_mount()
    assert cli.state(pod.sid)["status"] == "running"


def test_pod_container_joins_the_sandboxs_namespaces(pod, husk_cli):
    cli = husk_cli
    c = pod.add(["sh", "-c", "hostname; exit 3"], "uts1")
    assert c.proc.returncode == 0, c.stderr
    assert wait_exit(cli, "uts1") == 3
    assert (cli.tmp / "uts1.out").read_bytes().strip() == b"the-pod"


def test_exec_ps_and_state_of_a_pods_container(pod, husk_cli):
    cli = husk_cli
    c = pod.add(["sleep", "100000"], "long1")
    assert c.proc.returncode == 0, c.stderr
    st = cli.state("long1")
    assert st["status"] == "running" and st["id"] == "long1"
    r = cli("exec", "long1", "sh", "-c", "echo in-long; exit 4")
    assert r.returncode == 4 and r.stdout == b"in-long\n", r.stderr
    r = cli("ps", "--format", "json", "long1")
    assert r.returncode == 0 and len(json.loads(r.stdout)) >= 1, r.stderr
    ids = [x["id"] for x in json.loads(cli("list", "--format", "json").stdout)]
    assert {"long1", pod.sid} <= set(ids)
    r = cli("kill", "long1", "KILL")
    assert r.returncode == 0, r.stderr
    assert wait_exit(cli, "long1") == 137
    assert cli.state(pod.sid)["status"] == "running"


def test_container_for_an_unknown_sandbox_is_refused(husk_cli, make_bundle):
    b = make_bundle(("true",), edit=pod_config("container", "no-such-sandbox"))
    c = husk_cli.create(b, "orphan")
    assert c.proc.returncode != 0
    err = c.stderr.decode()
    assert "sandbox no-such-sandbox does not exist" in str(err)
    assert not (husk_cli.root / "orphan").exists()


def test_deleting_a_container_leaves_the_rest_of_the_pod(pod, husk_cli):
    cli = husk_cli
    for n in ("a1", "a2"):
        assert pod.add(["sleep", "100000"], n).proc.returncode == 0
    r = cli("delete", "--force", "a1")
    assert r.returncode == 0, r.stderr
    assert not (cli.root / "a1").exists()
    assert not (cli.root / pod.sid / "share" / "a1").exists()
    r = cli("exec", "a2", "echo", "alive")
    assert r.returncode == 0 and r.stdout == b"alive\n", r.stderr
    assert cli.state(pod.sid)["status"] == "running"


def test_deleting_the_sandbox_stops_its_containers(pod, husk_cli):
    cli = husk_cli
    assert pod.add(["sleep", "100000"], "b1").proc.returncode == 0
    r = cli("delete", "--force", pod.sid)
    assert r.returncode == 0, r.stderr
    assert wait_exit(cli, "b1") == 137
    assert not live_qemus(vm_mark(cli.root, pod.sid))


def test_qemu_killed_under_a_pod_of_three(pod, husk_cli):
    cli = husk_cli
    for n in ("k1", "k2", "k3"):
        assert pod.add(["sleep", "100000"], n).proc.returncode == 0
    os.kill(cli.vm_pid(pod.sid), 9)
    for n in ("k1", "k2", "k3"):
        assert wait_exit(cli, n) == 137
        assert cli.state(n)["status"] == "stopped"
    for n in ("k1", "k2", "k3", pod.sid):
        r = cli("delete", "--force", n)
        assert r.returncode == 0, r.stderr


def test_a_container_too_big_for_the_pod_is_refused(pod, husk_cli):
    def big(cfg):
        cfg["linux"]["resources"] = {"memory": {"limit": 64 << 30}}
    c = pod.add(["true"], "big1", start=False, edit=big)
    assert c.proc.returncode != 0
    assert "does not fit in the pod's VM" in c.stderr.decode()
    assert not (husk_cli.root / pod.sid / "share" / "big1").exists()


def test_a_second_vm_for_a_served_network_namespace_is_refused(husk_cli, make_bundle, tmp_path):
    """A network namespace a husk VM already mirrors (podman's pods name the
    infra container's) gets no second VM: a clear error instead."""
    import subprocess
    ns = f"huskpod{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def netns(cfg):
            cfg.setdefault("linux", {})["namespaces"] = [
                {"type": "mount"}, {"type": "pid"}, {"type": "network", "path": f"/run/netns/{ns}"}]
        first = husk_cli.create(make_bundle(("sleep", "100000"), name="n1", edit=netns), "n1")
        assert first.proc.returncode == 0, first.stderr
        second = husk_cli.create(make_bundle(("true",), name="n2", edit=netns), "n2")
        assert second.proc.returncode != 0
        assert f"network namespace /run/netns/{ns} is served by container n1's VM" in \
            second.stderr.decode()
        assert not (husk_cli.root / "n2").exists()
        r = husk_cli("delete", "--force", "n1")
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_update_of_a_pods_container(pod, husk_cli):
    cli = husk_cli
    def mounts(cfg):
        cfg["mounts"] = [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
                         {"destination": "/sys/fs/cgroup", "type": "cgroup",
                          "source": "cgroup"}]
    assert pod.add(["sleep", "100000"], "u1", edit=mounts).proc.returncode == 0
    r = cli("update", "--memory", "50331648", "u1")
    assert r.returncode == 0, r.stderr
    r = cli("exec", "u1", "sh", "-c",
            "cat /sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/memory.max")
    assert r.returncode == 0 and r.stdout.strip() == b"50331648", (r.stdout, r.stderr)
    r = cli("update", "--memory", str(64 << 30), "u1")
    assert r.returncode != 0 and b"does not fit in the pod's VM" in r.stderr, r.stderr
    r = cli("pause", "u1")
    assert r.returncode != 0 and b"pause the sandbox" in r.stderr, r.stderr


def test_a_pods_container_whose_output_is_unread_is_reported_stopped(pod, husk_cli, make_bundle):
    """As a container of its own (test_faults): exited, its output held for a
    reader that does not read, it is stopped a second after its exit."""
    r, w = os.pipe()
    try:
        def ed(cfg):
            cfg.update(pod_config("container", pod.sid)(cfg))
        b = make_bundle(["sh", "-c", "yes | head -c 1500000; exit 6"], name="held1",
                        edit=ed)
        c = husk_cli.create(b, "held1", stdout=w)
        assert c.proc.returncode == 0, c.stderr
        assert husk_cli("start", "held1").returncode == 0
        assert wait_exit(husk_cli, "held1") == 6
    finally:
        os.close(w)
        os.close(r)


def test_sources_mounted_after_the_sandbox_started(pod, husk_cli, make_bundle, tmp_path):
    """containerd mounts a container's rootfs (and kubelet its volumes) after
    the pod's VM runs: the member proxy takes them as they are mounted where
    it was called, not as the sandbox proxy's older mount namespace has them."""
    import shutil
    import subprocess
    def ed(cfg):
        cfg.update(pod_config("container", pod.sid)(cfg))
        cfg["mounts"] = [{"destination": "/vol", "type": "bind", "source": str(vol),
                          "options": ["rbind", "ro"]}]
    vol = tmp_path / "vol"
    vol.mkdir()
    b = make_bundle(["sh", "-c", "cat /vol/token; test -x /bin/busybox && exit 5"],
                    name="late1", edit=ed)
    full = tmp_path / "late-rootfs"
    shutil.move(str(b / "rootfs"), str(full))
    (b / "rootfs").mkdir()
    mounted = []
    try:
        for src, dst, extra in ((full, b / "rootfs", ["--bind"]), ("tmpfs", vol, ["-t", "tmpfs"])):
            subprocess.run(["mount", *extra, str(src), str(dst)], check=True)
            mounted.append(dst)
        (vol / "token").write_text("late-volume\n")
        c = husk_cli.create(b, "late1")
        assert c.proc.returncode == 0, c.stderr
        assert husk_cli("start", "late1").returncode == 0
        assert wait_exit(husk_cli, "late1") == 5
        assert (husk_cli.tmp / "late1.out").read_bytes() == b"late-volume\n"
        assert husk_cli("delete", "late1").returncode == 0
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", "-l", str(d)])
    # nothing was made in the caller's rootfs mountpoint itself
    assert not list((b / "rootfs").iterdir())


def test_a_pods_container_whose_program_is_missing(pod, husk_cli):
    """As runc: create finds the program missing and says so; nothing of the
    container is left and the pod goes on."""
    c = pod.add(["/no/such/program"], "miss1", start=False)
    assert c.proc.returncode != 0 and b"/no/such/program" in c.stderr, c.stderr
    assert not (husk_cli.root / "miss1").exists()
    assert not (husk_cli.root / pod.sid / "share" / "miss1").exists()
    assert husk_cli.state(pod.sid)["status"] == "running"
    c = pod.add(["sh", "-c", "exec /no/such/program"], "miss2")
    assert c.proc.returncode == 0, c.stderr
    assert wait_exit(husk_cli, "miss2") == 127
    r = husk_cli("delete", "miss2")
    assert r.returncode == 0, r.stderr
    assert husk_cli.state(pod.sid)["status"] == "running"


def test_start_of_a_container_that_ends_at_once(pod, husk_cli):
    """start's answer reaches its caller though the process has already
    ended and its proxy with it (containerd's CRI starts such containers:
    "the container's proxy went away" was the race)."""
    for n in range(6):
        c = pod.add(["sh", "-c", f"exit {n}"], f"quick{n}")
        assert c.proc.returncode == 0, c.stderr
        assert wait_exit(husk_cli, f"quick{n}") == n
