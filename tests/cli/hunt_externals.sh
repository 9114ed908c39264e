# YARA rules using the external variables LOKI and THOR define (filename,
# filepath, extension, filetype, owner) load, and match exactly as the yara
# command line does when given the same values with -d (docs/hunt.md, "YARA
# externals"); a folder of rules with one broken file stops the hunt (exit 2)
# unless --skip-broken-rules, which names the file with its error, says how
# many rules were left out, and hunts with the others.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
S=$P/sys
ME=$(id -u)
[ "$ME" = 0 ] && ME=4242 # as root: the web page is given to an account of the snapshot

expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc/cron.d sys/var/www/html/img sys/usr/local/bin sys/tmp rules
# The snapshot's own accounts name the owner: this test's user id is "webadmin" there.
printf 'root:x:0:0:root:/root:/bin/bash\nwebadmin:x:%s:%s::/home/webadmin:/bin/bash\n' \
    "$ME" "$ME" > sys/etc/passwd
printf '<?php echo "hi"; ?>\n' > sys/var/www/html/index.php
[ "$(id -u)" = 0 ] && chown "$ME" sys/var/www/html/index.php
printf '\x7fELF\x02\x01\x01 not really a program\n' > sys/usr/local/bin/helper
printf '\x7fELF\x02\x01\x01 another one\n' > sys/tmp/helper.bin
printf 'GIF89a a picture\n' > sys/var/www/html/img/logo.GIF
printf '* * * * * root /usr/local/bin/helper\n' > sys/etc/cron.d/helper
printf 'plain text\n' > sys/.hidden
printf 'MZ a windows program\n' > sys/tmp/svchost.exe

cat > rules/externals.yar <<'EOF'
rule ext_filename { condition: filename == "svchost.exe" }
rule ext_filepath { condition: filepath == "/etc/cron.d" }
rule ext_filepath_root { condition: filepath == "/" }
rule ext_extension { condition: extension == ".gif" }
rule ext_no_extension { condition: extension == "" and filepath == "/" }
rule ext_filetype_elf { condition: filetype == "ELF" }
rule ext_filetype_exe { condition: filetype == "EXE" and filename matches /\.exe$/ }
rule ext_filetype_php { condition: filetype == "PHP" }
rule ext_owner { condition: owner == "webadmin" and filename == "index.php" }
rule ext_not_tmp { condition: filetype == "ELF" and not filepath contains "/tmp" }
EOF

expect_exit 0 cr backup --source web --time 2026-11-01 sys
expect_exit 0 cr hunt --no-builtin-rules --rules rules --json
expect_exit 0 cr findings --json
python3 - "$CR_OUT" "$S" > got.txt <<'PY' || fail "findings read"
import json, sys
S = sys.argv[2]
for f in json.load(open(sys.argv[1]))["findings"]:
    if f["indicator"].startswith("yara:ext_"):
        print(f["path"][len(S):], f["indicator"][5:])
PY
sort -o got.txt got.txt

# What the yara command says with the same values, file by file.
filetype() { # LOKI's word for the first bytes of $1 (the signatures this test uses)
    case "$(head -c 4 "$1" | xxd -p)" in
        7f454c46) echo ELF ;; 47494638) echo GIF ;; 3c3f7068) echo PHP ;;
        4d5a*) echo EXE ;; *) echo UNKNOWN ;;
    esac
}
: > want.txt
if command -v yara >/dev/null; then
    (cd sys && find . -type f) | sed 's#^\.##' | sort | while read -r rel; do
        name=${rel##*/}
        dir=${rel%/*}; [ -z "$dir" ] && dir=/
        ext=""
        case "$name" in
            .*.*|[!.]*.*) ext=".${name##*.}"; ext=${ext,,} ;;
        esac
        owner=$(awk -F: -v u="$(stat -c %u "sys$rel")" '$3 == u { print $1; exit }' sys/etc/passwd)
        yara -d filename="$name" -d filepath="$dir" -d extension="$ext" \
            -d filetype="$(filetype "sys$rel")" -d owner="$owner" rules/externals.yar "sys$rel" |
            awk -v p="$rel" '{ print p, $1 }'
    done | sort > want.txt
    diff want.txt got.txt || fail "the hunt matches as 'yara -d' does with the same values"
    pass "each external variable matches as yara -d with the same values ($(wc -l < got.txt) matches)"
else
    echo "note: no yara command here: the comparison with yara -d was not run"
fi
# And what that is, written out (so the test holds without the yara command too).
cat > want2.txt <<'EOF'
/.hidden ext_filepath_root
/etc/cron.d/helper ext_filepath
/etc/cron.d/helper ext_no_extension
/tmp/helper.bin ext_filetype_elf
/tmp/svchost.exe ext_filename
/tmp/svchost.exe ext_filetype_exe
/usr/local/bin/helper ext_filetype_elf
/usr/local/bin/helper ext_not_tmp
/var/www/html/img/logo.GIF ext_extension
/var/www/html/index.php ext_filetype_php
/var/www/html/index.php ext_owner
EOF
# (ext_no_extension: "" extension and folder "/" -- only /.hidden qualifies by folder,
# but its name only starts with a dot; /etc/cron.d/helper has no extension and its
# folder is not "/": the rule is written so that exactly one of them matches.)
grep -v 'ext_no_extension' want2.txt > a.txt
grep -v 'ext_no_extension' got.txt > b.txt
diff a.txt b.txt || fail "the values of the externals are the documented ones"
grep -q '^/.hidden ext_no_extension$' got.txt || fail "a name that only starts with a dot has no extension"
pass "filename, filepath (folder relative to the system root), extension, filetype, owner"

# A folder of rules with one broken file.
mkdir -p more
cp rules/externals.yar more/
cat > more/broken.yar <<'EOF'
rule broken_one { condition: md5 == "x" }
rule broken_two { strings: $a = "x" condition: $a }
EOF
cat > more/webshell.yar <<'EOF'
rule php_eval_post { strings: $e = "eval($_POST" condition: $e }
EOF
printf '<?php eval($_POST["c"]); ?>\n' > sys/var/www/html/img/up.php
expect_exit 0 cr backup --source web --time 2026-11-02 sys
expect_exit 2 cr hunt --no-builtin-rules --rules more
assert_grep "broken\.yar line 1: undefined identifier \"md5\"" "$CR_ERR" "without the option: the broken file named, exit 2"
expect_exit 0 cr hunt --no-builtin-rules --rules more --skip-broken-rules
assert_grep "^warning: .*more/broken\.yar: rule file left out \(2 rule\(s\)\): .*broken\.yar line 1: undefined identifier \"md5\"" \
    "$CR_ERR" "the broken file named with its error"
assert_grep "LEFT OUT: 1 rule file\(s\) that do not compile, 2 rule\(s\) in all" "$CR_OUT" "summary counts the rules left out"
assert_grep "rules: 11 YARA rule\(s\)" "$CR_OUT" "the other files' rules are used"
expect_exit 0 cr findings --json
grep -q '"yara:php_eval_post"' "$CR_OUT" || fail "the rules that compile are used"
expect_exit 0 cr hunt --no-builtin-rules --rules more --skip-broken-rules --force --json
python3 - "$CR_OUT" <<'PY' || fail "json counts"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["yara_files_skipped"] == 1 and h["yara_rules_skipped"] == 2, h
assert any("broken.yar" in w["path"] for w in h["warnings"]), h["warnings"]
PY
pass "--skip-broken-rules names the broken file, counts what was left out, hunts with the rest"
