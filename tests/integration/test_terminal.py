"""husk run with process.terminal in a terminal: raw mode, window size,
Ctrl-C reaching the guest process, the terminal restored on exit."""
import fcntl
import os
import pty
import select
import struct
import termios


def read_until(fd, needle, out, limit=4000):
    """Read the pty until needle shows up (bounded number of reads)."""
    for _ in range(limit):
        if needle in out:
            return out
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def spawn_in_pty(argv, rows=24, cols=80):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def test_run_terminal_interactive(husk_runner, make_bundle):
    bundle = make_bundle(["sh"], edit=lambda c: c["process"].update(terminal=True))
    argv = husk_runner.argv(bundle)
    pid, fd = spawn_in_pty(argv, rows=24, cols=80)
    out = read_until(fd, b"# ", b"")
    os.write(fd, b"echo hi-$((40+2))\r")
    out = read_until(fd, b"hi-42", out)
    assert b"hi-42" in out, out
    # the window size of our terminal, then a change of it, reach the guest
    os.write(fd, b"stty size\r")
    out = read_until(fd, b"24 80", out)
    assert b"24 80" in out, out
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
    os.kill(pid, 28)  # SIGWINCH, as the terminal would send it to its foreground group
    for _ in range(50):
        os.write(fd, b"stty size\r")
        out = read_until(fd, b"31 97", out, limit=20)
        if b"31 97" in out:
            break
    assert b"31 97" in out, out
    # Ctrl-C is a byte in raw mode: the guest's terminal turns it into SIGINT
    # (the ^C is sent once the sleeper says it runs: one sent before the
    # shell has made it the terminal's foreground job would go to the
    # shell, which ignores it)
    os.write(fd, b"sh -c 'echo sleep-ready; exec sleep 1000'\r")
    out = read_until(fd, b"\r\nsleep-ready\r\n", out)
    assert b"\r\nsleep-ready\r\n" in out, out
    os.write(fd, b"\x03")
    os.write(fd, b"echo after-$((2*3))\r")
    out = read_until(fd, b"after-6", out)
    assert b"after-6" in out, out
    os.write(fd, b"exit 9\r")
    read_until(fd, b"\xff", out, limit=100)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9


def test_run_terminal_restored(husk_runner, make_bundle, tmp_path):
    bundle = make_bundle(["true"], edit=lambda c: c["process"].update(terminal=True))
    report = tmp_path / "modes"
    # a child in the pty records the terminal modes before and after husk run
    script = ("import termios,subprocess,sys;a=termios.tcgetattr(0);"
              "r=subprocess.call(sys.argv[1:]);b=termios.tcgetattr(0);"
              "open(%r,'w').write('%%d %%s' %% (r, a==b))" % str(report))
    pid, fd = spawn_in_pty(["/usr/bin/python3", "-c", script] + husk_runner.argv(bundle))
    read_until(fd, b"\xff", b"", limit=600)
    os.waitpid(pid, 0)
    assert report.read_text() == "0 True"
