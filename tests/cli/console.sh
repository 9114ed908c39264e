# cleanroom console, played as the attacker on the network next to it: accounts
# are hashed and private; without a session the API answers 401; a viewer gets
# 403 on an admin API; a POST without the session's CSRF token, with a wrong one,
# from another origin or not in JSON is refused; 5 wrong passwords for an account
# slow it down (429, even with the right password then), without locking out the
# others; an account removed loses its session at once; the console refuses to
# listen on another address than loopback without TLS; every login and refusal
# is logged with the user. The dashboard's JSON grades the sources as `status`;
# a source's restore points stand against its clean point.
set -u
. "${CR_TESTLIB:?}"
. "$(dirname "$CR_TESTLIB")/console-lib.bash"

command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
CONF=$SCRATCH/console/console.json

# ------------------------------------------------------------ accounts
console_vault
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
pass "accounts: Argon2id, 0600, names and passwords checked"

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
