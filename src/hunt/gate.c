/*
 * The restore gate: the one decision, for every way a snapshot is put back
 * (restore, restore --image, vm-export, recover), of whether it may be
 * restored and which of its files must be set aside. The programs only print
 * what it decided (include/cleanroom/hunt.h, cr_restore_gate_check).
 *
 * The rules, in order:
 *   - the hunt results cannot be read because of the passphrase, a lock or a
 *     full disk: an error (nothing is decided);
 *   - never hunted, or results unreadable for another reason: pass (the
 *     caller warns);
 *   - hunted once but the record is gone or damaged: refused unless
 *     accept_risk (what it found is unknown, not absent);
 *   - findings at or above the threshold on the restored paths (all paths
 *     when no include is given) or about the whole snapshot (path "/"):
 *     refused, unless accept_risk, or unless quarantine is possible and none
 *     is about the whole snapshot (then the flagged files are set aside);
 *   - findings outside the included paths are counted, never refuse.
 */
#include "cleanroom/hunt.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

void cr_restore_gate_free(cr_restore_gate *g)
{
    if (!g)
        return;
    free(g->hunt_error);
    cr_findings_free(g->findings, g->nfindings);
    free(g->flagged);
    for (size_t i = 0; i < g->nquarantine; i++)
        free(g->quarantine[i]);
    free(g->quarantine);
    free(g->quarantine_why);
    free(g);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct flag_at {
    char *path; /* normalised */
    const cr_finding *f;
} flag_at;

/* By path, then strongest finding first; at equal severity, what names the content
 * (malware, ransomware) before what names the place (persistence), then by indicator. */
static int cmp_flag_at(const void *pa, const void *pb)
{
    const flag_at *a = pa, *b = pb;
    int c = strcmp(a->path, b->path);
    if (c)
        return c;
    if (a->f->severity != b->f->severity)
        return a->f->severity > b->f->severity ? -1 : 1;
    if (a->f->category != b->f->category)
        return a->f->category < b->f->category ? -1 : 1;
    return strcmp(a->f->indicator ? a->f->indicator : "", b->f->indicator ? b->f->indicator : "");
}

/*
 * The quarantine list from the flagged file findings: one entry per path, a
 * path below another flagged one going with it, each with its strongest
 * finding (the first of its path in `v`, sorted by cmp_flag_at).
 */
static int quarantine_list(cr_restore_gate *g, flag_at *v, size_t n)
{
    int err = 0;
    char *drop = NULL;
    qsort(v, n, sizeof(*v), cmp_flag_at);
    if (!(g->quarantine = cr_calloc(n + 1, sizeof(char *))) ||
        !(g->quarantine_why = cr_calloc(n + 1, sizeof(*g->quarantine_why))) ||
        !(drop = cr_calloc(n + 1, 1)))
        return CR_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (g->nquarantine > 0 && !strcmp(g->quarantine[g->nquarantine - 1], v[i].path))
            continue;
        g->quarantine[g->nquarantine] = v[i].path;
        g->quarantine_why[g->nquarantine] = v[i].f;
        v[i].path = NULL;
        g->nquarantine++;
    }
    /* Already sorted: a path's folders, if flagged, are found by bsearch. */
    for (size_t i = 0; i < g->nquarantine; i++) {
        char *up = cr_strdup(g->quarantine[i]); /* its folders, in turn */
        if (!up) {
            err = CR_ERROR;
            break;
        }
        for (char *sl = strchr(up + 1, '/'); sl && !drop[i]; sl = strchr(sl + 1, '/')) {
            const char *key = up;
            *sl = '\0';
            drop[i] = bsearch(&key, g->quarantine, g->nquarantine, sizeof(char *), cmp_str) != NULL;
            *sl = '/';
        }
        free(up);
    }
    size_t o = 0;
    for (size_t i = 0; i < g->nquarantine; i++) {
        if (drop[i]) {
            free(g->quarantine[i]);
            continue;
        }
        g->quarantine[o] = g->quarantine[i];
        g->quarantine_why[o] = g->quarantine_why[i];
        o++;
    }
    g->nquarantine = o;
    free(drop);
    return err;
}

int cr_restore_gate_check(cr_restore_gate **out, cr_repo *repo, const cr_snapshot *snap,
                          const cr_restore_gate_options *opts)
{
    static const cr_restore_gate_options defaults = CR_RESTORE_GATE_OPTIONS_INIT;
    cr_restore_gate *g = NULL;
    char **incl = NULL;
    flag_at *v = NULL;
    size_t nv = 0, nincl = 0;
    int64_t hunted_ns = 0;
    int err;

    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (!(g = cr_calloc(1, sizeof(*g))))
        return CR_ERROR;
    cr_error_clear();
    err = cr_findings_get(&g->findings, &g->nfindings, &hunted_ns, repo, snap);
    if (err == CR_EAUTH || err == CR_ELOCKED || err == CR_ENOSPACE)
        goto done;
    if (err == CR_ENOTFOUND) {
        g->hunt = CR_GATE_NEVER;
        err = 0;
        goto done;
    }
    if (err < 0) {
        /* CR_ECORRUPT: hunted once, and the record is gone; "not hunted"
         * would hide what it found. Anything else: unreadable. */
        g->hunt = err == CR_ECORRUPT ? CR_GATE_MISSING : CR_GATE_UNREADABLE;
        g->findings = NULL;
        g->nfindings = 0;
        if (!(g->hunt_error = cr_strdup(cr_error_last()[0] ? cr_error_last() : cr_strerror(err)))) {
            err = CR_ERROR;
            goto done;
        }
        if (g->hunt == CR_GATE_MISSING) {
            g->refused = !opts->accept_risk;
            g->accepted_risk = opts->accept_risk;
        }
        err = 0;
        goto done;
    }
    g->hunt = CR_GATE_HUNTED;

    if (!(incl = cr_calloc(opts->nincludes + 1, sizeof(char *))))
        goto oom;
    for (; nincl < opts->nincludes; nincl++)
        if (!(incl[nincl] = cr_path_norm(opts->includes[nincl])))
            goto oom;
    if (!(g->flagged = cr_calloc(g->nfindings + 1, sizeof(*g->flagged))) ||
        !(v = cr_calloc(g->nfindings + 1, sizeof(*v))))
        goto oom;
    for (size_t i = 0; i < g->nfindings; i++) {
        const cr_finding *f = &g->findings[i];
        if (f->severity < opts->threshold)
            continue;
        char *p = cr_path_norm(f->path ? f->path : "/");
        if (!p)
            goto oom;
        int whole = !strcmp(p, "/"), in = whole || nincl == 0;
        for (size_t k = 0; k < nincl && !in; k++)
            if (cr_path_covers(incl[k], p) || cr_path_covers(p, incl[k]))
                in = 1;
        if (!in) {
            g->nelsewhere++;
            free(p);
            continue;
        }
        g->flagged[g->nflagged++] = f;
        if (whole) {
            g->nwhole++;
            free(p);
        } else {
            v[nv].path = p;
            v[nv].f = f;
            nv++;
        }
    }
    if (g->nflagged > 0) {
        if (opts->accept_risk)
            g->accepted_risk = 1;
        else if (!opts->quarantine || g->nwhole > 0) {
            g->refused = 1;
            g->whole_refused = opts->quarantine;
        }
        if (opts->quarantine && !g->refused && (err = quarantine_list(g, v, nv)) < 0)
            goto oom;
    }
    err = 0;
    goto done;
oom:
    cr_error_set("out of memory deciding whether the snapshot may be restored");
    err = CR_ERROR;
done:
    for (size_t i = 0; i < nv; i++)
        free(v[i].path);
    free(v);
    for (size_t i = 0; i < nincl; i++)
        free(incl[i]);
    free(incl);
    if (err < 0)
        cr_restore_gate_free(g);
    else
        *out = g;
    return err;
}
