/*
 * cleanroom timeline: the story of one source, snapshot by snapshot.
 *
 * For an incident report and for choosing a restore point, what matters is
 * *when* things appeared: the first snapshot is the baseline; after it, each
 * snapshot shows the findings that appeared ("+") and those that went away
 * ("-") since the previous hunted snapshot, or "nothing new". Findings of one
 * indicator on many files (ransomware renames thousands) are told in one
 * line with a few examples. The story ends with the first sign of compromise.
 *
 * Appeared and gone are computed here, by comparing the findings of
 * consecutive hunted snapshots as the library's cr_finding_same does (same
 * path, category, indicator and evidence): both lists are sorted on that key
 * and merged, so a day with a hundred thousand renamed files costs a sort,
 * not a quadratic comparison. All findings come from one cr_findings_list
 * call; a snapshot without findings is asked for separately (cr_findings_get)
 * only when some snapshot of the source was never hunted, to tell a quiet day
 * from an unhunted one.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "usage: cleanroom timeline --source NAME [--min-severity S] [--json]\n"
    "\n"
    "Tell the story of a source from the hunt's findings, oldest snapshot first:\n"
    "  TIME  ID  baseline: N finding(s)        the first snapshot, then its findings\n"
    "  TIME  ID  nothing new                    no finding appeared or went away\n"
    "  TIME  ID                                 followed by:\n"
    "    + SEVERITY CATEGORY PATH INDICATOR DETAIL   a finding that appeared\n"
    "    - SEVERITY CATEGORY PATH INDICATOR DETAIL   a finding that went away\n"
    "    + SEVERITY CATEGORY INDICATOR on N files, e.g. PATH, PATH, ...\n"
    "                                           many findings of one indicator\n"
    "  TIME  ID  not hunted                     never hunted: run 'cleanroom hunt'\n"
    "and ends with 'First sign: TIME INDICATOR PATH' (the first finding at or above high,\n"
    "or at or above S when S is critical). Names are escaped as in 'ls'.\n"
    "\n"
    "Options:\n"
    "  --source NAME     required: the source (see 'cleanroom snapshots')\n"
    "  --min-severity S  info, low (default), medium, high or critical\n"
    "  --json            {source, min_severity, snapshots:[{snapshot, short_id, time,\n"
    "                    hunted, baseline, findings, appeared:[...], gone:[...]}],\n"
    "                    first_sign}; findings as in 'findings --json', first_sign a\n"
    "                    finding or null; 'findings' is the number present\n"
    "\n"
    "Exit codes: 0 ok, 2 usage, 3 wrong passphrase, 4 damaged vault, 7 no vault or no such\n"
    "source.\n";

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* The identity of a finding across snapshots (as cr_finding_same). */
static int cmp_key(const void *pa, const void *pb)
{
    const cr_finding *a = *(const cr_finding *const *)pa, *b = *(const cr_finding *const *)pb;
    int c = strcmp_null(a->path, b->path);
    if (c)
        return c;
    if (a->category != b->category)
        return a->category < b->category ? -1 : 1;
    if ((c = strcmp_null(a->indicator, b->indicator)) != 0)
        return c;
    return strcmp_null(a->evidence, b->evidence);
}

typedef struct tl_snap {
    const cr_snapshot *s;
    int hunted;
    const cr_finding *f; /* its findings (a range of the list) */
    size_t n;
} tl_snap;

/* The findings of one snapshot in the list, found by its id. */
typedef struct tl_group {
    const cr_id *id; /* of the key; NULL in the table (the id is f->snapshot) */
    const cr_finding *f;
    size_t n;
} tl_group;

static int cmp_group(const void *pa, const void *pb)
{
    const tl_group *a = pa, *b = pb;
    return memcmp(a->f ? &a->f->snapshot : a->id, b->f ? &b->f->snapshot : b->id, sizeof(cr_id));
}

typedef struct fvec {
    const cr_finding **v;
    size_t n;
} fvec;

static void fvec_push(fvec *x, const cr_finding *f)
{
    /* Callers size v for the worst case. */
    x->v[x->n++] = f;
}

/* Appeared (in cur, not in prev) and gone (in prev, not in cur). */
static void diff_sets(fvec *appeared, fvec *gone, const cr_finding *prev, size_t nprev,
                      const cr_finding *cur, size_t ncur)
{
    const cr_finding **p = cli_xmalloc((nprev + 1) * sizeof(*p));
    const cr_finding **c = cli_xmalloc((ncur + 1) * sizeof(*c));
    size_t i = 0, j = 0;
    for (size_t k = 0; k < nprev; k++)
        p[k] = &prev[k];
    for (size_t k = 0; k < ncur; k++)
        c[k] = &cur[k];
    qsort(p, nprev, sizeof(*p), cmp_key);
    qsort(c, ncur, sizeof(*c), cmp_key);
    while (i < nprev || j < ncur) {
        int d = i >= nprev ? 1 : j >= ncur ? -1 : cmp_key(&p[i], &c[j]);
        if (d < 0)
            fvec_push(gone, p[i++]);
        else if (d > 0)
            fvec_push(appeared, c[j++]);
        else
            i++, j++;
    }
    free(p);
    free(c);
}

/* Print the findings of a set, grouping many findings of one indicator. */
static void tell(const fvec *x, const char *mark, int first_seen)
{
    char indent[16];
    snprintf(indent, sizeof(indent), "  %s ", mark);
    cli_findings_print_grouped(stdout, indent, x->v, x->n, 0, first_seen);
}

static json_t *fvec_json(const fvec *x)
{
    json_t *a = json_array();
    for (size_t i = 0; i < x->n; i++)
        json_array_append_new(a, cli_finding_json(x->v[i]));
    return a;
}

int cmd_timeline(int argc, char **argv)
{
    enum { OPT_SOURCE = CLI_OPT_FIRST_CMD, OPT_MIN };
    static const struct option longopts[] = {
        {"source", required_argument, NULL, OPT_SOURCE},
        {"min-severity", required_argument, NULL, OPT_MIN},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cr_findings_query q = {NULL, NULL, CR_SEV_LOW};
    cr_repo *repo = NULL;
    cr_snapshot **snaps = NULL;
    cr_finding *f = NULL;
    tl_snap *ts = NULL;
    tl_group *groups = NULL;
    size_t ngroups = 0;
    fvec appeared = {NULL, 0}, gone = {NULL, 0};
    json_t *jsnaps = NULL;
    const cr_finding *first_sign = NULL, *first_any = NULL;
    int first_sign_baseline = 0, first_any_baseline = 0;
    size_t nsnaps = 0, n = 0, unhunted = 0, nunhunted = 0, nhunted = 0;
    int c, rc, err;

    while ((c = cli_getopt(argc, argv, "", longopts, "timeline")) != -1) {
        switch (c) {
        case OPT_SOURCE: q.source = optarg; break;
        case OPT_MIN:
            if ((rc = cli_severity_option(&q.min_severity, optarg, "timeline",
                                          "--min-severity")) != 0)
                return rc;
            break;
        case CLI_OPT_HELP: fputs(help_text, stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_unexpected_argument("timeline", argv[optind],
                                       "the source is given with --source");
    if (!q.source || !*q.source)
        return cli_usage_error("timeline", "--source NAME is required (see 'cleanroom "
                                           "snapshots')");
    cr_severity thr = q.min_severity > CR_SEV_HIGH ? q.min_severity : CR_SEV_HIGH;

    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    if ((rc = cli_check_source(repo, q.source)) != 0)
        goto done;
    cr_error_clear();
    if ((err = cr_snapshot_list(&snaps, &nsnaps, repo, q.source)) < 0) {
        rc = cli_fail(err, "could not list the snapshots");
        goto done;
    }
    if ((err = cr_findings_list(&f, &n, &unhunted, repo, &q)) < 0) {
        rc = cli_fail(err, "could not read the findings");
        goto done;
    }

    /* Each snapshot's range of the list: the findings come grouped by snapshot. */
    ts = cli_xmalloc((nsnaps + 1) * sizeof(*ts));
    groups = cli_xmalloc((n + 1) * sizeof(*groups));
    for (size_t k = 0; k < n;) {
        size_t end = k + 1;
        while (end < n && !memcmp(&f[end].snapshot, &f[k].snapshot, sizeof(cr_id)))
            end++;
        groups[ngroups].id = NULL;
        groups[ngroups].f = &f[k];
        groups[ngroups].n = end - k;
        ngroups++;
        k = end;
    }
    qsort(groups, ngroups, sizeof(*groups), cmp_group);
    {
        for (size_t i = 0; i < nsnaps; i++) {
            tl_group key, *gr;
            ts[i].s = snaps[i];
            ts[i].f = NULL;
            ts[i].n = 0;
            ts[i].hunted = 1;
            key.f = NULL;
            key.n = 0;
            key.id = &snaps[i]->id;
            gr = ngroups ? bsearch(&key, groups, ngroups, sizeof(*groups), cmp_group) : NULL;
            if (gr) {
                ts[i].f = gr->f;
                ts[i].n = gr->n;
            } else if (unhunted) {
                cr_finding *g = NULL;
                size_t ng = 0;
                cr_error_clear();
                err = cr_findings_get(&g, &ng, NULL, repo, snaps[i]);
                cr_findings_free(g, ng);
                if (err == CR_ENOTFOUND) {
                    ts[i].hunted = 0;
                } else if (err < 0) {
                    rc = cli_fail(err, "could not read the findings");
                    goto done;
                }
            }
        }
    }
    appeared.v = cli_xmalloc((n + 1) * sizeof(*appeared.v));
    gone.v = cli_xmalloc((n + 1) * sizeof(*gone.v));
    if (cli_g.json)
        jsnaps = json_array();
    else {
        char *e = cli_escape(q.source);
        printf("timeline of %s (findings at or above %s)\n", e, cr_severity_name(q.min_severity));
        free(e);
    }

    {
        const tl_snap *prev = NULL;
        for (size_t i = 0; i < nsnaps; i++) {
            const tl_snap *t = &ts[i];
            char sid[9], tm[32];
            int baseline = i == 0;
            cli_short_id(sid, &t->s->id);
            cli_time_sec(tm, sizeof(tm), t->s->time_ns);
            appeared.n = gone.n = 0;
            if (!t->hunted) {
                nunhunted++;
            } else {
                nhunted++;
                diff_sets(&appeared, &gone, prev ? prev->f : NULL, prev ? prev->n : 0, t->f,
                          t->n);
                for (size_t k = 0; k < appeared.n; k++) {
                    if (!first_any) {
                        first_any = appeared.v[k];
                        first_any_baseline = baseline;
                    }
                    if (appeared.v[k]->severity >= thr &&
                        (!first_sign ||
                         (!memcmp(&first_sign->snapshot, &t->s->id, sizeof(cr_id)) &&
                          appeared.v[k]->severity > first_sign->severity))) {
                        first_sign = appeared.v[k];
                        first_sign_baseline = baseline;
                    }
                }
                /* first_any: the highest of the first snapshot with anything new. */
                for (size_t k = 0; k < appeared.n && first_any &&
                                   !memcmp(&first_any->snapshot, &t->s->id, sizeof(cr_id));
                     k++)
                    if (appeared.v[k]->severity > first_any->severity)
                        first_any = appeared.v[k];
            }
            if (jsnaps) {
                char hex[CR_ID_HEX_LEN + 1], jt[64];
                json_t *o = json_object();
                json_object_set_new(o, "snapshot", json_string(cr_id_to_hex(hex, &t->s->id)));
                json_object_set_new(o, "short_id", json_string(sid));
                cr_time_format(jt, sizeof(jt), t->s->time_ns);
                json_object_set_new(o, "time", json_string(jt));
                json_object_set_new(o, "hunted", json_boolean(t->hunted));
                json_object_set_new(o, "baseline", json_boolean(baseline));
                json_object_set_new(o, "findings", cli_json_u64(t->n));
                json_object_set_new(o, "appeared", fvec_json(&appeared));
                json_object_set_new(o, "gone", fvec_json(&gone));
                json_array_append_new(jsnaps, o);
            } else if (!t->hunted) {
                printf("%s  %s  not hunted\n", tm, sid);
            } else if (baseline || !prev) {
                printf("%s  %s  %s: %zu finding(s)\n", tm, sid,
                       baseline ? "baseline" : "first hunted snapshot", t->n);
                tell(&appeared, "+", 1);
            } else if (appeared.n == 0 && gone.n == 0) {
                if (t->n)
                    printf("%s  %s  nothing new (%zu finding(s) still present)\n", tm, sid, t->n);
                else
                    printf("%s  %s  nothing new\n", tm, sid);
            } else {
                char a[32], g[32];
                printf("%s  %s  %s appeared, %s gone\n", tm, sid,
                       cli_count(a, sizeof(a), appeared.n), cli_count(g, sizeof(g), gone.n));
                tell(&appeared, "+", 1);
                tell(&gone, "-", 0);
            }
            if (t->hunted)
                prev = t;
        }
    }

    if (jsnaps) {
        json_t *o = json_object();
        json_object_set_new(o, "source", cli_json_str(q.source));
        json_object_set_new(o, "min_severity", json_string(cr_severity_name(q.min_severity)));
        json_object_set_new(o, "snapshots", jsnaps);
        jsnaps = NULL;
        json_object_set_new(o, "first_sign",
                            first_sign ? cli_finding_json(first_sign) : json_null());
        cli_json_print(o);
    } else {
        char tm[32];
        const cr_finding *x = first_sign ? first_sign : first_any;
        int in_baseline = first_sign ? first_sign_baseline : first_any_baseline;
        if (!first_sign)
            printf("No finding at or above %s in %zu hunted snapshot(s).", cr_severity_name(thr),
                   nhunted);
        if (x) {
            char *ind = cli_escape(x->indicator ? x->indicator : ""), *p = cli_escape(x->path);
            printf("%s%s: %s %s %s (%s)%s\n", first_sign ? "" : " ",
                   first_sign ? "First sign" : "First finding",
                   cli_time_sec(tm, sizeof(tm), x->time_ns), ind, p, cr_severity_name(x->severity),
                   in_baseline ? ", already in the first snapshot" : "");
            free(ind);
            free(p);
        } else {
            printf("\n");
        }
    }
    fflush(stdout);
    if (nunhunted)
        cli_warn("%zu snapshot(s) of this source were never hunted and are not judged; run "
                 "'cleanroom hunt'",
                 nunhunted);
    rc = CLI_EXIT_OK;
done:
    json_decref(jsnaps);
    free(appeared.v);
    free(gone.v);
    free(ts);
    free(groups);
    cr_findings_free(f, n);
    cr_snapshot_list_free(snaps, nsnaps);
    cr_repo_free(repo);
    return rc;
}
