/*
 * Fuzz target: the journal verifier (the whole file from memory). The
 * entries returned are always the intact prefix: numbered 1..n, each hash
 * 64 hex digits; a torn verdict only when the input does not end with a
 * newline; the head is the last entry's hash.
 *
 * The hash keeps random bytes from reaching the JSON checks, so the input is
 * also read a second way: each of its lines that ends with '}' is taken as
 * an entry without its hash, and given its right one, so that the decoding
 * of the fields and the chain checks are fuzzed too.
 */
#include "recover/plan_priv.h"
#include "util/util.h"
#include "vault/vault.h"

#include <stdlib.h>
#include <string.h>

static void check(const uint8_t *data, size_t size);

static void with_hashes(const uint8_t *data, size_t size)
{
    cr_buf b = CR_BUF_INIT;
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len > 0 && p[len - 1] == '}') {
            uint8_t h[32];
            char hex[65];
            cr_sha256(h, p, len);
            cr_hex_encode(hex, h, 32);
            cr_buf_put(&b, p, len - 1);
            cr_buf_put(&b, ",\"hash\":\"", 9);
            cr_buf_put(&b, hex, 64);
            cr_buf_put(&b, "\"}", 2);
        } else {
            cr_buf_put(&b, p, len);
        }
        if (nl)
            cr_buf_put(&b, "\n", 1);
        p += len + (nl ? 1 : 0);
    }
    check(b.ptr ? b.ptr : (const uint8_t *)"", b.len);
    cr_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    with_hashes(data, size);
    return 0;
}

static void check(const uint8_t *data, size_t size)
{
    cr_journal_entry *e = NULL;
    size_t n = 0, good = 0;
    uint64_t bad = 0;
    int torn = 0;
    char head[CR_ID_HEX_LEN + 1];
    int err = cr_journal_verify_buffer(&e, &n, &bad, &torn, &good, head, data, size);
    if (err != 0 && err != CR_ECORRUPT && err != CR_ERROR)
        abort();
    if (err == 0 && (bad != 0 || torn || good != size))
        abort();
    if (err == CR_ECORRUPT && bad != n + 1)
        abort();
    if (torn && size > 0 && data[size - 1] == '\n')
        abort();
    if (good > size || (good > 0 && data[good - 1] != '\n'))
        abort();
    for (size_t i = 0; i < n; i++)
        if (e[i].seq != i + 1 || strlen(e[i].hash) != CR_ID_HEX_LEN || !e[i].type)
            abort();
    if (n > 0 && strcmp(head, e[n - 1].hash) != 0)
        abort();
    cr_journal_entries_free(e, n);
}
