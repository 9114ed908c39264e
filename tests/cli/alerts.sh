# Alerts of `job run` and `status --notify`: one journal entry per event (the
# native journald protocol, with a stable MESSAGE_ID and structured fields,
# received here by a stand-in socket), and one mail per event through a local
# SMTP sink (tests/smtp_sink.py) that requires STARTTLS, in French when the
# jobs file says so. A relay that does not offer STARTTLS gets nothing: the
# mail is refused, said, and the journal entry is written all the same.
set -u
. "${CR_TESTLIB:?}"
command -v openssl >/dev/null || { echo "skipped: no openssl to make the sink's certificate"; exit 77; }
test_rules "$SCRATCH/rules"

openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1 || fail "openssl"
start_sink "$SCRATCH/tls" --cert cert.pem --key key.pem --journal "$SCRATCH/journal.sock"
start_sink "$SCRATCH/plain"
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/journal.sock
export SMTP_PASSWORD=secret

mkdir -p data/dpi
echo "record" > data/dpi/a.txt
cr init --repo "$SCRATCH/vault" >/dev/null || fail "init"
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
mail:
  relay: smtp://localhost:$(cat tls/port)
  from: cleanroom@chu.example
  to: [dsi@chu.example, astreinte@chu.example]
  ca_file: $SCRATCH/cert.pem
  language: fr
jobs:
  - name: dpi
    source: dpi-server
    paths: [$SCRATCH/data/dpi]
    schedule: daily 02:00
    rpo: 26h
    notify: [mail, syslog]
  - name: gone
    paths: [$SCRATCH/data/not-there]
    schedule: daily 03:00
    rpo: 26h
    hunt: false
    notify: ["mail:pacs-admin@chu.example"]
EOF
expect_exit 0 cr job check --jobs jobs.yaml

# ------------------------------------------------------------------ a quiet night
expect_exit 0 cr job run dpi --jobs jobs.yaml --time 2026-12-01T02:00:00Z
[ -z "$(ls tls | grep eml)" ] || fail "a quiet night sent a mail"
[ ! -s tls/journal ] || fail "a quiet night wrote an alert"
pass "no alert on a quiet night"

# ------------------------------------------------------------------ a web shell, a failed job
echo '<?php eval($_POST["c"]); ?>' > data/dpi/shell.php
expect_exit 0 cr job run dpi --jobs jobs.yaml --time 2026-12-02T02:00:00Z
expect_exit 7 cr job run gone --jobs jobs.yaml --time 2026-12-02T03:00:00Z
for _ in $(seq 50); do [ -f tls/2.eml ] && break; sleep 0.1; done
python3 - tls <<'EOF' || fail "the alert mails"
import email, email.header, email.policy, os, sys
d = sys.argv[1]
mails = sorted(f for f in os.listdir(d) if f.endswith(".eml"))
assert mails == ["1.eml", "2.eml"], mails          # one mail per event, not per file
def load(n):
    m = email.message_from_bytes(open(os.path.join(d, n + ".eml"), "rb").read(),
                                 policy=email.policy.default)
    env = open(os.path.join(d, n + ".env")).read().split("\n")
    return m, env
m, env = load("1")
assert env[0] == "<cleanroom@chu.example>", env
assert env[1:3] == ["<dsi@chu.example>", "<astreinte@chu.example>"], env
assert m["X-Cleanroom-Event"] == "findings", m["X-Cleanroom-Event"]
subj = str(m["Subject"])
assert subj.startswith("[cleanroom] dpi-server : "), subj      # French
body = m.get_content()
assert "Traitez ce système comme peut-être compromis" in body, body
assert "Tâche : dpi" in body, body
m, env = load("2")
assert env[1:] == ["<pacs-admin@chu.example>", ""], env
assert m["X-Cleanroom-Event"] == "job-failed"
assert "échec de la sauvegarde" in str(m["Subject"]), str(m["Subject"])
assert "not-there" in m.get_content()
EOF
python3 - tls/journal <<'EOF' || fail "the journal entries"
import sys
entries = [dict(l.split("=", 1) for l in e.split("\n") if l)
           for e in open(sys.argv[1]).read().split("\n\n") if e.strip()]
kinds = [e["CLEANROOM_EVENT"] for e in entries]
assert kinds == ["findings", "job-failed"], kinds
f = entries[0]
assert f["MESSAGE_ID"] == "3c1f6d0e8a2b4f7c9e51d2a7b6c4e804", f
assert f["PRIORITY"] == "2" and f["SYSLOG_IDENTIFIER"] == "cleanroom", f
assert f["CLEANROOM_SOURCE"] == "dpi-server" and f["CLEANROOM_JOB"] == "dpi", f
assert len(f["CLEANROOM_SNAPSHOT"]) == 64 and f["CLEANROOM_COUNT"] == "1", f
# the journal speaks English whatever the mail's language
assert f["MESSAGE"] == "dpi-server: the hunt found 1 finding(s) at or above high in the new snapshot", f
assert entries[1]["MESSAGE_ID"].endswith("801") and entries[1]["PRIORITY"] == "3"
EOF
pass "findings and a failed backup: one mail and one journal entry each"

# ------------------------------------------------------------------ status --notify
rm -f tls/journal
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-04T12:00:00Z --notify
for _ in $(seq 50); do [ -f tls/4.eml ] && break; sleep 0.1; done
python3 - tls tls/journal <<'EOF' || fail "RPO alerts"
import email, email.policy, os, sys
d = sys.argv[1]
subjects = sorted(str(email.message_from_bytes(open(os.path.join(d, n), "rb").read(),
                      policy=email.policy.default)["Subject"]) for n in ("3.eml", "4.eml"))
assert any("dpi-server : dernière sauvegarde il y a 2 d, RPO 26 h (gravement dépassé)" in s
           for s in subjects), subjects
assert "[cleanroom] gone : jamais sauvegardé (RPO 26 h)" in subjects, subjects
j = open(sys.argv[2]).read()
assert j.count("CLEANROOM_EVENT=rpo\n") == 2, j
EOF
pass "status --notify: one alert per late source"

# ------------------------------------------------------------------ no STARTTLS, no mail
sed "s|relay: smtp://localhost:[0-9]*|relay: smtp://localhost:$(cat plain/port)|" jobs.yaml > plain.yaml
rm -f tls/journal
expect_exit 7 cr job run gone --jobs plain.yaml
assert_grep "does not offer STARTTLS" "$CR_ERR" "the refusal says why"
# a lost alert of a job that went well is an error of its own (exit 1)
expect_exit 1 cr status --jobs plain.yaml --now 2026-12-04T12:00:00Z --notify
assert_grep "the alert mail could not be sent" "$CR_ERR" "status --notify says the mail was lost"
[ -z "$(ls plain | grep eml)" ] || fail "a mail went out without STARTTLS"
grep -q "CLEANROOM_EVENT=job-failed" tls/journal || fail "the journal entry is written all the same"
# said plainly that the relay is trusted without TLS, it goes
sed 's|^  language: fr$|  language: fr\n  starttls: false|' plain.yaml > plain2.yaml
expect_exit 7 cr job run gone --jobs plain2.yaml
[ -f plain/1.eml ] || fail "starttls: false sends through a plain relay"
pass "STARTTLS required unless said otherwise"
