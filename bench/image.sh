#!/usr/bin/env bash
# cleanroom disk-image benchmark: backing up and restoring a VM's disk, against
# the tools that read and write disk images anyway (qemu-img, cat) and restic.
#
#   bench/image.sh            build the disk if needed (cached), then measure
#   bench/image.sh corpus     only build (or show) the cached disk
#
# The disk (see bench/README.md, "Disk images"): a sparse raw GPT disk of
# 8 GiB virtual size (2 GiB with BENCH_QUICK=1): p1 an EFI system partition
# (FAT, 32 MiB), p2 ext4 holding the Debian tree of the tests
# (tests/debian-tree.sh), incompressible files (AES-CTR keystream, fixed key)
# and compressible files (generated log and CSV text): about 2 GiB allocated
# (about 0.5 GiB quick). The same disk as qcow2 (qemu-img convert) is the
# input of the qcow2 -> raw conversion. Built with tests/image-lib.bash and
# cached in $CLEANROOM_BENCH_CACHE/image/.
#
# Steps (the page cache dropped before each, as in bench.sh):
#   cat           cat DISK.raw > /dev/null: how fast the disk can be read (holes as zeros)
#   read-data     only the allocated data of DISK.raw (SEEK_DATA/SEEK_HOLE, 4 MiB reads)
#   backup-1      cleanroom backup --image DISK.raw (first)      restic backup DISK.raw
#   backup-2      the same, nothing changed                       the same
#                 (both also as "cleanroom-nosbx": CLEANROOM_SANDBOX=off, into a
#                 vault of its own: the cost of reading the disk in the parser sandbox)
#   backup-1pct   after debugfs wrote ~1% of the allocated bytes (new and rewritten files)
#                 (also as "cleanroom-nosig": --no-ransomware-check, on a copy of the
#                 vault: the cost of the ransomware signals of an image backup)
#   restore-raw   cleanroom restore --image OUT (raw)             restic restore
#   restore-qcow2 cleanroom restore --image OUT --format qcow2
#   convert-raw   qemu-img convert -O raw DISK.qcow2 OUT; sync OUT: reading and writing
#                 an image, the physical reference (synced, as cleanroom syncs a restore)
#   convert-qcow2 qemu-img convert -O qcow2 DISK.raw OUT; sync OUT
#
# Environment: CLEANROOM, CLEANROOM_BENCH_CACHE, BENCH_QUICK, BENCH_KDF as for bench.sh;
#   BENCH_IMAGE_TOOLS  peers to run (default "restic qemu-img cat")
#
# A benchmark is not a test: it prints numbers and ratios, it fails only when a
# step could not run at all.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
QUICK=${BENCH_QUICK:-0}
KDF=${BENCH_KDF:-interactive}
PEERS=${BENCH_IMAGE_TOOLS:-restic qemu-img cat}
PASS="cleanroom-bench-passphrase"
TIME=/usr/bin/time
if [ "$QUICK" = 1 ]; then
    DISKDIR="$CACHE/image/quick" VSIZE=2G RANDOM_MIB=160 TEXT_MIB=160
else
    DISKDIR="$CACHE/image/full" VSIZE=8G RANDOM_MIB=1024 TEXT_MIB=768
fi
WORK="$CACHE/work-image"
RESULTS="$CACHE/results"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-image: $*"; exit 1; }

# ------------------------------------------------------------------ the disk

# shellcheck source=../tests/image-lib.bash
. "$ROOT/tests/image-lib.bash"
# shellcheck source=../tests/debian-tree.sh
. "$ROOT/tests/debian-tree.sh"

# keystream MIB FILE SEED: incompressible, deterministic bytes.
keystream() {
    head -c "$(($1 * 1048576))" /dev/zero |
        openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$3")" -iv 0 2>/dev/null >"$2"
}

build_disk() {
    [ -e "$DISKDIR/.done" ] && return 0
    local deb stage
    deb=$(cr_debian_tree) || die "no Debian tree (tests/debian-tree.sh needs root and the mirror)"
    rm -rf "$DISKDIR" && mkdir -p "$DISKDIR" || die "cannot create $DISKDIR"
    stage="$DISKDIR/stage"
    say "bench-image: building the disk in $DISKDIR (once): the Debian tree + ${RANDOM_MIB} MiB random + ${TEXT_MIB} MiB text"
    cp -a "$deb" "$stage" && rm -f "$stage/.cleanroom-complete" || die "cannot copy $deb"
    mkdir -p "$stage/srv/images" "$stage/var/log/app" "$stage/srv/exports"
    # Incompressible: 64 MiB files (like encrypted or compressed archives, images).
    local i n=$((RANDOM_MIB / 64))
    for ((i = 1; i <= n; i++)); do
        keystream 64 "$stage/srv/images/scan-$i.bin" "$i" || die "openssl failed"
    done
    # Compressible: log lines and CSV rows, 32 MiB files.
    python3 - "$stage" "$TEXT_MIB" <<'EOF' || die "could not write the text files"
import os, random, sys
root, mib = sys.argv[1], int(sys.argv[2])
rnd = random.Random(8)
wards = ["icu", "er", "cardio", "onco", "radio"]
for k in range(mib // 32):
    logs = k % 2 == 0
    p = os.path.join(root, "var/log/app" if logs else "srv/exports", "%s-%03d.%s" % ("app" if logs else "export", k, "log" if logs else "csv"))
    with open(p, "w") as f:
        size = 0
        while size < 32 << 20:
            if logs:
                line = "2026-03-%02d %02d:%02d:%02d host%d app[%d]: request %d ward=%s took %d ms status %d\n" % (
                    rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59),
                    rnd.randint(1, 9), rnd.randint(100, 9999), rnd.randint(0, 10**6), rnd.choice(wards),
                    rnd.randint(1, 900), rnd.choice((200, 200, 200, 304, 404, 500)))
            else:
                line = "P%06d,%s,%d,%.2f,%s\n" % (rnd.randint(0, 999999), rnd.choice(wards), rnd.randint(1930, 2025),
                                                  rnd.uniform(0, 300), "stable" if rnd.random() < .8 else "follow-up")
            f.write(line)
            size += len(line)
EOF
    mk_ext4_gpt_image "$DISKDIR/disk.raw" "$stage" "$VSIZE" || die "could not build the disk"
    rm -rf "$stage"
    img_convert "$DISKDIR/disk.raw" "$DISKDIR/disk.qcow2" qcow2 || die "qemu-img convert to qcow2 failed"
    echo "$IMG_P2_OFF" >"$DISKDIR/p2-offset"
    touch "$DISKDIR/.done"
}

# ------------------------------------------------------------------ measuring

CACHE_STATE="cold (page cache dropped before each step)"
drop_caches() {
    sync
    if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
        CACHE_STATE="warm (could not drop the page cache: not root or /proc/sys read-only)"
    fi
}

declare -A SECS RSS REPO STATUS
FAILED=0

# measure STEP TOOL CMD...
measure() {
    local step=$1 tool=$2 tf log rc secs rss usr sys
    shift 2
    tf="$WORK/log/$step-$tool.time" log="$WORK/log/$step-$tool.log"
    drop_caches
    "$TIME" -f "%e %M %U %S" -o "$tf" "$@" >"$log" 2>&1
    rc=$?
    read -r secs rss usr sys < <(tail -n1 "$tf")
    SECS[$step,$tool]=$secs
    RSS[$step,$tool]=$rss
    case $tool in
    cleanroom) REPO[$step,$tool]=$(du -sm "$WORK/repo-cleanroom" | cut -f1) ;;
    cleanroom-nosbx) REPO[$step,$tool]=$(du -sm "$WORK/repo-nosbx" | cut -f1) ;;
    restic) REPO[$step,$tool]=$(du -sm "$WORK/repo-restic" | cut -f1) ;;
    esac
    if [ "$rc" -eq 0 ]; then
        STATUS[$step,$tool]=ok
    else
        STATUS[$step,$tool]="FAILED (exit $rc)"
        FAILED=1
        say "bench-image: $tool $step failed (exit $rc), log tail:"
        tail -n 5 "$log" >&2
    fi
    say "bench-image: $(printf '%-13s %-9s %8ss %8s KiB  cpu %6.2fs user %6.2fs sys  %s' "$step" "$tool" \
        "$secs" "$rss" "$usr" "$sys" "${STATUS[$step,$tool]}")"
}

# same IMG1 IMG2 STEP TOOL: check an output against the input it should equal.
same() {
    if ! qemu-img compare -q "$1" "$2" >/dev/null 2>&1; then
        say "bench-image: WARNING: $4 $3 output differs from the original disk"
        STATUS[$3,$4]="${STATUS[$3,$4]}; OUTPUT DIFFERS"
        FAILED=1
    fi
}

crb() { "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet "$@"; }

# ------------------------------------------------------------------ report

STEPS=(cat read-data backup-1 backup-2 backup-1pct restore-raw restore-qcow2 convert-raw convert-qcow2)

row() {
    local step=$1 tool=$2 secs
    secs=${SECS[$step,$tool]:-}
    [ -n "$secs" ] || return 0
    local status=${STATUS[$step,$tool]}
    [ "$status" = ok ] && status="" || status=" ($status)"
    printf '| %s | %s | %s%s | %s | %s | %s | %s |\n' "$step" "$tool" "$secs" "$status" \
        "$(awk -v b="$ALLOC" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }')" \
        "$(awk -v b="$VIRT" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }')" \
        "$(awk -v k="${RSS[$step,$tool]}" 'BEGIN { printf "%.0f", k / 1024 }')" "${REPO[$step,$tool]:--}"
}

# ratio LABEL NUM_STEP NUM_TOOL DEN_STEP DEN_TOOL TARGET: NUM seconds / DEN seconds.
ratio() {
    local a=${SECS[$2,$3]:-} b=${SECS[$4,$5]:-}
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf -- '- %s: n/a\n' "$1"
        return
    fi
    awk -v l="$1" -v a="$a" -v b="$b" -v t="$6" 'BEGIN {
        r = (b > 0) ? a / b : 0
        if (t == "") printf "- %s: %.2f\n", l, r
        else printf "- %s: %.2f (target >= %s: %s)\n", l, r, t, (r >= t) ? "PASS" : "MISS" }'
}

report() {
    echo "# cleanroom disk-image benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- disk: $DISKDIR/disk.raw, GPT (EFI FAT 32 MiB + ext4): $((VIRT / 1048576)) MiB virtual," \
        "$((ALLOC / 1048576)) MiB allocated (the Debian tree of the tests, $RANDOM_MIB MiB random," \
        "$TEXT_MIB MiB text); qcow2 copy $(($(stat -c %s "$DISKDIR/disk.qcow2") / 1048576)) MiB"
    echo "- 1% change: $CHANGE_MIB MiB written into the ext4 by debugfs (a new file and rewritten ones)"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(uname -r), load average at start $LOAD0; page cache: $CACHE_STATE"
    echo "- $("$CLEANROOM" --version 2>/dev/null | head -n1) (kdf $KDF), $(restic version 2>/dev/null | cut -d' ' -f1-2)," \
        "$(qemu-img --version | head -n1)"
    echo "- MB/s alloc = allocated MiB / seconds; MB/s virtual = virtual MiB / seconds"
    echo
    echo "| step | tool | seconds | MB/s alloc | MB/s virtual | peak RSS MiB | repo MiB |"
    echo "|---|---|---|---|---|---|---|"
    local s t
    for s in "${STEPS[@]}"; do
        for t in cleanroom cleanroom-nosbx cleanroom-nosig restic qemu-img cat sparse-read; do row "$s" "$t"; done
    done
    echo
    echo "Ratios (seconds of the reference / seconds of cleanroom; higher is better for cleanroom):"
    ratio "restore to raw against qemu-img convert qcow2 -> raw" convert-raw qemu-img restore-raw cleanroom 0.7
    ratio "restore to qcow2 against qemu-img convert raw -> qcow2" convert-qcow2 qemu-img restore-qcow2 cleanroom ""
    ratio "unchanged re-backup against cat (read speed, holes read as zeros)" cat cat backup-2 cleanroom ""
    ratio "unchanged re-backup against reading the allocated data (SEEK_DATA)" read-data sparse-read backup-2 cleanroom ""
    ratio "first backup, sandbox off against on (goal >= 0.9)" backup-1 cleanroom-nosbx backup-1 cleanroom ""
    ratio "unchanged re-backup, sandbox off against on (goal >= 0.9)" backup-2 cleanroom-nosbx backup-2 cleanroom ""
    ratio "1% re-backup, ransomware signals off against on (goal >= 0.95)" backup-1pct cleanroom-nosig backup-1pct cleanroom ""
    ratio "first backup against restic" backup-1 restic backup-1 cleanroom ""
    ratio "unchanged re-backup against restic" backup-2 restic backup-2 cleanroom ""
    ratio "restore to raw against restic restore" restore-raw restic restore-raw cleanroom ""
}

# ------------------------------------------------------------------ main

main() {
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    exec 8>"$CACHE/.image.lock"
    flock -n 8 || die "another image bench is running on $CACHE"
    build_disk
    [ "${1:-}" = corpus ] && { echo "$DISKDIR/disk.raw"; return 0; }
    [ -x "$CLEANROOM" ] || die "no cleanroom command at $CLEANROOM (run make first)"
    [ -x "$TIME" ] || die "GNU time is not installed at $TIME"
    local p
    for p in $PEERS; do
        [ "$p" = cat ] || command -v "$p" >/dev/null || die "$p is not installed (scripts/install-deps)"
    done

    rm -rf "$WORK"
    mkdir -p "$WORK/log" "$RESULTS"
    export CLEANROOM_PASSWORD=$PASS RESTIC_PASSWORD=$PASS RESTIC_CACHE_DIR="$WORK/restic-cache"
    unset CLEANROOM_PASSWORD_FILE CLEANROOM_REPO
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    # The measured disk is a copy: the 1% change must not touch the cache.
    local disk="$WORK/disk.raw" p2
    cp --sparse=always "$DISKDIR/disk.raw" "$disk" || die "cannot copy the disk"
    p2=$(cat "$DISKDIR/p2-offset")
    VIRT=$(stat -c %s "$disk")
    ALLOC=$(img_alloc "$disk")
    say "bench-image: disk $((VIRT / 1048576)) MiB virtual, $((ALLOC / 1048576)) MiB allocated"

    crb init --kdf "$KDF" >"$WORK/log/init.log" 2>&1 || die "cleanroom init failed"
    "$CLEANROOM" --repo "$WORK/repo-nosbx" --quiet init --kdf "$KDF" >"$WORK/log/init-nosbx.log" 2>&1 ||
        die "cleanroom init failed"
    has restic && { restic --repo "$WORK/repo-restic" --quiet init --repository-version 2 \
        >"$WORK/log/init-restic.log" 2>&1 || die "restic init failed"; }

    has cat && measure cat cat sh -c 'cat "$1" >/dev/null' sh "$disk"
    # cat reads the holes too (zeros made by the kernel): the allocated data
    # alone, found with SEEK_DATA / SEEK_HOLE as cleanroom finds it, read in
    # 4 MiB pieces, is the fair reference for reading a sparse disk.
    has cat && measure read-data sparse-read python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
end, off = os.fstat(fd).st_size, 0
while off < end:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    while d < h:
        b = os.pread(fd, min(4 << 20, h - d), d)
        if not b:
            break
        d += len(b)
    off = h' "$disk"
    measure backup-1 cleanroom "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet backup --source vm --image "$disk"
    has restic && measure backup-1 restic restic --repo "$WORK/repo-restic" --quiet backup "$disk"
    measure backup-2 cleanroom "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet backup --source vm --image "$disk"
    # The same two backups with the disk read in process, into a vault of their own.
    local k
    for k in backup-1 backup-2; do
        CLEANROOM_SANDBOX=off measure "$k" cleanroom-nosbx "$CLEANROOM" --repo "$WORK/repo-nosbx" --quiet \
            backup --source vm --image "$disk"
    done
    has restic && measure backup-2 restic restic --repo "$WORK/repo-restic" --quiet backup "$disk"

    # The same vault for the 1% re-backup without the ransomware signals (the first backup
    # has no parent to compare with: it never counts them).
    cp -a "$WORK/repo-cleanroom" "$WORK/repo-nosig"

    # ~1% of the allocated bytes: one new file of random data (2/3) and three
    # of the big text files rewritten with new bytes (1/3, in place).
    CHANGE_MIB=$((ALLOC / 1048576 / 100))
    [ "$CHANGE_MIB" -ge 3 ] || CHANGE_MIB=3
    keystream $((CHANGE_MIB * 2 / 3)) "$WORK/new.bin" 99
    img_ext4_put "$disk" "$p2" "$WORK/new.bin" /srv/images/new-study.bin 644 || die "debugfs failed"
    for k in 1 2 3; do
        keystream $((CHANGE_MIB / 9 + 1)) "$WORK/chg.bin" $((100 + k))
        img_ext4_put "$disk" "$p2" "$WORK/chg.bin" "/var/log/app/rotated-$k.log" 640 || die "debugfs failed"
    done
    rm -f "$WORK/new.bin" "$WORK/chg.bin"
    measure backup-1pct cleanroom "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet backup --source vm --image "$disk"
    measure backup-1pct cleanroom-nosig "$CLEANROOM" --repo "$WORK/repo-nosig" --quiet backup --source vm \
        --image "$disk" --no-ransomware-check
    has restic && measure backup-1pct restic restic --repo "$WORK/repo-restic" --quiet backup "$disk"

    # Restores of the last snapshot (the changed disk).
    local out="$WORK/out"
    rm -rf "$out" && mkdir -p "$out"
    measure restore-raw cleanroom "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet restore vm:latest --image "$out/r.raw"
    same "$disk" "$out/r.raw" restore-raw cleanroom
    rm -rf "$out" && mkdir -p "$out"
    measure restore-qcow2 cleanroom "$CLEANROOM" --repo "$WORK/repo-cleanroom" --quiet restore vm:latest \
        --image "$out/r.qcow2" --format qcow2
    same "$disk" "$out/r.qcow2" restore-qcow2 cleanroom
    rm -rf "$out" && mkdir -p "$out"
    if has restic; then
        measure restore-raw restic restic --repo "$WORK/repo-restic" --quiet restore latest --target "$out"
        same "$disk" "$out$disk" restore-raw restic
        rm -rf "$out" && mkdir -p "$out"
    fi
    if has qemu-img; then
        # Synced like cleanroom's restores: an image is restored when it is on disk.
        measure convert-raw qemu-img sh -c 'qemu-img convert -f qcow2 -O raw "$1" "$2" && sync "$2"' sh \
            "$DISKDIR/disk.qcow2" "$out/c.raw"
        rm -rf "$out" && mkdir -p "$out"
        measure convert-qcow2 qemu-img sh -c 'qemu-img convert -f raw -O qcow2 "$1" "$2" && sync "$2"' sh \
            "$disk" "$out/c.qcow2"
        rm -rf "$out"
    fi

    local res="$RESULTS/image-latest.md" stamp
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    report >"$res"
    cp "$res" "$RESULTS/image-$([ "$QUICK" = 1 ] && echo quick || echo full)-$stamp.md"
    echo
    cat "$res"
    echo
    echo "results written to $res (logs in $WORK/log)"
    rm -rf "$WORK"/repo-* "$WORK/restic-cache" "$disk"
    return "$FAILED"
}

has() { [[ " $PEERS " == *" $1 "* ]]; }

main "$@"
