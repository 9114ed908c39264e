/*
 * Fuzz the shortcut reader (hn_lnk_read, liblnk underneath) with raw bytes.
 * A shortcut either reads or is CR_ECORRUPT; what is read is valid UTF-8
 * without control characters, each string at most 4096 bytes.
 */
#include "fuzz_text.h"
#include "hunt/hunt.h"

#include <stdlib.h>
#include <string.h>

static void check_text(const char *s)
{
    if (!s)
        return;
    if (strlen(s) > 4096 * 3)
        abort();
    fuzz_check_text(s);
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
