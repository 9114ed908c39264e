# The directory probes (dns, kerberos, ldap, smb) against a real Samba AD domain
# controller (tests/samba-dc.sh, started once for the "samba" tests): each passes
# against the live DC, and fails with the message a technician needs when the
# answer is wrong (wrong realm, wrong password, a missing SRV record, a missing
# share) and when the DC is down. The probes run inside the DC's network
# namespace (samba-dc.sh run).
set -u
. "${CR_TESTLIB:?}"
: "${SAMBA_DC_DIR:?run by ctest with the samba fixture}"

DC="$CR_SRC/tests/samba-dc.sh"
IP=$SAMBA_DC_IP
REALM=$SAMBA_DC_REALM
ZONE=$(echo "$REALM" | tr 'A-Z' 'a-z')
BASE="DC=${ZONE//./,DC=}"
export AD_PW="$SAMBA_DC_ADMIN_PASSWORD"
t0=$(date +%s)

probe() { "$DC" run "$SAMBA_DC_DIR" "$CLEANROOM" probe "$@" --retries 0; }
# the password must never show in what the probe prints
no_password() {
    ! grep -qF -- "$AD_PW" "$CR_OUT" "$CR_ERR" || fail "the password appears in the output"
}

# ----------------------------------------------------------------------- DNS
expect_exit 0 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.$ZONE" --type SRV
assert_grep "^probe passed: DNS $IP:53: SRV _ldap._tcp.dc._msdcs.$ZONE: dc1.$ZONE:389 in" "$CR_OUT" "SRV of the DCs"
expect_exit 0 probe dns --host "$IP" --record "_kerberos._udp.$ZONE" --type srv --expect "dc1.$ZONE"
assert_grep "dc1.$ZONE:88" "$CR_OUT" "SRV of the KDCs"
expect_exit 0 probe dns --host "$IP" --record "dc1.$ZONE" --expect "$IP"
assert_grep "A dc1.$ZONE: $IP in" "$CR_OUT" "A record of the DC"
expect_exit 10 probe dns --host "$IP" --record "dc1.$ZONE" --expect 10.99.17.9
assert_grep "no record is '10.99.17.9' \(got $IP\)" "$CR_ERR" "A record other than expected"
expect_exit 10 probe dns --host "$IP" --record "dc1.$ZONE" --type AAAA
assert_grep "the name exists but has no AAAA record" "$CR_ERR" "no AAAA record"
expect_exit 10 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.$ZONE" --type SRV --expect dc2.$ZONE
assert_grep "no record is 'dc2.$ZONE' \(got dc1.$ZONE:389\)" "$CR_ERR" "SRV target other than expected"
# The DC's SRV record deleted (as an attacker or a botched cleanup would): the probe
# says so; put back, it passes again.
"$DC" run "$SAMBA_DC_DIR" samba-tool dns delete "$IP" "_msdcs.$ZONE" _ldap._tcp.dc SRV \
    "dc1.$ZONE 389 0 100" -U "Administrator%$AD_PW" -s "$SAMBA_DC_CONF" >dns.log 2>&1 ||
    fail "samba-tool dns delete failed: $(cat dns.log)"
expect_exit 10 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.$ZONE" --type SRV
assert_grep "SRV _ldap._tcp.dc._msdcs.$ZONE: NXDOMAIN: no such name" "$CR_ERR" "missing SRV record"
"$DC" run "$SAMBA_DC_DIR" samba-tool dns add "$IP" "_msdcs.$ZONE" _ldap._tcp.dc SRV \
    "dc1.$ZONE 389 0 100" -U "Administrator%$AD_PW" -s "$SAMBA_DC_CONF" >dns.log 2>&1 ||
    fail "samba-tool dns add failed: $(cat dns.log)"
expect_exit 0 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.$ZONE" --type SRV
# another realm: this DC has no such zone (it forwards the question, nobody answers)
expect_exit 10 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.other.test" --type SRV --timeout 1
assert_grep "SRV _ldap._tcp.dc._msdcs.other.test|timed out" "$CR_ERR" "wrong realm in DNS"
pass "dns"

# ------------------------------------------------------------------ Kerberos
expect_exit 0 probe kerberos --host "$IP" --realm "$REALM"
assert_grep "the KDC answers for $REALM: Administrator@$REALM needs pre-authentication" "$CR_OUT" "KDC up"
expect_exit 0 probe kerberos --host "$IP" --realm "$REALM" --password-env AD_PW
assert_grep "ticket-granting ticket for Administrator@$REALM obtained" "$CR_OUT" "TGT"
no_password
expect_exit 10 env AD_PW=not-the-password "$DC" run "$SAMBA_DC_DIR" "$CLEANROOM" probe kerberos \
    --host "$IP" --realm "$REALM" --password-env AD_PW --retries 0
assert_grep "password refused for Administrator@$REALM" "$CR_ERR" "wrong password"
expect_exit 10 probe kerberos --host "$IP" --realm OTHER.TEST
assert_grep "Kerberos $IP:88 \(OTHER.TEST\): the KDC does not know Administrator@OTHER.TEST" "$CR_ERR" "wrong realm"
expect_exit 10 probe kerberos --host "$IP" --realm "$REALM" --principal no-such-user
assert_grep "does not know no-such-user@$REALM" "$CR_ERR" "unknown principal"
pass "kerberos"

# ---------------------------------------------------------------------- LDAP
expect_exit 0 probe ldap --host "$IP"
assert_grep "anonymous, search returned 1 entry" "$CR_OUT" "root DSE"
expect_exit 0 probe ldap --host "$IP" --bind-dn "CN=Administrator,CN=Users,$BASE" --password-env AD_PW \
    --base "$BASE" --filter "(objectClass=domain)"
assert_grep "bound as CN=Administrator,CN=Users,$BASE, search returned 1 entry" "$CR_OUT" "bind and search"
no_password
expect_exit 10 env AD_PW=not-the-password "$DC" run "$SAMBA_DC_DIR" "$CLEANROOM" probe ldap --host "$IP" \
    --bind-dn "CN=Administrator,CN=Users,$BASE" --password-env AD_PW --retries 0
assert_grep "refused: Invalid credentials \(49\)" "$CR_ERR" "ldap wrong password"
pass "ldap"

# ----------------------------------------------------------------------- SMB
expect_exit 0 probe smb --host "$IP" --share SYSVOL --share NETLOGON
assert_grep "listed anonymously \(.*sysvol.*netlogon" "$CR_OUT" "anonymous listing"
expect_exit 0 probe smb --host "$IP" --user "$SAMBA_DC_DOMAIN\\Administrator" --password-env AD_PW \
    --share sysvol --share netlogon
assert_grep "listed as $SAMBA_DC_DOMAIN.*Administrator" "$CR_OUT" "listing as the administrator"
no_password
expect_exit 10 probe smb --host "$IP" --share SYSVOL --share PATIENTS
assert_grep "share missing on smb://$IP/: PATIENTS \(shares there: .*sysvol" "$CR_ERR" "missing share"
expect_exit 10 env AD_PW=not-the-password "$DC" run "$SAMBA_DC_DIR" "$CLEANROOM" probe smb --host "$IP" \
    --user "$SAMBA_DC_DOMAIN\\Administrator" --password-env AD_PW --retries 0
assert_grep "logon refused \(wrong user or password" "$CR_ERR" "smb wrong password"
pass "smb"

# -------------------------------------------------- the DC down, then back
"$DC" halt "$SAMBA_DC_DIR"
on_exit "'$DC' resume '$SAMBA_DC_DIR' >/dev/null 2>&1"
expect_exit 10 probe dns --host "$IP" --record "_ldap._tcp.dc._msdcs.$ZONE" --type SRV --timeout 2
assert_grep "port unreachable \(no DNS server listens there\)" "$CR_ERR" "dns, DC down"
expect_exit 10 probe kerberos --host "$IP" --realm "$REALM" --timeout 2
assert_grep "Kerberos $IP:88 \($REALM\): connection refused" "$CR_ERR" "kerberos, DC down"
expect_exit 10 probe ldap --host "$IP" --timeout 2
assert_grep "LDAP ldap://$IP:389: .*(refused|Can't contact)" "$CR_ERR" "ldap, DC down"
expect_exit 10 probe smb --host "$IP" --timeout 2
assert_grep "SMB $IP:445: cannot list the shares of smb://$IP/: connection refused" "$CR_ERR" "smb, DC down"
"$DC" resume "$SAMBA_DC_DIR" || fail "the DC did not start again"
expect_exit 0 probe kerberos --host "$IP" --realm "$REALM" --password-env AD_PW
pass "DC down: every probe fails with what it saw; DC back: they pass ($(($(date +%s) - t0)) s in all)"
