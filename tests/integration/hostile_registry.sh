#!/usr/bin/env bash
# A registry that lies (issue 9, item 4): shale pull from a small python server
# on loopback (tests/integration/hostile_registry.py) that answers a manifest for
# another digest, a Docker-Content-Digest that is not its content's, bodies and
# headers that never end, a blob longer than its manifest says, wrong bytes, and
# a layer that climbs out. Each must fail with one clear line and exit status 1,
# within bounded time and disk, leaving the store as it was (same images, no new
# object, no blob or partial download kept, fsck clean).
source "$(dirname "$0")/lib.sh"
source "$TESTS/hostile_lib.sh"
hostile_setup ""

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
"$PY" "$TESTS/hostile_registry.py" "$T/port" "$T/registry.log" &
REG_PID=$!
test_cleanup() { kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; }
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || fail "the hostile registry did not start: $(cat "$T/registry.log")"
R=127.0.0.1:$(cat "$T/port")/h/img

# A runaway download would fill the disk: every pull runs with a 64 MiB file
# size limit (a file that grows past it kills shale: exit status 153, not 1) and
# a time limit.
pull() { (ulimit -f 65536 && exec timeout 60 "$SHALE" pull --insecure -q "$@"); }

step "a well-behaved image first (and the store as it is then)"
pull "$R:good" >/dev/null
assert_eq "hello from the registry" "$(shale cat "$R:good" /hello)"
good=$("$PY" -c '
import hashlib, sys, urllib.request
print(hashlib.sha256(urllib.request.urlopen("http://%s/v2/h/img/manifests/good" % sys.argv[1]).read()).hexdigest())' "${R%/h/img}")
store_snapshot
group_done

step "manifests: another image for a digest, a lying header, an index child with other bytes"
refused "manifest for another digest" "manifest digest mismatch: asked for sha256:$good, the registry sent" pull "$R@sha256:$good"
refused "Docker-Content-Digest of another manifest" "manifest digest mismatch: the registry says" pull "$R:liar"
refused "index child with other bytes" "manifest digest mismatch: the index says" pull "$R:index"
group_done

step "endless answers: bounded by shale's size limits"
refused "endless manifest" "response larger than 4194304 bytes" pull "$R:endless"
refused "Content-Length 2^63-1" "response larger than 4194304 bytes" pull "$R:hugelength"
refused "endless headers" "Too large response headers" pull "$R:headers"
refused "endless config blob" "response larger than 8388608 bytes" pull "$R:bigconfig"
refused "endless layer blob (size 1000)" "the registry sent more than its 1000 bytes" pull "$R:bigblob"
grep -q "endless body: client stopped after" "$T/registry.log" || fail "the server saw no endless body end"
group_done

step "blobs: wrong bytes, a layer that climbs out"
refused "layer blob with other bytes" "digest mismatch: the registry sent" pull "$R:wrongblob"
refused "layer with ../" "layer 2 (" pull "$R:evillayer"
assert_contains "$ERR" "'..' is not allowed in paths"
group_done

step "the same failures again: still clean (nothing was kept to resume from)"
refused "endless layer blob, again" "the registry sent more than its 1000 bytes" pull "$R:bigblob"
refused "layer with ../, again" "'..' is not allowed in paths" pull "$R:evillayer"
group_done
echo "PASS"
