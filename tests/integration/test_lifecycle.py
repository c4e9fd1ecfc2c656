"""The runc-style verbs one at a time: create, start, state, kill, delete,
run -d, exec, ps, list, spec, features, and the transitions that must fail.
Each test boots its own VM(s); the husk_cli fixture (conftest.py) deletes
what a test leaves, makes this process a child subreaper so a container's
proxy (its PID) can be waited for, and the autouse fixture checks that no
QEMU is left.
"""

import datetime
import json
from pathlib import Path
import os
import re
import select
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, live_qemus, pid_gone, vm_mark, wait_child, wait_pid_gone

TRAP = ["husk-testhelper", "trap"]  # prints "ready", exits 10+signo on a signal
NOT_EXIST = re.compile(r"container does not exist", re.I)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


# ---------------------------------------------------------------- helpers


def read_pid_file(path):
    text = path.read_text()
    assert re.fullmatch(r"[1-9]\d*\n?", text), f"pid file {path} holds {text!r}"
    return int(text)


def is_husk_process(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except OSError:
        return False
    return not pid_gone(pid) and os.path.basename(argv0) == b"husk"


def wait_file(path, token, limit=HANG_GUARD_S):
    """Poll a file until it contains token; returns its contents (bounded)."""
    deadline = time.monotonic() + limit
    while True:
        data = path.read_bytes() if path.exists() else b""
        if token in data:
            return data
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {token!r} never appeared in {path}; it holds {data!r}")
        time.sleep(0.05)


def read_to_eof(f, limit=HANG_GUARD_S):
    """Read a pipe until EOF (bounded: a hang guard). Returns (data, eof)."""
    fd = f.fileno()
    buf = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                return buf, True
            buf += chunk
    return buf, False


def assert_error(res, *needles):
    """Exit 125 and one line `husk: ...` holding each needle (str or regex)."""
    lines = res.stderr.decode(errors="replace").splitlines()
    assert res.returncode == 125, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == b"", res.stdout
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("husk: "), lines[0]
    for n in needles:
        if isinstance(n, re.Pattern):
            assert n.search(lines[0]), f"{n.pattern!r} not in {lines[0]!r}"
        else:
            assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
    return lines[0]


def spec_version(husk):
    out = subprocess.run([str(husk), "--version"], capture_output=True, text=True, check=True)
    m = re.search(r"^spec: (\S+)$", out.stdout, re.M)
    assert m, out.stdout
    return m.group(1)


def parse_created(s):
    assert RFC3339.match(s), f"created {s!r} is not RFC 3339"
    # Python's fromisoformat wants at most 6 fractional digits and no Z.
    s = re.sub(r"(\.\d{1,6})\d*", r"\1", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s)


@pytest.fixture
def running(make_bundle, husk_cli, state_root):
    """A container started with `run -d` whose process is `husk-testhelper
    trap`: (cid, proxy pid, bundle, Created)."""
    b = make_bundle(TRAP, name="running-bundle")
    c = husk_cli.create(b, verb=("run", "-d"),
                        flags=["--pid-file", husk_cli.tmp / "running.pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "running.pid")
    wait_file(c.out, b"ready\n")
    return c.cid, pid, b, c


# ---------------------------------------------------------------- the whole life


def test_full_lifecycle(make_bundle, husk_cli, husk, state_root, tmp_path):
    annotations = {"org.example.one": "1", "org.example.two": "zwei"}

    def edit(cfg):
        cfg["annotations"] = annotations

    b = make_bundle(TRAP, edit=edit)
    pid_file = tmp_path / "c.pid"
    before = datetime.datetime.now(datetime.timezone.utc)
    c = husk_cli.create(b, flags=["--pid-file", pid_file])
    after = datetime.datetime.now(datetime.timezone.utc)
    cid = c.cid
    assert c.returncode == 0, c.stderr
    assert c.stderr == b""
    assert (state_root / cid).is_dir()

    # created: every field of the OCI state
    pid = read_pid_file(pid_file)
    st = husk_cli.state(cid)
    assert st["ociVersion"] == spec_version(husk)
    assert st["id"] == cid
    assert st["status"] == "created"
    assert st["pid"] == pid
    assert st["bundle"] == str(b)
    created_s = st["created"]
    created = parse_created(created_s)
    slack = datetime.timedelta(seconds=5)
    assert before - slack <= created <= after + slack, (before, st["created"], after)
    assert st["annotations"] == annotations
    assert is_husk_process(pid), f"pid {pid} from the pid file is not a live husk process"
    assert live_qemus(vm_mark(state_root, cid)), "no QEMU for a created container"
    # The process has not run yet: it would print "ready" at once.
    assert c.out.read_bytes() == b""

    # running
    res = husk_cli("start", cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"" and res.stderr == b""
    wait_file(c.out, b"ready\n")
    st = husk_cli.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == pid
    assert st["created"] == created_s
    assert st["annotations"] == annotations

    # kill: the process catches SIGTERM, prints its name and exits 10+15
    res = husk_cli("kill", cid, "TERM")
    assert res.returncode == 0, res.stderr
    st = husk_cli.wait_status(cid, "stopped")
    assert st["id"] == cid and st["bundle"] == str(b)
    assert wait_child(pid) == 25
    assert c.out.read_bytes() == b"ready\nTERM\n"
    assert husk_cli.state(cid)["status"] == "stopped"

    # stopped: delete, then it is gone
    res = husk_cli("delete", cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"" and res.stderr == b""
    assert not (state_root / cid).exists()
    assert_error(husk_cli("state", cid), NOT_EXIST, cid)
    assert all(wait_pid_gone(q) for q in live_qemus(vm_mark(state_root, cid))), \
        "QEMU outlived delete"


def test_container_stdio_is_creates_stdio(make_bundle, husk_cli, tmp_path):
    """create's stdin/stdout/stderr become the process's, and stay so after
    create has exited."""
    b = make_bundle(["sh", "-c", "read x; echo out-$x; echo err-$x >&2; exit 3"])
    pid_file = tmp_path / "c.pid"
    c = husk_cli.create(b, flags=["--pid-file", pid_file], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE)
    p = c.proc
    try:
        assert c.returncode == 0, c.stderr
        pid = read_pid_file(pid_file)
        res = husk_cli("start", c.cid)
        assert res.returncode == 0, res.stderr
        p.stdin.write(b"abc\n")
        p.stdin.close()
        out, eof = read_to_eof(p.stdout)
        assert eof, f"stdout pipe not closed; got {out!r}"
        assert out == b"out-abc\n"
        assert wait_child(pid) == 3
        assert c.err.read_bytes() == b"err-abc\n"
        assert husk_cli.state(c.cid)["status"] == "stopped"
    finally:
        p.stdout.close()
        if not p.stdin.closed:
            p.stdin.close()
    assert husk_cli("delete", c.cid).returncode == 0


# More output than the caller's pipe (64 KiB) and the proxy's window (1 MiB)
# hold, less than they and the guest's pipe (1 MiB) hold together: the
# process can write it all and exit while the rest waits in the guest.
UNREAD_BYTES = 1500000


def test_stopped_while_its_output_is_unread(make_bundle, husk_cli, tmp_path):
    """The process writes more than the caller's stdout pipe holds and exits
    while nobody reads the pipe: as under runc (whose process would leave
    its output in the pipe) the container is stopped, with its status, and
    its PID (the sentinel) exits with it, though its output is not read; the
    proxy holds that output meanwhile, and once the pipe is read it yields
    every byte, then EOF. Exec and kill of the stopped container are
    refused; delete leaves no QEMU. husk.log (--debug) shows the path: the
    exit came while the output was still open in the guest, and the proxy
    reported the container stopped because nobody read it."""
    b = make_bundle(["sh", "-c", f"yes | head -c {UNREAD_BYTES}; exit 3"])
    pid_file = tmp_path / "c.pid"
    r, w = os.pipe()
    try:
        c = husk_cli.create(b, flags=["--pid-file", pid_file], stdout=w,
                            global_flags=("--debug",))
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as out:
        assert c.returncode == 0, c.stderr
        pid = read_pid_file(pid_file)
        proxy = husk_cli.proxy_pid(c.cid)
        res = husk_cli("start", c.cid)
        assert res.returncode == 0, res.stderr
        # nothing reads `out` until the container is stopped
        st = husk_cli.wait_status(c.cid, "stopped")
        assert st["pid"] == 0, st
        saved = json.loads((husk_cli.root / c.cid / "state.json").read_text())
        assert saved["husk_exit_status"] == 3, saved
        assert wait_child(pid) == 3
        assert not pid_gone(proxy), "the proxy ended without writing its output"
        res = husk_cli("kill", c.cid, "KILL")
        assert res.returncode != 0 and b"not running" in res.stderr, res
        res = husk_cli("exec", c.cid, "true")
        assert res.returncode != 0, res
        data, eof = read_to_eof(out)
    assert eof, f"stdout pipe not closed after {len(data)} bytes"
    assert len(data) == UNREAD_BYTES, len(data)
    assert data == b"y\n" * (UNREAD_BYTES // 2)
    assert wait_pid_gone(proxy), "the proxy outlived its output"
    assert husk_cli.state(c.cid)["status"] == "stopped"
    log = (husk_cli.root / c.cid / "husk.log").read_text(errors="replace")
    assert re.search(r"process 1 exited with status 3 .*, its output still open", log), log
    assert "has not been read for" in log, log
    assert husk_cli("delete", c.cid).returncode == 0
    assert all(wait_pid_gone(q) for q in live_qemus(b)), "QEMU outlived delete"


# ---------------------------------------------------------------- kill


@pytest.mark.parametrize("spelling", ["15", "TERM", "SIGTERM", "sigterm"])
def test_kill_signal_spellings(make_bundle, husk_cli, spelling):
    b = make_bundle(TRAP)
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", husk_cli.tmp / "p"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "p")
    wait_file(c.out, b"ready\n")
    res = husk_cli("kill", c.cid, spelling)
    assert res.returncode == 0, res.stderr
    assert wait_child(pid) == 10 + 15
    assert c.out.read_bytes() == b"ready\nTERM\n"
    husk_cli.wait_status(c.cid, "stopped")
    assert husk_cli("delete", c.cid).returncode == 0


def test_kill_default_is_sigterm(make_bundle, husk_cli):
    """kill without a signal sends SIGTERM; an uncaught one ends the process: 143."""
    b = make_bundle(["sh", "-c", "echo ready; exec sleep 100000"])
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", husk_cli.tmp / "p"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "p")
    wait_file(c.out, b"ready\n")
    res = husk_cli("kill", c.cid)
    assert res.returncode == 0, res.stderr
    assert wait_child(pid) == 128 + 15
    husk_cli.wait_status(c.cid, "stopped")
    assert husk_cli("delete", c.cid).returncode == 0


def test_kill_sigkill(running, husk_cli, state_root):
    cid, pid, b, _ = running
    res = husk_cli("kill", cid, "KILL")
    assert res.returncode == 0, res.stderr
    status = wait_child(pid)
    assert status in (-9, 128 + 9), status
    assert husk_cli.state(cid)["status"] == "stopped"
    for q in live_qemus(vm_mark(state_root, cid)):
        assert wait_pid_gone(q, tries=600), f"QEMU {q} outlived kill KILL"
    assert husk_cli("delete", cid).returncode == 0


def test_start_and_kill_after_stopped_fail(make_bundle, husk_cli, state_root):
    b = make_bundle(["true"])
    c = husk_cli.create(b, flags=["--pid-file", husk_cli.tmp / "p"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "p")
    assert husk_cli("start", c.cid).returncode == 0
    husk_cli.wait_status(c.cid, "stopped")
    assert wait_child(pid) == 0
    assert_error(husk_cli("start", c.cid), "stopped")
    for sig in ([], ["TERM"], ["KILL"]):
        assert_error(husk_cli("kill", c.cid, *sig), "container not running")
    assert_error(husk_cli("exec", c.cid, "true"), "stopped")
    assert husk_cli.state(c.cid)["status"] == "stopped"
    assert husk_cli("delete", c.cid).returncode == 0
    assert not (state_root / c.cid).exists()


def test_start_twice_fails(make_bundle, husk_cli):
    b = make_bundle(TRAP)
    c = husk_cli.create(b, flags=["--pid-file", husk_cli.tmp / "p"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "p")
    assert husk_cli("start", c.cid).returncode == 0
    wait_file(c.out, b"ready\n")
    assert_error(husk_cli("start", c.cid), "running")
    st = husk_cli.state(c.cid)
    assert st["status"] == "running" and st["pid"] == pid
    assert is_husk_process(pid)
    # the process was started once and still runs
    assert husk_cli("kill", c.cid, "USR1").returncode == 0
    assert wait_child(pid) == 10 + 10
    assert c.out.read_bytes() == b"ready\nUSR1\n"
    assert husk_cli("delete", c.cid).returncode == 0


# ---------------------------------------------------------------- delete


def test_delete_running_needs_force(running, husk_cli, state_root):
    cid, pid, b, c = running
    qemus = [husk_cli.vm_pid(cid)]  # with virtio-fs its command line has no bundle path
    assert not pid_gone(qemus[0]), qemus
    msg = assert_error(husk_cli("delete", cid))
    assert re.search(r"running|not stopped|--force", msg), msg
    # nothing happened to it
    assert husk_cli.state(cid)["status"] == "running"
    assert is_husk_process(pid)
    assert not pid_gone(qemus[0]), qemus
    res = husk_cli("exec", cid, "echo", "still here")
    assert (res.returncode, res.stdout) == (0, b"still here\n"), res.stderr

    res = husk_cli("delete", "--force", cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"" and res.stderr == b""
    assert not (state_root / cid).exists()
    assert wait_child(pid) == -9  # the proxy was SIGKILLed
    assert wait_pid_gone(qemus[0], tries=600), f"QEMU {qemus[0]} outlived delete --force"
    assert_error(husk_cli("state", cid), NOT_EXIST)


def test_delete_created_container(make_bundle, husk_cli, state_root):
    b = make_bundle(TRAP)
    c = husk_cli.create(b, flags=["--pid-file", husk_cli.tmp / "p"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(husk_cli.tmp / "p")
    qemus = [husk_cli.vm_pid(c.cid)]
    assert not pid_gone(qemus[0]), qemus
    res = husk_cli("delete", c.cid)
    assert res.returncode == 0, res.stderr
    assert not (state_root / c.cid).exists()
    wait_child(pid)
    assert wait_pid_gone(qemus[0], tries=600)
    assert c.out.read_bytes() == b"", "the process ran although never started"


# ---------------------------------------------------------------- bad IDs


def test_create_existing_id(make_bundle, husk_cli, state_root, tmp_path):
    b = make_bundle(TRAP)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "first.pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(tmp_path / "first.pid")
    b2 = make_bundle(["echo", "must not run"], name="bundle2")
    vms = set(live_qemus(tmp_path))
    c2 = husk_cli.create(b2, cid=c.cid, flags=["--pid-file", tmp_path / "second.pid"])
    assert c2.returncode == 125, c2.stderr
    lines = c2.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("husk: "), lines
    assert "already exists" in lines[0] and c.cid in lines[0], lines[0]
    assert c2.out.read_bytes() == b""
    assert not (tmp_path / "second.pid").exists()
    assert set(live_qemus(tmp_path)) == vms, "a QEMU was started for the refused create"
    # the first is untouched and still works
    st = husk_cli.state(c.cid)
    assert (st["status"], st["pid"], st["bundle"]) == ("created", pid, str(b))
    assert_error(husk_cli("exec", c.cid, "true"), "created")
    assert husk_cli("start", c.cid).returncode == 0
    wait_file(c.out, b"ready\n")
    assert husk_cli("kill", c.cid, "INT").returncode == 0
    assert wait_child(pid) == 10 + 2
    husk_cli.wait_status(c.cid, "stopped")
    assert husk_cli("delete", c.cid).returncode == 0


@pytest.mark.parametrize("verb", [["state"], ["start"], ["kill"], ["kill", "@", "KILL"],
                                  ["delete"], ["exec", "@", "true"], ["ps"],
                                  ["ps", "--format", "json"]],
                         ids=lambda v: "-".join(x for x in v if x != "@"))
def test_unknown_id(husk_cli, state_root, verb):
    cid = "no-such-container"
    args = [cid if x == "@" else x for x in verb]
    if "@" not in verb:
        args.append(cid)
    line = assert_error(husk_cli(*args), NOT_EXIST)
    assert cid in line, line


# ---------------------------------------------------------------- run -d, exec


def test_run_detached_exec_kill(make_bundle, husk_cli, state_root, tmp_path):
    b = make_bundle(TRAP)
    pid_file = tmp_path / "run.pid"
    c = husk_cli.create(b, verb=("run", "-d"), flags=["--pid-file", pid_file])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(pid_file)
    assert is_husk_process(pid)
    st = husk_cli.state(c.cid)
    assert (st["status"], st["pid"], st["bundle"]) == ("running", pid, str(b))
    wait_file(c.out, b"ready\n")
    res = husk_cli("exec", c.cid, "sh", "-c", "echo exec-out; echo exec-err >&2")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"exec-out\n"
    assert res.stderr == b"exec-err\n"
    assert husk_cli("kill", c.cid, "HUP").returncode == 0
    assert wait_child(pid) == 10 + 1
    assert c.out.read_bytes() == b"ready\nHUP\n"
    husk_cli.wait_status(c.cid, "stopped")
    assert husk_cli("delete", c.cid).returncode == 0


def test_exec_stdin_passthrough(running, husk_cli):
    cid = running[0]
    data = os.urandom(256 * 1024)
    res = husk_cli("exec", cid, "cat", input=data)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout) == len(data)
    assert res.stdout == data
    assert res.stderr == b""


def test_exec_exit_status(running, husk_cli):
    cid = running[0]
    res = husk_cli("exec", cid, "sh", "-c", "exit 5")
    assert res.returncode == 5, res.stderr
    assert res.stdout == b"" and res.stderr == b""
    # the container is not affected
    assert husk_cli.state(cid)["status"] == "running"


def test_exec_missing_binary_127(running, husk_cli):
    cid = running[0]
    res = husk_cli.to_files("exec", cid, "/bin/no-such-program", "arg")
    assert res.returncode == 127, res.stderr
    assert res.stdout == b""
    assert b"no-such-program" in res.stderr
    res = husk_cli.to_files("exec", cid, "no-such-command")
    assert res.returncode == 127, res.stderr
    assert b"no-such-command" in res.stderr
    assert husk_cli.state(cid)["status"] == "running"


def test_exec_that_fails_to_start_releases_its_stdio(running, husk_cli):
    """A caller reading the exec's stdout/stderr pipes to EOF must not hang
    once exec has exited with 127."""
    cid = running[0]
    p = subprocess.Popen(husk_cli.argv("exec", cid, "no-such-command"), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=husk_cli.env())
    try:
        assert p.wait(timeout=HANG_GUARD_S) == 127
        # exec has exited: EOF is due now; 30 s is only a hang guard.
        out, out_eof = read_to_eof(p.stdout, limit=30)
        err, err_eof = read_to_eof(p.stderr, limit=5)
        assert out_eof and err_eof, (
            f"exec exited 127 but its stdout/stderr pipes are still held open "
            f"(stdout EOF: {out_eof}, stderr EOF: {err_eof}); stderr so far {err!r}")
        assert out == b""
        assert b"no-such-command" in err
    finally:
        p.stdout.close()
        p.stderr.close()


def test_exec_env_cwd_user(running, husk_cli):
    cid = running[0]
    script = 'echo "X=$X"; pwd; id -u; id -g; echo "HOME=$HOME"'
    res = husk_cli("exec", "--env", "X=hello world", "--cwd", "/tmp", "--user", "1000:1001",
                   cid, "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode() == "X=hello world\n/tmp\n1000\n1001\nHOME=/\n"
    # short options, a uid alone
    res = husk_cli("exec", "-e", "X=1", "-e", "Y=2", "-u", "1234", cid, "sh", "-c",
                   'echo "$X$Y"; id -u; id -g')
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode() == "12\n1234\n0\n"
    # defaults come from config.json: root, cwd /, its env
    res = husk_cli("exec", cid, "sh", "-c", 'id -u; pwd; echo "$PATH"; echo "X=$X"')
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode() == "0\n/\n/bin:/usr/bin\nX=\n"


def test_exec_process_file(running, husk_cli, tmp_path):
    cid = running[0]
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps({
        "terminal": False, "user": {"uid": 7, "gid": 8},
        "args": ["sh", "-c", 'echo "$Z"; pwd; id -u; id -g; exit 9'],
        "env": ["PATH=/bin", "Z=from-file"], "cwd": "/proc",
    }))
    res = husk_cli("exec", "--process", pf, cid)
    assert res.returncode == 9, res.stderr
    assert res.stdout.decode() == "from-file\n/proc\n7\n8\n"


def test_exec_with_a_large_process_spec(running, husk_cli, tmp_path):
    """A process spec over the 64 KiB of one control datagram (here a 70 KB
    environment variable) still runs, as under runc: it travels in a memfd."""
    cid = running[0]
    big = "x" * 70000
    pf = tmp_path / "big.json"
    pf.write_text(json.dumps({
        "terminal": False, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "args": ["sh", "-c", 'echo ${#BIG}'], "env": ["PATH=/bin", "BIG=" + big]}))
    res = husk_cli("exec", "--process", pf, cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"70000\n"
    res = husk_cli("exec", "--env", "BIG=" + big, cid, "sh", "-c", "echo ${#BIG}")
    assert res.returncode == 0 and res.stdout == b"70000\n", res


def test_exec_detached_pid_file(running, husk_cli, tmp_path):
    cid = running[0]
    pid_file = tmp_path / "exec.pid"
    # Waits for a file the test creates, so it is certainly alive when checked.
    res = husk_cli.to_files("exec", "-d", "--pid-file", pid_file, cid, "sh", "-c",
                            "echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7",
                            name="exec-d")
    assert res.returncode == 0, res.stderr
    epid = read_pid_file(pid_file)
    assert is_husk_process(epid), f"exec proxy {epid} is not a live husk process"
    wait_file(res.out, b"started\n")
    assert not pid_gone(epid)
    go = husk_cli("exec", cid, "touch", "/tmp/go")
    assert go.returncode == 0, go.stderr
    assert wait_child(epid) == 7
    assert husk_cli.state(cid)["status"] == "running"


def test_ps_json(make_bundle, husk_cli, tmp_path):
    b = make_bundle(["sh", "-c", "echo init=$$; exec sleep 100000"])
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    init_pid = int(re.search(rb"init=(\d+)", wait_file(c.out, b"\n")).group(1))
    res = husk_cli.to_files("exec", "-d", c.cid, "sh", "-c", "echo exec=$$; exec sleep 100000",
                            name="exec-sleep")
    assert res.returncode == 0, res.stderr
    exec_pid = int(re.search(rb"exec=(\d+)", wait_file(res.out, b"\n")).group(1))

    # json: the host processes that run the VM (its cgroup's), as runc
    # lists its container's cgroup; docker top and containerd map these
    # onto host processes, so they must be the host's
    res = husk_cli("ps", "--format", "json", c.cid)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    pids = json.loads(res.stdout)
    assert isinstance(pids, list) and all(isinstance(p, int) for p in pids), pids
    st = json.loads((husk_cli.root / c.cid / "state.json").read_text())
    assert {st["pid"], st["husk_proxy_pid"], st["husk_vm_pid"]} <= set(pids), (st, pids)
    names = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids}
    assert names <= {"husk", "husk-sentinel", "qemu-system-x86", "virtiofsd"}, names

    # the table: the guest's processes, as runc's ps -ef table
    res = husk_cli("ps", c.cid)
    assert res.returncode == 0 and res.stderr == b"", res.stderr
    lines = res.stdout.decode().splitlines()
    assert lines and lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME",
                                          "CMD"], lines
    rows = {int(line.split()[1]): line for line in lines[1:]}
    assert {init_pid, exec_pid} <= set(rows), (init_pid, exec_pid, lines)
    assert rows[init_pid].split()[0] == "root" and rows[init_pid].endswith("sleep 100000"), lines
    assert husk_cli("delete", "--force", c.cid).returncode == 0


# ---------------------------------------------------------------- list


def test_list(make_bundle, husk_cli, tmp_path):
    b1 = make_bundle(TRAP, name="b1")
    b2 = make_bundle(TRAP, name="b2")
    c1 = husk_cli.create(b1, flags=["--pid-file", tmp_path / "1.pid"])
    assert c1.returncode == 0, c1.stderr
    c2 = husk_cli.create(b2, verb=("run", "-d"), flags=["--pid-file", tmp_path / "2.pid"])
    assert c2.returncode == 0, c2.stderr
    want = {
        c1.cid: {"pid": read_pid_file(tmp_path / "1.pid"), "status": "created", "bundle": str(b1)},
        c2.cid: {"pid": read_pid_file(tmp_path / "2.pid"), "status": "running", "bundle": str(b2)},
    }
    created = {cid: husk_cli.state(cid)["created"] for cid in want}

    res = husk_cli("list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "RUNTIME"], lines
    rows = {r.split()[0]: r.split() for r in lines[1:]}
    assert set(rows) == set(want), lines
    for cid, w in want.items():
        assert rows[cid][1:5] == [str(w["pid"]), w["status"], w["bundle"], created[cid]], rows[cid]
        assert rows[cid][5] == "husk", rows[cid]

    res = husk_cli("list", "--format", "json")
    assert res.returncode == 0, res.stderr
    items = json.loads(res.stdout)
    assert isinstance(items, list) and len(items) == 2, items
    for it in items:
        w = want[it["id"]]
        assert (it["pid"], it["status"], it["bundle"]) == (w["pid"], w["status"], w["bundle"])
        assert it["created"] == created[it["id"]]

    res = husk_cli("list", "-q")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.decode().split("\n")[:-1]) == sorted(want), res.stdout

    for cid in want:
        assert husk_cli("delete", "--force", cid).returncode == 0
    res = husk_cli("list", "-q")
    assert (res.returncode, res.stdout) == (0, b""), res.stderr


def test_list_empty_root(husk_cli):
    res = husk_cli("list")
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "RUNTIME"]
    res = husk_cli("list", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    res = husk_cli("list", "-q")
    assert (res.returncode, res.stdout) == (0, b""), res.stderr


# ---------------------------------------------------------------- spec, features, log


def test_spec(husk_cli, tmp_path):
    d = tmp_path / "spec-bundle"
    d.mkdir()
    res = husk_cli("spec", "--bundle", d)
    assert res.returncode == 0, res.stderr
    cfg_path = d / "config.json"
    text = cfg_path.read_text()
    cfg = json.loads(text)
    assert isinstance(cfg["ociVersion"], str) and cfg["ociVersion"]
    args = cfg["process"]["args"]
    assert isinstance(args, list) and args and all(isinstance(a, str) for a in args), args
    assert cfg["root"]["path"]

    res = husk_cli("spec", "--bundle", d)
    assert_error(res, "config.json")
    assert cfg_path.read_text() == text, "spec overwrote an existing config.json"

    # without --bundle: the current directory
    d2 = tmp_path / "cwd"
    d2.mkdir()
    res = subprocess.run(husk_cli.argv("spec"), cwd=d2, capture_output=True, env=husk_cli.env(),
                         timeout=HANG_GUARD_S)
    assert res.returncode == 0, res.stderr
    assert json.loads((d2 / "config.json").read_text())["process"]["args"]


def test_features(husk_cli):
    res = husk_cli("features")
    assert res.returncode == 0, res.stderr
    f = json.loads(res.stdout)
    assert isinstance(f, dict)
    assert isinstance(f.get("ociVersionMin"), str) and isinstance(f.get("ociVersionMax"), str), f


def test_version(husk_cli):
    res = husk_cli("--version")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "husk" in out and re.search(r"^spec: \S+$", out, re.M), out


def test_log_json_error(husk_cli, tmp_path):
    log = tmp_path / "husk.log"
    res = husk_cli("start", "no-such-container", global_flags=["--log", log, "--log-format", "json"])
    assert res.returncode == 125, res.stderr
    lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
    assert lines, "nothing logged"
    entries = [json.loads(ln) for ln in lines]  # every line is one JSON object
    errors = [e for e in entries if e.get("level") == "error"]
    assert errors, entries
    assert any(NOT_EXIST.search(e.get("msg", "")) and "no-such-container" in e["msg"]
               for e in errors), errors
