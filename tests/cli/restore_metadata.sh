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

# An unprivileged technician restores from a copy of the vault it can read,
# into a folder it can write (both where nobody can reach them, wherever the
# build folder and $SCRATCH are).
SH=$(shared_dir)/nobody
mkdir "$SH"
cp -a "$SCRATCH/vault" "$SH/vault-copy"
chown -R nobody "$SH"
export CLEANROOM_REPO=$SH/vault-copy
expect_exit 5 run_as nobody env CLEANROOM_REPO="$CLEANROOM_REPO" \
    CLEANROOM_PASSWORD="$CLEANROOM_PASSWORD" "$CLEANROOM" restore latest --target "$SH/out"
assert_grep "RESTORED WITH INCOMPLETE METADATA" "$CR_OUT"
grep -q "NOT RESTORED" "$CR_OUT" && fail "metadata-only problems were listed as NOT RESTORED"
assert_grep "trusted.cleanroom" "$CR_ERR"
cmp -s src/record.txt "$SH/out$(pwd -P)/src/record.txt" || fail "the data was not restored intact"
pass "metadata notices are told apart from lost data"
