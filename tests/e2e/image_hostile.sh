#!/bin/bash
# End-to-end: damaged, truncated and lying disk images through the command.
#
# A small GPT disk (EFI FAT + ext4 of a generated tree, tests/image-lib.bash)
# is converted with qemu-img and then damaged on purpose:
#   qcow2-truncated   a qcow2 cut in the middle of its data
#   qcow2-l1          a qcow2 whose L1 table offset (header byte 40) points
#                     1 TiB past the end of the file
#   vhdx-regions      a VHDX whose two region tables (64 KiB at 192 KiB and
#                     256 KiB, signature "regi") are overwritten
#   vhd-checksum      a dynamic VHD whose footer checksum (and its copy at the
#                     start) is wrong
#   vmdk-missing      a VMDK descriptor (monolithicFlat) whose extent file is gone
#   missing           an image path that does not exist
# Each must fail with a clear message naming the image (exit 1, 2 or 7 per
# docs/exit-codes.md; a qcow2 cut short may instead be saved as partial, exit
# 5, with its errors counted), within a time limit (no hang), without a
# crash, without a new snapshot when it failed, and with the vault still
# passing `verify`. Two lying images whose disk is readable are saved as
# partial (exit 5), their disk intact:
#   ext4-nosuper      the ext4's superblock zeroed: p2 reported unreadable,
#                     the disk restored identical, p1 (FAT) still listed
#   gpt-beyond        a GPT (valid CRCs) whose partition 2 ends 1 GiB past the
#                     end of the disk (may also be saved with a warning, exit 0,
#                     or refused; it must be said)
# And restore's own refusals: an existing output file, an unknown format, a
# file snapshot restored as an image.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/image-lib.bash"

img_need qemu-img sgdisk mkfs.ext4 mkfs.vfat mcopy python3 timeout
LIMIT=${IMAGE_HOSTILE_LIMIT:-120}

# A tree with a bit of everything, no root needed.
T="$SCRATCH/tree"
mkdir -p "$T/etc" "$T/usr/bin" "$T/srv/data"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$T/etc/passwd"
printf 'web01\n' >"$T/etc/hostname"
cp /bin/ls "$T/usr/bin/ls"
head -c $((3 * 1048576)) /dev/urandom >"$T/srv/data/blob.bin"
ln -s ../usr/bin/ls "$T/etc/ls-link"

D="$SCRATCH/disks"
mkdir -p "$D"
RAW="$D/base.raw"
mk_ext4_gpt_image "$RAW" "$T" 96M || e2e_fail "could not build the disk image"
P2=$IMG_P2_OFF

e2e_init_vault
e2e_ok backup --source good --image "$RAW"

# crun ARGS...: like e2e_run, with a time limit.
crun() {
    RC=0
    timeout -k 10 "$LIMIT" "$CLEANROOM" --repo "$REPO" "$@" >"$OUT" 2>"$ERR" || RC=$?
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        e2e_show
        e2e_fail "'cleanroom $*' did not finish within $LIMIT s (hang?)"
    fi
    if [ "$RC" -gt 128 ]; then
        e2e_show
        e2e_fail "'cleanroom $*' crashed (exit $RC)"
    fi
    if grep -qE 'AddressSanitizer|runtime error:|Segmentation|core dumped' "$ERR"; then
        e2e_show
        e2e_fail "'cleanroom $*': sanitizer or crash report on stderr"
    fi
}

nsnap() { "$CLEANROOM" --repo "$REPO" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# refused CASE IMAGE CODES...: the backup of IMAGE must exit with one of
# CODES and name the image in a message on stderr (error or warning). A failed
# backup leaves no new snapshot; exit 5 (or 0, where CODES allow it: the disk
# is complete) leaves one, with its errors counted for 5.
refused() {
    local c=$1 img=$2 before ok=0 code
    shift 2
    before=$(nsnap)
    crun backup --json --source "hostile-$c" --image "$img"
    # What the checks after the call look at (verify overwrites $OUT, $ERR, $RC).
    LAST_RC=$RC
    cp "$OUT" "$SCRATCH/last.out"
    cp "$ERR" "$SCRATCH/last.err"
    for code in "$@"; do [ "$RC" -eq "$code" ] && ok=1; done
    if [ "$ok" -ne 1 ]; then
        e2e_show
        e2e_fail_later "$c: backup exited $RC, expected one of: $*"
        return
    fi
    if ! grep -qF "$(basename "$img")" "$ERR"; then
        e2e_show
        e2e_fail_later "$c: the message does not name the image $(basename "$img")"
    fi
    if [ "$RC" -eq 0 ] || [ "$RC" -eq 5 ]; then
        [ "$(nsnap)" -eq $((before + 1)) ] || e2e_fail_later "$c: exit $RC but no snapshot saved"
        [ "$RC" -eq 0 ] || [ "$(e2e_json_get "$OUT" 'j["errors"]')" -gt 0 ] ||
            e2e_fail_later "$c: exit 5 but the snapshot records no error"
    else
        [ "$(nsnap)" -eq "$before" ] || e2e_fail_later "$c: the failed backup left a new snapshot"
    fi
    e2e_log "$c: exit $RC: $(grep -m1 -i 'error\|warning' "$ERR" || head -n1 "$ERR")"
    crun verify
    [ "$RC" -eq 0 ] || { e2e_show; e2e_fail_later "$c: verify of the vault failed after the backup (exit $RC)"; }
}

# --- qcow2 cut in the middle
Q="$D/base.qcow2"
img_convert "$RAW" "$Q" qcow2 || e2e_fail "qemu-img convert to qcow2 failed"
cp "$Q" "$D/truncated.qcow2"
truncate -s $(($(stat -c %s "$Q") / 2)) "$D/truncated.qcow2"
refused qcow2-truncated "$D/truncated.qcow2" 1 2 5

# --- qcow2 whose L1 table lies past the end (big-endian u64 at byte 40)
cp "$Q" "$D/l1.qcow2"
printf '\x00\x00\x01\x00\x00\x00\x00\x00' | dd of="$D/l1.qcow2" bs=1 seek=40 conv=notrunc status=none
refused qcow2-l1 "$D/l1.qcow2" 1 2

# --- VHDX with both region tables damaged
img_convert "$RAW" "$D/regions.vhdx" vhdx || e2e_fail "qemu-img convert to vhdx failed"
for off in 196608 262144; do
    [ "$(dd if="$D/regions.vhdx" bs=1 skip="$off" count=4 status=none)" = regi ] ||
        e2e_fail "no VHDX region table at $off: the test's idea of the format is wrong"
    head -c 65536 /dev/urandom | dd of="$D/regions.vhdx" bs=1024 seek=$((off / 1024)) conv=notrunc status=none
done
refused vhdx-regions "$D/regions.vhdx" 1 2

# --- VHD with a wrong footer checksum (bytes 64..67 of the footer and of its copy at 0)
img_convert "$RAW" "$D/checksum.vhd" vhd || e2e_fail "qemu-img convert to vhd failed"
foot=$(($(stat -c %s "$D/checksum.vhd") - 512))
[ "$(dd if="$D/checksum.vhd" bs=1 skip="$foot" count=8 status=none)" = conectix ] ||
    e2e_fail "no VHD footer at the end: the test's idea of the format is wrong"
for off in 0 "$foot"; do
    printf '\xde\xad\xbe\xef' | dd of="$D/checksum.vhd" bs=1 seek=$((off + 64)) conv=notrunc status=none
done
refused vhd-checksum "$D/checksum.vhd" 1 2

# --- VMDK descriptor whose extent file is missing
img_convert "$RAW" "$D/missing.vmdk" vmdk-flat || e2e_fail "qemu-img convert to a flat vmdk failed"
extent=$(sed -n 's/^RW [0-9]* FLAT "\(.*\)" 0$/\1/p' "$D/missing.vmdk")
[ -n "$extent" ] && [ -f "$D/$extent" ] || e2e_fail "no extent named in $D/missing.vmdk"
rm "$D/$extent"
refused vmdk-missing "$D/missing.vmdk" 1 2 7
grep -qF "$extent" "$SCRATCH/last.err" || e2e_fail_later "vmdk-missing: the message does not name the missing extent $extent"

# --- an image that does not exist
refused missing "$D/no-such-disk.qcow2" 7

# --- ext4 with its superblock zeroed: the disk is saved, p2 reported
cp --sparse=always "$RAW" "$D/nosuper.raw"
dd if=/dev/zero of="$D/nosuper.raw" bs=1024 seek=$((P2 / 1024 + 1)) count=1 conv=notrunc status=none
refused ext4-nosuper "$D/nosuper.raw" 5
if [ "$LAST_RC" -eq 5 ]; then
    S=$(e2e_json_get "$SCRATCH/last.out" 'j["id"]')
    grep -qE 'p2' "$SCRATCH/last.err" || e2e_fail_later "ext4-nosuper: the warning does not name the partition (p2)"
    python3 - "$SCRATCH/last.out" >&2 <<'EOF' || e2e_fail_later "ext4-nosuper: the snapshot does not record p2's error (above)"
import json, sys
s = json.load(open(sys.argv[1]))
vols = {v.get("name"): v for v in ((s.get("disks") or [{}])[0].get("volumes") or [])}
ok = bool((vols.get("p2") or {}).get("error")) and not (vols.get("p1") or {}).get("error")
if not ok:
    print("  volumes:", vols)
sys.exit(0 if ok else 1)
EOF
    crun ls "$S" /disk0/p1/EFI/BOOT
    [ "$RC" -eq 0 ] && grep -q BOOTX64.EFI "$OUT" || e2e_fail_later "ext4-nosuper: the FAT partition's files are not listed"
    crun restore "$S" --image "$D/nosuper-restored.raw"
    [ "$RC" -eq 0 ] || { e2e_show; e2e_fail_later "ext4-nosuper: restore --image exited $RC"; }
    qemu-img compare -q -f raw "$D/nosuper.raw" "$D/nosuper-restored.raw" 2>/dev/null ||
        e2e_fail_later "ext4-nosuper: the disk restored differs from the damaged original"
    rm -f "$D/nosuper-restored.raw"
fi

# --- GPT whose partition 2 ends past the end of the disk (CRCs recomputed)
cp --sparse=always "$RAW" "$D/beyond.raw"
python3 - "$D/beyond.raw" <<'EOF' || e2e_fail "could not patch the GPT"
import struct, sys, zlib
# Both GPT copies (primary at LBA 1, backup at the header's alternate LBA)
# tell the same lie, with correct CRCs.
with open(sys.argv[1], "r+b") as f:
    lba = 1
    for copy in range(2):
        f.seek(lba * 512)
        h = bytearray(f.read(92))
        assert h[:8] == b"EFI PART"
        alternate, = struct.unpack_from("<Q", h, 32)
        entries_lba, n, size = struct.unpack_from("<QII", h, 72)
        f.seek(entries_lba * 512)
        e = bytearray(f.read(n * size))
        first, last = struct.unpack_from("<QQ", e, size + 32)       # partition 2
        struct.pack_into("<Q", e, size + 40, last + 2 * 1024 * 1024)  # + 1 GiB in sectors
        f.seek(entries_lba * 512)
        f.write(e)
        struct.pack_into("<I", h, 88, zlib.crc32(e))
        struct.pack_into("<I", h, 16, 0)
        struct.pack_into("<I", h, 16, zlib.crc32(bytes(h)))
        f.seek(lba * 512)
        f.write(h)
        lba = alternate
EOF
sgdisk -v "$D/beyond.raw" 2>&1 | grep -q 'partition 2 is too big' ||
    e2e_fail "sgdisk does not see the lie in the GPT: the test did not make it"
# The disk itself is whole: saving it with a warning (0 or 5) or refusing it
# (1, 2) are both fair, keeping silent is not.
refused gpt-beyond "$D/beyond.raw" 5 0 2 1
grep -qiE 'p2|partition 2' "$SCRATCH/last.err" || e2e_fail_later "gpt-beyond: no message names partition 2"
if [ "$LAST_RC" -eq 5 ] || [ "$LAST_RC" -eq 0 ]; then
    crun restore "$(e2e_json_get "$SCRATCH/last.out" 'j["id"]')" --image "$D/beyond-restored.raw"
    [ "$RC" -eq 0 ] || { e2e_show; e2e_fail_later "gpt-beyond: restore --image exited $RC"; }
    qemu-img compare -q -f raw "$D/beyond.raw" "$D/beyond-restored.raw" 2>/dev/null ||
        e2e_fail_later "gpt-beyond: the disk restored differs from the original"
fi

# --- restore's own refusals
touch "$D/exists.raw"
crun restore good:latest --image "$D/exists.raw"
[ "$RC" -eq 1 ] || { e2e_show; e2e_fail_later "restore --image onto an existing file exited $RC, expected 1"; }
[ ! -s "$D/exists.raw" ] || e2e_fail_later "restore --image overwrote an existing file"
crun restore good:latest --image "$D/x.img" --format floppy
[ "$RC" -eq 2 ] || { e2e_show; e2e_fail_later "restore --format floppy exited $RC, expected 2"; }
[ ! -e "$D/x.img" ] || e2e_fail_later "restore with an unknown format created $D/x.img"
e2e_ok backup --source files "$T"
crun restore files:latest --image "$D/files.img"
[ "$RC" -eq 2 ] || { e2e_show; e2e_fail_later "restore --image of a file snapshot exited $RC, expected 2"; }
[ ! -e "$D/files.img" ] || e2e_fail_later "restore --image of a file snapshot created $D/files.img"

e2e_ok verify --read-data
e2e_pass
