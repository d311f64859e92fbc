#!/usr/bin/env bash
# Soak: a random workload (fsstress.py) on a writable mount, whose daemon must
# not grow; then the tree is the same after a remount and in a commit, and the
# daemon exits clean (under ASan, LeakSanitizer reports what it lost).
#
#   SOAK_SECONDS=N   the soak's length (default 25 s)
#   SOAK_RSS_KB=N    the allowed growth of the daemon's anonymous memory
#
# It runs in both builds of .ci/test (label "plain"): under ASan for memory
# errors and leaks, without sanitizers for a tight bound on the memory.
# A long soak (ctest stops a test after 600 s), in a build without sanitizers:
#   cd build && SHALE=$PWD/tools/shale SOAK_SECONDS=600 bash ../tests/integration/soak.sh
#
# What is measured: the daemon's RssAnon (its heap and stacks; not the LMDB
# map or the program's pages, which the kernel may map in at any time) after a
# warm-up and at the end. Worker threads are made under load (up to 16) and
# kept, each with its 1 MiB request and reply buffers: the warm-up's bursts
# of writers and readers make most of them, and one made later, under a
# loaded CI, is allowed its buffers. Measured on 2 cores, 25 s soaks:
#  - without sanitizers: +0.25-0.77 MiB in 38,000-48,000 operations (6-20
#    bytes each), also beside two busy loops; with an LD_PRELOAD wrapper of
#    fuse_reply_err that leaks 256 bytes a call: +12.6 MiB (the bound: 4 MiB);
#  - under ASan (a 1 MiB quarantine): +0.7-3.3 MiB (the bound: 16 MiB).
# A CI run once failed with +19.5 MiB under ASan: three 1 MiB thread-local
# buffers (digests, fsck, save) made every thread of every shale process,
# each FUSE worker included, 3 MiB larger, and the pool grew during the soak.
# They are on the heap now; the program's TLS block must stay small. (The
# daemon also fixes glibc's mmap threshold, whose adaptive one kept up to
# 2 MiB of freed blocks in each arena a worker used: +7.6 MiB in one soak.)
SOAK_SECONDS=${SOAK_SECONDS:-25}
TEST_TIMEOUT=${TEST_TIMEOUT:-$((SOAK_SECONDS > 50 ? SOAK_SECONDS + 450 : 500))}
source "$(dirname "$0")/lib.sh"

M=$T/m
mkdir -p "$M"

step "each thread's TLS block is small (it is in every FUSE worker)"
tls=$(readelf -lW "$SHALE" | awk '$1 == "TLS" { print $6 }')
[ -n "$tls" ] || fail "no TLS segment found by readelf in $SHALE"
tls=$((tls))
echo "TLS block: $tls bytes"
[ "$tls" -le 16384 ] || fail "the TLS block is $tls bytes: a thread-local buffer? (at most 16 KiB)"

step "soak: fsstress for ${SOAK_SECONDS}s on a writable mount"
mkdir -p "$T/soak/stress/lower"
for i in $(seq 0 30); do head -c $((i * 7919)) /dev/urandom >"$T/soak/stress/lower/f$i"; done
head -c $((2 * 1024 * 1024 + 100)) /dev/urandom >"$T/soak/stress/lower/chunked"
ln "$T/soak/stress/lower/f3" "$T/soak/stress/lower/f3-link"
shale import "$T/soak" soak:1 >/dev/null
if ldd "$SHALE" | grep -q libasan; then bound=${SOAK_RSS_KB:-16384}; else bound=${SOAK_RSS_KB:-4096}; fi
warm=$((SOAK_SECONDS >= 120 ? 45 : 8))   # a long soak starts after the climb
# ASan keeps freed memory in a quarantine (256 MiB by default) before reuse:
# a small one for the daemon, or the RSS grows with it
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=1" shale mount --name soak soak:1 "$M"
pid=$(daemon_pid "$M")
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
python3 "$TESTS/fsstress.py" "$M/stress" --seed 1 --seconds "$warm" --verify-every 100000 ||
	fail "fsstress warm-up"
# workers: three bursts of 32 writers of 1 MiB requests, each waiting on a
# sync, then of 32 readers of 1 MiB around the page cache (O_DIRECT), which
# fill the workers' reply buffers
mkdir "$M/burst"
for _ in 1 2 3; do
	jobs_=()
	for i in $(seq 32); do
		dd if=/dev/zero of="$M/burst/$i" bs=1M count=2 oflag=sync status=none &
		jobs_+=($!)
	done
	for j in "${jobs_[@]}"; do wait "$j" || fail "a writer of the warm-up failed"; done
	jobs_=()
	for i in $(seq 32); do
		dd if="$M/burst/$i" of=/dev/null bs=1M iflag=direct status=none &
		jobs_+=($!)
	done
	for j in "${jobs_[@]}"; do wait "$j" || fail "a reader of the warm-up failed"; done
done
rm -r "$M/burst"
rss0=$(status RssAnon) threads0=$(status Threads)
out=$(python3 "$TESTS/fsstress.py" "$M/stress" --seed 2 --seconds "$SOAK_SECONDS" --verify-every 5000) ||
	fail "fsstress: $out"
echo "$out"
rss1=$(status RssAnon) threads1=$(status Threads)
ops=$(awk '{ print $2 }' <<<"$out")
echo "daemon RssAnon start ${rss0} kB ($threads0 threads), end ${rss1} kB ($threads1 threads):" \
	"$((rss1 - rss0)) kB in $ops operations ($(((rss1 - rss0) * 1024 / (ops + 1))) bytes each)"
# a worker made during the soak brings its request and reply buffers (1 MiB
# and a page, 1 MiB)
bound=$((bound + (threads1 > threads0 ? threads1 - threads0 : 0) * 2052))
echo "bound: $bound kB"
[ $((rss1 - rss0)) -le "$bound" ] ||
	fail "the daemon grew by $((rss1 - rss0)) kB in ${SOAK_SECONDS}s (threads $threads0 -> $threads1)"

step "the tree is the same after a remount and in a commit; the daemon exits (LeakSanitizer)"
sum=$(python3 "$TESTS/fsstress.py" "$M/stress" --digest)
shale umount "$M"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not exit"
shale mount soak "$M"
assert_eq "$sum" "$(python3 "$TESTS/fsstress.py" "$M/stress" --digest)" "the tree after a remount"
shale umount "$M"
shale commit soak soak:2 >/dev/null
shale mount -o ro soak:2 "$M"
assert_eq "$sum" "$(python3 "$TESTS/fsstress.py" "$M/stress" --digest)" "the committed tree"
shale umount "$M"
fsck_clean "after the soak"
echo PASS
