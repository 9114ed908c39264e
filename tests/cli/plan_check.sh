# plan check / plan show: the shipped examples pass; a broken plan lists all its
# problems at once with FILE:LINE:COL and exits 2; with a vault, sources and
# restore points are checked (missing source, never hunted, no clean point,
# wrong kind of snapshot, a snapshot of another source).
set -u
. "${CR_TESTLIB:?}"

# ------------------------------------------------------------ the examples
for ex in small-hospital hospital-group; do
    expect_exit 0 cr plan check "$CR_SRC/examples/$ex.yaml" --no-vault
    assert_grep "^start order: " "$CR_OUT" "$ex: start order"
    assert_grep "^vault: not checked \(--no-vault\)" "$CR_OUT" "$ex: vault not checked"
    if grep -Eq ": (error|warning): " "$CR_OUT"; then
        cat "$CR_OUT" >&2
        fail "$ex has problems"
    fi
    expect_exit 0 cr plan show "$CR_SRC/examples/$ex.yaml" --no-vault
    assert_grep "^  1 0    " "$CR_OUT" "$ex: table starts with a tier-0 service"
    # drill-ready: every start and stop works on $CLEANROOM_TARGET, every start has a stop
    python3 - "$CR_SRC/examples/$ex.yaml" <<'EOF' || fail "$ex is not drill-ready"
import re, sys
text = open(sys.argv[1]).read()
svcs = re.split(r"\n  - name: ", text)[1:]
assert len(svcs) >= 11, len(svcs)
for s in svcs:
    name = s.split()[0]
    if "\n    start:" in s:
        assert "\n    stop:" in s, name + ": start without stop"
        assert "$CLEANROOM_TARGET" in s, name + ": no $CLEANROOM_TARGET"
EOF
done
# The AD forest recovery example: no problem, and the procedure's steps in both languages.
expect_exit 0 cr plan check "$CR_SRC/examples/ad-forest-recovery.yaml" --no-vault
if grep -Eq ": (error|warning): " "$CR_OUT"; then
    cat "$CR_OUT" >&2
    fail "ad-forest-recovery has problems"
fi
python3 - "$CR_SRC/examples/ad-forest-recovery.yaml" <<'PY' || fail "ad-forest-recovery: the procedure's steps"
import re, sys
t = open(sys.argv[1]).read()
ids = re.findall(r"\n      - id: ([\w-]+)", t)
need = ["isolate", "seize-fsmo", "metadata-cleanup", "raise-rid-pool", "krbtgt-reset-1", "krbtgt-reset-2", "dns-check"]
missing = [n for n in need if n not in ids]
assert not missing, missing
assert t.count("fr: ") == t.count("en: ") == len(ids), "every step in French and English"
PY
expect_exit 0 cr plan check "$CR_SRC/examples/small-hospital.yaml" --no-vault
assert_grep "^  tier 0 \(core infrastructure\), 3 service\(s\): ad, dns, dhcp$" "$CR_OUT" "tier 0 line"
assert_grep "^start order: ad, dns, dhcp, postgres, dpi, pacs, lab, file-server, mail, print, workstations$" \
    "$CR_OUT" "order of the small hospital"
expect_exit 0 cr plan show "$CR_SRC/examples/small-hospital.yaml" --json --no-vault
python3 - "$CR_OUT" <<'EOF' || fail "plan show --json"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["services"]
assert d["site"] == "saint-luc" and len(s) == 11, d
assert [x["tier"] for x in s] == sorted(x["tier"] for x in s)
w = s[-1]
assert w["name"] == "workstations" and w["count"] == 50 and w["target"].endswith("ws-%n.qcow2")
assert s[0]["probes"] == ["ldap"] and s[0]["target_kind"] == "vm"
EOF
# The plan names /mnt/vault: without --no-vault, that vault is looked for.
expect_exit 7 cr plan check "$CR_SRC/examples/small-hospital.yaml" --repo "$SCRATCH/novault"
assert_grep "no vault at .*novault" "$CR_ERR" "missing vault named"
# plan show looks for the vault as plan check does: the plan's /mnt/vault
expect_exit 7 env -u CLEANROOM_REPO "$CLEANROOM" plan show "$CR_SRC/examples/small-hospital.yaml"
assert_grep "no vault at /mnt/vault" "$CR_ERR" "plan show: the plan's vault looked for"
pass "examples"

# ------------------------------------------------------------ warnings of a sound plan
chmod o+x "$SCRATCH"       # the scratch folder itself is 0700: only locked/ is not traversable
mkdir -m 0700 locked
cat > warn.yaml <<EOF
site: ch-saint-étienne
services:
  - name: réa
    tier: 0
    target: {folder: $SCRATCH/locked/srv/rea}
    start: run-it $SCRATCH/locked/srv/rea
    probes: [{kind: tcp, port: 1}]
EOF
expect_exit 0 env -u CLEANROOM_REPO "$CLEANROOM" plan check warn.yaml
assert_grep "^plan of site ch-saint-étienne: 1 service" "$CR_OUT" "accented site name accepted"
assert_grep "^warn\.yaml:5:13: warning: the folder .*/locked above the target of 'réa' cannot be traversed by other users \(mode 0700\)" \
    "$CR_OUT" "parents not traversable"
assert_grep "^warn\.yaml:6:12: warning: the start command of 'réa' names its target .*/locked/srv/rea: write \"[$]CLEANROOM_TARGET\" instead" \
    "$CR_OUT" "target path in start"
assert_grep "^warn\.yaml:6:12: warning: 'réa' has .start:. but no .stop:." "$CR_OUT" "start without stop"
assert_grep "^warn\.yaml: warning: the restore points were not checked: no vault given\. Give it with --repo DIR, a .vault: DIR. line in the plan, or CLEANROOM_REPO=DIR" \
    "$CR_OUT" "no vault: a warning that says how to give it"
assert_grep "^4 warning\(s\), no error" "$CR_OUT" "warnings counted"
grep -q "^vault: not checked" "$CR_OUT" && fail "the old silent line"
printf 'site: t\nservices:\n\t- name: a\n' > tab.yaml
expect_exit 2 cr plan check tab.yaml --no-vault
assert_grep "^tab\.yaml:3:1: error: tabs are not allowed for indentation in YAML; use spaces" "$CR_OUT" "tab"
pass "warnings: traversal, commands, no vault, names, tabs"

# ------------------------------------------------------------ a broken plan
cat > broken.yaml <<'EOF'
site: test
services:
  - name: ad
    tier: core
    target: {folder: /srv/ad}
  - name: dpi
    tier: 1
    dependson: [ad]
    target: {folder: /srv/ad/dpi}
    rto: 4
    probes:
      - {kind: tpc, port: 80}
  - name: db
    tier: 0
    depends_on: [dpi, dsn, dns]
    target: {folder: /srv/db}
  - name: dns
    tier: 0
    depends_on: [db]
    target: {folder: /srv/dns}
EOF
expect_exit 2 cr plan check broken.yaml --no-vault
n=$(grep -Ec '^broken\.yaml:[0-9]+:[0-9]+: (error|warning): ' "$CR_OUT")
[ "$n" -ge 8 ] || { cat "$CR_OUT" >&2; fail "expected at least 8 problems, got $n"; }
assert_grep "^broken\.yaml:4:11: error: tier must be an integer 0\.\.3 .*got 'core'" "$CR_OUT" "type"
assert_grep "^broken\.yaml:8:5: error: unknown key 'dependson' in a service: did you mean \`depends_on\`\?" \
    "$CR_OUT" "unknown key"
assert_grep "^broken\.yaml:9:13: error: the target /srv/ad/dpi of 'dpi' is inside the target /srv/ad of 'ad' \(line 5\)" \
    "$CR_OUT" "overlap"
assert_grep "^broken\.yaml:10:10: error: rto needs a unit" "$CR_OUT" "rto"
assert_grep "^broken\.yaml:12:16: error: unknown probe kind 'tpc': did you mean \`tcp\`\?" "$CR_OUT" "probe kind"
assert_grep "^broken\.yaml:15:18: error: 'db' \(tier 0\) depends on 'dpi' of tier 1" "$CR_OUT" "tier"
assert_grep "^broken\.yaml:15:23: error: 'db' depends on 'dsn', which is not a service of this plan: did you mean \`dns\`\?" \
    "$CR_OUT" "unknown dependency"
assert_grep "^broken\.yaml:15:28: error: dependency cycle: db -> dns -> db \(no service of it could start first\)" \
    "$CR_OUT" "cycle named"
assert_grep "^broken\.yaml:13:5: warning: service 'db' has no probes" "$CR_OUT" "warning"
grep -q "^start order" "$CR_OUT" && fail "a broken plan has no start order"
assert_grep "^cleanroom: error: the plan broken\.yaml has [0-9]+ error\(s\) and [0-9]+ warning\(s\)" \
    "$CR_ERR" "summary on stderr"
# sorted by line
cut -d: -f2 "$CR_OUT" | grep -E '^[0-9]+$' > lines
sort -n -c lines || fail "problems not sorted by line"

expect_exit 2 cr plan check broken.yaml --no-vault --json
python3 - "$CR_OUT" <<'EOF' || fail "check --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["errors"] >= 8 and d["warnings"] >= 1 and d["order"] == [] and not d["vault_checked"]
p = [x for x in d["problems"] if x["line"] == 4][0]
assert set(p) == {"line", "column", "severity", "message"} and p["column"] == 11
assert p["severity"] == "error" and "got 'core'" in p["message"]
EOF
expect_exit 2 cr plan show broken.yaml
assert_grep "has errors: run 'cleanroom plan check broken\.yaml'" "$CR_ERR" "show refuses a broken plan"

printf 'site: t\nservices:\n  - name: [a\n' > syntax.yaml
expect_exit 2 cr plan check syntax.yaml --no-vault
assert_grep "^syntax\.yaml:[0-9]+:[0-9]+: error: YAML syntax: " "$CR_OUT" "syntax error located"
printf 'a: &a [x, x]\nb: [*a, *a]\n' > bomb.yaml
expect_exit 2 cr plan check bomb.yaml --no-vault
assert_grep "^bomb\.yaml:2:5: error: aliases \(\*a\) are not supported" "$CR_OUT" "aliases refused"
head -c 1100000 /dev/zero | tr '\0' '#' > huge.yaml
expect_exit 2 cr plan check huge.yaml --no-vault
assert_grep "larger than 1048576 bytes" "$CR_ERR" "size limit"
pass "broken plans"

# ------------------------------------------------------------ usage
expect_exit 7 cr plan check nosuch.yaml --no-vault
assert_grep "no plan file nosuch\.yaml" "$CR_ERR" "missing file"
expect_exit 2 cr plan
expect_exit 2 cr plan frobnicate x.yaml
assert_grep "unknown action 'frobnicate'" "$CR_ERR" "unknown action"
expect_exit 2 cr plan check
expect_exit 2 cr plan check a.yaml b.yaml
expect_exit 0 cr plan --help
assert_grep "^usage: cleanroom plan check FILE" "$CR_OUT" "help"
pass "usage"

# ------------------------------------------------------------ with a vault
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
mkdir -p d/etc && printf 'clean\n' > d/etc/conf
expect_exit 0 cr backup --source dpi --time 2026-11-01 d
expect_exit 0 cr backup --source ad --time 2026-11-01 d
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n' > d/etc/evil
expect_exit 0 cr backup --source ad --time 2026-11-02 d
expect_exit 0 cr backup --source pacs --time 2026-11-01 d
expect_exit 0 cr hunt
expect_exit 0 cr backup --source lab --time 2026-11-01 d      # never hunted
expect_exit 0 cr snapshots --json
PACS_ID=$(python3 -c 'import json,sys; print([s["id"] for s in json.load(open(sys.argv[1])) if s["source"]=="pacs"][0])' "$CR_OUT")

cat > good.yaml <<EOF
site: t
services:
  - {name: ad, tier: 0, target: {folder: $SCRATCH/r/ad}, probes: [{kind: tcp, port: 1}]}
  - {name: dpi, tier: 1, depends_on: [ad], target: {folder: $SCRATCH/r/dpi},
     probes: [{kind: tcp, port: 1}]}
EOF
expect_exit 0 cr plan check good.yaml
assert_grep "^vault .*/vault: every service has its restore point$" "$CR_OUT" "vault checked"
expect_exit 0 cr plan check good.yaml --json
assert_grep '"vault_checked": true' "$CR_OUT" "json: vault checked"
expect_exit 0 cr plan show good.yaml --repo "$CLEANROOM_REPO"
assert_grep "^        from clean point [0-9a-f]{8} \(2026-11-01T00:00:00Z\): the newest hunted snapshot before [0-9a-f]{8} \(2026-11-02T00:00:00Z\), the first one holding a finding at or above high" \
    "$CR_OUT" "show: the clean point of ad and why"
assert_grep "^        from clean point [0-9a-f]{8} \(2026-11-01T00:00:00Z\): the newest hunted snapshot; no snapshot holds a finding" \
    "$CR_OUT" "show: the clean point of dpi"

cat > vault.yaml <<EOF
site: t
services:
  - {name: ad, tier: 0, target: {folder: $SCRATCH/r/ad}, probes: [{kind: tcp, port: 1}]}
  - {name: pacs, tier: 1, target: {folder: $SCRATCH/r/pacs}, probes: [{kind: tcp, port: 1}]}
  - {name: lab, tier: 1, target: {folder: $SCRATCH/r/lab}, probes: [{kind: tcp, port: 1}]}
  - {name: files, tier: 1, source: dpl, target: {folder: $SCRATCH/r/f}, probes: [{kind: tcp, port: 1}]}
  - {name: dpi, tier: 1, target: {image: $SCRATCH/r/dpi.qcow2}, probes: [{kind: tcp, port: 1}]}
  - {name: old, tier: 2, source: dpi, restore_point: ${PACS_ID:0:12},
     target: {folder: $SCRATCH/r/old}, probes: [{kind: tcp, port: 1}]}
  - {name: x, tier: 2, source: dpi, restore_point: ffffffff,
     target: {folder: $SCRATCH/r/x}, probes: [{kind: tcp, port: 1}]}
EOF
before=$(cd vault && find . -type f | sort | xargs sha256sum)
expect_exit 2 cr plan check vault.yaml
after=$(cd vault && find . -type f | sort | xargs sha256sum)
[ "$before" = "$after" ] || fail "plan check changed the vault"
assert_grep "^vault\.yaml:4:[0-9]+: error: source 'pacs' has no clean restore point: its first hunted snapshot [0-9a-f]{8} \(2026-11-01T00:00:00Z\) is already compromised \(critical yara:test_eicar on /.*/d/etc/evil\)" \
    "$CR_OUT" "no clean point"
assert_grep "^vault\.yaml:5:[0-9]+: error: source 'lab' was never hunted.*run \`cleanroom hunt\` first" \
    "$CR_OUT" "never hunted"
assert_grep "^vault\.yaml:6:[0-9]+: error: source 'dpl' has no restore point in the vault: did you mean \`dpi\`\?" \
    "$CR_OUT" "missing source"
assert_grep "^vault\.yaml:7:[0-9]+: error: the restore point [0-9a-f]{8} of 'dpi' holds files, not disk images" \
    "$CR_OUT" "kind of snapshot"
assert_grep "^vault\.yaml:8:[0-9]+: error: restore_point ${PACS_ID:0:12} of 'old' is a snapshot of source 'pacs', not of 'dpi'" \
    "$CR_OUT" "snapshot of another source"
assert_grep "^vault\.yaml:10:[0-9]+: error: no snapshot ffffffff in the vault" "$CR_OUT" "unknown id"
grep -q "vault.yaml:3:" "$CR_OUT" && fail "ad has a clean point (its first snapshot)"
expect_exit 2 cr plan show vault.yaml --vault "$CLEANROOM_REPO" --json
python3 - "$CR_OUT" <<'EOF' || fail "show --json with a vault"
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["services"]}
assert s["ad"]["resolved"] and "clean point" in s["ad"]["restore_point_chosen"]
assert not s["lab"]["resolved"] and "never hunted" in s["lab"]["restore_point_error"]
EOF
pass "vault checks"

# --no-vault, and the plan's own vault: key (relative to the plan's folder)
expect_exit 0 cr plan check vault.yaml --no-vault
mkdir sub && sed 's/^site: t$/site: t\nvault: ..\/vault/' vault.yaml > sub/p.yaml
expect_exit 2 env -u CLEANROOM_REPO "$CLEANROOM" plan check sub/p.yaml
assert_grep "source 'lab' was never hunted" "$CR_OUT" "plan's vault used"
expect_exit 3 env CLEANROOM_PASSWORD=wrong "$CLEANROOM" plan check vault.yaml
pass "vault selection"

# max_age: the restore points of 2026-11-01 are older than 26 hours
cat > age.yaml <<EOF
site: t
defaults: {max_age: 26h}
services:
  - {name: ad, tier: 0, target: {folder: $SCRATCH/r/ad}, probes: [{kind: tcp, port: 1}],
     start: a, stop: b}
  - {name: dpi, tier: 1, depends_on: [ad], target: {folder: $SCRATCH/r/dpi},
     max_age: 3650d, probes: [{kind: tcp, port: 1}]}
EOF
expect_exit 0 cr plan check age.yaml
assert_grep "^age\.yaml:4:[0-9]+: warning: the restore point of 'ad' \(snapshot [0-9a-f]{8}, 2026-11-01T00:00:00Z\) is [0-9]+ d [0-9]+ h old, older than its max_age \(1 d 2 h\)" \
    "$CR_OUT" "max_age from defaults"
grep -q "restore point of 'dpi'" "$CR_OUT" && fail "dpi is within its max_age"
pass "max_age"

# ------------------------------------------------------------ directory probes
cat > dir.yaml <<'EOF'
site: test
services:
  - name: dc
    tier: 0
    target: {folder: /srv/dc}
    probes:
      - {kind: dns, host: 10.0.0.10, record: _ldap._tcp.dc._msdcs.h.local, type: SRV, expect: dc1.h.local}
      - {kind: kerberos, host: 10.0.0.10, realm: H.LOCAL, principal: probe, password_env: KRB_PW}
      - {kind: smb, host: 10.0.0.10, user: 'H\probe', password_env: SMB_PW, shares: [SYSVOL, NETLOGON]}
      - {kind: smb, host: 10.0.0.10, shares: SYSVOL}
EOF
expect_exit 0 cr plan check dir.yaml --no-vault
grep -Eq ": (error|warning): .*probe" "$CR_OUT" && { cat "$CR_OUT" >&2; fail "directory probes: good plan refused"; }
cat > dirbad.yaml <<'EOF'
site: test
services:
  - name: dc
    tier: 0
    target: {folder: /srv/dc}
    probes:
      - {kind: dns, host: dc1.h.local, record: "a b", type: MX, realm: H.LOCAL}
      - {kind: dns, host: 10.0.0.10}
      - {kind: kerberos, host: 10.0.0.10, principal: admin@H.LOCAL, shares: [SYSVOL]}
      - {kind: kerberos, realm: H.LOCAL, password: secret}
      - {kind: smb, host: 10.0.0.10, user: 'H\probe', shares: [SYSVOL, "a,b"], record: x}
      - {kind: smb, host: 10.0.0.10, password_env: SMB_PW}
EOF
expect_exit 2 cr plan check dirbad.yaml --no-vault
assert_grep "^dirbad\.yaml:7:27: error: host of a dns probe must be the DNS server's IPv4 address, got 'dc1.h.local'" "$CR_OUT" "dns host"
assert_grep "^dirbad\.yaml:7:48: error: record must be a DNS name" "$CR_OUT" "dns record"
assert_grep "^dirbad\.yaml:7:61: error: type of a dns probe must be A, AAAA or SRV, got 'MX'" "$CR_OUT" "dns type"
assert_grep "^dirbad\.yaml:7:65: error: \`realm\` does not apply to a dns probe \(it is for kerberos probes\)" "$CR_OUT" "realm on dns"
assert_grep "^dirbad\.yaml:8:9: error: a dns probe needs \`record:\`" "$CR_OUT" "dns without record"
assert_grep "^dirbad\.yaml:9:54: error: principal is given without its realm" "$CR_OUT" "principal with realm"
assert_grep "^dirbad\.yaml:9:9: error: a kerberos probe needs \`realm:\`" "$CR_OUT" "kerberos without realm"
assert_grep "^dirbad\.yaml:9:69: error: \`shares\` does not apply to a kerberos probe \(it is for smb probes\)" "$CR_OUT" "shares on kerberos"
assert_grep "^dirbad\.yaml:10:9: error: a kerberos probe needs \`host:\`" "$CR_OUT" "kerberos without host"
assert_grep "^dirbad\.yaml:10:42: error: passwords are never written in a plan" "$CR_OUT" "no password in a plan"
assert_grep "^dirbad\.yaml:11:72: error: shares must be a list of share names .*got .?a,b" "$CR_OUT" "share with a comma"
assert_grep "^dirbad\.yaml:11:44: error: user without password_env" "$CR_OUT" "smb user without password"
assert_grep "^dirbad\.yaml:11:80: error: \`record\` does not apply to a smb probe" "$CR_OUT" "record on smb"
assert_grep "^dirbad\.yaml:12:52: error: password_env without user" "$CR_OUT" "smb password without user"
pass "directory probes: dns, kerberos, smb fields checked with line:column"
