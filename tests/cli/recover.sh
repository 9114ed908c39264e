# recover: a plan of four services over a hunted vault is restored in tier and
# dependency order, a real HTTP server is started on restored data and probed,
# the journal verifies; a failing probe blocks the dependents only (exit 5);
# existing targets, a missing vault, a missing clean point and an unfinished
# journal are refused before anything is touched; a target disk that fills up
# fails that service only; --ack appends to the journal.
set -u
. "${CR_TESTLIB:?}"

PIDS=$SCRATCH/pids
mkdir -p "$PIDS"
# Stop the servers the start commands launched (their pids are in $PIDS).
on_exit 'for f in "$PIDS"/*; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done'

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------ a hunted vault
export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
cat > rules/yara/test.yar <<'EOF'
rule test_eicar
{
    meta:
        severity = "critical"
        description = "EICAR anti-virus test file"
    strings:
        $e = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
    condition:
        $e
}
EOF
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules
expect_exit 0 cr init --kdf interactive

mkdir -p src/ad/etc src/dns/etc src/web/www src/app/data
printf 'dc=example\n' > src/ad/etc/slapd.conf
printf 'zone example\n' > src/dns/etc/named.conf
printf '<h1>DPI is back</h1>\n' > src/web/www/index.html
head -c 300000 /dev/urandom > src/web/www/blob.bin
printf 'app data\n' > src/app/data/db.txt
for s in ad dns web app; do
    expect_exit 0 cr backup --source "$s" --time 2026-11-01 "src/$s"
done
# A second, compromised snapshot of web: its clean point is the first one.
cp -a src/web src/web-good
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n' > src/web/www/evil
expect_exit 0 cr backup --source web --time 2026-11-02 src/web
rm -f src/web/www/evil
expect_exit 0 cr hunt

HTTP_PORT=$(free_port)
# web serves its restored folder over HTTP; the probe asks for index.html.
cat > plan.yaml <<EOF
site: test-hospital
vault: vault
services:
  - name: ad
    tier: 0
    target: {folder: $SCRATCH/prod/ad}
    start: test -f "\$CLEANROOM_TARGET/$SCRATCH/src/ad/etc/slapd.conf" || test -f "\$CLEANROOM_TARGET/etc/slapd.conf" || true
    rto: 1h
  - name: dns
    tier: 0
    depends_on: [ad]
    target: {folder: $SCRATCH/prod/dns}
  - name: web
    tier: 1
    depends_on: [ad, dns]
    target: {folder: $SCRATCH/prod/web}
    start: |
      echo "starting \$CLEANROOM_SERVICE from \$CLEANROOM_SNAPSHOT instance \$CLEANROOM_INSTANCE"
      cd "\$(find "\$CLEANROOM_TARGET" -type d -name www | head -n 1)"
      setsid nohup python3 -m http.server --bind 127.0.0.1 $HTTP_PORT >/dev/null 2>&1 &
      echo \$! > $PIDS/web
    stop: kill "\$(cat $PIDS/web)"
    probes:
      - {kind: http, url: "http://127.0.0.1:$HTTP_PORT/index.html", expect_body: "DPI is back", retries: 20, interval: 0.25s}
    rto: 2h
  - name: app
    tier: 2
    depends_on: [web]
    target: {folder: $SCRATCH/prod/app}
    probes:
      - {kind: tcp, port: $HTTP_PORT}
EOF
unset CLEANROOM_REPO
expect_exit 0 cr plan check plan.yaml

# ------------------------------------------------------------ recover
expect_exit 0 cr recover plan.yaml --parallel 2
assert_grep "restore point [0-9a-f]{8}: clean point [0-9a-f]{8} \(2026-11-01T00:00:00Z\): the newest hunted snapshot before [0-9a-f]{8} \(2026-11-02" \
    "$CR_OUT" "web: clean point and why"
assert_grep "^estimate: tier 0 done after" "$CR_OUT" "tier estimate"
assert_grep "^web +probe http .*: ok" "$CR_OUT" "http probe passed"
assert_grep "^recovery summary: 4 ok, 0 failed, 0 blocked" "$CR_OUT" "summary"
# $SCRATCH (made by mktemp) is 0700: the services' own accounts could not reach their data
[ "$(stat -c %a "$SCRATCH")" = 700 ] &&
    assert_grep "^plan\.yaml:[0-9]+:[0-9]+: warning: the folder $SCRATCH above the target of 'ad' cannot be traversed by other users \(mode 0700\)" \
        "$CR_ERR" "recover warns of a target's parents others cannot traverse"
for s in ad dns app; do
    diff -r "src/$s" "prod/$s/$SCRATCH/src/$s" || fail "$s restored differently"
done
diff -r src/web-good "prod/web/$SCRATCH/src/web" || fail "web: not its clean point"
[ "$(stat -c %a prod/web)" = 755 ] || fail "the target folder is not reachable by the service's accounts (mode $(stat -c %a prod/web))"
[ ! -e "prod/web/$SCRATCH/src/web/www/evil" ] || fail "web restored from the compromised point"
ls prod | grep -q partial && fail "a staging folder was left"
expect_exit 0 cr journal verify plan.journal
assert_grep "starting web from [0-9a-f]{64} instance 1" plan.journal.logs/web.log "start command env"
python3 - plan.journal <<'EOF' || fail "journal order and vocabulary"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1])]
types = [e["type"] for e in E]
assert types[0] == "recover-start" and types[-1] == "recover-end", types
d = E[0]["data"]
assert d["mode"] == "recover" and d["site"] == "test-hospital" and len(d["plan_sha256"]) == 64, d
assert E[-1]["data"]["status"] == "ok" and E[-1]["data"]["ok"] == "4", E[-1]
tier = {"ad": 0, "dns": 0, "web": 1, "app": 2}
deps = {"dns": ["ad"], "web": ["ad", "dns"], "app": ["web"]}
pos = lambda t, s: [i for i, e in enumerate(E) if e["type"] == t and e["service"] == s]
for s in tier:
    st, = pos("restore-start", s)
    done, = pos("service-done", s)
    assert E[done]["data"]["status"] == "ok", E[done]
    for d in deps.get(s, []):
        assert pos("service-done", d)[0] < st, (s, d)
    for o in tier:
        if tier[o] < tier[s]:
            assert pos("service-done", o)[0] < st, (s, o)
    assert len(pos("point-chosen", s)) == 1 and len(pos("estimate", s)) == 1
pr = [e for e in E if e["type"] == "probe"]
assert {p["service"] for p in pr} == {"web", "app"} and all(p["data"]["ok"] == "yes" for p in pr)
rd = E[pos("restore-done", "web")[0]]["data"]
assert int(rd["files"]) == 2 and int(rd["bytes"]) > 300000, rd
EOF
pass "recover: order, restored data, start command, probes, journal"
kill "$(cat "$PIDS/web")" 2>/dev/null; rm -f "$PIDS/web"

# A finished recovery's targets now hold data: a second run is refused, untouched.
before=$(find prod -type f | sort | xargs md5sum)
expect_exit 8 cr recover plan.yaml
assert_grep "the target .*prod/ad of 'ad' already exists and holds data: cleanroom never overwrites it" \
    "$CR_ERR" "existing target refused"
assert_eq "$(find prod -type f | sort | xargs md5sum)" "$before" "targets untouched"

# Acknowledgements, and who gave them.
expect_exit 0 cr recover plan.yaml --ack web --message "checked by hand: DPI login works" \
    --by "Jeanne Martin, IT technician"
expect_exit 2 cr recover plan.yaml --ack nosuch --message x
tail -n 1 plan.journal | grep -q '"type":"ack","service":"web","data":{"by":"Jeanne Martin, IT technician","message":"checked by hand: DPI login works"}' ||
    fail "ack entry"
expect_exit 0 cr journal verify plan.journal
expect_exit 2 cr recover plan.yaml --by "Jeanne Martin"
assert_grep "give it with --ack and --message" "$CR_ERR" "--by alone"
# No recovery ran with this plan: the ack is refused, no journal is made.
cp plan.yaml never.yaml
expect_exit 7 cr recover never.yaml --ack web --message "looks fine"
assert_grep "no recovery was run with the journal .*never\.journal \(it does not exist\): an acknowledgement goes in the journal of a recovery or drill; give it with --journal FILE" \
    "$CR_ERR" "ack without a recovery refused"
[ ! -e never.journal ] || fail "a journal holding only an ack was created"
pass "refusal of existing targets, ack"

# ------------------------------------------------------------ a failing probe blocks dependents
DEAD_PORT=$(free_port)
sed -e "s#$SCRATCH/prod/#$SCRATCH/prod2/#" -e "s#{kind: http, url: \"http://127.0.0.1:$HTTP_PORT/index.html\"#{kind: http, url: \"http://127.0.0.1:$DEAD_PORT/index.html\"#" \
    -e "s#retries: 20#retries: 1#" plan.yaml > plan2.yaml
cat >> plan2.yaml <<EOF
  - name: other
    tier: 1
    depends_on: [ad]
    target: {folder: $SCRATCH/prod2/other}
    source: app
EOF
expect_exit 5 cr recover plan2.yaml --journal j2.journal
assert_grep "^web +probe http .*: FAILED" "$CR_OUT" "probe failed"
assert_grep "^app +BLOCKED: it depends on 'web'" "$CR_OUT" "app blocked"
assert_grep "^recovery summary: 3 ok, 1 failed, 1 blocked" "$CR_OUT" "partial summary"
kill "$(cat "$PIDS/web")" 2>/dev/null; rm -f "$PIDS/web"
python3 - j2.journal <<'EOF' || fail "blocked in the journal"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1])]
done = {e["service"]: e["data"]["status"] for e in E if e["type"] == "service-done"}
assert done == {"ad": "ok", "dns": "ok", "web": "failed", "other": "ok", "app": "blocked"}, done
b = [e for e in E if e["type"] == "service-blocked"]
assert len(b) == 1 and b[0]["service"] == "app" and b[0]["data"]["by"] == "web", b
assert not any(e["type"] == "restore-start" and e["service"] == "app" for e in E)
assert E[-1]["type"] == "recover-end" and E[-1]["data"]["status"] == "partial"
EOF
[ ! -e prod2/app ] || fail "a blocked service was restored"
pass "failing probe blocks its dependents, the rest goes on"

# ------------------------------------------------------------ refusals before anything
# An unfinished journal (no recover-end) without --resume.
head -n 5 j2.journal > j3.journal
expect_exit 8 cr recover plan2.yaml --journal j3.journal
assert_grep "did not finish: continue it with --resume" "$CR_ERR" "unfinished journal refused"
# A torn last line: refused without --resume, with the cure named.
head -n 5 j2.journal > j4.journal
printf '{"seq":6,"time":"2026-' >> j4.journal
expect_exit 4 cr recover plan2.yaml --journal j4.journal
assert_grep "cut-torn" "$CR_ERR" "torn journal: the cure is named"
# A missing vault.
sed -e "s#^vault: vault#vault: $SCRATCH/novault#" plan.yaml > plan-novault.yaml
expect_exit 7 cr recover plan-novault.yaml
assert_grep "no vault at .*novault" "$CR_ERR" "missing vault"
# A source with no clean point: the vault check stops it, nothing restored.
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n' > src/app/data/evil
CLEANROOM_REPO=$SCRATCH/vault expect_exit 0 cr backup --source bad --time 2026-11-01 src/app
CLEANROOM_REPO=$SCRATCH/vault expect_exit 0 cr hunt
cat > plan-bad.yaml <<EOF
site: t
vault: vault
services:
  - {name: bad, tier: 0, target: {folder: $SCRATCH/prod-bad}, probes: [{kind: tcp, port: 1}]}
EOF
expect_exit 2 cr recover plan-bad.yaml
assert_grep "source 'bad' has no clean restore point" "$CR_ERR" "no clean point"
[ ! -e prod-bad ] && [ ! -e plan-bad.journal ] || fail "something was written"
# The restore gate (the one restore and vm-export use): restore_point latest on a
# compromised snapshot is refused before anything is written; a snapshot named by
# id goes through knowingly, and the journal says so.
sed -e 's/^services:/defaults: {restore_point: latest}\nservices:/' plan-bad.yaml > plan-latest.yaml
expect_exit 8 cr recover plan-latest.yaml
assert_grep "the restore point [0-9a-f]{8} \(2026-11-01T00:00:00Z\) of 'bad' is compromised: 1 finding\(s\) at or above high \(critical yara:test_eicar on .*/evil\); nothing was restored" \
    "$CR_ERR" "latest on a compromised snapshot refused"
[ ! -e prod-bad ] && [ ! -e plan-latest.journal ] || fail "something was written"
BADID=$(CLEANROOM_REPO=$SCRATCH/vault "$CLEANROOM" snapshots --source bad --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"][:12])')
sed -e "s/{name: bad,/{name: bad, restore_point: $BADID,/" plan-bad.yaml > plan-id.yaml
expect_exit 5 cr recover plan-id.yaml
assert_grep "RESTORING A COMPROMISED RESTORE POINT: 'bad' comes back from snapshot [0-9a-f]{8}" \
    "$CR_ERR" "a snapshot named by id: warned"
assert_grep "RESTORING A COMPROMISED RESTORE POINT" plan-id.journal "the journal says so"
[ -f "prod-bad$SCRATCH/src/app/data/evil" ] || fail "the snapshot named by id was not restored"
pass "recover: the restore gate refuses latest when compromised, an id goes through knowingly"
# A broken plan.
printf 'site: t\nservices:\n  - {name: x, tier: 9, target: {folder: /x}}\n' > broken.yaml
expect_exit 2 cr recover broken.yaml
assert_grep "^broken\.yaml:3:[0-9]+: error: tier" "$CR_ERR" "plan problems with line and column"
expect_exit 2 cr recover
expect_exit 0 cr recover --help
assert_grep "^usage: cleanroom recover PLAN" "$CR_OUT" "help"
pass "refusals: unfinished or torn journal, missing vault, no clean point, broken plan"

# ------------------------------------------------------------ target disk full
if [ "$(id -u)" = 0 ] && mkdir -p small && mount -t tmpfs -o size=1m tmpfs small 2>/dev/null; then
    on_exit "umount '$SCRATCH/small'"
    head -c 3000000 /dev/urandom > src/app/data/big.bin
    rm -f src/app/data/evil
    CLEANROOM_REPO=$SCRATCH/vault expect_exit 0 cr backup --source big --time 2026-11-01 src/app
    cat > plan-full.yaml <<EOF
site: t
vault: vault
defaults: {restore_point: latest}
services:
  - {name: big, tier: 0, target: {folder: $SCRATCH/small/big}}
  - {name: ad, tier: 0, target: {folder: $SCRATCH/prod-full/ad}}
EOF
    expect_exit 5 cr recover plan-full.yaml
    assert_grep "big: no space left on .*small/big \(the filesystem of the target\)" "$CR_ERR" "disk full said"
    assert_grep "^recovery summary: 1 ok, 1 failed, 0 blocked" "$CR_OUT" "the rest went on"
    [ -z "$(ls -A small)" ] || fail "the partial copy was left on the full disk"
    diff -r src/ad "prod-full/ad/$SCRATCH/src/ad" || fail "ad restored differently"
    pass "target disk full: that service fails, the rest goes on"

    # An empty mount point as the target: said before anything is restored.
    mkdir -p mnt && mount -t tmpfs -o size=4m tmpfs mnt && on_exit "umount '$SCRATCH/mnt'"
    cat > plan-mnt.yaml <<EOF
site: t
vault: vault
defaults: {restore_point: latest}
services:
  - {name: ad, tier: 0, target: {folder: $SCRATCH/mnt}}
EOF
    expect_exit 2 cr recover plan-mnt.yaml
    assert_grep "is a mount point \(another filesystem\)" "$CR_ERR" "mount point said"
    [ -z "$(ls -A mnt)" ] && [ ! -e mnt.cleanroom-partial ] || fail "something was restored"
    pass "a mount point as the target is refused before restoring"
else
    echo "note: not root or no tmpfs mount here: the disk-full part was not run"
fi
