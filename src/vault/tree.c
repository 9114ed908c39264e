/*
 * Trees: the listing of one directory, stored as a CR_BLOB_TREE blob.
 *
 * Binary format, versions 1 and 2 (varint = unsigned LEB128, svarint = zigzag
 * LEB128, bytes/str = varint length + bytes; an empty str means "none"):
 *
 *   "CRTR" u8 version (1 or 2) varint count
 *   count x node:
 *     u8 type                    cr_node_type, 1..7
 *     bytes name                 1..4096 bytes, no NUL; strictly increasing
 *                                bytewise from node to node (no duplicates)
 *     varint mode, uid, gid      each < 2^32
 *     str user, str group        <= 4096 bytes each
 *     svarint mtime_ns, atime_ns, ctime_ns
 *     varint inode, dev, nlink, size, rdev
 *     str link_target            <= 65536 bytes
 *     varint nxattrs, then nxattrs x (str name (non-empty), bytes value (<= 65536))
 *     str acl_access, str acl_default   <= 65536 bytes each (POSIX ACL text)
 *     varint ncontent, then ncontent x (varint gap, varint len, id[32]
 *                                [, varint blob_off in version 2])
 *                                files only; gap = offset - end of the previous
 *                                extent (0 for contiguous data; holes are gaps),
 *                                1 <= len <= 16 MiB, offset + len <= size,
 *                                blob_off + len <= 16 MiB; the extent's bytes
 *                                are [blob_off, blob_off + len) of blob id
 *     u8 has_subtree             0 or 1, 1 only for directories
 *     [id[32] subtree]           if has_subtree
 *
 * The encoder writes version 2 only when some extent has a blob_off other
 * than 0 (files seen inside a disk image point into the disk's chunks), and
 * version 1 otherwise, so the trees (and ids) of file backups do not change.
 * The decoder reads both (version 1: blob_off is 0).
 *
 * Decoding checks every length and count against the bytes that are left
 * before allocating anything, and applies the same rules as encoding, so a
 * tree that decodes can be encoded again unchanged (a version 2 tree whose
 * offsets are all 0 encodes again as version 1). Names are not judged safe
 * here ("..", "/"): restore does that with cr_name_is_safe, and a tree with
 * such a name still decodes so that the rest of it can be restored.
 */
#include "vault/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TREE_MAGIC "CRTR"
#define TREE_VERSION 1
#define TREE_VERSION_BLOB_OFF 2 /* extents carry blob_off */
/* Smallest encoding of a node (one-byte name, everything else empty/zero). */
#define TREE_NODE_MIN_BYTES 22
#define TREE_EXTENT_MIN_BYTES (2 + CR_ID_LEN)
#define TREE_XATTR_MIN_BYTES 3

/* ------------------------------------------------------------ nodes */

void cr_node_clear(cr_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->user);
    free(n->group);
    free(n->link_target);
    for (size_t i = 0; i < n->nxattrs; i++) {
        free(n->xattrs[i].name);
        free(n->xattrs[i].value);
    }
    free(n->xattrs);
    free(n->acl_access);
    free(n->acl_default);
    free(n->content);
    memset(n, 0, sizeof(*n));
}

void cr_tree_free(cr_tree *tree)
{
    if (!tree)
        return;
    for (size_t i = 0; i < tree->count; i++)
        cr_node_clear(&tree->nodes[i]);
    free(tree->nodes);
    free(tree);
}

static int dup_str(char **out, const char *s)
{
    *out = NULL;
    if (!s)
        return 0;
    return (*out = cr_strdup(s)) ? 0 : CR_ERROR;
}

int cr_node_copy(cr_node *out, const cr_node *src)
{
    memset(out, 0, sizeof(*out));
    out->type = src->type;
    out->mode = src->mode;
    out->uid = src->uid;
    out->gid = src->gid;
    out->mtime_ns = src->mtime_ns;
    out->atime_ns = src->atime_ns;
    out->ctime_ns = src->ctime_ns;
    out->inode = src->inode;
    out->dev = src->dev;
    out->nlink = src->nlink;
    out->size = src->size;
    out->rdev = src->rdev;
    out->has_subtree = src->has_subtree;
    out->subtree = src->subtree;
    if (dup_str(&out->name, src->name) < 0 || dup_str(&out->user, src->user) < 0 ||
        dup_str(&out->group, src->group) < 0 || dup_str(&out->link_target, src->link_target) < 0 ||
        dup_str(&out->acl_access, src->acl_access) < 0 ||
        dup_str(&out->acl_default, src->acl_default) < 0)
        goto oom;
    if (src->nxattrs) {
        if (!(out->xattrs = cr_calloc(src->nxattrs, sizeof(cr_xattr))))
            goto oom;
        out->nxattrs = src->nxattrs;
        for (size_t i = 0; i < src->nxattrs; i++) {
            const cr_xattr *x = &src->xattrs[i];
            if (dup_str(&out->xattrs[i].name, x->name) < 0 ||
                !(out->xattrs[i].value = cr_malloc(x->len)))
                goto oom;
            if (x->len)
                memcpy(out->xattrs[i].value, x->value, x->len);
            out->xattrs[i].len = x->len;
        }
    }
    if (src->ncontent) {
        if (!(out->content = cr_malloc(src->ncontent * sizeof(cr_extent))))
            goto oom;
        memcpy(out->content, src->content, src->ncontent * sizeof(cr_extent));
        out->ncontent = src->ncontent;
    }
    return 0;
oom:
    cr_node_clear(out);
    return CR_ERROR;
}

int cr_name_is_safe(const char *name)
{
    if (!name || !name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    if (strchr(name, '/'))
        return 0;
    return strlen(name) <= CR_MAX_NAME;
}

static int node_cmp(const void *a, const void *b)
{
    const cr_node *x = a, *y = b;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

void cr_tree_sort(cr_tree *tree)
{
    if (tree->count > 1)
        qsort(tree->nodes, tree->count, sizeof(cr_node), node_cmp);
}

/*
 * The rules a node must follow, for encoding and decoding alike.
 * @return NULL or why the node is refused.
 */
static const char *node_check(const cr_node *n, const cr_node *prev)
{
    if (n->type < CR_NODE_FILE || n->type > CR_NODE_SOCKET)
        return "unknown node type";
    if (!n->name || !n->name[0])
        return "empty name";
    if (strlen(n->name) > CR_MAX_NAME)
        return "name too long";
    if (prev && strcmp(prev->name, n->name) >= 0)
        return "names not in strictly increasing order (duplicate name?)";
    if (n->user && strlen(n->user) > CR_MAX_NAME)
        return "user name too long";
    if (n->group && strlen(n->group) > CR_MAX_NAME)
        return "group name too long";
    if (n->link_target && strlen(n->link_target) > CR_MAX_LINK)
        return "symlink target too long";
    if (n->acl_access && strlen(n->acl_access) > CR_MAX_XATTR)
        return "access ACL too long";
    if (n->acl_default && strlen(n->acl_default) > CR_MAX_XATTR)
        return "default ACL too long";
    for (size_t i = 0; i < n->nxattrs; i++) {
        const cr_xattr *x = &n->xattrs[i];
        if (!x->name || !x->name[0] || strlen(x->name) > CR_MAX_NAME)
            return "bad extended attribute name";
        if (x->len > CR_MAX_XATTR)
            return "extended attribute value too long";
    }
    if (n->ncontent && n->type != CR_NODE_FILE)
        return "content on a node that is not a file";
    uint64_t end = 0;
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *x = &n->content[i];
        if (x->len == 0 || x->len > CR_MAX_BLOB)
            return "extent length out of range";
        if (x->blob_off > CR_MAX_BLOB - x->len)
            return "extent lies beyond the largest blob (blob offset + length > 16 MiB)";
        if (x->offset < end)
            return "extents overlap or are out of order";
        if (x->offset > n->size || x->len > n->size - x->offset)
            return "extent lies beyond the file size";
        end = x->offset + x->len;
    }
    if (n->has_subtree && n->type != CR_NODE_DIR)
        return "subtree on a node that is not a folder";
    return NULL;
}

/* ------------------------------------------------------------ encoding */

static int put_node(cr_buf *b, const cr_node *n, int version)
{
    int err;
    if ((err = cr_buf_put_u8(b, (uint8_t)n->type)) < 0 || (err = cr_buf_put_str(b, n->name)) < 0 ||
        (err = cr_buf_put_varint(b, n->mode)) < 0 || (err = cr_buf_put_varint(b, n->uid)) < 0 ||
        (err = cr_buf_put_varint(b, n->gid)) < 0 || (err = cr_buf_put_str(b, n->user)) < 0 ||
        (err = cr_buf_put_str(b, n->group)) < 0 || (err = cr_buf_put_svarint(b, n->mtime_ns)) < 0 ||
        (err = cr_buf_put_svarint(b, n->atime_ns)) < 0 ||
        (err = cr_buf_put_svarint(b, n->ctime_ns)) < 0 ||
        (err = cr_buf_put_varint(b, n->inode)) < 0 || (err = cr_buf_put_varint(b, n->dev)) < 0 ||
        (err = cr_buf_put_varint(b, n->nlink)) < 0 || (err = cr_buf_put_varint(b, n->size)) < 0 ||
        (err = cr_buf_put_varint(b, n->rdev)) < 0 ||
        (err = cr_buf_put_str(b, n->link_target)) < 0 ||
        (err = cr_buf_put_varint(b, n->nxattrs)) < 0)
        return err;
    for (size_t i = 0; i < n->nxattrs; i++)
        if ((err = cr_buf_put_str(b, n->xattrs[i].name)) < 0 ||
            (err = cr_buf_put_bytes(b, n->xattrs[i].value, n->xattrs[i].len)) < 0)
            return err;
    if ((err = cr_buf_put_str(b, n->acl_access)) < 0 ||
        (err = cr_buf_put_str(b, n->acl_default)) < 0 ||
        (err = cr_buf_put_varint(b, n->ncontent)) < 0)
        return err;
    uint64_t end = 0;
    for (size_t i = 0; i < n->ncontent; i++) {
        const cr_extent *x = &n->content[i];
        if ((err = cr_buf_put_varint(b, x->offset - end)) < 0 ||
            (err = cr_buf_put_varint(b, x->len)) < 0 ||
            (err = cr_buf_put(b, x->id.b, CR_ID_LEN)) < 0)
            return err;
        if (version >= TREE_VERSION_BLOB_OFF && (err = cr_buf_put_varint(b, x->blob_off)) < 0)
            return err;
        end = x->offset + x->len;
    }
    if ((err = cr_buf_put_u8(b, n->has_subtree ? 1 : 0)) < 0)
        return err;
    if (n->has_subtree && (err = cr_buf_put(b, n->subtree.b, CR_ID_LEN)) < 0)
        return err;
    return 0;
}

int cr_tree_encode(cr_buf *out, const cr_tree *tree)
{
    int err, version = TREE_VERSION;
    for (size_t i = 0; i < tree->count; i++) {
        const cr_node *n = &tree->nodes[i];
        const char *why = node_check(n, i ? &tree->nodes[i - 1] : NULL);
        if (why) {
            cr_error_set("cannot store folder entry \"%s\": %s", n->name ? n->name : "", why);
            return CR_EINPUT;
        }
        for (size_t j = 0; j < n->ncontent; j++)
            if (n->content[j].blob_off)
                version = TREE_VERSION_BLOB_OFF;
    }
    if ((err = cr_buf_put(out, TREE_MAGIC, 4)) < 0 ||
        (err = cr_buf_put_u8(out, (uint8_t)version)) < 0 ||
        (err = cr_buf_put_varint(out, tree->count)) < 0)
        return err;
    for (size_t i = 0; i < tree->count; i++)
        if ((err = put_node(out, &tree->nodes[i], version)) < 0)
            return err;
    return 0;
}

/* ------------------------------------------------------------ decoding */

static int rd_u32v(cr_rd *r, uint32_t *out)
{
    uint64_t v;
    if (cr_rd_varint(r, &v) < 0)
        return r->err;
    if (v > UINT32_MAX) {
        cr_error_set("damaged tree: number out of range");
        return r->err = CR_ECORRUPT;
    }
    *out = (uint32_t)v;
    return 0;
}

static int read_node(cr_rd *r, cr_node *n, int version)
{
    const uint8_t *p;
    uint8_t u8;
    uint64_t cnt;
    size_t len;

    if (cr_rd_u8(r, &u8) < 0)
        return r->err;
    n->type = (cr_node_type)u8;
    if (cr_rd_bytes(r, &p, &len, CR_MAX_NAME) < 0)
        return r->err;
    if (len == 0 || memchr(p, 0, len)) {
        cr_error_set("damaged tree: empty name or NUL byte in a name");
        return CR_ECORRUPT;
    }
    if (!(n->name = cr_strndup((const char *)p, len)))
        return CR_ERROR;
    if (rd_u32v(r, &n->mode) < 0 || rd_u32v(r, &n->uid) < 0 || rd_u32v(r, &n->gid) < 0 ||
        cr_rd_str(r, &n->user, CR_MAX_NAME) < 0 || cr_rd_str(r, &n->group, CR_MAX_NAME) < 0 ||
        cr_rd_svarint(r, &n->mtime_ns) < 0 || cr_rd_svarint(r, &n->atime_ns) < 0 ||
        cr_rd_svarint(r, &n->ctime_ns) < 0 || cr_rd_varint(r, &n->inode) < 0 ||
        cr_rd_varint(r, &n->dev) < 0 || cr_rd_varint(r, &n->nlink) < 0 ||
        cr_rd_varint(r, &n->size) < 0 || cr_rd_varint(r, &n->rdev) < 0 ||
        cr_rd_str(r, &n->link_target, CR_MAX_LINK) < 0 || cr_rd_varint(r, &cnt) < 0)
        return r->err;

    if (cnt > cr_rd_left(r) / TREE_XATTR_MIN_BYTES) {
        cr_error_set("damaged tree: extended attribute count exceeds the data");
        return CR_ECORRUPT;
    }
    if (cnt) {
        if (!(n->xattrs = cr_calloc((size_t)cnt, sizeof(cr_xattr))))
            return CR_ERROR;
        n->nxattrs = (size_t)cnt;
        for (size_t i = 0; i < n->nxattrs; i++) {
            cr_xattr *x = &n->xattrs[i];
            if (cr_rd_str(r, &x->name, CR_MAX_NAME) < 0 ||
                cr_rd_bytes(r, &p, &len, CR_MAX_XATTR) < 0)
                return r->err;
            if (!(x->value = cr_malloc(len)))
                return CR_ERROR;
            if (len)
                memcpy(x->value, p, len);
            x->len = len;
        }
    }
    if (cr_rd_str(r, &n->acl_access, CR_MAX_XATTR) < 0 ||
        cr_rd_str(r, &n->acl_default, CR_MAX_XATTR) < 0 || cr_rd_varint(r, &cnt) < 0)
        return r->err;
    if (cnt > cr_rd_left(r) / TREE_EXTENT_MIN_BYTES) {
        cr_error_set("damaged tree: extent count exceeds the data");
        return CR_ECORRUPT;
    }
    if (cnt) {
        if (!(n->content = cr_malloc((size_t)cnt * sizeof(cr_extent))))
            return CR_ERROR;
        n->ncontent = (size_t)cnt;
        uint64_t end = 0;
        for (size_t i = 0; i < n->ncontent; i++) {
            cr_extent *x = &n->content[i];
            uint64_t gap;
            if (cr_rd_varint(r, &gap) < 0 || rd_u32v(r, &x->len) < 0 ||
                cr_rd_raw(r, &p, CR_ID_LEN) < 0)
                return r->err;
            x->blob_off = 0;
            if (version >= TREE_VERSION_BLOB_OFF && rd_u32v(r, &x->blob_off) < 0)
                return r->err;
            if (gap > UINT64_MAX - end) {
                cr_error_set("damaged tree: extent offset overflows");
                return CR_ECORRUPT;
            }
            x->offset = end + gap;
            memcpy(x->id.b, p, CR_ID_LEN);
            /* Overflow of offset + len is caught by node_check (offset <= size). */
            end = x->offset + x->len < x->offset ? UINT64_MAX : x->offset + x->len;
        }
    }
    if (cr_rd_u8(r, &u8) < 0)
        return r->err;
    if (u8 > 1) {
        cr_error_set("damaged tree: bad subtree flag");
        return CR_ECORRUPT;
    }
    n->has_subtree = u8;
    if (u8) {
        if (cr_rd_raw(r, &p, CR_ID_LEN) < 0)
            return r->err;
        memcpy(n->subtree.b, p, CR_ID_LEN);
    }
    return 0;
}

int cr_tree_decode(cr_tree **out, const void *data, size_t len)
{
    cr_tree *t = NULL;
    const uint8_t *p;
    uint8_t ver;
    uint64_t count;
    cr_rd r;
    int err;

    *out = NULL;
    cr_rd_init(&r, data, len);
    if (cr_rd_raw(&r, &p, 4) < 0 || memcmp(p, TREE_MAGIC, 4) != 0) {
        cr_error_set("damaged tree: not a tree (bad magic)");
        return CR_ECORRUPT;
    }
    if (cr_rd_u8(&r, &ver) < 0 || cr_rd_varint(&r, &count) < 0)
        return CR_ECORRUPT;
    if (ver != TREE_VERSION && ver != TREE_VERSION_BLOB_OFF) {
        cr_error_set("tree format version %u is not supported by this program", ver);
        return CR_EVERSION;
    }
    if (count > cr_rd_left(&r) / TREE_NODE_MIN_BYTES) {
        cr_error_set("damaged tree: entry count %llu exceeds the data", (unsigned long long)count);
        return CR_ECORRUPT;
    }
    if (!(t = cr_calloc(1, sizeof(*t))))
        return CR_ERROR;
    if (count && !(t->nodes = cr_calloc((size_t)count, sizeof(cr_node)))) {
        err = CR_ERROR;
        goto done;
    }
    /* Zeroed nodes are safe to clear, so the whole array counts from now on. */
    t->count = (size_t)count;
    for (size_t i = 0; i < t->count; i++) {
        if ((err = read_node(&r, &t->nodes[i], ver)) < 0)
            goto done;
        const char *why = node_check(&t->nodes[i], i ? &t->nodes[i - 1] : NULL);
        if (why) {
            cr_error_set("damaged tree: entry %zu: %s", i, why);
            err = CR_ECORRUPT;
            goto done;
        }
    }
    if (cr_rd_left(&r) != 0) {
        cr_error_set("damaged tree: %zu unexpected bytes at the end", cr_rd_left(&r));
        err = CR_ECORRUPT;
        goto done;
    }
    *out = t;
    t = NULL;
    err = 0;
done:
    cr_tree_free(t);
    return err;
}

/* ------------------------------------------------------------ storage */

int cr_tree_save(cr_id *out, cr_repo *repo, cr_packer *packer, const cr_tree *tree)
{
    cr_buf buf = CR_BUF_INIT;
    cr_index *idx;
    int err;

    if ((err = cr_tree_encode(&buf, tree)) < 0 || (err = cr_repo_index(&idx, repo)) < 0)
        goto done;
    cr_blob_id(out, &repo->keys, buf.ptr, buf.len);
    if (cr_index_claim(idx, out)) {
        if ((err = cr_packer_add(packer, CR_BLOB_TREE, out, buf.ptr, buf.len, NULL)) < 0)
            cr_index_unclaim(idx, out);
    }
done:
    cr_buf_free(&buf);
    return err;
}

int cr_tree_load(cr_tree **out, cr_repo *repo, const cr_id *id)
{
    cr_buf buf = CR_BUF_INIT;
    int err;
    *out = NULL;
    if ((err = cr_repo_load_blob(&buf, repo, id, CR_BLOB_TREE)) == 0 &&
        (err = cr_tree_decode(out, buf.ptr, buf.len)) < 0) {
        char hex[CR_ID_HEX_LEN + 1];
        cr_error_prefix("tree %s", cr_id_to_hex(hex, id));
        /* Authenticated but unparseable: damage all the same. */
        if (err != CR_ERROR)
            err = CR_ECORRUPT;
    }
    cr_buf_free(&buf);
    return err;
}

/* ------------------------------------------------------------ paths */

static const cr_node *tree_find(const cr_tree *t, const char *name, size_t len)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = t->nodes[mid].name;
        int c = strncmp(m, name, len);
        if (c == 0)
            c = m[len] ? 1 : 0;
        if (c == 0)
            return &t->nodes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void root_node(cr_node *n, const cr_snapshot *snap)
{
    memset(n, 0, sizeof(*n));
    n->type = CR_NODE_DIR;
    n->mode = 0755;
    n->mtime_ns = n->atime_ns = n->ctime_ns = snap->time_ns;
    n->has_subtree = 1;
    n->subtree = snap->tree;
}

int cr_snapshot_lookup(cr_node *out, cr_repo *repo, const cr_snapshot *snap, const char *path)
{
    cr_node cur;
    cr_tree *t = NULL;
    int err = 0, depth = 0;
    const char *p = path ? path : "";

    memset(out, 0, sizeof(*out));
    root_node(&cur, snap);
    if (!(cur.name = cr_strdup("/")))
        return CR_ERROR;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (cur.type != CR_NODE_DIR) {
            cr_error_set("%s: \"%.*s\" is not a folder in the snapshot", path, (int)(p - path - 1),
                         path);
            err = CR_ENOTFOUND;
            goto done;
        }
        /* depth: the components of `cur`, whose tree is loaded next. */
        if (depth++ > CR_TREE_MAX_DEPTH) {
            cr_error_set("%s: path too deep", path);
            err = CR_EINPUT;
            goto done;
        }
        const cr_node *child = NULL;
        if (cur.has_subtree) {
            if ((err = cr_tree_load(&t, repo, &cur.subtree)) < 0)
                goto done;
            child = tree_find(t, p, len);
        }
        if (!child) {
            cr_error_set("%s: no such file or folder in the snapshot", path);
            err = CR_ENOTFOUND;
            goto done;
        }
        cr_node_clear(&cur);
        if ((err = cr_node_copy(&cur, child)) < 0)
            goto done;
        cr_tree_free(t);
        t = NULL;
        p += len;
    }
    *out = cur;
    memset(&cur, 0, sizeof(cur));
done:
    cr_node_clear(&cur);
    cr_tree_free(t);
    return err;
}

/* path holds the folder's path ("" for the root); children are path + "/" + name. */
static int walk_dir(cr_repo *repo, const cr_id *tree_id, cr_buf *path, int recursive, int depth,
                    cr_walk_cb cb, void *payload)
{
    cr_tree *t = NULL;
    int rc;
    if (depth > CR_TREE_MAX_DEPTH) {
        cr_error_set("snapshot tree nested deeper than %d folders", CR_TREE_MAX_DEPTH);
        return CR_ECORRUPT;
    }
    if ((rc = cr_tree_load(&t, repo, tree_id)) < 0)
        return rc;
    size_t base = path->len;
    for (size_t i = 0; i < t->count; i++) {
        const cr_node *n = &t->nodes[i];
        path->len = base;
        if ((rc = cr_buf_put(path, "/", 1)) < 0 ||
            (rc = cr_buf_put(path, n->name, strlen(n->name) + 1)) < 0)
            break;
        path->len--; /* keep the NUL out of the length */
        if ((rc = cb((const char *)path->ptr, n, payload)) != 0)
            break;
        if (recursive && n->type == CR_NODE_DIR && n->has_subtree &&
            (rc = walk_dir(repo, &n->subtree, path, recursive, depth + 1, cb, payload)) != 0)
            break;
    }
    path->len = base;
    cr_tree_free(t);
    return rc;
}

int cr_snapshot_walk(cr_repo *repo, const cr_snapshot *snap, const char *path, int recursive,
                     cr_walk_cb cb, void *payload)
{
    cr_node start;
    cr_buf norm = CR_BUF_INIT;
    const char *p = path ? path : "";
    int rc;

    if ((rc = cr_snapshot_lookup(&start, repo, snap, p)) < 0)
        return rc;
    /* Normalise the path: "a//b/" -> "/a/b", "/" -> "". */
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!(len == 1 && p[0] == '.') &&
            ((rc = cr_buf_put(&norm, "/", 1)) < 0 || (rc = cr_buf_put(&norm, p, len)) < 0))
            goto done;
        p += len;
    }
    if ((rc = cr_buf_put(&norm, "", 1)) < 0)
        goto done;
    norm.len--;
    if (start.type != CR_NODE_DIR) {
        /* A single file: the walk is that file. */
        rc = cb((const char *)norm.ptr, &start, payload);
    } else if (start.has_subtree) {
        rc = walk_dir(repo, &start.subtree, &norm, recursive, 0, cb, payload);
    }
done:
    cr_node_clear(&start);
    cr_buf_free(&norm);
    return rc;
}
