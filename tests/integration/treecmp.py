#!/usr/bin/env python3
"""Compare file trees the way the tests need: names, types, modes, owners, sizes,
mtimes, symlink targets, xattrs, hardlink groups and contents.

  treecmp.py DIR_A DIR_B [--no-content] [--mtime-slack SECONDS] [--skip-content PATH...] [--ignore PATH...]
  treecmp.py DIR --json FILE      (FILE: output of `shale ls -R --format json IMAGE`)

Exits 1 and prints every difference (at most 50) when the trees differ."""
import base64
import hashlib
import json
import os
import stat
import sys

SKIP_XATTRS = ("security.selinux",)


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        if n in SKIP_XATTRS or n.startswith(("trusted.overlay.", "user.overlay.", "trusted.shale.", "user.shale.")):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "?"


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def scan_dir(root, content, ignore, skip_content=()):
    entries = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if any(rel == i or rel.startswith(i + "/") for i in ignore):
                continue
            st = os.lstat(full)
            e = {"type": kind(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                 "gid": st.st_gid, "mtime": st.st_mtime_ns, "xattrs": xattrs(full)}
            if e["type"] in ("file", "symlink"):
                e["size"] = st.st_size
            if e["type"] == "symlink":
                e["target"] = os.readlink(full)
            if e["type"] in ("char", "block"):
                e["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            if e["type"] == "file":
                e["nlink"] = st.st_nlink
                if content and rel not in skip_content:
                    e["sha256"] = digest(full)
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            entries[rel] = e
    # hardlink groups: each path -> the sorted names of its inode
    for names in inodes.values():
        for n in names:
            entries[n]["links"] = sorted(names)
    return entries


def scan_json(path):
    entries = {}
    inodes = {}
    with open(path) as f:
        for line in f:
            j = json.loads(line)
            if "path_b64" in j:
                j["path"] = os.fsdecode(base64.b64decode(j["path_b64"]))
            if "target_b64" in j:
                j["target"] = os.fsdecode(base64.b64decode(j["target_b64"]))
            rel = j["path"].lstrip("/")
            sec, _, nsec = j["mtime"].partition(".")
            e = {"type": j["type"], "mode": j["mode"], "uid": j["uid"], "gid": j["gid"],
                 "mtime": int(sec) * 10**9 + int(nsec or 0),
                 "xattrs": {k: base64.b64decode(v) for k, v in j["xattrs"].items()
                            if k not in SKIP_XATTRS}}
            if e["type"] in ("file", "symlink"):
                e["size"] = j["size"]
            if e["type"] == "symlink":
                e["target"] = j["target"]
            if e["type"] in ("char", "block"):
                e["rdev"] = (j["major"], j["minor"])
            if e["type"] == "file":
                e["nlink"] = j["nlink"]
                if j["nlink"] > 1:
                    inodes.setdefault(j["ino"], []).append(rel)
            entries[rel] = e
    for names in inodes.values():
        for n in names:
            entries[n]["links"] = sorted(names)
    return entries


def compare(a, b, la, lb, slack_ns=0):
    diffs = []
    for p in sorted(set(a) | set(b)):
        if p not in a:
            diffs.append(f"only in {lb}: {p}")
        elif p not in b:
            diffs.append(f"only in {la}: {p}")
        else:
            for k in sorted(set(a[p]) | set(b[p])):
                if k == "mtime" and slack_ns and k in a[p] and k in b[p] and \
                        abs(a[p][k] - b[p][k]) <= slack_ns:
                    continue
                if a[p].get(k) != b[p].get(k):
                    diffs.append(f"{p}: {k}: {la}={a[p].get(k)!r} {lb}={b[p].get(k)!r}")
    return diffs


def main():
    args = sys.argv[1:]
    slack = 0
    if "--mtime-slack" in args:
        i = args.index("--mtime-slack")
        slack = int(float(args[i + 1]) * 1e9)
        del args[i:i + 2]
    content = "--no-content" not in args
    args = [x for x in args if x != "--no-content"]
    ignore, skip = [], []
    if "--skip-content" in args:
        i = args.index("--skip-content")
        j = args.index("--ignore") if "--ignore" in args and args.index("--ignore") > i else len(args)
        skip = args[i + 1:j]
        args = args[:i] + args[j:]
    if "--ignore" in args:
        i = args.index("--ignore")
        ignore = args[i + 1:]
        args = args[:i]
    if len(args) == 3 and args[1] == "--json":
        a, b = scan_dir(args[0], False, ignore), scan_json(args[2])
        for e in a.values():
            e.pop("sha256", None)
        la, lb = args[0], "json"
    elif len(args) == 2:
        a, b = scan_dir(args[0], content, ignore, skip), scan_dir(args[1], content, ignore, skip)
        la, lb = args[0], args[1]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    diffs = compare(a, b, la, lb, slack)
    for d in diffs[:50]:
        print(d)
    if len(diffs) > 50:
        print(f"... and {len(diffs) - 50} more")
    print(f"treecmp: {len(a)} entries, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
