#!/usr/bin/env bash
# Hostile input (issue 9, item 4): tars and build contexts crafted to climb out
# of the store, to exhaust it, or to plant devices and setuid files (also as an
# unprivileged user). Each must fail with one clear line and exit status 1,
# leaving the store as it was (same images, no new object, fsck clean), or be
# stored inert; nothing may appear outside the store and the build context.
# hostile_load.sh does the same for `shale load`, hostile_registry.sh for a
# registry that lies.
source "$(dirname "$0")/lib.sh"
source "$TESTS/hostile_lib.sh"
hostile_setup tars
touch "$T/start"
shale import "$T/t/devices.tar" hostile/base:1 >/dev/null  # something in the store
store_snapshot
group_done

step "tar members: .., absolute paths, a file under a symlink, bad hardlinks"
refused "member ../" "'..' is not allowed in paths" shale import "$T/t/dotdot.tar" hostile/x:1
refused "member a/../../" "'..' is not allowed in paths" shale import "$T/t/dotdot_mid.tar" hostile/x:1
refused "absolute member" "absolute paths are not allowed" shale import "$T/t/absolute.tar" hostile/x:1
refused "file under a symlink out" "parent 'link' is not a directory in this layer" \
	shale import "$T/t/symlink_then_file.tar" hostile/x:1
refused "file under a symlink ../" "parent 'link' is not a directory in this layer" \
	shale import "$T/t/symlink_dotdot_then_file.tar" hostile/x:1
refused "hardlink to /etc/passwd" "hardlink hl: '/etc/passwd': absolute paths are not allowed" \
	shale import "$T/t/hardlink_abs.tar" hostile/x:1
refused "hardlink to ../" "'..' is not allowed in paths" shale import "$T/t/hardlink_dotdot.tar" hostile/x:1
refused "hardlink to a later member" "target 'later' is not in the archive" \
	shale import "$T/t/hardlink_unseen.tar" hostile/x:1
refused "hardlink through a symlink" "target 'etc/passwd' is not in the archive" \
	shale import "$T/t/hardlink_via_symlink.tar" hostile/x:1
refused "the same, as a layer on a parent" "'..' is not allowed in paths" \
	shale import --parent hostile/base:1 "$T/t/dotdot.tar" hostile/x:1
refused "the same, from stdin" "'..' is not allowed in paths" \
	sh -c 'exec "$SHALE" import - hostile/x:1 <"$1"' sh "$T/t/dotdot.tar"

group_done
step "enormous sizes: a 2^63-byte member, a truncated 10 GiB one, absurd pax records"
refused "size 2^63-1" "Tar entry size overflow" timeout 20 "$SHALE" import "$T/t/size_2p63.tar" hostile/x:1
refused "truncated 10 GiB member" "Truncated tar archive" timeout 20 "$SHALE" import "$T/t/truncated.tar" hostile/x:1
refused "pax size of 40 digits" "Tar size attribute overflow" timeout 20 "$SHALE" import "$T/t/pax_size.tar" hostile/x:1
refused "a 1 MiB path" "Special header too large" timeout 20 "$SHALE" import "$T/t/long_path.tar" hostile/x:1
refused "a 300-byte name" "a name is longer than 255 bytes" shale import "$T/t/long_name.tar" hostile/x:1

group_done
step "50000 empty files in one directory: imported, quickly"
t0=$SECONDS
timeout 60 "$SHALE" import "$T/t/many.tar" hostile/many:1 >/dev/null
assert_eq 50000 "$(shale ls hostile/many:1 /many | wc -l)" "entries of the big directory"
echo "    imported and listed in $((SECONDS - t0)) s"
shale rmi hostile/many:1 >/dev/null
shale prune >/dev/null
check_untouched "50000 entries, removed"

step "devices, a fifo, setuid and setgid files: records in the store, nothing on the host"
# has_line IMAGE DIR REGEX: `shale ls -l` shows a line that matches
has_line() {
	local out
	out=$("${LS:-shale}" ls -l "$1" "$2")
	grep -Eq "$3" <<<"$out" || fail "$1 $2: no line like '$3' in: $out"
}
inert_checks() {
	has_line "$1" /dev '^crw-rw-rw- +1 +0 +0 +1, 3 .* null$'
	has_line "$1" /dev '^brw-rw---- +1 +0 +0 +8, 0 .* sda$'
	has_line "$1" /dev '^prw------- .* fifo$'
	has_line "$1" / '^-rwsr-xr-x +1 +0 +0 +10 .* suid$'
	has_line "$1" / '^-rwsr-sr-x +1 +0 +0 +8203 .* suid-big$'
}
inert_checks hostile/base:1
[ -z "$(find "$SHALE_ROOT" \( -type b -o -type c -o -type p -o -perm /7000 \) -print)" ] ||
	fail "the store holds a device, a fifo or a set-id file: $(find "$SHALE_ROOT" \( -type b -o -type c -o -type p -o -perm /7000 \))"

step "the same as an unprivileged user (nobody) with a store it owns"
chmod 755 "$T"
NB=$T/nobody
mkdir -p "$NB" && cp "$T/t/devices.tar" "$T/t/dotdot.tar" "$T/t/symlink_then_file.tar" "$NB/" && chown -R 65534:65534 "$NB"
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env SHALE_ROOT="$NB/store" ASAN_OPTIONS="${ASAN_OPTIONS/log_path=$T\/sanitizer/log_path=$NB/sanitizer}" \
		UBSAN_OPTIONS="${UBSAN_OPTIONS/log_path=$T\/sanitizer/log_path=$NB/sanitizer}" "$SHALE" "$@"
}
as_nobody import "$NB/devices.tar" nb/dev:1 >/dev/null
LS=as_nobody inert_checks nb/dev:1
[ -z "$(find "$NB/store" \( -type b -o -type c -o -type p -o -perm /7000 -o ! -user 65534 \) -print)" ] ||
	fail "nobody's store holds a device, a set-id file or a file nobody does not own"
nbefore=$(img_state as_nobody)
for c in dotdot symlink_then_file; do
	rc=0
	ERR=$(as_nobody import "$NB/$c.tar" nb/x:1 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq 1 ] || fail "nobody: $c.tar: exit status $rc: $ERR"
	[[ "$ERR" == "shale: import "* ]] || fail "nobody: $c.tar: $ERR"
done
assert_eq "$nbefore" "$(img_state as_nobody)" "nobody's store after refused imports"
group_done as_nobody
for r in "$NB"/sanitizer.*; do [ -e "$r" ] && mv "$r" "$T/"; done
check_untouched "the unprivileged imports"

step "shale build: sources outside the context, symlinks out of it, hostile ADD archives"
C=$T/ctx
mkdir -p "$C/sub"
echo inside >"$C/sub/f"
echo "host secret" >"$OUT/x"
CANARY=$(canary_state)
ln -s /etc "$C/etclink"
ln -s ../outside "$C/uplink"
ln -s sub "$C/inlink"
python3 - "$C" <<'PY'
import io, sys, tarfile
def tar(path, members):
    with tarfile.open(path, "w") as t:
        for name, kind, arg in members:
            ti = tarfile.TarInfo(name)
            if kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
                t.addfile(ti)
            else:
                ti.size = len(arg)
                t.addfile(ti, io.BytesIO(arg))
tar(sys.argv[1] + "/evil-dotdot.tar", [("ok", "f", b"x"), ("../../hostile-escape-add", "f", b"x")])
tar(sys.argv[1] + "/evil-link.tar", [("lnk", "sym", "/tmp"), ("lnk/hostile-escape-add-link", "f", b"x")])
PY
# FROM an image (FROM scratch would store an empty base image before the step fails)
build() { # Dockerfile line, then shale build arguments
	printf 'FROM hostile/base:1\n%s\n' "$1" >"$C/Dockerfile"
	shift
	shale build -q "$@" "$C"
}
refused "COPY ../outside/x" "Dockerfile:2: COPY failed: forbidden path outside the build context: ../outside/x" build "COPY ../outside/x /x" -t hostile/b:1
refused "COPY /../../etc/passwd" "forbidden path outside the build context" build "COPY /../../etc/passwd /p" -t hostile/b:1
refused "ADD ../outside/x" "ADD failed: forbidden path outside the build context" build "ADD ../outside/x /x" -t hostile/b:1
refused "COPY etclink (-> /etc)" "forbidden path outside the build context: etclink" build "COPY etclink /e/" -t hostile/b:1
refused "COPY etclink/passwd" "forbidden path outside the build context: etclink/passwd" build "COPY etclink/passwd /p" -t hostile/b:1
refused "COPY uplink/x (-> ../outside)" "forbidden path outside the build context: uplink/x" build "COPY uplink/x /x" -t hostile/b:1
refused "COPY e* (a glob matching etclink)" "Dockerfile:2: COPY failed: forbidden path outside the build context: etclink (matched by e*)" build "COPY e* /g/" -t hostile/b:1
refused "COPY u*/x (a glob through uplink)" "COPY failed: no source files were specified" build "COPY u*/x /g/" -t hostile/b:1
refused "ADD a tar with ../" "ADD failed: copy evil-dotdot.tar: import" build "ADD evil-dotdot.tar /a/" -t hostile/b:1
refused "ADD a tar with a file under a symlink" "parent 'a/lnk' is not a directory in this layer" build "ADD evil-link.tar /a/" -t hostile/b:1

group_done
# A directory copy takes the symlinks themselves; a named symlink inside the context is followed.
printf 'FROM hostile/base:1\nCOPY . /all/\nCOPY inlink /in/\n' >"$C/Dockerfile"
shale build -q -t hostile/b:ok "$C" >/dev/null
assert_contains "$(shale ls -l hostile/b:ok /all)" "etclink -> /etc"
assert_contains "$(shale ls -l hostile/b:ok /all)" "uplink -> ../outside"
assert_eq "inside" "$(shale cat hostile/b:ok /in/f)" "COPY of a symlink inside the context"
shale ls -R --format json hostile/b:ok >"$T/b.json"
! grep -q '"path":"/all/\(etclink\|uplink\)/' "$T/b.json" || fail "COPY . followed a symlink out"
expect_fail shale cat hostile/b:ok /all/etclink/passwd
expect_fail shale cat hostile/b:ok /all/uplink/x
assert_eq "$CANARY" "$(canary_state)" "something escaped (build)"
group_done

step "every case refused or inert: nothing outside the store changed"
[ -z "$(find "$T/t" "$OUT" -newer "$T/start" ! -path "$OUT" ! -path "$OUT/x" -print)" ] ||
	fail "files changed: $(find "$T/t" "$OUT" -newer "$T/start" ! -path "$OUT" ! -path "$OUT/x")"
echo "PASS"
