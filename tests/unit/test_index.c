/* The in-memory index: lookups, claims, threads, encoding, damage, load from a vault. */
#include "vault/vault.h"
#include "test.h"
#include "fixture.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void rand_id(cr_id *id)
{
    randombytes_buf(id->b, CR_ID_LEN);
}

/* n entries tiling a pack from 0 (as a real pack header would give). */
static cr_pack_entry *make_entries(size_t n)
{
    cr_pack_entry *e = calloc(n ? n : 1, sizeof(*e));
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        rand_id(&e[i].id);
        e[i].type = i % 3 ? CR_BLOB_DATA : CR_BLOB_TREE;
        e[i].flags = i % 2 ? CR_BLOB_FLAG_ZSTD : 0;
        e[i].raw_len = 1000 + (uint32_t)i;
        e[i].stored_len = e[i].flags ? 500 : e[i].raw_len + CR_SEAL_OVERHEAD;
        e[i].offset = off;
        off += e[i].stored_len;
    }
    return e;
}

static int entry_eq(const cr_pack_entry *a, const cr_pack_entry *b)
{
    return !memcmp(a->id.b, b->id.b, CR_ID_LEN) && a->type == b->type && a->flags == b->flags &&
           a->offset == b->offset && a->stored_len == b->stored_len && a->raw_len == b->raw_len;
}

static void test_basic(void)
{
    cr_index *idx;
    cr_id pack, other;
    cr_blob_loc loc;
    REQUIRE(cr_index_new(&idx) == 0);
    rand_id(&pack);
    rand_id(&other);
    cr_pack_entry *e = make_entries(3);

    CHECK(cr_index_lookup(idx, &e[0].id, NULL) == 0);
    CHECK(cr_index_claim(idx, &e[0].id) == 1);
    CHECK(cr_index_claim(idx, &e[0].id) == 0); /* claimed by "another thread" */
    CHECK(cr_index_claim(idx, &e[1].id) == 1);
    cr_index_unclaim(idx, &e[1].id);
    CHECK(cr_index_claim(idx, &e[1].id) == 1);
    cr_index_unclaim(idx, &e[1].id);
    cr_index_unclaim(idx, &e[1].id); /* twice: harmless */

    CHECK_OK(cr_index_add_pack(idx, &pack, e, 3, 1));
    CHECK(cr_index_pack_count(idx) == 1 && cr_index_blob_count(idx) == 3);
    for (int i = 0; i < 3; i++) {
        memset(&loc, 0, sizeof(loc));
        CHECK(cr_index_lookup(idx, &e[i].id, &loc) == 1);
        CHECK(!memcmp(&loc.pack, &pack, 32) && entry_eq(&loc.entry, &e[i]));
        CHECK(cr_index_claim(idx, &e[i].id) == 0); /* known */
    }
    /* A same-prefix id that differs later is a different blob. */
    cr_id near = e[0].id;
    near.b[31] ^= 1;
    CHECK(cr_index_lookup(idx, &near, NULL) == 0);

    /* The same pack again adds nothing; another pack with a known blob keeps
     * the first location. */
    CHECK_OK(cr_index_add_pack(idx, &pack, e, 3, 0));
    CHECK(cr_index_pack_count(idx) == 1 && cr_index_blob_count(idx) == 3);
    CHECK_OK(cr_index_add_pack(idx, &other, e, 1, 1));
    CHECK(cr_index_pack_count(idx) == 2 && cr_index_blob_count(idx) == 3);
    CHECK(cr_index_lookup(idx, &e[0].id, &loc) == 1 && !memcmp(&loc.pack, &pack, 32));
    /* Empty pack. */
    rand_id(&other);
    CHECK_OK(cr_index_add_pack(idx, &other, e, 0, 1));
    CHECK(cr_index_pack_count(idx) == 3);
    free(e);
    cr_index_free(idx);
    cr_index_free(NULL);
}

static int count_cb(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    size_t *c = payload;
    c[0]++;
    c[1] += n;
    return c[2] && c[0] == c[2] ? 42 : 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A million blobs: growth, lookups, encode/decode of a large index. */
static void test_many(void)
{
    enum { PACKS = 1000, PER = 1000 };
    cr_index *idx, *idx2;
    cr_pack_entry **all = malloc(PACKS * sizeof(*all));
    REQUIRE(cr_index_new(&idx) == 0);
    for (int p = 0; p < PACKS; p++)
        all[p] = make_entries(PER);
    double t0 = now();
    for (int p = 0; p < PACKS; p++) {
        cr_id pid;
        rand_id(&pid);
        CHECK_OK(cr_index_add_pack(idx, &pid, all[p], PER, p % 2));
    }
    double t1 = now();
    size_t found = 0;
    for (int p = 0; p < PACKS; p++)
        for (int i = 0; i < PER; i++)
            found += (size_t)cr_index_lookup(idx, &all[p][i].id, NULL);
    double t2 = now();
    size_t missing = 0;
    for (int i = 0; i < 100000; i++) {
        cr_id id;
        rand_id(&id);
        missing += (size_t)cr_index_lookup(idx, &id, NULL);
    }
    CHECK(found == (size_t)PACKS * PER);
    CHECK(missing == 0);
    CHECK(cr_index_blob_count(idx) == (size_t)PACKS * PER);
    printf("index: %d blobs added in %.3f s, looked up in %.3f s (%.0f ns each)\n", PACKS * PER,
           t1 - t0, t2 - t1, (t2 - t1) * 1e9 / (PACKS * PER));

    size_t c[3] = {0, 0, 0};
    CHECK(cr_index_foreach_pack(idx, count_cb, c) == 0);
    CHECK(c[0] == PACKS && c[1] == (size_t)PACKS * PER);
    size_t s[3] = {0, 0, 5};
    CHECK(cr_index_foreach_pack(idx, count_cb, s) == 42 && s[0] == 5);

    /* Round trip: everything, then only the new packs. */
    cr_buf b = CR_BUF_INIT;
    CHECK_OK(cr_index_encode(&b, idx, 0));
    REQUIRE(cr_index_new(&idx2) == 0);
    CHECK_OK(cr_index_decode(idx2, b.ptr, b.len, 0));
    CHECK(cr_index_pack_count(idx2) == PACKS && cr_index_blob_count(idx2) == (size_t)PACKS * PER);
    int same = 1;
    for (int p = 0; p < PACKS; p += 37)
        for (int i = 0; i < PER; i += 13) {
            cr_blob_loc loc;
            if (cr_index_lookup(idx2, &all[p][i].id, &loc) != 1 ||
                !entry_eq(&loc.entry, &all[p][i]))
                same = 0;
        }
    CHECK(same);
    cr_buf c2 = CR_BUF_INIT;
    CHECK_OK(cr_index_encode(&c2, idx2, 0));
    CHECK(c2.len == b.len && !memcmp(c2.ptr, b.ptr, b.len));
    cr_index_free(idx2);

    cr_buf_reset(&b);
    CHECK_OK(cr_index_encode(&b, idx, 1));
    REQUIRE(cr_index_new(&idx2) == 0);
    CHECK_OK(cr_index_decode(idx2, b.ptr, b.len, 1));
    CHECK(cr_index_pack_count(idx2) == PACKS / 2);
    cr_index_free(idx2);

    cr_buf_free(&b);
    cr_buf_free(&c2);
    for (int p = 0; p < PACKS; p++)
        free(all[p]);
    free(all);
    cr_index_free(idx);
}

/* Many claims and releases: backward-shift deletion must keep every chain intact. */
static void test_claims(void)
{
    enum { N = 50000 };
    cr_index *idx;
    cr_id *ids = malloc(N * sizeof(*ids));
    REQUIRE(cr_index_new(&idx) == 0);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        rand_id(&ids[i]);
        /* Force collisions: share the first 8 bytes in groups of 4. */
        if (i % 4)
            memcpy(ids[i].b, ids[i - i % 4].b, 8);
        ok &= cr_index_claim(idx, &ids[i]) == 1;
    }
    for (int i = 0; i < N; i += 2)
        cr_index_unclaim(idx, &ids[i]);
    for (int i = 0; i < N; i++)
        ok &= cr_index_claim(idx, &ids[i]) == (i % 2 == 0);
    for (int i = 0; i < N; i++)
        cr_index_unclaim(idx, &ids[i]);
    for (int i = 0; i < N; i++)
        ok &= cr_index_claim(idx, &ids[i]) == 1;
    CHECK(ok);
    free(ids);
    cr_index_free(idx);
}

typedef struct claim_job {
    cr_index *idx;
    cr_id *ids;
    int n, won;
} claim_job;

static void *claim_thread(void *arg)
{
    claim_job *j = arg;
    for (int i = 0; i < j->n; i++) {
        if (cr_index_claim(j->idx, &j->ids[i])) {
            j->won++;
            if (i % 3 == 0) { /* store some at once, as a pack */
                cr_pack_entry e = {0};
                cr_id pid;
                e.id = j->ids[i];
                e.type = CR_BLOB_DATA;
                e.stored_len = CR_SEAL_OVERHEAD;
                rand_id(&pid);
                cr_index_add_pack(j->idx, &pid, &e, 1, 1);
            }
        }
        cr_index_lookup(j->idx, &j->ids[(i * 7) % j->n], NULL);
    }
    return NULL;
}

static void test_threads(void)
{
    enum { N = 20000, T = 4 };
    cr_index *idx;
    cr_id *ids = malloc(N * sizeof(*ids));
    REQUIRE(cr_index_new(&idx) == 0);
    for (int i = 0; i < N; i++)
        rand_id(&ids[i]);
    pthread_t th[T];
    claim_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (claim_job){idx, ids, N, 0};
        pthread_create(&th[t], NULL, claim_thread, &jobs[t]);
    }
    int won = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        won += jobs[t].won;
    }
    /* Each id is won by exactly one thread. */
    CHECK(won == N);
    free(ids);
    cr_index_free(idx);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_decode_damage(void)
{
    cr_index *idx;
    cr_buf b = CR_BUF_INIT;
    cr_id pack;
    REQUIRE(cr_index_new(&idx) == 0);
    rand_id(&pack);
    cr_pack_entry *e = make_entries(3);
    CHECK_OK(cr_index_add_pack(idx, &pack, e, 3, 1));
    CHECK_OK(cr_index_encode(&b, idx, 0));
    cr_index_free(idx);
    /* Layout: "CRIX" 1 npacks=1 id[32] n=3, then 46-byte entries at 39. */
    REQUIRE(b.len == 4 + 1 + 1 + 32 + 1 + 3 * 46);
    uint8_t *x = malloc(b.len + 1);

    /* Every proper prefix fails and adds nothing. */
    int ok = 1;
    for (size_t cut = 0; cut < b.len; cut++) {
        REQUIRE(cr_index_new(&idx) == 0);
        if (cr_index_decode(idx, b.ptr, cut, 0) != CR_ECORRUPT || cr_index_pack_count(idx) != 0)
            ok = 0;
        cr_index_free(idx);
    }
    CHECK(ok);

#define EXPECT(code)                                                                               \
    do {                                                                                           \
        REQUIRE(cr_index_new(&idx) == 0);                                                          \
        CHECK(cr_index_decode(idx, x, len, 0) == (code));                                          \
        CHECK(cr_index_blob_count(idx) == ((code) == 0 ? 3u : 0u));                                \
        cr_index_free(idx);                                                                        \
    } while (0)
    size_t len = b.len;
    memcpy(x, b.ptr, len);
    EXPECT(0);
    x[0] = 'X'; /* magic */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    x[4] = 2; /* version */
    EXPECT(CR_EVERSION);
    memcpy(x, b.ptr, len);
    x[39] = 7; /* unknown type */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    x[40] = 0x80; /* unknown flag */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    put_u32(x + 39 + 46 + 2, 12345); /* second entry's offset does not follow the first */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    put_u32(x + 39 + 6, 10); /* stored_len below the seal overhead */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    put_u32(x + 39 + 10, CR_MAX_BLOB + 1); /* raw_len too large */
    EXPECT(CR_ECORRUPT);
    memcpy(x, b.ptr, len);
    x[len] = 0; /* trailing byte */
    len++;
    EXPECT(CR_ECORRUPT);
    len--;

    /* Huge counts: refused from the bytes left, before any allocation. */
    uint8_t huge[64];
    memcpy(huge, "CRIX\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 14);
    REQUIRE(cr_index_new(&idx) == 0);
    CHECK(cr_index_decode(idx, huge, 14, 0) == CR_ECORRUPT);
    memcpy(huge, "CRIX\x01\x01", 6);
    memset(huge + 6, 0x22, 32);
    memcpy(huge + 38, "\xff\xff\xff\xff\x0f", 5);
    CHECK(cr_index_decode(idx, huge, 43, 0) == CR_ECORRUPT);
    CHECK(cr_index_decode(idx, "", 0, 0) == CR_ECORRUPT);
    /* An empty index is valid. */
    CHECK(cr_index_decode(idx, "CRIX\x01\x00", 6, 0) == 0);
    CHECK(cr_index_pack_count(idx) == 0);
    cr_index_free(idx);
#undef EXPECT
    free(x);
    free(e);
    cr_buf_free(&b);
}

static void add_blobs(cr_repo *r, cr_packer *p, int n, cr_id *ids)
{
    uint8_t buf[3000];
    for (int i = 0; i < n; i++) {
        randombytes_buf(buf, sizeof(buf));
        cr_blob_id(&ids[i], &r->keys, buf, sizeof(buf));
        REQUIRE(cr_index_claim(r->index, &ids[i]) == 1);
        REQUIRE(cr_packer_add(p, CR_BLOB_DATA, &ids[i], buf, sizeof(buf), NULL) == 0);
    }
    REQUIRE(cr_packer_flush(p) == 0);
}

static size_t count_dir(cr_repo *r, const char *kind)
{
    cr_id *ids;
    size_t n;
    REQUIRE(cr_repo_list(&ids, &n, r, kind) == 0);
    free(ids);
    return n;
}

static void test_save_load(void)
{
    char dir[64];
    cr_repo *r = fx_repo_new(dir, "index");
    cr_packer *p;
    cr_id a[10], b[10], c[10];
    cr_index *idx;
    cr_buf enc = CR_BUF_INIT;
    REQUIRE(cr_packer_new(&p, r) == 0);

    /* Nothing new: no index file. */
    CHECK_OK(cr_index_save(r->index, r));
    CHECK(count_dir(r, "index") == 0);

    add_blobs(r, p, 10, a);
    add_blobs(r, p, 10, b);
    CHECK_OK(cr_index_save(r->index, r));
    CHECK(count_dir(r, "index") == 1);
    CHECK_OK(cr_index_encode(&enc, r->index, 1));
    CHECK(enc.len == 6); /* saved: nothing new any more */
    CHECK_OK(cr_index_save(r->index, r));
    CHECK(count_dir(r, "index") == 1);

    /* A pack written after the save (an interrupted backup). */
    add_blobs(r, p, 10, c);
    CHECK(count_dir(r, "data") == 3);

    REQUIRE(cr_index_load(&idx, r) == 0);
    CHECK(cr_index_pack_count(idx) == 3 && cr_index_blob_count(idx) == 30);
    int all = 1;
    for (int i = 0; i < 10; i++)
        all &= cr_index_lookup(idx, &a[i], NULL) && cr_index_lookup(idx, &b[i], NULL) &&
               cr_index_lookup(idx, &c[i], NULL);
    CHECK(all);
    /* Only the recovered pack is new. */
    cr_buf_reset(&enc);
    CHECK_OK(cr_index_encode(&enc, idx, 1));
    cr_index *tmp;
    REQUIRE(cr_index_new(&tmp) == 0);
    CHECK_OK(cr_index_decode(tmp, enc.ptr, enc.len, 0));
    CHECK(cr_index_pack_count(tmp) == 1 && cr_index_lookup(tmp, &c[3], NULL));
    cr_index_free(tmp);
    CHECK_OK(cr_index_save(idx, r));
    CHECK(count_dir(r, "index") == 2);
    cr_index_free(idx);

    /* Damage: one index file garbled, one pack without index file garbled.
     * The garbled index is skipped and its packs are read from their headers;
     * the garbled pack is skipped (verify reports it). */
    cr_id *files;
    size_t nf;
    REQUIRE(cr_repo_list(&files, &nf, r, "index") == 0 && nf == 2);
    for (size_t i = 0; i < nf; i++) {
        char name[96], hex[65];
        snprintf(name, sizeof(name), "index/%s", cr_id_to_hex(hex, &files[i]));
        REQUIRE(cr_store_delete(r->store, name) == 0);
        REQUIRE(cr_store_put(r->store, name, "garbage", 7, 0) == 0);
        break;
    }
    free(files);
    cr_id extra[3];
    add_blobs(r, p, 3, extra); /* a fourth pack, no index names it */
    cr_blob_loc loc;
    REQUIRE(cr_index_lookup(r->index, &extra[0], &loc) == 1);
    char path[96];
    cr_pack_path(path, sizeof(path), &loc.pack);
    REQUIRE(cr_store_delete(r->store, path) == 0);
    REQUIRE(cr_store_put(r->store, path, "not a pack at all", 17, 0) == 0);

    REQUIRE(cr_index_load(&idx, r) == 0);
    CHECK(cr_index_pack_count(idx) == 3 && cr_index_blob_count(idx) == 30);
    CHECK(cr_index_lookup(idx, &extra[0], NULL) == 0);
    all = 1;
    for (int i = 0; i < 10; i++)
        all &= cr_index_lookup(idx, &a[i], NULL) && cr_index_lookup(idx, &b[i], NULL) &&
               cr_index_lookup(idx, &c[i], NULL);
    CHECK(all);
    cr_index_free(idx);

    cr_buf_free(&enc);
    cr_packer_free(p);
    fx_repo_free(r, dir);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_basic();
    test_claims();
    test_threads();
    test_decode_damage();
    test_save_load();
    test_many();
    return test_summary("test_index");
}
