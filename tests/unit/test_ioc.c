/*
 * Hash IOC lists (src/hunt/ioc.c): plain lists and MISP CSV exports, bad
 * lines counted and reported, lookups that hit and miss, duplicates across
 * lists, the fingerprint, hostile bytes, and a large list.
 */
#include "hunt/hunt.h"
#include "test.h"

#include <openssl/evp.h>

#define MD5_A "d41d8cd98f00b204e9800998ecf8427e"
#define SHA1_A "da39a3ee5e6b4b0d3255bfef95601890afd80709"
#define SHA256_A "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_B "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA256_C "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
#define SHA1_B "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
#define MD5_B "098f6bcd4621d373cade4e832627b4f6"

static void hex(uint8_t *out, const char *h)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int has(const hn_ioc_set *s, hn_hash_type t, const char *h, const char **list,
               const char **comment)
{
    uint8_t d[32];
    hex(d, h);
    return hn_ioc_lookup(s, t, d, list, comment);
}

static int warnings;
static char last_warning[512];
static void on_warn(const char *path, const char *msg, void *payload)
{
    (void)payload;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s: %s", path, msg);
}

static int add(hn_ioc_set *s, const char *name, const char *text, size_t *bad)
{
    return hn_ioc_add_list(s, name, text, strlen(text), bad, on_warn, NULL);
}

static void test_plain(void)
{
    hn_ioc_set *s = NULL;
    size_t bad = 99;
    const char *list = NULL, *comment = NULL;
    CHECK_OK(hn_ioc_new(&s));
    CHECK(hn_ioc_count(s) == 0 && hn_ioc_types(s) == 0);
    warnings = 0;
    const char *text =
        "\xef\xbb\xbf# bad hashes of the week\r\n"
        "\r\n" MD5_A "\r\n"
        "  " SHA1_A "   dropper.exe (from the mail)\r\n" SHA256_A " # empty file\n"
        "this is not a hash\n"
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B85\n" /* 63 digits */
        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08,upper case\n" SHA256_C
        "  ./bin/evil\n" SHA256_C "0\n"; /* 65 digits */
    CHECK_OK(add(s, "week.txt", text, &bad));
    CHECK(bad == 3);
    CHECK(warnings == 3);
    CHECK(strstr(last_warning, "week.txt: line 10") != NULL);
    CHECK(hn_ioc_count(s) == 5);
    CHECK(hn_ioc_types(s) == (HN_MD5 | HN_SHA1 | HN_SHA256));

    CHECK(has(s, HN_MD5, MD5_A, &list, &comment) == 1);
    CHECK(list && strcmp(list, "week.txt") == 0);
    CHECK(comment == NULL);
    CHECK(has(s, HN_SHA1, SHA1_A, &list, &comment) == 1);
    CHECK(comment && strcmp(comment, "dropper.exe (from the mail)") == 0);
    CHECK(has(s, HN_SHA256, SHA256_A, NULL, &comment) == 1);
    CHECK(comment && strcmp(comment, "empty file") == 0);
    CHECK(has(s, HN_SHA256, SHA256_B, NULL, &comment) == 1); /* upper case, comma */
    CHECK(comment && strcmp(comment, "upper case") == 0);
    CHECK(has(s, HN_SHA256, SHA256_C, NULL, &comment) == 1); /* sha256sum output */
    CHECK(comment && strcmp(comment, "./bin/evil") == 0);

    /* misses: unknown digest, known digest under another type */
    CHECK(has(s, HN_MD5, MD5_B, NULL, NULL) == 0);
    CHECK(has(s, HN_SHA1, SHA1_B, NULL, NULL) == 0);
    uint8_t d[32];
    hex(d, SHA256_A);
    CHECK(hn_ioc_lookup(s, HN_MD5, d, NULL, NULL) == 0);
    CHECK(hn_ioc_lookup(s, HN_SHA1, d, NULL, NULL) == 0);
    CHECK(hn_ioc_lookup(s, (hn_hash_type)3, d, NULL, NULL) == 0);
    d[31] ^= 1;
    CHECK(hn_ioc_lookup(s, HN_SHA256, d, NULL, NULL) == 0);
    hn_ioc_free(s);
}

static void test_misp(void)
{
    hn_ioc_set *s = NULL;
    size_t bad = 99;
    const char *list = NULL, *comment = NULL;
    CHECK_OK(hn_ioc_new(&s));
    warnings = 0;
    const char *csv =
        "uuid,event_id,category,type,value,comment,to_ids,date\r\n"
        "5f1e,12,Payload delivery,sha256," SHA256_A
        ",\"Loader, stage 1 \"\"fast\"\"\",1,1700000000\r\n"
        "5f1f,12,Network activity,ip-dst,203.0.113.9,C2 server,1,1700000000\r\n"
        "5f20,12,Payload delivery,filename|sha1,\"invoice.pdf.exe|" SHA1_A "\",,1,1700000000\r\n"
        "5f21,12,Payload delivery,malware-sample,\"x.zip|" MD5_A "\",\"two\nlines\",1,1\r\n"
        "5f22,12,Payload delivery,sha1,nothex0000000000000000000000000000000000,,1,1\r\n"
        "5f23,12,Payload delivery,md5\r\n"
        "\r\n"
        "5f24,12,Artifacts dropped,SHA256,\" " SHA256_B " \",,1,1\r\n";
    CHECK_OK(add(s, "misp-event-12.csv", csv, &bad));
    CHECK(bad == 2); /* the bad sha1 value and the short row; the IP is ignored, not bad */
    CHECK(warnings == 2);
    CHECK(strstr(last_warning, "line 8") != NULL); /* the short row, after a 2-line record */
    CHECK(hn_ioc_count(s) == 4);
    CHECK(has(s, HN_SHA256, SHA256_A, &list, &comment) == 1);
    CHECK(list && strcmp(list, "misp-event-12.csv") == 0);
    CHECK(comment && strcmp(comment, "Loader, stage 1 \"fast\"") == 0);
    CHECK(has(s, HN_SHA1, SHA1_A, NULL, &comment) == 1);
    CHECK(comment && strcmp(comment, "invoice.pdf.exe") == 0);
    CHECK(has(s, HN_MD5, MD5_A, NULL, &comment) == 1);
    CHECK(comment && strcmp(comment, "two lines - x.zip") == 0);
    CHECK(has(s, HN_SHA256, SHA256_B, NULL, &comment) == 1);
    CHECK(comment == NULL);
    hn_ioc_free(s);

    /* a MISP export with no file hash at all is not an error, just empty */
    CHECK_OK(hn_ioc_new(&s));
    CHECK_OK(add(s, "net.csv", "type,value\nip-dst,192.0.2.1\ndomain,example.org\n", &bad));
    CHECK(bad == 0 && hn_ioc_count(s) == 0);
    /* header with other column order and a quoted header */
    CHECK_OK(add(s, "min.csv", "\"value\",\"Type\"\n" SHA256_C ",sha256\n", &bad));
    CHECK(bad == 0 && has(s, HN_SHA256, SHA256_C, NULL, NULL) == 1);
    /* an unterminated quote: that record is bad, the list still loads */
    CHECK_OK(add(s, "q.csv", "type,value\nmd5," MD5_B "\nsha1,\"" SHA1_B "\n", &bad));
    CHECK(bad == 1 && has(s, HN_MD5, MD5_B, NULL, NULL) == 1);
    CHECK(has(s, HN_SHA1, SHA1_B, NULL, NULL) == 0);
    hn_ioc_free(s);
}

static void test_bad_lists(void)
{
    hn_ioc_set *s = NULL;
    size_t bad = 0;
    CHECK_OK(hn_ioc_new(&s));
    CHECK_OK(add(s, "empty.txt", "", &bad));
    CHECK(bad == 0);
    CHECK_OK(add(s, "comments.txt", "# nothing yet\n\n   \n# really\n", &bad));
    CHECK(bad == 0);
    CHECK(hn_ioc_count(s) == 0);

    warnings = 0;
    cr_error_clear();
    CHECK(add(s, "garbage.txt", "hello\nworld\n", &bad) == CR_EINPUT);
    CHECK(bad == 2);
    CHECK(strstr(cr_error_last(), "garbage.txt") && strstr(cr_error_last(), "line 1"));

    /* binary garbage with NULs, CRs and a huge line: counted, warnings capped */
    size_t n = 200000;
    char *g = malloc(n);
    REQUIRE(g);
    for (size_t i = 0; i < n; i++)
        g[i] = (char)((i * 7919u + (i >> 3)) & 0xff);
    memset(g + 1000, 'a', 20000); /* a 20000-digit "hash" */
    warnings = 0;
    CHECK(hn_ioc_add_list(s, "bin", g, n, &bad, on_warn, NULL) == CR_EINPUT);
    CHECK(bad > 10);
    CHECK(warnings == 11); /* 10 lines shown + one summary */
    CHECK(hn_ioc_count(s) == 0);

    /* a good hash inside garbage still loads */
    memcpy(g + 50000, "\n" SHA256_B "\n", 66);
    CHECK_OK(hn_ioc_add_list(s, "bin2", g, n, &bad, NULL, NULL));
    CHECK(bad > 10);
    CHECK(hn_ioc_count(s) == 1 && has(s, HN_SHA256, SHA256_B, NULL, NULL) == 1);
    free(g);

    /* names and comments become clean UTF-8 */
    const char *list = NULL, *comment = NULL;
    const char text[] = SHA1_B " caf\xc3\xa9 \xff\x01tab\there\n";
    CHECK_OK(hn_ioc_add_list(s, "bad\xfename", text, sizeof(text) - 1, &bad, NULL, NULL));
    CHECK(has(s, HN_SHA1, SHA1_B, &list, &comment) == 1);
    CHECK(list && strcmp(list, "bad?name") == 0);
    CHECK(comment && strcmp(comment, "caf\xc3\xa9 ? tab here") == 0);
    hn_ioc_free(s);
}

static void fp(const hn_ioc_set *s, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned l = 0;
    REQUIRE(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL));
    hn_ioc_fingerprint(s, ctx);
    REQUIRE(EVP_DigestFinal_ex(ctx, out, &l) && l == 32);
    EVP_MD_CTX_free(ctx);
}

static void test_duplicates_and_fingerprint(void)
{
    hn_ioc_set *a = NULL, *b = NULL, *c = NULL;
    size_t bad;
    const char *list = NULL, *comment = NULL;
    uint8_t fa[32], fb[32], fc[32], fe[32];
    CHECK_OK(hn_ioc_new(&a));
    CHECK_OK(hn_ioc_new(&b));
    CHECK_OK(hn_ioc_new(&c));
    fp(a, fe);
    CHECK_OK(add(a, "first.txt", SHA256_A " first\n" SHA256_A " again\n", &bad));
    CHECK_OK(add(a, "second.txt", SHA256_A " second\n" SHA256_B "\n", &bad));
    CHECK(hn_ioc_count(a) == 2);
    CHECK(has(a, HN_SHA256, SHA256_A, &list, &comment) == 1);
    CHECK(list && strcmp(list, "first.txt") == 0);
    CHECK(comment && strcmp(comment, "first") == 0);

    CHECK_OK(add(b, "first.txt", SHA256_A " first\n" SHA256_A " again\n", &bad));
    CHECK_OK(add(b, "second.txt", SHA256_A " second\n" SHA256_B "\n", &bad));
    CHECK_OK(add(c, "first.txt", SHA256_A " first\n" SHA256_A " again\n", &bad));
    CHECK_OK(add(c, "second.txt", SHA256_A " second\n" SHA256_C "\n", &bad));
    fp(a, fa);
    fp(b, fb);
    fp(c, fc);
    CHECK(memcmp(fa, fb, 32) == 0);
    CHECK(memcmp(fa, fc, 32) != 0);
    CHECK(memcmp(fa, fe, 32) != 0);
    /* a list that fails to load changes nothing */
    CHECK(add(c, "junk.txt", "junk\n", &bad) == CR_EINPUT);
    fp(c, fb);
    CHECK(memcmp(fb, fc, 32) == 0);
    hn_ioc_free(a);
    hn_ioc_free(b);
    hn_ioc_free(c);
    hn_ioc_free(NULL);
}

static void test_large(void)
{
    /* 300000 SHA-256 lines (~20 MB): loads, and lookups hit and miss. */
    size_t n = 300000;
    cr_buf b = CR_BUF_INIT;
    uint8_t d[32];
    char h[65];
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        EVP_Digest(&i, sizeof(i), d, NULL, EVP_sha256(), NULL);
        cr_hex_encode(h, d, 32);
        rc |= cr_buf_put(&b, h, 64) | cr_buf_put(&b, " sample\n", 8);
    }
    REQUIRE(rc == 0);
    hn_ioc_set *s = NULL;
    size_t bad = 1;
    CHECK_OK(hn_ioc_new(&s));
    CHECK_OK(hn_ioc_add_list(s, "big.txt", b.ptr, b.len, &bad, NULL, NULL));
    CHECK(bad == 0);
    CHECK(hn_ioc_count(s) == n);
    int hits = 0, misses = 0;
    for (size_t i = 0; i < n; i += 997) {
        EVP_Digest(&i, sizeof(i), d, NULL, EVP_sha256(), NULL);
        hits += hn_ioc_lookup(s, HN_SHA256, d, NULL, NULL);
        size_t j = n + i;
        EVP_Digest(&j, sizeof(j), d, NULL, EVP_sha256(), NULL);
        misses += !hn_ioc_lookup(s, HN_SHA256, d, NULL, NULL);
    }
    CHECK(hits == (int)((n + 996) / 997));
    CHECK(misses == hits);
    hn_ioc_free(s);
    cr_buf_free(&b);
}

int main(void)
{
    test_plain();
    test_misp();
    test_bad_lists();
    test_duplicates_and_fingerprint();
    test_large();
    return test_summary("test_ioc");
}
