# Shared by the integration tests: a private store, assertions, and a cleanup
# that always runs (exit, failure, Ctrl-C, or the watchdog's timeout) and
# unmounts everything the test mounted.
set -euo pipefail

SHALE=${SHALE:?set SHALE to the shale binary (ctest does)}
SHALE_SRC=${SHALE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TESTS=$SHALE_SRC/tests/integration
T=$(mktemp -d /tmp/shale-it.XXXXXX)
export SHALE_ROOT=$T/store
TEST_TIMEOUT=${TEST_TIMEOUT:-500}

shale() { "$SHALE" "$@"; }

# Debian's python3 (.ci/packages installs it) rather than a version manager's
# shim earlier in PATH, which costs 0.3 s a start: the crash tests start it
# hundreds of times. A link in PATH, not a shell function: `python3 ... &` must
# give $! the python process itself, which the cleanup kills.
if [ -x /usr/bin/python3 ]; then
	mkdir -p "$T/bin"
	ln -s /usr/bin/python3 "$T/bin/python3"
	export PATH=$T/bin:$PATH
fi

# Sanitizer reports of every shale process, daemons included (their stderr is
# gone), land in $T; any report fails the test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer"

# Unmount whatever is mounted below $T, deepest first, then kill what is left
# (but UNMOUNT_KEEP, a filesystem the test mounted for its store, until the cleanup).
UNMOUNT_KEEP=
unmount_all() {
	local m
	for m in $(awk -v t="$T" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		m=$(printf '%b' "$m")
		[ "$m" != "$UNMOUNT_KEEP" ] || continue
		fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "${WATCHDOG:-}" ]; then
		pkill -P "$WATCHDOG" 2>/dev/null || true
		kill "$WATCHDOG" 2>/dev/null || true
	fi
	[ "$(type -t test_cleanup)" = function ] && test_cleanup || true
	UNMOUNT_KEEP=
	unmount_all
	local r
	for r in "$T"/sanitizer.*; do
		[ -e "$r" ] || continue
		echo "FAIL: sanitizer report $r:" >&2
		cat "$r" >&2
		rc=1
	done
	if [ "$rc" -ne 0 ] && [ -n "${KEEP_ON_FAIL:-}" ]; then
		echo "keeping $T" >&2
	else
		rm -rf "$T" 2>/dev/null || { unmount_all; rm -rf "$T" 2>/dev/null || true; }
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "FAIL: timed out after ${TEST_TIMEOUT}s" >&2; exit 124' TERM
# The watchdog keeps no file open: ctest waits for whoever holds its pipe.
( exec >/dev/null 2>&1 </dev/null; sleep "$TEST_TIMEOUT"; kill -TERM $$ ) &
WATCHDOG=$!

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }

assert_eq() { # expected actual [message]
	[ "$1" == "$2" ] || fail "${3:-values differ}: expected '$1', got '$2'"
}

assert_contains() { # haystack needle [message]
	[[ "$1" == *"$2"* ]] || fail "${3:-missing text}: '$2' not in: $1"
}

# expect_exit CODE CMD...: run CMD, which must exit with CODE; its stderr is in $ERR.
expect_exit() {
	local want=$1 rc=0
	shift
	ERR=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want: $ERR"
}

# A tiny Linux userland: busybox-static and its applet links.
make_busybox_rootfs() {
	local dir=$1
	mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,dev,sys}
	cp /bin/busybox "$dir/bin/busybox"
	local a
	for a in $("$dir/bin/busybox" --list); do
		[ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
	echo "root:x:0:" >"$dir/etc/group"
	chmod 1777 "$dir/tmp"
}

# Compare two trees (or a tree with `shale ls -R --format json`): see treecmp.py.
treecmp() { python3 "$TESTS/treecmp.py" "$@"; }

# Object files in the store (content objects only).
count_objects() { find "$SHALE_ROOT/objects" -type f ! -name '.*' 2>/dev/null | wc -l; }

# What `shale images -a` shows, without the parts that change with the clock.
images_state() {
	shale images -a --no-trunc --format json | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l); j.pop("CreatedSince", None); print(json.dumps(j, sort_keys=True))' | sort
}

HELPERS=${HELPERS:-${SHALE_BUILD:-$SHALE_SRC/build}/tests/helpers}

# seal_stack NAME DIR... : overlay-format layer directories (bottom first)
# become the image NAME:latest, one layer each.
seal_stack() {
	local name=$1 from=scratch i=0 d
	shift
	for d in "$@"; do
		shale seal --from "$from" "$d" "$name-l$i:latest" >/dev/null
		from=$name-l$i:latest
		i=$((i + 1))
	done
	shale tag "$from" "$name:latest"
}

# kovl_mount MNT DIR... : the same layers (bottom first) under kernel overlayfs,
# read-only (an empty bottom layer is added: overlayfs wants two lowers).
kovl_mount() {
	local mnt=$1 lowers="" d
	shift
	mkdir -p "$mnt" "$T/.empty-lower"
	for d in "$T/.empty-lower" "$@"; do lowers="$d${lowers:+:$lowers}"; done
	mount -t overlay overlay -o "lowerdir=$lowers" "$mnt"
}

# An overlayfs whiteout (0/0 character device) and opaque marker.
whiteout() { mkdir -p "$(dirname "$1")"; rm -rf "$1"; mknod "$1" c 0 0; }
opaque() { mkdir -p "$1"; setfattr -n trusted.overlay.opaque -v y "$1"; }

# The pid of the daemon serving MOUNTPOINT.
daemon_pid() { # MOUNTPOINT
	shale mounts --format json | python3 -c '
import json, sys
print([j["pid"] for j in map(json.loads, sys.stdin) if j["mountpoint"] == sys.argv[1]][0])' "$1"
}

# fsck finds nothing wrong and nothing left over.
fsck_clean() { # [what]
	local out
	out=$(shale fsck 2>&1) || fail "fsck ${1:-}: $out"
	assert_contains "$out" "0 errors, 0 leftovers" "fsck ${1:-}"
}

# Wait until a path is (or is no longer) a mount point.
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

# expect_fail CMD...: CMD must fail (any non-zero exit); its stderr is in $ERR.
expect_fail() {
	local rc=0
	ERR=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -ne 0 ] || fail "'$*' succeeded, expected a failure"
}
