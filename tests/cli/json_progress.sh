# --json on backup, restore and hunt: the result object alone on stdout (as
# before), and on stderr one JSON event per line, as recover prints them:
# "VERB-start", "progress" events (at most one a second), "VERB-done" with the
# status and the totals. --quiet keeps the start and done events only.
set -u
. "${CR_TESTLIB:?}"
export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p src/sub
for i in 1 2 3 4 5; do head -c $((i * 70000)) /dev/urandom > "src/sub/f$i"; done
printf 'note\n' > src/readme.txt
NFILES=6
NBYTES=$(find src -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')

# check VERB ERRFILE OUTFILE EXPECT...: every line of stderr but the usual
# messages is a JSON event, in order, and the done event holds EXPECT
# (key=value...); stdout is one JSON document (unless EXPECT has stdout=none).
check() {
    python3 - "$@" <<'PY' || fail "$1 --json events"
import json, sys
verb, err, out = sys.argv[1:4]
want = dict(a.split("=", 1) for a in sys.argv[4:])
lines = open(err).read().splitlines()
ev = []
for n, l in enumerate(lines, 1):
    if l.startswith(("warning: ", "cleanroom: error: ", "hint: ")):
        continue  # the usual messages stay text
    try:
        ev.append(json.loads(l))
    except ValueError:
        sys.exit("stderr line %d is not JSON: %r" % (n, l))
    if not all(isinstance(v, str) for v in ev[-1].values()):
        sys.exit("line %d: values are not all strings (recover's shape): %r" % (n, l))
types = [e["type"] for e in ev]
if not types or types[0] != verb + "-start" or types[-1] != verb + "-done":
    sys.exit("events do not go from %s-start to %s-done: %r" % (verb, verb, types))
if any(t != "progress" for t in types[1:-1]):
    sys.exit("unexpected events between start and done: %r" % types)
prog = [e for e in ev if e["type"] == "progress"]
if "quiet" in want:
    if prog:
        sys.exit("--quiet printed progress events")
    del want["quiet"]
elif not prog and want.get("status") != "failed":
    sys.exit("no progress event")
last = 0
for p in prog:
    for k in ("phase", "files_done", "bytes_done", "rate", "elapsed"):
        if k not in p:
            sys.exit("progress event without %s: %r" % (k, p))
    if p["phase"] != verb or int(p["bytes_done"]) < last:
        sys.exit("progress goes backwards or has the wrong phase: %r" % p)
    last = int(p["bytes_done"])
    if "bytes_total" in p and "eta" in p and float(p["eta"]) < 0:
        sys.exit("negative ETA: %r" % p)
done = ev[-1]
want_stdout = want.pop("stdout", None)
for k, v in want.items():
    if done.get(k) != v:
        sys.exit("%s-done: %s is %r, expected %r (%r)" % (verb, k, done.get(k), v, done))
float(done["seconds"])
if want_stdout != "none":
    json.load(open(out))  # the result is still one JSON document on stdout
PY
}

expect_exit 0 cr --json backup --source s src
check backup "$CR_ERR" "$CR_OUT" status=ok files=$NFILES bytes="$NBYTES" errors=0
SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$CR_OUT")
assert_grep "\"snapshot\":\"$SNAP\"" "$CR_ERR" "backup-done names the new snapshot"
pass "backup --json"

expect_exit 0 cr --json hunt
check hunt "$CR_ERR" "$CR_OUT" status=ok snapshots_hunted=1 files_judged=$NFILES \
    bytes_scanned="$NBYTES" findings=0
pass "hunt --json"

expect_exit 0 cr --json restore latest --target "$SCRATCH/out"
check restore "$CR_ERR" "$CR_OUT" status=ok snapshot="$SNAP" files=$NFILES bytes="$NBYTES" failed=0
pass "restore --json"

expect_exit 0 cr --json --quiet restore latest --target "$SCRATCH/out2"
check restore "$CR_ERR" "$CR_OUT" quiet=1 status=ok files=$NFILES
pass "--quiet: start and done events only"

# A second backup: the progress knows the totals from the previous snapshot.
expect_exit 0 cr --json backup --source s src
check backup "$CR_ERR" "$CR_OUT" status=ok files=$NFILES
pass "second backup --json"

# A disk image: backup and restore --image, and a restore that fails (the
# output exists): its done event says so, with the message.
head -c 300000 /dev/urandom > disk.raw
truncate -s 4M disk.raw
IMGALLOC=$(stat -c %s disk.raw)
expect_exit 0 cr --json backup --source vm --image disk.raw --no-files
check backup "$CR_ERR" "$CR_OUT" status=ok disks=1 bytes="$IMGALLOC"
expect_exit 0 cr --json restore vm:latest --image back.raw
check restore "$CR_ERR" "$CR_OUT" status=ok files=1 failed=0
cmp -s disk.raw back.raw || fail "the restored image differs"
expect_exit 1 cr --json restore vm:latest --image back.raw
check restore "$CR_ERR" "$CR_OUT" stdout=none status=failed files=0
assert_grep '"type":"restore-done".*"message":"[^"]*already exists' "$CR_ERR" "the failure's message"
pass "image backup and restore --json"

# Without --json, no event.
expect_exit 0 cr backup --source s src
grep -q '^{' "$CR_ERR" && fail "events printed without --json"
pass "no events without --json"
