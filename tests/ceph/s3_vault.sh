#!/usr/bin/env bash
# A vault on the real Ceph RGW (tests/ceph.sh; CR_S3_ENDPOINT and the keys in
# the environment): init --object-lock, backup, restore identical, verify;
# the attacker with the vault's own S3 keys cannot delete a pack, the vault
# still verifies after the attempt; what their plain DELETEs hide comes back
# with verify --unhide; a key cannot be removed before its lock's date; --object-lock where it cannot hold is
# refused (local folder, existing bucket without Object Lock); prune after forget
# deletes nothing still locked and extends the locks of what is in use; the vault
# server with its storage on S3: backup and restore through HTTPS.
. "${CR_TESTLIB:?}"
set -u
if [ -z "${CR_S3_ENDPOINT:-}" ]; then
    echo "skipped: no S3 service (tests/ceph.sh start sets CR_S3_ENDPOINT)"
    exit 77
fi

B=vault-$(date +%s)-$$
R=s3:$CR_S3_ENDPOINT/$B/site1

mkdir -p src/etc src/home/ward
printf 'patient record %s\n' $(seq 1 2000) >src/home/ward/records.txt
head -c 300000 /dev/urandom >src/home/ward/scan.bin
echo 'hostname pacs' >src/etc/hostname

expect_exit 0 cr init --kdf interactive --object-lock 2d --repo "$R"
assert_grep "locked for 2 days" "$CR_OUT" "init says how long objects are locked"
pass "init --object-lock on S3"

expect_exit 0 cr backup --repo "$R" --source ward src
expect_exit 0 cr restore --repo "$R" --target restored latest
diff -r restored/"$SCRATCH"/src src || fail "restored contents differ"
pass "backup and restore identical through S3"
expect_exit 0 cr verify --repo "$R" --read-data
pass "verify --read-data"

# The attacker: production root with the vault's S3 keys, any S3 tool.
s3() {
    curl -s --aws-sigv4 "aws:amz:default:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}
s3 "$CR_S3_ENDPOINT/$B?list-type=2&prefix=site1%2Fdata%2F" >listing.xml
pack=$(grep -o '<Key>site1/data/[0-9a-f][0-9a-f]/[0-9a-f]*</Key>' listing.xml | head -1 |
    sed 's/<[^>]*>//g')
[ -n "$pack" ] || fail "no pack found in the bucket"
s3 -I "$CR_S3_ENDPOINT/$B/$pack" >head.txt
assert_grep "x-amz-object-lock-mode: COMPLIANCE" head.txt "packs carry COMPLIANCE retention"
enc=$(printf %s "$pack" | sed 's|/|%2F|g')
vid=$(s3 "$CR_S3_ENDPOINT/$B?prefix=$enc&versions=" | grep -o '<VersionId>[^<]*' | head -1 |
    cut -d'>' -f2)
[ -n "$vid" ] || fail "no version of $pack"
code=$(s3 -o /dev/null -w '%{http_code}' -X DELETE "$CR_S3_ENDPOINT/$B/$pack?versionId=$vid")
assert_eq "$code" 403 "the attacker's DELETE of a locked pack version is refused"
code=$(s3 -o /dev/null -w '%{http_code}' -X DELETE -H "x-amz-bypass-governance-retention: true" \
    "$CR_S3_ENDPOINT/$B/$pack?versionId=$vid")
assert_eq "$code" 403 "with the governance bypass too"
expect_exit 0 cr verify --repo "$R" --read-data
pass "the vault still verifies after the attack"

# The attacker deletes every object of the vault with plain S3 DELETEs (what
# `aws s3 rm --recursive` does): on the lock bucket that only hides them.
s3 "$CR_S3_ENDPOINT/$B?list-type=2&prefix=site1%2F" >all.xml
n=0
for key in $(grep -o '<Key>[^<]*</Key>' all.xml | sed 's/<[^>]*>//g'); do
    code=$(s3 -o /dev/null -w '%{http_code}' -X DELETE "$CR_S3_ENDPOINT/$B/$key")
    [ "$code" = 204 ] || fail "plain DELETE of $key answered $code"
    n=$((n + 1))
done
[ "$n" -gt 5 ] || fail "only $n objects in the vault"
expect_exit 7 cr snapshots --repo "$R"
assert_grep "verify --unhide" "$CR_ERR" "the missing S3 vault hints at --unhide"
expect_exit 0 cr verify --unhide --read-data --repo "$R"
assert_grep "$n object\(s\) of the vault had been hidden" "$CR_ERR" "--unhide says how many came back"
assert_grep "vault OK" "$CR_OUT" "the vault verifies after --unhide"
expect_exit 0 cr restore --repo "$R" --target restored2 latest
diff -r restored2/"$SCRATCH"/src src || fail "restored contents differ after --unhide"
pass "objects hidden with plain S3 DELETEs come back with verify --unhide"

# A key file is locked too: removing a key is refused until its date, by name.
CLEANROOM_NEW_PASSWORD='a second passphrase, kept elsewhere' \
    expect_exit 0 cr key add --kdf interactive --repo "$R"
second=$(grep -o '[0-9a-f]\{64\}' "$CR_OUT" | head -1)
[ -n "$second" ] || fail "key add printed no id"
expect_exit 1 cr key remove --repo "$R" "$second"
assert_grep "locked until [0-9]{4}-" "$CR_ERR" "key remove names the date of the lock"
expect_exit 0 cr key list --repo "$R"
assert_grep "${second:0:8}" "$CR_OUT" "the key is still there"
pass "key remove refused under retention"

expect_exit 2 cr init --kdf interactive --object-lock 30d --repo "$SCRATCH/local"
assert_grep "S3" "$CR_ERR" "--object-lock on a local folder names S3"
expect_exit 2 cr init --kdf interactive --object-lock 30x --repo "s3:$CR_S3_ENDPOINT/$B-x"
# A bucket made without Object Lock cannot get it later.
expect_exit 0 cr init --kdf interactive --repo "s3:$CR_S3_ENDPOINT/$B-plain/a"
expect_exit 2 cr init --kdf interactive --object-lock 1d --repo "s3:$CR_S3_ENDPOINT/$B-plain/b"
assert_grep "Object Lock" "$CR_ERR" "the refusal says why"
# The prefix of an existing vault: refused, nothing changed.
expect_exit 1 cr init --kdf interactive --repo "$R"
assert_grep "not empty" "$CR_ERR" "init on a used prefix"
pass "refusals"

# This machine's clock two hours off: S3 refuses the signatures; the message says why.
# (faketime preloads a library: not with a sanitizer build, whose runtime must come first)
if command -v faketime >/dev/null && ! ldd "$CLEANROOM" 2>/dev/null | grep -q libasan; then
    expect_exit 1 faketime -f '-2h' "$CLEANROOM" snapshots --repo "$R"
    assert_grep "clock" "$CR_ERR" "a wrong clock is named"
    pass "wrong clock"
fi

# Missing keys: a usage error naming the variables.
AWS_ACCESS_KEY_ID='' expect_exit 2 cr snapshots --repo "$R"
assert_grep "AWS_ACCESS_KEY_ID" "$CR_ERR" "missing keys are named"
pass "missing keys"

# ------------------------------------------------------------ prune under Object Lock
# A lock cannot be waited out here (one day at least, tests/unit/test_prune_retain.c
# feeds made-up dates); what a real bucket can show: prune right after forget tries
# to delete nothing still locked, says until when, and the vault verifies; the
# locks of what is in use move forward.
P=s3:$CR_S3_ENDPOINT/$B-p/site
mkdir -p pa pb
head -c 200000 /dev/urandom >pa/old.bin
head -c 200000 /dev/urandom >pb/new.bin
expect_exit 0 cr init --kdf interactive --object-lock 2d --repo "$P"
expect_exit 0 cr backup --repo "$P" --source old pa
old=$(sed -n 's/^snapshot \([0-9a-f]*\) saved$/\1/p' "$CR_OUT")
[ -n "$old" ] || fail "backup printed no snapshot id"
expect_exit 0 cr backup --repo "$P" --source new pb
expect_exit 0 cr forget --repo "$P" "$old"
s3 "$CR_S3_ENDPOINT/$B-p?list-type=2&prefix=site%2F" >before.xml
nobj=$(grep -o '<Key>' before.xml | wc -l)
expect_exit 0 cr prune --repo "$P" --json
assert_grep '"snapshots_locked": 1' "$CR_OUT" "the forgotten snapshot is counted as locked"
assert_grep '"snapshots_removed": 0' "$CR_OUT" "and not removed"
assert_grep '"locked_until": "20' "$CR_OUT" "the lock's end is given"
expect_exit 0 cr prune --repo "$P"
assert_grep "kept for now, under Object Lock until 20[0-9-]*T" "$CR_OUT" "prune says why it keeps them"
s3 "$CR_S3_ENDPOINT/$B-p?list-type=2&prefix=site%2F" >after.xml
assert_eq "$(grep -o '<Key>' after.xml | wc -l)" "$nobj" "nothing was removed from the bucket"
expect_exit 0 cr verify --repo "$P" --read-data
pass "prune after forget on a locked vault removes nothing locked, says why, the vault verifies"

# Locks of what is in use: opened with a longer period (?lock=10d), the objects'
# 2 days left are under half of it: prune extends them to 10 days.
s3 "$CR_S3_ENDPOINT/$B-p?list-type=2&prefix=site%2Fdata%2F" >packs.xml
pack=$(grep -o '<Key>site/data/[0-9a-f][0-9a-f]/[0-9a-f]*</Key>' packs.xml | head -1 | sed 's/<[^>]*>//g')
until_of() { s3 -I "$CR_S3_ENDPOINT/$B-p/$1" | tr -d '\r' | sed -n 's/^x-amz-object-lock-retain-until-date: *//Ip'; }
u0=$(until_of "$pack"); c0=$(until_of site/config)
[ -n "$u0" ] && [ -n "$c0" ] || fail "no retain-until date on $pack or config"
expect_exit 2 cr prune --repo "$P" --dry-run --extend-locks-only
expect_exit 0 cr prune --repo "$P?lock=10d" --extend-locks-only
assert_grep "extended the Object Lock of [0-9]* object" "$CR_OUT" "prune says how many locks it extended"
u1=$(until_of "$pack"); c1=$(until_of site/config)
[[ "$u1" > "$u0" ]] || fail "the pack's lock did not move: $u0 -> $u1"
[[ "$c1" > "$c0" ]] || fail "the config's lock did not move: $c0 -> $c1"
[ "$(date -d "$u1" +%s)" -gt $(($(date +%s) + 9 * 86400)) ] || fail "the pack is not kept 10 days: $u1"
expect_exit 0 cr prune --repo "$P?lock=10d"
grep -q "extended the Object Lock" "$CR_OUT" && fail "extended locks with more than half the period left"
pass "prune extends the locks of the objects in use"

# ------------------------------------------------------------ the vault server on S3
# `cleanroom server` whose "storage" is an S3 location with Object Lock: a backup
# and a restore through HTTPS with a backup token, identical.
SV=s3:$CR_S3_ENDPOINT/$B-srv/site
expect_exit 0 cr init --kdf interactive --object-lock 2d --repo "$SV"
expect_exit 0 cr server init srv --kdf interactive
FP=$(sed -n 's/^fingerprint: *//p' "$CR_OUT")
[[ $FP == sha256//* ]] || fail "server init printed no fingerprint"
python3 - srv/server/server.json "$SV" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["storage"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"))
PY
"$CLEANROOM" server token add --config srv/server/server.json --role backup --name ward \
    --source ward >backup.tok 2>/dev/null || fail "token add"
"$CLEANROOM" server run --config srv/server/server.json --listen 127.0.0.1:0 >server.out 2>server.log &
SRV_PID=$!
on_exit 'kill "$SRV_PID" 2>/dev/null'
for _ in $(seq 1 100); do grep -q "^listening on port" server.out 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/^listening on port //p' server.out)
[ -n "$PORT" ] || fail "the server on S3 did not start: $(cat server.log)"
CLEANROOM_SERVER_FINGERPRINT=$FP CLEANROOM_TOKEN_FILE=$SCRATCH/backup.tok \
    expect_exit 0 cr backup --repo "https://127.0.0.1:$PORT/" --source ward src
CLEANROOM_SERVER_FINGERPRINT=$FP CLEANROOM_TOKEN_FILE=$SCRATCH/backup.tok \
    expect_exit 0 cr restore --repo "https://127.0.0.1:$PORT/" --target restored3 latest
diff -r restored3/"$SCRATCH"/src src || fail "restored contents differ through the server on S3"
s3 "$CR_S3_ENDPOINT/$B-srv?list-type=2&prefix=site%2Fsnapshots%2F" >srvsnaps.xml
grep -q '<Key>site/snapshots/[0-9a-f]*</Key>' srvsnaps.xml || fail "the snapshot is not in the bucket"
kill "$SRV_PID"
pass "cleanroom server with S3 storage: backup and restore through HTTPS, identical"
