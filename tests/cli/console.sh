# cleanroom console, played as the attacker on the network next to it: accounts
# are hashed and private; without a session the API answers 401; a viewer gets
# 403 on an admin API; a POST without the session's CSRF token, with a wrong one,
# from another origin or not in JSON is refused; 5 wrong passwords for an account
# slow it down (429, even with the right password then), without locking out the
# others; an account removed loses its session at once; the console refuses to
# listen on another address than loopback without TLS; every login and refusal
# is logged with the user. The dashboard's JSON grades the sources as `status`;
# a source's restore points carry the restore gate's verdict and the clean point.
# A Host header naming another site (DNS rebinding) gets 421; six admins adding
# accounts at once lose none (flock). Plans: `plan check`'s problems with their
# lines; a viewer cannot start a drill (403), nor anyone without the CSRF token;
# an operator's drill runs on its own thread: the server still answers while 8
# live streams (SSE) wait on it, each stream ends with the drill; no production
# target is touched; its report comes in French or English, and no path outside
# the plans folder can be asked for.
set -u
. "${CR_TESTLIB:?}"
. "$(dirname "$CR_TESTLIB")/console-lib.bash"

command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
CONF=$SCRATCH/console/console.json

# ------------------------------------------------------------ accounts
console_vault
console_plans
console_accounts
[ "$(stat -c %a "$SCRATCH/console/users.json")" = 600 ] || fail "the accounts file is not private"
[ "$(stat -c %a "$SCRATCH/console")" = 700 ] || fail "the console's folder is not private"
grep -q "battery" "$SCRATCH/console/users.json" && fail "a password is stored in clear"
grep -q '"argon2id": "\$argon2id\$' "$SCRATCH/console/users.json" || fail "not an Argon2id hash"
printf 'short\n' > short.pw
expect_exit 2 cr console user add bob --role admin --password-file short.pw --config "$CONF"
assert_grep "10 to 1024" "$CR_ERR" "a short password is refused"
printf 'long enough password\n' > bob.pw
expect_exit 2 cr console user add bob --role root --password-file bob.pw --config "$CONF"
expect_exit 2 cr console user add '../bob' --role admin --password-file bob.pw --config "$CONF"
expect_exit 1 cr console user add alice --role admin --password-file bob.pw --config "$CONF"
assert_grep "exists" "$CR_ERR" "an account is not replaced"
expect_exit 0 cr console user add bob --role opérateur --password-file bob.pw --config "$CONF"
expect_exit 7 cr console user remove nobody --config "$CONF"
# Six admins at once: each add reads the accounts, hashes (slow), writes them back; without
# the lock, the last writer's list would lack the others' accounts.
ADDS=""
for i in 1 2 3 4 5 6; do
    printf 'password of nurse %s\n' "$i" > "nurse$i.pw"
    "$CLEANROOM" console user add "nurse$i" --role lecteur --password-file "nurse$i.pw" \
        --config "$CONF" > /dev/null 2> "nurse$i.err" &
    ADDS+=" $!"
done
for p in $ADDS; do wait "$p"; done
for i in 1 2 3 4 5 6; do
    grep -q "\"nurse$i\"" "$SCRATCH/console/users.json" || fail "an account added at the same time was lost: nurse$i ($(cat "nurse$i.err"))"
done
grep -q '"alice"' "$SCRATCH/console/users.json" || fail "the accounts added before were lost"
for i in 1 2 3 4 5 6; do expect_exit 0 cr console user remove "nurse$i" --config "$CONF"; done
pass "accounts: Argon2id, 0600, names and passwords checked; concurrent adds all kept"

# ------------------------------------------------------------ TLS and addresses
echo '{"format": "cleanroom-console", "tls": false}' > "$SCRATCH/plain.json"
expect_exit 2 cr console --config "$SCRATCH/plain.json" --jobs jobs.yaml --listen 0.0.0.0:0
assert_grep "without TLS" "$CR_ERR" "plain HTTP on the network is refused"
console_start
[[ $CON_FP == sha256//* ]] || fail "no fingerprint printed: $(cat console.out)"
grep -q "new self-signed certificate" console.out || fail "the first start does not say it made the certificate"
[ "$(stat -c %a "$SCRATCH/console/tls.key")" = 600 ] || fail "the TLS key is not private"
pass "TLS by default, certificate made on the first start, fingerprint printed"

C=(curl -sk --max-time 20 -o body -w '%{http_code}')
code() { "${C[@]}" "$@"; }
login() { # NAME PASSWORD JAR -> http code
    python3 -c 'import json,sys; print(json.dumps({"user": sys.argv[1], "password": sys.argv[2]}))' \
        "$1" "$2" > login.json
    code -c "$3" -H 'Content-Type: application/json' --data-binary @login.json "$CON_URL/api/login"
}
csrf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$1"; }

# ------------------------------------------------------------ no session
assert_eq "$(code "$CON_URL/api/sources")" 401 "/api/sources without a session"
assert_eq "$(code -b 'cr_session=0000000000000000000000000000000000000000000000000000000000000000' "$CON_URL/api/sources")" 401 "a made-up session"
assert_eq "$(code "$CON_URL/api/users")" 401 "/api/users without a session"
assert_eq "$(code "$CON_URL/index.html")" 200 "the pages themselves (no data in them)"
curl -sk -D headers -o /dev/null "$CON_URL/index.html"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" headers || fail "no strict CSP: $(cat headers)"
assert_eq "$(code "$CON_URL/../../etc/passwd")" 404 "no path reaches the filesystem"
pass "without a session: 401; pages with a strict CSP"

# ------------------------------------------------------------ DNS rebinding
PORT=${CON_URL##*:}
assert_eq "$(code -H "Host: evil.example:$PORT" "$CON_URL/index.html")" 421 "another site's name (DNS rebinding)"
assert_eq "$(code -H "Host: evil.example:$PORT" "$CON_URL/api/login" -H 'Content-Type: application/json' -d '{}')" 421 "a login through another site's name"
assert_eq "$(code -H "Host: 127.0.0.1.evil.example" "$CON_URL/index.html")" 421 "a name that starts like the address"
assert_eq "$(code -H "Host: localhost:$PORT" "$CON_URL/index.html")" 200 "localhost on loopback"
assert_eq "$(code -H "Host: cleanroom.test:$PORT" "$CON_URL/index.html")" 200 "a name of the config's hostnames"
assert_grep "WARNING GET /index.html from 127.0.0.1 refused: the Host 'evil.example:$PORT' is not a name" console.log "a rebinding attempt is logged"
pass "DNS rebinding: only the configured names and the listen address (421 otherwise)"

# ------------------------------------------------------------ roles and CSRF
assert_eq "$(login alice "$PW_alice" alice.jar)" 200 "alice logs in"
cp body alice.json
grep -q "HttpOnly; Secure; SameSite=Strict" alice.jar 2>/dev/null ||
    curl -sk -D h2 -o /dev/null -H 'Content-Type: application/json' --data-binary @login.json "$CON_URL/api/login"
grep -qi "set-cookie: cr_session=[0-9a-f]\{64\}; Path=/; HttpOnly; Secure; SameSite=Strict" h2 ||
    fail "the session cookie is not HttpOnly, Secure, SameSite=Strict: $(cat h2)"
A_CSRF=$(csrf alice.json)
assert_eq "$(login victor "$PW_victor" victor.jar)" 200 "victor logs in"
V_CSRF=$(csrf body)
assert_eq "$(code -b victor.jar "$CON_URL/api/sources")" 200 "a viewer sees the dashboard"
assert_eq "$(code -b victor.jar "$CON_URL/api/users")" 403 "a viewer cannot list the accounts"
NEW='{"name": "eve", "role": "admin", "password": "eve wants to be admin"}'
assert_eq "$(code -b victor.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $V_CSRF" -d "$NEW" "$CON_URL/api/users")" 403 "a viewer cannot add an account"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/json' -d "$NEW" "$CON_URL/api/users")" 403 "a POST without the CSRF token"
assert_grep "csrf" body "refused for its CSRF token"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $V_CSRF" -d "$NEW" "$CON_URL/api/users")" 403 "another session's CSRF token"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $A_CSRF" -H 'Origin: https://evil.example' -d "$NEW" "$CON_URL/api/users")" 403 "a POST from another origin"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/x-www-form-urlencoded' -H "X-CSRF-Token: $A_CSRF" -d "name=eve" "$CON_URL/api/users")" 415 "a form post"
grep -q '"eve"' "$SCRATCH/console/users.json" && fail "a refused request added an account"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $A_CSRF" -d "$NEW" "$CON_URL/api/users")" 201 "the admin adds an account"
assert_eq "$(login eve 'eve wants to be admin' eve.jar)" 200 "the new account logs in"
head -c 20000 /dev/zero | tr '\0' a > big
assert_eq "$(code -H 'Content-Type: application/json' --data-binary @big "$CON_URL/api/login")" 413 "a huge body"
pass "roles (403), CSRF token and origin, JSON only, bounded bodies"

# ------------------------------------------------------------ login rate
for i in 1 2 3 4 5; do
    assert_eq "$(login mallory "wrong guess $i" m.jar)" 401 "wrong password $i"
done
assert_eq "$(login mallory "$PW_mallory" m.jar)" 429 "the 6th try, even right, is slowed down"
assert_eq "$(login victor "$PW_victor" v2.jar)" 200 "another account is not locked out"
pass "5 wrong passwords slow the account down (429)"

# ------------------------------------------------------------ the dashboard's JSON
assert_eq "$(code -b victor.jar "$CON_URL/api/sources")" 200 "/api/sources"
cp body sources.json
python3 - sources.json <<'PY' || fail "the dashboard's grades"
import json, sys
s = {x["source"]: x for x in json.load(open(sys.argv[1]))["sources"]}
assert s["dpi"]["state"] == "on time" and s["dpi"]["grade"] == "ok", s["dpi"]
assert s["pacs"]["state"] == "late" and s["pacs"]["grade"] == "severely exceeded", s["pacs"]
assert s["lab"]["state"] == "never backed up" and s["lab"]["snapshot"] is None, s["lab"]
assert s["web"]["verdict"] == "compromised" and s["web"]["clean_snapshot"], s["web"]
assert s["dpi"]["verdict"] == "clean", s["dpi"]
PY
assert_eq "$(code -b victor.jar "$CON_URL/api/source?name=web")" 200 "/api/source"
python3 - body <<'PY' || fail "the source's restore points"
import json, sys
s = json.load(open(sys.argv[1]))
p = s["points"]
assert len(p) == 2 and p[0]["state"] == "clean point" and p[1]["state"] == "compromised", p
assert s["clean_snapshot"] == p[0]["snapshot"] and s["first_compromised_time"] == p[1]["time"], s
f = p[1]["findings"]
assert any(x["path"].endswith("/www/up.php") and x["severity"] == "high" for x in f), f
assert p[0]["findings"] == [], p[0]
assert p[0]["clean_point"] and not p[1]["clean_point"], p
assert p[0]["nopen_high"] == 0 and p[1]["nopen_high"] >= 1, p
assert any(x["path"].endswith("/www/up.php") for x in p[1]["open_high"]), p[1]
assert s["open_high"] == p[1]["nopen_high"], s
assert s["first_compromised_snapshot"] == p[1]["snapshot"], s
PY
assert_eq "$(code -b victor.jar "$CON_URL/api/source?name=nothing")" 404 "/api/source of an unknown source"
assert_eq "$(code "$CON_URL/api/source?name=web")" 401 "/api/source without a session"
CLEANROOM_REPO=$SCRATCH/vault expect_exit 0 cr status --jobs jobs.yaml --json
python3 - sources.json "$CR_OUT" <<'PY' || fail "the console and 'status' disagree"
import json, sys
con = {x["source"]: x["grade"] for x in json.load(open(sys.argv[1]))["sources"]}
cli = {x["source"]: x["grade"] for x in json.load(open(sys.argv[2]))["sources"]}
assert con == cli, (con, cli)
PY
pass "the dashboard's JSON grades the sources as 'cleanroom status'"

# ------------------------------------------------------------ plans and drills
assert_eq "$(login oscar "$PW_oscar" oscar.jar)" 200 "oscar (opérateur) logs in"
O_CSRF=$(csrf body)
assert_eq "$(code -b victor.jar "$CON_URL/api/plans")" 200 "/api/plans"
python3 - body <<'PY' || fail "the plans' check"
import json, sys
p = {x["name"]: x for x in json.load(open(sys.argv[1]))["plans"]}
assert set(p) == {"hopital", "broken"}, p
assert p["hopital"]["errors"] == 0 and p["hopital"]["services"] == 3 and p["hopital"]["site"] == "CH-Test", p
assert p["broken"]["errors"] >= 1, p
PY
assert_eq "$(code -b victor.jar "$CON_URL/api/plan?name=broken")" 200 "/api/plan of a broken plan"
python3 - body <<'PY' || fail "plan check's problems with their lines"
import json, sys
p = json.load(open(sys.argv[1]))
e = [x for x in p["problems"] if x["level"] == "error"]
assert any("nowhere" in x["message"] and x["line"] == 6 for x in e), p["problems"]
PY
assert_eq "$(code -b victor.jar "$CON_URL/api/plan?name=hopital")" 200 "/api/plan"
python3 - body <<'PY' || fail "the plan's tiers and start order"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["order"] == ["dpi", "pacs", "web"], p["order"]
t = {s["name"]: (s["tier"], s["depends_on"]) for s in p["services"]}
assert t == {"dpi": (0, []), "pacs": (1, ["dpi"]), "web": (2, [])}, t
assert p["errors"] == 0 and p["drills"] == [], p
PY
for bad in '../console' '..%2Fconsole' 'hopital.yaml' '%2Fetc%2Fpasswd' ''; do
    assert_eq "$(code -b victor.jar "$CON_URL/api/plan?name=$bad")" 404 "a plan named '$bad'"
done
DRILL='{"plan": "hopital"}'
assert_eq "$(code -b victor.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $V_CSRF" -d "$DRILL" "$CON_URL/api/drill")" 403 "a viewer cannot start a drill"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -d "$DRILL" "$CON_URL/api/drill")" 403 "a drill without the CSRF token"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $O_CSRF" -d '{"plan": "broken"}' "$CON_URL/api/drill")" 422 "a drill of a plan with errors"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $O_CSRF" -d '{"plan": "../x"}' "$CON_URL/api/drill")" 404 "a drill of a path"
ls "$SCRATCH/console/plans"/*.journal >/dev/null 2>&1 && fail "a refused drill wrote a journal"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $O_CSRF" -d "$DRILL" "$CON_URL/api/drill")" 202 "an operator starts a drill"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' body)
[[ $ID == hopital-drill-*.journal ]] || fail "the drill's id: $ID"
# 8 live viewers (twice the server's threads) wait on the drill: the server still answers.
STREAMS=""
for i in 1 2 3 4 5 6 7 8; do
    curl -skN --max-time 60 -b victor.jar -o "events$i" "$CON_URL/api/drill/events?id=$ID" &
    STREAMS+=" $!"
done
sleep 0.5
assert_eq "$(code --max-time 5 -b victor.jar "$CON_URL/api/sources")" 200 "the dashboard answers while 8 streams wait"
assert_eq "$(code --max-time 5 -b victor.jar "$CON_URL/api/drill?id=$ID")" 200 "/api/drill while it runs"
grep -q '"running":true' body || fail "the drill is not running while pacs starts: $(cat body)"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $O_CSRF" -d "$DRILL" "$CON_URL/api/drill")" 409 "a second drill at once"
for p in $STREAMS; do wait "$p" || fail "a live stream did not end with the drill (curl exit $?)"; done
for i in 1 2 3 4 5 6 7 8; do
    python3 - "events$i" <<'PY' || fail "live stream $i"
import json, sys
ev = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
types = [e["type"] for e in ev]
assert types[0] == "recover-start" and types[-1] == "drill-end", types
assert ev[-1]["kv"]["status"] == "ok" and ev[-1]["kv"]["ok"] == "3", ev[-1]
done = {e["service"]: e["kv"]["status"] for e in ev if e["type"] == "service-done"}
assert done == {"dpi": "ok", "pacs": "ok", "web": "ok"}, done
PY
done
assert_eq "$(code -b victor.jar "$CON_URL/api/drill?id=$ID")" 200 "/api/drill after it ended"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["running"] and d["ok"] == 3 and d["user"] == "oscar", d' body || fail "the drill's end"
[ -e "$SCRATCH/prod" ] && fail "a drill touched a production target"
[ -z "$(ls -A "$SCRATCH/drills")" ] || fail "the drill's scratch folder was left: $(ls -A "$SCRATCH/drills")"
[ -f "$SCRATCH/console/plans/$ID" ] || fail "no journal beside the plan"
assert_eq "$(code -b victor.jar "$CON_URL/api/drill/events?id=$ID")" 200 "the stream of a finished drill (replayed)"
grep -q '"drill-end"' body || fail "a replayed stream does not end with the drill"
pass "plans checked with lines; drills: roles, CSRF, one at a time, 8 live streams, server free"

R="$CON_URL/api/report?plan=hopital&journal=$ID"
assert_eq "$(code -b victor.jar "$R&lang=fr&format=html")" 200 "the French report"
grep -q '<html lang="fr">' body || fail "the report is not in French"
assert_eq "$(code -b victor.jar "$R&lang=en&format=html")" 200 "the English report"
grep -q '<html lang="en">' body || fail "the report is not in English"
curl -sk -D rh -o report.md -b victor.jar "$R&lang=fr&format=md&download=1"
grep -qi '^content-disposition: attachment; filename="hopital-drill-.*-report-fr.md"' rh || fail "the Markdown download: $(cat rh)"
grep -q "$ID\|hopital" report.md || fail "the Markdown report: $(head report.md)"
for bad in '../../users.json' '..%2F..%2Fusers.json' 'broken-drill-1.journal' "$ID%2F..%2F..%2Fusers.json" 'hopital-drill-x.journal'; do
    c=$(code -b victor.jar "$CON_URL/api/report?plan=hopital&journal=$bad&lang=fr&format=html")
    [ "$c" = 400 ] || [ "$c" = 404 ] || fail "a report of '$bad' answered $c"
done
grep -q argon2id body && fail "a report request reached the accounts file"
assert_eq "$(code "$R&lang=fr&format=html")" 401 "a report without a session"
assert_grep "'oscar' started a drill of the plan 'hopital'" console.log "the drill's start is audited"
assert_grep "the drill of the plan 'hopital' started by 'oscar' ended: ok" console.log "the drill's end is audited"
assert_grep "WARNING .*'victor' \(lecteur\) .*POST /api/drill.*refused: needs the role opérateur|WARNING POST /api/drill by 'victor' \(lecteur\) from 127.0.0.1 refused: needs the role opérateur" console.log "a refused drill is logged"
pass "drill reports in French and English, downloadable; no path escapes the plans folder"

# ------------------------------------------------------------ guided restore
assert_eq "$(code -b victor.jar "$CON_URL/api/source?name=web")" 200 "the points to restore"
CLEAN=$(python3 -c 'import json,sys; print([p for p in json.load(open(sys.argv[1]))["points"] if p["clean_point"]][0]["snapshot"])' body)
BAD=$(python3 -c 'import json,sys; print([p for p in json.load(open(sys.argv[1]))["points"] if p["state"] == "compromised"][0]["snapshot"])' body)
rq() { # BODY -> http code, as oscar
    code -b oscar.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $O_CSRF" -d "$1" "$CON_URL/api/restore"
}
assert_eq "$(code -b victor.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $V_CSRF" -d "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"web\"}" "$CON_URL/api/restore")" 403 "a viewer cannot restore"
assert_eq "$(code -b oscar.jar -H 'Content-Type: application/json' -d "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"web\"}" "$CON_URL/api/restore")" 403 "a restore without the CSRF token"
assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"dpi\"}")" 400 "a restore confirmed with another name"
for t in '../w1' '/etc' '.hidden' 'a/b' ''; do
    assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"$t\", \"confirm\": \"web\"}")" 400 "a target '$t'"
done
assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$BAD\", \"target\": \"w1\", \"confirm\": \"web\"}")" 409 "the compromised point, risk not accepted"
grep -q '"refused"' body || fail "the gate's refusal: $(cat body)"
assert_eq "$(rq "{\"source\": \"dpi\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"dpi\"}")" 404 "a restore point of another source"
[ -e "$SCRATCH/restores/w1" ] && fail "a refused restore wrote its target"
assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"web\"}")" 202 "the clean point restored"
RID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' body)
curl -skN --max-time 60 -b victor.jar -o revents "$CON_URL/api/restore/events?id=$RID" || fail "the restore's stream did not end"
python3 - revents <<'PY' || fail "the restore's live stream"
import json, sys
ev = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
assert ev[0]["type"] == "restore-start" and ev[-1]["type"] == "restore-end", [e["type"] for e in ev]
assert ev[-1]["kv"]["status"] == "ok" and ev[-1]["kv"]["failed"] == "0", ev[-1]
PY
diff -r "$SCRATCH/restores/w1$SCRATCH/data/web/www/index.html" data/web/www/index.html || fail "the restored file differs"
[ -e "$SCRATCH/restores/w1$SCRATCH/data/web/www/up.php" ] && fail "the clean point holds the web shell"
assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$CLEAN\", \"target\": \"w1\", \"confirm\": \"web\"}")" 409 "a target that holds data"
assert_eq "$(rq "{\"source\": \"web\", \"snapshot\": \"$BAD\", \"target\": \"w2\", \"confirm\": \"web\", \"accept_risk\": true}")" 202 "the compromised point, risk accepted"
RID2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' body)
curl -skN --max-time 60 -b victor.jar -o revents2 "$CON_URL/api/restore/events?id=$RID2" || fail "the second restore's stream"
grep -q '"restore-end"' revents2 || fail "the second restore did not end"
assert_grep "'oscar' started a restore of web \(snapshot ${CLEAN:0:8}\) into $SCRATCH/restores/w1" console.log "a restore is audited"
assert_grep "WARNING 'oscar' started a restore of web \(snapshot ${BAD:0:8}, FLAGGED BY THE HUNT: risk accepted\)" console.log "an accepted risk is audited as a warning"
assert_grep "WARNING the restore of web \(snapshot ${BAD:0:8}\) asked by 'oscar' is refused by the restore gate" console.log "a refused restore is audited"
pass "guided restore: role, CSRF, typed confirmation, target names, the gate (409 unless the risk is accepted), live stream, identical files"

# ------------------------------------------------------------ logout, removal, audit
expect_exit 0 cr console user remove victor --config "$CONF"
assert_eq "$(code -b victor.jar "$CON_URL/api/sources")" 401 "a removed account's session ends"
assert_eq "$(code -b alice.jar -H 'Content-Type: application/json' -H "X-CSRF-Token: $A_CSRF" -d '{}' "$CON_URL/api/logout")" 200 "logout"
assert_eq "$(code -b alice.jar "$CON_URL/api/sources")" 401 "a session ended by logout"
assert_grep "'alice' \(admin\) logged in from 127.0.0.1" console.log "a login is logged with the user"
assert_grep "WARNING wrong password for 'mallory' from 127.0.0.1" console.log "a wrong password is logged"
assert_grep "WARNING .*'victor' \(lecteur\) .*refused: needs the role admin" console.log "a refusal names the user"
assert_grep "'alice' added the account 'eve' \(admin\)" console.log "an action is logged with the user"
pass "logout and removal end sessions; logins, refusals and actions are logged"
