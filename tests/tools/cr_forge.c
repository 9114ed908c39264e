/*
 * cr_forge: writes hostile snapshots into a vault, for tests/e2e/hostile_names.sh.
 *
 * A vault may come from anywhere (an attacker who owned the backup server can
 * write valid, authenticated objects if they stole the passphrase), so restore
 * must treat every name in a tree as hostile. This program builds such trees
 * through the library's own writers (cr_packer, cr_tree_encode, cr_index_save,
 * cr_snapshot_save) so that the objects pass every MAC and hash check and only
 * the names are wrong.
 *
 * Usage: cr_forge VAULT SCENARIO ARGS...   (passphrase in CLEANROOM_PASSWORD)
 *   file NAME            root {file NAME, file "~ok"}
 *   dir NAME             root {dir NAME {file "escaped"}, file "~ok"}
 *   nested NAME          root {dir "sub" {file NAME, file "~ok2"}, file "~ok"}
 *   symlink NAME TARGET  root {symlink NAME -> TARGET, file "~ok"}
 *   dup NAME TARGET      root {symlink NAME -> TARGET, dir NAME {file "pwned"}, file "~ok"}
 * Sibling names start with '~' so that every hostile name used by the tests
 * sorts before them.
 *
 * When cr_tree_encode refuses a name (it may judge names), the tree is encoded
 * with a harmless placeholder of the same length that is then replaced in the
 * encoded bytes, so the decoder and restore still meet the hostile name.
 *
 * Prints the new snapshot's id (64 hex) on stdout. Exit 0; 3 when the tree
 * cannot be forged because the library refused it cleanly (message on
 * stderr); 1 on other errors.
 */
#include "vault/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct forge {
    cr_repo *repo;
    cr_index *idx;
    cr_packer *pk;
    int64_t now;
} forge;

static int store_blob(forge *f, cr_blob_type type, const void *data, size_t len, cr_id *out)
{
    cr_blob_id(out, &f->repo->keys, data, len);
    if (cr_index_claim(f->idx, out) == 1)
        return cr_packer_add(f->pk, type, out, data, len, NULL);
    return 0;
}

static void node_base(forge *f, cr_node *n, cr_node_type type, const char *name, uint32_t mode)
{
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->name = strdup(name);
    n->mode = mode;
    n->mtime_ns = n->atime_ns = n->ctime_ns = f->now;
    n->nlink = 1;
}

static int make_file(forge *f, cr_node *n, const char *name, const char *content)
{
    size_t len = strlen(content);
    node_base(f, n, CR_NODE_FILE, name, 0644);
    n->size = len;
    n->content = calloc(1, sizeof(cr_extent));
    if (!n->name || !n->content)
        return CR_ERROR;
    n->ncontent = 1;
    n->content[0].offset = 0;
    n->content[0].len = (uint32_t)len;
    return store_blob(f, CR_BLOB_DATA, content, len, &n->content[0].id);
}

static int make_symlink(forge *f, cr_node *n, const char *name, const char *target)
{
    node_base(f, n, CR_NODE_SYMLINK, name, 0777);
    n->link_target = strdup(target);
    n->size = 0;
    return n->name && n->link_target ? 0 : CR_ERROR;
}

static int make_dir(forge *f, cr_node *n, const char *name, const cr_id *subtree)
{
    node_base(f, n, CR_NODE_DIR, name, 0755);
    n->nlink = 2;
    n->has_subtree = 1;
    n->subtree = *subtree;
    return n->name ? 0 : CR_ERROR;
}

/* Replace the unique occurrence of `ph` in buf by `real` (same length). */
static int patch(cr_buf *buf, const char *ph, const char *real)
{
    size_t l = strlen(ph), hits = 0, at = 0;
    if (l == 0 || l != strlen(real) || buf->len < l)
        return -1;
    for (size_t i = 0; i + l <= buf->len; i++) {
        if (memcmp(buf->ptr + i, ph, l) == 0) {
            hits++;
            at = i;
        }
    }
    if (hits != 1)
        return -1;
    memcpy(buf->ptr + at, real, l);
    return 0;
}

/*
 * An empty name cannot be patched in place: replace the length-prefixed
 * placeholder (varint 8, "EmptyNm7") by a zero length, removing its bytes.
 * This assumes names are stored as varint length + bytes (tree.c's format).
 */
#define EMPTY_PH "EmptyNm7"
static int patch_empty(cr_buf *buf)
{
    const char pat[] = "\x08" EMPTY_PH;
    size_t l = sizeof(pat) - 1, hits = 0, at = 0;
    for (size_t i = 0; i + l <= buf->len; i++) {
        if (memcmp(buf->ptr + i, pat, l) == 0) {
            hits++;
            at = i;
        }
    }
    if (hits != 1)
        return -1;
    buf->ptr[at] = 0;
    memmove(buf->ptr + at + 1, buf->ptr + at + l, buf->len - at - l);
    buf->len -= l - 1;
    return 0;
}

/* A placeholder of the same length as `name`, starting with `c`. */
static char *placeholder(const char *name, char c)
{
    size_t l = strlen(name);
    char *p = malloc(l + 1);
    if (!p)
        return NULL;
    for (size_t i = 0; i < l; i++)
        p[i] = (char)(i == 0 ? c : "Qz7Kx9Wv"[i % 8]);
    p[l] = 0;
    return p;
}

/*
 * Encode and store a tree whose nodes are given in name order. Nodes listed in
 * `hostile` (indices) get placeholders if the encoder refuses their real name.
 * @return 0, 3 (refused), or 1.
 */
static int save_tree(forge *f, cr_node *nodes, size_t count, const size_t *hostile, size_t nh,
                     cr_id *out)
{
    cr_tree tree = {nodes, count};
    cr_buf buf = CR_BUF_INIT;
    char *real[8] = {0}, *ph[8] = {0};
    int rc = 1, err;

    if ((err = cr_tree_encode(&buf, &tree)) == 0)
        goto store;
    fprintf(stderr, "cr_forge: cr_tree_encode refused the real names (%s: %s); using placeholders\n",
            cr_strerror(err), cr_error_last());
    cr_buf_reset(&buf);
    if (nh > 8)
        goto done;
    for (size_t i = 0; i < nh; i++) {
        cr_node *n = &nodes[hostile[i]];
        real[i] = n->name;
        if (!n->name || !*n->name)
            ph[i] = strdup(EMPTY_PH);
        else
            ph[i] = placeholder(n->name, (char)('#' + i));
        if (!ph[i])
            goto done;
        n->name = ph[i];
    }
    err = cr_tree_encode(&buf, &tree);
    for (size_t i = 0; i < nh; i++)
        nodes[hostile[i]].name = real[i];
    if (err < 0) {
        fprintf(stderr, "cr_forge: refused: cr_tree_encode fails even with placeholders: %s\n",
                cr_error_last());
        rc = 3;
        goto done;
    }
    for (size_t i = 0; i < nh; i++) {
        if (!real[i] || !*real[i] ? patch_empty(&buf) < 0 : patch(&buf, ph[i], real[i]) < 0) {
            fprintf(stderr, "cr_forge: refused: placeholder %s not found once in the encoding\n",
                    ph[i]);
            rc = 3;
            goto done;
        }
    }
store:
    if (store_blob(f, CR_BLOB_TREE, buf.ptr, buf.len, out) < 0) {
        fprintf(stderr, "cr_forge: storing a tree: %s\n", cr_error_last());
        goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; i < nh && i < 8; i++)
        free(ph[i]);
    cr_buf_free(&buf);
    return rc;
}

static void clear_nodes(cr_node *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_node_clear(&nodes[i]);
}

static int usage(void)
{
    fprintf(stderr, "usage: cr_forge VAULT file|dir|nested NAME\n"
                    "       cr_forge VAULT symlink|dup NAME TARGET\n"
                    "(passphrase in CLEANROOM_PASSWORD)\n");
    return 1;
}

int main(int argc, char **argv)
{
    forge f = {0};
    cr_node sub[3], root[3];
    size_t nsub = 0, nroot = 0;
    cr_id sub_id, root_id;
    cr_snapshot snap;
    char *paths[1] = {"/forged"};
    char hex[CR_ID_HEX_LEN + 1];
    const char *pass = getenv("CLEANROOM_PASSWORD");
    int rc = 1, err;

    memset(sub, 0, sizeof(sub));
    memset(root, 0, sizeof(root));
    memset(&snap, 0, sizeof(snap));
    if (argc < 4 || !pass)
        return usage();
    const char *vault = argv[1], *scen = argv[2], *name = argv[3];
    const char *target = argc > 4 ? argv[4] : NULL;
    if ((unsigned char)name[0] >= '~') {
        fprintf(stderr, "cr_forge: NAME must sort before '~'\n");
        return 1;
    }

    if ((err = cr_init()) < 0 || (err = cr_repo_open(&f.repo, vault, pass)) < 0 ||
        (err = cr_repo_index(&f.idx, f.repo)) < 0 || (err = cr_packer_new(&f.pk, f.repo)) < 0) {
        fprintf(stderr, "cr_forge: opening %s: %s\n", vault, cr_error_last());
        goto done;
    }
    f.now = cr_time_now_ns();

    size_t hostile[2];
    size_t nh = 0;
    if (strcmp(scen, "file") == 0) {
        if (make_file(&f, &root[0], name, "escaped through a file name\n") < 0)
            goto fail;
        hostile[nh++] = 0;
        nroot = 1;
    } else if (strcmp(scen, "dir") == 0) {
        if (make_file(&f, &sub[0], "escaped", "escaped through a directory name\n") < 0)
            goto fail;
        nsub = 1;
        if ((rc = save_tree(&f, sub, nsub, NULL, 0, &sub_id)) != 0)
            goto done;
        rc = 1;
        if (make_dir(&f, &root[0], name, &sub_id) < 0)
            goto fail;
        hostile[nh++] = 0;
        nroot = 1;
    } else if (strcmp(scen, "nested") == 0) {
        if (make_file(&f, &sub[0], name, "escaped from a subdirectory\n") < 0 ||
            make_file(&f, &sub[1], "~ok2", "fine\n") < 0)
            goto fail;
        nsub = 2;
        size_t h0 = 0;
        if ((rc = save_tree(&f, sub, nsub, &h0, 1, &sub_id)) != 0)
            goto done;
        rc = 1;
        if (make_dir(&f, &root[0], "sub", &sub_id) < 0)
            goto fail;
        nroot = 1;
    } else if (strcmp(scen, "symlink") == 0 && target) {
        if (make_symlink(&f, &root[0], name, target) < 0)
            goto fail;
        hostile[nh++] = 0;
        nroot = 1;
    } else if (strcmp(scen, "dup") == 0 && target) {
        if (make_file(&f, &sub[0], "pwned", "written through a symlink\n") < 0)
            goto fail;
        nsub = 1;
        if ((rc = save_tree(&f, sub, nsub, NULL, 0, &sub_id)) != 0)
            goto done;
        rc = 1;
        if (make_symlink(&f, &root[0], name, target) < 0 || make_dir(&f, &root[1], name, &sub_id) < 0)
            goto fail;
        hostile[nh++] = 0;
        hostile[nh++] = 1;
        nroot = 2;
    } else {
        rc = usage();
        goto done;
    }
    if (make_file(&f, &root[nroot], "~ok", "this file is fine\n") < 0)
        goto fail;
    nroot++;
    if ((rc = save_tree(&f, root, nroot, hostile, nh, &root_id)) != 0)
        goto done;
    rc = 1;

    if ((err = cr_packer_flush(f.pk)) < 0 || (err = cr_index_save(f.idx, f.repo)) < 0)
        goto fail;

    snap.source = "forged";
    snap.time_ns = f.now;
    snap.hostname = "forge-host";
    snap.username = "root";
    snap.paths = paths;
    snap.npaths = 1;
    snap.tree = root_id;
    snap.program_version = "cr_forge";
    if ((err = cr_snapshot_save(f.repo, &snap)) < 0)
        goto fail;
    printf("%s\n", cr_id_to_hex(hex, &snap.id));
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "cr_forge: %s\n", cr_error_last());
    rc = 1;
done:
    clear_nodes(sub, nsub);
    clear_nodes(root, nroot);
    cr_packer_free(f.pk);
    cr_repo_free(f.repo);
    return rc;
}
