# 'verify --read-data' started while a backup runs reports no damage: what a
# backup has not finished (packs without index, a snapshot saved after verify
# listed the packs) is a backup in progress, not a damaged vault. Tried 10
# times, verify started at a different moment of the backup each time.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src
for i in $(seq 1 40); do head -c 400000 /dev/urandom > "src/f$i"; done
expect_exit 0 cr backup --source s src

for k in $(seq 1 10); do
    # New content each round, so that the backup writes packs, an index and a snapshot.
    for i in $(seq 1 8); do head -c 700000 /dev/urandom > "src/n${k}_$i"; done
    cr backup --source s src >"$SCRATCH/b.out" 2>&1 &
    bpid=$!
    sleep "0.0$((k - 1))"
    cr verify --read-data >"$SCRATCH/v.out" 2>&1
    vrc=$?
    wait "$bpid" || { cat "$SCRATCH/b.out" >&2; fail "round $k: the backup failed"; }
    if [ "$vrc" -ne 0 ] || grep -q damaged "$SCRATCH/v.out"; then
        cat "$SCRATCH/v.out" >&2
        fail "round $k: verify during a backup exited $vrc"
    fi
done
pass "10 verifies during backups: no damage reported"
expect_exit 0 cr verify --read-data
assert_grep "^vault OK: .* 11 snapshots checked" "$CR_OUT" "every snapshot is there"
pass "the vault verifies after the backups"
