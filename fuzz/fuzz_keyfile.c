/*
 * Fuzz target: key file parsing. A key file is the first thing read from a
 * vault, before any key is known, so it is fully untrusted; the parser must
 * also cap the Argon2id cost it accepts.
 */
#include "vault/vault.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_keyfile kf;
    if (cr_keyfile_parse(&kf, data, size) == 0) {
        if (kf.memlimit > CR_KDF_MAX_MEMLIMIT || kf.opslimit > CR_KDF_MAX_OPSLIMIT ||
            kf.opslimit < 1 || kf.hostname[sizeof(kf.hostname) - 1] != '\0' ||
            kf.username[sizeof(kf.username) - 1] != '\0')
            abort();
    }
    return 0;
}
