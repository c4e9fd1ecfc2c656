"""The suite's daemons and callers: dockerd (Debian's docker.io 20.10),
containerd (1.6, driven with ctr) and podman (4.3), each with a private
configuration, state and storage under a temporary directory, husk registered
or passed as their OCI runtime. The fixtures are session-scoped, so each
daemon starts once per run whichever test files use it (test_docker.py,
test_callers.py, test_matrix.py); conftest.py imports them so that pytest
sees them. At the end of the session each one is stopped and no QEMU of its
containers may be left.

This module imports conftest's helpers: conftest.py imports it last.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import ociimage
from conftest import KEPT_ENV, live_qemus, stop_daemon, wait_pid_gone

HANG_GUARD = 600  # seconds; a guard against hangs, not a timing assertion


def qemu_found(mark):
    """A live QEMU among live_qemus(mark): the mark qemus_gone checks finds
    a running VM, so its finding none afterwards means something."""
    for pid in live_qemus(mark):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("qemu-system"):
                    return True
        except OSError:
            pass
    return False


def qemus_gone(mark):
    """No QEMU (or virtiofsd) whose command line names mark, after a bounded
    wait for the ones being killed."""
    for _ in range(200):
        if not live_qemus(mark):
            return True
        time.sleep(0.05)
    return not live_qemus(mark)


# -------------------------------------------------------------------- docker

def docker_client():
    """Debian's docker 20.10 client: /usr/local/bin/docker, first on PATH, is
    a newer one."""
    for c in ("/usr/bin/docker", shutil.which("docker")):
        if c and os.path.exists(c):
            return c
    return None


@pytest.fixture(scope="session")
def docker(tmp_path_factory, husk):
    """dk(*args, **subprocess.run kw) -> CompletedProcess (text). husk is the
    runtime "husk"; "runc", the default, is Debian's runc. dk.dir is the
    daemon's directory (its data-root is under it), dk.argv the client's
    command line up to the verb."""
    client = docker_client()
    if not shutil.which("dockerd") or not client:
        pytest.fail("docker.io is not installed (scripts/install-deps.sh installs it)")
    d = tmp_path_factory.mktemp("docker")
    # unix socket paths are short: docker's exec-root holds its sockets
    run = f"/run/husk-docker-{os.getpid()}"
    os.makedirs(run, exist_ok=True)
    sock = f"{run}/docker.sock"
    (d / "daemon.json").write_text(json.dumps({
        "runtimes": {"husk": {"path": str(husk)}},
        "storage-driver": "vfs",
        "data-root": str(d / "data"),
        "exec-root": f"{run}/exec",
        "pidfile": f"{run}/docker.pid",
        "hosts": [f"unix://{sock}"],
        "log-level": "warn",
    }))
    log = open(d / "dockerd.log", "w")
    proc = subprocess.Popen(["dockerd", "--config-file", str(d / "daemon.json")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    argv = [client, "-H", f"unix://{sock}"]

    def dk(*args, **kw):
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=kw.pop("timeout", HANG_GUARD),
                              stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)

    for _ in range(1200):
        if os.path.exists(sock) and dk("version").returncode == 0:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    else:
        proc.kill()
    if proc.poll() is not None:
        pytest.fail("dockerd did not start: " + (d / "dockerd.log").read_text()[-3000:])
    image = d / "busybox.tar"
    ociimage.build(str(image))
    r = dk("load", "-i", str(image))
    assert r.returncode == 0, r.stderr
    dk.dir = d
    dk.argv = argv
    yield dk
    ids = dk("ps", "-aq").stdout.split()
    if ids:
        dk("rm", "-f", *ids)
    stop_daemon(proc, log)
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
    shutil.rmtree(run, ignore_errors=True)
    assert qemus_gone(d), "QEMU left running after docker's tests"


# ---------------------------------------------------------------- containerd

@pytest.fixture(scope="session")
def containerd(tmp_path_factory, husk):
    """ctr(*args, check=False, **subprocess.run kw) -> CompletedProcess (text),
    in a namespace of its own. ctr.husk is the husk binary for --runc-binary
    (without it the shim runs Debian's runc); ctr.argv the command line up to
    the verb; ctr.dir the daemon's directory."""
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.fail("containerd is not installed (scripts/install-deps.sh installs it)")
    d = tmp_path_factory.mktemp("containerd")
    sock = d / "containerd.sock"
    (d / "config.toml").write_text(
        'version = 2\nroot = "%s/root"\nstate = "%s/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        '[grpc]\n  address = "%s"\n' % (d, d, sock))
    log = open(d / "containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for _ in range(600):
        if sock.exists() or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert sock.exists(), "containerd did not start: " + (d / "containerd.log").read_text()[-2000:]
    ns = "husk-test-%d" % os.getpid()
    image = d / "busybox.tar"
    ociimage.build(str(image))
    argv = ["ctr", "--address", str(sock), "-n", ns]

    def ctr(*args, check=False, **kw):
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=kw.pop("timeout", HANG_GUARD),
                              stdin=kw.pop("stdin", subprocess.DEVNULL), check=check, **kw)
    r = ctr("images", "import", str(image))
    assert r.returncode == 0, r.stderr
    ctr.dir = d
    ctr.husk = str(husk)
    ctr.argv = argv
    yield ctr
    for task in ctr("task", "ls", "-q").stdout.split():
        ctr("task", "delete", "-f", task)
    for c in ctr("container", "ls", "-q").stdout.split():
        ctr("container", "rm", c)
    stop_daemon(proc, log)
    assert qemus_gone(d), "QEMU left running after containerd's tests"


# -------------------------------------------------------------------- podman

@pytest.fixture(scope="session")
def podman(tmp_path_factory, husk):
    """pm(*args, **subprocess.run kw) -> CompletedProcess (text), with husk as
    the runtime (a later `--runtime runc` among args wins). pm.base is the
    command line up to the verb, pm.dir podman's directory."""
    if not shutil.which("podman"):
        pytest.fail("podman is not installed (scripts/install-deps.sh installs it)")
    d = tmp_path_factory.mktemp("podman")
    for sub in ("root", "runroot", "tmp"):
        (d / sub).mkdir()
    base = ["podman", "--root", str(d / "root"), "--runroot", str(d / "runroot"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file", "--runtime", str(husk), "--tmpdir", str(d / "tmp")]
    image = d / "busybox.tar"
    ociimage.build(str(image))

    def pm(*args, **kw):
        return subprocess.run(base + list(args), capture_output=True, text=True,
                              timeout=kw.pop("timeout", HANG_GUARD),
                              stdin=kw.pop("stdin", subprocess.DEVNULL), **kw)
    r = pm("load", "-i", str(image))
    assert r.returncode == 0, r.stderr
    pm.dir = d
    pm.base = base
    yield pm
    pm("rm", "-a", "-f")
    assert qemus_gone(d), "QEMU left running after podman's tests"


# ------------------------------------------------------- containerd's CRI plugin
#
# A containerd of its own with the CRI plugin (io.containerd.grpc.v1.cri)
# on, driven through the CRI gRPC API (cri.py) as a kubelet would, with two
# runtime handlers: "runc" (Debian's runc) and "husk" (io.containerd.runc.v2
# with BinaryName = the husk the suite drives). Images are the suite's own
# (no registry): ociimage.IMAGE for containers, a pause image whose process
# waits for SIGTERM or SIGKILL. Pods get a CNI network of their own: bridge
# CRI_BRIDGE, host-local addresses from CRI_SUBNET, portmap; nothing is sent
# anywhere but inside the pods and to the bridge.

CRI_PAUSE_IMAGE = "localhost/husk-pause:latest"
# Its shell is PID 1 of the pod's PID namespace, where an untrapped SIGTERM
# is ignored: it traps it. CRI's StopPodSandbox sends SIGKILL.
CRI_PAUSE_CMD = ("sh", "-c", "trap 'kill $! 2>/dev/null; exit 0' TERM INT; "
                 "sleep 2147483647 & wait")
CRI_BRIDGE = "huskcni0"
# not 10.88.0.0/16: podman's default network (cni-podman0) is there
CRI_SUBNET = "10.205.77.0/24"
CRI_NETWORK = "husk-cri-test"
CRI_HANDLERS = ("runc", "husk")


def cri_config(d, sock, run, husk, cni_conf_dir, bin_dir="/usr/lib/cni"):
    """containerd's config.toml (version 2) for the CRI tests. d: containerd's
    root, state and opt go under it; run: a short directory for the runtime
    roots (husk keeps sockets in its state directories)."""
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    return f'''version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{sock}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

{cri}]
  sandbox_image = "{CRI_PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

{cri}.containerd]
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  Root = "{run}/runc"

{cri}.containerd.runtimes.husk]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["husk.vm.*"]
  container_annotations = ["husk.vm.*"]

{cri}.containerd.runtimes.husk.options]
  BinaryName = "{husk}"
  Root = "{run}/husk"

{cri}.cni]
  bin_dir = "{bin_dir}"
  conf_dir = "{cni_conf_dir}"
'''


def cri_conflist(ipam_dir):
    return {"cniVersion": "0.4.0", "name": CRI_NETWORK, "plugins": [
        {"type": "bridge", "bridge": CRI_BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "dataDir": str(ipam_dir),
                  "ranges": [[{"subnet": CRI_SUBNET}]]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}


def procs_mentioning(mark):
    """(pid, command line) of the live processes, this one aside, whose
    command line holds mark: a containerd shim (its -address), husk's
    proxies, QEMU and virtiofsd (their state directory)."""
    from conftest import _proc_cmdline, pid_gone

    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        cl = _proc_cmdline(int(name))
        if cl and any(mark.encode() in a for a in cl) and not pid_gone(int(name)):
            found.append((int(name), b" ".join(cl).decode(errors="replace")))
    return found


def cgroup_dirs(rel):
    """The directories of cgroup rel (a path from the root of each cgroup
    hierarchy) that exist: v1's controllers, v2's unified one."""
    out = []
    for mp in sorted({line.split()[4] for line in open("/proc/self/mountinfo")
                      if " - cgroup" in line}):
        if os.path.isdir(mp + rel):
            out.append(mp + rel)
    return out


def mounts_under(path):
    """Mount points at or below path in this mount namespace."""
    p = str(path).rstrip("/")
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == p or mp.startswith(p + "/"):
                out.append(mp)
    return out


class Cri:
    """The CRI fixture: rt, img, error (cri.Client's), grpc_error (what a
    failed RPC raises), remove_pod(id) (stop and remove it, forcing its
    containers out if need be: returns what went wrong), pb (the compiled messages), dir (containerd's
    directory), state (its state directory), run (the runtime roots'
    directory), roots[handler], log_dir (for pods' log_directory), husk,
    version (the Version RPC's answer), ctr(*args) (ctr in namespace
    k8s.io)."""


@pytest.fixture(scope="session")
def cri(tmp_path_factory, husk):
    import cri as cri_client

    for tool in ("containerd", "ctr", "protoc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing (scripts/install-deps.sh installs it)")
    try:
        import grpc  # noqa: F401
    except ImportError:
        pytest.fail("python3-grpcio is missing (scripts/install-deps.sh installs it)")
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        if not os.path.exists(f"/usr/lib/cni/{plugin}"):
            pytest.fail(f"/usr/lib/cni/{plugin} is missing (containernetworking-plugins)")
    d = tmp_path_factory.mktemp("cri")
    pb = cri_client.compile_proto(tmp_path_factory.mktemp("cri-proto"))
    sock = d / "containerd.sock"
    run = f"/run/husk-cri-{os.getpid()}"
    os.makedirs(run, exist_ok=True)
    (d / "net.d").mkdir()
    (d / "net.d" / "10-husk-cri-test.conflist").write_text(
        json.dumps(cri_conflist(d / "cni-ipam"), indent=2))
    (d / "logs").mkdir()
    (d / "config.toml").write_text(cri_config(d, sock, run, husk, d / "net.d"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUSK_") or k in KEPT_ENV}
    log = open(d / "containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    client = cri_client.Client(pb, sock, HANG_GUARD)
    argv = ["ctr", "--address", str(sock), "-n", "k8s.io"]

    def ctr(*args):
        return subprocess.run(argv + list(args), capture_output=True, text=True,
                              timeout=HANG_GUARD, stdin=subprocess.DEVNULL)

    def logtail():
        return (d / "containerd.log").read_text()[-4000:]

    c = Cri()
    c.rt, c.img, c.error, c.pb, c.ctr = client.rt, client.img, client.error, pb, ctr
    c.grpc_error = client.grpc.RpcError
    c.dir, c.state, c.run, c.log_dir, c.husk = d, d / "state", run, d / "logs", husk
    c.roots = {"runc": f"{run}/runc", "husk": f"{run}/husk"}
    # Pods' cgroup parent (a kubelet always gives one): without it, CRI puts
    # containers under /k8s.io, which runc leaves behind.
    c.cgroup_parent = f"/husk-cri-{os.getpid()}"
    c.image, c.pause_image = ociimage.IMAGE, CRI_PAUSE_IMAGE

    def remove_pod(sandbox_id):
        """Stop and remove a pod; if RemovePodSandbox fails (a task its
        runtime left running), force its containers out (StopContainer,
        then ctr's task kill and delete) and remove it again. Returns what
        went wrong, as strings."""
        problems = []
        client.error("StopPodSandbox", pod_sandbox_id=sandbox_id)
        err = client.error("RemovePodSandbox", pod_sandbox_id=sandbox_id)
        if err is None:
            return problems
        problems.append(f"RemovePodSandbox {sandbox_id}: {err.details()}")
        try:
            cids = [x.id for x in client.rt("ListContainers",
                                            filter={"pod_sandbox_id": sandbox_id}).containers]
        except client.grpc.RpcError:
            cids = []
        for cid in cids:
            client.error("StopContainer", container_id=cid, timeout=0)
            if client.error("RemoveContainer", container_id=cid) is not None:
                ctr("task", "kill", "-s", "SIGKILL", cid)
                ctr("task", "delete", "-f", cid)
                client.error("RemoveContainer", container_id=cid)
        err = client.error("RemovePodSandbox", pod_sandbox_id=sandbox_id)
        if err is not None:
            problems.append(f"RemovePodSandbox {sandbox_id}, forced: {err.details()}")
        return problems

    c.remove_pod = remove_pod
    try:
        for _ in range(600):
            if proc.poll() is not None:
                break
            if sock.exists():
                try:
                    c.version = client.rt("Version", version="v1", timeout=10)
                    break
                except client.grpc.RpcError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail("hang guard: containerd's CRI never answered: " + logtail())
        if proc.poll() is not None:
            pytest.fail("containerd did not start: " + logtail())
        for name, kw in ((ociimage.IMAGE, {}),
                         (CRI_PAUSE_IMAGE, {"entrypoint": CRI_PAUSE_CMD, "cmd": ()})):
            tar = d / (name.rsplit("/", 1)[-1].replace(":", "-") + ".tar")
            ociimage.build(str(tar), name=name, **kw)
            r = ctr("images", "import", str(tar))
            assert r.returncode == 0, r.stderr
        # CRI learns of imported images from containerd's events
        for name in (ociimage.IMAGE, CRI_PAUSE_IMAGE):
            for _ in range(600):
                if client.img("ImageStatus", image={"image": name}).image.id:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"hang guard: CRI never saw image {name}: " + logtail())
        yield c
    finally:
        problems = []
        try:
            for sb in client.rt("ListPodSandbox").items:
                problems += c.remove_pod(sb.id)
        except client.grpc.RpcError as e:
            problems.append(f"ListPodSandbox: {e.details()}")
        client.close()
        stop_daemon(proc, log)
        subprocess.run(["ip", "link", "del", CRI_BRIDGE], capture_output=True)
        if not qemus_gone(d) or not qemus_gone(run):
            problems.append("QEMU left running after the CRI tests")
        # What a runtime left is reported, then ended, so that the machine
        # is left clean: processes (a shim of this containerd, a runtime's)
        # by their PID, then mounts.
        left = procs_mentioning(str(d)) + procs_mentioning(run)
        if left:
            problems.append(f"processes left (killed now): {left}")
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid, _ in left:
                wait_pid_gone(pid)
        for p in (d, run):
            mounts = mounts_under(p)
            if mounts:
                problems.append(f"mounts left (unmounted now): {mounts}")
                for m in sorted(mounts, key=len, reverse=True):
                    subprocess.run(["umount", "-l", m], capture_output=True)
        if not mounts_under(run):
            shutil.rmtree(run, ignore_errors=True)
        for top in cgroup_dirs(c.cgroup_parent):
            for sub, dirs, _ in os.walk(top, topdown=False):
                for cg in [os.path.join(sub, x) for x in dirs] + ([top] if sub == top else []):
                    try:
                        os.rmdir(cg)
                    except OSError as e:
                        problems.append(f"cgroup {cg} left: {e}")
        assert not problems, "; ".join(problems) + "\n" + logtail()
