# A damaged pack: verify --read-data exits 4 and names the file; restore restores the rest, exit 5,
# and the damaged file never keeps the look of a good copy (name, mode, time).
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr init --kdf interactive
mkdir src
head -c 60000 /dev/urandom > src/victim
chmod 644 src/victim
touch -d '2001-02-03 04:05:06' src/victim
expect_exit 0 cr backup --source s src
head -c 60000 /dev/urandom > src/other
expect_exit 0 cr backup --source s src
expect_exit 0 cr verify --read-data
assert_grep "^vault OK: " "$CR_OUT" "intact vault"

# The first pack of at least 50 kB holds the data of "victim" (written first).
pack=$(find "$CLEANROOM_REPO/data" -type f -size +50k -printf '%T@ %p\n' | sort -n | head -1 | cut -d' ' -f2)
[ -n "$pack" ] || fail "no data pack found"
chmod u+w "$pack"
printf '\001\002\003\004' | dd of="$pack" bs=1 seek=30000 conv=notrunc 2>/dev/null

expect_exit 4 cr verify --read-data
assert_grep "^damaged pack $(basename "$pack"): " "$CR_OUT" "damaged pack named"
assert_grep "^  affects s snapshot [0-9a-f]{8}: $P/src/victim$" "$CR_OUT" "affected file named"
grep -q "src/other" "$CR_OUT" && fail "an intact file reported as affected"
assert_grep "^vault DAMAGED: " "$CR_OUT" "damage summary"
expect_exit 4 cr verify --read-data --json
python3 - "$CR_OUT" <<'PY' || fail "verify --json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] is False and len(r["problems"]) >= 1 and len(r["affected"]) == 2, r
PY
pass "verify finds the damage"

expect_exit 5 cr restore latest --target "$SCRATCH/out"
assert_grep "^warning: $P/src/victim: " "$CR_ERR" "warning for the lost file"
assert_grep "^NOT RESTORED: 1 item" "$CR_OUT" "lost list"
assert_grep "^  $P/src/victim: " "$CR_OUT" "lost file listed"
cmp src/other "$SCRATCH/out$P/src/other" || fail "intact file restored"
pass "restore is partial, exit 5"

R=$SCRATCH/out$P/src
[ ! -e "$R/victim" ] || fail "the damaged file kept its own name: $(ls -l --time-style=+%F "$R/victim")"
[ -f "$R/victim.cleanroom-damaged" ] || fail "what could be written is not set aside as victim.cleanroom-damaged"
assert_eq "$(stat -c %a "$R/victim.cleanroom-damaged")" 600 "the damaged copy is not given the file's mode"
[ "$(stat -c %Y "$R/victim.cleanroom-damaged")" != "$(stat -c %Y src/victim)" ] ||
    fail "the damaged copy kept the file's original time"
assert_grep "^  $P/src/victim: lost: .*; what could be written is kept as victim.cleanroom-damaged" \
    "$CR_OUT" "the list says where the damaged copy is"
pass "a damaged file is set aside as NAME.cleanroom-damaged, never under its own name"
