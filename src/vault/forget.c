/*
 * Forgetting snapshots: the retention policy, and the write-once forget
 * records that tell a legitimate removal apart from a deletion.
 *
 * forget/<hex> is an encrypted file (docs/format.md §17, AD "cleanroom-forget"),
 * JSON:
 *   {"type":"forget","version":1,"time":"RFC 3339","by":"user@host",
 *    "policy":"keep-daily 7, keep-weekly 4" | "by id",
 *    "snapshots":[{"id":"<64 hex>","source":"...","time":"RFC 3339"}, ...]}
 *
 * A forgotten snapshot disappears from listings (cr_snapshot_list, find); its
 * file and data stay until cr_prune removes them, and `verify` does not call
 * its absence a deletion. A forget record is never removed: it is the proof.
 *
 * The policy is restic's: per source, newest first; --keep-last N keeps the
 * N newest; --keep-hourly/daily/weekly/monthly/yearly N keep the newest
 * snapshot of each of the N newest hours/days/ISO weeks/months/years that
 * have one (UTC); --keep-within D keeps those at most D older than the
 * source's newest; --keep-tag T keeps those tagged T. A snapshot is kept if
 * any rule keeps it. Snapshots in `protect` (the hunt's evidence: findings
 * at or above high) are never forgotten by a policy, only by id.
 *
 * Checks on a record read back: type, version, at most 2^20 snapshots, each
 * id 64 hex digits; anything else makes the record unreadable, and a
 * snapshot that only it forgot shows again (the safe side).
 */
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORGET_TYPE "forget"
#define FORGET_VERSION 1
#define FORGET_MAX_SNAPSHOTS (1u << 20)

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cr_id));
}


/* ------------------------------------------------------------ records */

static int record_decode(cr_forgotten *f, const void *data, size_t len, int64_t since)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr), *v, *a;
    int err = CR_ECORRUPT;
    size_t n;

    if (!root || !json_is_object(root))
        goto bad;
    v = json_object_get(root, "type");
    if (!json_is_string(v) || strcmp(json_string_value(v), FORGET_TYPE) != 0)
        goto bad;
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != FORGET_VERSION) {
        cr_error_set("forget record of an unknown version: written by a newer cleanroom");
        err = CR_EVERSION;
        goto done;
    }
    a = json_object_get(root, "snapshots");
    if (!json_is_array(a) || (n = json_array_size(a)) > FORGET_MAX_SNAPSHOTS)
        goto bad;
    {
        cr_id *ids = cr_realloc(f->ids, (f->n + n + 1) * sizeof(cr_id));
        int64_t *t = ids ? cr_realloc(f->since_ns, (f->n + n + 1) * sizeof(int64_t)) : NULL;
        if (ids)
            f->ids = ids;
        if (!ids || !t) {
            err = CR_ERROR;
            goto done;
        }
        f->since_ns = t;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(a, i);
        v = json_is_object(o) ? json_object_get(o, "id") : NULL;
        if (!json_is_string(v) || json_string_length(v) != CR_ID_HEX_LEN ||
            cr_id_from_hex(&f->ids[f->n + i], json_string_value(v)) < 0)
            goto bad;
        f->since_ns[f->n + i] = since;
    }
    f->n += n;
    err = 0;
    goto done;
bad:
    cr_error_set("damaged forget record: not the JSON this program writes");
done:
    json_decref(root);
    return err;
}

int cr_forgotten_load(cr_forgotten *out, cr_repo *repo)
{
    cr_id *files = NULL;
    size_t nfiles = 0;
    cr_buf b = CR_BUF_INIT;
    int err;

    memset(out, 0, sizeof(*out));
    if ((err = cr_repo_list(&files, &nfiles, repo, "forget")) < 0)
        goto done;
    for (size_t i = 0; i < nfiles; i++) {
        /* The grace period of a forgotten snapshot starts when its record was
         * written: the file's time (the record's own "time" is only what its
         * writer said). */
        char rel[96], hex[CR_ID_HEX_LEN + 1];
        cr_store_info st;
        int64_t since = cr_time_now_ns();
        snprintf(rel, sizeof(rel), "forget/%s", cr_id_to_hex(hex, &files[i]));
        if (cr_store_stat(repo->store, rel, &st) == 0)
            since = st.mtime_ns;
        int r = cr_repo_load_file(&b, repo, "forget", &files[i]);
        if (r == 0)
            r = record_decode(out, b.ptr, b.len, since);
        if (r == CR_ERROR && strstr(cr_error_last(), "memory")) {
            err = r;
            goto done;
        }
        if (r < 0)
            out->unreadable++; /* its snapshots show again: the safe side */
    }
    if (out->n > 1) {
        /* Sort the ids with their times. */
        struct pair {
            cr_id id;
            int64_t since;
        } *v = cr_malloc(out->n * sizeof(*v));
        if (!v) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < out->n; i++) {
            v[i].id = out->ids[i];
            v[i].since = out->since_ns[i];
        }
        qsort(v, out->n, sizeof(*v), id_cmp); /* the id comes first in a pair */
        for (size_t i = 0; i < out->n; i++) {
            out->ids[i] = v[i].id;
            out->since_ns[i] = v[i].since;
        }
        free(v);
    }
done:
    cr_buf_free(&b);
    free(files);
    if (err < 0)
        cr_forgotten_clear(out);
    return err;
}

int cr_forgotten_has(const cr_forgotten *f, const cr_id *id)
{
    return f && f->n && bsearch(id, f->ids, f->n, sizeof(cr_id), id_cmp) != NULL;
}

int64_t cr_forgotten_since(const cr_forgotten *f, const cr_id *id)
{
    const cr_id *hit;
    int64_t since = 0;
    if (!f || !f->n || !(hit = bsearch(id, f->ids, f->n, sizeof(cr_id), id_cmp)))
        return 0;
    /* Several records may name it: the latest counts. */
    size_t lo = (size_t)(hit - f->ids), hi = lo;
    while (lo > 0 && !memcmp(&f->ids[lo - 1], id, sizeof(cr_id)))
        lo--;
    while (hi + 1 < f->n && !memcmp(&f->ids[hi + 1], id, sizeof(cr_id)))
        hi++;
    for (size_t i = lo; i <= hi; i++)
        if (f->since_ns[i] > since)
            since = f->since_ns[i];
    return since;
}

void cr_forgotten_clear(cr_forgotten *f)
{
    if (!f)
        return;
    free(f->ids);
    free(f->since_ns);
    memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------ policy */

void cr_forget_result_clear(cr_forget_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        cr_snapshot_free(r->items[i].snap);
    free(r->items);
    memset(r, 0, sizeof(*r));
}

static void add_reason(cr_forget_item *it, const char *why)
{
    size_t len = strlen(it->reason);
    it->keep = 1;
    if (len + strlen(why) + 3 < sizeof(it->reason))
        snprintf(it->reason + len, sizeof(it->reason) - len, "%s%s", len ? ", " : "", why);
}

/* The bucket of a time for one rule: hour, day, ISO week, month or year (UTC). */
static long bucket(int64_t ns, int rule)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char buf[16];
    gmtime_r(&t, &tm);
    switch (rule) {
    case 0: return ((long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 +
                   tm.tm_hour;
    case 1: return (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
    case 2: strftime(buf, sizeof(buf), "%G%V", &tm); return strtol(buf, NULL, 10);
    case 3: return (long)(tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
    default: return tm.tm_year + 1900;
    }
}

/* Apply the policy to the snapshots items[lo..hi) of one source (oldest first). */
void cr_forget_apply_policy(cr_forget_item *items, size_t lo, size_t hi,
                            const cr_forget_options *o)
{
    static const char *const names[] = {"hourly", "daily", "weekly", "monthly", "yearly"};
    unsigned int left[5] = {o->hourly, o->daily, o->weekly, o->monthly, o->yearly};
    long last[5];
    int have[5] = {0, 0, 0, 0, 0};
    unsigned int nlast = o->last;
    int64_t newest = items[hi - 1].snap->time_ns, now = o->now_ns ? o->now_ns : cr_time_now_ns();
    /* A snapshot dated in the future (a wrong clock, or planted) must not make
     * --keep-within forget the real ones. */
    if (newest > now)
        newest = now;

    for (size_t k = hi; k-- > lo;) { /* newest first */
        cr_forget_item *it = &items[k];
        const cr_snapshot *s = it->snap;
        if (nlast) {
            nlast--;
            add_reason(it, "last");
        }
        for (int r = 0; r < 5; r++) {
            long b;
            if (!left[r])
                continue;
            b = bucket(s->time_ns, r);
            if (have[r] && b == last[r])
                continue;
            have[r] = 1;
            last[r] = b;
            left[r]--;
            add_reason(it, names[r]);
        }
        if (o->within_ns > 0 && newest - s->time_ns <= o->within_ns)
            add_reason(it, "within");
        for (size_t t = 0; t < o->ntags; t++) {
            int hit = 0;
            for (size_t j = 0; j < s->ntags && !hit; j++)
                hit = !strcmp(s->tags[j], o->tags[t]);
            if (hit) {
                add_reason(it, "tag");
                break;
            }
        }
        for (size_t p = 0; p < o->nprotect; p++)
            if (!memcmp(&o->protect[p], &s->id, sizeof(cr_id))) {
                add_reason(it, "evidence");
                break;
            }
    }
}

int cr_forget_duration_parse(int64_t *out_ns, const char *s)
{
    static const char units[] = "ymwdh";
    static const int64_t secs[] = {365 * 86400LL, 30 * 86400LL, 7 * 86400LL, 86400LL, 3600LL};
    int64_t total = 0;
    const char *p = s;
    int parts = 0;
    while (p && *p) {
        char *end;
        const char *u;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > 100000 || !*end || !(u = strchr(units, *end)))
            goto bad;
        total += v * secs[u - units];
        p = end + 1;
        parts++;
    }
    if (!parts || total <= 0 || total > 1000LL * 365 * 86400)
        goto bad;
    *out_ns = total * 1000000000LL;
    return 0;
bad:
    cr_error_set("'%.80s' is not a duration as --keep-within takes it: numbers with units y "
                 "(years), m (months), w (weeks), d (days), h (hours), e.g. 7d, 36h, 6m, 1y6m",
                 s ? s : "");
    return CR_EINPUT;
}

static int source_cmp(const void *a, const void *b)
{
    const cr_forget_item *x = a, *y = b;
    int c = strcmp(x->snap->source, y->snap->source);
    if (c)
        return c;
    if (x->snap->time_ns != y->snap->time_ns)
        return x->snap->time_ns < y->snap->time_ns ? -1 : 1;
    return memcmp(&x->snap->id, &y->snap->id, sizeof(cr_id));
}

static void policy_text(char *out, size_t len, const cr_forget_options *o)
{
    size_t n = 0;
    out[0] = '\0';
#define RULE(v, name)                                                                              \
    if ((v) && n < len)                                                                            \
        n += (size_t)snprintf(out + n, len - n, "%s" name " %u", n ? ", " : "", (unsigned)(v));
    RULE(o->last, "keep-last")
    RULE(o->hourly, "keep-hourly")
    RULE(o->daily, "keep-daily")
    RULE(o->weekly, "keep-weekly")
    RULE(o->monthly, "keep-monthly")
    RULE(o->yearly, "keep-yearly")
#undef RULE
    if (o->within_ns > 0 && n < len)
        n += (size_t)snprintf(out + n, len - n, "%skeep-within %llds", n ? ", " : "",
                              (long long)(o->within_ns / 1000000000LL));
    for (size_t t = 0; t < o->ntags && n < len; t++)
        n += (size_t)snprintf(out + n, len - n, "%skeep-tag %.64s", n ? ", " : "", o->tags[t]);
}

static int save_record(cr_id *out, cr_repo *repo, const cr_forget_result *r,
                       const cr_forget_options *o)
{
    char when[48], host[256], user[64], by[330], policy[512], hex[CR_ID_HEX_LEN + 1];
    json_t *root = json_object(), *a = json_array();
    char *text = NULL;
    int err = 0, ok = root && a;

    cr_time_format(when, sizeof(when), cr_time_now_ns());
    cr_who(host, sizeof(host), user, sizeof(user));
    snprintf(by, sizeof(by), "%s@%s", user, host);
    if (o->nids)
        snprintf(policy, sizeof(policy), "by id");
    else
        policy_text(policy, sizeof(policy), o);
    for (size_t i = 0; ok && i < r->n; i++) {
        const cr_snapshot *s = r->items[i].snap;
        char st[48];
        if (r->items[i].keep)
            continue;
        cr_time_format(st, sizeof(st), s->time_ns);
        ok = json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", cr_id_to_hex(hex, &s->id),
                                                "source", s->source, "time", st)) == 0;
    }
    ok = ok && json_object_set_new(root, "type", json_string(FORGET_TYPE)) == 0 &&
         json_object_set_new(root, "version", json_integer(FORGET_VERSION)) == 0 &&
         json_object_set_new(root, "time", json_string(when)) == 0 &&
         json_object_set_new(root, "by", json_string(o->by && *o->by ? o->by : by)) == 0 &&
         json_object_set_new(root, "policy", json_string(policy)) == 0 &&
         json_object_set(root, "snapshots", a) == 0 && (text = json_dumps(root, JSON_COMPACT));
    if (!ok) {
        cr_error_set("out of memory while writing a forget record (or a name that is not UTF-8)");
        err = CR_ERROR;
        goto done;
    }
    err = cr_repo_save_file(out, repo, "forget", text, strlen(text));
done:
    free(text);
    json_decref(a);
    json_decref(root);
    return err;
}

int cr_forget(cr_forget_result *out, cr_repo *repo, const cr_forget_options *opts)
{
    cr_snapshot **list = NULL;
    size_t n = 0;
    cr_lock *lock = NULL;
    int err;

    memset(out, 0, sizeof(*out));
    if (!repo || !opts || opts->version != CR_FORGET_OPTIONS_VERSION) {
        cr_error_set("forget: a vault and options are required");
        return CR_EINPUT;
    }
    int policy = opts->last || opts->hourly || opts->daily || opts->weekly || opts->monthly ||
                 opts->yearly || opts->within_ns > 0 || opts->ntags;
    if (!policy && !opts->nids) {
        cr_error_set("no retention rule and no snapshot given: nothing would be kept, so nothing "
                     "is forgotten (give --keep-last, --keep-daily, ... or snapshot ids)");
        return CR_EINPUT;
    }
    if (policy && opts->nids) {
        cr_error_set("give either snapshot ids or --keep-* rules, not both");
        return CR_EINPUT;
    }
    if ((err = cr_lock_acquire(&lock, repo, 0)) < 0 ||
        (err = cr_snapshot_list(&list, &n, repo, opts->source)) < 0)
        goto done;
    if (n == 0 && opts->source) {
        cr_error_set("no snapshot of source '%s' in the vault", opts->source);
        err = CR_ENOTFOUND;
        goto done;
    }
    if (n && !(out->items = cr_calloc(n, sizeof(*out->items)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        out->items[i].snap = list[i];
        list[i] = NULL;
    }
    out->n = n;
    if (opts->nids) {
        for (size_t k = 0; k < opts->nids; k++) {
            int found = 0;
            for (size_t i = 0; i < n && !found; i++)
                found = !memcmp(&out->items[i].snap->id, &opts->ids[k], sizeof(cr_id));
            if (!found) {
                char hex[CR_ID_HEX_LEN + 1];
                cr_error_set("snapshot %s is not in the vault (or was forgotten already)",
                             cr_id_to_hex(hex, &opts->ids[k]));
                err = CR_EINPUT;
                goto done;
            }
        }
        for (size_t i = 0; i < n; i++) {
            int named = 0;
            for (size_t k = 0; k < opts->nids && !named; k++)
                named = !memcmp(&out->items[i].snap->id, &opts->ids[k], sizeof(cr_id));
            if (named)
                snprintf(out->items[i].reason, sizeof(out->items[i].reason), "by id");
            else
                out->items[i].keep = 1;
        }
    } else {
        if (n > 1)
            qsort(out->items, n, sizeof(*out->items), source_cmp);
        for (size_t lo = 0; lo < n;) {
            size_t hi = lo + 1;
            while (hi < n && !strcmp(out->items[hi].snap->source, out->items[lo].snap->source))
                hi++;
            cr_forget_apply_policy(out->items, lo, hi, opts);
            lo = hi;
        }
    }
    for (size_t i = 0; i < n; i++)
        out->nforget += !out->items[i].keep;
    if (out->nforget && !opts->dry_run) {
        if ((err = save_record(&out->record, repo, out, opts)) < 0)
            goto done;
        out->has_record = 1;
    }
done:
    cr_snapshot_list_free(list, n);
    cr_lock_release(lock);
    if (err < 0)
        cr_forget_result_clear(out);
    return err;
}
