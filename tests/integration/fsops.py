#!/usr/bin/env python3
"""Apply file-system operations to a directory and print one line per operation:
its arguments and result ("ok", a digest of what was read, or the errno name).
Running the same operations on two mounts and diffing the outputs compares
behaviour, errno included.

  fsops.py make-lower DIR...       build the lower layers (overlay format) used by the cases
  fsops.py ROOT case NAME          one scripted case (see CASES)
  fsops.py ROOT cases              the names of the scripted cases
  fsops.py ROOT random SEED COUNT [--dir-renames]   a random sequence from a fixed seed
"""
import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import random
import stat
import sys

MiB = 1 << 20
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(a, b, flags):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), ctypes.c_uint(flags))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def rnd_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def make_lower(dirs):
    """Two layers in overlayfs format (whiteout = 0/0 char device)."""
    l0, l1 = dirs
    def w(p, data, mode=0o644):
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
    for d in ("dir/sub/deep", "emptydir", "xdir", "odir/old", "lowdir/inner"):
        os.makedirs(f"{l0}/{d}", exist_ok=True)
    w(f"{l0}/dir/a", b"aaa")
    w(f"{l0}/dir/b", rnd_bytes(1, 3 * MiB + 17))
    w(f"{l0}/dir/sub/c", b"ccc")
    w(f"{l0}/dir/sub/deep/d", b"ddd")
    w(f"{l0}/file1", b"one")
    w(f"{l0}/big.bin", rnd_bytes(2, 5 * MiB))
    w(f"{l0}/exec.sh", b"#!/bin/sh\n", 0o4755)
    w(f"{l0}/odir/old/x", b"x")
    w(f"{l0}/lowdir/inner/f", b"f")
    w(f"{l0}/lowdir/g", b"g")
    w(f"{l0}/hl1", b"hardlinked")
    os.link(f"{l0}/hl1", f"{l0}/hl2")
    os.symlink("file1", f"{l0}/link")
    os.mkfifo(f"{l0}/fifo")
    os.mknod(f"{l0}/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.setxattr(f"{l0}/xdir", "user.x", b"dir-attr")
    w(f"{l0}/xfile", b"x")
    os.setxattr(f"{l0}/xfile", "user.y", b"file-attr")
    os.utime(f"{l0}/file1", ns=(10**18, 10**18))
    # setuid and setgid files for writes by another user (case "suid")
    os.makedirs(f"{l0}/suid", exist_ok=True)
    os.chmod(f"{l0}/suid", 0o777)
    for name, mode, owner in (("own", 0o6775, 1000), ("nogx", 0o2666, 0), ("nogxg", 0o2666, 1000), ("rootw", 0o4777, 0),
                              ("tr", 0o4777, 0), ("otr", 0o4777, 0), ("ch", 0o4755, 0)):
        w(f"{l0}/suid/{name}", name.encode(), mode)
        os.chown(f"{l0}/suid/{name}", owner, owner)
        os.chmod(f"{l0}/suid/{name}", mode)  # chown cleared the bits
    # layer 1: changes on top
    os.makedirs(f"{l1}/dir/sub", exist_ok=True)
    os.mknod(f"{l1}/dir/sub/deep", stat.S_IFCHR, os.makedev(0, 0))
    os.makedirs(f"{l1}/odir/new", exist_ok=True)
    os.setxattr(f"{l1}/odir", "trusted.overlay.opaque", b"y")
    w(f"{l1}/odir/new/y", b"y")
    w(f"{l1}/file1", b"one-v2")
    os.makedirs(f"{l1}/newdir", exist_ok=True)
    w(f"{l1}/newdir/n", b"n")


def do(op, *args):
    """Run one operation; return its printable result."""
    try:
        r = OPS[op](*args)
        return "ok" if r is None else r
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def _write(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, off=None):
    fd = os.open(p, flags, 0o644)
    try:
        if off is None:
            os.write(fd, data)
        else:
            os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def _read(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _mmap_write(p, off, data):
    fd = os.open(p, os.O_RDWR)
    try:
        m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m[off:off + len(data)] = data
        m.flush()
        m.close()
    finally:
        os.close(fd)


def _fsync(p, data):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def _locks(p):
    fd = os.open(p, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _as(uid, op, *args):
    """One operation by another user (no capabilities): its result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            out = do(op, *args)
        except BaseException as e:  # report, never run on as the parent
            out = f"as-failed {e!r}"
        os.write(w, str(out).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return f"as {uid}: {out.decode()}"


def _coherence(p, use_map=True):
    """What a reader's descriptor (read, and a shared map) sees while another
    descriptor writes: write-only ones write around the page cache. (A map of
    a lower file made before its copy-up keeps the old content on overlayfs, a
    documented exception; on shale it follows: no map there.)"""
    seen = []
    r = os.open(p, os.O_RDONLY)
    try:
        seen.append(os.pread(r, 1 << 16, 0))
        m = mmap.mmap(r, 0, prot=mmap.PROT_READ) if use_map and os.fstat(r).st_size else None
        w = os.open(p, os.O_WRONLY)
        os.pwrite(w, b"W" * 3000, 1)
        seen.append(os.pread(r, 1 << 16, 0))
        if m:
            seen.append(m[:4096])
            m.close()
        os.close(w)
        a = os.open(p, os.O_WRONLY | os.O_APPEND)
        os.write(a, b"tail")
        os.close(a)
        seen.append(os.pread(r, 1 << 16, 0))
    finally:
        os.close(r)
    return " ".join(hashlib.sha256(s).hexdigest()[:8] for s in seen)


def _listdir(p):
    return ",".join(sorted(os.listdir(p)))


def _rmtree(p):
    for dirpath, dirs, files in os.walk(p, topdown=False):
        for f in files:
            os.unlink(os.path.join(dirpath, f))
        for d in dirs:
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    os.rmdir(p)


def _stat(p):
    st = os.lstat(p)
    return f"{stat.filemode(st.st_mode)} {st.st_size} {st.st_nlink}"


OPS = {
    "write": lambda p, d: _write(p, d),
    "append": lambda p, d: _write(p, d, os.O_WRONLY | os.O_APPEND),
    "excl": lambda p, d: _write(p, d, os.O_WRONLY | os.O_CREAT | os.O_EXCL),
    "pwrite": lambda p, d, off: _write(p, d, os.O_WRONLY, off),
    "read": _read,
    "truncate": os.truncate,
    "fallocate": lambda p, off, n: (lambda fd: (os.posix_fallocate(fd, off, n), os.close(fd)))(os.open(p, os.O_WRONLY)) and None,
    "unlink": os.unlink,
    "mkdir": os.mkdir,
    "rmdir": os.rmdir,
    "rmtree": _rmtree,
    "rename": os.rename,
    "noreplace": lambda a, b: renameat2(a, b, RENAME_NOREPLACE),
    "exchange": lambda a, b: renameat2(a, b, RENAME_EXCHANGE),
    "link": os.link,
    "symlink": os.symlink,
    "readlink": os.readlink,
    "mkfifo": os.mkfifo,
    "mknod": lambda p, maj, mi: os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(maj, mi)),
    "chmod": os.chmod,
    "chown": lambda p, u, g: os.chown(p, u, g, follow_symlinks=False),
    "utime": lambda p, ns: os.utime(p, ns=(ns, ns), follow_symlinks=False),
    "setxattr": lambda p, k, v: os.setxattr(p, k, v, follow_symlinks=False),
    "removexattr": lambda p, k: os.removexattr(p, k, follow_symlinks=False),
    "getxattr": lambda p, k: os.getxattr(p, k, follow_symlinks=False).hex(),
    "listxattr": lambda p: ",".join(sorted(os.listxattr(p, follow_symlinks=False))),
    "fsync": _fsync,
    "locks": _locks,
    "mmap": _mmap_write,
    "statfs": lambda p: (os.statvfs(p), None)[1],
    "listdir": _listdir,
    "stat": _stat,
    "as": _as,
    "coherence": _coherence,
}

# Each case: a list of (op, args...). Paths are relative to the mount.
CASES = {
    "create": [("write", "new.txt", b"hello"), ("write", "dir/new2", b"x"), ("read", "new.txt"),
               ("write", "nodir/x", b"x"), ("listdir", "dir")],
    "trunc-lower": [("write", "file1", b"t"), ("read", "file1"), ("stat", "file1")],
    "append-lower": [("append", "file1", b"+app"), ("read", "file1"), ("append", "dir/b", b"tail"),
                     ("read", "dir/b")],
    "excl": [("excl", "file1", b"x"), ("excl", "zz", b"z"), ("excl", "zz", b"z"), ("excl", "dir", b"")],
    "write-offsets": [("pwrite", "big.bin", b"X", 4 * MiB + 5), ("pwrite", "dir/b", b"YY", MiB - 1),
                      ("pwrite", "dir/b", b"Z", 3 * MiB + 16), ("pwrite", "dir/b", b"E", 4 * MiB),
                      ("read", "big.bin"), ("read", "dir/b"), ("stat", "dir/b")],
    "truncate": [("truncate", "big.bin", 1500000), ("read", "big.bin"), ("truncate", "dir/b", 10000000),
                 ("read", "dir/b"), ("truncate", "dir/b", 0), ("truncate", "dir/b", 2 * MiB + 3),
                 ("read", "dir/b"), ("truncate", "dir", 0), ("truncate", "file1", 2), ("read", "file1")],
    "fallocate": [("fallocate", "file1", 0, 100000), ("stat", "file1"), ("read", "file1"),
                  ("fallocate", "big.bin", 6 * MiB, MiB), ("read", "big.bin")],
    "unlink": [("unlink", "file1"), ("unlink", "dir/sub/c"), ("unlink", "nonexistent"), ("unlink", "dir"),
               ("unlink", "link"), ("unlink", "fifo"), ("unlink", "null"), ("listdir", "."),
               ("read", "file1"), ("unlink", "dir/sub/deep/d")],
    "mkdir-rmdir": [("mkdir", "m1"), ("mkdir", "dir"), ("mkdir", "file1"), ("rmdir", "dir"),
                    ("rmdir", "emptydir"), ("rmdir", "file1"), ("rmdir", "m1"), ("rmdir", "nope"),
                    ("mkdir", "a/b"), ("listdir", ".")],
    "rmdir-recreate": [("rmtree", "dir"), ("mkdir", "dir"), ("write", "dir/fresh", b"f"),
                       ("listdir", "dir"), ("rmtree", "odir"), ("mkdir", "odir"), ("listdir", "odir")],
    "rmdir-emptied-lower": [("unlink", "dir/sub/c"), ("rmdir", "dir/sub"), ("listdir", "dir"),
                            ("mkdir", "dir/sub"), ("listdir", "dir/sub")],
    "rename-files": [("rename", "file1", "file1.renamed"), ("rename", "dir/a", "a_moved"),
                     ("read", "file1.renamed"), ("read", "a_moved"), ("rename", "nope", "x"),
                     ("rename", "big.bin", "dir/big"), ("read", "dir/big"), ("listdir", ".")],
    "rename-over": [("rename", "dir/a", "file1"), ("read", "file1"), ("rename", "xfile", "exec.sh"),
                    ("rename", "file1", "dir"), ("rename", "emptydir", "file1"),
                    ("mkdir", "m"), ("rename", "m", "emptydir"), ("listdir", "emptydir")],
    "rename-noreplace": [("noreplace", "file1", "dir/a"), ("noreplace", "file1", "dir/new"),
                         ("read", "dir/new"), ("listdir", "dir")],
    "rename-exchange": [("exchange", "file1", "dir/a"), ("read", "file1"), ("read", "dir/a"),
                        ("exchange", "file1", "nothere"), ("write", "n1", b"1"), ("mkdir", "d1"),
                        ("exchange", "n1", "d1"), ("stat", "n1"), ("stat", "d1")],
    "link": [("link", "file1", "file1.link"), ("append", "file1.link", b"+via-link"),
             ("read", "file1"), ("stat", "file1"), ("link", "file1", "dir/a"), ("link", "dir", "dirlink"),
             ("link", "nope", "x")],
    "symlink": [("symlink", "file1", "sl"), ("readlink", "sl"), ("read", "sl"), ("symlink", "x", "file1"),
                ("readlink", "link"), ("symlink", "../../etc/passwd", "dir/evil"), ("readlink", "dir/evil")],
    "special": [("mkfifo", "pipe"), ("mknod", "cdev", 1, 5), ("stat", "pipe"), ("stat", "cdev"),
                ("mkfifo", "file1")],
    "metadata": [("chmod", "file1", 0o600), ("chown", "dir/a", 1000, 1000), ("utime", "big.bin", 10**18 + 5),
                 ("chmod", "dir", 0o700), ("chown", "link", 7, 8), ("utime", "emptydir", 10**17),
                 ("chmod", "exec.sh", 0o755), ("stat", "file1"), ("stat", "exec.sh"), ("chmod", "nope", 0o600)],
    "xattrs": [("setxattr", "file1", "user.a", b"1"), ("removexattr", "xfile", "user.y"),
               ("listxattr", "xfile"), ("getxattr", "xdir", "user.x"), ("setxattr", "xdir", "user.z", b"zz"),
               ("listxattr", "xdir"), ("getxattr", "file1", "user.nope"), ("removexattr", "file1", "user.nope"),
               ("setxattr", "big.bin", "user.big", b"b")],
    "fsync": [("fsync", "file1", b"synced"), ("fsync", "newsync", b"new"), ("read", "file1")],
    "locks": [("locks", "file1"), ("locks", "big.bin")],
    "mmap": [("mmap", "dir/b", 2 * MiB, b"MMAPPED"), ("read", "dir/b"), ("mmap", "file1", 0, b"O")],
    "statfs": [("statfs", "."), ("statfs", "dir")],
    "whiteout-recreate": [("unlink", "file1"), ("write", "file1", b"new"), ("read", "file1"),
                          ("unlink", "link"), ("symlink", "file1", "link"), ("readlink", "link")],
    # a write, truncate or O_TRUNC open by a user without CAP_FSETID clears setuid
    # (and setgid where group-executable); root's do not; chown always does
    "suid": [("as", 1000, "pwrite", "suid/own", b"X", 0), ("stat", "suid/own"),
             ("as", 1000, "pwrite", "suid/nogx", b"X", 0), ("stat", "suid/nogx"),
             ("as", 1000, "pwrite", "suid/nogxg", b"X", 0), ("stat", "suid/nogxg"),
             ("pwrite", "suid/rootw", b"R", 0), ("stat", "suid/rootw"),
             ("as", 1000, "pwrite", "suid/rootw", b"U", 1), ("stat", "suid/rootw"),
             ("as", 1000, "truncate", "suid/tr", 1), ("stat", "suid/tr"),
             ("as", 1000, "write", "suid/otr", b"t"), ("stat", "suid/otr"),
             ("chown", "suid/ch", 1000, 1000), ("stat", "suid/ch"),
             ("write", "suid/new", b"n"), ("chmod", "suid/new", 0o4777),
             ("as", 1000, "append", "suid/new", b"+"), ("stat", "suid/new"),
             ("chmod", "suid/own", 0o6777), ("as", 1000, "append", "suid/own", b"+"),
             ("stat", "suid/own"), ("chmod", "suid/own", 0o6777), ("as", 1000, "truncate", "suid/own", 0),
             ("stat", "suid/own"), ("read", "suid/own"),
             ("chmod", "suid/new", 0o6777), ("as", 1000, "fallocate", "suid/new", 0, 100),
             ("stat", "suid/new"), ("chmod", "suid/nogx", 0o6777),
             ("as", 1000, "fallocate", "suid/nogx", 0, 100), ("stat", "suid/nogx")],
    # a reader opened before (on a lower file: before its copy-up) sees the writes
    "coherence": [("coherence", "file1", False), ("coherence", "dir/sub/c", False),
                  ("write", "fresh", b"f" * 5000),
                  ("coherence", "fresh"), ("read", "file1"), ("read", "fresh")],
    "opaque-dir": [("listdir", "odir"), ("write", "odir/z", b"z"), ("listdir", "odir"),
                   ("rmtree", "odir"), ("listdir", ".")],
}

# Cases where shale intentionally differs from kernel overlayfs (without
# redirect_dir / index): compared against explicit expectations instead.
SHALE_BETTER = {
    # overlayfs: EXDEV for renaming a lower directory
    "rename-lower-dir": [("rename", "dir", "dir2"), ("listdir", "dir2"), ("read", "dir2/sub/c"),
                         ("listdir", "."), ("rename", "dir2/sub", "lowsub"), ("listdir", "lowsub"),
                         ("rename", "lowdir", "dir2/lowdir"), ("listdir", "dir2/lowdir/inner")],
    # overlayfs without index=on: copy-up breaks a hardlink
    "hardlink-copyup": [("append", "hl1", b"+changed"), ("read", "hl1"), ("read", "hl2"),
                        ("stat", "hl1"), ("stat", "hl2"), ("chmod", "hl2", 0o600), ("stat", "hl1")],
    # overlayfs reports the lower nlink after a name of the group is deleted
    "hardlink-unlink": [("unlink", "hl1"), ("stat", "hl2"), ("read", "hl2"), ("link", "hl2", "hl3"),
                        ("stat", "hl3")],
}


def random_ops(seed, count, dir_renames):
    rng = random.Random(seed)
    # no fifo: opening one for writing blocks until a reader comes
    names = ["file1", "big.bin", "dir/a", "dir/b", "dir/sub/c", "xfile", "exec.sh", "link", "null",
             "newdir/n", "odir/new/y", "lowdir/g", "lowdir/inner/f", "n1", "n2", "dir/n3", "newdir/n4",
             "lowdir/n5", "emptydir/n6"]
    dirs = ["dir", "dir/sub", "emptydir", "newdir", "odir", "lowdir", "lowdir/inner", "d1", "dir/d2",
            "emptydir/d3"]
    ops = []
    for _ in range(count):
        k = rng.random()
        f, g, d = rng.choice(names), rng.choice(names), rng.choice(dirs)
        if k < 0.15:
            ops.append(("write", f, rng.randbytes(rng.choice([1, 100, 5000]))))
        elif k < 0.25:
            ops.append(("pwrite", f, rng.randbytes(50), rng.choice([0, 7, MiB - 3, 3 * MiB])))
        elif k < 0.3:
            ops.append(("append", f, b"+"))
        elif k < 0.35:
            ops.append(("truncate", f, rng.choice([0, 10, MiB + 5])))
        elif k < 0.45:
            ops.append(("unlink", f))
        elif k < 0.52:
            ops.append(("mkdir", d))
        elif k < 0.58:
            ops.append(("rmdir", d))
        elif k < 0.66:
            ops.append(("rename", f, g))
        elif k < 0.7 and dir_renames:
            ops.append(("rename", d, rng.choice(dirs)))
        elif k < 0.74:
            ops.append(("link", f, g))
        elif k < 0.78:
            ops.append(("symlink", rng.choice(names), f))
        elif k < 0.84:
            ops.append(("chmod", f, rng.choice([0o600, 0o755, 0o640])))
        elif k < 0.88:
            ops.append(("setxattr", f, "user.r", rng.randbytes(4)))
        elif k < 0.92:
            ops.append(("listdir", d))
        else:
            ops.append(("read", f))
    return ops


def run(root, ops):
    os.chdir(root)
    for i, (op, *args) in enumerate(ops):
        shown = [a if not isinstance(a, bytes) else f"<{len(a)}B>" for a in args]
        print(i, op, *shown, "->", do(op, *args))


def main():
    a = sys.argv[1:]
    if a and a[0] == "make-lower":
        make_lower(a[1:])
        return 0
    root, what = a[0], a[1]
    if what == "cases":
        print(" ".join(CASES))
    elif what == "better":
        print(" ".join(SHALE_BETTER))
    elif what == "case":
        run(root, CASES.get(a[2]) or SHALE_BETTER[a[2]])
    elif what == "random":
        run(root, random_ops(int(a[2]), int(a[3]), "--dir-renames" in a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
