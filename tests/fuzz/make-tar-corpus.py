#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_tar (tests/fuzz/corpus/tar/): small tars of the
shapes the importer handles. Deterministic (fixed mtimes, owners). Run it again
after a change: python3 tests/fuzz/make-tar-corpus.py"""
import gzip
import io
import os
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tar")


def info(name, type=tarfile.REGTYPE, data=b"", mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.mode = mode
    ti.mtime = 1700000000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, (io.BytesIO(data) if type == tarfile.REGTYPE else None)


def tar(members, fmt=tarfile.GNU_FORMAT, pax=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax or {}) as t:
        for ti, f in members:
            t.addfile(ti, f)
    return buf.getvalue()


def write(name, data):
    if name.endswith(".tar") and len(data) > 1024:
        # drop the record padding: the data, then the two zero blocks that end it
        end = len(data.rstrip(b"\0"))
        data = data[:(end + 511) // 512 * 512 + 1024]
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    d = tarfile.DIRTYPE
    def basic(): return [
        info("./", d, mode=0o755),
        info("etc/", d, mode=0o755),
        info("etc/hostname", data=b"shale\n"),
        info("etc/empty"),
        info("bin/", d, mode=0o755),
        info("bin/sh", data=b"#!/bin/sh\necho hi\n", mode=0o755),
    ]
    write("plain.tar", tar(basic()))
    write("plain.tar.gz", gzip.compress(tar(basic()), mtime=0))
    write("links.tar", tar([
        info("a/", d, mode=0o755),
        info("a/file", data=b"x" * 100),
        info("a/hard", tarfile.LNKTYPE, linkname="a/file"),
        info("a/hard2", tarfile.LNKTYPE, linkname="a/file"),
        info("a/sym", tarfile.SYMTYPE, linkname="file", mode=0o777),
        info("a/abs", tarfile.SYMTYPE, linkname="/etc/passwd", mode=0o777),
        info("a/dangling", tarfile.SYMTYPE, linkname="../../nowhere", mode=0o777),
        info("a/fifo", tarfile.FIFOTYPE),
        info("a/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
    ]))
    long = "d" * 120 + "/" + "e" * 120 + "/" + "f" * 100
    write("longnames-gnu.tar", tar([
        info(long, data=b"long\n"),
        info("short", tarfile.SYMTYPE, linkname="t" * 200, mode=0o777),
        info("hl", tarfile.LNKTYPE, linkname=long),
    ]))
    write("longnames-pax.tar", tar([
        info(long, data=b"long\n"),
        info("short", tarfile.SYMTYPE, linkname="t" * 200, mode=0o777),
    ], fmt=tarfile.PAX_FORMAT))
    write("pax-xattrs.tar", tar([
        info("f", data=b"caps", pax_headers={
            "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
            "SCHILY.xattr.user.comment": "hello",
            "mtime": "1700000000.5",
        }),
        info("big-uid", data=b"", uid=3000000000, gid=3000000001,
             pax_headers={"uid": "3000000000", "gid": "3000000001"}),
    ], fmt=tarfile.PAX_FORMAT, pax={"comment": "global header"}))
    write("whiteouts.tar", tar([
        info("dir/", d, mode=0o755),
        info("dir/.wh..wh..opq"),
        info("dir/.wh.gone"),
        info(".wh.rootgone"),
        info("dir/kept", data=b"k"),
    ]))
    write("ustar.tar", tar(basic()[1:4], fmt=tarfile.USTAR_FORMAT))
    write("empty.tar", b"\0" * 1024)
    write("sparse-hole.tar", tar([info("zeros", data=b"\0" * 4095 + b"1")]))


if __name__ == "__main__":
    main()
