# journal verify / show: a journal written by an independent writer (Python,
# following docs/format.md §16) verifies; each kind of tampering exits 4 and
# names its line; a torn last line is cut into FILE.torn only on request,
# and the cut is itself journaled; other damage is never "repaired".
set -u
. "${CR_TESTLIB:?}"

# Write a journal of N entries per the documented format.
mkjournal() {
    python3 - "$1" <<'EOF'
import hashlib, json, sys
prev = "0" * 64
out = []
entries = [("plan-loaded", None, {"plan": "small-hospital.yaml", "services": "11"}),
           ("point-chosen", "dpi", {"snapshot": "1a2b3c4d", "why": "clean point: before 5e6f"}),
           ("restore-done", "dpi", {"bytes": "1048576"}),
           ("probe", "dpi", {"kind": "http", "ok": "true", "message": "HTTP 200 in 0.03 s"}),
           ("ack", "pacs", {"operator": "J. Martin", "note": "PACS acknowledged, épreuve"})]
for i, (typ, svc, data) in enumerate(entries[:int(sys.argv[1])], 1):
    body = json.dumps({"seq": i, "time": "2026-11-22T03:%02d:00Z" % i, "type": typ,
                       "service": svc, "data": data, "prev": prev},
                      separators=(",", ":"), ensure_ascii=False)
    h = hashlib.sha256(body.encode()).hexdigest()
    out.append(body[:-1] + ',"hash":"%s"}\n' % h)
    prev = h
sys.stdout.write("".join(out))
EOF
}

J=$SCRATCH/j.jsonl
mkjournal 5 > "$J"
HEAD=$(tail -n 1 "$J" | sed 's/.*"hash":"\([0-9a-f]*\)"}$/\1/')
expect_exit 0 cr journal verify "$J"
assert_grep "^journal .*j\.jsonl: intact, 5 entries, head $HEAD$" "$CR_OUT" "intact"
expect_exit 0 cr journal verify "$J" --json
python3 - "$CR_OUT" "$HEAD" <<'EOF' || fail "verify --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["intact"] and d["entries"] == 5 and d["head"] == sys.argv[2] and d["bad_line"] is None
EOF
expect_exit 0 cr journal show "$J"
assert_grep "^   2  2026-11-22T03:02:00Z  point-chosen      \[dpi\]  snapshot=1a2b3c4d  why=clean point: before 5e6f$" \
    "$CR_OUT" "show line"
assert_grep "note=PACS acknowledged, épreuve" "$CR_OUT" "UTF-8 kept"
[ "$(wc -l < "$CR_OUT")" -eq 5 ] || fail "show: 5 lines"
expect_exit 0 cr journal show "$J" --json
python3 - "$CR_OUT" <<'EOF' || fail "show --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 5 and d[0]["service"] is None and d[1]["data"]["snapshot"] == "1a2b3c4d"
assert d[4]["seq"] == 5 and len(d[4]["hash"]) == 64
EOF
pass "intact journal"

# tamper: exit 4 with the line, and the file is not changed by verify
tamper() { # name, expected line, expected words, then a command turning j.jsonl into t.jsonl
    local name=$1 line=$2 words=$3
    shift 3
    mkjournal 5 > "$J"
    "$@"
    local sum
    sum=$(sha256sum < t.jsonl)
    expect_exit 4 cr journal verify t.jsonl
    assert_grep "^cleanroom: error: journal t\.jsonl, line $line\b.*$words" "$CR_ERR" "$name"
    assert_grep "^hint: the $((line - 1)) entries before line $line are intact" "$CR_ERR" "$name: hint"
    [ "$(sha256sum < t.jsonl)" = "$sum" ] || fail "$name: verify changed the file"
    expect_exit 4 cr journal show t.jsonl
    [ "$(wc -l < "$CR_OUT")" -eq $((line - 1)) ] || fail "$name: show prints the intact entries"
}
tamper "edited value" 3 "changed after it was written" sh -c "sed 's/1048576/1048577/' '$J' > t.jsonl"
tamper "removed line" 2 "entry 2 was removed or moved" sh -c "sed '2d' '$J' > t.jsonl"
tamper "swapped lines" 3 "holds entry 4 where entry 3 was expected" \
    sh -c "{ sed -n 1,2p '$J'; sed -n 4p '$J'; sed -n 3p '$J'; sed -n 5p '$J'; } > t.jsonl"
tamper "duplicated line" 4 "repeats line 3" sh -c "sed '3p' '$J' > t.jsonl"
tamper "torn line" 5 "is incomplete" sh -c "head -c -20 '$J' > t.jsonl"
assert_grep "cut-torn" "$CR_ERR" "torn: says how to cut"
pass "tampering detected at the right line"

# --cut-torn: moves the incomplete bytes aside and journals the cut
mkjournal 5 > "$J"
head -c -20 "$J" > t.jsonl
tail -n 1 t.jsonl > torn.expected
expect_exit 0 cr journal verify --cut-torn t.jsonl
assert_grep "^moved the incomplete last line \([0-9]+ bytes\) to t\.jsonl\.torn$" "$CR_OUT" "cut said"
assert_grep "^journal t\.jsonl: intact, 5 entries" "$CR_OUT" "intact after the cut"
cmp -s t.jsonl.torn torn.expected || fail "the torn bytes are in t.jsonl.torn"
expect_exit 0 cr journal show t.jsonl
assert_grep "^   5  .*torn-tail-cut .*bytes=[0-9]+  sha256=[0-9a-f]{64}  moved_to=t\.jsonl\.torn$" \
    "$CR_OUT" "cut journaled"
expect_exit 0 cr journal verify --cut-torn t.jsonl   # nothing to cut now
grep -q "moved" "$CR_OUT" && fail "nothing to cut on an intact journal"

# --cut-torn never touches other damage
sed 's/1048576/1048577/' "$J" | head -c -20 > t.jsonl
sum=$(sha256sum < t.jsonl)
expect_exit 4 cr journal verify --cut-torn t.jsonl
assert_grep "line 3: it was changed after it was written" "$CR_ERR" "other damage named"
[ "$(sha256sum < t.jsonl)" = "$sum" ] || fail "--cut-torn changed a damaged journal"
[ -e t.jsonl.torn ] && [ "$(cat t.jsonl.torn)" = "$(cat torn.expected)" ] || fail ".torn untouched"
pass "cut-torn"

# usage, missing files
expect_exit 7 cr journal verify nosuch.jsonl
expect_exit 7 cr journal show nosuch.jsonl
expect_exit 2 cr journal
expect_exit 2 cr journal check x
expect_exit 2 cr journal show x --cut-torn
expect_exit 2 cr journal verify
expect_exit 0 cr journal --help
assert_grep "^usage: cleanroom journal verify FILE" "$CR_OUT" "help"
: > empty.jsonl
expect_exit 0 cr journal verify empty.jsonl
assert_grep "intact, 0 entries, head 0{64}$" "$CR_OUT" "empty journal"
pass "usage"

# ------------------------------------------------------------ keyed journals: the attacker
# A real recovery writes a keyed journal and records its head in the vault.
# Whoever can write the journal file but has not the vault's passphrase edits
# an entry and computes every hash again, as the SHA-256 chain allowed; or
# cuts the journal's end; or replaces it with another: `journal verify` and
# `report` must refuse all of these (exit 4).
# The vault: db clean on 21 Nov 02:00, compromised (a test virus) on 23 Nov 02:00.
export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
printf 'rule test_eicar { meta: severity = "critical" strings: $e = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $e }\n' \
    > rules/yara/test.yar
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules
expect_exit 0 cr init --kdf interactive
mkdir -p src/db && printf 'patients\n' > src/db/data.txt
expect_exit 0 cr backup --source db --time 2026-11-21T02:00:00Z src/db
printf '%s\n' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > src/db/dropper.exe
expect_exit 0 cr backup --source db --time 2026-11-23T02:00:00Z src/db
rm src/db/dropper.exe
expect_exit 0 cr hunt
unset CLEANROOM_REPO CLEANROOM_RULES
cat > plan.yaml <<EOF
site: CH-Test
vault: $SCRATCH/vault
services:
  - name: db
    tier: 0
    restore_point: clean
    target: {folder: $SCRATCH/prod/db}
    rto: 1h
EOF
expect_exit 0 cr recover plan.yaml --journal rec.journal
# The director's report, from this recovery: what was lost, and why that point.
expect_exit 0 cr report rec.journal --lang fr --format md --out dir-report
assert_grep "^- db : revenu au 21 nov\. 02:00 — 2 jours de données à ressaisir$" \
    dir-report/rec-report.md "RPO from the first compromised snapshot"
assert_grep "^\| critical \| yara:test\\\\_eicar \| /.*/src/db/dropper\.exe \| 2026-11-23 02:00:00 UTC \|$" \
    dir-report/rec-report.md "the finding named: rule, path, first seen"
assert_grep "jeu de règles [0-9a-f]{64}" dir-report/rec-report.md "the rule set named"
assert_grep "scellé avec la clé du coffre" dir-report/rec-report.md "keyed journal said"
grep -q "such finding" dir-report/rec-report.md && fail "findings counted, not named"
grep -q '"hash":' rec.journal && fail "a recovery wrote unkeyed entries"
grep -q '"mac":"[0-9a-f]\{64\}"}$' rec.journal || fail "no keyed entry"
[ "$(ls vault/journals | wc -l)" = 1 ] || fail "the end of the recovery left no head in the vault"
expect_exit 0 cr journal verify rec.journal
assert_grep "^journal rec\.journal: intact, [0-9]+ entries" "$CR_OUT" "keyed journal intact"
assert_grep "^keyed with the vault .*vault; 1 head\(s\) recorded in the vault" "$CR_OUT" "keyed, 1 head"
expect_exit 0 cr recover plan.yaml --journal rec.journal --ack all --message "checked"
[ "$(ls vault/journals | wc -l)" = 2 ] || fail "an acknowledgement left no head in the vault"
expect_exit 0 cr journal verify rec.journal --json
python3 - "$CR_OUT" <<'EOF' || fail "verify --json of a keyed journal"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["intact"] and d["keyed"] and d["heads"] == 2 and d["sealed_entries"] == d["entries"], d
EOF
cp rec.journal rec.orig
pass "a recovery writes a keyed journal and records its heads"

# rechain FILE SUFFIX OLD NEW: replace OLD by NEW in the entries, then compute
# every link and hash again with SHA-256 (as the plain chain allows), ending
# each line with SUFFIX ("hash" or "mac").
rechain() {
    python3 - "$@" <<'EOF'
import hashlib, re, sys
path, suffix, old, new = sys.argv[1:5]
prev, out = "0" * 64, []
for line in open(path, encoding="utf-8").read().splitlines():
    body = re.match(r'^(.*),"(?:hash|mac)":"[0-9a-f]{64}"}$', line).group(1) + "}"
    body = re.sub(r'"prev":"[0-9a-f]{64}"}$', '"prev":"%s"}' % prev, body.replace(old, new))
    prev = hashlib.sha256(body.encode()).hexdigest()
    out.append(body[:-1] + ',"%s":"%s"}\n' % (suffix, prev))
open(path, "w", encoding="utf-8").write("".join(out))
EOF
}
attack() { # name, words expected, then the command that damages rec.journal
    local name=$1 words=$2
    shift 2
    cp rec.orig rec.journal
    "$@"
    # The operator names the vault (the journal could name another, or none).
    expect_exit 4 cr journal verify rec.journal --repo "$SCRATCH/vault"
    assert_grep "^cleanroom: error: journal rec\.journal, .*$words" "$CR_ERR" "$name: verify"
    rm -rf rep
    expect_exit 4 cr report rec.journal --out rep --repo "$SCRATCH/vault"
    assert_grep "no report was written" "$CR_ERR" "$name: report"
    [ ! -e rep ] || fail "$name: a report was written"
}
# The control: the same rewriting with nothing edited verifies as the plain chain it becomes...
cp rec.orig plain.journal && rechain plain.journal hash '"files":"1"' '"files":"1"'
grep -q '"files":"1"' plain.journal || fail "the test's edit target is missing"
attack "edited, every SHA-256 computed again" "replaced" rechain rec.journal hash '"files":"1"' '"files":"9"'
attack "edited, SHA-256 in place of the MACs" "line 1: it was changed after it was written: its content does not match its MAC" \
    rechain rec.journal mac '"files":"1"' '"files":"9"'
attack "cut at its end" "ends at entry [0-9]+, but the vault recorded it with [0-9]+ entries.*were removed" \
    sed -i '$d' rec.journal
attack "cut before the end of the recovery" "were removed" sh -c 'head -n 3 rec.orig > rec.journal'
forge() { mkjournal 5 > rec.journal; }
attack "replaced by a forged journal" "replaced" forge
attack "emptied" "replaced" truncate -s 0 rec.journal
# ...and a keyed journal needs its vault: without it, no verdict (exit 2), never "intact".
mkdir -p elsewhere && cp rec.orig elsewhere/rec.journal
sed -i "s#\"vault\":\"[^\"]*\"#\"vault\":\"/nonexistent\"#" elsewhere/rec.journal
expect_exit 4 cr journal verify elsewhere/rec.journal --repo "$SCRATCH/vault"
cp rec.orig elsewhere/rec.journal
expect_exit 0 cr journal verify elsewhere/rec.journal --repo "$SCRATCH/vault"
mv vault vault.away
expect_exit 2 cr journal verify elsewhere/rec.journal
assert_grep "keyed with its vault's key: it can only be verified with that vault" "$CR_ERR" "no vault: said"
expect_exit 2 cr report elsewhere/rec.journal --out rep-novault
[ ! -e rep-novault ] || fail "a report of a keyed journal without its vault"
mv vault.away vault
CLEANROOM_REPO=$SCRATCH/other expect_exit 0 cr init --kdf interactive
expect_exit 4 cr journal verify elsewhere/rec.journal --repo "$SCRATCH/other"
assert_grep "does not match its MAC" "$CR_ERR" "another vault's key"
pass "an edited, cut or replaced keyed journal is refused by journal verify and report"
