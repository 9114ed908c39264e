# init, two backups, snapshots (text and JSON), snapshot name resolution.
set -u
. "${CR_TESTLIB:?}"

V=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr --repo "$V" init --kdf interactive
assert_grep '^created vault [0-9a-f]{64} at ' "$CR_OUT" "init prints the vault id"
pass "init"

mkdir -p src/sub
printf 'alpha\n' > src/a.txt
printf 'bravo bravo\n' > src/sub/b.txt
head -c 100000 /dev/urandom > src/sub/big.bin
ln -s a.txt src/link
expect_exit 0 cr --repo "$V" backup --source web --tag first --time 2026-01-02T03:04:05Z src
assert_grep '^snapshot [0-9a-f]{8} saved$' "$CR_OUT" "backup result line"
id1=$(sed -n 's/^snapshot \([0-9a-f]\{8\}\) saved$/\1/p' "$CR_OUT")
pass "first backup $id1"

printf 'alpha changed\n' > src/a.txt
# Global options after the command, and --json of backup.
expect_exit 0 cr backup --source db --tag x --tag y src --repo "$V" --json
python3 - "$CR_OUT" <<'PY' || fail "backup --json object"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["source"] == "db" and s["tags"] == ["x", "y"], s
assert len(s["id"]) == 64 and s["short_id"] == s["id"][:8], s
PY
expect_exit 0 cr --repo "$V" snapshots --json
python3 - "$CR_OUT" "$id1" "$P" <<'PY' || fail "snapshots --json fields and counts"
import json, sys
snaps = json.load(open(sys.argv[1]))
id1, root = sys.argv[2], sys.argv[3]
assert len(snaps) == 2, len(snaps)
fields = ["id", "short_id", "source", "time", "hostname", "username", "paths", "tags", "files",
          "dirs", "bytes", "bytes_new", "files_new", "files_changed", "files_unchanged", "errors",
          "tree", "parent"]
for s in snaps:
    for f in fields:
        assert f in s, "missing " + f
    assert len(s["id"]) == 64 and s["short_id"] == s["id"][:8]
    assert s["files"] == 3, s["files"]            # a.txt, b.txt, big.bin
    assert s["errors"] == 0
    assert s["paths"] == [root + "/src"], s["paths"]
a, b = snaps
assert a["short_id"] == id1 and a["source"] == "web" and a["tags"] == ["first"]
assert a["time"] == "2026-01-02T03:04:05Z", a["time"]
assert a["bytes"] == 6 + 12 + 100000, a["bytes"]
assert a["files_new"] == 3 and a["parent"] is None
assert b["source"] == "db" and b["tags"] == ["x", "y"]
assert b["bytes"] == 14 + 12 + 100000, b["bytes"]
PY
pass "snapshots --json"

expect_exit 0 cr --repo "$V" snapshots
assert_eq "$(head -1 "$CR_OUT" | tr -s ' ')" "ID TIME SOURCE HOST FILES SIZE TAGS" "table header"
assert_eq "$(wc -l < "$CR_OUT")" 3 "one line per snapshot"
assert_grep "^$id1  2026-01-02T03:04:05Z  web .* 3 +98 KiB  first$" "$CR_OUT" "first row"
expect_exit 0 cr --repo "$V" snapshots --source web
assert_eq "$(wc -l < "$CR_OUT")" 2 "--source filters"
pass "snapshots table"

# Names: SOURCE:latest, latest, a 4-digit prefix, a full id.
expect_exit 0 cr --repo "$V" ls web:latest "$P/src/a.txt" --json
assert_grep '"size": ?6' "$CR_OUT" "web:latest is the first snapshot"
expect_exit 0 cr --repo "$V" ls latest "$P/src/a.txt" --json
assert_grep '"size": ?14' "$CR_OUT" "latest is the newest snapshot"
expect_exit 0 cr --repo "$V" ls "${id1:0:4}" "$P/src/a.txt" --json
assert_grep '"size": ?6' "$CR_OUT" "4-digit prefix"
full=$(cr --repo "$V" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
expect_exit 0 cr --repo "$V" ls "$full" "$P/src/a.txt" --json
assert_grep '"size": ?6' "$CR_OUT" "full id"
expect_exit 7 cr --repo "$V" ls nosuch:latest
expect_exit 7 cr --repo "$V" ls ffffffff
assert_grep "no snapshot 'ffffffff'" "$CR_ERR" "message names the snapshot"
pass "snapshot names"

# An empty vault lists nothing and exits 0.
expect_exit 0 cr --repo "$SCRATCH/v2" init --kdf interactive
expect_exit 0 cr --repo "$SCRATCH/v2" snapshots --json
assert_eq "$(tr -d ' \n' < "$CR_OUT")" "[]" "empty JSON list"
