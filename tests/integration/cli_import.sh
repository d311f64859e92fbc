#!/usr/bin/env bash
# shale import / ls / cat / images / history / inspect / tag / rmi / prune / du on
# real trees, checked against the source byte for byte and attribute for attribute.
source "$(dirname "$0")/lib.sh"

src=$T/src
step "build a source tree: every entry type, hardlinks, xattrs, odd names"
mkdir -p "$src"/{dir/sub,empty,setid}
cp -a /usr/share/doc "$src/doc"               # a real tree: thousands of files and links
echo hello >"$src/dir/hello.txt"
head -c 5000000 /dev/urandom >"$src/dir/big.bin"  # five chunks
ln "$src/dir/hello.txt" "$src/dir/sub/hardlink"
ln "$src/dir/hello.txt" "$src/hard2"
ln -s ../hello.txt "$src/dir/sub/rel-link"
ln -s /etc/shadow "$src/abs-link"                 # recorded, never followed
mkfifo "$src/fifo"
mknod "$src/null" c 1 3
mknod "$src/loop9" b 7 9
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$src/sock"
setfattr -n user.color -v blue "$src/dir/hello.txt"
setfattr -n trusted.note -v "0x0001ff" "$src/dir"
touch "$src/setid/suid" "$src/setid/sgid" && chmod 4755 "$src/setid/suid" && chmod 2755 "$src/setid/sgid"
chmod 1777 "$src/empty"
chown 1234:5678 "$src/dir/sub"
truncate -s 3G "$src/sparse"                      # a hole, no data
printf 'x' | dd of="$src/sparse" bs=1 seek=2000000000 conv=notrunc status=none
touch "$src/$(printf 'caf\xe9-latin1')"            # not UTF-8
touch "$src/$(printf 'n%.0s' {1..255})"           # the longest name Linux allows
touch -d '2001-02-03 04:05:06.123456789' "$src/dir/hello.txt"

step "import the directory"
id=$(shale import "$src" test/tree:1)
[[ "$id" =~ ^[0-9a-f]{32}$ ]] || fail "import printed '$id', not an image id"
shale ls -R --format json test/tree:1 >"$T/tree.json"
treecmp "$src" --json "$T/tree.json"

step "cat is byte for byte (every crafted file and a sample of the real tree)"
for f in dir/hello.txt dir/big.bin dir/sub/hardlink hard2 dir/sub/rel-link; do
	shale cat test/tree:1 "/$f" | cmp - "$src/$f" || fail "cat $f differs"
done
find "$src/doc" -type f | shuf -n 100 --random-source=<(yes) | while read -r f; do
	shale cat test/tree:1 "${f#$src}" | cmp -s - "$f" || fail "cat ${f#$src} differs"
done
cmp <(shale cat test/tree:1 /sparse | head -c 2000000001 | tail -c 2) <(printf '\0x') ||
	fail "sparse file content"
expect_exit 1 shale cat test/tree:1 /dir
assert_contains "$ERR" "Is a directory"
expect_exit 1 shale cat test/tree:1 /abs-link   # /etc/shadow inside the image: absent
expect_exit 1 shale cat test/tree:1 /nope

step "ls -l shows what ls -ln shows on the source"
line=$(shale ls -l test/tree:1 /setid | grep ' suid$')
assert_contains "$line" "-rwsr-xr-x"
line=$(shale ls -l test/tree:1 / | grep ' null$')
assert_contains "$line" "1, 3"
line=$(shale ls -l test/tree:1 / | grep ' abs-link ')
assert_contains "$line" "-> /etc/shadow"
assert_eq "dir big.bin hello.txt sub" "$(shale ls test/tree:1 /dir | xargs echo dir)"

step "the same tree as tarballs (plain, gzip, xz, zstd) gives the same view (doc/ left out: speed)"
for z in "" gzip xz zstd; do
	t=$T/src.tar${z:+.$z}
	tar --sparse --xattrs --xattrs-include='*' --exclude=./doc -C "$src" ${z:+--$z} -cf "$t" . 2>/dev/null || true
	shale import "$t" "test/tar:${z:-plain}" >/dev/null
	shale ls -R --format json "test/tar:${z:-plain}" >"$T/tar.json"
	# tar cannot hold sockets
	treecmp "$src" --json "$T/tar.json" --ignore sock doc >/dev/null ||
		{ treecmp "$src" --json "$T/tar.json" --ignore sock doc; fail "tar ${z:-plain}"; }
done
cat "$src/dir/big.bin" | cmp - <(shale cat test/tar:zstd /dir/big.bin) || fail "zstd content"

step "dedup: importing the same tree twice adds nothing; one changed file adds about one file"
objs=$(count_objects)
bytes=$(du -sb "$SHALE_ROOT/objects" | cut -f1)
shale import "$src" test/tree:2 >/dev/null
assert_eq "$objs" "$(count_objects)" "objects after re-import"
assert_eq "$(shale inspect test/tree:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"])')" \
	"$(shale inspect test/tree:2 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"])')" \
	"layer ids of the same tree"
touch -r "$src/dir" "$T/dir.mtime"
head -c 300000 /dev/urandom >"$src/dir/changed.bin"
shale import "$src" test/tree:3 >/dev/null
grown=$(($(du -sb "$SHALE_ROOT/objects" | cut -f1) - bytes))
[ "$grown" -ge 300000 ] && [ "$grown" -lt 400000 ] || fail "store grew by $grown bytes for a 300000-byte file"
rm "$src/dir/changed.bin"
touch -r "$T/dir.mtime" "$src/dir"

step "images, history, inspect, tag"
out=$(shale images)
assert_eq "REPOSITORY TAG IMAGE ID CREATED SIZE" "$(echo "$out" | head -1 | xargs)"
assert_contains "$out" "test/tree"
shale tag test/tree:1 other:latest
shale images other | grep -q "^other " || fail "tag not listed"
shale history test/tree:1 | grep -q "shale import" || fail "history"
shale inspect test/tree:1 | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; assert "other:latest" in d["RepoTags"], d'
lid=$(shale inspect test/tree:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"]["Layers"][0])')
shale inspect "${lid:0:12}" | grep -q '"Type": "layer"' || fail "inspect a layer by id prefix"
shale ls --layer 0 test/tree:1 /dir >/dev/null
shale du test/tree:1 | grep -q '^total' || fail "du"

step "layered import with whiteouts and an opaque directory"
mkdir -p "$T/l2/dir" "$T/l2/doc"
echo new >"$T/l2/dir/new.txt"
touch "$T/l2/dir/.wh.hello.txt" "$T/l2/.wh.fifo" "$T/l2/doc/.wh..wh..opq"
echo only >"$T/l2/doc/only"
tar -C "$T/l2" -cf "$T/l2.tar" .
shale import --parent test/tree:1 -m "second layer" "$T/l2.tar" test/tree:layered >/dev/null
assert_eq "big.bin new.txt sub" "$(shale ls test/tree:layered /dir | xargs)"
assert_eq "only" "$(shale ls test/tree:layered /doc | xargs)"
expect_exit 1 shale cat test/tree:layered /fifo
assert_eq "2" "$(shale ls -R --format json test/tree:layered | python3 -c '
import json,sys
for l in sys.stdin:
    j=json.loads(l)
    if j["path"]=="/hard2": print(j["nlink"])')" "nlink after a whiteout hid one of three names"
shale history test/tree:layered | grep -q "second layer" || fail "history comment"
shale ls --layer 1 -l test/tree:layered /dir | grep -q "(whiteout)" || fail "ls --layer shows whiteouts"

step "bad input: clear errors, exit codes, nothing changes"
before=$(images_state)
objs=$(count_objects)
tar -C "$src" -czf "$T/ok.tgz" dir
head -c 1000000 "$T/ok.tgz" >"$T/truncated.tgz"
expect_exit 1 shale import "$T/truncated.tgz" bad:1
assert_contains "$ERR" "truncated"
python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def mk(name, members):
    with tarfile.open(f"{t}/{name}", "w") as tf:
        for n, data, kind in members:
            ti = tarfile.TarInfo(n)
            if kind == "link":
                ti.type = tarfile.LNKTYPE; ti.linkname = data; data = b""
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
big = b"y" * 200000
mk("dotdot.tar", [("a/file", big, ""), ("a/../../evil", b"evil", "")])
mk("abs.tar", [("a/file", big, ""), ("/etc/evil", b"evil", "")])
mk("hardlink.tar", [("a/file", big, ""), ("a/link", "../../../etc/passwd", "link")])
mk("longname.tar", [("a/file", big, ""), ("a/" + "x" * 300, b"x", "")])
PY
for t in dotdot abs hardlink longname; do
	expect_exit 1 shale import "$T/$t.tar" bad:1
	echo "  $t: $ERR"
done
expect_exit 1 shale import /etc/hostname bad:1
expect_exit 1 shale import "$T/none" bad:1
expect_exit 1 shale import "$src" Bad:Ref
assert_contains "$ERR" "invalid reference format"
expect_exit 1 shale import --parent nosuch:image "$src" bad:1
assert_contains "$ERR" "no such image"
expect_exit 2 shale import "$src"
expect_exit 2 shale images --bogus
expect_exit 1 shale ls nosuch:image
expect_exit 1 shale ls test/tree:1 /no/such/path
assert_eq "$before" "$(images_state)" "images after bad input"
shale prune >/dev/null
assert_eq "$objs" "$(count_objects)" "objects after bad input and prune"
[ ! -e /evil ] && [ ! -e /etc/evil ] || fail "a tar member escaped onto the host"

step "rmi and prune free only what nothing else needs"
expect_exit 1 shale rmi "$(shale images -q test/tree:1)"   # two repositories: must be forced
assert_contains "$ERR" "must be forced"
shale rmi other:latest | grep -q "Untagged: other:latest" || fail "rmi untag"
shale rmi test/tree:2 test/tree:3 test/tar:plain test/tar:gzip test/tar:xz test/tar:zstd >/dev/null
shale cat test/tree:1 /dir/hello.txt >/dev/null               # still whole
shale ls -R test/tree:layered >/dev/null
out=$(shale prune)
assert_contains "$out" "Total reclaimed space:"
shale ls -R --format json test/tree:1 >"$T/tree.json"
treecmp "$src" --json "$T/tree.json" >/dev/null || fail "tree changed after rmi/prune"
shale rmi test/tree:layered test/tree:1 >/dev/null
out=$(shale prune -a)
assert_eq "0" "$(count_objects)" "objects left when no image remains"
assert_eq "" "$(shale images -q)" "images left"
echo "PASS"
