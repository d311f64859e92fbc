#!/usr/bin/env bash
# Crash test of `shale build`: killed at every crash point of the schedule (the
# build, the FUSE daemons of its RUN steps, the layers it copies and seals, the
# build cache records), fsck finds no error, nothing stays mounted once the
# killed build's mounts are cleaned up, the tag is absent or complete, and
# building again (with what the killed build left in the cache) gives the same
# image: the cache never gives a wrong result.
source "$(dirname "$0")/lib.sh"
source "$TESTS/crash_lib.sh"

step "a busybox base; a context of 100 files and a 2 MiB one; COPY, ENV, RUN, CMD"
make_busybox_rootfs "$T/base"
shale import "$T/base" base:1 >/dev/null
ctx=$T/ctx
mkdir -p "$ctx/app"
for i in $(seq 1 100); do echo "app file $i" >"$ctx/app/f$i"; done
seq 1 300000 >"$ctx/app/big" # two chunks
# COPY, with the most crash points (an entry or an object each), comes first:
# most runs are killed before the RUN (a FUSE mount, a container, a seal: the
# slow part), and the test stays fast.
cat >"$ctx/Dockerfile" <<'EOF'
FROM base:1
COPY app/ /app/
ENV GREETING=hello
RUN mkdir /data && for i in 1 2 3 4 5 6 7 8; do echo "$GREETING $i" >/data/f$i; done && cat /app/f1 /app/f2 >/data/copied && rm /etc/group
CMD ["cat", "/data/f1"]
EOF
store_snapshot

# image_check IMAGE: what must be the same in every build of IMAGE: its
# layers but the RUN's (a RUN layer records the times of what its command
# wrote, so its id changes from build to build), the tree without times and
# inode numbers, Cmd and Env, a file the RUN wrote; and base:1's id.
image_check() {
	{
		shale inspect "$1" base:1
		shale ls -R --format json "$1"
	} | python3 -c '
import hashlib, json, sys
text = sys.stdin.read()
i = text.index("\n{")  # where the listing starts
img, base = json.loads(text[:i])
h = hashlib.sha256()
for l in text[i + 1:].splitlines():
    j = json.loads(l); j.pop("mtime", None); j.pop("ino", None)
    h.update(json.dumps(j, sort_keys=True).encode())
h.update(json.dumps([img["Config"].get(k) for k in ("Cmd", "Env")]).encode())
ls = img["RootFS"]["Layers"]
print(len(ls), ls[0], ls[1], h.hexdigest(), base["Id"])'
	shale cat "$1" /data/copied | cksum
}

step "reference run"
total=$(crash_count shale build -q -t b:1 "$ctx")
ref=$(image_check b:1)
assert_eq 3 "$(cut -d' ' -f1 <<<"$ref" | head -1)" "layers of the reference build"
crash_mounted && fail "the reference build left a mount"
echo "$total crash points; trying $(crash_schedule "$total" | wc -l)"

tagged=0
for n in $(crash_schedule "$total"); do
	store_restore_all
	crash_at_quick "$n" shale build -q -t b:1 "$ctx"
	crash_tally build "$n"
	if crash_mounted; then # a killed build's RUN container
		crash_unmount_quick
		crash_mounted && fail "after a crash at $CRASH_WHERE: still mounted: $(grep "$T" /proc/self/mounts)"
	fi
	check_fsck_tags
	if [ "$FSCK_TAGS" -gt 1 ]; then # b:1 is there: complete
		tagged=$((tagged + 1))
		[ "$(image_check b:1)" = "$ref" ] || fail "after a crash at $CRASH_WHERE: b:1 is not the reference image"
	fi
	if [ $((CRASH_TRIED % 10)) -eq 0 ] || [ "$n" = "$total" ]; then
		# build again: with what the killed build left in the cache, the same image
		shale build -t b:1 "$ctx" >"$T/rebuild.out" 2>&1 ||
			fail "build after a crash at $CRASH_WHERE failed: $(cat "$T/rebuild.out")"
		[ "$(image_check b:1)" = "$ref" ] ||
			fail "build after a crash at $CRASH_WHERE (cached steps: $(grep -c 'Using cache' "$T/rebuild.out")) is not the reference image"
		crash_mounted && fail "a build after a crash at $CRASH_WHERE left a mount"
		out=$(shale fsck)
		assert_contains "$out" "0 errors" "fsck after a rebuild"
	fi
done
crash_summary "$tagged left b:1 tagged"
echo "PASS"
