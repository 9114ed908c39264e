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
        free(s->sources[i].last_run_message);
    }
    free(s->sources);
    free(s->vault.verify_job);
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

#define DAY_NS (86400LL * 1000000000LL)
#define GROWTH_DAYS 7

/* The vault's size and growth over the last GROWTH_DAYS days (by the store's dates of its
 * objects), and how long the free space lasts at that rate. */
static int vault_usage(cr_vault_status *v, cr_repo *repo, int64_t now_ns)
{
    int err = cr_repo_usage_get(&v->usage, repo, now_ns - GROWTH_DAYS * DAY_NS);
    if (err < 0)
        return err;
    v->growth_per_day = (double)v->usage.bytes_since / GROWTH_DAYS;
    v->days_until_full = v->usage.space_known && v->growth_per_day > 0
                             ? (double)v->usage.space_free / v->growth_per_day
                             : -1;
    return 0;
}

/* What the records of the runs say: the last run of each source's job, the last verify. */
static int apply_records(cr_status *out, size_t *cap, const cr_job_record *recs, size_t n,
                         const cr_jobs *jobs)
{
    /* oldest first: the last one seen is the newest */
    for (size_t i = 0; i < n; i++) {
        const cr_job_record *r = &recs[i];
        cr_vault_status *v = &out->vault;
        if (r->is_verify) {
            char *j = cr_strdup(r->job);
            if (!j)
                return CR_ERROR;
            free(v->verify_job);
            v->verify_job = j;
            v->has_verify = 1;
            v->verify_ns = r->end_ns;
            v->verify_outcome = r->outcome;
            v->verify_n = r->subset_n;
            v->verify_m = r->subset_m;
            v->verify_problems = r->problems;
            continue;
        }
        if (!r->source)
            continue;
        /* a job of the jobs file is the one that counts for its source; without the file
         * (another machine), the job and RPO the record names */
        const cr_job *cj = jobs ? cr_jobs_find(jobs, r->job) : NULL;
        if (jobs && (!cj || !cj->source || strcmp(cj->source, r->source) != 0)) {
            int other = 0;
            for (size_t k = 0; k < jobs->n && !other; k++)
                other = jobs->jobs[k].source && strcmp(jobs->jobs[k].source, r->source) == 0;
            if (other)
                continue; /* another job (an old name of it) wrote this record */
        }
        cr_source_status *x = find_or_add(out, r->source, cap);
        if (!x)
            return CR_ERROR;
        if (!x->job && !(x->job = cr_strdup(r->job)))
            return CR_ERROR;
        if (!cj && r->rpo_ns)
            x->rpo_ns = r->rpo_ns;
        char *m = r->message ? cr_strdup(r->message) : NULL;
        if (r->message && !m)
            return CR_ERROR;
        free(x->last_run_message);
        x->last_run_message = m;
        x->last_run = r->outcome;
        x->last_run_ns = r->end_ns;
        x->last_run_errors = r->errors;
        x->last_run_hunt = r->hunt;
        x->last_run_findings_high = r->findings_high;
    }
    return 0;
}

int cr_status_get(cr_status *out, cr_repo *repo, const cr_jobs *jobs, int64_t now_ns)
{
    cr_snapshot **all = NULL;
    cr_job_record *recs = NULL;
    cr_job_records_stats rst;
    size_t nall = 0, cap = 0, nrecs = 0;
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
    if ((err = cr_job_records_read(&recs, &nrecs, &rst, repo)) < 0 ||
        (err = apply_records(out, &cap, recs, nrecs, jobs)) < 0 ||
        (err = vault_usage(&out->vault, repo, out->now_ns)) < 0)
        goto done;
    out->vault.records = rst.total;
    out->vault.records_unreadable = rst.unreadable;
    out->vault.records_read = rst.files_read;
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
    cr_job_records_free(recs, nrecs);
    if (err < 0)
        cr_status_clear(out);
    return err;
}
