/*
 * cleanroom: opening a vault and managing its passphrases.
 */
#ifndef CLEANROOM_REPO_H
#define CLEANROOM_REPO_H

#include "common.h"
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open vault. Opaque; freed with cr_repo_free(). */
typedef struct cr_repo cr_repo;

/** Cost of the Argon2id passphrase derivation recorded in a key file. */
typedef enum cr_kdf_profile {
    CR_KDF_MODERATE = 0,    /**< default: 256 MiB, 3 passes (about a second) */
    CR_KDF_INTERACTIVE = 1, /**< 64 MiB, 2 passes: for tests and small machines */
    CR_KDF_SENSITIVE = 2,   /**< 1 GiB, 4 passes */
} cr_kdf_profile;

#define CR_INIT_OPTIONS_VERSION 1
typedef struct cr_init_options {
    unsigned int version;
    cr_kdf_profile kdf;
    int compression_level; /**< zstd level for data blobs, 0 = default (3) */
} cr_init_options;
#define CR_INIT_OPTIONS_INIT {CR_INIT_OPTIONS_VERSION, CR_KDF_MODERATE, 0}

/**
 * Create a new, empty vault in the directory `path` (created if missing; it
 * must be empty if it exists) protected by `passphrase`.
 * @return 0, CR_EEXISTS if a vault or other files are already there, or an error.
 */
int cr_repo_init(const char *path, const char *passphrase, const cr_init_options *opts);

/**
 * Open the vault at `path` with `passphrase`.
 * @param[out] out the open vault, freed with cr_repo_free().
 * @return 0, CR_ENOTFOUND (no vault there), CR_EAUTH (no key file opens with
 *         that passphrase), CR_EVERSION, CR_ECORRUPT or an error.
 */
int cr_repo_open(cr_repo **out, const char *path, const char *passphrase);

/**
 * 1 if `location` names a vault elsewhere than a local folder: a cleanroom
 * vault server ("https://HOST:PORT/") or an S3 bucket ("s3:http(s)://...").
 */
int cr_repo_is_remote(const char *location);

/** Close a vault and wipe its keys from memory. Accepts NULL. */
void cr_repo_free(cr_repo *repo);

/** The vault's directory (borrowed). */
const char *cr_repo_path(const cr_repo *repo);

/** The vault's random identifier, as 64 hex digits (borrowed). */
const char *cr_repo_id(const cr_repo *repo);

/** A passphrase slot (key file) of the vault. */
typedef struct cr_key_info {
    char id[CR_ID_HEX_LEN + 1]; /**< name of the key file */
    char hostname[256];         /**< machine where it was added */
    char username[64];          /**< account that added it */
    int64_t created;            /**< Unix time of creation */
    int current;                /**< 1 if this key opened the vault */
} cr_key_info;

/** Add a passphrase. @param[out] out_id hex id of the new key file (may be NULL). */
int cr_key_add(cr_repo *repo, const char *new_passphrase, cr_kdf_profile kdf,
               char out_id[CR_ID_HEX_LEN + 1]);

/** List key files. @param[out] out array freed with free(); @param[out] count. */
int cr_key_list(cr_repo *repo, cr_key_info **out, size_t *count);

/**
 * Remove a key file by id or unique id prefix. Refuses to remove the key that
 * opened the vault (CR_EINPUT) so that a vault cannot be locked out by mistake.
 */
int cr_key_remove(cr_repo *repo, const char *id_or_prefix);

#ifdef __cplusplus
}
#endif
#endif
