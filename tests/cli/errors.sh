# Error paths: exit codes and messages, and a wrong passphrase writes nothing.
set -u
. "${CR_TESTLIB:?}"

V=$SCRATCH/vault
mkdir src && printf 'data\n' > src/f
expect_exit 0 cr --repo "$V" init --kdf interactive
expect_exit 0 cr --repo "$V" backup --source s src

state() {
    (cd "$V" && find . -printf '%p %y %s\n' | sort && find . -type f -exec sha256sum {} + | sort)
}
state > before
expect_exit 3 env CLEANROOM_PASSWORD=wrong "$CLEANROOM" --repo "$V" backup --source s src
assert_grep "^cleanroom: error: " "$CR_ERR" "error line"
assert_grep "^hint: .*CLEANROOM_PASSWORD_FILE" "$CR_ERR" "hint names the variables"
expect_exit 3 env CLEANROOM_PASSWORD=wrong "$CLEANROOM" --repo "$V" snapshots
printf 'wrong\n' > badpass
expect_exit 3 env CLEANROOM_PASSWORD_FILE=badpass "$CLEANROOM" --repo "$V" key list
state > after
diff -u before after || fail "a wrong passphrase changed the vault"
pass "wrong passphrase: exit 3, vault untouched"

# The password file wins over the variable, and only its first line counts.
printf '%s\nsecond line\n' "$CLEANROOM_PASSWORD" > goodpass
expect_exit 0 env CLEANROOM_PASSWORD=wrong CLEANROOM_PASSWORD_FILE=goodpass \
    "$CLEANROOM" --repo "$V" snapshots
expect_exit 2 env CLEANROOM_PASSWORD_FILE=$SCRATCH/none "$CLEANROOM" --repo "$V" snapshots
assert_grep "CLEANROOM_PASSWORD_FILE" "$CR_ERR" "unreadable password file named"
pass "password file"

expect_exit 2 cr snapshots
assert_grep "--repo" "$CR_ERR" "missing --repo message"
expect_exit 0 env CLEANROOM_REPO="$V" "$CLEANROOM" snapshots
pass "missing --repo: exit 2; CLEANROOM_REPO works"

expect_exit 7 cr --repo "$SCRATCH/novault" snapshots
assert_grep "no vault at .*novault.*cleanroom init --repo" "$CR_ERR" "no vault message"
mkdir "$SCRATCH/emptydir"
expect_exit 7 cr --repo "$SCRATCH/emptydir" snapshots
assert_grep "no config file" "$CR_ERR" "empty folder: no config file"
pass "no vault: exit 7"

expect_exit 7 cr --repo "$V" restore abcdef12 --target out
expect_exit 7 cr --repo "$V" ls nosuchsource:latest
expect_exit 7 cr --repo "$V" diff latest 0123
pass "unknown snapshot: exit 7"

# No passphrase and no terminal (setsid: no controlling terminal).
if command -v setsid >/dev/null; then
    expect_exit 2 env -u CLEANROOM_PASSWORD setsid -w "$CLEANROOM" --repo "$V" snapshots </dev/null
    assert_grep "CLEANROOM_PASSWORD_FILE.*CLEANROOM_PASSWORD" "$CR_ERR" "names the variables"
    expect_exit 2 env -u CLEANROOM_PASSWORD setsid -w "$CLEANROOM" --repo "$SCRATCH/v9" \
        init --kdf interactive </dev/null
    [ ! -e "$SCRATCH/v9/config" ] || fail "init without passphrase created a vault"
    pass "no passphrase, no tty: exit 2"
fi

expect_exit 7 cr --repo "$V" backup --source s src/missing
assert_grep "cannot back up src/missing: No such file or directory" "$CR_ERR" "missing path message"
expect_exit 0 cr --repo "$V" snapshots --json
assert_eq "$(grep -c '"id"' "$CR_OUT")" 1 "no snapshot saved for a missing path"
pass "backup of a missing path"

expect_exit 2 cr --repo "$V" backup src
assert_grep "source" "$CR_ERR" "missing --source"
expect_exit 2 cr --repo "$V" backup --source s
expect_exit 2 cr --repo "$V" backup --source a:b src
expect_exit 2 cr --repo "$V" backup --source s --time yesterday src
expect_exit 2 cr --repo "$V" backup --source s --threads 0 src
expect_exit 2 cr --repo "$V" verify --read-data-subset 3/2
expect_exit 2 cr --repo "$V" init --kdf fast
expect_exit 1 cr --repo "$V" init --kdf interactive
assert_grep "already exists" "$CR_ERR" "init never overwrites"
pass "usage errors"

# A non-root user cannot read a chmod 000 file: the backup is partial (exit 5).
if [ "$(id -u)" != 0 ]; then
    printf 'secret\n' > src/locked && chmod 000 src/locked
    expect_exit 5 cr --repo "$V" backup --source s src
    assert_grep "^warning: .*locked: " "$CR_ERR" "warning names the file"
    pass "unreadable file: exit 5"
fi

expect_exit 0 cr --repo "$V" verify
assert_grep "^vault OK: [0-9]+ packs, [0-9]+ blobs, 1 snapshots checked$" "$CR_OUT" "verify summary"
expect_exit 0 cr --repo "$V" verify --read-data-subset 1/2
pass "verify"
