"""make bench, network part: husk beside runc (and gVisor's runsc where it
runs here) on the same podman CNI network, in one run. The container runs
the project's static helper (`husk-testhelper tcp-serve`); the host is the
client: TCP throughput host -> container and container -> host, and the
round trip of a new connection with one byte each way."""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import ociimage  # noqa: E402

PORT = 5201
BYTES = int(os.environ.get("BENCH_NET_MIB", "64")) << 20
RR = int(os.environ.get("BENCH_NET_RR", "50"))


def podman_base(work, runtime):
    return ["podman", "--root", os.path.join(work, "root"), "--runroot",
            os.path.join(work, "runroot"), "--storage-driver", "vfs", "--cgroup-manager",
            "cgroupfs", "--events-backend", "file", "--tmpdir", os.path.join(work, "tmp"),
            "--runtime", runtime]


def connect(ip):
    return socket.create_connection((ip, PORT), timeout=120)


def wait_up(ip):
    for _ in range(600):
        try:
            connect(ip).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def to_container(ip):
    s = connect(ip)
    chunk = b"y" * (1 << 20)
    t = time.monotonic()
    s.sendall(b"S")
    for _ in range(BYTES >> 20):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < 8:
        b = s.recv(8 - len(got))
        if not b:
            break
        got += b
    dt = time.monotonic() - t
    s.close()
    assert int.from_bytes(got, "big") == BYTES, "the sink counted %r" % got
    return BYTES / dt / 1e6


def from_container(ip):
    s = connect(ip)
    t = time.monotonic()
    s.sendall(b"G" + BYTES.to_bytes(8, "big"))
    n = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        n += len(b)
    dt = time.monotonic() - t
    s.close()
    assert n == BYTES, "received %d of %d" % (n, BYTES)
    return BYTES / dt / 1e6


def round_trip(ip):
    times = []
    for _ in range(RR):
        t = time.monotonic()
        s = connect(ip)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"E1")
        assert s.recv(1) == b"1"
        s.close()
        times.append(time.monotonic() - t)
    return statistics.median(times) * 1000


def measure(work, runtime, extra=()):
    base = podman_base(work, runtime)
    name = "bench-net-%d" % os.getpid()
    r = subprocess.run(base + list(extra) + [
                           "run", "-d", "--name", name, "--ulimit", "nofile=1024:1024",
                           "--ulimit", "nproc=1024:1024", ociimage.IMAGE,
                               # not PID 1: the helper plays a bogus init there
                               "sh", "-c", "husk-testhelper tcp-serve %d; exit 1" % PORT],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    try:
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or ["failed"]
            return None, next((l for l in lines if "cannot" in l), lines[-1])
        ip = subprocess.run(base + ["inspect", "--format", "{{.NetworkSettings.IPAddress}}",
                                    name], capture_output=True, text=True).stdout.strip()
        if not ip or not wait_up(ip):
            return None, "its server did not come up"
        return {"in": to_container(ip), "out": from_container(ip), "rr": round_trip(ip)}, ""
    finally:
        subprocess.run(base + ["rm", "-f", name], capture_output=True)


def rows(husk, build):
    """Table rows: (figure, husk, runc, husk/runc, target, ok)."""
    if not shutil.which("podman"):
        return [("network: podman is not installed", 0, None, None, "report", None)]
    work = os.path.join("/tmp", "husk-bench-net-%d" % os.getpid())
    for d in ("root", "runroot", "tmp"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    try:
        image = os.path.join(work, "image.tar")
        ociimage.build(image, extra={
            "bin/husk-testhelper": os.path.join(build, "tests", "husk-testhelper")})
        r = subprocess.run(podman_base(work, "runc") + ["load", "-i", image],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return [("network: podman load failed", 0, None, None, "report", None)]
        got = {}
        for rt, path, extra in (("husk", husk, ()), ("runc", "runc", ()),
                                ("runsc", shutil.which("runsc"),
                                 ("--runtime-flag", "platform=ptrace", "--runtime-flag",
                                  "ignore-cgroups"))):
            if not path:
                got[rt] = (None, "not installed")
                continue
            got[rt] = measure(work, path, extra)
        out = []
        h, _ = got["husk"]
        c, why_c = got["runc"]
        g, why_g = got["runsc"]
        if not h:
            sys.exit("bench: husk on podman's network: %s" % got["husk"][1])
        for key, what, unit, better in (("in", "TCP host -> container", "MB/s", max),
                                        ("out", "TCP container -> host", "MB/s", max),
                                        ("rr", "TCP connect + 1 byte round trip", "ms", min)):
            ratio = h[key] / c[key] if c else None
            out.append(("%s (%s)" % (what, unit), h[key], c[key] if c else None, ratio,
                        "vs runc", None))
            if g:
                out.append(("  same, gVisor runsc (%s)" % unit, g[key], None, None, "report",
                            None))
        if not c:
            out.append(("  runc did not run: %s" % why_c, 0, None, None, "report", None))
        if not g:
            out.append(("  runsc did not run: %s" % why_g.split(": ")[-1][:70], 0, None, None,
                        "report", None))
        return out
    finally:
        subprocess.run(podman_base(work, "runc") + ["rm", "-a", "-f"], capture_output=True)
        subprocess.run(["rm", "-rf", work])
