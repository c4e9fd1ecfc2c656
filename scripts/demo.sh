#!/bin/sh
# make demo: run `uname -a` in a busybox container through husk run and show
# it beside the host's: the container runs on the project's own kernel.
set -eu
build=$(cd "$1" && pwd)
bundle=$build/demo-bundle
rm -rf "$bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/dev" \
	"$bundle/rootfs/sys" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh uname; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
cat > "$bundle/config.json" <<'JSON'
{
  "ociVersion": "1.0.2",
  "process": {
    "args": ["uname", "-a"],
    "env": ["PATH=/bin"],
    "cwd": "/",
    "user": {"uid": 0, "gid": 0}
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "husk-demo"
}
JSON
root=$build/demo-state
printf 'host:      %s\n' "$(uname -a)"
printf 'container: '
"$build/husk" --root "$root" run --bundle "$bundle" "demo-$$"
