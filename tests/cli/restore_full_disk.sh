# A restore onto a disk that fills up: every file whose data could not all be
# written is listed under NOT RESTORED and set aside (NAME.cleanroom-damaged, or
# removed): none keeps its name, mode and time as if it were good; the files
# under their own names are all intact; exit 5 with a hint about space.
set -u
. "${CR_TESTLIB:?}"

[ "$(id -u)" = 0 ] || { echo "skip: mounting a small tmpfs needs root"; exit 77; }
mkdir full
mount -t tmpfs -o size=12m tmpfs full 2>/dev/null ||
    { echo "skip: cannot mount a tmpfs here (no CAP_SYS_ADMIN?)"; exit 77; }
on_exit "umount '$SCRATCH/full'"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr init --kdf interactive
mkdir src
for i in 1 2 3 4 5 6 7 8; do
    head -c 3M /dev/urandom > src/f$i
done
chmod 644 src/f*
touch -d '2001-02-03 04:05:06' src/f*
expect_exit 0 cr backup --source s src

# 8 files of 3 MiB onto 12 MiB: some cannot be written.
expect_exit 5 cr restore s:latest --target full/r --threads 2
R=full/r$P/src
assert_grep "^NOT RESTORED: [0-9]+ item" "$CR_OUT" "the lost files are listed"
assert_grep "^hint: .*disk is full" "$CR_ERR" "the hint speaks of space"
good=0
for i in 1 2 3 4 5 6 7 8; do
    f=$R/f$i
    if [ -e "$f" ]; then
        cmp -s "$f" src/f$i || fail "f$i is under its own name but its content is wrong: $(ls -l "$f")"
        good=$((good + 1))
        grep -q "^  $P/src/f$i:" "$CR_OUT" && fail "f$i is intact but listed as not restored"
    else
        assert_grep "^  $P/src/f$i: " "$CR_OUT" "f$i, missing, is listed under NOT RESTORED"
        if [ -e "$f.cleanroom-damaged" ]; then
            assert_eq "$(stat -c %a "$f.cleanroom-damaged")" 600 "f$i.cleanroom-damaged mode"
            [ "$(stat -c %Y "$f.cleanroom-damaged")" != "$(stat -c %Y src/f$i)" ] ||
                fail "f$i.cleanroom-damaged kept the original time"
        fi
    fi
done
[ "$good" -ge 1 ] && [ "$good" -lt 8 ] || fail "expected some files restored and some not ($good intact)"
assert_grep "^restored snapshot [0-9a-f]{8} to .*: $good files," "$CR_OUT" \
    "the summary counts only the files restored whole"
pass "a full disk: $good intact files under their names, every other one listed and set aside"
