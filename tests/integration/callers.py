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
import subprocess
import time

import pytest

import ociimage
from conftest import live_qemus, stop_daemon

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
