# findings groups many findings of one indicator, as clean-point does: 300
# documents renamed by ransomware give one line, not 300; --all lists each.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules

expect_exit 0 cr init --kdf interactive
mkdir -p sys/docs
for i in $(seq 1 300); do printf 'report %d\n' "$i" > "sys/docs/report-$i.docx"; done
expect_exit 0 cr backup --source web --time 2026-11-01 sys
for i in $(seq 1 300); do
    head -c 256 /dev/urandom > "sys/docs/report-$i.docx.lockbit" && rm "sys/docs/report-$i.docx"
done
expect_exit 11 cr backup --source web --time 2026-11-02 sys
expect_exit 0 cr hunt
expect_exit 0 cr findings --json
total=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$CR_OUT")
[ "$total" -ge 300 ] || fail "expected at least 300 findings, got $total"

expect_exit 0 cr findings
lines=$(wc -l < "$CR_OUT")
[ "$lines" -lt 20 ] || fail "findings printed $lines lines for $total findings (not grouped)"
assert_grep "^  [a-z]+ +[a-z]+ +.* on 300 files, e\.g\. .*/sys/docs/report-[0-9]+\.docx\.lockbit, .*, \.\.\.$" \
    "$CR_OUT" "one line for the 300 renamed files"
assert_grep "^\(300 finding\(s\) told in grouped lines: --all lists every one\)$" "$CR_OUT" \
    "says how to see every line"
pass "grouped by default"

expect_exit 0 cr findings --all
n=$(grep -c "report-[0-9]*\.docx\.lockbit" "$CR_OUT")
[ "$n" -eq 300 ] || fail "--all listed $n renamed files, not 300"
grep -q "told in grouped lines" "$CR_OUT" && fail "--all still speaks of grouped lines"
pass "--all lists every finding"
