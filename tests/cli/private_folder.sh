# A clone under a 0700 parent (/root/cleanroom, the usual place for root)
# cannot be entered by other accounts. Whatever a test or the demo runs as
# another account must still work: run_as gives the account a copy of the
# command, shared_dir and reachable_dir a folder it can enter.
set -u
. "${CR_TESTLIB:?}"

if [ "$(id -u)" -ne 0 ] || ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1; then
    echo "skipped: needs root, runuser and the user nobody"
    exit 77
fi
# The build folder of a clone in a private folder.
mkdir -p private/clone/build
chmod 700 private
cp "$CLEANROOM" private/clone/build/cleanroom
PRIV=$SCRATCH/private/clone/build/cleanroom
can_reach nobody "$SCRATCH/private" && fail "nobody can enter a 0700 folder of root's: cannot test"
runuser -u nobody -- "$PRIV" --version >"$CR_OUT" 2>"$CR_ERR" &&
    fail "nobody ran a command inside a 0700 folder of root's: cannot test"
assert_grep "Permission denied" "$CR_ERR" "the command in the private folder is refused to nobody"

CLEANROOM=$PRIV
expect_exit 0 run_as nobody "$CLEANROOM" --version
assert_grep "^cleanroom " "$CR_OUT" "run_as runs the command"
SH=$(shared_dir)
case "$SH" in "$SCRATCH"/*) fail "shared_dir is inside the private scratch folder" ;; esac
can_reach nobody "$SH" || fail "nobody cannot enter shared_dir $SH"
[ "$(stat -c %U "$SH")" = root ] || fail "shared_dir must stay root's"
[ "$(shared_dir)" = "$SH" ] || fail "shared_dir changed between calls"
pass "run_as and shared_dir work from a private folder"

# The demo's way: its server folders go to a reachable_dir when the account
# cannot enter the demo folder.
if id postgres >/dev/null 2>&1; then
    D=$(reachable_dir cleanroom-private-folder-test) || fail "reachable_dir"
    on_exit "rm -rf '$D'"
    can_reach postgres "$D" || fail "postgres cannot enter $D"
    pass "reachable_dir"
fi

# Every test that runs something as another account goes through run_as.
bad=$(grep -lE 'runuser -u|setpriv --re|sudo -u' "$CR_SRC"/tests/cli/*.sh "$CR_SRC"/tests/e2e/*.sh |
      grep -v '/private_folder\.sh$' || true)
[ -z "$bad" ] || fail "runs something as another account without run_as: $bad"
pass "no test runs as another account but through run_as"
