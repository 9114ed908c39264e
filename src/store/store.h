/*
 * The storage floor under the vault: named objects, written once.
 *
 * Everything a vault keeps (config, keys, packs, index, snapshots, hunt,
 * forget and job records, journals, locks) is an object named by a relative path such
 * as "data/3f/3f2a..." or "snapshots/9c1e...". A store can:
 *   - put: create an object if its name is free (never overwrite); putting
 *     the same bytes again is a no-op, other bytes under a taken name are
 *     refused (CR_EEXISTS: damage or an attack, never silently accepted);
 *   - get a whole object, or open one for ranged reads;
 *   - stat and list (one folder level, names and sizes, sorted by nothing);
 *   - delete, which only retention (prune, key removal), lock release and
 *     the cleaning of interrupted writes call.
 * Backends: a local folder (dir.c, the default; vaults made before the store
 * existed keep working unchanged), S3 with Object Lock (s3.c), a cleanroom
 * vault server (https). The vault (src/vault) never touches a file directly.
 *
 * Names are checked here, for every backend: 1..CR_STORE_MAX_NAME bytes of
 * components made of [A-Za-z0-9._-], separated by single '/', none "." or
 * "..", no leading or trailing '/'. A name is never a path outside the store.
 */
#ifndef CR_STORE_H
#define CR_STORE_H

#include "cleanroom/cleanroom.h"
#include "util/util.h"

#include <stddef.h>
#include <stdint.h>

#define CR_STORE_MAX_NAME 255

typedef struct cr_store cr_store;
typedef struct cr_store_obj cr_store_obj;

/** What stat and list tell of an object. */
typedef struct cr_store_info {
    uint64_t size;
    int64_t mtime_ns; /**< when it was written (backend's clock) */
    /** Unix seconds until which the backend refuses to delete it (S3 Object
     *  Lock, from a HEAD: cr_store_stat only, listings give 0); 0 when none. */
    int64_t retain_until_s;
} cr_store_info;

/** Options of cr_store_open. */
enum {
    CR_STORE_CREATE = 1u << 0,    /**< make a new store: the location must be absent or empty */
    CR_STORE_IMMUTABLE = 1u << 1, /**< dir: give each new sealed file the Linux immutable flag */
};

/** Options of cr_store_put. */
enum {
    CR_STORE_MUTABLE = 1u << 0, /**< lock files: writable mode, deleted when released */
    CR_STORE_PRIVATE = 1u << 1, /**< key files: readable by the vault's owner only */
};

/**
 * Open the store at `location`: a folder path (dir backend), or
 * "s3:http(s)://HOST:PORT/BUCKET[/PREFIX][?lock=PERIOD]" (S3; keys from
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). PERIOD is N days ("30d") or
 * years ("1y"): with CR_STORE_CREATE a missing bucket is created with Object
 * Lock and that default COMPLIANCE retention; every sealed object put through
 * the store is then locked for PERIOD (see s3.c). Opened without ?lock=, an S3
 * store takes the bucket's default retention (cr_store_retention_period).
 * With CR_STORE_CREATE the store is created (a folder, or a bucket's prefix,
 * that exists must be empty).
 * @return 0, CR_ENOTFOUND (nothing there), CR_EINPUT (bad location, no keys,
 *         ?lock= on a bucket without Object Lock), CR_ERROR (I/O, network)...
 */
int cr_store_open(cr_store **out, const char *location, unsigned flags);
void cr_store_free(cr_store *s); /* accepts NULL */
/** The location as given (borrowed): for messages. */
const char *cr_store_location(const cr_store *s);
/** 1 for a local folder (the dir backend), which has file times, modes and host-local locks. */
int cr_store_is_local(const cr_store *s);

/** 1 if `name` is a valid object name (see above); sets no error. */
int cr_store_name_ok(const char *name);

/**
 * Create `name` holding data[0..len) if the name is free; durable when it returns 0.
 * @return 0 (created, or the same bytes were already there), CR_EEXISTS (other
 *         bytes have that name: refused), CR_EINPUT (bad name), CR_ENOSPACE, CR_ERROR (I/O)...
 */
int cr_store_put(cr_store *s, const char *name, const void *data, size_t len, unsigned flags);
/**
 * Read the whole object into out (reset first).
 * @return 0, CR_ENOTFOUND, CR_ECORRUPT (larger than max: not something we wrote), CR_ERROR (I/O)...
 */
int cr_store_get(cr_store *s, const char *name, cr_buf *out, size_t max);
/** @return 0 and fill *out, CR_ENOTFOUND, CR_ERROR (I/O)... */
int cr_store_stat(cr_store *s, const char *name, cr_store_info *out);
/**
 * Every object directly under folder `dir` ("" for the top): cb(name in the
 * folder, its info, payload) in no particular order; a non-zero return from cb
 * stops the listing and is returned. Names of interrupted writes are not
 * listed (see cr_store_list_temp). An absent folder lists nothing unless
 * `must_exist` (then CR_ENOTFOUND).
 */
typedef int (*cr_store_list_cb)(const char *name, const cr_store_info *info, void *payload);
int cr_store_list(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb,
                  void *payload);
/**
 * Every object anywhere below folder `dir` (names relative to it, such as
 * "3f/3f2a..."), in no particular order: one request per thousand objects on
 * S3 where folder-by-folder listing would take one per folder. Only backends
 * without real folders have it: @return CR_EINPUT (no message) elsewhere, and
 * the caller lists folder by folder.
 */
int cr_store_list_below(cr_store *s, const char *dir, cr_store_list_cb cb, void *payload);

/**
 * Remove an object. Called only by retention (prune, key removal), lock release
 * and the cleaning of interrupted writes. On S3 every version of the object is
 * removed (storage is freed; nothing older comes back); an object still under
 * COMPLIANCE retention is refused by the service and nothing is removed.
 * @return 0, CR_ENOTFOUND, CR_ERETAINED (kept until a date: the message says
 *         which), CR_ERROR (I/O)...
 */
int cr_store_delete(cr_store *s, const char *name);
/**
 * Leftovers of interrupted writes (a local folder's ".tmp-*" files) under
 * folder `dir`, older than `min_age_s`: cb(full name, info, payload). Such a
 * name may be given to cr_store_delete. Backends without them list nothing.
 */
int cr_store_list_temp(cr_store *s, const char *dir, int64_t min_age_s, cr_store_list_cb cb,
                       void *payload);

/**
 * Make folders (names, in order) where the backend has folders, durably;
 * others do nothing. For a new vault's layout: listing a folder that must
 * exist tells a damaged vault from a young one.
 */
int cr_store_make_dirs(cr_store *s, const char *const *names, size_t n);

/** Open an object for ranged reads. @return 0, CR_ENOTFOUND, CR_ERROR (I/O)... */
int cr_store_obj_open(cr_store_obj **out, cr_store *s, const char *name);
/** Size of the open object. */
uint64_t cr_store_obj_size(const cr_store_obj *o);
/** Read exactly len bytes at off. @return 0, CR_ECORRUPT (object shorter), CR_ERROR (I/O)... */
int cr_store_obj_read(cr_store_obj *o, void *buf, size_t len, uint64_t off);
void cr_store_obj_close(cr_store_obj *o); /* accepts NULL */

/**
 * Keep `name` undeletable until `until_s` (Unix seconds) where the backend
 * enforces retention (S3 Object Lock in COMPLIANCE mode: not even the store's
 * own keys can shorten it). @return 0, or 0 with nothing done on backends
 * without retention (*enforced = 0), CR_ENOTFOUND, CR_ERROR (I/O)...
 */
int cr_store_retain(cr_store *s, const char *name, int64_t until_s, int *enforced);

/**
 * Bring back objects hidden without being deleted: on S3, a plain DELETE by
 * anyone with the keys puts a delete marker over an object and it looks gone,
 * while its locked bytes stay. cleanroom never makes such markers; this
 * removes the ones over names of the store. Backends without them do nothing.
 * @param[out] restored how many objects came back
 * @return 0, CR_ERROR (network, refused)...
 */
int cr_store_unhide(cr_store *s, size_t *restored);

/**
 * How long the backend keeps each sealed object it is given (S3 Object Lock
 * COMPLIANCE retention, in seconds); 0 when it keeps nothing by itself (the
 * dir backend, a bucket without Object Lock).
 */
int64_t cr_store_retention_period(const cr_store *s);

/* ------------------------------------------------------------ backends */

/** What a backend provides; every name it receives has passed cr_store_name_ok. */
typedef struct cr_store_ops {
    const char *scheme; /**< "dir", "s3", "https" */
    int (*put)(cr_store *s, const char *name, const void *data, size_t len, unsigned flags);
    int (*get)(cr_store *s, const char *name, cr_buf *out, size_t max);
    int (*stat)(cr_store *s, const char *name, cr_store_info *out);
    int (*list)(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb, void *payload);
    /** every object below dir, at any depth; may be NULL */
    int (*list_below)(cr_store *s, const char *dir, cr_store_list_cb cb, void *payload);
    int (*del)(cr_store *s, const char *name);
    int (*list_temp)(cr_store *s, const char *dir, int64_t min_age_s, cr_store_list_cb cb,
                     void *payload); /**< may be NULL */
    int (*obj_open)(cr_store_obj **out, cr_store *s, const char *name);
    /** 0 done, 1 nothing enforced on this store, or an error; may be NULL */
    int (*retain)(cr_store *s, const char *name, int64_t until_s);
    int (*make_dirs)(cr_store *s, const char *const *names, size_t n); /**< may be NULL */
    int64_t (*period)(const cr_store *s); /**< may be NULL (no retention) */
    int (*unhide)(cr_store *s, size_t *restored); /**< may be NULL (nothing is hidden) */
    void (*free)(cr_store *s); /**< the backend's own state (s->impl) */
} cr_store_ops;

struct cr_store {
    const cr_store_ops *ops;
    char *location;
    void *impl;
};

/** An open object: backends embed this first in their own struct. */
struct cr_store_obj {
    uint64_t size;
    int (*read)(cr_store_obj *o, void *buf, size_t len, uint64_t off);
    void (*close)(cr_store_obj *o);
};

/** Backend constructors (s->ops, s->impl filled; s->location set by cr_store_open). */
int cr_store_dir_open(cr_store *s, const char *path, unsigned flags);
int cr_store_s3_open(cr_store *s, const char *location, unsigned flags);
int cr_store_https_open(cr_store *s, const char *location, unsigned flags);

#endif
