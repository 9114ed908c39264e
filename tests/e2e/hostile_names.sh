#!/bin/bash
# End-to-end: restore never writes outside --target, whatever the names in a
# (forged but authentic) snapshot. tests/tools/cr_forge writes snapshots with
# hostile names: "..", ".", "../../canary/x", "a/b", an absolute path, an empty
# name, duplicate names (symlink + directory), and a directory or a file
# restored over a symlink that an earlier restore left in the target. For each, `restore`
# exits 5 (refusal reported, the harmless sibling restored) or fails cleanly,
# and the canary folder beside the target stays empty.
. "$(dirname "$0")/e2e-lib.bash"

FORGE="$CR_TOOLS/cr_forge"
[ -x "$FORGE" ] || e2e_fail "test tool $FORGE is not built"

J="$SCRATCH/jail"
C="$J/canary"
T="$J/target"
mkdir -p "$C"

e2e_init_vault
# A normal snapshot too, so the vault is not only forged objects.
mkdir -p "$SCRATCH/src"
printf 'normal\n' >"$SCRATCH/src/normal.txt"
e2e_run --json backup --source normal "$SCRATCH/src"
e2e_expect_rc 0 "normal backup"
NORMAL=$(e2e_backup_id)

# forge SCENARIO NAME [TARGET]: sets FORGED to the snapshot id, or "" when the
# library refused to build such a tree (a clean refusal is acceptable).
forge() {
    local frc=0
    FORGED=$("$FORGE" "$REPO" "$@" 2>"$SCRATCH/forge.err") || frc=$?
    if [ "$frc" -eq 3 ]; then
        e2e_log "forge $1 '$2': library refused cleanly: $(tail -n1 "$SCRATCH/forge.err")"
        FORGED=""
        return 0
    fi
    if [ "$frc" -ne 0 ]; then
        cat "$SCRATCH/forge.err" >&2
        e2e_fail "cr_forge $* failed (exit $frc)"
    fi
    [[ "$FORGED" =~ ^[0-9a-f]{64}$ ]] || e2e_fail "cr_forge $* printed '$FORGED', not an id"
}

# jail_clean WHAT: nothing beside the target, nothing in the canary.
jail_clean() {
    local extra
    extra=$(find "$J" -mindepth 1 -maxdepth 1 ! -name canary ! -name target -printf '%f ')
    [ -z "$extra" ] || e2e_fail "$1: restore wrote outside the target: $J now holds: $extra"
    [ -z "$(ls -A "$C")" ] || e2e_fail "$1: restore wrote into the canary folder outside the target: $(ls -A "$C")"
}

# --- where does a snapshot's root tree land under --target? (probe)
forge file probe
[ -n "$FORGED" ] || e2e_fail "cannot forge even a harmless snapshot"
e2e_run restore "$FORGED" --target "$SCRATCH/probe"
e2e_expect_rc 0 "restore of a harmless forged snapshot"
P=$(find "$SCRATCH/probe" -name probe -type f | head -n1)
[ -n "$P" ] || e2e_fail "restored probe file not found under $SCRATCH/probe"
[ "$(cat "$P")" = "escaped through a file name" ] || e2e_fail "probe content differs"
R=$(dirname "$P")
rel=${R#"$SCRATCH/probe"}
depth=$(printf '%s' "$rel" | tr -cd / | wc -c)
UP=""
for _ in $(seq 0 "$depth"); do UP="../$UP"; done
e2e_log "root tree lands $depth level(s) below the target; escapes use '$UP'"

# hostile WHAT SCENARIO NAME: restore into a fresh target must exit 5, name
# the refusal, restore the harmless sibling "~ok" and write nothing outside.
hostile() {
    local what=$1 scen=$2 name=$3
    forge "$scen" "$name"
    [ -n "$FORGED" ] || return 0
    rm -rf "$T"
    e2e_run restore "$FORGED" --target "$T"
    jail_clean "$what"
    local leaked
    leaked=$(grep -rl 'escaped' "$J" 2>/dev/null || true)
    [ -z "$leaked" ] || e2e_fail "$what: the hostile entry was restored as: $leaked"
    if [ "$RC" -ne 5 ]; then e2e_show; e2e_fail "$what: restore exited $RC, expected 5 (refused items)"; fi
    [ -s "$ERR" ] || e2e_fail "$what: restore refused silently (nothing on stderr)"
    if [ -n "$name" ] && ! grep -qF -- "$name" "$ERR"; then
        e2e_show
        e2e_fail "$what: restore's message does not name the refused entry '$name'"
    fi
    [ -n "$(find "$T" -name '~ok' -type f)" ] || e2e_fail "$what: the harmless sibling ~ok was not restored"
    e2e_log "$what: refused ($(head -n1 "$ERR" | cut -c1-120))"
}

hostile "file named .." file ".."
hostile "dir named .." dir ".."
hostile "file named ." file "."
hostile "dir named ." dir "."
hostile "file named ${UP}canary/escape" file "${UP}canary/escape"
hostile "dir named ${UP}canary" dir "${UP}canary"
hostile "file named a/b" file "a/b"
hostile "file named $C/abs (absolute)" file "$C/abs"
hostile "dir named $C (absolute)" dir "$C"
hostile "nested ../${UP}canary/nested" nested "../${UP}canary/nested"

# --- trees the decoder must reject as damaged: an empty name, and duplicate
# names (a symlink to the canary and a directory of the same name). Restore
# fails cleanly (4: damaged, or 5: that part lost) and verify reports them.
REJECTED=()
rejected() {
    local what=$1
    shift
    forge "$@"
    [ -n "$FORGED" ] || return 0
    REJECTED+=("$FORGED")
    rm -rf "$T"
    e2e_run restore "$FORGED" --target "$T"
    jail_clean "$what"
    case $RC in
    4 | 5) e2e_log "$what: restore fails cleanly (exit $RC: $(head -n1 "$ERR" | cut -c1-120))" ;;
    *) e2e_show; e2e_fail "$what: restore exited $RC, expected 4 (tree rejected) or 5" ;;
    esac
    [ -s "$ERR" ] || e2e_fail "$what: nothing on stderr"
    [ -z "$(grep -rl 'escaped\|written through' "$J" 2>/dev/null || true)" ] ||
        e2e_fail "$what: content of the rejected tree was restored"
}
rejected "empty name" file ""
rejected "duplicate names" dup dup "$C"

# --- a directory or a file restored over a symlink that an earlier restore
# left in the target (absolute and relative links into the canary).
over_symlink() {
    local kind=$1 lname=$2 ltarget=$3 what
    what="$kind $lname restored over symlink $lname -> $ltarget"
    rm -rf "$T"
    forge symlink "$lname" "$ltarget"
    [ -n "$FORGED" ] || e2e_fail "cannot forge a plain symlink snapshot"
    e2e_run restore "$FORGED" --target "$T"
    e2e_expect_rc 0 "restore of a snapshot with symlink $lname -> $ltarget"
    L=$(find "$T" -name "$lname")
    [ -L "$L" ] || e2e_fail "symlink $lname not restored as a symlink"
    [ "$(readlink "$L")" = "$ltarget" ] || e2e_fail "symlink $lname restored pointing to $(readlink "$L")"
    jail_clean "symlink $lname"

    forge "$kind" "$lname"
    [ -n "$FORGED" ] || e2e_fail "cannot forge a plain $kind snapshot"
    # The target holds the symlink: restoring into it takes --overwrite.
    e2e_run restore "$FORGED" --target "$T" --overwrite
    jail_clean "$what"
    case $RC in
    0)
        # Allowed only if the symlink was replaced, not followed.
        if [ "$kind" = dir ]; then
            [ -d "$L" ] && [ ! -L "$L" ] && [ -f "$L/escaped" ] ||
                e2e_fail "$what: exit 0 but $L is not a real directory with its file"
        else
            [ -f "$L" ] && [ ! -L "$L" ] && grep -q escaped "$L" ||
                e2e_fail "$what: exit 0 but $L is not a regular file with its content"
        fi
        e2e_log "$what: symlink replaced" ;;
    1 | 5)
        [ -s "$ERR" ] || e2e_fail "$what: failed silently"
        e2e_log "$what: refused (exit $RC: $(head -n1 "$ERR" | cut -c1-120))" ;;
    *) e2e_show; e2e_fail "$what: restore exited $RC" ;;
    esac
}
over_symlink dir abs-link "$C"
over_symlink dir rel-link "${UP}canary"
over_symlink file abs-flink "$C/written"
over_symlink file rel-flink "${UP}canary/written"

# --- --include with .. must not reach outside either.
rm -rf "$T"
e2e_run restore "$NORMAL" --target "$T" --include "../canary"
jail_clean "--include ../canary"
case $RC in
2 | 5 | 7) ;;
*) e2e_show; e2e_fail "restore --include ../canary exited $RC, expected 2, 5 or 7" ;;
esac

# verify passes, except for the trees the decoder rejects, which it names.
e2e_run verify --read-data
if [ "${#REJECTED[@]}" -eq 0 ]; then
    e2e_expect_rc 0 "verify --read-data after the forged snapshots"
else
    e2e_expect_rc 4 "verify --read-data with forged trees that do not decode"
    for s in "${REJECTED[@]}"; do
        grep -q "affects forged snapshot ${s:0:8}" "$OUT" ||
            { e2e_show; e2e_fail "verify does not name snapshot ${s:0:8} whose tree does not decode"; }
    done
    # ... and nothing else: the snapshots with merely unsafe names are not damage.
    n=$(grep -c '^damaged' "$OUT" || true)
    [ "$n" -le "${#REJECTED[@]}" ] || { e2e_show; e2e_fail "verify reports $n damaged objects, expected ${#REJECTED[@]}"; }
fi
e2e_pass
