#!/usr/bin/env bash
# bench/suites/registry.sh: push and pull of the same image to and from the same
# local registry (Debian's docker-registry on 127.0.0.1), shale against skopeo, in
# the same run; medians of several runs, printed as a markdown table.
#
#   bench/suites/registry.sh [--runs N] [--keep]
#
# Runs alone (defaults below) or from bench/run (which sets RAW, DATA, RUNS_SLOW and
# SHALE; rows then also go to RAW/times.tsv). The shale binary: $SHALE, else
# build/tools/shale of this checkout.
#
# The image (built once, cached under DATA/registry): three layers, the base rootfs
# of the other suites (debootstrap minbase, DATA/layers/base), node_modules
# (DATA/layers/nm, else /usr/include) and 64 MiB from /dev/urandom.
#   REGpush      push to an empty registry. shale makes its gzip blobs from the store
#                (they are not kept); skopeo copies the blobs of an OCI layout
#                (`shale save` of the same image, so the very same blobs).
#   REGpush-zstd the same push with --compression zstd (shale only).
#   REGrepush    push again: every blob is there (HEAD only).
#   REGpull      pull into a new, empty place: shale into a new store (download,
#                check every digest, import); skopeo into a new OCI layout directory
#                (download and check, no unpacking).
#   REGpull+x    skopeo pull followed by `umoci unpack` (a usable rootfs, as shale's).
# Each run uses fresh registries (one per tool, new storage, new port), so nothing
# is reused across runs; the order of the tools alternates between runs.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_SRC=${PROJECT_SRC:-$(cd "$here/../.." && pwd)}
SHALE=${SHALE:-$PROJECT_SRC/build/tools/shale}
ARGS=("$@")
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS_SLOW=$2; shift 2 ;;
    --runs=*) RUNS_SLOW=${1#--runs=}; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "registry.sh: unknown argument $1 (--runs N, --keep)" >&2; exit 2 ;;
  esac
done
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
RUNS_SLOW=${RUNS_SLOW:-3}
for tool in docker-registry skopeo umoci python3; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"
done
[ -x "$SHALE" ] || die "no shale binary at $SHALE (set SHALE or build build/)"

W=$DATA/registry            # this suite's folder
RUNDIR=$W/run
PIDS=()
stop_registries() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
}
trap 'stop_registries; [ "$KEEP" = 1 ] || rm -rf "$RUNDIR"' EXIT
trap 'exit 130' INT TERM HUP
mkdir -p "$W"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_registry NAME: a registry with its own storage; sets REG (127.0.0.1:PORT).
start_registry() {
  local port; port=$(free_port)
  mkdir -p "$RUNDIR/$1"
  REGISTRY_HTTP_ADDR=127.0.0.1:$port REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=$RUNDIR/$1/data \
    docker-registry serve "$PROJECT_SRC/tests/integration/registry.yml" >"$RUNDIR/$1/log" 2>&1 &
  PIDS+=($!)
  REG=127.0.0.1:$port
  local i
  for ((i = 0; i < 100; i++)); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$REG/v2/', timeout=1)" 2>/dev/null && return 0
    sleep 0.1
  done
  die "docker-registry did not start (see $RUNDIR/$1/log)"
}

# ---------------------------------------------------------------------------- the image
data_base
L1=$DATA/layers/base
L2=$DATA/layers/nm
if [ ! -d "$L2" ]; then
  L2=$W/include
  [ -d "$L2" ] || { log "dataset: /usr/include as the second layer"; rm -rf "$L2.tmp"; mkdir -p "$L2.tmp/usr"; cp -a /usr/include "$L2.tmp/usr/" && mv "$L2.tmp" "$L2"; }
fi
L3=$W/random
[ -d "$L3" ] || { log "dataset: 64 MiB from /dev/urandom"; rm -rf "$L3.tmp"; mkdir -p "$L3.tmp/data"; head -c 67108864 /dev/urandom >"$L3.tmp/data/random.bin" && mv "$L3.tmp" "$L3"; }
STORE=$W/store
IMG=bench/registry:1
pshale() { SHALE_ROOT=$STORE "$SHALE" "$@"; }
if ! pshale ls "$IMG" / >/dev/null 2>&1; then
  log "image: importing the three layers into $STORE"
  rm -rf "$STORE"
  pshale import "$L1" bench/registry:l1 >/dev/null &&
    pshale import --parent bench/registry:l1 "$L2" bench/registry:l2 >/dev/null &&
    pshale import --parent bench/registry:l2 "$L3" "$IMG" >/dev/null || die "import failed"
fi
# The same image as an OCI layout, for skopeo (same blobs: shale's export is reproducible).
OCI=$W/oci
rm -rf "$OCI" && mkdir -p "$OCI"
pshale save "$IMG" | tar -x -C "$OCI" || die "shale save failed"
read -r NLAYERS BLOB_BYTES TAR_BYTES < <(python3 - "$OCI" <<'PY'
import json, os, sys
root = sys.argv[1]
idx = json.load(open(f"{root}/index.json"))
blob = lambda d: os.path.join(root, "blobs", *d.split(":"))
m = json.load(open(blob(idx["manifests"][0]["digest"])))
print(len(m["layers"]), sum(l["size"] for l in m["layers"]),
      sum(os.path.getsize(blob(l["digest"])) for l in m["layers"]))
PY
)
MB=$(python3 -c "print(round($BLOB_BYTES / 1e6, 1))")
REF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$OCI/index.json")
log "image: $NLAYERS layers, $MB MB of gzip blobs"

# ---------------------------------------------------------------------------- timing
declare -A T   # T[op,tool] = "t1 t2 ..."
rec() {   # OP TOOL ROUND SECONDS
  T[$1,$2]="${T[$1,$2]:-} $4"
  [ -n "${RAW:-}" ] && rec_time "$1" "$2" "$3" "$4"
  return 0
}
run_timed() {   # OP TOOL ROUND CMD...
  local op=$1 tool=$2 r=$3; shift 3
  timeit "$@" >>"$RUNDIR/out.log" 2>&1 || die "$op $tool failed: $* (see $RUNDIR/out.log)"
  rec "$op" "$tool" "$r" "$LAST_T"
}
if [ -n "${RAW:-}" ]; then
  rec_meta REGpush "push to an empty registry ($NLAYERS layers, $MB MB gzip)" "$BLOB_BYTES" MB/s skopeo
  rec_meta REGpush-zstd "push to an empty registry, zstd blobs (shale only)" "" "" none
  rec_meta REGrepush "push again (every blob there)" "" "" skopeo
  rec_meta REGpull "pull into an empty store / OCI layout ($MB MB)" "$BLOB_BYTES" MB/s skopeo
  rec_meta REGpull+x "pull and unpack (shale: into the store; skopeo copy + umoci unpack)" "$BLOB_BYTES" MB/s skopeo
fi

skopeo_flags=(--dest-tls-verify=false --src-tls-verify=false)
for ((r = 1; r <= RUNS_SLOW; r++)); do
  log "run $r of $RUNS_SLOW"
  rm -rf "$RUNDIR"; mkdir -p "$RUNDIR"
  start_registry reg-shale; RS=$REG
  start_registry reg-skopeo; RK=$REG
  order=(shale skopeo); [ $((r % 2)) = 0 ] && order=(skopeo shale)
  sync
  for tool in "${order[@]}"; do
    case $tool in
      shale) run_timed REGpush shale $r pshale push --insecure -q "$IMG" "$RS/bench/app:1" ;;
      skopeo) run_timed REGpush skopeo $r skopeo copy -q "${skopeo_flags[@]}" "oci:$OCI:$REF" "docker://$RK/bench/app:1" ;;
    esac
  done
  # shale only: the same push with zstd blobs (compression is most of a push)
  run_timed REGpush-zstd shale $r pshale push --insecure -q --compression zstd "$IMG" "$RS/bench/zstd:1"
  for tool in "${order[@]}"; do
    case $tool in
      shale) run_timed REGrepush shale $r pshale push --insecure -q "$IMG" "$RS/bench/app:1" ;;
      skopeo) run_timed REGrepush skopeo $r skopeo copy -q "${skopeo_flags[@]}" "oci:$OCI:$REF" "docker://$RK/bench/app:1" ;;
    esac
  done
  sync
  for tool in "${order[@]}"; do
    case $tool in
      shale)
        mkdir -p "$RUNDIR/pull-store"
        run_timed REGpull shale $r env SHALE_ROOT="$RUNDIR/pull-store" "$SHALE" pull --insecure -q "$RS/bench/app:1"
        rec REGpull+x shale $r "$LAST_T" ;;
      skopeo)
        run_timed REGpull skopeo $r skopeo copy -q "${skopeo_flags[@]}" "docker://$RK/bench/app:1" "oci:$RUNDIR/pull-oci:app"
        t_pull=$LAST_T
        timeit umoci unpack --image "$RUNDIR/pull-oci:app" "$RUNDIR/bundle" >>"$RUNDIR/out.log" 2>&1 || die "umoci unpack failed"
        rec REGpull+x skopeo $r "$(python3 -c "print('%.6f' % ($t_pull + $LAST_T))")" ;;
    esac
  done
  # both pulled the same tree
  if [ "$r" = 1 ]; then
    SHALE_ROOT=$RUNDIR/pull-store "$SHALE" ls -R --format json "$RS/bench/app:1" >"$RUNDIR/pulled.json"
    python3 "$PROJECT_SRC/tests/integration/treecmp.py" "$RUNDIR/bundle/rootfs" --json "$RUNDIR/pulled.json" >"$RUNDIR/treecmp.txt" ||
      log "warning: the trees pulled by shale and by skopeo+umoci differ (see $RUNDIR/treecmp.txt)"
  fi
  stop_registries
done

# ---------------------------------------------------------------------------- report
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {if (!NR) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
cell() {   # OP TOOL [MB]: "1.23 s (45.6 MB/s)"
  local m; m=$(echo "${T[$1,$2]:-}" | median)
  [ -z "$m" ] && { echo "-"; return; }
  if [ -n "${3:-}" ]; then python3 -c "print('%.2f s (%.0f MB/s)' % ($m, $3 / $m))"; else python3 -c "print('%.2f s' % $m)"; fi
}
ratio() { python3 -c "a, b = $1, $2; print('%.2f' % (a / b))" 2>/dev/null || echo "-"; }
{
  echo
  echo "### Registry push and pull: shale $("$SHALE" --version | awk '{print $3}') vs skopeo $(skopeo --version | awk '{print $3}')"
  echo
  echo "Image: $NLAYERS layers, $(python3 -c "print(round($TAR_BYTES / 1e6, 1))") MB of gzip blobs" \
       "(base rootfs, node_modules or /usr/include, 64 MiB random); docker-registry" \
       "$(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null) on 127.0.0.1, plain HTTP." \
       "Medians of $RUNS_SLOW runs; throughput = gzip blob bytes / time."
  echo
  echo "| operation | shale | skopeo | shale / skopeo |"
  echo "|---|---|---|---|"
  for op in REGpush REGpush-zstd REGrepush REGpull REGpull+x; do
    case $op in
      REGpush) label="push to an empty registry"; mb=$MB ;;
      REGpush-zstd) label="push to an empty registry, zstd blobs (shale only)"; mb= ;;
      REGrepush) label="push again (all blobs there)"; mb= ;;
      REGpull) label="pull (shale: into a new store; skopeo: into an OCI layout)"; mb=$MB ;;
      REGpull+x) label="pull and unpack (skopeo: + umoci unpack)"; mb=$MB ;;
    esac
    ms=$(echo "${T[$op,shale]:-}" | median); mk=$(echo "${T[$op,skopeo]:-}" | median)
    echo "| $label | $(cell "$op" shale "$mb") | $(cell "$op" skopeo "$mb") | $(ratio "${ms:-0}" "${mk:-0}") |"
  done
  echo
  echo "Reproduce: \`SHALE=$SHALE bench/suites/registry.sh ${ARGS[*]:-}\`" \
       "(data in $W; machine: $(nproc) CPUs, $(uname -r))."
} | tee "$W/report.md"
[ -n "${RAW:-}" ] && cp "$W/report.md" "$RAW/registry.md"
exit 0
