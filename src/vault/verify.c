/*
 * cr_verify: check a vault and say, for every damage found, which files of
 * which snapshots can no longer be restored in full.
 *
 * Verify trusts nothing it can check for itself, and in particular not the
 * index files (a cache): it reads the header of every pack (or, with
 * read_data, the whole pack, checks its SHA-256 against its name and decodes
 * every blob) and builds its own index of what is really stored. Index files
 * are then checked against that, and the trees of every snapshot are loaded
 * through it. So a vault whose index files were lost still verifies clean,
 * and a pack that an index names but that is gone is found.
 *
 * Phases:
 *  1. keys/, index/, snapshots/: every file's SHA-256 equals its name (small
 *     files, always read); index files must open and decode.
 *  2. data/: one job per pack, on opts->threads workers.
 *  3. merge: damaged packs become problems, their blobs "lost".
 *  4. every snapshot is loaded; every tree reachable from any snapshot is
 *     loaded once and every blob it references looked up. A tree remembers
 *     whether anything under it is lost ("dirty"), so that
 *  5. the affected files are found by walking, per snapshot, only the dirty
 *     subtrees again, with paths.
 */
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ------------------------------------------------------------ context */

typedef struct vf_pack {
    cr_id id;
    int selected;  /* read whole (read_data / subset) */
    int header_ok; /* entries are valid */
    cr_pack_entry *entries;
    size_t nentries;
    char *message; /* problem, or NULL */
    cr_id *lost;   /* blobs that failed to decode */
    size_t nlost;
    uint64_t size, bytes_read, blobs_read;
} vf_pack;

typedef struct vf_ctx {
    cr_repo *repo;
    const cr_verify_options *opts;
    cr_verify_report *r;
    vf_pack *packs;
    size_t npacks;
    atomic_size_t next_pack, packs_done;
    atomic_uint_fast64_t bytes_done;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int workers_left;
    double t0;

    size_t unreadable_packs; /* packs whose header cannot be read */
    cr_index *pidx;          /* what the packs really hold */
    cr_idset packset;           /* 1 = pack file present */
    cr_idset lost;              /* blobs that can no longer be read (1) */
    cr_idset trees;             /* 1 clean, 2 dirty, 3 being visited */
    cr_idset reported;          /* blobs already reported as missing */
    cr_idset usedpacks;         /* packs holding a blob some snapshot uses (1) */
    int err;                 /* first error of a callback */
    cr_forgotten gone;       /* snapshots forgotten on purpose (their absence is no damage) */
    cr_blob_reader *reader; /* trees */
    cr_buf blob;
} vf_ctx;

static int add_item(cr_verify_problem **arr, size_t *n, const char *what, const char *id,
                    const char *msg)
{
    cr_verify_problem *p = cr_realloc(*arr, (*n + 1) * sizeof(*p));
    if (!p)
        return CR_ERROR;
    *arr = p;
    p = &p[*n];
    p->what = cr_strdup(what);
    p->id = cr_strdup(id);
    p->message = cr_strdup(msg);
    if (!p->what || !p->id || !p->message) {
        free(p->what);
        free(p->id);
        free(p->message);
        return CR_ERROR;
    }
    (*n)++;
    return 0;
}

int cr_verify_add_problem(cr_verify_report *r, const char *what, const cr_id *id, const char *fmt,
                          ...)
{
    char msg[1024], hex[CR_ID_HEX_LEN + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return add_item(&r->problems, &r->nproblems, what, id ? cr_id_to_hex(hex, id) : "", msg);
}

static int add_notice(cr_verify_report *r, const char *what, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int add_notice(cr_verify_report *r, const char *what, const char *id, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return add_item(&r->notices, &r->nnotices, what, id, msg);
}

int cr_verify_has_problem(const cr_verify_report *r, const char *what, const cr_id *id)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_id_to_hex(hex, id);
    for (size_t i = 0; i < r->nproblems; i++)
        if (!strcmp(r->problems[i].what, what) && !strcmp(r->problems[i].id, hex))
            return 1;
    return 0;
}

static int add_affected(cr_verify_report *r, const cr_snapshot *s, const char *path)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_verify_affected *a = cr_realloc(r->affected, (r->naffected + 1) * sizeof(*a));
    if (!a)
        return CR_ERROR;
    r->affected = a;
    a = &r->affected[r->naffected];
    a->snapshot = cr_strdup(cr_id_to_hex(hex, &s->id));
    a->source = cr_strdup(s->source ? s->source : "");
    a->path = cr_strdup(path);
    if (!a->snapshot || !a->source || !a->path) {
        free(a->snapshot);
        free(a->source);
        free(a->path);
        return CR_ERROR;
    }
    r->naffected++;
    return 0;
}

void cr_verify_report_clear(cr_verify_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nproblems; i++) {
        free(r->problems[i].what);
        free(r->problems[i].id);
        free(r->problems[i].message);
    }
    free(r->problems);
    for (size_t i = 0; i < r->nnotices; i++) {
        free(r->notices[i].what);
        free(r->notices[i].id);
        free(r->notices[i].message);
    }
    free(r->notices);
    for (size_t i = 0; i < r->naffected; i++) {
        free(r->affected[i].snapshot);
        free(r->affected[i].source);
        free(r->affected[i].path);
    }
    free(r->affected);
    memset(r, 0, sizeof(*r));
}

static void vf_progress(vf_ctx *c)
{
    if (!c->opts->progress)
        return;
    cr_progress p;
    memset(&p, 0, sizeof(p));
    p.files_done = atomic_load(&c->packs_done);
    p.files_total = c->npacks;
    p.bytes_done = atomic_load(&c->bytes_done);
    p.elapsed = cr_time_mono() - c->t0;
    p.errors = c->r->nproblems;
    c->opts->progress(&p, c->opts->payload);
}

/* cr_run_workers' tick: progress from the calling thread. */
static void vf_progress_tick(void *payload)
{
    vf_progress(payload);
}

/* ------------------------------------------------------------ 1. small files */

static int check_small_files(vf_ctx *c, const char *kind, const char *what, cr_index *scratch,
                             cr_id **out, size_t *nout)
{
    cr_id *ids = NULL;
    size_t n = 0;
    cr_buf b = CR_BUF_INIT, plain = CR_BUF_INIT;
    int err;
    if ((err = cr_repo_list(&ids, &n, c->repo, kind)) < 0)
        return err;
    for (size_t i = 0; i < n && err == 0; i++) {
        char rel[128], hex[CR_ID_HEX_LEN + 1];
        uint8_t h[32];
        snprintf(rel, sizeof(rel), "%s/%s", kind, cr_id_to_hex(hex, &ids[i]));
        int r = cr_store_get(c->repo->store, rel, &b, CR_MAX_META_FILE);
        if (r < 0) {
            if (r == CR_ERROR && strstr(cr_error_last(), "memory")) {
                err = r;
                break;
            }
            err = cr_verify_add_problem(c->r, what, &ids[i], "cannot be read: %s", cr_error_last());
            continue;
        }
        c->r->bytes_read += b.len;
        cr_sha256(h, b.ptr, b.len);
        if (memcmp(h, ids[i].b, 32) != 0) {
            err = cr_verify_add_problem(c->r, what, &ids[i],
                              "content does not match its name (SHA-256): the file is damaged");
            continue;
        }
        if (scratch) {
            r = cr_repo_open_file(&plain, c->repo, kind, &ids[i], b.ptr, b.len);
            if (r == 0)
                r = cr_index_decode(scratch, plain.ptr, plain.len, 0);
            if (r < 0)
                err = cr_verify_add_problem(c->r, what, &ids[i], "cannot be decoded: %s", cr_error_last());
        }
    }
    cr_buf_free(&b);
    cr_buf_free(&plain);
    if (out && err == 0) {
        *out = ids;
        *nout = n;
        ids = NULL;
    }
    free(ids);
    return err;
}

/* ------------------------------------------------------------ 2. packs */

typedef struct vf_worker {
    vf_ctx *c;
    ZSTD_DCtx *dctx;
    cr_buf file, blob;
} vf_worker;

static void vf_check_pack(vf_worker *w, vf_pack *p)
{
    vf_ctx *c = w->c;
    char rel[128], msg[768];
    msg[0] = '\0';
    if (!p->selected) {
        if (cr_pack_read_header(&p->entries, &p->nentries, c->repo, &p->id, &p->size) < 0) {
            snprintf(msg, sizeof(msg), "header cannot be read: %s", cr_error_last());
            goto done;
        }
        p->header_ok = 1;
        for (size_t i = 0; i < p->nentries; i++) {
            const cr_pack_entry *e = &p->entries[i];
            if ((uint64_t)e->offset + e->stored_len > p->size) {
                snprintf(msg, sizeof(msg), "blob at offset %u lies beyond the end of the file",
                         e->offset);
                break;
            }
        }
        goto done;
    }
    cr_pack_path(rel, sizeof(rel), &p->id);
    if (cr_store_get(c->repo->store, rel, &w->file, CR_MAX_PACK) < 0) {
        snprintf(msg, sizeof(msg), "cannot be read: %s", cr_error_last());
        goto done;
    }
    p->size = p->bytes_read = w->file.len;
    atomic_fetch_add(&c->bytes_done, w->file.len);
    uint8_t h[32];
    cr_sha256(h, w->file.ptr, w->file.len);
    int hash_bad = memcmp(h, p->id.b, 32) != 0;
    if (cr_pack_decode_header(&p->entries, &p->nentries, &c->repo->keys, w->file.ptr, w->file.len) <
        0) {
        snprintf(msg, sizeof(msg), "%sheader cannot be read: %s",
                 hash_bad ? "content does not match its name (SHA-256); " : "", cr_error_last());
        goto done;
    }
    p->header_ok = 1;
    size_t bad = 0;
    char first[300] = "";
    for (size_t i = 0; i < p->nentries; i++) {
        const cr_pack_entry *e = &p->entries[i];
        int r;
        if ((uint64_t)e->offset + e->stored_len > w->file.len) {
            cr_error_set("lies beyond the end of the file");
            r = CR_ECORRUPT;
        } else {
            r = cr_blob_decode(&w->blob, &c->repo->keys, w->dctx, e, w->file.ptr + e->offset);
            if (r == 0)
                p->blobs_read++;
        }
        if (r < 0) {
            cr_id *l = cr_realloc(p->lost, (p->nlost + 1) * sizeof(cr_id));
            if (l) {
                p->lost = l;
                p->lost[p->nlost++] = e->id;
            }
            if (bad++ == 0) /* the decoder's message names the blob */
                snprintf(first, sizeof(first), "%s", cr_error_last());
        }
    }
    if (bad)
        snprintf(msg, sizeof(msg), "%s%zu of %zu blobs cannot be decoded (first: %s)",
                 hash_bad ? "content does not match its name (SHA-256); " : "", bad, p->nentries,
                 first);
    else if (hash_bad)
        snprintf(msg, sizeof(msg),
                 "content does not match its name (SHA-256), "
                 "although every blob decodes");
done:
    if (msg[0])
        p->message = strdup(msg);
}

static void *vf_worker_main(void *arg)
{
    vf_worker *w = arg;
    vf_ctx *c = w->c;
    for (;;) {
        size_t k = atomic_fetch_add(&c->next_pack, 1);
        if (k >= c->npacks)
            break;
        vf_check_pack(w, &c->packs[k]);
        atomic_fetch_add(&c->packs_done, 1);
    }
    pthread_mutex_lock(&c->mu);
    c->workers_left--;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int vf_check_packs(vf_ctx *c)
{
    int nthreads = c->opts->threads > 0 ? c->opts->threads : cr_ncpu(), err = 0;
    vf_worker *ws = NULL;
    if (nthreads > 64)
        nthreads = 64;
    if ((size_t)nthreads > c->npacks)
        nthreads = (int)c->npacks;
    if (nthreads == 0)
        return 0;
    if (!(ws = cr_calloc((size_t)nthreads, sizeof(*ws)))) {
        err = CR_ERROR;
        goto done;
    }
    for (int i = 0; i < nthreads; i++) {
        ws[i].c = c;
        ws[i].file.max = CR_MAX_PACK + 1;
        if (!(ws[i].dctx = ZSTD_createDCtx())) {
            cr_error_set("out of memory (zstd context)");
            err = CR_ERROR;
            goto done;
        }
    }
    if ((err = cr_run_workers(vf_worker_main, ws, sizeof(*ws), nthreads, &c->mu, &c->cond,
                              &c->workers_left, 250, vf_progress_tick, c)) > 0)
        err = 0;
done:
    if (ws)
        for (int i = 0; i < nthreads; i++) {
            ZSTD_freeDCtx(ws[i].dctx);
            cr_buf_free(&ws[i].file);
            cr_buf_free(&ws[i].blob);
        }
    free(ws);
    return err;
}

/* ------------------------------------------------------------ 3. merge */

typedef struct vf_cross {
    vf_ctx *c;
    int err;
} vf_cross;

/* Every pack an index file names must exist and hold what the index says. */
static int vf_cross_cb(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    vf_cross *x = payload;
    vf_ctx *c = x->c;
    if (!cr_idset_get(&c->packset, pack)) {
        if ((x->err = cr_verify_add_problem(c->r, "pack", pack,
                                  "missing: an index file names it but the file is not in data/")) <
            0)
            return 1;
        for (size_t i = 0; i < n; i++)
            if (!cr_index_lookup(c->pidx, &e[i].id, NULL) &&
                (x->err = cr_idset_put(&c->lost, &e[i].id, 1)) < 0)
                return 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        cr_blob_loc loc;
        if (!cr_index_lookup(c->pidx, &e[i].id, &loc) || memcmp(&loc.pack, pack, sizeof(cr_id)) ||
            loc.entry.offset != e[i].offset || loc.entry.stored_len != e[i].stored_len) {
            /* A blob may legitimately be stored twice; only a pack that lacks it is wrong. */
            int found = 0;
            for (size_t k = 0; k < c->npacks && !found; k++) {
                if (memcmp(&c->packs[k].id, pack, sizeof(cr_id)) != 0)
                    continue;
                for (size_t j = 0; j < c->packs[k].nentries && !found; j++)
                    found = !memcmp(&c->packs[k].entries[j].id, &e[i].id, sizeof(cr_id)) &&
                            c->packs[k].entries[j].offset == e[i].offset &&
                            c->packs[k].entries[j].stored_len == e[i].stored_len;
                if (!c->packs[k].header_ok)
                    found = 1; /* already reported as a damaged pack */
            }
            if (!found) {
                char hex[CR_ID_HEX_LEN + 1];
                x->err = cr_verify_add_problem(c->r, "index", pack,
                                     "the index says pack holds blob %s, but its header does not",
                                     cr_id_to_hex(hex, &e[i].id));
                return x->err < 0;
            }
        }
    }
    return 0;
}

static int vf_merge(vf_ctx *c, cr_index *scratch)
{
    int err = 0;
    cr_idset good = {0};
    for (size_t i = 0; i < c->npacks && err == 0; i++) {
        vf_pack *p = &c->packs[i];
        c->r->packs_read += p->selected && p->bytes_read ? 1 : 0;
        c->r->bytes_read += p->bytes_read;
        c->r->blobs_read += p->blobs_read;
        if (p->header_ok)
            err = cr_index_add_pack(c->pidx, &p->id, p->entries, p->nentries, 0);
        else
            c->unreadable_packs++;
    }
    /* Blobs lost in one pack but stored intact in another are not lost. */
    for (size_t i = 0; i < c->npacks && err == 0; i++) {
        vf_pack *p = &c->packs[i];
        if (!p->header_ok)
            continue;
        cr_idset bad = {0};
        for (size_t k = 0; k < p->nlost && err == 0; k++)
            err = cr_idset_put(&bad, &p->lost[k], 1);
        for (size_t k = 0; k < p->nentries && err == 0; k++)
            if (!cr_idset_get(&bad, &p->entries[k].id))
                err = cr_idset_put(&good, &p->entries[k].id, 1);
        cr_idset_free(&bad);
    }
    for (size_t i = 0; i < c->npacks && err == 0; i++) {
        vf_pack *p = &c->packs[i];
        if (p->message)
            err = cr_verify_add_problem(c->r, "pack", &p->id, "%s", p->message);
        for (size_t k = 0; k < p->nlost && err == 0; k++)
            if (!cr_idset_get(&good, &p->lost[k]))
                err = cr_idset_put(&c->lost, &p->lost[k], 1);
    }
    if (err == 0) {
        /* Index files: the packs they name exist and agree; blobs of damaged packs are lost. */
        vf_cross x = {c, 0};
        cr_index_foreach_pack(scratch, vf_cross_cb, &x);
        err = x.err;
    }
    cr_idset_free(&good);
    return err;
}

typedef struct vf_gather {
    vf_ctx *c;
    int err;
} vf_gather;

/* Blobs the index files place in packs whose header is unreadable are lost. */
static int vf_gather_cb(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    vf_gather *g = payload;
    vf_ctx *c = g->c;
    for (size_t k = 0; k < c->npacks; k++) {
        if (memcmp(&c->packs[k].id, pack, sizeof(cr_id)) || c->packs[k].header_ok)
            continue;
        for (size_t i = 0; i < n; i++) {
            cr_blob_loc loc;
            /* ...unless a healthy pack holds them too. */
            if (cr_index_lookup(c->pidx, &e[i].id, &loc))
                continue;
            if ((g->err = cr_idset_put(&c->lost, &e[i].id, 1)) < 0)
                return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ 4. trees */

/* Load a tree through verify's own index (independent of index files). */
static int vf_load_tree(vf_ctx *c, cr_tree **out, const cr_id *id)
{
    cr_blob_loc loc;
    int err;
    *out = NULL;
    if (!cr_index_lookup(c->pidx, id, &loc)) {
        cr_error_set("not stored in any pack");
        return CR_ENOTFOUND;
    }
    if ((err = cr_idset_put(&c->usedpacks, &loc.pack, 1)) < 0)
        return err;
    if (loc.entry.type != CR_BLOB_TREE) {
        cr_error_set("the blob is not a tree");
        return CR_ECORRUPT;
    }
    if (cr_idset_get(&c->lost, id)) {
        char hex[CR_ID_HEX_LEN + 1];
        cr_error_set("stored in damaged pack %s", cr_id_to_hex(hex, &loc.pack));
        return CR_ECORRUPT;
    }
    err = cr_blob_reader_decode(c->reader, &loc, &c->blob);
    if (err == 0)
        err = cr_tree_decode(out, c->blob.ptr, c->blob.len);
    return err;
}

static int fatal(int err)
{
    return err == CR_ERROR && strstr(cr_error_last(), "memory") != NULL;
}

/*
 * 1 if an extent asks for bytes its blob does not have: [blob_off, blob_off +
 * len) must lie within the blob (all of it for file backups, a part of a disk
 * chunk for the files of an image). Restore reports such a file as lost.
 */
static int extent_beyond(const cr_extent *e, const cr_blob_loc *loc)
{
    return (uint64_t)e->blob_off + e->len > loc->entry.raw_len;
}

/* Check a tree and everything under it once. @return 1 dirty, 0 clean, <0 error. */
static int vf_visit(vf_ctx *c, const cr_id *id, int depth)
{
    int v = cr_idset_get(&c->trees, id), err, dirty = 0;
    cr_tree *t = NULL;
    if (v)
        return v == 2;
    if ((err = cr_idset_put(&c->trees, id, 3)) < 0)
        return err;
    c->r->trees++;
    if (depth > CR_TREE_MAX_DEPTH) {
        err = cr_verify_add_problem(c->r, "tree", id, "folders nested too deep (over %d levels)",
                                    CR_TREE_MAX_DEPTH);
        dirty = 1;
        goto done;
    }
    if ((err = vf_load_tree(c, &t, id)) < 0) {
        if (fatal(err))
            return err;
        err = cr_verify_add_problem(c->r, "tree", id, "cannot be loaded: %s", cr_error_last());
        dirty = 1;
        goto done;
    }
    for (size_t i = 0; i < t->count && err == 0; i++) {
        const cr_node *n = &t->nodes[i];
        if (n->type == CR_NODE_FILE) {
            for (size_t k = 0; k < n->ncontent && err == 0; k++) {
                const cr_id *b = &n->content[k].id;
                if (cr_idset_get(&c->lost, b)) {
                    dirty = 1;
                    continue;
                }
                cr_blob_loc loc;
                if (cr_index_lookup(c->pidx, b, &loc) && loc.entry.type == CR_BLOB_DATA) {
                    if ((err = cr_idset_put(&c->usedpacks, &loc.pack, 1)) < 0)
                        break;
                    if (!extent_beyond(&n->content[k], &loc))
                        continue;
                    /* The blob is fine; this file's reference to it is not. */
                    char hex[CR_ID_HEX_LEN + 1];
                    dirty = 1;
                    err = cr_verify_add_problem(c->r, "tree", id,
                                      "file \"%s\" refers to bytes %u..%llu of blob %s, which "
                                      "has %u bytes",
                                      n->name, n->content[k].blob_off,
                                      (unsigned long long)n->content[k].blob_off +
                                          n->content[k].len,
                                      cr_id_to_hex(hex, b), loc.entry.raw_len);
                    continue;
                }
                dirty = 1;
                if ((err = cr_idset_put(&c->lost, b, 1)) < 0)
                    break;
                if (!cr_idset_get(&c->reported, b)) {
                    if ((err = cr_idset_put(&c->reported, b, 1)) < 0)
                        break;
                    err = cr_verify_add_problem(c->r, "blob", b, "%s",
                                      cr_index_lookup(c->pidx, b, &loc)
                                          ? "a file's data refers to a blob that is not data"
                                      : c->unreadable_packs
                                          ? "data blob is not in any readable pack (it "
                                            "may have been in a damaged pack)"
                                          : "data blob is not stored in any pack");
                }
            }
        } else if (n->type == CR_NODE_DIR && n->has_subtree) {
            int r = vf_visit(c, &n->subtree, depth + 1);
            if (r < 0)
                err = r;
            else if (r > 0)
                dirty = 1;
        }
    }
done:
    cr_tree_free(t);
    if (err < 0)
        return err;
    if ((err = cr_idset_put(&c->trees, id, dirty ? 2 : 1)) < 0)
        return err;
    return dirty;
}

/* ------------------------------------------------------------ 5. affected files */

static int vf_affected(vf_ctx *c, const cr_snapshot *s, const cr_id *id, char *path, size_t plen,
                       int depth)
{
    cr_tree *t = NULL;
    int err = 0;
    if (cr_idset_get(&c->trees, id) != 2)
        return 0;
    if (depth > CR_TREE_MAX_DEPTH || vf_load_tree(c, &t, id) < 0) {
        /* The whole folder is lost: name it (its contents cannot be listed). */
        return add_affected(c->r, s, plen ? path : "/");
    }
    for (size_t i = 0; i < t->count && err == 0; i++) {
        const cr_node *n = &t->nodes[i];
        size_t nl = strlen(n->name);
        if (plen + 1 + nl >= 8192)
            continue;
        path[plen] = '/';
        memcpy(path + plen + 1, n->name, nl + 1);
        if (n->type == CR_NODE_FILE) {
            for (size_t k = 0; k < n->ncontent; k++) {
                cr_blob_loc loc;
                if (cr_idset_get(&c->lost, &n->content[k].id) ||
                    (cr_index_lookup(c->pidx, &n->content[k].id, &loc) &&
                     extent_beyond(&n->content[k], &loc))) {
                    err = add_affected(c->r, s, path);
                    break;
                }
            }
        } else if (n->type == CR_NODE_DIR && n->has_subtree) {
            err = vf_affected(c, s, &n->subtree, path, plen + 1 + nl, depth + 1);
        }
        path[plen] = '\0';
    }
    cr_tree_free(t);
    return err;
}

/* ------------------------------------------------------------ chain of custody */

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cr_id));
}

/*
 * Each snapshot names the one before it of its source (`parent`): a name
 * that no file answers is a snapshot removed behind the vault's back, since
 * cleanroom itself deletes one only after a forget record names it (prune).
 * (The newest snapshot, removed with
 * everything that names it, cannot be seen from here: docs/security.md.)
 */
static int vf_chain(vf_ctx *c, cr_snapshot **snaps, size_t nsnaps, const cr_id *ids, size_t nids)
{
    char when[48], sid[CR_ID_HEX_LEN + 1];
    int err = 0;
    for (size_t i = 0; i < nsnaps && err == 0; i++) {
        const cr_snapshot *s = snaps[i];
        if (!s->has_parent || (nids && bsearch(&s->parent, ids, nids, sizeof(cr_id), id_cmp)) ||
            cr_forgotten_has(&c->gone, &s->parent))
            continue;
        if (cr_verify_has_problem(c->r, "snapshot", &s->parent))
            continue;
        cr_time_format(when, sizeof(when), s->time_ns);
        err = cr_verify_add_problem(
            c->r, "snapshot", &s->parent,
            "missing: snapshot %.8s of %s (%s) names it as the restore point before it, and its "
            "file is gone from snapshots/, though no forget record names it: it was removed "
            "outside of cleanroom",
            cr_id_to_hex(sid, &s->id), s->source ? s->source : "?", when);
    }
    return err;
}

typedef struct vf_named {
    cr_idset *named;
    int err;
} vf_named;

static int vf_named_cb(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    vf_named *x = payload;
    (void)e;
    (void)n;
    return (x->err = cr_idset_put(x->named, pack, 1)) < 0;
}

/* Packs that no index file names and no snapshot uses: said, not damage. */
static int vf_unreferenced(vf_ctx *c, cr_index *scratch)
{
    cr_idset named = {0};
    vf_named x = {&named, 0};
    char hex[CR_ID_HEX_LEN + 1], sz[32];
    int err = 0;
    cr_index_foreach_pack(scratch, vf_named_cb, &x);
    if ((err = x.err) < 0)
        goto done;
    for (size_t i = 0; i < c->npacks && err == 0; i++) {
        const vf_pack *p = &c->packs[i];
        if (!p->header_ok || cr_idset_get(&named, &p->id) || cr_idset_get(&c->usedpacks, &p->id))
            continue;
        snprintf(sz, sizeof(sz), "%llu bytes", (unsigned long long)p->size);
        err = add_notice(c->r, "pack", cr_id_to_hex(hex, &p->id),
                         "no index file and no snapshot refers to it (%s, %zu blobs): left by a "
                         "backup that was interrupted, or written by one running now; the next "
                         "backup reuses its blobs",
                         sz, p->nentries);
    }
done:
    cr_idset_free(&named);
    return err;
}

static int vf_temp_cb(const char *rel, const cr_store_info *st, void *payload)
{
    vf_ctx *c = payload;
    long long age = (long long)(time(NULL) - st->mtime_ns / 1000000000);
    if (c->err < 0)
        return -1;
    if (age < 0)
        age = 0;
    c->err = add_notice(c->r, "temp", rel,
                        "temporary file of a write that did not finish (%lld min old, %llu "
                        "bytes): left by a killed or crashed command unless one is running now; "
                        "the next backup removes it once it is an hour old",
                        age / 60, (unsigned long long)st->size);
    return c->err;
}

/* ------------------------------------------------------------ entry point */

int cr_verify(cr_verify_report *report, cr_repo *repo, const cr_verify_options *opts)
{
    cr_verify_options defaults = CR_VERIFY_OPTIONS_INIT;
    vf_ctx ctx, *c = &ctx;
    cr_lock *lock = NULL;
    cr_index *scratch = NULL;
    cr_id *ids = NULL, *snapids = NULL;
    size_t n = 0, nsnapids = 0;
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0;
    char *path = NULL;
    int err = 0;

    if (!report || !repo)
        return CR_EINPUT;
    memset(report, 0, sizeof(*report));
    if (!opts)
        opts = &defaults;
    if (opts->subset_m > 0 && (opts->subset_n < 1 || opts->subset_n > opts->subset_m)) {
        cr_error_set("read-data subset %u/%u: N must be between 1 and M", opts->subset_n,
                     opts->subset_m);
        return CR_EINPUT;
    }
    memset(c, 0, sizeof(*c));
    c->repo = repo;
    c->opts = opts;
    c->r = report;
    c->t0 = cr_time_mono();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);

    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0)
        goto done;
    if ((err = cr_blob_reader_new(&c->reader, repo, 8)) < 0)
        goto done;
    /* 1. small files. */
    if ((err = cr_index_new(&scratch)) < 0 || (err = cr_index_new(&c->pidx)) < 0 ||
        (err = check_small_files(c, "keys", "key", NULL, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "index", "index", scratch, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "snapshots", "snapshot", NULL, &snapids, &nsnapids)) < 0 ||
        (err = check_small_files(c, "hunt", "hunt", NULL, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "forget", "forget", NULL, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "journals", "journal head", NULL, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "runs", "job record", NULL, NULL, NULL)) < 0 ||
        (err = check_small_files(c, "runsum", "job records summary", NULL, NULL, NULL)) < 0 ||
        (err = cr_forgotten_load(&c->gone, repo)) < 0)
        goto done;
    if (c->gone.unreadable &&
        (err = cr_verify_add_problem(report, "forget", NULL,
                                     "%zu forget record(s) cannot be read: the snapshots they "
                                     "forgot show again in listings",
                                     c->gone.unreadable)) < 0)
        goto done;

    /* 2. packs. */
    if ((err = cr_repo_list(&ids, &n, repo, "data")) < 0)
        goto done;
    if (n && !(c->packs = cr_calloc(n, sizeof(vf_pack)))) {
        err = CR_ERROR;
        goto done;
    }
    c->npacks = n;
    report->packs = n;
    for (size_t i = 0; i < n; i++) {
        c->packs[i].id = ids[i];
        if (opts->subset_m > 0) {
            /* 32 bits of the (uniformly random) name: one byte would leave every
             * subset above 256 empty and skew the others when M does not divide 256. */
            const uint8_t *b = ids[i].b;
            uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
            c->packs[i].selected = v % opts->subset_m == opts->subset_n - 1;
        }
        else
            c->packs[i].selected = opts->read_data != 0;
        if ((err = cr_idset_put(&c->packset, &ids[i], 1)) < 0)
            goto done;
    }
    if ((err = vf_check_packs(c)) < 0)
        goto done;

    /* 3. merge. */
    if ((err = vf_merge(c, scratch)) < 0)
        goto done;
    {
        vf_gather g = {c, 0};
        cr_index_foreach_pack(scratch, vf_gather_cb, &g);
        if ((err = g.err) < 0)
            goto done;
    }
    report->blobs = cr_index_blob_count(c->pidx);
    vf_progress(c);

    /* 4. snapshots and trees: those listed in 1., before the packs were. A
     * backup writes its packs before its snapshot, so every pack of these
     * was listed in 2.; a snapshot saved since (a backup that ran meanwhile)
     * is for the next verify, not damage. */
    n = nsnapids;
    if (n && !(snaps = cr_calloc(n, sizeof(*snaps)))) {
        err = CR_ERROR;
        goto done;
    }
    report->snapshots = n;
    for (size_t i = 0; i < n; i++) {
        int r = cr_snapshot_load(&snaps[nsnaps], repo, &snapids[i]);
        if (r < 0) {
            if (fatal(r)) {
                err = r;
                goto done;
            }
            if ((err = cr_verify_add_problem(report, "snapshot", &snapids[i],
                                             "cannot be loaded: %s", cr_error_last())) < 0)
                goto done;
            continue;
        }
        nsnaps++;
    }
    if ((err = vf_chain(c, snaps, nsnaps, snapids, nsnapids)) < 0)
        goto done;
    int any_dirty = 0;
    for (size_t i = 0; i < nsnaps; i++) {
        int r = vf_visit(c, &snaps[i]->tree, 0);
        if (r < 0) {
            err = r;
            goto done;
        }
        any_dirty |= r;
    }

    /* 5. affected files. */
    if (any_dirty) {
        if (!(path = cr_malloc(8192))) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < nsnaps; i++) {
            path[0] = '\0';
            if ((err = vf_affected(c, snaps[i], &snaps[i]->tree, path, 0, 0)) < 0)
                goto done;
        }
    }
    if ((err = vf_unreferenced(c, scratch)) < 0)
        goto done;
    cr_repo_temp_files(repo, 0, vf_temp_cb, c);
    if (c->err < 0) {
        err = c->err;
        goto done;
    }
    vf_progress(c);
    if (report->nproblems > 0) {
        cr_error_set("verify found %zu problem(s) in the vault", report->nproblems);
        err = CR_ECORRUPT;
    }
done:
    for (size_t i = 0; i < c->npacks; i++) {
        free(c->packs[i].entries);
        free(c->packs[i].message);
        free(c->packs[i].lost);
    }
    free(c->packs);
    free(ids);
    free(snapids);
    free(path);
    cr_snapshot_list_free(snaps, nsnaps);
    cr_index_free(scratch);
    cr_index_free(c->pidx);
    cr_idset_free(&c->packset);
    cr_idset_free(&c->lost);
    cr_idset_free(&c->trees);
    cr_idset_free(&c->reported);
    cr_idset_free(&c->usedpacks);
    cr_forgotten_clear(&c->gone);
    cr_blob_reader_free(c->reader);
    cr_buf_free(&c->blob);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    cr_lock_release(lock);
    return err;
}
