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
    python3 - "$@" <<'EOF'
import hashlib, json, sys
out = open(sys.argv[1], "w", encoding="utf-8")
extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
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
    "user": "root", "services": "3", "resume": "no", "scratch": "/var/tmp/drill", **extra})
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

# A journal that is not keyed (written before keying, like this one) says so.
assert_grep "not keyed" "$md" "unkeyed journal flagged in the report"

# Identity, data-loss window, French; the default language follows the locale.
expect_exit 0 cr report drill.journal --out id --format md --finess 330781196 \
    --incident ARS-2026-042 --author "J. Martin" --role RSSI --incident-time 2026-11-22T02:00:00Z
for w in "FINESS number:\*\* 330781196" "ARS-2026-042" "J. Martin" "RSSI" \
         "ldap: back to 20 Nov 02:00 — 2 days of data to re-enter"; do
    assert_grep "$w" id/drill-report.md "identity and RPO: $w"
done
expect_exit 0 cr report drill.journal --out fr --format md --lang fr --incident-time 2026-11-22T02:00:00Z
assert_grep "^# Rapport d'exercice de reprise : CH Sud" fr/drill-report.md "French title"
assert_grep "ldap : revenu au 20 nov\. 02:00 — 2 jours de données à ressaisir" fr/drill-report.md "French RPO"
grep -q "Restore test evidence" fr/drill-report.md && fail "English left in the French report"
env -u LANGUAGE -u LC_ALL -u LC_MESSAGES LANG=fr_FR.UTF-8 "$CLEANROOM" report drill.journal \
    --out fr2 --format md > /dev/null || fail "report in a French locale"
assert_grep "^# Rapport d'exercice" fr2/drill-report.md "the locale's language by default"
expect_exit 0 cr report drill.journal --out en --format md
assert_grep "The time of the incident is not known" en/drill-report.md "no incident time: said"
# The plan's lang: and finess: (recorded by the recovery) are the defaults; options win.
mkjournal plan.journal '{"finess": "750712184", "lang": "fr"}'
env -u LANGUAGE -u LC_ALL -u LC_MESSAGES LANG=C.UTF-8 "$CLEANROOM" report plan.journal \
    --out pl --format md > /dev/null || fail "report of a journal with the plan's lang and finess"
assert_grep "^# Rapport d'exercice de reprise : CH Sud" pl/plan-report.md "the plan's lang: by default"
assert_grep "750712184" pl/plan-report.md "the plan's FINESS number"
expect_exit 0 cr report plan.journal --out pl2 --format md --lang en --finess 330781196
assert_grep "^# Recovery drill report" pl2/plan-report.md "--lang wins over the plan's lang:"
grep -q 750712184 pl2/plan-report.md && fail "--finess did not win over the plan's"
pass "the plan's lang: and finess: are the report's defaults"
expect_exit 2 cr report drill.journal --incident-time yesterday
pass "identity, RPO, French"

# One number for one fact: a service's "back at" is the time since the start of
# its service-done entry in the timeline; no cell is broken across lines, and
# the HTML never breaks a word or a number inside a cell.
python3 - "$md" "$html" <<'EOF' || fail "consistent numbers and layout"
import re, sys
md = open(sys.argv[1], encoding="utf-8").read().split("\n")
def cells(l): return [c.strip() for c in re.split(r"(?<!\\)\|", l)[1:-1]]
tables, cur = [], None
for l in md:
    if l.startswith("|"):
        assert l.endswith("|"), l
        if cur is None: cur = []; tables.append(cur)
        cur.append(cells(l))
    else:
        cur = None
for t in tables:
    assert all(len(r) == len(t[0]) for r in t), t[0]
svc = next(t for t in tables if t[0][:2] == ["Tier", "Service"])
tl = next(t for t in tables if t[0] == ["Time (UTC)", "Since start", "Service", "Event"])
back = {r[1]: r[svc[0].index("Back at")] for r in svc[2:]}
done = {r[2]: r[1].lstrip("+") for r in tl[2:] if r[3].startswith("Service done")}
assert back and all(back[s] == done[s] for s in back), (back, done)
html = open(sys.argv[2], encoding="utf-8").read()
assert "word-break:break-word" not in html, "words broken in cells"
assert "th,td.n{white-space:nowrap}" in html
num = re.compile(r"^[+]?[0-9][0-9.]* ?(B|KiB|MiB|GiB|s|min|h|min [0-9]+ s|h [0-9]+ min)?$")
data = re.sub(r'<table class="kv">.*?</table>', "", html, flags=re.S)  # key: value lists
for cls, text in re.findall(r'<td(?: class="([^"]*)")?>([^<]*)</td>', data):
    if num.match(text):
        assert cls == "n", (cls, text)
EOF
pass "numbers agree, cells whole"

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
