# Ransomware seen at backup time: the night ransomware renamed 3,000 files to
# .lockbit (and encrypted them), `backup` still saves the snapshot (evidence),
# tags it "suspect", says why in one line and exits 11; `job run` does the same
# and sends the alert (a mail to the local SMTP sink, a journal entry). An
# ordinary day's edits and a package upgrade (new ELF and gzip files, which are
# near-random but start like known formats) raise nothing.
set -u
. "${CR_TESTLIB:?}"
unset CLEANROOM_RULES # the shipped rules: their ransomware extensions and note names

cr init --repo vault >/dev/null || fail "init"
python3 - <<'EOF' || fail "make the tree"
import os, random
random.seed(1)
words = "patient dossier consultation ordonnance radiologie compte rendu admission".split()
os.makedirs("srv/docs", exist_ok=True)
os.makedirs("srv/usr/lib", exist_ok=True)
for i in range(3000):
    d = "srv/docs/service%02d" % (i % 30)
    os.makedirs(d, exist_ok=True)
    with open("%s/doc%04d.txt" % (d, i), "w") as f:
        f.write(" ".join(random.choice(words) for _ in range(200)) + "\n")
for i in range(300):
    with open("srv/usr/lib/lib%03d.so" % i, "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01" + bytes(57) + os.urandom(3000))
EOF
count_tags() { # SNAPSHOT-PREFIX -> the snapshot's tags, comma-separated
    cr snapshots --repo vault --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d if isinstance(d, list) else d["snapshots"]
s = [x for x in d if x["id"].startswith(sys.argv[1])]
print(",".join(s[0].get("tags") or []))' "$1"
}
snap_of() { sed -n 's/^snapshot \([0-9a-f]*\) saved$/\1/p' "$CR_OUT"; }

expect_exit 0 cr backup --repo vault --source dpi srv
[ -z "$(count_tags "$(snap_of)")" ] || fail "first backup tagged"
pass "first backup"

# ------------------------------------------------------------------ a benign night
python3 - <<'EOF'
import os
for i in range(0, 3000, 40):       # 75 documents edited, 20 added, 10 removed
    with open("srv/docs/service%02d/doc%04d.txt" % (i % 30, i), "a") as f:
        f.write("complément du jour\n")
for i in range(20):
    with open("srv/docs/service00/new%02d.txt" % i, "w") as f:
        f.write("nouveau compte rendu %d\n" % i)
for i in range(1, 3000, 300):
    os.remove("srv/docs/service%02d/doc%04d.txt" % (i % 30, i))
EOF
expect_exit 0 cr backup --repo vault --source dpi srv
grep -q "ransomware" "$CR_ERR" && fail "a benign night raised ransomware signals"
[ -z "$(count_tags "$(snap_of)")" ] || fail "a benign night was tagged"
pass "a benign night raises nothing"

# ------------------------------------------------------------------ a package upgrade
python3 - <<'EOF'
import gzip, os
for i in range(300):               # every library replaced, and compressed docs added
    with open("srv/usr/lib/lib%03d.so" % i, "wb") as f:
        f.write(b"\x7fELF\x02\x01\x01" + bytes(57) + os.urandom(4000))
os.makedirs("srv/usr/share/doc", exist_ok=True)
for i in range(200):
    with gzip.open("srv/usr/share/doc/changelog%03d.gz" % i, "wb") as f:
        f.write(os.urandom(3000))
EOF
expect_exit 0 cr backup --repo vault --source dpi srv
grep -q "ransomware" "$CR_ERR" && fail "a package upgrade raised ransomware signals"
pass "a package upgrade raises nothing"

# ------------------------------------------------------------------ the ransomware night
encrypt() { # DIR: every .txt below becomes NAME.txt.lockbit, random bytes; a note per folder
    python3 - "$1" <<'EOF'
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):
    for n in files:
        if n.endswith(".txt"):
            p = os.path.join(root, n)
            size = os.path.getsize(p)
            with open(p + ".lockbit", "wb") as f:
                f.write(os.urandom(max(size, 512)))
            os.remove(p)
    with open(os.path.join(root, "Restore-My-Files.txt"), "w") as f:
        f.write("All your files are encrypted by LockBit.\n")
EOF
}
cp -a srv srv-job # the same system, for the job below
cp -a srv srv3    # and for the thresholds below
cp -a srv srv-tol
encrypt srv/docs
expect_exit 11 cr backup --repo vault --source dpi srv
id=$(snap_of)
[ -n "$id" ] || fail "the suspect snapshot is saved"
assert_eq "$(count_tags "$id")" "suspect" "the snapshot is tagged suspect"
assert_grep "^warning: ransomware signals: [0-9]+ file\(s\) got a ransomware extension and [0-9]+ became near-random, of [0-9]+ files .*, e.g. .*\.lockbit; snapshot $id is saved as evidence, tagged 'suspect'$" \
    "$CR_ERR" "one line says why"
[ "$(grep -c 'ransomware signals' "$CR_ERR")" = 1 ] || fail "one line, not one per file"
# monitoring sees it: the plugin line is CRITICAL
expect_exit 2 cr status --repo vault --check
assert_grep "^CLEANROOM CRITICAL - dpi: last backup tagged suspect \(ransomware signals\) \|" "$CR_OUT" \
    "status --check: a suspect backup is critical"
# without the check, the same night is saved untagged (and the hunt will judge it)
cp -a srv srv2
expect_exit 0 cr backup --repo vault --source dpi2 srv2 --no-ransomware-check
pass "the ransomware night: exit 11, tagged suspect, one line"

# ------------------------------------------------------------------ thresholds
# The same night with the thresholds raised past it: saved untagged, exit 0. With the
# renamed/changed tests raised but the notes test left at its default (5), the 30
# ransom notes still make it suspect.
expect_exit 0 cr backup --repo vault --source dpi3 srv3
cp -a srv3 srv4
expect_exit 0 cr backup --repo vault --source dpi4 srv4
encrypt srv3/docs
encrypt srv4/docs
expect_exit 0 cr backup --repo vault --source dpi3 srv3 \
    --ransomware-threshold renamed=100000,changed=100000,notes=0
grep -q "ransomware" "$CR_ERR" && fail "raised thresholds still raised the signals"
[ -z "$(count_tags "$(snap_of)")" ] || fail "raised thresholds: tagged"
expect_exit 11 cr backup --repo vault --source dpi4 srv4 --ransomware-threshold renamed=100000,changed=100000
assert_grep "ransom note\(s\) appeared" "$CR_ERR" "the notes test at its default still catches it"
expect_exit 2 cr backup --repo vault --source dpi4 srv4 --ransomware-threshold renamed=lots
assert_grep "ransomware threshold" "$CR_ERR" "a bad threshold is a usage error"
pass "backup --ransomware-threshold: raised, the night passes; the default catches it"

# ------------------------------------------------------------------ the same night, as a job
start_sink "$SCRATCH/sink" --journal "$SCRATCH/journal.sock"
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/journal.sock
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
mail:
  relay: smtp://127.0.0.1:$(cat sink/port)
  starttls: false
  from: cleanroom@chu.example
  to: [dsi@chu.example]
jobs:
  - name: dpi
    source: dpi-job
    paths: [$SCRATCH/srv-job]
    schedule: daily 02:00
    rpo: 26h
    hunt: false
    notify: [mail, syslog]
  - name: tolerant
    source: dpi-tol
    paths: [$SCRATCH/srv-tol]
    schedule: daily 02:00
    rpo: 26h
    hunt: false
    ransomware: {renamed: 100000, changed: 100000, notes: 0}
    notify: [mail, syslog]
EOF
expect_exit 0 cr job run dpi --jobs jobs.yaml
encrypt srv-job/docs
expect_exit 11 cr job run dpi --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "job run --json says suspect"
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]
assert r["suspect"] is True and r["exit"] == 11 and "ransomware" in r["alerts"], r
EOF
for _ in $(seq 50); do [ -f sink/1.eml ] && break; sleep 0.1; done
[ "$(ls sink | grep -c eml)" = 1 ] || fail "one mail for the night, not one per file"
grep -q "^X-Cleanroom-Event: ransomware" sink/1.eml || fail "the mail is the ransomware alert"
grep -q "CLEANROOM_EVENT=ransomware" sink/journal || fail "the journal entry"
grep -q "MESSAGE_ID=3c1f6d0e8a2b4f7c9e51d2a7b6c4e805" sink/journal || fail "its MESSAGE_ID"
pass "job run: exit 11, one alert mail, one journal entry"

expect_exit 0 cr job list --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "job list shows the thresholds"
import json, sys
j = {x["name"]: x for x in json.load(open(sys.argv[1]))["jobs"]}
assert j["dpi"]["ransomware"] == {"renamed": 20, "changed": 20, "percent": 10, "notes": 5}, j
assert j["tolerant"]["ransomware"] == {"renamed": 100000, "changed": 100000, "percent": 10,
                                       "notes": 0}, j
EOF
# a job whose thresholds are raised lets the same night through: no tag, no alert
expect_exit 0 cr job run tolerant --jobs jobs.yaml
encrypt srv-tol/docs
expect_exit 0 cr job run tolerant --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "the tolerant job is not suspect"
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]
assert r["suspect"] is False and r["exit"] == 0 and r["alerts"] == [], r
EOF
[ "$(ls sink | grep -c eml)" = 1 ] || fail "the tolerant job sent a mail"
pass "job ransomware: thresholds raised, the night passes without suspect"
