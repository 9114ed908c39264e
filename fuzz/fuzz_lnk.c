/*
 * Fuzz the shortcut reader (hn_lnk_read, liblnk underneath) with raw bytes.
 * A shortcut either reads or is CR_ECORRUPT; what is read is valid UTF-8
 * without control characters, each string at most 4096 bytes.
 */
#include "hunt/hunt.h"

#include <stdlib.h>
#include <string.h>

static void check_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!s)
        return;
    if (strlen(s) > 4096 * 3)
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
    hn_lnk l;
    int err = hn_lnk_read(&l, data, size);
    if (err == 0) {
        check_text(l.target);
        check_text(l.args);
        check_text(l.workdir);
    } else if (err != CR_ECORRUPT && err != CR_ERROR) {
        abort();
    } else if (l.target || l.args || l.workdir) {
        abort();
    }
    hn_lnk_clear(&l);
    cr_error_clear();
    return 0;
}
