/*
 * Growable buffers for what we write, bounded readers for what we read.
 * A reader never trusts a length: every get checks what is left first.
 */
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

void cr_buf_free(cr_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void cr_buf_reset(cr_buf *b)
{
    b->len = 0;
}

int cr_buf_grow(cr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len) {
        cr_error_set("buffer size overflow");
        return CR_EINPUT;
    }
    size_t need = b->len + extra;
    if (b->max && need > b->max) {
        cr_error_set("data larger than the limit of %zu bytes", b->max);
        return CR_EINPUT;
    }
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max && cap > b->max)
        cap = b->max;
    uint8_t *p = cr_realloc(b->ptr, cap);
    if (!p)
        return CR_ERROR;
    b->ptr = p;
    b->cap = cap;
    return 0;
}

int cr_buf_put(cr_buf *b, const void *data, size_t len)
{
    int err;
    if (len == 0)
        return 0;
    if ((err = cr_buf_grow(b, len)) < 0)
        return err;
    memcpy(b->ptr + b->len, data, len);
    b->len += len;
    return 0;
}

int cr_buf_put_u8(cr_buf *b, uint8_t v)
{
    return cr_buf_put(b, &v, 1);
}

int cr_buf_put_u32(cr_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return cr_buf_put(b, x, 4);
}

int cr_buf_put_u64(cr_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return cr_buf_put(b, x, 8);
}

int cr_buf_put_varint(cr_buf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        x[n++] = c | (v ? 0x80 : 0);
    } while (v);
    return cr_buf_put(b, x, n);
}

int cr_buf_put_svarint(cr_buf *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    return cr_buf_put_varint(b, z);
}

int cr_buf_put_bytes(cr_buf *b, const void *data, size_t len)
{
    int err;
    if ((err = cr_buf_put_varint(b, len)) < 0)
        return err;
    return cr_buf_put(b, data, len);
}

int cr_buf_put_str(cr_buf *b, const char *s)
{
    return cr_buf_put_bytes(b, s, s ? strlen(s) : 0);
}

void cr_rd_init(cr_rd *r, const void *data, size_t len)
{
    r->p = data;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

static int rd_fail(cr_rd *r, const char *what)
{
    if (!r->err)
        cr_error_set("damaged data: %s at byte %zu of %zu", what, r->pos, r->len);
    r->err = CR_ECORRUPT;
    return CR_ECORRUPT;
}

size_t cr_rd_left(const cr_rd *r)
{
    return r->err ? 0 : r->len - r->pos;
}

int cr_rd_raw(cr_rd *r, const uint8_t **out, size_t len)
{
    if (r->err)
        return r->err;
    if (len > r->len - r->pos)
        return rd_fail(r, "truncated field");
    *out = r->p + r->pos;
    r->pos += len;
    return 0;
}

int cr_rd_u8(cr_rd *r, uint8_t *out)
{
    const uint8_t *p;
    int err = cr_rd_raw(r, &p, 1);
    if (err < 0)
        return err;
    *out = p[0];
    return 0;
}

int cr_rd_u32(cr_rd *r, uint32_t *out)
{
    const uint8_t *p;
    int err = cr_rd_raw(r, &p, 4);
    if (err < 0)
        return err;
    *out = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

int cr_rd_u64(cr_rd *r, uint64_t *out)
{
    const uint8_t *p;
    int err = cr_rd_raw(r, &p, 8);
    if (err < 0)
        return err;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    *out = v;
    return 0;
}

int cr_rd_varint(cr_rd *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t c;
        int err = cr_rd_u8(r, &c);
        if (err < 0)
            return err;
        if (shift == 63 && (c & 0x7e))
            return rd_fail(r, "varint overflow");
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return rd_fail(r, "varint too long");
}

int cr_rd_svarint(cr_rd *r, int64_t *out)
{
    uint64_t z;
    int err = cr_rd_varint(r, &z);
    if (err < 0)
        return err;
    *out = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
    return 0;
}

int cr_rd_bytes(cr_rd *r, const uint8_t **out, size_t *outlen, size_t max)
{
    uint64_t n;
    int err;
    if ((err = cr_rd_varint(r, &n)) < 0)
        return err;
    if (n > max)
        return rd_fail(r, "field longer than allowed");
    if ((err = cr_rd_raw(r, out, (size_t)n)) < 0)
        return err;
    *outlen = (size_t)n;
    return 0;
}

int cr_rd_str(cr_rd *r, char **out, size_t max)
{
    const uint8_t *p;
    size_t n;
    int err;
    *out = NULL;
    if ((err = cr_rd_bytes(r, &p, &n, max)) < 0)
        return err;
    if (n == 0)
        return 0;
    if (memchr(p, 0, n))
        return rd_fail(r, "NUL byte inside a string");
    if (!(*out = cr_strndup((const char *)p, n))) {
        r->err = CR_ERROR;
        return CR_ERROR;
    }
    return 0;
}
