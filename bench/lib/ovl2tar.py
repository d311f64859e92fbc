#!/usr/bin/env python3
"""ovl2tar.py DIR: write an overlay-format layer folder to stdout as a tar with OCI whiteouts.

overlayfs marks a deleted name with a 0/0 character device and a directory that hides
what is below it with the xattr trusted.overlay.opaque=y. An OCI layer tar says the same
with an empty file `.wh.NAME` and a file `.wh..wh..opq` inside the directory. Everything
else (files, directories, symlinks, hard links, devices, modes, owners, times, other
xattrs as SCHILY.xattr pax records) is written as it is, parents first, names in byte
order. The root folder itself is not written.
"""
import os
import stat
import sys
import tarfile

OPAQUE = "trusted.overlay.opaque"


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        if n.startswith("trusted.overlay."):
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + n] = v.decode("utf-8", "surrogateescape")
    return out


def is_opaque(path):
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def marker(name, st):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.REGTYPE
    ti.size = 0
    ti.mode = 0
    ti.mtime = int(st.st_mtime)
    return ti


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: ovl2tar.py DIR > layer.tar\n")
        return 2
    root = sys.argv[1]
    out = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)

    def walk(rel):
        full = os.path.join(root, rel) if rel else root
        for name in sorted(os.listdir(full), key=os.fsencode):
            path = os.path.join(full, name)
            arc = os.path.join(rel, name) if rel else name
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.addfile(marker(os.path.join(rel, ".wh." + name) if rel else ".wh." + name, st))
                continue
            ti = out.gettarinfo(path, arcname=arc)
            ti.pax_headers.update(xattrs(path))
            if ti.isreg():
                with open(path, "rb") as f:
                    out.addfile(ti, f)
            else:
                out.addfile(ti)
            if stat.S_ISDIR(st.st_mode):
                if is_opaque(path):
                    out.addfile(marker(os.path.join(arc, ".wh..wh..opq"), st))
                walk(arc)

    walk("")
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
