/*
 * Extents with a blob offset (tree format version 2): files whose bytes are a
 * part of a shared blob, as the files seen inside a disk image are parts of
 * the disk's 4 MiB chunks. A snapshot built through the private API (packer,
 * cr_tree_save, cr_snapshot_save) with many files inside one chunk, at odd
 * offsets, with holes, restores byte for byte; an extent that points beyond
 * the end of its blob is reported lost by restore (CR_EPARTIAL, never read out
 * of bounds) and by verify, and diff tells extents apart by their offset.
 */
#include "test.h"
#include "fixture.h"
#include "vault/vault.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#define PW "blob-off test passphrase"
#define CHUNK (4u << 20)
#define NSMALL 300

static char base[PATH_MAX], vault[PATH_MAX];
static uint8_t *chunk, *other, tiny[100];
static cr_id chunk_id, other_id, tiny_id;

typedef struct warns {
    int lost;
    char last[512];
} warns;

static void on_warning(const char *path, const char *message, void *payload)
{
    warns *w = payload;
    if (strstr(message, "lost"))
        w->lost++;
    snprintf(w->last, sizeof(w->last), "%s: %s", path, message);
}

static void store_blobs(cr_repo *repo)
{
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    chunk = malloc(CHUNK);
    other = malloc(1u << 20);
    REQUIRE(chunk && other);
    fill_random(chunk, CHUNK);
    fill_random(other, 1u << 20);
    fill_random(tiny, sizeof(tiny));
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    const uint8_t *data[3] = {chunk, other, tiny};
    size_t lens[3] = {CHUNK, 1u << 20, sizeof(tiny)};
    cr_id *ids[3] = {&chunk_id, &other_id, &tiny_id};
    for (int i = 0; i < 3; i++) {
        cr_blob_id(ids[i], &repo->keys, data[i], lens[i]);
        REQUIRE(cr_index_claim(idx, ids[i]));
        REQUIRE(cr_packer_add(pk, CR_BLOB_DATA, ids[i], data[i], lens[i], NULL) == 0);
    }
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);
}

static void set_file(cr_node *n, const char *name, uint64_t size, cr_extent *ext, size_t next)
{
    memset(n, 0, sizeof(*n));
    n->type = CR_NODE_FILE;
    n->name = strdup(name);
    n->mode = 0644;
    n->mtime_ns = 1700000000000000000ll;
    n->nlink = 1;
    n->size = size;
    if (next) {
        n->content = malloc(next * sizeof(cr_extent));
        memcpy(n->content, ext, next * sizeof(cr_extent));
        n->ncontent = next;
    }
}

/* Save `files` as the single folder "d" of a new snapshot. */
static void save_snapshot(cr_snapshot *snap, cr_repo *repo, cr_node *files, size_t n,
                          const char *source)
{
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    cr_tree tin = {files, n}, tout;
    cr_node dir;
    cr_id tin_id;
    cr_buf enc = CR_BUF_INIT;

    cr_tree_sort(&tin);
    REQUIRE(cr_tree_encode(&enc, &tin) == 0);
    CHECK(enc.ptr[4] == 2); /* files inside a blob: tree format version 2 */
    cr_buf_free(&enc);
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    REQUIRE(cr_tree_save(&tin_id, repo, pk, &tin) == 0);
    memset(&dir, 0, sizeof(dir));
    dir.type = CR_NODE_DIR;
    dir.name = "d";
    dir.mode = 0755;
    dir.nlink = 2;
    dir.has_subtree = 1;
    dir.subtree = tin_id;
    tout = (cr_tree){&dir, 1};
    memset(snap, 0, sizeof(*snap));
    REQUIRE(cr_tree_save(&snap->tree, repo, pk, &tout) == 0);
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);

    snap->source = (char *)source;
    snap->time_ns = 1700000000000000000ll;
    snap->hostname = "h";
    snap->username = "u";
    snap->program_version = "test";
    REQUIRE(cr_snapshot_save(repo, snap) == 0);
}

static void free_files(cr_node *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_node_clear(&files[i]);
}

/* 1 if file `rel` of the target holds exactly `want` (size bytes). */
static int same_file(const char *target, const char *rel, const uint8_t *want, size_t size)
{
    char p[PATH_MAX];
    pathf(p, "%s/d/%s", target, rel);
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    uint8_t *got = malloc(size + 1);
    size_t n = fread(got, 1, size + 1, f);
    fclose(f);
    int ok = n == size && !memcmp(got, want, size);
    free(got);
    return ok;
}

static int diff_cb(cr_diff_kind kind, const char *path, const cr_node *a, const cr_node *b,
                   void *payload)
{
    (void)path;
    (void)a;
    (void)b;
    ((int *)payload)[kind]++;
    return 0;
}

static void test_restore_shared_blobs(cr_repo *repo)
{
    cr_node files[NSMALL + 3];
    size_t nf = 0;
    char name[32], target[PATH_MAX];

    /* Many small files inside the one chunk, at odd offsets. */
    for (int i = 0; i < NSMALL; i++) {
        uint32_t off = (uint32_t)i * 13001u + 7, len = 1 + (uint32_t)(i * 37 % 5000);
        cr_extent e = {0, len, chunk_id, off};
        snprintf(name, sizeof(name), "s%03d", i);
        set_file(&files[nf++], name, len, &e, 1);
    }
    /* A file of parts of two blobs and a hole between, ending in a hole:
     * [0, 1000) chunk[0..1000), hole, [1 MiB, +4096) other[500000..),
     * [1 MiB + 4096, +100) the last 100 bytes of the chunk, hole to 3 MiB. */
    cr_extent mixed[3] = {{0, 1000, chunk_id, 0},
                          {1u << 20, 4096, other_id, 500000},
                          {(1u << 20) + 4096, 100, chunk_id, CHUNK - 100}};
    set_file(&files[nf++], "mixed", 3u << 20, mixed, 3);
    /* A whole blob (offset 0, the file backup case) and all of the tiny one. */
    cr_extent whole = {0, 1u << 20, other_id, 0};
    set_file(&files[nf++], "whole", 1u << 20, &whole, 1);
    cr_extent t = {5, sizeof(tiny), tiny_id, 0};
    set_file(&files[nf++], "tiny", sizeof(tiny) + 5, &t, 1);

    cr_snapshot snap;
    save_snapshot(&snap, repo, files, nf, "shared");

    /* Two threads: the needs of one blob still go to one worker. */
    for (int threads = 1; threads <= 2; threads++) {
        cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
        cr_restore_stats st;
        warns w = {0};
        pathf(target, "%s/target-%d", base, threads);
        ro.target = target;
        ro.threads = threads;
        ro.warning = on_warning;
        ro.payload = &w;
        int rc = cr_restore(&st, repo, &snap, &ro);
        if (rc != 0)
            fprintf(stderr, "restore: %d %s (%s)\n", rc, cr_error_last(), w.last);
        CHECK(rc == 0);
        CHECK(st.failed == 0 && w.lost == 0);
        CHECK(st.files == nf);
        int ok = 1;
        for (int i = 0; i < NSMALL; i++) {
            snprintf(name, sizeof(name), "s%03d", i);
            uint32_t off = (uint32_t)i * 13001u + 7, len = 1 + (uint32_t)(i * 37 % 5000);
            ok &= same_file(target, name, chunk + off, len);
        }
        CHECK(ok);
        uint8_t *want = calloc(1, 3u << 20);
        memcpy(want, chunk, 1000);
        memcpy(want + (1u << 20), other + 500000, 4096);
        memcpy(want + (1u << 20) + 4096, chunk + CHUNK - 100, 100);
        CHECK(same_file(target, "mixed", want, 3u << 20));
        free(want);
        CHECK(same_file(target, "whole", other, 1u << 20));
        uint8_t tw[sizeof(tiny) + 5] = {0};
        memcpy(tw + 5, tiny, sizeof(tiny));
        CHECK(same_file(target, "tiny", tw, sizeof(tw)));
        /* The holes stayed holes. */
        struct stat sb;
        char p[PATH_MAX];
        pathf(p, "%s/d/mixed", target);
        CHECK(stat(p, &sb) == 0 && sb.st_size == 3 << 20 && sb.st_blocks * 512 < (2 << 20));
        rm_rf(target);
    }

    /* Diff: the same file pointing at another offset of the same blob is modified. */
    cr_node moved[1];
    cr_extent e2 = {0, 1000, chunk_id, 1};
    set_file(&moved[0], "mixed", 3u << 20, mixed, 3);
    cr_snapshot snap2;
    save_snapshot(&snap2, repo, moved, 1, "shared");
    cr_node_clear(&moved[0]);
    set_file(&moved[0], "mixed", 3u << 20, mixed, 3);
    moved[0].content[0] = e2;
    cr_snapshot snap3;
    save_snapshot(&snap3, repo, moved, 1, "shared");
    int ndiff[4] = {0};
    CHECK_OK(cr_diff(repo, &snap2, &snap3, diff_cb, ndiff));
    CHECK(ndiff[CR_DIFF_MODIFIED] == 1 && ndiff[CR_DIFF_ADDED] == 0 &&
          ndiff[CR_DIFF_REMOVED] == 0);
    memset(ndiff, 0, sizeof(ndiff));
    CHECK_OK(cr_diff(repo, &snap2, &snap2, diff_cb, ndiff));
    CHECK(ndiff[CR_DIFF_MODIFIED] == 0);
    cr_node_clear(&moved[0]);
    free_files(files, nf);
}

static void test_verify_clean(cr_repo *repo)
{
    cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
    cr_verify_report rep;
    vo.read_data = 1;
    int rc = cr_verify(&rep, repo, &vo);
    if (rc != 0)
        fprintf(stderr, "verify: %d %s (%s)\n", rc, cr_error_last(),
                rep.nproblems ? rep.problems[0].message : "");
    CHECK(rc == 0 && rep.nproblems == 0 && rep.naffected == 0);
    cr_verify_report_clear(&rep);
}

/* Extents beyond the end of their blob: lost, the rest restored, verify names them. */
static void test_hostile(cr_repo *repo)
{
    cr_node files[3];
    cr_extent bad1 = {0, 50, tiny_id, 60};             /* 60 + 50 > 100 bytes */
    cr_extent bad2 = {0, 10, chunk_id, CR_MAX_BLOB - 10}; /* valid tree, beyond 4 MiB */
    cr_extent good = {0, 2000, chunk_id, 100};
    set_file(&files[0], "bad1", 50, &bad1, 1);
    set_file(&files[1], "bad2", 10, &bad2, 1);
    set_file(&files[2], "good", 2000, &good, 1);
    cr_snapshot snap;
    save_snapshot(&snap, repo, files, 3, "hostile");

    char target[PATH_MAX], p[PATH_MAX];
    pathf(target, "%s/target-hostile", base);
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    warns w = {0};
    ro.target = target;
    ro.warning = on_warning;
    ro.payload = &w;
    CHECK(cr_restore(&st, repo, &snap, &ro) == CR_EPARTIAL);
    CHECK(st.failed == 2 && w.lost == 2);
    CHECK(strstr(w.last, "beyond the end of blob") != NULL);
    CHECK(same_file(target, "good", chunk + 100, 2000));
    /* Set aside with their size, never under their own names. */
    struct stat sb;
    pathf(p, "%s/d/bad1", target);
    CHECK(lstat(p, &sb) < 0 && errno == ENOENT);
    pathf(p, "%s/d/bad1.cleanroom-damaged", target);
    CHECK(stat(p, &sb) == 0 && sb.st_size == 50 && (sb.st_mode & 07777) == 0600);
    rm_rf(target);

    cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
    cr_verify_report rep;
    CHECK(cr_verify(&rep, repo, &vo) == CR_ECORRUPT);
    int trees = 0, bad_paths = 0, others = 0;
    for (size_t i = 0; i < rep.nproblems; i++)
        if (!strcmp(rep.problems[i].what, "tree") && strstr(rep.problems[i].message, "bad"))
            trees++;
    for (size_t i = 0; i < rep.naffected; i++) {
        if (!strcmp(rep.affected[i].source, "hostile") &&
            (!strcmp(rep.affected[i].path, "/d/bad1") || !strcmp(rep.affected[i].path, "/d/bad2")))
            bad_paths++;
        else
            others++;
    }
    CHECK(trees == 2 && rep.nproblems == 2);
    CHECK(bad_paths == 2 && others == 0);
    cr_verify_report_clear(&rep);
    free_files(files, 3);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    fx_scratch_new(base, "bloboff");
    join(vault, base, "vault");
    cr_repo *repo = fx_vault_new(vault, PW);
    store_blobs(repo);
    test_restore_shared_blobs(repo);
    test_verify_clean(repo);
    test_hostile(repo);
    cr_repo_free(repo);
    free(chunk);
    free(other);
    fx_scratch_done(base);
    return test_summary("test_blob_off");
}
