/*
 * Unit tests of cr_restore: a backed-up tree with every kind of node comes
 * back bit-identical (content, sparseness, mode, owner, times in ns, symlink
 * targets, xattrs, ACLs, hard links); --include restores one subtree; a
 * hostile target (symlinks where folders and files go) and a hostile
 * snapshot (unsafe names) never make restore write outside the target.
 */
#include "test.h"
#include "fixture.h"
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/acl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static char base[PATH_MAX], src[PATH_MAX], vault[PATH_MAX];
static int is_root;

#define PW "correct horse battery staple"

/* ------------------------------------------------------------ helpers */

static void set_mtime(const char *dir, const char *rel, time_t s, long ns)
{
    char p[PATH_MAX];
    struct timespec ts[2] = {{s - 100, 5}, {s, ns}};
    join(p, dir, rel);
    REQUIRE(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

static int read_whole(const char *p, uint8_t **out, size_t *len)
{
    struct stat st;
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -1;
    fstat(fd, &st);
    *out = malloc((size_t)st.st_size + 1);
    *len = 0;
    ssize_t n;
    while ((n = read(fd, *out + *len, (size_t)st.st_size - *len)) > 0)
        *len += (size_t)n;
    close(fd);
    return 0;
}

static char *acl_text(const char *p, acl_type_t type)
{
    acl_t a = acl_get_file(p, type);
    if (!a)
        return NULL;
    char *t = acl_to_text(a, NULL);
    char *r = t ? strdup(t) : NULL;
    acl_free(t);
    acl_free(a);
    return r;
}

/* Inode pairs seen while comparing (hard links must map consistently). */
static struct {
    ino_t a, b;
} ino_map[256];
static int nino;

static int compare_count, check_nlink = 1;

/* Compare two trees (a = source, b = restored) recursively; CHECKs every difference. */
static void compare_tree(const char *a, const char *b)
{
    struct stat sa, sb;
    REQUIRE(lstat(a, &sa) == 0);
    if (lstat(b, &sb) != 0) {
        fprintf(stderr, "missing in restore: %s\n", b);
        CHECK(0);
        return;
    }
    compare_count++;
    CHECK((sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT));
    if (!S_ISLNK(sa.st_mode))
        CHECK(sa.st_mode == sb.st_mode);
    if (is_root) {
        CHECK(sa.st_uid == sb.st_uid);
        CHECK(sa.st_gid == sb.st_gid);
    }
    if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
        fprintf(stderr, "mtime differs: %s (%lld.%09ld vs %lld.%09ld)\n", b,
                (long long)sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec, (long long)sb.st_mtim.tv_sec,
                sb.st_mtim.tv_nsec);
        CHECK(0);
    }
    if (S_ISREG(sa.st_mode)) {
        uint8_t *da = NULL, *db = NULL;
        size_t la = 0, lb = 0;
        CHECK(sa.st_size == sb.st_size);
        REQUIRE(read_whole(a, &da, &la) == 0);
        CHECK(read_whole(b, &db, &lb) == 0);
        if (la != lb || (db && memcmp(da, db, la) != 0)) {
            fprintf(stderr, "content differs: %s\n", b);
            CHECK(0);
        }
        free(da);
        free(db);
        if (sa.st_nlink > 1) {
            int found = 0;
            for (int i = 0; i < nino; i++)
                if (ino_map[i].a == sa.st_ino) {
                    found = 1;
                    CHECK(ino_map[i].b == sb.st_ino);
                }
            if (!found && nino < 256) {
                ino_map[nino].a = sa.st_ino;
                ino_map[nino++].b = sb.st_ino;
            }
            if (check_nlink && sb.st_nlink != sa.st_nlink) {
                fprintf(stderr, "link count differs on %s: %lu vs %lu\n", b,
                        (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
                CHECK(0);
            }
        }
    }
    if (S_ISLNK(sa.st_mode)) {
        char ta[PATH_MAX] = "", tb[PATH_MAX] = "";
        CHECK(readlink(a, ta, sizeof(ta) - 1) > 0);
        CHECK(readlink(b, tb, sizeof(tb) - 1) > 0);
        CHECK(strcmp(ta, tb) == 0);
        return;
    }
    /* xattrs (user.* and others) and ACLs. */
    char la_[4096], lb_[4096];
    ssize_t na = llistxattr(a, la_, sizeof(la_)), nb = llistxattr(b, lb_, sizeof(lb_));
    if (na != nb) {
        fprintf(stderr, "xattr lists differ on %s (%zd vs %zd)\n", b, na, nb);
        CHECK(0);
    }
    for (ssize_t off = 0; na > 0 && off < na; off += (ssize_t)strlen(la_ + off) + 1) {
        const char *name = la_ + off;
        char va[4096], vb[4096];
        ssize_t xa = lgetxattr(a, name, va, sizeof(va)), xb = lgetxattr(b, name, vb, sizeof(vb));
        if (xa != xb || (xa > 0 && memcmp(va, vb, (size_t)xa) != 0)) {
            fprintf(stderr, "xattr %s differs on %s\n", name, b);
            CHECK(0);
        }
    }
    if (S_ISREG(sa.st_mode) || S_ISDIR(sa.st_mode)) {
        char *aa = acl_text(a, ACL_TYPE_ACCESS), *ab = acl_text(b, ACL_TYPE_ACCESS);
        if (!aa || !ab || strcmp(aa, ab) != 0) {
            fprintf(stderr, "ACL differs on %s: [%s] vs [%s]\n", b, aa ? aa : "-", ab ? ab : "-");
            CHECK(0);
        }
        free(aa);
        free(ab);
        if (S_ISDIR(sa.st_mode)) {
            char *da = acl_text(a, ACL_TYPE_DEFAULT), *dbt = acl_text(b, ACL_TYPE_DEFAULT);
            CHECK((!da && !dbt) || (da && dbt && strcmp(da, dbt) == 0));
            free(da);
            free(dbt);
        }
    }
    if (S_ISDIR(sa.st_mode)) {
        DIR *d = opendir(a);
        struct dirent *e;
        REQUIRE(d);
        int count_a = 0, count_b = 0;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (!strcmp(e->d_name, "sock"))
                continue; /* sockets are not restored */
            char pa[PATH_MAX], pb[PATH_MAX];
            join(pa, a, e->d_name);
            join(pb, b, e->d_name);
            compare_tree(pa, pb);
            count_a++;
        }
        closedir(d);
        d = opendir(b);
        if (d) {
            while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    count_b++;
            closedir(d);
        }
        CHECK(count_a == count_b);
    }
}

/* Where the snapshot's copy of `path` (absolute) lands under a target. */
static void restored_path(char *out, const char *target, const char *path)
{
    pathf(out, "%s%s", target, path);
}

typedef struct warn_log {
    int n;
    char last[1024];
    int lost, unsafe;
} warn_log;

static void on_warning(const char *path, const char *message, void *payload)
{
    warn_log *w = payload;
    w->n++;
    snprintf(w->last, sizeof(w->last), "%s: %s", path, message);
    if (strstr(message, "lost"))
        w->lost++;
    if (strstr(message, "unsafe"))
        w->unsafe++;
    fprintf(stderr, "  (warning) %s: %s\n", path, message);
}

/* ------------------------------------------------------------ the source tree */

static void make_source(void)
{
    char p[PATH_MAX], q[PATH_MAX];
    uint8_t *big = malloc(5u << 20);
    REQUIRE(big);
    fill_random(big, 5u << 20);

    REQUIRE(mkdir(src, 0755) == 0);
    write_at(src, "a.txt", "hello, world\n", 13);
    write_at(src, "empty", "", 0);
    write_at(src, "big.bin", big, 5u << 20); /* several chunks */
    /* The same data twice in one file: one blob written to two places. */
    join(p, src, "twice.bin");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, big, 1u << 20) == 1 << 20);
    REQUIRE(write(fd, big, 1u << 20) == 1 << 20);
    close(fd);

    /* Sparse: 64 MiB with 8 KiB of data. */
    join(p, src, "sparse.img");
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 64 << 20) == 0);
    REQUIRE(pwrite(fd, big, 4096, 0) == 4096);
    REQUIRE(pwrite(fd, big + 8192, 4096, 32 << 20) == 4096);
    close(fd);

    join(p, src, "link");
    REQUIRE(symlink("a.txt", p) == 0);
    join(p, src, "abs-link");
    REQUIRE(symlink("/etc/passwd", p) == 0);
    join(p, src, "dangling");
    REQUIRE(symlink("../../nowhere/at/all", p) == 0);
    join(p, src, "fifo");
    REQUIRE(mkfifo(p, 0640) == 0);

    join(p, src, "d1");
    REQUIRE(mkdir(p, 0750) == 0);
    join(p, src, "d1/d2");
    REQUIRE(mkdir(p, 0700) == 0);
    write_at(src, "d1/d2/deep.txt", "deep\n", 5);
    write_at(src, "d1/one.txt", "one\n", 4);

    /* Hard links: three names, one in another folder. */
    write_at(src, "h1", "hard linked content\n", 20);
    join(p, src, "h1");
    join(q, src, "h2");
    REQUIRE(link(p, q) == 0);
    join(q, src, "d1/h3");
    REQUIRE(link(p, q) == 0);

    /* xattrs on a file and a folder. */
    join(p, src, "a.txt");
    REQUIRE(setxattr(p, "user.test", "value", 5, 0) == 0);
    REQUIRE(setxattr(p, "user.binary", "\0\1\2", 3, 0) == 0);
    join(p, src, "d1");
    REQUIRE(setxattr(p, "user.dir", "x", 1, 0) == 0);

    /* ACLs: an access ACL on a file, a default ACL on a folder. */
    write_at(src, "acl.txt", "acl\n", 4);
    join(p, src, "acl.txt");
    acl_t acl = acl_from_text("u::rw-,u:1234:r--,g::r--,m::r--,o::---");
    REQUIRE(acl);
    REQUIRE(acl_set_file(p, ACL_TYPE_ACCESS, acl) == 0);
    acl_free(acl);
    join(p, src, "d1/d2");
    acl = acl_from_text("u::rwx,u:1234:r-x,g::r-x,m::r-x,o::---");
    REQUIRE(acl);
    REQUIRE(acl_set_file(p, ACL_TYPE_DEFAULT, acl) == 0);
    acl_free(acl);

    /* Owner and special bits (root only), a read-only file and folder. */
    write_at(src, "suid", "#!/bin/sh\n", 10);
    join(p, src, "suid");
    if (is_root)
        REQUIRE(chown(p, 1234, 5678) == 0);
    REQUIRE(chmod(p, 04755) == 0);
    write_at(src, "readonly.txt", "ro\n", 3);
    join(p, src, "readonly.txt");
    REQUIRE(chmod(p, 0444) == 0);
    join(p, src, "ro-dir");
    REQUIRE(mkdir(p, 0755) == 0);
    write_at(src, "ro-dir/inside.txt", "inside\n", 7);
    REQUIRE(chmod(p, 0555) == 0);

    /* Specific times in ns everywhere, folders last. */
    const char *files[] = {"a.txt",      "empty",          "big.bin",      "twice.bin",
                           "sparse.img", "link",           "abs-link",     "dangling",
                           "fifo",       "d1/d2/deep.txt", "d1/one.txt",   "h1",
                           "acl.txt",    "suid",           "readonly.txt", "ro-dir/inside.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
        set_mtime(src, files[i], 1500000000 + (time_t)i * 1000, 123456789 + (long)i);
    set_mtime(src, "d1/d2", 1600000000, 111111111);
    set_mtime(src, "d1", 1600000001, 222222222);
    set_mtime(src, "ro-dir", 1600000002, 333333333);
    set_mtime(src, ".", 1600000003, 444444444);
    free(big);
}

static int backup(cr_snapshot **snap, cr_repo *repo)
{
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const char *paths[] = {src};
    bo.source = "test-host";
    bo.threads = 2;
    return cr_backup(snap, repo, paths, 1, &bo);
}

/* ------------------------------------------------------------ tests */

static void test_full_restore(cr_repo *repo, const cr_snapshot *snap)
{
    char target[PATH_MAX], where[PATH_MAX], p[PATH_MAX];
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    warn_log w = {0};
    join(target, base, "target");
    ro.target = target;
    ro.threads = 2;
    ro.warning = on_warning;
    ro.payload = &w;
    CHECK_OK(cr_restore(&st, repo, snap, &ro));
    CHECK(w.n == 0);
    CHECK(st.failed == 0);
    CHECK(st.files >= 14);
    CHECK(st.dirs >= 4);
    CHECK(st.others >= 4);

    restored_path(where, target, src);
    nino = 0;
    compare_count = 0;
    compare_tree(src, where);
    CHECK(compare_count >= 20);

    /* Holes stay holes: 64 MiB file with 8 KiB of data takes little space. */
    struct stat s;
    join(p, where, "sparse.img");
    CHECK(stat(p, &s) == 0 && s.st_size == 64 << 20);
    CHECK(s.st_blocks * 512 < (1 << 20));
    join(p, where, "fifo");
    CHECK(lstat(p, &s) == 0 && S_ISFIFO(s.st_mode));

    /* Again into the same target: refused; with overwrite, everything replaced identically. */
    w.n = 0;
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_EEXISTS);
    ro.overwrite = 1;
    CHECK_OK(cr_restore(&st, repo, snap, &ro));
    CHECK(w.n == 0);
    nino = 0;
    compare_tree(src, where);
    rm_rf(target);
}

static void test_include(cr_repo *repo, const cr_snapshot *snap)
{
    char target[PATH_MAX], where[PATH_MAX], p[PATH_MAX], incl[PATH_MAX];
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    struct stat s;
    join(target, base, "target-incl");
    pathf(incl, "%s/d1", src);
    const char *includes[] = {incl};
    ro.target = target;
    ro.includes = includes;
    ro.nincludes = 1;
    CHECK_OK(cr_restore(&st, repo, snap, &ro));
    restored_path(where, target, incl);
    nino = 0;
    check_nlink = 0; /* d1/h3's other names are outside the include */
    compare_tree(incl, where);
    check_nlink = 1;
    restored_path(where, target, src);
    join(p, where, "a.txt");
    CHECK(lstat(p, &s) < 0 && errno == ENOENT); /* outside the include */

    /* An include that is not in the snapshot is an error, nothing written. */
    rm_rf(target);
    pathf(incl, "%s/no-such-thing", src);
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_ENOTFOUND);
    /* ".." in an include is refused. */
    includes[0] = "/../etc";
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_EINPUT);
    rm_rf(target);
}

/* Skipped paths (quarantine): a file and a folder are left out, the rest is restored. */
static void test_skips(cr_repo *repo, const cr_snapshot *snap)
{
    char target[PATH_MAX], where[PATH_MAX], p[PATH_MAX], s1[PATH_MAX], s2[PATH_MAX];
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    struct stat s;
    join(target, base, "target-skips");
    pathf(s1, "%s/a.txt", src);
    pathf(s2, "%s/d1", src);
    const char *skips[] = {s1, s2};
    ro.target = target;
    ro.skips = skips;
    ro.nskips = 2;
    CHECK_OK(cr_restore(&st, repo, snap, &ro));
    restored_path(where, target, src);
    join(p, where, "a.txt");
    CHECK(lstat(p, &s) < 0 && errno == ENOENT);
    join(p, where, "d1");
    CHECK(lstat(p, &s) < 0 && errno == ENOENT);
    join(p, where, "big.bin");
    CHECK(lstat(p, &s) == 0 && S_ISREG(s.st_mode) && s.st_size == 5 << 20);
    join(p, where, "empty");
    CHECK(lstat(p, &s) == 0 && S_ISREG(s.st_mode));
    rm_rf(target);

    /* Options of version 1 have no skips: everything is restored. */
    ro.version = 1;
    CHECK_OK(cr_restore(&st, repo, snap, &ro));
    restored_path(where, target, src);
    join(p, where, "a.txt");
    CHECK(lstat(p, &s) == 0);
    rm_rf(target);

    /* ".." in a skip is refused before anything is written. */
    ro.version = CR_RESTORE_OPTIONS_VERSION;
    skips[0] = "/../etc";
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_EINPUT);
    rm_rf(target);
}

/* Symlinks planted in the target where a folder and a file go: nothing is written through them. */
static void test_hostile_target(cr_repo *repo, const cr_snapshot *snap)
{
    char target[PATH_MAX], outside[PATH_MAX], where[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    warn_log w = {0};
    struct stat s;
    join(target, base, "target-hostile");
    join(outside, base, "outside");
    REQUIRE(mkdir(outside, 0755) == 0);
    write_at(outside, "victim", "original", 8);

    restored_path(where, target, src);
    REQUIRE(cr_fs_mkdir_p(AT_FDCWD, where, 0755) == 0);
    join(p, where, "d1");
    REQUIRE(symlink(outside, p) == 0); /* a folder's place */
    join(p, where, "a.txt");
    join(q, outside, "victim");
    REQUIRE(symlink(q, p) == 0); /* a file's place */
    join(p, where, "h1");
    REQUIRE(link(q, p) == 0); /* a hard link to a file outside */

    ro.target = target;
    ro.warning = on_warning;
    ro.payload = &w;
    /* A target that holds data is refused, nothing written; then overwritten on request. */
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_EEXISTS);
    CHECK(w.n == 0 && lstat(q, &s) == 0 && s.st_size == 8);
    ro.overwrite = 1;
    CHECK(cr_restore(&st, repo, snap, &ro) == CR_EPARTIAL);
    CHECK(st.failed >= 1);
    CHECK(w.n >= 1);

    /* Nothing outside changed. */
    uint8_t *d = NULL;
    size_t len = 0;
    CHECK(read_whole(q, &d, &len) == 0 && len == 8 && memcmp(d, "original", 8) == 0);
    free(d);
    DIR *dir = opendir(outside);
    struct dirent *e;
    int n = 0;
    while (dir && (e = readdir(dir)))
        if (e->d_name[0] != '.')
            n++;
    if (dir)
        closedir(dir);
    CHECK(n == 1);
    /* The file's place now holds the real file; the folder's place is still the symlink. */
    join(p, where, "a.txt");
    CHECK(lstat(p, &s) == 0 && S_ISREG(s.st_mode) && s.st_size == 13);
    join(p, where, "h1");
    CHECK(lstat(p, &s) == 0 && S_ISREG(s.st_mode) && s.st_size == 20);
    join(p, where, "d1");
    CHECK(lstat(p, &s) == 0 && S_ISLNK(s.st_mode));
    join(p, where, "big.bin");
    CHECK(lstat(p, &s) == 0 && s.st_size == 5 << 20);
    rm_rf(target);
    rm_rf(outside);
}

/* A snapshot whose tree holds "..", "." and "x/y": refused, the rest restored. */
static void test_unsafe_names(cr_repo *repo)
{
    cr_packer *pk = NULL;
    cr_index *idx = NULL;
    cr_node inner[4], outer[1];
    cr_tree tin = {inner, 4}, tout = {outer, 1};
    cr_id tin_id, tout_id;
    char target[PATH_MAX], p[PATH_MAX];
    struct stat s;

    memset(inner, 0, sizeof(inner));
    const char *names[] = {".", "..", "ok", "x/y"};
    for (int i = 0; i < 4; i++) {
        inner[i].type = CR_NODE_FILE;
        inner[i].name = (char *)names[i];
        inner[i].mode = 0644;
        inner[i].mtime_ns = 1000000000;
        inner[i].nlink = 1;
    }
    memset(outer, 0, sizeof(outer));
    outer[0].type = CR_NODE_DIR;
    outer[0].name = "d";
    outer[0].mode = 0755;
    outer[0].nlink = 2;
    outer[0].has_subtree = 1;

    REQUIRE(cr_repo_index(&idx, repo) == 0);
    REQUIRE(cr_packer_new(&pk, repo) == 0);
    REQUIRE(cr_tree_save(&tin_id, repo, pk, &tin) == 0);
    outer[0].subtree = tin_id;
    REQUIRE(cr_tree_save(&tout_id, repo, pk, &tout) == 0);
    REQUIRE(cr_packer_flush(pk) == 0);
    REQUIRE(cr_index_save(idx, repo) == 0);
    cr_packer_free(pk);

    cr_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    snap.source = "hostile";
    snap.time_ns = 1700000000000000000ll;
    snap.hostname = "h";
    snap.username = "u";
    snap.tree = tout_id;
    snap.program_version = "test";
    char *paths[] = {"/d"};
    snap.paths = paths;
    snap.npaths = 1;
    REQUIRE(cr_snapshot_save(repo, &snap) == 0);

    join(target, base, "target-unsafe");
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    warn_log w = {0};
    ro.target = target;
    ro.warning = on_warning;
    ro.payload = &w;
    CHECK(cr_restore(&st, repo, &snap, &ro) == CR_EPARTIAL);
    CHECK(st.failed == 3);
    CHECK(w.unsafe == 3);
    CHECK(st.files == 1);
    join(p, target, "d/ok");
    CHECK(lstat(p, &s) == 0 && S_ISREG(s.st_mode));
    join(p, target, "d/x");
    CHECK(lstat(p, &s) < 0);
    rm_rf(target);
}

int main(void)
{
    cr_repo *repo;
    cr_snapshot *snap = NULL;
    is_root = geteuid() == 0;

    REQUIRE(cr_init() == 0);
    fx_scratch_new(base, "restore");
    join(src, base, "src");
    join(vault, base, "vault");
    make_source();
    repo = fx_vault_new(vault, PW);
    int rc = backup(&snap, repo);
    if (rc != 0)
        fprintf(stderr, "backup: %d %s\n", rc, cr_error_last());
    /* The source has a socket-free tree, every item readable: a clean backup. */
    REQUIRE(rc == 0);

    test_full_restore(repo, snap);
    test_include(repo, snap);
    test_skips(repo, snap);
    test_hostile_target(repo, snap);
    test_unsafe_names(repo);

    cr_snapshot_free(snap);
    cr_repo_free(repo);
    fx_scratch_done(base);
    return test_summary("test_restore");
}
