#!/bin/bash
# End-to-end: back up a real Debian system tree (debootstrap minbase, as root
# so ownership is real) plus a folder of awkward files, restore it, and prove
# that content AND metadata are identical (tests/e2e/treecmp.py): type, mode,
# uid, gid, size, mtime (ns), symlink targets, device numbers, xattrs, ACLs,
# hard-link groups and sparseness.
. "$(dirname "$0")/e2e-lib.bash"
. "$CR_SRC/tests/debian-tree.sh"

e2e_require_root
DEB=$(cr_debian_tree) || e2e_skip "no debootstrap tree (see messages above)"
e2e_log "debian tree: $DEB ($(find "$DEB" | wc -l) paths)"

# --- awkward files beside the Debian tree (the cache itself stays read-only)
X="$SCRATCH/extras"
mkdir -p "$X/dir with space" "$X/acl-dir"
printf 'xattr file\n' >"$X/xattr-file"
setfattr -n user.x -v "hello" "$X/xattr-file"
setfattr -n user.binary -v 0x00ff10 "$X/xattr-file"
setfattr -n user.empty "$X/xattr-file" 2>/dev/null || true
printf 'acl file\n' >"$X/acl-file"
setfacl -m u:nobody:rw-,g:daemon:r-- "$X/acl-file"
setfacl -m u:nobody:rwx "$X/acl-dir"
setfacl -d -m u:nobody:r-x,g:daemon:rwx "$X/acl-dir"
mkfifo "$X/fifo"
chmod 0640 "$X/fifo"
printf 'linked\n' >"$X/hardlink-a"
ln "$X/hardlink-a" "$X/dir with space/hardlink-b"
ln "$X/hardlink-a" "$X/hardlink-c"
# Sparse: 1 GiB with a few written blocks and big holes between them.
truncate -s 1G "$X/sparse"
for off in 0 300 700; do
    head -c 65536 /dev/urandom | dd of="$X/sparse" bs=1M seek="$off" conv=notrunc status=none
done
printf 'tail' | dd of="$X/sparse" bs=1 seek=$((1024 * 1024 * 1024 - 4)) conv=notrunc status=none
# A file that ends in a hole.
truncate -s 64M "$X/sparse-tail"
printf 'head' | dd of="$X/sparse-tail" conv=notrunc status=none
printf 'newline\n' >"$X/name with
newline"
printf 'tab\n' >"$X/tab	name"
printf 'utf8\n' >"$X/Überweisung-€.txt"
printf 'latin1\n' >"$X/$(printf 'caf\xe9')"
printf 'empty follows\n' >"$X/nonempty"
: >"$X/empty"
mknod "$X/chardev" c 1 3
mknod "$X/blockdev" b 7 200 2>/dev/null || true
ln -s "dir with space/hardlink-b" "$X/relative-link"
ln -s /nonexistent/absolute "$X/dangling-link"
touch -h -d '2001-02-03 04:05:06.123456789' "$X/dangling-link"
chmod 4755 "$X/nonempty"
chmod 1777 "$X/dir with space"
chown 1234:5678 "$X/empty"
chown -h 4321:8765 "$X/relative-link"
chmod 2750 "$X/acl-dir"
touch -d '1999-12-31 23:59:59.999999999' "$X/xattr-file"
touch -d '2030-01-01 00:00:00.5' "$X/acl-file"
# Directory mtimes last (creating entries changed them).
touch -d '2011-11-11 11:11:11.111111111' "$X/dir with space" "$X/acl-dir"
touch -d '2012-12-12 12:12:12' "$X"

e2e_init_vault
e2e_log "backup of $DEB and $X"
e2e_run --json backup --source debian --threads 2 "$DEB" "$X"
e2e_expect_rc 0 "backup of the debian tree"
SNAP=$(e2e_backup_id) || e2e_fail "backup --json did not print an object with an id"
[[ "$SNAP" =~ ^[0-9a-f]{64}$ ]] || e2e_fail "backup --json id is not 64 hex: $SNAP"
NFILES=$(e2e_json_get "$OUT" 'j["files"]')
[ "$NFILES" -gt 5000 ] || e2e_fail "snapshot counts only $NFILES files"
e2e_log "snapshot ${SNAP:0:8}: $NFILES files, $(e2e_json_get "$OUT" 'j["bytes"]') bytes," \
    "$(e2e_json_get "$OUT" 'j["bytes_new"]') new bytes, vault $(du -sh "$REPO" | cut -f1)"

# `ls` must show the special files with their types.
e2e_ok ls --json "$SNAP"
python3 - "$OUT" <<'EOF' || e2e_fail "ls --json of the snapshot lacks expected entries (see above)"
import json, sys
j = json.load(open(sys.argv[1]))
types = {}
for e in j:
    types[e["path"].rstrip("/").rsplit("/", 1)[-1]] = e["type"]
want = {"fifo": "fifo", "chardev": "chardev", "relative-link": "symlink", "sparse": "file",
        "acl-dir": "dir", "passwd": "file"}
bad = {k: types.get(k) for k, v in want.items() if types.get(k) != v}
if bad:
    print("ls --json: wrong or missing types:", bad, file=sys.stderr)
    sys.exit(1)
EOF

T="$SCRATCH/restore"
e2e_log "restore"
e2e_run restore "$SNAP" --target "$T" --threads 2
e2e_expect_rc 0 "restore of the debian snapshot"
RD=$(e2e_restored_root "$T" "$DEB") || e2e_fail "restored debian tree not found"
RX=$(e2e_restored_root "$T" "$X") || e2e_fail "restored extras not found"

e2e_log "compare $DEB with $RD"
# The cache's root has the marker file; everything is compared.
if ! e2e_treecmp "$DEB" "$RD" >"$SCRATCH/cmp-deb"; then
    cat "$SCRATCH/cmp-deb" >&2
    e2e_fail "restored debian tree differs from the original ($(wc -l <"$SCRATCH/cmp-deb") lines above)"
fi
e2e_log "compare $X with $RX"
if ! e2e_treecmp "$X" "$RX" >"$SCRATCH/cmp-x"; then
    cat "$SCRATCH/cmp-x" >&2
    e2e_fail "restored extras differ from the originals (see above)"
fi
# Belt and braces on the awkward ones (treecmp covers them, but say it plainly).
[ "$(getfattr --only-values -n user.x "$RX/xattr-file" 2>/dev/null)" = hello ] ||
    e2e_fail "xattr user.x lost"
getfacl -p "$RX/acl-dir" 2>/dev/null | grep '^default:user:nobody:r-x' >/dev/null ||
    e2e_fail "default ACL of acl-dir lost"
[ "$(stat -c %b "$RX/sparse")" -lt 100000 ] || e2e_fail "sparse file restored dense"

# A second backup of the unchanged trees must store (almost) nothing new.
e2e_run --json backup --source debian --threads 2 "$DEB" "$X"
e2e_expect_rc 0 "second backup"
NEW=$(e2e_json_get "$OUT" 'j["bytes_new"]')
UNCH=$(e2e_json_get "$OUT" 'j["files_unchanged"]')
[ "$NEW" -lt 1048576 ] || e2e_fail "unchanged second backup stored $NEW new bytes"
[ "$UNCH" -gt 5000 ] || e2e_fail "unchanged second backup reports only $UNCH unchanged files"
SNAP2=$(e2e_backup_id)
e2e_ok diff --json "$SNAP" "$SNAP2"
n=$(e2e_json_get "$OUT" 'len(j["added"]) + len(j["removed"]) + len(j["modified"])')
[ "$n" -eq 0 ] || { e2e_show; e2e_fail "diff of two backups of unchanged trees reports $n differences"; }

e2e_run verify --read-data
e2e_expect_rc 0 "verify --read-data"
e2e_pass
