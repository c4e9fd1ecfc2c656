#!/usr/bin/python3
"""make bench: each husk figure beside its floor, measured in the same run.

Floors use the same QEMU command line husk builds (read from `husk --debug`),
with a trivial static /init (bench/floor-init.c) in place of husk-agent.
"""
import os
import shlex
import socket
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
STREAM_BYTES = int(os.environ.get("BENCH_STREAM_MIB", "128")) << 20

work = tempfile.mkdtemp(prefix="husk-bench-")
root = os.path.join(work, "state")


def make_bundle():
    rootfs = os.path.join(work, "bundle", "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    for d in ("proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(rootfs, d))
    subprocess.run(["cp", "/bin/busybox", os.path.join(rootfs, "bin", "busybox")], check=True)
    subprocess.run(["cp", os.path.join(BUILD, "tests", "husk-testhelper"),
                    os.path.join(rootfs, "bin", "husk-testhelper")], check=True)
    for applet in ("sh", "true", "cat"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    return os.path.join(work, "bundle")


def write_config(bundle, args):
    import json
    cfg = {"ociVersion": "1.0.2",
           "process": {"args": args, "env": ["PATH=/bin"], "cwd": "/",
                       "user": {"uid": 0, "gid": 0}},
           "root": {"path": "rootfs"}}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(cfg, f)


counter = [0]


def husk_run(bundle, args, debug=False):
    write_config(bundle, args)
    counter[0] += 1
    cmd = [HUSK, "--root", root] + (["--debug"] if debug else []) + \
        ["run", "--bundle", bundle, "bench%d" % counter[0]]
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
    subprocess.run([MKINITRD, "-z", "-o", out, lst], check=True)
    return out


def floor_argv(base, initrd, agent_chardev, extra_append=""):
    argv = list(base)
    for i, a in enumerate(argv):
        if a == "-initrd":
            argv[i + 1] = initrd
        elif a == "-append":
            argv[i + 1] = argv[i + 1].replace("husk.debug", "quiet") + extra_append
        elif a.startswith("socket,id=con,"):
            argv[i] = "null,id=con"
        elif a.startswith("socket,id=agent,"):
            argv[i] = agent_chardev
    return argv


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
    write_config(bundle, ["husk-testhelper", "fill", str(nbytes)])
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


def med(f, n=REPEAT):
    return statistics.median(f() for _ in range(n))


def main():
    bundle = make_bundle()
    base = qemu_argv(bundle)
    initrd = floor_initrd()
    rows = []

    cold = []
    floor = []
    for _ in range(REPEAT):  # interleaved, so load changes hit both alike
        floor.append(floor_boot(base, initrd))
        cold.append(husk_run(bundle, ["true"])[0])
    c, f = statistics.median(cold), statistics.median(floor)
    rows.append(("cold husk run true (s)", c, f, c / f, "<= 1.25x", c / f <= 1.25))

    n = STREAM_BYTES
    hs = n / med(lambda: husk_stream(bundle, n), 3) / 1e6
    rs = n / med(lambda: floor_stream(base, initrd, n), 3) / 1e6
    rows.append(("stdout throughput (MB/s, %d MiB)" % (n >> 20), hs, rs, hs / rs, "report", None))

    agent = os.path.getsize(os.path.join(BUILD, "husk-agent"))
    rows.append(("agent binary (KiB, static, stripped)", agent / 1024, None, None, "<= 300",
                 agent <= 300 * 1024))
    rows.append(("initrd.img (KiB)", os.path.getsize(os.path.join(BUILD, "initrd.img")) / 1024,
                 os.path.getsize(initrd) / 1024, None, "report", None))
    kernel = [a for i, a in enumerate(base) if i and base[i - 1] == "-kernel"][0]
    rows.append(("kernel (KiB)", os.path.getsize(kernel) / 1024, None, None, "report", None))

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
