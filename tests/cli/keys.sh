# key add / list / remove.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
expect_exit 0 cr key list --json
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$CR_OUT")" 1 \
    "one key after init"

expect_exit 0 env CLEANROOM_NEW_PASSWORD='second passphrase' "$CLEANROOM" key add --kdf interactive
assert_grep "^added key [0-9a-f]{64}$" "$CR_OUT" "key add prints the id"
new=$(sed -n 's/^added key //p' "$CR_OUT")
expect_exit 0 cr key list
assert_eq "$(grep -c '^\*' "$CR_OUT")" 1 "one current key"
assert_grep "^  ${new:0:8}  " "$CR_OUT" "new key listed, not current"
expect_exit 0 env CLEANROOM_PASSWORD='second passphrase' "$CLEANROOM" key list --json
python3 - "$CR_OUT" "$new" <<'PY' || fail "key list --json"
import json, sys
keys = json.load(open(sys.argv[1]))
assert len(keys) == 2
cur = [k for k in keys if k["current"]]
assert len(cur) == 1 and cur[0]["id"] == sys.argv[2], keys
PY
pass "key add and list"

expect_exit 2 env CLEANROOM_PASSWORD='second passphrase' "$CLEANROOM" key remove "$new"
assert_grep "opened" "$CR_ERR" "refuses to remove the current key"
old=$(cr key list --json | python3 -c 'import json,sys; print([k["id"] for k in json.load(sys.stdin) if k["current"]][0])')
expect_exit 0 env CLEANROOM_PASSWORD='second passphrase' "$CLEANROOM" key remove "${old:0:8}"
assert_eq "$(cat "$CR_OUT")" "removed key $old" "remove by prefix names the full id"
expect_exit 3 cr key list
pass "the removed passphrase no longer opens the vault"
expect_exit 0 env CLEANROOM_PASSWORD='second passphrase' "$CLEANROOM" key list
expect_exit 7 env CLEANROOM_PASSWORD='second passphrase' "$CLEANROOM" key remove 0f0f0f0f
expect_exit 2 cr key
expect_exit 2 cr key frob
expect_exit 2 cr key remove
pass "key remove"
