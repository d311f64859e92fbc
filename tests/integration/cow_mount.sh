#!/usr/bin/env bash
# Writable mounts: containers and their uppers, persistence across remounts,
# copy-up that copies only what is needed, several mounts and writers at once,
# and a daemon killed in the middle of writes.
source "$(dirname "$0")/lib.sh"

src=$T/src
mkdir -p "$src/etc" "$src/data" "$src/gone/sub"
echo "hello" >"$src/etc/motd"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$src/data/big.bin"
echo x >"$src/gone/sub/x"
mkdir "$src/churn"
(cd "$src/churn" && touch $(seq -f 'lower%03g' 1 300))
shale import "$src" app:1 >/dev/null
M=$T/m
mkdir -p "$M"
upper_of() { shale mounts --format json | python3 -c 'import json,sys; print([j["upper"] for j in map(json.loads, sys.stdin) if j["mountpoint"]==sys.argv[1]][0])' "$1"; }
alloc_kb() { du -sk "$1" | cut -f1; }

step "a writable mount is a container with its own upper; shale mounts shows it"
shale mount --name web app:1 "$M"
U=$(upper_of "$M")
[[ "$U" == "$SHALE_ROOT/containers/"*/upper ]] || fail "upper is '$U'"
shale mounts | grep -q " web\| $U " || shale mounts | grep -q "$U" || fail "shale mounts: $(shale mounts)"

step "a listing goes on while its directory changes: no name skipped or repeated"
(cd "$M/churn" && touch $(seq -f 'upper%03g' 1 100))
out=$("$HELPERS/dirchurn" "$M/churn") || fail "dirchurn on a merged directory: $out"
echo "$out"
removed=$(sed -n 's/.*read, \([0-9]*\) removed.*/\1/p' <<<"$out")
[ "${removed:-0}" -gt 0 ] || fail "dirchurn removed nothing"
assert_eq "$((400 - removed))" "$(ls "$M/churn" | wc -l)"

step "copy-up copies only what is needed"
chmod 600 "$M/data/big.bin"
[ "$(alloc_kb "$U")" -lt 200 ] || fail "chmod of a 64 MiB lower file allocated $(alloc_kb "$U") KB in the upper"
assert_eq 600 "$(stat -c %a "$M/data/big.bin")"
cmp "$M/data/big.bin" "$src/data/big.bin" || fail "content changed by chmod"
touch -d '2001-01-01' "$M/data/big.bin"
setfattr -n user.tag -v v "$M/data/big.bin"
[ "$(alloc_kb "$U")" -lt 200 ] || fail "touch/setxattr copied data"
printf 'Z' | dd of="$M/data/big.bin" bs=1 seek=$((40 * 1024 * 1024 + 3)) conv=notrunc status=none
kb=$(alloc_kb "$U")
[ "$kb" -ge 1000 ] && [ "$kb" -lt 1500 ] || fail "a 1-byte write allocated $kb KB (want one 1 MiB chunk)"
cp "$src/data/big.bin" "$T/expect"
printf 'Z' | dd of="$T/expect" bs=1 seek=$((40 * 1024 * 1024 + 3)) conv=notrunc status=none
cmp "$M/data/big.bin" "$T/expect" || fail "content after a 1-byte write"
[ "$(stat -c %b "$M/data/big.bin")" -ge $((60 * 2048)) ] || fail "st_blocks should count the chunks still below"
getfattr -n trusted.shale.copyup "$U/data/big.bin" >/dev/null 2>&1 || fail "no partial-copy-up marker in the upper"
expect_exit 1 getfattr -n trusted.shale.copyup "$M/data/big.bin"

step "the upper follows overlayfs conventions"
rm "$M/etc/motd"
rm -r "$M/gone"
mkdir "$M/gone" && echo new >"$M/gone/new"
[ "$(stat -c '%F %t:%T' "$U/etc/motd")" = "character special file 0:0" ] || fail "whiteout is $(stat -c '%F %t:%T' "$U/etc/motd")"
assert_eq y "$(getfattr --only-values -n trusted.overlay.opaque "$U/gone")"
assert_eq new "$(ls "$M/gone")"

step "unmount and mount the container again: everything is still there"
echo persisted >"$M/etc/new"
sync
shale umount "$M"
shale mount web "$M"
assert_eq persisted "$(cat "$M/etc/new")"
cmp "$M/data/big.bin" "$T/expect"
[ ! -e "$M/etc/motd" ] || fail "a deleted file came back"
assert_eq 600 "$(stat -c %a "$M/data/big.bin")"
expect_exit 1 shale mount web "$T/m2"   # one mount per container
shale umount "$M"

step "--upper DIR keeps changes in a directory of one's own"
shale mount --upper "$T/myupper" app:1 "$M"
echo mine >"$M/mine"
shale umount "$M"
[ -f "$T/myupper/mine" ] || fail "the file is not in --upper"
shale mount --upper "$T/myupper" app:1 "$M"
assert_eq mine "$(cat "$M/mine")"
shale umount "$M"

step "-o ro: no container, writes refused"
n=$(shale mounts --format json | wc -l)
shale mount -o ro app:1 "$M"
expect_fail touch "$M/x"
assert_contains "$ERR" "Read-only"
shale umount "$M"

step "several mounts of one image at once, each with its own upper"
for i in 1 2 3; do mkdir -p "$T/p$i"; shale mount app:1 "$T/p$i"; echo "mount $i" >"$T/p$i/who"; done
for i in 1 2 3; do assert_eq "mount $i" "$(cat "$T/p$i/who")"; assert_eq hello "$(cat "$T/p$i/etc/motd")"; done
for i in 1 2 3; do shale umount "$T/p$i"; done

step "several writers in one mount"
shale mount --name busy app:1 "$M"
pids=()
for w in 1 2 3 4; do
	python3 - "$M" $w <<'PY' &
import os, sys
m, w = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{m}/w{w}", exist_ok=True)
for i in range(200):
    with open(f"{m}/w{w}/f{i}", "wb") as f:
        f.write(bytes([w]) * (i * 37 % 9000))
fd = os.open(f"{m}/data/big.bin", os.O_WRONLY)   # one lower file, four regions
for i in range(50):
    os.pwrite(fd, bytes([w]) * 4096, (w * 8 + i % 8) * 1048576 + i * 4096)
os.close(fd)
PY
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done
python3 - "$M" "$src/data/big.bin" <<'PY' || fail "concurrent writes lost or mixed"
import sys
m, lower = sys.argv[1], sys.argv[2]
for w in range(1, 5):
    for i in range(200):
        assert open(f"{m}/w{w}/f{i}", "rb").read() == bytes([w]) * (i * 37 % 9000), (w, i)
expect = bytearray(open(lower, "rb").read())
for w in range(1, 5):
    for i in range(50):
        off = (w * 8 + i % 8) * 1048576 + i * 4096
        expect[off:off + 4096] = bytes([w]) * 4096
assert open(f"{m}/data/big.bin", "rb").read() == bytes(expect)
PY
shale umount "$M"

step "a daemon killed with SIGKILL in the middle of writes: every fsync'd byte is there"
shale mount --name crash app:1 "$M"
pid=$(shale mounts --format json | python3 -c 'import json,sys; print([j["pid"] for j in map(json.loads, sys.stdin) if j["mountpoint"]==sys.argv[1]][0])' "$M")
python3 - "$M" "$T/acked" <<'PY' &
import os, sys
m, log = sys.argv[1], sys.argv[2]
try:
    big = os.open(f"{m}/data/big.bin", os.O_WRONLY)
    for i in range(100000):
        f = os.open(f"{m}/etc/log{i % 5}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.write(f, b"%08d\n" % i)
        os.fsync(f)
        os.close(f)
        os.pwrite(big, b"%08d" % i, (i * 7919 % 60000) * 1024)
        os.fsync(big)
        with open(log, "a") as l:     # on the host: what was acknowledged
            l.write(f"{i}\n")
except OSError:
    pass
PY
writer=$!
sleep 1.5
kill -9 "$pid"
wait "$writer" || true
[ -s "$T/acked" ] || fail "the writer acknowledged nothing before the kill"
shale umount "$M"
shale mount crash "$M"
python3 - "$M" "$T/acked" <<'PY' || fail "fsync'd data lost"
import sys
m, log = sys.argv[1], sys.argv[2]
acked = [int(x) for x in open(log).read().split()]
logs = "".join(open(f"{m}/etc/log{k}").read() for k in range(5))
have = set(int(x) for x in logs.split())
missing = [i for i in acked if i not in have]
assert not missing, f"{len(missing)} fsync'd appends missing, first {missing[:5]}"
big = open(f"{m}/data/big.bin", "rb").read()
last = {}
for i in acked:
    last[i * 7919 % 60000] = i
bad = [i for off, i in last.items() if big[off * 1024:off * 1024 + 8] != b"%08d" % i]
assert not bad, f"{len(bad)} fsync'd pwrites missing"
print(f"  {len(acked)} acknowledged writes, all present after the kill")
PY
cmp <(head -c 1024 "$M/data/big.bin") <(head -c 1024 "$src/data/big.bin") || true
shale umount "$M"
echo PASS
