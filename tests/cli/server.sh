# The vault server, played as the production attacker: with a backup token
# (and the vault passphrase) every command works through the server, and every
# attempt to delete, overwrite, write a key or the config, traverse paths, send
# a huge body or hold hundreds of slow connections is refused, logged with the
# token's label, and leaves every snapshot intact. A read token cannot write;
# revoked, expired and unknown tokens get 401. Files the server stores are
# immutable where the filesystem allows it, and the vault host's prune still
# removes what retention says.
set -u
. "${CR_TESTLIB:?}"

command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
V=$SCRATCH/vault
CONF=$V/server/server.json
# Stored files may carry the immutable flag: clear it so that the folder can go.
on_exit 'chattr -R -i "$V" 2>/dev/null; [ -n "${SRV_PID:-}" ] && kill "$SRV_PID" 2>/dev/null'

expect_exit 0 cr server init "$V" --kdf interactive
assert_grep "^created a vault in " "$CR_OUT" "init makes the vault"
FP=$(sed -n 's/^fingerprint: *//p' "$CR_OUT")
[[ $FP == sha256//* ]] || fail "no fingerprint printed: $(cat "$CR_OUT")"
expect_exit 1 cr server init "$V"
assert_grep "already exists" "$CR_ERR" "a second init changes nothing"
grep -qxF "fingerprint: $FP" "$CR_ERR" || fail "a second init does not say the fingerprint again"
[ "$(stat -c %a "$V/server/tls.key")" = 600 ] || fail "the TLS key is not private"
# Short timeouts for the slow-connection part; a per-address limit it can reach.
python3 - "$CONF" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(timeout_seconds=3, max_connections_per_ip=32, max_refusals_per_minute=1000)
json.dump(c, open(sys.argv[1], "w"))
EOF
tok() { # ROLE LABEL [ARGS]
    local role=$1 label=$2; shift 2
    cr server token add --config "$CONF" --role "$role" --name "$label" "$@" 2>/dev/null
}
tok backup prod-dpi --source dpi > backup.tok || fail "token add backup"
tok read auditor > read.tok || fail "token add read"
tok admin vault-host > admin.tok || fail "token add admin"
tok backup old-job > revoked.tok || fail "token add old-job"
tok backup expired-job --expires 1d > expired.tok || fail "token add expired-job"
[ "$(stat -c %a "$V/server/tokens.json")" = 600 ] || fail "the tokens file is not private"
grep -q "$(cat backup.tok)" "$V/server/tokens.json" && fail "a token is stored in clear"
expect_exit 2 cr server token add --config "$CONF" --role root --name x
expect_exit 0 cr server token revoke --config "$CONF" old-job
# Expire one by hand, as time would.
python3 - "$V/server/tokens.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
for k in t["tokens"]:
    if k["label"] == "expired-job":
        k["expires"] = 1000
json.dump(t, open(sys.argv[1], "w"))
EOF
expect_exit 0 cr server token list --config "$CONF"
assert_grep "backup .* prod-dpi \(sources: dpi\)" "$CR_OUT" "token list shows role, label, sources"

"$CLEANROOM" server run --config "$CONF" --listen 127.0.0.1:0 > server.out 2> server.log &
SRV_PID=$!
for _ in $(seq 1 100); do grep -q "^listening on port" server.out 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on port //p' server.out)
[ -n "$PORT" ] || fail "the server did not start: $(cat server.log)"
URL=https://127.0.0.1:$PORT

# ------------------------------------------------------------ the commands work
export CLEANROOM_REPO=$URL/ CLEANROOM_SERVER_FINGERPRINT=$FP CLEANROOM_TOKEN_FILE=$SCRATCH/backup.tok
mkdir -p src/etc/cron.d src/www
head -c 3000000 /dev/urandom > src/big.bin
printf 'root:x:0:0::/root:/bin/bash\n' > src/etc/passwd
printf "<?php eval(\$_POST['x']); ?>\n" > src/www/up.php
test_rules rules
expect_exit 0 cr backup --source dpi --time 2026-10-01T10:00:00 src
expect_exit 0 cr backup --source dpi --time 2026-10-02T10:00:00 src
expect_exit 0 cr snapshots
[ "$(grep -c ' dpi ' "$CR_OUT")" = 2 ] || fail "two snapshots listed: $(cat "$CR_OUT")"
expect_exit 0 cr ls latest
expect_exit 0 cr restore latest --target out
diff -r src "out$SCRATCH/src" || fail "restored through the server: not identical"
mkdir -p db && printf 'rows\n' > db/data.txt
expect_exit 0 cr backup --source db --time 2026-10-02T11:00:00 db
expect_exit 0 cr verify --read-data
expect_exit 0 cr hunt
expect_exit 8 cr restore dpi:latest --target out2
cat > plan.yaml <<EOF
site: server-site
vault: $URL/
services:
  - name: db
    tier: 0
    target: {folder: $SCRATCH/prod/db}
    start: test -f "\$CLEANROOM_TARGET$SCRATCH/db/data.txt"
    rto: 1h
EOF
expect_exit 0 cr drill plan.yaml --scratch "$SCRATCH/drill"
[ ! -e "$SCRATCH/prod" ] || fail "the drill wrote to the production target"
pass "backup, snapshots, ls, restore, verify, hunt, the restore gate and drill work with a backup token"

# The wrong server: another key than the pinned one.
CLEANROOM_SERVER_FINGERPRINT=sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= expect_exit 3 cr snapshots
assert_grep "not the one pinned" "$CR_ERR" "a server with another key is refused"
CLEANROOM_SERVER_FINGERPRINT= expect_exit 2 cr snapshots
CLEANROOM_REPO=http://127.0.0.1:$PORT/ expect_exit 2 cr snapshots
pass "the client talks to the pinned server only, over https only"

# ------------------------------------------------------------ the attacker
before=$(cd "$V" && find . -path ./server -prune -o -type f ! -path './locks/*' -print | sort | xargs sha256sum)
T=$(cat backup.tok)
SNAP=$(ls "$V/snapshots" | head -1)
PACK=$(cd "$V" && find data -type f | head -1)
KEY=$(ls "$V/keys" | head -1)
IDX=$(ls "$V/index" | head -1)
HUNT=$(ls "$V/hunt" | head -1)
code() { # METHOD PATH TOKEN [curl args]
    local m=$1 p=$2 t=$3; shift 3
    curl -sk --path-as-is -o /dev/null -w '%{http_code}' -X "$m" -H "Authorization: Bearer $t" "$@" "$URL$p"
}
want() { # CODE METHOD PATH TOKEN [args]: the server answers CODE
    local w=$1; shift
    local got
    got=$(code "$@")
    [ "$got" = "$w" ] || fail "$1 $2: got $got, want $w"
}
for o in "snapshots/$SNAP" "$PACK" "keys/$KEY" "index/$IDX" "hunt/$HUNT" config; do
    want 403 DELETE "/v1/o/$o" "$T"
done
want 403 DELETE /v1/o/locks/0123456789abcdef0123456789abcdef "$T"
printf 'evil' > evil
want 400 PUT "/v1/o/snapshots/$SNAP" "$T" --data-binary @evil
want 400 PUT "/v1/o/$PACK" "$T" --data-binary @evil
E=$(sha256sum evil | cut -c1-64)
want 403 PUT "/v1/o/keys/$E" "$T" --data-binary @evil
want 403 PUT /v1/o/config "$T" --data-binary @evil
want 403 PUT "/v1/o/forget/$E" "$T" --data-binary @evil
expect_exit 1 cr forget "$SNAP"
assert_grep "forgotten from the vault host" "$CR_ERR" "forget through a backup token is refused"
want 403 PUT "/v1/o/locks/.prune-0123456789abcdef0123456789abcdef" "$T" --data-binary @evil
# Same name, other bytes: a lock (the one kind not named by its hash).
want 201 PUT /v1/o/locks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "$T" --data-binary 'one'
want 409 PUT /v1/o/locks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "$T" --data-binary 'two'
want 204 DELETE /v1/o/locks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "$T"
# Paths out of the vault, however written.
want 400 GET /v1/o/../server/tokens.json "$T"
want 400 GET /v1/o/%2e%2e/server/tokens.json "$T"
want 400 GET /v1/o/%252e%252e/config "$T"
want 400 GET /v1/o//etc/passwd "$T"
want 404 GET //v1/o/config "$T"
want 400 GET /v1/o/server/tokens.json "$T"
want 400 GET /v1/o/server/tls.key "$T"
want 404 GET /v1/list/server "$T"
want 400 GET /v1/list/.. "$T"
# A 2 GiB body is refused before it is read; so is a body without a length.
want 413 PUT "/v1/o/data/00/00$(printf '0%.0s' $(seq 62))" "$T" -H 'Content-Length: 2147483648' --data-binary @evil
want 411 PUT "/v1/o/snapshots/$E" "$T" -H 'Transfer-Encoding: chunked' --data-binary @evil
# Other tokens.
want 403 PUT "/v1/o/snapshots/$E" "$(cat read.tok)" --data-binary @evil
want 200 GET "/v1/o/snapshots/$SNAP" "$(cat read.tok)"
want 401 GET /v1/list/snapshots "$(cat revoked.tok)"
want 401 GET /v1/list/snapshots "$(cat expired.tok)"
want 401 GET /v1/list/snapshots crt_0000
want 401 GET /v1/list/snapshots ""
CLEANROOM_TOKEN_FILE=$SCRATCH/revoked.tok expect_exit 3 cr snapshots
assert_grep "refused the token" "$CR_ERR" "a revoked token is told apart"
CLEANROOM_TOKEN_FILE=$SCRATCH/read.tok expect_exit 1 cr backup --source dpi src
pass "deletes, overwrites, keys, config, traversal, 2 GiB bodies and other tokens are refused"

assert_grep "refused DELETE snapshots/$SNAP from 127.0.0.1 \(token 'prod-dpi'\): 403" server.log "refusals are logged with the token's label"
assert_grep "refused GET /v1/list/snapshots .*\(token 'old-job'\): 401 token revoked" server.log "revoked token logged"
assert_grep "refused PUT locks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa .*: 409" server.log "overwrite attempt logged"

# ------------------------------------------------------------ slow connections
# 500 connections that send nothing, from another address of the loopback: the
# server takes few of them, cuts them after its timeout, and keeps serving.
python3 - "$PORT" > slow.out <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
socks, refused = [], 0
for i in range(500):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        s.send(b"\x16\x03\x01")  # the start of a TLS hello, never finished
        socks.append(s)
    except OSError:
        refused += 1
time.sleep(8)  # longer than the server's timeout (3 s)
alive = 0
for s in socks:
    # Closed by the server: end of stream (after a TLS alert, perhaps) or a reset.
    s.settimeout(0.2)
    try:
        while s.recv(4096) != b"":
            pass
    except socket.timeout:
        alive += 1
    except OSError:
        pass
print(len(socks), refused, alive)
EOF
SLOW=$!
sleep 2
expect_exit 0 cr snapshots
threads=$(awk '/^Threads:/ {print $2}' "/proc/$SRV_PID/status")
[ "$threads" -lt 40 ] || fail "the server runs $threads threads during 500 slow connections"
wait $SLOW
read -r held _ alive < slow.out
[ "$alive" = 0 ] || fail "$alive of $held slow connections still open after the timeout"
expect_exit 0 cr snapshots
pass "500 slow connections: the server keeps serving ($threads threads) and cuts them"

# ------------------------------------------------------------ the vault is intact
after=$(cd "$V" && find . -path ./server -prune -o -type f ! -path './locks/*' -print | sort | xargs sha256sum)
# What the attacker's requests left: nothing but the server's own new files of the commands above.
for line in $before; do :; done
while read -r h f; do
    grep -q "^$h  $f$" <<<"$after" || fail "$f changed or went"
done <<<"$before"
unset CLEANROOM_TOKEN_FILE CLEANROOM_SERVER_FINGERPRINT
CLEANROOM_REPO=$V expect_exit 0 cr verify --read-data
assert_grep "3 snapshots checked" "$CR_OUT" "every snapshot intact"
pass "after the attack the vault verifies with every snapshot intact"

# ------------------------------------------------------------ immutable files
if lsattr -d "$V/snapshots/$SNAP" 2>/dev/null | grep -q '^[^ ]*i'; then
    rm -f "$V/snapshots/$SNAP" 2>/dev/null
    [ -e "$V/snapshots/$SNAP" ] || fail "root removed an immutable snapshot file"
    # Retention on the vault host still works: prune clears the flag of what it removes.
    D1=$(CLEANROOM_REPO=$V cr snapshots --source dpi --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    CLEANROOM_REPO=$V expect_exit 0 cr forget "$D1"
    # As if the grace period had passed (the flag set again after the dates are changed).
    chattr -R -i "$V/data" "$V/snapshots" "$V/index" "$V/forget"
    find "$V/data" "$V/snapshots" "$V/index" "$V/forget" -type f -exec touch -d '30 days ago' {} +
    find "$V/data" "$V/snapshots" "$V/index" -type f -exec chattr +i {} +
    CLEANROOM_REPO=$V expect_exit 0 cr prune
    assert_grep "^removed 1 forgotten snapshot" "$CR_OUT" "prune removes an immutable snapshot file"
    pass "stored files are immutable (root's rm fails); the vault host's prune still removes them"
else
    echo "note: this filesystem has no immutable flag: that part is not tested here"
fi

kill "$SRV_PID"
wait "$SRV_PID"
rc=$?
[ "$rc" = 0 ] || fail "the server did not stop cleanly on SIGTERM (exit $rc)"
SRV_PID=
pass "the server stops cleanly on SIGTERM"
# Under the sanitizers (make test's second pass) the server's own report lands in its log.
if grep -q "ERROR: [A-Za-z]*Sanitizer\|runtime error:" server.log; then
    cat server.log >&2
    fail "the sanitizers found a problem in the server"
fi
