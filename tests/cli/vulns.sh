# inventory, vulns, kev import and advisories import on crafted systems:
#   - a Debian 12 tree whose dpkg status holds an old openssh-server (source
#     openssh 1:9.2p1-2+deb12u2) matches CVE-2024-6387 of the shipped Debian
#     data; the same tree at the fixed 1:9.2p1-2+deb12u3 does not;
#   - a Zimbra tree at 8.8.15 Patch 31 matches CVE-2022-37042 (KEV, ransomware
#     Known); the same at Patch 33 does not;
#   - a Windows tree whose SOFTWARE hive lists Exchange 2016 CU19 before the
#     March 2021 update (both Uninstall views, and the build) matches
#     CVE-2021-26855; a later build does not;
#   - kev import refuses a damaged or incomplete catalog (nothing replaced), an
#     older one, and takes a full one; advisories import the same;
#   - the age of the data is printed every time.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
export CLEANROOM_RULES=$CR_SRC/rules
export CLEANROOM_DATA=$SCRATCH/data
P=$(pwd -P)
T=$CR_SRC/tests/tools
expect_exit 0 cr init --kdf interactive

# ---------------------------------------------------------------- Debian
deb_tree() { # deb_tree DIR OPENSSH_VERSION
    mkdir -p "$1/etc" "$1/var/lib/dpkg" "$1/usr/sbin"
    cat > "$1/etc/os-release" <<'OS'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
OS
    cat > "$1/var/lib/dpkg/status" <<ST
Package: openssh-server
Status: install ok installed
Architecture: amd64
Source: openssh
Version: $2
Description: secure shell (SSH) server

Package: coreutils
Status: install ok installed
Architecture: amd64
Version: 9.1-1
Description: GNU core utilities

Package: openssh-client
Status: deinstall ok config-files
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2
Description: removed: not installed

ST
    printf '\177ELF....OpenSSH_9.2p1 Debian-2+deb12u2\0' > "$1/usr/sbin/sshd"
}
deb_tree "$P/deb-old" 1:9.2p1-2+deb12u2
deb_tree "$P/deb-new" 1:9.2p1-2+deb12u3
expect_exit 0 cr backup --source debold --time 2026-12-01 "$P/deb-old"
expect_exit 0 cr backup --source debnew --time 2026-12-01 "$P/deb-new"

expect_exit 0 cr inventory debold:latest
assert_grep '^deb +openssh-server +1:9\.2p1-2\+deb12u2 ' "$CR_OUT" "the dpkg package is listed"
assert_grep 'Debian GNU/Linux 12 \(bookworm\)' "$CR_OUT" "the system is named"
assert_grep '^app +OpenSSH server +9\.2p1 .*/usr/sbin/sshd' "$CR_OUT" "the sshd detector reads the program"
grep -q 'openssh-client' "$CR_OUT" && fail "a package not installed (config-files) is listed"
expect_exit 0 cr inventory debold:latest --json
python3 - "$CR_OUT" <<'PY' || fail "inventory --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["debian_suite"] == "bookworm", j
d = {i["name"]: i for i in j["items"] if i["kind"] == "deb"}
assert d["openssh-server"]["source"] == "openssh", d
assert d["openssh-server"]["source_version"] == "1:9.2p1-2+deb12u2", d
assert d["openssh-server"]["evidence"].endswith("/var/lib/dpkg/status"), d
PY
pass "inventory of a Debian tree"

expect_exit 0 cr vulns debold:latest
assert_grep '^CVE-2024-6387 .* openssh-server 1:9\.2p1-2\+deb12u2 -> fixed 1:9\.2p1-2\+deb12u3' "$CR_OUT" \
    "the old openssh-server matches the tracker's fixed version"
assert_grep '^data: KEV catalog 2026\.12\.07, released 2026-12-07 .*excerpt shipped' "$CR_ERR" "the KEV data's age is printed"
assert_grep '^data: Debian advisories for bookworm of 2026-12-07' "$CR_ERR" "the advisories' age is printed"
expect_exit 0 cr vulns debnew:latest
grep -q 'CVE-2024-6387' "$CR_OUT" && fail "the fixed openssh-server still matches"
assert_grep '^data: KEV catalog' "$CR_ERR" "the data's age is printed when nothing matches"
pass "Debian packages against the tracker's fixed versions"

# ---------------------------------------------------------------- Zimbra
zimbra_tree() { # zimbra_tree DIR PATCH
    mkdir -p "$1/opt/zimbra" "$1/etc"
    cat > "$1/opt/zimbra/.install_history" <<H
1579073452: INSTALLED zimbra-core_8.8.15.1579073452.UBUNTU18.64_amd64.deb
1579073460: INSTALLED zimbra-patch_8.8.15.1579073452.p5-1.u18_amd64.deb
1656405690: UPGRADED zimbra-patch_8.8.15.1656405690.$2-2.u18_amd64.deb
H
}
zimbra_tree "$P/zm-old" p31
zimbra_tree "$P/zm-new" p33
expect_exit 0 cr backup --source zmold --time 2026-12-01 "$P/zm-old"
expect_exit 0 cr backup --source zmnew --time 2026-12-01 "$P/zm-new"
expect_exit 0 cr inventory zmold:latest --kind app
assert_grep '^app +Zimbra Collaboration +8\.8\.15\.p31 .*/opt/zimbra/\.install_history' "$CR_OUT" "Zimbra's patch level"
expect_exit 9 cr vulns zmold:latest --fail-on ransomware
assert_grep '^CVE-2022-37042 +KEV RANSOMWARE Zimbra Collaboration 8\.8\.15\.p31 -> fixed 8\.8\.15\.p33, 9\.0\.0\.p26 \(.*/zm-old/opt/zimbra/\.install_history\)' \
    "$CR_OUT" "Zimbra 8.8.15 P31 matches CVE-2022-37042, ransomware Known"
grep -q uncertain "$CR_OUT" && fail "a version on a known release line is reported uncertain"
expect_exit 0 cr vulns zmold:latest --json
python3 - "$CR_OUT" <<'PY' || fail "vulns --json"
import json, sys
j = json.load(open(sys.argv[1]))
m = [x for x in j["matches"] if x["cve"] == "CVE-2022-37042"]
assert len(m) == 1 and m[0]["kev"] and m[0]["ransomware"] and not m[0]["uncertain"], m
assert m[0]["evidence"].endswith("/zm-old/opt/zimbra/.install_history"), m
assert j["data"]["kev"]["catalog_version"] == "2026.12.07" and not j["data"]["kev"]["imported"], j["data"]
PY
expect_exit 0 cr vulns zmnew:latest --fail-on any
grep -q 'CVE-2022-37042' "$CR_OUT" && fail "Zimbra at the fixed patch level still matches"
pass "Zimbra 8.8.15 P31 matches CVE-2022-37042, P33 does not"

# ---------------------------------------------------------------- Windows
win_tree() { # win_tree DIR EXCHANGE_VERSION UBR
    mkdir -p "$1/Windows/System32/config"
    python3 "$T/mkhive.py" -o "$1/Windows/System32/config/SOFTWARE" --json "{\"keys\": {
      \"Microsoft/Windows NT/CurrentVersion\": {\"ProductName\": \"Windows Server 2016 Standard\", \"CurrentBuild\": \"14393\", \"UBR\": {\"dword\": $3}},
      \"Microsoft/Windows/CurrentVersion/Uninstall/{CD981244-E9B8-405A-9026-6AEB9DCEF1F1}\": {\"DisplayName\": \"Microsoft Exchange Server 2016 Cumulative Update 19\", \"DisplayVersion\": \"$2\", \"Publisher\": \"Microsoft Corporation\"},
      \"Microsoft/Windows/CurrentVersion/Uninstall/7-Zip\": {\"DisplayName\": \"7-Zip 19.00 (x64)\", \"DisplayVersion\": \"19.00\"},
      \"Wow6432Node/Microsoft/Windows/CurrentVersion/Uninstall/Notepad++\": {\"DisplayName\": \"Notepad++ (32-bit x86)\", \"DisplayVersion\": \"7.8.1\"}}}" ||
        fail "mkhive.py could not write SOFTWARE"
}
win_tree "$P/win-old" 15.1.2176.2 4046
win_tree "$P/win-new" 15.1.2176.9 4350
expect_exit 0 cr backup --source exold --time 2026-12-01 "$P/win-old"
expect_exit 0 cr backup --source exnew --time 2026-12-01 "$P/win-new"
expect_exit 0 cr inventory exold:latest
assert_grep 'Windows Server 2016 Standard, build 14393\.4046' "$CR_OUT" "the Windows build (CurrentBuild.UBR)"
assert_grep '^windows +Microsoft Exchange Server 2016 Cumulative Update 19 +15\.1\.2176\.2 ' "$CR_OUT" "Exchange from the Uninstall key"
assert_grep '^windows +Notepad\+\+ \(32-bit x86\) +7\.8\.1 .*Wow6432Node' "$CR_OUT" "the 32-bit view"
assert_grep '^windows +7-Zip 19\.00 \(x64\)' "$CR_OUT" "the 64-bit view"
expect_exit 0 cr vulns exold:latest
assert_grep '^CVE-2021-26855 +KEV RANSOMWARE Microsoft Exchange Server 2016 Cumulative Update 19 15\.1\.2176\.2 -> fixed' \
    "$CR_OUT" "the Exchange of the hive matches ProxyLogon"
expect_exit 0 cr vulns exnew:latest
grep -q 'CVE-2021-26855' "$CR_OUT" && fail "the updated Exchange still matches"
pass "Windows programs of the SOFTWARE hive"

# A damaged hive is a warning, not a failure, and not read in this process.
mkdir -p "$P/win-bad/Windows/System32/config"
head -c 8192 /dev/urandom > "$P/win-bad/Windows/System32/config/SOFTWARE"
expect_exit 0 cr backup --source exbad --time 2026-12-01 "$P/win-bad"
expect_exit 0 cr inventory exbad:latest
assert_grep 'SOFTWARE: the registry hive could not be read' "$CR_ERR" "a damaged hive is a warning"
pass "a damaged hive is a warning"

# ---------------------------------------------------------------- imports
python3 - "$P" <<'PY'
import json, sys
p = sys.argv[1]
base = json.load(open(os_path := __import__("os").environ["CR_SRC"] + "/rules/reconnect/kev.json"))
full = dict(base)
full["catalogVersion"] = "2026.12.20"; full["dateReleased"] = "2026-12-20T17:00:00.000Z"
full["title"] = "CISA Catalog of Known Exploited Vulnerabilities"
extra = dict(base["vulnerabilities"][0]); extra["cveID"] = "CVE-2026-0001"; extra["knownRansomwareCampaignUse"] = "Unknown"
full["vulnerabilities"] = base["vulnerabilities"] + [extra]; full["count"] = len(full["vulnerabilities"])
json.dump(full, open(p + "/kev-full.json", "w"))
bad = dict(full); bad["count"] = 99
json.dump(bad, open(p + "/kev-cut.json", "w"))
old = dict(full); old["dateReleased"] = "2026-01-01T00:00:00.000Z"
json.dump(old, open(p + "/kev-old.json", "w"))
rw = json.loads(json.dumps(full)); rw["vulnerabilities"][0]["knownRansomwareCampaignUse"] = "Maybe"
json.dump(rw, open(p + "/kev-rw.json", "w"))
PY
expect_exit 4 cr kev import "$P/kev-cut.json"
assert_grep 'count' "$CR_ERR" "an incomplete catalog says why"
expect_exit 4 cr kev import "$P/kev-rw.json"
expect_exit 4 cr kev import "$P/deb-old/etc/os-release"
[ -e "$CLEANROOM_DATA/kev.json" ] && fail "a refused catalog was kept"
expect_exit 0 cr kev import "$P/kev-full.json"
assert_grep 'imported: 7 entries' "$CR_OUT" "the import says how many entries"
expect_exit 8 cr kev import "$P/kev-old.json"
expect_exit 0 cr vulns zmold:latest
assert_grep '^data: KEV catalog 2026\.12\.20, released 2026-12-20 .*7 entries$' "$CR_ERR" "the imported catalog is the one used"
assert_grep '^CVE-2022-37042 ' "$CR_OUT" "the imported catalog still holds the Zimbra entry"
pass "kev import"

printf 'VERSION 1\nCVE-2024-6387,,regreSSHion\n\nopenssh,0, HRF,1:9.7p1-7,1:9.2p1-2+deb12u9\n\n' | python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' > "$P/bookworm.z"
printf 'VERSION 1\nCVE-1,,x\n\nopenssh,5, HRF,1,\n\n' > "$P/bad-adv"
expect_exit 4 cr advisories import "$P/bad-adv" --suite bookworm --date 2026-12-21
expect_exit 2 cr advisories import "$P/bookworm.z" --suite '../x' --date 2026-12-21
expect_exit 0 cr advisories import "$P/bookworm.z" --suite bookworm --date 2026-12-21
expect_exit 0 cr vulns debnew:latest
assert_grep '^data: Debian advisories for bookworm of 2026-12-21' "$CR_ERR" "the imported advisories are used"
assert_grep '^CVE-2024-6387 .* -> fixed 1:9\.2p1-2\+deb12u9' "$CR_OUT" "the imported fixed version decides"
pass "advisories import"
