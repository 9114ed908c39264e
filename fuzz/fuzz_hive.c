/*
 * Fuzz the registry hive reader (hn_hive_autoruns) with raw bytes. A hive
 * either reads or is CR_ECORRUPT / CR_EINPUT; what is read is a list of
 * entries with a known kind and non-NULL strings that are valid UTF-8 without
 * control characters (they end up in findings, JSON and terminals).
 */
#include "hunt/hunt.h"

#include <stdlib.h>
#include <string.h>

static void check_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!s)
        abort();
    while (*p) {
        size_t k = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
        if ((*p < 0x20 || *p == 0x7f) || (*p >= 0x80 && (*p < 0xc2 || *p > 0xf4)))
            abort();
        for (size_t i = 1; i < k; i++)
            if ((p[i] & 0xc0) != 0x80)
                abort();
        p += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hn_autorun *a = NULL;
    size_t n = 0;
    int err = hn_hive_autoruns(&a, &n, data, size);
    if (err == 0) {
        for (size_t i = 0; i < n; i++) {
            if (a[i].kind < HN_AUTORUN_RUN || a[i].kind > HN_AUTORUN_COM)
                abort();
            check_text(a[i].key);
            check_text(a[i].name);
            check_text(a[i].data);
        }
    } else if (err != CR_ECORRUPT && err != CR_EINPUT) {
        abort();
    } else if (a || n) {
        abort();
    }
    hn_autoruns_free(a, n);
    return 0;
}
