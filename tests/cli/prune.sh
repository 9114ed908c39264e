# forget and prune: restic's retention rules; nothing younger than the grace
# period is removed; --dry-run changes nothing; what is kept verifies and
# restores identical; the hunt's evidence is kept; a backup running during a
# prune loses nothing, and one that starts while a prune is announced stores
# again the data the prune will remove.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
test_rules rules

expect_exit 0 cr init --kdf interactive
mkdir -p src
ids() { cr snapshots --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'; }
# Make everything (forget records too) 30 days old, as if the grace period had passed.
age_all() { find "$CLEANROOM_REPO"/data "$CLEANROOM_REPO"/snapshots "$CLEANROOM_REPO"/index "$CLEANROOM_REPO"/forget -type f -exec touch -d '30 days ago' {} + 2>/dev/null; }
listing() { (cd "$CLEANROOM_REPO" && find . -type f | sort); }

# Five days, each with content of its own (1 MiB of random data), saved aside.
for d in 1 2 3 4 5; do
    rm -f src/day*; head -c 1048576 /dev/urandom > "src/day$d.bin"
    printf 'common\n' > src/common.txt
    [ "$d" = 3 ] && printf "<?php eval(\$_POST['x']); ?>\n" > src/up.php
    [ "$d" = 4 ] && rm -f src/up.php
    cp -a src "saved$d"
    expect_exit 0 cr backup --source web --time "2026-10-0${d}T10:00:00" src
done
read -r D1 D2 D3 D4 D5 <<<"$(ids)"
expect_exit 0 cr hunt
age_all

# Rules.
expect_exit 2 cr forget
assert_grep "no retention rule and no snapshot given" "$CR_ERR" "no rule refused"
expect_exit 0 cr forget --keep-last 2 --dry-run
assert_grep "^forget  ${D1:0:8}  2026-10-01T10:00:00Z  web$" "$CR_OUT" "day 1 would go"
assert_grep "^keep    ${D3:0:8}  2026-10-03T10:00:00Z  web  \(evidence\)$" "$CR_OUT" "evidence kept"
assert_grep "^keep    ${D5:0:8}  2026-10-05T10:00:00Z  web  \(last\)$" "$CR_OUT" "last kept"
assert_grep "^dry run: 2 of 5 snapshot\(s\) would be forgotten; nothing was written$" "$CR_OUT" "dry-run summary"
[ ! -d "$CLEANROOM_REPO/forget" ] || fail "forget --dry-run wrote a forget record"
pass "forget: restic's rules, evidence kept, --dry-run writes nothing"

expect_exit 0 cr forget --keep-last 2
[ "$(ids)" = "$D3 $D4 $D5" ] || fail "snapshots after forget: $(ids)"
expect_exit 0 cr verify
pass "forgotten snapshots leave the listing; verify does not call that damage"

# The grace period starts when a snapshot is forgotten: old snapshots forgotten
# a moment ago (by mistake, or by an attacker) are not removed yet.
expect_exit 0 cr prune
assert_grep "^removed 0 forgotten snapshot\(s\) and 0 of" "$CR_OUT" "nothing removed right after forget"
assert_grep "^kept for now, younger than the grace period: 2 forgotten snapshot\(s\)" "$CR_OUT" "just forgotten: kept"
[ -e "$CLEANROOM_REPO/snapshots/$D1" ] || fail "a snapshot forgotten a moment ago was removed"
pass "nothing forgotten less than the grace period ago is removed"
age_all

# Prune: --dry-run removes nothing.
before=$(listing)
expect_exit 0 cr prune --dry-run
assert_grep "^would remove 2 forgotten snapshot\(s\) and [1-9][0-9]* of [0-9]+ pack\(s\)" "$CR_OUT" "dry-run prune"
[ "$(listing)" = "$before" ] || fail "prune --dry-run changed the vault"
expect_exit 2 cr prune --grace 12h
assert_grep "at least 1d" "$CR_ERR" "grace under a day refused"
pass "prune --dry-run changes nothing; a grace under a day is refused"

du_before=$(du -sb "$CLEANROOM_REPO/data" | cut -f1)
expect_exit 0 cr prune
assert_grep "^removed 2 forgotten snapshot\(s\) and [1-9][0-9]* of [0-9]+ pack\(s\)" "$CR_OUT" "prune removed"
du_after=$(du -sb "$CLEANROOM_REPO/data" | cut -f1)
# Day 2's MiB goes; day 1's pack also holds common.txt, which kept days use: kept whole (no repacking).
[ $((du_before - du_after)) -gt 1000000 ] || fail "prune freed $((du_before - du_after)) bytes, expected day 2's MiB"
[ ! -e "$CLEANROOM_REPO/snapshots/$D1" ] || fail "the forgotten snapshot file of day 1 is still there"
expect_exit 0 cr verify --read-data
grep -q '^notice: pack' "$CR_OUT" && fail "prune left unreferenced packs: $(cat "$CR_OUT")"
for d in 3 4 5; do
    eval "id=\$D$d"
    rm -rf "out$d"
    expect_exit 0 cr restore "${id:0:8}" --target "out$d" --accept-risk
    diff -r "saved$d" "out$d$P/src" >/dev/null || fail "day $d does not restore identical after prune"
done
pass "prune frees the forgotten data; verify --read-data clean; kept days restore identical"

# Grace: a snapshot made now and forgotten at once is not removed.
rm -f src/day*; head -c 1048576 /dev/urandom > src/day6.bin
expect_exit 0 cr backup --source web src
D6=$(cr snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
expect_exit 0 cr forget "${D6:0:8}"
expect_exit 0 cr prune
assert_grep "^removed 0 forgotten snapshot\(s\) and 0 of" "$CR_OUT" "nothing young removed"
assert_grep "^kept for now, younger than the grace period: 1 forgotten snapshot\(s\)" "$CR_OUT" "young kept"
[ -e "$CLEANROOM_REPO/snapshots/$D6" ] || fail "a snapshot younger than the grace period was removed"
pass "nothing younger than the grace period is removed"

# A backup running during a prune completes and restores identical.
age_all
expect_exit 0 cr forget "${D3:0:8}"   # by id: the evidence goes only this way
age_all
rm -rf src && mkdir src && head -c 150000000 /dev/urandom > src/big.bin && cp -a src savedbig
cr backup --source big src > "$SCRATCH/b.out" 2>&1 &
bpid=$!
for _ in $(seq 1 100); do ls "$CLEANROOM_REPO/locks" | grep -q . && break; sleep 0.05; done
expect_exit 0 cr prune --wait 10m
wait "$bpid" || { cat "$SCRATCH/b.out" >&2; fail "the backup running during the prune failed"; }
expect_exit 0 cr verify --read-data
rm -rf outbig
expect_exit 0 cr restore big:latest --target outbig
cmp -s savedbig/big.bin "outbig$P/src/big.bin" || fail "the backup made during a prune does not restore identical"
pass "a backup running during a prune completes and restores identical"

# A backup that starts while a prune is announced stores the doomed data again.
age_all
rm -rf src && mkdir src && cp "saved4/day4.bin" src/ # day 4's data, in a pack prune will remove
expect_exit 0 cr forget "${D4:0:8}"
age_all
sleep 300 & holder=$!
on_exit "kill $holder 2>/dev/null"
host=$(hostname)
printf '{"pid":%d,"hostname":"%s","username":"root","time":"2026-10-01T00:00:00Z","exclusive":false}' \
    "$holder" "$host" > "$CLEANROOM_REPO/locks/0123456789abcdef0123456789abcdef"
cr prune --wait 10m > "$SCRATCH/p.out" 2>&1 &
ppid=$!
for _ in $(seq 1 200); do ls -a "$CLEANROOM_REPO/locks" | grep -q '^\.prune-' && break; sleep 0.05; done
ls -a "$CLEANROOM_REPO/locks" | grep -q '^\.prune-' || fail "prune announced no plan"
expect_exit 0 cr backup --source again --json src
new=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_new"])' "$CR_OUT")
[ "$new" -gt 1000000 ] || fail "the backup during an announced prune stored only $new new bytes: it referred to data the prune removes"
kill "$holder"
wait "$ppid" || { cat "$SCRATCH/p.out" >&2; fail "the prune failed"; }
assert_grep "^waited .* for 1 command\(s\)" "$SCRATCH/p.out" "prune waited for the running command"
expect_exit 0 cr verify --read-data
rm -rf outagain
expect_exit 0 cr restore again:latest --target outagain
cmp -s saved4/day4.bin "outagain$P/src/day4.bin" || fail "the backup made while a prune was announced does not restore identical"
pass "a backup during an announced prune stores the data again; the prune waits for running commands"
