"""Real callers drive husk as their OCI runtime: containerd (ctr, through
containerd-shim-runc-v2) and podman (through conmon), from Debian's packages.
Each gets a private configuration, state and storage under a temporary dir:
the `containerd` and `podman` fixtures (session-scoped) are callers.py's."""
import json
import os
import subprocess
import time

import pytest

import ociimage
from callers import HANG_GUARD, qemu_found, qemus_gone
from conftest import pty_read_all

# ---------------------------------------------------------------- containerd

def test_containerd_run_output_and_exit_code(containerd):
    r = containerd("run", "--runc-binary", containerd.husk, "--rm", ociimage.IMAGE, "ctr-run1",
                   "sh", "-c", "echo hello from $(uname -r); echo to-stderr >&2; exit 5")
    assert r.returncode == 5, r.stderr
    assert "hello from" in r.stdout and "husk" in r.stdout
    assert os.uname().release not in r.stdout
    assert "to-stderr" in r.stdout + r.stderr
    assert qemus_gone(containerd.dir)


def test_containerd_task_exec_and_kill(containerd):
    r = containerd("run", "-d", "--runc-binary", containerd.husk, ociimage.IMAGE, "ctr-exec1",
                   "sleep", "1000")
    assert r.returncode == 0, r.stderr
    try:
        r = containerd("task", "exec", "--exec-id", "e1", "ctr-exec1",
                       "sh", "-c", "echo in-exec; exit 7")
        assert r.returncode == 7, r.stderr
        assert "in-exec" in r.stdout
        r = containerd("task", "exec", "--exec-id", "e2", "ctr-exec1", "cat",
                       input="through stdin\n", stdin=None)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "through stdin\n"
        r = containerd("task", "ls")
        assert "ctr-exec1" in r.stdout and "RUNNING" in r.stdout
        assert qemu_found(containerd.dir)
        r = containerd("task", "kill", "-s", "SIGKILL", "ctr-exec1")
        assert r.returncode == 0, r.stderr
        for _ in range(600):
            r = containerd("task", "ls")
            if "STOPPED" in r.stdout or "ctr-exec1" not in r.stdout:
                break
            time.sleep(0.1)
        assert "STOPPED" in r.stdout, r.stdout
    finally:
        containerd("task", "delete", "-f", "ctr-exec1")
        containerd("container", "rm", "ctr-exec1")
    assert qemus_gone(containerd.dir)


def test_containerd_missing_binary_reports_error(containerd):
    r = containerd("run", "--runc-binary", containerd.husk, "--rm", ociimage.IMAGE, "ctr-bad1",
                   "/no/such/program")
    assert r.returncode != 0
    assert "no/such/program" in r.stderr or "not found" in r.stderr, r.stderr
    containerd("container", "rm", "ctr-bad1")
    assert qemus_gone(containerd.dir)


# ----------------------------------------------- containerd with CNI (ctr --cni)
#
# ctr run --cni reads CNI's default places (gocni.WithDefaultConf):
# /etc/cni/net.d and /opt/cni/bin. The fixture writes its own network there
# (10-husk-ctr-test.conflist: bridge, host-local, portmap on 10.204.0.0/24),
# links Debian's plugins (/usr/lib/cni) into /opt/cni/bin where missing, and
# removes what it added at the end. ctr adds the interface between create and
# start, in the namespace husk made.

CTR_CNI_CONF = "/etc/cni/net.d/10-husk-ctr-test.conflist"


@pytest.fixture
def ctr_cni():
    made = []
    os.makedirs("/opt/cni/bin", exist_ok=True)
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        dst = os.path.join("/opt/cni/bin", plugin)
        if not os.path.exists(dst):
            os.symlink(os.path.join("/usr/lib/cni", plugin), dst)
            made.append(dst)
    with open(CTR_CNI_CONF, "w") as f:
        json.dump({"cniVersion": "0.4.0", "name": "husk-ctr-test", "plugins": [
            {"type": "bridge", "bridge": "husk-ctr0", "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.204.0.0/24"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)
    made.append(CTR_CNI_CONF)
    yield
    for path in made:
        os.unlink(path)
    subprocess.run(["ip", "link", "del", "husk-ctr0"], capture_output=True)


def test_containerd_cni_network(containerd, ctr_cni):
    r = containerd("run", "--cni", "--runc-binary", containerd.husk, "--rm", ociimage.IMAGE,
                   "ctr-cni1", "sh", "-c", "ip -o -4 addr show eth0; ip route")
    assert r.returncode == 0, r.stderr
    assert "inet 10.204.0." in r.stdout, r.stdout
    assert "default via 10.204.0.1 dev eth0" in r.stdout, r.stdout
    assert qemus_gone(containerd.dir)


# -------------------------------------------------------------------- podman

RUN = ("run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def test_podman_run(podman):
    r = podman(*RUN, "--rm", ociimage.IMAGE, "sh", "-c", "echo hi from $(uname -r); exit 3")
    assert r.returncode == 3, r.stderr
    assert "hi from" in r.stdout and "husk" in r.stdout
    assert qemus_gone(podman.dir)


def test_podman_run_tty(podman):
    # podman run -t needs a terminal on stdin: run it under script(1)-like pty
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(podman.base[0], podman.base + list(RUN) + ["--rm", "-t", ociimage.IMAGE,
                                                             "sh", "-c", "tty; exit 4"])
    out = pty_read_all(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 4, out
    assert b"/dev/pts/" in out, out


def test_podman_exec_stop_rm(podman):
    r = podman(*RUN, "-d", "--name", "pm-exec1", ociimage.IMAGE, "sleep", "1000")
    assert r.returncode == 0, r.stderr
    try:
        r = podman("exec", "pm-exec1", "sh", "-c", "echo in-exec; exit 6")
        assert r.returncode == 6, r.stderr
        assert "in-exec" in r.stdout
        r = podman("exec", "-i", "pm-exec1", "cat", input="piped\n", stdin=None)
        assert r.stdout == "piped\n", r.stderr
        r = podman("exec", "-t", "pm-exec1", "tty")
        assert "/dev/pts/" in r.stdout, r.stdout + r.stderr
        r = podman("ps", "--format", "{{.Names}} {{.Status}}")
        assert "pm-exec1 Up" in r.stdout, r.stdout
        assert qemu_found(podman.dir)
        r = podman("stop", "-t", "2", "pm-exec1")
        assert r.returncode == 0, r.stderr
        r = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}")
        assert "pm-exec1 Exited" in r.stdout, r.stdout
    finally:
        r = podman("rm", "-f", "pm-exec1")
    assert r.returncode == 0, r.stderr
    assert qemus_gone(podman.dir)


def test_podman_missing_command_is_127(podman):
    # runc fails create for a missing program and podman maps that to 127
    r = podman(*RUN, "--rm", ociimage.IMAGE, "/no/such/program")
    assert r.returncode == 127, r.stderr
    assert "/no/such/program" in r.stderr
    r = podman(*RUN, "--rm", ociimage.IMAGE, "/etc/passwd")
    assert r.returncode == 126, r.stderr
    assert qemus_gone(podman.dir)


# ------------------------------------------------- podman's network (CNI)
#
# The default network of Debian's podman: CNI's bridge "podman"
# (cni-podman0, 10.88.0.0/16, gateway 10.88.0.1) with portmap and firewall.
# Everything the tests reach is on this machine.

NET = ("run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def podman_ip(podman, name):
    r = podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def wait_http(url, limit=HANG_GUARD):
    import urllib.request
    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_podman_network_address_gateway_and_port(podman):
    www = "mkdir -p /www && echo from-husk > /www/index.html && exec httpd -f -p 80 -h /www"
    r = podman(*NET, "-d", "--name", "pm-net1", "-p", "18080:80", ociimage.IMAGE,
               "sh", "-c", www)
    assert r.returncode == 0, r.stderr
    try:
        ip = podman_ip(podman, "pm-net1")
        assert ip.startswith("10.88."), ip
        r = podman("exec", "pm-net1", "sh", "-c", "ip -o addr show eth0; ip route")
        assert r.returncode == 0, r.stderr
        assert f"inet {ip}/16" in r.stdout, r.stdout
        assert "default via 10.88.0.1 dev eth0" in r.stdout, r.stdout
        # /etc/hosts, /etc/hostname and /etc/resolv.conf come as podman's bind
        # mounts: the same files runc's container would see
        r = podman("exec", "pm-net1", "sh", "-c",
                   "cat /etc/hosts; echo ==; cat /etc/hostname; echo ==; cat /etc/resolv.conf")
        hosts, hostname, resolv = r.stdout.split("==\n")
        assert ip in hosts and hostname.strip() in hosts, r.stdout
        r2 = podman("inspect", "--format", "{{.ResolvConfPath}}", "pm-net1")
        with open(r2.stdout.strip()) as f:
            assert resolv == f.read(), (resolv, r2.stdout)
        assert os.uname().release not in podman("exec", "pm-net1", "uname", "-r").stdout
        # a server on the bridge's gateway, on the host
        import http.server
        import socketserver
        import threading

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"on-host")

            def log_message(self, *a):
                pass

        srv = socketserver.TCPServer(("10.88.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            r = podman("exec", "pm-net1", "wget", "-qO-",
                       f"http://10.88.0.1:{srv.server_address[1]}/")
        finally:
            srv.shutdown()
            srv.server_close()
        assert r.stdout == "on-host", r.stdout + r.stderr
        # -p 18080:80 from the host, through CNI's portmap
        assert wait_http("http://127.0.0.1:18080/").strip() == "from-husk"
        # a second husk container on the same bridge reaches the first
        r = podman(*NET, "--rm", ociimage.IMAGE, "wget", "-qO-", f"http://{ip}/")
        assert r.returncode == 0 and r.stdout.strip() == "from-husk", r.stdout + r.stderr
    finally:
        podman("rm", "-f", "pm-net1")
    assert qemus_gone(podman.dir)
    assert "husk_tap" not in subprocess.run(["ip", "-o", "link"], capture_output=True,
                                            text=True).stdout


def test_podman_network_none_and_loopback(podman):
    r = podman(*RUN, "--rm", ociimage.IMAGE, "sh", "-c",
               "ip -o link; mkdir /w && echo lo-ok > /w/x && httpd -p 127.0.0.1:81 -h /w && "
               "wget -qO- http://127.0.0.1:81/x")
    assert r.returncode == 0, r.stderr
    names = [line.split(":")[1].strip() for line in r.stdout.splitlines() if ": <" in line]
    assert names == ["lo"], r.stdout
    assert "LOWER_UP" in r.stdout and "lo-ok" in r.stdout, r.stdout


def test_podman_network_beside_runc(podman):
    """The same container under runc and under husk: the same interfaces,
    addresses and routes (but for fe80:: link-local addresses)."""
    show = "ip -o -4 addr | sed 's/ *valid_lft.*//'; ip route | sed 's/ proto kernel//'"
    out = {}
    for rt in ("runc", podman.base[podman.base.index("--runtime") + 1]):
        r = podman("--runtime", rt, *NET, "--rm", "--ip", "10.88.200.7", ociimage.IMAGE,
                   "sh", "-c", show)
        assert r.returncode == 0, (rt, r.stderr)
        out[rt] = sorted(line.split()[1:] for line in r.stdout.splitlines() if line.strip())
    runc, husk = out.values()
    assert runc == husk, out
