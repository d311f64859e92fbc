#!/usr/bin/env bash
# bench/suites/import.sh: `shale import` of the debootstrap rootfs (the base layer)
# against `tar -x` of the same tree into a folder; store growth for the same tree
# imported twice and for the tree with one file changed; peak memory of the import.
# Each run imports into a new, empty store ($DATA/tmp/import-store). The source tree
# and base.tar are read once before (page cache warm); `sync` before each timed run.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
trap 'cleanup_mounts; rm -rf "$DATA/tmp/import-store" "$DATA/tmp/import-tarx"' EXIT
trap 'exit 130' INT TERM HUP
[ -n "${RAW:-}" ] || die "RAW is not set (run bench/run)"

suite_needs import IMP IMPmem IMPgrowth
data_base
BASE=$DATA/layers/base
TAR=$DATA/base.tar
[ -f "$TAR" ] || { log "dataset: base.tar"; tar -cf "$TAR.tmp" -C "$BASE" . && mv "$TAR.tmp" "$TAR"; }

# base-mod: the base tree with one byte changed in its largest file (cached).
MOD=$DATA/layers/base-mod
BIGGEST=$(cd "$BASE" && find . -type f -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2-)
if [ ! -d "$MOD" ]; then
  log "dataset: base-mod (one byte changed in $BIGGEST)"
  rm -rf "$MOD.tmp"; cp -a "$BASE" "$MOD.tmp"
  python3 - "$MOD.tmp/$BIGGEST" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(st.st_size // 2)
    b = f.read(1)
    f.seek(st.st_size // 2)
    f.write(bytes([b[0] ^ 0xFF]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
  mv "$MOD.tmp" "$MOD"
fi

ENTRIES=$(find "$BASE" -mindepth 1 | wc -l)
BYTES=$(du -sb "$BASE" | cut -f1)
STORE=$DATA/tmp/import-store
XDIR=$DATA/tmp/import-tarx
ishale() { SHALE_ROOT=$STORE "$SHALE" "$@"; }
fresh_store() { rm -rf "$STORE"; mkdir -p "$STORE"; ishale init >/dev/null 2>&1; sync; }

rec_meta IMP "import of the base rootfs ($ENTRIES entries, $((BYTES / 1000000)) MB): shale import vs tar -x" \
  "$ENTRIES,$BYTES" "entries/s,MB/s" tar-x
tar -cf /dev/null -C "$BASE" . ; cat "$TAR" >/dev/null
for ((r = 1; r <= RUNS_SLOW; r++)); do
  # tar -x into an empty folder (no sync: what tar itself costs)
  rm -rf "$XDIR"; mkdir -p "$XDIR"; sync
  timeit tar -xf "$TAR" -C "$XDIR"; rec_time IMP tar-x $r "$LAST_T"
  # the same followed by sync (shale import makes its objects durable)
  rm -rf "$XDIR"; mkdir -p "$XDIR"; sync
  t0=$EPOCHREALTIME; tar -xf "$TAR" -C "$XDIR"; sync; t1=$EPOCHREALTIME
  rec_time IMP tar-x+sync $r "$(usecs_to_s $(( ${t1/./} - ${t0/./} )))"
  rm -rf "$XDIR"
  fresh_store
  timeit ishale import "$BASE" bench/base >/dev/null || log "warning: shale import DIR failed"
  rec_time IMP shale-import-dir $r "$LAST_T"
  fresh_store
  timeit ishale import "$TAR" bench/base >/dev/null || log "warning: shale import TAR failed"
  rec_time IMP shale-import-tar $r "$LAST_T"
done
rec_load IMP

# Peak memory (one run each, /usr/bin/time -v, separate from the timed runs).
rec_meta IMPmem "peak RSS of the import of the base rootfs (/usr/bin/time -v)" "" "" tar-x
rm -rf "$XDIR"; mkdir -p "$XDIR"
rec_time IMPmem tar-x 1 "$(time_v_kib tar -xf "$TAR" -C "$XDIR")" KiB
rm -rf "$XDIR"
fresh_store; rec_time IMPmem shale-import-dir 1 "$(time_v_kib env SHALE_ROOT="$STORE" "$SHALE" import "$BASE" bench/base)" KiB
fresh_store; rec_time IMPmem shale-import-tar 1 "$(time_v_kib env SHALE_ROOT="$STORE" "$SHALE" import "$TAR" bench/base)" KiB

# Store growth: same tree twice, then the tree with one byte changed in its largest file.
rec_meta IMPgrowth "store growth (allocated bytes): first import, same tree again, one file changed" "" "" none
fresh_store; s0=$(store_bytes "$STORE")
ishale import "$BASE" growth/a >/dev/null; sync; s1=$(store_bytes "$STORE")
ishale import "$BASE" growth/b >/dev/null; sync; s2=$(store_bytes "$STORE")
ishale import "$MOD" growth/c >/dev/null; sync; s3=$(store_bytes "$STORE")
objs=$(find "$STORE/objects" -type f 2>/dev/null | wc -l)
rec_time IMPgrowth first-import 1 $((s1 - s0)) bytes
rec_time IMPgrowth same-tree-again 1 $((s2 - s1)) bytes
rec_time IMPgrowth one-file-changed 1 $((s3 - s2)) bytes
rec_check IMPgrowth shale "tree_bytes=$BYTES store_after_first=$s1 growth_same_tree=$((s2 - s1)) growth_one_file_changed=$((s3 - s2)) changed_file=$BIGGEST($(stat -c %s "$BASE/$BIGGEST") bytes) objects=$objs"
