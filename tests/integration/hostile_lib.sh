# Shared by hostile_input.sh, hostile_load.sh and hostile_registry.sh (after
# lib.sh): a canary directory that every hostile path aims at, and `refused`,
# which checks that a command failed cleanly and changed nothing.
#
# hostile_setup KIND: $OUT (the canary directory), the cases of
# tests/integration/hostile_tars.py KIND in $T/t, the working directory $T/work
# (where a relative escape would land), and a store holding one image.
hostile_setup() {
	OUT=$T/outside
	mkdir -p "$OUT" "$T/work"
	cd "$T/work"
	if [ -n "$1" ]; then
		step "craft the hostile archives (hostile_tars.py $1)"
		python3 "$TESTS/hostile_tars.py" "$T/t" "$OUT" "$1"
	fi
	CANARY=$(canary_state)
	ESCAPES=$(escapes)
	shale init >/dev/null 2>&1 || true
}

# The canary directory: names, types, sizes, link counts and times.
canary_state() { find "$OUT" -printf '%p %y %s %n %T@\n' | sort; }
# Escapes: files named hostile-escape* anywhere near (every case names its
# escape so). A find over /tmp is slow: once per group of cases.
escapes() { { find /tmp "$T" -maxdepth 6 -name 'hostile-escape*' 2>/dev/null || true; } | sort; }

# The images (without the clock's part) and the object files.
img_state() { "${1:-shale}" images -a --no-trunc --format json | sed 's/"CreatedSince":"[^"]*",//'; }
store_state() {
	img_state
	echo "objects $(count_objects)"
}
# Remember the store as it is now: refused commands must leave it so.
store_snapshot() { BEFORE=$(store_state); }

# After a group of cases: fsck finds no error and no leftover, nothing escaped.
group_done() { # [shale function]
	local out
	out=$("${1:-shale}" fsck)
	assert_contains "$out" "0 errors, 0 leftovers" "fsck"
	assert_eq "$ESCAPES" "$(escapes)" "a file named hostile-escape* appeared"
}

check_untouched() { # WHAT: the store as BEFORE, the canary as it was, no scratch left
	assert_eq "$BEFORE" "$(store_state)" "store changed by $1"
	assert_eq "$CANARY" "$(canary_state)" "the canary directory changed ($1)"
	local left
	left=$(find "$SHALE_ROOT/tmp" ! -type d)
	[ -z "$left" ] || fail "$1 left files in the store's tmp: $left"
}

# refused WHAT TEXT CMD...: CMD exits 1 with one line "shale: ...TEXT..." on
# stderr, and changes nothing.
refused() {
	local what=$1 text=$2 rc=0
	shift 2
	ERR=$("$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq 1 ] || fail "$what: exit status $rc, expected 1: $ERR"
	[ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] || fail "$what: more than one line: $ERR"
	[[ "$ERR" == "shale: "* ]] || fail "$what: not a shale error line: $ERR"
	assert_contains "$ERR" "$text" "$what"
	check_untouched "$what"
	echo "    $what: $ERR" | cut -c1-240
}
