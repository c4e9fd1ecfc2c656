"""docker (Debian's docker.io 20.10) drives husk as a runtime registered in a
daemon.json the suite writes. dockerd runs with its own data-root, exec-root
and socket, the vfs storage driver, and is stopped at the end. The image is
`docker load`ed from a tar the tests build (ociimage.py). Networking is
docker's default bridge (docker0, 172.17.0.0/16), set up by docker's own
prestart hook in the network namespace husk makes: the interfaces reach the
VM only after that hook has run. The `docker` fixture (session-scoped) is
callers.py's."""
import os
import time
import urllib.request

import ociimage
from callers import HANG_GUARD, qemu_found
from conftest import live_qemus


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
        assert qemu_found(docker.dir)
    finally:
        docker("rm", "-f", "dk-web")
    assert not live_qemus(docker.dir)


def test_docker_network_none(docker):
    r = docker("run", "--runtime", "husk", "--rm", "--network", "none", ociimage.IMAGE,
               "ip", "-o", "link")
    assert r.returncode == 0, r.stderr
    assert links(r.stdout) == ["lo"], r.stdout
