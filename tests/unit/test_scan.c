/*
 * Unit tests of src/hunt/scan.c: contents backed up into a real vault are
 * scanned and their facts checked against what OpenSSL and a direct reading
 * of the original files say.
 *
 *  - head entropy: ~0 for zeros, > 7.9 for random bytes; magic = first bytes;
 *  - MD5 / SHA-1 / SHA-256 equal OpenSSL's over the original bytes, for a
 *    small file, an empty one, a sparse one (holes hash as zeros), 20 MiB of
 *    zeros written out (one zero chunk repeated: read once) and a large one
 *    made of several extents; only what is asked is computed;
 *  - YARA: a rule compiled from a string matches the file holding its marker
 *    and no other; namespaced rules are named "ns:rule"; without rules the
 *    verdict is "no match"; a content larger than max_scan_bytes is scanned
 *    extent by extent, marked partial, still finds a marker inside an extent,
 *    keeps "filesize" and "at 0" meaning the whole file (an "MZ" at the start
 *    of a later extent is not "MZ at 0");
 *  - content ids: equal for equal contents, different otherwise, stable
 *    across snapshots;
 *  - a damaged blob gives that content an error and one warning, the others
 *    are scanned as before; a tree whose extents do not hold together is
 *    refused (job error, hn_read_node CR_ECORRUPT);
 *  - a YARA scan stopped by the timeout: error, warning, the other facts
 *    kept, no YARA verdict;
 *  - one and two threads give the same facts; progress ends at the totals;
 *  - hn_read_node returns the bytes, holes as zeros, and refuses more than max;
 *  - hn_facts_copy / hn_facts_clear;
 *  - files that are parts of shared 4 MiB blobs (blob_off, as inside disk
 *    images): right facts, each blob decoded about once whatever the job
 *    order, content ids of whole-blob files unchanged, an extent beyond its
 *    blob an error for that file only.
 */
#include "test.h"
#define FX_SEED 0x5CA77E5C0FFEEull
#include "fixture.h"
#include "hunt/hunt.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW "scan me"
#define MARKER "CLEANROOM-SCAN-TEST-MARKER-7f3a91"

static char base[PATH_MAX], src[PATH_MAX], vault[PATH_MAX];

static const char *rule_text = "rule test_marker { strings: $a = \"" MARKER "\" condition: $a }\n"
                               "rule mz_at_zero { strings: $m = \"MZ\" condition: $m at 0 }\n"
                               "rule big_file { condition: filesize > 5MB }\n";
static const char *ns_rule_text =
    "rule hello_rule { strings: $h = \"hello, world\" condition: $h }";

/* ------------------------------------------------------------ helpers */

enum { F_SMALL, F_EMPTY, F_ZEROS, F_RANDOM, F_SPARSE, F_BIG, F_DUP1, F_DUP2, F_EVIL, F_VICTIM, NF };
static const char *names[NF] = {"small.txt", "empty",    "zeros.bin", "random.bin", "sparse.img",
                                "big.bin",   "dup1.dat", "dup2.dat",  "evil.php",   "victim.bin"};

static cr_node nodes[NF];
static char paths[NF][PATH_MAX];
static uint64_t big_marker_off;

static int walk_cb(const char *path, const cr_node *node, void *payload)
{
    (void)payload;
    if (node->type != CR_NODE_FILE)
        return 0;
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    for (int i = 0; i < NF; i++)
        if (!strcmp(name, names[i])) {
            cr_node_clear(&nodes[i]);
            REQUIRE(cr_node_copy(&nodes[i], node) == 0);
            snprintf(paths[i], PATH_MAX, "%s", path);
        }
    return 0;
}

static void load_nodes(cr_repo *repo, const cr_snapshot *snap)
{
    REQUIRE(cr_snapshot_walk(repo, snap, "/", 1, walk_cb, NULL) == 0);
    for (int i = 0; i < NF; i++)
        REQUIRE(nodes[i].type == CR_NODE_FILE);
}

static cr_snapshot *backup(cr_repo *repo)
{
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const char *p[] = {src};
    cr_snapshot *snap = NULL;
    bo.source = "lab";
    bo.force_read = 1;
    REQUIRE(cr_backup(&snap, repo, p, 1, &bo) == 0);
    return snap;
}

static uint8_t *read_file(const char *name, size_t *len)
{
    char p[PATH_MAX];
    struct stat st;
    join(p, src, name);
    int fd = open(p, O_RDONLY);
    REQUIRE(fd >= 0 && fstat(fd, &st) == 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    REQUIRE(b);
    size_t got = 0;
    ssize_t n;
    while (got < (size_t)st.st_size && (n = read(fd, b + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    close(fd);
    REQUIRE(got == (size_t)st.st_size);
    *len = got;
    return b;
}

static void digest(const char *md, const uint8_t *p, size_t n, uint8_t *out)
{
    unsigned len = 0;
    REQUIRE(EVP_Digest(p, n, out, &len, EVP_get_digestbyname(md), NULL) == 1);
}

/* Facts of the original file equal what was learnt from the vault. */
static void check_hashes(int i, const hn_facts *f)
{
    size_t len;
    uint8_t *b = read_file(names[i], &len), h[32];
    CHECK(f->have & HN_HAVE_MD5);
    CHECK(f->have & HN_HAVE_SHA1);
    CHECK(f->have & HN_HAVE_SHA256);
    digest("MD5", b, len, h);
    CHECK(memcmp(h, f->md5, 16) == 0);
    digest("SHA1", b, len, h);
    CHECK(memcmp(h, f->sha1, 20) == 0);
    digest("SHA256", b, len, h);
    CHECK(memcmp(h, f->sha256, 32) == 0);
    size_t m = len < HN_MAGIC_BYTES ? len : HN_MAGIC_BYTES;
    CHECK(f->have & HN_HAVE_HEAD);
    CHECK(f->magic_len == m);
    CHECK(memcmp(f->magic, b, m) == 0);
    CHECK(f->head_len == (len < HN_HEAD_BYTES ? len : HN_HEAD_BYTES));
    free(b);
}

static int has_rule(const hn_facts *f, const char *name)
{
    for (size_t i = 0; i < f->nyara; i++)
        if (!strcmp(f->yara[i], name))
            return 1;
    return 0;
}

typedef struct warn_log {
    int n;
    char path[PATH_MAX];
    char msg[1024];
} warn_log;

static void on_warning(const char *path, const char *message, void *payload)
{
    warn_log *l = payload;
    fprintf(stderr, "  (warning) %s: %s\n", path, message);
    if (l->n++ == 0) {
        snprintf(l->path, sizeof(l->path), "%s", path);
        snprintf(l->msg, sizeof(l->msg), "%s", message);
    }
}

typedef struct prog_log {
    int calls;
    cr_progress last;
} prog_log;

static void on_progress(const cr_progress *p, void *payload)
{
    prog_log *l = payload;
    l->calls++;
    l->last = *p;
}

/* Scan every file with `need`; facts[] are cleared first and filled. */
static int scan_all(cr_repo *repo, const hn_ruleset *rs, hn_facts *facts, hn_scan_job *jobs,
                    unsigned need, int threads, uint64_t max_scan, warn_log *wl, hn_scan_stats *st)
{
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    o.threads = threads;
    o.max_scan_bytes = max_scan;
    o.warning = on_warning;
    o.payload = wl;
    for (int i = 0; i < NF; i++) {
        hn_facts_clear(&facts[i]);
        hn_content_id(&facts[i].content, &nodes[i]);
        facts[i].size = nodes[i].size;
        jobs[i].node = &nodes[i];
        jobs[i].path = paths[i];
        jobs[i].need = need;
        jobs[i].facts = &facts[i];
        jobs[i].error = 12345;
    }
    return hn_scan(st, repo, rs, jobs, NF, &o);
}

static YR_RULES *compile_rules(void)
{
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    REQUIRE(yr_compiler_create(&comp) == ERROR_SUCCESS);
    REQUIRE(yr_compiler_add_string(comp, rule_text, NULL) == 0);
    REQUIRE(yr_compiler_add_string(comp, ns_rule_text, "ns1") == 0);
    REQUIRE(yr_compiler_get_rules(comp, &rules) == ERROR_SUCCESS);
    yr_compiler_destroy(comp);
    return rules;
}

/* ------------------------------------------------------------ fixtures */

static void make_sources(void)
{
    static uint8_t buf[6 * 1024 * 1024 + 123];
    char p[PATH_MAX];

    write_at(src, names[F_SMALL], "hello, world\nsecond line\n", 25);
    write_at(src, names[F_EMPTY], "", 0);
    /* zeros written out (not sparse): 20 MiB, three chunks, the first two the same stored
     * piece (read once, used twice) */
    memset(buf, 0, sizeof(buf));
    {
        char zp[PATH_MAX];
        join(zp, src, names[F_ZEROS]);
        int zfd = open(zp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(zfd >= 0);
        for (int k = 0; k < 4; k++)
            REQUIRE(write(zfd, buf, 5u << 20) == (ssize_t)(5u << 20));
        REQUIRE(write(zfd, buf, 123) == 123);
        close(zfd);
    }
    fill_random(buf, 200000);
    write_at(src, names[F_RANDOM], buf, 200000);

    /* sparse: 4 KiB data, a 32 MiB hole, 4 KiB data, then a hole to the end */
    join(p, src, names[F_SPARSE]);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    fill_random(buf, 8192);
    memcpy(buf, "\177ELF", 4);
    REQUIRE(pwrite(fd, buf, 4096, 0) == 4096);
    REQUIRE(pwrite(fd, buf + 4096, 4096, 32 << 20) == 4096);
    REQUIRE(ftruncate(fd, (40 << 20) + 17) == 0);
    close(fd);

    /* big: several extents, the marker well inside, does not start with MZ */
    fill_random(buf, sizeof(buf));
    buf[0] = 'X';
    big_marker_off = 3 * 1024 * 1024 + 1000;
    memcpy(buf + big_marker_off, MARKER, strlen(MARKER));
    write_at(src, names[F_BIG], buf, sizeof(buf));

    fill_random(buf, 70000);
    write_at(src, names[F_DUP1], buf, 70000);
    write_at(src, names[F_DUP2], buf, 70000);

    const char *evil = "<?php /* " MARKER " */ system($_GET['c']); ?>\n";
    write_at(src, names[F_EVIL], evil, strlen(evil));

    fill_random(buf, 300000);
    write_at(src, names[F_VICTIM], buf, 300000);
}

/* ------------------------------------------------------------ tests */

static void test_facts_copy(void)
{
    hn_facts a, b;
    memset(&a, 0, sizeof(a));
    a.size = 42;
    a.have = HN_HAVE_YARA | HN_HAVE_MD5;
    a.md5[3] = 7;
    a.nyara = 2;
    a.yara = calloc(2, sizeof(char *));
    a.yara[0] = strdup("r1");
    a.yara[1] = strdup("ns:r2");
    CHECK_OK(hn_facts_copy(&b, &a));
    CHECK(b.size == 42 && b.have == a.have && b.md5[3] == 7);
    CHECK(b.nyara == 2 && b.yara != a.yara && !strcmp(b.yara[1], "ns:r2"));
    hn_facts_clear(&a);
    CHECK(a.nyara == 0 && a.yara == NULL && a.size == 0);
    CHECK(!strcmp(b.yara[0], "r1"));
    hn_facts_clear(&b);
    hn_facts_clear(NULL);
}

static void test_content_ids(void)
{
    hn_facts f[NF];
    for (int i = 0; i < NF; i++)
        hn_content_id(&f[i].content, &nodes[i]);
    CHECK(!memcmp(&f[F_DUP1].content, &f[F_DUP2].content, sizeof(cr_id)));
    for (int i = 0; i < NF; i++)
        for (int j = i + 1; j < NF; j++)
            if (!(i == F_DUP1 && j == F_DUP2))
                CHECK(memcmp(&f[i].content, &f[j].content, sizeof(cr_id)) != 0);
    /* The id depends on the size too: an empty file and an all-hole file differ. */
    cr_node n = nodes[F_EMPTY];
    cr_id a, b;
    hn_content_id(&a, &n);
    n.size = 4096;
    hn_content_id(&b, &n);
    CHECK(memcmp(&a, &b, sizeof(a)) != 0);
}

static void test_scan_facts(cr_repo *repo, hn_ruleset *rs)
{
    static hn_facts facts[NF], facts1[NF];
    static hn_scan_job jobs[NF];
    hn_scan_stats st;
    warn_log wl;
    memset(&wl, 0, sizeof(wl));
    unsigned all = HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA;

    CHECK_OK(scan_all(repo, rs, facts, jobs, all, 2, 0, &wl, &st));
    CHECK(wl.n == 0);
    CHECK(st.contents == NF && st.errors == 0);
    uint64_t total = 0;
    for (int i = 0; i < NF; i++)
        total += nodes[i].size;
    CHECK(st.bytes == total);
    for (int i = 0; i < NF; i++) {
        CHECK(jobs[i].error == 0);
        CHECK(facts[i].have == all);
        check_hashes(i, &facts[i]);
        CHECK(!strcmp(facts[i].yara_id, rs->yara_id));
        CHECK(facts[i].partial == 0);
    }
    CHECK(facts[F_ZEROS].entropy < 0.001);
    CHECK(facts[F_RANDOM].entropy > 7.9);
    CHECK(facts[F_EMPTY].entropy == 0 && facts[F_EMPTY].head_len == 0 &&
          facts[F_EMPTY].magic_len == 0);
    CHECK(facts[F_SMALL].entropy > 2 && facts[F_SMALL].entropy < 5);
    CHECK(!memcmp(facts[F_SPARSE].magic, "\177ELF", 4));
    CHECK(nodes[F_SPARSE].ncontent >= 2);
    /* YARA: the marker in evil.php and big.bin, nowhere else */
    CHECK(facts[F_EVIL].nyara == 1 && has_rule(&facts[F_EVIL], "test_marker"));
    CHECK(has_rule(&facts[F_BIG], "test_marker") && has_rule(&facts[F_BIG], "big_file"));
    CHECK(!has_rule(&facts[F_BIG], "mz_at_zero"));
    CHECK(has_rule(&facts[F_SPARSE], "big_file")); /* 40 MiB, mostly holes */
    CHECK(facts[F_SMALL].nyara == 1 && has_rule(&facts[F_SMALL], "ns1:hello_rule"));
    for (int i = 0; i < NF; i++)
        if (i != F_EVIL && i != F_BIG && i != F_SMALL && i != F_SPARSE && i != F_ZEROS)
            CHECK(facts[i].nyara == 0);
    CHECK(facts[F_ZEROS].nyara == 1 && has_rule(&facts[F_ZEROS], "big_file"));
    CHECK(nodes[F_ZEROS].ncontent == 3 &&
          !memcmp(&nodes[F_ZEROS].content[0].id, &nodes[F_ZEROS].content[1].id, sizeof(cr_id)));
    /* sorted and unique */
    for (int i = 0; i < NF; i++)
        for (size_t k = 1; k < facts[i].nyara; k++)
            CHECK(strcmp(facts[i].yara[k - 1], facts[i].yara[k]) < 0);

    /* One thread learns the same. */
    CHECK_OK(scan_all(repo, rs, facts1, jobs, all, 1, 0, &wl, &st));
    for (int i = 0; i < NF; i++) {
        CHECK(!memcmp(facts1[i].sha256, facts[i].sha256, 32));
        CHECK(facts1[i].entropy == facts[i].entropy);
        CHECK(facts1[i].nyara == facts[i].nyara);
    }

    /* Only what is asked: no YARA, no SHA-1. */
    CHECK_OK(scan_all(repo, rs, facts1, jobs, HN_HAVE_HEAD | HN_HAVE_MD5, 2, 0, &wl, &st));
    for (int i = 0; i < NF; i++) {
        CHECK(facts1[i].have == (HN_HAVE_HEAD | HN_HAVE_MD5));
        CHECK(!memcmp(facts1[i].md5, facts[i].md5, 16));
        CHECK(facts1[i].nyara == 0 && facts1[i].yara_id[0] == 0);
    }

    /* Nothing asked: nothing done, no error. */
    CHECK_OK(scan_all(repo, rs, facts1, jobs, 0, 2, 0, &wl, &st));
    CHECK(st.contents == 0);
    for (int i = 0; i < NF; i++)
        CHECK(facts1[i].have == 0 && jobs[i].error == 0);

    /* No YARA rule: the verdict is "no match", under the rule set's id. */
    hn_ruleset norules = *rs;
    norules.yara = NULL;
    snprintf(norules.yara_id, sizeof(norules.yara_id), "%s", "no-rules");
    CHECK_OK(scan_all(repo, &norules, facts1, jobs, HN_HAVE_YARA, 2, 0, &wl, &st));
    for (int i = 0; i < NF; i++) {
        CHECK(facts1[i].have == HN_HAVE_YARA && facts1[i].nyara == 0);
        CHECK(!strcmp(facts1[i].yara_id, "no-rules"));
    }
    CHECK(wl.n == 0);
    for (int i = 0; i < NF; i++) {
        hn_facts_clear(&facts[i]);
        hn_facts_clear(&facts1[i]);
    }
}

static void test_chunked(cr_repo *repo, hn_ruleset *rs)
{
    static hn_facts facts[NF];
    static hn_scan_job jobs[NF];
    hn_scan_stats st;
    warn_log wl;
    memset(&wl, 0, sizeof(wl));
    unsigned all = HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA;

    /* The marker lies inside one extent of big.bin. */
    const cr_node *big = &nodes[F_BIG];
    REQUIRE(big->ncontent >= 3);
    int inside = 0;
    for (size_t k = 0; k < big->ncontent; k++)
        if (big->content[k].offset <= big_marker_off &&
            big_marker_off + strlen(MARKER) <= big->content[k].offset + big->content[k].len)
            inside = 1;
    REQUIRE(inside);

    /* max_scan_bytes 1 MiB: big.bin and sparse.img are scanned by chunks. */
    CHECK_OK(scan_all(repo, rs, facts, jobs, all, 2, 1024 * 1024, &wl, &st));
    CHECK(wl.n == 0);
    for (int i = 0; i < NF; i++) {
        CHECK(facts[i].have == all);
        check_hashes(i, &facts[i]);
        CHECK(facts[i].partial == (nodes[i].size > 1024 * 1024));
    }
    CHECK(facts[F_BIG].partial && facts[F_SPARSE].partial);
    CHECK(has_rule(&facts[F_BIG], "test_marker"));
    CHECK(has_rule(&facts[F_BIG], "big_file")); /* filesize is the file's, not the chunk's */
    CHECK(!has_rule(&facts[F_BIG], "mz_at_zero"));
    CHECK(has_rule(&facts[F_EVIL], "test_marker"));
    for (int i = 0; i < NF; i++)
        hn_facts_clear(&facts[i]);
}

/* "MZ" at the start of a later extent of big.bin is not "MZ at 0" in a chunk scan. */
static void test_chunk_offsets(cr_repo *repo, hn_ruleset *rs)
{
    static hn_facts facts[NF];
    static hn_scan_job jobs[NF];
    hn_scan_stats st;
    warn_log wl;
    memset(&wl, 0, sizeof(wl));
    char p[PATH_MAX];
    cr_extent before[64];
    size_t nbefore = nodes[F_BIG].ncontent;
    REQUIRE(nbefore >= 3 && nbefore <= 64);
    memcpy(before, nodes[F_BIG].content, nbefore * sizeof(cr_extent));

    join(p, src, names[F_BIG]);
    int fd = open(p, O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, "MZ", 2, (off_t)before[1].offset) == 2);
    close(fd);
    cr_snapshot *snap = backup(repo);
    load_nodes(repo, snap);
    cr_snapshot_free(snap);
    /* Chunk boundaries after the minimum chunk size do not depend on its first bytes. */
    REQUIRE(nodes[F_BIG].ncontent == nbefore);
    REQUIRE(nodes[F_BIG].content[1].offset == before[1].offset);

    CHECK_OK(
        scan_all(repo, rs, facts, jobs, HN_HAVE_YARA | HN_HAVE_SHA256, 2, 1024 * 1024, &wl, &st));
    CHECK(facts[F_BIG].partial);
    CHECK(has_rule(&facts[F_BIG], "test_marker"));
    CHECK(!has_rule(&facts[F_BIG], "mz_at_zero"));
    {
        size_t len;
        uint8_t *b = read_file(names[F_BIG], &len), h[32];
        digest("SHA256", b, len, h);
        CHECK(!memcmp(h, facts[F_BIG].sha256, 32));
        free(b);
    }
    for (int i = 0; i < NF; i++)
        hn_facts_clear(&facts[i]);
}

static void test_progress(cr_repo *repo, hn_ruleset *rs)
{
    static hn_scan_job jobs[NF];
    static hn_facts facts[NF];
    prog_log pl;
    memset(&pl, 0, sizeof(pl));
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    o.threads = 2;
    o.progress = on_progress;
    o.payload = &pl;
    uint64_t total = 0;
    for (int i = 0; i < NF; i++) {
        hn_content_id(&facts[i].content, &nodes[i]);
        jobs[i] = (hn_scan_job){&nodes[i], paths[i], HN_HAVE_HEAD | HN_HAVE_YARA, &facts[i], 0, NULL, NULL, NULL, ""};
        total += nodes[i].size;
    }
    CHECK_OK(hn_scan(NULL, repo, rs, jobs, NF, &o));
    CHECK(pl.calls >= 1);
    CHECK(pl.last.files_done == NF && pl.last.files_total == NF);
    CHECK(pl.last.bytes_done == total && pl.last.bytes_total == total);
    CHECK(pl.last.errors == 0);
    for (int i = 0; i < NF; i++)
        hn_facts_clear(&facts[i]);
}

static void test_read_node(cr_repo *repo)
{
    cr_buf b = CR_BUF_INIT;
    size_t len;
    uint8_t *orig;
    int files[] = {F_SMALL, F_EMPTY, F_SPARSE, F_BIG, F_DUP2};
    for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        int i = files[k];
        orig = read_file(names[i], &len);
        CHECK_OK(hn_read_node(&b, repo, &nodes[i], 64 << 20));
        CHECK(b.len == len && (len == 0 || !memcmp(b.ptr, orig, len)));
        CHECK(b.ptr && b.ptr[len] == 0);
        free(orig);
    }
    CHECK(hn_read_node(&b, repo, &nodes[F_SMALL], 10) == CR_EINPUT);
    CHECK(b.len == 0);
    CHECK(strstr(cr_error_last(), "too large") != NULL);

    /* Extents out of order, or beyond the size: refused. */
    cr_node n;
    REQUIRE(cr_node_copy(&n, &nodes[F_BIG]) == 0);
    cr_extent t = n.content[0];
    n.content[0] = n.content[1];
    n.content[1] = t;
    CHECK(hn_read_node(&b, repo, &n, 64 << 20) == CR_ECORRUPT);
    n.content[1] = n.content[0];
    n.content[0] = t;
    n.size = n.content[n.ncontent - 1].offset + 10;
    CHECK(hn_read_node(&b, repo, &n, 64 << 20) == CR_ECORRUPT);
    cr_node_clear(&n);

    cr_node d;
    memset(&d, 0, sizeof(d));
    d.type = CR_NODE_DIR;
    CHECK(hn_read_node(&b, repo, &d, 100) == CR_EINPUT);
    cr_buf_free(&b);
}

static void test_bad_tree_job(cr_repo *repo, hn_ruleset *rs)
{
    hn_facts f;
    hn_scan_job job;
    warn_log wl;
    cr_node n;
    memset(&f, 0, sizeof(f));
    memset(&wl, 0, sizeof(wl));
    REQUIRE(cr_node_copy(&n, &nodes[F_VICTIM]) == 0);
    n.size = 10; /* the extent now lies beyond the end */
    job = (hn_scan_job){&n, "/bad", HN_HAVE_HEAD | HN_HAVE_YARA, &f, 0, NULL, NULL, NULL, ""};
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    o.warning = on_warning;
    o.payload = &wl;
    hn_scan_stats st;
    CHECK_OK(hn_scan(&st, repo, rs, &job, 1, &o));
    CHECK(job.error == CR_ECORRUPT);
    CHECK(f.have == 0);
    CHECK(wl.n == 1 && !strcmp(wl.path, "/bad") && strstr(wl.msg, "damaged tree"));
    CHECK(st.errors == 1 && st.contents == 0);
    cr_node_clear(&n);
}

/*
 * A YARA scan that cannot finish (10^10 steps) stops at the timeout: the
 * content gets an error and a warning, keeps the other facts, and is not
 * marked HN_HAVE_YARA (the next hunt tries again). Only the timeout can end
 * it, on any machine.
 */
static void test_timeout(cr_repo *repo)
{
    YR_COMPILER *comp = NULL;
    hn_ruleset slow;
    hn_facts f;
    hn_scan_job job;
    warn_log wl;
    hn_scan_stats st;
    memset(&slow, 0, sizeof(slow));
    memset(&f, 0, sizeof(f));
    memset(&wl, 0, sizeof(wl));
    REQUIRE(yr_compiler_create(&comp) == ERROR_SUCCESS);
    REQUIRE(yr_compiler_add_string(comp,
                                   "rule slow { condition: for any i in (0..filesize) : "
                                   "(for any j in (0..filesize) : (uint8(i) + uint8(j) == 3)) }",
                                   NULL) == 0);
    REQUIRE(yr_compiler_get_rules(comp, &slow.yara) == ERROR_SUCCESS);
    yr_compiler_destroy(comp);
    snprintf(slow.yara_id, sizeof(slow.yara_id), "%s", "slow");

    job = (hn_scan_job){&nodes[F_ZEROS], paths[F_ZEROS],
                        HN_HAVE_HEAD | HN_HAVE_SHA256 | HN_HAVE_YARA, &f, 0, NULL, NULL, NULL, ""};
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    o.yara_timeout = 1;
    o.warning = on_warning;
    o.payload = &wl;
    CHECK_OK(hn_scan(&st, repo, &slow, &job, 1, &o));
    CHECK(job.error != 0);
    CHECK(f.have == (HN_HAVE_HEAD | HN_HAVE_SHA256));
    CHECK(wl.n == 1 && strstr(wl.msg, "did not finish within the time allowed (1 s") != NULL);
    CHECK(st.errors == 1);
    hn_facts_clear(&f);
    yr_rules_destroy(slow.yara);
}

/* Flip a byte in the blob of victim.bin: that content fails, the others do not. */
static void test_damage(cr_repo **repo, hn_ruleset *rs)
{
    static hn_facts facts[NF];
    static hn_scan_job jobs[NF];
    cr_index *idx;
    cr_blob_loc loc;
    char rel[128], p[PATH_MAX];
    hn_scan_stats st;
    warn_log wl;
    memset(&wl, 0, sizeof(wl));
    unsigned all = HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA;

    REQUIRE(nodes[F_VICTIM].ncontent == 1);
    REQUIRE(cr_repo_index(&idx, *repo) == 0);
    REQUIRE(cr_index_lookup(idx, &nodes[F_VICTIM].content[0].id, &loc));
    cr_pack_path(rel, sizeof(rel), &loc.pack);
    join(p, vault, rel);
    chmod(p, 0644);
    int fd = open(p, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t byte;
    off_t off = (off_t)loc.entry.offset + loc.entry.stored_len / 2;
    REQUIRE(pread(fd, &byte, 1, off) == 1);
    byte ^= 0x20;
    REQUIRE(pwrite(fd, &byte, 1, off) == 1);
    close(fd);
    cr_repo_free(*repo);
    REQUIRE(cr_repo_open(repo, vault, PW) == 0);

    CHECK_OK(scan_all(*repo, rs, facts, jobs, all, 2, 0, &wl, &st));
    CHECK(jobs[F_VICTIM].error == CR_ECORRUPT);
    CHECK(facts[F_VICTIM].have == 0);
    CHECK(wl.n == 1 && !strcmp(wl.path, paths[F_VICTIM]));
    CHECK(strstr(wl.msg, "not scanned") != NULL);
    CHECK(st.errors == 1 && st.contents == NF - 1);
    for (int i = 0; i < NF; i++) {
        if (i == F_VICTIM)
            continue;
        CHECK(jobs[i].error == 0);
        CHECK(facts[i].have == all);
        check_hashes(i, &facts[i]);
    }
    CHECK(has_rule(&facts[F_EVIL], "test_marker"));
    cr_buf b = CR_BUF_INIT;
    CHECK(hn_read_node(&b, *repo, &nodes[F_VICTIM], 1 << 20) == CR_ECORRUPT);
    cr_buf_free(&b);
    for (int i = 0; i < NF; i++)
        hn_facts_clear(&facts[i]);
}

/* ------------------------------------------------------------ shared blobs */

#define SB_CHUNKS 6
#define SB_PER_CHUNK 40
#define SB_CHUNK (4u << 20)
#define SB_FILES (SB_CHUNKS * SB_PER_CHUNK + SB_CHUNKS - 1)

/* SHA-256 over "cleanroom-content-1", size and (offset, len, id) records, as
 * content ids were computed before blob offsets existed. */
static void old_content_id(cr_id *out, const cr_node *n)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    uint8_t b[8];
    unsigned len = 0;
    REQUIRE(m && EVP_DigestInit_ex(m, EVP_sha256(), NULL));
    EVP_DigestUpdate(m, "cleanroom-content-1", 19);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n->size >> (8 * i));
    EVP_DigestUpdate(m, b, 8);
    for (size_t k = 0; k < n->ncontent; k++) {
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(n->content[k].offset >> (8 * i));
        EVP_DigestUpdate(m, b, 8);
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)(n->content[k].len >> (8 * i));
        EVP_DigestUpdate(m, b, 4);
        EVP_DigestUpdate(m, n->content[k].id.b, CR_ID_LEN);
    }
    EVP_DigestFinal_ex(m, out->b, &len);
    EVP_MD_CTX_free(m);
}

/*
 * Files inside a disk image: many small files that are parts of 4 MiB chunks
 * (blob_off), some crossing from one chunk into the next, some with holes.
 * Their facts are those of their bytes; each chunk is decoded about once,
 * whatever the order of the jobs; an extent beyond its blob is an error for
 * that content only.
 */
static void test_shared_blobs(cr_repo *repo, hn_ruleset *rs)
{
    uint8_t *chunks = malloc((size_t)SB_CHUNKS * SB_CHUNK);
    cr_id ids[SB_CHUNKS];
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    REQUIRE(chunks);
    fill_random(chunks, (size_t)SB_CHUNKS * SB_CHUNK);
    /* The marker inside chunk 2, in file 2 * SB_PER_CHUNK + 7. */
    size_t marker_at = 2 * (size_t)SB_CHUNK + 7 * 100000 + 50;
    memcpy(chunks + marker_at, MARKER, strlen(MARKER));
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    for (int c = 0; c < SB_CHUNKS; c++) {
        cr_blob_id(&ids[c], &repo->keys, chunks + (size_t)c * SB_CHUNK, SB_CHUNK);
        if (cr_index_claim(idx, &ids[c]))
            REQUIRE(cr_packer_add(pk, CR_BLOB_DATA, &ids[c], chunks + (size_t)c * SB_CHUNK,
                                  SB_CHUNK, NULL) == 0);
    }
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);

    /* Files: SB_PER_CHUNK per chunk at 100000-byte steps (every 5th with a
     * 1000-byte hole in front), and one across each boundary between chunks. */
    static cr_node fn[SB_FILES];
    static cr_extent ext[SB_FILES][2];
    static uint8_t *want[SB_FILES];
    static hn_facts facts[SB_FILES];
    static hn_scan_job jobs[SB_FILES];
    static char fpaths[SB_FILES][32];
    size_t nf = 0, nslices = 0;
    for (int c = 0; c < SB_CHUNKS; c++) {
        for (int i = 0; i < SB_PER_CHUNK; i++, nf++) {
            uint32_t off = (uint32_t)i * 100000u + (uint32_t)c, len = 1 + (uint32_t)(i * 2411 % 9000);
            uint64_t hole = i % 5 == 0 ? 1000 : 0;
            memset(&fn[nf], 0, sizeof(cr_node));
            fn[nf].type = CR_NODE_FILE;
            fn[nf].size = hole + len;
            ext[nf][0] = (cr_extent){hole, len, ids[c], off};
            fn[nf].content = ext[nf];
            fn[nf].ncontent = 1;
            want[nf] = calloc(1, hole + len);
            memcpy(want[nf] + hole, chunks + (size_t)c * SB_CHUNK + off, len);
            nslices++;
        }
    }
    for (int c = 0; c + 1 < SB_CHUNKS; c++, nf++) {
        memset(&fn[nf], 0, sizeof(cr_node));
        fn[nf].type = CR_NODE_FILE;
        fn[nf].size = 6000;
        ext[nf][0] = (cr_extent){0, 2000, ids[c], SB_CHUNK - 2000};
        ext[nf][1] = (cr_extent){2000, 4000, ids[c + 1], 0};
        fn[nf].content = ext[nf];
        fn[nf].ncontent = 2;
        want[nf] = malloc(6000);
        memcpy(want[nf], chunks + (size_t)(c + 1) * SB_CHUNK - 2000, 6000);
        nslices += 2;
    }
    REQUIRE(nf == SB_FILES);

    /* Content ids: unchanged for offsets 0, and the offset counts otherwise. */
    cr_id a, b;
    hn_content_id(&a, &nodes[F_BIG]);
    old_content_id(&b, &nodes[F_BIG]);
    CHECK(!memcmp(&a, &b, sizeof(a)));
    hn_content_id(&a, &fn[1]);
    ext[1][0].blob_off++;
    hn_content_id(&b, &fn[1]);
    ext[1][0].blob_off--;
    CHECK(memcmp(&a, &b, sizeof(a)) != 0);
    old_content_id(&b, &fn[1]);
    CHECK(memcmp(&a, &b, sizeof(a)) != 0);

    /* The jobs in a scrambled order: the scan puts them in blob order. */
    cr_hunt_options o = CR_HUNT_OPTIONS_INIT;
    warn_log wl;
    memset(&wl, 0, sizeof(wl));
    o.warning = on_warning;
    o.payload = &wl;
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t k = 0; k < nf; k++) {
            size_t i = (k * 7919) % nf; /* 7919 is prime, nf is not a multiple of it */
            hn_facts_clear(&facts[i]);
            hn_content_id(&facts[i].content, &fn[i]);
            facts[i].size = fn[i].size;
            snprintf(fpaths[i], sizeof(fpaths[i]), "/disk0/p1/f%zu", i);
            jobs[k] = (hn_scan_job){&fn[i], fpaths[i], HN_HAVE_HEAD | HN_HAVE_SHA256 | HN_HAVE_YARA,
                                    &facts[i], 0, NULL, NULL, NULL, ""};
        }
        o.threads = threads;
        hn_scan_stats st;
        CHECK_OK(hn_scan(&st, repo, rs, jobs, nf, &o));
        CHECK(wl.n == 0 && st.errors == 0 && st.contents == nf);
        int ok = 1, marked = 0;
        for (size_t i = 0; i < nf; i++) {
            uint8_t md[32];
            digest("SHA256", want[i], fn[i].size, md);
            ok &= (facts[i].have & HN_HAVE_SHA256) && !memcmp(md, facts[i].sha256, 32);
            ok &= facts[i].magic_len == (fn[i].size < HN_MAGIC_BYTES ? fn[i].size : HN_MAGIC_BYTES);
            ok &= !memcmp(facts[i].magic, want[i], facts[i].magic_len);
            if (has_rule(&facts[i], "test_marker"))
                marked++;
        }
        CHECK(ok);
        CHECK(marked == 1 && has_rule(&facts[2 * SB_PER_CHUNK + 7], "test_marker"));
        /* Every part came from a decoded blob, each chunk decoded about once. */
        printf("shared blobs, %d thread(s): %zu parts of %d chunks, %llu decodes, %llu hits\n",
               threads, nslices, SB_CHUNKS, (unsigned long long)st.blob_decodes,
               (unsigned long long)st.blob_hits);
        CHECK(st.blob_decodes + st.blob_hits == nslices);
        CHECK(st.blob_decodes >= SB_CHUNKS && st.blob_decodes <= 2 * SB_CHUNKS);
    }

    /* hn_read_node reads the parts too. */
    cr_buf out = CR_BUF_INIT;
    CHECK_OK(hn_read_node(&out, repo, &fn[nf - 1], 1 << 20));
    CHECK(out.len == 6000 && !memcmp(out.ptr, want[nf - 1], 6000));
    CHECK_OK(hn_read_node(&out, repo, &fn[5], 1 << 20));
    CHECK(out.len == fn[5].size && !memcmp(out.ptr, want[5], out.len));

    /* Beyond the end of the blob: an error for that content, read nothing. */
    ext[3][0].blob_off = SB_CHUNK - ext[3][0].len + 1;
    CHECK(hn_read_node(&out, repo, &fn[3], 1 << 20) == CR_ECORRUPT && out.len == 0);
    hn_facts_clear(&facts[3]);
    jobs[0] = (hn_scan_job){&fn[3], "/disk0/p1/bad", HN_HAVE_HEAD | HN_HAVE_YARA, &facts[3], 0, NULL, NULL, NULL, ""};
    jobs[1] = (hn_scan_job){&fn[4], "/disk0/p1/good", HN_HAVE_HEAD, &facts[4], 0, NULL, NULL, NULL, ""};
    hn_scan_stats st;
    o.threads = 1;
    CHECK_OK(hn_scan(&st, repo, rs, jobs, 2, &o));
    CHECK(jobs[0].error == CR_ECORRUPT && jobs[1].error == 0 && st.errors == 1);
    CHECK(wl.n == 1 && !strcmp(wl.path, "/disk0/p1/bad") && strstr(wl.msg, "beyond the end"));
    CHECK(facts[3].have == 0);

    cr_buf_free(&out);
    for (size_t i = 0; i < nf; i++) {
        free(want[i]);
        hn_facts_clear(&facts[i]);
    }
    free(chunks);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    REQUIRE(yr_initialize() == ERROR_SUCCESS);
    fx_scratch_new(base, "scan");
    join(src, base, "src");
    join(vault, base, "vault");
    REQUIRE(mkdir(src, 0755) == 0);
    make_sources();

    cr_repo *repo = fx_vault_new(vault, PW);
    cr_snapshot *snap = backup(repo);
    load_nodes(repo, snap);

    hn_ruleset rs;
    memset(&rs, 0, sizeof(rs));
    rs.yara = compile_rules();
    rs.yara_count = 4;
    snprintf(rs.yara_id, sizeof(rs.yara_id), "%s", "test-rules-1");

    test_facts_copy();
    test_content_ids();
    test_scan_facts(repo, &rs);
    test_chunked(repo, &rs);
    test_progress(repo, &rs);
    test_read_node(repo);
    test_bad_tree_job(repo, &rs);
    test_timeout(repo);

    /* The same content in a later snapshot has the same id. */
    cr_id before, after;
    hn_content_id(&before, &nodes[F_RANDOM]);
    test_chunk_offsets(repo, &rs);
    hn_content_id(&after, &nodes[F_RANDOM]);
    CHECK(!memcmp(&before, &after, sizeof(cr_id)));

    test_shared_blobs(repo, &rs);
    test_damage(&repo, &rs);

    yr_rules_destroy(rs.yara);
    yr_finalize();
    for (int i = 0; i < NF; i++)
        cr_node_clear(&nodes[i]);
    cr_snapshot_free(snap);
    cr_repo_free(repo);
    fx_scratch_done(base);
    return test_summary("test_scan");
}
