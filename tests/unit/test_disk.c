/*
 * im_disk: real images made by qemu-img from a raw file written by the test,
 * read back and compared byte for byte with the raw original; damaged images
 * must be refused with a message, never crash.
 */
#include "test.h"
#include "fixture.h"

#include "image/image.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/wait.h>

static char base[PATH_MAX];

#define MIB (1024u * 1024u)
#define RAW_SIZE (8u * MIB)

/* The raw original: data at a few places, holes (zeros) elsewhere. */
static uint8_t *raw_data;

static const struct {
    uint64_t off;
    size_t len;
} regions[] = {
    {0, 4096},             /* the first sector (MBR) */
    {MIB, 64 * 1024},      /* one cluster */
    {3 * MIB - 100, 300},  /* straddles a 1 MiB boundary (qcow2 L2 / VHD block) */
    {5 * MIB + 7, 12345},  /* odd offset and length */
    {RAW_SIZE - 4096, 4096}, /* the last sector */
};

static void run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    REQUIRE(rc == 0);
}

static void make_raw(const char *path)
{
    raw_data = calloc(1, RAW_SIZE);
    REQUIRE(raw_data);
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        fill_random(raw_data + regions[i].off, regions[i].len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, RAW_SIZE) == 0);
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        REQUIRE(pwrite(fd, raw_data + regions[i].off, regions[i].len, (off_t)regions[i].off) ==
                (ssize_t)regions[i].len);
    close(fd);
}

/* Read the whole disk in odd-sized pieces and at many offsets; compare with the original. */
static void check_same_as_raw(const char *path, cr_image_format want)
{
    im_disk *d = NULL;
    int rc = im_open(&d, path, CR_IMAGE_AUTO);
    if (rc != 0)
        fprintf(stderr, "im_open %s: %s\n", path, cr_error_last());
    REQUIRE(rc == 0);
    CHECK(im_format(d) == want);
    CHECK(im_size(d) == RAW_SIZE);
    CHECK(strcmp(im_path(d), path) == 0);
    uint8_t *buf = malloc(RAW_SIZE);
    REQUIRE(buf);
    /* Sequential in pieces of 1 MiB + 3 bytes (never aligned). */
    size_t piece = MIB + 3;
    for (uint64_t off = 0; off < RAW_SIZE; off += piece) {
        size_t n = RAW_SIZE - off < piece ? (size_t)(RAW_SIZE - off) : piece;
        CHECK_OK(im_read(d, off, buf + off, n));
    }
    CHECK(memcmp(buf, raw_data, RAW_SIZE) == 0);
    /* Scattered small reads. */
    for (uint64_t off = 0; off + 777 <= RAW_SIZE; off += 65537 * 3) {
        uint8_t small[777];
        CHECK_OK(im_read(d, off, small, sizeof(small)));
        CHECK(memcmp(small, raw_data + off, sizeof(small)) == 0);
    }
    /* The last byte, a zero-length read, and past the end. */
    uint8_t last;
    CHECK_OK(im_read(d, RAW_SIZE - 1, &last, 1));
    CHECK(last == raw_data[RAW_SIZE - 1]);
    CHECK_OK(im_read(d, RAW_SIZE, buf, 0));
    CHECK(im_read(d, RAW_SIZE - 1, buf, 2) == CR_EINPUT);
    /* im_next_data never skips data: [off, next) reads as zeros, from anywhere. */
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
        uint64_t next = 0;
        CHECK_OK(im_next_data(d, regions[i].off, &next));
        CHECK(next == regions[i].off);
    }
    for (uint64_t off = 0; off < RAW_SIZE; off += 65536 + 4096) {
        uint64_t next = 0;
        CHECK_OK(im_next_data(d, off, &next));
        CHECK(next >= off && next <= RAW_SIZE);
        int zeros = 1;
        for (uint64_t k = off; k < next && zeros; k++)
            zeros = raw_data[k] == 0;
        if (!zeros)
            fprintf(stderr, "%s: im_next_data(%llu) = %llu skips data\n", path,
                    (unsigned long long)off, (unsigned long long)next);
        CHECK(zeros);
    }
    uint64_t end = 0;
    CHECK_OK(im_next_data(d, RAW_SIZE, &end));
    CHECK(end == RAW_SIZE);
    free(buf);
    im_close(d);
}

static void test_raw(void)
{
    char raw[PATH_MAX];
    join(raw, base, "disk.raw");
    check_same_as_raw(raw, CR_IMAGE_RAW);

    /* SEEK_DATA: from the middle of the hole after the first region, the next data is further on. */
    im_disk *d = NULL;
    CHECK_OK(im_open(&d, raw, CR_IMAGE_RAW));
    uint64_t next = 0;
    CHECK_OK(im_next_data(d, 2 * MIB, &next));
    CHECK(next >= 2 * MIB && next <= 3 * MIB - 100);
    im_close(d);

    /* A format the caller insists on but the content does not match. */
    CHECK(im_open(&d, raw, CR_IMAGE_QCOW2) == CR_EINPUT);
    CHECK(d == NULL);
    CHECK(strstr(cr_error_last(), "disk.raw") != NULL);

    /* Missing file. */
    char missing[PATH_MAX];
    join(missing, base, "nope.img");
    CHECK(im_open(&d, missing, CR_IMAGE_AUTO) == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "nope.img") != NULL);

    /* A folder is not a disk. */
    CHECK(im_open(&d, base, CR_IMAGE_AUTO) == CR_EINPUT);

    /* The file shrinks after open: the read fails with CR_ECORRUPT naming the offset. */
    char shrink[PATH_MAX];
    join(shrink, base, "shrink.raw");
    pathf(missing, "cp '%s' '%s'", raw, shrink);
    run(missing);
    CHECK_OK(im_open(&d, shrink, CR_IMAGE_AUTO));
    REQUIRE(truncate(shrink, 4 * MIB) == 0);
    uint8_t buf[4096];
    CHECK(im_read(d, 6 * MIB, buf, sizeof(buf)) == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "shrink.raw") != NULL);
    CHECK(strstr(cr_error_last(), "6291456") != NULL);
    im_close(d);
    im_close(NULL);
}


/* Run a shell command built printf-style (paths are our own scratch paths). */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    REQUIRE(n > 0 && (size_t)n < sizeof(cmd));
    run(cmd);
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, bytes, len, (off_t)off) == (ssize_t)len);
    close(fd);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* im_open fails with `code` and a message holding `needle` (and the image's name). */
static void expect_open_fails(const char *path, int code, const char *needle)
{
    im_disk *d = (im_disk *)1;
    int rc = im_open(&d, path, CR_IMAGE_AUTO);
    if (rc != code || !strstr(cr_error_last(), needle))
        fprintf(stderr, "%s: got %d '%s', wanted %d with '%s'\n", path, rc, cr_error_last(), code, needle);
    CHECK(rc == code);
    CHECK(d == NULL);
    CHECK(strstr(cr_error_last(), needle) != NULL);
    CHECK(strstr(cr_error_last(), strrchr(path, '/') + 1) != NULL);
}

/* The image opens, but reading all of it fails with CR_ECORRUPT naming it and an offset. */
static void expect_read_fails(const char *path)
{
    im_disk *d = NULL;
    int rc = im_open(&d, path, CR_IMAGE_AUTO);
    if (rc != 0) { /* refusing at open is fine too, if it says why */
        CHECK(rc == CR_EINPUT);
        CHECK(strstr(cr_error_last(), "truncated") != NULL);
        return;
    }
    uint8_t *buf = malloc(im_size(d));
    REQUIRE(buf);
    rc = im_read(d, 0, buf, im_size(d));
    if (rc != CR_ECORRUPT)
        fprintf(stderr, "%s: read gave %d '%s'\n", path, rc, cr_error_last());
    CHECK(rc == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), strrchr(path, '/') + 1) != NULL);
    CHECK(strstr(cr_error_last(), "offset") != NULL);
    free(buf);
    im_close(d);
}

static void test_formats(void)
{
    static const struct {
        const char *name;
        const char *args;
        cr_image_format want;
    } conv[] = {
        {"d.qcow2", "-O qcow2", CR_IMAGE_QCOW2},
        {"d-v2.qcow2", "-O qcow2 -o compat=0.10", CR_IMAGE_QCOW2},
        {"d-small.qcow2", "-O qcow2 -o cluster_size=4096", CR_IMAGE_QCOW2},
        {"d-comp.qcow2", "-c -O qcow2", CR_IMAGE_QCOW2},
        {"d-v1.qcow", "-O qcow", CR_IMAGE_QCOW2},
        {"d.vmdk", "-O vmdk", CR_IMAGE_VMDK},
        {"d-stream.vmdk", "-O vmdk -o subformat=streamOptimized", CR_IMAGE_VMDK},
        {"d-flat.vmdk", "-O vmdk -o subformat=monolithicFlat", CR_IMAGE_VMDK_FLAT},
        {"d-2g.vmdk", "-O vmdk -o subformat=twoGbMaxExtentSparse", CR_IMAGE_VMDK},
        {"d-2gflat.vmdk", "-O vmdk -o subformat=twoGbMaxExtentFlat", CR_IMAGE_VMDK_FLAT},
        {"d.vhdx", "-O vhdx", CR_IMAGE_VHDX},
        {"d-small.vhdx", "-O vhdx -o block_size=1048576", CR_IMAGE_VHDX},
        {"d.vhd", "-O vpc -o force_size=on", CR_IMAGE_VHD},
        {"d-fixed.vhd", "-O vpc -o subformat=fixed,force_size=on", CR_IMAGE_VHD},
    };
    char raw[PATH_MAX], img[PATH_MAX];
    join(raw, base, "disk.raw");
    for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++) {
        join(img, base, conv[i].name);
        sh("qemu-img convert -q -f raw %s '%s' '%s'", conv[i].args, raw, img);
        check_same_as_raw(img, conv[i].want);
    }

    /* qcow2 and raw files tell where the data is: the hole after 1 MiB + 64 KiB is skipped. */
    im_disk *d = NULL;
    join(img, base, "d.qcow2");
    CHECK_OK(im_open(&d, img, CR_IMAGE_AUTO));
    uint64_t next = 0;
    CHECK_OK(im_next_data(d, 2 * MIB, &next));
    CHECK(next > 2 * MIB && next <= 3 * MIB - 100);
    CHECK_OK(im_next_data(d, 5 * MIB + 12345 + 65536, &next));
    CHECK(next > 6 * MIB && next <= RAW_SIZE - 4096);
    im_close(d);
    /* VHDX from its block table (1 MiB blocks: the one at 6 MiB is empty). */
    join(img, base, "d-small.vhdx");
    CHECK_OK(im_open(&d, img, CR_IMAGE_AUTO));
    CHECK_OK(im_next_data(d, 6 * MIB, &next));
    CHECK(next == 7 * MIB);
    im_close(d);

    /* The format the caller insists on is checked against the content. */
    join(img, base, "d.vhdx");
    CHECK(im_open(&d, img, CR_IMAGE_VHD) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "vhdx") != NULL);
    CHECK_OK(im_open(&d, img, CR_IMAGE_VHDX));
    im_close(d);
    join(img, base, "d-flat.vmdk");
    CHECK_OK(im_open(&d, img, CR_IMAGE_VMDK)); /* flat or sparse: both are "a VMDK" */
    im_close(d);

    /* A VHD made the usual way is rounded up to a disk geometry: the tail reads as zeros. */
    join(img, base, "d-chs.vhd");
    sh("qemu-img convert -q -f raw -O vpc '%s' '%s'", raw, img);
    CHECK_OK(im_open(&d, img, CR_IMAGE_AUTO));
    CHECK(im_size(d) >= RAW_SIZE);
    if (im_size(d) > RAW_SIZE) {
        uint8_t tail[512], zero[512] = {0};
        size_t n = im_size(d) - RAW_SIZE < sizeof(tail) ? (size_t)(im_size(d) - RAW_SIZE) : sizeof(tail);
        CHECK_OK(im_read(d, RAW_SIZE, tail, n));
        CHECK(memcmp(tail, zero, n) == 0);
    }
    im_close(d);
}

/* A monolithic sparse VMDK copied under another name reads its own data, not the original's. */
static void test_vmdk_renamed(void)
{
    char raw[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    join(raw, base, "disk.raw");
    join(a, base, "orig.vmdk");
    join(b, base, "copy.vmdk");
    sh("qemu-img convert -q -f raw -O vmdk '%s' '%s' && cp '%s' '%s'", raw, a, a, b);
    /* The original now holds other data: a 0x5a pattern at 1 MiB. */
    sh("qemu-io -f vmdk -c 'write -q -P 0x5a 1M 64k' '%s' >/dev/null", a);
    check_same_as_raw(b, CR_IMAGE_VMDK);
}

/* What we read equals what qemu-img reads, in pieces of several sizes and alignments. */
static void same_as_qemu(const char *path)
{
    char ref[PATH_MAX];
    pathf(ref, "%s.ref", path);
    sh("qemu-img convert -q -O raw '%s' '%s'", path, ref);
    int fd = open(ref, O_RDONLY);
    REQUIRE(fd >= 0);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    size_t n = (size_t)st.st_size;
    uint8_t *want = malloc(n + 1), *got = malloc(n + 1);
    REQUIRE(want && got);
    REQUIRE(read(fd, want, n) == (ssize_t)n);
    close(fd);
    unlink(ref);
    im_disk *d = NULL;
    CHECK_OK(im_open(&d, path, CR_IMAGE_AUTO));
    if (d) {
        CHECK(im_size(d) == n);
        static const size_t pieces[] = {512, 65537, MIB + 3, 4 * MIB, 8 * MIB};
        static const size_t starts[] = {0, 100, 65530};
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
                memset(got, 0x77, n);
                int ok = 1;
                for (size_t off = starts[k]; off < n; off += pieces[i]) {
                    size_t len = n - off < pieces[i] ? n - off : pieces[i];
                    ok &= im_read(d, off, got + off, len) == 0;
                }
                CHECK(ok);
                if (memcmp(got + starts[k], want + starts[k], n - starts[k]) != 0) {
                    fprintf(stderr, "%s: differs from qemu-img read in pieces of %zu from %zu\n", path,
                            pieces[i], starts[k]);
                    CHECK(0);
                }
            }
        }
        im_close(d);
    }
    free(want);
    free(got);
}

static void test_backing(void)
{
    char raw[PATH_MAX], base_img[PATH_MAX], ov[PATH_MAX], moved[PATH_MAX];
    join(raw, base, "disk.raw");
    join(base_img, base, "base.qcow2");
    join(ov, base, "overlay.qcow2");
    sh("qemu-img convert -q -f raw -O qcow2 '%s' '%s'", raw, base_img);
    /* The backing file is named relative to the overlay's folder. */
    sh("cd '%s' && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2", base);
    sh("qemu-io -f qcow2 -c 'write -q -P 0xab 2M 64k' '%s' >/dev/null", ov);

    im_disk *d = NULL;
    CHECK_OK(im_open(&d, ov, CR_IMAGE_AUTO));
    if (d) {
        uint8_t *buf = malloc(RAW_SIZE);
        REQUIRE(buf);
        CHECK_OK(im_read(d, 0, buf, RAW_SIZE));
        /* Written in the overlay. */
        int all_ab = 1;
        for (size_t i = 2 * MIB; i < 2 * MIB + 65536; i++)
            all_ab &= buf[i] == 0xab;
        CHECK(all_ab);
        /* Elsewhere the base shows through (data and holes). */
        CHECK(memcmp(buf, raw_data, 2 * MIB) == 0);
        CHECK(memcmp(buf + 2 * MIB + 65536, raw_data + 2 * MIB + 65536, RAW_SIZE - 2 * MIB - 65536) == 0);
        free(buf);
        im_close(d);
    }

    same_as_qemu(ov);
    /* Data in the overlay or the base is found; the hole between is skipped. */
    CHECK_OK(im_open(&d, ov, CR_IMAGE_AUTO));
    if (d) {
        uint64_t next = 0;
        CHECK_OK(im_next_data(d, MIB + 65536, &next));
        CHECK(next == 2 * MIB);
        CHECK_OK(im_next_data(d, 2 * MIB + 65536, &next));
        CHECK(next > 2 * MIB + 65536 && next <= 3 * MIB - 100);
        im_close(d);
    }

    /* A chain of three: overlay2 -> overlay -> base. */
    char ov2[PATH_MAX];
    join(ov2, base, "overlay2.qcow2");
    sh("cd '%s' && qemu-img create -q -f qcow2 -b overlay.qcow2 -F qcow2 overlay2.qcow2", base);
    sh("qemu-io -f qcow2 -c 'write -q -P 0xcd 0 512' '%s' >/dev/null", ov2);
    CHECK_OK(im_open(&d, ov2, CR_IMAGE_AUTO));
    if (d) {
        uint8_t b1[4];
        CHECK_OK(im_read(d, 2 * MIB, b1, 4));
        CHECK(b1[0] == 0xab && b1[3] == 0xab);
        CHECK_OK(im_read(d, 510, b1, 4));
        CHECK(b1[0] == 0xcd && b1[1] == 0xcd && b1[2] == raw_data[512] && b1[3] == raw_data[513]);
        im_close(d);
    }
    same_as_qemu(ov2);

    /* Cluster sizes that differ along the chain (4 KiB base, 64 KiB overlay, 2 MiB on top). */
    sh("cd '%s' && qemu-img convert -q -f raw -O qcow2 -o cluster_size=4096 disk.raw b4k.qcow2 && "
       "qemu-img create -q -f qcow2 -b b4k.qcow2 -F qcow2 o64k.qcow2 && "
       "qemu-img create -q -f qcow2 -o cluster_size=2M -b o64k.qcow2 -F qcow2 o2m.qcow2 && "
       "qemu-io -f qcow2 -c 'write -q -P 0x11 1000k 200k' o64k.qcow2 >/dev/null && "
       "qemu-io -f qcow2 -c 'write -q -P 0x22 5000k 1000k' o2m.qcow2 >/dev/null",
       base);
    join(ov2, base, "o2m.qcow2");
    same_as_qemu(ov2);

    /* The backing file is gone: CR_ENOTFOUND naming it. */
    join(moved, base, "base.qcow2.moved");
    REQUIRE(rename(base_img, moved) == 0);
    expect_open_fails(ov, CR_ENOTFOUND, "base.qcow2");
    REQUIRE(rename(moved, base_img) == 0);

    /* A backing file of another format (raw) is refused with advice, not read wrongly. */
    char ovr[PATH_MAX];
    join(ovr, base, "over-raw.qcow2");
    sh("cd '%s' && qemu-img create -q -f qcow2 -b disk.raw -F raw over-raw.qcow2", base);
    expect_open_fails(ovr, CR_EINPUT, "qemu-img convert");

    /* VMDK with a parent disk. */
    char vb[PATH_MAX], vo[PATH_MAX];
    join(vb, base, "vbase.vmdk");
    join(vo, base, "vover.vmdk");
    sh("qemu-img convert -q -f raw -O vmdk '%s' '%s'", raw, vb);
    sh("cd '%s' && qemu-img create -q -f vmdk -b vbase.vmdk -F vmdk vover.vmdk", base);
    sh("qemu-io -f vmdk -c 'write -q -P 0xab 2M 64k' '%s' >/dev/null", vo);
    CHECK_OK(im_open(&d, vo, CR_IMAGE_AUTO));
    if (d) {
        uint8_t b1[8];
        CHECK_OK(im_read(d, 2 * MIB - 4, b1, 8));
        CHECK(memcmp(b1, raw_data + 2 * MIB - 4, 4) == 0 && b1[4] == 0xab && b1[7] == 0xab);
        CHECK_OK(im_read(d, 5 * MIB + 7, b1, 8));
        CHECK(memcmp(b1, raw_data + 5 * MIB + 7, 8) == 0);
        im_close(d);
    }
    same_as_qemu(vo);
    REQUIRE(unlink(vb) == 0);
    expect_open_fails(vo, CR_ENOTFOUND, "vbase.vmdk");
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void vhd_checksum(uint8_t *p, size_t n, size_t at)
{
    uint32_t sum = 0;
    memset(p + at, 0, 4);
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    put_be32(p + at, ~sum);
}

/*
 * A differencing VHD built by hand (qemu-img cannot make one) over a dynamic
 * VHD made by qemu-img: its one block holds the first 4 KiB of disk offset
 * 2 MiB (0xee); every other sector comes from the parent.
 */
static void test_vhd_differencing(void)
{
    char parent[PATH_MAX], child[PATH_MAX], raw[PATH_MAX];
    join(raw, base, "disk.raw");
    join(parent, base, "parent.vhd");
    join(child, base, "child.vhd");
    sh("qemu-img convert -q -f raw -O vpc -o force_size=on '%s' '%s'", raw, parent);
    uint8_t pfoot[512];
    int fd = open(parent, O_RDONLY);
    REQUIRE(fd >= 0);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    REQUIRE(pread(fd, pfoot, 512, st.st_size - 512) == 512);
    close(fd);

    const uint32_t block = 2 * MIB, nblocks = RAW_SIZE / (2 * MIB);
    const uint64_t bat = 1536, loc = 2048, data = 2560, end = data + 512 + block;
    uint8_t foot[512], dyn[1024], batb[512], locb[512];
    memcpy(foot, pfoot, 512);
    put_be32(foot + 60, 4); /* differencing */
    put_be64(foot + 16, 512);
    foot[68] ^= 0x5a; /* its own unique id */
    vhd_checksum(foot, 512, 64);

    memset(dyn, 0, sizeof(dyn));
    memcpy(dyn, "cxsparse", 8);
    put_be64(dyn + 8, UINT64_MAX);
    put_be64(dyn + 16, bat);
    put_be32(dyn + 24, 0x00010000);
    put_be32(dyn + 28, nblocks);
    put_be32(dyn + 32, block);
    memcpy(dyn + 40, pfoot + 68, 16); /* the parent's unique id */
    memcpy(dyn + 56, pfoot + 24, 4);  /* and time stamp */
    static const char pname[] = "parent.vhd";
    for (size_t i = 0; i < sizeof(pname) - 1; i++) /* UTF-16 big endian */
        dyn[64 + 2 * i + 1] = (uint8_t)pname[i];
    static const char rel[] = ".\\parent.vhd"; /* the relative locator, UTF-16 little endian */
    memset(locb, 0, sizeof(locb));
    for (size_t i = 0; i < sizeof(rel) - 1; i++)
        locb[2 * i] = (uint8_t)rel[i];
    memcpy(dyn + 576, "W2ru", 4);
    put_be32(dyn + 580, 512);
    put_be32(dyn + 584, (uint32_t)(2 * (sizeof(rel) - 1)));
    put_be64(dyn + 592, loc);
    vhd_checksum(dyn, 1024, 36);

    memset(batb, 0xff, sizeof(batb));
    put_be32(batb + 4, (uint32_t)(data / 512)); /* block 1: disk 2..4 MiB */

    fd = open(child, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, foot, 512, 0) == 512);
    REQUIRE(pwrite(fd, dyn, 1024, 512) == 1024);
    REQUIRE(pwrite(fd, batb, 512, (off_t)bat) == 512);
    REQUIRE(pwrite(fd, locb, 512, (off_t)loc) == 512);
    uint8_t bitmap[512] = {0xff}; /* sectors 0-7 of the block are here */
    REQUIRE(pwrite(fd, bitmap, 512, (off_t)data) == 512);
    uint8_t ee[4096];
    memset(ee, 0xee, sizeof(ee));
    REQUIRE(pwrite(fd, ee, sizeof(ee), (off_t)data + 512) == (ssize_t)sizeof(ee));
    REQUIRE(pwrite(fd, foot, 512, (off_t)end) == 512);
    close(fd);

    uint8_t *want = malloc(RAW_SIZE);
    REQUIRE(want);
    memcpy(want, raw_data, RAW_SIZE);
    memset(want + 2 * MIB, 0xee, 4096);
    im_disk *d = NULL;
    int rc = im_open(&d, child, CR_IMAGE_AUTO);
    if (rc != 0)
        fprintf(stderr, "differencing VHD: %s\n", cr_error_last());
    CHECK(rc == 0);
    if (d) {
        CHECK(im_format(d) == CR_IMAGE_VHD);
        CHECK(im_size(d) == RAW_SIZE);
        uint8_t *got = malloc(RAW_SIZE);
        REQUIRE(got);
        CHECK_OK(im_read(d, 0, got, RAW_SIZE));
        CHECK(memcmp(got, want, RAW_SIZE) == 0);
        /* Across the boundary of the child's sectors and the parent's, in odd pieces. */
        memset(got, 0, RAW_SIZE);
        for (uint64_t off = 2 * MIB - 1000; off < 2 * MIB + 9000; off += 777)
            CHECK_OK(im_read(d, off, got + off, 777));
        CHECK(memcmp(got + 2 * MIB - 1000, want + 2 * MIB - 1000, 10000) == 0);
        free(got);
        im_close(d);
    }
    /* The parent is gone: not found, naming it. */
    char moved[PATH_MAX];
    pathf(moved, "%s.moved", parent);
    REQUIRE(rename(parent, moved) == 0);
    expect_open_fails(child, CR_ENOTFOUND, "parent.vhd");
    REQUIRE(rename(moved, parent) == 0);
    free(want);
}

static void test_damaged(void)
{
    char raw[PATH_MAX], p[PATH_MAX], src[PATH_MAX];
    uint8_t b8[8];
    join(raw, base, "disk.raw");

    /* qcow2 truncated in the middle: the data clusters at the end are gone. */
    join(src, base, "d.qcow2");
    join(p, base, "trunc.qcow2");
    sh("cp '%s' '%s' && truncate -s -32768 '%s'", src, p, p);
    expect_read_fails(p);

    /* qcow2 L1 table offset pointing past the end. */
    join(p, base, "l1.qcow2");
    sh("cp '%s' '%s'", src, p);
    put_be64(b8, 1ull << 40);
    patch(p, 40, b8, 8);
    expect_open_fails(p, CR_EINPUT, "L1 table at offset 1099511627776 lies beyond the end of the file");

    /* qcow2 with an impossible cluster size, and a size beyond 64 TiB. */
    join(p, base, "cluster.qcow2");
    sh("cp '%s' '%s'", src, p);
    patch(p, 20, "\0\0\0\x1e", 4);
    expect_open_fails(p, CR_EINPUT, "cluster size");
    join(p, base, "huge.qcow2");
    sh("cp '%s' '%s'", src, p);
    put_be64(b8, 1ull << 50);
    patch(p, 24, b8, 8);
    expect_open_fails(p, CR_EINPUT, "64 TiB");

    /* qcow2 backing file name outside the header cluster. */
    join(p, base, "bname.qcow2");
    sh("cp '%s' '%s'", src, p);
    put_be64(b8, 1ull << 20);
    patch(p, 8, b8, 8);
    patch(p, 16, "\0\0\0\x10", 4);
    expect_open_fails(p, CR_EINPUT, "backing file name");

    /* qcow2 with an unknown version. */
    join(p, base, "v9.qcow2");
    sh("cp '%s' '%s'", src, p);
    patch(p, 4, "\0\0\0\x09", 4);
    expect_open_fails(p, CR_EINPUT, "version 9");

    /* Encrypted qcow2 (LUKS). qemu-img times its key derivation and, on a busy
     * machine, sometimes fails to ("Unable to get accurate CPU usage"): retry,
     * and at worst mark a copy of a plain image as LUKS-encrypted. */
    join(p, base, "enc.qcow2");
    char cmd[2 * PATH_MAX];
    int made = 0;
    for (int i = 0; i < 5 && !made; i++) {
        snprintf(cmd, sizeof(cmd),
                 "qemu-img create -q --object secret,id=sec0,data=hospital -f qcow2 "
                 "-o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=200 '%s' 8M "
                 "2>/dev/null",
                 p);
        made = system(cmd) == 0;
    }
    if (!made) {
        sh("cp '%s' '%s'", src, p);
        patch(p, 32, "\0\0\0\x02", 4);
    }
    expect_open_fails(p, CR_EINPUT, "encrypted image: not supported");
    join(p, base, "aes.qcow2"); /* the old AES method: QEMU no longer makes these */
    sh("cp '%s' '%s'", src, p);
    patch(p, 32, "\0\0\0\x01", 4);
    expect_open_fails(p, CR_EINPUT, "encrypted image: not supported");

    /* VHDX with a bad region table signature. */
    join(src, base, "d.vhdx");
    join(p, base, "regi.vhdx");
    sh("cp '%s' '%s'", src, p);
    patch(p, 192 * 1024, "xxxx", 4);
    expect_open_fails(p, CR_EINPUT, "region table at offset 196608 has no 'regi' signature");
    /* ... or a region table entry past the end, with a valid checksum: the checksum is ours to check. */
    join(p, base, "regck.vhdx");
    sh("cp '%s' '%s'", src, p);
    patch(p, 256 * 1024 + 20, "\x01", 1);
    expect_open_fails(p, CR_EINPUT, "wrong checksum");
    /* VHDX truncated. */
    join(p, base, "trunc.vhdx");
    sh("cp '%s' '%s' && truncate -s 3000000 '%s'", src, p, p);
    expect_open_fails(p, CR_EINPUT, "truncated");
    /* Both headers damaged. */
    join(p, base, "head.vhdx");
    sh("cp '%s' '%s'", src, p);
    patch(p, 64 * 1024 + 100, "\xff", 1);
    patch(p, 128 * 1024 + 100, "\xff", 1);
    expect_open_fails(p, CR_EINPUT, "no valid header");

    /* VHD with a wrong footer checksum. */
    join(src, base, "d.vhd");
    join(p, base, "sum.vhd");
    sh("cp '%s' '%s'", src, p);
    struct stat st;
    REQUIRE(stat(p, &st) == 0);
    patch(p, (uint64_t)st.st_size - 512 + 64, "\0\0\0\0", 4);
    expect_open_fails(p, CR_EINPUT, "footer checksum is wrong");
    /* Dynamic VHD cut in the middle: the footer at the end is gone, the copy at 0 says VHD. */
    join(p, base, "trunc.vhd");
    sh("cp '%s' '%s' && truncate -s 1000000 '%s'", src, p, p);
    expect_open_fails(p, CR_EINPUT, "truncated");
    /* Fixed VHD whose data was cut: the footer copied at the new end. */
    join(src, base, "d-fixed.vhd");
    join(p, base, "trunc-fixed.vhd");
    sh("head -c 4194304 '%s' > '%s' && tail -c 512 '%s' >> '%s'", src, p, src, p);
    expect_open_fails(p, CR_EINPUT, "truncated");

    /* VMDK with a lying capacity. */
    join(src, base, "d.vmdk");
    join(p, base, "cap.vmdk");
    sh("cp '%s' '%s'", src, p);
    patch(p, 12, "\0\0\x10\0\0\0\0\0", 8); /* 1 Mi sectors instead of 16 Ki */
    expect_open_fails(p, CR_EINPUT, "capacity");
    /* VMDK grain size not a power of two. */
    join(p, base, "grain.vmdk");
    sh("cp '%s' '%s'", src, p);
    patch(p, 20, "\x03\0\0\0\0\0\0\0", 8);
    expect_open_fails(p, CR_EINPUT, "grain size");
    /* VMDK grain directory past the end. */
    join(p, base, "gd.vmdk");
    sh("cp '%s' '%s'", src, p);
    patch(p, 56, "\0\0\0\x10\0\0\0\0", 8);
    expect_open_fails(p, CR_EINPUT, "grain directory");
    /* Sparse VMDK cut in the middle. */
    join(p, base, "trunc.vmdk");
    sh("cp '%s' '%s' && truncate -s -32768 '%s'", src, p, p);
    expect_read_fails(p);
    join(src, base, "d-stream.vmdk");
    join(p, base, "trunc-stream.vmdk");
    sh("cp '%s' '%s' && truncate -s 100000 '%s'", src, p, p);
    expect_read_fails(p);

    /* Descriptor whose flat extent is missing, or shorter than it says. */
    char dir[PATH_MAX], desc[PATH_MAX];
    join(dir, base, "flat");
    REQUIRE(mkdir(dir, 0755) == 0);
    join(desc, dir, "f.vmdk");
    sh("qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat '%s' '%s'", raw, desc);
    join(p, dir, "f-flat.vmdk");
    sh("mv '%s' '%s.gone'", p, p);
    expect_open_fails(desc, CR_ENOTFOUND, "f-flat.vmdk");
    sh("mv '%s.gone' '%s' && truncate -s 1000000 '%s'", p, p, p);
    expect_open_fails(desc, CR_EINPUT, "truncated");
    /* Descriptor with binary junk. */
    join(p, dir, "junk.vmdk");
    static const char junk[] = "# Disk DescriptorFile\nRW 16 FLAT \"x\x01y\"\n";
    write_at(dir, "junk.vmdk", junk, strlen(junk));
    expect_open_fails(p, CR_EINPUT, "binary");
    /* Descriptor with an extent type we do not read. */
    static const char delta[] = "# Disk DescriptorFile\nRW 16 VMFSSPARSE \"d-delta.vmdk\"\n";
    write_at(dir, "delta.vmdk", delta, strlen(delta));
    join(p, dir, "delta.vmdk");
    expect_open_fails(p, CR_EINPUT, "VMFSSPARSE");

    /* A descriptor naming host files: they are looked for in the descriptor's folder only. */
    static const char esc[] = "# Disk DescriptorFile\nRW 8 FLAT \"/etc/passwd\" 0\n";
    write_at(dir, "escape.vmdk", esc, strlen(esc));
    join(p, dir, "escape.vmdk");
    char where[PATH_MAX];
    join(where, dir, "passwd");
    expect_open_fails(p, CR_ENOTFOUND, where);
    static const char esc2[] = "# Disk DescriptorFile\nRW 8 FLAT \"../../../etc/hostname\" 0\n";
    write_at(dir, "escape2.vmdk", esc2, strlen(esc2));
    join(p, dir, "escape2.vmdk");
    join(where, dir, "hostname");
    expect_open_fails(p, CR_ENOTFOUND, where);

    /* A FIFO given by mistake: refused at once, not waited on. */
    join(p, base, "fifo.img");
    REQUIRE(mkfifo(p, 0600) == 0);
    expect_open_fails(p, CR_EINPUT, "neither a disk image file nor a block device");

    /* Nothing here ever crashed; an empty file is an empty raw disk. */
    join(p, base, "empty.img");
    write_at(base, "empty.img", "", 0);
    im_disk *d = NULL;
    CHECK_OK(im_open(&d, p, CR_IMAGE_AUTO));
    CHECK(d && im_size(d) == 0 && im_format(d) == CR_IMAGE_RAW);
    im_close(d);
}

/* The allocation map of a sparse VMDK: holes are skipped (not "maybe everywhere"), data is
 * found, a zeroed-grain entry of ESXi reads as zeros; the same through a parent. */
static void test_vmdk_map(void)
{
    char p[PATH_MAX], child[PATH_MAX];
    join(p, base, "map.vmdk");
    join(child, base, "map-child.vmdk");
    sh("qemu-img create -q -f vmdk '%s' 1G && qemu-io -f vmdk -c 'write -q -P 0x5a 600m 64k' "
       "-c 'write -q -P 0x5b 0 512' '%s' >/dev/null",
       p, p);
    im_disk *d = NULL;
    uint64_t next = 0;
    CHECK_OK(im_open(&d, p, CR_IMAGE_AUTO));
    if (d) {
        CHECK_OK(im_next_data(d, 0, &next));
        CHECK(next == 0);
        CHECK_OK(im_next_data(d, 4 * MIB, &next));
        CHECK(next == 600 * MIB);
        CHECK_OK(im_next_data(d, 600 * MIB + 65536, &next));
        CHECK(next == 1024 * MIB);
        uint8_t b[4];
        CHECK_OK(im_read(d, 600 * MIB - 2, b, 4));
        CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0x5a && b[3] == 0x5a);
        CHECK(im_dropped(d) == 0 && im_parent(d) == NULL);
        im_close(d);
    }
    /* A child with data of its own at 300 MiB: the parent's data still found. */
    sh("cd '%s' && qemu-img create -q -f vmdk -b map.vmdk -F vmdk map-child.vmdk && "
       "qemu-io -f vmdk -c 'write -q -P 0x6c 300m 4k' map-child.vmdk >/dev/null",
       base);
    CHECK_OK(im_open(&d, child, CR_IMAGE_AUTO));
    if (d) {
        CHECK(im_parent(d) != NULL && !strcmp(im_path(im_parent(d)), p));
        CHECK_OK(im_next_data(d, 4 * MIB, &next));
        CHECK(next == 300 * MIB);
        CHECK_OK(im_next_data(d, 300 * MIB + 65536, &next));
        CHECK(next == 600 * MIB);
        uint8_t b[2];
        CHECK_OK(im_read(d, 600 * MIB, b, 1));
        CHECK_OK(im_read(d, 300 * MIB, b + 1, 1));
        CHECK(b[0] == 0x5a && b[1] == 0x6c);
        im_close(d);
    }
    /* ESXi's zeroed grains: the header's flag 4 and a grain table entry of 1. The grain
     * of 600 MiB is grain 9600: entry 9600 % 512 = 384 of grain table 18. */
    char z[PATH_MAX];
    join(z, base, "zeroed.vmdk");
    sh("cp '%s' '%s'", p, z);
    int fd = open(z, O_RDWR);
    REQUIRE(fd >= 0);
    uint8_t h[512], e[4];
    REQUIRE(pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h));
    uint32_t flags = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
    flags |= 4;
    uint8_t fl[4] = {(uint8_t)flags, (uint8_t)(flags >> 8), (uint8_t)(flags >> 16), (uint8_t)(flags >> 24)};
    REQUIRE(pwrite(fd, fl, 4, 8) == 4);
    uint64_t gd = 0;
    for (int i = 7; i >= 0; i--)
        gd = gd << 8 | h[56 + i];
    REQUIRE(pread(fd, e, 4, (off_t)(gd * 512 + 18 * 4)) == 4);
    uint64_t gt = (uint64_t)e[0] | (uint64_t)e[1] << 8 | (uint64_t)e[2] << 16 | (uint64_t)e[3] << 24;
    static const uint8_t one[4] = {1, 0, 0, 0};
    REQUIRE(pwrite(fd, one, 4, (off_t)(gt * 512 + 384 * 4)) == 4);
    close(fd);
    CHECK_OK(im_open(&d, z, CR_IMAGE_AUTO));
    if (d) {
        CHECK_OK(im_next_data(d, 4 * MIB, &next));
        CHECK(next == 1024 * MIB);
        uint8_t b[64];
        memset(b, 0xee, sizeof(b));
        CHECK_OK(im_read(d, 600 * MIB, b, sizeof(b)));
        int zeros = 1;
        for (size_t i = 0; i < sizeof(b); i++)
            zeros &= b[i] == 0;
        CHECK(zeros);
        im_close(d);
    }
}

/* A header size smaller than the data the tables map: the rest is counted (im_dropped), the
 * header's size kept; a size of 0 with data is refused. VHD: footer size (both copies, with
 * their checksums); VHDX: the virtual size metadata item. */
static void test_claimed_size(void)
{
    char src[PATH_MAX], p[PATH_MAX];
    im_disk *d = NULL;
    uint8_t foot[512];
    struct stat st;
    for (int zero = 0; zero <= 1; zero++) {
        join(src, base, "d.vhd");
        join(p, base, zero ? "size0.vhd" : "small.vhd");
        sh("cp '%s' '%s'", src, p);
        REQUIRE(stat(p, &st) == 0);
        int fd = open(p, O_RDWR);
        REQUIRE(fd >= 0);
        REQUIRE(pread(fd, foot, 512, st.st_size - 512) == 512);
        put_be64(foot + 40, zero ? 0 : 4 * MIB); /* original size */
        put_be64(foot + 48, zero ? 0 : 4 * MIB); /* current size */
        vhd_checksum(foot, 512, 64);
        REQUIRE(pwrite(fd, foot, 512, st.st_size - 512) == 512);
        REQUIRE(pwrite(fd, foot, 512, 0) == 512);
        close(fd);
        if (zero) {
            expect_open_fails(p, CR_EINPUT, "size of 0 bytes, but its block table maps");
            continue;
        }
        CHECK_OK(im_open(&d, p, CR_IMAGE_AUTO));
        if (d) {
            CHECK(im_size(d) == 4 * MIB);
            CHECK(im_dropped(d) == 4 * MIB); /* blocks 2 and 3 (2 MiB each) hold data */
            im_close(d);
        }
    }
    /* VHDX of 1 MiB blocks: data in blocks 0-3, 5 and 7; a size of 4 MiB leaves 5 and 7 out. */
    join(src, base, "d-small.vhdx");
    join(p, base, "small.vhdx");
    sh("cp '%s' '%s'", src, p);
    int fd = open(p, O_RDWR);
    REQUIRE(fd >= 0);
    static const uint8_t meta_guid[16] = {0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B,
                                          0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E};
    static const uint8_t size_guid[16] = {0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48,
                                          0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8};
    uint8_t rt[4096], mt[4096];
    REQUIRE(pread(fd, rt, sizeof(rt), 192 * 1024) == (ssize_t)sizeof(rt));
    uint64_t meta = 0;
    for (int i = 0; i < 8; i++)
        if (!memcmp(rt + 16 + i * 32, meta_guid, 16))
            for (int k = 7; k >= 0; k--)
                meta = meta << 8 | rt[16 + i * 32 + 16 + k];
    REQUIRE(meta != 0);
    REQUIRE(pread(fd, mt, sizeof(mt), (off_t)meta) == (ssize_t)sizeof(mt));
    uint32_t at = 0;
    for (int i = 0; i < 16; i++)
        if (!memcmp(mt + 32 + i * 32, size_guid, 16))
            at = (uint32_t)mt[32 + i * 32 + 16] | (uint32_t)mt[32 + i * 32 + 17] << 8 |
                 (uint32_t)mt[32 + i * 32 + 18] << 16 | (uint32_t)mt[32 + i * 32 + 19] << 24;
    REQUIRE(at != 0);
    static const uint8_t four_mib[8] = {0, 0, 0x40, 0, 0, 0, 0, 0};
    REQUIRE(pwrite(fd, four_mib, 8, (off_t)(meta + at)) == 8);
    close(fd);
    CHECK_OK(im_open(&d, p, CR_IMAGE_AUTO));
    if (d) {
        CHECK(im_size(d) == 4 * MIB);
        CHECK(im_dropped(d) == 2 * MIB);
        im_close(d);
    }
}

/* Backing files of a qcow2 outside the image's folder, and cr_path_lexical they rely on. */
static void test_backing_confined(void)
{
    static const struct {
        const char *in, *out;
    } lex[] = {{"/", "/"}, {"/a/b/../c", "/a/c"}, {"/a/./b//c/", "/a/b/c"}, {"/../..", "/"},
               {"/a/..", "/"}, {"/a/b/../../../etc", "/etc"}, {"/a/..b/c", "/a/..b/c"}};
    for (size_t i = 0; i < sizeof(lex) / sizeof(lex[0]); i++) {
        char *o = cr_path_lexical(lex[i].in);
        CHECK(o && !strcmp(o, lex[i].out));
        if (o && strcmp(o, lex[i].out))
            fprintf(stderr, "cr_path_lexical(%s) = %s\n", lex[i].in, o);
        free(o);
    }
    CHECK(cr_path_lexical("a/b") == NULL);

    char vm[PATH_MAX], other[PATH_MAX], ov[PATH_MAX];
    join(vm, base, "conf-vm");
    join(other, base, "conf-other");
    REQUIRE(mkdir(vm, 0700) == 0 && mkdir(other, 0700) == 0);
    sh("qemu-img convert -q -f raw -O qcow2 '%s/disk.raw' '%s/base.qcow2'", base, other);
    sh("cd '%s' && qemu-img create -q -f qcow2 -u -b ../conf-other/base.qcow2 -F qcow2 ov.qcow2 8M",
       vm);
    join(ov, vm, "ov.qcow2");
    expect_open_fails(ov, CR_EINPUT, "lies outside the image's folder: refused");
    /* Allowed: read, and the parent is the real path. */
    const char *allow[] = {other};
    im_disk *d = NULL;
    CHECK_OK(im_open_allow(&d, ov, CR_IMAGE_AUTO, allow, 1));
    if (d) {
        char want[PATH_MAX];
        join(want, other, "base.qcow2");
        CHECK(im_parent(d) && !strcmp(im_path(im_parent(d)), want));
        uint8_t b[16];
        CHECK_OK(im_read(d, MIB, b, sizeof(b)));
        CHECK(!memcmp(b, raw_data + MIB, sizeof(b)));
        im_close(d);
    }
}

int main(void)
{
    fx_scratch_new(base, "disk");
    char raw[PATH_MAX];
    join(raw, base, "disk.raw");
    make_raw(raw);
    test_raw();
    test_formats();
    test_vmdk_renamed();
    test_backing();
    test_vhd_differencing();
    test_vmdk_map();
    test_backing_confined();
    test_claimed_size();
    test_damaged();
    free(raw_data);
    fx_scratch_done(base);
    return test_summary("test_disk");
}
