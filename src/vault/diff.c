/*
 * cr_diff: what changed between two snapshots.
 *
 * Both trees are walked together, merging their (sorted) entries by name.
 * Trees are content-addressed, so two folders with the same subtree id hold
 * exactly the same things and are skipped without loading anything: comparing
 * two snapshots of a large, mostly unchanged system reads only the trees along
 * the paths that changed.
 *
 * A node is "modified" when its type, content, size, mode, owner, link
 * target, device number, xattrs or ACLs differ; times alone do not make a
 * change (a file touched but not changed is the same file). A folder added or
 * removed is reported, then everything under it; a node that changed between
 * folder and non-folder is reported as modified, then the contents of the old
 * folder as removed or of the new folder as added, so each path is reported
 * exactly once. Paths look like "/etc/passwd".
 */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

typedef struct df_ctx {
    cr_repo *repo;
    char *too_deep; /* first folder not compared because nested too deep */
    cr_diff_cb cb;
    void *payload;
    char *path;
    size_t cap;
} df_ctx;

static int str_eq(const char *a, const char *b)
{
    if (!a || !*a)
        return !b || !*b;
    return b && strcmp(a, b) == 0;
}

static int xattrs_eq(const cr_node *a, const cr_node *b)
{
    if (a->nxattrs != b->nxattrs)
        return 0;
    for (size_t i = 0; i < a->nxattrs; i++) {
        const cr_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
        if (!str_eq(x->name, y->name) || x->len != y->len ||
            (x->len && memcmp(x->value, y->value, x->len) != 0))
            return 0;
    }
    return 1;
}

/* Same metadata and content (for folders: their own metadata, not their entries). */
static int node_eq(const cr_node *a, const cr_node *b)
{
    if (a->type != b->type || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
        return 0;
    if (!xattrs_eq(a, b) || !str_eq(a->acl_access, b->acl_access) ||
        !str_eq(a->acl_default, b->acl_default))
        return 0;
    switch (a->type) {
    case CR_NODE_FILE:
        if (a->size != b->size || a->ncontent != b->ncontent)
            return 0;
        for (size_t i = 0; i < a->ncontent; i++) {
            const cr_extent *x = &a->content[i], *y = &b->content[i];
            if (x->offset != y->offset || x->len != y->len || x->blob_off != y->blob_off ||
                memcmp(&x->id, &y->id, sizeof(cr_id)) != 0)
                return 0;
        }
        return 1;
    case CR_NODE_SYMLINK:
        return str_eq(a->link_target, b->link_target);
    case CR_NODE_CHARDEV:
    case CR_NODE_BLOCKDEV:
        return a->rdev == b->rdev;
    default:
        return 1;
    }
}

/* Append "/name" to the path; @return the previous length, or (size_t)-1 on no memory. */
static size_t path_push(df_ctx *c, const char *name)
{
    size_t old = strlen(c->path), nl = strlen(name);
    if (old + nl + 2 > c->cap) {
        size_t ncap = (old + nl + 2) * 2;
        char *p = cr_realloc(c->path, ncap);
        if (!p)
            return (size_t)-1;
        c->path = p;
        c->cap = ncap;
    }
    c->path[old] = '/';
    memcpy(c->path + old + 1, name, nl + 1);
    return old;
}

static int call(df_ctx *c, cr_diff_kind kind, const cr_node *o, const cr_node *n)
{
    int r = c->cb(kind, c->path, o, n, c->payload);
    if (r == 0)
        return 0;
    if (r > 0) {
        cr_error_set("diff stopped by the caller");
        return CR_EINTR;
    }
    return r;
}

/*
 * A folder nested CR_TREE_MAX_DEPTH levels deep or deeper is not compared, and
 * the rest of the walk goes on: the diff ends with CR_EPARTIAL naming the first
 * such folder. A backup keeps no folder deeper than that level and leaves out
 * what is below it (an older backup could hold deeper ones: a hostile user made
 * them), so a folder at that level is where something may have been cut: the
 * hunt says so (anomaly:deep-tree) rather than call the snapshot clean.
 */
static int too_deep(df_ctx *c)
{
    if (!c->too_deep && !(c->too_deep = cr_strdup(c->path)))
        return CR_ERROR;
    return 0;
}

static int load(df_ctx *c, cr_tree **out, const cr_node *dir)
{
    *out = NULL;
    if (!dir || dir->type != CR_NODE_DIR || !dir->has_subtree)
        return 0;
    return cr_tree_load(out, c->repo, &dir->subtree);
}

/* Report everything under folder `dir` as added (new = 1) or removed. */
static int report_all(df_ctx *c, const cr_node *dir, int added, int depth)
{
    cr_tree *t = NULL;
    int err;
    if (depth >= CR_TREE_MAX_DEPTH)
        return too_deep(c);
    if ((err = load(c, &t, dir)) < 0 || !t)
        return err;
    for (size_t i = 0; i < t->count && err == 0; i++) {
        const cr_node *n = &t->nodes[i];
        size_t old = path_push(c, n->name);
        if (old == (size_t)-1) {
            err = CR_ERROR;
            break;
        }
        err = call(c, added ? CR_DIFF_ADDED : CR_DIFF_REMOVED, added ? NULL : n, added ? n : NULL);
        if (err == 0 && n->type == CR_NODE_DIR)
            err = report_all(c, n, added, depth + 1);
        c->path[old] = '\0';
    }
    cr_tree_free(t);
    return err;
}

/* Compare the entries of two folders (either may be NULL or have no subtree: empty). */
static int diff_dirs(df_ctx *c, const cr_node *da, const cr_node *db, int depth)
{
    cr_tree *ta = NULL, *tb = NULL;
    int err = 0;
    if (da && db && da->has_subtree && db->has_subtree &&
        memcmp(&da->subtree, &db->subtree, sizeof(cr_id)) == 0)
        return 0;
    if (depth >= CR_TREE_MAX_DEPTH)
        return too_deep(c);
    if ((err = load(c, &ta, da)) < 0 || (err = load(c, &tb, db)) < 0)
        goto done;
    size_t i = 0, j = 0, na = ta ? ta->count : 0, nb = tb ? tb->count : 0;
    while ((i < na || j < nb) && err == 0) {
        const cr_node *a = i < na ? &ta->nodes[i] : NULL;
        const cr_node *b = j < nb ? &tb->nodes[j] : NULL;
        int cmp = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
        size_t old = path_push(c, cmp <= 0 ? a->name : b->name);
        if (old == (size_t)-1) {
            err = CR_ERROR;
            break;
        }
        if (cmp < 0) {
            err = call(c, CR_DIFF_REMOVED, a, NULL);
            if (err == 0 && a->type == CR_NODE_DIR)
                err = report_all(c, a, 0, depth + 1);
            i++;
        } else if (cmp > 0) {
            err = call(c, CR_DIFF_ADDED, NULL, b);
            if (err == 0 && b->type == CR_NODE_DIR)
                err = report_all(c, b, 1, depth + 1);
            j++;
        } else {
            int adir = a->type == CR_NODE_DIR, bdir = b->type == CR_NODE_DIR;
            if (!node_eq(a, b))
                err = call(c, CR_DIFF_MODIFIED, a, b);
            if (err == 0) {
                if (adir && bdir)
                    err = diff_dirs(c, a, b, depth + 1);
                else if (adir)
                    err = report_all(c, a, 0, depth + 1);
                else if (bdir)
                    err = report_all(c, b, 1, depth + 1);
            }
            i++;
            j++;
        }
        c->path[old] = '\0';
    }
done:
    cr_tree_free(ta);
    cr_tree_free(tb);
    return err;
}

int cr_diff(cr_repo *repo, const cr_snapshot *a, const cr_snapshot *b, cr_diff_cb cb, void *payload)
{
    if (!repo || !a || !b || !cb) {
        cr_error_set("diff: two snapshots and a callback are required");
        return CR_EINPUT;
    }
    return cr_diff_trees(repo, &a->tree, &b->tree, cb, payload);
}

int cr_diff_trees(cr_repo *repo, const cr_id *a, const cr_id *b, cr_diff_cb cb, void *payload)
{
    return cr_diff_trees_at(repo, a, b, 0, cb, payload);
}

int cr_diff_trees_at(cr_repo *repo, const cr_id *a, const cr_id *b, int depth, cr_diff_cb cb,
                     void *payload)
{
    df_ctx c;
    cr_node ra, rb;
    int err;
    if (!repo || !cb) {
        cr_error_set("diff: a vault and a callback are required");
        return CR_EINPUT;
    }
    memset(&c, 0, sizeof(c));
    c.repo = repo;
    c.cb = cb;
    c.payload = payload;
    c.cap = 4096;
    if (!(c.path = cr_malloc(c.cap)))
        return CR_ERROR;
    c.path[0] = '\0';
    /* Synthetic root folders: only their subtrees matter. */
    memset(&ra, 0, sizeof(ra));
    memset(&rb, 0, sizeof(rb));
    ra.type = rb.type = CR_NODE_DIR;
    ra.has_subtree = a != NULL;
    rb.has_subtree = b != NULL;
    if (a)
        ra.subtree = *a;
    if (b)
        rb.subtree = *b;
    err = diff_dirs(&c, &ra, &rb, depth > 0 ? depth : 0);
    if (err == 0 && c.too_deep) {
        size_t n = strlen(c.too_deep);
        cr_error_set("folders nested %d levels deep or deeper (a backup leaves out what is below "
                     "them) were not compared: %.120s%s%s",
                     CR_TREE_MAX_DEPTH, c.too_deep, n > 240 ? "..." : "",
                     n > 240 ? c.too_deep + n - 120 : (n > 120 ? c.too_deep + 120 : ""));
        err = CR_EPARTIAL;
    }
    free(c.too_deep);
    free(c.path);
    return err;
}
