# A block device given to --image is read in the parser sandbox like an image
# file: the clean room opens the device read-only and hands the open file to
# the reader, whose root holds no folder of the host (it may not open /dev).
# Played on loop devices the test makes (root only; skipped elsewhere): an
# ext4 filesystem on a device backs up and its files restore byte for byte;
# a device holding CLEANROOM-TEST-SANDBOX-CRASH (tests only,
# CLEANROOM_TEST_HOOKS=1) crashes the reader, which proves the bytes were read
# in the child: exit 5 naming the device, nothing saved, the vault intact.
set -u
. "${CR_TESTLIB:?}"

if [ "$(id -u)" != 0 ] || ! command -v losetup >/dev/null || ! losetup -f >/dev/null 2>&1; then
    echo "skipped: loop devices need root and losetup"
    exit 77
fi

V=$SCRATCH/vault
expect_exit 0 cr --repo "$V" init --kdf interactive

snapshot_count() {
    cr --repo "$V" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# attach VAR FILE: a read-only loop device over FILE in $VAR, detached on exit
# (not in a command substitution: on_exit must run in this shell)
attach() {
    local dev
    dev=$(losetup -f --show -r "$2") || fail "losetup $2"
    on_exit "losetup -d '$dev'"
    printf -v "$1" '%s' "$dev"
}

mkdir -p tree/etc tree/srv/dpi
echo "serveur de test" > tree/etc/motd
head -c 300000 /dev/urandom > tree/srv/dpi/patient.bin
truncate -s 64M fs.raw
mke2fs -q -t ext4 -d tree fs.raw || fail "mke2fs"
attach DEV fs.raw

expect_exit 0 cr --repo "$V" backup --source phys1 --image "$DEV"
assert_grep "disk0: $DEV \(raw\), size 64 MiB" "$CR_OUT" "the summary names the device"
assert_grep 'fs +ext4' "$CR_OUT" "the filesystem on the device was read"
expect_exit 0 cr --repo "$V" restore phys1:latest --target out --include /disk0/fs/srv
cmp tree/srv/dpi/patient.bin out/disk0/fs/srv/dpi/patient.bin || fail "restored file differs"
pass "a block device backs up through the sandbox, its files restore byte for byte"

# The reader never sees /dev: a second backup of the same device still works
# with the sandbox's strict default, and the marker crashes the reader in the child.
truncate -s 16M crash.raw
head -c 1048576 /dev/urandom | dd of=crash.raw bs=1M seek=1 conv=notrunc status=none
printf 'CLEANROOM-TEST-SANDBOX-CRASH' | dd of=crash.raw bs=1M seek=9 conv=notrunc status=none
attach CDEV crash.raw
export CLEANROOM_TEST_HOOKS=1 CLEANROOM_SANDBOX_TIMEOUT=5
expect_exit 5 cr --repo "$V" backup --source phys2 --image "$CDEV"
assert_grep "the disk image reader crashed on disk0 \($CDEV\)" "$CR_ERR" "the crash names the device"
assert_grep 'SIGSEGV|exited with status|stopped answering' "$CR_ERR" "the crash names the fault"
assert_eq "$(snapshot_count)" 1 "snapshots after a crashed reader"
unset CLEANROOM_TEST_HOOKS
expect_exit 0 cr --repo "$V" verify
pass "a device that crashes its reader ends the backup with exit 5; the vault is intact"

# Without the sandbox the same bytes are inert data (the hook lives in the child only).
CLEANROOM_TEST_HOOKS=1 CLEANROOM_SANDBOX=off expect_exit 0 cr --repo "$V" backup --source phys2 --image "$CDEV"
pass "the crash hook exists only in the sandbox's reader"
