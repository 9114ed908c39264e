/*
 * Private interfaces of the vault module. Every .c file of src/vault includes
 * this header; nothing outside src/ does. docs/format.md describes the bytes
 * on disk that these functions read and write. The vault reads and writes its
 * objects through its store (src/store/store.h), never a file directly.
 *
 * Layout of a vault (format version 1; folders of the dir store):
 *   config                 plaintext JSON: format name, version, vault id
 *   keys/<sha256>          passphrase slots: the master key wrapped with Argon2id
 *   data/<xx>/<sha256>     pack files (xx = first two hex digits of the name)
 *   index/<sha256>         encrypted index files (a cache of pack headers)
 *   snapshots/<sha256>     encrypted snapshot files
 *   hunt/, forget/, journals/, runs/ <sha256>: encrypted files of the modules above
 *   locks/<random hex>     lock files
 * Every file under keys/, data/, index/ and snapshots/ is named by the SHA-256
 * of its bytes, written once (temp + fsync + link + dir fsync) and never changed.
 */
#ifndef CR_VAULT_H
#define CR_VAULT_H

#include "cleanroom/cleanroom.h"
#include "store/store.h"
#include "util/util.h"

#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <zstd.h>

#define CR_FORMAT_VERSION 1

/* Limits applied to everything read back from a vault (defence against damage). */
#define CR_MAX_BLOB (16u * 1024 * 1024)         /* largest raw blob (chunks are <= 8 MiB) */
#define CR_MAX_PACK (256ull * 1024 * 1024)      /* largest pack file accepted */
#define CR_MAX_META_FILE (1024u * 1024 * 1024)  /* largest index or snapshot file */
#define CR_MAX_NAME 4096                        /* longest name in a tree */
#define CR_MAX_LINK 65536                       /* longest symlink target */
#define CR_MAX_XATTR 65536                      /* largest xattr value or ACL text */

/*
 * The shape of a snapshot tree that every program can put back, one rule for
 * all: backup (files and the filesystems inside disk images) refuses, with a
 * counted warning, what a restore could not write; restore, verify, diff and
 * the tree walk (ls, hunt) stop at the same limits.
 *  - Depth: a folder's depth is the number of components of its path (/srv/www
 *    is 2); folders deeper than CR_TREE_MAX_DEPTH are not stored, nor followed.
 *    A restore holds one open folder per level.
 *  - Length: a path, written with its leading '/', is at most CR_TREE_MAX_PATH
 *    bytes (PATH_MAX - 1): what the kernel resolves relative to the restore
 *    target (openat2 beneath it), whatever the target's own length.
 */
#define CR_TREE_MAX_DEPTH 512
#define CR_TREE_MAX_PATH (PATH_MAX - 1)

/* Chunking of regular files (FastCDC). */
#define CR_CHUNK_MIN (512u * 1024)
#define CR_CHUNK_AVG (1024u * 1024)
#define CR_CHUNK_MAX (8u * 1024 * 1024)

/* Pack target size: a pack is written when it holds at least this much. */
#define CR_PACK_TARGET (16u * 1024 * 1024)

/* ================================================================ crypto.c */

/** Keys derived from the 32-byte master key (libsodium crypto_kdf, BLAKE2b). */
typedef struct cr_keys {
    uint8_t enc[32];     /**< XChaCha20-Poly1305 key for every sealed object */
    uint8_t mac[32];     /**< HMAC-SHA-256 key for blob ids */
    uint8_t chunker[32]; /**< seed of the chunker's gear table */
} cr_keys;

/** Sealed object = nonce (24) || ciphertext || tag (16). */
#define CR_NONCE_LEN 24
#define CR_TAG_LEN 16
#define CR_SEAL_OVERHEAD (CR_NONCE_LEN + CR_TAG_LEN)

void cr_keys_derive(cr_keys *out, const uint8_t master[32]);
/** The HMAC key of recovery journals (docs/format.md §16), from the master key. */
void cr_journal_key_derive(uint8_t out[32], const uint8_t master[32]);
/** Blob id: HMAC-SHA-256(keys->mac, data). */
void cr_blob_id(cr_id *out, const cr_keys *keys, const void *data, size_t len);
/** Seal `len` bytes into out[len + CR_SEAL_OVERHEAD] with a fresh random 192-bit nonce. */
void cr_seal(uint8_t *out, const uint8_t key[32], const void *ad, size_t adlen, const void *pt,
             size_t len);
/**
 * Open a sealed object into out[inlen - CR_SEAL_OVERHEAD].
 * @return 0 or CR_ECORRUPT (too short, or the MAC does not match: damaged or wrong key).
 */
int cr_unseal(uint8_t *out, const uint8_t key[32], const void *ad, size_t adlen, const void *in,
              size_t inlen);
void cr_sha256(uint8_t out[32], const void *data, size_t len);

/** zstd helpers. Compress appends to out. */
int cr_zstd_compress(cr_buf *out, ZSTD_CCtx *cctx, int level, const void *src, size_t len);
/** Decompress exactly `raw_len` bytes (CR_ECORRUPT on any mismatch) into out (reset first). */
int cr_zstd_decompress(cr_buf *out, ZSTD_DCtx *dctx, const void *src, size_t len, size_t raw_len);

/* ================================================================ index.c */

typedef enum cr_blob_type { CR_BLOB_DATA = 1, CR_BLOB_TREE = 2 } cr_blob_type;
#define CR_BLOB_FLAG_ZSTD 1u

/** An entry of a pack header: where one blob lies in its pack. */
typedef struct cr_pack_entry {
    cr_id id;
    uint8_t type;        /**< cr_blob_type */
    uint8_t flags;       /**< CR_BLOB_FLAG_* */
    uint32_t offset;     /**< of the sealed blob in the pack */
    uint32_t stored_len; /**< sealed length (incl. CR_SEAL_OVERHEAD) */
    uint32_t raw_len;    /**< plaintext length before compression */
} cr_pack_entry;

/** Where a blob is: the pack (index into the index's pack table) and its entry. */
typedef struct cr_blob_loc {
    cr_id pack;
    cr_pack_entry entry;
} cr_blob_loc;

/**
 * The in-memory index: blob id -> location. Thread-safe (internal mutex).
 * Built from the index files plus the headers of packs no index file names
 * (left by an interrupted backup), so the index is only ever a cache.
 */
typedef struct cr_index cr_index;

int cr_index_new(cr_index **out);
void cr_index_free(cr_index *idx);
/** Load every index file of the vault, then index packs that none of them names. */
int cr_index_load(cr_index **out, cr_repo *repo);
/** @return 1 and fill *out (if not NULL) when found, 0 when not. */
int cr_index_lookup(cr_index *idx, const cr_id *id, cr_blob_loc *out);
/**
 * Reserve a blob id for storing. @return 1 if the caller must store the blob
 * (unknown and not being stored by another thread), 0 if it is known or claimed.
 */
int cr_index_claim(cr_index *idx, const cr_id *id);
/** Release a claim whose blob was not stored after all (error path). */
void cr_index_unclaim(cr_index *idx, const cr_id *id);
/**
 * Add a written pack and its entries (clears the claims of those ids).
 * @param is_new 1 if no index file names this pack yet (cr_index_save will).
 */
int cr_index_add_pack(cr_index *idx, const cr_id *pack, const cr_pack_entry *e, size_t n,
                      int is_new);
/**
 * A pack a running prune is about to delete: its blobs are no longer found
 * (a backup stores them again) and no index file written from here names it.
 */
void cr_index_mark_dead(cr_index *idx, const cr_id *pack);
/** Write one index file naming every pack added with is_new since the last save. */
int cr_index_save(cr_index *idx, cr_repo *repo);
/** Number of packs and blobs known. */
size_t cr_index_pack_count(cr_index *idx);
size_t cr_index_blob_count(cr_index *idx);
/** Iterate over packs: cb(pack id, entries, n, payload); non-zero return stops. */
int cr_index_foreach_pack(cr_index *idx,
                          int (*cb)(const cr_id *pack, const cr_pack_entry *e, size_t n, void *payload),
                          void *payload);
/** Serialise / parse the plaintext of an index file (exposed for tests and fuzzing). */
int cr_index_encode(cr_buf *out, cr_index *idx, int only_new);
int cr_index_decode(cr_index *idx, const void *data, size_t len, int is_new);

/* ================================================================= pack.c */

/**
 * Pack file = sealed blobs || sealed header || trailer (12 bytes:
 * u32 LE sealed header length, u32 LE format version, "CRPK").
 * Header plaintext: "CRPH", varint count, then per blob: u8 type, u8 flags,
 * u32 stored_len, u32 raw_len, id[32]; offsets are implied (blobs back to back from 0).
 * A blob is sealed with AD = type || id, the header with AD = "cleanroom-pack-header".
 */
typedef struct cr_packer cr_packer;

int cr_packer_new(cr_packer **out, cr_repo *repo);
void cr_packer_free(cr_packer *p); /* discards blobs not flushed */
/**
 * Compress (zstd at the vault's level, kept raw if that does not save at least
 * 1/32), seal and append one blob. The caller has claimed `id` in the index.
 * @param[out] stored_out sealed size (may be NULL)
 */
int cr_packer_add(cr_packer *p, cr_blob_type type, const cr_id *id, const void *data, size_t len,
                  size_t *stored_out);
size_t cr_packer_size(const cr_packer *p);
/** Write the pack (if it holds any blob) durably under data/ and add it to the index (is_new). */
int cr_packer_flush(cr_packer *p);

/** Parse and authenticate a pack's header from its last bytes. `tail` is the end of the file. */
int cr_pack_decode_header(cr_pack_entry **out, size_t *count, const cr_keys *keys,
                          const uint8_t *file, size_t file_len);
/** Read a pack's header from disk. @param[out] size_out file size (may be NULL). */
int cr_pack_read_header(cr_pack_entry **out, size_t *count, cr_repo *repo, const cr_id *pack,
                        uint64_t *size_out);
/**
 * Open one sealed blob: authenticate, decompress, check the keyed hash equals the id.
 * @param out reset and filled with the raw bytes.
 */
int cr_blob_decode(cr_buf *out, const cr_keys *keys, ZSTD_DCtx *dctx, const cr_pack_entry *e,
                   const uint8_t *stored);
/**
 * Like cr_blob_decode, into dst (e->raw_len bytes, checked by the caller
 * against what it expects), with `scratch` reused for the decrypted bytes of
 * a compressed blob: for hot loops that must not allocate per blob.
 */
int cr_blob_decode_into(uint8_t *dst, cr_buf *scratch, const cr_keys *keys, ZSTD_DCtx *dctx,
                        const cr_pack_entry *e, const uint8_t *stored);
/*
 * The one blob reader: every command that reads blobs (backup, restore,
 * verify, hunt, images) reads them through one of these. It keeps a few packs
 * open (least recently used closed first), reads exact byte ranges of them
 * through the store (a pread in a folder, a ranged GET elsewhere), and opens
 * blobs with cr_blob_decode. One per thread: not thread-safe.
 */
typedef struct cr_blob_reader cr_blob_reader;

/** @param max_open packs kept open at once (>= 1). */
int cr_blob_reader_new(cr_blob_reader **out, cr_repo *repo, int max_open);
void cr_blob_reader_free(cr_blob_reader *r); /* accepts NULL */
/**
 * Read bytes [off, off + len) of a pack. A pack that is gone or shorter than
 * asked is damage: CR_ECORRUPT, the message naming the pack.
 */
int cr_blob_reader_read(cr_blob_reader *r, const cr_id *pack, uint64_t off, void *buf,
                        size_t len);
/** Size of a pack (opened through the cache). */
int cr_blob_reader_size(cr_blob_reader *r, const cr_id *pack, uint64_t *size);
/** Read and open the blob at loc into dst (loc->entry.raw_len bytes). */
int cr_blob_reader_decode_into(cr_blob_reader *r, const cr_blob_loc *loc, uint8_t *dst);
/** Open the sealed bytes `stored` of the blob at loc (already read) into out (reset first). */
int cr_blob_reader_open(cr_blob_reader *r, const cr_blob_loc *loc, const uint8_t *stored,
                        cr_buf *out);
/** Read and open the blob at loc into out (reset first). */
int cr_blob_reader_decode(cr_blob_reader *r, const cr_blob_loc *loc, cr_buf *out);
/** Load a blob by id (index lookup, read, open) into out; its type must be `type`. */
int cr_blob_reader_load(cr_blob_reader *r, cr_buf *out, const cr_id *id, cr_blob_type type);

/** Load a blob by id through the index (reads its pack). Thread-safe. */
int cr_repo_load_blob(cr_buf *out, cr_repo *repo, const cr_id *id, cr_blob_type type);
/** Prefix the current error message with "pack <hex>: "; returns err. */
int cr_pack_error(const cr_id *pack, int err);
/** Relative path of a pack file: "data/xx/<hex>" into out (>= 80 bytes). */
void cr_pack_path(char *out, size_t outlen, const cr_id *pack);

/* ============================================================== chunker.c */

typedef struct cr_chunker {
    uint64_t gear[256];
    uint64_t mask_s, mask_l;
    size_t min, avg, max;
} cr_chunker;

/** Gear table derived from the vault's secret seed, so boundaries don't fingerprint content. */
void cr_chunker_init(cr_chunker *c, const uint8_t seed[32], size_t min, size_t avg, size_t max);
/**
 * Length of the first chunk of buf[0..len). Returns min(len, max) when no
 * boundary is found; the caller passes at least `max` bytes unless at the end.
 */
size_t cr_chunker_cut(const cr_chunker *c, const uint8_t *buf, size_t len);

/* ================================================================= tree.c */

/** Serialise a tree (nodes must be sorted by name) into out. */
int cr_tree_encode(cr_buf *out, const cr_tree *tree);
/** Parse a tree; validates every length and count. Names are not judged safe here. */
int cr_tree_decode(cr_tree **out, const void *data, size_t len);
/** Sort nodes by name (bytewise). */
void cr_tree_sort(cr_tree *tree);
/** Save a tree as a blob through a packer (dedup through the index). */
int cr_tree_save(cr_id *out, cr_repo *repo, cr_packer *packer, const cr_tree *tree);
/** 1 if a tree entry name is safe to create in a folder (not "", ".", "..", no '/'). */
int cr_name_is_safe(const char *name);

/* ============================================================= snapshot.c */

/** Snapshot plaintext is JSON (jansson); see docs/format.md. */
int cr_snapshot_encode(cr_buf *out, const cr_snapshot *snap);
int cr_snapshot_decode(cr_snapshot **out, const void *data, size_t len);
/** Save a snapshot (sets snap->id). */
int cr_snapshot_save(cr_repo *repo, cr_snapshot *snap);
/** Add the NULL-terminated tags `more` (may be NULL) to an unsaved snapshot. @return 0 or CR_ERROR. */
int cr_snapshot_tags_add(cr_snapshot *snap, const char *const *more);
int cr_snapshot_load(cr_snapshot **out, cr_repo *repo, const cr_id *id);

/* =============================================================== backup.c */

/**
 * Check a name given by the user (a source name...): 1..max bytes, no control
 * characters, and no '/' or ':' unless allow_slash. @return 0 or CR_EINPUT
 * with a message naming `what`.
 */
int cr_check_text(const char *what, const char *s, size_t max, int allow_slash);
/** The account running this process (for snapshots), strdup'd; NULL if out of memory. */
char *cr_who_am_i(void);

/* ================================================================ lock.c */

typedef struct cr_lock cr_lock;
/**
 * Take a lock on the vault. Shared locks (backup, restore, verify) coexist;
 * an exclusive lock (key removal, index rewrite) excludes every other lock.
 * Lock files of dead processes on this host are removed (stale).
 * @return 0 or CR_ELOCKED (message names the holder: host, pid, since when).
 */
int cr_lock_acquire(cr_lock **out, cr_repo *repo, int exclusive);
void cr_lock_release(cr_lock *lock); /* accepts NULL */
/** The name of a lock's file under locks/ (borrowed). */
const char *cr_lock_id(const cr_lock *lock);
/** 1 if the lock file locks/<id> is still there and not stale (its process, on this host, gone). */
int cr_lock_live(cr_repo *repo, const char *id);
/** The names of every other lock file under locks/ now (free each and the array). */
int cr_lock_others(char ***out, size_t *count, cr_repo *repo, const cr_lock *own);
/** The names of the files under locks/ that start with `prefix` (prune's plans; free each and
 * the array). */
int cr_lock_dir_names(char ***out, size_t *count, cr_repo *repo, const char *prefix);

/* ================================================================= key.c */

/* Limits on the Argon2id cost read from a key file, so that a hostile key file
 * cannot make an open exhaust the machine's memory or time. */
#define CR_KDF_MAX_MEMLIMIT (4ull * 1024 * 1024 * 1024)
#define CR_KDF_MAX_OPSLIMIT 64
#define CR_KDF_SALT_LEN 16
#define CR_MAX_KEY_FILE (64u * 1024)

/** A parsed key file (passphrase slot). See docs/format.md. */
typedef struct cr_keyfile {
    uint64_t opslimit, memlimit;
    uint8_t salt[CR_KDF_SALT_LEN];
    uint8_t sealed_master[32 + CR_SEAL_OVERHEAD];
    int64_t created_ns;
    char hostname[256];
    char username[64];
    char vault_id[CR_ID_HEX_LEN + 1]; /**< the vault it was made for ("" in older key files) */
} cr_keyfile;

/**
 * Parse and validate the JSON of a key file (untrusted: exposed for fuzzing).
 * @return 0, CR_ECORRUPT (malformed, or KDF cost over the limits) or CR_EVERSION.
 */
int cr_keyfile_parse(cr_keyfile *out, const void *data, size_t len);
/**
 * Wrap `master` with `passphrase` (Argon2id at the cost of `kdf`) and store the
 * key file durably under keys/ of the vault's store.
 * @param[out] out_id hex name of the new key file (may be NULL).
 */
int cr_keyfile_store(char out_id[CR_ID_HEX_LEN + 1], cr_store *store, const uint8_t master[32],
                     const char *vault_id, const char *passphrase, cr_kdf_profile kdf);
/**
 * Try every key file of the vault with `passphrase`; on success fill
 * repo->master, repo->keys and repo->key_file. Needs repo->path, dirfd, id_hex.
 * @return 0, CR_EAUTH (no key opens), CR_ECORRUPT (none opens and some are
 *         damaged, or the vault id of config is not the one the keys were
 *         made for: config was changed).
 */
int cr_repo_unlock(cr_repo *repo, const char *passphrase);

/* ================================================================ repo.c */

struct cr_repo {
    char *path;
    cr_store *store;
    char id_hex[CR_ID_HEX_LEN + 1];
    uint8_t master[32];
    cr_keys keys;
    char key_file[CR_ID_HEX_LEN + 1]; /* the key file that opened the vault */
    int compression_level;
    pthread_mutex_t mu;
    cr_index *index; /* loaded on first use by cr_repo_index */
};

/** The vault's index, loaded on first use (borrowed, lives as long as the repo). */
int cr_repo_index(cr_index **out, cr_repo *repo);
/**
 * The index for a command that adds data (backup), called with its lock held:
 * the packs a running prune announced are dead in it, so their blobs are
 * stored again instead of referred to (prune.c).
 */
int cr_repo_index_writable(cr_index **out, cr_repo *repo);

/* Retention decisions of prune on a store that keeps objects (S3 Object
 * Lock); pure functions, tested with made-up dates. */
/** 1 if an object kept until retain_until_s (Unix s, 0: not kept) may not be deleted at now_s. */
int cr_prune_held(int64_t retain_until_s, int64_t now_s);
/** 1 if an object in use, kept until retain_until_s, must be kept longer on a
 *  store whose period is period_s: less than half a period is left. */
int cr_prune_should_extend(int64_t retain_until_s, int64_t now_s, int64_t period_s);
/** Forget the loaded index (no index pointer may be in use): the next cr_repo_index reads
 * the index files again, with what other processes added meanwhile. */
void cr_repo_index_drop(cr_repo *repo);
/**
 * Store an encrypted file: zstd-compress, seal with AD "cleanroom-<kind>",
 * name it by SHA-256 of the stored bytes under `kind`/ ("index" or "snapshots").
 */
int cr_repo_save_file(cr_id *out, cr_repo *repo, const char *kind, const void *plain, size_t len);
/** Load and open an encrypted file: check its hash equals its name, authenticate, decompress. */
int cr_repo_load_file(cr_buf *out, cr_repo *repo, const char *kind, const cr_id *id);
/** The opening half of cr_repo_load_file, for bytes already read (verify reads each file once). */
int cr_repo_open_file(cr_buf *out, cr_repo *repo, const char *kind, const cr_id *id,
                      const uint8_t *raw, size_t len);
/** List the ids of the files under `kind`/ ("keys", "index", "snapshots", or "data" for packs),
 * sorted ascending (a deterministic order for every reader). */
int cr_repo_list(cr_id **out, size_t *count, cr_repo *repo, const char *kind);

/**
 * Remove temporary files (".tmp-*") older than `min_age_s` seconds: the
 * leftovers of writes interrupted by a crash or a kill. Writes in progress are
 * seconds old, so a generous age never touches them. Best effort; returns the
 * number removed.
 */
size_t cr_repo_clean_temp(cr_repo *repo, int64_t min_age_s);

/** Called for a temporary file: its name in the store and what stat says. 0 = counted. */
typedef int (*cr_repo_temp_cb)(const char *name, const cr_store_info *info, void *payload);
/** Hand every temporary file (".tmp-*") older than `min_age_s` seconds to fn; returns how many
 * it counted. */
size_t cr_repo_temp_files(cr_repo *repo, int64_t min_age_s, cr_repo_temp_cb fn, void *payload);

/** A set of ids, each with a value 1..255 (idset.c). Zero-initialise; free with cr_idset_free. */
typedef struct cr_idset {
    cr_id *keys;
    uint8_t *vals; /* 0 = empty slot */
    size_t n, cap;
} cr_idset;
/** The value of id, 0 if absent. */
int cr_idset_get(const cr_idset *s, const cr_id *id);
/** Set the value (1..255) of id. @return 0 or CR_ERROR (out of memory). */
int cr_idset_put(cr_idset *s, const cr_id *id, uint8_t val);
void cr_idset_free(cr_idset *s);

/** Mark items[lo..hi) (one source, oldest first) kept or not by the policy of o (forget.c;
 * exposed for tests). */
void cr_forget_apply_policy(cr_forget_item *items, size_t lo, size_t hi,
                            const cr_forget_options *o);

/** The snapshots that forget records name (forget.c): sorted ids. */
typedef struct cr_forgotten {
    cr_id *ids;
    int64_t *since_ns; /* per id: when its forget record was written (file time; the newest) */
    size_t n;
    size_t unreadable; /* forget records that could not be read (their snapshots show) */
} cr_forgotten;
/** Read every forget record of the vault. @return 0 or an error (out of memory, I/O). */
int cr_forgotten_load(cr_forgotten *out, cr_repo *repo);
int cr_forgotten_has(const cr_forgotten *f, const cr_id *id);
/** When `id` was forgotten (ns; the latest record naming it), or 0 if it was not. */
int64_t cr_forgotten_since(const cr_forgotten *f, const cr_id *id);
void cr_forgotten_clear(cr_forgotten *f);

/**
 * Add a problem to a verify report (message printf-style), for the checks of
 * modules above the vault too (hunt files).
 */
int cr_verify_add_problem(cr_verify_report *r, const char *what, const cr_id *id, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
/** 1 if the report already has a problem of this kind about this id. */
int cr_verify_has_problem(const cr_verify_report *r, const char *what, const cr_id *id);

/*
 * cr_restore for a disk image staged as a file (src/image/restore.c): a file
 * whose data is partly lost keeps its name, the lost parts reading as zeros (a
 * disk with a few zeroed blocks can often still be started; the caller says
 * so); a full disk stops it with CR_ENOSPACE.
 */
int cr_restore_salvage(cr_restore_stats *stats, cr_repo *repo, const cr_snapshot *snap,
                       const cr_restore_options *opts);

#endif
