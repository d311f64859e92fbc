#!/usr/bin/env bash
# Crash test of `shale pull` from a real registry (Debian's docker-registry on
# loopback): killed at every crash point of the schedule (blob data received,
# blobs committed, layers imported, objects, LMDB commits, the tag), fsck finds
# no error, the tag is absent or complete with the reference layers, and pulling
# again (resuming what the killed pull downloaded) gives the same image and
# leaves no download behind.
source "$(dirname "$0")/lib.sh"
source "$TESTS/crash_lib.sh"
source "$TESTS/registry_env.sh"

step "images pushed once: a busybox base, and an app on it: 60 files and a 1 MiB one"
export SHALE_ROOT=$T/src
make_busybox_rootfs "$T/base"
shale import "$T/base" app:base >/dev/null
mkdir -p "$T/top/app/etc"
for i in $(seq 1 60); do echo "app file $i" >"$T/top/app/etc/f$i"; done
head -c 1048576 /dev/urandom >"$T/top/app/big" # incompressible: many data callbacks
ln -s etc/f1 "$T/top/app/link"
shale import --parent app:base "$T/top" app:1 >/dev/null
start_registry reg
shale push --insecure -q app:1 "$REG/test/app:1" >/dev/null
shale push --insecure -q app:base "$REG/test/app:base" >/dev/null
img=$REG/test/app:1

step "a store that has pulled the base: the pull to crash brings the top layer"
export SHALE_ROOT=$T/store
shale pull --insecure -q "$REG/test/app:base" >/dev/null
base=$(image_layers "$REG/test/app:base")
store_snapshot

step "reference run"
total=$(crash_count shale pull --insecure -q "$img")
ref=$(image_layers "$img")
assert_eq 2 "$(wc -w <<<"$ref")" "layers of the pulled image" # ids differ from $T/src's: keyed digests
assert_eq "$base" "$(cut -d' ' -f1 <<<"$ref")" "the base layer of the pulled image"
echo "$total crash points; trying $(crash_schedule "$total" | wc -l)"

tagged=0
for n in $(crash_schedule "$total"); do
	store_restore_all
	crash_at_quick "$n" shale pull --insecure -q "$img"
	crash_tally pull "$n"
	check_fsck_tags
	if [ "$FSCK_TAGS" -gt 1 ]; then # the tag is there: complete
		tagged=$((tagged + 1))
		got=$(image_layers "$img")
		[ "$got" = "$ref" ] || fail "after a crash at $CRASH_WHERE: $img has layers '$got', expected $ref"
	fi
	if [ $((CRASH_TRIED % 10)) -eq 0 ] || [ "$n" = "$total" ]; then
		# pull again: it resumes, finishes the job, and keeps no download
		shale pull --insecure -q "$img" >"$T/repull.out" 2>&1 ||
			fail "pull after a crash at $CRASH_WHERE failed: $(cat "$T/repull.out")"
		got=$(shale inspect "$img" "$REG/test/app:base" | python3 -c '
import json, sys
print(" | ".join(" ".join(i["RootFS"]["Layers"]) for i in json.load(sys.stdin)))')
		assert_eq "$ref | $base" "$got" "layers of the image and its base after a crash at $CRASH_WHERE and a pull"
		shale cat "$img" /app/big | cmp - "$T/top/app/big" ||
			fail "content differs after a crash at $CRASH_WHERE and a pull"
		! compgen -G "$SHALE_ROOT/tmp/blobs/sha256/*" >/dev/null ||
			fail "downloads left after a crash at $CRASH_WHERE and a pull: $(ls "$SHALE_ROOT/tmp/blobs/sha256")"
		shale prune >/dev/null
		out=$(shale fsck)
		assert_contains "$out" "0 errors, 0 leftovers" "fsck after a pull and prune"
	fi
done
crash_summary "$tagged left the tag"
echo "PASS"
