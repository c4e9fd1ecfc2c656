"""Fixtures for test_spec.py: husk-probe (tests/helper/husk-probe.c), a
config.json shaped like the one `runc spec` writes, and bundles that run the
probe. Imported by test_spec.py; conftest.py's fixtures (make_bundle,
husk_runner, ...) are used as they are.
"""

import copy
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import HANG_GUARD_S, REPO

PROBE_SRC = REPO / "tests" / "helper" / "husk-probe.c"
PROBE_CMD = ("musl-gcc -std=gnu11 -Os -Wall -Wextra -Werror -D_GNU_SOURCE -static -s "
             "tests/helper/husk-probe.c -o build/tests/husk-probe")

# `runc spec` (runc 1.1) as it writes it, ociVersion aside.
RUNC_SPEC = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                        "/sys/devices/virtual/powercap"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"],
    },
}


def runc_config(args, readonly=False):
    """RUNC_SPEC with process.args, no terminal, and (unless readonly) a
    writable root, so that mounts may create their mount points."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["root"]["readonly"] = readonly
    return cfg


@pytest.fixture(scope="session")
def probe(build_dir):
    p = build_dir / "tests" / "husk-probe"
    if not p.exists():
        pytest.fail(f"{p} is missing (make build/tests/husk-probe, or: {PROBE_CMD})")
    if PROBE_SRC.stat().st_mtime > p.stat().st_mtime:
        pytest.fail(f"{p} is older than {PROBE_SRC}: rebuild it ({PROBE_CMD})")
    return p


@pytest.fixture
def spec_bundle(make_bundle, probe):
    """spec_bundle(args=("husk-probe",), edit=None, name="bundle", readonly=False)
    -> Path: a bundle whose config is runc_config(args), changed by edit
    (in place, or return a replacement), with husk-probe in rootfs/bin."""

    def make(args=("husk-probe",), edit=None, name="bundle", readonly=False):
        def build(_default):
            cfg = runc_config(args, readonly=readonly)
            if edit is not None:
                res = edit(cfg)
                if res is not None:
                    cfg = res
            return cfg

        b = make_bundle(args, name=name, edit=build)
        dst = b / "rootfs" / "bin" / "husk-probe"
        shutil.copy2(probe, dst)
        os.chmod(dst, 0o755)
        return b

    return make


def parse_report(out):
    """The probe's report: the last line of out that is a JSON object."""
    lines = [ln for ln in out.decode(errors="replace").splitlines() if ln.startswith("{")]
    assert lines, f"no probe report in {out!r}"
    return json.loads(lines[-1])


@pytest.fixture
def run_probe(husk_runner):
    """run_probe(bundle, argv=None) -> report. The container must exit 0."""

    def run(bundle, argv=None):
        if argv is None:
            res = husk_runner.run(bundle)
        else:
            res = subprocess.run(argv, capture_output=True, env=husk_runner.env(),
                                 stdin=subprocess.DEVNULL, timeout=HANG_GUARD_S)
        assert res.returncode == 0, (res.returncode, res.stderr.decode(errors="replace"))
        return parse_report(res.stdout)

    return run


class Detached:
    """A container started with `husk run -d`, driven by other husk commands."""

    def __init__(self, runner, tmp_path):
        self.runner = runner
        self.tmp_path = tmp_path
        self.started = []

    def husk(self, *args, input=None):
        argv = [str(self.runner.husk), "--root", str(self.runner.root), *args]
        kw = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        return subprocess.run(argv, capture_output=True, env=self.runner.env(),
                              timeout=HANG_GUARD_S, **kw)

    def start(self, bundle, cid=None):
        """run -d; its stdio goes to files: a detached container keeps them."""
        cid = cid or self.runner.next_id()
        out = self.tmp_path / f"{cid}.out"
        with open(out, "wb") as f:
            res = subprocess.run(self.runner.argv(bundle, cid, flags=["-d"]),
                                 stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                 env=self.runner.env(), timeout=HANG_GUARD_S)
        assert res.returncode == 0, out.read_text(errors="replace")
        self.started.append(cid)
        return cid

    def status(self, cid):
        res = self.husk("state", cid)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)["status"]

    def wait_status(self, cid, want, tries=200, step=0.05):
        """Bounded poll (a hang guard, not a timing assertion)."""
        st = None
        for _ in range(tries):
            st = self.status(cid)
            if st == want:
                break
            time.sleep(step)
        return st

    def cleanup(self):
        for cid in self.started:
            self.husk("delete", "--force", cid)


@pytest.fixture
def detached(husk_runner, tmp_path):
    d = Detached(husk_runner, tmp_path)
    yield d
    d.cleanup()
