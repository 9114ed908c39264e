/*
 * cr_vulns_match: an inventory against the offline data.
 *
 * Curated KEV rules (vulndata.c) apply to what a detector recognised (an
 * application, or a Windows program whose name a detector knows): for the
 * rules of one CVE and product,
 *   - a rule whose BRANCH the installed version is in (equal, or BRANCH
 *     followed by '.', '-' or '_') decides: vulnerable when the version
 *     compares below FIXED (cr_version_compare), else not;
 *   - a "*" branch with no fixed version ("-") matches every version, uncertain;
 *   - no branch holds the version: at or above every fixed version (a newer
 *     release line), not matched; else (an older, unsupported release)
 *     matched, uncertain, with the fixed versions known, so that a person
 *     decides rather than a guess.
 * A rule counts only when its CVE is in the KEV catalog in use (a rule for an
 * entry CISA removed falls silent), and the match carries KEV's ransomware use.
 * dpkg packages are not matched by product rules: Debian backports fixes
 * without changing the upstream version, so only the tracker can tell.
 *
 * Debian advisories of the snapshot's release (inv->suite) apply to dpkg
 * packages as debsecan applies them: an entry for a binary package (flag B)
 * matches that package below its unstable fixed version; an entry for a source
 * package matches each installed binary of that source whose source version is
 * below the unstable fixed version and is none of the other fixed versions.
 * One refinement: a source version at or above an "other" fixed version with
 * the same epoch and upstream version (a later security upload of the same
 * release, "+deb12u5" after the fix "+deb12u3") is fixed too, where debsecan
 * would cry wolf until its data names the newer upload. A match whose CVE is
 * in the KEV catalog is marked kev (with its ransomware use).
 */
#include "reconnect/reconnect.h"

#include <stdlib.h>
#include <string.h>

typedef struct mv {
    cr_vuln_match *v;
    size_t n, cap;
} mv;

static int push(mv *m, const char *cve, const rc_kev *k, int uncertain, const char *title,
                const char *product, const char *installed, const char *fixed,
                const char *evidence, const char *data)
{
    /* One line per CVE and evidence: several rules or binaries may say the same. */
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].cve, cve) && !strcmp(m->v[i].evidence, evidence) &&
            !strcmp(m->v[i].product, product))
            return 0;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        cr_vuln_match *nv = cr_realloc(m->v, nc * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        m->v = nv;
        m->cap = nc;
    }
    cr_vuln_match *x = &m->v[m->n++];
    memset(x, 0, sizeof(*x));
    x->cve = cr_strdup(cve);
    x->kev = k != NULL;
    x->ransomware = k ? k->ransomware : 0;
    x->uncertain = uncertain;
    x->title = cr_strdup(k && k->name ? k->name : title ? title : "");
    x->product = cr_strdup(product);
    x->installed = cr_strdup(installed ? installed : "");
    x->fixed = cr_strdup(fixed ? fixed : "");
    x->evidence = cr_strdup(evidence);
    x->data = cr_strdup(data);
    if (!x->cve || !x->title || !x->product || !x->installed || !x->fixed || !x->evidence ||
        !x->data)
        return CR_ERROR;
    return 0;
}

static int in_branch(const char *v, const char *branch)
{
    size_t n = strlen(branch);
    if (!strcmp(branch, "*"))
        return 1;
    return strncmp(v, branch, n) == 0 && (v[n] == '\0' || v[n] == '.' || v[n] == '-' ||
                                          v[n] == '_');
}

/* The curated rules of one product against one installed version. */
static int match_rules(mv *m, const cr_vulndata *d, const cr_inv_item *it)
{
    const rc_rules *r = rc_vulndata_rules(d);
    const rc_kev_set *kev = rc_vulndata_kev(d);
    int err = 0;
    for (size_t i = 0; i < r->n && !err; i++) {
        const rc_rule *a = &r->v[i];
        if (strcmp(a->product, it->product) != 0)
            continue;
        /* The first rule of each CVE for this product handles all of them. */
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            first = !(strcmp(r->v[k].cve, a->cve) == 0 && strcmp(r->v[k].product, a->product) == 0);
        if (!first)
            continue;
        const rc_kev *k = rc_kev_find(kev, a->cve);
        if (!k)
            continue;
        int decided = 0, vulnerable = 0, anyversion = 0, above_all = it->version != NULL;
        cr_buf fixed = CR_BUF_INIT;
        for (size_t j = i; j < r->n; j++) {
            const rc_rule *b = &r->v[j];
            if (strcmp(b->cve, a->cve) != 0 || strcmp(b->product, a->product) != 0)
                continue;
            if (b->fixed) {
                if (it->version && cr_version_compare(it->version, b->fixed) < 0)
                    above_all = 0;
                if (fixed.len && cr_buf_put(&fixed, ", ", 2) < 0)
                    err = CR_ERROR;
                if (cr_buf_put(&fixed, b->fixed, strlen(b->fixed)) < 0)
                    err = CR_ERROR;
            }
            if (!strcmp(b->branch, "*") && !b->fixed)
                anyversion = 1;
            else if (it->version && b->fixed && !decided && in_branch(it->version, b->branch)) {
                decided = 1;
                vulnerable = cr_version_compare(it->version, b->fixed) < 0;
            }
        }
        if (!err && cr_buf_put(&fixed, "", 1) < 0)
            err = CR_ERROR;
        if (!err && (vulnerable || (!decided && (anyversion || (it->version && !above_all)))))
            err = push(m, a->cve, k, !decided, NULL, it->name, it->version,
                       (const char *)fixed.ptr, it->evidence, "kev-rule");
        cr_buf_free(&fixed);
    }
    return err;
}

/* Same epoch and upstream version (the part before the last '-'). */
static int same_upstream(const char *a, const char *b)
{
    const char *da = strrchr(a, '-'), *db = strrchr(b, '-');
    size_t na = da ? (size_t)(da - a) : strlen(a), nb = db ? (size_t)(db - b) : strlen(b);
    return na == nb && strncmp(a, b, na) == 0;
}

static int match_debian(mv *m, const cr_vulndata *d, const rc_advisories *adv,
                        const cr_inv_item *it)
{
    const rc_kev_set *kev = rc_vulndata_kev(d);
    const char *names[2] = {it->name, it->source};
    int err = 0;
    for (int pass = 0; pass < 2 && !err; pass++) {
        const char *pkg = names[pass];
        if (!pkg)
            continue;
        /* First entry of pkg (sorted by package). */
        size_t lo = 0, hi = adv->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(adv->v[mid].package, pkg) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < adv->n && !strcmp(adv->v[i].package, pkg) && !err; i++) {
            const rc_adv *a = &adv->v[i];
            const char *ver;
            int vuln;
            if (pass == 0 && !a->binary)
                continue; /* a source entry named like this binary: handled by pass 1 */
            if (pass == 1 && a->binary)
                continue;
            ver = pass == 0 ? it->version : it->source_version;
            if (!ver)
                continue;
            vuln = !a->unstable || cr_version_compare(ver, a->unstable) < 0;
            for (size_t k = 0; k < a->nother && vuln && pass == 1; k++)
                if (!strcmp(ver, a->other[k]) ||
                    (same_upstream(ver, a->other[k]) && cr_version_compare(ver, a->other[k]) >= 0))
                    vuln = 0;
            if (!vuln)
                continue;
            cr_buf fixed = CR_BUF_INIT;
            for (size_t k = 0; k < a->nother && !err; k++)
                if ((fixed.len && cr_buf_put(&fixed, ", ", 2) < 0) ||
                    cr_buf_put(&fixed, a->other[k], strlen(a->other[k])) < 0)
                    err = CR_ERROR;
            if (!err && a->unstable &&
                ((fixed.len && cr_buf_put(&fixed, ", ", 2) < 0) ||
                 cr_buf_put(&fixed, a->unstable, strlen(a->unstable)) < 0 ||
                 cr_buf_put(&fixed, " (unstable)", 11) < 0))
                err = CR_ERROR;
            if (!err && cr_buf_put(&fixed, "", 1) < 0)
                err = CR_ERROR;
            const char *cve = adv->names[a->vuln];
            if (!err)
                err = push(m, cve, rc_kev_find(kev, cve), 0, adv->descs[a->vuln], it->name,
                           it->version, (const char *)fixed.ptr, it->evidence, "debian-tracker");
            cr_buf_free(&fixed);
        }
    }
    return err;
}

static int cmp_match(const void *a, const void *b)
{
    const cr_vuln_match *x = a, *y = b;
    if (x->ransomware != y->ransomware)
        return y->ransomware - x->ransomware;
    if (x->kev != y->kev)
        return y->kev - x->kev;
    int c = strcmp(x->cve, y->cve);
    return c ? c : strcmp(x->product, y->product);
}

void cr_vuln_matches_free(cr_vuln_match *m, size_t n)
{
    if (!m)
        return;
    for (size_t i = 0; i < n; i++) {
        free(m[i].cve);
        free(m[i].title);
        free(m[i].product);
        free(m[i].installed);
        free(m[i].fixed);
        free(m[i].evidence);
        free(m[i].data);
    }
    free(m);
}

int cr_vulns_match(cr_vuln_match **out, size_t *count, const cr_vulndata *d,
                   const cr_inventory *inv)
{
    mv m = {NULL, 0, 0};
    int err = 0;
    *out = NULL;
    *count = 0;
    if (!d || !inv) {
        cr_error_set("vulns: data and an inventory are required");
        return CR_EINPUT;
    }
    const rc_advisories *adv = rc_vulndata_suite(d, inv->suite);
    for (size_t i = 0; i < inv->nitems && !err; i++) {
        const cr_inv_item *it = &inv->items[i];
        if (it->kind == CR_INV_DEB) {
            if (adv)
                err = match_debian(&m, d, adv, it);
        } else if (it->product) {
            err = match_rules(&m, d, it);
        }
    }
    if (err < 0) {
        cr_vuln_matches_free(m.v, m.n);
        return err;
    }
    if (m.n > 1)
        qsort(m.v, m.n, sizeof(*m.v), cmp_match);
    *out = m.v;
    *count = m.n;
    return 0;
}
