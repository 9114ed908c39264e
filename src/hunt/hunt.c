/*
 * cr_hunt and the readers of its results. (Being written: entry points only.)
 */
#include "hunt/hunt.h"

int cr_hunt(cr_hunt_stats *stats, cr_repo *repo, const cr_hunt_options *opts)
{
    (void)stats; (void)repo; (void)opts;
    cr_error_set("hunt: not implemented yet");
    return CR_ERROR;
}

int cr_findings_get(cr_finding **out, size_t *count, int64_t *hunted_ns, cr_repo *repo,
                    const cr_snapshot *snap)
{
    (void)repo; (void)snap; (void)hunted_ns;
    *out = NULL;
    *count = 0;
    cr_error_set("hunt: not implemented yet");
    return CR_ENOTFOUND;
}

int cr_findings_list(cr_finding **out, size_t *count, size_t *unhunted, cr_repo *repo,
                     const cr_findings_query *q)
{
    (void)repo; (void)q; (void)unhunted;
    *out = NULL;
    *count = 0;
    cr_error_set("hunt: not implemented yet");
    return CR_ERROR;
}

void cr_clean_points_free(cr_clean_point *p, size_t n)
{
    (void)p; (void)n;
}

int cr_clean_points(cr_clean_point **out, size_t *count, cr_repo *repo, const char *source,
                    cr_severity min)
{
    (void)repo; (void)source; (void)min;
    *out = NULL;
    *count = 0;
    cr_error_set("hunt: not implemented yet");
    return CR_ERROR;
}
