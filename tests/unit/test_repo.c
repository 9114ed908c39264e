/* Unit tests of vault creation and opening, key files, encrypted files, listing and locks. */
#include "test.h"
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[256];

static void path_of(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", base, rel);
}

static int exists(const char *vault, const char *rel)
{
    char p[PATH_MAX * 2];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", vault, rel);
    return stat(p, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

/* Name of the only / first key file of a vault. */
static int count_dir(const char *vault, const char *sub, char *first, size_t firstlen)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", vault, sub);
    DIR *d = opendir(p);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n++ == 0 && first)
            snprintf(first, firstlen, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void test_init(void)
{
    char v[PATH_MAX], p[PATH_MAX * 2];
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    o.compression_level = 5;

    path_of(v, sizeof(v), "new/sub/vault"); /* parents are created too */
    CHECK_OK(cr_repo_init(v, "correct horse", &o));
    CHECK(exists(v, "config"));
    CHECK(exists(v, "data/00") && exists(v, "data/ff") && exists(v, "index") &&
          exists(v, "snapshots") && exists(v, "locks"));
    CHECK(count_dir(v, "keys", NULL, 0) == 1);

    /* A second init refuses and changes nothing. */
    CHECK(cr_repo_init(v, "other", &o) == CR_EEXISTS);
    CHECK(strstr(cr_error_last(), "already exists") != NULL);
    CHECK(count_dir(v, "keys", NULL, 0) == 1);

    /* A non-empty folder is refused, and stays as it was. */
    path_of(v, sizeof(v), "busy");
    mkdir(v, 0755);
    snprintf(p, sizeof(p), "%s/patient-records.txt", v);
    write_file(p, "important");
    CHECK(cr_repo_init(v, "pw", &o) == CR_EEXISTS);
    CHECK(strstr(cr_error_last(), "not empty") != NULL);
    CHECK(!exists(v, "config") && !exists(v, "keys"));

    /* A file in the way, bad options. */
    CHECK(cr_repo_init(p, "pw", &o) == CR_EEXISTS);
    path_of(v, sizeof(v), "bad-level");
    o.compression_level = 99;
    CHECK(cr_repo_init(v, "pw", &o) == CR_EINPUT);
    o.compression_level = 0;
    CHECK(cr_repo_init(v, "", &o) == CR_EINPUT);
    CHECK(!exists(v, "config"));

    /* An empty existing folder (and lost+found, as on a new disk) is fine. */
    path_of(v, sizeof(v), "empty");
    mkdir(v, 0755);
    snprintf(p, sizeof(p), "%s/lost+found", v);
    mkdir(p, 0700);
    CHECK_OK(cr_repo_init(v, "pw", &o));
}

static void test_open(void)
{
    char v[PATH_MAX], p[PATH_MAX * 2];
    cr_repo *r = NULL;
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    o.compression_level = 7;
    path_of(v, sizeof(v), "open");
    REQUIRE(cr_repo_init(v, "s3cret passphrase", &o) == 0);

    CHECK(cr_repo_open(&r, v, "wrong") == CR_EAUTH);
    CHECK(r == NULL);
    CHECK(strstr(cr_error_last(), "wrong passphrase") != NULL);
    CHECK(strstr(cr_error_last(), "none of the 1 keys") != NULL);

    CHECK_OK(cr_repo_open(&r, v, "s3cret passphrase"));
    REQUIRE(r);
    CHECK(strcmp(cr_repo_path(r), v) == 0);
    CHECK(strlen(cr_repo_id(r)) == 64 && cr_is_hex(cr_repo_id(r)));
    CHECK(r->compression_level == 7);
    char key[300];
    count_dir(v, "keys", key, sizeof(key));
    CHECK(strcmp(r->key_file, key) == 0);
    cr_repo_free(r);
    cr_repo_free(NULL);

    /* No vault there. */
    path_of(p, sizeof(p), "nothing-here");
    CHECK(cr_repo_open(&r, p, "x") == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "no cleanroom vault at") != NULL);
    path_of(p, sizeof(p), "busy"); /* a folder without config */
    CHECK(cr_repo_open(&r, p, "x") == CR_ENOTFOUND);

    /* A newer format version. */
    path_of(p, sizeof(p), "future");
    o.compression_level = 0;
    REQUIRE(cr_repo_init(p, "pw", &o) == 0);
    char cfg[PATH_MAX * 3];
    snprintf(cfg, sizeof(cfg), "%s/config", p);
    write_file(cfg, "{\"format\":\"cleanroom-vault\",\"version\":2,\"id\":\"0000000000000000000000"
                    "000000000000000000000000000000000000000000\"}");
    CHECK(cr_repo_open(&r, p, "pw") == CR_EVERSION);
    write_file(cfg, "{\"format\":\"cleanroom-vault\",\"version\":1,\"id\":\"xyz\"}");
    CHECK(cr_repo_open(&r, p, "pw") == CR_ECORRUPT);
    write_file(cfg, "not json");
    CHECK(cr_repo_open(&r, p, "pw") == CR_ECORRUPT);
}

static void test_keys(void)
{
    char v[PATH_MAX], id_b[CR_ID_HEX_LEN + 1], id_a[CR_ID_HEX_LEN + 1];
    cr_repo *a = NULL, *b = NULL, *c = NULL;
    cr_key_info *ki = NULL;
    size_t n = 0;
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    path_of(v, sizeof(v), "keys");
    REQUIRE(cr_repo_init(v, "alpha", &o) == 0);
    REQUIRE(cr_repo_open(&a, v, "alpha") == 0);
    memcpy(id_a, a->key_file, sizeof(id_a));

    CHECK(cr_key_add(a, "", CR_KDF_INTERACTIVE, id_b) == CR_EINPUT);
    CHECK_OK(cr_key_add(a, "bravo", CR_KDF_INTERACTIVE, id_b));
    CHECK(strlen(id_b) == 64 && strcmp(id_a, id_b) != 0);

    /* The new passphrase opens the same vault with the same keys. */
    REQUIRE(cr_repo_open(&b, v, "bravo") == 0);
    CHECK(strcmp(b->key_file, id_b) == 0);
    CHECK(memcmp(&a->keys, &b->keys, sizeof(a->keys)) == 0);
    CHECK(cr_repo_open(&c, v, "charlie") == CR_EAUTH);
    CHECK(strstr(cr_error_last(), "none of the 2 keys") != NULL);

    CHECK_OK(cr_key_list(b, &ki, &n));
    CHECK(n == 2);
    int current = 0;
    for (size_t i = 0; i < n; i++) {
        current += ki[i].current;
        if (ki[i].current)
            CHECK(strcmp(ki[i].id, id_b) == 0);
        CHECK(ki[i].created > 1600000000);
    }
    CHECK(current == 1);
    free(ki);

    /* The key in use cannot be removed; another one can (by prefix). */
    CHECK(cr_key_remove(b, id_b) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "opened the vault") != NULL);
    CHECK(cr_key_remove(b, "zz") == CR_EINPUT);
    CHECK(cr_key_remove(b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") ==
          CR_ENOTFOUND);
    char prefix[9];
    snprintf(prefix, sizeof(prefix), "%.8s", id_a);
    CHECK_OK(cr_key_remove(b, prefix));
    CHECK_OK(cr_key_list(b, &ki, &n));
    CHECK(n == 1);
    free(ki);
    CHECK(cr_repo_open(&c, v, "alpha") == CR_EAUTH);
    CHECK(cr_key_remove(b, id_b) == CR_EINPUT); /* the last key, and the current one */
    CHECK(cr_key_remove(a, id_b) == CR_EINPUT); /* a's own key is gone: id_b is the last */

    /* A damaged key file: skipped if another opens; CR_ECORRUPT if none does. */
    char id_c[CR_ID_HEX_LEN + 1], p[PATH_MAX * 2];
    CHECK_OK(cr_key_add(b, "charlie", CR_KDF_INTERACTIVE, id_c));
    snprintf(p, sizeof(p), "%s/keys/%s", v, id_c);
    FILE *f = fopen(p, "r+");
    REQUIRE(f);
    fseek(f, 5, SEEK_SET);
    fputc(' ', f);
    fclose(f);
    CHECK_OK(cr_repo_open(&c, v, "bravo"));
    cr_repo_free(c);
    c = NULL;
    CHECK(cr_repo_open(&c, v, "charlie") == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "damaged") != NULL);
    CHECK_OK(cr_key_list(b, &ki, &n));
    CHECK(n == 2);
    free(ki);

    cr_repo_free(a);
    cr_repo_free(b);
}

#define KF_FMT                                                                                     \
    "{\"version\":1,\"kdf\":\"argon2id13\",\"opslimit\":%s,\"memlimit\":%s,"                       \
    "\"salt\":\"%s\",\"sealed_master\":\""                                                         \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"                                             \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"                                                 \
    "AAAA\",\"created\":\"2026-01-02T03:04:05Z\",\"hostname\":\"h\",\"username\":\"u\"}"

static int parse_kf(cr_keyfile *kf, const char *ops, const char *mem, const char *salt)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), KF_FMT, ops, mem, salt);
    return cr_keyfile_parse(kf, buf, strlen(buf));
}

static void test_keyfile_parse(void)
{
    cr_keyfile kf;
    const char *salt = "AAAAAAAAAAAAAAAAAAAAAA==";
    CHECK_OK(parse_kf(&kf, "2", "67108864", salt));
    CHECK(kf.opslimit == 2 && kf.memlimit == 67108864 && strcmp(kf.hostname, "h") == 0);
    CHECK(kf.created_ns == 1767323045LL * 1000000000LL);

    /* A hostile key file cannot ask for 1 TiB of memory or a year of work. */
    CHECK_OK(parse_kf(&kf, "64", "4294967296", salt));
    CHECK(parse_kf(&kf, "2", "4294967297", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "2", "1099511627776", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "65", "67108864", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "0", "67108864", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "2", "-1", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "\"2\"", "67108864", salt) == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "2", "67108864", "AAAAAAAAAAAAAAAAAAAAA===") == CR_ECORRUPT);
    CHECK(parse_kf(&kf, "2", "67108864", "not base64!") == CR_ECORRUPT);
    const char *v2 = "{\"version\":2}";
    CHECK(cr_keyfile_parse(&kf, v2, strlen(v2)) == CR_EVERSION);
    CHECK(cr_keyfile_parse(&kf, "{", 1) == CR_ECORRUPT);
    CHECK(cr_keyfile_parse(&kf, "[]", 2) == CR_ECORRUPT);
    CHECK(cr_keyfile_parse(&kf, "", 0) == CR_ECORRUPT);
}

static void test_files(void)
{
    char v[PATH_MAX], p[PATH_MAX * 2], hex[65];
    cr_repo *r = NULL;
    cr_id id, id2, *ids = NULL;
    size_t n = 0;
    cr_buf b = CR_BUF_INIT;
    static char big[100000];
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    path_of(v, sizeof(v), "files");
    REQUIRE(cr_repo_init(v, "pw", &o) == 0);
    REQUIRE(cr_repo_open(&r, v, "pw") == 0);

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 7);
    CHECK_OK(cr_repo_save_file(&id, r, "snapshots", big, sizeof(big)));
    CHECK_OK(cr_repo_load_file(&b, r, "snapshots", &id));
    CHECK(b.len == sizeof(big) && memcmp(b.ptr, big, sizeof(big)) == 0);
    /* Compressed on disk. */
    snprintf(p, sizeof(p), "%s/snapshots/%s", v, cr_id_to_hex(hex, &id));
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size < (off_t)sizeof(big) / 10);

    /* Incompressible and empty contents. */
    uint8_t rnd[300];
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK_OK(cr_repo_save_file(&id2, r, "index", rnd, sizeof(rnd)));
    CHECK_OK(cr_repo_load_file(&b, r, "index", &id2));
    CHECK(b.len == sizeof(rnd) && memcmp(b.ptr, rnd, sizeof(rnd)) == 0);
    CHECK_OK(cr_repo_save_file(&id2, r, "index", "", 0));
    CHECK_OK(cr_repo_load_file(&b, r, "index", &id2));
    CHECK(b.len == 0);

    /* A file under the wrong kind fails authentication (AD names the kind). */
    char from[PATH_MAX * 2], to[PATH_MAX * 2];
    snprintf(from, sizeof(from), "%s/snapshots/%s", v, hex);
    snprintf(to, sizeof(to), "%s/index/%s", v, hex);
    REQUIRE(link(from, to) == 0);
    CHECK(cr_repo_load_file(&b, r, "index", &id) == CR_ECORRUPT);
    unlink(to);

    /* Listing: ids only, no temp files, no foreign names. */
    snprintf(p, sizeof(p), "%s/snapshots/.tmp-0011-%s", v, hex);
    write_file(p, "partial");
    snprintf(p, sizeof(p), "%s/snapshots/README", v);
    write_file(p, "hello");
    CHECK_OK(cr_repo_list(&ids, &n, r, "snapshots"));
    CHECK(n == 1 && memcmp(ids[0].b, id.b, 32) == 0);
    free(ids);
    CHECK_OK(cr_repo_list(&ids, &n, r, "keys"));
    CHECK(n == 1);
    free(ids);
    CHECK_OK(cr_repo_list(&ids, &n, r, "index"));
    CHECK(n == 2);
    free(ids);
    /* Packs are found in their data/xx folder only. */
    const char *pk = "ab00000000000000000000000000000000000000000000000000000000000001";
    snprintf(p, sizeof(p), "%s/data/ab/%s", v, pk);
    write_file(p, "x");
    snprintf(p, sizeof(p), "%s/data/cd/%s", v, pk);
    write_file(p, "x");
    snprintf(p, sizeof(p), "%s/data/ab/.tmp-1-%s", v, pk);
    write_file(p, "x");
    CHECK_OK(cr_repo_list(&ids, &n, r, "data"));
    CHECK(n == 1 && ids && ids[0].b[0] == 0xab && ids[0].b[31] == 1);
    free(ids);

    /* Damage: a flipped byte is caught by the name check, a missing file is not found. */
    snprintf(p, sizeof(p), "%s/snapshots/%s", v, hex);
    FILE *f = fopen(p, "r+");
    REQUIRE(f);
    fseek(f, 30, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 30, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    CHECK(cr_repo_load_file(&b, r, "snapshots", &id) == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "does not match its name") != NULL);
    id.b[0] ^= 1;
    CHECK(cr_repo_load_file(&b, r, "snapshots", &id) == CR_ENOTFOUND);

    cr_buf_free(&b);
    cr_repo_free(r);
}

static void write_lock(const char *vault, const char *name, long pid, const char *host, int excl)
{
    char p[PATH_MAX * 2], text[512];
    snprintf(p, sizeof(p), "%s/locks/%s", vault, name);
    snprintf(text, sizeof(text),
             "{\"pid\":%ld,\"hostname\":\"%s\",\"time\":\"2026-01-01T00:00:00Z\",\"exclusive\":%s}",
             pid, host, excl ? "true" : "false");
    write_file(p, text);
}

static void test_locks(void)
{
    char v[PATH_MAX], p[PATH_MAX * 2], host[256];
    cr_repo *r = NULL;
    cr_lock *l1 = NULL, *l2 = NULL, *l3 = NULL;
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    o.kdf = CR_KDF_INTERACTIVE;
    path_of(v, sizeof(v), "locks");
    REQUIRE(cr_repo_init(v, "pw", &o) == 0);
    REQUIRE(cr_repo_open(&r, v, "pw") == 0);
    gethostname(host, sizeof(host));

    CHECK_OK(cr_lock_acquire(&l1, r, 0));
    CHECK_OK(cr_lock_acquire(&l2, r, 0)); /* shared locks coexist */
    CHECK(count_dir(v, "locks", NULL, 0) == 2);
    CHECK(cr_lock_acquire(&l3, r, 1) == CR_ELOCKED);
    CHECK(l3 == NULL);
    CHECK(strstr(cr_error_last(), "locked") != NULL);
    CHECK(strstr(cr_error_last(), host) != NULL);
    char pidstr[32];
    snprintf(pidstr, sizeof(pidstr), "process %ld", (long)getpid());
    CHECK(strstr(cr_error_last(), pidstr) != NULL);
    CHECK(count_dir(v, "locks", NULL, 0) == 2); /* the failed attempt left nothing */
    /* Key removal needs the exclusive lock. */
    CHECK(cr_key_remove(r, "abcd") == CR_ELOCKED);
    cr_lock_release(l1);
    cr_lock_release(l2);
    cr_lock_release(NULL);
    CHECK(count_dir(v, "locks", NULL, 0) == 0);

    CHECK_OK(cr_lock_acquire(&l1, r, 1));
    CHECK(cr_lock_acquire(&l2, r, 0) == CR_ELOCKED);
    CHECK(strstr(cr_error_last(), "exclusive") != NULL);
    cr_lock_release(l1);

    /* A lock of a dead process on this host is stale: removed silently. */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    REQUIRE(child > 0);
    waitpid(child, NULL, 0);
    write_lock(v, "0123456789abcdef0123456789abcdef", (long)child, host, 1);
    CHECK_OK(cr_lock_acquire(&l1, r, 1));
    CHECK(count_dir(v, "locks", NULL, 0) == 1); /* only ours */
    cr_lock_release(l1);

    /* A live process (ours, as another holder), or another host: not stale. */
    write_lock(v, "aaaa", (long)getpid(), host, 0);
    CHECK_OK(cr_lock_acquire(&l1, r, 0));
    cr_lock_release(l1);
    CHECK(cr_lock_acquire(&l1, r, 1) == CR_ELOCKED);
    snprintf(p, sizeof(p), "%s/locks/aaaa", v);
    unlink(p);
    write_lock(v, "bbbb", 1, "some-other-host", 1);
    CHECK(cr_lock_acquire(&l1, r, 0) == CR_ELOCKED);
    CHECK(strstr(cr_error_last(), "some-other-host") != NULL);
    CHECK(strstr(cr_error_last(), "locks/bbbb") != NULL); /* says what to remove */
    snprintf(p, sizeof(p), "%s/locks/bbbb", v);
    unlink(p);

    /* Unreadable lock files: live while young, stale when old. */
    snprintf(p, sizeof(p), "%s/locks/cccc", v);
    write_file(p, "garbage");
    CHECK(cr_lock_acquire(&l1, r, 0) == CR_ELOCKED);
    struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    REQUIRE(utimensat(AT_FDCWD, p, old, 0) == 0);
    CHECK_OK(cr_lock_acquire(&l1, r, 1));
    CHECK(access(p, F_OK) != 0);
    cr_lock_release(l1);

    cr_repo_free(r);
}

/* Leftover temporary files of killed writes are removed once old, never while fresh. */
static void test_clean_temp(void)
{
    char v[PATH_MAX], old1[PATH_MAX * 2], old2[PATH_MAX * 2], fresh[PATH_MAX * 2];
    cr_repo *r = NULL;
    cr_init_options o = CR_INIT_OPTIONS_INIT;
    struct timespec ts[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    o.kdf = CR_KDF_INTERACTIVE;
    path_of(v, sizeof(v), "clean");
    REQUIRE(cr_repo_init(v, "pw", &o) == 0);
    REQUIRE(cr_repo_open(&r, v, "pw") == 0);
    snprintf(old1, sizeof(old1), "%s/data/ab/.tmp-0011223344556677-x", v);
    snprintf(old2, sizeof(old2), "%s/index/.tmp-8899aabbccddeeff-y", v);
    snprintf(fresh, sizeof(fresh), "%s/data/ab/.tmp-ffeeddccbbaa9988-z", v);
    write_file(old1, "partial pack");
    write_file(old2, "partial index");
    write_file(fresh, "write in progress");
    CHECK(utimensat(AT_FDCWD, old1, ts, 0) == 0);
    CHECK(utimensat(AT_FDCWD, old2, ts, 0) == 0);
    CHECK(cr_repo_clean_temp(r, 3600) == 2);
    CHECK(access(old1, F_OK) != 0 && access(old2, F_OK) != 0);
    CHECK(access(fresh, F_OK) == 0);
    CHECK(exists(v, "config"));
    cr_repo_free(r);
}

int main(void)
{
    char tmpl[] = "/tmp/cr-test-repo-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    snprintf(base, sizeof(base), "%s", tmpl);
    REQUIRE(cr_init() == 0);
    test_init();
    test_open();
    test_keys();
    test_keyfile_parse();
    test_files();
    test_locks();
    test_clean_temp();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", base);
    return test_summary("test_repo");
}
