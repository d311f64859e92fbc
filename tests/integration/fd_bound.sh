#!/usr/bin/env bash
# Every inode the kernel holds keeps an fd in the daemon (fs/reclaim.c): creating
# more files than the daemon may open must still work, the daemon asking the
# kernel to drop idle inodes. Before that, a tar of 50,000 files into a mount
# failed past the fd limit ("Cannot utime: Input/output error").
source "$(dirname "$0")/lib.sh"
LIMIT=512
FILES=${FD_FILES:-3000}

make_busybox_rootfs "$T/root"
shale import "$T/root" base:1 >/dev/null
mkdir -p "$T/mnt"

step "a mount whose daemon may open $LIMIT files; $FILES files created, chmod'ed, touched"
# without CAP_SYS_RESOURCE, or the daemon raises its limit to fs.nr_open
setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource \
	prlimit --nofile=$LIMIT:$LIMIT "$SHALE" mount --name many base:1 "$T/mnt"
pid=$(shale mounts --format json | python3 -c '
import json, sys
for l in sys.stdin:
    print(json.loads(l).get("pid", ""))')
[ -n "$pid" ] && [ -d "/proc/$pid" ] || fail "no daemon pid in shale mounts"
grep -q "^Max open files *$LIMIT " "/proc/$pid/limits" || fail "the daemon's fd limit is not $LIMIT"
python3 - "$T/mnt/many" "$FILES" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
os.mkdir(top)
for d in range(n // 100):
    os.mkdir(f"{top}/d{d}")
    for i in range(100):
        p = f"{top}/d{d}/f{i}"
        with open(p, "w") as f:
            f.write(p)
        os.chmod(p, 0o640)
        os.utime(p, (1000000000, 1000000000 + i))
        os.lchown(p, 1, 2)
PY
held=$(ls "/proc/$pid/fd" | wc -l)
[ "$held" -lt "$LIMIT" ] || fail "the daemon holds $held fds"
step "the daemon holds $held fds; every file is right through the mount"
python3 - "$T/mnt/many" "$FILES" <<'PY'
import os, stat, sys
top, n = sys.argv[1], int(sys.argv[2])
for d in range(n // 100):
    for i in range(100):
        p = f"{top}/d{d}/f{i}"
        st = os.lstat(p)
        assert stat.S_IMODE(st.st_mode) == 0o640, (p, oct(st.st_mode))
        assert int(st.st_mtime) == 1000000000 + i and (st.st_uid, st.st_gid) == (1, 2), p
        assert open(p).read() == p, p
PY
shale umount "$T/mnt"

step "after a remount, and in the committed image"
shale mount many "$T/mnt"
assert_eq "$T/mnt/many/d7/f42" "$(cat "$T/mnt/many/d7/f42")"
assert_eq "$FILES" "$(find "$T/mnt/many" -type f | wc -l)"
shale umount "$T/mnt"
shale commit many many:1 >/dev/null
assert_eq "$FILES" "$(shale ls -R many:1 /many | grep -c '^/many/d[0-9]*/f')"
out=$(shale fsck)
assert_contains "$out" "0 errors"
echo "PASS"
