"""A hostile config and hostile neighbours of the state (issue 12): the config
is read once, at create, and kept in the state directory; fields that narrow
privilege refuse a value of the wrong type; state changes serialise on the
container's lock, signals go through pidfds checked against a start time,
and a state root someone else can write to is refused (docs/security.md,
"The config is read once", "Privilege fields", "State under one lock").

Tests that need no VM fabricate a state directory the way husk writes one
(state.json, config.json) around `sleep` processes standing in for the proxy
and the sentinel.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import (HANG_GUARD_S, default_config, live_qemus, pid_gone, wait_child,
                      wait_pid_gone)

NOT_EXIST = "container does not exist"


# ---------------------------------------------------------------- helpers


def read_pid_file(path):
    text = path.read_text()
    assert re.fullmatch(r"[1-9]\d*\n?", text), f"pid file {path} holds {text!r}"
    return int(text)


def start_time(pid):
    """Field 22 of /proc/PID/stat, as husk records it."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[19])


def husk_error_lines(res):
    return [ln for ln in res.stderr.decode(errors="replace").splitlines()
            if ln.startswith("husk: ")]


def assert_refused(res, *needles):
    """Exit 125, nothing on stdout, a `husk: ` line holding every needle.
    res: a CompletedProcess, or what husk_cli.create returns (its stdout is
    in a file)."""
    err = res.stderr.decode(errors="replace")
    out = res.out.read_bytes() if hasattr(res, "out") else res.stdout
    assert res.returncode == 125, (res.returncode, out, err)
    assert out == b"", out
    lines = husk_error_lines(res)
    assert lines, err
    for n in needles:
        assert any(n in ln for ln in lines), f"{n!r} not in {err!r}"


def marker_hook(marker):
    """A hook that leaves the state it was given in marker."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}


def fake_state(d, cid, status, sentinel, sentinel_start, proxy, proxy_start):
    """state.json as husk writes it, for a container whose sentinel and proxy
    are the given processes."""
    st = {"ociVersion": "1.0.2", "id": cid, "status": status, "pid": sentinel,
          "bundle": "/nonexistent", "rootfs": "/nonexistent/rootfs",
          "created": "2024-01-01T00:00:00.000000000Z", "owner": "", "annotations": {},
          "husk_start_time": sentinel_start, "husk_exit_status": -1,
          "husk_proxy_pid": proxy, "husk_proxy_start_time": proxy_start,
          "husk_vm_pid": 0, "husk_vm_start_time": 0}
    (d / "state.json").write_text(json.dumps(st))


def sleeper():
    """A process standing in for a proxy, a sentinel or a bystander (its
    start time is its fork's: exec does not change it)."""
    return subprocess.Popen(["sleep", "1000"])


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait(timeout=HANG_GUARD_S)


# ================================================================ the config is read once


@pytest.mark.parametrize("who", ["container", "host"])
def test_rewritten_config_changes_nothing_delete_runs(make_bundle, husk_cli, state_root,
                                                      tmp_path, who):
    """The issue's attack: a container whose root is the bundle directory
    rewrites config.json (who=container: from inside, through its root share;
    who=host: anyone who can write the bundle, after create). delete runs the
    poststop hook of the config create read, never the rewritten one's."""
    kept, rewritten = tmp_path / "poststop-kept", tmp_path / "poststop-rewritten"
    evil = default_config(["true"])
    evil["root"] = {"path": "." if who == "container" else "rootfs"}
    evil["hooks"] = {"poststop": [marker_hook(rewritten)]}

    def edit(cfg):
        cfg["hooks"] = {"poststop": [marker_hook(kept)]}
        if who == "container":
            # the bundle directory is the container's root; the rootfs
            # template sits in its rootfs/ subdirectory
            cfg["root"] = {"path": "."}
            cfg["process"]["args"] = ["/rootfs/bin/busybox", "cp", "/evil.json", "/config.json"]

    b = make_bundle(edit=edit)
    (b / "evil.json").write_text(json.dumps(evil))
    for d in ("proc", "dev", "sys", "tmp"):  # the mount points a root has
        (b / d).mkdir(exist_ok=True)
    # writable by whatever uid the share's server runs as on the host
    os.chmod(b / "config.json", 0o666)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    pid = read_pid_file(tmp_path / "pid")
    # create kept what it read: root's, 0600
    kept_copy = state_root / c.cid / "config.json"
    st = kept_copy.stat()
    assert (st.st_uid, st.st_mode & 0o7777) == (os.geteuid(), 0o600)
    if who == "host":
        (b / "config.json").write_text(json.dumps(evil))
    res = husk_cli("start", c.cid)
    assert res.returncode == 0, res.stderr
    husk_cli.wait_status(c.cid, "stopped")
    assert wait_child(pid) == 0
    # the rewrite happened: the attack was really tried
    assert json.loads((b / "config.json").read_text()) == evil
    assert not kept.exists() and not rewritten.exists()

    res = husk_cli("delete", c.cid)
    assert res.returncode == 0, res.stderr
    assert kept.exists(), "delete did not run the poststop hook create read"
    assert json.loads(kept.read_text())["id"] == c.cid
    assert not rewritten.exists(), "delete ran a poststop hook from the rewritten config.json"
    assert not (state_root / c.cid).exists()


def test_rewritten_config_changes_nothing_exec_runs(make_bundle, husk_cli, tmp_path):
    """exec without --process takes the process (env, user, cwd) from the
    config create read, not from the bundle's config.json as it is now."""
    def edit(cfg):
        cfg["process"]["env"] = ["PATH=/bin:/usr/bin", "WHO=create"]

    b = make_bundle(["sleep", "1000"], edit=edit)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    assert husk_cli("start", c.cid).returncode == 0
    husk_cli.wait_status(c.cid, "running")
    evil = json.loads((b / "config.json").read_text())
    evil["process"]["env"] = ["PATH=/bin:/usr/bin", "WHO=rewritten"]
    evil["process"]["user"] = {"uid": 1000, "gid": 1000}
    evil["process"]["cwd"] = "/tmp"
    (b / "config.json").write_text(json.dumps(evil))
    res = husk_cli("exec", c.cid, "sh", "-c", 'echo "$WHO $(id -u) $(pwd)"')
    assert (res.returncode, res.stdout) == (0, b"create 0 /\n"), res.stderr
    res = husk_cli("delete", "--force", c.cid)
    assert res.returncode == 0, res.stderr


# ================================================================ privilege fields


def _set(path, value):
    """An edit setting cfg[path...] = value."""
    def edit(cfg):
        o = cfg
        for k in path[:-1]:
            o = o.setdefault(k, {})
        o[path[-1]] = value
    return edit


SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def _seccomp_with(**change):
    sc = copy.deepcopy(SECCOMP)
    sc.update(change)
    return sc


def _rule_with(**change):
    rule = dict(SECCOMP["syscalls"][0], **change)
    return _seccomp_with(syscalls=[rule])


# (id, edit, what the message must hold): each refused at create, the field named
WRONG_TYPED = [
    ("capabilities-array", _set(["process", "capabilities"], ["CAP_KILL"]),
     "config.json: process.capabilities must be an object"),
    ("capabilities-string", _set(["process", "capabilities"], "CAP_KILL"),
     "config.json: process.capabilities must be an object"),
    ("capability-set-string", _set(["process", "capabilities"], {"bounding": "CAP_KILL"}),
     "config.json: process.capabilities.bounding must be an array"),
    ("capability-unknown", _set(["process", "capabilities"], {"effective": ["CAP_FLY"]}),
     "config.json: process.capabilities.effective[0]: unknown capability CAP_FLY"),
    ("noNewPrivileges-string", _set(["process", "noNewPrivileges"], "true"),
     "config.json: process.noNewPrivileges must be true or false"),
    ("noNewPrivileges-number", _set(["process", "noNewPrivileges"], 1),
     "config.json: process.noNewPrivileges must be true or false"),
    ("seccomp-array", _set(["linux", "seccomp"], [SECCOMP]),
     "config.json: linux.seccomp must be an object"),
    ("seccomp-syscalls-object", _set(["linux", "seccomp"],
                                     _seccomp_with(syscalls=SECCOMP["syscalls"][0])),
     "config.json: linux.seccomp.syscalls must be an array"),
    ("seccomp-names-string", _set(["linux", "seccomp"], _rule_with(names="mkdir")),
     "config.json: linux.seccomp.syscalls[0].names must be an array of strings"),
    ("seccomp-errnoRet-string", _set(["linux", "seccomp"], _rule_with(errnoRet="1")),
     "config.json: linux.seccomp.syscalls[0].errnoRet must be an integer"),
    ("seccomp-arg-value-negative", _set(["linux", "seccomp"], _rule_with(
        args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}])),
     "config.json: linux.seccomp.syscalls[0].args[0].value is out of range"),
    ("rlimit-minus-one", _set(["process", "rlimits"],
                              [{"type": "RLIMIT_NOFILE", "soft": -1, "hard": -1}]),
     "config.json: process.rlimits[0].soft is out of range"),
    ("rlimit-string", _set(["process", "rlimits"],
                           [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": "4096"}]),
     "config.json: process.rlimits[0].hard must be an integer"),
    ("rlimit-soft-above-hard", _set(["process", "rlimits"],
                                    [{"type": "RLIMIT_NPROC", "soft": 20, "hard": 10}]),
     "config.json: process.rlimits[0].soft is above"),
    ("rlimits-object", _set(["process", "rlimits"], {"RLIMIT_NOFILE": 1024}),
     "config.json: process.rlimits must be an array"),
    ("user-uid-string", _set(["process", "user"], {"uid": "0", "gid": 0}),
     "config.json: process.user"),
    ("user-umask-string", _set(["process", "user"], {"uid": 0, "gid": 0, "umask": "022"}),
     "config.json: process.user.umask must be an integer"),
    ("maskedPaths-string", _set(["linux", "maskedPaths"], "/proc/kcore"),
     "config.json: linux.maskedPaths must be an array"),
    ("maskedPaths-relative", _set(["linux", "maskedPaths"], ["proc/kcore"]),
     "config.json: linux.maskedPaths[0] must be an absolute path"),
    ("readonlyPaths-object", _set(["linux", "readonlyPaths"], {"/proc/sys": True}),
     "config.json: linux.readonlyPaths must be an array"),
    ("root-readonly-string", _set(["root", "readonly"], "true"),
     "config.json: root.readonly must be true or false"),
    ("oomScoreAdj-out-of-range", _set(["process", "oomScoreAdj"], -1001),
     "config.json: process.oomScoreAdj is out of range"),
]


@pytest.mark.parametrize("edit,needle", [(e, n) for _, e, n in WRONG_TYPED],
                         ids=[i for i, _, _ in WRONG_TYPED])
def test_wrong_typed_privilege_field_refused_at_create(make_bundle, husk_cli, state_root,
                                                       tmp_path, edit, needle):
    """Each field that narrows privilege, given a value of the wrong type or
    range, fails create with 125 and a message naming it, before anything
    exists: no state, no QEMU, no PID."""
    b = make_bundle(["true"], edit=edit)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert_refused(c, needle)
    assert not (state_root / c.cid).exists()
    assert not (tmp_path / "pid").exists()
    assert not live_qemus(tmp_path), "a QEMU was started for a refused config"


def test_wrong_typed_privilege_field_refused_by_run(make_bundle, husk_runner, state_root,
                                                    tmp_path):
    """`husk run` reads the config the same way."""
    cid = husk_runner.next_id()
    b = make_bundle(["true"], edit=_set(["process", "capabilities"], ["CAP_KILL"]))
    res = husk_runner.run(b, cid=cid)
    assert_refused(res, "config.json: process.capabilities must be an object")
    assert not (state_root / cid).exists()
    assert not live_qemus(tmp_path)


def test_wrong_typed_exec_process_refused(make_bundle, husk_cli, tmp_path):
    """exec --process files are checked on the host as config.json is."""
    b = make_bundle(["sleep", "1000"])
    c = husk_cli.create(b)
    assert c.returncode == 0, c.stderr
    assert husk_cli("start", c.cid).returncode == 0
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps({"args": ["true"], "cwd": "/", "noNewPrivileges": "true"}))
    assert_refused(husk_cli("exec", "--process", pf, c.cid),
                   "--process: noNewPrivileges must be true or false")
    pf.write_text(json.dumps({"args": ["true"], "cwd": "/", "capabilities": ["CAP_KILL"]}))
    assert_refused(husk_cli("exec", "--process", pf, c.cid),
                   "--process: capabilities must be an object")
    assert husk_cli("delete", "--force", c.cid).returncode == 0


# ================================================================ one lock


# Ten verbs at once against one created container, per round. Every delete
# --force must succeed (it deletes, or finds the container gone); the others
# may fail, but only with a clean message.
CONCURRENT = [["start"], ["kill", "KILL"], ["delete", "--force"], ["start"], ["kill"],
              ["delete"], ["pause"], ["resume"], ["state"], ["delete", "--force"]]
BAD_WORDS = ("internal error", "damaged", "Sanitizer", "runtime error", "Traceback",
             "Segmentation", "core dumped")


@pytest.mark.parametrize("rnd", range(3))
def test_concurrent_verbs_leave_a_consistent_state(make_bundle, husk_cli, state_root,
                                                   tmp_path, rnd):
    """create, then start, kill, delete, pause, resume and state from 10
    processes at once: each ends (no hang), says what went wrong in one clean
    line if anything did, and afterwards the container is gone with nothing
    of it left running: no state directory, no proxy, no sentinel, no QEMU;
    its poststop hook ran exactly once."""
    hook_log = tmp_path / "poststop.log"

    def edit(cfg):
        cfg["hooks"] = {"poststop": [{"path": "/bin/sh",
                                      "args": ["sh", "-c", f"echo ran >> {hook_log}"]}]}

    b = make_bundle(["sleep", "1000"], edit=edit)
    c = husk_cli.create(b, flags=["--pid-file", tmp_path / "pid"])
    assert c.returncode == 0, c.stderr
    sentinel = read_pid_file(tmp_path / "pid")
    raw = json.loads((state_root / c.cid / "state.json").read_text())
    proxy, vm = raw["husk_proxy_pid"], raw["husk_vm_pid"]
    assert not pid_gone(proxy) and not pid_gone(vm)

    # each verb in its own process, all started before any is waited for
    procs = [(v, subprocess.Popen(husk_cli.argv(*v, c.cid), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=husk_cli.env()))
             for v in CONCURRENT]
    results = []
    for v, p in procs:
        try:
            out, err = p.communicate(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            for _, q in procs:
                q.kill()
            pytest.fail(f"hang guard: husk {' '.join(v)} did not return")
        results.append((v, p.returncode, out, err.decode(errors="replace")))

    for v, rc, out, err in results:
        what = f"husk {' '.join(v)}: rc {rc}, stderr {err!r}"
        assert rc in (0, 125), what
        for line in err.splitlines():
            assert line.startswith("husk"), what
            assert not any(w in line for w in BAD_WORDS), what
        if rc == 125:
            assert len([ln for ln in err.splitlines() if ln.startswith("husk: ")]) == 1, what
        if v == ["delete", "--force"]:
            assert rc == 0, what
        if v == ["state"] and rc == 0:
            st = json.loads(out)
            assert st["id"] == c.cid and st["status"] in ("created", "running", "paused",
                                                           "stopped"), st

    # consistent: gone, and nothing of it left
    assert not (state_root / c.cid).exists(), os.listdir(state_root / c.cid)
    res = husk_cli("state", c.cid)
    assert_refused(res, NOT_EXIST)
    assert wait_pid_gone(proxy, tries=600), f"proxy {proxy} outlived its container"
    assert wait_pid_gone(vm, tries=600), f"QEMU {vm} outlived its container"
    wait_child(sentinel)
    assert hook_log.read_text() == "ran\n", "poststop must run once, at the delete that deleted"


def test_kill_does_not_signal_a_reused_pid(husk_cli, state_root):
    """state.json names a PID whose start time is not the recorded one (the
    sentinel died and its PID went to another process): kill KILL leaves that
    process alone. A proxy that is not the recorded one means the container
    is not running. With the recorded start times the same kill works, and
    delete --force kills the proxy through its pidfd."""
    state_root.mkdir(mode=0o711, exist_ok=True)
    cid = "reused-pid"
    d = state_root / cid
    d.mkdir(mode=0o700)
    victim, proxy = sleeper(), sleeper()
    try:
        fake_state(d, cid, "running", victim.pid, start_time(victim.pid) + 1,
                   proxy.pid, start_time(proxy.pid))
        husk_cli("kill", cid, "KILL")  # may fail to reach a proxy: there is none
        time.sleep(0.3)
        assert victim.poll() is None, "kill signalled a process that only has the sentinel's PID"

        fake_state(d, cid, "running", victim.pid, start_time(victim.pid),
                   proxy.pid, start_time(proxy.pid) + 1)
        assert_refused(husk_cli("kill", cid, "KILL"), "container not running")
        assert husk_cli.state(cid)["status"] == "stopped"
        time.sleep(0.3)
        assert victim.poll() is None and proxy.poll() is None

        fake_state(d, cid, "running", victim.pid, start_time(victim.pid),
                   proxy.pid, start_time(proxy.pid))
        res = husk_cli("kill", cid, "KILL")
        assert res.returncode == 0, res.stderr
        assert victim.wait(timeout=HANG_GUARD_S) == -9
        res = husk_cli("delete", "--force", cid)
        assert res.returncode == 0, res.stderr
        assert proxy.wait(timeout=HANG_GUARD_S) == -9
        assert not d.exists()
    finally:
        stop(victim)
        stop(proxy)
        shutil.rmtree(d, ignore_errors=True)


def test_delete_takes_hooks_only_from_the_kept_config(husk_cli, state_root, tmp_path):
    """Without a VM: delete runs the poststop hook of <state>/config.json and
    never the bundle's; a kept copy that others may write is not used."""
    state_root.mkdir(mode=0o711, exist_ok=True)
    bundle = tmp_path / "fake-bundle"
    bundle.mkdir()
    kept, bundles = tmp_path / "kept-hook", tmp_path / "bundle-hook"
    cfg = default_config(["true"])
    cfg["hooks"] = {"poststop": [marker_hook(bundles)]}
    (bundle / "config.json").write_text(json.dumps(cfg))
    for cid, mode, want in (("kept", 0o600, True), ("writable", 0o666, False)):
        d = state_root / cid
        d.mkdir(mode=0o700)
        fake_state(d, cid, "stopped", 0, 0, 0, 0)
        st = json.loads((d / "state.json").read_text())
        st["bundle"] = str(bundle)
        (d / "state.json").write_text(json.dumps(st))
        kc = dict(cfg, hooks={"poststop": [marker_hook(kept)]})
        (d / "config.json").write_text(json.dumps(kc))
        os.chmod(d / "config.json", mode)
        res = husk_cli("delete", cid)
        assert res.returncode == 0, res.stderr
        assert kept.exists() == want, (cid, res.stderr)
        assert not bundles.exists(), "delete ran a hook from the bundle's config.json"
        if not want:
            assert b"refusing to use it" in res.stderr, res.stderr
        assert not d.exists()
        if kept.exists():
            kept.unlink()


# ================================================================ the state root


FOREIGN_UID = 54321


def _plant(root, victim):
    """What another user could leave in a state root: a container whose PID
    is someone else's process, and a config whose poststop hook would run."""
    d = root / "x"
    d.mkdir(mode=0o700)
    fake_state(d, "x", "running", victim.pid, start_time(victim.pid), victim.pid,
               start_time(victim.pid))
    cfg = default_config(["true"])
    cfg["hooks"] = {"poststop": [marker_hook(root.parent / "planted-hook-ran")]}
    (d / "config.json").write_text(json.dumps(cfg))
    os.chmod(d / "config.json", 0o600)
    return d


ROOT_VERBS = [["state", "x"], ["list"], ["kill", "x", "KILL"], ["delete", "--force", "x"],
              ["start", "x"], ["pause", "x"], ["exec", "x", "true"]]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory of another uid needs root")
@pytest.mark.parametrize("kind", ["other-uid", "group-writable", "world-writable", "symlink"])
def test_state_root_of_another_uid_refused(husk, husk_cli, make_bundle, tmp_path, kind):
    """A state root that is not the caller's (or root's), that others may
    write, or that is a symlink is refused by every verb, create included,
    before anything in it is used: the planted PID is not signalled, the
    planted hook does not run, create makes nothing there."""
    real = tmp_path / "foreign-root"
    real.mkdir(mode=0o711)
    victim = sleeper()
    try:
        _plant(real, victim)
        root, needle = real, "refusing to use it"
        if kind == "other-uid":
            for p in (real, real / "x", real / "x" / "state.json", real / "x" / "config.json"):
                os.chown(p, FOREIGN_UID, FOREIGN_UID)
            needle = f"is owned by uid {FOREIGN_UID}"
        elif kind == "group-writable":
            os.chmod(real, 0o775)
            needle = "is writable by others"
        elif kind == "world-writable":
            os.chmod(real, 0o1777)
            needle = "is writable by others"
        else:
            root = tmp_path / "root-link"
            root.symlink_to(real)
            needle = "is not a directory"
        env = husk_cli.env()
        for verb in ROOT_VERBS:
            res = subprocess.run([str(husk), "--root", str(root), *verb], capture_output=True,
                                 env=env, timeout=HANG_GUARD_S)
            assert_refused(res, "state root", needle)
        b = make_bundle(["true"])
        res = subprocess.run([str(husk), "--root", str(root), "create", "--bundle", str(b),
                              "y"], capture_output=True, env=env, timeout=HANG_GUARD_S,
                             stdin=subprocess.DEVNULL)
        assert_refused(res, "state root", needle)
        assert sorted(os.listdir(real)) == ["x"], "create made something in a refused root"
        assert not live_qemus(tmp_path)
        assert victim.poll() is None, "a verb signalled the PID planted in a refused root"
        assert not (tmp_path / "planted-hook-ran").exists()
    finally:
        stop(victim)
        os.chmod(real, 0o711)
        shutil.rmtree(real, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="running husk as another user needs root")
def test_non_root_fallback_root_made_by_another_user_refused(husk, tmp_path):
    """Without XDG_RUNTIME_DIR a caller that is not root uses /tmp/husk-<uid>:
    one another user made first (/tmp is everyone's) is refused."""
    uid, other = FOREIGN_UID, FOREIGN_UID + 1
    probe = subprocess.run([str(husk), "--version"], capture_output=True, user=uid, group=uid,
                           extra_groups=[], timeout=HANG_GUARD_S)
    if probe.returncode != 0:
        pytest.skip(f"uid {uid} cannot run {husk}: {probe.stderr!r}")
    fallback = f"/tmp/husk-{uid}"
    if os.path.lexists(fallback):
        pytest.skip(f"{fallback} exists already")
    env = {k: v for k, v in os.environ.items()
           if k != "XDG_RUNTIME_DIR" and not k.startswith("HUSK_")}
    try:
        os.mkdir(fallback, 0o711)
        os.chown(fallback, other, other)
        res = subprocess.run([str(husk), "state", "x"], capture_output=True, env=env, user=uid,
                             group=uid, extra_groups=[], timeout=HANG_GUARD_S)
        assert_refused(res, f"state root {fallback} is owned by uid {other}", "refusing")
        # the caller's own is fine: "does not exist", not a refusal
        os.chown(fallback, uid, uid)
        res = subprocess.run([str(husk), "state", "x"], capture_output=True, env=env, user=uid,
                             group=uid, extra_groups=[], timeout=HANG_GUARD_S)
        assert_refused(res, NOT_EXIST)
    finally:
        shutil.rmtree(fallback, ignore_errors=True)
