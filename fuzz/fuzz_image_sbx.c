/*
 * Fuzz the parent's side of the disk image sandbox (src/image/sbx.c): what a
 * hijacked image reader could answer. The first byte chooses the decoder:
 *   0  the chain of an opened disk (im_sbx_decode_layers): absolute paths of
 *      clean text, formats up to CR_IMAGE_VHD, sizes of at most 64 TiB, or CR_EHOSTILE;
 *   1  a folder's tree the child asks to save (im_sbx_check_tree), against a
 *      parent that knows one blob of 4096 bytes (id 11..11) and one tree (id
 *      22..22): every extent inside that blob, every subtree that tree, every
 *      name safe, or CR_EHOSTILE;
 *   2  the volumes of a disk of 1 GiB (im_sbx_decode_volumes), same parent:
 *      safe unique names inside the disk, clean texts, trees it knows.
 * Nothing may crash, leak or accept an out-of-range value.
 */
#include "fuzz_text.h"
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

static im_sbx_known *known(cr_id *blob, cr_id *tree)
{
    static im_sbx_known *k;
    memset(blob->b, 0x11, CR_ID_LEN);
    memset(tree->b, 0x22, CR_ID_LEN);
    if (!k && (im_sbx_known_new(&k, NULL) < 0 || im_sbx_known_blob(k, blob, 4096) < 0 ||
               im_sbx_known_tree(k, tree) < 0))
        abort();
    return k;
}

static void check_tree(const cr_tree *t, const cr_id *blob, const cr_id *tree)
{
    for (size_t i = 0; i < t->count; i++) {
        const cr_node *n = &t->nodes[i];
        if (!cr_name_is_safe(n->name) || (n->has_subtree && memcmp(&n->subtree, tree, sizeof(*tree))))
            abort();
        for (size_t x = 0; x < n->ncontent; x++)
            if (memcmp(&n->content[x].id, blob, sizeof(*blob)) ||
                (uint64_t)n->content[x].blob_off + n->content[x].len > 4096)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_id blob, tree;
    im_sbx_known *k = known(&blob, &tree);
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        im_layer *l = NULL;
        size_t nl = 0;
        if (im_sbx_decode_layers(&l, &nl, p, n) == 0) {
            if (nl == 0)
                abort();
            for (size_t i = 0; i < nl; i++) {
                fuzz_check_text(l[i].path);
                if (l[i].path[0] != '/' || l[i].format > CR_IMAGE_VHD || l[i].size > (64ull << 40))
                    abort();
            }
        } else if (l || nl) {
            abort();
        }
        im_layers_free(l, nl);
        break;
    }
    case 1: {
        cr_tree *t = NULL;
        if (im_sbx_check_tree(&t, k, p, n) == 0)
            check_tree(t, &blob, &tree);
        else if (t)
            abort();
        cr_tree_free(t);
        break;
    }
    case 2: {
        im_fsresult *v = NULL;
        size_t nv = 0;
        char *pt = NULL;
        if (im_sbx_decode_volumes(&v, &nv, &pt, k, 1ull << 30, p, n) == 0) {
            if (pt)
                fuzz_check_text(pt);
            for (size_t i = 0; i < nv; i++) {
                const im_fsresult *r = &v[i];
                fuzz_check_text(r->vol.name);
                if (!cr_name_is_safe(r->vol.name) || r->vol.start > (1ull << 30) ||
                    r->vol.length > (1ull << 30) - r->vol.start)
                    abort();
                for (size_t j = 0; j < i; j++)
                    if (!strcmp(v[j].vol.name, r->vol.name))
                        abort();
                if (r->vol.fs_type)
                    fuzz_check_text(r->vol.fs_type);
                if (r->vol.label)
                    fuzz_check_text(r->vol.label);
                if (r->vol.error)
                    fuzz_check_text(r->vol.error);
                if (r->has_tree && (memcmp(&r->tree, &tree, sizeof(tree)) ||
                                    r->root.type != CR_NODE_DIR ||
                                    strcmp(r->root.name, r->vol.name)))
                    abort();
            }
        } else if (v || nv || pt) {
            abort();
        }
        for (size_t i = 0; i < nv; i++)
            im_fsresult_clear(&v[i]);
        free(v);
        free(pt);
        break;
    }
    }
    return 0;
}
