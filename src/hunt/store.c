/*
 * The hunt's durable state: the facts cache and the hunt records, stored as
 * encrypted, write-once files under hunt/ of the vault (cr_repo_save_file), and
 * the small public helpers of findings (names of severities and categories,
 * copy, "same finding").
 *
 * Both file types are JSON Lines: a header object on the first line, with
 * "type" ("hunt-facts" or "hunt-record") and "version", then one object per
 * line (a fact, or a finding). One object per line keeps the memory of the
 * JSON parser to one line at a time, whatever the size of the file: the first
 * hunt of a large server writes the facts of hundreds of thousands of
 * contents in one file. docs/format.md ("Hunt files") describes the keys.
 *
 * Strings that come from backed-up systems (paths, crontab lines, registry
 * values) may hold any byte but NUL, while JSON strings must be valid UTF-8.
 * Such a string is stored as a JSON string when it is valid UTF-8 and as
 * {"x":"<hex of the bytes>"} otherwise, so every name reads back exactly.
 * The writer cuts a string longer than the reader's limit (paths, detail and
 * evidence 64 KiB) rather than fail: a hostile file name or crontab line must
 * not keep a hunt from storing its findings.
 *
 * Facts cache: an open-addressing hash table (linear probing, power-of-two
 * capacity, at most half full) of pointers to entries that live in slabs, so
 * a pointer returned by hn_cache_get stays valid as the cache grows. Each
 * entry knows whether it changed since the last save (hn_cache_save writes
 * only those, as one new file) and which file its YARA verdict came from:
 * when several files know a content, hn_cache_load keeps the union of what
 * they know, and for YARA the verdict of the newest file (saved time, then
 * file name). A content has one verdict; the hunt rescans it when the verdict
 * belongs to another YARA rule set.
 *
 * Records: one file per hunt of a snapshot. Each finding stores its own
 * fields only where they differ from the record's (snapshot, source, time;
 * first_seen defaults to the record's snapshot and time), so the usual record
 * costs one line per finding without repeated ids. hn_records_load keeps the
 * newest record per snapshot (hunted_ns, then file name) and sorts them by
 * snapshot id for a binary search.
 *
 * Every reader treats the plaintext as hostile even after authentication: a
 * bug in another version must not crash a recovery. Types, lengths (paths up
 * to 64 KiB), counts, hex ids and enumerations are checked; a file that fails
 * is reported through the warning callback and skipped, never fatal: facts
 * are only a cache (the hunt scans again), and a snapshot without a readable
 * record is simply shown as not hunted.
 */
#include "hunt/hunt.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FACTS_TYPE "hunt-facts"
#define RECORD_TYPE "hunt-record"
#define STORE_VERSION 1

#define ST_MAX_LINE (4u * 1024 * 1024) /* one JSON line (a fact or a finding) */
#define ST_MAX_PATH (64u * 1024)       /* path of a finding */
#define ST_MAX_DETAIL (64u * 1024)     /* detail, evidence */
#define ST_MAX_INDICATOR 1024
#define ST_MAX_SOURCE 255
#define ST_MAX_FINDINGS (1u << 24) /* findings in one record */
#define ST_MAX_FACTS (1u << 26)    /* facts in one file */
#define ST_MAX_YARA_MATCHES 4096   /* rule names per content */
#define ST_MAX_RULE_NAME 1024
#define HAVE_ALL (HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256 | HN_HAVE_YARA)

/* ================================================================ public helpers */

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};
static const char *const category_names[] = {NULL, "malware", "ransomware", "persistence",
                                             "anomaly"};

const char *cr_severity_name(cr_severity s)
{
    if ((int)s < CR_SEV_INFO || (int)s > CR_SEV_CRITICAL)
        return "unknown";
    return severity_names[s];
}

int cr_severity_parse(cr_severity *out, const char *s)
{
    for (int i = CR_SEV_INFO; s && i <= CR_SEV_CRITICAL; i++) {
        if (!strcasecmp(s, severity_names[i])) {
            *out = (cr_severity)i;
            return 0;
        }
    }
    cr_error_set("unknown severity '%.80s': use info, low, medium, high or critical", s ? s : "");
    return CR_EINPUT;
}

const char *cr_category_name(cr_category c)
{
    if ((int)c < CR_CAT_MALWARE || (int)c > CR_CAT_ANOMALY)
        return "unknown";
    return category_names[c];
}

int cr_category_parse(cr_category *out, const char *s)
{
    for (int i = CR_CAT_MALWARE; s && i <= CR_CAT_ANOMALY; i++) {
        if (!strcasecmp(s, category_names[i])) {
            *out = (cr_category)i;
            return 0;
        }
    }
    cr_error_set("unknown category '%.80s': use malware, ransomware, persistence or anomaly",
                 s ? s : "");
    return CR_EINPUT;
}

void cr_finding_clear(cr_finding *f)
{
    if (!f)
        return;
    free(f->source);
    free(f->path);
    free(f->indicator);
    free(f->detail);
    free(f->evidence);
    memset(f, 0, sizeof(*f));
}

void cr_findings_free(cr_finding *f, size_t n)
{
    if (!f)
        return;
    for (size_t i = 0; i < n; i++)
        cr_finding_clear(&f[i]);
    free(f);
}

/* strdup that keeps NULL; *ok becomes 0 when memory runs out. */
static char *dup_opt(const char *s, int *ok)
{
    char *d;
    if (!s)
        return NULL;
    if (!(d = cr_strdup(s)))
        *ok = 0;
    return d;
}

int cr_finding_copy(cr_finding *out, const cr_finding *src)
{
    int ok = 1;
    *out = *src;
    out->source = dup_opt(src->source, &ok);
    out->path = dup_opt(src->path, &ok);
    out->indicator = dup_opt(src->indicator, &ok);
    out->detail = dup_opt(src->detail, &ok);
    out->evidence = dup_opt(src->evidence, &ok);
    if (!ok) {
        cr_finding_clear(out);
        return CR_ERROR;
    }
    return 0;
}

/* Equal strings, NULL equal only to NULL. */
static int str_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

int cr_finding_same(const cr_finding *a, const cr_finding *b)
{
    return a->category == b->category && str_same(a->path, b->path) &&
           str_same(a->indicator, b->indicator) && str_same(a->evidence, b->evidence);
}

/* ================================================================ JSON helpers */

/* Add v to o under k; *ok becomes 0 on failure (v NULL: invalid or no memory). */
static void set(json_t *o, const char *k, json_t *v, int *ok)
{
    if (!v || json_object_set_new(o, k, v) < 0)
        *ok = 0;
}

static json_t *id_json(const cr_id *id)
{
    char hex[CR_ID_HEX_LEN + 1];
    return json_string(cr_id_to_hex(hex, id));
}

static json_t *hex_json(const void *data, size_t len)
{
    char *hex = cr_malloc(2 * len + 1);
    json_t *v;
    if (!hex)
        return NULL;
    cr_hex_encode(hex, data, len);
    v = json_string(hex);
    free(hex);
    return v;
}

/*
 * Any bytes but NUL, at most `max` of them (a longer string is cut: a hostile
 * name must not stop a hunt from storing what it found): a JSON string when
 * valid UTF-8, else {"x":"<hex>"}.
 */
static json_t *bytes_json(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    json_t *v = json_stringn(s, n), *o;
    if (v)
        return v;
    if (!(o = json_object()))
        return NULL;
    if (!(v = hex_json(s, n)) || json_object_set_new(o, "x", v) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *u64_json(uint64_t v)
{
    return v > INT64_MAX ? NULL : json_integer((json_int_t)v);
}

/* Serialise o on one line (followed by '\n') at the end of out. */
static int put_line(cr_buf *out, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    int err;
    if (!text) {
        cr_error_set("out of memory while encoding a hunt file");
        return CR_ERROR;
    }
    if ((err = cr_buf_put(out, text, strlen(text))) == 0)
        err = cr_buf_put_u8(out, '\n');
    free(text);
    return err;
}

/* Getters return 0, -1 (malformed) or -2 (out of memory). */

/* A bytes_json value: 0 to max bytes, no NUL; empty refused unless allow_empty. */
static int get_bytes(char **out, json_t *v, size_t max, int allow_empty)
{
    json_t *x;
    size_t n;
    char *b;
    *out = NULL;
    if (json_is_string(v)) {
        n = json_string_length(v);
        if (n > max || strlen(json_string_value(v)) != n || (!allow_empty && n == 0))
            return -1;
        *out = cr_strndup(json_string_value(v), n);
        return *out ? 0 : -2;
    }
    if (!json_is_object(v) || json_object_size(v) != 1 || !(x = json_object_get(v, "x")) ||
        !json_is_string(x))
        return -1;
    n = json_string_length(x);
    if (n % 2 || n / 2 > max || (!allow_empty && n == 0))
        return -1;
    if (!(b = cr_malloc(n / 2 + 1)))
        return -2;
    if (strlen(json_string_value(x)) != n || cr_hex_decode(b, n / 2, json_string_value(x)) < 0 ||
        memchr(b, 0, n / 2)) {
        free(b);
        return -1;
    }
    b[n / 2] = 0;
    *out = b;
    return 0;
}

/* Optional bytes: absent or null leaves NULL. */
static int get_bytes_opt(char **out, json_t *o, const char *key, size_t max)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    return get_bytes(out, v, max, 1);
}

static int get_id(cr_id *out, json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != CR_ID_HEX_LEN ||
        strlen(json_string_value(v)) != CR_ID_HEX_LEN)
        return -1;
    return cr_id_from_hex(out, json_string_value(v)) < 0 ? -1 : 0;
}

/* Exactly `len` bytes in hex. */
static int get_hex(uint8_t *out, size_t len, json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != 2 * len ||
        strlen(json_string_value(v)) != 2 * len)
        return -1;
    return cr_hex_decode(out, len, json_string_value(v)) < 0 ? -1 : 0;
}

static int get_u64(uint64_t *out, json_t *v, uint64_t max)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_i64(int64_t *out, json_t *v)
{
    if (!json_is_integer(v))
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

/* ------------------------------------------------------------ lines */

typedef struct lines {
    const char *p;
    size_t len, pos;
} lines;

/*
 * Check the shape of a JSON Lines file and count its lines: not empty, ends
 * with '\n', no line over ST_MAX_LINE. @return the number of lines, or 0 if bad.
 */
static size_t count_lines(const void *data, size_t len)
{
    const char *p = data, *end = p + len, *nl;
    size_t n = 0;
    if (len == 0 || len > CR_MAX_META_FILE || p[len - 1] != '\n')
        return 0;
    for (; p < end; p = nl + 1, n++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if ((size_t)(nl - p) > ST_MAX_LINE)
            return 0;
    }
    return n;
}

/* Parse the next line as a JSON object (NULL at the end, or if it is not one). */
static json_t *next_object(lines *l)
{
    const char *s = l->p + l->pos, *nl;
    json_error_t jerr;
    json_t *o;
    if (l->pos >= l->len || !(nl = memchr(s, '\n', l->len - l->pos)))
        return NULL;
    l->pos += (size_t)(nl - s) + 1;
    o = json_loadb(s, (size_t)(nl - s), JSON_REJECT_DUPLICATES, &jerr);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

typedef enum file_kind { KIND_UNKNOWN, KIND_FACTS, KIND_RECORD } file_kind;

/*
 * Read the header line of a hunt file: its kind and version.
 * @return the header (to json_decref), or NULL when the first line is not a JSON object.
 */
static json_t *read_header(lines *l, file_kind *kind, json_int_t *version)
{
    json_t *h = next_object(l), *v;
    *kind = KIND_UNKNOWN;
    *version = 0;
    if (!h)
        return NULL;
    v = json_object_get(h, "type");
    if (json_is_string(v) && !strcmp(json_string_value(v), FACTS_TYPE))
        *kind = KIND_FACTS;
    else if (json_is_string(v) && !strcmp(json_string_value(v), RECORD_TYPE))
        *kind = KIND_RECORD;
    v = json_object_get(h, "version");
    if (json_is_integer(v))
        *version = json_integer_value(v);
    return h;
}

static int version_error(const char *what, json_int_t version)
{
    cr_error_set("%s of format version %lld: this program (cleanroom %s) reads version %d only",
                 what, (long long)version, CR_VERSION_STRING, STORE_VERSION);
    return CR_EVERSION;
}

/* ================================================================ facts cache */

#define SLAB_ENTRIES 1024

typedef struct cache_entry {
    hn_facts f;
    int64_t yara_ns; /* saved time of the file the YARA verdict came from (INT64_MAX: this run) */
    cr_id yara_file; /* and its name (ties) */
    int dirty;       /* changed since the last save */
} cache_entry;

struct hn_cache {
    cache_entry **slabs; /* SLAB_ENTRIES entries each; never moved */
    size_t nslabs;
    size_t count;
    cache_entry **table; /* open addressing, NULL = empty */
    size_t cap;          /* power of two */
};

static void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* What a facts struct owns (store.c does not depend on scan.c's helpers). */
static void facts_release(hn_facts *f)
{
    strv_free(f->yara, f->nyara);
    f->yara = NULL;
    f->nyara = 0;
}

static int strv_copy(char ***out, char **v, size_t n)
{
    char **d;
    *out = NULL;
    if (!n)
        return 0;
    if (!(d = cr_calloc(n, sizeof(*d))))
        return CR_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (!(d[i] = cr_strdup(v[i] ? v[i] : ""))) {
            strv_free(d, i);
            return CR_ERROR;
        }
    }
    *out = d;
    return 0;
}

static int strv_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i], b[i]))
            return 0;
    return 1;
}

static uint64_t id_hash(const cr_id *id)
{
    uint64_t w[4], h = 0;
    memcpy(w, id->b, sizeof(w));
    /* Content ids are SHA-256 digests already; mixing every word with the
     * splitmix64 finaliser only guards against ids alike in their first bytes. */
    for (int i = 0; i < 4; i++) {
        h ^= w[i];
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h;
}

static cache_entry **slot_of(const hn_cache *c, const cr_id *id)
{
    size_t mask = c->cap - 1, i = (size_t)id_hash(id) & mask;
    while (c->table[i] && memcmp(c->table[i]->f.content.b, id->b, CR_ID_LEN) != 0)
        i = (i + 1) & mask;
    return &c->table[i];
}

static int table_grow(hn_cache *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    cache_entry **old = c->table;
    size_t ocap = c->cap;
    if (!(c->table = cr_calloc(ncap, sizeof(*c->table)))) {
        c->table = old;
        return CR_ERROR;
    }
    c->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            *slot_of(c, &old[i]->f.content) = old[i];
    free(old);
    return 0;
}

int hn_cache_new(hn_cache **out)
{
    hn_cache *c = cr_calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return CR_ERROR;
    if (table_grow(c) < 0) {
        free(c);
        return CR_ERROR;
    }
    *out = c;
    return 0;
}

void hn_cache_free(hn_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        facts_release(&c->slabs[i / SLAB_ENTRIES][i % SLAB_ENTRIES].f);
    for (size_t s = 0; s < c->nslabs; s++)
        free(c->slabs[s]);
    free(c->slabs);
    free(c->table);
    free(c);
}

static cache_entry *entry_at(const hn_cache *c, size_t i)
{
    return &c->slabs[i / SLAB_ENTRIES][i % SLAB_ENTRIES];
}

hn_facts *hn_cache_get(hn_cache *c, const cr_id *content)
{
    cache_entry *e = *slot_of(c, content);
    return e ? &e->f : NULL;
}

size_t hn_cache_count(const hn_cache *c)
{
    return c->count;
}

/* Copy the YARA verdict of src into dst (replacing dst's). */
static int take_yara(hn_facts *dst, const hn_facts *src)
{
    char **names;
    if (strv_copy(&names, src->yara, src->nyara) < 0)
        return CR_ERROR;
    strv_free(dst->yara, dst->nyara);
    dst->yara = names;
    dst->nyara = src->nyara;
    memcpy(dst->yara_id, src->yara_id, sizeof(dst->yara_id));
    dst->yara_id[CR_ID_HEX_LEN] = 0;
    dst->partial = src->partial;
    dst->have |= HN_HAVE_YARA;
    return 0;
}

/*
 * Merge what src knows into the entry. The YARA verdict of src replaces the
 * entry's when it comes from this run (from_run) or from a newer file (ns,
 * then file name). *changed is set when the entry learnt something.
 */
static int entry_merge(cache_entry *e, const hn_facts *src, int64_t ns, const cr_id *file,
                       int from_run, int *changed)
{
    hn_facts *d = &e->f;
    *changed = 0;
    if ((src->have & HN_HAVE_HEAD) &&
        (!(d->have & HN_HAVE_HEAD) || d->entropy != src->entropy || d->head_len != src->head_len ||
         d->magic_len != src->magic_len || memcmp(d->magic, src->magic, src->magic_len) != 0)) {
        d->entropy = src->entropy;
        d->head_len = src->head_len;
        memcpy(d->magic, src->magic, sizeof(d->magic));
        d->magic_len = src->magic_len;
        d->have |= HN_HAVE_HEAD;
        *changed = 1;
    }
    if ((src->have & HN_HAVE_MD5) &&
        (!(d->have & HN_HAVE_MD5) || memcmp(d->md5, src->md5, sizeof(d->md5)) != 0)) {
        memcpy(d->md5, src->md5, sizeof(d->md5));
        d->have |= HN_HAVE_MD5;
        *changed = 1;
    }
    if ((src->have & HN_HAVE_SHA1) &&
        (!(d->have & HN_HAVE_SHA1) || memcmp(d->sha1, src->sha1, sizeof(d->sha1)) != 0)) {
        memcpy(d->sha1, src->sha1, sizeof(d->sha1));
        d->have |= HN_HAVE_SHA1;
        *changed = 1;
    }
    if ((src->have & HN_HAVE_SHA256) &&
        (!(d->have & HN_HAVE_SHA256) || memcmp(d->sha256, src->sha256, sizeof(d->sha256)) != 0)) {
        memcpy(d->sha256, src->sha256, sizeof(d->sha256));
        d->have |= HN_HAVE_SHA256;
        *changed = 1;
    }
    if (src->have & HN_HAVE_YARA) {
        int newer = from_run || !(d->have & HN_HAVE_YARA) || ns > e->yara_ns ||
                    (ns == e->yara_ns && memcmp(file->b, e->yara_file.b, CR_ID_LEN) > 0);
        if (newer) {
            if (!(d->have & HN_HAVE_YARA) || strcmp(d->yara_id, src->yara_id) != 0 ||
                d->partial != src->partial ||
                !strv_equal(d->yara, d->nyara, src->yara, src->nyara)) {
                if (take_yara(d, src) < 0)
                    return CR_ERROR;
                *changed = 1;
            }
            e->yara_ns = ns;
            e->yara_file = *file;
        }
    } else if (!(d->have & HN_HAVE_YARA) && src->partial && !d->partial) {
        d->partial = src->partial;
        *changed = 1;
    }
    if (!d->size && src->size) {
        d->size = src->size;
        *changed = 1;
    }
    return 0;
}

/* Insert a new entry holding a copy of f. */
static int entry_add(hn_cache *c, const hn_facts *f, int64_t ns, const cr_id *file, int dirty)
{
    cache_entry *e;
    if ((c->count + 1) * 2 > c->cap && table_grow(c) < 0)
        return CR_ERROR;
    if (c->count == c->nslabs * SLAB_ENTRIES) {
        cache_entry **s = cr_realloc(c->slabs, (c->nslabs + 1) * sizeof(*s));
        if (!s)
            return CR_ERROR;
        c->slabs = s;
        if (!(s[c->nslabs] = cr_calloc(SLAB_ENTRIES, sizeof(cache_entry))))
            return CR_ERROR;
        c->nslabs++;
    }
    e = entry_at(c, c->count);
    memset(e, 0, sizeof(*e));
    e->f = *f;
    e->f.yara = NULL;
    e->f.nyara = 0;
    e->f.yara_id[CR_ID_HEX_LEN] = 0;
    if (strv_copy(&e->f.yara, f->yara, f->nyara) < 0) {
        memset(e, 0, sizeof(*e));
        return CR_ERROR;
    }
    e->f.nyara = f->nyara;
    if (f->have & HN_HAVE_YARA) {
        e->yara_ns = ns;
        e->yara_file = *file;
    }
    e->dirty = dirty;
    *slot_of(c, &f->content) = e;
    c->count++;
    return 0;
}

static int cache_merge_one(hn_cache *c, const hn_facts *f, int64_t ns, const cr_id *file,
                           int from_run)
{
    cache_entry **slot = slot_of(c, &f->content);
    int changed, err;
    if (!*slot)
        return entry_add(c, f, ns, file, from_run);
    if ((err = entry_merge(*slot, f, ns, file, from_run, &changed)) < 0)
        return err;
    if (changed && from_run)
        (*slot)->dirty = 1;
    return 0;
}

static int facts_valid(const hn_facts *f);

int hn_cache_put(hn_cache *c, const hn_facts *f)
{
    static const cr_id newest = {{0}};
    char hex[CR_ID_HEX_LEN + 1];
    if (!facts_valid(f)) {
        cr_error_set("internal error: facts of content %s are out of range",
                     cr_id_to_hex(hex, &f->content));
        return CR_EINPUT;
    }
    return cache_merge_one(c, f, INT64_MAX, &newest, 1);
}

/* ------------------------------------------------------------ facts codec */

static int facts_valid(const hn_facts *f)
{
    if (f->have & ~(unsigned)HAVE_ALL)
        return 0;
    if ((f->have & HN_HAVE_HEAD) && (!(f->entropy >= 0.0 && f->entropy <= 8.0) ||
                                     f->head_len > HN_HEAD_BYTES || f->magic_len > HN_MAGIC_BYTES))
        return 0;
    if (f->have & HN_HAVE_YARA) {
        cr_id tmp;
        if (strlen(f->yara_id) != CR_ID_HEX_LEN || cr_id_from_hex(&tmp, f->yara_id) < 0 ||
            f->nyara > ST_MAX_YARA_MATCHES || (f->nyara && !f->yara))
            return 0;
        for (size_t i = 0; i < f->nyara; i++)
            if (!f->yara[i] || !f->yara[i][0] || strlen(f->yara[i]) > ST_MAX_RULE_NAME)
                return 0;
    }
    return f->size <= INT64_MAX;
}

static json_t *fact_json(const hn_facts *f)
{
    json_t *o = json_object(), *a;
    int ok = o != NULL;
    if (!ok)
        return NULL;
    set(o, "c", id_json(&f->content), &ok);
    set(o, "s", u64_json(f->size), &ok);
    set(o, "h", json_integer(f->have), &ok);
    if (f->have & HN_HAVE_MD5)
        set(o, "md5", hex_json(f->md5, sizeof(f->md5)), &ok);
    if (f->have & HN_HAVE_SHA1)
        set(o, "sha1", hex_json(f->sha1, sizeof(f->sha1)), &ok);
    if (f->have & HN_HAVE_SHA256)
        set(o, "sha256", hex_json(f->sha256, sizeof(f->sha256)), &ok);
    if (f->have & HN_HAVE_HEAD) {
        set(o, "e", json_real(f->entropy), &ok);
        set(o, "hl", json_integer(f->head_len), &ok);
        set(o, "m", hex_json(f->magic, f->magic_len), &ok);
    }
    if (f->have & HN_HAVE_YARA) {
        char yid[CR_ID_HEX_LEN + 1];
        /* normalised to lowercase, as the decoder returns it */
        cr_id tmp;
        ok = ok && cr_id_from_hex(&tmp, f->yara_id) == 0;
        set(o, "y", ok ? json_string(cr_id_to_hex(yid, &tmp)) : NULL, &ok);
        if (ok && (a = json_array())) {
            set(o, "yr", a, &ok);
            for (size_t i = 0; ok && i < f->nyara; i++)
                if (json_array_append_new(a, bytes_json(f->yara[i], ST_MAX_RULE_NAME)) < 0)
                    ok = 0;
        } else {
            ok = 0;
        }
    }
    if (f->partial)
        set(o, "pt", json_true(), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int hn_cache_encode(cr_buf *out, size_t *count, const hn_cache *c, int only_dirty, int64_t saved_ns)
{
    json_t *h = NULL, *o;
    size_t n = 0;
    int ok = 1, err = 0;

    cr_buf_reset(out);
    *count = 0;
    for (size_t i = 0; i < c->count; i++) {
        const cache_entry *e = entry_at(c, i);
        if (only_dirty && !e->dirty)
            continue;
        if (!facts_valid(&e->f)) {
            char hex[CR_ID_HEX_LEN + 1];
            cr_error_set("internal error: facts of content %s are out of range (not saved)",
                         cr_id_to_hex(hex, &e->f.content));
            return CR_EINPUT;
        }
        n++;
    }
    if (!(h = json_object()))
        return CR_ERROR;
    set(h, "type", json_string(FACTS_TYPE), &ok);
    set(h, "version", json_integer(STORE_VERSION), &ok);
    set(h, "saved_ns", json_integer(saved_ns), &ok);
    set(h, "facts", json_integer((json_int_t)n), &ok);
    if (!ok) {
        cr_error_set("out of memory while encoding a hunt facts file");
        err = CR_ERROR;
        goto done;
    }
    if ((err = put_line(out, h)) < 0)
        goto done;
    for (size_t i = 0; i < c->count; i++) {
        const cache_entry *e = entry_at(c, i);
        if (only_dirty && !e->dirty)
            continue;
        if (!(o = fact_json(&e->f))) {
            cr_error_set("out of memory while encoding a hunt facts file");
            err = CR_ERROR;
            goto done;
        }
        err = put_line(out, o);
        json_decref(o);
        if (err < 0)
            goto done;
    }
    *count = n;
done:
    json_decref(h);
    return err;
}

static int facts_corrupt(const char *what)
{
    cr_error_set("damaged hunt facts file: %s", what);
    return CR_ECORRUPT;
}

/* Decode one fact object into f (zeroed first; owns f->yara on success). */
static int fact_decode(hn_facts *f, json_t *o)
{
    json_t *v, *a;
    uint64_t u;
    size_t i;
    int r;

    memset(f, 0, sizeof(*f));
    if (get_id(&f->content, json_object_get(o, "c")) < 0)
        return facts_corrupt("content id is not 64 hex digits");
    if (get_u64(&f->size, json_object_get(o, "s"), INT64_MAX) < 0)
        return facts_corrupt("size is not a non-negative integer");
    if (get_u64(&u, json_object_get(o, "h"), HAVE_ALL) < 0 || (u & ~(uint64_t)HAVE_ALL))
        return facts_corrupt("unknown flags of what is known");
    f->have = (unsigned)u;
    if (((f->have & HN_HAVE_MD5) && get_hex(f->md5, sizeof(f->md5), json_object_get(o, "md5"))) ||
        ((f->have & HN_HAVE_SHA1) &&
         get_hex(f->sha1, sizeof(f->sha1), json_object_get(o, "sha1"))) ||
        ((f->have & HN_HAVE_SHA256) &&
         get_hex(f->sha256, sizeof(f->sha256), json_object_get(o, "sha256"))))
        return facts_corrupt("a digest is not hex of the right length");
    if (f->have & HN_HAVE_HEAD) {
        v = json_object_get(o, "e");
        if (!json_is_number(v) || !(json_number_value(v) >= 0.0) || json_number_value(v) > 8.0)
            return facts_corrupt("entropy is not a number from 0 to 8");
        f->entropy = json_number_value(v);
        if (get_u64(&u, json_object_get(o, "hl"), HN_HEAD_BYTES) < 0)
            return facts_corrupt("head length out of range");
        f->head_len = (uint32_t)u;
        v = json_object_get(o, "m");
        if (!json_is_string(v) || json_string_length(v) % 2 ||
            json_string_length(v) > 2 * HN_MAGIC_BYTES ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            cr_hex_decode(f->magic, json_string_length(v) / 2, json_string_value(v)) < 0)
            return facts_corrupt("magic is not hex of at most 136 bytes");
        f->magic_len = (uint8_t)(json_string_length(v) / 2);
    }
    v = json_object_get(o, "pt");
    if (v && !json_is_boolean(v))
        return facts_corrupt("partial is not a boolean");
    f->partial = json_is_true(v);
    if (f->have & HN_HAVE_YARA) {
        cr_id yid;
        if (get_id(&yid, json_object_get(o, "y")) < 0)
            return facts_corrupt("YARA rule set id is not 64 hex digits");
        cr_id_to_hex(f->yara_id, &yid);
        a = json_object_get(o, "yr");
        if (!json_is_array(a) || json_array_size(a) > ST_MAX_YARA_MATCHES)
            return facts_corrupt("YARA matches are not a list (at most 4096)");
        if (json_array_size(a)) {
            if (!(f->yara = cr_calloc(json_array_size(a), sizeof(char *))))
                return CR_ERROR;
            json_array_foreach(a, i, v)
            {
                if ((r = get_bytes(&f->yara[i], v, ST_MAX_RULE_NAME, 0)) < 0) {
                    strv_free(f->yara, i);
                    f->yara = NULL;
                    return r == -2 ? CR_ERROR : facts_corrupt("bad YARA rule name");
                }
            }
            f->nyara = json_array_size(a);
        }
    }
    return 0;
}

int hn_cache_merge_file(hn_cache *c, const void *data, size_t len, const cr_id *file)
{
    lines l = {data, len, 0};
    file_kind kind;
    json_int_t version;
    json_t *h = NULL, *o;
    hn_facts *all = NULL;
    size_t nl, n = 0, got = 0;
    int64_t saved_ns;
    uint64_t u;
    int err = 0;

    if (!(nl = count_lines(data, len)))
        return facts_corrupt("not JSON lines (empty, unterminated or a line over 4 MiB)");
    if (!(h = read_header(&l, &kind, &version)) || kind != KIND_FACTS) {
        err = facts_corrupt("no hunt-facts header");
        goto done;
    }
    if (version != STORE_VERSION) {
        err = version_error("hunt facts file", version);
        goto done;
    }
    if (get_i64(&saved_ns, json_object_get(h, "saved_ns")) < 0 ||
        get_u64(&u, json_object_get(h, "facts"), ST_MAX_FACTS) < 0 || u != nl - 1) {
        err = facts_corrupt("saved_ns or the count of facts is missing or wrong");
        goto done;
    }
    n = (size_t)u;
    /* All or nothing: decode every line, then merge. */
    if (n && !(all = cr_calloc(n, sizeof(*all)))) {
        err = CR_ERROR;
        goto done;
    }
    for (got = 0; got < n; got++) {
        if (!(o = next_object(&l))) {
            err = facts_corrupt("a line is not a JSON object");
            goto done;
        }
        err = fact_decode(&all[got], o);
        json_decref(o);
        if (err < 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++)
        if ((err = cache_merge_one(c, &all[i], saved_ns, file, 0)) < 0)
            goto done;
done:
    for (size_t i = 0; i < got; i++)
        facts_release(&all[i]);
    free(all);
    json_decref(h);
    return err;
}

/* ================================================================ loading hunt/ files */

static void warn_file(cr_warning_cb warn, void *payload, const cr_id *id, const char *what)
{
    char hex[CR_ID_HEX_LEN + 1], path[8 + CR_ID_HEX_LEN];
    if (!warn)
        return;
    snprintf(path, sizeof(path), "hunt/%s", cr_id_to_hex(hex, id));
    warn(path, what, payload);
}

/* Kind of a loaded hunt file, from its header line (KIND_UNKNOWN if none). */
static file_kind kind_of(const cr_buf *b)
{
    lines l = {(const char *)b->ptr, b->len, 0};
    file_kind kind = KIND_UNKNOWN;
    json_int_t version;
    json_t *h;
    if (!count_lines(b->ptr, b->len))
        return KIND_UNKNOWN;
    h = read_header(&l, &kind, &version);
    json_decref(h);
    return kind;
}

/*
 * Load every hunt/ file and hand those of `want` to fn. Files that cannot be
 * read, opened or decoded are warned about (message of the error) and skipped.
 */
static int foreach_file(cr_repo *repo, file_kind want,
                        int (*fn)(const cr_buf *plain, const cr_id *id, void *ctx), void *ctx,
                        cr_warning_cb warn, void *payload, size_t *unreadable)
{
    cr_id *ids = NULL;
    size_t n = 0;
    cr_buf b = CR_BUF_INIT;
    int err;

    if ((err = cr_repo_list(&ids, &n, repo, "hunt")) < 0)
        return err;
    for (size_t i = 0; i < n; i++) {
        file_kind kind;
        cr_error_clear();
        if ((err = cr_repo_load_file(&b, repo, "hunt", &ids[i])) < 0) {
            warn_file(warn, payload, &ids[i], cr_error_last());
            if (unreadable)
                (*unreadable)++;
            continue;
        }
        kind = kind_of(&b);
        if (kind == KIND_UNKNOWN) {
            if (unreadable)
                (*unreadable)++;
            warn_file(warn, payload, &ids[i],
                      "not a hunt file this program knows (damaged, or written by a newer "
                      "cleanroom): skipped");
            continue;
        }
        if (kind != want)
            continue;
        if ((err = fn(&b, &ids[i], ctx)) < 0) {
            char msg[512];
            if (unreadable)
                (*unreadable)++;
            snprintf(msg, sizeof(msg), "%s: skipped", cr_error_last());
            warn_file(warn, payload, &ids[i], msg);
        }
    }
    cr_buf_free(&b);
    free(ids);
    return 0;
}

static int cache_load_one(const cr_buf *plain, const cr_id *id, void *ctx)
{
    return hn_cache_merge_file(ctx, plain->ptr, plain->len, id);
}

int hn_cache_load(hn_cache **out, cr_repo *repo, cr_warning_cb warn, void *payload)
{
    hn_cache *c = NULL;
    int err;
    *out = NULL;
    if ((err = hn_cache_new(&c)) < 0)
        return err;
    if ((err = foreach_file(repo, KIND_FACTS, cache_load_one, c, warn, payload, NULL)) < 0) {
        hn_cache_free(c);
        return err;
    }
    *out = c;
    return 0;
}

int hn_cache_save(hn_cache *c, cr_repo *repo)
{
    cr_buf b = CR_BUF_INIT;
    size_t n;
    cr_id id;
    int err;

    if ((err = hn_cache_encode(&b, &n, c, 1, cr_time_now_ns())) < 0 || n == 0)
        goto done;
    if ((err = cr_repo_save_file(&id, repo, "hunt", b.ptr, b.len)) < 0)
        goto done;
    for (size_t i = 0; i < c->count; i++)
        entry_at(c, i)->dirty = 0;
done:
    cr_buf_free(&b);
    return err;
}

/* ================================================================ records */

void hn_record_clear(hn_record *r)
{
    if (!r)
        return;
    cr_findings_free(r->findings, r->nfindings);
    free(r->source);
    memset(r, 0, sizeof(*r));
}

/*
 * Refuse what the decoder would refuse, so that a record always reads back;
 * strings too long are cut to the limits by bytes_json instead.
 */
static int finding_valid(const cr_finding *f)
{
    return f->path && f->path[0] && f->indicator && f->indicator[0] &&
           (int)f->category >= CR_CAT_MALWARE && (int)f->category <= CR_CAT_ANOMALY &&
           (int)f->severity >= CR_SEV_INFO && (int)f->severity <= CR_SEV_CRITICAL;
}

static json_t *finding_json(const hn_record *r, const cr_finding *f)
{
    json_t *o = json_object();
    int ok = o != NULL;
    if (!ok)
        return NULL;
    set(o, "p", bytes_json(f->path, ST_MAX_PATH), &ok);
    set(o, "cat", json_string(cr_category_name(f->category)), &ok);
    set(o, "sev", json_string(cr_severity_name(f->severity)), &ok);
    set(o, "ind", bytes_json(f->indicator, ST_MAX_INDICATOR), &ok);
    if (f->detail)
        set(o, "d", bytes_json(f->detail, ST_MAX_DETAIL), &ok);
    if (f->evidence)
        set(o, "e", bytes_json(f->evidence, ST_MAX_DETAIL), &ok);
    if (f->has_content)
        set(o, "c", id_json(&f->content), &ok);
    if (memcmp(&f->first_seen, &r->snapshot, sizeof(cr_id)) != 0)
        set(o, "fs", id_json(&f->first_seen), &ok);
    if (f->first_seen_ns != r->time_ns)
        set(o, "fst", json_integer(f->first_seen_ns), &ok);
    /* Normally implied by the record. */
    if (memcmp(&f->snapshot, &r->snapshot, sizeof(cr_id)) != 0)
        set(o, "snap", id_json(&f->snapshot), &ok);
    if (!str_same(f->source, r->source))
        set(o, "src", f->source ? bytes_json(f->source, ST_MAX_SOURCE) : json_null(), &ok);
    if (f->time_ns != r->time_ns)
        set(o, "t", json_integer(f->time_ns), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int hn_record_encode(cr_buf *out, const hn_record *r)
{
    json_t *h = NULL, *o;
    cr_id rs;
    int ok = 1, err = 0;

    cr_buf_reset(out);
    if (strlen(r->ruleset) != CR_ID_HEX_LEN || cr_id_from_hex(&rs, r->ruleset) < 0) {
        cr_error_set("internal error: the rule set id of a hunt record is not 64 hex digits");
        return CR_EINPUT;
    }
    if (r->nfindings > ST_MAX_FINDINGS || (r->nfindings && !r->findings) ||
        r->files_judged > INT64_MAX || r->contents_scanned > INT64_MAX ||
        r->contents_cached > INT64_MAX || r->errors > INT64_MAX) {
        cr_error_set("internal error: a hunt record has out-of-range fields");
        return CR_EINPUT;
    }
    for (size_t i = 0; i < r->nfindings; i++) {
        if (!finding_valid(&r->findings[i])) {
            cr_error_set("internal error: cannot store finding '%.200s' on '%.200s': empty path "
                         "or indicator, or unknown severity or category",
                         r->findings[i].indicator ? r->findings[i].indicator : "",
                         r->findings[i].path ? r->findings[i].path : "");
            return CR_EINPUT;
        }
    }
    if (!(h = json_object()))
        return CR_ERROR;
    set(h, "type", json_string(RECORD_TYPE), &ok);
    set(h, "version", json_integer(STORE_VERSION), &ok);
    set(h, "snapshot", id_json(&r->snapshot), &ok);
    if (r->has_pred)
        set(h, "pred", id_json(&r->pred), &ok);
    set(h, "ruleset", id_json(&rs), &ok);
    set(h, "hunted_ns", json_integer(r->hunted_ns), &ok);
    if (r->source)
        set(h, "source", bytes_json(r->source, ST_MAX_SOURCE), &ok);
    set(h, "time_ns", json_integer(r->time_ns), &ok);
    set(h, "files_judged", u64_json(r->files_judged), &ok);
    set(h, "contents_scanned", u64_json(r->contents_scanned), &ok);
    set(h, "contents_cached", u64_json(r->contents_cached), &ok);
    set(h, "errors", u64_json(r->errors), &ok);
    set(h, "findings", json_integer((json_int_t)r->nfindings), &ok);
    if (!ok) {
        cr_error_set("out of memory while encoding a hunt record");
        err = CR_ERROR;
        goto done;
    }
    if ((err = put_line(out, h)) < 0)
        goto done;
    for (size_t i = 0; i < r->nfindings; i++) {
        if (!(o = finding_json(r, &r->findings[i]))) {
            cr_error_set("out of memory while encoding a hunt record");
            err = CR_ERROR;
            goto done;
        }
        err = put_line(out, o);
        json_decref(o);
        if (err < 0)
            goto done;
    }
done:
    json_decref(h);
    if (err < 0)
        cr_buf_reset(out);
    return err;
}

static int rec_corrupt(const char *what)
{
    cr_error_set("damaged hunt record: %s", what);
    return CR_ECORRUPT;
}

/* Map a getter's result: -1 malformed field, -2 out of memory. */
static int rec_field(int r, const char *what)
{
    return r == -2 ? CR_ERROR : rec_corrupt(what);
}

static int finding_decode(cr_finding *f, json_t *o, const hn_record *r)
{
    json_t *v;
    int rc;

    memset(f, 0, sizeof(*f));
    f->snapshot = r->snapshot;
    f->time_ns = r->time_ns;
    f->first_seen = r->snapshot;
    f->first_seen_ns = r->time_ns;
    if ((rc = get_bytes(&f->path, json_object_get(o, "p"), ST_MAX_PATH, 0)) < 0)
        return rec_field(rc, "a finding's path is missing, empty or longer than 64 KiB");
    v = json_object_get(o, "cat");
    if (!json_is_string(v) || cr_category_parse(&f->category, json_string_value(v)) < 0)
        return rec_corrupt("a finding's category is unknown");
    v = json_object_get(o, "sev");
    if (!json_is_string(v) || cr_severity_parse(&f->severity, json_string_value(v)) < 0)
        return rec_corrupt("a finding's severity is unknown");
    if ((rc = get_bytes(&f->indicator, json_object_get(o, "ind"), ST_MAX_INDICATOR, 0)) < 0)
        return rec_field(rc, "a finding's indicator is missing, empty or too long");
    if ((rc = get_bytes_opt(&f->detail, o, "d", ST_MAX_DETAIL)) < 0)
        return rec_field(rc, "a finding's detail is too long or malformed");
    if ((rc = get_bytes_opt(&f->evidence, o, "e", ST_MAX_DETAIL)) < 0)
        return rec_field(rc, "a finding's evidence is too long or malformed");
    if ((v = json_object_get(o, "c"))) {
        if (get_id(&f->content, v) < 0)
            return rec_corrupt("a finding's content id is not 64 hex digits");
        f->has_content = 1;
    }
    if ((v = json_object_get(o, "fs")) && get_id(&f->first_seen, v) < 0)
        return rec_corrupt("a finding's first_seen is not 64 hex digits");
    if ((v = json_object_get(o, "fst")) && get_i64(&f->first_seen_ns, v) < 0)
        return rec_corrupt("a finding's first_seen time is not an integer");
    if ((v = json_object_get(o, "snap")) && get_id(&f->snapshot, v) < 0)
        return rec_corrupt("a finding's snapshot is not 64 hex digits");
    if ((v = json_object_get(o, "t")) && get_i64(&f->time_ns, v) < 0)
        return rec_corrupt("a finding's time is not an integer");
    if ((v = json_object_get(o, "src"))) {
        if ((rc = get_bytes_opt(&f->source, o, "src", ST_MAX_SOURCE)) < 0)
            return rec_field(rc, "a finding's source is too long or malformed");
    } else if (r->source && !(f->source = cr_strdup(r->source))) {
        return CR_ERROR;
    }
    return 0;
}

int hn_record_decode(hn_record *out, const void *data, size_t len)
{
    lines l = {data, len, 0};
    hn_record r;
    file_kind kind;
    json_int_t version;
    json_t *h = NULL, *o, *v;
    cr_id rs;
    size_t nl;
    uint64_t u;
    int err = 0, rc;

    memset(&r, 0, sizeof(r));
    memset(out, 0, sizeof(*out));
    if (!(nl = count_lines(data, len)))
        return rec_corrupt("not JSON lines (empty, unterminated or a line over 4 MiB)");
    if (!(h = read_header(&l, &kind, &version)) || kind != KIND_RECORD) {
        err = rec_corrupt("no hunt-record header");
        goto done;
    }
    if (version != STORE_VERSION) {
        err = version_error("hunt record", version);
        goto done;
    }
    if (get_id(&r.snapshot, json_object_get(h, "snapshot")) < 0) {
        err = rec_corrupt("snapshot is not 64 hex digits");
        goto done;
    }
    if ((v = json_object_get(h, "pred"))) {
        if (get_id(&r.pred, v) < 0) {
            err = rec_corrupt("pred is not 64 hex digits");
            goto done;
        }
        r.has_pred = 1;
    }
    if (get_id(&rs, json_object_get(h, "ruleset")) < 0) {
        err = rec_corrupt("ruleset is not 64 hex digits");
        goto done;
    }
    cr_id_to_hex(r.ruleset, &rs);
    if (get_i64(&r.hunted_ns, json_object_get(h, "hunted_ns")) < 0 ||
        get_i64(&r.time_ns, json_object_get(h, "time_ns")) < 0) {
        err = rec_corrupt("hunted_ns or time_ns is not an integer");
        goto done;
    }
    if ((rc = get_bytes_opt(&r.source, h, "source", ST_MAX_SOURCE)) < 0) {
        err = rec_field(rc, "source is longer than 255 bytes or malformed");
        goto done;
    }
    if (get_u64(&r.files_judged, json_object_get(h, "files_judged"), INT64_MAX) < 0 ||
        get_u64(&r.contents_scanned, json_object_get(h, "contents_scanned"), INT64_MAX) < 0 ||
        get_u64(&r.contents_cached, json_object_get(h, "contents_cached"), INT64_MAX) < 0 ||
        get_u64(&r.errors, json_object_get(h, "errors"), INT64_MAX) < 0) {
        err = rec_corrupt("a counter is not a non-negative integer");
        goto done;
    }
    if (get_u64(&u, json_object_get(h, "findings"), ST_MAX_FINDINGS) < 0 || u != nl - 1) {
        err = rec_corrupt("the count of findings does not match the lines that follow");
        goto done;
    }
    if (u && !(r.findings = cr_calloc((size_t)u, sizeof(*r.findings)))) {
        err = CR_ERROR;
        goto done;
    }
    for (r.nfindings = 0; r.nfindings < (size_t)u; r.nfindings++) {
        if (!(o = next_object(&l))) {
            err = rec_corrupt("a finding is not a JSON object");
            goto done;
        }
        err = finding_decode(&r.findings[r.nfindings], o, &r);
        json_decref(o);
        if (err < 0) {
            r.nfindings++; /* cleared with the others */
            goto done;
        }
    }
    *out = r;
    memset(&r, 0, sizeof(r));
done:
    hn_record_clear(&r);
    json_decref(h);
    return err;
}

int hn_record_save(cr_repo *repo, const hn_record *r)
{
    cr_buf b = CR_BUF_INIT;
    cr_id id;
    int err;
    if ((err = hn_record_encode(&b, r)) == 0)
        err = cr_repo_save_file(&id, repo, "hunt", b.ptr, b.len);
    cr_buf_free(&b);
    return err;
}

/* ------------------------------------------------------------ loading records */

typedef struct rec_item {
    hn_record r;
    cr_id file;
} rec_item;

typedef struct rec_list {
    rec_item *v;
    size_t n, cap;
    size_t compact_at; /* sort and drop superseded records when n reaches this */
    struct hn_pred_ref *preds; /* of every record read, superseded ones too */
    size_t npreds, predcap;
} rec_list;

static int pred_cmp(const void *a, const void *b)
{
    const struct hn_pred_ref *x = a, *y = b;
    int c = memcmp(x->pred.b, y->pred.b, CR_ID_LEN);
    if (c)
        return c;
    return x->by_ns < y->by_ns ? -1 : x->by_ns > y->by_ns;
}

static int pred_add(rec_list *l, const hn_record *r)
{
    if (!r->has_pred)
        return 0;
    if (l->npreds == l->predcap) {
        size_t ncap = l->predcap ? l->predcap * 2 : 64;
        struct hn_pred_ref *v = cr_realloc(l->preds, ncap * sizeof(*v));
        if (!v)
            return CR_ERROR;
        l->preds = v;
        l->predcap = ncap;
    }
    l->preds[l->npreds].pred = r->pred;
    l->preds[l->npreds].by = r->snapshot;
    l->preds[l->npreds].by_ns = r->hunted_ns;
    l->npreds++;
    return 0;
}

static int item_cmp(const void *a, const void *b)
{
    const rec_item *x = a, *y = b;
    int c = memcmp(x->r.snapshot.b, y->r.snapshot.b, CR_ID_LEN);
    if (c)
        return c;
    if (x->r.hunted_ns != y->r.hunted_ns)
        return x->r.hunted_ns < y->r.hunted_ns ? -1 : 1;
    return memcmp(x->file.b, y->file.b, CR_ID_LEN);
}

/* Sort by snapshot and keep the newest record of each (the last of its group). */
static void rec_compact(rec_list *l)
{
    size_t w = 0;
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), item_cmp);
    for (size_t i = 0; i < l->n; i++) {
        if (i + 1 < l->n && !memcmp(l->v[i].r.snapshot.b, l->v[i + 1].r.snapshot.b, CR_ID_LEN)) {
            hn_record_clear(&l->v[i].r);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
    l->compact_at = w * 2 > 64 ? w * 2 : 64;
}

static int records_load_one(const cr_buf *plain, const cr_id *id, void *ctx)
{
    rec_list *l = ctx;
    hn_record r;
    int err;
    if ((err = hn_record_decode(&r, plain->ptr, plain->len)) < 0)
        return err;
    if (pred_add(l, &r) < 0) {
        hn_record_clear(&r);
        return CR_ERROR;
    }
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        rec_item *v = cr_realloc(l->v, ncap * sizeof(*v));
        if (!v) {
            hn_record_clear(&r);
            return CR_ERROR;
        }
        l->v = v;
        l->cap = ncap;
    }
    l->v[l->n].r = r;
    l->v[l->n].file = *id;
    l->n++;
    if (l->n >= l->compact_at)
        rec_compact(l);
    return 0;
}

int hn_records_load(hn_records *out, cr_repo *repo, cr_warning_cb warn, void *payload)
{
    rec_list l = {NULL, 0, 0, 64, NULL, 0, 0};
    int err;

    memset(out, 0, sizeof(*out));
    if ((err = foreach_file(repo, KIND_RECORD, records_load_one, &l, warn, payload,
                            &out->unreadable)) < 0)
        goto done;
    rec_compact(&l);
    if (l.npreds > 1)
        qsort(l.preds, l.npreds, sizeof(*l.preds), pred_cmp);
    out->preds = l.preds;
    out->npreds = l.npreds;
    l.preds = NULL;
    if (l.n && !(out->r = cr_calloc(l.n, sizeof(*out->r)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        out->r[i] = l.v[i].r;
        memset(&l.v[i].r, 0, sizeof(l.v[i].r));
    }
    out->n = l.n;
done:
    for (size_t i = 0; i < l.n; i++)
        hn_record_clear(&l.v[i].r);
    free(l.v);
    free(l.preds);
    return err;
}

void hn_records_clear(hn_records *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        hn_record_clear(&rs->r[i]);
    free(rs->r);
    free(rs->preds);
    memset(rs, 0, sizeof(*rs));
}

static int record_key_cmp(const void *key, const void *elem)
{
    return memcmp(((const cr_id *)key)->b, ((const hn_record *)elem)->snapshot.b, CR_ID_LEN);
}

const hn_record *hn_records_find(const hn_records *rs, const cr_id *snapshot)
{
    if (!rs || !rs->n)
        return NULL;
    return bsearch(snapshot, rs->r, rs->n, sizeof(*rs->r), record_key_cmp);
}

static int pred_key_cmp(const void *key, const void *elem)
{
    return memcmp(((const cr_id *)key)->b, ((const struct hn_pred_ref *)elem)->pred.b, CR_ID_LEN);
}

const struct hn_pred_ref *hn_records_named(const hn_records *rs, const cr_id *snapshot)
{
    if (!rs || !rs->npreds)
        return NULL;
    return bsearch(snapshot, rs->preds, rs->npreds, sizeof(*rs->preds), pred_key_cmp);
}
