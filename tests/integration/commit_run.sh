#!/usr/bin/env bash
# commit, seal, diff, run, ps, rm: a container's changes become an image whose
# tree equals the container's merged view; a kernel overlayfs upper sealed on
# its image equals the kernel's merged view; commits are consistent on a live
# mount and all-or-nothing when killed; containers run commands.
source "$(dirname "$0")/lib.sh"

fsops() { python3 "$TESTS/fsops.py" "$@"; }
L=$T/layers
mkdir -p $L/l0 $L/l1
fsops make-lower $L/l0 $L/l1
seal_stack cow $L/l0 $L/l1

step "commit after each kind of operation: the new image shows the container's tree"
for c in $(fsops . cases) $(fsops . better); do
	mkdir -p $T/c-$c $T/i-$c
	shale mount --name "k-$c" cow $T/c-$c
	fsops $T/c-$c case "$c" >/dev/null
	shale commit "k-$c" "img/$c" >/dev/null
	shale mount -o ro "img/$c" $T/i-$c
	treecmp $T/c-$c $T/i-$c >$T/cmp || { cat $T/cmp; fail "$c: committed image differs from the container"; }
	shale umount $T/i-$c
	shale umount $T/c-$c
done
echo "  $(fsops . cases | wc -w) + $(fsops . better | wc -w) cases: each committed image equals its container"

step "random sequences, committed on a live mount, equal the mount"
for seed in 11 12; do
	mkdir -p $T/r$seed $T/ri$seed
	shale mount --name "rand-$seed" cow $T/r$seed
	fsops $T/r$seed random $seed 300 --dir-renames >/dev/null
	shale commit $T/r$seed "img/rand$seed" >/dev/null     # by mount point, while mounted
	shale mount -o ro "img/rand$seed" $T/ri$seed
	treecmp $T/r$seed $T/ri$seed >$T/cmp || { cat $T/cmp; fail "random $seed: committed image differs"; }
	shale umount $T/ri$seed
	shale umount $T/r$seed
done

step "the same changes committed twice give the same layer"
layer() { shale inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"][-1])'; }
shale commit k-create img/again >/dev/null
assert_eq "$(layer img/create)" "$(layer img/again)" "layer ids of two commits of one container"

step "history, inspect and -c changes"
shale commit -m "edited files" -c 'CMD ["cat", "/file1"]' -c 'ENV GREETING=hi' -c 'WORKDIR /dir' \
	-c 'EXPOSE 8080' -c 'LABEL version=2' -c 'USER 1000' k-trunc-lower img/changed >/dev/null
shale history img/changed | sed -n 2p | grep -q "edited files" || fail "history comment: $(shale history img/changed)"
shale inspect img/changed | python3 -c '
import json, sys
c = json.load(sys.stdin)[0]["Config"]
assert c["Cmd"] == ["cat", "/file1"], c
assert "GREETING=hi" in c["Env"] and c["WorkingDir"] == "/dir" and "8080/tcp" in c["ExposedPorts"], c
assert c["Labels"]["version"] == "2" and c["User"] == "1000", c'

step "diff lists A, C and D like docker diff"
mkdir -p $T/d
shale mount --name dif cow $T/d
echo x >$T/d/added && echo y >>$T/d/file1 && rm $T/d/dir/a && mv $T/d/lowdir $T/d/moved
shale diff dif >$T/diff
for want in "A /added" "C /file1" "D /dir/a" "C /dir" "D /lowdir" "A /moved" "A /moved/g" "A /moved/inner/f"; do
	grep -qxF "$want" $T/diff || { cat $T/diff; fail "diff lacks '$want'"; }
done
shale umount $T/d

step "a write racing a commit is in or out, never torn"
mkdir -p $T/w
shale mount --name racer cow $T/w
python3 - $T/w/records <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
end = time.time() + 4
i = 0
while time.time() < end:
    os.write(fd, (b"%08d" % i) * 512)   # 4 KiB records, one write() each
    i += 1
os.close(fd)
PY
writer=$!
for k in 1 2 3 4 5; do
	sleep 0.5
	shale commit racer img/race$k >/dev/null
done
wait $writer
for k in 1 2 3 4 5; do
	mkdir -p $T/rc$k && shale mount -o ro img/race$k $T/rc$k
	python3 - $T/rc$k/records <<'PY' || fail "commit $k holds a torn record"
import sys
d = open(sys.argv[1], "rb").read() if __import__("os").path.exists(sys.argv[1]) else b""
assert len(d) % 4096 == 0, f"{len(d)} bytes: not whole records"
for r in range(len(d) // 4096):
    rec = d[r * 4096:(r + 1) * 4096]
    assert rec == rec[:8] * 512 and int(rec[:8]) == r, f"record {r} torn or out of order"
print(f"  commit holds {len(d) // 4096} whole records")
PY
	shale umount $T/rc$k
done
shale umount $T/w

step "a commit killed with SIGKILL leaves no new image or the whole one; prune cleans up"
mkdir -p $T/big
shale mount --name heavy cow $T/big
for i in $(seq 1 40); do head -c 2000000 /dev/urandom >$T/big/blob$i; done
shale umount $T/big
cp -a "$(shale ps -a --format json | python3 -c 'import json,sys; print([j["Upper"] for j in map(json.loads, sys.stdin) if j["Names"]=="heavy"][0])')" $T/upper.copy
before=$(images_state)
for delay in 0.05 0.15 0.3 0.6; do
	"$SHALE" commit heavy img/heavy >/dev/null 2>&1 &   # the binary: killing a function subshell would not stop it
	p=$!
	sleep $delay
	kill -9 $p 2>/dev/null || true
	wait $p 2>/dev/null || true
	if shale images -q img/heavy | grep -q .; then   # it finished: whole, then
		mkdir -p $T/hv && shale mount -o ro img/heavy $T/hv
		cmp $T/hv/blob40 $T/upper.copy/blob40 || fail "a finished commit is not whole"
		shale umount $T/hv
		shale rmi img/heavy >/dev/null
	fi
	assert_eq "$before" "$(images_state)" "images after a commit killed at ${delay}s"
done
u=$(shale ps -a --format json | python3 -c 'import json,sys; print([j["Upper"] for j in map(json.loads, sys.stdin) if j["Names"]=="heavy"][0])')
diff -r $u $T/upper.copy >/dev/null || fail "the container's upper changed"
shale prune >/dev/null
shale commit heavy img/heavy >/dev/null
rm -rf $T/upper.copy

step "bad input changes nothing: unknown container, bad -c, a container being committed"
before=$(images_state)
expect_exit 1 shale commit nosuch img/x
assert_contains "$ERR" "no such container"
expect_exit 1 shale commit -c 'RUN echo no' heavy img/x
assert_contains "$ERR" "not a valid change"
expect_exit 1 shale commit -c 'ENV' heavy img/x
expect_exit 1 shale commit -c 'BOGUS x' heavy img/x
expect_exit 1 shale commit heavy 'Bad:Name'
expect_exit 1 shale diff nosuch
exec 9>"$SHALE_ROOT/tmp/commit-$(shale ps -a --format json | python3 -c 'import json,sys; print([j["ID"] for j in map(json.loads, sys.stdin) if j["Names"]=="heavy"][0])').lock"
flock -n 9
expect_exit 1 shale commit heavy img/x
assert_contains "$ERR" "being committed"
exec 9>&-
assert_eq "$before" "$(images_state)" "images after bad commits"

step "seal an upper written by kernel overlayfs: the sealed image equals the kernel's view"
for seed in 21 22; do
	d=$T/kovl$seed
	mkdir -p $d/u $d/w $d/m $d/s
	mount -t overlay overlay -o "lowerdir=$L/l1:$L/l0,upperdir=$d/u,workdir=$d/w,redirect_dir=on" $d/m
	fsops $d/m random $seed 300 --dir-renames >/dev/null
	umount $d/m
	mount -t overlay overlay -o "lowerdir=$L/l1:$L/l0,upperdir=$d/u,workdir=$d/w,redirect_dir=on" $d/m
	shale seal --from cow $d/u "sealed/k$seed" >/dev/null
	shale mount -o ro "sealed/k$seed" $d/s
	treecmp $d/m $d/s >$T/cmp || { cat $T/cmp; fail "seal of kernel upper $seed differs from the kernel's view"; }
	shale umount $d/s
	umount $d/m
done

step "run: exit codes, stdin/stdout, -v, -w, -e, -u, a command's files committed"
make_busybox_rootfs $T/bb
echo "app:x:1000:1000::/home/app:/bin/sh" >>$T/bb/etc/passwd
shale import $T/bb bb:1 >/dev/null
expect_exit 3 shale run --rm bb:1 sh -c 'exit 3'
expect_exit 137 shale run --rm bb:1 sh -c 'kill -9 $$'
expect_exit 127 shale run --rm bb:1 nosuchcommand
assert_eq "hello" "$(echo hello | shale run --rm -i bb:1 cat)"
assert_eq "" "$(echo hello | shale run --rm bb:1 cat)"
assert_eq "/work/here bar" "$(shale run --rm -w /work/here -e FOO=bar bb:1 sh -c 'echo $(pwd) $FOO')"
assert_eq "uid=1000(app) gid=1000" "$(shale run --rm -u app bb:1 id)"
mkdir -p $T/vol && echo inside >$T/vol/in
assert_eq "inside" "$(shale run --rm -v $T/vol:/data bb:1 cat /data/in)"
shale run --rm -v $T/vol:/data:ro bb:1 sh -c 'echo x >/data/no' 2>/dev/null && fail "wrote to a read-only volume"
shale run --name writer -v $T/vol:/data bb:1 sh -c 'echo made >/root/made; echo vol >/data/out'
assert_eq vol "$(cat $T/vol/out)"
assert_eq "C /root
A /root/made" "$(shale diff writer)"
shale commit writer bb:made >/dev/null
assert_eq made "$(shale run --rm bb:made cat /root/made)"
shale run --rm bb:made ls /data 2>/dev/null && fail "volume contents were sealed into the image"

step "the workflow from the Docker notes: run, change a file, commit with a CMD, run the new image"
shale run --name web bb:1 sh -c 'mkdir -p /www && echo "<h1>v1</h1>" >/www/index.html'
shale commit -m "edited index.html" -c 'CMD ["cat", "/www/index.html"]' web bb:web >/dev/null
assert_eq "<h1>v1</h1>" "$(shale run --rm bb:web)"

step "ps and rm"
ps=$(shale ps -a)   # captured: grep -q on a pipe would cut shale off (SIGPIPE)
grep -q "writer" <<<"$ps" || fail "ps -a: $ps"
grep " web$" <<<"$ps" | grep -q "Exited (0)" || fail "ps status: $ps"
[ -z "$(shale ps -q)" ] || fail "ps without -a lists stopped containers"
mkdir -p $T/pm && shale mount --name mounted bb:1 $T/pm
grep -q "Mounted at $T/pm" <<<"$(shale ps)" || fail "ps: $(shale ps)"
expect_exit 1 shale rm mounted
shale rm -f mounted >/dev/null
is_mounted $T/pm && fail "rm -f left the mount"
up=$(shale ps -a --format json | python3 -c 'import json,sys; print([j["Upper"] for j in map(json.loads, sys.stdin) if j["Names"]=="writer"][0])')
shale rm writer >/dev/null
[ ! -e "$up" ] || fail "rm left the upper"
expect_exit 1 shale rm writer
echo PASS
