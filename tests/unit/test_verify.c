/*
 * Unit tests of cr_verify and cr_diff, and of restore from a damaged vault:
 * a clean vault verifies (with and without reading data, and by subsets); a
 * lost index file is not damage (the index is rebuilt from the packs); one
 * flipped byte in a pack is found by read_data, with the files it affects,
 * and restore reports exactly those files while restoring every other one;
 * a truncated pack is found by the structural check alone; diff reports one
 * added, one removed and one modified file.
 */
#include "test.h"
#define FX_SEED 88172645463325252ull
#include "fixture.h"
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define PW "verify me"
#define NFILES 24

static char base[PATH_MAX], src[PATH_MAX], vault[PATH_MAX], orig[PATH_MAX];

static int same_file(const char *a, const char *b)
{
    char cmd[PATH_MAX * 2 + 32];
    pathf(cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static int backup(cr_snapshot **snap, cr_repo *repo)
{
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const char *paths[] = {src};
    bo.source = "lab";
    return cr_backup(snap, repo, paths, 1, &bo);
}

static int verify(cr_verify_report *r, cr_repo *repo, int read_data, unsigned n, unsigned m)
{
    cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
    vo.read_data = read_data;
    vo.subset_n = n;
    vo.subset_m = m;
    vo.threads = 2;
    int rc = cr_verify(r, repo, &vo);
    for (size_t i = 0; i < r->nproblems; i++)
        fprintf(stderr, "  (problem) %s %.8s: %s\n", r->problems[i].what, r->problems[i].id,
                r->problems[i].message);
    for (size_t i = 0; i < r->naffected; i++)
        fprintf(stderr, "  (affects) %s %.8s: %s\n", r->affected[i].source, r->affected[i].snapshot,
                r->affected[i].path);
    return rc;
}

/* Open a fresh handle (so that its index is loaded from what is on disk now). */
static cr_repo *reopen(cr_repo *old)
{
    cr_repo *r = NULL;
    cr_repo_free(old);
    REQUIRE(cr_repo_open(&r, vault, PW) == 0);
    return r;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* ------------------------------------------------------------ tests */

static void test_clean(cr_repo *repo, const cr_snapshot *snap)
{
    cr_verify_report r;
    CHECK_OK(verify(&r, repo, 0, 0, 0));
    CHECK(r.nproblems == 0 && r.naffected == 0);
    CHECK(r.packs >= 1);
    CHECK(r.packs_read == 0);
    CHECK(r.snapshots == 1);
    CHECK(r.trees >= 3);
    CHECK(r.blobs >= NFILES);
    cr_verify_report_clear(&r);

    CHECK_OK(verify(&r, repo, 1, 0, 0));
    CHECK(r.nproblems == 0);
    CHECK(r.packs_read == r.packs);
    CHECK(r.blobs_read == r.blobs);
    CHECK(r.bytes_read > (uint64_t)NFILES * 100000);
    uint64_t packs = r.packs;
    cr_verify_report_clear(&r);

    /* Subsets 1/2 and 2/2 read every pack between them, once. */
    uint64_t read = 0;
    CHECK_OK(verify(&r, repo, 0, 1, 2));
    read += r.packs_read;
    cr_verify_report_clear(&r);
    CHECK_OK(verify(&r, repo, 0, 2, 2));
    read += r.packs_read;
    cr_verify_report_clear(&r);
    CHECK(read == packs);
    CHECK(verify(&r, repo, 0, 3, 2) == CR_EINPUT);
    cr_verify_report_clear(&r);
    (void)snap;
}

static void test_lost_index(cr_repo **repo)
{
    char dir[PATH_MAX], p[PATH_MAX];
    cr_verify_report r;
    join(dir, vault, "index");
    DIR *d = opendir(dir);
    struct dirent *e;
    REQUIRE(d);
    int removed = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        join(p, dir, e->d_name);
        CHECK(unlink(p) == 0);
        removed++;
    }
    closedir(d);
    CHECK(removed >= 1);
    *repo = reopen(*repo);
    CHECK_OK(verify(&r, *repo, 0, 0, 0));
    CHECK(r.nproblems == 0);
    cr_verify_report_clear(&r);
    CHECK_OK(verify(&r, *repo, 1, 0, 0));
    CHECK(r.nproblems == 0);
    cr_verify_report_clear(&r);
}

typedef struct lost_log {
    char paths[NFILES + 8][PATH_MAX];
    int n;
} lost_log;

static void on_warning(const char *path, const char *message, void *payload)
{
    lost_log *l = payload;
    fprintf(stderr, "  (warning) %s: %s\n", path, message);
    if (strstr(message, "lost") && l->n < NFILES + 8)
        snprintf(l->paths[l->n++], PATH_MAX, "%s", path);
}

static int in_list(char list[][PATH_MAX], int n, const char *path)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], path))
            return 1;
    return 0;
}

/* Flip one byte inside a data blob in the middle of a pack; then truncate that pack. */
static void test_damage(cr_repo **repo, const cr_snapshot *snap)
{
    cr_id *packs = NULL;
    size_t npacks = 0;
    cr_pack_entry *ents = NULL;
    size_t nents = 0;
    uint64_t size = 0;
    char rel[128], p[PATH_MAX], hex[CR_ID_HEX_LEN + 1];
    cr_verify_report r;

    /* The pack holding the most data blobs, and its middle data blob. */
    REQUIRE(cr_repo_list(&packs, &npacks, *repo, "data") == 0);
    size_t best = 0, best_n = 0;
    for (size_t i = 0; i < npacks; i++) {
        REQUIRE(cr_pack_read_header(&ents, &nents, *repo, &packs[i], &size) == 0);
        size_t nd = 0;
        for (size_t k = 0; k < nents; k++)
            nd += ents[k].type == CR_BLOB_DATA;
        if (nd > best_n) {
            best_n = nd;
            best = i;
        }
        free(ents);
    }
    REQUIRE(best_n >= 2);
    cr_id pack = packs[best];
    free(packs);
    REQUIRE(cr_pack_read_header(&ents, &nents, *repo, &pack, &size) == 0);
    size_t want = best_n / 2, k = 0, seen = 0;
    for (; k < nents; k++)
        if (ents[k].type == CR_BLOB_DATA && seen++ == want)
            break;
    REQUIRE(k < nents);
    uint64_t off = ents[k].offset + ents[k].stored_len / 2;
    free(ents);

    cr_pack_path(rel, sizeof(rel), &pack);
    join(p, vault, rel);
    chmod(p, 0644);
    int fd = open(p, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t byte;
    REQUIRE(pread(fd, &byte, 1, (off_t)off) == 1);
    byte ^= 0x40;
    REQUIRE(pwrite(fd, &byte, 1, (off_t)off) == 1);
    close(fd);
    *repo = reopen(*repo);

    /* read_data finds the pack and names the file(s) that use the blob. */
    CHECK(verify(&r, *repo, 1, 0, 0) == CR_ECORRUPT);
    int found = 0;
    cr_id_to_hex(hex, &pack);
    for (size_t i = 0; i < r.nproblems; i++)
        if (!strcmp(r.problems[i].what, "pack") && !strcmp(r.problems[i].id, hex))
            found = 1;
    CHECK(found);
    CHECK(r.naffected >= 1);
    char snaphex[CR_ID_HEX_LEN + 1];
    cr_id_to_hex(snaphex, &snap->id);
    static char affected[NFILES + 8][PATH_MAX];
    int naff = 0;
    for (size_t i = 0; i < r.naffected; i++) {
        CHECK(!strcmp(r.affected[i].source, "lab"));
        CHECK(strncmp(r.affected[i].path, src, strlen(src)) == 0);
        /* Later snapshots (of test_diff) share the blob: keep the first snapshot's list. */
        if (strcmp(r.affected[i].snapshot, snaphex) == 0 && naff < NFILES + 8)
            snprintf(affected[naff++], PATH_MAX, "%s", r.affected[i].path);
    }
    CHECK(naff >= 1);
    cr_verify_report_clear(&r);

    /* Restore: the same files are reported lost, everything else is identical. */
    char target[PATH_MAX];
    static lost_log lost;
    lost.n = 0;
    join(target, base, "target");
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    ro.target = target;
    ro.warning = on_warning;
    ro.payload = &lost;
    CHECK(cr_restore(&st, *repo, snap, &ro) == CR_EPARTIAL);
    CHECK((int)st.failed == naff);
    CHECK(lost.n == naff);
    for (int i = 0; i < lost.n; i++)
        CHECK(in_list(affected, naff, lost.paths[i]));
    int good = 0;
    for (int i = 0; i < NFILES; i++) {
        char name[32], a[PATH_MAX], b[PATH_MAX], o[PATH_MAX];
        snprintf(name, sizeof(name), "f%02d.bin", i);
        join(a, src, name);
        join(o, orig, name); /* the source as it was at the first snapshot */
        pathf(b, "%s%s", target, a);
        if (in_list(affected, naff, a)) {
            struct stat s1, s2;
            char d[PATH_MAX + 32];
            /* Set aside with its size, the lost range reading as zeros; never under its name. */
            snprintf(d, sizeof(d), "%s.cleanroom-damaged", b);
            CHECK(lstat(b, &s2) < 0 && errno == ENOENT);
            CHECK(stat(o, &s1) == 0 && stat(d, &s2) == 0 && s1.st_size == s2.st_size);
            CHECK(!same_file(o, d));
        } else {
            CHECK(same_file(o, b));
            good++;
        }
    }
    CHECK(good == NFILES - naff);
    rm_rf(target);

    /* Truncate the pack: the structural check alone finds it. */
    REQUIRE(truncate(p, (off_t)(size / 2)) == 0);
    *repo = reopen(*repo);
    CHECK(verify(&r, *repo, 0, 0, 0) == CR_ECORRUPT);
    found = 0;
    for (size_t i = 0; i < r.nproblems; i++)
        if (!strcmp(r.problems[i].what, "pack") && !strcmp(r.problems[i].id, hex))
            found = 1;
    CHECK(found);
    CHECK(r.naffected >= (size_t)naff);
    cr_verify_report_clear(&r);
}

typedef struct diff_log {
    int added, removed, modified, other;
    char a[PATH_MAX], r[PATH_MAX], m[PATH_MAX];
} diff_log;

static int on_diff(cr_diff_kind kind, const char *path, const cr_node *o, const cr_node *n,
                   void *payload)
{
    diff_log *d = payload;
    fprintf(stderr, "  (diff) %c %s\n",
            kind == CR_DIFF_ADDED     ? '+'
            : kind == CR_DIFF_REMOVED ? '-'
                                      : 'M',
            path);
    if (kind == CR_DIFF_ADDED && !o && n) {
        d->added++;
        snprintf(d->a, sizeof(d->a), "%s", path);
    } else if (kind == CR_DIFF_REMOVED && o && !n) {
        d->removed++;
        snprintf(d->r, sizeof(d->r), "%s", path);
    } else if (kind == CR_DIFF_MODIFIED && o && n) {
        d->modified++;
        snprintf(d->m, sizeof(d->m), "%s", path);
    } else {
        d->other++;
    }
    return 0;
}

static void test_diff(cr_repo *repo, const cr_snapshot *a)
{
    char p[PATH_MAX], want[PATH_MAX];
    cr_snapshot *b = NULL, *c = NULL;
    diff_log d;
    write_at(src, "added.txt", "new\n", 4);
    join(p, src, "f00.bin");
    CHECK(unlink(p) == 0);
    write_at(src, "f01.bin", "changed\n", 8);
    CHECK_OK(backup(&b, repo));
    REQUIRE(b);

    memset(&d, 0, sizeof(d));
    CHECK_OK(cr_diff(repo, a, b, on_diff, &d));
    CHECK(d.added == 1 && d.removed == 1 && d.modified == 1 && d.other == 0);
    join(want, src, "added.txt");
    CHECK(!strcmp(d.a, want));
    join(want, src, "f00.bin");
    CHECK(!strcmp(d.r, want));
    join(want, src, "f01.bin");
    CHECK(!strcmp(d.m, want));

    /* Same snapshot: nothing. Reversed: added and removed swap. */
    memset(&d, 0, sizeof(d));
    CHECK_OK(cr_diff(repo, b, b, on_diff, &d));
    CHECK(d.added + d.removed + d.modified + d.other == 0);
    memset(&d, 0, sizeof(d));
    CHECK_OK(cr_diff(repo, b, a, on_diff, &d));
    CHECK(d.added == 1 && d.removed == 1 && d.modified == 1);

    /* A folder added reports itself and its contents, each once. */
    join(p, src, "newdir");
    CHECK(mkdir(p, 0755) == 0);
    write_at(p, "x", "x", 1);
    write_at(p, "y", "y", 1);
    CHECK_OK(backup(&c, repo));
    memset(&d, 0, sizeof(d));
    CHECK_OK(cr_diff(repo, b, c, on_diff, &d));
    CHECK(d.added == 3 && d.removed == 0 && d.modified == 0);
    memset(&d, 0, sizeof(d));
    CHECK_OK(cr_diff(repo, c, b, on_diff, &d));
    CHECK(d.added == 0 && d.removed == 3 && d.modified == 0);
    cr_snapshot_free(b);
    cr_snapshot_free(c);
}

int main(void)
{
    cr_repo *repo;
    cr_snapshot *snap = NULL;
    static uint8_t buf[300000];

    REQUIRE(cr_init() == 0);
    fx_scratch_new(base, "verify");
    join(src, base, "src");
    join(vault, base, "vault");
    REQUIRE(mkdir(src, 0755) == 0);
    for (int i = 0; i < NFILES; i++) {
        char name[32];
        size_t len = 100000 + (size_t)i * 7000;
        snprintf(name, sizeof(name), "f%02d.bin", i);
        fill_random(buf, len);
        write_at(src, name, buf, len);
    }
    join(orig, base, "orig");
    {
        char cmd[PATH_MAX * 2 + 16];
        pathf(cmd, "cp -a '%s' '%s'", src, orig);
        REQUIRE(system(cmd) == 0);
    }
    repo = fx_vault_new(vault, PW);
    REQUIRE(backup(&snap, repo) == 0);
    REQUIRE(snap);

    test_clean(repo, snap);
    test_diff(repo, snap);
    test_lost_index(&repo);
    test_damage(&repo, snap);

    cr_snapshot_free(snap);
    cr_repo_free(repo);
    CHECK(count_entries(base) >= 2);
    fx_scratch_done(base);
    return test_summary("test_verify");
}
