#!/usr/bin/env python3
"""A hostile registry for hostile_registry.sh, on 127.0.0.1 (plain http).

Usage: hostile_registry.py PORTFILE LOGFILE
Serves the repository h/img; the tag (or digest) chooses the misbehaviour:
  good         a valid one-layer image
  sha256:<good manifest digest>   the manifest of another image
  liar         the good manifest with a Docker-Content-Digest of another one
  endless      a manifest body that never ends (Content-Length absent)
  hugelength   Content-Length: 2^63-1, then a body that never ends
  bigconfig    a manifest whose config blob never ends
  bigblob      a manifest whose layer blob (size 1000) never ends
  wrongblob    a layer blob of the right size and the wrong bytes
  evillayer    valid digests, a layer whose member climbs out with ..
  index        an index whose child manifest the registry serves with other bytes
  headers      response headers that never end
"""
import hashlib
import io
import json
import os
import sys
import tarfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, logfile = sys.argv[1], sys.argv[2]
log = open(logfile, "a", buffering=1)
MT_MAN = "application/vnd.oci.image.manifest.v1+json"
MT_IDX = "application/vnd.oci.image.index.v1+json"
ENDLESS = object()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer(members):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1600000000
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


blobs = {}  # digest -> bytes or ENDLESS
manifests = {}  # tag or digest -> (media type, bytes, header digest or None)


def add_image(tag, layers, config_endless=False, layer_size=None, serve=None):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]},
                      "tag": tag}).encode()
    cd = sha(cfg)
    blobs[cd] = ENDLESS if config_endless else cfg
    descs = []
    for l in layers:
        blobs[sha(l)] = serve(l) if serve else l
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(l),
                      "size": layer_size or len(l)})
    m = json.dumps({"schemaVersion": 2, "mediaType": MT_MAN,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cd, "size": len(cfg)},
                    "layers": descs}).encode()
    manifests[tag] = (MT_MAN, m, sha(m))
    manifests[sha(m)] = (MT_MAN, m, sha(m))
    return m


good = add_image("good", [layer([("hello", b"hello from the registry\n")])])
other = add_image("other", [layer([("other", b"another image\n")])])
# by digest: the good manifest's digest answered with the other manifest
manifests[sha(good)] = (MT_MAN, other, sha(good))
manifests["liar"] = (MT_MAN, good, sha(other))
manifests["endless"] = (MT_MAN, ENDLESS, None)
manifests["hugelength"] = (MT_MAN, ENDLESS, "huge")
add_image("bigconfig", [layer([("c", b"c\n")])], config_endless=True)
add_image("bigblob", [layer([("b", b"b\n")])], layer_size=1000, serve=lambda l: ENDLESS)
add_image("wrongblob", [layer([("w", b"w\n")])], serve=lambda l: b"\0" * len(l))
add_image("evillayer", [layer([("fine", b"fine\n")]),
                        layer([("ok", b"ok\n"), ("../../../../hostile-escape-registry", b"x\n")])])
child = add_image("child", [layer([("child", b"child\n")])])
idx = json.dumps({"schemaVersion": 2, "mediaType": MT_IDX, "manifests": [
    {"mediaType": MT_MAN, "digest": sha(child), "size": len(child),
     "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": MT_MAN, "digest": sha(child), "size": len(child),
     "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
manifests["index"] = (MT_IDX, idx, sha(idx))
manifests[sha(child)] = (MT_MAN, other, sha(child))  # the child, with other bytes
manifests["headers"] = (MT_MAN, "headers", None)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        log.write("%s %s\n" % (self.requestline, fmt % a))

    def endless(self, huge=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if huge:
            self.send_header("Content-Length", str(2**63 - 1))
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"{" * 65536
        sent = 0
        try:
            while sent < (64 << 30):  # 64 GiB: only a client that never stops gets there
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        log.write("endless body: client stopped after %d bytes\n" % sent)
        self.close_connection = True

    def send_body(self, ctype, body, digest=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        p = self.path.split("?")[0]
        if p in ("/v2", "/v2/"):
            return self.send_body("application/json", b"{}")
        pre = "/v2/h/img/"
        if p.startswith(pre + "manifests/"):
            ref = p[len(pre + "manifests/"):]
            if ref not in manifests:
                return self.send_error(404)
            ctype, body, dg = manifests[ref]
            if body is ENDLESS:
                return self.endless(huge=dg == "huge")
            if body == "headers":
                self.send_response(200)
                self.flush_headers()
                try:
                    for i in range(10 ** 7):
                        self.wfile.write(b"X-Endless-%d: %s\r\n" % (i, b"h" * 1000))
                except OSError:
                    pass
                log.write("endless headers: client stopped after %d\n" % i)
                self.close_connection = True
                return
            return self.send_body(ctype, body, dg)
        if p.startswith(pre + "blobs/"):
            dg = p[len(pre + "blobs/"):]
            if dg not in blobs:
                return self.send_error(404)
            if blobs[dg] is ENDLESS:
                return self.endless()
            return self.send_body("application/octet-stream", blobs[dg])
        self.send_error(404)

    do_HEAD = do_GET


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
with open(portfile + ".tmp", "w") as fp:
    fp.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
