#!/usr/bin/env bash
# Resource exhaustion: a full disk under the store and under an upper (ENOSPC,
# nothing corrupted, everything works once space is freed), and a daemon out of
# file descriptors (errors, no crash, serving again once fds are closed).
#
#   EXHAUST_PARTS="..."    only some of the parts: store upper fds
#
# Memory exhaustion of the daemon (RLIMIT_AS) is oom.sh's, in builds without
# sanitizers (ASan reserves terabytes of address space for its shadow). A
# cgroup memory limit ends in the OOM killer's SIGKILL, which no program can
# turn into an error (crash_daemon.sh covers a daemon killed at any point).
# That the daemon's memory stays flat under a long random workload is soak.sh's.
source "$(dirname "$0")/lib.sh"

mib() { echo $(($1 * 1024 * 1024)); }

M=$T/m
mkdir -p "$M"

# ---------------------------------------------------------------------------
part_store() {
step "store on a full filesystem (tmpfs, 4 MiB)"
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=4m,mode=0755 shale-exh "$SMALL"
export SHALE_ROOT=$SMALL/store
shale init >/dev/null
mkdir -p "$T/img1/etc"
echo hello >"$T/img1/etc/motd"
head -c 300000 /dev/urandom >"$T/img1/blob"
shale import "$T/img1" small:1 >/dev/null
before=$(images_state)

step "an import of file contents larger than the space fails with ENOSPC"
mkdir -p "$T/big"
for i in 1 2; do head -c $(mib 3) /dev/urandom >"$T/big/f$i"; done
expect_exit 1 shale import "$T/big" big:1
assert_contains "$ERR" "No space left on device" "import of 6 MiB into 4 MiB"
assert_eq "$before" "$(images_state)" "images after a failed import"
shale cat small:1 /blob | cmp - "$T/img1/blob" || fail "small:1 content after a failed import"
fsck_clean "after an import out of space"

step "an import of many small files (all in the database) fails with ENOSPC too"
python3 - "$T/many.tar" <<'PY'   # a tar: 10000 files on the host disk are slow
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for d in range(25):
        for i in range(400):
            data = (f"{d} {i} " * 70).encode()
            ti = tarfile.TarInfo(f"d{d}/f{i}")
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
PY
expect_exit 1 shale import "$T/many.tar" many:1
assert_contains "$ERR" "No space left on device" "import of 10000 inline files"
[ "$(df --output=avail "$SMALL" | tail -1)" -lt 1024 ] || fail "the database did not fill the disk"
assert_eq "$before" "$(images_state)" "images after a failed import"
assert_eq hello "$(shale cat small:1 /etc/motd)"
# entries staged before the failure stay if the disk is too full to delete
# them (LMDB needs new pages to delete): leftovers that prune removes
out=$(shale fsck 2>&1) || fail "fsck after a database out of space: $out"
grep -q '^0 errors,' <<<"$out" || fail "fsck after a database out of space: $out"

step "a commit of a container whose changes do not fit fails with ENOSPC; the mount goes on"
shale mount --name c1 --upper "$T/upper1" small:1 "$M"   # upper on the big disk
head -c $(mib 8) /dev/urandom >"$M/big"
echo kept >"$M/etc/kept"
expect_exit 1 shale commit "$M" small:2
assert_contains "$ERR" "No space left on device" "commit of 8 MiB"
echo after >"$M/after"             # not left frozen
assert_eq after "$(cat "$M/after")"
assert_eq "$before" "$(images_state)" "images after a failed commit"
fsck_clean "after a commit out of space"

step "space freed (tmpfs grown to 64 MiB): the same import and commit succeed"
mount -o remount,size=64m "$SMALL"
shale import "$T/big" big:1 >/dev/null
shale prune >/dev/null               # leftovers of the failed import, if any
shale import "$T/many.tar" many:1 >/dev/null
shale commit "$M" small:2 >/dev/null
shale umount "$M"
for i in 1 2; do shale cat big:1 "/f$i" | cmp - "$T/big/f$i" || fail "big:1 /f$i"; done
assert_eq "24 399 " "$(shale cat many:1 /d24/f399 | head -c 7)"
shale cat small:2 /big | cmp - "$T/upper1/big" || fail "small:2 /big"
assert_eq kept "$(shale cat small:2 /etc/kept)"
shale cat small:1 /blob | cmp - "$T/img1/blob" || fail "small:1 content"
fsck_clean "after space was freed"
shale rm c1 >/dev/null
export SHALE_ROOT=$T/store

}

# ---------------------------------------------------------------------------
part_upper() {
step "upper on a full filesystem (tmpfs, 4 MiB, 64 inodes)"
mkdir -p "$T/src/etc" "$T/src/data"
echo hello >"$T/src/etc/motd"
for i in 1 2 3; do echo "small $i" >"$T/src/etc/s$i"; done
head -c 3000 /dev/urandom >"$T/src/etc/mid"
head -c $(($(mib 3) + 5000)) /dev/urandom >"$T/src/data/big.bin"
shale import "$T/src" app:1 >/dev/null
UP=$T/up
mkdir -p "$UP"
mount -t tmpfs -o size=4m,nr_inodes=64,mode=0755 shale-exh "$UP"
shale mount --upper "$UP/upper" app:1 "$M"
python3 - "$M" "$T/src" <<'PY' || fail "writes on a full upper"
import errno, os, sys
m, src = sys.argv[1], sys.argv[2]
ENOSPC = errno.ENOSPC

def expect_enospc(what, f, *a):
    try:
        f(*a)
    except OSError as e:
        assert e.errno == ENOSPC, f"{what}: errno {e.errno} ({e.strerror}), expected ENOSPC"
        return
    raise AssertionError(f"{what}: succeeded on a full disk")

def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)

# a file written and fsync'd before the disk fills
keep = os.urandom(100000)
with open(f"{m}/etc/keep", "wb") as f:
    f.write(keep)
    f.flush()
    os.fsync(f.fileno())
# fill the disk: the write that does not fit fails with ENOSPC
fd = os.open(f"{m}/fill", os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
try:
    while True:
        n += os.write(fd, b"x" * 65536)
except OSError as e:
    assert e.errno == ENOSPC, f"filling: errno {e.errno}"
assert n > 3 * 2**20, f"only {n} bytes fit"
# leave 300 KiB: less than the 1 MiB chunk a copy-up of big.bin needs
os.ftruncate(fd, n - 300 * 1024)
os.fsync(fd)
os.close(fd)

def patch_big():
    fd = os.open(f"{m}/data/big.bin", os.O_WRONLY)
    try:
        os.pwrite(fd, b"Z", 2 * 2**20 + 7)
    finally:
        os.close(fd)
expect_enospc("a chunk copy-up into 300 KiB", patch_big)
expect_enospc("the same again", patch_big)   # its space was given back
free = os.statvfs(m).f_bavail * os.statvfs(m).f_frsize
assert free >= 250 * 1024, f"a failed copy-up kept the space: {free} bytes free"
expect_enospc("a truncate that needs a chunk", os.truncate, f"{m}/data/big.bin", 2**20 + 5)
# now really full
fd = os.open(f"{m}/fill2", os.O_WRONLY | os.O_CREAT, 0o644)
try:
    while True:
        os.write(fd, b"y" * 4096)
except OSError as e:
    assert e.errno == ENOSPC, f"filling: errno {e.errno}"
os.close(fd)
expect_enospc("append to a lower file (copy-up)", write_file, f"{m}/etc/s1", b"more")
expect_enospc("a new file", write_file, f"{m}/newfile", b"x" * 5000)
# what failed left nothing half-made: the lower contents still show
for i in (1, 2, 3):
    assert open(f"{m}/etc/s{i}").read() == f"small {i}\n", f"s{i} changed"
assert open(f"{src}/data/big.bin", "rb").read() == open(f"{m}/data/big.bin", "rb").read(), \
    "big.bin differs from the lower after failed copy-ups"
assert open(f"{m}/etc/keep", "rb").read() == keep, "the fsync'd file is damaged"
# inodes run out too: ENOSPC, not another error
made = 0
try:
    for i in range(100):
        open(f"{m}/i{i}", "w").close()
        made += 1
    raise AssertionError("100 files in 64 inodes")
except OSError as e:
    assert e.errno == ENOSPC, f"out of inodes: errno {e.errno}"
for i in range(made):
    os.unlink(f"{m}/i{i}")
print(f"  ENOSPC for writes, chunk copy-ups, truncates, appends, creates; {made} inodes were free")
PY
[ -z "$(ls -A "$UP/upper.work")" ] || fail "leftovers in the work dir: $(ls -A "$UP/upper.work")"
[ ! -e "$UP/upper/etc/s1" ] || fail "a failed copy-up left etc/s1 in the upper"
[ ! -e "$UP/upper/newfile" ] || [ ! -s "$UP/upper/newfile" ] || fail "newfile has content"

step "space freed (a file deleted through the mount): writes and copy-ups work"
rm "$M/fill" "$M/fill2"
printf 'Z' | dd of="$M/data/big.bin" bs=1 seek=$(($(mib 2) + 7)) conv=notrunc status=none
cp "$T/src/data/big.bin" "$T/expect"
printf 'Z' | dd of="$T/expect" bs=1 seek=$(($(mib 2) + 7)) conv=notrunc status=none
echo more >>"$M/etc/s1"
echo new >"$M/newfile"
cmp "$M/data/big.bin" "$T/expect" || fail "big.bin after the patch"
shale umount "$M"
shale mount --upper "$UP/upper" app:1 "$M"
cmp "$M/data/big.bin" "$T/expect" || fail "big.bin after a remount"
assert_eq "small 1
more" "$(cat "$M/etc/s1")"
assert_eq new "$(cat "$M/newfile")"
assert_eq "small 2" "$(cat "$M/etc/s2")"
shale umount "$M"
shale cat app:1 /data/big.bin | cmp - "$T/src/data/big.bin" || fail "the image changed"
fsck_clean "after a full upper"

}

# ---------------------------------------------------------------------------
part_fds() {
step "a daemon with 256 file descriptors, 600 files opened at once"
mkdir -p "$T/fsrc/many"
for i in $(seq 0 99); do echo "lower $i" >"$T/fsrc/many/l$i"; head -c 5000 /dev/urandom >"$T/fsrc/many/b$i"; done
shale import "$T/fsrc" fds:1 >/dev/null
# root may raise its hard limit (the daemon takes what the system allows):
# without CAP_SYS_RESOURCE it keeps the one it is given
setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource \
	prlimit --nofile=256:256 "$SHALE" mount --name fds fds:1 "$M"
pid=$(daemon_pid "$M")
assert_eq 256 "$(awk '/open files/ { print $5 }' "/proc/$pid/limits")" "the daemon's hard limit"
python3 - "$M" "$pid" <<'PY' || fail "fd exhaustion"
import collections, errno, os, resource, sys, time
m, pid = sys.argv[1], sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
for i in range(100):
    with open(f"{m}/many/u{i}", "w") as f:
        f.write(f"upper {i}\n")
names = [f"{k}{i}" for k in "ulb" for i in range(100)]
want = {n: open(f"{m}/many/{n}", "rb").read() for n in names}   # every inode looked up
def fd_targets():
    out = collections.Counter()
    for f in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[os.readlink(f"/proc/{pid}/fd/{f}")] += 1
        except OSError:
            pass
    return out
# not /dev/fuse: each worker thread made under load keeps its own clone of it
daemon_fds = lambda: sum(v for k, v in fd_targets().items() if k != "/dev/fuse")
t0 = fd_targets()
base = daemon_fds()
fds, errs = [], collections.Counter()
for rnd in range(2):
    for n in names:
        try:
            fds.append((n, os.open(f"{m}/many/{n}", os.O_RDWR if n[0] == "u" else os.O_RDONLY)))
        except OSError as e:
            errs[errno.errorcode.get(e.errno, e.errno)] += 1
assert errs, f"{len(fds)} opens with a 256 fd limit: no error"
assert set(errs) <= {"EMFILE"}, f"opens beyond the limit: {dict(errs)}, expected EMFILE"
for n, fd in fds:                      # what was opened works
    assert os.pread(fd, 10000, 0) == want[n], f"{n}: content while out of fds"
for n, fd in fds:
    os.close(fd)
for _ in range(100):                   # releases reach the daemon asynchronously
    after = daemon_fds()
    if after <= base:
        break
    time.sleep(0.1)
assert after <= base, f"the daemon holds {after} fds after the files were closed, {base} before:" \
    f" {dict(fd_targets() - t0)}"
for n in names:                        # serving again
    assert open(f"{m}/many/{n}", "rb").read() == want[n], f"{n} after closing"
with open(f"{m}/many/u0", "a") as f:
    f.write("more\n")
print(f"  {len(fds)} opens succeeded, {sum(errs.values())} failed with {dict(errs)};"
      f" daemon fds {base} before, {after} after")
PY
kill -0 "$pid" || fail "the daemon died"
shale umount "$M"
shale mount fds "$M"
assert_eq "upper 0
more" "$(cat "$M/many/u0")"
shale umount "$M"
fsck_clean "after fd exhaustion"

}

for p in ${EXHAUST_PARTS:-store upper fds}; do "part_$p"; done
echo PASS
