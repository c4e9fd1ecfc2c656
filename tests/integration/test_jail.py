"""The VMM's jail (docs/security.md): read from /proc of the real QEMU and
virtiofsd of a running container, on both share modes. The VM has one
share, the rootfs and the bind sources in it: with virtio-fs QEMU runs
unprivileged whatever the container binds."""
import json
import os
from pathlib import Path

import pytest

SLEEPER = ["sleep", "100000"]
CAP_9P = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 27)


def status(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def children_named(parent, name):
    kids = []
    for tid in os.listdir(f"/proc/{parent}/task"):
        kids += [int(x) for x in Path(f"/proc/{parent}/task/{tid}/children").read_text().split()]
    return [k for k in kids if Path(f"/proc/{k}/comm").read_text().strip().startswith(name)]


def running(make_bundle, husk_cli, share, binds=None, binds_ro=None):
    def edit(cfg):
        if binds:
            cfg["mounts"] = [{"destination": "/data", "type": "bind", "source": str(binds),
                              "options": ["rbind", "rw"]}]
        if binds_ro:
            cfg["mounts"].append({"destination": "/ro", "type": "bind",
                                  "source": str(binds_ro), "options": ["rbind", "ro"]})
    c = husk_cli.create(make_bundle(SLEEPER, edit=edit), verb=("run", "-d"),
                        flags=["--share", share])
    assert c.returncode == 0, c.stderr
    st = json.loads((husk_cli.root / c.cid / "state.json").read_text())
    return c.cid, st


@pytest.mark.parametrize("share", ["virtiofs", "9p"])
def test_qemu_is_jailed(make_bundle, husk_cli, share):
    cid, st = running(make_bundle, husk_cli, share)
    q = st["husk_vm_pid"]
    s = status(q)
    assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "1", s
    assert len(s["NSpid"].split()) == 2 and s["NSpid"].split()[1] == "1", s["NSpid"]
    for ns in ("mnt", "pid", "ipc"):
        assert os.readlink(f"/proc/{q}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    cap = int(s["CapEff"], 16)
    if share == "virtiofs":
        # no 9p share: nothing to do with files, no privilege at all
        assert s["Uid"].split()[0] == "65534" and cap == 0 and int(s["CapBnd"], 16) == 0, s
    else:
        assert s["Uid"].split()[0] == "0" and cap == CAP_9P == int(s["CapBnd"], 16), s
    root = Path(f"/proc/{q}/root")
    assert sorted(os.listdir(root / "dev")) == ["null", "urandom", "zero"]
    assert os.listdir(root / "etc") == ["ld.so.cache"]
    assert not (root / "etc" / "shadow").exists() and not (root / "root").exists()
    # the state directory it sees is an empty scratch one, not ours
    state = root / str(husk_cli.root / cid).lstrip("/")
    assert not (state / "state.json").exists()
    assert (root / "proc" / "1").exists() and not (root / "proc" / str(os.getpid())).exists()
    assert husk_cli("delete", "--force", cid).returncode == 0


def test_virtiofsd_is_sandboxed(make_bundle, husk_cli):
    cid, st = running(make_bundle, husk_cli, "virtiofs")
    vfs = children_named(st["husk_proxy_pid"], "virtiofsd")
    assert vfs, "no virtiofsd under the proxy"
    # virtiofsd forks its sandboxed server: check the deepest one
    deep = children_named(vfs[0], "virtiofsd") or vfs
    s = status(deep[0])
    assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "1", s
    assert os.readlink(f"/proc/{deep[0]}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert husk_cli("delete", "--force", cid).returncode == 0


def qemu_argv(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


@pytest.mark.parametrize("share", ["virtiofs", "9p"])
def test_binds_share_the_one_device(make_bundle, husk_cli, tmp_path, share):
    """A container with writable and read-only bind mounts (as docker's and
    Kubernetes' always are): one filesystem device for the rootfs and the
    binds; on virtio-fs QEMU keeps no privilege at all, on 9p only the 9p
    capabilities; the binds work, the read-only one refuses writes."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    (src / "f").write_text("from the host\n")
    (ro / "r").write_text("read-only\n")
    cid, st = running(make_bundle, husk_cli, share, binds=src, binds_ro=ro)
    q = st["husk_vm_pid"]
    s = status(q)
    if share == "virtiofs":
        assert s["Uid"].split()[0] == "65534" and s["Gid"].split()[0] == "65534", s
        assert int(s["CapEff"], 16) == 0 and int(s["CapPrm"], 16) == 0, s
        assert int(s["CapBnd"], 16) == 0, s
    else:
        assert s["Uid"].split()[0] == "0" and int(s["CapEff"], 16) == CAP_9P, s
    argv = qemu_argv(q)
    devices = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-device"]
    fs = [d for d in devices if d.startswith(("virtio-9p", "vhost-user-fs"))]
    assert len(fs) == 1 and "tag=share" in fs[0], devices
    assert argv.count("-fsdev") == (1 if share == "9p" else 0), argv
    # with virtio-fs QEMU sees none of the files: its jail has no share
    state = Path(f"/proc/{q}/root") / str(husk_cli.root / cid).lstrip("/")
    assert (state / "share").exists() == (share == "9p")
    res = husk_cli("exec", cid, "sh", "-c",
                   "cat /data/f /ro/r; echo back > /data/g; "
                   "echo no > /ro/new && echo ro-written; true")
    assert res.stdout == b"from the host\nread-only\n", (res.stdout, res.stderr)
    assert (src / "g").read_text() == "back\n"
    assert sorted(os.listdir(ro)) == ["r"]
    assert husk_cli("delete", "--force", cid).returncode == 0
