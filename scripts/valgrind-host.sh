#!/bin/bash
# The host tool under valgrind's memcheck: commands that need no VM, then
# containers in real VMs (run in the foreground, run -d with exec, kill and
# delete). Every husk process is checked, the proxies forked by run -d
# included (valgrind follows fork; QEMU, exec'd from a child, is not traced).
# Fails on any memcheck error or a definite/indirect leak, and when a command
# exits with another status than expected.
# Usage: scripts/valgrind-host.sh BUILD_DIR   (needs BUILD_DIR/husk, a kernel
# and initrd next to it, and /bin/busybox).
set -u
B=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
HUSK=$B/husk
T=$(mktemp -d /tmp/husk-valgrind.XXXXXX)
LOGS=$T/logs
ROOT=$T/root
mkdir -p "$LOGS" "$ROOT"
# Only what this script sets: no HUSK_SHARE, HUSK_DEBUG, ... from the caller.
for v in $(env | sed -n 's/^\(HUSK_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
VG=(valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no
	--child-silent-after-fork=no --log-file="$LOGS/vg.%p")
failed=0
n=0

# A bundle as the integration tests make one: busybox-static in rootfs/bin.
bundle() { # DIR ARGS_JSON
	mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/dev" "$1/rootfs/sys" "$1/rootfs/tmp"
	cp /bin/busybox "$1/rootfs/bin/busybox"
	for a in true false sh sleep cat echo; do ln -sf busybox "$1/rootfs/bin/$a"; done
	cat >"$1/config.json" <<EOF
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": $2,
             "env": ["PATH=/bin"], "cwd": "/"},
 "root": {"path": "rootfs"}, "hostname": "valgrind"}
EOF
}

# check EXPECTED_STATUS DESCRIPTION -- husk ARGS...: runs husk under memcheck.
check() {
	local want=$1 what=$2 rc
	shift 3
	n=$((n + 1))
	"${VG[@]}" "$HUSK" --root "$ROOT" "$@" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" = 99 ]; then
		echo "valgrind: FAIL $what: memcheck errors (husk $*)"
		failed=1
	elif [ "$rc" != "$want" ]; then
		echo "valgrind: FAIL $what: exit $rc, expected $want (husk $*)"
		sed 's/^/    /' "$T/err" | head -20
		failed=1
	else
		echo "valgrind: ok   $what"
	fi
}

wait_stopped() { # ID: poll (a hang guard, not a timing check)
	for _ in $(seq 600); do
		"$HUSK" --root "$ROOT" state "$1" 2>/dev/null | grep -q '"status":"stopped"' && return 0
		sleep 0.1
	done
	echo "valgrind: FAIL container $1 did not stop"
	failed=1
}

bundle "$T/ok" '["true"]'
bundle "$T/status" '["sh", "-c", "echo out; echo err >&2; exit 3"]'
bundle "$T/sleep" '["sleep", "60"]'
bundle "$T/noprog" '["/bin/no-such-program"]'
mkdir -p "$T/badjson" "$T/noargs" "$T/norootfs" "$T/spec"
cp -r "$T/ok/rootfs" "$T/badjson/" && echo '{"ociVersion": "1.0.2", "process": ' >"$T/badjson/config.json"
cp -r "$T/ok/rootfs" "$T/noargs/"
echo '{"ociVersion": "1.0.2", "process": {"cwd": "/"}, "root": {"path": "rootfs"}}' >"$T/noargs/config.json"
sed 's/"rootfs"}/"missing"}/' "$T/ok/config.json" >"$T/norootfs/config.json"

echo "== valgrind: commands without a VM"
check 0 "--help" -- --help
check 0 "--version" -- --version
check 0 "run --help" -- run --help
check 0 "features" -- features
cd "$T/spec" && check 0 "spec" -- spec && cd - >/dev/null
check 0 "list (empty)" -- list
check 125 "state of a missing container" -- state nope
check 125 "kill of a missing container" -- kill nope KILL
check 125 "delete of a missing container" -- delete nope
check 0 "delete --force of a missing container" -- delete --force nope
check 125 "exec in a missing container" -- exec nope true
check 125 "unknown global flag" -- --bogus list
check 125 "unknown command" -- frobnicate
check 125 "unknown create flag" -- create --bogus x
check 125 "create without an ID" -- create --bundle "$T/ok"
check 125 "invalid container ID" -- create --bundle "$T/ok" "../x"
check 125 "create: config.json is not JSON" -- create --bundle "$T/badjson" c1
check 125 "create: process.args missing" -- create --bundle "$T/noargs" c2
check 125 "create: rootfs missing" -- create --bundle "$T/norootfs" c3
check 125 "create: bundle missing" -- create --bundle "$T/nowhere" c4
check 127 "run: program missing" -- run --bundle "$T/noprog" c5

echo "== valgrind: containers in VMs"
check 0 "run true" -- run --bundle "$T/ok" r1
check 3 "run: exit status and stdio" -- run --bundle "$T/status" r2
grep -qx out "$T/out" || { echo "valgrind: FAIL run r2: stdout was $(cat "$T/out")"; failed=1; }
check 0 "run -d (the proxy too)" -- run -d --bundle "$T/sleep" d1
check 0 "state of a running container" -- state d1
check 0 "ps" -- ps d1
check 0 "exec" -- exec d1 sh -c "echo hi"
check 7 "exec: exit status" -- exec d1 sh -c "exit 7"
check 125 "delete of a running container" -- delete d1
check 0 "kill" -- kill d1 KILL
wait_stopped d1
check 125 "exec in a stopped container" -- exec d1 true
check 125 "start of a stopped container" -- start d1
check 0 "delete" -- delete d1
check 0 "list (empty again)" -- list

# Every process's log: the proxies' and any child that failed before exec.
bad=$(grep -L 'ERROR SUMMARY: 0 errors' "$LOGS"/vg.* 2>/dev/null | while read -r f; do
	grep -q 'ERROR SUMMARY' "$f" && echo "$f"; done)
if [ -n "$bad" ]; then
	for f in $bad; do
		echo "== valgrind: report $f"
		cat "$f"
	done
	failed=1
fi
if [ -n "$(ls -A "$ROOT")" ]; then
	echo "valgrind: FAIL state left in $ROOT: $(ls "$ROOT")"
	failed=1
fi
if [ "$failed" = 0 ]; then
	echo "valgrind: $n commands, $(ls "$LOGS" | wc -l) processes checked, no errors, no leaks"
	rm -rf "$T"
else
	echo "valgrind: failures above; logs in $LOGS"
fi
exit $failed
