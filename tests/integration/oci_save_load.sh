#!/usr/bin/env bash
# shale save / load: OCI image layout and docker-archive, reproducible export,
# round trips through skopeo and umoci, and bad archives that must store nothing.
source "$(dirname "$0")/lib.sh"

for tool in skopeo umoci; do
	command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install $tool: .ci/packages)"
done

# Layer ids of an image, one per line (history rows carry them; bottom first).
layer_ids() {
	shale history --no-trunc --format json "$1" |
		python3 -c 'import json,sys; rows=[json.loads(l) for l in sys.stdin]; [print(r["Layer"]) for r in reversed(rows) if "Layer" in r]'
}
view() { shale ls -R --format json "$1"; }

src=$T/src
step "a base layer: busybox plus every entry type, xattrs, a sparse file, odd names"
make_busybox_rootfs "$src"
mkdir -p "$src/data/sub" "$src/usr/lib/old"
echo hello >"$src/data/hello.txt"
head -c 3000000 /dev/urandom >"$src/data/big.bin"
ln "$src/data/hello.txt" "$src/data/sub/hardlink"
ln -s ../hello.txt "$src/data/sub/rel-link"
ln -s /etc/shadow "$src/abs-link"
mkfifo "$src/fifo"
mknod "$src/null" c 1 3
mknod "$src/loop9" b 7 9
setfattr -n user.color -v blue "$src/data/hello.txt"
setfattr -n trusted.note -v "0x0001ff" "$src/data"
touch "$src/suid" && chmod 4755 "$src/suid"
chown 1234:5678 "$src/data/sub"
chmod 1777 "$src/tmp"
truncate -s 5M "$src/sparse"
printf 'x' | dd of="$src/sparse" bs=1 seek=3000000 conv=notrunc status=none
touch "$src/$(printf 'caf\xe9-latin1')" "$src/café-utf8"
mkdir -p "$src/$(printf 'd%.0s' {1..120})" && touch "$src/$(printf 'd%.0s' {1..120})/$(printf 'f%.0s' {1..200})"
echo old >"$src/usr/lib/old/file"
touch -d '2001-02-03 04:05:06.123456789' "$src/data/hello.txt"
# From a tar (as images are made): a directory import also records directory
# sizes, which no tar can carry, so only tar-made layers survive an export bit for bit.
tar --format=pax --xattrs --xattrs-include='*' --sparse -C "$src" -cf "$T/base.tar" .
shale import "$T/base.tar" test/oci:base >/dev/null
treecmp "$src" --json <(view test/oci:base) >/dev/null || { treecmp "$src" --json <(view test/oci:base); fail "base import"; }

step "a second layer: whiteouts, an opaque directory, changed and new files"
python3 - "$T/top.tar" <<'PY'
import io, sys, tarfile
def add(tf, name, data=None, kind="file", mode=0o644, mtime=1700000000):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.mode, ti.uid, ti.gid = mtime, mode, 0, 0
    if kind == "dir":
        ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        tf.addfile(ti); return
    data = data or b""
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as tf:
    add(tf, "etc", kind="dir")
    add(tf, "etc/.wh.group")                 # delete a file
    add(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/ash\n")
    add(tf, "bin", kind="dir")
    add(tf, "bin/.wh.ls")                    # delete a symlink
    add(tf, "usr", kind="dir")
    add(tf, "usr/lib", kind="dir")
    add(tf, "usr/lib/.wh..wh..opq")          # hide everything below usr/lib
    add(tf, "usr/lib/new", b"replaces the old contents\n")
    add(tf, "data", kind="dir")
    add(tf, "data/.wh.big.bin")
    add(tf, "added", kind="dir", mtime=1600000000)
    add(tf, "added/file", b"x" * 5000, mode=0o600)
PY
shale import --parent test/oci:base "$T/top.tar" test/oci:1 >/dev/null
assert_eq "new" "$(shale ls test/oci:1 /usr/lib | xargs)"
expect_exit 1 shale cat test/oci:1 /etc/group
view test/oci:1 >"$T/view1.json"
mapfile -t layers1 < <(layer_ids test/oci:1)
assert_eq 2 "${#layers1[@]}" "layers of test/oci:1"

step "save is reproducible: the same bytes every time, in every format"
shale save test/oci:1 -o "$T/a.tar"
shale save test/oci:1 >"$T/a2.tar"
cmp "$T/a.tar" "$T/a2.tar" || fail "two OCI saves differ"
shale save --format docker test/oci:1 -o "$T/d.tar"
shale save --format docker -o "$T/d2.tar" test/oci:1
cmp "$T/d.tar" "$T/d2.tar" || fail "two docker saves differ"
shale save --compression zstd test/oci:1 -o "$T/z.tar"
shale save --compression zstd test/oci:1 -o "$T/z2.tar"
cmp "$T/z.tar" "$T/z2.tar" || fail "two zstd saves differ"
expect_exit 2 shale save --format tarball test/oci:1 -o "$T/x.tar"
expect_exit 1 shale save nosuch:image -o "$T/x.tar"
[ ! -e "$T/x.tar" ] || fail "a failed save left $T/x.tar"

step "the OCI layout is well formed: digests, media types, annotations"
mkdir "$T/a" && tar -C "$T/a" -xf "$T/a.tar"
python3 - "$T/a" <<'PY'
import gzip, hashlib, json, os, sys
root = sys.argv[1]
def blob(d):
    alg, hexd = d.split(":")
    p = os.path.join(root, "blobs", alg, hexd)
    data = open(p, "rb").read()
    assert hashlib.sha256(data).hexdigest() == hexd, p
    return data
assert json.load(open(f"{root}/oci-layout")) == {"imageLayoutVersion": "1.0.0"}
idx = json.load(open(f"{root}/index.json"))
assert idx["schemaVersion"] == 2 and len(idx["manifests"]) == 1, idx
d = idx["manifests"][0]
assert d["annotations"]["org.opencontainers.image.ref.name"] == "test/oci:1", d
m = json.loads(blob(d["digest"]))
assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
cfg = json.loads(blob(m["config"]["digest"]))
assert len(cfg["rootfs"]["diff_ids"]) == len(m["layers"]) == 2
for l, diff in zip(m["layers"], cfg["rootfs"]["diff_ids"]):
    assert l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip", l
    raw = blob(l["digest"])
    assert len(raw) == l["size"]
    assert raw[4:8] == b"\0\0\0\0", "gzip header with a timestamp"
    assert "sha256:" + hashlib.sha256(gzip.decompress(raw)).hexdigest() == diff
print("layout ok")
PY

step "save -> load gives the same layer ids (OCI, docker and zstd archives), into a pruned store"
shale rmi test/oci:base >/dev/null
for f in a d z; do
	shale rmi test/oci:1 >/dev/null
	shale prune >/dev/null
	out=$(shale load -i "$T/$f.tar")
	assert_eq "Loaded image: test/oci:1" "$out"
	mapfile -t layers < <(layer_ids test/oci:1)
	assert_eq "${layers1[*]}" "${layers[*]}" "layer ids after save/load ($f)"
	cmp "$T/view1.json" <(view test/oci:1) || fail "the tree changed through save/load ($f)"
done
shale load <"$T/d.tar" | grep -qx "Loaded image: test/oci:1" || fail "load from stdin"
# loading again stores nothing new
objs=$(count_objects)
shale load -q -i "$T/a.tar" >/dev/null
assert_eq "$objs" "$(count_objects)" "objects after loading the same archive again"

step "skopeo reads both formats; umoci unpacks shale's layout to shale's merged view"
skopeo inspect "oci-archive:$T/a.tar:test/oci:1" >"$T/skopeo.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["Layers"])==2, d' "$T/skopeo.json"
skopeo inspect "docker-archive:$T/d.tar" >/dev/null
skopeo copy -q "oci-archive:$T/a.tar:test/oci:1" "oci:$T/lay:copy"
umoci unpack --image "$T/lay:copy" "$T/bundle" >/dev/null
treecmp "$T/bundle/rootfs" --json "$T/view1.json"
for f in /data/hello.txt /added/file /usr/lib/new /etc/passwd /bin/busybox; do
	shale cat test/oci:1 "$f" | cmp - "$T/bundle/rootfs$f" || fail "content of $f"
done
skopeo copy -q "docker-archive:$T/d.tar" "oci:$T/lay:fromdocker"
rm -rf "$T/bundle2" && umoci unpack --image "$T/lay:fromdocker" "$T/bundle2" >/dev/null
treecmp "$T/bundle2/rootfs" --json "$T/view1.json" >/dev/null || fail "umoci on shale's docker-archive"

step "images made by umoci and skopeo load with the same tree (directory, tar, docker-archive)"
umoci init --layout "$T/u"
umoci new --image "$T/u:v1"
umoci insert --image "$T/u:v1" "$src/bin" /bin >/dev/null
umoci insert --image "$T/u:v1" "$src/data" /data >/dev/null
umoci insert --image "$T/u:v1" --whiteout /data/big.bin >/dev/null
# (not insert --opaque: umoci 0.4.7 writes that layer without its tar trailer)
umoci config --image "$T/u:v1" --config.cmd /bin/sh --config.env FOO=bar >/dev/null
umoci unpack --image "$T/u:v1" "$T/ubundle" >/dev/null
rm -r "$T/ubundle/rootfs/data/sub" && echo changed >"$T/ubundle/rootfs/data/hello.txt"
mkdir "$T/ubundle/rootfs/new" && echo new >"$T/ubundle/rootfs/new/file"
umoci repack --image "$T/u:v1" "$T/ubundle" >/dev/null
rm -rf "$T/ubundle" && umoci unpack --image "$T/u:v1" "$T/ubundle" >/dev/null
out=$(shale load "$T/u")
assert_eq "Loaded image: u:v1" "$out" "a bare OCI tag is named after the layout directory"
treecmp "$T/ubundle/rootfs" --json <(view u:v1)
shale inspect u:v1 | grep -q '"FOO=bar"' || fail "config lost"
tar -C "$T/u" -cf "$T/uimage.tar" .
shale rmi u:v1 >/dev/null
assert_eq "Loaded image: uimage:v1" "$(shale load -i "$T/uimage.tar")"
skopeo copy -q "oci:$T/u:v1" "docker-archive:$T/ud.tar:skopeo/made:v1"
assert_eq "Loaded image: skopeo/made:v1" "$(shale load -i "$T/ud.tar")"
treecmp "$T/ubundle/rootfs" --json <(view skopeo/made:v1) >/dev/null || fail "skopeo's docker-archive"
skopeo copy -q "oci:$T/u:v1" "oci-archive:$T/uz.tar:v1" --dest-compress-format zstd 2>/dev/null ||
	skopeo copy -q "oci:$T/u:v1" "oci-archive:$T/uz.tar:v1"
assert_eq "Loaded image: uz:v1" "$(shale load -i "$T/uz.tar")"

step "bad archives: clear errors, nothing stored"
before=$(images_state)
objs=$(count_objects)
bad() { # NAME: a broken copy of the layout in $T/bad-NAME, made by the python snippet on stdin
	rm -rf "$T/bad-$1" && cp -a "$T/a" "$T/bad-$1" && python3 - "$T/bad-$1"
}
fix_digests='
import hashlib, json, os, sys
root = sys.argv[1]
def path(d): return os.path.join(root, "blobs", *d.split(":"))
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(path(d), "wb").write(data); return d, len(data)
idx = json.load(open(root + "/index.json"))
m = json.load(open(path(idx["manifests"][0]["digest"])))
cfg = json.load(open(path(m["config"]["digest"])))
def save():
    m["config"]["digest"], m["config"]["size"] = put(json.dumps(cfg).encode())
    idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(m).encode())
    json.dump(idx, open(root + "/index.json", "w"))
'
bad blob <<PY
$fix_digests
p = path(m["layers"][1]["digest"])
data = bytearray(open(p, "rb").read()); data[len(data) // 2] ^= 0xff
open(p, "wb").write(data)
PY
expect_exit 1 shale load "$T/bad-blob"
assert_contains "$ERR" "digest mismatch"
bad diffid <<PY
$fix_digests
cfg["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
save()
PY
expect_exit 1 shale load "$T/bad-diffid"
assert_contains "$ERR" "diff_id mismatch"
bad manifest <<PY
$fix_digests
open(path(idx["manifests"][0]["digest"]), "ab").write(b" ")
PY
expect_exit 1 shale load "$T/bad-manifest"
assert_contains "$ERR" "digest mismatch"
bad json <<PY
import sys
open(sys.argv[1] + "/index.json", "w").write('{"schemaVersion": 2, "manifests": [')
PY
expect_exit 1 shale load "$T/bad-json"
assert_contains "$ERR" "malformed JSON"
bad count <<PY
$fix_digests
cfg["rootfs"]["diff_ids"].pop()
save()
PY
expect_exit 1 shale load "$T/bad-count"
assert_contains "$ERR" "diff_ids"
# a layer that escapes with "..": digests all right, the import refuses it, and
# the good layer imported before it is swept again
bad traversal <<PY
$fix_digests
import gzip, io, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    for name in ("ok", "../../evil"):
        ti = tarfile.TarInfo(name); ti.size = 4
        tf.addfile(ti, io.BytesIO(b"evil"))
raw = buf.getvalue()
m["layers"][1]["digest"], m["layers"][1]["size"] = put(gzip.compress(raw, mtime=0))
cfg["rootfs"]["diff_ids"][1] = "sha256:" + hashlib.sha256(raw).hexdigest()
save()
PY
shale rmi test/oci:1 >/dev/null && shale prune >/dev/null
before=$(images_state)
objs=$(count_objects)
expect_exit 1 shale load "$T/bad-traversal"
echo "  traversal: $ERR"
[ ! -e "$T/evil" ] && [ ! -e /evil ] || fail "a layer member escaped"
assert_eq "$objs" "$(count_objects)" "objects after a failed load"
# an outer archive with a member that climbs out, and junk
python3 - "$T/escape.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tf:
    ti = tarfile.TarInfo("../escaped"); ti.size = 1
    tf.addfile(ti, io.BytesIO(b"x"))
PY
expect_exit 1 shale load -i "$T/escape.tar"
[ ! -e "$T/../escaped" ] && [ ! -e "$SHALE_ROOT/tmp/escaped" ] || fail "an archive member escaped"
head -c 5000 /dev/urandom >"$T/junk.tar"
expect_exit 1 shale load -i "$T/junk.tar"
expect_exit 1 shale load -i "$T/none.tar"
mkdir "$T/empty"
expect_exit 1 shale load "$T/empty"
assert_contains "$ERR" "neither an OCI image layout"
# docker-archive whose config does not match its name
rm -rf "$T/dbad" && mkdir "$T/dbad" && tar -C "$T/dbad" -xf "$T/d.tar"
cfgname=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Config"])' "$T/dbad/manifest.json")
sed -i 's/"os":"linux"/"os":"linux" /' "$T/dbad/$cfgname"
tar -C "$T/dbad" -cf "$T/dbad.tar" .
expect_exit 1 shale load -i "$T/dbad.tar"
assert_contains "$ERR" "digest mismatch"
assert_eq "$before" "$(images_state)" "images after bad archives"
assert_eq "$objs" "$(count_objects)" "objects after bad archives"
ls "$SHALE_ROOT/tmp" | grep -q '^load-' && fail "a temp directory was left in ROOT/tmp"
expect_exit 2 shale load -i a b
expect_exit 2 shale load --bogus
echo "PASS"
