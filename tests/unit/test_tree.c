/* Trees: codec round trip, every validation rule, save/load, lookup and walk. */
#include "vault/vault.h"
#include "test.h"
#include "fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A tree with one node of each type and every field set. */
static cr_tree *sample_tree(void)
{
    cr_tree *t = calloc(1, sizeof(*t));
    t->count = 7;
    t->nodes = calloc(t->count, sizeof(cr_node));
    const char *names[7] = {"a.txt", "bin", "dev-null", "fifo", "link", "sda", "sock"};
    cr_node_type types[7] = {CR_NODE_FILE,    CR_NODE_DIR,      CR_NODE_CHARDEV, CR_NODE_FIFO,
                             CR_NODE_SYMLINK, CR_NODE_BLOCKDEV, CR_NODE_SOCKET};
    for (int i = 0; i < 7; i++) {
        cr_node *n = &t->nodes[i];
        n->type = types[i];
        n->name = strdup(names[i]);
        n->mode = 0640 + (uint32_t)i;
        n->uid = 1000 + (uint32_t)i;
        n->gid = 4000000000u;
        n->user = strdup("alice");
        n->group = i % 2 ? strdup("staff") : NULL;
        n->mtime_ns = 1700000000123456789ll + i;
        n->atime_ns = -5; /* before 1970 */
        n->ctime_ns = INT64_MAX;
        n->inode = UINT64_MAX - (uint64_t)i;
        n->dev = 2049;
        n->nlink = 1;
        n->rdev = i == 2 ? 0x103 : 0;
    }
    cr_node *f = &t->nodes[0];
    f->size = 10u << 20;
    f->ncontent = 3;
    f->content = calloc(3, sizeof(cr_extent));
    f->content[0] = (cr_extent){0, 1u << 20, {{1}}, 0};
    f->content[1] = (cr_extent){1u << 20, 2u << 20, {{2}}, 0};
    f->content[2] = (cr_extent){8u << 20, 1u << 20, {{3}}, 0}; /* hole before, hole after */
    f->nxattrs = 2;
    f->xattrs = calloc(2, sizeof(cr_xattr));
    f->xattrs[0].name = strdup("user.empty");
    f->xattrs[1].name = strdup("security.selinux");
    f->xattrs[1].value = (uint8_t *)strdup("system_u:object_r:etc_t:s0");
    f->xattrs[1].len = strlen((char *)f->xattrs[1].value) + 1; /* binary, with NUL */
    f->acl_access = strdup("user::rw-\nuser:bob:r--\ngroup::r--\nmask::r--\nother::---\n");
    cr_node *d = &t->nodes[1];
    d->has_subtree = 1;
    memset(d->subtree.b, 0x5a, 32);
    d->acl_default = strdup("user::rwx\ngroup::r-x\nother::---\n");
    t->nodes[4].link_target = strdup("../../etc/passwd");
    return t;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int node_eq(const cr_node *a, const cr_node *b)
{
    if (a->type != b->type || !str_eq(a->name, b->name) || a->mode != b->mode || a->uid != b->uid ||
        a->gid != b->gid || !str_eq(a->user, b->user) || !str_eq(a->group, b->group) ||
        a->mtime_ns != b->mtime_ns || a->atime_ns != b->atime_ns || a->ctime_ns != b->ctime_ns ||
        a->inode != b->inode || a->dev != b->dev || a->nlink != b->nlink || a->size != b->size ||
        a->rdev != b->rdev || !str_eq(a->link_target, b->link_target) || a->nxattrs != b->nxattrs ||
        !str_eq(a->acl_access, b->acl_access) || !str_eq(a->acl_default, b->acl_default) ||
        a->ncontent != b->ncontent || a->has_subtree != b->has_subtree ||
        (a->has_subtree && memcmp(a->subtree.b, b->subtree.b, 32)))
        return 0;
    for (size_t i = 0; i < a->nxattrs; i++)
        if (!str_eq(a->xattrs[i].name, b->xattrs[i].name) || a->xattrs[i].len != b->xattrs[i].len ||
            (a->xattrs[i].len && memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].len)))
            return 0;
    for (size_t i = 0; i < a->ncontent; i++)
        if (a->content[i].offset != b->content[i].offset ||
            a->content[i].len != b->content[i].len ||
            a->content[i].blob_off != b->content[i].blob_off ||
            memcmp(a->content[i].id.b, b->content[i].id.b, 32))
            return 0;
    return 1;
}

static void test_round_trip(void)
{
    cr_tree *t = sample_tree(), *d = NULL, *empty = NULL;
    cr_buf b = CR_BUF_INIT, b2 = CR_BUF_INIT;
    CHECK_OK(cr_tree_encode(&b, t));
    CHECK_OK(cr_tree_decode(&d, b.ptr, b.len));
    REQUIRE(d && d->count == t->count);
    int same = 1;
    for (size_t i = 0; i < t->count; i++)
        same &= node_eq(&t->nodes[i], &d->nodes[i]);
    CHECK(same);
    CHECK_OK(cr_tree_encode(&b2, d));
    CHECK(b2.len == b.len && !memcmp(b.ptr, b2.ptr, b.len));
    printf("sample tree of %zu nodes: %zu bytes\n", t->count, b.len);

    /* Deep copy: equal and independent. */
    cr_node c;
    CHECK_OK(cr_node_copy(&c, &t->nodes[0]));
    CHECK(node_eq(&c, &t->nodes[0]));
    CHECK(c.name != t->nodes[0].name && c.content != t->nodes[0].content);
    cr_node_clear(&c);
    CHECK(c.name == NULL && c.ncontent == 0);

    /* Empty tree. */
    cr_buf_reset(&b);
    cr_tree et = {NULL, 0};
    CHECK_OK(cr_tree_encode(&b, &et));
    CHECK_OK(cr_tree_decode(&empty, b.ptr, b.len));
    CHECK(empty && empty->count == 0);

    cr_tree_free(empty);
    cr_tree_free(d);
    cr_tree_free(t);
    cr_tree_free(NULL);
    cr_buf_free(&b);
    cr_buf_free(&b2);
}

static void test_sort_and_encode_rules(void)
{
    cr_tree *t = sample_tree();
    cr_buf b = CR_BUF_INIT;
    /* Reverse the order: encode refuses, sort repairs. */
    for (size_t i = 0; i < t->count / 2; i++) {
        cr_node x = t->nodes[i];
        t->nodes[i] = t->nodes[t->count - 1 - i];
        t->nodes[t->count - 1 - i] = x;
    }
    CHECK(cr_tree_encode(&b, t) == CR_EINPUT);
    cr_tree_sort(t);
    CHECK(!strcmp(t->nodes[0].name, "a.txt") && !strcmp(t->nodes[6].name, "sock"));
    cr_buf_reset(&b);
    CHECK_OK(cr_tree_encode(&b, t));
    /* Bytewise order: "B" < "a" < "\xc3\xa9" (UTF-8 above ASCII). */
    free(t->nodes[0].name);
    t->nodes[0].name = strdup("\xc3\xa9t\xc3\xa9");
    cr_tree_sort(t);
    CHECK(!strcmp(t->nodes[6].name, "\xc3\xa9t\xc3\xa9"));
    /* Duplicate name refused. */
    free(t->nodes[1].name);
    t->nodes[1].name = strdup(t->nodes[0].name);
    cr_buf_reset(&b);
    CHECK(cr_tree_encode(&b, t) == CR_EINPUT);
    cr_tree_free(t);
    cr_buf_free(&b);
}

/* Encode a one-node tree after `mutate` bypasses the encoder's checks by
 * writing bytes by hand: build the node, encode a valid one, then patch. */
static int decode_one_v(const cr_node *n, int version)
{
    cr_buf b = CR_BUF_INIT;
    cr_tree *d = NULL;
    /* Write without checks, as an attacker would. */
    cr_buf_put(&b, "CRTR", 4);
    cr_buf_put_u8(&b, (uint8_t)version);
    cr_buf_put_u8(&b, 1);
    cr_buf_put_u8(&b, (uint8_t)n->type);
    cr_buf_put_bytes(&b, n->name, n->name ? strlen(n->name) : 0);
    for (int i = 0; i < 3; i++)
        cr_buf_put_varint(&b, 0);
    cr_buf_put_str(&b, NULL);
    cr_buf_put_str(&b, NULL);
    for (int i = 0; i < 3; i++)
        cr_buf_put_svarint(&b, 0);
    cr_buf_put_varint(&b, 0);
    cr_buf_put_varint(&b, 0);
    cr_buf_put_varint(&b, 0);
    cr_buf_put_varint(&b, n->size);
    cr_buf_put_varint(&b, 0);
    cr_buf_put_str(&b, n->link_target);
    cr_buf_put_varint(&b, 0);
    cr_buf_put_str(&b, NULL);
    cr_buf_put_str(&b, NULL);
    cr_buf_put_varint(&b, n->ncontent);
    uint64_t end = 0;
    for (size_t i = 0; i < n->ncontent; i++) {
        cr_buf_put_varint(&b, n->content[i].offset - end);
        cr_buf_put_varint(&b, n->content[i].len);
        cr_buf_put(&b, n->content[i].id.b, 32);
        if (version >= 2)
            cr_buf_put_varint(&b, n->content[i].blob_off);
        end = n->content[i].offset + n->content[i].len;
    }
    cr_buf_put_u8(&b, (uint8_t)n->has_subtree);
    if (n->has_subtree)
        cr_buf_put(&b, n->subtree.b, 32);
    int rc = cr_tree_decode(&d, b.ptr, b.len);
    cr_tree_free(d);
    cr_buf_free(&b);
    return rc;
}

static int decode_one(const cr_node *n)
{
    return decode_one_v(n, 1);
}

static void test_decode_rules(void)
{
    cr_extent ext[2] = {{0, 100, {{1}}, 0}, {100, 100, {{2}}, 0}};
    cr_node n;
    memset(&n, 0, sizeof(n));
    n.type = CR_NODE_FILE;
    n.name = "f";
    n.size = 200;
    n.content = ext;
    n.ncontent = 2;
    CHECK(decode_one(&n) == 0);
    n.type = 8;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* unknown type */
    n.type = 0;
    CHECK(decode_one(&n) == CR_ECORRUPT);
    n.type = CR_NODE_FILE;
    n.size = 199;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* extent beyond the size */
    n.size = 200;
    ext[1].len = 0;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* empty extent */
    ext[1].len = CR_MAX_BLOB + 1;
    n.size = UINT64_MAX;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* extent too long */
    ext[1].len = 100;
    n.type = CR_NODE_DIR;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* content on a folder */
    n.ncontent = 0;
    n.has_subtree = 1;
    CHECK(decode_one(&n) == 0);
    n.type = CR_NODE_FILE;
    CHECK(decode_one(&n) == CR_ECORRUPT); /* subtree on a file */
    n.has_subtree = 0;
    n.name = "";
    CHECK(decode_one(&n) == CR_ECORRUPT); /* empty name */
    n.name = "a/b";
    CHECK(decode_one(&n) == 0); /* decodes; restore refuses it */
    n.name = "..";
    CHECK(decode_one(&n) == 0);
    char *longname = malloc(CR_MAX_NAME + 2);
    memset(longname, 'x', CR_MAX_NAME + 1);
    longname[CR_MAX_NAME + 1] = 0;
    n.name = longname;
    CHECK(decode_one(&n) == CR_ECORRUPT);
    longname[CR_MAX_NAME] = 0;
    CHECK(decode_one(&n) == 0);
    free(longname);
    n.name = "l";
    n.type = CR_NODE_SYMLINK;
    char *target = malloc(CR_MAX_LINK + 2);
    memset(target, 't', CR_MAX_LINK + 1);
    target[CR_MAX_LINK + 1] = 0;
    n.link_target = target;
    CHECK(decode_one(&n) == CR_ECORRUPT);
    target[CR_MAX_LINK] = 0;
    CHECK(decode_one(&n) == 0);
    free(target);

    /* Hand-made byte strings: NUL in a name, duplicates, huge counts, bad flag. */
    cr_tree *d = NULL;
    const uint8_t nul_name[] = "CRTR\x01\x01\x01\x03"
                               "a\0b"
                               "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    CHECK(cr_tree_decode(&d, nul_name, sizeof(nul_name) - 1) == CR_ECORRUPT && !d);
    const uint8_t node[] = "\x01\x01"
                           "a"
                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    size_t nl = sizeof(node) - 1; /* 22 bytes: the smallest node */
    REQUIRE(nl == 22);
    uint8_t buf[200];
    memcpy(buf, "CRTR\x01\x02", 6);
    memcpy(buf + 6, node, nl);
    memcpy(buf + 6 + nl, node, nl);
    CHECK(cr_tree_decode(&d, buf, 6 + nl) == CR_ECORRUPT);     /* count 2, one node */
    CHECK(cr_tree_decode(&d, buf, 6 + 2 * nl) == CR_ECORRUPT); /* duplicate "a" */
    buf[6 + nl + 2] = 'b';
    CHECK(cr_tree_decode(&d, buf, 6 + 2 * nl) == 0 && d && d->count == 2);
    cr_tree_free(d);
    d = NULL;
    buf[6 + nl + 2] = 'A'; /* "A" after "a": out of order */
    CHECK(cr_tree_decode(&d, buf, 6 + 2 * nl) == CR_ECORRUPT);
    buf[6 + nl + 2] = 'b';
    buf[6 + 2 * nl] = 0; /* trailing byte */
    CHECK(cr_tree_decode(&d, buf, 6 + 2 * nl + 1) == CR_ECORRUPT);
    buf[6 + 2 * nl - 1] = 2; /* has_subtree = 2 */
    CHECK(cr_tree_decode(&d, buf, 6 + 2 * nl) == CR_ECORRUPT);
    memcpy(buf, "CRTR\x01\xff\xff\xff\xff\x0f", 10);
    CHECK(cr_tree_decode(&d, buf, 10) == CR_ECORRUPT);
    memcpy(buf, "CRTR\x03\x00", 6);
    CHECK(cr_tree_decode(&d, buf, 6) == CR_EVERSION);
    memcpy(buf, "CRTR\x00\x00", 6);
    CHECK(cr_tree_decode(&d, buf, 6) == CR_EVERSION);
    CHECK(cr_tree_decode(&d, "CRT", 3) == CR_ECORRUPT);
    CHECK(cr_tree_decode(&d, "", 0) == CR_ECORRUPT);
    /* Huge xattr and extent counts inside a node. */
    memcpy(buf, "CRTR\x01\x01", 6);
    memcpy(buf + 6, node, nl);
    memcpy(buf + 6 + 17, "\xff\xff\xff\xff\x0f", 5); /* nxattrs */
    CHECK(cr_tree_decode(&d, buf, 6 + nl + 4) == CR_ECORRUPT);
    memcpy(buf + 6, node, nl);
    memcpy(buf + 6 + 20, "\xff\xff\xff\xff\x0f", 5); /* ncontent */
    CHECK(cr_tree_decode(&d, buf, 6 + nl + 4) == CR_ECORRUPT);
    CHECK(d == NULL);

    /* Every prefix of a valid tree fails cleanly. */
    cr_tree *t = sample_tree();
    cr_buf b = CR_BUF_INIT;
    CHECK_OK(cr_tree_encode(&b, t));
    int ok = 1;
    for (size_t cut = 0; cut < b.len; cut++) {
        if (cr_tree_decode(&d, b.ptr, cut) == 0) {
            ok = 0;
            cr_tree_free(d);
        }
    }
    CHECK(ok);
    cr_buf_free(&b);
    cr_tree_free(t);
}

/* Version 2: extents with a blob offset (files seen inside a disk image). */
static void test_blob_off(void)
{
    cr_tree *t = sample_tree(), *d = NULL, *d2 = NULL;
    cr_buf b1 = CR_BUF_INIT, b2 = CR_BUF_INIT, b3 = CR_BUF_INIT;

    /* No offset anywhere: version 1, as before blob offsets existed. */
    CHECK_OK(cr_tree_encode(&b1, t));
    CHECK(b1.len > 5 && b1.ptr[4] == 1);

    /* One offset: version 2, every offset read back. */
    cr_node *f = &t->nodes[0];
    f->content[1].blob_off = 123;
    f->content[2].blob_off = CR_MAX_BLOB - f->content[2].len; /* ends at the largest blob */
    CHECK_OK(cr_tree_encode(&b2, t));
    CHECK(b2.len > b1.len && b2.ptr[4] == 2);
    CHECK_OK(cr_tree_decode(&d, b2.ptr, b2.len));
    REQUIRE(d && d->count == t->count);
    int same = 1;
    for (size_t i = 0; i < t->count; i++)
        same &= node_eq(&t->nodes[i], &d->nodes[i]);
    CHECK(same);
    CHECK(d->nodes[0].content[0].blob_off == 0 && d->nodes[0].content[1].blob_off == 123);
    CHECK_OK(cr_tree_encode(&b3, d));
    CHECK(b3.len == b2.len && !memcmp(b2.ptr, b3.ptr, b2.len));
    cr_tree_free(d);
    d = NULL;

    /* A version 2 tree whose offsets are all 0 decodes, and encodes again as
     * version 1 (one canonical encoding per tree). */
    cr_extent ext[2] = {{0, 100, {{1}}, 0}, {100, 100, {{2}}, 0}};
    cr_node n;
    memset(&n, 0, sizeof(n));
    n.type = CR_NODE_FILE;
    n.name = "f";
    n.size = 200;
    n.content = ext;
    n.ncontent = 2;
    CHECK(decode_one_v(&n, 2) == 0);
    cr_tree one = {&n, 1};
    cr_buf_reset(&b3);
    CHECK_OK(cr_tree_encode(&b3, &one));
    CHECK(b3.ptr[4] == 1);
    b3.ptr[4] = 2; /* a version 2 header on version 1 extents: misread, refused */
    CHECK(cr_tree_decode(&d, b3.ptr, b3.len) == CR_ECORRUPT && !d);

    /* Hostile offsets. */
    ext[1].blob_off = CR_MAX_BLOB - 100;
    CHECK(decode_one_v(&n, 2) == 0);
    ext[1].blob_off = CR_MAX_BLOB - 99; /* one byte beyond the largest blob */
    CHECK(decode_one_v(&n, 2) == CR_ECORRUPT);
    cr_buf_reset(&b3);
    CHECK(cr_tree_encode(&b3, &one) == CR_EINPUT); /* the writer refuses it too */
    ext[1].blob_off = UINT32_MAX;
    CHECK(decode_one_v(&n, 2) == CR_ECORRUPT);
    ext[1].len = CR_MAX_BLOB;
    ext[1].blob_off = 1;
    n.size = UINT64_MAX;
    CHECK(decode_one_v(&n, 2) == CR_ECORRUPT);
    ext[1].len = 100;
    ext[1].blob_off = 0;
    n.size = 200;

    /* Every prefix of a version 2 tree fails cleanly. */
    int ok = 1;
    for (size_t cut = 0; cut < b2.len; cut++) {
        if (cr_tree_decode(&d2, b2.ptr, cut) == 0) {
            ok = 0;
            cr_tree_free(d2);
            d2 = NULL;
        }
    }
    CHECK(ok);

    /* Node copies keep the offset. */
    cr_node c;
    CHECK_OK(cr_node_copy(&c, f));
    CHECK(c.content[1].blob_off == 123);
    cr_node_clear(&c);

    cr_tree_free(t);
    cr_buf_free(&b1);
    cr_buf_free(&b2);
    cr_buf_free(&b3);
}

static void test_name_is_safe(void)
{
    CHECK(cr_name_is_safe("a"));
    CHECK(cr_name_is_safe("..."));
    CHECK(cr_name_is_safe(".hidden"));
    CHECK(cr_name_is_safe("\xc3\xa9"));
    CHECK(!cr_name_is_safe(""));
    CHECK(!cr_name_is_safe(NULL));
    CHECK(!cr_name_is_safe("."));
    CHECK(!cr_name_is_safe(".."));
    CHECK(!cr_name_is_safe("a/b"));
    CHECK(!cr_name_is_safe("/"));
    CHECK(!cr_name_is_safe("../etc"));
}

static void set_node(cr_node *n, const char *name, cr_node_type type, uint64_t size)
{
    memset(n, 0, sizeof(*n));
    n->name = strdup(name);
    n->type = type;
    n->mode = type == CR_NODE_DIR ? 0755 : 0644;
    n->size = size;
}

typedef struct walk_log {
    char buf[1024];
    int stop_after, seen;
} walk_log;

static int log_cb(const char *path, const cr_node *node, void *payload)
{
    walk_log *l = payload;
    strcat(l->buf, path);
    strcat(l->buf, node->type == CR_NODE_DIR ? "/ " : " ");
    return ++l->seen == l->stop_after ? 7 : 0;
}

static void test_storage_and_paths(void)
{
    char dir[64];
    cr_repo *r = fx_repo_new(dir, "tree");
    cr_packer *p;
    cr_id cid, aid, rid, again;
    REQUIRE(cr_packer_new(&p, r) == 0);

    /* /a/c/d, /a/b, /z, and an empty folder /e (no subtree). */
    cr_tree c = {calloc(1, sizeof(cr_node)), 1};
    set_node(&c.nodes[0], "d", CR_NODE_FILE, 5);
    CHECK_OK(cr_tree_save(&cid, r, p, &c));
    cr_tree a = {calloc(2, sizeof(cr_node)), 2};
    set_node(&a.nodes[0], "c", CR_NODE_DIR, 0);
    a.nodes[0].has_subtree = 1;
    a.nodes[0].subtree = cid;
    set_node(&a.nodes[1], "b", CR_NODE_FILE, 3);
    cr_tree_sort(&a);
    CHECK_OK(cr_tree_save(&aid, r, p, &a));
    cr_tree root = {calloc(3, sizeof(cr_node)), 3};
    set_node(&root.nodes[0], "a", CR_NODE_DIR, 0);
    root.nodes[0].has_subtree = 1;
    root.nodes[0].subtree = aid;
    set_node(&root.nodes[1], "e", CR_NODE_DIR, 0);
    set_node(&root.nodes[2], "z", CR_NODE_FILE, 9);
    CHECK_OK(cr_tree_save(&rid, r, p, &root));
    /* Saving the same tree again stores nothing new (dedup through claims). */
    size_t before = cr_packer_size(p);
    CHECK_OK(cr_tree_save(&again, r, p, &c));
    CHECK(!memcmp(again.b, cid.b, 32) && cr_packer_size(p) == before);
    CHECK_OK(cr_packer_flush(p));
    CHECK(cr_index_blob_count(r->index) == 3);

    cr_tree *t = NULL;
    CHECK_OK(cr_tree_load(&t, r, &aid));
    CHECK(t && t->count == 2 && !strcmp(t->nodes[0].name, "b"));
    cr_tree_free(t);
    CHECK(cr_tree_load(&t, r, &again) == 0);
    cr_tree_free(t);
    cr_id bogus = {{0}};
    CHECK(cr_tree_load(&t, r, &bogus) == CR_ENOTFOUND && !t);

    cr_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    snap.tree = rid;
    cr_node n;
    CHECK_OK(cr_snapshot_lookup(&n, r, &snap, "/a/c/d"));
    CHECK(n.type == CR_NODE_FILE && !strcmp(n.name, "d") && n.size == 5);
    cr_node_clear(&n);
    CHECK_OK(cr_snapshot_lookup(&n, r, &snap, "a//c/"));
    CHECK(n.type == CR_NODE_DIR && n.has_subtree && !memcmp(n.subtree.b, cid.b, 32));
    cr_node_clear(&n);
    CHECK_OK(cr_snapshot_lookup(&n, r, &snap, "/"));
    CHECK(n.type == CR_NODE_DIR && n.has_subtree && !memcmp(n.subtree.b, rid.b, 32));
    cr_node_clear(&n);
    CHECK_OK(cr_snapshot_lookup(&n, r, &snap, ""));
    cr_node_clear(&n);
    CHECK(cr_snapshot_lookup(&n, r, &snap, "/a/x") == CR_ENOTFOUND);
    CHECK(cr_snapshot_lookup(&n, r, &snap, "/z/q") == CR_ENOTFOUND);
    CHECK(cr_snapshot_lookup(&n, r, &snap, "/e/q") == CR_ENOTFOUND);
    CHECK(cr_snapshot_lookup(&n, r, &snap, "/a/bb") == CR_ENOTFOUND);
    CHECK(cr_snapshot_lookup(&n, r, &snap, "/a/") == 0);
    cr_node_clear(&n);

    walk_log l;
    memset(&l, 0, sizeof(l));
    CHECK_OK(cr_snapshot_walk(r, &snap, "/", 1, log_cb, &l));
    CHECK(!strcmp(l.buf, "/a/ /a/b /a/c/ /a/c/d /e/ /z "));
    memset(&l, 0, sizeof(l));
    CHECK_OK(cr_snapshot_walk(r, &snap, NULL, 0, log_cb, &l));
    CHECK(!strcmp(l.buf, "/a/ /e/ /z "));
    memset(&l, 0, sizeof(l));
    CHECK_OK(cr_snapshot_walk(r, &snap, "a/", 0, log_cb, &l));
    CHECK(!strcmp(l.buf, "/a/b /a/c/ "));
    memset(&l, 0, sizeof(l));
    CHECK_OK(cr_snapshot_walk(r, &snap, "/a/c/d", 1, log_cb, &l));
    CHECK(!strcmp(l.buf, "/a/c/d "));
    memset(&l, 0, sizeof(l));
    CHECK_OK(cr_snapshot_walk(r, &snap, "/e", 1, log_cb, &l));
    CHECK(l.buf[0] == 0);
    memset(&l, 0, sizeof(l));
    l.stop_after = 3;
    CHECK(cr_snapshot_walk(r, &snap, "/", 1, log_cb, &l) == 7);
    CHECK(!strcmp(l.buf, "/a/ /a/b /a/c/ "));
    CHECK(cr_snapshot_walk(r, &snap, "/nope", 1, log_cb, &l) == CR_ENOTFOUND);

    /* A tree blob that is missing from the vault stops the walk with an error. */
    cr_tree miss = {calloc(1, sizeof(cr_node)), 1};
    set_node(&miss.nodes[0], "gone", CR_NODE_DIR, 0);
    miss.nodes[0].has_subtree = 1;
    memset(miss.nodes[0].subtree.b, 0x77, 32);
    CHECK_OK(cr_tree_save(&snap.tree, r, p, &miss));
    CHECK_OK(cr_packer_flush(p));
    memset(&l, 0, sizeof(l));
    CHECK(cr_snapshot_walk(r, &snap, "/", 1, log_cb, &l) == CR_ENOTFOUND);
    CHECK(!strcmp(l.buf, "/gone/ "));

    for (size_t i = 0; i < c.count; i++)
        cr_node_clear(&c.nodes[i]);
    for (size_t i = 0; i < a.count; i++)
        cr_node_clear(&a.nodes[i]);
    for (size_t i = 0; i < root.count; i++)
        cr_node_clear(&root.nodes[i]);
    cr_node_clear(&miss.nodes[0]);
    free(c.nodes);
    free(a.nodes);
    free(root.nodes);
    free(miss.nodes);
    cr_packer_free(p);
    fx_repo_free(r, dir);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_round_trip();
    test_sort_and_encode_rules();
    test_decode_rules();
    test_blob_off();
    test_name_is_safe();
    test_storage_and_paths();
    return test_summary("test_tree");
}
