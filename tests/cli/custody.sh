# Chain of custody of a local vault, tried as an attacker with write access
# to the vault folder: a snapshot, a hunt record or a pack removed behind the
# vault's back is named by 'verify' (exit 4), and the restore gate refuses a
# compromised snapshot whose hunt record was removed (exit 8) instead of
# restoring it as "not hunted". Leftovers of interrupted writes are notices.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)

test_rules rules

expect_exit 0 cr init --kdf interactive
mkdir -p sys/var/www/html sys/srv/data
printf '<?php echo "Hello"; ?>\n' > sys/var/www/html/index.php
for i in $(seq 1 40); do printf 'record %d\n' "$i" > "sys/srv/data/r$i.csv"; done
hunt_files() { ls "$CLEANROOM_REPO/hunt" 2>/dev/null | sort; }

expect_exit 0 cr backup --source web --time 2026-11-01 sys
expect_exit 0 cr hunt
hunt_files > h1
printf "<?php eval(\$_POST['x']); ?>\n" > sys/var/www/html/up.php
expect_exit 0 cr backup --source web --time 2026-11-02 sys
expect_exit 0 cr hunt
hunt_files > h2
rm sys/var/www/html/up.php
printf 'record 41\n' > sys/srv/data/r41.csv
expect_exit 0 cr backup --source web --time 2026-11-03 sys
expect_exit 0 cr hunt
read -r D1 D2 D3 <<<"$(cr snapshots --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))')"

expect_exit 0 cr verify --read-data
grep -q '^notice:' "$CR_OUT" && fail "a clean vault has notices: $(cat "$CR_OUT")"
pass "a clean vault verifies without notices"

# The hunt record of day 2 (compromised): the new hunt file that findings needs.
REC2=
for f in $(comm -13 h1 h2); do
    rm -rf v && cp -a "$CLEANROOM_REPO" v
    rm "v/hunt/$f"
    if ! CLEANROOM_REPO=$P/v cr findings --snapshot "${D2:0:8}" 2>&1 | grep -q test_php_webshell; then
        REC2=$f
    fi
done
[ -n "$REC2" ] || fail "could not tell the hunt record of day 2 from the facts file"

attack() { rm -rf "$P/atk" && cp -a "$CLEANROOM_REPO" "$P/atk"; }

# 1. A snapshot in the middle of the chain removed.
attack
rm "atk/snapshots/$D2"
CLEANROOM_REPO=$P/atk expect_exit 4 cr verify --read-data
assert_grep "^damaged snapshot $D2: missing: snapshot ${D3:0:8} of web \(2026-11-03T00:00:00Z\) names it as the restore point before it" \
    "$CR_OUT" "removed snapshot named by its successor"
pass "a removed snapshot is named (exit 4)"

# 2. Every snapshot removed, the hunt records left: each is named by its record.
attack
rm atk/snapshots/*
CLEANROOM_REPO=$P/atk expect_exit 4 cr verify
for d in "$D1" "$D2" "$D3"; do
    assert_grep "^damaged snapshot $d: missing: its hunt record \(restore point of web" "$CR_OUT" \
        "snapshot $d named by its hunt record"
done
pass "rm snapshots/* is noticed (exit 4)"

# 3. The hunt record of the compromised snapshot removed: verify names it, the
#    restore gate refuses (before: "not hunted", restored with exit 0).
attack
rm "atk/hunt/$REC2"
CLEANROOM_REPO=$P/atk expect_exit 4 cr verify
assert_grep "^damaged hunt $D2: the hunt record of snapshot ${D2:0:8} is missing: the record of snapshot ${D3:0:8}" \
    "$CR_OUT" "removed hunt record named"
CLEANROOM_REPO=$P/atk expect_exit 8 cr restore "${D2:0:8}" --target "$P/out"
[ ! -e "$P/out" ] || fail "a refused restore wrote the target"
assert_grep "^cleanroom: error: refused: the hunt results of restore point ${D2:0:8} \(web, 2026-11-02T00:00:00Z\) are gone: the hunt record of snapshot ${D2:0:8} is missing" \
    "$CR_ERR" "gate refusal"
assert_grep "^hint: .*cleanroom hunt --source web" "$CR_ERR" "hint to hunt again"
CLEANROOM_REPO=$P/atk expect_exit 0 cr restore "${D2:0:8}" --target "$P/out" --accept-risk
assert_grep "RESTORING A RESTORE POINT WHOSE HUNT RESULTS ARE GONE" "$CR_ERR" "accept-risk warning"
rm -rf "$P/out"
# Hunting again finds the web shell again: the gate refuses it as compromised.
CLEANROOM_REPO=$P/atk expect_exit 0 cr hunt
CLEANROOM_REPO=$P/atk expect_exit 8 cr restore "${D2:0:8}" --target "$P/out"
assert_grep "is compromised" "$CR_ERR" "refused as compromised after a new hunt"
pass "removed hunt record: verify exit 4, restore refused (exit 8) until hunted again"

# 4. A damaged hunt file: the snapshot it may have been the record of is refused.
attack
printf 'x' >> "atk/hunt/$REC2"
CLEANROOM_REPO=$P/atk expect_exit 4 cr verify
assert_grep "^damaged hunt $REC2: " "$CR_OUT" "damaged hunt file named"
CLEANROOM_REPO=$P/atk expect_exit 8 cr restore "${D2:0:8}" --target "$P/out"
pass "damaged hunt record: restore refused"

# 5. A pack removed: the index names it (as before).
attack
pack=$(find atk/data -type f -name '[0-9a-f]*' | head -1)
rm "$pack"
CLEANROOM_REPO=$P/atk expect_exit 4 cr verify
assert_grep "^damaged pack $(basename "$pack"): missing: an index file names it" "$CR_OUT" "removed pack"
pass "a removed pack is named"

# 6. Leftovers: packs no index or snapshot refers to, temporary files.
attack
rm atk/index/*
CLEANROOM_REPO=$P/atk expect_exit 0 cr verify
grep -q '^notice: pack' "$CR_OUT" && fail "packs used by snapshots were called unreferenced"
extra=$(printf 'orphan' | sha256sum | cut -c1-64)
mkdir -p "atk/data/${extra:0:2}"
printf 'half a pack' > "atk/data/${extra:0:2}/.tmp-0123456789abcdef-$extra"
touch -d '2 hours ago' "atk/data/${extra:0:2}/.tmp-0123456789abcdef-$extra"
CLEANROOM_REPO=$P/atk expect_exit 0 cr verify
assert_grep "^notice: temp data/${extra:0:2}/\.tmp-0123456789abcdef-$extra: temporary file of a write that did not finish \(120 min old" \
    "$CR_OUT" "leftover temporary file"
CLEANROOM_REPO=$P/atk expect_exit 0 cr verify --json
python3 - "$CR_OUT" <<'EOF' || fail "verify --json lacks the notices"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["ok"] is True
assert any(n["what"] == "temp" for n in o["notices"]), o["notices"]
EOF
pass "leftover temporary files are notices (exit 0)"

# A backup interrupted after its packs (and index) but before its snapshot.
attack
ls atk/index > idx.before
mkdir -p other && head -c 3000000 /dev/urandom > other/blob.bin
CLEANROOM_REPO=$P/atk expect_exit 0 cr backup --source other other
new=$(ls atk/snapshots | grep -vxF -e "$D1" -e "$D2" -e "$D3")
[ -n "$new" ] || fail "the extra backup wrote no snapshot"
rm "atk/snapshots/$new"
for f in $(ls atk/index | grep -vxF -f idx.before); do rm "atk/index/$f"; done
CLEANROOM_REPO=$P/atk expect_exit 0 cr verify
assert_grep "^notice: pack [0-9a-f]{64}: no index file and no snapshot refers to it" "$CR_OUT" \
    "unreferenced pack"
assert_grep "^vault OK" "$CR_OUT" "still OK"
pass "packs of an interrupted backup are notices, not damage"
