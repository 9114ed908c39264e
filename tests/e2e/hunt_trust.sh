#!/bin/bash
# End-to-end: an intruder who controls a real Debian system tries to make the
# hunt vouch for their backdoors through the system's own package database.
#
# A copy of the cached debootstrap tree (tests/debian-tree.sh) is the server
# "deb12", backed up once a day:
#   day 1  as installed                                        (baseline)
#   day 2  real upgrades and installs with the tree's own dpkg (apt, libapt-pkg,
#          tzdata, liblzma5, cron with its conffiles): benign
#   day 3  ExecStartPre= added to apt's apt-daily-upgrade.service AND its md5
#          written into var/lib/dpkg/info/apt.md5sums         (critical)
#   day 4  ExecStartPre= added to apt-daily.service, database untouched
#   day 5  a line appended to apt's /etc/cron.daily/apt-compat (a conffile)
#   day 6  /usr/bin/ls of coreutils replaced, and its md5 rewritten
#   day 7  /usr/bin/cat changed, its md5 rewritten, and the version of coreutils
#          rewritten in status so that it looks like an upgrade
# Asserted: days 1-2 hold nothing at or above high; each attack is found at high
# or critical on its day; the clean point is day 2. HUNT_KEEP=DIR keeps the vault.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"
. "$E2E_DIR/hunt-lib.bash"

e2e_require_root
for t in python3 chroot apt-get md5sum; do
    command -v "$t" >/dev/null || e2e_skip "$t is not installed"
done
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"
codename() { sed -n 's/^VERSION_CODENAME=//p' "$1" 2>/dev/null; }
[ "$(codename /etc/os-release)" = "$(codename "$DEB/etc/os-release")" ] ||
    e2e_skip "apt-get download here gets packages of '$(codename /etc/os-release)', the tree is '$(codename "$DEB/etc/os-release")'"
PKGS=(sensible-utils cron-daemon-common cron libapt-pkg6.0 apt tzdata liblzma5)
hunt_debs "${PKGS[@]}" >/dev/null || e2e_skip "cannot download .deb files from the Debian mirror"

S="$SCRATCH/server"
e2e_log "copying $DEB to the server folder"
cp -a "$DEB" "$S"
rm -f "$S/.cleanroom-complete"
printf '#!/bin/sh\nexit 101\n' >"$S/usr/sbin/policy-rc.d"
chmod 0755 "$S/usr/sbin/policy-rc.d"

declare -a SNAP
backup_day() {
    local d=$1
    e2e_run --json backup --source deb12 --threads 2 --time "$(printf '2026-04-%02dT02:00:00Z' "$d")" "$S"
    e2e_expect_rc 0 "backup of day $d"
    SNAP[d]=$(hunt_json "$OUT" 'j["id"]')
}
# rewrite_sum PKG REL: write the md5 of the file REL of the tree into info/PKG.md5sums
# (the line of REL, with or without the usr/ that usrmerge adds).
rewrite_sum() {
    local sums="$S/var/lib/dpkg/info/$1.md5sums" rel=${2#/} new
    new=$(md5sum <"$S/$rel" | cut -d' ' -f1)
    local short=${rel#usr/}
    sed -i -E "s#^[0-9a-f]{32}  ((usr/)?${short//./\\.})\$#$new  \\1#" "$sums"
    grep -Eq "^$new  (usr/)?${short//./\\.}\$" "$sums" || e2e_fail "could not rewrite $rel in $sums"
}

e2e_init_vault
backup_day 1

for p in sensible-utils cron-daemon-common cron libapt-pkg6.0 apt tzdata liblzma5; do
    hunt_dpkg_install "$S" "$p" || e2e_fail "installing $p into the tree failed"
done
backup_day 2

UNIT_A=/usr/lib/systemd/system/apt-daily-upgrade.service
printf 'ExecStartPre=/var/lib/.cache/dbus-helper\n' >>"$S$UNIT_A"
# The attack only works if the unit is under [Service]; it is the last section of the file.
rewrite_sum apt "$UNIT_A"
backup_day 3

UNIT_B=/usr/lib/systemd/system/apt-daily.service
printf 'ExecStartPre=/var/lib/.cache/dbus-helper\n' >>"$S$UNIT_B"
backup_day 4

CRON=/etc/cron.daily/apt-compat
printf '/var/lib/.cache/dbus-helper >/dev/null 2>&1 &\n' >>"$S$CRON"
backup_day 5

LS=/usr/bin/ls
printf '\n# padding\n' >>"$S$LS"
rewrite_sum coreutils "$LS"
backup_day 6

CAT=/usr/bin/cat
printf '\n# padding\n' >>"$S$CAT"
rewrite_sum coreutils "$CAT"
v=$(sed -n '/^Package: coreutils$/,/^$/s/^Version: //p' "$S/var/lib/dpkg/status")
sed -i "/^Package: coreutils\$/,/^\$/s/^Version: .*/Version: ${v}+deb12u9/" "$S/var/lib/dpkg/status"
grep -q "^Version: ${v}+deb12u9\$" "$S/var/lib/dpkg/status" || e2e_fail "could not rewrite the version of coreutils"
backup_day 7

e2e_run --json hunt --source deb12
e2e_expect_rc 0 "hunt"
ALL="$SCRATCH/findings.json"
hunt_findings "$ALL" --source deb12 --min-severity medium
hunt_py "$ALL" >&2 <<EOF
snaps = "${SNAP[*]}".split()
day = {s: i + 1 for i, s in enumerate(snaps)}
for f in items(j[0]):
    if f.get("first_seen") == f.get("snapshot"):
        print("  [day %s] %s" % (day.get(f["snapshot"], "?"), show(f)))
EOF
if ! hunt_py "$ALL" >&2 <<EOF; then
snaps = "${SNAP[*]}".split()
S = "$S"
F = items(j[0])
ok = True
def fail(m):
    global ok
    print("  " + m)
    ok = False
for f in F:
    if f["snapshot"] in snaps[:2] and sev(f) >= 3:
        fail("FALSE POSITIVE on day %d: %s" % (snaps.index(f["snapshot"]) + 1, show(f)))
def found(d, path, ind=None):
    return [f for f in F if f["snapshot"] == snaps[d - 1] and f["path"] == S + path
            and f["first_seen"] == snaps[d - 1] and sev(f) >= 3
            and (ind is None or f["indicator"] == ind)]
if not [f for f in found(3, "$UNIT_A") if sev(f) == 4]:
    fail("day 3: the unit whose md5 was rewritten is not critical")
if not [f for f in found(3, "/var/lib/dpkg/info/apt.md5sums", "package:database-tampered") if sev(f) == 4]:
    fail("day 3: the rewritten apt.md5sums is not critical")
if not found(4, "$UNIT_B"):
    fail("day 4: the changed unit is not found at high or above")
if not found(5, "$CRON"):
    fail("day 5: the cron.daily line is not found at high or above")
if not [f for f in found(6, "$LS") if sev(f) == 4]:
    fail("day 6: the replaced /usr/bin/ls is not critical")
if not [f for f in found(7, "$CAT") if sev(f) == 4]:
    fail("day 7: /usr/bin/cat, changed under a rewritten version, is not critical")
for f in F:
    if f["indicator"] == "package:version-rewritten" and f["snapshot"] != snaps[6]:
        fail("a real upgrade was taken for a rewritten version: " + show(f))
sys.exit(0 if ok else 1)
EOF
    e2e_fail_later "the attacks were not all found on their day, or clean days hold findings (above)"
fi
e2e_run clean-point --source deb12
e2e_expect_rc 0 "clean-point"
grep -q "^deb12: clean restore point ${SNAP[2]:0:8} .*; first compromised ${SNAP[3]:0:8}" "$OUT" ||
    { e2e_show; e2e_fail_later "the clean point is not day 2"; }
if [ -n "${HUNT_KEEP:-}" ]; then
    rm -rf "$HUNT_KEEP" && cp -a "$REPO" "$HUNT_KEEP" && e2e_log "vault kept in $HUNT_KEEP"
fi
e2e_pass
