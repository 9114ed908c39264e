#!/bin/bash
# End-to-end: items that vanish or cannot be read during a backup are warned
# about by path, the snapshot is still saved (exit 5), and it restores the rest.
#  1. A folder of many files from which a background loop deletes files while
#     the backup runs (retried until a deletion hits mid-run, at most 6 times).
#  2. As an unprivileged user (nobody, through run_as): a file and a folder without
#     read permission, beside a FIFO that must be stored as a FIFO, not read
#     (a backup that opens it would hang: the run has a timeout).
. "$(dirname "$0")/e2e-lib.bash"

e2e_init_vault

# --- 1. files vanishing mid-run
V="$SCRATCH/vanish"
make_files() {
    rm -rf "$V"
    python3 - "$V" <<'EOF'
import os, sys
root = sys.argv[1]
for d in range(20):
    p = os.path.join(root, "d%02d" % d)
    os.makedirs(p)
    for f in range(1000):
        name = "f%04d" % f
        # Content derived from the name so any restored file can be checked.
        with open(os.path.join(p, name), "w") as fh:
            fh.write(("%s/%s " % (p[len(root):], name)) * (1 + f % 50))
EOF
}

vanished_hit=0
for attempt in 1 2 3 4 5 6; do
    make_files
    n0=$(find "$V" -type f | wc -l)
    before=$(find "$REPO/snapshots" -type f | wc -l)
    # Deleter: removes files from the end of the name order, a few at a time,
    # shortly after the backup started (later attempts wait longer).
    "$CLEANROOM" --repo "$REPO" --json backup --source vanish --threads 2 "$V" \
        >"$OUT" 2>"$ERR" &
    bpid=$!
    (
        sleep "0.$((attempt * 15))"
        find "$V" -type f | LC_ALL=C sort -r | head -n 12000 | xargs -r -n 20 rm -f
    ) &
    dpid=$!
    RC=0
    wait "$bpid" || RC=$?
    wait "$dpid" || true
    [ "$RC" -lt 124 ] || { e2e_show; e2e_fail "vanishing attempt $attempt: backup crashed (exit $RC)"; }
    after=$(find "$REPO/snapshots" -type f | wc -l)
    case $RC in
    0)
        [ "$after" -eq $((before + 1)) ] || e2e_fail "attempt $attempt: backup exit 0 but no new snapshot"
        e2e_log "attempt $attempt: no deletion hit the backup mid-run (exit 0)"
        continue ;;
    5) ;;
    *) e2e_show; e2e_fail "vanishing attempt $attempt: backup exited $RC, expected 0 or 5" ;;
    esac
    [ "$after" -eq $((before + 1)) ] || e2e_fail "attempt $attempt: backup exited 5 but saved no snapshot"
    # Warnings name vanished paths (under $V, now missing).
    python3 - "$ERR" "$V" <<'EOF' || { e2e_show; e2e_fail "attempt $attempt: warnings do not name a vanished path"; }
import os, re, sys
err = open(sys.argv[1], errors="replace").read()
root = sys.argv[2]
names = set(re.findall(r"d\d\d/f\d\d\d\d", err))
gone = [n for n in names if not os.path.exists(os.path.join(root, n))]
print("warnings name %d paths, %d of them deleted" % (len(names), len(gone)), file=sys.stderr)
sys.exit(0 if gone else 1)
EOF
    SNAP=$(e2e_json_get "$OUT" 'j["id"]' 2>/dev/null) ||
        { e2e_show; e2e_fail "attempt $attempt: backup --json with exit 5 printed no snapshot object"; }
    errors=$(e2e_json_get "$OUT" 'j["errors"]')
    [ "$errors" -ge 1 ] || e2e_fail "attempt $attempt: exit 5 but the snapshot counts $errors errors"
    # The snapshot restores: every file restored has the right content, and
    # every file that still exists in the source is in it.
    rm -rf "$SCRATCH/restore"
    e2e_run restore "$SNAP" --target "$SCRATCH/restore"
    e2e_expect_rc 0 "restore of the snapshot with vanished files"
    r=$(e2e_restored_root "$SCRATCH/restore" "$V") || e2e_fail "restored root not found"
    python3 - "$r" "$V" <<'EOF' || e2e_fail "attempt $attempt: restored files are wrong (see above)"
import os, sys
r, src = sys.argv[1], sys.argv[2]
bad = 0
count = 0
for d in sorted(os.listdir(r)):
    for f in sorted(os.listdir(os.path.join(r, d))):
        count += 1
        want = ("/%s/%s " % (d, f)) * (1 + int(f[1:]) % 50)
        if open(os.path.join(r, d, f)).read() != want:
            print("content differs:", d, f, file=sys.stderr); bad += 1
for d in sorted(os.listdir(src)):
    for f in sorted(os.listdir(os.path.join(src, d))):
        if not os.path.exists(os.path.join(r, d, f)):
            print("still in the source but not in the snapshot:", d, f, file=sys.stderr); bad += 1
print("restored %d files" % count, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
    e2e_log "attempt $attempt: exit 5, $errors errors, snapshot ${SNAP:0:8} restores the rest (started with $n0 files)"
    vanished_hit=1
    break
done
[ "$vanished_hit" -eq 1 ] || e2e_fail "in 6 attempts no deletion happened during a backup (exit was always 0): cannot test"

# --- 2. unreadable items, backup as an unprivileged user
if ! command -v runuser >/dev/null || ! id nobody >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ] ||
    ! declare -F run_as >/dev/null; then
    e2e_log "SKIP part 2: needs root, runuser, the user nobody and tests/lib.sh (CR_TESTLIB)"
    e2e_pass
fi
NOGROUP=$(id -g nobody)
# What nobody must reach goes where it can, wherever $SCRATCH is (run_as gives
# it a copy of the command).
U="$(shared_dir)/unreadable"
mkdir -p "$U/open" "$U/closed"
printf 'readable\n' >"$U/open/readable.txt"
head -c 2000000 /dev/urandom >"$U/open/data.bin"
printf 'secret\n' >"$U/secret.txt"
chmod 000 "$U/secret.txt"
printf 'hidden\n' >"$U/closed/inside.txt"
chmod 000 "$U/closed"
mkfifo "$U/pipe"
chmod 644 "$U/pipe"
ln -s open/readable.txt "$U/link"
chown -R nobody:"$NOGROUP" "$U/open" "$U/link" "$U/pipe"
NREPO="$(shared_dir)/vault-nobody"
cp -a "$REPO" "$NREPO"
chown -R nobody:"$NOGROUP" "$NREPO"
as_nobody() {
    run_as nobody env -i PATH="$PATH" CLEANROOM_PASSWORD="$PASS" HOME=/ \
        timeout 120 "$CLEANROOM" --repo "$NREPO" "$@"
}
RC=0
as_nobody --json backup --source unreadable "$U" >"$OUT" 2>"$ERR" </dev/null || RC=$?
[ "$RC" -ne 124 ] || e2e_fail "backup as nobody hung (FIFO opened for reading?) and was stopped after 120 s"
[ "$RC" -eq 5 ] || { e2e_show; e2e_fail "backup as nobody with unreadable items exited $RC, expected 5"; }
grep -q "secret.txt" "$ERR" || { e2e_show; e2e_fail "the warning does not name the unreadable file secret.txt"; }
grep -q "closed" "$ERR" || { e2e_show; e2e_fail "the warning does not name the unreadable folder 'closed'"; }
grep -q "pipe" "$ERR" && { e2e_show; e2e_fail "the FIFO was reported as a problem (it must be stored, not read)"; }
SNAP=$(e2e_json_get "$OUT" 'j["id"]') || { e2e_show; e2e_fail "backup --json printed no snapshot object"; }
errors=$(e2e_json_get "$OUT" 'j["errors"]')
[ "$errors" -ge 2 ] || e2e_fail "snapshot counts $errors errors, expected at least 2"
RC=0
as_nobody snapshots >"$OUT" 2>"$ERR" || RC=$?
[ "$RC" -eq 0 ] && grep -q "${SNAP:0:8}" "$OUT" || { e2e_show; e2e_fail "the partial snapshot is not listed"; }
RC=0
as_nobody ls --json "$SNAP" >"$OUT" 2>"$ERR" || RC=$?
[ "$RC" -eq 0 ] || { e2e_show; e2e_fail "ls of the partial snapshot exited $RC"; }
python3 - "$OUT" <<'EOF' || e2e_fail "ls --json: the FIFO is not stored as a fifo"
import json, sys
j = json.load(open(sys.argv[1]))
t = [e["type"] for e in j if e["path"].rstrip("/").endswith("/pipe")]
sys.exit(0 if t == ["fifo"] else 1)
EOF
# Restore (as root) gives back everything readable, identical.
REPO=$NREPO
rm -rf "$SCRATCH/restore"
e2e_run restore "$SNAP" --target "$SCRATCH/restore"
e2e_expect_rc 0 "restore of the partial snapshot"
r=$(e2e_restored_root "$SCRATCH/restore" "$U") || e2e_fail "restored root not found"
cmp "$U/open/readable.txt" "$r/open/readable.txt" || e2e_fail "readable.txt differs after restore"
cmp "$U/open/data.bin" "$r/open/data.bin" || e2e_fail "data.bin differs after restore"
[ -p "$r/pipe" ] || e2e_fail "the FIFO was not restored as a FIFO"
[ "$(readlink "$r/link")" = open/readable.txt ] || e2e_fail "the symlink was not restored"
[ "$(stat -c %U "$r/open/data.bin")" = nobody ] || e2e_fail "owner nobody of data.bin not restored"
if [ -f "$r/secret.txt" ] && [ "$(cat "$r/secret.txt")" = secret ]; then
    e2e_fail "the unreadable file was restored with content read by nobody?"
fi
e2e_pass
