# Messages that used to mislead: each situation is forged and must get the
# right message and hint.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/v
expect_exit 0 cr init --kdf interactive
mkdir -p src/sub && printf 'a\n' > src/sub/f && printf 'b\n' > src/g
expect_exit 0 cr backup --source s src
cp v/config config.orig

# A changed vault id in config is not a wrong passphrase (no "Caps Lock").
python3 - v/config <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["id"] = "ab" * 32
open(sys.argv[1], "w").write(json.dumps(c, indent=2) + "\n")
PY
expect_exit 4 cr snapshots
assert_grep "config was changed: it names the vault id abababababab\.\.\., but the keys of this vault were made for" \
    "$CR_ERR" "tampered id named as such"
assert_grep "the passphrase is right" "$CR_ERR" "says the passphrase is right"
grep -q "Caps Lock" "$CR_ERR" && fail "a tampered config id is reported as a wrong passphrase"
grep -q "verify --read-data" "$CR_ERR" && fail "the hint sends to verify, which fails the same way"
assert_grep "^hint: .*not even 'cleanroom verify'.*another copy of the vault" "$CR_ERR" "hint"
# ... while a wrong passphrase still is one.
expect_exit 3 env CLEANROOM_PASSWORD=wrong "$CLEANROOM" snapshots
assert_grep "Caps Lock" "$CR_ERR" "wrong passphrase hint kept"
cp config.orig v/config
pass "tampered config id"

# A damaged config or key file: the hint does not send to 'verify --read-data'.
printf 'garbage\n' > v/config
expect_exit 4 cr snapshots
grep -q "verify --read-data" "$CR_ERR" && fail "damaged config: hint sends to verify"
assert_grep "^hint: .*put back the named file from another copy of the vault" "$CR_ERR" "config hint"
expect_exit 4 cr verify
cp config.orig v/config
key=$(ls v/keys)
cp "v/keys/$key" key.orig
chmod u+w "v/keys/$key" && printf 'x' >> "v/keys/$key"
expect_exit 4 cr snapshots
assert_grep "key file(s)? .*damaged" "$CR_ERR" "damaged key named"
grep -q "verify --read-data" "$CR_ERR" && fail "damaged key: hint sends to verify"
cp key.orig "v/keys/$key"
expect_exit 0 cr snapshots
pass "damaged config or key file"

# An unreadable lock file with a future time is stale, not a lockout forever.
lock=v/locks/0123456789abcdef0123456789abcdef
printf 'garbage\n' > "$lock"
expect_exit 6 cr backup --source s src
assert_grep "less than an hour old" "$CR_ERR" "a fresh unreadable lock still counts"
touch -d '+2 years' "$lock"
expect_exit 0 cr backup --source s src
[ -e "$lock" ] && fail "the lock from the future is still there"
pass "lock with a future mtime"

# Something not a folder in the way (restoring over a folder that holds data, --overwrite): the hint
# does not send to 'verify'.
P=$(pwd -P)
mkdir -p "t$P/src" && printf 'junk\n' > "t$P/src/sub"
expect_exit 5 cr restore latest --target t --overwrite
assert_grep "something that is not a folder is in the way" "$CR_ERR" "reason given"
grep "^hint:" "$CR_ERR" | grep -q "verify" && fail "in the way: hint sends to verify"
assert_grep "^hint: no vault data was found damaged: .*clear their way, or restore into an empty folder" \
    "$CR_ERR" "in-the-way hint"
pass "not a folder in the way"
