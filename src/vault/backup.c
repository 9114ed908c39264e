/*
 * The backup engine: cr_backup().
 *
 * Shape of the pipeline, and why:
 *
 *  - The calling thread is the *walker*. It lists one directory at a time
 *    (getdents64 on a directory descriptor, fstatat relative to it, so the
 *    kernel never walks long paths again), sorts the entries by name and
 *    merges them with the same directory of the parent snapshot. A regular
 *    file whose size, mtime, ctime and inode match the parent's node keeps the
 *    parent's content extents, xattrs and ACLs without being opened (ctime
 *    moves whenever data, xattrs, ACLs, mode or owner change): this is what
 *    makes an unchanged re-backup cost one fstatat per file.
 *  - Files that must be read become jobs in a small bounded queue, taken by N
 *    worker threads. A worker opens the file relative to its directory's
 *    descriptor, reads only the data regions (SEEK_DATA/SEEK_HOLE, so holes
 *    of sparse files are never stored), cuts content-defined chunks, names
 *    them with the keyed hash and stores the ones the index does not know yet
 *    in its own packer. Memory per worker: one 2 * CR_CHUNK_MAX read buffer
 *    and one pack being filled.
 *  - A directory's tree can be encoded only when all of its entries are done,
 *    and those finish on several threads in any order. Each directory in
 *    progress carries a pending counter (one count for the walker while it
 *    lists, one per queued file, one per sub-directory); whichever thread
 *    brings it to zero saves the tree (through the shared tree packer, under a
 *    mutex), hands the tree id to the parent's node and releases one count of
 *    the parent, so completion climbs towards the root without anyone
 *    waiting. Only the directories in progress are in memory. A directory
 *    the walker itself completes is handed to a worker when the queue has
 *    room: in an unchanged re-backup, encoding and hashing trees would
 *    otherwise keep one core busy while the other idles.
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
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_CAP 64 /* file jobs waiting for a worker */
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
    int fd;              /* open directory, -1 if none (virtual or unreadable) */
    cr_node *nodes;      /* never reallocated once jobs refer to it */
    size_t count;
    atomic_size_t pending;
} bdir;

enum { CLS_NEW = 1, CLS_CHANGED = 2 };

/*
 * A regular file to read: node d->nodes[idx], opened as openat(dfd, rel).
 * idx == JOB_FINISH: a directory whose entries are all done, to save.
 */
typedef struct bjob {
    bdir *d;
    size_t idx;
    int dfd;
    const char *rel;
    int cls;
    int sparse; /* lstat saw fewer blocks than the size */
    int fd;     /* opened by the walker (read-ahead started), or -1 */
} bjob;
#define JOB_FINISH SIZE_MAX

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

    pthread_mutex_t qmu;
    pthread_cond_t qnotempty, qnotfull, qdone;
    bjob q[QUEUE_CAP];
    size_t qhead, qlen;
    int qclosed;
    int workers_alive;

    pthread_mutex_t tmu; /* tree packer, node counts, root */
    cr_packer *tpacker;
    uint64_t files, dirs, others, bytes;
    int root_done;
    cr_id root;

    atomic_uint_fast64_t bytes_new, files_new, files_changed, files_unchanged, errors;
    atomic_uint_fast64_t files_done, bytes_done;

    atomic_int fatal;    /* first fatal error code, 0 if none */
    pthread_mutex_t emu; /* fatal message and warning callback */
    char fatal_msg[1024];

    int have_vault;
    dev_t vault_dev;
    ino_t vault_ino;

    /* walker-only state */
    double t0, last_progress;
    idname users[NAME_CACHE], groups[NAME_CACHE];
    unsigned next_user, next_group;
    char *pwbuf;
    size_t pwbuflen;
    uint8_t *dents;
    cr_buf pathbuf;
    /* loading the parent's trees: one decompression context, the last pack kept open */
    ZSTD_DCtx *dctx;
    int tpack_fd;
    cr_id tpack;
    cr_buf tstored, tplain;
} bk;

typedef struct bworker {
    bk *b;
    pthread_t th;
    cr_packer *packer;
    uint8_t *buf;
    size_t cap;
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
    pthread_mutex_lock(&b->qmu);
    pthread_cond_broadcast(&b->qnotfull);
    pthread_cond_broadcast(&b->qnotempty);
    pthread_mutex_unlock(&b->qmu);
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

static void progress(bk *b, const char *current, int force)
{
    cr_progress p;
    double now;
    if (!b->opts->progress)
        return;
    now = cr_time_mono();
    if (!force && now - b->last_progress < PROGRESS_INTERVAL)
        return;
    b->last_progress = now;
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
}

/* uid/gid -> account name, with a small cache (walker thread only). */
static char *id_name(bk *b, int group, uint32_t id)
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

static void node_names(bk *b, cr_node *n)
{
    n->user = id_name(b, 0, n->uid);
    n->group = id_name(b, 1, n->gid);
}

static int excluded(bk *b, const char *dirpath, const char *name)
{
    const cr_backup_options *o = b->opts;
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
static cr_tree *load_old_tree(bk *b, const cr_node *old)
{
    cr_tree *t = NULL;
    cr_blob_loc loc;

    if (!old || old->type != CR_NODE_DIR || !old->has_subtree)
        return NULL;
    if (cr_index_lookup(b->idx, &old->subtree, &loc) != 1 || loc.entry.type != CR_BLOB_TREE)
        goto fail;
    if (!b->dctx && !(b->dctx = ZSTD_createDCtx()))
        goto fail;
    if (b->tpack_fd < 0 || memcmp(&b->tpack, &loc.pack, sizeof(cr_id)) != 0) {
        char rel[100];
        if (b->tpack_fd >= 0)
            close(b->tpack_fd);
        cr_pack_path(rel, sizeof(rel), &loc.pack);
        b->tpack_fd = openat(b->repo->dirfd, rel, O_RDONLY | O_CLOEXEC);
        if (b->tpack_fd < 0)
            goto fail;
        b->tpack = loc.pack;
    }
    cr_buf_reset(&b->tstored);
    if (cr_buf_grow(&b->tstored, loc.entry.stored_len) < 0 ||
        cr_fs_pread_all(b->tpack_fd, b->tstored.ptr, loc.entry.stored_len, loc.entry.offset) < 0 ||
        cr_blob_decode(&b->tplain, &b->repo->keys, b->dctx, &loc.entry, b->tstored.ptr) < 0 ||
        cr_tree_decode(&t, b->tplain.ptr, b->tplain.len) < 0)
        goto fail;
    return t;
fail:
    cr_error_clear();
    return NULL;
}

/* -------------------------------------------------- directory completion */

static void dir_free(bdir *d)
{
    size_t i;
    for (i = 0; i < d->count; i++)
        cr_node_clear(&d->nodes[i]);
    free(d->nodes);
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d);
}

/* All entries of d are done: save its tree and give the id to its parent. */
static void dir_finish(bk *b, bdir *d)
{
    size_t i, k = 0;
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
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    if (!atomic_load(&b->fatal)) {
        cr_tree t = {d->nodes, d->count};
        pthread_mutex_lock(&b->tmu);
        for (i = 0; i < d->count; i++) {
            const cr_node *n = &d->nodes[i];
            if (n->type == CR_NODE_FILE) {
                b->files++;
                b->bytes += n->size;
            } else if (n->type == CR_NODE_DIR) {
                b->dirs++;
            } else {
                b->others++;
            }
        }
        err = cr_tree_save(&id, b->repo, b->tpacker, &t);
        if (!err && cr_packer_size(b->tpacker) >= CR_PACK_TARGET)
            err = cr_packer_flush(b->tpacker);
        if (!err && !d->parent) {
            b->root = id;
            b->root_done = 1;
        }
        pthread_mutex_unlock(&b->tmu);
        if (err < 0) {
            set_fatal(b, err);
        } else if (d->parent) {
            d->parent->nodes[d->pidx].subtree = id;
            d->parent->nodes[d->pidx].has_subtree = 1;
        }
    }
    dir_free(d);
}

/* Hand a finished directory to the workers, unless the queue is full. */
static int queue_try_finish(bk *b, bdir *d)
{
    int ok = 0;
    pthread_mutex_lock(&b->qmu);
    if (b->qlen < QUEUE_CAP && !b->qclosed && b->workers_alive > 0) {
        bjob *j = &b->q[(b->qhead + b->qlen) % QUEUE_CAP];
        memset(j, 0, sizeof(*j));
        j->d = d;
        j->idx = JOB_FINISH;
        j->fd = -1;
        b->qlen++;
        pthread_cond_signal(&b->qnotempty);
        ok = 1;
    }
    pthread_mutex_unlock(&b->qmu);
    return ok;
}

/*
 * Release one pending count of d; completes d (and maybe its ancestors) at
 * zero. The walker passes the completion to a worker when it can: when
 * nothing changed, encoding and hashing the trees is half of the work, and
 * the workers are idle.
 */
static void dir_release(bk *b, bdir *d, int walker)
{
    while (d) {
        bdir *parent = d->parent;
        if (atomic_fetch_sub_explicit(&d->pending, 1, memory_order_acq_rel) != 1)
            return;
        if (walker && queue_try_finish(b, d))
            return;
        dir_finish(b, d);
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
        warn_item_msg(b, 0, j->d, j->rel,
                      "file shrank while it was being read; stored the part read");
    } else if ((uint64_t)st.st_ino != n->inode || (uint64_t)st.st_size != size ||
               ts_ns(&st.st_mtim) != n->mtime_ns || ts_ns(&st.st_ctim) != n->ctime_ns) {
        warn_item_msg(b, 0, j->d, j->rel,
                      "file changed while it was being read; the stored copy may mix old and new "
                      "content");
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
    atomic_fetch_add(j->cls == CLS_NEW ? &b->files_new : &b->files_changed, 1);
    atomic_fetch_add(&b->files_done, 1);
    return;
fail:
    if (fd >= 0)
        close(fd);
    free(ev.v);
    n->type = (cr_node_type)0; /* left out of the tree */
    atomic_fetch_add(&b->files_done, 1);
}

static void *worker_main(void *arg)
{
    bworker *w = arg;
    bk *b = w->b;
    bjob j;
    int err;

    for (;;) {
        pthread_mutex_lock(&b->qmu);
        while (b->qlen == 0 && !b->qclosed)
            pthread_cond_wait(&b->qnotempty, &b->qmu);
        if (b->qlen == 0) {
            pthread_mutex_unlock(&b->qmu);
            break;
        }
        j = b->q[b->qhead];
        b->qhead = (b->qhead + 1) % QUEUE_CAP;
        b->qlen--;
        pthread_cond_signal(&b->qnotfull);
        pthread_mutex_unlock(&b->qmu);

        if (j.idx == JOB_FINISH) {
            bdir *parent = j.d->parent;
            dir_finish(b, j.d);
            dir_release(b, parent, 0);
        } else {
            file_job(w, &j);
            dir_release(b, j.d, 0);
        }
    }
    if (!atomic_load(&b->fatal) && (err = cr_packer_flush(w->packer)) < 0)
        set_fatal(b, err);
    pthread_mutex_lock(&b->qmu);
    b->workers_alive--;
    pthread_cond_broadcast(&b->qdone);
    pthread_mutex_unlock(&b->qmu);
    return NULL;
}

static int queue_push(bk *b, const bjob *j, const char *current)
{
    pthread_mutex_lock(&b->qmu);
    while (b->qlen == QUEUE_CAP && !atomic_load(&b->fatal)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&b->qnotfull, &b->qmu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&b->qmu);
            progress(b, current, 0);
            pthread_mutex_lock(&b->qmu);
        }
    }
    if (atomic_load(&b->fatal)) {
        pthread_mutex_unlock(&b->qmu);
        return atomic_load(&b->fatal);
    }
    b->q[(b->qhead + b->qlen) % QUEUE_CAP] = *j;
    b->qlen++;
    pthread_cond_signal(&b->qnotempty);
    pthread_mutex_unlock(&b->qmu);
    return 0;
}

/* ------------------------------------------------------------- walker */

static int walk_dir(bk *b, bdir *parent, size_t pidx, int dfd, const char *rel, const char *path,
                    cr_node *old);

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
static int process_entry(bk *b, bdir *d, size_t i, int dfd, const char *rel, const char *path,
                         cr_node *old, int sparse)
{
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
        if (n->size > 0 && n->size <= READAHEAD_MAX && (j.fd = open_file(b, dfd, rel)) >= 0)
            posix_fadvise(j.fd, 0, (off_t)n->size, POSIX_FADV_WILLNEED);
        atomic_fetch_add(&d->pending, 1);
        if ((err = queue_push(b, &j, d->path)) < 0) {
            n->type = (cr_node_type)0;
            atomic_fetch_sub(&d->pending, 1);
            if (j.fd >= 0)
                close(j.fd);
        }
        return err;
    }

    if (!path && !(path = own = join_path(d->path, rel)))
        return set_fatal(b, CR_ERROR);

    if (n->type == CR_NODE_DIR) {
        atomic_fetch_add(&d->pending, 1);
        err = walk_dir(b, d, i, dfd, rel, path, old);
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
static int list_dir(bk *b, bdir *d)
{
    size_t cap = 0;

    for (;;) {
        ssize_t nr = getdents64(d->fd, b->dents, DENTS_SIZE), pos;
        if (nr < 0) {
            if (errno == EINTR)
                continue;
            warn_errno(b, d->path, "cannot list folder (stored with the entries read)", errno);
            return 0;
        }
        if (nr == 0)
            return 0;
        for (pos = 0; pos < nr;) {
            struct dirent64 *e = (struct dirent64 *)(void *)(b->dents + pos);
            const char *name = e->d_name;
            cr_node *n;
            pos += e->d_reclen;
            if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
                continue;
            if (b->opts->nexcludes && excluded(b, d->path, name))
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
static int walk_dir(bk *b, bdir *parent, size_t pidx, int dfd, const char *rel, const char *path,
                    cr_node *old)
{
    cr_node *self = parent ? &parent->nodes[pidx] : NULL;
    cr_tree *oldt = NULL;
    bdir *d;
    int fd, err = 0, flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    size_t i, k;

    if (atomic_load(&b->fatal)) {
        if (self)
            self->type = (cr_node_type)0;
        dir_release(b, parent, 1);
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
        dir_release(b, parent, 1);
        return set_fatal(b, CR_ERROR);
    }
    if (fd < 0)
        goto release;
    if ((err = list_dir(b, d)) < 0)
        goto release;
    {
        cr_tree t = {d->nodes, d->count};
        cr_tree_sort(&t);
    }
    oldt = load_old_tree(b, old);

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
        if (fstatat(d->fd, n->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            warn_item(b, d, n->name, "cannot stat", errno);
            continue; /* type 0: left out */
        }
        if (S_ISDIR(st.st_mode) && b->have_vault && st.st_dev == b->vault_dev &&
            st.st_ino == b->vault_ino)
            continue; /* never back up the vault into itself */
        node_stat(n, &st);
        if (!n->type) {
            warn_item_msg(b, 1, d, n->name, "unsupported kind of file");
            continue;
        }
        node_names(b, n);
        if ((err = process_entry(b, d, i, d->fd, n->name, NULL, o,
                                 (uint64_t)st.st_blocks * 512 < n->size)) < 0)
            n->type = (cr_node_type)0;
    }
release:
    cr_tree_free(oldt);
    if (!err && atomic_load(&b->fatal))
        err = atomic_load(&b->fatal);
    dir_release(b, d, 1);
    return err;
}

/*
 * Walk a virtual directory of the root (a component of the given paths).
 * Same contract as walk_dir.
 */
static int walk_virtual(bk *b, vnode *v, bdir *parent, size_t pidx, cr_node *old)
{
    cr_tree *oldt = NULL;
    bdir *d;
    size_t i;
    int err = 0;

    if (!(d = dir_new(parent, pidx, v->path, -1))) {
        dir_release(b, parent, 1);
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
    oldt = load_old_tree(b, old);

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
            node_names(b, n);
            if (!n->type) {
                warnf(b, 1, kid->path, "unsupported kind of file");
                continue;
            }
            err = process_entry(b, d, i, AT_FDCWD, kid->path, kid->path, o,
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
        node_names(b, n);
        if (same_version(n, o))
            steal_meta(n, o);
        else
            read_meta(b, n, -1, kid->path, 1);
        atomic_fetch_add(&d->pending, 1);
        err = walk_virtual(b, kid, d, i, o);
    }
    for (; i < v->nkids; i++)
        d->nodes[i].type = (cr_node_type)0;
release:
    cr_tree_free(oldt);
    dir_release(b, d, 1);
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

static int check_text(const char *what, const char *s, size_t max, int allow_slash)
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

static int validate(const cr_backup_options *o, const char *const *paths, size_t npaths)
{
    size_t i;
    int err;
    if (!o || o->version != CR_BACKUP_OPTIONS_VERSION) {
        cr_error_set("backup options missing or of an unknown version");
        return CR_EINPUT;
    }
    if (!o->source || !*o->source) {
        cr_error_set("a source name is required (the system the backup protects, e.g. "
                     "\"dpi-server\")");
        return CR_EINPUT;
    }
    if ((err = check_text("source name", o->source, 255, 0)) < 0)
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
        if ((err = check_text("tag", o->tags[i], 255, 1)) < 0)
            return err;
    for (i = 0; i < o->nexcludes; i++)
        if ((err = check_text("exclude pattern", o->excludes[i], 4096, 1)) < 0)
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

static char *who_am_i(void)
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
    char **norm = NULL;
    vnode root;
    cr_node oldroot;
    int err = 0, have_parent = 0, mutexes = 0;
    cr_id parent_id = {{0}};
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
    b->t0 = cr_time_mono();
    b->noatime = 1;
    b->tpack_fd = -1;
    if ((err = cr_repo_index(&b->idx, repo)) < 0)
        goto done;
    cr_chunker_init(&b->chunker, repo->keys.chunker, CR_CHUNK_MIN, CR_CHUNK_AVG, CR_CHUNK_MAX);
    if (stat(cr_repo_path(repo), &st) == 0) {
        b->have_vault = 1;
        b->vault_dev = st.st_dev;
        b->vault_ino = st.st_ino;
    }
    b->pwbuflen = 16384;
    if (!(b->pwbuf = cr_malloc(b->pwbuflen)) || !(b->dents = cr_malloc(DENTS_SIZE))) {
        err = CR_ERROR;
        goto done;
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
    pthread_cond_init(&b->qnotempty, NULL);
    pthread_cond_init(&b->qnotfull, NULL);
    pthread_cond_init(&b->qdone, NULL);
    mutexes = 1;

    if ((err = cr_packer_new(&b->tpacker, repo)) < 0)
        goto done;
    nw = opts->threads > 0 ? (size_t)opts->threads : (size_t)cr_ncpu();
    if (nw > MAX_THREADS)
        nw = MAX_THREADS;
    if (!(workers = cr_calloc(nw, sizeof(*workers)))) {
        err = CR_ERROR;
        goto done;
    }
    for (i = 0; i < nw; i++) {
        workers[i].b = b;
        if ((err = cr_packer_new(&workers[i].packer, repo)) < 0)
            goto done;
    }
    b->workers_alive = (int)nw;
    for (started = 0; started < nw; started++) {
        if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0) {
            cr_error_set("cannot start a backup thread: out of resources");
            set_fatal(b, CR_ERROR);
            pthread_mutex_lock(&b->qmu);
            b->workers_alive -= (int)(nw - started);
            pthread_mutex_unlock(&b->qmu);
            break;
        }
    }

    /* Walk. Errors are recorded in b->fatal; the walk always unwinds. */
    if (root.leaf)
        walk_dir(b, NULL, 0, AT_FDCWD, "/", "/", have_parent ? &oldroot : NULL);
    else
        walk_virtual(b, &root, NULL, 0, have_parent ? &oldroot : NULL);

    /* Let the workers drain the queue and flush their packs. */
    pthread_mutex_lock(&b->qmu);
    b->qclosed = 1;
    pthread_cond_broadcast(&b->qnotempty);
    while (b->workers_alive > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&b->qdone, &b->qmu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&b->qmu);
            progress(b, NULL, 0);
            pthread_mutex_lock(&b->qmu);
        }
    }
    pthread_mutex_unlock(&b->qmu);
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
    snap->username = who_am_i();
    snap->program_version = cr_strdup(CR_VERSION_STRING);
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
    snap->files = b->files;
    snap->dirs = b->dirs;
    snap->others = b->others;
    snap->bytes = b->bytes;
    snap->bytes_new = atomic_load(&b->bytes_new);
    snap->files_new = atomic_load(&b->files_new);
    snap->files_changed = atomic_load(&b->files_changed);
    snap->files_unchanged = atomic_load(&b->files_unchanged);
    snap->errors = atomic_load(&b->errors);
    snap->duration = cr_time_mono() - b->t0;
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
    if (b && started) {
        /* Only on a failure before the walk: stop and join the threads started. */
        pthread_mutex_lock(&b->qmu);
        b->qclosed = 1;
        pthread_cond_broadcast(&b->qnotempty);
        pthread_mutex_unlock(&b->qmu);
        for (i = 0; i < started; i++)
            pthread_join(workers[i].th, NULL);
    }
    if (workers) {
        for (i = 0; i < nw; i++) {
            cr_packer_free(workers[i].packer);
            free(workers[i].buf);
        }
        free(workers);
    }
    if (b) {
        cr_packer_free(b->tpacker);
        for (i = 0; i < NAME_CACHE; i++) {
            free(b->users[i].name);
            free(b->groups[i].name);
        }
        free(b->pwbuf);
        free(b->dents);
        cr_buf_free(&b->pathbuf);
        cr_buf_free(&b->tstored);
        cr_buf_free(&b->tplain);
        ZSTD_freeDCtx(b->dctx);
        if (b->tpack_fd >= 0)
            close(b->tpack_fd);
        if (mutexes) {
            pthread_mutex_destroy(&b->qmu);
            pthread_mutex_destroy(&b->tmu);
            pthread_mutex_destroy(&b->emu);
            pthread_cond_destroy(&b->qnotempty);
            pthread_cond_destroy(&b->qnotfull);
            pthread_cond_destroy(&b->qdone);
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
