#!/usr/bin/env bash
# Without root: a user made for the test imports, mounts through fusermount3,
# writes, deletes, renames and commits, with a store under its home. The
# upper takes the unprivileged form (user.overlay.* markers, xattr whiteouts,
# no device nodes), which kernel overlayfs -o userxattr reads the same way;
# what needs root fails with a clear error. Run as root: the test makes the
# user and always deletes it.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to make a test user"; exit 0; }

TU=shaleit$$
UH=$T/home
FUSE_MODE=$(stat -c %a /dev/fuse)
test_cleanup() {
	unmount_all
	local i
	for i in $(seq 50); do # the daemons exit once unmounted
		pgrep -u "$TU" >/dev/null 2>&1 || break
		sleep 0.1
	done
	userdel -f -r "$TU" >/dev/null 2>&1 || userdel -f "$TU" >/dev/null 2>&1 || true
	[ "$(stat -c %a /dev/fuse)" = "$FUSE_MODE" ] || chmod "$FUSE_MODE" /dev/fuse
}

step "a test user, owning its home and able to write reports to $T"
useradd -M -d "$UH" -s /bin/bash "$TU"
mkdir -p "$UH"
chown "$TU:" "$UH" "$T"
# the binary must be executable by the user (a build under /root is not)
if ! runuser -u "$TU" -- test -x "$SHALE"; then
	cp "$SHALE" "$T/shale-bin" && chmod 755 "$T/shale-bin" && SHALE=$T/shale-bin
fi
as_user() {
	runuser -u "$TU" -- env -u SHALE_ROOT -u XDG_DATA_HOME HOME="$UH" PATH="$PATH" \
		ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" "$@"
}
ushale() { as_user "$SHALE" "$@"; }
uid=$(id -u "$TU")
gid=$(id -g "$TU")
M=$UH/m

step "a root-owned image with a device node and a setuid file, imported by the user"
src=$T/src
make_busybox_rootfs "$src"
echo hello >"$src/etc/motd"
mkdir -p "$src/data" "$src/gone/sub" "$src/mvd/a" "$src/dev"
head -c $((3 * 1024 * 1024 + 4321)) /dev/urandom >"$src/data/big.bin"
echo x >"$src/gone/sub/x"
echo b >"$src/mvd/a/b"
mkdir -p "$src/rodir" && echo f >"$src/rodir/f" && chmod 555 "$src/rodir"
echo ro >"$src/etc/ro.txt" && chmod 444 "$src/etc/ro.txt"
ln -s etc/motd "$src/lnk"
mknod -m 666 "$src/dev/null" c 1 3
cp /bin/busybox "$src/bin/suid" && chmod 4755 "$src/bin/suid"
tar -C "$src" -cf "$T/rootfs.tar" .
chmod 644 "$T/rootfs.tar"
ushale import "$T/rootfs.tar" app:1 >/dev/null
[ -d "$UH/.local/share/shale/db" ] || fail "the store is not under ~/.local/share/shale"
as_user env XDG_DATA_HOME="$UH/xdg" "$SHALE" images >/dev/null
[ -d "$UH/xdg/shale/db" ] || fail "the store is not under \$XDG_DATA_HOME/shale"
assert_contains "$(ushale images)" "app"
assert_eq hello "$(ushale cat app:1 /etc/motd)"
ls_dev=$(ushale ls -l app:1 /dev)
assert_contains "$ls_dev" "crw-rw-rw-" "the device node is kept (inert: metadata only)"
assert_contains "$(ushale ls -l app:1 /bin/suid)" "rwsr-xr-x" "the setuid bit is kept"
expect_exit 1 ushale run app:1 /bin/true
assert_contains "$ERR" "needs root"

step "mount through fusermount3: the image's root shows as the user"
mkdir -p "$M"
chown "$TU:" "$M"
# fusermount3 opens /dev/fuse as the caller: Debian makes it 0666, some
# containers 0600 (then shale says so; the cleanup puts the mode back)
if [ "$FUSE_MODE" != 666 ]; then
	if ! as_user test -r /dev/fuse -a -w /dev/fuse; then
		expect_exit 1 ushale mount app:1 "$M"
		assert_contains "$ERR" "is not open to uid $uid"
	fi
	chmod 0666 /dev/fuse
fi
ushale mount --name c1 app:1 "$M"
is_mounted "$M" || fail "not mounted"
opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/self/mounts)
assert_contains "$opts" "nosuid" "a user's mount has setuid programs off"
assert_contains "$opts" "user_id=$uid"
assert_eq "$TU $TU" "$(as_user stat -c '%U %G' "$M/etc/motd")"
U=$(ushale mounts --format json | python3 -c 'import json,sys; print([j["upper"] for j in map(json.loads, sys.stdin)][0])')
[[ "$U" == "$UH/.local/share/shale/containers/"*/upper ]] || fail "upper is '$U'"
assert_eq "$uid:$gid" "$(getfattr --absolute-names --only-values -n user.shale.owner "$U")"

step "write, delete, rmdir and mkdir, rename, a partial copy-up"
as_user sh -c "echo changed >'$M/etc/motd' && echo new >'$M/new.txt' && mkfifo '$M/fifo'"
as_user rm "$M/etc/passwd"
as_user rm -r "$M/gone"
as_user sh -c "mkdir '$M/gone' && echo fresh >'$M/gone/fresh'"
as_user mv "$M/mvd" "$M/moved"
# read-only objects of the image: their markers still go on (user xattrs
# need write permission, which the daemon gives itself for a moment)
as_user mv "$M/rodir" "$M/rodir2"
as_user chmod 644 "$M/etc/ro.txt"
as_user mv "$M/lnk" "$M/lnk2" # a symlink cannot carry user xattrs
as_user sh -c "mkdir '$M/rodir3' && chmod 555 '$M/rodir3' && rmdir '$M/rodir3'"
as_user sh -c "rm -r '$M/tmp' && mkdir -m 555 '$M/tmp'" # over a whiteout, read-only
cp "$src/data/big.bin" "$T/big.expect"
printf Z | dd of="$T/big.expect" bs=1 seek=$((2 * 1024 * 1024 + 7)) conv=notrunc status=none
as_user sh -c "printf Z | dd of='$M/data/big.bin' bs=1 seek=$((2 * 1024 * 1024 + 7)) conv=notrunc status=none"
as_user cmp "$M/data/big.bin" "$T/big.expect" || fail "content after a 1-byte write"
assert_eq changed "$(as_user cat "$M/etc/motd")"
assert_eq b "$(as_user cat "$M/moved/a/b")"
assert_eq fresh "$(as_user ls "$M/gone")"
assert_eq "f 555" "$(as_user cat "$M/rodir2/f") $(as_user stat -c %a "$M/rodir2")"
assert_eq 644 "$(as_user stat -c %a "$M/etc/ro.txt")"
assert_eq 555 "$(as_user stat -c %a "$M/tmp")"
assert_eq changed "$(as_user cat "$M/lnk2")"
as_user test ! -e "$M/etc/passwd" || fail "a deleted file is still there"
as_user test ! -e "$M/mvd" || fail "a renamed directory is still there"

step "the upper is in the unprivileged form: no device, no trusted.* xattr"
[ -z "$(find "$U" -type c)" ] || fail "device nodes in the upper: $(find "$U" -type c)"
[ -z "$(getfattr --absolute-names -R -h -m '^trusted\.' "$U" 2>/dev/null)" ] || fail "trusted xattrs: $(getfattr --absolute-names -R -h -d -m '^trusted\.' "$U")"
[ -f "$U/etc/passwd" ] && [ ! -s "$U/etc/passwd" ] || fail "the whiteout is no empty file"
assert_eq y "$(getfattr --absolute-names --only-values -n user.overlay.whiteout "$U/etc/passwd")"
assert_eq x "$(getfattr --absolute-names --only-values -n user.overlay.opaque "$U/etc")"
assert_eq y "$(getfattr --absolute-names --only-values -n user.overlay.opaque "$U/gone")"
assert_eq /mvd "$(getfattr --absolute-names --only-values -n user.overlay.redirect "$U/moved")"
getfattr --absolute-names -n user.shale.copyup "$U/data/big.bin" >/dev/null || fail "no partial copy-up record"
[ "$(du -sk "$U" | cut -f1)" -lt 1500 ] || fail "a 1-byte write copied $(du -sk "$U" | cut -f1) KB"

step "the markers never show through the mount"
expect_fail as_user getfattr --absolute-names -n user.overlay.opaque "$M/gone"
expect_fail as_user setfattr -n user.overlay.opaque -v y "$M/new.txt"
assert_contains "$ERR" "not permitted"
[ -z "$(as_user getfattr --absolute-names -d -m - "$M/gone" "$M/data/big.bin" 2>/dev/null)" ] || fail "internal xattrs listed"
as_user setfattr -n user.note -v v "$M/new.txt"
assert_eq v "$(as_user getfattr --absolute-names --only-values -n user.note "$M/new.txt")"

step "what needs root fails as on any filesystem"
expect_fail as_user mknod "$M/dev/zero" c 1 5
assert_contains "$ERR" "not permitted"
expect_fail as_user chown 0 "$M/new.txt"
assert_contains "$ERR" "not permitted"
expect_fail as_user chown 65534 "$M/etc/motd"
assert_contains "$ERR" "not permitted"
as_user chown "$uid:$gid" "$M/etc/motd"   # to oneself: allowed
expect_fail as_user sh -c "cat '$M/dev/null'"   # nodev: a device of the image does not open

step "shale diff"
ushale diff "$M" >"$T/diff"
cat >"$T/diff.expect" <<EOF
C /data
C /data/big.bin
C /etc
C /etc/motd
D /etc/passwd
C /etc/ro.txt
A /fifo
C /gone
A /gone/fresh
D /gone/sub
D /lnk
A /lnk2
A /moved
A /moved/a
A /moved/a/b
D /mvd
A /new.txt
D /rodir
A /rodir2
A /rodir2/f
C /tmp
EOF
diff -u "$T/diff.expect" "$T/diff" || fail "shale diff differs"

step "umount and mount again: the changes persist"
ushale umount "$M"
! is_mounted "$M" || fail "still mounted"
ushale mount c1 "$M"
assert_eq changed "$(as_user cat "$M/etc/motd")"
as_user cmp "$M/data/big.bin" "$T/big.expect"
as_user test ! -e "$M/etc/passwd" || fail "a deleted file came back"
assert_eq "b" "$(as_user cat "$M/moved/a/b")"
assert_eq "v" "$(as_user getfattr --absolute-names --only-values -n user.note "$M/new.txt")"

step "kernel overlayfs -o userxattr reads the upper the same way"
# the upper as the top layer over the image's source; it does not follow
# redirects with userxattr, and reads a partial file's holes as zeros: those
# two are left out
sig() { # DIR: names, types, modes, symlink targets and contents
	as_user sh -c 'cd "$1" && skip="-path ./moved -o -path ./rodir2 -o -path ./data/big.bin" &&
		{ find . \( $skip \) -prune -o -printf "%p %y %m %l\n" 2>/dev/null; true; } | sort &&
		find . \( $skip \) -prune -o -type f -print 2>/dev/null | sort | xargs md5sum' sh "$1"
}
mkdir -p "$T/kovl"
if mount -t overlay overlay -o "ro,userxattr,lowerdir=$U:$src" "$T/kovl"; then
	sig "$M" >"$T/sig.shale"
	sig "$T/kovl" >"$T/sig.kovl"
	diff -u "$T/sig.kovl" "$T/sig.shale" || fail "the merged views differ"
	grep -q '^./gone/fresh f ' "$T/sig.kovl" || fail "no listing: $(cat "$T/sig.kovl")"
	[ ! -e "$T/kovl/etc/passwd" ] || fail "overlayfs does not take the whiteout"
	umount "$T/kovl"
else
	echo "kernel overlayfs with userxattr is not available: comparison skipped"
fi

step "a read-only mount too"
mkdir -p "$UH/ro" && chown "$TU:" "$UH/ro"
ushale mount -o ro app:1 "$UH/ro"
assert_eq hello "$(as_user cat "$UH/ro/etc/motd")"
expect_fail as_user touch "$UH/ro/x"
assert_contains "$ERR" "Read-only"
ushale umount "$UH/ro"

step "commit: the user's files are root's in the image; fsck is clean"
ushale commit "$M" app:2 >/dev/null
ushale umount "$M"
ls_etc=$(ushale ls -l app:2 /etc)
assert_contains "$ls_etc" "motd"
[[ "$ls_etc" != *passwd* ]] || fail "the whiteout did not reach the layer: $ls_etc"
ushale ls -l app:2 / | grep -q " 0 *0 .* new.txt" || fail "new.txt is not root's: $(ushale ls -l app:2 /)"
assert_eq changed "$(ushale cat app:2 /etc/motd)"
assert_eq b "$(ushale cat app:2 /moved/a/b)"
assert_eq f "$(ushale cat app:2 /rodir2/f)"
assert_contains "$(ushale ls -l app:2 / | grep rodir2)" "dr-xr-xr-x"
assert_contains "$(ushale ls -l app:2 / | grep ' tmp')" "dr-xr-xr-x"
assert_eq etc/motd "$(ushale ls -l app:2 /lnk2 | sed 's/.* -> //')"
assert_eq fresh "$(ushale ls app:2 /gone)"
ushale cat app:2 /data/big.bin | cmp - "$T/big.expect" || fail "committed big.bin differs"
expect_exit 1 ushale cat app:2 /mvd/a/b
out=$(ushale fsck)
assert_contains "$out" "0 errors"
ushale rm c1 >/dev/null

step "shale seal reads an upper written by fuse-overlayfs without root"
if command -v fuse-overlayfs >/dev/null; then
	F=$UH/fo
	mkdir -p "$F/up" "$F/wk" "$F/m"
	cp -a "$src" "$F/lower"
	chown -R "$TU:" "$F"
	as_user fuse-overlayfs -o "lowerdir=$F/lower,upperdir=$F/up,workdir=$F/wk" "$F/m"
	as_user sh -c "rm '$F/m/etc/motd' && rm -r '$F/m/gone' && mkdir '$F/m/gone' &&
		echo n >'$F/m/gone/n' && mv '$F/m/mvd' '$F/m/moved'"
	as_user fusermount3 -u "$F/m"
	ushale seal --from app:1 "$F/up" fo:1 >/dev/null
	expect_exit 1 ushale cat fo:1 /etc/motd
	assert_eq n "$(ushale ls fo:1 /gone)"
	assert_eq b "$(ushale cat fo:1 /moved/a/b)"
	expect_exit 1 ushale cat fo:1 /mvd/a/b
	[[ "$(ushale ls -R --format json fo:1)" != *fuseoverlayfs* ]] || fail "fuse-overlayfs's markers in the layer"
fi

step "an upper without user xattrs gets a clear error"
# ramfs has no xattrs at all (tmpfs has user xattrs from Linux 6.6)
mkdir -p "$T/ramfs"
mount -t ramfs -o mode=0777 ramfs "$T/ramfs"
expect_exit 1 ushale mount --upper "$T/ramfs/up" app:1 "$M"
assert_contains "$ERR" "no user extended attributes"
! is_mounted "$M" || fail "mounted anyway"
umount "$T/ramfs"
echo "PASS"
