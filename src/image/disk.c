/*
 * im_disk: a disk image read as the guest sees it.
 *
 * The format is recognised from the content, never from the name. Raw files
 * and block devices are read directly with pread (SEEK_DATA tells where the
 * data of a sparse file is). The other formats are read through the libyal
 * libraries (libqcow, libvmdk, libvhdi), but only after our own checks of
 * their headers: these images come from machines hit by ransomware and may be
 * truncated or damaged, and a technician must get a message that says which
 * file, which format and what is wrong, not a crash inside a library.
 *
 * Not thread-safe: one im_disk is used by one thread at a time (the image
 * backup reads each disk from one thread).
 */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct im_disk {
    char *path;
    cr_image_format format;
    uint64_t size;
    int fd;       /* raw: the image itself */
    int is_block; /* raw: a block device (no SEEK_DATA) */
};

/* Bytes looked at to recognise a format. */
#define IM_PROBE 512

static int read_probe(int fd, uint64_t off, uint8_t *buf, size_t len, size_t *got)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = pread(fd, buf + n, len - n, (off_t)(off + n));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

static cr_image_format detect(const uint8_t *head, size_t nhead, const uint8_t *tail, size_t ntail)
{
    if (nhead >= 4 && memcmp(head, "QFI\xfb", 4) == 0)
        return CR_IMAGE_QCOW2;
    if (nhead >= 4 && memcmp(head, "KDMV", 4) == 0)
        return CR_IMAGE_VMDK;
    if (nhead >= 21 && memcmp(head, "# Disk DescriptorFile", 21) == 0)
        return CR_IMAGE_VMDK;
    if (nhead >= 8 && memcmp(head, "vhdxfile", 8) == 0)
        return CR_IMAGE_VHDX;
    if (ntail >= 512 && memcmp(tail + ntail - 512, "conectix", 8) == 0)
        return CR_IMAGE_VHD;
    /* A VHD whose footer is 511 bytes (old Virtual PC). */
    if (ntail >= 511 && memcmp(tail + ntail - 511, "conectix", 8) == 0)
        return CR_IMAGE_VHD;
    return CR_IMAGE_RAW;
}

int im_open(im_disk **out, const char *path, cr_image_format expect)
{
    int err = 0;
    im_disk *d = NULL;
    struct stat st;
    uint8_t head[IM_PROBE], tail[IM_PROBE];
    size_t nhead = 0, ntail = 0;

    *out = NULL;
    if (!(d = cr_calloc(1, sizeof(*d))))
        return CR_ERROR;
    d->fd = -1;
    if (!(d->path = cr_strdup(path))) {
        err = CR_ERROR;
        goto done;
    }
    d->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (d->fd < 0) {
        err = cr_error_errno("cannot open disk image %s", path);
        goto done;
    }
    if (fstat(d->fd, &st) < 0) {
        err = cr_error_errno("cannot read the status of disk image %s", path);
        goto done;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = 0;
        if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0) {
            err = cr_error_errno("cannot read the size of block device %s", path);
            goto done;
        }
        d->is_block = 1;
        d->size = bytes;
    } else if (S_ISREG(st.st_mode)) {
        d->size = (uint64_t)st.st_size;
    } else {
        cr_error_set("%s is neither a disk image file nor a block device", path);
        err = CR_EINPUT;
        goto done;
    }
    if (read_probe(d->fd, 0, head, sizeof(head), &nhead) < 0) {
        err = cr_error_errno("cannot read disk image %s", path);
        goto done;
    }
    if (d->size >= IM_PROBE) {
        if (read_probe(d->fd, d->size - IM_PROBE, tail, IM_PROBE, &ntail) < 0) {
            err = cr_error_errno("cannot read the end of disk image %s", path);
            goto done;
        }
    }
    d->format = d->is_block ? CR_IMAGE_RAW : detect(head, nhead, tail, ntail);
    if (expect != CR_IMAGE_AUTO && expect != d->format &&
        !(expect == CR_IMAGE_VMDK_FLAT && d->format == CR_IMAGE_VMDK)) {
        cr_error_set("%s: expected a %s image, but its content is %s", path,
                     cr_image_format_name(expect), cr_image_format_name(d->format));
        err = CR_EINPUT;
        goto done;
    }
    if (d->format != CR_IMAGE_RAW) {
        cr_error_set("%s: %s images are not supported yet", path, cr_image_format_name(d->format));
        err = CR_EINPUT;
        goto done;
    }
    *out = d;
    d = NULL;
done:
    im_close(d);
    return err;
}

void im_close(im_disk *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d);
}

cr_image_format im_format(const im_disk *d)
{
    return d->format;
}

uint64_t im_size(const im_disk *d)
{
    return d->size;
}

const char *im_path(const im_disk *d)
{
    return d->path;
}

static int check_range(const im_disk *d, uint64_t off, size_t len)
{
    if (off > d->size || len > d->size - off) {
        cr_error_set("%s: read of %zu bytes at offset %llu lies beyond the end of the disk (%llu bytes)",
                     d->path, len, (unsigned long long)off, (unsigned long long)d->size);
        return CR_EINPUT;
    }
    return 0;
}

static int raw_read(im_disk *d, uint64_t off, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = pread(d->fd, buf, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("%s: read failed at offset %llu", d->path, (unsigned long long)off);
        }
        if (n == 0) {
            cr_error_set("%s: the image ends at offset %llu, before its size of %llu bytes (was it "
                         "truncated while being read?)",
                         d->path, (unsigned long long)off, (unsigned long long)d->size);
            return CR_ECORRUPT;
        }
        buf += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int im_read(im_disk *d, uint64_t off, void *buf, size_t len)
{
    int err;
    if ((err = check_range(d, off, len)) < 0)
        return err;
    if (len == 0)
        return 0;
    return raw_read(d, off, buf, len);
}

int im_next_data(im_disk *d, uint64_t off, uint64_t *out)
{
    *out = off;
    if (off >= d->size) {
        *out = d->size;
        return 0;
    }
    if (d->format == CR_IMAGE_RAW && !d->is_block) {
        off_t r = lseek(d->fd, (off_t)off, SEEK_DATA);
        if (r < 0) {
            if (errno == ENXIO) { /* no data after off */
                *out = d->size;
                return 0;
            }
            /* Filesystems without SEEK_DATA: every range may hold data. */
            if (errno == EINVAL || errno == EOPNOTSUPP)
                return 0;
            return cr_error_errno("%s: cannot look for data after offset %llu", d->path,
                                  (unsigned long long)off);
        }
        *out = (uint64_t)r < d->size ? (uint64_t)r : d->size;
    }
    return 0;
}
