#!/usr/bin/env bash
# bench/suites/commit.sh: `shale commit` of a mount's upper into a new image.
#   CMTbig    upper holds one new 1 GiB file (random bytes, so nothing dedups)
#   CMTsmall  upper holds 50,000 new small files (tar -x of small-files.tar)
#   CMTdedup  the 1 GiB lower file rewritten with one byte changed (copyup): the store
#             should grow by about one 1 MiB chunk, not 1 GiB
# Preparation (fresh mount of the bench image, the writes, sync) is untimed; the timed
# command is `shale commit MNT NAME`. Needs `shale mount` (writable) and `shale commit`.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../lib/common.sh"
source "$here/../lib/data.sh"
trap 'cleanup_mounts' EXIT
trap 'exit 130' INT TERM HUP
[ -n "${RAW:-}" ] || die "RAW is not set (run bench/run)"

suite_needs commit CMTbig CMTsmall CMTdedup
suite_needs mount CMTbig CMTsmall CMTdedup
SMALL_N=$([ "$QUICK" = 1 ] && echo 5000 || echo 50000)
BIG_BYTES=$((BIG_MIB * 1048576))

# The commit command: `shale commit TARGET NAME`, TARGET the mount point when the verb's
# help names one, else the mount's container (Docker's `commit CONTAINER NAME`). The
# target is found before the timed command.
commit_cmd() { SHALE_ROOT=$SHALE_ROOT_BENCH "$SHALE" commit "$1" "$2" >/dev/null; }
commit_target() {   # MNT
  if "$SHALE" commit --help 2>/dev/null | grep -qi 'MOUNTPOINT'; then echo "$1"; return; fi
  shale mounts --format json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if isinstance(r, dict) and r.get("mountpoint") == sys.argv[1]:
        print(r.get("container") or r.get("name") or sys.argv[1])
        sys.exit(0)
print(sys.argv[1])' "$1"
}

data_overlay
data_shale_store
shale_writable || { for w in CMTbig CMTsmall CMTdedup; do rec_na "$w" shale "$SHALE_NA_RO"; done; exit 0; }

# small-files.tar: SMALL_N files of 100-4000 bytes in 100 folders (cached).
ST=$DATA/small-files.tar
if [ ! -f "$ST" ]; then
  log "dataset: small-files.tar ($SMALL_N files)"
  python3 - "$ST.tmp" "$SMALL_N" <<'PY'
import io, random, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
with tarfile.open(out, "w") as t:
    for i in range(n):
        data = (f"file {i} ".encode() * 500)[: rnd.randint(100, 4000)]
        ti = tarfile.TarInfo(f"small/d{i % 100:02d}/f{i:05d}")
        ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
        t.addfile(ti, io.BytesIO(data))
PY
  mv "$ST.tmp" "$ST"
fi

IMG=$(shale_image main)
n_img=0
cmt() {   # ID ROUND: timed commit of the mounted upper, then umount
  n_img=$((n_img + 1))
  local target; target=$(commit_target "$MNT")
  sync
  timeit commit_cmd "$target" "benchcommit/$(printf %s "$1" | tr A-Z a-z):r$2" || log "warning: $1 commit failed"
  rec_time "$1" shale "$2" "$LAST_T"
}

rec_meta CMTbig "commit of an upper with one new $BIG_MIB MiB file" "$BIG_BYTES" MiB/s none
rec_meta CMTsmall "commit of an upper with $SMALL_N small files" "$SMALL_N" files/s none
# Drop the images made here (the bench store is a cache of the datasets only).
drop_images() {
  local i
  for i in $(shale images 2>/dev/null | awk '$1 ~ /^benchcommit\/cmt(big|small|dedup)$/ {print $1 ":" $2}'); do
    shale rmi "$i" >/dev/null 2>&1
  done
}
rec_meta CMTdedup "commit of the $BIG_MIB MiB lower file with one byte changed" "" "" none
for ((r = 1; r <= RUNS_SLOW; r++)); do
  sys_fresh shale main
  mkdir -p "$MNT/srv"
  dd if=/dev/urandom of="$MNT/srv/new.bin" bs=1M count="$BIG_MIB" iflag=fullblock status=none
  cmt CMTbig $r
  sys_down shale

  sys_fresh shale main
  tar -xf "$ST" -C "$MNT/srv" 2>/dev/null || { mkdir -p "$MNT/srv"; tar -xf "$ST" -C "$MNT/srv"; }
  cmt CMTsmall $r
  sys_down shale

  sys_fresh shale main
  "$BENCH_BIN/copyup" "$MNT/$BIG_REL"
  # and a mark no other image holds, in the same chunk: else that chunk may be
  # one the store already has (the run suite's images), and dedup hides it
  printf 'commit round %s %s' "$r" "$(date +%s%N)" |
    dd of="$MNT/$BIG_REL" bs=1 seek=4096 conv=notrunc status=none
  s0=$(store_bytes "$SHALE_ROOT_BENCH/objects")
  cmt CMTdedup $r
  sync; s1=$(store_bytes "$SHALE_ROOT_BENCH/objects")
  rec_check CMTdedup shale "round=$r objects_growth_bytes=$((s1 - s0)) (expected about one chunk: 1048576)"
  sys_down shale
  drop_images   # else the next round's chunk is already there
done
rec_load CMT
drop_images
shale prune >/dev/null 2>&1 || true
