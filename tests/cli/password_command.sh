# CLEANROOM_PASSWORD_COMMAND: the passphrase is the first line a command
# prints (a keyring, a password safe); a command that fails or prints nothing
# is a clear error (exit 2) naming the variable and the exit code.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/v
PASS=$CLEANROOM_PASSWORD
unset CLEANROOM_PASSWORD
mkdir bin
cat > bin/good <<EOS
#!/bin/sh
echo "checking the safe" >&2
printf '%s\nsecond line\n' '$PASS'
EOS
printf '#!/bin/sh\necho "safe locked" >&2\nexit 3\n' > bin/fails
printf '#!/bin/sh\nexit 0\n' > bin/silent
printf '#!/bin/sh\nprintf "\\n%s\\n" x\n' > bin/blank
chmod +x bin/*

expect_exit 0 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/good" "$CLEANROOM" init --kdf interactive
assert_grep "checking the safe" "$CR_ERR" "the command's stderr is shown"
mkdir src && printf 'data\n' > src/f
expect_exit 0 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/good" "$CLEANROOM" backup --source s src
# the first line only: the same vault opens with the plain variable
expect_exit 0 env CLEANROOM_PASSWORD="$PASS" "$CLEANROOM" snapshots
# a shell command line: run with /bin/sh -c (a pipe works)
expect_exit 0 env CLEANROOM_PASSWORD_COMMAND="'$SCRATCH/bin/good' 2>/dev/null | head -n 1" \
    "$CLEANROOM" snapshots
pass "the passphrase from a command"

expect_exit 2 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/fails" "$CLEANROOM" snapshots
assert_grep "^cleanroom: error: no passphrase from CLEANROOM_PASSWORD_COMMAND: the passphrase command failed \(exit 3\)" \
    "$CR_ERR" "failing command: exit code named"
assert_grep "safe locked" "$CR_ERR" "its own message is shown"
assert_grep "^hint: run the command of CLEANROOM_PASSWORD_COMMAND by hand" "$CR_ERR" "hint"
expect_exit 2 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/silent" "$CLEANROOM" snapshots
assert_grep "the passphrase command printed nothing" "$CR_ERR" "silent command"
expect_exit 2 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/blank" "$CLEANROOM" snapshots
assert_grep "first line printed by the passphrase command is empty" "$CR_ERR" "empty first line"
expect_exit 2 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/no-such-program" "$CLEANROOM" snapshots
assert_grep "failed \(exit 127\): command not found" "$CR_ERR" "missing program"
pass "a failing, silent or missing command: exit 2"

# a wrong passphrase from the command is a wrong passphrase (exit 3)
printf '#!/bin/sh\necho wrong\n' > bin/wrong && chmod +x bin/wrong
expect_exit 3 env CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/wrong" "$CLEANROOM" snapshots
assert_grep "CLEANROOM_PASSWORD_COMMAND" "$CR_ERR" "wrong passphrase hint names the variable"

# precedence, as restic: the command wins over CLEANROOM_PASSWORD; a file and
# a command together are refused
expect_exit 0 env CLEANROOM_PASSWORD=wrong CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/good" \
    "$CLEANROOM" snapshots
printf '%s\n' "$PASS" > passfile
expect_exit 2 env CLEANROOM_PASSWORD_FILE=passfile CLEANROOM_PASSWORD_COMMAND="$SCRATCH/bin/good" \
    "$CLEANROOM" snapshots
assert_grep "both CLEANROOM_PASSWORD_FILE and CLEANROOM_PASSWORD_COMMAND are set" "$CR_ERR" \
    "file and command refused"
pass "precedence"

# key add takes the new passphrase from CLEANROOM_NEW_PASSWORD_COMMAND
printf '#!/bin/sh\necho "a second passphrase for the vault"\n' > bin/new && chmod +x bin/new
expect_exit 0 env CLEANROOM_PASSWORD="$PASS" CLEANROOM_NEW_PASSWORD_COMMAND="$SCRATCH/bin/new" \
    "$CLEANROOM" key add --kdf interactive
expect_exit 0 env CLEANROOM_PASSWORD="a second passphrase for the vault" "$CLEANROOM" snapshots
pass "CLEANROOM_NEW_PASSWORD_COMMAND"
