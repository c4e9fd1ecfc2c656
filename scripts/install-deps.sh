#!/bin/sh
# Install the Debian packages husk needs to build, test and run.
# Idempotent: does nothing when every package is already installed.
set -eu
PKGS="make gcc clang pkg-config musl-tools musl-dev dpkg-dev patch
 cmake qemu-system-x86 linux-source-6.1 bc bison flex libelf-dev libssl-dev xz-utils
 busybox-static gperf linux-libc-dev libseccomp-dev libarchive-dev libjson-c-dev libuv1-dev libcmocka-dev clang libclang-rt-14-dev
 python3 python3-pytest cpio gzip containerd podman conmon valgrind
 docker.io containernetworking-plugins iptables iproute2 runsc
 libnl-3-dev libnl-route-3-dev
 python3-grpcio python3-protobuf protobuf-compiler"
missing=
for p in $PKGS; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' \
		|| missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
