#!/usr/bin/env bash
# Bearer token auth, as Docker Hub and most registries do it: docker-registry
# with `auth: token`, and a small token server (python, tokens signed by openssl)
# that checks a password and grants the scopes asked for. Also cross-repository
# mounts, which need a token for two repositories.
source "$(dirname "$0")/lib.sh"
source "$TESTS/registry_env.sh"
command -v openssl >/dev/null || fail "openssl is missing"

view() { shale ls -R --format json "$1"; }

step "a token server and a registry that trusts its certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" -out "$T/token.crt" \
	-subj /CN=shale-token -days 2 2>/dev/null
TOKEN_PORT=$(free_port)
cat >"$T/tokens.py" <<'PY'
import base64, json, os, subprocess, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
port, key, crt, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
der = subprocess.run(["openssl", "x509", "-in", crt, "-outform", "DER"], capture_output=True, check=True).stdout
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def token(sub, scopes):
    access = []
    for s in scopes:
        kind, name, actions = s.split(":")[0], ":".join(s.split(":")[1:-1]), s.split(":")[-1]
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": "shale-test-issuer", "sub": sub, "aud": "shale-registry", "exp": now + 600,
              "nbf": now - 60, "iat": now, "jti": uuid.uuid4().hex, "access": access}
    signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + b64(sig)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if (u, p) != ("shale", "t0ken-pw"):
                self.send_response(401); self.end_headers(); return
            user = u
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s] if user else []
        with open(log, "a") as f:
            f.write(json.dumps({"user": user, "scopes": scopes}) + "\n")
        body = json.dumps({"token": token(user or "", scopes), "expires_in": 600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$T/tokens.py" "$TOKEN_PORT" "$T/token.key" "$T/token.crt" "$T/tokens.log" &
REG_PIDS+=($!)
start_registry reg "auth:
  token:
    realm: http://127.0.0.1:$TOKEN_PORT/token
    service: shale-registry
    issuer: shale-test-issuer
    rootcertbundle: $T/token.crt"

make_busybox_rootfs "$T/root"
head -c 2000000 /dev/urandom >"$T/root/blob.bin"
tar -C "$T/root" -cf "$T/root.tar" .
shale import "$T/root.tar" test/tok:1 >/dev/null

step "without credentials: a clear refusal"
expect_exit 1 shale push --insecure test/tok:1 "$REG/a/img:1"
assert_contains "$ERR" "unauthorized"
expect_exit 1 shale login --insecure -u shale -p wrong "$REG"
assert_contains "$ERR" "incorrect username or password"

step "login, push, skopeo agrees; the same image to another repository is mounted, not uploaded"
shale login --insecure -u shale --password-stdin "$REG" <<<t0ken-pw | grep -qx "Login Succeeded"
shale push --insecure test/tok:1 "$REG/a/img:1"
grep -q '"scopes": \["repository:a/img:pull,push"\]' "$T/tokens.log" || fail "no token for a/img"
skopeo inspect --tls-verify=false --creds shale:t0ken-pw "docker://$REG/a/img:1" >/dev/null
n=$(uploaded_blobs "$REG_LOG" | wc -l)
out=$(shale push --insecure test/tok:1 "$REG/b/img:1")
echo "$out"
assert_contains "$out" "Mounted from a/img"
assert_eq "$((n + 1))" "$(uploaded_blobs "$REG_LOG" | wc -l)" "blob uploads for b/img (the config only)"

step "pull with a token into another store"
export SHALE_ROOT=$T/store2
expect_exit 1 shale pull --insecure "$REG/b/img:1"
shale login --insecure -u shale -p t0ken-pw "$REG" >/dev/null 2>&1
shale pull --insecure -q "$REG/b/img:1" >/dev/null
SHALE_ROOT=$T/store view test/tok:1 | cmp - <(view "$REG/b/img:1") || fail "pulled tree"
shale logout "$REG" >/dev/null
expect_exit 1 shale pull --insecure "$REG/a/img:1"
echo "PASS"
