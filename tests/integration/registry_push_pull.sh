#!/usr/bin/env bash
# shale login / push / pull against a real registry (docker-registry, Basic auth),
# checked with skopeo and umoci both ways; re-pushes that upload nothing or one
# layer; a corrupted blob in the registry's storage that must store nothing.
source "$(dirname "$0")/lib.sh"
source "$TESTS/registry_env.sh"
for tool in skopeo umoci; do
	command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install $tool: .ci/packages)"
done

view() { shale ls -R --format json "$1"; }
sko() { skopeo "$@" 2>&1; }

step "images: a busybox base and two apps on it that differ in their top layer"
make_busybox_rootfs "$T/base"
echo "base" >"$T/base/etc/motd"
tar -C "$T/base" -cf "$T/base.tar" .
shale import "$T/base.tar" test/app:base >/dev/null
for v in 1 2; do
	mkdir -p "$T/app$v/app"
	head -c 3000000 /dev/urandom >"$T/app$v/app/data.bin"  # incompressible: 3 chunks of 1 MiB on the wire
	echo "version $v" >"$T/app$v/app/VERSION"
	ln -s VERSION "$T/app$v/app/current"
	touch "$T/app$v/app/.wh.nothing-below"  # a whiteout for a name that does not exist
	tar -C "$T/app$v" -cf "$T/app$v.tar" .
	shale import --parent test/app:base -m "app $v" "$T/app$v.tar" "test/app:$v" >/dev/null
done

step "a registry with Basic auth (htpasswd, bcrypt at its lowest cost: fast tests)"
python3 -W ignore -c 'import crypt; print("shale:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' >"$T/htpasswd"
start_registry reg "auth:
  htpasswd:
    realm: shale-tests
    path: $T/htpasswd"
creds=shale:s3cret

expect_exit 1 shale push test/app:1 "$REG/test/app:1"
assert_contains "$ERR" "--insecure"
expect_exit 1 shale push --insecure test/app:1 "$REG/test/app:1"
assert_contains "$ERR" "unauthorized"
expect_exit 1 shale login --insecure -u shale -p wrong "$REG"
assert_contains "$ERR" "unauthorized"
[ ! -e "$SHALE_ROOT/auth.json" ] || fail "bad credentials were kept"
out=$(echo s3cret | shale login --insecure -u shale --password-stdin "$REG")
assert_eq "Login Succeeded" "$out"
assert_eq 600 "$(stat -c %a "$SHALE_ROOT/auth.json")" "mode of the credentials file"

step "push (chunked), then skopeo inspects it and umoci unpacks it to shale's view"
out=$(shale push --insecure --chunk-size 1048576 test/app:1 "$REG/test/app:1")
echo "$out"
assert_contains "$out" "The push refers to repository [$REG/test/app]"
assert_contains "$out" "Pushed"
digest=$(echo "$out" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: .*/\1/p')
[ -n "$digest" ] || fail "no digest line"
grep -c '"PATCH /v2/test/app/blobs/uploads/' "$REG_LOG" | { read -r n; [ "$n" -ge 4 ] || fail "$n PATCH requests: not chunked"; }
sko inspect --tls-verify=false --creds "$creds" "docker://$REG/test/app:1" >"$T/inspect.json"
python3 - "$T/inspect.json" "$digest" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["Digest"] == sys.argv[2], (d["Digest"], sys.argv[2])
assert len(d["Layers"]) == 2 and d["Architecture"] and d["Os"] == "linux", d
PY
shale images --digests test/app | grep -q "$digest" || fail "images --digests does not show $digest"
sko copy --src-tls-verify=false --src-creds "$creds" "docker://$REG/test/app:1" "oci:$T/lay:app1" >/dev/null
umoci unpack --image "$T/lay:app1" "$T/bundle" >/dev/null
view test/app:1 >"$T/app1.json"
treecmp "$T/bundle/rootfs" --json "$T/app1.json"
for f in /app/data.bin /app/VERSION /etc/motd /bin/busybox /etc/passwd; do
	shale cat test/app:1 "$f" | cmp - "$T/bundle/rootfs$f" || fail "content of $f"
done

step "pushing again uploads nothing; the other app uploads exactly its one new layer"
n0=$(uploaded_blobs "$REG_LOG" | wc -l)
out=$(shale push --insecure test/app:1 "$REG/test/app:1")
assert_contains "$out" "Layer already exists"
assert_eq "$n0" "$(uploaded_blobs "$REG_LOG" | wc -l)" "blob uploads after pushing the same image again"
uploaded_blobs "$REG_LOG" >"$T/before2"
shale push --insecure test/app:2 "$REG/test/app:2" >/dev/null
uploaded_blobs "$REG_LOG" | grep -vxFf "$T/before2" >"$T/new2" || true
sko inspect --raw --tls-verify=false --creds "$creds" "docker://$REG/test/app:2" |
	python3 -c 'import json,sys; [print(l["digest"]) for l in json.load(sys.stdin)["layers"]]' >"$T/layers2"
assert_eq 1 "$(grep -cxFf "$T/layers2" "$T/new2")" "layer blobs uploaded for app:2"
# one argument: the image's own name says where; a destination without a tag takes IMAGE's
shale tag test/app:2 "$REG/test/app:two"
shale push --insecure -q "$REG/test/app:two" >/dev/null
shale push --insecure -q test/app:2 "$REG/other/app" >/dev/null
sko inspect --tls-verify=false --creds "$creds" "docker://$REG/other/app:2" >/dev/null ||
	fail "push to a repository without a tag"

step "pull into another store (its own login): the same tree, digest and layers"
export SHALE_ROOT=$T/store2
expect_exit 1 shale pull --insecure "$REG/test/app:1"
assert_contains "$ERR" "unauthorized"
shale login --insecure -u shale --password-stdin "$REG" <<<s3cret >/dev/null
out=$(shale pull --insecure "$REG/test/app:1")
echo "$out"
assert_contains "$out" "Digest: $digest"
assert_contains "$out" "Status: Downloaded newer image for $REG/test/app:1"
cmp "$T/app1.json" <(view "$REG/test/app:1") || fail "pulled tree differs from the pushed one"
shale images --digests | grep "$REG/test/app" | grep -q "$digest" || fail "digest of the pulled image"
gets=$(grep -c '"GET /v2/test/app/blobs/' "$T/reg/registry.log")
out=$(shale pull --insecure "$REG/test/app:1")
assert_contains "$out" "Image is up to date"
assert_eq "$gets" "$(grep -c '"GET /v2/test/app/blobs/' "$T/reg/registry.log")" "blob downloads for an image we have"
out=$(shale pull --insecure "$REG/test/app:2")
assert_contains "$out" "Already exists"  # the base layer
shale pull --insecure -q "$REG/test/app@$digest" >/dev/null
[ -z "$(ls "$SHALE_ROOT/tmp/blobs/sha256")" ] || fail "downloads left in ROOT/tmp/blobs"
export SHALE_ROOT=$T/store

step "an image made by umoci and pushed by skopeo (as a multi-platform index) pulls with the same tree"
umoci init --layout "$T/u"
umoci new --image "$T/u:v1"
umoci insert --image "$T/u:v1" "$T/base/bin" /bin >/dev/null
cp -a "$T/app1/app" "$T/uapp" && rm "$T/uapp/.wh.nothing-below"  # umoci refuses .wh. names
umoci insert --image "$T/u:v1" "$T/uapp" /app >/dev/null
umoci insert --image "$T/u:v1" --whiteout /app/current >/dev/null
umoci config --image "$T/u:v1" --config.env A=b --config.cmd /bin/sh >/dev/null
umoci unpack --image "$T/u:v1" "$T/ubundle" >/dev/null
# an index with the image for this machine and a decoy for another platform
python3 - "$T/u" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
idx = json.load(open(f"{root}/index.json"))
m = next(d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == "v1")
mine = dict(m, platform={"os": "linux", "architecture": os.uname().machine.replace("x86_64", "amd64").replace("aarch64", "arm64")})
mine.pop("annotations", None)
decoy = dict(mine, platform={"os": "linux", "architecture": "s390x"})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [decoy, mine]}).encode()
d = hashlib.sha256(body).hexdigest()
open(f"{root}/blobs/sha256/{d}", "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + d,
                         "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(f"{root}/index.json", "w"))
PY
sko copy --dest-tls-verify=false --dest-creds "$creds" "oci:$T/u:v1" "docker://$REG/umoci/img:v1" >/dev/null
sko copy --all --dest-tls-verify=false --dest-creds "$creds" "oci:$T/u:multi" "docker://$REG/umoci/img:multi" >/dev/null
shale pull --insecure -q "$REG/umoci/img:v1" >/dev/null
treecmp "$T/ubundle/rootfs" --json <(view "$REG/umoci/img:v1")
sko copy --format v2s2 --dest-tls-verify=false --dest-creds "$creds" "oci:$T/u:v1" "docker://$REG/umoci/img:v2s2" >/dev/null
sko inspect --raw --tls-verify=false --creds "$creds" "docker://$REG/umoci/img:v2s2" | grep -q 'application/vnd.docker.distribution.manifest.v2+json' ||
	fail "skopeo did not push a Docker v2 schema 2 manifest"
shale pull --insecure -q "$REG/umoci/img:v2s2" >/dev/null
treecmp "$T/ubundle/rootfs" --json <(view "$REG/umoci/img:v2s2") >/dev/null || fail "Docker v2 schema 2 image"
shale pull --insecure -q "$REG/umoci/img:multi" >/dev/null
treecmp "$T/ubundle/rootfs" --json <(view "$REG/umoci/img:multi") >/dev/null || fail "image picked from the index"
expect_exit 1 shale pull --insecure --platform linux/mips "$REG/umoci/img:multi"
assert_contains "$ERR" "no matching manifest"

step "a corrupted blob in the registry's storage: the pull fails and stores nothing"
big=$(sko inspect --raw --tls-verify=false --creds "$creds" "docker://$REG/test/app:1" |
	python3 -c 'import json,sys; print(max(json.load(sys.stdin)["layers"], key=lambda l: l["size"])["digest"])')
data=$(find "$REG_DATA" -path "*/blobs/sha256/*/${big#sha256:}/data")
[ -f "$data" ] || fail "no blob file for $big"
cp "$data" "$T/blob.orig"
python3 - "$data" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)
PY
export SHALE_ROOT=$T/store3
shale login --insecure -u shale -p s3cret "$REG" >/dev/null 2>&1
expect_exit 1 shale pull --insecure "$REG/test/app:1"
echo "  $ERR"
assert_contains "$ERR" "digest mismatch"
expect_exit 1 shale ls "$REG/test/app:1"  # no image, no tag
assert_eq 0 "$(count_objects)" "objects after a corrupt pull"
ls "$SHALE_ROOT/tmp/blobs/sha256" | grep -q "${big#sha256:}" && fail "the corrupt blob was kept"
cp "$T/blob.orig" "$data"
shale pull --insecure -q "$REG/test/app:1" >/dev/null
cmp "$T/app1.json" <(view "$REG/test/app:1") || fail "tree after the repaired pull"
export SHALE_ROOT=$T/store

step "an image whose config lies about a diff_id: the pull fails and stores nothing"
rm -rf "$T/lie" && mkdir "$T/lie" && shale save test/app:1 | tar -x -C "$T/lie"
python3 - "$T/lie" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
def path(d): return os.path.join(root, "blobs", *d.split(":"))
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(path(d), "wb").write(data); return d, len(data)
idx = json.load(open(root + "/index.json"))
m = json.load(open(path(idx["manifests"][0]["digest"])))
cfg = json.load(open(path(m["config"]["digest"])))
cfg["rootfs"]["diff_ids"][1] = "sha256:" + "1" * 64
m["config"]["digest"], m["config"]["size"] = put(json.dumps(cfg).encode())
idx["manifests"][0]["digest"], idx["manifests"][0]["size"] = put(json.dumps(m).encode())
idx["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "lie"}
json.dump(idx, open(root + "/index.json", "w"))
PY
sko copy --dest-tls-verify=false --dest-creds "$creds" "oci:$T/lie:lie" "docker://$REG/test/lie:1" >/dev/null
export SHALE_ROOT=$T/store6
shale login --insecure -u shale -p s3cret "$REG" >/dev/null 2>&1
expect_exit 1 shale pull --insecure "$REG/test/lie:1"
echo "  $ERR"
assert_contains "$ERR" "diff_id mismatch"
expect_exit 1 shale ls "$REG/test/lie:1"  # no image, no tag
assert_eq 0 "$(count_objects)" "objects after a pull with a bad diff_id"
export SHALE_ROOT=$T/store

step "errors and logout"
expect_exit 1 shale pull --insecure "$REG/test/app:nosuchtag"
assert_contains "$ERR" "not found"
expect_exit 1 shale pull --insecure "$REG/test/app@sha256:$(printf '0%.0s' {1..64})"
expect_exit 1 shale pull --insecure "127.0.0.1:1/test/app:1"
expect_exit 1 shale push --insecure nosuch:image "$REG/test/x:1"
expect_exit 1 shale pull "Bad/Name"
expect_exit 2 shale pull
expect_exit 2 shale push --compression xz test/app:1 "$REG/test/app:1"
assert_eq "Removing login credentials for $REG" "$(shale logout "$REG")"
assert_eq "Not logged in to $REG" "$(shale logout "$REG")"
expect_exit 1 shale push --insecure test/app:1 "$REG/test/app:1"
assert_contains "$ERR" "unauthorized"
echo "PASS"
