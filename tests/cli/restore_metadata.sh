# Metadata that cannot be set (here: a trusted.* xattr, which only root may
# write) is reported apart from lost data: the file is restored intact, the
# summary says "restored with incomplete metadata", not "NOT RESTORED", exit 5.
set -u
. "${CR_TESTLIB:?}"

if [ "$(id -u)" -ne 0 ] || ! command -v runuser >/dev/null || ! command -v setfattr >/dev/null; then
    echo "skipped: needs root, runuser and setfattr"
    exit 77
fi
export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src
printf 'patient record\n' > src/record.txt
setfattr -n trusted.cleanroom -v 1 src/record.txt || { echo "skipped: no trusted xattrs here"; exit 77; }
expect_exit 0 cr backup --source s src

# An unprivileged technician restores from a copy of the vault it can read.
cp -a "$SCRATCH/vault" "$SCRATCH/vault-copy"
chmod -R a+rwX "$SCRATCH/vault-copy" "$SCRATCH"
export CLEANROOM_REPO=$SCRATCH/vault-copy
expect_exit 5 runuser -u nobody -- env CLEANROOM_REPO="$CLEANROOM_REPO" \
    CLEANROOM_PASSWORD="$CLEANROOM_PASSWORD" "$CLEANROOM" restore latest --target "$SCRATCH/out"
assert_grep "RESTORED WITH INCOMPLETE METADATA" "$CR_OUT"
grep -q "NOT RESTORED" "$CR_OUT" && fail "metadata-only problems were listed as NOT RESTORED"
assert_grep "trusted.cleanroom" "$CR_ERR"
cmp -s src/record.txt "$SCRATCH/out$(pwd -P)/src/record.txt" || fail "the data was not restored intact"
pass "metadata notices are told apart from lost data"
