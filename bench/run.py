#!/usr/bin/python3
"""make bench: each husk figure beside its floor, measured in the same run.

Floors use the same QEMU command line husk builds (read from `husk --debug`),
with a trivial static /init (bench/floor-init.c) in place of husk-agent.
BENCH_ONLY=pod: only the pod figures (a pod beside single VMs and runc).
BENCH_ONLY=snapshot: only the figures of VMs started from a snapshot.
"""
import json
import os
import re
import shlex
import socket
import contextlib
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("HUSK_BUILD", os.path.join(os.path.dirname(__file__), "..", "build"))
HUSK = os.path.join(BUILD, "husk")
MKINITRD = os.path.join(BUILD, "husk-mkinitrd")
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
EXEC_REPEAT = int(os.environ.get("BENCH_EXEC_REPEAT", "20"))
STREAM_BYTES = int(os.environ.get("BENCH_STREAM_MIB", "256")) << 20

work = tempfile.mkdtemp(prefix="husk-bench-")
root = os.path.join(work, "state")


def make_bundle(name="bundle"):
    rootfs = os.path.join(work, name, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    for d in ("proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(rootfs, d))
    subprocess.run(["cp", "/bin/busybox", os.path.join(rootfs, "bin", "busybox")], check=True)
    subprocess.run(["cp", os.path.join(BUILD, "tests", "husk-testhelper"),
                    os.path.join(rootfs, "bin", "husk-testhelper")], check=True)
    for applet in ("sh", "true", "cat", "sleep", "grep"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    return os.path.join(work, name)


def write_config(bundle, args, **extra):
    cfg = {"ociVersion": "1.0.2",
           "process": {"args": args, "env": ["PATH=/bin"], "cwd": "/",
                       "user": {"uid": 0, "gid": 0}},
           "root": {"path": "rootfs"},
           # a network namespace of its own, as runc's default spec has: the
           # VM gets lo only (no namespace at all means user-mode networking)
           "linux": {"namespaces": [{"type": "network"}]}}
    cfg.update(extra)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)


counter = [0]


def husk_run(bundle, args, debug=False, opts=(), log=None):
    """Seconds of a `husk run` (opts: run's options), and with debug its
    stderr; log: the debug log there, as JSON lines (timed)."""
    write_config(bundle, args)
    counter[0] += 1
    cmd = [HUSK, "--root", root] + (["--debug"] if debug or log else []) + \
        (["--log", log, "--log-format", "json"] if log else []) + \
        ["run"] + list(opts) + ["--bundle", bundle, "bench%d" % counter[0]]
    t = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE if debug else subprocess.DEVNULL)
    dt = time.monotonic() - t
    if p.returncode != 0:
        sys.exit("bench: %s failed with %d" % (" ".join(args), p.returncode))
    return dt, (p.stderr.decode(errors="replace") if debug else "")


def qemu_argv(bundle):
    _, log = husk_run(bundle, ["true"], debug=True)
    for line in log.splitlines():
        if "starting " in line and "qemu" in line:
            return shlex.split(line.split("starting ", 1)[1])
    sys.exit("bench: could not read the QEMU command line from husk --debug")


def floor_initrd():
    lst = os.path.join(work, "floor.list")
    with open(lst, "w") as f:
        f.write("dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\n"
                "file /init %s 0755 0 0\n" % os.path.join(BUILD, "bench", "floor-init"))
    out = os.path.join(work, "floor.img")
    subprocess.run([MKINITRD, "-o", out, lst], check=True)
    return out


def floor_argv(base, initrd, agent_chardev, extra_append=""):
    argv = list(base)
    if "-pidfile" in argv:  # it names the state dir of the run it came from
        i = argv.index("-pidfile")
        del argv[i:i + 2]
    for i, a in enumerate(argv):
        if a == "-initrd":
            argv[i + 1] = initrd
        elif a == "-append":
            argv[i + 1] = argv[i + 1].replace("husk.debug", "quiet") + extra_append
        elif a.startswith("socket,id=con,"):
            argv[i] = "null,id=con"
        elif a.startswith("socket,id=agent,"):
            argv[i] = agent_chardev
        elif a.startswith("socket,id=qmp,"):
            argv[i] = "null,id=qmp"
        elif a.startswith("tap,id="):
            # the same NIC on a backend that needs no tap fd
            argv[i] = "hubport,hubid=0,id=" + a.split("id=", 1)[1].split(",", 1)[0]
    # virtio-fs: its chardev is an fd to virtiofsd that only husk has, and
    # the floor's init mounts nothing: drop the device and its chardev
    out = []
    skip = False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in ("-chardev", "-device") and i + 1 < len(argv) and (
                argv[i + 1].startswith("socket,id=vfs,")
                or argv[i + 1].startswith("vhost-user-fs")):
            skip = True
            continue
        out.append(a)
    return out


def floor_boot(base, initrd):
    argv = floor_argv(base, initrd, "null,id=agent")
    t = time.monotonic()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - t


def drain(f, nbytes):
    """Read f to EOF; seconds from the first byte to the last."""
    got, first, last = 0, None, None
    while True:
        b = f.read(1 << 20) if hasattr(f, "read") else f.recv(1 << 20)
        if not b:
            break
        now = time.monotonic()
        first = first or now
        last = now
        got += len(b)
    if got < nbytes:
        sys.exit("bench: %d of %d bytes arrived" % (got, nbytes))
    return last - first


def husk_stream(bundle, nbytes):
    """`cat` of an nbytes file in the rootfs, from the first byte on the
    host's stdout to the last."""
    big = os.path.join(bundle, "rootfs", "big")
    if not os.path.exists(big) or os.path.getsize(big) != nbytes:
        with open(big, "wb") as f:
            f.truncate(nbytes)
    write_config(bundle, ["cat", "/big"])
    counter[0] += 1
    p = subprocess.Popen([HUSK, "--root", root, "run", "--bundle", bundle,
                          "bench%d" % counter[0]], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    dt = drain(p.stdout, nbytes)
    if p.wait() != 0:
        sys.exit("bench: husk run of fill failed")
    return dt


def floor_stream(base, initrd, nbytes):
    sock = os.path.join(work, "floor.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(1)
    took = [0.0]

    def reader():
        c, _ = srv.accept()
        took[0] = drain(c, nbytes)
        c.close()
    th = threading.Thread(target=reader)
    th.start()
    argv = floor_argv(base, initrd, "socket,id=agent,path=%s" % sock,
                      " floor_bytes=%d" % nbytes)
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    th.join()
    srv.close()
    return took[0]


NFILES = 10000
FS_BYTES = 64 << 20


def fs_numbers(host_helper, data, mode):
    """seq write, seq read (of a file the host wrote) and stat of NFILES
    files, timed by the helper itself: in the guest, or on the host."""
    def rates(out):
        w, r, s = (float(x) for x in out.split())
        return {"write": FS_BYTES / w / 1e6, "read": FS_BYTES / r / 1e6, "stat": NFILES / s}
    script = ("husk-testhelper seqwrite {d}/big {n} && husk-testhelper seqread {d}/host-big && "
              "husk-testhelper statdir {d}/files").format(d=data, n=FS_BYTES)
    if host_helper:
        out = subprocess.run(["sh", "-c", script.replace("husk-testhelper", host_helper[0])],
                             capture_output=True, text=True, check=True).stdout
        return rates(out)
    write_config(bundle_dir[0], ["sh", "-c", script])
    counter[0] += 1
    out = subprocess.run([HUSK, "--root", root, "run", "--share", mode, "--bundle",
                          bundle_dir[0], "bench%d" % counter[0]], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench: file system run on %s failed: %s" % (mode, out.stderr))
    return rates(out.stdout)


bundle_dir = [None]


def proc_tree(pids):
    """pids and every process below them."""
    todo, seen = list(pids), set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        yield p
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass


def host_kib(pids, field="Pss"):
    """Rss or Pss summed over pids and everything below them, in KiB."""
    total = 0
    for p in proc_tree(pids):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                total += sum(int(l.split()[1]) for l in f if l.startswith(field + ":"))
        except OSError:
            pass
    return total


def cmdline(pid):
    """A process's argv ([] if it is gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def cmdlines(pids):
    """The command lines of pids and everything below them."""
    return [c for c in map(cmdline, proc_tree(pids)) if c]


def husk_pids(state_root, cid):
    """A husk container's own host processes: its proxy (QEMU and virtiofsd
    are below it; a pod's member proxy has none) and its sentinel, "pid" in
    state.json, which holds no memory of note."""
    with open(os.path.join(state_root, cid, "state.json")) as f:
        st = json.load(f)
    return [st["husk_proxy_pid"], st["pid"]]


def cri_config(role=None, sandbox=None):
    """What CRI writes in a pod's config.json beside the bench's, as
    tests/integration/test_pod.py's pod_config: the annotations that put a
    container in its sandbox's VM, the pod's namespaces (a container's ipc
    and uts name the sandbox's); and the /proc mount runc needs."""
    ns = [{"type": t} for t in ("mount", "pid", "ipc", "uts", "network")]
    ann = {"io.kubernetes.cri.container-type": role} if role else {}
    if sandbox:
        ann["io.kubernetes.cri.sandbox-id"] = sandbox
        for n in ns[2:4]:
            n["path"] = "/proc/1/ns/" + n["type"]
    return {"annotations": ann, "linux": {"namespaces": ns},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}


pod_bundles = []


@contextlib.contextmanager
def started(kind, n, opts=None):
    """n containers running `sleep`, each created and started in turn: "pod"
    (a sandbox, then n - 1 containers in its VM), "vm" (a husk VM each; opts:
    each one's husk create options) or "runc". Yields the seconds until
    `state` said the last one runs, the host processes to count (see
    husk_pids, in the containers' order) and their ids; deletes them all
    after."""
    while len(pod_bundles) < n:
        pod_bundles.append(make_bundle("pod%d" % len(pod_bundles)))
    cli = ["runc", "--root", os.path.join(work, "runc-state")] if kind == "runc" else \
        [HUSK, "--root", root]
    counter[0] += 1
    ids = ["pod%d-%d" % (counter[0], i) for i in range(n)]
    for i, b in enumerate(pod_bundles[:n]):
        role = ("container" if i else "sandbox") if kind == "pod" else None
        write_config(b, ["sleep", "1000000"],
                     **cri_config(role, ids[0] if role == "container" else None))
    pids = []
    try:
        t = time.monotonic()
        for i, (cid, b) in enumerate(zip(ids, pod_bundles)):
            subprocess.run(cli + ["create"] + (opts[i] if opts else []) + ["--bundle", b, cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            subprocess.run(cli + ["start", cid], check=True)
            st = json.loads(subprocess.run(cli + ["state", cid], capture_output=True,
                                           check=True).stdout)
            if st["status"] != "running":
                sys.exit("bench: %s %s is %s after start" % (kind, cid, st["status"]))
            pids += [st["pid"]] if kind == "runc" else husk_pids(root, cid)
        yield time.monotonic() - t, pids, ids
    finally:
        for cid in reversed(ids):  # a pod's containers before its sandbox
            subprocess.run(cli + ["delete", "--force", cid], stderr=subprocess.DEVNULL)


def pod_start_rows():
    """Nothing to a sandbox and 2 containers running, beside 3 husk VMs and
    runc's 3 containers (runc has no pods)."""
    took = {"pod": [], "vm": [], "runc": []}
    for _ in range(REPEAT):  # interleaved, so load changes hit all alike
        for kind in took:
            with started(kind, 3) as (dt, _, _):
                took[kind].append(dt)
    pod, vms, runc = (statistics.median(took[k]) for k in ("pod", "vm", "runc"))
    return [("pod start, sandbox + 2 containers (s)", pod, vms, pod / vms, "vs 3 VMs", None),
            ("  same, beside runc's 3 containers (s)", pod, runc, pod / runc, "vs runc", None)]


def pod_memory_rows():
    """Host PSS of every process of an idle pod of 2 containers (and its
    sandbox), beside 2 husk VMs and runc's 2 containers."""
    kib = {}
    for kind, n in (("pod", 3), ("vm", 2), ("runc", 2)):
        with started(kind, n) as (_, pids, _):
            time.sleep(2)  # past the boot's and the start's own work
            kib[kind] = host_kib(pids) / 1024
    pod = kib["pod"]
    return [("host PSS, idle pod of 2 (MiB)", pod, kib["vm"], pod / kib["vm"], "vs 2 VMs", None),
            ("  same, beside runc's 2 containers (MiB)", pod, kib["runc"], pod / kib["runc"],
             "vs runc", None)]


@contextlib.contextmanager
def own_root():
    """A state root and a snapshot directory (HUSK_SNAPSHOT_DIR, mode 0700)
    of a section's own, removed after: yields the directory holding both.
    No QEMU of the section may outlive it."""
    global root
    saved, saved_snaps = root, os.environ.get("HUSK_SNAPSHOT_DIR")
    d = tempfile.mkdtemp(prefix="section-", dir=work)  # mode 0700
    root = os.path.join(d, "state")
    os.environ["HUSK_SNAPSHOT_DIR"] = os.path.join(d, "snapshots")
    os.mkdir(os.environ["HUSK_SNAPSHOT_DIR"], 0o700)
    try:
        yield d
    finally:
        root = saved
        if saved_snaps is None:
            del os.environ["HUSK_SNAPSHOT_DIR"]
        else:
            os.environ["HUSK_SNAPSHOT_DIR"] = saved_snaps
        left = [int(p) for p in os.listdir("/proc")
                if p.isdigit() and any(d in a for a in cmdline(int(p)))]
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, 9)
        if left:
            print("bench: processes of %s outlived it: %s (killed)" % (d, left), file=sys.stderr)
        subprocess.run(["rm", "-rf", d])


def restored(pids, want):
    """Whether each QEMU below pids was started to restore a snapshot (its
    -incoming; a restore that fails boots a QEMU without it), as want."""
    qemus = [c for c in cmdlines(pids) if "qemu-system" in os.path.basename(c[0])]
    got = sum("-incoming" in c for c in qemus)
    if not qemus or got != (len(qemus) if want else 0):
        sys.exit("bench: %d of %d VMs were restored from a snapshot, not %s" %
                 (got, len(qemus), "all" if want else "none"))


def runsc_run(bundle, state):
    """gVisor's cold run of the bundle's `true`: (seconds, "") or (None, why).
    The ptrace platform and no cgroups, as runsc runs here; no network (its
    netstack cannot start in the namespace here)."""
    if not shutil.which("runsc"):
        return None, "not installed"
    write_config(bundle, ["true"])
    counter[0] += 1
    t = time.monotonic()
    p = subprocess.run(["runsc", "--root", state, "--platform=ptrace", "--ignore-cgroups",
                        "--network=none", "run", "--bundle", bundle, "bench%d" % counter[0]],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return dt, ""


# a start's parts, from husk's debug log: each ends at the first message
# its mark matches (None: husk's exit; a boot has no RESUME), and
# whether a snapshot's mode changes it (the stream husk checks and QEMU
# loads, shared mode's load waiting for the monitor, the RAM the guest
# faults in from the file)
PHASES = ((r"starting \S*qemu", "husk before QEMU", True),
          ("qmp: QEMU ", "QEMU start, to its monitor", False),
          ("qmp: <- qmp_capabilities ", "the monitor's handshake", True),
          ("qmp: event RESUME$", "snapshot loaded, guest on", True),
          ("agent ", "guest to the agent's hello", True),
          (r"request \d+ shutdown$", "container create, start, exit", False),
          (None, "VM shutdown, husk's exit", False))


def phases(log, t0, t1):
    """ms of each of PHASES (None if it has no mark) in a run logged to log
    (JSON) from t0 to t1 (time.time())."""
    marks = {}
    with open(log) as f:
        for line in f:
            j = json.loads(line)
            t = datetime.datetime.strptime(j["time"][:26], "%Y-%m-%dT%H:%M:%S.%f").replace(
                tzinfo=datetime.timezone.utc).timestamp()
            for mark, _, _ in PHASES[:-1]:
                if re.match(mark, j["msg"]):
                    marks.setdefault(mark, t)
    out, prev = {}, t0
    for mark, name, _ in PHASES:
        t = t1 if mark is None else marks.get(mark)
        out[name] = None if t is None else (t - prev) * 1000
        prev = t or prev
    return out


def snapshot_rows(bundle, base, initrd):
    """VMs started from a snapshot (9p share), beside booted ones, the boot
    floor and gVisor: a cold run, its parts, the memory of idle VMs, exec."""
    rows = []
    nine = ["--share", "9p", "--template"]
    with own_root() as d:
        log = os.path.join(d, "run.log")

        def logged(mode):
            if os.path.exists(log):
                os.unlink(log)
            dt = husk_run(bundle, ["true"], opts=nine + [mode], log=log)[0]
            t1 = time.time()
            return phases(log, t1 - dt, t1)
        # the snapshot, made by an untimed run, and the next run restores it
        husk_run(bundle, ["true"], opts=nine + ["private"])
        if logged("private")["snapshot loaded, guest on"] is None:
            sys.exit("bench: the VM was not restored: %s" % open(log).read())

        took = {k: [] for k in ("floor", "private", "off", "virtiofs", "runsc")}
        why = ""
        for _ in range(REPEAT):  # interleaved, so load changes hit all alike
            took["floor"].append(floor_boot(base, initrd))
            for mode in ("private", "off"):
                took[mode].append(husk_run(bundle, ["true"], opts=nine + [mode])[0])
            took["virtiofs"].append(husk_run(bundle, ["true"])[0])
            if not why:
                dt, why = runsc_run(bundle, os.path.join(d, "runsc"))
                took["runsc"] += [dt] if dt else []
        c = {k: statistics.median(v) if v else None for k, v in took.items()}
        f, snap = c["floor"], c["private"]
        rows.append(("cold run true, 9p, from snapshot (s)", snap, f, snap / f, "<= 0.4x",
                     snap / f <= 0.4))
        rows.append(("  same, 9p, booted (template off) (s)", c["off"], f, c["off"] / f,
                     "vs floor", None))
        rows.append(("  same, virtio-fs default, booted (s)", c["virtiofs"], f,
                     c["virtiofs"] / f, "vs floor", None))
        if c["runsc"]:
            rows.append(("  from snapshot, beside runsc (s)", snap, c["runsc"],
                         snap / c["runsc"], "<= 2x", snap / c["runsc"] <= 2))
        else:
            rows.append(("  runsc did not run: %s" % why[:70], 0, None, None, "report", None))

        # where a start's time goes: restored (private; shared where the
        # mode matters) beside booted
        ph = {m: [] for m in ("private", "shared", "off")}
        for _ in range(REPEAT):
            for mode in ph:
                ph[mode].append(logged(mode))
        for _, name, moded in PHASES:
            p, s, b = (statistics.median(x[name] for x in ph[m]) if ph[m][0][name] is not None
                       else None for m in ("private", "shared", "off"))
            rows.append(("  %s (ms)" % name, p, b, b and p / b, "vs boot", None))
            if moded:
                rows.append(("    same, shared mode (ms)", s, b, b and s / b, "vs boot", None))

        # host PSS of 10 idle VMs, proxy and all below
        kib = {}
        for mode in ("shared", "private", "off"):
            with started("vm", 10, [nine + [mode]] * 10) as (_, pids, _):
                restored(pids, mode != "off")
                time.sleep(2)  # past the start's own work
                kib[mode] = host_kib(pids) / 1024
        sh, off = kib["shared"], kib["off"]
        rows.append(("host PSS, 10 idle, shared snapshot (MiB)", sh, off, sh / off, "<= 0.5x",
                     sh / off <= 0.5))
        rows.append(("  same, private snapshot (MiB)", kib["private"], off,
                     kib["private"] / off, "vs boot", None))

        # exec in a VM restored, beside one booted, both running
        with started("vm", 2, [nine + ["private"], nine + ["off"]]) as (_, pids, ids):
            restored(pids[:2], True)
            restored(pids[2:], False)
            (snap, _), (boot, _) = exec_round_trip(*ids)
        rows.append(("exec true, restored VM (ms)", snap, boot, snap / boot, "<= 1.1x",
                     snap / boot <= 1.1))
    return rows


def exec_round_trip(*cids):
    """`husk exec true` in running containers (in turn, so load changes hit
    all alike), and the agent's own spawn-to-exit of the same binary plus
    one channel round trip: for each container the medians of EXEC_REPEAT,
    in ms."""
    walls, guest, rtts = ({c: [] for c in cids} for _ in range(3))
    log = os.path.join(work, "exec.log")
    for _ in range(EXEC_REPEAT):
        for cid in cids:
            if os.path.exists(log):
                os.unlink(log)
            t = time.monotonic()
            subprocess.run([HUSK, "--root", root, "--debug", "--log", log, "exec", cid, "true"],
                           stdin=subprocess.DEVNULL, check=True)
            walls[cid].append(time.monotonic() - t)
            for line in open(log):
                if "ran " in line and " us in the guest" in line:
                    guest[cid].append(int(line.split("ran ")[1].split(" us")[0]) / 1e6)
            rtts[cid].append(int(subprocess.run([HUSK, "--root", root, "ping", cid],
                                                capture_output=True, text=True,
                                                check=True).stdout) / 1e6)
    return [(statistics.median(walls[c]) * 1000,
             (statistics.median(guest[c]) + statistics.median(rtts[c])) * 1000) for c in cids]


def med(f, n=REPEAT):
    return statistics.median(f() for _ in range(n))


def main():
    bundle = make_bundle()
    bundle_dir[0] = bundle
    base = qemu_argv(bundle)
    only = os.environ.get("BENCH_ONLY")
    if only == "pod":
        return print_rows(pod_start_rows() + pod_memory_rows(), base)
    initrd = floor_initrd()
    if only == "snapshot":
        return print_rows(snapshot_rows(bundle, base, initrd), base)
    rows = []

    cold = []
    floor = []
    for _ in range(REPEAT):  # interleaved, so load changes hit both alike
        floor.append(floor_boot(base, initrd))
        cold.append(husk_run(bundle, ["true"])[0])
    c, f = statistics.median(cold), statistics.median(floor)
    rows.append(("cold husk run true (s)", c, f, c / f, "<= 1.15x", c / f <= 1.15))

    n = STREAM_BYTES
    hs = n / med(lambda: husk_stream(bundle, n), 3) / 1e6
    rs = n / med(lambda: floor_stream(base, initrd, n), 3) / 1e6
    rows.append(("stdout of cat, %d MiB (MB/s)" % (n >> 20), hs, rs, hs / rs, ">= 0.8x",
                 hs / rs >= 0.8))

    # the guest's memory in use right after boot, the container's first
    # process being the one that reads it
    write_config(bundle, ["cat", "/proc/meminfo"])
    counter[0] += 1
    out = subprocess.run([HUSK, "--root", root, "run", "--bundle", bundle, "bench%d" % counter[0]],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True).stdout
    mem = {l.split(":")[0]: int(l.split()[1]) for l in out.splitlines() if ":" in l}
    boot_used = (mem["MemTotal"] - mem["MemAvailable"]) / 1024
    rows.append(("guest memory used after boot (MiB)", boot_used, None, None, "<= 12",
                 boot_used <= 12))

    # exec round trip in a running container, beside the agent's own
    # spawn-to-exit of the same binary plus one channel round trip
    write_config(bundle, ["sleep", "1000000"])
    cid = "bench-exec"
    subprocess.run([HUSK, "--root", root, "run", "-d", "--bundle", bundle, cid],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    try:
        (e, ef), = exec_round_trip(cid)
        rows.append(("husk exec true round trip (ms)", e, ef, e / ef, "<= 1.5x", e / ef <= 1.5))
        # the agent with 10 idle processes, and the guest's memory in use
        execs = [subprocess.Popen([HUSK, "--root", root, "exec", "-d", cid, "sleep", "100000"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(10)]
        for p in execs:
            p.wait()
        out = subprocess.run([HUSK, "--root", root, "exec", cid, "sh", "-c",
                              "grep VmRSS /proc/1/status; grep -E 'MemTotal|MemAvailable' /proc/meminfo"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        agent_rss = int(out[0].split()[1])
        used = int(out[1].split()[1]) - int(out[2].split()[1])
        rows.append(("agent RSS, 10 idle processes (KiB)", agent_rss, None, None, "<= 1024",
                     agent_rss <= 1024))
        rows.append(("guest memory used, busy container (MiB)", used / 1024, None, None, "report", None))
        rss = host_kib(husk_pids(root, cid), "Rss")
        rows.append(("host RSS of one idle container (MiB)", rss / 1024, None, None,
                     "report", None))
    finally:
        subprocess.run([HUSK, "--root", root, "delete", "--force", cid])

    # file systems: the rootfs over 9p and over virtio-fs, the host as floor
    data = os.path.join(bundle, "rootfs", "data")
    files = os.path.join(data, "files")
    os.makedirs(files)
    for i in range(NFILES):
        open(os.path.join(files, "f%05d" % i), "w").close()
    helper = os.path.join(BUILD, "tests", "husk-testhelper")
    subprocess.run([helper, "seqwrite", os.path.join(data, "host-big"), str(FS_BYTES)],
                   check=True, stdout=subprocess.DEVNULL)
    host = fs_numbers([helper], data, "/tmp-host")
    for mode in ("9p", "virtiofs"):
        guest = fs_numbers(None, "/data", mode)
        for k, unit in (("write", "MB/s"), ("read", "MB/s"), ("stat", "ops/s")):
            rows.append(("%s %s (%s)" % (mode, {"write": "seq write", "read": "seq read",
                                                 "stat": "stat of %d files" % NFILES}[k], unit),
                         guest[k], host[k], guest[k] / host[k], "report", None))

    # the network: beside runc (and runsc) on the same podman network
    import net as netbench
    rows.extend(netbench.rows(HUSK, BUILD))

    # a pod in one VM, beside a VM a container and runc
    rows += pod_start_rows() + pod_memory_rows()

    # VMs started from a snapshot
    rows += snapshot_rows(bundle, base, initrd)

    # the smallest guest RAM that runs busybox true
    write_config(bundle, ["true"])
    smallest = None
    for mib in (32, 40, 48, 64, 96):
        counter[0] += 1
        r = subprocess.run([HUSK, "--root", root, "run", "--memory", str(mib), "--boot-timeout",
                            "20", "--bundle", bundle, "bench%d" % counter[0]],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            smallest = mib
            break
    rows.append(("smallest guest RAM running true (MiB)", smallest or -1, None, None, "<= 48",
                 bool(smallest and smallest <= 48)))

    agent = os.path.getsize(os.path.join(BUILD, "husk-agent"))
    rows.append(("agent binary (KiB, static, stripped)", agent / 1024, None, None, "<= 300",
                 agent <= 300 * 1024))
    rows.append(("initrd.img (KiB)", os.path.getsize(os.path.join(BUILD, "initrd.img")) / 1024,
                 os.path.getsize(initrd) / 1024, None, "report", None))
    kernel = [a for i, a in enumerate(base) if i and base[i - 1] == "-kernel"][0]
    rows.append(("kernel (KiB)", os.path.getsize(kernel) / 1024, None, None, "report", None))
    print_rows(rows, base)


def print_rows(rows, base):
    print("%-40s %10s %10s %7s %10s  %s" % ("figure", "husk", "floor", "ratio", "target", "ok"))
    for name, v, fl, ratio, target, ok in rows:
        print("%-40s %10.2f %10s %7s %10s  %s" % (
            name, v, "-" if fl is None else "%.2f" % fl,
            "-" if ratio is None else "%.2fx" % ratio, target,
            "-" if ok is None else ("yes" if ok else "NO")))
    accel = "kvm" if "kvm" in base else "tcg"
    print("(%s, machine %s, median of %d cold runs)" % (
        accel, base[base.index("-M") + 1].split(",")[0], REPEAT))


try:
    main()
finally:
    subprocess.run(["rm", "-rf", work])
