# Kernel pseudo-filesystems (/proc, /sys) are kept as empty folders, never read:
# backing up "/" of a server must not store the running kernel's views.
set -u
. "${CR_TESTLIB:?}"

[ -d /proc/self ] || { echo "skipped: no /proc"; exit 77; }
export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src/data
printf 'record\n' > src/data/file.txt
expect_exit 0 timeout 120 "$CLEANROOM" backup --source s --json /proc /sys "$PWD/src"
expect_exit 0 cr ls s:latest
assert_grep '^/proc$' "$CR_OUT"
assert_grep '^/sys$' "$CR_OUT"
assert_grep '/src/data/file.txt$' "$CR_OUT"
grep -q '^/proc/' "$CR_OUT" && fail "something below /proc was stored"
grep -q '^/sys/' "$CR_OUT" && fail "something below /sys was stored"
pass "pseudo-filesystems are kept as empty folders"
