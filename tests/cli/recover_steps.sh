# Manual steps in a recovery plan (`steps:`): a domain controller comes back,
# then a person must seize the FSMO roles (blocking) and check DNS (not
# blocking). The recovery pauses with exit 12 and starts nothing after the DC;
# an acknowledgement of the wrong step, or without --by, is refused; the
# right one lets `--resume` finish; the journal names who did the step, in
# the journal's verified chain; a drill of the same plan does not wait.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src/dc/var/lib/samba src/app/data
printf 'sam\n' > src/dc/var/lib/samba/sam.ldb
printf 'app data\n' > src/app/data/db.txt
for s in dc app; do
    expect_exit 0 cr backup --source "$s" --time 2026-11-01 "src/$s"
done
cat > plan.yaml <<EOF
site: test-hospital
vault: vault
services:
  - name: dc
    tier: 0
    restore_point: latest
    target: {folder: $SCRATCH/prod/dc}
    steps:
      - id: seize-fsmo
        text:
          fr: "Saisir les rôles FSMO sur ce DC (ntdsutil), puis confirmer"
          en: "Seize the FSMO roles on this DC (ntdsutil), then acknowledge"
      - id: check-dns
        text: "Check that the DC's SRV records resolve"
        blocks: false
  - name: app
    tier: 1
    restore_point: latest
    depends_on: [dc]
    target: {folder: $SCRATCH/prod/app}
EOF
unset CLEANROOM_REPO
expect_exit 0 cr plan check plan.yaml

# A broken steps list: every problem with its line.
cat > bad.yaml <<EOF
site: x
vault: vault
services:
  - name: dc
    target: {folder: $SCRATCH/prod/x}
    steps:
      - id: "two words"
        text: t
      - text: t
        blocks: maybe
      - id: a
EOF
expect_exit 2 cr plan check bad.yaml
assert_grep "bad.yaml:7:[0-9]+: error: a step's id is 1 to 64 letters" "$CR_OUT" "bad step id"
assert_grep "bad.yaml:9:[0-9]+: error: a step needs .id:" "$CR_OUT" "missing id"
assert_grep "bad.yaml:10:[0-9]+: error: blocks must be true or false" "$CR_OUT" "bad blocks"
assert_grep "bad.yaml:11:[0-9]+: error: a step needs .text:" "$CR_OUT" "missing text"

LANGUAGE=en expect_exit 12 cr recover plan.yaml
assert_grep "^dc +MANUAL STEP, WAITING FOR A PERSON: step seize-fsmo: Seize the FSMO roles" "$CR_OUT" \
    "the blocking step is shown"
assert_grep "^dc +manual step to do \(does not block\): step check-dns" "$CR_OUT" "the other step is shown"
assert_grep "paused" "$CR_ERR" "the pause is explained"
[ -e prod/dc ] || fail "the DC was not restored before its step"
[ -e prod/app ] && fail "app started before the FSMO step was acknowledged"

# A plain rerun is refused (the recovery is not over), so is a resume: the step still waits.
expect_exit 8 cr recover plan.yaml
expect_exit 12 cr recover plan.yaml --resume
[ -e prod/app ] && fail "app started while the step still waits"

# Acknowledging: an unknown step, and a step without who, are refused; nothing is written.
expect_exit 7 cr recover plan.yaml --ack dc --step seize-fmso --by "Jeanne Martin, admin AD"
assert_grep "no step 'seize-fmso' \(its steps: seize-fsmo, check-dns\)" "$CR_ERR" "unknown step named"
expect_exit 2 cr recover plan.yaml --ack dc --step seize-fsmo
expect_exit 0 cr recover plan.yaml --ack dc --step seize-fsmo --by "Jeanne Martin, admin AD" \
    --message "roles seized on dc01"
expect_exit 0 cr recover plan.yaml --resume
[ -e prod/app ] || fail "app not restored after the acknowledgement"
diff -r src/app "prod/app/$SCRATCH/src/app" || fail "app restored differently"

expect_exit 0 cr journal verify plan.journal
expect_exit 0 cr journal show plan.journal --json
python3 - "$CR_OUT" <<'PY' || fail "the journal records the step and who did it"
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
acks = [e for e in entries if e.get("type") == "ack" and kv(e).get("step") == "seize-fsmo"]
steps = [e for e in entries if e.get("type") == "step" and kv(e).get("step") == "seize-fsmo"]
ok = acks and kv(acks[0]).get("by") == "Jeanne Martin, admin AD" and \
     any(kv(s).get("state") == "waiting" for s in steps) and \
     any(kv(s).get("state") == "acknowledged" for s in steps)
if not ok:
    print("acks:", acks, "steps:", steps, "first:", entries[:2])
sys.exit(0 if ok else 1)
PY

# The report names the step and who did it.
expect_exit 0 cr report plan.journal --out report --format md --lang en
grep -qF 'Jeanne Martin, admin AD | \[seize-fsmo\] roles seized on dc01' report/plan-report.md ||
    fail "the report does not show who did the manual step"
grep -qF 'Manual step seize-fsmo, waiting for a person: Seize the FSMO roles' report/plan-report.md ||
    fail "the report's timeline does not show the step waiting"
grep -qF 'Step seize-fsmo done, acknowledged by Jeanne Martin, admin AD: roles seized on dc01' report/plan-report.md ||
    fail "the report's timeline does not show the acknowledgement of the step"
grep -qF 'Paused: a manual step waits for its acknowledgement' report/plan-report.md ||
    fail "the report's timeline does not show the pause"
expect_exit 0 cr report plan.journal --out report-fr --format md --lang fr
grep -qF "Étape manuelle seize-fsmo, en attente d'une personne : Saisir les rôles FSMO" report-fr/plan-report.md ||
    fail "the French report does not show the step in French"

# A drill does not wait for people: it lists the steps and goes on.
expect_exit 0 cr drill plan.yaml --scratch "$SCRATCH/drill"
assert_grep "manual step \(a drill does not wait\): step seize-fsmo" "$CR_OUT" "drill lists the step"
pass "manual steps: pause, acknowledgement, resume"
