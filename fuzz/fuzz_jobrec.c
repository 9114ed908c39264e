/*
 * Fuzz target: job records (runs/ of the vault, src/ops/records.c), the
 * plaintext after decryption. Whatever decodes is within the documented
 * bounds: a job name, a known outcome and hunt verdict, at most 64 alerts of
 * known kinds, a verify part N/M with 1 <= N <= M; whatever does not decode
 * leaves nothing allocated behind (the sanitizer build checks).
 */
#include "cleanroom/jobs.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_job_record r;
    int err = cr_job_record_decode(&r, data, size);
    if (err != 0) {
        if (err != CR_ECORRUPT && err != CR_EVERSION && err != CR_ERROR)
            abort();
        if (r.job || r.alerts || r.nalerts)
            abort(); /* cleared on failure */
        return 0;
    }
    if (!r.job || !r.by || r.outcome < CR_RUN_OK || r.outcome > CR_RUN_SUSPECT ||
        r.hunt > CR_RUN_HUNT_FAILED || r.nalerts > 64 || r.rpo_ns < 0)
        abort();
    if (r.is_verify && (r.subset_n < 1 || r.subset_n > r.subset_m))
        abort();
    for (size_t i = 0; i < r.nalerts; i++)
        if (r.alerts[i].kind < CR_ALERT_JOB_FAILED || r.alerts[i].kind > CR_ALERT_VERIFY ||
            strcmp(cr_alert_kind_name(r.alerts[i].kind), "alert") == 0)
            abort();
    (void)strlen(cr_run_outcome_name(r.outcome));
    (void)strlen(cr_run_hunt_name(r.hunt));
    cr_job_record_clear(&r);
    return 0;
}
