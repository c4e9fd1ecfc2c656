"""A hostile agent: the host bounds what it takes from the guest.

The proxy's test hooks (host-tool/testhooks.c, test build only, on with
HUSK_TEST_HOOKS=1) feed frames to the proxy's session as if the agent had
sent them ({"op":"inject","as":"agent","hostile":KIND}): DATA past the
credit window the host granted, exit events for processes it never started,
JSON larger than the protocol allows, floods of frames that cost the agent
nothing, and a flood on the console. Each breach of the protocol ends the
container as a lost VM ("the VM broke the protocol: ...", status 255, QEMU
gone); the proxy's memory, husk.log and console.log stay bounded.
docs/security.md, "The host bounds the guest", has the limits."""
import json
import os
import re
import socket
import time

import pytest

from conftest import HANG_GUARD_S, ctl_call, live_qemus, pid_gone

HOOKS = {"HUSK_TEST_HOOKS": "1"}
CONSOLE_LOG_MAX = 1024 * 1024  # HUSK_CONSOLE_LOG_MAX in host-tool/session.h
NEVER_USED = 0x40000000  # a process or stream id the proxy never picks
BROKE = "the VM broke the protocol: "
LOST_STATUS = 255  # HUSK_EXIT_LOST, as any other lost VM


def wait_for(pred, what, limit=HANG_GUARD_S, step=0.02):
    """Poll pred (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what}")
        time.sleep(step)


def vm_kb(pid, field):
    """VmRSS or VmHWM of a live process in KiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Hostile:
    """One container whose proxy has its test hooks on."""

    def __init__(self, husk_cli, make_bundle, args=("sleep", "1000000"), **create):
        self.cli = husk_cli
        c = husk_cli.create(make_bundle(list(args)), verb=("run", "-d"), env=HOOKS, **create)
        assert c.returncode == 0, c.stderr
        self.created = c
        self.cid = c.cid
        self.dir = husk_cli.root / c.cid
        self.proxy = husk_cli.proxy_pid(c.cid)
        self.vm = husk_cli.vm_pid(c.cid)

    def attack(self, kind, **params):
        r = ctl_call(self.dir, {"op": "inject", "as": "agent", "hostile": kind, **params})
        assert r == {"ok": True}, r

    def ping(self):
        r = ctl_call(self.dir, {"op": "ping"})
        assert r.get("ok") is True, r

    def state_file(self):
        try:
            return json.loads((self.dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def read(self, name):
        try:
            return (self.dir / name).read_bytes()
        except FileNotFoundError:
            return b""

    def log(self):
        return self.read("husk.log").decode(errors="replace")

    def size(self, name):
        try:
            return (self.dir / name).stat().st_size
        except FileNotFoundError:
            return 0

    def assert_lost(self, text, tmp_path, delete=True):
        """The proxy ended the container as a lost VM, saying text (a
        regular expression); QEMU is gone and delete cleans up."""
        wait_for(lambda: pid_gone(self.proxy), f"proxy {self.proxy} outlived the breach")
        st = self.state_file()
        log = self.log()
        assert st.get("status") == "stopped", st
        assert st.get("husk_exit_status") == LOST_STATUS, st
        assert re.search(re.escape(BROKE) + text, log), (text, log[-4000:])
        assert pid_gone(self.vm), "QEMU outlived its proxy"
        wait_for(lambda: not live_qemus(tmp_path), "QEMU left running")
        if delete:
            self.delete()

    def delete(self):
        res = self.cli("delete", self.cid)
        assert res.returncode == 0, res.stderr

    def assert_serving(self):
        self.ping()
        res = self.cli("exec", self.cid, "true")
        assert res.returncode == 0, res.stderr
        assert self.cli.state(self.cid)["status"] == "running"


# ---------------------------------------------------------------- DATA past the window

def test_data_past_the_window_ends_the_container_with_bounded_memory(make_bundle, husk_cli,
                                                                      tmp_path):
    """64 MiB of DATA on the container's stdout, 256 KiB every 20 ms, to a
    pipe nobody reads: the host holds at most the window it granted (1 MiB),
    then the first byte past it ends the container. Before the bound the
    proxy held all of it (238 MB -> 1 GB in 16 s through the agent's port)."""
    out_r, out_w = os.pipe()
    try:
        h = Hostile(husk_cli, make_bundle, stdout=out_w)
    finally:
        os.close(out_w)
    closed = False
    try:
        base = vm_kb(h.proxy, "VmHWM")
        assert base, "no proxy"
        h.attack("data-flood", bytes=64 << 20, frame=64 << 10, per_tick=256 << 10,
                 interval_ms=20)
        peak = base
        deadline = time.monotonic() + HANG_GUARD_S
        # Sample the proxy's peak RSS until it is gone. Once state says
        # stopped the proxy is ending; a write of the container's output
        # may still be blocked on our full pipe (libuv joins its threads at
        # exit), so the pipe goes then.
        while not pid_gone(h.proxy):
            hwm = vm_kb(h.proxy, "VmHWM")
            if hwm:
                peak = max(peak, hwm)
            if not closed and h.state_file().get("status") == "stopped":
                os.close(out_r)
                closed = True
            if time.monotonic() > deadline:
                pytest.fail(f"hang guard: the proxy outlived a flood past the window "
                            f"(VmHWM {base} -> {peak} KiB)")
            time.sleep(0.01)
        print(f"proxy VmHWM {base} -> {peak} KiB")
        # the window, the channel's read buffer (1 MiB), the hook's frame
        # buffer and the allocator's slack: far from 64 MiB
        assert peak - base <= 16 * 1024, (base, peak)
    finally:
        if not closed:
            os.close(out_r)
    h.assert_lost(r"DATA of 65536 bytes on stream 2, which had 0 bytes of credit left", tmp_path)


# ---------------------------------------------------------------- one bad frame each

@pytest.mark.parametrize("kind,params,text", [
    ("unknown-exit", {}, f"an exit event for unknown process {NEVER_USED}"),
    # the exec of assert_serving had streams 5-7 and is done: gone, or
    # (if its slot is not freed yet) exited
    ("unknown-exit", {"process": 5},
     r"(an exit event for unknown process 5|a second exit event for process 5)"),
    ("unknown-reply", {}, r"a REPLY to request 4000000000, which nobody waits for"),
    ("unknown-stream", {}, f"a DATA frame on stream {NEVER_USED}, which is not open"),
    ("unknown-stream", {"stream": 4}, r"a DATA frame on stream 4, which is not open"),
    ("oversized-json", {}, r"REPLY frame of 2097152 bytes exceeds the 1048576 byte limit"),
    ("oversized-event", {}, r"EVENT frame of 65536 bytes exceeds 4096"),
    ("window-flood", {}, r"WINDOW of 4294967295 bytes on stdin stream 1\b"),
    ("empty-data-flood", {}, r"a flood of empty DATA frames"),
], ids=["unknown-exit", "ended-exec-exit", "unknown-reply",
        "unknown-stream", "unused-stream-id", "oversized-json", "oversized-event",
        "window-overgrant", "empty-data-flood"])
def test_a_breach_ends_the_container(make_bundle, husk_cli, tmp_path, kind, params, text):
    h = Hostile(husk_cli, make_bundle)
    h.assert_serving()
    h.attack(kind, **params)
    h.assert_lost(text, tmp_path)


# ---------------------------------------------------------------- ERROR frames and husk.log

def test_error_frames_are_logged_within_bounds(make_bundle, husk_cli, tmp_path):
    """3000 ERROR frames at once (under the flood's burst): the container
    runs on, husk.log gets the first 100 and then says how many it left out,
    the proxy's memory does not move. Then 200000 (the flood that grew
    husk.log by 36 MB): the container is lost, husk.log stays small."""
    h = Hostile(husk_cli, make_bundle)
    h.assert_serving()
    log0 = h.size("husk.log")
    rss0 = vm_kb(h.proxy, "VmHWM")
    h.attack("error-flood", count=3000)
    wait_for(lambda: "caused by the guest were not logged" in h.log(),
             "husk.log never said how many lines it left out")
    h.assert_serving()
    log = h.log()
    rejected = len(re.findall(r"the agent rejected a frame: .*hostile frame", log))
    assert 1 <= rejected <= 100, rejected
    m = re.search(r"(\d+) more log lines caused by the guest were not logged", log)
    assert m and rejected + int(m.group(1)) == 3000, (rejected, m and m.group(0))
    assert h.size("husk.log") - log0 < 64 * 1024, h.size("husk.log") - log0
    rss1 = vm_kb(h.proxy, "VmHWM")
    assert rss1 - rss0 <= 8 * 1024, (rss0, rss1)

    h.attack("error-flood", count=200000)
    h.assert_lost("a flood of ERROR frames", tmp_path, delete=False)
    assert h.size("husk.log") - log0 < 256 * 1024, h.size("husk.log") - log0
    h.delete()


# ---------------------------------------------------------------- the console

def test_console_flood_keeps_the_last_part(make_bundle, husk_cli, tmp_path):
    """3 MiB on the console (as the guest prints it): console.log is rotated
    to console.log.1 at 1 MiB, so the two hold the last 1-2 MiB in order and
    nothing more; the container runs on. Then a breach: the last console
    output the proxy shows (with --debug) is the end of those files."""
    h = Hostile(husk_cli, make_bundle, global_flags=("--debug",))
    h.assert_serving()
    total = 3 << 20
    h.attack("console-flood", bytes=total)
    # the hook writes 80-byte lines "<n, left-aligned> hostile\n"; the very
    # last one is cut short
    last_line = total // 80 - 1

    def flooded():
        return re.search(rb"\b%d +hostile\n" % last_line, h.read("console.log")) is not None

    wait_for(flooded, "the flood's last line never reached console.log")
    cur, old = h.size("console.log"), h.size("console.log.1")
    assert cur <= CONSOLE_LOG_MAX and old <= CONSOLE_LOG_MAX, (cur, old)
    assert old == CONSOLE_LOG_MAX, old  # rotated when full
    assert not (h.dir / "console.log.2").exists()
    both = h.read("console.log.1") + h.read("console.log")
    # the first line may be the end of one cut by the rotation before
    lines = [int(m.group(1))
             for m in re.finditer(rb"^(\d+) +hostile$", both.split(b"\n", 1)[1], re.M)]
    assert len(lines) > CONSOLE_LOG_MAX // 80, len(lines)
    # what is kept is the end, in order, without a gap
    assert lines[-1] == last_line, lines[-1]
    assert lines == list(range(lines[0], last_line + 1)), "console.log.1 + console.log out of order"
    h.assert_serving()
    # a breach: the proxy prints the console's last lines (--debug), which
    # are the files' last bytes (the VM is killed right after)
    h.attack("unknown-exit")
    h.assert_lost(f"an exit event for unknown process {NEVER_USED}", tmp_path, delete=False)
    err = h.created.stderr
    marker = b"husk: last console output:\n"
    assert marker in err, err[-2000:]
    tail = err.rsplit(marker, 1)[1].rstrip(b"\n")
    both = (h.read("console.log.1") + h.read("console.log")).rstrip(b"\n")
    assert tail and both.endswith(tail), (tail[-500:], both[-500:])
    assert len(h.read("console.log")) <= CONSOLE_LOG_MAX
    h.delete()


def test_a_container_writing_to_the_serial_console(make_bundle, husk_cli):
    """The way the issue found it: a container with CAP_MKNOD makes ttyS0 and
    writes to it without end. console.log keeps the last part."""
    def edit(cfg):
        cfg["mounts"] = [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "mode=755"]}]
    size = 3 << 19  # 1.5 MiB: more than the cap, so one rotation; ~25 s under TCG
    b = make_bundle(["sh", "-c",
                     f"mknod /dev/hk-ttyS0 c 4 64 || exit 42; "
                     f"yes 0123456789abcdef-hostile-console | head -c {size} > /dev/hk-ttyS0; "
                     f"echo done"], edit=edit)
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    d = husk_cli.root / c.cid
    proxy = husk_cli.proxy_pid(c.cid)
    wait_for(lambda: pid_gone(proxy), "the container never finished writing")
    st = json.loads((d / "state.json").read_text())
    if st.get("husk_exit_status") == 42:
        pytest.skip("the guest would not make the serial console's device")
    assert st.get("husk_exit_status") == 0, st
    cur = (d / "console.log").stat().st_size
    old = (d / "console.log.1").stat().st_size if (d / "console.log.1").exists() else 0
    assert cur <= CONSOLE_LOG_MAX and old <= CONSOLE_LOG_MAX, (cur, old)
    assert old == CONSOLE_LOG_MAX, (cur, old)  # more than 1 MiB came: rotated
    assert b"hostile-console" in (d / "console.log").read_bytes()[-4096:]
    assert husk_cli("delete", c.cid).returncode == 0
