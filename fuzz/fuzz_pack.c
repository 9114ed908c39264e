/*
 * Fuzz the pack header parser (cr_pack_decode_header) and the blob decoder on
 * raw pack files. The keys are fixed test keys (master key bytes 0..31), the
 * same with which the seed packs in corpus/pack/ were written, so the fuzzer
 * starts from headers that authenticate and can reach the parser behind the MAC.
 */
#include "vault/vault.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cr_keys keys;
    static int ready;
    static ZSTD_DCtx *dctx;
    if (!ready) {
        uint8_t master[32];
        for (int i = 0; i < 32; i++)
            master[i] = (uint8_t)i;
        if (cr_init() != 0)
            abort();
        cr_keys_derive(&keys, master);
        dctx = ZSTD_createDCtx();
        ready = 1;
    }
    cr_pack_entry *e = NULL;
    size_t n = 0;
    if (cr_pack_decode_header(&e, &n, &keys, data, size) == 0) {
        cr_buf out = CR_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
            /* The header tiles the data region: every blob lies inside the file. */
            if ((uint64_t)e[i].offset + e[i].stored_len > size)
                abort();
            if (cr_blob_decode(&out, &keys, dctx, &e[i], data + e[i].offset) == 0 &&
                out.len != e[i].raw_len)
                abort();
        }
        cr_buf_free(&out);
    }
    free(e);
    return 0;
}
