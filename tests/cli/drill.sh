# drill: the whole plan is restored below a scratch folder, a real HTTP server
# is started there (via $CLEANROOM_TARGET) and probed, the measured RTO per
# tier is printed, stop commands run, the scratch folder is removed; nothing
# is written outside it (the production targets stay absent), with --keep it
# stays; the default scratch folder is a new one under /var/tmp.
set -u
. "${CR_TESTLIB:?}"

PIDS=$SCRATCH/pids
mkdir -p "$PIDS"
on_exit 'for f in "$PIDS"/*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done'
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
printf 'rule never_fires { condition: false }\n' > rules/yara/none.yar
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules
expect_exit 0 cr init --kdf interactive
mkdir -p src/db src/web
printf 'db\n' > src/db/data.txt
printf '<p>drill page</p>\n' > src/web/index.html
for s in db web; do expect_exit 0 cr backup --source "$s" --time 2026-11-01 "src/$s"; done
expect_exit 0 cr hunt
unset CLEANROOM_REPO

# Production targets live under /prod-of-test: a drill must never create them.
PROD=$SCRATCH/prod
cat > plan.yaml <<EOF
site: drill-site
vault: vault
services:
  - name: db
    tier: 0
    target: {folder: $PROD/db}
    start: test -f "\$CLEANROOM_TARGET$SCRATCH/src/db/data.txt" && test "\$CLEANROOM_DRILL" = 1
    rto: 1h
  - name: web
    tier: 1
    depends_on: [db]
    target: {folder: $PROD/web}
    start: |
      cd "\$CLEANROOM_TARGET$SCRATCH/src/web" || exit 1
      setsid nohup python3 -m http.server --bind 127.0.0.1 $PORT >/dev/null 2>&1 &
      echo \$! > $PIDS/web
    stop: kill "\$(cat $PIDS/web)" && rm $PIDS/web
    probes:
      - {kind: http, url: "http://127.0.0.1:$PORT/index.html", expect_body: "drill page", retries: 20, interval: 0.25s}
    rto: 2h
EOF

find . -path ./drill -prune -o -print | grep -v '^\./\.lib' | sort > before.txt
expect_exit 0 cr drill plan.yaml --scratch "$SCRATCH/drill" --journal drill.journal
assert_grep "^scratch folder .*/drill \(no production target is touched\)" "$CR_OUT" "scratch said"
assert_grep "^web +probe http .*: ok" "$CR_OUT" "probe on the drill copy"
assert_grep "^web +stop command: exit code 0" "$CR_OUT" "stop command ran"
assert_grep "^drill summary: 2 ok, 0 failed, 0 blocked" "$CR_OUT" "summary"
assert_grep "^  tier 0: 1 service\(s\), all back after .* \(estimate .*\); RTO \(tightest 1 h 00 min\) met by 1 of 1" \
    "$CR_OUT" "tier 0 measured against its RTO"
assert_grep "^  tier 1: 1 service\(s\), all back after" "$CR_OUT" "tier 1 measured"
assert_grep "^scratch folder .*/drill removed" "$CR_OUT" "scratch removed"
[ ! -e drill ] || fail "the scratch folder is still there"
[ ! -e "$PROD" ] || fail "a drill wrote to a production target"
[ ! -e "$PIDS/web" ] || fail "the stop command did not run"
# (and the journal's head, recorded in the vault: journals/)
find . -path ./drill -prune -o -print | grep -v '^\./\.lib' | grep -v '^\./drill\.journal' |
    grep -v '^\./vault/journals' | sort > after.txt
diff before.txt after.txt | grep -v '^[0-9]' | grep -v 'before.txt\|after.txt' && fail "the drill wrote outside its scratch folder and journal"
[ "$(ls vault/journals | wc -l)" = 1 ] || fail "the drill's head was not recorded in the vault"
expect_exit 0 cr journal verify drill.journal
python3 - drill.journal "$SCRATCH/drill" <<'EOF' || fail "drill journal"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1])]
assert E[0]["type"] == "recover-start" and E[0]["data"]["mode"] == "drill"
for e in E:
    if e["type"] in ("restore-start", "restore-done"):
        assert e["data"]["target"].startswith(sys.argv[2] + "/"), e
c = [e for e in E if e["type"] == "drill-cleanup"]
assert len(c) == 1 and c[0]["data"]["removed"] == "yes" and c[0]["data"]["scratch"] == sys.argv[2]
d = {e["service"]: e["data"] for e in E if e["type"] == "service-done"}
assert d["db"]["status"] == "ok" and d["db"]["rto_met"] == "yes" and d["web"]["tier"] == "1", d
EOF
pass "drill: restored, started, probed, measured, cleaned up, production untouched"

# --keep keeps the restored copy; the default journal name carries the time.
expect_exit 0 cr drill plan.yaml --scratch "$SCRATCH/drill2" --keep
diff -r src/db "drill2$PROD/db$SCRATCH/src/db" || fail "kept copy differs"
ls plan-drill-*.journal > /dev/null 2>&1 || fail "default drill journal name"
assert_grep "^scratch folder .*/drill2 kept" "$CR_OUT" "kept said"
# A scratch folder that holds data is refused.
expect_exit 8 cr drill plan.yaml --scratch "$SCRATCH/drill2"
assert_grep "scratch folder .*drill2 exists and is not empty" "$CR_ERR" "busy scratch refused"
pass "--keep, busy scratch folder"

# The default scratch folder: new, under /var/tmp, removed at the end.
expect_exit 0 cr drill plan.yaml --json --journal drill3.journal
python3 - drill3.journal "$CR_OUT" <<'EOF' || fail "default scratch"
import json, os, sys
E = [json.loads(l) for l in open(sys.argv[1])]
s = E[0]["data"]["scratch"]
assert s.startswith("/var/tmp/cleanroom-drill-"), s
assert not os.path.exists(s)
ev = [json.loads(l) for l in open(sys.argv[2])]
types = {e["type"] for e in ev}
assert {"recover-start", "point-chosen", "estimate", "restore-done", "probe", "service-done",
        "drill-cleanup", "recover-end"} <= types, types
EOF
pass "default scratch folder under /var/tmp, --json events"

# ------------------------------------------------------------ a drill that would prove nothing
# A server already answers where web's probe looks: web fails before its start
# command runs; db starts something and has no stop: it is listed as left running.
BUSY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p busy-www
(cd busy-www && setsid nohup python3 -m http.server --bind 127.0.0.1 "$BUSY_PORT" >/dev/null 2>&1 & echo $! > "$PIDS/busy")
python3 - "$BUSY_PORT" <<'PY' || fail "the test's own server did not start"
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
cat > busy.yaml <<YAML
site: drill-site
vault: vault
services:
  - name: web
    tier: 0
    target: {folder: $PROD/web}
    start: "touch $SCRATCH/started; false || true"
    stop: "true"
    probes:
      - {kind: http, url: "http://127.0.0.1:$BUSY_PORT/"}
  - name: db
    tier: 0
    target: {folder: $PROD/db}
    start: "true"
YAML
expect_exit 5 cr drill busy.yaml --scratch "$SCRATCH/drill-busy" --journal busy.journal
assert_grep "web: something already answers on 127\.0\.0\.1:$BUSY_PORT, the address that the http probe of 'web' tests, before its start command ran" \
    "$CR_ERR" "address already served"
[ ! -e started ] || fail "the start command ran although the probe's address was served"
assert_grep "fix the cause, then run the drill again" "$CR_ERR" "a drill's advice"
grep -q -- "--resume" "$CR_ERR" && fail "a drill advised --resume, which it does not have"
assert_grep "^db +LEFT RUNNING" "$CR_OUT" "left running said"
assert_grep "^drill summary: 1 ok, 1 failed, 0 blocked, 1 left running$" "$CR_OUT" "summary counts it"
assert_grep "^  left running \(a start without a stop: in the plan\): db$" "$CR_OUT" "summary names it"
python3 - busy.journal <<'PY' || fail "journal: left-running"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1])]
l = [e for e in E if e["type"] == "left-running"]
assert [e["service"] for e in l] == ["db"], l
assert not [e for e in E if e["type"] == "start-command" and e["service"] == "web"]
PY
expect_exit 0 cr report busy.journal --format md
assert_grep "left-running" busy-report.md "the report lists what was left running"
# -q: only the outcome
expect_exit 5 cr drill busy.yaml -q --scratch "$SCRATCH/drill-busy2" --journal busy2.journal
assert_grep "^drill summary: 1 ok, 1 failed, 0 blocked, 1 left running$" "$CR_OUT" "-q keeps the outcome line"
grep -q "restoring into\|estimate" "$CR_OUT" && fail "-q printed progress lines"
kill "$(cat "$PIDS/busy")" 2>/dev/null; rm -f "$PIDS/busy"
pass "a served address fails the service; left running listed; advice; -q"

# ------------------------------------------------------------ ETA while probes wait
export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p src/big && head -c 3000000 /dev/urandom > src/big/big.bin
expect_exit 0 cr backup --source big --time 2026-11-01 src/big
unset CLEANROOM_REPO
DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > eta.yaml <<YAML
site: drill-site
vault: vault
defaults: {restore_point: latest}
services:
  - name: slow
    tier: 0
    source: db
    target: {folder: $PROD/slow}
    probes:
      - {kind: tcp, port: $DEAD_PORT, retries: 8, interval: 0.25s, timeout: 0.2s}
  - name: big
    tier: 1
    target: {folder: $PROD/big}
YAML
expect_exit 5 cr drill eta.yaml --json --throughput 1M --scratch "$SCRATCH/drill-eta" --journal eta.journal
python3 - "$CR_OUT" <<'PY' || fail "the overall ETA grew while a probe waited"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
eta = [float(e["eta"]) for e in ev if e["type"] == "progress" and "service" not in e]
assert len(eta) >= 3, eta
assert all(b <= a + 1e-6 for a, b in zip(eta, eta[1:])), eta
PY
pass "the overall ETA does not grow while probes wait"

# ------------------------------------------------------------ not enough room for the drill
if [ "$(id -u)" = 0 ] && mkdir -p small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null; then
    on_exit "umount '$SCRATCH/small'"
    cat > big.yaml <<YAML
site: drill-site
vault: vault
defaults: {restore_point: latest}
services:
  - {name: big, tier: 0, target: {folder: $PROD/big}}
YAML
    expect_exit 1 cr drill big.yaml --scratch "$SCRATCH/small/d" --journal big.journal
    assert_grep "not enough free space for the drill: its restores need about 2\.[0-9] MiB on the filesystem of .*/small/d, which has 1\.0 MiB free" \
        "$CR_ERR" "refused before restoring"
    [ -z "$(ls -A small)" ] || fail "something was restored into a scratch folder too small"
    [ ! -e big.journal ] || fail "a refused drill wrote a journal"
    pass "a drill that cannot fit is refused before it restores"
else
    echo "note: not root or no tmpfs mount here: the free-space part was not run"
fi
