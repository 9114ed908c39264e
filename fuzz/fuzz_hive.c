/*
 * Fuzz the registry hive readers (hn_hive_autoruns, and hn_hive_software of the
 * reconnection inventory) with raw bytes. A hive
 * either reads or is CR_ECORRUPT / CR_EINPUT; what is read is a list of
 * entries with a known kind and non-NULL strings that are valid UTF-8 without
 * control characters (they end up in findings, JSON and terminals).
 */
#include "fuzz_autoruns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_autoruns(hn_hive_autoruns, HN_AUTORUN_RUN, HN_AUTORUN_COM, data, size);
    fuzz_autoruns(hn_hive_software, HN_SOFTWARE_APP, HN_SOFTWARE_OS, data, size);
    return 0;
}
