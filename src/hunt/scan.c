/*
 * Reading the unique contents of a hunt from the vault, in parallel, and
 * learning their facts: entropy and magic of the head, MD5 / SHA-1 / SHA-256
 * of the whole content, YARA matches.
 *
 * Content ids. A content is named by SHA-256 over "cleanroom-content-1", the
 * size (u64 LE) and every extent (offset u64 LE, length u32 LE, blob id).
 * Chunking is deterministic within a vault, so two files with the same bytes
 * have the same id, and computing it reads nothing. A content with an extent
 * that is a part of its blob (blob_off not 0: a file inside a disk image) is
 * named over "cleanroom-content-2" with the blob offset (u32 LE) after every
 * blob id, so the ids of all other contents stay what they were.
 *
 * hn_scan is the hot path of a hunt. Jobs are ordered before work starts:
 * contents of SC_BIG_JOB bytes or more first, largest first (so that the last
 * big file does not run alone on one core at the end), then the small ones in
 * the order of their first blob in the packs (pack, offset), so that reading
 * them walks each pack forward and the page cache's read-ahead works. Workers
 * (opts->threads, cr_run_workers) take the next batch of jobs through an
 * atomic index: a batch is one job, or the run of small jobs whose first
 * extent is in the same blob (up to SC_BATCH of them).
 *
 * Files inside a disk image are parts of the disk's 4 MiB chunks: thousands
 * of small files may share one blob. An extent that is only a part of its blob
 * is copied out of the whole decoded blob, which each worker keeps in a small
 * cache (SC_BLOB_CACHE blobs, least recently used replaced); with the jobs in
 * blob order and handed out in batches of one blob, each chunk is decoded
 * about once per hunt instead of once per file in it.
 *
 * One pass per content computes everything asked: the extents are read in
 * order, each blob with one pread of exactly its sealed range in a pack kept
 * open in a small per-worker descriptor cache, and opened the way
 * cr_blob_decode does (authenticated, decompressed, checked against its id)
 * but with the worker's zstd context and buffers, straight to where its bytes
 * are needed: no allocation and no copy per blob. The bytes, holes included
 * as zeros, go to the head histogram, the magic and the hash contexts as they
 * come. For YARA, a content of at most max_scan_bytes is scanned as one
 * buffer: a content made of one extent without holes (most files) is scanned
 * where it was decoded; the extents of others are decoded at their offsets in
 * a per-worker buffer, holes zeroed. A larger content (or one whose buffer
 * cannot be allocated) is scanned one stored extent at a time, holes skipped,
 * and marked partial. Each chunk is given to libyara as a memory block at its
 * real offset in the file with the real file size, so "filesize", "$a at 0"
 * and "uint16(0)" keep their meaning, but a pattern that straddles two chunks
 * is NOT seen, and a rule's string counts are per chunk.
 *
 * Each worker owns its YR_SCANNER (fast mode, per-content timeout), zstd
 * context, digest contexts and buffers, reused from job to job; the assembled
 * buffer is released when it is much larger than the next content, so memory
 * stays bounded by about max_scan_bytes + three blobs per worker, plus the
 * blob cache when files point into shared blobs.
 *
 * Failures are per content: a blob that is missing or fails authentication,
 * an extent list that does not hold together, a YARA timeout or error gives
 * job->error and one warning (path + message); what was learnt before the
 * failure is kept only when it is complete (a YARA timeout still yields the
 * hashes), and a content whose YARA scan failed is not marked HN_HAVE_YARA, so
 * the next hunt tries again. Only running out of memory stops the whole scan.
 * Warnings are serialised (the caller's callback need not be thread-safe);
 * progress is reported from the calling thread about four times a second.
 *
 * libyara may report CALLBACK_MSG_TOO_MANY_MATCHES for a string with more
 * than a million hits in a content; the scan goes on with that string's
 * matches capped (as the yara command does), and the verdict is kept.
 */
#include <ctype.h>
#include "hunt/hunt.h"
#include "util/sandbox.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SC_DEFAULT_MAX_SCAN (256ull * 1024 * 1024)
#define SC_DEFAULT_TIMEOUT 60
/* How every scanner scans, in-process or sandboxed. */
#define SC_SCAN_FLAGS (SCAN_FLAGS_FAST_MODE | SCAN_FLAGS_NO_TRYCATCH | SCAN_FLAGS_REPORT_RULES_MATCHING)
#define SC_MAX_THREADS 64
#define SC_FD_CACHE 8
/* Contents at least this large are handed out first, largest first. */
#define SC_BIG_JOB (4ull * 1024 * 1024)
/* An assembled buffer larger than this is released before a content that
 * needs less than half of it. */
#define SC_KEEP_WHOLE (64ull * 1024 * 1024)
#define SC_CONTENT_TAG "cleanroom-content-1"
#define SC_CONTENT_TAG_OFF "cleanroom-content-2"
#define SC_ZERO_LEN 65536
/* Decoded shared blobs kept per worker (4 MiB each for disk chunks); 0 keeps
 * none (every part decodes its blob: only for measuring). */
#ifndef SC_BLOB_CACHE
#define SC_BLOB_CACHE 4
#endif
/* Largest run of jobs of the same first blob handed to one worker at once. */
#define SC_BATCH 256
/* Sandboxed scans of small whole contents go to the child together, in one
 * request of up to SC_DEFER_FILES contents or SC_DEFER_BYTES of data: one
 * round trip per file cost more than the scan of a small file. */
#define SC_DEFER_MAX (1024u * 1024)
#define SC_DEFER_FILES 256
#define SC_DEFER_BYTES (1024u * 1024)
/*
 * The bytes of a request travel through a region of shared memory the parent
 * writes and the child maps read-only (cr_sbx_shm): room for a batch and the
 * largest content scanned whole (max_scan), taken page by page as written.
 * A region that held more than SC_SHM_KEEP is dropped with its child once
 * answered, so that a huge file's pages are not kept for the rest of the hunt.
 */
#define SC_SHM_KEEP (32u * 1024 * 1024)

static const uint8_t sc_zeros[SC_ZERO_LEN];

/* ------------------------------------------------------------ facts */

void hn_facts_clear(hn_facts *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nyara; i++)
        free(f->yara[i]);
    free(f->yara);
    memset(f, 0, sizeof(*f));
}

int hn_facts_copy(hn_facts *out, const hn_facts *src)
{
    *out = *src;
    out->yara = NULL;
    out->nyara = 0;
    if (src->nyara == 0)
        return 0;
    if (!(out->yara = cr_calloc(src->nyara, sizeof(char *))))
        goto fail;
    for (size_t i = 0; i < src->nyara; i++) {
        if (!(out->yara[i] = cr_strdup(src->yara[i] ? src->yara[i] : "")))
            goto fail;
        out->nyara = i + 1;
    }
    return 0;
fail:
    hn_facts_clear(out);
    return CR_ERROR;
}

/* ------------------------------------------------------------ content id */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void hn_content_id(cr_id *out, const cr_node *file)
{
    crypto_hash_sha256_state st;
    uint8_t b[8 + 4 + CR_ID_LEN + 4];
    int with_off = 0;

    for (size_t i = 0; i < file->ncontent; i++)
        if (file->content[i].blob_off)
            with_off = 1;
    const char *tag = with_off ? SC_CONTENT_TAG_OFF : SC_CONTENT_TAG;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, strlen(tag));
    put_u64(b, file->size);
    crypto_hash_sha256_update(&st, b, 8);
    for (size_t i = 0; i < file->ncontent; i++) {
        const cr_extent *e = &file->content[i];
        put_u64(b, e->offset);
        put_u32(b + 8, e->len);
        memcpy(b + 12, e->id.b, CR_ID_LEN);
        put_u32(b + 12 + CR_ID_LEN, e->blob_off);
        crypto_hash_sha256_update(&st, b, with_off ? sizeof(b) : sizeof(b) - 4);
    }
    crypto_hash_sha256_final(&st, out->b);
}

void hn_facts_key(cr_id *out, const hn_ruleset *rs, const char *relpath, const cr_node *file)
{
    crypto_hash_sha256_state st;
    uint8_t b[8];
    hn_content_id(out, file);
    if (!rs || !rs->yara_externals || !relpath)
        return;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"cleanroom-facts-key-1", 21);
    crypto_hash_sha256_update(&st, out->b, CR_ID_LEN);
    put_u64(b, file->uid);
    crypto_hash_sha256_update(&st, b, 8);
    crypto_hash_sha256_update(&st, (const uint8_t *)relpath, strlen(relpath) + 1);
    crypto_hash_sha256_final(&st, out->b);
}

/* ------------------------------------------------------------ helpers */

/* Trees are untrusted: extents ascending, not overlapping, within the size. */
static const char *check_extents(const cr_node *n)
{
    uint64_t end = 0;
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *x = &n->content[i];
        if (x->len == 0 || x->len > CR_MAX_BLOB || x->blob_off > CR_MAX_BLOB - x->len)
            return "an extent has an impossible length or blob offset (damaged tree)";
        if (x->offset < end)
            return "the extents overlap or are out of order (damaged tree)";
        if (x->offset > n->size || x->len > n->size - x->offset)
            return "an extent lies beyond the end of the file (damaged tree)";
        end = x->offset + x->len;
    }
    return NULL;
}

int hn_read_node(cr_buf *out, cr_repo *repo, const cr_node *file, size_t max)
{
    cr_buf blob = CR_BUF_INIT;
    const char *bad;
    int err;

    cr_buf_reset(out);
    if (file->type != CR_NODE_FILE) {
        cr_error_set("not a regular file: it has no content to read");
        return CR_EINPUT;
    }
    if (file->size > max || file->size >= SIZE_MAX) {
        cr_error_set("file too large to examine: %llu bytes, at most %zu are read",
                     (unsigned long long)file->size, max);
        return CR_EINPUT;
    }
    if ((bad = check_extents(file))) {
        cr_error_set("%s", bad);
        return CR_ECORRUPT;
    }
    size_t size = (size_t)file->size;
    /* One byte more, so that text parsers may rely on a NUL after the data. */
    if ((err = cr_buf_grow(out, size + 1)) < 0)
        return err;
    memset(out->ptr, 0, size + 1);
    for (size_t i = 0; i < file->ncontent; i++) {
        const cr_extent *x = &file->content[i];
        if ((err = cr_repo_load_blob(&blob, repo, &x->id, CR_BLOB_DATA)) < 0)
            goto done;
        /* The extent is [blob_off, blob_off + len) of the blob (all of it in file backups). */
        if ((uint64_t)x->blob_off + x->len > blob.len) {
            cr_error_set("a blob of the file is shorter than its extent says (damaged)");
            err = CR_ECORRUPT;
            goto done;
        }
        memcpy(out->ptr + x->offset, blob.ptr + x->blob_off, x->len);
    }
    out->len = size;
    err = 0;
done:
    if (err < 0)
        cr_buf_reset(out);
    cr_buf_free(&blob);
    return err;
}

/* ------------------------------------------------------------ the scan */

typedef struct sc_ctx sc_ctx;

/* A decoded blob kept for the extents that are parts of it. */
typedef struct sc_cached {
    cr_id id;
    cr_buf data;
    uint64_t used; /* 0: empty */
} sc_cached;

typedef struct sc_worker {
    sc_ctx *c;
    YR_SCANNER *scanner;
    cr_blob_reader *reader;            /* packs kept open: SC_FD_CACHE */
    EVP_MD_CTX *md[3];                 /* MD5, SHA-1, SHA-256 */
    cr_buf blob, whole;                /* decoded blob; assembled content */
    uint64_t clock;
    sc_cached blobs[SC_BLOB_CACHE > 0 ? SC_BLOB_CACHE : 1];
    uint64_t decodes, hits; /* blobs decoded for parts of them, parts served from the cache */
    /* the content being learnt */
    unsigned hashes;    /* HN_HAVE_MD5 | SHA1 | SHA256 being computed */
    int assemble;       /* the content is decoded into `whole`, holes zeroed */
    uint64_t pos;       /* bytes fed so far */
    uint64_t accounted; /* bytes of it counted in the progress */
    uint64_t hist[256];
    uint8_t magic[HN_MAGIC_BYTES];
    char **names; /* matched rules, unique */
    size_t nnames, capnames;
    int nomem; /* a callback ran out of memory */
    /* The sandboxed scanner (instead of `scanner`), started on first use. */
    cr_sbx *sbx;
    const char *ext[HN_YARA_NEXTERNALS]; /* the externals of the file, for the sandbox */
    char extbuf[64];
    cr_buf req, reply;
    /* Small contents waiting for the sandboxed scanner: their requests one
     * after the other in `batch`, each job with where its request lies. */
    cr_buf batch;
    struct sc_pending {
        hn_scan_job *job;
        size_t off, len;
    } pend[SC_DEFER_FILES];
    size_t npend, pendbytes;
    cr_sbx_shm shm;  /* the bytes of the requests, shared with each child (none: map NULL) */
    size_t shmused;  /* bytes of it in use by the requests not answered yet */
    int shmbig;      /* more than SC_SHM_KEEP of it was written: drop it when free */
    int deferred; /* the last job's YARA scan waits in the batch */
} sc_worker;

struct sc_ctx {
    cr_repo *repo;
    cr_index *idx;
    const hn_ruleset *rs;
    hn_scan_job *jobs;
    size_t *order, norder;
    size_t *batches, nbatches; /* start of each batch in order[]; batches[nbatches] = norder */
    const cr_hunt_options *opts;
    uint64_t max_scan;
    int timeout;
    const EVP_MD *md[3];
    cr_buf yara_setup; /* the compiled rules and scan settings sent to each sandboxed scanner */
    atomic_size_t next;
    atomic_uint_fast64_t files_done, bytes_done, errors, contents, bytes;
    atomic_int fatal;
    uint64_t bytes_total;
    double t0;
    pthread_mutex_t mu, warn_mu;
    pthread_cond_t cond;
    int left;
    char fatal_msg[256];
};

static const unsigned sc_md_bit[3] = {HN_HAVE_MD5, HN_HAVE_SHA1, HN_HAVE_SHA256};
static const char *const sc_md_pretty[3] = {"MD5", "SHA-1", "SHA-256"};

static void sc_warn(sc_ctx *c, hn_scan_job *job, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sc_warn(sc_ctx *c, hn_scan_job *job, int err, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    if (!job->error)
        job->error = err;
    if (!c->opts->warning)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->warn_mu);
    c->opts->warning(job->path ? job->path : "(unknown path)", msg, c->opts->payload);
    pthread_mutex_unlock(&c->warn_mu);
}

static void sc_fatal(sc_ctx *c)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&c->fatal, &expected, 1))
        snprintf(c->fatal_msg, sizeof(c->fatal_msg), "%s",
                 cr_error_last()[0] ? cr_error_last() : "out of memory while scanning");
}

/* The decoded blob `loc` from the worker's cache, decoding it on a miss. */
static int sc_cached_blob(const uint8_t **out, sc_worker *w, const cr_blob_loc *loc)
{
    int slot = 0, err;
    for (int i = 0; i < SC_BLOB_CACHE; i++) {
        sc_cached *b = &w->blobs[i];
        if (b->used && !memcmp(b->id.b, loc->entry.id.b, CR_ID_LEN)) {
            b->used = ++w->clock;
            w->hits++;
            *out = b->data.ptr;
            return 0;
        }
        if (b->used < w->blobs[slot].used)
            slot = i;
    }
    sc_cached *b = &w->blobs[slot];
    b->used = 0;
    cr_buf_reset(&b->data);
    if ((err = cr_buf_grow(&b->data, loc->entry.raw_len ? loc->entry.raw_len : 1)) < 0 ||
        (err = cr_blob_reader_decode_into(w->reader, loc, b->data.ptr)) < 0)
        return err;
    b->data.len = loc->entry.raw_len;
    b->id = loc->entry.id;
    b->used = ++w->clock;
    w->decodes++;
    *out = b->data.ptr;
    return 0;
}

/* Read the bytes of one extent into dst (x->len bytes): [blob_off, blob_off + len) of its blob. */
static int sc_load(sc_worker *w, const cr_extent *x, uint8_t *dst)
{
    cr_blob_loc loc;
    char hex[CR_ID_HEX_LEN + 1];
    const uint8_t *blob;
    int err;

    if (!cr_index_lookup(w->c->idx, &x->id, &loc)) {
        cr_error_set("blob %s is not in the vault (missing data)", cr_id_to_hex(hex, &x->id));
        return CR_ENOTFOUND;
    }
    if (loc.entry.type != CR_BLOB_DATA || loc.entry.stored_len < CR_SEAL_OVERHEAD ||
        loc.entry.stored_len > CR_MAX_BLOB + 65536) {
        cr_error_set("blob %s does not match the file's extent (damaged)",
                     cr_id_to_hex(hex, &x->id));
        return CR_ECORRUPT;
    }
    if ((uint64_t)x->blob_off + x->len > loc.entry.raw_len) {
        cr_error_set("the file's extent lies beyond the end of blob %s (%u bytes from byte %u of "
                     "%u; damaged)",
                     cr_id_to_hex(hex, &x->id), x->len, x->blob_off, loc.entry.raw_len);
        return CR_ECORRUPT;
    }
    /* The whole blob (file backups): decoded straight where it is needed. */
    if (x->blob_off == 0 && x->len == loc.entry.raw_len)
        return cr_blob_reader_decode_into(w->reader, &loc, dst);
    /* A part of a shared blob (files inside a disk image). */
    if ((err = sc_cached_blob(&blob, w, &loc)) < 0)
        return err;
    memcpy(dst, blob + x->blob_off, x->len);
    return 0;
}

/* Account `len` bytes at logical position w->pos (data NULL: a hole of zeros)
 * in the head histogram, the magic and the digests. */
static int sc_feed(sc_worker *w, const uint8_t *data, uint64_t len)
{
    if (w->pos < HN_HEAD_BYTES && len > 0) {
        uint64_t n = HN_HEAD_BYTES - w->pos < len ? HN_HEAD_BYTES - w->pos : len;
        if (!data) {
            w->hist[0] += n;
        } else {
            for (uint64_t i = 0; i < n; i++)
                w->hist[data[i]]++;
        }
        if (w->pos < HN_MAGIC_BYTES) {
            uint64_t m = HN_MAGIC_BYTES - w->pos < n ? HN_MAGIC_BYTES - w->pos : n;
            if (data)
                memcpy(w->magic + w->pos, data, (size_t)m);
            else
                memset(w->magic + w->pos, 0, (size_t)m);
        }
    }
    for (int k = 0; k < 3; k++) {
        if (!(w->hashes & sc_md_bit[k]))
            continue;
        if (data) {
            if (!EVP_DigestUpdate(w->md[k], data, (size_t)len))
                goto md_err;
        } else {
            for (uint64_t done = 0; done < len;) {
                size_t n = len - done < SC_ZERO_LEN ? (size_t)(len - done) : SC_ZERO_LEN;
                if (!EVP_DigestUpdate(w->md[k], sc_zeros, n))
                    goto md_err;
                done += n;
            }
        }
    }
    w->pos += len;
    return 0;
md_err:
    cr_error_set("the hash library failed while hashing");
    return CR_ERROR;
}

/* Record a matched rule under the rule set's name (0, or -1 when out of memory). */
static int sc_add_rule(sc_worker *w, const YR_RULE *rule)
{
    /* The rule set's name for it (unique even when two files define the same identifier). */
    const hn_rule_info *info = hn_ruleset_rule(w->c->rs, rule);
    const char *ns = rule->ns ? rule->ns->name : NULL;
    const char *id = rule->identifier ? rule->identifier : "";
    char *name;
    if (info && info->name)
        name = cr_strdup(info->name);
    else if (ns && *ns && strcmp(ns, "default") != 0)
        name = cr_sprintf("%s:%s", ns, id);
    else
        name = cr_strdup(id);
    if (!name)
        goto nomem;
    for (size_t i = 0; i < w->nnames; i++)
        if (!strcmp(w->names[i], name)) {
            free(name);
            return 0;
        }
    if (w->nnames == w->capnames) {
        size_t cap = w->capnames ? 2 * w->capnames : 8;
        char **p = cr_realloc(w->names, cap * sizeof(char *));
        if (!p) {
            free(name);
            goto nomem;
        }
        w->names = p;
        w->capnames = cap;
    }
    w->names[w->nnames++] = name;
    return 0;
nomem:
    w->nomem = 1;
    return -1;
}

static int sc_yara_cb(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    (void)ctx;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    return sc_add_rule(user, data) < 0 ? CALLBACK_ERROR : CALLBACK_CONTINUE;
}

/* The single memory block of a chunk scan: one extent at its offset in the file. */
typedef struct sc_chunk {
    YR_MEMORY_BLOCK block;
    const uint8_t *data;
    uint64_t file_size;
} sc_chunk;

static YR_MEMORY_BLOCK *chunk_first(YR_MEMORY_BLOCK_ITERATOR *it)
{
    return &((sc_chunk *)it->context)->block;
}

static YR_MEMORY_BLOCK *chunk_next(YR_MEMORY_BLOCK_ITERATOR *it)
{
    (void)it;
    return NULL;
}

static uint64_t chunk_size(YR_MEMORY_BLOCK_ITERATOR *it)
{
    return ((sc_chunk *)it->context)->file_size;
}

static const uint8_t *chunk_data(YR_MEMORY_BLOCK *b)
{
    return ((sc_chunk *)b->context)->data;
}

static const char *yara_error_name(int rc)
{
    switch (rc) {
    case ERROR_TOO_MANY_MATCHES:
        return "the YARA scan stopped: too many matches";
    case ERROR_INSUFFICIENT_MEMORY:
        return "the YARA scan ran out of memory";
    case ERROR_TOO_MANY_SCAN_THREADS:
        return "the YARA scan could not start: too many scanning threads";
    case ERROR_CALLBACK_ERROR:
        return "the YARA scan stopped: out of memory recording matches";
    default:
        return "the YARA scan failed";
    }
}

/* Scan `len` bytes that lie at `base` in a content of `file_size` bytes. */
/*
 * The YARA external variables of the file being scanned (docs/hunt.md, "YARA
 * externals"): its name, folder and owner as hunt.c gives them, the extension
 * from the name (LOKI: the last ".xxx" lowercased, "" when none or when the
 * name only starts with a dot) and the file type word of its first bytes.
 */
static int sc_externals(sc_worker *w, const hn_scan_job *job)
{
    const char *name = job->x_filename ? job->x_filename : "";
    char ext[64] = "";
    const char *dot = strrchr(name, '.');
    if (dot && dot > name) {
        const char *q = name;
        while (q < dot && *q == '.')
            q++;
        if (q < dot && strlen(dot) < sizeof(ext))
            for (size_t i = 0; dot[i]; i++)
                ext[i] = (char)tolower((unsigned char)dot[i]), ext[i + 1] = '\0';
    }
    size_t ml = w->pos < HN_MAGIC_BYTES ? (size_t)w->pos : HN_MAGIC_BYTES;
    const char *v[HN_YARA_NEXTERNALS] = {name, job->x_filepath ? job->x_filepath : "", ext,
                                         hn_filetype(w->magic, ml),
                                         job->x_owner ? job->x_owner : ""};
    if (!w->scanner) {
        /* Sandboxed: sent with each piece scanned. */
        snprintf(w->extbuf, sizeof(w->extbuf), "%s", ext);
        for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
            w->ext[i] = i == 2 ? w->extbuf : v[i];
        return 0;
    }
    /* A rule set compiled without them (tests) refuses them: nothing to set then. */
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        if (yr_scanner_define_string_variable(w->scanner, hn_yara_externals[i], v[i]) ==
            ERROR_INSUFFICIENT_MEMORY)
            return -1;
    return 0;
}

static int sc_yara(sc_worker *w, const uint8_t *data, size_t len, uint64_t base, uint64_t file_size);

/* ------------------------------------------------ YARA in the sandbox */

/*
 * With the parser sandbox on (the default), libyara and its modules (pe,
 * elf, dotnet... which parse the file) run in a "yara" child per worker:
 * the child gets the compiled rules once, then one request per piece of
 * content (externals, where the piece lies, its bytes) and answers with the
 * YARA result code and the indexes of the rules that matched, which the
 * parent checks against its own rule table. A child that crashes or hangs
 * on a file gives SC_YARA_HOSTILE for that file; the next file gets a new
 * child.
 */
#define SC_YARA_HOSTILE (-1000)
#define SC_YARA_NOSANDBOX (-1001) /* the sandbox cannot start: the machine's problem, fatal */
enum { SC_REQ_SCAN = 1, SC_REQ_SCAN_MANY = 2 };

typedef struct sc_child {
    const uint8_t *shm; /* the parent's shared region, read-only (NULL: none) */
    size_t shmlen;
    YR_RULES *rules;
    YR_SCANNER *scanner;
    cr_buf idx; /* indexes of the rules matched, varints */
    uint32_t nidx;
} sc_child;

static int sc_child_cb(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    sc_child *k = user;
    (void)ctx;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    const YR_RULE *rule = data;
    if (cr_buf_put_varint(&k->idx, (uint64_t)(rule - k->rules->rules_table)) < 0)
        return CALLBACK_ERROR;
    k->nidx++;
    return CALLBACK_CONTINUE;
}

static size_t sc_stream_read(void *ptr, size_t size, size_t count, void *ud)
{
    cr_rd *rd = ud;
    const uint8_t *p;
    if (size == 0 || count == 0)
        return count;
    if (count > SIZE_MAX / size || cr_rd_raw(rd, &p, size * count) < 0)
        return 0;
    memcpy(ptr, p, size * count);
    return count;
}

static size_t sc_stream_write(const void *ptr, size_t size, size_t count, void *ud)
{
    if (size && count > SIZE_MAX / size)
        return 0;
    return cr_buf_put(ud, ptr, size * count) < 0 ? 0 : count;
}

/* Child: load the rules sent by the parent (trusted), before confinement. */
static int sc_child_init(cr_sbx_child *ch, cr_rd *setup, void **state)
{
    sc_child *k = cr_calloc(1, sizeof(*k));
    uint32_t timeout = 0, flags = 0;
    const uint8_t *rules;
    size_t rlen;
    if (!k)
        return CR_ERROR;
    if (cr_rd_u32(setup, &timeout) < 0 || cr_rd_u32(setup, &flags) < 0 ||
        cr_rd_bytes(setup, &rules, &rlen, CR_SBX_MAX_FRAME) < 0) {
        cr_error_set("bad YARA setup");
        return CR_ERROR;
    }
    cr_rd rd;
    cr_rd_init(&rd, rules, rlen);
    YR_STREAM st = {&rd, sc_stream_read, NULL};
    if (hn_yara_init() < 0 || yr_rules_load_stream(&st, &k->rules) != ERROR_SUCCESS ||
        yr_scanner_create(k->rules, &k->scanner) != ERROR_SUCCESS) {
        cr_error_set("cannot load the YARA rules in the sandbox");
        return CR_ERROR;
    }
    yr_scanner_set_flags(k->scanner, (int)flags);
    yr_scanner_set_timeout(k->scanner, (int)timeout);
    if (cr_sbx_child_fd(ch, 0) >= 0 && cr_sbx_child_map(ch, 0, &k->shm, &k->shmlen) < 0)
        return CR_ERROR;
    yr_scanner_set_callback(k->scanner, sc_child_cb, k);
    *state = k;
    return 0;
}

/*
 * Child: one piece of content (externals, where it lies in the file, then
 * u8 0 and its bytes, or u8 1 and u64 offset, u64 length of its bytes in the
 * shared region); its answer appended.
 */
static int sc_child_one(cr_sbx_child *ch, sc_child *k, cr_rd *req, cr_buf *reply)
{
    uint64_t base, file_size, off, n;
    const uint8_t *data;
    size_t len;
    uint8_t shared;
    char *ext[HN_YARA_NEXTERNALS] = {NULL};
    int rc = ERROR_SUCCESS, err = 0;
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        if (cr_rd_str(req, &ext[i], 65536) < 0) {
            err = CR_EINPUT;
            goto done;
        }
    if (cr_rd_u64(req, &base) < 0 || cr_rd_u64(req, &file_size) < 0 || cr_rd_u8(req, &shared) < 0) {
        err = CR_EINPUT;
        goto done;
    }
    if (shared) {
        if (!k->shm || cr_rd_u64(req, &off) < 0 || cr_rd_u64(req, &n) < 0 ||
            off > k->shmlen || n > k->shmlen - off) {
            err = CR_EINPUT;
            goto done;
        }
        data = k->shm + off;
        len = (size_t)n;
    } else if (cr_rd_bytes(req, &data, &len, CR_SBX_MAX_FRAME) < 0) {
        err = CR_EINPUT;
        goto done;
    }
    cr_sbx_child_test_input(ch, data, len);
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        if (yr_scanner_define_string_variable(k->scanner, hn_yara_externals[i],
                                              ext[i] ? ext[i] : "") ==
            ERROR_INSUFFICIENT_MEMORY) {
            rc = ERROR_INSUFFICIENT_MEMORY;
            break;
        }
    cr_buf_reset(&k->idx);
    k->nidx = 0;
    if (rc == ERROR_SUCCESS) {
        sc_worker w;
        memset(&w, 0, sizeof(w));
        w.scanner = k->scanner;
        rc = sc_yara(&w, data, len, base, file_size);
    }
    if (cr_buf_put_svarint(reply, rc) < 0 || cr_buf_put_varint(reply, k->nidx) < 0 ||
        cr_buf_put(reply, k->idx.ptr, k->idx.len) < 0)
        err = CR_ERROR;
done:
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        free(ext[i]);
    return err;
}

/* Child: one piece of content, or several (SC_REQ_SCAN_MANY: a count, then the pieces; the
 * answers follow each other in the same order). */
static int sc_child_serve(cr_sbx_child *ch, void *state, uint16_t type, cr_rd *req, cr_buf *reply)
{
    sc_child *k = state;
    uint32_t count = 1;
    int err = 0;
    if (type == SC_REQ_SCAN_MANY) {
        if (cr_rd_u32(req, &count) < 0 || count > SC_DEFER_FILES) {
            cr_error_set("bad batch of contents");
            return CR_EINPUT;
        }
    } else if (type != SC_REQ_SCAN) {
        cr_error_set("unknown request");
        return CR_EINPUT;
    }
    for (uint32_t i = 0; i < count && err == 0; i++)
        err = sc_child_one(ch, k, req, reply);
    if (err == 0 && cr_rd_left(req) != 0)
        err = CR_EINPUT;
    return err;
}

/* Read-only opens: libyara's "magic" module opens libmagic's database at its first use,
 * and the sandbox's root shows the child nothing else (sc_magic_paths). */
static const cr_sbx_service sc_yara_service = {"yara", CR_SBX_OPEN_READ, sc_child_init,
                                               sc_child_serve};
CR_SBX_SERVICE(sc_yara_service)

/* Parent: what the sandbox child answered, checked against our own rule table. */
int hn_scan_reply_next(const YR_RULES *rules, cr_rd *rd, int *rc, uint32_t *idx, size_t maxidx,
                       size_t *nidx)
{
    int64_t code;
    uint64_t n;
    *nidx = 0;
    if (cr_rd_svarint(rd, &code) < 0 || code < -100000 || code > 100000 ||
        cr_rd_varint(rd, &n) < 0 || n > maxidx || n > (rules ? rules->num_rules : 0))
        goto bad;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        if (cr_rd_varint(rd, &v) < 0 || !rules || v >= rules->num_rules)
            goto bad;
        idx[i] = (uint32_t)v;
    }
    *rc = (int)code;
    *nidx = (size_t)n;
    return 0;
bad:
    *nidx = 0;
    cr_error_set("a malformed YARA answer");
    return CR_EHOSTILE;
}

int hn_scan_reply_decode(const YR_RULES *rules, const void *data, size_t len, int *rc,
                         uint32_t *idx, size_t maxidx, size_t *nidx)
{
    cr_rd rd;
    cr_rd_init(&rd, data, len);
    if (hn_scan_reply_next(rules, &rd, rc, idx, maxidx, nidx) < 0)
        return CR_EHOSTILE;
    if (cr_rd_left(&rd) != 0) {
        *nidx = 0;
        cr_error_set("a malformed YARA answer");
        return CR_EHOSTILE;
    }
    return 0;
}

int hn_scan_replies_check(const YR_RULES *rules, const void *data, size_t len, size_t count,
                          uint32_t *idx, size_t maxidx)
{
    cr_rd rd;
    int rc;
    size_t nidx;
    cr_rd_init(&rd, data, len);
    for (size_t i = 0; i < count; i++)
        if (hn_scan_reply_next(rules, &rd, &rc, idx, maxidx, &nidx) < 0)
            return CR_EHOSTILE;
    if (cr_rd_left(&rd) != 0) {
        cr_error_set("a malformed YARA answer");
        return CR_EHOSTILE;
    }
    return 0;
}

/* libmagic's database, where Debian's libmagic looks for it (what exists is shown to the child). */
static size_t sc_magic_paths(const char *out[4])
{
    static const char *const cand[] = {"/etc/magic", "/etc/magic.mgc", "/usr/share/misc/magic.mgc",
                                       "/usr/lib/file/magic.mgc"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]) && n < 4; i++)
        if (access(cand[i], R_OK) == 0)
            out[n++] = cand[i];
    return n;
}

/* The worker's sandboxed scanner, started on first use. 0, or SC_YARA_NOSANDBOX. */
static int sc_sbx_ready(sc_worker *w)
{
    sc_ctx *c = w->c;
    if (w->sbx)
        return 0;
    cr_sbx_opts o;
    memset(&o, 0, sizeof(o));
    const char *magic[4];
    o.service = "yara";
    o.what = "the files being hunted";
    o.read_paths = magic;
    o.nread_paths = sc_magic_paths(magic);
    o.setup = c->yara_setup.ptr;
    o.setuplen = c->yara_setup.len;
    o.max_reply = SC_DEFER_FILES * (16 + (size_t)c->rs->yara->num_rules * 5);
    o.idle_seconds = (unsigned)c->timeout + 60;
    /* The region outlives the children: a batch a child failed is sent again from it. Without
     * one (no memory for it), the bytes go through the socket. */
    if (!w->shm.map && cr_sbx_shm_create(&w->shm, (size_t)c->max_scan + SC_DEFER_BYTES) < 0)
        cr_error_clear();
    if (w->shm.map) {
        o.fds = &w->shm.fd;
        o.nfds = 1;
    }
    return cr_sbx_start(&w->sbx, &o) < 0 ? SC_YARA_NOSANDBOX : 0;
}

/* The child is gone or not to be trusted any more: the next file gets a new one. */
static void sc_sbx_drop(sc_worker *w)
{
    char msg[1024];
    snprintf(msg, sizeof(msg), "%s", cr_error_last());
    cr_sbx_stop(w->sbx);
    w->sbx = NULL;
    cr_error_set("%s", msg);
}

/* Put the request for one piece of content (SC_REQ_SCAN's body) at the end of `req`. */
static int sc_put_request(sc_worker *w, cr_buf *req, const uint8_t *data, size_t len,
                          uint64_t base, uint64_t file_size)
{
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        if (cr_buf_put_str(req, w->ext[i] ? w->ext[i] : "") < 0)
            return ERROR_INSUFFICIENT_MEMORY;
    if (cr_buf_put_u64(req, base) < 0 || cr_buf_put_u64(req, file_size) < 0)
        return ERROR_INSUFFICIENT_MEMORY;
    if (w->shm.map && len <= w->shm.len - w->shmused) {
        memcpy(w->shm.map + w->shmused, data, len);
        if (cr_buf_put_u8(req, 1) < 0 || cr_buf_put_u64(req, w->shmused) < 0 ||
            cr_buf_put_u64(req, len) < 0)
            return ERROR_INSUFFICIENT_MEMORY;
        w->shmused += len;
        if (w->shmused > SC_SHM_KEEP)
            w->shmbig = 1;
        return ERROR_SUCCESS;
    }
    if (cr_buf_put_u8(req, 0) < 0 || cr_buf_put_bytes(req, data, len) < 0)
        return ERROR_INSUFFICIENT_MEMORY;
    return ERROR_SUCCESS;
}

/* Scan one encoded request in the child; the rules it matched go to w->names. */
static int sc_sbx_scan(sc_worker *w, const uint8_t *req, size_t len)
{
    const YR_RULES *rules = w->c->rs->yara;
    uint32_t *idx = NULL;
    size_t nidx = 0;
    int rc = ERROR_SUCCESS, err;
    if ((err = sc_sbx_ready(w)) < 0)
        return err;
    err = cr_sbx_call(w->sbx, SC_REQ_SCAN, req, len, &w->reply, NULL, NULL);
    if (err == 0) {
        if (!(idx = cr_calloc(rules->num_rules ? rules->num_rules : 1, sizeof(uint32_t))))
            return ERROR_INSUFFICIENT_MEMORY;
        err = hn_scan_reply_decode(rules, w->reply.ptr, w->reply.len, &rc, idx, rules->num_rules,
                                   &nidx);
    }
    if (err < 0) {
        free(idx);
        sc_sbx_drop(w);
        return SC_YARA_HOSTILE;
    }
    for (size_t i = 0; i < nidx; i++)
        if (sc_add_rule(w, &rules->rules_table[idx[i]]) < 0)
            break;
    free(idx);
    return rc;
}

/* With nothing waiting in it, a region that held a huge content goes, with its child. */
static void sc_shm_trim(sc_worker *w)
{
    if (!w->shmbig || w->shmused)
        return;
    cr_sbx_stop(w->sbx);
    w->sbx = NULL;
    cr_sbx_shm_free(&w->shm);
    w->shmbig = 0;
}

static int sc_yara_sandboxed(sc_worker *w, const uint8_t *data, size_t len, uint64_t base,
                             uint64_t file_size)
{
    int rc;
    size_t used = w->shmused; /* (a batch may be waiting in the region: kept) */
    cr_buf_reset(&w->req);
    /* The region may not exist yet: the first child makes it. */
    if ((rc = sc_sbx_ready(w)) < 0)
        return rc;
    if ((rc = sc_put_request(w, &w->req, data, len, base, file_size)) == ERROR_SUCCESS)
        rc = sc_sbx_scan(w, w->req.ptr, w->req.len);
    w->shmused = used;
    if (w->npend == 0)
        sc_shm_trim(w);
    return rc;
}

static int sc_yara(sc_worker *w, const uint8_t *data, size_t len, uint64_t base, uint64_t file_size)
{
    if (!w->scanner)
        return sc_yara_sandboxed(w, data, len, base, file_size);
    if (base == 0 && len == file_size)
        return yr_scanner_scan_mem(w->scanner, data, len);
    sc_chunk ch;
    YR_MEMORY_BLOCK_ITERATOR it;
    memset(&ch, 0, sizeof(ch));
    memset(&it, 0, sizeof(it));
    ch.block.size = len;
    ch.block.base = base;
    ch.block.context = &ch;
    ch.block.fetch_data = chunk_data;
    ch.data = data;
    ch.file_size = file_size;
    it.context = &ch;
    it.first = chunk_first;
    it.next = chunk_next;
    it.file_size = chunk_size;
    it.last_error = ERROR_SUCCESS;
    return yr_scanner_scan_mem_blocks(w->scanner, &it);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sc_names_reset(sc_worker *w)
{
    for (size_t i = 0; i < w->nnames; i++)
        free(w->names[i]);
    w->nnames = 0;
    w->nomem = 0;
}

/* Record the YARA outcome of a content and count it: 0, or CR_ERROR (fatal: memory). */
static int sc_finish(sc_worker *w, hn_scan_job *job, int yara_wanted, int yara_failed, int yrc,
                     int chunked)
{
    sc_ctx *c = w->c;
    hn_facts *f = job->facts;
    int need = yara_wanted ? HN_HAVE_YARA : 0, err;
    if (w->nomem) {
        cr_error_set("out of memory recording YARA matches");
        err = CR_ERROR;
        goto fatal;
    }

    if (need & HN_HAVE_YARA) {
        if (yara_failed) {
            if (yrc == SC_YARA_HOSTILE) {
                snprintf(job->hostile_why, sizeof(job->hostile_why), "%s", cr_error_last());
                sc_warn(c, job, CR_EHOSTILE,
                        "not scanned: %s; this file will be scanned again by the next hunt",
                        job->hostile_why);
            }
            else if (yrc == ERROR_SCAN_TIMEOUT)
                sc_warn(c, job, CR_ERROR,
                        "the YARA scan did not finish within the time allowed "
                        "(%d s per file); this file will be scanned again by "
                        "the next hunt",
                        c->timeout);
            else
                sc_warn(c, job, CR_ERROR,
                        "%s (YARA error %d); this file will be scanned again by "
                        "the next hunt",
                        yara_error_name(yrc), yrc);
        } else {
            char **list = NULL;
            if (w->nnames) {
                qsort(w->names, w->nnames, sizeof(char *), str_cmp);
                if (!(list = cr_calloc(w->nnames, sizeof(char *)))) {
                    err = CR_ERROR;
                    goto fatal;
                }
                memcpy(list, w->names, w->nnames * sizeof(char *));
            }
            for (size_t i = 0; i < f->nyara; i++)
                free(f->yara[i]);
            free(f->yara);
            f->yara = list;
            f->nyara = w->nnames;
            w->nnames = 0; /* the names now belong to the facts */
            snprintf(f->yara_id, sizeof(f->yara_id), "%s", c->rs ? c->rs->yara_id : "");
            f->partial = chunked;
            f->have |= HN_HAVE_YARA;
        }
    }
    if (!job->error) {
        atomic_fetch_add(&c->contents, 1);
        atomic_fetch_add(&c->bytes, job->node->size);
    }
    return 0;
fatal:
    job->error = err;
    return err;
}

/*
 * Send the batch of waiting contents to the sandboxed scanner in one request
 * and record each answer. A batch the child does not answer properly (crash,
 * limit, timeout, malformed answer) is sent again one content at a time to a
 * new child, so that only the contents that make it fail are reported.
 * 0, or CR_ERROR (fatal: memory, or the sandbox cannot start).
 */
static int sc_flush(sc_worker *w)
{
    sc_ctx *c = w->c;
    const YR_RULES *rules = c->rs->yara;
    uint32_t *idx = NULL;
    size_t n = w->npend;
    int err = 0, ok = 0;
    if (n == 0)
        return 0;
    w->npend = 0;
    if (!(idx = cr_calloc(rules->num_rules ? rules->num_rules : 1, sizeof(uint32_t)))) {
        err = CR_ERROR;
        goto done;
    }
    if (sc_sbx_ready(w) < 0) {
        err = CR_ERROR;
        goto done;
    }
    /* The count goes in front of the requests (room was left for it). */
    uint8_t *p = (uint8_t *)w->batch.ptr;
    p[0] = (uint8_t)n, p[1] = (uint8_t)(n >> 8), p[2] = (uint8_t)(n >> 16), p[3] = (uint8_t)(n >> 24);
    if (cr_sbx_call(w->sbx, SC_REQ_SCAN_MANY, w->batch.ptr, w->batch.len, &w->reply, NULL, NULL) ==
            0 &&
        hn_scan_replies_check(rules, w->reply.ptr, w->reply.len, n, idx, rules->num_rules) == 0)
        ok = 1;
    else if (w->sbx)
        sc_sbx_drop(w);
    cr_rd rd;
    cr_rd_init(&rd, w->reply.ptr, w->reply.len);
    for (size_t i = 0; i < n; i++) {
        hn_scan_job *job = w->pend[i].job;
        int had_error = job->error != 0, rc = ERROR_SUCCESS;
        size_t nidx = 0;
        sc_names_reset(w);
        if (ok) {
            /* Checked whole above: cannot fail now. */
            if (hn_scan_reply_next(rules, &rd, &rc, idx, rules->num_rules, &nidx) < 0)
                rc = SC_YARA_HOSTILE;
            for (size_t k = 0; k < nidx; k++)
                if (sc_add_rule(w, &rules->rules_table[idx[k]]) < 0)
                    break;
        } else {
            rc = sc_sbx_scan(w, (const uint8_t *)w->batch.ptr + w->pend[i].off, w->pend[i].len);
            if (rc == SC_YARA_NOSANDBOX) {
                err = CR_ERROR;
                goto done;
            }
        }
        if ((err = sc_finish(w, job, 1, rc != ERROR_SUCCESS, rc, 0)) < 0)
            goto done;
        if (job->error && !had_error)
            atomic_fetch_add(&c->errors, 1);
    }
done:
    free(idx);
    cr_buf_reset(&w->batch);
    w->pendbytes = 0;
    w->shmused = 0;
    sc_shm_trim(w);
    return err;
}

/* Put a small content's sandboxed scan in the batch (sending the batch when full). */
static int sc_defer(sc_worker *w, hn_scan_job *job, const uint8_t *data, size_t len)
{
    int err;
    if (w->npend && (w->npend == SC_DEFER_FILES || w->pendbytes + len > SC_DEFER_BYTES) &&
        (err = sc_flush(w)) < 0)
        return err;
    /* The region may not exist yet: the first child makes it. */
    if (w->npend == 0 && sc_sbx_ready(w) < 0)
        return CR_ERROR;
    if (w->npend == 0 && cr_buf_put_u32(&w->batch, 0) < 0) /* the count, set by sc_flush */
        return CR_ERROR;
    size_t off = w->batch.len;
    if (sc_put_request(w, &w->batch, data, len, 0, len) != ERROR_SUCCESS)
        return CR_ERROR;
    w->pend[w->npend].job = job;
    w->pend[w->npend].off = off;
    w->pend[w->npend].len = w->batch.len - off;
    w->npend++;
    w->pendbytes += len;
    w->deferred = 1;
    return 0;
}

/* Learn what one job needs. Per-content problems go to job->error; returns CR_ERROR only on
 * running out of memory (fatal). */
static int sc_job(sc_worker *w, hn_scan_job *job)
{
    sc_ctx *c = w->c;
    const cr_node *n = job->node;
    hn_facts *f = job->facts;
    unsigned need =
        job->need & (HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA);
    YR_RULES *rules = c->rs ? c->rs->yara : NULL;
    const char *bad;
    int err = 0, yrc = ERROR_SUCCESS, yara_failed = 0, externals_set = 0, loaded = 0;

    job->error = 0;
    w->accounted = 0;
    w->deferred = 0;
    if (!n || !f) {
        sc_warn(c, job, CR_EINPUT, "not scanned: nothing to scan (internal error)");
        return 0;
    }
    if ((bad = check_extents(n))) {
        sc_warn(c, job, CR_ECORRUPT, "not scanned: %s", bad);
        return 0;
    }
    int yara = (need & HN_HAVE_YARA) && rules;
    int whole = yara && n->size <= c->max_scan && n->size < SIZE_MAX / 2;
    int direct =
        whole && n->ncontent == 1 && n->content[0].offset == 0 && n->content[0].len == n->size;
    w->assemble = whole && !direct && n->size > 0;
    if (w->assemble) {
        /* Release a huge buffer before a much smaller content; then make room. */
        if (w->whole.cap > SC_KEEP_WHOLE && n->size < w->whole.cap / 2)
            cr_buf_free(&w->whole);
        cr_buf_reset(&w->whole);
        if (cr_buf_grow(&w->whole, (size_t)n->size) < 0) {
            /* Not enough memory for one buffer: fall back to chunks. */
            cr_buf_free(&w->whole);
            cr_error_clear();
            whole = 0;
            w->assemble = 0;
        }
    }
    int chunked = yara && !whole;

    w->hashes = 0;
    for (int k = 0; k < 3; k++) {
        if (!(need & sc_md_bit[k]))
            continue;
        if (!c->md[k] || !EVP_DigestInit_ex(w->md[k], c->md[k], NULL)) {
            sc_warn(c, job, CR_ERROR,
                    "not scanned: the %s hash is not available in this "
                    "system's OpenSSL",
                    sc_md_pretty[k]);
            return 0;
        }
        w->hashes |= sc_md_bit[k];
    }
    w->pos = 0;
    memset(w->hist, 0, sizeof(w->hist));
    memset(w->magic, 0, sizeof(w->magic));
    sc_names_reset(w);
    if (yara && w->scanner)
        yr_scanner_set_callback(w->scanner, sc_yara_cb, w);

    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *x = &n->content[i];
        uint8_t *dst;
        if (atomic_load(&c->fatal))
            return 0;
        if (x->offset > w->pos) {
            if (w->assemble)
                memset(w->whole.ptr + w->pos, 0, (size_t)(x->offset - w->pos));
            if ((err = sc_feed(w, NULL, x->offset - w->pos)) < 0)
                goto fatal;
        }
        /* The same stored piece as the previous extent (a file of zeros written out, not
         * sparse, is one zero chunk repeated): its bytes are at hand, not decoded again. */
        const cr_extent *px = i > 0 ? &n->content[i - 1] : NULL;
        int again = px && loaded && px->len == x->len && px->blob_off == x->blob_off &&
                    memcmp(&px->id, &x->id, sizeof(cr_id)) == 0;
        /* Decoded in place: at its offset in the assembled buffer, or in the blob buffer. */
        if (w->assemble) {
            dst = w->whole.ptr + x->offset;
            if (again)
                memcpy(dst, w->whole.ptr + px->offset, x->len);
        } else if (again) {
            dst = w->blob.ptr;
        } else {
            cr_buf_reset(&w->blob);
            if ((err = cr_buf_grow(&w->blob, x->len)) < 0)
                goto fatal;
            dst = w->blob.ptr;
            w->blob.len = x->len;
        }
        if (!again && (err = sc_load(w, x, dst)) < 0) {
            sc_warn(c, job, err, "not scanned: cannot read this file's data from the vault: %s",
                    cr_error_last());
            return 0;
        }
        loaded = 1;
        if ((err = sc_feed(w, dst, x->len)) < 0)
            goto fatal;
        if (chunked && !yara_failed) {
            if (!externals_set && sc_externals(w, job) < 0) {
                sc_warn(c, job, CR_ERROR, "not scanned: the YARA external variables cannot be set");
                return 0;
            }
            externals_set = 1;
            yrc = sc_yara(w, dst, x->len, x->offset, n->size);
            if (yrc == SC_YARA_NOSANDBOX) {
                err = CR_ERROR;
                goto fatal;
            }
            if (yrc != ERROR_SUCCESS)
                yara_failed = 1;
        }
        w->accounted += x->len;
        atomic_fetch_add(&c->bytes_done, x->len);
    }
    if (n->size > w->pos) {
        if (w->assemble)
            memset(w->whole.ptr + w->pos, 0, (size_t)(n->size - w->pos));
        if ((err = sc_feed(w, NULL, n->size - w->pos)) < 0)
            goto fatal;
    }
    if (whole && sc_externals(w, job) < 0) {
        sc_warn(c, job, CR_ERROR, "not scanned: the YARA external variables cannot be set");
        return 0;
    }
    if (whole && !w->scanner && n->size <= SC_DEFER_MAX) {
        /* Sandboxed and small: its scan waits for the batch (sc_defer). */
        const uint8_t *data = direct ? w->blob.ptr : w->assemble ? w->whole.ptr : sc_zeros;
        if ((err = sc_defer(w, job, data, (size_t)n->size)) < 0)
            goto fatal;
    } else if (whole) {
        if (direct)
            yrc = sc_yara(w, w->blob.ptr, w->blob.len, 0, n->size);
        else if (w->assemble)
            yrc = sc_yara(w, w->whole.ptr, (size_t)n->size, 0, n->size);
        else /* empty: scan zero bytes */
            yrc = sc_yara(w, sc_zeros, 0, 0, 0);
        if (yrc == SC_YARA_NOSANDBOX) {
            err = CR_ERROR;
            goto fatal;
        }
        yara_failed = yrc != ERROR_SUCCESS;
    }
    /* Everything read: record what was learnt. */
    if (need & HN_HAVE_HEAD) {
        uint64_t head = n->size < HN_HEAD_BYTES ? n->size : HN_HEAD_BYTES;
        f->entropy = hn_entropy(w->hist, head);
        f->head_len = (uint32_t)head;
        f->magic_len = (uint8_t)(n->size < HN_MAGIC_BYTES ? n->size : HN_MAGIC_BYTES);
        memcpy(f->magic, w->magic, sizeof(f->magic));
        f->have |= HN_HAVE_HEAD;
    }
    for (int k = 0; k < 3; k++) {
        if (!(w->hashes & sc_md_bit[k]))
            continue;
        uint8_t *dst = k == 0 ? f->md5 : k == 1 ? f->sha1 : f->sha256;
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        size_t want = k == 0 ? 16 : k == 1 ? 20 : 32;
        if (!EVP_DigestFinal_ex(w->md[k], md, &mdlen) || mdlen != want) {
            sc_warn(c, job, CR_ERROR, "the hash library failed while hashing this file");
            continue;
        }
        memcpy(dst, md, want);
        f->have |= sc_md_bit[k];
    }
    if (w->deferred)
        return 0; /* finished when the batch returns (sc_flush) */
    return sc_finish(w, job, need & HN_HAVE_YARA, yara_failed, yrc, chunked);
fatal:
    job->error = err;
    return err;
}

static void *sc_worker_main(void *arg)
{
    sc_worker *w = arg;
    sc_ctx *c = w->c;
    for (;;) {
        if (atomic_load(&c->fatal))
            break;
        size_t b = atomic_fetch_add(&c->next, 1);
        if (b >= c->nbatches)
            break;
        for (size_t k = c->batches[b]; k < c->batches[b + 1]; k++) {
            hn_scan_job *job = &c->jobs[c->order[k]];
            if (atomic_load(&c->fatal))
                break;
            if (sc_job(w, job) < 0) {
                sc_fatal(c);
                break;
            }
            /* Progress counts the whole content, even when it stopped early. */
            uint64_t size = job->node ? job->node->size : 0;
            if (size > w->accounted)
                atomic_fetch_add(&c->bytes_done, size - w->accounted);
            if (job->error)
                atomic_fetch_add(&c->errors, 1);
            atomic_fetch_add(&c->files_done, 1);
        }
    }
    /* The last small contents still waiting for the sandboxed scanner. */
    if (!atomic_load(&c->fatal) && sc_flush(w) < 0)
        sc_fatal(c);
    pthread_mutex_lock(&c->mu);
    c->left--;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void sc_progress(void *payload)
{
    sc_ctx *c = payload;
    if (!c->opts->progress)
        return;
    cr_progress p;
    memset(&p, 0, sizeof(p));
    p.files_done = atomic_load(&c->files_done);
    p.files_total = c->norder;
    p.bytes_done = atomic_load(&c->bytes_done);
    p.bytes_total = c->bytes_total;
    p.errors = atomic_load(&c->errors);
    p.elapsed = cr_time_mono() - c->t0;
    c->opts->progress(&p, c->opts->payload);
}

/* Order of the jobs: big ones largest first, then small ones by place in the packs. */
typedef struct sc_key {
    size_t job;
    uint64_t size;
    int big;
    int placed; /* pack and offset are known */
    cr_id pack;
    uint32_t offset;
} sc_key;

static int key_cmp(const void *a, const void *b)
{
    const sc_key *x = a, *y = b;
    if (x->big != y->big)
        return x->big ? -1 : 1;
    if (x->big) {
        if (x->size != y->size)
            return x->size > y->size ? -1 : 1;
    } else {
        int r = memcmp(x->pack.b, y->pack.b, CR_ID_LEN);
        if (r)
            return r;
        if (x->offset != y->offset)
            return x->offset < y->offset ? -1 : 1;
    }
    return x->job < y->job ? -1 : x->job > y->job;
}

static const char *const sc_md_names[3] = {"MD5", "SHA1", "SHA256"};

int hn_scan(hn_scan_stats *stats, cr_repo *repo, const hn_ruleset *rs, hn_scan_job *jobs,
            size_t njobs, const cr_hunt_options *opts)
{
    static const cr_hunt_options defaults = CR_HUNT_OPTIONS_INIT;
    sc_ctx c;
    sc_key *keys = NULL;
    sc_worker *ws = NULL;
    EVP_MD *fetched[3] = {NULL, NULL, NULL};
    int err = 0, nthreads = 0;
    unsigned want_md = 0;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (!opts)
        opts = &defaults;
    memset(&c, 0, sizeof(c));
    c.repo = repo;
    c.rs = rs;
    c.jobs = jobs;
    c.opts = opts;
    c.max_scan = opts->max_scan_bytes ? opts->max_scan_bytes : SC_DEFAULT_MAX_SCAN;
    /* A whole file goes to the sandboxed scanner in one message: larger ones piece by piece. */
    if (rs && rs->yara && cr_sbx_enabled() && c.max_scan > CR_SBX_MAX_DATA)
        c.max_scan = CR_SBX_MAX_DATA;
    c.timeout = opts->yara_timeout > 0 ? opts->yara_timeout : SC_DEFAULT_TIMEOUT;
    c.t0 = cr_time_mono();
    atomic_init(&c.next, 0);
    atomic_init(&c.files_done, 0);
    atomic_init(&c.bytes_done, 0);
    atomic_init(&c.errors, 0);
    atomic_init(&c.contents, 0);
    atomic_init(&c.bytes, 0);
    atomic_init(&c.fatal, 0);
    pthread_mutex_init(&c.mu, NULL);
    pthread_mutex_init(&c.warn_mu, NULL);
    pthread_cond_init(&c.cond, NULL);

    for (size_t i = 0; i < njobs; i++)
        jobs[i].error = 0;
    if ((err = cr_repo_index(&c.idx, repo)) < 0)
        goto done;
    if (njobs && !(keys = cr_calloc(njobs, sizeof(*keys)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < njobs; i++) {
        const cr_node *n = jobs[i].node;
        if (!(jobs[i].need &
              (HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA)))
            continue;
        sc_key *k = &keys[c.norder++];
        k->job = i;
        if (!n)
            continue;
        k->size = n->size;
        k->big = n->size >= SC_BIG_JOB;
        if (!k->big && n->ncontent > 0) {
            cr_blob_loc loc;
            if (cr_index_lookup(c.idx, &n->content[0].id, &loc)) {
                k->pack = loc.pack;
                k->offset = loc.entry.offset;
                k->placed = 1;
            }
        }
        c.bytes_total += n->size;
        want_md |= jobs[i].need;
    }
    if (c.norder == 0)
        goto done;
    qsort(keys, c.norder, sizeof(*keys), key_cmp);
    if (!(c.order = cr_malloc(c.norder * sizeof(size_t))) ||
        !(c.batches = cr_malloc((c.norder + 1) * sizeof(size_t)))) {
        err = CR_ERROR;
        goto done;
    }
    /* Batches: small contents that start in the same blob go to one worker,
     * which decodes that blob once for all of them. */
    for (size_t i = 0, run = 0; i < c.norder; i++) {
        const sc_key *k = &keys[i], *p = i ? &keys[i - 1] : NULL;
        c.order[i] = k->job;
        if (p && !k->big && k->placed && !p->big && p->placed && run < SC_BATCH &&
            p->offset == k->offset && !memcmp(p->pack.b, k->pack.b, CR_ID_LEN)) {
            run++;
            continue;
        }
        c.batches[c.nbatches++] = i;
        run = 1;
    }
    c.batches[c.nbatches] = c.norder;
    free(keys);
    keys = NULL;

    /* Digests are fetched once (an implicit fetch per content costs). */
    for (int k = 0; k < 3; k++)
        if (want_md & sc_md_bit[k])
            c.md[k] = fetched[k] = EVP_MD_fetch(NULL, sc_md_names[k], NULL);

    nthreads = opts->threads > 0 ? opts->threads : cr_ncpu();
    if (nthreads > SC_MAX_THREADS)
        nthreads = SC_MAX_THREADS;
    if ((size_t)nthreads > c.nbatches)
        nthreads = (int)c.nbatches;
    if (rs && rs->yara && cr_sbx_enabled()) {
        /* What every sandboxed scanner gets: settings, then the compiled rules. */
        cr_buf rules = CR_BUF_INIT;
        YR_STREAM st = {&rules, NULL, sc_stream_write};
        if (cr_buf_put_u32(&c.yara_setup, (uint32_t)c.timeout) < 0 ||
            cr_buf_put_u32(&c.yara_setup, SC_SCAN_FLAGS) < 0 ||
            yr_rules_save_stream(rs->yara, &st) != ERROR_SUCCESS ||
            cr_buf_put_bytes(&c.yara_setup, rules.ptr, rules.len) < 0) {
            cr_buf_free(&rules);
            cr_error_set("cannot prepare the YARA rules for the sandbox");
            err = CR_ERROR;
            goto done;
        }
        cr_buf_free(&rules);
    }
    if (!(ws = cr_calloc((size_t)nthreads, sizeof(*ws)))) {
        err = CR_ERROR;
        goto done;
    }
    for (int i = 0; i < nthreads; i++) {
        sc_worker *w = &ws[i];
        w->c = &c;
        if ((err = cr_blob_reader_new(&w->reader, c.repo, SC_FD_CACHE)) < 0)
            goto done;
        for (int k = 0; k < 3; k++)
            if (!(w->md[k] = EVP_MD_CTX_new())) {
                cr_error_set("out of memory (hash context)");
                err = CR_ERROR;
                goto done;
            }
        if (rs && rs->yara && c.yara_setup.len) {
            /* Sandboxed: the child is started on the first file that needs it. */
        } else if (rs && rs->yara) {
            int rc = yr_scanner_create(rs->yara, &w->scanner);
            if (rc != ERROR_SUCCESS) {
                cr_error_set("cannot prepare the YARA scanner (YARA error %d)", rc);
                err = CR_ERROR;
                goto done;
            }
            yr_scanner_set_flags(w->scanner, SC_SCAN_FLAGS);
            yr_scanner_set_timeout(w->scanner, c.timeout);
        }
    }
    if ((err = cr_run_workers(sc_worker_main, ws, sizeof(*ws), nthreads, &c.mu, &c.cond, &c.left,
                              250, sc_progress, &c)) > 0)
        err = 0;
    if (err == 0 && atomic_load(&c.fatal)) {
        cr_error_set("%s", c.fatal_msg);
        err = CR_ERROR;
    }
    if (err == 0)
        sc_progress(&c);
done:
    if (stats) {
        stats->contents = atomic_load(&c.contents);
        stats->bytes = atomic_load(&c.bytes);
        stats->errors = atomic_load(&c.errors);
    }
    if (ws) {
        for (int i = 0; i < nthreads; i++) {
            sc_worker *w = &ws[i];
            if (w->scanner)
                yr_scanner_destroy(w->scanner);
            cr_sbx_stop(w->sbx);
            cr_sbx_shm_free(&w->shm);
            cr_buf_free(&w->req);
            cr_buf_free(&w->reply);
            cr_buf_free(&w->batch);
            cr_blob_reader_free(w->reader);
            for (int k = 0; k < 3; k++)
                EVP_MD_CTX_free(w->md[k]);
            sc_names_reset(w);
            free(w->names);
            cr_buf_free(&w->blob);
            cr_buf_free(&w->whole);
            for (size_t k = 0; k < sizeof(w->blobs) / sizeof(w->blobs[0]); k++)
                cr_buf_free(&w->blobs[k].data);
            if (stats) {
                stats->blob_decodes += w->decodes;
                stats->blob_hits += w->hits;
            }
        }
        free(ws);
    }
    for (int k = 0; k < 3; k++)
        EVP_MD_free(fetched[k]);
    free(keys);
    free(c.order);
    free(c.batches);
    cr_buf_free(&c.yara_setup);
    pthread_mutex_destroy(&c.mu);
    pthread_mutex_destroy(&c.warn_mu);
    pthread_cond_destroy(&c.cond);
    return err;
}
