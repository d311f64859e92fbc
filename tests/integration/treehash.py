#!/usr/bin/env python3
"""Print one digest of a directory tree as it is on disk: names, types, modes,
owners, sizes, symlink targets, device numbers, contents and every xattr
(trusted.* too when root). Used to check that an upper directory is intact."""
import hashlib
import os
import stat
import sys


def walk(root):
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            h.update(f"{rel}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                h.update(f"{st.st_rdev}".encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            try:
                for x in sorted(os.listxattr(p, follow_symlinks=False)):
                    h.update(x.encode() + b"=" + os.getxattr(p, x, follow_symlinks=False))
            except OSError:
                pass
    return h.hexdigest()


if __name__ == "__main__":
    print(walk(sys.argv[1]))
