"""The container's network is the one its caller gave it (issue 10): the
interfaces of the network namespace in config.json are mirrored into the VM
with tc (a tap per interface, mirred both ways), the guest gets their MAC,
MTU, addresses and routes, and nothing is left behind on any exit path.

Each test builds its own network namespaces with iproute2 (`ip netns`): C is
the container's, S stands for the rest of the network (a peer that serves
and calls). Addresses are 10.201.x.x and fd00:201::/48, only between those
namespaces; the user-mode test talks to 127.0.0.1 only."""
import http.server
import json
import os
import re
import signal
import socketserver
import subprocess
import threading
import time

import pytest

from conftest import HANG_GUARD_S, live_qemus, wait_pid_gone

MTU = 1400


def sh(*args, check=True, **kw):
    return subprocess.run(args, capture_output=True, text=True, check=check, **kw)


def ns_sh(ns, *args, check=True, **kw):
    return sh("ip", "netns", "exec", ns, *args, check=check, **kw)


class Net:
    """Namespaces C (the container's) and S (its peer), joined by a veth:
    eth0 in C (10.201.N.2/24, fd00:201:N::2/64, MTU 1400, default route via
    S), s0 in S (10.201.N.1/24, fd00:201:N::1/64)."""

    _n = 0

    def __init__(self):
        Net._n += 1
        self.n = (os.getpid() % 200) + Net._n
        tag = f"{os.getpid()}-{Net._n}"
        self.c, self.s = f"husk-nc-{tag}", f"husk-ns-{tag}"
        self.path = f"/run/netns/{self.c}"
        self.c_ip, self.s_ip = f"10.201.{self.n}.2", f"10.201.{self.n}.1"
        self.c_ip6, self.s_ip6 = f"fd00:201:{self.n:x}::2", f"fd00:201:{self.n:x}::1"
        sh("ip", "netns", "add", self.c)
        sh("ip", "netns", "add", self.s)
        for ns in (self.c, self.s):
            ns_sh(ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "hveth-c", "netns", self.c, "type", "veth", "peer", "name",
           "hveth-s", "netns", self.s)
        ns_sh(self.c, "ip", "link", "set", "hveth-c", "name", "eth0")
        ns_sh(self.s, "ip", "link", "set", "hveth-s", "name", "s0")
        for ns, dev in ((self.c, "eth0"), (self.s, "s0")):
            ns_sh(ns, "ip", "link", "set", dev, "mtu", str(MTU))
            ns_sh(ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
        ns_sh(self.c, "ip", "addr", "add", f"{self.c_ip}/24", "dev", "eth0")
        ns_sh(self.c, "ip", "addr", "add", f"{self.c_ip6}/64", "dev", "eth0", "nodad")
        ns_sh(self.s, "ip", "addr", "add", f"{self.s_ip}/24", "dev", "s0")
        ns_sh(self.s, "ip", "addr", "add", f"{self.s_ip6}/64", "dev", "s0", "nodad")
        ns_sh(self.c, "ip", "link", "set", "eth0", "up")
        ns_sh(self.s, "ip", "link", "set", "s0", "up")
        ns_sh(self.c, "ip", "route", "add", "default", "via", self.s_ip)
        ns_sh(self.c, "ip", "route", "add", "10.202.0.0/16", "via", self.s_ip)
        self.mac = json.loads(ns_sh(self.c, "ip", "-j", "link", "show", "eth0").stdout)[0][
            "address"]

    def leftovers(self):
        """What husk could have left in C: taps, tc filters, extra qdiscs."""
        links = ns_sh(self.c, "ip", "-o", "link").stdout
        filters = ns_sh(self.c, "tc", "filter", "show", "dev", "eth0", "ingress",
                        check=False).stdout
        qdiscs = ns_sh(self.c, "tc", "qdisc", "show", "dev", "eth0").stdout
        left = []
        if "husk_tap" in links:
            left.append("tap: " + links)
        if filters.strip():
            left.append("filter: " + filters)
        if "ingress" in qdiscs:
            left.append("qdisc: " + qdiscs)
        return left

    def close(self):
        for ns in (self.c, self.s):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def net():
    n = Net()
    yield n
    n.close()


def with_netns(path=None, extra=()):
    """config.json edit: a network namespace (at path) and a mount one."""
    def edit(cfg):
        ns = [{"type": "mount"}, {"type": "network"}]
        if path:
            ns[1]["path"] = path
        cfg.setdefault("linux", {})["namespaces"] = ns + list(extra)
    return edit


SHOW = "ip -o link; ip -o addr; ip route; ip -6 route"


_bundles = iter(range(1, 1000))


def run_in(husk_runner, make_bundle, script, edit, env=None):
    b = make_bundle(["sh", "-c", script], edit=edit, name=f"bundle{next(_bundles)}")
    res = husk_runner.run(b, env=env)
    return res, res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")


def test_guest_has_the_namespaces_interfaces(net, husk_runner, make_bundle):
    res, out, err = run_in(husk_runner, make_bundle, SHOW, with_netns(net.path))
    assert res.returncode == 0, err
    eth0 = [l for l in out.splitlines() if re.match(r"\d+: eth0:", l) and "link/ether" in l]
    assert eth0 and f"mtu {MTU}" in eth0[0] and net.mac in eth0[0], out
    assert re.search(r"lo: <.*\bUP\b", out), out
    assert "inet 127.0.0.1/8" in out and "inet6 ::1/128" in out, out
    assert f"inet {net.c_ip}/24" in out, out
    assert f"inet6 {net.c_ip6}/64" in out, out
    assert f"default via {net.s_ip} dev eth0" in out, out
    assert f"10.202.0.0/16 via {net.s_ip} dev eth0" in out, out
    assert f"10.201.{net.n}.0/24 dev eth0" in out, out
    assert not net.leftovers(), net.leftovers()


def serve_in(ns, addr, port):
    """An HTTP server in namespace ns (a child process: python enters it)."""
    code = ("import http.server,socketserver,sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(s):\n"
            "        b=b'served from the peer '+s.path.encode()\n"
            "        s.send_response(200);s.send_header('Content-Length',str(len(b)))\n"
            "        s.end_headers();s.wfile.write(b)\n"
            "    def log_message(s,*a): pass\n"
            "class S(http.server.HTTPServer): address_family=%d\n"
            "S((sys.argv[1],int(sys.argv[2])),H).serve_forever()\n")
    fam = 10 if ":" in addr else 2
    p = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code % fam, addr,
                          str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        r = ns_sh(ns, "ss", "-Hltn", f"sport = :{port}", check=False)
        if r.stdout.strip():
            return p
        time.sleep(0.05)
    p.kill()
    pytest.fail(f"the peer's server on {addr}:{port} did not start")


def test_container_reaches_the_network_v4_and_v6(net, husk_runner, make_bundle):
    servers = [serve_in(net.s, net.s_ip, 8401), serve_in(net.s, net.s_ip6, 8402)]
    try:
        script = (f"wget -qO- http://{net.s_ip}:8401/v4; echo; "
                  f"wget -qO- 'http://[{net.s_ip6}]:8402/v6'; echo; "
                  f"ping -c1 -W5 {net.s_ip} >/dev/null && echo ping-ok")
        res, out, err = run_in(husk_runner, make_bundle, script, with_netns(net.path))
    finally:
        for p in servers:
            p.kill()
            p.wait()
    assert res.returncode == 0, err
    assert "served from the peer /v4" in out and "served from the peer /v6" in out, out
    assert "ping-ok" in out, out
    assert not net.leftovers(), net.leftovers()


def test_the_network_reaches_the_container(net, husk_cli, make_bundle):
    b = make_bundle(["sh", "-c", "mkdir -p /www && echo inside > /www/index.html && "
                     "exec httpd -f -p 8080 -h /www"], edit=with_netns(net.path))
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    try:
        got = ""
        for _ in range(100):
            r = ns_sh(net.s, "/bin/busybox", "wget", "-qO-", f"http://{net.c_ip}:8080/", check=False)
            got = r.stdout
            if "inside" in got:
                break
            time.sleep(0.1)
        assert "inside" in got, got
        r = ns_sh(net.s, "/bin/busybox", "ping", "-c1", "-W5", net.c_ip6, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        assert husk_cli("delete", "--force", c.cid).returncode == 0
    assert not net.leftovers(), net.leftovers()


def test_loopback_server_in_the_container(net, husk_runner, make_bundle):
    script = ("mkdir -p /www && echo loop > /www/x && httpd -p 127.0.0.1:8081 -h /www && "
              "wget -qO- http://127.0.0.1:8081/x")
    res, out, err = run_in(husk_runner, make_bundle, script, with_netns(net.path))
    assert res.returncode == 0, err
    assert out.strip() == "loop", out


def test_nothing_left_when_qemu_or_the_proxy_dies(net, husk_cli, make_bundle, tmp_path):
    for how in ("qemu", "proxy"):
        b = make_bundle(["sleep", "1000"], edit=with_netns(net.path), name=f"b-{how}")
        c = husk_cli.create(b, verb=("run", "-d"))
        assert c.returncode == 0, c.stderr
        st = json.loads((husk_cli.root / c.cid / "state.json").read_text())
        assert net.leftovers(), "no mirror while the container runs?"
        victim = st["husk_vm_pid"] if how == "qemu" else st["husk_proxy_pid"]
        os.kill(victim, signal.SIGKILL)
        assert wait_pid_gone(st["husk_proxy_pid"]), "the proxy outlived its VM"
        assert wait_pid_gone(st["pid"]), "the sentinel outlived its proxy"
        assert husk_cli("delete", "--force", c.cid).returncode == 0
        assert not net.leftovers(), (how, net.leftovers())
        assert not live_qemus(tmp_path)


def test_nothing_left_when_create_fails(net, husk_cli, make_bundle):
    def edit(cfg):
        with_netns(net.path)(cfg)
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}

    b = make_bundle(["true"], edit=edit)
    c = husk_cli.create(b)
    assert c.returncode != 0
    assert not net.leftovers(), net.leftovers()


def test_bad_networks_are_named(net, husk_runner, make_bundle, tmp_path):
    not_ns = tmp_path / "not-a-netns"
    not_ns.write_text("")
    res, out, err = run_in(husk_runner, make_bundle, "true", with_netns(str(not_ns)))
    assert res.returncode == 125 and "is not a network namespace" in err, err
    assert len(err.strip().splitlines()) == 1, err

    ns_sh(net.c, "ip", "link", "add", "br9", "type", "bridge")
    res, out, err = run_in(husk_runner, make_bundle, "true", with_netns(net.path))
    assert res.returncode == 125 and "br9" in err and "bridge" in err, err
    ns_sh(net.c, "ip", "link", "del", "br9")

    for i in range(9):
        ns_sh(net.c, "ip", "link", "add", f"extra{i}", "type", "veth", "peer", "name", f"p{i}")
    res, out, err = run_in(husk_runner, make_bundle, "true", with_netns(net.path))
    assert res.returncode == 125 and "too many interfaces" in err, err
    assert not net.leftovers(), net.leftovers()


HOOK = """#!/bin/sh
# A prestart hook as docker's: move a veth into the container's namespace
# (that of the PID in the state on stdin) and configure it there.
pid=$(sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
ip link set "$1" netns "$pid"
nsenter -t "$pid" -n sh -c "ip link set $1 name eth0 && ip addr add $2 dev eth0 && \\
  ip link set eth0 up && ip route add default via $3"
"""


def test_namespace_made_by_husk_gets_what_the_hooks_add(net, husk_runner, make_bundle, tmp_path):
    """docker's case: no path; the prestart hook enters /proc/PID/ns/net of
    the PID husk reports and moves a veth in. The guest's NIC, made before
    the interface existed, takes its MAC and address."""
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    # one end on the host, as docker's veth is before its hook moves it
    sh("ip", "link", "add", "hv-dockc", "type", "veth", "peer", "name", "hv-dock", "netns",
       net.s)
    ns_sh(net.s, "ip", "addr", "add", f"10.203.{net.n}.1/24", "dev", "hv-dock")
    ns_sh(net.s, "ip", "link", "set", "hv-dock", "up")
    mac = json.loads(sh("ip", "-j", "link", "show", "hv-dockc").stdout)[0]["address"]

    def edit(cfg):
        with_netns()(cfg)
        cfg["hooks"] = {"prestart": [{"path": str(hook), "args": [
            "hook.sh", "hv-dockc", f"10.203.{net.n}.2/24", f"10.203.{net.n}.1"]}]}

    script = SHOW + f"; ping -c1 -W5 10.203.{net.n}.1 >/dev/null && echo ping-ok"
    res, out, err = run_in(husk_runner, make_bundle, script, edit)
    sh("ip", "link", "del", "hv-dockc", check=False)
    assert res.returncode == 0, err
    assert f"inet 10.203.{net.n}.2/24" in out and mac in out, out
    assert "ping-ok" in out, out


def test_namespace_without_hooks_is_lo_only(husk_runner, make_bundle):
    res, out, err = run_in(husk_runner, make_bundle, "ip -o link", with_netns())
    assert res.returncode == 0, err
    links = [l.split(":")[1].strip() for l in out.splitlines()]
    assert links == ["lo"], out


def test_annotation_none_is_lo_only(net, husk_runner, make_bundle):
    def edit(cfg):
        with_netns(net.path)(cfg)
        cfg["annotations"] = {"husk.vm.network": "none"}

    res, out, err = run_in(husk_runner, make_bundle, "ip -o link", edit)
    assert res.returncode == 0, err
    assert [l.split(":")[1].strip() for l in out.splitlines()] == ["lo"], out
    assert not net.leftovers()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"host loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_without_a_namespace_the_vm_gets_user_mode_network(husk_runner, make_bundle):
    """--network host: the guest has QEMU's user-mode network; the host's
    127.0.0.1 is 10.0.2.2 from inside."""
    srv = socketserver.TCPServer(("127.0.0.1", 0), _Quiet)
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        res, out, err = run_in(husk_runner, make_bundle,
                               SHOW + f"; wget -qO- http://10.0.2.2:{port}/", edit=None)
    finally:
        srv.shutdown()
        srv.server_close()
    assert res.returncode == 0, err
    assert "inet 10.0.2.15/24" in out and "default via 10.0.2.2" in out, out
    assert "host loopback" in out, out


def test_bad_network_annotation(husk_runner, make_bundle):
    def edit(cfg):
        cfg["annotations"] = {"husk.vm.network": "bridge"}

    res, out, err = run_in(husk_runner, make_bundle, "true", edit)
    assert res.returncode == 125 and "husk.vm.network" in err, err


def test_hook_that_adds_nothing_leaves_lo_only(husk_runner, make_bundle):
    """docker --network none: a prestart hook, so the VM gets a placeholder
    NIC, but nothing is added: the guest shows lo only, the NIC waits out
    of sight (agent/net.c, the park)."""
    def edit(cfg):
        with_netns()(cfg)
        cfg["hooks"] = {"prestart": [{"path": "/bin/true"}]}

    res, out, err = run_in(husk_runner, make_bundle, "ip -o link", edit)
    assert res.returncode == 0, err
    assert [l.split(":")[1].strip() for l in out.splitlines()] == ["lo"], out
