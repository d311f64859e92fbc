#!/usr/bin/env bash
# Interrupted pulls and pushes: a registry connection cut mid-blob (a python TCP
# proxy that drops it after N bytes) and a shale killed with SIGKILL. Each time
# the store stays consistent, and running the command again finishes the job
# without transferring again what was complete.
source "$(dirname "$0")/lib.sh"
source "$TESTS/registry_env.sh"

view() { shale ls -R --format json "$1"; }
blob_sum() { # bytes of the layer blobs of an image in the registry
	python3 - "$REG_DATA" "$1" <<'PY'
import json, os, sys
root, repo_tag = sys.argv[1], sys.argv[2]
repo, tag = repo_tag.rsplit(":", 1)
v2 = os.path.join(root, "docker/registry/v2")
def blob(d):
    h = d.split(":")[1]
    return open(os.path.join(v2, "blobs/sha256", h[:2], h, "data"), "rb").read()
link = open(os.path.join(v2, "repositories", repo, "_manifests/tags", tag, "current/link")).read()
m = json.loads(blob(link))
print(sum(l["size"] for l in m["layers"]))
PY
}

step "an image with two large incompressible layers, in a registry without auth"
make_busybox_rootfs "$T/base"
head -c 8000000 /dev/urandom >"$T/base/big1.bin"
tar -C "$T/base" -cf "$T/base.tar" .
shale import "$T/base.tar" test/big:base >/dev/null
mkdir -p "$T/top" && head -c 8000000 /dev/urandom >"$T/top/big2.bin"
tar -C "$T/top" -cf "$T/top.tar" .
shale import --parent test/big:base "$T/top.tar" test/big:1 >/dev/null
view test/big:1 >"$T/big.json"
start_registry reg
shale push --insecure -q test/big:1 "$REG/test/big:1" >/dev/null
total=$(blob_sum test/big:1)
echo "  layer blobs: $total bytes"

step "a pull whose connection is cut mid-blob fails cleanly and keeps what it got"
start_proxy cutter "$REG_PORT" --cut-down 12000000
export SHALE_ROOT=$T/store2
expect_exit 1 shale pull --insecure "$PROXY/test/big:1"
echo "  $ERR"
assert_contains "$ERR" "run the command again to resume"
expect_exit 1 shale ls "$PROXY/test/big:1"  # no image, no tag
assert_eq 0 "$(count_objects)" "objects after a cut pull"
ls -l "$SHALE_ROOT/tmp/blobs/sha256"
ls "$SHALE_ROOT/tmp/blobs/sha256" | grep -q '\.partial$' || fail "no partial download kept"
first=$(proxy_down cutter)

step "the rerun resumes: it transfers less than the blobs, and the image is whole"
shale pull --insecure -q "$PROXY/test/big:1" >/dev/null
second=$(($(proxy_down cutter) - first))
echo "  first run: $first bytes, second run: $second bytes, layer blobs: $total bytes"
[ "$second" -lt "$((total - 8000000))" ] || fail "the rerun transferred $second bytes: not resumed"
cmp "$T/big.json" <(view "$PROXY/test/big:1") || fail "the resumed image differs"
[ -z "$(ls "$SHALE_ROOT/tmp/blobs/sha256")" ] || fail "downloads left after a complete pull"
grep -q '"GET /v2/test/big/blobs/sha256:[0-9a-f]* HTTP/1.1" 206' "$REG_LOG" || fail "no ranged GET (206) in the registry log"

step "a pull killed with SIGKILL mid-download resumes too"
start_proxy slow "$REG_PORT" --rate 3000000
export SHALE_ROOT=$T/store3
"$SHALE" pull --insecure -q "$PROXY/test/big:1" >/dev/null 2>&1 &  # the binary, so SIGKILL reaches it
pid=$!
for i in $(seq 100); do
	[ -n "$(find "$SHALE_ROOT/tmp/blobs" -name '*.partial' -size +2000k 2>/dev/null || true)" ] && break
	sleep 0.1
done || true
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
expect_exit 1 shale ls "$PROXY/test/big:1"  # no image, no tag
first=$(proxy_down slow)
shale pull --insecure -q "$PROXY/test/big:1" >/dev/null
second=$(($(proxy_down slow) - first))
echo "  killed after $first bytes, the rerun took $second of $total"
[ "$second" -lt "$total" ] || fail "the rerun after a kill transferred everything again"
cmp "$T/big.json" <(view "$PROXY/test/big:1") || fail "image after the killed pull"

step "a push cut mid-upload: the rerun uploads only the blob that did not arrive"
export SHALE_ROOT=$T/store
start_registry reg2
start_proxy upcut "$REG_PORT" --cut-up 12000000
expect_exit 1 shale push --insecure test/big:1 "$PROXY/test/big:1"
echo "  $ERR"
out=$(shale push --insecure test/big:1 "$PROXY/test/big:1")
assert_contains "$out" "Layer already exists"   # the first layer arrived the first time
uploaded_blobs "$REG_LOG" | sort | uniq -d >"$T/twice"
[ ! -s "$T/twice" ] || fail "blobs uploaded twice: $(cat "$T/twice")"
SHALE_ROOT=$T/store4 shale pull --insecure -q "$PROXY/test/big:1" >/dev/null
SHALE_ROOT=$T/store4 shale ls -R --format json "$PROXY/test/big:1" | cmp - "$T/big.json" ||
	fail "the image pushed in two runs differs"

step "a push killed with SIGKILL: the store is intact and the rerun finishes"
start_registry reg3
start_proxy slowup "$REG_PORT" --rate 3000000
"$SHALE" push --insecure -q test/big:1 "$PROXY/test/big:1" >/dev/null 2>&1 &  # the binary, so SIGKILL reaches it
pid=$!
for i in $(seq 100); do
	[ "$(proxy_up slowup)" -gt 10000000 ] && break
	sleep 0.1
done || true
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
cmp "$T/big.json" <(view test/big:1) || fail "the store changed"
shale push --insecure -q test/big:1 "$PROXY/test/big:1" >/dev/null
SHALE_ROOT=$T/store5 shale pull --insecure -q "$PROXY/test/big:1" >/dev/null
SHALE_ROOT=$T/store5 shale ls -R --format json "$PROXY/test/big:1" | cmp - "$T/big.json" ||
	fail "the image pushed after a kill differs"
echo "PASS"
