# Names and contents from a compromised machine are hostile: a web shell whose
# name holds a newline and a terminal escape sequence, a cron line with escape
# sequences. Every hunt command shows them escaped (no raw control byte, no
# forged line) and JSON keeps them exactly.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
S=$P/sys

mkdir -p rules/yara
cat > rules/yara/test.yar <<'EOF'
rule test_php_webshell
{
    meta:
        severity = "high"
        description = "PHP code that evaluates request data (web shell)"
    strings:
        $e = /eval\s*\(\s*\$_(POST|GET|REQUEST)/
    condition:
        $e
}
EOF
printf 'lockbit\n' > rules/ransomware-extensions.txt
printf 'README-DECRYPT.txt\n' > rules/ransom-notes.txt
export CLEANROOM_RULES=$P/rules

expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc/cron.d sys/var/www/html
printf 'root:x:0:0:root:/root:/bin/bash\n' > sys/etc/passwd
printf '<?php echo "Hello"; ?>\n' > sys/var/www/html/index.php
expect_exit 0 cr backup --source web --time 2026-11-01 sys
NAME=$(printf 'x\nhigh      malware      fake\033[31m\xff.php')
printf "<?php eval(\$_REQUEST['c']); ?>\n" > "sys/var/www/html/$NAME"
printf '* * * * * root /tmp/.x \033]0;owned\007 #\n' > "sys/etc/cron.d/$(printf 'job\033[2J')"
expect_exit 0 cr backup --source web --time 2026-11-02 sys
expect_exit 0 cr hunt
ESC=$(printf '\033')
BEL=$(printf '\007')

no_raw() { # FILE WHAT: no ESC, BEL or 0xff byte
    if grep -q "[$ESC$BEL]" "$1" || LC_ALL=C grep -q $'\xff' "$1"; then
        fail "raw control or invalid byte in $2"
    fi
}
WANT="$S/var/www/html/x\\nhigh      malware      fake\\x1b[31m\\xff.php"

expect_exit 0 cr findings
no_raw "$CR_OUT" "findings"
grep -qF "  high      malware      $WANT  yara:test_php_webshell" "$CR_OUT" || {
    cat "$CR_OUT" >&2
    fail "findings shows the name escaped"
}
# The forged second line of the name did not become a line of its own.
grep -q "^high      malware      fake" "$CR_OUT" && fail "a name forged a findings line"
grep -qF "$S/etc/cron.d/job\\x1b[2J" "$CR_OUT" || fail "cron file name escaped"
pass "findings escaped"

expect_exit 0 cr clean-point
no_raw "$CR_OUT" "clean-point"
grep -qF "$WANT" "$CR_OUT" || fail "clean-point reasons escaped"
expect_exit 0 cr timeline --source web
no_raw "$CR_OUT" "timeline"
grep -qF "  + high      malware      $WANT" "$CR_OUT" || fail "timeline escaped"
expect_exit 8 cr restore latest --target "$SCRATCH/out"
no_raw "$CR_ERR" "restore refusal"
grep -qF "$WANT" "$CR_ERR" || fail "restore refusal escaped"
expect_exit 0 cr restore latest --target "$SCRATCH/out" --quarantine "$SCRATCH/q"
no_raw "$CR_OUT" "quarantine list"
grep -qF "  $WANT  (high yara:test_php_webshell)" "$CR_OUT" || fail "quarantine list escaped"
[ -f "$SCRATCH/q$S/var/www/html/$NAME" ] || fail "the hostile file is in quarantine"
[ ! -e "$SCRATCH/out$S/var/www/html/$NAME" ] || fail "the hostile file is not in the target"
pass "clean-point, timeline, restore escaped"

# JSON: valid, and the exact names (invalid UTF-8 as the text \xNN).
expect_exit 0 cr findings --json
python3 - "$CR_OUT" "$S" <<'PY' || fail "findings --json keeps the names"
import json, sys
F = json.load(open(sys.argv[1], encoding="utf-8"))["findings"]
S = sys.argv[2]
paths = {f["path"] for f in F}
want = S + "/var/www/html/x\nhigh      malware      fake\x1b[31m\\xff.php"
assert want in paths, paths
assert S + "/etc/cron.d/job\x1b[2J" in paths, paths
PY
for c in "clean-point" "timeline --source web"; do
    expect_exit 0 cr $c --json
    python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$CR_OUT" ||
        fail "$c --json is valid JSON"
done
pass "JSON valid and faithful"
