/*
 * Fuzz target: the two hunt file types of src/hunt/store.c (plaintext after
 * decryption). Every input is tried as a hunt record and as a facts file.
 * Whatever decodes must encode, decode again to the same thing, and encode to
 * the same bytes.
 */
#include "hunt/hunt.h"

#include <stdlib.h>
#include <string.h>

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int finding_eq(const cr_finding *a, const cr_finding *b)
{
    return !memcmp(&a->snapshot, &b->snapshot, sizeof(cr_id)) && str_eq(a->source, b->source) &&
           a->time_ns == b->time_ns && str_eq(a->path, b->path) && a->category == b->category &&
           a->severity == b->severity && str_eq(a->indicator, b->indicator) &&
           str_eq(a->detail, b->detail) && str_eq(a->evidence, b->evidence) &&
           a->has_content == b->has_content &&
           (!a->has_content || !memcmp(&a->content, &b->content, sizeof(cr_id))) &&
           !memcmp(&a->first_seen, &b->first_seen, sizeof(cr_id)) &&
           a->first_seen_ns == b->first_seen_ns && cr_finding_same(a, b);
}

static int record_eq(const hn_record *a, const hn_record *b)
{
    if (memcmp(&a->snapshot, &b->snapshot, sizeof(cr_id)) || a->has_pred != b->has_pred ||
        (a->has_pred && memcmp(&a->pred, &b->pred, sizeof(cr_id))) ||
        strcmp(a->ruleset, b->ruleset) || a->hunted_ns != b->hunted_ns ||
        a->nfindings != b->nfindings || a->files_judged != b->files_judged ||
        a->contents_scanned != b->contents_scanned || a->contents_cached != b->contents_cached ||
        a->errors != b->errors || !str_eq(a->source, b->source) || a->time_ns != b->time_ns)
        return 0;
    for (size_t i = 0; i < a->nfindings; i++)
        if (!finding_eq(&a->findings[i], &b->findings[i]))
            return 0;
    return 1;
}

static void try_record(const uint8_t *data, size_t size)
{
    hn_record r, s;
    cr_buf b1 = CR_BUF_INIT, b2 = CR_BUF_INIT;
    if (hn_record_decode(&r, data, size) != 0)
        return;
    if (hn_record_encode(&b1, &r) != 0 || hn_record_decode(&s, b1.ptr, b1.len) != 0)
        abort();
    if (!record_eq(&r, &s) || hn_record_encode(&b2, &s) != 0 || b1.len != b2.len ||
        memcmp(b1.ptr, b2.ptr, b1.len) != 0)
        abort();
    for (size_t i = 0; i < r.nfindings; i++) {
        cr_finding c;
        if (cr_finding_copy(&c, &r.findings[i]) != 0 || !finding_eq(&c, &r.findings[i]))
            abort();
        cr_finding_clear(&c);
    }
    hn_record_clear(&r);
    hn_record_clear(&s);
    cr_buf_free(&b1);
    cr_buf_free(&b2);
}

static void try_facts(const uint8_t *data, size_t size)
{
    hn_cache *c = NULL, *d = NULL;
    cr_buf b1 = CR_BUF_INIT, b2 = CR_BUF_INIT;
    size_t n1, n2;
    cr_id file;
    memset(&file, 0x11, sizeof(file));
    if (hn_cache_new(&c) != 0)
        abort();
    if (hn_cache_merge_file(c, data, size, &file) != 0) {
        if (hn_cache_count(c) != 0) /* all or nothing */
            abort();
        hn_cache_free(c);
        return;
    }
    if (hn_cache_encode(&b1, &n1, c, 0, 12345) != 0 || n1 != hn_cache_count(c) ||
        hn_cache_new(&d) != 0 || hn_cache_merge_file(d, b1.ptr, b1.len, &file) != 0 ||
        hn_cache_count(d) != n1 || hn_cache_encode(&b2, &n2, d, 0, 12345) != 0 || n2 != n1 ||
        b1.len != b2.len || memcmp(b1.ptr, b2.ptr, b1.len) != 0)
        abort();
    hn_cache_free(c);
    hn_cache_free(d);
    cr_buf_free(&b1);
    cr_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_record(data, size);
    try_facts(data, size);
    return 0;
}
