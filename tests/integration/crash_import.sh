#!/usr/bin/env bash
# Crash test of `shale import`: killed at every crash point of the schedule, the
# store keeps its other images, fsck finds no error, the new tag is absent or
# complete, and importing again finishes the job with the same layer.
source "$(dirname "$0")/lib.sh"
source "$TESTS/crash_lib.sh"

step "a tree of 250 files, hardlinks, a symlink and a 3 MiB file (chunked)"
src=$T/src
mkdir -p "$src/etc" "$src/data/deep/er"
for i in $(seq 1 250); do echo "file $i $RANDOM" >"$src/data/f$i"; done
head -c 3145728 /dev/urandom >"$src/data/deep/er/big"
ln "$src/data/f1" "$src/data/f1-link"
ln -s ../data/f2 "$src/etc/sym"
tar -C "$src" -cf "$T/src.tar" .

shale init >/dev/null
make_busybox_rootfs "$T/base"
shale import "$T/base" base:1 >/dev/null
before=$(images_state)
store_snapshot

step "reference run"
total=$(crash_count shale import "$T/src.tar" imp:1)
ref=$(image_layers imp:1)
[ -n "$ref" ] || fail "reference import made no image"
echo "$total crash points; trying $(crash_schedule "$total" | wc -l)"

for n in $(crash_schedule "$total"); do
	store_restore
	crash_at "$n" shale import "$T/src.tar" imp:1
	crash_tally import "$n"
	check_fsck
	got=$(image_layers imp:1)
	[ -z "$got" ] || [ "$got" = "$ref" ] || fail "after a crash at $CRASH_WHERE: imp:1 has layers $got, expected $ref or nothing"
	if [ $((CRASH_TRIED % 10)) -eq 0 ] || [ "$n" = "$total" ]; then
		[ "$(images_state | grep -v '"imp"')" = "$(echo "$before")" ] ||
			fail "after a crash at $CRASH_WHERE: other images changed"
		# run again: it finishes the job, and prune leaves nothing behind
		shale import "$T/src.tar" imp:1 >/dev/null
		[ "$(image_layers imp:1)" = "$ref" ] || fail "import after a crash at $CRASH_WHERE made another layer"
		shale prune >/dev/null
		out=$(shale fsck)
		assert_contains "$out" "0 errors, 0 leftovers" "fsck after a re-import and prune"
		shale cat imp:1 /data/deep/er/big | cmp - "$src/data/deep/er/big" ||
			fail "content differs after a crash at $CRASH_WHERE and a re-import"
	fi
done
crash_summary
echo "PASS"
