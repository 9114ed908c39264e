/*
 * Fuzz target: disk image headers and tables (qcow2, VMDK, VHD, VHDX, and
 * the libraries behind them). The input is written to a file in a private
 * folder, opened with format detection, and read at its start, middle and
 * end. Whatever the bytes, im_open and im_read must return an error or data,
 * never crash or hang.
 *
 * Real images keep their tables far apart (a VHDX's region tables are at
 * 192 KiB, its metadata at 2 MiB), so an input may also be a sparse file in
 * short: "CRSPARSE" then records {u64 offset, u32 length, bytes} (little
 * endian; offsets below 64 MiB); the file ends at the furthest record.
 */
#include "image/image.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/cr-fuzz-image-XXXXXX";
static char path[PATH_MAX];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/disk.img", dir);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[65536];
    if (!path[0])
        setup();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    int sparse = size >= 8 && memcmp(data, "CRSPARSE", 8) == 0;
    if (!sparse) {
        if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
            abort();
    } else {
        uint64_t end = 0;
        for (size_t p = 8; p + 12 <= size;) {
            uint64_t off = 0;
            uint32_t len = 0;
            for (int i = 7; i >= 0; i--)
                off = off << 8 | data[p + (size_t)i];
            for (int i = 3; i >= 0; i--)
                len = len << 8 | data[p + 8 + (size_t)i];
            p += 12;
            if (len > size - p)
                len = (uint32_t)(size - p);
            off %= 64u << 20;
            if (len && pwrite(fd, data + p, len, (off_t)off) != (ssize_t)len)
                abort();
            if (off + len > end)
                end = off + len;
            p += len;
        }
        if (ftruncate(fd, (off_t)end) != 0)
            abort();
    }
    close(fd);

    im_disk *d = NULL;
    if (im_open(&d, path, CR_IMAGE_AUTO) != 0)
        return 0;
    uint64_t vs = im_size(d);
    size_t n = vs < sizeof(buf) ? (size_t)vs : sizeof(buf);
    uint64_t at[3] = {0, vs / 2, vs - n};
    for (int i = 0; i < 3; i++) {
        if (im_read(d, at[i], buf, n) == 0 && im_format(d) == CR_IMAGE_RAW && at[i] == 0 &&
            !sparse && memcmp(buf, data, n) != 0)
            abort(); /* a raw image reads as itself */
        uint64_t next;
        if (im_next_data(d, at[i], &next) != 0 || next < at[i] || next > vs)
            abort();
    }
    if (strcmp(im_path(d), path) != 0)
        abort();
    im_close(d);
    return 0;
}
