#!/usr/bin/env bash
# Many commands at once against one store: imports (distinct and identical
# content), tags, rmi, prune, mounts with writes and commits, builds, reads.
# Every command ends (a deadline per command: a deadlock fails) and succeeds or
# fails with a message a race explains; afterwards fsck is clean and every tag
# shows the content it was given. Prune never takes what a mount, a container,
# a running build, import or commit uses.
# CONC_WORKERS and CONC_ROUNDS (default 6 and 2) make the storm bigger.
source "$(dirname "$0")/lib.sh"

WORKERS=${CONC_WORKERS:-6}
ROUNDS=${CONC_ROUNDS:-2}
DEADLINE=${CONC_DEADLINE:-60} # seconds any one command may take
PIDS=()

# Background work dies with the test, whatever ends it.
test_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

# The shale binary with a deadline (a real process: `$!` and kill reach it).
sh_t() { timeout -k 5 "$DEADLINE" "$SHALE" "$@"; }
# Run a shale command that must succeed in time.
must() {
	local rc=0
	sh_t "$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || fail "'shale $*' did not finish in ${DEADLINE}s (deadlock?)"
	[ "$rc" -eq 0 ] || fail "'shale $*' exited $rc: $(cat "$T/err")"
	cat "$T/out"
}
# sha256 of every file of a tree, by relative path.
tree_sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
objects_list() { find "$SHALE_ROOT/objects" -type f ! -name '.*' | sort; }

step "a busybox base, sources for the workers"
make_busybox_rootfs "$T/base"
must import "$T/base" base >/dev/null
mkdir -p "$T/shared/etc"
echo shared >"$T/shared/name"
head -c 300000 /dev/urandom >"$T/shared/etc/blob" # one object every worker imports at once
tar -C "$T/shared" -cf "$T/shared.tar" .
mkdir -p "$T/src" "$T/mnt" "$T/bctx" "$T/logs"

# ---- 1. the storm ----

# A worker: ROUNDS rounds of commands on its own images (w$w/...) and on a
# pool of tags every worker imports, tags, removes and mounts (pool:0..2).
# Its log says what ran; its manifest which of its tags hold what.
worker() {
	local w=$1 r pool
	set +e
	local W=$T/logs/w$w
	local -A man=() # tag -> the content of its /name
	RANDOM=$((w * 7919 + 1))
	: >"$W.log"

	# try PATTERN CMD...: success (0), or a failure whose message matches
	# PATTERN: the expected outcome of a race (1); anything else ends the
	# worker with an error, and so does a command that does not finish.
	try() {
		local pat=$1 rc=0 t0=$EPOCHREALTIME
		shift
		timeout -k 5 "$DEADLINE" "$SHALE" "$@" >"$W.out" 2>"$W.err" || rc=$?
		if [ "$rc" -eq 0 ]; then
			awk -v a="$t0" -v b="$EPOCHREALTIME" -v c="$*" 'BEGIN { printf "ok    %s [%.2fs]\n", c, b - a }' >>"$W.log"
			return 0
		fi
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "HUNG  $* (no end in ${DEADLINE}s)" >>"$W.log"
			exit 1
		fi
		if [ -n "$pat" ] && [ "$rc" -eq 1 ] && grep -Eq "$pat" "$W.err"; then
			echo "race  $*: $(head -c 300 "$W.err" | tr '\n' ' ')" >>"$W.log"
			return 1
		fi
		echo "FAIL  $* (exit $rc): $(head -c 600 "$W.err" | tr '\n' ' ') $(head -c 600 "$W.out" | tr '\n' ' ')" >>"$W.log"
		exit 1
	}
	bad() { echo "FAIL  $*" >>"$W.log"; exit 1; }
	check_name() { # TAG: its /name is what the manifest says
		try "" cat "$1" /name
		[ "$(cat "$W.out")" == "${man[$1]}" ] || bad "cat $1 /name: '$(cat "$W.out")', want '${man[$1]}'"
	}
	own_tag() { # a random tag of this worker
		local k=("${!man[@]}")
		[ ${#k[@]} -gt 0 ] && echo "${k[RANDOM % ${#k[@]}]}"
	}

	for ((r = 0; r < ROUNDS; r++)); do
		local name=w$w-r$r src=$T/src/w$w-r$r t m
		mkdir -p "$src/etc"
		echo "$name" >"$src/name"
		# more than 1 KiB: an object of its own, and the shared object again
		yes "$name" | head -c 4000 >"$src/etc/own"
		cp "$T/shared/etc/blob" "$src/etc/blob"
		try "" import --parent base "$src" "w$w/imp:r$r" && man[w$w/imp:r$r]=$name

		pool=pool:$((RANDOM % 3))
		case $((RANDOM % 3)) in
		0) try "" import "$T/shared.tar" "$pool" ;;
		1) try "no such image|is using image" rmi "$pool" ;;
		2) try "no such image" tag "$pool" "pool:$((RANDOM % 3))" ;;
		esac

		case $(((w + r) % 5)) in
		0) # a container: mount, write, commit while mounted, umount, rm
			m=$T/mnt/$name
			mkdir -p "$m"
			try "" mount --name "c$name" "w$w/imp:r$r" "$m"
			[ "$(timeout 20 cat "$m/name")" == "$name" ] || bad "$m/name before the write"
			timeout 20 sh -c "echo '$name-c' >'$m/name' && cp '$T/shared/etc/blob' '$m/etc/blob2'" ||
				bad "write to $m"
			try "" commit "c$name" "w$w/com:r$r" && man[w$w/com:r$r]=$name-c
			try "" umount "$m"
			try "" rm "c$name"
			;;
		1) # a build: COPY and RUN
			t=$T/bctx/$name
			mkdir -p "$t"
			echo "stamp-$name" >"$t/stamp"
			printf 'FROM w%s/imp:r%s\nCOPY stamp /stamp\nRUN cat /name /stamp >/built\n' "$w" "$r" >"$t/Dockerfile"
			if try "" build -q -t "w$w/bld:r$r" "$t"; then
				man[w$w/bld:r$r]=$name
				try "" cat "w$w/bld:r$r" /built
				[ "$(cat "$W.out")" == "$(printf '%s\nstamp-%s' "$name" "$name")" ] || bad "built /built: $(cat "$W.out")"
			fi
			;;
		2) # another name for one of ours, and one of ours removed
			t=$(own_tag)
			if [ -n "$t" ]; then
				try "" tag "$t" "w$w/alias:r$r" && man[w$w/alias:r$r]=${man[$t]}
			fi
			t=$(own_tag)
			if [ -n "$t" ] && try "" rmi "$t"; then unset "man[$t]"; fi
			;;
		3) # a pool image mounted read-only while others remove it
			m=$T/mnt/$name-ro
			mkdir -p "$m"
			if try "no such image" mount -o ro "$pool" "$m"; then
				[ "$(timeout 20 cat "$m/name")" == shared ] || bad "$m/name"
				cmp -s "$m/etc/blob" "$T/shared/etc/blob" || bad "$m/etc/blob differs"
				try "is using image|no such image" rmi "$pool" # refused (or untagged if tagged twice)
				try "" umount "$m"
			fi
			;;
		4) # read, list, check (fsck exits 0 when it finds no error)
			try "" images
			try "" fsck -q
			try "" ls -l "w$w/imp:r$r" /
			try "no such image" cat "$pool" /name && { [ "$(cat "$W.out")" == shared ] || bad "cat $pool /name"; }
			;;
		esac
		if [ $((RANDOM % 3)) -eq 0 ]; then try "" prune -f; fi
		t=$(own_tag)
		[ -n "$t" ] && check_name "$t"
	done
	for t in "${!man[@]}"; do printf '%s\t%s\n' "$t" "${man[$t]}"; done | sort >"$W.manifest"
}

step "the storm: $WORKERS workers, $ROUNDS rounds each"
t0=$SECONDS
for ((w = 0; w < WORKERS; w++)); do
	worker "$w" &
	PIDS+=($!)
done
failed=0
for p in "${PIDS[@]}"; do wait "$p" || failed=$((failed + 1)); done
PIDS=()
cat "$T"/logs/w*.log >"$T/storm.log"
echo "  $(grep -c . "$T/storm.log") commands in $((SECONDS - t0))s: $(grep -c '^ok' "$T/storm.log") ok," \
	"$(grep -c '^race' "$T/storm.log") lost a race (expected)"
echo "  slowest:"
grep '^ok' "$T/storm.log" | sed 's/^ok *\(.*\) \[\(.*\)s\]$/\2 \1/' | sort -rn | head -5 | sed 's/^/    /'
grep '^race' "$T/storm.log" | sed 's/^race  [a-z]* .*: shale: /  race: /' | sort | uniq -c | sort -rn | head -8 || true
if [ "$failed" -ne 0 ] || grep -q '^FAIL\|^HUNG' "$T/storm.log"; then
	grep '^FAIL\|^HUNG' "$T/storm.log" >&2 || true
	fail "$failed workers failed"
fi

step "after the storm: fsck is clean, every tag holds its content"
must fsck >"$T/fsck" || true
grep -q '^0 errors, 0 leftovers' "$T/fsck" || fail "fsck: $(cat "$T/fsck")"
sort "$T"/logs/w*.manifest >"$T/manifest"
must images --format json | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j["Repository"] not in ("base", "pool", "<none>"): print(j["Repository"] + ":" + j["Tag"])' | sort >"$T/tags"
cut -f1 "$T/manifest" | diff - "$T/tags" >&2 || fail "the tags listed are not the tags the workers made"
while IFS=$'\t' read -r tag want; do
	assert_eq "$want" "$(must cat "$tag" /name)" "/name of $tag"
done <"$T/manifest"
for p in $(must images --format json | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j["Repository"] == "pool": print("pool:" + j["Tag"])'); do
	assert_eq shared "$(must cat "$p" /name)" "/name of $p"
	must cat "$p" /etc/blob | cmp -s - "$T/shared/etc/blob" || fail "$p /etc/blob"
done
echo "  $(wc -l <"$T/manifest") worker tags and $(grep -c . "$T/tags" || true) listed; content right"
assert_eq "" "$(must mounts --format json)" "mounts left after the storm"
assert_eq "" "$(must ps -a --format json)" "containers left after the storm"

# ---- 2. prune vs. mounts ----

step "prune vs. mounts: a mounted image stays whole while prune runs"
mkdir -p "$T/pm/d" "$T/pm2"
echo small >"$T/pm/small"                                     # inline
head -c 5000 /dev/urandom >"$T/pm/one"                          # one object
head -c $((3 * 1024 * 1024 + 77)) /dev/urandom >"$T/pm/d/chunked" # a chunk list
for i in $(seq 1 20); do head -c 2000 /dev/urandom >"$T/pm/d/f$i"; done
cp -a "$T/pm/." "$T/pm2/" && echo two >"$T/pm2/small"
must import "$T/pm" pm:1 >/dev/null
must import "$T/pm2" pm:2 >/dev/null
pm1=$(must images -q --no-trunc pm:1)
tree_sums "$T/pm" >"$T/pm.sums"
tree_sums "$T/pm2" >"$T/pm2.sums"
must prune -f >/dev/null # what the storm left dangling goes now, not below
before=$(objects_list)
mkdir -p "$T/pmro" "$T/pmrw"
must mount -o ro pm:1 "$T/pmro"
must mount --name pmc pm:2 "$T/pmrw"
echo written >"$T/pmrw/new"
# rmi of the only tag of a mounted image is refused; forced, it untags and keeps the image
expect_exit 1 sh_t rmi pm:1
assert_contains "$ERR" "is using image"
expect_exit 1 sh_t rmi pm:2
assert_contains "$ERR" "is using image"
must rmi -f pm:1 pm:2 >"$T/rmi"
grep -q '^Deleted' "$T/rmi" && fail "rmi -f deleted a mounted image: $(cat "$T/rmi")"
# readers through both mounts while prune runs again and again
python3 - "$T/pmro" "$T/pm.sums" "$T/pmrw" "$T/pm2.sums" "$T/readers.ok" <<'PY' &
import hashlib, os, sys, time
end = time.time() + 2
n = 0
while time.time() < end:
    for mnt, sums in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
        for line in open(sums):
            want, path = line.split(None, 1)
            path = os.path.join(mnt, path.strip())
            got = hashlib.sha256(open(path, "rb").read()).hexdigest()
            assert got == want, f"{path}: {got} != {want}"
            n += 1
    time.sleep(0.05)
open(sys.argv[5], "w").write(str(n))
PY
PIDS+=($!)
for i in 1 2 3; do sh_t prune -f >/dev/null & PIDS+=($!); done
for p in "${PIDS[@]}"; do wait "$p" || fail "a reader or a prune failed (pid $p)"; done
PIDS=()
echo "  $(cat "$T/readers.ok") files read right during 3 prunes"
assert_eq "$before" "$(objects_list)" "objects of the mounted images after prune"
assert_eq "written" "$(cat "$T/pmrw/new")" "the container's own file"
must umount "$T/pmro"
must prune -f >/dev/null
expect_fail sh_t cat "$pm1" /small # unmounted, untagged: pruned
must umount "$T/pmrw"
must prune -f >/dev/null
[ -n "$(must ps -a -q)" ] || fail "the container is gone"
must commit pmc pm:3 >/dev/null # its image is still whole
assert_eq written "$(must cat pm:3 /new)"
assert_eq two "$(must cat pm:3 /small)"
must rm pmc >/dev/null
must rmi pm:3 >/dev/null
must prune -f >/dev/null
[ "$(comm -12 <(echo "$before") <(objects_list) | wc -l)" -lt "$(echo "$before" | wc -l)" ] ||
	fail "prune kept every object after the mounts and the container were gone"
must fsck -q >/dev/null

# ---- 3. prune vs. running writers ----

step "prune vs. a running build: rmi of its base and prunes while it runs"
mkdir -p "$T/b3"
cp -a "$T/base/." "$T/b3/"
echo b3 >"$T/b3/name"
must import "$T/b3" b3base >/dev/null
mkdir -p "$T/b3ctx"
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$T/b3ctx/big"
printf 'FROM b3base\nCOPY big /big\nRUN sleep 2 && cat /name >/copy\n' >"$T/b3ctx/Dockerfile"
sh_t build -t b3:out "$T/b3ctx" >"$T/b3.out" 2>&1 &
PIDS+=($!)
# the RUN step's container: the build is past FROM, running `sleep 2`
for i in $(seq 1 300); do
	[ -n "$(ls "$SHALE_ROOT/containers")" ] && break
	sleep 0.1
done
[ -n "$(ls "$SHALE_ROOT/containers")" ] || fail "the build did not reach its RUN step: $(cat "$T/b3.out")"
sh_t rmi b3base >"$T/b3.rmi" 2>&1 & PIDS+=($!)
for i in 1 2 3; do sh_t prune -f >/dev/null & PIDS+=($!); sleep 0.3; done
for p in "${PIDS[@]}"; do wait "$p" || fail "build, rmi or prune failed: $(cat "$T/b3.out" "$T/b3.rmi")"; done
PIDS=()
assert_eq b3 "$(must cat b3:out /copy)" "the built image's /copy"
must cat b3:out /big | cmp -s - "$T/b3ctx/big" || fail "the built image's /big"
must cat b3:out /bin/busybox | cmp -s - /bin/busybox || fail "the built image's base layer"
expect_fail sh_t cat b3base /name # the rmi did happen
must fsck -q >/dev/null

step "prune vs. a running import and commit: objects not yet referenced survive"
mkdir -p "$T/big"
for i in $(seq 1 8); do head -c $((1024 * 1024 + i)) /dev/urandom >"$T/big/f$i"; done
mkdir -p "$T/bigc"
must mount --name bigc base "$T/bigc"
mkdir -p "$T/bigc.src"
for i in $(seq 1 8); do head -c $((1024 * 1024 + 3 * i)) /dev/urandom >"$T/bigc.src/g$i"; done
cp "$T"/bigc.src/* "$T/bigc/"
sh_t import "$T/big" big:1 >/dev/null 2>"$T/imp.err" & PIDS+=($!)
sh_t commit bigc big:2 >/dev/null 2>"$T/com.err" & PIDS+=($!)
for i in 1 2 3 4; do sh_t prune -f >/dev/null & PIDS+=($!); sleep 0.2; done
for p in "${PIDS[@]}"; do wait "$p" || fail "import, commit or prune failed: $(cat "$T/imp.err" "$T/com.err")"; done
PIDS=()
must umount "$T/bigc"
mkdir -p "$T/big1" "$T/big2"
must mount -o ro big:1 "$T/big1"
must mount -o ro big:2 "$T/big2"
diff -r "$T/big" "$T/big1" || fail "big:1 differs from what was imported"
for i in $(seq 1 8); do cmp "$T/bigc.src/g$i" "$T/big2/g$i" || fail "big:2 /g$i differs from what was committed"; done
must umount "$T/big1" "$T/big2"
must rm bigc >/dev/null
must fsck >"$T/fsck"
grep -q '^0 errors, 0 leftovers' "$T/fsck" || fail "fsck: $(cat "$T/fsck")"

# ---- 4. nothing left behind ----

step "nothing left: no daemons, lock files, temp objects, staging; LMDB consistent"
must prune -f >/dev/null
leftover=$(find "$SHALE_ROOT/tmp" "$SHALE_ROOT/objects" -name '.t-*' -o -name '*.sock' -o -name 'commit-*.lock' 2>/dev/null || true)
assert_eq "" "$leftover" "files left in the store"
for e in /proc/[0-9]*/environ; do # a shale process of this store (a daemon...)
	p=${e#/proc/}
	p=${p%/environ}
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" == "$(readlink -f "$SHALE")" ] || continue
	if grep -qzx "SHALE_ROOT=$SHALE_ROOT" "$e" 2>/dev/null; then
		fail "a shale process is left: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	fi
done
if command -v mdb_stat >/dev/null; then # lmdb-utils
	out=$(mdb_stat -s staging "$SHALE_ROOT/db")
	[[ "$out" == *"Entries: 0"* ]] || fail "staging records left: $out"
	out=$(mdb_stat -s mounts "$SHALE_ROOT/db")
	[[ "$out" == *"Entries: 0"* ]] || fail "mount records left: $out"
	out=$(mdb_stat -rr "$SHALE_ROOT/db" || true) # exits 1 even when all is well
	[[ "$out" == *" 0 stale readers cleared"* ]] || fail "stale LMDB readers: $out"
	mdb_stat -a "$SHALE_ROOT/db" >/dev/null || fail "mdb_stat cannot walk the databases"
fi
must fsck >"$T/fsck"
grep -q '^0 errors, 0 leftovers' "$T/fsck" || fail "fsck: $(cat "$T/fsck")"
echo "  done in ${SECONDS}s"
