"""Build a minimal OCI image archive (oci-layout, index.json, blobs) from
Debian's busybox-static, for `ctr images import`, `podman load -i` and,
through a docker-archive manifest.json beside the index, `docker load`."""
import hashlib
import io
import json
import subprocess
import tarfile

IMAGE = "localhost/husk-busybox:latest"


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _add(tf, name, data=None, mode=0o644, kind=tarfile.REGTYPE, target=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.uid, ti.gid = kind, mode, 0, 0, 0
    ti.linkname = target
    if data is not None:
        ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data) if data is not None else None)


def _layer(busybox, extra):
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "run"):
            _add(tf, d, mode=0o1777 if d == "tmp" else 0o755, kind=tarfile.DIRTYPE)
        with open(busybox, "rb") as f:
            _add(tf, "bin/busybox", f.read(), 0o755)
        for applet in sorted(set(applets) - {"busybox"}):
            _add(tf, "bin/" + applet, mode=0o777, kind=tarfile.SYMTYPE, target="busybox")
        _add(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _add(tf, "etc/group", b"root:x:0:\n")
        for name, path in extra.items():
            with open(path, "rb") as f:
                _add(tf, name, f.read(), 0o755)
    return buf.getvalue()


def build(out, busybox="/bin/busybox", name=IMAGE, extra=None, cmd=("sh",), entrypoint=None):
    """cmd, entrypoint: the image config's Cmd and Entrypoint (what runs when
    the caller names no command: the CRI's pause image, say)."""
    layer = _layer(busybox, extra or {})
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           "Cmd": list(cmd), "WorkingDir": "/"}
    if entrypoint is not None:
        cfg["Entrypoint"] = list(entrypoint)
    config = _dumps({
        "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}})
    manifest = _dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _sha(layer), "size": len(layer)}]})
    index = _dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": _sha(manifest), "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}]})
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tf, "blobs", mode=0o755, kind=tarfile.DIRTYPE)
        _add(tf, "blobs/sha256", mode=0o755, kind=tarfile.DIRTYPE)
        for blob in (layer, config, manifest):
            _add(tf, "blobs/sha256/" + _sha(blob)[7:], blob)
        _add(tf, "index.json", index)
        # docker 20.10's `docker load` reads docker-archive's manifest.json,
        # not the OCI index: the same blobs serve both
        _add(tf, "manifest.json", _dumps([{
            "Config": "blobs/sha256/" + _sha(config)[7:], "RepoTags": [name],
            "Layers": ["blobs/sha256/" + _sha(layer)[7:]]}]))
    return name
