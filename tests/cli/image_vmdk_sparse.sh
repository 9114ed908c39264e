# backup --image of sparse VMDKs: only the allocated grains are read. A VMDK
# claiming 64 TiB with nothing allocated (qemu-img create -f vmdk: grain
# tables preallocated in a hole of the file) is saved in a few seconds, in
# monolithicSparse and streamOptimized; before the allocation map it was read
# byte by byte through libvmdk (45 minutes). The 5 s limit (15 s in a sanitizer
# build) is a regression guard for that stall, not a benchmark (the time and
# memory are printed).
# Data stays right: a VMDK written at several offsets (qemu-io), in every
# sparse subformat and as a child of a parent VMDK, restores to the same
# bytes as qemu-img reads (qemu-img compare).
set -u
. "${CR_TESTLIB:?}"
for t in qemu-img qemu-io python3; do
    command -v "$t" >/dev/null || { echo "$t missing: skipped"; exit 77; }
done

V=$SCRATCH/vault
expect_exit 0 cr --repo "$V" init --kdf interactive

# timed SECONDS_MAX ARGS...: a backup within the limit; prints its time and peak memory.
timed() {
    local max=$1 t0 t1 rss
    shift
    t0=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        expect_exit 0 /usr/bin/time -f 'rss %M KiB' -o time.txt "$CLEANROOM" --repo "$V" "$@"
        rss=$(cat time.txt)
    else
        expect_exit 0 cr --repo "$V" "$@"
        rss="rss unknown"
    fi
    t1=$(date +%s.%N)
    echo "backup $*: $(python3 -c "print(round($t1 - $t0, 2))") s, $rss"
    python3 -c "import sys; sys.exit(0 if $t1 - $t0 < $max else 1)" ||
        fail "backup $* took $(python3 -c "print(round($t1 - $t0, 1))") s (limit $max s): the sparse VMDK is read instead of skipped"
}

# A sanitizer build (ASan zeroes the backup's 512 MB chunk map by hand) gets more time.
LIMIT=5
grep -q __asan_init "$CLEANROOM" 2>/dev/null && LIMIT=15
for sub in monolithicSparse streamOptimized; do
    qemu-img create -q -f vmdk -o subformat=$sub "big-$sub.vmdk" 64T || fail "qemu-img create $sub"
    timed "$LIMIT" backup --source "big-$sub" --image "big-$sub.vmdk"
    assert_grep "^  disk0: .*/big-$sub.vmdk \(vmdk\), size 64 TiB, stored 0 B$" "$CR_OUT" "$sub summary"
done
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse split.vmdk 1T || fail "qemu-img create split"
timed "$LIMIT" backup --source split --image split.vmdk --no-files
assert_grep "^  disk0: .*/split.vmdk \(vmdk\), size 1.0 TiB, stored 0 B$" "$CR_OUT" "twoGbMaxExtentSparse summary"
pass "empty sparse VMDKs of 64 TiB and 1 TiB skipped"

# Data at several offsets of a 256 GiB VMDK: the start, odd offsets, across a grain
# table's span (32 MiB), far out across a 4 MiB chunk, and the last sector. (A VMDK with
# data is also opened by libvmdk, whose cost grows with the claimed size: kept moderate.)
qemu-img create -q -f vmdk data.vmdk 256G || fail "qemu-img create data.vmdk"
qemu-io -f vmdk -c 'write -q -P 0x11 0 4k' -c 'write -q -P 0x22 1000448 70000' \
    -c 'write -q -P 0x33 33553920 1024' -c 'write -q -P 0x44 137438952960 65536' \
    -c 'write -q -P 0x55 274877906432 512' data.vmdk >/dev/null || fail "qemu-io write"
timed $((LIMIT * 2)) backup --source data --image data.vmdk --no-files
expect_exit 0 cr --repo "$V" restore data:latest --image data.raw --format raw
# (qemu-img compare would take minutes over 256 GiB: the written ranges are checked,
# and every byte of the restored file's data segments outside them must be zero.)
python3 - data.raw <<'PY' || fail "the restored VMDK differs from what was written"
import os, sys
w = [(0, 4096, 0x11), (1000448, 70000, 0x22), (33553920, 1024, 0x33),
     (137438952960, 65536, 0x44), (274877906432, 512, 0x55)]
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
assert size == 256 << 30, size
for off, n, b in w:
    assert os.pread(fd, n, off) == bytes([b]) * n, hex(off)
def pattern(o):
    for off, n, b in w:
        if off <= o < off + n:
            return b
    return 0
pos = 0
while True:
    try:
        pos = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, pos, os.SEEK_HOLE)
    data = os.pread(fd, end - pos, pos)
    for i in range(0, len(data), 512):
        blk = data[i:i + 512]
        o = pos + i
        want = bytes(pattern(o + k) for k in range(len(blk)))
        assert blk == want, "unexpected bytes at %d" % o
    pos = end
PY
pass "data at several offsets restored identical"

# The same data in the other sparse subformats, and a child over a parent.
truncate -s 96M small.raw
head -c 300000 /dev/urandom | dd of=small.raw bs=1 seek=12345 conv=notrunc status=none
head -c 70000 /dev/urandom | dd of=small.raw bs=1 seek=$((40 * 1048576 - 1000)) conv=notrunc status=none
head -c 512 /dev/urandom | dd of=small.raw bs=1 seek=$((96 * 1048576 - 512)) conv=notrunc status=none
for sub in monolithicSparse streamOptimized twoGbMaxExtentSparse; do
    qemu-img convert -q -f raw -O vmdk -o subformat=$sub small.raw "s-$sub.vmdk" || fail "convert $sub"
    expect_exit 0 cr --repo "$V" backup --source "s-$sub" --image "s-$sub.vmdk" --no-files
    expect_exit 0 cr --repo "$V" restore "s-$sub:latest" --image "s-$sub.raw" --format raw
    cmp -s small.raw "s-$sub.raw" || fail "$sub: restored disk differs from the original"
done
qemu-img convert -q -f raw -O vmdk small.raw parent.vmdk || fail "convert parent"
qemu-img create -q -f vmdk -b parent.vmdk -F vmdk child.vmdk || fail "create child"
qemu-io -f vmdk -c 'write -q -P 0x66 50m 100k' -c 'write -q -P 0x77 12288 4k' child.vmdk >/dev/null ||
    fail "qemu-io write child"
expect_exit 0 cr --repo "$V" backup --source child --image child.vmdk --no-files
assert_grep "^    backing file: $SCRATCH/parent.vmdk \(vmdk\)$" "$CR_OUT" "parent in the summary"
expect_exit 0 cr --repo "$V" restore child:latest --image child.raw --format raw
qemu-img compare -q -f vmdk -F raw child.vmdk child.raw || fail "child over parent: restored disk differs"
pass "monolithicSparse, streamOptimized, twoGbMaxExtentSparse and a child VMDK restored identical"
