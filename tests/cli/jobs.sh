# cleanroom job / status: a jobs file with two sources is checked, listed, run
# (backup, hunt, forget) and installed as systemd units that systemd-analyze
# accepts; `status` grades each source's last backup against its RPO after
# --time-shifted snapshots make one of them late, and `status --check` prints
# the monitoring plugin line with the plugin API's exit codes. A broken jobs
# file lists every problem with line:column and runs nothing.
set -u
. "${CR_TESTLIB:?}"
test_rules "$SCRATCH/rules"

mkdir -p data/dpi data/pacs units
echo "patient record" > data/dpi/record.txt
echo "image" > data/pacs/image.dcm
cr init --repo "$SCRATCH/vault" >/dev/null || fail "init"

cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
jobs:
  - name: dpi
    source: dpi-server
    paths: [$SCRATCH/data/dpi]
    exclude: ["*.tmp"]
    schedule: daily 02:00
    rpo: 26h
    retention:
      keep_last: 2
    notify: [syslog]
  - name: pacs
    paths:
      - $SCRATCH/data/pacs
    schedule: every 4h
    rpo: 6h
    hunt: false
EOF

# ------------------------------------------------------------------ check, list
expect_exit 0 cr job check --jobs jobs.yaml
assert_grep "^dpi: source dpi-server, 1 path, schedule daily 02:00, rpo 26h, last 2, hunt$" \
    "$CR_OUT" "check lists the jobs"
expect_exit 0 cr job list --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "job list --json"
import json, sys
d = json.load(open(sys.argv[1]))
j = {x["name"]: x for x in d["jobs"]}
assert j["dpi"]["on_calendar"] == "*-*-* 02:00:00", j["dpi"]
assert j["pacs"]["on_calendar"] == "*-*-* 00/4:00:00", j["pacs"]
assert j["pacs"]["source"] == "pacs" and j["pacs"]["hunt"] is False
assert j["dpi"]["rpo_seconds"] == 26 * 3600
assert j["dpi"]["notify"] == ["syslog"]
EOF
pass "check and list"

# ------------------------------------------------------------------ run
# Three nights of dpi, one of pacs long ago: pacs is late. Before them, a night
# with a web shell (a high finding): evidence, which retention never forgets.
expect_exit 0 cr job run pacs --jobs jobs.yaml --time 2026-11-20T02:00:00Z
echo '<?php eval($_POST["c"]); ?>' > data/dpi/shell.php
expect_exit 0 cr job run dpi --jobs jobs.yaml --time 2026-11-30T02:00:00Z
assert_grep "hunted: [1-9][0-9]* finding" "$CR_OUT" "the hunt after the backup found the web shell"
rm data/dpi/shell.php
for d in 01 02 03; do
    echo "night $d" >> data/dpi/record.txt
    expect_exit 0 cr job run dpi --jobs jobs.yaml --time 2026-12-${d}T02:00:00Z
    assert_grep "^job dpi: snapshot [0-9a-f]{8} of dpi-server saved, hunted: 0 finding\(s\)" \
        "$CR_OUT" "job run reports backup and hunt ($d)"
done
assert_grep ", 1 snapshot\(s\) forgotten$" "$CR_OUT" "retention keep_last 2 forgets the third"
expect_exit 0 cr snapshots --repo vault --json
python3 - "$CR_OUT" <<'EOF' || fail "snapshots after the runs"
import json, sys
d = json.load(open(sys.argv[1]))
by = {}
for s in d if isinstance(d, list) else d["snapshots"]:
    by.setdefault(s["source"], []).append(s)
times = sorted(s["time"] for s in by["dpi-server"])
# keep_last 2 keeps the two newest; the night of the web shell is kept as evidence
assert times == ["2026-11-30T02:00:00Z", "2026-12-02T02:00:00Z", "2026-12-03T02:00:00Z"], times
assert len(by["pacs"]) == 1
EOF
expect_exit 0 cr clean-point --repo vault --json
python3 - "$CR_OUT" <<'EOF' || fail "the hunt judged dpi's snapshots, not pacs's (hunt: false)"
import json, sys
c = {x["source"]: x for x in json.load(open(sys.argv[1]))}
assert c["dpi-server"]["unhunted"] == 0 and c["dpi-server"]["snapshots"] == 3, c["dpi-server"]
assert c["dpi-server"]["first_compromised_time"] == "2026-11-30T02:00:00Z", c["dpi-server"]
assert c["pacs"]["unhunted"] == 1, c["pacs"]
EOF
pass "job run: backup, hunt, forget"

# --all, as JSON: one result per job
expect_exit 0 cr job run --all --jobs jobs.yaml --time 2026-12-03T06:00:00Z --json
python3 - "$CR_OUT" <<'EOF' || fail "job run --all --json"
import json, sys
d = json.load(open(sys.argv[1]))
names = [r["job"] for r in d["jobs"]]
assert names == ["dpi", "pacs"], names
assert all(len(r["snapshot"]) == 64 and r["exit"] == 0 for r in d["jobs"]), d
assert d["jobs"][0]["hunted"] is True and d["jobs"][1]["hunted"] is False
EOF
expect_exit 2 cr job run nope --jobs jobs.yaml
assert_grep "no job named 'nope'" "$CR_ERR" "unknown job named"
expect_exit 2 cr job run dpy --jobs jobs.yaml
assert_grep "did you mean \`dpi\`" "$CR_ERR" "close job name suggested"
pass "run --all, unknown job"

# ------------------------------------------------------------------ status
# At 2026-12-03T07:00Z: dpi's last backup is 1 h old (rpo 26 h: ok); pacs's is
# 1 h old too after --all. Judged on 12-04T12:00Z: dpi 30 h (exceeded), pacs
# 30 h against 6 h (critically exceeded, > 4x).
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-03T07:00:00Z
assert_grep "^dpi-server +last [0-9a-f]{8} 2026-12-03T06:00:00Z \(60 min ago\), rpo 26 h: ok$" \
    "$CR_OUT" "status line of dpi"
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-04T12:00:00Z --json
python3 - "$CR_OUT" <<'EOF' || fail "status --json grades"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["source"]: x for x in d["sources"]}
assert s["dpi-server"]["grade"] == "exceeded", s["dpi-server"]
assert s["dpi-server"]["age_seconds"] == 30 * 3600
assert s["dpi-server"]["job"] == "dpi"
assert s["pacs"]["grade"] == "critically exceeded", s["pacs"]
assert s["pacs"]["rpo_seconds"] == 6 * 3600
# the hunt's verdicts: the web shell night compromised dpi; pacs was never hunted
assert s["dpi-server"]["compromised"] is True, s["dpi-server"]
assert s["dpi-server"]["first_compromised_time"] == "2026-11-30T02:00:00Z"
assert s["dpi-server"]["clean_snapshot"] is None and s["dpi-server"]["suspect"] is False
assert s["pacs"]["compromised"] is False and s["pacs"]["unhunted"] == 2, s["pacs"]
EOF
assert_grep "^ +compromised since 2026-11-30T02:00:00Z \(a finding at or above high\); no clean point$" \
    <(cr status --jobs jobs.yaml --now 2026-12-04T12:00:00Z) "status names the compromise"
# node-exporter textfile metrics
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-04T12:00:00Z --prometheus metrics.prom
assert_grep '^cleanroom_rpo_grade\{source="pacs"\} 3$' metrics.prom "rpo grade metric"
assert_grep '^cleanroom_last_backup_age_seconds\{source="dpi-server"\} 108000$' metrics.prom "age metric"
assert_grep '^cleanroom_compromised\{source="dpi-server"\} 1$' metrics.prom "compromised metric"
assert_grep '^# TYPE cleanroom_rpo_seconds gauge$' metrics.prom "metric types"
[ -e metrics.prom.tmp ] && fail "the metrics file is renamed into place"
# 20 h after: pacs over 2x its 6 h (severely), dpi within its 26 h
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-04T02:00:00Z --json
python3 - "$CR_OUT" <<'EOF' || fail "status --json: severely"
import json, sys
s = {x["source"]: x for x in json.load(open(sys.argv[1]))["sources"]}
assert s["pacs"]["grade"] == "severely exceeded", s["pacs"]
assert s["dpi-server"]["grade"] == "ok", s["dpi-server"]
EOF
pass "status grades"

# ------------------------------------------------------------------ status --check
expect_exit 0 cr status --jobs jobs.yaml --now 2026-12-03T07:00:00Z --check
assert_grep "^CLEANROOM OK - 2 source\(s\) within their RPO \| 'dpi-server_age'=3600s;93600;187200 'pacs_age'=3600s;21600;43200$" \
    "$CR_OUT" "plugin line when all is well"
expect_exit 1 cr status --jobs jobs.yaml --now 2026-12-03T14:00:00Z --check
assert_grep "^CLEANROOM WARNING - pacs: last backup 8 h ago \(rpo 6 h\) \|" "$CR_OUT" "warning line"
expect_exit 2 cr status --jobs jobs.yaml --now 2026-12-06T07:00:00Z --nagios
assert_grep "^CLEANROOM CRITICAL - dpi-server: last backup 3 d ago \(rpo 26 h\), pacs: last backup 3 d ago \(rpo 6 h\) \|" \
    "$CR_OUT" "critical line"
# a job whose source never ran is critical; a vault that cannot be opened is UNKNOWN
cp jobs.yaml jobs2.yaml
printf '  - name: lab\n    paths: [/srv/lab]\n    schedule: hourly\n    rpo: 2h\n' >> jobs2.yaml
expect_exit 2 cr status --jobs jobs2.yaml --now 2026-12-03T07:00:00Z --check
assert_grep "^CLEANROOM CRITICAL - lab: never backed up \|" "$CR_OUT" "never backed up is critical"
expect_exit 3 cr status --jobs jobs.yaml --repo "$SCRATCH/nowhere" --check
assert_grep "^CLEANROOM UNKNOWN - " "$CR_OUT" "unknown when the vault cannot be opened"
pass "status --check"

# ------------------------------------------------------------------ install
expect_exit 0 cr job install --jobs jobs.yaml --unit-dir units
for u in dpi.service dpi.timer pacs.service pacs.timer; do
    [ -f "units/cleanroom-job-$u" ] || fail "no unit cleanroom-job-$u"
done
assert_grep "^OnCalendar=\*-\*-\* 02:00:00$" units/cleanroom-job-dpi.timer "dpi timer calendar"
assert_grep "^Persistent=true$" units/cleanroom-job-dpi.timer "persistent timer"
assert_grep "^IOSchedulingClass=idle$" units/cleanroom-job-pacs.service "idle I/O"
assert_grep "^ExecStart=/[^ ]+ --repo $SCRATCH/vault job run pacs --jobs $SCRATCH/jobs.yaml$" \
    units/cleanroom-job-pacs.service "ExecStart"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --man=no units/*.service units/*.timer > verify.out 2>&1 ||
        { cat verify.out >&2; fail "systemd-analyze verify refuses the units"; }
    pass "systemd-analyze verify accepts the units"
fi
expect_exit 0 cr job install --jobs jobs.yaml --unit-dir "$SCRATCH/not-made" --dry-run
assert_grep "^### .*/cleanroom-job-pacs.timer$" "$CR_OUT" "dry run prints the units"
[ -e not-made ] && fail "dry run wrote something"
pass "install"

# ------------------------------------------------------------------ broken file
cat > broken.yaml <<'EOF'
jobs:
  - name: dpi
    paths: [relative/path]
    shedule: daily 02:00
    rpo: soon
  - name: dpi
    images: [/a.qcow2]
    paths: [/b]
    schedule: every 5h
    retention: {keep_daily: many}
    hunt: maybe
    notify: [pager, "mail:x@chu.example"]
  - name: "bad name"
    paths: /x
    schedule: "daily 25:00"
EOF
expect_exit 2 cr job check --jobs broken.yaml
cat > want.txt <<'EOF'
broken.yaml:2:5: error: job 'dpi' has no `schedule:` (e.g. `daily 02:00`, `every 4h`)
broken.yaml:3:13: error: paths: 'relative/path' is not an absolute path (a scheduled job runs from /; write the full path)
broken.yaml:4:5: error: unknown key 'shedule' in a job: did you mean `schedule`?
broken.yaml:5:10: error: rpo must be a duration such as 26h, 2d, 1w (units y m w d h), got soon
broken.yaml:6:5: warning: job 'dpi' has no `rpo:` (e.g. rpo: 26h): `status` cannot tell when it is late
broken.yaml:6:5: error: a second job named 'dpi' (the first at line 2)
broken.yaml:7:5: error: a job has `paths` or `images`, not both: make two jobs (two sources)
broken.yaml:9:15: error: `every 5h`: write `every Nh` with N dividing 24 (1, 2, 3, 4, 6, 8, 12, 24) or `every Nm` with N dividing 60, or a systemd OnCalendar expression
broken.yaml:10:29: error: keep_daily must be a number from 1 to 100000, got many
broken.yaml:11:11: error: hunt must be true or false, got maybe
broken.yaml:12:14: error: notify: unknown target 'pager' (write syslog, mail, or mail:ADDRESS)
broken.yaml:12:21: error: notify: mail:x@chu.example needs a `mail:` section at the top of the file (relay, from) to send through
broken.yaml:13:5: warning: job 'bad name' has no `rpo:` (e.g. rpo: 26h): `status` cannot tell when it is late
broken.yaml:13:11: error: name 'bad name' may hold only letters, digits, '-', '_' and '.' (it names the job's systemd units), at most 100
broken.yaml:15:15: error: `daily 25:00`: after `daily` comes a time HH:MM (00:00 to 23:59), e.g. `daily 02:00`
EOF
diff want.txt "$CR_OUT" || fail "the problems of the broken jobs file"
assert_grep "the jobs file broken.yaml has 13 error\(s\)" "$CR_ERR" "error count"
# nothing runs, nothing is installed
count_snapshots() {
    cr snapshots --repo vault --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d,list) else d["snapshots"]))'
}
before=$(count_snapshots)
expect_exit 2 cr job run --all --jobs broken.yaml --repo vault
assert_grep "^broken.yaml:4:5: error: unknown key 'shedule'" "$CR_ERR" "run prints the problems on stderr"
assert_grep "nothing was run" "$CR_ERR" "run says nothing ran"
assert_eq "$(count_snapshots)" "$before" "no snapshot made from a broken jobs file"
mkdir units2
expect_exit 2 cr job install --jobs broken.yaml --unit-dir units2
[ -z "$(ls units2)" ] || fail "units written from a broken jobs file"
# YAML that cannot be read: a tab, an alias
printf 'jobs:\n\t- name: x\n' > tab.yaml
expect_exit 2 cr job check --jobs tab.yaml
assert_grep "^tab.yaml:2:1: error: tabs are not allowed" "$CR_OUT" "tab reported with line:col"
printf 'jobs:\n  - &a {name: x, paths: [/x], schedule: hourly}\n  - *a\n' > alias.yaml
expect_exit 2 cr job check --jobs alias.yaml
assert_grep "^alias.yaml:3:5: error: aliases \(\*a\) are not supported in a jobs file" "$CR_OUT" "alias refused"
expect_exit 7 cr job check --jobs missing.yaml
pass "broken jobs files"
