/*
 * Job records: each run of a job leaves one in the vault, so that `status`
 * knows the outcome of the last run from any machine that opens the vault
 * (not only the one whose timer ran it), and the daily digest lists the
 * day's events.
 *
 * runs/<hex> is an encrypted file (docs/format.md §18, AD "cleanroom-runs"),
 * written once through the vault's store like snapshots: named by the SHA-256
 * of its bytes, never replaced (the store refuses other bytes under a taken
 * name), never removed (prune keeps them: they are small). JSON:
 *
 *   {"type":"job-run","version":1,"job":"dpi","source":"dpi-server",
 *    "by":"root@backup-01","start":"RFC 3339","end":"RFC 3339",
 *    "outcome":"ok|partial|failed|suspect","snapshot":"<64 hex>"|null,
 *    "files":N,"bytes":N,"bytes_new":N,"errors":N,
 *    "hunt":"not hunted|clean|findings|failed","findings":N,"findings_high":N,
 *    "verify":null|{"part":"N/M","packs_read":N,"problems":N},
 *    "rpo_seconds":N|null,"message":"..."|null,
 *    "alerts":[{"event":"job-partial","count":N,"detail":"..."|null}]}
 *
 * Checks on a record read back (after the hash and the MAC, which only the
 * vault's key holders can produce): type, version, every field of the right
 * JSON type, names of outcomes, verdicts and events known, times readable,
 * the snapshot 64 hex digits, at most RECORD_MAX_ALERTS alerts, texts at most
 * RECORD_MAX_TEXT bytes. A record failing any of them is left out.
 */
#include "cleanroom/jobs.h"
#include "cleanroom/hunt.h"
#include "hunt/hunt.h"
#include "util/util.h"
#include "vault/vault.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_TYPE "job-run"
#define RECORD_VERSION 1
#define RECORD_MAX_ALERTS 64
#define RECORD_MAX_TEXT 4096
#define RECORD_MAX_BYTES (256u * 1024)

const char *cr_run_outcome_name(cr_run_outcome o)
{
    switch (o) {
    case CR_RUN_OK:
        return "ok";
    case CR_RUN_PARTIAL:
        return "partial";
    case CR_RUN_FAILED:
        return "failed";
    case CR_RUN_SUSPECT:
        return "suspect";
    case CR_RUN_NONE:
        break;
    }
    return "never ran";
}

const char *cr_run_hunt_name(cr_run_hunt h)
{
    switch (h) {
    case CR_RUN_HUNT_CLEAN:
        return "clean";
    case CR_RUN_HUNT_FINDINGS:
        return "findings";
    case CR_RUN_HUNT_FAILED:
        return "failed";
    case CR_RUN_HUNT_NONE:
        break;
    }
    return "not hunted";
}

void cr_job_record_clear(cr_job_record *r)
{
    if (!r)
        return;
    free(r->job);
    free(r->source);
    free(r->by);
    free(r->message);
    for (size_t i = 0; i < r->nalerts; i++)
        free(r->alerts[i].detail);
    free(r->alerts);
    memset(r, 0, sizeof(*r));
}

void cr_job_records_free(cr_job_record *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        cr_job_record_clear(&r[i]);
    free(r);
}

/* The outcome of a run, from its result: suspect first (the most serious
 * news), then no snapshot, then anything short of complete. */
static cr_run_outcome outcome_of(const cr_job *job, const cr_job_result *r)
{
    if (job->verify_subset)
        return r->verify == 0 ? CR_RUN_OK : CR_RUN_FAILED;
    if (!r->snap)
        return CR_RUN_FAILED;
    if (r->watched && r->ransom.suspect)
        return CR_RUN_SUSPECT;
    if (r->backup == CR_EPARTIAL || (r->hunt < 0) || r->forget < 0)
        return CR_RUN_PARTIAL;
    return CR_RUN_OK;
}

/* A text for the record: valid UTF-8 (a message may quote a file name in any
 * bytes), at most RECORD_MAX_TEXT bytes; NULL -> null. */
static json_t *text_or_null(const char *s)
{
    if (!s)
        return json_null();
    char *c = hn_utf8_clean(s, strnlen(s, RECORD_MAX_TEXT - 4));
    json_t *v = c ? json_string(c) : NULL;
    free(c);
    return v;
}

int cr_job_record_save(cr_id *out, cr_repo *repo, const cr_job *job, const cr_job_result *r,
                       const cr_alert *alerts, size_t nalerts)
{
    json_t *o = json_object(), *a = json_array();
    char t[48], hex[CR_ID_HEX_LEN + 1], host[256], user[64], by[330];
    char *text = NULL;
    uint64_t high = 0;
    cr_run_hunt hunt = CR_RUN_HUNT_NONE;
    cr_id id;
    int err = 0;

    if (!o || !a)
        goto oom;
    for (size_t i = 0; i < nalerts; i++)
        if (alerts[i].kind == CR_ALERT_FINDINGS)
            high += alerts[i].count;
    if (!job->verify_subset && r->snap && r->hunt != 1)
        hunt = r->hunt < 0 && r->hunt != CR_EPARTIAL ? CR_RUN_HUNT_FAILED
               : high                                ? CR_RUN_HUNT_FINDINGS
                                                     : CR_RUN_HUNT_CLEAN;
    cr_who(host, sizeof(host), user, sizeof(user));
    snprintf(by, sizeof(by), "%s@%s", user, host);
    json_object_set_new(o, "type", json_string(RECORD_TYPE));
    json_object_set_new(o, "version", json_integer(RECORD_VERSION));
    json_object_set_new(o, "job", text_or_null(job->name));
    json_object_set_new(o, "source", text_or_null(job->source));
    json_object_set_new(o, "by", json_string(by));
    cr_time_format(t, sizeof(t), r->start_ns);
    json_object_set_new(o, "start", json_string(t));
    cr_time_format(t, sizeof(t), r->end_ns);
    json_object_set_new(o, "end", json_string(t));
    json_object_set_new(o, "outcome", json_string(cr_run_outcome_name(outcome_of(job, r))));
    json_object_set_new(o, "snapshot",
                        r->snap ? json_string(cr_id_to_hex(hex, &r->snap->id)) : json_null());
    json_object_set_new(o, "files", json_integer(r->snap ? (json_int_t)r->snap->files : 0));
    json_object_set_new(o, "bytes", json_integer(r->snap ? (json_int_t)r->snap->bytes : 0));
    json_object_set_new(o, "bytes_new", json_integer(r->snap ? (json_int_t)r->snap->bytes_new : 0));
    json_object_set_new(o, "errors", json_integer(r->snap ? (json_int_t)r->snap->errors : 0));
    json_object_set_new(o, "hunt", json_string(cr_run_hunt_name(hunt)));
    json_object_set_new(o, "findings", json_integer((json_int_t)r->findings));
    json_object_set_new(o, "findings_high", json_integer((json_int_t)high));
    if (job->verify_subset) {
        json_t *v = json_object();
        char part[32];
        if (!v)
            goto oom;
        snprintf(part, sizeof(part), "%u/%u", r->subset_n, r->subset_m);
        json_object_set_new(v, "part", json_string(part));
        json_object_set_new(v, "packs_read", json_integer((json_int_t)r->packs_read));
        json_object_set_new(v, "problems", json_integer((json_int_t)r->problems));
        json_object_set_new(o, "verify", v);
    } else {
        json_object_set_new(o, "verify", json_null());
    }
    json_object_set_new(o, "rpo_seconds",
                        job->rpo_ns ? json_integer(job->rpo_ns / 1000000000LL) : json_null());
    json_object_set_new(o, "message", text_or_null(r->message));
    for (size_t i = 0; i < nalerts && i < RECORD_MAX_ALERTS; i++) {
        json_t *x = json_object();
        if (!x || json_array_append_new(a, x) < 0)
            goto oom;
        json_object_set_new(x, "event", json_string(cr_alert_kind_name(alerts[i].kind)));
        json_object_set_new(x, "count", json_integer((json_int_t)alerts[i].count));
        json_object_set_new(x, "detail", text_or_null(alerts[i].detail));
    }
    json_object_set_new(o, "alerts", a);
    a = NULL;
    if (!(text = json_dumps(o, JSON_COMPACT)))
        goto oom;
    if ((err = cr_repo_save_file(&id, repo, "runs", text, strlen(text))) < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", cr_error_last());
        cr_error_set("the record of job %s could not be written in the vault: %s", job->name, msg);
        goto done;
    }
    if (out)
        *out = id;
    goto done;
oom:
    cr_error_set("out of memory writing the record of job %s", job->name);
    err = CR_ERROR;
done:
    free(text);
    json_decref(a);
    json_decref(o);
    return err;
}

int cr_verify_record_save(cr_id *out, cr_repo *repo, int verify_rc, unsigned int n, unsigned int m,
                          uint64_t packs_read, size_t problems, const char *message,
                          int64_t start_ns, int64_t end_ns)
{
    cr_job job;
    cr_job_result r;
    cr_alert al;
    int err;

    memset(&job, 0, sizeof(job));
    memset(&r, 0, sizeof(r));
    memset(&al, 0, sizeof(al));
    job.name = (char *)CR_JOB_BY_HAND;
    job.verify_subset = m;
    r.backup = r.hunt = r.forget = r.record = 1;
    r.verify = verify_rc;
    r.subset_n = n;
    r.subset_m = m;
    r.packs_read = packs_read;
    r.problems = problems;
    r.start_ns = start_ns;
    r.end_ns = end_ns;
    r.message = (char *)message;
    /* A failure is an event of the day, as a verify job's is (the digest lists it). */
    al.kind = CR_ALERT_VERIFY;
    al.job = CR_JOB_BY_HAND;
    al.count = problems;
    al.detail = message;
    err = cr_job_record_save(out, repo, &job, &r, &al, verify_rc == 0 ? 0 : 1);
    return err;
}

/* ------------------------------------------------------------ reading */

static int get_text(char **out, json_t *root, const char *key, int nullable)
{
    json_t *v = json_object_get(root, key);
    if (nullable && (!v || json_is_null(v)))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > RECORD_MAX_TEXT ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    return (*out = cr_strdup(json_string_value(v))) ? 0 : -2;
}

static int get_u64(uint64_t *out, json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_time(int64_t *out, json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_string(v) || json_string_length(v) > 64)
        return -1;
    return cr_time_parse(out, json_string_value(v)) < 0 ? -1 : 0;
}

/* The value of `name` among names[0..n), or -1. */
static int name_index(json_t *v, const char *const *names, int n)
{
    if (!json_is_string(v))
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0)
            return i;
    return -1;
}

int cr_job_record_decode(cr_job_record *out, const void *data, size_t len)
{
    static const char *const outcomes[] = {"never ran", "ok", "partial", "failed", "suspect"};
    static const char *const hunts[] = {"not hunted", "clean", "findings", "failed"};
    json_error_t jerr;
    json_t *root = NULL, *v, *a;
    int err = CR_ECORRUPT, k, r;

    memset(out, 0, sizeof(*out));
    if (len > RECORD_MAX_BYTES)
        goto bad;
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root))
        goto bad;
    v = json_object_get(root, "type");
    if (!json_is_string(v) || strcmp(json_string_value(v), RECORD_TYPE) != 0)
        goto bad;
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != RECORD_VERSION) {
        cr_error_set("job record of an unknown version: written by a newer cleanroom");
        err = CR_EVERSION;
        goto done;
    }
    if ((r = get_text(&out->job, root, "job", 0)) < 0 ||
        (r = get_text(&out->source, root, "source", 1)) < 0 ||
        (r = get_text(&out->by, root, "by", 0)) < 0 ||
        (r = get_text(&out->message, root, "message", 1)) < 0)
        goto text_fail;
    if (get_time(&out->start_ns, root, "start") < 0 || get_time(&out->end_ns, root, "end") < 0)
        goto bad;
    if ((k = name_index(json_object_get(root, "outcome"), outcomes, 5)) < 1)
        goto bad;
    out->outcome = (cr_run_outcome)k;
    if ((k = name_index(json_object_get(root, "hunt"), hunts, 4)) < 0)
        goto bad;
    out->hunt = (cr_run_hunt)k;
    v = json_object_get(root, "snapshot");
    if (json_is_string(v)) {
        if (json_string_length(v) != CR_ID_HEX_LEN ||
            cr_id_from_hex(&out->snapshot, json_string_value(v)) < 0)
            goto bad;
        out->has_snapshot = 1;
    } else if (!json_is_null(v)) {
        goto bad;
    }
    if (get_u64(&out->files, root, "files") < 0 || get_u64(&out->bytes, root, "bytes") < 0 ||
        get_u64(&out->bytes_new, root, "bytes_new") < 0 ||
        get_u64(&out->errors, root, "errors") < 0 ||
        get_u64(&out->findings, root, "findings") < 0 ||
        get_u64(&out->findings_high, root, "findings_high") < 0)
        goto bad;
    v = json_object_get(root, "verify");
    if (json_is_object(v)) {
        json_t *p = json_object_get(v, "part");
        unsigned int n, m;
        char tail;
        if (!json_is_string(p) || sscanf(json_string_value(p), "%u/%u%c", &n, &m, &tail) != 2 ||
            n < 1 || n > m || get_u64(&out->packs_read, v, "packs_read") < 0 ||
            get_u64(&out->problems, v, "problems") < 0)
            goto bad;
        out->is_verify = 1;
        out->subset_n = n;
        out->subset_m = m;
    } else if (!json_is_null(v)) {
        goto bad;
    }
    v = json_object_get(root, "rpo_seconds");
    if (json_is_integer(v)) {
        if (json_integer_value(v) <= 0 || json_integer_value(v) > 100LL * 366 * 86400)
            goto bad;
        out->rpo_ns = json_integer_value(v) * 1000000000LL;
    } else if (!json_is_null(v)) {
        goto bad;
    }
    a = json_object_get(root, "alerts");
    if (!json_is_array(a) || json_array_size(a) > RECORD_MAX_ALERTS)
        goto bad;
    if (json_array_size(a) &&
        !(out->alerts = cr_calloc(json_array_size(a), sizeof(*out->alerts)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *x = json_array_get(a, i);
        cr_run_alert *ra = &out->alerts[out->nalerts];
        int kind = 0;
        if (!json_is_object(x) || !json_is_string(json_object_get(x, "event")))
            goto bad;
        for (int kk = CR_ALERT_JOB_FAILED; kk <= CR_ALERT_VERIFY && !kind; kk++)
            if (strcmp(json_string_value(json_object_get(x, "event")),
                       cr_alert_kind_name((cr_alert_kind)kk)) == 0)
                kind = kk;
        if (!kind || get_u64(&ra->count, x, "count") < 0)
            goto bad;
        ra->kind = (cr_alert_kind)kind;
        out->nalerts++;
        if ((r = get_text(&ra->detail, x, "detail", 1)) < 0)
            goto text_fail;
    }
    err = 0;
    goto done;
text_fail:
    if (r == -2) {
        cr_error_set("out of memory reading a job record");
        err = CR_ERROR;
        goto done;
    }
bad:
    cr_error_set("damaged job record: not the JSON this program writes");
    err = CR_ECORRUPT;
done:
    json_decref(root);
    if (err < 0)
        cr_job_record_clear(out);
    return err;
}

static int record_cmp(const void *a, const void *b)
{
    const cr_job_record *x = a, *y = b;
    if (x->end_ns != y->end_ns)
        return x->end_ns < y->end_ns ? -1 : 1;
    return memcmp(x->id.b, y->id.b, sizeof(x->id.b));
}

/* ------------------------------------------------------------ summaries */

/*
 * Records compaction. Every run adds a record and the vault may be append-only, so
 * reading every record on each `status` would grow without end (one request per
 * record on a remote vault). Instead a job run that finds at least COMPACT_MIN
 * records older than COMPACT_AGE_NS not yet covered writes a summary,
 * runsum/<hex> (encrypted, AD "cleanroom-runsum", named by its hash, written once):
 *
 *   {"type":"job-runs-summary","version":1,"written":"RFC 3339",
 *    "covers":["<64 hex>",...],        every record it stands for
 *    "supersedes":["<64 hex>",...],    the summaries it stands for
 *    "records":[{"id":"<64 hex>","record":{...the record's JSON...}}, ...]}
 *
 * "records" carries, of everything covered, the newest record of each job and
 * source (and each verify's), which is all `status` needs of them. A reader lists
 * runsum/ and runs/, reads the summaries not covered by a summary already read
 * (in the listing's order, by hash, so unrelated to age: each summary covers
 * every older one, and the expected number read is about the logarithm of their
 * number), then only the records no summary covers: the last COMPACT_AGE_NS
 * (what the daily digest reads) and fewer than COMPACT_MIN older ones. Two runs
 * writing summaries at once leave two, both read (coverage is their union).
 *
 * Checks on a summary (after hash and MAC): type, version, at most
 * SUMMARY_MAX_COVERS ids of 64 hex digits, every carried record passing
 * cr_job_record_decode with an id that the summary covers. A summary failing
 * them is left out and counted unreadable; what it covers is then read record
 * by record.
 */
#define SUMMARY_TYPE "job-runs-summary"
#define SUMMARY_VERSION 1
#define SUMMARY_MAX_COVERS 4000000
#define SUMMARY_MAX_BYTES (512u * 1024 * 1024)
#define COMPACT_MIN 64
#define COMPACT_AGE_NS (7LL * 86400 * 1000000000LL)

enum { COV_RECORD = 1, COV_SUMMARY = 2 };

typedef struct rload {
    cr_job_record *recs;
    char **raw;       /* each record's JSON, for a summary to carry (NULL: not kept) */
    uint8_t *carried; /* 1: came from a summary */
    size_t n, cap;
    cr_idset covered; /* ids the summaries read cover */
    cr_idset have;    /* ids of recs */
    cr_id *sums;      /* summaries read */
    size_t nsums;
    size_t unreadable, files_read;
} rload;

static void rload_free(rload *l)
{
    cr_job_records_free(l->recs, l->n);
    for (size_t i = 0; l->raw && i < l->n; i++)
        free(l->raw[i]);
    free(l->raw);
    free(l->carried);
    cr_idset_free(&l->covered);
    cr_idset_free(&l->have);
    free(l->sums);
    memset(l, 0, sizeof(*l));
}

/* Add a decoded record (taken) with its JSON (taken, may be NULL). */
static int rload_push(rload *l, cr_job_record *r, char *raw, int carried)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        cr_job_record *nr = cr_realloc(l->recs, nc * sizeof(*nr));
        if (nr)
            l->recs = nr;
        char **nraw = nr ? cr_realloc(l->raw, nc * sizeof(*nraw)) : NULL;
        if (nraw)
            l->raw = nraw;
        uint8_t *nca = nraw ? cr_realloc(l->carried, nc) : NULL;
        if (!nca) {
            cr_job_record_clear(r);
            free(raw);
            return CR_ERROR;
        }
        l->carried = nca;
        l->cap = nc;
    }
    if (cr_idset_put(&l->have, &r->id, 1) < 0) {
        cr_job_record_clear(r);
        free(raw);
        return CR_ERROR;
    }
    l->recs[l->n] = *r;
    l->raw[l->n] = raw;
    l->carried[l->n] = (uint8_t)carried;
    l->n++;
    return 0;
}

static int id_from_json(cr_id *out, json_t *v)
{
    return json_is_string(v) && json_string_length(v) == CR_ID_HEX_LEN &&
                   cr_id_from_hex(out, json_string_value(v)) == 0
               ? 0
               : -1;
}

/* Read summary `id` into l. @return 0; CR_ECORRUPT (left out, counted); an error. */
static int read_summary(rload *l, cr_repo *repo, const cr_id *id, cr_buf *b)
{
    json_error_t jerr;
    json_t *root = NULL, *covers, *sups, *recs, *v;
    cr_idset mine = {0};
    int err;

    if ((err = cr_repo_load_file(b, repo, "runsum", id)) < 0)
        return err == CR_ERROR && strstr(cr_error_last(), "memory") ? err : CR_ECORRUPT;
    l->files_read++;
    err = CR_ECORRUPT;
    if (b->len > SUMMARY_MAX_BYTES ||
        !(root = json_loadb((const char *)b->ptr, b->len, JSON_REJECT_DUPLICATES, &jerr)) ||
        !json_is_object(root))
        goto done;
    v = json_object_get(root, "type");
    if (!json_is_string(v) || strcmp(json_string_value(v), SUMMARY_TYPE) != 0)
        goto done;
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) != SUMMARY_VERSION)
        goto done;
    covers = json_object_get(root, "covers");
    sups = json_object_get(root, "supersedes");
    recs = json_object_get(root, "records");
    if (!json_is_array(covers) || json_array_size(covers) > SUMMARY_MAX_COVERS ||
        !json_is_array(sups) || json_array_size(sups) > SUMMARY_MAX_COVERS ||
        !json_is_array(recs) || json_array_size(recs) > json_array_size(covers))
        goto done;
    for (size_t i = 0; i < json_array_size(covers); i++) {
        cr_id c;
        if (id_from_json(&c, json_array_get(covers, i)) < 0)
            goto done;
        if (cr_idset_put(&mine, &c, 1) < 0) {
            err = CR_ERROR;
            goto done;
        }
    }
    for (size_t i = 0; i < json_array_size(sups); i++) {
        cr_id c;
        if (id_from_json(&c, json_array_get(sups, i)) < 0)
            goto done;
    }
    /* every check first, then the summary counts: a bad one changes nothing */
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *x = json_array_get(recs, i);
        cr_id rid;
        if (!json_is_object(x) || id_from_json(&rid, json_object_get(x, "id")) < 0 ||
            !cr_idset_get(&mine, &rid) || !json_is_object(json_object_get(x, "record")))
            goto done;
    }
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *x = json_array_get(recs, i);
        cr_job_record r;
        cr_id rid;
        char *text;
        int e;
        id_from_json(&rid, json_object_get(x, "id"));
        if (cr_idset_get(&l->have, &rid))
            continue; /* carried by another summary read too */
        if (!(text = json_dumps(json_object_get(x, "record"), JSON_COMPACT))) {
            err = CR_ERROR;
            goto done;
        }
        if ((e = cr_job_record_decode(&r, text, strlen(text))) < 0) {
            /* the summary is left out: what it covers is read record by record */
            free(text);
            err = e == CR_ERROR ? e : CR_ECORRUPT;
            goto done;
        }
        r.id = rid;
        if ((err = rload_push(l, &r, text, 1)) < 0)
            goto done;
        err = CR_ECORRUPT;
    }
    for (size_t i = 0; i < json_array_size(covers) + json_array_size(sups); i++) {
        size_t nc = json_array_size(covers);
        cr_id c;
        id_from_json(&c, i < nc ? json_array_get(covers, i) : json_array_get(sups, i - nc));
        if (cr_idset_put(&l->covered, &c, i < nc ? COV_RECORD : COV_SUMMARY) < 0) {
            err = CR_ERROR;
            goto done;
        }
    }
    err = 0;
done:
    cr_idset_free(&mine);
    json_decref(root);
    return err;
}

/* Every summary not covered by another, then every record no summary covers. */
static int rload_all(rload *l, cr_repo *repo)
{
    cr_id *ids = NULL, *sids = NULL;
    size_t nids = 0, nsids = 0;
    cr_buf b = CR_BUF_INIT;
    int err;

    if ((err = cr_repo_list(&sids, &nsids, repo, "runsum")) < 0 ||
        (err = cr_repo_list(&ids, &nids, repo, "runs")) < 0)
        goto done;
    if (nsids && !(l->sums = cr_calloc(nsids, sizeof(*l->sums)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < nsids; i++) {
        if (cr_idset_get(&l->covered, &sids[i]))
            continue; /* an older summary: the one read covers it */
        if ((err = read_summary(l, repo, &sids[i], &b)) == CR_ECORRUPT) {
            l->unreadable++;
            cr_error_clear();
            continue;
        }
        if (err < 0)
            goto done;
        l->sums[l->nsums++] = sids[i];
    }
    err = 0;
    for (size_t i = 0; i < nids; i++) {
        cr_job_record r;
        char *raw;
        int e;
        if (cr_idset_get(&l->covered, &ids[i]) || cr_idset_get(&l->have, &ids[i]))
            continue;
        e = cr_repo_load_file(&b, repo, "runs", &ids[i]);
        l->files_read++;
        if (e == 0)
            e = cr_job_record_decode(&r, b.ptr, b.len);
        if (e == CR_ERROR && strstr(cr_error_last(), "memory")) {
            err = e;
            goto done;
        }
        if (e < 0) {
            /* damaged, changed (its bytes no longer hash to its name), or unknown: the
             * runs it told of are not known, which `verify` reports */
            l->unreadable++;
            cr_error_clear();
            continue;
        }
        r.id = ids[i];
        if (!(raw = cr_malloc(b.len + 1))) {
            cr_job_record_clear(&r);
            err = CR_ERROR;
            goto done;
        }
        memcpy(raw, b.ptr, b.len);
        raw[b.len] = '\0';
        if ((err = rload_push(l, &r, raw, 0)) < 0)
            goto done;
    }
done:
    cr_buf_free(&b);
    free(ids);
    free(sids);
    return err;
}

/* Order the records by end, and their JSON with them. */
typedef struct rsort {
    cr_job_record r;
    char *raw;
    uint8_t carried;
} rsort;

static int rsort_cmp(const void *a, const void *b)
{
    return record_cmp(&((const rsort *)a)->r, &((const rsort *)b)->r);
}

static int rload_sort(rload *l)
{
    rsort *v;
    if (l->n < 2)
        return 0;
    if (!(v = cr_calloc(l->n, sizeof(*v))))
        return CR_ERROR;
    for (size_t i = 0; i < l->n; i++)
        v[i] = (rsort){l->recs[i], l->raw[i], l->carried[i]};
    qsort(v, l->n, sizeof(*v), rsort_cmp);
    for (size_t i = 0; i < l->n; i++) {
        l->recs[i] = v[i].r;
        l->raw[i] = v[i].raw;
        l->carried[i] = v[i].carried;
    }
    free(v);
    return 0;
}

int cr_job_records_read(cr_job_record **out, size_t *n, cr_job_records_stats *st, cr_repo *repo)
{
    rload l;
    int err;
    memset(&l, 0, sizeof(l));
    *out = NULL;
    *n = 0;
    if (st)
        memset(st, 0, sizeof(*st));
    if ((err = rload_all(&l, repo)) < 0 || (err = rload_sort(&l)) < 0)
        goto done;
    if (st) {
        st->unreadable = l.unreadable;
        st->files_read = l.files_read;
        st->summaries = l.nsums;
        /* the records the summaries cover (the carried among them), and the others read */
        for (size_t i = 0; i < l.covered.cap; i++)
            st->total += l.covered.vals[i] == COV_RECORD;
        for (size_t i = 0; i < l.n; i++)
            st->total += !l.carried[i];
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.raw[i]);
        l.raw[i] = NULL;
    }
    *out = l.recs;
    *n = l.n;
    l.recs = NULL;
    l.n = 0;
done:
    rload_free(&l);
    return err;
}

int cr_job_records_load(cr_job_record **out, size_t *n, size_t *unreadable, cr_repo *repo)
{
    cr_job_records_stats st;
    int err = cr_job_records_read(out, n, &st, repo);
    if (err == 0 && unreadable)
        *unreadable = st.unreadable;
    return err;
}

/* Same job, same source (or both none), same kind: one newest record of each is carried. */
static int same_key(const cr_job_record *a, const cr_job_record *b)
{
    return a->is_verify == b->is_verify && strcmp(a->job, b->job) == 0 &&
           ((!a->source && !b->source) ||
            (a->source && b->source && !strcmp(a->source, b->source)));
}

int cr_job_records_compact(cr_id *out, cr_repo *repo, int64_t now_ns)
{
    rload l;
    json_t *o = NULL, *covers = NULL, *sups = NULL, *recs = NULL;
    char t[48], hex[CR_ID_HEX_LEN + 1], *text = NULL;
    size_t old = 0;
    uint8_t *take = NULL;
    cr_id sid;
    int err;

    memset(&l, 0, sizeof(l));
    if ((err = rload_all(&l, repo)) < 0 || (err = rload_sort(&l)) < 0)
        goto done;
    for (size_t i = 0; i < l.n; i++)
        old += !l.carried[i] && l.recs[i].end_ns < now_ns - COMPACT_AGE_NS;
    if (old < COMPACT_MIN) {
        err = 1;
        goto done;
    }
    /* Covered: what the summaries read cover, those summaries, and the records older than
     * COMPACT_AGE_NS. Carried: the newest of each key among the carried and those. */
    if (!(take = cr_calloc(l.n ? l.n : 1, 1)) || !(o = json_object()) || !(covers = json_array()) ||
        !(sups = json_array()) || !(recs = json_array()))
        goto oom;
    for (size_t i = 0; i < l.covered.cap; i++)
        if (l.covered.vals[i] &&
            json_array_append_new(l.covered.vals[i] == COV_RECORD ? covers : sups,
                                  json_string(cr_id_to_hex(hex, &l.covered.keys[i]))) < 0)
            goto oom;
    for (size_t i = 0; i < l.nsums; i++)
        if (!cr_idset_get(&l.covered, &l.sums[i]) &&
            json_array_append_new(sups, json_string(cr_id_to_hex(hex, &l.sums[i]))) < 0)
            goto oom;
    for (size_t i = 0; i < l.n; i++) {
        if (!l.carried[i] && l.recs[i].end_ns >= now_ns - COMPACT_AGE_NS)
            continue; /* young: stays a record of its own */
        take[i] = 1;
        if (!l.carried[i] &&
            json_array_append_new(covers, json_string(cr_id_to_hex(hex, &l.recs[i].id))) < 0)
            goto oom;
    }
    /* sorted oldest first: a record is carried when no later one taken has its key */
    for (size_t i = 0; i < l.n; i++) {
        json_t *x, *r;
        json_error_t jerr;
        size_t k;
        if (!take[i])
            continue;
        for (k = i + 1; k < l.n; k++)
            if (take[k] && same_key(&l.recs[i], &l.recs[k]))
                break;
        if (k < l.n)
            continue;
        if (!(r = json_loads(l.raw[i], 0, &jerr)) || !(x = json_object())) {
            json_decref(r);
            goto oom;
        }
        json_object_set_new(x, "id", json_string(cr_id_to_hex(hex, &l.recs[i].id)));
        json_object_set_new(x, "record", r);
        if (json_array_append_new(recs, x) < 0)
            goto oom;
    }
    json_object_set_new(o, "type", json_string(SUMMARY_TYPE));
    json_object_set_new(o, "version", json_integer(SUMMARY_VERSION));
    cr_time_format(t, sizeof(t), now_ns);
    json_object_set_new(o, "written", json_string(t));
    json_object_set_new(o, "covers", covers);
    json_object_set_new(o, "supersedes", sups);
    json_object_set_new(o, "records", recs);
    covers = sups = recs = NULL;
    if (!(text = json_dumps(o, JSON_COMPACT)))
        goto oom;
    if ((err = cr_repo_save_file(&sid, repo, "runsum", text, strlen(text))) < 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", cr_error_last());
        cr_error_set("the summary of the job records could not be written in the vault: %s", msg);
    } else if (out) {
        *out = sid;
    }
    goto done;
oom:
    cr_error_set("out of memory summing up the job records");
    err = CR_ERROR;
done:
    free(text);
    free(take);
    json_decref(covers);
    json_decref(sups);
    json_decref(recs);
    json_decref(o);
    rload_free(&l);
    return err;
}
