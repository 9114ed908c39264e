# Job records compaction: as runs pile up in the vault (write-once records), a
# job run writes a summary (runsum/) of the records older than 7 days, and
# `status` reads the newest summary and the records none covers instead of
# every record. Status stays right: the last outcome of each job (one whose
# last run is months old, summed up), the last verify, the number of records;
# the number of files it read stays bounded. A damaged summary is left out and
# counted: status reads the records one by one again and is still right.
set -u
. "${CR_TESTLIB:?}"

mkdir a b
echo a > a/file
echo b > b/file
cr init --repo "$SCRATCH/vault" --kdf interactive >/dev/null || fail "init"
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
jobs:
  - name: ja
    paths: [$SCRATCH/a]
    schedule: daily 02:00
    rpo: 26h
    hunt: false
  - name: jb
    paths: [$SCRATCH/b]
    schedule: daily 02:00
    rpo: 26h
    hunt: false
  - name: check
    verify: 1
    schedule: daily 04:00
EOF
day() { date -u -d "2026-06-01 + $1 days" +%Y-%m-%dT%H:%M:%SZ; }
# 10 days of ja, jb and check; then jb fails (its folder gone) and stops; 60 more days of ja.
for d in $(seq 0 9); do
    cr job run ja --jobs jobs.yaml --time "$(day "$d")" >/dev/null 2>&1 || fail "ja day $d"
    cr job run jb --jobs jobs.yaml --time "$(day "$d")" >/dev/null 2>&1 || fail "jb day $d"
    cr job run check --jobs jobs.yaml --time "$(day "$d")" >/dev/null 2>&1 || fail "check day $d"
done
mv b b.gone
cr job run jb --jobs jobs.yaml --time "$(day 10)" >/dev/null 2>&1 && fail "jb should fail"
for d in $(seq 11 70); do
    cr job run ja --jobs jobs.yaml --time "$(day "$d")" >/dev/null 2>&1 || fail "ja day $d"
done
total=$((10 * 3 + 1 + 60))
[ "$(find vault/runs -type f | wc -l)" = "$total" ] || fail "every run left its record"
nsum=$(find vault/runsum -type f 2>/dev/null | wc -l)
[ "$nsum" -ge 1 ] || fail "no summary was written"

check_status() { # what status must say, whatever it read
    python3 - "$CR_OUT" "$total" "$(day 9)" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
src = {s["source"]: s for s in st["sources"]}
v = st["vault"]
assert v["records"] == int(sys.argv[2]), v["records"]
assert src["ja"]["last_run"]["outcome"] == "ok", src["ja"]
assert src["jb"]["last_run"]["outcome"] == "failed", src["jb"]
lv = v["last_verify"]
assert lv and lv["job"] == "check" and lv["outcome"] == "ok" and lv["time"].startswith(sys.argv[3][:10]), lv
print(v["records_read"], v["records_unreadable"])
EOF
}
expect_exit 0 cr status --repo vault --jobs jobs.yaml --now "$(day 71)" --json
read -r nread nbad <<<"$(check_status)" || fail "status after the summaries is right"
[ "$nbad" = 0 ] || fail "no record is unreadable"
# Bounded: the summaries used, the last 7 days' records and fewer than 64 older ones.
[ "$nread" -lt $((nsum + 7 + 64)) ] || fail "status read $nread files of $total records"
[ "$nread" -lt $((total / 2)) ] || fail "status read $nread files of $total records"
pass "status reads $nread files for $total records ($nsum summaries), and is right"

# The digest and status from another machine: nothing but the vault.
HOME=$SCRATCH/elsewhere expect_exit 0 cr status --repo vault --now "$(day 71)" --json
check_status >/dev/null || fail "status without the jobs file"
pass "status without the jobs file"

# A damaged summary (or one changed by someone without the key): left out, counted,
# and status reads the records again and is still right.
for f in $(find vault/runsum -type f); do
    chmod u+w "$f"
    printf 'x' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
done
expect_exit 0 cr status --repo vault --jobs jobs.yaml --now "$(day 71)" --json
read -r nread nbad <<<"$(check_status)" || fail "status with damaged summaries is right"
[ "$nbad" = "$nsum" ] || fail "the damaged summaries are counted ($nbad)"
[ "$nread" -ge "$total" ] || fail "the records are read again"
expect_exit 4 cr verify --repo vault
assert_grep "summary" "$CR_OUT" "verify reports the damaged summary"
pass "damaged summaries: left out, counted, reported by verify; status still right"
