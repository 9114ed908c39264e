/*
 * Fuzz the BITS job carver (hn_bits_autoruns) with raw bytes. It
 * reads any bytes (or CR_EINPUT when too large); what it finds is a list of
 * entries with a known kind and non-NULL strings that are valid UTF-8 without
 * control characters (they end up in findings, JSON and terminals).
 */
#include "fuzz_text.h"
#include "hunt/hunt.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hn_autorun *a = NULL;
    size_t n = 0;
    int err = hn_bits_autoruns(&a, &n, data, size);
    if (err == 0) {
        for (size_t i = 0; i < n; i++) {
            if (a[i].kind != HN_AUTORUN_BITS)
                abort();
            fuzz_check_text(a[i].key);
            fuzz_check_text(a[i].name);
            fuzz_check_text(a[i].data);
        }
    } else if (err != CR_ECORRUPT && err != CR_EINPUT) {
        abort();
    } else if (a || n) {
        abort();
    }
    hn_autoruns_free(a, n);
    return 0;
}
