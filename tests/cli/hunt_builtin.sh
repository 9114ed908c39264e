# The rules shipped in the source tree (rules/) are found without any setting,
# and their starter pack catches a PHP web shell, the EICAR test file and a
# ransom note, while an ordinary web root stays below high.
set -u
. "${CR_TESTLIB:?}"

[ -d "$CR_SRC/rules/yara" ] || { echo "skip: no rules/ folder in the source tree"; exit 77; }
unset CLEANROOM_RULES
export CLEANROOM_REPO=$SCRATCH/vault
P=$(pwd -P)
S=$P/sys

expect_exit 0 cr init --kdf interactive
mkdir -p sys/etc sys/var/www/html sys/srv/docs sys/tmp
printf 'root:x:0:0:root:/root:/bin/bash\n' > sys/etc/passwd
cat > sys/var/www/html/index.php <<'EOF'
<?php
// An ordinary page: reads a GET parameter, escapes it, prints it.
$name = isset($_GET['name']) ? htmlspecialchars($_GET['name'], ENT_QUOTES) : 'world';
echo "<h1>Hello, $name</h1>";
EOF
for i in $(seq 1 30); do printf 'Report %d\n' "$i" > "sys/srv/docs/report-$i.txt"; done
expect_exit 0 cr backup --source web --time 2026-11-01 sys
printf "<?php eval(\$_POST['x']); ?>\n" > sys/var/www/html/up.php
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > sys/tmp/eicar.com
printf 'Your files are encrypted. Pay 1 BTC to recover them.\n' > sys/srv/docs/Restore-My-Files.txt
expect_exit 0 cr backup --source web --time 2026-11-02 sys

expect_exit 0 cr hunt --json
python3 - "$CR_OUT" "$CR_SRC/rules" <<'PY' || fail "the source tree's rules are used"
import json, os, sys
h = json.load(open(sys.argv[1]))
assert os.path.realpath(h["rules_dir"]) == os.path.realpath(sys.argv[2]), h["rules_dir"]
assert h["yara_rules"] > 0, h
PY
expect_exit 0 cr findings --json
python3 - "$CR_OUT" "$S" <<'PY' || fail "the starter pack catches the samples"
import json, sys
F = json.load(open(sys.argv[1]))["findings"]
S = sys.argv[2]
SEV = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
def top(path, prefix):
    s = [SEV[f["severity"]] for f in F if f["path"] == path and f["indicator"].startswith(prefix)]
    return max(s) if s else -1
assert top(S + "/var/www/html/up.php", "yara:") >= 3, "web shell"
assert top(S + "/tmp/eicar.com", "") >= 3, "EICAR"
assert top(S + "/srv/docs/Restore-My-Files.txt", "ransomware:note") >= 3, "ransom note"
assert top(S + "/var/www/html/index.php", "") < 3, "an ordinary page stays below high"
PY
pass "shipped rules found and working"
