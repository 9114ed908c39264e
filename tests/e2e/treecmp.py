#!/usr/bin/env python3
"""Compare two directory trees: content AND metadata, reporting every difference.

Usage: treecmp.py ORIG RESTORED [--no-root-meta] [--exclude RELPATH]... [--max N]

Walks both trees with lstat (never following symlinks) and compares, for
every path: type, permission bits (incl. setuid/setgid/sticky), uid, gid,
size, mtime in nanoseconds, symlink target, device numbers, every extended
attribute (including system.posix_acl_* - the POSIX ACLs), file content
(SHA-256), hard-link groups (paths sharing an inode in ORIG must share one in
RESTORED, and only those), and sparseness: a file that occupies less than
half its size on disk in ORIG must do so in RESTORED too, and not use more
than 16 MiB more space than in ORIG.

Not compared: atime and ctime (cannot be restored), nlink of directories
(follows from the tree), inode numbers. Exit 0 if identical, 1 with one line
per difference on stdout otherwise, 2 on usage errors.
"""
import hashlib
import os
import stat
import sys

SPARSE_SLACK = 16 * 1024 * 1024


def kind(m):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "chardev"), (stat.S_ISBLK, "blockdev"),
                       (stat.S_ISSOCK, "socket")):
        if test(m):
            return name
    return "unknown"


def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            out[n] = "<unreadable: %s>" % e.strerror
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def walk(root, excludes):
    """rel path (bytes) -> lstat result; rel b"." is the root."""
    res = {}
    stack = [b"."]
    rootb = os.fsencode(root)
    while stack:
        rel = stack.pop()
        if rel in excludes:
            continue
        full = os.path.join(rootb, rel) if rel != b"." else rootb
        st = os.lstat(full)
        res[rel] = st
        if stat.S_ISDIR(st.st_mode):
            for name in os.listdir(full):
                stack.append(os.path.normpath(os.path.join(rel, name)) if rel != b"." else name)
    return res


def show(rel):
    return repr(os.fsdecode(rel))


def main(argv):
    args = []
    excludes = set()
    root_meta = True
    maxn = 200
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--no-root-meta":
            root_meta = False
        elif a == "--exclude":
            i += 1
            excludes.add(os.fsencode(argv[i]))
        elif a == "--max":
            i += 1
            maxn = int(argv[i])
        else:
            args.append(a)
        i += 1
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a_root, b_root = args
    A = walk(a_root, excludes)
    B = walk(b_root, excludes)
    diffs = []

    def diff(rel, what):
        diffs.append("%s: %s" % (show(rel), what))

    for rel in sorted(set(A) - set(B)):
        diff(rel, "missing in restored tree (%s)" % kind(A[rel].st_mode))
    for rel in sorted(set(B) - set(A)):
        diff(rel, "extra in restored tree (%s)" % kind(B[rel].st_mode))

    inode_a = {}
    inode_b = {}
    for rel in sorted(set(A) & set(B)):
        sa, sb = A[rel], B[rel]
        pa = os.path.join(os.fsencode(a_root), rel)
        pb = os.path.join(os.fsencode(b_root), rel)
        ka, kb = kind(sa.st_mode), kind(sb.st_mode)
        if ka != kb:
            diff(rel, "type %s -> %s" % (ka, kb))
            continue
        if ka != "dir":
            inode_a.setdefault((sa.st_dev, sa.st_ino), []).append(rel)
            inode_b.setdefault((sb.st_dev, sb.st_ino), []).append(rel)
        if rel == b"." and not root_meta:
            continue
        if stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode) and ka != "symlink":
            diff(rel, "mode %o -> %o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
        if sa.st_uid != sb.st_uid:
            diff(rel, "uid %d -> %d" % (sa.st_uid, sb.st_uid))
        if sa.st_gid != sb.st_gid:
            diff(rel, "gid %d -> %d" % (sa.st_gid, sb.st_gid))
        if sa.st_mtime_ns != sb.st_mtime_ns:
            diff(rel, "mtime %d -> %d ns" % (sa.st_mtime_ns, sb.st_mtime_ns))
        if ka in ("file", "symlink") and sa.st_size != sb.st_size:
            diff(rel, "size %d -> %d" % (sa.st_size, sb.st_size))
        if ka in ("chardev", "blockdev") and sa.st_rdev != sb.st_rdev:
            diff(rel, "rdev %d:%d -> %d:%d" % (os.major(sa.st_rdev), os.minor(sa.st_rdev),
                                                os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if ka == "symlink":
            ta, tb = os.readlink(pa), os.readlink(pb)
            if ta != tb:
                diff(rel, "link target %r -> %r" % (ta, tb))
        xa, xb = xattrs(pa), xattrs(pb)
        if xa != xb:
            for n in sorted(set(xa) | set(xb)):
                if xa.get(n) != xb.get(n):
                    diff(rel, "xattr %s: %r -> %r" % (n, xa.get(n), xb.get(n)))
        if ka == "file":
            if sa.st_size == sb.st_size and digest(pa) != digest(pb):
                diff(rel, "content differs")
            used_a, used_b = sa.st_blocks * 512, sb.st_blocks * 512
            if sa.st_size > 0 and used_a * 2 < sa.st_size:
                if used_b * 2 >= sb.st_size or used_b > used_a + SPARSE_SLACK:
                    diff(rel, "sparse file not sparse after restore: %d of %d bytes allocated "
                              "(original %d)" % (used_b, sb.st_size, used_a))

    # Hard-link groups: the partition of paths by inode must be the same.
    def groups(m):
        g = {}
        for paths in m.values():
            s = frozenset(paths)
            for p in paths:
                g[p] = s
        return g

    ga, gb = groups(inode_a), groups(inode_b)
    seen = set()
    for rel in sorted(set(ga) & set(gb)):
        if ga[rel] != gb[rel] and rel not in seen:
            seen |= ga[rel]
            diff(rel, "hard-link group %s -> %s" % (sorted(map(os.fsdecode, ga[rel])),
                                                    sorted(map(os.fsdecode, gb[rel]))))

    for d in diffs[:maxn]:
        print(d)
    if len(diffs) > maxn:
        print("... and %d more differences" % (len(diffs) - maxn))
    print("treecmp: %d paths compared, %d differences" % (len(set(A) | set(B)), len(diffs)),
          file=sys.stderr)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
