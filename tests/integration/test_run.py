"""`husk run`: stdio, exit codes, signals, reaping and error handling, each
against a real VM. The autouse fixture in conftest.py also checks after every
test that no QEMU of the test is left running and that the state root is empty.
"""

import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, pattern_bytes, stderr_lines, wait_pid_gone

MIB = 1024 * 1024


# ---------------------------------------------------------------- helpers


def read_until(proc, token, limit=HANG_GUARD_S):
    """Read proc.stdout until token appears; returns what was read. The limit
    only guards against a hang."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + limit
    while token not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            pytest.fail(f"hang guard: {token!r} never came; got {buf!r}")
        if not sel.select(left):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            proc.wait()
            err = proc.stderr.read().decode(errors="replace")
            pytest.fail(f"stdout closed before {token!r}; got {buf!r}, rc {proc.returncode}, "
                        f"stderr {err!r}")
        buf += chunk
    sel.close()
    return buf


def assert_runtime_error(res, state_root, cid, *needles, one_line=True):
    """Exit 125, `husk: ...` naming the problem, no output, no state left."""
    lines = stderr_lines(res)
    assert res.returncode == 125, (res.returncode, res.stderr)
    assert res.stdout == b""
    assert lines, "no message on stderr"
    if one_line:
        assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    first = lines[0]
    assert first.startswith("husk: "), first
    for n in needles:
        if isinstance(n, re.Pattern):
            assert n.search(first), f"{n.pattern!r} not in {first!r}"
        else:
            assert n.lower() in first.lower(), f"{n!r} not in {first!r}"
    assert not (state_root / cid).exists(), "state dir left behind"
    return lines


# ---------------------------------------------------------------- basics


def test_hello_world(make_bundle, husk_runner):
    b = make_bundle(["echo", "hello world"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hello world\n"
    assert res.stderr == b""


def test_relative_root_and_bundle(make_bundle, husk_runner, state_root):
    """--root and --bundle relative to the caller's directory work, as with
    runc: QEMU and the proxy, which run elsewhere, get absolute paths."""
    b = make_bundle(["echo", "relative"])
    cwd = state_root.parent
    argv = [str(husk_runner.husk), "--root", os.path.relpath(state_root, cwd), "run",
            "--bundle", os.path.relpath(b, cwd), husk_runner.next_id()]
    res = subprocess.run(argv, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL,
                         env=husk_runner.env(), timeout=HANG_GUARD_S)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"relative\n"


def test_guest_kernel_is_not_the_hosts(make_bundle, husk_runner):
    b = make_bundle(["uname", "-r"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    release = res.stdout.decode().strip()
    assert release, "empty kernel release"
    assert release != os.uname().release
    assert "husk" in release, release


def test_machine_pc(make_bundle, husk_runner):
    b = make_bundle(["echo", "hello from pc"])
    res = husk_runner.run(b, flags=["--machine", "pc"])
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"hello from pc\n"


# ---------------------------------------------------------------- exit status


@pytest.mark.parametrize("code", [0, 1, 42, 255])
def test_exit_code(make_bundle, husk_runner, code):
    b = make_bundle(["husk-testhelper", "exit", str(code)])
    res = husk_runner.run(b)
    assert res.returncode == code, res.stderr
    assert res.stdout == b""


@pytest.mark.parametrize("sig,code", [("KILL", 137), ("TERM", 143)])
def test_killed_by_signal(make_bundle, husk_runner, sig, code):
    b = make_bundle(["husk-testhelper", "kill-self", sig])
    res = husk_runner.run(b)
    assert res.returncode == code, res.stderr


def test_missing_binary_127(make_bundle, husk_runner):
    b = make_bundle(["/bin/no-such-program", "arg"])
    res = husk_runner.run(b)
    assert res.returncode == 127, res.stderr
    assert res.stdout == b""
    assert b"no-such-program" in res.stderr


def test_missing_binary_in_path_127(make_bundle, husk_runner):
    b = make_bundle(["no-such-command"])
    res = husk_runner.run(b)
    assert res.returncode == 127, res.stderr
    assert b"no-such-command" in res.stderr


def test_not_executable_126(make_bundle, husk_runner):
    b = make_bundle(["/bin/not-exec"])
    f = b / "rootfs" / "bin" / "not-exec"
    f.write_text("#!/bin/sh\necho should not run\n")
    os.chmod(f, 0o644)
    res = husk_runner.run(b)
    assert res.returncode == 126, res.stderr
    assert res.stdout == b""
    assert b"not-exec" in res.stderr


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                                 signal.SIGUSR1, signal.SIGUSR2],
                         ids=lambda s: s.name)
def test_signal_forwarded(make_bundle, husk_runner, sig):
    b = make_bundle(["husk-testhelper", "trap"])
    p = husk_runner.popen(b)
    try:
        got = read_until(p, b"ready\n")
        os.kill(p.pid, sig)
        out, err = p.communicate(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = got + out
    name = sig.name[3:]
    assert out == b"ready\n" + name.encode() + b"\n", (out, err)
    assert p.returncode == 10 + sig.value, (p.returncode, err)


def test_sigkill_of_husk_kills_qemu(make_bundle, husk_runner, state_root):
    b = make_bundle(["sh", "-c", "echo ready; exec sleep 1000"])
    cid = husk_runner.next_id()
    p = husk_runner.popen(b, cid=cid)
    try:
        read_until(p, b"ready\n")
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
        qemus = []
        for k in kids:
            try:
                with open(f"/proc/{k}/cmdline", "rb") as f:
                    if b"qemu-system" in f.read().split(b"\0")[0]:
                        qemus.append(k)
            except OSError:
                pass
        assert len(qemus) == 1, f"husk's children {kids}, QEMU among them: {qemus}"
        qemu = qemus[0]
        p.kill()
        p.wait(timeout=HANG_GUARD_S)
        assert p.returncode == -signal.SIGKILL
        # Bounded poll; a hang guard, not a timing assertion.
        assert wait_pid_gone(qemu, tries=600, step=0.05), f"QEMU {qemu} outlived husk"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # A SIGKILLed husk cannot remove its state dir; that is expected here.
    sd = state_root / cid
    if sd.exists():
        shutil.rmtree(sd)


# ---------------------------------------------------------------- stdio


def test_stdin_binary_roundtrip(make_bundle, husk_runner):
    data = os.urandom(10 * MIB)
    b = make_bundle(["cat"])
    res = husk_runner.run(b, input=data)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout) == len(data)
    assert res.stdout == data
    assert res.stderr == b""


def test_stdout_stderr_kept_apart(make_bundle, husk_runner):
    b = make_bundle(["husk-testhelper", "stderr-split"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"stdout line 1\nstdout line 2\nstdout line 3\n"
    assert res.stderr == b"stderr line 1\nstderr line 2\nstderr line 3\n"


def test_output_written_just_before_exit_is_not_lost(make_bundle, husk_runner):
    n = 10 * MIB
    b = make_bundle(["husk-testhelper", "pattern", str(n)])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout) == n
    assert res.stdout == pattern_bytes(n)


def test_stdin_from_dev_null(make_bundle, husk_runner):
    b = make_bundle(["sh", "-c", "echo start; cat; echo end"])
    with open(os.devnull, "rb") as dn:
        res = husk_runner.run(b, stdin=dn)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"start\nend\n"


def test_stdin_closed(make_bundle, husk_runner):
    b = make_bundle(["sh", "-c", "echo start; cat; echo end"])
    argv = husk_runner.argv(b)
    # husk starts with fd 0 closed.
    res = subprocess.run(["/bin/sh", "-c", 'exec "$@" <&-', "sh", *argv],
                         stdin=subprocess.DEVNULL, capture_output=True,
                         env=husk_runner.env(), timeout=HANG_GUARD_S)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"start\nend\n"


# ---------------------------------------------------------------- PID 1 duties


def test_orphans_are_reaped(make_bundle, husk_runner):
    b = make_bundle(["sh", "-c", "husk-testhelper orphans 50 && husk-testhelper zombies 2000"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"orphans 50\n0\n"


def test_zombie_count_is_real(make_bundle, husk_runner):
    """Check the checker: a zombie child of a live process is counted."""
    # The subshell forks `true`, then becomes `sleep 3`, which never waits
    # for it: `true` stays a zombie (child of a live process) meanwhile.
    b = make_bundle(["sh", "-c", "(true & exec sleep 3) & sleep 1; husk-testhelper zombies"])
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"1\n"


# ---------------------------------------------------------------- bad input


def test_missing_bundle_dir(tmp_path, husk_runner, state_root):
    cid = husk_runner.next_id()
    missing = tmp_path / "no-such-bundle"
    res = husk_runner.run(missing, cid=cid)
    assert_runtime_error(res, state_root, cid, str(missing),
                         re.compile(r"no such file|not found|does not exist", re.I))


def test_missing_config_json(make_bundle, husk_runner, state_root):
    b = make_bundle(config=False)
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid)
    assert_runtime_error(res, state_root, cid, "config.json",
                         re.compile(r"no such file|not found|missing|does not exist", re.I))


def test_invalid_json(make_bundle, husk_runner, state_root):
    b = make_bundle(raw='{"ociVersion": "1.0.2", "process": {"args": ["true"]')
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid)
    assert_runtime_error(res, state_root, cid, "config.json",
                         re.compile(r"json|pars", re.I))


def test_missing_process_args(make_bundle, husk_runner, state_root):
    def edit(cfg):
        del cfg["process"]["args"]

    b = make_bundle(edit=edit)
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid)
    assert_runtime_error(res, state_root, cid, "args")


def test_empty_process_args(make_bundle, husk_runner, state_root):
    b = make_bundle(args=[])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid)
    assert_runtime_error(res, state_root, cid, "args")


def test_missing_rootfs(make_bundle, husk_runner, state_root):
    b = make_bundle(["true"], rootfs=False)
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid)
    assert_runtime_error(res, state_root, cid, "rootfs")


def test_qemu_missing(make_bundle, husk_runner, state_root):
    b = make_bundle(["true"])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid, env={"HUSK_QEMU": "/nonexistent"})
    assert_runtime_error(res, state_root, cid, "/nonexistent", "qemu")


def test_kernel_missing(make_bundle, husk_runner, state_root):
    b = make_bundle(["true"])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid, flags=["--kernel", "/nonexistent"])
    assert_runtime_error(res, state_root, cid, "/nonexistent", "kernel")


def test_initrd_missing(make_bundle, husk_runner, state_root):
    b = make_bundle(["true"])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid, flags=["--initrd", "/nonexistent"])
    assert_runtime_error(res, state_root, cid, "/nonexistent", "initrd")


@pytest.fixture
def silent_initrd(tmp_path, build_dir, testhelper):
    """An initrd whose /init (husk-testhelper) never greets the host."""
    lst = tmp_path / "silent.list"
    lst.write_text(
        "dir /dev 0755 0 0\n"
        "nod /dev/console 0600 0 0 c 5 1\n"
        f"file /init {testhelper} 0755 0 0\n"
    )
    out = tmp_path / "silent-initrd.img"
    subprocess.run([str(build_dir / "husk-mkinitrd"), "-z", "-o", str(out), str(lst)],
                   check=True, capture_output=True, timeout=HANG_GUARD_S)
    return out


def test_agent_never_greets(make_bundle, husk_runner, state_root, silent_initrd):
    b = make_bundle(["true"])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid, flags=["--initrd", str(silent_initrd), "--boot-timeout", "5"])
    lines = assert_runtime_error(res, state_root, cid, "did not greet", one_line=False)
    # The console tail follows: it holds what the bogus /init printed.
    rest = "\n".join(lines[1:])
    assert "bogus init, sleeping forever" in rest, lines


def test_id_already_exists(make_bundle, husk_runner, state_root):
    b = make_bundle(["echo", "must not run"])
    cid = husk_runner.next_id()
    existing = state_root / cid
    existing.mkdir(parents=True)
    marker = existing / "state.json"
    marker.write_text("{}")
    res = husk_runner.run(b, cid=cid)
    lines = stderr_lines(res)
    assert res.returncode == 125, res.stderr
    assert res.stdout == b""
    assert len(lines) == 1, lines
    assert lines[0].startswith("husk: ")
    assert "already exists" in lines[0] and cid in lines[0], lines[0]
    # The other container's state must be left alone.
    assert marker.read_text() == "{}"
    marker.unlink()
    existing.rmdir()


@pytest.mark.parametrize("cid", ["bad/id", "../escape", "has space", ".hidden", "x" * 300],
                         ids=["slash", "dotdot", "space", "leading-dot", "too-long"])
def test_invalid_id(make_bundle, husk_runner, state_root, tmp_path, cid):
    b = make_bundle(["echo", "must not run"])
    res = husk_runner.run(b, cid=cid)
    lines = stderr_lines(res)
    assert res.returncode == 125, res.stderr
    assert res.stdout == b""
    assert len(lines) == 1, lines
    assert lines[0].startswith("husk: ")
    assert re.search(r"invalid|not valid", lines[0], re.I) and re.search(r"\bid\b", lines[0], re.I), \
        lines[0]
    assert not (tmp_path / "escape").exists()
    assert not state_root.exists() or os.listdir(state_root) == []


def test_agent_never_greets_message_names_the_timeout(make_bundle, husk_runner, state_root,
                                                      silent_initrd):
    b = make_bundle(["true"])
    cid = husk_runner.next_id()
    res = husk_runner.run(b, cid=cid, flags=["--initrd", str(silent_initrd), "--boot-timeout", "5"])
    lines = assert_runtime_error(res, state_root, cid, "did not greet", one_line=False)
    # The limit given with --boot-timeout 5 must be the one reported.
    assert re.search(r"\b5 ?(s|sec|seconds)\b", lines[0]), lines[0]


@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_bundle_path_with_a_comma(make_bundle, husk_runner, share):
    """QEMU takes ",," for a comma in an option's value, virtiofsd "\\,":
    runc runs such a bundle, so husk does."""
    b = make_bundle(["sh", "-c", "echo comma-ok > /tmp/x && cat /tmp/x"], name="a,b,,c")
    res = husk_runner.run(b, flags=["--share", share])
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"comma-ok\n"


def test_qemu_refusal_shows_qemus_own_words(make_bundle, husk_runner, tmp_path):
    """A VM QEMU refuses (a kernel that is not one) reports QEMU's reason,
    not only its exit status."""
    bad = tmp_path / "not-a-kernel"
    bad.write_bytes(b"\0" * 4096)
    res = husk_runner.run(make_bundle(["true"]), flags=["--kernel", str(bad)])
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 125, err
    first = err.splitlines()[0]
    assert "QEMU exit status 1): " in first and "kernel" in first.lower(), first


def test_without_uts_namespace_the_hostname_is_the_hosts(make_bundle, husk_runner):
    """runc's container without a UTS namespace has the host's hostname."""
    def edit(cfg):
        del cfg["hostname"]

    res = husk_runner.run(make_bundle(["hostname"], edit=edit))
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip() == socket.gethostname()


def test_closed_output_reaches_the_process_as_sigpipe(make_bundle, husk_runner):
    """`husk run ID | head -1` with an endless writer ends as runc's does: the
    writer dies of SIGPIPE once the reader is gone (status 141)."""
    p = husk_runner.popen(make_bundle(["yes"]), stdout=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        p.stdout.close()
        rc = p.wait(timeout=HANG_GUARD_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert line == b"y\n"
    assert rc == 128 + signal.SIGPIPE, p.stderr.read()
