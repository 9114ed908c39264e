/*
 * Unit tests of cr_backup_image: the chunk map of a raw image (holes where
 * the disk is unallocated or all zeros, equal ids for equal chunks, a short
 * last chunk), the image restored byte for byte through the ordinary
 * restore, an unchanged re-backup that stores nothing, the same snapshot
 * tree whatever the number of threads, and failures that leave no snapshot.
 * Then a real ext4 (mkfs.ext4 -d) without partition table: its files listed
 * as /disk0/fs, pointing into the disk's chunks; an unchanged filesystem is
 * not walked again at the next backup, a changed one is.
 */
#include "test.h"
#include "fixture.h"
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASS "correct horse battery staple"
#define CH ((size_t)CR_IMAGE_CHUNK)
#define TAIL ((size_t)(1024 * 1024 + 123))
#define IMG_SIZE (5 * CH + TAIL)

static char base[PATH_MAX], vault[PATH_MAX], img[PATH_MAX];

static int id_eq(const cr_id *a, const cr_id *b)
{
    return memcmp(a->b, b->b, CR_ID_LEN) == 0;
}

static void pwrite_or_die(int fd, const void *p, size_t len, uint64_t off)
{
    REQUIRE(cr_fs_pwrite_all(fd, p, len, off) == 0);
}

/*
 * chunk 0: random A; 1: zeros written out (not sparse); 2: never written
 * (sparse hole); 3: A again; 4: zeros but its last byte; 5 (short): random C.
 */
static void make_image(void)
{
    uint8_t *a = malloc(CH), *z = calloc(1, CH), *c = malloc(TAIL);
    int fd;
    REQUIRE(a && z && c);
    fill_random(a, CH);
    fill_random(c, TAIL);
    fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, (off_t)IMG_SIZE) == 0);
    pwrite_or_die(fd, a, CH, 0);
    pwrite_or_die(fd, z, CH, CH);
    pwrite_or_die(fd, a, CH, 3 * CH);
    z[CH - 1] = 0x5a;
    pwrite_or_die(fd, z, CH, 4 * CH);
    pwrite_or_die(fd, c, TAIL, 5 * CH);
    close(fd);
    free(a);
    free(z);
    free(c);
}

static size_t count_snapshots(cr_repo *repo)
{
    cr_snapshot **list = NULL;
    size_t n = 0;
    REQUIRE(cr_snapshot_list(&list, &n, repo, NULL) == 0);
    cr_snapshot_list_free(list, n);
    return n;
}

static int files_equal(const char *p, const char *q)
{
    cr_buf a = CR_BUF_INIT, b = CR_BUF_INIT;
    int eq;
    REQUIRE(cr_fs_read_all(&a, AT_FDCWD, p, 64u << 20) == 0);
    REQUIRE(cr_fs_read_all(&b, AT_FDCWD, q, 64u << 20) == 0);
    eq = a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
    cr_buf_free(&a);
    cr_buf_free(&b);
    return eq;
}

static cr_snapshot *backup(cr_repo *repo, int threads, int64_t time_ns)
{
    cr_image_backup_options o = CR_IMAGE_BACKUP_OPTIONS_INIT;
    const char *images[] = {img};
    cr_snapshot *snap = NULL;
    o.source = "vm1";
    o.no_files = 1;
    o.threads = threads;
    o.time_ns = time_ns;
    CHECK_OK(cr_backup_image(&snap, repo, images, 1, &o));
    REQUIRE(snap);
    return snap;
}

static void test_chunk_map(cr_repo *repo)
{
    cr_snapshot *s1, *s2, *s3;
    cr_node n;
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    const char *inc[] = {"/disk0/image"};
    char target[PATH_MAX], restored[PATH_MAX];

    s1 = backup(repo, 3, 1000000000LL * 1700000000);
    CHECK(s1->kind == CR_SNAPSHOT_IMAGE);
    CHECK(s1->bytes == IMG_SIZE);
    REQUIRE(s1->ndisks == 1);
    CHECK(strcmp(s1->disks[0].name, "disk0") == 0);
    CHECK(s1->disks[0].source_format == CR_IMAGE_RAW);
    CHECK(s1->disks[0].virtual_size == IMG_SIZE);
    CHECK(s1->disks[0].stored == 3 * CH + TAIL);
    CHECK(s1->npaths == 1 && strcmp(s1->paths[0], img) == 0);
    CHECK(s1->vm && s1->vm->name && strcmp(s1->vm->name, "vm1") == 0);
    /* chunk 0 == chunk 3: stored once; 4 compresses to nothing; 5 is random */
    CHECK(s1->bytes_new > CH + TAIL && s1->bytes_new < CH + TAIL + 64 * 1024);

    memset(&n, 0, sizeof(n));
    REQUIRE(cr_snapshot_lookup(&n, repo, s1, "/disk0/image") == 0);
    CHECK(n.type == CR_NODE_FILE);
    CHECK(n.size == IMG_SIZE);
    REQUIRE(n.ncontent == 4);
    CHECK(n.content[0].offset == 0 && n.content[0].len == CH);
    CHECK(n.content[1].offset == 3 * CH && n.content[1].len == CH);
    CHECK(n.content[2].offset == 4 * CH && n.content[2].len == CH);
    CHECK(n.content[3].offset == 5 * CH && n.content[3].len == TAIL);
    CHECK(id_eq(&n.content[0].id, &n.content[1].id));
    CHECK(!id_eq(&n.content[0].id, &n.content[2].id));
    for (size_t i = 0; i < n.ncontent; i++)
        CHECK(n.content[i].blob_off == 0);
    cr_node_clear(&n);

    /* The ordinary restore gives the disk back byte for byte, holes as zeros. */
    join(target, base, "restore");
    ro.target = target;
    ro.includes = inc;
    ro.nincludes = 1;
    CHECK_OK(cr_restore(&st, repo, s1, &ro));
    join(restored, target, "disk0/image");
    CHECK(files_equal(img, restored));

    /* Unchanged: only hashed; the same tree when the time is the same, whatever the threads. */
    s2 = backup(repo, 1, 1000000000LL * 1700000000);
    CHECK(s2->bytes_new == 0);
    CHECK(id_eq(&s1->tree, &s2->tree));
    s3 = backup(repo, 0, 0);
    CHECK(s3->bytes_new < 4096); /* new folder times: a few tree bytes, no data */
    CHECK(s3->disks[0].stored == s1->disks[0].stored);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
}

static void test_failures_leave_nothing(cr_repo *repo)
{
    cr_image_backup_options o = CR_IMAGE_BACKUP_OPTIONS_INIT;
    cr_snapshot *snap = NULL;
    char missing[PATH_MAX];
    const char *two[] = {img, missing}, *dir[] = {base}, *twice[] = {img, img};
    size_t before = count_snapshots(repo);

    join(missing, base, "no-such.qcow2");
    o.source = "vm1";
    o.no_files = 1;
    CHECK(cr_backup_image(&snap, repo, two, 2, &o) == CR_ENOTFOUND);
    CHECK(snap == NULL);
    CHECK(strstr(cr_error_last(), "no-such.qcow2") != NULL);
    CHECK(cr_backup_image(&snap, repo, dir, 1, &o) == CR_EINPUT);
    CHECK(cr_backup_image(&snap, repo, twice, 2, &o) == CR_EINPUT);
    o.source = "a/b";
    CHECK(cr_backup_image(&snap, repo, two, 1, &o) == CR_EINPUT);
    o.source = NULL;
    CHECK(cr_backup_image(&snap, repo, two, 1, &o) == CR_EINPUT);
    CHECK(count_snapshots(repo) == before);
}

static void test_file_view(cr_repo *repo)
{
    cr_image_backup_options o = CR_IMAGE_BACKUP_OPTIONS_INIT;
    char tree[PATH_MAX], fsimg[PATH_MAX], p[PATH_MAX], cmd[3 * PATH_MAX];
    const char *images[] = {fsimg};
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_node n, disk;
    uint8_t *big = malloc(3 * 1024 * 1024), junk[4096];
    uint64_t walks;
    int fd;

    REQUIRE(big);
    join(tree, base, "tree");
    join(fsimg, base, "fs.raw");
    pathf(p, "%s/etc", tree);
    REQUIRE(cr_fs_mkdir_p(AT_FDCWD, p, 0755) == 0);
    pathf(p, "%s/usr/bin", tree);
    REQUIRE(cr_fs_mkdir_p(AT_FDCWD, p, 0755) == 0);
    write_at(tree, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 26);
    fill_random(big, 3 * 1024 * 1024);
    write_at(tree, "usr/bin/big", big, 3 * 1024 * 1024);
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F -E root_owner=0:0 -d '%s' '%s' 32M >/dev/null", tree, fsimg);
    REQUIRE(system(cmd) == 0);

    o.source = "fsvm";
    walks = im_fs_walk_count();
    CHECK_OK(cr_backup_image(&s1, repo, images, 1, &o));
    REQUIRE(s1 && s1->ndisks == 1);
    CHECK(im_fs_walk_count() == walks + 1);
    REQUIRE(s1->disks[0].nvolumes == 1);
    CHECK(strcmp(s1->disks[0].volumes[0].name, "fs") == 0);
    CHECK(strcmp(s1->disks[0].volumes[0].fs_type, "ext4") == 0);
    CHECK(s1->disks[0].partition_table == NULL);
    CHECK(s1->files == 2);
    CHECK(s1->system_root && strcmp(s1->system_root, "/disk0/fs") == 0);

    /* The big file's extents are ranges of the disk's chunks, no data of its own. */
    memset(&n, 0, sizeof(n));
    memset(&disk, 0, sizeof(disk));
    REQUIRE(cr_snapshot_lookup(&n, repo, s1, "/disk0/fs/usr/bin/big") == 0);
    REQUIRE(cr_snapshot_lookup(&disk, repo, s1, "/disk0/image") == 0);
    CHECK(n.size == 3 * 1024 * 1024 && n.ncontent > 0);
    for (size_t i = 0; i < n.ncontent; i++) {
        int found = 0;
        for (size_t k = 0; k < disk.ncontent; k++)
            found |= id_eq(&n.content[i].id, &disk.content[k].id);
        CHECK(found);
        CHECK(n.content[i].blob_off + n.content[i].len <= CR_IMAGE_CHUNK);
    }
    cr_node_clear(&n);
    cr_node_clear(&disk);

    /* Unchanged: the filesystem's tree is the parent's, not walked again. */
    CHECK_OK(cr_backup_image(&s2, repo, images, 1, &o));
    REQUIRE(s2);
    CHECK(im_fs_walk_count() == walks + 1);
    CHECK(s2->has_parent && id_eq(&s2->parent, &s1->id));
    CHECK(s2->files == 2 && s2->bytes_new == 0);
    CHECK(s2->system_root && strcmp(s2->system_root, "/disk0/fs") == 0);

    /* A byte changed in the filesystem's range: walked again. */
    memset(junk, 0xa5, sizeof(junk));
    fd = open(fsimg, O_WRONLY);
    REQUIRE(fd >= 0);
    pwrite_or_die(fd, junk, sizeof(junk), 30u * 1024 * 1024);
    close(fd);
    CHECK_OK(cr_backup_image(&s3, repo, images, 1, &o));
    REQUIRE(s3);
    CHECK(im_fs_walk_count() == walks + 2);
    CHECK(s3->files == 2);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    free(big);
}

/* A progress callback that writes into the image once, as a running VM would. */
typedef struct writer {
    int done;
    unsigned warnings;
} writer;

static void write_during(const cr_progress *p, void *payload)
{
    writer *w = payload;
    int fd;
    if (w->done || !p->current) /* the chunk pass, not the final report */
        return;
    w->done = 1;
    usleep(20000); /* a later modification time than the one seen at the start */
    fd = open(img, O_WRONLY);
    REQUIRE(fd >= 0);
    pwrite_or_die(fd, "x", 1, 2 * CH + 17);
    close(fd);
}

static void count_warning(const char *path, const char *message, void *payload)
{
    writer *w = payload;
    if (strcmp(path, img) == 0 && strstr(message, "changed while it was read"))
        w->warnings++;
}

static void test_changed_while_read(cr_repo *repo)
{
    cr_image_backup_options o = CR_IMAGE_BACKUP_OPTIONS_INIT;
    const char *images[] = {img};
    cr_snapshot *snap = NULL;
    writer w = {0, 0};
    o.source = "vm1";
    o.no_files = 1;
    o.progress = write_during;
    o.warning = count_warning;
    o.payload = &w;
    CHECK(cr_backup_image(&snap, repo, images, 1, &o) == CR_EPARTIAL);
    CHECK(w.done == 1 && w.warnings == 1);
    REQUIRE(snap);
    CHECK(snap->errors == 1);
    cr_snapshot_free(snap);
}

int main(void)
{
    cr_repo *repo;
    fx_scratch_new(base, "imgbackup");
    join(vault, base, "vault");
    join(img, base, "disk.raw");
    make_image();
    repo = fx_vault_new(vault, PASS);
    test_chunk_map(repo);
    test_failures_leave_nothing(repo);
    test_changed_while_read(repo);
    test_file_view(repo);
    cr_repo_free(repo);
    fx_scratch_done(base);
    return test_summary("test_image_backup");
}
