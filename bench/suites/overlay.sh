#!/usr/bin/env bash
# bench/suites/overlay.sh [WORKLOAD...]: the workloads of shared/baseline/RESULTS.md
# (W0-W7, same datasets, commands and method) plus W8, on each system of $SYSTEMS,
# interleaved by rounds (round r runs every system once, then round r+1).
# Run by bench/run, which sets the environment (see lib/common.sh).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
trap 'cleanup_mounts' EXIT
trap 'exit 130' INT TERM HUP

ALL="W0 W1 W2 W3 W4warm W4cold W5data W5mid W5chmod W5chmodbig W6a W6b W7 W8"
COPYUP=$BENCH_BIN/copyup
STATLOOP=$BENCH_BIN/statloop
human_mib() { if [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi; }
BIG_H=$(human_mib "$BIG_MIB"); MID_H=$(human_mib "$MID_MIB")
BIG_BYTES=$((BIG_MIB * 1048576)); MID_BYTES=$((MID_MIB * 1048576))

# Expand group names: W4 -> W4warm W4cold, W5 -> W5*, W6 -> W6a W6b.
expand() {
  local w
  for w in "$@"; do
    case $w in
      all|overlay) echo $ALL ;;
      W4) echo W4warm W4cold ;;
      W5) echo W5data W5mid W5chmod W5chmodbig ;;
      W6) echo W6a W6b ;;
      W0|W1|W2|W3|W4warm|W4cold|W5data|W5mid|W5chmod|W5chmodbig|W6a|W6b|W7|W8) echo "$w" ;;
      *) die "overlay: unknown workload $w (known: $ALL W4 W5 W6)" ;;
    esac
  done
}

# write_sys ID: the systems that can run a workload that writes (shale only once its
# mount takes writes); records n/a for the others.
SHALE_RO=0
write_sys() {
  local s out=""
  for s in $SYS; do
    if [ "$s" = shale ] && [ "$SHALE_RO" = 1 ]; then rec_na "$1" shale "$SHALE_NA_RO"; continue; fi
    out+="$s "
  done
  echo "$out"
}

down_all() { local s; for s in $SYS; do sys_down "$s"; done; }

# A check line describing what a write workload left in the upper (after sync).
upper_check() {   # FILE (relative to the mount)
  sync
  local b; b=$(upper_bytes "$UP")
  local fb; fb=$(od -An -c -N1 "$MNT/$1" 2>/dev/null | tr -d ' ')
  echo "upper_apparent_bytes=${b% *} upper_alloc_bytes=${b#* } first_byte=$fb mode=$(stat -c %a "$MNT/$1") size=$(stat -c %s "$MNT/$1")"
}

# ---------------------------------------------------------------------------- W0, W1
w_W0() {
  rec_meta W0 "harness floor: fork+exec of /bin/true" "" "" none
  local r; for ((r = 1; r <= RUNS; r++)); do timeit /bin/true; rec_time W0 none $r "$LAST_T"; done
  rec_load W0
}

w_W1() {
  rec_meta W1mount "W1 mount of 3-layer stack (command returns)"
  rec_meta W1umount "W1 umount (command returns)"
  local r s
  for ((r = 1; r <= 2 * RUNS; r++)); do
    for s in $SYS; do
      sys_prep "$s"
      cd "$(stack_dir main)" || die "no stack"
      timeit mount_cmd "$s" main "$UP" "$MNT" || die "W1: mount $s failed"
      cd - >/dev/null
      rec_time W1mount "$s" $r "$LAST_T"
      ls "$MNT" >/dev/null
      timeit umount_cmd "$s" "$MNT" || die "W1: umount $s failed"
      rec_time W1umount "$s" $r "$LAST_T"
      wait_daemon_exit "$s" "$MNT"
    done
  done
  rec_load W1
}

# ---------------------------------------------------------------------------- W2, W3
MERGED_ENTRIES=
merged_check() {   # checks of the merged view of the main stack on SYS (mounted)
  local s=$1 e fb dg
  e=$(find "$MNT" | wc -l)
  fb=$(find "$MNT" -type f -printf '%s\n' | awk '{t += $1} END {printf "%d", t}')
  # Agreement across systems: digest of the sorted listing (type, mode, owner, file size,
  # link target, path); directory sizes differ between implementations and are left out.
  dg=$(find "$MNT" -mindepth 1 -printf '%y\t%s\t%m\t%U:%G\t%l\t%P\n' |
       awk -F'\t' -v OFS='\t' '$1 != "f" {$2 = 0} 1' | LC_ALL=C sort | md5sum | cut -c1-12)
  rec_check "$2" "$s" "entries=$e file_bytes=$fb view_digest=$dg"
  MERGED_ENTRIES=$e
}

w_W2() {
  local r s
  for s in $SYS; do sys_fresh "$s" main; find "$MNT" -printf '%s %m\n' >/dev/null; done
  for ((r = 1; r <= RUNS; r++)); do
    for s in $SYS; do
      sys_at "$s"
      timeit find "$MNT" -printf '%s %m\n' >/dev/null
      rec_time W2 "$s" $r "$LAST_T"
    done
  done
  for s in $SYS; do sys_at "$s"; merged_check "$s" W2; done
  down_all
  rec_meta W2 "W2 warm find over merged tree" "$MERGED_ENTRIES" entries/s
  rec_load W2
}

w_W3() {
  local r s
  for ((r = 1; r <= RUNS; r++)); do
    for s in $SYS; do
      sys_fresh "$s" main
      drop_caches
      timeit find "$MNT" -printf '%s %m\n' >/dev/null
      rec_time W3 "$s" $r "$LAST_T"
    done
  done
  local first=${SYS%% *}
  [ -n "$first" ] && { sys_at "$first"; MERGED_ENTRIES=$(find "$MNT" | wc -l); }
  down_all
  rec_meta W3 "W3 cold find (fresh mount + drop_caches)" "$MERGED_ENTRIES" entries/s
  rec_load W3
}

# ---------------------------------------------------------------------------- W4
w_W4warm() {
  rec_meta W4warm "W4 seq read $BIG_H, warm" "$BIG_BYTES" MiB/s
  local r s
  for s in $SYS; do sys_fresh "$s" main; dd if="$MNT/$BIG_REL" of=/dev/null bs=1M status=none; done
  for ((r = 1; r <= RUNS; r++)); do
    for s in $SYS; do
      sys_at "$s"
      timeit dd if="$MNT/$BIG_REL" of=/dev/null bs=1M status=none
      rec_time W4warm "$s" $r "$LAST_T"
    done
  done
  down_all
  rec_load W4warm
}

w_W4cold() {
  rec_meta W4cold "W4 seq read $BIG_H, cold" "$BIG_BYTES" MiB/s
  local r s
  for ((r = 1; r <= RUNS_SLOW; r++)); do
    for s in $SYS; do
      sys_fresh "$s" main
      drop_caches
      timeit dd if="$MNT/$BIG_REL" of=/dev/null bs=1M status=none
      rec_time W4cold "$s" $r "$LAST_T"
    done
  done
  down_all
  rec_load W4cold
}

# ---------------------------------------------------------------------------- W5
# Prepare: fresh mount; lower big files read once (page cache warm); sync.
w5_prep() {
  sys_fresh "$1" main
  cat "$MNT/$BIG_REL" "$MNT/$MID_REL" >/dev/null
  sync
}
# With copyup, a second row (ID + "in"): the seconds the program itself measured from
# open to the end of close, the copy-up latency without the fork and exec (see W0).
w5() {   # ID LABEL RUNS FILE COMMAND...
  local id=$1 label=$2 runs=$3 file=$4 amount=$5 unit=$6; shift 6
  local inside=; [ "$1" = "$COPYUP" ] && inside=$RAW/$id.inside
  rec_meta "$id" "$label" "$amount" "$unit"
  [ -n "$inside" ] && rec_meta "${id}in" "${label/W5 copy-up:/W5 copy-up inside the program (open to close):}" "$amount" "$unit"
  local r s ws; ws=$(write_sys "$id"); local SYS=$ws
  for ((r = 1; r <= runs; r++)); do
    for s in $SYS; do
      w5_prep "$s"
      timeit "$@" "$MNT/$file" >"${inside:-/dev/null}" || log "warning: $id $s: command failed"
      rec_time "$id" "$s" $r "$LAST_T"
      [ -n "$inside" ] && rec_time "${id}in" "$s" $r "$(cat "$inside")"
      [ $r = "$runs" ] && rec_check "$id" "$s" "$(upper_check "$file")"
    done
  done
  down_all
  rec_load "$id"
}
w_W5data()     { w5 W5data "W5 copy-up: 1-byte write to $BIG_H lower file" "$RUNS_SLOW" "$BIG_REL" "$BIG_BYTES" MiB/s "$COPYUP"; }
w_W5mid()      { w5 W5mid "W5 copy-up: 1-byte write to $MID_H lower file" "$RUNS" "$MID_REL" "$MID_BYTES" MiB/s "$COPYUP"; }
w_W5chmod()    { w5 W5chmod "W5 chmod of small lower file" "$RUNS" etc/debian_version "" "" chmod 600; }
w_W5chmodbig() { w5 W5chmodbig "W5 chmod of $BIG_H lower file" "$RUNS_SLOW" "$BIG_REL" "" "" chmod 600; }

# ---------------------------------------------------------------------------- W6
TAR_ENTRIES=
w_W6a() {
  [ -n "$TAR_ENTRIES" ] || TAR_ENTRIES=$(tar -tf "$DATA/node_modules.tar" | wc -l)
  rec_meta W6a "W6 tar -x node_modules ($TAR_ENTRIES entries) into mount" "$TAR_ENTRIES" entries/s
  local r s ws; ws=$(write_sys W6a); local SYS=$ws
  for ((r = 1; r <= RUNS_SLOW; r++)); do
    for s in $SYS; do
      sys_fresh "$s" main
      mkdir -p "$MNT/srv/extract"
      sync
      timeit tar -xf "$DATA/node_modules.tar" -C "$MNT/srv/extract" || log "warning: W6a $s: tar failed"
      rec_time W6a "$s" $r "$LAST_T"
      if [ $r = "$RUNS_SLOW" ]; then
        sync
        rec_check W6a "$s" "entries_in_mount=$(count_entries "$MNT/srv/extract") upper_entries=$(count_entries "$UP") tar_entries=$TAR_ENTRIES"
      fi
    done
  done
  down_all
  rec_load W6a
}

w_W6b() {
  local n; n=$(find "$DATA/layers/nm/$NM_REL" | wc -l)
  rec_meta W6b "W6 rm -rf lower node_modules ($n entries)" "$n" entries/s
  local r s ws; ws=$(write_sys W6b); local SYS=$ws
  for ((r = 1; r <= RUNS_SLOW; r++)); do
    for s in $SYS; do
      sys_fresh "$s" main
      local before; before=$(find "$MNT/$NM_REL" | wc -l)
      sync
      timeit rm -rf "$MNT/$NM_REL" || log "warning: W6b $s: rm failed"
      rec_time W6b "$s" $r "$LAST_T"
      if [ $r = "$RUNS_SLOW" ]; then
        sync
        local gone=no b; [ -e "$MNT/$NM_REL" ] || gone=yes
        b=$(upper_bytes "$UP")
        rec_check W6b "$s" "removed_entries=$before gone=$gone upper_entries=$(count_entries "$UP") upper_chardev_whiteouts=$(find "$UP" -type c 2>/dev/null | wc -l) upper_alloc_bytes=${b#* }"
      fi
    done
  done
  down_all
  rec_load W6b
}

# ---------------------------------------------------------------------------- W7
w_W7() {
  local n r s v
  for n in $DEPTHS; do
    rec_meta "W7warm_N$n" "W7 stat() warm, $n layers (ns/stat, same path ${STATS_WARM}x)"
    rec_meta "W7cold_N$n" "W7 stat() cold, $n layers (ns/stat, $THIN_FILES distinct files)"
    # warm: mount once, one warm-up loop, then the counted loops
    for s in $SYS; do sys_fresh "$s" "N$n"; "$STATLOOP" same "$STATS_WARM" "$MNT/deep/target" >/dev/null; done
    for ((r = 1; r <= RUNS; r++)); do
      for s in $SYS; do
        sys_at "$s"
        v=$("$STATLOOP" same "$STATS_WARM" "$MNT/deep/target") || { log "warning: W7 $s N$n warm failed"; continue; }
        rec_time "W7warm_N$n" "$s" $r "$v" ns
      done
    done
    for s in $SYS; do
      sys_at "$s"
      local del1=visible deln=visible
      [ -e "$MNT/deep/del_1" ] || del1=hidden
      [ -e "$MNT/deep/del_$n" ] || deln=hidden
      rec_check "W7_N$n" "$s" "deep_entries=$(ls -A "$MNT/deep" | wc -l) shared=$(cat "$MNT/common/shared.txt") del_1=$del1 del_$n=$deln"
    done
    # cold: fresh mount + drop_caches before each run
    for ((r = 1; r <= RUNS; r++)); do
      for s in $SYS; do
        sys_fresh "$s" "N$n"
        drop_caches
        v=$("$STATLOOP" list "$THIN_FILES" "$MNT/deep") || { log "warning: W7 $s N$n cold failed"; continue; }
        rec_time "W7cold_N$n" "$s" $r "$v" ns
      done
    done
    down_all
  done
  rec_load W7
}

# ---------------------------------------------------------------------------- W8
# Sequential write of the big file's bytes (random, read from the dataset folder, so in
# page cache) into a new file in the mount; W8 without and W8fsync with conv=fsync.
w8() {   # ID LABEL DD_EXTRA...
  local id=$1 label=$2; shift 2
  rec_meta "$id" "$label" "$BIG_BYTES" MiB/s
  cat "$DATA/layers/big/$BIG_REL" >/dev/null
  local r s ws; ws=$(write_sys "$id"); local SYS=$ws
  for ((r = 1; r <= RUNS_SLOW; r++)); do
    for s in $SYS; do
      sys_fresh "$s" main
      mkdir -p "$MNT/srv"
      sync
      timeit dd if="$DATA/layers/big/$BIG_REL" of="$MNT/srv/w8.bin" bs=1M status=none "$@" ||
        log "warning: $id $s: dd failed"
      rec_time "$id" "$s" $r "$LAST_T"
      [ $r = "$RUNS_SLOW" ] && rec_check "$id" "$s" "$(upper_check srv/w8.bin)"
    done
  done
  down_all
  rec_load "$id"
}
w_W8() {
  w8 W8 "W8 seq write $BIG_H into mount (dd bs=1M)"
  w8 W8fsync "W8 seq write $BIG_H into mount (dd bs=1M conv=fsync)" conv=fsync
}

# ---------------------------------------------------------------------------- main
[ -n "${RAW:-}" ] || die "RAW is not set (run bench/run)"
mkdir -p "$RAW" "$MNTROOT" "$UPROOT"
[ -x "$COPYUP" ] && [ -x "$STATLOOP" ] || die "bench programs missing in $BENCH_BIN (build with cmake)"
WL=$(expand "${@:-all}")
data_overlay
SYS=""
for s in $SYSTEMS; do
  case $s in kovl|fovl|shale) ;; *) die "unknown system $s (known: kovl fovl shale)" ;; esac
done
if [[ " $SYSTEMS " == *" shale "* ]]; then
  if shale_has mount; then data_shale_store; fi
fi
SYS=$(runnable_systems ${WL//W0/})
shale_has_upper_opt   # decided once, before anything is timed
if [[ " $SYS " == *" shale "* ]] && ! shale_writable; then SHALE_RO=1; log "shale mounts are read-only: write workloads n/a for shale"; fi
log "overlay suite: workloads: $WL; systems: ${SYS:-none}"
for w in $WL; do
  log "workload $w"
  "w_$w"
done
