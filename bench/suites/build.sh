#!/usr/bin/env bash
# bench/suites/build.sh: `shale build` of shared/examples/node-app.
#   BLDfull        full build, no cache (`--no-cache`)
#   BLDedit        rebuild after an edit of server.js, Dockerfile (reuses `npm install`)
#   BLDedit_naive  the same with Dockerfile.naive (redoes `npm install`)
#   BLDnoop        rebuild with nothing changed
#   BLDten         store growth over ten builds, each after a small edit of server.js
# Base image `node`: the minbase rootfs plus `RUN apt-get install nodejs npm`, built once
# in the build store ($DATA/build-store). `RUN npm install` needs the npm registry.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
trap 'cleanup_mounts' EXIT
trap 'exit 130' INT TERM HUP
[ -n "${RAW:-}" ] || die "RAW is not set (run bench/run)"

suite_needs build BLDfull BLDedit BLDedit_naive BLDnoop BLDten
APP_SRC=${APP_SRC:-$PROJECT_SRC/../shared/examples/node-app}
[ -f "$APP_SRC/Dockerfile" ] || die "no example app at $APP_SRC"
BSTORE=$DATA/build-store
bshale() { SHALE_ROOT=$BSTORE "$SHALE" "$@"; }

# The base image `node` (cached in the build store): the minbase rootfs of the overlay
# suite with Debian's nodejs and npm installed by a RUN, as the issue asks (debootstrap
# --include=nodejs,npm cannot order npm's dependency cycle). Needs the Debian mirror.
data_base
mkdir -p "$BSTORE"
if ! bshale inspect node:latest >/dev/null 2>&1; then
  bshale inspect debian:bookworm >/dev/null 2>&1 ||
    bshale import "$DATA/layers/base" debian:bookworm >/dev/null || die "import of the base rootfs failed"
  log "build store: building node (RUN apt-get install nodejs npm, a few minutes)"
  NODE_CTX=$DATA/tmp/node-base
  rm -rf "$NODE_CTX"; mkdir -p "$NODE_CTX/certs"
  # The host's own CAs (a TLS-intercepting proxy's, say), as Docker users add them:
  # without them npm in the container cannot reach the registry the host reaches.
  cp /usr/local/share/ca-certificates/*.crt "$NODE_CTX/certs/" 2>/dev/null || true
  cat >"$NODE_CTX/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
DOCKERFILE
  bshale build -t node:latest "$NODE_CTX" >"$DATA/build-node.log" 2>&1 ||
    die "building the node image failed, see $DATA/build-node.log"
fi

CTX=$DATA/tmp/node-app
rm -rf "$CTX"; mkdir -p "$CTX"; cp -a "$APP_SRC/." "$CTX/"; chmod -R u+w "$CTX"
edits=0
edit() { edits=$((edits + 1)); echo "// bench edit $edits" >>"$CTX/server.js"; }
build() {   # ID SYSTEM ROUND ARGS...: timed shale build ARGS CTX
  local id=$1 s=$2 r=$3; shift 3
  timeit bshale build "$@" "$CTX" >>"$RAW/build.log" 2>&1 || log "warning: $id: shale build $* failed (see $RAW/build.log)"
  rec_time "$id" "$s" "$r" "$LAST_T"
}

rec_meta BLDfull "shale build node-app, no cache" "" "" none
rec_meta BLDedit "rebuild after a server.js edit (Dockerfile: npm install cached)" "" "" none
rec_meta BLDedit_naive "rebuild after a server.js edit (Dockerfile.naive: npm install again)" "" "" none
rec_meta BLDnoop "rebuild, nothing changed" "" "" none
for ((r = 1; r <= RUNS_SLOW; r++)); do
  build BLDfull shale $r --no-cache -t bench-app:full
done
# warm the cache of both Dockerfiles once (untimed)
bshale build -t bench-app:edit "$CTX" >>"$RAW/build.log" 2>&1
bshale build -f "$CTX/Dockerfile.naive" -t bench-app:naive "$CTX" >>"$RAW/build.log" 2>&1
for ((r = 1; r <= RUNS_SLOW; r++)); do
  edit; build BLDedit shale $r -t bench-app:edit
  edit; build BLDedit_naive shale $r -f "$CTX/Dockerfile.naive" -t bench-app:naive
  build BLDnoop shale $r -t bench-app:edit
done
rec_load BLD

rec_meta BLDten "store growth over ten builds with small edits (Dockerfile)" "" "" none
sync; s0=$(store_bytes "$BSTORE")
for ((i = 1; i <= 10; i++)); do edit; bshale build -t bench-app:edit "$CTX" >>"$RAW/build.log" 2>&1; done
sync; s1=$(store_bytes "$BSTORE")
rec_time BLDten shale 1 $((s1 - s0)) bytes
rec_check BLDten shale "store_before=$s0 store_after=$s1 growth=$((s1 - s0)) images=$(bshale images 2>/dev/null | tail -n +2 | wc -l)"
