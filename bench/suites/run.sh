#!/usr/bin/env bash
# bench/suites/run.sh: `shale run IMAGE CMD` start-up.
#   RUNtrue_small / RUNtrue_big     `shale run IMAGE true` until it returns
#   RUNstart_small / RUNstart_big   from spawning `shale run IMAGE /stamp` to the command
#                                   running: /stamp (static, bench/c/stamp.c) prints the
#                                   realtime clock, compared with the harness's clock
# small = busybox-static rootfs + /stamp; big = the bench image (base+nm+big, ~1.4 GB)
# + /stamp. The host's own fork+exec of /stamp is the floor (system "host").
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
trap 'cleanup_mounts; rm -rf "$DATA/tmp/run-small" "$DATA/tmp/run-stamp"' EXIT
trap 'exit 130' INT TERM HUP
[ -n "${RAW:-}" ] || die "RAW is not set (run bench/run)"

suite_needs run RUNtrue_small RUNtrue_big RUNstart_small RUNstart_big
STAMP=$BENCH_BIN/stamp
[ -x "$STAMP" ] || die "$STAMP missing (build bench/)"
data_overlay
data_shale_store

# Images (cached in the bench store).
if ! shale inspect bench/run-small:latest >/dev/null 2>&1; then
  d=$DATA/tmp/run-small; rm -rf "$d"; mkdir -p "$d/bin" "$d/tmp"
  cp /bin/busybox "$d/bin/busybox" || die "busybox-static is needed (apt-get install busybox-static)"
  for a in sh true ls cat; do ln -s busybox "$d/bin/$a"; done
  cp "$STAMP" "$d/stamp"
  shale import "$d" bench/run-small:latest >/dev/null || die "import run-small failed"
fi
if ! shale inspect bench/run-big:latest >/dev/null 2>&1; then
  d=$DATA/tmp/run-stamp; rm -rf "$d"; mkdir -p "$d"; cp "$STAMP" "$d/stamp"
  shale import --parent "$(shale_image main)" "$d" bench/run-big:latest >/dev/null || die "import run-big failed"
fi

# --rm (as Docker) when shale run has it, so that runs leave no containers behind.
RUN_RM=(); "$SHALE" run --help 2>/dev/null | grep -q -- '--rm' && RUN_RM=(--rm)
runcmd() { SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" run "${RUN_RM[@]}" "$@"; }
start_latency() {   # prints seconds from spawn to the command's clock; CMD...
  local f=$DATA/tmp/stamp.out t0 t1
  t0=$EPOCHREALTIME
  "$@" >"$f" 2>/dev/null || return 1
  t1=$(head -c 30 "$f" | tr -d '\n')
  python3 -c 'import sys; print("%.6f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1"
}

for sz in small big; do
  rec_meta "RUNtrue_$sz" "shale run $sz image true (until it returns)" "" "" host
  rec_meta "RUNstart_$sz" "shale run $sz image: spawn to command running" "" "" host
done
for ((r = 1; r <= RUNS; r++)); do
  for sz in small big; do
    timeit /bin/true; rec_time "RUNtrue_$sz" host $r "$LAST_T"
    timeit runcmd "bench/run-$sz:latest" true >/dev/null 2>&1 || log "warning: shale run $sz true failed"
    rec_time "RUNtrue_$sz" shale $r "$LAST_T"
    v=$(start_latency "$STAMP") && rec_time "RUNstart_$sz" host $r "$v"
    v=$(start_latency runcmd "bench/run-$sz:latest" /stamp) && rec_time "RUNstart_$sz" shale $r "$v" ||
      log "warning: shale run $sz /stamp failed"
  done
done
rec_load RUN
