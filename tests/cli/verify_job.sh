# A verify job reads one M-th of the vault's packs per run (verify --read-data-subset N/M,
# N turning with the day): a sound vault passes; a damaged pack fails the run (exit 4)
# and raises one alert (journal entry, event "verify"). It backs up nothing, so the
# keys of a backup job are refused in it.
set -u
. "${CR_TESTLIB:?}"
start_sink "$SCRATCH/sink" --journal "$SCRATCH/journal.sock"
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/journal.sock

mkdir data
head -c 300000 /dev/urandom > data/victim
cr init --repo "$SCRATCH/vault" >/dev/null || fail "init"
cr backup --repo vault --source s data >/dev/null || fail "backup"
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
jobs:
  - name: check-vault
    verify: 1
    schedule: daily 04:00
    notify: [syslog]
EOF
expect_exit 0 cr job check --jobs jobs.yaml
assert_grep "^check-vault: verify 1/1 of the vault's packs per run, schedule daily 04:00$" "$CR_OUT" "listed"
expect_exit 0 cr job run check-vault --jobs jobs.yaml
assert_grep "^job check-vault: verify of part 1/1 of the vault: [1-9][0-9]* pack\(s\) read, 0 problem\(s\)$" \
    "$CR_OUT" "a sound vault passes"
[ ! -s sink/journal ] || fail "no alert for a sound vault"
expect_exit 0 cr status --jobs jobs.yaml
grep -q "^check-vault" "$CR_OUT" && fail "a verify job is not a source of status"
assert_grep "^last verify: job check-vault, part 1/1, .*: no damage$" "$CR_OUT" \
    "status says the last verify and its result"

pack=$(find vault/data -type f -size +50k | head -1)
[ -n "$pack" ] || fail "no data pack"
chmod u+w "$pack"
printf '\001\002\003\004' | dd of="$pack" bs=1 seek=30000 conv=notrunc 2>/dev/null
expect_exit 4 cr job run check-vault --jobs jobs.yaml
assert_grep "verify found [1-9][0-9]* problem\(s\) in part 1/1 of the vault" "$CR_ERR" "the damage is said"
for _ in $(seq 50); do [ -s sink/journal ] && break; sleep 0.1; done
grep -q "^CLEANROOM_EVENT=verify$" sink/journal || fail "one verify alert in the journal"
grep -q "^MESSAGE_ID=3c1f6d0e8a2b4f7c9e51d2a7b6c4e807$" sink/journal || fail "its MESSAGE_ID"
expect_exit 0 cr status --jobs jobs.yaml
assert_grep "^last verify: job check-vault, part 1/1, .*: FAILED, [1-9][0-9]* problem\(s\)$" "$CR_OUT" \
    "status says the last verify failed"
pass "verify job: sound, then damaged"

# N turns with the day: with M = 30, two days in a row read two different parts
printf 'vault: %s\njobs:\n  - name: v\n    verify: 30\n    schedule: daily 04:00\n' "$SCRATCH/vault" > j30.yaml
cr job run v --jobs j30.yaml --time 2026-12-01T04:00:00Z --json > a.json
cr job run v --jobs j30.yaml --time 2026-12-02T04:00:00Z --json > b.json
python3 - a.json b.json <<'EOF' || fail "the part turns with the day"
import json, sys
a, b = (json.load(open(f))["jobs"][0]["verify_part"] for f in sys.argv[1:3])
na, nb = (int(x.split("/")[0]) for x in (a, b))
assert a.endswith("/30") and nb == na % 30 + 1, (a, b)
EOF
# a verify job backs up nothing
printf 'jobs:\n  - name: v\n    verify: 30\n    paths: [/x]\n    schedule: daily 04:00\n' > bad.yaml
expect_exit 2 cr job check --jobs bad.yaml
assert_grep "^bad.yaml:4:5: error: a verify job backs up nothing: \`paths\` belongs in a job of its own$" \
    "$CR_OUT" "paths refused in a verify job"
pass "verify job: parts, refusals"
mkdir units
expect_exit 0 cr job install --jobs jobs.yaml --unit-dir units
assert_grep "^ExecStart=/[^ ]+ --repo $SCRATCH/vault job run check-vault --jobs $SCRATCH/jobs.yaml$" \
    units/cleanroom-job-check-vault.service "the verify job's unit"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --man=no units/* > verify.out 2>&1 || { cat verify.out >&2; fail "systemd-analyze"; }
fi
pass "verify job: units"
