# shellcheck shell=bash
# Real disk images for the tests, the bench and the demo (sourced, not a test:
# the .bash suffix keeps it out of ctest's glob). Everything is built in
# ordinary files, without loop devices or mounts (the NTFS tree is the one
# exception, see mk_ntfs_image), from the e2fsprogs, gdisk, dosfstools, mtools,
# ntfs-3g and qemu-utils packages:
#
#   mk_ext4_gpt_image OUT SRC_DIR SIZE [ESP_DIR]
#       a GPT disk of SIZE (sparse; e.g. 1536M): p1 = EFI system partition
#       (FAT16, 32 MiB, label EFI) holding the files of ESP_DIR (default: a
#       small EFI/BOOT/BOOTX64.EFI and EFI/debian/grub.cfg), p2 = ext4 (label
#       root) filled with SRC_DIR by `mkfs.ext4 -d` (owners, modes, times,
#       symlinks kept). Sets IMG_P1_OFF IMG_P2_OFF IMG_P2_LEN (bytes).
#   mk_ntfs_image OUT SIZE TREE
#       an MBR disk of SIZE: p1 = NTFS (label WINDOWS, 3/4 of the disk),
#       p2 = FAT (label DATA; FAT32 from 64 MiB, so SIZE >= 256M). A Windows-like tree is generated into TREE/ntfs
#       and TREE/fat first (small resident files, a multi-MiB file, a binary,
#       non-ASCII names) and copied in: FAT with mtools; NTFS through an
#       ntfs-3g FUSE mount when this machine allows it (root and /dev/fuse),
#       else with ntfscp into the root folder, TREE/ntfs then being flattened
#       the same way (IMG_NTFS_FLAT=1). TREE/ntfs and TREE/fat are exactly what
#       the filesystems hold. Sets IMG_P1_OFF IMG_P2_OFF.
#   img_convert IN OUT FORMAT
#       qemu-img convert to qcow2 | vmdk (streamOptimized) | vmdk-sparse
#       (monolithicSparse) | vhdx | vhd (vpc, dynamic, exact size) | raw
#   img_part_offset IMG N     byte offset of partition N (GPT, from sgdisk)
#   img_ext4_put IMG OFF LOCAL PATH [MODE]
#       put the local file LOCAL at PATH in the ext4 at byte OFF of IMG
#       (debugfs -w; parent folders made; an existing file replaced)
#   img_ext4_rm IMG OFF PATH   remove a file from that ext4
#   img_ext4_cat IMG OFF PATH  print a file of that ext4
#   img_alloc IMG             bytes IMG occupies on disk
#   img_need TOOL...          skip the test (exit 77) if a tool is missing
#
# Functions return non-zero with a message on stderr when a tool fails.

IMG_MKFS_EXT4=${IMG_MKFS_EXT4:-mkfs.ext4}

img_need() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            if declare -F e2e_skip >/dev/null; then
                e2e_skip "$t is not installed (scripts/install-deps)"
            fi
            echo "image-lib: $t is not installed (scripts/install-deps)" >&2
            return 77
        fi
    done
}

img_alloc() { du -B1 "$1" | cut -f1; }

# img_run WHAT CMD...: run CMD quietly; on failure print its output.
img_run() {
    local what=$1 log
    shift
    log=$(mktemp "${TMPDIR:-/tmp}/image-lib.XXXXXX") || return 1
    if ! "$@" >"$log" 2>&1; then
        echo "image-lib: $what failed: $*" >&2
        tail -n 15 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

# Parse "First sector: 67584 (at 33.0 MiB)" of sgdisk -i.
img_part_offset() {
    local s
    s=$(sgdisk -i "$2" "$1" 2>/dev/null | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
    [ -n "$s" ] || { echo "image-lib: no partition $2 in $1" >&2; return 1; }
    echo $((s * 512))
}

img_part_length() {
    local a b
    a=$(sgdisk -i "$2" "$1" 2>/dev/null | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
    b=$(sgdisk -i "$2" "$1" 2>/dev/null | sed -n 's/^Last sector: \([0-9]*\).*/\1/p')
    [ -n "$a" ] && [ -n "$b" ] || { echo "image-lib: no partition $2 in $1" >&2; return 1; }
    echo $(((b - a + 1) * 512))
}

# Size with a K/M/G suffix (powers of 1024) to bytes.
img_bytes() {
    numfmt --from=iec "$1"
}

mk_ext4_gpt_image() {
    local out=$1 src=$2 size=$3 esp=${4:-} bytes sectors end
    img_need sgdisk "$IMG_MKFS_EXT4" mkfs.vfat mmd mcopy || return 1
    [ -d "$src" ] || { echo "image-lib: $src is not a folder" >&2; return 1; }
    bytes=$(img_bytes "$size") || return 1
    rm -f "$out"
    truncate -s "$bytes" "$out" || return 1
    sectors=$((bytes / 512))
    # p2 ends on a 1 MiB boundary before the backup GPT (34 sectors).
    end=$((((sectors - 34) / 2048) * 2048 - 1))
    img_run "sgdisk on $out" sgdisk -n 1:2048:+32M -t 1:ef00 -c 1:EFI \
        -n "2:0:$end" -t 2:8300 -c 2:root "$out" || return 1
    IMG_P1_OFF=$(img_part_offset "$out" 1) || return 1
    IMG_P2_OFF=$(img_part_offset "$out" 2) || return 1
    IMG_P2_LEN=$(img_part_length "$out" 2) || return 1
    # The EFI system partition, written in place (mkfs.vfat --offset counts
    # 512-byte sectors; its size argument 1 KiB blocks).
    img_run "mkfs.vfat (EFI partition of $out)" mkfs.vfat -F 16 -n EFI \
        --offset $((IMG_P1_OFF / 512)) "$out" 32768 || return 1
    local m="$out@@$IMG_P1_OFF"
    if [ -n "$esp" ]; then
        img_run "mcopy into the EFI partition" mcopy -s -p -Q -i "$m" "$esp"/* ::/ || return 1
    else
        local t
        t=$(mktemp -d "${TMPDIR:-/tmp}/image-lib-esp.XXXXXX") || return 1
        mkdir -p "$t/EFI/BOOT" "$t/EFI/debian"
        # A binary for the boot loader: the tree's own shell if it has one.
        if [ -f "$src/usr/bin/dash" ]; then cp "$src/usr/bin/dash" "$t/EFI/BOOT/BOOTX64.EFI"
        else head -c 131072 /dev/urandom >"$t/EFI/BOOT/BOOTX64.EFI"; fi
        printf 'search.fs_label root root\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' \
            >"$t/EFI/debian/grub.cfg"
        img_run "mcopy into the EFI partition" mcopy -s -p -Q -i "$m" "$t/EFI" ::/ || { rm -rf "$t"; return 1; }
        rm -rf "$t"
    fi
    # The root filesystem, written in place and filled from SRC.
    img_run "mkfs.ext4 -d $src (root partition of $out)" "$IMG_MKFS_EXT4" -q -F -b 4096 -L root \
        -E "offset=$IMG_P2_OFF" -d "$src" "$out" $((IMG_P2_LEN / 4096)) || return 1
}

# debugfs on the ext4 at byte OFF of IMG: "IMG?offset=OFF".
img_debugfs() {
    local img=$1 off=$2
    shift 2
    debugfs "$@" "$img?offset=$off"
}

img_ext4_cat() { img_debugfs "$1" "$2" -R "cat $3" 2>/dev/null; }

img_ext4_rm() {
    img_debugfs "$1" "$2" -w -R "rm $3" >/dev/null 2>&1 || true
}

img_ext4_put() {
    local img=$1 off=$2 local=$3 path=$4 mode=${5:-} cmds d="" part
    [ -f "$local" ] || { echo "image-lib: $local is not a file" >&2; return 1; }
    cmds=$(mktemp "${TMPDIR:-/tmp}/image-lib-debugfs.XXXXXX") || return 1
    # Parent folders, one level at a time (mkdir of an existing one only complains).
    local IFS=/
    for part in ${path%/*}; do
        [ -n "$part" ] || continue
        d="$d/$part"
        printf 'mkdir "%s"\n' "$d" >>"$cmds"
    done
    unset IFS
    printf 'rm "%s"\nwrite "%s" "%s"\n' "$path" "$local" "$path" >>"$cmds"
    [ -n "$mode" ] && printf 'sif "%s" mode 0%o\n' "$path" $((0100000 | 8#$mode)) >>"$cmds"
    printf 'sif "%s" mtime %s\n' "$path" "$(date -u +%Y%m%d%H%M%S)" >>"$cmds"
    img_debugfs "$img" "$off" -w -f "$cmds" >/dev/null 2>&1
    rm -f "$cmds"
    # debugfs exits 0 even when a request fails: check the result.
    if ! cmp -s "$local" <(img_ext4_cat "$img" "$off" "$path"); then
        echo "image-lib: debugfs could not write $path into $img (offset $off)" >&2
        return 1
    fi
}

# The MBR of a disk (one or two primary partitions), written with Python:
# img_mbr IMG TYPE1 START1 COUNT1 [TYPE2 START2 COUNT2] (sectors).
img_mbr() {
    python3 - "$@" <<'EOF'
import struct, sys
img = sys.argv[1]
parts = [sys.argv[i:i + 3] for i in range(2, len(sys.argv), 3)]
mbr = bytearray(512)
struct.pack_into("<I", mbr, 440, 0x43524d31)  # disk signature
for n, (typ, start, count) in enumerate(parts):
    e = 446 + 16 * n
    # CHS fields at their "use LBA" maximum, as tools write for big disks.
    mbr[e:e + 16] = struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", int(typ, 16), b"\xfe\xff\xff",
                                int(start), int(count))
mbr[510:512] = b"\x55\xaa"
with open(img, "r+b") as f:
    f.write(mbr)
EOF
}

# The Windows-like content of mk_ntfs_image (deterministic bytes).
img_windows_tree() {
    local d=$1
    python3 - "$d" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(4)
def put(rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
def noise(n):
    return rnd.randbytes(n)
n = "ntfs/"
# Small files: resident in the MFT record on NTFS.
put(n + "Windows/System32/drivers/etc/hosts",
    b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n127.0.0.1       localhost\r\n::1             localhost\r\n")
put(n + "Windows/System32/drivers/etc/services", b"echo 7/tcp\r\nftp 21/tcp\r\nssh 22/tcp\r\n" * 8)
put(n + "Users/Public/Documents/readme.txt", b"Ward 3 shared documents. Do not store patient data here.\r\n")
put(n + "Users/Public/Documents/r\u00e9sum\u00e9 \u65e5\u672c.txt", "R\u00e9sum\u00e9, \u65e5\u672c\r\n".encode("utf-8"))
# Binaries and big files: non-resident, in runs of clusters.
put(n + "Windows/System32/notepad.exe", b"MZ\x90\x00" + noise(200 * 1024))
put(n + "Windows/System32/config/SOFTWARE", b"regf" + noise(3 * 1024 * 1024 + 1234))
put(n + "Users/Public/Pictures/scan-0001.bmp", b"BM" + bytes(range(256)) * (6 * 4096))  # 6 MiB, compressible
put(n + "Program Files/Lab Client/labclient.dll", b"MZ" + noise(700 * 1024))
put(n + "pagefile.sys", bytes(1024 * 1024))  # all zeros
f = "fat/"
put(f + "BACKUP/EXPORT.CSV", b"patient_id,ward\r\n" + b"".join(b"P%06d,icu\r\n" % i for i in range(5000)))
put(f + "BACKUP/BIG.BIN", noise(2 * 1024 * 1024 + 17))
put(f + "TINY.TXT", b"x\r\n")
put(f + "Long Folder Name/Long File Name.txt", b"long names on FAT (VFAT)\r\n")
EOF
}

mk_ntfs_image() {
    local out=$1 size=$2 tree=$3 bytes sectors n1 n2 s2
    img_need mkntfs ntfscp mkfs.vfat mcopy python3 || return 1
    bytes=$(img_bytes "$size") || return 1
    sectors=$((bytes / 512))
    rm -f "$out"
    rm -rf "$tree" && mkdir -p "$tree" || return 1
    img_windows_tree "$tree" || return 1
    truncate -s "$bytes" "$out" || return 1
    # p1 NTFS from 1 MiB, 3/4 of the disk (1 MiB aligned); p2 FAT32 after it.
    n1=$(((sectors * 3 / 4 - 2048) / 2048 * 2048))
    s2=$((2048 + n1))
    n2=$(((sectors - s2) / 2048 * 2048))
    img_mbr "$out" 07 2048 "$n1" 0c "$s2" "$n2" || return 1
    IMG_P1_OFF=$((2048 * 512))
    IMG_P2_OFF=$((s2 * 512))
    # FAT32, in place (mtools writes at an offset).
    # FAT32 needs 65525 clusters: 1-sector clusters from 64 MiB on; FAT16 below.
    local fat=(-F 32 -s 1)
    [ "$n2" -ge 131072 ] || fat=(-F 16)
    img_run "mkfs.vfat (p2 of $out)" mkfs.vfat "${fat[@]}" -n DATA --offset "$s2" "$out" $((n2 / 2)) || return 1
    img_run "mcopy into p2 of $out" mcopy -s -p -Q -i "$out@@$IMG_P2_OFF" "$tree/fat"/* ::/ || return 1
    # NTFS: ntfs-3g's tools have no offset option: a partition-sized file,
    # copied into place afterwards (holes kept).
    local part="$out.p1"
    rm -f "$part"
    truncate -s $((n1 * 512)) "$part" || return 1
    img_run "mkntfs (p1 of $out)" mkntfs -F -Q -q -L WINDOWS -s 512 -p 2048 -H 255 -S 63 "$part" || return 1
    IMG_NTFS_FLAT=0
    local mnt="$out.mnt"
    mkdir -p "$mnt"
    if [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && command -v ntfs-3g >/dev/null &&
        timeout 30 ntfs-3g "$part" "$mnt" 2>/dev/null; then
        local rc=0
        cp -r --no-preserve=all "$tree/ntfs/." "$mnt/" || rc=1
        sync
        timeout 60 umount "$mnt" || rc=1
        rmdir "$mnt"
        [ "$rc" -eq 0 ] || { echo "image-lib: copying into the NTFS mount failed" >&2; return 1; }
    else
        rmdir "$mnt"
        # No mount: every file into the root folder, its path flattened with
        # '_' (TREE/ntfs changed the same way, so it stays what NTFS holds).
        IMG_NTFS_FLAT=1
        local f rel flat
        while IFS= read -r -d '' f; do
            rel=${f#"$tree/ntfs/"}
            flat=${rel//\//_}
            img_run "ntfscp $rel" ntfscp -f "$part" "$f" "$flat" || return 1
            if [ "$rel" != "$flat" ]; then mv "$f" "$tree/ntfs/$flat"; fi
        done < <(find "$tree/ntfs" -type f -print0 | LC_ALL=C sort -z)
        find "$tree/ntfs" -mindepth 1 -type d -empty -delete
    fi
    img_run "copying the NTFS partition into $out" dd if="$part" of="$out" bs=1M \
        seek=$((IMG_P1_OFF / 1048576)) conv=notrunc,sparse status=none || return 1
    rm -f "$part"
}

img_convert() {
    local in=$1 out=$2 fmt=$3
    local -a o
    case $fmt in
    raw) o=(-O raw) ;;
    qcow2) o=(-O qcow2) ;;
    vmdk | vmdk-stream) o=(-O vmdk -o subformat=streamOptimized) ;;
    vmdk-sparse) o=(-O vmdk -o subformat=monolithicSparse) ;;
    vmdk-flat) o=(-O vmdk -o subformat=monolithicFlat) ;;
    vhdx) o=(-O vhdx) ;;
    vhd | vpc) o=(-O vpc -o force_size=on) ;;
    *) echo "image-lib: unknown format $fmt" >&2; return 1 ;;
    esac
    rm -f "$out"
    img_run "qemu-img convert $in to $fmt" qemu-img convert -f raw "${o[@]}" "$in" "$out"
}

# img_tree_compare ORIG RESTORED [--meta]: every path of ORIG must be in
# RESTORED with the same type and content (SHA-256), symlink target; with
# --meta also permission bits (incl. setuid/setgid/sticky), uid, gid and mtime
# in whole seconds (what an ext4 made by mkfs.ext4 -d records). Not compared:
# extra paths in RESTORED, hard-link groups, xattrs, sparseness (treecmp.py
# does those for file snapshots). Prints one line per difference (at most 20)
# and a summary; returns 1 if any.
img_tree_compare() {
    python3 - "$@" <<'PYEOF'
import hashlib, os, stat, sys
a, b = sys.argv[1], sys.argv[2]
meta = "--meta" in sys.argv[3:]
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()
bad, n = [], {"file": 0, "dir": 0, "symlink": 0, "other": 0}
for dirpath, dirs, files in os.walk(a):
    dirs.sort()
    for name in [""] + sorted(dirs + files):
        if name == "" and dirpath != a:
            continue
        pa = os.path.join(dirpath, name) if name else dirpath
        rel = os.path.relpath(pa, a)
        pb = os.path.join(b, rel)
        sa = os.lstat(pa)
        try:
            sb = os.lstat(pb)
        except OSError:
            bad.append("%s: missing" % rel)
            continue
        why = []
        ka = stat.S_IFMT(sa.st_mode)
        if ka != stat.S_IFMT(sb.st_mode):
            bad.append("%s: type %o != %o" % (rel, ka, stat.S_IFMT(sb.st_mode)))
            continue
        if stat.S_ISLNK(sa.st_mode):
            n["symlink"] += 1
            if os.readlink(pa) != os.readlink(pb):
                why.append("target %r != %r" % (os.readlink(pa), os.readlink(pb)))
        elif stat.S_ISREG(sa.st_mode):
            n["file"] += 1
            if sa.st_size != sb.st_size:
                why.append("size %d != %d" % (sa.st_size, sb.st_size))
            elif digest(pa) != digest(pb):
                why.append("content")
        elif stat.S_ISDIR(sa.st_mode):
            n["dir"] += 1
        else:
            n["other"] += 1
            if (stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode)) and sa.st_rdev != sb.st_rdev:
                why.append("device numbers")
        if meta and not stat.S_ISLNK(sa.st_mode):
            if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
                why.append("mode %04o != %04o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
            if (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
                why.append("owner %d:%d != %d:%d" % (sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid))
            if int(sa.st_mtime) != int(sb.st_mtime) and not stat.S_ISDIR(sa.st_mode):
                why.append("mtime %d != %d" % (int(sa.st_mtime), int(sb.st_mtime)))
        if why:
            bad.append("%s: %s" % (rel, ", ".join(why)))
for line in bad[:20]:
    print("  differs: " + line)
print("  compared %(file)d files, %(dir)d folders, %(symlink)d symlinks, %(other)d others" % n
      + (" (content, type, link targets, modes, owners, mtimes)" if meta else " (content, type, link targets)")
      + (": %d differences" % len(bad) if bad else ": identical"))
sys.exit(1 if bad else 0)
PYEOF
}
