/*
 * cr_backup_image: disk images as one image snapshot.
 *
 * Shape, and why:
 *
 *  - Every image is opened (and its headers checked) before anything is
 *    read, so a damaged or missing second disk stops the run before hours
 *    are spent on the first.
 *  - A disk is cut into fixed 4 MiB chunks (CR_IMAGE_CHUNK) at fixed offsets:
 *    the same block of two VMs cloned from one template, or of one VM on two
 *    days, is the same chunk at the same place, so it is stored once. Fixed
 *    chunks also let the files of the filesystems inside point into them
 *    (extent blob_off), so the files cost no data of their own.
 *  - The chunk pass: the calling thread is the only reader (an im_disk is not
 *    thread-safe). Ranges before im_next_data are holes and never read. Each
 *    chunk read goes through a bounded pool of buffers (2 * workers + 2) to
 *    the worker threads, which test it for zeros (a hole), name it with the
 *    keyed hash and, only when the index does not know the id yet, compress,
 *    seal and pack it in their own packer. A chunk already in the vault is
 *    hashed and forgotten: an unchanged re-backup costs reading and hashing.
 *    Results go to the disk's chunk map at the chunk's index, so the order in
 *    which workers finish changes nothing.
 *  - A read error in the middle of an image (a truncated file, a damaged
 *    table) stops the whole backup: a disk with a missing range must never
 *    become a restore point. Nothing half-written is referenced (packs
 *    already written are only garbage until the next backup indexes them).
 *  - Then the filesystems inside are read by fs.c (unless no_files), with the
 *    parent image snapshot's chunk map and volumes, so a filesystem whose
 *    chunks did not change keeps its tree without being walked again.
 *    Problems with them are warnings: the disk itself is complete.
 *  - An image file modified while it was read (a running VM) is saved, with
 *    a warning counted as an error: the technician must know that this
 *    restore point may not boot.
 *  - Write order as for every backup: packs, the index naming them, the
 *    snapshot.
 */
#include "image/image.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 64
#define PROGRESS_INTERVAL 0.25 /* seconds between progress callbacks */
#define ZERO_BLOCK (64u * 1024)

static const uint8_t zero_block[ZERO_BLOCK];

/* A chunk read and waiting for a worker. */
typedef struct ijob {
    size_t buf;   /* index into ib.bufs */
    size_t chunk; /* index into the disk's chunk map */
    size_t len;
} ijob;

/* State shared by the reader and the workers. */
typedef struct ib {
    cr_repo *repo;
    cr_index *idx;
    const cr_image_backup_options *opts;

    pthread_mutex_t mu;
    pthread_cond_t cv_free; /* a buffer came back */
    pthread_cond_t cv_work; /* a job was queued, or the reader is done */
    uint8_t **bufs;
    size_t nbufs;
    size_t *freelist;
    size_t nfree;
    ijob *q; /* ring of nbufs jobs */
    size_t qhead, qlen;
    int eof; /* the reader queues nothing more for this disk */

    im_chunkmap *map;                  /* of the disk being read */
    const im_chunkmap *pmap;           /* its parent's, when its blocks are judged (rnd) */
    uint8_t **rnd;                     /* per chunk: RND_BYTES of block verdicts (a chunk that
                                          changed), or NULL; the array NULL: nothing judged */
    atomic_uint_fast64_t stored;       /* bytes in non-hole chunks of this disk */
    atomic_uint_fast64_t bytes_new;    /* stored (sealed) bytes added to the vault */
    atomic_uint_fast64_t bytes_done;   /* virtual bytes looked at, all disks */
    uint64_t bytes_total;
    uint64_t errors;

    atomic_int fatal; /* first fatal error code, 0 if none */
    char fatal_msg[1024];

    double t0, last_progress;
    const char *current;
} ib;

/* The ransomware watch's verdicts: one bit per CR_IMAGE_HEAD_BLOCK block of a chunk. */
#define RND_BLOCKS (CR_IMAGE_CHUNK / CR_IMAGE_HEAD_BLOCK)
#define RND_BYTES (RND_BLOCKS / 8)

typedef struct iworker {
    ib *b;
    pthread_t th;
    cr_packer *packer;
} iworker;

/* One disk being backed up. */
typedef struct idisk {
    im_src *src; /* read in the parser sandbox (sbx.c) */
    char *abspath;
    struct stat st;
    im_chunkmap map;
    uint64_t stored;
    im_fsresult *vols;
    size_t nvols;
    char *ptable;
    /* the parent's view of the same disk, if any */
    int has_parent_map;
    im_chunkmap pmap;
    im_fsresult *pvols;
    cr_node *pnodes; /* the parent's volume folders (owned; pvols point into the snapshot) */
    size_t npvols;
    /* the ransomware watch: verdicts on the blocks of the chunks that changed */
    uint8_t **rnd;
} idisk;

/* ------------------------------------------------------------- helpers */

static void set_fatal(ib *b, int code)
{
    if (code >= 0)
        code = CR_ERROR;
    pthread_mutex_lock(&b->mu);
    if (atomic_load(&b->fatal) == 0) {
        snprintf(b->fatal_msg, sizeof(b->fatal_msg), "%s", cr_error_last());
        atomic_store(&b->fatal, code);
    }
    pthread_mutex_unlock(&b->mu);
}

static void progress(ib *b, int force)
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
    p.bytes_done = atomic_load(&b->bytes_done);
    p.bytes_total = b->bytes_total;
    p.errors = b->errors;
    p.elapsed = now - b->t0;
    p.current = b->current;
    b->opts->progress(&p, b->opts->payload);
}

static void warnf(const cr_image_backup_options *o, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warnf(const cr_image_backup_options *o, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!o->warning)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    o->warning(path, msg, o->payload);
}

static int all_zero(const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t n = len < ZERO_BLOCK ? len : ZERO_BLOCK;
        if (memcmp(p, zero_block, n) != 0)
            return 0;
        p += n;
        len -= n;
    }
    return 1;
}

static void chunkmap_clear(im_chunkmap *m)
{
    free(m->ids);
    free(m->present);
    memset(m, 0, sizeof(*m));
}

static int chunkmap_init(im_chunkmap *m, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    m->size = size;
    m->n = (size_t)((size + CR_IMAGE_CHUNK - 1) / CR_IMAGE_CHUNK);
    if (m->n == 0)
        return 0;
    if (!(m->ids = cr_calloc(m->n, sizeof(cr_id))) || !(m->present = cr_calloc(m->n, 1))) {
        chunkmap_clear(m);
        return CR_ERROR;
    }
    return 0;
}

static size_t chunk_len(const im_chunkmap *m, size_t i)
{
    uint64_t off = (uint64_t)i * CR_IMAGE_CHUNK;
    uint64_t left = m->size - off;
    return left < CR_IMAGE_CHUNK ? (size_t)left : CR_IMAGE_CHUNK;
}

/* ------------------------------------------------------------ workers */

/* Zero test, name, and store the chunk if the vault does not have it yet. */
static int process_chunk(iworker *w, const ijob *j)
{
    ib *b = w->b;
    const uint8_t *p = b->bufs[j->buf];
    cr_id id;
    size_t stored = 0;
    int err;

    if (all_zero(p, j->len)) {
        b->map->present[j->chunk] = 0;
        return 0;
    }
    cr_blob_id(&id, &b->repo->keys, p, j->len);
    b->map->ids[j->chunk] = id;
    b->map->present[j->chunk] = 1;
    atomic_fetch_add(&b->stored, j->len);
    /* A chunk that changed since the parent: judge its blocks while they are here. */
    if (b->rnd && (j->chunk >= b->pmap->n || !b->pmap->present[j->chunk] ||
                   memcmp(&b->pmap->ids[j->chunk], &id, sizeof(id)) != 0)) {
        uint8_t *bits = cr_calloc(1, RND_BYTES);
        if (!bits)
            return CR_ERROR;
        for (size_t k = 0; k * CR_IMAGE_HEAD_BLOCK < j->len; k++) {
            size_t o = k * CR_IMAGE_HEAD_BLOCK;
            size_t bl = j->len - o < CR_IMAGE_HEAD_BLOCK ? j->len - o : CR_IMAGE_HEAD_BLOCK;
            if (b->opts->block_random(p + o, bl, b->opts->read_payload))
                bits[k / 8] |= (uint8_t)(1u << (k % 8));
        }
        b->rnd[j->chunk] = bits; /* each chunk is one worker's: no lock */
    }
    if (!cr_index_claim(b->idx, &id))
        return 0; /* known (or being stored by another worker): hashed only */
    if ((err = cr_packer_add(w->packer, CR_BLOB_DATA, &id, p, j->len, &stored)) < 0) {
        cr_index_unclaim(b->idx, &id);
        return err;
    }
    atomic_fetch_add(&b->bytes_new, stored);
    if (cr_packer_size(w->packer) >= CR_PACK_TARGET && (err = cr_packer_flush(w->packer)) < 0)
        return err;
    return 0;
}

static void *worker_main(void *arg)
{
    iworker *w = arg;
    ib *b = w->b;
    for (;;) {
        ijob j;
        int err;
        pthread_mutex_lock(&b->mu);
        while (b->qlen == 0 && !b->eof)
            pthread_cond_wait(&b->cv_work, &b->mu);
        if (b->qlen == 0) {
            pthread_mutex_unlock(&b->mu);
            break;
        }
        j = b->q[b->qhead];
        b->qhead = (b->qhead + 1) % b->nbufs;
        b->qlen--;
        pthread_mutex_unlock(&b->mu);

        /* After a fatal error the queue is only drained, so the reader can stop. */
        if (!atomic_load(&b->fatal) && (err = process_chunk(w, &j)) < 0)
            set_fatal(b, err);
        atomic_fetch_add(&b->bytes_done, j.len);

        pthread_mutex_lock(&b->mu);
        b->freelist[b->nfree++] = j.buf;
        pthread_cond_signal(&b->cv_free);
        pthread_mutex_unlock(&b->mu);
    }
    return NULL;
}

/*
 * The chunk pass over one disk: the calling thread reads, `nw` workers
 * (already holding their packers) process. Returns the first fatal error.
 */
static int chunk_pass(ib *b, iworker *workers, size_t nw, idisk *dk)
{
    im_chunkmap *m = &dk->map;
    uint64_t next_data = 0; /* no data in [off, next_data) when next_data > off */
    size_t started = 0, i;
    int err = 0;

    b->map = m;
    b->pmap = &dk->pmap;
    b->rnd = dk->rnd;
    atomic_store(&b->stored, 0);
    b->eof = 0;
    b->qhead = b->qlen = 0;
    b->current = dk->abspath;

    for (started = 0; started < nw; started++)
        if (pthread_create(&workers[started].th, NULL, worker_main, &workers[started]) != 0)
            break;
    if (started == 0) {
        cr_error_set("cannot start a backup thread: out of resources");
        return CR_ERROR;
    }

    for (i = 0; i < m->n && !atomic_load(&b->fatal); i++) {
        uint64_t off = (uint64_t)i * CR_IMAGE_CHUNK;
        size_t len = chunk_len(m, i), buf;
        ijob j;

        if (next_data <= off && (err = im_src_next_data(dk->src, off, &next_data)) < 0) {
            set_fatal(b, err);
            break;
        }
        if (next_data >= off + len) {
            /* Unallocated up to the chunk holding next_data: holes, never read (present[]
             * is zeroed), taken in one step: a 64 TiB disk is 16 million chunks. */
            size_t stop = next_data >= m->size ? m->n : (size_t)(next_data / CR_IMAGE_CHUNK);
            uint64_t to = stop >= m->n ? m->size : (uint64_t)stop * CR_IMAGE_CHUNK;
            atomic_fetch_add(&b->bytes_done, to - off);
            progress(b, 0);
            i = stop - 1;
            continue;
        }

        pthread_mutex_lock(&b->mu);
        while (b->nfree == 0)
            pthread_cond_wait(&b->cv_free, &b->mu);
        buf = b->freelist[--b->nfree];
        pthread_mutex_unlock(&b->mu);

        if ((err = im_src_read(dk->src, off, &b->bufs[buf], len)) < 0) {
            char msg[800];
            snprintf(msg, sizeof(msg), "%s", cr_error_last());
            cr_error_set("%s; no snapshot was made (a disk with a missing range must not "
                         "become a restore point)",
                         msg);
            set_fatal(b, err == CR_ECORRUPT ? CR_EINPUT : err);
            pthread_mutex_lock(&b->mu);
            b->freelist[b->nfree++] = buf;
            pthread_mutex_unlock(&b->mu);
            break;
        }
        j.buf = buf;
        j.chunk = i;
        j.len = len;
        pthread_mutex_lock(&b->mu);
        b->q[(b->qhead + b->qlen) % b->nbufs] = j;
        b->qlen++;
        pthread_cond_signal(&b->cv_work);
        pthread_mutex_unlock(&b->mu);
        progress(b, 0);
    }

    pthread_mutex_lock(&b->mu);
    b->eof = 1;
    pthread_cond_broadcast(&b->cv_work);
    pthread_mutex_unlock(&b->mu);
    for (i = 0; i < started; i++)
        pthread_join(workers[i].th, NULL);

    dk->stored = atomic_load(&b->stored);
    if ((err = atomic_load(&b->fatal)) < 0)
        cr_error_set("%s", b->fatal_msg);
    return err;
}

/* ------------------------------------------------------------- parent */

/* The chunk map of a stored `/diskN/image` node; -1 if it is not one we wrote. */
static int map_from_node(im_chunkmap *m, const cr_node *n)
{
    if (n->type != CR_NODE_FILE || chunkmap_init(m, n->size) < 0)
        return -1;
    for (size_t k = 0; k < n->ncontent; k++) {
        const cr_extent *x = &n->content[k];
        size_t i = (size_t)(x->offset / CR_IMAGE_CHUNK);
        if (x->offset % CR_IMAGE_CHUNK || i >= m->n || x->blob_off || x->len != chunk_len(m, i)) {
            chunkmap_clear(m);
            return -1;
        }
        m->ids[i] = x->id;
        m->present[i] = 1;
    }
    return 0;
}

/* The parent's view of disk `name`: its chunk map and its volumes with their trees. */
static void load_parent(idisk *dk, cr_repo *repo, const cr_snapshot *p, const char *name)
{
    const cr_image_disk *pd = NULL;
    cr_node n;
    char *path;
    size_t k;

    for (k = 0; k < p->ndisks; k++)
        if (p->disks[k].name && strcmp(p->disks[k].name, name) == 0)
            pd = &p->disks[k];
    if (!pd)
        return;
    memset(&n, 0, sizeof(n));
    if (!(path = cr_sprintf("/%s/image", name)))
        return;
    if (cr_snapshot_lookup(&n, repo, p, path) == 0 && map_from_node(&dk->pmap, &n) == 0)
        dk->has_parent_map = 1;
    cr_node_clear(&n);
    free(path);
    if (!dk->has_parent_map || pd->nvolumes == 0)
        return;

    if (!(dk->pvols = cr_calloc(pd->nvolumes, sizeof(*dk->pvols))) ||
        !(dk->pnodes = cr_calloc(pd->nvolumes, sizeof(*dk->pnodes))))
        return;
    for (k = 0; k < pd->nvolumes; k++) {
        const cr_image_volume *v = &pd->volumes[k];
        im_fsresult *r = &dk->pvols[dk->npvols];
        cr_node *vn = &dk->pnodes[dk->npvols];
        if (!v->name || !(path = cr_sprintf("/%s/%s", name, v->name)))
            continue;
        if (cr_snapshot_lookup(vn, repo, p, path) == 0 && vn->type == CR_NODE_DIR &&
            vn->has_subtree) {
            /* Borrowed from the parent snapshot: never cleared with im_fsresult_clear. */
            r->vol = *v;
            /* A snapshot records its errors, not which volume they were in: after
             * any, every volume is read again so that its warnings are not lost. */
            r->errors = p->errors;
            r->has_tree = 1;
            r->tree = vn->subtree;
            r->root = *vn;
            dk->npvols++;
        } else {
            cr_node_clear(vn);
        }
        free(path);
    }
}

static void idisk_clear(idisk *dk)
{
    size_t k;
    im_src_close(dk->src);
    free(dk->abspath);
    if (dk->rnd) {
        for (k = 0; k < dk->map.n; k++)
            free(dk->rnd[k]);
        free(dk->rnd);
    }
    chunkmap_clear(&dk->map);
    chunkmap_clear(&dk->pmap);
    if (dk->vols) {
        for (k = 0; k < dk->nvols; k++)
            im_fsresult_clear(&dk->vols[k]);
        free(dk->vols);
    }
    free(dk->ptable);
    if (dk->pnodes) {
        for (k = 0; k < dk->npvols; k++)
            cr_node_clear(&dk->pnodes[k]);
        free(dk->pnodes);
    }
    free(dk->pvols);
    memset(dk, 0, sizeof(*dk));
}

/* -------------------------------------------------------------- trees */

/* The `image` node of a disk: its chunks as extents, holes as gaps. */
static int image_node(cr_node *n, const idisk *dk, int64_t time_ns)
{
    const im_chunkmap *m = &dk->map;
    size_t k, ne = 0;

    memset(n, 0, sizeof(*n));
    n->type = CR_NODE_FILE;
    n->mode = 0600;
    n->uid = (uint32_t)getuid();
    n->gid = (uint32_t)getgid();
    n->mtime_ns = S_ISREG(dk->st.st_mode)
                      ? (int64_t)dk->st.st_mtim.tv_sec * 1000000000LL + dk->st.st_mtim.tv_nsec
                      : time_ns;
    n->atime_ns = n->ctime_ns = n->mtime_ns;
    n->nlink = 1;
    n->size = m->size;
    if (!(n->name = cr_strdup("image")))
        return CR_ERROR;
    for (k = 0; k < m->n; k++)
        ne += m->present[k] != 0;
    if (ne && !(n->content = cr_calloc(ne, sizeof(cr_extent))))
        return CR_ERROR;
    for (k = 0; k < m->n; k++) {
        cr_extent *x;
        if (!m->present[k])
            continue;
        x = &n->content[n->ncontent++];
        x->offset = (uint64_t)k * CR_IMAGE_CHUNK;
        x->len = (uint32_t)chunk_len(m, k);
        x->id = m->ids[k];
        x->blob_off = 0;
    }
    return 0;
}

static void dir_node(cr_node *n, int64_t time_ns)
{
    memset(n, 0, sizeof(*n));
    n->type = CR_NODE_DIR;
    n->mode = 0700;
    n->uid = (uint32_t)getuid();
    n->gid = (uint32_t)getgid();
    n->mtime_ns = n->atime_ns = n->ctime_ns = time_ns;
    n->nlink = 2;
    n->has_subtree = 1;
}

static void tree_clear(cr_tree *t)
{
    for (size_t k = 0; k < t->count; k++)
        cr_node_clear(&t->nodes[k]);
    free(t->nodes);
    t->nodes = NULL;
    t->count = 0;
}

/* The folder diskN: "image" and one folder per filesystem listed. */
static int disk_tree(cr_id *out, cr_repo *repo, cr_packer *tp, const idisk *dk, int64_t time_ns,
                     const cr_image_backup_options *o)
{
    cr_tree t = {NULL, 0};
    size_t k, j;
    int err;

    if (!(t.nodes = cr_calloc(dk->nvols + 1, sizeof(cr_node))))
        return CR_ERROR;
    if ((err = image_node(&t.nodes[0], dk, time_ns)) < 0) {
        t.count = 1;
        goto done;
    }
    t.count = 1;
    for (k = 0; k < dk->nvols; k++) {
        const im_fsresult *r = &dk->vols[k];
        cr_node *n = &t.nodes[t.count];
        int dup = 0;
        if (!r->has_tree || !r->vol.name)
            continue;
        for (j = 0; j < t.count; j++)
            if (strcmp(t.nodes[j].name, r->vol.name) == 0)
                dup = 1;
        if (dup || !cr_name_is_safe(r->vol.name)) {
            warnf(o, dk->abspath, "filesystem folder name \"%s\" is used twice or unsafe; its "
                  "files are left out of the listing (the disk itself is complete)",
                  r->vol.name);
            continue;
        }
        if ((err = cr_node_copy(n, &r->root)) < 0)
            goto done;
        t.count++;
        free(n->name);
        if (!(n->name = cr_strdup(r->vol.name))) {
            err = CR_ERROR;
            goto done;
        }
        n->type = CR_NODE_DIR;
        n->has_subtree = 1;
        n->subtree = r->tree;
    }
    cr_tree_sort(&t);
    err = cr_tree_save(out, repo, tp, &t);
done:
    tree_clear(&t);
    return err;
}

/* ------------------------------------------------------------ snapshot */

/* The VM description recorded: a copy of the given one, named after the source by default. */
static int vm_copy(cr_vm_info **out, const cr_vm_info *in, const char *source)
{
    cr_vm_info *v = NULL;
    int err;
    *out = NULL;
    if (in) {
        if ((err = im_vm_info_copy(&v, in)) < 0)
            return err;
    } else if (!(v = cr_calloc(1, sizeof(*v)))) {
        return CR_ERROR;
    }
    if (!v->name && !(v->name = cr_strdup(source))) {
        cr_vm_info_free(v);
        return CR_ERROR;
    }
    *out = v;
    return 0;
}

static char *abs_path(const char *p)
{
    char *cwd, *r;
    if (p[0] == '/')
        return cr_strdup(p);
    if (!(cwd = getcwd(NULL, 0))) {
        cr_error_errno("cannot find the current folder");
        return NULL;
    }
    r = cr_sprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, p);
    free(cwd);
    return r;
}

static int validate(const cr_image_backup_options *o, const char *const *images, size_t n)
{
    int err;
    if (!o || o->version < 1 || o->version > CR_IMAGE_BACKUP_OPTIONS_VERSION) {
        cr_error_set("image backup options missing or of an unknown version");
        return CR_EINPUT;
    }
    if (!o->source || !*o->source) {
        cr_error_set("a source name is required (the system the backup protects, e.g. "
                     "\"pacs-vm\")");
        return CR_EINPUT;
    }
    if ((err = cr_check_text("source name", o->source, 255, 0)) < 0)
        return err;
    if (n == 0 || !images) {
        cr_error_set("nothing to back up: give at least one disk image");
        return CR_EINPUT;
    }
    if (n > 1000) {
        cr_error_set("%zu disk images given; at most 1000 per snapshot", n);
        return CR_EINPUT;
    }
    for (size_t i = 0; i < n; i++)
        if (!images[i] || !*images[i]) {
            cr_error_set("an empty image path was given to back up");
            return CR_EINPUT;
        }
    for (size_t i = 0; i < o->ntags; i++)
        if ((err = cr_check_text("tag", o->tags[i], 255, 1)) < 0)
            return err;
    for (size_t i = 0; o->version >= 2 && i < o->nallow_backing; i++)
        if (!o->allow_backing || !o->allow_backing[i] || !*o->allow_backing[i]) {
            cr_error_set("an empty folder was given to allow backing files from");
            return CR_EINPUT;
        }
    if (o->threads < 0 || o->threads > MAX_THREADS) {
        cr_error_set("the number of threads must be between 0 (automatic) and %d", MAX_THREADS);
        return CR_EINPUT;
    }
    return 0;
}

/* Counts warnings from fs.c: every one is an item missing from the listing. */
typedef struct fswarn {
    const cr_image_backup_options *o;
    uint64_t n;
} fswarn;

static void fs_warning(const char *path, const char *message, void *payload)
{
    fswarn *fw = payload;
    fw->n++;
    if (fw->o->warning)
        fw->o->warning(path, message, fw->o->payload);
}

/* Data mapped beyond the size a header of the chain gives: one warning per file. */
static uint64_t warn_dropped(const cr_image_backup_options *o, const im_src *src)
{
    uint64_t n = 0;
    size_t nl;
    const im_layer *ls = im_src_layers(src, &nl);
    for (size_t i = 0; i < nl; i++) {
        const im_layer *l = &ls[i];
        if (!l->dropped)
            continue;
        n++;
        warnf(o, l->path,
              "its %s tables map %llu bytes of data beyond the size its header gives (%llu "
              "bytes): they were not stored, the snapshot keeps the size of the header. The "
              "header may be damaged or forged: compare 'qemu-img info' and 'qemu-img map' "
              "of the image",
              cr_image_format_name(l->format), (unsigned long long)l->dropped,
              (unsigned long long)l->size);
    }
    return n;
}

/* The chain of files read under a disk, as the snapshot records it. */
static int record_chain(cr_image_disk *sd, const im_src *src)
{
    size_t n;
    const im_layer *ls = im_src_layers(src, &n);
    sd->dropped = ls[0].dropped;
    if (n <= 1)
        return 0;
    if (!(sd->backing = cr_calloc(n - 1, sizeof(*sd->backing))))
        return CR_ERROR;
    for (size_t i = 1; i < n; i++) {
        cr_image_backing *b = &sd->backing[sd->nbacking++];
        b->format = ls[i].format;
        sd->dropped += ls[i].dropped;
        if (!(b->path = cr_strdup(ls[i].path)))
            return CR_ERROR;
    }
    return 0;
}

/* The newest image snapshot of the source at or before `time_ns` holding disk `name`. */
/* ------------------------------------------------------------- ransomware watch */

/*
 * After the filesystems are read and their trees indexed: the files added or
 * changed since the parent image snapshot, each with the verdict on the block
 * its data starts in, for opts->file_seen. The trees come from the sandbox
 * child (checked by sbx.c: extents name chunks of this disk, within them), so
 * a lying child can only hide or invent signals about its own disk; every
 * index taken from an extent is bounded here again.
 */
typedef struct judged {
    cr_id id;
    size_t chunk;
} judged;

typedef struct wctx {
    const cr_image_backup_options *opts;
    const idisk *dk;
    judged *v; /* chunks with verdicts, sorted by id */
    size_t n;
    char *prefix; /* "/diskN/VOLUME" */
} wctx;

static int judged_cmp(const void *a, const void *b)
{
    return memcmp(&((const judged *)a)->id, &((const judged *)b)->id, sizeof(cr_id));
}

/* The verdict on the block holding a file's first byte; 0 when it was not judged. */
static int head_random(const wctx *c, const cr_node *n)
{
    const cr_extent *x = n->ncontent ? &n->content[0] : NULL;
    judged key, *hit;
    size_t k;
    if (!x || x->offset != 0 || !c->n)
        return 0;
    key.id = x->id;
    if (!(hit = bsearch(&key, c->v, c->n, sizeof(*c->v), judged_cmp)))
        return 0;
    k = x->blob_off / CR_IMAGE_HEAD_BLOCK;
    if (hit->chunk >= c->dk->map.n || !c->dk->rnd[hit->chunk] || k >= RND_BLOCKS)
        return 0;
    return (c->dk->rnd[hit->chunk][k / 8] >> (k % 8)) & 1;
}

static int watch_diff(cr_diff_kind kind, const char *path, const cr_node *o, const cr_node *n,
                      void *payload)
{
    wctx *c = payload;
    char *full;
    int is_new;
    if (kind == CR_DIFF_REMOVED || !n || n->type != CR_NODE_FILE)
        return 0;
    is_new = kind == CR_DIFF_ADDED || !o || o->type != CR_NODE_FILE;
    /* A file whose only change is the chunk ids of its extents was not written: another
     * file in the same 4 MiB chunk was. Writing a file changes its size or mtime. */
    if (!is_new && o->size == n->size && o->mtime_ns == n->mtime_ns)
        return 0;
    if (!(full = cr_sprintf("%s%s", c->prefix, path)))
        return CR_ERROR;
    c->opts->file_seen(full, is_new, n->size, head_random(c, n), c->opts->read_payload);
    free(full);
    return 0;
}

/* Report the changed files of every volume of `dk` that has one of the same name in the
 * parent. A problem comparing the trees only makes the signals incomplete (warned): the
 * snapshot is still saved. @return 0 or CR_ERROR (out of memory). */
static int watch_disk(cr_repo *repo, const cr_image_backup_options *opts, const idisk *dk,
                      const cr_image_disk *sd)
{
    wctx c;
    int err = 0;
    memset(&c, 0, sizeof(c));
    c.opts = opts;
    c.dk = dk;
    if (!dk->rnd)
        return 0;
    for (size_t i = 0; i < dk->map.n; i++)
        c.n += dk->rnd[i] != NULL;
    if (c.n && !(c.v = cr_calloc(c.n, sizeof(*c.v))))
        return CR_ERROR;
    c.n = 0;
    for (size_t i = 0; i < dk->map.n; i++)
        if (dk->rnd[i])
            c.v[c.n++] = (judged){dk->map.ids[i], i};
    qsort(c.v, c.n, sizeof(*c.v), judged_cmp);
    for (size_t k = 0; k < dk->nvols && k < sd->nvolumes; k++) {
        const im_fsresult *r = &dk->vols[k];
        const im_fsresult *pr = NULL;
        if (!r->has_tree || !sd->volumes[k].name)
            continue;
        for (size_t j = 0; j < dk->npvols; j++)
            if (dk->pvols[j].vol.name && !strcmp(dk->pvols[j].vol.name, sd->volumes[k].name))
                pr = &dk->pvols[j];
        if (!pr || !pr->has_tree || !memcmp(&pr->tree, &r->tree, sizeof(cr_id)))
            continue;
        if (!(c.prefix = cr_sprintf("/%s/%s", sd->name, sd->volumes[k].name))) {
            err = CR_ERROR;
            break;
        }
        if ((err = cr_diff_trees_at(repo, &pr->tree, &r->tree, 2, watch_diff, &c)) < 0 &&
            err != CR_EPARTIAL)
            warnf(opts, c.prefix, "the ransomware signals of this volume are incomplete: %s",
                  cr_error_last());
        free(c.prefix);
        c.prefix = NULL;
        err = 0;
    }
    free(c.v);
    return err;
}

static const cr_snapshot *find_parent(cr_snapshot **list, size_t n, int64_t time_ns,
                                      const char *name)
{
    const cr_snapshot *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const cr_snapshot *s = list[i];
        int has = name == NULL;
        if (s->kind != CR_SNAPSHOT_IMAGE || s->time_ns > time_ns)
            continue;
        for (size_t k = 0; !has && k < s->ndisks; k++)
            has = s->disks[k].name && strcmp(s->disks[k].name, name) == 0;
        if (has && (!best || s->time_ns >= best->time_ns))
            best = s;
    }
    return best;
}

/* ---------------------------------------------------------------- main */

int cr_backup_image(cr_snapshot **out, cr_repo *repo, const char *const *images, size_t nimages,
                    const cr_image_backup_options *opts)
{
    ib *b = NULL;
    iworker *workers = NULL;
    idisk *disks = NULL;
    cr_lock *lock = NULL;
    cr_snapshot **list = NULL, *snap = NULL;
    cr_packer *tp = NULL;
    cr_tree root = {NULL, 0};
    size_t nlist = 0, nw = 0, i, k;
    int err = 0, mutexes = 0;
    int64_t time_ns;
    fswarn fw;
    /* The ransomware watch (version 3): verdicts on changed blocks, then changed files. */
    int watch = opts && opts->version >= 3 && opts->block_random && opts->file_seen;

    if (out)
        *out = NULL;
    if (!repo) {
        cr_error_set("no vault given");
        return CR_EINPUT;
    }
    if ((err = validate(opts, images, nimages)) < 0)
        return err;
    time_ns = opts->time_ns ? opts->time_ns : cr_time_now_ns();
    fw.o = opts;
    fw.n = 0;

    if (!(b = cr_calloc(1, sizeof(*b))) || !(disks = cr_calloc(nimages, sizeof(*disks)))) {
        err = CR_ERROR;
        goto done;
    }
    b->repo = repo;
    b->opts = opts;
    b->t0 = cr_time_mono();

    /* Every image opened and checked before anything is read or written. */
    for (i = 0; i < nimages; i++) {
        idisk *dk = &disks[i];
        if (!(dk->abspath = abs_path(images[i]))) {
            err = CR_ERROR;
            goto done;
        }
        if (stat(dk->abspath, &dk->st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                cr_error_set("cannot back up the disk image %s: no such file or device; "
                             "nothing was saved",
                             images[i]);
                err = CR_ENOTFOUND;
            } else {
                err = cr_error_errno("cannot back up the disk image %s", images[i]);
            }
            goto done;
        }
        if (S_ISDIR(dk->st.st_mode)) {
            cr_error_set("%s is a folder, not a disk image; to back up its files, give it as "
                         "a PATH without --image",
                         images[i]);
            err = CR_EINPUT;
            goto done;
        }
        for (k = 0; k < i; k++)
            if (strcmp(disks[k].abspath, dk->abspath) == 0) {
                cr_error_set("the disk image %s is given twice", images[i]);
                err = CR_EINPUT;
                goto done;
            }
        char dname[32];
        size_t nl;
        snprintf(dname, sizeof(dname), "disk%zu", i);
        if ((err = im_src_open(&dk->src, dk->abspath, dname,
                               opts->version >= 2 ? opts->allow_backing : NULL,
                               opts->version >= 2 ? opts->nallow_backing : 0)) < 0)
            goto done;
        fw.n += warn_dropped(opts, dk->src);
        uint64_t size = im_src_layers(dk->src, &nl)[0].size;
        if ((err = chunkmap_init(&dk->map, size)) < 0)
            goto done;
        b->bytes_total += size;
    }

    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0)
        goto done;
    cr_repo_clean_temp(repo, 3600);
    if ((err = cr_repo_index_writable(&b->idx, repo)) < 0)
        goto done;

    /* Parents: the newest earlier image snapshot of the source with the same disk. */
    if ((err = cr_snapshot_list(&list, &nlist, repo, opts->source)) < 0)
        goto done;
    if (!opts->no_files) {
        for (i = 0; i < nimages; i++) {
            char dname[32];
            const cr_snapshot *p;
            snprintf(dname, sizeof(dname), "disk%zu", i);
            if ((p = find_parent(list, nlist, time_ns, dname)))
                load_parent(&disks[i], repo, p, dname);
            /* Files are compared with the parent's: without one, nothing to judge. */
            if (watch && disks[i].has_parent_map && disks[i].npvols &&
                !(disks[i].rnd =
                      cr_calloc(disks[i].map.n ? disks[i].map.n : 1, sizeof(uint8_t *)))) {
                err = CR_ERROR;
                goto done;
            }
        }
    }

    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv_free, NULL);
    pthread_cond_init(&b->cv_work, NULL);
    mutexes = 1;

    /* One worker per core but the walker's; one per core on a remote store (vault server,
     * S3), where each pack upload waits for its answer. */
    nw = opts->threads > 0                  ? (size_t)opts->threads
         : !cr_store_is_local(repo->store) ? (size_t)cr_ncpu()
         : (size_t)(cr_ncpu() > 1 ? cr_ncpu() - 1 : 1);
    b->nbufs = 2 * nw + 2;
    if (!(workers = cr_calloc(nw, sizeof(*workers))) ||
        !(b->bufs = cr_calloc(b->nbufs, sizeof(uint8_t *))) ||
        !(b->freelist = cr_calloc(b->nbufs, sizeof(size_t))) ||
        !(b->q = cr_calloc(b->nbufs, sizeof(ijob)))) {
        err = CR_ERROR;
        goto done;
    }
    for (i = 0; i < b->nbufs; i++) {
        if (!(b->bufs[i] = cr_malloc(CR_IMAGE_CHUNK))) {
            err = CR_ERROR;
            goto done;
        }
        b->freelist[b->nfree++] = i;
    }
    for (i = 0; i < nw; i++) {
        workers[i].b = b;
        if ((err = cr_packer_new(&workers[i].packer, repo)) < 0)
            goto done;
    }
    if ((err = cr_packer_new(&tp, repo)) < 0)
        goto done;

    /* The chunk pass, disk after disk. */
    for (i = 0; i < nimages; i++) {
        idisk *dk = &disks[i];
        struct stat after;
        if ((err = chunk_pass(b, workers, nw, dk)) < 0)
            goto done;
        /* A disk written while it was read (a running VM) is not consistent. */
        if (S_ISREG(dk->st.st_mode) && stat(dk->abspath, &after) == 0 &&
            (after.st_size != dk->st.st_size ||
             after.st_mtim.tv_sec != dk->st.st_mtim.tv_sec ||
             after.st_mtim.tv_nsec != dk->st.st_mtim.tv_nsec)) {
            fw.n++;
            warnf(opts, dk->abspath,
                  "the image changed while it was read (is the VM running?): the stored disk "
                  "may be inconsistent; shut the VM down, or back up a hypervisor snapshot of "
                  "its disks");
        }
    }
    for (i = 0; i < nw; i++)
        if ((err = cr_packer_flush(workers[i].packer)) < 0)
            goto done;
    /* The buffers are no longer needed: give their memory back before fs.c works. */
    for (i = 0; i < b->nbufs; i++) {
        free(b->bufs[i]);
        b->bufs[i] = NULL;
    }

    /* The filesystems inside. */
    if (!opts->no_files) {
        for (i = 0; i < nimages; i++) {
            idisk *dk = &disks[i];
            im_store st = {.repo = repo, .packer = tp, .idx = b->idx};
            b->current = dk->abspath;
            progress(b, 1);
            err = im_src_fs_read(dk->src, &dk->vols, &dk->nvols, &dk->ptable, &dk->map,
                                 dk->has_parent_map ? &dk->pmap : NULL, dk->pvols, dk->npvols,
                                 &st, fs_warning, &fw);
            atomic_fetch_add(&b->bytes_new, st.bytes_new);
            if (err < 0)
                goto done;
        }
    }

    /* The root: one folder per disk. */
    if (!(root.nodes = cr_calloc(nimages, sizeof(cr_node)))) {
        err = CR_ERROR;
        goto done;
    }
    for (i = 0; i < nimages; i++) {
        cr_node *n = &root.nodes[i];
        char dname[32];
        snprintf(dname, sizeof(dname), "disk%zu", i);
        dir_node(n, time_ns);
        root.count++;
        if (!(n->name = cr_strdup(dname))) {
            err = CR_ERROR;
            goto done;
        }
        if ((err = disk_tree(&n->subtree, repo, tp, &disks[i], time_ns, opts)) < 0)
            goto done;
    }
    cr_tree_sort(&root);

    if (!(snap = cr_calloc(1, sizeof(*snap)))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = cr_tree_save(&snap->tree, repo, tp, &root)) < 0)
        goto done;

    /* Write order: packs, then the index naming them, then the snapshot. */
    if ((err = cr_packer_flush(tp)) < 0 || (err = cr_index_save(b->idx, repo)) < 0)
        goto done;

    {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0)
            host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        snap->hostname = cr_strdup(host);
    }
    snap->kind = CR_SNAPSHOT_IMAGE;
    snap->source = cr_strdup(opts->source);
    snap->username = cr_who_am_i();
    snap->program_version = cr_strdup(CR_VERSION_STRING);
    snap->paths = cr_calloc(nimages, sizeof(char *));
    snap->disks = cr_calloc(nimages, sizeof(cr_image_disk));
    if (!snap->source || !snap->hostname || !snap->username || !snap->program_version ||
        !snap->paths || !snap->disks) {
        err = CR_ERROR;
        goto done;
    }
    if (opts->ntags) {
        if (!(snap->tags = cr_calloc(opts->ntags, sizeof(char *)))) {
            err = CR_ERROR;
            goto done;
        }
        for (; snap->ntags < opts->ntags; snap->ntags++)
            if (!(snap->tags[snap->ntags] = cr_strdup(opts->tags[snap->ntags]))) {
                err = CR_ERROR;
                goto done;
            }
    }
    if ((err = vm_copy(&snap->vm, opts->vm, opts->source)) < 0)
        goto done;
    snap->time_ns = time_ns;
    {
        const cr_snapshot *p = find_parent(list, nlist, time_ns, NULL);
        if (p) {
            snap->has_parent = 1;
            snap->parent = p->id;
        }
    }
    for (i = 0; i < nimages; i++) {
        idisk *dk = &disks[i];
        cr_image_disk *sd = &snap->disks[i];
        snap->ndisks++;
        snap->npaths++;
        snap->paths[i] = dk->abspath;
        dk->abspath = cr_strdup(snap->paths[i]);
        sd->name = cr_sprintf("disk%zu", i);
        sd->source_path = cr_strdup(snap->paths[i]);
        if (!dk->abspath || !sd->name || !sd->source_path) {
            err = CR_ERROR;
            goto done;
        }
        size_t nl;
        sd->source_format = im_src_layers(dk->src, &nl)[0].format;
        if ((err = record_chain(sd, dk->src)) < 0)
            goto done;
        sd->virtual_size = dk->map.size;
        sd->stored = dk->stored;
        sd->partition_table = dk->ptable;
        dk->ptable = NULL;
        snap->bytes += dk->map.size;
        if (dk->nvols) {
            if (!(sd->volumes = cr_calloc(dk->nvols, sizeof(cr_image_volume)))) {
                err = CR_ERROR;
                goto done;
            }
            for (k = 0; k < dk->nvols; k++) {
                im_fsresult *r = &dk->vols[k];
                sd->volumes[sd->nvolumes++] = r->vol;
                memset(&r->vol, 0, sizeof(r->vol));
                if (r->has_tree) {
                    snap->files += sd->volumes[k].files;
                    snap->dirs += r->dirs;
                    snap->others += r->others;
                }
                if (r->is_system && !snap->system_root &&
                    !(snap->system_root = cr_sprintf("/%s/%s", sd->name, sd->volumes[k].name))) {
                    err = CR_ERROR;
                    goto done;
                }
            }
        }
    }
    snap->bytes_new = atomic_load(&b->bytes_new);
    snap->errors = fw.n;
    snap->duration = cr_time_mono() - b->t0;
    /* The ransomware watch, on the trees just indexed (cr_index_save above). */
    if (watch)
        for (i = 0; i < nimages; i++)
            if ((err = watch_disk(repo, opts, &disks[i], &snap->disks[i])) < 0)
                goto done;
    if (opts->version >= 3 && opts->tags_before_save) {
        const cr_snapshot *p = find_parent(list, nlist, time_ns, NULL);
        if ((err = cr_snapshot_tags_add(
                 snap, opts->tags_before_save(snap, p ? p->files : 0, opts->read_payload))) < 0)
            goto done;
    }
    if ((err = cr_snapshot_save(repo, snap)) < 0)
        goto done;
    b->current = NULL;
    progress(b, 1);
    err = snap->errors ? CR_EPARTIAL : 0;
    for (i = 0; err == CR_EPARTIAL && i < snap->ndisks; i++)
        if (snap->disks[i].dropped) {
            cr_error_set("snapshot saved with %llu warning(s): data that a disk image's tables "
                         "map beyond the size its header gives was left out (see the warnings)",
                         (unsigned long long)snap->errors);
            break;
        }
    if (err == CR_EPARTIAL && i == snap->ndisks)
        cr_error_set("snapshot saved with every disk complete, but %llu filesystem(s) or "
                     "file(s) inside could not be listed",
                     (unsigned long long)snap->errors);
    if (out) {
        *out = snap;
        snap = NULL;
    }

done:
    if (workers) {
        for (i = 0; i < nw; i++)
            cr_packer_free(workers[i].packer);
        free(workers);
    }
    cr_packer_free(tp);
    tree_clear(&root);
    if (b) {
        if (b->bufs) {
            for (i = 0; i < b->nbufs; i++)
                free(b->bufs[i]);
            free(b->bufs);
        }
        free(b->freelist);
        free(b->q);
        if (mutexes) {
            pthread_mutex_destroy(&b->mu);
            pthread_cond_destroy(&b->cv_free);
            pthread_cond_destroy(&b->cv_work);
        }
        free(b);
    }
    if (disks) {
        for (i = 0; i < nimages; i++)
            idisk_clear(&disks[i]);
        free(disks);
    }
    cr_snapshot_free(snap);
    cr_snapshot_list_free(list, nlist);
    cr_lock_release(lock);
    return err;
}
