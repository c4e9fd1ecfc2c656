"""linux.seccomp, linux.resources, hooks, the husk.vm.* annotations and the
rootfs share modes. Each test builds a config from the one `runc spec`
writes (conftest_probe.py), changes the fields under test and runs
husk-probe (tests/helper/husk-probe.c) or busybox in a real VM; what the
process sees (/proc/self/status, /proc/meminfo, its cgroup files, what a
syscall returns) is compared with the config. Hooks run on the host and
leave what they were given in files under tmp_path.
"""

import json
import os
import re
from types import SimpleNamespace

import pytest

from conftest import live_qemus
from conftest_probe import (detached, parse_report, probe, run_probe,  # noqa: F401
                            spec_bundle)

MIB = 1 << 20
EPERM, EACCES, EAGAIN, EOPNOTSUPP, EPROTO = 1, 13, 11, 95, 71
SIGSYS = 31
ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT, UNAME26 = 0x0040000, 0x0200000, 0x0020000
PER_QUERY = 0xFFFFFFFF
HOST_CPUS = os.cpu_count() or 1
# MemTotal is the VM's RAM less what the guest kernel keeps for itself
# (about 11-14 MiB with husk's kernel); a VM size must fall in this window.
KERNEL_SLACK_MIB = 24


def probe_args(*per):
    """husk-probe argv from (option, value) pairs."""
    argv = ["husk-probe"]
    for opt, value in per:
        argv += ["--" + opt, str(value)]
    return argv


def cats(*paths):
    return [("cat", p) for p in paths]


def mem_total_mib(report):
    text = report["cat"]["/proc/meminfo"]
    m = re.search(r"^MemTotal:\s+(\d+) kB$", text, re.M)
    assert m, text
    return int(m.group(1)) / 1024


def assert_vm_ram(report, ram_mib):
    got = mem_total_mib(report)
    assert ram_mib - KERNEL_SLACK_MIB < got <= ram_mib, \
        f"MemTotal {got:.1f} MiB for a VM of {ram_mib} MiB"


def online_cpus(report):
    """Number of CPUs in /sys/devices/system/cpu/online ("0", "0-1", "0,2-3")."""
    n = 0
    for part in report["cat"]["/sys/devices/system/cpu/online"].strip().split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def root_fstype(report):
    return [m for m in report["mounts"] if m["mount_point"] == "/"][-1]["fstype"]


def assert_husk_error(res, *needles):
    """Exit 125, nothing on stdout, and a `husk: ` line naming each needle."""
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 125, (res.returncode, res.stdout, err)
    assert res.stdout == b"", res.stdout
    lines = [ln for ln in err.splitlines() if ln.startswith("husk: ")]
    assert lines, err
    for n in needles:
        assert any(n in ln for ln in lines), f"{n!r} not in {err!r}"


def no_env_share():
    """husk_runner env: no HUSK_SHARE, so the default share mode applies."""
    return {"HUSK_SHARE": None}


# ================================================================ seccomp

ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def set_seccomp(cfg, default="SCMP_ACT_ALLOW", syscalls=(), **extra):
    cfg["linux"]["seccomp"] = {"defaultAction": default, "architectures": ARCHES,
                               "syscalls": list(syscalls), **extra}


def errno_rule(names, errno_ret=None, args=None):
    rule = {"names": list(names), "action": "SCMP_ACT_ERRNO"}
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    if args is not None:
        rule["args"] = args
    return rule


def test_seccomp_errno_rule_blocks_mkdir_only(spec_bundle, husk_runner):
    """Default ALLOW, mkdir and mkdirat -> ERRNO(1): both fail with EPERM, in
    busybox and in a raw syscall, and nothing is made; other syscalls work;
    the process runs in filter mode (Seccomp: 2). A syscall name libseccomp
    does not know is skipped, as runc does."""
    def edit(cfg):
        set_seccomp(cfg, syscalls=[errno_rule(["mkdir", "mkdirat", "no_such_syscall_xyz"], 1)])

    pargs = probe_args(("syscall", "mkdir"), ("syscall", "mkdirat"), ("syscall", "getcwd"),
                       ("syscall", "uname"), ("syscall", "getpid"),
                       ("syscall", f"personality={PER_QUERY:#x}"),
                       *cats("/proc/self/status"))
    b = spec_bundle(["sh", "-c", 'mkdir /tmp/made-by-busybox; echo "busybox mkdir $?"; '
                     'exec "$@"', "sh", *pargs], edit=edit)
    res = husk_runner.run(b)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert b"busybox mkdir 1\n" in res.stdout, res.stdout
    r = parse_report(res.stdout)
    sc = r["syscall"]
    assert r["seccomp"] == 2, r["cat"]["/proc/self/status"]
    assert re.search(r"^Seccomp:\s+2$", r["cat"]["/proc/self/status"], re.M)
    assert (sc["mkdir"]["ret"], sc["mkdir"]["errno"]) == (-1, EPERM), sc
    assert (sc["mkdirat"]["ret"], sc["mkdirat"]["errno"]) == (-1, EPERM), sc
    for name in ("getcwd", "uname", "getpid", f"personality={PER_QUERY:#x}"):
        assert sc[name]["ret"] >= 0 and sc[name]["errno"] == 0, (name, sc[name])
    assert not (b / "rootfs" / "tmp" / "made-by-busybox").exists()
    assert os.listdir(b / "rootfs" / "tmp") == []


def test_seccomp_errno_ret_and_its_default(spec_bundle, run_probe):
    """errnoRet is the errno the syscall fails with; without it, EPERM."""
    def edit(cfg):
        set_seccomp(cfg, syscalls=[errno_rule(["mkdir"], EOPNOTSUPP), errno_rule(["mkdirat"])])

    r = run_probe(spec_bundle(probe_args(("syscall", "mkdir"), ("syscall", "mkdirat")),
                              edit=edit))
    assert r["syscall"]["mkdir"] == {"ret": -1, "errno": EOPNOTSUPP}, r["syscall"]
    assert r["syscall"]["mkdirat"] == {"ret": -1, "errno": EPERM}, r["syscall"]


def test_seccomp_without_no_new_privs_for_a_non_root_user(spec_bundle, run_probe):
    """Without noNewPrivileges the agent loads the filter while it still has
    the privilege to, before it becomes uid 1000 without capabilities."""
    def edit(cfg):
        cfg["process"]["noNewPrivileges"] = False
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["capabilities"] = {}
        set_seccomp(cfg, syscalls=[errno_rule(["mkdir", "mkdirat"], EPERM)])

    r = run_probe(spec_bundle(probe_args(("syscall", "mkdir"), ("syscall", "getcwd")), edit=edit))
    assert (r["uid"], r["gid"], r["no_new_privs"]) == (1000, 1000, 0), r
    assert int(r["caps"]["CapEff"], 16) == 0, r["caps"]
    assert r["seccomp"] == 2
    # /tmp is 1777: without the filter uid 1000 could make the directory.
    assert r["syscall"]["mkdir"] == {"ret": -1, "errno": EPERM}, r["syscall"]
    assert r["syscall"]["getcwd"]["errno"] == 0, r["syscall"]


# What busybox sh (glibc, static), husk-probe (musl, static) and the agent
# between loading the filter and exec need on x86_64; no mkdir, no personality.
ALLOW_LIST = """
    access arch_prctl brk chdir clock_gettime clock_nanosleep clone clone3 close close_range
    dup dup2 dup3 execve execveat exit exit_group faccessat faccessat2 fchdir fcntl fstat
    fstatfs futex getcwd getdents64 getegid geteuid getgid getgroups getpgid getpgrp getpid
    getppid getrandom getrlimit gettid gettimeofday getuid ioctl kill lseek lstat madvise mmap
    mprotect mremap munmap nanosleep newfstatat open openat pause pipe pipe2 poll ppoll
    prctl pread64 prlimit64 read readlink readlinkat rseq rt_sigaction rt_sigprocmask
    rt_sigreturn sched_getaffinity sched_yield set_robust_list set_tid_address setpgid
    sigaltstack stat statfs statx sysinfo tgkill time uname vfork wait4 waitid write writev
""".split()


def test_seccomp_default_errno_with_an_allow_list(spec_bundle, husk_runner):
    """defaultAction ERRNO with defaultErrnoRet 13: an allow-list that is
    enough for busybox sh and the probe runs them; mkdir and personality,
    not on it, fail with EACCES."""
    def edit(cfg):
        set_seccomp(cfg, default="SCMP_ACT_ERRNO", defaultErrnoRet=EACCES,
                    syscalls=[{"names": ALLOW_LIST, "action": "SCMP_ACT_ALLOW"}])

    pargs = probe_args(("syscall", "mkdir"), ("syscall", f"personality={PER_QUERY:#x}"),
                       ("syscall", "getcwd"), ("syscall", "uname"))
    b = spec_bundle(["sh", "-c", 'echo "sh runs"; exec "$@"', "sh", *pargs], edit=edit)
    res = husk_runner.run(b)
    assert res.returncode == 0, (res.returncode, res.stderr.decode(errors="replace"))
    assert res.stdout.startswith(b"sh runs\n"), res.stdout
    r = parse_report(res.stdout)
    sc = r["syscall"]
    assert r["seccomp"] == 2
    assert sc["mkdir"] == {"ret": -1, "errno": EACCES}, sc
    assert sc[f"personality={PER_QUERY:#x}"] == {"ret": -1, "errno": EACCES}, sc
    assert sc["getcwd"]["errno"] == 0 and sc["uname"]["errno"] == 0, sc


def test_seccomp_argument_filters(spec_bundle, run_probe):
    """personality(ADDR_NO_RANDOMIZE) is refused by an SCMP_CMP_EQ rule and
    any value with the ADDR_COMPAT_LAYOUT bit by SCMP_CMP_MASKED_EQ;
    personality with other arguments still works."""
    def edit(cfg):
        set_seccomp(cfg, syscalls=[
            errno_rule(["personality"], EOPNOTSUPP,
                       args=[{"index": 0, "value": ADDR_NO_RANDOMIZE, "op": "SCMP_CMP_EQ"}]),
            errno_rule(["personality"], EPROTO,
                       args=[{"index": 0, "value": ADDR_COMPAT_LAYOUT,
                              "valueTwo": ADDR_COMPAT_LAYOUT, "op": "SCMP_CMP_MASKED_EQ"}]),
        ])

    # The query value 0xffffffff has every bit, ADDR_COMPAT_LAYOUT's too.
    calls = {PER_QUERY: EPROTO, ADDR_NO_RANDOMIZE: EOPNOTSUPP, ADDR_COMPAT_LAYOUT: EPROTO,
             ADDR_COMPAT_LAYOUT | ADDR_NO_RANDOMIZE: EPROTO, UNAME26: 0, 0: 0}
    r = run_probe(spec_bundle(probe_args(*[("syscall", f"personality={v:#x}") for v in calls]),
                              edit=edit))
    for v, want in calls.items():
        got = r["syscall"][f"personality={v:#x}"]
        assert got["errno"] == want, (hex(v), got)
        if want == 0:
            assert got["ret"] >= 0, (hex(v), got)


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL"])
def test_seccomp_kill_action(spec_bundle, husk_runner, action):
    """A killing rule ends the process with SIGSYS: exit status 128+31."""
    def edit(cfg):
        set_seccomp(cfg, syscalls=[{"names": ["mkdir", "mkdirat"], "action": action}])

    b = spec_bundle(probe_args(("syscall", "getcwd"), ("syscall", "mkdir")), edit=edit)
    res = husk_runner.run(b)
    assert res.returncode == 128 + SIGSYS, (res.returncode, res.stderr.decode(errors="replace"))
    # Killed in the middle of its report: what was flushed ends before mkdir.
    assert b'"mkdir"' not in res.stdout and not res.stdout.endswith(b"}\n"), res.stdout[-200:]


def test_seccomp_applies_to_exec(spec_bundle, detached):
    """Processes started by `husk exec` get the container's filter too."""
    def edit(cfg):
        set_seccomp(cfg, syscalls=[errno_rule(["mkdir", "mkdirat"], EOPNOTSUPP)])

    cid = detached.start(spec_bundle(["sleep", "1000"], edit=edit))
    res = detached.husk("exec", cid, *probe_args(("syscall", "mkdir"), ("syscall", "getpid")))
    assert res.returncode == 0, res.stderr
    r = parse_report(res.stdout)
    assert r["seccomp"] == 2
    assert r["syscall"]["mkdir"] == {"ret": -1, "errno": EOPNOTSUPP}, r["syscall"]
    assert r["syscall"]["getpid"]["errno"] == 0
    res = detached.husk("exec", cid, "sh", "-c", "mkdir /tmp/x; echo $?")
    assert res.stdout == b"1\n", res


@pytest.mark.parametrize("where,seccomp,needle", [
    ("defaultAction", {"defaultAction": "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"),
    ("action", {"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}, "SCMP_ACT_NOPE"),
    ("op", {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]},
     "SCMP_CMP_SOMETIMES"),
])
def test_seccomp_bad_profile_fails(spec_bundle, husk_runner, state_root, tmp_path, where,
                                   seccomp, needle):
    def edit(cfg):
        cfg["linux"]["seccomp"] = seccomp

    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(edit=edit), cid=cid)
    assert_husk_error(res, needle)
    assert not (state_root / cid).exists()
    assert not live_qemus(tmp_path)


# ================================================================ resources

CG = "/sys/fs/cgroup"
RES_CATS = cats("/proc/meminfo", "/sys/devices/system/cpu/online", "/proc/self/cgroup",
                f"{CG}/memory.max", f"{CG}/memory.swap.max", f"{CG}/pids.max", f"{CG}/cpu.max")


def set_resources(cfg, **groups):
    cfg["linux"]["resources"].update(groups)


def test_no_resources_leave_the_defaults(spec_bundle, husk_runner):
    """The baseline: a 256 MiB, 1 vCPU VM and a cgroup without limits, seen
    at the root of the container's cgroup namespace."""
    r = parse_report(husk_runner.run(spec_bundle(probe_args(*RES_CATS)),
                                     env=no_env_share()).stdout)
    c = r["cat"]
    assert_vm_ram(r, 256)
    assert online_cpus(r) == 1
    assert c["/proc/self/cgroup"] == "0::/\n"
    assert (c[f"{CG}/memory.max"], c[f"{CG}/pids.max"], c[f"{CG}/cpu.max"]) == \
        ("max\n", "max\n", "max 100000\n"), c


@pytest.mark.parametrize("limit,ram", [(64 * MIB, 128), (10 * MIB, 96), (100 * MIB + 4096, 165)],
                         ids=["64MiB", "10MiB", "100MiB+4KiB"])
def test_memory_limit_sizes_the_vm_and_sets_memory_max(spec_bundle, run_probe, limit, ram):
    """VM RAM = the limit rounded up to MiB + 64 MiB, at least 96 MiB; the
    container's cgroup has memory.max = the limit, visible at
    /sys/fs/cgroup in its cgroup namespace."""
    def edit(cfg):
        set_resources(cfg, memory={"limit": limit})

    r = run_probe(spec_bundle(probe_args(*RES_CATS), edit=edit))
    c = r["cat"]
    assert_vm_ram(r, ram)
    assert c["/proc/self/cgroup"] == "0::/\n", c["/proc/self/cgroup"]
    assert c[f"{CG}/memory.max"] == f"{limit}\n", c
    # No swap for it either (the file is absent when the guest kernel has no swap).
    assert c[f"{CG}/memory.swap.max"] in (None, "0\n"), c


@pytest.mark.parametrize("cpu,want_cpus,want_max", [
    ({"quota": 150000, "period": 100000}, 2, "150000 100000"),
    ({"quota": 50000}, 1, "50000 100000"),
    ({"quota": 250000, "period": 50000}, 5, "250000 50000"),
], ids=["1.5cpu", "0.5cpu-default-period", "5cpu-capped"])
def test_cpu_quota_sets_vcpus_and_cpu_max(spec_bundle, run_probe, cpu, want_cpus, want_max):
    """vCPUs = ceil(quota/period), capped at the host's CPU count; cpu.max
    holds quota and period (100000 when the config has none)."""
    def edit(cfg):
        set_resources(cfg, cpu=cpu)

    r = run_probe(spec_bundle(probe_args(*RES_CATS), edit=edit))
    assert online_cpus(r) == min(want_cpus, HOST_CPUS), r["cat"]["/sys/devices/system/cpu/online"]
    assert r["cat"][f"{CG}/cpu.max"] == want_max + "\n"


def test_pids_limit_makes_fork_fail(spec_bundle, run_probe):
    """pids.limit 20: the probe (one pid) can fork 19 more, then fork fails
    with EAGAIN."""
    def edit(cfg):
        set_resources(cfg, pids={"limit": 20})

    r = run_probe(spec_bundle(probe_args(("fork", 40), *cats(f"{CG}/pids.max")), edit=edit))
    assert r["cat"][f"{CG}/pids.max"] == "20\n"
    f = r["fork"]["40"]
    assert f["errno"] == EAGAIN, f
    assert 10 <= f["started"] <= 19, f


def test_pids_limit_in_a_shell_loop(spec_bundle, husk_runner):
    """The same limit seen by busybox: of 40 background sleeps one fails to
    fork, and ash gives up ("can't fork", exit 2) before the echo."""
    def edit(cfg):
        set_resources(cfg, pids={"limit": 20})

    script = "for i in $(seq 40); do sleep 30 & done; echo all 40 started"
    res = husk_runner.run(spec_bundle(["sh", "-c", script], edit=edit))
    err = res.stderr.decode(errors="replace")
    assert b"all 40 started" not in res.stdout, (res.returncode, res.stdout, err)
    assert res.returncode == 2 and "can't fork: Resource temporarily unavailable" in err, \
        (res.returncode, err)


HOG = "head -c {n} /dev/zero | tail > /dev/null"  # tail keeps the one endless "line"


def test_memory_limit_oom_kills_and_the_container_survives(spec_bundle, detached):
    """With memory.limit 64 MiB (VM: 128 MiB) a process that needs ~150 MB
    is OOM-killed by the cgroup (exit 137); 20 MB is fine; the container
    and its VM carry on serving execs, and memory.events counts the kill."""
    def edit(cfg):
        set_resources(cfg, memory={"limit": 64 * MIB})

    cid = detached.start(spec_bundle(["sleep", "1000"], edit=edit))
    res = detached.husk("exec", cid, "sh", "-c", HOG.format(n=20_000_000) + "; echo small $?")
    assert (res.returncode, res.stdout) == (0, b"small 0\n"), res
    res = detached.husk("exec", cid, "sh", "-c", "exec tail < /dev/zero")
    assert res.returncode == 137, res
    res = detached.husk("exec", cid, "sh", "-c", HOG.format(n=150_000_000))
    assert res.returncode == 137, res
    assert detached.status(cid) == "running"
    res = detached.husk("exec", cid, "cat", f"{CG}/memory.events")
    assert res.returncode == 0, res
    events = dict(ln.split() for ln in res.stdout.decode().splitlines())
    assert int(events["oom"]) >= 2 and int(events["oom_kill"]) >= 2, events
    res = detached.husk("exec", cid, "echo", "still here")
    assert (res.returncode, res.stdout) == (0, b"still here\n"), res


def test_oom_killed_init_exits_137(spec_bundle, husk_runner, tmp_path):
    """The container's own process is the one killed: `husk run` exits 137.
    The VM has 512 MiB (annotation), so the 150 MB that tail keeps from its
    stdin would fit without the cgroup's 32 MiB limit."""
    def edit(cfg):
        set_resources(cfg, memory={"limit": 32 * MIB})
        cfg["annotations"] = {"husk.vm.memory": "512"}

    zeros = tmp_path / "zeros"
    with open(zeros, "wb") as f:
        f.truncate(150_000_000)
    with open(zeros, "rb") as f:
        res = husk_runner.run(spec_bundle(["tail"], edit=edit), stdin=f)
    assert res.returncode == 137, (res.returncode, res.stderr.decode(errors="replace"))


# ================================================================ hooks

HOOK_SCRIPT = """#!/bin/sh
# $1: phase, $2: directory for what it was given
cat > "$2/$1.json"
echo "$1" >> "$2/order"
echo "$HUSK_HOOK_VAR" > "$2/$1.env"
"""


@pytest.fixture
def hook(tmp_path):
    """hook(phase, **extra) -> one hook entry running the recording script;
    the records go to tmp_path/hooks-out."""
    script = tmp_path / "hook.sh"
    script.write_text(HOOK_SCRIPT)
    script.chmod(0o755)
    out = tmp_path / "hooks-out"
    out.mkdir()

    def make(phase, **extra):
        return {"path": str(script), "args": ["hook.sh", phase, str(out)],
                "env": ["PATH=/usr/bin:/bin", f"HUSK_HOOK_VAR=env-of-{phase}"], **extra}

    make.out = out
    return make


def script_hook(tmp_path, name, body, **extra):
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return {"path": str(p), **extra}


PHASES = ["prestart", "createRuntime", "poststart", "poststop"]


def read_records(out):
    return {p: json.loads((out / f"{p}.json").read_text())
            for p in PHASES if (out / f"{p}.json").exists()}


def test_hooks_in_the_lifecycle(spec_bundle, husk_cli, hook, tmp_path):
    """create runs prestart and createRuntime (status created, the
    container's pid), start runs poststart (running), delete runs poststop
    (stopped); each gets the state JSON on stdin, its args and env."""
    def edit(cfg):
        cfg["annotations"] = {"org.example.note": "hooked"}
        cfg["hooks"] = {p: [hook(p)] for p in PHASES}

    b = spec_bundle(["sleep", "1000"], edit=edit)
    c = husk_cli.create(b)
    assert c.returncode == 0, c.stderr
    out = hook.out
    assert sorted(read_records(out)) == ["createRuntime", "prestart"]
    state = husk_cli.state(c.cid)
    res = husk_cli("start", c.cid)
    assert res.returncode == 0, res.stderr
    assert sorted(read_records(out)) == ["createRuntime", "poststart", "prestart"]
    res = husk_cli("kill", c.cid, "KILL")
    assert res.returncode == 0, res.stderr
    husk_cli.wait_status(c.cid, "stopped")
    assert "poststop" not in read_records(out)
    res = husk_cli("delete", c.cid)
    assert res.returncode == 0, res.stderr

    rec = read_records(out)
    assert (out / "order").read_text().split() == PHASES
    want_status = {"prestart": "created", "createRuntime": "created", "poststart": "running",
                   "poststop": "stopped"}
    for p in PHASES:
        s = rec[p]
        assert s["id"] == c.cid, (p, s)
        assert s["status"] == want_status[p], (p, s)
        assert s["bundle"] == str(b), (p, s)
        assert s["annotations"] == {"org.example.note": "hooked"}, (p, s)
        assert "ociVersion" in s, (p, s)
        assert (out / f"{p}.env").read_text() == f"env-of-{p}\n"
    for p in ("prestart", "createRuntime", "poststart"):
        assert rec[p]["pid"] == state["pid"] > 0, (p, rec[p], state)


def test_hooks_with_husk_run(spec_bundle, husk_runner, hook):
    """`husk run` without -d runs all four, poststop when the process ends."""
    def edit(cfg):
        cfg["hooks"] = {p: [hook(p)] for p in PHASES}

    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(["sh", "-c", "echo out; exit 3"], edit=edit), cid=cid)
    assert (res.returncode, res.stdout) == (3, b"out\n"), res  # hooks' stdout is not ours
    assert (hook.out / "order").read_text().split() == PHASES
    rec = read_records(hook.out)
    assert [rec[p]["status"] for p in PHASES] == ["created", "created", "running", "stopped"]
    assert {rec[p]["id"] for p in PHASES} == {cid}


def test_hooks_run_in_order_within_a_phase(spec_bundle, husk_runner, tmp_path):
    log = tmp_path / "log"

    def edit(cfg):
        cfg["hooks"] = {"prestart": [
            script_hook(tmp_path, f"h{i}.sh", f'echo "h{i} $*" >> {log}',
                        args=[f"h{i}", f"arg{i}", "x y"]) for i in range(3)]}

    res = husk_runner.run(spec_bundle(["true"], edit=edit))
    assert res.returncode == 0, res.stderr
    assert log.read_text() == "h0 arg0 x y\nh1 arg1 x y\nh2 arg2 x y\n"


@pytest.mark.parametrize("phase", ["prestart", "createRuntime"])
@pytest.mark.parametrize("verb", ["create", "run"])
def test_failing_create_hook_fails_create(spec_bundle, husk_cli, tmp_path, state_root,
                                          phase, verb):
    """A prestart/createRuntime hook exiting 3 fails create with 125 and a
    message that names the hook; no container state, no QEMU, and the
    process never ran."""
    def edit(cfg):
        cfg["hooks"] = {phase: [script_hook(tmp_path, "fail.sh", "exit 3")]}

    b = spec_bundle(["sh", "-c", "touch /tmp/process-ran"], edit=edit)
    if verb == "create":
        c = husk_cli.create(b)
        cid = c.cid
        res = SimpleNamespace(returncode=c.returncode, stdout=c.out.read_bytes(),
                              stderr=c.stderr)
    else:
        cid = husk_cli.next_id()
        res = husk_cli("run", "--bundle", b, cid)
    assert_husk_error(res, f"hooks.{phase}[0]", "fail.sh")
    assert not (state_root / cid).exists()
    assert not live_qemus(tmp_path), live_qemus(tmp_path)
    assert not (b / "rootfs" / "tmp" / "process-ran").exists()


def test_hook_timeout_kills_it_and_fails_create(spec_bundle, husk_runner, tmp_path, state_root):
    def edit(cfg):
        cfg["hooks"] = {"createRuntime": [script_hook(tmp_path, "slow.sh", "exec sleep 10",
                                                      timeout=1)]}

    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(["true"], edit=edit), cid=cid)
    assert_husk_error(res, "hooks.createRuntime[0]", "timed out")
    assert not (state_root / cid).exists()
    assert not live_qemus(tmp_path)


def test_failing_poststart_and_poststop_only_log(spec_bundle, husk_runner, tmp_path):
    def edit(cfg):
        cfg["hooks"] = {"poststart": [script_hook(tmp_path, "ps.sh", "exit 4")],
                        "poststop": [script_hook(tmp_path, "pst.sh", "exit 5")]}

    res = husk_runner.run(spec_bundle(["sh", "-c", "echo done"], edit=edit))
    err = res.stderr.decode(errors="replace")
    assert (res.returncode, res.stdout) == (0, b"done\n"), (res.returncode, res.stdout, err)
    assert "hooks.poststart[0]" in err and "hooks.poststop[0]" in err, err


def test_failing_poststop_does_not_fail_delete(spec_bundle, husk_cli, tmp_path):
    def edit(cfg):
        cfg["hooks"] = {"poststop": [script_hook(tmp_path, "pst.sh", "exit 5")]}

    c = husk_cli.create(spec_bundle(["true"], edit=edit), verb=("run", "-d"))
    assert c.returncode == 0, c.stderr
    husk_cli.wait_status(c.cid, "stopped")
    res = husk_cli("delete", c.cid)
    assert res.returncode == 0, res.stderr
    assert b"hooks.poststop[0]" in res.stderr, res.stderr


# ================================================================ annotations


def annotate(**ann):
    def edit(cfg):
        cfg["annotations"] = {f"husk.vm.{k}": v for k, v in ann.items()}
    return edit


VM_CATS = probe_args(*cats("/proc/meminfo", "/sys/devices/system/cpu/online",
                           f"{CG}/memory.max", f"{CG}/cpu.max"))


def test_annotation_memory(spec_bundle, run_probe):
    assert_vm_ram(run_probe(spec_bundle(VM_CATS, edit=annotate(memory="160"))), 160)


@pytest.mark.skipif(HOST_CPUS < 2, reason="needs a host with 2 CPUs")
def test_annotation_cpus(spec_bundle, run_probe):
    assert online_cpus(run_probe(spec_bundle(VM_CATS, edit=annotate(cpus="2")))) == 2


@pytest.mark.parametrize("machine", ["pc", "q35", "microvm"])
def test_annotation_machine(spec_bundle, detached, tmp_path, machine):
    """The container runs; QEMU got that machine type; pc and q35 have a
    PCI bus in the guest, microvm has none."""
    cid = detached.start(spec_bundle(["sleep", "1000"], edit=annotate(machine=machine)))
    argvs = []
    for pid in live_qemus(tmp_path):  # virtiofsd too, with HUSK_SHARE=virtiofs
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argvs.append(f.read().decode().split("\0"))
    argvs = [a for a in argvs if "qemu-system" in os.path.basename(a[0])]
    assert len(argvs) == 1, argvs
    argv = argvs[0]
    m = argv[argv.index("-machine") + 1] if "-machine" in argv else argv[argv.index("-M") + 1]
    assert m.split(",")[0] == machine, m
    res = detached.husk("exec", cid, "sh", "-c", "ls /sys/bus/pci/devices 2>/dev/null | wc -l")
    assert res.returncode == 0, res
    n = int(res.stdout)
    assert (n > 0) == (machine != "microvm"), (machine, n)


@pytest.mark.parametrize("how", ["annotation", "flag", "env"])
@pytest.mark.parametrize("share", ["9p", "virtiofs"])
def test_share_mode(spec_bundle, husk_runner, how, share):
    """--share, HUSK_SHARE or husk.vm.share pick the share: the container's
    root is that mount and what the container writes there appears on the
    host, in the bundle's rootfs."""
    edit = annotate(share=share) if how == "annotation" else None
    flags = ["--share", share] if how == "flag" else []
    env = {"HUSK_SHARE": share if how == "env" else None}
    b = spec_bundle(["sh", "-c", 'echo "written in the guest" > /tmp/from-guest && exec "$@"',
                     "sh", "husk-probe"], edit=edit)
    (b / "rootfs" / "etc" / "from-host").write_text("host file\n")
    res = husk_runner.run(b, flags=flags, env=env)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    r = parse_report(res.stdout)
    assert root_fstype(r) == share, [m for m in r["mounts"] if m["mount_point"] == "/"]
    assert (b / "rootfs" / "tmp" / "from-guest").read_text() == "written in the guest\n"


def test_default_share_is_virtiofs(spec_bundle, husk_runner):
    """virtio-fs by default: QEMU's 9p server makes no fifos or sockets."""
    b = spec_bundle(["sh", "-c", 'echo hi > /tmp/from-guest && exec "$@"', "sh", "husk-probe"])
    res = husk_runner.run(b, env=no_env_share())
    assert res.returncode == 0, res.stderr
    assert root_fstype(parse_report(res.stdout)) == "virtiofs"
    assert (b / "rootfs" / "tmp" / "from-guest").read_text() == "hi\n"


def test_share_flag_bad_value(spec_bundle, husk_runner, state_root, tmp_path):
    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(), cid=cid, flags=["--share", "nfs"])
    assert_husk_error(res, "nfs")
    assert not (state_root / cid).exists()


def test_annotation_kernel_and_initrd(spec_bundle, run_probe, build_dir):
    kernel = next(build_dir / "kernel" / k for k in ("vmlinux", "bzImage")
                  if (build_dir / "kernel" / k).exists())
    r = run_probe(spec_bundle(edit=annotate(kernel=str(kernel),
                                            initrd=str(build_dir / "initrd.img"))))
    assert r["pid"] == 1


@pytest.mark.parametrize("key,value", [
    ("memory", "lots"), ("memory", "16"), ("memory", "-5"), ("memory", ""),
    ("cpus", "0"), ("cpus", "65"), ("cpus", "two"),
    ("share", "nfs"), ("machine", "bogus"),
    ("kernel", "/no/such/kernel"), ("initrd", "/no/such/initrd"),
])
def test_bad_annotation_fails_and_names_it(spec_bundle, husk_runner, state_root, tmp_path,
                                           key, value):
    cid = husk_runner.next_id()
    res = husk_runner.run(spec_bundle(edit=annotate(**{key: value})), cid=cid)
    assert_husk_error(res, f"husk.vm.{key}")
    assert not (state_root / cid).exists()
    assert not live_qemus(tmp_path)


def test_memory_flag_wins_over_the_annotation(spec_bundle, husk_runner):
    b = spec_bundle(VM_CATS, edit=annotate(memory="160"))
    res = husk_runner.run(b, flags=["--memory", "300"])
    assert res.returncode == 0, res.stderr
    assert_vm_ram(parse_report(res.stdout), 300)


@pytest.mark.skipif(HOST_CPUS < 2, reason="needs a host with 2 CPUs")
def test_cpus_flag_wins_over_the_annotation(spec_bundle, husk_runner):
    res = husk_runner.run(spec_bundle(VM_CATS, edit=annotate(cpus="2")), flags=["--cpus", "1"])
    assert res.returncode == 0, res.stderr
    assert online_cpus(parse_report(res.stdout)) == 1


def test_share_flag_wins_over_the_annotation(spec_bundle, husk_runner):
    b = spec_bundle(edit=annotate(share="virtiofs"))
    res = husk_runner.run(b, flags=["--share", "9p"])
    assert res.returncode == 0, res.stderr
    assert root_fstype(parse_report(res.stdout)) == "9p"


def test_annotations_win_over_resources(spec_bundle, run_probe):
    """husk.vm.memory/cpus size the VM; linux.resources still limits the
    container's cgroup inside it."""
    def edit(cfg):
        set_resources(cfg, memory={"limit": 64 * MIB}, cpu={"quota": 200000, "period": 100000})
        annotate(memory="300", cpus="1")(cfg)

    r = run_probe(spec_bundle(VM_CATS, edit=edit))
    assert_vm_ram(r, 300)
    assert online_cpus(r) == 1
    assert r["cat"][f"{CG}/memory.max"] == f"{64 * MIB}\n"
    assert r["cat"][f"{CG}/cpu.max"] == "200000 100000\n"
