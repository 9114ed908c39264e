#!/bin/bash
# End-to-end: a wrong passphrase is refused with exit 3 and a message that
# mentions the passphrase, by every command, and leaves the vault byte for
# byte unchanged: same files, same hashes, no new files (no lock left behind).
. "$(dirname "$0")/e2e-lib.bash"

SRC="$SCRATCH/src"
mkdir -p "$SRC/sub"
head -c 3000000 /dev/urandom >"$SRC/sub/data.bin"
printf 'hello\n' >"$SRC/hello.txt"

e2e_init_vault
e2e_run --json backup --source pc1 "$SRC"
e2e_expect_rc 0 "backup with the right passphrase"
SNAP=$(e2e_backup_id)
e2e_vault_state "$REPO" >"$SCRATCH/state.before"

check_vault_unchanged() {
    e2e_vault_state "$REPO" >"$SCRATCH/state.after"
    if ! cmp -s "$SCRATCH/state.before" "$SCRATCH/state.after"; then
        diff "$SCRATCH/state.before" "$SCRATCH/state.after" >&2 || true
        e2e_fail "$1: the vault changed (see the diff above)"
    fi
}

# wrong WHAT ARGS...: the command must exit 3, mention the passphrase, and
# leave the vault unchanged.
wrong() {
    local what=$1
    shift
    e2e_run "$@"
    if [ "$RC" -ne 3 ]; then e2e_show; e2e_fail "$what with a wrong passphrase: exit $RC, expected 3"; fi
    grep -qi 'passphrase' "$ERR" ||
        { e2e_show; e2e_fail "$what with a wrong passphrase: stderr does not mention the passphrase"; }
    grep -qF "$PASS" "$OUT" "$ERR" && e2e_fail "$what: the right passphrase appears in the output"
    grep -qF "not the passphrase" "$OUT" "$ERR" && e2e_fail "$what: the wrong passphrase appears in the output"
    check_vault_unchanged "$what"
}

export CLEANROOM_PASSWORD="not the passphrase"
wrong "snapshots" snapshots
wrong "backup" backup --source pc1 "$SRC"
wrong "restore" restore "$SNAP" --target "$SCRATCH/restore"
[ ! -e "$SCRATCH/restore" ] || [ -z "$(ls -A "$SCRATCH/restore")" ] ||
    e2e_fail "restore with a wrong passphrase wrote files into the target"
wrong "verify --read-data" verify --read-data
wrong "ls" ls "$SNAP"
wrong "diff" diff "$SNAP" "$SNAP"
wrong "key list" key list
CLEANROOM_NEW_PASSWORD="another one" wrong "key add" key add --kdf interactive
# Almost right: a trailing newline or space is a different passphrase.
export CLEANROOM_PASSWORD="$PASS "
wrong "passphrase with a trailing space" snapshots
# From a file (first line only is the passphrase).
unset CLEANROOM_PASSWORD
printf 'wrong from file\n%s\n' "$PASS" >"$SCRATCH/passfile"
export CLEANROOM_PASSWORD_FILE="$SCRATCH/passfile"
wrong "passphrase file" snapshots

# The right passphrase still opens the vault, from the file too.
printf '%s\n' "$PASS" >"$SCRATCH/passfile"
e2e_run snapshots
e2e_expect_rc 0 "snapshots with the right passphrase from CLEANROOM_PASSWORD_FILE"
grep -q "${SNAP:0:8}" "$OUT" || e2e_fail "snapshots does not list ${SNAP:0:8}"
unset CLEANROOM_PASSWORD_FILE
export CLEANROOM_PASSWORD="$PASS"
e2e_run verify
e2e_expect_rc 0 "verify with the right passphrase"
# A read-only command with the right passphrase leaves no lock behind either.
check_vault_unchanged "verify with the right passphrase"
# A verify that reads the data is recorded (runs/, docs/format.md §18): that one record is
# all it adds; nothing that was there changes.
e2e_run verify --read-data
e2e_expect_rc 0 "verify --read-data with the right passphrase"
e2e_vault_state "$REPO" >"$SCRATCH/state.after"
diff "$SCRATCH/state.before" "$SCRATCH/state.after" | grep '^[<>]' >"$SCRATCH/state.diff" || true
grep -q '^<' "$SCRATCH/state.diff" && { cat "$SCRATCH/state.diff" >&2; e2e_fail "verify --read-data changed the vault"; }
grep -v '^> .*\./runs\(/[0-9a-f]\{64\}\)\?$' "$SCRATCH/state.diff" | grep -q . &&
    { cat "$SCRATCH/state.diff" >&2; e2e_fail "verify --read-data added more than its record"; }
[ "$(grep -c '^> f .*\./runs/' "$SCRATCH/state.diff")" = 1 ] || e2e_fail "verify --read-data: not one record"
cp "$SCRATCH/state.after" "$SCRATCH/state.before" # (the record is the vault's now)

# No passphrase at all and no TTY: exit 2 naming the environment variables.
unset CLEANROOM_PASSWORD
RC=0
# setsid: no controlling terminal either, even when run by hand from a shell.
setsid -w "$CLEANROOM" --repo "$REPO" snapshots </dev/null >"$OUT" 2>"$ERR" || RC=$?
[ "$RC" -eq 2 ] || { e2e_show; e2e_fail "no passphrase and no TTY: exit $RC, expected 2"; }
grep -q CLEANROOM_PASSWORD "$ERR" || { e2e_show; e2e_fail "no passphrase: message does not name CLEANROOM_PASSWORD"; }
check_vault_unchanged "no passphrase"
e2e_pass
