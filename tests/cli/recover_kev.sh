# The known-exploited vulnerability gate of recovery plans (`gate: {kev: ...}`):
# a mail server whose restore point runs Zimbra 8.8.15 Patch 31 (CVE-2022-37042,
# used by ransomware) is refused by `recover` before anything is restored; an
# acknowledgement for another service, or of a malformed id, does not count; the
# right one lets `--resume` restore it; the journal and the report list the
# match and the acknowledgement. With `gate: {kev: warn}` it is restored at
# once, the match journaled and reported. `plan check` rejects a bad gate.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
export CLEANROOM_RULES=$CR_SRC/rules
export CLEANROOM_DATA=$SCRATCH/data
expect_exit 0 cr init --kdf interactive
mkdir -p src/mail/opt/zimbra src/app/data
cat > src/mail/opt/zimbra/.install_history <<'H'
1579073452: INSTALLED zimbra-core_8.8.15.1579073452.UBUNTU18.64_amd64.deb
1656405690: UPGRADED zimbra-patch_8.8.15.1656405690.p31-2.u18_amd64.deb
H
printf 'app data\n' > src/app/data/db.txt
for s in mail app; do
    expect_exit 0 cr backup --source "$s" --time 2026-11-01 "src/$s"
done
plan() { # plan FILE GATE_LINE
    cat > "$1" <<EOF
site: test-hospital
vault: vault
$2
services:
  - name: mail
    tier: 0
    restore_point: latest
    target: {folder: $SCRATCH/prod-$1/mail}
  - name: app
    tier: 1
    restore_point: latest
    target: {folder: $SCRATCH/prod-$1/app}
EOF
}
plan refuse.yaml ""
plan warn.yaml "defaults: {gate: {kev: warn}}"
plan bad.yaml "defaults: {gate: {kev: maybe}}"
unset CLEANROOM_REPO
expect_exit 0 cr plan check refuse.yaml
expect_exit 2 cr plan check bad.yaml
assert_grep "bad.yaml:3:[0-9]+: error: gate kev must be refuse" "$CR_OUT" "a bad gate is an error at its line"

# Refused without an acknowledgement: nothing restored, the command to acknowledge given.
LANGUAGE=en expect_exit 8 cr recover refuse.yaml
assert_grep "'mail' holds CVE-2022-37042" "$CR_ERR" "the refusal names the service and the CVE"
assert_grep "--ack mail --step kev:CVE-2022-37042 --by" "$CR_ERR" "the refusal gives the acknowledgement"
assert_grep "^data: KEV catalog" "$CR_ERR" "the data's age is printed"
[ -e prod-refuse.yaml/mail ] && fail "mail was restored although refused"
[ -e prod-refuse.yaml/app ] && fail "app was restored although the run was refused"
expect_exit 8 cr recover refuse.yaml --resume
[ -e prod-refuse.yaml/mail ] && fail "mail was restored on resume without an acknowledgement"

# Acknowledging: a malformed id, an unknown service: nothing written; another service's
# acknowledgement does not count; then the right one.
expect_exit 7 cr recover refuse.yaml --ack mail --step kev:CVE-22 --by "Paul Durand, RSSI" --message x
expect_exit 2 cr recover refuse.yaml --ack nosuch --step kev:CVE-2022-37042 --by "Paul Durand, RSSI" --message x
expect_exit 0 cr recover refuse.yaml --ack app --step kev:CVE-2022-37042 --by "Paul Durand, RSSI" \
    --message "not this one"
expect_exit 8 cr recover refuse.yaml --resume
assert_grep "CVE-2022-37042" "$CR_ERR" "an acknowledgement for another service does not count"
expect_exit 0 cr recover refuse.yaml --ack mail --step kev:CVE-2022-37042 --by "Paul Durand, RSSI" \
    --message "patched to P33 on the isolated network before reconnection"
expect_exit 0 cr recover refuse.yaml --resume
[ -e prod-refuse.yaml/mail ] || fail "mail not restored after the acknowledgement"
[ -e prod-refuse.yaml/app ] || fail "app not restored"

expect_exit 0 cr journal verify refuse.journal
expect_exit 0 cr journal show refuse.journal --json
python3 - "$CR_OUT" <<'PY' || fail "the journal records the match and its decisions"
import json, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
    entries = doc.get("entries", doc) if isinstance(doc, dict) else doc
except ValueError:
    entries = [json.loads(l) for l in text.splitlines() if l.strip()]
def kv(e):
    d = e.get("kv") or e.get("data") or e.get("fields") or {}
    return d if isinstance(d, dict) else dict(d)
kev = [kv(e) for e in entries if e.get("type") == "kev" and e.get("service") == "mail"]
dec = [k.get("decision") for k in kev]
assert dec[:3] == ["refused", "refused", "refused"] and dec[-1] == "acknowledged", dec
last = kev[-1]
assert last["cve"] == "CVE-2022-37042" and last["ransomware"] == "known", last
assert last["installed"] == "8.8.15.p31" and last["fixed"].startswith("8.8.15.p33"), last
assert last["by"] == "Paul Durand, RSSI", last
assert last["evidence"].endswith("/opt/zimbra/.install_history"), last
PY

expect_exit 0 cr report refuse.journal --out report --format md --lang en
R=report/refuse-report.md
assert_grep '^## Known exploited vulnerabilities' "$R" "the report has the section"
assert_grep '^\| mail \| CVE-2022-37042 \| yes \| Zimbra Collaboration 8\.8\.15\.p31 \| 8\.8\.15\.p33, 9\.0\.0\.p26 \| .*/opt/zimbra/\.install\\_history \| acknowledged by Paul Durand, RSSI \|' \
    "$R" "the report lists the match and who acknowledged it"
grep -qF 'Paul Durand, RSSI | \[kev:CVE-2022-37042\] patched to P33 on the isolated network before reconnection' "$R" ||
    fail "the report lists the acknowledgement"
expect_exit 0 cr report refuse.journal --out report-fr --format md --lang fr
assert_grep '^## Vulnérabilités activement exploitées' report-fr/refuse-report.md "the French report"
pass "refused without an acknowledgement, restored with one, both in the report"

# gate: warn: restored at once, the match journaled.
expect_exit 0 cr recover warn.yaml
[ -e prod-warn.yaml/mail ] || fail "mail not restored with gate: warn"
expect_exit 0 cr report warn.journal --out report-warn --format md --lang en
assert_grep '^\| mail \| CVE-2022-37042 \| yes \| .* \| started \(gate: warn\) \|' report-warn/warn-report.md \
    "the warned match is in the report"
pass "gate: warn"
