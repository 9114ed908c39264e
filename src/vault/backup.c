/*
 * The backup engine: cr_backup().
 *
 * Shape of the pipeline, and why:
 *
 *  - Walking a directory means listing it (getdents64 on a directory
 *    descriptor, fstatat relative to it, so the kernel never walks long paths
 *    again), sorting the entries by name and merging them with the same
 *    directory of the parent snapshot. A regular file whose size, mtime, ctime
 *    and inode match the parent's node keeps the parent's content extents,
 *    xattrs and ACLs without being opened (ctime moves whenever data, xattrs,
 *    ACLs, mode or owner change): this is what makes an unchanged re-backup
 *    cost one fstatat per file.
 *  - The work is shared by the calling thread and N worker threads through two
 *    small bounded queues: directories to walk and files to read. Every thread
 *    walks and reads; the calling thread starts with the given paths. A
 *    sub-directory is queued when the walk queue has room (and not too many
 *    directories are open), otherwise the thread walks it on the spot, depth
 *    first. So an unchanged re-backup, which is nothing but walking, keeps
 *    every core busy and has several metadata reads in flight on a cold cache.
 *    No thread ever waits for room in a queue (they would all end up waiting
 *    on each other): a thread that finds the file queue full reads the oldest
 *    queued file itself first.
 *  - Reading a file: open it relative to its directory's descriptor, read only
 *    the data regions (SEEK_DATA/SEEK_HOLE, so holes of sparse files are never
 *    stored), cut content-defined chunks, name them with the keyed hash and
 *    store the ones the index does not know yet in the thread's own packer.
 *    Memory per thread: one 2 * CR_CHUNK_MAX read buffer and one pack being
 *    filled. Small files are opened when queued, with read-ahead started.
 *  - A directory's tree can be encoded only when all of its entries are done,
 *    and those finish on several threads in any order. Each directory in
 *    progress carries a pending counter (one count for its walk while it
 *    lists, one per queued file, one per sub-directory); whichever thread
 *    brings it to zero encodes and names the tree, stores it if the vault does
 *    not have it yet (through the shared tree packer, under a mutex), hands
 *    the tree id to the parent's node and releases one count of the parent,
 *    so completion climbs towards the root without anyone waiting. Only the
 *    directories in progress are in memory. Entries are sorted before the
 *    tree is encoded, so the order in which threads finish changes nothing in
 *    the snapshot.
 *  - Per-thread state (struct bworker): getdents buffer, uid/gid name caches,
 *    the parent snapshot's tree loader (decompression context, last pack
 *    kept open), tree encoding buffer, packer.
 *  - The snapshot's root mirrors absolute paths, as tar and restic do:
 *    backing up /srv/dpi gives root -> "srv" -> "dpi". Several paths merge in
 *    one root; the intermediate directories carry their own metadata.
 *  - Errors on the source side (vanished or unreadable items) are warnings:
 *    the item is left out (an unreadable directory is kept, empty), counted,
 *    and the backup goes on; the result is CR_EPARTIAL once the snapshot is
 *    saved. Errors on the vault side (write failure, no space) are fatal: the
 *    first one stops every thread, and nothing half-written is referenced
 *    (packs already written are simply not indexed until the next backup
 *    finds them). Write order: packs, then the index, then the snapshot.
 *  - A node that did not change keeps the atime recorded the first time it was
 *    seen, so unchanged directories encode to the same bytes and their trees
 *    are deduplicated instead of being rewritten on every backup just because
 *    reading them moved atime.
 */
#include "vault/vault.h"

#include <acl/libacl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/resource.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_CAP 64      /* file jobs waiting for a thread */
#define DIRQ_CAP 64       /* directory walks waiting for a thread */
#define DIRS_OPEN_MAX 512 /* open descriptors above which walks are no longer handed out */
#define FD_RESERVE 64     /* descriptors left for the vault, packs, xattr and ACL reads */
#define READAHEAD_MAX (2u * 1024 * 1024) /* files opened ahead by the walker */
#define MAX_THREADS 64
#define PROGRESS_INTERVAL 0.25 /* seconds between progress callbacks */
#define DENTS_SIZE (64 * 1024) /* getdents64 buffer */
#define NAME_CACHE 16          /* uid/gid -> name cache slots */
#define ACL_HAS_ACCESS 1u
#define ACL_HAS_DEFAULT 2u

/* A directory in progress. */
typedef struct bdir {
    struct bdir *parent; /* NULL for the snapshot root */
    size_t pidx;         /* index of this directory's node in parent->nodes */
    char *path;          /* absolute path, for messages */
    size_t plen;         /* its length, 0 for the root "/" */
    int depth;           /* components of path (CR_TREE_MAX_DEPTH) */
    int fd;              /* open directory, -1 if none (virtual or unreadable) */
    cr_node *nodes;      /* never reallocated once jobs refer to it */
    size_t count;
    atomic_size_t pending;
} bdir;

enum { CLS_NEW = 1, CLS_CHANGED = 2 };
enum { JOB_FILE = 1, JOB_WALK = 2 };

/*
 * JOB_FILE: a regular file to read: node d->nodes[idx], opened as openat(dfd, rel).
 * JOB_WALK: the directory d->nodes[idx] to walk, opened as openat(dfd, rel);
 * `old` is its node in the parent snapshot (moved here, as the parent
 * snapshot's listing it came from is freed once d is listed).
 */
typedef struct bjob {
    int kind;
    bdir *d;
    size_t idx;
    int dfd;
    const char *rel;
    int cls;
    int sparse; /* lstat saw fewer blocks than the size */
    int fd;     /* opened by the walker (read-ahead started), or -1 */
    int has_old;
    cr_node old;
} bjob;

typedef struct bqueue {
    bjob q[QUEUE_CAP > DIRQ_CAP ? QUEUE_CAP : DIRQ_CAP];
    size_t head, len, cap;
} bqueue;

typedef struct idname {
    int set;
    uint32_t id;
    char *name;
} idname;

/* A virtual directory of the root: a component of one or more given paths. */
typedef struct vnode {
    char *name;
    char *path;
    int leaf; /* a given path: walked as found on disk */
    struct vnode *kids;
    size_t nkids, capkids;
} vnode;

typedef struct bk {
    cr_repo *repo;
    cr_index *idx;
    const cr_backup_options *opts;
    cr_chunker chunker;
    int noatime; /* O_NOATIME worth trying */
    uint64_t est_files, est_bytes; /* size of the previous snapshot, for progress */
    int file_read; /* opts->file_read is there (version 3) */

    /*
     * Two bounded queues: files to read and directories to walk. Every thread
     * (the calling one included) walks and reads: a directory is handed out
     * when the walk queue has room, else walked on the spot; a thread that
     * finds the file queue full reads the oldest queued file itself before
     * queuing its own, so no thread ever waits for room.
     */
    pthread_mutex_t qmu;
    pthread_cond_t qwork; /* a job was queued, or everything is done */
    bqueue fq, dq;
    int idle;   /* threads waiting in qwork */
    int active; /* threads running a job; the calling thread counts while it walks the roots */
    int qdone;  /* no job queued nor running: the threads leave */
    /*
     * Descriptors held across jobs: directories in progress and files opened
     * ahead. Bounded so that the walk stays under RLIMIT_NOFILE: walks are
     * handed out below walk_fds_max (past it, threads walk depth first, which
     * opens one directory per level), files opened ahead below ahead_fds_max.
     */
    atomic_int fds_open;
    int walk_fds_max, ahead_fds_max;

    pthread_mutex_t tmu; /* tree packer, root */
    cr_packer *tpacker;
    atomic_uint_fast64_t files, dirs, others, bytes;
    int root_done;
    cr_id root;

    atomic_uint_fast64_t bytes_new, files_new, files_changed, files_unchanged, errors;
    atomic_uint_fast64_t files_done, bytes_done;

    atomic_int fatal;    /* first fatal error code, 0 if none */
    pthread_mutex_t emu; /* fatal message and warning callback */
    char fatal_msg[1024];

    pthread_mutex_t pmu; /* progress callback */
    atomic_llong last_progress_us;
    double t0;

    int have_vault;
    dev_t vault_dev;
    ino_t vault_ino;
} bk;

/* One thread of the backup: the calling thread or a worker. Everything here is its own. */
typedef struct bworker {
    bk *b;
    pthread_t th;
    int is_main; /* the calling thread */
    cr_packer *packer;
    uint8_t *buf;
    size_t cap;
    cr_buf tenc; /* tree encoding */
    idname users[NAME_CACHE], groups[NAME_CACHE];
    unsigned next_user, next_group;
    char *pwbuf;
    size_t pwbuflen;
    uint8_t *dents;
    cr_buf pathbuf;
    /* loading the parent's trees: a blob reader keeping the last pack open (made on first use) */
    cr_blob_reader *treader;
    cr_buf tplain;
    /* the head of the file being read, for opts->file_read (made on first use) */
    uint8_t *head;
    size_t head_len;
    int want_head;
} bworker;

typedef struct extv {
    cr_extent *v;
    size_t n, cap;
} extv;

/* ------------------------------------------------------------- helpers */

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static cr_node_type mode_type(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG:
        return CR_NODE_FILE;
    case S_IFDIR:
        return CR_NODE_DIR;
    case S_IFLNK:
        return CR_NODE_SYMLINK;
    case S_IFIFO:
        return CR_NODE_FIFO;
    case S_IFCHR:
        return CR_NODE_CHARDEV;
    case S_IFBLK:
        return CR_NODE_BLOCKDEV;
    case S_IFSOCK:
        return CR_NODE_SOCKET;
    default:
        return (cr_node_type)0;
    }
}

/* Metadata that lstat gives; names, xattrs and content come separately. */
static void node_stat(cr_node *n, const struct stat *st)
{
    n->type = mode_type(st->st_mode);
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->mtime_ns = ts_ns(&st->st_mtim);
    n->atime_ns = ts_ns(&st->st_atim);
    n->ctime_ns = ts_ns(&st->st_ctim);
    n->inode = st->st_ino;
    n->dev = st->st_dev;
    n->nlink = st->st_nlink;
    n->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    n->rdev = (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) ? st->st_rdev : 0;
}

static char *join_path(const char *dir, const char *name)
{
    if (name[0] == '/')
        return cr_strdup(name);
    if (dir[0] == '/' && dir[1] == '\0')
        return cr_sprintf("/%s", name);
    return cr_sprintf("%s/%s", dir, name);
}

static int set_fatal(bk *b, int code)
{
    if (code >= 0)
        code = CR_ERROR;
    pthread_mutex_lock(&b->emu);
    if (atomic_load(&b->fatal) == 0) {
        snprintf(b->fatal_msg, sizeof(b->fatal_msg), "%s", cr_error_last());
        atomic_store(&b->fatal, code);
    }
    pthread_mutex_unlock(&b->emu);
    return atomic_load(&b->fatal);
}

/* A problem with one item of the source. `count`: it is an error of the snapshot. */
static void warnf(bk *b, int count, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warnf(bk *b, int count, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (count)
        atomic_fetch_add(&b->errors, 1);
    if (b->opts->warning) {
        pthread_mutex_lock(&b->emu);
        b->opts->warning(path, msg, b->opts->payload);
        pthread_mutex_unlock(&b->emu);
    }
}

/* Warn about a failed system call on an item, in words a technician can act on. */
static void warn_errno(bk *b, const char *path, const char *what, int e)
{
    if (e == ENOENT)
        warnf(b, 1, path, "vanished during the backup (%s)", strerror(e));
    else
        warnf(b, 1, path, "%s: %s", what, strerror(e));
}

/* Same, for an item known as (dir, name): builds the path only when needed. */
static void warn_item(bk *b, const bdir *d, const char *rel, const char *what, int e)
{
    char *p = join_path(d->path, rel);
    warn_errno(b, p ? p : rel, what, e);
    free(p);
}

/* A warning without errno about an item known as (dir, name). */
static void warn_item_msg(bk *b, int count, const bdir *d, const char *rel, const char *msg)
{
    char *p = join_path(d->path, rel);
    warnf(b, count, p ? p : rel, "%s", msg);
    free(p);
}

/*
 * Report progress, at most every PROGRESS_INTERVAL. Any thread may call it:
 * the callbacks are serialized, and a thread that finds another one
 * reporting skips its turn rather than wait.
 */
static void progress(bk *b, const char *current, int force)
{
    cr_progress p;
    double now;
    long long now_us;
    if (!b->opts->progress)
        return;
    now = cr_time_mono();
    now_us = (long long)(now * 1e6);
    if (!force && now_us - atomic_load_explicit(&b->last_progress_us, memory_order_relaxed) <
                      (long long)(PROGRESS_INTERVAL * 1e6))
        return;
    if (force)
        pthread_mutex_lock(&b->pmu);
    else if (pthread_mutex_trylock(&b->pmu) != 0)
        return;
    if (!force &&
        now_us - atomic_load(&b->last_progress_us) < (long long)(PROGRESS_INTERVAL * 1e6)) {
        pthread_mutex_unlock(&b->pmu);
        return;
    }
    atomic_store(&b->last_progress_us, now_us);
    memset(&p, 0, sizeof(p));
    p.files_done = atomic_load(&b->files_done);
    p.bytes_done = atomic_load(&b->bytes_done);
    /* Totals are estimated from the previous snapshot of the source (0 if none). */
    p.files_total = b->est_files > p.files_done ? b->est_files : p.files_done;
    p.bytes_total = b->est_bytes > p.bytes_done ? b->est_bytes : p.bytes_done;
    if (!b->est_files)
        p.files_total = p.bytes_total = 0;
    p.errors = atomic_load(&b->errors);
    p.elapsed = now - b->t0;
    p.current = current;
    b->opts->progress(&p, b->opts->payload);
    pthread_mutex_unlock(&b->pmu);
}

/* uid/gid -> account name, with a small cache (per thread). */
static char *id_name(bworker *b, int group, uint32_t id)
{
    idname *cache = group ? b->groups : b->users;
    unsigned *next = group ? &b->next_group : &b->next_user;
    idname *slot;
    const char *name = NULL;
    size_t i;

    for (i = 0; i < NAME_CACHE; i++)
        if (cache[i].set && cache[i].id == id)
            return cache[i].name ? strdup(cache[i].name) : NULL;

    if (group) {
        struct group gr, *res = NULL;
        if (getgrgid_r(id, &gr, b->pwbuf, b->pwbuflen, &res) == 0 && res)
            name = res->gr_name;
    } else {
        struct passwd pw, *res = NULL;
        if (getpwuid_r(id, &pw, b->pwbuf, b->pwbuflen, &res) == 0 && res)
            name = res->pw_name;
    }
    slot = &cache[*next % NAME_CACHE];
    (*next)++;
    free(slot->name);
    slot->set = 1;
    slot->id = id;
    slot->name = name ? strdup(name) : NULL;
    return slot->name ? strdup(slot->name) : NULL;
}

static void node_names(bworker *b, cr_node *n)
{
    n->user = id_name(b, 0, n->uid);
    n->group = id_name(b, 1, n->gid);
}

static int excluded(bworker *b, const char *dirpath, const char *name)
{
    const cr_backup_options *o = b->b->opts;
    size_t i, dl = strlen(dirpath), nl = strlen(name);
    char *full;

    for (i = 0; i < o->nexcludes; i++)
        if (fnmatch(o->excludes[i], name, 0) == 0)
            return 1;
    cr_buf_reset(&b->pathbuf);
    if (cr_buf_grow(&b->pathbuf, dl + nl + 2) < 0)
        return 0;
    full = (char *)b->pathbuf.ptr;
    memcpy(full, dirpath, dl);
    if (!(dl == 1 && dirpath[0] == '/'))
        full[dl++] = '/';
    memcpy(full + dl, name, nl + 1);
    for (i = 0; i < o->nexcludes; i++)
        if (fnmatch(o->excludes[i], full, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------- xattrs and ACLs */

static ssize_t x_list(int fd, const char *path, int follow, char *buf, size_t len)
{
    if (fd >= 0)
        return flistxattr(fd, buf, len);
    return follow ? listxattr(path, buf, len) : llistxattr(path, buf, len);
}

static ssize_t x_get(int fd, const char *path, int follow, const char *name, void *buf, size_t len)
{
    if (fd >= 0)
        return fgetxattr(fd, name, buf, len);
    return follow ? getxattr(path, name, buf, len) : lgetxattr(path, name, buf, len);
}

/*
 * Read the extended attributes of an item into n, except the POSIX ACLs,
 * which are only flagged in *acl (they are stored as ACL text). Through `fd`
 * if >= 0, else by path.
 * @return 0, or -1 with errno set (n keeps what was read).
 */
static int read_xattrs(cr_node *n, int fd, const char *path, int follow, unsigned *acl)
{
    char sbuf[1024], *list = sbuf, *p, *end;
    ssize_t len;
    size_t count = 0;
    int ret = -1, e;

    *acl = 0;
    len = x_list(fd, path, follow, list, sizeof(sbuf));
    if (len < 0 && errno == ERANGE) {
        len = x_list(fd, path, follow, NULL, 0);
        if (len > 0) {
            if (!(list = malloc((size_t)len)))
                goto done;
            len = x_list(fd, path, follow, list, (size_t)len);
        }
    }
    if (len < 0) {
        if (errno == ENOTSUP || errno == ENOSYS)
            ret = 0;
        goto done;
    }
    end = list + len;
    for (p = list; p < end; p += strlen(p) + 1)
        count++;
    if (count == 0) {
        ret = 0;
        goto done;
    }
    for (p = list; p < end; p += strlen(p) + 1) {
        ssize_t vlen;
        uint8_t *val;
        cr_xattr *nx;
        if (strcmp(p, "system.posix_acl_access") == 0) {
            *acl |= ACL_HAS_ACCESS;
            continue;
        }
        if (strcmp(p, "system.posix_acl_default") == 0) {
            *acl |= ACL_HAS_DEFAULT;
            continue;
        }
        vlen = x_get(fd, path, follow, p, NULL, 0);
        if (vlen < 0) {
            if (errno == ENODATA) /* removed since the listing */
                continue;
            goto done;
        }
        if (vlen > (ssize_t)CR_MAX_XATTR) {
            errno = E2BIG;
            goto done;
        }
        if (!(val = malloc(vlen ? (size_t)vlen : 1)))
            goto done;
        vlen = x_get(fd, path, follow, p, val, (size_t)vlen);
        if (vlen < 0) {
            e = errno;
            free(val);
            errno = e;
            if (errno == ENODATA)
                continue;
            goto done;
        }
        nx = realloc(n->xattrs, (n->nxattrs + 1) * sizeof(*nx));
        if (!nx || !(nx[n->nxattrs].name = strdup(p))) {
            if (nx)
                n->xattrs = nx;
            free(val);
            errno = ENOMEM;
            goto done;
        }
        n->xattrs = nx;
        nx[n->nxattrs].value = val;
        nx[n->nxattrs].len = (size_t)vlen;
        n->nxattrs++;
    }
    ret = 0;
done:
    e = errno;
    if (list != sbuf)
        free(list);
    errno = e;
    return ret;
}

/* Text form of an ACL, or NULL (errno set on failure, 0 when merely absent). */
static int acl_text(char **out, acl_t a)
{
    char *t = acl_to_text(a, NULL);
    if (!t)
        return -1;
    *out = strdup(t);
    acl_free(t);
    return *out ? 0 : -1;
}

/*
 * POSIX ACLs flagged by read_xattrs. The access ACL is kept only when it says
 * more than the mode bits; the default ACL only for directories.
 * @return 0 or -1 with errno.
 */
static int read_acls(cr_node *n, int fd, const char *path, unsigned acl)
{
    acl_t a;
    int r = 0;

    if (acl & ACL_HAS_ACCESS) {
        a = fd >= 0 ? acl_get_fd(fd) : acl_get_file(path, ACL_TYPE_ACCESS);
        if (!a)
            return (errno == ENOTSUP || errno == ENODATA) ? 0 : -1;
        if (acl_equiv_mode(a, NULL) != 0)
            r = acl_text(&n->acl_access, a);
        acl_free(a);
        if (r < 0)
            return -1;
    }
    if ((acl & ACL_HAS_DEFAULT) && n->type == CR_NODE_DIR && path) {
        a = acl_get_file(path, ACL_TYPE_DEFAULT);
        if (!a)
            return (errno == ENOTSUP || errno == ENODATA) ? 0 : -1;
        if (acl_entries(a) > 0)
            r = acl_text(&n->acl_default, a);
        acl_free(a);
    }
    return r;
}

/* xattrs + ACLs; a failure is a warning (the item is kept with what was read). */
static void read_meta(bk *b, cr_node *n, int fd, const char *path, int follow)
{
    unsigned acl = 0;
    if (read_xattrs(n, fd, path, follow, &acl) < 0) {
        warnf(b, 1, path, "cannot read extended attributes: %s", strerror(errno));
        return;
    }
    if (acl && n->type != CR_NODE_SYMLINK && read_acls(n, fd, path, acl) < 0)
        warnf(b, 1, path, "cannot read ACLs: %s", strerror(errno));
}

/* -------------------------------------------------- reuse of parent nodes */

static int same_version(const cr_node *n, const cr_node *old)
{
    return old && old->type == n->type && old->inode == n->inode && old->ctime_ns == n->ctime_ns &&
           old->mtime_ns == n->mtime_ns && old->size == n->size;
}

/* Take what a stat cannot tell from an unchanged node of the parent snapshot. */
static void steal_meta(cr_node *n, cr_node *old)
{
    n->xattrs = old->xattrs;
    n->nxattrs = old->nxattrs;
    old->xattrs = NULL;
    old->nxattrs = 0;
    n->acl_access = old->acl_access;
    old->acl_access = NULL;
    n->acl_default = old->acl_default;
    old->acl_default = NULL;
    n->link_target = old->link_target;
    old->link_target = NULL;
    n->atime_ns = old->atime_ns;
}

static int extents_known(bk *b, const cr_node *old)
{
    size_t i;
    uint64_t end = 0;
    for (i = 0; i < old->ncontent; i++) {
        const cr_extent *e = &old->content[i];
        if (e->offset < end || e->offset + e->len > old->size)
            return 0;
        end = e->offset + e->len;
        if (cr_index_lookup(b->idx, &e->id, NULL) != 1)
            return 0;
    }
    return 1;
}

static const cr_node *tree_find(const cr_tree *t, const char *name)
{
    size_t lo = 0, hi = t ? t->count : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, t->nodes[mid].name ? t->nodes[mid].name : "");
        if (c == 0)
            return &t->nodes[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/*
 * The parent snapshot's listing of a directory, or NULL (no parent, or
 * unreadable: that only costs speed, every file of the directory is read
 * again). Same checks as cr_tree_load, but keeping the decompression context
 * and the pack file open from one directory to the next: an unchanged
 * re-backup loads one tree per directory, and that is most of its work.
 */
static cr_tree *load_old_tree(bworker *w, const cr_node *old)
{
    bk *b = w->b;
    cr_tree *t = NULL;
    cr_blob_loc loc;

    if (!old || old->type != CR_NODE_DIR || !old->has_subtree)
        return NULL;
    if (cr_index_lookup(b->idx, &old->subtree, &loc) != 1 || loc.entry.type != CR_BLOB_TREE)
        goto fail;
    if (!w->treader && cr_blob_reader_new(&w->treader, b->repo, 1) < 0)
        goto fail;
    if (cr_blob_reader_decode(w->treader, &loc, &w->tplain) < 0 ||
        cr_tree_decode(&t, w->tplain.ptr, w->tplain.len) < 0)
        goto fail;
    return t;
fail:
    cr_error_clear();
    return NULL;
}

/* -------------------------------------------------- directory completion */

static void dir_close(bk *b, bdir *d)
{
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
        atomic_fetch_sub_explicit(&b->fds_open, 1, memory_order_relaxed);
    }
}

static void dir_free(bk *b, bdir *d)
{
    size_t i;
    for (i = 0; i < d->count; i++)
        cr_node_clear(&d->nodes[i]);
    free(d->nodes);
    dir_close(b, d);
    free(d->path);
    free(d);
}

/*
 * Store a tree, as cr_tree_save does, but encoding and naming it outside the
 * tree packer's lock: in an unchanged re-backup every tree is already in the
 * vault, so the threads finishing directories never wait for each other.
 */
static int save_tree(bworker *w, cr_id *id, const cr_tree *t)
{
    bk *b = w->b;
    int err;

    cr_buf_reset(&w->tenc);
    if ((err = cr_tree_encode(&w->tenc, t)) < 0)
        return err;
    cr_blob_id(id, &b->repo->keys, w->tenc.ptr, w->tenc.len);
    if (!cr_index_claim(b->idx, id))
        return 0;
    pthread_mutex_lock(&b->tmu);
    err = cr_packer_add(b->tpacker, CR_BLOB_TREE, id, w->tenc.ptr, w->tenc.len, NULL);
    if (err < 0)
        cr_index_unclaim(b->idx, id);
    else if (cr_packer_size(b->tpacker) >= CR_PACK_TARGET)
        err = cr_packer_flush(b->tpacker);
    pthread_mutex_unlock(&b->tmu);
    return err;
}

/* All entries of d are done: save its tree and give the id to its parent. */
static void dir_finish(bworker *w, bdir *d)
{
    bk *b = w->b;
    size_t i, k = 0;
    uint64_t files = 0, dirs = 0, others = 0, bytes = 0;
    int err = 0;
    cr_id id;

    for (i = 0; i < d->count; i++) {
        if (d->nodes[i].type == 0) {
            cr_node_clear(&d->nodes[i]);
            continue;
        }
        if (k != i)
            d->nodes[k] = d->nodes[i];
        k++;
    }
    d->count = k;
    dir_close(b, d);
    if (!atomic_load(&b->fatal)) {
        cr_tree t = {d->nodes, d->count};
        for (i = 0; i < d->count; i++) {
            const cr_node *n = &d->nodes[i];
            if (n->type == CR_NODE_FILE) {
                files++;
                bytes += n->size;
            } else if (n->type == CR_NODE_DIR) {
                dirs++;
            } else {
                others++;
            }
        }
        atomic_fetch_add_explicit(&b->files, files, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->dirs, dirs, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->others, others, memory_order_relaxed);
        err = save_tree(w, &id, &t);
        if (err < 0) {
            set_fatal(b, err);
        } else if (d->parent) {
            d->parent->nodes[d->pidx].subtree = id;
            d->parent->nodes[d->pidx].has_subtree = 1;
        } else {
            pthread_mutex_lock(&b->tmu);
            b->root = id;
            b->root_done = 1;
            pthread_mutex_unlock(&b->tmu);
        }
    }
    dir_free(b, d);
}

/*
 * Release one pending count of d; completes d (and maybe its ancestors) at
 * zero, on the calling thread.
 */
static void dir_release(bworker *w, bdir *d)
{
    while (d) {
        bdir *parent = d->parent;
        if (atomic_fetch_sub_explicit(&d->pending, 1, memory_order_acq_rel) != 1)
            return;
        dir_finish(w, d);
        d = parent;
    }
}

static bdir *dir_new(bdir *parent, size_t pidx, const char *path, int fd)
{
    bdir *d = cr_calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (!(d->path = cr_strdup(path))) {
        free(d);
        return NULL;
    }
    d->parent = parent;
    d->pidx = pidx;
    d->fd = fd;
    d->plen = strcmp(path, "/") ? strlen(path) : 0;
    d->depth = parent ? parent->depth + 1 : 0;
    atomic_init(&d->pending, 1); /* the walker's count, released when listed */
    return d;
}

/* ------------------------------------------------------------ workers */

static int ext_push(extv *ev, uint64_t off, size_t len, const cr_id *id)
{
    if (ev->n == ev->cap) {
        size_t cap = ev->cap ? ev->cap * 2 : 4;
        cr_extent *v = cr_realloc(ev->v, cap * sizeof(*v));
        if (!v)
            return CR_ERROR;
        ev->v = v;
        ev->cap = cap;
    }
    ev->v[ev->n].offset = off;
    ev->v[ev->n].len = (uint32_t)len;
    ev->v[ev->n].id = *id;
    ev->v[ev->n].blob_off = 0; /* a file backup stores each extent as a whole blob */
    ev->n++;
    return 0;
}

static int store_chunk(bworker *w, const uint8_t *p, size_t len, uint64_t off, extv *ev)
{
    bk *b = w->b;
    cr_id id;
    int err;

    cr_blob_id(&id, &b->repo->keys, p, len);
    if (cr_index_claim(b->idx, &id)) {
        size_t stored = 0;
        if ((err = cr_packer_add(w->packer, CR_BLOB_DATA, &id, p, len, &stored)) < 0) {
            cr_index_unclaim(b->idx, &id);
            return err;
        }
        atomic_fetch_add(&b->bytes_new, stored);
        if (cr_packer_size(w->packer) >= CR_PACK_TARGET && (err = cr_packer_flush(w->packer)) < 0)
            return err;
    }
    atomic_fetch_add(&b->bytes_done, len);
    return ext_push(ev, off, len, &id);
}

enum { READ_OK = 0, READ_SRC_ERROR = 1, READ_SHORT = 2 };

/*
 * Read [start, end) of a file, cut it into chunks and store them.
 * @param reached offset up to which the file was read and stored.
 * @return READ_OK, READ_SHORT (end of file before `end`), READ_SRC_ERROR
 *         (errno set), or a negative fatal error.
 */
static int read_region(bworker *w, int fd, uint64_t start, uint64_t end, extv *ev,
                       uint64_t *reached)
{
    bk *b = w->b;
    uint8_t *buf = w->buf;
    size_t fill = 0, pos = 0;
    uint64_t base = start, rd = start;
    int eof = 0, err;

    for (;;) {
        if (!eof && rd < end && fill - pos < CR_CHUNK_MAX) {
            progress(b, NULL, 0); /* any thread may be reading a large file for a while */
            if (pos > 0) {
                memmove(buf, buf + pos, fill - pos);
                base += pos;
                fill -= pos;
                pos = 0;
            }
            while (fill < w->cap && rd < end) {
                size_t want = w->cap - fill;
                ssize_t r;
                if (want > end - rd)
                    want = (size_t)(end - rd);
                r = pread(fd, buf + fill, want, (off_t)rd);
                if (r < 0) {
                    if (errno == EINTR)
                        continue;
                    *reached = base + pos;
                    return READ_SRC_ERROR;
                }
                if (r == 0) {
                    eof = 1;
                    break;
                }
                fill += (size_t)r;
                rd += (uint64_t)r;
            }
            /* the file's first bytes, read anyway, for opts->file_read */
            if (w->want_head && base == 0 && pos == 0) {
                size_t k = fill < CR_BACKUP_HEAD_BYTES ? fill : CR_BACKUP_HEAD_BYTES;
                if (w->head || (w->head = malloc(CR_BACKUP_HEAD_BYTES))) {
                    memcpy(w->head, buf, k);
                    w->head_len = k;
                }
                w->want_head = 0;
            }
        }
        if (pos == fill)
            break;
        {
            /* Here at least CR_CHUNK_MAX bytes are buffered unless at the end. */
            size_t cut = cr_chunker_cut(&b->chunker, buf + pos, fill - pos);
            if ((err = store_chunk(w, buf + pos, cut, base + pos, ev)) < 0)
                return err;
            pos += cut;
        }
        if (atomic_load(&b->fatal))
            return atomic_load(&b->fatal);
    }
    *reached = base + pos;
    return eof ? READ_SHORT : READ_OK;
}

static int open_file(bk *b, int dfd, const char *rel)
{
    int flags =
        O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK; /* never block on a FIFO swapped in */
    int fd;
    if (b->noatime) {
        fd = openat(dfd, rel, flags | O_NOATIME);
        if (fd >= 0 || errno != EPERM)
            return fd;
    }
    return openat(dfd, rel, flags);
}

static void file_job(bworker *w, const bjob *j)
{
    bk *b = w->b;
    cr_node *n = &j->d->nodes[j->idx];
    struct stat st;
    extv ev = {NULL, 0, 0};
    uint64_t size, off, reached = 0;
    int fd = j->fd, rc = READ_OK, e;

    if (fd >= 0) /* from now on, one of the few files being read */
        atomic_fetch_sub_explicit(&b->fds_open, 1, memory_order_relaxed);
    w->want_head = b->file_read;
    w->head_len = 0;
    if (atomic_load(&b->fatal))
        goto fail;
    if (fd < 0 && (fd = open_file(b, j->dfd, j->rel)) < 0) {
        warn_item(b, j->d, j->rel, "cannot open", errno);
        goto fail;
    }
    /* No fstat before reading: the walker's lstat describes the file, and the
     * fstat after reading catches a file replaced or changed meanwhile. O_NONBLOCK
     * keeps a FIFO swapped in from blocking; at most `size` bytes are read. */
    size = n->size;
    if (size > 0) {
        if (!w->buf) {
            w->cap = 2 * (size_t)CR_CHUNK_MAX;
            if (!(w->buf = cr_malloc(w->cap))) {
                set_fatal(b, CR_ERROR);
                goto fail;
            }
        }
        if (size > CR_CHUNK_MIN) /* small files fit in the default read-ahead */
            posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        if (!j->sparse) {
            rc = read_region(w, fd, 0, size, &ev, &reached);
        } else {
            /* Sparse: store only the data regions; holes are gaps between extents. */
            off = 0;
            while (off < size) {
                off_t ds = lseek(fd, (off_t)off, SEEK_DATA), he;
                if (ds < 0) {
                    if (errno == ENXIO) /* only a hole up to the end */
                        break;
                    if (errno == EINVAL || errno == ENOTSUP) {
                        rc = read_region(w, fd, off, size, &ev, &reached);
                        break;
                    }
                    rc = READ_SRC_ERROR;
                    break;
                }
                if ((uint64_t)ds >= size)
                    break;
                he = lseek(fd, ds, SEEK_HOLE);
                if (he < 0 || (uint64_t)he > size)
                    he = (off_t)size;
                rc = read_region(w, fd, (uint64_t)ds, (uint64_t)he, &ev, &reached);
                if (rc != READ_OK)
                    break;
                off = (uint64_t)he;
            }
        }
        if (rc < 0) {
            set_fatal(b, rc);
            goto fail;
        }
        if (rc == READ_SRC_ERROR) {
            warn_item(b, j->d, j->rel, "cannot read", errno);
            goto fail;
        }
    }
    if (fstat(fd, &st) < 0) {
        warn_item(b, j->d, j->rel, "cannot stat", errno);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        warn_item_msg(b, 1, j->d, j->rel,
                      "replaced by something else than a file during the backup");
        goto fail;
    }
    if (rc == READ_SHORT) {
        /* Keep a consistent file: what was read, with the size it had then. */
        n->size = reached;
        warn_item_msg(b, 1, j->d, j->rel,
                      "file shrank while it was being read; stored the part read");
    } else if ((uint64_t)st.st_ino != n->inode || (uint64_t)st.st_size != size ||
               ts_ns(&st.st_mtim) != n->mtime_ns || ts_ns(&st.st_ctim) != n->ctime_ns) {
        warn_item_msg(b, 1, j->d, j->rel,
                      "file changed while it was being read; the stored copy may mix old and new "
                      "content (back it up again when it is quiet)");
    }
    {
        char *p = NULL;
        unsigned acl = 0;
        if (read_xattrs(n, fd, NULL, 0, &acl) < 0 || (acl && read_acls(n, fd, NULL, acl) < 0)) {
            e = errno;
            p = join_path(j->d->path, j->rel);
            warnf(b, 1, p ? p : j->rel, "cannot read extended attributes or ACLs: %s", strerror(e));
            free(p);
        }
    }
    close(fd);
    n->content = ev.v;
    n->ncontent = ev.n;
    w->want_head = 0;
    if (b->file_read) {
        char *p = join_path(j->d->path, j->rel);
        if (p)
            b->opts->file_read(p, j->cls == CLS_NEW, n->size, w->head, w->head_len,
                               b->opts->read_payload);
        free(p);
    }
    atomic_fetch_add(j->cls == CLS_NEW ? &b->files_new : &b->files_changed, 1);
    atomic_fetch_add(&b->files_done, 1);
    return;
fail:
    if (fd >= 0)
        close(fd);
    free(ev.v);
    w->want_head = 0;
    n->type = (cr_node_type)0; /* left out of the tree */
    atomic_fetch_add(&b->files_done, 1);
}

static int walk_dir(bworker *w, bdir *parent, size_t pidx, int dfd, const char *rel,
                    const char *path, cr_node *old);

static void bq_push(bqueue *q, const bjob *j)
{
    q->q[(q->head + q->len) % q->cap] = *j;
    q->len++;
}

static void bq_pop(bqueue *q, bjob *j)
{
    *j = q->q[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
}

/* Move what src owns but its name into dst (src keeps its name for the merge by name). */
static void node_move(cr_node *dst, cr_node *src)
{
    char *name = src->name;
    *dst = *src;
    dst->name = NULL;
    memset(src, 0, sizeof(*src));
    src->name = name;
}

static void run_job(bworker *w, bjob *j)
{
    bk *b = w->b;
    if (j->kind == JOB_FILE) {
        file_job(w, j);
        dir_release(w, j->d);
        return;
    }
    {
        /* Same contract as walk_dir: the count the job holds in d is always released. */
        char *path = join_path(j->d->path, j->rel);
        if (!path) {
            j->d->nodes[j->idx].type = (cr_node_type)0;
            set_fatal(b, CR_ERROR);
            dir_release(w, j->d);
        } else {
            walk_dir(w, j->d, j->idx, j->dfd, j->rel, path, j->has_old ? &j->old : NULL);
            free(path);
        }
        cr_node_clear(&j->old);
    }
}

/*
 * Take jobs until there is none queued and none running (so none can be
 * queued any more). The calling thread runs this too once it has walked the
 * given paths, and wakes up a few times a second to report progress.
 */
static void run_jobs(bworker *w)
{
    bk *b = w->b;
    bjob j;
    int err;

    pthread_mutex_lock(&b->qmu);
    for (;;) {
        while (b->dq.len == 0 && b->fq.len == 0 && !b->qdone) {
            b->idle++;
            if (w->is_main && b->opts->progress) {
                struct timespec ts;
                cr_deadline(&ts, 250);
                if (pthread_cond_timedwait(&b->qwork, &b->qmu, &ts) == ETIMEDOUT) {
                    pthread_mutex_unlock(&b->qmu);
                    progress(b, NULL, 0);
                    pthread_mutex_lock(&b->qmu);
                }
            } else {
                pthread_cond_wait(&b->qwork, &b->qmu);
            }
            b->idle--;
        }
        if (b->dq.len == 0 && b->fq.len == 0)
            break;
        /* Walks first: they make the work that keeps every thread busy. */
        if (b->dq.len)
            bq_pop(&b->dq, &j);
        else
            bq_pop(&b->fq, &j);
        b->active++;
        pthread_mutex_unlock(&b->qmu);
        run_job(w, &j);
        pthread_mutex_lock(&b->qmu);
        if (--b->active == 0 && b->dq.len == 0 && b->fq.len == 0) {
            b->qdone = 1;
            pthread_cond_broadcast(&b->qwork);
        }
    }
    pthread_mutex_unlock(&b->qmu);
    if (!atomic_load(&b->fatal) && (err = cr_packer_flush(w->packer)) < 0)
        set_fatal(b, err);
}

static void *worker_main(void *arg)
{
    run_jobs(arg);
    return NULL;
}

/*
 * Queue a file to read. When the queue is full, read the oldest queued file
 * here first, instead of waiting for room: every thread walks, so waiting
 * could leave all of them waiting on each other. A file job queues nothing,
 * so this never nests.
 * @return 0 or a fatal error (the job was not queued).
 */
static int queue_file(bworker *w, const bjob *j)
{
    bk *b = w->b;
    bjob h;

    pthread_mutex_lock(&b->qmu);
    while (b->fq.len == b->fq.cap && !atomic_load(&b->fatal)) {
        bq_pop(&b->fq, &h);
        pthread_mutex_unlock(&b->qmu);
        run_job(w, &h);
        pthread_mutex_lock(&b->qmu);
    }
    if (atomic_load(&b->fatal)) {
        pthread_mutex_unlock(&b->qmu);
        return atomic_load(&b->fatal);
    }
    bq_push(&b->fq, j);
    if (b->idle)
        pthread_cond_signal(&b->qwork);
    pthread_mutex_unlock(&b->qmu);
    return 0;
}

/*
 * Hand the walk of directory d->nodes[idx] to another thread, if the walk
 * queue has room and not too many directories are open (each directory in
 * progress keeps its descriptor until its entries are done). The caller has
 * counted it in d->pending. old (its node in the parent snapshot, or NULL)
 * is moved into the job.
 * @return 1 if queued, 0 if the caller must walk it.
 */
static int queue_walk(bworker *w, bdir *d, size_t idx, int dfd, const char *rel, cr_node *old)
{
    bk *b = w->b;
    bjob *j;

    if (atomic_load_explicit(&b->fds_open, memory_order_relaxed) >= b->walk_fds_max)
        return 0;
    pthread_mutex_lock(&b->qmu);
    if (b->dq.len == b->dq.cap || atomic_load(&b->fatal)) {
        pthread_mutex_unlock(&b->qmu);
        return 0;
    }
    j = &b->dq.q[(b->dq.head + b->dq.len) % b->dq.cap];
    memset(j, 0, sizeof(*j));
    j->kind = JOB_WALK;
    j->d = d;
    j->idx = idx;
    j->dfd = dfd;
    j->rel = rel;
    j->fd = -1;
    if (old) {
        j->has_old = 1;
        node_move(&j->old, old);
    }
    b->dq.len++;
    if (b->idle)
        pthread_cond_signal(&b->qwork);
    pthread_mutex_unlock(&b->qmu);
    return 1;
}

/* ------------------------------------------------------------- walker */

static int read_link(bk *b, cr_node *n, int dfd, const char *rel, const char *path)
{
    size_t cap = 256;
    for (;;) {
        char *t = cr_malloc(cap);
        ssize_t r;
        if (!t)
            return CR_ERROR;
        r = readlinkat(dfd, rel, t, cap);
        if (r < 0) {
            int e = errno;
            free(t);
            warn_errno(b, path, "cannot read symbolic link", e);
            return 1;
        }
        if ((size_t)r < cap) {
            t[r] = '\0';
            n->link_target = t;
            return 0;
        }
        free(t);
        if (cap >= CR_MAX_LINK) {
            warnf(b, 1, path, "symbolic link target longer than %u bytes", CR_MAX_LINK);
            return 1;
        }
        cap *= 4;
    }
}

/*
 * Handle entry i of d (its stat metadata and names already filled in).
 * dfd/rel open it; path is its absolute path or NULL (built when needed).
 * @return 0 or a fatal error.
 */
static int process_entry(bworker *w, bdir *d, size_t i, int dfd, const char *rel, const char *path,
                         cr_node *old, int sparse)
{
    bk *b = w->b;
    cr_node *n = &d->nodes[i];
    char *own = NULL;
    int err = 0, r;

    if (n->type == CR_NODE_FILE) {
        bjob j;
        if (!b->opts->force_read && same_version(n, old) && extents_known(b, old)) {
            steal_meta(n, old);
            n->content = old->content;
            n->ncontent = old->ncontent;
            old->content = NULL;
            old->ncontent = 0;
            atomic_fetch_add(&b->files_unchanged, 1);
            atomic_fetch_add(&b->files_done, 1);
            atomic_fetch_add(&b->bytes_done, n->size);
            return 0;
        }
        memset(&j, 0, sizeof(j));
        j.kind = JOB_FILE;
        j.d = d;
        j.idx = i;
        j.dfd = dfd;
        j.rel = rel;
        j.cls = (old && old->type == CR_NODE_FILE) ? CLS_CHANGED : CLS_NEW;
        j.sparse = sparse;
        j.fd = -1;
        /* Open small files here and ask the kernel to start reading them: with
         * up to QUEUE_CAP files in flight, a cold cache sees many reads queued
         * at once instead of one per worker. A failed open is left to the
         * worker, which reports it. */
        if (n->size > 0 && n->size <= READAHEAD_MAX &&
            atomic_load_explicit(&b->fds_open, memory_order_relaxed) < b->ahead_fds_max &&
            (j.fd = open_file(b, dfd, rel)) >= 0) {
            posix_fadvise(j.fd, 0, (off_t)n->size, POSIX_FADV_WILLNEED);
            atomic_fetch_add_explicit(&b->fds_open, 1, memory_order_relaxed);
        }
        atomic_fetch_add(&d->pending, 1);
        if ((err = queue_file(w, &j)) < 0) {
            n->type = (cr_node_type)0;
            atomic_fetch_sub(&d->pending, 1);
            if (j.fd >= 0) {
                close(j.fd);
                atomic_fetch_sub_explicit(&b->fds_open, 1, memory_order_relaxed);
            }
        }
        return err;
    }

    if (n->type == CR_NODE_DIR) {
        atomic_fetch_add(&d->pending, 1);
        if (queue_walk(w, d, i, dfd, rel, old))
            return 0;
    }

    if (!path && !(path = own = join_path(d->path, rel))) {
        if (n->type == CR_NODE_DIR)
            atomic_fetch_sub(&d->pending, 1);
        return set_fatal(b, CR_ERROR);
    }

    if (n->type == CR_NODE_DIR) {
        err = walk_dir(w, d, i, dfd, rel, path, old);
        free(own);
        return err;
    }

    /* Symlinks, FIFOs, devices, sockets: metadata only, never opened. */
    if (same_version(n, old)) {
        steal_meta(n, old);
    } else {
        if (n->type == CR_NODE_SYMLINK) {
            if ((r = read_link(b, n, dfd, rel, path)) != 0) {
                n->type = (cr_node_type)0;
                if (r < 0)
                    err = set_fatal(b, r);
                goto done;
            }
        }
        read_meta(b, n, -1, path, 0);
    }
done:
    free(own);
    return err;
}

/* List the names of a directory into nodes (type 0 until stat), skipping excluded items. */
static int list_dir(bworker *w, bdir *d)
{
    bk *b = w->b;
    size_t cap = 0;

    for (;;) {
        ssize_t nr = getdents64(d->fd, w->dents, DENTS_SIZE), pos;
        if (nr < 0) {
            if (errno == EINTR)
                continue;
            warn_errno(b, d->path, "cannot list folder (stored with the entries read)", errno);
            return 0;
        }
        if (nr == 0)
            return 0;
        for (pos = 0; pos < nr;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(w->dents + pos);
            const char *name = e->d_name;
            cr_node *n;
            pos += e->d_reclen;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (b->opts->nexcludes && excluded(w, d->path, name))
                continue;
            if (d->count == cap) {
                size_t ncap = cap ? cap * 2 : 32;
                cr_node *nn = cr_realloc(d->nodes, ncap * sizeof(*nn));
                if (!nn)
                    return set_fatal(b, CR_ERROR);
                d->nodes = nn;
                cap = ncap;
            }
            n = &d->nodes[d->count];
            memset(n, 0, sizeof(*n));
            if (!(n->name = cr_strdup(name)))
                return set_fatal(b, CR_ERROR);
            d->count++;
        }
    }
}

/*
 * Walk the directory `rel` of dfd, whose node is parent->nodes[pidx] (parent
 * NULL: it is the snapshot root). The caller counted it in parent->pending;
 * that count is always released here, directly or by the directory's
 * completion. old: the node of the same path in the parent snapshot.
 * @return 0 or a fatal error.
 */
/*
 * Kernel pseudo-filesystems (/proc, /sys, cgroups, ...): their "files" are
 * views of the running kernel, not data, and some are endless or huge
 * (/proc/kcore). Backing up "/" of a server must not read them: such a folder
 * is kept, empty, as tar --one-file-system users expect of /proc and /sys.
 */
static int is_pseudo_fs(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case PSTOREFS_MAGIC:
    case BPF_FS_MAGIC:
    case EFIVARFS_MAGIC:
    case HUGETLBFS_MAGIC:
    case SELINUX_MAGIC:
    case NSFS_MAGIC:
    case 0x65735543: /* fusectl */
    case 0x62656570: /* configfs */
    case 0x42494e4d: /* binfmt_misc */
    case 0x19800202: /* mqueue */
        return 1;
    default:
        return 0;
    }
}

static int walk_dir(bworker *w, bdir *parent, size_t pidx, int dfd, const char *rel,
                    const char *path, cr_node *old)
{
    bk *b = w->b;
    cr_node *self = parent ? &parent->nodes[pidx] : NULL;
    cr_tree *oldt = NULL;
    bdir *d;
    int fd, err = 0, flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    size_t i, k;

    if (atomic_load(&b->fatal)) {
        if (self)
            self->type = (cr_node_type)0;
        dir_release(w, parent);
        return atomic_load(&b->fatal);
    }
    progress(b, path, 0);
    fd = b->noatime ? openat(dfd, rel, flags | O_NOATIME) : -1;
    if (fd < 0)
        fd = openat(dfd, rel, flags);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            warn_errno(b, path, "cannot open folder", e);
            if (self)
                self->type = (cr_node_type)0;
        } else {
            /* Keep the folder, empty: its name, owner and mode are still worth restoring. */
            warnf(b, 1, path, "cannot open folder: %s (stored empty)", strerror(e));
        }
    } else if (self) {
        if (same_version(self, old))
            steal_meta(self, old);
        else
            read_meta(b, self, fd, path, 1);
    }
    if (!(d = dir_new(parent, pidx, path, fd))) {
        if (fd >= 0)
            close(fd);
        if (self)
            self->type = (cr_node_type)0;
        dir_release(w, parent);
        return set_fatal(b, CR_ERROR);
    }
    if (fd < 0)
        goto release;
    atomic_fetch_add_explicit(&b->fds_open, 1, memory_order_relaxed);
    if (is_pseudo_fs(fd))
        goto release; /* kept, empty */
    if ((err = list_dir(w, d)) < 0)
        goto release;
    {
        cr_tree t = {d->nodes, d->count};
        cr_tree_sort(&t);
    }
    oldt = load_old_tree(w, old);

    /* Both listings are sorted by name: merge them. */
    for (i = 0, k = 0; i < d->count; i++) {
        cr_node *n = &d->nodes[i], *o = NULL;
        struct stat st;
        while (oldt && k < oldt->count &&
               strcmp(oldt->nodes[k].name ? oldt->nodes[k].name : "", d->nodes[i].name) < 0)
            k++;
        if (oldt && k < oldt->count && oldt->nodes[k].name &&
            strcmp(oldt->nodes[k].name, d->nodes[i].name) == 0)
            o = &oldt->nodes[k];
        if (atomic_load(&b->fatal)) {
            d->nodes[i].type = (cr_node_type)0;
            continue;
        }
        /* What a restore could not put back is refused here (vault.h), not stored. */
        if (d->plen + 1 + strlen(n->name) > CR_TREE_MAX_PATH) {
            char msg[160];
            snprintf(msg, sizeof(msg), "path longer than %d bytes: not backed up (a restore could "
                     "not write it back)", CR_TREE_MAX_PATH);
            warn_item_msg(b, 1, d, n->name, msg);
            continue; /* type 0: left out */
        }
        if (fstatat(d->fd, n->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            warn_item(b, d, n->name, "cannot stat", errno);
            continue; /* type 0: left out */
        }
        if (S_ISDIR(st.st_mode) && d->depth + 1 > CR_TREE_MAX_DEPTH) {
            char msg[160];
            snprintf(msg, sizeof(msg), "folder nested deeper than %d levels: not backed up, nor "
                     "anything in it (a restore could not write it back)", CR_TREE_MAX_DEPTH);
            warn_item_msg(b, 1, d, n->name, msg);
            continue;
        }
        if (S_ISDIR(st.st_mode) && b->have_vault && st.st_dev == b->vault_dev &&
            st.st_ino == b->vault_ino)
            continue; /* never back up the vault into itself */
        node_stat(n, &st);
        if (!n->type) {
            warn_item_msg(b, 1, d, n->name, "unsupported kind of file");
            continue;
        }
        node_names(w, n);
        if ((err = process_entry(w, d, i, d->fd, n->name, NULL, o,
                                 (uint64_t)st.st_blocks * 512 < n->size)) < 0)
            n->type = (cr_node_type)0;
    }
release:
    cr_tree_free(oldt);
    if (!err && atomic_load(&b->fatal))
        err = atomic_load(&b->fatal);
    dir_release(w, d);
    return err;
}

/*
 * Walk a virtual directory of the root (a component of the given paths).
 * Same contract as walk_dir.
 */
static int walk_virtual(bworker *w, vnode *v, bdir *parent, size_t pidx, cr_node *old)
{
    bk *b = w->b;
    cr_tree *oldt = NULL;
    bdir *d;
    size_t i;
    int err = 0;

    if (!(d = dir_new(parent, pidx, v->path, -1))) {
        dir_release(w, parent);
        return set_fatal(b, CR_ERROR);
    }
    if (v->nkids && !(d->nodes = cr_calloc(v->nkids, sizeof(cr_node)))) {
        err = set_fatal(b, CR_ERROR);
        goto release;
    }
    d->count = v->nkids;
    for (i = 0; i < v->nkids; i++)
        if (!(d->nodes[i].name = cr_strdup(v->kids[i].name))) {
            err = set_fatal(b, CR_ERROR);
            goto release;
        }
    oldt = load_old_tree(w, old);

    for (i = 0; i < v->nkids && !err; i++) {
        vnode *kid = &v->kids[i];
        cr_node *n = &d->nodes[i];
        cr_node *o = (cr_node *)tree_find(oldt, kid->name);
        struct stat st;

        if (lstat(kid->path, &st) < 0) {
            warn_errno(b, kid->path, "cannot stat", errno);
            n->type = (cr_node_type)0;
            continue;
        }
        if (kid->leaf) {
            node_stat(n, &st);
            node_names(w, n);
            if (!n->type) {
                warnf(b, 1, kid->path, "unsupported kind of file");
                continue;
            }
            err = process_entry(w, d, i, AT_FDCWD, kid->path, kid->path, o,
                                (uint64_t)st.st_blocks * 512 < n->size);
            continue;
        }
        /* An intermediate directory; a symlink on the way (/lib -> usr/lib) is followed. */
        if (S_ISLNK(st.st_mode) && stat(kid->path, &st) < 0) {
            warn_errno(b, kid->path, "cannot stat", errno);
            n->type = (cr_node_type)0;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            warnf(b, 1, kid->path, "not a folder");
            n->type = (cr_node_type)0;
            continue;
        }
        node_stat(n, &st);
        node_names(w, n);
        if (same_version(n, o))
            steal_meta(n, o);
        else
            read_meta(b, n, -1, kid->path, 1);
        atomic_fetch_add(&d->pending, 1);
        err = walk_virtual(w, kid, d, i, o);
    }
    for (; i < v->nkids; i++)
        d->nodes[i].type = (cr_node_type)0;
release:
    cr_tree_free(oldt);
    dir_release(w, d);
    return err;
}

/* ------------------------------------------------------- paths and options */

/* Absolute, without "//", ".", ".." or a trailing "/"; symlinks are not resolved. */
static int normalize_path(char **out, const char *p)
{
    char *abs = NULL, *res = NULL, *save = NULL, *tok;
    size_t len = 0;
    int err = CR_ERROR;

    *out = NULL;
    if (p[0] == '/') {
        abs = cr_strdup(p);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return cr_error_errno("cannot back up %s: cannot find the working folder", p);
        abs = cr_sprintf("%s/%s", cwd, p);
        free(cwd);
    }
    if (!abs || !(res = cr_malloc(strlen(abs) + 2)))
        goto done;
    for (tok = strtok_r(abs, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            while (len > 0 && res[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        res[len++] = '/';
        memcpy(res + len, tok, strlen(tok));
        len += strlen(tok);
    }
    if (len == 0)
        res[len++] = '/';
    res[len] = '\0';
    *out = res;
    res = NULL;
    err = 0;
done:
    free(abs);
    free(res);
    return err;
}

static void vnode_clear(vnode *v)
{
    size_t i;
    for (i = 0; i < v->nkids; i++)
        vnode_clear(&v->kids[i]);
    free(v->kids);
    free(v->name);
    free(v->path);
    memset(v, 0, sizeof(*v));
}

static int vnode_cmp(const void *a, const void *b)
{
    return strcmp(((const vnode *)a)->name, ((const vnode *)b)->name);
}

static void vnode_sort(vnode *v)
{
    size_t i;
    if (v->nkids > 1)
        qsort(v->kids, v->nkids, sizeof(vnode), vnode_cmp);
    for (i = 0; i < v->nkids; i++)
        vnode_sort(&v->kids[i]);
}

/* Add a normalised absolute path to the virtual root. */
static int vnode_add(vnode *root, const char *path)
{
    vnode *cur = root;
    const char *p = path, *end;

    if (strcmp(path, "/") == 0) {
        size_t i;
        for (i = 0; i < root->nkids; i++)
            vnode_clear(&root->kids[i]);
        root->nkids = 0;
        root->leaf = 1;
        return 0;
    }
    while (*p) {
        size_t i, l;
        vnode *kid = NULL;
        if (cur->leaf)
            return 0; /* already covered by a shorter path */
        p++;          /* skip '/' */
        end = strchr(p, '/');
        l = end ? (size_t)(end - p) : strlen(p);
        for (i = 0; i < cur->nkids; i++)
            if (strlen(cur->kids[i].name) == l && memcmp(cur->kids[i].name, p, l) == 0)
                kid = &cur->kids[i];
        if (!kid) {
            if (cur->nkids == cur->capkids) {
                size_t cap = cur->capkids ? cur->capkids * 2 : 4;
                vnode *k = cr_realloc(cur->kids, cap * sizeof(*k));
                if (!k)
                    return CR_ERROR;
                cur->kids = k;
                cur->capkids = cap;
            }
            kid = &cur->kids[cur->nkids];
            memset(kid, 0, sizeof(*kid));
            if (!(kid->name = cr_strndup(p, l)) ||
                !(kid->path = cr_strndup(path, (size_t)(p - path) + l))) {
                free(kid->name);
                free(kid->path);
                return CR_ERROR;
            }
            cur->nkids++;
        }
        cur = kid;
        p += l;
    }
    if (!cur->leaf) {
        size_t i;
        for (i = 0; i < cur->nkids; i++)
            vnode_clear(&cur->kids[i]);
        free(cur->kids);
        cur->kids = NULL;
        cur->nkids = cur->capkids = 0;
        cur->leaf = 1;
    }
    return 0;
}

int cr_check_text(const char *what, const char *s, size_t max, int allow_slash)
{
    const unsigned char *p;
    if (!s || !*s) {
        cr_error_set("the %s must not be empty", what);
        return CR_EINPUT;
    }
    if (strlen(s) > max) {
        cr_error_set("the %s \"%.40s...\" is longer than %zu bytes", what, s, max);
        return CR_EINPUT;
    }
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            cr_error_set("the %s must not contain control characters", what);
            return CR_EINPUT;
        }
        if (!allow_slash && (*p == '/' || *p == ':')) {
            cr_error_set("the %s \"%s\" must not contain '/' or ':'", what, s);
            return CR_EINPUT;
        }
    }
    return 0;
}

/*
 * The system root given with the paths: one of them, a folder above them (the snapshot
 * holds it), or a folder below one of them that exists. *out normalised.
 */
static int check_root(char **out, const char *root, char *const *norm, size_t n)
{
    char *r = NULL;
    struct stat st;
    int err;
    if (!*root || (err = cr_check_text("system root", root, 4096, 1)) < 0) {
        cr_error_set("the system root must be a folder's path");
        return CR_EINPUT;
    }
    if ((err = normalize_path(&r, root)) < 0)
        return err;
    size_t rl = strlen(r);
    for (size_t i = 0; i < n; i++) {
        const char *p = norm[i];
        size_t pl = strlen(p);
        int above = !strcmp(r, "/") || (pl > rl && !strncmp(p, r, rl) && p[rl] == '/');
        int below = rl > pl && !strncmp(r, p, pl) && (r[pl] == '/' || !strcmp(p, "/"));
        if (!strcmp(p, r) || above ||
            (below && lstat(r, &st) == 0 && S_ISDIR(st.st_mode))) {
            *out = r;
            return 0;
        }
    }
    cr_error_set("the system root %s is not one of the paths backed up, nor a folder above or "
                 "inside them",
                 r);
    free(r);
    return CR_EINPUT;
}

static int validate(const cr_backup_options *o, const char *const *paths, size_t npaths)
{
    size_t i;
    int err;
    if (!o || o->version < 1 || o->version > CR_BACKUP_OPTIONS_VERSION) {
        cr_error_set("backup options missing or of an unknown version");
        return CR_EINPUT;
    }
    if (!o->source || !*o->source) {
        cr_error_set("a source name is required (the system the backup protects, e.g. "
                     "\"dpi-server\")");
        return CR_EINPUT;
    }
    if ((err = cr_check_text("source name", o->source, 255, 0)) < 0)
        return err;
    if (npaths == 0 || !paths) {
        cr_error_set("nothing to back up: give at least one path");
        return CR_EINPUT;
    }
    for (i = 0; i < npaths; i++)
        if (!paths[i] || !*paths[i]) {
            cr_error_set("an empty path was given to back up");
            return CR_EINPUT;
        }
    for (i = 0; i < o->ntags; i++)
        if ((err = cr_check_text("tag", o->tags[i], 255, 1)) < 0)
            return err;
    for (i = 0; i < o->nexcludes; i++)
        if ((err = cr_check_text("exclude pattern", o->excludes[i], 4096, 1)) < 0)
            return err;
    if (o->threads < 0 || o->threads > MAX_THREADS) {
        cr_error_set("the number of threads must be between 0 (automatic) and %d", MAX_THREADS);
        return CR_EINPUT;
    }
    return 0;
}

static char **strv_dup(const char *const *v, size_t n)
{
    char **out;
    size_t i;
    if (n == 0)
        return NULL;
    if (!(out = cr_calloc(n, sizeof(char *))))
        return NULL;
    for (i = 0; i < n; i++)
        if (!(out[i] = cr_strdup(v[i]))) {
            while (i--)
                free(out[i]);
            free(out);
            return NULL;
        }
    return out;
}

char *cr_who_am_i(void)
{
    char buf[4096];
    struct passwd pw, *res = NULL;
    const char *u;
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
        return cr_strdup(res->pw_name);
    u = getenv("USER");
    return cr_strdup(u ? u : "");
}

/* ---------------------------------------------------------------- main */

int cr_backup(cr_snapshot **out, cr_repo *repo, const char *const *paths, size_t npaths,
              const cr_backup_options *opts)
{
    bk *b = NULL;
    bworker *workers = NULL;
    cr_lock *lock = NULL;
    cr_snapshot **list = NULL, *snap = NULL;
    size_t nlist = 0, nw = 0, started = 0, i, j, nnorm = 0;
    char **norm = NULL, *sysroot = NULL;
    vnode root;
    cr_node oldroot;
    int err = 0, have_parent = 0, mutexes = 0;
    cr_id parent_id = {{0}};
    uint64_t parent_files = 0;
    int64_t time_ns;
    struct stat st;

    memset(&root, 0, sizeof(root));
    memset(&oldroot, 0, sizeof(oldroot));
    if (out)
        *out = NULL;
    if (!repo) {
        cr_error_set("no vault given");
        return CR_EINPUT;
    }
    if ((err = validate(opts, paths, npaths)) < 0)
        return err;
    time_ns = opts->time_ns ? opts->time_ns : cr_time_now_ns();

    /* Paths: absolute, normalised, each existing now; duplicates dropped. */
    if (!(norm = cr_calloc(npaths, sizeof(char *)))) {
        err = CR_ERROR;
        goto done;
    }
    for (i = 0; i < npaths; i++) {
        char *p;
        if ((err = normalize_path(&p, paths[i])) < 0)
            goto done;
        for (j = 0; j < nnorm; j++)
            if (strcmp(norm[j], p) == 0)
                break;
        if (j < nnorm) {
            free(p);
            continue;
        }
        norm[nnorm++] = p;
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                cr_error_set("cannot back up %s: no such file or directory", paths[i]);
                err = CR_ENOTFOUND;
            } else {
                err = cr_error_errno("cannot back up %s", paths[i]);
            }
            goto done;
        }
        if ((err = vnode_add(&root, p)) < 0)
            goto done;
    }
    if (opts->version >= 2 && opts->root &&
        (err = check_root(&sysroot, opts->root, norm, nnorm)) < 0)
        goto done;
    if (!root.leaf && !(root.path = cr_strdup("/"))) {
        err = CR_ERROR;
        goto done;
    }
    vnode_sort(&root);

    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0)
        goto done;
    /* Leftovers of a backup killed mid-write: an hour is far beyond any write in progress. */
    cr_repo_clean_temp(repo, 3600);

    if (!(b = cr_calloc(1, sizeof(*b)))) {
        err = CR_ERROR;
        goto done;
    }
    b->repo = repo;
    b->opts = opts;
    b->file_read = opts->version >= 3 && opts->file_read != NULL;
    b->t0 = cr_time_mono();
    b->noatime = 1;
    b->fq.cap = QUEUE_CAP;
    b->dq.cap = DIRQ_CAP;
    {
        struct rlimit rl;
        long budget = 4 * DIRS_OPEN_MAX;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < (rlim_t)budget + FD_RESERVE)
            budget = (long)rl.rlim_cur - FD_RESERVE;
        if (budget < 0)
            budget = 0;
        b->walk_fds_max = (int)(budget / 2 < DIRS_OPEN_MAX ? budget / 2 : DIRS_OPEN_MAX);
        b->ahead_fds_max = (int)(budget * 3 / 4);
    }
    if ((err = cr_repo_index_writable(&b->idx, repo)) < 0)
        goto done;
    cr_chunker_init(&b->chunker, repo->keys.chunker, CR_CHUNK_MIN, CR_CHUNK_AVG, CR_CHUNK_MAX);
    if (stat(cr_repo_path(repo), &st) == 0) {
        b->have_vault = 1;
        b->vault_dev = st.st_dev;
        b->vault_ino = st.st_ino;
    }

    /* Parent: the latest snapshot of the same source. */
    if ((err = cr_snapshot_list(&list, &nlist, repo, opts->source)) < 0)
        goto done;
    if (nlist > 0) {
        const cr_snapshot *p = list[nlist - 1];
        for (i = 0; i < nlist; i++)
            if (list[i]->time_ns >= p->time_ns)
                p = list[i];
        have_parent = 1;
        parent_id = p->id;
        b->est_files = p->files;
        b->est_bytes = p->bytes;
        parent_files = p->files;
        oldroot.type = CR_NODE_DIR;
        oldroot.has_subtree = 1;
        oldroot.subtree = p->tree;
    }
    cr_snapshot_list_free(list, nlist);
    list = NULL;
    nlist = 0;

    pthread_mutex_init(&b->qmu, NULL);
    pthread_mutex_init(&b->tmu, NULL);
    pthread_mutex_init(&b->emu, NULL);
    pthread_mutex_init(&b->pmu, NULL);
    pthread_cond_init(&b->qwork, NULL);
    mutexes = 1;

    if ((err = cr_packer_new(&b->tpacker, repo)) < 0)
        goto done;
    /* The calling thread works too: one helper per core beyond the first keeps
     * every core busy, and each extra thread would add a read buffer and a pack
     * being filled (peak memory) for no measurable speed. */
    /* One worker per core but the walker's; one per core on a remote store (vault server,
     * S3), where each pack upload waits for its answer. */
    nw = opts->threads > 0                  ? (size_t)opts->threads
         : !cr_store_is_local(repo->store) ? (size_t)cr_ncpu()
         : (size_t)(cr_ncpu() > 1 ? cr_ncpu() - 1 : 1);
    if (nw > MAX_THREADS)
        nw = MAX_THREADS;
    /* workers[nw] is the calling thread's own state: it walks and reads too. */
    if (!(workers = cr_calloc(nw + 1, sizeof(*workers)))) {
        err = CR_ERROR;
        goto done;
    }
    for (i = 0; i <= nw; i++) {
        bworker *w = &workers[i];
        w->b = b;
        w->is_main = i == nw;
        w->pwbuflen = 16384;
        if ((err = cr_packer_new(&w->packer, repo)) < 0)
            goto done;
        if (!(w->pwbuf = cr_malloc(w->pwbuflen)) || !(w->dents = cr_malloc(DENTS_SIZE))) {
            err = CR_ERROR;
            goto done;
        }
    }
    b->active = 1; /* the calling thread, until it has walked the given paths */
    for (started = 0; started < nw; started++) {
        if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0) {
            cr_error_set("cannot start a backup thread: out of resources");
            set_fatal(b, CR_ERROR);
            break;
        }
    }

    /* Walk. Errors are recorded in b->fatal; the walk always unwinds. */
    if (root.leaf)
        walk_dir(&workers[nw], NULL, 0, AT_FDCWD, "/", "/", have_parent ? &oldroot : NULL);
    else
        walk_virtual(&workers[nw], &root, NULL, 0, have_parent ? &oldroot : NULL);

    /* Help with the walks and files queued meanwhile, until none is left. */
    pthread_mutex_lock(&b->qmu);
    if (--b->active == 0 && b->dq.len == 0 && b->fq.len == 0) {
        b->qdone = 1;
        pthread_cond_broadcast(&b->qwork);
    }
    pthread_mutex_unlock(&b->qmu);
    run_jobs(&workers[nw]);
    for (i = 0; i < started; i++)
        pthread_join(workers[i].th, NULL);
    started = 0;

    if ((err = atomic_load(&b->fatal)) < 0) {
        cr_error_set("%s", b->fatal_msg);
        goto done;
    }
    if (!b->root_done) {
        cr_error_set("backup failed: the snapshot root was not completed");
        err = CR_ERROR;
        goto done;
    }

    /* Write order: packs, then the index naming them, then the snapshot. */
    if ((err = cr_packer_flush(b->tpacker)) < 0 || (err = cr_index_save(b->idx, repo)) < 0)
        goto done;

    if (!(snap = cr_calloc(1, sizeof(*snap)))) {
        err = CR_ERROR;
        goto done;
    }
    {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0)
            host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        snap->hostname = cr_strdup(host);
    }
    snap->source = cr_strdup(opts->source);
    snap->username = cr_who_am_i();
    snap->program_version = cr_strdup(CR_VERSION_STRING);
    snap->system_root = sysroot;
    sysroot = NULL;
    snap->paths = norm;
    snap->npaths = nnorm;
    norm = NULL;
    nnorm = 0;
    snap->tags = strv_dup(opts->tags, opts->ntags);
    snap->ntags = opts->ntags;
    snap->excludes = strv_dup(opts->excludes, opts->nexcludes);
    snap->nexcludes = opts->nexcludes;
    if (!snap->source || !snap->hostname || !snap->username || !snap->program_version ||
        (opts->ntags && !snap->tags) || (opts->nexcludes && !snap->excludes)) {
        err = CR_ERROR;
        goto done;
    }
    snap->time_ns = time_ns;
    snap->tree = b->root;
    snap->has_parent = have_parent;
    if (have_parent)
        snap->parent = parent_id;
    snap->files = atomic_load(&b->files);
    snap->dirs = atomic_load(&b->dirs);
    snap->others = atomic_load(&b->others);
    snap->bytes = atomic_load(&b->bytes);
    snap->bytes_new = atomic_load(&b->bytes_new);
    snap->files_new = atomic_load(&b->files_new);
    snap->files_changed = atomic_load(&b->files_changed);
    snap->files_unchanged = atomic_load(&b->files_unchanged);
    snap->errors = atomic_load(&b->errors);
    snap->duration = cr_time_mono() - b->t0;
    if (opts->version >= 3 && opts->tags_before_save) {
        const char *const *more = opts->tags_before_save(snap, parent_files, opts->read_payload);
        if ((err = cr_snapshot_tags_add(snap, more)) < 0)
            goto done;
    }
    if ((err = cr_snapshot_save(repo, snap)) < 0)
        goto done;
    progress(b, NULL, 1);
    err = snap->errors ? CR_EPARTIAL : 0;
    if (err == CR_EPARTIAL)
        cr_error_set("snapshot saved, but %llu item(s) could not be read",
                     (unsigned long long)snap->errors);
    if (out) {
        *out = snap;
        snap = NULL;
    }

done:
    free(sysroot);
    if (b && started) {
        /* Only on a failure before the walk: stop and join the threads started. */
        pthread_mutex_lock(&b->qmu);
        b->qdone = 1;
        pthread_cond_broadcast(&b->qwork);
        pthread_mutex_unlock(&b->qmu);
        for (i = 0; i < started; i++)
            pthread_join(workers[i].th, NULL);
    }
    if (workers) {
        for (i = 0; i <= nw; i++) {
            bworker *w = &workers[i];
            size_t k;
            cr_packer_free(w->packer);
            free(w->buf);
            free(w->head);
            cr_buf_free(&w->tenc);
            for (k = 0; k < NAME_CACHE; k++) {
                free(w->users[k].name);
                free(w->groups[k].name);
            }
            free(w->pwbuf);
            free(w->dents);
            cr_buf_free(&w->pathbuf);
            cr_buf_free(&w->tplain);
            cr_blob_reader_free(w->treader);
        }
        free(workers);
    }
    if (b) {
        cr_packer_free(b->tpacker);
        if (mutexes) {
            pthread_mutex_destroy(&b->qmu);
            pthread_mutex_destroy(&b->tmu);
            pthread_mutex_destroy(&b->emu);
            pthread_mutex_destroy(&b->pmu);
            pthread_cond_destroy(&b->qwork);
        }
        free(b);
    }
    cr_snapshot_free(snap);
    cr_snapshot_list_free(list, nlist);
    cr_lock_release(lock);
    if (norm) {
        for (i = 0; i < nnorm; i++)
            free(norm[i]);
        free(norm);
    }
    vnode_clear(&root);
    return err;
}
