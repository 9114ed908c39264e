# Health probes against real servers started here, on 127.0.0.1 and free ports:
# python3 http.server (HTTP and HTTPS with a self-signed certificate), slapd,
# PostgreSQL 15, dcmtk's storescp and dcmqrscp, our HL7 peer, and a peer that
# accepts connections and never answers. Each kind: a passing probe and
# failing ones, with the message a technician reads and exit code 10.
set -u
. "${CR_TESTLIB:?}"

PGBIN=/usr/lib/postgresql/15/bin
# The system's python starts in a tenth of a second; a pyenv shim takes more.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
for t in python3 openssl slapd ldapadd storescp dcmqrscp echoscu "$PGBIN/initdb"; do
    command -v "$t" >/dev/null || fail "missing $t (scripts/install-deps installs it)"
done

# Free ports: bound by the kernel (all at once, so they differ), then released
# for the servers to take.
read -r CLOSED LP LSP PP DP DR QP < <($PY -c '
import socket
ss = [socket.socket() for _ in range(7)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
[ -n "$QP" ] || fail "cannot find free ports"
PIDS=
on_exit 'for p in $PIDS; do kill $p 2>/dev/null; done'

# Wait until something listens on the port (at most ~20 s).
wait_port() {
    local i
    for i in $(seq 200); do
        "$CLEANROOM" probe tcp --port "$1" --timeout 0.5 --retries 0 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "nothing listens on port $1 ($2 did not start)"
}
wait_file() {
    local i
    for i in $(seq 200); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    fail "$1 did not appear"
}

probe() { "$CLEANROOM" probe "$@"; }
Q="--retries 0 --timeout 5"

$PY "$CR_SRC/tests/tools/hl7peer.py" --port-file silent.port --silent &
PIDS="$PIDS $!"
wait_file silent.port
SILENT=$(cat silent.port)

# --------------------------------------------------------------------- usage
expect_exit 2 probe
expect_exit 2 probe gopher --port 1
assert_grep "unknown probe kind 'gopher'" "$CR_ERR" "unknown kind named"
expect_exit 2 probe tcp
assert_grep "needs a port" "$CR_ERR" "tcp without port"
expect_exit 2 probe http --url ftp://x/
assert_grep "http:// or https://" "$CR_ERR" "http url scheme"
expect_exit 2 probe tcp --port 70000
expect_exit 2 probe tcp --port 1 --timeout -1
expect_exit 2 probe postgres --conninfo "host=127.0.0.1 password=secret"
assert_grep "holds a password" "$CR_ERR" "password in conninfo refused"
expect_exit 2 probe ldap --bind-dn cn=x
assert_grep "password_env" "$CR_ERR" "bind dn without password_env"
expect_exit 2 env -u CR_NO_SUCH_VAR "$CLEANROOM" probe ldap --bind-dn cn=x --password-env CR_NO_SUCH_VAR
assert_grep "CR_NO_SUCH_VAR.*is not set" "$CR_ERR" "unset password variable named"
expect_exit 2 probe dicom --called-ae "MUCH-TOO-LONG-AE-TITLE"
assert_grep "1 to 16 characters" "$CR_ERR" "AE title length"
printf 'PID|1||X\n' > notmsh.hl7
expect_exit 2 probe hl7 --port 1 --message notmsh.hl7
assert_grep "start with an MSH segment" "$CR_ERR" "hl7 message without MSH"
expect_exit 7 probe hl7 --port 1 --message nosuchfile.hl7
pass "usage errors: exit 2, clear messages"

# ----------------------------------------------------------------------- TCP
expect_exit 0 probe tcp --port "$SILENT"
assert_grep "^probe passed: TCP 127.0.0.1:$SILENT: connected" "$CR_OUT" "tcp pass"
expect_exit 10 probe tcp --port "$CLOSED" --retries 1 --interval 0.1
assert_grep "TCP 127.0.0.1:$CLOSED: connection refused.*\(2 attempts\)" "$CR_ERR" "tcp refused"
expect_exit 0 probe tcp --host localhost --port "$SILENT" $Q
expect_exit 0 probe tcp --port "$SILENT" --json
$PY - "$CR_OUT" <<'EOF' || fail "probe --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kind"] == "tcp" and j["ok"] is True and j["attempts"] == 1, j
assert j["message"].startswith("TCP 127.0.0.1:"), j
EOF
pass "tcp"

# ---------------------------------------------------------------- HTTP(S)
cat > httpd.py <<'EOF'
import http.server, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hang":
            time.sleep(3600)
        code, body, extra = {
            "/health": (200, b"status: OK\n", {}),
            "/down": (503, b"maintenance\n", {}),
            "/redirect": (302, b"", {"Location": "/login"}),
        }.get(self.path, (404, b"no such page\n", {}))
        self.send_response(code)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[1] + ".tmp", "w").write(str(srv.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
EOF
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null ||
    fail "openssl req"
$PY httpd.py http.port &
PIDS="$PIDS $!"
$PY httpd.py https.port cert.pem key.pem &
PIDS="$PIDS $!"
wait_file http.port
wait_file https.port
H=http://127.0.0.1:$(cat http.port)
HS=https://127.0.0.1:$(cat https.port)
# A proxy in the environment must not be used: the probe talks to the server itself.
export http_proxy=http://127.0.0.1:$CLOSED https_proxy=http://127.0.0.1:$CLOSED
expect_exit 0 probe http --url "$H/health" --expect-body OK $Q
assert_grep "^probe passed: HTTP $H/health: 200 OK in " "$CR_OUT" "http pass"
expect_exit 10 probe http --url "$H/down" $Q
assert_grep "HTTP $H/down: 503 Service Unavailable after [0-9.]+ s" "$CR_ERR" "http 503"
expect_exit 10 probe http --url "$H/nothing" $Q
assert_grep "404 Not Found" "$CR_ERR" "http 404"
expect_exit 10 probe http --url "$H/health" --expect-body READY $Q
assert_grep "body does not contain 'READY'.*starting 'status: OK" "$CR_ERR" "body mismatch"
expect_exit 0 probe http --url "$H/redirect" $Q
expect_exit 10 probe http --url "$H/redirect" --expect-status 200 $Q
assert_grep "302 Found .*\(expected 200\)" "$CR_ERR" "redirect not followed"
expect_exit 10 probe http --url "$H/health" --expect-status 204 $Q
expect_exit 10 probe http --url "$HS/health" $Q
assert_grep "TLS certificate not trusted.*ca_file" "$CR_ERR" "self-signed refused"
expect_exit 0 probe http --url "$HS/health" --ca-file cert.pem --expect-body OK $Q
assert_grep "^probe passed: HTTP $HS/health: 200 OK" "$CR_OUT" "https with ca file"
expect_exit 10 probe http --url "http://127.0.0.1:$CLOSED/" $Q
assert_grep "cannot connect" "$CR_ERR" "http refused"
expect_exit 10 probe http --url "$H/hang" --timeout 0.5 --retries 1 --interval 0.1
assert_grep "HTTP $H/hang: timed out after 0.5 s \(2 attempts\)" "$CR_ERR" "http timeout"
unset http_proxy https_proxy
pass "http(s)"

# ---------------------------------------------------------------------- LDAP
mkdir -p ldap/db
cat > ldap/slapd.conf <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $SCRATCH/ldap/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile $SCRATCH/cert.pem
TLSCertificateKeyFile $SCRATCH/key.pem
database mdb
maxsize 16777216
suffix "dc=h,dc=local"
rootdn "cn=admin,dc=h,dc=local"
rootpw directory-secret
directory $SCRATCH/ldap/db
EOF
slapd -d 0 -f ldap/slapd.conf -h "ldap://127.0.0.1:$LP/ ldaps://127.0.0.1:$LSP/" >ldap/log 2>&1 &
PIDS="$PIDS $!"
wait_port "$LP" slapd
wait_port "$LSP" "slapd (ldaps)"
cat > ldap/base.ldif <<'EOF'
dn: dc=h,dc=local
objectClass: dcObject
objectClass: organization
o: Hospital
dc: h

dn: ou=people,dc=h,dc=local
objectClass: organizationalUnit
ou: people

dn: uid=nurse1,ou=people,dc=h,dc=local
objectClass: inetOrgPerson
uid: nurse1
cn: Nurse One
sn: One

dn: uid=doctor1,ou=people,dc=h,dc=local
objectClass: inetOrgPerson
uid: doctor1
cn: Doctor One
sn: One
EOF
ldapadd -x -H "ldap://127.0.0.1:$LP" -D cn=admin,dc=h,dc=local -w directory-secret \
    -f ldap/base.ldif >/dev/null || fail "ldapadd"
export CR_LDAP_PW=directory-secret
L="ldap://127.0.0.1:$LP"
expect_exit 0 probe ldap --url "$L" --bind-dn cn=admin,dc=h,dc=local --password-env CR_LDAP_PW \
    --base dc=h,dc=local --filter "(objectClass=inetOrgPerson)" --min-entries 2 $Q
assert_grep "^probe passed: LDAP $L: bound as cn=admin,dc=h,dc=local, search returned 2 entries" \
    "$CR_OUT" "ldap pass"
grep -q directory-secret "$CR_OUT" && fail "the password was printed"
expect_exit 0 probe ldap --host 127.0.0.1 --port "$LP" $Q
assert_grep "anonymous, search returned 1 entry" "$CR_OUT" "anonymous root DSE"
expect_exit 10 env CR_LDAP_PW=wrong "$CLEANROOM" probe ldap --url "$L" \
    --bind-dn cn=admin,dc=h,dc=local --password-env CR_LDAP_PW --base dc=h,dc=local $Q
assert_grep "LDAP $L: bind as cn=admin,dc=h,dc=local refused: Invalid credentials \(49\)" \
    "$CR_ERR" "ldap wrong password"
grep -q wrong "$CR_ERR" && fail "the wrong password was printed"
expect_exit 10 probe ldap --url "$L" --bind-dn cn=admin,dc=h,dc=local --password-env CR_LDAP_PW \
    --base dc=h,dc=local --filter "(uid=nobody)" $Q
assert_grep "returned 0 entries, expected at least 1" "$CR_ERR" "ldap too few entries"
expect_exit 10 probe ldap --url "$L" --base dc=nowhere,dc=local $Q
assert_grep "No such object \(32\)" "$CR_ERR" "ldap no such base"
# ldaps: the certificate is verified; the site's CA is given with --ca-file.
expect_exit 10 probe ldap --url "ldaps://127.0.0.1:$LSP" $Q
assert_grep "cannot connect: Can't contact LDAP server \(-1\) \(if the server runs, the TLS handshake failed" \
    "$CR_ERR" "ldaps with an untrusted certificate"
expect_exit 0 probe ldap --url "ldaps://127.0.0.1:$LSP" --ca-file cert.pem \
    --bind-dn cn=admin,dc=h,dc=local --password-env CR_LDAP_PW --base dc=h,dc=local $Q
assert_grep "^probe passed: LDAP ldaps://127.0.0.1:$LSP: bound as cn=admin" "$CR_OUT" "ldaps pass"
expect_exit 10 probe ldap --url "ldap://127.0.0.1:$CLOSED" $Q
assert_grep "LDAP ldap://127.0.0.1:$CLOSED: .*Can't contact LDAP server" "$CR_ERR" "ldap refused"
expect_exit 10 probe ldap --url "ldap://127.0.0.1:$SILENT" --bind-dn cn=admin,dc=h,dc=local \
    --password-env CR_LDAP_PW --timeout 0.5 --retries 1 --interval 0.1
assert_grep "timed out after 0.5 s.*\(2 attempts\)" "$CR_ERR" "ldap silent server"
# libldap's own TLS handshake does not time out: the watchdog must end it.
expect_exit 10 probe ldap --url "ldaps://127.0.0.1:$SILENT" --timeout 0.5 --retries 1 --interval 0.1
assert_grep "LDAP ldaps://127.0.0.1:$SILENT: timed out after 0.5 s.*\(2 attempts\)" "$CR_ERR" \
    "ldaps silent server"
pass "ldap (slapd)"

# ---------------------------------------------------------------- PostgreSQL
PGD=$SCRATCH/pg
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: the cluster belongs to the postgres user,
    # in a folder it can reach wherever $SCRATCH is.
    PGD=$(shared_dir)/pg
    as_pg() { run_as postgres "$@"; }
fi
mkdir -p "$PGD"
printf 'db-secret\n' > "$PGD/pw"
[ "$(id -u)" != 0 ] || chown -R postgres "$PGD"
as_pg "$PGBIN/initdb" -D "$PGD/data" -U postgres --auth=scram-sha-256 --pwfile="$PGD/pw" \
    --no-sync -E UTF8 >"$PGD/initdb.log" 2>&1 || { cat "$PGD/initdb.log" >&2; fail "initdb"; }
as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -t 30 \
    -o "-p $PP -k $PGD -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
    { cat "$PGD/log" >&2; fail "pg_ctl start"; }
on_exit "as_pg $PGBIN/pg_ctl -D $PGD/data -m immediate stop >/dev/null 2>&1"
export CR_PG_PW=db-secret
CI="host=127.0.0.1 port=$PP dbname=postgres user=postgres"
expect_exit 0 probe postgres --conninfo "$CI" --password-env CR_PG_PW $Q
assert_grep "^probe passed: PostgreSQL 127.0.0.1:$PP/postgres: query returned '1'" "$CR_OUT" "pg pass"
expect_exit 0 probe postgres --conninfo "$CI" --password-env CR_PG_PW \
    --query "SELECT count(*) FROM pg_database WHERE datname = 'postgres'" --expect 1 $Q
expect_exit 10 probe postgres --conninfo "$CI" --password-env CR_PG_PW \
    --query "SELECT count(*) FROM pg_database WHERE datname = 'dpi'" --expect 1 $Q
assert_grep "PostgreSQL 127.0.0.1:$PP/postgres: query returned '0', expected '1'" "$CR_ERR" \
    "pg wrong value"
expect_exit 10 env CR_PG_PW=wrong "$CLEANROOM" probe postgres --conninfo "$CI" \
    --password-env CR_PG_PW $Q
assert_grep "password authentication failed for user \"postgres\"" "$CR_ERR" "pg wrong password"
expect_exit 10 probe postgres --conninfo "$CI" --password-env CR_PG_PW --query "SELECT * FROM dpi" $Q
assert_grep "query failed: ERROR: relation \"dpi\" does not exist" "$CR_ERR" "pg query error"
expect_exit 10 probe postgres --conninfo "$CI" --password-env CR_PG_PW \
    --query "SELECT pg_sleep(30)" --timeout 1 --retries 0
assert_grep "timed out after 1.0 s|statement timeout" "$CR_ERR" "pg slow query bounded"
expect_exit 10 probe postgres --conninfo "host=127.0.0.1 port=$CLOSED dbname=x" $Q
assert_grep "Connection refused" "$CR_ERR" "pg refused"
expect_exit 10 probe postgres --conninfo "host=127.0.0.1 port=$SILENT dbname=x" --timeout 0.5 \
    --retries 1 --interval 0.1
assert_grep "timed out after 0.5 s.*\(2 attempts\)" "$CR_ERR" "pg silent server"
pass "postgres"

# --------------------------------------------------------------------- DICOM
storescp -aet ANY-SCP "$DP" >storescp.log 2>&1 &
PIDS="$PIDS $!"
storescp --refuse "$DR" >storescp-refuse.log 2>&1 &
PIDS="$PIDS $!"
mkdir -p qr/db
cat > qr/dcmqrscp.cfg <<EOF
NetworkTCPPort  = $QP
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS     $SCRATCH/qr/db     RW (10, 1024mb)   ANY
AETable END
EOF
dcmqrscp -c qr/dcmqrscp.cfg "$QP" >qr/log 2>&1 &
PIDS="$PIDS $!"
wait_port "$DP" storescp
wait_port "$DR" "storescp --refuse"
wait_port "$QP" dcmqrscp
echoscu -aec ANY-SCP 127.0.0.1 "$DP" || fail "echoscu cross-check"
expect_exit 0 probe dicom --port "$DP" $Q
assert_grep "^probe passed: DICOM 127.0.0.1:$DP: C-ECHO status 0x0000 \(success\)" "$CR_OUT" \
    "dicom pass (storescp)"
expect_exit 0 probe dicom --port "$QP" --called-ae PACS --calling-ae WARD-3 $Q
expect_exit 10 probe dicom --port "$QP" --called-ae NOT-THE-PACS $Q
assert_grep "DICOM 127.0.0.1:$QP: association rejected by the called AE \(called AE title not recognised" \
    "$CR_ERR" "dicom called AE refused"
expect_exit 10 probe dicom --port "$DR" $Q
assert_grep "association rejected by the called AE \(no reason given\)" "$CR_ERR" "dicom refused"
expect_exit 10 probe dicom --port "$CLOSED" $Q
assert_grep "connection refused" "$CR_ERR" "dicom closed port"
expect_exit 10 probe dicom --port "$SILENT" --timeout 0.5 --retries 1 --interval 0.1
assert_grep "DICOM 127.0.0.1:$SILENT: timed out after 0.5 s.*\(2 attempts\)" "$CR_ERR" \
    "dicom silent server"
expect_exit 10 probe dicom --port "$(cat http.port)" --timeout 1 --retries 0
assert_grep "DICOM 127.0.0.1:[0-9]+: " "$CR_ERR" "dicom to an HTTP server"
pass "dicom (storescp, dcmqrscp)"

# ----------------------------------------------------------------------- HL7
$PY "$CR_SRC/tests/tools/hl7peer.py" --port-file hl7.port --log hl7.log &
PIDS="$PIDS $!"
wait_file hl7.port
HP=$(cat hl7.port)
expect_exit 0 probe hl7 --port "$HP" $Q
assert_grep "^probe passed: HL7 127.0.0.1:$HP: ACK code AA" "$CR_OUT" "hl7 pass"
assert_grep "^MSH\|\^~\\\\&\|CLEANROOM\|.*\|ADT\^A01\^ADT_A01\|CR[0-9a-f]{16}\|T\|2.5.1$" hl7.log \
    "default message MSH"
assert_grep "^PID\|" hl7.log "default message PID"
printf 'MSH|^~\\&|LAB|H|DPI|H|20260101||ADT^A08|ORIGINAL|P|2.3\r\nPID|1||123\r\n' > own.hl7
expect_exit 0 probe hl7 --port "$HP" --message own.hl7 $Q
grep -q "ORIGINAL" hl7.log && fail "MSH-10 of the given message was not replaced"
assert_grep "^MSH\|\^~\\\\&\|LAB\|H\|DPI\|H\|20260101\|\|ADT\^A08\|CR[0-9a-f]{16}\|P\|2.3$" hl7.log \
    "given message sent with a fresh control id"
for m in REJECT WRONGID GARBAGE HANG; do
    printf 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X|P|2.3\nPID|1||CLEANROOM-%s\n' $m > $m.hl7
done
expect_exit 10 probe hl7 --port "$HP" --message REJECT.hl7 $Q
assert_grep "HL7 127.0.0.1:$HP: ACK code AE: test peer rejects this message" "$CR_ERR" "hl7 AE"
expect_exit 10 probe hl7 --port "$HP" --message WRONGID.hl7 $Q
assert_grep "ACK AA for message 'SOMEONE-ELSE', not for ours" "$CR_ERR" "hl7 control id"
expect_exit 10 probe hl7 --port "$HP" --message GARBAGE.hl7 $Q
assert_grep "does not start with an MLLP frame" "$CR_ERR" "hl7 not MLLP"
expect_exit 10 probe hl7 --port "$HP" --message HANG.hl7 --timeout 0.5 --retries 2 --interval 0.1
assert_grep "timed out after 0.5 s.*\(3 attempts\)" "$CR_ERR" "hl7 never answers"
expect_exit 10 probe hl7 --port "$CLOSED" $Q
assert_grep "connection refused" "$CR_ERR" "hl7 closed port"
pass "hl7 (test peer)"
