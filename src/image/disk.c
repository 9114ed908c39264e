/*
 * im_disk: a disk image read as the guest sees it.
 *
 * The format is recognised from the content, never from the name. Raw files
 * and block devices are read directly with pread (SEEK_DATA tells where the
 * data of a sparse file is). The other formats are read through the libyal
 * libraries (libqcow, libvmdk, libvhdi), but only after our own checks of
 * their headers and tables: these images come from machines hit by
 * ransomware and may be truncated or damaged, and a technician must get a
 * message that says which file, which format and what is wrong, never a crash
 * inside a library or silent garbage. The checks are:
 *
 *   qcow2  version 1-3, cluster size 512 B..2 MiB, virtual size <= 64 TiB,
 *          not encrypted, no unknown incompatible feature, L1 table and
 *          refcount table inside the file, every L2 table the L1 table names
 *          inside the file, backing file name inside the header cluster.
 *   VHDX   file identifier, one valid header (CRC-32C) with no pending log,
 *          both region tables ("regi", CRC-32C, entry count), BAT and
 *          metadata regions inside the file, metadata table, virtual size and
 *          block size, BAT long enough, every BAT block inside the file.
 *   VHD    footer cookie and checksum at the end (and at 0 if dynamic),
 *          dynamic header ("cxsparse", checksum) and BAT inside the file,
 *          every block inside the file, a fixed disk's data inside the file.
 *   VMDK   sparse header (magic, version, capacity, grain size a power of
 *          two, grain directories inside the file; the footer of a
 *          streamOptimized image), descriptor (bounded text, extents whose
 *          sizes add up to the header's capacity, extent files present and
 *          long enough).
 *
 * The size a header gives is checked against the data its tables map: data
 * mapped beyond it is counted (im_dropped, a warning of the backup), and a
 * size of 0 with data mapped is refused. A qcow2 backing file is read only
 * from the image's folder or a folder the caller allows (backing_path).
 *
 * Reads are checked too: a range that needs bytes past the end of the file
 * (the image was truncated after the checks, or a data cluster lies beyond
 * the end) is CR_ECORRUPT naming the image and the offset.
 *
 * Where data lies (im_next_data) comes from our own maps: SEEK_DATA for raw
 * files, the L1/L2 tables of qcow2, the grain directories and tables of VMDK
 * (vmdk_run), the block tables of VHD and VHDX.
 *
 * Not thread-safe: one im_disk is used by one thread at a time (the image
 * backup reads each disk from one thread).
 */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libqcow.h>
#include <libvhdi.h>
/* libvmdk's header announces its libbfio functions, whose header Debian ships
 * in another package; we use none of them. */
#include <libvmdk/features.h>
#undef LIBVMDK_HAVE_BFIO
#include <libvmdk.h>

/* Largest virtual disk we accept: 64 TiB (the VHDX maximum; more is a damaged header). */
#define IM_MAX_SIZE (64ull << 40)
/* Backing / parent chains deeper than this are refused (and loops end here). */
#define IM_MAX_DEPTH 16
/* A VMDK descriptor is a few hundred bytes of text. */
#define IM_MAX_DESCRIPTOR (64u * 1024)
/* Extents of one VMDK. */
#define IM_MAX_EXTENTS 1024
/* Bytes looked at to recognise a format. */
#define IM_PROBE 512

typedef struct vmdk_extent {
    char access[12];   /* RW, RDONLY, NOACCESS */
    uint64_t sectors;
    char type[16];     /* FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, ... */
    char *file;        /* as written in the descriptor (NULL for ZERO) */
    uint64_t offset;   /* FLAT: sectors into the file */
} vmdk_extent;

/*
 * VMDK allocation map: where each extent of the disk keeps its grains, so
 * that unallocated ranges are skipped without asking libvmdk (which reads
 * them as zeros, byte by byte: a sparse VMDK claiming 64 TiB took 45 minutes).
 */
enum { VX_ZERO, VX_FLAT, VX_SPARSE };
typedef struct vmdk_ext {
    uint64_t start, sectors; /* the sectors of the disk this extent holds */
    int kind;
    char *path;              /* its file (NULL for VX_ZERO) */
    uint64_t offset;         /* VX_FLAT: first sector in the file */
    uint64_t gd;             /* VX_SPARSE: grain directory (sector in the file) */
    uint64_t grain;          /* sectors per grain */
    uint64_t gtes;           /* entries per grain table */
    uint64_t ngd;            /* entries of the grain directory */
    int zero_grains;         /* header flag 4: an entry 1 means "zeros" (ESXi) */
} vmdk_ext;

/* What a range of a VMDK holds (vmdk_run). */
enum { VR_DATA, VR_ZERO, VR_PARENT };

/* Parts of a file known to hold no data (found with SEEK_DATA), so that
 * grain tables and directories in a hole of a sparse file are not read. */
typedef struct holes {
    int fd;
    uint64_t from, to; /* [from, to) holds no data; from == to: nothing known */
} holes;

typedef struct vmdk_desc {
    char create_type[64];
    char cid[16], parent_cid[16];
    char *parent;      /* parentFileNameHint, or NULL */
    vmdk_extent *ext;
    size_t next;
} vmdk_desc;

struct im_disk {
    char *path;
    char *dir;         /* folder of the image (backing and extent files are relative to it) */
    cr_image_format format;
    uint64_t size;     /* virtual size */
    uint64_t fsize;    /* bytes in the file (or device) */
    int fd;
    int is_block;
    libqcow_file_t *qcow;
    libvmdk_handle_t *vmdk;
    libvhdi_file_t *vhdi;
    im_disk *parent;   /* backing file / parent disk, or NULL */
    uint64_t cluster;  /* qcow: cluster size */
    struct {           /* qcow: our own map, to check each read before libqcow does it */
        unsigned version, cluster_bits, l2_bits;
        uint8_t *l1;   /* big-endian entries */
        uint64_t l1_entries;
        uint8_t *l2;   /* the last L2 table read */
        uint64_t l2_at;
    } q;
    /* Reads through the library never cross a multiple of `split` (0: no limit).
     * libqcow returns wrong data for a read that spans a cluster of the overlay
     * and one of its backing file; differencing VHD/VHDX mix sectors alike. */
    uint64_t split;
    /* VHD fixed (2) and dynamic (3) are read here, not through libvhdi, which
     * reads them at about 10 MiB/s; differencing ones (4) go through libvhdi. */
    unsigned vhd_type;
    uint32_t *vbat;    /* dynamic VHD: sector of each block, 0xFFFFFFFF = none */
    uint64_t vbitmap;  /* dynamic VHD: bytes of the sector bitmap before each block's data */
    /* VHD/VHDX: one bit per block, set if the block may hold data (NULL: unknown). */
    uint8_t *alloc;
    uint64_t block, nblocks;
    char *farm;        /* VMDK: private folder of the descriptor libvmdk reads, or NULL */
    size_t nfarm;      /* VMDK: links extent-1.vmdk... in it */
    /* Where the image file's own data clusters may lie: a read is refused if
     * the library would need bytes past the end (see check_file_end). */
    uint64_t open_fsize;
    /* Bytes of data the image's tables map at or beyond `size` (not readable
     * through the disk: see im_dropped). */
    uint64_t dropped;
    /* Folders a qcow2 backing file may also be read from (borrowed, during im_open only). */
    const char *const *allow;
    size_t nallow;
    /* VMDK allocation map: the extents, and caches of the last grain
     * directory block and grain table read (vmdk_run). */
    vmdk_ext *vx;
    size_t nvx;
    struct {
        size_t ext;       /* extent whose file `h.fd` is (SIZE_MAX: none open) */
        holes h;
        int own_fd;       /* h.fd was opened here (not d->fd) */
        uint8_t *gd;      /* VX_GD_BLOCK entries from gd_first */
        uint64_t gd_first, gd_n;
        int gd_hole;      /* that block lies in a hole: all zeros */
        size_t gd_ext;
        uint8_t *gt;      /* the last grain table read */
        uint64_t gt_at;   /* its sector, 0: none */
        int gt_hole;
        size_t gt_ext;
    } vc;
};

static int open_layer(im_disk **out, const char *path, cr_image_format expect, int depth,
                      const char *const *allow, size_t nallow, int fd, uint64_t devsize);

/* ------------------------------------------------------------ helpers */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* CR_EINPUT with "<image>: <format> <what is wrong>". */
static int bad(const im_disk *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const im_disk *d, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cr_error_set("%s: %s", d->path, msg);
    return CR_EINPUT;
}

/* Read exactly len bytes of the image file at off; past the end is CR_EINPUT (a header check). */
static int file_read(const im_disk *d, uint64_t off, void *buf, size_t len, const char *what)
{
    if (off > d->fsize || len > d->fsize - off)
        return bad(d, "%s %s at offset %llu (%zu bytes) lies beyond the end of the file (%llu bytes): "
                      "the image is truncated or damaged",
                   cr_image_format_name(d->format), what, ull(off), len, ull(d->fsize));
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(d->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("%s: cannot read the %s at offset %llu", d->path, what, ull(off));
        }
        if (n == 0) {
            cr_error_set("%s: the file ends at offset %llu, in the middle of the %s (was it truncated "
                         "while being read?)",
                         d->path, ull(off), what);
            return CR_ECORRUPT;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* The libyal libraries keep their errors in libcerror objects: fold their text into ours. */
typedef int (*lib_sprint_fn)(intptr_t *, char *, size_t);
typedef void (*lib_free_fn)(intptr_t **);

static void lib_text(char *out, size_t n, intptr_t **e, lib_sprint_fn sp, lib_free_fn fr)
{
    char all[8192];
    out[0] = 0;
    all[0] = 0;
    if (e && *e) {
        if (sp(*e, all, sizeof(all)) < 0)
            all[0] = 0;
        fr(e);
    }
    /* The backtrace lists the innermost cause first: that line says what is wrong. */
    all[strcspn(all, "\r\n")] = 0;
    snprintf(out, n, "%s", all[0] ? all : "no details");
}

#define QERR(e) ((intptr_t **)(e)), (lib_sprint_fn)libqcow_error_backtrace_sprint, (lib_free_fn)libqcow_error_free
#define VMERR(e) ((intptr_t **)(e)), (lib_sprint_fn)libvmdk_error_backtrace_sprint, (lib_free_fn)libvmdk_error_free
#define VHERR(e) ((intptr_t **)(e)), (lib_sprint_fn)libvhdi_error_backtrace_sprint, (lib_free_fn)libvhdi_error_free

static int lib_fail(const im_disk *d, int code, intptr_t **e, lib_sprint_fn sp, lib_free_fn fr,
                    const char *what)
{
    char text[512];
    lib_text(text, sizeof(text), e, sp, fr);
    cr_error_set("%s: %s (%s)", d->path, what, text);
    return code;
}

/* A file named by an image (VMDK extent or parent, VHD parent) once confined to its folder:
 * relative names are in the image's folder. */
static char *resolve(const im_disk *d, const char *name)
{
    if (name[0] == '/')
        return cr_strdup(name);
    return cr_sprintf("%s/%s", d->dir, name);
}

/* 1 if [off, off + len) of the file holds no data (a hole of a sparse file),
 * learnt with SEEK_DATA and remembered in h; 0 if it may hold data (or the
 * filesystem cannot tell). Past the end of the file is not a hole: the
 * reader that follows fails, as it must for a truncated image. */
static int in_hole(holes *h, uint64_t off, uint64_t len)
{
    if (len == 0 || off + len < off)
        return 0;
    if (h->from < h->to && off >= h->from && off + len <= h->to)
        return 1;
    off_t r = lseek(h->fd, (off_t)off, SEEK_DATA);
    uint64_t next;
    if (r >= 0) {
        next = (uint64_t)r;
    } else {
        struct stat st;
        if (errno != ENXIO || fstat(h->fd, &st) < 0)
            return 0;
        next = (uint64_t)st.st_size; /* no data after off: a hole up to the end */
    }
    if (next <= off || next - off < len)
        return 0;
    h->from = off;
    h->to = next;
    return 1;
}

char *im_abs_lexical(const char *p)
{
    if (p[0] == '/')
        return cr_path_lexical(p);
    char *cwd = getcwd(NULL, 0), *j, *r;
    if (!cwd) {
        cr_error_errno("cannot find the current folder");
        return NULL;
    }
    j = cr_sprintf("%s/%s", cwd, p);
    free(cwd);
    r = j ? cr_path_lexical(j) : NULL;
    free(j);
    return r;
}

/* The one refusal of a backing file outside the allowed folders: it never
 * depends on whether the named file exists (no oracle of host paths). */
static int backing_refused(const im_disk *d, const char *name)
{
    cr_error_set("%s: its qcow2 backing file \"%s\" lies outside the image's folder%s: refused, "
                 "so that a disk image cannot make cleanroom read other disks or files of this "
                 "machine. If this chain is genuine (a libvirt pool, say), allow the backing "
                 "file's folder with --allow-backing DIR; or copy the backing file next to the "
                 "image and point the overlay to it ('qemu-img rebase -u -b NAME')",
                 d->path, name, d->nallow ? " and the folders allowed" : "");
    return CR_EINPUT;
}

/* 1 if `p` (absolute, lexical or real) lies in one of the folders (lexical or real as `real`). */
static int backing_allowed(const im_disk *d, const char *p, int real)
{
    int ok = 0;
    for (size_t i = 0; i <= d->nallow && !ok; i++) {
        const char *f = i == 0 ? d->dir : d->allow[i - 1];
        char *lex = im_abs_lexical(f), *r = NULL;
        if (real && lex)
            r = realpath(lex, NULL); /* an allowed folder that does not exist allows nothing real */
        const char *cmp = real ? r : lex;
        ok = cmp && cr_path_covers(cmp, p);
        free(lex);
        free(r);
    }
    return ok;
}

/*
 * Where a qcow2 backing file is read from. Its name is text of the image,
 * which whoever controlled the VM's host could write: an absolute path to
 * another VM's disk, or "../hostsecret/victim.qcow2". So the name is resolved
 * as text first, without touching the filesystem, and must lie in the image's
 * own folder (or below it) or in a folder the operator allowed; else it is
 * refused with one message, whether such a file exists or not. Once inside,
 * a missing file is CR_ENOTFOUND, and the file's real path (symlinks
 * followed) must still be inside an allowed folder. *out is that real path.
 */
static int backing_path(char **out, const im_disk *d, const char *name)
{
    int err = 0;
    char *j = NULL, *lex = NULL, *real = NULL;

    *out = NULL;
    if (!(j = name[0] == '/' ? cr_strdup(name) : cr_sprintf("%s/%s", d->dir, name)) ||
        !(lex = im_abs_lexical(j))) {
        err = CR_ERROR;
        goto done;
    }
    if (!backing_allowed(d, lex, 0)) {
        err = backing_refused(d, name);
        goto done;
    }
    if (!(real = realpath(lex, NULL))) {
        struct stat st;
        /* A link that leads nowhere: in the parser sandbox, also one that leads out of the
         * folders it may see. Refused like any name outside, not "missing". */
        if (errno == ENOENT && lstat(lex, &st) == 0 && S_ISLNK(st.st_mode)) {
            err = backing_refused(d, name);
            goto done;
        }
        if (errno == ENOENT || errno == ENOTDIR) {
            cr_error_set("%s: its qcow2 backing file %s is missing (looked for %s): copy it next "
                         "to the image, or flatten the image with 'qemu-img convert -O qcow2'",
                         d->path, name, lex);
            err = CR_ENOTFOUND;
        } else {
            err = cr_error_errno("%s: cannot find its qcow2 backing file %s", d->path, lex);
        }
        goto done;
    }
    if (!backing_allowed(d, real, 1)) {
        err = backing_refused(d, name);
        goto done;
    }
    *out = real;
    real = NULL;
done:
    free(j);
    free(lex);
    free(real);
    return err;
}

/* ------------------------------------------------------------ CRC-32C (VHDX) */

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* benign race: every thread computes the same table */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* CRC-32C of a VHDX structure whose checksum field at `at` counts as zero. */
static uint32_t crc32c_skip(uint8_t *p, size_t n, size_t at)
{
    uint8_t saved[4];
    memcpy(saved, p + at, 4);
    memset(p + at, 0, 4);
    uint32_t c = crc32c(p, n);
    memcpy(p + at, saved, 4);
    return c;
}

/* ------------------------------------------------------------ qcow */

#define QCOW_OFLAG_COPIED (1ull << 63)
#define QCOW_OFLAG_COMPRESSED (1ull << 62)
#define QCOW_L1_MASK 0x00fffffffffffe00ull

static uint64_t qcow_host(const im_disk *d, uint64_t e, int *compressed, int *zero);

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Data clusters of the L2 table at `l2off` whose index is >= `from`. */
static int qcow_count_l2(im_disk *d, holes *h, uint8_t *buf, uint64_t l2off, uint64_t l2_bytes,
                         uint64_t from, uint64_t *count)
{
    int err;
    *count = 0;
    if (l2off > d->fsize || l2_bytes > d->fsize - l2off)
        return 0; /* never read by anyone: maps nothing */
    if (in_hole(h, l2off, l2_bytes))
        return 0;
    if ((err = file_read(d, l2off, buf, l2_bytes, "L2 table")) < 0)
        return err;
    for (uint64_t j = from; j < l2_bytes / 8; j++) {
        int compressed, zero;
        if (qcow_host(d, be64(buf + j * 8), &compressed, &zero) != 0 && !zero)
            (*count)++;
    }
    return 0;
}

/*
 * Data the qcow2's tables map at or beyond the virtual size (d->dropped): L2
 * tables named by L1 entries past the ones the size needs, and clusters of
 * the last needed L2 table past the size. Nobody reads them through the disk
 * (QEMU neither), so they are what a forged or damaged size would hide. Each
 * distinct L2 table is read once (the L1 tail is sorted in place: it is not
 * used after this), and tables lying in a hole of the file are not read.
 */
static int qcow_beyond(im_disk *d, uint8_t *l1, uint64_t l1_entries, uint64_t need_l1, uint64_t size)
{
    int err = 0;
    uint64_t csize = d->cluster;
    uint64_t l2n = 1ull << d->q.l2_bits;
    uint64_t l2_bytes = d->q.version == 1 ? l2n * 8 : csize;
    uint64_t count = 0;
    holes h = {d->fd, 0, 0};
    uint8_t *buf = cr_malloc(l2_bytes);
    if (!buf)
        return CR_ERROR;
    /* The last needed L2 table, past the size. */
    if (need_l1 > 0 && size % (l2n * csize) != 0) {
        uint64_t e = be64(l1 + (need_l1 - 1) * 8);
        uint64_t l2 = d->q.version == 1 ? e : e & QCOW_L1_MASK;
        uint64_t in = size % (l2n * csize);
        if (l2 && (err = qcow_count_l2(d, &h, buf, l2, l2_bytes, in / csize + (in % csize != 0),
                                       &count)) < 0)
            goto done;
        d->dropped += count * csize;
    }
    /* The L1 entries past the needed ones. */
    uint64_t *tail = (uint64_t *)(void *)(l1 + need_l1 * 8), n = 0;
    for (uint64_t i = need_l1; i < l1_entries; i++) {
        uint64_t e = be64(l1 + i * 8);
        uint64_t l2 = d->q.version == 1 ? e : e & QCOW_L1_MASK;
        if (l2)
            memcpy(&tail[n++], &l2, 8); /* l1 is 8-byte aligned (malloc), as is need_l1 * 8 */
    }
    qsort(tail, (size_t)n, 8, u64_cmp);
    for (uint64_t i = 0; i < n;) {
        uint64_t k = i;
        while (k < n && tail[k] == tail[i])
            k++;
        if ((err = qcow_count_l2(d, &h, buf, tail[i], l2_bytes, 0, &count)) < 0)
            goto done;
        d->dropped += count * (k - i) * csize;
        i = k;
    }
done:
    free(buf);
    return err;
}

static int check_qcow(im_disk *d, char **backing)
{
    int err = 0;
    uint8_t h[104];
    uint8_t *cluster = NULL, *l1 = NULL;
    size_t hn = d->fsize < sizeof(h) ? (size_t)d->fsize : sizeof(h);

    *backing = NULL;
    memset(h, 0, sizeof(h));
    if (hn < 48)
        return bad(d, "qcow2 header is cut short: the file holds only %llu bytes", ull(d->fsize));
    if ((err = file_read(d, 0, h, hn, "header")) < 0)
        return err;
    uint32_t version = be32(h + 4);
    uint64_t bf_off = be64(h + 8);
    uint32_t bf_size = be32(h + 16);
    uint32_t cluster_bits, crypt;
    uint64_t size, l1_off, l1_entries, need_l1, header_len;
    uint32_t l2_bits;

    if (version == 1) {
        cluster_bits = h[32];
        l2_bits = h[33];
        size = be64(h + 24);
        crypt = be32(h + 36);
        l1_off = be64(h + 40);
        header_len = 48;
        if (cluster_bits < 9 || cluster_bits > 16 || l2_bits < 6 || l2_bits > 16)
            return bad(d, "qcow version 1 header has an impossible cluster size (2^%u) or L2 size "
                          "(2^%u): the image is damaged",
                       cluster_bits, l2_bits);
        uint64_t per_l1 = 1ull << (cluster_bits + l2_bits);
        l1_entries = need_l1 = size / per_l1 + (size % per_l1 != 0);
    } else if (version == 2 || version == 3) {
        if (hn < 72)
            return bad(d, "qcow2 header is cut short: the file holds only %llu bytes", ull(d->fsize));
        cluster_bits = be32(h + 20);
        size = be64(h + 24);
        crypt = be32(h + 32);
        l1_entries = be32(h + 36);
        l1_off = be64(h + 40);
        header_len = 72;
        if (cluster_bits < 9 || cluster_bits > 21)
            return bad(d, "qcow2 header gives a cluster size of 2^%u bytes (valid: 2^9 to 2^21): the "
                          "image is damaged",
                       cluster_bits);
        l2_bits = cluster_bits - 3;
        uint64_t per_l1 = 1ull << (cluster_bits + l2_bits);
        need_l1 = size / per_l1 + (size % per_l1 != 0);
        uint64_t rc_off = be64(h + 48);
        uint64_t rc_clusters = be32(h + 56);
        if (rc_off > d->fsize || rc_clusters << cluster_bits > d->fsize - rc_off)
            return bad(d, "qcow2 refcount table at offset %llu (%llu clusters) lies beyond the end of "
                          "the file (size %llu): the image is truncated or damaged",
                       ull(rc_off), ull(rc_clusters), ull(d->fsize));
        if (version == 3) {
            if (hn < 104)
                return bad(d, "qcow2 version 3 header is cut short: the file holds only %llu bytes",
                           ull(d->fsize));
            uint64_t incompat = be64(h + 72);
            header_len = be32(h + 100);
            if (header_len < 104 || header_len > (1ull << cluster_bits))
                return bad(d, "qcow2 header length %llu is impossible: the image is damaged",
                           ull(header_len));
            if (incompat & 2)
                return bad(d, "qcow2 image is marked corrupt by QEMU: run 'qemu-img check -r all' on "
                              "a copy, then back up the repaired copy");
            if (incompat & 4)
                return bad(d, "qcow2 image keeps its data in an external data file: not supported "
                              "(convert it with 'qemu-img convert -O qcow2')");
            if (incompat & 8)
                return bad(d, "qcow2 image is compressed with zstd: not supported (convert it with "
                              "'qemu-img convert -O qcow2')");
            if (incompat & 16)
                return bad(d, "qcow2 image uses extended L2 entries (subclusters): not supported "
                              "(convert it with 'qemu-img convert -O qcow2')");
            if (incompat & ~(uint64_t)31)
                return bad(d, "qcow2 image uses unknown incompatible features (0x%llx): not supported",
                           ull(incompat));
            /* bit 0 (dirty): the refcounts may be stale, which does not matter to a reader. */
        }
    } else {
        return bad(d, "qcow header gives version %u (known: 1, 2, 3): the image is damaged or too new",
                   version);
    }
    if (crypt != 0)
        return bad(d, "encrypted image: not supported (qcow encryption method %u; decrypt it with "
                      "'qemu-img convert' first)",
                   crypt);
    if (size > IM_MAX_SIZE)
        return bad(d, "qcow2 virtual size %llu bytes is larger than 64 TiB: the header is damaged",
                   ull(size));
    if (l1_entries < need_l1)
        return bad(d, "qcow2 L1 table has %llu entries, but a disk of %llu bytes needs %llu: the "
                      "header is damaged",
                   ull(l1_entries), ull(size), ull(need_l1));
    if (l1_entries > (32u << 20) / 8)
        return bad(d, "qcow2 L1 table of %llu entries is impossibly large: the header is damaged",
                   ull(l1_entries));
    if (l1_off > d->fsize || l1_entries * 8 > d->fsize - l1_off)
        return bad(d, "qcow2 L1 table at offset %llu lies beyond the end of the file (size %llu): "
                      "the image is truncated or damaged",
                   ull(l1_off), ull(d->fsize));
    if (l1_off % 8 != 0 || (version > 1 && l1_off % (1ull << cluster_bits) != 0))
        return bad(d, "qcow2 L1 table offset %llu is not aligned: the header is damaged", ull(l1_off));

    uint64_t csize = 1ull << cluster_bits;
    /* Backing file name: inside the header cluster. */
    if (bf_off != 0) {
        if (bf_size == 0 || bf_size > 1023 || bf_off < header_len || bf_off > csize ||
            bf_size > csize - bf_off)
            return bad(d, "qcow2 backing file name (offset %llu, %u bytes) does not lie inside the "
                          "header cluster: the header is damaged",
                       ull(bf_off), bf_size);
        char *name = cr_malloc(bf_size + 1u);
        if (!name)
            return CR_ERROR;
        if ((err = file_read(d, bf_off, name, bf_size, "backing file name")) < 0) {
            free(name);
            return err;
        }
        name[bf_size] = 0;
        if (strlen(name) != bf_size) {
            free(name);
            return bad(d, "qcow2 backing file name holds a NUL byte: the header is damaged");
        }
        *backing = name;
    }
    /* Header extensions (v2/v3): the backing file's format. */
    if (version >= 2 && *backing) {
        size_t cl = (size_t)(csize < d->fsize ? csize : d->fsize);
        if (!(cluster = cr_malloc(cl))) {
            err = CR_ERROR;
            goto done;
        }
        if ((err = file_read(d, 0, cluster, cl, "header cluster")) < 0)
            goto done;
        size_t end = bf_off < cl ? (size_t)bf_off : cl;
        for (size_t p = (size_t)header_len; p + 8 <= end;) {
            uint32_t type = be32(cluster + p), len = be32(cluster + p + 4);
            if (type == 0)
                break;
            if (len > end - p - 8)
                break; /* QEMU ignores what it cannot read; so do we */
            if (type == 0xE2792ACAu) { /* backing file format */
                char fmt[32] = "";
                memcpy(fmt, cluster + p + 8, len < sizeof(fmt) - 1 ? len : sizeof(fmt) - 1);
                if (strcmp(fmt, "qcow2") != 0 && strcmp(fmt, "qcow") != 0) {
                    err = bad(d, "qcow2 backing file '%s' is of format '%s': only qcow2 backing "
                                 "files are read (flatten the chain with 'qemu-img convert -O qcow2')",
                              *backing, fmt);
                    goto done;
                }
            }
            p += 8 + ((len + 7u) & ~7u);
        }
    }
    /* Every L2 table the L1 table names must lie inside the file. */
    if (l1_entries > 0) {
        if (!(l1 = cr_malloc(l1_entries * 8))) {
            err = CR_ERROR;
            goto done;
        }
        if ((err = file_read(d, l1_off, l1, l1_entries * 8, "L1 table")) < 0)
            goto done;
        uint64_t l2_size = version == 1 ? 8ull << l2_bits : csize;
        for (uint64_t i = 0; i < need_l1; i++) {
            uint64_t e = be64(l1 + i * 8);
            uint64_t l2 = version == 1 ? e : e & QCOW_L1_MASK;
            if (l2 == 0)
                continue;
            if (l2 > d->fsize || l2_size > d->fsize - l2) {
                err = bad(d, "qcow2 L2 table %llu at offset %llu lies beyond the end of the file "
                             "(size %llu): the image is truncated or damaged",
                          ull(i), ull(l2), ull(d->fsize));
                goto done;
            }
        }
    }
    d->cluster = csize;
    d->q.version = version;
    d->q.cluster_bits = cluster_bits;
    d->q.l2_bits = l2_bits;
    if (l1_entries > 0 && (err = qcow_beyond(d, l1, l1_entries, need_l1, size)) < 0)
        goto done;
    if (size == 0 && d->dropped > 0) {
        err = bad(d, "qcow2 header gives a virtual size of 0 bytes, but its tables map %llu bytes "
                     "of data: the header is damaged or forged, and nothing of this disk would "
                     "be saved. Look at the image with 'qemu-img info' and 'qemu-img map'",
                  ull(d->dropped));
        goto done;
    }
    d->size = size;
    d->q.l1 = l1;
    d->q.l1_entries = need_l1;
    l1 = NULL;
done:
    if (err < 0) {
        free(*backing);
        *backing = NULL;
    }
    free(cluster);
    free(l1);
    return err;
}

static int open_qcow(im_disk *d, int depth)
{
    int err;
    char *backing = NULL, *bpath = NULL;
    libqcow_error_t *e = NULL;
    uint32_t method = 0;
    size64_t media = 0;

    if ((err = check_qcow(d, &backing)) < 0)
        return err;
    if (backing) {
        if ((err = backing_path(&bpath, d, backing)) < 0)
            goto done;
        if ((err = open_layer(&d->parent, bpath, CR_IMAGE_QCOW2, depth + 1, d->allow,
                              d->nallow, -1, 0)) < 0)
            goto done;
    }
    if (libqcow_file_initialize(&d->qcow, &e) != 1) {
        err = lib_fail(d, CR_ERROR, QERR(&e), "cannot set up the qcow2 reader");
        goto done;
    }
    if (libqcow_file_open(d->qcow, d->path, LIBQCOW_OPEN_READ, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, QERR(&e), "qcow2 image cannot be opened: it is damaged");
        goto done;
    }
    if (libqcow_file_get_encryption_method(d->qcow, &method, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, QERR(&e), "qcow2 image: cannot read its encryption method");
        goto done;
    }
    if (method != LIBQCOW_ENCRYPTION_METHOD_NONE) {
        err = bad(d, "encrypted image: not supported (decrypt it with 'qemu-img convert' first)");
        goto done;
    }
    if (d->parent) {
        if (libqcow_file_set_parent_file(d->qcow, d->parent->qcow, &e) != 1) {
            err = lib_fail(d, CR_EINPUT, QERR(&e), "cannot attach the qcow2 backing file");
            goto done;
        }
        d->split = d->cluster;
        if (d->parent->split && d->parent->split < d->split)
            d->split = d->parent->split;
        if (d->parent->cluster < d->split)
            d->split = d->parent->cluster;
    }
    if (libqcow_file_get_media_size(d->qcow, &media, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, QERR(&e), "qcow2 image: cannot read its size");
        goto done;
    }
    if (media != d->size) {
        err = bad(d, "qcow2 size disagrees with its header (%llu, %llu bytes)", ull(media), ull(d->size));
        goto done;
    }
done:
    free(backing);
    free(bpath);
    return err;
}

/* ------------------------------------------------------------ VMDK */

static void vmdk_desc_clear(vmdk_desc *v)
{
    for (size_t i = 0; i < v->next; i++)
        free(v->ext[i].file);
    free(v->ext);
    free(v->parent);
    memset(v, 0, sizeof(*v));
}

/* Copy the value of `key="value"` (quotes optional) into out. */
static void desc_value(char *out, size_t n, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t l = strlen(v);
    while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
        l--;
    if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
        v++;
        l -= 2;
    }
    if (l >= n)
        l = n - 1;
    memcpy(out, v, l);
    out[l] = 0;
}

/* Parse a VMDK descriptor (bounded text; NULs end it, as padding after it is allowed). */
static int parse_descriptor(vmdk_desc *out, const im_disk *d, const char *text, size_t len)
{
    int err = 0;
    char line[1024];
    size_t lineno = 0;
    memset(out, 0, sizeof(*out));
    size_t end = 0;
    while (end < len && text[end])
        end++;
    for (size_t p = 0; p < end;) {
        size_t q = p;
        while (q < end && text[q] != '\n')
            q++;
        size_t l = q - p;
        lineno++;
        if (l >= sizeof(line))
            return bad(d, "VMDK descriptor line %zu is too long: this is not a VMDK descriptor", lineno);
        memcpy(line, text + p, l);
        line[l] = 0;
        p = q + 1;
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = 0;
        for (size_t i = 0; i < l; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x20 && c != '\t') {
                err = bad(d, "VMDK descriptor line %zu holds binary data: the descriptor is damaged",
                          lineno);
                goto done;
            }
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (!strncmp(s, "RW ", 3) || !strncmp(s, "RDONLY ", 7) || !strncmp(s, "NOACCESS ", 9)) {
            vmdk_extent x;
            memset(&x, 0, sizeof(x));
            char *t = strchr(s, ' ');
            memcpy(x.access, s, (size_t)(t - s));
            t++;
            char *endp;
            errno = 0;
            unsigned long long sectors = strtoull(t, &endp, 10);
            if (*t < '0' || *t > '9' || errno || *endp != ' ') {
                err = bad(d, "VMDK descriptor line %zu: extent size is not a number", lineno);
                goto done;
            }
            x.sectors = sectors;
            t = endp + 1;
            size_t tl = strcspn(t, " ");
            if (tl == 0 || tl >= sizeof(x.type)) {
                err = bad(d, "VMDK descriptor line %zu: unknown extent type", lineno);
                goto done;
            }
            memcpy(x.type, t, tl);
            t += tl;
            while (*t == ' ')
                t++;
            if (*t == '"') {
                char *close = strchr(t + 1, '"');
                if (!close || close == t + 1) {
                    err = bad(d, "VMDK descriptor line %zu: extent file name is not quoted", lineno);
                    goto done;
                }
                if (!(x.file = cr_strndup(t + 1, (size_t)(close - t - 1)))) {
                    err = CR_ERROR;
                    goto done;
                }
                t = close + 1;
                while (*t == ' ')
                    t++;
                if (*t) {
                    errno = 0;
                    x.offset = strtoull(t, &endp, 10);
                    if (*t < '0' || *t > '9' || errno || (*endp && *endp != ' ')) {
                        free(x.file);
                        err = bad(d, "VMDK descriptor line %zu: extent offset is not a number", lineno);
                        goto done;
                    }
                }
            } else if (strcmp(x.type, "ZERO") != 0) {
                err = bad(d, "VMDK descriptor line %zu: extent has no file name", lineno);
                goto done;
            }
            if (out->next >= IM_MAX_EXTENTS) {
                free(x.file);
                err = bad(d, "VMDK descriptor has more than %d extents: not supported", IM_MAX_EXTENTS);
                goto done;
            }
            vmdk_extent *n = cr_realloc(out->ext, (out->next + 1) * sizeof(*n));
            if (!n) {
                free(x.file);
                err = CR_ERROR;
                goto done;
            }
            out->ext = n;
            out->ext[out->next++] = x;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            continue; /* unknown lines are ignored, as VMware does */
        *eq = 0;
        char key[64];
        desc_value(key, sizeof(key), s);
        if (!strcmp(key, "createType")) {
            desc_value(out->create_type, sizeof(out->create_type), eq + 1);
        } else if (!strcmp(key, "CID")) {
            desc_value(out->cid, sizeof(out->cid), eq + 1);
        } else if (!strcmp(key, "parentCID")) {
            desc_value(out->parent_cid, sizeof(out->parent_cid), eq + 1);
        } else if (!strcmp(key, "parentFileNameHint")) {
            char v[1024];
            desc_value(v, sizeof(v), eq + 1);
            free(out->parent);
            out->parent = NULL;
            if (v[0] && !(out->parent = cr_strdup(v))) {
                err = CR_ERROR;
                goto done;
            }
        }
    }
    if (out->next == 0)
        err = bad(d, "VMDK descriptor lists no extent: the descriptor is damaged");
done:
    if (err < 0)
        vmdk_desc_clear(out);
    return err;
}

/* Grain directory entries read at a time (16 KiB). */
#define VX_GD_BLOCK 4096u

/*
 * Check a sparse extent's header (KDMV). `f` is the image itself or an extent
 * file. Fills x->gd, grain, gtes, ngd and zero_grains for the allocation map,
 * and adds to *dropped the grains its last grain table maps past the capacity.
 */
static int check_vmdk_sparse(const im_disk *d, const im_disk *f, uint64_t *capacity, char **desc,
                             size_t *desc_len, vmdk_ext *x, uint64_t *dropped)
{
    int err;
    uint8_t h[512];
    if (f->fsize < 512)
        return bad(d, "VMDK sparse header of %s is cut short (%llu bytes)", f->path, ull(f->fsize));
    if ((err = file_read(f, 0, h, sizeof(h), "sparse header")) < 0)
        return err;
    if (memcmp(h, "KDMV", 4) != 0)
        return bad(d, "VMDK extent %s has no sparse header (KDMV): it is damaged", f->path);
    uint32_t version = le32(h + 4);
    uint32_t flags = le32(h + 8);
    uint64_t cap = le64(h + 12);
    uint64_t grain = le64(h + 20);
    uint64_t doff = le64(h + 28), dsize = le64(h + 36);
    uint32_t gtes = le32(h + 44);
    uint64_t rgd = le64(h + 48), gd = le64(h + 56);
    uint16_t compress = le16(h + 77);
    if (version < 1 || version > 3)
        return bad(d, "VMDK sparse header of %s gives version %u (known: 1-3)", f->path, version);
    if (grain < 1 || grain > 2048 || (grain & (grain - 1)))
        return bad(d, "VMDK sparse header of %s gives a grain size of %llu sectors (a power of two "
                      "up to 2048 expected): the header is damaged",
                   f->path, ull(grain));
    if (cap > IM_MAX_SIZE / 512)
        return bad(d, "VMDK sparse header of %s gives a capacity of %llu sectors (more than 64 TiB): "
                      "the header is damaged",
                   f->path, ull(cap));
    if (gtes == 0 || gtes > 65536)
        return bad(d, "VMDK sparse header of %s gives %u entries per grain table: the header is damaged",
                   f->path, gtes);
    if (compress > 1)
        return bad(d, "VMDK extent %s uses an unknown compression (%u): not supported", f->path, compress);
    if (gd == UINT64_MAX) {
        /* streamOptimized: the real header is the footer, 1024 bytes before the end. */
        uint8_t foot[512];
        if (f->fsize < 1536)
            return bad(d, "VMDK stream footer of %s is missing: the image is truncated", f->path);
        if ((err = file_read(f, f->fsize - 1024, foot, sizeof(foot), "stream footer")) < 0)
            return err;
        if (memcmp(foot, "KDMV", 4) != 0)
            return bad(d, "VMDK stream footer of %s is missing (no KDMV 1024 bytes before the end): "
                          "the image is truncated or damaged",
                       f->path);
        gd = le64(foot + 56);
        rgd = le64(foot + 48);
        if (le64(foot + 12) != cap)
            return bad(d, "VMDK stream footer of %s gives a capacity of %llu sectors, its header %llu: "
                          "the image is damaged",
                       f->path, ull(le64(foot + 12)), ull(cap));
    }
    uint64_t per_gt = (uint64_t)gtes * grain;
    uint64_t ngd = cap / per_gt + (cap % per_gt != 0);
    if (gd > f->fsize / 512 || ngd * 4 > f->fsize - gd * 512)
        return bad(d, "VMDK grain directory of %s at sector %llu (%llu entries) lies beyond the end of "
                      "the file (%llu bytes): the image is truncated or damaged (or its capacity is "
                      "wrong)",
                   f->path, ull(gd), ull(ngd), ull(f->fsize));
    if ((flags & 2) && (rgd > f->fsize / 512 || ngd * 4 > f->fsize - rgd * 512))
        return bad(d, "VMDK redundant grain directory of %s at sector %llu lies beyond the end of the "
                      "file (%llu bytes): the image is truncated or damaged",
                   f->path, ull(rgd), ull(f->fsize));
    /* Every grain table the directory names lies inside the file. The
     * directory is read in blocks (a 64 TiB disk of 512-byte grains has a
     * 1 GiB one), and blocks in a hole of a sparse file are not read. */
    holes hl = {f->fd, 0, 0};
    uint64_t last_gt = 0;
    for (uint64_t first = 0; first < ngd; first += VX_GD_BLOCK) {
        uint8_t blk[VX_GD_BLOCK * 4];
        uint64_t n = ngd - first < VX_GD_BLOCK ? ngd - first : VX_GD_BLOCK;
        if (in_hole(&hl, gd * 512 + first * 4, n * 4))
            continue;
        if ((err = file_read(f, gd * 512 + first * 4, blk, (size_t)n * 4, "grain directory")) < 0)
            return err;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t gt = le32(blk + i * 4);
            if (first + i == ngd - 1)
                last_gt = gt;
            if (gt == 0 || gt == 1) /* 1: zeroed grain table (ESXi) */
                continue;
            if (gt > f->fsize / 512 || (uint64_t)gtes * 4 > f->fsize - gt * 512)
                return bad(d, "VMDK grain table %llu of %s at sector %llu lies beyond the end of the "
                              "file (%llu bytes): the image is truncated or damaged",
                           ull(first + i), f->path, ull(gt), ull(f->fsize));
        }
    }
    /* Grains the last grain table maps past the capacity: data the capacity hides. */
    if (cap % per_gt != 0 && last_gt > 1 && !in_hole(&hl, last_gt * 512, (uint64_t)gtes * 4)) {
        uint8_t *gt = cr_malloc((size_t)gtes * 4);
        if (!gt)
            return CR_ERROR;
        if ((err = file_read(f, last_gt * 512, gt, (size_t)gtes * 4, "grain table")) < 0) {
            free(gt);
            return err;
        }
        for (uint64_t j = (cap % per_gt + grain - 1) / grain; j < gtes; j++)
            if (le32(gt + j * 4) > 1)
                *dropped += grain * 512;
        free(gt);
    }
    x->gd = gd;
    x->grain = grain;
    x->gtes = gtes;
    x->ngd = ngd;
    x->zero_grains = (flags & 4) != 0;
    *capacity = cap;
    if (desc) {
        *desc = NULL;
        *desc_len = 0;
        if (doff != 0 && dsize != 0) {
            if (dsize > IM_MAX_DESCRIPTOR / 512)
                return bad(d, "VMDK embedded descriptor of %s is %llu sectors long: the header is "
                              "damaged",
                           f->path, ull(dsize));
            if (doff > f->fsize / 512 || dsize * 512 > f->fsize - doff * 512)
                return bad(d, "VMDK embedded descriptor of %s lies beyond the end of the file: the "
                              "image is truncated or damaged",
                           f->path);
            char *t = cr_malloc(dsize * 512 + 1);
            if (!t)
                return CR_ERROR;
            if ((err = file_read(f, doff * 512, t, dsize * 512, "embedded descriptor")) < 0) {
                free(t);
                return err;
            }
            t[dsize * 512] = 0;
            *desc = t;
            *desc_len = dsize * 512;
        }
    }
    return 0;
}

/* Open a file named by an extent (only for its header checks). */
static int open_plain(im_disk *f, const char *path)
{
    struct stat st;
    memset(f, 0, sizeof(*f));
    f->path = (char *)path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0)
        return -1;
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(f->fd);
        f->fd = -1;
        errno = EINVAL;
        return -1;
    }
    f->fsize = (uint64_t)st.st_size;
    f->format = CR_IMAGE_VMDK;
    return 0;
}

/*
 * Where a file named in a descriptor (extent, parent) is: always inside the
 * descriptor's folder, by its relative name if that stays inside, else by its
 * last component. VMware keeps a disk's files together; a descriptor naming
 * /etc/shadow or ../../root/... must not make the backup read host files.
 */
static char *extent_path(const im_disk *d, const char *name)
{
    int inside = name[0] != '/';
    for (const char *p = name; inside && *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
        if (!strncmp(p, "..", 2) && (p[2] == '/' || p[2] == 0))
            inside = 0;
    return resolve(d, inside ? name : base_name(name));
}

/*
 * Check a VMDK: its sparse header if it has one, its descriptor, and every
 * extent file. On success *paths[i] is the file of extent i (NULL for ZERO
 * extents; the image itself for an embedded descriptor).
 */
static int check_vmdk(im_disk *d, vmdk_desc *v, char ***paths)
{
    int err = 0;
    char *text = NULL;
    size_t tlen = 0;
    uint64_t capacity = 0, total = 0;
    uint8_t magic[4];
    char **pv = NULL;
    vmdk_ext self;

    *paths = NULL;
    memset(&self, 0, sizeof(self));
    if ((err = file_read(d, 0, magic, 4, "header")) < 0)
        return err;
    int embedded = memcmp(magic, "KDMV", 4) == 0;
    if (embedded) {
        if ((err = check_vmdk_sparse(d, d, &capacity, &text, &tlen, &self, &d->dropped)) < 0)
            return err;
        if (!text) {
            /* A sparse extent without descriptor: one extent, the file itself. */
            static const char fake[] = "createType=\"monolithicSparse\"\nRW 0 SPARSE \"self\"\n";
            if ((err = parse_descriptor(v, d, fake, sizeof(fake) - 1)) < 0)
                return err;
            v->ext[0].sectors = capacity;
            total = capacity;
            goto extents;
        }
    } else {
        if (d->fsize > IM_MAX_DESCRIPTOR)
            return bad(d, "VMDK descriptor is %llu bytes long (at most %u expected): this is not a "
                          "VMDK descriptor",
                       ull(d->fsize), IM_MAX_DESCRIPTOR);
        if (!(text = cr_malloc(d->fsize + 1)))
            return CR_ERROR;
        if ((err = file_read(d, 0, text, d->fsize, "descriptor")) < 0)
            goto done;
        text[d->fsize] = 0;
        tlen = d->fsize;
    }
    if ((err = parse_descriptor(v, d, text, tlen)) < 0)
        goto done;
    for (size_t i = 0; i < v->next; i++) {
        if (v->ext[i].sectors > IM_MAX_SIZE / 512 || total + v->ext[i].sectors > IM_MAX_SIZE / 512) {
            err = bad(d, "VMDK descriptor gives a capacity larger than 64 TiB: it is damaged");
            goto done;
        }
        total += v->ext[i].sectors;
    }
    if (embedded && total != capacity) {
        err = bad(d, "VMDK header gives a capacity of %llu sectors, but its descriptor says %llu: the "
                     "header is damaged",
                  ull(capacity), ull(total));
        goto done;
    }
    if (embedded && (v->next != 1 || strcmp(v->ext[0].type, "SPARSE") != 0)) {
        err = bad(d, "VMDK sparse file describes %zu extents of its own: not supported (its "
                     "descriptor is damaged)",
                  v->next);
        goto done;
    }
extents:
    if (!(pv = cr_calloc(v->next + 1, sizeof(*pv))) ||
        !(d->vx = cr_calloc(v->next, sizeof(*d->vx)))) {
        err = CR_ERROR;
        goto done;
    }
    d->nvx = v->next;
    int flat = 0;
    uint64_t start = 0;
    for (size_t i = 0; i < v->next; i++) {
        vmdk_extent *x = &v->ext[i];
        vmdk_ext *m = &d->vx[i];
        m->start = start;
        m->sectors = x->sectors;
        start += x->sectors;
        m->kind = VX_ZERO;
        if (!strcmp(x->type, "ZERO"))
            continue;
        if (strcmp(x->type, "FLAT") && strcmp(x->type, "SPARSE") && strcmp(x->type, "VMFS")) {
            err = bad(d, "VMDK extent %zu is of type %s: not supported (snapshot deltas, raw device "
                         "mappings and SE sparse extents cannot be read: consolidate the VM's "
                         "snapshots, or copy the disk with 'vmkfstools -i' or 'qemu-img convert', "
                         "then back up the copy)",
                      i + 1, x->type);
            goto done;
        }
        if (embedded) {
            *m = self;
            m->start = 0;
            m->sectors = x->sectors;
            m->kind = VX_SPARSE;
            if (!(pv[i] = cr_strdup(d->path)) || !(m->path = cr_strdup(d->path))) {
                err = CR_ERROR;
                goto done;
            }
            continue;
        }
        char *p = extent_path(d, x->file);
        if (!p) {
            err = CR_ERROR;
            goto done;
        }
        pv[i] = p;
        if (!(m->path = cr_strdup(p))) {
            err = CR_ERROR;
            goto done;
        }
        im_disk f;
        if (open_plain(&f, p) < 0) {
            if (errno == ENOENT) {
                cr_error_set("%s: its VMDK extent file %s is missing (looked for %s): copy it next to "
                             "the descriptor",
                             d->path, x->file, p);
                err = CR_ENOTFOUND;
            } else {
                err = cr_error_errno("%s: cannot open its VMDK extent file %s", d->path, p);
            }
            goto done;
        }
        if (!strcmp(x->type, "FLAT") || !strcmp(x->type, "VMFS")) {
            flat = 1;
            m->kind = VX_FLAT;
            m->offset = x->offset;
            if (x->offset > UINT64_MAX / 512 - x->sectors || x->offset + x->sectors > f.fsize / 512)
                err = bad(d, "VMDK extent file %s holds %llu bytes, but the descriptor says it holds "
                             "%llu sectors from sector %llu: the extent is truncated",
                          p, ull(f.fsize), ull(x->sectors), ull(x->offset));
        } else {
            uint64_t cap = 0;
            err = check_vmdk_sparse(d, &f, &cap, NULL, NULL, m, &d->dropped);
            m->kind = VX_SPARSE;
            if (err == 0 && cap != x->sectors)
                err = bad(d, "VMDK extent %s has a capacity of %llu sectors, but the descriptor says "
                             "%llu: the image is damaged",
                          p, ull(cap), ull(x->sectors));
        }
        close(f.fd);
        if (err < 0)
            goto done;
    }
    if (total == 0) {
        err = bad(d, "VMDK descriptor gives a size of 0 sectors: it is damaged");
        goto done;
    }
    if (flat)
        d->format = CR_IMAGE_VMDK_FLAT;
    d->size = total * 512;
    *paths = pv;
    pv = NULL;
done:
    if (pv) {
        for (size_t i = 0; i < v->next; i++)
            free(pv[i]);
        free(pv);
    }
    free(text);
    return err;
}

/* Keep [0-9A-Za-z] of a descriptor value, or use `def` if that leaves nothing. */
static void clean_word(char *out, size_t n, const char *in, const char *def, size_t maxlen)
{
    size_t k = 0;
    for (const char *p = in; *p && k + 1 < n && k < maxlen; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            out[k++] = *p;
    out[k] = 0;
    if (!k)
        snprintf(out, n, "%s", def);
}

static void farm_remove(im_disk *d)
{
    if (!d->farm)
        return;
    char p[PATH_MAX];
    for (size_t i = 1; i <= d->nfarm; i++) {
        snprintf(p, sizeof(p), "%s/extent-%zu.vmdk", d->farm, i);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/disk.vmdk", d->farm);
    unlink(p);
    rmdir(d->farm);
    free(d->farm);
    d->farm = NULL;
}

/*
 * libvmdk finds extent files by the names in the descriptor, and only by
 * their last component (and not reliably when the name has a folder in it);
 * a monolithic sparse file that was renamed would make it open the file of
 * the old name, if one is there. So libvmdk reads a descriptor we write into
 * a private folder, whose extents are links to the files we checked.
 */
static int farm_build(im_disk *d, const vmdk_desc *v, char *const *paths)
{
    int err = 0;
    cr_buf t = {0};
    const char *tmp = getenv("TMPDIR");
    char cid[16], pcid[16], type[64], p[PATH_MAX];

    if (!(d->farm = cr_sprintf("%s/cleanroom-vmdk-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp")))
        return CR_ERROR;
    if (!mkdtemp(d->farm)) {
        err = cr_error_errno("%s: cannot create a private folder %s to read the VMDK", d->path, d->farm);
        free(d->farm);
        d->farm = NULL;
        return err;
    }
    clean_word(cid, sizeof(cid), v->cid, "fffffffe", 8);
    clean_word(pcid, sizeof(pcid), v->parent_cid, "ffffffff", 8);
    clean_word(type, sizeof(type), v->create_type, "monolithicSparse", 40);
    char *head = cr_sprintf("# Disk DescriptorFile\nversion=1\nCID=%s\nparentCID=%s\ncreateType=\"%s\"\n"
                            "\n# Extent description\n",
                            cid, pcid, type);
    if (!head || cr_buf_put(&t, head, strlen(head)) < 0) {
        free(head);
        err = CR_ERROR;
        goto done;
    }
    free(head);
    for (size_t i = 0; i < v->next; i++) {
        const vmdk_extent *x = &v->ext[i];
        char line[160];
        if (!paths[i]) {
            snprintf(line, sizeof(line), "%s %llu ZERO\n", x->access, ull(x->sectors));
        } else {
            char *real = realpath(paths[i], NULL);
            if (!real) {
                err = cr_error_errno("%s: cannot resolve the VMDK extent %s", d->path, paths[i]);
                goto done;
            }
            snprintf(p, sizeof(p), "%s/extent-%zu.vmdk", d->farm, i + 1);
            int rc = symlink(real, p);
            free(real);
            if (rc < 0) {
                err = cr_error_errno("%s: cannot link the VMDK extent in %s", d->path, d->farm);
                goto done;
            }
            d->nfarm = i + 1;
            if (!strcmp(x->type, "SPARSE"))
                snprintf(line, sizeof(line), "%s %llu SPARSE \"extent-%zu.vmdk\"\n", x->access,
                         ull(x->sectors), i + 1);
            else
                snprintf(line, sizeof(line), "%s %llu %s \"extent-%zu.vmdk\" %llu\n", x->access,
                         ull(x->sectors), x->type, i + 1, ull(x->offset));
        }
        if (cr_buf_put(&t, line, strlen(line)) < 0) {
            err = CR_ERROR;
            goto done;
        }
    }
    static const char ddb[] = "\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n";
    if (cr_buf_put(&t, ddb, sizeof(ddb) - 1) < 0) {
        err = CR_ERROR;
        goto done;
    }
    snprintf(p, sizeof(p), "%s/disk.vmdk", d->farm);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = cr_error_errno("%s: cannot write %s", d->path, p);
        goto done;
    }
    err = cr_fs_write_all(fd, t.ptr, t.len);
    close(fd);
done:
    cr_buf_free(&t);
    if (err < 0)
        farm_remove(d);
    return err;
}

static int vmdk_next_data(im_disk *d, uint64_t off, uint64_t *out);

/*
 * libvmdk's side of a VMDK. Its open builds a list entry per grain table (a
 * 64 TiB monolithicSparse: 350 MB and seconds), so a VMDK our map finds
 * empty is never given to it, unless a read needs it (vmdk_read_lib).
 */
static int vmdk_lib_open(im_disk *d)
{
    int err = 0;
    libvmdk_error_t *e = NULL;
    size64_t media = 0;
    char desc[PATH_MAX];

    if (d->vmdk)
        return 0;
    if (d->parent && (err = vmdk_lib_open(d->parent)) < 0)
        return err;
    snprintf(desc, sizeof(desc), "%s/disk.vmdk", d->farm);
    if (libvmdk_handle_initialize(&d->vmdk, &e) != 1)
        return lib_fail(d, CR_ERROR, VMERR(&e), "cannot set up the VMDK reader");
    if (libvmdk_handle_open(d->vmdk, desc, LIBVMDK_OPEN_READ, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VMERR(&e), "VMDK image cannot be opened: it is damaged");
        libvmdk_handle_free(&d->vmdk, NULL);
        return err;
    }
    /* Bounded file descriptors for disks split in many extents. */
    if (libvmdk_handle_set_maximum_number_of_open_handles(d->vmdk, 64, &e) != 1) {
        err = lib_fail(d, CR_ERROR, VMERR(&e), "cannot set up the VMDK reader");
        goto done;
    }
    if (libvmdk_handle_set_extent_data_files_path(d->vmdk, d->farm, strlen(d->farm), &e) != 1) {
        err = lib_fail(d, CR_ERROR, VMERR(&e), "cannot set the folder of the VMDK extents");
        goto done;
    }
    if (libvmdk_handle_open_extent_data_files(d->vmdk, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VMERR(&e), "VMDK extent files cannot be read: they are damaged");
        goto done;
    }
    if (d->parent && libvmdk_handle_set_parent_handle(d->vmdk, d->parent->vmdk, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VMERR(&e), "cannot attach the VMDK parent disk");
        goto done;
    }
    if (libvmdk_handle_get_media_size(d->vmdk, &media, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VMERR(&e), "VMDK image: cannot read its size");
        goto done;
    }
    if (media != d->size) {
        err = bad(d, "VMDK size disagrees with its descriptor (%llu, %llu bytes)", ull(media),
                  ull(d->size));
        goto done;
    }
done:
    if (err < 0) {
        libvmdk_handle_close(d->vmdk, NULL);
        libvmdk_handle_free(&d->vmdk, NULL);
    }
    return err;
}

static int open_vmdk(im_disk *d, int depth)
{
    int err;
    vmdk_desc v;
    char *ppath = NULL, **paths = NULL;
    uint64_t first = 0;

    memset(&v, 0, sizeof(v));
    if ((err = check_vmdk(d, &v, &paths)) < 0)
        goto done;
    if (v.parent) {
        if (!(ppath = extent_path(d, v.parent))) {
            err = CR_ERROR;
            goto done;
        }
        if (access(ppath, F_OK) != 0) {
            cr_error_set("%s: its VMDK parent disk %s is missing (looked for %s): copy it next to the "
                         "image",
                         d->path, v.parent, ppath);
            err = CR_ENOTFOUND;
            goto done;
        }
        if ((err = open_layer(&d->parent, ppath, CR_IMAGE_VMDK, depth + 1, d->allow, d->nallow, -1,
                              0)) < 0)
            goto done;
    }
    if ((err = farm_build(d, &v, paths)) < 0)
        goto done;
    /* A disk with data is opened by libvmdk now, so that what it refuses stops the
     * backup before anything is read; an empty one never needs it. */
    if ((err = vmdk_next_data(d, 0, &first)) < 0)
        goto done;
    if (first < d->size && (err = vmdk_lib_open(d)) < 0)
        goto done;
done:
    if (paths) {
        for (size_t i = 0; i < v.next; i++)
            free(paths[i]);
        free(paths);
    }
    vmdk_desc_clear(&v);
    free(ppath);
    return err;
}

/* ------------------------------------------------------------ VMDK allocation map */

/* Make the file of extent k the one open in d->vc (a hole map is per file). */
static int vc_open(im_disk *d, size_t k)
{
    const vmdk_ext *x = &d->vx[k];
    if (d->vc.ext == k)
        return 0;
    if (d->vc.own_fd && d->vc.h.fd >= 0)
        close(d->vc.h.fd);
    d->vc.ext = SIZE_MAX;
    d->vc.h.fd = -1;
    d->vc.own_fd = 0;
    d->vc.h.from = d->vc.h.to = 0;
    if (!strcmp(x->path, d->path)) {
        d->vc.h.fd = d->fd;
    } else {
        /* The file checked at open: as libvmdk does, we open it by its name again. */
        int fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return cr_error_errno("%s: cannot open its VMDK extent file %s", d->path, x->path);
        d->vc.h.fd = fd;
        d->vc.own_fd = 1;
    }
    d->vc.ext = k;
    return 0;
}

/* Read a grain directory block or grain table of the open extent file: the
 * end of the file is CR_ECORRUPT (it shrank after the checks); a hole sets *hole. */
static int vc_read(im_disk *d, uint64_t at, uint8_t *buf, size_t len, int *hole, const char *what)
{
    *hole = in_hole(&d->vc.h, at, len);
    if (*hole)
        return 0;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(d->vc.h.fd, buf + got, len - got, (off_t)(at + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cr_error_errno("%s: cannot read a VMDK %s of %s", d->path, what,
                                  d->vx[d->vc.ext].path);
        if (n == 0) {
            cr_error_set("%s: the VMDK %s at offset %llu of %s lies beyond the end of the file "
                         "(was it truncated while being read?)",
                         d->path, what, ull(at), d->vx[d->vc.ext].path);
            return CR_ECORRUPT;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Grain directory entry i of sparse extent k (through a cache of one block). */
static int vc_gde(im_disk *d, size_t k, uint64_t i, uint32_t *out)
{
    int err;
    const vmdk_ext *x = &d->vx[k];
    if (!d->vc.gd || d->vc.gd_ext != k || i < d->vc.gd_first || i >= d->vc.gd_first + d->vc.gd_n) {
        if (!d->vc.gd && !(d->vc.gd = cr_malloc(VX_GD_BLOCK * 4)))
            return CR_ERROR;
        uint64_t first = i / VX_GD_BLOCK * VX_GD_BLOCK;
        uint64_t n = x->ngd - first < VX_GD_BLOCK ? x->ngd - first : VX_GD_BLOCK;
        d->vc.gd_n = 0;
        if ((err = vc_open(d, k)) < 0 ||
            (err = vc_read(d, x->gd * 512 + first * 4, d->vc.gd, (size_t)n * 4, &d->vc.gd_hole,
                           "grain directory")) < 0)
            return err;
        if (d->vc.gd_hole)
            memset(d->vc.gd, 0, (size_t)n * 4);
        d->vc.gd_ext = k;
        d->vc.gd_first = first;
        d->vc.gd_n = n;
    }
    *out = le32(d->vc.gd + (i - d->vc.gd_first) * 4);
    return 0;
}

/* The grain table at sector `at` of sparse extent k, into d->vc.gt (gt_hole: all zeros). */
static int vc_gt(im_disk *d, size_t k, uint64_t at)
{
    int err;
    const vmdk_ext *x = &d->vx[k];
    if (d->vc.gt_at == at && d->vc.gt_ext == k)
        return 0;
    if (!d->vc.gt && !(d->vc.gt = cr_malloc(65536 * 4)))
        return CR_ERROR;
    d->vc.gt_at = 0;
    if ((err = vc_open(d, k)) < 0 ||
        (err = vc_read(d, at * 512, d->vc.gt, (size_t)x->gtes * 4, &d->vc.gt_hole,
                       "grain table")) < 0)
        return err;
    d->vc.gt_at = at;
    d->vc.gt_ext = k;
    return 0;
}

/* What a grain table or directory entry says: VR_DATA, or VR_PARENT for "not
 * here" (zeros without a parent), or VR_ZERO for ESXi's zeroed grains. An
 * entry 1 without the header's flag is a sector number, as libvmdk reads it. */
static int vx_class(const im_disk *d, const vmdk_ext *x, uint32_t e)
{
    if (e == 0)
        return d->parent ? VR_PARENT : VR_ZERO;
    if (e == 1 && x->zero_grains)
        return VR_ZERO;
    return VR_DATA;
}

/*
 * What the VMDK holds at byte `off` (VR_DATA, VR_ZERO or VR_PARENT) and up to
 * where the same holds (*end > off). Runs of empty grain tables and of
 * directory entries are taken in one step, grain tables in a hole of the file
 * are not read, so a 64 TiB disk with nothing allocated is looked through in
 * a few milliseconds. VR_DATA is "may hold data": libvmdk reads it.
 */
static int vmdk_run(im_disk *d, uint64_t off, int *cls, uint64_t *end)
{
    int err;
    uint64_t sector = off / 512;
    size_t lo = 0, hi = d->nvx;
    while (hi - lo > 1) { /* the last extent starting at or before `sector` */
        size_t mid = lo + (hi - lo) / 2;
        if (d->vx[mid].start <= sector)
            lo = mid;
        else
            hi = mid;
    }
    size_t k = lo;
    const vmdk_ext *x = &d->vx[k];
    uint64_t xend = (x->start + x->sectors) * 512;
    *cls = VR_DATA;
    *end = xend;
    if (sector < x->start || sector >= x->start + x->sectors) {
        *end = off + 1; /* not expected (extents cover the disk): let libvmdk answer */
        return 0;
    }
    if (x->kind == VX_ZERO) {
        *cls = VR_ZERO;
        return 0;
    }
    if (x->kind == VX_FLAT) {
        /* A flat extent is a raw file: its holes read as zeros. */
        uint64_t fo = (x->offset + sector - x->start) * 512 + off % 512;
        if ((err = vc_open(d, k)) < 0)
            return err;
        off_t r = lseek(d->vc.h.fd, (off_t)fo, SEEK_DATA);
        if (r < 0 && errno == ENXIO) {
            struct stat st;
            if (fstat(d->vc.h.fd, &st) == 0 && fo >= (uint64_t)st.st_size) {
                cr_error_set("%s: its VMDK extent file %s shrank to %llu bytes while being read: "
                             "the image is truncated",
                             d->path, x->path, ull((uint64_t)st.st_size));
                return CR_ECORRUPT;
            }
            *cls = VR_ZERO; /* no data up to the end of the file */
        } else if (r > (off_t)fo) {
            *cls = VR_ZERO;
            if ((uint64_t)r - fo < xend - off)
                *end = off + ((uint64_t)r - fo);
        } else if (r == (off_t)fo) {
            off_t hole = lseek(d->vc.h.fd, (off_t)fo, SEEK_HOLE);
            if (hole > (off_t)fo && (uint64_t)hole - fo < xend - off)
                *end = off + ((uint64_t)hole - fo);
        }
        return 0;
    }
    uint64_t per_gt = x->gtes * x->grain; /* sectors */
    uint64_t es = sector - x->start;
    uint64_t gi = es / per_gt;
    uint32_t gde;
    if ((err = vc_gde(d, k, gi, &gde)) < 0)
        return err;
    int c;
    if (gde == 0 || (gde == 1 && x->zero_grains)) {
        c = vx_class(d, x, gde);
    } else {
        if ((err = vc_gt(d, k, gde)) < 0)
            return err;
        if (!d->vc.gt_hole) {
            /* A grain table with entries: the run of grains of the same kind from here. */
            uint64_t j = (es % per_gt) / x->grain;
            c = vx_class(d, x, le32(d->vc.gt + j * 4));
            while (j + 1 < x->gtes && vx_class(d, x, le32(d->vc.gt + (j + 1) * 4)) == c)
                j++;
            *cls = c;
            uint64_t e = (x->start + gi * per_gt + (j + 1) * x->grain) * 512;
            *end = e < xend ? e : xend;
            return 0;
        }
        c = vx_class(d, x, 0); /* a grain table in a hole of the file: all entries 0 */
    }
    /* Grain tables with nothing of their own: take the following ones alike in one step
     * (at most a block of directory entries that are not all zeros per call, so that a
     * small read costs little; the callers go on from *end). */
    uint64_t g = gi + 1, looked = 0;
    while (g < x->ngd && looked++ < VX_GD_BLOCK) {
        if ((err = vc_gde(d, k, g, &gde)) < 0)
            return err;
        if (d->vc.gd_hole && c == vx_class(d, x, 0)) {
            g = d->vc.gd_first + d->vc.gd_n; /* a whole block of zero entries */
            continue;
        }
        int cg;
        if (gde == 0 || (gde == 1 && x->zero_grains))
            cg = vx_class(d, x, gde);
        else if (in_hole(&d->vc.h, (uint64_t)gde * 512, x->gtes * 4))
            cg = vx_class(d, x, 0);
        else
            break;
        if (cg != c)
            break;
        g++;
    }
    *cls = c;
    uint64_t e = (x->start + g * per_gt) * 512;
    *end = e < xend ? e : xend;
    return 0;
}

/* The first offset >= off that may hold data in this VMDK or its parent. */
static int vmdk_next_data(im_disk *d, uint64_t off, uint64_t *out)
{
    int err;
    uint64_t pnext = 0; /* the parent has no data before this offset (once asked) */
    int asked = 0;
    while (off < d->size) {
        int cls;
        uint64_t end;
        if ((err = vmdk_run(d, off, &cls, &end)) < 0)
            return err;
        if (cls == VR_DATA) {
            *out = off;
            return 0;
        }
        if (cls == VR_PARENT && off < d->parent->size) {
            if (!asked || pnext < off) {
                if ((err = im_next_data(d->parent, off, &pnext)) < 0)
                    return err;
                asked = 1;
            }
            if (pnext < end && pnext < d->parent->size) {
                *out = pnext > off ? pnext : off;
                return 0;
            }
        }
        off = end;
    }
    *out = d->size;
    return 0;
}

/* ------------------------------------------------------------ VHD */

static int vhd_footer_ok(const uint8_t *f)
{
    uint32_t sum = 0;
    for (int i = 0; i < 512; i++)
        if (i < 64 || i >= 68)
            sum += f[i];
    return memcmp(f, "conectix", 8) == 0 && ~sum == be32(f + 64);
}

static int check_vhd(im_disk *d)
{
    int err;
    uint8_t f[512], h[1024];
    if (d->fsize < 512)
        return bad(d, "VHD footer is cut short: the file holds only %llu bytes", ull(d->fsize));
    if ((err = file_read(d, d->fsize - 512, f, 512, "footer")) < 0)
        return err;
    if (memcmp(f, "conectix", 8) != 0) {
        /* The copy at the start says it is a dynamic VHD: its end is gone. */
        return bad(d, "VHD footer is missing at the end of the file (size %llu; the copy at the "
                      "start is there): the image is truncated",
                   ull(d->fsize));
    }
    if (!vhd_footer_ok(f))
        return bad(d, "VHD footer checksum is wrong: the footer is damaged");
    uint32_t type = be32(f + 60);
    uint64_t size = be64(f + 48);
    uint64_t doff = be64(f + 16);
    if (size > IM_MAX_SIZE)
        return bad(d, "VHD footer gives a size of %llu bytes (more than 64 TiB): it is damaged", ull(size));
    if (type == 2) {
        if (size > d->fsize - 512)
            return bad(d, "fixed VHD holds %llu bytes of data, but its footer says %llu: the image "
                          "is truncated",
                       ull(d->fsize - 512), ull(size));
    } else if (type == 3 || type == 4) {
        if (doff > d->fsize || 1024 > d->fsize - doff)
            return bad(d, "VHD dynamic header at offset %llu lies beyond the end of the file (size "
                          "%llu): the image is truncated or damaged",
                       ull(doff), ull(d->fsize));
        if ((err = file_read(d, doff, h, sizeof(h), "dynamic header")) < 0)
            return err;
        if (memcmp(h, "cxsparse", 8) != 0)
            return bad(d, "VHD dynamic header at offset %llu has no 'cxsparse' cookie: it is damaged",
                       ull(doff));
        uint32_t sum = 0;
        for (int i = 0; i < 1024; i++)
            if (i < 36 || i >= 40)
                sum += h[i];
        if (~sum != be32(h + 36))
            return bad(d, "VHD dynamic header checksum is wrong: the header is damaged");
        uint64_t bat = be64(h + 16);
        uint32_t entries = be32(h + 28), block = be32(h + 32);
        if (block < 512 || (block & (block - 1)) || block > (256u << 20))
            return bad(d, "VHD block size %u is not a power of two between 512 bytes and 256 MiB: "
                          "the header is damaged",
                       block);
        uint64_t need = size / block + (size % block != 0);
        if (entries < need)
            return bad(d, "VHD block table has %u entries, but a disk of %llu bytes needs %llu: the "
                          "header is damaged",
                       entries, ull(size), ull(need));
        if (bat > d->fsize || (uint64_t)entries * 4 > d->fsize - bat)
            return bad(d, "VHD block table at offset %llu (%u entries) lies beyond the end of the file "
                          "(size %llu): the image is truncated or damaged",
                       ull(bat), entries, ull(d->fsize));
        /* Every allocated block (its sector bitmap, then the data) lies inside the file. */
        uint64_t bitmap = ((uint64_t)block / 512 / 8 + 511) / 512 * 512;
        uint8_t buf[4096];
        /* Which blocks hold data (a differencing disk's missing blocks are its parent's). */
        if (!(d->alloc = cr_calloc(need / 8 + 1, 1)) || !(d->vbat = cr_calloc(need + 1, 4)))
            return CR_ERROR;
        d->block = block;
        d->nblocks = need;
        d->vbitmap = bitmap;
        for (uint64_t i = 0; i < need; i += sizeof(buf) / 4) {
            size_t n = need - i < sizeof(buf) / 4 ? (size_t)(need - i) : sizeof(buf) / 4;
            if ((err = file_read(d, bat + i * 4, buf, n * 4, "block table")) < 0)
                return err;
            for (size_t k = 0; k < n; k++) {
                uint32_t s = be32(buf + k * 4);
                d->vbat[i + k] = s;
                if (s == 0xFFFFFFFFu) {
                    if (type == 4)
                        d->alloc[(i + k) / 8] |= (uint8_t)(1u << ((i + k) % 8));
                    continue;
                }
                d->alloc[(i + k) / 8] |= (uint8_t)(1u << ((i + k) % 8));
                uint64_t at = (uint64_t)s * 512;
                if (at > d->fsize || bitmap + block > d->fsize - at)
                    return bad(d, "VHD block %llu at offset %llu lies beyond the end of the file "
                                  "(size %llu): the image is truncated or damaged",
                               ull(i + k), ull(at), ull(d->fsize));
            }
        }
        /* Blocks the table maps past the ones the size needs: data the size hides. */
        for (uint64_t i = need; i < entries; i += sizeof(buf) / 4) {
            size_t n = entries - i < sizeof(buf) / 4 ? (size_t)(entries - i) : sizeof(buf) / 4;
            if ((err = file_read(d, bat + i * 4, buf, n * 4, "block table")) < 0)
                return err;
            for (size_t k = 0; k < n; k++)
                if (be32(buf + k * 4) != 0xFFFFFFFFu)
                    d->dropped += block;
        }
        if (size == 0 && d->dropped > 0)
            return bad(d, "VHD footer gives a size of 0 bytes, but its block table maps %llu bytes "
                          "of data: the footer is damaged or forged, and nothing of this disk "
                          "would be saved",
                       ull(d->dropped));
    } else {
        return bad(d, "VHD footer gives disk type %u (known: 2 fixed, 3 dynamic, 4 differencing): it "
                      "is damaged",
                   type);
    }
    d->size = size;
    d->vhd_type = type;
    return 0;
}

/* pread exactly len bytes of the image file; the end of the file is CR_ECORRUPT naming `disk_off`. */
static int data_read(im_disk *d, uint64_t at, uint8_t *buf, size_t len, uint64_t disk_off)
{
    while (len > 0) {
        ssize_t n = pread(d->fd, buf, len, (off_t)at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return cr_error_errno("%s: read failed at offset %llu of the disk", d->path, ull(disk_off));
        }
        if (n == 0) {
            cr_error_set("%s: %s data of disk offset %llu lies at file offset %llu, beyond the end of "
                         "the file: the image is truncated",
                         d->path, cr_image_format_name(d->format), ull(disk_off), ull(at));
            return CR_ECORRUPT;
        }
        buf += n;
        at += (uint64_t)n;
        disk_off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Fixed VHD: the disk, then the footer. Dynamic VHD: blocks found in the BAT (bitmaps ignored, as QEMU does). */
static int vhd_read(im_disk *d, uint64_t off, uint8_t *p, size_t len)
{
    int err;
    if (d->vhd_type == 2)
        return data_read(d, off, p, len, off);
    while (len > 0) {
        uint64_t b = off / d->block, in = off % d->block;
        size_t n = d->block - in < len ? (size_t)(d->block - in) : len;
        uint32_t s = b < d->nblocks ? d->vbat[b] : 0xFFFFFFFFu;
        if (s == 0xFFFFFFFFu)
            memset(p, 0, n);
        else if ((err = data_read(d, (uint64_t)s * 512 + d->vbitmap + in, p, n, off)) < 0)
            return err;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* ------------------------------------------------------------ VHDX */

static const uint8_t VHDX_BAT_GUID[16] = {0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                                          0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
static const uint8_t VHDX_META_GUID[16] = {0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B,
                                           0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E};
static const uint8_t VHDX_FILE_PARAMS[16] = {0x37, 0x67, 0xA1, 0xCA, 0x36, 0xFA, 0x43, 0x4D,
                                             0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B};
static const uint8_t VHDX_DISK_SIZE[16] = {0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48,
                                           0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8};
static const uint8_t VHDX_LOGICAL_SECTOR[16] = {0x1D, 0xBF, 0x41, 0x81, 0x6F, 0xA9, 0x09, 0x47,
                                                0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F};

static int check_vhdx(im_disk *d)
{
    int err = 0;
    uint8_t *buf = NULL;
    uint64_t bat_off = 0, bat_len = 0, meta_off = 0, meta_len = 0;
    const size_t RT = 64 * 1024;

    if (d->fsize < 320 * 1024)
        return bad(d, "VHDX headers are cut short: the file holds only %llu bytes", ull(d->fsize));
    if (!(buf = cr_malloc(RT)))
        return CR_ERROR;
    /* The two headers: the valid one with the higher sequence number is current. */
    int valid = 0;
    uint64_t best_seq = 0;
    int pending_log = 0;
    for (int k = 0; k < 2; k++) {
        if ((err = file_read(d, (uint64_t)(k + 1) * 64 * 1024, buf, 4096, "header")) < 0)
            goto done;
        if (memcmp(buf, "head", 4) != 0 || crc32c_skip(buf, 4096, 4) != le32(buf + 4))
            continue;
        uint64_t seq = le64(buf + 8);
        if (!valid || seq > best_seq) {
            best_seq = seq;
            static const uint8_t zero[16];
            pending_log = memcmp(buf + 48, zero, 16) != 0;
        }
        valid++;
    }
    if (!valid) {
        err = bad(d, "VHDX has no valid header (signature 'head' and CRC-32C at 64 KiB and 128 KiB): "
                     "the image is damaged");
        goto done;
    }
    if (pending_log) {
        err = bad(d, "VHDX has a log that was never replayed (its host stopped while the disk was in "
                     "use): open it once in Hyper-V, or run 'qemu-img check -r all' on a copy, then "
                     "back up the copy");
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        uint64_t at = (uint64_t)(192 + 64 * k) * 1024;
        if ((err = file_read(d, at, buf, RT, "region table")) < 0)
            goto done;
        if (memcmp(buf, "regi", 4) != 0) {
            err = bad(d, "VHDX region table at offset %llu has no 'regi' signature: the image is "
                         "damaged",
                      ull(at));
            goto done;
        }
        if (crc32c_skip(buf, RT, 4) != le32(buf + 4)) {
            err = bad(d, "VHDX region table at offset %llu has a wrong checksum: the image is damaged",
                      ull(at));
            goto done;
        }
        uint32_t n = le32(buf + 8);
        if (n > 2047) {
            err = bad(d, "VHDX region table at offset %llu gives %u entries (at most 2047): the image "
                         "is damaged",
                      ull(at), n);
            goto done;
        }
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *r = buf + 16 + i * 32;
            uint64_t off = le64(r + 16);
            uint32_t len = le32(r + 24);
            uint32_t required = le32(r + 28) & 1;
            if (off > d->fsize || len > d->fsize - off) {
                err = bad(d, "VHDX region %u at offset %llu (%u bytes) lies beyond the end of the file "
                             "(size %llu): the image is truncated or damaged",
                          i, ull(off), len, ull(d->fsize));
                goto done;
            }
            if (!memcmp(r, VHDX_BAT_GUID, 16)) {
                bat_off = off;
                bat_len = len;
            } else if (!memcmp(r, VHDX_META_GUID, 16)) {
                meta_off = off;
                meta_len = len;
            } else if (required) {
                err = bad(d, "VHDX has a required region this program does not know: not supported");
                goto done;
            }
        }
    }
    if (!bat_len || meta_len < 64 * 1024) {
        err = bad(d, "VHDX region table has no block table or no metadata region: the image is damaged");
        goto done;
    }
    /* Metadata table: virtual size, block size, logical sector size. */
    if ((err = file_read(d, meta_off, buf, RT, "metadata table")) < 0)
        goto done;
    if (memcmp(buf, "metadata", 8) != 0) {
        err = bad(d, "VHDX metadata table at offset %llu has no 'metadata' signature: the image is "
                     "damaged",
                  ull(meta_off));
        goto done;
    }
    uint16_t nmeta = le16(buf + 10);
    if (nmeta > 2047) {
        err = bad(d, "VHDX metadata table gives %u entries (at most 2047): the image is damaged", nmeta);
        goto done;
    }
    uint64_t vsize = 0;
    uint32_t block = 0, sector = 0, fparams = 0;
    int have_size = 0, have_block = 0, have_sector = 0;
    for (uint16_t i = 0; i < nmeta; i++) {
        const uint8_t *m = buf + 32 + (size_t)i * 32;
        uint32_t off = le32(m + 16), len = le32(m + 20);
        if (off < 64 * 1024 || off > meta_len || len > meta_len - off) {
            err = bad(d, "VHDX metadata item %u lies outside the metadata region: the image is damaged",
                      i);
            goto done;
        }
        uint8_t v[8];
        size_t want = 0;
        if (!memcmp(m, VHDX_DISK_SIZE, 16))
            want = 8;
        else if (!memcmp(m, VHDX_FILE_PARAMS, 16) || !memcmp(m, VHDX_LOGICAL_SECTOR, 16))
            want = !memcmp(m, VHDX_FILE_PARAMS, 16) ? 8 : 4;
        if (!want)
            continue;
        if (len < want) {
            err = bad(d, "VHDX metadata item %u is too short: the image is damaged", i);
            goto done;
        }
        uint8_t *tmp = cr_malloc(want);
        if (!tmp) {
            err = CR_ERROR;
            goto done;
        }
        err = file_read(d, meta_off + off, tmp, want, "metadata item");
        memcpy(v, tmp, want);
        free(tmp);
        if (err < 0)
            goto done;
        if (!memcmp(m, VHDX_DISK_SIZE, 16)) {
            vsize = le64(v);
            have_size = 1;
        } else if (!memcmp(m, VHDX_FILE_PARAMS, 16)) {
            block = le32(v);
            fparams = le32(v + 4);
            have_block = 1;
        } else {
            sector = le32(v);
            have_sector = 1;
        }
    }
    if (!have_size || !have_block || !have_sector) {
        err = bad(d, "VHDX metadata lacks the virtual size, the block size or the sector size: the "
                     "image is damaged");
        goto done;
    }
    if (vsize == 0 || vsize > IM_MAX_SIZE) {
        err = bad(d, "VHDX virtual size %llu bytes is impossible (0 or more than 64 TiB): the image is "
                     "damaged",
                  ull(vsize));
        goto done;
    }
    if (block < (1u << 20) || block > (256u << 20) || (block & (block - 1))) {
        err = bad(d, "VHDX block size %u is not a power of two between 1 MiB and 256 MiB: the image is "
                     "damaged",
                  block);
        goto done;
    }
    if (sector != 512 && sector != 4096) {
        err = bad(d, "VHDX logical sector size %u is neither 512 nor 4096: the image is damaged", sector);
        goto done;
    }
    /* BAT: data blocks, with a sector bitmap entry after every chunk_ratio of them. */
    uint64_t chunk_ratio = ((1ull << 23) * sector) / block;
    uint64_t nblocks = vsize / block + (vsize % block != 0);
    /* As the specification counts them: a differencing disk has a bitmap entry per chunk. */
    uint64_t entries = (fparams & 2) ? (nblocks / chunk_ratio + (nblocks % chunk_ratio != 0)) * (chunk_ratio + 1)
                                     : nblocks + (nblocks - 1) / chunk_ratio;
    if (entries * 8 > bat_len) {
        err = bad(d, "VHDX block table holds %llu entries, but a disk of %llu bytes needs %llu: the "
                     "image is damaged",
                  ull(bat_len / 8), ull(vsize), ull(entries));
        goto done;
    }
    if (!(d->alloc = cr_calloc(nblocks / 8 + 1, 1))) {
        err = CR_ERROR;
        goto done;
    }
    d->block = block;
    d->nblocks = nblocks;
    /* The whole region: entries past the ones the size needs may map data the size hides. */
    uint64_t all = bat_len / 8;
    for (uint64_t i = 0; i < all; i += RT / 8) {
        size_t n = all - i < RT / 8 ? (size_t)(all - i) : RT / 8;
        if ((err = file_read(d, bat_off + i * 8, buf, n * 8, "block table")) < 0)
            goto done;
        for (size_t k = 0; k < n; k++) {
            uint64_t e = le64(buf + k * 8);
            unsigned state = (unsigned)(e & 7);
            uint64_t at = e & ~0xFFFFFull;
            int is_bitmap = ((i + k) % (chunk_ratio + 1)) == chunk_ratio;
            uint64_t need = is_bitmap ? (1u << 20) : block;
            uint64_t db = (i + k) - (i + k) / (chunk_ratio + 1); /* data block number */
            /* Data: present (6), partly present (7), or not present in a differencing disk
             * (its parent's). Zero (2), unmapped (3) and undefined (1) read as zeros. */
            if (!is_bitmap && db < nblocks && (state == 6 || state == 7 || (state == 0 && (fparams & 2))))
                d->alloc[db / 8] |= (uint8_t)(1u << (db % 8));
            /* 6 = fully present, 7 = partially present (differencing); 6 for a bitmap = present */
            if (state != 6 && state != 7)
                continue;
            if (i + k >= entries) {
                if (!is_bitmap)
                    d->dropped += block; /* never read: it need not lie inside the file */
                continue;
            }
            if (at > d->fsize || need > d->fsize - at) {
                err = bad(d, "VHDX block %llu at offset %llu lies beyond the end of the file (size "
                             "%llu): the image is truncated or damaged",
                          ull(i + k), ull(at), ull(d->fsize));
                goto done;
            }
        }
    }
    d->size = vsize;
done:
    free(buf);
    return err;
}

static int open_vhdi(im_disk *d, int depth)
{
    int err;
    libvhdi_error_t *e = NULL;
    size64_t media = 0;
    uint32_t type = 0;
    char *pname = NULL, *ppath = NULL;
    const char *fmt = cr_image_format_name(d->format);

    if ((err = d->format == CR_IMAGE_VHD ? check_vhd(d) : check_vhdx(d)) < 0)
        return err;
    if (libvhdi_file_initialize(&d->vhdi, &e) != 1) {
        err = lib_fail(d, CR_ERROR, VHERR(&e), "cannot set up the VHD reader");
        goto done;
    }
    if (libvhdi_file_open(d->vhdi, d->path, LIBVHDI_OPEN_READ, &e) != 1) {
        char what[64];
        snprintf(what, sizeof(what), "%s image cannot be opened: it is damaged", fmt);
        err = lib_fail(d, CR_EINPUT, VHERR(&e), what);
        goto done;
    }
    if (libvhdi_file_get_disk_type(d->vhdi, &type, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VHERR(&e), "cannot read the disk type");
        goto done;
    }
    if (type == LIBVHDI_DISK_TYPE_DIFFERENTIAL) {
        size_t n = 0;
        if (libvhdi_file_get_utf8_parent_filename_size(d->vhdi, &n, &e) != 1 || n == 0 || n > 4096) {
            err = lib_fail(d, CR_EINPUT, VHERR(&e), "differencing disk: cannot read its parent's name");
            goto done;
        }
        if (!(pname = cr_malloc(n + 1))) {
            err = CR_ERROR;
            goto done;
        }
        if (libvhdi_file_get_utf8_parent_filename(d->vhdi, (uint8_t *)pname, n, &e) != 1) {
            err = lib_fail(d, CR_EINPUT, VHERR(&e), "differencing disk: cannot read its parent's name");
            goto done;
        }
        pname[n] = 0;
        /* Parents are named by Windows paths: look for the last component beside the image. */
        for (char *p = pname; *p; p++)
            if (*p == '\\')
                *p = '/';
        const char *leaf = base_name(pname);
        if (!(ppath = resolve(d, leaf))) {
            err = CR_ERROR;
            goto done;
        }
        if (access(ppath, F_OK) != 0) {
            cr_error_set("%s: its parent disk %s is missing (looked for %s): copy it next to the image",
                         d->path, pname, ppath);
            err = CR_ENOTFOUND;
            goto done;
        }
        if ((err = open_layer(&d->parent, ppath, CR_IMAGE_AUTO, depth + 1, d->allow, d->nallow, -1,
                              0)) < 0)
            goto done;
        if (!d->parent->vhdi) {
            err = bad(d, "the parent disk %s is not a VHD or VHDX image", ppath);
            goto done;
        }
        if (libvhdi_file_set_parent_file(d->vhdi, d->parent->vhdi, &e) != 1) {
            err = lib_fail(d, CR_EINPUT, VHERR(&e), "cannot attach the parent disk");
            goto done;
        }
        d->split = 512;
    }
    if (libvhdi_file_get_media_size(d->vhdi, &media, &e) != 1) {
        err = lib_fail(d, CR_EINPUT, VHERR(&e), "cannot read the disk size");
        goto done;
    }
    if (media != d->size) {
        err = bad(d, "%s size disagrees with its header (%llu, %llu bytes)", fmt, ull(media), ull(d->size));
        goto done;
    }
done:
    free(pname);
    free(ppath);
    return err;
}

/* ------------------------------------------------------------ open */

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
    /* A dynamic VHD keeps a copy of its footer at the start: a truncated one is still a VHD. */
    if (nhead >= 512 && memcmp(head, "conectix", 8) == 0 && vhd_footer_ok(head) &&
        (be32(head + 60) == 3 || be32(head + 60) == 4))
        return CR_IMAGE_VHD;
    return CR_IMAGE_RAW;
}

static int same_family(cr_image_format a, cr_image_format b)
{
    if (a == CR_IMAGE_VMDK_FLAT)
        a = CR_IMAGE_VMDK;
    if (b == CR_IMAGE_VMDK_FLAT)
        b = CR_IMAGE_VMDK;
    return a == b;
}

/*
 * fd >= 0: the file is already open (taken over, closed by im_close): a block
 * device the parent opened for a sandbox child, which may not open it itself
 * nor ask its size (devsize) with an ioctl.
 */
static int open_layer(im_disk **out, const char *path, cr_image_format expect, int depth,
                      const char *const *allow, size_t nallow, int fd, uint64_t devsize)
{
    int err = 0;
    im_disk *d = NULL;
    struct stat st;
    uint8_t head[IM_PROBE], tail[IM_PROBE];
    size_t nhead = 0, ntail = 0;

    *out = NULL;
    if (depth > IM_MAX_DEPTH) {
        cr_error_set("%s: the chain of backing or parent files is deeper than %d (a loop?)", path,
                     IM_MAX_DEPTH);
        err = CR_EINPUT;
        goto done;
    }
    if (!(d = cr_calloc(1, sizeof(*d)))) {
        err = CR_ERROR;
        goto done;
    }
    d->fd = -1;
    d->vc.ext = SIZE_MAX;
    d->vc.h.fd = -1;
    d->allow = allow;
    d->nallow = nallow;
    if (!(d->path = cr_strdup(path))) {
        err = CR_ERROR;
        goto done;
    }
    const char *slash = strrchr(path, '/');
    d->dir = slash ? cr_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : cr_strdup(".");
    if (!d->dir) {
        err = CR_ERROR;
        goto done;
    }
    /* O_NONBLOCK: a FIFO given by mistake (or named by a hostile header) must not hang us. */
    d->fd = fd >= 0 ? fd : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    fd = -1;
    if (d->fd < 0) {
        err = cr_error_errno("cannot open disk image %s", path);
        goto done;
    }
    if (fstat(d->fd, &st) < 0) {
        err = cr_error_errno("cannot read the status of disk image %s", path);
        goto done;
    }
    if (S_ISBLK(st.st_mode)) {
        uint64_t bytes = devsize;
        if (!bytes && ioctl(d->fd, BLKGETSIZE64, &bytes) < 0) {
            err = cr_error_errno("cannot read the size of block device %s", path);
            goto done;
        }
        d->is_block = 1;
        d->fsize = bytes;
    } else if (S_ISREG(st.st_mode)) {
        d->fsize = (uint64_t)st.st_size;
    } else {
        cr_error_set("%s is neither a disk image file nor a block device", path);
        err = CR_EINPUT;
        goto done;
    }
    d->open_fsize = d->fsize;
    if (read_probe(d->fd, 0, head, sizeof(head), &nhead) < 0) {
        err = cr_error_errno("cannot read disk image %s", path);
        goto done;
    }
    if (d->fsize >= IM_PROBE &&
        read_probe(d->fd, d->fsize - IM_PROBE, tail, IM_PROBE, &ntail) < 0) {
        err = cr_error_errno("cannot read the end of disk image %s", path);
        goto done;
    }
    d->format = detect(head, nhead, tail, ntail);
    if (expect != CR_IMAGE_AUTO && !same_family(expect, d->format)) {
        cr_error_set("%s: expected a %s image, but its content is %s", path,
                     cr_image_format_name(expect), cr_image_format_name(d->format));
        err = CR_EINPUT;
        goto done;
    }
    switch (d->format) {
    case CR_IMAGE_QCOW2: err = open_qcow(d, depth); break;
    case CR_IMAGE_VMDK: err = open_vmdk(d, depth); break;
    case CR_IMAGE_VHD:
    case CR_IMAGE_VHDX: err = open_vhdi(d, depth); break;
    default: d->size = d->fsize; break;
    }
    if (err < 0)
        goto done;
    d->allow = NULL; /* borrowed for the open only */
    d->nallow = 0;
    *out = d;
    d = NULL;
done:
    if (fd >= 0)
        close(fd);
    im_close(d);
    return err;
}

int im_open(im_disk **out, const char *path, cr_image_format expect)
{
    return open_layer(out, path, expect, 0, NULL, 0, -1, 0);
}

int im_open_fd(im_disk **out, int fd, const char *path, uint64_t devsize,
               const char *const *allow_backing, size_t nallow)
{
    return open_layer(out, path, CR_IMAGE_AUTO, 0, allow_backing, allow_backing ? nallow : 0, fd,
                      devsize);
}

int im_open_allow(im_disk **out, const char *path, cr_image_format expect,
                  const char *const *allow_backing, size_t nallow)
{
    return open_layer(out, path, expect, 0, allow_backing, allow_backing ? nallow : 0, -1, 0);
}

void im_close(im_disk *d)
{
    if (!d)
        return;
    if (d->qcow) {
        libqcow_file_close(d->qcow, NULL);
        libqcow_file_free(&d->qcow, NULL);
    }
    if (d->vmdk) {
        libvmdk_handle_close(d->vmdk, NULL);
        libvmdk_handle_free(&d->vmdk, NULL);
    }
    if (d->vhdi) {
        libvhdi_file_close(d->vhdi, NULL);
        libvhdi_file_free(&d->vhdi, NULL);
    }
    farm_remove(d);
    for (size_t i = 0; d->vx && i < d->nvx; i++)
        free(d->vx[i].path);
    free(d->vx);
    if (d->vc.own_fd && d->vc.h.fd >= 0)
        close(d->vc.h.fd);
    free(d->vc.gd);
    free(d->vc.gt);
    free(d->alloc);
    free(d->vbat);
    free(d->q.l1);
    free(d->q.l2);
    /* The parent after the child: the child's library handle points to it. */
    im_close(d->parent);
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    free(d->dir);
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

const im_disk *im_parent(const im_disk *d)
{
    return d->parent;
}

uint64_t im_dropped(const im_disk *d)
{
    return d->dropped;
}

/* ------------------------------------------------------------ read */

static int check_range(const im_disk *d, uint64_t off, size_t len)
{
    if (off > d->size || len > d->size - off) {
        cr_error_set("%s: read of %zu bytes at offset %llu lies beyond the end of the disk (%llu bytes)",
                     d->path, len, ull(off), ull(d->size));
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
            return cr_error_errno("%s: read failed at offset %llu", d->path, ull(off));
        }
        if (n == 0) {
            cr_error_set("%s: the image ends at offset %llu, before its size of %llu bytes (was it "
                         "truncated while being read?)",
                         d->path, ull(off), ull(d->size));
            return CR_ECORRUPT;
        }
        buf += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* The image file (or one of its backing files) shrank since it was checked. */
static int check_file_end(const im_disk *d, uint64_t off)
{
    for (const im_disk *p = d; p; p = p->parent) {
        struct stat st;
        if (p->is_block || fstat(p->fd, &st) < 0)
            continue;
        if ((uint64_t)st.st_size < p->open_fsize) {
            cr_error_set("%s: the file shrank from %llu to %llu bytes while being read (reading "
                         "offset %llu of the disk): the image is truncated",
                         p->path, ull(p->open_fsize), ull((uint64_t)st.st_size), ull(off));
            return CR_ECORRUPT;
        }
    }
    return 0;
}

/*
 * libqcow reads a data cluster that the end of the file cuts in two without a
 * word (the missing part comes back as whatever was in the buffer). So before
 * each read we look up the clusters ourselves: every one that is allocated in
 * this file must lie inside it; unallocated ones are looked up in the backing
 * file the same way.
 */
/* The L2 entry of cluster c (0 if its L2 table is not allocated). */
static int qcow_entry(im_disk *d, uint64_t c, uint64_t *out)
{
    int err;
    uint64_t l2n = 1ull << d->q.l2_bits;
    uint64_t l2_bytes = d->q.version == 1 ? l2n * 8 : d->cluster;
    uint64_t l1i = c / l2n, l2i = c % l2n;
    *out = 0;
    if (l1i >= d->q.l1_entries)
        return 0;
    uint64_t l1e = be64(d->q.l1 + l1i * 8);
    uint64_t l2off = d->q.version == 1 ? l1e : l1e & QCOW_L1_MASK;
    if (l2off == 0)
        return 0;
    if (!d->q.l2 || d->q.l2_at != l2off) {
        if (!d->q.l2 && !(d->q.l2 = cr_malloc(l2_bytes)))
            return CR_ERROR;
        d->q.l2_at = 0;
        if ((err = file_read(d, l2off, d->q.l2, l2_bytes, "L2 table")) < 0)
            return err == CR_EINPUT ? CR_ECORRUPT : err;
        d->q.l2_at = l2off;
    }
    *out = be64(d->q.l2 + l2i * 8);
    return 0;
}

/* Where cluster entry e lies in the file (0: not here), and whether it is compressed or zero. */
static uint64_t qcow_host(const im_disk *d, uint64_t e, int *compressed, int *zero)
{
    *zero = 0;
    if (d->q.version == 1) {
        *compressed = (e >> 63) & 1;
        return *compressed ? e & ((1ull << (63 - d->q.cluster_bits)) - 1) : e;
    }
    *compressed = (e & QCOW_OFLAG_COMPRESSED) != 0;
    if (*compressed)
        return e & ((1ull << (62 - (d->q.cluster_bits - 8))) - 1);
    *zero = (int)(e & 1); /* v3: reads as zeros, whatever the offset says */
    return e & QCOW_L1_MASK;
}

static int qcow_next_data(im_disk *d, uint64_t off, uint64_t *out);

static int qcow_verify(im_disk *d, uint64_t off, uint64_t len)
{
    int err;
    uint64_t csize = d->cluster;
    uint64_t end = off + len;
    if (end > d->size)
        end = d->size;
    for (uint64_t c = off / csize; c * csize < end; c++) {
        uint64_t at = c * csize; /* guest offset of the cluster */
        uint64_t from = at > off ? at : off;
        uint64_t to = at + csize < end ? at + csize : end;
        uint64_t e;
        int compressed, zero;
        if ((err = qcow_entry(d, c, &e)) < 0)
            return err;
        uint64_t host = qcow_host(d, e, &compressed, &zero);
        if (zero)
            continue;
        if (host == 0) {
            if (d->parent && from < d->parent->size) {
                uint64_t pto = to < d->parent->size ? to : d->parent->size;
                if (d->parent->qcow && (err = qcow_verify(d->parent, from, pto - from)) < 0)
                    return err;
            }
            continue;
        }
        /* A compressed cluster is at least one byte; a plain one is a whole cluster. */
        uint64_t need = compressed ? 1 : csize;
        if (host > d->fsize || need > d->fsize - host) {
            cr_error_set("%s: qcow2 data of disk offset %llu lies at file offset %llu, beyond the end of "
                         "the file (size %llu): the image is truncated",
                         d->path, ull(from), ull(host), ull(d->fsize));
            return CR_ECORRUPT;
        }
        if (!compressed && host % csize != 0) {
            cr_error_set("%s: qcow2 data of disk offset %llu lies at unaligned file offset %llu: the "
                         "image is damaged",
                         d->path, ull(from), ull(host));
            return CR_ECORRUPT;
        }
    }
    return 0;
}

/*
 * The first offset >= off whose cluster holds data in this file or in a
 * backing file. Whole L2 tables that are not allocated are skipped at once.
 */
static int qcow_next_data(im_disk *d, uint64_t off, uint64_t *out)
{
    int err;
    uint64_t csize = d->cluster;
    uint64_t l2n = 1ull << d->q.l2_bits;
    uint64_t pnext = 0; /* the parent has no data before this offset (once asked) */
    int asked = 0;
    for (uint64_t c = off / csize; c * csize < d->size;) {
        uint64_t at = c * csize;
        uint64_t from = at > off ? at : off;
        uint64_t l1i = c / l2n;
        uint64_t e = 0;
        int compressed = 0, zero = 0;
        uint64_t host = 0;
        if (l1i < d->q.l1_entries) {
            if ((err = qcow_entry(d, c, &e)) < 0)
                return err;
            host = qcow_host(d, e, &compressed, &zero);
        }
        if (host != 0 && !zero) {
            *out = from;
            return 0;
        }
        if (!zero && d->parent && from < d->parent->size) {
            if (!asked || pnext < from) {
                if ((err = im_next_data(d->parent, from, &pnext)) < 0)
                    return err;
                asked = 1;
            }
            if (pnext < at + csize && pnext < d->parent->size) {
                *out = pnext > from ? pnext : from;
                return 0;
            }
        }
        /* An unallocated L2 table (and no backing data there): skip all its clusters. */
        uint64_t l1e = l1i < d->q.l1_entries ? be64(d->q.l1 + l1i * 8) : 0;
        uint64_t l2off = d->q.version == 1 ? l1e : l1e & QCOW_L1_MASK;
        if (l2off == 0 && !d->parent)
            c = (l1i + 1) * l2n;
        else if (l2off == 0 && asked && pnext / csize > c + 1)
            c = pnext / csize < (l1i + 1) * l2n ? pnext / csize : (l1i + 1) * l2n;
        else
            c++;
    }
    *out = d->size;
    return 0;
}

/* One call into the library: bytes read (> 0), or 0 / -1 with the library's text in `text`. */
static ssize_t lib_read(im_disk *d, uint8_t *p, size_t want, uint64_t off, char *text, size_t ntext)
{
    ssize_t n;
    intptr_t *e = NULL;
    if (d->qcow)
        n = libqcow_file_read_buffer_at_offset(d->qcow, p, want, (off64_t)off, (libqcow_error_t **)&e);
    else if (d->vmdk)
        n = libvmdk_handle_read_buffer_at_offset(d->vmdk, p, want, (off64_t)off,
                                                 (libvmdk_error_t **)&e);
    else
        n = libvhdi_file_read_buffer_at_offset(d->vhdi, p, want, (off64_t)off, (libvhdi_error_t **)&e);
    if (n <= 0) {
        if (d->qcow)
            lib_text(text, ntext, QERR(&e));
        else if (d->vmdk)
            lib_text(text, ntext, VMERR(&e));
        else
            lib_text(text, ntext, VHERR(&e));
        if (n == 0)
            snprintf(text, ntext, "the library returned no data: a grain or cluster lies beyond the "
                                  "end of the file");
    } else if (e) {
        lib_text(text, ntext, QERR(&e)); /* not expected; just do not leak it */
    }
    return n;
}

int im_read(im_disk *d, uint64_t off, void *buf, size_t len)
{
    int err;
    uint8_t *p = buf;
    char text[512];
    if ((err = check_range(d, off, len)) < 0)
        return err;
    if (len == 0)
        return 0;
    if (d->format == CR_IMAGE_RAW)
        return raw_read(d, off, p, len);
    if (d->vhd_type == 2 || d->vhd_type == 3)
        return vhd_read(d, off, p, len);
    if (d->qcow && (err = qcow_verify(d, off, len)) < 0)
        return err;
    while (len > 0) {
        size_t want = len > (64u << 20) ? (64u << 20) : len;
        if (d->split && want > d->split - off % d->split)
            want = (size_t)(d->split - off % d->split);
        if (d->vx) {
            /* Our map says where the VMDK holds nothing: zeros without asking libvmdk
             * (which would read ESXi's zeroed grains from sector 1 of the file). */
            int cls;
            uint64_t end;
            if ((err = vmdk_run(d, off, &cls, &end)) < 0)
                return err;
            if (want > end - off)
                want = (size_t)(end - off);
            if (cls == VR_ZERO) {
                memset(p, 0, want);
                p += want;
                off += want;
                len -= want;
                continue;
            }
            if ((err = vmdk_lib_open(d)) < 0)
                return err;
        }
        ssize_t n = lib_read(d, p, want, off, text, sizeof(text));
        if (n > 0) {
            p += n;
            off += (uint64_t)n;
            len -= (size_t)n;
            continue;
        }
        if ((err = check_file_end(d, off)) < 0)
            return err;
        /* Name the first 64 KiB piece that fails, not the start of a large read. */
        uint64_t bad_off = off;
        for (size_t k = 0; k < want;) {
            size_t step = want - k < 65536 ? want - k : 65536;
            char t2[512];
            ssize_t m = lib_read(d, p + k, step, off + k, t2, sizeof(t2));
            if (m <= 0) {
                bad_off = off + k;
                memcpy(text, t2, sizeof(text));
                break;
            }
            k += (size_t)m;
        }
        cr_error_set("%s: %s image cannot be read at offset %llu: it is damaged or truncated (%s)",
                     d->path, cr_image_format_name(d->format), ull(bad_off), text);
        return CR_ECORRUPT;
    }
    return check_file_end(d, off);
}

int im_next_data(im_disk *d, uint64_t off, uint64_t *out)
{
    *out = off;
    if (off >= d->size) {
        *out = d->size;
        return 0;
    }
    if ((d->format == CR_IMAGE_RAW || d->vhd_type == 2) && !d->is_block) {
        /* A fixed VHD is a raw disk followed by its footer. */
        off_t r = lseek(d->fd, (off_t)off, SEEK_DATA);
        if (r < 0) {
            if (errno == ENXIO) { /* no data after off */
                *out = d->size;
                return 0;
            }
            /* Filesystems without SEEK_DATA: every range may hold data. */
            if (errno == EINVAL || errno == EOPNOTSUPP)
                return 0;
            return cr_error_errno("%s: cannot look for data after offset %llu", d->path, ull(off));
        }
        *out = (uint64_t)r < d->size ? (uint64_t)r : d->size;
    } else if (d->qcow) {
        return qcow_next_data(d, off, out);
    } else if (d->vx) {
        return vmdk_next_data(d, off, out);
    } else if (d->alloc) {
        for (uint64_t b = off / d->block; b < d->nblocks; b++) {
            if ((b % 8) == 0 && d->alloc[b / 8] == 0 && b + 8 <= d->nblocks) {
                b += 7; /* eight empty blocks at once */
                continue;
            }
            if (d->alloc[b / 8] & (1u << (b % 8))) {
                *out = b * d->block > off ? b * d->block : off;
                return 0;
            }
        }
        *out = d->size;
    }
    return 0;
}
