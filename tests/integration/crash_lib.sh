# Shared by the crash tests (crash_*.sh), sourced after lib.sh.
#
# A crash test runs one operation again and again from the same starting
# store, each time SIGKILLing it at another of its crash points (store/crash.c,
# compiled in with -DSHALE_FAULTS=ON: object writes, renames, syncs, LMDB
# commits, imported entries, sealed entries, copy-ups, received blob data...),
# then checks what a user would find after such a crash. The points come from
# a fixed-seed schedule: all of them when there are at most CRASH_POINTS (200
# by default; CRASH_POINTS=2000 for a longer run), else a sample that always
# holds the first and the last.

CRASH_POINTS=${CRASH_POINTS:-200}
CRASH_SEED=${CRASH_SEED:-1}
CRASH_FILE=$T/crash.counter
export SHALE_CRASH_FILE=$CRASH_FILE

crash_reset() { printf '\0\0\0\0\0\0\0\0' >"$CRASH_FILE"; rm -f "$CRASH_FILE.where"; }
crash_passed() { od -An -tu8 "$CRASH_FILE" | tr -d ' '; }

# crash_count CMD...: run CMD with every crash point counted and none armed;
# prints how many points it passed. The binary must have been built with them.
crash_count() {
	crash_reset
	"$@" >/dev/null 2>"$T/crash.count.err" || fail "reference run of '$*' failed: $(cat "$T/crash.count.err")"
	local n
	n=$(crash_passed)
	[ "$n" -gt 0 ] || fail "no crash point passed: build with -DSHALE_FAULTS=ON (.ci/test does)"
	echo "$n"
}

# crash_schedule TOTAL: the points to try, one per line, ascending.
crash_schedule() {
	python3 - "$1" "$CRASH_POINTS" "$CRASH_SEED" <<'EOF'
import random, sys
total, want, seed = map(int, sys.argv[1:])
if total <= want:
    pts = list(range(1, total + 1))
else:
    pts = {1, total} | set(random.Random(seed).sample(range(2, total), want - 2))
print("\n".join(map(str, sorted(pts))))
EOF
}

# crash_at N CMD...: run CMD armed to die at point N. Sets CRASHED=1 if it was
# killed there (CRASH_WHERE says where), 0 if it ended by itself (a point not
# reached this time: threads and processes interleave differently).
crash_at() {
	local n=$1 rc=0
	shift
	crash_reset
	SHALE_CRASH_AT=$n "$@" >"$T/crash.out" 2>&1 || rc=$?
	CRASH_WHERE=$(cat "$CRASH_FILE.where" 2>/dev/null || true)
	if [ -n "$CRASH_WHERE" ]; then CRASHED=1; else CRASHED=0; fi
	CRASH_RC=$rc
}

# crash_tally WHAT N: count the crash_at run just made at point N (CRASH_TRIED,
# CRASH_KILLED, and CRASH_PLACES: kills per crash point name); a run that was
# not killed must have succeeded.
CRASH_TRIED=0 CRASH_KILLED=0
declare -A CRASH_PLACES=()
crash_tally() {
	CRASH_TRIED=$((CRASH_TRIED + 1))
	if [ "$CRASHED" = 0 ]; then
		[ "$CRASH_RC" -eq 0 ] || fail "$1 not killed at point $2 failed: $(cat "$T/crash.out")"
		return
	fi
	CRASH_KILLED=$((CRASH_KILLED + 1))
	local w=${CRASH_WHERE#* }
	w=${w% pid *}
	CRASH_PLACES[$w]=$((${CRASH_PLACES[$w]:-0} + 1))
}

# crash_summary [MORE]: the runs tried and killed, where; at least 9 runs in 10
# must have reached their point (else the schedule tests little).
crash_summary() {
	step "$CRASH_TRIED points tried, $CRASH_KILLED killed there${1:+, $1}"
	local w
	for w in "${!CRASH_PLACES[@]}"; do echo "  ${CRASH_PLACES[$w]} killed at: $w"; done | sort -rn
	[ "$CRASH_KILLED" -ge $((CRASH_TRIED * 9 / 10)) ] ||
		fail "only $CRASH_KILLED of $CRASH_TRIED runs reached their crash point"
}

# A snapshot of the store to start each round from. Container directories stay
# where they are (STORE_KEEP="containers"): a copy would change their ctimes,
# which layers record, and no crash test's operation may change them anyway
# (each test checks that with treehash.py).
STORE_KEEP=${STORE_KEEP:-}
store_snapshot() {
	rm -rf "$T/snap"
	mkdir -p "$T/snap"
	local e
	for e in "$SHALE_ROOT"/* "$SHALE_ROOT"/.[!.]*; do
		[ -e "$e" ] || continue
		[ "$(basename "$e")" = "$STORE_KEEP" ] && continue
		cp -a --sparse=always "$e" "$T/snap/"
	done
}
store_restore() {
	local e
	for e in "$SHALE_ROOT"/* "$SHALE_ROOT"/.[!.]*; do
		[ -e "$e" ] || continue
		[ "$(basename "$e")" = "$STORE_KEEP" ] && continue
		rm -rf "$e"
	done
	cp -a --sparse=always "$T/snap/." "$SHALE_ROOT/"
}

# After a crash the store must open and fsck must find no error (leftovers
# are fine: prune reclaims them).
check_fsck() {
	local out rc=0
	out=$(shale fsck 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "after a crash at $CRASH_WHERE: shale fsck failed ($rc):
$out"
}

# The layer ids of an image, or nothing if the reference does not resolve.
image_layers() {
	shale inspect "$1" 2>/dev/null | python3 -c '
import json, sys
print(" ".join(json.load(sys.stdin)[0]["RootFS"]["Layers"]))' 2>/dev/null || true
}

# Unmount what a killed daemon or build left under $T and forget its records.
crash_unmount_all() {
	local m
	for m in $(shale mounts --format json 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    l = l.strip()
    if l: print(json.loads(l)["mountpoint"])' 2>/dev/null); do
		shale umount -l "$m" >/dev/null 2>&1 || true
	done
	unmount_all
}

# store_restore for a store with nothing to keep (STORE_KEEP empty): the whole
# directory at once, two processes instead of one per entry. Unmount first
# (crash_unmount_all): rm would go through a live mount.
store_restore_all() {
	rm -rf "$SHALE_ROOT"
	cp -a --sparse=always "$T/snap/." "$SHALE_ROOT"
}

# Whether anything is mounted below $T (a killed command's daemon), read
# without starting a process.
crash_mounted() {
	local dev mnt rest
	while read -r dev mnt rest; do
		[[ "$mnt" == "$T"/* ]] && return 0
	done </proc/self/mounts
	return 1
}

# check_fsck, also setting FSCK_TAGS to the number of tags fsck counted (a
# tag that a crash may or may not have left, without one more process).
check_fsck_tags() {
	local out rc=0
	out=$(shale fsck 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "after a crash at $CRASH_WHERE: shale fsck failed ($rc):
$out"
	[[ "$out" =~ ([0-9]+)\ tags ]] || fail "fsck did not count tags: $out"
	FSCK_TAGS=${BASH_REMATCH[1]}
}

# crash_unmount_all for a store that store_restore_all resets anyway: only the
# mounts below $T (fusermount ends their daemons), not the store's records of
# them, one process a mount (a killed build has one: no nesting).
crash_unmount_quick() {
	local dev mnt rest
	while read -r dev mnt rest; do
		[[ "$mnt" == "$T"/* ]] || continue
		mnt=${mnt//\\040/ }
		fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	done </proc/self/mounts
}

# crash_at without a process of its own (rm, cat): for tests whose rounds are
# dominated by process starts. Same results: CRASHED, CRASH_WHERE, CRASH_RC.
crash_at_quick() {
	local n=$1 rc=0
	shift
	printf '\0\0\0\0\0\0\0\0' >"$CRASH_FILE"
	: >"$CRASH_FILE.where"
	SHALE_CRASH_AT=$n "$@" >"$T/crash.out" 2>&1 || rc=$?
	CRASH_WHERE=
	read -r CRASH_WHERE <"$CRASH_FILE.where" || true
	if [ -n "$CRASH_WHERE" ]; then CRASHED=1; else CRASHED=0; fi
	CRASH_RC=$rc
}
