# vm-export for KVM, Proxmox, VMware and Hyper-V: the libvirt XML validates
# against libvirt's schema, the OVF is well-formed with the expected
# structure and its manifest matches sha256sum, the Proxmox config has the
# expected keys, the PowerShell script quotes a hostile name; every exported
# disk is identical to the original (qemu-img compare); README.txt says what
# was recorded and what is a default. Errors: a non-empty folder, a file
# snapshot, usage; the hunt gate refuses a flagged image snapshot.
set -u
. "${CR_TESTLIB:?}"
. "$CR_SRC/tests/image-lib.bash"
img_need qemu-img virt-xml-validate xmllint sha256sum sgdisk mkfs.ext4 mkfs.vfat mcopy python3 || exit $?

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive

mkdisk() {
    python3 - "$1" "$2" "$3" <<'EOF'
import random, sys
path, seed, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
size = mib * 1048576
with open(path, "wb") as f:
    f.truncate(size)
    for off in (0, size // 3, size - 65536):
        f.seek(off)
        f.write(bytes(r.getrandbits(8) for _ in range(65536)))
EOF
}
mkdisk d0.raw 1 24
mkdisk d1.raw 2 9
expect_exit 0 cr backup --source pacs-vm --image d0.raw --image d1.raw --no-files \
    --vm-cpus 4 --vm-memory 4096 --vm-firmware uefi --vm-os linux
mkdir -p files && printf 'x\n' > files/a.txt
expect_exit 0 cr backup --source host files

same_disks() { # DIR EXT QEMUFMT PREFIX
    qemu-img compare -q -f raw -F "$3" d0.raw "$1/$4-disk0.$2" || fail "$1: disk0 differs from the original"
    qemu-img compare -q -f raw -F "$3" d1.raw "$1/$4-disk1.$2" || fail "$1: disk1 differs from the original"
    [ "$(ls -A "$1" | grep -c cleanroom)" = 0 ] || fail "$1: staging left: $(ls -A "$1")"
}

# --- KVM
expect_exit 0 cr vm-export pacs-vm:latest --hypervisor kvm --target exp/kvm
K=exp/kvm
for f in pacs-vm.xml pacs-vm-disk0.qcow2 pacs-vm-disk1.qcow2 README.txt; do
    [ -f "$K/$f" ] || fail "kvm: $f not written"
    assert_grep "^  $(pwd -P)/exp/kvm/$f$" "$CR_OUT" "kvm: $f listed"
done
[ "$(ls -A $K | wc -l)" = 4 ] || fail "kvm: unexpected files: $(ls -A $K)"
assert_grep "^  virsh define $(pwd -P)/exp/kvm/pacs-vm.xml$" "$CR_OUT" "kvm: next command"
assert_grep "^  virsh start pacs-vm$" "$CR_OUT" "kvm: start command"
virt-xml-validate "$K/pacs-vm.xml" domain >/dev/null 2>&1 || {
    virt-xml-validate "$K/pacs-vm.xml" domain
    fail "kvm: the domain XML does not validate"
}
x() { xmllint --xpath "$2" "$1" 2>/dev/null; }
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/memory)')" 4096 "kvm: memory"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/memory/@unit)')" MiB "kvm: memory unit"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/vcpu)')" 4 "kvm: vcpu"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/os/@firmware)')" efi "kvm: uefi"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/os/type/@machine)')" q35 "kvm: q35"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/devices/disk[2]/source/@file)')" "$(pwd -P)/$K/pacs-vm-disk1.qcow2" "kvm: absolute disk path"
assert_eq "$(x $K/pacs-vm.xml 'string(/domain/devices/disk[1]/target/@dev)')" vda "kvm: virtio disk"
same_disks $K qcow2 qcow2 pacs-vm
assert_grep "^  memory:     4096 MiB \(recorded at backup\)$" $K/README.txt "README: recorded memory"
assert_grep "^  firmware:   UEFI \(recorded at backup\)$" $K/README.txt "README: recorded firmware"
assert_grep "^  disk bus:   virtio \(default: not recorded\)$" $K/README.txt "README: default bus"
assert_grep "virsh define '?$(pwd -P)/$K/pacs-vm.xml" $K/README.txt "README: define command"
pass "kvm"

# --- Proxmox, with overrides
expect_exit 0 cr vm-export pacs-vm:latest --hypervisor proxmox --out exp/pve --vm-memory 8G --vm-cpus 2  # --out: the older name of --target
P=exp/pve
for kv in "bios: ovmf" "machine: q35" "cores: 2" "memory: 8192" "name: pacs-vm" \
    "net0: virtio,bridge=vmbr0" "ostype: l26" "scsihw: virtio-scsi-pci" "boot: order=scsi0" "sockets: 1"; do
    assert_grep "^$kv$" $P/pacs-vm.conf "proxmox: '$kv'"
done
grep -v '^#' $P/pacs-vm.conf | grep -Evq '^[a-z0-9]+: [^ ].*$' && fail "proxmox: a line that is not 'key: value'"
same_disks $P qcow2 qcow2 pacs-vm
assert_grep "^  memory:     8192 MiB \(given for this export\)$" $P/README.txt "README: override said"
assert_grep "qm create \"\\\$VMID\" --name pacs-vm --cores 2 --sockets 1 --memory 8192" $P/README.txt "README: qm create"
assert_grep "qm set \"\\\$VMID\" --scsi1 \"\\\$STORAGE:0,import-from=\\\$PWD/pacs-vm-disk1.qcow2\"" $P/README.txt "README: import-from"
assert_grep "qm importdisk \"\\\$VMID\" pacs-vm-disk0.qcow2" $P/README.txt "README: importdisk"
pass "proxmox"

# --- VMware
expect_exit 0 cr --json vm-export pacs-vm:latest --hypervisor esxi --target exp/vmw
V=exp/vmw
python3 - "$CR_OUT" <<'EOF' || fail "vm-export --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["hypervisor"] == "vmware" and j["target"] == "exp/vmw" and j["out"] == "exp/vmw", j
assert [f.split("/")[-1] for f in j["files"]] == ["pacs-vm-disk0.vmdk", "pacs-vm-disk1.vmdk", "pacs-vm.ovf", "pacs-vm.mf", "README.txt"], j
assert j["hunted"] is False and j["flagged"] == [] and j["lost"] == [], j
EOF
xmllint --noout $V/pacs-vm.ovf || fail "vmware: OVF not well-formed"
NS='declare namespace o="http://schemas.dmtf.org/ovf/envelope/1";'
ox() { xmllint --xpath "$1" $V/pacs-vm.ovf 2>/dev/null; }
O='/*[local-name()="Envelope"]'
assert_eq "$(ox "count($O/*[local-name()='References']/*[local-name()='File'])")" 2 "ovf: two files"
assert_eq "$(ox "string($O/*[local-name()='References']/*[local-name()='File'][2]/@*[local-name()='size'])")" \
    "$(stat -c %s $V/pacs-vm-disk1.vmdk)" "ovf: file size"
assert_eq "$(ox "string($O/*[local-name()='DiskSection']/*[local-name()='Disk'][1]/@*[local-name()='capacity'])")" \
    $((24 * 1048576)) "ovf: capacity in bytes"
assert_eq "$(ox "string(//*[local-name()='Item'][*[local-name()='ResourceType']='4']/*[local-name()='VirtualQuantity'])")" 4096 "ovf: memory"
assert_eq "$(ox "string(//*[local-name()='Item'][*[local-name()='ResourceType']='3']/*[local-name()='VirtualQuantity'])")" 4 "ovf: cpus"
assert_eq "$(ox "string(//*[local-name()='Item'][*[local-name()='ResourceType']='6']/*[local-name()='ResourceSubType'])")" lsilogic "ovf: SCSI controller"
assert_eq "$(ox "count(//*[local-name()='Item'][*[local-name()='ResourceType']='17'])")" 2 "ovf: two disks"
assert_eq "$(ox "string(//*[local-name()='Item'][*[local-name()='ResourceType']='10']/*[local-name()='ResourceSubType'])")" VmxNet3 "ovf: NIC"
assert_eq "$(ox "string(//*[local-name()='Config'][@*[local-name()='key']='firmware']/@*[local-name()='value'])")" efi "ovf: efi"
: "$NS"
# The manifest, as ovftool checks it.
n=0
while read -r line; do
    f=$(printf '%s' "$line" | sed -n 's/^SHA256(\(.*\))= [0-9a-f]\{64\}$/\1/p')
    h=${line##*= }
    [ -n "$f" ] || fail "manifest line: $line"
    assert_eq "$h" "$(sha256sum "$V/$f" | cut -d' ' -f1)" "manifest hash of $f"
    n=$((n + 1))
done < $V/pacs-vm.mf
assert_eq "$n" 3 "manifest: ovf + two disks"
for i in 0 1; do
    assert_eq "$(qemu-img info --output=json $V/pacs-vm-disk$i.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)["format-specific"]["data"]["create-type"])')" \
        streamOptimized "vmware: disk$i streamOptimized"
done
same_disks $V vmdk vmdk pacs-vm
pass "vmware"

# --- Hyper-V, a hostile name, UEFI then BIOS
expect_exit 0 cr vm-export pacs-vm:latest --hypervisor hyperv --target exp/hv --name "O'Brien <ward> & co"
H=exp/hv
B="O_Brien_ward_co"
[ -f "$H/create-$B.ps1" ] || fail "hyperv: no create-$B.ps1 ($(ls -A $H))"
assert_grep "^\\\$Name = 'O''Brien <ward> & co'$" "$H/create-$B.ps1" "ps1: name quoted, quote doubled"
assert_grep "New-VM -Name \\\$Name -Generation 2 -MemoryStartupBytes 4096MB -VHDPath \\\$Disk0" "$H/create-$B.ps1" "ps1: Gen 2"
assert_grep "^\\\$Disk1 = Join-Path \\\$PSScriptRoot '$B-disk1.vhdx'$" "$H/create-$B.ps1" "ps1: disk relative to the script"
assert_grep "^Add-VMHardDiskDrive -VMName \\\$Name -Path \\\$Disk1$" "$H/create-$B.ps1" "ps1: second disk"
assert_grep "^Set-VMProcessor -VMName \\\$Name -Count 4$" "$H/create-$B.ps1" "ps1: cpus"
assert_grep "^Set-VMFirmware -VMName \\\$Name -EnableSecureBoot Off$" "$H/create-$B.ps1" "ps1: secure boot off for Linux"
assert_grep "Connect-VMNetworkAdapter -VMName \\\$Name -SwitchName \\\$SwitchName" "$H/create-$B.ps1" "ps1: switch parameter"
same_disks $H vhdx vhdx "$B"
expect_exit 0 cr vm-export pacs-vm:latest --hypervisor hyper-v --target exp/hv1 --vm-firmware bios
assert_grep "-Generation 1 " exp/hv1/create-pacs-vm.ps1 "ps1: Gen 1 for BIOS"
grep -q EnableSecureBoot exp/hv1/create-pacs-vm.ps1 && fail "ps1: Secure Boot on a Gen 1 VM"
assert_grep "^  firmware:   BIOS \(given for this export\)$" exp/hv1/README.txt "README: firmware override"
pass "hyperv"

# --- errors
mkdir busy && printf 'keep' > busy/mine.txt
expect_exit 1 cr vm-export pacs-vm:latest --hypervisor kvm --target busy
assert_grep "busy is not empty" "$CR_ERR" "non-empty folder"
[ "$(ls -A busy)" = mine.txt ] && [ "$(cat busy/mine.txt)" = keep ] || fail "non-empty folder changed"
expect_exit 2 cr vm-export host:latest --hypervisor kvm --target exp/f
assert_grep "is a file snapshot: only snapshots of disk images" "$CR_ERR" "file snapshot"
[ ! -e exp/f ] || fail "file snapshot: folder created"
expect_exit 2 cr vm-export pacs-vm:latest --hypervisor xen --target exp/x
assert_grep "unknown hypervisor 'xen'" "$CR_ERR" "unknown hypervisor"
expect_exit 2 cr vm-export pacs-vm:latest --hypervisor kvm
assert_grep "--target DIR is required" "$CR_ERR" "no --target"
expect_exit 2 cr vm-export pacs-vm:latest --target exp/x
expect_exit 2 cr vm-export pacs-vm:latest --hypervisor kvm --target exp/x --vm-memory lots
expect_exit 2 cr vm-export pacs-vm:latest --hypervisor kvm --target exp/x --vm-firmware coreboot
expect_exit 2 cr vm-export pacs-vm:latest --hypervisor kvm --target exp/x --quarantine q
[ ! -e exp/x ] || fail "a usage error created the folder"
pass "errors"

# --- the hunt gate
mkdir -p tree/etc tree/usr/bin tree/srv
printf 'root:x:0:0:root:/root:/bin/bash\n' > tree/etc/passwd
printf '#!/bin/sh\necho hi\n' > tree/usr/bin/hello
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > eicar.com
mk_ext4_gpt_image gate.raw tree 64M || fail "cannot build the GPT image"
expect_exit 0 cr backup --source web --image gate.raw --time 2026-11-01
img_ext4_put gate.raw "$IMG_P2_OFF" eicar.com /srv/eicar.com || fail "debugfs cannot put the file in the image"
expect_exit 0 cr backup --source web --image gate.raw --time 2026-11-02
expect_exit 0 cr hunt
expect_exit 0 cr findings
assert_grep "critical +malware +/disk0/p2/srv/eicar.com +yara:EICAR_Test_File" "$CR_OUT" "the hunt sees the file inside the image"
DAY1=$(cr snapshots --json | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin) if s["source"] == "web"][0][:8])')
expect_exit 8 cr vm-export web:latest --hypervisor kvm --target exp/gate
assert_grep "refused: restore point [0-9a-f]{8} \(web, .*\) is compromised" "$CR_ERR" "gate: refused"
assert_grep "^  cleanroom vm-export $DAY1 --hypervisor kvm --target exp/gate$" "$CR_ERR" "gate: the clean point's command"
[ ! -e exp/gate ] || fail "gate: something was written"
expect_exit 0 cr vm-export web:latest --hypervisor kvm --target exp/gate --accept-risk
assert_grep "RESTORING A COMPROMISED RESTORE POINT" "$CR_ERR" "gate: accept-risk is loud"
qemu-img compare -q -f raw -F qcow2 gate.raw exp/gate/web-disk0.qcow2 || fail "gate: exported disk differs"
pass "hunt gate"
