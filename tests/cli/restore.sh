# restore round trip: contents and metadata identical; --include; restore summary.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr init --kdf interactive
mkdir -p src/dir/sub src/empty
printf 'text\n' > src/dir/a.txt
head -c 300000 /dev/urandom > src/dir/sub/random.bin
head -c 200000 /dev/zero > src/zeros.bin
truncate -s 5M src/sparse.img
printf 'end' >> src/sparse.img
ln -s dir/a.txt src/rel-link
ln -s /nonexistent/target src/dangling
mkfifo src/fifo
chmod 751 src/dir
chmod 4755 src/dir/a.txt
chmod 600 src/zeros.bin
touch -d '2001-02-03 04:05:06.123456789' src/dir/sub/random.bin
touch -h -d '2002-01-01 00:00:00' src/rel-link
touch -d '2003-03-03 03:03:03' src/dir/sub src/empty

expect_exit 0 cr backup --source host src
expect_exit 0 cr restore host:latest --target "$SCRATCH/out"
assert_grep "^restored snapshot [0-9a-f]{8} to .*: 4 files, [0-9]+ directories, 3 other items" "$CR_OUT" \
    "restore summary"
R=$SCRATCH/out$P/src
[ -d "$R" ] || fail "restored tree not at target + snapshot path"
diff -r --no-dereference -x fifo src "$R" || fail "restored contents differ"

meta() {
    (cd "$1" && find . -printf '%p %y %m %U %G %s %T@ %l\n' | sort)
}
meta src > want
meta "$R" > got
diff -u want got || fail "restored metadata differs (type mode uid gid size mtime target)"
pass "full restore identical"

expect_exit 0 cr restore latest --target "$SCRATCH/part" --include "$P/src/dir/sub"
[ -f "$SCRATCH/part$P/src/dir/sub/random.bin" ] || fail "--include restored the path"
[ ! -e "$SCRATCH/part$P/src/zeros.bin" ] || fail "--include restored only the path"
cmp src/dir/sub/random.bin "$SCRATCH/part$P/src/dir/sub/random.bin" || fail "--include content"
pass "restore --include"

expect_exit 0 cr restore latest --target "$SCRATCH/j" --json
python3 - "$CR_OUT" <<'PY' || fail "restore --json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["files"] == 4 and r["failed"] == 0 and r["lost"] == [], r
assert r["bytes"] == 5 + 300000 + 200000 + 5 * 1024 * 1024 + 3, r["bytes"]
PY
expect_exit 2 cr restore latest
assert_grep "target" "$CR_ERR" "missing --target is named"
expect_exit 7 cr restore 0000 --target "$SCRATCH/x"
[ ! -e "$SCRATCH/x" ] || fail "nothing created for an unknown snapshot"
pass "restore errors"
