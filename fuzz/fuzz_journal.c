/*
 * Fuzz target: the journal verifier (the whole file from memory). The
 * entries returned are always the intact prefix: numbered 1..n, each hash
 * 64 hex digits; a torn verdict only when the input does not end with a
 * newline; the head is the last entry's hash.
 */
#include "recover/plan_priv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_journal_entry *e = NULL;
    size_t n = 0, good = 0;
    uint64_t bad = 0;
    int torn = 0;
    char head[CR_ID_HEX_LEN + 1];
    int err = cr_journal_verify_buffer(&e, &n, &bad, &torn, &good, head, data, size);
    if (err != 0 && err != CR_ECORRUPT && err != CR_ERROR)
        abort();
    if (err == 0 && (bad != 0 || torn || good != size))
        abort();
    if (err == CR_ECORRUPT && bad != n + 1)
        abort();
    if (torn && size > 0 && data[size - 1] == '\n')
        abort();
    if (good > size || (good > 0 && data[good - 1] != '\n'))
        abort();
    for (size_t i = 0; i < n; i++)
        if (e[i].seq != i + 1 || strlen(e[i].hash) != CR_ID_HEX_LEN || !e[i].type)
            abort();
    if (n > 0 && strcmp(head, e[n - 1].hash) != 0)
        abort();
    cr_journal_entries_free(e, n);
    return 0;
}
