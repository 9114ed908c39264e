/*
 * Unit tests of im_fs_read (src/image/fs.c) on real disk images made by the
 * real tools: a GPT disk with an ext4 (mkfs.ext4 -d) and a FAT32 (mkfs.vfat
 * + mcopy) partition; an MBR disk written by hand with an NTFS primary
 * partition (mkntfs + ntfscp) and an ext4 logical partition in an extended
 * one; an ext4 filling a whole disk with no partition table. The disk's
 * 4 MiB chunks are stored in a vault as backup does; every file is then read
 * back through its tree's extents (chunk blob + blob_off) and compared with
 * its source, with its metadata. Also: unwritten (fallocated) ext4 extents
 * over garbage and NTFS bytes past the initialised size read as zeros; ext4
 * inline data and NTFS resident data are stored on their own; a damaged
 * superblock or root folder and an unknown filesystem give a volume error,
 * not a failure; a block list pointing outside the volume is clamped; an
 * unchanged volume is not walked again.
 */
#include "test.h"
#include "fixture.h"
#include "image/image.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char base[PATH_MAX];
static char vdir[64];
static cr_repo *repo;
static cr_packer *packer;
static int nwarn;
static char warn_all[16384];

static void on_warn(const char *path, const char *msg, void *payload)
{
    (void)payload;
    nwarn++;
    fprintf(stderr, "  warning: %s: %s\n", path, msg);
    size_t l = strlen(warn_all);
    snprintf(warn_all + l, sizeof(warn_all) - l, "%s: %s\n", path, msg);
}

static void warn_reset(void)
{
    nwarn = 0;
    warn_all[0] = '\0';
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    REQUIRE(n > 0 && (size_t)n < sizeof(cmd));
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    REQUIRE(rc == 0);
}

/* First line of a command's output. */
static void sh_out(char *out, size_t len, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    if (!fgets(out, (int)len, p))
        out[0] = '\0';
    pclose(p);
}

static void write_file(const char *dir, const char *rel, size_t len)
{
    uint8_t *b = malloc(len + 1);
    REQUIRE(b);
    fill_random(b, len);
    write_at(dir, rel, b, len);
    free(b);
}

static void mkdir_in(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    join(p, dir, rel);
    REQUIRE(mkdir(p, 0755) == 0);
}

static int zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------------ the disk's chunks in the vault */

static void map_build(const char *img, im_chunkmap *map)
{
    struct stat st;
    int fd = open(img, O_RDONLY);
    uint8_t *buf = malloc(CR_IMAGE_CHUNK);
    cr_index *idx;
    REQUIRE(fd >= 0 && buf && fstat(fd, &st) == 0);
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    memset(map, 0, sizeof(*map));
    map->size = (uint64_t)st.st_size;
    map->n = (size_t)((map->size + CR_IMAGE_CHUNK - 1) / CR_IMAGE_CHUNK);
    map->ids = calloc(map->n, sizeof(cr_id));
    map->present = calloc(map->n, 1);
    REQUIRE(map->ids && map->present);
    for (size_t i = 0; i < map->n; i++) {
        uint64_t off = (uint64_t)i * CR_IMAGE_CHUNK;
        size_t len = map->size - off < CR_IMAGE_CHUNK ? (size_t)(map->size - off) : CR_IMAGE_CHUNK;
        REQUIRE(cr_fs_pread_all(fd, buf, len, off) == 0);
        if (zero(buf, len))
            continue;
        map->present[i] = 1;
        cr_blob_id(&map->ids[i], &repo->keys, buf, len);
        if (cr_index_claim(idx, &map->ids[i]))
            REQUIRE(cr_packer_add(packer, CR_BLOB_DATA, &map->ids[i], buf, len, NULL) == 0);
        if (cr_packer_size(packer) >= CR_PACK_TARGET)
            REQUIRE(cr_packer_flush(packer) == 0);
    }
    REQUIRE(cr_packer_flush(packer) == 0);
    close(fd);
    free(buf);
}

static void map_free(im_chunkmap *map)
{
    free(map->ids);
    free(map->present);
    memset(map, 0, sizeof(*map));
}

typedef struct disk_result {
    im_fsresult *v;
    size_t n;
    char *ptable;
} disk_result;

static void disk_read(disk_result *res, const char *img, const im_chunkmap *map,
                      const im_chunkmap *pmap, const disk_result *parent)
{
    im_disk *d = NULL;
    cr_index *idx;
    im_store st;
    REQUIRE(cr_repo_index(&idx, repo) == 0);
    st = (im_store){.repo = repo, .packer = packer, .idx = idx};
    REQUIRE(im_open(&d, img, CR_IMAGE_AUTO) == 0);
    int rc = im_fs_read(&res->v, &res->n, &res->ptable, d, map, pmap, parent ? parent->v : NULL,
                        parent ? parent->n : 0, &st, on_warn, NULL);
    if (rc != 0)
        fprintf(stderr, "im_fs_read: %d %s\n", rc, cr_error_last());
    REQUIRE(rc == 0);
    REQUIRE(cr_packer_flush(packer) == 0);
    im_close(d);
}

static void disk_free(disk_result *res)
{
    for (size_t i = 0; i < res->n; i++)
        im_fsresult_clear(&res->v[i]);
    free(res->v);
    free(res->ptable);
    memset(res, 0, sizeof(*res));
}

static const im_fsresult *vol(const disk_result *res, const char *name)
{
    for (size_t i = 0; i < res->n; i++)
        if (strcmp(res->v[i].vol.name, name) == 0)
            return &res->v[i];
    return NULL;
}

/* ------------------------------------------------------------ reading the trees back */

/* Copy of the node at `path` ("a/b/c") below the tree `root`. @return 0 or -1. */
static int find(const cr_id *root, const char *path, cr_node *out)
{
    cr_id cur = *root;
    char comp[PATH_MAX];
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        cr_tree *t = NULL;
        const cr_node *hit = NULL;
        memcpy(comp, p, l);
        comp[l] = '\0';
        REQUIRE(cr_tree_load(&t, repo, &cur) == 0);
        for (size_t i = 0; i < t->count; i++) {
            if (i > 0)
                CHECK(strcmp(t->nodes[i - 1].name, t->nodes[i].name) < 0); /* sorted, unique */
            if (strcmp(t->nodes[i].name, comp) == 0)
                hit = &t->nodes[i];
        }
        if (!hit) {
            cr_tree_free(t);
            return -1;
        }
        if (!slash) {
            REQUIRE(cr_node_copy(out, hit) == 0);
            cr_tree_free(t);
            return 0;
        }
        if (hit->type != CR_NODE_DIR || !hit->has_subtree) {
            cr_tree_free(t);
            return -1;
        }
        cur = hit->subtree;
        cr_tree_free(t);
        p = slash + 1;
    }
}

static int tree_has(const cr_id *root, const char *path)
{
    cr_node n = {0};
    int rc = find(root, path, &n);
    cr_node_clear(&n);
    return rc == 0;
}

/* The bytes of a file node through its extents (holes are zeros). */
static uint8_t *node_bytes(const cr_node *n, int *own_blobs)
{
    uint8_t *out = calloc(1, n->size + 1);
    cr_buf b = CR_BUF_INIT;
    uint64_t prev_end = 0;
    REQUIRE(out);
    if (own_blobs)
        *own_blobs = 0;
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *e = &n->content[i];
        CHECK(e->offset >= prev_end);
        CHECK(e->len > 0 && e->offset + e->len <= n->size);
        CHECK((uint64_t)e->blob_off + e->len <= CR_IMAGE_CHUNK);
        prev_end = e->offset + e->len;
        REQUIRE(cr_repo_load_blob(&b, repo, &e->id, CR_BLOB_DATA) == 0);
        if ((uint64_t)e->blob_off + e->len > b.len || e->offset + e->len > n->size) {
            CHECK(!"extent outside its blob or file");
            continue;
        }
        memcpy(out + e->offset, b.ptr + e->blob_off, e->len);
        if (own_blobs && e->blob_off == 0 && b.len == e->len && b.len != CR_IMAGE_CHUNK)
            (*own_blobs)++;
    }
    cr_buf_free(&b);
    return out;
}

static uint8_t *file_bytes(const char *p, size_t *len)
{
    struct stat st;
    int fd = open(p, O_RDONLY);
    REQUIRE(fd >= 0 && fstat(fd, &st) == 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    REQUIRE(b);
    REQUIRE(cr_fs_pread_all(fd, b, (size_t)st.st_size, 0) == 0);
    close(fd);
    *len = (size_t)st.st_size;
    return b;
}

/* CHK_MTIME2: within 2 s (FAT keeps times in steps of 2 seconds). */
enum { CHK_MODE = 1, CHK_OWNER = 2, CHK_MTIME = 4, CHK_MTIME2 = 8 };

/* The node at `rel` below `root` is the file src/rel: type, size, content, target, metadata. */
static void check_entry(const cr_id *root, const char *src, const char *rel, int what)
{
    char p[PATH_MAX];
    struct stat st;
    cr_node n = {0};
    join(p, src, rel);
    REQUIRE(lstat(p, &st) == 0);
    if (find(root, rel, &n) != 0) {
        fprintf(stderr, "not in the tree: %s\n", rel);
        CHECK(!"entry missing");
        return;
    }
    if (S_ISREG(st.st_mode)) {
        CHECK(n.type == CR_NODE_FILE);
        CHECK(n.size == (uint64_t)st.st_size);
        size_t len;
        uint8_t *want = file_bytes(p, &len), *got = node_bytes(&n, NULL);
        if (n.size == len && memcmp(want, got, len) != 0) {
            fprintf(stderr, "content differs: %s\n", rel);
            CHECK(!"content differs");
        }
        free(want);
        free(got);
    } else if (S_ISDIR(st.st_mode)) {
        CHECK(n.type == CR_NODE_DIR && n.has_subtree);
    } else if (S_ISLNK(st.st_mode)) {
        char t[PATH_MAX];
        ssize_t l = readlink(p, t, sizeof(t) - 1);
        REQUIRE(l > 0);
        t[l] = '\0';
        CHECK(n.type == CR_NODE_SYMLINK && n.link_target && strcmp(n.link_target, t) == 0);
    } else if (S_ISFIFO(st.st_mode)) {
        CHECK(n.type == CR_NODE_FIFO);
    }
    if ((what & CHK_MODE) && !S_ISLNK(st.st_mode)) {
        if ((n.mode & 07777) != (st.st_mode & 07777))
            fprintf(stderr, "%s: mode %o, want %o\n", rel, n.mode, st.st_mode & 07777);
        CHECK((n.mode & 07777) == (st.st_mode & 07777));
    }
    if (what & CHK_OWNER)
        CHECK(n.uid == st.st_uid && n.gid == st.st_gid);
    if (what & CHK_MTIME)
        CHECK(n.mtime_ns / 1000000000 == (int64_t)st.st_mtime);
    if (what & CHK_MTIME2)
        CHECK(llabs(n.mtime_ns / 1000000000 - (int64_t)st.st_mtime) <= 2);
    CHECK(n.inode != 0);
    cr_node_clear(&n);
}

/* ------------------------------------------------------------ (a) GPT: ext4 + FAT32 */

static void make_ext4_src(const char *src)
{
    char p[PATH_MAX];
    REQUIRE(mkdir(src, 0755) == 0);
    write_at(src, "empty", "", 0);
    write_file(src, "one", 1);
    write_file(src, "small", 5000);
    write_file(src, "big", 9u * 1024 * 1024 + 123); /* spans chunk boundaries */
    /* sparse: data, a 3 MiB hole, data */
    join(p, src, "sparse");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    uint8_t blk[65536];
    REQUIRE(fd >= 0);
    fill_random(blk, sizeof(blk));
    REQUIRE(pwrite(fd, blk, sizeof(blk), 0) == (ssize_t)sizeof(blk));
    REQUIRE(pwrite(fd, blk, 1000, 3 * 1024 * 1024 + 65536) == 1000);
    close(fd);
    join(p, src, "link");
    REQUIRE(symlink("big", p) == 0);
    join(p, src, "long-link");
    char target[300];
    memset(target, 'x', sizeof(target) - 1);
    target[sizeof(target) - 1] = '\0';
    REQUIRE(symlink(target, p) == 0); /* a slow symlink (target in a block) */
    join(p, src, "fifo");
    REQUIRE(mkfifo(p, 0600) == 0);
    write_file(src, "suid", 100);
    join(p, src, "suid");
    REQUIRE(chmod(p, 04755) == 0);
    mkdir_in(src, "sticky");
    join(p, src, "sticky");
    REQUIRE(chmod(p, 01777) == 0);
    mkdir_in(src, "a");
    mkdir_in(src, "a/b");
    mkdir_in(src, "a/b/c");
    write_file(src, "a/b/c/deep.txt", 777);
    write_file(src, "name with spaces \xc3\xa9t\xc3\xa9.txt", 42);
    write_at(src, "falloc.bin", "", 0); /* made unwritten by debugfs below */
    if (geteuid() == 0) {
        join(p, src, "small");
        REQUIRE(chown(p, 1234, 5678) == 0);
    }
}

static const char *ext4_entries[] = {"empty", "one", "small", "big", "sparse", "link", "long-link",
                                     "fifo", "suid", "sticky", "a", "a/b", "a/b/c",
                                     "a/b/c/deep.txt", "name with spaces \xc3\xa9t\xc3\xa9.txt"};

/* Unwritten extent of 256 blocks for /falloc.bin, with garbage on the disk under it. */
static void ext4_falloc(const char *fsimg)
{
    char out[256];
    char cmd[2 * PATH_MAX];
    sh("debugfs -w -R 'fallocate /falloc.bin 0 255' '%s' >/dev/null 2>&1", fsimg);
    sh("debugfs -w -R 'sif /falloc.bin size 1048576' '%s' >/dev/null 2>&1", fsimg);
    snprintf(cmd, sizeof(cmd), "debugfs -R 'bmap /falloc.bin 0' '%s' 2>/dev/null", fsimg);
    sh_out(out, sizeof(out), cmd);
    long blk = strtol(out, NULL, 10);
    REQUIRE(blk > 0 && strstr(out, "uninit"));
    uint8_t *g = malloc(1 << 20);
    REQUIRE(g);
    memset(g, 0xA5, 1 << 20);
    int fd = open(fsimg, O_WRONLY);
    REQUIRE(fd >= 0 && cr_fs_pwrite_all(fd, g, 1 << 20, (uint64_t)blk * 4096) == 0);
    close(fd);
    free(g);
}

static void make_fat_src(const char *src)
{
    REQUIRE(mkdir(src, 0755) == 0);
    mkdir_in(src, "docs");
    write_file(src, "docs/report.txt", 5000);
    write_file(src, "docs/scan.bin", 9u * 1024 * 1024 + 7);
    write_file(src, "A long file name.txt", 3);
    write_at(src, "nothing.txt", "", 0);
    mkdir_in(src, "WINDOWS"); /* a Windows system folder, named as FAT keeps it */
    mkdir_in(src, "WINDOWS/system32");
}

static void test_gpt(void)
{
    char src[PATH_MAX], fsrc[PATH_MAX], fs[PATH_MAX], fat[PATH_MAX], disk[PATH_MAX];
    im_chunkmap map;
    disk_result res = {0};
    cr_node n = {0};

    join(src, base, "src");
    join(fsrc, base, "fatsrc");
    join(fs, base, "ext4.img");
    join(fat, base, "fat.img");
    join(disk, base, "gpt.img");
    make_ext4_src(src);
    make_fat_src(fsrc);
    sh("mkfs.ext4 -q -F -b 4096 -L rootfs -d '%s' -E root_owner=0:0 '%s' 24M", src, fs);
    ext4_falloc(fs);
    sh("mkfs.vfat -C -F 32 -s 1 -n FATVOL '%s' 40960 >/dev/null", fat);
    sh("mcopy -s -i '%s' '%s'/* ::/", fat, fsrc);
    sh("truncate -s 80M '%s'", disk);
    sh("sgdisk -n 1:2048:+24M -c 1:root -n 2:51200:+40M -c 2:data '%s' >/dev/null", disk);
    sh("dd if='%s' of='%s' bs=512 seek=2048 conv=notrunc,sparse status=none", fs, disk);
    sh("dd if='%s' of='%s' bs=512 seek=51200 conv=notrunc,sparse status=none", fat, disk);

    map_build(disk, &map);
    warn_reset();
    uint64_t walks = im_fs_walk_count();
    disk_read(&res, disk, &map, NULL, NULL);
    CHECK(im_fs_walk_count() == walks + 2);
    CHECK(nwarn == 0);
    REQUIRE(res.ptable && strcmp(res.ptable, "gpt") == 0);
    REQUIRE(res.n == 2);
    const im_fsresult *p1 = vol(&res, "p1"), *p2 = vol(&res, "p2");
    REQUIRE(p1 && p2);
    CHECK(p1->vol.start == 2048 * 512ull && p1->vol.length == 24ull << 20);
    CHECK(p2->vol.start == 51200 * 512ull && p2->vol.length == 40ull << 20);
    CHECK(p1->vol.fs_type && strcmp(p1->vol.fs_type, "ext4") == 0);
    CHECK(p2->vol.fs_type && strcmp(p2->vol.fs_type, "fat32") == 0);
    CHECK(p1->vol.label && strcmp(p1->vol.label, "rootfs") == 0);
    CHECK(p2->vol.label && strcmp(p2->vol.label, "FATVOL") == 0);
    CHECK(!p1->vol.error && !p2->vol.error);
    REQUIRE(p1->has_tree && p2->has_tree);
    CHECK(p1->root.type == CR_NODE_DIR && strcmp(p1->root.name, "p1") == 0);
    CHECK(p1->root.has_subtree && !memcmp(&p1->root.subtree, &p1->tree, sizeof(cr_id)));
    CHECK(p1->root.mode == 0755);
    CHECK(!p1->is_system);
    CHECK(p2->is_system); /* Windows/System32, names compared without case on FAT */
    CHECK(p1->errors == 0 && p2->errors == 0);
    /* files: empty one small big sparse suid deep.txt spaces falloc.bin (+ lost+found is a dir) */
    CHECK(p1->vol.files == 9);
    CHECK(p1->others == 3); /* link, long-link, fifo */
    CHECK(p1->dirs == 5);   /* lost+found, sticky, a, a/b, a/b/c */

    for (size_t i = 0; i < sizeof(ext4_entries) / sizeof(ext4_entries[0]); i++)
        check_entry(&p1->tree, src, ext4_entries[i], CHK_MODE | CHK_OWNER | CHK_MTIME);
    CHECK(tree_has(&p1->tree, "lost+found"));

    /* Extents of plain files point into the disk's chunks, not blobs of their own. */
    REQUIRE(find(&p1->tree, "big", &n) == 0);
    {
        int own = 0;
        uint8_t *b = node_bytes(&n, &own);
        CHECK(own == 0);
        CHECK(n.ncontent >= 3); /* 9 MiB in 4 MiB chunks: at least three pieces */
        int nonzero_off = 0;
        for (size_t i = 0; i < n.ncontent; i++) {
            int found = 0;
            for (size_t c = 0; c < map.n; c++)
                found |= map.present[c] && !memcmp(&map.ids[c], &n.content[i].id, sizeof(cr_id));
            CHECK(found);
            nonzero_off |= n.content[i].blob_off != 0;
        }
        CHECK(nonzero_off);
        free(b);
    }
    cr_node_clear(&n);

    /* The sparse file's hole is a hole, not an extent. */
    REQUIRE(find(&p1->tree, "sparse", &n) == 0);
    for (size_t i = 0; i < n.ncontent; i++)
        CHECK(n.content[i].offset + n.content[i].len <= 65536 ||
              n.content[i].offset >= 3 * 1024 * 1024);
    cr_node_clear(&n);

    /* Unwritten extents read as zeros although the disk holds garbage there. */
    REQUIRE(find(&p1->tree, "falloc.bin", &n) == 0);
    {
        CHECK(n.size == 1048576);
        uint8_t *b = node_bytes(&n, NULL);
        CHECK(zero(b, n.size));
        CHECK(n.ncontent == 0);
        free(b);
    }
    cr_node_clear(&n);

    REQUIRE(find(&p1->tree, "suid", &n) == 0);
    CHECK(n.mode == 04755);
    cr_node_clear(&n);
    REQUIRE(find(&p1->tree, "long-link", &n) == 0);
    CHECK(n.link_target && strlen(n.link_target) == 299);
    cr_node_clear(&n);

    /* FAT32: names, content and sizes (FAT keeps no owner or Unix mode). */
    check_entry(&p2->tree, fsrc, "docs", 0);
    check_entry(&p2->tree, fsrc, "docs/report.txt", CHK_MTIME2);
    check_entry(&p2->tree, fsrc, "docs/scan.bin", 0);
    check_entry(&p2->tree, fsrc, "A long file name.txt", 0);
    check_entry(&p2->tree, fsrc, "nothing.txt", 0);
    if (p2->vol.files != 4 || p2->dirs != 3)
        fprintf(stderr, "fat32: %llu files, %llu folders\n", (unsigned long long)p2->vol.files,
                (unsigned long long)p2->dirs);
    CHECK(p2->vol.files == 4 && p2->dirs == 3);
    CHECK(!tree_has(&p2->tree, "$FAT1") && !tree_has(&p2->tree, "$MBR") &&
          !tree_has(&p2->tree, "$OrphanFiles"));
    /* No Unix mode or owner on FAT: 0644 files, 0755 folders, root's. */
    REQUIRE(find(&p2->tree, "docs/report.txt", &n) == 0);
    CHECK(n.mode == 0644 && n.uid == 0 && n.gid == 0);
    cr_node_clear(&n);
    REQUIRE(find(&p2->tree, "docs", &n) == 0);
    CHECK(n.mode == 0755);
    cr_node_clear(&n);

    /* ---- reuse: the same chunks again => the parent's trees, no walk */
    {
        disk_result again = {0};
        walks = im_fs_walk_count();
        disk_read(&again, disk, &map, &map, &res);
        CHECK(im_fs_walk_count() == walks);
        REQUIRE(again.n == 2);
        for (size_t i = 0; i < 2; i++) {
            CHECK(again.v[i].has_tree && !memcmp(&again.v[i].tree, &res.v[i].tree, sizeof(cr_id)));
            CHECK(strcmp(again.v[i].root.name, res.v[i].vol.name) == 0);
            CHECK(again.v[i].vol.files == res.v[i].vol.files);
            CHECK(again.v[i].bytes == res.v[i].bytes);
            CHECK(strcmp(again.v[i].vol.fs_type, res.v[i].vol.fs_type) == 0);
        }
        disk_free(&again);

        /* One chunk of p2 changed: p2 is walked again (to the same tree), p1 is not. */
        im_chunkmap m2 = map;
        m2.ids = malloc(map.n * sizeof(cr_id));
        REQUIRE(m2.ids);
        memcpy(m2.ids, map.ids, map.n * sizeof(cr_id));
        size_t c = (size_t)((51200 * 512ull + (8ull << 20)) / CR_IMAGE_CHUNK);
        REQUIRE(map.present[c]);
        m2.ids[c].b[0] ^= 1; /* pretend the parent had another chunk there */
        walks = im_fs_walk_count();
        disk_read(&again, disk, &map, &m2, &res);
        CHECK(im_fs_walk_count() == walks + 1);
        CHECK(again.n == 2 && !memcmp(&again.v[0].tree, &res.v[0].tree, sizeof(cr_id)));
        CHECK(again.n == 2 && !memcmp(&again.v[1].tree, &res.v[1].tree, sizeof(cr_id)));
        free(m2.ids);
        disk_free(&again);
    }

    disk_free(&res);
    map_free(&map);
}

/* ------------------------------------------------------------ (b) MBR: NTFS + logical ext4 */

static void mbr_entry(uint8_t *sec, int slot, uint8_t type, uint32_t lba, uint32_t count)
{
    uint8_t *e = sec + 446 + 16 * slot;
    memset(e, 0, 16);
    e[1] = e[2] = e[3] = 0xFE; /* CHS: use LBA */
    e[5] = e[6] = e[7] = 0xFF;
    e[4] = type;
    for (int i = 0; i < 4; i++) {
        e[8 + i] = (uint8_t)(lba >> (8 * i));
        e[12 + i] = (uint8_t)(count >> (8 * i));
    }
    sec[510] = 0x55;
    sec[511] = 0xAA;
}

static void test_mbr(void)
{
    char disk[PATH_MAX], ntfs[PATH_MAX], ext[PATH_MAX], lsrc[PATH_MAX], f[PATH_MAX];
    const uint32_t ntfs_lba = 2048, ntfs_len = 32 * 2048, ext_lba = ntfs_lba + ntfs_len,
                   ext_len = 12 * 2048, log_lba = ext_lba + 2048, log_len = 8 * 2048;
    uint8_t sec[512];
    im_chunkmap map;
    disk_result res = {0};
    cr_node n = {0};

    join(disk, base, "mbr.img");
    join(ntfs, base, "ntfs.img");
    join(ext, base, "logical.img");
    join(lsrc, base, "logsrc");

    /* NTFS with a resident file (in its MFT record), a small and a large one;
     * free space full of garbage (a quick format does not clear it). */
    {
        uint8_t *g = malloc(1 << 20);
        REQUIRE(g);
        memset(g, 0xA5, 1 << 20);
        int gfd = open(ntfs, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(gfd >= 0);
        for (int i = 0; i < 32; i++)
            REQUIRE(cr_fs_write_all(gfd, g, 1 << 20) == 0);
        close(gfd);
        free(g);
    }
    sh("mkntfs -F -Q -q -L winvol '%s' >/dev/null 2>&1", ntfs);
    REQUIRE(mkdir(lsrc, 0755) == 0);
    write_file(lsrc, "tiny.txt", 60);
    write_file(lsrc, "medium.dat", 5000);
    write_file(lsrc, "large.bin", 6u * 1024 * 1024 + 5);
    write_file(lsrc, "Ünïcode name.txt", 10);
    for (int i = 0; i < 4; i++) {
        const char *names[] = {"tiny.txt", "medium.dat", "large.bin", "Ünïcode name.txt"};
        join(f, lsrc, names[i]);
        sh("ntfscp -q '%s' '%s' '%s'", ntfs, f, names[i]);
    }
    sh("mkfs.ext4 -q -F -b 1024 -d '%s' -E root_owner=0:0 '%s' 8M", lsrc, ext);
    /* grow.bin: 100000 bytes written, then 2 MB allocated past them: its
     * initialised size stays 100000, the clusters after it hold garbage. */
    write_file(base, "grow.bin", 100000);
    join(f, base, "grow.bin");
    sh("ntfscp -q '%s' '%s' grow.bin", ntfs, f);
    sh("ntfsfallocate -l 2000000 -o 100000 '%s' grow.bin >/dev/null 2>&1", ntfs);

    sh("truncate -s 48M '%s'", disk);
    memset(sec, 0, sizeof(sec));
    mbr_entry(sec, 0, 0x07, ntfs_lba, ntfs_len);
    mbr_entry(sec, 1, 0x05, ext_lba, ext_len);
    int fd = open(disk, O_WRONLY);
    REQUIRE(fd >= 0 && cr_fs_pwrite_all(fd, sec, 512, 0) == 0);
    memset(sec, 0, sizeof(sec));
    mbr_entry(sec, 0, 0x83, log_lba - ext_lba, log_len); /* relative to this EBR */
    REQUIRE(cr_fs_pwrite_all(fd, sec, 512, (uint64_t)ext_lba * 512) == 0);
    close(fd);
    sh("dd if='%s' of='%s' bs=512 seek=%u conv=notrunc,sparse status=none", ntfs, disk, ntfs_lba);
    sh("dd if='%s' of='%s' bs=512 seek=%u conv=notrunc,sparse status=none", ext, disk, log_lba);

    map_build(disk, &map);
    warn_reset();
    disk_read(&res, disk, &map, NULL, NULL);
    CHECK(nwarn == 0);
    REQUIRE(res.ptable && strcmp(res.ptable, "dos") == 0);
    CHECK(res.n == 2);
    const im_fsresult *p1 = vol(&res, "p1"), *p5 = vol(&res, "p5");
    REQUIRE(p1 && p5);
    CHECK(p1->vol.start == ntfs_lba * 512ull && p1->vol.length == ntfs_len * 512ull);
    CHECK(p5->vol.start == log_lba * 512ull && p5->vol.length == log_len * 512ull);
    CHECK(p1->vol.fs_type && strcmp(p1->vol.fs_type, "ntfs") == 0);
    CHECK(p5->vol.fs_type && strcmp(p5->vol.fs_type, "ext4") == 0);
    CHECK(p1->vol.label && strcmp(p1->vol.label, "winvol") == 0);
    REQUIRE(p1->has_tree && p5->has_tree);

    const char *names[] = {"tiny.txt", "medium.dat", "large.bin", "Ünïcode name.txt"};
    for (int i = 0; i < 4; i++) {
        check_entry(&p1->tree, lsrc, names[i], 0);
        check_entry(&p5->tree, lsrc, names[i], CHK_MODE | CHK_MTIME);
    }
    CHECK(p1->vol.files == 5);
    CHECK(p1->root.mode == 0755 && p1->root.uid == 0);
    CHECK(!tree_has(&p1->tree, ".") && !tree_has(&p1->tree, "$Volume") &&
          !tree_has(&p1->tree, "$Secure") && !tree_has(&p1->tree, "$UpCase"));
    CHECK(!tree_has(&p1->tree, "$MFT") && !tree_has(&p1->tree, "$LogFile") &&
          !tree_has(&p1->tree, "$Bitmap") && !tree_has(&p1->tree, "$Extend") &&
          !tree_has(&p1->tree, "$OrphanFiles"));

    /* The resident file is stored as a blob of its own; the large one points into chunks. */
    REQUIRE(find(&p1->tree, "tiny.txt", &n) == 0);
    CHECK(n.mode == 0644 && n.uid == 0);
    CHECK(n.ncontent == 1 && n.content[0].blob_off == 0 && n.content[0].len == 60);
    {
        int own = 0;
        free(node_bytes(&n, &own));
        CHECK(own == 1);
    }
    cr_node_clear(&n);
    /* Past the initialised size: zeros, not the garbage on the disk. */
    REQUIRE(find(&p1->tree, "grow.bin", &n) == 0);
    CHECK(n.size == 2100000);
    {
        size_t len;
        uint8_t *want = file_bytes(f, &len), *got = node_bytes(&n, NULL);
        CHECK(len == 100000 && memcmp(got, want, len) == 0);
        CHECK(zero(got + 100000, n.size - 100000));
        CHECK(n.ncontent >= 1 && n.content[n.ncontent - 1].offset + n.content[n.ncontent - 1].len ==
                                     100000);
        free(want);
        free(got);
    }
    cr_node_clear(&n);
    REQUIRE(find(&p1->tree, "large.bin", &n) == 0);
    {
        int own = 0;
        free(node_bytes(&n, &own));
        CHECK(own == 0 && n.ncontent >= 2);
    }
    cr_node_clear(&n);

    disk_free(&res);
    map_free(&map);
}

/* ------------------------------------------------------------ (c) whole disk, damage */

static void test_whole_disk(void)
{
    char src[PATH_MAX], img[PATH_MAX], bad[PATH_MAX], p[PATH_MAX];
    im_chunkmap map;
    disk_result res = {0};

    join(src, base, "rootsrc");
    join(img, base, "whole.img");
    join(bad, base, "damaged.img");
    REQUIRE(mkdir(src, 0755) == 0);
    mkdir_in(src, "etc");
    mkdir_in(src, "usr");
    mkdir_in(src, "usr/bin");
    write_file(src, "etc/hostname", 9);
    int devs = 0;
    mkdir_in(src, "dev");
    join(p, src, "dev/null");
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        join(p, src, "dev/big");
        REQUIRE(mknod(p, S_IFCHR | 0600, makedev(300, 70000)) == 0); /* the new encoding */
        join(p, src, "dev/sda");
        REQUIRE(mknod(p, S_IFBLK | 0660, makedev(8, 0)) == 0);
        devs = 1;
    } else {
        fprintf(stderr, "  mknod not permitted here (%s): device numbers not checked\n",
                strerror(errno));
    }
    write_file(src, "usr/bin/tool", 20000);
    join(p, src, "bin");
    REQUIRE(symlink("usr/bin", p) == 0);
    sh("mkfs.ext4 -q -F -b 4096 -d '%s' -E root_owner=0:0 '%s' 16M", src, img);

    map_build(img, &map);
    warn_reset();
    disk_read(&res, img, &map, NULL, NULL);
    CHECK(nwarn == 0);
    CHECK(res.ptable == NULL);
    REQUIRE(res.n == 1);
    CHECK(strcmp(res.v[0].vol.name, "fs") == 0 && res.v[0].vol.start == 0 &&
          res.v[0].vol.length == 16ull << 20);
    CHECK(res.v[0].vol.fs_type && strcmp(res.v[0].vol.fs_type, "ext4") == 0);
    CHECK(res.v[0].vol.label == NULL);
    REQUIRE(res.v[0].has_tree);
    CHECK(res.v[0].is_system == 1);
    check_entry(&res.v[0].tree, src, "etc/hostname", CHK_MODE);
    check_entry(&res.v[0].tree, src, "usr/bin/tool", CHK_MODE);
    check_entry(&res.v[0].tree, src, "bin", 0);
    if (devs) {
        const char *dn[] = {"dev/null", "dev/big", "dev/sda"};
        const dev_t want[] = {makedev(1, 3), makedev(300, 70000), makedev(8, 0)};
        for (int i = 0; i < 3; i++) {
            cr_node d = {0};
            REQUIRE(find(&res.v[0].tree, dn[i], &d) == 0);
            CHECK(d.type == (i == 2 ? CR_NODE_BLOCKDEV : CR_NODE_CHARDEV));
            CHECK(d.rdev == (uint64_t)want[i]);
            cr_node_clear(&d);
        }
        check_entry(&res.v[0].tree, src, "dev/sda", CHK_MODE);
    }

    /* Reuse from a parent known only by what a snapshot file records (name,
     * place, type, file count, tree): counts and is_system come from its tree. */
    {
        disk_result parent = {0}, again = {0};
        const im_fsresult *o = &res.v[0];
        parent.n = 1;
        REQUIRE((parent.v = calloc(1, sizeof(im_fsresult))));
        im_fsresult *pv = &parent.v[0];
        pv->vol.name = strdup(o->vol.name);
        pv->vol.fs_type = strdup(o->vol.fs_type);
        pv->vol.start = o->vol.start;
        pv->vol.length = o->vol.length;
        pv->vol.files = o->vol.files;
        pv->has_tree = 1;
        pv->tree = o->tree;
        REQUIRE(cr_node_copy(&pv->root, &o->root) == 0);
        uint64_t walks = im_fs_walk_count();
        disk_read(&again, img, &map, &map, &parent);
        CHECK(im_fs_walk_count() == walks);
        REQUIRE(again.n == 1 && again.v[0].has_tree);
        CHECK(!memcmp(&again.v[0].tree, &o->tree, sizeof(cr_id)));
        CHECK(again.v[0].is_system == 1);
        CHECK(again.v[0].dirs == o->dirs && again.v[0].others == o->others &&
              again.v[0].bytes == o->bytes && again.v[0].vol.files == o->vol.files);
        CHECK(o->dirs >= 4 && o->others >= 1);
        disk_free(&again);
        disk_free(&parent);
    }
    disk_free(&res);
    map_free(&map);

    /* Superblock zeroed: a volume with an error, no tree, no failure. */
    sh("cp '%s' '%s' && dd if=/dev/zero of='%s' bs=1024 seek=1 count=1 conv=notrunc status=none",
       img, bad, bad);
    map_build(bad, &map);
    warn_reset();
    disk_read(&res, bad, &map, NULL, NULL);
    REQUIRE(res.n == 1);
    CHECK(!res.v[0].has_tree && res.v[0].vol.error && !res.v[0].vol.fs_type);
    fprintf(stderr, "  damaged: %s\n", res.v[0].vol.error ? res.v[0].vol.error : "(none)");
    disk_free(&res);
    map_free(&map);

    /* Root inode zeroed: libtsk opens the filesystem but not its root folder: an error, warned. */
    {
        char cmd[2 * PATH_MAX], out[256];
        sh("cp '%s' '%s'", img, bad);
        snprintf(cmd, sizeof(cmd), "debugfs -R 'imap <2>' '%s' 2>/dev/null | grep located", bad);
        sh_out(out, sizeof(out), cmd);
        const char *at = strstr(out, "block ");
        REQUIRE(at);
        long blk = strtol(at + 6, NULL, 10);
        const char *o = strstr(out, "offset ");
        REQUIRE(o && blk > 0);
        long ioff = strtol(o + 7, NULL, 16);
        uint8_t z[256] = {0};
        int fd = open(bad, O_WRONLY);
        REQUIRE(fd >= 0 && cr_fs_pwrite_all(fd, z, sizeof(z), (uint64_t)blk * 4096 + ioff) == 0);
        close(fd);
    }
    map_build(bad, &map);
    warn_reset();
    disk_read(&res, bad, &map, NULL, NULL);
    REQUIRE(res.n == 1);
    CHECK(!res.v[0].has_tree && res.v[0].vol.error && strstr(res.v[0].vol.error, "damaged"));
    CHECK(nwarn == 1);
    fprintf(stderr, "  damaged root: %s\n", res.v[0].vol.error ? res.v[0].vol.error : "(none)");
    disk_free(&res);
    map_free(&map);

    /* XFS-looking bytes (the installed Sleuth Kit does not read XFS): named, not warned. */
    sh("cp '%s' '%s' && printf 'XFSB' | dd of='%s' conv=notrunc status=none", img, bad, bad);
    sh("dd if=/dev/zero of='%s' bs=1024 seek=1 count=1 conv=notrunc status=none", bad);
    map_build(bad, &map);
    warn_reset();
    disk_read(&res, bad, &map, NULL, NULL);
    REQUIRE(res.n == 1);
    CHECK(!res.v[0].has_tree && res.v[0].vol.error && strstr(res.v[0].vol.error, "XFS"));
    CHECK(nwarn == 0);
    disk_free(&res);
    map_free(&map);

    /* An all-zero disk: nothing recognised, nothing warned. */
    sh("rm -f '%s' && truncate -s 8M '%s'", bad, bad);
    map_build(bad, &map);
    warn_reset();
    disk_read(&res, bad, &map, NULL, NULL);
    REQUIRE(res.n == 1);
    CHECK(!res.v[0].has_tree && res.v[0].vol.error &&
          strstr(res.v[0].vol.error, "no filesystem recognised"));
    CHECK(nwarn == 0);
    disk_free(&res);
    map_free(&map);
}

/* ext4 inline data (small files kept in the inode): stored as blobs of their own. */
static void test_inline(void)
{
    char src[PATH_MAX], img[PATH_MAX];
    im_chunkmap map;
    disk_result res = {0};
    cr_node n = {0};

    join(src, base, "inlsrc");
    join(img, base, "inline.img");
    REQUIRE(mkdir(src, 0755) == 0);
    write_file(src, "tiny", 40);
    write_file(src, "small", 100);
    write_file(src, "regular", 20000);
    mkdir_in(src, "dir");
    write_file(src, "dir/x", 3);
    sh("mkfs.ext4 -q -F -O inline_data -d '%s' '%s' 8M", src, img);

    map_build(img, &map);
    warn_reset();
    disk_read(&res, img, &map, NULL, NULL);
    CHECK(nwarn == 0);
    REQUIRE(res.n == 1 && res.v[0].has_tree);
    const char *names[] = {"tiny", "small", "regular", "dir", "dir/x"};
    for (int i = 0; i < 5; i++)
        check_entry(&res.v[0].tree, src, names[i], CHK_MODE | CHK_MTIME);
    REQUIRE(find(&res.v[0].tree, "small", &n) == 0);
    {
        int own = 0;
        free(node_bytes(&n, &own));
        CHECK(own == 1 && n.ncontent == 1 && n.content[0].blob_off == 0);
    }
    cr_node_clear(&n);
    disk_free(&res);
    map_free(&map);
}

/* A file whose extent points far outside the filesystem: clamped (zeros) or left out, warned. */
static void test_hostile_extent(void)
{
    char src[PATH_MAX], img[PATH_MAX];
    im_chunkmap map;
    disk_result res = {0};
    cr_node n = {0};

    join(src, base, "hostsrc");
    join(img, base, "hostile.img");
    REQUIRE(mkdir(src, 0755) == 0);
    write_file(src, "victim", 40000);
    write_file(src, "fine", 3000);
    write_file(src, "other", 2000);
    sh("mkfs.ext4 -q -F -b 4096 -O ^metadata_csum -d '%s' '%s' 8M", src, img);
    /* Two entries named "fine" in one folder: link "finf", then rename it in
     * the folder's block (no checksums on this filesystem). */
    sh("debugfs -w -R 'link /other /finf' '%s' >/dev/null 2>&1", img);
    {
        char cmd[2 * PATH_MAX], out[128];
        snprintf(cmd, sizeof(cmd), "debugfs -R 'bmap / 0' '%s' 2>/dev/null", img);
        sh_out(out, sizeof(out), cmd);
        long blk = strtol(out, NULL, 10);
        REQUIRE(blk > 0);
        uint8_t b[4096];
        int fd = open(img, O_RDWR);
        REQUIRE(fd >= 0 && cr_fs_pread_all(fd, b, sizeof(b), (uint64_t)blk * 4096) == 0);
        uint8_t *at = memmem(b, sizeof(b), "finf", 4);
        REQUIRE(at);
        at[3] = 'e';
        REQUIRE(cr_fs_pwrite_all(fd, b, sizeof(b), (uint64_t)blk * 4096) == 0);
        close(fd);
    }
    /* i_block[5] = ee_start_lo of the first extent. */
    sh("debugfs -w -R 'sif /victim block[5] 0x7ffffff0' '%s' >/dev/null 2>&1", img);
    /* A folder that holds itself: a loop the walk must not follow. */
    sh("debugfs -w -R 'mkdir /loop' '%s' >/dev/null 2>&1", img);
    sh("debugfs -w -R 'link /loop /loop/again' '%s' >/dev/null 2>&1", img);

    map_build(img, &map);
    warn_reset();
    disk_read(&res, img, &map, NULL, NULL);
    REQUIRE(res.n == 1 && res.v[0].has_tree);
    CHECK(nwarn == 3 && strstr(warn_all, "victim") && strstr(warn_all, "loop/again") &&
          strstr(warn_all, "fs/fine: a second entry"));
    CHECK(tree_has(&res.v[0].tree, "loop") && !tree_has(&res.v[0].tree, "loop/again"));
    CHECK(res.v[0].errors == 3);
    CHECK(res.v[0].vol.files == 3); /* victim, fine, other: the second "fine" is not counted */
    {
        /* The parent left entries out: walked again, so that the warnings repeat. */
        disk_result again = {0};
        uint64_t walks = im_fs_walk_count();
        warn_reset();
        disk_read(&again, img, &map, &map, &res);
        CHECK(im_fs_walk_count() == walks + 1 && nwarn == 3);
        disk_free(&again);
    }
    if (find(&res.v[0].tree, "victim", &n) == 0) {
        CHECK(n.ncontent == 0); /* nothing of another place is taken for its bytes */
        cr_node_clear(&n);
    }
    check_entry(&res.v[0].tree, src, "fine", CHK_MODE); /* the first of the two, in folder order */
    check_entry(&res.v[0].tree, src, "other", CHK_MODE);
    disk_free(&res);
    map_free(&map);
}

int main(void)
{
    fx_scratch_new(base, "fs");
    repo = fx_repo_new(vdir, "fsvault");
    REQUIRE(cr_packer_new(&packer, repo) == 0);

    test_gpt();
    test_mbr();
    test_whole_disk();
    test_inline();
    test_hostile_extent();

    cr_packer_free(packer);
    fx_repo_free(repo, vdir);
    fx_scratch_done(base);
    return test_summary("test_fs");
}
