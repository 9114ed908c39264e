/*
 * The parent's checks of what the disk image reader in the sandbox says
 * (src/image/sbx.c), played as a hijacked reader would:
 *
 *  - a folder's tree may name only the chunks of its disk (within the chunk)
 *    and blobs it had stored (within their length), and as sub-folders only
 *    trees it had saved; names must be safe: anything else is CR_EHOSTILE;
 *  - the chain of an opened disk: absolute paths, known formats, sizes the
 *    formats allow;
 *  - the volumes: names of letters and digits, each once, inside the disk,
 *    trees it had saved, texts cleaned of control characters.
 */
#include "test.h"
#include "image/image.h"

static void node(cr_node *n, const char *name, cr_node_type type)
{
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->name = (char *)name;
    n->mode = 0644;
    n->nlink = 1;
}

/* The tree {a: file of 100 bytes at blob_off in `blob`, d: folder `sub`} encoded. */
static void tree_bytes(cr_buf *out, const char *fname, const cr_id *blob, uint32_t blob_off,
                       const cr_id *sub)
{
    cr_node n[2];
    cr_extent x = {0, 100, *blob, blob_off};
    node(&n[0], fname, CR_NODE_FILE);
    n[0].size = 100;
    n[0].content = &x;
    n[0].ncontent = 1;
    node(&n[1], "d", CR_NODE_DIR);
    n[1].has_subtree = 1;
    n[1].subtree = *sub;
    cr_tree t = {n, 2};
    cr_buf_reset(out);
    REQUIRE(cr_tree_encode(out, &t) == 0);
}

static void test_trees(void)
{
    im_chunkmap map;
    cr_id ids[2], stored, sub, other;
    uint8_t present[2] = {1, 0};
    im_sbx_known *k = NULL;
    cr_tree *t = NULL;
    cr_buf b = CR_BUF_INIT;

    memset(ids, 0x11, sizeof(ids));
    memset(&stored, 0x33, sizeof(stored));
    memset(&sub, 0x44, sizeof(sub));
    memset(&other, 0x55, sizeof(other));
    map.size = CR_IMAGE_CHUNK + 1000; /* chunk 0 present, chunk 1 (1000 bytes) a hole */
    map.n = 2;
    map.ids = ids;
    map.present = present;
    REQUIRE(im_sbx_known_new(&k, &map) == 0);
    REQUIRE(im_sbx_known_blob(k, &stored, 200) == 0);
    REQUIRE(im_sbx_known_tree(k, &sub) == 0);

    tree_bytes(&b, "a", &ids[0], CR_IMAGE_CHUNK - 100, &sub);
    CHECK_OK(im_sbx_check_tree(&t, k, b.ptr, b.len));
    CHECK(t && t->count == 2);
    cr_tree_free(t);
    tree_bytes(&b, "a", &stored, 100, &sub);
    CHECK_OK(im_sbx_check_tree(&t, k, b.ptr, b.len));
    cr_tree_free(t);

    /* Past the end of the chunk, of the stored blob; a blob it never stored; a tree it never saved. */
    tree_bytes(&b, "a", &ids[0], CR_IMAGE_CHUNK - 99, &sub);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    tree_bytes(&b, "a", &stored, 101, &sub);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    tree_bytes(&b, "a", &other, 0, &sub);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    CHECK(strstr(cr_error_last(), "not in the vault") != NULL);
    tree_bytes(&b, "a", &stored, 0, &other);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    /* A blob id named as a folder, a tree id named as data. */
    tree_bytes(&b, "a", &stored, 0, &stored);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    tree_bytes(&b, "a", &sub, 0, &sub);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    /* An unsafe name; bytes that are not a tree. */
    tree_bytes(&b, "..", &stored, 0, &sub);
    CHECK(im_sbx_check_tree(&t, k, b.ptr, b.len) == CR_EHOSTILE && !t);
    CHECK(im_sbx_check_tree(&t, k, "CRTRjunk", 8) == CR_EHOSTILE && !t);

    cr_buf_free(&b);
    im_sbx_known_free(k);
}

static void layer(cr_buf *b, const char *path, uint8_t fmt, uint64_t size)
{
    cr_buf_put_str(b, path);
    cr_buf_put_u8(b, fmt);
    cr_buf_put_u64(b, size);
    cr_buf_put_u64(b, 0);
}

static int layers(const char *path, uint8_t fmt, uint64_t size)
{
    cr_buf b = CR_BUF_INIT;
    im_layer *l = NULL;
    size_t n = 0;
    cr_buf_put_varint(&b, 2);
    layer(&b, "/vm/top.qcow2", CR_IMAGE_QCOW2, 1 << 20);
    layer(&b, path, fmt, size);
    int rc = im_sbx_decode_layers(&l, &n, b.ptr, b.len);
    if (rc == 0) {
        CHECK(n == 2 && !strcmp(l[0].path, "/vm/top.qcow2") && l[1].format == fmt);
        for (const char *p = l[1].path; *p; p++)
            CHECK((unsigned char)*p >= 0x20);
    }
    im_layers_free(l, n);
    cr_buf_free(&b);
    return rc;
}

static void test_layers(void)
{
    CHECK_OK(layers("/vm/base.qcow2", CR_IMAGE_QCOW2, 1 << 20));
    CHECK_OK(layers("/vm/base.vhd", CR_IMAGE_VHD, 1 << 20));
    CHECK_OK(layers("/vm/a\033[2Jb", CR_IMAGE_QCOW2, 1 << 20)); /* cleaned */
    CHECK(layers("vm/base.qcow2", CR_IMAGE_QCOW2, 1 << 20) == CR_EHOSTILE);
    CHECK(layers("/vm/base.qcow2", CR_IMAGE_VHD + 1, 1 << 20) == CR_EHOSTILE);
    CHECK(layers("/vm/base.qcow2", CR_IMAGE_AUTO, 1 << 20) == CR_EHOSTILE);
    CHECK(layers("/vm/base.qcow2", CR_IMAGE_QCOW2, (64ull << 40) + 1) == CR_EHOSTILE);
}

/* A list of one volume `name` at [start, start + len), with a tree `tree` if not NULL. */
static int volumes(const char *name, uint64_t start, uint64_t len, const cr_id *tree,
                   const char *label, im_sbx_known *k, im_fsresult **v, size_t *nv)
{
    cr_buf b = CR_BUF_INIT, r = CR_BUF_INIT;
    char *pt = NULL;
    cr_buf_put_str(&b, "gpt");
    cr_buf_put_varint(&b, 1);
    cr_buf_put_u8(&b, 0);
    cr_buf_put_str(&b, name);
    cr_buf_put_u64(&b, start);
    cr_buf_put_u64(&b, len);
    cr_buf_put_str(&b, "ext4");
    cr_buf_put_str(&b, label);
    cr_buf_put_str(&b, NULL);
    cr_buf_put_u64(&b, 3);
    cr_buf_put_u8(&b, tree != NULL);
    if (tree) {
        cr_node n;
        node(&n, "x", CR_NODE_DIR);
        n.has_subtree = 1;
        n.subtree = *tree;
        cr_tree t = {&n, 1};
        REQUIRE(cr_tree_encode(&r, &t) == 0);
        cr_buf_put(&b, tree->b, CR_ID_LEN);
        cr_buf_put_bytes(&b, r.ptr, r.len);
    }
    for (int i = 0; i < 4; i++)
        cr_buf_put_u64(&b, 1);
    cr_buf_put_u8(&b, 0);
    int rc = im_sbx_decode_volumes(v, nv, &pt, k, 1u << 30, b.ptr, b.len);
    CHECK(rc == 0 ? pt && !strcmp(pt, "gpt") : !pt && !*v && !*nv);
    free(pt);
    cr_buf_free(&b);
    cr_buf_free(&r);
    return rc;
}

static void clear(im_fsresult *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        im_fsresult_clear(&v[i]);
    free(v);
}

static void test_volumes(void)
{
    im_sbx_known *k = NULL;
    im_fsresult *v = NULL;
    size_t n = 0;
    cr_id tree, other;
    memset(&tree, 0x44, sizeof(tree));
    memset(&other, 0x55, sizeof(other));
    REQUIRE(im_sbx_known_new(&k, NULL) == 0);
    REQUIRE(im_sbx_known_tree(k, &tree) == 0);
    REQUIRE(im_sbx_known_blob(k, &other, 10) == 0);

    CHECK_OK(volumes("p2", 1 << 20, 100 << 20, &tree, "ro\033ot", k, &v, &n));
    REQUIRE(n == 1);
    CHECK(v[0].has_tree && !memcmp(&v[0].tree, &tree, sizeof(tree)) && v[0].vol.files == 3);
    CHECK(!strcmp(v[0].root.name, "p2") && v[0].root.type == CR_NODE_DIR);
    CHECK(v[0].vol.label && !strcmp(v[0].vol.label, "ro?ot"));
    clear(v, n);
    CHECK(volumes("p/2", 0, 1, NULL, NULL, k, &v, &n) == CR_EHOSTILE);
    CHECK(volumes("p\n2", 0, 1, NULL, NULL, k, &v, &n) == CR_EHOSTILE);
    CHECK(volumes("p2", 1u << 30, 1, NULL, NULL, k, &v, &n) == CR_EHOSTILE);
    /* A volume whose tree is a data blob, or was never saved. */
    CHECK(volumes("p2", 0, 1, &other, NULL, k, &v, &n) == CR_EHOSTILE);
    memset(&other, 0x66, sizeof(other));
    CHECK(volumes("p2", 0, 1, &other, NULL, k, &v, &n) == CR_EHOSTILE);
    im_sbx_known_free(k);
}

int main(void)
{
    test_trees();
    test_layers();
    test_volumes();
    return test_summary("test_image_sbx");
}
