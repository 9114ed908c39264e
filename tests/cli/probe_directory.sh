# The directory probes (dns, kerberos, smb) without a directory: usage errors,
# and hostile or broken peers on 127.0.0.1 (silent, garbage, huge announced
# lengths, a DNS reply to another query). Each fails with words and exit 10,
# within its time bound. (Against a real Samba AD DC: tests/samba/probes.sh.)
set -u
. "${CR_TESTLIB:?}"

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
probe() { "$CLEANROOM" probe "$@"; }
PIDS=
on_exit 'for p in $PIDS; do kill $p 2>/dev/null; done'

wait_file() {
    local i
    for i in $(seq 200); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    fail "$1 did not appear"
}
peer() { # peer MODE: start it, its port in $P
    $PY "$CR_SRC/tests/tools/dirpeer.py" --port-file "$1.port" "$1" </dev/null >/dev/null &
    PIDS="$PIDS $!"
    wait_file "$1.port"
    P=$(cat "$1.port")
}
# A run of at most $1 seconds (the bound: retries 0, so timeout + a margin).
within() {
    local max=$1 t0 t1
    shift
    t0=$(date +%s%N)
    expect_exit 10 "$@"
    t1=$(date +%s%N)
    [ $(((t1 - t0) / 1000000)) -le $((max * 1000)) ] || fail "took $(((t1 - t0) / 1000000)) ms, more than $max s: $*"
}

# --------------------------------------------------------------------- usage
expect_exit 2 probe dns --host 127.0.0.1
assert_grep "needs the name to ask for \(record\)" "$CR_ERR" "dns without record"
expect_exit 2 probe dns --host dc1.example.org --record x.example.org
assert_grep "must be the DNS server's IPv4 address" "$CR_ERR" "dns server by name"
expect_exit 2 probe dns --record x.example.org --type MX
assert_grep "'MX' is not one the probe asks for \(A, AAAA or SRV\)" "$CR_ERR" "dns type"
expect_exit 2 probe kerberos --host 127.0.0.1
assert_grep "needs the realm" "$CR_ERR" "kerberos without realm"
expect_exit 2 probe kerberos --realm EXAMPLE.ORG --principal admin@EXAMPLE.ORG
assert_grep "given without realm" "$CR_ERR" "principal with a realm"
expect_exit 2 probe smb --user 'EX\admin'
assert_grep "needs password_env" "$CR_ERR" "smb user without password"
expect_exit 2 env -u CR_NO_SUCH_VAR "$CLEANROOM" probe kerberos --realm EXAMPLE.ORG --password-env CR_NO_SUCH_VAR
assert_grep "CR_NO_SUCH_VAR.*is not set" "$CR_ERR" "unset password variable named"
expect_exit 2 probe smb --share a,b
assert_grep "one share name" "$CR_ERR" "--share with a comma"
pass "usage errors"

# ------------------------------------------------------------------ nothing there
read -r FREE < <($PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
within 3 probe dns --host 127.0.0.1 --port "$FREE" --record dc1.example.org --retries 0 --timeout 2
assert_grep "DNS 127.0.0.1:$FREE: port unreachable \(no DNS server listens there\)" "$CR_ERR" "dns: nothing listens"
within 3 probe kerberos --port "$FREE" --realm EXAMPLE.ORG --retries 0 --timeout 2
assert_grep "Kerberos 127.0.0.1:$FREE \(EXAMPLE.ORG\): connection refused" "$CR_ERR" "kerberos: nothing listens"
within 3 probe smb --port "$FREE" --retries 0 --timeout 2
assert_grep "SMB 127.0.0.1:$FREE: cannot list the shares of smb://127.0.0.1/: connection refused" "$CR_ERR" "smb: nothing listens"
pass "nothing listens: refused, at once"

# ------------------------------------------------------------------ silent peers
$PY "$CR_SRC/tests/tools/hl7peer.py" --port-file silent.port --silent &
PIDS="$PIDS $!"
wait_file silent.port
SILENT=$(cat silent.port)
within 3 probe kerberos --port "$SILENT" --realm EXAMPLE.ORG --retries 0 --timeout 1
assert_grep "timed out after 1.0 s while waiting for the answer" "$CR_ERR" "kerberos: silent KDC"
within 3 probe smb --port "$SILENT" --retries 0 --timeout 1
assert_grep "SMB 127.0.0.1:$SILENT: timed out after 1.0 s while listing the shares" "$CR_ERR" "smb: silent server"
# with retries, the bound holds for each attempt: (1 + 1) x (1 s + 0.5 s)
within 5 probe smb --port "$SILENT" --retries 1 --interval 0.5 --timeout 1
assert_grep "\(2 attempts\)" "$CR_ERR" "smb: retries"
peer dns-wrongid
within 3 probe dns --port "$P" --record dc1.example.org --retries 0 --timeout 1
assert_grep "timed out after 1.0 s while waiting for the DNS answer" "$CR_ERR" "dns: a reply to another query is not ours"
pass "silent peers: timed out within the bound"

# ------------------------------------------------------------------ garbage
peer dns-garbage
within 3 probe dns --port "$P" --record dc1.example.org --retries 0 --timeout 2
assert_grep "not a well-formed DNS message" "$CR_ERR" "dns: garbage"
peer dns-servfail
within 3 probe dns --port "$P" --record _ldap._tcp.dc._msdcs.example.org --type SRV --retries 0 --timeout 2
assert_grep "SRV _ldap._tcp.dc._msdcs.example.org: SERVFAIL" "$CR_ERR" "dns: SERVFAIL"
peer dns-huge
within 3 probe dns --port "$P" --record dc1.example.org --retries 0 --timeout 2
assert_grep "DNS 127.0.0.1:$P: the answer does not answer our question" "$CR_ERR" "dns: truncated, then a huge TCP answer"
peer kdc-huge
within 3 probe kerberos --port "$P" --realm EXAMPLE.ORG --retries 0 --timeout 2
assert_grep "announces 2147483647 bytes \(not a Kerberos reply, or larger than 65536\)" "$CR_ERR" "kerberos: huge length"
peer kdc-junk
within 3 probe kerberos --port "$P" --realm EXAMPLE.ORG --retries 0 --timeout 2
assert_grep "Kerberos 127.0.0.1:$P \(EXAMPLE.ORG\): the answer is not a Kerberos reply" "$CR_ERR" "kerberos: junk"
! grep -q "passed" "$CR_OUT" || fail "kerberos: junk passed"
peer smb-junk
within 3 probe smb --port "$P" --retries 0 --timeout 2
assert_grep "SMB 127.0.0.1:$P: cannot list the shares of smb://127.0.0.1/: the conversation broke off" "$CR_ERR" "smb: junk"
pass "garbage and huge answers: refused in words"
