#!/usr/bin/env bash
# cleanroom S3 benchmark: a vault on a local Ceph RGW (with Object Lock) against
# restic's S3 backend on the same RGW, same corpus, same run.
#
#   bench/s3.sh               build the corpus if needed (bench/bench.sh corpus), start a
#                             throw-away Ceph (tests/ceph.sh), measure, stop Ceph
#
# Steps, each with the page cache dropped first (as bench/bench.sh):
#   backup-1   first backup            cleanroom init --object-lock 2d / restic init, then backup
#   backup-2   unchanged re-backup
#   restore    full restore of the last snapshot into an empty folder
# Printed as a markdown table (also $CLEANROOM_BENCH_CACHE/results/s3-latest.md) with
# seconds, MB/s, peak RSS and restic/cleanroom ratio, PASS/MISS against the 3x goal
# of issue 11 for backup and restore.
#
# Environment:
#   CLEANROOM             the command to measure (default: build/cleanroom in this tree)
#   CLEANROOM_BENCH_CACHE corpus, Ceph folder, work folder, results (default /var/tmp/cleanroom-bench)
#   BENCH_QUICK=1         the small corpus (usr-share/, as bench/bench.sh)
#   BENCH_S3_CORPUS       a folder to back up instead (e.g. a subset of the corpus on a
#                         slow machine); its name is printed with the table
#   BENCH_KDF             cleanroom --kdf profile (default interactive)
#   BENCH_S3_LOCK         cleanroom --object-lock period (default 2d)
#   BENCH_S3_NODELAY=1    start the gateway with tcp_nodelay=1 (Ceph's default is off:
#                         each small GET then waits ~40 ms for the client's delayed ACK)
#
# A benchmark is not a test: it never fails because of a number, only (non-zero)
# when Ceph cannot start or a tool cannot do a step. Ceph is always stopped.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
QUICK=${BENCH_QUICK:-0}
KDF=${BENCH_KDF:-interactive}
LOCK=${BENCH_S3_LOCK:-2d}
NODELAY=${BENCH_S3_NODELAY:-0}
PASS="cleanroom-bench-passphrase"
TIME=/usr/bin/time
TOOLS="cleanroom restic"
STEPS=(backup-1 backup-2 restore)
CORPUS="$CACHE/corpus"
WORK="$CACHE/work-s3"
CEPH="$CACHE/ceph-s3"
RESULTS="$CACHE/results"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-s3: $*"; exit 1; }

# ------------------------------------------------------------------ corpus

build_corpus() {
    if [ -n "${BENCH_S3_CORPUS:-}" ]; then
        [ -d "$BENCH_S3_CORPUS" ] || die "BENCH_S3_CORPUS=$BENCH_S3_CORPUS is not a folder"
        PATHS=("$(cd "$BENCH_S3_CORPUS" && pwd)")
    elif [ "$QUICK" = 1 ]; then
        PATHS=("$CORPUS/usr-share")
    else
        PATHS=("$CORPUS/debian" "$CORPUS/usr-share" "$CORPUS/lib")
    fi
    local p missing=0
    for p in "${PATHS[@]}"; do [ -d "$p" ] || missing=1; done
    if [ "$missing" = 1 ]; then
        [ -z "${BENCH_S3_CORPUS:-}" ] || die "corpus folder missing"
        say "bench-s3: building the corpus with bench/bench.sh corpus"
        BENCH_QUICK=$QUICK "$ROOT/bench/bench.sh" corpus || die "could not build the corpus"
    fi
    # bench.sh changes 1% of the corpus during its run and reverts it after.
    [ -n "${BENCH_S3_CORPUS:-}" ] || [ ! -f "$CACHE/state/changed.journal" ] ||
        die "the corpus holds changes of an interrupted bench/bench.sh: run 'bench/bench.sh corpus' first"
    CORPUS_BYTES=$(du -scb --apparent-size "${PATHS[@]}" | tail -n1 | cut -f1)
    CORPUS_FILES=$(find "${PATHS[@]}" -type f | wc -l)
    say "bench-s3: corpus ${PATHS[*]}: $((CORPUS_BYTES / 1048576)) MiB in $CORPUS_FILES files"
}

# ------------------------------------------------------------------ measuring

CACHE_STATE="cold (page cache dropped before each step)"
drop_caches() {
    sync
    if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
        CACHE_STATE="warm (could not drop the page cache: not root or /proc/sys read-only)"
    fi
}

declare -A SECS RSS STATUS
FAILED=0

# measure STEP TOOL CMD...: cold cache, wall seconds and peak RSS.
measure() {
    local step=$1 tool=$2 log tf rc secs rss usr sys
    shift 2
    log="$WORK/log/$step-$tool.log" tf="$WORK/log/$step-$tool.time"
    drop_caches
    "$TIME" -f "%e %M %U %S" -o "$tf" "$@" >"$log" 2>&1
    rc=$?
    read -r secs rss usr sys < <(tail -n1 "$tf")
    SECS[$step,$tool]=$secs
    RSS[$step,$tool]=$rss
    case "$tool:$step:$rc" in
    *:0) STATUS[$step,$tool]=ok ;;
    cleanroom:backup*:5 | restic:backup*:3) STATUS[$step,$tool]="ok (partial, exit $rc)" ;;
    *) STATUS[$step,$tool]="FAILED (exit $rc)"; FAILED=1
       say "bench-s3: $tool $step failed (exit $rc), log tail:"; tail -n 5 "$log" >&2 ;;
    esac
    say "bench-s3: $(printf '%-9s %-9s %8ss %8s KiB  cpu %6.2fs user %6.2fs sys  %s' "$step" "$tool" \
        "$secs" "$rss" "${usr:-?}" "${sys:-?}" "${STATUS[$step,$tool]}")"
}

repo_of() {
    case $1 in
    cleanroom) printf 's3:%s/%s\n' "$CR_S3_ENDPOINT" bench-cleanroom ;;
    restic) printf 's3:%s/%s\n' "$CR_S3_ENDPOINT" bench-restic ;;
    esac
}

tool_init() {
    case $1 in
    cleanroom) "$CLEANROOM" --repo "$(repo_of cleanroom)" --quiet init --kdf "$KDF" --object-lock "$LOCK" ;;
    restic) restic --repo "$(repo_of restic)" --quiet init --repository-version 2 ;;
    esac
}

tool_backup() { # TOOL STEP
    case $1 in
    cleanroom) measure "$2" cleanroom "$CLEANROOM" --repo "$(repo_of cleanroom)" --quiet backup --source bench "${PATHS[@]}" ;;
    restic) measure "$2" restic restic --repo "$(repo_of restic)" --quiet backup "${PATHS[@]}" ;;
    esac
}

tool_restore() {
    local t="$WORK/restore-$1" files
    rm -rf "$t" && mkdir -p "$t"
    case $1 in
    cleanroom) measure restore cleanroom "$CLEANROOM" --repo "$(repo_of cleanroom)" --quiet restore latest --target "$t" ;;
    restic) measure restore restic restic --repo "$(repo_of restic)" --quiet restore latest --target "$t" ;;
    esac
    files=$(find "$t" -type f | wc -l)
    if [ "$files" -ne "$CORPUS_FILES" ]; then
        say "bench-s3: WARNING: $1 restored $files files, the corpus has $CORPUS_FILES"
        STATUS[restore,$1]="${STATUS[restore,$1]}; $files/$CORPUS_FILES files"
    fi
    rm -rf "$t"
}

# ------------------------------------------------------------------ report

fmt_row() {
    local step=$1 tool=$2 secs rss mbs ratio base status
    secs=${SECS[$step,$tool]:-}
    if [ -z "$secs" ]; then
        printf '| %s | %s | - | - | - | - |\n' "$step" "$tool"
        return
    fi
    rss=${RSS[$step,$tool]:-0}
    mbs=$(awk -v b="$CORPUS_BYTES" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", b / 1048576 / s; else print "-" }')
    base=${SECS[$step,cleanroom]:-}
    if [ "$tool" = cleanroom ]; then
        ratio="1.00"
    elif [ -n "$base" ]; then
        ratio=$(awk -v p="$secs" -v c="$base" 'BEGIN { if (c > 0) printf "%.2f", p / c; else print "-" }')
    else
        ratio="-"
    fi
    status=${STATUS[$step,$tool]:-}
    [ "$status" = ok ] && status="" || status=" ($status)"
    printf '| %s | %s | %s%s | %s | %s | %s |\n' "$step" "$tool" "$secs" "$status" "$mbs" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')" "$ratio"
}

target() { # LABEL STEP FACTOR
    local c=${SECS[$2,cleanroom]:-} p=${SECS[$2,restic]:-}
    case "${STATUS[$2,cleanroom]:-}/${STATUS[$2,restic]:-}" in *FAILED*) c="" ;; esac
    if [ -z "$c" ] || [ -z "$p" ]; then
        printf -- '- %s: n/a\n' "$1"
    else
        awk -v c="$c" -v p="$p" -v f="$3" -v l="$1" 'BEGIN {
            r = (c > 0) ? p / c : 999; printf "- %s: %s (%.2fx)\n", l, (r >= f) ? "PASS" : "MISS", r }'
    fi
}

report() {
    local step tool
    echo "# cleanroom S3 benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- corpus: ${PATHS[*]}: $((CORPUS_BYTES / 1048576)) MiB in $CORPUS_FILES files"
    echo "- S3: a single-node Ceph $(ceph --version 2>/dev/null | awk '{ print $3 }') RGW on loopback" \
        "(tests/ceph.sh: one OSD, BlueStore on a file in $CEPH), gateway tcp_nodelay=$NODELAY;" \
        "cleanroom's bucket with Object Lock (--object-lock $LOCK, COMPLIANCE), restic's plain"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg) (Ceph runs on the same cores);"
    echo "  page cache: $CACHE_STATE"
    echo "- $("$CLEANROOM" --version 2>/dev/null | head -n1 || echo 'cleanroom ?') (kdf $KDF)," \
        "$(restic version 2>/dev/null | cut -d' ' -f1-2)"
    echo "- MB/s = corpus MiB / seconds; ratio = restic seconds / cleanroom seconds (higher: cleanroom faster)"
    echo
    echo "| step | tool | seconds | MB/s | peak RSS MiB | ratio |"
    echo "|---|---|---|---|---|---|"
    for step in "${STEPS[@]}"; do
        for tool in $TOOLS; do fmt_row "$step" "$tool"; done
    done
    echo
    echo "Targets (issue 11: cleanroom on S3 against restic's S3 backend, same RGW):"
    target "first backup >= 3x faster" backup-1 3
    target "unchanged re-backup >= 3x faster" backup-2 3
    target "full restore >= 3x faster" restore 3
}

# ------------------------------------------------------------------ main

ceph_stop() {
    [ -d "$CEPH" ] || return 0
    "$ROOT/tests/ceph.sh" stop "$CEPH" >/dev/null 2>&1 || say "bench-s3: could not stop Ceph in $CEPH"
}

main() {
    [ -x "$CLEANROOM" ] || die "no cleanroom command at $CLEANROOM (run make first)"
    command -v restic >/dev/null || die "restic is not installed (scripts/install-deps)"
    [ -x "$TIME" ] || die "GNU time is not installed at $TIME (scripts/install-deps)"
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    exec 9>"$CACHE/.lock-s3"
    flock -n 9 || die "another S3 bench is running on $CACHE"
    build_corpus

    rm -rf "$WORK"
    mkdir -p "$WORK/log" "$RESULTS"
    trap 'ceph_stop' EXIT
    trap 'exit 130' INT TERM
    say "bench-s3: starting Ceph in $CEPH (about 20 s)"
    if ! CEPH_RGW_TCP_NODELAY=$NODELAY "$ROOT/tests/ceph.sh" start "$CEPH" >"$WORK/log/ceph-start.log" 2>&1; then
        tail -n 10 "$WORK/log/ceph-start.log" >&2
        # Stopping Ceph removes its folder: keep its logs.
        cp -r "$CEPH/log" "$WORK/log/ceph" 2>/dev/null
        die "Ceph could not start (tests/ceph.sh start $CEPH; logs in $WORK/log)"
    fi
    # shellcheck disable=SC1091
    . "$CEPH/env"
    [ -n "${CR_S3_ENDPOINT:-}" ] || die "tests/ceph.sh wrote no S3 endpoint in $CEPH/env"

    export CLEANROOM_PASSWORD=$PASS RESTIC_PASSWORD=$PASS AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    unset CLEANROOM_PASSWORD_FILE CLEANROOM_REPO
    export RESTIC_CACHE_DIR="$WORK/restic-cache"
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

    local tool
    for tool in $TOOLS; do
        tool_init "$tool" >"$WORK/log/init-$tool.log" 2>&1 ||
            { tail -n 5 "$WORK/log/init-$tool.log" >&2; die "$tool could not create its repository on $(repo_of "$tool")"; }
    done
    say "bench-s3: == first backup"
    for tool in $TOOLS; do tool_backup "$tool" backup-1; done
    say "bench-s3: == unchanged re-backup"
    for tool in $TOOLS; do tool_backup "$tool" backup-2; done
    say "bench-s3: == full restore"
    for tool in $TOOLS; do tool_restore "$tool"; done

    local out="$RESULTS/s3-latest.md"
    report >"$out"
    cp "$out" "$RESULTS/s3-$(date -u +%Y%m%dT%H%M%SZ).md"
    echo
    cat "$out"
    echo
    echo "results written to $out (logs in $WORK/log)"
    rm -rf "$WORK/restic-cache"
    return "$FAILED"
}

main "$@"
