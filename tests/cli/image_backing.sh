# backup --image, as an attacker who wrote the image's header would: a qcow2
# overlay whose backing file is an absolute path to another VM's disk, or
# "../other/victim.qcow2", is refused before anything is read, with one
# message whether the named file exists or not; the same overlay is saved
# with --allow-backing for that folder, and its chain is shown in the summary
# and recorded in the snapshot. A symlink in the image's folder pointing
# outside is refused the same way. A qcow2 whose header size is 0 while its
# tables map data is refused (exit 2); one whose size is smaller than the
# data mapped is saved with a warning (exit 5), its snapshot keeping the
# header's size and recording the bytes left out.
set -u
. "${CR_TESTLIB:?}"
command -v qemu-img >/dev/null || { echo "qemu-img missing: skipped"; exit 77; }

V=$SCRATCH/vault
expect_exit 0 cr --repo "$V" init --kdf interactive

nsnap() { cr --repo "$V" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# The victim: another VM's disk, with a secret in it.
mkdir -p vm other pool
truncate -s 16M secret.raw
printf 'HOSPITAL-SECRET-KEY' | dd of=secret.raw bs=1 seek=1048576 conv=notrunc status=none
qemu-img convert -q -f raw -O qcow2 secret.raw other/victim.qcow2 || fail "qemu-img convert"
cp other/victim.qcow2 pool/base.qcow2

# overlay OUT BACKING: a qcow2 over BACKING, written as given (-u: not checked by qemu-img).
overlay() { qemu-img create -q -f qcow2 -u -b "$2" -F qcow2 "$1" 16M || fail "qemu-img create $1"; }

# refused IMAGE: exit 2, the one message, nothing saved, the secret not in the vault.
refused() {
    local before
    before=$(nsnap)
    expect_exit 2 cr --repo "$V" backup --source attacker --image "$1"
    assert_grep "lies outside the image's folder: refused" "$CR_ERR" "refusal of $1"
    assert_eq "$(nsnap)" "$before" "snapshots after the refusal of $1"
}

overlay vm/abs.qcow2 "$SCRATCH/other/victim.qcow2"
refused vm/abs.qcow2
overlay vm/dotdot.qcow2 ../other/victim.qcow2
refused vm/dotdot.qcow2
# Deeper: inside first, then out.
overlay vm/zigzag.qcow2 ./sub/../../other/victim.qcow2
refused vm/zigzag.qcow2
pass "absolute and .. backing files refused"

# No oracle: the same overlay, its backing file there or not, gets the same words.
expect_exit 2 cr --repo "$V" backup --source attacker --image vm/abs.qcow2
cp "$CR_ERR" err-exists
mv other/victim.qcow2 other/victim.moved
expect_exit 2 cr --repo "$V" backup --source attacker --image vm/abs.qcow2
cp "$CR_ERR" err-missing
cmp -s err-exists err-missing || { diff err-exists err-missing >&2; fail "the refusal differs for an existing and a missing backing file"; }
expect_exit 2 cr --repo "$V" backup --source attacker --image vm/dotdot.qcow2
cp "$CR_ERR" err-dd-missing
mv other/victim.moved other/victim.qcow2
expect_exit 2 cr --repo "$V" backup --source attacker --image vm/dotdot.qcow2
cmp -s err-dd-missing "$CR_ERR" || fail "the .. refusal differs for an existing and a missing backing file"
pass "one message whether the refused file exists or not"

# A symlink in the image's folder whose target lies outside.
ln -s ../other/victim.qcow2 vm/link.qcow2
overlay vm/vialink.qcow2 link.qcow2
refused vm/vialink.qcow2
pass "a symlink out of the folder refused"

# The libvirt case: the operator allows the pool.
overlay vm/lab.qcow2 "$SCRATCH/pool/base.qcow2"
refused vm/lab.qcow2
expect_exit 0 cr --repo "$V" backup --source lab --image vm/lab.qcow2 --allow-backing pool --no-files
assert_grep "^    backing file: $SCRATCH/pool/base.qcow2 \(qcow2\)$" "$CR_OUT" "chain in the summary"
expect_exit 0 cr --repo "$V" snapshots --json
python3 - "$CR_OUT" "$SCRATCH" <<'PY' || fail "chain recorded in the snapshot"
import json, sys
s = json.load(open(sys.argv[1]))[-1]
d = s["disks"][0]
assert d["backing"] == [{"path": sys.argv[2] + "/pool/base.qcow2", "format": "qcow2"}], d
assert d["dropped"] == 0 and d["stored"] > 0, d
PY
# The data of the base shows through.
expect_exit 0 cr --repo "$V" restore lab:latest --image lab.raw --format raw
cmp -s lab.raw secret.raw || fail "the overlay over the allowed base is not restored as the base"
# Allowing another folder does not allow this one.
mkdir -p elsewhere
refused_allow() {
    expect_exit 2 cr --repo "$V" backup --source lab --image vm/lab.qcow2 --allow-backing elsewhere
    assert_grep "lies outside the image's folder and the folders allowed: refused" "$CR_ERR" "other folder allowed"
}
refused_allow
pass "--allow-backing for the pool: saved, chain shown and recorded"

# A chain inside the image's folder needs nothing; both files are listed.
cp pool/base.qcow2 vm/base.qcow2
overlay vm/mid.qcow2 base.qcow2
overlay vm/top.qcow2 mid.qcow2
expect_exit 0 cr --repo "$V" backup --source top --image vm/top.qcow2 --no-files
assert_grep "^    backing file: $SCRATCH/vm/mid.qcow2 \(qcow2\)$" "$CR_OUT" "first backing file"
assert_grep "^    backing file: $SCRATCH/vm/base.qcow2 \(qcow2\)$" "$CR_OUT" "second backing file"
pass "a chain in the image's folder"

# A missing backing file inside the folder is "missing" (exit 7).
overlay vm/gone.qcow2 nothere.qcow2
expect_exit 7 cr --repo "$V" backup --source gone --image vm/gone.qcow2
assert_grep "backing file nothere.qcow2 is missing" "$CR_ERR" "missing inside the folder"
# --allow-backing is checked and needs --image.
expect_exit 2 cr --repo "$V" backup --source lab --image vm/lab.qcow2 --allow-backing secret.raw
expect_exit 2 cr --repo "$V" backup --source lab --allow-backing pool "$SCRATCH/vm"
pass "missing backing file, --allow-backing checks"

# Header size against mapped data (qcow2: big-endian size at byte 24).
truncate -s 8M d.raw
head -c 1300000 /dev/urandom | dd of=d.raw bs=1 seek=100000 conv=notrunc status=none
head -c 100000 /dev/urandom | dd of=d.raw bs=1 seek=6000000 conv=notrunc status=none
qemu-img convert -q -f raw -O qcow2 d.raw zero.qcow2 || fail "qemu-img convert"
cp zero.qcow2 small.qcow2
printf '\0\0\0\0\0\0\0\0' | dd of=zero.qcow2 bs=1 seek=24 conv=notrunc status=none
before=$(nsnap)
expect_exit 2 cr --repo "$V" backup --source zero --image zero.qcow2
assert_grep "qcow2 header gives a virtual size of 0 bytes, but its tables map [0-9]+ bytes of data" "$CR_ERR" "size 0 refused"
assert_eq "$(nsnap)" "$before" "snapshots after the size-0 refusal"
# 2 MiB: the 100000 bytes at 6000000 (three 64 KiB clusters) lie beyond.
printf '\0\0\0\0\0\x20\0\0' | dd of=small.qcow2 bs=1 seek=24 conv=notrunc status=none
expect_exit 5 cr --repo "$V" backup --source small --image small.qcow2 --no-files
assert_grep "small.qcow2: its qcow2 tables map 196608 bytes of data beyond the size its header gives \(2097152 bytes\)" "$CR_ERR" "warning names what was dropped"
assert_grep "^    not stored: 192 KiB of data mapped beyond the size the header gives$" "$CR_OUT" "summary says it"
expect_exit 0 cr --repo "$V" snapshots --json
python3 - "$CR_OUT" <<'PY' || fail "snapshot keeps the header's size and records what was dropped"
import json, sys
s = json.load(open(sys.argv[1]))[-1]
d = s["disks"][0]
assert d["virtual_size"] == 2 << 20 and d["dropped"] == 196608, d
assert s["errors"] == 1, s["errors"]
PY
pass "size 0 refused, smaller size warned (exit 5) and recorded"
