/*
 * cleanroom: the web console. The clean room seen from a browser by the
 * hospital's IT staff (French first): who is protected, who is late, which
 * restore point is clean. Served over HTTPS by cleanroom itself, with local
 * accounts (Argon2id), sessions, CSRF tokens and roles (docs/console.md,
 * docs/security.md).
 */
#ifndef CLEANROOM_CONSOLE_H
#define CLEANROOM_CONSOLE_H

#include "common.h"
#include "jobs.h"
#include "repo.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The console's config file when none is given. */
#define CR_CONSOLE_DEFAULT_CONFIG "/etc/cleanroom/console/console.json"

/** What an account may do. */
typedef enum cr_console_role {
    CR_CONSOLE_VIEWER = 1,   /**< "lecteur": sees everything, changes nothing */
    CR_CONSOLE_OPERATOR = 2, /**< "opérateur": restores, drills */
    CR_CONSOLE_ADMIN = 3,    /**< "admin": recoveries, accounts */
} cr_console_role;

/** "lecteur", "opérateur", "admin"; NULL for an unknown role. */
const char *cr_console_role_name(cr_console_role role);
/** Also accepts "operateur" and the English viewer/operator. @return 0 or CR_EINPUT. */
int cr_console_role_parse(cr_console_role *out, const char *name);

/**
 * Add an account to the console whose config file is `config` (NULL: the
 * default); its password is kept as an Argon2id hash in the users file (0600).
 * @return 0, CR_EEXISTS (that name exists), CR_EINPUT (bad name or password).
 */
int cr_console_user_add(const char *config, const char *name, cr_console_role role,
                        const char *password);
/** Remove an account (its sessions end at the next request). CR_ENOTFOUND. */
int cr_console_user_remove(const char *config, const char *name);

/** What cr_console_run tells once listening. */
typedef struct cr_console_ready {
    int port;
    const char *url;         /**< "https://127.0.0.1:8444/" */
    const char *fingerprint; /**< "sha256//BASE64" of the TLS key; "" without TLS */
    int cert_made;           /**< 1: the certificate was made by this start */
} cr_console_ready;

/** Options of cr_console_run. */
typedef struct cr_console_options {
    unsigned version;
    const char *config;  /**< NULL: CR_CONSOLE_DEFAULT_CONFIG (it may not exist: defaults) */
    const char *listen;  /**< "ADDR:PORT", NULL: the config's (127.0.0.1:8444) */
    const char *assets;  /**< the folder of the console's HTML, CSS and JavaScript */
    cr_repo *repo;       /**< the vault shown (opened by the caller) */
    const cr_jobs *jobs; /**< the jobs file (RPOs), may be NULL */
    /** Each log line (logins, actions, refusals); NULL: stderr. */
    void (*log)(int refused, const char *line, void *payload);
    /** Called once listening. */
    void (*ready)(const cr_console_ready *info, void *payload);
    void *payload;
    /** Set to 1 (from a signal handler) to stop; checked every 200 ms. */
    volatile int *stop;
} cr_console_options;

#define CR_CONSOLE_OPTIONS_VERSION 1
#define CR_CONSOLE_OPTIONS_INIT {CR_CONSOLE_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/**
 * Serve the console until *opts->stop. TLS is on unless the config says
 * "tls": false, which is refused for an address other than loopback
 * (CR_EINPUT); a missing certificate is made (self-signed) on the first start.
 * @return 0 after a clean stop, or an error.
 */
int cr_console_run(const cr_console_options *opts);

#ifdef __cplusplus
}
#endif
#endif
