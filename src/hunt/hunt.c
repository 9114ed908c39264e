/*
 * cr_hunt: find indicators of compromise in every restore point, and the
 * readers of what it found (findings, clean points).
 *
 * The snapshots of each source are hunted oldest first. For a snapshot S with
 * predecessor P (the previous snapshot of the same source):
 *
 *   1. diff      cr_diff_trees() between the system roots of P and S lists
 *                what was added, changed or removed; subtrees with the same
 *                id are skipped without being read, so a day of ordinary
 *                life on a large server costs a walk of the changed folders.
 *                The first snapshot is diffed against nothing (everything is
 *                added): it is the *baseline*.
 *   2. scan      the contents of the added and changed files that the facts
 *                cache does not know yet (or knows for an older YARA rule
 *                set) are read from the vault once each and scanned in
 *                parallel (scan.c); their facts go to the cache.
 *   3. judge     each changed node goes through the content and name judges
 *                (judge.c), Linux persistence (persist.c) and Windows
 *                persistence (windows.c); then the change rate of the day.
 *   4. carry     findings of P (severity >= low) on nodes that did not change
 *                are still true in S: they are carried forward unchanged.
 *                Every finding keeps the snapshot where the same finding
 *                (path, category, indicator, evidence) was first seen.
 *   5. store     S's findings are written as one hunt record (store.c).
 *
 * A record is current when it was made with the same rule set, against the
 * same predecessor, without unreadable contents; current snapshots are
 * skipped (so hunting again is nearly free), and once a snapshot of a source
 * is hunted again, every later snapshot of that source is too, since what it
 * carries forward may have changed. Records are never modified: a new one
 * supersedes the old (the newest per snapshot counts).
 *
 * Paths given to the judges are relative to the *system root* of a snapshot
 * (cr_hunt_system_root): the folder recorded by backup --root, the single
 * folder it was taken of (a server's tree restored or mounted under
 * /srv/web01 judges as "/etc/crontab"), or the common folder of several paths
 * when it holds etc/ or Windows/. Without one, each path that holds a system
 * is judged from its own root by the persistence and package judges; with
 * none, the hunt says that persistence was not judged (a low finding, and a
 * warning).
 *
 * Trust: the package database of each snapshot is anchored on the
 * predecessor's as judged (hunt_run.trusted, passed on from one snapshot to
 * the next; trust.c tells why).
 */
#include "hunt/hunt.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ emit */

/* Room for one more finding in ctx->out. */
static int out_reserve(hn_ctx *ctx)
{
    if (ctx->nout == ctx->capout) {
        size_t cap = ctx->capout ? ctx->capout * 2 : 64;
        cr_finding *p = cr_realloc(ctx->out, cap * sizeof(*p));
        if (!p)
            return CR_ERROR;
        ctx->out = p;
        ctx->capout = cap;
    }
    return 0;
}

int hn_emit(hn_ctx *ctx, const char *relpath, cr_category cat, cr_severity sev,
            const char *indicator, const cr_id *content, const char *evidence,
            const char *detail_fmt, ...)
{
    cr_finding *f;
    va_list ap;
    char *detail = NULL;

    if (out_reserve(ctx) < 0)
        return CR_ERROR;
    if (detail_fmt) {
        va_list ap2;
        int n;
        va_start(ap, detail_fmt);
        va_copy(ap2, ap);
        n = vsnprintf(NULL, 0, detail_fmt, ap);
        va_end(ap);
        if (n >= 0 && (detail = cr_malloc((size_t)n + 1)))
            vsnprintf(detail, (size_t)n + 1, detail_fmt, ap2);
        va_end(ap2);
        if (!detail)
            return CR_ERROR;
    }
    f = &ctx->out[ctx->nout];
    memset(f, 0, sizeof(*f));
    f->category = cat;
    f->severity = sev;
    f->detail = detail;
    if (!(f->path = cr_strdup(relpath ? relpath : "/")) || !(f->indicator = cr_strdup(indicator)) ||
        (evidence && !(f->evidence = cr_strdup(evidence)))) {
        cr_finding_clear(f);
        return CR_ERROR;
    }
    if (content) {
        f->has_content = 1;
        f->content = *content;
    }
    ctx->nout++;
    return 0;
}

/* ----------------------------------------------------------- system root */

/* 1 if the folder `dir` of the snapshot holds etc/ or Windows/ (a system's "/"). */
static int looks_like_root(cr_repo *repo, const cr_snapshot *s, const char *dir)
{
    cr_node n;
    cr_tree *t = NULL;
    int found = 0;
    memset(&n, 0, sizeof(n));
    if (cr_snapshot_lookup(&n, repo, s, dir) == 0 && n.type == CR_NODE_DIR && n.has_subtree &&
        cr_tree_load(&t, repo, &n.subtree) == 0) {
        for (size_t i = 0; i < t->count && !found; i++)
            found = t->nodes[i].type == CR_NODE_DIR &&
                    (!strcmp(t->nodes[i].name, "etc") || !strcasecmp(t->nodes[i].name, "Windows"));
    }
    cr_tree_free(t);
    cr_node_clear(&n);
    return found;
}

int cr_hunt_system_root(char **out, cr_repo *repo, const cr_snapshot *s)
{
    *out = NULL;
    if (!repo || !s) {
        cr_error_set("system root: a vault and a snapshot are required");
        return CR_EINPUT;
    }
    const char *root = "/";
    if (s->system_root && s->system_root[0] == '/')
        root = s->system_root;
    else if (s->kind != CR_SNAPSHOT_IMAGE && s->npaths == 1 && s->paths[0] &&
             s->paths[0][0] == '/')
        root = s->paths[0];
    else if (s->kind != CR_SNAPSHOT_IMAGE && s->npaths > 1) {
        /* Several paths: their longest common folder, if it is a system's "/". */
        size_t n = 0;
        for (size_t i = 0; i < s->npaths; i++)
            if (!s->paths[i] || s->paths[i][0] != '/')
                goto none;
        n = strlen(s->paths[0]);
        for (size_t i = 1; i < s->npaths; i++) {
            size_t k = 0;
            while (k < n && s->paths[i][k] && s->paths[i][k] == s->paths[0][k])
                k++;
            n = k;
        }
        /* Back to a whole component: "/mnt/dpi/e" of /mnt/dpi/etc and /mnt/dpi/eye is /mnt/dpi. */
        for (size_t i = 0; i < s->npaths; i++)
            if (s->paths[i][n] != '/' && s->paths[i][n] != '\0') {
                while (n > 0 && s->paths[0][n - 1] != '/')
                    n--;
                break;
            }
        while (n > 1 && s->paths[0][n - 1] == '/')
            n--;
        char *prefix = n ? cr_strndup(s->paths[0], n) : cr_strdup("/");
        if (!prefix)
            return CR_ERROR;
        if (looks_like_root(repo, s, prefix)) {
            *out = prefix;
            return 0;
        }
        free(prefix);
    none:
        if (!(*out = cr_strdup("/")))
            return CR_ERROR;
        cr_error_set("%s: no system root recognised: persistence not judged (back it up with "
                     "--root, the folder that holds etc/ or Windows/)",
                     s->source ? s->source : "?");
        return CR_ENOTFOUND;
    }
    return (*out = cr_strdup(root)) ? 0 : CR_ERROR;
}

/* The tree id of the system root, or has = 0 when it is not a folder in the snapshot. */
static int root_tree(cr_id *out, int *has, cr_repo *repo, const cr_snapshot *s, const char *root)
{
    cr_node n;
    int err;
    *has = 0;
    if (!strcmp(root, "/")) {
        *out = s->tree;
        *has = 1;
        return 0;
    }
    err = cr_snapshot_lookup(&n, repo, s, root);
    if (err == CR_ENOTFOUND)
        return 0;
    if (err < 0)
        return err;
    if (n.type == CR_NODE_DIR && n.has_subtree) {
        *out = n.subtree;
        *has = 1;
    }
    cr_node_clear(&n);
    return 0;
}

/* Full snapshot path of a path relative to the system root ("/" stays "/"). */
static char *full_path(const char *root, const char *rel)
{
    if (!strcmp(rel, "/") || !strcmp(root, "/"))
        return cr_strdup(rel);
    return cr_sprintf("%s%s", root, rel);
}

/* The path relative to `root` of a full path, or NULL if it is not below it (borrowed). */
static const char *rel_path(const char *root, const char *full)
{
    size_t n = strlen(root);
    if (!strcmp(root, "/") || !strcmp(full, "/"))
        return full;
    if (strncmp(full, root, n) == 0 && full[n] == '/')
        return full + n;
    return NULL;
}

/* ------------------------------------------------------------ the changes */

typedef struct hn_change {
    cr_diff_kind kind;
    char *path; /* relative to the system root */
    cr_node old_node, new_node;
    int has_old, has_new;
} hn_change;

typedef struct change_list {
    hn_change *c;
    size_t n, cap;
} change_list;

static void changes_clear(change_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->c[i].path);
        if (l->c[i].has_old)
            cr_node_clear(&l->c[i].old_node);
        if (l->c[i].has_new)
            cr_node_clear(&l->c[i].new_node);
    }
    free(l->c);
    memset(l, 0, sizeof(*l));
}

static int collect_change(cr_diff_kind kind, const char *path, const cr_node *o, const cr_node *n,
                          void *payload)
{
    change_list *l = payload;
    hn_change *c;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        hn_change *p = cr_realloc(l->c, cap * sizeof(*p));
        if (!p)
            return CR_ERROR;
        l->c = p;
        l->cap = cap;
    }
    c = &l->c[l->n];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    if (!(c->path = cr_strdup(path)))
        return CR_ERROR;
    l->n++;
    /* Folders are judged by their entries; their own node is kept for the
     * persistence judges (new web roots, SUID folders...) but without a copy
     * of anything large. */
    if (o) {
        if (cr_node_copy(&c->old_node, o) < 0)
            return CR_ERROR;
        c->has_old = 1;
    }
    if (n) {
        if (cr_node_copy(&c->new_node, n) < 0)
            return CR_ERROR;
        c->has_new = 1;
    }
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* qsort, which must not be given a NULL base even for no element. */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* ---------------------------------------------------- prev findings index */

/* Findings of the predecessor, by path relative to its system root. */
typedef struct prev_set {
    cr_finding *f; /* owned copies, path rewritten relative */
    size_t n;
} prev_set;

static void prev_clear(prev_set *p)
{
    cr_findings_free(p->f, p->n);
    p->f = NULL;
    p->n = 0;
}

static int cmp_finding_path(const void *a, const void *b)
{
    const cr_finding *x = a, *y = b;
    return strcmp(x->path, y->path);
}

/* Build the predecessor's set from its findings (full paths) and its root. */
static int prev_build(prev_set *p, const cr_finding *f, size_t n, const char *root)
{
    prev_clear(p);
    if (n == 0)
        return 0;
    if (!(p->f = cr_calloc(n, sizeof(*p->f))))
        return CR_ERROR;
    for (size_t i = 0; i < n; i++) {
        const char *rel = rel_path(root, f[i].path);
        if (!rel)
            continue; /* outside the system root: not carried */
        if (cr_finding_copy(&p->f[p->n], &f[i]) < 0)
            return CR_ERROR;
        char *r = cr_strdup(rel);
        if (!r) {
            p->n++;
            return CR_ERROR;
        }
        free(p->f[p->n].path);
        p->f[p->n].path = r;
        p->n++;
    }
    sort(p->f, p->n, sizeof(*p->f), cmp_finding_path);
    return 0;
}

/* The range of findings on `path`. */
static const cr_finding *prev_on(const prev_set *p, const char *path, size_t *count)
{
    size_t lo = 0, hi = p->n;
    *count = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(p->f[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < p->n && !strcmp(p->f[end].path, path))
        end++;
    *count = end - lo;
    return *count ? &p->f[lo] : NULL;
}

/* ------------------------------------------------------------- the hunt */

typedef struct hunt_run {
    cr_repo *repo;
    const cr_hunt_options *opts;
    hn_ruleset *rs;
    hn_cache *cache;
    hn_records records;
    cr_hunt_stats *stats;
    unsigned ioc_need; /* HN_HAVE_* hashes the IOC lists need */
    int64_t last_hunted_ns; /* hunted_ns of the record hunt_one wrote last */
    /* System roots of the snapshots met so far (cr_hunt_system_root), by snapshot. */
    struct hunt_root {
        const cr_snapshot *snap;
        char *root;
        int none;    /* no system root recognised */
        char **subs; /* with several paths and no common root: those that hold a system */
        size_t nsubs;
    } *roots;
    size_t nroots, caproots;
    /* The trust anchor: the package database of `trusted_for` (the last snapshot
     * hunted of the current source) as judged then; NULL when none is known. */
    hn_dpkg *trusted;
    cr_id trusted_for;
    /* Contents that made a sandboxed parser fail (crash, hang, limit) in this run,
     * with the words of the failure: each is a finding where it appears. */
    struct hunt_hostile {
        cr_id content;
        char *why;
    } *hostile;
    size_t nhostile, caphostile;
} hunt_run;

static int hostile_add(hunt_run *h, const cr_id *content, const char *why)
{
    if (h->nhostile == h->caphostile) {
        size_t cap = h->caphostile ? 2 * h->caphostile : 8;
        struct hunt_hostile *p = cr_realloc(h->hostile, cap * sizeof(*p));
        if (!p)
            return CR_ERROR;
        h->hostile = p;
        h->caphostile = cap;
    }
    if (!(h->hostile[h->nhostile].why = cr_strdup(why)))
        return CR_ERROR;
    h->hostile[h->nhostile++].content = *content;
    return 0;
}

static const char *hostile_find(const hunt_run *h, const cr_id *content)
{
    for (size_t i = 0; i < h->nhostile; i++)
        if (!memcmp(&h->hostile[i].content, content, sizeof(*content)))
            return h->hostile[i].why;
    return NULL;
}

/* The system root of s (borrowed), worked out once. NULL: out of memory (or a damaged tree). */
static const char *snap_root(hunt_run *h, const cr_snapshot *s, int *none)
{
    for (size_t i = 0; i < h->nroots; i++)
        if (h->roots[i].snap == s) {
            if (none)
                *none = h->roots[i].none;
            return h->roots[i].root;
        }
    if (h->nroots == h->caproots) {
        size_t cap = h->caproots ? h->caproots * 2 : 64;
        struct hunt_root *r = cr_realloc(h->roots, cap * sizeof(*r));
        if (!r)
            return NULL;
        h->roots = r;
        h->caproots = cap;
    }
    char *root = NULL;
    int rc = cr_hunt_system_root(&root, h->repo, s);
    if (rc < 0 && rc != CR_ENOTFOUND)
        return NULL;
    struct hunt_root *r = &h->roots[h->nroots];
    memset(r, 0, sizeof(*r));
    r->snap = s;
    r->root = root;
    h->nroots++;
    if (rc == CR_ENOTFOUND && s->npaths > 1) {
        /* No common root: each path that holds a system is its own. */
        if (!(r->subs = cr_calloc(s->npaths, sizeof(char *))))
            return NULL;
        for (size_t i = 0; i < s->npaths; i++)
            if (looks_like_root(h->repo, s, s->paths[i]) &&
                !(r->subs[r->nsubs++] = cr_strdup(s->paths[i])))
                return NULL;
    }
    r->none = rc == CR_ENOTFOUND && r->nsubs == 0;
    if (none)
        *none = r->none;
    return r->root;
}

/* The systems of a snapshot that has no common root (borrowed; snap_root first). */
static char **snap_subs(const hunt_run *h, const cr_snapshot *s, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < h->nroots; i++)
        if (h->roots[i].snap == s) {
            *n = h->roots[i].nsubs;
            return h->roots[i].subs;
        }
    return NULL;
}

static void roots_clear(hunt_run *h)
{
    for (size_t i = 0; i < h->nroots; i++) {
        free(h->roots[i].root);
        for (size_t k = 0; k < h->roots[i].nsubs; k++)
            free(h->roots[i].subs[k]);
        free(h->roots[i].subs);
    }
    free(h->roots);
    h->roots = NULL;
    h->nroots = h->caproots = 0;
}

/* Open-addressing set of content ids -> job index, for one snapshot's scan. */
typedef struct job_map {
    cr_id *ids;
    size_t *job;
    size_t cap; /* power of two */
} job_map;

static int job_map_init(job_map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap <<= 1;
    m->ids = cr_calloc(m->cap, sizeof(cr_id));
    m->job = cr_malloc(m->cap * sizeof(size_t));
    if (!m->ids || !m->job)
        return CR_ERROR;
    for (size_t i = 0; i < m->cap; i++)
        m->job[i] = (size_t)-1;
    return 0;
}

/* The slot of `id`: its job, or (size_t)-1 in *job when free. Content ids are hashes. */
static size_t job_map_slot(const job_map *m, const cr_id *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    size_t i = (size_t)h & (m->cap - 1);
    while (m->job[i] != (size_t)-1 && memcmp(&m->ids[i], id, sizeof(cr_id)) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

/* ------------------------------------------------------------ YARA externals */

/* What the YARA externals need of a snapshot: its accounts (uid -> name, from its own
 * /etc/passwd) and whether it is a Windows tree (a Windows folder at its system root). */
typedef struct x_snap {
    uint32_t *uid;
    char **name;
    size_t n;
    int windows;
} x_snap;

static void x_snap_clear(x_snap *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->name[i]);
    free(x->uid);
    free(x->name);
    memset(x, 0, sizeof(*x));
}

static int x_snap_load(x_snap *x, cr_repo *repo, const cr_snapshot *s, const char *root)
{
    cr_node n;
    cr_buf b = CR_BUF_INIT;
    char *p;
    int err = 0;
    memset(x, 0, sizeof(*x));
    static const char *const win[] = {"/Windows", "/WINDOWS", "/windows"};
    for (size_t i = 0; i < 3 && !x->windows; i++) {
        if (!(p = full_path(root, win[i])))
            return CR_ERROR;
        if (cr_snapshot_lookup(&n, repo, s, p) == 0) {
            x->windows = n.type == CR_NODE_DIR;
            cr_node_clear(&n);
        }
        free(p);
    }
    if (!(p = full_path(root, "/etc/passwd")))
        return CR_ERROR;
    memset(&n, 0, sizeof(n));
    if (cr_snapshot_lookup(&n, repo, s, p) == 0 && n.type == CR_NODE_FILE &&
        hn_read_node(&b, repo, &n, 16u << 20) == 0) {
        const char *t = b.ptr ? (const char *)b.ptr : "", *end = t + b.len;
        while (t < end && !err) {
            const char *nl = memchr(t, '\n', (size_t)(end - t)), *e = nl ? nl : end;
            const char *c1 = memchr(t, ':', (size_t)(e - t));
            const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(e - c1 - 1)) : NULL;
            if (c1 && c2 && c1 > t && c1 - t < 64 && x->n < 100000) {
                char *endp;
                unsigned long uid = strtoul(c2 + 1, &endp, 10);
                if (endp > c2 + 1 && *endp == ':' && uid <= 0xffffffffUL) {
                    uint32_t *nu = cr_realloc(x->uid, (x->n + 1) * sizeof(*nu));
                    char **nn = nu ? cr_realloc(x->name, (x->n + 1) * sizeof(*nn)) : NULL;
                    if (nu)
                        x->uid = nu;
                    if (nn)
                        x->name = nn;
                    if (!nu || !nn || !(x->name[x->n] = cr_strndup(t, (size_t)(c1 - t))))
                        err = CR_ERROR;
                    else
                        x->uid[x->n++] = (uint32_t)uid;
                }
            }
            t = nl ? nl + 1 : end;
        }
    }
    cr_error_clear();
    cr_node_clear(&n);
    cr_buf_free(&b);
    free(p);
    return err;
}

/* The externals of the file at relpath: its name, its folder ("/etc/cron.d"; for a
 * Windows tree "C:\Windows\System32") and its owner (the account name of its user id
 * in the snapshot's /etc/passwd, else the user id in decimal; "" in a Windows tree). */
static int x_values(char **name, char **folder, char **owner, const x_snap *x, const char *rel,
                    const cr_node *node)
{
    const char *slash = strrchr(rel, '/');
    *name = cr_strdup(slash ? slash + 1 : rel);
    if (!slash || slash == rel)
        *folder = cr_strdup(x->windows ? "C:\\" : "/");
    else if (x->windows)
        *folder = cr_sprintf("C:%.*s", (int)(slash - rel), rel);
    else
        *folder = cr_strndup(rel, (size_t)(slash - rel));
    if (*folder && x->windows)
        for (char *c = *folder; *c; c++)
            if (*c == '/')
                *c = '\\';
    *owner = NULL;
    if (x->windows)
        *owner = cr_strdup("");
    for (size_t i = 0; i < x->n && !*owner; i++)
        if (x->uid[i] == node->uid)
            *owner = cr_strdup(x->name[i]);
    if (!*owner && !x->windows)
        *owner = cr_sprintf("%lu", (unsigned long)node->uid);
    return *name && *folder && *owner ? 0 : CR_ERROR;
}

/* Learn the facts of every content added or changed in `ch` that the cache lacks. */
static int scan_changes(hunt_run *h, const cr_snapshot *s, const char *root, change_list *ch,
                        uint64_t *scanned, uint64_t *cached, uint64_t *errors)
{
    hn_scan_job *jobs = NULL;
    hn_facts *facts = NULL;
    char **paths = NULL; /* full snapshot paths, for the warnings */
    char **xv = NULL;    /* YARA externals: name, folder, owner of each job */
    job_map map = {NULL, NULL, 0};
    x_snap xs;
    size_t njobs = 0;
    int err = 0;
    unsigned base = HN_HAVE_HEAD | (h->rs->yara ? HN_HAVE_YARA : 0) | h->ioc_need;

    memset(&xs, 0, sizeof(xs));
    if (ch->n == 0)
        return 0;
    if (!(jobs = cr_calloc(ch->n, sizeof(*jobs))) || !(facts = cr_calloc(ch->n, sizeof(*facts))) ||
        !(paths = cr_calloc(ch->n, sizeof(*paths))) || !(xv = cr_calloc(3 * ch->n, sizeof(*xv))) ||
        job_map_init(&map, ch->n) < 0) {
        err = CR_ERROR;
        goto done;
    }
    if (h->rs->yara && (err = x_snap_load(&xs, h->repo, s, root)) < 0)
        goto done;
    for (size_t i = 0; i < ch->n; i++) {
        hn_change *c = &ch->c[i];
        if (!c->has_new || c->new_node.type != CR_NODE_FILE)
            continue;
        cr_id cid;
        unsigned need = base | hn_persist_linux_need(c->path, &c->new_node) |
                        hn_judge_package_need(s, c->path, &c->new_node);
        hn_facts_key(&cid, h->rs, c->path, &c->new_node);
        const hn_facts *known = hn_cache_get(h->cache, &cid);
        unsigned have = known ? known->have : 0;
        if (known && (have & HN_HAVE_YARA) && strcmp(known->yara_id, h->rs->yara_id) != 0)
            have &= ~HN_HAVE_YARA;
        unsigned missing = need & ~have;
        if (!missing) {
            (*cached)++;
            continue;
        }
        /* One job per unique content. */
        size_t slot = job_map_slot(&map, &cid);
        if (map.job[slot] != (size_t)-1) {
            jobs[map.job[slot]].need |= missing;
            continue;
        }
        map.ids[slot] = cid;
        map.job[slot] = njobs;
        facts[njobs].content = cid;
        facts[njobs].size = c->new_node.size;
        {
            char hex[CR_ID_HEX_LEN + 1];
            char *fp = full_path(root, c->path);
            if (!fp || !(paths[njobs] = cr_sprintf("%s (snapshot %.8s of %s)", fp,
                                                   cr_id_to_hex(hex, &s->id), s->source))) {
                free(fp);
                err = CR_ERROR;
                goto done;
            }
            free(fp);
        }
        if (h->rs->yara) {
            if ((err = x_values(&xv[3 * njobs], &xv[3 * njobs + 1], &xv[3 * njobs + 2], &xs,
                                c->path, &c->new_node)) < 0)
                goto done;
            jobs[njobs].x_filename = xv[3 * njobs];
            jobs[njobs].x_filepath = xv[3 * njobs + 1];
            jobs[njobs].x_owner = xv[3 * njobs + 2];
        }
        jobs[njobs].node = &c->new_node;
        jobs[njobs].path = paths[njobs];
        jobs[njobs].need = missing;
        jobs[njobs].facts = &facts[njobs];
        njobs++;
    }
    if (njobs) {
        hn_scan_stats ss;
        memset(&ss, 0, sizeof(ss));
        if ((err = hn_scan(&ss, h->repo, h->rs, jobs, njobs, h->opts)) < 0)
            goto done;
        h->stats->bytes_scanned += ss.bytes;
        for (size_t i = 0; i < njobs; i++) {
            if (jobs[i].error) {
                (*errors)++;
                if (jobs[i].error == CR_EHOSTILE) {
                    cr_id cid;
                    hn_content_id(&cid, jobs[i].node);
                    if ((err = hostile_add(h, &cid, jobs[i].hostile_why[0] ? jobs[i].hostile_why
                                                                        : "the parser failed")) < 0)
                        goto done;
                }
                /* What was learnt before the error is still true: keep it, so only
                 * the missing part is tried again next time. */
            }
            if (facts[i].have && (err = hn_cache_put(h->cache, &facts[i])) < 0)
                goto done;
            /* Keyed by path (YARA externals): the hashes are the content's, wherever it
             * is; kept under its content id too for the judges that look them up so. */
            if (facts[i].have & ~HN_HAVE_YARA && h->rs->yara_externals) {
                hn_facts plain = facts[i];
                hn_content_id(&plain.content, jobs[i].node);
                plain.have &= ~HN_HAVE_YARA;
                plain.yara = NULL;
                plain.nyara = 0;
                plain.yara_id[0] = '\0';
                const hn_facts *had = hn_cache_get(h->cache, &plain.content);
                if ((!had || (had->have & plain.have) != plain.have) &&
                    (err = hn_cache_put(h->cache, &plain)) < 0)
                    goto done;
            }
            (*scanned)++;
        }
    }
done:
    if (facts)
        for (size_t i = 0; i < njobs; i++)
            hn_facts_clear(&facts[i]);
    free(facts);
    if (paths)
        for (size_t i = 0; i < njobs; i++)
            free(paths[i]);
    free(paths);
    if (xv)
        for (size_t i = 0; i < 3 * ch->n; i++)
            free(xv[i]);
    free(xv);
    x_snap_clear(&xs);
    free(jobs);
    free(map.ids);
    free(map.job);
    return err;
}

/* 1 if `path` minus its last extension is one of the (sorted) removed paths. */
static int replaces_removed(const char *path, char **removed, size_t n)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!n || !dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
        return 0;
    char *base = cr_strndup(path, (size_t)(dot - path));
    if (!base)
        return 0;
    int found = bsearch(&base, removed, n, sizeof(char *), cmp_str_ptr) != NULL;
    free(base);
    return found;
}

static int cmp_finding_order(const void *a, const void *b)
{
    const cr_finding *x = a, *y = b;
    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    return strcmp(x->indicator, y->indicator);
}

/* The tree id of the package database folder of a system (has = 0: none). */
static int dpkg_dir(cr_id *out, int *has, cr_repo *repo, const cr_snapshot *s, const char *root)
{
    cr_node n;
    size_t l = strlen(root);
    while (l && root[l - 1] == '/')
        l--;
    char *path = cr_sprintf("%.*s/var/lib/dpkg", (int)l, root);
    int err;
    *has = 0;
    if (!path)
        return CR_ERROR;
    memset(&n, 0, sizeof(n));
    err = cr_snapshot_lookup(&n, repo, s, path);
    free(path);
    if (err == 0 && n.type == CR_NODE_DIR && n.has_subtree) {
        *out = n.subtree;
        *has = 1;
    }
    cr_node_clear(&n);
    return err == CR_ERROR ? err : 0;
}

/* Move the findings of a system's context (paths relative to its root) into ctx (full paths). */
static int sub_collect(hn_ctx *ctx, hn_ctx *sc)
{
    for (size_t i = 0; i < sc->nout; i++) {
        cr_finding *f = &sc->out[i];
        char *fp = strcmp(f->path, "/") ? cr_sprintf("%s%s", sc->root, f->path)
                                        : cr_strdup(sc->root);
        if (!fp)
            return CR_ERROR;
        free(f->path);
        f->path = fp;
        if (out_reserve(ctx) < 0)
            return CR_ERROR;
        ctx->out[ctx->nout++] = *f;
        memset(f, 0, sizeof(*f));
    }
    sc->nout = 0;
    return 0;
}

/* Hunt one snapshot. prev: the predecessor's findings (relative paths), replaced by S's. */
static int hunt_one(hunt_run *h, const cr_snapshot *s, const cr_snapshot *p, prev_set *prev)
{
    hn_ctx ctx;
    change_list ch = {NULL, 0, 0};
    char **changed = NULL, **removed = NULL, *deep = NULL;
    size_t nremoved = 0;
    hn_record rec;
    hn_change_stats cs;
    cr_id ta, tb;
    int hasa = 0, hasb = 0, err;
    uint64_t scanned = 0, cached = 0, errors = 0, judged = 0;
    int noroot = 0;
    char **subs = NULL;
    size_t nsubs = 0;
    hn_ctx *sub = NULL;
    int dpkg_borrowed = 0; /* ctx.dpkg is h->trusted */
    const char *root = snap_root(h, s, &noroot), *proot = p ? snap_root(h, p, NULL) : NULL;

    memset(&ctx, 0, sizeof(ctx));
    memset(&rec, 0, sizeof(rec));
    memset(&cs, 0, sizeof(cs));
    if (!root || (p && !proot)) {
        err = CR_ERROR;
        goto done;
    }
    /* A snapshot whose system root differs from its predecessor's (a backup job
     * that gained or lost a path), or whose predecessor lacks that root, is not
     * comparable with it: it is hunted as a new baseline, nothing carried. */
    int rebase = p && strcmp(proot, root) != 0;

    if (p && !rebase && (err = root_tree(&ta, &hasa, h->repo, p, proot)) < 0)
        goto done;
    if (p && !hasa)
        rebase = 1;
    if (rebase)
        prev_clear(prev);
    if ((err = root_tree(&tb, &hasb, h->repo, s, root)) < 0)
        goto done;
    {
        /* The depth limit counts from the snapshot's root, not the system root. */
        int below = 0;
        for (const char *q = root; *q; q++)
            below += q[0] == '/' && q[1] && q[1] != '/';
        err = cr_diff_trees_at(h->repo, hasa ? &ta : NULL, hasb ? &tb : NULL, below,
                               collect_change, &ch);
    }
    if (err == CR_EPARTIAL) {
        /* Folders nested absurdly deep were not compared: a way to hide files
         * from tools, so it is a finding in itself, and the rest is judged. */
        if (!(deep = cr_strdup(cr_error_last()))) {
            err = CR_ERROR;
            goto done;
        }
        err = 0;
    }
    if (err < 0)
        goto done;
    if ((err = scan_changes(h, s, root, &ch, &scanned, &cached, &errors)) < 0)
        goto done;

    ctx.repo = h->repo;
    ctx.rs = h->rs;
    ctx.snap = s;
    ctx.pred = rebase ? NULL : p;
    ctx.baseline = p == NULL || rebase;
    ctx.root = root;
    ctx.cache = h->cache;
    ctx.warning = h->opts->warning;
    ctx.payload = h->opts->payload;
    ctx.packages_dir = h->opts->packages;
    /* The anchor: the predecessor's database as judged when this run hunted it; else
     * hn_dpkg_load reads the predecessor's own. */
    if (ctx.pred && h->trusted && !memcmp(&h->trusted_for, &p->id, sizeof(cr_id))) {
        ctx.anchor = h->trusted;
        /* A package database folder that did not change since then is the same
         * database, judged the same: the anchor itself, nothing to read. */
        cr_id da, db;
        int ha = 0, hb = 0;
        if ((err = dpkg_dir(&da, &ha, h->repo, p, proot)) < 0 ||
            (err = dpkg_dir(&db, &hb, h->repo, s, root)) < 0)
            goto done;
        if (ha && hb && !memcmp(&da, &db, sizeof(da))) {
            ctx.dpkg = h->trusted;
            ctx.dpkg_loaded = 1;
            ctx.dpkg_reused = 1;
            dpkg_borrowed = 1;
        }
    }

    /* Several systems in one snapshot (no common root): the persistence and package
     * judges see each from its own root, with its own package database. */
    subs = snap_subs(h, s, &nsubs);
    if (nsubs && !(sub = cr_calloc(nsubs, sizeof(*sub)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nsubs; i++) {
        sub[i] = ctx;
        sub[i].root = subs[i];
        sub[i].dpkg = NULL;
        sub[i].dpkg_loaded = 0;
        sub[i].anchor = NULL;
        sub[i].dpkg_reused = 0;
        sub[i].sshd_keyfiles = NULL;
        sub[i].nsshd_keyfiles = 0;
        sub[i].sshd_files = NULL;
        sub[i].nsshd_files = 0;
        sub[i].sshd_loaded = 0;
        sub[i].out = NULL;
        sub[i].nout = sub[i].capout = 0;
    }

    if (noroot) {
        if (ctx.warning)
            ctx.warning(s->source,
                        "no system root recognised: persistence not judged; back it up with "
                        "--root, the folder that holds etc/ or Windows/",
                        ctx.payload);
        if ((err = hn_emit(&ctx, "/", CR_CAT_ANOMALY, CR_SEV_LOW, HN_IND_NO_ROOT, NULL, NULL,
                           "no system root recognised among the paths of this restore point (no "
                           "common folder holding etc/ or Windows/): persistence places and the "
                           "package database were not judged")) < 0)
            goto done;
    }

    if (ch.n && (!(changed = cr_calloc(ch.n, sizeof(char *))) ||
                 !(removed = cr_calloc(ch.n, sizeof(char *))))) {
        err = CR_ERROR;
        goto done;
    }
    /* Files removed this day: ransomware writes "x.docx.lockbit" and removes "x.docx". */
    for (size_t i = 0; i < ch.n; i++)
        if (ch.c[i].kind == CR_DIFF_REMOVED && ch.c[i].has_old &&
            ch.c[i].old_node.type == CR_NODE_FILE)
            removed[nremoved++] = ch.c[i].path;
    sort(removed, nremoved, sizeof(char *), cmp_str_ptr);
    for (size_t i = 0; i < ch.n; i++) {
        hn_change *c = &ch.c[i];
        const cr_node *o = c->has_old ? &c->old_node : NULL;
        const cr_node *n = c->has_new ? &c->new_node : NULL;
        changed[i] = c->path;
        ctx.prev = prev_on(prev, c->path, &ctx.nprev);
        if (n && n->type == CR_NODE_FILE) {
            judged++;
            if (c->kind == CR_DIFF_ADDED)
                cs.added++;
            else
                cs.modified++;
            cr_id cid;
            hn_facts_key(&cid, h->rs, c->path, n);
            const hn_facts *nf = hn_cache_get(h->cache, &cid);
            int ransom_named = c->kind == CR_DIFF_ADDED && hn_ruleset_ransom_ext(h->rs, c->path);
            if (nf && hn_judge_near_random(nf)) {
                /* Became near-random: a changed file whose old content was not, or
                 * a new file that replaces a removed one ("x.docx" -> "x.docx.enc")
                 * or carries a ransomware extension. A new backup archive or cache
                 * alone is not ransomware. */
                if (o && o->type == CR_NODE_FILE) {
                    cr_id ocid;
                    hn_facts_key(&ocid, h->rs, c->path, o);
                    const hn_facts *of = hn_cache_get(h->cache, &ocid);
                    if (!of || !hn_judge_near_random(of))
                        cs.modified_high_entropy++;
                } else if (ransom_named || replaces_removed(c->path, removed, nremoved)) {
                    cs.modified_high_entropy++;
                }
            }
            if (ransom_named)
                cs.ransom_named++;
        } else if (!n && o && o->type == CR_NODE_FILE) {
            cs.removed++;
        }
        if (n && (err = hn_judge_file(&ctx, c->path, o, n)) < 0)
            goto done;
        if (n && n->type == CR_NODE_FILE && h->nhostile) {
            cr_id cid;
            const char *why;
            hn_content_id(&cid, n);
            if ((why = hostile_find(h, &cid)) &&
                (err = hn_emit(&ctx, c->path, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash",
                               &cid, NULL,
                               "this file stopped the sandboxed scanner (%s): it may be crafted to "
                               "attack the tools that inspect it; it was not scanned",
                               why)) < 0)
                goto done;
        }
        hn_ctx *pc = &ctx;
        const char *rel = c->path;
        for (size_t k = 0; k < nsubs; k++) {
            size_t l = strlen(subs[k]);
            if (!strncmp(c->path, subs[k], l) && c->path[l] == '/') {
                pc = &sub[k];
                rel = c->path + l;
                pc->prev = ctx.prev;
                pc->nprev = ctx.nprev;
                break;
            }
        }
        if ((err = hn_persist_linux(pc, rel, o, n)) < 0 ||
            (err = hn_persist_windows(pc, rel, o, n)) < 0 ||
            (err = hn_judge_package(pc, rel, o, n)) < 0 ||
            (pc != &ctx && (err = sub_collect(&ctx, pc)) < 0))
            goto done;
    }
    if (deep) {
        if (ctx.warning)
            ctx.warning(root, deep, ctx.payload);
        if ((err = hn_emit(&ctx, "/", CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:deep-tree", NULL, NULL,
                           "%s: files there were not hunted, and such nesting is a way to hide "
                           "them from tools",
                           deep)) < 0)
            goto done;
    }
    if (p && !rebase) {
        cs.files_before = p->files;
        cs.files_after = s->files;
        if ((err = hn_judge_change_rate(&ctx, &cs)) < 0)
            goto done;
    }

    /* first_seen of the new findings: the predecessor's, for the same finding. */
    for (size_t i = 0; i < ctx.nout; i++) {
        cr_finding *f = &ctx.out[i];
        size_t np;
        const cr_finding *pf = prev_on(prev, f->path, &np);
        f->first_seen = s->id;
        f->first_seen_ns = s->time_ns;
        for (size_t k = 0; k < np; k++)
            if (pf[k].severity >= CR_SEV_LOW && cr_finding_same(&pf[k], f)) {
                f->first_seen = pf[k].first_seen;
                f->first_seen_ns = pf[k].first_seen_ns;
                break;
            }
    }
    /* Carry forward what is still true: findings on nodes that did not change. */
    sort(changed, ch.n, sizeof(char *), cmp_str_ptr);
    for (size_t i = 0; i < prev->n; i++) {
        const cr_finding *pf = &prev->f[i];
        if (pf->severity < CR_SEV_LOW)
            continue;
        /* Findings about the whole snapshot are about that day's changes, but
         * folders too deep to hunt stay unhunted while they do not change (the
         * diff skips them): that one holds until a new diff says it again. */
        if (!strcmp(pf->path, "/") && (strcmp(pf->indicator, "anomaly:deep-tree") != 0 || deep))
            continue;
        const char *key = pf->path;
        if (ch.n && bsearch(&key, changed, ch.n, sizeof(char *), cmp_str_ptr))
            continue;
        if ((err = out_reserve(&ctx)) < 0)
            goto done;
        if ((err = cr_finding_copy(&ctx.out[ctx.nout], pf)) < 0)
            goto done;
        ctx.nout++;
    }

    /* Complete the findings and store the record. */
    for (size_t i = 0; i < ctx.nout; i++) {
        cr_finding *f = &ctx.out[i];
        f->snapshot = s->id;
        f->time_ns = s->time_ns;
        free(f->source);
        if (!(f->source = cr_strdup(s->source))) {
            err = CR_ERROR;
            goto done;
        }
    }
    sort(ctx.out, ctx.nout, sizeof(*ctx.out), cmp_finding_order);

    rec.snapshot = s->id;
    rec.has_pred = p != NULL;
    if (p)
        rec.pred = p->id;
    memcpy(rec.ruleset, h->rs->id, sizeof(rec.ruleset));
    rec.hunted_ns = cr_time_now_ns();
    rec.source = s->source; /* borrowed: rec is not cleared */
    rec.time_ns = s->time_ns;
    rec.files_judged = judged;
    rec.contents_scanned = scanned;
    rec.contents_cached = cached;
    rec.errors = errors;
    /* The record stores full paths; `prev` for the next snapshot keeps relative ones. */
    {
        cr_finding *full = ctx.nout ? cr_calloc(ctx.nout, sizeof(*full)) : NULL;
        if (ctx.nout && !full) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < ctx.nout; i++) {
            if ((err = cr_finding_copy(&full[i], &ctx.out[i])) < 0) {
                cr_findings_free(full, i + 1);
                goto done;
            }
            char *fp = full_path(root, ctx.out[i].path);
            if (!fp) {
                cr_findings_free(full, i + 1);
                err = CR_ERROR;
                goto done;
            }
            free(full[i].path);
            full[i].path = fp;
        }
        rec.findings = full;
        rec.nfindings = ctx.nout;
        err = hn_record_save(h->repo, &rec);
        cr_findings_free(full, ctx.nout);
        rec.findings = NULL;
        rec.nfindings = 0;
        if (err < 0)
            goto done;
    }
    if ((err = hn_cache_save(h->cache, h->repo)) < 0)
        goto done;

    h->stats->files_judged += judged;
    h->stats->contents_scanned += scanned;
    h->stats->contents_cached += cached;
    h->stats->errors += errors;
    h->stats->findings += ctx.nout;
    h->stats->snapshots_hunted++;
    h->last_hunted_ns = rec.hunted_ns;

    /* S's database, as judged, anchors the next snapshot. When it was not read, S's
     * database files did not change (their change loads it), so the anchor of S
     * holds for the next one too. */
    if (ctx.dpkg_loaded && ctx.dpkg && !dpkg_borrowed) {
        hn_dpkg_free(h->trusted);
        h->trusted = ctx.dpkg;
        ctx.dpkg = NULL;
        h->trusted_for = s->id;
    } else if (ctx.anchor) {
        h->trusted_for = s->id;
    }

    /* S's findings become the predecessor's set of the next snapshot. */
    prev_clear(prev);
    prev->f = ctx.out;
    prev->n = ctx.nout;
    ctx.out = NULL;
    ctx.nout = 0;
    sort(prev->f, prev->n, sizeof(*prev->f), cmp_finding_path);
done:
    cr_findings_free(ctx.out, ctx.nout);
    if (ctx.dpkg && !dpkg_borrowed)
        hn_dpkg_free(ctx.dpkg);
    hn_persist_ctx_clear(&ctx);
    for (size_t i = 0; sub && i < nsubs; i++) {
        cr_findings_free(sub[i].out, sub[i].nout);
        hn_dpkg_free(sub[i].dpkg);
        hn_persist_ctx_clear(&sub[i]);
    }
    free(sub);
    free(changed);
    free(removed);
    free(deep);
    changes_clear(&ch);
    return err;
}

static int record_current(const hunt_run *h, const hn_record *r, const cr_snapshot *p)
{
    if (!r || h->opts->force || strcmp(r->ruleset, h->rs->id) != 0 || r->errors)
        return 0;
    if (r->has_pred != (p != NULL))
        return 0;
    return !p || memcmp(&r->pred, &p->id, sizeof(cr_id)) == 0;
}

int cr_hunt(cr_hunt_stats *stats, cr_repo *repo, const cr_hunt_options *opts)
{
    hunt_run h;
    cr_hunt_stats local;
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0;
    cr_lock *lock = NULL;
    prev_set prev = {NULL, 0};
    int err, first_err = 0;
    size_t nfailed = 0;
    char first_msg[1024] = "";
    double t0 = cr_time_mono();

    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    memset(&h, 0, sizeof(h));
    if (!repo || !opts || opts->version < 1) {
        cr_error_set("hunt: a vault and options are required");
        return CR_EINPUT;
    }
    /* Options of an older caller: the fields it does not know are left at their defaults. */
    cr_hunt_options o2 = CR_HUNT_OPTIONS_INIT;
    memcpy(&o2, opts,
           opts->version >= 3   ? sizeof(o2)
           : opts->version >= 2 ? offsetof(cr_hunt_options, skip_broken_rules)
                                : offsetof(cr_hunt_options, packages));
    opts = &o2;
    h.repo = repo;
    h.opts = opts;
    h.stats = stats;
    /* The rule set holds its own reference to libyara (hn_ruleset_load). */
    if ((err = hn_ruleset_load(&h.rs, opts)) < 0)
        goto done;
    memcpy(stats->ruleset, h.rs->id, sizeof(stats->ruleset));
    stats->yara_rules = h.rs->yara_count;
    stats->yara_files_skipped = h.rs->yara_files_skipped;
    stats->yara_rules_skipped = h.rs->yara_rules_skipped;
    stats->ioc_hashes = hn_ioc_count(h.rs->iocs);
    {
        unsigned t = hn_ioc_types(h.rs->iocs);
        h.ioc_need = ((t & HN_MD5) ? HN_HAVE_MD5 : 0) | ((t & HN_SHA1) ? HN_HAVE_SHA1 : 0) |
                     ((t & HN_SHA256) ? HN_HAVE_SHA256 : 0);
    }
    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0)
        goto done;
    if ((err = cr_snapshot_list(&snaps, &nsnaps, repo, opts->source)) < 0)
        goto done;
    if (nsnaps == 0 && opts->source) {
        cr_error_set("no snapshot of source '%s' in the vault", opts->source);
        err = CR_ENOTFOUND;
        goto done;
    }
    if ((err = hn_records_load(&h.records, repo, opts->warning, opts->payload)) < 0 ||
        (err = hn_cache_load(&h.cache, repo, opts->warning, opts->payload)) < 0)
        goto done;

    /* Sources one at a time, each oldest first (the list is sorted by time). */
    {
        char *done_flags = cr_calloc(nsnaps ? nsnaps : 1, 1);
        if (!done_flags) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < nsnaps && err != CR_ERROR; i++) {
            if (done_flags[i])
                continue;
            const char *src = snaps[i]->source;
            const cr_snapshot *p = NULL;
            int dirty = 0, failed = 0;
            int64_t pred_ns = 0; /* hunted_ns of p's record */
            prev_clear(&prev);
            for (size_t j = i; j < nsnaps; j++) {
                const cr_snapshot *s = snaps[j];
                if (strcmp(s->source, src) != 0)
                    continue;
                done_flags[j] = 1;
                stats->snapshots++;
                if (failed)
                    continue;
                const hn_record *r = hn_records_find(&h.records, &s->id);
                /* A baseline: the snapshot the operator marks now, or one hunted as a
                 * baseline before though it has a predecessor (marked then). It is
                 * judged alone, and the later snapshots against it. */
                if (opts->baseline && !memcmp(opts->baseline, &s->id, sizeof(cr_id))) {
                    if (p && r && r->has_pred)
                        dirty = 1;
                    p = NULL;
                    pred_ns = 0;
                    prev_clear(&prev);
                } else if (p && r && !r->has_pred) {
                    p = NULL;
                    pred_ns = 0;
                    prev_clear(&prev);
                }
                /* Current only if made after the predecessor's record: a record
                 * made before its predecessor was hunted again carries what the
                 * predecessor held then. */
                if (!dirty && record_current(&h, r, p) && r->hunted_ns >= pred_ns) {
                    stats->snapshots_current++;
                    pred_ns = r->hunted_ns;
                    const char *sr = snap_root(&h, s, NULL);
                    if (!sr)
                        err = CR_ERROR, failed = 1;
                    else if ((err = prev_build(&prev, r->findings, r->nfindings, sr)) < 0)
                        failed = 1;
                } else {
                    dirty = 1;
                    if ((err = hunt_one(&h, s, p, &prev)) < 0)
                        failed = 1;
                    pred_ns = h.last_hunted_ns;
                }
                if (failed) {
                    /* The later snapshots of this source need this one; the other
                     * sources do not: say so and go on with them. */
                    char hex[CR_ID_HEX_LEN + 1], msg[512];
                    snprintf(msg, sizeof(msg), "%s", cr_error_last());
                    cr_id_to_hex(hex, &s->id);
                    if (!first_err) {
                        first_err = err;
                        snprintf(first_msg, sizeof(first_msg),
                                 "snapshot %.8s of %s (and the later ones of that source) could "
                                 "not be hunted: %s",
                                 hex, src, msg);
                    }
                    nfailed++;
                    if (opts->warning) {
                        char where[256];
                        snprintf(where, sizeof(where), "snapshot %.8s of %s", hex, src);
                        opts->warning(where, msg, opts->payload);
                    }
                    if (err == CR_ERROR)
                        break; /* out of memory: stop everything */
                    err = 0;
                }
                p = s;
            }
        }
        free(done_flags);
    }
    if (err == 0 && first_err) {
        if (nfailed > 1)
            cr_error_set("%s; %zu source(s) in all could not be hunted", first_msg, nfailed);
        else
            cr_error_set("%s", first_msg);
        err = first_err;
    } else if (err == 0 && stats->errors) {
        cr_error_set("%llu content(s) could not be read or scanned; they will be tried again by "
                     "the next hunt",
                     (unsigned long long)stats->errors);
        err = CR_EPARTIAL;
    }
done:
    hn_parsers_release(); /* the Windows readers' sandboxed child, if one was started */
    stats->seconds = cr_time_mono() - t0;
    prev_clear(&prev);
    hn_records_clear(&h.records);
    hn_cache_free(h.cache);
    hn_dpkg_free(h.trusted);
    for (size_t i = 0; i < h.nhostile; i++)
        free(h.hostile[i].why);
    free(h.hostile);
    roots_clear(&h);
    cr_snapshot_list_free(snaps, nsnaps);
    cr_lock_release(lock);
    hn_ruleset_free(h.rs);
    return err;
}

/* ---------------------------------------------------------------- readers */

/*
 * A snapshot without a readable record: never hunted (CR_ENOTFOUND), or
 * hunted once and its record since removed or damaged (CR_ECORRUPT). The
 * record of the next snapshot of the source names it (`pred`), and a hunt
 * file that cannot be read may have been its record: either way "not hunted"
 * would hide what the hunt found, so the restore gate must refuse.
 */
static int record_missing(const hn_records *recs, const cr_id *snap)
{
    char hex[CR_ID_HEX_LEN + 1], by[CR_ID_HEX_LEN + 1], when[48];
    const struct hn_pred_ref *ref = hn_records_named(recs, snap);
    cr_id_to_hex(hex, snap);
    if (ref) {
        cr_time_format(when, sizeof(when), ref->by_ns);
        cr_error_set("the hunt record of snapshot %.8s is missing: the record of snapshot %.8s "
                     "(hunted %s) shows that %.8s was hunted before it; its record was removed "
                     "from the vault or damaged",
                     hex, cr_id_to_hex(by, &ref->by), when, hex);
        return CR_ECORRUPT;
    }
    if (recs->unreadable) {
        cr_error_set("snapshot %.8s has no readable hunt record, and %zu file(s) under hunt/ "
                     "cannot be read: one of them may have been its record",
                     hex, recs->unreadable);
        return CR_ECORRUPT;
    }
    cr_error_set("snapshot %.8s has not been hunted yet", hex);
    return CR_ENOTFOUND;
}

/* ---------------------------------------------------------------- custody */

typedef struct hv_ctx {
    cr_verify_report *r;
    int err;
} hv_ctx;

/* A hunt file that cannot be read or decoded (named "hunt/<hex>"). */
static void hv_warn(const char *path, const char *message, void *payload)
{
    hv_ctx *x = payload;
    cr_id id;
    if (x->err < 0 || strncmp(path, "hunt/", 5) != 0 || cr_id_from_hex(&id, path + 5) < 0 ||
        cr_verify_has_problem(x->r, "hunt", &id))
        return;
    x->err = cr_verify_add_problem(x->r, "hunt", &id, "%s", message);
}

static int hv_id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cr_id));
}

int cr_hunt_verify(cr_verify_report *report, cr_repo *repo)
{
    hn_records recs;
    cr_forgotten gone;
    hv_ctx x = {report, 0};
    cr_id *snaps = NULL;
    size_t nsnaps = 0;
    char a[CR_ID_HEX_LEN + 1], b[CR_ID_HEX_LEN + 1], when[48], at[48];
    int err;

    memset(&recs, 0, sizeof(recs));
    memset(&gone, 0, sizeof(gone));
    if (!report || !repo) {
        cr_error_set("hunt verify: a report and a vault are required");
        return CR_EINPUT;
    }
    if ((err = cr_repo_list(&snaps, &nsnaps, repo, "snapshots")) < 0 ||
        (err = cr_forgotten_load(&gone, repo)) < 0 ||
        (err = hn_records_load(&recs, repo, hv_warn, &x)) < 0)
        goto done;
    if ((err = x.err) < 0)
        goto done;
    /* A snapshot named as hunted before another has a record of its own. */
    for (size_t i = 0; i < recs.npreds && err == 0; i++) {
        const struct hn_pred_ref *p = &recs.preds[i];
        /* Forgotten snapshots keep their records too (prune removes none). */
        if ((i > 0 && !memcmp(&recs.preds[i - 1].pred, &p->pred, sizeof(cr_id))) ||
            hn_records_find(&recs, &p->pred))
            continue;
        cr_time_format(when, sizeof(when), p->by_ns);
        err = cr_verify_add_problem(
            report, "hunt", &p->pred,
            "the hunt record of snapshot %.8s is missing: the record of snapshot %.8s (hunted "
            "%s) shows it was hunted before; the record was removed from the vault outside of "
            "cleanroom (restore refuses this snapshot until it is hunted again)",
            cr_id_to_hex(a, &p->pred), cr_id_to_hex(b, &p->by), when);
    }
    /* A hunted snapshot is still there. */
    for (size_t i = 0; i < recs.n && err == 0; i++) {
        const hn_record *r = &recs.r[i];
        if ((nsnaps && bsearch(&r->snapshot, snaps, nsnaps, sizeof(cr_id), hv_id_cmp)) ||
            cr_forgotten_has(&gone, &r->snapshot) ||
            cr_verify_has_problem(report, "snapshot", &r->snapshot))
            continue;
        cr_time_format(when, sizeof(when), r->time_ns);
        cr_time_format(at, sizeof(at), r->hunted_ns);
        err = cr_verify_add_problem(
            report, "snapshot", &r->snapshot,
            "missing: its hunt record (restore point of %s at %s, hunted %s) names it, and its "
            "file is gone from snapshots/, though no forget record names it: it was removed "
            "outside of cleanroom",
            r->source ? r->source : "?", when, at);
    }
    if (err == 0 && report->nproblems > 0) {
        cr_error_set("verify found %zu problem(s) in the vault", report->nproblems);
        err = CR_ECORRUPT;
    }
done:
    hn_records_clear(&recs);
    cr_forgotten_clear(&gone);
    free(snaps);
    return err;
}

int cr_hunt_evidence(cr_id **out, size_t *count, cr_repo *repo, cr_severity min)
{
    hn_records recs;
    int err;
    *out = NULL;
    *count = 0;
    memset(&recs, 0, sizeof(recs));
    if ((err = hn_records_load(&recs, repo, NULL, NULL)) < 0)
        goto done;
    if (recs.unreadable) {
        /* One of them may hold the evidence of a snapshot: fail closed. */
        cr_error_set("%zu hunt file(s) cannot be read, so what the hunt found in some snapshots "
                     "is unknown; run 'cleanroom verify' and 'cleanroom hunt' first",
                     recs.unreadable);
        err = CR_ECORRUPT;
        goto done;
    }
    for (size_t i = 0; i < recs.n; i++) {
        int hit = 0;
        for (size_t k = 0; k < recs.r[i].nfindings && !hit; k++)
            hit = recs.r[i].findings[k].severity >= min;
        if (!hit)
            continue;
        if (!*out && !(*out = cr_calloc(recs.n, sizeof(cr_id)))) {
            err = CR_ERROR;
            goto done;
        }
        (*out)[(*count)++] = recs.r[i].snapshot;
    }
done:
    hn_records_clear(&recs);
    return err;
}

int cr_findings_get(cr_finding **out, size_t *count, int64_t *hunted_ns, cr_repo *repo,
                    const cr_snapshot *snap)
{
    hn_records recs;
    const hn_record *r;
    int err;

    *out = NULL;
    *count = 0;
    if (!repo || !snap) {
        cr_error_set("findings: a vault and a snapshot are required");
        return CR_EINPUT;
    }
    memset(&recs, 0, sizeof(recs));
    if ((err = hn_records_load(&recs, repo, NULL, NULL)) < 0)
        return err;
    r = hn_records_find(&recs, &snap->id);
    if (!r) {
        err = record_missing(&recs, &snap->id);
        goto done;
    }
    if (hunted_ns)
        *hunted_ns = r->hunted_ns;
    if (r->nfindings) {
        if (!(*out = cr_calloc(r->nfindings, sizeof(**out)))) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < r->nfindings; i++) {
            if ((err = cr_finding_copy(&(*out)[i], &r->findings[i])) < 0) {
                cr_findings_free(*out, i + 1);
                *out = NULL;
                goto done;
            }
        }
        *count = r->nfindings;
    }
done:
    hn_records_clear(&recs);
    return err;
}

int cr_findings_list(cr_finding **out, size_t *count, size_t *unhunted, cr_repo *repo,
                     const cr_findings_query *q)
{
    hn_records recs;
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0, n = 0, cap = 0, un = 0;
    cr_finding *list = NULL;
    int err;

    *out = NULL;
    *count = 0;
    if (unhunted)
        *unhunted = 0;
    memset(&recs, 0, sizeof(recs));
    if ((err = cr_snapshot_list(&snaps, &nsnaps, repo, q ? q->source : NULL)) < 0)
        return err;
    if ((err = hn_records_load(&recs, repo, NULL, NULL)) < 0)
        goto done;
    for (size_t i = 0; i < nsnaps; i++) {
        const cr_snapshot *s = snaps[i];
        if (q && q->snapshot && memcmp(q->snapshot, &s->id, sizeof(cr_id)) != 0)
            continue;
        const hn_record *r = hn_records_find(&recs, &s->id);
        if (!r) {
            un++;
            continue;
        }
        size_t first = n;
        for (size_t k = 0; k < r->nfindings; k++) {
            if (q && r->findings[k].severity < q->min_severity)
                continue;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                cr_finding *p = cr_realloc(list, ncap * sizeof(*p));
                if (!p) {
                    err = CR_ERROR;
                    goto done;
                }
                list = p;
                cap = ncap;
            }
            if ((err = cr_finding_copy(&list[n], &r->findings[k])) < 0)
                goto done;
            n++;
        }
        if (list)
            sort(list + first, n - first, sizeof(*list), cmp_finding_order);
    }
    *out = list;
    *count = n;
    list = NULL;
    n = 0;
    if (unhunted)
        *unhunted = un;
done:
    cr_findings_free(list, n);
    hn_records_clear(&recs);
    cr_snapshot_list_free(snaps, nsnaps);
    return err;
}

void cr_clean_points_free(cr_clean_point *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].source);
        cr_findings_free(p[i].reasons, p[i].nreasons);
    }
    free(p);
}

int cr_clean_points(cr_clean_point **out, size_t *count, cr_repo *repo, const char *source,
                    cr_severity min)
{
    return cr_clean_points_before(out, count, repo, source, min, INT64_MAX);
}

/*
 * With an incident-wide cut-off ("patient zero"): snapshots taken at or after
 * `before_ns` are left out entirely, as if they did not exist. A database
 * tampered with without any indicator stays "clean" after the intrusion began
 * elsewhere; the one cut-off keeps every source from coming back from after it.
 */
int cr_clean_points_before(cr_clean_point **out, size_t *count, cr_repo *repo, const char *source,
                           cr_severity min, int64_t before_ns)
{
    hn_records recs;
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0, n = 0;
    cr_clean_point *cp = NULL;
    char *seen = NULL;
    int err;

    *out = NULL;
    *count = 0;
    memset(&recs, 0, sizeof(recs));
    if ((err = cr_snapshot_list(&snaps, &nsnaps, repo, source)) < 0)
        return err;
    if (nsnaps == 0) {
        if (source)
            cr_error_set("no snapshot of source '%s' in the vault", source);
        else
            cr_error_set("the vault holds no snapshot yet");
        err = CR_ENOTFOUND;
        goto done;
    }
    if ((err = hn_records_load(&recs, repo, NULL, NULL)) < 0)
        goto done;
    if (!(cp = cr_calloc(nsnaps, sizeof(*cp))) || !(seen = cr_calloc(nsnaps, 1))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nsnaps; i++) {
        if (seen[i])
            continue;
        cr_clean_point *c = &cp[n++];
        const char *src = snaps[i]->source;
        const cr_snapshot *last_clean = NULL;
        if (!(c->source = cr_strdup(src))) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t j = i; j < nsnaps; j++) {
            const cr_snapshot *s = snaps[j];
            if (strcmp(s->source, src) != 0)
                continue;
            seen[j] = 1;
            if (s->time_ns >= before_ns) {
                c->after_cutoff++;
                continue;
            }
            c->snapshots++;
            const hn_record *r = hn_records_find(&recs, &s->id);
            if (!r) {
                c->unhunted++;
                continue;
            }
            /* Said of the newest hunted snapshot (the list is oldest first). */
            c->no_system_root = 0;
            for (size_t k = 0; k < r->nfindings; k++)
                if (r->findings[k].indicator && !strcmp(r->findings[k].indicator, HN_IND_NO_ROOT))
                    c->no_system_root = 1;
            size_t bad = 0;
            for (size_t k = 0; k < r->nfindings; k++)
                if (r->findings[k].severity >= min)
                    bad++;
            /* A record with contents that could not be scanned is no verdict of
             * clean: such a snapshot is counted as not hunted (unless what was
             * scanned already compromises it). */
            if (r->errors && !bad) {
                c->unhunted++;
                continue;
            }
            if (c->compromised)
                continue;
            if (!bad) {
                last_clean = s;
                continue;
            }
            c->compromised = 1;
            c->first_compromised = s->id;
            c->first_compromised_ns = s->time_ns;
            snprintf(c->ruleset, sizeof(c->ruleset), "%s", r->ruleset);
            if (!(c->reasons = cr_calloc(bad, sizeof(cr_finding)))) {
                err = CR_ERROR;
                goto done;
            }
            for (size_t k = 0; k < r->nfindings; k++) {
                if (r->findings[k].severity < min)
                    continue;
                if ((err = cr_finding_copy(&c->reasons[c->nreasons], &r->findings[k])) < 0)
                    goto done;
                c->nreasons++;
            }
            sort(c->reasons, c->nreasons, sizeof(cr_finding), cmp_finding_order);
        }
        if (last_clean) {
            c->has_clean = 1;
            c->clean_snapshot = last_clean->id;
            c->clean_time_ns = last_clean->time_ns;
        }
    }
    *out = cp;
    *count = n;
    cp = NULL;
done:
    cr_clean_points_free(cp, n);
    free(seen);
    hn_records_clear(&recs);
    cr_snapshot_list_free(snaps, nsnaps);
    return err;
}
