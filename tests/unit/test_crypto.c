/* Unit tests of src/vault/crypto.c: key derivation, blob ids, sealing, zstd. */
#include "test.h"
#include "vault/vault.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>

static void test_init(void)
{
    CHECK_OK(cr_init());
    CHECK_OK(cr_init()); /* idempotent */
}

static void test_keys(void)
{
    uint8_t master[32], master2[32];
    cr_keys a, b, c;
    for (int i = 0; i < 32; i++) {
        master[i] = (uint8_t)i;
        master2[i] = (uint8_t)(i + 1);
    }
    cr_keys_derive(&a, master);
    cr_keys_derive(&b, master);
    cr_keys_derive(&c, master2);
    CHECK(memcmp(&a, &b, sizeof(a)) == 0);
    CHECK(memcmp(a.enc, c.enc, 32) != 0);
    CHECK(memcmp(a.enc, a.mac, 32) != 0);
    CHECK(memcmp(a.mac, a.chunker, 32) != 0);
    CHECK(memcmp(a.enc, master, 32) != 0);
}

static void ref_hmac(uint8_t out[32], const uint8_t key[32], const void *data, size_t len)
{
    unsigned int ol = 0;
    HMAC(EVP_sha256(), key, 32, data, len, out, &ol);
}

typedef struct thr_arg {
    const cr_keys *k1, *k2;
    int bad;
} thr_arg;

static void *thr(void *p)
{
    thr_arg *a = p;
    uint8_t buf[1000], ref[32];
    for (int i = 0; i < 2000; i++) {
        const cr_keys *k = (i & 1) ? a->k1 : a->k2;
        cr_id id;
        memset(buf, i & 0xff, sizeof(buf));
        cr_blob_id(&id, k, buf, (size_t)(i % 1000));
        ref_hmac(ref, k->mac, buf, (size_t)(i % 1000));
        if (memcmp(ref, id.b, 32) != 0)
            a->bad++;
    }
    return NULL;
}

static void test_blob_id(void)
{
    uint8_t m1[32] = {1}, m2[32] = {2}, ref[32];
    cr_keys k1, k2;
    cr_id id1, id2, id3;
    static uint8_t big[1 << 20];
    cr_keys_derive(&k1, m1);
    cr_keys_derive(&k2, m2);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);

    cr_blob_id(&id1, &k1, "hello", 5);
    ref_hmac(ref, k1.mac, "hello", 5);
    CHECK(memcmp(id1.b, ref, 32) == 0);
    cr_blob_id(&id2, &k1, "hello", 5); /* reused context gives the same answer */
    CHECK(memcmp(id1.b, id2.b, 32) == 0);
    cr_blob_id(&id3, &k2, "hello", 5); /* another vault: another id */
    CHECK(memcmp(id1.b, id3.b, 32) != 0);
    cr_blob_id(&id1, &k1, "", 0);
    ref_hmac(ref, k1.mac, "", 0);
    CHECK(memcmp(id1.b, ref, 32) == 0);
    cr_blob_id(&id1, &k1, big, sizeof(big));
    ref_hmac(ref, k1.mac, big, sizeof(big));
    CHECK(memcmp(id1.b, ref, 32) == 0);

    pthread_t t[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){&k1, &k2, 0};
        pthread_create(&t[i], NULL, thr, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(args[i].bad == 0);
    }
}

static void test_seal(void)
{
    uint8_t key[32], key2[32], pt[100], out[100 + CR_SEAL_OVERHEAD], out2[sizeof(out)], back[100];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(i * 7);
        key2[i] = (uint8_t)(i * 7 + 1);
    }
    for (int i = 0; i < 100; i++)
        pt[i] = (uint8_t)i;
    cr_seal(out, key, "ad", 2, pt, sizeof(pt));
    memset(back, 0, sizeof(back));
    CHECK_OK(cr_unseal(back, key, "ad", 2, out, sizeof(out)));
    CHECK(memcmp(back, pt, sizeof(pt)) == 0);

    /* Fresh random nonce: sealing twice gives different bytes. */
    cr_seal(out2, key, "ad", 2, pt, sizeof(pt));
    CHECK(memcmp(out, out2, sizeof(out)) != 0);

    /* Any flipped byte (nonce, ciphertext, tag) is detected. */
    size_t where[] = {0, CR_NONCE_LEN - 1, CR_NONCE_LEN, CR_NONCE_LEN + 50, sizeof(out) - 1};
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        out[where[i]] ^= 0x01;
        CHECK(cr_unseal(back, key, "ad", 2, out, sizeof(out)) == CR_ECORRUPT);
        out[where[i]] ^= 0x01;
    }
    CHECK(cr_unseal(back, key, "ad", 2, out, sizeof(out)) == 0);
    CHECK(cr_unseal(back, key, "ae", 2, out, sizeof(out)) == CR_ECORRUPT);     /* other AD */
    CHECK(cr_unseal(back, key2, "ad", 2, out, sizeof(out)) == CR_ECORRUPT);    /* other key */
    CHECK(cr_unseal(back, key, "ad", 2, out, sizeof(out) - 1) == CR_ECORRUPT); /* truncated */
    CHECK(cr_unseal(back, key, "ad", 2, out, CR_SEAL_OVERHEAD - 1) == CR_ECORRUPT);

    /* Empty plaintext. */
    uint8_t e[CR_SEAL_OVERHEAD];
    cr_seal(e, key, NULL, 0, "", 0);
    CHECK(cr_unseal(back, key, NULL, 0, e, sizeof(e)) == 0);
}

static void test_sha256(void)
{
    uint8_t h[32];
    char hex[65];
    cr_sha256(h, "abc", 3);
    cr_hex_encode(hex, h, 32);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

static void test_zstd(void)
{
    static uint8_t src[200000];
    cr_buf z = CR_BUF_INIT, d = CR_BUF_INIT;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)("cleanroom"[i % 9] + (i / 5000));

    CHECK_OK(cr_buf_put(&z, "xy", 2)); /* compress appends */
    CHECK_OK(cr_zstd_compress(&z, cc, 3, src, sizeof(src)));
    CHECK(z.len > 2 && z.len < sizeof(src) / 4);
    CHECK(memcmp(z.ptr, "xy", 2) == 0);
    CHECK_OK(cr_zstd_decompress(&d, dc, z.ptr + 2, z.len - 2, sizeof(src)));
    CHECK(d.len == sizeof(src) && memcmp(d.ptr, src, sizeof(src)) == 0);
    CHECK_OK(cr_zstd_decompress(&d, NULL, z.ptr + 2, z.len - 2, sizeof(src)));

    /* Exactly raw_len: more or fewer bytes are damage, never a bigger buffer. */
    CHECK(cr_zstd_decompress(&d, dc, z.ptr + 2, z.len - 2, sizeof(src) - 1) == CR_ECORRUPT);
    CHECK(cr_zstd_decompress(&d, dc, z.ptr + 2, z.len - 2, sizeof(src) + 1) == CR_ECORRUPT);
    CHECK(cr_zstd_decompress(&d, dc, z.ptr + 2, z.len / 2, sizeof(src)) == CR_ECORRUPT);
    CHECK(cr_zstd_decompress(&d, dc, "garbage!", 8, 10) == CR_ECORRUPT);

    /* A bounded output buffer refuses a claimed size over its limit. */
    cr_buf small = CR_BUF_INIT;
    small.max = 1000;
    CHECK(cr_zstd_decompress(&small, dc, z.ptr + 2, z.len - 2, sizeof(src)) == CR_ECORRUPT);
    cr_buf_free(&small);

    /* Empty input round trip. */
    cr_buf_reset(&z);
    CHECK_OK(cr_zstd_compress(&z, NULL, 3, "", 0));
    CHECK_OK(cr_zstd_decompress(&d, dc, z.ptr, z.len, 0));
    CHECK(d.len == 0);

    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    cr_buf_free(&z);
    cr_buf_free(&d);
}

int main(void)
{
    test_init();
    test_keys();
    test_blob_id();
    test_seal();
    test_sha256();
    test_zstd();
    return test_summary("test_crypto");
}
