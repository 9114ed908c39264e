/*
 * WMI event subscriptions in the CIM repository
 * (Windows/System32/wbem/Repository/OBJECTS.DATA, or .../Repository/FS/ on
 * Windows XP and 2003): the permanent subscriptions that make WMI run a
 * command or a script when an event happens (MITRE T1546.003).
 *
 * A subscription is three instances: an __EventFilter (a WQL query: the
 * event), a consumer (CommandLineEventConsumer runs CommandLineTemplate;
 * ActiveScriptEventConsumer runs ScriptText in a ScriptingEngine; the other
 * standard consumers write a log, an event or a mail), and the
 * __FilterToConsumerBinding that ties them, whose two properties are object
 * paths: `CommandLineEventConsumer.Name="x"` and `__EventFilter.Name="y"`.
 *
 * The repository's pages, B-tree index and object records are not parsed.
 * As DFIR tools do without the full repository parser (PyWMIPersistenceFinder,
 * Mandiant 2017, and its ports wmi-parser and Huntress's; python-cim parses
 * it all), the bytes are searched for those object paths and the records of
 * the names they give:
 *
 *   binding   `<Class>EventConsumer.Name="<consumer>"`, with an
 *             `_EventFilter.Name="<filter>"` within WM_NEAR code units before
 *             or after it (the two paths of one binding record);
 *   consumer  the class name as a string of its own (`<Class>EventConsumer`
 *             then a NUL) followed within WM_NEAR units by the consumer's name
 *             and a NUL; the string after the name is the command line
 *             (CommandLineEventConsumer), or the engine and the string after
 *             it the script (ActiveScriptEventConsumer); the other consumers
 *             run no program and are not looked up;
 *   filter    the filter's name and a NUL, followed by a string that starts
 *             with "select": its query.
 *
 * The repository stores a string as ASCII when it can and as UTF-16LE when it
 * cannot, so each search is made in both encodings (a consumer name with one
 * non-ASCII letter must not hide it). Records of deleted instances may stay in
 * free pages, so a subscription removed since is still found (the tools above
 * share this); the finding says what was found, not that it is active.
 *
 * Bounds: at most WM_MAX_BINDINGS subscriptions, names of WM_MAX_NAME units,
 * commands and scripts cut at WM_MAX_TEXT units, WM_MAX_HITS occurrences of a
 * pattern examined; the input is at most WM_MAX_SIZE bytes (CR_EINPUT above).
 * The searches for the details of the subscriptions found share a budget of
 * bytes scanned (WM_BUDGET times the input, plus 256 MiB): a repository made
 * to be slow gets its subscriptions reported with "not found" details rather
 * than hours of searching.
 * Every string handed out is valid UTF-8 without control characters.
 *
 * Pure function of the bytes (no file, no vault): it can run in a sandboxed
 * child as hn_hive_autoruns does.
 */
#include "hunt/hunt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WM_MAX_SIZE (1024u << 20)
#define WM_MAX_BINDINGS 256u
#define WM_MAX_NAME 256u
#define WM_MAX_TEXT 4096u
#define WM_MAX_HITS 10000u
#define WM_NEAR 4096u /* code units */
#define WM_BUDGET 8u

typedef struct wm {
    const uint8_t *d;
    size_t len;
    size_t w;       /* bytes per code unit: 1 (ASCII) or 2 (UTF-16LE) */
    size_t *budget; /* bytes the searches for details may still scan; NULL: no limit */
} wm;

/* The code unit at byte i (0 past the end). */
static unsigned wm_unit(const wm *m, size_t i)
{
    if (i + m->w > m->len)
        return 0;
    return m->w == 1 ? m->d[i] : (unsigned)m->d[i] | (unsigned)m->d[i + 1] << 8;
}

/* An ASCII pattern in the encoding of m (into out, cap bytes); its length in bytes. */
static size_t wm_enc(const wm *m, const char *pat, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pat; *p && n + m->w <= cap; p++) {
        out[n++] = (uint8_t)*p;
        if (m->w == 2)
            out[n++] = 0;
    }
    return n;
}

/* The next occurrence of pattern (encoded) in [from, to), or SIZE_MAX. */
static size_t wm_find(const wm *m, size_t from, size_t to, const uint8_t *pat, size_t n)
{
    if (to > m->len)
        to = m->len;
    if (m->budget && to > from && to - from > *m->budget)
        to = from + *m->budget;
    if (from >= to || to - from < n)
        return SIZE_MAX;
    const uint8_t *hit = memmem(m->d + from, to - from, pat, n);
    if (m->budget)
        *m->budget -= (hit ? (size_t)(hit - (m->d + from)) + n : to - from);
    return hit ? (size_t)(hit - m->d) : SIZE_MAX;
}

/* A string of at most max units from byte i up to (not including) `stop` or a NUL: as
 * clean UTF-8 (owned) with *end the byte after it. NULL when out of memory. */
static char *wm_text(const wm *m, size_t i, unsigned stop, size_t max, size_t *end)
{
    size_t j = i, units = 0;
    while (j + m->w <= m->len && units < max) {
        unsigned u = wm_unit(m, j);
        if (u == 0 || u == stop)
            break;
        j += m->w;
        units++;
    }
    *end = j;
    return m->w == 1 ? hn_utf8_clean(m->d + i, j - i) : hn_utf16_to_utf8(m->d + i, j - i);
}

static int wm_word(unsigned u)
{
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_';
}

/* Skip NUL units from byte i (at most 16). */
static size_t wm_skip_nul(const wm *m, size_t i)
{
    for (int k = 0; k < 16 && i + m->w <= m->len && wm_unit(m, i) == 0; k++)
        i += m->w;
    return i;
}

typedef struct wm_binding {
    char *cls, *consumer, *filter;
} wm_binding;

typedef struct wm_list {
    wm_binding b[WM_MAX_BINDINGS];
    size_t n;
} wm_list;

/* The value after `Name="` at byte i, up to the closing quote; NULL when none is there. */
static char *wm_quoted(const wm *m, size_t i, int *err)
{
    size_t end;
    char *s = wm_text(m, i, '"', WM_MAX_NAME, &end);
    if (!s) {
        *err = CR_ERROR;
        return NULL;
    }
    if (wm_unit(m, end) != '"' || !*s) {
        free(s);
        return NULL;
    }
    return s;
}

/* Every binding of this encoding, added to l (duplicates left out). */
static int wm_bindings(const wm *m, wm_list *l)
{
    uint8_t cref[64], fref[64];
    size_t cn = wm_enc(m, "EventConsumer.Name=\"", cref, sizeof(cref));
    size_t fn = wm_enc(m, "_EventFilter.Name=\"", fref, sizeof(fref));
    size_t hits = 0;
    int err = 0;
    for (size_t p = 0; (p = wm_find(m, p, m->len, cref, cn)) != SIZE_MAX && !err; p += m->w) {
        if (++hits > WM_MAX_HITS || l->n >= WM_MAX_BINDINGS)
            break;
        /* The class: the word before "EventConsumer". */
        size_t s = p, k = 0;
        while (s >= m->w && k < 64 && wm_word(wm_unit(m, s - m->w)))
            s -= m->w, k++;
        size_t endc;
        char *pre = wm_text(m, s, '.', k, &endc);
        char *name = pre ? wm_quoted(m, p + cn, &err) : NULL;
        char *cls = pre && name ? cr_sprintf("%sEventConsumer", pre) : NULL;
        char *filter = NULL;
        free(pre);
        if (!pre || (name && !cls))
            err = CR_ERROR;
        if (cls) {
            /* A binding's Consumer property comes before its Filter: the nearest filter
             * path after the consumer's, else the nearest one before it. */
            size_t near = (size_t)WM_NEAR * m->w, f;
            f = wm_find(m, p + cn, p + cn + near, fref, fn);
            if (f != SIZE_MAX) {
                filter = wm_quoted(m, f + fn, &err);
            } else {
                size_t last = SIZE_MAX;
                for (f = p > near ? p - near : 0; (f = wm_find(m, f, p, fref, fn)) != SIZE_MAX;
                     f += m->w)
                    last = f;
                if (last != SIZE_MAX)
                    filter = wm_quoted(m, last + fn, &err);
            }
        }
        if (cls && filter) {
            int dup = 0;
            for (size_t i = 0; i < l->n && !dup; i++)
                dup = !strcmp(l->b[i].cls, cls) && !strcmp(l->b[i].consumer, name) &&
                      !strcmp(l->b[i].filter, filter);
            if (!dup) {
                l->b[l->n].cls = cls;
                l->b[l->n].consumer = name;
                l->b[l->n].filter = filter;
                l->n++;
                cls = name = filter = NULL;
            }
        }
        free(cls);
        free(name);
        free(filter);
    }
    return err;
}

/*
 * `name` followed by a NUL unit, at or after byte `from`, before `to`: the
 * byte after its NUL units, or SIZE_MAX. The name (UTF-8) is encoded as the
 * repository would store it: ASCII when it is, else UTF-16LE (w 2 only).
 */
static size_t wm_string_at(const wm *m, size_t from, size_t to, const char *name)
{
    uint8_t pat[4 * WM_MAX_NAME + 8];
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        uint32_t cp = *p;
        size_t k = 1;
        if (cp >= 0x80) {
            if (m->w == 1)
                return SIZE_MAX; /* not stored as ASCII */
            k = cp >= 0xf0 ? 4 : cp >= 0xe0 ? 3 : 2;
            cp &= k == 2 ? 0x1f : k == 3 ? 0x0f : 0x07;
            for (size_t i = 1; i < k; i++) {
                if ((p[i] & 0xc0) != 0x80)
                    return SIZE_MAX;
                cp = cp << 6 | (p[i] & 0x3f);
            }
        }
        if (n + 6 > sizeof(pat))
            return SIZE_MAX;
        if (m->w == 1) {
            pat[n++] = (uint8_t)cp;
        } else if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000, hi = 0xd800 + (v >> 10), lo = 0xdc00 + (v & 0x3ff);
            pat[n++] = (uint8_t)hi;
            pat[n++] = (uint8_t)(hi >> 8);
            pat[n++] = (uint8_t)lo;
            pat[n++] = (uint8_t)(lo >> 8);
        } else {
            pat[n++] = (uint8_t)cp;
            pat[n++] = (uint8_t)(cp >> 8);
        }
        p += k;
    }
    for (size_t i = 0; i < m->w; i++)
        pat[n++] = 0;
    size_t f = wm_find(m, from, to, pat, n);
    return f == SIZE_MAX ? SIZE_MAX : wm_skip_nul(m, f + n);
}

/* What the consumer runs: "<command line>" or "<engine> script: <text>"; NULL: unknown. */
static char *wm_consumer_action(const wm *m, const wm_binding *b, int *err)
{
    uint8_t pat[160];
    char cname[80];
    snprintf(cname, sizeof(cname), "%s", b->cls);
    size_t n = wm_enc(m, cname, pat, sizeof(pat) - 2);
    pat[n++] = 0; /* the class name as a string of its own */
    if (m->w == 2)
        pat[n++] = 0;
    int script = !strcasecmp(b->cls, "ActiveScriptEventConsumer");
    if (!script && strcasecmp(b->cls, "CommandLineEventConsumer") != 0)
        return NULL; /* the other consumers run nothing */
    size_t hits = 0;
    for (size_t q = 0; (q = wm_find(m, q, m->len, pat, n)) != SIZE_MAX; q += m->w) {
        if (++hits > WM_MAX_HITS)
            break;
        size_t v = wm_string_at(m, q + n, q + n + (size_t)WM_NEAR * m->w, b->consumer), end;
        if (v == SIZE_MAX)
            continue;
        char *first = wm_text(m, v, 0, WM_MAX_TEXT, &end), *second = NULL, *out;
        if (!first) {
            *err = CR_ERROR;
            return NULL;
        }
        if (!script)
            return first;
        if (!(second = wm_text(m, wm_skip_nul(m, end), 0, WM_MAX_TEXT, &end))) {
            free(first);
            *err = CR_ERROR;
            return NULL;
        }
        out = cr_sprintf("%s script: %s", first, second);
        free(first);
        free(second);
        if (!out)
            *err = CR_ERROR;
        return out;
    }
    return NULL;
}

/* The filter's query (a string starting with "select" after its name), or NULL. */
static char *wm_filter_query(const wm *m, const char *filter, int *err)
{
    size_t hits = 0;
    for (size_t f = 0; f < m->len && ++hits <= WM_MAX_HITS;) {
        size_t v = wm_string_at(m, f, m->len, filter), end;
        if (v == SIZE_MAX)
            return NULL;
        char *q = wm_text(m, v, 0, WM_MAX_TEXT, &end);
        if (!q) {
            *err = CR_ERROR;
            return NULL;
        }
        if (!strncasecmp(q, "select", 6))
            return q;
        free(q);
        f = v;
    }
    return NULL;
}

static int wm_add(hn_autorun **a, size_t *n, const wm *m, const wm_binding *b)
{
    int err = 0;
    char *action = wm_consumer_action(m, b, &err);
    char *query = err ? NULL : wm_filter_query(m, b->filter, &err);
    char *key = NULL, *name = NULL, *data = NULL;
    if (err)
        goto done;
    key = cr_strdup("WMI\\__FilterToConsumerBinding");
    name = cr_sprintf("%s \"%s\" <- __EventFilter \"%s\"", b->cls, b->consumer, b->filter);
    int runs = !strcasecmp(b->cls, "CommandLineEventConsumer") ||
               !strcasecmp(b->cls, "ActiveScriptEventConsumer");
    data = cr_sprintf("%s%s%s%s", action ? "runs " : "",
                      action ? action
                      : runs ? "(what it runs was not found)"
                             : "runs no program",
                      query ? " when " : "", query ? query : "");
    hn_autorun *na = key && name && data ? cr_realloc(*a, (*n + 1) * sizeof(**a)) : NULL;
    if (!na) {
        err = CR_ERROR;
        goto done;
    }
    *a = na;
    na[*n].key = key;
    na[*n].name = name;
    na[*n].data = data;
    na[*n].kind = HN_AUTORUN_WMI;
    (*n)++;
    key = name = data = NULL;
done:
    free(action);
    free(query);
    free(key);
    free(name);
    free(data);
    return err;
}

int hn_wmi_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    wm_list *l = NULL;
    hn_autorun *a = NULL;
    size_t n = 0;
    int err = 0;

    *out = NULL;
    *count = 0;
    if (len > WM_MAX_SIZE) {
        cr_error_set("WMI repository too large to examine (%zu bytes, at most %u)", len,
                     WM_MAX_SIZE);
        return CR_EINPUT;
    }
    if (!(l = cr_calloc(2, sizeof(*l))))
        return CR_ERROR;
    size_t budget =
        len > (SIZE_MAX - (256u << 20)) / WM_BUDGET ? SIZE_MAX : len * WM_BUDGET + (256u << 20);
    for (size_t w = 1; w <= 2 && !err; w++) {
        wm m = {data, len, w, NULL};
        wm_list *lw = &l[w - 1];
        if ((err = wm_bindings(&m, lw)) < 0)
            break;
        for (size_t i = 0; i < lw->n && !err; i++) {
            /* Found in both encodings (no repository does that): once is enough. */
            int dup = 0;
            for (size_t k = 0; w == 2 && k < l[0].n && !dup; k++)
                dup = !strcmp(l[0].b[k].cls, lw->b[i].cls) &&
                      !strcmp(l[0].b[k].consumer, lw->b[i].consumer) &&
                      !strcmp(l[0].b[k].filter, lw->b[i].filter);
            m.budget = &budget;
            if (!dup)
                err = wm_add(&a, &n, &m, &lw->b[i]);
            m.budget = NULL;
        }
    }
    for (size_t w = 0; w < 2; w++)
        for (size_t i = 0; i < l[w].n; i++) {
            free(l[w].b[i].cls);
            free(l[w].b[i].consumer);
            free(l[w].b[i].filter);
        }
    free(l);
    if (err < 0) {
        hn_autoruns_free(a, n);
        return err;
    }
    *out = a;
    *count = n;
    return 0;
}
