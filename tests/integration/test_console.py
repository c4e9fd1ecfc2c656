"""process.terminal and --console-socket: husk sends the master of a host pty
over an AF_UNIX socket (one message, exactly one SCM_RIGHTS fd); the test is
the console's other end, as containerd's or podman's receiver would be.
"""

import array
import fcntl
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import time

import pytest

from conftest import (HANG_GUARD_S, live_qemus, pty_read_until, vm_mark, wait_child,
                      wait_pid_gone)

# ---------------------------------------------------------------- helpers


class ConsoleSocket:
    """A listening AF_UNIX stream socket (in a short directory: sun_path is
    108 bytes) that receives one pty master per connection."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="husk-con-", dir="/tmp")
        self.path = os.path.join(self.dir, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.masters = []

    def receive(self, proc, limit=HANG_GUARD_S):
        """Accept one connection and return the fd it carried; proc is the
        husk process that should connect (its early exit is reported)."""
        deadline = time.monotonic() + limit
        while True:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                break
            if proc.poll() is not None:
                pytest.fail(f"husk exited {proc.returncode} without connecting to the console "
                            f"socket; stderr {_stderr_of(proc)!r}")
            if time.monotonic() > deadline:
                pytest.fail("hang guard: nothing connected to the console socket")
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(limit)
            fd_size = array.array("i").itemsize
            msg, anc, flags, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fd_size))
            fds = array.array("i")
            for level, kind, data in anc:
                assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS), (level, kind)
                fds.frombytes(data[:len(data) - len(data) % fd_size])
            self.masters += fds
            assert not flags & socket.MSG_CTRUNC, "more control data than one fd"
            assert len(anc) == 1 and len(fds) == 1, f"expected exactly one fd, got {list(fds)}"
        master = fds[0]
        target = os.readlink(f"/proc/self/fd/{master}")
        assert os.path.basename(target) == "ptmx", f"received fd is {target}, not a pty master"
        assert os.isatty(master)
        return master

    def close(self):
        for fd in self.masters:
            try:
                os.close(fd)
            except OSError:
                pass
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _stderr_of(proc):
    if proc.stderr is None:
        return None
    try:
        return proc.stderr.read()
    except (OSError, ValueError):
        return None


@pytest.fixture
def console_socket():
    cs = ConsoleSocket()
    yield cs
    cs.close()


def set_winsize(master, rows, cols):
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def terminal_bundle(make_bundle, args=("sh",), name="bundle"):
    def edit(cfg):
        cfg["process"]["terminal"] = True
        cfg["process"]["env"].append("TERM=xterm")

    return make_bundle(list(args), name=name, edit=edit)


def with_console(husk_cli, console_socket, argv):
    """Run a husk command that hands a pty master to console_socket; receive
    the master while it runs. Returns (master, returncode, stdout, stderr)."""
    p = subprocess.Popen(husk_cli.argv(*argv), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=husk_cli.env())
    try:
        master = console_socket.receive(p)
        out, err = p.communicate(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return master, p.returncode, out, err


def create_with_console(husk_cli, bundle, console_socket, verb=("create",), flags=()):
    """Start `husk create --console-socket` and receive the master while
    it runs; returns (Created, master, proxy pid)."""
    cid = husk_cli.next_id()
    husk_cli.ids.append(cid)
    pid_file = husk_cli.tmp / f"{cid}.pid"
    master, code, out, err = with_console(
        husk_cli, console_socket,
        (*verb, "--console-socket", console_socket.path, "--pid-file", pid_file, *flags,
         "--bundle", bundle, cid))
    assert code == 0, err
    assert out == b"", out
    return cid, master, int(pid_file.read_text())


# ---------------------------------------------------------------- create


def test_create_console_socket(make_bundle, husk_cli, console_socket, state_root):
    b = terminal_bundle(make_bundle)
    cid, master, pid = create_with_console(husk_cli, b, console_socket)
    st = husk_cli.state(cid)
    assert (st["status"], st["pid"]) == ("created", pid)

    res = husk_cli("start", cid)
    assert res.returncode == 0, res.stderr
    assert husk_cli.state(cid)["status"] == "running"

    # input reaches the shell, its output comes back (the echo of the input
    # line says "hi-$((1+2))", only the shell's output says "hi-3")
    os.write(master, b"echo hi-$((1+2))\n")
    pty_read_until(master, b"hi-3")

    # it is a terminal in the guest
    os.write(master, b"tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-$((7*6))-ttys\n")
    out = pty_read_until(master, b"all-42-ttys")
    assert re.search(rb"/dev/(pts/\d+|console|tty\w*)", out), out

    # the window size set on the master reaches the process
    set_winsize(master, 33, 101)
    os.write(master, b"stty size\n")
    pty_read_until(master, re.compile(rb"\r?\n33 101\r?\n"))
    set_winsize(master, 50, 132)
    os.write(master, b"stty size\n")
    pty_read_until(master, re.compile(rb"\r?\n50 132\r?\n"))

    os.write(master, b"exit 3\n")
    assert wait_child(pid) == 3
    assert husk_cli.wait_status(cid, "stopped")["status"] == "stopped"
    res = husk_cli("delete", cid)
    assert res.returncode == 0, res.stderr
    assert not (state_root / cid).exists()


def test_run_detached_console_socket(make_bundle, husk_cli, console_socket):
    b = terminal_bundle(make_bundle, ["sh", "-c", "read x; echo got-$x; exit 4"])
    cid, master, pid = create_with_console(husk_cli, b, console_socket, verb=("run", "-d"))
    assert husk_cli.state(cid)["status"] == "running"
    os.write(master, b"abc\n")
    pty_read_until(master, b"got-abc")
    assert wait_child(pid) == 4
    husk_cli.wait_status(cid, "stopped")
    assert husk_cli("delete", cid).returncode == 0


def test_terminal_without_console_socket_fails(make_bundle, husk_cli, state_root):
    """process.terminal with no --console-socket and no terminal on stdin
    cannot give the process a terminal: create must refuse, not hang."""
    b = terminal_bundle(make_bundle)
    c = husk_cli.create(b)
    assert c.returncode == 125, c.stderr
    lines = c.stderr.decode().splitlines()
    assert lines and lines[0].startswith("husk: "), lines
    assert re.search(r"console|terminal|tty", lines[0], re.I), lines
    assert not (state_root / c.cid).exists()
    assert not live_qemus(vm_mark(state_root, c.cid))


# ---------------------------------------------------------------- exec -t


def test_exec_tty_console_socket(make_bundle, husk_cli, console_socket):
    """exec -t --console-socket into a running container with its own
    terminal: the exec gets a second pty, and runs its command on it."""
    b = terminal_bundle(make_bundle)
    cid, master, pid = create_with_console(husk_cli, b, console_socket, verb=("run", "-d"))
    os.write(master, b"echo init-tty=$(tty)\n")
    init_tty = re.search(rb"init-tty=(/dev/\S+)\r?\n", pty_read_until(
        master, re.compile(rb"init-tty=/dev/\S+\r?\n"))).group(1)

    p = subprocess.Popen(
        husk_cli.argv("exec", "-t", "--console-socket", console_socket.path, cid,
                      "sh", "-c", "echo exec-tty=$(tty); [ -t 0 ] && echo x-$((6*7)); exit 4"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=husk_cli.env())
    try:
        emaster = console_socket.receive(p)
        assert emaster != master
        tty_out = pty_read_until(emaster, b"x-42")
        out, err = p.communicate(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 4, err
    assert out == b"", out  # its output went to the pty, not to exec's stdout
    exec_tty = re.search(rb"exec-tty=(/dev/\S+?)\r?\n", tty_out)
    assert exec_tty, "no exec-tty line"
    assert exec_tty.group(1) != init_tty, (exec_tty.group(1), init_tty)

    # the container's own terminal still works
    os.write(master, b"echo still-$((2+2))\n")
    pty_read_until(master, b"still-4")
    os.write(master, b"exit 0\n")
    assert wait_child(pid) == 0
    husk_cli.wait_status(cid, "stopped")
    assert husk_cli("delete", cid).returncode == 0


def test_exec_process_file_terminal_without_tty_flag(make_bundle, husk_cli, console_socket,
                                                     tmp_path):
    """containerd's shim (docker exec -it, ctr task exec -t) passes the
    terminal in the --process file and no -t: --process is the whole truth,
    so the console socket gets the master and the process has a terminal."""
    b = make_bundle(["sleep", "1000"])
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    proc = {"terminal": True, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "env": ["PATH=/bin"], "args": ["sh", "-c", "[ -t 0 ] && echo term-$((6*7)); exit 3"]}
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    p = subprocess.Popen(
        husk_cli.argv("exec", "--process", pf, "--console-socket", console_socket.path,
                      "--detach", "--pid-file", tmp_path / "exec.pid", c.cid),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=husk_cli.env())
    try:
        master = console_socket.receive(p)
        out = pty_read_until(master, b"term-42")
        p.communicate(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, p.stderr
    assert b"term-42" in out
    assert husk_cli("delete", "--force", c.cid).returncode == 0


def test_exec_tty_detached_resize(make_bundle, husk_cli, console_socket, tmp_path):
    """exec -t -d --console-socket: an interactive shell on the received
    master; window sizes set on it reach the process; the exec proxy in
    --pid-file exits with the shell's status."""
    b = make_bundle(["sh", "-c", "echo ready; exec sleep 100000"])
    c = husk_cli.create(b, verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    pid_file = tmp_path / "exec.pid"
    emaster, code, out, err = with_console(
        husk_cli, console_socket,
        ("exec", "-t", "-d", "--pid-file", pid_file, "--console-socket", console_socket.path,
         c.cid, "sh"))
    assert code == 0, err
    epid = int(pid_file.read_text())

    set_winsize(emaster, 33, 101)
    os.write(emaster, b"stty size\n")
    pty_read_until(emaster, re.compile(rb"\r?\n33 101\r?\n"))
    set_winsize(emaster, 44, 55)
    os.write(emaster, b"stty size\n")
    pty_read_until(emaster, re.compile(rb"\r?\n44 55\r?\n"))
    os.write(emaster, b"exit 6\n")
    assert wait_child(epid) == 6
    assert husk_cli.state(c.cid)["status"] == "running"
    assert husk_cli("delete", "--force", c.cid).returncode == 0
    for q in live_qemus(vm_mark(husk_cli.root, c.cid)):
        assert wait_pid_gone(q, tries=600)
