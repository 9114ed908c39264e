/*
 * Disk images read in the parser sandbox (src/util/sandbox.h): the "image"
 * service.
 *
 * One child per disk. Its root holds the image's folder and the folders the
 * operator allowed for backing files (--allow-backing), read-only at their
 * usual paths, so disk.c opens the chain (qcow2 backing files, VMDK extents,
 * VHD/VHDX parents) exactly as in-process, with the same confinement (a
 * block device is opened by the parent and handed over: the child sees no
 * folder of the host, only that open file); libvmdk
 * reads a descriptor disk.c writes into the child's private tmpfs
 * (CR_SBX_SCRATCH). The child holds no key and no vault: what fs.c would
 * store it asks the parent for (CR_SBX_ASK), and the parent checks every
 * question and answer as untrusted input.
 *
 * Requests (parent -> child), little endian:
 *
 * Setup: str path, varint n, n x str allowed folder, u64 block device size
 * (0: a file; else the device is the first file passed, cr_sbx_child_fd).
 *
 *   OPEN   -                         -> varint n, n x {str path, u8 format,
 *                                       u64 size, u64 dropped}  (the chain)
 *   NEXT   u64 off                   -> u64 next offset that may hold data
 *   READ   u64 off, u32 len          -> exactly len bytes (len <= 4 MiB)
 *   FS     u64 size, varint n, n x {varint chunk, id[32]} (the present chunks)
 *                                    -> str ptable, varint n, n x volume
 *      volume: u8 reused, str name, u64 start, u64 length; unless reused:
 *              bytes fs_type, bytes label, bytes error, u64 files,
 *              u8 has_tree, [id tree, bytes root (a tree of one folder)],
 *              u64 dirs, u64 others, u64 bytes, u64 errors, u8 is_system
 *
 * Questions of the child during FS (child -> parent), and their answers:
 *
 *   BLOB   the bytes (1 B..4 MiB)    -> id[32]   (stored in the vault)
 *   TREE   an encoded tree           -> id[32]   (checked, then saved)
 *   WARN   bytes path, bytes message -> -        (an entry left out)
 *   REUSE  str name, u64 start, u64 length -> u8 (1: the parent keeps the
 *          parent snapshot's tree for this volume, the child skips it)
 *
 * What the parent checks: frame headers and sizes (sandbox.c); every reply
 * decoded with cr_rd and bounded (im_sbx_decode_layers, _volumes); a tree is
 * decoded like any tree read from the vault (cr_tree_decode), its names must
 * be safe, its extents must name a chunk of this disk or a blob the child had
 * stored (within the blob's length), its subtrees trees the child had saved;
 * texts are made valid UTF-8 without control characters. So a hijacked child
 * can lie about the files of its own disk (as a forged filesystem could), but
 * cannot make the vault name a blob it does not hold, nor see or touch
 * anything else. fuzz/fuzz_image_sbx.c fuzzes these decoders.
 */
#include "image/image.h"
#include "util/sandbox.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { IM_REQ_OPEN = 1, IM_REQ_NEXT, IM_REQ_READ, IM_REQ_FS };
enum { IM_ASK_BLOB = 1, IM_ASK_TREE, IM_ASK_WARN, IM_ASK_REUSE };

#define IM_SBX_MAX_LAYERS 64      /* disk.c stops chains at 16 */
#define IM_SBX_MAX_VOLUMES 4096   /* partitions of one disk */
#define IM_SBX_MAX_TEXT 4096      /* a warning, a path, an error */
#define IM_SBX_MAX_ROOT 65536     /* the encoded root folder of a volume */
#define IM_SBX_SCRATCH "/.cleanroom-scratch"

/* ------------------------------------------------------------ known ids */

typedef struct kent {
    cr_id id;
    uint32_t len;  /* blob: its length */
    uint8_t blob, tree;
} kent;

struct im_sbx_known {
    kent *v;
    size_t cap, n;
};

static size_t kslot(const im_sbx_known *k, const cr_id *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h)); /* ids are keyed hashes: uniform */
    size_t j = (size_t)h & (k->cap - 1);
    while (k->v[j].blob | k->v[j].tree) {
        if (!memcmp(&k->v[j].id, id, sizeof(*id)))
            break;
        j = (j + 1) & (k->cap - 1);
    }
    return j;
}

static kent *kput(im_sbx_known *k, const cr_id *id)
{
    if ((k->n + 1) * 2 > k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 1024;
        kent *old = k->v;
        size_t ocap = k->cap;
        if (!(k->v = cr_calloc(ncap, sizeof(*k->v)))) {
            k->v = old;
            return NULL;
        }
        k->cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].blob | old[i].tree)
                k->v[kslot(k, &old[i].id)] = old[i];
        free(old);
    }
    kent *e = &k->v[kslot(k, id)];
    if (!(e->blob | e->tree)) {
        e->id = *id;
        k->n++;
    }
    return e;
}

static const kent *kget(const im_sbx_known *k, const cr_id *id)
{
    if (!k || !k->cap)
        return NULL;
    const kent *e = &k->v[kslot(k, id)];
    return (e->blob | e->tree) ? e : NULL;
}

int im_sbx_known_blob(im_sbx_known *k, const cr_id *id, uint32_t len)
{
    kent *e = kput(k, id);
    if (!e)
        return CR_ERROR;
    e->blob = 1;
    e->len = len;
    return 0;
}

int im_sbx_known_tree(im_sbx_known *k, const cr_id *id)
{
    kent *e = kput(k, id);
    if (!e)
        return CR_ERROR;
    e->tree = 1;
    return 0;
}

int im_sbx_known_new(im_sbx_known **out, const im_chunkmap *map)
{
    im_sbx_known *k = cr_calloc(1, sizeof(*k));
    *out = NULL;
    if (!k)
        return CR_ERROR;
    for (size_t i = 0; map && i < map->n; i++) {
        uint64_t off = (uint64_t)i * CR_IMAGE_CHUNK, left = map->size - off;
        if (map->present[i] &&
            im_sbx_known_blob(k, &map->ids[i],
                              (uint32_t)(left < CR_IMAGE_CHUNK ? left : CR_IMAGE_CHUNK)) < 0) {
            im_sbx_known_free(k);
            return CR_ERROR;
        }
    }
    *out = k;
    return 0;
}

void im_sbx_known_free(im_sbx_known *k)
{
    if (!k)
        return;
    free(k->v);
    free(k);
}

/* ------------------------------------------------------------ parent's decoders */

static int hostile(const char *what)
{
    cr_error_set("a malformed answer about a disk image (%s)", what);
    return CR_EHOSTILE;
}

/* Untrusted text as clean UTF-8, NULL when empty. @return 0 or CR_ERROR. */
static int clean_copy(char **out, const uint8_t *p, size_t n)
{
    char tmp[IM_SBX_MAX_TEXT + 1];
    *out = NULL;
    cr_sbx_clean_text(tmp, sizeof(tmp), p, n);
    if (!tmp[0])
        return 0;
    return (*out = cr_strdup(tmp)) ? 0 : CR_ERROR;
}

void im_layers_free(im_layer *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].path);
    free(v);
}

int im_sbx_decode_layers(im_layer **out, size_t *n, const void *data, size_t len)
{
    cr_rd rd;
    uint64_t count;
    im_layer *v = NULL;
    size_t got = 0;
    int err = 0;

    *out = NULL;
    *n = 0;
    cr_rd_init(&rd, data, len);
    if (cr_rd_varint(&rd, &count) < 0 || count == 0 || count > IM_SBX_MAX_LAYERS)
        return hostile("chain length");
    if (!(v = cr_calloc((size_t)count, sizeof(*v))))
        return CR_ERROR;
    for (; got < count; got++) {
        const uint8_t *p;
        size_t pl;
        uint8_t fmt;
        im_layer *l = &v[got];
        if (cr_rd_bytes(&rd, &p, &pl, PATH_MAX) < 0 || cr_rd_u8(&rd, &fmt) < 0 ||
            cr_rd_u64(&rd, &l->size) < 0 || cr_rd_u64(&rd, &l->dropped) < 0) {
            err = hostile("chain");
            goto done;
        }
        /* The sizes disk.c accepts (64 TiB at most), a known format, an absolute path. */
        if (pl == 0 || p[0] != '/' || fmt > CR_IMAGE_VHD || l->size > (64ull << 40) ||
            l->dropped > (64ull << 40) || fmt == CR_IMAGE_AUTO) {
            err = hostile("chain entry");
            goto done;
        }
        l->format = (cr_image_format)fmt;
        if ((err = clean_copy(&l->path, p, pl)) < 0)
            goto done;
    }
    if (cr_rd_left(&rd) != 0) {
        err = hostile("trailing bytes");
        goto done;
    }
    *out = v;
    *n = got;
    v = NULL;
done:
    im_layers_free(v, got);
    return err;
}

int im_sbx_check_tree(cr_tree **out, const im_sbx_known *k, const void *data, size_t len)
{
    cr_tree *t = NULL;
    char why[300];
    int err;

    *out = NULL;
    if ((err = cr_tree_decode(&t, data, len)) < 0) {
        if (err == CR_ERROR)
            return err;
        snprintf(why, sizeof(why), "a folder: %s", cr_error_last());
        return hostile(why);
    }
    for (size_t i = 0; i < t->count; i++) {
        const cr_node *n = &t->nodes[i];
        if (!cr_name_is_safe(n->name)) {
            err = hostile("a folder with an unsafe name");
            goto done;
        }
        if (n->type == CR_NODE_DIR ? !n->has_subtree : n->has_subtree) {
            err = hostile("a folder entry without its folder");
            goto done;
        }
        if (n->has_subtree) {
            const kent *e = kget(k, &n->subtree);
            if (!e || !e->tree) {
                err = hostile("a folder naming a folder that was not saved");
                goto done;
            }
        }
        for (size_t x = 0; x < n->ncontent; x++) {
            const cr_extent *c = &n->content[x];
            const kent *e = kget(k, &c->id);
            if (!e || !e->blob || c->blob_off > e->len || c->len > e->len - c->blob_off) {
                err = hostile("a file naming data that is not in the vault");
                goto done;
            }
        }
    }
    *out = t;
    t = NULL;
done:
    cr_tree_free(t);
    return err;
}

static int decode_volume(im_fsresult *r, const im_sbx_known *k, uint64_t disk_size, cr_rd *rd)
{
    uint8_t reused, has_tree, sys;
    const uint8_t *nm, *t[3], *root;
    size_t nml, tl[3], rootl;
    cr_tree *rt = NULL;
    int err;

    if (cr_rd_u8(rd, &reused) < 0 || reused > 1 || cr_rd_bytes(rd, &nm, &nml, 32) < 0 ||
        cr_rd_u64(rd, &r->vol.start) < 0 || cr_rd_u64(rd, &r->vol.length) < 0)
        return hostile("volume");
    if (!(r->vol.name = cr_strndup((const char *)nm, nml)))
        return CR_ERROR;
    /* fs.c names volumes "fs" or "pN": letters and digits only. */
    int plain = nml > 0;
    for (size_t i = 0; i < nml; i++)
        plain &= (nm[i] >= '0' && nm[i] <= '9') || (nm[i] >= 'a' && nm[i] <= 'z') ||
                 (nm[i] >= 'A' && nm[i] <= 'Z');
    if (!plain || r->vol.start > disk_size || r->vol.length > disk_size - r->vol.start)
        return hostile("volume name or place");
    r->reused = reused;
    if (reused)
        return 0;
    for (int i = 0; i < 3; i++)
        if (cr_rd_bytes(rd, &t[i], &tl[i], IM_SBX_MAX_TEXT) < 0)
            return hostile("volume");
    if (cr_rd_u64(rd, &r->vol.files) < 0 || cr_rd_u8(rd, &has_tree) < 0 || has_tree > 1)
        return hostile("volume");
    if ((err = clean_copy(&r->vol.fs_type, t[0], tl[0])) < 0 ||
        (err = clean_copy(&r->vol.label, t[1], tl[1])) < 0 ||
        (err = clean_copy(&r->vol.error, t[2], tl[2])) < 0)
        return err;
    if (has_tree) {
        const uint8_t *id;
        const kent *e;
        if (cr_rd_raw(rd, &id, CR_ID_LEN) < 0 || cr_rd_bytes(rd, &root, &rootl, IM_SBX_MAX_ROOT) < 0)
            return hostile("volume");
        memcpy(r->tree.b, id, CR_ID_LEN);
        if (!(e = kget(k, &r->tree)) || !e->tree)
            return hostile("a volume naming a folder that was not saved");
        /* Its root folder: one entry, a folder whose tree is the volume's. */
        if ((err = im_sbx_check_tree(&rt, k, root, rootl)) < 0)
            return err;
        if (rt->count != 1 || rt->nodes[0].type != CR_NODE_DIR ||
            memcmp(&rt->nodes[0].subtree, &r->tree, sizeof(r->tree))) {
            cr_tree_free(rt);
            return hostile("a volume's root folder");
        }
        r->root = rt->nodes[0];
        memset(&rt->nodes[0], 0, sizeof(rt->nodes[0]));
        cr_tree_free(rt);
        free(r->root.name);
        if (!(r->root.name = cr_strdup(r->vol.name)))
            return CR_ERROR;
        r->has_tree = 1;
    }
    if (cr_rd_u64(rd, &r->dirs) < 0 || cr_rd_u64(rd, &r->others) < 0 ||
        cr_rd_u64(rd, &r->bytes) < 0 || cr_rd_u64(rd, &r->errors) < 0 || cr_rd_u8(rd, &sys) < 0 ||
        sys > 1)
        return hostile("volume counts");
    r->is_system = sys;
    return 0;
}

int im_sbx_decode_volumes(im_fsresult **out, size_t *nout, char **ptable, const im_sbx_known *k,
                          uint64_t disk_size, const void *data, size_t len)
{
    cr_rd rd;
    const uint8_t *pt;
    size_t ptl, got = 0;
    uint64_t n;
    im_fsresult *v = NULL;
    int err = 0;

    *out = NULL;
    *nout = 0;
    *ptable = NULL;
    cr_rd_init(&rd, data, len);
    if (cr_rd_bytes(&rd, &pt, &ptl, 32) < 0 || cr_rd_varint(&rd, &n) < 0 ||
        n > IM_SBX_MAX_VOLUMES || n > cr_rd_left(&rd) / 18)
        return hostile("volume list");
    if ((err = clean_copy(ptable, pt, ptl)) < 0)
        return err;
    if (n && !(v = cr_calloc((size_t)n, sizeof(*v)))) {
        err = CR_ERROR;
        goto done;
    }
    for (; got < n; got++) {
        if ((err = decode_volume(&v[got], k, disk_size, &rd)) < 0) {
            got++;
            goto done;
        }
        for (size_t j = 0; j < got; j++)
            if (!strcmp(v[j].vol.name, v[got].vol.name)) {
                got++;
                err = hostile("a volume listed twice");
                goto done;
            }
    }
    if (cr_rd_left(&rd) != 0) {
        err = hostile("trailing bytes");
        goto done;
    }
    *out = v;
    *nout = got;
    return 0;
done:
    for (size_t i = 0; i < got; i++)
        im_fsresult_clear(&v[i]);
    free(v);
    free(*ptable);
    *ptable = NULL;
    return err;
}

/* ------------------------------------------------------------ child */

typedef struct child {
    cr_sbx_child *ch;
    char *path;
    char **allow;
    size_t nallow;
    uint64_t devsize; /* a block device passed by the parent (fd 0 of the child's files) */
    im_disk *d;
} child;

static int child_init(cr_sbx_child *ch, cr_rd *setup, void **state)
{
    child *c = cr_calloc(1, sizeof(*c));
    uint64_t n;
    if (!c)
        return CR_ERROR;
    c->ch = ch;
    if (cr_rd_str(setup, &c->path, PATH_MAX) < 0 || !c->path || cr_rd_varint(setup, &n) < 0 ||
        n > IM_SBX_MAX_LAYERS || !(c->allow = cr_calloc((size_t)n + 1, sizeof(char *)))) {
        cr_error_set("bad setup of the disk image reader");
        return CR_ERROR;
    }
    for (; c->nallow < n; c->nallow++)
        if (cr_rd_str(setup, &c->allow[c->nallow], PATH_MAX) < 0) {
            cr_error_set("bad setup of the disk image reader");
            return CR_ERROR;
        }
    if (cr_rd_u64(setup, &c->devsize) < 0 || (c->devsize && cr_sbx_child_fd(ch, 0) < 0)) {
        cr_error_set("bad setup of the disk image reader");
        return CR_ERROR;
    }
    /* disk.c writes libvmdk's descriptor under TMPDIR: a folder of the private root. */
    if (mkdir(IM_SBX_SCRATCH, 0700) < 0 && errno != EEXIST)
        return cr_error_errno("cannot prepare the disk image reader's scratch folder");
    setenv("TMPDIR", IM_SBX_SCRATCH, 1);
    *state = c;
    return 0;
}

static int ask_id(child *c, uint16_t type, const void *msg, size_t len, cr_id *out)
{
    cr_rd a;
    const uint8_t *p;
    cr_sbx_ask(c->ch, type, msg, len, &a);
    if (cr_rd_raw(&a, &p, CR_ID_LEN) < 0) {
        cr_error_set("the clean room refused what the disk image reader asked");
        return CR_ERROR;
    }
    memcpy(out->b, p, CR_ID_LEN);
    return 0;
}

static int child_put_blob(void *ud, const void *data, size_t len, cr_id *out)
{
    return ask_id(ud, IM_ASK_BLOB, data, len, out);
}

static int child_put_tree(void *ud, const cr_tree *t, cr_id *out)
{
    cr_buf b = CR_BUF_INIT;
    int err = cr_tree_encode(&b, t);
    if (err == 0)
        err = ask_id(ud, IM_ASK_TREE, b.ptr, b.len, out);
    cr_buf_free(&b);
    return err;
}

static int child_reuse(void *ud, im_fsresult *r)
{
    child *c = ud;
    cr_buf b = CR_BUF_INIT;
    cr_rd a;
    uint8_t yes = 0;
    if (cr_buf_put_str(&b, r->vol.name) < 0 || cr_buf_put_u64(&b, r->vol.start) < 0 ||
        cr_buf_put_u64(&b, r->vol.length) < 0) {
        cr_buf_free(&b);
        return CR_ERROR;
    }
    cr_sbx_ask(c->ch, IM_ASK_REUSE, b.ptr, b.len, &a);
    cr_buf_free(&b);
    if (cr_rd_u8(&a, &yes) < 0)
        return CR_ERROR;
    return yes == 1;
}

static void child_warn(const char *path, const char *message, void *payload)
{
    child *c = payload;
    cr_buf b = CR_BUF_INIT;
    cr_rd a;
    size_t pl = strlen(path), ml = strlen(message);
    if (cr_buf_put_bytes(&b, path, pl < IM_SBX_MAX_TEXT ? pl : IM_SBX_MAX_TEXT) == 0 &&
        cr_buf_put_bytes(&b, message, ml < IM_SBX_MAX_TEXT ? ml : IM_SBX_MAX_TEXT) == 0)
        cr_sbx_ask(c->ch, IM_ASK_WARN, b.ptr, b.len, &a);
    cr_buf_free(&b);
}

static int put_node_tree(cr_buf *out, const cr_node *root)
{
    cr_tree t = {(cr_node *)root, 1};
    cr_buf b = CR_BUF_INIT;
    int err = cr_tree_encode(&b, &t);
    if (err == 0)
        err = cr_buf_put_bytes(out, b.ptr, b.len);
    cr_buf_free(&b);
    return err;
}

static int child_fs(child *c, cr_rd *req, cr_buf *reply)
{
    im_chunkmap map;
    uint64_t size, n, prev = 0;
    im_fsresult *v = NULL;
    size_t nv = 0;
    char *ptable = NULL;
    im_store st;
    int err = 0;

    memset(&map, 0, sizeof(map));
    memset(&st, 0, sizeof(st));
    if (cr_rd_u64(req, &size) < 0 || size != im_size(c->d) || cr_rd_varint(req, &n) < 0) {
        cr_error_set("bad request");
        return CR_EINPUT;
    }
    map.size = size;
    map.n = (size_t)((size + CR_IMAGE_CHUNK - 1) / CR_IMAGE_CHUNK);
    if (n > map.n || (map.n && (!(map.ids = cr_calloc(map.n, sizeof(cr_id))) ||
                                !(map.present = cr_calloc(map.n, 1))))) {
        err = CR_ERROR;
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k;
        const uint8_t *id;
        if (cr_rd_varint(req, &k) < 0 || k >= map.n || (i && k <= prev) ||
            cr_rd_raw(req, &id, CR_ID_LEN) < 0) {
            cr_error_set("bad request");
            err = CR_EINPUT;
            goto done;
        }
        memcpy(map.ids[k].b, id, CR_ID_LEN);
        map.present[k] = 1;
        prev = k;
    }
    st.put_blob = child_put_blob;
    st.put_tree = child_put_tree;
    st.reuse = child_reuse;
    st.ud = c;
    if ((err = im_fs_read(&v, &nv, &ptable, c->d, &map, NULL, NULL, 0, &st, child_warn, c)) < 0)
        goto done;
    if ((err = cr_buf_put_str(reply, ptable)) < 0 || (err = cr_buf_put_varint(reply, nv)) < 0)
        goto done;
    for (size_t i = 0; i < nv && err == 0; i++) {
        const im_fsresult *r = &v[i];
        if ((err = cr_buf_put_u8(reply, (uint8_t)r->reused)) < 0 ||
            (err = cr_buf_put_str(reply, r->vol.name)) < 0 ||
            (err = cr_buf_put_u64(reply, r->vol.start)) < 0 ||
            (err = cr_buf_put_u64(reply, r->vol.length)) < 0 || r->reused)
            continue;
        if ((err = cr_buf_put_str(reply, r->vol.fs_type)) < 0 ||
            (err = cr_buf_put_str(reply, r->vol.label)) < 0 ||
            (err = cr_buf_put_str(reply, r->vol.error)) < 0 ||
            (err = cr_buf_put_u64(reply, r->vol.files)) < 0 ||
            (err = cr_buf_put_u8(reply, (uint8_t)r->has_tree)) < 0)
            break;
        if (r->has_tree && ((err = cr_buf_put(reply, r->tree.b, CR_ID_LEN)) < 0 ||
                            (err = put_node_tree(reply, &r->root)) < 0))
            break;
        if ((err = cr_buf_put_u64(reply, r->dirs)) < 0 ||
            (err = cr_buf_put_u64(reply, r->others)) < 0 ||
            (err = cr_buf_put_u64(reply, r->bytes)) < 0 ||
            (err = cr_buf_put_u64(reply, r->errors)) < 0)
            break;
        err = cr_buf_put_u8(reply, (uint8_t)r->is_system);
    }
done:
    for (size_t i = 0; i < nv; i++)
        im_fsresult_clear(&v[i]);
    free(v);
    free(ptable);
    free(map.ids);
    free(map.present);
    return err;
}

static int child_serve(cr_sbx_child *ch, void *state, uint16_t type, cr_rd *req, cr_buf *reply)
{
    child *c = state;
    uint64_t off, next;
    uint32_t len;
    int err;

    if (type != IM_REQ_OPEN && !c->d) {
        cr_error_set("the disk image is not open");
        return CR_EINPUT;
    }
    switch (type) {
    case IM_REQ_OPEN:
        if (c->d) {
            cr_error_set("the disk image is already open");
            return CR_EINPUT;
        }
        if (c->devsize)
            err = im_open_fd(&c->d, cr_sbx_child_fd(c->ch, 0), c->path, c->devsize,
                             (const char *const *)c->allow, c->nallow);
        else
            err = im_open_allow(&c->d, c->path, CR_IMAGE_AUTO, (const char *const *)c->allow,
                                c->nallow);
        if (err < 0)
            return err;
        {
            size_t n = 0;
            for (const im_disk *l = c->d; l; l = im_parent(l))
                n++;
            if ((err = cr_buf_put_varint(reply, n)) < 0)
                return err;
        }
        for (const im_disk *l = c->d; l; l = im_parent(l))
            if ((err = cr_buf_put_str(reply, im_path(l))) < 0 ||
                (err = cr_buf_put_u8(reply, (uint8_t)im_format(l))) < 0 ||
                (err = cr_buf_put_u64(reply, im_size(l))) < 0 ||
                (err = cr_buf_put_u64(reply, im_dropped(l))) < 0)
                return err;
        return 0;
    case IM_REQ_NEXT:
        if (cr_rd_u64(req, &off) < 0) {
            cr_error_set("bad request");
            return CR_EINPUT;
        }
        if ((err = im_next_data(c->d, off, &next)) < 0)
            return err;
        return cr_buf_put_u64(reply, next);
    case IM_REQ_READ:
        if (cr_rd_u64(req, &off) < 0 || cr_rd_u32(req, &len) < 0 || len > CR_IMAGE_CHUNK) {
            cr_error_set("bad request");
            return CR_EINPUT;
        }
        if ((err = cr_buf_grow(reply, len)) < 0 || (err = im_read(c->d, off, reply->ptr, len)) < 0)
            return err;
        reply->len = len;
        /* Tests only (CLEANROOM_TEST_HOOKS=1): a disk holding a marker plays a hijacked reader. */
        cr_sbx_child_test_input(ch, reply->ptr, len);
        return 0;
    case IM_REQ_FS:
        return child_fs(c, req, reply);
    default:
        cr_error_set("unknown request %u", type);
        return CR_EINPUT;
    }
}

static const cr_sbx_service im_sbx_service = {"image", CR_SBX_OPEN_READ | CR_SBX_SCRATCH,
                                              child_init, child_serve};
CR_SBX_SERVICE(im_sbx_service)

/* ------------------------------------------------------------ parent */

struct im_src {
    im_disk *d;   /* in process (sandbox off) */
    cr_sbx *sbx;  /* else the child */
    char *name;   /* "disk0", for messages */
    char *path;
    im_layer *layers;
    size_t nlayers;
    cr_buf reply;
};

/* A failure of the child, said as the technician needs it. */
static int src_fail(im_src *s, int err)
{
    if (err == CR_EHOSTILE) {
        char why[1100];
        snprintf(why, sizeof(why), "%s", cr_error_last());
        cr_error_set("the disk image reader crashed on %s (%s): the image may be crafted to attack "
                     "the clean room; nothing of this disk was saved as a restore point (%s)",
                     s->name, s->path, why);
    }
    return err;
}

static int local_layers(im_src *s)
{
    size_t n = 0;
    for (const im_disk *l = s->d; l; l = im_parent(l))
        n++;
    if (!(s->layers = cr_calloc(n, sizeof(*s->layers))))
        return CR_ERROR;
    for (const im_disk *l = s->d; l; l = im_parent(l)) {
        im_layer *x = &s->layers[s->nlayers++];
        x->format = im_format(l);
        x->size = im_size(l);
        x->dropped = im_dropped(l);
        if (!(x->path = cr_strdup(im_path(l))))
            return CR_ERROR;
    }
    return 0;
}

/* The folder a path lies in ("/" for "/x"). */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? cr_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : cr_strdup(".");
}

int im_src_open(im_src **out, const char *path, const char *name,
                const char *const *allow_backing, size_t nallow)
{
    im_src *s = cr_calloc(1, sizeof(*s));
    const char **rp = NULL;
    size_t nrp = 0;
    cr_buf setup = CR_BUF_INIT;
    struct stat st;
    int err = 0, devfd = -1;
    uint64_t devsize = 0;

    *out = NULL;
    if (!s || !(s->name = cr_strdup(name)) || !(s->path = cr_strdup(path))) {
        err = CR_ERROR;
        goto done;
    }
    if (!cr_sbx_enabled()) {
        if ((err = im_open_allow(&s->d, path, CR_IMAGE_AUTO, allow_backing, nallow)) < 0 ||
            (err = local_layers(s)) < 0)
            goto done;
        *out = s;
        s = NULL;
        goto done;
    }
    /*
     * A block device cannot be opened in the child (its root is mounted
     * nodev, and /dev has no place in it): the parent opens it read-only and
     * hands the open file over, with its size, which the child may not ask
     * with an ioctl. The child then sees no folder at all, only that file.
     */
    if (stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
        /* What was opened is checked again: the path may have been swapped since (a FIFO
         * would block a plain open; O_NONBLOCK, then only a block device goes on). */
        if ((devfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
            err = cr_error_errno("cannot open block device %s", path);
            goto done;
        }
        if (fstat(devfd, &st) < 0 || !S_ISBLK(st.st_mode)) {
            cr_error_set("%s changed while it was opened: not a block device any more", path);
            err = CR_EINPUT;
            goto done;
        }
        if (ioctl(devfd, BLKGETSIZE64, &devsize) < 0) {
            err = cr_error_errno("cannot read the size of block device %s", path);
            goto done;
        }
        if (devsize == 0) {
            cr_error_set("block device %s is empty (size 0)", path);
            err = CR_EINPUT;
            goto done;
        }
    }
    /* What the child may see: the image's folder and the folders allowed (those that exist). */
    if (!(rp = cr_calloc(nallow + 1, sizeof(char *))) ||
        (devfd < 0 && !(rp[nrp++] = folder_of(path)))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = cr_buf_put_str(&setup, path)) < 0 || (err = cr_buf_put_varint(&setup, nallow)) < 0)
        goto done;
    for (size_t i = 0; i < nallow; i++) {
        /* Absolute: the child's working folder is its root. */
        char *abs = im_abs_lexical(allow_backing[i]);
        if (!abs) {
            err = CR_ERROR;
            goto done;
        }
        if ((err = cr_buf_put_str(&setup, abs)) < 0) {
            free(abs);
            goto done;
        }
        if (stat(abs, &st) == 0 && S_ISDIR(st.st_mode))
            rp[nrp++] = abs;
        else
            free(abs);
    }
    if ((err = cr_buf_put_u64(&setup, devfd >= 0 ? devsize : 0)) < 0)
        goto done;
    cr_sbx_opts o;
    memset(&o, 0, sizeof(o));
    if (devfd >= 0) {
        o.fds = &devfd;
        o.nfds = 1;
    }
    o.service = "image";
    o.what = name; /* src_fail adds the path */
    o.setup = setup.ptr;
    o.setuplen = setup.len;
    o.read_paths = rp;
    o.nread_paths = nrp;
    /* A chunk, or a folder's tree (at most the largest blob), and what goes with it. */
    o.max_reply = CR_MAX_BLOB + (1u << 20);
    if ((err = cr_sbx_start(&s->sbx, &o)) < 0)
        goto done;
    if ((err = cr_sbx_call(s->sbx, IM_REQ_OPEN, NULL, 0, &s->reply, NULL, NULL)) < 0 ||
        (err = im_sbx_decode_layers(&s->layers, &s->nlayers, s->reply.ptr, s->reply.len)) < 0) {
        err = src_fail(s, err);
        goto done;
    }
    *out = s;
    s = NULL;
done:
    if (devfd >= 0)
        close(devfd);
    for (size_t i = 0; rp && i < nrp; i++)
        free((char *)rp[i]);
    free(rp);
    cr_buf_free(&setup);
    im_src_close(s);
    return err;
}

void im_src_close(im_src *s)
{
    if (!s)
        return;
    im_close(s->d);
    cr_sbx_stop(s->sbx);
    im_layers_free(s->layers, s->nlayers);
    cr_buf_free(&s->reply);
    free(s->name);
    free(s->path);
    free(s);
}

const im_layer *im_src_layers(const im_src *s, size_t *n)
{
    *n = s->nlayers;
    return s->layers;
}

int im_src_next_data(im_src *s, uint64_t off, uint64_t *out)
{
    uint8_t req[8];
    cr_rd rd;
    int err;
    if (s->d)
        return im_next_data(s->d, off, out);
    for (int i = 0; i < 8; i++)
        req[i] = (uint8_t)(off >> (8 * i));
    if ((err = cr_sbx_call(s->sbx, IM_REQ_NEXT, req, sizeof(req), &s->reply, NULL, NULL)) < 0)
        return src_fail(s, err);
    cr_rd_init(&rd, s->reply.ptr, s->reply.len);
    /* The answer may lie (it is the child's disk to lie about) but must move forward. */
    if (cr_rd_u64(&rd, out) < 0 || cr_rd_left(&rd) || *out < off) {
        hostile("allocation map");
        return src_fail(s, CR_EHOSTILE);
    }
    if (*out > s->layers[0].size)
        *out = s->layers[0].size;
    return 0;
}

int im_src_read(im_src *s, uint64_t off, uint8_t **buf, size_t len)
{
    uint8_t req[12], *mine;
    int err;
    if (s->d)
        return im_read(s->d, off, *buf, len);
    assert(len <= CR_IMAGE_CHUNK);
    for (int i = 0; i < 8; i++)
        req[i] = (uint8_t)(off >> (8 * i));
    for (int i = 0; i < 4; i++)
        req[8 + i] = (uint8_t)((uint32_t)len >> (8 * i));
    /* The reply is read into a buffer that can take the caller's place (no copy of 4 MiB). */
    if (s->reply.cap < CR_IMAGE_CHUNK && (err = cr_buf_grow(&s->reply, CR_IMAGE_CHUNK)) < 0)
        return err;
    if ((err = cr_sbx_call(s->sbx, IM_REQ_READ, req, sizeof(req), &s->reply, NULL, NULL)) < 0)
        return src_fail(s, err);
    if (s->reply.len != len) {
        hostile("a chunk of the wrong length");
        return src_fail(s, CR_EHOSTILE);
    }
    mine = s->reply.ptr;
    s->reply.ptr = *buf;
    s->reply.cap = CR_IMAGE_CHUNK;
    s->reply.len = 0;
    *buf = mine;
    return 0;
}

/* The parent's side of a filesystem walk in the child. */
typedef struct fsask {
    im_store *st;
    im_sbx_known *k;
    const im_chunkmap *map, *pmap;
    const im_fsresult *pvols;
    size_t npvols;
    im_fsresult *kept; /* volumes the parent keeps from the parent snapshot */
    size_t nkept, capkept;
    cr_warning_cb warn;
    void *payload;
} fsask;

static int fs_ask(void *ud, uint16_t type, cr_rd *msg, cr_buf *answer)
{
    fsask *a = ud;
    const uint8_t *p, *m;
    size_t len = cr_rd_left(msg), ml;
    cr_id id;
    int err;

    switch (type) {
    case IM_ASK_BLOB:
        if (len == 0 || len > CR_IMAGE_CHUNK || cr_rd_raw(msg, &p, len) < 0)
            return hostile("a blob of a wrong size");
        if ((err = im_store_blob(a->st, p, len, &id)) < 0 ||
            (err = im_sbx_known_blob(a->k, &id, (uint32_t)len)) < 0)
            return err;
        return cr_buf_put(answer, id.b, CR_ID_LEN);
    case IM_ASK_TREE: {
        cr_tree *t = NULL;
        if (len > CR_MAX_BLOB || cr_rd_raw(msg, &p, len) < 0)
            return hostile("a folder too large");
        if ((err = im_sbx_check_tree(&t, a->k, p, len)) < 0)
            return err;
        err = im_store_tree(a->st, t, &id);
        cr_tree_free(t);
        if (err < 0 || (err = im_sbx_known_tree(a->k, &id)) < 0)
            return err;
        return cr_buf_put(answer, id.b, CR_ID_LEN);
    }
    case IM_ASK_WARN: {
        char path[IM_SBX_MAX_TEXT + 1], text[IM_SBX_MAX_TEXT + 1];
        if (cr_rd_bytes(msg, &p, &len, IM_SBX_MAX_TEXT) < 0 ||
            cr_rd_bytes(msg, &m, &ml, IM_SBX_MAX_TEXT) < 0 || cr_rd_left(msg))
            return hostile("a warning");
        cr_sbx_clean_text(path, sizeof(path), p, len);
        cr_sbx_clean_text(text, sizeof(text), m, ml);
        if (a->warn)
            a->warn(path, text, a->payload);
        return 0;
    }
    case IM_ASK_REUSE: {
        im_fsresult r;
        memset(&r, 0, sizeof(r));
        /* (Compared with the parent snapshot's names only: never shown or stored from here.) */
        if (cr_rd_str(msg, &r.vol.name, 32) < 0 || !r.vol.name || cr_rd_u64(msg, &r.vol.start) < 0 ||
            cr_rd_u64(msg, &r.vol.length) < 0 || cr_rd_left(msg)) {
            im_fsresult_clear(&r);
            return hostile("a volume");
        }
        for (size_t i = 0; i < a->nkept; i++)
            if (!strcmp(a->kept[i].vol.name, r.vol.name)) {
                im_fsresult_clear(&r);
                return hostile("a volume asked for twice");
            }
        if ((err = im_fs_reuse(&r, a->st->repo, a->map, a->pmap, a->pvols, a->npvols)) <= 0) {
            im_fsresult_clear(&r);
            return err < 0 ? err : cr_buf_put_u8(answer, 0);
        }
        if (a->nkept == a->capkept) {
            size_t ncap = a->capkept ? a->capkept * 2 : 8;
            im_fsresult *nv = a->nkept >= IM_SBX_MAX_VOLUMES ? NULL
                                                             : cr_realloc(a->kept, ncap * sizeof(*nv));
            if (!nv) {
                im_fsresult_clear(&r);
                return a->nkept >= IM_SBX_MAX_VOLUMES ? hostile("too many volumes") : CR_ERROR;
            }
            a->kept = nv;
            a->capkept = ncap;
        }
        a->kept[a->nkept++] = r;
        return cr_buf_put_u8(answer, 1);
    }
    default:
        return hostile("an unknown question");
    }
}

int im_src_fs_read(im_src *s, im_fsresult **out, size_t *nout, char **ptable,
                   const im_chunkmap *map, const im_chunkmap *parent_map,
                   const im_fsresult *parent_vols, size_t nparent, im_store *st,
                   cr_warning_cb warn, void *payload)
{
    fsask a;
    cr_buf req = CR_BUF_INIT;
    size_t npresent = 0;
    int err;

    if (s->d)
        return im_fs_read(out, nout, ptable, s->d, map, parent_map, parent_vols, nparent, st,
                          warn, payload);
    *out = NULL;
    *nout = 0;
    *ptable = NULL;
    memset(&a, 0, sizeof(a));
    a.st = st;
    a.map = map;
    a.pmap = parent_map;
    a.pvols = parent_vols;
    a.npvols = nparent;
    a.warn = warn;
    a.payload = payload;
    for (size_t i = 0; i < map->n; i++)
        npresent += map->present[i] != 0;
    if ((err = im_sbx_known_new(&a.k, map)) < 0 || (err = cr_buf_put_u64(&req, map->size)) < 0 ||
        (err = cr_buf_put_varint(&req, npresent)) < 0)
        goto done;
    for (size_t i = 0; i < map->n; i++)
        if (map->present[i] && ((err = cr_buf_put_varint(&req, i)) < 0 ||
                                (err = cr_buf_put(&req, map->ids[i].b, CR_ID_LEN)) < 0))
            goto done;
    if ((err = cr_sbx_call(s->sbx, IM_REQ_FS, req.ptr, req.len, &s->reply, fs_ask, &a)) < 0 ||
        (err = im_sbx_decode_volumes(out, nout, ptable, a.k, s->layers[0].size, s->reply.ptr,
                                     s->reply.len)) < 0) {
        err = src_fail(s, err);
        goto done;
    }
    /* Volumes kept from the parent snapshot: the parent's own result, which the child named. */
    for (size_t i = 0; i < *nout; i++) {
        im_fsresult *r = &(*out)[i];
        size_t j;
        if (!r->reused) {
            if (r->vol.fs_type) /* a filesystem opened, so walked */
                im_fs_walk_note(1);
            continue;
        }
        for (j = 0; j < a.nkept; j++)
            if (a.kept[j].vol.name && !strcmp(a.kept[j].vol.name, r->vol.name) &&
                a.kept[j].vol.start == r->vol.start && a.kept[j].vol.length == r->vol.length)
                break;
        if (j == a.nkept) {
            err = src_fail(s, hostile("a volume kept that the clean room did not keep"));
            goto done;
        }
        im_fsresult_clear(r);
        *r = a.kept[j];
        memset(&a.kept[j], 0, sizeof(a.kept[j]));
    }
done:
    if (err < 0 && *out) {
        for (size_t i = 0; i < *nout; i++)
            im_fsresult_clear(&(*out)[i]);
        free(*out);
        free(*ptable);
        *out = NULL;
        *nout = 0;
        *ptable = NULL;
    }
    for (size_t i = 0; i < a.nkept; i++)
        im_fsresult_clear(&a.kept[i]);
    free(a.kept);
    im_sbx_known_free(a.k);
    cr_buf_free(&req);
    return err;
}
