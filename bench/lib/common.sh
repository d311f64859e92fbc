# bench/lib/common.sh: configuration, recording, timing and mount plumbing shared by
# bench/run and every bench/suites/*.sh. Sourced (bash); not meant to run on its own.
#
# Environment (bench/run sets all of these; a suite run by hand gets the defaults):
#   BENCH_DIR   dataset/cache root (default /var/tmp/shale-bench)
#   QUICK       1: reduced datasets under $BENCH_DIR/quick, fewer runs
#   RUNS        counted runs of fast workloads (default 5; W1 uses 2*RUNS)
#   RUNS_SLOW   counted runs of slow workloads (default 3)
#   SYSTEMS     overlay systems to compare (default "kovl fovl shale")
#   RAW         results directory of this run (times.tsv, checks.tsv, meta.tsv, na.tsv)
#   SHALE       the shale binary; BENCH_BIN the folder holding copyup/statloop/stamp

BENCH_SRC=${BENCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PROJECT_SRC=${PROJECT_SRC:-$(cd "$BENCH_SRC/.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$PROJECT_SRC/build-bench}
BENCH_DIR=${BENCH_DIR:-/var/tmp/shale-bench}
QUICK=${QUICK:-0}
SYSTEMS=${SYSTEMS:-kovl fovl shale}
SHALE=${SHALE:-$BUILD_DIR/tools/shale}
BENCH_BIN=${BENCH_BIN:-$BUILD_DIR/bench}

if [ "$QUICK" = 1 ]; then
  DATA=${DATA:-$BENCH_DIR/quick}
  RUNS=${RUNS:-2}; RUNS_SLOW=${RUNS_SLOW:-1}
  DEPTHS=${DEPTHS:-1 4 16}
  THIN_FILES=${THIN_FILES:-1000}
  BIG_MIB=${BIG_MIB:-64}; MID_MIB=${MID_MIB:-8}
  STATS_WARM=${STATS_WARM:-10000}
else
  DATA=${DATA:-$BENCH_DIR}
  RUNS=${RUNS:-5}; RUNS_SLOW=${RUNS_SLOW:-3}
  DEPTHS=${DEPTHS:-1 16 64 128}
  THIN_FILES=${THIN_FILES:-10000}
  BIG_MIB=${BIG_MIB:-1024}; MID_MIB=${MID_MIB:-64}
  STATS_WARM=${STATS_WARM:-100000}
fi
size_name() { if [ "$1" -ge 1024 ] && [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024))G"; else echo "${1}M"; fi; }
BIG_REL=data/big-$(size_name "$BIG_MIB").bin
MID_REL=data/mid-$(size_name "$MID_MIB").bin
NM_REL=usr/local/lib/app/node_modules
NPM_PKGS=${NPM_PKGS:-express typescript lodash webpack react react-dom eslint}
SHALE_ROOT_BENCH=$DATA/store          # the bench store (SHALE_ROOT for every shale call)
MNTROOT=$DATA/mnt
UPROOT=$DATA/up

log()  { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die()  { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------- recording
# times.tsv: workload system round value unit      (value: seconds unless unit says)
# checks.tsv: workload system text                  (untimed checks, load)
# meta.tsv: workload label throughput_amount throughput_unit baseline
# na.tsv: workload system reason                    (rows that could not run)
rec_time()  { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-s}" >>"$RAW/times.tsv"; }
rec_check() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW/checks.tsv"; log "check $1 $2: $3"; }
rec_meta()  { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${3:-}" "${4:-}" "${5:-kovl}" >>"$RAW/meta.tsv"; }
rec_na()    { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW/na.tsv"; log "n/a $1 $2: $3"; }
rec_load()  { rec_check "$1" - "load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)"; }

# LAST_T: seconds taken by "$@", read with $EPOCHREALTIME just before and after; the
# command is spawned directly by this shell (fork+exec inside the measurement).
LAST_T=
timeit() {
  local t0 t1 rc
  t0=$EPOCHREALTIME
  "$@"
  rc=$?
  t1=$EPOCHREALTIME
  LAST_T=$(usecs_to_s $(( ${t1/./} - ${t0/./} )))
  return $rc
}
usecs_to_s() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# ---------------------------------------------------------------------------- shale
shale() { SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" "$@"; }
# shale_has VERB: the verb is listed by `shale --help`.
shale_has() { [ -x "$SHALE" ] && "$SHALE" --help 2>/dev/null | grep -Eq "^[[:space:]]+$1([[:space:]]|$)"; }
SHALE_NA_MOUNT="n/a (shale mount not available yet)"

# Image names of the stacks in the bench store.
shale_image() { case $1 in main) echo bench/big:latest ;; N*) echo "bench/thin-n${1#N}:l$(( ${1#N} - 1 ))" ;; esac; }

# ---------------------------------------------------------------------------- systems
# Stacks: "main" = big:nm:base (top first), "N<n>" = thin/N<n>/L<n-1>:...:L0.
# Lower dirs are given relative to the stack's folder (the mount runs there), so that
# 128 lower dirs fit in one page of mount options whatever the dataset path.
stack_dir()    { case $1 in main) echo "$DATA/layers" ;; N*) echo "$DATA/thin/$1" ;; esac; }
stack_lowers() {
  case $1 in
    main) echo big:nm:base ;;
    N*) local n=${1#N} i s=""; for ((i = n - 1; i >= 0; i--)); do s+="L$i:"; done; echo "${s%:}" ;;
  esac
}

sys_daemon() { case $1 in fovl) echo fuse-overlayfs ;; shale) echo shale ;; *) echo "" ;; esac; }
# daemon_pids NAME MNT: live (not zombie) processes called NAME whose command line names MNT.
daemon_pids() {
  local p
  for p in $(pgrep -x "$1" 2>/dev/null); do
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] && continue
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- " $2\( \|$\)" && echo "$p"
  done
}
wait_daemon_exit() {   # SYS MNT: wait (untimed) until the FUSE daemon of MNT is gone
  local d; d=$(sys_daemon "$1"); [ -n "$d" ] || return 0
  local i; for ((i = 0; i < 500; i++)); do [ -z "$(daemon_pids "$d" "$2")" ] && return 0; sleep 0.01; done
  log "warning: $d for $2 still running after 5 s"
}

# mount_cmd SYS STACK UP MNT: the exact mount command of RESULTS.md (run in the stack's folder).
mount_cmd() {
  local sys=$1 stack=$2 up=$3 mnt=$4
  case $sys in
    kovl) mount -t overlay overlay -o "lowerdir=$(stack_lowers "$stack"),upperdir=$up,workdir=$up.work" "$mnt" ;;
    fovl) fuse-overlayfs -o "lowerdir=$(stack_lowers "$stack"),upperdir=$up,workdir=$up.work" "$mnt" 2>>"${RAW:-/tmp}/fovl.log" 9>&- ;;
    shale) if shale_has_upper_opt; then
             SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" mount --upper "$up" "$(shale_image "$stack")" "$mnt" 9>&-
           else
             SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" mount "$(shale_image "$stack")" "$mnt" 9>&-
           fi ;;
    *) die "unknown system $sys" ;;
  esac
}
umount_cmd() {
  case $1 in
    kovl) umount "$2" ;;
    fovl) fusermount3 -u "$2" ;;
    shale) SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" umount "$2" ;;
  esac
}
is_mounted() { awk -v m="$1" '$2 == m {f = 1} END {exit !f}' /proc/mounts; }

# shale mount --upper DIR: the harness gives shale the same fresh upper folder as the
# others (DATA/up/shale); without the option each mount makes a new container in the store.
SHALE_UPPER_OPT=
shale_has_upper_opt() {
  [ -n "$SHALE_UPPER_OPT" ] || SHALE_UPPER_OPT=$("$SHALE" mount --help 2>/dev/null | grep -q -- '--upper' && echo yes || echo no)
  [ "$SHALE_UPPER_OPT" = yes ]
}

# Globals set by sys_prep: MNT, UP (for shale, UP is known once mounted).
MNT= UP=
# sys_prep SYS: unmount if mounted, fresh empty upper and work dir. Untimed.
sys_prep() {
  MNT=$MNTROOT/$1 UP=$UPROOT/$1
  sys_down "$1"
  mkdir -p "$MNT"
  if [ "$1" != shale ] || shale_has_upper_opt; then rm -rf "$UP" "$UP.work"; mkdir -p "$UP" "$UP.work"; fi
}
# sys_mount SYS STACK: mount (in the stack's folder) on the prepared MNT/UP.
sys_mount() {
  (cd "$(stack_dir "$2")" && mount_cmd "$1" "$2" "$UP" "$MNT") || die "mount $1 $2 failed (fovl: see $RAW/fovl.log)"
  [ "$1" = shale ] && ! shale_has_upper_opt && UP=$(shale_upper "$MNT")
  return 0
}
# sys_fresh SYS STACK: sys_prep + sys_mount.
sys_fresh() { sys_prep "$1"; sys_mount "$1" "$2"; }
# sys_at SYS: set MNT/UP of a system that is already mounted.
sys_at() {
  MNT=$MNTROOT/$1 UP=$UPROOT/$1
  [ "$1" = shale ] && ! shale_has_upper_opt && UP=$(shale_upper "$MNT")
  return 0
}
sys_down() {   # SYS: unmount its mount point if mounted, wait for the daemon
  local mnt=$MNTROOT/$1
  if is_mounted "$mnt"; then umount_cmd "$1" "$mnt" || umount -l "$mnt"; fi
  wait_daemon_exit "$1" "$mnt"
}

# shale_upper MNT: the upper folder of a shale mount, from `shale mounts --format json`
# (falls back to the store's `mounts` table); empty while shale mounts are read-only.
shale_upper() {
  local u
  u=$(shale mounts --format json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:   # one JSON object per line (a JSON array is accepted too)
    try:
        d = json.loads(line)
    except ValueError:
        continue
    for r in (d if isinstance(d, list) else [d]):
        if isinstance(r, dict) and r.get("mountpoint") == sys.argv[1] and r.get("upper"):
            print(r["upper"])
            sys.exit(0)' "$1")
  [ -z "$u" ] && u=$(mdb_dump -p -s mounts "$SHALE_ROOT_BENCH/db" 2>/dev/null | grep -A1 -F " $1" | tail -1 |
      sed -n 's/.*"upper" *: *"\([^"]*\)".*/\1/p')
  echo "${u%/}"
}
# shale_writable: a fresh shale mount of the main stack accepts writes (not "ro").
shale_writable() {
  local m=$MNTROOT/shale-probe u=$UPROOT/shale-probe rc=1
  rm -rf "$u" "$u.work"; mkdir -p "$m" "$u" "$u.work"
  mount_cmd shale main "$u" "$m" >/dev/null 2>&1 || return 1
  awk -v m="$m" '$2 == m {split($4, o, ","); for (i in o) if (o[i] == "ro") exit 1; exit 0}' /proc/mounts && rc=0
  umount_cmd shale "$m" >/dev/null 2>&1; wait_daemon_exit shale "$m"
  return $rc
}
SHALE_NA_RO="n/a (shale mount is read-only yet: no copy-up)"

# cleanup_mounts [FOLDER]: unmount everything mounted under FOLDER (default: this
# dataset's mount points), last mounted first.
cleanup_mounts() {
  local m under=${1:-$MNTROOT/}
  for m in $(awk -v a="$under" 'index($2, a) == 1 {print $2}' /proc/mounts | tac); do
    case $m in
      */mnt/shale*) SHALE_ROOT=${m%/mnt/*}/store "$SHALE" umount "$m" 2>/dev/null ;;
      *) case $(awk -v m="$m" '$2 == m {print $3}' /proc/mounts | tail -1) in
           fuse*) fusermount3 -u "$m" 2>/dev/null ;;
           *) umount "$m" 2>/dev/null ;;
         esac ;;
    esac
    is_mounted "$m" && umount -l "$m" 2>/dev/null
  done
  return 0
}

# Systems of $SYSTEMS that can run now; records an n/a row per workload for the others.
# usage: runnable_systems WORKLOAD...   -> prints the list
runnable_systems() {
  local s out=""
  for s in $SYSTEMS; do
    if [ "$s" = shale ] && ! shale_has mount; then
      local w; for w in "$@"; do rec_na "$w" shale "$SHALE_NA_MOUNT"; done
      continue
    fi
    out+="$s "
  done
  echo "$out"
}

# upper_bytes DIR: "apparent alloc" bytes of a folder (du, untimed).
upper_bytes() { echo "$(du -sb "$1" 2>/dev/null | cut -f1) $(du -sB1 "$1" 2>/dev/null | cut -f1)"; }
count_entries() { find "$1" 2>/dev/null | wc -l; }

# suite_needs VERB WORKLOAD...: when shale lacks VERB, record every workload as
# "n/a (not implemented yet)" and end the suite successfully.
suite_needs() {
  local verb=$1 w; shift
  shale_has "$verb" && return 0
  for w in "$@"; do rec_na "$w" shale "n/a (not implemented yet: shale $verb)"; done
  exit 0
}
# time_v_kib COMMAND...: run under /usr/bin/time -v, print the peak RSS in KiB.
time_v_kib() {
  local f; f=$(mktemp)
  /usr/bin/time -v -o "$f" "$@" >/dev/null 2>&1
  awk -F': ' '/Maximum resident set size/ {print $2}' "$f"; rm -f "$f"
}
store_bytes() { du -sB1 "$1" 2>/dev/null | cut -f1; }   # allocated bytes of a store folder
