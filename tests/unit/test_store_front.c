/*
 * The store's front (src/store/store.c) over the dir backend, and the S3
 * backend's checks that need no network (tests/ceph/ has the rest):
 *   - put if absent (same bytes 0, other bytes CR_EEXISTS), names checked;
 *   - what a local folder does not have: retention (not enforced, period 0),
 *     listing below a folder (CR_EINPUT: list folder by folder), hidden
 *     objects (none);
 *   - S3 locations refused before any request: bad scheme, bucket, prefix,
 *     ?lock= value, missing keys.
 */
#include "test.h"

#include "store/store.h"

#include <stdlib.h>
#include <unistd.h>

static void test_dir(void)
{
    char tmpl[] = "/tmp/cr-store-front.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != NULL);
    char *path = cr_sprintf("%s/vault", tmpl);
    cr_store *s = NULL;
    cr_buf b = CR_BUF_INIT;

    REQUIRE(cr_store_open(&s, path, CR_STORE_CREATE) == 0);
    CHECK(cr_store_is_local(s));
    CHECK_OK(cr_store_put(s, "data/ab/x", "abc", 3, 0));
    CHECK_OK(cr_store_put(s, "data/ab/x", "abc", 3, 0));
    CHECK(cr_store_put(s, "data/ab/x", "abd", 3, 0) == CR_EEXISTS);
    CHECK(cr_store_put(s, "../x", "abc", 3, 0) == CR_EINPUT);
    CHECK(cr_store_put(s, "data//x", "abc", 3, 0) == CR_EINPUT);
    CHECK_OK(cr_store_get(s, "data/ab/x", &b, 10));
    CHECK(b.len == 3 && !memcmp(b.ptr, "abc", 3));

    int enforced = 1;
    CHECK_OK(cr_store_retain(s, "data/ab/x", 4102444800, &enforced));
    CHECK(enforced == 0);
    CHECK(cr_store_retention_period(s) == 0);
    CHECK(cr_store_list_below(s, "data", NULL, NULL) == CR_EINPUT);
    size_t restored = 7;
    CHECK_OK(cr_store_unhide(s, &restored));
    CHECK(restored == 0);
    CHECK_OK(cr_store_delete(s, "data/ab/x"));
    cr_store_free(s);

    cr_proc_result pr;
    const char *rm[] = {"rm", "-rf", tmpl, NULL};
    cr_proc_run(&pr, rm, 0, 0);
    cr_proc_result_free(&pr);
    cr_buf_free(&b);
    free(path);
}

static void test_s3_offline(void)
{
    cr_store *s = NULL;
    static const char *const bad[] = {
        "s3:ftp://127.0.0.1:1/bucket",
        "s3:127.0.0.1:1/bucket",
        "s3:http:///bucket",
        "s3:http://127.0.0.1:1",
        "s3:http://127.0.0.1:1/",
        "s3:http://127.0.0.1:1/ab",
        "s3:http://127.0.0.1:1/Bucket",
        "s3:http://127.0.0.1:1/-bucket",
        "s3:http://127.0.0.1:1/bucket/../x",
        "s3:http://127.0.0.1:1/bucket/a//b",
        "s3:http://127.0.0.1:1/bucket/a b",
        "s3:http://127.0.0.1:1/bucket?lock=",
        "s3:http://127.0.0.1:1/bucket?lock=30",
        "s3:http://127.0.0.1:1/bucket?lock=-1d",
        "s3:http://127.0.0.1:1/bucket?lock=0d",
        "s3:http://127.0.0.1:1/bucket?lock=101y",
        "s3:http://127.0.0.1:1/bucket?lock=99999999999999999999d",
        "s3:http://127.0.0.1:1/bucket?retain=30d",
        "s3:http://host name:1/bucket",
    };
    setenv("AWS_ACCESS_KEY_ID", "key", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int err = cr_store_open(&s, bad[i], 0);
        if (err != CR_EINPUT)
            fprintf(stderr, "%s: %d\n", bad[i], err);
        CHECK(err == CR_EINPUT);
        CHECK(s == NULL);
        CHECK(strstr(cr_error_last(), "s3:http(s)://HOST:PORT/BUCKET") != NULL);
    }
    unsetenv("AWS_SECRET_ACCESS_KEY");
    CHECK(cr_store_open(&s, "s3:http://127.0.0.1:1/bucket/prefix?lock=30d", 0) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "AWS_SECRET_ACCESS_KEY") != NULL);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    setenv("AWS_ACCESS_KEY_ID", "a:b", 1);
    CHECK(cr_store_open(&s, "s3:http://127.0.0.1:1/bucket", 0) == CR_EINPUT);
    setenv("AWS_ACCESS_KEY_ID", "key", 1);
    /* A well-formed location: the service is asked (port 1: nobody there). */
    CHECK(cr_store_open(&s, "s3:http://127.0.0.1:1/bucket/a/b?lock=1y", 0) == CR_ERROR);
    CHECK(strstr(cr_error_last(), "cannot reach") != NULL);
    CHECK(s == NULL);
}

int main(void)
{
    test_dir();
    test_s3_offline();
    return test_summary("test_store_front");
}
