/*
 * Pack files: many sealed blobs in one file, so that a vault of a million
 * chunks is not a million files.
 *
 *   pack    = blob_0 || blob_1 || ... || sealed header || trailer
 *   blob_i  = seal(enc key, AD = type || id, zstd(raw) or raw)
 *   header  = seal(enc key, AD = "cleanroom-pack-header",
 *                  "CRPH" varint count {u8 type, u8 flags, u32 stored_len,
 *                  u32 raw_len, id[32]}*count)
 *   trailer = u32 LE sealed header length, u32 LE format version, "CRPK"
 *
 * Blob offsets are implied: blobs lie back to back from offset 0 and must tile
 * the data region exactly. The file is named by the SHA-256 of its bytes and
 * stored as data/<first two hex digits>/<hex>.
 *
 * The packer keeps one growing buffer and one entry array that are reused from
 * pack to pack, and one zstd context, so adding a blob allocates nothing once
 * the buffers have reached their working size.
 */
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_TRAILER_LEN 12
#define PACK_TRAILER_MAGIC "CRPK"
#define PACK_HEADER_MAGIC "CRPH"
#define PACK_HEADER_AD "cleanroom-pack-header"
#define PACK_ENTRY_BYTES (1 + 1 + 4 + 4 + CR_ID_LEN)
/* Blobs this small rarely shrink: do not spend a zstd call on them. */
#define PACK_MIN_COMPRESS 64

struct cr_packer {
    cr_repo *repo;
    ZSTD_CCtx *cctx;
    cr_buf data;    /* sealed blobs back to back, then header and trailer at flush */
    cr_buf scratch; /* compressed form of the blob being added */
    cr_pack_entry *e;
    size_t n, cap;
};

static void blob_ad(uint8_t ad[1 + CR_ID_LEN], uint8_t type, const cr_id *id)
{
    ad[0] = type;
    memcpy(ad + 1, id->b, CR_ID_LEN);
}

void cr_pack_path(char *out, size_t outlen, const cr_id *pack)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_id_to_hex(hex, pack);
    snprintf(out, outlen, "data/%.2s/%s", hex, hex);
}

int cr_packer_new(cr_packer **out, cr_repo *repo)
{
    cr_packer *p = cr_calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return CR_ERROR;
    p->repo = repo;
    if (!(p->cctx = ZSTD_createCCtx())) {
        free(p);
        cr_error_set("out of memory (zstd context)");
        return CR_ERROR;
    }
    *out = p;
    return 0;
}

/* Give back the claims of blobs that will not be written after all. */
static void packer_discard(cr_packer *p)
{
    if (p->n && p->repo && p->repo->index)
        for (size_t i = 0; i < p->n; i++)
            cr_index_unclaim(p->repo->index, &p->e[i].id);
    p->n = 0;
    cr_buf_reset(&p->data);
}

void cr_packer_free(cr_packer *p)
{
    if (!p)
        return;
    packer_discard(p);
    ZSTD_freeCCtx(p->cctx);
    cr_buf_free(&p->data);
    cr_buf_free(&p->scratch);
    free(p->e);
    free(p);
}

size_t cr_packer_size(const cr_packer *p)
{
    return p->data.len;
}

int cr_packer_add(cr_packer *p, cr_blob_type type, const cr_id *id, const void *data, size_t len,
                  size_t *stored_out)
{
    const void *pt = data;
    size_t ptlen = len;
    uint8_t flags = 0, ad[1 + CR_ID_LEN];
    int err;

    if (len > CR_MAX_BLOB) {
        cr_error_set("blob of %zu bytes is larger than the limit of %u", len, CR_MAX_BLOB);
        return CR_EINPUT;
    }
    /* Keep packs a bit over the target and offsets far below 4 GiB even if the
     * caller forgets to flush. */
    if (p->data.len >= CR_PACK_TARGET && (err = cr_packer_flush(p)) < 0)
        return err;

    if (len >= PACK_MIN_COMPRESS) {
        cr_buf_reset(&p->scratch);
        if ((err = cr_zstd_compress(&p->scratch, p->cctx, p->repo->compression_level, data, len)) <
            0)
            return err;
        if (p->scratch.len <= len - len / 32) {
            pt = p->scratch.ptr;
            ptlen = p->scratch.len;
            flags = CR_BLOB_FLAG_ZSTD;
        }
    }

    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        cr_pack_entry *e = cr_realloc(p->e, cap * sizeof(*e));
        if (!e)
            return CR_ERROR;
        p->e = e;
        p->cap = cap;
    }
    size_t stored = ptlen + CR_SEAL_OVERHEAD;
    if ((err = cr_buf_grow(&p->data, stored)) < 0)
        return err;
    blob_ad(ad, (uint8_t)type, id);
    cr_seal(p->data.ptr + p->data.len, p->repo->keys.enc, ad, sizeof(ad), pt, ptlen);

    cr_pack_entry *e = &p->e[p->n++];
    e->id = *id;
    e->type = (uint8_t)type;
    e->flags = flags;
    e->offset = (uint32_t)p->data.len;
    e->stored_len = (uint32_t)stored;
    e->raw_len = (uint32_t)len;
    p->data.len += stored;
    if (stored_out)
        *stored_out = stored;
    return 0;
}

int cr_packer_flush(cr_packer *p)
{
    cr_buf hdr = CR_BUF_INIT;
    cr_index *idx = NULL;
    cr_id pack;
    char path[96];
    int err;

    if (p->n == 0)
        return 0;
    if ((err = cr_buf_grow(&hdr, 4 + 10 + p->n * PACK_ENTRY_BYTES)) < 0)
        goto fail;
    cr_buf_put(&hdr, PACK_HEADER_MAGIC, 4);
    cr_buf_put_varint(&hdr, p->n);
    for (size_t i = 0; i < p->n; i++) {
        const cr_pack_entry *e = &p->e[i];
        cr_buf_put_u8(&hdr, e->type);
        cr_buf_put_u8(&hdr, e->flags);
        cr_buf_put_u32(&hdr, e->stored_len);
        cr_buf_put_u32(&hdr, e->raw_len);
        cr_buf_put(&hdr, e->id.b, CR_ID_LEN);
    }
    size_t sealed = hdr.len + CR_SEAL_OVERHEAD;
    if ((err = cr_buf_grow(&p->data, sealed + PACK_TRAILER_LEN)) < 0)
        goto fail;
    cr_seal(p->data.ptr + p->data.len, p->repo->keys.enc, PACK_HEADER_AD, strlen(PACK_HEADER_AD),
            hdr.ptr, hdr.len);
    p->data.len += sealed;
    cr_buf_put_u32(&p->data, (uint32_t)sealed);
    cr_buf_put_u32(&p->data, CR_FORMAT_VERSION);
    cr_buf_put(&p->data, PACK_TRAILER_MAGIC, 4);

    cr_sha256(pack.b, p->data.ptr, p->data.len);
    cr_pack_path(path, sizeof(path), &pack);
    if ((err = cr_store_put(p->repo->store, path, p->data.ptr, p->data.len, 0)) < 0)
        goto fail;
    if ((err = cr_repo_index(&idx, p->repo)) < 0 ||
        (err = cr_index_add_pack(idx, &pack, p->e, p->n, 1)) < 0)
        goto fail;
    p->n = 0;
    cr_buf_reset(&p->data);
    cr_buf_free(&hdr);
    return 0;
fail:
    /* The blobs are dropped with their claims: the backup that owns this packer
     * must fail, as its trees would name blobs that were not written. */
    packer_discard(p);
    cr_buf_free(&hdr);
    return err;
}

/* ------------------------------------------------------------ reading */

/* Parse the trailer; *hlen = sealed header length, validated against file_len. */
static int parse_trailer(uint32_t *hlen, const uint8_t *t, uint64_t file_len)
{
    uint32_t ver;
    cr_rd r;
    if (file_len < PACK_TRAILER_LEN) {
        cr_error_set("file of %llu bytes is too short to be a pack", (unsigned long long)file_len);
        return CR_ECORRUPT;
    }
    if (file_len > CR_MAX_PACK) {
        cr_error_set("file of %llu bytes is larger than any pack", (unsigned long long)file_len);
        return CR_ECORRUPT;
    }
    if (memcmp(t + 8, PACK_TRAILER_MAGIC, 4) != 0) {
        cr_error_set("not a pack file (bad trailer)");
        return CR_ECORRUPT;
    }
    cr_rd_init(&r, t, 8);
    cr_rd_u32(&r, hlen);
    cr_rd_u32(&r, &ver);
    if (ver == 0 || ver > 255) {
        cr_error_set("damaged pack trailer (version field %u)", ver);
        return CR_ECORRUPT;
    }
    if (ver != CR_FORMAT_VERSION) {
        cr_error_set("pack format version %u is not supported by this program", ver);
        return CR_EVERSION;
    }
    if (*hlen < CR_SEAL_OVERHEAD + 5 || *hlen > file_len - PACK_TRAILER_LEN) {
        cr_error_set("pack header length %u does not fit in the file", *hlen);
        return CR_ECORRUPT;
    }
    return 0;
}

/*
 * Decode the header from the last `tail_len` bytes of a pack of `file_len`
 * bytes; tail_len must be at least the sealed header plus the trailer.
 */
static int decode_tail(cr_pack_entry **out, size_t *count, const cr_keys *keys, const uint8_t *tail,
                       size_t tail_len, uint64_t file_len)
{
    uint8_t *plain = NULL;
    cr_pack_entry *e = NULL;
    uint32_t hlen;
    uint64_t n, off = 0, data_end;
    const uint8_t *p;
    cr_rd r;
    int err;

    *out = NULL;
    *count = 0;
    if (tail_len < PACK_TRAILER_LEN || tail_len > file_len) {
        cr_error_set("pack is truncated");
        return CR_ECORRUPT;
    }
    if ((err = parse_trailer(&hlen, tail + tail_len - PACK_TRAILER_LEN, file_len)) < 0)
        return err;
    if ((size_t)hlen + PACK_TRAILER_LEN > tail_len) {
        cr_error_set("pack header length %u does not fit in the file", hlen);
        return CR_ECORRUPT;
    }
    data_end = file_len - PACK_TRAILER_LEN - hlen;
    const uint8_t *sealed = tail + tail_len - PACK_TRAILER_LEN - hlen;
    if (!(plain = cr_malloc(hlen - CR_SEAL_OVERHEAD)))
        return CR_ERROR;
    if ((err = cr_unseal(plain, keys->enc, PACK_HEADER_AD, strlen(PACK_HEADER_AD), sealed, hlen)) <
        0) {
        cr_error_set("pack header failed authentication (damaged or altered)");
        err = CR_ECORRUPT;
        goto done;
    }
    cr_rd_init(&r, plain, hlen - CR_SEAL_OVERHEAD);
    if (cr_rd_raw(&r, &p, 4) < 0 || memcmp(p, PACK_HEADER_MAGIC, 4) != 0 ||
        cr_rd_varint(&r, &n) < 0) {
        cr_error_set("pack header is malformed");
        err = CR_ECORRUPT;
        goto done;
    }
    if (n > cr_rd_left(&r) / PACK_ENTRY_BYTES) {
        cr_error_set("pack header blob count %llu exceeds its size", (unsigned long long)n);
        err = CR_ECORRUPT;
        goto done;
    }
    if (!(e = cr_malloc((size_t)n * sizeof(*e)))) {
        err = CR_ERROR;
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        cr_pack_entry *x = &e[i];
        const char *why = NULL;
        cr_rd_u8(&r, &x->type);
        cr_rd_u8(&r, &x->flags);
        cr_rd_u32(&r, &x->stored_len);
        cr_rd_u32(&r, &x->raw_len);
        if (cr_rd_raw(&r, &p, CR_ID_LEN) < 0) {
            err = CR_ECORRUPT;
            goto done;
        }
        memcpy(x->id.b, p, CR_ID_LEN);
        if (x->type != CR_BLOB_DATA && x->type != CR_BLOB_TREE)
            why = "unknown blob type";
        else if (x->flags & ~CR_BLOB_FLAG_ZSTD)
            why = "unknown blob flags";
        else if (x->stored_len < CR_SEAL_OVERHEAD)
            why = "blob shorter than its seal";
        else if (x->raw_len > CR_MAX_BLOB)
            why = "blob larger than allowed";
        else if (!(x->flags & CR_BLOB_FLAG_ZSTD) &&
                 (uint64_t)x->raw_len + CR_SEAL_OVERHEAD != x->stored_len)
            why = "stored length of an uncompressed blob does not match its size";
        else if (off + x->stored_len > data_end)
            why = "blob extends past the data region";
        if (why) {
            cr_error_set("pack header entry %llu: %s", (unsigned long long)i, why);
            err = CR_ECORRUPT;
            goto done;
        }
        x->offset = (uint32_t)off;
        off += x->stored_len;
    }
    if (cr_rd_left(&r) != 0) {
        cr_error_set("pack header has %zu unexpected bytes at the end", cr_rd_left(&r));
        err = CR_ECORRUPT;
        goto done;
    }
    if (off != data_end) {
        cr_error_set("pack blobs cover %llu bytes but the data region holds %llu",
                     (unsigned long long)off, (unsigned long long)data_end);
        err = CR_ECORRUPT;
        goto done;
    }
    *out = e;
    *count = (size_t)n;
    e = NULL;
    err = 0;
done:
    free(plain);
    free(e);
    return err;
}

int cr_pack_decode_header(cr_pack_entry **out, size_t *count, const cr_keys *keys,
                          const uint8_t *file, size_t file_len)
{
    return decode_tail(out, count, keys, file, file_len, file_len);
}

/* Prefix the current error message with the name of the pack. */
int cr_pack_error(const cr_id *pack, int err)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_error_prefix("pack %s", cr_id_to_hex(hex, pack));
    return err;
}

int cr_pack_read_header(cr_pack_entry **out, size_t *count, cr_repo *repo, const cr_id *pack,
                        uint64_t *size_out)
{
    uint8_t trailer[PACK_TRAILER_LEN];
    uint8_t *tail = NULL;
    uint32_t hlen;
    cr_store_obj *obj = NULL;
    char path[96];
    int err;

    *out = NULL;
    *count = 0;
    cr_pack_path(path, sizeof(path), pack);
    if ((err = cr_store_obj_open(&obj, repo->store, path)) < 0) {
        /* A pack the index names but which is gone is damage to the vault. */
        if (err == CR_ENOTFOUND)
            err = CR_ECORRUPT;
        goto done;
    }
    uint64_t size = cr_store_obj_size(obj);
    if (size_out)
        *size_out = size;
    if (size < PACK_TRAILER_LEN) {
        cr_error_set("file of %llu bytes is too short to be a pack", (unsigned long long)size);
        err = CR_ECORRUPT;
        goto done;
    }
    if ((err = cr_store_obj_read(obj, trailer, sizeof(trailer), size - PACK_TRAILER_LEN)) < 0 ||
        (err = parse_trailer(&hlen, trailer, size)) < 0)
        goto done;
    size_t tail_len = (size_t)hlen + PACK_TRAILER_LEN;
    if (!(tail = cr_malloc(tail_len))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = cr_store_obj_read(obj, tail, tail_len, size - tail_len)) < 0 ||
        (err = decode_tail(out, count, &repo->keys, tail, tail_len, size)) < 0)
        goto done;
done:
    cr_store_obj_close(obj);
    free(tail);
    if (err < 0)
        cr_pack_error(pack, err);
    return err;
}

int cr_blob_decode_into(uint8_t *dst, cr_buf *scratch, const cr_keys *keys, ZSTD_DCtx *dctx,
                        const cr_pack_entry *e, const uint8_t *stored)
{
    uint8_t ad[1 + CR_ID_LEN];
    char hex[CR_ID_HEX_LEN + 1];
    ZSTD_DCtx *own = NULL;
    cr_id got;
    int err;

    if (e->stored_len < CR_SEAL_OVERHEAD || e->raw_len > CR_MAX_BLOB) {
        cr_error_set("blob %s: impossible stored size", cr_id_to_hex(hex, &e->id));
        return CR_ECORRUPT;
    }
    size_t plen = e->stored_len - CR_SEAL_OVERHEAD;
    blob_ad(ad, e->type, &e->id);
    if (!(e->flags & CR_BLOB_FLAG_ZSTD)) {
        if (plen != e->raw_len) {
            cr_error_set("blob %s: stored size does not match its size", cr_id_to_hex(hex, &e->id));
            return CR_ECORRUPT;
        }
        if (cr_unseal(dst, keys->enc, ad, sizeof(ad), stored, e->stored_len) < 0)
            goto auth;
    } else {
        cr_buf_reset(scratch);
        if ((err = cr_buf_grow(scratch, plen + 1)) < 0)
            return err;
        if (cr_unseal(scratch->ptr, keys->enc, ad, sizeof(ad), stored, e->stored_len) < 0)
            goto auth;
        if (!dctx && !(dctx = own = ZSTD_createDCtx())) {
            cr_error_set("out of memory (zstd context)");
            return CR_ERROR;
        }
        size_t n = ZSTD_decompressDCtx(dctx, dst, e->raw_len, scratch->ptr, plen);
        ZSTD_freeDCtx(own);
        if (ZSTD_isError(n) || n != e->raw_len) {
            cr_error_set("blob %s: does not decompress (damaged)", cr_id_to_hex(hex, &e->id));
            return CR_ECORRUPT;
        }
    }
    cr_blob_id(&got, keys, dst, e->raw_len);
    if (memcmp(got.b, e->id.b, CR_ID_LEN) != 0) {
        cr_error_set("blob %s: content does not match its id (damaged or altered)",
                     cr_id_to_hex(hex, &e->id));
        return CR_ECORRUPT;
    }
    return 0;
auth:
    cr_error_set("blob %s failed authentication (damaged or altered)", cr_id_to_hex(hex, &e->id));
    return CR_ECORRUPT;
}

int cr_blob_decode(cr_buf *out, const cr_keys *keys, ZSTD_DCtx *dctx, const cr_pack_entry *e,
                   const uint8_t *stored)
{
    cr_buf scratch = CR_BUF_INIT;
    char hex[CR_ID_HEX_LEN + 1];
    int err;

    cr_buf_reset(out);
    if (e->raw_len > CR_MAX_BLOB) {
        cr_error_set("blob %s: impossible stored size", cr_id_to_hex(hex, &e->id));
        return CR_ECORRUPT;
    }
    if ((err = cr_buf_grow(out, (size_t)e->raw_len + 1)) < 0)
        return err;
    err = cr_blob_decode_into(out->ptr, &scratch, keys, dctx, e, stored);
    if (err == 0)
        out->len = e->raw_len;
    cr_buf_free(&scratch);
    return err;
}
