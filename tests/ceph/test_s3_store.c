/*
 * The S3 store (src/store/s3.c) against a real Ceph RGW started by
 * tests/ceph.sh (CR_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in
 * the environment; without them the test is skipped, exit 77):
 *   - bad locations, missing keys, an unreachable service, a missing bucket;
 *   - a bucket without Object Lock: put/get/stat/list/ranged reads, put of
 *     the same bytes (0) and of other bytes (CR_EEXISTS, nothing replaced),
 *     delete, a listing past one page (continuation) written by 4 threads;
 *   - a bucket with Object Lock: sealed objects carry COMPLIANCE retention,
 *     the store's own delete is refused (CR_ERETAINED) and so is an
 *     attacker's raw DELETE of the version with the same keys, with or
 *     without the governance bypass, and a shortening of the retention;
 *     lock files are really removed (no version left); retain extends and
 *     never shortens; reopening takes the bucket's default retention; an
 *     object hidden by a plain DELETE (a delete marker) comes back with unhide.
 */
#include "test.h"

#include "store/store.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static const char *endpoint;
static char suffix[16];

/* ------------------------------------------------------------ the attacker's raw S3 */

static size_t raw_write(char *p, size_t size, size_t n, void *ud)
{
    return cr_buf_put(ud, p, size * n) < 0 ? 0 : size * n;
}

/*
 * One signed request with the vault's own keys, as any S3 tool would send it.
 * `out` receives the response headers and body. @return the HTTP status.
 */
static long raw(const char *method, const char *path, const char *extra_header, const char *body,
                cr_buf *out)
{
    char url[1024], line[256], hex[65], md5b64[32];
    unsigned char sha[32], md5[16];
    struct curl_slist *h = NULL;
    long code = 0;
    size_t blen = body ? strlen(body) : 0;
    cr_buf_reset(out);
    snprintf(url, sizeof(url), "%s/%s", endpoint, path);
    SHA256((const unsigned char *)(body ? body : ""), blen, sha);
    cr_hex_encode(hex, sha, 32);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
    h = curl_slist_append(h, line);
    if (body) {
        EVP_Digest(body, blen, md5, NULL, EVP_md5(), NULL);
        EVP_EncodeBlock((unsigned char *)md5b64, md5, 16);
        snprintf(line, sizeof(line), "Content-MD5: %s", md5b64);
        h = curl_slist_append(h, line);
    }
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    char userpwd[256];
    snprintf(userpwd, sizeof(userpwd), "%s:%s", getenv("AWS_ACCESS_KEY_ID"),
             getenv("AWS_SECRET_ACCESS_KEY"));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:default:s3");
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    cr_buf_put_u8(out, 0);
    out->len--;
    return code;
}

/* The retain-until date of an object (Unix seconds), -1 if none; mode into `mode`. */
static int64_t raw_retention(const char *path, char mode[16])
{
    cr_buf b = CR_BUF_INIT;
    int64_t t = -1;
    mode[0] = '\0';
    if (raw("HEAD", path, NULL, NULL, &b) == 200) {
        const char *m = strcasestr((const char *)b.ptr, "x-amz-object-lock-mode: ");
        if (m)
            sscanf(m + 24, "%15[A-Z]", mode);
        const char *u = strcasestr((const char *)b.ptr, "x-amz-object-lock-retain-until-date: ");
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (u && strptime(u + 37, "%Y-%m-%dT%H:%M:%S", &tm))
            t = (int64_t)timegm(&tm);
    }
    cr_buf_free(&b);
    return t;
}

/* Version ids of a key (raw ListObjectVersions), into ids[]; their count. */
static int raw_versions(const char *bucket, const char *key, char ids[][128], int max)
{
    char path[512], enc[256];
    cr_buf b = CR_BUF_INIT;
    size_t j = 0;
    for (const char *p = key; *p && j + 4 < sizeof(enc); p++) {
        if (*p == '/') {
            memcpy(enc + j, "%2F", 3);
            j += 3;
        } else {
            enc[j++] = *p;
        }
    }
    enc[j] = '\0';
    snprintf(path, sizeof(path), "%s?prefix=%s&versions=", bucket, enc);
    int n = 0;
    if (raw("GET", path, NULL, NULL, &b) == 200) {
        const char *p = (const char *)b.ptr;
        while (n < max && (p = strstr(p, "<Version>"))) {
            const char *v = strstr(p, "<VersionId>");
            if (!v)
                break;
            sscanf(v + 11, "%127[^<]", ids[n++]);
            p = v;
        }
    }
    cr_buf_free(&b);
    return n;
}

/* ------------------------------------------------------------ helpers */

static char *loc(const char *bucket_kind, const char *rest)
{
    static char buf[8][512];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 512, "s3:%s/%s-%s%s", endpoint, bucket_kind, suffix, rest);
    return b;
}

typedef struct names {
    char v[2048][64];
    uint64_t size[2048];
    int n;
} names;

static int collect(const char *name, const cr_store_info *info, void *payload)
{
    names *l = payload;
    if (l->n < 2048) {
        snprintf(l->v[l->n], sizeof(l->v[0]), "%s", name);
        l->size[l->n++] = info->size;
    }
    return 0;
}

static int has(const names *l, const char *name, uint64_t *size)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], name)) {
            if (size)
                *size = l->size[i];
            return 1;
        }
    return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* ------------------------------------------------------------ tests */

static void test_bad_open(void)
{
    cr_store *s = NULL;
    CHECK(cr_store_open(&s, "s3:ftp://127.0.0.1/bucket", 0) == CR_EINPUT);
    CHECK(cr_store_open(&s, loc("Bad_Bucket", ""), 0) == CR_EINPUT);
    CHECK(cr_store_open(&s, loc("plain", "/x/../y"), 0) == CR_EINPUT);
    CHECK(cr_store_open(&s, loc("plain", "?lock=5x"), 0) == CR_EINPUT);
    CHECK(cr_store_open(&s, loc("plain", "?lock=0d"), 0) == CR_EINPUT);
    CHECK(cr_store_open(&s, loc("plain", "?retain=5d"), 0) == CR_EINPUT);
    CHECK(s == NULL);

    /* No keys: a clear refusal naming the variables. */
    char *id = strdup(getenv("AWS_ACCESS_KEY_ID"));
    unsetenv("AWS_ACCESS_KEY_ID");
    CHECK(cr_store_open(&s, loc("plain", ""), 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "AWS_ACCESS_KEY_ID") != NULL);
    setenv("AWS_ACCESS_KEY_ID", id, 1);

    /* Wrong secret: the service refuses, the message says to check the keys. */
    char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    int err = cr_store_open(&s, loc("plain", ""), CR_STORE_CREATE);
    CHECK(err == CR_ERROR);
    CHECK(strstr(cr_error_last(), "AWS_SECRET_ACCESS_KEY") != NULL);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    free(id);
    free(secret);

    /* Nothing listening: a network error, quickly. */
    CHECK(cr_store_open(&s, "s3:http://127.0.0.1:1/bucket", 0) == CR_ERROR);
    CHECK(strstr(cr_error_last(), "cannot reach") != NULL);

    /* A bucket that does not exist, without CR_STORE_CREATE. */
    CHECK(cr_store_open(&s, loc("missing", ""), 0) == CR_ENOTFOUND);
    CHECK(s == NULL);
}

typedef struct many_arg {
    cr_store *s;
    int from, to, errors;
} many_arg;

static void *put_many(void *p)
{
    many_arg *a = p;
    for (int i = a->from; i < a->to; i++) {
        char name[64], body[32];
        snprintf(name, sizeof(name), "many/obj-%04d", i);
        snprintf(body, sizeof(body), "object %d", i);
        if (cr_store_put(a->s, name, body, strlen(body), 0) != 0)
            a->errors++;
    }
    return NULL;
}

typedef struct read_arg {
    cr_store *s;
    const uint8_t *want;
    size_t n;
    int seed, errors;
} read_arg;

/* Random reads of one object, through one open object per thread and a new one now and then. */
static void *read_many(void *p)
{
    read_arg *a = p;
    uint32_t x = (uint32_t)a->seed * 2654435761u + 1;
    uint8_t buf[70000];
    cr_store_obj *o = NULL;
    for (int i = 0; i < 60; i++) {
        if (i % 20 == 0) {
            cr_store_obj_close(o);
            if (cr_store_obj_open(&o, a->s, "data/ef/huge") != 0 || cr_store_obj_size(o) != a->n) {
                a->errors++;
                return NULL;
            }
        }
        x = x * 1103515245u + 12345u;
        size_t len = 1 + x % sizeof(buf);
        x = x * 1103515245u + 12345u;
        uint64_t off = x % (a->n - len);
        if (cr_store_obj_read(o, buf, len, off) != 0 || memcmp(buf, a->want + off, len) != 0)
            a->errors++;
    }
    cr_store_obj_close(o);
    return NULL;
}

static void test_plain(void)
{
    cr_store *s = NULL;
    static uint8_t big[3000000], other[3000000];
    fill(big, sizeof(big), 1);
    memcpy(other, big, sizeof(other));
    other[777] ^= 1;
    cr_buf b = CR_BUF_INIT;
    cr_store_info info;
    names *l = calloc(1, sizeof(*l));

    REQUIRE(cr_store_open(&s, loc("plain", "/vault"), CR_STORE_CREATE) == 0);
    CHECK(!cr_store_is_local(s));
    CHECK(cr_store_retention_period(s) == 0);
    CHECK_OK(cr_store_put(s, "config", "cfg", 3, 0));
    CHECK_OK(cr_store_put(s, "data/ab/x1", big, sizeof(big), 0));
    CHECK_OK(cr_store_put(s, "data/ab/x2", "two", 3, 0));
    CHECK_OK(cr_store_put(s, "data/cd/y", "", 0, 0));
    CHECK_OK(cr_store_put(s, "keys/k1", "key", 3, CR_STORE_PRIVATE));

    /* get, bounded */
    CHECK_OK(cr_store_get(s, "data/ab/x1", &b, sizeof(big)));
    CHECK(b.len == sizeof(big) && !memcmp(b.ptr, big, sizeof(big)));
    CHECK(cr_store_get(s, "data/ab/x1", &b, 1000) == CR_ECORRUPT);
    CHECK_OK(cr_store_get(s, "data/cd/y", &b, 10));
    CHECK(b.len == 0);
    CHECK(cr_store_get(s, "data/ab/none", &b, 10) == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "missing") != NULL);

    /* stat */
    CHECK_OK(cr_store_stat(s, "data/ab/x1", &info));
    CHECK(info.size == sizeof(big));
    int64_t now = (int64_t)time(NULL);
    CHECK(info.mtime_ns / 1000000000 > now - 600 && info.mtime_ns / 1000000000 < now + 600);
    CHECK(cr_store_stat(s, "nothing", &info) == CR_ENOTFOUND);

    /* put: same bytes = 0, other bytes refused and nothing replaced */
    CHECK_OK(cr_store_put(s, "data/ab/x1", big, sizeof(big), 0));
    CHECK(cr_store_put(s, "data/ab/x1", other, sizeof(other), 0) == CR_EEXISTS);
    CHECK(strstr(cr_error_last(), "other content") != NULL);
    CHECK(cr_store_put(s, "data/ab/x2", "twO", 3, 0) == CR_EEXISTS);
    CHECK(cr_store_put(s, "data/ab/x2", "two!", 4, 0) == CR_EEXISTS);
    CHECK_OK(cr_store_get(s, "data/ab/x1", &b, sizeof(big)));
    CHECK(b.len == sizeof(big) && !memcmp(b.ptr, big, sizeof(big)));

    /* list one level: objects with sizes, sub-folders with size 0 */
    l->n = 0;
    CHECK_OK(cr_store_list(s, "", 1, collect, l));
    CHECK(l->n == 3 && has(l, "config", NULL) && has(l, "data", NULL) && has(l, "keys", NULL));
    l->n = 0;
    CHECK_OK(cr_store_list(s, "data", 1, collect, l));
    CHECK(l->n == 2 && has(l, "ab", NULL) && has(l, "cd", NULL));
    l->n = 0;
    l->n = 0;
    uint64_t sz = 0;
    CHECK_OK(cr_store_list(s, "data/ab", 1, collect, l));
    CHECK(l->n == 2 && has(l, "x1", &sz) && sz == sizeof(big) && has(l, "x2", &sz) && sz == 3);
    /* everything below a folder, in one listing */
    l->n = 0;
    CHECK_OK(cr_store_list_below(s, "data", collect, l));
    CHECK(l->n == 3 && has(l, "ab/x1", &sz) && sz == sizeof(big) && has(l, "ab/x2", NULL) &&
          has(l, "cd/y", NULL));
    l->n = 0;
    CHECK_OK(cr_store_list(s, "snapshots", 0, collect, l));
    CHECK(l->n == 0);

    /* ranged reads */
    cr_store_obj *o = NULL;
    uint8_t part[5000];
    CHECK_OK(cr_store_obj_open(&o, s, "data/ab/x1"));
    if (o) {
        CHECK(cr_store_obj_size(o) == sizeof(big));
        CHECK_OK(cr_store_obj_read(o, part, sizeof(part), 1000));
        CHECK(!memcmp(part, big + 1000, sizeof(part)));
        CHECK_OK(cr_store_obj_read(o, part, 10, sizeof(big) - 10));
        CHECK(!memcmp(part, big + sizeof(big) - 10, 10));
        CHECK(cr_store_obj_read(o, part, 11, sizeof(big) - 10) == CR_ECORRUPT);
        cr_store_obj_close(o);
    }
    CHECK(cr_store_obj_open(&o, s, "data/ab/none") == CR_ENOTFOUND);
    /* An empty object; one past what opening reads (4 MiB): reads across and past it. */
    CHECK_OK(cr_store_obj_open(&o, s, "data/cd/y"));
    if (o) {
        CHECK(cr_store_obj_size(o) == 0);
        CHECK(cr_store_obj_read(o, part, 1, 0) == CR_ECORRUPT);
        cr_store_obj_close(o);
    }
    size_t hn = 5u << 20;
    uint8_t *huge = malloc(hn);
    fill(huge, hn, 7);
    CHECK_OK(cr_store_put(s, "data/ef/huge", huge, hn, 0));
    CHECK_OK(cr_store_obj_open(&o, s, "data/ef/huge"));
    if (o) {
        CHECK(cr_store_obj_size(o) == hn);
        CHECK_OK(cr_store_obj_read(o, part, 100, (4u << 20) - 50));
        CHECK(!memcmp(part, huge + (4u << 20) - 50, 100));
        CHECK_OK(cr_store_obj_read(o, part, sizeof(part), hn - sizeof(part)));
        CHECK(!memcmp(part, huge + hn - sizeof(part), sizeof(part)));
        CHECK_OK(cr_store_obj_read(o, part, 10, 5));
        CHECK(!memcmp(part, huge + 5, 10));
        cr_store_obj_close(o);
    }
    /* 4 threads reading at random places at once (the store's shared windows). */
    read_arg ra[4];
    pthread_t rt[4];
    for (int i = 0; i < 4; i++) {
        ra[i] = (read_arg){s, huge, hn, i + 1, 0};
        pthread_create(&rt[i], NULL, read_many, &ra[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(rt[i], NULL);
        CHECK(ra[i].errors == 0);
    }
    free(huge);

    /* nothing hidden in a bucket without versions */
    size_t restored = 1;
    CHECK_OK(cr_store_unhide(s, &restored));
    CHECK(restored == 0);

    /* retention: not enforced on a bucket without Object Lock */
    int enforced = 1;
    CHECK_OK(cr_store_retain(s, "data/ab/x1", now + 86400, &enforced));
    CHECK(enforced == 0);

    /* delete */
    CHECK_OK(cr_store_delete(s, "data/ab/x2"));
    CHECK(cr_store_stat(s, "data/ab/x2", &info) == CR_ENOTFOUND);
    CHECK(cr_store_delete(s, "data/ab/x2") == CR_ENOTFOUND);
    CHECK_OK(cr_store_put(s, "locks/l", "lock", 4, CR_STORE_MUTABLE));
    CHECK_OK(cr_store_delete(s, "locks/l"));
    CHECK(cr_store_stat(s, "locks/l", &info) == CR_ENOTFOUND);

    /* More than one page of listing (1000 keys), written by 4 threads at once. */
    many_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (many_arg){s, i * 260, (i + 1) * 260, 0};
        pthread_create(&t[i], NULL, put_many, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(a[i].errors == 0);
    }
    l->n = 0;
    CHECK_OK(cr_store_list(s, "many", 1, collect, l));
    CHECK(l->n == 1040 && has(l, "obj-0000", NULL) && has(l, "obj-1039", &sz) && sz == 11);

    cr_store_free(s);

    /* The prefix is not empty any more: no new vault there; opening works. */
    CHECK(cr_store_open(&s, loc("plain", "/vault"), CR_STORE_CREATE) == CR_EEXISTS);
    CHECK(strstr(cr_error_last(), "not empty") != NULL);
    CHECK_OK(cr_store_open(&s, loc("plain", "/vault"), 0));
    cr_store_free(s);
    s = NULL;
    /* Another prefix of the same bucket is a separate store. */
    CHECK_OK(cr_store_open(&s, loc("plain", "/other"), CR_STORE_CREATE));
    if (s) {
        CHECK(cr_store_stat(s, "config", &info) == CR_ENOTFOUND);
        cr_store_free(s);
    }
    /* ?lock= on a bucket made without Object Lock: refused, it cannot be added later. */
    CHECK(cr_store_open(&s, loc("plain", "/vault?lock=1d"), 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "Object Lock") != NULL);

    cr_buf_free(&b);
    free(l);
}

static void test_locked(void)
{
    cr_store *s = NULL;
    cr_buf b = CR_BUF_INIT;
    cr_store_info info;
    char path[512], bucket[128], mode[16], ids[8][128], hdr[128];
    int64_t now = (int64_t)time(NULL);
    snprintf(bucket, sizeof(bucket), "lock-%s", suffix);

    REQUIRE(cr_store_open(&s, loc("lock", "/v?lock=1d"), CR_STORE_CREATE) == 0);
    CHECK(cr_store_retention_period(s) == 86400);
    CHECK_OK(cr_store_put(s, "data/00/p1", "pack one", 8, 0));
    CHECK_OK(cr_store_put(s, "data/00/p1", "pack one", 8, 0));
    CHECK(cr_store_put(s, "data/00/p1", "pack two", 8, 0) == CR_EEXISTS);

    /* Sealed objects carry COMPLIANCE retention for the period. */
    snprintf(path, sizeof(path), "%s/v/data/00/p1", bucket);
    int64_t until = raw_retention(path, mode);
    CHECK(!strcmp(mode, "COMPLIANCE"));
    CHECK(until > now + 86400 - 600 && until < now + 86400 + 600);

    /* The store's own delete is refused by the service, with the date. */
    CHECK(cr_store_delete(s, "data/00/p1") == CR_ERETAINED);
    CHECK(strstr(cr_error_last(), "locked until") != NULL);
    CHECK_OK(cr_store_get(s, "data/00/p1", &b, 100));
    CHECK(b.len == 8 && !memcmp(b.ptr, "pack one", 8));

    /* The attacker with the same keys, raw S3: delete the version, with and
     * without the governance bypass; shorten the retention. All refused. */
    int nv = raw_versions(bucket, "v/data/00/p1", ids, 8);
    CHECK(nv == 1);
    if (nv >= 1) {
        snprintf(path, sizeof(path), "%s/v/data/00/p1?versionId=%s", bucket, ids[0]);
        CHECK(raw("DELETE", path, NULL, NULL, &b) == 403);
        CHECK(raw("DELETE", path, "x-amz-bypass-governance-retention: true", NULL, &b) == 403);
        char body[300], date[32];
        time_t soon = (time_t)(now + 3600);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&soon));
        snprintf(body, sizeof(body),
                 "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE"
                 "</Mode><RetainUntilDate>%s</RetainUntilDate></Retention>",
                 date);
        snprintf(path, sizeof(path), "%s/v/data/00/p1?retention=", bucket);
        long code = raw("PUT", path, NULL, body, &b);
        CHECK(code >= 400 && code < 500);
        snprintf(path, sizeof(path), "%s/v/data/00/p1", bucket);
        until = raw_retention(path, mode);
        CHECK(!strcmp(mode, "COMPLIANCE") && until > now + 86400 - 600);
        /* A plain DELETE only hides it behind a delete marker: the locked
         * version is still there (recoverable by removing the marker). */
        CHECK(raw("DELETE", path, NULL, NULL, &b) == 204);
        CHECK(raw_versions(bucket, "v/data/00/p1", ids, 8) == 1);
        CHECK(cr_store_stat(s, "data/00/p1", &info) == CR_ENOTFOUND);
        /* unhide brings it back, bytes intact. */
        size_t restored = 0;
        CHECK_OK(cr_store_unhide(s, &restored));
        CHECK(restored == 1);
        CHECK_OK(cr_store_get(s, "data/00/p1", &b, 100));
        CHECK(b.len == 8 && !memcmp(b.ptr, "pack one", 8));
        CHECK_OK(cr_store_unhide(s, &restored));
        CHECK(restored == 0);
    }

    /* Lock files are really removed: no version left behind. */
    CHECK_OK(cr_store_put(s, "locks/l1", "lock", 4, CR_STORE_MUTABLE));
    snprintf(path, sizeof(path), "%s/v/locks/l1", bucket);
    raw_retention(path, mode);
    CHECK(!strcmp(mode, "GOVERNANCE"));
    CHECK_OK(cr_store_delete(s, "locks/l1"));
    CHECK(cr_store_stat(s, "locks/l1", &info) == CR_ENOTFOUND);
    CHECK(raw_versions(bucket, "v/locks/l1", ids, 8) == 0);

    /* retain extends, never shortens. */
    CHECK_OK(cr_store_put(s, "index/i1", "index", 5, 0));
    int enforced = 0;
    CHECK_OK(cr_store_retain(s, "index/i1", now + 3 * 86400, &enforced));
    CHECK(enforced == 1);
    snprintf(path, sizeof(path), "%s/v/index/i1", bucket);
    until = raw_retention(path, mode);
    CHECK(until >= now + 3 * 86400 - 5 && until <= now + 3 * 86400 + 5);
    CHECK_OK(cr_store_retain(s, "index/i1", now + 3600, &enforced));
    CHECK(raw_retention(path, mode) == until);
    CHECK(cr_store_retain(s, "index/none", now + 3600, &enforced) == CR_ENOTFOUND);
    cr_store_free(s);
    s = NULL;

    /* Reopened without ?lock=: the bucket's default retention is used. */
    REQUIRE(cr_store_open(&s, loc("lock", "/v"), 0) == 0);
    CHECK(cr_store_retention_period(s) == 86400);
    CHECK_OK(cr_store_put(s, "snapshots/s1", "snap", 4, 0));
    snprintf(path, sizeof(path), "%s/v/snapshots/s1", bucket);
    until = raw_retention(path, mode);
    CHECK(!strcmp(mode, "COMPLIANCE") && until > now + 86400 - 600);
    CHECK(cr_store_delete(s, "snapshots/s1") == CR_ERETAINED);
    cr_store_free(s);

    (void)hdr;
    cr_buf_free(&b);
}

int main(void)
{
    endpoint = getenv("CR_S3_ENDPOINT");
    if (!endpoint || !getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY")) {
        printf("skipped: no S3 service (CR_S3_ENDPOINT and the AWS keys are set by "
               "tests/ceph.sh start)\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(suffix, sizeof(suffix), "%lx%x", (unsigned long)time(NULL) & 0xffffff,
             (unsigned)getpid() & 0xfff);
    test_bad_open();
    test_plain();
    test_locked();
    return test_summary("test_s3_store");
}
