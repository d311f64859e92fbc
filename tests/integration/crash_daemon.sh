#!/usr/bin/env bash
# Crash test of the FUSE daemon: one container, many rounds. Each round mounts
# it with the daemon armed to die (SIGKILL) at one crash point of the schedule
# (writes, fsyncs, creates, chunk copy-ups, whiteouts, renames...), first checks
# that every change fsync'd in all earlier rounds is there (files of older
# rounds are read back every 10th round, else only checked to exist), then writes a new
# round of changes through the mount (fsync_writer.py journals, outside the
# mount, each one once its fsync returned). After the kill: `shale umount`
# cleans up the dead mount, fsck finds no error in the store or the upper.
# A last clean mount checks the whole journal, then a commit seals the upper.
source "$(dirname "$0")/lib.sh"
source "$TESTS/crash_lib.sh"
writer() { python3 "$TESTS/fsync_writer.py" "$@"; }

# The store (uppers included) on a tmpfs: a killed process loses nothing the page
# cache holds, so what is tested is the same, and the rounds' thousands of fsyncs
# cost nothing (on ext4 they made the test four times slower).
mkdir -p "$SHALE_ROOT"
mount -t tmpfs -o size=1g,mode=0700 shale-crash "$SHALE_ROOT"
UNMOUNT_KEEP=$SHALE_ROOT

step "a base with a 3 MiB file (chunked) and lower files to delete and chmod"
make_busybox_rootfs "$T/base"
head -c 3145728 /dev/urandom >"$T/base/big"
mkdir -p "$T/base/lower"
for i in $(seq 0 400); do echo "l$i" >"$T/base/lower/l$i"; echo "m$i" >"$T/base/lower/m$i"; done
shale import "$T/base" base:1 >/dev/null
mnt=$T/mnt
journal=$T/journal
mkdir -p "$mnt"
: >"$journal"

step "reference round: how many crash points a round passes"
shale mount --name ctr base:1 "$mnt"
shale umount "$mnt"
crash_reset
shale mount ctr "$mnt"
writer write "$mnt" "$journal" 0 || fail "reference round failed"
total=$(crash_passed)
shale umount "$mnt"
[ "$total" -gt 20 ] || fail "a round passes only $total crash points: build with -DSHALE_FAULTS=ON"
echo "$total crash points in a round; trying $(crash_schedule "$total" | wc -l)"

tried=0 killed=0 round=0 prev_lines=0
for n in $(crash_schedule "$total"); do
	round=$((round + 1))
	tried=$((tried + 1))
	crash_reset
	if ! SHALE_CRASH_AT=$n shale mount ctr "$mnt" 2>"$T/mount.err"; then
		# killed while recording the mount, before the daemon served
		CRASH_WHERE=$(cat "$CRASH_FILE.where" 2>/dev/null || true)
		[ -n "$CRASH_WHERE" ] || fail "mount before round $round failed: $(cat "$T/mount.err")"
		killed=$((killed + 1))
		crash_unmount_all
		check_fsck
		continue
	fi
	# the files of the last round are read back, every file each 10th round
	from=$prev_lines
	[ $((round % 10)) -eq 0 ] && from=0
	out=$(writer verify "$mnt" "$journal" "$from") ||
		fail "after a daemon crash at $CRASH_WHERE, fsync'd data is lost:
$out"
	rc=0
	prev_lines=$(wc -l <"$journal")
	writer write "$mnt" "$journal" "$round" || rc=$?
	CRASH_WHERE=$(cat "$CRASH_FILE.where" 2>/dev/null || true)
	if [ -n "$CRASH_WHERE" ]; then
		killed=$((killed + 1))
		[ "$rc" -eq 3 ] || fail "round $round: the daemon died at $CRASH_WHERE but the writer went on ($rc)"
	else
		[ "$rc" -eq 0 ] || fail "round $round: the writer failed ($rc) with no crash"
	fi
	shale umount "$mnt" >/dev/null ||
		fail "round $round: umount after a crash at $CRASH_WHERE failed"
	! is_mounted "$mnt" || fail "round $round: still mounted after umount"
	check_fsck
done
step "$tried points tried, $killed killed the daemon"
[ "$killed" -ge $((tried * 9 / 10)) ] || fail "only $killed of $tried rounds reached their crash point"

step "a clean mount has every journalled change; the upper commits"
shale mount ctr "$mnt"
out=$(writer verify "$mnt" "$journal") || fail "fsync'd data lost: $out"
echo "$out"
shale umount "$mnt"
shale commit ctr after:1 >/dev/null
shale mount -o ro after:1 "$mnt"
out=$(writer verify "$mnt" "$journal") || fail "the committed image lacks fsync'd data: $out"
shale umount "$mnt"
out=$(shale fsck)
assert_contains "$out" "0 errors" "fsck at the end"
echo "PASS"
