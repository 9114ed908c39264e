# recover --resume: a recovery killed with SIGKILL while a service is being
# restored is refused without --resume, then completed by --resume: services
# done are not restored again, the interrupted one is restored from scratch,
# no half-restored target is ever in place or marked done; a torn last journal
# line (crash during an append) is cut by --resume.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
mkdir -p rules/yara
printf 'rule never_fires { condition: false }\n' > rules/yara/none.yar
printf '# test list\nlockbit\n' > rules/ransomware-extensions.txt
printf '# test list\nREADME-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$SCRATCH/rules
expect_exit 0 cr init --kdf interactive
mkdir -p src/a src/b src/c
printf 'a\n' > src/a/a.txt
printf 'c\n' > src/c/c.txt
# b is big enough that its restore is still running when c's start command kills us.
for i in 1 2 3 4 5 6; do head -c 8000000 /dev/urandom > "src/b/part$i.bin"; done
for s in a b c; do expect_exit 0 cr backup --source "$s" --time 2026-11-01 "src/$s"; done
expect_exit 0 cr --repo vault hunt

# c's start command kills the recovery (its parent) with SIGKILL once b's
# restore has started, the first time only.
cat > plan.yaml <<EOF
site: t
vault: vault
services:
  - {name: a, tier: 0, target: {folder: $SCRATCH/prod/a}}
  - {name: b, tier: 1, depends_on: [a], target: {folder: $SCRATCH/prod/b}}
  - name: c
    tier: 1
    target: {folder: $SCRATCH/prod/c}
    start: |
      [ -e $SCRATCH/killed ] && exit 0
      touch $SCRATCH/killed
      while ! grep -q '"type":"restore-start","service":"b"' $SCRATCH/plan.journal; do sleep 0.02; done
      kill -9 \$PPID
EOF
unset CLEANROOM_REPO
expect_exit 137 cr recover plan.yaml --parallel 2
[ -e killed ] || fail "the start command did not run"
python3 - plan.journal <<'EOF' > state || fail "journal after the kill"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1]) if l.endswith("\n")]
assert not any(e["type"] == "recover-end" for e in E)
done = [e["service"] for e in E if e["type"] == "service-done"]
assert done == ["a"], done
rd = [e["service"] for e in E if e["type"] == "restore-done"]
print("b_restored" if "b" in rd else "b_interrupted")
EOF
echo "note: $(cat state) when the recovery was killed"
if grep -q b_interrupted state; then
    [ ! -e prod/b ] || fail "a half-restored b is in place"
fi
expect_exit 0 cr journal verify plan.journal

# A newer restore point of b appears before the resume (a backup and a hunt
# ran meanwhile): the resume keeps the point chosen when the recovery began,
# so every service comes back from the same choice.
mkdir -p src/b-later && echo "a later day" > src/b-later/note
expect_exit 0 cr --repo vault backup --source b --time 2026-11-02 src/b-later
expect_exit 0 cr --repo vault hunt

# Without --resume: refused, nothing touched.
expect_exit 8 cr recover plan.yaml
assert_grep "did not finish: continue it with --resume" "$CR_ERR" "refused without --resume"

# A crash during an append leaves a torn line: --resume cuts it.
printf '{"seq":99,"time":"2026-11-22T03:' >> plan.journal
expect_exit 0 cr recover plan.yaml --resume --parallel 2
assert_grep "the last line of the journal .*plan\.journal was torn by the crash" "$CR_ERR" "torn line cut"
[ -s plan.journal.torn ] || fail "the torn bytes were not kept"
assert_grep "^recovery summary: 3 ok, 0 failed, 0 blocked \(1 already done before this resume\)" \
    "$CR_OUT" "resume summary"
for s in a b c; do
    diff -r "src/$s" "prod/$s/$SCRATCH/src/$s" || fail "$s restored differently"
done
ls prod | grep -q partial && fail "a staging folder was left"
expect_exit 0 cr journal verify plan.journal
python3 - plan.journal "$(cat state)" <<'EOF' || fail "journal after the resume"
import json, sys
E = [json.loads(l) for l in open(sys.argv[1])]
count = lambda t, s: sum(1 for e in E if e["type"] == t and e["service"] == s)
assert count("restore-done", "a") == 1, "a was restored twice"
assert count("restore-done", "b") == 1, "b restored twice, or not at all"
assert count("restore-done", "c") == 1, "c (restored before the kill) was restored again"
assert count("restore-start", "a") == 1
if sys.argv[2] == "b_interrupted":
    assert count("restore-start", "b") == 2, "b not restored again from scratch"
# c was started again (its start command ran, then the kill) and is ok now.
assert count("start-command", "c") == 1 and count("service-done", "c") == 1
starts = [e for e in E if e["type"] == "recover-start"]
assert len(starts) == 2 and starts[1]["data"]["resume"] == "yes"
assert any(e["type"] == "torn-tail-cut" for e in E)
chosen = {e["data"]["snapshot"] for e in E if e["type"] == "point-chosen" and e["service"] == "b"}
assert len(chosen) == 1, "b's restore point changed on resume: %s" % chosen
ends = [e for e in E if e["type"] == "recover-end"]
assert len(ends) == 1 and ends[0]["data"]["status"] == "ok" and ends[0]["data"]["ok"] == "3", ends
EOF
pass "resume after SIGKILL: nothing restored twice, nothing half-restored marked done"

# Resuming a finished recovery restores nothing.
expect_exit 0 cr recover plan.yaml --resume
assert_grep "^recovery summary: 3 ok, 0 failed, 0 blocked \(3 already done before this resume\)" \
    "$CR_OUT" "nothing left to do"
pass "resume of a finished recovery"

# A start command that never returns is stopped at --start-timeout; the service fails.
cat > hang.yaml <<EOF
site: t
vault: vault
services:
  - {name: a, tier: 0, target: {folder: $SCRATCH/hang/a}, start: "sleep 600"}
  - {name: c, tier: 0, target: {folder: $SCRATCH/hang/c}}
EOF
expect_exit 5 cr recover hang.yaml --start-timeout 1s
assert_grep "a: the start command of 'a' did not finish in 1 s and was stopped; see .*hang\.journal\.logs/a\.log" \
    "$CR_ERR" "start timeout said"
assert_grep "^recovery summary: 1 ok, 1 failed, 0 blocked" "$CR_OUT" "the rest went on"
pgrep -f "^sleep 600$" > /dev/null && fail "the start command was left running"
pass "start command timeout"
