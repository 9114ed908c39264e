/*
 * im_disk: real images made by qemu-img from a raw file written by the test,
 * read back and compared byte for byte with the raw original; damaged images
 * must be refused with a message, never crash.
 */
#include "test.h"
#include "fixture.h"

#include "image/image.h"

#include <errno.h>
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
    /* im_next_data never skips data. */
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
        uint64_t next = 0;
        CHECK_OK(im_next_data(d, regions[i].off, &next));
        CHECK(next <= regions[i].off);
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

int main(void)
{
    fx_scratch_new(base, "disk");
    char raw[PATH_MAX];
    join(raw, base, "disk.raw");
    make_raw(raw);
    test_raw();
    free(raw_data);
    fx_scratch_done(base);
    return test_summary("test_disk");
}
