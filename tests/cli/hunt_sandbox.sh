# The parser sandbox seen from the hunt, played as crafted files would:
# with CLEANROOM_TEST_HOOKS=1 (tests only) a file holding
# CLEANROOM-TEST-SANDBOX-CRASH makes the sandboxed parser write through NULL,
# -LOOP spin forever, -OPEN open /etc/shadow, -SOCKET create a socket. Each
# must end as a high finding "anomaly:parser-crash" on that file (naming a
# memory fault, the time limit, seccomp) — except -OPEN: the scanner may open
# files read-only, and its empty root has no /etc/shadow, so nothing happens
# (the hook aborts if the open works) —, the hunt exits 5 (partly done),
# and everything else is still hunted: a web shell matched by a rule in the
# same snapshot is found, a registry hive that crashes the hive parser is a
# finding too. Without the test switch the same bytes are plain data. With
# CLEANROOM_SANDBOX=off the hunt works as before (no child).
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc sys/var/www/html sys/Windows/System32/config rules
printf 'root:x:0:0:root:/root:/bin/bash\n' > sys/etc/passwd
for k in CRASH LOOP OPEN SOCKET; do
    printf '<?php /* CLEANROOM-TEST-SANDBOX-%s */ ?>\n' "$k" > "sys/var/www/html/$(echo "$k" | tr A-Z a-z).php"
done
printf '<?php eval($_POST["SANDBOX-TEST-SHELL"]); ?>\n' > sys/var/www/html/shell.php
{ printf 'regf'; head -c 4096 /dev/zero; printf 'CLEANROOM-TEST-SANDBOX-CRASH'; } \
    > sys/Windows/System32/config/SOFTWARE
# A crontab is read by cleanroom's text parsers, in the same sandboxed child as hives.
mkdir -p sys/etc/cron.d
printf '# CLEANROOM-TEST-SANDBOX-CRASH\n* * * * * root /bin/true\n' > sys/etc/cron.d/crafted
# A shortcut in a Startup folder is read by liblnk, in the same sandboxed child as hives.
mkdir -p "sys/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup"
printf 'L\0\0\0CLEANROOM-TEST-SANDBOX-CRASH' \
    > "sys/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/evil.lnk"
cat > rules/shell.yar <<'R'
rule sandbox_test_shell { meta: severity = "critical" strings: $a = "SANDBOX-TEST-SHELL" condition: $a }
R

expect_exit 0 cr backup --source web --time 2026-11-01 sys
export CLEANROOM_TEST_HOOKS=1 CLEANROOM_SANDBOX_TIMEOUT=3
expect_exit 5 cr hunt --rules rules --json
expect_exit 0 cr findings --json
python3 - "$CR_OUT" > got.txt <<'PY' || fail "findings read"
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    name = f["path"].rsplit("/", 1)[-1]
    print(name, f["indicator"], f["severity"], f.get("detail", "").replace("\n", " "))
PY
cat got.txt >&2
grep -q '^shell.php yara:sandbox_test_shell critical' got.txt || fail "the web shell next to the crafted files was not found"
# (Under the sanitizers the fault is theirs to report first: any way the child ends is accepted.)
grep -q '^crash.php anomaly:parser-crash high .*\(SIGSEGV\|failed\)' got.txt ||
    fail "the crashing file is not a high finding naming the fault"
grep -q '^loop.php anomaly:parser-crash high .*no answer for 3 s' got.txt || fail "the looping file was not stopped by the time limit"
# (YARA crashes on it too; the text parser's own finding says its entries were not checked,
# and the crash hook exists only inside a child: this proves the parser ran there.)
grep -q '^crafted anomaly:parser-crash high .*entries were not checked' got.txt ||
    fail "the crontab that crashes the text parser is not a finding of its own"
# The scanner may open files read-only (YARA's magic module), in a root that holds none of
# the host's: open("/etc/shadow") fails there (the hook would abort if it worked).
grep -q '^open.php anomaly:parser-crash' got.txt && fail "a hijacked scanner could open /etc/shadow"
grep -q '^socket.php anomaly:parser-crash high .*seccomp' got.txt || fail "socket() was not stopped by seccomp"
# The hive and the shortcut crash their own readers (not only the YARA scanner): proof that
# hivex and liblnk run in the sandbox, since the crash hook exists only there.
grep -q '^SOFTWARE anomaly:parser-crash high .*autostart entries were not checked' got.txt ||
    fail "the crashing registry hive is not a finding of the hive reader"
grep -q '^evil.lnk anomaly:parser-crash high shortcut in a Startup folder not read' got.txt ||
    fail "the crashing shortcut is not a finding of the shortcut reader"
grep -q 'parser-crash' <(grep -v '^\(crash\|loop\|socket\).php\|^SOFTWARE\|^evil.lnk\|^crafted ' got.txt) &&
    fail "a file without a crafted marker was reported as crashing the parser"

# Without the test switch the markers are inert bytes: no parser-crash finding.
unset CLEANROOM_TEST_HOOKS
printf 'changed\n' >> sys/var/www/html/crash.php
expect_exit 0 cr backup --source web --time 2026-11-02 sys
expect_exit 0 cr hunt --rules rules
expect_exit 0 cr findings --json --snapshot latest
grep -q 'crash.php.*parser-crash' "$CR_OUT" && fail "the crash hook fired without CLEANROOM_TEST_HOOKS"

# A real hive goes through the sandboxed hive reader: a Run entry added on the second day is found.
MKHIVE="$CR_SRC/tests/tools/mkhive.py"
mkdir -p win/Windows/System32/config
python3 "$MKHIVE" -o win/Windows/System32/config/SOFTWARE --json \
    '{"keys": {"Microsoft/Windows/CurrentVersion/Run": {"Health": "C:\\Windows\\System32\\health.exe"}}}' ||
    fail "mkhive.py"
expect_exit 0 cr backup --source win --time 2026-11-01 win
python3 "$MKHIVE" -o win/Windows/System32/config/SOFTWARE --json \
    '{"keys": {"Microsoft/Windows/CurrentVersion/Run": {"Health": "C:\\Windows\\System32\\health.exe", "Updater": "C:\\Users\\Public\\upd.exe"}}}' ||
    fail "mkhive.py"
expect_exit 0 cr backup --source win --time 2026-11-02 win
expect_exit 0 cr hunt --source win
expect_exit 0 cr findings --source win --json
grep -q '"persistence:run-key"' "$CR_OUT" || fail "the Run entry added to a hive was not found through the sandbox"
grep -q 'parser-crash\|bad-hive' "$CR_OUT" && fail "a valid hive failed in the sandboxed reader"

# YARA modules that read more than the file work in the sandbox: "magic" opens libmagic's
# database (shown read-only to the child), "hash" and "math" compute; none is a parser crash.
mkdir -p modrules mods
cat > modrules/mods.yar <<'R'
import "magic"
import "hash"
import "math"
rule sandbox_magic { meta: severity = "high" condition: magic.mime_type() == "text/plain" }
rule sandbox_hash { meta: severity = "high" condition: hash.md5(0, filesize) == "6f5902ac237024bdd0c176cb93063dc4" }
rule sandbox_math { meta: severity = "high" condition: math.entropy(0, filesize) < 4 }
R
printf 'hello world\n' > mods/hello.txt
expect_exit 0 cr backup --source mods --time 2026-11-01 mods
expect_exit 0 cr hunt --source mods --rules modrules --no-builtin-rules
expect_exit 0 cr findings --source mods --json
for r in sandbox_magic sandbox_hash sandbox_math; do
    grep -q "yara:$r" "$CR_OUT" || fail "the YARA rule $r (a module) did not match in the sandbox"
done
grep -q 'parser-crash' "$CR_OUT" && fail "a YARA module made the sandboxed scanner fail"

# A file scanned whole that is larger than 256 MiB travels to the sandbox in one message.
mkdir -p big/data
truncate -s 280M big/data/disk.img
printf 'SANDBOX-TEST-SHELL' | dd of=big/data/disk.img bs=1 seek=$((270 << 20)) conv=notrunc status=none
expect_exit 0 cr backup --source big --time 2026-11-01 big
# The 3 s idle limit above is for the looping child; a 280 MiB scan on a busy machine may
# take longer than that without being hostile.
CLEANROOM_SANDBOX_TIMEOUT=120 expect_exit 0 cr hunt --source big --rules rules --max-scan-size 300M
expect_exit 0 cr findings --source big --json
grep -q 'sandbox_test_shell' "$CR_OUT" || fail "a 280 MiB file scanned whole in the sandbox: the rule did not match"
grep -q 'parser-crash' "$CR_OUT" && fail "a 280 MiB file scanned whole is reported as crashing the sandbox"

# Sandbox off: same results for real findings, no child process.
rm -rf "$CLEANROOM_REPO"
expect_exit 0 cr init --kdf interactive
expect_exit 0 cr backup --source web --time 2026-11-01 sys
CLEANROOM_SANDBOX=off expect_exit 0 cr hunt --rules rules --json
expect_exit 0 cr findings --json
grep -q 'sandbox_test_shell' "$CR_OUT" || fail "without the sandbox the web shell was not found"
pass
