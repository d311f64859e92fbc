#!/usr/bin/env python3
"""A seeded random file system workload with a model of the expected tree.

    fsstress.py DIR [--seed N] [--ops N] [--seconds T] [--max-entries N]
                    [--verify-every N] [--quiet]
    fsstress.py DIR --digest      one digest of what the model compares

Operates on the tree under DIR (whatever is already there, lower files of a
mount included, is read into the model first): create, write, append,
truncate, rename (files and directories, over existing files too), unlink,
mkdir, rmdir, link, symlink, chmod, setxattr, removexattr, fsync, fdatasync and
reads that compare with the model. Every operation is one the model says must
succeed, so any OSError is a failure. The whole tree is compared with the model
every --verify-every operations and at the end: names, types, contents, modes,
link counts, symlink targets, user xattrs, hardlinks sharing an inode.

Stops after --ops operations or --seconds seconds, whichever comes first.
Prints one line of counts; exits 1 on the first mismatch or error."""
import argparse
import errno
import hashlib
import os
import random
import stat
import sys
import time

CHUNK = 1 << 20


class File:
    def __init__(self, data=b"", mode=0o644, xattrs=None):
        self.data = bytearray(data)
        self.mode = mode
        self.xattrs = dict(xattrs or {})
        self.nlink = 0


class Link:
    def __init__(self, target):
        self.target = target


class Dir:
    def __init__(self, mode=0o755, xattrs=None):
        self.children = {}
        self.mode = mode
        self.xattrs = dict(xattrs or {})


def user_xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return out
        raise
    for n in names:
        if n.startswith("user."):
            out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out


def scan(path, inodes):
    """The model of an existing tree; inodes: st_ino -> File (hardlinks)."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        d = Dir(stat.S_IMODE(st.st_mode), user_xattrs(path))
        for name in sorted(os.listdir(path)):
            c = scan(os.path.join(path, name), inodes)
            if c is not None:
                d.children[name] = c
        return d
    if stat.S_ISLNK(st.st_mode):
        return Link(os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        f = inodes.get(st.st_ino)
        if f is None:
            with open(path, "rb") as fh:
                f = File(fh.read(), stat.S_IMODE(st.st_mode), user_xattrs(path))
            inodes[st.st_ino] = f
        f.nlink += 1
        return f
    return None  # devices, fifos: left alone


class Stress:
    def __init__(self, root, seed, max_entries, quiet):
        self.root = root
        self.seed = seed
        self.rng = random.Random(seed)
        self.max_entries = max_entries
        self.quiet = quiet
        inodes = {}
        self.tree = scan(root, inodes)
        self.counts = {}
        self.seq = 0

    # ---- the model ----
    def walk(self):
        """(path, node, parent Dir, name) of everything, the root excluded."""
        out = []
        stack = [("", self.tree)]
        while stack:
            p, d = stack.pop()
            for name, c in d.children.items():
                cp = f"{p}/{name}" if p else name
                out.append((cp, c, d, name))
                if isinstance(c, Dir):
                    stack.append((cp, c))
        return out

    def real(self, p):
        return os.path.join(self.root, p) if p else self.root

    def dirs(self, entries):
        return [("", self.tree)] + [(p, n) for p, n, _, _ in entries if isinstance(n, Dir)]

    def files(self, entries):
        return [(p, n) for p, n, _, _ in entries if isinstance(n, File)]

    def new_name(self, d):
        while True:
            self.seq += 1
            name = f"s{self.seed}n{self.seq}" + self.rng.choice(["", ".txt", "-x", "_long_name_" * 3])
            if name not in d.children:
                return name

    def payload(self, n):
        # cheap, varied and recognisable content
        b = self.rng.getrandbits(64).to_bytes(8, "little")
        return (b * (n // 8 + 1))[:n]

    def size(self):
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randrange(0, 1025)           # inline-sized
        if r < 0.9:
            return self.rng.randrange(1025, 64 * 1024)
        return self.rng.randrange(64 * 1024, 2 * CHUNK + 4096)  # crosses chunks

    # ---- operations: each returns False when it does not apply ----
    def op_create(self, e):
        if len(e) >= self.max_entries:
            return False
        p, d = self.rng.choice(self.dirs(e))
        name = self.new_name(d)
        data = self.payload(self.size())
        mode = self.rng.choice([0o644, 0o600, 0o755, 0o664])
        fd = os.open(self.real(f"{p}/{name}" if p else name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        f = File(data, mode)
        f.nlink = 1
        d.children[name] = f
        return True

    def op_write(self, e):
        fs = self.files(e)
        if not fs:
            return False
        p, f = self.rng.choice(fs)
        end = len(f.data)
        off = self.rng.randrange(0, end + 1) if self.rng.random() < 0.8 else \
            self.rng.randrange(0, 2 * CHUNK + 8192)
        data = self.payload(self.rng.choice([1, 100, 4096, 70000, CHUNK + 10]))
        fd = os.open(self.real(p), os.O_WRONLY)
        try:
            assert os.pwrite(fd, data, off) == len(data)
        finally:
            os.close(fd)
        if off > len(f.data):
            f.data.extend(bytes(off - len(f.data)))
        f.data[off:off + len(data)] = data
        return True

    def op_append(self, e):
        fs = self.files(e)
        if not fs:
            return False
        p, f = self.rng.choice(fs)
        data = self.payload(self.rng.randrange(1, 5000))
        with open(self.real(p), "ab") as fh:
            fh.write(data)
        f.data.extend(data)
        return True

    def op_truncate(self, e):
        fs = self.files(e)
        if not fs:
            return False
        p, f = self.rng.choice(fs)
        n = self.rng.randrange(0, len(f.data) + 1) if self.rng.random() < 0.7 else \
            self.rng.randrange(0, 2 * CHUNK + 100)
        os.truncate(self.real(p), n)
        if n < len(f.data):
            del f.data[n:]
        else:
            f.data.extend(bytes(n - len(f.data)))
        return True

    def op_read(self, e):
        fs = self.files(e)
        if not fs:
            return False
        p, f = self.rng.choice(fs)
        off = self.rng.randrange(0, len(f.data) + 1)
        n = self.rng.choice([1, 4096, 200000])
        fd = os.open(self.real(p), os.O_RDONLY)
        try:
            got = os.pread(fd, n, off)
        finally:
            os.close(fd)
        if got != bytes(f.data[off:off + n]):
            raise AssertionError(f"read {p} at {off}: content differs from the model")
        return True

    def op_unlink(self, e):
        cand = [(p, n, d, name) for p, n, d, name in e if not isinstance(n, Dir)]
        if not cand or len(e) < self.max_entries // 4:
            return False
        p, n, d, name = self.rng.choice(cand)
        os.unlink(self.real(p))
        del d.children[name]
        if isinstance(n, File):
            n.nlink -= 1
        return True

    def op_mkdir(self, e):
        if len(e) >= self.max_entries:
            return False
        p, d = self.rng.choice(self.dirs(e))
        name = self.new_name(d)
        mode = self.rng.choice([0o755, 0o700, 0o775])
        os.mkdir(self.real(f"{p}/{name}" if p else name), mode)
        d.children[name] = Dir(mode)
        return True

    def op_rmdir(self, e):
        cand = [(p, n, d, name) for p, n, d, name in e if isinstance(n, Dir)]
        if not cand:
            return False
        p, n, d, name = self.rng.choice(cand)
        if n.children:
            try:
                os.rmdir(self.real(p))
            except OSError as ex:
                if ex.errno != errno.ENOTEMPTY:
                    raise
                return True
            raise AssertionError(f"rmdir of the non-empty {p} succeeded")
        os.rmdir(self.real(p))
        del d.children[name]
        return True

    def op_rename(self, e):
        if not e:
            return False
        p, n, d, name = self.rng.choice(e)
        dp, dd = self.rng.choice(self.dirs(e))
        if isinstance(n, Dir) and (dp == p or dp.startswith(p + "/")):
            return False  # into itself
        target = self.new_name(dd)
        # sometimes over an existing non-directory of the target dir
        others = [k for k, c in dd.children.items()
                  if isinstance(c, (File, Link)) and not isinstance(n, Dir) and c is not n]
        if others and self.rng.random() < 0.3:
            target = self.rng.choice(others)
        tp = f"{dp}/{target}" if dp else target
        os.rename(self.real(p), self.real(tp))
        old = dd.children.get(target)
        if isinstance(old, File):
            old.nlink -= 1
        del d.children[name]
        dd.children[target] = n
        return True

    def op_link(self, e):
        fs = self.files(e)
        if not fs or len(e) >= self.max_entries:
            return False
        p, f = self.rng.choice(fs)
        dp, dd = self.rng.choice(self.dirs(e))
        name = self.new_name(dd)
        os.link(self.real(p), self.real(f"{dp}/{name}" if dp else name))
        dd.children[name] = f
        f.nlink += 1
        return True

    def op_symlink(self, e):
        if len(e) >= self.max_entries:
            return False
        p, d = self.rng.choice(self.dirs(e))
        name = self.new_name(d)
        target = self.rng.choice(["../x", "/etc/passwd", "dangling", "a" * 200, name])
        os.symlink(target, self.real(f"{p}/{name}" if p else name))
        d.children[name] = Link(target)
        return True

    def op_chmod(self, e):
        cand = [(p, n) for p, n, _, _ in e if isinstance(n, (File, Dir))]
        if not cand:
            return False
        p, n = self.rng.choice(cand)
        mode = self.rng.choice([0o600, 0o644, 0o755, 0o700, 0o640]) if isinstance(n, File) \
            else self.rng.choice([0o755, 0o700, 0o750])
        os.chmod(self.real(p), mode)
        n.mode = mode
        return True

    def op_setxattr(self, e):
        cand = [(p, n) for p, n, _, _ in e if isinstance(n, (File, Dir))]
        if not cand:
            return False
        p, n = self.rng.choice(cand)
        if n.xattrs and self.rng.random() < 0.3:
            k = self.rng.choice(sorted(n.xattrs))
            os.removexattr(self.real(p), k)
            del n.xattrs[k]
            return True
        k = f"user.k{self.rng.randrange(4)}"
        v = self.payload(self.rng.randrange(1, 300))
        os.setxattr(self.real(p), k, v)
        n.xattrs[k] = v
        return True

    def op_fsync(self, e):
        fs = self.files(e)
        if not fs:
            return False
        p, _ = self.rng.choice(fs)
        fd = os.open(self.real(p), os.O_WRONLY)
        try:
            (os.fsync if self.rng.random() < 0.5 else os.fdatasync)(fd)
        finally:
            os.close(fd)
        return True

    OPS = [("create", 12), ("write", 14), ("append", 6), ("truncate", 6), ("read", 10),
           ("unlink", 8), ("mkdir", 4), ("rmdir", 3), ("rename", 10), ("link", 4),
           ("symlink", 3), ("chmod", 5), ("setxattr", 5), ("fsync", 3)]

    def step(self):
        e = self.walk()
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        for _ in range(10):
            op = self.rng.choices(names, weights)[0]
            try:
                done = getattr(self, "op_" + op)(e)
            except OSError as ex:
                raise AssertionError(f"{op}: {ex}") from ex
            if done:
                self.counts[op] = self.counts.get(op, 0) + 1
                return

    # ---- the whole tree against the model ----
    def verify(self):
        inos = {}
        self._verify_dir("", self.tree, inos)

    def _verify_dir(self, p, d, inos):
        rp = self.real(p)
        st = os.lstat(rp)
        if p and stat.S_IMODE(st.st_mode) != d.mode:
            raise AssertionError(f"{p}: mode {oct(stat.S_IMODE(st.st_mode))}, model {oct(d.mode)}")
        if p and user_xattrs(rp) != d.xattrs:
            raise AssertionError(f"{p}: xattrs {sorted(user_xattrs(rp))}, model {sorted(d.xattrs)}")
        want = set(d.children)
        have = {k for k in os.listdir(rp)
                if not stat.S_ISCHR(os.lstat(os.path.join(rp, k)).st_mode)
                and not stat.S_ISBLK(os.lstat(os.path.join(rp, k)).st_mode)
                and not stat.S_ISFIFO(os.lstat(os.path.join(rp, k)).st_mode)
                and not stat.S_ISSOCK(os.lstat(os.path.join(rp, k)).st_mode)}
        missing = want - have
        if missing or have - want:
            raise AssertionError(f"/{p}: missing {sorted(missing)[:5]}, extra {sorted(have - want)[:5]}")
        for name in sorted(want):
            c = d.children[name]
            cp = f"{p}/{name}" if p else name
            rcp = self.real(cp)
            st = os.lstat(rcp)
            if isinstance(c, Dir):
                if not stat.S_ISDIR(st.st_mode):
                    raise AssertionError(f"{cp}: not a directory")
                self._verify_dir(cp, c, inos)
            elif isinstance(c, Link):
                if not stat.S_ISLNK(st.st_mode) or os.readlink(rcp) != c.target:
                    raise AssertionError(f"{cp}: not the symlink to {c.target}")
            else:
                if not stat.S_ISREG(st.st_mode):
                    raise AssertionError(f"{cp}: not a regular file")
                if stat.S_IMODE(st.st_mode) != c.mode:
                    raise AssertionError(f"{cp}: mode {oct(stat.S_IMODE(st.st_mode))}, model {oct(c.mode)}")
                if st.st_nlink != c.nlink:
                    raise AssertionError(f"{cp}: nlink {st.st_nlink}, model {c.nlink}")
                if st.st_size != len(c.data):
                    raise AssertionError(f"{cp}: size {st.st_size}, model {len(c.data)}")
                prev = inos.setdefault(id(c), st.st_ino)
                if prev != st.st_ino:
                    raise AssertionError(f"{cp}: hardlinks of one file show inodes {prev} and {st.st_ino}")
                with open(rcp, "rb") as fh:
                    if fh.read() != bytes(c.data):
                        raise AssertionError(f"{cp}: content differs from the model")
                if user_xattrs(rcp) != c.xattrs:
                    raise AssertionError(f"{cp}: xattrs differ from the model")


def digest(root):
    """One digest of what the model compares (directory sizes and link counts,
    which differ between a writable mount and a committed image, left out)."""
    h = hashlib.sha256()
    first = {}
    for dp, dn, fn in os.walk(root):
        dn.sort()
        for name in sorted(dn + fn):
            p = os.path.join(dp, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            h.update(f"{rel}\0{stat.S_IFMT(st.st_mode):o}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
                continue
            h.update(f"{stat.S_IMODE(st.st_mode):o}\0".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(f"{st.st_nlink}\0{first.setdefault(st.st_ino, rel)}\0".encode())
                with open(p, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
            for k, v in sorted(user_xattrs(p).items()):
                h.update(k.encode() + b"=" + v + b"\0")
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ops", type=int, default=10 ** 12)
    ap.add_argument("--seconds", type=float, default=10 ** 9)
    ap.add_argument("--max-entries", type=int, default=400)
    ap.add_argument("--verify-every", type=int, default=5000)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--digest", action="store_true", help="print the tree's digest and exit")
    a = ap.parse_args()
    if a.digest:
        print(digest(a.dir))
        return
    os.umask(0)
    s = Stress(a.dir, a.seed, a.max_entries, a.quiet)
    end = time.monotonic() + a.seconds
    n = 0
    try:
        while n < a.ops and time.monotonic() < end:
            s.step()
            n += 1
            if n % a.verify_every == 0:
                s.verify()
        s.verify()
    except AssertionError as ex:
        print(f"fsstress: after {n} operations (seed {a.seed}): {ex}", file=sys.stderr)
        sys.exit(1)
    if not a.quiet:
        print(f"fsstress: {n} operations, seed {a.seed}: " +
              " ".join(f"{k} {v}" for k, v in sorted(s.counts.items())))


if __name__ == "__main__":
    main()
