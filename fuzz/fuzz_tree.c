/*
 * Fuzz the tree decoder (cr_tree_decode) with raw bytes. A tree that decodes
 * must encode again, and that encoding must decode to the same encoding
 * (round trip; the first encoding may differ from the input only through
 * non-canonical varints).
 */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_tree *t = NULL, *t2 = NULL;
    cr_buf a = CR_BUF_INIT, b = CR_BUF_INIT;
    if (cr_tree_decode(&t, data, size) == 0) {
        if (cr_tree_encode(&a, t) != 0 || cr_tree_decode(&t2, a.ptr, a.len) != 0 ||
            cr_tree_encode(&b, t2) != 0 || a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
            abort();
        for (size_t i = 0; i < t->count; i++)
            (void)cr_name_is_safe(t->nodes[i].name);
    }
    cr_tree_free(t);
    cr_tree_free(t2);
    cr_buf_free(&a);
    cr_buf_free(&b);
    return 0;
}
