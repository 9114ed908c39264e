/*
 * The one check of the autostart readers of the hunt (registry hives, WMI
 * repository, BITS queue): a reader either fails with CR_ECORRUPT or
 * CR_EINPUT and returns nothing, or returns entries whose kind lies in
 * [kmin, kmax] and whose texts pass fuzz_check_text.
 */
#ifndef CR_FUZZ_AUTORUNS_H
#define CR_FUZZ_AUTORUNS_H

#include "fuzz_text.h"
#include "hunt/hunt.h"

#include <stdlib.h>

typedef int (*fuzz_autoruns_fn)(hn_autorun **out, size_t *count, const void *data, size_t len);

static inline void fuzz_autoruns(fuzz_autoruns_fn read, int kmin, int kmax, const uint8_t *data,
                                 size_t size)
{
    hn_autorun *a = NULL;
    size_t n = 0;
    int err = read(&a, &n, data, size);
    if (err == 0) {
        for (size_t i = 0; i < n; i++) {
            if (a[i].kind < kmin || a[i].kind > kmax)
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
}

#endif
