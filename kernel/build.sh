#!/bin/sh
# Build the husk guest kernel from Debian's linux-source package, cached
# outside the work tree and keyed by everything that goes into it.
#   kernel/build.sh OUTDIR
# leaves OUTDIR/bzImage, OUTDIR/vmlinux and OUTDIR/config.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
cache=${HUSK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/husk}
[ -r "$tarball" ] || { echo "kernel: $tarball missing (install linux-source-6.1)" >&2; exit 1; }

pkgver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || echo unknown)
key=$( { echo "$pkgver"; cat "$here/husk.config" "$here/build.sh" "$here"/patches/*.patch; gcc --version | head -1; } \
       | sha256sum | cut -c1-16)
dir=$cache/kernel/$key
if [ ! -f "$dir/bzImage" ]; then
	echo "kernel: building $key from linux-source $pkgver (takes minutes, once)"
	work=$cache/kernel/build-$key.$$
	rm -rf "$work" && mkdir -p "$work"
	trap 'rm -rf "$work"' EXIT
	tar -C "$work" -xf "$tarball"
	src=$(echo "$work"/linux-source-*)
	# Our changes to Debian's source, each explained in its own header.
	for p in "$here"/patches/*.patch; do
		patch -s -p1 -d "$src" < "$p"
	done
	# Reproducible build: fixed identity and time stamps.
	export KBUILD_BUILD_USER=husk KBUILD_BUILD_HOST=husk
	export KBUILD_BUILD_TIMESTAMP='1970-01-01 00:00:00 UTC'
	make -C "$src" -s tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$here/husk.config" >/dev/null
	make -C "$src" -s olddefconfig
	# Every option we asked for must have survived dependency resolution.
	missing=0
	grep -E '^CONFIG_[A-Z0-9_]+=' "$here/husk.config" | while IFS= read -r line; do
		grep -qxF "$line" "$src/.config" || { echo "kernel: $line did not stick" >&2; exit 1; }
	done || missing=1
	grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$here/husk.config" | while IFS= read -r line; do
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$src/.config" || { echo "kernel: $opt is still on" >&2; exit 1; }
	done || missing=1
	[ $missing = 0 ] || exit 1
	make -C "$src" -s -j"$(nproc)" bzImage vmlinux
	mkdir -p "$dir.tmp"
	cp "$src/arch/x86/boot/bzImage" "$dir.tmp/bzImage"
	cp "$src/vmlinux" "$dir.tmp/vmlinux"
	strip --strip-debug "$dir.tmp/vmlinux" 2>/dev/null || true
	cp "$src/.config" "$dir.tmp/config"
	rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
mkdir -p "$out"
for f in bzImage vmlinux config; do
	cmp -s "$dir/$f" "$out/$f" 2>/dev/null || cp "$dir/$f" "$out/$f"
done
