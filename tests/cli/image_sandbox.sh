# The disk image reader runs in the parser sandbox: played as crafted disks
# would. With CLEANROOM_TEST_HOOKS=1 (tests only) a disk holding
# CLEANROOM-TEST-SANDBOX-CRASH makes the child that reads it write through
# NULL, -LOOP spin forever, -SOCKET create a socket, -OPEN open /etc/shadow.
# Each must end the backup with exit 5 and a message naming the disk and the
# fault, with nothing saved and the vault intact (verify, a later backup) —
# except -OPEN: the reader may open files read-only, in a root that holds only
# the image's folder, so it finds nothing and the backup succeeds (the hook
# aborts if the open works). The crafted bytes go through qcow2 (libqcow in
# the child) as through raw. Without the test switch, or with
# CLEANROOM_SANDBOX=off, the markers are inert data.
set -u
. "${CR_TESTLIB:?}"

V=$SCRATCH/vault
expect_exit 0 cr --repo "$V" init --kdf interactive

snapshot_count() {
    cr --repo "$V" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# crafted NAME KIND: a 16 MiB raw disk with random data and the marker at 9 MiB
crafted() {
    truncate -s 16M "$1"
    head -c 1048576 /dev/urandom | dd of="$1" bs=1M seek=1 conv=notrunc status=none
    printf 'CLEANROOM-TEST-SANDBOX-%s' "$2" | dd of="$1" bs=1M seek=9 conv=notrunc status=none
}
truncate -s 16M good.raw
head -c 2097152 /dev/urandom | dd of=good.raw bs=1M seek=2 conv=notrunc status=none
for k in CRASH LOOP SOCKET OPEN; do crafted "$(echo "$k" | tr A-Z a-z).raw" "$k"; done
qemu-img convert -f raw -O qcow2 crash.raw crash.qcow2 || fail "qemu-img convert"

expect_exit 0 cr --repo "$V" backup --source vm --image good.raw
assert_eq "$(snapshot_count)" 1 "snapshots"

export CLEANROOM_TEST_HOOKS=1 CLEANROOM_SANDBOX_TIMEOUT=3
# A good disk and a crafted one in the same run: nothing of either is saved.
for img in crash.raw crash.qcow2; do
    expect_exit 5 cr --repo "$V" backup --source vm --image good.raw --image "$img"
    assert_grep "the disk image reader crashed on disk1 \(.*/$img\)" "$CR_ERR" "the crash names the disk"
    assert_grep 'the image may be crafted' "$CR_ERR" "the crash says why it matters"
    # (Under the sanitizers the fault is theirs to report first: any way the child ends is accepted.)
    assert_grep 'SIGSEGV|exited with status|stopped answering' "$CR_ERR" "the crash names the fault"
    assert_eq "$(snapshot_count)" 1 "snapshots after a crashed reader"
done
pass "a disk that crashes its reader ends the backup with exit 5, nothing saved"

expect_exit 5 cr --repo "$V" backup --source vm --image loop.raw
assert_grep 'crashed on disk0 .*no answer for 3 s' "$CR_ERR" "the looping reader is stopped by its time limit"
expect_exit 5 cr --repo "$V" backup --source vm --image socket.raw
assert_grep 'crashed on disk0 .*seccomp' "$CR_ERR" "socket() is stopped by seccomp"
expect_exit 0 cr --repo "$V" backup --source vm --image open.raw
assert_eq "$(snapshot_count)" 2 "snapshots"
pass "a looping reader is stopped, a socket is refused, /etc/shadow is not there to open"

# The vault is intact: it verifies, and the next backup (child of the first) works.
expect_exit 0 cr --repo "$V" verify
expect_exit 0 cr --repo "$V" backup --source vm --image good.raw
assert_eq "$(snapshot_count)" 3 "snapshots"
pass "the vault is intact after the crashed readers"

# Without the test switch the markers are data; with the sandbox off, too (no child, no hook).
unset CLEANROOM_TEST_HOOKS
expect_exit 0 cr --repo "$V" backup --source vm --image crash.raw
CLEANROOM_TEST_HOOKS=1 CLEANROOM_SANDBOX=off expect_exit 0 cr --repo "$V" backup --source vm --image crash.qcow2
assert_eq "$(snapshot_count)" 5 "snapshots"
pass "the markers are inert without the test switch or without the sandbox"
