"""Fixtures for husk's integration tests: real `husk run` invocations that boot
real VMs (TCG here). Run one test process at a time: the machine is small.

Environment: HUSK_BUILD points at the build directory (default <repo>/build),
which must hold husk, husk-mkinitrd, initrd.img, a kernel (kernel/vmlinux) and
tests/husk-testhelper (`make all build/tests/husk-testhelper`).
HUSK_BIN, if set, is the husk binary to drive instead of HUSK_BUILD/husk.
"""

import atexit
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

# What the suite's husk calls keep of the environment: the build, the share
# mode, and the snapshot directory every test shares (a session's own, so a
# snapshot is made once per configuration, not once per test's --root).
KEPT_ENV = ("HUSK_BUILD", "HUSK_SHARE", "HUSK_SNAPSHOT_DIR", "HUSK_TEMPLATE")
if not os.environ.get("HUSK_SNAPSHOT_DIR"):
    os.environ["HUSK_SNAPSHOT_DIR"] = tempfile.mkdtemp(prefix="husk-snapshots-")
    atexit.register(shutil.rmtree, os.environ["HUSK_SNAPSHOT_DIR"], True)

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/bin/busybox")

# Only a guard against a hung run; no test asserts on timing.
HANG_GUARD_S = 300


def pty_read(fd):
    """One read of a pty master; b"" once the slave side is gone (EIO)."""
    try:
        return os.read(fd, 4096)
    except OSError as e:
        if e.errno != errno.EIO:
            raise
        return b""


def pty_read_until(fd, token, limit=HANG_GUARD_S):
    """Read a pty master until token appears (a regex if compiled); returns
    all that was read. The limit is a hang guard, not a time limit."""
    buf = b""
    deadline = time.monotonic() + limit

    def found():
        return token.search(buf) if isinstance(token, re.Pattern) else token in buf

    while not found():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {token!r} never came from the pty; got {buf!r}")
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        chunk = pty_read(fd)
        if not chunk:
            pytest.fail(f"pty closed before {token!r}; got {buf!r}")
        buf += chunk
    return buf


def pty_read_all(fd):
    """Everything a pty master gives until its slave side is gone."""
    out = b""
    while chunk := pty_read(fd):
        out += chunk
    return out


def pattern_bytes(n):
    """The bytes husk-testhelper's `pattern N` writes: byte i is (i*7 + i//251) & 0xff."""
    seq = (bytes((7 * i) & 0xFF for i in range(256)) * (n // 256 + 1))[:n]
    shift = [bytes((j + k) & 0xFF for j in range(256)) for k in range(256)]
    out = bytearray(n)
    for k, start in enumerate(range(0, n, 251)):
        out[start:start + 251] = seq[start:start + 251].translate(shift[k & 0xFF])
    return bytes(out)


@pytest.fixture(scope="session")
def build_dir():
    d = Path(os.environ.get("HUSK_BUILD", REPO / "build")).resolve()
    needed = ["husk", "husk-mkinitrd", "initrd.img", "tests/husk-testhelper"]
    missing = [n for n in needed if not (d / n).exists()]
    if not any((d / "kernel" / k).exists() for k in ("vmlinux", "bzImage")):
        missing.append("kernel/vmlinux")
    if missing:
        pytest.fail(
            f"missing in {d}: {', '.join(missing)} (run `make all build/tests/husk-testhelper`)"
        )
    return d


@pytest.fixture(scope="session")
def husk(build_dir):
    """HUSK_BIN: another husk binary (make sanitize runs build/asan/husk) with
    the kernel, initrd and helpers still taken from HUSK_BUILD."""
    b = os.environ.get("HUSK_BIN")
    if b:
        p = Path(b).resolve()
        if not p.exists():
            pytest.fail(f"HUSK_BIN={b} does not exist")
        return p
    return build_dir / "husk"


@pytest.fixture(scope="session")
def testhelper(build_dir):
    return build_dir / "tests" / "husk-testhelper"


@pytest.fixture(scope="session")
def busybox_applets():
    if not BUSYBOX.exists():
        pytest.fail(f"{BUSYBOX} is missing (Debian package busybox-static)")
    out = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True)
    return [a for a in out.stdout.split() if a and "/" not in a and a != "busybox"]


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory, busybox_applets, testhelper):
    """A rootfs built once per session; each bundle gets its own copy."""
    r = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    (r / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, r / "bin" / "busybox")
    for a in busybox_applets:
        # Relative links, so they resolve inside the guest's rootfs.
        os.symlink("busybox", r / "bin" / a)
    shutil.copy2(testhelper, r / "bin" / "husk-testhelper")
    os.chmod(r / "bin" / "husk-testhelper", 0o755)
    for d in ("proc", "dev", "sys", "tmp", "etc", "usr/bin"):
        (r / d).mkdir(parents=True, exist_ok=True)
    os.chmod(r / "tmp", 0o1777)
    return r


def default_config(args):
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/bin:/usr/bin", "HOME=/"],
            "cwd": "/",
        },
        "root": {"path": "rootfs"},
        "hostname": "husk-test",
    }


@pytest.fixture
def make_bundle(tmp_path, rootfs_template):
    """make_bundle(args, name="bundle", config=None, edit=None, raw=None) -> Path

    args: process.args. edit: a function given the config dict to change in
    place (or to return a replacement). raw: write this text as config.json
    verbatim instead. config=False: write no config.json at all.
    """

    def make(args=("true",), name="bundle", edit=None, raw=None, config=True, rootfs=True):
        b = tmp_path / name
        b.mkdir()
        if rootfs:
            shutil.copytree(rootfs_template, b / "rootfs", symlinks=True)
        if raw is not None:
            (b / "config.json").write_text(raw)
        elif config:
            cfg = default_config(args)
            if edit is not None:
                res = edit(cfg)
                if res is not None:
                    cfg = res
            (b / "config.json").write_text(json.dumps(cfg, indent=2))
        return b

    return make


@pytest.fixture
def state_root(tmp_path):
    return tmp_path / "root"


class Husk:
    """Runs `husk --root R [global] run [flags] --bundle B ID`."""

    def __init__(self, husk, root):
        self.husk = husk
        self.root = root
        self._n = 0

    def next_id(self):
        self._n += 1
        return f"t{os.getpid()}-{self._n}"

    def argv(self, bundle, cid=None, flags=(), global_flags=()):
        if cid is None:
            cid = self.next_id()
        argv = [str(self.husk), "--root", str(self.root), *global_flags, "run", *flags]
        if bundle is not None:
            argv += ["--bundle", str(bundle)]
        argv.append(cid)
        return argv

    def env(self, extra=None):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("HUSK_") and k not in KEPT_ENV:
                del e[k]
        if extra:
            for k, v in extra.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        return e

    def run(self, bundle, cid=None, flags=(), global_flags=(), env=None, input=None,
            stdin=subprocess.DEVNULL, timeout=HANG_GUARD_S):
        """Run to completion; returns CompletedProcess with bytes stdout/stderr."""
        argv = self.argv(bundle, cid, flags, global_flags)
        kw = {}
        if input is not None:
            kw["input"] = input
        else:
            kw["stdin"] = stdin
        return subprocess.run(argv, capture_output=True, env=self.env(env), timeout=timeout, **kw)

    def popen(self, bundle, cid=None, flags=(), global_flags=(), env=None, **kw):
        argv = self.argv(bundle, cid, flags, global_flags)
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(argv, env=self.env(env), **kw)


@pytest.fixture
def husk_runner(husk, state_root):
    return Husk(husk, state_root)


def stderr_lines(res):
    return res.stderr.decode(errors="replace").splitlines()


def _proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        return s[s.rindex(b")") + 2:s.rindex(b")") + 3].decode()
    except (OSError, ValueError):
        return None


def vm_mark(root, cid):
    """What QEMU's and virtiofsd's command lines hold of one container: its
    state directory, with the slash that keeps c1 from matching c10."""
    return f"{root / cid}/"


def _in_its_fs(path):
    """path as mountinfo's root field shows a bind of it: relative to the
    root of the file system it lies on (the same path unless /tmp, say, is a
    file system of its own)."""
    best_root, best_mp = "/", "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            root, mp = fields[3], fields[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best_mp):
                best_root, best_mp = root, mp
    rest = path[len(best_mp.rstrip("/")):]
    return best_root.rstrip("/") + rest or "/"


def _state_dir(cl):
    """The container's state directory in QEMU's (-pidfile) or virtiofsd's
    (source=<state>/share) command line."""
    for i, a in enumerate(cl):
        if a == b"-pidfile" and i + 1 < len(cl):
            return os.path.dirname(cl[i + 1])
        if a.startswith(b"source="):
            return os.path.dirname(a[len(b"source="):].replace(b"\\,", b","))
    return None


def _mountinfo(pid):
    try:
        with open(f"/proc/{pid}/mountinfo", "rb") as f:
            return f.read()
    except OSError:
        return b""


def live_qemus(mark):
    """PIDs of live (non-zombie) qemu-system and virtiofsd processes of the
    containers mark names: it is in their command line (both name the
    container's state directory: QEMU's -pidfile, the share: vm_mark), or in
    what they serve (their mount namespace holds the VM's share: the rootfs
    and bind sources, which come from the bundle, a daemon's storage...).
    QEMU and virtiofsd of one state directory go together: with virtio-fs
    QEMU itself has no file of the container."""
    marks = [str(mark).encode()]
    if os.path.isabs(str(mark)) and os.path.exists(mark):
        marks.append(_in_its_fs(os.path.realpath(mark)).encode())
    procs = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        cl = _proc_cmdline(pid)
        if not cl or not cl[0]:
            continue
        base = os.path.basename(cl[0])
        if b"qemu-system" not in base and b"virtiofsd" not in base:
            continue
        st = _proc_state(pid)
        if st is None or st == "Z":
            continue
        procs.append((pid, cl))
    found, dirs = set(), set()
    for pid, cl in procs:
        mounts = _mountinfo(pid)
        if any(m in a for a in cl for m in marks[:1]) or any(m in mounts for m in marks):
            found.add(pid)
            dirs.add(_state_dir(cl))
    dirs.discard(None)
    found |= {pid for pid, cl in procs if _state_dir(cl) in dirs}
    return sorted(found)


def pid_gone(pid):
    st = _proc_state(pid)
    return st is None or st == "Z"


def wait_pid_gone(pid, tries=300, step=0.05):
    """Bounded poll (a hang guard, not a timing assertion)."""
    for _ in range(tries):
        if pid_gone(pid):
            return True
        time.sleep(step)
    return pid_gone(pid)


@pytest.fixture(autouse=True)
def no_leftovers(request, tmp_path, state_root):
    """After each test: no QEMU of this test still running, and the state root empty."""
    yield
    problems = []
    leftover = live_qemus(tmp_path)
    if leftover:
        # Give a process that is just being killed a moment to disappear.
        for pid in leftover:
            wait_pid_gone(pid, tries=40)
        leftover = [p for p in leftover if not pid_gone(p)]
    if leftover:
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        problems.append(f"QEMU left running (killed now): pids {leftover}")
    if state_root.exists():
        entries = sorted(os.listdir(state_root))
        if entries:
            problems.append(f"state root {state_root} not empty: {entries}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


# ---------------------------------------------------------------- the other verbs
#
# Used by test_lifecycle.py and test_console.py: create/start/state/kill/
# delete/exec/... one verb at a time. A container's proxy (the PID in
# --pid-file) is a child of `husk create` that is orphaned when create exits;
# the `subreaper` fixture makes this test process inherit it, so its exit
# status can be collected with waitpid.

PR_SET_CHILD_SUBREAPER = 36


def _children_of_self():
    kids = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids


@pytest.fixture
def subreaper():
    """This process becomes a child subreaper for the test; afterwards the
    orphans it inherited are reaped (zombies at once, live ones after a
    bounded wait) and the flag is cleared."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.fail(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")
    # children from before the test (the session's daemons) are not ours
    # to wait for: waiting on them cost every later test the whole bound
    before = set(_children_of_self())
    yield
    try:
        for _ in range(200):
            kids = [k for k in _children_of_self() if k not in before]
            for pid in kids:
                if _proc_state(pid) == "Z":
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
            if not [k for k in _children_of_self() if k not in before]:
                break
            time.sleep(0.05)
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def wait_child(pid, limit=HANG_GUARD_S):
    """waitpid(pid) with a bounded poll; returns os.waitstatus_to_exitcode
    (negative for a signal). The limit only guards against a hang."""
    deadline = time.monotonic() + limit
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: process {pid} did not exit")
        time.sleep(0.05)


class Created:
    """What `husk create` left: its exit status and where its stdio went."""

    def __init__(self, cid, proc, out, err):
        self.cid, self.proc, self.out, self.err = cid, proc, out, err
        self.returncode = proc.returncode

    @property
    def stderr(self):
        return self.err.read_bytes() if self.err is not None else b""


class HuskCli:
    """`husk --root R [global] VERB ...`; containers it creates are deleted
    (--force) when the test ends."""

    def __init__(self, husk, root, tmp_path):
        self.husk = husk
        self.root = root
        self.tmp = tmp_path
        self.ids = []
        self._n = 0

    def next_id(self):
        self._n += 1
        return f"c{os.getpid()}-{self._n}"

    def argv(self, *args, global_flags=()):
        return [str(self.husk), "--root", str(self.root), *global_flags, *map(str, args)]

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("HUSK_") or k in KEPT_ENV}
        e.update(extra or {})
        return e

    def __call__(self, *args, global_flags=(), input=None, stdin=subprocess.DEVNULL,
                 timeout=HANG_GUARD_S):
        """Run a verb to completion; CompletedProcess with bytes output. Only
        for verbs that leave no process holding the pipes (not create, run -d,
        exec -d)."""
        kw = {"input": input} if input is not None else {"stdin": stdin}
        return subprocess.run(self.argv(*args, global_flags=global_flags), capture_output=True,
                              env=self.env(), timeout=timeout, **kw)

    def create(self, bundle, cid=None, flags=(), verb=("create",), stdin=subprocess.DEVNULL,
               stdout=None, stderr=None, global_flags=(), env=None):
        """`husk create` (or verb=("run", "-d")). The container's proxy keeps
        create's stdio, so by default stdout/stderr go to files
        <tmp>/<id>.out/.err; only create itself is waited for. env: extra
        environment variables (the proxy inherits them)."""
        if cid is None:
            cid = self.next_id()
        self.ids.append(cid)
        out = err = None
        if stdout is None:
            out = self.tmp / f"{cid}.out"
            stdout = open(out, "wb")
        if stderr is None:
            err = self.tmp / f"{cid}.err"
            stderr = open(err, "wb")
        try:
            p = subprocess.Popen(
                self.argv(*verb, *flags, "--bundle", bundle, cid, global_flags=global_flags),
                stdin=stdin, stdout=stdout, stderr=stderr, env=self.env(env))
        finally:
            for f, path in ((stdout, out), (stderr, err)):
                if path is not None:
                    f.close()
        try:
            p.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            pytest.fail(f"hang guard: husk {' '.join(verb)} {cid} did not return")
        return Created(cid, p, out, err)

    def to_files(self, *args, name="cmd", stdin=subprocess.DEVNULL, timeout=HANG_GUARD_S):
        """Run a verb with stdout/stderr in files (for exec -d, whose process
        keeps them): CompletedProcess with the files' bytes at its exit."""
        self._n += 1
        out, err = self.tmp / f"{name}-{self._n}.out", self.tmp / f"{name}-{self._n}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.run(self.argv(*args), stdin=stdin, stdout=o, stderr=e,
                               env=self.env(), timeout=timeout)
        p.stdout, p.stderr, p.out, p.err = out.read_bytes(), err.read_bytes(), out, err
        return p

    def state(self, cid):
        res = self("state", cid)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def proxy_pid(self, cid):
        """The proxy's PID (state's "pid" is the sentinel's: sentinel.h)."""
        st = json.loads((self.root / cid / "state.json").read_text())
        return st["husk_proxy_pid"]

    def vm_pid(self, cid):
        st = json.loads((self.root / cid / "state.json").read_text())
        return st["husk_vm_pid"]

    def wait_status(self, cid, status, limit=HANG_GUARD_S):
        """Poll `state` until it says status (bounded; a hang guard)."""
        deadline = time.monotonic() + limit
        while True:
            st = self.state(cid)
            if st["status"] == status:
                return st
            if time.monotonic() > deadline:
                pytest.fail(f"hang guard: {cid} stayed {st['status']!r}, never {status!r}")
            time.sleep(0.05)

    def cleanup(self):
        for cid in self.ids:
            if (self.root / cid).exists():
                self("delete", "--force", cid)


@pytest.fixture
def husk_cli(husk, state_root, tmp_path, subreaper):
    cli = HuskCli(husk, state_root, tmp_path)
    yield cli
    cli.cleanup()


def ctl_call(state_dir, req):
    """One request on a proxy's ctl.sock (SOCK_SEQPACKET, one JSON object
    each way, host-tool/ctl.c), reached through the directory's fd so a long
    path fits."""
    d = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(HANG_GUARD_S)  # a hang guard only
        s.connect(f"/proc/self/fd/{d}/ctl.sock")
        s.sendall(json.dumps(req).encode())
        reply = s.recv(65536)
    finally:
        s.close()
        os.close(d)
    assert reply, f"the proxy closed ctl.sock on {req.get('op')!r}"
    return json.loads(reply)


def stop_daemon(proc, log, limit=60):
    """SIGTERM a daemon the suite started (containerd, dockerd), wait for it
    (bounded, then SIGKILL), close its log."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


# The suite's daemons (dockerd, containerd, containerd with its CRI plugin,
# podman), session-scoped: they live in callers.py, which uses the helpers
# above, so this import comes last.
from callers import containerd, cri, docker, podman  # noqa: E402,F401
