#!/bin/bash
# End-to-end: a backup killed with SIGKILL at a random moment never damages
# the vault. Per trial (E2E_TRIALS, default 20):
#   - a backup of a modified data set is started and SIGKILLed after a random
#     delay of 0.05-2 s; once the time of a whole backup of that data is known
#     (T, timed on a completing backup that could reuse nothing), every other
#     trial is killed late in a backup, at 55-95% of T, where packs have been
#     written whatever the speed of the machine;
#   - `verify` passes (exit 0);
#   - `restore S1` (the first, complete snapshot) is bit-identical to the
#     checksum list taken when S1 was made;
#   - the next backup of the same data completes (exit 0); when the killed
#     backup had written complete packs, the completing one reuses them:
#     bytes_new is smaller than the fresh data by at least half of what those
#     packs hold (every such trial), and this happens at least once.
# At the end `verify --read-data` passes and the last snapshot restores
# identical to the data set.
. "$(dirname "$0")/e2e-lib.bash"

TRIALS=${E2E_TRIALS:-20}
FRESH_MB=${E2E_FRESH_MB:-96}
D="$SCRATCH/data"

# --- data set (~300 MB): 4000 small files (half compressible text, half
# random) in 40 folders, and 4 random files of 48 MB.
e2e_log "generating the data set"
python3 - "$D" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(20261122)
words = b"patient record radiology report lab result ward admission discharge ".split()
for d in range(40):
    p = os.path.join(root, "small", "d%02d" % d)
    os.makedirs(p)
    for f in range(100):
        n = int(rnd.expovariate(1 / 24000)) + 1
        if f % 2:
            data = os.urandom(n)
        else:
            data = b" ".join(rnd.choice(words) for _ in range(n // 8 + 1))[:n]
        with open(os.path.join(p, "f%03d.dat" % f), "wb") as fh:
            fh.write(data)
os.makedirs(os.path.join(root, "large"))
for i in range(4):
    with open(os.path.join(root, "large", "big%d.bin" % i), "wb") as fh:
        for _ in range(48):
            fh.write(os.urandom(1 << 20))
EOF
mkdir -p "$D/trial"
e2e_checksums "$D" >"$SCRATCH/s1.sums"
e2e_log "data set: $(du -sh "$D" | cut -f1), $(wc -l <"$SCRATCH/s1.sums") files"

e2e_init_vault
e2e_run --json backup --source sigkill "$D"
e2e_expect_rc 0 "first backup"
S1=$(e2e_backup_id)
e2e_log "S1 = ${S1:0:8}, $(e2e_pack_count) packs"

check_restore_s1() {
    local t="$SCRATCH/restore-s1"
    rm -rf "$t"
    e2e_run restore "$S1" --target "$t"
    e2e_expect_rc 0 "$1: restore S1"
    local r
    r=$(e2e_restored_root "$t" "$D") || e2e_fail "$1: restored S1 root not found"
    e2e_checksums "$r" >"$SCRATCH/restored.sums"
    if ! cmp -s "$SCRATCH/s1.sums" "$SCRATCH/restored.sums"; then
        diff "$SCRATCH/s1.sums" "$SCRATCH/restored.sums" | head -20 >&2 || true
        e2e_fail "$1: restore of S1 is not bit-identical to the data backed up"
    fi
    rm -rf "$t"
}

full_t=""          # seconds a whole backup of a trial's data takes (once measured)
killed_running=0   # trials where the backup was still running when killed
killed_packs=0     # ... and had written at least one pack
reused=0           # ... and the completing backup reused them
FRESH_BYTES=$((FRESH_MB * 1024 * 1024))
for trial in $(seq 1 "$TRIALS"); do
    # Modify: a new random file, 20 small files appended to, one removed.
    rm -f "$D/trial/"*
    head -c "$FRESH_BYTES" /dev/urandom >"$D/trial/fresh-$trial.bin"
    for k in $(seq 0 19); do
        printf 'trial %d change %d\n' "$trial" "$k" >>"$D/small/d$(printf %02d $(((trial + k) % 40)))/f$(printf %03d $(((trial * 7 + k) % 100))).dat"
    done

    if [ -n "$full_t" ] && [ $((trial % 2)) -eq 0 ]; then
        delay=$(python3 -c 'import random, sys; print("%.3f" % (float(sys.argv[1]) * (0.55 + 0.4 * random.random())))' "$full_t")
    else
        delay=$(python3 -c 'import random; print("%.3f" % (0.05 + 1.95 * random.random() ** 2))')
    fi
    e2e_pack_list >"$SCRATCH/packs.before"
    "$CLEANROOM" --repo "$REPO" --json backup --source sigkill "$D" \
        >"$SCRATCH/killed.out" 2>"$SCRATCH/killed.err" &
    pid=$!
    sleep "$delay"
    state=finished
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null && state=killed
    fi
    krc=0
    wait "$pid" 2>/dev/null || krc=$?
    if [ "$state" = finished ] && [ "$krc" -ne 0 ]; then
        cat "$SCRATCH/killed.err" >&2
        e2e_fail "trial $trial: the backup (not killed) exited $krc"
    fi
    e2e_pack_list >"$SCRATCH/packs.after"
    p0=$(wc -l <"$SCRATCH/packs.before")
    p1=$(wc -l <"$SCRATCH/packs.after")
    # Bytes in complete packs the killed backup wrote.
    pbytes=$(LC_ALL=C comm -13 "$SCRATCH/packs.before" "$SCRATCH/packs.after" | awk '{s += $1} END {print s + 0}')
    [ "$state" = killed ] && killed_running=$((killed_running + 1))

    e2e_run verify
    if [ "$RC" -ne 0 ]; then
        e2e_show
        find "$REPO" -newer "$SCRATCH/s1.sums" -type f | head -20 >&2
        e2e_fail "trial $trial: verify after SIGKILL at ${delay}s exited $RC"
    fi
    check_restore_s1 "trial $trial"

    t0=$(date +%s.%N)
    e2e_run --json backup --source sigkill "$D"
    e2e_expect_rc 0 "trial $trial: backup after the killed one"
    if [ "$state" = killed ] && [ "$pbytes" -eq 0 ]; then
        full_t=$(python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$(date +%s.%N)")
    fi
    new=$(e2e_json_get "$OUT" 'j["bytes_new"]')
    note=""
    if [ "$state" = killed ] && [ "$pbytes" -ge $((4 * 1024 * 1024)) ]; then
        killed_packs=$((killed_packs + 1))
        if [ "$new" -lt $((FRESH_BYTES + 2 * 1024 * 1024 - pbytes / 2)) ]; then
            reused=$((reused + 1))
            note=" (reused)"
        else
            note=" (NOT reused)"
            e2e_fail_later "trial $trial: the killed backup left $((p1 - p0)) complete pack(s) of $pbytes bytes, but the next backup stored $new new bytes (fresh data: $FRESH_BYTES)"
        fi
    fi
    e2e_log "trial $trial: delay ${delay}s, backup $state, packs $p0 -> $p1 (+$pbytes B) -> $(e2e_pack_count), next bytes_new $new$note"
done

e2e_log "$killed_running trials killed mid-run, $killed_packs after writing packs, $reused reused"
min_killed=$((TRIALS < 3 ? TRIALS : 3))
[ "$killed_running" -ge "$min_killed" ] ||
    e2e_fail "only $killed_running of $TRIALS backups were still running when killed: the test did not exercise crashes"
[ "$killed_packs" -ge 1 ] ||
    e2e_fail "no killed backup had written a pack: cannot check reuse (raise E2E_FRESH_MB?)"
[ "$reused" -ge 1 ] ||
    e2e_fail "in $killed_packs trials the killed backup had written packs, but the next backup never reused them"

tmpfiles=$(find "$REPO" -name '.tmp-*' | wc -l)
[ "$tmpfiles" -eq 0 ] || e2e_log "note: $tmpfiles temporary file(s) of killed backups remain in the vault"

e2e_log "final verify --read-data"
e2e_run verify --read-data
e2e_expect_rc 0 "final verify --read-data"

# The last snapshot holds the final data set.
e2e_checksums "$D" >"$SCRATCH/final.sums"
e2e_ok restore latest --target "$SCRATCH/restore-last"
r=$(e2e_restored_root "$SCRATCH/restore-last" "$D") || e2e_fail "restored latest root not found"
e2e_checksums "$r" >"$SCRATCH/last.sums"
cmp -s "$SCRATCH/final.sums" "$SCRATCH/last.sums" || e2e_fail "restore of the latest snapshot differs from the data set"
e2e_pass
