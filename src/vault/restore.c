/*
 * cr_restore: put a snapshot (or some of its paths) back on disk.
 *
 * Two phases.
 *
 * 1. The walk (one thread) loads the snapshot's trees and creates folders,
 *    symlinks, FIFOs, devices, hard links and the files without stored data
 *    (empty or all holes, truncated to their size so holes stay holes).
 *    Every name read from the vault is judged with cr_name_is_safe, and every
 *    creation is relative to the fd of its parent folder, opened with
 *    O_NOFOLLOW: whatever a damaged or hostile snapshot contains, and whatever
 *    already sits in the target (a symlink pointing outside, say), nothing is
 *    ever created or written outside the target. The walk also records every
 *    extent to write as a "need" (blob location, file, offset).
 *
 * 2. The data phase sorts the needs by pack and offset and hands packs to
 *    worker threads. A worker reads the ranges of its pack that are needed
 *    (nearby ranges coalesced into one pread), decodes each blob once and
 *    pwrites the part each place uses (an extent is the bytes [blob_off,
 *    blob_off + len) of its blob: the files seen inside a disk image share
 *    the disk's 4 MiB chunks, thousands of small files in one blob) into every
 *    place that uses it. This reads each pack once, in
 *    order, whatever the order of files in the snapshot, and lets threads work
 *    on different packs. Files are created and opened through openat2 with
 *    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS relative to the target, so a path
 *    can never leave it; each worker keeps a small cache of open files, so
 *    descriptors stay bounded. The first worker to write to a file creates it
 *    (and truncates it to its size when it ends in a hole); the worker that
 *    writes its last extent sets its metadata while the file is open (the
 *    common small file costs one openat2, one pwrite, a few f*() calls and a
 *    close).
 *
 * Metadata of folders is set last, deepest first, because creating entries
 * in a folder changes its mtime (and a read-only folder would stop us).
 *
 * Damaged data: a file that needs a blob that is missing or fails to
 * authenticate, or whose data could not be written (a full disk), is counted
 * in stats->failed and never keeps the look of a good copy: once the data
 * phase is over (rs_sweep), what could be written is renamed
 * NAME.cleanroom-damaged, left with mode 0600 and the time of the restore (a
 * partly recovered database or log can still be salvaged by hand; the lost
 * ranges read as zeros), or removed when it cannot be renamed; one warning
 * per file ("lost: ...; ...") says which. The restore then returns
 * CR_EPARTIAL. When the target's device fills up, the workers stop; every
 * file not written is reported the same way, so the list of what is missing
 * is complete.
 *
 * The target: a folder that holds data is refused (CR_EEXISTS) unless
 * opts->overwrite, by the same rule as a recovery (cr_restore_target_check).
 * With overwrite, folders that already existed above the snapshot's backed-up
 * paths (/srv of a backup of /srv/www, restored to "/") keep their metadata.
 * A dry run (opts->dry_run) walks the trees, creates nothing and counts.
 *
 * Skips (options of version 2) name snapshot paths not to restore, e.g. the
 * files a hunt flagged, which the command puts into a quarantine folder with a
 * second restore. They are kept sorted; the walk looks each node's path up
 * before creating it (a skipped folder is never entered), and an included
 * path at or below a skipped one is left out. A skipped item is not an error
 * and is not counted.
 */
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Coalesce needed ranges of a pack separated by at most this many bytes... */
#define RS_GAP (256u * 1024)
/* ...into reads of at most this many bytes. */
#define RS_MAX_RUN (32u * 1024 * 1024)
/* Open files kept per worker (bounded further by RLIMIT_NOFILE). */
#define RS_FD_CACHE 32

typedef struct rs_file {
    char *path;              /* relative to the target */
    char *why;               /* first failure, reported by rs_sweep */
    const cr_node *node;     /* borrowed from a tree kept in rs_ctx */
    atomic_size_t remaining; /* extents still to write (or to give up) */
    atomic_int failed;
    atomic_int state; /* RS_TO_CREATE, RS_CREATING, RS_CREATED, RS_NOT_CREATED */
    uint64_t end;     /* end of the last extent to write (ftruncate if < size) */
    /*
     * The inode we created (set before state becomes RS_CREATED). A worker
     * that reopens the file by path checks it got that inode: a path in the
     * target can be swapped meanwhile for a hard link to a file outside it,
     * which RESOLVE_NO_SYMLINKS does not catch.
     */
    dev_t st_dev;
    ino_t st_ino;
} rs_file;

/*
 * A file with content is created by the first worker that writes to it (one
 * openat2 instead of a create in the walk plus an open in the data phase: the
 * common small file costs a single path lookup).
 */
enum { RS_TO_CREATE = 0, RS_CREATING, RS_CREATED, RS_NOT_CREATED };

typedef struct rs_dir {
    char *path; /* relative to the target ("" never: the target keeps its own metadata) */
    const cr_node *node;
    dev_t st_dev; /* the folder we created or entered: its metadata is set by path, at the */
    ino_t st_ino; /* end, so check the path still names it */
    int keep_meta; /* it existed, above the backed-up paths: its metadata is not ours */
} rs_dir;

typedef struct rs_need {
    cr_blob_loc loc;
    size_t file;       /* index into rs_ctx.files */
    uint64_t offset;   /* in the file */
    uint32_t blob_off; /* the bytes [blob_off, blob_off + len) of the blob */
    uint32_t len;
} rs_need;

typedef struct rs_link {
    uint64_t dev, ino;
    char *path; /* first restored path of this inode, relative to the target */
} rs_link;

typedef struct rs_ctx {
    cr_repo *repo;
    cr_index *idx;
    const cr_restore_options *opts;
    const cr_snapshot *snap;
    int dry_run, overwrite; /* options of version 3 */
    int salvage;            /* cr_restore_salvage: damaged files keep their names */
    int rootfd;
    int chown_ok, is_root;
    int may_inherit; /* a folder we did not create may pass its default ACL on */

    cr_tree **trees; /* kept until the end: nodes are borrowed from them */
    size_t ntrees, captrees;
    cr_node *incl_nodes; /* nodes of included paths (owned copies) */
    size_t nincl_nodes;
    char **skips; /* paths not to restore (canonical, sorted; version 2 options) */
    size_t nskips;
    int skip_all; /* one of them is the root */

    rs_file *files;
    size_t nfiles, capfiles;
    rs_dir *dirs;
    size_t ndirs, capdirs;
    rs_need *needs;
    size_t nneeds, capneeds;
    rs_link *links; /* open addressing on (dev, ino) */
    size_t nlinks, caplinks;

    size_t *jobs; /* start index of each pack's needs; jobs[njobs] = nneeds */
    size_t njobs;
    atomic_size_t next_job;
    int fd_cache_size;

    atomic_uint_fast64_t files_done;
    uint64_t dirs_done, others_done, bytes_files, sockets_skipped;
    uint64_t bytes_total;
    atomic_uint_fast64_t bytes_done, failed, meta_incomplete;
    atomic_uint_fast64_t damaged; /* of the failed: data lost because vault data is damaged */
    atomic_int abort_err; /* fatal error seen by a worker (no space left...) */

    pthread_mutex_t mu; /* warnings, worker completion */
    pthread_cond_t cond;
    int workers_left;
    double t0, last_progress;
    uint64_t walked;
} rs_ctx;

/* ------------------------------------------------------------ warnings */

/* Format a message about `rel` and hand it to `cb` (if any). */
static void rs_report(rs_ctx *c, cr_warning_cb cb, const char *rel, const char *fmt, va_list ap)
{
    char msg[1024], path[PATH_MAX + 2];
    if (!cb)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    snprintf(path, sizeof(path), "/%s", rel);
    /* Workers report concurrently; the caller's callback need not be thread-safe. */
    pthread_mutex_lock(&c->mu);
    cb(path, msg, c->opts->payload);
    pthread_mutex_unlock(&c->mu);
}

/* An item could not be (fully) restored: a warning. */
static void rs_warn(rs_ctx *c, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rs_warn(rs_ctx *c, const char *rel, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rs_report(c, c->opts->warning, rel, fmt, ap);
    va_end(ap);
}

/* An item deliberately not restored (a socket): reported apart, not an error. */
static void rs_not_restored(rs_ctx *c, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rs_not_restored(rs_ctx *c, const char *rel, const char *fmt, ...)
{
    va_list ap;
    if (c->opts->version < 3)
        return;
    va_start(ap, fmt);
    rs_report(c, c->opts->skipped, rel, fmt, ap);
    va_end(ap);
}

/* Metadata of an item whose data is restored could not be set: a notice. */
static void rs_meta(rs_ctx *c, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rs_meta(rs_ctx *c, const char *rel, const char *fmt, ...)
{
    va_list ap;
    atomic_fetch_add(&c->meta_incomplete, 1);
    va_start(ap, fmt);
    rs_report(c, c->opts->notice ? c->opts->notice : c->opts->warning, rel, fmt, ap);
    va_end(ap);
}

/*
 * Count a file as failed once, with the first reason. The warning comes from
 * rs_sweep, which knows what became of the file (renamed, removed).
 */
/* @return 1 if this is the first failure of the file (it was counted). */
static int rs_fail_file(rs_ctx *c, rs_file *f, const char *msg)
{
    if (atomic_exchange(&f->failed, 1) == 0) {
        atomic_fetch_add(&c->failed, 1);
        f->why = cr_strdup(msg); /* NULL (out of memory): a shorter warning */
        return 1;
    }
    return 0;
}

/* Some data of the file is gone. */
static void rs_lost(rs_ctx *c, rs_file *f, const char *reason)
{
    char msg[768];
    if (atomic_load(&f->failed))
        return;
    snprintf(msg, sizeof(msg), "lost: %s", reason);
    if (rs_fail_file(c, f, msg))
        atomic_fetch_add(&c->damaged, 1); /* the vault's data, not the target, is at fault */
}

/* ------------------------------------------------------------ safe open */

/*
 * Open `rel` (relative to the target) without ever following a symlink or
 * leaving the target, whatever was put into the target meanwhile.
 */
static atomic_int no_openat2;

static int open_beneath(int rootfd, const char *rel, int flags)
{
    if (!*rel)
        rel = ".";
    if (!atomic_load(&no_openat2)) {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -1;
        atomic_store(&no_openat2, 1);
    }
    /* Old kernels: walk component by component, refusing symlinks at each step. */
    char buf[PATH_MAX];
    if (strlen(rel) >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, rel);
    int dfd = dup(rootfd);
    if (dfd < 0)
        return -1;
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (!cr_name_is_safe(p)) {
            close(dfd);
            errno = EINVAL;
            return -1;
        }
        int nfd = openat(dfd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dfd);
        if (nfd < 0) {
            errno = e;
            return -1;
        }
        dfd = nfd;
        p = slash + 1;
    }
    if (strcmp(p, ".") != 0 && !cr_name_is_safe(p)) {
        close(dfd);
        errno = EINVAL;
        return -1;
    }
    int fd = openat(dfd, p, flags | O_CLOEXEC | O_NOFOLLOW);
    int e = errno;
    close(dfd);
    errno = e;
    return fd;
}

/* ------------------------------------------------------------ metadata */

static void ns_to_ts(struct timespec *ts, int64_t ns)
{
    int64_t s = ns / 1000000000, r = ns % 1000000000;
    if (r < 0) {
        r += 1000000000;
        s--;
    }
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)r;
}

static void node_times(struct timespec ts[2], const cr_node *n)
{
    ns_to_ts(&ts[0], n->atime_ns);
    ns_to_ts(&ts[1], n->mtime_ns);
}

static int is_acl_xattr(const char *name)
{
    return strncmp(name, "system.posix_acl_", 17) == 0;
}

static void set_acl_path(rs_ctx *c, const char *path, const char *rel, acl_type_t type,
                         const char *text)
{
    acl_t acl = acl_from_text(text);
    if (!acl) {
        rs_meta(c, rel, "cannot restore ACL: invalid ACL text in snapshot");
        return;
    }
    if (acl_set_file(path, type, acl) < 0)
        rs_meta(c, rel, "cannot restore %sACL: %s", type == ACL_TYPE_DEFAULT ? "default " : "",
                strerror(errno));
    acl_free(acl);
}

/*
 * Metadata of a file or folder we hold open: xattrs, ACLs, owner, then mode
 * (chown clears setuid bits), then times (every earlier call changes ctime
 * only, but writing would change mtime: this runs after the content).
 */
static void apply_fd_meta(rs_ctx *c, int fd, const char *rel, const cr_node *n)
{
    char proc[64];
    struct timespec ts[2];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    for (size_t i = 0; i < n->nxattrs; i++) {
        const cr_xattr *x = &n->xattrs[i];
        if (!x->name || is_acl_xattr(x->name))
            continue;
        if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0)
            rs_meta(c, rel, "cannot restore extended attribute %s: %s", x->name, strerror(errno));
    }
    if (n->acl_access) {
        acl_t acl = acl_from_text(n->acl_access);
        if (!acl)
            rs_meta(c, rel, "cannot restore ACL: invalid ACL text in snapshot");
        else {
            if (acl_set_fd(fd, acl) < 0)
                rs_meta(c, rel, "cannot restore ACL: %s", strerror(errno));
            acl_free(acl);
        }
    } else if (c->may_inherit && fremovexattr(fd, "system.posix_acl_access") < 0 &&
               errno != ENODATA && errno != ENOTSUP)
        rs_meta(c, rel, "cannot remove inherited ACL: %s", strerror(errno));
    if (n->type == CR_NODE_DIR) {
        if (n->acl_default)
            set_acl_path(c, proc, rel, ACL_TYPE_DEFAULT, n->acl_default); /* no fd variant */
        else if (c->may_inherit && fremovexattr(fd, "system.posix_acl_default") < 0 &&
                 errno != ENODATA && errno != ENOTSUP)
            rs_meta(c, rel, "cannot remove inherited default ACL: %s", strerror(errno));
    }
    if (c->chown_ok && fchown(fd, (uid_t)n->uid, (gid_t)n->gid) < 0)
        rs_meta(c, rel, "cannot restore owner %u:%u: %s", n->uid, n->gid, strerror(errno));
    if (fchmod(fd, (mode_t)(n->mode & 07777)) < 0)
        rs_meta(c, rel, "cannot restore permissions: %s", strerror(errno));
    node_times(ts, n);
    if (futimens(fd, ts) < 0)
        rs_meta(c, rel, "cannot restore times: %s", strerror(errno));
}

/* Metadata of a symlink, FIFO or device just created as `name` in dirfd. */
static void apply_at_meta(rs_ctx *c, int dirfd, const char *name, const char *rel, const cr_node *n)
{
    struct timespec ts[2];
    int is_link = n->type == CR_NODE_SYMLINK;
    if (n->nxattrs > 0 || n->acl_access) {
        /*
         * No *xattrat() exists: go through the node's own O_PATH descriptor,
         * whose /proc link names exactly that inode (never a symlink's target).
         */
        int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0) {
            rs_meta(c, rel, "cannot restore extended attributes: %s", strerror(errno));
        } else {
            char proc[64];
            snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
            for (size_t i = 0; i < n->nxattrs; i++) {
                const cr_xattr *x = &n->xattrs[i];
                if (!x->name || is_acl_xattr(x->name))
                    continue;
                if (setxattr(proc, x->name, x->value, x->len, 0) < 0)
                    rs_meta(c, rel, "cannot restore extended attribute %s: %s", x->name,
                            strerror(errno));
            }
            if (n->acl_access && !is_link)
                set_acl_path(c, proc, rel, ACL_TYPE_ACCESS, n->acl_access);
            close(pfd);
        }
    }
    if (c->chown_ok && fchownat(dirfd, name, (uid_t)n->uid, (gid_t)n->gid, AT_SYMLINK_NOFOLLOW) < 0)
        rs_meta(c, rel, "cannot restore owner %u:%u: %s", n->uid, n->gid, strerror(errno));
    if (!is_link && fchmodat(dirfd, name, (mode_t)(n->mode & 07777), AT_SYMLINK_NOFOLLOW) < 0)
        rs_meta(c, rel, "cannot restore permissions: %s", strerror(errno));
    node_times(ts, n);
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        rs_meta(c, rel, "cannot restore times: %s", strerror(errno));
}

/* ------------------------------------------------------------ growth helpers */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = cr_realloc(*arr, ncap * elem);
    if (!p)
        return CR_ERROR;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------------ hard links */

static size_t link_slot(const rs_ctx *c, uint64_t dev, uint64_t ino)
{
    uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 31;
    size_t mask = c->caplinks - 1, i = (size_t)h & mask;
    while (c->links[i].path && !(c->links[i].dev == dev && c->links[i].ino == ino))
        i = (i + 1) & mask;
    return i;
}

static const char *link_find(const rs_ctx *c, uint64_t dev, uint64_t ino)
{
    if (!c->caplinks)
        return NULL;
    return c->links[link_slot(c, dev, ino)].path;
}

static int link_add(rs_ctx *c, uint64_t dev, uint64_t ino, const char *path)
{
    if ((c->nlinks + 1) * 2 > c->caplinks) {
        size_t ncap = c->caplinks ? c->caplinks * 2 : 64;
        rs_link *old = c->links;
        size_t oldcap = c->caplinks;
        rs_link *nl = cr_calloc(ncap, sizeof(*nl));
        if (!nl)
            return CR_ERROR;
        c->links = nl;
        c->caplinks = ncap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].path)
                c->links[link_slot(c, old[i].dev, old[i].ino)] = old[i];
        free(old);
    }
    size_t s = link_slot(c, dev, ino);
    if (c->links[s].path)
        return 0;
    if (!(c->links[s].path = cr_strdup(path)))
        return CR_ERROR;
    c->links[s].dev = dev;
    c->links[s].ino = ino;
    c->nlinks++;
    return 0;
}

/* ------------------------------------------------------------ the walk */

static int rs_walk_tree(rs_ctx *c, int dirfd, char *path, size_t plen, const cr_id *tree,
                        int depth);
static void rs_progress(rs_ctx *c);
static int path_covers(const char *a, const char *b);

/* Remove a non-folder in the way of a new entry. @return 0 or -1 (errno set). */
static int clear_way(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

/* Hard link `name` to the first restored path of its inode. */
static int rs_link_to(rs_ctx *c, int dirfd, const char *name, const char *rel, const char *first)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(first, '/');
    const char *base = slash ? slash + 1 : first;
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - first) : 0, first);
    int pfd = open_beneath(c->rootfd, dir, O_PATH | O_DIRECTORY);
    int rc = -1;
    if (pfd >= 0) {
        rc = linkat(pfd, base, dirfd, name, 0);
        if (rc < 0 && errno == EEXIST && clear_way(dirfd, name) == 0)
            rc = linkat(pfd, base, dirfd, name, 0);
        int e = errno;
        close(pfd);
        errno = e;
    }
    if (rc < 0) {
        rs_warn(c, rel, "cannot restore hard link to /%s: %s", first, strerror(errno));
        atomic_fetch_add(&c->failed, 1);
        return -1;
    }
    return 0;
}

/* Plan the extents of a regular file; @return number of needs added or a negative error. */
static int rs_plan_file(rs_ctx *c, rs_file *f, size_t fi)
{
    const cr_node *n = f->node;
    size_t planned = 0;
    char hex[CR_ID_HEX_LEN + 1], why[256];
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *e = &n->content[i];
        cr_blob_loc loc;
        if (e->len == 0)
            continue;
        if (e->offset > n->size || e->len > n->size - e->offset) {
            rs_lost(c, f, "an extent lies beyond the end of the file (damaged tree)");
            continue;
        }
        if (!cr_index_lookup(c->idx, &e->id, &loc)) {
            snprintf(why, sizeof(why), "blob %s is not in the vault", cr_id_to_hex(hex, &e->id));
            rs_lost(c, f, why);
            continue;
        }
        /* The extent is a part of its blob (all of it, for file backups). */
        if ((uint64_t)e->blob_off + e->len > loc.entry.raw_len) {
            snprintf(why, sizeof(why), "the file's extent lies beyond the end of blob %s (%u bytes "
                     "from byte %u of %u)",
                     cr_id_to_hex(hex, &e->id), e->len, e->blob_off, loc.entry.raw_len);
            rs_lost(c, f, why);
            continue;
        }
        if (loc.entry.type != CR_BLOB_DATA || loc.entry.stored_len > CR_MAX_BLOB + 65536 ||
            loc.entry.stored_len < CR_SEAL_OVERHEAD) {
            snprintf(why, sizeof(why), "blob %s does not match the file's extent",
                     cr_id_to_hex(hex, &e->id));
            rs_lost(c, f, why);
            continue;
        }
        if (grow((void **)&c->needs, &c->capneeds, c->nneeds + 1, sizeof(rs_need)) < 0)
            return CR_ERROR;
        rs_need *nd = &c->needs[c->nneeds++];
        nd->loc = loc;
        nd->file = fi;
        nd->offset = e->offset;
        nd->blob_off = e->blob_off;
        nd->len = e->len;
        if (e->offset + e->len > f->end)
            f->end = e->offset + e->len;
        c->bytes_total += e->len;
        planned++;
    }
    atomic_store(&f->remaining, planned);
    return (int)(planned > 0);
}

/* Create a new regular file `name` in dirfd, replacing whatever non-folder is there. */
static int create_file_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        /*
         * Never write through what is there: it may be a symlink or a hard
         * link to a file outside the target. Replace it with a new file.
         */
        if (clear_way(dirfd, name) == 0)
            fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    return fd;
}

/* Create `rel` beneath the target (never through a symlink); usually one openat2. */
static int create_beneath(int rootfd, const char *rel)
{
    if (!atomic_load(&no_openat2)) {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        how.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
        how.mode = 0600;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != EEXIST && errno != ENOSYS)
            return -1;
    }
    /* Something is in the way (or an old kernel): go through the parent folder. */
    char dir[PATH_MAX];
    const char *slash = strrchr(rel, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - rel) : 0, rel);
    int pfd = open_beneath(rootfd, dir, O_PATH | O_DIRECTORY);
    if (pfd < 0)
        return -1;
    int fd = create_file_at(pfd, slash ? slash + 1 : rel);
    int e = errno;
    close(pfd);
    errno = e;
    return fd;
}

static int rs_restore_file(rs_ctx *c, int dirfd, const char *name, const char *rel,
                           const cr_node *n)
{
    int err = 0, planned = 0, fd;
    size_t fi = 0;
    if (c->dry_run) {
        atomic_fetch_add(&c->files_done, 1);
        c->bytes_files += n->size;
        return 0;
    }
    if (n->nlink > 1) {
        const char *first = link_find(c, n->dev, n->inode);
        if (first) {
            if (rs_link_to(c, dirfd, name, rel, first) == 0)
                atomic_fetch_add(&c->files_done, 1);
            return 0;
        }
    }
    if (n->ncontent > 0) {
        if ((err = grow((void **)&c->files, &c->capfiles, c->nfiles + 1, sizeof(rs_file))) < 0)
            return err;
        fi = c->nfiles;
        rs_file *f = &c->files[fi];
        memset(f, 0, sizeof(*f));
        if (!(f->path = cr_strdup(rel)))
            return CR_ERROR;
        f->node = n;
        c->nfiles++;
        if ((planned = rs_plan_file(c, f, fi)) < 0)
            return planned;
    }
    atomic_fetch_add(&c->files_done, 1);
    c->bytes_files += n->size;
    /* Hard links need their first name now; other files with data are created by a worker. */
    if (planned > 0 && n->nlink <= 1)
        return 0;
    if ((fd = create_file_at(dirfd, name)) < 0 ||
        (n->size > 0 && ftruncate(fd, (off_t)n->size) < 0)) {
        int e = errno;
        char msg[300];
        if (fd >= 0)
            unlinkat(dirfd, name, 0); /* just created (O_EXCL): never leave it looking good */
        snprintf(msg, sizeof(msg), "cannot create file: %s", strerror(e));
        if (n->ncontent > 0) {
            atomic_store(&c->files[fi].state, RS_NOT_CREATED);
            rs_fail_file(c, &c->files[fi], msg);
        } else {
            rs_warn(c, rel, "%s", msg);
            atomic_fetch_add(&c->failed, 1);
        }
        atomic_fetch_sub(&c->files_done, 1);
        if (fd >= 0)
            close(fd);
        errno = e;
        if (e == ENOSPC || e == EDQUOT)
            return cr_error_errno("cannot restore /%s", rel);
        return 0;
    }
    if (n->ncontent > 0) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            c->files[fi].st_dev = st.st_dev;
            c->files[fi].st_ino = st.st_ino;
        }
        atomic_store(&c->files[fi].state, RS_CREATED);
    }
    if (n->nlink > 1 && (err = link_add(c, n->dev, n->inode, rel)) < 0)
        goto done;
    if (planned == 0 && !(n->ncontent > 0 && atomic_load(&c->files[fi].failed)))
        apply_fd_meta(c, fd, rel, n); /* a damaged one is set aside by rs_sweep */
done:
    close(fd);
    return err;
}

static void rs_restore_special(rs_ctx *c, int dirfd, const char *name, const char *rel,
                               const cr_node *n)
{
    int rc;
    const char *what;
    if (n->type == CR_NODE_SOCKET) {
        /* A socket is re-created by its server, never restored: say so all the same. */
        c->sockets_skipped++;
        rs_not_restored(c, rel, "socket not restored (its server creates it again when it starts)");
        return;
    }
    if (c->dry_run) {
        c->others_done++;
        return;
    }
    if ((n->type == CR_NODE_CHARDEV || n->type == CR_NODE_BLOCKDEV) && !c->is_root) {
        atomic_fetch_add(&c->failed, 1);
        rs_warn(c, rel, "device file not restored: only root can create device files");
        return;
    }
    if (n->nlink > 1) {
        const char *first = link_find(c, n->dev, n->inode);
        if (first) {
            if (rs_link_to(c, dirfd, name, rel, first) == 0)
                c->others_done++;
            return;
        }
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        switch (n->type) {
        case CR_NODE_SYMLINK:
            what = "symlink";
            rc = symlinkat(n->link_target ? n->link_target : "", dirfd, name);
            break;
        case CR_NODE_FIFO:
            what = "FIFO";
            rc = mkfifoat(dirfd, name, 0600);
            break;
        case CR_NODE_CHARDEV:
            what = "device";
            rc = mknodat(dirfd, name, S_IFCHR | 0600, (dev_t)n->rdev);
            break;
        case CR_NODE_BLOCKDEV:
            what = "device";
            rc = mknodat(dirfd, name, S_IFBLK | 0600, (dev_t)n->rdev);
            break;
        default:
            rs_warn(c, rel, "unknown node type %d in snapshot: not restored", (int)n->type);
            atomic_fetch_add(&c->failed, 1);
            return;
        }
        if (rc == 0 || errno != EEXIST || attempt == 1 || clear_way(dirfd, name) < 0)
            break;
    }
    if (rc < 0) {
        rs_warn(c, rel, "cannot create %s: %s", what, strerror(errno));
        atomic_fetch_add(&c->failed, 1);
        return;
    }
    c->others_done++;
    if (n->nlink > 1 && n->type != CR_NODE_SYMLINK)
        link_add(c, n->dev, n->inode, rel); /* out of memory only loses the link */
    apply_at_meta(c, dirfd, name, rel, n);
}

/* 1 if `rel` (canonical, relative to the target) is one of the paths to skip. */
static int rs_skipped(const rs_ctx *c, const char *rel)
{
    size_t lo = 0, hi = c->nskips;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->skips[mid], rel);
        if (d == 0)
            return 1;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/*
 * 1 if `rel` (canonical) is a folder above one of the snapshot's backed-up
 * paths (srv for /srv/www): it only leads to the data. An existing one keeps
 * its own metadata (restoring /srv/www to "/" must not change /srv).
 */
static int rs_above_backup(const rs_ctx *c, const char *rel)
{
    size_t n = strlen(rel);
    for (size_t i = 0; c->snap && i < c->snap->npaths; i++) {
        const char *p = c->snap->paths[i];
        while (p && *p == '/')
            p++;
        if (p && strlen(p) > n && path_covers(rel, p))
            return 1;
    }
    return 0;
}

/* Restore one node named `name` inside dirfd; path[0..plen) is its parent's path. */
static int rs_restore_node(rs_ctx *c, int dirfd, char *path, size_t plen, const cr_node *n,
                           int depth)
{
    const char *name = n->name;
    size_t nlen = strlen(name);
    size_t len = plen + (plen ? 1 : 0) + nlen;
    int err = 0;
    if (atomic_load(&c->abort_err))
        return atomic_load(&c->abort_err);
    if (c->opts->progress && (++c->walked & 1023) == 0 &&
        cr_time_mono() - c->last_progress > 0.25) {
        c->last_progress = cr_time_mono();
        rs_progress(c);
    }
    if (!cr_name_is_safe(name)) {
        char shown[96];
        snprintf(shown, sizeof(shown), "%.80s", name);
        rs_warn(c, path, "refused unsafe name \"%s\" in /%s", shown, path);
        atomic_fetch_add(&c->failed, 1);
        return 0;
    }
    if (len + 1 > CR_TREE_MAX_PATH) { /* with its leading '/': the rule of vault.h */
        rs_warn(c, path, "path longer than %d bytes, not restored: %.60s...", CR_TREE_MAX_PATH,
                name);
        atomic_fetch_add(&c->failed, 1);
        return 0;
    }
    if (plen)
        path[plen] = '/';
    memcpy(path + plen + (plen ? 1 : 0), name, nlen + 1);
    if (c->nskips && rs_skipped(c, path)) {
        path[plen] = '\0';
        return 0;
    }

    switch (n->type) {
    case CR_NODE_DIR: {
        int existed = 0;
        if (depth >= CR_TREE_MAX_DEPTH) {
            rs_warn(c, path, "folders nested deeper than %d levels, not restored",
                    CR_TREE_MAX_DEPTH);
            atomic_fetch_add(&c->failed, 1);
            break;
        }
        if (c->dry_run) {
            c->dirs_done++;
            if (n->has_subtree)
                err = rs_walk_tree(c, -1, path, len, &n->subtree, depth + 1);
            break;
        }
        if (mkdirat(dirfd, name, 0700) < 0) {
            if (errno != EEXIST) {
                rs_warn(c, path, "cannot create folder: %s", strerror(errno));
                atomic_fetch_add(&c->failed, 1);
                break;
            }
            /*
             * Restoring into an existing folder: it may have a default ACL
             * that new entries inherit. Folders we create get theirs only at
             * the end, so in a fresh target nothing is inherited.
             */
            c->may_inherit = 1;
            existed = 1;
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            /* A symlink or a file sits where the folder goes: never follow it. */
            rs_warn(c, path, "cannot restore folder: %s",
                    (errno == ELOOP || errno == ENOTDIR)
                        ? "something that is not a folder is in the way (not followed)"
                        : strerror(errno));
            atomic_fetch_add(&c->failed, 1);
            break;
        }
        if ((err = grow((void **)&c->dirs, &c->capdirs, c->ndirs + 1, sizeof(rs_dir))) < 0 ||
            !(c->dirs[c->ndirs].path = cr_strdup(path))) {
            close(fd);
            err = CR_ERROR;
            break;
        }
        {
            struct stat st;
            rs_dir *d = &c->dirs[c->ndirs++];
            d->node = n;
            d->st_dev = 0;
            d->st_ino = 0;
            d->keep_meta = existed && rs_above_backup(c, path);
            if (fstat(fd, &st) == 0) {
                d->st_dev = st.st_dev;
                d->st_ino = st.st_ino;
            }
        }
        c->dirs_done++;
        if (n->has_subtree)
            err = rs_walk_tree(c, fd, path, len, &n->subtree, depth + 1);
        close(fd);
        break;
    }
    case CR_NODE_FILE:
        err = rs_restore_file(c, dirfd, name, path, n);
        break;
    default:
        rs_restore_special(c, dirfd, name, path, n);
        break;
    }
    path[plen] = '\0';
    return err;
}

static int rs_walk_tree(rs_ctx *c, int dirfd, char *path, size_t plen, const cr_id *id, int depth)
{
    cr_tree *t = NULL;
    int err = cr_tree_load(&t, c->repo, id);
    if (err < 0) {
        char hex[CR_ID_HEX_LEN + 1];
        if (err == CR_ERROR && strstr(cr_error_last(), "memory"))
            return err;
        rs_warn(c, path, "lost: the contents of this folder (tree %s): %s", cr_id_to_hex(hex, id),
                cr_error_last());
        atomic_fetch_add(&c->failed, 1);
        return 0;
    }
    if ((err = grow((void **)&c->trees, &c->captrees, c->ntrees + 1, sizeof(cr_tree *))) < 0) {
        cr_tree_free(t);
        return err;
    }
    c->trees[c->ntrees++] = t;
    for (size_t i = 0; i < t->count && err == 0; i++)
        err = rs_restore_node(c, dirfd, path, plen, &t->nodes[i], depth);
    return err;
}

/* ------------------------------------------------------------ data phase */

typedef struct rs_cached {
    size_t file;
    int fd;
} rs_cached;

typedef struct rs_worker {
    rs_ctx *c;
    cr_blob_reader *reader; /* the pack of the job */
    cr_buf raw, blob;
    rs_cached cache[RS_FD_CACHE];
    int ncache, next_evict;
} rs_worker;

static int cache_find(rs_worker *w, size_t file)
{
    for (int i = 0; i < w->ncache; i++)
        if (w->cache[i].file == file)
            return i;
    return -1;
}

static void cache_drop(rs_worker *w, int i)
{
    close(w->cache[i].fd);
    w->cache[i] = w->cache[--w->ncache];
}

/* An fd for writing `file`, or -1 (file marked failed). */
static int cache_get(rs_worker *w, size_t file)
{
    rs_ctx *c = w->c;
    int i = cache_find(w, file);
    if (i >= 0)
        return w->cache[i].fd;
    rs_file *f = &c->files[file];
    int fd = -1, st = RS_TO_CREATE;
    char why[160];
    if (atomic_compare_exchange_strong(&f->state, &st, RS_CREATING)) {
        fd = create_beneath(c->rootfd, f->path);
        if (fd >= 0) {
            /* Recorded first: a file created but not sized is removed by rs_sweep. */
            struct stat sb;
            if (fstat(fd, &sb) == 0) {
                f->st_dev = sb.st_dev;
                f->st_ino = sb.st_ino;
            }
        }
        if (fd >= 0 && f->end < f->node->size && ftruncate(fd, (off_t)f->node->size) < 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
        if (fd < 0) {
            int e = errno;
            snprintf(why, sizeof(why), "cannot create file: %s", strerror(e));
            atomic_fetch_sub(&c->files_done, 1);
            if (e == ENOSPC || e == EDQUOT) {
                int zero = 0;
                atomic_compare_exchange_strong(&c->abort_err, &zero, CR_ENOSPACE);
            }
        }
        atomic_store(&f->state, fd >= 0 ? RS_CREATED : RS_NOT_CREATED);
        if (fd < 0) {
            rs_fail_file(c, f, why);
            return -1;
        }
    } else {
        /* Another worker is creating it (a file spread over several packs): wait. */
        while ((st = atomic_load(&f->state)) == RS_CREATING)
            sched_yield();
        if (st == RS_NOT_CREATED)
            return -1;
        fd = open_beneath(c->rootfd, f->path, O_WRONLY);
        if (fd < 0) {
            snprintf(why, sizeof(why), "cannot open for writing: %s", strerror(errno));
            rs_fail_file(c, f, why);
            return -1;
        }
        struct stat sb;
        if (fstat(fd, &sb) < 0 || sb.st_dev != f->st_dev || sb.st_ino != f->st_ino) {
            /* Never write into (or chmod/chown) an inode we did not create. */
            close(fd);
            rs_fail_file(c, f,
                         "not written: the file was replaced by something else in the target "
                         "during the restore");
            return -1;
        }
    }
    if (w->ncache >= c->fd_cache_size) {
        int v = w->next_evict++ % w->ncache;
        cache_drop(w, v);
    }
    w->cache[w->ncache].file = file;
    w->cache[w->ncache].fd = fd;
    w->ncache++;
    return fd;
}

/* One extent of `file` is written (or given up): the last one sets the metadata. */
static void rs_done_one(rs_worker *w, size_t file)
{
    rs_ctx *c = w->c;
    rs_file *f = &c->files[file];
    if (atomic_fetch_sub(&f->remaining, 1) != 1)
        return;
    int fd = cache_get(w, file);
    if (fd < 0)
        return;
    /*
     * A damaged file keeps its offsets (lost data at the end reads as a hole)
     * but not the snapshot's metadata: rs_sweep sets it aside.
     */
    if (!atomic_load(&f->failed))
        apply_fd_meta(c, fd, f->path, f->node);
    else if (ftruncate(fd, (off_t)f->node->size) < 0)
        rs_warn(c, f->path, "cannot set size of the damaged copy: %s", strerror(errno));
    cache_drop(w, cache_find(w, file));
}

static void rs_fail_need(rs_worker *w, const rs_need *nd, const char *reason)
{
    rs_lost(w->c, &w->c->files[nd->file], reason);
    rs_done_one(w, nd->file);
}

static void rs_write_need(rs_worker *w, const rs_need *nd)
{
    rs_ctx *c = w->c;
    /* Checked against the index when planned; the decoded length is checked
     * against the index too, but never trust one check for memory safety. */
    if ((uint64_t)nd->blob_off + nd->len > w->blob.len) {
        char hex[CR_ID_HEX_LEN + 1], why[200];
        snprintf(why, sizeof(why), "blob %s is shorter than the file's extent",
                 cr_id_to_hex(hex, &nd->loc.entry.id));
        rs_fail_need(w, nd, why);
        return;
    }
    int fd = cache_get(w, nd->file);
    if (fd >= 0) {
        if (cr_fs_pwrite_all(fd, w->blob.ptr + nd->blob_off, nd->len, nd->offset) < 0) {
            int e = errno;
            char msg[600];
            snprintf(msg, sizeof(msg), "cannot write: %s", cr_error_last());
            rs_fail_file(c, &c->files[nd->file], msg);
            if (e == ENOSPC || e == EDQUOT) {
                int zero = 0;
                atomic_compare_exchange_strong(&c->abort_err, &zero, CR_ENOSPACE);
            }
        } else {
            atomic_fetch_add(&c->bytes_done, nd->len);
        }
    }
    rs_done_one(w, nd->file);
}

/* Decode needs[i] from `stored` and write it to every need of the same blob; @return next i. */
static size_t rs_decode_and_write(rs_worker *w, size_t i, size_t end, const uint8_t *stored,
                                  const char *read_err)
{
    rs_ctx *c = w->c;
    const rs_need *nd = &c->needs[i];
    char why[300], hex[CR_ID_HEX_LEN + 1], phex[CR_ID_HEX_LEN + 1];
    int ok = 0;
    if (!stored) {
        snprintf(why, sizeof(why), "pack %s is damaged: %s", cr_id_to_hex(phex, &nd->loc.pack),
                 read_err);
    } else if (cr_blob_reader_open(w->reader, &nd->loc, stored, &w->blob) < 0) {
        snprintf(why, sizeof(why), "pack %s is damaged: %s", cr_id_to_hex(phex, &nd->loc.pack),
                 cr_error_last()); /* the decoder's message names the blob */
    } else if (w->blob.len != nd->loc.entry.raw_len) {
        snprintf(why, sizeof(why), "blob %s has the wrong length",
                 cr_id_to_hex(hex, &nd->loc.entry.id));
    } else {
        ok = 1;
    }
    size_t j = i;
    do {
        if (ok)
            rs_write_need(w, &c->needs[j]);
        else
            rs_fail_need(w, &c->needs[j], why);
        j++;
    } while (j < end && c->needs[j].loc.entry.offset == nd->loc.entry.offset &&
             memcmp(&c->needs[j].loc.entry.id, &nd->loc.entry.id, sizeof(cr_id)) == 0);
    return j;
}

static void rs_do_pack(rs_worker *w, size_t start, size_t end)
{
    rs_ctx *c = w->c;
    char why[600];
    const cr_id *pack = &c->needs[start].loc.pack;
    uint64_t size;
    if (cr_blob_reader_size(w->reader, pack, &size) < 0) {
        snprintf(why, sizeof(why), "%s", cr_error_last());
        for (size_t i = start; i < end;)
            i = rs_decode_and_write(w, i, end, NULL, why);
        return;
    }
    size_t i = start;
    while (i < end) {
        if (atomic_load(&c->abort_err))
            break; /* no space left: the restore fails as a whole */
        uint64_t rs = c->needs[i].loc.entry.offset;
        uint64_t re = rs + c->needs[i].loc.entry.stored_len;
        size_t j = i + 1;
        while (j < end) {
            const cr_pack_entry *e = &c->needs[j].loc.entry;
            uint64_t eend = (uint64_t)e->offset + e->stored_len;
            if (e->offset > re + RS_GAP || (eend > re && eend - rs > RS_MAX_RUN))
                break;
            if (eend > re)
                re = eend;
            j++;
        }
        int rerr = cr_buf_grow(&w->raw, (size_t)(re - rs));
        if (rerr == 0)
            rerr = cr_blob_reader_read(w->reader, pack, rs, w->raw.ptr, (size_t)(re - rs));
        if (rerr == 0) {
            while (i < j)
                i = rs_decode_and_write(w, i, j, w->raw.ptr + (c->needs[i].loc.entry.offset - rs),
                                        NULL);
            continue;
        }
        /* The run could not be read (truncated pack...): save what can be, blob by blob. */
        while (i < j) {
            const cr_pack_entry *e = &c->needs[i].loc.entry;
            int r = cr_buf_grow(&w->raw, e->stored_len);
            if (r == 0)
                r = cr_blob_reader_read(w->reader, pack, e->offset, w->raw.ptr, e->stored_len);
            snprintf(why, sizeof(why), "%s", cr_error_last());
            i = rs_decode_and_write(w, i, j, r == 0 ? w->raw.ptr : NULL, why);
        }
    }
}

static void *rs_worker_main(void *arg)
{
    rs_worker *w = arg;
    rs_ctx *c = w->c;
    for (;;) {
        size_t k = atomic_fetch_add(&c->next_job, 1);
        if (k >= c->njobs)
            break;
        rs_do_pack(w, c->jobs[k], c->jobs[k + 1]);
    }
    while (w->ncache > 0)
        cache_drop(w, 0);
    pthread_mutex_lock(&c->mu);
    c->workers_left--;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int need_cmp(const void *a, const void *b)
{
    const rs_need *x = a, *y = b;
    int r = memcmp(&x->loc.pack, &y->loc.pack, sizeof(cr_id));
    if (r)
        return r;
    if (x->loc.entry.offset != y->loc.entry.offset)
        return x->loc.entry.offset < y->loc.entry.offset ? -1 : 1;
    r = memcmp(&x->loc.entry.id, &y->loc.entry.id, sizeof(cr_id));
    if (r)
        return r;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void rs_progress(rs_ctx *c)
{
    if (!c->opts->progress)
        return;
    cr_progress p;
    memset(&p, 0, sizeof(p));
    p.files_done = atomic_load(&c->files_done);
    p.files_total = p.files_done;
    p.bytes_done = atomic_load(&c->bytes_done);
    p.bytes_total = c->bytes_total;
    p.errors = atomic_load(&c->failed);
    p.elapsed = cr_time_mono() - c->t0;
    c->opts->progress(&p, c->opts->payload);
}

/* cr_run_workers' tick: progress from the calling thread. */
static void rs_progress_tick(void *payload)
{
    rs_progress(payload);
}

static int rs_data_phase(rs_ctx *c)
{
    int err = 0, nthreads;
    rs_worker *ws = NULL;
    struct rlimit rl;

    if (c->nneeds == 0)
        return 0;
    qsort(c->needs, c->nneeds, sizeof(rs_need), need_cmp);
    if (!(c->jobs = cr_malloc((c->nneeds + 1) * sizeof(size_t))))
        return CR_ERROR;
    for (size_t i = 0; i < c->nneeds; i++)
        if (i == 0 || memcmp(&c->needs[i].loc.pack, &c->needs[i - 1].loc.pack, sizeof(cr_id)))
            c->jobs[c->njobs++] = i;
    c->jobs[c->njobs] = c->nneeds;

    /* A remote store (vault server, S3) answers each read after a round trip: twice as many
     * workers keep the network and the CPU busy together. */
    nthreads = c->opts->threads > 0                   ? c->opts->threads
               : cr_store_is_local(c->repo->store) ? cr_ncpu()
                                                      : 2 * cr_ncpu();
    if (nthreads > 64)
        nthreads = 64;
    if ((size_t)nthreads > c->njobs)
        nthreads = (int)c->njobs;
    /* Leave room for the walk's folders, packs and the caller's own files. */
    c->fd_cache_size = RS_FD_CACHE;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long room = ((long)rl.rlim_cur - 64) / nthreads - 1;
        if (room < c->fd_cache_size)
            c->fd_cache_size = room < 1 ? 1 : (int)room;
    }
    if (!(ws = cr_calloc((size_t)nthreads, sizeof(*ws)))) {
        err = CR_ERROR;
        goto done;
    }
    for (int i = 0; i < nthreads; i++) {
        ws[i].c = c;
        if ((err = cr_blob_reader_new(&ws[i].reader, c->repo, 1)) < 0)
            goto done;
        ws[i].raw.max = RS_MAX_RUN + CR_MAX_BLOB + 65536;
    }
    /* The calling thread reports progress (about 4 times a second) while workers run. */
    if ((err = cr_run_workers(rs_worker_main, ws, sizeof(*ws), nthreads, &c->mu, &c->cond,
                              &c->workers_left, 250, rs_progress_tick, c)) > 0)
        err = 0;
done:
    if (ws) {
        for (int i = 0; i < nthreads; i++) {
            cr_blob_reader_free(ws[i].reader);
            cr_buf_free(&ws[i].raw);
            cr_buf_free(&ws[i].blob);
        }
    }
    free(ws);
    return err;
}

/*
 * A file whose data could not all be written must not look like a good copy:
 * rename it NAME.cleanroom-damaged (mode 0600 and the time of the restore, as
 * created), or remove it. Only the inode we created is touched.
 * Says what became of it, in words, into out.
 */
static void rs_set_aside(rs_ctx *c, const rs_file *f, char *out, size_t outlen)
{
    static const char suffix[] = ".cleanroom-damaged";
    char dir[PATH_MAX], aside[NAME_MAX + 1];
    const char *slash = strrchr(f->path, '/'), *base = slash ? slash + 1 : f->path;
    struct stat st;
    snprintf(out, outlen, "the partial copy could not be removed: do NOT use the file of that "
                          "name");
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - f->path) : 0, f->path);
    int pfd = open_beneath(c->rootfd, dir, O_PATH | O_DIRECTORY);
    if (pfd < 0)
        return;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != f->st_dev ||
        st.st_ino != f->st_ino) {
        snprintf(out, outlen, "what is under its name in the target is not the restored file");
    } else if (strlen(base) + sizeof(suffix) <= sizeof(aside) &&
               snprintf(aside, sizeof(aside), "%s%s", base, suffix) > 0 &&
               renameat(pfd, base, pfd, aside) == 0) {
        snprintf(out, outlen, "what could be written is kept as %.300s%s, not under its name",
                 base, suffix);
    } else if (unlinkat(pfd, base, 0) == 0) {
        snprintf(out, outlen, "the partial copy was removed");
    }
    close(pfd);
}

/*
 * After the data phase (or a walk that stopped): every file with data that is
 * not complete is reported once, with what became of it, and set aside.
 */
static void rs_sweep(rs_ctx *c, int walk_done)
{
    for (size_t i = 0; i < c->nfiles; i++) {
        rs_file *f = &c->files[i];
        int st = atomic_load(&f->state);
        if (!atomic_load(&f->failed) && atomic_load(&f->remaining) == 0)
            continue; /* complete */
        if (!walk_done && !atomic_load(&f->failed) && st == RS_TO_CREATE)
            continue; /* the restore failed as a whole before its data: nothing on disk */
        if (!atomic_load(&f->failed)) {
            /* Never reached: the restore stopped before its data was written. */
            rs_fail_file(c, f, atomic_load(&c->abort_err) == CR_ENOSPACE
                                   ? "not written: no space left on the target's device"
                                   : "not written: the restore stopped before its data");
        }
        if (st != RS_NOT_CREATED)
            atomic_fetch_sub(&c->files_done, 1); /* counted by the walk */
        if (c->salvage && st == RS_CREATED) {
            rs_warn(c, f->path, "%s (zeros there)", f->why ? f->why : "not restored");
        } else if (st == RS_CREATED || (st == RS_NOT_CREATED && f->st_ino != 0)) {
            char what[512];
            rs_set_aside(c, f, what, sizeof(what));
            rs_warn(c, f->path, "%s; %s", f->why ? f->why : "not restored", what);
        } else
            rs_warn(c, f->path, "%s", f->why ? f->why : "not restored");
    }
}

/* Folders' metadata, deepest first: reverse order of creation (parents come first). */
static void rs_dir_meta(rs_ctx *c)
{
    for (size_t i = c->ndirs; i-- > 0;) {
        rs_dir *d = &c->dirs[i];
        if (d->keep_meta)
            continue;
        int fd = open_beneath(c->rootfd, d->path, O_RDONLY | O_DIRECTORY);
        if (fd < 0) {
            rs_meta(c, d->path, "cannot restore folder metadata: %s", strerror(errno));
            continue;
        }
        struct stat st;
        if (d->st_ino && (fstat(fd, &st) < 0 || st.st_dev != d->st_dev || st.st_ino != d->st_ino)) {
            rs_meta(c, d->path, "folder metadata not restored: the folder was replaced by "
                                "something else in the target during the restore");
            close(fd);
            continue;
        }
        apply_fd_meta(c, fd, d->path, d->node);
        close(fd);
    }
}

/* ------------------------------------------------------------ includes */

/* Canonical form of an include: components joined by '/', no leading slash ("" = all). */
static int norm_include(char **out, const char *in)
{
    size_t n = strlen(in);
    char *o = cr_malloc(n + 1), *q = o;
    if (!o)
        return CR_ERROR;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t l = (size_t)(p - s);
        if (l == 0 || (l == 1 && s[0] == '.'))
            continue;
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            free(o);
            cr_error_set("include path %s: \"..\" is not allowed", in);
            return CR_EINPUT;
        }
        if (q != o)
            *q++ = '/';
        memcpy(q, s, l);
        q += l;
    }
    *q = '\0';
    *out = o;
    return 0;
}

static int rs_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 if `a` is `b` or a folder above it. */
static int path_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (n == 0)
        return 1;
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

/* 1 if `rel` (canonical) or a folder above it is one of the paths to skip. */
static int rs_skipped_below(const rs_ctx *c, const char *rel)
{
    char buf[PATH_MAX];
    size_t n = strlen(rel);
    if (c->skip_all)
        return 1;
    if (!c->nskips || n >= sizeof(buf))
        return 0;
    memcpy(buf, rel, n + 1);
    for (size_t i = 0; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        int hit = rs_skipped(c, buf);
        buf[i] = saved;
        if (hit)
            return 1;
    }
    return 0;
}

/* The paths not to restore (options of version 2), canonical and sorted. */
static int rs_load_skips(rs_ctx *c)
{
    const cr_restore_options *o = c->opts;
    int err;
    if (o->version < 2 || o->nskips == 0)
        return 0;
    if (!o->skips) {
        cr_error_set("restore: %zu paths to skip announced, but none given", o->nskips);
        return CR_EINPUT;
    }
    if (!(c->skips = cr_calloc(o->nskips, sizeof(char *))))
        return CR_ERROR;
    for (size_t i = 0; i < o->nskips; i++) {
        if (!o->skips[i]) {
            cr_error_set("restore: a path to skip is missing");
            return CR_EINPUT;
        }
        if ((err = norm_include(&c->skips[c->nskips], o->skips[i])) < 0) {
            if (err == CR_EINPUT)
                cr_error_set("path to skip %s: \"..\" is not allowed", o->skips[i]);
            return err;
        }
        if (c->skips[c->nskips][0] == '\0')
            c->skip_all = 1;
        c->nskips++;
    }
    qsort(c->skips, c->nskips, sizeof(char *), rs_cmp_str);
    return 0;
}

/* Create the folders above an included path (plain folders: their metadata is not restored). */
static int open_parents(rs_ctx *c, const char *incl, int *out_fd)
{
    char buf[PATH_MAX];
    int dfd = dup(c->rootfd);
    if (dfd < 0)
        return cr_error_errno("cannot open the target");
    snprintf(buf, sizeof(buf), "%s", incl);
    char *p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        if (mkdirat(dfd, p, 0700) < 0) {
            if (errno != EEXIST) {
                rs_warn(c, buf, "cannot create folder: %s", strerror(errno));
                close(dfd);
                return 1;
            }
            c->may_inherit = 1;
        }
        int nfd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dfd);
        if (nfd < 0) {
            rs_warn(c, buf, "cannot restore folder: something that is not a folder is in the way");
            return 1;
        }
        dfd = nfd;
        *slash = '/';
        p = slash + 1;
    }
    *out_fd = dfd;
    return 0;
}

static int rs_walk_includes(rs_ctx *c, const cr_snapshot *snap)
{
    const cr_restore_options *o = c->opts;
    char **incl = NULL;
    char *path = NULL;
    int err = 0;
    size_t n = o->nincludes;

    if (!(path = cr_malloc(PATH_MAX + 1)) || !(incl = cr_calloc(n, sizeof(char *))) ||
        !(c->incl_nodes = cr_calloc(n, sizeof(cr_node)))) {
        err = CR_ERROR;
        goto done;
    }
    path[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((err = norm_include(&incl[i], o->includes[i] ? o->includes[i] : "")) < 0)
            goto done;
        /* Paths are built in buffers of PATH_MAX: a longer one could not be restored anyway. */
        if (strlen(incl[i]) >= PATH_MAX) {
            cr_error_set("include path /%.80s... is too long (%zu bytes; at most %d)", incl[i],
                         strlen(incl[i]), PATH_MAX - 1);
            err = CR_EINPUT;
            goto done;
        }
    }
    /* Look every path up first: a typo is an error before anything is written. */
    for (size_t i = 0; i < n; i++) {
        char *sp = cr_sprintf("/%s", incl[i]);
        if (!sp) {
            err = CR_ERROR;
            goto done;
        }
        err = cr_snapshot_lookup(&c->incl_nodes[i], c->repo, snap, sp);
        free(sp);
        if (err < 0) {
            if (err == CR_ENOTFOUND)
                cr_error_set("/%s is not in the snapshot", incl[i]);
            goto done;
        }
        c->nincl_nodes = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (size_t j = 0; j < n && !skip; j++)
            if (j != i && path_covers(incl[j], incl[i]) && (strcmp(incl[j], incl[i]) != 0 || j < i))
                skip = 1; /* restored with a folder above it, or a duplicate */
        if (skip || rs_skipped_below(c, incl[i]))
            continue; /* restored with a folder above it, a duplicate, or set aside */
        cr_node *nd = &c->incl_nodes[i];
        if (incl[i][0] == '\0') {
            if (nd->has_subtree)
                err = rs_walk_tree(c, c->rootfd, path, 0, &nd->subtree, 0);
        } else {
            int pfd = -1;
            const char *slash = strrchr(incl[i], '/');
            size_t plen = slash ? (size_t)(slash - incl[i]) : 0;
            int r = c->dry_run ? 0 : open_parents(c, incl[i], &pfd);
            if (r < 0) {
                err = r;
                goto done;
            }
            if (r > 0) {
                atomic_fetch_add(&c->failed, 1);
                continue;
            }
            /* The last component names the node, whatever the tree called it. */
            char *saved = nd->name;
            nd->name = (char *)(slash ? slash + 1 : incl[i]);
            memcpy(path, incl[i], plen);
            path[plen] = '\0';
            err = rs_restore_node(c, pfd, path, plen, nd, 0);
            nd->name = saved;
            if (pfd >= 0)
                close(pfd);
        }
        if (err < 0)
            goto done;
    }
done:
    if (incl)
        for (size_t i = 0; i < n; i++)
            free(incl[i]);
    free(incl);
    free(path);
    return err;
}

/* ------------------------------------------------------------ the target */

void cr_target_entries_clear(cr_target_entries *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
    memset(e, 0, sizeof(*e));
}

int cr_restore_target_check(cr_target_entries *out, const char *path, size_t max)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int err = 0;
    memset(out, 0, sizeof(*out));
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return cr_error_errno("cannot look at the target %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        out->exists = 2;
        return CR_EEXISTS;
    }
    out->exists = 1;
    if (!(d = opendir(path)))
        return cr_error_errno("cannot list the target %s", path);
    if (max && !(out->names = cr_calloc(max, sizeof(char *)))) {
        closedir(d);
        return CR_ERROR;
    }
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        out->count++;
        if (out->nnames < max) {
            if (!(out->names[out->nnames] = cr_strdup(de->d_name))) {
                err = CR_ERROR;
                break;
            }
            out->nnames++;
        }
    }
    closedir(d);
    if (err < 0)
        return err;
    if (out->nnames > 1)
        qsort(out->names, out->nnames, sizeof(char *), rs_cmp_str);
    return out->count > 0 ? CR_EEXISTS : 0;
}

/* ------------------------------------------------------------ entry point */

static int rs_run(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
                  const cr_restore_options *opts, int salvage)
{
    rs_ctx ctx, *c = &ctx;
    cr_lock *lock = NULL;
    char *path = NULL;
    int err = 0;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (!repo || !snap || !opts || !opts->target || !*opts->target) {
        cr_error_set("restore: a target folder is required");
        return CR_EINPUT;
    }
    memset(c, 0, sizeof(*c));
    c->repo = repo;
    c->opts = opts;
    c->rootfd = -1;
    c->snap = snap;
    c->salvage = salvage;
    if (opts->version >= 3) {
        c->dry_run = opts->dry_run;
        c->overwrite = opts->overwrite;
    }
    c->t0 = cr_time_mono();
    c->is_root = geteuid() == 0;
    c->chown_ok = c->is_root && !opts->no_owner;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);

    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0 || (err = cr_repo_index(&c->idx, repo)) < 0)
        goto done;
    if (!c->dry_run && !c->overwrite) {
        cr_target_entries te;
        err = cr_restore_target_check(&te, opts->target, 0);
        if (err == CR_EEXISTS && te.exists == 1)
            cr_error_set("the target %s already holds data (%llu entr%s); nothing was written",
                         opts->target, (unsigned long long)te.count, te.count == 1 ? "y" : "ies");
        else if (err == CR_EEXISTS)
            cr_error_set("the target %s already exists and is not a folder; nothing was written",
                         opts->target);
        cr_target_entries_clear(&te);
        if (err < 0)
            goto done;
    }
    if (c->dry_run) {
        /* Nothing is created: the walk only counts. */
    } else if ((err = cr_fs_mkdir_p(AT_FDCWD, opts->target, 0700)) < 0) {
        goto done;
    } else if ((c->rootfd = open(opts->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        err = cr_error_errno("cannot open the target folder %s", opts->target);
        goto done;
    } else {
        char def[8];
        if (fgetxattr(c->rootfd, "system.posix_acl_default", def, sizeof(def)) >= 0 ||
            errno == ERANGE)
            c->may_inherit = 1;
    }

    if ((err = rs_load_skips(c)) < 0)
        goto done;
    if (c->skip_all) {
        /* Everything is set aside: the target is created, nothing else. */
    } else if (opts->nincludes > 0) {
        err = rs_walk_includes(c, snap);
    } else {
        if (!(path = cr_malloc(PATH_MAX + 1))) {
            err = CR_ERROR;
            goto done;
        }
        path[0] = '\0';
        err = rs_walk_tree(c, c->rootfd, path, 0, &snap->tree, 0);
    }
    if (err >= 0) {
        rs_progress(c);
        err = rs_data_phase(c);
    }
    /* Whatever stopped it, no incomplete file keeps its name. */
    rs_sweep(c, err >= 0);
    if (err < 0)
        goto done;
    if (!c->dry_run)
        rs_dir_meta(c);
    rs_progress(c);
    if (atomic_load(&c->abort_err) == CR_ENOSPACE && c->salvage) {
        cr_error_set("restore stopped: no space left on the target's device");
        err = CR_ENOSPACE;
    } else if (atomic_load(&c->abort_err) == CR_ENOSPACE) {
        /* Every file not written is listed (rs_sweep): the rest is restored. */
        if (stats)
            stats->no_space = 1;
        cr_error_set("no space left on the target's device: %llu item(s) could not be restored",
                     (unsigned long long)atomic_load(&c->failed));
        err = CR_EPARTIAL;
    } else if (atomic_load(&c->failed) > 0) {
        cr_error_set("%llu item(s) could not be restored",
                     (unsigned long long)atomic_load(&c->failed));
        err = CR_EPARTIAL;
    } else if (atomic_load(&c->meta_incomplete) > 0) {
        cr_error_set("%llu item(s) restored without all of their metadata",
                     (unsigned long long)atomic_load(&c->meta_incomplete));
        err = CR_EPARTIAL;
    }
done:
    if (stats) {
        stats->files = atomic_load(&c->files_done);
        stats->dirs = c->dirs_done;
        stats->others = c->others_done;
        stats->bytes = c->bytes_files;
        stats->failed = atomic_load(&c->failed);
        stats->damaged = atomic_load(&c->damaged);
        stats->meta_incomplete = atomic_load(&c->meta_incomplete);
        stats->skipped = c->sockets_skipped;
    }
    if (c->rootfd >= 0)
        close(c->rootfd);
    for (size_t i = 0; i < c->nfiles; i++) {
        free(c->files[i].path);
        free(c->files[i].why);
    }
    free(c->files);
    for (size_t i = 0; i < c->ndirs; i++)
        free(c->dirs[i].path);
    free(c->dirs);
    for (size_t i = 0; i < c->caplinks; i++)
        free(c->links[i].path);
    free(c->links);
    free(c->needs);
    free(c->jobs);
    for (size_t i = 0; i < c->ntrees; i++)
        cr_tree_free(c->trees[i]);
    free(c->trees);
    for (size_t i = 0; i < c->nincl_nodes; i++)
        cr_node_clear(&c->incl_nodes[i]);
    free(c->incl_nodes);
    for (size_t i = 0; i < c->nskips; i++)
        free(c->skips[i]);
    free(c->skips);
    free(path);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    cr_lock_release(lock);
    return err;
}

int cr_restore(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
               const cr_restore_options *opts)
{
    return rs_run(stats, repo, snap, opts, 0);
}

int cr_restore_salvage(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
                       const cr_restore_options *opts)
{
    return rs_run(stats, repo, snap, opts, 1);
}
