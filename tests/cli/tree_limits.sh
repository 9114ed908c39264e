# One rule for the shape of a tree (src/vault/vault.h): backup refuses, with a
# counted warning (exit 5), the paths longer than 4095 bytes and the folders
# nested deeper than 512 levels, which restore could not write back; what it
# stores, up to those limits exactly, restores with exit 0.
set -u
. "${CR_TESTLIB:?}"

export CLEANROOM_REPO=$SCRATCH/vault
expect_exit 0 cr init --kdf interactive
P=$(pwd -P)
mkdir -p src/long src/deep
python3 - "$P/src" <<'PY' || fail "cannot build the test tree"
import os, sys
src = sys.argv[1]

def chain(start, names):
    """Create folders start/names[0]/names[1]/... with *at calls; return the last fd."""
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY)
    for n in names:
        os.mkdir(n, dir_fd=fd)
        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd

def touch(fd, name, data=b"x\n"):
    f = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, data)
    os.close(f)

# Long paths: the file "keep..." is exactly 4095 bytes long (with its leading
# '/'), its sibling "drop..." one byte longer.
base = src + "/long"
names, length = [], len(base)
while 4095 - length > 250:
    names.append("a" * 200)
    length += 201
fd = chain(base, names)
rest = 4095 - length - 1            # bytes of the last name
touch(fd, "k" * rest, b"kept\n")
touch(fd, "d" * (rest + 1), b"dropped\n")
os.close(fd)

# Depth: the folder with 512 components is kept (with its file), its
# sub-folder (513 components) is refused.
base = src + "/deep"
depth = base.count("/")
fd = chain(base, ["d"] * (512 - depth))
touch(fd, "bottom.txt")
os.mkdir("too-deep", dir_fd=fd)
nfd = os.open("too-deep", os.O_RDONLY, dir_fd=fd)
touch(nfd, "lost.txt")
os.close(nfd)
os.close(fd)
PY

expect_exit 5 cr backup --source limits src
assert_grep "warning: .*/ddd+: path longer than 4095 bytes: not backed up" "$CR_ERR" \
    "the too long path is refused at backup, with a warning"
assert_grep "warning: .*/too-deep: folder nested deeper than 512 levels: not backed up" "$CR_ERR" \
    "the too deep folder is refused at backup, with a warning"
grep -q "kkkk" "$CR_ERR" && fail "the 4095-byte path was refused"
expect_exit 0 cr snapshots --json
python3 - "$CR_OUT" <<'PY' || fail "the refused items are counted as errors of the snapshot"
import json, sys
s = json.load(open(sys.argv[1]))
s = s if isinstance(s, list) else s.get("snapshots", s)
assert s[-1]["errors"] == 2, s[-1]
PY
pass "backup refuses what restore could not write, and says so (exit 5)"

expect_exit 0 cr restore limits:latest --target "$SCRATCH/out"
python3 - "$SCRATCH/out" "$P/src" <<'PY' || fail "files at the limits are restored"
import os, sys
out, src = sys.argv[1], sys.argv[2]
# Walk down with *at calls: the restored paths are longer than PATH_MAX.
def walk_to(root, rel):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for n in rel.strip("/").split("/"):
        nfd = os.open(n, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    return fd
fd = walk_to(out, src + "/long")
while True:
    ents = os.listdir(fd)
    sub = [e for e in ents if e.startswith("a")]
    if not sub:
        break
    nfd = os.open(sub[0], os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
ents = os.listdir(fd)
assert len(ents) == 1 and ents[0].startswith("k"), ents
f = os.open(ents[0], os.O_RDONLY, dir_fd=fd)
assert os.read(f, 100) == b"kept\n"
os.close(fd)
fd = walk_to(out, src + "/deep")
depth = (src + "/deep").count("/")
for i in range(512 - depth):
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
assert sorted(os.listdir(fd)) == ["bottom.txt"], os.listdir(fd)
PY
pass "what backup stored restores whole (exit 0), up to the limits exactly"

expect_exit 0 cr verify
expect_exit 0 cr diff limits:latest limits:latest
pass "verify and diff follow the same depth"
