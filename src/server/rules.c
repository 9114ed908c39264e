/*
 * What the vault server accepts: request paths, what each role may do, body
 * limits and the check that a write-once object is named by its own hash.
 * Pure functions of their arguments (fuzzed: tests/fuzz/fuzz_server_path.c).
 */
#include "server/server.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SMALL (64u * 1024)                  /* config, keys, locks, plans */
#define MAX_PACK_BODY (256ull * 1024 * 1024)    /* CR_MAX_PACK */
#define MAX_META_BODY (1024ull * 1024 * 1024)   /* CR_MAX_META_FILE */

/* 1 if s[0..n) are lowercase hex digits. */
static int hexn(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* 1 if s is exactly n lowercase hex digits. */
static int is_hex(const char *s, size_t n)
{
    return strlen(s) == n && hexn(s, n);
}

static const char *const sealed_dirs[] = {"index", "snapshots", "hunt", "journals", "runs",
                                          "runsum"};

/* The kind of object name `n` (a valid store name), or 0 if the server does not serve it. */
static cr_srv_kind name_kind(const char *n)
{
    if (!strcmp(n, "config"))
        return SRV_CONFIG;
    if (!strncmp(n, "keys/", 5) && is_hex(n + 5, 64))
        return SRV_KEY;
    if (!strncmp(n, "data/", 5) && strlen(n) == 5 + 2 + 1 + 64 && hexn(n + 5, 2) &&
        n[7] == '/' && is_hex(n + 8, 64) && !strncmp(n + 5, n + 8, 2))
        return SRV_SEALED;
    if (!strncmp(n, "forget/", 7) && is_hex(n + 7, 64))
        return SRV_FORGET;
    for (size_t i = 0; i < sizeof(sealed_dirs) / sizeof(sealed_dirs[0]); i++) {
        size_t l = strlen(sealed_dirs[i]);
        if (!strncmp(n, sealed_dirs[i], l) && n[l] == '/' && is_hex(n + l + 1, 64))
            return SRV_SEALED;
    }
    if (!strncmp(n, "locks/", 6)) {
        if (!strncmp(n + 6, ".prune-", 7) && is_hex(n + 13, 32))
            return SRV_PLAN;
        if (is_hex(n + 6, 32))
            return SRV_LOCK;
    }
    return 0;
}

/* 1 if `d` is a folder of the vault that may be listed. */
static int dir_ok(const char *d)
{
    static const char *const dirs[] = {"", "keys", "data", "index", "snapshots",
                                       "locks", "hunt", "forget", "journals", "runs",
                                       "runsum"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (!strcmp(d, dirs[i]))
            return 1;
    return !strncmp(d, "data/", 5) && is_hex(d + 5, 2);
}

int cr_srv_parse(cr_srv_op *op, cr_srv_kind *kind, char name[CR_STORE_MAX_NAME + 1],
                 const char *method, const char *url, const char **why)
{
    const char *rest;
    int list = 0;
    if (!strncmp(url, "/v1/o/", 6)) {
        rest = url + 6;
    } else if (!strncmp(url, "/v1/list/", 9) || !strcmp(url, "/v1/list")) {
        rest = url[8] ? url + 9 : "";
        list = 1;
    } else {
        *why = "no such route";
        return 404;
    }
    if (strlen(rest) > CR_STORE_MAX_NAME || (rest[0] && !cr_store_name_ok(rest))) {
        *why = "not a valid object name";
        return 400;
    }
    strcpy(name, rest);
    if (list) {
        if (strcmp(method, "GET") != 0) {
            *why = "listings are read with GET";
            return 405;
        }
        if (!dir_ok(name)) {
            *why = "not a folder of the vault";
            return 404;
        }
        *op = SRV_LIST;
        *kind = SRV_DIR;
        return 0;
    }
    if (!(*kind = name_kind(name))) {
        *why = "not the name of a vault object";
        return 400;
    }
    if (!strcmp(method, "GET"))
        *op = SRV_GET;
    else if (!strcmp(method, "HEAD"))
        *op = SRV_HEAD;
    else if (!strcmp(method, "PUT"))
        *op = SRV_PUT;
    else if (!strcmp(method, "DELETE"))
        *op = SRV_DELETE;
    else {
        *why = "method not allowed";
        return 405;
    }
    return 0;
}

int cr_srv_allowed(cr_token_role role, cr_srv_op op, cr_srv_kind kind, int loopback,
                   const char **why)
{
    int reading = op == SRV_GET || op == SRV_HEAD || op == SRV_LIST;
    switch (role) {
    case CR_ROLE_ADMIN:
        if (!loopback) {
            *why = "an admin token is accepted from the vault host itself only";
            return 403;
        }
        return 0;
    case CR_ROLE_BACKUP:
        if (reading)
            return 0;
        if (op == SRV_PUT && (kind == SRV_SEALED || kind == SRV_LOCK))
            return 0;
        if (op == SRV_DELETE && kind == SRV_LOCK)
            return 0; /* only its own: checked by the server */
        *why = op == SRV_DELETE ? "a backup token never deletes"
               : kind == SRV_KEY || kind == SRV_CONFIG
                   ? "a backup token cannot write keys or the vault's config"
               : kind == SRV_FORGET
                   ? "snapshots are forgotten from the vault host (admin token) only"
                   : "a backup token cannot write this";
        return 403;
    case CR_ROLE_READ:
        if (reading)
            return 0;
        *why = "a read token cannot write";
        return 403;
    }
    *why = "unknown role";
    return 403;
}

uint64_t cr_srv_max_body(cr_srv_kind kind)
{
    switch (kind) {
    case SRV_SEALED:
    case SRV_FORGET: return MAX_META_BODY > MAX_PACK_BODY ? MAX_META_BODY : MAX_PACK_BODY;
    default: return MAX_SMALL;
    }
}

int cr_srv_check_body(cr_srv_kind kind, const char *name, const void *data, size_t len,
                      const char **why)
{
    uint8_t h[32];
    char hex[65];
    if (kind != SRV_SEALED && kind != SRV_KEY && kind != SRV_FORGET)
        return 0;
    if (!strncmp(name, "data/", 5) && len > MAX_PACK_BODY) {
        *why = "a pack is at most 256 MiB";
        return 413;
    }
    crypto_hash_sha256(h, data, len);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    if (strcmp(strrchr(name, '/') + 1, hex) != 0) {
        *why = "the object's name is not the SHA-256 of its bytes";
        return 400;
    }
    return 0;
}

int cr_srv_parse_range(uint64_t *start, uint64_t *len, const char *h, uint64_t size)
{
    unsigned long long a, b;
    char *end;
    if (strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
        return -1;
    errno = 0;
    a = strtoull(h + 6, &end, 10);
    if (errno || *end != '-')
        return -1;
    if (end[1] == '\0') {
        b = size ? size - 1 : 0;
    } else {
        const char *p = end + 1;
        if (*p < '0' || *p > '9')
            return -1;
        b = strtoull(p, &end, 10);
        if (errno || *end != '\0')
            return -1;
    }
    if (a > b || a >= size)
        return -1;
    if (b >= size)
        b = size - 1;
    *start = a;
    *len = b - a + 1;
    return 0;
}
