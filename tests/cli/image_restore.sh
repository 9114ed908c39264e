# restore --image: one disk of an image snapshot into every format, each
# identical to the original disk (qemu-img compare); an existing output is
# never touched; unknown or missing --disk; a file snapshot; usage errors;
# the hunt gate refuses an image whose filesystem holds a flagged file.
set -u
. "${CR_TESTLIB:?}"
. "$CR_SRC/tests/image-lib.bash"
img_need qemu-img sgdisk mkfs.ext4 mkfs.vfat mcopy python3 || exit $?

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive

# A raw disk of 40 MiB + 64 KiB (not a multiple of the 4 MiB chunks): random
# data at a few places, holes elsewhere, a zero-filled stretch in the middle.
mkdisk() {
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
r = random.Random(seed)
size = 40 * 1048576 + 65536
with open(path, "wb") as f:
    f.truncate(size)
    for off, n in ((0, 1048576), (5 * 1048576 + 4096, 300000), (17 * 1048576, 4194304),
                   (size - 65536, 65536)):
        f.seek(off)
        f.write(bytes(r.getrandbits(8) for _ in range(n)))
    f.seek(30 * 1048576)
    f.write(b"\0" * 2097152)
EOF
}
mkdisk disk0.raw 1
mkdisk disk1.raw 2
qemu-img convert -f raw -O qcow2 disk0.raw disk0.qcow2 || fail "qemu-img cannot make the qcow2 copy"

expect_exit 0 cr backup --source vm1 --image disk0.qcow2 --no-files
expect_exit 0 cr backup --source vm2 --image disk0.raw --image disk1.raw --no-files --vm-cpus 4
mkdir -p files && printf 'x\n' > files/a.txt
expect_exit 0 cr backup --source host files

# --- every format, from the qcow2 source, identical to the raw disk
mkdir out
declare -A QF=([raw]=raw [qcow2]=qcow2 [vmdk]=vmdk [vmdk-flat]=vmdk [vhdx]=vhdx [vhd]=vpc)
for f in raw qcow2 vmdk vmdk-flat vhdx vhd; do
    o="out/d-$f.img"
    expect_exit 0 cr restore vm1:latest --image "$o" --format "$f"
    assert_grep "^restored disk0 of snapshot [0-9a-f]{8} to out/d-$f.img \($f\): 40 MiB disk, 16 MiB of data, in " "$CR_OUT" "$f summary"
    [ -f "$o" ] || fail "$f: $o not written"
    qemu-img compare -q -f raw -F "${QF[$f]}" disk0.raw "$o" || fail "$f: restored disk differs from the original"
    [ "$(stat -c %a "$o")" = 600 ] || fail "$f: output mode $(stat -c %a "$o"), want 600"
    if [ "$f" = vmdk-flat ]; then
        assert_grep "^a vmdk-flat disk is two files: out/d-vmdk-flat.img \(descriptor\) and out/d-vmdk-flat-flat.img \(data\)$" \
            "$CR_OUT" "vmdk-flat: the second file is told"
    fi
done
[ -f out/d-vmdk-flat-flat.img ] || fail "vmdk-flat: no data file out/d-vmdk-flat-flat.img beside the descriptor"
[ "$(ls -A out | grep -c cleanroom)" = 0 ] || fail "staging or temporary folders left in out/: $(ls -A out)"
# Raw stays sparse: holes are not written.
alloc=$(img_alloc out/d-raw.img)
[ "$alloc" -lt $((12 * 1048576)) ] || fail "raw output not sparse: $alloc bytes allocated"
pass "restore into raw, qcow2, vmdk, vmdk-flat, vhdx, vhd: identical (qemu-img compare)"

# --- JSON, --scratch, --threads
mkdir scr
expect_exit 0 cr --json restore vm1:latest --image out/j.qcow2 --format qcow2 --scratch scr --threads 2
python3 - "$CR_OUT" <<'EOF' || fail "restore --image --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format"] == "qcow2" and j["disk"] == "disk0", j
assert j["virtual_size"] == 40 * 1048576 + 65536, j
assert j["failed"] == 0 and j["lost"] == [] and j["hunted"] is False, j
EOF
[ -z "$(ls -A scr)" ] || fail "--scratch folder not emptied: $(ls -A scr)"
qemu-img compare -q -f raw -F qcow2 disk0.raw out/j.qcow2 || fail "--scratch: restored disk differs"
pass "--json, --scratch"

# --- an existing output is never touched
printf 'precious' > out/keep.qcow2
expect_exit 1 cr restore vm1:latest --image out/keep.qcow2 --format qcow2
assert_grep "out/keep.qcow2 already exists: not overwritten" "$CR_ERR" "exists: message"
[ "$(cat out/keep.qcow2)" = precious ] || fail "existing output changed"
printf 'precious' > out/v-flat.vmdk
expect_exit 1 cr restore vm1:latest --image out/v.vmdk --format vmdk-flat
assert_grep "out/v-flat.vmdk already exists" "$CR_ERR" "vmdk-flat: the data file's name is checked too"
[ ! -e out/v.vmdk ] && [ "$(cat out/v-flat.vmdk)" = precious ] || fail "vmdk-flat: existing data file changed"
[ "$(ls -A out | grep -c cleanroom)" = 0 ] || fail "staging left after a refused restore"
pass "existing output: refused, unchanged"

# --- disks
expect_exit 2 cr restore vm2:latest --image out/two.raw
assert_grep "holds 2 disks \(disk0, disk1\)" "$CR_ERR" "several disks: say which"
expect_exit 2 cr restore vm2:latest --image out/two.raw --disk disk7
assert_grep "has no disk 'disk7'; its disks: disk0, disk1" "$CR_ERR" "unknown disk named, disks listed"
[ ! -e out/two.raw ] || fail "unknown disk: output written"
expect_exit 0 cr restore vm2:latest --image out/two.raw --disk disk1
cmp -s disk1.raw out/two.raw || fail "--disk disk1: not the second disk"
pass "--disk"

# --- wrong kinds of snapshot, usage errors
expect_exit 2 cr restore host:latest --image out/f.raw
assert_grep "is a file snapshot, not disk images: restore it into a folder with --target DIR" "$CR_ERR" "file snapshot"
expect_exit 2 cr restore vm1:latest --image out/u.raw --target out/t
assert_grep "--image and --target exclude each other" "$CR_ERR" "--image with --target"
expect_exit 2 cr restore vm1:latest --image out/u.raw --quarantine q
assert_grep "--quarantine does not go with --image: a disk image is restored whole" "$CR_ERR" "--quarantine with --image"
expect_exit 2 cr restore vm1:latest --image out/u.raw --include /disk0/image
expect_exit 2 cr restore vm1:latest --image out/u.raw --format vdi
assert_grep "unknown disk image format 'vdi'" "$CR_ERR" "bad --format"
expect_exit 2 cr restore vm1:latest --target out/t --format qcow2
assert_grep "go with --image OUT" "$CR_ERR" "--format without --image"
expect_exit 7 cr restore vm1:latest --image nowhere/u.raw
assert_grep "the folder nowhere does not exist" "$CR_ERR" "missing folder"
[ ! -e out/u.raw ] && [ ! -e out/f.raw ] && [ ! -e out/t ] || fail "a refused restore wrote something"
pass "usage and kind errors"

# --- the hunt gate: an image whose ext4 holds the EICAR test file
mkdir -p tree/etc tree/usr/bin tree/srv
printf 'root:x:0:0:root:/root:/bin/bash\n' > tree/etc/passwd
printf '#!/bin/sh\necho hi\n' > tree/usr/bin/hello
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.com
mk_ext4_gpt_image gate.raw tree 64M || fail "cannot build the GPT image"
expect_exit 0 cr backup --source web --image gate.raw --time 2026-11-01
img_ext4_put gate.raw "$IMG_P2_OFF" eicar.com /srv/eicar.com || fail "debugfs cannot put the file in the image"
expect_exit 0 cr backup --source web --image gate.raw --time 2026-11-02
expect_exit 0 cr restore web:latest --image out/unhunted.raw
assert_grep "has not been hunted" "$CR_ERR" "unhunted image: warned"
expect_exit 0 cr hunt
expect_exit 0 cr findings
assert_grep "critical +malware +/disk0/p2/srv/eicar.com +yara:EICAR_Test_File" "$CR_OUT" "the hunt sees the file inside the image"
DAY1=$(cr snapshots --json | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin) if s["source"] == "web"][0][:8])')
expect_exit 8 cr restore web:latest --image out/gate.raw
assert_grep "refused: restore point [0-9a-f]{8} \(web, .*\) is compromised" "$CR_ERR" "gate: refused"
assert_grep "EICAR" "$CR_ERR" "gate: the finding is shown"
assert_grep "^  cleanroom restore $DAY1 --image out/gate.raw --format raw$" "$CR_ERR" "gate: the clean point's command"
[ ! -e out/gate.raw ] || fail "gate: the refused image was written"
[ "$(ls -A out | grep -c cleanroom)" = 0 ] || fail "gate: staging left"
expect_exit 0 cr restore web:latest --image out/gate.raw --accept-risk
assert_grep "RESTORING A COMPROMISED RESTORE POINT" "$CR_ERR" "accept-risk: loud"
cmp -s gate.raw out/gate.raw || fail "accept-risk: restored image differs"
pass "hunt gate on an image snapshot"

# --- damaged vault data: the image is written with zeros where the data was lost, exit 5
export CLEANROOM_REPO=$SCRATCH/vault2
expect_exit 0 cr init --kdf interactive
python3 - <<'PY'
import random
r = random.Random(3)
with open("three.raw", "wb") as f:
    f.truncate(24 << 20)
    for mib in (0, 8, 16):
        f.seek(mib << 20)
        f.write(bytes(r.getrandbits(8) for _ in range(4 << 20)))
PY
expect_exit 0 cr backup --source dmg --image three.raw --no-files
pack=$(find "$CLEANROOM_REPO/data" -type f -size +1M | head -1)
[ -n "$pack" ] || fail "no data pack"
chmod u+w "$pack"
printf '\001\002\003\004' | dd of="$pack" bs=1 seek=2000000 conv=notrunc 2>/dev/null
expect_exit 5 cr restore dmg:latest --image out/damaged.raw
assert_grep "^NOT RESTORED \(zeros in the image there\): 1 part\(s\):$" "$CR_OUT" "damage: listed"
assert_grep "^warning: /disk0/image: .*damaged" "$CR_ERR" "damage: warned"
python3 - <<'PY' || fail "damage: the image is not the original with one chunk of zeros"
a = open("three.raw", "rb").read(); b = open("out/damaged.raw", "rb").read()
assert len(a) == len(b), (len(a), len(b))
C = 4 << 20
same = sum(a[i:i + C] == b[i:i + C] for i in range(0, len(a), C))
zeroed = [i // C for i in range(0, len(a), C) if a[i:i + C] != b[i:i + C] and b[i:i + C] == bytes(C)]
assert same == 5 and len(zeroed) == 1, (same, zeroed)
PY
pass "damaged vault data: zeros there, exit 5"
