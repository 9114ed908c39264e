/* FastCDC chunker: bounds, content-defined boundaries, seeds, determinism, speed. */
#include "vault/vault.h"
#include "test.h"

#include <time.h>

/* Deterministic pseudo-random bytes (xorshift64*), so failures reproduce. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t v = x * 0x2545F4914F6CDD1Dull;
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] = (uint8_t)(i * 131);
}

/* Chunk a whole buffer; returns the number of chunks, boundaries (end offsets) in *cuts. */
static size_t chunk_all(const cr_chunker *c, const uint8_t *buf, size_t len, size_t **cuts)
{
    size_t n = 0, cap = 64, pos = 0;
    *cuts = malloc(cap * sizeof(size_t));
    while (pos < len) {
        size_t k = cr_chunker_cut(c, buf + pos, len - pos);
        REQUIRE(k > 0);
        pos += k;
        if (n == cap)
            *cuts = realloc(*cuts, (cap *= 2) * sizeof(size_t));
        (*cuts)[n++] = pos;
    }
    return n;
}

static int has_cut(const size_t *cuts, size_t n, size_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cuts[mid] == v)
            return 1;
        if (cuts[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void check_bounds(const cr_chunker *c, const size_t *cuts, size_t n, size_t len)
{
    size_t prev = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t sz = cuts[i] - prev;
        if (sz > c->max || (i + 1 < n && sz < c->min))
            bad++;
        prev = cuts[i];
    }
    CHECK(bad == 0);
    CHECK(n == 0 || cuts[n - 1] == len);
}

static void test_small_params(void)
{
    uint8_t seed[32] = {1}, seed2[32] = {2};
    cr_chunker c, c2;
    size_t len = 8u << 20, extra = 100;
    uint8_t *buf = malloc(len + extra);
    size_t *cuts, *cuts2, *cuts3;

    cr_chunker_init(&c, seed, 2048, 8192, 65536);
    cr_chunker_init(&c2, seed2, 2048, 8192, 65536);
    fill_random(buf + extra, len, 42);
    const uint8_t *data = buf + extra;

    size_t n = chunk_all(&c, data, len, &cuts);
    check_bounds(&c, cuts, n, len);
    printf("small params: %zu chunks, mean %zu bytes (avg target 8192)\n", n, len / n);
    CHECK(n > len / 65536 && n < len / 2048);
    /* Normalized chunking keeps the mean near the target. */
    CHECK(len / n > 4096 && len / n < 16384);

    /* Deterministic. */
    size_t nb = chunk_all(&c, data, len, &cuts3);
    CHECK(nb == n && !memcmp(cuts, cuts3, n * sizeof(size_t)));
    free(cuts3);

    /* A different seed gives different boundaries. */
    size_t n2 = chunk_all(&c2, data, len, &cuts2);
    check_bounds(&c2, cuts2, n2, len);
    size_t same = 0;
    for (size_t i = 0; i + 1 < n2; i++)
        same += has_cut(cuts, n, cuts2[i]);
    printf("other seed: %zu of %zu boundaries coincide\n", same, n2);
    CHECK(same < n2 / 10);
    free(cuts2);

    /* Insert `extra` bytes at the start: only the first chunk(s) change, every
     * later boundary is the old one shifted by `extra`. */
    fill_random(buf, extra, 7);
    n2 = chunk_all(&c, buf, len + extra, &cuts2);
    check_bounds(&c, cuts2, n2, len + extra);
    size_t shifted = 0;
    for (size_t i = 0; i < n; i++)
        shifted += has_cut(cuts2, n2, cuts[i] + extra);
    printf("after inserting %zu bytes: %zu of %zu boundaries kept\n", extra, shifted, n);
    CHECK(shifted + 3 >= n);
    free(cuts2);
    free(cuts);
    free(buf);
}

static void test_edges(void)
{
    uint8_t seed[32] = {3};
    cr_chunker c;
    cr_chunker_init(&c, seed, CR_CHUNK_MIN, CR_CHUNK_AVG, CR_CHUNK_MAX);
    size_t len = 3 * (size_t)CR_CHUNK_MAX;
    uint8_t *buf = calloc(1, len);

    /* Short input: one chunk of everything. */
    CHECK(cr_chunker_cut(&c, buf, 0) == 0);
    CHECK(cr_chunker_cut(&c, buf, 100) == 100);
    CHECK(cr_chunker_cut(&c, buf, CR_CHUNK_MIN) == CR_CHUNK_MIN);

    /* Constant data: whatever happens, chunks respect min and max. */
    size_t *cuts, n = chunk_all(&c, buf, len, &cuts);
    check_bounds(&c, cuts, n, len);
    free(cuts);

    /* Random data at the real sizes. */
    fill_random(buf, len, 99);
    n = chunk_all(&c, buf, len, &cuts);
    check_bounds(&c, cuts, n, len);
    CHECK(cr_chunker_cut(&c, buf, len) <= CR_CHUNK_MAX);
    printf("file params: %zu chunks over %zu MiB\n", n, len >> 20);
    free(cuts);
    free(buf);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Speed is measured and printed, never asserted (see CONVENTIONS.md). */
static void bench(void)
{
    uint8_t seed[32] = {4};
    cr_chunker c;
    cr_chunker_init(&c, seed, CR_CHUNK_MIN, CR_CHUNK_AVG, CR_CHUNK_MAX);
    size_t len = 128u << 20;
    uint8_t *buf = malloc(len);
    fill_random(buf, len, 5);
    size_t total = 0, chunks = 0;
    double t0 = now();
    for (int rep = 0; rep < 4; rep++) {
        size_t pos = 0;
        while (pos < len) {
            size_t k = cr_chunker_cut(&c, buf + pos, len - pos);
            pos += k;
            chunks++;
        }
        total += len;
    }
    double dt = now() - t0;
    printf("chunker speed: %.2f GB/s (%zu MiB in %.3f s, mean chunk %zu KiB)\n",
           (double)total / dt / 1e9, total >> 20, dt, total / chunks / 1024);
    CHECK(chunks > 0);
    free(buf);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_small_params();
    test_edges();
    bench();
    return test_summary("test_chunker");
}
