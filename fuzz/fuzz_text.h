/*
 * What every fuzz target checks of the text a parser returns: it ends up in
 * findings, JSON and terminals, so it must be valid UTF-8 without control
 * characters (C0, DEL). Aborts (a fuzzer finding) otherwise, or on NULL.
 */
#ifndef CR_FUZZ_TEXT_H
#define CR_FUZZ_TEXT_H

#include <stdlib.h>

static inline void fuzz_check_text(const char *s)
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

#endif
