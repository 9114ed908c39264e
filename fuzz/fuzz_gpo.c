/*
 * Fuzz the Group Policy file reader (hn_gpo_autoruns) with raw bytes: XML
 * preferences, scripts.ini and GptTmpl.inf, UTF-8 or UTF-16. It reads any
 * bytes (or CR_ECORRUPT); what it finds is a list of entries with a Group
 * Policy kind and non-NULL strings that are valid UTF-8 without control
 * characters (they end up in findings, JSON and terminals).
 */
#include "fuzz_autoruns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_autoruns(hn_gpo_autoruns, HN_AUTORUN_GPO_TASK, HN_AUTORUN_GPO_RIGHT, data, size);
    return 0;
}
