"""Faults from outside: QEMU killed under a running container, the proxy
killed under its VM. husk reports them, the state says stopped, and nothing
is left behind (no QEMU, no virtiofsd). A host that stops reading a
process's output stalls that process only, with the agent's memory bounded
by the credit window. Garbage, oversized, truncated and out-of-order frames
on the channel, and a host that drops the channel mid-frame: the agent
rejects or drops them and keeps serving (through the proxy's test hooks)."""
import base64
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, ctl_call, live_qemus, pattern_bytes, wait_child, wait_pid_gone


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_name(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_for(pred, tries=600, step=0.05):
    for _ in range(tries):
        if pred():
            return True
        time.sleep(step)
    return pred()


def qemu_of(proxy):
    kids = [k for k in children(proxy) if proc_name(k).startswith("qemu-system")]
    assert kids, f"no QEMU under proxy {proxy}: {children(proxy)}"
    return kids[0]


def test_qemu_killed_under_husk_run(make_bundle, husk_runner, tmp_path):
    b = make_bundle(["sh", "-c", "echo up; exec sleep 1000"])
    p = husk_runner.popen(b, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"up\n"
        q = qemu_of(p.pid)
        os.kill(q, signal.SIGKILL)
        code = p.wait(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read().decode()
    assert code == 255, (code, err)
    assert "the VM stopped" in err and "killed by signal 9" in err, err
    assert wait_for(lambda: not live_qemus(tmp_path))


def detached_sleeper(make_bundle, husk_cli, share):
    """`husk run -d` of a sleeper on the given share: (id, its state)."""
    c = husk_cli.create(make_bundle(["sleep", "1000"]), verb=("run", "-d"),
                        flags=("--share", share))
    assert c.returncode == 0, c.stderr
    return c.cid, husk_cli.state(c.cid)


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_qemu_killed_under_a_detached_container(make_bundle, husk_cli, subreaper, tmp_path, share):
    cid, st = detached_sleeper(make_bundle, husk_cli, share)
    assert st["status"] == "running"
    proxy = husk_cli.proxy_pid(cid)
    q = qemu_of(proxy)
    os.kill(q, signal.SIGKILL)
    assert wait_pid_gone(proxy), "the proxy outlived its VM"
    assert husk_cli.state(cid)["status"] == "stopped"
    res = husk_cli("exec", cid, "true")
    assert res.returncode == 125 and b"stopped" in res.stderr, res.stderr
    assert husk_cli("delete", cid).returncode == 0
    assert wait_for(lambda: not live_qemus(tmp_path))


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_proxy_killed_takes_qemu_and_virtiofsd(make_bundle, husk_cli, subreaper, tmp_path, share):
    cid, st = detached_sleeper(make_bundle, husk_cli, share)
    proxy = husk_cli.proxy_pid(cid)
    helpers = [k for k in children(proxy)
               if proc_name(k).startswith(("qemu-system", "virtiofsd"))]
    assert len(helpers) == (2 if share == "virtiofs" else 1), [proc_name(k) for k in helpers]
    os.kill(proxy, signal.SIGKILL)
    for k in helpers:
        assert wait_pid_gone(k), f"{proc_name(k)} ({k}) outlived the proxy"
    assert husk_cli.state(cid)["status"] == "stopped"
    res = husk_cli("kill", cid, "TERM")
    assert res.returncode != 0 and b"container not running" in res.stderr
    assert husk_cli("delete", cid).returncode == 0
    assert not (husk_cli.root / cid).exists()
    assert wait_for(lambda: not live_qemus(tmp_path))


# ---------------------------------------------------------------- a slow reader

WINDOW = 1024 * 1024  # HUSK_OUTPUT_WINDOW in protocol/husk-proto.h: credit per output stream
STALL_S = 10


def guest_memory(husk_cli, cid):
    """VmRSS of the VM's PID 1 (the agent) and the guest's MemAvailable, in
    KiB, read as test_soak.py reads the agent's RSS: from a container with no
    pid namespace, whose /proc shows the agent as PID 1."""
    res = husk_cli("exec", cid, "sh", "-c",
                   "grep VmRSS /proc/1/status; grep MemAvailable /proc/meminfo")
    assert res.returncode == 0, res.stderr
    rss, avail = (int(line.split()[1]) for line in res.stdout.decode().splitlines()[:2])
    return rss, avail


def read_to_eof(fd):
    """Everything from fd until EOF; select() is only a hang guard."""
    out = bytearray()
    while True:
        ready, _, _ = select.select([fd], [], [], HANG_GUARD_S)
        if not ready:
            pytest.fail(f"hang guard: no output for {HANG_GUARD_S} s after {len(out)} bytes")
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return bytes(out)
        out += chunk


def test_slow_reader_stalls_its_process_with_bounded_agent_memory(make_bundle, husk_cli):
    """100 MiB of checkable pattern to a pipe nobody reads for 10 s: the
    writer blocks, the agent's RSS stays within the window's reach, the
    control stream still serves execs; then every byte arrives in order."""
    size = 100 << 20
    b = make_bundle(["sh", "-c", f"read go && exec husk-testhelper pattern {size}"])
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        c = husk_cli.create(b, verb=("run", "-d"), stdin=in_r, stdout=out_w)
    finally:
        os.close(in_r)
        os.close(out_w)
    try:
        assert c.returncode == 0, c.stderr
        proxy = husk_cli.state(c.cid)["pid"]
        for _ in range(5):  # settle the agent's allocator, as test_soak does
            assert husk_cli("exec", c.cid, "true").returncode == 0
        rss0, avail0 = guest_memory(husk_cli, c.cid)
        os.write(in_w, b"go\n")
        os.close(in_w)
        in_w = -1
        time.sleep(STALL_S)  # not reading: the stall under test, not a limit
        rss1, avail1 = guest_memory(husk_cli, c.cid)
        assert husk_cli.state(c.cid)["status"] == "running"  # the writer is blocked
        print(f"agent VmRSS {rss0} -> {rss1} KiB, guest MemAvailable {avail0} -> {avail1} KiB")
        # Two streams' credit (the stalled one, the exec's) plus slack for
        # the allocator and the exec that measures: 1 MiB. Unbounded
        # buffering would take up to 100 MiB.
        assert rss1 - rss0 <= (2 * WINDOW + 512 * 1024) // 1024, (rss0, rss1)
        # The guest holds what the writer has in flight (its buffer, its
        # pipe), not the stream: a few MiB at most, against 100.
        assert avail0 - avail1 <= 8 * 1024, (avail0, avail1)
        data = read_to_eof(out_r)
    finally:
        if in_w >= 0:
            os.close(in_w)
        os.close(out_r)
    assert len(data) == size, len(data)
    assert data == pattern_bytes(size), "output out of order or corrupted"
    assert wait_child(proxy) == 0


# ---------------------------------------------------------------- bad input on the channel
#
# The proxy's test hooks (host-tool/testhooks.c, on only with HUSK_TEST_HOOKS=1
# in its environment) put raw bytes on the agent's channel, past the frame
# encoder, and drop and remake the channel's connection.

HELLO, REQUEST, REPLY, EVENT, DATA, WINDOW_FRAME, CLOSE, ERROR = range(1, 9)
MAX_PAYLOAD = 1 << 20  # HUSK_FRAME_MAX_PAYLOAD
DATA_MAX = 256 * 1024  # HUSK_DATA_MAX
HOOKS = {"HUSK_TEST_HOOKS": "1"}
NEVER_USED = 0x40000000  # a stream id the proxy never picks in a test


def frame(ftype, stream=0, payload=b"", length=None, magic=0x484B):
    """A frame as protocol.md draws it; length may lie."""
    n = len(payload) if length is None else length
    return struct.pack(">HHII", magic, ftype, stream, n) + payload


def pings(n, first_id=4000000000):
    """n well-formed ping REQUESTs with ids the proxy never uses (it counts
    from 1): their replies reach the proxy as replies to unknown requests."""
    return b"".join(frame(REQUEST, 0, json.dumps({"id": first_id + i, "op": "ping"}).encode())
                    for i in range(n))


class Channel:
    """The test hooks of one container's proxy."""

    def __init__(self, husk_cli, cid):
        self.dir = husk_cli.root / cid

    def call(self, req):
        return ctl_call(self.dir, req)

    def inject(self, raw):
        r = self.call({"op": "inject", "data": base64.b64encode(raw).decode()})
        assert r == {"ok": True}, r

    def reconnect(self, after=b"", hold=False):
        r = self.call({"op": "reconnect", "after": base64.b64encode(after).decode(),
                       "hold": hold})
        assert r == {"ok": True}, r

    def ping(self):
        r = self.call({"op": "ping"})
        assert r.get("ok") is True, r

    def log(self, name):
        try:
            return (self.dir / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""


def ps(husk_cli, cid):
    res = husk_cli("ps", "--format", "json", cid)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def assert_serving(husk_cli, cid, chan, pids):
    """The agent answers on the control stream, runs a new process, and the
    container's process is the one that was there before."""
    chan.ping()
    res = husk_cli("exec", cid, "true")
    assert res.returncode == 0, res.stderr
    assert husk_cli.state(cid)["status"] == "running"
    assert set(pids) <= set(ps(husk_cli, cid)), "the container's process is gone"


def case_garbage(husk_cli, cid, chan):
    junk = random.Random(7).randbytes(8192).replace(b"H", b"h")  # no magic anywhere
    chan.inject(junk)
    chan.inject(b"\x00" * 100)
    return ["bad frame magic"]


def case_oversized(husk_cli, cid, chan):
    # headers only: the agent judges them before any payload could arrive
    chan.inject(frame(REQUEST, 0, length=MAX_PAYLOAD + 1))
    chan.inject(frame(DATA, 1, length=DATA_MAX + 1))
    chan.inject(frame(REQUEST, 0, length=0xFFFFFFFF))
    return ["exceeds"]


def case_unknown_type(husk_cli, cid, chan):
    chan.inject(frame(9, 0, b"{}"))
    chan.inject(frame(0, 0))
    chan.inject(frame(0xFFFF, 5, b"x" * 40))
    return ["unknown frame type 9"]


def case_truncated(husk_cli, cid, chan):
    # The header promises 1000 bytes and 10 come: the agent reads whatever
    # follows as the rest of the payload, rejects the request it made, then
    # meets a bad magic mid-frame and resyncs on the next frame. The valid
    # traffic it eats here is injected pings, so no real request is lost.
    chan.inject(frame(REQUEST, 0, b'{"id":77,"o', length=1000))
    chan.inject(pings(40))  # 40 x 38 bytes: more than the 990 still owed
    return ["request is not valid JSON", "bad frame magic", "reply to unknown request"]


def case_stream_frames(husk_cli, cid, chan):
    # never used: rejected with an ERROR each
    chan.inject(frame(DATA, NEVER_USED, b"hello"))
    chan.inject(frame(WINDOW_FRAME, NEVER_USED + 1, struct.pack(">I", 4096)))
    chan.inject(frame(CLOSE, NEVER_USED + 2))
    # an ended process's streams (the proxy gave the execs so far 5-7 and
    # 9-11): ignored, as frames that were on the wire at the exit would be
    assert husk_cli("exec", cid, "true").returncode == 0
    chan.inject(frame(DATA, 5, b"late stdin"))
    chan.inject(frame(CLOSE, 5))
    chan.inject(frame(WINDOW_FRAME, 6, struct.pack(">I", 65536)))
    chan.inject(frame(WINDOW_FRAME, 7, struct.pack(">I", 1)))
    chan.ping()  # after the agent's answers to all of the above
    assert not re.search(r"stream [567]\b", chan.log("husk.log")), chan.log("husk.log")
    # a live process's streams the wrong way: stdout DATA to the agent,
    # WINDOW on its stdin, a zero grant
    chan.inject(frame(DATA, 2, b"not yours"))
    chan.inject(frame(WINDOW_FRAME, 1, struct.pack(">I", 4096)))
    chan.inject(frame(WINDOW_FRAME, 2, struct.pack(">I", 0)))
    return [f"frame for unknown stream {NEVER_USED}", f"unknown stream {NEVER_USED + 2}"]


def case_agent_only_frames(husk_cli, cid, chan):
    # frames only the agent sends, and requests it cannot act on: a HELLO
    # from the host (the agent greets, never the host), replies, events,
    # errors; a request without an id, one that is not JSON, an unknown op,
    # a signal to a process that never was
    chan.inject(frame(HELLO, 0, b'{"agent_version":"0","protocol":1,"kernel":"x"}'))
    chan.inject(frame(REPLY, 0, b'{"id":1}'))
    chan.inject(frame(EVENT, 0, b'{"event":"process.exit","process":1,"status":0,"signal":0}'))
    chan.inject(frame(ERROR, 0, b'{"error":{"errno":71}}'))
    chan.inject(frame(REQUEST, 0, b'{"op":"ping"}'))
    chan.inject(frame(REQUEST, 0, b"\xff\xfe not json"))
    chan.inject(frame(REQUEST, 0, b'{"id":4100000000,"op":"container.destroy"}'))
    chan.inject(frame(REQUEST, 0, b'{"id":4100000001,"op":"process.signal","process":999,'
                                  b'"signal":9}'))
    return ["unexpected HELLO frame", "reply to unknown request 4100000001"]


def case_disconnect_mid_frame(husk_cli, cid, chan):
    # Half a request, then the host goes; it stays away until the agent has
    # seen the port close and dropped the half frame, then comes back.
    half = frame(REQUEST, 0, json.dumps({"id": 4200000000, "op": "ping"}).encode())[:20]
    before = chan.log("console.log").count("dropping 20 bytes of a partial frame")
    chan.reconnect(after=half, hold=True)
    for _ in range(HANG_GUARD_S * 20):
        if chan.log("console.log").count("dropping 20 bytes of a partial frame") > before:
            break
        time.sleep(0.05)
    else:
        pytest.fail("hang guard: the agent never reported the port closing")
    chan.reconnect()
    return []


def case_quick_reconnect_mid_frame(husk_cli, cid, chan):
    # Back at once: the guest may not notice the port closed, and then reads
    # what follows as the rest of the half frame before it resyncs. Pings
    # that nobody waits for are the traffic it may eat.
    half = frame(REQUEST, 0, b'{"id":78,"op":"ping"}' + b" " * 200)[:16]
    chan.reconnect(after=half)
    chan.inject(pings(10))
    return []


@pytest.mark.parametrize("case", [
    case_garbage, case_oversized, case_unknown_type, case_truncated, case_stream_frames,
    case_agent_only_frames, case_disconnect_mid_frame, case_quick_reconnect_mid_frame,
], ids=lambda f: f.__name__[len("case_"):])
def test_bad_input_on_the_channel(make_bundle, husk_cli, case):
    b = make_bundle(["sleep", "1000000"])
    c = husk_cli.create(b, verb=("run", "-d"), env=HOOKS)
    assert c.returncode == 0, c.stderr
    chan = Channel(husk_cli, c.cid)
    pids = ps(husk_cli, c.cid)
    assert pids, "no container process"
    assert_serving(husk_cli, c.cid, chan, pids)
    expected = case(husk_cli, c.cid, chan)
    assert_serving(husk_cli, c.cid, chan, pids)
    # The agent's ERROR frames and replies to requests the proxy never sent
    # are logged by the proxy, never fatal.
    log = chan.log("husk.log")
    for text in expected:
        assert text in log, (text, log)
    assert husk_cli("delete", "--force", c.cid).returncode == 0


def test_test_hooks_are_off_by_default(make_bundle, husk_cli):
    b = make_bundle(["sleep", "1000000"])
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    chan = Channel(husk_cli, c.cid)
    for req in ({"op": "inject", "data": base64.b64encode(b"x").decode()},
                {"op": "reconnect"}):
        r = chan.call(req)
        assert "HUSK_TEST_HOOKS=1" in r.get("error", ""), r
    # nobody can reach the agent's port but the proxy: its socket is unlinked
    assert not (chan.dir / "agent.sock").exists()
    assert_serving(husk_cli, c.cid, chan, ps(husk_cli, c.cid))
    assert husk_cli("delete", "--force", c.cid).returncode == 0
