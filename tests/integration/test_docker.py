"""docker (Debian's docker.io 20.10) drives husk as a runtime registered in a
daemon.json the suite writes. dockerd runs with its own data-root, exec-root
and socket, the vfs storage driver, and is stopped at the end. The image is
`docker load`ed from a tar the tests build (ociimage.py). Networking is
docker's default bridge (docker0, 172.17.0.0/16), set up by docker's own
prestart hook in the network namespace husk makes: the interfaces reach the
VM only after that hook has run."""
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest

import ociimage
from conftest import live_qemus, stop_daemon

HANG_GUARD = 600  # a guard against hangs, not a timing assertion


def docker_client():
    for c in ("/usr/bin/docker", shutil.which("docker")):
        if c and os.path.exists(c):
            return c
    return None


@pytest.fixture(scope="module")
def docker(tmp_path_factory, husk):
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

    def dk(*args, **kw):
        return subprocess.run([client, "-H", f"unix://{sock}"] + list(args),
                              capture_output=True, text=True, timeout=HANG_GUARD,
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
    yield dk
    ids = dk("ps", "-aq").stdout.split()
    if ids:
        dk("rm", "-f", *ids)
    stop_daemon(proc, log)
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)
    shutil.rmtree(run, ignore_errors=True)
    assert not live_qemus(d), "QEMU left running after docker's tests"


def links(out):
    return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ": <" in l]


def test_docker_run_default_bridge_beside_runc(docker):
    show = "ip -o link; ip -o -4 addr; ip route; uname -r"
    out = {}
    for rt in ("runc", "husk"):
        r = docker("run", "--runtime", rt, "--rm", ociimage.IMAGE, "sh", "-c", show)
        assert r.returncode == 0, (rt, r.stderr)
        out[rt] = r.stdout
    husk = out["husk"]
    assert os.uname().release not in husk and "husk" in husk, husk
    assert links(husk) == links(out["runc"]) == ["lo", "eth0"], out
    assert "inet 172.17." in husk and "default via 172.17.0.1 dev eth0" in husk, husk


def test_docker_published_port_and_inspect(docker):
    www = "mkdir -p /www && echo docker-husk > /www/index.html && exec httpd -f -p 80 -h /www"
    r = docker("run", "--runtime", "husk", "-d", "--name", "dk-web", "-p", "18081:80",
               ociimage.IMAGE, "sh", "-c", www)
    assert r.returncode == 0, r.stderr
    try:
        ip = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}",
                    "dk-web").stdout.strip()
        r = docker("exec", "dk-web", "ip", "-o", "-4", "addr", "show", "eth0")
        assert f"inet {ip}/" in r.stdout, (ip, r.stdout, r.stderr)
        # docker's /etc/hosts, /etc/hostname and /etc/resolv.conf, bind-mounted
        r = docker("exec", "dk-web", "sh", "-c", "cat /etc/hosts; echo ==; cat /etc/resolv.conf")
        hosts, resolv = r.stdout.split("==\n")
        assert ip in hosts, r.stdout
        path = docker("inspect", "--format", "{{.ResolvConfPath}}", "dk-web").stdout.strip()
        with open(path) as f:
            assert resolv == f.read(), (resolv, path)
        deadline = time.monotonic() + HANG_GUARD
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:18081/", timeout=5) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert body.strip() == "docker-husk"
    finally:
        docker("rm", "-f", "dk-web")
    assert not live_qemus(docker.dir)


def test_docker_network_none(docker):
    r = docker("run", "--runtime", "husk", "--rm", "--network", "none", ociimage.IMAGE,
               "ip", "-o", "link")
    assert r.returncode == 0, r.stderr
    assert links(r.stdout) == ["lo"], r.stdout
