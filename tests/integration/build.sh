#!/usr/bin/env bash
# shale build: the layer cache (the node-app example, and a hit and a miss for
# each instruction kind), .dockerignore, multi-stage builds, build args, errors
# with line numbers, failing RUNs, and the built image running its CMD.
source "$(dirname "$0")/lib.sh"

step "a tiny 'node' base: busybox, with npm and node stand-ins"
make_busybox_rootfs $T/base
mkdir -p $T/base/usr/local/bin
cat >$T/base/usr/local/bin/npm <<'EOF'
#!/bin/sh
# stands in for npm install: node_modules from package.json, and the time it takes
echo "npm install: $(wc -c <package.json) bytes of package.json" >&2
mkdir -p node_modules && cp package.json node_modules/.installed && sleep 1
EOF
printf '#!/bin/sh\necho "node $*"\n' >$T/base/usr/local/bin/node
chmod 755 $T/base/usr/local/bin/*
shale import $T/base node >/dev/null
cp -r "$SHALE_SRC/tests/fixtures/node-app" $T/app   # the example of ../shared/examples
chmod -R u+w $T/app

step "node-app: a full build; the image runs its CMD"
shale build -t app:1 $T/app >$T/out
grep -q "^Step 4/7 : RUN npm install" $T/out || fail "no RUN step: $(cat $T/out)"
grep -q "^Successfully tagged app:1$" $T/out || fail "not tagged"
assert_eq "node server.js" "$(shale run --rm app:1)"
assert_eq ".installed" "$(shale run --rm app:1 ls -A /app/node_modules)"
steps_ids() { grep '^ ---> [0-9a-f]\{12\}' "$1" | cut -c7-18; }
run_layer() { shale history --no-trunc --format json "$1" | python3 -c '
import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if "npm install" in j["CreatedBy"]: print(j["Layer"])'; }

step "a no-op rebuild uses the cache for every step"
shale build -t app:1 $T/app >$T/out2
assert_eq 6 "$(grep -c '^ ---> Using cache' $T/out2)" "cached steps of a no-op rebuild"
assert_eq "$(steps_ids $T/out)" "$(steps_ids $T/out2)" "image ids of a no-op rebuild"

step "edit server.js: the dependency-first Dockerfile reuses the install layer"
echo "// an edit" >>$T/app/server.js
shale build -t app:2 $T/app >$T/out3
grep -A1 '^Step 4/7 : RUN npm install' $T/out3 | grep -q "Using cache" || fail "npm install ran again: $(cat $T/out3)"
grep -q "Running in" $T/out3 && fail "a RUN ran: $(cat $T/out3)"
grep -A1 '^Step 5/7 : COPY . /app' $T/out3 | grep -q "Using cache" && fail "COPY . /app hit the cache after an edit"
assert_eq "$(run_layer app:1)" "$(run_layer app:2)" "the install layer"
assert_eq "$(sed -n 4p <(steps_ids $T/out))" "$(sed -n 4p <(steps_ids $T/out3))" "the install step's image"

step "...and the naive one does it again"
shale build -f $T/app/Dockerfile.naive -t naive:1 $T/app >$T/n1
echo "// another edit" >>$T/app/server.js
shale build -f $T/app/Dockerfile.naive -t naive:2 $T/app >$T/n2
grep -A1 '^Step 4/6 : RUN npm install' $T/n2 | grep -q "Running in" || fail "the naive RUN did not run again: $(cat $T/n2)"
[ "$(sed -n 4p <(steps_ids $T/n1))" != "$(sed -n 4p <(steps_ids $T/n2))" ] || fail "the naive install step kept its image"

step "a hit and a miss for each instruction kind"
mkdir -p $T/kinds/sub && echo one >$T/kinds/a.txt && echo two >$T/kinds/sub/b.txt
tar -C $T/kinds -czf $T/kinds/arch.tgz sub
cat >$T/kinds/Dockerfile.in <<'EOF'
FROM node
ARG V=1
ENV E=e
LABEL l=1
WORKDIR /w
COPY a.txt /w/
ADD arch.tgz /x/
RUN echo $V $E >/r
EXPOSE 80
USER root
VOLUME /data
SHELL ["/bin/sh", "-c"]
STOPSIGNAL SIGTERM
HEALTHCHECK CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /r"]
EOF
cp $T/kinds/Dockerfile.in $T/kinds/Dockerfile
shale build -t kinds $T/kinds >/dev/null
shale build -t kinds $T/kinds >$T/k
n=$(grep -c '^Step' $T/k)
assert_eq $((n - 1)) "$(grep -c 'Using cache' $T/k)" "every step cached on a rebuild"
assert_eq "1 e" "$(shale run --rm kinds)"
# captured, not piped into grep -q: busybox cat sendfile()s once more after
# the data, and with the reader gone (pipefail) it dies of SIGPIPE, 1 run in 20
assert_eq two "$(shale run --rm --entrypoint cat kinds /x/sub/b.txt)" "ADD extracted the tar"
# change the instruction of step i: steps before it hit, it misses
for i in $(seq 2 16); do
	awk -v i=$i 'NR == i { if ($1 == "COPY") $2 = "sub/b.txt"; else if ($1 == "ADD") $2 = "a.txt";
		else if ($1 == "WORKDIR") $2 = "/w2"; else if ($1 == "SHELL") $0 = "SHELL [\"/bin/sh\", \"-e\", \"-c\"]";
		else if ($1 == "HEALTHCHECK") $0 = "HEALTHCHECK CMD false"; else if ($1 == "ENTRYPOINT") $0 = "ENTRYPOINT [\"/bin/sh\", \"-ec\"]";
		else if ($1 == "CMD") $0 = "CMD [\"cat /r /r\"]"; else $0 = $0 "2" } { print }' \
		$T/kinds/Dockerfile.in >$T/kinds/Dockerfile
	shale build $T/kinds >$T/k
	want=$((i - 2))
	got=$(awk -v i=$i '/^Step/ { s++ } /Using cache/ && s < i { c++ } END { print c + 0 }' $T/k)
	assert_eq "$want" "$got" "steps cached before changed step $i ($(sed -n ${i}p $T/kinds/Dockerfile))"
	grep -A1 "^Step $i/" $T/k | grep -q "Using cache" && fail "step $i changed and still hit the cache"
done
echo "  15 instruction kinds: each hits unchanged and misses when changed"
shale build --no-cache -t kinds $T/kinds >$T/k
grep -q "Using cache" $T/k && fail "--no-cache used the cache"
cp $T/kinds/Dockerfile.in $T/kinds/Dockerfile
shale build --build-arg V=7 -t kinds:args $T/kinds >/dev/null
assert_eq "7 e" "$(shale run --rm kinds:args)"
shale history --no-trunc kinds:args | grep -q '|1 V=7 /bin/sh -c echo $V $E >/r' || fail "RUN history lacks the build arg"

step ".dockerignore: excluded files never reach the image; ! brings one back"
mkdir -p $T/ign/logs $T/ign/src
echo keep >$T/ign/src/main.c && echo secret >$T/ign/secret.key && echo a >$T/ign/logs/a.log && echo b >$T/ign/logs/b.log
printf '*.key\nlogs\n!logs/b.log\n' >$T/ign/.dockerignore
printf 'FROM node\nCOPY . /ctx/\nCMD ["find", "/ctx"]\n' >$T/ign/Dockerfile
shale build -t ign $T/ign >/dev/null
files=$(shale run --rm ign | sort | xargs)
assert_eq "/ctx /ctx/.dockerignore /ctx/Dockerfile /ctx/logs /ctx/logs/b.log /ctx/src /ctx/src/main.c" "$files"
printf 'FROM node\nCOPY secret.key /\n' >$T/ign/Dockerfile
expect_exit 1 shale build $T/ign
assert_contains "$ERR" "excluded by .dockerignore"

step "multi-stage: COPY --from an earlier stage; --target"
mkdir -p $T/ms
cat >$T/ms/Dockerfile <<'EOF'
FROM node AS builder
RUN mkdir -p /out && echo built >/out/artifact && echo junk >/junk
FROM node
COPY --from=builder /out/artifact /app/artifact
CMD ["cat", "/app/artifact"]
EOF
shale build -t ms $T/ms >/dev/null
assert_eq built "$(shale run --rm ms)"
shale run --rm ms test -e /junk && fail "the builder stage leaked into the final image"
shale build --target builder -t ms:builder $T/ms >/dev/null
assert_eq junk "$(shale run --rm ms:builder cat /junk)"

step "errors name the line; bad input changes nothing"
tags_state() { shale images --format json | python3 -c 'import json,sys; print(sorted(j["Repository"] + ":" + j["Tag"] + "@" + j["ID"] for j in map(json.loads, sys.stdin) if j["Tag"] != "<none>"))'; }
before=$(tags_state)
mkdir -p $T/bad
printf 'FROM node\n\nRUNN echo\n' >$T/bad/Dockerfile
expect_exit 1 shale build $T/bad
assert_contains "$ERR" "Dockerfile:3: unknown instruction: RUNN"
printf 'FROM node\nCOPY ../outside /x\n' >$T/bad/Dockerfile
expect_exit 1 shale build $T/bad
assert_contains "$ERR" "outside the build context"
ln -s /etc $T/bad/etclink
printf 'FROM node\nCOPY etclink/passwd /x\n' >$T/bad/Dockerfile
expect_exit 1 shale build $T/bad
assert_contains "$ERR" "outside the build context"
printf 'FROM node\nCOPY . /ctx/\n' >$T/bad/Dockerfile
shale build -t bad:link $T/bad >/dev/null   # a symlink inside a copied directory stays a symlink
assert_eq "/etc" "$(shale run --rm bad:link readlink /ctx/etclink)"
printf 'FROM nosuchimage\n' >$T/bad/Dockerfile
expect_exit 1 shale build $T/bad
assert_contains "$ERR" "no such image"
printf 'FROM node\nCOPY a b c\n' >$T/bad/Dockerfile
expect_exit 1 shale build $T/bad
expect_exit 1 shale build -t 'Bad:Tag' $T/bad
expect_exit 1 shale build $T/nosuchdir
shale rmi bad:link >/dev/null
assert_eq "$before" "$(tags_state)" "tags after failed builds"

step "a failing RUN prints its output and code, tags nothing, leaves nothing, keeps the cache"
printf 'FROM node\nRUN echo first >/f\nRUN echo "about to fail" && exit 3\n' >$T/bad/Dockerfile
expect_exit 1 shale build -t bad:run $T/bad
assert_contains "$ERR" "returned a non-zero code: 3"
shale build -t bad:run $T/bad >$T/f 2>&1 || true
grep -q "about to fail" $T/f || fail "the RUN's output was not shown"
grep -A1 "^Step 2/3" $T/f | grep -q "Using cache" || fail "the step that succeeded was not cached"
[ -z "$(shale images -q bad:run)" ] || fail "a failed build tagged its image"
[ -z "$(shale ps -a -q)" ] || fail "containers left: $(shale ps -a)"
[ -z "$(shale mounts --format json)" ] || fail "mounts left: $(shale mounts)"

step "the cache outlives rmi of the tag; builder prune clears it; prune then reclaims"
shale rmi app:2 >/dev/null
shale build -t app:2 $T/app >$T/o
grep -A1 '^Step 4/7' $T/o | grep -q "Using cache" || fail "the cache did not outlive rmi"
shale builder prune | grep -q "Deleted build cache entries" || fail "builder prune"
shale build -t app:3 $T/app >$T/o
grep -q "Using cache" $T/o && fail "builder prune left the cache"
shale rmi app:1 app:2 app:3 naive:1 naive:2 kinds kinds:args ign ms ms:builder >/dev/null
shale builder prune >/dev/null
out=$(shale prune)
layers=$(sed -n 's/.*layers: \([0-9]*\).*/\1/p' <<<"$out")
[ "${layers:-0}" -gt 5 ] || fail "prune reclaimed no build layers: $out"
assert_eq "node still-here" "$(shale run --rm node node still-here)" "the base image is still there"
echo PASS
