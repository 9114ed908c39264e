/*
 * Sets of ids (blob, pack, tree ids) with a small value each: open addressing
 * with linear probing, at most half full. Ids are uniformly random (hashes),
 * so their first bytes are the hash. Used by verify and prune.
 */
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

static size_t idset_slot(const cr_idset *s, const cr_id *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    size_t mask = s->cap - 1, i = (size_t)h & mask;
    while (s->vals[i] && memcmp(&s->keys[i], id, sizeof(cr_id)) != 0)
        i = (i + 1) & mask;
    return i;
}

int cr_idset_get(const cr_idset *s, const cr_id *id)
{
    if (!s->cap)
        return 0;
    return s->vals[idset_slot(s, id)];
}

int cr_idset_put(cr_idset *s, const cr_id *id, uint8_t val)
{
    if ((s->n + 1) * 2 > s->cap) {
        cr_idset old = *s;
        size_t ncap = s->cap ? s->cap * 2 : 256;
        cr_id *k = cr_malloc(ncap * sizeof(cr_id));
        uint8_t *v = cr_calloc(ncap, 1);
        if (!k || !v) {
            free(k);
            free(v);
            return CR_ERROR;
        }
        s->keys = k;
        s->vals = v;
        s->cap = ncap;
        for (size_t i = 0; i < old.cap; i++)
            if (old.vals[i]) {
                size_t j = idset_slot(s, &old.keys[i]);
                s->keys[j] = old.keys[i];
                s->vals[j] = old.vals[i];
            }
        free(old.keys);
        free(old.vals);
    }
    size_t i = idset_slot(s, id);
    if (!s->vals[i]) {
        s->keys[i] = *id;
        s->n++;
    }
    s->vals[i] = val;
    return 0;
}

void cr_idset_free(cr_idset *s)
{
    free(s->keys);
    free(s->vals);
    memset(s, 0, sizeof(*s));
}

