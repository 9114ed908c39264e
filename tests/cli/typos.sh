# Typos get a suggestion: an unknown command or option names the closest
# one ("did you mean `snapshots`?"); the exit code stays 2 (usage).
set -u
. "${CR_TESTLIB:?}"

expect_exit 2 cr snapshot
assert_grep "unknown command 'snapshot': did you mean \`snapshots\`\?" "$CR_ERR" "command typo"
expect_exit 2 cr --repo "$SCRATCH/v" snapshto
assert_grep "did you mean \`snapshots\`\?" "$CR_ERR" "swapped letters"
expect_exit 2 cr help restor
assert_grep "did you mean \`restore\`\?" "$CR_ERR" "help of a misspelt command"
expect_exit 2 cr cleanpoint
assert_grep "did you mean \`clean-point\`\?" "$CR_ERR" "missing dash"
expect_exit 2 cr frobnicate
assert_grep "unknown command 'frobnicate'$" "$CR_ERR" "nothing close: no suggestion"
expect_exit 2 cr key ad
assert_grep "unknown action 'ad': did you mean \`key add\`\?" "$CR_ERR" "action typo"
pass "commands"

expect_exit 2 cr backup --exlude '*.tmp' --source s .
assert_grep "unknown option '--exlude': did you mean \`--exclude\`\?" "$CR_ERR" "option typo"
assert_grep "^Try 'cleanroom backup --help'" "$CR_ERR" "help line kept"
expect_exit 2 cr backup --exlude='*.tmp' --source s .
assert_grep "did you mean \`--exclude\`\?" "$CR_ERR" "option typo with =value"
expect_exit 2 cr findings --snapshto latest
assert_grep "did you mean \`--snapshot\`\?" "$CR_ERR" "option typo of findings"
expect_exit 2 cr --jsno snapshots
assert_grep "did you mean \`--json\`\?" "$CR_ERR" "global option typo"
expect_exit 2 cr snapshots --no-such-option
assert_grep "unknown option '--no-such-option'$" "$CR_ERR" "nothing close: no suggestion"
pass "options"
