#!/bin/bash
# End-to-end: a Windows-like disk (MBR; p1 NTFS, p2 FAT32) backed up as an
# image, its files listed and restored one by one.
#
# tests/image-lib.bash (mk_ntfs_image) builds a 256 MiB disk with mkntfs and
# mkfs.vfat and fills it: small files that NTFS keeps resident in the MFT
# record (Windows/System32/drivers/etc/hosts), a 3 MiB and a 6 MiB file in
# cluster runs, a binary, an all-zero file, a non-ASCII name; long names and a
# 2 MiB file on FAT. Asserted: the backup reads both filesystems (snapshot
# JSON: p1 ntfs, p2 fat), `ls` lists the Windows folders, a file restore of
# /disk0/p1 and /disk0/p2 gives back every original file byte for byte, a
# single file with a non-ASCII name can be restored alone, the disk restored
# as raw is identical to the original, an unchanged re-backup adds nothing,
# and --no-files stores the disk without its file views.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/image-lib.bash"

img_need qemu-img mkntfs ntfscp mkfs.vfat mcopy python3

IMG="$SCRATCH/win.raw"
TREE="$SCRATCH/tree"
e2e_log "building $IMG (MBR: NTFS + FAT32)"
mk_ntfs_image "$IMG" 256M "$TREE" || e2e_fail "could not build the NTFS disk"
[ "$IMG_NTFS_FLAT" = 1 ] && e2e_log "no FUSE mount here: the NTFS files were put in its root folder (ntfscp)"

e2e_init_vault
e2e_run backup --json --source win01 --time 2026-05-01T02:00:00Z --image "$IMG" \
    --vm-os windows --vm-firmware bios
e2e_expect_rc 0 "backup --image of the NTFS disk"
S1=$(e2e_backup_id)
NEW1=$(e2e_json_get "$OUT" 'j["bytes_new"]')
cp "$OUT" "$SCRATCH/backup.json"
python3 - "$SCRATCH/backup.json" >&2 <<'EOF' || e2e_fail_later "the snapshot does not describe the NTFS and FAT volumes (above)"
import json, sys
s = json.load(open(sys.argv[1]))
d = (s.get("disks") or [{}])[0]
vols = {v.get("name"): v for v in d.get("volumes") or []}
err = []
if str(d.get("partition_table", "")).lower() not in ("dos", "mbr"):
    err.append("partition_table %r, expected dos" % d.get("partition_table"))
if str((vols.get("p1") or {}).get("fs_type", "")).lower() != "ntfs":
    err.append("p1: %r, expected an ntfs volume" % vols.get("p1"))
if "fat" not in str((vols.get("p2") or {}).get("fs_type", "")).lower():
    err.append("p2: %r, expected a fat volume" % vols.get("p2"))
for v in vols.values():
    if v.get("error"):
        err.append("volume %s: error %r" % (v.get("name"), v["error"]))
for e in err:
    print("  " + e)
sys.exit(1 if err else 0)
EOF

# --- ls
if [ "$IMG_NTFS_FLAT" = 1 ]; then
    e2e_ok ls "$S1" /disk0/p1
    grep -q 'Windows_System32_drivers_etc_hosts' "$OUT" || { e2e_show; e2e_fail_later "ls /disk0/p1 does not list the hosts file"; }
else
    e2e_ok ls "$S1" /disk0/p1/Windows/System32/drivers/etc
    grep -qx '/disk0/p1/Windows/System32/drivers/etc/hosts' "$OUT" ||
        { e2e_show; e2e_fail_later "ls /disk0/p1/Windows/System32/drivers/etc does not list hosts"; }
    e2e_ok ls -l "$S1" /disk0/p1/Users/Public/Pictures
    grep -q ' 6291458 .*scan-0001.bmp' "$OUT" || { e2e_show; e2e_fail_later "ls -l does not show scan-0001.bmp with its size 6291458"; }
fi
e2e_ok ls "$S1" /disk0/p2/BACKUP
grep -qx '/disk0/p2/BACKUP/BIG.BIN' "$OUT" || { e2e_show; e2e_fail_later "ls /disk0/p2/BACKUP does not list BIG.BIN"; }

# --- file restore of both filesystems, compared with the originals
FR="$SCRATCH/files"
e2e_ok restore "$S1" --target "$FR" --include /disk0/p1 --include /disk0/p2
img_tree_compare "$TREE/ntfs" "$FR/disk0/p1" >&2 || e2e_fail_later "files restored from NTFS differ (above)"
img_tree_compare "$TREE/fat" "$FR/disk0/p2" >&2 || e2e_fail_later "files restored from FAT differ (above)"
e2e_log "top of the restored NTFS volume: $(cd "$FR/disk0/p1" && ls -A | tr '\n' ' ')"

# One file alone, by its non-ASCII name.
NAME="Users/Public/Documents/résumé 日本.txt"
[ "$IMG_NTFS_FLAT" = 1 ] && NAME=${NAME//\//_}
e2e_ok restore "$S1" --target "$SCRATCH/one" --include "/disk0/p1/$NAME"
cmp -s "$TREE/ntfs/$NAME" "$SCRATCH/one/disk0/p1/$NAME" || e2e_fail_later "single file restore of /disk0/p1/$NAME differs"
[ "$(find "$SCRATCH/one" -type f | wc -l)" -eq 1 ] || e2e_fail_later "restore --include of one file restored $(find "$SCRATCH/one" -type f | wc -l) files"

# --- the whole disk
e2e_ok restore "$S1" --image "$SCRATCH/win-restored.raw"
qemu-img compare -q -f raw "$IMG" "$SCRATCH/win-restored.raw" || e2e_fail_later "the restored disk differs from the original"
rm -f "$SCRATCH/win-restored.raw"

# --- unchanged re-backup, then disks only
e2e_run backup --json --source win01 --time 2026-05-02T02:00:00Z --image "$IMG"
e2e_expect_rc 0 "second backup of the unchanged disk"
NEW2=$(e2e_json_get "$OUT" 'j["bytes_new"]')
e2e_log "bytes_new: first $NEW1, unchanged re-backup $NEW2"
[ "$NEW2" -le $((NEW1 / 100 + 65536)) ] || e2e_fail_later "the unchanged disk added $NEW2 bytes again (first: $NEW1)"

e2e_run backup --json --source win01-disk --no-files --image "$IMG"
e2e_expect_rc 0 "backup --no-files"
e2e_ok ls "$(e2e_backup_id)" /disk0
grep -qx '/disk0/image' "$OUT" || { e2e_show; e2e_fail_later "ls /disk0 of a --no-files snapshot does not show /disk0/image"; }
! grep -q '/disk0/p1' "$OUT" || e2e_fail_later "a --no-files snapshot lists the files of p1"

e2e_ok verify --read-data
e2e_pass
