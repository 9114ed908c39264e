# One incident-wide cut-off ("patient zero"): two sources, web and db, backed up
# on three days; only web shows an indicator (a web shell on day 3), while db
# may have been tampered with without one. Without a cut-off, db's clean point
# is its newest snapshot (day 3); with `clean-point --before` day 3, and with a
# plan's `defaults: {cutoff: ...}`, every source comes back from before it (db
# from day 2); `restore_point: {before: TIME}` moves one service's cut-off
# earlier (day 1); a cut-off before every snapshot leaves no restore point.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive
mkdir -p src/web/var/www src/web/etc src/db/var/lib/db src/db/etc
for d in 1 2 3; do
    printf 'rows of day %s\n' "$d" > src/db/var/lib/db/data
    printf '<p>day %s</p>\n' "$d" > src/web/var/www/index.html
    [ "$d" = 3 ] && printf '<?php eval($_POST["c"]); ?>\n' > src/web/var/www/up.php
    for s in web db; do
        expect_exit 0 cr backup --source "$s" --time "2026-11-0${d}T02:00:00Z" "src/$s"
    done
done
expect_exit 0 cr hunt

expect_exit 0 cr clean-point --json
python3 - "$CR_OUT" <<'PY' || fail "without a cut-off: web day 2, db day 3"
import json, sys
c = {x["source"]: x for x in json.load(open(sys.argv[1]))}
assert c["web"]["compromised"] and c["web"]["clean_time"].startswith("2026-11-02"), c["web"]
assert not c["db"]["compromised"] and c["db"]["clean_time"].startswith("2026-11-03"), c["db"]
PY
expect_exit 0 cr clean-point --before 2026-11-03T00:00:00Z --json
python3 - "$CR_OUT" <<'PY' || fail "with the cut-off: both from day 2"
import json, sys
c = {x["source"]: x for x in json.load(open(sys.argv[1]))}
assert c["web"]["clean_time"].startswith("2026-11-02") and c["web"]["after_cutoff"] == 1, c["web"]
assert c["db"]["clean_time"].startswith("2026-11-02") and c["db"]["after_cutoff"] == 1, c["db"]
assert not c["web"]["compromised"], c["web"]  # the compromised day is after the cut-off
PY
expect_exit 0 cr clean-point --before 2026-11-03
assert_grep "1 snapshot\(s\) of db taken at or after the cut-off 2026-11-03 are left out" "$CR_OUT" "the text says what was left out"
expect_exit 0 cr clean-point --before 2026-10-01 --source db
assert_grep "^db: NO CLEAN RESTORE POINT before the cut-off 2026-10-01" "$CR_OUT" "nothing before the cut-off"
expect_exit 2 cr clean-point --before yesterday
pass "clean-point --before"

cat > plan.yaml <<EOF
site: test-hospital
vault: vault
defaults: {cutoff: 2026-11-03T00:00:00Z}
services:
  - name: web
    tier: 1
    restore_point: clean
    target: {folder: $SCRATCH/prod/web}
  - name: db
    tier: 1
    restore_point: clean
    target: {folder: $SCRATCH/prod/db}
  - name: db-early
    source: db
    tier: 1
    restore_point: {before: 2026-11-02T00:00:00Z}
    target: {folder: $SCRATCH/prod/db-early}
EOF
unset CLEANROOM_REPO
expect_exit 0 cr plan check plan.yaml
expect_exit 0 cr recover plan.yaml
grep -q 'day 2' "prod/db/$P/src/db/var/lib/db/data" || fail "db did not come back from before the cut-off"
grep -q 'day 1' "prod/db-early/$P/src/db/var/lib/db/data" || fail "restore_point before: did not choose day 1"
grep -q 'day 2' "prod/web/$P/src/web/var/www/index.html" || fail "web did not come back from day 2"
expect_exit 0 cr journal show plan.journal
assert_grep "before the incident's cut-off 2026-11-03" "$CR_OUT" "the journal says why (the cut-off)"

sed -i 's/cutoff: 2026-11-03T00:00:00Z/cutoff: soon/' plan.yaml
expect_exit 2 cr plan check plan.yaml
assert_grep "plan.yaml:3:[0-9]+: error: cutoff must be a time" "$CR_OUT" "a bad cut-off is an error"
pass "plan cut-offs"
