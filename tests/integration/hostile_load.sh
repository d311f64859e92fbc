#!/usr/bin/env bash
# Hostile input for `shale load` (issue 9, item 4): OCI layouts and
# docker-archives whose digests, names and paths climb out of the layout, whose
# blobs are symlinks to host files, whose tar members climb out of the store's
# scratch directory, or whose layers do. Each must fail with one clear line and
# exit status 1, leaving the store as it was (same images, no new object, no
# scratch left, fsck clean), or load with the hostile part left inert; nothing
# may appear outside the store. The cases: tests/integration/hostile_tars.py oci.
source "$(dirname "$0")/lib.sh"
source "$TESTS/hostile_lib.sh"
hostile_setup oci
touch "$T/start"
shale load "$T/t/layouts/good" >/dev/null  # something in the store
shale tag hostile/img:1 hostile/base:1
shale rmi hostile/img:1 >/dev/null
store_snapshot
group_done

step "shale load: digests and names that climb out, blobs that are symlinks out"
L=$T/t/layouts
refused "layer digest sha256:../../etc/passwd" "manifest layer: invalid digest 'sha256:../../../../etc/passwd'" shale load "$L/digest_dotdot"
refused "layer digest with a /" "manifest layer: invalid digest" shale load "$L/digest_slash"
refused "layer digest in capitals" "manifest layer: invalid digest" shale load "$L/digest_upper"
refused "layer digest sha512/../" "unsupported digest algorithm" shale load "$L/digest_algo"
refused "config digest ../" "manifest config: invalid digest 'sha256:../../../../etc/passwd'" shale load "$L/config_dotdot"
refused "index digest ../" "index: invalid digest 'sha256:../../index.json'" shale load "$L/manifest_dotdot"
refused "ref.name ../../evil:1" "reference '../../evil:1': invalid reference format" shale load "$L/ref_dotdot"
refused "ref.name ../evil" "reference '../evil': invalid reference format" shale load "$L/ref_dotdot_tag"
refused "ref.name /tmp/evil:1" "reference '/tmp/evil:1': invalid reference format" shale load "$L/ref_abs"
refused "ref.name a//b:1" "invalid reference format" shale load "$L/ref_slashes"
refused "ref.name of 5000 bytes" "invalid reference format: too long" shale load "$L/ref_long"
refused "ref.name with a NUL" "\\u0000 is not allowed" shale load "$L/ref_nul"
refused "index.json a symlink out" "neither an OCI image layout" shale load "$L/index_symlink"
refused "layer blob a symlink to /abs" "No such file or directory" shale load "$L/blob_symlink_abs"
refused "layer blob a symlink ../../" "No such file or directory" shale load "$L/blob_symlink_rel"
refused "second layer with ../ (dir)" "layer 2 (" shale load "$L/evil_layer"
refused "second layer with ../ (tar)" "'..' is not allowed in paths" shale load -i "$T/t/evil_layer_tar.tar"

group_done
step "shale load -i: hostile members around a valid layout"
refused "layout tar member ../" "Path contains '..'" shale load -i "$T/t/oci_dotdot.tar"
refused "layout tar member /abs" "unsafe member name" shale load -i "$T/t/oci_absolute.tar"
refused "layout tar file under a symlink" "Cannot extract through symlink" shale load -i "$T/t/oci_symlink_then_file.tar"
# Members an image layout never holds (hardlinks, devices) are skipped: the image loads,
# and the symlink that a later member replaces is replaced, not followed.
links=$(stat -c %h "$OUT/secret")
for c in oci_hardlink_abs oci_hardlink_via_symlink oci_symlink_replace oci_device; do
	out=$(shale load -i "$T/t/$c.tar")
	assert_eq "Loaded image: hostile/img:1" "$out" "$c"
	assert_eq "hello" "$(shale cat hostile/img:1 /hello)" "$c: the image"
	assert_eq "$CANARY" "$(canary_state)" "something escaped ($c)"
	assert_eq "$links" "$(stat -c %h "$OUT/secret")" "$c: a hardlink to the host file"
	[ -z "$(find "$SHALE_ROOT/tmp" ! -type d)" ] || fail "$c left files in the store's tmp"
done
shale rmi hostile/img:1 >/dev/null
shale prune >/dev/null
check_untouched "the loaded layouts, removed"

step "shale load -i: docker-archives naming files outside"
refused "docker Config ../" "cfg.json: No such file or directory" shale load -i "$T/t/docker_config_dotdot.tar"
refused "docker Config /abs" "cfg.json: No such file or directory" shale load -i "$T/t/docker_config_abs.tar"
refused "docker Layers /abs" "stolen.tar: No such file or directory" shale load -i "$T/t/docker_layer_abs.tar"
refused "docker Layers ../" "stolen.tar: No such file or directory" shale load -i "$T/t/docker_layer_dotdot.tar"
refused "docker RepoTags ../" "RepoTags: invalid reference format" shale load -i "$T/t/docker_repotag_dotdot.tar"

group_done

step "nothing outside the store changed"
[ -z "$(find "$T/t" "$OUT" -newer "$T/start" ! -path "$OUT" -print)" ] ||
	fail "files changed: $(find "$T/t" "$OUT" -newer "$T/start" ! -path "$OUT")"
echo "PASS"
