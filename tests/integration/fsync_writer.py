#!/usr/bin/env python3
"""Writes through a mount and journals, outside it, what fsync acknowledged.

    fsync_writer.py write MOUNT JOURNAL ROUND   one round of writes (stops quietly
                                                when the daemon dies under it)
    fsync_writer.py verify MOUNT JOURNAL [FROM] every journalled change is there
                                                (with FROM: only the new files of
                                                journal lines FROM.. are read)

A round: new files written and fsync'd, 100-byte patches into a large lower
file (partial copy-up), a line appended to a growing file, a rename, a lower
file deleted, a chmod: each journalled (and the journal fsync'd) only after
the fsync that makes it durable returned. Patches never overlap, so whatever
was written but not acknowledged cannot hide an acknowledged one."""
import errno
import hashlib
import json
import os
import sys

BIG = "big"           # the large lower file (crash_daemon.sh makes it)
FILES = 60            # new files a round writes (some 210 crash points a round)
PATCHES = 4           # patches a round writes into BIG
PATCH_STRIDE = 5003   # patch k of round r lands at (PATCHES r + k) * stride


def content(r, i):
    return (f"round {r} file {i} " * (40 + i * 31)).encode()


def fsync_path(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path):
        self.f = open(path, "a")

    def add(self, **rec):
        # flushed, not fsync'd: only the daemon is killed, never this process
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()


def write_round(mnt, journal, r):
    j = Journal(journal)
    d = os.path.join(mnt, "new", f"r{r}")
    os.makedirs(d, exist_ok=True)
    fsync_path(os.path.join(mnt, "new"))
    for i in range(FILES):
        p = os.path.join(d, f"f{i}")
        with open(p, "wb") as f:
            f.write(content(r, i))
            f.flush()
            os.fsync(f.fileno())
        fsync_path(d)
        j.add(op="file", path=f"new/r{r}/f{i}", sha=hashlib.sha256(content(r, i)).hexdigest())
    fd = os.open(os.path.join(mnt, BIG), os.O_WRONLY)
    try:
        for k in range(PATCHES):
            off = (PATCHES * r + k) * PATCH_STRIDE
            data = f"<patch r{r} k{k}>".ljust(100, "#").encode()
            os.pwrite(fd, data, off)
            os.fdatasync(fd)
            j.add(op="patch", path=BIG, off=off, data=data.decode())
    finally:
        os.close(fd)
    with open(os.path.join(mnt, "appended"), "a") as f:
        f.write(f"line of round {r}\n")
        f.flush()
        os.fsync(f.fileno())
    j.add(op="line", path="appended", line=f"line of round {r}")
    # until its fsync returns, the file may be under either name
    j.add(op="moving", path=f"new/r{r}/f0", alt=f"new/r{r}/moved",
          sha=hashlib.sha256(content(r, 0)).hexdigest())
    os.rename(os.path.join(d, "f0"), os.path.join(d, "moved"))
    fsync_path(d)
    j.add(op="gone", path=f"new/r{r}/f0")
    j.add(op="file", path=f"new/r{r}/moved", sha=hashlib.sha256(content(r, 0)).hexdigest())
    victim = os.path.join(mnt, "lower", f"l{r}")
    if os.path.exists(victim):
        os.unlink(victim)
        fsync_path(os.path.join(mnt, "lower"))
        j.add(op="gone", path=f"lower/l{r}")
    meta = os.path.join(mnt, "lower", f"m{r}")
    if os.path.exists(meta):
        os.chmod(meta, 0o600)
        fsync_path(meta)
        j.add(op="mode", path=f"lower/m{r}", mode=0o600)


def verify(mnt, journal, start=0):
    problems = []
    with open(journal) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    for i, rec in enumerate(recs):
        rec["old"] = i < start  # an older round's file, checked by full verifies
    cache = {}

    def read(path):
        if path not in cache:
            with open(os.path.join(mnt, path), "rb") as f:
                cache[path] = f.read()
        return cache[path]

    # the last word on each path counts (a file renamed away is gone)
    final, patches, lines = {}, [], []
    for rec in recs:
        if rec["op"] == "patch":
            patches.append(rec)
        elif rec["op"] == "line":
            lines.append(rec)
        elif rec["op"] == "mode":
            final[("mode", rec["path"])] = rec
        else:
            final[("name", rec["path"])] = rec
    for rec in list(final.values()) + patches + lines:
        p = rec["path"]
        try:
            if rec["op"] == "file":
                if rec["old"]:
                    if not os.path.lexists(os.path.join(mnt, p)):
                        problems.append(f"{p}: lost")
                elif hashlib.sha256(read(p)).hexdigest() != rec["sha"]:
                    problems.append(f"{p}: content differs")
            elif rec["op"] == "moving":
                want = rec["sha"]
                if not any(os.path.lexists(os.path.join(mnt, q)) and
                           hashlib.sha256(read(q)).hexdigest() == want
                           for q in (p, rec["alt"])):
                    problems.append(f"{p}: lost while being renamed")
            elif rec["op"] == "patch":  # only the patch's bytes: BIG is large
                with open(os.path.join(mnt, p), "rb") as f:
                    got = os.pread(f.fileno(), len(rec["data"]), rec["off"])
                if got != rec["data"].encode():
                    problems.append(f"{p}: patch at {rec['off']} lost: {got[:24]!r}")
            elif rec["op"] == "line":
                if (rec["line"] + "\n").encode() not in read(p):
                    problems.append(f"{p}: line {rec['line']!r} lost")
            elif rec["op"] == "gone":
                if os.path.lexists(os.path.join(mnt, p)):
                    problems.append(f"{p}: deleted, yet there")
            elif rec["op"] == "mode":
                m = os.lstat(os.path.join(mnt, p)).st_mode & 0o7777
                if m != rec["mode"]:
                    problems.append(f"{p}: mode {m:o}, expected {rec['mode']:o}")
        except OSError as e:
            problems.append(f"{p}: {e}")
    for line in problems:
        print(line)
    print(f"{len(recs)} journalled changes checked, {len(problems)} lost")
    return 1 if problems else 0


def main():
    if sys.argv[1] == "write":
        try:
            write_round(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        except OSError as e:
            # the daemon died under us: what was not acknowledged may be lost
            if e.errno not in (errno.ENOTCONN, errno.ECONNABORTED):
                raise
            return 3
        return 0
    return verify(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)


if __name__ == "__main__":
    sys.exit(main())
