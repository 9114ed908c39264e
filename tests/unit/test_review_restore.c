/*
 * Review regressions for restore and verify, on forged snapshots:
 *  - an --include path longer than PATH_MAX is refused (it used to be copied
 *    into a PATH_MAX buffer: heap overflow);
 *  - a file swapped, between the walk and the data phase, for a hard link to
 *    a file outside the target is not written (nor chmod'ed) through;
 *  - verify --read-data-subset N/M with M > 256: subsets above 256 read packs
 *    (it used the first byte of the pack name only: N > 256 read nothing).
 */
#include "test.h"
#include "fixture.h"
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW "correct horse battery staple"

static char base[PATH_MAX], vault[PATH_MAX];

static void fill_node(cr_node *n, cr_node_type type, const char *name)
{
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->name = (char *)name;
    n->mode = type == CR_NODE_DIR ? 0755 : 0644;
    n->mtime_ns = n->atime_ns = 1000000000;
    n->nlink = 1;
}

static void save_snapshot(cr_repo *repo, cr_snapshot *snap, const cr_id *tree)
{
    static char *paths[] = {"/x"};
    memset(snap, 0, sizeof(*snap));
    snap->source = "review";
    snap->time_ns = 1700000000000000000ll;
    snap->hostname = "h";
    snap->username = "u";
    snap->tree = *tree;
    snap->program_version = "test";
    snap->paths = paths;
    snap->npaths = 1;
    REQUIRE(cr_snapshot_save(repo, snap) == 0);
}

typedef struct warn_log {
    int n;
    int replaced;
} warn_log;

static void on_warning(const char *path, const char *message, void *payload)
{
    warn_log *w = payload;
    w->n++;
    if (strstr(message, "replaced"))
        w->replaced++;
    fprintf(stderr, "  (warning) %s: %s\n", path, message);
}

/* ------------------------------------------------------------ long include */

static void test_long_include(cr_repo *repo)
{
    enum { LEVELS = 24, NAMELEN = 250 };
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    char name[NAMELEN + 1];
    cr_node leaf, dirn;
    cr_tree t;
    cr_id id;
    memset(name, 'a', NAMELEN);
    name[NAMELEN] = '\0';

    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    fill_node(&leaf, CR_NODE_FILE, "f");
    t.nodes = &leaf;
    t.count = 1;
    REQUIRE(cr_tree_save(&id, repo, pk, &t) == 0);
    for (int i = 0; i < LEVELS; i++) {
        fill_node(&dirn, CR_NODE_DIR, name);
        dirn.has_subtree = 1;
        dirn.subtree = id;
        t.nodes = &dirn;
        REQUIRE(cr_tree_save(&id, repo, pk, &t) == 0);
    }
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);

    cr_snapshot snap;
    save_snapshot(repo, &snap, &id);

    /* "/aaa.../aaa.../f": about 6000 bytes, beyond PATH_MAX. */
    size_t cap = (size_t)LEVELS * (NAMELEN + 1) + 8;
    char *incl = malloc(cap), *p = incl;
    REQUIRE(incl);
    for (int i = 0; i < LEVELS; i++)
        p += sprintf(p, "/%s", name);
    strcpy(p, "/f");
    REQUIRE(strlen(incl) > PATH_MAX);

    /* The path exists in the snapshot. */
    cr_node found;
    CHECK_OK(cr_snapshot_lookup(&found, repo, &snap, incl));
    cr_node_clear(&found);

    char target[PATH_MAX];
    pathf(target, "%s/target-long", base);
    const char *incls[] = {incl};
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    warn_log w = {0, 0};
    ro.target = target;
    ro.includes = incls;
    ro.nincludes = 1;
    ro.warning = on_warning;
    ro.payload = &w;
    int rc = cr_restore(&st, repo, &snap, &ro);
    CHECK(rc == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "too long") != NULL);
    /* Refused before anything was written. */
    char first[PATH_MAX];
    struct stat s;
    pathf(first, "%s/%s", target, name);
    CHECK(lstat(first, &s) < 0 && errno == ENOENT);
    free(incl);
    rm_rf(target);
}

/* ------------------------------------------------------------ hard link swap */

typedef struct swap_ctx {
    const char *victim;  /* path in the target */
    const char *outside; /* file outside the target */
    int done;
} swap_ctx;

typedef struct both_payload {
    warn_log w;
    swap_ctx s;
} both_payload;

/* The first progress report comes after the walk, before any data is written. */
static void on_progress(const cr_progress *p, void *payload)
{
    both_payload *b = payload;
    (void)p;
    if (b->s.done)
        return;
    b->s.done = 1;
    if (unlink(b->s.victim) != 0 || link(b->s.outside, b->s.victim) != 0)
        fprintf(stderr, "cannot swap %s: %s\n", b->s.victim, strerror(errno));
}

static void on_warning2(const char *path, const char *message, void *payload)
{
    both_payload *b = payload;
    on_warning(path, message, &b->w);
}

static void test_hardlink_swap(cr_repo *repo)
{
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    static const char data[] = "snapshot data that must never reach a file outside the target\n";
    static const char orig[] = "ORIGINAL CONTENT OF A FILE OUTSIDE THE TARGET";
    cr_id blob, tid;
    cr_node nodes[2];
    cr_extent ext[2];
    cr_tree t = {nodes, 2};

    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    cr_blob_id(&blob, &repo->keys, data, sizeof(data) - 1);
    if (cr_index_claim(idx, &blob))
        REQUIRE(cr_packer_add(pk, CR_BLOB_DATA, &blob, data, sizeof(data) - 1, NULL) == 0);
    /* Two names of one inode (nlink 2): the first is created during the walk. */
    const char *names[2] = {"h1", "h2"};
    for (int i = 0; i < 2; i++) {
        fill_node(&nodes[i], CR_NODE_FILE, names[i]);
        nodes[i].mode = 04755; /* a setuid file in the snapshot: must not land on the victim */
        nodes[i].nlink = 2;
        nodes[i].dev = 77;
        nodes[i].inode = 99;
        nodes[i].size = sizeof(data) - 1;
        ext[i].offset = 0;
        ext[i].len = sizeof(data) - 1;
        ext[i].id = blob;
        ext[i].blob_off = 0;
        nodes[i].content = &ext[i];
        nodes[i].ncontent = 1;
    }
    REQUIRE(cr_tree_save(&tid, repo, pk, &t) == 0);
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);

    cr_snapshot snap;
    save_snapshot(repo, &snap, &tid);

    char target[PATH_MAX], victim[PATH_MAX], outside[PATH_MAX];
    pathf(target, "%s/target-swap", base);
    pathf(victim, "%s/h1", target);
    pathf(outside, "%s/outside-file", base);
    int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, orig, sizeof(orig) - 1) == (ssize_t)(sizeof(orig) - 1));
    close(fd);

    both_payload b;
    memset(&b, 0, sizeof(b));
    b.s.victim = victim;
    b.s.outside = outside;
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    ro.target = target;
    ro.threads = 2;
    ro.warning = on_warning2;
    ro.progress = on_progress;
    ro.payload = &b;
    int rc = cr_restore(&st, repo, &snap, &ro);
    CHECK(b.s.done);
    CHECK(rc == CR_EPARTIAL);
    CHECK(b.w.replaced == 1);

    /* The file outside the target kept its content and its mode. */
    char buf[256];
    struct stat s;
    fd = open(outside, O_RDONLY);
    REQUIRE(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    CHECK(n == (ssize_t)(sizeof(orig) - 1) && memcmp(buf, orig, sizeof(orig) - 1) == 0);
    CHECK(stat(outside, &s) == 0 && (s.st_mode & 07777) == 0600);
    rm_rf(target);
    unlink(outside);
}

/* ------------------------------------------------------------ verify subsets */

static void test_verify_subset(cr_repo *repo)
{
    enum { EXTRA_PACKS = 100 };
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    cr_id *packs = NULL;
    size_t npacks = 0, total;

    /* Many small packs (one blob each). */
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    for (int i = 0; i < EXTRA_PACKS; i++) {
        char data[64];
        cr_id id;
        int len = snprintf(data, sizeof(data), "small blob number %d", i);
        cr_blob_id(&id, &repo->keys, data, (size_t)len);
        REQUIRE(cr_index_claim(idx, &id) == 1);
        REQUIRE(cr_packer_add(pk, CR_BLOB_DATA, &id, data, (size_t)len, NULL) == 0);
        REQUIRE(cr_packer_flush(pk) == 0);
    }
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);
    REQUIRE(cr_repo_list(&packs, &npacks, repo, "data") == 0);
    REQUIRE(npacks > EXTRA_PACKS);
    free(packs);

    /* Subsets 1/7 .. 7/7 read every pack exactly once. */
    total = 0;
    for (unsigned int nn = 1; nn <= 7; nn++) {
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report r;
        vo.read_data = 1;
        vo.subset_n = nn;
        vo.subset_m = 7;
        vo.threads = 1;
        CHECK(cr_verify(&r, repo, &vo) == 0);
        total += r.packs_read;
        cr_verify_report_clear(&r);
    }
    CHECK(total == npacks);

    /* Subsets above 256 are not empty: with the first byte of the name only,
     * 257/300 .. 300/300 read nothing; with 32 bits each of the >100 packs
     * falls there with probability 44/300 (all miss: < 1e-6). */
    total = 0;
    for (unsigned int nn = 257; nn <= 300; nn++) {
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report r;
        vo.read_data = 1;
        vo.subset_n = nn;
        vo.subset_m = 300;
        vo.threads = 1;
        CHECK(cr_verify(&r, repo, &vo) == 0);
        total += r.packs_read;
        cr_verify_report_clear(&r);
    }
    CHECK(total > 0);
}

int main(void)
{
    cr_repo *repo;

    REQUIRE(cr_init() == 0);
    fx_scratch_new(base, "review");
    pathf(vault, "%s/vault", base);
    repo = fx_vault_new(vault, PW);

    test_long_include(repo);
    test_hardlink_swap(repo);
    test_verify_subset(repo);

    cr_repo_free(repo);
    fx_scratch_done(base);
    return test_summary("test_review_restore");
}
