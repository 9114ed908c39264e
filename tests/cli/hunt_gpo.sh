# Group Policy in a domain controller's SYSVOL (issue: Active Directory first),
# on a Samba AD DC's tree (/var/lib/samba/sysvol/<realm>) over three days:
#   day 1  the baseline: the Default Domain Policy's security template (UTF-16,
#          as Windows and Samba write it), an agent's scheduled task, a logon
#          script in NETLOGON: listed (info);
#   day 2  ordinary life: the password policy changed in the template, the
#          logon script edited: nothing at or above high;
#   day 3  the attack: a new GPO with an immediate task running a program
#          dropped in NETLOGON, a member added to the local Administrators
#          group with a stored password (cpassword), a startup script, a Run
#          key, SeDebugPrivilege granted: each at high or critical.
# The clean point is day 2. A malformed policy file is a low finding, never a
# crash, and an XML external entity is not followed.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive
W=$P/dc
SV=$W/var/lib/samba/sysvol/example.lan
DDP="$SV/Policies/{31B2F340-016D-11D2-945F-00C04FB984F9}"
AGENT="$SV/Policies/{6AC1786C-016F-11D2-945F-00C04FB984F9}"
EVIL="$SV/Policies/{9E2A47C1-5B7D-4F0E-8C3A-1D2E3F4A5B6C}"
mkdir -p "$DDP/MACHINE/Microsoft/Windows NT/SecEdit" "$AGENT/Machine/Preferences/ScheduledTasks" \
    "$SV/scripts"

utf16() { # utf16 FILE: stdin as UTF-16LE with its mark, CRLF lines, as Windows writes .inf/.ini
    python3 -c 'import sys; t=sys.stdin.read().replace("\n","\r\n"); open(sys.argv[1],"wb").write(b"\xff\xfe"+t.encode("utf-16-le"))' "$1"
}
template() { # template MINPWAGE EXTRA-RIGHTS
    utf16 "$DDP/MACHINE/Microsoft/Windows NT/SecEdit/GptTmpl.inf" <<T
[Unicode]
Unicode=yes
[System Access]
MinimumPasswordAge = $1
MaximumPasswordAge = 42
[Privilege Rights]
SeBackupPrivilege = *S-1-5-32-544,*S-1-5-32-551
SeRemoteInteractiveLogonRight = *S-1-5-32-544
$2
[Version]
signature="\$CHICAGO\$"
Revision=1
T
}
template 1 ""
cat > "$AGENT/Machine/Preferences/ScheduledTasks/ScheduledTasks.xml" <<'X'
<?xml version="1.0" encoding="utf-8"?>
<ScheduledTasks clsid="{CC63F200-7309-4ba0-B154-A71CD118DBCC}">
  <TaskV2 clsid="{D8896631-B747-47a7-84A6-C155337F3BC8}" name="Agent inventory" image="0" changed="2026-11-30 10:00:00" uid="{A1}">
    <Properties action="C" name="Agent inventory" runAs="NT AUTHORITY\System" logonType="S4U">
      <Task version="1.2"><Actions Context="Author"><Exec><Command>C:\Program Files\Agent\inventory.exe</Command><Arguments>--daily</Arguments></Exec></Actions></Task>
    </Properties>
  </TaskV2>
</ScheduledTasks>
X
printf '@echo off\r\nnet use H: \\\\files\\home\r\n' > "$SV/scripts/logon.bat"
expect_exit 0 cr backup --source dc --time 2026-12-01 "$W"

# Day 2: ordinary life.
template 2 ""
printf '@echo off\r\nnet use H: \\\\files2\\home\r\n' > "$SV/scripts/logon.bat"
expect_exit 0 cr backup --source dc --time 2026-12-02 "$W"

# Day 3: the attack.
mkdir -p "$EVIL/Machine/Preferences/ScheduledTasks" "$EVIL/Machine/Preferences/Groups" \
    "$EVIL/Machine/Preferences/Registry" "$EVIL/Machine/Scripts"
cat > "$EVIL/Machine/Preferences/ScheduledTasks/ScheduledTasks.xml" <<'X'
<?xml version="1.0" encoding="utf-8"?>
<ScheduledTasks clsid="{CC63F200-7309-4ba0-B154-A71CD118DBCC}">
  <ImmediateTaskV2 clsid="{9756B581-76EC-4169-9AFC-0CA8D43ADB5F}" name="Windows Update Check" image="0" changed="2026-12-02 23:10:00" uid="{B2}">
    <Properties action="C" name="Windows Update Check" runAs="NT AUTHORITY\System" logonType="S4U">
      <Task version="1.3"><Actions Context="Author"><Exec><Command>\\example.lan\NETLOGON\wupd.exe</Command><Arguments>-q</Arguments></Exec></Actions></Task>
    </Properties>
  </ImmediateTaskV2>
</ScheduledTasks>
X
cat > "$EVIL/Machine/Preferences/Groups/Groups.xml" <<'X'
<?xml version="1.0" encoding="utf-8"?>
<Groups clsid="{3125E937-EB16-4b4c-9934-544FC6D24D26}">
  <User clsid="{DF5F1855-51E5-4d24-8B1A-D9BDE98BA1D1}" name="svc-backup" image="2" changed="2026-12-02 23:11:00" uid="{C3}">
    <Properties action="U" newName="" fullName="" description="" cpassword="j1Uyj3Vx8TY9LtLZil2uAuZkFQA/4latT76ZwgdHdhw" changeLogon="0" noChange="0" neverExpires="1" acctDisabled="0" userName="svc-backup"/>
  </User>
  <Group clsid="{6D4A79E4-529C-4481-ABD0-F5BD7EA93BA7}" name="Administrators (built-in)" image="2" changed="2026-12-02 23:11:00" uid="{D4}">
    <Properties action="U" newName="" description="" deleteAllUsers="0" deleteAllGroups="0" removeAccounts="0" groupSid="S-1-5-32-544" groupName="Administrators (built-in)">
      <Members><Member name="EXAMPLE\svc-backup" action="ADD" sid=""/></Members>
    </Properties>
  </Group>
</Groups>
X
cat > "$EVIL/Machine/Preferences/Registry/Registry.xml" <<'X'
<?xml version="1.0" encoding="utf-8"?>
<RegistrySettings clsid="{A3CCFC41-DFDB-43a5-8D26-0FE8B954DA51}">
  <Registry clsid="{9CD4B2F4-923D-47f5-A062-E897DD1DAD50}" name="Updater" image="7" changed="2026-12-02 23:12:00" uid="{E5}">
    <Properties action="U" displayDecimal="0" default="0" hive="HKEY_LOCAL_MACHINE" key="SOFTWARE\Microsoft\Windows\CurrentVersion\Run" name="Updater" type="REG_SZ" value="C:\Users\Public\upd.exe"/>
  </Registry>
  <Registry clsid="{9CD4B2F4-923D-47f5-A062-E897DD1DAD50}" name="Wallpaper" image="7" changed="2026-12-02 23:12:00" uid="{E6}">
    <Properties action="U" hive="HKEY_CURRENT_USER" key="Control Panel\Desktop" name="Wallpaper" type="REG_SZ" value="C:\wall.jpg"/>
  </Registry>
</RegistrySettings>
X
utf16 "$EVIL/Machine/Scripts/scripts.ini" <<'T'

[Startup]
0CmdLine=\\example.lan\NETLOGON\s.cmd
0Parameters=/quiet
T
printf 'MZ payload' > "$SV/scripts/wupd.exe"
template 2 "SeDebugPrivilege = *S-1-5-21-1-2-3-1105"
expect_exit 0 cr backup --source dc --time 2026-12-03 "$W"
expect_exit 0 cr snapshots --json --source dc
read -r D1 D2 D3 <<<"$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$CR_OUT")"

expect_exit 0 cr hunt --source dc
assert_grep "^  dc: clean restore point ${D2:0:8} .*; first compromised ${D3:0:8}" "$CR_OUT" \
    "the clean point is day 2"
expect_exit 0 cr findings --json --source dc --min-severity info
[ -n "${CR_TEST_VERBOSE:-}" ] && python3 -c 'import json,sys
for f in json.load(open(sys.argv[1]))["findings"]: print(f["snapshot"][:8], f["severity"], f["indicator"], f.get("evidence"), "|", f.get("detail"))' "$CR_OUT" >&2
python3 - "$CR_OUT" "$SV" "$D1" "$D2" "$D3" <<'PY' || fail "each Group Policy place at its severity"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
SV, d1, d2, d3 = sys.argv[2:]
rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
bad = 0
for f in F:
    if f["snapshot"] in (d1, d2) and rank[f["severity"]] >= 3:
        print("  ordinary day above medium:", f); bad = 1
    if "j1Uyj3Vx8TY9" in json.dumps(f):
        print("  the stored password itself appears in a finding:", f); bad = 1
def want(path, ind, sev, snap, ev=None, text=None):
    global bad
    hit = [f for f in F if f["path"].endswith(path) and f["indicator"] == ind and f["snapshot"] == snap
           and (ev is None or ev in (f.get("evidence") or "")) and (text is None or text in f.get("detail", ""))]
    if not hit or hit[0]["severity"] != sev:
        print("  expected %s %s %s on %s: %s" % (path, ind, sev, snap[:8], hit or "none")); bad = 1
E = "/Policies/{9E2A47C1-5B7D-4F0E-8C3A-1D2E3F4A5B6C}/Machine"
want(E + "/Preferences/ScheduledTasks/ScheduledTasks.xml", "persistence:gpo-task", "critical", d3,
     "Windows Update Check", "wupd.exe -q")
want("/scripts/wupd.exe", "persistence:netlogon", "critical", d3)
want(E + "/Preferences/Groups/Groups.xml", "persistence:gpo-group", "critical", d3, "EXAMPLE\\svc-backup")
want(E + "/Preferences/Groups/Groups.xml", "credential:gpp-password", "critical", d3, None, "svc-backup")
want(E + "/Preferences/Registry/Registry.xml", "persistence:gpo-registry", "critical", d3, "Updater")
want(E + "/Scripts/scripts.ini", "persistence:gpo-script", "high", d3, None, "s.cmd /quiet")
want("/SecEdit/GptTmpl.inf", "persistence:gpo-right", "high", d3, "SeDebugPrivilege")
want("/scripts/logon.bat", "persistence:netlogon", "medium", d2)
want("/ScheduledTasks.xml", "persistence:gpo-task", "info", d1, "Agent inventory", "inventory.exe --daily")
want("/SecEdit/GptTmpl.inf", "persistence:gpo-right", "info", d1, "SeBackupPrivilege")
if [f for f in F if "Wallpaper" in (f.get("evidence") or "")]:
    print("  a registry setting outside the autostart keys was reported"); bad = 1
sys.exit(bad)
PY
pass "Group Policy: tasks, scripts, groups, stored passwords, rights, NETLOGON"

# Hostile policy files: malformed XML is a low finding; an external entity is not read.
mkdir -p "$EVIL/User/Preferences/Drives"
printf '<Drives><Drive name="x"><Properties cpassword=' > "$EVIL/User/Preferences/Drives/Drives.xml"
cat > "$EVIL/User/Preferences/ScheduledTasks.xml" <<X
<?xml version="1.0"?>
<!DOCTYPE s [<!ENTITY x SYSTEM "file://$P/secret.txt">]>
<ScheduledTasks><TaskV2 name="t"><Properties action="C"><Task><Actions><Exec><Command>&x;</Command></Exec></Actions></Task></Properties></TaskV2></ScheduledTasks>
X
mkdir -p "$EVIL/User/Preferences/ScheduledTasks" && mv "$EVIL/User/Preferences/ScheduledTasks.xml" "$EVIL/User/Preferences/ScheduledTasks/"
echo "TOP-SECRET-OF-THE-CLEAN-ROOM" > "$P/secret.txt"
expect_exit 0 cr backup --source dc --time 2026-12-04 "$W"
expect_exit 0 cr hunt --source dc
expect_exit 0 cr findings --json --source dc --snapshot latest --min-severity info
grep -q 'TOP-SECRET' "$CR_OUT" && fail "an XML external entity of a policy file was followed"
python3 - "$CR_OUT" <<'PY' || fail "hostile policy files"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
bad = 0
for name, why in (("Drives/Drives.xml", "malformed XML"), ("ScheduledTasks/ScheduledTasks.xml", "document type")):
    d = [f for f in F if f["path"].endswith(name) and f["indicator"] == "anomaly:bad-hive"]
    if not d or d[0]["severity"] != "low" or why not in d[0].get("detail", ""):
        print("  %s: %s" % (name, d or "no finding")); bad = 1
sys.exit(bad)
PY
pass "hostile policy files"
