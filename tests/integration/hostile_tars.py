#!/usr/bin/env python3
"""Malicious archives and OCI layouts for hostile_input.sh.

Usage: hostile_tars.py OUTDIR CANARY_DIR tars|oci
Writes OUTDIR/NAME.tar (and OUTDIR/layouts/NAME/) for every case of one kind:
tars for `shale import`, oci for `shale load`. CANARY_DIR is the directory
outside the store that no case may ever touch (absolute path).
"""
import hashlib
import io
import json
import os
import sys
import tarfile

out, canary, kind = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)


def info(name, type=tarfile.REGTYPE, size=0, linkname="", mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname, ti.mode, ti.mtime = type, size, linkname, mode, 1600000000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def write(name, members, fmt=tarfile.PAX_FORMAT):
    """members: (TarInfo, bytes or None)"""
    with tarfile.open(os.path.join(out, name + ".tar"), "w", format=fmt) as t:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)


def f(name, data=b"x\n", **kw):
    return info(name, **kw), data


def tar_cases():
    # ---- paths that climb out --------------------------------------------------
    write("dotdot", [f("ok"), f("../" * 8 + canary.lstrip("/") + "/hostile-escape-dotdot")])
    write("dotdot_mid", [(info("a", tarfile.DIRTYPE, mode=0o755), None), f("a/../../hostile-escape-mid")])
    write("absolute", [f("ok"), f(canary + "/hostile-escape-abs")])
    # a symlink out of the tree, then a file "under" it
    write("symlink_then_file", [(info("link", tarfile.SYMTYPE, linkname=canary), None),
                                f("link/hostile-escape-link")])
    write("symlink_dotdot_then_file", [(info("link", tarfile.SYMTYPE, linkname="../../../../" + canary.lstrip("/")), None),
                                       f("link/hostile-escape-link")])
    # hardlinks: to an absolute path, climbing out, to a name not seen yet, through a symlink
    write("hardlink_abs", [f("ok"), (info("hl", tarfile.LNKTYPE, linkname="/etc/passwd"), None)])
    write("hardlink_dotdot", [f("ok"), (info("hl", tarfile.LNKTYPE, linkname="../../../../etc/passwd"), None)])
    write("hardlink_unseen", [(info("hl", tarfile.LNKTYPE, linkname="later"), None), f("later")])
    write("hardlink_via_symlink", [(info("etc", tarfile.SYMTYPE, linkname="/etc"), None),
                                   (info("hl", tarfile.LNKTYPE, linkname="etc/passwd"), None)])
    # devices, a fifo and setuid/setgid files (stored as records, never made on the host)
    write("devices", [(info("dev", tarfile.DIRTYPE, mode=0o755), None),
                      (info("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3), None),
                      (info("dev/sda", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0), None),
                      (info("dev/fifo", tarfile.FIFOTYPE, mode=0o600), None),
                      f("suid", b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
                      f("sgid", b"#!/bin/sh\n", mode=0o2755, uid=0, gid=0),
                      f("suid-big", b"#!/bin/sh\n" + b"#" * 8192 + b"\n", mode=0o6755, uid=0, gid=0)])

    # ---- enormous sizes and counts ---------------------------------------------
    # A GNU header (base-256 size) claiming 2^63-1 bytes, and nothing after it.
    with open(os.path.join(out, "size_2p63.tar"), "wb") as fp:
        ti = info("huge", size=2**63 - 1)
        fp.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        fp.write(b"\0" * 4096)
    # A member claiming 10 GiB, truncated after 3 MiB of data.
    with open(os.path.join(out, "truncated.tar"), "wb") as fp:
        ti = info("big", size=10 << 30)
        fp.write(ti.tobuf(format=tarfile.GNU_FORMAT))
        fp.write(os.urandom(3 << 20))
    # A pax header whose size record is absurd.
    with open(os.path.join(out, "pax_size.tar"), "wb") as fp:
        ti = info("paxbig", size=0)
        ti.pax_headers = {"size": "9" * 40}
        fp.write(ti.tobuf(format=tarfile.PAX_FORMAT))
        fp.write(b"\0" * 1024)
    # A name of 1 MiB (pax path) and a name component longer than 255.
    write("long_path", [f("d/" * (1 << 19) + "x")])
    write("long_name", [f("n" * 300)])

    # 50k empty files in one directory: valid, must import quickly. The headers
    # are one template with the name and checksum patched (tarfile is slow at this).
    with open(os.path.join(out, "many.tar"), "wb") as fp:
        fp.write(info("many", tarfile.DIRTYPE, mode=0o755).tobuf(tarfile.USTAR_FORMAT))
        tmpl = bytearray(info("many/000000").tobuf(tarfile.USTAR_FORMAT))
        blocks = []
        for i in range(50000):
            h = bytearray(tmpl)
            h[0:11] = b"many/%06d" % i
            h[148:156] = b" " * 8
            h[148:156] = b"%06o\0 " % sum(h)
            blocks.append(bytes(h))
        fp.write(b"".join(blocks))
        fp.write(b"\0" * 1024)


# ---- OCI image layouts and docker-archives for `shale load` ----------------
def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_bytes(members):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


GOOD_LAYER = tar_bytes([f("hello", b"hello\n")])
EVIL_LAYER = tar_bytes([f("fine"), f("../../../../" + canary.lstrip("/") + "/hostile-escape-layer")])


def image(layers, ref_name="hostile/img:1", mutate=None):
    """blobs (digest -> bytes) and the index of an image with these layer tars."""
    blobs = {sha(l): l for l in layers}
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]}}).encode()
    blobs[sha(config)] = config
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha(l), "size": len(l)} for l in layers]}
    if mutate:
        mutate(manifest)
    mb = json.dumps(manifest).encode()
    blobs[sha(mb)] = mb
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(mb),
            "size": len(mb)}
    if ref_name is not None:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    return blobs, {"schemaVersion": 2, "manifests": [desc]}


def layout_dir(name, blobs, index, extra=()):
    d = os.path.join(out, "layouts", name)
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    for dg, b in blobs.items():
        with open(os.path.join(d, "blobs", "sha256", dg[7:]), "wb") as fp:
            fp.write(b)
    with open(os.path.join(d, "oci-layout"), "w") as fp:
        json.dump({"imageLayoutVersion": "1.0.0"}, fp)
    with open(os.path.join(d, "index.json"), "w") as fp:
        json.dump(index, fp)
    for fn in extra:
        fn(d)
    return d


def layout_tar(name, blobs, index, evil=()):
    """An OCI layout as a tar (shale load -i), with extra hostile members first."""
    members = [f("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
               f("index.json", json.dumps(index).encode())]
    members += [f("blobs/sha256/" + dg[7:], b) for dg, b in blobs.items()]
    write(name, list(evil) + members)


def oci_cases():
    ok_blobs, ok_index = image([GOOD_LAYER])
    layout_dir("good", ok_blobs, ok_index)


    def set_layer_digest(d):
        def m(man):
            man["layers"][0]["digest"] = d
        return m


    for n, d in [("digest_dotdot", "sha256:../../../../etc/passwd"),
                 ("digest_slash", "sha256:" + "a" * 32 + "/" + "b" * 31),
                 ("digest_upper", "sha256:" + "A" * 64),
                 ("digest_algo", "sha512/../../x:" + "a" * 64)]:
        b, x = image([GOOD_LAYER], mutate=set_layer_digest(d))
        layout_dir(n, b, x)

    # the config digest and the index's manifest digest climbing out
    b, x = image([GOOD_LAYER], mutate=lambda m: m["config"].update(digest="sha256:../../../../etc/passwd"))
    layout_dir("config_dotdot", b, x)
    b, x = image([GOOD_LAYER])
    x["manifests"][0]["digest"] = "sha256:../../index.json"
    layout_dir("manifest_dotdot", b, x)

    # names: a ref.name with "../", with "/" only, absolute, with a NUL
    for n, r in [("ref_dotdot", "../../evil:1"), ("ref_dotdot_tag", "../evil"),
                 ("ref_abs", "/tmp/evil:1"), ("ref_nul", "evil\u0000x:1"),
                 ("ref_slashes", "a//b:1"), ("ref_long", "a" * 5000 + ":1")]:
        b, x = image([GOOD_LAYER], ref_name=r)
        layout_dir(n, b, x)

    # a blob that is a symlink to a host file whose sha256 is right (must not be read)
    secret = os.path.join(canary, "secret")
    with open(secret, "wb") as fp:
        fp.write(b"a host file the image must never read\n")
    secret_layer = tar_bytes([f("stolen", open(secret, "rb").read())])
    b, x = image([GOOD_LAYER])
    def link_index(d):
        os.unlink(os.path.join(d, "index.json"))
        os.symlink(os.path.join(canary, "index.json"), os.path.join(d, "index.json"))
    with open(os.path.join(canary, "index.json"), "w") as fp:
        json.dump(x, fp)  # a valid index, outside the layout
    layout_dir("index_symlink", b, x, [link_index])
    # the layer blob is a symlink to an absolute path (a tar holding the secret)
    stolen_path = os.path.join(canary, "stolen.tar")
    with open(stolen_path, "wb") as fp:
        fp.write(secret_layer)
    b, x = image([secret_layer])
    def link_blob(d):
        p = os.path.join(d, "blobs", "sha256", sha(secret_layer)[7:])
        os.unlink(p)
        os.symlink(stolen_path, p)
    layout_dir("blob_symlink_abs", b, x, [link_blob])
    def link_blob_rel(d):
        p = os.path.join(d, "blobs", "sha256", sha(secret_layer)[7:])
        os.unlink(p)
        os.symlink("../../" * 12 + stolen_path.lstrip("/"), p)
    layout_dir("blob_symlink_rel", b, x, [link_blob_rel])

    # a valid two-layer image whose second layer climbs out: nothing may stay
    b, x = image([GOOD_LAYER, EVIL_LAYER])
    layout_dir("evil_layer", b, x)
    layout_tar("evil_layer_tar", b, x)

    # OCI layout tars with hostile members around a valid image
    layout_tar("oci_dotdot", ok_blobs, ok_index, [f("../" * 8 + canary.lstrip("/") + "/hostile-escape-oci-dotdot")])
    layout_tar("oci_absolute", ok_blobs, ok_index, [f(canary + "/hostile-escape-oci-abs")])
    layout_tar("oci_symlink_then_file", ok_blobs, ok_index,
               [(info("link", tarfile.SYMTYPE, linkname=canary), None), f("link/hostile-escape-oci-link")])
    layout_tar("oci_symlink_replace", ok_blobs, ok_index,
               [(info("index.json", tarfile.SYMTYPE, linkname=canary + "/victim"), None)])
    layout_tar("oci_hardlink_abs", ok_blobs, ok_index,
               [(info("hl", tarfile.LNKTYPE, linkname=secret), None)])
    layout_tar("oci_hardlink_via_symlink", ok_blobs, ok_index,
               [(info("c", tarfile.SYMTYPE, linkname=canary), None),
                (info("hl", tarfile.LNKTYPE, linkname="c/secret"), None)])
    layout_tar("oci_device", ok_blobs, ok_index,
               [(info("null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3), None)])

    # docker-archives whose manifest.json names files outside the archive
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha(GOOD_LAYER)]}}).encode()
    for n, c, ls in [("docker_config_dotdot", "../../../../" + canary.lstrip("/") + "/cfg.json", ["l.tar"]),
                     ("docker_config_abs", canary + "/cfg.json", ["l.tar"]),
                     ("docker_layer_abs", "c.json", [stolen_path]),
                     ("docker_layer_dotdot", "c.json", ["../../../../" + stolen_path.lstrip("/")]),
                     ("docker_repotag_dotdot", "c.json", ["l.tar"])]:
        tags = ["../../evil:1"] if n == "docker_repotag_dotdot" else ["hostile/docker:1"]
        write(n, [f("manifest.json", json.dumps([{"Config": c, "RepoTags": tags, "Layers": ls}]).encode()),
                  f("c.json", cfg), f("l.tar", GOOD_LAYER)])
    with open(os.path.join(canary, "cfg.json"), "wb") as fp:
        fp.write(cfg)


{"tars": tar_cases, "oci": oci_cases}[kind]()
