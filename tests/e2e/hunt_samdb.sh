# The directory database of a real Samba AD domain controller (issue: Active
# Directory first), provisioned offline with Debian's samba into the test's own
# folder (no server runs: samba-tool and ldbmodify write sam.ldb directly):
#   day 1  the baseline: a fresh domain, a user, a contractor's account disabled:
#          privileged members, SPNs, GPO links listed (info), nothing above;
#   day 2  the attack: "eve" created and added to Domain Admins, a service
#          account with an SPN (kerberoastable) and unconstrained delegation, a
#          new GPO linked to the domain, the contractor's account enabled again,
#          pre-authentication turned off on the user.
# hunt finds each at its severity on day 2 and the clean point is day 1. A
# damaged partition is a low finding and a partition that crashes the reader a
# high one, never a crash of cleanroom.
set -u
. "${CR_TESTLIB:?}"

command -v samba-tool >/dev/null && command -v ldbmodify >/dev/null || {
    echo "SKIP: samba-tool or ldbmodify missing (scripts/install-deps installs samba, ldb-tools)"
    exit 77
}
export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive

W=$P/dc
T=$W/var/lib/samba
SAM=$T/private/sam.ldb
CONF=$T/etc/smb.conf
BASE=DC=clinic,DC=test
# Offline: no DNS update, no running server; everything stays in $T.
samba-tool domain provision --targetdir="$T" --realm=CLINIC.TEST --domain=CLINIC \
    --adminpass='Cl3an-Room!2026' --use-rfc2307 --server-role=dc --dns-backend=SAMBA_INTERNAL \
    >"$P/provision.log" 2>&1 || { tail -20 "$P/provision.log"; fail "samba-tool domain provision"; }
st() { samba-tool "$@" -H "$SAM" -s "$CONF" >>"$P/tool.log" 2>&1 || { tail -5 "$P/tool.log"; fail "samba-tool $*"; }; }
st user create alice 'Al1ce-Passw0rd!x'
st user create temp-contractor 'T3mp-Passw0rd!x'
st user disable temp-contractor
PART=$(ls "$T/private/sam.ldb.d/" | grep -i "^DC=clinic,DC=test.ldb$")
[ -n "$PART" ] || fail "no domain partition in sam.ldb.d: $(ls "$T/private/sam.ldb.d/")"
expect_exit 0 cr backup --source dc --time 2026-12-01 "$W"

# Day 2: the attack.
st user create eve 'Ev3-Passw0rd!x'
st group addmembers "Domain Admins" eve
st user create svc-sql 'Sq1-Passw0rd!x'
st user enable temp-contractor
cat > "$P/attack.ldif" <<L
dn: CN=svc-sql,CN=Users,$BASE
changetype: modify
add: servicePrincipalName
servicePrincipalName: MSSQLSvc/db01.clinic.test:1433
-
replace: userAccountControl
userAccountControl: 524800

dn: CN=alice,CN=Users,$BASE
changetype: modify
replace: userAccountControl
userAccountControl: 4194816

dn: $BASE
changetype: modify
replace: gPLink
gPLink: [LDAP://CN={31B2F340-016D-11D2-945F-00C04FB984F9},CN=Policies,CN=System,$BASE;0][LDAP://CN={9E2A47C1-5B7D-4F0E-8C3A-1D2E3F4A5B6C},CN=Policies,CN=System,$BASE;0]
L
ldbmodify -H "$SAM" "$P/attack.ldif" >>"$P/tool.log" 2>&1 || { tail -5 "$P/tool.log"; fail "ldbmodify"; }
expect_exit 0 cr backup --source dc --time 2026-12-02 "$W"
expect_exit 0 cr snapshots --json --source dc
read -r D1 D2 <<<"$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$CR_OUT")"

expect_exit 0 cr hunt --source dc
assert_grep "^  dc: clean restore point ${D1:0:8} .*; first compromised ${D2:0:8}" "$CR_OUT" \
    "the clean point is day 1"
expect_exit 0 cr findings --json --source dc --min-severity info
[ -n "${CR_TEST_VERBOSE:-}" ] && python3 -c 'import json,sys
for f in json.load(open(sys.argv[1]))["findings"]: print(f["snapshot"][:8], f["severity"], f["indicator"], f.get("evidence"), "|", f.get("detail"))' "$CR_OUT" >&2
python3 - "$CR_OUT" "$PART" "$D1" "$D2" <<'PY' || fail "each change of the directory at its severity"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
part, d1, d2 = sys.argv[2:]
rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
bad = 0
for f in F:
    if f["snapshot"] == d1 and rank[f["severity"]] >= 2:
        print("  baseline above low:", f); bad = 1
def want(ind, sev, snap, ev, text=None):
    global bad
    hit = [f for f in F if f["path"].endswith("/sam.ldb.d/" + part) and f["indicator"] == ind
           and f["snapshot"] == snap and f.get("evidence") == ev
           and (text is None or text in f.get("detail", ""))]
    if len(hit) != 1 or hit[0]["severity"] != sev:
        print("  expected %s %s %s on %s: %s" % (ind, ev, sev, snap[:8], hit or "none")); bad = 1
want("directory:privileged-member", "critical", d2, "Domain Admins\\eve", "2026-")
want("directory:account", "medium", d2, "account\\eve", "created at")
want("directory:account", "high", d2, "account\\temp-contractor", "enabled again")
want("directory:user-spn", "high", d2, "servicePrincipalName\\svc-sql", "MSSQLSvc/db01.clinic.test:1433")
want("directory:delegation", "critical", d2, "delegation\\svc-sql", "unconstrained")
want("directory:no-preauth", "high", d2, "DONT_REQ_PREAUTH\\alice")
want("directory:gpo-link", "high", d2, "gPLink\\DC=clinic,DC=test", "{9E2A47C1-5B7D-4F0E-8C3A-1D2E3F4A5B6C}")
# The baseline lists the privileged and noteworthy, never the plain accounts.
want("directory:privileged-member", "info", d1, "Domain Admins\\Administrator")
want("directory:gpo-link", "info", d1, "gPLink\\DC=clinic,DC=test")
want("directory:adminsdholder", "info", d1, "nTSecurityDescriptor\\AdminSDHolder")
if [f for f in F if f["indicator"] == "directory:account" and f["snapshot"] == d1]:
    print("  plain accounts listed in the baseline"); bad = 1
# What did not change is not a finding of day 2 (Administrator's memberships, alice's account).
for f in F:
    if f["snapshot"] == d2 and f.get("evidence") in ("Domain Admins\\Administrator", "account\\alice"):
        print("  unchanged item reported on day 2:", f); bad = 1
sys.exit(bad)
PY
pass "directory: privileged member, accounts, SPN, delegation, pre-authentication, GPO link"

# Day 3: ordinary life (a new colleague). The attack stays flagged although the
# partition changed again; only the new account is new.
st user create bob 'B0b-Passw0rd!x'
expect_exit 0 cr backup --source dc --time 2026-12-03 "$W"
expect_exit 0 cr hunt --source dc
assert_grep "^  dc: clean restore point ${D1:0:8} .*; first compromised ${D2:0:8}" "$CR_OUT" \
    "the clean point stays day 1"
expect_exit 0 cr findings --json --source dc --snapshot latest --min-severity info
python3 - "$CR_OUT" <<'PY' || fail "day 3: the attack carried forward, the new colleague new"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
got = {(f["indicator"], f.get("evidence")): f["severity"] for f in F}
bad = 0
for k, sev in ((("directory:privileged-member", "Domain Admins\\eve"), "critical"),
               (("directory:delegation", "delegation\\svc-sql"), "critical"),
               (("directory:account", "account\\bob"), "medium")):
    if got.get(k) != sev:
        print("  day 3: expected %s %s, got %s" % (k, sev, got.get(k))); bad = 1
if ("directory:account", "account\\alice") in got:
    print("  day 3: an unchanged account reported"); bad = 1
sys.exit(bad)
PY
pass "day 3: the attack carried forward, the new colleague new"

# Hostile partitions, in a source of their own: damaged (libtdb refuses it) is low;
# one that crashes the reader (test hook) is high; cleanroom goes on.
H=$P/bad/var/lib/samba/private/sam.ldb.d
mkdir -p "$H"
cp "$T/private/sam.ldb.d/$PART" "$H/$PART"
expect_exit 0 cr backup --source bad --time 2026-12-04 "$P/bad"
{ printf 'TDB file\n'; head -c 70000 /dev/urandom; } > "$H/$PART"
printf 'TDB file\nCLEANROOM-TEST-SANDBOX-CRASH' > "$H/DC=crash,DC=test.ldb"
expect_exit 0 cr backup --source bad --time 2026-12-05 "$P/bad"
# The YARA scan of the crashing file fails too (a content not fully judged: exit 5).
CLEANROOM_TEST_HOOKS=1 expect_exit 5 cr hunt --source bad
expect_exit 0 cr findings --json --source bad --snapshot latest --min-severity info
python3 - "$CR_OUT" "$PART" <<'PY' || fail "hostile directory databases"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
part = sys.argv[2]
bad = 0
for name, ind, sev in ((part, "anomaly:bad-hive", "low"), ("DC=crash,DC=test.ldb", "anomaly:parser-crash", "high")):
    d = [f for f in F if f["path"].endswith("/" + name) and f["indicator"] == ind]
    if not d or d[0]["severity"] != sev:
        print("  %s: %s" % (name, d or "no finding")); bad = 1
sys.exit(bad)
PY
pass "hostile directory databases"
