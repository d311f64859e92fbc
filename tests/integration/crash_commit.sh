#!/usr/bin/env bash
# Crash test of `shale commit`: killed at every crash point of the schedule, the
# container's upper is intact, fsck finds no error, the new tag is absent or
# complete, committing again gives the same layer; killed while committing a
# live mount, the mount is thawed (writes go on).
source "$(dirname "$0")/lib.sh"
source "$TESTS/crash_lib.sh"
STORE_KEEP=containers

step "a container with 200 new files, a partly rewritten 3 MiB lower file, deletions"
make_busybox_rootfs "$T/base"
head -c 3145728 /dev/urandom >"$T/base/big"
mkdir -p "$T/base/gone/sub" && echo x >"$T/base/gone/sub/f"
shale import "$T/base" base:1 >/dev/null
mnt=$T/mnt
mkdir -p "$mnt"
shale mount --name ctr base:1 "$mnt"
mkdir -p "$mnt/new/dir"
for i in $(seq 1 200); do echo "new $i" >"$mnt/new/dir/f$i"; done
printf 'patched' | dd of="$mnt/big" bs=1 seek=1500000 conv=notrunc status=none
rm -rf "$mnt/gone" "$mnt/etc/group"
chmod 700 "$mnt/root"
shale umount "$mnt"
upper=$(shale ps -a --format json | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j.get("Names") == "ctr" or j.get("Name") == "ctr": print(j.get("Upper") or j.get("upper"))')
[ -d "$upper" ] || upper=$(ls -d "$SHALE_ROOT"/containers/*/upper)
upper_sum=$(python3 "$TESTS/treehash.py" "$upper")
store_snapshot

step "reference run"
total=$(crash_count shale commit ctr out:1)
ref=$(image_layers out:1)
[ -n "$ref" ] || fail "reference commit made no image"
echo "$total crash points; trying $(crash_schedule "$total" | wc -l)"

for n in $(crash_schedule "$total"); do
	store_restore
	crash_at "$n" shale commit ctr out:1
	crash_tally commit "$n"
	check_fsck
	got=$(image_layers out:1)
	[ -z "$got" ] || [ "$got" = "$ref" ] || fail "after a crash at $CRASH_WHERE: out:1 has layers $got, expected $ref or nothing"
	[ "$(python3 "$TESTS/treehash.py" "$upper")" = "$upper_sum" ] ||
		fail "after a crash at $CRASH_WHERE: the container's upper changed"
	if [ $((CRASH_TRIED % 10)) -eq 0 ] || [ "$n" = "$total" ]; then
		shale commit ctr out:1 >/dev/null
		[ "$(image_layers out:1)" = "$ref" ] || fail "commit after a crash at $CRASH_WHERE made another layer"
		out=$(shale fsck)
		assert_contains "$out" "0 errors" "fsck after a re-commit"
	fi
done
crash_summary

step "live commits killed mid-way leave the mount thawed"
store_restore
shale mount ctr "$mnt"
live=0
for n in $(crash_schedule "$total" | awk 'NR % 10 == 5'); do
	crash_at "$n" shale commit ctr live:1
	timeout 20 sh -c "echo after-$n >'$mnt/after' && sync '$mnt/after'" ||
		fail "after a live commit killed at $CRASH_WHERE, the mount does not take writes"
	assert_eq "after-$n" "$(cat "$mnt/after")"
	live=$((live + 1))
done
shale commit ctr live:1 >/dev/null
shale umount "$mnt"
check_fsck
step "$live live commits killed"
echo "PASS"
