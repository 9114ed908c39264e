/*
 * Hash IOC lists: MD5, SHA-1 and SHA-256 digests of known-bad files, as
 * plain lists or MISP CSV exports, and their lookup.
 *
 * Storage: one table per digest type, an array of fixed-size entries
 * (digest zero-padded to 32 bytes, list index, comment offset, sequence
 * number) kept sorted by digest then sequence. After each list is parsed the
 * table is sorted again and duplicates are dropped, keeping the first one
 * seen (earliest list, earliest line), so lookup is a binary search and a
 * hash listed twice names the first list that gave it. Comments live in one
 * string pool (NUL-terminated, offset + 1 in the entry, 0 = none); the same
 * comment on consecutive lines is stored once. Hundreds of thousands of
 * hashes load in well under a second: the parser is a single pass with a
 * table-driven hex decoder and no allocation per line.
 *
 * Formats (told apart by the first line that is neither blank nor a comment):
 *   plain     one hash per line, its type told by its length (32, 40 or 64
 *             hex digits, any case); '#' starts a comment line; text after
 *             the hash and a separator (blanks, ',' or ';') is kept as the
 *             hash's comment, so `sha256sum` output works as a list.
 *   MISP CSV  a header record naming a "type" and a "value" column (and
 *             maybe "comment"); records per RFC 4180 (quoted fields with
 *             commas, doubled quotes and line breaks). Types md5, sha1 and
 *             sha256 are used, and composites ending in one of them
 *             ("filename|sha256", value "name|hash"; "malware-sample" is
 *             "filename|md5"); other types (domains, IPs...) are ignored.
 *
 * A list is untrusted input: lines and records are bounded (longer ones are
 * counted as bad and skipped), NUL bytes and binary garbage are just bad
 * lines, at most IOC_MAX_WARN warnings are given per list, comments and
 * names are cut and made valid UTF-8 (they end up in findings' JSON), and
 * the total number of hashes and the comment pool are capped.
 *
 * The rule-set id covers the lists through hn_ioc_fingerprint: for each
 * list in the order it was added, its name, its length and the SHA-256 of
 * its bytes (the bytes themselves are not kept).
 */
#include "hunt/hunt.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IOC_MAX_LINE 4096                   /* a plain line longer than this is bad */
#define IOC_MAX_RECORD (64u * 1024)         /* a CSV record longer than this is bad */
#define IOC_MAX_FIELDS 256                  /* fields of a CSV record */
#define IOC_MAX_COMMENT 240                 /* bytes kept of a comment */
#define IOC_MAX_NAME 200                    /* bytes kept of a list name */
#define IOC_MAX_ENTRIES (32u * 1024 * 1024) /* hashes in a set, all lists together */
#define IOC_MAX_POOL (64u * 1024 * 1024)    /* bytes of comments in a set */
#define IOC_MAX_LISTS 4096
#define IOC_MAX_WARN 10 /* warnings per list; then one summary */

typedef struct ioc_entry {
    uint8_t d[32];    /* digest, zero-padded */
    uint32_t list;    /* index in set->lists */
    uint32_t comment; /* offset + 1 in set->pool; 0: none */
    uint32_t seq;     /* order of addition: the first of duplicates is kept */
} ioc_entry;

typedef struct ioc_table {
    ioc_entry *e;
    size_t n, cap;
} ioc_table;

typedef struct ioc_list {
    char *name;
    uint64_t len;
    uint8_t sha256[32];
} ioc_list;

struct hn_ioc_set {
    ioc_table t[3]; /* md5, sha1, sha256 */
    ioc_list *lists;
    size_t nlists;
    cr_buf pool;
    uint32_t seq;
};

/* Parsing state of one list. */
typedef struct ioc_parse {
    hn_ioc_set *set;
    const char *name;
    uint32_t list;
    size_t bad, added, warned, first_bad_line;
    cr_warning_cb warn;
    void *payload;
    uint32_t last_comment; /* pool offset + 1 of the previous comment (reuse) */
    size_t old_n[3];       /* table sizes before the list, for rollback */
} ioc_parse;

static int8_t hexv[256];

static void hex_init(void)
{
    static int done;
    if (done)
        return;
    for (int i = 0; i < 256; i++)
        hexv[i] = -1;
    for (int i = 0; i < 10; i++)
        hexv['0' + i] = (int8_t)i;
    for (int i = 0; i < 6; i++) {
        hexv['a' + i] = (int8_t)(10 + i);
        hexv['A' + i] = (int8_t)(10 + i);
    }
    done = 1; /* racing initialisers write the same values */
}

static int table_of(hn_hash_type type)
{
    switch (type) {
    case HN_MD5:
        return 0;
    case HN_SHA1:
        return 1;
    case HN_SHA256:
        return 2;
    }
    return -1;
}

static const size_t digest_len[3] = {16, 20, 32};
static const char *const type_name[3] = {"MD5", "SHA-1", "SHA-256"};

/* The table index of a hex digest of `n` digits, or -1. */
static int type_by_hexlen(size_t n)
{
    return n == 32 ? 0 : n == 40 ? 1 : n == 64 ? 2 : -1;
}

/* ------------------------------------------------------------ text hygiene */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * hn_text_clean: copy at most outmax - 1 bytes of s (n bytes) into out as valid UTF-8
 * without control characters: invalid bytes become '?', controls and runs
 * of blanks one space; leading and trailing blanks are dropped. Returns the
 * length (out is NUL-terminated).
 */
size_t hn_text_clean(char *out, size_t outmax, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    int space = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 1 && (p[i] <= 0x20 || p[i] == 0x7f)) {
            space = o > 0;
            i++;
            continue;
        }
        size_t need = (space ? 1 : 0) + (l ? l : 1);
        if (o + need + 1 > outmax)
            break;
        if (space)
            out[o++] = ' ';
        space = 0;
        if (l == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
        }
    }
    out[o] = '\0';
    return o;
}

/* ------------------------------------------------------------ the set */

int hn_ioc_new(hn_ioc_set **out)
{
    hex_init();
    *out = cr_calloc(1, sizeof(**out));
    if (!*out)
        return CR_ERROR;
    (*out)->pool.max = IOC_MAX_POOL;
    return 0;
}

void hn_ioc_free(hn_ioc_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < 3; i++)
        free(set->t[i].e);
    for (size_t i = 0; i < set->nlists; i++)
        free(set->lists[i].name);
    free(set->lists);
    cr_buf_free(&set->pool);
    free(set);
}

unsigned hn_ioc_types(const hn_ioc_set *set)
{
    unsigned m = 0;
    if (set && set->t[0].n)
        m |= HN_MD5;
    if (set && set->t[1].n)
        m |= HN_SHA1;
    if (set && set->t[2].n)
        m |= HN_SHA256;
    return m;
}

size_t hn_ioc_count(const hn_ioc_set *set)
{
    return set ? set->t[0].n + set->t[1].n + set->t[2].n : 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const ioc_entry *x = a, *y = b;
    int c = memcmp(x->d, y->d, sizeof(x->d));
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort a table and drop duplicate digests, keeping the earliest. */
static void table_settle(ioc_table *t)
{
    if (t->n < 2)
        return;
    qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
    size_t w = 1;
    for (size_t r = 1; r < t->n; r++) {
        if (memcmp(t->e[r].d, t->e[w - 1].d, sizeof(t->e[r].d)) == 0)
            continue;
        if (w != r)
            t->e[w] = t->e[r];
        w++;
    }
    t->n = w;
}

int hn_ioc_lookup(const hn_ioc_set *set, hn_hash_type type, const uint8_t *digest,
                  const char **list, const char **comment)
{
    int ti = table_of(type);
    if (!set || ti < 0 || !digest)
        return 0;
    const ioc_table *t = &set->t[ti];
    uint8_t key[32] = {0};
    memcpy(key, digest, digest_len[ti]);
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(t->e[mid].d, key, sizeof(key));
        if (c == 0) {
            const ioc_entry *e = &t->e[mid];
            if (list)
                *list = set->lists[e->list].name;
            if (comment)
                *comment = e->comment ? (const char *)set->pool.ptr + e->comment - 1 : NULL;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void hn_ioc_fingerprint(const hn_ioc_set *set, void *sha256_ctx)
{
    EVP_MD_CTX *ctx = sha256_ctx;
    if (!set || !ctx)
        return;
    uint8_t n8[8];
    for (size_t i = 0; i < set->nlists; i++) {
        const ioc_list *l = &set->lists[i];
        size_t nl = strlen(l->name);
        for (int k = 0; k < 8; k++)
            n8[k] = (uint8_t)((uint64_t)nl >> (8 * k));
        EVP_DigestUpdate(ctx, "ioc-list", 8);
        EVP_DigestUpdate(ctx, n8, 8);
        EVP_DigestUpdate(ctx, l->name, nl);
        for (int k = 0; k < 8; k++)
            n8[k] = (uint8_t)(l->len >> (8 * k));
        EVP_DigestUpdate(ctx, n8, 8);
        EVP_DigestUpdate(ctx, l->sha256, 32);
    }
}

/* ------------------------------------------------------------ parsing */

static void ioc_bad(ioc_parse *ps, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ioc_bad(ioc_parse *ps, size_t line, const char *fmt, ...)
{
    ps->bad++;
    if (!ps->first_bad_line)
        ps->first_bad_line = line;
    if (!ps->warn || ps->warned >= IOC_MAX_WARN)
        return;
    ps->warned++;
    char what[300], msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "line %zu: %s", line, what);
    ps->warn(ps->name, msg, ps->payload);
}

/* A short printable excerpt of untrusted bytes for a warning. */
static void excerpt(char *out, size_t outlen, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > 0 && o + 5 >= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* Store a comment (two parts joined by " - ", either may be empty); *off = offset + 1 or 0. */
static int put_comment(ioc_parse *ps, const char *a, size_t alen, const char *b, size_t blen,
                       uint32_t *off)
{
    char text[2 * IOC_MAX_COMMENT + 8];
    size_t n = hn_text_clean(text, IOC_MAX_COMMENT + 1, a, alen);
    if (blen) {
        char tb[IOC_MAX_COMMENT + 1];
        size_t nb = hn_text_clean(tb, sizeof(tb), b, blen);
        if (nb && n) {
            memcpy(text + n, " - ", 3);
            n += 3;
        }
        memcpy(text + n, tb, nb + 1);
        n += nb;
    }
    *off = 0;
    if (n == 0)
        return 0;
    cr_buf *pool = &ps->set->pool;
    if (ps->last_comment && strcmp((const char *)pool->ptr + ps->last_comment - 1, text) == 0) {
        *off = ps->last_comment;
        return 0;
    }
    if (pool->len + n + 1 > IOC_MAX_POOL)
        return 0; /* pool full: the hash is kept without its comment */
    size_t at = pool->len;
    int err = cr_buf_put(pool, text, n + 1);
    if (err < 0)
        return err;
    *off = ps->last_comment = (uint32_t)(at + 1);
    return 0;
}

static int add_hash(ioc_parse *ps, int ti, const char *hex, uint32_t comment)
{
    ioc_table *t = &ps->set->t[ti];
    if (hn_ioc_count(ps->set) >= IOC_MAX_ENTRIES) {
        cr_error_set("IOC list %s: more than %u hashes in all the lists together", ps->name,
                     IOC_MAX_ENTRIES);
        return CR_EINPUT;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        ioc_entry *e = cr_realloc(t->e, cap * sizeof(*e));
        if (!e)
            return CR_ERROR;
        t->e = e;
        t->cap = cap;
    }
    ioc_entry *e = &t->e[t->n];
    memset(e->d, 0, sizeof(e->d));
    cr_hex_decode_n(e->d, hex, 2 * digest_len[ti]);
    e->list = ps->list;
    e->comment = comment;
    e->seq = ps->set->seq++;
    t->n++;
    ps->added++;
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line of a plain list. */
static int plain_line(ioc_parse *ps, const char *s, size_t n, size_t lineno)
{
    size_t i = 0;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] == '#')
        return 0;
    if (n > IOC_MAX_LINE) {
        ioc_bad(ps, lineno, "line of %zu bytes is too long for a hash list", n);
        return 0;
    }
    size_t h = i;
    while (i < n && hexv[(unsigned char)s[i]] >= 0)
        i++;
    size_t hl = i - h;
    int ti = type_by_hexlen(hl);
    if (ti < 0 || (i < n && !is_blank(s[i]) && s[i] != ',' && s[i] != ';')) {
        char ex[64];
        excerpt(ex, sizeof(ex), s + h, n - h);
        ioc_bad(ps, lineno, "not an MD5, SHA-1 or SHA-256 hash: \"%s\"", ex);
        return 0;
    }
    while (i < n && (is_blank(s[i]) || s[i] == ',' || s[i] == ';'))
        i++;
    if (i < n && s[i] == '#') /* "hash  # comment" */
        i++;
    uint32_t comment = 0;
    int err;
    if (i < n && (err = put_comment(ps, s + i, n - i, NULL, 0, &comment)) < 0)
        return err;
    return add_hash(ps, ti, s + h, comment);
}

/* ------------------------------------------------------------ CSV (RFC 4180) */

typedef struct csv_rec {
    cr_buf buf;                 /* field bytes, unescaped, each NUL-terminated */
    size_t off[IOC_MAX_FIELDS]; /* field starts in buf */
    size_t len[IOC_MAX_FIELDS];
    size_t n; /* fields */
    int too_long, unterminated;
} csv_rec;

/*
 * Read one record starting at *pos; *pos moves past its line break and
 * *lines counts the line breaks consumed. A record longer than
 * IOC_MAX_RECORD is marked too_long and ends at the next line break after
 * the limit (so an unbalanced quote cannot swallow the rest of the list).
 */
static int csv_read(csv_rec *r, const char *s, size_t n, size_t *pos, size_t *lines)
{
    size_t i = *pos, start = *pos;
    int quoted = 0, in_field_start = 1, err;
    cr_buf_reset(&r->buf);
    r->n = 0;
    r->too_long = r->unterminated = 0;
    r->off[0] = 0;
    for (;;) {
        if (i >= n) {
            if (quoted)
                r->unterminated = 1;
            break;
        }
        char c = s[i];
        if (i - start > IOC_MAX_RECORD) {
            r->too_long = 1;
            const char *nl = memchr(s + i, '\n', n - i);
            i = nl ? (size_t)(nl - s) + 1 : n;
            if (nl)
                (*lines)++;
            *pos = i;
            return 0;
        }
        if (quoted) {
            if (c == '"') {
                if (i + 1 < n && s[i + 1] == '"') {
                    if ((err = cr_buf_put_u8(&r->buf, '"')) < 0)
                        return err;
                    i += 2;
                    continue;
                }
                quoted = 0;
                i++;
                continue;
            }
            if (c == '\n')
                (*lines)++;
            if ((err = cr_buf_put_u8(&r->buf, (uint8_t)c)) < 0)
                return err;
            i++;
            continue;
        }
        if (c == '"' && in_field_start) {
            quoted = 1;
            in_field_start = 0;
            i++;
            continue;
        }
        if (c == ',' || c == '\n') {
            if (r->n < IOC_MAX_FIELDS) {
                r->len[r->n] = r->buf.len - r->off[r->n];
                r->n++;
            }
            if ((err = cr_buf_put_u8(&r->buf, 0)) < 0)
                return err;
            if (r->n < IOC_MAX_FIELDS)
                r->off[r->n] = r->buf.len;
            i++;
            if (c == '\n') {
                (*lines)++;
                *pos = i;
                return 0;
            }
            in_field_start = 1;
            continue;
        }
        if (c == '\r' && (i + 1 == n || s[i + 1] == '\n')) {
            i++;
            continue;
        }
        in_field_start = 0;
        if ((err = cr_buf_put_u8(&r->buf, (uint8_t)c)) < 0)
            return err;
        i++;
    }
    /* end of data: close the last field unless the record is empty */
    if (i > start) {
        if (r->n < IOC_MAX_FIELDS) {
            r->len[r->n] = r->buf.len - r->off[r->n];
            r->n++;
        }
        if ((err = cr_buf_put_u8(&r->buf, 0)) < 0)
            return err;
    }
    *pos = i;
    return 0;
}

static const char *fld(const csv_rec *r, size_t i, size_t *len)
{
    *len = r->len[i];
    return (const char *)r->buf.ptr + r->off[i];
}

/* Trim blanks around a field in place (returns the new start, *len updated). */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n && (is_blank(*s) || *s == '\n'))
        s++, n--;
    while (n && (is_blank(s[n - 1]) || s[n - 1] == '\n'))
        n--;
    *len = n;
    return s;
}

static int field_is(const csv_rec *r, size_t i, const char *word)
{
    size_t n;
    const char *s = trim(fld(r, i, &n), &n);
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* The hash type named by a MISP type ("sha256", "filename|sha256", "malware-sample"), or -1. */
static int misp_type(const char *s, size_t n)
{
    static const char *const names[3] = {"md5", "sha1", "sha256"};
    if (n == 14 && strncasecmp(s, "malware-sample", 14) == 0)
        return 0;
    const char *bar = memchr(s, '|', n);
    if (bar) {
        /* the last part names the hash */
        const char *last = s + n;
        while (last > s && last[-1] != '|')
            last--;
        n -= (size_t)(last - s);
        s = last;
    }
    for (int i = 0; i < 3; i++)
        if (n == strlen(names[i]) && strncasecmp(s, names[i], n) == 0)
            return i;
    return -1;
}

static int misp_parse(ioc_parse *ps, const char *s, size_t n, size_t pos, size_t lineno,
                      const csv_rec *header)
{
    size_t col_type = SIZE_MAX, col_value = SIZE_MAX, col_comment = SIZE_MAX;
    for (size_t i = 0; i < header->n; i++) {
        if (col_type == SIZE_MAX && field_is(header, i, "type"))
            col_type = i;
        else if (col_value == SIZE_MAX && field_is(header, i, "value"))
            col_value = i;
        else if (col_comment == SIZE_MAX && field_is(header, i, "comment"))
            col_comment = i;
    }
    size_t need = (col_type > col_value ? col_type : col_value) + 1;
    csv_rec *r = cr_calloc(1, sizeof(*r));
    int err = 0;
    if (!r)
        return CR_ERROR;
    r->buf.max = IOC_MAX_RECORD + 16;
    while (pos < n) {
        size_t line = lineno, lines = 0;
        if ((err = csv_read(r, s, n, &pos, &lines)) < 0) {
            if (err == CR_EINPUT) { /* over buf.max: cannot happen, csv_read cuts first */
                err = 0;
                ioc_bad(ps, line, "record too long");
                lineno += lines;
                continue;
            }
            goto done;
        }
        lineno += lines;
        if (r->too_long) {
            ioc_bad(ps, line, "record longer than %u bytes", IOC_MAX_RECORD);
            continue;
        }
        if (r->unterminated) {
            ioc_bad(ps, line, "a quoted field is not closed");
            continue;
        }
        if (r->n == 0 || (r->n == 1 && r->len[0] == 0))
            continue; /* blank line */
        if (r->n < need) {
            ioc_bad(ps, line, "%zu fields where the header has %zu", r->n, header->n);
            continue;
        }
        size_t tl, vl;
        const char *type = trim(fld(r, col_type, &tl), &tl);
        const char *value = trim(fld(r, col_value, &vl), &vl);
        int ti = misp_type(type, tl);
        if (ti < 0)
            continue; /* not a file hash: ignored */
        /* a composite value is "name|hash": the hash is the last part */
        const char *hash = value, *fname = NULL;
        size_t hl = vl, fl = 0;
        const char *bar = vl ? memchr(value, '|', vl) : NULL;
        if (bar) {
            const char *last = value + vl;
            while (last[-1] != '|')
                last--;
            hash = last;
            hl = (size_t)(value + vl - last);
            fname = value;
            fl = (size_t)(bar - value);
        }
        hash = trim(hash, &hl);
        if (hl != 2 * digest_len[ti] || type_by_hexlen(hl) != ti) {
            char ex[64];
            excerpt(ex, sizeof(ex), hash, hl);
            ioc_bad(ps, line, "value \"%s\" is not a %s hash", ex, type_name[ti]);
            continue;
        }
        size_t k;
        for (k = 0; k < hl && hexv[(unsigned char)hash[k]] >= 0; k++)
            ;
        if (k != hl) {
            char ex[64];
            excerpt(ex, sizeof(ex), hash, hl);
            ioc_bad(ps, line, "value \"%s\" is not a %s hash", ex, type_name[ti]);
            continue;
        }
        const char *cm = NULL;
        size_t cl = 0;
        if (col_comment < r->n)
            cm = trim(fld(r, col_comment, &cl), &cl);
        uint32_t comment = 0;
        if ((err = put_comment(ps, cm ? cm : "", cl, fname, fl, &comment)) < 0)
            goto done;
        if ((err = add_hash(ps, ti, hash, comment)) < 0)
            goto done;
    }
done:
    cr_buf_free(&r->buf);
    free(r);
    return err;
}

/* Whether a record is a MISP header: it names both a "type" and a "value" column. */
static int is_misp_header(const csv_rec *r)
{
    int t = 0, v = 0;
    for (size_t i = 0; i < r->n; i++) {
        t |= field_is(r, i, "type");
        v |= field_is(r, i, "value");
    }
    return r->n >= 2 && t && v;
}

int hn_ioc_add_list(hn_ioc_set *set, const char *name, const void *data, size_t len, size_t *bad,
                    cr_warning_cb warn, void *payload)
{
    const char *s = data;
    size_t pos = 0, lineno = 1;
    int err = 0;
    char clean_name[IOC_MAX_NAME + 1];
    csv_rec *hdr = NULL;
    ioc_parse ps = {.set = set, .warn = warn, .payload = payload};
    if (bad)
        *bad = 0;
    if (!set || (!data && len)) {
        cr_error_set("IOC list: no data");
        return CR_EINPUT;
    }
    hex_init();
    if (!name)
        name = "(IOC list)";
    hn_text_clean(clean_name, sizeof(clean_name), name, strlen(name));
    ps.name = clean_name;
    if (set->nlists >= IOC_MAX_LISTS) {
        cr_error_set("too many IOC lists (at most %d)", IOC_MAX_LISTS);
        err = CR_EINPUT;
        goto done;
    }
    ps.list = (uint32_t)set->nlists;
    for (int i = 0; i < 3; i++)
        ps.old_n[i] = set->t[i].n;

    /* UTF-8 byte order mark */
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        pos = 3;

    /* The first line that is neither blank nor a comment tells the format. */
    size_t p = pos, ln = lineno;
    while (p < len) {
        const char *nl = memchr(s + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - s) : len, q = p;
        while (q < e && is_blank(s[q]))
            q++;
        if (q < e && s[q] != '#')
            break;
        p = nl ? e + 1 : len;
        ln++;
    }
    int misp = 0;
    if (p < len) {
        hdr = cr_calloc(1, sizeof(*hdr));
        if (!hdr) {
            err = CR_ERROR;
            goto done;
        }
        hdr->buf.max = IOC_MAX_RECORD + 16;
        size_t hp = p, lines = 0;
        if ((err = csv_read(hdr, s, len, &hp, &lines)) < 0 && err != CR_EINPUT)
            goto done;
        if (err == 0 && !hdr->too_long && !hdr->unterminated && is_misp_header(hdr)) {
            misp = 1;
            if ((err = misp_parse(&ps, s, len, hp, ln + lines, hdr)) < 0)
                goto done;
        }
        err = 0;
    }
    if (!misp) {
        while (pos < len) {
            const char *nl = memchr(s + pos, '\n', len - pos);
            size_t e = nl ? (size_t)(nl - s) : len;
            if ((err = plain_line(&ps, s + pos, e - pos, lineno)) < 0)
                goto done;
            pos = nl ? e + 1 : len;
            lineno++;
        }
    }
    if (ps.warn && ps.warned < ps.bad) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%zu more lines not understood (not shown)", ps.bad - ps.warned);
        ps.warn(ps.name, msg, ps.payload);
    }
    if (ps.added == 0 && ps.bad > 0) {
        cr_error_set("IOC list %s: no MD5, SHA-1 or SHA-256 hash found (%zu lines not "
                     "understood, the first at line %zu); expected one hash per line or a "
                     "MISP CSV export",
                     ps.name, ps.bad, ps.first_bad_line);
        err = CR_EINPUT;
        goto done;
    }
    /* Keep the list: its name, and what the fingerprint needs. */
    ioc_list *lists = cr_realloc(set->lists, (set->nlists + 1) * sizeof(*lists));
    if (!lists) {
        err = CR_ERROR;
        goto done;
    }
    set->lists = lists;
    ioc_list *l = &lists[set->nlists];
    memset(l, 0, sizeof(*l));
    l->len = len;
    if (!EVP_Digest(data ? data : "", len, l->sha256, NULL, EVP_sha256(), NULL)) {
        cr_error_set("IOC list %s: SHA-256 failed", ps.name);
        err = CR_ERROR;
        goto done;
    }
    if (!(l->name = cr_strdup(clean_name))) {
        err = CR_ERROR;
        goto done;
    }
    set->nlists++;
    for (int i = 0; i < 3; i++)
        if (set->t[i].n != ps.old_n[i])
            table_settle(&set->t[i]);
done:
    if (err < 0) {
        /* roll back what this list added */
        for (int i = 0; i < 3; i++)
            if (set && set->t[i].n > ps.old_n[i])
                set->t[i].n = ps.old_n[i];
    }
    if (bad)
        *bad = ps.bad;
    if (hdr)
        cr_buf_free(&hdr->buf);
    free(hdr);
    return err;
}
