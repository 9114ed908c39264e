#!/bin/bash
# End-to-end: damaged vault files are found, named, and contained.
#  - one byte flipped in the middle of a pack; a truncated pack; a deleted pack:
#    `verify --read-data` exits 4 naming the pack and an affected file;
#    `restore` exits 5, names the lost files on stderr and restores every other
#    file identical;
#  - a truncated index file and a garbage index file: the index is a cache, so
#    verify passes or reports it clearly and restore works;
#  - a garbage snapshot file (random bytes named by their SHA-256): `snapshots`
#    and `verify` report it (verify exits 4), never crash, and the good
#    snapshot still restores.
. "$(dirname "$0")/e2e-lib.bash"

SRC="$SCRATCH/src"
e2e_log "generating data"
python3 - "$SRC" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(4)
os.makedirs(os.path.join(root, "big"))
for i in range(6):
    with open(os.path.join(root, "big", "scan%d.img" % i), "wb") as f:
        f.write(os.urandom(12 << 20))
for d in range(10):
    p = os.path.join(root, "notes", "n%d" % d)
    os.makedirs(p)
    for k in range(20):
        with open(os.path.join(p, "note%02d.txt" % k), "wb") as f:
            f.write(("note %d %d " % (d, k)).encode() * rnd.randint(1, 3000))
EOF
e2e_checksums "$SRC" >"$SCRATCH/src.sums"

e2e_init_vault
e2e_run --json backup --source ward "$SRC"
e2e_expect_rc 0 "backup"
SNAP=$(e2e_backup_id)
e2e_log "snapshot ${SNAP:0:8}, $(e2e_pack_count) packs"
[ "$(e2e_pack_count)" -ge 3 ] || e2e_fail "expected at least 3 packs for 72 MB, got $(e2e_pack_count)"
cp -a "$REPO" "$SCRATCH/pristine"

# fresh_vault: a fresh copy of the undamaged vault at $REPO.
fresh_vault() {
    chmod -R u+w "$REPO" 2>/dev/null || true
    rm -rf "$REPO"
    cp -a "$SCRATCH/pristine" "$REPO"
}

# biggest_pack: path of the largest pack (holds file data, not only trees).
biggest_pack() { find "$REPO/data" -type f -printf '%s %p\n' | sort -n | tail -n1 | cut -d' ' -f2-; }

# affected_paths FILE: relative paths (of $SRC files) named by "affects" lines.
affected_paths() {
    python3 - "$1" "$SCRATCH/src.sums" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
files = [l.split("  ", 1)[1].rstrip("\n")[2:] for l in open(sys.argv[2])]
found = set()
for m in re.finditer(r"affects .*? snapshot [0-9a-f]{8}: (.*)", text):
    p = m.group(1).strip()
    for f in files:
        if p == f or p.endswith("/" + f):
            found.add(f)
for f in sorted(found):
    print(f)
EOF
}

# check_damaged_pack WHAT PACKID STRICT: verify names the pack and files,
# restore names them and restores the rest. STRICT=1: every file verify calls
# affected must be named lost by restore (and not come back intact); STRICT=0
# (truncated pack: restore may still read blobs before the cut) at least one.
check_damaged_pack() {
    local what=$1 pack=$2 strict=$3
    e2e_run verify --read-data
    cat "$OUT" "$ERR" >"$SCRATCH/verify.txt"
    if [ "$RC" -ne 4 ]; then e2e_show; e2e_fail "$what: verify --read-data exited $RC, expected 4"; fi
    grep -q "$pack" "$SCRATCH/verify.txt" || { e2e_show; e2e_fail "$what: verify does not name pack $pack"; }
    grep -Eq "damaged pack $pack: .+" "$SCRATCH/verify.txt" ||
        { e2e_show; e2e_fail "$what: no 'damaged pack <id>: <why>' line"; }
    affected_paths "$SCRATCH/verify.txt" >"$SCRATCH/lost"
    [ -s "$SCRATCH/lost" ] || { e2e_show; e2e_fail "$what: verify names no affected file of the source"; }
    grep -Eq "affects ward snapshot ${SNAP:0:8}: " "$SCRATCH/verify.txt" ||
        e2e_fail "$what: affected lines do not name source and snapshot as 'affects ward snapshot ${SNAP:0:8}: PATH'"
    e2e_log "$what: verify names $(wc -l <"$SCRATCH/lost") affected file(s): $(head -3 "$SCRATCH/lost" | tr '\n' ' ')"

    local t="$SCRATCH/restore"
    rm -rf "$t"
    e2e_run restore "$SNAP" --target "$t"
    if [ "$RC" -ne 5 ]; then e2e_show; e2e_fail "$what: restore exited $RC, expected 5 (partial)"; fi
    local f named=0
    while IFS= read -r f; do
        if grep -qF "$f" "$ERR"; then
            named=$((named + 1))
        elif [ "$strict" = 1 ]; then
            e2e_show
            e2e_fail "$what: restore does not name lost file $f on stderr"
        fi
    done <"$SCRATCH/lost"
    [ "$named" -ge 1 ] || { e2e_show; e2e_fail "$what: restore names none of the lost files on stderr"; }
    local r
    r=$(e2e_restored_root "$t" "$SRC") || e2e_fail "$what: restored root not found"
    # Every file not lost is restored identical.
    python3 - "$SCRATCH/src.sums" "$SCRATCH/lost" "$r" <<'EOF' || e2e_fail "$what: files that were not lost differ after restore"
import hashlib, sys
lost = set(l.rstrip("\n") for l in open(sys.argv[2]))
bad = 0
for l in open(sys.argv[1]):
    h, f = l.rstrip("\n").split("  ", 1)
    f = f[2:]
    if f in lost:
        continue
    try:
        got = hashlib.sha256(open(sys.argv[3] + "/" + f, "rb").read()).hexdigest()
    except OSError as e:
        print("not restored:", f, e, file=sys.stderr); bad += 1; continue
    if got != h:
        print("content differs:", f, file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
EOF
    # A lost file must not be left looking intact.
    if [ "$strict" = 1 ]; then
        while IFS= read -r f; do
            if [ -f "$r/$f" ] && grep -qF "$(sha256sum <"$r/$f" | cut -c1-64)  ./$f" "$SCRATCH/src.sums"; then
                e2e_fail "$what: $f was reported lost but restored with its full original content"
            fi
        done <"$SCRATCH/lost"
    fi
    rm -rf "$t"
}

# --- 1. one byte flipped in the middle of a pack
P=$(biggest_pack)
PID=$(basename "$P")
chmod u+w "$P"
python3 - "$P" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0x5a]))
EOF
e2e_log "flipped a byte in pack ${PID:0:8}"
check_damaged_pack "flipped byte" "$PID" 1

# --- 2. truncated pack
fresh_vault
P=$(biggest_pack)
PID=$(basename "$P")
chmod u+w "$P"
truncate -s $(($(stat -c %s "$P") / 2)) "$P"
e2e_log "truncated pack ${PID:0:8}"
check_damaged_pack "truncated pack" "$PID" 0

# --- 3. deleted pack: even plain verify (no data read) must notice
fresh_vault
P=$(biggest_pack)
PID=$(basename "$P")
rm -f "$P"
e2e_run verify
[ "$RC" -eq 4 ] || { e2e_show; e2e_fail "deleted pack: verify exited $RC, expected 4"; }
grep -q "$PID" "$OUT" "$ERR" || { e2e_show; e2e_fail "deleted pack: verify does not name pack $PID"; }
check_damaged_pack "deleted pack" "$PID" 1

# --- 4. truncated and garbage index files: the index is only a cache
fresh_vault
n_index=$(find "$REPO/index" -type f | wc -l)
[ "$n_index" -ge 1 ] || e2e_fail "no index file after a backup"
for f in "$REPO"/index/*; do
    chmod u+w "$f"
    truncate -s $(($(stat -c %s "$f") / 2)) "$f"
done
head -c 5000 /dev/urandom >"$SCRATCH/garbage"
G=$(sha256sum <"$SCRATCH/garbage" | cut -c1-64)
cp "$SCRATCH/garbage" "$REPO/index/$G"
e2e_run verify
cat "$OUT" "$ERR" >"$SCRATCH/verify.txt"
case $RC in
0) e2e_log "damaged index: verify passes (index rebuilt from pack headers)" ;;
4) grep -qi 'index' "$SCRATCH/verify.txt" ||
    { e2e_show; e2e_fail "damaged index: verify exits 4 without saying the index is damaged"; }
   e2e_log "damaged index: verify reports: $(grep -i index "$SCRATCH/verify.txt" | head -2 | tr '\n' ' ')" ;;
*) e2e_show; e2e_fail "damaged index: verify exited $RC (expected 0, or 4 naming the index)" ;;
esac
t="$SCRATCH/restore"
rm -rf "$t"
e2e_run restore "$SNAP" --target "$t"
e2e_expect_rc 0 "restore with damaged index files (the index is a rebuildable cache)"
r=$(e2e_restored_root "$t" "$SRC") || e2e_fail "restored root not found"
e2e_checksums "$r" >"$SCRATCH/restored.sums"
cmp -s "$SCRATCH/src.sums" "$SCRATCH/restored.sums" || e2e_fail "restore with damaged index differs"
rm -rf "$t"
# A backup still works, deduplicating against the packs the damaged index named.
e2e_run --json backup --source ward "$SRC"
e2e_expect_rc 0 "backup with damaged index files"
new=$(e2e_json_get "$OUT" 'j["bytes_new"]')
[ "$new" -lt 1048576 ] || e2e_fail "backup with damaged index stored $new new bytes (no dedup through pack headers)"

# --- 5. garbage snapshot file
fresh_vault
head -c 700 /dev/urandom >"$SCRATCH/garbage"
G=$(sha256sum <"$SCRATCH/garbage" | cut -c1-64)
cp "$SCRATCH/garbage" "$REPO/snapshots/$G"
e2e_run snapshots
cat "$OUT" "$ERR" >"$SCRATCH/snaps.txt"
case $RC in
0 | 4) ;;
*) e2e_show; e2e_fail "garbage snapshot: 'snapshots' exited $RC (expected 0 with a warning, or 4)" ;;
esac
grep -q "${G:0:8}" "$SCRATCH/snaps.txt" ||
    { e2e_show; e2e_fail_later "garbage snapshot: 'snapshots' (exit $RC) does not mention the unreadable snapshot file ${G:0:8}"; }
grep -q "${SNAP:0:8}" "$OUT" || { e2e_show; e2e_fail "garbage snapshot: 'snapshots' no longer lists the good snapshot"; }
e2e_run snapshots --json
case $RC in 0 | 4) ;; *) e2e_show; e2e_fail "garbage snapshot: 'snapshots --json' exited $RC" ;; esac
e2e_run verify
[ "$RC" -eq 4 ] || { e2e_show; e2e_fail "garbage snapshot: verify exited $RC, expected 4"; }
grep -q "${G:0:8}" "$OUT" "$ERR" || { e2e_show; e2e_fail "garbage snapshot: verify does not name ${G:0:8}"; }
rm -rf "$t"
e2e_run restore "$SNAP" --target "$t"
e2e_expect_rc 0 "restore of the good snapshot beside a garbage one"
r=$(e2e_restored_root "$t" "$SRC") || e2e_fail "restored root not found"
e2e_checksums "$r" >"$SCRATCH/restored.sums"
cmp -s "$SCRATCH/src.sums" "$SCRATCH/restored.sums" || e2e_fail "restore beside a garbage snapshot differs"
e2e_run restore "${G:0:12}" --target "$SCRATCH/restore-garbage"
case $RC in
4 | 7) ;;
*) e2e_show; e2e_fail "restore of the garbage snapshot exited $RC, expected 4 (or 7)" ;;
esac
e2e_pass
