/*
 * The recovery journal: entries read back as written; every kind of
 * tampering (an edited value, a removed, swapped or duplicated line, a line
 * cut in the middle) is caught at the right line; a torn last line refuses
 * appends until it is cut, and the cut is recorded; one writer at a time.
 * Keyed journals: MACs under the vault's key, heads recorded in the vault at
 * the end of a recovery; an edit, a cut end, another vault's key, a plain
 * line after keyed ones and a replaced journal are all refused.
 */
#include "test.h"

#include "fixture.h"
#include "recover/plan_priv.h"
#include "util/util.h"
#include "vault/vault.h"

#include <dirent.h>
#include <sys/wait.h>

static char dir[PATH_MAX], jpath[PATH_MAX];

static cr_buf slurp(const char *path)
{
    cr_buf b = CR_BUF_INIT;
    REQUIRE(cr_fs_read_all(&b, AT_FDCWD, path, 1 << 24) == 0);
    return b;
}

static void spit(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(len == 0 || write(fd, data, len) == (ssize_t)len);
    close(fd);
}

/* Offsets of the starts of lines (1-based index; [n+1] = end). */
static size_t line_starts(const cr_buf *b, size_t *st, size_t max)
{
    size_t n = 0;
    st[++n] = 0;
    for (size_t i = 0; i < b->len && n < max - 1; i++)
        if (b->ptr[i] == '\n' && i + 1 < b->len)
            st[++n] = i + 1;
    st[n + 1] = b->len;
    return n;
}

static void write_five(void)
{
    cr_journal *j = NULL;
    unlink(jpath);
    CHECK_OK(cr_journal_open(&j, jpath));
    REQUIRE(j);
    CHECK(cr_journal_count(j) == 0);
    CHECK(strcmp(cr_journal_head(j), "0000000000000000000000000000000000000000000000000000000000000000") == 0);
    const char *kv1[] = {"plan", "small-hospital.yaml", "services", "11"};
    CHECK_OK(cr_journal_append(j, "plan-loaded", NULL, kv1, 2));
    const char *kv2[] = {"snapshot", "1a2b3c4d", "why", "clean point: \"quoted\", tab\there"};
    CHECK_OK(cr_journal_append(j, "point-chosen", "dpi", kv2, 2));
    const char *kv3[] = {"bytes", "123456789"};
    CHECK_OK(cr_journal_append(j, "restore-done", "dpi", kv3, 1));
    const char *kv4[] = {"probe", "http", "result", "HTTP 200 in 0.03 s", "path", "/srv/\xff\xfe"};
    CHECK_OK(cr_journal_append(j, "probe", "dpi", kv4, 3));
    CHECK_OK(cr_journal_append(j, "ack", "dpi", NULL, 0));
    CHECK(cr_journal_count(j) == 5);
    /* bad calls change nothing */
    const char *dup[] = {"a", "1", "a", "2"};
    CHECK(cr_journal_append(j, "x", NULL, dup, 2) == CR_EINPUT);
    CHECK(cr_journal_append(j, "Bad Type", NULL, NULL, 0) == CR_EINPUT);
    const char *nokey[] = {"", "1"};
    CHECK(cr_journal_append(j, "x", NULL, nokey, 1) == CR_EINPUT);
    CHECK(cr_journal_count(j) == 5);

    /* a second writer is refused while the first holds it (another process:
     * flock is per open file, so the same process would do too) */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cr_journal *k = NULL;
        _exit(cr_journal_open(&k, jpath) == CR_ELOCKED ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_journal_close(j);
}

static void test_roundtrip(void)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 99;
    int64_t before = cr_time_now_ns();
    write_five();
    CHECK_OK(cr_journal_read(&e, &n, &bad, jpath));
    CHECK(bad == 0);
    REQUIRE(n == 5);
    for (size_t i = 0; i < n; i++) {
        CHECK(e[i].seq == i + 1);
        CHECK(e[i].time_ns <= cr_time_now_ns() && e[i].time_ns > before - 5000000000LL);
        CHECK(strlen(e[i].hash) == 64);
    }
    CHECK(strcmp(e[0].type, "plan-loaded") == 0 && e[0].service == NULL && e[0].nkv == 2);
    CHECK(strcmp(e[0].keys[1], "services") == 0 && strcmp(e[0].values[1], "11") == 0);
    CHECK(strcmp(e[1].service, "dpi") == 0);
    CHECK(strcmp(e[1].values[1], "clean point: \"quoted\", tab\there") == 0);
    CHECK(strcmp(e[3].values[2], "/srv/\\xff\\xfe") == 0); /* not UTF-8: shown as text */
    CHECK(e[4].nkv == 0);

    /* the hash is the SHA-256 of the line without its hash member (format.md §16) */
    cr_buf b = slurp(jpath);
    size_t stt[16];
    REQUIRE(line_starts(&b, stt, 16) == 5);
    const char *l2 = (const char *)b.ptr + stt[2];
    size_t l2len = stt[3] - stt[2] - 1;
    cr_buf body = CR_BUF_INIT;
    cr_buf_put(&body, l2, l2len - 75);
    cr_buf_put(&body, "}", 1);
    uint8_t h[32];
    char hex[65];
    cr_sha256(h, body.ptr, body.len);
    cr_hex_encode(hex, h, 32);
    CHECK(strcmp(hex, e[1].hash) == 0);
    CHECK(strstr(l2, e[0].hash) != NULL); /* prev */
    CHECK(strncmp(l2, "{\"seq\":2,\"time\":\"", 17) == 0);
    cr_buf_free(&body);
    cr_buf_free(&b);

    /* reopen and go on: the chain continues */
    cr_journal *j = NULL;
    CHECK_OK(cr_journal_open(&j, jpath));
    REQUIRE(j);
    CHECK(cr_journal_count(j) == 5 && strcmp(cr_journal_head(j), e[4].hash) == 0);
    CHECK_OK(cr_journal_append(j, "error", "pacs", (const char *[]){"message", "boom"}, 1));
    cr_journal_close(j);
    cr_journal_entries_free(e, n);
    CHECK_OK(cr_journal_read(&e, &n, &bad, jpath));
    CHECK(n == 6 && e[5].seq == 6);
    cr_journal_entries_free(e, n);
}

/* Read the tampered file: CR_ECORRUPT at `line`, with `why` in the message,
 * and the entries before it returned. */
static void expect_bad(const char *what, uint64_t line, const char *why)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    int err = cr_journal_read(&e, &n, &bad, jpath);
    CHECK(err == CR_ECORRUPT);
    CHECK(bad == line);
    CHECK(n == line - 1);
    CHECK(strstr(cr_error_last(), why) != NULL);
    if (err != CR_ECORRUPT || bad != line || !strstr(cr_error_last(), why))
        fprintf(stderr, "%s: err %d, line %llu, message: %s\n", what, err,
                (unsigned long long)bad, cr_error_last());
    /* and it cannot be appended to */
    cr_journal *j = NULL;
    CHECK(cr_journal_open(&j, jpath) == CR_ECORRUPT && j == NULL);
    cr_journal_entries_free(e, n);
}

static void test_tamper(void)
{
    cr_buf b, t = CR_BUF_INIT;
    size_t st[16];

    /* an edited value (same length) in line 3 */
    write_five();
    b = slurp(jpath);
    char *p = strstr((char *)b.ptr, "123456789");
    REQUIRE(p);
    p[0] = '9';
    spit(jpath, b.ptr, b.len);
    expect_bad("edit", 3, "changed after it was written");
    cr_buf_free(&b);

    /* an edited hash too (the line is then consistent, the next one is not) */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    {
        /* rewrite line 2 with another value and its own correct hash */
        char *l2 = (char *)b.ptr + st[2];
        char *q = strstr(l2, "1a2b3c4d");
        REQUIRE(q);
        q[0] = 'f';
        size_t l2len = st[3] - st[2] - 1;
        cr_buf body = CR_BUF_INIT;
        cr_buf_put(&body, l2, l2len - 75);
        cr_buf_put(&body, "}", 1);
        uint8_t h[32];
        char hex[65];
        cr_sha256(h, body.ptr, body.len);
        cr_hex_encode(hex, h, 32);
        memcpy(l2 + l2len - 66, hex, 64);
        cr_buf_free(&body);
    }
    spit(jpath, b.ptr, b.len);
    expect_bad("rehash", 3, "does not follow the entry before it");
    cr_buf_free(&b);

    /* a removed line (line 2) */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    cr_buf_reset(&t);
    cr_buf_put(&t, b.ptr, st[2]);
    cr_buf_put(&t, b.ptr + st[3], b.len - st[3]);
    spit(jpath, t.ptr, t.len);
    expect_bad("remove", 2, "entry 2 was removed or moved");
    cr_buf_free(&b);

    /* the first line removed */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    spit(jpath, b.ptr + st[2], b.len - st[2]);
    expect_bad("remove first", 1, "entry 1 was removed");
    cr_buf_free(&b);

    /* lines 3 and 4 swapped */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    cr_buf_reset(&t);
    cr_buf_put(&t, b.ptr, st[3]);
    cr_buf_put(&t, b.ptr + st[4], st[5] - st[4]);
    cr_buf_put(&t, b.ptr + st[3], st[4] - st[3]);
    cr_buf_put(&t, b.ptr + st[5], b.len - st[5]);
    spit(jpath, t.ptr, t.len);
    expect_bad("swap", 3, "holds entry 4 where entry 3 was expected");
    cr_buf_free(&b);

    /* line 2 duplicated right after itself */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    cr_buf_reset(&t);
    cr_buf_put(&t, b.ptr, st[3]);
    cr_buf_put(&t, b.ptr + st[2], st[3] - st[2]);
    cr_buf_put(&t, b.ptr + st[3], b.len - st[3]);
    spit(jpath, t.ptr, t.len);
    expect_bad("duplicate", 3, "repeats line 2");
    cr_buf_free(&b);

    /* line 1 copied at the end */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    cr_buf_reset(&t);
    cr_buf_put(&t, b.ptr, b.len);
    cr_buf_put(&t, b.ptr, st[2]);
    spit(jpath, t.ptr, t.len);
    expect_bad("duplicate first", 6, "repeats line 1");
    cr_buf_free(&b);

    /* garbage line, empty line */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    cr_buf_reset(&t);
    cr_buf_put(&t, b.ptr, st[4]);
    cr_buf_put(&t, "\n", 1);
    cr_buf_put(&t, b.ptr + st[4], b.len - st[4]);
    spit(jpath, t.ptr, t.len);
    expect_bad("empty line", 4, "not a journal entry");
    cr_buf_free(&b);

    cr_buf_free(&t);
}

static void test_torn(void)
{
    cr_buf b;
    size_t st[16];
    uint64_t cut = 0;

    /* truncated in the middle of line 5 (a crash while appending) */
    write_five();
    b = slurp(jpath);
    line_starts(&b, st, 16);
    size_t keep = st[5] + 40;
    spit(jpath, b.ptr, keep);
    expect_bad("torn", 5, "incomplete");
    CHECK(strstr(cr_error_last(), "--cut-torn") != NULL);

    /* cut it: the bytes go to .torn, the cut is journaled, appends work again */
    char torn[PATH_MAX + 8];
    snprintf(torn, sizeof(torn), "%s.torn", jpath);
    unlink(torn);
    CHECK_OK(cr_journal_cut_torn(&cut, jpath, NULL));
    CHECK(cut == 40);
    cr_buf tb = slurp(torn);
    CHECK(tb.len == 40 && memcmp(tb.ptr, b.ptr + st[5], 40) == 0);
    cr_buf_free(&tb);
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    CHECK_OK(cr_journal_read(&e, &n, &bad, jpath));
    REQUIRE(n == 5);
    CHECK(strcmp(e[4].type, "torn-tail-cut") == 0 && strcmp(e[4].keys[0], "bytes") == 0 &&
          strcmp(e[4].values[0], "40") == 0);
    cr_journal_entries_free(e, n);
    cr_journal *j = NULL;
    CHECK_OK(cr_journal_open(&j, jpath));
    cr_journal_close(j);

    /* an intact journal: nothing to cut */
    CHECK_OK(cr_journal_cut_torn(&cut, jpath, NULL));
    CHECK(cut == 0);

    /* cut just before the newline */
    write_five();
    spit(jpath, b.ptr, b.len - 1);
    expect_bad("no newline", 5, "incomplete");

    /* other damage: --cut-torn changes nothing */
    write_five();
    cr_buf c = slurp(jpath);
    char *p = strstr((char *)c.ptr, "small-hospital");
    REQUIRE(p);
    p[0] = 'S';
    spit(jpath, c.ptr, c.len - 10); /* edited and torn */
    CHECK(cr_journal_cut_torn(&cut, jpath, NULL) == CR_ECORRUPT);
    cr_buf after = slurp(jpath);
    CHECK(after.len == c.len - 10 && memcmp(after.ptr, c.ptr, after.len) == 0);
    cr_buf_free(&after);
    cr_buf_free(&c);
    cr_buf_free(&b);

    /* an empty journal is intact; a missing one is not found */
    spit(jpath, "", 0);
    CHECK_OK(cr_journal_read(&e, &n, &bad, jpath));
    CHECK(n == 0);
    char missing[PATH_MAX + 8];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    CHECK(cr_journal_read(&e, &n, &bad, missing) == CR_ENOTFOUND);
    CHECK(cr_journal_cut_torn(&cut, missing, NULL) == CR_ENOTFOUND);
}

static size_t heads_in(const char *vault)
{
    char p[PATH_MAX];
    size_t n = 0;
    join(p, vault, "journals");
    DIR *d = opendir(p);
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void keyed_recovery(cr_repo *repo, const char *path)
{
    cr_journal *j = NULL;
    unlink(path);
    CHECK_OK(cr_journal_open_keyed(&j, path, repo));
    REQUIRE(j);
    const char *kv1[] = {"mode", "recover", "vault", cr_repo_path(repo)};
    CHECK_OK(cr_journal_append(j, CR_JOURNAL_RECOVER_START, NULL, kv1, 2));
    const char *kv2[] = {"files", "12"};
    CHECK_OK(cr_journal_append(j, "restore-done", "dpi", kv2, 1));
    const char *kv3[] = {"status", "ok"};
    CHECK_OK(cr_journal_append(j, CR_JOURNAL_RECOVER_END, NULL, kv3, 1));
    cr_journal_close(j);
}

static void test_keyed(void)
{
    char da[64], db[64], kp[PATH_MAX], kp2[PATH_MAX];
    cr_repo *a = fx_repo_new(da, "jkeyA"), *b = fx_repo_new(db, "jkeyB");
    cr_journal_entry *e = NULL;
    cr_journal_check ck;
    size_t n = 0;
    uint64_t bad = 0;
    cr_journal *j = NULL;
    for (int i = 0; i < 32; i++) {
        a->master[i] = (uint8_t)(i + 1);
        b->master[i] = (uint8_t)(i + 2);
    }
    join(kp, dir, "keyed.journal");
    join(kp2, dir, "other.journal");
    keyed_recovery(a, kp);

    cr_buf f = slurp(kp);
    CHECK(memmem(f.ptr, f.len, "\"hash\":", 7) == NULL);
    CHECK(memmem(f.ptr, f.len, "\"mac\":", 6) != NULL);
    cr_buf_free(&f);
    CHECK(heads_in(da) == 1);
    CHECK_OK(cr_journal_verify(&e, &n, &bad, &ck, kp, a));
    CHECK(n == 3 && ck.keyed && ck.keyed_from == 1 && ck.vault && ck.heads == 1 && ck.sealed == 3);
    CHECK(strcmp(ck.id, e[0].hash) == 0);
    cr_journal_entries_free(e, n);
    /* Without the vault: no verdict, never "intact". */
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, NULL) == CR_EINPUT);
    cr_journal_entries_free(e, n);
    CHECK(cr_journal_open(&j, kp) == CR_EINPUT);
    CHECK(j == NULL);
    /* Another vault's key. */
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, b) == CR_ECORRUPT && bad == 1);
    CHECK(strstr(cr_error_last(), "does not match its MAC") != NULL);
    cr_journal_entries_free(e, n);

    /* An edited value (a MAC can only be computed with the key). */
    f = slurp(kp);
    size_t st[16];
    line_starts(&f, st, 16);
    uint8_t *p = memmem(f.ptr, f.len, "\"12\"", 4);
    REQUIRE(p);
    p[1] = '9';
    spit(kp, f.ptr, f.len);
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, a) == CR_ECORRUPT && bad == 2);
    cr_journal_entries_free(e, n);
    /* The end cut off: the vault recorded 3 entries. */
    p[1] = '1';
    spit(kp, f.ptr, st[3]);
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, a) == CR_ECORRUPT && bad == 3 && ck.missing == 1);
    CHECK(strstr(cr_error_last(), "were removed") != NULL);
    cr_journal_entries_free(e, n);
    spit(kp, f.ptr, f.len);
    CHECK_OK(cr_journal_verify(&e, &n, &bad, &ck, kp, a));
    cr_journal_entries_free(e, n);
    cr_buf_free(&f);

    /* Replaced by a plain journal, or by another keyed one of the same vault. */
    unlink(kp);
    CHECK_OK(cr_journal_open(&j, kp));
    CHECK_OK(cr_journal_append(j, CR_JOURNAL_RECOVER_START, NULL, NULL, 0));
    cr_journal_close(j);
    CHECK_OK(cr_journal_verify(&e, &n, &bad, &ck, kp, NULL)); /* plain, no vault: not keyed */
    CHECK(!ck.keyed);
    cr_journal_entries_free(e, n);
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, a) == CR_ECORRUPT && bad == 1);
    CHECK(strstr(cr_error_last(), "replaced") != NULL);
    cr_journal_entries_free(e, n);
    keyed_recovery(a, kp2);
    CHECK(rename(kp2, kp) == 0);
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp, a) == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "replaced") != NULL);
    cr_journal_entries_free(e, n);

    /* A plain journal continued with the vault goes on keyed; never the reverse. */
    join(kp2, dir, "upgraded.journal");
    unlink(kp2);
    CHECK_OK(cr_journal_open(&j, kp2));
    CHECK_OK(cr_journal_append(j, "plan-loaded", NULL, NULL, 0));
    CHECK_OK(cr_journal_append(j, "plan-loaded", NULL, NULL, 0));
    cr_journal_close(j);
    CHECK_OK(cr_journal_open_keyed(&j, kp2, a));
    CHECK_OK(cr_journal_append(j, "restore-done", "dpi", NULL, 0));
    cr_journal_close(j);
    CHECK_OK(cr_journal_verify(&e, &n, &bad, &ck, kp2, a));
    CHECK(n == 3 && ck.keyed && ck.keyed_from == 3);
    cr_journal_entries_free(e, n);
    /* A plain line, well linked and hashed, after the keyed one. */
    char body[512], line[640], hx[CR_ID_HEX_LEN + 1];
    uint8_t h[32];
    CHECK_OK(cr_journal_verify(&e, &n, &bad, &ck, kp2, a));
    snprintf(body, sizeof(body),
             "{\"seq\":4,\"time\":\"2026-11-22T03:00:00Z\",\"type\":\"ack\",\"service\":null,"
             "\"data\":{},\"prev\":\"%s\"}",
             e[2].hash);
    cr_journal_entries_free(e, n);
    cr_sha256(h, body, strlen(body));
    cr_hex_encode(hx, h, 32);
    snprintf(line, sizeof(line), "%.*s,\"hash\":\"%s\"}\n", (int)strlen(body) - 1, body, hx);
    f = slurp(kp2);
    REQUIRE(cr_buf_put(&f, line, strlen(line)) == 0);
    spit(kp2, f.ptr, f.len);
    cr_buf_free(&f);
    CHECK(cr_journal_verify(&e, &n, &bad, &ck, kp2, a) == CR_ECORRUPT && bad == 4);
    CHECK(strstr(cr_error_last(), "without the vault's key") != NULL);
    cr_journal_entries_free(e, n);

    fx_repo_free(a, da);
    fx_repo_free(b, db);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "%s/cr-journal-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(dir));
    join(jpath, dir, "journal.jsonl");
    test_roundtrip();
    test_tamper();
    test_torn();
    test_keyed();
    rm_rf(dir);
    return test_summary("test_journal");
}
