/*
 * The files inside a disk image: partition table and filesystems read with
 * The Sleuth Kit (libtsk), turned into vault trees whose files point into the
 * disk's stored 4 MiB chunks, so that no byte is stored twice.
 *
 * libtsk reads the disk through our own image layer (im_disk, via
 * tsk_img_open_external): it never opens a file itself, so every format that
 * disk.c reads (raw, qcow2, VMDK, VHD/VHDX) works the same way here.
 *
 * A regular file's default data attribute is, for ext2/3/4, FAT and plain
 * NTFS files, a list of runs of filesystem blocks. Each run is a range of the
 * disk, so each piece of it inside one 4 MiB chunk becomes an extent
 * {file offset, length, chunk id, offset in the chunk}. Sparse runs, runs
 * past the initialised size (NTFS) and pieces in hole chunks are holes.
 * Whatever is not such a plain range (NTFS resident or compressed data, ext4
 * inline data, encrypted runs, files too fragmented for one tree entry) is
 * read through libtsk and stored as blobs of its own.
 *
 * libtsk is the parser of hostile bytes here; this file trusts none of its
 * answers: run lists are clamped to the file's size and to the volume (a run
 * that points elsewhere reads as zeros, with a warning), folders are followed
 * at most 1024 deep and never twice (loops), names must be safe tree names.
 */
#include "image/image.h"

#include <tsk/libtsk.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sysmacros.h>

/*
 * The filesystem's root is /diskN/pM (or /diskN/fs): a folder at depth d here
 * is at level d + 2 of the snapshot. The first folder deeper than
 * FS_MAX_DEPTH is kept empty, at level CR_TREE_MAX_DEPTH: nothing is stored
 * that a restore could not write back (vault.h).
 */
#define FS_MAX_DEPTH (CR_TREE_MAX_DEPTH - 3)
/* A file with more extents than this is stored as blobs of its own: its tree
 * entry would otherwise approach the largest blob a tree may be (16 MiB). */
#define FS_MAX_FILE_EXTENTS 131072
#define FS_SECTOR 512
/* NTFS metadata files are MFT entries 0..15 (16..23 are reserved). */
#define NTFS_FIRST_USER_ENTRY 24

static atomic_uint_fast64_t fs_walks;

uint64_t im_fs_walk_count(void)
{
    return (uint64_t)atomic_load(&fs_walks);
}

void im_fs_walk_note(uint64_t n)
{
    atomic_fetch_add(&fs_walks, n);
}

/* ------------------------------------------------------------ text */

/* Decode one UTF-8 sequence at s[0..len); returns its length, 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/*
 * A copy of untrusted text (a label, libtsk's error message) that is valid
 * UTF-8 without control characters, without trailing blanks; NULL if empty
 * (or out of memory: the text is optional wherever this is used).
 */
static char *clean_text(const void *data, size_t len)
{
    const unsigned char *s = data;
    char *out, *o;
    size_t i = 0;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0' || s[len - 1] == '\n' ||
                       s[len - 1] == '\r' || s[len - 1] == '\t'))
        len--;
    for (size_t k = 0; k < len; k++)
        if (s[k] == '\0') {
            len = k;
            break;
        }
    if (len == 0 || !(out = malloc(len + 1)))
        return NULL;
    o = out;
    while (i < len) {
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0 || (n == 1 && (s[i] < 0x20 || s[i] == 0x7F))) {
            *o++ = '?';
            i++;
            continue;
        }
        memcpy(o, s + i, n);
        o += n;
        i += n;
    }
    *o = '\0';
    return out;
}

/* UTF-16LE (NTFS volume name) to clean UTF-8; NULL if empty. */
static char *utf16le_text(const uint8_t *p, size_t len)
{
    char *tmp = malloc(len * 2 + 1), *res;
    size_t o = 0;
    if (!tmp)
        return NULL;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint32_t c = (uint32_t)p[i] | ((uint32_t)p[i + 1] << 8);
        if (c >= 0xD800 && c <= 0xDBFF && i + 3 < len) {
            uint32_t lo = (uint32_t)p[i + 2] | ((uint32_t)p[i + 3] << 8);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            } else {
                c = '?';
            }
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = '?';
        }
        if (c == 0)
            break;
        if (c < 0x80) {
            tmp[o++] = (char)c;
        } else if (c < 0x800) {
            tmp[o++] = (char)(0xC0 | (c >> 6));
            tmp[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            tmp[o++] = (char)(0xE0 | (c >> 12));
            tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            tmp[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            tmp[o++] = (char)(0xF0 | (c >> 18));
            tmp[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            tmp[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            tmp[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    res = clean_text(tmp, o);
    free(tmp);
    return res;
}

/* libtsk's last error as clean text (never NULL unless out of memory). */
static char *tsk_message(const char *fallback)
{
    const char *m = tsk_error_get();
    char *s = m ? clean_text(m, strlen(m)) : NULL;
    tsk_error_reset();
    return s ? s : cr_strdup(fallback);
}

/* ------------------------------------------------------------ the image libtsk reads */

typedef struct ext_img {
    TSK_IMG_INFO info; /* first: libtsk casts between the two */
    im_disk *disk;
} ext_img;

static ssize_t ext_img_read(TSK_IMG_INFO *img, TSK_OFF_T off, char *buf, size_t len)
{
    ext_img *e = (ext_img *)img;
    uint64_t size = im_size(e->disk);
    if (off < 0 || (uint64_t)off >= size) {
        tsk_error_reset();
        tsk_error_set_errno(TSK_ERR_IMG_READ);
        tsk_error_set_errstr("read at %lld beyond the end of the disk", (long long)off);
        return -1;
    }
    if (len > size - (uint64_t)off)
        len = (size_t)(size - (uint64_t)off);
    if (im_read(e->disk, (uint64_t)off, buf, len) < 0) {
        tsk_error_reset();
        tsk_error_set_errno(TSK_ERR_IMG_READ);
        tsk_error_set_errstr("%s", cr_error_last());
        return -1;
    }
    return (ssize_t)len;
}

static void ext_img_close(TSK_IMG_INFO *img)
{
    free(img);
}

static void ext_img_stat(TSK_IMG_INFO *img, FILE *f)
{
    (void)img;
    (void)f;
}

static TSK_IMG_INFO *ext_img_open(im_disk *disk)
{
    ext_img *e = calloc(1, sizeof(*e));
    TSK_IMG_INFO *img;
    if (!e)
        return NULL;
    e->disk = disk;
    img = tsk_img_open_external(e, (TSK_OFF_T)im_size(disk), FS_SECTOR, ext_img_read,
                                ext_img_close, ext_img_stat);
    if (!img)
        free(e);
    return img;
}

/* ------------------------------------------------------------ results */

void im_fsresult_clear(im_fsresult *r)
{
    if (!r)
        return;
    free(r->vol.name);
    free(r->vol.fs_type);
    free(r->vol.label);
    free(r->vol.error);
    cr_node_clear(&r->root);
    memset(r, 0, sizeof(*r));
}

static void results_free(im_fsresult *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        im_fsresult_clear(&v[i]);
    free(v);
}

/* ------------------------------------------------------------ the walk of one filesystem */

/* Set of inode numbers (open addressing; key + 1 stored, 0 = empty). */
typedef struct u64set {
    uint64_t *v;
    size_t cap, n;
} u64set;

/* @return 1 if added, 0 if present, CR_ERROR (no memory). */
static int u64set_add(u64set *s, uint64_t key)
{
    uint64_t k = key + 1;
    if (k == 0)
        k = 1; /* UINT64_MAX folds onto 0; a collision only costs a skipped loop check */
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        uint64_t *nv = cr_calloc(ncap, sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->v[i])
                continue;
            size_t j = (size_t)(s->v[i] * 0x9E3779B97F4A7C15ull) & (ncap - 1);
            while (nv[j])
                j = (j + 1) & (ncap - 1);
            nv[j] = s->v[i];
        }
        free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    size_t j = (size_t)(k * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->v[j]) {
        if (s->v[j] == k)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->v[j] = k;
    s->n++;
    return 1;
}

typedef struct walker {
    TSK_FS_INFO *fs;
    im_disk *disk;
    const im_chunkmap *map;
    im_store *st;
    cr_warning_cb warn;
    void *payload;
    im_fsresult *r;
    uint64_t vol_start, vol_end; /* bytes of the disk the filesystem may point into */
    uint64_t dev;                /* tells hard links of different filesystems apart */
    int ntfs, windows;            /* windows: FAT, exFAT or NTFS (names compared without case) */
    u64set seen;                 /* folders already walked */
    cr_buf path;                 /* folder being walked, relative to the volume root */
    uint8_t *buf;                /* CR_IMAGE_CHUNK bytes for data stored on its own */
    cr_extent *ext;              /* the extents of the file being mapped */
    size_t next, capext;
    size_t last_chunk;           /* chunk of ext[next - 1] */
    int clamped;                 /* this file's runs pointed outside the volume */
    int sys_etc, sys_usr, sys_win;
} walker;

static void walk_warn(walker *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void walk_warn(walker *w, const char *name, const char *fmt, ...)
{
    char msg[1024], *path;
    va_list ap;
    w->r->errors++;
    if (!w->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    path = cr_sprintf("%s:%s/%s%s%s", im_path(w->disk), w->r->vol.name,
                      w->path.len ? (const char *)w->path.ptr : "", w->path.len && name ? "/" : "",
                      name ? name : "");
    w->warn(path ? path : im_path(w->disk), msg, w->payload);
    free(path);
}

static int64_t time_ns(time_t s, uint32_t ns)
{
    const int64_t lim = INT64_MAX / 1000000000 - 1;
    int64_t v = (int64_t)s;
    if (v > lim)
        v = lim;
    if (v < -lim)
        v = -lim;
    return v * 1000000000 + (ns < 1000000000u ? (int64_t)ns : 0);
}

static void meta_to_node(walker *w, const TSK_FS_META *m, cr_node *n)
{
    if (w->windows) {
        /* FAT and NTFS have no Unix owner or mode (libtsk says 0777, or 0555
         * when read-only): files come back 0644 (0444 read-only), folders
         * 0755 (Windows ignores the read-only flag of folders), owned by root. */
        if (TSK_FS_IS_DIR_META(m->type))
            n->mode = 0755;
        else
            n->mode = (m->mode & TSK_FS_META_MODE_IWUSR) ? 0644 : 0444;
        n->uid = n->gid = 0;
    } else {
        n->mode = (uint32_t)m->mode & 07777;
        n->uid = (uint32_t)m->uid;
        n->gid = (uint32_t)m->gid;
    }
    n->mtime_ns = time_ns(m->mtime, m->mtime_nano);
    n->atime_ns = time_ns(m->atime, m->atime_nano);
    n->ctime_ns = time_ns(m->ctime, m->ctime_nano);
    n->inode = (uint64_t)m->addr;
    n->dev = w->dev;
    n->nlink = m->nlink > 0 ? (uint64_t)m->nlink : 1;
}

/*
 * Device number of an ext2/3/4 device node. libtsk does not decode it, but
 * keeps the inode's i_block words (one per TSK_DADDR_T): the number is in
 * the first word (old encoding) or the second (new, 32-bit major/minor).
 */
static uint64_t ext_rdev(const TSK_FS_INFO *fs, const TSK_FS_META *m)
{
    const TSK_DADDR_T *w;
    uint32_t a, b;
    if (!TSK_FS_TYPE_ISEXT(fs->ftype) || m->content_type != TSK_FS_META_CONTENT_TYPE_DEFAULT ||
        !m->content_ptr || m->content_len < 2 * sizeof(TSK_DADDR_T))
        return 0;
    w = m->content_ptr;
    a = (uint32_t)(w[0] & 0xffffffffu);
    b = (uint32_t)(w[1] & 0xffffffffu);
    if (a)
        return makedev((a >> 8) & 0xff, a & 0xff);
    return makedev((b >> 8) & 0xfff, (b & 0xff) | ((b >> 12) & 0xfff00));
}

static int ext_push(walker *w, uint64_t off, uint64_t len, const cr_id *id, uint64_t blob_off)
{
    if (w->next == w->capext) {
        size_t ncap = w->capext ? w->capext * 2 : 64;
        cr_extent *nv = cr_realloc(w->ext, ncap * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        w->ext = nv;
        w->capext = ncap;
    }
    w->ext[w->next++] = (cr_extent){off, (uint32_t)len, *id, (uint32_t)blob_off};
    return 0;
}

enum { MAP_OK = 0, MAP_FALLBACK = 1 };

/* Extents for file bytes [fo, fo + len) stored at disk bytes [doff, doff + len). */
static int map_range(walker *w, uint64_t fo, uint64_t doff, uint64_t len)
{
    const im_chunkmap *map = w->map;
    int err;
    if (doff >= w->vol_end || doff < w->vol_start) {
        w->clamped = 1;
        return MAP_OK; /* reads as zeros */
    }
    if (len > w->vol_end - doff) {
        w->clamped = 1;
        len = w->vol_end - doff;
    }
    if (doff >= map->size)
        return MAP_OK;
    if (len > map->size - doff)
        len = map->size - doff;
    while (len > 0) {
        size_t c = (size_t)(doff / CR_IMAGE_CHUNK);
        uint64_t in = doff % CR_IMAGE_CHUNK, piece = CR_IMAGE_CHUNK - in;
        if (piece > len)
            piece = len;
        if (c >= map->n)
            break;
        if (map->present[c]) {
            cr_extent *p = w->next ? &w->ext[w->next - 1] : NULL;
            if (p && w->last_chunk == c && p->offset + p->len == fo && p->blob_off + p->len == in) {
                p->len += (uint32_t)piece;
            } else {
                if (w->next >= FS_MAX_FILE_EXTENTS)
                    return MAP_FALLBACK;
                if ((err = ext_push(w, fo, piece, &map->ids[c], in)) < 0)
                    return err;
                w->last_chunk = c;
            }
        }
        fo += piece;
        doff += piece;
        len -= piece;
    }
    return MAP_OK;
}

/*
 * The extents of a non-resident attribute's first `end` bytes from its run
 * list. @return MAP_OK, MAP_FALLBACK (read it through libtsk instead) or an
 * error.
 */
static int map_runs(walker *w, const TSK_FS_ATTR *a, uint64_t end)
{
    uint64_t bs = w->fs->block_size, pos = 0;
    int err;
    if (bs == 0 || a->nrd.skiplen != 0)
        return MAP_FALLBACK;
    for (const TSK_FS_ATTR_RUN *run = a->nrd.run; run; run = run->next) {
        uint64_t fo, rl, skip = 0;
        if (run->len == 0)
            continue;
        if (run->flags & TSK_FS_ATTR_RUN_FLAG_ENCRYPTED)
            return MAP_FALLBACK;
        if (run->offset > end / bs)
            continue; /* starts past the end (runs may come in any order) */
        fo = run->offset * bs;
        if (fo >= end)
            continue;
        rl = run->len > (end - fo) / bs ? end - fo : run->len * bs;
        if (fo < pos) {
            /* Overlaps bytes already mapped: keep the first mapping. */
            if (fo + rl <= pos)
                continue;
            skip = pos - fo;
        }
        if (!(run->flags & (TSK_FS_ATTR_RUN_FLAG_SPARSE | TSK_FS_ATTR_RUN_FLAG_FILLER))) {
            if (run->addr > (w->vol_end - w->vol_start) / bs) {
                w->clamped = 1; /* starts outside the volume: reads as zeros */
            } else {
                /* vol_start + addr * bs <= vol_end; map_range clamps the length. */
                err = map_range(w, fo + skip, w->vol_start + run->addr * bs + skip, rl - skip);
                if (err != MAP_OK)
                    return err;
            }
        }
        if (fo + rl > pos)
            pos = fo + rl;
    }
    return MAP_OK;
}

static int all_zero(const uint8_t *p, size_t n)
{
    static const uint8_t z[4096];
    while (n >= sizeof(z)) {
        if (memcmp(p, z, sizeof(z)))
            return 0;
        p += sizeof(z);
        n -= sizeof(z);
    }
    return memcmp(p, z, n) == 0;
}

int im_store_blob(im_store *st, const void *data, size_t len, cr_id *out)
{
    size_t stored = 0;
    int err;
    cr_blob_id(out, &st->repo->keys, data, len);
    if (!cr_index_claim(st->idx, out))
        return 0;
    if ((err = cr_packer_add(st->packer, CR_BLOB_DATA, out, data, len, &stored)) < 0) {
        cr_index_unclaim(st->idx, out);
        return err;
    }
    st->bytes_new += stored;
    if (cr_packer_size(st->packer) >= CR_PACK_TARGET && (err = cr_packer_flush(st->packer)) < 0)
        return err;
    return 0;
}

int im_store_tree(im_store *st, const cr_tree *t, cr_id *out)
{
    int err;
    if ((err = cr_tree_save(out, st->repo, st->packer, t)) < 0)
        return err;
    if (cr_packer_size(st->packer) >= CR_PACK_TARGET)
        err = cr_packer_flush(st->packer);
    return err;
}

enum { READ_OK = 0, READ_FAILED = 1 };

/*
 * Read the first `end` bytes of an attribute through libtsk and store them
 * as blobs of their own (all-zero pieces are holes).
 * @return READ_OK, READ_FAILED (warned) or a vault error.
 */
static int store_read(walker *w, const TSK_FS_ATTR *a, uint64_t end, const char *name)
{
    im_store *st = w->st;
    int err;
    if (!w->buf && !(w->buf = cr_malloc(CR_IMAGE_CHUNK)))
        return CR_ERROR;
    for (uint64_t off = 0; off < end;) {
        size_t piece = end - off < CR_IMAGE_CHUNK ? (size_t)(end - off) : CR_IMAGE_CHUNK;
        ssize_t got = tsk_fs_attr_read(a, (TSK_OFF_T)off, (char *)w->buf, piece,
                                       TSK_FS_FILE_READ_FLAG_NONE);
        if (got != (ssize_t)piece) {
            char *m = tsk_message("short read");
            walk_warn(w, name, "cannot read the file at offset %llu (%s): left out",
                      (unsigned long long)off, m ? m : "");
            free(m);
            return READ_FAILED;
        }
        if (!all_zero(w->buf, piece)) {
            cr_id id;
            err = st->put_blob ? st->put_blob(st->ud, w->buf, piece, &id)
                               : im_store_blob(st, w->buf, piece, &id);
            if (err < 0)
                return err;
            if ((err = ext_push(w, off, piece, &id, 0)) < 0)
                return err;
        }
        off += piece;
    }
    return READ_OK;
}

/*
 * Fill n->content for a regular file. @return 0 (n->content set, or the
 * file unreadable: *skip = 1, warned) or a vault error.
 */
static int file_content(walker *w, TSK_FS_FILE *f, cr_node *n, const char *name, int *skip)
{
    const TSK_FS_ATTR *a;
    uint64_t end;
    int err, plain;

    *skip = 0;
    w->next = 0;
    w->clamped = 0;
    if (n->size == 0)
        return 0;
    if (!(a = tsk_fs_file_attr_get(f))) {
        char *m = tsk_message("no data attribute");
        walk_warn(w, name, "cannot find the file's data (%s): left out", m ? m : "");
        free(m);
        *skip = 1;
        return 0;
    }
    end = n->size;
    if (a->size >= 0 && (uint64_t)a->size < end)
        end = (uint64_t)a->size; /* the rest reads as zeros */

    plain = (a->flags & TSK_FS_ATTR_NONRES) && !(a->flags & (TSK_FS_ATTR_COMP | TSK_FS_ATTR_ENC)) &&
            w->fs->block_pre_size == 0 && w->fs->block_post_size == 0 && !w->fs->decrypt_block &&
            f->meta->content_type != TSK_FS_META_CONTENT_TYPE_EXT4_INLINE;
    if (plain) {
        uint64_t data_end = end;
        /* Bytes past the initialised size read as zeros (NTFS). */
        if (a->nrd.initsize >= 0 && (uint64_t)a->nrd.initsize < data_end)
            data_end = (uint64_t)a->nrd.initsize;
        err = map_runs(w, a, data_end);
        if (err < 0)
            return err;
        if (err == MAP_OK) {
            if (w->clamped)
                walk_warn(w, name,
                          "its block list points outside its filesystem: those bytes are "
                          "stored as zeros");
            goto done;
        }
        w->next = 0; /* MAP_FALLBACK */
    }
    if ((err = store_read(w, a, end, name)) < 0)
        return err;
    if (err == READ_FAILED) {
        *skip = 1;
        return 0;
    }
done:
    if (w->next) {
        if (!(n->content = cr_malloc(w->next * sizeof(cr_extent))))
            return CR_ERROR;
        memcpy(n->content, w->ext, w->next * sizeof(cr_extent));
        n->ncontent = w->next;
    }
    return 0;
}

/* The nodes of one folder being built. */
typedef struct nodelist {
    cr_node *v;
    size_t n, cap;
} nodelist;

static void nodelist_free(nodelist *l)
{
    for (size_t i = 0; i < l->n; i++)
        cr_node_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static cr_node *nodelist_add(nodelist *l)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        cr_node *nv = cr_realloc(l->v, ncap * sizeof(*nv));
        if (!nv)
            return NULL;
        l->v = nv;
        l->cap = ncap;
    }
    memset(&l->v[l->n], 0, sizeof(cr_node));
    return &l->v[l->n++];
}

typedef struct order {
    const char *name;
    size_t idx;
} order;

static int order_cmp(const void *a, const void *b)
{
    const order *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sort by name; of entries with the same name keep the first listed (warned). */
static int save_folder(walker *w, nodelist *l, cr_id *out)
{
    order *o = NULL;
    cr_node *v = NULL;
    size_t k = 0;
    int err = 0;
    cr_tree t;

    if (l->n && (!(o = cr_malloc(l->n * sizeof(*o))) || !(v = cr_malloc(l->n * sizeof(*v))))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < l->n; i++)
        o[i] = (order){l->v[i].name, i};
    if (l->n)
        qsort(o, l->n, sizeof(*o), order_cmp);
    for (size_t i = 0; i < l->n; i++) {
        if (k && strcmp(v[k - 1].name, o[i].name) == 0) {
            cr_node *d = &l->v[o[i].idx];
            walk_warn(w, o[i].name, "a second entry of the same name in its folder: left out");
            if (d->type == CR_NODE_FILE) {
                w->r->vol.files--;
                w->r->bytes -= d->size;
            } else if (d->type == CR_NODE_DIR) {
                w->r->dirs--;
            } else {
                w->r->others--;
            }
            cr_node_clear(d);
            continue;
        }
        v[k++] = l->v[o[i].idx];
    }
    free(l->v);
    l->v = v;
    l->n = k;
    l->cap = l->n;
    v = NULL;
    t.nodes = l->v;
    t.count = l->n;
    cr_tree_sort(&t);
    err = w->st->put_tree ? w->st->put_tree(w->st->ud, &t, out) : im_store_tree(w->st, &t, out);
done:
    free(o);
    free(v);
    return err;
}

/*
 * A symbolic link's target: libtsk fills meta->link for most links; a slow
 * ext4 link kept in an extent-mapped block is read as the link's content.
 * NULL if empty, unreadable, longer than CR_MAX_LINK or holding a NUL.
 */
static char *link_target(TSK_FS_FILE *f)
{
    const TSK_FS_META *m = f->meta;
    char *t;
    ssize_t got;
    if (m->link && m->link[0])
        return strlen(m->link) <= CR_MAX_LINK ? cr_strdup(m->link) : NULL;
    if (m->size <= 0 || m->size > CR_MAX_LINK || !(t = cr_malloc((size_t)m->size + 1)))
        return NULL;
    got = tsk_fs_file_read(f, 0, t, (size_t)m->size, TSK_FS_FILE_READ_FLAG_NONE);
    tsk_error_reset();
    if (got != (ssize_t)m->size || memchr(t, '\0', (size_t)m->size)) {
        free(t);
        return NULL;
    }
    t[m->size] = '\0';
    return t;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static int name_eq(const walker *w, const char *a, const char *b)
{
    return w->windows ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static int walk_dir(walker *w, TSK_FS_DIR *dir, int depth, int windows_dir, cr_id *out);

/* Walk the folder at inode `inum` (named `name` in the current folder). */
static int walk_child(walker *w, TSK_INUM_T inum, const char *name, int depth, cr_node *n)
{
    size_t saved = w->path.len;
    TSK_FS_DIR *dir = NULL;
    int err = 0, windows = 0;
    nodelist empty = {0};

    if (w->path.len && (err = cr_buf_put(&w->path, "/", 1)) < 0)
        goto done;
    if ((err = cr_buf_put(&w->path, name, strlen(name) + 1)) < 0)
        goto done;
    w->path.len--; /* keep the NUL after the end */
    if (depth + 1 > FS_MAX_DEPTH) {
        w->path.len = saved;
        w->path.ptr[saved] = '\0';
        walk_warn(w, name, "folders nested deeper than %d: its contents are left out",
                  FS_MAX_DEPTH);
        goto empty;
    }
    if (!(dir = tsk_fs_dir_open_meta(w->fs, inum))) {
        char *m = tsk_message("cannot open the folder");
        w->path.len = saved;
        w->path.ptr[saved] = '\0';
        walk_warn(w, name, "cannot read the folder (%s): its contents are left out", m ? m : "");
        free(m);
        goto empty;
    }
    windows = depth == 0 && name_eq(w, name, "Windows");
    err = walk_dir(w, dir, depth + 1, windows, &n->subtree);
    n->has_subtree = err == 0;
    goto done;
empty:
    err = save_folder(w, &empty, &n->subtree);
    n->has_subtree = err == 0;
done:
    if (dir)
        tsk_fs_dir_close(dir);
    w->path.len = saved;
    if (w->path.ptr)
        w->path.ptr[saved] = '\0';
    return err;
}

/* Build and save the tree of an open folder (depth 0 = the filesystem's root). */
static int walk_dir(walker *w, TSK_FS_DIR *dir, int depth, int windows_dir, cr_id *out)
{
    nodelist l = {0};
    size_t count = tsk_fs_dir_getsize(dir);
    int err = 0;

    for (size_t i = 0; i < count; i++) {
        TSK_FS_FILE *f = tsk_fs_dir_get(dir, i);
        const TSK_FS_META *m;
        const char *nm;
        cr_node *n;
        cr_node_type type;
        TSK_INUM_T child = 0;
        char *target = NULL;
        int skip = 0;

        if (!f) {
            const TSK_FS_NAME *fn = tsk_fs_dir_get_name(dir, i);
            if (fn && (fn->flags & TSK_FS_NAME_FLAG_ALLOC) && fn->name &&
                strcmp(fn->name, ".") && strcmp(fn->name, "..") && cr_name_is_safe(fn->name)) {
                char *msg = tsk_message("cannot read its metadata");
                walk_warn(w, fn->name, "cannot read the entry (%s): left out", msg ? msg : "");
                free(msg);
            }
            tsk_error_reset();
            continue;
        }
        if (!f->name || !(f->name->flags & TSK_FS_NAME_FLAG_ALLOC) || !f->name->name)
            goto next;
        nm = f->name->name;
        if (!strcmp(nm, ".") || !strcmp(nm, ".."))
            goto next;
        if (!(m = f->meta)) {
            if (cr_name_is_safe(nm))
                walk_warn(w, nm, "the entry has no readable metadata: left out");
            goto next;
        }
        if (m->type == TSK_FS_META_TYPE_VIRT || m->type == TSK_FS_META_TYPE_VIRT_DIR)
            goto next; /* $OrphanFiles, $FAT1, $MBR...: libtsk's own */
        if (depth == 0 && w->ntfs && nm[0] == '$' && m->addr < NTFS_FIRST_USER_ENTRY)
            goto next; /* $MFT, $LogFile, $Bitmap, $Extend... */
        if (depth == 0 && w->windows && !w->ntfs && m->size == 0 &&
            ends_with(nm, " (Volume Label Entry)"))
            goto next; /* how libtsk lists a FAT volume label */
        if (!cr_name_is_safe(nm) || strlen(nm) > CR_MAX_NAME) {
            walk_warn(w, NULL, "an entry with a name that cannot be a file name (\"%.64s\"): left "
                      "out", nm);
            goto next;
        }
        switch (m->type) {
        case TSK_FS_META_TYPE_REG: type = CR_NODE_FILE; break;
        case TSK_FS_META_TYPE_DIR: type = CR_NODE_DIR; break;
        case TSK_FS_META_TYPE_LNK: type = CR_NODE_SYMLINK; break;
        case TSK_FS_META_TYPE_FIFO: type = CR_NODE_FIFO; break;
        case TSK_FS_META_TYPE_CHR: type = CR_NODE_CHARDEV; break;
        case TSK_FS_META_TYPE_BLK: type = CR_NODE_BLOCKDEV; break;
        case TSK_FS_META_TYPE_SOCK: type = CR_NODE_SOCKET; break;
        default:
            walk_warn(w, nm, "an entry of a type this program does not keep (%d): left out",
                      (int)m->type);
            goto next;
        }
        if (type == CR_NODE_SYMLINK && !(target = link_target(f))) {
            walk_warn(w, nm, "a symbolic link whose target cannot be read: left out");
            goto next;
        }
        if (type == CR_NODE_DIR) {
            int added = u64set_add(&w->seen, (uint64_t)m->addr);
            if (added < 0) {
                err = added;
                tsk_fs_file_close(f);
                goto done;
            }
            if (!added) {
                walk_warn(w, nm, "a folder already listed elsewhere (a loop in the "
                          "filesystem): left out");
                goto next;
            }
            child = m->addr;
        }
        if (!(n = nodelist_add(&l)) || !(n->name = cr_strdup(nm))) {
            err = CR_ERROR;
            free(target);
            tsk_fs_file_close(f);
            goto done;
        }
        n->type = type;
        meta_to_node(w, m, n);
        if (type == CR_NODE_SYMLINK) {
            n->link_target = target;
            target = NULL;
        }
        if (type == CR_NODE_CHARDEV || type == CR_NODE_BLOCKDEV)
            n->rdev = ext_rdev(w->fs, m);
        if (type == CR_NODE_FILE) {
            n->size = m->size > 0 ? (uint64_t)m->size : 0;
            if ((err = file_content(w, f, n, nm, &skip)) < 0) {
                tsk_fs_file_close(f);
                goto done;
            }
            if (skip) {
                cr_node_clear(n);
                l.n--;
                goto next;
            }
            w->r->vol.files++;
            w->r->bytes += n->size;
        } else if (type == CR_NODE_DIR) {
            w->r->dirs++;
        } else {
            w->r->others++;
        }
        if (depth == 0) {
            if (name_eq(w, nm, "etc") && type == CR_NODE_DIR)
                w->sys_etc = 1;
            if ((name_eq(w, nm, "usr") && type == CR_NODE_DIR) ||
                (name_eq(w, nm, "bin") && (type == CR_NODE_DIR || type == CR_NODE_SYMLINK)))
                w->sys_usr = 1;
        }
        if (windows_dir && depth == 1 && type == CR_NODE_DIR && name_eq(w, nm, "System32"))
            w->sys_win = 1;
    next:
        free(target);
        tsk_fs_file_close(f);
        if (child) {
            /* The folder's entries, after its file handle is closed. */
            char *cname = cr_strdup(l.v[l.n - 1].name);
            if (!cname) {
                err = CR_ERROR;
                goto done;
            }
            err = walk_child(w, child, cname, depth, &l.v[l.n - 1]);
            free(cname);
            if (err < 0)
                goto done;
        }
    }
    err = save_folder(w, &l, out);
done:
    nodelist_free(&l);
    return err;
}

/* ------------------------------------------------------------ volumes */

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The filesystem's own label, if cheap to find (ext, FAT, NTFS). */
static char *fs_label(TSK_FS_INFO *fs)
{
    char buf[16];
    if (TSK_FS_TYPE_ISEXT(fs->ftype)) {
        if (tsk_fs_read(fs, 1024 + 120, buf, 16) == 16)
            return clean_text(buf, 16);
    } else if (TSK_FS_TYPE_ISFAT(fs->ftype) && fs->ftype != TSK_FS_TYPE_EXFAT) {
        char *s;
        if (tsk_fs_read(fs, fs->ftype == TSK_FS_TYPE_FAT32 ? 0x47 : 0x2B, buf, 11) != 11)
            return NULL;
        s = clean_text(buf, 11);
        if (s && strcmp(s, "NO NAME") == 0) {
            free(s);
            s = NULL;
        }
        return s;
    } else if (TSK_FS_TYPE_ISNTFS(fs->ftype)) {
        TSK_FS_FILE *f = tsk_fs_file_open_meta(fs, NULL, 3); /* $Volume */
        const TSK_FS_ATTR *a;
        char *s = NULL;
        if (!f)
            return NULL;
        a = tsk_fs_file_attr_get_type(f, TSK_FS_ATTR_TYPE_NTFS_VNAME, 0, 0);
        if (a && (a->flags & TSK_FS_ATTR_RES) && a->rd.buf && a->size > 0 &&
            (uint64_t)a->size <= a->rd.buf_size && a->size <= 1024)
            s = utf16le_text(a->rd.buf, (size_t)a->size);
        tsk_fs_file_close(f);
        return s;
    }
    tsk_error_reset();
    return NULL;
}

/* What lies in a volume libtsk does not read, from its first bytes b[0..n). */
static const char *sniff_bytes(im_disk *disk, uint64_t start, uint64_t length, const uint8_t *b,
                               size_t n)
{
    uint8_t s[8];
    if (!memcmp(b, "XFSB", 4))
        return "XFS (not read by the installed Sleuth Kit)";
    if (!memcmp(b, "LUKS\xba\xbe", 6))
        return "LUKS encrypted volume";
    if (!memcmp(b + 3, "-FVE-FS-", 8))
        return "BitLocker encrypted volume";
    if (!memcmp(b, "LABELONE", 8) || (n >= 1024 && !memcmp(b + 512, "LABELONE", 8)))
        return "LVM physical volume";
    if (n >= 4096 && (!memcmp(b + 4086, "SWAPSPACE2", 10) || !memcmp(b + 4086, "SWAP-SPACE", 10)))
        return "swap space";
    if (length >= 65536 + 64 + 8 && im_read(disk, start + 65536 + 64, s, 8) == 0 &&
        !memcmp(s, "_BHRfS_M", 8))
        return "Btrfs (not read by the installed Sleuth Kit)";
    if (all_zero(b, n))
        return "its first bytes are zeros";
    return NULL;
}

static const char *sniff(im_disk *disk, uint64_t start, uint64_t length)
{
    enum { SNIFF = 65536 };
    uint8_t *b = NULL;
    const char *what = NULL;
    size_t n = length < SNIFF ? (size_t)length : SNIFF;
    if (n < 512 || !(b = malloc(SNIFF)) || im_read(disk, start, b, n) < 0) {
        free(b);
        return NULL;
    }
    what = sniff_bytes(disk, start, length, b, n);
    free(b);
    return what;
}

typedef struct ctx {
    im_disk *disk;
    TSK_IMG_INFO *img;
    const im_chunkmap *map, *parent_map;
    const im_fsresult *parent_vols;
    size_t nparent;
    im_store *st;
    cr_warning_cb warn;
    void *payload;
} ctx;

static void vol_warn(ctx *c, const im_fsresult *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vol_warn(ctx *c, const im_fsresult *r, const char *fmt, ...)
{
    char msg[1024], *path;
    va_list ap;
    if (!c->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    path = cr_sprintf("%s:%s", im_path(c->disk), r->vol.name);
    c->warn(path ? path : im_path(c->disk), msg, c->payload);
    free(path);
}

/* Same chunks in [start, start + length) in both maps. */
static int range_unchanged(const im_chunkmap *a, const im_chunkmap *b, uint64_t start,
                           uint64_t length)
{
    if (length == 0)
        return 0;
    uint64_t first = start / CR_IMAGE_CHUNK, last = (start + length - 1) / CR_IMAGE_CHUNK;
    if (last >= a->n || last >= b->n)
        return 0;
    for (uint64_t i = first; i <= last; i++) {
        if (!a->present[i] != !b->present[i])
            return 0;
        if (a->present[i] && memcmp(&a->ids[i], &b->ids[i], sizeof(cr_id)))
            return 0;
    }
    return 1;
}

static int is_windows_fs(const char *fs_type)
{
    return fs_type && (!strcmp(fs_type, "ntfs") || !strncmp(fs_type, "fat", 3) ||
                       !strcmp(fs_type, "exfat"));
}

static int node_is(const cr_node *n, const char *name, int fold)
{
    return n->name && (fold ? strcasecmp(n->name, name) == 0 : strcmp(n->name, name) == 0);
}

/*
 * Counts of a stored tree (folders, other nodes, bytes of files), for a
 * volume taken from a parent whose counts the caller did not know (they are
 * not in the snapshot file). @return 0 or an error (tree unreadable).
 */
static int tree_counts(cr_repo *repo, const cr_id *id, int depth, im_fsresult *r)
{
    cr_tree *t = NULL;
    int err;
    if ((err = cr_tree_load(&t, repo, id)) < 0)
        return err;
    for (size_t i = 0; i < t->count && err == 0; i++) {
        const cr_node *n = &t->nodes[i];
        if (n->type == CR_NODE_FILE) {
            r->bytes += n->size;
        } else if (n->type == CR_NODE_DIR) {
            r->dirs++;
            if (n->has_subtree && depth < FS_MAX_DEPTH)
                err = tree_counts(repo, &n->subtree, depth + 1, r);
        } else {
            r->others++;
        }
    }
    cr_tree_free(t);
    return err;
}

/* The is_system test of the walk, on a stored tree. @return 0/1 or an error. */
static int tree_is_system(cr_repo *repo, const cr_id *root, int fold)
{
    cr_tree *t = NULL, *win = NULL;
    int err, etc = 0, usr = 0, sys = 0;
    if ((err = cr_tree_load(&t, repo, root)) < 0)
        return err;
    for (size_t i = 0; i < t->count; i++) {
        const cr_node *n = &t->nodes[i];
        etc |= n->type == CR_NODE_DIR && node_is(n, "etc", fold);
        usr |= (n->type == CR_NODE_DIR && node_is(n, "usr", fold)) ||
               ((n->type == CR_NODE_DIR || n->type == CR_NODE_SYMLINK) && node_is(n, "bin", fold));
        if (!sys && n->type == CR_NODE_DIR && n->has_subtree && node_is(n, "Windows", fold) &&
            cr_tree_load(&win, repo, &n->subtree) == 0) {
            for (size_t k = 0; k < win->count; k++)
                sys |= win->nodes[k].type == CR_NODE_DIR && node_is(&win->nodes[k], "System32", fold);
            cr_tree_free(win);
            win = NULL;
        }
    }
    cr_tree_free(t);
    return (etc && usr) || sys;
}

/*
 * A volume whose chunks are all those of a parent's volume of the same name
 * and place has the parent's tree. Not when the parent left entries out
 * (errors): walking again repeats the warnings instead of hiding them.
 * @return 1 (r filled), 0 (walk it), or an error.
 */
int im_fs_reuse(im_fsresult *r, cr_repo *repo, const im_chunkmap *map,
                const im_chunkmap *parent_map, const im_fsresult *parent_vols, size_t nparent)
{
    if (!parent_map || !parent_vols)
        return 0;
    for (size_t i = 0; i < nparent; i++) {
        const im_fsresult *p = &parent_vols[i];
        im_fsresult got;
        int sys;
        if (!p->has_tree || !p->vol.name || strcmp(p->vol.name, r->vol.name) ||
            p->vol.start != r->vol.start || p->vol.length != r->vol.length)
            continue;
        if (p->errors || !range_unchanged(map, parent_map, r->vol.start, r->vol.length))
            return 0;
        /* Counts and is_system: the parent's, or read from its stored tree when
         * the caller took the parent from a snapshot file (which has neither).
         * A stored tree that cannot be read: walk the filesystem instead. */
        memset(&got, 0, sizeof(got));
        got.dirs = p->dirs;
        got.others = p->others;
        got.bytes = p->bytes;
        if (!p->dirs && !p->others && !p->bytes && p->vol.files &&
            tree_counts(repo, &p->tree, 0, &got) < 0)
            return 0;
        sys = p->is_system;
        if (!sys && (sys = tree_is_system(repo, &p->tree, is_windows_fs(p->vol.fs_type))) < 0)
            return 0;
        if ((p->vol.fs_type && !(r->vol.fs_type = cr_strdup(p->vol.fs_type))) ||
            (p->vol.label && !(r->vol.label = cr_strdup(p->vol.label))) ||
            cr_node_copy(&r->root, &p->root) < 0)
            return CR_ERROR;
        free(r->root.name);
        if (!(r->root.name = cr_strdup(r->vol.name)))
            return CR_ERROR;
        r->vol.files = p->vol.files;
        r->has_tree = 1;
        r->tree = p->tree;
        r->root.has_subtree = 1;
        r->root.subtree = p->tree;
        r->dirs = got.dirs;
        r->others = got.others;
        r->bytes = got.bytes;
        r->is_system = sys;
        return 1;
    }
    return 0;
}

/* Read one volume's filesystem into r (name, start, length set). */
/*
 * 1 if a partition's type (libtsk's description of it) says it holds a
 * filesystem we read: then finding none is damage worth a warning. Other
 * partitions (Microsoft reserved, BIOS boot, swap, LVM, RAID...) are often
 * empty or not filesystems at all, and are only recorded.
 */
static int expects_fs(const char *desc)
{
    static const char *const kinds[] = {"linux filesystem", "basic data", "efi system",
                                        "(0x83)", "(0x07)", "(0x0b)", "(0x0c)",
                                        "(0x06)", "(0x0e)", "(0xef)"};
    if (!desc)
        return 0;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcasestr(desc, kinds[i]))
            return 1;
    return 0;
}

/*
 * 1 if a volume of at least 8 MiB has data in a chunk that lies wholly inside
 * it. GPT gives libtsk no partition type, only a name: a partition that holds
 * data but no filesystem we know is then worth a warning (a damaged
 * filesystem), while an empty one (Microsoft reserved) and a small one (BIOS
 * boot, with GRUB's code) are not.
 */
static int holds_data(const im_chunkmap *map, uint64_t start, uint64_t length)
{
    if (!map || length < 8u * 1024 * 1024 || start > map->size || length > map->size - start)
        return 0;
    uint64_t first = (start + CR_IMAGE_CHUNK - 1) / CR_IMAGE_CHUNK;
    uint64_t end = (start + length) / CR_IMAGE_CHUNK; /* exclusive */
    for (uint64_t i = first; i < end && i < map->n; i++)
        if (map->present[i])
            return 1;
    return 0;
}

static int read_volume(ctx *c, im_fsresult *r, const char *part_label, int expect_fs)
{
    TSK_FS_INFO *fs = NULL;
    TSK_FS_FILE *rootf = NULL;
    TSK_FS_DIR *rootd = NULL;
    walker w;
    int err = 0;

    memset(&w, 0, sizeof(w));
    /* In the sandbox the parent, which holds the vault, decides (and keeps its result). */
    err = c->st->reuse ? c->st->reuse(c->st->ud, r)
                       : im_fs_reuse(r, c->st->repo, c->map, c->parent_map, c->parent_vols,
                                     c->nparent);
    if (err != 0) {
        r->reused = err > 0 && c->st->reuse;
        return err < 0 ? err : 0;
    }

    tsk_error_reset();
    fs = tsk_fs_open_img(c->img, (TSK_OFF_T)r->vol.start, TSK_FS_TYPE_DETECT);
    if (fs && (fs->ftype == TSK_FS_TYPE_SWAP || fs->ftype == TSK_FS_TYPE_RAW)) {
        tsk_fs_close(fs);
        fs = NULL;
        tsk_error_reset();
        tsk_error_set_errno(TSK_ERR_FS_UNKTYPE);
    }
    if (!fs) {
        uint32_t code = tsk_error_get_errno();
        const char *what = sniff(c->disk, r->vol.start, r->vol.length);
        if (part_label && !(r->vol.label = cr_strdup(part_label)))
            return CR_ERROR;
        if (code == TSK_ERR_FS_UNKTYPE || code == 0 || what) {
            /* Not an error of the backup: the disk itself is complete. */
            tsk_error_reset();
            r->vol.error = what ? cr_sprintf("no filesystem recognised (%s; LVM, LUKS, "
                                             "BitLocker, swap and XFS are not read)",
                                             what)
                                : cr_strdup("no filesystem recognised (LVM, LUKS, BitLocker, "
                                            "swap and XFS are not read)");
            if (!r->vol.error)
                return CR_ERROR;
            if (!what && (expect_fs || holds_data(c->map, r->vol.start, r->vol.length)))
                vol_warn(c, r, "the partition table says this partition holds a filesystem, "
                               "but none was recognised (damaged?); its files are not listed "
                               "(the disk itself is backed up)");
            return 0;
        }
        char *m = tsk_message("cannot open the filesystem");
        r->vol.error = cr_sprintf("damaged filesystem: %s", m ? m : "");
        free(m);
        if (!r->vol.error)
            return CR_ERROR;
        vol_warn(c, r, "%s; its files are not listed (the disk itself is backed up)",
                 r->vol.error);
        return 0;
    }

    {
        const char *tn = tsk_fs_type_toname(fs->ftype);
        if (!(r->vol.fs_type = cr_strdup(tn ? tn : "unknown"))) {
            err = CR_ERROR;
            goto done;
        }
        for (char *p = r->vol.fs_type; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    r->vol.label = fs_label(fs);
    if (!r->vol.label && part_label && !(r->vol.label = cr_strdup(part_label))) {
        err = CR_ERROR;
        goto done;
    }

    atomic_fetch_add(&fs_walks, 1);
    w.fs = fs;
    w.disk = c->disk;
    w.map = c->map;
    w.st = c->st;
    w.warn = c->warn;
    w.payload = c->payload;
    w.r = r;
    w.vol_start = r->vol.start;
    w.vol_end = r->vol.start + r->vol.length;
    w.ntfs = TSK_FS_TYPE_ISNTFS(fs->ftype) != 0;
    w.windows = w.ntfs || TSK_FS_TYPE_ISFAT(fs->ftype);
    w.dev = fnv1a(0xcbf29ce484222325ull, fs->fs_id, fs->fs_id_used < sizeof(fs->fs_id)
                                                         ? fs->fs_id_used
                                                         : sizeof(fs->fs_id));
    w.dev = fnv1a(w.dev, &r->vol.start, sizeof(r->vol.start));

    if (!(rootf = tsk_fs_file_open_meta(fs, NULL, fs->root_inum)) || !rootf->meta ||
        !TSK_FS_IS_DIR_META(rootf->meta->type) ||
        !(rootd = tsk_fs_dir_open_meta(fs, fs->root_inum))) {
        char *m = tsk_message("it is not a folder");
        r->vol.error = cr_sprintf("damaged filesystem: cannot read its root folder: %s",
                                  m ? m : "");
        free(m);
        if (!r->vol.error) {
            err = CR_ERROR;
            goto done;
        }
        vol_warn(c, r, "%s; its files are not listed (the disk itself is backed up)",
                 r->vol.error);
        goto done;
    }
    r->root.type = CR_NODE_DIR;
    meta_to_node(&w, rootf->meta, &r->root);
    if (!(r->root.name = cr_strdup(r->vol.name))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = u64set_add(&w.seen, (uint64_t)fs->root_inum)) < 0)
        goto done;
    if ((err = walk_dir(&w, rootd, 0, 0, &r->tree)) < 0)
        goto done;
    r->has_tree = 1;
    r->root.has_subtree = 1;
    r->root.subtree = r->tree;
    r->is_system = (w.sys_etc && w.sys_usr) || w.sys_win;
done:
    if (rootd)
        tsk_fs_dir_close(rootd);
    if (rootf)
        tsk_fs_file_close(rootf);
    tsk_fs_close(fs);
    tsk_error_reset();
    free(w.seen.v);
    cr_buf_free(&w.path);
    free(w.buf);
    free(w.ext);
    return err;
}

static int add_result(im_fsresult **v, size_t *n, size_t *cap, const char *name, uint64_t start,
                      uint64_t length, im_fsresult **out)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        im_fsresult *nv = cr_realloc(*v, ncap * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        *v = nv;
        *cap = ncap;
    }
    im_fsresult *r = &(*v)[*n];
    memset(r, 0, sizeof(*r));
    if (!(r->vol.name = cr_strdup(name)))
        return CR_ERROR;
    r->vol.start = start;
    r->vol.length = length;
    (*n)++;
    *out = r;
    return 0;
}

static int protective_mbr(im_disk *disk)
{
    uint8_t mbr[512];
    if (im_size(disk) < sizeof(mbr) || im_read(disk, 0, mbr, sizeof(mbr)) < 0)
        return 0;
    if (mbr[510] != 0x55 || mbr[511] != 0xAA)
        return 0;
    for (int i = 0; i < 4; i++)
        if (mbr[446 + 16 * i + 4] == 0xEE)
            return 1;
    return 0;
}

/* Partition number as Linux names it (/dev/sdaN). */
static int part_number(const TSK_VS_INFO *vs, const TSK_VS_PART_INFO *p)
{
    if (vs->vstype == TSK_VS_TYPE_DOS && p->table_num > 0)
        return 4 + p->table_num; /* logical: one per extended boot record, from 5 */
    return p->slot_num + 1;
}

int im_fs_read(im_fsresult **out, size_t *nout, char **ptable, im_disk *disk,
               const im_chunkmap *map, const im_chunkmap *parent_map,
               const im_fsresult *parent_vols, size_t nparent, im_store *st,
               cr_warning_cb warn, void *payload)
{
    ctx c = {disk, NULL, map, parent_map, parent_vols, nparent, st, warn, payload};
    TSK_VS_INFO *vs = NULL;
    im_fsresult *v = NULL, *r;
    size_t n = 0, cap = 0;
    uint64_t size = im_size(disk);
    int err = 0;

    *out = NULL;
    *nout = 0;
    *ptable = NULL;
    tsk_error_reset();
    if (!(c.img = ext_img_open(disk))) {
        char *m = tsk_message("out of memory");
        cr_error_set("%s: cannot hand the disk to The Sleuth Kit: %s", im_path(disk), m ? m : "");
        free(m);
        return CR_ERROR;
    }
    /* A protective MBR (an entry of type 0xEE) means GPT, as for Linux. Asking
     * for GPT directly also spares libtsk's detection, which reads such a
     * disk as MBR and GPT both and leaks the MBR's partition list. */
    if (protective_mbr(disk))
        vs = tsk_vs_open(c.img, 0, TSK_VS_TYPE_GPT);
    if (!vs) {
        tsk_error_reset();
        vs = tsk_vs_open(c.img, 0, TSK_VS_TYPE_DETECT);
    }
    tsk_error_reset();

    if (vs) {
        const char *tn = vs->vstype == TSK_VS_TYPE_DOS   ? "dos"
                         : vs->vstype == TSK_VS_TYPE_GPT ? "gpt"
                                                         : tsk_vs_type_toname(vs->vstype);
        if (!(*ptable = cr_strdup(tn ? tn : "unknown"))) {
            err = CR_ERROR;
            goto done;
        }
        for (char *p = *ptable; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        for (TSK_PNUM_T i = 0; i < vs->part_count; i++) {
            const TSK_VS_PART_INFO *p = tsk_vs_part_get(vs, i);
            char name[32];
            uint64_t start, length, bs = vs->block_size ? vs->block_size : FS_SECTOR;
            int dup = 0;
            if (!p || !(p->flags & TSK_VS_PART_FLAG_ALLOC) || p->len == 0)
                continue;
            snprintf(name, sizeof(name), "p%d", part_number(vs, p));
            for (size_t k = 0; k < n; k++)
                dup |= strcmp(v[k].vol.name, name) == 0;
            if (p->start > (UINT64_MAX - vs->offset) / bs || p->len > UINT64_MAX / bs) {
                start = UINT64_MAX;
                length = 0;
            } else {
                start = vs->offset + p->start * bs;
                length = p->len * bs;
            }
            if (dup || start >= size) {
                if (warn) {
                    char path[512];
                    snprintf(path, sizeof(path), "%s:%s", im_path(disk), name);
                    warn(path,
                         dup ? "the partition table lists this partition number twice: the "
                               "second is not read"
                             : "the partition starts beyond the end of the disk: not read",
                         payload);
                }
                continue;
            }
            if (length > size - start) {
                /* The partition table claims more than the disk holds: read what is there. */
                if (warn) {
                    char path[512], msg[256];
                    snprintf(path, sizeof(path), "%s:%s", im_path(disk), name);
                    snprintf(msg, sizeof(msg),
                             "the partition table says partition %s ends %llu bytes beyond the "
                             "end of the disk: only what the disk holds is read",
                             name + 1, (unsigned long long)(length - (size - start)));
                    warn(path, msg, payload);
                }
                length = size - start;
            }
            if ((err = add_result(&v, &n, &cap, name, start, length, &r)) < 0)
                goto done;
            char *pl = vs->vstype == TSK_VS_TYPE_GPT && p->desc
                           ? clean_text(p->desc, strlen(p->desc))
                           : NULL;
            err = read_volume(&c, r, pl, expects_fs(p->desc));
            free(pl);
            if (err < 0)
                goto done;
        }
    } else {
        if ((err = add_result(&v, &n, &cap, "fs", 0, size, &r)) < 0 ||
            (err = read_volume(&c, r, NULL, 0)) < 0)
            goto done;
    }
done:
    if (vs)
        tsk_vs_close(vs);
    tsk_img_close(c.img);
    tsk_error_reset();
    if (err < 0) {
        results_free(v, n);
        free(*ptable);
        *ptable = NULL;
        return err;
    }
    *out = v;
    *nout = n;
    return 0;
}
