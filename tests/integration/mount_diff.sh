#!/usr/bin/env bash
# The read-only merged view against kernel overlayfs: the same layers mounted
# with `mount -t overlay` and with `shale mount` must show the same trees: names,
# types, modes, owners, sizes, mtimes, symlink targets, xattrs, hardlink groups
# and contents, for stacks with every feature that changes what is visible.
source "$(dirname "$0")/lib.sh"

L=$T/layers
step "stack 'features': every entry type, whiteouts, opaque dirs, type changes, hardlinks"
mkdir -p $L/f0/{etc/ssl,usr/bin,usr/lib,var/empty,deep/a/b/c/d/e,gone/sub,opq,keep,typ} $L/f0/typ/dir2file
echo "root:x:0:0" >$L/f0/etc/passwd
echo cert >$L/f0/etc/ssl/cert.pem
head -c 3500000 /dev/urandom >$L/f0/usr/lib/big.so      # chunked
head -c 1000 /dev/urandom >$L/f0/usr/lib/small.so       # inline
head -c 5000 /dev/urandom >$L/f0/usr/lib/one.so         # one object
: >$L/f0/usr/lib/empty
ln -s ../lib/big.so $L/f0/usr/bin/rel
ln -s /etc/passwd $L/f0/usr/bin/abs
ln -s nowhere $L/f0/usr/bin/dangling
echo shared >$L/f0/usr/bin/h1 && ln $L/f0/usr/bin/h1 $L/f0/usr/bin/h2 && ln $L/f0/usr/bin/h1 $L/f0/etc/h3
mknod $L/f0/usr/lib/null c 1 3 && mknod $L/f0/usr/lib/sda b 8 0 && mkfifo $L/f0/usr/lib/fifo
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" $L/f0/var/sock
setfattr -n user.mime -v text/plain $L/f0/etc/passwd
setfattr -n trusted.secret -v 0xdeadbeef $L/f0/usr/lib/one.so
setfattr -n user.dir -v yes $L/f0/etc
touch $L/f0/usr/bin/suid $L/f0/usr/bin/sgid && chmod 4711 $L/f0/usr/bin/suid && chmod 2755 $L/f0/usr/bin/sgid
chmod 1777 $L/f0/var/empty && chown 1001:2002 $L/f0/etc/ssl/cert.pem
echo deep >$L/f0/deep/a/b/c/d/e/f
echo a >$L/f0/gone/sub/x && echo b >$L/f0/gone/y && echo old >$L/f0/opq/old && echo k >$L/f0/keep/k
echo file >$L/f0/typ/file2dir && echo d >$L/f0/typ/dir2file/child
touch -d '1999-12-31 23:59:59.5' $L/f0/etc/passwd
mkdir -p $L/f1/{etc,usr/lib,opq,keep,typ/file2dir}
echo "root:x:0:0:changed" >$L/f1/etc/passwd && setfattr -n user.mime -v changed $L/f1/etc/passwd
whiteout $L/f1/gone                          # a whole directory
whiteout $L/f1/usr/lib/small.so              # a file
opaque $L/f1/opq && echo new >$L/f1/opq/new
echo k2 >$L/f1/keep/k2                       # merged directory
echo inside >$L/f1/typ/file2dir/inside       # a file became a directory
echo now-a-file >$L/f1/typ/dir2file          # a directory became a file
cp -a $L/f0/usr/lib/big.so $L/f1/usr/lib/big.so && printf 'X' | dd of=$L/f1/usr/lib/big.so bs=1 seek=1500000 conv=notrunc status=none
echo newlink >$L/f1/usr/lib/n1 && ln $L/f1/usr/lib/n1 $L/f1/usr/lib/n2
chmod 700 $L/f1/keep
mkdir -p $L/f2/gone $L/f2/usr/bin
echo back >$L/f2/gone/again                  # re-created over a whiteout
rm -f $L/f2/usr/bin/rel && echo "no longer a link" >$L/f2/usr/bin/rel
seal_stack features $L/f0 $L/f1 $L/f2
kovl_mount $T/kovl $L/f0 $L/f1 $L/f2
mkdir -p $T/shale
shale mount features $T/shale
treecmp $T/kovl $T/shale

step "stack 'deep': 64 thin layers, each adding, rewriting and whiting out"
layers=()
for i in $(seq 0 63); do
	d=$L/d$i
	mkdir -p $d/deep $d/common $d/layer$i
	echo "v$i" >$d/common/shared.txt
	echo $i >$d/deep/add_$i
	[ $i -gt 0 ] && whiteout $d/deep/add_$((i - 1))
	[ $((i % 8)) -eq 0 ] && { opaque $d/opqdir; echo $i >$d/opqdir/only_$i; }
	layers+=($d)
done
seal_stack deep "${layers[@]}"
kovl_mount $T/kovl-deep "${layers[@]}"
mkdir -p $T/shale-deep
shale mount deep $T/shale-deep
treecmp $T/kovl-deep $T/shale-deep
assert_eq "v63" "$(cat $T/shale-deep/common/shared.txt)"
assert_eq "add_63" "$(ls $T/shale-deep/deep)"
assert_eq "only_56" "$(ls $T/shale-deep/opqdir)"

step "shale does better than the kernel: nlink counts only the names still visible"
mkdir -p $L/h1/usr/bin
whiteout $L/h1/usr/bin/h2
seal_stack hl $L/f0 $L/h1
mkdir -p $T/hl && shale mount hl $T/hl
assert_eq "2 2" "$(stat -c %h $T/hl/usr/bin/h1) $(stat -c %h $T/hl/etc/h3)" "nlink after a whiteout"
assert_eq "$(stat -c %i $T/hl/usr/bin/h1)" "$(stat -c %i $T/hl/etc/h3)" "hardlinks share st_ino"
echo "kernel overlayfs reports nlink $(stat -c %h $T/kovl/usr/bin/h1) for the unchanged group (lower nlink)"
echo PASS
