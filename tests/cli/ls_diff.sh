# ls (plain, long, JSON, PATH) and diff (exact lines and JSON).
set -u
. "${CR_TESTLIB:?}"

V=$SCRATCH/vault
P=$(pwd -P)
export CLEANROOM_REPO=$V
expect_exit 0 cr init --kdf interactive
mkdir -p src/d/e
printf 'one\n' > src/keep.txt
printf 'twotwo\n' > src/change.txt
printf 'gone\n' > src/d/gone.txt
ln -s keep.txt src/sym
expect_exit 0 cr backup --source s --time 2026-02-01 src

expect_exit 0 cr ls latest
cat > want <<EOT
$P/src
$P/src/change.txt
$P/src/d
$P/src/d/e
$P/src/d/gone.txt
$P/src/keep.txt
$P/src/sym
EOT
grep -F "$P/src" "$CR_OUT" > got
diff -u want got || fail "recursive listing"
pass "ls"

expect_exit 0 cr ls latest "$P/src/d"
printf '%s\n' "$P/src/d/e" "$P/src/d/gone.txt" > want
diff -u want "$CR_OUT" || fail "ls PATH lists the children"
expect_exit 0 cr ls latest "$P/src" -r
assert_eq "$(wc -l < "$CR_OUT")" 6 "ls PATH -r"
expect_exit 0 cr ls latest "$P/src/sym" -l
assert_grep "^lrwxrwxrwx .* $P/src/sym -> keep.txt$" "$CR_OUT" "long symlink line"
expect_exit 0 cr ls latest "$P/src/keep.txt" --long
assert_grep "^-[rw-]{9} +[^ ]+ +[^ ]+ +4 [0-9T:-]+Z $P/src/keep.txt$" "$CR_OUT" "long file line"
expect_exit 7 cr ls latest "$P/src/nope"
assert_grep "no $P/src/nope in snapshot" "$CR_ERR" "missing path message"

expect_exit 0 cr ls latest "$P/src" --json
python3 - "$CR_OUT" "$P" <<'PY' || fail "ls --json"
import json, os, sys
items = {i["path"]: i for i in json.load(open(sys.argv[1]))}
root = sys.argv[2] + "/src"
assert set(items) == {root + "/" + n for n in ["change.txt", "d", "keep.txt", "sym"]}, items
k = items[root + "/keep.txt"]
st = os.lstat(root + "/keep.txt")
assert k["type"] == "file" and k["size"] == 4 and k["mode"] == st.st_mode & 0o7777, k
assert k["uid"] == st.st_uid and k["gid"] == st.st_gid
assert k["mtime"].endswith("Z")
assert items[root + "/d"]["type"] == "dir"
assert items[root + "/sym"]["type"] == "symlink" and items[root + "/sym"]["target"] == "keep.txt"
PY
pass "ls --json"

# Change things and compare.
printf 'three three three\n' > src/change.txt
rm src/d/gone.txt
printf 'hello\n' > src/d/e/new.txt
chmod 600 src/keep.txt
expect_exit 0 cr backup --source s --time 2026-02-02 src
first=$(cr snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
expect_exit 0 cr diff "$first" latest
cat > want <<EOT
M $P/src/change.txt (7 B -> 18 B)
- $P/src/d/gone.txt (5 B)
+ $P/src/d/e/new.txt (6 B)
M $P/src/keep.txt (4 B -> 4 B)
EOT
# Directories whose mtime changed may be reported as modified too: check files only.
grep -E "^[-+M] $P/src/(change.txt|d/gone.txt|d/e/new.txt|keep.txt) " "$CR_OUT" | sort > got
sort want > want.s
diff -u want.s got || fail "diff lines"
assert_grep "^1 added, 1 removed, [0-9]+ modified$" "$CR_OUT" "diff summary"
pass "diff text"

expect_exit 0 cr diff "$first" latest --json
python3 - "$CR_OUT" "$P" <<'PY' || fail "diff --json"
import json, sys
d = json.load(open(sys.argv[1]))
root = sys.argv[2] + "/src"
assert d["added"] == [{"path": root + "/d/e/new.txt", "type": "file", "size": 6}], d["added"]
assert d["removed"] == [{"path": root + "/d/gone.txt", "type": "file", "size": 5}], d["removed"]
m = {x["path"]: x for x in d["modified"]}
assert m[root + "/change.txt"] == {"path": root + "/change.txt", "type": "file", "old_size": 7,
                                   "new_size": 18}, m
assert root + "/keep.txt" in m
PY
expect_exit 0 cr diff latest latest
assert_eq "$(cat "$CR_OUT")" "0 added, 0 removed, 0 modified" "same snapshot: no difference"
pass "diff json"
