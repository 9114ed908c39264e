# Help and usage errors of the hunt commands; rule files that do not compile,
# IOC lists that cannot be read and missing shipped rules stop the hunt before
# anything is stored.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)

for c in hunt findings clean-point timeline; do
    expect_exit 0 cr "$c" --help
    assert_grep "^usage: cleanroom $c" "$CR_OUT" "$c --help prints its usage"
    assert_grep "^Exit codes: " "$CR_OUT" "$c --help gives the exit codes"
    expect_exit 0 cr help "$c"
    assert_grep "^usage: cleanroom $c" "$CR_OUT" "help $c"
    expect_exit 2 cr "$c" --no-such-option
    assert_grep "unknown option '--no-such-option'" "$CR_ERR" "$c: unknown option"
    expect_exit 2 cr "$c" stray
    assert_grep "unexpected argument 'stray'" "$CR_ERR" "$c: stray argument"
    [ -s "$CR_SRC/docs/commands/$c.md" ] || fail "missing docs/commands/$c.md"
done
expect_exit 0 cr --help
for c in hunt findings clean-point timeline; do
    assert_grep "^  $c +[a-z]" "$CR_OUT" "main help lists $c"
done
assert_grep "8 restore refused" "$CR_OUT" "main help gives exit code 8"
expect_exit 0 cr restore --help
assert_grep "--accept-risk" "$CR_OUT" "restore help: --accept-risk"
assert_grep "--quarantine QDIR" "$CR_OUT" "restore help: --quarantine"
grep -q "^| 8 |" "$CR_SRC/docs/exit-codes.md" || fail "exit code 8 documented"
grep -q "^| 9 |" "$CR_SRC/docs/exit-codes.md" || fail "exit code 9 documented"
pass "help"

# Option values are checked before the vault is opened (no vault needed).
expect_exit 2 cr hunt --threads 0
expect_exit 2 cr hunt --threads many
expect_exit 2 cr hunt --max-scan-size 12Q
expect_exit 2 cr hunt --max-scan-size 100
assert_grep "at least 4K" "$CR_ERR" "max-scan-size lower bound"
expect_exit 2 cr hunt --max-scan-size -1M
expect_exit 2 cr hunt --fail-on urgent
assert_grep "info, low, medium, high, critical" "$CR_ERR" "severities named"
expect_exit 2 cr hunt --rules ""
expect_exit 2 cr hunt --ioc ""
expect_exit 2 cr findings --min-severity 3
expect_exit 2 cr clean-point --min-severity HIGHEST
expect_exit 2 cr timeline --min-severity x --source s
expect_exit 2 cr timeline
expect_exit 2 cr restore latest --target t --quarantine ""
expect_exit 2 cr hunt --repo
pass "usage errors"

# No vault: exit 7 for each.
expect_exit 7 cr --repo "$SCRATCH/novault" findings
expect_exit 7 cr --repo "$SCRATCH/novault" clean-point
expect_exit 7 cr --repo "$SCRATCH/novault" timeline --source s
pass "no vault"

# A vault with one snapshot.
expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc && printf 'root:x:0:0:root:/root:/bin/bash\n' > sys/etc/passwd
expect_exit 0 cr backup --source s --time 2026-11-01 sys

mkdir -p rules/yara
printf 'rule ok { strings: $a = "hello" condition: $a }\n' > rules/yara/ok.yar
printf 'lockbit\n' > rules/ransomware-extensions.txt
printf 'README-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$P/rules

state() { (cd "$CLEANROOM_REPO" && find . -type f | sort); }
state > before

# A rule that does not compile: exit 2, file and line named, nothing stored.
mkdir extra
printf 'rule fine { condition: true }\n\nrule broken {\n  strings: $a = "x"\n  condition: $b }\n' \
    > extra/broken.yar
expect_exit 2 cr hunt --rules extra
assert_grep "^cleanroom: error: .*extra/broken\.yar line 5: undefined string" "$CR_ERR" \
    "file and line of the error"
assert_grep "nothing was hunted" "$CR_ERR" "says nothing was hunted"
expect_exit 2 cr hunt --rules extra/broken.yar --json
[ -s "$CR_OUT" ] && fail "no JSON on a failed hunt"
# A broken shipped rule is reported the same way.
cp extra/broken.yar rules/yara/
expect_exit 2 cr hunt
assert_grep "broken\.yar" "$CR_ERR" "shipped broken rule named"
rm rules/yara/broken.yar
# Rules that do not exist.
expect_exit 2 cr hunt --rules "$SCRATCH/none.yar"
assert_grep "none\.yar" "$CR_ERR" "missing rule file named"
pass "broken rules: exit 2"

# IOC lists: missing, a folder, unreadable.
expect_exit 2 cr hunt --ioc "$SCRATCH/none.txt"
assert_grep "none\.txt" "$CR_ERR" "missing IOC list named"
expect_exit 2 cr hunt --ioc extra
if [ "$(id -u)" != 0 ]; then
    printf 'd41d8cd98f00b204e9800998ecf8427e\n' > locked.txt && chmod 000 locked.txt
    expect_exit 2 cr hunt --ioc locked.txt
    assert_grep "locked\.txt" "$CR_ERR" "unreadable IOC list named"
fi
printf 'this is not a hash list\nat all\n' > garbage.txt
expect_exit 2 cr hunt --ioc garbage.txt
assert_grep "garbage\.txt" "$CR_ERR" "a list without any hash is refused"
state > after
diff -u before after || fail "a hunt that could not start stored something"
pass "bad IOC lists: exit 2, vault untouched"

# The shipped rules: a CLEANROOM_RULES that is not a folder is a usage error.
expect_exit 2 env CLEANROOM_RULES="$SCRATCH/nowhere" "$CLEANROOM" hunt
assert_grep "CLEANROOM_RULES names .*nowhere, which is not a folder" "$CR_ERR" "CLEANROOM_RULES checked"
# A rules folder without its data files is a broken installation.
mkdir -p half/yara && cp rules/yara/ok.yar half/yara/
expect_exit 2 env CLEANROOM_RULES="$P/half" "$CLEANROOM" hunt
assert_grep "ransom" "$CR_ERR" "the missing data file is named"
# Without the shipped rules, with --no-builtin-rules: hunts with the user's rules only.
expect_exit 0 env -u CLEANROOM_RULES "$CLEANROOM" hunt --no-builtin-rules --rules rules/yara --json
python3 - "$CR_OUT" <<'PY' || fail "--no-builtin-rules"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["rules_dir"] is None and h["yara_rules"] == 1 and h["snapshots_hunted"] == 1, h
PY
printf '# md5 of the empty file\nd41d8cd98f00b204e9800998ecf8427e  empty file\n' > iocs.txt
expect_exit 0 cr hunt --ioc iocs.txt --json
python3 - "$CR_OUT" <<'PY' || fail "IOC list counted; new rule set hunts again"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["ioc_hashes"] == 1 and h["snapshots_hunted"] == 1, h
PY
pass "shipped rules"

# Unknown sources and snapshots: exit 7.
expect_exit 7 cr hunt --source nosuch
assert_grep "nosuch" "$CR_ERR" "unknown source named"
expect_exit 7 cr findings --source nosuch
expect_exit 7 cr clean-point --source nosuch
expect_exit 7 cr timeline --source nosuch
expect_exit 7 cr findings --snapshot abcdef12
pass "unknown source: exit 7"
