# Names with newlines, escape sequences and invalid UTF-8 cannot forge output lines.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
expect_exit 0 cr init --kdf interactive
mkdir src
printf 'x' > "src/$(printf 'two\nlines')"
printf 'x' > "src/$(printf 'esc\033[31mred')"
printf 'x' > "src/$(printf 'bad\377byte')"
printf 'x' > 'src/back\slash'
expect_exit 0 cr backup --source s src

expect_exit 0 cr ls latest "$P/src"
assert_eq "$(wc -l < "$CR_OUT")" 4 "one line per name"
grep -q "$(printf '\033')" "$CR_OUT" && fail "raw escape byte in the listing"
grep -qF "$P/src/two\\nlines" "$CR_OUT" || fail "newline shown as \\n"
grep -qF "$P/src/esc\\x1b[31mred" "$CR_OUT" || fail "ESC shown as \\x1b"
grep -qF "$P/src/bad\\xffbyte" "$CR_OUT" || fail "invalid byte shown as \\xff"
grep -qF "$P/src/back\\\\slash" "$CR_OUT" || fail "backslash doubled"
pass "text listing escaped"

expect_exit 0 cr ls latest "$P/src" --json
python3 - "$CR_OUT" "$P" <<'PY' || fail "JSON listing valid and faithful"
import json, sys
root = sys.argv[2] + "/src/"
names = sorted(i["path"][len(root):] for i in json.load(open(sys.argv[1], encoding="utf-8")))
assert names == sorted(["two\nlines", "esc\x1b[31mred", "bad\\xffbyte", "back\\slash"]), names
PY
pass "JSON listing valid"

printf 'y' > "src/$(printf 'new\nline')"
expect_exit 0 cr backup --source s src
first=$(cr snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["short_id"])')
expect_exit 0 cr diff "$first" latest
grep -qF "+ $P/src/new\\nline (1 B)" "$CR_OUT" || fail "diff escapes names"
pass "diff escaped"
