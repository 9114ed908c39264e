/*
 * Fuzz the version reader of Windows programs (hn_pe_version) with raw bytes:
 * found or not, never a read outside the input.
 */
#include "hunt/hunt.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hn_pe_ver v;
    int rc = hn_pe_version(&v, data, size);
    if (rc != 0 && rc != 1)
        abort();
    if (rc == 0 && (v.file || v.product))
        abort();
    return 0;
}
