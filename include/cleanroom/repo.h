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

#define CR_INIT_OPTIONS_VERSION 2
typedef struct cr_init_options {
    unsigned int version;
    cr_kdf_profile kdf;
    int compression_level; /**< zstd level for data blobs, 0 = default (3) */
    /**
     * (version 2) S3 vaults only: create the bucket with Object Lock and keep
     * every object the vault stores for this many days in COMPLIANCE mode
     * (nobody who speaks S3 can delete it before); 0 = no lock.
     */
    unsigned int object_lock_days;
} cr_init_options;
#define CR_INIT_OPTIONS_INIT {CR_INIT_OPTIONS_VERSION, CR_KDF_MODERATE, 0, 0}

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

/**
 * S3 vaults: bring back the objects that a plain S3 DELETE (by anyone with the
 * bucket's keys) hid behind delete markers; with Object Lock their bytes are
 * still there. cleanroom itself never makes a delete marker, so every one over
 * a vault object was put by someone else. Needs no passphrase (it runs before
 * the vault can be opened: the config and keys may be hidden too). Other
 * vaults: nothing to do.
 * @param[out] restored how many objects came back
 * @return 0, CR_ENOTFOUND (no bucket), CR_EINPUT (bad location, no S3 keys), CR_ERROR...
 */
int cr_repo_unhide(const char *path, size_t *restored);

/** Close a vault and wipe its keys from memory. Accepts NULL. */
void cr_repo_free(cr_repo *repo);

/** The vault's directory (borrowed). */
const char *cr_repo_path(const cr_repo *repo);

/**
 * How long the vault's storage keeps each object it is given, in seconds
 * (S3 Object Lock, COMPLIANCE mode); 0 when the storage itself keeps nothing
 * (a local folder, a bucket without Object Lock).
 */
int64_t cr_repo_object_lock(const cr_repo *repo);

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

/** What a vault holds, and the room left where it lives (cr_repo_usage_get). */
typedef struct cr_repo_usage {
    uint64_t bytes;          /**< every stored object: packs, index, snapshots, hunt files... */
    uint64_t files;          /**< how many objects */
    uint64_t pack_bytes;     /**< of bytes: the packs (the data) */
    uint64_t bytes_since;    /**< of bytes: objects the store dates at or after since_ns */
    int64_t since_ns;        /**< as given */
    int space_known;         /**< 1: a local folder, whose filesystem says the two below;
                                  0: a vault server or S3 (not known from here) */
    uint64_t space_free;     /**< bytes free for the vault's owner (statvfs f_bavail) */
    uint64_t space_total;    /**< size of the filesystem */
} cr_repo_usage;

/**
 * Size of the vault (every object, by the store's listing: no object is
 * read), how much of it was written since `since_ns` (by the store's dates:
 * file times in a folder, LastModified on S3), and the free space of the
 * filesystem when the vault is a local folder.
 * @return 0 or an error (I/O, network).
 */
int cr_repo_usage_get(cr_repo_usage *out, cr_repo *repo, int64_t since_ns);

#ifdef __cplusplus
}
#endif
#endif
