"""Kubernetes pods through containerd's CRI plugin, with no kubelet: the
tests send what a kubelet would (RunPodSandbox, CreateContainer, ExecSync,
StopPodSandbox...) over the CRI gRPC API (cri.py) to a containerd of their
own (the `cri` fixture, callers.py), once for each runtime handler:

  runc  Debian's runc, the reference: every test passes with it.
  husk  husk through containerd-shim-runc-v2 (BinaryName). A pod is one VM:
        the sandbox (pause) container boots it, the pod's other containers
        are created inside it (husk tells them by the annotations
        io.kubernetes.cri.container-type and io.kubernetes.cri.sandbox-id).

The husk cases are plain tests, never skipped: what husk cannot do yet
fails, with the RPC's error or the check that did not hold.

A pod's containers talk over 127.0.0.1 inside it; the pod's address (from
the fixture's CNI network, 10.205.77.0/24 on bridge huskcni0) is only
looked at, never sent to. Every poll is bounded (a hang guard), nothing is
judged by time.
"""
import itertools
import json
import os
import subprocess
import time

import pytest

import ociimage
from callers import (CRI_BRIDGE, CRI_HANDLERS, CRI_SUBNET, cgroup_dirs, mounts_under,
                     procs_mentioning, qemu_found, qemus_gone)

TRIES = 3000  # polls, 0.1 s apart: a hang guard, not a time limit
PORT = 18080
PAGE = "husk-cri-page"
K8S_NS = "k8s.io"  # the containerd namespace CRI keeps its containers in

_n = itertools.count(1)


def poll(what, fn, tries=TRIES, step=0.1):
    """fn() until it returns something true (returned); a bounded poll."""
    for _ in range(tries):
        v = fn()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"hang guard: {what}")


def rpc_error(e):
    return f"{e.code().name}: {e.details()}"


class Pod:
    """One pod sandbox and its containers, through the CRI."""

    def __init__(self, cri, handler, name):
        self.cri, self.handler, self.pb = cri, handler, cri.pb
        n = next(_n)
        self.name = f"{name}-{n}"
        self.hostname = f"husk-pod-{n}"
        uid = f"uid-{os.getpid()}-{n}"
        self.log_dir = cri.log_dir / self.name
        self.cgroup = f"{cri.cgroup_parent}/pod{uid}"
        self.log_dir.mkdir()
        self.config = {
            "metadata": {"name": self.name, "uid": uid, "namespace": "husk-test", "attempt": 0},
            "hostname": self.hostname,
            "log_directory": str(self.log_dir),
            "labels": {"husk-test": name},
            # husk.vm.*: passed on to the husk handler only (its pod_annotations),
            # in the sandbox's config.json and its containers'
            "annotations": {"husk.vm.test": "from-the-pod", "husk.vm.pod-only": "yes",
                            "other.example/test": "x"},
            # what a kubelet sends for a pod with no securityContext
            "linux": {"cgroup_parent": self.cgroup,
                      "security_context": {"namespace_options": {
                          "network": "POD", "pid": "CONTAINER", "ipc": "POD"}}},
        }
        self.id = None
        self.containers = []  # not removed yet
        self.removed_containers = []
        self.netns = None
        self.removed = False

    def call(self, what, method, **fields):
        """cri.rt(method, **fields); a failed RPC fails the test with what,
        the handler and the RPC's error."""
        try:
            return self.cri.rt(method, **fields)
        except self.cri.grpc_error as e:
            err = rpc_error(e)
        pytest.fail(f"{what} ({self.handler}): {err}")

    def run(self):
        r = self.call("RunPodSandbox", "RunPodSandbox", config=self.config,
                      runtime_handler=self.handler)
        self.id = r.pod_sandbox_id
        info = json.loads(self.status(verbose=True).info["info"])
        for ns in info["runtimeSpec"]["linux"]["namespaces"]:
            if ns["type"] == "network":
                self.netns = ns.get("path")
        return self

    def status(self, verbose=False):
        return self.cri.rt("PodSandboxStatus", pod_sandbox_id=self.id, verbose=verbose)

    def ip(self):
        return self.status().status.network.ip

    def create(self, name, command, start=True):
        """A container of the busybox image running command; its id."""
        cfg = {
            "metadata": {"name": name, "attempt": 0},
            "image": {"image": ociimage.IMAGE},
            "command": list(command),
            "log_path": f"{name}.log",
            "labels": {"husk-test": name},
            "annotations": {"husk.vm.test": "from-the-container"},
            "linux": {"security_context": {"namespace_options": {
                "network": "POD", "pid": "CONTAINER", "ipc": "POD"}}},
        }
        cid = self.call(f"CreateContainer {name}", "CreateContainer", pod_sandbox_id=self.id,
                        config=cfg, sandbox_config=self.config).container_id
        self.containers.append(cid)
        if start:
            self.call(f"StartContainer {name}", "StartContainer", container_id=cid)
        return cid

    def remove_container(self, cid):
        self.call("RemoveContainer", "RemoveContainer", container_id=cid)
        self.containers.remove(cid)
        self.removed_containers.append(cid)

    def cstatus(self, cid):
        return self.cri.rt("ContainerStatus", container_id=cid).status

    def wait_exited(self, cid):
        exited = self.pb.ContainerState.Value("CONTAINER_EXITED")
        return poll(f"container {cid} never exited",
                    lambda: (s := self.cstatus(cid)).state == exited and s)

    def wait_running(self, cid):
        running = self.pb.ContainerState.Value("CONTAINER_RUNNING")
        poll(f"container {cid} never ran", lambda: self.cstatus(cid).state == running)

    def exec(self, cid, *cmd):
        return self.call(f"ExecSync {list(cmd)}", "ExecSync", container_id=cid, cmd=list(cmd))

    def log(self, name):
        p = self.log_dir / f"{name}.log"
        return p.read_text() if p.exists() else ""

    def bundle(self, cid):
        """The OCI bundle's config.json the shim handed the runtime."""
        return json.loads((self.cri.state / "io.containerd.runtime.v2.task" / K8S_NS / cid
                           / "config.json").read_text())

    def ids(self):
        return [self.id] + self.containers + self.removed_containers

    def stop(self):
        self.call("StopPodSandbox", "StopPodSandbox", pod_sandbox_id=self.id)

    def remove(self):
        self.call("RemovePodSandbox", "RemovePodSandbox", pod_sandbox_id=self.id)
        self.removed = True

    def stop_and_remove_leave_nothing(self):
        """StopPodSandbox: every container exited, no VM, the pod's network
        gone (its netns, so any tap in it, and its veth on the bridge).
        RemovePodSandbox: no process, mount, bundle or runtime state of the
        pod left."""
        root = self.cri.roots[self.handler]
        self.stop()
        notready = self.pb.PodSandboxState.Value("SANDBOX_NOTREADY")
        assert self.status().status.state == notready
        exited = self.pb.ContainerState.Value("CONTAINER_EXITED")
        for cid in self.containers:
            assert self.cstatus(cid).state == exited, cid
        for cid in self.ids():
            assert qemus_gone(f"{root}/{K8S_NS}/{cid}/"), f"QEMU of {cid} left after stop"
        if self.netns:
            assert not os.path.exists(self.netns), f"netns {self.netns} left after stop"
        links = subprocess.run(["ip", "-o", "link", "show", "master", CRI_BRIDGE],
                               capture_output=True, text=True).stdout
        assert not links.strip(), f"veth left on {CRI_BRIDGE}: {links}"
        self.remove()
        err = self.cri.error("PodSandboxStatus", pod_sandbox_id=self.id)
        assert err is not None and err.code().name == "NOT_FOUND", err
        left = []
        for _ in range(200):
            left = [p for cid in self.ids() for p in procs_mentioning(cid)]
            if not left:
                break
            time.sleep(0.05)
        assert not left, f"processes of the pod left: {left}"
        mounts = [m for p in (self.cri.dir, self.cri.run) for m in mounts_under(p)
                  if any(cid in m for cid in self.ids()) or m == self.netns]
        assert not mounts, f"mounts of the pod left: {mounts}"
        for cid in self.ids():
            for d in (os.path.join(root, K8S_NS, cid),
                      self.cri.state / "io.containerd.runtime.v2.task" / K8S_NS / cid):
                assert not os.path.exists(d), f"{d} left"
        taps = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert "husk_tap" not in taps, taps
        cgroups = [d for cid in self.ids() for d in cgroup_dirs(f"{self.cgroup}/{cid}")]
        assert not cgroups, f"cgroups of the pod left: {cgroups}"
        for d in cgroup_dirs(self.cgroup):  # the pod's own: a kubelet's to remove
            os.rmdir(d)

    def cleanup(self):
        """After a test that did not remove its pod (it failed): remove it,
        by force if need be, so that the next test starts clean."""
        if self.id and not self.removed:
            self.cri.remove_pod(self.id)
            for d in cgroup_dirs(self.cgroup):
                try:
                    os.rmdir(d)
                except OSError:
                    pass  # the session's end reports it


@pytest.fixture(params=CRI_HANDLERS)
def handler(request):
    return request.param


@pytest.fixture
def pod(cri, handler):
    """pod(name) -> a running Pod of the handler's; removed after the test."""
    made = []

    def make(name="pod"):
        p = Pod(cri, handler, name)
        made.append(p)
        return p.run()

    yield make
    for p in made:
        p.cleanup()


# ------------------------------------------------------------------ the tests

def test_cri_version(cri):
    v = cri.rt("Version", version="v1")
    assert v.runtime_name == "containerd"
    assert v.runtime_api_version == "v1"


def test_sandbox_runs_and_leaves_nothing(cri, handler, pod):
    p = pod("sandbox")
    st = p.status().status
    assert st.state == cri.pb.PodSandboxState.Value("SANDBOX_READY")
    assert st.runtime_handler == handler
    assert st.metadata.name == p.name
    prefix = CRI_SUBNET.rsplit(".", 1)[0] + "."
    assert st.network.ip.startswith(prefix), st.network.ip
    # what stop_and_remove_leave_nothing looks for is there while the pod runs
    assert p.netns and os.path.exists(p.netns), p.netns
    assert any(p.id in m for m in mounts_under(cri.dir)), "no mount of the pod (its shm)"
    assert procs_mentioning(p.id), "no process of the pod (its shim)"
    assert os.path.isdir(f"{cri.roots[handler]}/{K8S_NS}/{p.id}"), "no runtime state"
    if handler == "husk":
        assert qemu_found(f"{cri.roots['husk']}/{K8S_NS}/{p.id}/"), "no VM for the sandbox"
    else:
        assert cgroup_dirs(f"{p.cgroup}/{p.id}"), "no cgroup of the sandbox"
    p.stop_and_remove_leave_nothing()


def test_containers_talk_over_loopback(cri, handler, pod):
    """A server and a client, two containers of one pod, over 127.0.0.1."""
    p = pod("loopback")
    server = p.create("server", [
        "sh", "-c", f"mkdir -p /tmp/www && echo {PAGE} > /tmp/www/index.html && "
        f"exec httpd -f -p 127.0.0.1:{PORT} -h /tmp/www"])
    client = p.create("client", [
        "sh", "-c", "i=0; while [ $i -lt 600 ]; do "
        f"if wget -q -O - http://127.0.0.1:{PORT}/; then exit 0; fi; "
        "i=$((i+1)); sleep 0.2; done; echo never reached the server >&2; exit 1"])
    st = p.wait_exited(client)
    assert st.exit_code == 0, (st.reason, st.message, p.log("client"))
    poll("the page in the client's log", lambda: PAGE in p.log("client"))
    assert p.cstatus(server).state == cri.pb.ContainerState.Value("CONTAINER_RUNNING")
    p.stop_and_remove_leave_nothing()


def test_exec_sync(cri, handler, pod):
    p = pod("exec")
    cid = p.create("sleeper", ["sleep", "2147483647"])
    p.wait_running(cid)
    r = p.exec(cid, "cat", "/etc/hostname")
    assert (r.exit_code, r.stdout.decode()) == (0, p.hostname + "\n"), r.stderr
    r = p.exec(cid, "hostname")
    assert (r.exit_code, r.stdout.decode()) == (0, p.hostname + "\n"), r.stderr
    r = p.exec(cid, "sh", "-c", "echo to-out; echo to-err >&2; exit 7")
    assert r.exit_code == 7
    assert r.stdout == b"to-out\n" and r.stderr == b"to-err\n", (r.stdout, r.stderr)
    p.stop_and_remove_leave_nothing()


def test_container_exit_codes(cri, handler, pod):
    p = pod("exits")
    ok = p.create("ok", ["true"])
    three = p.create("three", ["sh", "-c", "echo bye; exit 3"])
    sleeper = p.create("sleeper", ["sleep", "2147483647"])
    st = p.wait_exited(ok)
    assert (st.exit_code, st.reason) == (0, "Completed"), st
    st = p.wait_exited(three)
    assert (st.exit_code, st.reason) == (3, "Error"), st
    poll("the exiting container's output in its log", lambda: "bye" in p.log("three"))
    # StopContainer with no grace period: SIGKILL
    p.wait_running(sleeper)
    cri.rt("StopContainer", container_id=sleeper, timeout=0)
    st = p.wait_exited(sleeper)
    assert st.exit_code == 137, st
    for cid in (ok, three, sleeper):
        p.remove_container(cid)
        err = cri.error("ContainerStatus", container_id=cid)
        assert err is not None and err.code().name == "NOT_FOUND", err
    assert p.status().status.state == cri.pb.PodSandboxState.Value("SANDBOX_READY")
    p.stop_and_remove_leave_nothing()


def test_pod_ip_in_every_container(cri, handler, pod):
    p = pod("podip")
    ip = p.ip()
    assert ip
    a = p.create("a", ["sleep", "2147483647"])
    b = p.create("b", ["sleep", "2147483647"])
    netns = []
    for cid in (a, b):
        p.wait_running(cid)
        r = p.exec(cid, "ip", "-4", "-o", "addr", "show")
        assert r.exit_code == 0, r.stderr
        assert f"inet {ip}/" in r.stdout.decode(), (cid, r.stdout)
        r = p.exec(cid, "readlink", "/proc/self/ns/net")
        assert r.exit_code == 0, r.stderr
        netns.append(r.stdout)
    assert netns[0] == netns[1], "the pod's containers are in different network namespaces"
    p.stop_and_remove_leave_nothing()


def test_oci_annotations(cri, handler, pod):
    """What the runtime is told: the CRI's annotations in the sandbox's and
    a container's config.json, and husk.vm.* (the pod's and the
    container's) passed on to husk alone."""
    p = pod("annotations")
    sb = p.bundle(p.id)
    a = sb["annotations"]
    assert a["io.kubernetes.cri.container-type"] == "sandbox"
    assert a["io.kubernetes.cri.sandbox-id"] == p.id
    assert a["io.kubernetes.cri.sandbox-name"] == p.name
    husk = handler == "husk"
    assert a.get("husk.vm.test") == ("from-the-pod" if husk else None)
    assert a.get("husk.vm.pod-only") == ("yes" if husk else None)
    assert "other.example/test" not in a
    cid = p.create("c", ["sleep", "2147483647"])
    ct = p.bundle(cid)
    a = ct["annotations"]
    assert a["io.kubernetes.cri.container-type"] == "container"
    assert a["io.kubernetes.cri.sandbox-id"] == p.id
    assert a["io.kubernetes.cri.container-name"] == "c"
    # a container gets the pod's husk.vm.* too; its own win
    assert a.get("husk.vm.test") == ("from-the-container" if husk else None)
    assert a.get("husk.vm.pod-only") == ("yes" if husk else None)
    # the container joins the sandbox's network, IPC and UTS namespaces
    ns = {n["type"]: n.get("path") for n in ct["linux"]["namespaces"]}
    for t in ("network", "ipc", "uts"):
        assert ns.get(t) and ns[t].endswith(f"/ns/{'net' if t == 'network' else t}"), ns
    p.stop_and_remove_leave_nothing()
