/*
 * Content-defined chunking of file data: FastCDC (Xia et al., USENIX ATC 2016)
 * with normalized chunking.
 *
 * A 64-bit "gear" hash is rolled over the bytes: h = (h << 1) + gear[byte].
 * Because of the shift, bit k of h depends on the last k + 1 bytes only, so
 * the hash forgets old bytes by itself and needs no explicit window. A cut is
 * made after the byte where (h & mask) == 0.
 *
 * - Cut-point skipping: no boundary can fall before `min`, so the first `min`
 *   bytes of a chunk are not hashed at all (this is where much of the speed
 *   comes from: about half of the bytes are never looked at).
 * - Normalized chunking: between `min` and `avg` the mask has two more bits
 *   (a cut is 4x less likely), after `avg` two fewer bits (4x more likely).
 *   This pulls chunk sizes towards `avg` and keeps few chunks at `max`.
 * - Mask bits are spread over the upper 48 bits of h, so every test depends on
 *   the last ~64 bytes rather than on the last ~20 (low bits of a gear hash
 *   see only a few bytes, which would make boundaries depend on tiny windows).
 * - The gear table is derived from the vault's secret chunker seed (ChaCha20
 *   keystream), so chunk boundaries - and therefore chunk sizes visible in
 *   pack files - do not let someone without the key confirm known content.
 */
#include "vault/vault.h"

#include <sodium.h>
#include <string.h>

/* A mask with `bits` one-bits spread evenly over bits 16..63. */
static uint64_t spread_mask(unsigned bits)
{
    uint64_t m = 0;
    if (bits > 48)
        bits = 48;
    for (unsigned i = 0; i < bits; i++)
        m |= 1ull << (63 - (i * 48) / bits);
    return m;
}

static unsigned log2_floor(size_t v)
{
    unsigned b = 0;
    while (v > 1) {
        v >>= 1;
        b++;
    }
    return b;
}

void cr_chunker_init(cr_chunker *c, const uint8_t seed[32], size_t min, size_t avg, size_t max)
{
    static const uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {'c', 'r', 'g', 'e',
                                                                     'a', 'r', '0', '1'};
    uint8_t stream[256 * 8];

    /* Programmer errors, not input: sizes come from constants. */
    if (min < 64)
        min = 64;
    if (avg < min)
        avg = min;
    if (max < avg)
        max = avg;
    c->min = min;
    c->avg = avg;
    c->max = max;

    crypto_stream_chacha20(stream, sizeof(stream), nonce, seed);
    for (int i = 0; i < 256; i++) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = (v << 8) | stream[8 * i + k];
        c->gear[i] = v;
    }
    sodium_memzero(stream, sizeof(stream));

    unsigned bits = log2_floor(avg);
    c->mask_s = spread_mask(bits + 2);
    c->mask_l = spread_mask(bits > 2 ? bits - 2 : 1);
}

size_t cr_chunker_cut(const cr_chunker *c, const uint8_t *buf, size_t len)
{
    const uint64_t *gear = c->gear;
    const uint64_t mask_s = c->mask_s, mask_l = c->mask_l;
    uint64_t h = 0;
    size_t i, normal, end;

    if (len <= c->min)
        return len;
    end = len < c->max ? len : c->max;
    normal = end < c->avg ? end : c->avg;

    i = c->min;
    /* Two bytes per iteration: the loads of gear[] do not depend on h, the
     * dependency chain is one shift-add per byte. */
    for (; i + 2 <= normal; i += 2) {
        h = (h << 1) + gear[buf[i]];
        if (!(h & mask_s))
            return i + 1;
        h = (h << 1) + gear[buf[i + 1]];
        if (!(h & mask_s))
            return i + 2;
    }
    for (; i < normal; i++) {
        h = (h << 1) + gear[buf[i]];
        if (!(h & mask_s))
            return i + 1;
    }
    for (; i + 2 <= end; i += 2) {
        h = (h << 1) + gear[buf[i]];
        if (!(h & mask_l))
            return i + 1;
        h = (h << 1) + gear[buf[i + 1]];
        if (!(h & mask_l))
            return i + 2;
    }
    for (; i < end; i++) {
        h = (h << 1) + gear[buf[i]];
        if (!(h & mask_l))
            return i + 1;
    }
    return end;
}
