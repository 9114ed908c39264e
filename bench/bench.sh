#!/usr/bin/env bash
# cleanroom benchmark: cleanroom, restic and borg side by side on the same real corpus.
#
#   bench/bench.sh            build the corpus if needed, then run every step
#   bench/bench.sh corpus     only build (or show) the cached corpus
#
# Environment:
#   CLEANROOM             the command to measure (default: build/cleanroom in this tree)
#   CLEANROOM_BENCH_CACHE where the corpus, repositories and results live
#                         (default /var/tmp/cleanroom-bench; outside the source tree)
#   BENCH_QUICK=1         small corpus (a copy of /usr/share only) for a fast check
#   BENCH_TOOLS           tools to run (default "cleanroom cleanroom-server restic borg";
#                         cleanroom-server: the same command through 'cleanroom server' over
#                         loopback TLS)
#   BENCH_KDF             cleanroom --kdf profile (default interactive)
#   BENCH_BASELINE        another cleanroom command (an older build) measured as the tool
#                         "cleanroom-base" in the same run: what a change costs
#   BENCH_MIRROR          Debian mirror for debootstrap (default: from /etc/apt/sources*)
#   BENCH_HUNT=0          skip the hunt benchmark (bench/hunt.sh) that runs at the end
#   BENCH_IMAGE=0         skip the disk-image benchmark (bench/image.sh) that runs after it
#   BENCH_RECOVER=0       skip the recovery drill (bench/recover.sh) that runs after it
#   BENCH_RANSOM=0        skip the cost of the ransomware signals (bench/ransom.sh)
#   BENCH_S3=0            skip the S3 benchmark (bench/s3.sh: a local Ceph RGW, against
#                         restic's S3 backend) that runs last
#
# See bench/README.md for what is measured and the targets. A benchmark is not a
# test: this script prints numbers and ratios, it never fails because of them.
# It fails (non-zero) only when a tool could not do a step at all.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
QUICK=${BENCH_QUICK:-0}
TOOLS=${BENCH_TOOLS:-cleanroom cleanroom-server restic borg}
BASELINE=${BENCH_BASELINE:-}
[ -n "$BASELINE" ] && TOOLS="cleanroom cleanroom-base ${TOOLS#cleanroom }"
KDF=${BENCH_KDF:-interactive}
PASS="cleanroom-bench-passphrase"
TIME=/usr/bin/time

CORPUS="$CACHE/corpus"   # corpus components: debian/, usr-share/, lib/
STATE="$CACHE/state"     # completion markers and the journal of the 1% change
WORK="$CACHE/work"       # repositories, restore targets, logs: wiped every run
RESULTS="$CACHE/results"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# ------------------------------------------------------------------ corpus

# The Debian mirror apt already uses, so the bench works behind a local mirror.
debian_mirror() {
    local m=""
    if [ -n "${BENCH_MIRROR:-}" ]; then
        printf '%s\n' "$BENCH_MIRROR"
        return
    fi
    if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
        m=$(awk '/^URIs:/ { print $2 }' /etc/apt/sources.list.d/*.sources 2>/dev/null |
            grep -i debian | grep -v -- security | head -n1 || true)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $0 !~ /security/ {
                    for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list 2>/dev/null | grep -i debian | head -n1 || true)
    fi
    printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# Build one component into a temporary folder and rename it into place only
# when complete, so an interrupted build is never reused.
build_component() {
    local name=$1
    [ -e "$STATE/$name.done" ] && [ -d "$CORPUS/$name" ] && return 0
    mkdir -p "$CORPUS" "$STATE"
    rm -rf "${CORPUS:?}/$name" "${CORPUS:?}/.$name.tmp"
    local tmp="$CORPUS/.$name.tmp"
    say "bench: building corpus component '$name' (once; cached in $CORPUS)"
    case "$name" in
    usr-share)
        mkdir -p "$tmp" && cp -a /usr/share/. "$tmp/" || return 1
        ;;
    lib)
        mkdir -p "$tmp" && cp -a /usr/lib/x86_64-linux-gnu/. "$tmp/" || return 1
        ;;
    debian)
        local test_tree="${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}/debian-minbase"
        if [ -e "$test_tree/.cleanroom-complete" ]; then
            # The e2e tests already built the same debootstrap tree: copy it
            # rather than download and unpack it a second time.
            say "bench: copying the debootstrap tree of the tests ($test_tree)"
            cp -a "$test_tree" "$tmp" || return 1
            rm -f "$tmp/.cleanroom-complete"
        else
            [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
            command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/install-deps)"
            local mirror
            mirror=$(debian_mirror)
            say "bench: debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
            if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$CORPUS/.debian.log" 2>&1; then
                tail -n 20 "$CORPUS/.debian.log" >&2
                rm -rf "$tmp"
                return 1
            fi
            rm -f "$tmp"/var/cache/apt/archives/*.deb
        fi
        ;;
    *) die "unknown corpus component $name" ;;
    esac
    mv -T "$tmp" "$CORPUS/$name" && touch "$STATE/$name.done"
}

# Put back the files changed by an earlier (possibly interrupted) run, so every
# run starts from the same bytes.
corpus_revert() {
    local j="$STATE/changed.journal"
    [ -f "$j" ] || return 0
    local path size mtime
    while IFS=$'\t' read -r size mtime path; do
        [ -f "$path" ] || continue
        truncate -s "$size" "$path" && touch -m -d "@$mtime" "$path"
    done <"$j"
    rm -f "$j"
}

# Change a deterministic 1% of the regular files: every 100th in byte order.
# Appending keeps the old chunks valid, like a log or a record that grows.
corpus_change() {
    local j="$STATE/changed.journal" n=0 path
    : >"$j"
    while IFS= read -r -d '' path; do
        n=$((n + 1))
        [ $((n % 100)) -eq 0 ] || continue
        printf '%s\t%s\t%s\n' "$(stat -c %s "$path")" "$(stat -c %Y "$path")" "$path" >>"$j"
        printf 'cleanroom bench change %d\n' "$n" >>"$path"
    done < <(find "${PATHS[@]}" -type f -print0 | LC_ALL=C sort -z)
    CHANGED=$(wc -l <"$j")
}

corpus_paths() {
    if [ "$QUICK" = 1 ]; then
        PATHS=("$CORPUS/usr-share")
    else
        PATHS=("$CORPUS/debian" "$CORPUS/usr-share" "$CORPUS/lib")
    fi
}

build_corpus() {
    build_component usr-share || die "could not copy /usr/share"
    if [ "$QUICK" != 1 ]; then
        build_component debian || die "debootstrap failed"
        build_component lib || die "could not copy /usr/lib/x86_64-linux-gnu"
    fi
    corpus_paths
    corpus_revert
    CORPUS_BYTES=$(du -scb --apparent-size "${PATHS[@]}" | tail -n1 | cut -f1)
    CORPUS_FILES=$(find "${PATHS[@]}" -type f | wc -l)
    CORPUS_ITEMS=$(find "${PATHS[@]}" | wc -l)
    say "bench: corpus ${PATHS[*]}: $((CORPUS_BYTES / 1048576)) MiB, $CORPUS_FILES files, $CORPUS_ITEMS items"
}

# ------------------------------------------------------------------ measuring

CACHE_STATE="cold (page cache dropped before each step)"
drop_caches() {
    sync
    if ! (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
        CACHE_STATE="warm (could not drop the page cache: not root or /proc/sys read-only)"
    fi
}

# One row per (step, tool): seconds, peak RSS KiB, repo MiB, status.
declare -A SECS RSS REPO STATUS

repo_of() { printf '%s\n' "$WORK/repo-$1"; }

# measure STEP TOOL CMD... : run CMD under /usr/bin/time with a cold cache.
measure() {
    local step=$1 tool=$2
    shift 2
    local log="$WORK/log/$step-$tool.log" tf="$WORK/log/$step-$tool.time" rc
    # Steps named *-warm run right after the same tool's cold run, cache kept.
    case $step in *-warm) ;; *) drop_caches ;; esac
    # %U %S (CPU seconds) are not in the table but in the progress line and
    # the .time file: they tell a CPU-bound step from one waiting on the disk.
    "$TIME" -f "%e %M %U %S" -o "$tf" "$@" >"$log" 2>&1
    rc=$?
    local secs rss usr sys
    read -r secs rss usr sys < <(tail -n1 "$tf")
    SECS[$step,$tool]=$secs
    RSS[$step,$tool]=$rss
    REPO[$step,$tool]=$(du -sm "$(repo_of "$tool")" 2>/dev/null | cut -f1)
    # Partial results (a file that could not be read) still count as a run.
    case "$tool:$step:$rc" in
    *:0) STATUS[$step,$tool]=ok ;;
    cleanroom*:backup*:5 | restic:backup*:3) STATUS[$step,$tool]="ok (partial, exit $rc)" ;;
    *) STATUS[$step,$tool]="FAILED (exit $rc)"; FAILED=1
       say "bench: $tool $step failed (exit $rc), log tail:"; tail -n 5 "$log" >&2 ;;
    esac
    say "bench: $(printf '%-11s %-9s %8ss %8s KiB  cpu %6.2fs user %6.2fs sys  %s' "$step" "$tool" \
        "$secs" "$rss" "$usr" "$sys" "${STATUS[$step,$tool]}")"
}

# cleanroom-server: a vault served by 'cleanroom server' on loopback (TLS), a backup token.
SERVER_PID=
server_start() { # DIR
    local dir=$1 conf=$1/server/server.json port=""
    "$CLEANROOM" --quiet server init "$dir" --kdf "$KDF" >"$WORK/log/server-init.log" 2>&1 || return 1
    "$CLEANROOM" --quiet server token add --config "$conf" --role backup --name bench \
        >"$WORK/server.token" || return 1
    "$CLEANROOM" server run --config "$conf" --listen 127.0.0.1:0 >"$WORK/server.out" \
        2>"$WORK/log/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^listening on port //p' "$WORK/server.out" 2>/dev/null)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || return 1
    SERVER_URL=https://127.0.0.1:$port/
    export CLEANROOM_TOKEN_FILE=$WORK/server.token
    CLEANROOM_SERVER_FINGERPRINT=$(sed -n 's/^fingerprint: *//p' "$WORK/log/server-init.log")
    export CLEANROOM_SERVER_FINGERPRINT
}
server_stop() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
    # Stored files are immutable where the filesystem allows it.
    chattr -R -i "$(repo_of cleanroom-server)" 2>/dev/null
    return 0
}
# The --repo of a tool: the folder, or the server's address.
loc_of() {
    case $1 in
    cleanroom-server) printf '%s\n' "$SERVER_URL" ;;
    *) repo_of "$1" ;;
    esac
}

# Each tool's commands. The repository and restore target are per tool.
tool_init() {
    local r
    r=$(repo_of "$1")
    case $1 in
    cleanroom) "$CLEANROOM" --repo "$r" --quiet init --kdf "$KDF" ;;
    cleanroom-server) server_start "$r" ;;
    cleanroom-base) "$BASELINE" --repo "$r" --quiet init --kdf "$KDF" ;;
    restic) restic --repo "$r" --quiet init --repository-version 2 ;;
    borg) borg init -e repokey-blake2 "$r" ;;
    esac
}

tool_backup() { # TOOL NAME
    local r
    r=$(repo_of "$1")
    case $1 in
    cleanroom) measure "$2" cleanroom "$CLEANROOM" --repo "$r" --quiet backup --source bench "${PATHS[@]}" ;;
    cleanroom-server) measure "$2" cleanroom-server "$CLEANROOM" --repo "$(loc_of "$1")" --quiet backup --source bench "${PATHS[@]}" ;;
    cleanroom-base) measure "$2" cleanroom-base "$BASELINE" --repo "$r" --quiet backup --source bench "${PATHS[@]}" ;;
    restic) measure "$2" restic restic --repo "$r" --quiet backup "${PATHS[@]}" ;;
    borg) measure "$2" borg borg create --compression zstd,3 "$r::$2" "${PATHS[@]}" ;;
    esac
}

tool_restore() {
    local r t
    r=$(repo_of "$1")
    t="$WORK/restore-$1"
    rm -rf "$t" && mkdir -p "$t"
    case $1 in
    cleanroom) measure restore cleanroom "$CLEANROOM" --repo "$r" --quiet restore latest --target "$t" ;;
    cleanroom-server) measure restore cleanroom-server "$CLEANROOM" --repo "$(loc_of "$1")" --quiet restore latest --target "$t" ;;
    cleanroom-base) measure restore cleanroom-base "$BASELINE" --repo "$r" --quiet restore latest --target "$t" ;;
    restic) measure restore restic restic --repo "$r" --quiet restore latest --target "$t" ;;
    borg) # borg extracts into the working directory
        pushd "$t" >/dev/null && measure restore borg borg extract "$r::backup-1pct"
        popd >/dev/null || return ;;
    esac
    # Cheap sanity check: the restore holds as many files as the corpus.
    local files
    files=$(find "$t" -type f | wc -l)
    if [ "$files" -ne "$CORPUS_FILES" ]; then
        say "bench: WARNING: $1 restored $files files, the corpus has $CORPUS_FILES"
        STATUS[restore,$1]="${STATUS[restore,$1]}; $files/$CORPUS_FILES files"
    fi
    rm -rf "$t"
}

tool_verify() {
    local r
    r=$(repo_of "$1")
    case $1 in
    cleanroom) measure verify cleanroom "$CLEANROOM" --repo "$r" --quiet verify --read-data ;;
    cleanroom-server) measure verify cleanroom-server "$CLEANROOM" --repo "$(loc_of "$1")" --quiet verify --read-data ;;
    cleanroom-base) measure verify cleanroom-base "$BASELINE" --repo "$r" --quiet verify --read-data ;;
    restic) measure verify restic restic --repo "$r" --quiet check --read-data ;;
    borg) measure verify borg borg check --verify-data "$r" ;;
    esac
}

# ------------------------------------------------------------------ report

fmt_row() {
    local step=$1 tool=$2 secs rss repo mbs ratio base
    secs=${SECS[$step,$tool]:-}
    if [ -z "$secs" ]; then
        printf '| %s | %s | - | - | - | - | - |\n' "$step" "$tool"
        return
    fi
    rss=${RSS[$step,$tool]:-0}
    repo=${REPO[$step,$tool]:-}
    mbs=$(awk -v b="$CORPUS_BYTES" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }')
    base=${SECS[$step,cleanroom]:-}
    if [ "$tool" = cleanroom ]; then
        ratio="1.00"
    elif [ -n "$base" ]; then
        ratio=$(awk -v p="$secs" -v c="$base" 'BEGIN { if (c > 0) printf "%.2f", p / c; else print "-" }')
    else
        ratio="-"
    fi
    local status=${STATUS[$step,$tool]:-}
    [ "$status" = ok ] && status="" || status=" ($status)"
    printf '| %s | %s | %s%s | %s | %s | %s | %s |\n' "$step" "$tool" "$secs" "$status" "$mbs" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')" "${repo:--}" "$ratio"
}

# target LABEL STEP METRIC(secs|rss|repo) FACTOR: "PASS"/"MISS" against restic.
target() {
    local label=$1 step=$2 metric=$3 factor=$4 c p verdict
    case $metric in
    secs) c=${SECS[$step,cleanroom]:-}; p=${SECS[$step,restic]:-} ;;
    rss) c=${RSS[$step,cleanroom]:-}; p=${RSS[$step,restic]:-} ;;
    repo) c=${REPO[$step,cleanroom]:-}; p=${REPO[$step,restic]:-} ;;
    esac
    if [ -z "$c" ] || [ -z "$p" ]; then
        verdict="n/a"
    elif [ "$metric" = secs ]; then
        verdict=$(awk -v c="$c" -v p="$p" -v f="$factor" 'BEGIN {
            r = (c > 0) ? p / c : 999; printf "%s (%.1fx)", (r >= f) ? "PASS" : "MISS", r }')
    else
        verdict=$(awk -v c="$c" -v p="$p" 'BEGIN {
            printf "%s (%s vs %s)", (c <= p) ? "PASS" : "MISS", c, p }')
    fi
    printf -- '- %s: %s\n' "$label" "$verdict"
}

report() {
    local step tool maxrss_c=0 maxrss_r=0
    for step in "${STEPS[@]}"; do
        [ "${RSS[$step,cleanroom]:-0}" -gt "$maxrss_c" ] && maxrss_c=${RSS[$step,cleanroom]}
        [ "${RSS[$step,restic]:-0}" -gt "$maxrss_r" ] && maxrss_r=${RSS[$step,restic]}
    done
    RSS[peak,cleanroom]=$maxrss_c
    RSS[peak,restic]=$maxrss_r
    [ "$maxrss_c" -gt 0 ] || unset 'RSS[peak,cleanroom]'
    [ "$maxrss_r" -gt 0 ] || unset 'RSS[peak,restic]'
    echo "# cleanroom benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- corpus: ${PATHS[*]}"
    echo "  $((CORPUS_BYTES / 1048576)) MiB in $CORPUS_FILES files ($CORPUS_ITEMS items);" \
        "1% change = $CHANGED files appended to"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(uname -r), load average at start $LOAD0;"
    echo "  page cache: $CACHE_STATE"
    echo "- $("$CLEANROOM" --version 2>/dev/null | head -n1 || echo 'cleanroom ?') (kdf $KDF)," \
        "$(restic version 2>/dev/null | cut -d' ' -f1-2), $(borg --version 2>/dev/null)"
    echo "- MB/s = corpus MiB / seconds for every step; ratio = peer seconds / cleanroom seconds" \
        "(higher means cleanroom is faster)"
    echo
    echo "| step | tool | seconds | MB/s | peak RSS MiB | repo size MiB | ratio |"
    echo "|---|---|---|---|---|---|---|"
    for step in "${STEPS[@]}"; do
        for tool in $TOOLS; do
            fmt_row "$step" "$tool"
        done
    done
    echo
    echo "Targets (cleanroom against restic, see bench/README.md):"
    target "first backup >= 5x faster" backup-1 secs 5
    target "unchanged re-backup >= 8x faster (cold cache)" backup-2 secs 8
    target "unchanged re-backup >= 8x faster (warm cache)" backup-2-warm secs 8
    target "full restore >= 3x faster" restore secs 3
    target "repo no larger (MiB, after all backups)" backup-1pct repo 1
    target "peak RSS no larger (KiB, max over steps)" peak rss 1
    if [[ " $TOOLS " == *" cleanroom-server "* ]]; then
        echo
        echo "Through 'cleanroom server' over loopback TLS, against the local folder (goal >= 0.8x):"
        local st
        for st in backup-1 restore; do
            awk -v l="${SECS[$st,cleanroom]:-0}" -v s="${SECS[$st,cleanroom-server]:-0}" -v n="$st" 'BEGIN {
                if (l > 0 && s > 0) { r = l / s; printf "- %s: %.2fx of local (%s)\n", n, r, (r >= 0.8 ? "PASS" : "MISS") }
                else printf "- %s: n/a\n", n }'
        done
    fi
}

# ------------------------------------------------------------------ main

main() {
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    exec 9>"$CACHE/.lock"
    flock -n 9 || die "another bench is running on $CACHE"

    build_corpus
    [ "${1:-}" = corpus ] && return 0

    local tool
    for tool in $TOOLS; do
        case $tool in
        cleanroom-base) [ -x "$BASELINE" ] || die "no baseline command at $BASELINE" ;;
        cleanroom*) [ -x "$CLEANROOM" ] || die "no cleanroom command at $CLEANROOM (run make first)" ;;
        *) command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps)" ;;
        esac
    done
    [ -x "$TIME" ] || die "GNU time is not installed at $TIME (scripts/install-deps)"

    rm -rf "$WORK"
    mkdir -p "$WORK/log" "$RESULTS"
    export CLEANROOM_PASSWORD=$PASS RESTIC_PASSWORD=$PASS BORG_PASSPHRASE=$PASS
    unset CLEANROOM_PASSWORD_FILE CLEANROOM_REPO
    # Private caches so earlier runs never help a later one.
    export RESTIC_CACHE_DIR="$WORK/restic-cache" BORG_BASE_DIR="$WORK/borg-home"
    export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

    FAILED=0
    CHANGED=0
    # Other work on the machine skews every number: say how busy it was.
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    STEPS=(backup-1 backup-2 backup-2-warm backup-1pct restore verify)
    trap 'corpus_revert; server_stop' EXIT

    for tool in $TOOLS; do
        tool_init "$tool" >"$WORK/log/init-$tool.log" 2>&1 ||
            { tail -n 5 "$WORK/log/init-$tool.log" >&2; die "$tool could not create its repository"; }
    done
    say "bench: == first backup"
    for tool in $TOOLS; do tool_backup "$tool" backup-1; done
    say "bench: == unchanged re-backup"
    for tool in $TOOLS; do
        tool_backup "$tool" backup-2
        tool_backup "$tool" backup-2-warm
    done
    corpus_change
    say "bench: == re-backup after changing $CHANGED files (1%)"
    for tool in $TOOLS; do tool_backup "$tool" backup-1pct; done
    say "bench: == full restore"
    for tool in $TOOLS; do tool_restore "$tool"; done
    say "bench: == verify, reading all data"
    for tool in $TOOLS; do tool_verify "$tool"; done
    corpus_revert

    local out="$RESULTS/latest.md" stamp
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    report >"$out"
    [ "$QUICK" = 1 ] && cp "$out" "$RESULTS/quick-$stamp.md" || cp "$out" "$RESULTS/full-$stamp.md"
    echo
    cat "$out"
    echo
    echo "results written to $out (logs in $WORK/log)"
    server_stop
    # Keep the disk tidy: the repositories are big and rebuilt every run.
    rm -rf "$WORK"/repo-* "$WORK/restic-cache" "$WORK/borg-home"
    # The hunt's benchmark on the same corpus (bench/hunt.sh; BENCH_HUNT=0 skips it).
    if [ "${BENCH_HUNT:-1}" = 1 ] && [[ " $TOOLS " == *" cleanroom "* ]]; then
        echo
        CLEANROOM="$CLEANROOM" "$ROOT/bench/hunt.sh" || FAILED=1
    fi
    # The disk-image benchmark (bench/image.sh; BENCH_IMAGE=0 skips it).
    if [ "${BENCH_IMAGE:-1}" = 1 ] && [[ " $TOOLS " == *" cleanroom "* ]]; then
        echo
        CLEANROOM="$CLEANROOM" "$ROOT/bench/image.sh" || FAILED=1
    fi
    # The recovery drill (bench/recover.sh; BENCH_RECOVER=0 skips it).
    if [ "${BENCH_RECOVER:-1}" = 1 ] && [[ " $TOOLS " == *" cleanroom "* ]]; then
        echo
        CLEANROOM="$CLEANROOM" BENCH_QUICK="$QUICK" "$ROOT/bench/recover.sh" || FAILED=1
    fi
    # The cost of the ransomware signals of a backup (bench/ransom.sh; BENCH_RANSOM=0 skips it).
    if [ "${BENCH_RANSOM:-1}" = 1 ] && [[ " $TOOLS " == *" cleanroom "* ]]; then
        echo
        CLEANROOM="$CLEANROOM" "$ROOT/bench/ransom.sh" || FAILED=1
    fi
    # cleanroom on S3 (a local Ceph RGW with Object Lock) against restic's S3 backend
    # (bench/s3.sh; BENCH_S3=0 skips it).
    if [ "${BENCH_S3:-1}" = 1 ] && [[ " $TOOLS " == *" cleanroom "* ]]; then
        echo
        CLEANROOM="$CLEANROOM" BENCH_QUICK="$QUICK" BENCH_KDF="$KDF" "$ROOT/bench/s3.sh" || FAILED=1
    fi
    return "$FAILED"
}

main "$@"
