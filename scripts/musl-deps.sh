#!/bin/sh
# Build libuv and json-c statically against musl from Debian's source
# packages, cached outside the work tree and keyed by package version,
# this script and the musl toolchain.
#   scripts/musl-deps.sh PREFIX-LINK
# makes PREFIX-LINK a symlink to the cached prefix (include/, lib/).
set -eu
LIBUV_VERSION=${LIBUV_VERSION:-1.44.2-1+deb12u1}
JSONC_VERSION=${JSONC_VERSION:-0.16-2}
LIBSECCOMP_VERSION=${LIBSECCOMP_VERSION:-2.5.4-1+deb12u1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$1")"
link=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # the link itself, not its target
cache=${HUSK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/husk}
command -v musl-gcc >/dev/null || { echo "musl-deps: musl-gcc missing (install musl-tools)" >&2; exit 1; }
key=$( { echo "$LIBUV_VERSION $JSONC_VERSION $LIBSECCOMP_VERSION"; cat "$here/musl-deps.sh";
         dpkg-query -W -f '${Version}' musl-dev 2>/dev/null; gcc --version | head -1; } \
       | sha256sum | cut -c1-16)
prefix=$cache/musl/$key
if [ ! -f "$prefix/.done" ]; then
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	# apt-get source needs a deb-src entry; add one mirroring the deb lines.
	if ! apt-get source --print-uris "libuv1=$LIBUV_VERSION" >/dev/null 2>&1; then
		echo "musl-deps: adding deb-src entries for apt-get source"
		for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
			[ -f "$f" ] || continue
			case $f in
			*.sources) grep -q '^Types:.*deb-src' "$f" ||
				$SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' "$f" ;;
			*) grep '^deb ' "$f" | grep -v cloud | sed 's/^deb /deb-src /' |
				$SUDO tee /etc/apt/sources.list.d/husk-deb-src.list >/dev/null ;;
			esac
		done
		$SUDO apt-get update -q >/dev/null
	fi
	work=$(mktemp -d "$cache/musl-build.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache/musl-build.XXXXXX"; })
	trap 'rm -rf "$work"' EXIT
	rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
	cd "$work"
	apt-get source -q --download-only "libuv1=$LIBUV_VERSION" "json-c=$JSONC_VERSION" \
		"libseccomp=$LIBSECCOMP_VERSION" >/dev/null
	for dsc in *.dsc; do dpkg-source -q -x "$dsc" >/dev/null 2>&1; done
	export CC=musl-gcc CFLAGS="-Os -fPIC -ffunction-sections -fdata-sections -D_FORTIFY_SOURCE=0"
	echo "musl-deps: building libuv $LIBUV_VERSION with musl"
	(mkdir -p uvb && cd uvb && cmake -S ../libuv1-*/ -B . -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_INSTALL_PREFIX="$prefix.tmp" -DCMAKE_INSTALL_LIBDIR=lib -DLIBUV_BUILD_TESTS=OFF \
		-DLIBUV_BUILD_BENCH=OFF -DBUILD_TESTING=OFF >/dev/null && make -s -j"$(nproc)" uv_a >/dev/null)
	mkdir -p "$prefix.tmp/lib" "$prefix.tmp/include"
	cp uvb/libuv_a.a "$prefix.tmp/lib/libuv.a"
	cp -r libuv1-*/include/* "$prefix.tmp/include/"
	echo "musl-deps: building json-c $JSONC_VERSION with musl"
	(mkdir -p jcb && cd jcb && cmake -S ../json-c-*/ -B . -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_INSTALL_PREFIX="$prefix.tmp" -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF \
		-DBUILD_STATIC_LIBS=ON -DBUILD_TESTING=OFF -DDISABLE_WERROR=ON \
		-DDISABLE_EXTRA_LIBS=ON -DDISABLE_THREAD_LOCAL_STORAGE=ON >/dev/null &&
		make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null)
	# Kernel uapi headers do not depend on the libc: give musl-gcc
	# linux/ and asm/ from linux-libc-dev, and nothing else of glibc's.
	mkdir -p "$prefix.tmp/kinc"
	for d in linux asm-generic; do ln -sfn "/usr/include/$d" "$prefix.tmp/kinc/$d"; done
	ln -sfn "/usr/include/$(gcc -dumpmachine)/asm" "$prefix.tmp/kinc/asm"
	echo "musl-deps: building libseccomp $LIBSECCOMP_VERSION with musl"
	(cd libseccomp-*/ && CFLAGS="$CFLAGS -isystem $prefix.tmp/kinc" ./configure -q \
		--enable-static --disable-shared --disable-python --prefix="$prefix.tmp" >/dev/null &&
		make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null)
	touch "$prefix.tmp/.done"
	rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
fi
mkdir -p "$(dirname "$link")"
ln -sfn "$prefix" "$link"
