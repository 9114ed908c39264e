# Ransomware seen at backup time, for disk images: the files inside the
# image's ext4 are compared with the previous image snapshot, and judged on
# the blocks the chunk pass reads anyway. Day 1 a normal tree, day 2 an
# ordinary edit (nothing raised), day 3 hundreds of files replaced by random
# content renamed .lockbit with ransom notes (exit 11, tagged suspect, one
# line). A second VM whose files are encrypted in place, names kept, is caught
# by the near-random test alone; with the thresholds raised it is not.
set -u
. "${CR_TESTLIB:?}"
. "${CR_SRC:?}/tests/image-lib.bash"
img_need mke2fs || exit 77
unset CLEANROOM_RULES # the shipped rules: their ransomware extensions and note names

cr init --repo vault --kdf interactive >/dev/null || fail "init"
python3 - <<'EOF' || fail "make the tree"
import os, random
random.seed(1)
words = "patient dossier consultation ordonnance radiologie compte rendu admission".split()
for i in range(600):
    d = "tree/home/docs/service%02d" % (i % 20)
    os.makedirs(d, exist_ok=True)
    with open("%s/doc%04d.txt" % (d, i), "w") as f:
        f.write(" ".join(random.choice(words) for _ in range(1000)) + "\n")
os.makedirs("tree/etc", exist_ok=True)
with open("tree/etc/hostname", "w") as f:
    f.write("dpi\n")
EOF
# (A random head may start like a known format, two bytes of magic: such a file is not
# counted near-random, so the counts below allow a few.)
# mkimg FOLDER IMAGE: an ext4 filesystem image filled from FOLDER, without mounting
mkimg() {
    rm -f "$2"
    mke2fs -q -F -t ext4 -b 4096 -d "$1" "$2" 64M >/dev/null 2>&1 || fail "mke2fs -d $1"
}
tags_of() { # SNAPSHOT-PREFIX -> the snapshot's tags, comma-separated
    cr snapshots --repo vault --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d if isinstance(d, list) else d["snapshots"]
s = [x for x in d if x["id"].startswith(sys.argv[1])]
print(",".join(s[0].get("tags") or []))' "$1"
}
snap_of() { sed -n 's/^snapshot \([0-9a-f]*\) saved.*$/\1/p' "$CR_OUT"; }
cp -a tree tree2 # the second VM

# ------------------------------------------------------------------ day 1
mkimg tree vm.img
expect_exit 0 cr backup --repo vault --source vm --image vm.img
[ -z "$(tags_of "$(snap_of)")" ] || fail "first image backup tagged"
pass "day 1: first image backup"

# ------------------------------------------------------------------ day 2: an ordinary day
python3 - <<'EOF'
for i in range(0, 600, 50):    # 12 documents edited, 5 added
    with open("tree/home/docs/service%02d/doc%04d.txt" % (i % 20, i), "a") as f:
        f.write("complément du jour\n")
for i in range(5):
    with open("tree/home/docs/service00/new%02d.txt" % i, "w") as f:
        f.write("nouveau compte rendu %d\n" % i)
EOF
mkimg tree vm.img
expect_exit 0 cr backup --repo vault --source vm --image vm.img
grep -q "ransomware" "$CR_ERR" && fail "an ordinary day raised ransomware signals"
[ -z "$(tags_of "$(snap_of)")" ] || fail "an ordinary day was tagged"
pass "day 2: an ordinary day raises nothing"

# ------------------------------------------------------------------ day 3: the ransomware night
encrypt() { # DIR RENAME(1/0): 300 documents become random bytes (.lockbit), a note per folder
    python3 - "$1" "$2" <<'EOF'
import os, sys
n = 0
for root, dirs, files in sorted(os.walk(sys.argv[1])):
    for name in sorted(files):
        if name.startswith("doc") and n < 300:
            p = os.path.join(root, name)
            size = os.path.getsize(p)
            with open(p + (".lockbit" if sys.argv[2] == "1" else ""), "wb") as f:
                f.write(os.urandom(size))
            if sys.argv[2] == "1":
                os.remove(p)
            n += 1
    if sys.argv[2] == "1":
        with open(os.path.join(root, "Restore-My-Files.txt"), "w") as f:
            f.write("All your files are encrypted by LockBit.\n")
EOF
}
encrypt tree/home/docs 1
mkimg tree vm.img
expect_exit 11 cr backup --repo vault --source vm --image vm.img
id=$(snap_of)
[ -n "$id" ] || fail "the suspect image snapshot is saved"
assert_eq "$(tags_of "$id")" "suspect" "the image snapshot is tagged suspect"
assert_grep "^warning: ransomware signals: 300 file\(s\) got a ransomware extension and (29[0-9]|300) became near-random, of [0-9]+ files .*, e\.g\. /disk0/fs/home/docs/.*\.lockbit; snapshot $id is saved as evidence, tagged 'suspect'$" \
    "$CR_ERR" "one line says why, with a path inside the disk"
[ "$(grep -c 'ransomware signals' "$CR_ERR")" = 1 ] || fail "one line, not one per file"
pass "day 3: the ransomware night: exit 11, tagged suspect, one line"

# ------------------------------------------------------------------ encrypted in place
# Two VMs with the same disk (vm2, vm2b); their documents encrypted in place, names kept.
mkimg tree2 vm2.img
expect_exit 0 cr backup --repo vault --source vm2 --image vm2.img
expect_exit 0 cr backup --repo vault --source vm2b --image vm2.img
encrypt tree2/home/docs 0
mkimg tree2 vm2.img
expect_exit 11 cr backup --repo vault --source vm2 --image vm2.img
assert_grep "^warning: ransomware signals: 0 file\(s\) got a ransomware extension and (29[0-9]|300) became near-random, of [0-9]+ files \(0 added, 300 changed\); snapshot" \
    "$CR_ERR" "the near-random blocks alone"
assert_eq "$(tags_of "$(snap_of)")" "suspect" "tagged suspect"
# Thresholds raised past it: saved untagged, exit 0.
expect_exit 0 cr backup --repo vault --source vm2b --image vm2.img \
    --ransomware-threshold changed=1000,renamed=1000
grep -q "ransomware" "$CR_ERR" && fail "raised thresholds still raised the signals"
[ -z "$(tags_of "$(snap_of)")" ] || fail "raised thresholds: tagged"
pass "encrypted in place: near-random blocks raise it; thresholds apply"

# ------------------------------------------------------------------ the same night, as an image job
start_sink "$SCRATCH/sink" --journal "$SCRATCH/journal.sock"
export CLEANROOM_JOURNAL_SOCKET=$SCRATCH/journal.sock
cat > jobs.yaml <<EOF
vault: $SCRATCH/vault
mail:
  relay: smtp://127.0.0.1:$(cat sink/port)
  starttls: false
  from: cleanroom@chu.example
  to: [dsi@chu.example]
jobs:
  - name: vmjob
    images: [$SCRATCH/vmjob.img]
    schedule: daily 02:00
    rpo: 26h
    hunt: false
    ransomware: {renamed: 50, changed: 50}
    notify: [mail, syslog]
EOF
cp -a tree2 tree-job
mkimg tree-job vmjob.img
expect_exit 0 cr job run vmjob --jobs jobs.yaml
python3 - tree-job <<'EOF'
import os, sys
for root, dirs, files in os.walk(sys.argv[1]):  # 20 files: below the job's own thresholds
    for name in sorted(files)[:1] if "service" in root else []:
        with open(os.path.join(root, name + ".lockbit"), "wb") as f:
            f.write(os.urandom(8192))
EOF
mkimg tree-job vmjob.img
expect_exit 0 cr job run vmjob --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "below the job's thresholds: not suspect"
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]
assert r["suspect"] is False and r["exit"] == 0, r
EOF
encrypt tree-job/home/docs 1
mkimg tree-job vmjob.img
expect_exit 11 cr job run vmjob --jobs jobs.yaml --json
python3 - "$CR_OUT" <<'EOF' || fail "job run --json says suspect"
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]
assert r["suspect"] is True and r["exit"] == 11 and "ransomware" in r["alerts"], r
EOF
for _ in $(seq 50); do [ -f sink/1.eml ] && break; sleep 0.1; done
[ "$(ls sink | grep -c eml)" = 1 ] || fail "one mail for the night"
grep -q "^X-Cleanroom-Event: ransomware" sink/1.eml || fail "the mail is the ransomware alert"
grep -q "CLEANROOM_EVENT=ransomware" sink/journal || fail "the journal entry"
expect_exit 2 cr status --repo vault --jobs jobs.yaml --check
assert_grep "vmjob: last backup tagged suspect" "$CR_OUT" "status --check: the image job is critical"
pass "image job: its thresholds, exit 11, alert mail, journal entry, status"
