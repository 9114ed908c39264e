/*
 * Tests of the storage floor (src/store): object names an attacker might
 * send, put-if-absent (the same bytes again are fine, other bytes are refused
 * and change nothing), bounded reads, ranged reads past the end, listings
 * that leave out interrupted writes, and the dir backend's read-only modes.
 */
#include "test.h"
#include "fixture.h"

#include "store/store.h"

#include <sys/stat.h>
#include <utime.h>

static void test_names(void)
{
    static const char *good[] = {"config", "keys/ab", "data/3f/3f2a", "locks/.prune-01",
                                 "a.b_c-d/E9"};
    static const char *bad[] = {"",          "/etc/passwd", "../x",     "a/../b", "a//b",
                                "a/./b",     "a/",          ".",        "..",     "a/..",
                                "a b",       "a\\b",        "%2e%2e/x", "a\nb",   "ü"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(cr_store_name_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!cr_store_name_ok(bad[i]));
    char longname[CR_STORE_MAX_NAME + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK(!cr_store_name_ok(longname));
    longname[CR_STORE_MAX_NAME] = '\0';
    CHECK(cr_store_name_ok(longname));
}

static int count_cb(const char *name, const cr_store_info *info, void *payload)
{
    size_t *n = payload;
    (void)info;
    CHECK(strncmp(name, ".tmp-", 5) != 0);
    (*n)++;
    return 0;
}

static int temp_cb(const char *name, const cr_store_info *info, void *payload)
{
    char *got = payload;
    (void)info;
    snprintf(got, 256, "%s", name);
    return 0;
}

static void test_dir(void)
{
    char base[64] = "/tmp/cr-test-objstore-XXXXXX", path[128], full[256];
    cr_store *s;
    cr_buf b = CR_BUF_INIT;
    cr_store_info info;
    struct stat st;
    REQUIRE(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/vault", base);

    /* Opening: nothing there; creating; a folder that is not empty is refused. */
    CHECK(cr_store_open(&s, path, 0) == CR_ENOTFOUND);
    REQUIRE(cr_store_open(&s, path, CR_STORE_CREATE) == 0);
    CHECK(cr_store_is_local(s));
    static const char *dirs[] = {"snapshots", "data", "data/00"};
    CHECK(cr_store_make_dirs(s, dirs, 3) == 0);

    /* Put if absent; folders made on first use. */
    CHECK(cr_store_put(s, "hunt/aa", "one", 3, 0) == 0);
    CHECK(cr_store_put(s, "hunt/aa", "one", 3, 0) == 0);       /* a retried write */
    CHECK(cr_store_put(s, "hunt/aa", "two", 3, 0) == CR_EEXISTS); /* never replaced */
    CHECK(strstr(cr_error_last(), "other content") != NULL);
    CHECK(cr_store_put(s, "hunt/aa", "one!", 4, 0) == CR_EEXISTS);
    CHECK(cr_store_get(s, "hunt/aa", &b, 100) == 0 && b.len == 3 && !memcmp(b.ptr, "one", 3));
    CHECK(cr_store_put(s, "../escape", "x", 1, 0) == CR_EINPUT);
    snprintf(full, sizeof(full), "%s/escape", base);
    CHECK(access(full, F_OK) != 0);

    /* Modes: sealed objects read-only, keys private, locks writable. */
    CHECK(cr_store_put(s, "keys/k", "k", 1, CR_STORE_PRIVATE) == 0);
    CHECK(cr_store_put(s, "locks/l", "l", 1, CR_STORE_MUTABLE) == 0);
    snprintf(full, sizeof(full), "%s/hunt/aa", path);
    CHECK(stat(full, &st) == 0 && (st.st_mode & 07777) == 0444);
    snprintf(full, sizeof(full), "%s/keys/k", path);
    CHECK(stat(full, &st) == 0 && (st.st_mode & 07777) == 0400);
    snprintf(full, sizeof(full), "%s/locks/l", path);
    CHECK(stat(full, &st) == 0 && (st.st_mode & 07777) == 0644);

    /* Bounded reads: an object larger than expected is not something we wrote. */
    CHECK(cr_store_get(s, "hunt/aa", &b, 2) == CR_ECORRUPT);
    CHECK(cr_store_get(s, "hunt/none", &b, 2) == CR_ENOTFOUND);
    CHECK(cr_store_stat(s, "hunt/aa", &info) == 0 && info.size == 3 && info.mtime_ns > 0);
    CHECK(cr_store_stat(s, "hunt/none", &info) == CR_ENOTFOUND);

    /* Ranged reads. */
    cr_store_obj *o;
    char buf[8];
    REQUIRE(cr_store_obj_open(&o, s, "hunt/aa") == 0);
    CHECK(cr_store_obj_size(o) == 3);
    CHECK(cr_store_obj_read(o, buf, 2, 1) == 0 && !memcmp(buf, "ne", 2));
    CHECK(cr_store_obj_read(o, buf, 3, 1) == CR_ECORRUPT);
    CHECK(cr_store_obj_read(o, buf, 1, UINT64_MAX) == CR_ECORRUPT);
    cr_store_obj_close(o);
    CHECK(cr_store_obj_open(&o, s, "hunt/none") == CR_ENOTFOUND && o == NULL);

    /* Listing leaves out interrupted writes; list_temp finds the old ones only. */
    snprintf(full, sizeof(full), "%s/hunt/.tmp-0123-bb", path);
    FILE *f = fopen(full, "w");
    REQUIRE(f);
    fclose(f);
    size_t n = 0;
    CHECK(cr_store_list(s, "hunt", 1, count_cb, &n) == 0 && n == 1);
    n = 0;
    CHECK(cr_store_list(s, "forget", 0, count_cb, &n) == 0 && n == 0);
    CHECK(cr_store_list(s, "forget", 1, count_cb, &n) == CR_ENOTFOUND);
    char got[256] = "";
    CHECK(cr_store_list_temp(s, "hunt", 3600, temp_cb, got) == 0 && got[0] == '\0');
    struct utimbuf old = {time(NULL) - 7200, time(NULL) - 7200};
    CHECK(utime(full, &old) == 0);
    CHECK(cr_store_list_temp(s, "hunt", 3600, temp_cb, got) == 0 &&
          !strcmp(got, "hunt/.tmp-0123-bb"));
    CHECK(cr_store_delete(s, got) == 0 && access(full, F_OK) != 0);
    CHECK(cr_store_delete(s, "hunt/aa") == 0);
    CHECK(cr_store_delete(s, "hunt/aa") == CR_ENOTFOUND);
    cr_store_free(s);

    /* A second vault is not made in a folder that holds one. */
    CHECK(cr_store_open(&s, path, CR_STORE_CREATE) == CR_EEXISTS);
    CHECK(cr_store_open(&s, "s3", 0) == CR_ENOTFOUND);
    cr_buf_free(&b);
    rm_rf(base);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_names();
    test_dir();
    return test_summary("test_objstore");
}
