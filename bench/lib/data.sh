# bench/lib/data.sh: datasets, built once and cached under $DATA (see bench/README.md).
# Each piece is built under NAME.tmp and renamed into place when complete, so an
# interrupted build is redone and a present one is reused. Sourced after common.sh.

# The Debian mirror of this machine's apt sources (deb822 or one-line format).
debian_mirror() {
  local m
  m=$(awk '/^Types:/ {deb = ($0 ~ / deb( |$)/)} deb && /^URIs:/ {print $2; exit}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)
  [ -z "$m" ] && m=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
  echo "${m:-http://deb.debian.org/debian}"
}

# The base layer: debootstrap --variant=minbase bookworm (quick: a small synthetic rootfs).
data_base() {
  local d=$DATA/layers/base
  [ -d "$d" ] && return 0
  rm -rf "$d.tmp"; mkdir -p "$DATA/layers"
  if [ "$QUICK" = 1 ]; then
    log "dataset: quick base rootfs (busybox-static, zoneinfo, docs)"
    mkdir -p "$d.tmp"/{bin,etc,usr/share,usr/local/lib,tmp,var/lib,root}
    cp /bin/busybox "$d.tmp/bin/busybox" 2>/dev/null || echo "not busybox" >"$d.tmp/bin/busybox"
    for a in sh ls cat cp mv rm date true; do ln -s busybox "$d.tmp/bin/$a"; done
    cp -a /usr/share/zoneinfo "$d.tmp/usr/share/" 2>/dev/null
    cp -a /usr/share/common-licenses "$d.tmp/usr/share/" 2>/dev/null
    cp /etc/os-release /etc/passwd /etc/group "$d.tmp/etc/"
    echo "12.10" >"$d.tmp/etc/debian_version"
  else
    local mirror; mirror=$(debian_mirror)
    log "dataset: debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
    debootstrap --variant=minbase bookworm "$d.tmp" "$mirror" >"$DATA/debootstrap-base.log" 2>&1 ||
      die "debootstrap failed, see $DATA/debootstrap-base.log"
  fi
  mv "$d.tmp" "$d"
}

# The second layer: usr/local/lib/app/node_modules of a real npm install (quick: synthetic).
data_nm() {
  local d=$DATA/layers/nm
  [ -d "$d" ] && return 0
  rm -rf "$d.tmp"; mkdir -p "$d.tmp/usr/local/lib/app"
  if [ "$QUICK" = 1 ]; then
    log "dataset: quick synthetic node_modules (120 packages)"
    local nm=$d.tmp/$NM_REL p f
    mkdir -p "$nm/.bin"
    for ((p = 0; p < 120; p++)); do
      mkdir -p "$nm/pkg$p/lib" "$nm/pkg$p/dist"
      printf '{"name":"pkg%d","version":"1.0.%d","main":"lib/index.js"}\n' $p $p >"$nm/pkg$p/package.json"
      echo "# pkg$p" >"$nm/pkg$p/README.md"
      for ((f = 0; f < 6; f++)); do printf 'module.exports = %d;\n' $((p * f)) >"$nm/pkg$p/lib/m$f.js"; done
      head -c $((2048 + p * 97)) /dev/urandom | base64 >"$nm/pkg$p/dist/bundle.js"
      ((p % 12 == 0)) && ln -s "../pkg$p/lib/m0.js" "$nm/.bin/pkg$p"
    done
  else
    local work=$DATA/tmp/npm
    if ! command -v npm >/dev/null; then   # Debian's nodejs comes without npm
      log "installing Debian's npm"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null ||
        die "npm is needed for the node_modules layer (apt-get install npm)"
    fi
    log "dataset: npm install $NPM_PKGS (needs the npm registry)"
    rm -rf "$work"; mkdir -p "$work/app"
    (cd "$work/app" && npm install --no-audit --no-fund --cache "$work/cache" $NPM_PKGS) \
      >"$DATA/npm-install.log" 2>&1 || die "npm install failed, see $DATA/npm-install.log"
    mv "$work/app/node_modules" "$d.tmp/$NM_REL"
    rm -rf "$work"
  fi
  mv "$d.tmp" "$d"
}

# The third layer: data/big-*.bin and data/mid-*.bin from /dev/urandom.
data_big() {
  local d=$DATA/layers/big
  [ -d "$d" ] && return 0
  log "dataset: $BIG_REL ($BIG_MIB MiB) and $MID_REL ($MID_MIB MiB) from /dev/urandom"
  rm -rf "$d.tmp"; mkdir -p "$d.tmp/data"
  dd if=/dev/urandom of="$d.tmp/$BIG_REL" bs=1M count="$BIG_MIB" iflag=fullblock status=none || die "dd failed"
  dd if=/dev/urandom of="$d.tmp/$MID_REL" bs=1M count="$MID_MIB" iflag=fullblock status=none || die "dd failed"
  mv "$d.tmp" "$d"
}

# node_modules.tar: the W6a input.
data_tar() {
  local t=$DATA/node_modules.tar
  [ -f "$t" ] && return 0
  data_nm
  log "dataset: node_modules.tar"
  tar -cf "$t.tmp" -C "$DATA/layers/nm/usr/local/lib/app" node_modules && mv "$t.tmp" "$t"
}

# Thin stacks thin/N<n>/L0..L<n-1>, exactly as RESULTS.md describes.
data_thin_one() {
  local n=$1 d=$DATA/thin/N$1 i
  [ -d "$d" ] && return 0
  log "dataset: thin stack of $n layers ($THIN_FILES files in deep/)"
  rm -rf "$d.tmp"; mkdir -p "$d.tmp/L0/deep" "$d.tmp/L0/common"
  (
    cd "$d.tmp/L0/deep" || exit 1
    echo target >target
    for ((i = 0; i < THIN_FILES; i++)); do printf -v f 'f%05d' $i; : >"$f"; done
    for ((i = 1; i <= n; i++)); do echo "del $i" >"del_$i"; done
  ) || die "thin stack failed"
  echo v0 >"$d.tmp/L0/common/shared.txt"
  for ((i = 1; i < n; i++)); do
    local l=$d.tmp/L$i
    mkdir -p "$l/layer$i" "$l/deep" "$l/common"
    echo a$i >"$l/layer$i/a"; echo b$i >"$l/layer$i/b"; echo c$i >"$l/layer$i/c"
    echo add $i >"$l/deep/add_$i"
    echo "v$i" >"$l/common/shared.txt"
    mknod "$l/deep/del_$i" c 0 0
  done
  mv "$d.tmp" "$d"
}
data_thin() { local n; for n in $DEPTHS; do data_thin_one "$n"; done; }

data_overlay() { data_base; data_nm; data_big; data_tar; data_thin; }

# ---------------------------------------------------------------------------- shale store
# ovl2tar DIR: an overlay-format layer folder as a tar with OCI whiteouts, on stdout.
ovl2tar() { python3 "$BENCH_SRC/lib/ovl2tar.py" "$1"; }

# shale_import_layer DIR NAME [PARENT]: import an overlay-format layer folder.
shale_import_layer() {
  local dir=$1 name=$2 parent=${3:-}
  if [ -n "$parent" ]; then
    ovl2tar "$dir" | shale import --parent "$parent" - "$name" >/dev/null
  else
    ovl2tar "$dir" | shale import - "$name" >/dev/null
  fi
}

# The bench store: the same layers as images. bench/base, bench/nm (parent base),
# bench/big (parent nm); bench/thin-n<N>:l<i> (parent l<i-1>). Cached: a stack is
# imported again only when its top image is missing.
data_shale_store() {
  if ! shale_has import; then log "shale import not available: no bench store"; return 0; fi
  mkdir -p "$SHALE_ROOT_BENCH"
  [ -f "$SHALE_ROOT_BENCH/db/data.mdb" ] || shale init >/dev/null 2>&1 || true
  if ! shale inspect bench/big:latest >/dev/null 2>&1; then
    log "bench store: importing base, nm, big"
    shale_import_layer "$DATA/layers/base" bench/base:latest || die "shale import base failed"
    shale_import_layer "$DATA/layers/nm" bench/nm:latest bench/base:latest || die "shale import nm failed"
    shale_import_layer "$DATA/layers/big" bench/big:latest bench/nm:latest || die "shale import big failed"
  fi
  local n i
  for n in $DEPTHS; do
    shale inspect "$(shale_image "N$n")" >/dev/null 2>&1 && continue
    log "bench store: importing thin stack of $n layers"
    shale_import_layer "$DATA/thin/N$n/L0" "bench/thin-n$n:l0" || die "shale import thin N$n L0 failed"
    for ((i = 1; i < n; i++)); do
      shale_import_layer "$DATA/thin/N$n/L$i" "bench/thin-n$n:l$i" "bench/thin-n$n:l$((i - 1))" ||
        die "shale import thin N$n L$i failed"
    done
  done
}
