/* Packs: packer round trip, header parsing and every kind of damage. */
#include "vault/vault.h"
#include "test.h"
#include "fixture.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *read_pack(cr_repo *r, const cr_id *pack, size_t *len)
{
    char path[96];
    cr_buf b = CR_BUF_INIT;
    cr_pack_path(path, sizeof(path), pack);
    REQUIRE(cr_store_get(r->store, path, &b, CR_MAX_PACK) == 0);
    *len = b.len;
    return b.ptr;
}

static void write_pack(cr_repo *r, const cr_id *pack, const void *data, size_t len)
{
    char path[96];
    cr_pack_path(path, sizeof(path), pack);
    cr_store_delete(r->store, path);
    REQUIRE(cr_store_put(r->store, path, data, len, 0) == 0);
}

typedef struct first_pack {
    cr_id id;
    size_t n, count;
} first_pack;

static int grab_pack(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload)
{
    first_pack *f = payload;
    if (f->count++ == 0) {
        f->id = *pack;
        f->n = n;
    }
    return 0;
}

#define NBLOBS 6

static void test_round_trip(void)
{
    char dir[64];
    cr_repo *r = fx_repo_new(dir, "pack");
    cr_packer *p;
    static uint8_t blobs[NBLOBS][200000];
    size_t lens[NBLOBS] = {0, 10, 63, 64, 200000, 150000};
    cr_id ids[NBLOBS];

    memset(blobs[1], 'x', 10);
    memset(blobs[2], 'y', 63);
    memset(blobs[3], 'z', 64);
    for (size_t i = 0; i < 200000; i++)
        blobs[4][i] = (uint8_t)("hospital records "[i % 17]); /* compressible */
    randombytes_buf(blobs[5], lens[5]);                       /* incompressible */

    REQUIRE(cr_packer_new(&p, r) == 0);
    for (int i = 0; i < NBLOBS; i++) {
        size_t stored = 0;
        cr_blob_id(&ids[i], &r->keys, blobs[i], lens[i]);
        CHECK(cr_index_claim(r->index, &ids[i]) == 1);
        CHECK_OK(cr_packer_add(p, i == 1 ? CR_BLOB_TREE : CR_BLOB_DATA, &ids[i], blobs[i], lens[i],
                               &stored));
        CHECK(stored >= CR_SEAL_OVERHEAD);
    }
    CHECK(cr_packer_size(p) > 0);
    CHECK_OK(cr_packer_flush(p));
    CHECK(cr_packer_size(p) == 0);
    CHECK_OK(cr_packer_flush(p)); /* nothing to write: no-op */
    CHECK(cr_index_pack_count(r->index) == 1);
    CHECK(cr_index_blob_count(r->index) == NBLOBS);
    /* Claims were cleared by adding the pack: the ids are known now. */
    CHECK(cr_index_claim(r->index, &ids[0]) == 0);

    /* Flags: tiny and incompressible blobs stay raw, compressible ones shrink. */
    cr_blob_loc loc;
    REQUIRE(cr_index_lookup(r->index, &ids[4], &loc) == 1);
    CHECK(loc.entry.flags == CR_BLOB_FLAG_ZSTD);
    CHECK(loc.entry.stored_len < 20000);
    CHECK(loc.entry.raw_len == 200000);
    REQUIRE(cr_index_lookup(r->index, &ids[5], &loc) == 1);
    CHECK(loc.entry.flags == 0);
    CHECK(loc.entry.stored_len == lens[5] + CR_SEAL_OVERHEAD);
    REQUIRE(cr_index_lookup(r->index, &ids[2], &loc) == 1);
    CHECK(loc.entry.flags == 0);

    /* The file is named by its SHA-256. */
    first_pack fp = {{{0}}, 0, 0};
    cr_index_foreach_pack(r->index, grab_pack, &fp);
    CHECK(fp.count == 1 && fp.n == NBLOBS);
    size_t flen;
    uint8_t *file = read_pack(r, &fp.id, &flen), hash[32];
    cr_sha256(hash, file, flen);
    CHECK(!memcmp(hash, fp.id.b, 32));
    char path[96], hex[65];
    cr_pack_path(path, sizeof(path), &fp.id);
    cr_id_to_hex(hex, &fp.id);
    CHECK(!strncmp(path, "data/", 5) && !strncmp(path + 5, hex, 2) && path[7] == '/' &&
          !strcmp(path + 8, hex));

    /* Header from memory and from disk agree with the index. */
    cr_pack_entry *e = NULL, *e2 = NULL;
    size_t n = 0, n2 = 0;
    uint64_t size = 0;
    CHECK_OK(cr_pack_decode_header(&e, &n, &r->keys, file, flen));
    CHECK_OK(cr_pack_read_header(&e2, &n2, r, &fp.id, &size));
    CHECK(n == NBLOBS && n2 == NBLOBS && size == flen);
    CHECK(e && e2 && !memcmp(e, e2, n * sizeof(*e)));
    for (size_t i = 0; e && i < n; i++) {
        CHECK(!memcmp(e[i].id.b, ids[i].b, 32));
        REQUIRE(cr_index_lookup(r->index, &ids[i], &loc) == 1);
        CHECK(loc.entry.offset == e[i].offset && loc.entry.stored_len == e[i].stored_len);
    }
    CHECK(e[1].type == CR_BLOB_TREE && e[0].type == CR_BLOB_DATA);

    /* Every blob loads back, byte for byte. */
    cr_buf out = CR_BUF_INIT;
    for (int i = 0; i < NBLOBS; i++) {
        int rc = cr_repo_load_blob(&out, r, &ids[i], i == 1 ? CR_BLOB_TREE : CR_BLOB_DATA);
        CHECK(rc == 0);
        CHECK(out.len == lens[i] && (lens[i] == 0 || !memcmp(out.ptr, blobs[i], lens[i])));
    }
    /* Wrong type, unknown id. */
    CHECK(cr_repo_load_blob(&out, r, &ids[1], CR_BLOB_DATA) == CR_ECORRUPT);
    cr_id unknown;
    memset(unknown.b, 0xee, 32);
    CHECK(cr_repo_load_blob(&out, r, &unknown, CR_BLOB_DATA) == CR_ENOTFOUND);

    /* cr_blob_decode straight from the file bytes; with a wrong id it fails. */
    CHECK_OK(cr_blob_decode(&out, &r->keys, NULL, &e[4], file + e[4].offset));
    CHECK(out.len == lens[4]);
    cr_pack_entry bad = e[4];
    bad.id.b[0] ^= 1;
    CHECK(cr_blob_decode(&out, &r->keys, NULL, &bad, file + bad.offset) == CR_ECORRUPT);
    bad = e[4];
    bad.raw_len = 1000;
    CHECK(cr_blob_decode(&out, &r->keys, NULL, &bad, file + bad.offset) == CR_ECORRUPT);

    /* Flip one byte inside each sealed blob on disk: loading it is CR_ECORRUPT
     * and the message names the blob; the other blobs still load. */
    for (int i = 0; i < NBLOBS; i++) {
        uint8_t *copy = malloc(flen);
        memcpy(copy, file, flen);
        copy[e[i].offset + e[i].stored_len / 2] ^= 0x40;
        write_pack(r, &fp.id, copy, flen);
        int rc = cr_repo_load_blob(&out, r, &ids[i], i == 1 ? CR_BLOB_TREE : CR_BLOB_DATA);
        CHECK(rc == CR_ECORRUPT);
        cr_id_to_hex(hex, &ids[i]);
        CHECK(strstr(cr_error_last(), hex) != NULL);
        int j = (i + 4) % NBLOBS;
        CHECK(cr_repo_load_blob(&out, r, &ids[j], j == 1 ? CR_BLOB_TREE : CR_BLOB_DATA) == 0);
        free(copy);
    }
    /* Truncated pack on disk: header unreadable, blobs past the end unreadable. */
    write_pack(r, &fp.id, file, flen / 2);
    free(e2);
    CHECK(cr_pack_read_header(&e2, &n2, r, &fp.id, NULL) < 0 && !e2);
    CHECK(cr_repo_load_blob(&out, r, &ids[5], CR_BLOB_DATA) == CR_ECORRUPT);
    /* Missing pack. */
    char ppath[96];
    cr_pack_path(ppath, sizeof(ppath), &fp.id);
    cr_store_delete(r->store, ppath);
    CHECK(cr_repo_load_blob(&out, r, &ids[4], CR_BLOB_DATA) == CR_ECORRUPT);
    CHECK(cr_pack_read_header(&e2, &n2, r, &fp.id, NULL) < 0);

    cr_buf_free(&out);
    free(e);
    free(e2);
    free(file);
    cr_packer_free(p);
    fx_repo_free(r, dir);
}

/* Build a pack by hand with a forged (but properly sealed) header. */
static size_t forge(uint8_t *out, const cr_keys *k, size_t data_len, const uint8_t *hdr,
                    size_t hlen, uint32_t version)
{
    memset(out, 0xab, data_len);
    cr_seal(out + data_len, k->enc, "cleanroom-pack-header", 21, hdr, hlen);
    size_t pos = data_len + hlen + CR_SEAL_OVERHEAD;
    uint32_t sealed = (uint32_t)(hlen + CR_SEAL_OVERHEAD);
    for (int i = 0; i < 4; i++)
        out[pos + i] = (uint8_t)(sealed >> (8 * i));
    for (int i = 0; i < 4; i++)
        out[pos + 4 + i] = (uint8_t)(version >> (8 * i));
    memcpy(out + pos + 8, "CRPK", 4);
    return pos + 12;
}

static size_t hdr_entry(uint8_t *h, uint8_t type, uint8_t flags, uint32_t stored, uint32_t raw)
{
    h[0] = type;
    h[1] = flags;
    for (int i = 0; i < 4; i++) {
        h[2 + i] = (uint8_t)(stored >> (8 * i));
        h[6 + i] = (uint8_t)(raw >> (8 * i));
    }
    memset(h + 10, 0x11, 32);
    return 42;
}

static void test_header_damage(void)
{
    uint8_t master[32] = {9};
    cr_keys k, other;
    uint8_t file[4096], hdr[512];
    cr_pack_entry *e = NULL;
    size_t n, len, hl;

    cr_keys_derive(&k, master);
    master[0] = 10;
    cr_keys_derive(&other, master);

    /* A valid forged pack: two blobs, 100 and 60 bytes stored. */
    memcpy(hdr, "CRPH\x02", 5);
    hl = 5 + hdr_entry(hdr + 5, 1, 0, 100, 60);
    hl += hdr_entry(hdr + hl, 2, 1, 60, 1000);
    len = forge(file, &k, 160, hdr, hl, 1);
    CHECK_OK(cr_pack_decode_header(&e, &n, &k, file, len));
    CHECK(n == 2 && e && e[1].offset == 100 && e[1].raw_len == 1000);
    free(e);
    e = NULL;

    /* Wrong key: authentication fails. */
    CHECK(cr_pack_decode_header(&e, &n, &other, file, len) == CR_ECORRUPT && !e);

    /* Every truncation fails cleanly (the trailer moves, or lengths no longer fit). */
    int ok = 1;
    for (size_t cut = 0; cut < len; cut++)
        if ((cut && cr_pack_decode_header(&e, &n, &k, file + cut, len - cut) == 0) ||
            cr_pack_decode_header(&e, &n, &k, file, cut) == 0)
            ok = 0;
    CHECK(ok && !e);

    /* Any flipped bit in the sealed header or the trailer is caught. */
    ok = 1;
    for (size_t i = 160; i < len; i++) {
        file[i] ^= 4;
        if (cr_pack_decode_header(&e, &n, &k, file, len) == 0)
            ok = 0;
        file[i] ^= 4;
    }
    CHECK(ok);

    /* Unknown version. */
    len = forge(file, &k, 160, hdr, hl, 2);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_EVERSION);

    /* Header length pointing outside the file. */
    len = forge(file, &k, 160, hdr, hl, 1);
    file[len - 12] = 0xff;
    file[len - 11] = 0xff;
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);

    /* Entries that do not tile the data region: too long, too short. */
    len = forge(file, &k, 150, hdr, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    len = forge(file, &k, 170, hdr, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);

    /* Unknown type; stored_len below the seal overhead; raw_len too large;
     * raw blob whose sizes disagree; huge count; trailing bytes. */
    uint8_t h2[512];
    memcpy(h2, "CRPH\x01", 5);
    hl = 5 + hdr_entry(h2 + 5, 3, 0, 100, 60);
    len = forge(file, &k, 100, h2, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    hdr_entry(h2 + 5, 1, 1, 20, 60);
    len = forge(file, &k, 20, h2, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    hdr_entry(h2 + 5, 1, 1, 100, CR_MAX_BLOB + 1);
    len = forge(file, &k, 100, h2, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    hdr_entry(h2 + 5, 1, 0, 100, 61);
    len = forge(file, &k, 100, h2, hl, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    hdr_entry(h2 + 5, 1, 0, 100, 60);
    len = forge(file, &k, 100, h2, hl, 1);
    CHECK_OK(cr_pack_decode_header(&e, &n, &k, file, len));
    free(e);
    e = NULL;
    h2[hl] = 0;
    len = forge(file, &k, 100, h2, hl + 1, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
    memcpy(h2, "CRPH\xff\xff\xff\xff\x0f", 9);
    len = forge(file, &k, 100, h2, 9, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT && !e);
    memcpy(h2, "XXXX\x00", 5);
    len = forge(file, &k, 0, h2, 5, 1);
    CHECK(cr_pack_decode_header(&e, &n, &k, file, len) == CR_ECORRUPT);
}

static void test_autoflush(void)
{
    char dir[64];
    cr_repo *r = fx_repo_new(dir, "pack");
    cr_packer *p;
    size_t sz = 1u << 20, count = CR_PACK_TARGET / sz + 2;
    uint8_t *buf = malloc(sz);
    REQUIRE(cr_packer_new(&p, r) == 0);
    for (size_t i = 0; i < count; i++) {
        cr_id id;
        randombytes_buf(buf, sz);
        cr_blob_id(&id, &r->keys, buf, sz);
        CHECK_OK(cr_packer_add(p, CR_BLOB_DATA, &id, buf, sz, NULL));
        CHECK(cr_packer_size(p) <= CR_PACK_TARGET + sz + CR_SEAL_OVERHEAD);
    }
    CHECK(cr_index_pack_count(r->index) == 1);
    CHECK_OK(cr_packer_flush(p));
    CHECK(cr_index_pack_count(r->index) == 2);
    CHECK(cr_index_blob_count(r->index) == count);
    /* Too large a blob is refused. */
    cr_id id = {{0}};
    CHECK(cr_packer_add(p, CR_BLOB_DATA, &id, buf, CR_MAX_BLOB + 1, NULL) == CR_EINPUT);
    /* Blobs never flushed give their claims back. */
    CHECK(cr_index_claim(r->index, &id) == 1);
    CHECK_OK(cr_packer_add(p, CR_BLOB_DATA, &id, buf, 100, NULL));
    cr_packer_free(p);
    CHECK(cr_index_claim(r->index, &id) == 1);
    free(buf);
    fx_repo_free(r, dir);
}

/* Concurrent loads through one index (restore workers). */
typedef struct load_job {
    cr_repo *r;
    cr_id *ids;
    uint8_t (*data)[4096];
    int n, bad;
} load_job;

static void *load_thread(void *arg)
{
    load_job *j = arg;
    cr_buf out = CR_BUF_INIT;
    for (int rep = 0; rep < 20; rep++)
        for (int i = 0; i < j->n; i++)
            if (cr_repo_load_blob(&out, j->r, &j->ids[i], CR_BLOB_DATA) != 0 || out.len != 4096 ||
                memcmp(out.ptr, j->data[i], 4096))
                j->bad++;
    cr_buf_free(&out);
    return NULL;
}

static void test_threads(void)
{
    char dir[64];
    cr_repo *r = fx_repo_new(dir, "pack");
    cr_packer *p;
    enum { N = 64 };
    static uint8_t data[N][4096];
    cr_id ids[N];
    REQUIRE(cr_packer_new(&p, r) == 0);
    for (int i = 0; i < N; i++) {
        memset(data[i], i, 4096);
        if (i % 2)
            randombytes_buf(data[i], 4096);
        cr_blob_id(&ids[i], &r->keys, data[i], 4096);
        CHECK_OK(cr_packer_add(p, CR_BLOB_DATA, &ids[i], data[i], 4096, NULL));
        if (i % 16 == 15)
            CHECK_OK(cr_packer_flush(p));
    }
    pthread_t th[4];
    load_job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (load_job){r, ids, data, N, 0};
        pthread_create(&th[t], NULL, load_thread, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK(jobs[t].bad == 0);
    }
    cr_packer_free(p);
    fx_repo_free(r, dir);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_round_trip();
    test_header_damage();
    test_autoflush();
    test_threads();
    return test_summary("test_pack");
}
