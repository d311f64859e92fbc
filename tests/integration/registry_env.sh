#!/usr/bin/env bash
# Real registries for the registry_*.sh tests: Debian's docker-registry on
# 127.0.0.1 (a free port, config tests/integration/registry.yml, storage in $T),
# optionally behind a python TCP proxy that counts bytes, slows down or cuts the
# connection. Everything started here is stopped by the test's cleanup.
#
# Sourced by the tests (after lib.sh); run alone, it checks that a registry
# starts, answers and stops.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	source "$(dirname "$0")/lib.sh"
fi
command -v docker-registry >/dev/null ||
	fail "docker-registry is missing (apt-get install docker-registry: .ci/packages)"

REG_PIDS=()
test_cleanup() {
	local p
	for p in "${REG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${REG_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until http://127.0.0.1:PORT/v2/ answers (any status).
wait_http() {
	local i
	for i in $(seq 100); do
		python3 - "$1" <<'PY' && return 0
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
		sleep 0.1
	done
	fail "nothing answers on port $1"
}

# start_registry NAME [EXTRA_YAML]: a registry in $T/NAME (storage, log, config);
# sets REG_PORT and REG (127.0.0.1:PORT), REG_LOG, REG_DATA.
start_registry() {
	local name=$1 extra=${2:-}
	REG_DATA=$T/$name/data
	REG_LOG=$T/$name/registry.log
	mkdir -p "$REG_DATA"
	cp "$TESTS/registry.yml" "$T/$name/config.yml"
	[ -n "$extra" ] && printf '%s\n' "$extra" >>"$T/$name/config.yml"
	REG_PORT=$(free_port)
	REG=127.0.0.1:$REG_PORT
	REGISTRY_HTTP_ADDR=$REG REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=$REG_DATA \
		docker-registry serve "$T/$name/config.yml" >"$REG_LOG" 2>&1 &
	REG_PIDS+=($!)
	wait_http "$REG_PORT"
}

# start_proxy NAME TARGET_PORT [--cut-down N] [--cut-up N] [--rate BYTES_PER_S]:
# a TCP proxy on a free port (PROXY_PORT, PROXY) that counts bytes each way in
# $T/NAME.bytes ("down up") and, once, cuts the connection after N bytes.
start_proxy() {
	local name=$1 target=$2
	shift 2
	PROXY_PORT=$(free_port)
	PROXY=127.0.0.1:$PROXY_PORT
	cat >"$T/proxy.py" <<'PY'
import argparse, socket, threading, time
ap = argparse.ArgumentParser()
ap.add_argument("port", type=int); ap.add_argument("target", type=int); ap.add_argument("stats")
ap.add_argument("--cut-down", type=int, default=0); ap.add_argument("--cut-up", type=int, default=0)
ap.add_argument("--rate", type=int, default=0)
a = ap.parse_args()
lock = threading.Lock()
count = {"down": 0, "up": 0}
cut = {"down": a.cut_down, "up": a.cut_up}
def record():
    with open(a.stats + ".tmp", "w") as f:
        f.write(f"{count['down']} {count['up']}\n")
    import os; os.replace(a.stats + ".tmp", a.stats)
def pipe(src, dst, way, pair):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with lock:
                limit = cut[way]
                if limit and count[way] + len(data) >= limit:
                    # send up to the limit, then drop both ends (once)
                    data = data[: limit - count[way]]
                    cut[way] = 0
                    count[way] += len(data)
                    record()
                    dst.sendall(data)
                    for s in pair:  # a reset, as when a peer dies
                        try:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                            s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's thread
                            s.close()
                        except OSError: pass
                    return
                count[way] += len(data)
                record()
            if a.rate:
                time.sleep(len(data) / a.rate)
            dst.sendall(data)
    except OSError:
        pass
    for s in pair:
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", a.port)); srv.listen(64)
record()
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", a.target))
    pair = (c, u)
    threading.Thread(target=pipe, args=(u, c, "down", pair), daemon=True).start()
    threading.Thread(target=pipe, args=(c, u, "up", pair), daemon=True).start()
PY
	python3 "$T/proxy.py" "$PROXY_PORT" "$target" "$T/$name.bytes" "$@" >"$T/$name.log" 2>&1 &
	REG_PIDS+=($!)
	wait_http "$PROXY_PORT"
}
proxy_down() { cut -d' ' -f1 "$T/$1.bytes"; }
proxy_up() { cut -d' ' -f2 "$T/$1.bytes"; }

# Blob uploads the registry completed (PUT .../blobs/uploads/...?digest=), one digest a line.
uploaded_blobs() {
	grep -o '"PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]*[^"]*" 201' "$1" |
		grep -o 'sha256%3A[0-9a-f]*' | sed 's/%3A/:/' || true
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	step "a registry starts, answers and stops"
	start_registry smoke
	start_proxy smokeproxy "$REG_PORT"
	python3 -c "import urllib.request; urllib.request.urlopen('http://$PROXY/v2/')"
	[ "$(proxy_down smokeproxy)" -gt 0 ] || fail "the proxy counted nothing"
	grep -q '"GET /v2/ HTTP/1.1" 200' "$REG_LOG" || fail "no access log"
	echo "PASS"
fi
