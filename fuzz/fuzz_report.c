/*
 * Fuzz target: the recovery report (cr_report_render) on journal entries of
 * any content. The journal verifier is fuzzed on its own (fuzz_journal.c);
 * what reaches the report are entries whose every text is untrusted, so the
 * input is read as entries directly, one per line:
 *
 *     TYPE \t SERVICE \t KEY=VALUE \t KEY=VALUE ...      (SERVICE empty: none)
 *
 * Checked on both outputs: no raw HTML in the Markdown (every '<' escaped),
 * every row of a Markdown table has as many cells as its header, and every
 * '<' of the HTML opens or closes one of the report's own elements.
 */
#include "cleanroom/report.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 2000
#define MAX_KV 32

static const char *const tags[] = {"!DOCTYPE", "html", "head", "meta", "title", "style", "body",
                                   "h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th",
                                   "td", "ul", "li", "footer"};

static int own_tag(const char *p)
{
    p++;
    if (*p == '/')
        p++;
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        size_t l = strlen(tags[i]);
        if (strncmp(p, tags[i], l) == 0 && (p[l] == '>' || p[l] == ' '))
            return 1;
    }
    return 0;
}

static void check_html(const char *d)
{
    for (const char *q = strchr(d, '<'); q; q = strchr(q + 1, '<'))
        if (!own_tag(q))
            abort();
}

static size_t cells(const char *line, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\\') {
            i++;
            continue;
        }
        n += line[i] == '|';
    }
    return n;
}

static void check_md(const char *d)
{
    for (const char *q = strchr(d, '<'); q; q = strchr(q + 1, '<'))
        if (q == d || q[-1] != '\\')
            abort();
    const char *p = d;
    size_t want = 0;
    int in = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len && p[0] == '|') {
            size_t c = cells(p, len);
            if (!in) {
                want = c;
                in = 1;
            } else if (c != want) {
                abort();
            }
        } else {
            in = 0;
        }
        p += len + (nl ? 1 : 0);
    }
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = 0;
    /* The journal gives C strings: no NUL inside. */
    for (size_t i = 0; i < n; i++)
        if (!s[i])
            s[i] = ' ';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_journal_entry *e = calloc(MAX_ENTRIES, sizeof(*e));
    size_t n = 0;
    const uint8_t *p = data, *end = data + size;
    if (!e)
        abort();
    while (p < end && n < MAX_ENTRIES) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *le = nl ? nl : end;
        cr_journal_entry *x = &e[n];
        x->seq = n + 1;
        x->time_ns = 1795000000000000000LL + (int64_t)n * 1500000000LL;
        snprintf(x->hash, sizeof(x->hash), "%064zx", n + 1);
        x->keys = calloc(MAX_KV, sizeof(char *));
        x->values = calloc(MAX_KV, sizeof(char *));
        if (!x->keys || !x->values)
            abort();
        int field = 0;
        const uint8_t *f = p;
        while (f <= le) {
            const uint8_t *t = memchr(f, '\t', (size_t)(le - f));
            const uint8_t *fe = t ? t : le;
            if (field == 0) {
                x->type = dup_n(f, (size_t)(fe - f));
            } else if (field == 1) {
                x->service = fe > f ? dup_n(f, (size_t)(fe - f)) : NULL;
            } else if (x->nkv < MAX_KV) {
                const uint8_t *eq = memchr(f, '=', (size_t)(fe - f));
                if (eq && eq > f) {
                    x->keys[x->nkv] = dup_n(f, (size_t)(eq - f));
                    x->values[x->nkv] = dup_n(eq + 1, (size_t)(fe - eq - 1));
                    x->nkv++;
                }
            }
            field++;
            if (!t)
                break;
            f = t + 1;
        }
        n++;
        p = nl ? nl + 1 : end;
    }
    for (unsigned int fmt = CR_REPORT_MD; fmt <= CR_REPORT_HTML; fmt++) {
        char *out = NULL;
        int err = cr_report_render(&out, e, n, "fuzz.journal", fmt, CR_REPORT_EN, 0);
        if (err == 0) {
            if (fmt == CR_REPORT_MD)
                check_md(out);
            else
                check_html(out);
        } else if (out) {
            abort();
        }
        free(out);
    }
    cr_journal_entries_free(e, n);
    return 0;
}
