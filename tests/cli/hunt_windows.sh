# The Windows places of docs/hunt.md added with users' COM servers, Startup
# shortcuts, WMI subscriptions, BITS jobs and services' programs, through
# backup, hunt, findings and clean-point on a Windows tree over three days
# (hives by tests/tools/mkhive.py, shortcuts by mklnk.py, the WMI repository
# by mkwmi.py, the BITS queue by mkbits.py):
#   day 1  the baseline: Windows' own WMI subscription, a download in BITS, an
#          agent's Startup shortcut, a user's OneDrive COM server, services;
#   day 2  ordinary life: the classes hive rewritten, an event-log WMI
#          subscription (medium), the shortcut rewritten with the same target,
#          a service's program updated to a new version: nothing at or above high;
#   day 3  the attack: a COM hijack, a command-line WMI consumer, a BITS job
#          running cmd.exe, a shortcut starting PowerShell, a service DLL
#          replaced at the same version: each at high or critical.
# The clean point is day 2.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive
T=$CR_SRC/tests/tools
W=$P/ws
STARTUP="$W/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup"
CLASSES=$W/Users/alice/AppData/Local/Microsoft/Windows/UsrClass.dat
WMI=$W/Windows/System32/wbem/Repository/OBJECTS.DATA
BITS=$W/ProgramData/Microsoft/Network/Downloader/qmgr.db
mkdir -p "$W/Windows/System32/config" "$STARTUP" "$(dirname "$CLASSES")" "$(dirname "$WMI")" \
    "$(dirname "$BITS")"

pe() { # pe FILE VERSION(a.b.c.d, or 0 for none) TAG: a stand-in for a program
    python3 - "$@" <<'PY'
import struct, sys
f, ver, tag = sys.argv[1:]
b = bytearray(1024); b[0:2] = b"MZ"; b[64:64 + len(tag)] = tag.encode()
if ver != "0":
    a = [int(x) for x in ver.split(".")]
    ms, ls = a[0] << 16 | a[1], a[2] << 16 | a[3]
    b[514] = 52
    b[518:550] = "VS_VERSION_INFO\0".encode("utf-16-le")
    b[552:576] = struct.pack("<6I", 0xfeef04bd, 0x10000, ms, ls, ms, ls)
open(f, "wb").write(b)
PY
}
spec() { # spec TOOL OUT JSON
    printf '%s' "$3" >"$P/spec.json"
    python3 "$T/$1" -o "$2" "$P/spec.json" || fail "$1 could not write $2"
}
SCM='{"class": "NTEventLogEventConsumer", "consumer": "SCM Event Log Consumer", "filter": "SCM Event Log Filter", "query": "select * from MSFT_SCMEventLogEvent"}'
WU='{"id": "6a7e4f21-3c0b-4f5e-9d61-0a1b2c3d4e5f", "name": "Windows Update", "sid": "S-1-5-18"}'
OD='"CLSID/{021E4F06-9DCC-49AD-88CF-ECC2DA314C8A}/InprocServer32": {"": "C:\\Users\\alice\\AppData\\Local\\Microsoft\\OneDrive\\FileSyncShell64.dll"}'

python3 "$T/mkhive.py" -o "$W/Windows/System32/config/SYSTEM" --json \
    '{"keys": {"ControlSet001/Services/NetSvc": {"ImagePath": {"expand": "%SystemRoot%\\System32\\svchost.exe -k netsvcs -p"}}, "ControlSet001/Services/NetSvc/Parameters": {"ServiceDll": {"expand": "%SystemRoot%\\System32\\netsvc.dll"}}, "ControlSet001/Services/Svc": {"ImagePath": {"expand": "%SystemRoot%\\System32\\svc.exe"}}}}' ||
    fail "mkhive.py could not write SYSTEM"
pe "$W/Windows/System32/netsvc.dll" 10.0.19041.1 a
pe "$W/Windows/System32/svc.exe" 10.0.19041.1 a
python3 "$T/mkhive.py" -o "$CLASSES" --json "{\"keys\": {$OD}}" || fail "mkhive.py: UsrClass.dat"
spec mkwmi.py "$WMI" "{\"subscriptions\": [$SCM]}"
spec mkbits.py "$BITS" "{\"jobs\": [$WU]}"
python3 "$T/mklnk.py" -o "$STARTUP/Backup agent.lnk" --target 'C:\Program Files\Agent\agent.exe' --args=-tray
expect_exit 0 cr backup --source ws --time 2026-12-01 "$W"

# Day 2: ordinary life.
python3 "$T/mkhive.py" -o "$CLASSES" --json "{\"keys\": {$OD, \"Local Settings/MuiCache/1\": {\"x\": \"y\"}}}" ||
    fail "mkhive.py: UsrClass.dat"
spec mkwmi.py "$WMI" "{\"pages\": 4, \"subscriptions\": [$SCM, {\"class\": \"NTEventLogEventConsumer\", \"consumer\": \"Backup Agent Log\", \"filter\": \"Backup Agent Service\", \"query\": \"select * from __InstanceModificationEvent within 30 where TargetInstance isa 'Win32_Service'\"}]}"
python3 "$T/mklnk.py" -o "$STARTUP/Backup agent.lnk" --target 'C:\Program Files\Agent\agent.exe' --args=-tray --name 'Agent 2.1'
pe "$W/Windows/System32/svc.exe" 10.0.19041.2 b
expect_exit 0 cr backup --source ws --time 2026-12-02 "$W"

# Day 3: the attack.
python3 "$T/mkhive.py" -o "$CLASSES" --json "{\"keys\": {$OD, \"Local Settings/MuiCache/1\": {\"x\": \"y\"}, \"CLSID/{BCDE0395-E52F-467C-8E3D-C4579291692E}/InprocServer32\": {\"\": \"C:\\\\Users\\\\alice\\\\AppData\\\\Roaming\\\\Microsoft\\\\mmdevapi.dll\"}}}" ||
    fail "mkhive.py: UsrClass.dat"
spec mkwmi.py "$WMI" "{\"pages\": 5, \"subscriptions\": [$SCM, {\"class\": \"CommandLineEventConsumer\", \"consumer\": \"Updater\", \"filter\": \"Uptime\", \"query\": \"SELECT * FROM __InstanceModificationEvent WITHIN 60\", \"command\": \"powershell.exe -NoP -W Hidden -enc SQBFAFgA\"}]}"
spec mkbits.py "$BITS" "{\"jobs\": [$WU, {\"id\": \"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\", \"name\": \"Font cache refresh\", \"cmd\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\", \"args\": \"/c C:\\\\ProgramData\\\\fc\\\\fc.exe\", \"sid\": \"S-1-5-18\"}]}"
python3 "$T/mklnk.py" -o "$STARTUP/OneDrive Sync.lnk" --env '%COMSPEC%' --args='/c powershell -w hidden -enc SQBFAFgA'
pe "$W/Windows/System32/netsvc.dll" 10.0.19041.1 evil
expect_exit 0 cr backup --source ws --time 2026-12-03 "$W"
expect_exit 0 cr snapshots --json --source ws
read -r D1 D2 D3 <<<"$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$CR_OUT")"

expect_exit 0 cr hunt --source ws
assert_grep "^  ws: clean restore point ${D2:0:8} .*; first compromised ${D3:0:8}" "$CR_OUT" \
    "the clean point is day 2"
expect_exit 0 cr findings --json --source ws --min-severity info
python3 - "$CR_OUT" "$W" "$D1" "$D2" "$D3" <<'PY' || fail "each Windows place at its severity"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
W, d1, d2, d3 = sys.argv[2:]
rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
bad = 0
for f in F:
    if f["snapshot"] in (d1, d2) and rank[f["severity"]] >= 3:
        print("  ordinary day above medium:", f); bad = 1
def want(path, ind, sev, snap, ev=None):
    global bad
    hit = [f for f in F if f["path"] == W + path and f["indicator"] == ind and f["snapshot"] == snap
           and (ev is None or ev in (f.get("evidence") or ""))]
    if not hit or hit[0]["severity"] != sev:
        print("  expected %s %s %s on %s: %s" % (path, ind, sev, snap[:8], hit or "none")); bad = 1
want("/Users/alice/AppData/Local/Microsoft/Windows/UsrClass.dat", "persistence:com-hijack", "high", d3,
     "{BCDE0395-E52F-467C-8E3D-C4579291692E}")
want("/Windows/System32/wbem/Repository/OBJECTS.DATA", "persistence:wmi-subscription", "critical", d3,
     'CommandLineEventConsumer "Updater"')
want("/Windows/System32/wbem/Repository/OBJECTS.DATA", "persistence:wmi-subscription", "medium", d2,
     '"Backup Agent Log"')
want("/ProgramData/Microsoft/Network/Downloader/qmgr.db", "persistence:bits-job", "critical", d3,
     "Font cache refresh")
want("/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/OneDrive Sync.lnk",
     "persistence:startup-folder", "critical", d3)
want("/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/Backup agent.lnk",
     "persistence:startup-folder", "info", d2)
want("/Windows/System32/netsvc.dll", "package:modified", "critical", d3)
if [f for f in F if f["path"] == W + "/Windows/System32/svc.exe" and rank[f["severity"]] >= 1]:
    print("  a service's program updated to a new version was flagged"); bad = 1
sys.exit(bad)
PY
pass "Windows places: COM servers, shortcuts, WMI, BITS, services' programs"
