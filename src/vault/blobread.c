/*
 * The one blob reader (vault.h): packs kept open in a small LRU, exact
 * ranges read through the store, blobs opened by cr_blob_decode. Backup,
 * restore, verify, the hunt and the image code all read through it, so a
 * store backend (a folder, S3, a vault server) serves every command the same.
 */
#include "vault/vault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct open_pack {
    cr_id pack;
    cr_store_obj *obj;
    uint64_t used;
} open_pack;

struct cr_blob_reader {
    cr_repo *repo;
    open_pack *open;
    int max_open, nopen;
    uint64_t clock;
    cr_buf stored;  /* sealed bytes of the blob being opened */
    cr_buf scratch; /* its decrypted bytes, when compressed */
    ZSTD_DCtx *dctx;
    int own_dctx;   /* 0: the thread's (cr_repo_load_blob) */
};

int cr_blob_reader_new(cr_blob_reader **out, cr_repo *repo, int max_open)
{
    cr_blob_reader *r;
    *out = NULL;
    if (max_open < 1)
        max_open = 1;
    if (!(r = cr_calloc(1, sizeof(*r))) || !(r->open = cr_calloc((size_t)max_open, sizeof(*r->open)))) {
        free(r);
        return CR_ERROR;
    }
    if (!(r->dctx = ZSTD_createDCtx())) {
        free(r->open);
        free(r);
        cr_error_set("out of memory (zstd context)");
        return CR_ERROR;
    }
    r->own_dctx = 1;
    r->repo = repo;
    r->max_open = max_open;
    *out = r;
    return 0;
}

void cr_blob_reader_free(cr_blob_reader *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->nopen; i++)
        cr_store_obj_close(r->open[i].obj);
    free(r->open);
    cr_buf_free(&r->stored);
    cr_buf_free(&r->scratch);
    if (r->own_dctx)
        ZSTD_freeDCtx(r->dctx);
    free(r);
}

/* The open pack `pack`, from the cache or opened now (closing the least recently used). */
static int get_pack(cr_store_obj **out, cr_blob_reader *r, const cr_id *pack)
{
    char name[96];
    int slot;
    for (int i = 0; i < r->nopen; i++)
        if (!memcmp(r->open[i].pack.b, pack->b, CR_ID_LEN)) {
            r->open[i].used = ++r->clock;
            *out = r->open[i].obj;
            return 0;
        }
    cr_pack_path(name, sizeof(name), pack);
    cr_store_obj *obj;
    int err = cr_store_obj_open(&obj, r->repo->store, name);
    if (err < 0)
        /* A pack the index names but which is gone is damage to the vault. */
        return err == CR_ENOTFOUND ? CR_ECORRUPT : err;
    if (r->nopen < r->max_open) {
        slot = r->nopen++;
    } else {
        slot = 0;
        for (int i = 1; i < r->nopen; i++)
            if (r->open[i].used < r->open[slot].used)
                slot = i;
        cr_store_obj_close(r->open[slot].obj);
    }
    r->open[slot].pack = *pack;
    r->open[slot].obj = obj;
    r->open[slot].used = ++r->clock;
    *out = obj;
    return 0;
}

int cr_blob_reader_size(cr_blob_reader *r, const cr_id *pack, uint64_t *size)
{
    cr_store_obj *obj;
    int err = get_pack(&obj, r, pack);
    if (err < 0)
        return cr_pack_error(pack, err);
    *size = cr_store_obj_size(obj);
    return 0;
}

int cr_blob_reader_read(cr_blob_reader *r, const cr_id *pack, uint64_t off, void *buf,
                        size_t len)
{
    cr_store_obj *obj;
    int err;
    if ((err = get_pack(&obj, r, pack)) < 0 || (err = cr_store_obj_read(obj, buf, len, off)) < 0)
        return cr_pack_error(pack, err);
    return 0;
}

/* The sealed bytes of the blob at loc, in r->stored. */
static int read_stored(cr_blob_reader *r, const cr_blob_loc *loc)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_store_obj *obj;
    int err;
    cr_buf_reset(&r->stored);
    if ((err = cr_buf_grow(&r->stored, loc->entry.stored_len)) < 0)
        return err;
    if ((err = get_pack(&obj, r, &loc->pack)) < 0)
        return cr_pack_error(&loc->pack, err);
    err = cr_store_obj_read(obj, r->stored.ptr, loc->entry.stored_len, loc->entry.offset);
    if (err == CR_ECORRUPT)
        cr_error_set("the pack of blob %s is shorter than the index says (damaged)",
                     cr_id_to_hex(hex, &loc->entry.id));
    return err < 0 ? cr_pack_error(&loc->pack, err) : 0;
}

int cr_blob_reader_decode_into(cr_blob_reader *r, const cr_blob_loc *loc, uint8_t *dst)
{
    int err = read_stored(r, loc);
    if (err < 0)
        return err;
    err = cr_blob_decode_into(dst, &r->scratch, &r->repo->keys, r->dctx, &loc->entry,
                              r->stored.ptr);
    return err == CR_ECORRUPT ? cr_pack_error(&loc->pack, err) : err;
}

int cr_blob_reader_open(cr_blob_reader *r, const cr_blob_loc *loc, const uint8_t *stored,
                        cr_buf *out)
{
    return cr_blob_decode(out, &r->repo->keys, r->dctx, &loc->entry, stored);
}

int cr_blob_reader_decode(cr_blob_reader *r, const cr_blob_loc *loc, cr_buf *out)
{
    int err = read_stored(r, loc);
    if (err < 0)
        return err;
    err = cr_blob_decode(out, &r->repo->keys, r->dctx, &loc->entry, r->stored.ptr);
    return err == CR_ECORRUPT ? cr_pack_error(&loc->pack, err) : err;
}

int cr_blob_reader_load(cr_blob_reader *r, cr_buf *out, const cr_id *id, cr_blob_type type)
{
    cr_index *idx;
    cr_blob_loc loc;
    char hex[CR_ID_HEX_LEN + 1];
    int err;

    if ((err = cr_repo_index(&idx, r->repo)) < 0)
        return err;
    if (!cr_index_lookup(idx, id, &loc)) {
        cr_error_set("blob %s is not in the vault (missing data)", cr_id_to_hex(hex, id));
        return CR_ENOTFOUND;
    }
    if (loc.entry.type != (uint8_t)type) {
        cr_error_set("blob %s has type %u where type %u was expected", cr_id_to_hex(hex, id),
                     loc.entry.type, (unsigned)type);
        return CR_ECORRUPT;
    }
    return cr_blob_reader_decode(r, &loc, out);
}

/*
 * One zstd decompression context per thread for cr_repo_load_blob: creating
 * one costs a ~100 KiB allocation, which would dominate loading small tree
 * blobs. Freed by the thread's destructor, or at exit for the main thread.
 */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void dctx_atexit(void)
{
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (d) {
        pthread_setspecific(dctx_key, NULL);
        ZSTD_freeDCtx(d);
    }
}

static void dctx_once_run(void)
{
    if (pthread_key_create(&dctx_key, dctx_free) == 0) {
        dctx_key_ok = 1;
        atexit(dctx_atexit);
    }
}

/* The thread's context, or NULL (cr_blob_decode then makes a temporary one). */
static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_once_run);
    if (!dctx_key_ok)
        return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

int cr_repo_load_blob(cr_buf *out, cr_repo *repo, const cr_id *id, cr_blob_type type)
{
    /* A reader of one pack for this call, with the thread's zstd context. */
    open_pack slot = {{{0}}, NULL, 0};
    cr_blob_reader r = {.repo = repo, .open = &slot, .max_open = 1, .dctx = thread_dctx()};
    int err = cr_blob_reader_load(&r, out, id, type);
    cr_store_obj_close(slot.obj);
    cr_buf_free(&r.stored);
    cr_buf_free(&r.scratch);
    return err;
}
