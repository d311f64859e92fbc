#!/usr/bin/env bash
# Out of memory (issue 9 item 5): a mount daemon whose address space is capped
# (RLIMIT_AS, set with prlimit on the running daemon) answers ENOMEM where it
# cannot allocate, and never crashes or hangs; with the cap lifted everything
# works again and nothing written before is lost. Commands open the store under
# a cap too small for LMDB's 1 TiB map (smaller maps are tried).
#
# Not under ASan (its shadow memory needs terabytes of address space): this
# test is registered only in builds without sanitizers, labelled "nosan".
#
# The daemon runs with one malloc arena and a fixed mmap threshold (128 KiB):
# then every request above the threshold needs new address space and fails
# under the cap, as it would once a daemon's arenas are exhausted. Without
# them, glibc serves much from the 64 MiB it reserves per arena, and which
# allocation fails first is a matter of chance.
#
# libfuse (3.14) survives a worker thread it cannot create, but a worker it
# did create and whose 1 MiB read buffer cannot be allocated ends the session:
# the daemon must keep its idle workers (never stop and restart them) to live
# through this test.
source "$(dirname "$0")/lib.sh"

M=$T/m
mkdir -p "$M"

step "an image: a directory of 3000 files, chunked files, an entry with 250 KiB of xattrs"
python3 - "$T/img.tar" <<'PY'
import io, os, random, sys, tarfile
random.seed(7)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        ti.mtime = 1700000000
        for k, v in kw.items():
            setattr(ti, k, v)
        t.addfile(ti, io.BytesIO(data))
    for d in ("big", "data", "x", "keep"):
        add(d, type=tarfile.DIRTYPE, mode=0o755)
    for i in range(3000):
        add(f"big/f{i:04d}", f"file {i}\n".encode())
    for i in range(12):   # 3 chunks each: a write copies one chunk up
        add(f"data/c{i}.bin", random.Random(i).randbytes(3 * 2**20 + 100))
    big = {f"SCHILY.xattr.user.big{k}": chr(ord("a") + k) * 50000 for k in range(5)}
    add("x/file", b"xattrs\n", pax_headers=big)
    add("x/link", type=tarfile.SYMTYPE, linkname="file")
PY
shale import "$T/img.tar" oom:1 >/dev/null

step "commands open the store under a 3 GiB address space limit (LMDB maps less than 1 TiB)"
out=$(prlimit --as=$((3 << 30)) "$SHALE" images 2>&1) || fail "shale images under a 3 GiB limit: $out"
assert_contains "$out" "oom " "shale images under a 3 GiB limit"
assert_eq "file 2999" "$(prlimit --as=$((3 << 30)) "$SHALE" cat oom:1 /big/f2999)"
prlimit --as=$((3 << 30)) "$SHALE" tag oom:1 oom:capped   # a write with a small map
assert_contains "$(shale images)" "capped" "a tag written under the limit"
expect_exit 1 prlimit --as=$((700 << 20)) "$SHALE" images
assert_contains "$ERR" "no room to map its database" "under a 700 MiB limit"

step "a writable mount; the same workload once without a limit (warm-up)"
GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=131072 \
	shale mount --name oom oom:1 "$M"
pid=$(daemon_pid "$M")
grep -qz '^GLIBC_TUNABLES=' "/proc/$pid/environ" || fail "the daemon has no GLIBC_TUNABLES"
cat >"$T/work.py" <<'PY'
# One round of operations that need memory in the daemon; every failure is
# counted by errno. Usage: work.py MOUNT ROUND FIRST_CHUNKED_FILE
import collections, errno, json, os, sys
m, rnd, c0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errs, ok = collections.Counter(), collections.Counter()
def op(what, f, *a):
    """True if it worked; operations on what a failed one did not make are
    left out (their ENOENT would be no error of the daemon's)."""
    try:
        f(*a)
        ok[what] += 1
        return True
    except OSError as e:
        errs[f"{what}:{errno.errorcode.get(e.errno, e.errno)}"] += 1
        return False
def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
def patch(path, off, data):
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, data, off)
    finally:
        os.close(fd)
# a change in big/ drops the kernel's cached listing: the next is made anew
op("create", write, f"{m}/big/new{rnd}", b"new %d\n" % rnd)
op("listdir", os.listdir, f"{m}/big")
made = []
if op("mkdir", os.makedirs, f"{m}/n{rnd}", 0o755, True):
    made = [i for i in range(200)
            if op("create", write, f"{m}/n{rnd}/f{i}", b"r%d f%d\n" % (rnd, i))]
    op("listdir", os.listdir, f"{m}/n{rnd}")
for i in made:
    op("stat", os.stat, f"{m}/n{rnd}/f{i}")
for i in range(200):
    op("stat-lower", os.stat, f"{m}/big/f{(rnd * 200 + i) % 3000:04d}")
for k in range(5):
    op("getxattr", os.getxattr, f"{m}/x/file", f"user.big{k}")
op("listxattr", os.listxattr, f"{m}/x/file")
op("readlink", os.readlink, f"{m}/x/link")
for i in range(c0, c0 + 3):   # chunk 1 of each: never copied up before
    op("copy-up write", patch, f"{m}/data/c{i}.bin", 2**20 + 17, b"round %d" % rnd)
if 0 in made:
    op("rename", os.rename, f"{m}/n{rnd}/f0", f"{m}/n{rnd}/g0")
if 1 in made:
    op("unlink", os.unlink, f"{m}/n{rnd}/f1")
print(json.dumps({"errors": errs, "ok": ok}))
PY
python3 "$T/work.py" "$M" 0 0 >"$T/warm.json"
python3 - "$T/warm.json" <<'PY' || fail "the warm-up failed"
import json, sys
r = json.load(open(sys.argv[1]))
assert not r["errors"], r["errors"]
PY
echo "precious $RANDOM" >"$M/keep/before"
cp "$M/keep/before" "$T/before"
sync -f "$M/keep/before"

status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
vm=$(status VmSize)
threads=$(status Threads)
MARGIN_KB=${OOM_MARGIN_KB:-256}
step "the daemon limited to its size now (VmSize ${vm} kB, $threads threads) + ${MARGIN_KB} KiB"
prlimit --pid "$pid" --as=$(((vm + MARGIN_KB) * 1024)):unlimited # soft: lifted without privileges
t0=$SECONDS
for r in 1 2 3; do
	# c0-c2 were copied up in the warm-up: each round writes three others
	python3 "$T/work.py" "$M" "$r" $((3 * r)) >"$T/limited$r.json" || fail "round $r under the limit"
done
t1=$SECONDS
# a dead daemon may linger as a zombie, and leaves its mount (ENOTCONN)
[ -e "/proc/$pid" ] && [ "$(status State)" != Z ] || { cat "$T"/limited*.json; fail "the daemon died under the limit"; }
stat "$M/big" >/dev/null || fail "the mount does not answer"
python3 - "$T"/limited{1,2,3}.json <<'PY' || fail "under the limit"
import collections, json, sys
errs, ok = collections.Counter(), collections.Counter()
for f in sys.argv[1:]:
    r = json.load(open(f))
    errs.update(r["errors"])
    ok.update(r["ok"])
bad = {k: v for k, v in errs.items() if not k.endswith(":ENOMEM")}
assert not bad, f"errors other than ENOMEM under the limit: {bad}"
enomem = sum(errs.values())
assert enomem > 0, f"no ENOMEM at all: the limit provoked nothing ({dict(ok)})"
print(f"  {enomem} ENOMEM: {dict(sorted(errs.items()))}")
print(f"  {sum(ok.values())} succeeded: {dict(sorted(ok.items()))}")
PY
echo "  3 rounds in $((t1 - t0)) s; daemon alive, $(status Threads) threads, VmSize $(status VmSize) kB"

step "the limit lifted: everything works, nothing is lost"
prlimit --pid "$pid" --as=unlimited
python3 "$T/work.py" "$M" 4 0 >"$T/after.json"
python3 - "$M" "$T/after.json" <<'PY' || fail "after the limit was lifted"
import json, os, random, sys
m = sys.argv[1]
r = json.load(open(sys.argv[2]))
assert not r["errors"], f"errors with the limit lifted: {r['errors']}"
names = set(os.listdir(f"{m}/big"))
assert {f"f{i:04d}" for i in range(3000)} <= names, "big/ lost names"
assert {"new0", "new4"} <= names, "big/ lacks files made before and after"
for k in range(5):
    assert os.getxattr(f"{m}/x/file", f"user.big{k}") == bytes([ord("a") + k]) * 50000, k
assert os.readlink(f"{m}/x/link") == "file"
# every chunked file: lower data plus the patches that succeeded, nothing else
for i in range(12):
    want = bytearray(random.Random(i).randbytes(3 * 2**20 + 100))
    got = open(f"{m}/data/c{i}.bin", "rb").read()
    assert len(got) == len(want), f"c{i}: size {len(got)}"
    at = 2**20 + 17
    for rnd in range(5):
        p = b"round %d" % rnd
        if got[at:at + len(p)] == p:
            want[at:at + len(p)] = p
    assert got == bytes(want), f"c{i}.bin differs from the lower beyond the patch"
# files made under the limit hold what was written, or do not exist
for rnd in range(1, 5):
    d = f"{m}/n{rnd}"
    for n in os.listdir(d) if os.path.isdir(d) else []:
        data = open(f"{d}/{n}", "rb").read()
        assert data in (b"", b"r%d f%s\n" % (rnd, n[1:].encode())), (d, n, data)
PY
cmp "$M/keep/before" "$T/before" || fail "a file written before the limit changed"
shale umount "$M"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not exit after the unmount"

step "after a remount and in a commit"
shale mount oom "$M"
cmp "$M/keep/before" "$T/before" || fail "keep/before after a remount"
assert_eq "r4 f199" "$(cat "$M/n4/f199")"
shale umount "$M"
shale commit oom oom:2 >/dev/null
assert_eq "$(cat "$T/before")" "$(shale cat oom:2 /keep/before)"
out=$(shale fsck 2>&1) || fail "fsck: $out"
assert_contains "$out" "0 errors"
echo PASS
