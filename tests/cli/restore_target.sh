# restore never writes over data unless told to: a target that holds data is
# refused (exit 8, its entries named, nothing written), as recover refuses
# one; --overwrite restores into it without touching the metadata of the
# folders above the backed-up paths; --dry-run writes nothing and says what
# would be written. Sockets are not restored, and the summary says so.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr init --kdf interactive
mkdir -p site/css
printf '<h1>home</h1>\n' > site/index.html
printf 'body{}\n' > site/css/a.css
python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('site/app.sock')" ||
    fail "cannot make a socket"
expect_exit 0 cr backup --source web site
pass "backed up"

# A fresh target: restored, and the socket is named as not restored.
expect_exit 0 cr restore web:latest --target out
assert_grep "^restored snapshot [0-9a-f]{8} to out: 2 files, " "$CR_OUT" "restore summary"
assert_grep "^sockets not restored .*: 1:" "$CR_OUT" "the socket is counted apart"
assert_grep "^  $P/site/app.sock$" "$CR_OUT" "the socket is named"
expect_exit 0 cr restore web:latest --target out2 --json
python3 - "$CR_OUT" "$P/site/app.sock" <<'PY' || fail "restore --json names the socket"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["sockets"] == [sys.argv[2]] and r["failed"] == 0 and r["dry_run"] is False, r
PY
pass "a socket is said not to be restored"

# The technician edits a file, then restores again into the same folder.
R=out$P/site
printf 'edited\n' > "$R/index.html"
printf 'mine\n' > "$R/extra.txt"
expect_exit 8 cr restore web:latest --target out
assert_grep "^cleanroom: error: refused: the target out already holds data \(1 entry: tmp\)" "$CR_ERR" \
    "the refusal names what is in the target"
assert_grep "^hint: .*--overwrite" "$CR_ERR" "the hint names --overwrite"
assert_eq "$(cat "$R/index.html")" edited "the edited file is left alone"
expect_exit 8 cr restore web:latest --target out --json
python3 - "$CR_OUT" <<'PY' || fail "refusal --json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["refused"] is True and r["existing"] == ["tmp"] and r["existing_count"] == 1, r
PY
printf 'x\n' > afile
expect_exit 8 cr restore web:latest --target afile
assert_grep "already exists and is not a folder" "$CR_ERR" "a file as target is refused"
pass "a target that holds data is refused, exit 8, nothing written"

# Dry run: nothing written, what would be written said.
expect_exit 0 cr restore web:latest --target out --dry-run
assert_grep "^dry run: restoring snapshot [0-9a-f]{8} to out would write 2 files, [0-9]+ directories, 0 other items, 21 B; nothing was written" \
    "$CR_OUT" "dry run summary"
assert_grep "^out already holds 1 entry: a restore would be refused \(exit 8\) without --overwrite" \
    "$CR_OUT" "dry run says the target would be refused"
assert_eq "$(cat "$R/index.html")" edited "the dry run wrote nothing"
expect_exit 0 cr restore web:latest --target fresh --dry-run --json
python3 - "$CR_OUT" <<'PY' || fail "dry run --json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["dry_run"] is True and r["files"] == 2 and r["bytes"] == 21, r
PY
[ ! -e fresh ] || fail "the dry run created the target"
pass "--dry-run writes nothing and says how much would be written"

# --overwrite: the snapshot's files replace those in the way, other files stay,
# and folders above the backed-up path keep their own metadata.
touch -d '2001-01-01 00:00:00' "out$P"
chmod 700 "out$P"
before=$(stat -c '%Y %a' "out$P")
expect_exit 0 cr restore web:latest --target out --overwrite
assert_eq "$(cat "$R/index.html")" '<h1>home</h1>' "--overwrite restores the snapshot's file"
assert_eq "$(cat "$R/extra.txt")" mine "--overwrite keeps other files"
assert_eq "$(stat -c '%Y %a' "out$P")" "$before" "a folder above the backed-up path kept its metadata"
assert_eq "$(stat -c %Y "$R/css")" "$(stat -c %Y site/css)" "a backed-up folder gets its metadata"
pass "--overwrite restores into a folder that holds data, folders above the data untouched"
