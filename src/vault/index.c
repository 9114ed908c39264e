/*
 * The in-memory index: blob id -> (pack, entry), plus the table of packs.
 *
 * Blob ids are HMAC outputs, so their first 8 bytes are uniformly random and
 * serve directly as the hash. Both hash tables use open addressing with linear
 * probing over a power-of-two array, grown at 5/8 load:
 *   - blobs: slots {key8, pack + 1, entry}; insert only (packs are never
 *     forgotten while the index lives), a full-id compare on key8 match.
 *   - packs: slots {key8, pack + 1}; to find whether a pack is already known.
 *   - claims: full ids of blobs some thread is storing right now; deletions use
 *     backward-shift deletion, so there are no tombstones to clean up.
 * Each pack keeps its own entry array (allocated once, never modified), which
 * cr_index_foreach_pack and verify need and which the blob slots point into.
 *
 * One mutex protects everything. Backup workers take it once per chunk
 * (~1 MiB of data), so contention is negligible next to hashing and zstd.
 *
 * Index file plaintext (format version 1), produced by cr_index_encode:
 *   "CRIX" u8 version=1  varint npacks
 *   per pack:  id[32] varint nentries
 *   per entry: u8 type, u8 flags, u32 offset, u32 stored_len, u32 raw_len, id[32]
 * (u32 little endian; entries of a pack tile it from offset 0, in order.)
 * The file is sealed and stored by cr_repo_save_file under index/.
 */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

#define IDX_MAGIC "CRIX"
#define IDX_VERSION 1
#define IDX_ENTRY_BYTES (1 + 1 + 4 + 4 + 4 + CR_ID_LEN)
#define IDX_PACK_MIN_BYTES (CR_ID_LEN + 1)

typedef struct ipack {
    cr_id id;
    cr_pack_entry *e;
    uint32_t n;
    uint8_t is_new;
    uint8_t dead; /* a running prune will delete it: not used, not written to index files */
} ipack;

typedef struct bslot {
    uint64_t key;
    uint32_t pack; /* pack index + 1; 0 = empty slot */
    uint32_t entry;
} bslot;

typedef struct cslot {
    cr_id id;
    uint8_t used;
} cslot;

struct cr_index {
    pthread_mutex_t mu;
    ipack *packs;
    size_t npacks, cap_packs;
    bslot *blobs; /* blob id -> pack/entry */
    size_t blob_cap, nblobs;
    bslot *ptab; /* pack id -> pack (entry unused) */
    size_t ptab_cap;
    cslot *claims;
    size_t claim_cap, nclaims;
};

static inline uint64_t key8(const cr_id *id)
{
    uint64_t k;
    memcpy(&k, id->b, 8);
    return k;
}

int cr_index_new(cr_index **out)
{
    cr_index *idx = cr_calloc(1, sizeof(*idx));
    *out = NULL;
    if (!idx)
        return CR_ERROR;
    if (pthread_mutex_init(&idx->mu, NULL) != 0) {
        free(idx);
        cr_error_set("cannot create a mutex");
        return CR_ERROR;
    }
    *out = idx;
    return 0;
}

void cr_index_free(cr_index *idx)
{
    if (!idx)
        return;
    for (size_t i = 0; i < idx->npacks; i++)
        free(idx->packs[i].e);
    free(idx->packs);
    free(idx->blobs);
    free(idx->ptab);
    free(idx->claims);
    pthread_mutex_destroy(&idx->mu);
    free(idx);
}

/* ------------------------------------------------------------ blob table */

static bslot *blob_find(cr_index *idx, const cr_id *id)
{
    if (!idx->blob_cap)
        return NULL;
    size_t mask = idx->blob_cap - 1;
    uint64_t k = key8(id);
    for (size_t i = (size_t)k & mask;; i = (i + 1) & mask) {
        bslot *s = &idx->blobs[i];
        if (!s->pack)
            return NULL;
        if (s->key == k && !idx->packs[s->pack - 1].dead &&
            !memcmp(idx->packs[s->pack - 1].e[s->entry].id.b, id->b, CR_ID_LEN))
            return s;
    }
}

static void blob_put_raw(bslot *tab, size_t cap, const bslot *v)
{
    size_t mask = cap - 1;
    size_t i = (size_t)v->key & mask;
    while (tab[i].pack)
        i = (i + 1) & mask;
    tab[i] = *v;
}

/* Make room for `more` blobs; keeps the load at most 5/8. */
static int blob_reserve(cr_index *idx, size_t more)
{
    size_t need = idx->nblobs + more;
    if (need <= idx->blob_cap / 8 * 5 && idx->blob_cap)
        return 0;
    size_t cap = idx->blob_cap ? idx->blob_cap : 1024;
    while (need > cap / 8 * 5)
        cap *= 2;
    bslot *tab = cr_calloc(cap, sizeof(*tab));
    if (!tab)
        return CR_ERROR;
    for (size_t i = 0; i < idx->blob_cap; i++)
        if (idx->blobs[i].pack)
            blob_put_raw(tab, cap, &idx->blobs[i]);
    free(idx->blobs);
    idx->blobs = tab;
    idx->blob_cap = cap;
    return 0;
}

/* ------------------------------------------------------------ pack table */

static ipack *pack_find(cr_index *idx, const cr_id *id)
{
    if (!idx->ptab_cap)
        return NULL;
    size_t mask = idx->ptab_cap - 1;
    uint64_t k = key8(id);
    for (size_t i = (size_t)k & mask;; i = (i + 1) & mask) {
        bslot *s = &idx->ptab[i];
        if (!s->pack)
            return NULL;
        if (s->key == k && !memcmp(idx->packs[s->pack - 1].id.b, id->b, CR_ID_LEN))
            return &idx->packs[s->pack - 1];
    }
}

/* Room for one more pack in the pack array and the pack table. */
static int pack_reserve(cr_index *idx)
{
    if (idx->npacks == idx->cap_packs) {
        size_t cap = idx->cap_packs ? idx->cap_packs * 2 : 64;
        ipack *p = cr_realloc(idx->packs, cap * sizeof(*p));
        if (!p)
            return CR_ERROR;
        idx->packs = p;
        idx->cap_packs = cap;
    }
    size_t need = idx->npacks + 1;
    if (idx->ptab_cap && need <= idx->ptab_cap / 8 * 5)
        return 0;
    size_t cap = idx->ptab_cap ? idx->ptab_cap * 2 : 128;
    bslot *tab = cr_calloc(cap, sizeof(*tab));
    if (!tab)
        return CR_ERROR;
    for (size_t i = 0; i < idx->ptab_cap; i++)
        if (idx->ptab[i].pack)
            blob_put_raw(tab, cap, &idx->ptab[i]);
    free(idx->ptab);
    idx->ptab = tab;
    idx->ptab_cap = cap;
    return 0;
}

/* ------------------------------------------------------------ claims */

static cslot *claim_find(cr_index *idx, const cr_id *id)
{
    if (!idx->claim_cap)
        return NULL;
    size_t mask = idx->claim_cap - 1;
    for (size_t i = (size_t)key8(id) & mask;; i = (i + 1) & mask) {
        cslot *s = &idx->claims[i];
        if (!s->used)
            return NULL;
        if (!memcmp(s->id.b, id->b, CR_ID_LEN))
            return s;
    }
}

static void claim_put_raw(cslot *tab, size_t cap, const cr_id *id)
{
    size_t mask = cap - 1;
    size_t i = (size_t)key8(id) & mask;
    while (tab[i].used)
        i = (i + 1) & mask;
    tab[i].id = *id;
    tab[i].used = 1;
}

static int claim_add(cr_index *idx, const cr_id *id)
{
    if (!idx->claim_cap || idx->nclaims + 1 > idx->claim_cap / 8 * 5) {
        size_t cap = idx->claim_cap ? idx->claim_cap * 2 : 256;
        cslot *tab = cr_calloc(cap, sizeof(*tab));
        if (!tab)
            return CR_ERROR;
        for (size_t i = 0; i < idx->claim_cap; i++)
            if (idx->claims[i].used)
                claim_put_raw(tab, cap, &idx->claims[i].id);
        free(idx->claims);
        idx->claims = tab;
        idx->claim_cap = cap;
    }
    claim_put_raw(idx->claims, idx->claim_cap, id);
    idx->nclaims++;
    return 0;
}

/* Backward-shift deletion (Knuth 6.4 algorithm R): keeps probe chains intact. */
static void claim_del(cr_index *idx, cslot *s)
{
    size_t mask = idx->claim_cap - 1;
    size_t i = (size_t)(s - idx->claims);
    idx->claims[i].used = 0;
    idx->nclaims--;
    for (size_t j = (i + 1) & mask; idx->claims[j].used; j = (j + 1) & mask) {
        size_t home = (size_t)key8(&idx->claims[j].id) & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        idx->claims[i] = idx->claims[j];
        idx->claims[j].used = 0;
        i = j;
    }
}

/* ------------------------------------------------------------ public */

int cr_index_lookup(cr_index *idx, const cr_id *id, cr_blob_loc *out)
{
    pthread_mutex_lock(&idx->mu);
    bslot *s = blob_find(idx, id);
    if (s && out) {
        const ipack *p = &idx->packs[s->pack - 1];
        out->pack = p->id;
        out->entry = p->e[s->entry];
    }
    pthread_mutex_unlock(&idx->mu);
    return s ? 1 : 0;
}

int cr_index_claim(cr_index *idx, const cr_id *id)
{
    int rc = 0;
    pthread_mutex_lock(&idx->mu);
    if (!blob_find(idx, id) && !claim_find(idx, id)) {
        /* Out of memory while recording the claim: still let the caller store
         * the blob. At worst it is stored twice, which costs space, never data. */
        (void)claim_add(idx, id);
        rc = 1;
    }
    pthread_mutex_unlock(&idx->mu);
    return rc;
}

void cr_index_unclaim(cr_index *idx, const cr_id *id)
{
    pthread_mutex_lock(&idx->mu);
    cslot *s = claim_find(idx, id);
    if (s)
        claim_del(idx, s);
    pthread_mutex_unlock(&idx->mu);
}

/* Takes ownership of `e` (n entries) on success. Called with the mutex held. */
static int add_pack_locked(cr_index *idx, const cr_id *pack, cr_pack_entry *e, size_t n, int is_new)
{
    int err;
    ipack *known = pack_find(idx, pack);
    if (known) {
        /* Named by an index file after all: nothing to write for it. */
        if (!is_new)
            known->is_new = 0;
        free(e);
        return 0;
    }
    if (n > UINT32_MAX) {
        cr_error_set("pack has too many blobs");
        return CR_ECORRUPT;
    }
    if ((err = pack_reserve(idx)) < 0 || (err = blob_reserve(idx, n)) < 0)
        return err;

    uint32_t pi = (uint32_t)idx->npacks;
    ipack *p = &idx->packs[idx->npacks++];
    p->id = *pack;
    p->e = e;
    p->n = (uint32_t)n;
    p->is_new = is_new ? 1 : 0;
    p->dead = 0;
    bslot ps = {key8(pack), pi + 1, 0};
    blob_put_raw(idx->ptab, idx->ptab_cap, &ps);

    for (size_t i = 0; i < n; i++) {
        cslot *c = claim_find(idx, &e[i].id);
        if (c)
            claim_del(idx, c);
        /* A blob stored twice (e.g. by an interrupted backup and its rerun):
         * the first location wins, both are valid. */
        if (blob_find(idx, &e[i].id))
            continue;
        bslot bs = {key8(&e[i].id), pi + 1, (uint32_t)i};
        blob_put_raw(idx->blobs, idx->blob_cap, &bs);
        idx->nblobs++;
    }
    return 0;
}

int cr_index_add_pack(cr_index *idx, const cr_id *pack, const cr_pack_entry *e, size_t n,
                      int is_new)
{
    int err;
    cr_pack_entry *copy = cr_malloc(n * sizeof(*copy));
    if (!copy)
        return CR_ERROR;
    if (n)
        memcpy(copy, e, n * sizeof(*copy));
    pthread_mutex_lock(&idx->mu);
    err = add_pack_locked(idx, pack, copy, n, is_new);
    pthread_mutex_unlock(&idx->mu);
    if (err < 0)
        free(copy);
    return err;
}

void cr_index_mark_dead(cr_index *idx, const cr_id *pack)
{
    pthread_mutex_lock(&idx->mu);
    ipack *p = pack_find(idx, pack);
    if (p)
        p->dead = 1;
    pthread_mutex_unlock(&idx->mu);
}

size_t cr_index_pack_count(cr_index *idx)
{
    pthread_mutex_lock(&idx->mu);
    size_t n = idx->npacks;
    pthread_mutex_unlock(&idx->mu);
    return n;
}

size_t cr_index_blob_count(cr_index *idx)
{
    pthread_mutex_lock(&idx->mu);
    size_t n = idx->nblobs;
    pthread_mutex_unlock(&idx->mu);
    return n;
}

int cr_index_foreach_pack(cr_index *idx,
                          int (*cb)(const cr_id *pack, const cr_pack_entry *e, size_t n,
                                    void *payload),
                          void *payload)
{
    /* The callback runs without the mutex, so that it may use the index (verify
     * loads blobs). Entry arrays are immutable once added; the pack array may
     * move when it grows, so copy what we need under the lock. */
    for (size_t i = 0;; i++) {
        pthread_mutex_lock(&idx->mu);
        if (i >= idx->npacks) {
            pthread_mutex_unlock(&idx->mu);
            return 0;
        }
        cr_id id = idx->packs[i].id;
        const cr_pack_entry *e = idx->packs[i].e;
        size_t n = idx->packs[i].n;
        pthread_mutex_unlock(&idx->mu);
        int rc = cb(&id, e, n, payload);
        if (rc)
            return rc;
    }
}

/* ------------------------------------------------------------ encoding */

static int put_entry(cr_buf *out, const cr_pack_entry *e)
{
    int err;
    if ((err = cr_buf_put_u8(out, e->type)) < 0 || (err = cr_buf_put_u8(out, e->flags)) < 0 ||
        (err = cr_buf_put_u32(out, e->offset)) < 0 ||
        (err = cr_buf_put_u32(out, e->stored_len)) < 0 ||
        (err = cr_buf_put_u32(out, e->raw_len)) < 0 ||
        (err = cr_buf_put(out, e->id.b, CR_ID_LEN)) < 0)
        return err;
    return 0;
}

/* Encode; with only_new, also report which packs were written (for save). */
static int encode_locked(cr_buf *out, cr_index *idx, int only_new, size_t **which, size_t *nwhich)
{
    int err;
    size_t n = 0;
    for (size_t i = 0; i < idx->npacks; i++)
        if ((!only_new || idx->packs[i].is_new) && !idx->packs[i].dead)
            n++;
    if (which) {
        *which = NULL;
        *nwhich = 0;
        if (n && !(*which = cr_malloc(n * sizeof(size_t))))
            return CR_ERROR;
    }
    if ((err = cr_buf_put(out, IDX_MAGIC, 4)) < 0 || (err = cr_buf_put_u8(out, IDX_VERSION)) < 0 ||
        (err = cr_buf_put_varint(out, n)) < 0)
        return err;
    for (size_t i = 0; i < idx->npacks; i++) {
        const ipack *p = &idx->packs[i];
        if ((only_new && !p->is_new) || p->dead)
            continue;
        if (which)
            (*which)[(*nwhich)++] = i;
        if ((err = cr_buf_grow(out, CR_ID_LEN + 10 + (size_t)p->n * IDX_ENTRY_BYTES)) < 0 ||
            (err = cr_buf_put(out, p->id.b, CR_ID_LEN)) < 0 ||
            (err = cr_buf_put_varint(out, p->n)) < 0)
            return err;
        for (uint32_t k = 0; k < p->n; k++)
            if ((err = put_entry(out, &p->e[k])) < 0)
                return err;
    }
    return 0;
}

int cr_index_encode(cr_buf *out, cr_index *idx, int only_new)
{
    pthread_mutex_lock(&idx->mu);
    int err = encode_locked(out, idx, only_new, NULL, NULL);
    pthread_mutex_unlock(&idx->mu);
    return err;
}

/*
 * Parse one entry and check it against what a pack can hold. `expect_off` is
 * where the entry must start: entries tile their pack from offset 0.
 */
static int read_entry(cr_rd *r, cr_pack_entry *e, uint64_t *expect_off)
{
    const uint8_t *id;
    cr_rd_u8(r, &e->type);
    cr_rd_u8(r, &e->flags);
    cr_rd_u32(r, &e->offset);
    cr_rd_u32(r, &e->stored_len);
    cr_rd_u32(r, &e->raw_len);
    if (cr_rd_raw(r, &id, CR_ID_LEN) < 0)
        return r->err;
    memcpy(e->id.b, id, CR_ID_LEN);
    const char *why = NULL;
    if (e->type != CR_BLOB_DATA && e->type != CR_BLOB_TREE)
        why = "unknown blob type";
    else if (e->flags & ~CR_BLOB_FLAG_ZSTD)
        why = "unknown blob flags";
    else if (e->stored_len < CR_SEAL_OVERHEAD)
        why = "blob shorter than its seal";
    else if (e->raw_len > CR_MAX_BLOB)
        why = "blob larger than allowed";
    else if (!(e->flags & CR_BLOB_FLAG_ZSTD) &&
             (uint64_t)e->raw_len + CR_SEAL_OVERHEAD != e->stored_len)
        why = "stored length of an uncompressed blob does not match its size";
    else if (e->offset != *expect_off)
        why = "blob offset does not follow the previous blob";
    else if ((uint64_t)e->offset + e->stored_len > CR_MAX_PACK)
        why = "blob lies beyond the largest pack size";
    if (why) {
        cr_error_set("damaged index: %s", why);
        return CR_ECORRUPT;
    }
    *expect_off = (uint64_t)e->offset + e->stored_len;
    return 0;
}

/* Parse the pack list; with idx == NULL only validate, else add every pack. */
static int decode_pass(cr_index *idx, const void *data, size_t len, int is_new)
{
    cr_rd r;
    const uint8_t *p;
    uint8_t ver;
    uint64_t npacks;
    int err;

    cr_rd_init(&r, data, len);
    cr_rd_raw(&r, &p, 4);
    if (r.err || memcmp(p, IDX_MAGIC, 4) != 0) {
        cr_error_set("damaged index: not an index (bad magic)");
        return CR_ECORRUPT;
    }
    cr_rd_u8(&r, &ver);
    if (r.err)
        return r.err;
    if (ver != IDX_VERSION) {
        cr_error_set("index format version %u is not supported by this program", ver);
        return CR_EVERSION;
    }
    if (cr_rd_varint(&r, &npacks) < 0)
        return r.err;
    if (npacks > cr_rd_left(&r) / IDX_PACK_MIN_BYTES) {
        cr_error_set("damaged index: pack count %llu exceeds its size", (unsigned long long)npacks);
        return CR_ECORRUPT;
    }
    for (uint64_t i = 0; i < npacks; i++) {
        cr_id pid;
        uint64_t n, off = 0;
        if (cr_rd_raw(&r, &p, CR_ID_LEN) < 0 || cr_rd_varint(&r, &n) < 0)
            return r.err;
        memcpy(pid.b, p, CR_ID_LEN);
        if (n > cr_rd_left(&r) / IDX_ENTRY_BYTES) {
            cr_error_set("damaged index: entry count %llu exceeds its size", (unsigned long long)n);
            return CR_ECORRUPT;
        }
        if (!idx) {
            cr_pack_entry e;
            for (uint64_t k = 0; k < n; k++)
                if ((err = read_entry(&r, &e, &off)) < 0)
                    return err;
            continue;
        }
        cr_pack_entry *e = cr_malloc((size_t)n * sizeof(*e));
        if (!e)
            return CR_ERROR;
        for (uint64_t k = 0; k < n; k++) {
            if ((err = read_entry(&r, &e[k], &off)) < 0) {
                free(e);
                return err;
            }
        }
        pthread_mutex_lock(&idx->mu);
        err = add_pack_locked(idx, &pid, e, (size_t)n, is_new);
        pthread_mutex_unlock(&idx->mu);
        if (err < 0) {
            free(e);
            return err;
        }
    }
    if (cr_rd_left(&r) != 0) {
        cr_error_set("damaged index: %zu unexpected bytes at the end", cr_rd_left(&r));
        return CR_ECORRUPT;
    }
    return 0;
}

int cr_index_decode(cr_index *idx, const void *data, size_t len, int is_new)
{
    /* Validate everything first so that a damaged file adds nothing. */
    int err = decode_pass(NULL, data, len, is_new);
    if (err < 0)
        return err;
    return decode_pass(idx, data, len, is_new);
}

int cr_index_save(cr_index *idx, cr_repo *repo)
{
    cr_buf buf = CR_BUF_INIT;
    size_t *which = NULL, nwhich = 0;
    cr_id fid;
    int err;

    pthread_mutex_lock(&idx->mu);
    err = encode_locked(&buf, idx, 1, &which, &nwhich);
    pthread_mutex_unlock(&idx->mu);
    if (err < 0 || nwhich == 0)
        goto done;
    if ((err = cr_repo_save_file(&fid, repo, "index", buf.ptr, buf.len)) < 0)
        goto done;
    /* Only the packs that went into this file: others may have been added
     * meanwhile by running workers and still need a later save. */
    pthread_mutex_lock(&idx->mu);
    for (size_t i = 0; i < nwhich; i++)
        idx->packs[which[i]].is_new = 0;
    pthread_mutex_unlock(&idx->mu);
done:
    free(which);
    cr_buf_free(&buf);
    return err;
}

int cr_index_load(cr_index **out, cr_repo *repo)
{
    cr_index *idx = NULL;
    cr_id *files = NULL, *packs = NULL;
    size_t nfiles = 0, npacks = 0;
    cr_buf buf = CR_BUF_INIT;
    int err;

    *out = NULL;
    if ((err = cr_index_new(&idx)) < 0 || (err = cr_repo_list(&files, &nfiles, repo, "index")) < 0)
        goto done;
    for (size_t i = 0; i < nfiles; i++) {
        /* Index files are a cache: a damaged one is skipped, and the packs it
         * named are then indexed from their own headers below. */
        if (cr_repo_load_file(&buf, repo, "index", &files[i]) < 0)
            continue;
        (void)cr_index_decode(idx, buf.ptr, buf.len, 0);
    }
    cr_buf_free(&buf);

    if ((err = cr_repo_list(&packs, &npacks, repo, "data")) < 0)
        goto done;
    for (size_t i = 0; i < npacks; i++) {
        cr_pack_entry *e = NULL;
        size_t n = 0;
        pthread_mutex_lock(&idx->mu);
        int known = pack_find(idx, &packs[i]) != NULL;
        pthread_mutex_unlock(&idx->mu);
        if (known)
            continue;
        /* A pack without index file (interrupted backup): recover it, so that
         * its blobs are reused. Unreadable headers are left to verify. */
        if (cr_pack_read_header(&e, &n, repo, &packs[i], NULL) < 0)
            continue;
        err = cr_index_add_pack(idx, &packs[i], e, n, 1);
        free(e);
        if (err < 0)
            goto done;
    }
    cr_error_clear();
    *out = idx;
    idx = NULL;
done:
    cr_buf_free(&buf);
    free(files);
    free(packs);
    cr_index_free(idx);
    return err;
}
