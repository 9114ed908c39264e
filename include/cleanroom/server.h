/*
 * cleanroom: the vault server. It owns the vault's storage and serves it over
 * HTTPS to production machines, which can add objects and read them, never
 * remove, replace or hide one (docs/security.md, docs/commands/server.md).
 */
#ifndef CLEANROOM_SERVER_H
#define CLEANROOM_SERVER_H

#include "common.h"
#include "repo.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a token may do. */
typedef enum cr_token_role {
    CR_ROLE_READ = 1,   /**< read objects and listings */
    CR_ROLE_BACKUP = 2, /**< read, add new objects, take and release its own locks */
    CR_ROLE_ADMIN = 3,  /**< everything, from the vault host itself (loopback) only */
} cr_token_role;

/** "read", "backup", "admin"; NULL for an unknown role. */
const char *cr_token_role_name(cr_token_role role);
/** @return 0 and *out, or CR_EINPUT. */
int cr_token_role_parse(cr_token_role *out, const char *name);

/** What cr_server_init made. */
typedef struct cr_server_init_result {
    char config[4096];      /**< path of the server's config file */
    char fingerprint[128];  /**< "sha256//BASE64": pin of the TLS public key */
    int vault_created;      /**< 1 if a new vault was made in the folder */
} cr_server_init_result;

/**
 * Prepare folder `dir` to be served: the vault (made with `passphrase` if
 * there is none; NULL passphrase: there must be one), a config file
 * dir/server/server.json with sane defaults (listen on 127.0.0.1:8443), and a
 * self-signed TLS certificate and key (dir/server/tls.crt, tls.key, 0600).
 * An existing config is kept (CR_EEXISTS). vault_opts (may be NULL) are those of
 * cr_repo_init for a new vault.
 */
int cr_server_init(cr_server_init_result *out, const char *dir, const char *passphrase,
                   const cr_init_options *vault_opts);

/** A token as listed (never the token itself, which only its holder has). */
typedef struct cr_token_info {
    char id[17];       /**< first 16 hex digits of its hash: how to name it */
    char label[128];
    cr_token_role role;
    char sources[512]; /**< comma-separated, "" for any */
    int64_t created_s, expires_s; /**< expires_s 0: never */
    int revoked;
} cr_token_info;

/**
 * Add a token to the server whose config file is `config`; the token is
 * written to token_out (printed once by the caller; only its hash is kept).
 * @param expires_s Unix time it stops working, 0 for never.
 */
int cr_server_token_add(char token_out[80], const char *config, cr_token_role role,
                        const char *const *sources, size_t nsources, const char *label,
                        int64_t expires_s);
/** The server's tokens (free *out). */
int cr_server_token_list(cr_token_info **out, size_t *n, const char *config);
/** Revoke the token with this label or id (prefix). CR_ENOTFOUND, CR_EAMBIGUOUS. */
int cr_server_token_revoke(const char *config, const char *label_or_id);

/** Options of cr_server_run. */
typedef struct cr_server_options {
    const char *listen;     /**< "ADDR:PORT", NULL: the config's */
    /** Called for each log line (refused requests...); NULL: stderr. */
    void (*log)(int refused, const char *line, void *payload);
    void *payload;
    /** Set to 1 (from a signal handler) to stop; checked every 200 ms. */
    volatile int *stop;
    /** Called once listening, with the port (useful with port 0). */
    void (*ready)(int port, void *payload);
} cr_server_options;

/** Serve until *opts->stop. @return 0 after a clean stop, or an error. */
int cr_server_run(const char *config, const cr_server_options *opts);

#ifdef __cplusplus
}
#endif
#endif
