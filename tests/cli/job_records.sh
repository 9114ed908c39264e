# Job outcomes recorded in the vault, read from another machine. Machine 1 (the
# backed-up host, its own HOME) runs three jobs through the vault server with a
# backup token: one that works, one whose folder is gone (failed), a verify
# job. Machine 2 (another HOME, no jobs file, a read token) sees, in
# `status --json`, each job's last outcome, its RPO, and the last verify.
# The attacker: a backup token can neither delete nor overwrite a record, and
# a record it adds without the vault's key is left out; a record rewritten on
# the vault host's disk is left out too, counted, and `verify` reports it.
# Then, on the vault host, the vault's size, its growth over 7 days and its
# free space (a local folder: statvfs), against what the folder really holds.
set -u
. "${CR_TESTLIB:?}"
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
test_rules "$SCRATCH/rules"

V=$SCRATCH/vault
CONF=$V/server/server.json
on_exit 'chattr -R -i "$V" 2>/dev/null; [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null'
expect_exit 0 cr server init "$V" --kdf interactive
FP=$(sed -n 's/^fingerprint: *//p' "$CR_OUT")
cr server token add --config "$CONF" --role backup --name host-dpi > backup.tok 2>/dev/null ||
    fail "token add backup"
cr server token add --config "$CONF" --role read --name console > read.tok 2>/dev/null ||
    fail "token add read"
"$CLEANROOM" server run --config "$CONF" --listen 127.0.0.1:0 > server.out 2> server.log &
SRV_PID=$!
for _ in $(seq 1 100); do grep -q "^listening on port" server.out 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on port //p' server.out)
[ -n "$PORT" ] || fail "the server did not start: $(cat server.log)"
URL=https://127.0.0.1:$PORT
export CLEANROOM_SERVER_FINGERPRINT=$FP

# ------------------------------------------------------------------ machine 1
mkdir -p m1/home m1/data/dpi m2/home
echo "patient record" > m1/data/dpi/record.txt
cat > m1/jobs.yaml <<EOF
vault: $URL/
jobs:
  - name: dpi
    source: dpi-server
    paths: [$SCRATCH/m1/data/dpi]
    schedule: daily 02:00
    rpo: 26h
  - name: gone
    paths: [$SCRATCH/m1/data/not-there]
    schedule: daily 03:00
    rpo: 2d
    hunt: false
  - name: check-vault
    verify: 1
    schedule: daily 04:00
EOF
m1() { HOME=$SCRATCH/m1/home XDG_CACHE_HOME=$SCRATCH/m1/home/.cache \
    CLEANROOM_TOKEN_FILE=$SCRATCH/backup.tok "$@"; }
m2() { HOME=$SCRATCH/m2/home XDG_CACHE_HOME=$SCRATCH/m2/home/.cache \
    CLEANROOM_TOKEN_FILE=$SCRATCH/read.tok "$@"; }
expect_exit 0 m1 cr job run dpi --jobs m1/jobs.yaml --time 2026-12-06T02:00:00Z
expect_exit 7 m1 cr job run gone --jobs m1/jobs.yaml --time 2026-12-06T03:00:00Z --json
python3 - "$CR_OUT" <<'EOF' || fail "a failed run is recorded all the same"
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]
assert r["snapshot"] is None and r["outcome_recorded"] is True and len(r["record"]) == 64, r
EOF
GONE_REC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["record"])' "$CR_OUT")
expect_exit 0 m1 cr job run check-vault --jobs m1/jobs.yaml --time 2026-12-06T04:00:00Z
[ "$(ls "$V/runs" | wc -l)" = 3 ] || fail "three records in runs/: $(ls "$V/runs")"
pass "machine 1: three runs, three records"

# ------------------------------------------------------------------ machine 2
# no jobs file, nothing of machine 1: only the vault, through a read token
status2() { m2 expect_exit "$1" cr status --repo "$URL/" --now 2026-12-06T12:00:00Z "${@:2}"; }
status2 0 --json
cp "$CR_OUT" status-m2.json
python3 - status-m2.json <<'EOF' || fail "status on machine 2"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["source"]: x for x in d["sources"]}
dpi, gone = s["dpi-server"], s["gone"]
assert dpi["job"] == "dpi" and dpi["rpo_seconds"] == 26 * 3600, dpi      # from the record
assert dpi["last_run"]["outcome"] == "ok", dpi
assert dpi["last_run"]["time"].startswith("2026-12-06T02:00:"), dpi
assert dpi["last_run"]["hunt"] == "clean", dpi
assert dpi["grade"] == "ok", dpi
assert gone["last_run"]["outcome"] == "failed", gone
assert "not-there" in gone["last_run"]["message"], gone
assert gone["grade"] == "never backed up" and gone["rpo_seconds"] == 2 * 86400, gone
v = d["vault"]
assert v["last_verify"]["job"] == "check-vault" and v["last_verify"]["outcome"] == "ok", v
assert v["last_verify"]["part"] == "1/1", v
assert v["free_bytes"] is None and v["days_until_full"] is None, v     # a vault server
assert v["bytes"] > 0 and v["records"] == 3 and v["records_unreadable"] == 0, v
EOF
status2 0
assert_grep "^ +last run of job gone: failed, 2026-12-06T03:00:0[0-9.]*Z \([0-9]+ h ago\): .*not-there" \
    "$CR_OUT" "the text says the failed run"
assert_grep "^vault: .* free space unknown \(a vault server or S3" "$CR_OUT" "free space of a server"
assert_grep "^last verify: job check-vault, part 1/1, .*: no damage$" "$CR_OUT" "last verify"
status2 2 --check
assert_grep "^CLEANROOM CRITICAL - gone: never backed up" "$CR_OUT" "the plugin line"
pass "machine 2 sees the outcomes, the RPOs and the last verify"

# ------------------------------------------------------------------ the attacker
T=$(cat backup.tok)
REC=$(ls "$V/runs" | head -1)
code() { # METHOD PATH [curl args]
    local m=$1 p=$2; shift 2
    curl -sk -o /dev/null -w '%{http_code}' -X "$m" -H "Authorization: Bearer $T" "$@" "$URL$p"
}
[ "$(code DELETE "/v1/o/runs/$REC")" = 403 ] || fail "a backup token deleted a record"
printf '{"type":"job-run","outcome":"ok"}' > forged
[ "$(code PUT "/v1/o/runs/$REC" --data-binary @forged)" = 400 ] || fail "a record overwritten"
# a record of its own, under its hash, without the vault's key: stored, never believed
F=$(sha256sum forged | cut -c1-64)
[ "$(code PUT "/v1/o/runs/$F" --data-binary @forged)" = 201 ] || fail "PUT of a new object"
status2 0 --json
python3 - "$CR_OUT" <<'EOF' || fail "a forged record changes nothing"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["source"]: x for x in d["sources"]}
assert s["gone"]["last_run"]["outcome"] == "failed", s["gone"]
assert d["vault"]["records"] == 3 and d["vault"]["records_unreadable"] == 1, d["vault"]
EOF
chattr -i "$V/runs/$F" 2>/dev/null
rm -f "$V/runs/$F"
# root on the vault host rewrites the failed run's record, to hide the failure: the record
# no longer matches its name, is left out and counted, and verify names it
chattr -i "$V/runs/$GONE_REC" 2>/dev/null
chmod u+w "$V/runs/$GONE_REC"
printf 'x' | dd of="$V/runs/$GONE_REC" bs=1 seek=40 conv=notrunc 2>/dev/null
status2 0 --json
python3 - "$CR_OUT" <<'EOF' || fail "a changed record is left out and counted"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["vault"]["records"] == 2 and d["vault"]["records_unreadable"] == 1, d["vault"]
s = {x["source"]: x for x in d["sources"]}
assert s["dpi-server"]["last_run"]["outcome"] == "ok", s
EOF
status2 0
assert_grep "^warning: 1 job record\(s\) of the vault cannot be read" "$CR_OUT" "status warns"
expect_exit 4 cr verify --repo "$V"
grep -q "job record $GONE_REC" "$CR_OUT" "$CR_ERR" || fail "verify names the damaged record"
pass "records cannot be deleted, replaced or forged; a changed one is caught"

# ------------------------------------------------------------------ size, growth, free space
# on the vault host: a local folder, whose filesystem says its free space
expect_exit 0 cr status --repo "$V" --json --now 2026-12-06T12:00:00Z
python3 - "$CR_OUT" "$V" <<'EOF' || fail "vault size, growth and free space"
import json, os, sys
d = json.load(open(sys.argv[1]))["vault"]
root = sys.argv[2]
total = os.path.getsize(os.path.join(root, "config"))
for k in ["keys", "index", "snapshots", "hunt", "forget", "journals", "runs", "data"]:
    for dp, dn, fn in os.walk(os.path.join(root, k)):
        total += sum(os.path.getsize(os.path.join(dp, f)) for f in fn if len(f) == 64)
assert d["bytes"] == total, (d["bytes"], total)
# everything was written today, i.e. after --now: within the 7 days before it
assert d["growth_7d_bytes"] == total, d
assert abs(d["growth_per_day"] - total / 7) < 1, d
st = os.statvfs(root)
free = st.f_bavail * st.f_frsize
assert d["free_bytes"] is not None and abs(d["free_bytes"] - free) < 64 << 20, (d, free)
assert abs(d["days_until_full"] - d["free_bytes"] / (total / 7)) < 1, d
EOF
# a month later nothing was written in the last 7 days: no growth, no date of full
expect_exit 0 cr status --repo "$V" --json --now 2027-02-01T00:00:00Z
python3 - "$CR_OUT" <<'EOF' || fail "no growth in the 7 days before"
import json, sys
d = json.load(open(sys.argv[1]))["vault"]
assert d["growth_7d_bytes"] == 0 and d["days_until_full"] is None and d["bytes"] > 0, d
EOF
expect_exit 0 cr status --repo "$V" --now 2026-12-06T12:00:00Z --prometheus metrics.prom
assert_grep '^cleanroom_vault_bytes [1-9][0-9]*$' metrics.prom "size metric"
assert_grep '^cleanroom_vault_free_bytes [1-9][0-9]*$' metrics.prom "free space metric"
assert_grep '^cleanroom_last_verify_ok 1$' metrics.prom "verify metric"
assert_grep '^cleanroom_last_run_outcome\{source="dpi-server"\} 1$' metrics.prom "outcome metric"
pass "size, growth over 7 days, free space and days until full"
