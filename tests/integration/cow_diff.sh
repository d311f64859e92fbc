#!/usr/bin/env bash
# Writable mounts against kernel overlayfs: the same operations (scripted cases
# for every kind, and random sequences from fixed seeds) applied to a kernel
# overlay mount and a shale mount over the same layers must give the same
# result for each operation (errno included) and the same trees after.
source "$(dirname "$0")/lib.sh"

fsops() { python3 "$TESTS/fsops.py" "$@"; }
L=$T/layers
mkdir -p $L/l0 $L/l1
fsops make-lower $L/l0 $L/l1
seal_stack cow $L/l0 $L/l1
(cd "$SHALE_ROOT/objects" && find . -type f ! -name '.*' -exec sha256sum {} + | sort) >$T/objects.before
shale ls -R --format json cow >$T/view.before

# kovl_rw NAME [OPTIONS]: a kernel overlay with a fresh upper at $T/k-NAME/m
kovl_rw() {
	local d=$T/k-$1
	mkdir -p $d/u $d/w $d/m
	mount -t overlay overlay -o "lowerdir=$L/l1:$L/l0,upperdir=$d/u,workdir=$d/w${2:+,$2}" $d/m
}
shale_rw() {
	mkdir -p $T/s-$1
	# allow_other: cases act as other users too, as on the kernel's mount
	shale mount --name "c-$1" -o allow_other cow $T/s-$1
}
compare_case() { # NAME KERNEL-OPTIONS WHAT ARGS...
	local name=$1 opts=$2
	shift 2
	kovl_rw "$name" "$opts"
	shale_rw "$name"
	fsops $T/k-$name/m "$@" >$T/k-$name.out
	fsops $T/s-$name "$@" >$T/s-$name.out
	diff -u $T/k-$name.out $T/s-$name.out || fail "$name: results differ (kernel -, shale +)"
	treecmp $T/k-$name/m $T/s-$name --mtime-slack 120 >$T/cmp-$name ||
		{ cat $T/cmp-$name; fail "$name: trees differ"; }
	umount $T/k-$name/m
	shale umount $T/s-$name
	echo "  $name: $(wc -l <$T/s-$name.out) operations, same results and trees"
}

step "scripted cases, kernel overlayfs with its defaults"
for c in $(fsops . cases); do
	compare_case "$c" "" case "$c"
done

step "where shale does better: the kernel needs redirect_dir=on and index=on to match"
for c in $(fsops . better); do
	kovl_rw "$c-default"
	fsops $T/k-$c-default/m case "$c" >$T/default-$c.out
	umount $T/k-$c-default/m
	compare_case "$c" "redirect_dir=on,index=on" case "$c"
	diff -q $T/default-$c.out $T/s-$c.out >/dev/null &&
		fail "$c: kernel defaults behave like shale here; the case shows nothing"
	echo "    the kernel with its defaults instead:"
	diff $T/default-$c.out $T/s-$c.out | grep '^<' | head -3 || true
done

step "random sequences from fixed seeds (with directory renames)"
for seed in 1 2 3 4; do
	compare_case "random-$seed" "redirect_dir=on,index=on" random $seed 250 --dir-renames
done

step "the image never changed: same view, same objects"
shale ls -R --format json cow | diff -q - $T/view.before || fail "the image's view changed"
(cd "$SHALE_ROOT/objects" && find . -type f ! -name '.*' -exec sha256sum {} + | sort) |
	diff - $T/objects.before || fail "lower objects changed"
echo PASS
