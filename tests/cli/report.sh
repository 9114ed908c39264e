# report: a journal written to the format of docs/format.md §16 (by an
# independent writer: Python) gives a Markdown and an HTML report with its
# facts, and the head hash that 'journal verify' prints; a hostile service
# name is escaped in both; a tampered journal gives exit 4, names the line
# and writes no report (an old report is not replaced either); a missing
# journal exit 7; bad options exit 2; a journal with no recovery exit 2.
set -u
. "${CR_TESTLIB:?}"

# mkjournal FILE: a drill of three services, one with a hostile name.
mkjournal() {
    python3 - "$1" <<'EOF'
import hashlib, json, sys
out = open(sys.argv[1], "w", encoding="utf-8")
prev = "0" * 64
seq = 0
def add(typ, svc, data):
    global prev, seq
    seq += 1
    e = {"seq": seq, "time": "2026-11-22T03:%02d:%02dZ" % (seq // 60, seq % 60), "type": typ,
         "service": svc, "data": data, "prev": prev}
    body = json.dumps(e, separators=(",", ":"), ensure_ascii=False)
    h = hashlib.sha256(body.encode()).hexdigest()
    out.write(body[:-1] + ',"hash":"' + h + '"}\n')
    prev = h
evil = "evil<script>alert(1)</script>|x|"
add("recover-start", None, {"mode": "drill", "plan": "/etc/cr/hospital.yaml",
    "plan_sha256": "ab" * 32, "site": "CH Sud", "vault": "/srv/vault", "host": "pra-1",
    "user": "root", "services": "3", "resume": "no", "scratch": "/var/tmp/drill"})
for s, t in (("ldap", "0"), ("db", "1"), (evil, "2")):
    add("point-chosen", s, {"snapshot": "c0ffee" + "0" * 58, "snapshot_time": "2026-11-20T02:00:00Z",
        "point": "clean", "reason": "clean point: the newest hunted snapshot before deadbeef"})
    add("estimate", s, {"tier": t, "bytes": "1000", "seconds": "2.000", "rto": "3600", "rto_met": "yes"})
for i, (s, t) in enumerate((("ldap", "0"), ("db", "1"), (evil, "2"))):
    tgt = "/var/tmp/drill/srv/%d" % i
    add("restore-start", s, {"target": tgt})
    add("restore-done", s, {"snapshot": "c0ffee", "target": tgt, "files": "42", "bytes": "123456789",
        "seconds": "1.500", "failed": "0"})
    add("probe", s, {"probe": "postgres", "kind": "postgres", "ok": "yes", "attempts": "1",
        "seconds": "0.100", "message": "SELECT count(*) FROM patients: 3"})
    add("service-done", s, {"status": "ok", "seconds": "%d.000" % (10 * (i + 1)),
        "restore_seconds": "1.500", "rto": "3600", "rto_met": "yes", "tier": t})
add("drill-cleanup", None, {"scratch": "/var/tmp/drill", "removed": "yes"})
add("recover-end", None, {"status": "ok", "seconds": "31.000", "ok": "3", "failed": "0", "blocked": "0"})
EOF
}

mkjournal drill.journal
expect_exit 0 cr journal verify drill.journal
head=$(sed -n 's/.*head \([0-9a-f]\{64\}\).*/\1/p' "$CR_OUT")
[ ${#head} = 64 ] || fail "no head hash from journal verify"

expect_exit 0 cr report drill.journal --out out
assert_grep "intact, 21 entries, head $head" "$CR_OUT"
md=out/drill-report.md html=out/drill-report.html
[ -s "$md" ] && [ -s "$html" ] || fail "report files missing"
for f in "$md" "$html"; do
    assert_grep "$head" "$f" "head hash in $f"
    assert_grep "Recovery drill report" "$f"
    assert_grep "Restore test evidence" "$f"
    assert_grep "CH Sud" "$f"
    assert_grep "FROM patients: 3" "$f"
    assert_grep "117\.7 MiB" "$f" "bytes of a service in $f"
    assert_grep "abababab" "$f" "plan hash in $f"
    assert_grep "newest hunted snapshot before deadbeef" "$f"
done
grep -q '<script' "$html" && fail "raw <script> in $html"
grep -q '[^\\]<' "$md" && fail "raw HTML in $md"
grep -q 'evil&lt;script&gt;alert(1)&lt;/script&gt;|x|' "$html" || fail "hostile name not escaped in HTML"
grep -qF 'evil\<script\>alert(1)\</script\>\|x\|' "$md" || fail "hostile name not escaped in Markdown"
pass "report of an intact drill journal"

# Only one format; --json.
expect_exit 0 cr report drill.journal --out md-only --format md --json
[ -s md-only/drill-report.md ] && [ ! -e md-only/drill-report.html ] || fail "--format md"
assert_grep "\"head\": \"$head\"" "$CR_OUT"

# Default folder: the journal's.
expect_exit 0 cr report drill.journal --format html
[ -s drill-report.html ] || fail "report not beside the journal"

# Tampered: one digit of a size on line 9 changed; the old report stays as it was.
cp "$md" md.before
sed -i '9s/"bytes":"123456789"/"bytes":"923456789"/' drill.journal
grep -q 923456789 drill.journal || fail "test did not change the journal"
expect_exit 4 cr report drill.journal --out out
assert_grep "line 9" "$CR_ERR" "the damaged line is named"
assert_grep "no report was written" "$CR_ERR"
cmp -s md.before "$md" || fail "a report was written from a tampered journal"
expect_exit 4 cr report drill.journal --out fresh
[ ! -e fresh ] || [ -z "$(ls -A fresh)" ] || fail "files written from a tampered journal"
pass "tampered journal: exit 4, no report"

# Torn last line: also exit 4.
mkjournal torn.journal
printf '{"seq":22,"time":"2026' >> torn.journal
expect_exit 4 cr report torn.journal --out torn-out
[ ! -e torn-out/torn-report.md ] || fail "report from a torn journal"

# Errors.
expect_exit 7 cr report missing.journal
expect_exit 2 cr report drill.journal --format pdf
expect_exit 2 cr report drill.journal --lang xx
expect_exit 2 cr report
: > empty.journal
expect_exit 2 cr report empty.journal
assert_grep "no recovery" "$CR_ERR"
pass "errors"
