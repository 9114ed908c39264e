# recover with disk-image targets: one disk restored as a qcow2 image, the
# whole VM exported for KVM; the exported definition names the disk at its
# final place (not the staging folder it was written in).
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
printf 'rule never_fires { condition: false }\n' > rules/yara/none.yar
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules
expect_exit 0 cr init --kdf interactive
truncate -s 16M disk.img
mkfs.ext4 -q -F disk.img || fail "mkfs.ext4"
expect_exit 0 cr backup --source vm1 --time 2026-11-01 --image disk.img
expect_exit 0 cr hunt
cat > plan.yaml <<EOF
site: t
vault: vault
services:
  - {name: vm1, tier: 0, target: {image: $SCRATCH/prod/vm1.qcow2}}
  - {name: vm2, tier: 1, depends_on: [vm1], source: vm1, target: {vm: $SCRATCH/prod/vm2, hypervisor: kvm}}
EOF
unset CLEANROOM_REPO
expect_exit 0 cr recover plan.yaml
assert_grep "^recovery summary: 2 ok, 0 failed, 0 blocked" "$CR_OUT" "summary"
qemu-img info --output=json prod/vm1.qcow2 | grep -q '"format": "qcow2"' || fail "not a qcow2 image"
qemu-img convert -O raw prod/vm1.qcow2 back.img
cmp disk.img back.img || fail "the restored disk differs"
assert_grep "<source file=\"$SCRATCH/prod/vm2/vm1-disk0.qcow2\"/>" prod/vm2/vm1.xml "disk at its final place"
grep -rq "cleanroom-partial" prod/vm2 && fail "the staging path is still named"
ls prod | grep -q partial && fail "a staging path was left"
expect_exit 0 cr journal verify plan.journal
pass "image and vm targets"
