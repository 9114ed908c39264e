# backup --image: a sparse raw disk stored as chunks (holes not stored), an
# unchanged re-backup that adds nothing, the same disk as qcow2 and VHDX
# sharing every chunk with the raw, a clone that adds only what changed, the
# VM's settings recorded (options, .vmx), the files of a GPT disk's FAT and
# ext4 listed and restorable, and refused or failed runs (damaged, truncated
# images) that leave nothing.
set -u
. "${CR_TESTLIB:?}"
. "${CR_SRC:?}/tests/image-lib.bash"

V=$SCRATCH/vault
MiB=1048576
expect_exit 0 cr --repo "$V" init --kdf interactive

# random_at FILE MIB_OFFSET MIB_COUNT: random bytes over a range of FILE
random_at() {
    head -c "$(($3 * MiB))" /dev/urandom | dd of="$1" bs=1M seek="$2" conv=notrunc status=none ||
        fail "cannot write test data into $1"
}

# snapshot_count: number of snapshots in the vault
snapshot_count() {
    cr --repo "$V" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# unharmed: the vault verifies and holds $1 snapshots
unharmed() {
    expect_exit 0 cr --repo "$V" verify
    assert_eq "$(snapshot_count)" "$1" "snapshots after a failed run"
}

# A 64 MiB sparse disk with 3 MiB of data at 0, 9 and 33 MiB: three 4 MiB chunks.
truncate -s 64M disk.raw
random_at disk.raw 0 3
random_at disk.raw 9 3
random_at disk.raw 33 3

expect_exit 0 cr --repo "$V" backup --source vm1 --image disk.raw --no-files \
    --vm-cpus 4 --vm-memory 4G --vm-firmware uefi --vm-disk-bus sata --vm-nic e1000e \
    --vm-os linux --tag first
assert_grep '^snapshot [0-9a-f]{8} saved \(image, 1 disk\)$' "$CR_OUT" "result line"
assert_grep '^  disk0: .*/disk.raw \(raw\), size 64 MiB, stored 12 MiB' "$CR_OUT" "disk line"
pass "first image backup"

expect_exit 0 cr --repo "$V" snapshots --json
python3 - "$CR_OUT" "$SCRATCH" <<'PY' || fail "image snapshot recorded"
import json, os, sys
s = json.load(open(sys.argv[1]))[-1]
MiB = 1 << 20
assert s["kind"] == "image", s.get("kind")
assert s["bytes"] == 64 * MiB, s["bytes"]
assert 9 * MiB < s["bytes_new"] < 10 * MiB, s["bytes_new"]   # 9 MiB random, holes not stored
d = s["disks"]
assert len(d) == 1 and d[0]["name"] == "disk0", d
assert d[0]["source_format"] == "raw" and d[0]["virtual_size"] == 64 * MiB, d
assert d[0]["stored"] == 12 * MiB, d[0]["stored"]
assert os.path.realpath(d[0]["source_path"]) == os.path.realpath(sys.argv[2] + "/disk.raw"), d
assert s["paths"] == [d[0]["source_path"]], s["paths"]
vm = s["vm"]
assert vm["name"] == "vm1" and vm["cpus"] == 4 and vm["memory_mib"] == 4096, vm
assert vm["firmware"] == "uefi" and vm["disk_bus"] == "sata" and vm["nic_model"] == "e1000e", vm
assert vm["os_type"] == "linux", vm
PY
expect_exit 0 cr --repo "$V" snapshots
assert_grep '\[image, 1 disk\] first$' "$CR_OUT" "snapshots marks the image snapshot"
expect_exit 0 cr --repo "$V" ls --json latest /disk0
python3 - "$CR_OUT" <<'PY' || fail "ls /disk0"
import json, sys
e = json.load(open(sys.argv[1]))
assert [x["path"] for x in e] == ["/disk0/image"], e
assert e[0]["type"] == "file" and e[0]["size"] == 64 << 20, e
PY
pass "snapshot, vm settings, ls"

# Unchanged: nothing but a few bytes of folder listings is added.
expect_exit 0 cr --repo "$V" backup --source vm1 --image disk.raw --no-files
expect_exit 0 cr --repo "$V" snapshots --json
python3 - "$CR_OUT" <<'PY' || fail "unchanged re-backup adds nothing"
import json, sys
s = json.load(open(sys.argv[1]))[-1]
assert s["bytes_new"] < 16384, s["bytes_new"]
assert s["disks"][0]["stored"] == 12 << 20
PY
pass "unchanged re-backup"

# A clone of the VM with 1 MiB changed in chunk 0 and 2 MiB written in a hole
# (chunk 5): only those two chunks are new.
cp --sparse=always disk.raw clone.raw
random_at clone.raw 1 1
random_at clone.raw 20 2
expect_exit 0 cr --repo "$V" backup --source vm2 --image clone.raw --no-files --json
python3 - "$CR_OUT" <<'PY' || fail "clone adds only the changed chunks"
import json, sys
s = json.load(open(sys.argv[1]))
MiB = 1 << 20
assert s["kind"] == "image" and s["disks"][0]["stored"] == 16 * MiB, s["disks"]
# chunk 0: 3 MiB random (+ zeros), chunk 5: 2 MiB random: about 5 MiB, not the 12 of the disk
assert 5 * MiB <= s["bytes_new"] < 6 * MiB, s["bytes_new"]
PY
pass "clone deduplicated"

# Two disks in one snapshot.
truncate -s 8M data.raw
random_at data.raw 4 1
expect_exit 0 cr --repo "$V" backup --source vm3 --image disk.raw --image data.raw --no-files
assert_grep '^snapshot [0-9a-f]{8} saved \(image, 2 disks\)$' "$CR_OUT" "two disks"
assert_grep '^  disk1: .*/data.raw \(raw\), size 8.0 MiB, stored 4.0 MiB' "$CR_OUT" "disk1 line"
expect_exit 0 cr --repo "$V" ls latest /disk1/image
pass "two disks"

# The same disk as qcow2 and VHDX: every chunk is already in the vault.
for fmt in qcow2 vhdx; do
    img_convert disk.raw "disk.$fmt" "$fmt" || fail "qemu-img convert to $fmt"
    expect_exit 0 cr --repo "$V" backup --source "vm-$fmt" --image "disk.$fmt" --no-files --json
    python3 - "$CR_OUT" "$fmt" <<'PY' || fail "$fmt deduplicated with the raw disk"
import json, sys
s = json.load(open(sys.argv[1]))
d = s["disks"][0]
assert d["source_format"] == sys.argv[2] and d["virtual_size"] == 64 << 20, d
assert d["stored"] == 12 << 20, d["stored"]
assert s["bytes_new"] < 16384, s["bytes_new"]
PY
done
pass "qcow2 and vhdx share the raw disk's chunks"

# VM settings from a .vmx; an explicit option overrides it.
cat > ris.vmx <<'EOF'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "RIS server"
guestOS = "windows2019srv-64"
numvcpus = "2"
memsize = "6144"
firmware = "efi"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
EOF
expect_exit 0 cr --repo "$V" backup --source ris --image disk.qcow2 --no-files \
    --vm-config ris.vmx --vm-cpus 8 --json
python3 - "$CR_OUT" <<'PY' || fail "settings from the .vmx"
import json, sys
vm = json.load(open(sys.argv[1]))["vm"]
assert vm["name"] == "RIS server" and vm["cpus"] == 8 and vm["memory_mib"] == 6144, vm
assert vm["firmware"] == "uefi" and vm["nic_model"] == "vmxnet3" and vm["os_type"] == "windows", vm
assert vm["config_from"].endswith("ris.vmx"), vm
PY
pass "--vm-config"

# The files of a GPT disk (EFI FAT + ext4 root) are listed and can be restored.
mkdir -p tree/etc tree/usr/bin tree/home/ana
printf 'root:x:0:0:root:/root:/bin/bash\n' > tree/etc/passwd
head -c 1500000 /dev/urandom > tree/usr/bin/tool
printf 'report\n' > tree/home/ana/notes.txt
mk_ext4_gpt_image gpt.raw tree 64M || fail "cannot build the GPT test image"
expect_exit 0 cr --repo "$V" backup --source pacs --image gpt.raw
assert_grep '^    p1  fat16  .*"EFI"  2 files$' "$CR_OUT" "EFI partition line"
assert_grep '^    p2  ext4  .*"root"  3 files$' "$CR_OUT" "root partition line"
assert_grep '^  system root: /disk0/p2$' "$CR_OUT" "system root line"
expect_exit 0 cr --repo "$V" ls latest /disk0/p2/usr/bin/tool
expect_exit 0 cr --repo "$V" restore latest --target out --include /disk0/p2/usr/bin/tool \
    --include /disk0/p2/home/ana/notes.txt
cmp out/disk0/p2/usr/bin/tool tree/usr/bin/tool || fail "restored file differs"
cmp out/disk0/p2/home/ana/notes.txt tree/home/ana/notes.txt || fail "restored file differs"
expect_exit 0 cr --repo "$V" snapshots --json --source pacs
python3 - "$CR_OUT" <<'PY' || fail "volumes recorded"
import json, sys
s = json.load(open(sys.argv[1]))[-1]
assert s["system_root"] == "/disk0/p2" and s["files"] == 5, s
d = s["disks"][0]
assert d["partition_table"] == "gpt", d
v = {x["name"]: x for x in d["volumes"]}
assert v["p1"]["fs_type"] == "fat16" and v["p2"]["fs_type"] == "ext4" and v["p2"]["files"] == 3, v
PY
# One file changed inside: the new content is what the next snapshot lists.
printf 'report, edited\n' > notes2.txt
img_ext4_put gpt.raw "$IMG_P2_OFF" notes2.txt /home/ana/notes.txt || fail "debugfs"
expect_exit 0 cr --repo "$V" backup --source pacs --image gpt.raw
rm -rf out
expect_exit 0 cr --repo "$V" restore latest --target out --include /disk0/p2/home/ana/notes.txt
cmp out/disk0/p2/home/ana/notes.txt notes2.txt || fail "changed file not seen"
pass "files inside a GPT disk"

n=$(snapshot_count)

# Damaged images: nothing saved, the message names the image.
head -c 300000 disk.qcow2 > cut-header.qcow2
expect_exit 2 cr --repo "$V" backup --source vm1 --image cut-header.qcow2
assert_grep 'cut-header\.qcow2' "$CR_ERR" "damaged qcow2 named"
head -c "$(($(stat -c %s disk.qcow2) / 2))" disk.qcow2 > cut-data.qcow2
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw --image cut-data.qcow2 --no-files
assert_grep 'cut-data\.qcow2.*no snapshot was made' "$CR_ERR" "truncated qcow2 named"
head -c 1000 /dev/urandom > garbage.vhdx
printf 'vhdxfile' | dd of=garbage.vhdx conv=notrunc status=none
expect_exit 2 cr --repo "$V" backup --source vm1 --image garbage.vhdx
assert_grep 'garbage\.vhdx' "$CR_ERR" "damaged vhdx named"
printf 'numvcpus = "2"\nthis is not vmx\n' > bad.vmx
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw --vm-config bad.vmx
assert_grep 'bad\.vmx' "$CR_ERR" "bad .vmx named"
unharmed "$n"
pass "damaged images leave nothing"

# Refused before anything is written.
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw "$SCRATCH"
assert_grep 'error: .*--image and PATH cannot be used together' "$CR_ERR" "image + path"
expect_exit 2 cr --repo "$V" backup --source vm1 --vm-cpus 2 "$SCRATCH"
assert_grep 'need --image' "$CR_ERR" "--vm-* without --image"
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw --vm-memory lots
assert_grep 'vm-memory .lots. is not a memory size' "$CR_ERR" "bad memory size"
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw --vm-firmware coreboot
expect_exit 2 cr --repo "$V" backup --source vm1 --image disk.raw --vm-nic ne2000
expect_exit 7 cr --repo "$V" backup --source vm1 --image disk.raw --image missing.qcow2
assert_grep 'missing\.qcow2' "$CR_ERR" "missing image named"
expect_exit 2 cr --repo "$V" backup --source vm1 --image "$SCRATCH"
assert_grep 'is a folder, not a disk image' "$CR_ERR" "folder given as image"
unharmed "$n"
pass "refused runs leave nothing"
