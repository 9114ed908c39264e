/*
 * Fuzz the WMI subscription search (hn_wmi_autoruns) with raw bytes. It
 * reads any bytes (or CR_EINPUT when too large); what it finds is a list of
 * entries with a known kind and non-NULL strings that are valid UTF-8 without
 * control characters (they end up in findings, JSON and terminals).
 */
#include "fuzz_autoruns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_autoruns(hn_wmi_autoruns, HN_AUTORUN_WMI, HN_AUTORUN_WMI, data, size);
    return 0;
}
