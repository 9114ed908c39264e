/*
 * Unit tests of cr_backup: a small tree with every kind of item, backed up,
 * checked blob by blob against the files, backed up again unchanged (nothing
 * read, nothing written), after one change, and with unreadable items.
 */
#include "test.h"
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define PASS "correct horse battery staple"
#define BIG_SIZE (20u * 1024 * 1024)
#define SPARSE_SIZE (64ull * 1024 * 1024)

static char top[256], src[512], vault[600];
static int have_user_xattr;

static void path_of(char *out, const char *rel)
{
    snprintf(out, PATH_MAX, "%s/%s", src, rel);
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX];
    int fd;
    path_of(p, rel);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(cr_fs_write_all(fd, data, len) == 0);
    close(fd);
}

/* Deterministic pseudo-random bytes (xorshift), incompressible. */
static void fill_random(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void make_tree(void)
{
    char p[PATH_MAX], q[PATH_MAX];
    uint8_t *big = malloc(BIG_SIZE), blk[4096];
    int fd;

    REQUIRE(big);
    REQUIRE(mkdir(src, 0755) == 0);
    path_of(p, "sub");
    REQUIRE(mkdir(p, 0750) == 0);
    path_of(p, "sub/deeper");
    REQUIRE(mkdir(p, 0700) == 0);
    path_of(p, "emptydir");
    REQUIRE(mkdir(p, 0755) == 0);

    write_file("empty", "", 0);
    write_file("hello.txt", "hello, world\n", 13);
    write_file("sub/notes.txt", "patient records are precious\n", 29);
    write_file("sub/deeper/skip.tmp", "excluded", 8);
    write_file("sub/deeper/kept.dat", "kept", 4);
    fill_random(big, BIG_SIZE, 42);
    write_file("big.bin", big, BIG_SIZE);
    free(big);

    /* Sparse: 4 KiB of data at 0 and at 40 MiB, holes elsewhere, 64 MiB long. */
    path_of(p, "sparse.img");
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    fill_random(blk, sizeof(blk), 7);
    REQUIRE(cr_fs_pwrite_all(fd, blk, sizeof(blk), 0) == 0);
    REQUIRE(cr_fs_pwrite_all(fd, blk, sizeof(blk), 40ull * 1024 * 1024) == 0);
    REQUIRE(ftruncate(fd, (off_t)SPARSE_SIZE) == 0);
    close(fd);

    path_of(p, "link");
    REQUIRE(symlink("hello.txt", p) == 0);
    path_of(p, "fifo");
    REQUIRE(mkfifo(p, 0640) == 0);
    path_of(p, "hello.txt");
    path_of(q, "sub/hardlink");
    REQUIRE(link(p, q) == 0);
    have_user_xattr = setxattr(p, "user.test", "v1", 2, 0) == 0;
}

/* ---------------------------------------------------------------- checks */

typedef struct walk_state {
    cr_repo *repo;
    int files, dirs, others, compared, mismatches;
    int saw_xattr, saw_link, saw_fifo, saw_excluded, saw_vault;
    uint64_t sparse_stored;
} walk_state;

/* Rebuild a file from its extents (holes are zeros) and compare with the source. */
static int compare_file(walk_state *w, const char *path, const cr_node *n)
{
    cr_buf blob = CR_BUF_INIT;
    uint8_t *want = NULL, *got = NULL;
    int fd, ok = 0;
    uint64_t stored = 0;

    want = calloc(1, n->size + 1);
    got = calloc(1, n->size + 1);
    if (!want || !got)
        goto done;
    fd = open(path, O_RDONLY);
    if (fd < 0)
        goto done;
    if (n->size && cr_fs_pread_all(fd, want, n->size, 0) < 0) {
        close(fd);
        goto done;
    }
    close(fd);
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *e = &n->content[i];
        if (cr_repo_load_blob(&blob, w->repo, &e->id, CR_BLOB_DATA) < 0 || blob.len != e->len ||
            e->offset + e->len > n->size)
            goto done;
        memcpy(got + e->offset, blob.ptr, e->len);
        stored += e->len;
    }
    ok = memcmp(want, got, n->size) == 0;
    if (strstr(path, "sparse.img"))
        w->sparse_stored = stored;
done:
    cr_buf_free(&blob);
    free(want);
    free(got);
    return ok;
}

static int walk_cb(const char *path, const cr_node *n, void *payload)
{
    walk_state *w = payload;
    if (strstr(path, "skip.tmp"))
        w->saw_excluded = 1;
    if (strstr(path, "/vault"))
        w->saw_vault = 1;
    if (strncmp(path, src, strlen(src)) != 0)
        return 0; /* an intermediate folder above the source */
    switch (n->type) {
    case CR_NODE_FILE:
        w->files++;
        w->compared++;
        if (!compare_file(w, path, n)) {
            fprintf(stderr, "content mismatch: %s\n", path);
            w->mismatches++;
        }
        if (strcmp(path + strlen(src), "/hello.txt") == 0)
            for (size_t i = 0; i < n->nxattrs; i++)
                if (strcmp(n->xattrs[i].name, "user.test") == 0 && n->xattrs[i].len == 2 &&
                    memcmp(n->xattrs[i].value, "v1", 2) == 0)
                    w->saw_xattr = 1;
        break;
    case CR_NODE_DIR:
        w->dirs++;
        break;
    case CR_NODE_SYMLINK:
        w->others++;
        if (n->link_target && strcmp(n->link_target, "hello.txt") == 0)
            w->saw_link = 1;
        break;
    case CR_NODE_FIFO:
        w->others++;
        w->saw_fifo = 1;
        break;
    default:
        w->others++;
    }
    return 0;
}

static int nftw_count;
static int count_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)st;
    (void)f;
    if (flag == FTW_F)
        nftw_count++;
    return 0;
}

static int count_packs(void)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/data", vault);
    nftw_count = 0;
    nftw(p, count_cb, 16, FTW_PHYS);
    return nftw_count;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static int warnings;
static char last_warning[2048];
static void on_warning(const char *path, const char *msg, void *payload)
{
    (void)payload;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s: %s", path, msg);
}

static int do_backup(cr_snapshot **snap, cr_repo *repo, const char *const *paths, size_t n,
                     int threads)
{
    cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
    static const char *excl[] = {"*.tmp"};
    static const char *tags[] = {"unit"};
    o.source = "test-host";
    o.threads = threads;
    o.excludes = excl;
    o.nexcludes = 1;
    o.tags = tags;
    o.ntags = 1;
    o.warning = on_warning;
    return cr_backup(snap, repo, paths, n, &o);
}

/* ---------------------------------------------------------------- tests */

static void test_options(cr_repo *repo)
{
    cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
    const char *paths[] = {src};
    const char *missing[] = {"/no/such/place/for/backups"};
    cr_snapshot *s = NULL;

    CHECK(cr_backup(&s, repo, paths, 1, &o) == CR_EINPUT); /* no source */
    o.source = "a/b";
    CHECK(cr_backup(&s, repo, paths, 1, &o) == CR_EINPUT);
    o.source = "bad\nname";
    CHECK(cr_backup(&s, repo, paths, 1, &o) == CR_EINPUT);
    o.source = "ok";
    CHECK(cr_backup(&s, repo, paths, 0, &o) == CR_EINPUT);
    CHECK(cr_backup(&s, repo, missing, 1, &o) == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "no such file or directory") != NULL);
    CHECK(s == NULL);
}

static void test_backups(cr_repo *repo)
{
    const char *paths[] = {src};
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL;
    walk_state w;
    int packs1, packs2;
    char p[PATH_MAX];

    /* The vault lies inside the backed-up folder: it must be skipped. */
    warnings = 0;
    CHECK_OK(do_backup(&s1, repo, paths, 1, 2));
    REQUIRE(s1);
    CHECK(warnings == 0);
    /* empty hello.txt big.bin sparse.img sub/notes.txt sub/hardlink sub/deeper/kept.dat */
    CHECK(s1->files == 7);
    CHECK(s1->files_new == 7);
    CHECK(s1->files_unchanged == 0);
    CHECK(s1->others == 2); /* link, fifo */
    CHECK(s1->errors == 0);
    CHECK(s1->bytes == 13 + BIG_SIZE + SPARSE_SIZE + 29 + 13 + 4);
    CHECK(s1->bytes_new > BIG_SIZE / 2 && s1->bytes_new < BIG_SIZE + 4u * 1024 * 1024);
    CHECK(s1->npaths == 1 && strcmp(s1->paths[0], src) == 0);
    CHECK(s1->ntags == 1 && strcmp(s1->tags[0], "unit") == 0);
    CHECK(!s1->has_parent);

    memset(&w, 0, sizeof(w));
    w.repo = repo;
    CHECK_OK(cr_snapshot_walk(repo, s1, "/", 1, walk_cb, &w));
    CHECK(w.files == 7);
    CHECK(w.compared == 7 && w.mismatches == 0);
    CHECK(w.dirs == 4); /* src, sub, sub/deeper, emptydir */
    CHECK(w.saw_link && w.saw_fifo);
    CHECK(!w.saw_excluded);
    CHECK(!w.saw_vault);
    CHECK(!have_user_xattr || w.saw_xattr);
    CHECK(w.sparse_stored == 8192); /* only the two data blocks, the holes are not stored */
    /* Intermediate folders mirror the absolute path. */
    {
        cr_node n;
        memset(&n, 0, sizeof(n));
        CHECK_OK(cr_snapshot_lookup(&n, repo, s1, src));
        CHECK(n.type == CR_NODE_DIR);
        cr_node_clear(&n);
        CHECK_OK(cr_snapshot_lookup(&n, repo, s1, "/tmp"));
        cr_node_clear(&n);
    }

    /* Unchanged: nothing read, nothing written but the snapshot. */
    packs1 = count_packs();
    CHECK_OK(do_backup(&s2, repo, paths, 1, 2));
    REQUIRE(s2);
    CHECK(s2->has_parent && memcmp(&s2->parent, &s1->id, sizeof(cr_id)) == 0);
    CHECK(s2->files == 7);
    CHECK(s2->files_unchanged == 7);
    CHECK(s2->files_new == 0 && s2->files_changed == 0);
    CHECK(s2->bytes_new == 0);
    packs2 = count_packs();
    {
        /* The source's subtree is the same tree. Folders above it (/tmp) may
         * change under other programs: then only their new trees are written. */
        cr_node n1, n2;
        memset(&n1, 0, sizeof(n1));
        memset(&n2, 0, sizeof(n2));
        CHECK_OK(cr_snapshot_lookup(&n1, repo, s1, src));
        CHECK_OK(cr_snapshot_lookup(&n2, repo, s2, src));
        CHECK(n1.has_subtree && n2.has_subtree &&
              memcmp(&n1.subtree, &n2.subtree, sizeof(cr_id)) == 0);
        cr_node_clear(&n1);
        cr_node_clear(&n2);
        if (memcmp(&s2->tree, &s1->tree, sizeof(cr_id)) == 0)
            CHECK(packs2 == packs1);
        else
            CHECK(packs2 <= packs1 + 1);
    }

    /* One file changed (new size, new content), one added. */
    write_file("sub/notes.txt", "patient records are precious!\n", 30);
    write_file("sub/new.txt", "new", 3);
    CHECK_OK(do_backup(&s3, repo, paths, 1, 1));
    REQUIRE(s3);
    CHECK(s3->files == 8);
    CHECK(s3->files_changed == 1);
    CHECK(s3->files_new == 1);
    CHECK(s3->files_unchanged == 6);
    CHECK(s3->bytes_new > 0);
    memset(&w, 0, sizeof(w));
    w.repo = repo;
    CHECK_OK(cr_snapshot_walk(repo, s3, "/", 1, walk_cb, &w));
    CHECK(w.files == 8 && w.mismatches == 0);

    /* force_read: everything read again, same content, no new data. */
    {
        cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
        o.source = "test-host";
        o.force_read = 1;
        o.excludes = (const char *[]){"*.tmp"};
        o.nexcludes = 1;
        CHECK_OK(cr_backup(&s4, repo, paths, 1, &o));
        REQUIRE(s4);
        CHECK(s4->files_unchanged == 0);
        CHECK(s4->files_changed == 8);
    }

    /* Several paths merge into one root; a path inside another is covered by it. */
    {
        cr_snapshot *s5 = NULL;
        cr_node n;
        char a[PATH_MAX], b[PATH_MAX];
        const char *two[3];
        path_of(a, "sub/deeper");
        snprintf(b, sizeof(b), "%s/./sub/../hello.txt", src);
        two[0] = a;
        two[1] = b;
        two[2] = src; /* covers both */
        CHECK_OK(do_backup(&s5, repo, two, 2, 2));
        REQUIRE(s5);
        CHECK(s5->files == 2); /* kept.dat, hello.txt */
        CHECK(s5->npaths == 2);
        path_of(p, "hello.txt");
        CHECK(s5->npaths == 2 && strcmp(s5->paths[1], p) == 0);
        memset(&n, 0, sizeof(n));
        CHECK_OK(cr_snapshot_lookup(&n, repo, s5, p));
        CHECK(n.type == CR_NODE_FILE && n.size == 13);
        cr_node_clear(&n);
        path_of(p, "sub/notes.txt");
        CHECK(cr_snapshot_lookup(&n, repo, s5, p) == CR_ENOTFOUND);
        cr_node_clear(&n);
        cr_snapshot_free(s5);
        s5 = NULL;
        CHECK_OK(do_backup(&s5, repo, two, 3, 2));
        REQUIRE(s5);
        CHECK(s5->files == 8);
        cr_snapshot_free(s5);
    }

    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_snapshot_free(s4);
}

static int count_walk_cb(const char *path, const cr_node *n, void *payload)
{
    size_t *c = payload;
    (void)path;
    c[n->type == CR_NODE_FILE ? 0 : n->type == CR_NODE_DIR ? 1 : 2]++;
    return 0;
}

/* 1 if `path` is the same folder tree in both snapshots. */
static int same_subtree(cr_repo *repo, const cr_snapshot *a, const cr_snapshot *b, const char *path)
{
    cr_node na, nb;
    int same;
    memset(&na, 0, sizeof(na));
    memset(&nb, 0, sizeof(nb));
    if (cr_snapshot_lookup(&na, repo, a, path) < 0 || cr_snapshot_lookup(&nb, repo, b, path) < 0) {
        cr_node_clear(&na);
        return 0;
    }
    same = na.has_subtree && nb.has_subtree && memcmp(&na.subtree, &nb.subtree, sizeof(cr_id)) == 0;
    cr_node_clear(&na);
    cr_node_clear(&nb);
    return same;
}

static int backup_many(cr_snapshot **snap, cr_repo *repo, const char *dir, int threads, int force)
{
    cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
    const char *paths[] = {dir};
    o.source = "many-dirs";
    o.threads = threads;
    o.force_read = force;
    o.warning = on_warning;
    return cr_backup(snap, repo, paths, 1, &o);
}

/*
 * Many directories, wide and deep, and folders with more files than the
 * queues hold: the threads walk them in any order, yet the snapshot must be
 * the same tree whatever the number of threads, and an unchanged re-backup
 * must reproduce the parent's root tree without reading or storing anything.
 */
static void test_many_dirs(cr_repo *repo)
{
    char dir[512], p[PATH_MAX], content[64];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    size_t counts[3] = {0, 0, 0}, files = 0, dirs = 0, i, k, len;

    snprintf(dir, sizeof(dir), "%s/many", top);
    REQUIRE(mkdir(dir, 0755) == 0);
    for (i = 0; i < 100; i++) { /* wider than the walk queue */
        snprintf(p, sizeof(p), "%s/d%03zu", dir, i);
        REQUIRE(mkdir(p, 0755) == 0);
        dirs++;
        for (k = 0; k < 3; k++) {
            snprintf(p, sizeof(p), "%s/d%03zu/s%zu", dir, i, k);
            REQUIRE(mkdir(p, 0755) == 0);
            dirs++;
            snprintf(p, sizeof(p), "%s/d%03zu/s%zu/f", dir, i, k);
            len = (size_t)snprintf(content, sizeof(content), "file %zu.%zu", i, k);
            REQUIRE(cr_fs_write_atomic(AT_FDCWD, p, content, len, 0644, 0) == 0);
            files++;
        }
    }
    snprintf(p, sizeof(p), "%s/chain", dir);
    for (i = 0; i < 150; i++) { /* deeper than the walk queue */
        size_t l = strlen(p);
        REQUIRE(mkdir(p, 0755) == 0);
        dirs++;
        snprintf(p + l, sizeof(p) - l, "/x");
        len = (size_t)snprintf(content, sizeof(content), "level %zu", i);
        REQUIRE(cr_fs_write_atomic(AT_FDCWD, p, content, len, 0644, 0) == 0);
        files++;
        p[l] = '\0';
        snprintf(p + l, sizeof(p) - l, "/c");
    }
    snprintf(p, sizeof(p), "%s/flat", dir);
    REQUIRE(mkdir(p, 0755) == 0);
    dirs++;
    for (i = 0; i < 300; i++) { /* more files than the file queue holds */
        snprintf(p, sizeof(p), "%s/flat/f%03zu", dir, i);
        len = (size_t)snprintf(content, sizeof(content), "flat %zu", i);
        REQUIRE(cr_fs_write_atomic(AT_FDCWD, p, content, len, 0644, 0) == 0);
        files++;
    }

    warnings = 0;
    CHECK_OK(backup_many(&s1, repo, dir, 1, 0));
    REQUIRE(s1);
    CHECK(warnings == 0);
    CHECK(s1->files == files);
    CHECK(s1->files_new == files);
    CHECK(s1->dirs == dirs + 3); /* and the folders leading to it: tmp, cr-test-backup-*, many */
    CHECK_OK(cr_snapshot_walk(repo, s1, dir, 1, count_walk_cb, counts));
    CHECK(counts[0] == files && counts[1] == dirs && counts[2] == 0);

    CHECK_OK(backup_many(&s2, repo, dir, 8, 0));
    REQUIRE(s2);
    CHECK(s2->files_unchanged == files);
    CHECK(s2->bytes_new == 0);
    CHECK(s2->dirs == s1->dirs && s2->files == s1->files);
    /* The backed-up folder's tree is the same (the root also holds /tmp's own
     * metadata, which other programs change at any time). */
    CHECK(same_subtree(repo, s1, s2, dir));

    CHECK_OK(backup_many(&s3, repo, dir, 3, 1));
    REQUIRE(s3);
    CHECK(s3->files_changed == files);
    CHECK(s3->bytes_new == 0);
    CHECK(same_subtree(repo, s1, s3, dir));
    CHECK(warnings == 0);

    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
}

/*
 * Unreadable items give warnings and CR_EPARTIAL with the snapshot saved.
 * As root nothing is unreadable, so a child process drops to "nobody".
 */
static void test_unreadable(void)
{
    char dir[512], v2[512], p[PATH_MAX];
    pid_t pid;
    int status = -1;

    snprintf(dir, sizeof(dir), "%s/ro", top);
    snprintf(v2, sizeof(v2), "%s/ro-vault", top);
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(p, sizeof(p), "%s/readable", dir);
    REQUIRE(cr_fs_write_atomic(AT_FDCWD, p, "ok", 2, 0644, 0) == 0);
    snprintf(p, sizeof(p), "%s/secret", dir);
    REQUIRE(cr_fs_write_atomic(AT_FDCWD, p, "no", 2, 0000, 0) == 0);
    REQUIRE(chmod(p, 0) == 0);
    snprintf(p, sizeof(p), "%s/closed", dir);
    REQUIRE(mkdir(p, 0000) == 0);
    REQUIRE(chmod(p, 0) == 0);

    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cr_init_options io = CR_INIT_OPTIONS_INIT;
        cr_repo *r = NULL;
        cr_snapshot *s = NULL;
        const char *paths[] = {dir};
        int rc;
        io.kdf = CR_KDF_INTERACTIVE;
        if (geteuid() == 0) {
            /* The vault belongs to nobody; the tree stays root's. */
            if (mkdir(v2, 0700) < 0 || chown(v2, 65534, 65534) < 0 || chmod(top, 0755) < 0 ||
                setgid(65534) < 0 || setuid(65534) < 0)
                _exit(10);
        }
        if (cr_repo_init(v2, PASS, &io) < 0 || cr_repo_open(&r, v2, PASS) < 0)
            _exit(11);
        warnings = 0;
        rc = do_backup(&s, r, paths, 1, 2);
        if (rc != CR_EPARTIAL || !s)
            _exit(12);
        if (s->errors != 2 || warnings != 2 || s->files != 1 || s->dirs != 4) {
            fprintf(stderr, "errors %llu warnings %d files %llu dirs %llu (%s)\n",
                    (unsigned long long)s->errors, warnings, (unsigned long long)s->files,
                    (unsigned long long)s->dirs, last_warning);
            _exit(13);
        }
        if (!strstr(last_warning, "ermission denied"))
            _exit(14);
        cr_snapshot_free(s);
        cr_repo_free(r);
        _exit(0);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "unreadable test: child status %d\n", status);
}

/*
 * A file written to while the backup reads it (a database, a log): stored
 * with a warning AND counted as an error of the snapshot (exit 5), as an
 * image in the same state is. Deterministic: the first progress report (the
 * walk of the folder, before the file is looked at) waits past the report
 * interval, so the next one comes from whoever reads the file, before the
 * read is checked; that one appends to the file.
 */
typedef struct changer {
    char path[PATH_MAX];
    int calls, changed;
} changer;

static void change_during(const cr_progress *p, void *payload)
{
    changer *c = payload;
    if (c->calls++ == 0) {
        usleep(300 * 1000); /* past PROGRESS_INTERVAL: the next report is not skipped */
        return;
    }
    if (c->changed || p->current)
        return;
    int fd = open(c->path, O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    REQUIRE(cr_fs_write_all(fd, "more", 4) == 0);
    close(fd);
    c->changed = 1;
}

static void test_changed_while_read(cr_repo *repo)
{
    char dir[512];
    changer c;
    cr_backup_options o = CR_BACKUP_OPTIONS_INIT;
    cr_snapshot *s = NULL;
    uint8_t *data = malloc(4u << 20);
    REQUIRE(data);
    memset(&c, 0, sizeof(c));
    snprintf(dir, sizeof(dir), "%s/busy", top);
    REQUIRE(mkdir(dir, 0755) == 0);
    snprintf(c.path, sizeof(c.path), "%s/db.log", dir);
    fill_random(data, 4u << 20, 99);
    REQUIRE(cr_fs_write_atomic(AT_FDCWD, c.path, data, 4u << 20, 0644, 0) == 0);
    free(data);
    const char *paths[] = {dir};
    o.source = "busy-host";
    o.threads = 1;
    o.warning = on_warning;
    o.progress = change_during;
    o.payload = &c;
    warnings = 0;
    CHECK(cr_backup(&s, repo, paths, 1, &o) == CR_EPARTIAL);
    CHECK(c.changed == 1);
    CHECK(warnings == 1 && strstr(last_warning, "changed while it was being read") != NULL);
    REQUIRE(s);
    CHECK(s->errors == 1);
    cr_snapshot_free(s);
}

int main(void)
{
    cr_init_options io = CR_INIT_OPTIONS_INIT;
    cr_repo *repo = NULL;

    REQUIRE(cr_init() == 0);
    snprintf(top, sizeof(top), "/tmp/cr-test-backup-XXXXXX");
    REQUIRE(mkdtemp(top));
    snprintf(src, sizeof(src), "%s/src", top);
    snprintf(vault, sizeof(vault), "%s/vault", src);
    make_tree();

    io.kdf = CR_KDF_INTERACTIVE;
    REQUIRE(cr_repo_init(vault, PASS, &io) == 0);
    REQUIRE(cr_repo_open(&repo, vault, PASS) == 0);

    test_options(repo);
    test_backups(repo);
    test_many_dirs(repo);
    test_changed_while_read(repo);
    test_unreadable();

    cr_repo_free(repo);
    nftw(top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary("test_backup");
}
