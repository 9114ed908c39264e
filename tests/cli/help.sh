# --help of every command, --version, usage errors of the dispatcher.
set -u
. "${CR_TESTLIB:?}"

for c in init key backup snapshots ls diff restore vm-export verify hunt findings clean-point timeline \
         plan journal probe recover drill report; do
    expect_exit 0 cr "$c" --help
    assert_grep "^usage: cleanroom $c" "$CR_OUT" "$c --help prints its usage"
    expect_exit 0 cr --help "$c"
    assert_grep "^usage: cleanroom $c" "$CR_OUT" "--help $c"
    expect_exit 0 cr help "$c"
    assert_grep "^usage: cleanroom $c" "$CR_OUT" "help $c"
    expect_exit 2 cr "$c" --no-such-option
    assert_grep "unknown option '--no-such-option'" "$CR_ERR" "$c: unknown option"
done
pass "command help"

expect_exit 0 cr --help
assert_grep "^usage: cleanroom" "$CR_OUT" "main help"
expect_exit 0 cr --version
assert_grep "^cleanroom [0-9]+\.[0-9]+\.[0-9]+$" "$CR_OUT" "version"
expect_exit 2 cr
assert_grep "^usage: cleanroom" "$CR_ERR" "no command: usage on stderr"
expect_exit 2 cr frobnicate
assert_grep "unknown command 'frobnicate'" "$CR_ERR" "unknown command"
expect_exit 2 cr --repo
pass "dispatcher"

# Every command has its documentation page.
for c in cleanroom init key backup snapshots ls diff restore vm-export verify hunt findings clean-point timeline \
         plan journal probe recover drill report; do
    [ -s "$CR_SRC/docs/commands/$c.md" ] || fail "missing docs/commands/$c.md"
done
[ -s "$CR_SRC/docs/exit-codes.md" ] || fail "missing docs/exit-codes.md"
pass "docs"
