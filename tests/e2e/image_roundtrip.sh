#!/bin/bash
# End-to-end: the disk image of a Debian VM through every format, both ways.
#
# The cached debootstrap tree (tests/debian-tree.sh) is put in an ext4 root
# partition of a 1.5 GiB sparse GPT disk (p1 = EFI system partition, FAT;
# p2 = ext4, see tests/image-lib.bash), and converted by qemu-img to qcow2,
# VMDK (streamOptimized), VHDX and VHD. Asserted:
#   - each of the five files backed up as its own source: the 2nd..5th add
#     (almost) nothing to the vault: the same disk gives the same chunks,
#     whatever the container format;
#   - every snapshot restored into every format (raw, qcow2, vmdk, vmdk-flat,
#     vhdx, vhd) is identical to the original disk (qemu-img compare);
#   - `ls SNAP /disk0/p2/etc` lists the files of the tree's /etc;
#   - `restore --include /disk0/p2/etc --include /disk0/p2/usr/bin` gives the
#     tree's files back: content, type, link targets, modes, owners, mtimes;
#   - a clone (the raw disk with a few files added by debugfs) backed up as
#     another source "vm2" adds less than 10% of what the first backup stored;
#   - the next day of the same VM (files added and changed by debugfs) adds
#     little, `diff` shows the changed files under /disk0/p2 and nothing under
#     /disk0/p1 (the untouched EFI partition keeps its tree).
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"
. "$CR_SRC/tests/image-lib.bash"

e2e_require_root
img_need qemu-img sgdisk mkfs.ext4 mkfs.vfat mcopy debugfs python3
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"

MiB=1048576
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# --- the disk and its copies in the other formats
D="$SCRATCH/disks"
mkdir -p "$D"
RAW="$D/vm1.raw"
e2e_log "building $RAW (1.5 GiB GPT: EFI + ext4 of $DEB)"
mk_ext4_gpt_image "$RAW" "$DEB" 1536M || e2e_fail "could not build the disk image"
P2=$IMG_P2_OFF
e2e_log "disk: $(mib "$(stat -c %s "$RAW")") virtual, $(mib "$(img_alloc "$RAW")") allocated; ext4 at byte $P2"
declare -A SRCIMG=([raw]="$RAW")
for f in qcow2 vmdk vhdx vhd; do
    SRCIMG[$f]="$D/vm1.$f"
    img_convert "$RAW" "${SRCIMG[$f]}" "$f" || e2e_fail "qemu-img could not make the $f copy"
    qemu-img compare -q -f raw "$RAW" "${SRCIMG[$f]}" || e2e_fail "qemu-img's own $f copy differs from the raw disk"
done

e2e_init_vault

# --- one backup per format, each its own source
declare -A SNAP NEW
for f in raw qcow2 vmdk vhdx vhd; do
    before=$(du -sb "$REPO" | cut -f1)
    e2e_run backup --json --source "vm-$f" --time 2026-05-01T02:00:00Z --image "${SRCIMG[$f]}"
    e2e_expect_rc 0 "backup --image of the $f disk"
    SNAP[$f]=$(e2e_backup_id)
    NEW[$f]=$(e2e_json_get "$OUT" 'j["bytes_new"]')
    grow=$(($(du -sb "$REPO" | cut -f1) - before))
    e2e_log "backup of the $f disk: snapshot ${SNAP[$f]:0:8}, bytes_new $(mib "${NEW[$f]}"), vault grew $(mib "$grow")"
    cp "$OUT" "$SCRATCH/backup-$f.json"
    if [ "$f" = raw ]; then
        FIRST_GROW=$grow
        # The snapshot says what it is.
        e2e_json_get "$OUT" 'j.get("kind")' | grep -qx image ||
            e2e_fail_later "snapshot JSON of an image backup has no \"kind\": \"image\""
        [ "${NEW[raw]}" -gt $((50 * MiB)) ] ||
            e2e_fail_later "first image backup stored only $(mib "${NEW[raw]}"): the ext4 data is missing"
    else
        # The same disk in another container: same chunks, nothing new but
        # the snapshot's own small trees.
        [ "${NEW[$f]}" -le $((${NEW[raw]} / 100 + MiB)) ] ||
            e2e_fail_later "backup of the $f copy added $(mib "${NEW[$f]}") (first: $(mib "${NEW[raw]}")): the same disk should give the same chunks"
        [ "$grow" -le $((FIRST_GROW / 50 + 2 * MiB)) ] ||
            e2e_fail_later "the vault grew by $(mib "$grow") for the $f copy (first: $(mib "$FIRST_GROW"))"
    fi
done
e2e_ok snapshots --json
cp "$OUT" "$SCRATCH/snapshots.json"
python3 - "$SCRATCH/snapshots.json" "$(stat -c %s "$RAW")" >&2 <<'EOF' || e2e_fail_later "snapshots --json does not describe the disks (above)"
import json, sys
snaps, size = json.load(open(sys.argv[1])), int(sys.argv[2])
err = []
for s in snaps:
    disks = s.get("disks") or []
    if s.get("kind") != "image" or len(disks) != 1:
        err.append("%s: kind %r, %d disks" % (s.get("source"), s.get("kind"), len(disks)))
        continue
    d = disks[0]
    if int(d.get("virtual_size", 0)) != size:
        err.append("%s: virtual_size %s, the disk has %d" % (s["source"], d.get("virtual_size"), size))
    vols = {v.get("name"): v for v in d.get("volumes") or []}
    if str((vols.get("p2") or {}).get("fs_type", "")).lower() not in ("ext4", "ext"):
        err.append("%s: p2 is not an ext4 volume: %r" % (s["source"], vols.get("p2")))
    if "fat" not in str((vols.get("p1") or {}).get("fs_type", "")).lower():
        err.append("%s: p1 is not a FAT volume: %r" % (s["source"], vols.get("p1")))
for e in err:
    print("  snapshots --json: " + e)
sys.exit(1 if err else 0)
EOF

# --- every snapshot into every format, compared with the original disk
R="$SCRATCH/restored"
for f in raw qcow2 vmdk vhdx vhd; do
    for out in raw qcow2 vmdk vmdk-flat vhdx vhd; do
        rm -rf "$R" && mkdir -p "$R"
        o="$R/disk.$out"
        e2e_run restore "${SNAP[$f]}" --image "$o" --format "$out"
        if [ "$RC" -ne 0 ]; then
            e2e_show
            e2e_fail_later "restore --image --format $out of the $f snapshot exited $RC"
            continue
        fi
        [ -f "$o" ] || { e2e_fail_later "restore --format $out of the $f snapshot made no $o"; continue; }
        if ! qemu-img compare -f raw "$RAW" "$o" >"$SCRATCH/compare.log" 2>&1; then
            sed 's/^/  /' "$SCRATCH/compare.log" | head -n 5 >&2
            e2e_fail_later "the $f snapshot restored as $out differs from the original disk"
        fi
        # A sparse disk comes back sparse (holes kept, not 1.5 GiB of zeros).
        if [ "$out" = raw ] && [ "$(img_alloc "$o")" -gt $(($(img_alloc "$RAW") + 64 * MiB)) ]; then
            e2e_fail_later "restored raw disk occupies $(mib "$(img_alloc "$o")"), the original $(mib "$(img_alloc "$RAW")"): holes not kept"
        fi
    done
    e2e_log "snapshot of the $f disk restored into raw, qcow2, vmdk, vmdk-flat, vhdx, vhd and compared"
done
rm -rf "$R"

# --- files inside the disk
S1=${SNAP[raw]}
e2e_ok ls "$S1" /disk0/p2/etc
sed 's|.*/||' "$OUT" | LC_ALL=C sort >"$SCRATCH/ls-etc"
(cd "$DEB/etc" && ls -A) | LC_ALL=C sort >"$SCRATCH/src-etc"
if ! cmp -s "$SCRATCH/ls-etc" "$SCRATCH/src-etc"; then
    diff "$SCRATCH/src-etc" "$SCRATCH/ls-etc" | head -n 10 >&2
    e2e_fail_later "ls $S1 /disk0/p2/etc does not list the files of the tree's /etc (diff above: < tree, > ls)"
fi
grep -qx '/disk0/p2/etc/passwd' "$OUT" || e2e_fail_later "ls does not print full paths like /disk0/p2/etc/passwd"
e2e_ok ls "$S1" /disk0/p1/EFI/BOOT
grep -q 'BOOTX64.EFI' "$OUT" || { e2e_show; e2e_fail_later "ls of the EFI partition does not show EFI/BOOT/BOOTX64.EFI"; }

FR="$SCRATCH/files"
e2e_ok restore "$S1" --target "$FR" --include /disk0/p2/etc --include /disk0/p2/usr/bin
for p in etc usr/bin; do
    [ -d "$FR/disk0/p2/$p" ] || { e2e_fail_later "restore --include /disk0/p2/$p: no $FR/disk0/p2/$p"; continue; }
    img_tree_compare "$DEB/$p" "$FR/disk0/p2/$p" --meta >&2 ||
        e2e_fail_later "files restored from /disk0/p2/$p differ from the tree's /$p (above)"
done
[ ! -e "$FR/disk0/p2/var" ] || e2e_fail_later "restore --include restored /disk0/p2/var too"
rm -rf "$FR"

# --- a clone of the VM: the same disk with a few files added
CLONE="$D/vm2.raw"
cp --sparse=always "$RAW" "$CLONE"
head -c $((3 * MiB)) /dev/urandom >"$SCRATCH/blob"
printf 'vm2\n' >"$SCRATCH/hostname"
img_ext4_put "$CLONE" "$P2" "$SCRATCH/blob" /srv/app/data.bin 640 || e2e_fail "debugfs could not change the clone"
img_ext4_put "$CLONE" "$P2" "$SCRATCH/hostname" /etc/hostname 644 || e2e_fail "debugfs could not change the clone"
e2e_run backup --json --source vm2 --time 2026-05-01T02:00:00Z --image "$CLONE"
e2e_expect_rc 0 "backup --image of the clone"
NEW_CLONE=$(e2e_json_get "$OUT" 'j["bytes_new"]')
pct=$(awk -v n="$NEW_CLONE" -v f="${NEW[raw]}" 'BEGIN { printf "%.1f", 100 * n / f }')
e2e_log "clone vm2: bytes_new $(mib "$NEW_CLONE") = $pct% of the first backup's $(mib "${NEW[raw]}") (3 MiB of random data added)"
[ "$NEW_CLONE" -lt $((${NEW[raw]} / 10)) ] ||
    e2e_fail_later "the clone added $(mib "$NEW_CLONE"), not < 10% of the first backup ($(mib "${NEW[raw]}"))"
e2e_ok ls "$(e2e_backup_id)" /disk0/p2/srv/app
grep -q '/disk0/p2/srv/app/data.bin' "$OUT" || e2e_fail_later "ls of the clone does not show the added file"

# --- the next day of vm1
printf 'day 2 log line\n%.0s' $(seq 1 2000) >"$SCRATCH/log"
printf 'Welcome (day 2)\n' >"$SCRATCH/motd"
img_ext4_put "$RAW" "$P2" "$SCRATCH/log" /var/log/app.log 640 || e2e_fail "debugfs could not change vm1"
img_ext4_put "$RAW" "$P2" "$SCRATCH/motd" /etc/motd 644 || e2e_fail "debugfs could not change vm1"
e2e_run backup --json --source vm-raw --time 2026-05-02T02:00:00Z --image "$RAW"
e2e_expect_rc 0 "backup --image of vm1, day 2"
DAY2=$(e2e_backup_id)
NEW_DAY2=$(e2e_json_get "$OUT" 'j["bytes_new"]')
e2e_log "vm1 day 2: bytes_new $(mib "$NEW_DAY2") ($(awk -v n="$NEW_DAY2" -v f="${NEW[raw]}" 'BEGIN { printf "%.1f", 100 * n / f }')% of day 1)"
[ "$NEW_DAY2" -lt $((${NEW[raw]} / 10)) ] ||
    e2e_fail_later "day 2 added $(mib "$NEW_DAY2"), not < 10% of day 1 ($(mib "${NEW[raw]}"))"
e2e_ok diff "$S1" "$DAY2"
cp "$OUT" "$SCRATCH/diff-day2"
grep -q '/disk0/p2/etc/motd' "$SCRATCH/diff-day2" || { e2e_show; e2e_fail_later "diff day 1 / day 2 does not show /disk0/p2/etc/motd"; }
grep -q '/disk0/p2/var/log/app.log' "$SCRATCH/diff-day2" || e2e_fail_later "diff day 1 / day 2 does not show /disk0/p2/var/log/app.log"
if grep -q '/disk0/p1' "$SCRATCH/diff-day2"; then
    grep '/disk0/p1' "$SCRATCH/diff-day2" | head -n 5 >&2
    e2e_fail_later "diff shows changes in the untouched EFI partition /disk0/p1 (above)"
fi
e2e_ok ls "$DAY2" /disk0/p2/etc/motd
e2e_ok restore "$DAY2" --target "$SCRATCH/day2" --include /disk0/p2/etc/motd
cmp -s "$SCRATCH/motd" "$SCRATCH/day2/disk0/p2/etc/motd" || e2e_fail_later "restored /etc/motd of day 2 is not the one written"

e2e_ok verify
e2e_pass
