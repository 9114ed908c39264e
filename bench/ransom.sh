#!/usr/bin/env bash
# The cost of the ransomware signals a backup counts (backup --help, "Ransomware
# signals"): first backup of the same folder into a fresh vault, with and without
# them, cold cache, best of BENCH_RANSOM_RUNS (default 3). Goal: at most 5% slower.
#
#   CLEANROOM             the command (default: build/cleanroom in this tree)
#   BENCH_RANSOM_DIR      the folder to back up (default: /usr/share, as BENCH_QUICK's corpus)
#   CLEANROOM_BENCH_CACHE scratch space (default /var/tmp/cleanroom-bench)
#
# A benchmark is not a test: it prints numbers and a PASS/MISS against the goal,
# and fails only when a backup could not run at all.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
SRC=${BENCH_RANSOM_DIR:-/usr/share}
RUNS=${BENCH_RANSOM_RUNS:-3}
WORK=${CLEANROOM_BENCH_CACHE:-/var/tmp/cleanroom-bench}/ransom
export CLEANROOM_PASSWORD=bench
unset CLEANROOM_REPO CLEANROOM_PASSWORD_FILE

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

# best SECONDS of RUNS first backups of $1 (extra backup options in $2)
best_first() {
    local best="" t
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/vault"
        "$CLEANROOM" --repo "$WORK/vault" --quiet init --kdf interactive >/dev/null || return 1
        drop_caches
        /usr/bin/time -f %e -o "$WORK/time" "$CLEANROOM" --repo "$WORK/vault" --quiet backup \
            --source b $2 "$1" >/dev/null 2>&1
        case $? in 0 | 5) ;; *) return 1 ;; esac
        t=$(tail -n1 "$WORK/time")
        best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    echo "$best"
}

rm -rf "$WORK" && mkdir -p "$WORK" || exit 1
echo "Ransomware signals at backup time ($SRC, best of $RUNS, cold cache):"
with=$(best_first "$SRC" "") || { echo "backup failed"; exit 1; }
without=$(best_first "$SRC" "--no-ransomware-check") || { echo "backup failed"; exit 1; }
awk -v w="$with" -v n="$without" 'BEGIN {
    c = n > 0 ? 100 * (w - n) / n : 0
    printf "| first backup | %ss without | %ss with | %+.1f%% | goal <= 5%%: %s |\n", n, w, c, (c <= 5 ? "PASS" : "MISS") }'
rm -rf "$WORK"
