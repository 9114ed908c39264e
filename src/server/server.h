/*
 * Private interfaces of the vault server (src/server): its config, tokens and
 * the request rules that decide what each role may do.
 */
#ifndef CR_SERVER_PRIV_H
#define CR_SERVER_PRIV_H

#include "cleanroom/cleanroom.h"
#include "store/store.h"
#include "util/util.h"

#include <jansson.h>
#include <limits.h>

typedef struct cr_srv_config {
    char path[PATH_MAX];   /* of the config file */
    char *storage;         /* the vault's store location (folder resolved) */
    char *listen;          /* "ADDR:PORT" */
    char cert[PATH_MAX], key[PATH_MAX], tokens[PATH_MAX];
    unsigned max_connections, max_per_ip, timeout_s, threads, max_refusals;
    uint64_t max_inflight; /* bytes of uploads held in memory at once */
    int immutable;         /* set FS_IMMUTABLE_FL on stored files */
} cr_srv_config;

int cr_srv_config_load(cr_srv_config *c, const char *path);
void cr_srv_config_clear(cr_srv_config *c);

typedef struct cr_srv_token {
    uint8_t hash[32];
    cr_token_info info;
} cr_srv_token;

typedef struct cr_srv_tokens {
    cr_srv_token *v;
    size_t n;
} cr_srv_tokens;

int cr_srv_tokens_load(cr_srv_tokens *t, const char *path);
void cr_srv_tokens_clear(cr_srv_tokens *t);

/* What a request asks, once its path is parsed (rules.c). */
typedef enum cr_srv_op { SRV_GET = 1, SRV_HEAD, SRV_PUT, SRV_DELETE, SRV_LIST } cr_srv_op;

/** Kinds of object names the server serves. */
typedef enum cr_srv_kind {
    SRV_CONFIG = 1, /* "config" */
    SRV_KEY,        /* keys/<sha256> */
    SRV_SEALED,     /* data/xx/<sha256>, index/, snapshots/, hunt/, journals/, runs/ */
    SRV_FORGET,     /* forget/<sha256>: retention, admin only */
    SRV_LOCK,       /* locks/<hex> */
    SRV_PLAN,       /* locks/.prune-<hex> */
    SRV_DIR,        /* a folder, for listings */
} cr_srv_kind;

/**
 * Parse "/v1/o/NAME" or "/v1/list/DIR" for `method` into op, kind and name
 * (a store name; "" for the top folder). @return 0, or an HTTP status (400,
 * 404, 405) with *why set.
 */
int cr_srv_parse(cr_srv_op *op, cr_srv_kind *kind, char name[CR_STORE_MAX_NAME + 1],
                 const char *method, const char *url, const char **why);
/**
 * May `role` do op on kind (from a loopback address or not)? @return 0, or 403
 * with *why.
 */
int cr_srv_allowed(cr_token_role role, cr_srv_op op, cr_srv_kind kind, int loopback,
                   const char **why);
/** Largest body accepted for a PUT of this kind. */
uint64_t cr_srv_max_body(cr_srv_kind kind);
/**
 * Check the body of a PUT: sealed objects and keys must be named by the
 * SHA-256 of their bytes. @return 0 or 400 with *why.
 */
int cr_srv_check_body(cr_srv_kind kind, const char *name, const void *data, size_t len,
                      const char **why);

/**
 * "bytes=A-B" or "bytes=A-" of an object of `size` bytes (one range only).
 * @return 0 with [*start, *start + *len) inside the object, or -1 (416).
 */
int cr_srv_parse_range(uint64_t *start, uint64_t *len, const char *h, uint64_t size);

#endif
