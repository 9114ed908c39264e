/*
 * Status: how old each source's newest snapshot is against its RPO, graded as
 * Acronis does (ok; exceeded; severely exceeded, over 2x; critically
 * exceeded, over 4x). The decision lives here; `cleanroom status` (and later
 * the console) only show it.
 */
#include "cleanroom/jobs.h"
#include "cleanroom/hunt.h"
#include "util/i18n.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

const char *cr_rpo_grade_name(cr_rpo_grade g)
{
    switch (g) {
    case CR_RPO_OK: return N_("ok");
    case CR_RPO_EXCEEDED: return N_("exceeded");
    case CR_RPO_SEVERELY: return N_("severely exceeded");
    case CR_RPO_CRITICALLY: return N_("critically exceeded");
    case CR_RPO_NEVER: return N_("never backed up");
    case CR_RPO_UNKNOWN: break;
    }
    return N_("no rpo");
}

cr_rpo_grade cr_rpo_grade_of(int64_t age_ns, int64_t rpo_ns)
{
    if (rpo_ns <= 0)
        return CR_RPO_UNKNOWN;
    /* a snapshot dated in the future (a shifted clock) is not late */
    if (age_ns <= rpo_ns)
        return CR_RPO_OK;
    if (age_ns / 2 <= rpo_ns)
        return CR_RPO_EXCEEDED;
    if (age_ns / 4 <= rpo_ns)
        return CR_RPO_SEVERELY;
    return CR_RPO_CRITICALLY;
}

void cr_status_clear(cr_status *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->sources[i].source);
        free(s->sources[i].job);
    }
    free(s->sources);
    memset(s, 0, sizeof(*s));
}

static cr_source_status *find_or_add(cr_status *s, const char *source, size_t *cap)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->sources[i].source, source) == 0)
            return &s->sources[i];
    if (s->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        cr_source_status *ns = cr_realloc(s->sources, nc * sizeof(*ns));
        if (!ns)
            return NULL;
        s->sources = ns;
        *cap = nc;
    }
    cr_source_status *x = &s->sources[s->n];
    memset(x, 0, sizeof(*x));
    if (!(x->source = cr_strdup(source)))
        return NULL;
    s->n++;
    return x;
}

static int cmp_source(const void *a, const void *b)
{
    return strcmp(((const cr_source_status *)a)->source, ((const cr_source_status *)b)->source);
}

int cr_status_get(cr_status *out, cr_repo *repo, const cr_jobs *jobs, int64_t now_ns)
{
    cr_snapshot **all = NULL;
    size_t nall = 0, cap = 0;
    int err;

    memset(out, 0, sizeof(*out));
    out->now_ns = now_ns ? now_ns : cr_time_now_ns();
    if ((err = cr_snapshot_list(&all, &nall, repo, NULL)) < 0)
        goto done;
    /* oldest first: the last one seen of a source is its newest */
    for (size_t i = 0; i < nall; i++) {
        cr_source_status *x = find_or_add(out, all[i]->source, &cap);
        if (!x) {
            err = CR_ERROR;
            goto done;
        }
        x->snapshots++;
        x->has_last = 1;
        x->last = all[i]->id;
        x->last_time_ns = all[i]->time_ns;
        x->last_errors = all[i]->errors;
        x->suspect = 0;
        for (size_t t = 0; t < all[i]->ntags; t++)
            x->suspect |= strcmp(all[i]->tags[t], CR_TAG_SUSPECT) == 0;
    }
    if (nall) {
        cr_clean_point *cp = NULL;
        size_t ncp = 0;
        /* the ages matter more than the verdicts: hunt results that cannot be read leave the
         * verdicts out (`clean-point` and `verify` say why), not the status */
        if (cr_clean_points(&cp, &ncp, repo, NULL, CR_SEV_HIGH) < 0) {
            cr_error_clear();
            ncp = 0;
            cp = NULL;
        }
        for (size_t i = 0; i < ncp; i++) {
            cr_source_status *x = find_or_add(out, cp[i].source, &cap);
            if (!x) {
                cr_clean_points_free(cp, ncp);
                err = CR_ERROR;
                goto done;
            }
            x->unhunted = cp[i].unhunted;
            x->compromised = cp[i].compromised;
            x->first_compromised_ns = cp[i].first_compromised_ns;
            x->has_clean = cp[i].has_clean;
            x->clean = cp[i].clean_snapshot;
            x->clean_time_ns = cp[i].clean_time_ns;
        }
        cr_clean_points_free(cp, ncp);
    }
    for (size_t i = 0; jobs && i < jobs->n; i++) {
        const cr_job *j = &jobs->jobs[i];
        if (!j->source) /* a verify job */
            continue;
        cr_source_status *x = find_or_add(out, j->source, &cap);
        if (!x || !(x->job = cr_strdup(j->name))) {
            err = CR_ERROR;
            goto done;
        }
        x->rpo_ns = j->rpo_ns;
    }
    for (size_t i = 0; i < out->n; i++) {
        cr_source_status *x = &out->sources[i];
        if (!x->has_last) {
            x->grade = CR_RPO_NEVER;
            continue;
        }
        x->age_ns = out->now_ns - x->last_time_ns;
        x->grade = cr_rpo_grade_of(x->age_ns, x->rpo_ns);
    }
    if (out->n > 1)
        qsort(out->sources, out->n, sizeof(*out->sources), cmp_source);
done:
    cr_snapshot_list_free(all, nall);
    if (err < 0)
        cr_status_clear(out);
    return err;
}
