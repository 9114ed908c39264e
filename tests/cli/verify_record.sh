# A `verify --read-data` (or --read-data-subset) run by hand is recorded in the
# vault as a verify job's run is (runs/, write-once), so `status` shows it as the
# last verify from any machine, with its result; a check of the structure only
# reads no data and is not recorded. A later verify job's run is the last verify
# in turn.
set -u
. "${CR_TESTLIB:?}"

mkdir data
head -c 300000 /dev/urandom > data/victim
cr init --repo "$SCRATCH/vault" >/dev/null || fail "init"
cr backup --repo vault --source s data >/dev/null || fail "backup"
nruns() { find vault/runs -type f 2>/dev/null | wc -l; }

expect_exit 0 cr verify --repo vault
[ "$(nruns)" = 0 ] || fail "a structure-only verify is not recorded"
expect_exit 0 cr status --repo vault
assert_grep "^last verify: none recorded" "$CR_OUT" "nothing recorded yet"

expect_exit 0 cr verify --repo vault --read-data
[ "$(nruns)" = 1 ] || fail "verify --read-data writes one record"
expect_exit 0 cr verify --repo vault --read-data-subset 2/3
[ "$(nruns)" = 2 ] || fail "verify --read-data-subset writes one record"
# Another machine: nothing but the vault (no jobs file, another home).
HOME=$SCRATCH/elsewhere expect_exit 0 cr status --repo vault
assert_grep "^last verify: by hand, part 2/3, .* ago\): no damage$" "$CR_OUT" \
    "status shows the verify run by hand"
expect_exit 0 cr status --repo vault --json
python3 - "$CR_OUT" <<'EOF' || fail "status --json: last_verify"
import json, sys
v = json.load(open(sys.argv[1]))["vault"]["last_verify"]
assert v["job"] == "(by hand)" and v["part"] == "2/3" and v["outcome"] == "ok", v
EOF
pass "verify --read-data by hand: recorded, shown by status"

# Damage: the run fails (exit 4) and its record says so.
pack=$(find vault/data -type f -size +50k | head -1)
[ -n "$pack" ] || fail "no data pack"
chmod u+w "$pack"
printf '\001\002\003\004' | dd of="$pack" bs=1 seek=30000 conv=notrunc 2>/dev/null
expect_exit 4 cr verify --repo vault --read-data
[ "$(nruns)" = 3 ] || fail "a failed verify is recorded too"
expect_exit 0 cr status --repo vault
assert_grep "^last verify: by hand, part 1/1, .*: FAILED, [1-9][0-9]* problem\(s\)$" "$CR_OUT" \
    "status says the verify by hand failed"
# The records are write-once: changing one is seen (left out, counted unreadable).
rec=$(find vault/runs -type f | head -1)
chmod u+w "$rec" 2>/dev/null
printf 'x' | dd of="$rec" bs=1 seek=40 conv=notrunc 2>/dev/null
expect_exit 0 cr status --repo vault
assert_grep "^warning: 1 job record\(s\) of the vault cannot be read" "$CR_OUT" "a changed record is seen"
pass "a failed verify by hand is recorded; records are checked"

# A verify job's later run is the last verify in turn.
rm -f "$rec"
printf 'vault: %s\njobs:\n  - name: nightly\n    verify: 1\n    schedule: daily 04:00\n' \
    "$SCRATCH/vault" > jobs.yaml
expect_exit 4 cr job run nightly --jobs jobs.yaml
expect_exit 0 cr status --jobs jobs.yaml
assert_grep "^last verify: job nightly, part 1/1, .*: FAILED" "$CR_OUT" "the job's run is the last"
pass "one way: the newest record, by hand or by a job"
