/*
 * Fuzz target: snapshot JSON decoding, with a round trip. Whatever decodes
 * must encode, and decode again to the same snapshot.
 */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

static int strv_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_snapshot *s = NULL, *t = NULL;
    cr_buf b = CR_BUF_INIT;
    if (cr_snapshot_decode(&s, data, size) != 0)
        return 0;
    if (cr_snapshot_encode(&b, s) != 0 || cr_snapshot_decode(&t, b.ptr, b.len) != 0)
        abort();
    if (strcmp(s->source, t->source) != 0 || s->time_ns != t->time_ns ||
        !str_eq(s->hostname, t->hostname) || !str_eq(s->username, t->username) ||
        !strv_eq(s->paths, s->npaths, t->paths, t->npaths) ||
        !strv_eq(s->tags, s->ntags, t->tags, t->ntags) ||
        !strv_eq(s->excludes, s->nexcludes, t->excludes, t->nexcludes) ||
        memcmp(&s->tree, &t->tree, sizeof(s->tree)) != 0 || s->has_parent != t->has_parent ||
        (s->has_parent && memcmp(&s->parent, &t->parent, sizeof(s->parent)) != 0) ||
        s->files != t->files || s->dirs != t->dirs || s->others != t->others ||
        s->bytes != t->bytes || s->bytes_new != t->bytes_new || s->files_new != t->files_new ||
        s->files_changed != t->files_changed || s->files_unchanged != t->files_unchanged ||
        s->errors != t->errors || s->duration != t->duration)
        abort();
    cr_snapshot_free(s);
    cr_snapshot_free(t);
    cr_buf_free(&b);
    return 0;
}
