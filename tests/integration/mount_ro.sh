#!/usr/bin/env bash
# The read-only mount (-o ro): what programs do with a directory (find, tar, du, cat,
# seekdir, parallel and odd reads), identity (st_ino, st_dev), the mount's life
# (busy unmount, a killed daemon, mount(8) and fstab), errors and permissions.
source "$(dirname "$0")/lib.sh"

src=$T/src
mkdir -p "$src"/{big,many,etc,priv}
head -c 7000000 /dev/urandom >"$src/big/random.bin"
truncate -s 5G "$src/big/sparse"
printf 'A' | dd of="$src/big/sparse" bs=1 seek=$((4 * 1024 * 1024 * 1024 - 1)) conv=notrunc status=none
printf 'B' | dd of="$src/big/sparse" bs=1 seek=$((5 * 1024 * 1024 * 1024 - 1)) conv=notrunc status=none
for i in $(seq 1 3000); do echo "file $i" >"$src/many/f$i"; done
echo "secret" >"$src/priv/secret" && chmod 600 "$src/priv/secret"
echo "hello" >"$src/etc/hello"
setfattr -n user.ok -v 1 "$src/etc/hello"
setfattr -n user.overlay.hidden -v 1 "$src/etc/hello"
setfattr -n trusted.shale.hidden -v 1 "$src/etc/hello"
shale import "$src" ro:1 >/dev/null
M=$T/m
mkdir -p "$M"

step "mount returns once ready; shale mounts lists it"
shale mount -o ro ro:1 "$M"
is_mounted "$M" || fail "not mounted after shale mount returned"
shale mounts | grep -q "ro:1 .*$M .*running" || fail "shale mounts: $(shale mounts)"
shale mounts --format json | python3 -c 'import json,sys; j=json.loads(sys.stdin.readline()); assert j["pid"] > 0 and j["image"], j'

step "find, tar, du, cat work; contents match"
assert_eq "$(cd "$src" && find . | sort)" "$(cd "$M" && find . | sort)" "find"
assert_eq "$(tar -C "$src" -cf - many etc | tar -tf - | sort)" "$(tar -C "$M" -cf - many etc | tar -tf - | sort)" "tar"
cmp "$src/big/random.bin" "$M/big/random.bin"
# sizes and st_blocks of files as ext4 has them (a directory's own size belongs
# to the filesystem: layers do not keep it)
sizes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }'; }
blocks() { find "$1" -type f -printf '%b\n' | awk '{ s += $1 } END { print s }'; }
assert_eq "$(sizes "$src/many")" "$(sizes "$M/many")" "file sizes"
du -s "$M" >/dev/null
assert_eq "$(blocks "$src/many")" "$(blocks "$M/many")" "st_blocks (du)"
assert_eq "$(blocks "$src/big/random.bin")" "$(blocks "$M/big/random.bin")" "st_blocks of a chunked file"
treecmp "$src" "$M" --skip-content big/sparse >/dev/null || { treecmp "$src" "$M" --skip-content big/sparse; fail "tree"; }

step "a sparse file larger than 4 GiB: size, holes, data at the ends"
assert_eq "$((5 * 1024 * 1024 * 1024))" "$(stat -c %s "$M/big/sparse")"
[ "$(stat -c %b "$M/big/sparse")" -lt 10000 ] || fail "sparse file reports $(stat -c %b "$M/big/sparse") blocks"
assert_eq "A" "$(dd if="$M/big/sparse" bs=1 skip=$((4 * 1024 * 1024 * 1024 - 1)) count=1 status=none)"
assert_eq "B" "$(dd if="$M/big/sparse" bs=1 skip=$((5 * 1024 * 1024 * 1024 - 1)) count=1 status=none)"
cmp <(dd if="$M/big/sparse" bs=1M skip=4000 count=2 status=none) <(head -c 2097152 /dev/zero) ||
	fail "a hole does not read as zeros"

step "reads at odd offsets and sizes"
"$HELPERS/preads" "$M/big/random.bin" "$src/big/random.bin" 3000 42
"$HELPERS/preads" "$M/many/f77" "$src/many/f77" 200 7

step "many processes reading the same and different files at once"
(cd "$src" && sha256sum big/random.bin many/*) >"$T/sums"
pids=()
for i in $(seq 1 8); do
	# each reader: the big file (shared by all) and its own share of the small ones
	( cd "$M" && sha256sum big/random.bin $(ls many | awk -v i=$i 'NR % 8 == i - 1 { print "many/" $0 }') ) >"$T/sums.$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a parallel reader failed"; done
for i in $(seq 1 8); do
	grep -vxFf "$T/sums" "$T/sums.$i" && fail "reader $i saw different data"
	[ "$(wc -l <"$T/sums.$i")" -ge 375 ] || fail "reader $i read too little"
done

step "readdir: each name once, . and .., seekdir/telldir"
"$HELPERS/dirseek" "$M/many" >"$T/names"
assert_eq 3002 "$(wc -l <"$T/names")"
"$HELPERS/dirseek" "$M/etc" >/dev/null

step "xattrs: internal markers never shown"
assert_eq "user.ok" "$(getfattr --absolute-names -m - -d "$M/etc/hello" 2>/dev/null | grep -o '^[a-z.]*=' | tr -d = | xargs)"
expect_exit 1 getfattr -n user.overlay.hidden "$M/etc/hello"

step "writes are refused: the mount is read-only"
expect_exit 1 touch "$M/new"
assert_contains "$ERR" "Read-only file system"
expect_fail sh -c "echo x >>'$M/etc/hello'"
assert_contains "$ERR" "Read-only file system"
expect_exit 1 mkdir "$M/d"
expect_exit 1 rm "$M/etc/hello"

step "the mount reads ahead as far as the store's disk does, up to 2 MiB"
disk=/sys/dev/block/$(stat -c '%Hd:%Ld' "$SHALE_ROOT")
ra=$(cat "$disk/queue/read_ahead_kb" 2>/dev/null || cat "$disk/../queue/read_ahead_kb" 2>/dev/null || echo 0)
got=$(cat "/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb")
want=$((ra > 2048 ? 2048 : ra > 128 ? ra : 128))
[ "$got" = "$want" ] || fail "mount readahead $got KiB, want $want (store disk: $ra KiB)"
echo "  readahead $got KiB (store disk: $ra KiB)"

step "statfs works"
stat -f "$M" >/dev/null && df "$M" >/dev/null

step "identity: st_ino stable across remounts, one st_dev per mount, hardlinks"
find "$M" -printf '%i %p\n' | sed "s|$M||" | sort >"$T/ino1"
assert_eq 1 "$(find "$M" -printf '%D\n' | sort -u | wc -l)" "st_dev values in one mount"
dev1=$(stat -c %d "$M")
shale umount "$M"
shale mount -o ro ro:1 "$M"
find "$M" -printf '%i %p\n' | sed "s|$M||" | sort >"$T/ino2"
cmp "$T/ino1" "$T/ino2" || fail "inode numbers changed across remounts"
mkdir -p "$T/m2" && shale mount -o ro ro:1 "$T/m2"
[ "$(stat -c %d "$T/m2")" != "$(stat -c %d "$M")" ] || fail "two mounts share st_dev"
shale umount "$T/m2"

step "permissions: enforced by the kernel; other users only with allow_other"
chmod 755 "$T"
setpriv --reuid=65534 --regid=65534 --clear-groups ls "$T" >/dev/null || fail "nobody cannot list $T"
expect_fail setpriv --reuid=65534 --regid=65534 --clear-groups ls "$M"
assert_contains "$ERR" "Permission denied"
shale umount "$M"
shale mount -o ro,allow_other ro:1 "$M"
setpriv --reuid=65534 --regid=65534 --clear-groups cat "$M/etc/hello" >/dev/null || fail "allow_other"
expect_exit 1 setpriv --reuid=65534 --regid=65534 --clear-groups cat "$M/priv/secret"
assert_contains "$ERR" "Permission denied"

step "unmount is refused while busy, and -l detaches"
( cd "$M/etc" && exec sleep 30 ) &
busy=$!
sleep 0.3
expect_exit 1 shale umount "$M"
assert_contains "$ERR" "busy"
is_mounted "$M" || fail "a refused unmount unmounted"
shale umount -l "$M"
is_mounted "$M" && fail "-l did not detach"
kill $busy 2>/dev/null; wait $busy 2>/dev/null || true

step "a daemon killed with SIGKILL: ENOTCONN, umount cleans up, a new mount works"
shale mount -o ro ro:1 "$M"
pid=$(shale mounts --format json | python3 -c 'import json,sys; print([j["pid"] for j in map(json.loads, sys.stdin) if j["mountpoint"]==sys.argv[1]][0])' "$M")
kill -9 "$pid"
sleep 0.2
expect_exit 2 ls "$M"
assert_contains "$ERR" "Transport endpoint is not connected"
shale mounts | grep -q "dead" || fail "shale mounts should show the dead daemon"
shale umount "$M"
is_mounted "$M" && fail "still mounted after umount of a dead daemon"
shale mount -o ro ro:1 "$M"
assert_eq hello "$(cat "$M/etc/hello")"
shale umount "$M"
[ -z "$(shale mounts --format json)" ] || fail "records left: $(shale mounts)"

step "mount -t fuse.shale and an fstab line"
helper=/sbin/mount.fuse.shale
test_cleanup() { [ -L "$helper" ] && [ "$(readlink "$helper")" = "$SHALE" ] && rm -f "$helper"; }
[ -e "$helper" ] && [ ! -L "$helper" ] && fail "$helper exists and is not ours"
ln -sf "$SHALE" "$helper"
mount -t fuse.shale -o "ro,root=$SHALE_ROOT" ro:1 "$M"
assert_eq hello "$(cat "$M/etc/hello")"
shale umount "$M"
echo "ro:1 $M fuse.shale defaults,noauto,ro,nodev,root=$SHALE_ROOT 0 0" >"$T/fstab"
mount -T "$T/fstab" "$M"
assert_eq hello "$(cat "$M/etc/hello")"
grep " $M " /proc/self/mounts | grep -q nodev || fail "nodev not applied"
shale umount "$M"
test_cleanup

step "errors: one clear line, non-zero exit, nothing left mounted"
expect_exit 1 shale mount nosuch:image "$M"
assert_contains "$ERR" "no such image"
expect_exit 1 shale mount ro:1 "$T/missing"
assert_contains "$ERR" "No such file or directory"
touch "$T/file"
expect_exit 1 shale mount ro:1 "$T/file"
assert_contains "$ERR" "not a directory"
shale mount -o ro ro:1 "$M"
expect_exit 1 shale mount ro:1 "$M"
assert_contains "$ERR" "busy"
shale umount "$M"
expect_exit 1 unshare -m sh -c "mount -t tmpfs none /dev && exec '$SHALE' mount ro:1 '$M'"
assert_contains "$ERR" "/dev/fuse"
expect_exit 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$SHALE" mount ro:1 "$M"
echo "  as nobody: $ERR"
expect_exit 1 shale umount "$M"
assert_contains "$ERR" "not mounted"
expect_exit 2 shale mount -o bogus ro:1 "$M"
is_mounted "$M" && fail "something is still mounted"
echo PASS
