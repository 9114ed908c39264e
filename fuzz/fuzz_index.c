/*
 * Fuzz the index file decoder (cr_index_decode) with raw plaintext bytes, into
 * a fresh index. A failed decode must add nothing; a successful one must
 * encode to bytes that decode again.
 */
#include "vault/vault.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_index *idx = NULL, *idx2 = NULL;
    cr_buf out = CR_BUF_INIT;
    if (cr_index_new(&idx) != 0)
        return 0;
    if (cr_index_decode(idx, data, size, 0) == 0) {
        if (cr_index_encode(&out, idx, 0) != 0 || cr_index_new(&idx2) != 0 ||
            cr_index_decode(idx2, out.ptr, out.len, 1) != 0 ||
            cr_index_blob_count(idx2) != cr_index_blob_count(idx) ||
            cr_index_pack_count(idx2) != cr_index_pack_count(idx))
            abort();
    } else if (cr_index_pack_count(idx) != 0 || cr_index_blob_count(idx) != 0) {
        abort();
    }
    cr_index_free(idx);
    cr_index_free(idx2);
    cr_buf_free(&out);
    return 0;
}
