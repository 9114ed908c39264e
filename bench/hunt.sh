#!/usr/bin/env bash
# cleanroom hunt benchmark: how fast `cleanroom hunt` scans restore points.
#
#   bench/hunt.sh             build the corpus if needed (bench/bench.sh corpus), then measure
#
# Two measurements, printed as a markdown table (and written to
# $CLEANROOM_BENCH_CACHE/results/hunt-latest.md):
#
#   (a) scan-1: one snapshot of the corpus hunted with the shipped rules
#       (`hunt --threads 2`), against `yara -p 2 -w -N` with the same rule
#       files on the same files on disk (every regular file, through
#       --scan-list). Both run twice in a row and the second run counts, so
#       both find their input in the page cache: cleanroom reads the vault
#       (decrypt, decompress, hash, entropy, YARA), yara reads the plain
#       files. Between the two hunts the vault's hunt/ files are removed,
#       so the second hunt scans everything again.
#   (b) days-30: 30 daily snapshots of a copy of the corpus where about 1% of
#       the bytes change every day (half modified files, half new files),
#       hunted from scratch, against hunting the first snapshot alone. The
#       target is a ratio of at most 1.5: a content is scanned once, whatever
#       the number of snapshots that hold it.
#
# Environment:
#   CLEANROOM             the command to measure (default: build/cleanroom in this tree)
#   CLEANROOM_BENCH_CACHE corpus, work folder and results (default /var/tmp/cleanroom-bench)
#   BENCH_QUICK=1         small corpus: the Debian tree only (~170 MB; the /usr/share copy
#                         of bench.sh's quick corpus when there is no Debian tree)
#   BENCH_DAYS            days of (b) (default 30)
#   BENCH_THREADS         threads for both tools (default 2)
#   BENCH_RUNS            measured runs after the warm-up, the fastest counts (default 1;
#                         more on a busy machine)
#   CLEANROOM_RULES       the rules folder (default: rules/ of this tree)
#   CLEANROOM_SIGBASE     a checkout of signature-base for (a'), default $CLEANROOM_BENCH_CACHE/signature-base
#                         (git clone https://github.com/Neo23x0/signature-base); absent: (a') skipped
#
# A benchmark is not a test: it prints numbers, it fails only when a step
# could not run at all.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
QUICK=${BENCH_QUICK:-0}
DAYS=${BENCH_DAYS:-30}
THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-1}
RULES=${CLEANROOM_RULES:-$ROOT/rules}
export CLEANROOM_RULES="$RULES"
PASS="cleanroom-bench-passphrase"
TIME=/usr/bin/time
CORPUS="$CACHE/corpus"
WORK="$CACHE/work-hunt"
RESULTS="$CACHE/results"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-hunt: $*"; exit 1; }

# ------------------------------------------------------------------ corpus

corpus_paths() {
    if [ "$QUICK" = 1 ]; then
        # The bench's copy of the Debian tree, else the tests' (the same
        # tree), else the /usr/share copy of `BENCH_QUICK=1 bench/bench.sh`.
        local t="${CLEANROOM_TEST_CACHE:-/var/tmp/cleanroom-test}/debian-minbase"
        if [ -e "$CACHE/state/debian.done" ] && [ -d "$CORPUS/debian" ]; then
            PATHS=("$CORPUS/debian")
        elif [ -e "$t/.cleanroom-complete" ]; then
            PATHS=("$t")
        else
            PATHS=("$CORPUS/usr-share")
        fi
    else
        PATHS=("$CORPUS/debian" "$CORPUS/usr-share" "$CORPUS/lib")
    fi
}

build_corpus() {
    corpus_paths
    local p missing=0
    for p in "${PATHS[@]}"; do [ -d "$p" ] || missing=1; done
    if [ "$missing" = 1 ]; then
        say "bench-hunt: building the corpus with bench/bench.sh corpus"
        BENCH_QUICK=$QUICK "$ROOT/bench/bench.sh" corpus || die "could not build the corpus"
    fi
    # bench.sh changes 1% of the corpus during its run and puts it back at the
    # end; an interrupted run is reverted by its next start. Refuse to measure
    # a corpus in that state.
    [ ! -f "$CACHE/state/changed.journal" ] ||
        die "the corpus holds changes of an interrupted bench/bench.sh: run 'bench/bench.sh corpus' first"
    CORPUS_BYTES=$(du -scb --apparent-size "${PATHS[@]}" | tail -n1 | cut -f1)
    CORPUS_FILES=$(find "${PATHS[@]}" -type f | wc -l)
    say "bench-hunt: corpus ${PATHS[*]}: $((CORPUS_BYTES / 1048576)) MiB in $CORPUS_FILES files"
}

# ------------------------------------------------------------------ measuring

declare -A SECS RSS CPU NOTE

# measure STEP CMD...: wall seconds and peak RSS of CMD into SECS/RSS[STEP].
measure() {
    local step=$1 tf="$WORK/log/$1.time" log="$WORK/log/$1.log" rc secs rss usr sys
    shift
    "$TIME" -f "%e %M %U %S" -o "$tf" "$@" >"$log" 2>"$log.err"
    rc=$?
    read -r secs rss usr sys < <(tail -n1 "$tf")
    SECS[$step]=$secs
    RSS[$step]=$rss
    CPU[$step]=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    say "bench-hunt: $(printf '%-22s %8ss %8s KiB  cpu %6.2fs user %6.2fs sys  exit %d' "$step" \
        "$secs" "$rss" "$usr" "$sys" "$rc")"
    return "$rc"
}

cr() { "$CLEANROOM" --repo "$1" --quiet "${@:2}"; }

# forget REPO: remove what earlier hunts stored (facts cache and records), so
# that the next hunt scans everything again. Only for benchmarks.
forget() { find "$1/hunt" -mindepth 1 -delete 2>/dev/null || true; }

# best STEP RUNSTEP: keep RUNSTEP's numbers as STEP's if it was faster.
best() {
    if [ -z "${SECS[$1]:-}" ] || awk -v a="${SECS[$2]}" -v b="${SECS[$1]}" 'BEGIN { exit !(a < b) }'; then
        SECS[$1]=${SECS[$2]} RSS[$1]=${RSS[$2]} CPU[$1]=${CPU[$2]}
        cp "$WORK/log/$2.log" "$WORK/log/$1.log"
    fi
}

# hunt_twice STEP REPO: hunt (warm-up), then forget and hunt again, $RUNS
# times (the fastest counts).
hunt_twice() {
    local step=$1 repo=$2 rc k
    measure "$step-warmup" "$CLEANROOM" --repo "$repo" --json hunt --threads "$THREADS"
    rc=$?
    case $rc in 0 | 5) ;; *) tail -n 5 "$WORK/log/$step-warmup.log.err" >&2; die "hunt failed (exit $rc)" ;; esac
    for k in $(seq "$RUNS"); do
        forget "$repo"
        measure "$step-$k" "$CLEANROOM" --repo "$repo" --json hunt --threads "$THREADS"
        rc=$?
        case $rc in 0 | 5) ;; *) tail -n 5 "$WORK/log/$step-$k.log.err" >&2; die "hunt failed (exit $rc)" ;; esac
        best "$step" "$step-$k"
    done
    NOTE[$step]=$("$PY" -c '
import json, sys
j = json.load(open(sys.argv[1]))
print("%d snapshots, %d contents scanned (%.0f MiB), %d cached, new findings %s" % (
    j["snapshots_hunted"], j["contents_scanned"], j["bytes_scanned"] / 1048576,
    j["contents_cached"], ", ".join("%s %d" % (k, v) for k, v in j["new_findings"].items() if v)))
' "$WORK/log/$step.log" 2>/dev/null || echo "?")
}

# ------------------------------------------------------------------ (a)

bench_scan() {
    local repo="$WORK/repo-a" list="$WORK/files.list" rules=()
    say "bench-hunt: == (a) one snapshot: cleanroom hunt vs yara"
    cr "$repo" init --kdf interactive >/dev/null || die "init failed"
    cr "$repo" backup --source bench "${PATHS[@]}" >/dev/null || die "backup failed"
    hunt_twice scan-1-cleanroom "$repo"
    # The same hunt with the parsers in-process: the cost of the sandbox.
    CLEANROOM_SANDBOX=off hunt_twice scan-1-nosandbox "$repo"
    # The findings on a clean corpus (they are false positives) go in the report.
    "$CLEANROOM" --repo "$repo" --json findings --min-severity high >"$WORK/findings-a.json" 2>/dev/null

    mapfile -t rules < <(find "$RULES/yara" -type f \( -name '*.yar' -o -name '*.yara' \) | LC_ALL=C sort)
    [ "${#rules[@]}" -gt 0 ] || die "no YARA rules under $RULES/yara"
    find "${PATHS[@]}" -type f >"$list"
    measure scan-1-yara-warmup yara -w -N -p "$THREADS" --scan-list "${rules[@]}" "$list"
    local k
    for k in $(seq "$RUNS"); do
        measure "scan-1-yara-$k" yara -w -N -p "$THREADS" --scan-list "${rules[@]}" "$list"
        best scan-1-yara "scan-1-yara-$k"
    done
    NOTE[scan-1-yara]="$(wc -l <"$WORK/log/scan-1-yara.log") matches, ${#rules[@]} rule files"
}

# ------------------------------------------------------------------ (a')

# A real public rule collection: a checkout of signature-base (Neo23x0's, the
# one LOKI and THOR ship) at $CLEANROOM_SIGBASE (default $CACHE/signature-base;
# none: skipped). Its rules use the externals LOKI defines (filename,
# filepath, extension, filetype, owner): yara gets them with -d (empty
# values: yara cannot set them per file), cleanroom per file. Files that do
# not compile with yara even with the externals (modules this yara lacks...)
# are left out of both, so both run the same rules.
bench_sigbase() {
    local dir="${CLEANROOM_SIGBASE:-$CACHE/signature-base}" repo="$WORK/repo-a" list="$WORK/files.list"
    local set="$WORK/sigbase" f n=0 good=0 k rc rules=()
    local D=(-d filename= -d filepath= -d extension= -d filetype= -d owner=)
    [ -d "$dir/yara" ] || { say "bench-hunt: no signature-base at $dir: (a') skipped"; return 0; }
    say "bench-hunt: == (a') signature-base: cleanroom hunt vs yara, externals defined"
    rm -rf "$set" && mkdir -p "$set"
    while IFS= read -r f; do
        n=$((n + 1))
        if yara -w "${D[@]}" "$f" /dev/null >/dev/null 2>&1; then
            cp "$f" "$set/$(printf '%04d' "$n")-$(basename "$f")"
            good=$((good + 1))
        fi
    done < <(find "$dir/yara" -type f \( -name '*.yar' -o -name '*.yara' \) | LC_ALL=C sort)
    [ "$good" -gt 0 ] || { say "bench-hunt: no signature-base file compiles: (a') skipped"; return 0; }
    local hunt=("$CLEANROOM" --repo "$repo" --json hunt --threads "$THREADS" --no-builtin-rules --rules "$set")
    forget "$repo"
    measure sigbase-cleanroom-warmup "${hunt[@]}"
    rc=$?
    case $rc in 0 | 5) ;; *) tail -n 5 "$WORK/log/sigbase-cleanroom-warmup.log.err" >&2; die "hunt with signature-base failed (exit $rc)" ;; esac
    for k in $(seq "$RUNS"); do
        forget "$repo"
        measure "sigbase-cleanroom-$k" "${hunt[@]}"
        best sigbase-cleanroom "sigbase-cleanroom-$k"
    done
    "$CLEANROOM" --repo "$repo" --json findings --min-severity high >"$WORK/findings-sigbase.json" 2>/dev/null
    mapfile -t rules < <(find "$set" -type f | LC_ALL=C sort)
    measure sigbase-yara-warmup yara -w -N -p "$THREADS" "${D[@]}" --scan-list "${rules[@]}" "$list"
    for k in $(seq "$RUNS"); do
        measure "sigbase-yara-$k" yara -w -N -p "$THREADS" "${D[@]}" --scan-list "${rules[@]}" "$list"
        best sigbase-yara "sigbase-yara-$k"
    done
    NOTE[sigbase-cleanroom]="$good of $n rule files (the others do not compile with yara $(yara --version))"
    NOTE[sigbase-yara]="$(wc -l <"$WORK/log/sigbase-yara.log") matches"
    SIGBASE_HIGH=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' \
        "$WORK/findings-sigbase.json" 2>/dev/null || echo "?")
}

# ------------------------------------------------------------------ (b)

# change DIR DAY: about 1% of the bytes of DIR change: half in modified files
# (a block past the head replaced by another block of the file, a line
# appended), half in new files (copies of existing files with a line appended). Files are
# replaced (written beside and renamed), never written in place: DIR is a
# hard-linked copy of the corpus.
change() {
    "$PY" - "$1" "$2" <<'EOF'
import os, random, sys
root, day = sys.argv[1], int(sys.argv[2])
rnd = random.Random(day)
files = []
for dp, dns, fns in os.walk(root):
    dns.sort()
    for f in sorted(fns):
        p = os.path.join(dp, f)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append((p, os.path.getsize(p)))
total = sum(s for _, s in files)
budget = total // 100
mod, add = budget // 2, budget - budget // 2
rnd.shuffle(files)
done = 0
for p, s in files:
    if mod <= 0:
        break
    if s == 0 or s > mod + 65536:
        continue
    # An edit: a block replaced by bytes from elsewhere in the same file (the
    # file keeps its kind of content; random bytes would look encrypted).
    # The head (magic, headers) is left alone, as an application's edit would.
    data = bytearray(open(p, "rb").read())
    if len(data) > 16384:
        src, dst = rnd.randrange(8192, len(data) - 4096), rnd.randrange(8192, len(data) - 4096)
        data[dst:dst + 4096] = data[src:src + 4096]
    data += b"\nchanged on day %d\n" % day
    tmp = p + ".bench-tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, p)
    mod -= len(data)
    done += 1
os.makedirs(os.path.join(root, "new", "day%02d" % day), exist_ok=True)
i = 0
for p, s in files[::-1]:
    if add <= 0:
        break
    if s == 0 or s > add + 65536:
        continue
    data = open(p, "rb").read() + b"\nnew file %d of day %d\n" % (i, day)
    with open(os.path.join(root, "new", "day%02d" % day, "n%05d-%s" % (i, os.path.basename(p))), "wb") as fh:
        fh.write(data)
    add -= len(data)
    i += 1
print("%d modified, %d new" % (done, i))
EOF
}

bench_days() {
    local repo="$WORK/repo-b" days="$WORK/days" d p
    say "bench-hunt: == (b) $DAYS daily snapshots with 1% change a day"
    mkdir -p "$days"
    for p in "${PATHS[@]}"; do cp -al "$p" "$days/" || die "cannot copy $p (hard links)"; done
    cr "$repo" init --kdf interactive >/dev/null || die "init failed"
    cr "$repo" backup --source days --time 2026-01-01T02:00:00Z "$days" >/dev/null || die "backup failed"
    hunt_twice days-1 "$repo"
    for d in $(seq 2 "$DAYS"); do
        say "bench-hunt: day $d: $(change "$days" "$d")"
        cr "$repo" backup --source days --time "$(date -u -d "2026-01-01 +$((d - 1)) days" +%Y-%m-%dT02:00:00Z)" \
            "$days" >/dev/null || die "backup of day $d failed"
    done
    forget "$repo"
    hunt_twice "days-$DAYS" "$repo"
    "$CLEANROOM" --repo "$repo" --json findings --min-severity high >"$WORK/findings-b.json" 2>/dev/null
}

# ------------------------------------------------------------------ report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }'; }

row() { # STEP LABEL TOOL BYTES BASE-STEP
    local s=${SECS[$1]:-}
    [ -n "$s" ] || { printf '| %s | %s | - | - | - | - | - | - | |\n' "$2" "$3"; return; }
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "$s" "${CPU[$1]}" \
        "$(awk -v b="$4" -v s="$s" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }')" \
        "$(awk -v k="${RSS[$1]:-0}" 'BEGIN { printf "%.0f", k / 1024 }')" \
        "$(ratio "$s" "${SECS[$5]:-}")" "$(ratio "${CPU[$1]}" "${CPU[$5]:-}")" "${NOTE[$1]:-}"
}

report() {
    echo "# cleanroom hunt benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- corpus: ${PATHS[*]}: $((CORPUS_BYTES / 1048576)) MiB in $CORPUS_FILES files"
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "load average at start $LOAD0; page cache warm (after a warm-up run)"
    echo "- $("$CLEANROOM" --version 2>/dev/null | head -n1), $(yara --version 2>/dev/null | sed 's/^/yara /'), $THREADS threads each;" \
        "rules: $RULES"
    echo "- seconds: wall clock; cpu s: user + system CPU seconds (steadier than the wall clock on a busy"
    echo "  machine); MB/s = corpus MiB / seconds; ratios: (a) against cleanroom's, (b) against the first"
    echo "  snapshot alone; best of $RUNS measured run(s) after a warm-up"
    echo
    echo "| step | tool | seconds | cpu s | MB/s | peak RSS MiB | ratio | cpu ratio | notes |"
    echo "|---|---|---|---|---|---|---|---|---|"
    row scan-1-cleanroom "scan-1: one snapshot" "cleanroom hunt" "$CORPUS_BYTES" scan-1-cleanroom
    row scan-1-yara "scan-1: same files on disk" "yara -p $THREADS" "$CORPUS_BYTES" scan-1-cleanroom
    row scan-1-nosandbox "scan-1: parsers in-process" "cleanroom hunt, CLEANROOM_SANDBOX=off" "$CORPUS_BYTES" scan-1-cleanroom
    if [ -n "${SECS[sigbase-cleanroom]:-}" ]; then
        row sigbase-cleanroom "signature-base: one snapshot" "cleanroom hunt" "$CORPUS_BYTES" sigbase-cleanroom
        row sigbase-yara "signature-base: same files on disk" "yara -p $THREADS -d ..." "$CORPUS_BYTES" sigbase-cleanroom
    fi
    row days-1 "days-1: first snapshot alone" "cleanroom hunt" "$CORPUS_BYTES" days-1
    row "days-$DAYS" "days-$DAYS: $DAYS snapshots, 1%/day" "cleanroom hunt" "$CORPUS_BYTES" days-1
    echo
    echo "Targets:"
    local r c
    r=$(ratio "${SECS[days-$DAYS]:-0}" "${SECS[days-1]:-0}")
    c=$(ratio "${CPU[days-$DAYS]:-0}" "${CPU[days-1]:-0}")
    if [ "$r" != - ]; then
        echo "- $DAYS snapshots from scratch <= 1.5x the first alone: $(awk -v r="$r" 'BEGIN { print (r <= 1.5) ? "PASS" : "MISS" }') (${r}x wall, ${c}x CPU)"
    else
        echo "- $DAYS snapshots from scratch <= 1.5x the first alone: n/a"
    fi
    r=$(ratio "${SECS[scan-1-cleanroom]:-0}" "${SECS[scan-1-nosandbox]:-0}")
    c=$(ratio "${CPU[scan-1-cleanroom]:-0}" "${CPU[scan-1-nosandbox]:-0}")
    if [ "$r" != - ]; then
        echo "- parser sandbox costs <= 10% on one snapshot: $(awk -v r="$r" 'BEGIN { print (r <= 1.10) ? "PASS" : "MISS" }') (${r}x wall, ${c}x CPU of the in-process hunt)"
    fi
    r=$(ratio "${SECS[scan-1-yara]:-0}" "${SECS[scan-1-cleanroom]:-0}")
    c=$(ratio "${CPU[scan-1-yara]:-0}" "${CPU[scan-1-cleanroom]:-0}")
    if [ "$r" != - ]; then
        echo "- one snapshot against yara on the plain files: yara takes ${r}x the wall time and ${c}x the CPU time of cleanroom"
    fi
    r=$(ratio "${SECS[sigbase-yara]:-0}" "${SECS[sigbase-cleanroom]:-0}")
    c=$(ratio "${CPU[sigbase-yara]:-0}" "${CPU[sigbase-cleanroom]:-0}")
    if [ "$r" != - ]; then
        echo "- signature-base, one snapshot, faster than yara: $(awk -v r="$r" 'BEGIN { print (r >= 1) ? "PASS" : "MISS" }') (yara takes ${r}x the wall time and ${c}x the CPU time of cleanroom); findings at or above high on the clean corpus: ${SIGBASE_HIGH:-?}"
    fi
    echo
    echo "Findings at or above high (false positives: the corpus and its daily edits are clean):"
    "$PY" - "$WORK/findings-a.json" "$WORK/findings-b.json" "$DAYS" <<'EOF'
import json, sys
for name, path in (("(a) one snapshot", sys.argv[1]), ("(b) %s days" % sys.argv[3], sys.argv[2])):
    try:
        fs = json.load(open(path))["findings"]
    except Exception as e:
        print("- %s: could not read them (%s)" % (name, e))
        continue
    # Carried-forward copies are the same finding: count each once.
    fs = [f for f in fs if f.get("first_seen") in (None, f.get("snapshot"))]
    print("- %s: %s" % (name, "none" if not fs else "%d" % len(fs)))
    for f in fs[:20]:
        print("  - %s `%s` %s: %s" % (f.get("severity"), f.get("indicator"), f.get("path"), f.get("detail")))
    if len(fs) > 20:
        print("  - ... and %d more" % (len(fs) - 20))
EOF
}

# ------------------------------------------------------------------ main

main() {
    [ -x "$CLEANROOM" ] || die "no cleanroom command at $CLEANROOM (run make first)"
    command -v yara >/dev/null || die "yara is not installed (scripts/install-deps)"
    [ -x "$TIME" ] || die "GNU time is not installed at $TIME (scripts/install-deps)"
    [ -d "$RULES/yara" ] || die "no rules folder at $RULES"
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    # Its own lock: bench/bench.sh may run this at its end while holding its own.
    exec 8>"$CACHE/.lock-hunt"
    flock -n 8 || die "another hunt bench is running on $CACHE"
    build_corpus
    rm -rf "$WORK"
    mkdir -p "$WORK/log" "$RESULTS"
    export CLEANROOM_PASSWORD=$PASS
    unset CLEANROOM_PASSWORD_FILE CLEANROOM_REPO
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

    bench_scan
    bench_sigbase
    bench_days

    local out="$RESULTS/hunt-latest.md"
    report >"$out"
    cp "$out" "$RESULTS/hunt-$([ "$QUICK" = 1 ] && echo quick || echo full)-$(date -u +%Y%m%dT%H%M%SZ).md"
    echo
    cat "$out"
    echo
    echo "results written to $out (logs in $WORK/log)"
    rm -rf "$WORK"/repo-* "$WORK/days"
}

main "$@"
