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
