# The daily digest (mail: digest: daily): the runs of a night raise several
# events — findings, a failed backup — and a source is past its RPO; each is
# written to the journal at once, but no mail goes out per event; `job digest`
# then sends one mail (to the local SMTP sink) listing them all, in French when
# the jobs file says so. The day after, with nothing new, the digest lists the
# late source only; `job install` writes the digest's timer and service.
set -u
. "${CR_TESTLIB:?}"
test_rules "$SCRATCH/rules"

start_sink "$SCRATCH/sink" --journal "$SCRATCH/journal.sock"
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/journal.sock

mkdir -p data/dpi data/pacs
echo "record" > data/dpi/a.txt
echo "image" > data/pacs/i.dcm
cr init --repo "$SCRATCH/vault" >/dev/null || fail "init"
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
mail:
  relay: smtp://127.0.0.1:$(cat sink/port)
  starttls: false
  from: cleanroom@chu.example
  to: [dsi@chu.example]
  language: fr
  digest: daily 07:15
jobs:
  - name: dpi
    source: dpi-server
    paths: [$SCRATCH/data/dpi]
    schedule: daily 02:00
    rpo: 26h
    notify: [mail, "mail:astreinte@chu.example"]
  - name: gone
    paths: [$SCRATCH/data/not-there]
    schedule: daily 03:00
    rpo: 26h
    hunt: false
    notify: [mail]
  - name: pacs
    paths: [$SCRATCH/data/pacs]
    schedule: daily 01:00
    rpo: 26h
    hunt: false
    notify: [mail]
EOF
expect_exit 0 cr job check --jobs jobs.yaml

# pacs last ran three days ago: late. Tonight: a web shell on dpi, gone fails.
expect_exit 0 cr job run pacs --jobs jobs.yaml --time 2026-12-04T01:00:00Z
echo '<?php eval($_POST["c"]); ?>' > data/dpi/shell.php
expect_exit 0 cr job run dpi --jobs jobs.yaml --time 2026-12-07T02:00:00Z
expect_exit 7 cr job run gone --jobs jobs.yaml --time 2026-12-07T03:00:00Z
sleep 0.5
[ -z "$(ls sink | grep eml)" ] || fail "a mail per event went out despite the digest"
[ "$(grep -c '^CLEANROOM_EVENT=' sink/journal)" = 2 ] ||
    fail "each event is in the journal at once: $(grep CLEANROOM_EVENT sink/journal)"
pass "events journaled, no mail per event"

expect_exit 0 cr job digest --jobs jobs.yaml --now 2026-12-07T07:15:00Z
assert_grep "^digest of 4 event\(s\) sent$" "$CR_OUT" "the digest counts the events"
for _ in $(seq 50); do [ -f sink/1.eml ] && break; sleep 0.1; done
[ "$(ls sink | grep -c eml)" = 1 ] || fail "one digest mail: $(ls sink)"
python3 - sink <<'EOF' || fail "the digest mail"
import email, email.policy, os, sys
d = sys.argv[1]
m = email.message_from_bytes(open(os.path.join(d, "1.eml"), "rb").read(),
                             policy=email.policy.default)
env = open(os.path.join(d, "1.env")).read().split("\n")
# every recipient of the events' mails, once each
assert sorted(env[1:3]) == ["<astreinte@chu.example>", "<dsi@chu.example>"], env
assert m["X-Cleanroom-Event"] == "digest", m["X-Cleanroom-Event"]
subj = str(m["Subject"])
assert subj == "[cleanroom] résumé quotidien : 4 événement(s)", subj
body = m.get_content()
assert "4 événement(s) depuis 2026-12-06T07:15:00Z" in body, body
lines = [l for l in body.split("\n") if l.startswith("- ")]
assert len(lines) == 4, body
# the runs' alerts, oldest first, then the sources past their RPO now
assert lines[0].startswith("- 2026-12-07T02:00:"), lines
assert "dpi-server : la recherche a trouvé 1 détection(s)" in lines[0], lines
assert "gone : échec de la sauvegarde" in lines[1], lines
assert "not-there" in body, body                           # the failure's detail
assert lines[2] == "- gone : jamais sauvegardé (RPO 26 h)", lines
assert lines[3].startswith("- pacs : dernière sauvegarde il y a 3 d"), lines
EOF
pass "one digest mail lists the four events, in French"

# the next day: no run recorded an event; pacs and gone are still late, and dpi is now
# 29 h old (RPO 26 h)
expect_exit 0 cr job digest --jobs jobs.yaml --now 2026-12-08T07:15:00Z --json
python3 - "$CR_OUT" <<'EOF' || fail "second digest"
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"events": 3, "sent": True}, d
EOF
for _ in $(seq 50); do [ -f sink/2.eml ] && break; sleep 0.1; done
python3 - sink/2.eml <<'EOF' || fail "the second digest lists the late sources only"
import email, email.policy, sys
body = email.message_from_bytes(open(sys.argv[1], "rb").read(),
                                policy=email.policy.default).get_content()
lines = [l for l in body.split("\n") if l.startswith("- ")]
assert len(lines) == 3, body
assert lines[0].startswith("- dpi-server : dernière sauvegarde il y a 29 h, RPO 26 h"), lines
assert any("gone : jamais sauvegardé" in l for l in lines), lines
assert any(l.startswith("- pacs : dernière sauvegarde") for l in lines), lines
assert "détection" not in body, body
EOF
pass "the day after: the late sources only"

# nothing to say: no mail
printf 'vault: %s\nmail: {relay: "smtp://127.0.0.1:%s", starttls: false, from: a@chu.example, to: [b@chu.example], digest: daily}\njobs:\n  - {name: dpi, source: dpi-server, paths: [%s], schedule: daily 02:00, rpo: 26h}\n' \
    "$SCRATCH/vault" "$(cat sink/port)" "$SCRATCH/data/dpi" > quiet.yaml
expect_exit 0 cr job digest --jobs quiet.yaml --now 2026-12-07T01:00:00Z
assert_grep "^nothing to report" "$CR_OUT" "nothing to say"
sleep 0.3
[ "$(ls sink | grep -c eml)" = 2 ] || fail "a digest with nothing to say was sent"
# no relay: a usage error
printf 'jobs:\n  - {name: dpi, paths: [/x], schedule: daily 02:00, rpo: 26h}\n' > nomail.yaml
expect_exit 2 cr job digest --jobs nomail.yaml --repo "$SCRATCH/vault"
pass "no mail when nothing happened; no relay is a usage error"

# the timer
mkdir units
expect_exit 0 cr job install --jobs jobs.yaml --unit-dir units
assert_grep "^OnCalendar=\*-\*-\* 07:15:00$" units/cleanroom-digest.timer "the digest's time"
assert_grep "^ExecStart=/[^ ]+ --repo $SCRATCH/vault job digest --jobs $SCRATCH/jobs.yaml$" \
    units/cleanroom-digest.service "the digest's service"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --man=no units/* > verify.out 2>&1 || { cat verify.out >&2; fail "systemd-analyze"; }
fi
pass "job install writes the digest's timer and service"
