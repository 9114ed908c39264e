/*
 * Creating and opening a vault, and the encrypted metadata files (index,
 * snapshots) every other module stores through it.
 *
 * A vault is a set of objects in a store (src/store: a local folder by
 * default; layout in vault.h and docs/format.md). `config` is written last by
 * cr_repo_init: a store without it is not a vault, so a crash during init
 * leaves something cr_repo_open refuses rather than a half vault.
 */
#include "vault/vault.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_FORMAT "cleanroom-vault"
#define MAX_CONFIG (64u * 1024)
#define DEFAULT_COMPRESSION 3

static const char *const subdirs[] = {"keys", "data", "index", "snapshots", "locks", "hunt"};

/* The folders of a new vault: those above, and data/00 .. data/ff. */
static int make_layout(cr_store *store)
{
    const char *names[sizeof(subdirs) / sizeof(subdirs[0]) + 256];
    char data[256][8];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
        names[n++] = subdirs[i];
    for (int i = 0; i < 256; i++) {
        snprintf(data[i], sizeof(data[i]), "data/%02x", i);
        names[n++] = data[i];
    }
    return cr_store_make_dirs(store, names, n);
}

/* ------------------------------------------------------------ init */

static int check_level(int level)
{
    if (level < 1 || level > ZSTD_maxCLevel()) {
        cr_error_set("compression level %d is out of range (1..%d; 3 is the default)", level,
                     ZSTD_maxCLevel());
        return CR_EINPUT;
    }
    return 0;
}

int cr_repo_init(const char *path, const char *passphrase, const cr_init_options *opts)
{
    cr_init_options defaults = CR_INIT_OPTIONS_INIT;
    uint8_t master[32], idb[32];
    char id_hex[CR_ID_HEX_LEN + 1], created[48];
    json_t *cfg = NULL;
    char *text = NULL;
    cr_store *store = NULL;
    int err;

    if (!opts)
        opts = &defaults;
    if (opts->version != 1 && opts->version != CR_INIT_OPTIONS_VERSION) {
        cr_error_set("cr_init_options version %u is not supported", opts->version);
        return CR_EINPUT;
    }
    int level = opts->compression_level ? opts->compression_level : DEFAULT_COMPRESSION;
    if (!path || !*path) {
        cr_error_set("no vault folder given");
        return CR_EINPUT;
    }
    if (!passphrase || !*passphrase) {
        cr_error_set("the passphrase is empty: choose a long passphrase");
        return CR_EINPUT;
    }
    if ((err = cr_init()) < 0 || (err = check_level(level)) < 0)
        return err;
    unsigned lock_days = opts->version >= 2 ? opts->object_lock_days : 0;
    if (lock_days) {
        /* The S3 store takes the retention in its location (store.h). */
        if (strncmp(path, "s3:", 3) != 0) {
            cr_error_set("Object Lock needs a vault on S3 (s3:http(s)://HOST:PORT/BUCKET), not "
                         "%s: a local folder cannot lock its files",
                         path);
            return CR_EINPUT;
        }
        if (strchr(path, '?')) {
            cr_error_set("give the Object Lock period either in the location (?lock=) or as an "
                         "option, not both");
            return CR_EINPUT;
        }
        if (lock_days > 36500) {
            cr_error_set("an Object Lock of %u days is over 100 years: give at most 36500 days",
                         lock_days);
            return CR_EINPUT;
        }
        char *loc = cr_sprintf("%s?lock=%ud", path, lock_days);
        if (!loc)
            return CR_ERROR;
        err = cr_store_open(&store, loc, CR_STORE_CREATE);
        free(loc);
    } else {
        err = cr_store_open(&store, path, CR_STORE_CREATE);
    }
    if (err < 0)
        return err;
    if ((err = make_layout(store)) < 0)
        goto done;

    randombytes_buf(master, sizeof(master));
    randombytes_buf(idb, sizeof(idb));
    cr_hex_encode(id_hex, idb, sizeof(idb));
    if ((err = cr_keyfile_store(NULL, store, master, id_hex, passphrase, opts->kdf)) < 0)
        goto done;

    cr_time_format(created, sizeof(created), cr_time_now_ns());
    cfg = json_pack("{s:s, s:i, s:s, s:s, s:i}", "format", CONFIG_FORMAT, "version",
                    CR_FORMAT_VERSION, "id", id_hex, "created", created, "compression", level);
    if (!cfg || !(text = json_dumps(cfg, JSON_INDENT(2)))) {
        cr_error_set("out of memory (config)");
        err = CR_ERROR;
        goto done;
    }
    size_t tlen = strlen(text);
    text[tlen++] = '\n'; /* overwrites the NUL json_dumps allocated */
    err = cr_store_put(store, "config", text, tlen, 0);
done:
    sodium_memzero(master, sizeof(master));
    json_decref(cfg);
    free(text);
    cr_store_free(store);
    return err;
}

/* ------------------------------------------------------------ open */

static int read_config(cr_repo *repo)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *v;
    int err;

    err = cr_store_get(repo->store, "config", &b, MAX_CONFIG);
    if (err == CR_ENOTFOUND) {
        cr_error_set("no cleanroom vault at %s (no config file there)", repo->path);
        goto done;
    }
    if (err < 0)
        goto done;
    root = json_loadb((const char *)b.ptr, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root) || !json_is_string(json_object_get(root, "format")) ||
        strcmp(json_string_value(json_object_get(root, "format")), CONFIG_FORMAT) != 0) {
        cr_error_set("%s/config is not a cleanroom vault config (damaged or another program's)",
                     repo->path);
        err = CR_ECORRUPT;
        goto done;
    }
    v = json_object_get(root, "version");
    if (!json_is_integer(v)) {
        cr_error_set("%s/config has no format version: damaged", repo->path);
        err = CR_ECORRUPT;
        goto done;
    }
    if (json_integer_value(v) != CR_FORMAT_VERSION) {
        cr_error_set("the vault at %s uses format version %lld; this program (cleanroom %s) "
                     "reads version %d only: use a newer cleanroom",
                     repo->path, (long long)json_integer_value(v), CR_VERSION_STRING,
                     CR_FORMAT_VERSION);
        err = CR_EVERSION;
        goto done;
    }
    v = json_object_get(root, "id");
    if (!json_is_string(v) || json_string_length(v) != CR_ID_HEX_LEN ||
        !cr_is_hex(json_string_value(v))) {
        cr_error_set("%s/config has no valid vault id: damaged", repo->path);
        err = CR_ECORRUPT;
        goto done;
    }
    memcpy(repo->id_hex, json_string_value(v), CR_ID_HEX_LEN + 1);
    repo->compression_level = DEFAULT_COMPRESSION;
    v = json_object_get(root, "compression");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > ZSTD_maxCLevel()) {
            cr_error_set("%s/config has an invalid compression level: damaged", repo->path);
            err = CR_ECORRUPT;
            goto done;
        }
        repo->compression_level = (int)json_integer_value(v);
    }
done:
    json_decref(root);
    cr_buf_free(&b);
    return err;
}

int cr_repo_open(cr_repo **out, const char *path, const char *passphrase)
{
    cr_repo *repo = NULL;
    int err;

    *out = NULL;
    if (!path || !*path) {
        cr_error_set("no vault folder given");
        return CR_EINPUT;
    }
    if (!passphrase) {
        cr_error_set("no passphrase given");
        return CR_EINPUT;
    }
    if ((err = cr_init()) < 0)
        return err;
    if (!(repo = cr_calloc(1, sizeof(*repo))))
        return CR_ERROR;
    if (pthread_mutex_init(&repo->mu, NULL) != 0) {
        free(repo);
        cr_error_set("cannot create a mutex");
        return CR_ERROR;
    }
    if (!(repo->path = cr_strdup(path))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = cr_store_open(&repo->store, path, 0)) < 0)
        goto done;
    if ((err = read_config(repo)) < 0 || (err = cr_repo_unlock(repo, passphrase)) < 0)
        goto done;
    *out = repo;
    repo = NULL;
done:
    cr_repo_free(repo);
    return err;
}

void cr_repo_free(cr_repo *repo)
{
    if (!repo)
        return;
    cr_index_free(repo->index);
    sodium_memzero(repo->master, sizeof(repo->master));
    sodium_memzero(&repo->keys, sizeof(repo->keys));
    cr_store_free(repo->store);
    pthread_mutex_destroy(&repo->mu);
    free(repo->path);
    free(repo);
}

const char *cr_repo_path(const cr_repo *repo)
{
    return repo->path;
}

int cr_repo_unhide(const char *path, size_t *restored)
{
    cr_store *store = NULL;
    int err;
    *restored = 0;
    if ((err = cr_store_open(&store, path, 0)) < 0)
        return err;
    err = cr_store_unhide(store, restored);
    cr_store_free(store);
    return err;
}

int64_t cr_repo_object_lock(const cr_repo *repo)
{
    return cr_store_retention_period(repo->store);
}

const char *cr_repo_id(const cr_repo *repo)
{
    return repo->id_hex;
}

int cr_repo_index(cr_index **out, cr_repo *repo)
{
    int err = 0;
    pthread_mutex_lock(&repo->mu);
    if (!repo->index)
        err = cr_index_load(&repo->index, repo);
    *out = err < 0 ? NULL : repo->index;
    pthread_mutex_unlock(&repo->mu);
    return err;
}

void cr_repo_index_drop(cr_repo *repo)
{
    pthread_mutex_lock(&repo->mu);
    cr_index_free(repo->index);
    repo->index = NULL;
    pthread_mutex_unlock(&repo->mu);
}

/* ------------------------------------------------------------ encrypted files */

static int check_kind(const char *kind)
{
    if (strcmp(kind, "index") != 0 && strcmp(kind, "snapshots") != 0 &&
        strcmp(kind, "hunt") != 0 && strcmp(kind, "forget") != 0 &&
        strcmp(kind, "journals") != 0 && strcmp(kind, "runs") != 0 &&
        strcmp(kind, "runsum") != 0) {
        cr_error_set("internal error: unknown kind of vault file '%s'", kind);
        return CR_EINPUT;
    }
    return 0;
}

int cr_repo_save_file(cr_id *out, cr_repo *repo, const char *kind, const void *plain, size_t len)
{
    cr_buf z = CR_BUF_INIT;
    uint8_t *sealed = NULL;
    char ad[64], hex[CR_ID_HEX_LEN + 1], name[96];
    int err;

    if ((err = check_kind(kind)) < 0)
        return err;
    if (len > CR_MAX_META_FILE - 1 - CR_SEAL_OVERHEAD) {
        cr_error_set("%s file too large (%zu bytes)", kind, len);
        return CR_EINPUT;
    }
    /* Plaintext = flags byte || payload; payload stays raw if zstd does not shrink it. */
    if ((err = cr_buf_put_u8(&z, CR_BLOB_FLAG_ZSTD)) < 0 ||
        (err = cr_zstd_compress(&z, NULL, repo->compression_level, plain, len)) < 0)
        goto done;
    if (z.len - 1 >= len) {
        cr_buf_reset(&z);
        if ((err = cr_buf_put_u8(&z, 0)) < 0 || (err = cr_buf_put(&z, plain, len)) < 0)
            goto done;
    }
    if (!(sealed = cr_malloc(z.len + CR_SEAL_OVERHEAD))) {
        err = CR_ERROR;
        goto done;
    }
    snprintf(ad, sizeof(ad), "cleanroom-%s", kind);
    cr_seal(sealed, repo->keys.enc, ad, strlen(ad), z.ptr, z.len);
    cr_sha256(out->b, sealed, z.len + CR_SEAL_OVERHEAD);
    snprintf(name, sizeof(name), "%s/%s", kind, cr_id_to_hex(hex, out));
    /* hunt/, forget/, journals/ and runs/ appeared after format version 1 was
     * first released: the store makes them on first use. */
    err = cr_store_put(repo->store, name, sealed, z.len + CR_SEAL_OVERHEAD, 0);
done:
    free(sealed);
    cr_buf_free(&z);
    return err;
}

int cr_repo_open_file(cr_buf *out, cr_repo *repo, const char *kind, const cr_id *id,
                      const uint8_t *raw, size_t len)
{
    uint8_t hash[32], *plain = NULL;
    char ad[64], hex[CR_ID_HEX_LEN + 1];
    size_t plen;
    int err;

    if ((err = check_kind(kind)) < 0)
        return err;
    cr_id_to_hex(hex, id);
    cr_sha256(hash, raw, len);
    if (memcmp(hash, id->b, 32) != 0) {
        cr_error_set("%s file %s is damaged: its content does not match its name (SHA-256)", kind,
                     hex);
        err = CR_ECORRUPT;
        goto done;
    }
    if (len < CR_SEAL_OVERHEAD + 1) {
        cr_error_set("%s file %s is damaged: too short", kind, hex);
        err = CR_ECORRUPT;
        goto done;
    }
    plen = len - CR_SEAL_OVERHEAD;
    if (!(plain = cr_malloc(plen))) {
        err = CR_ERROR;
        goto done;
    }
    snprintf(ad, sizeof(ad), "cleanroom-%s", kind);
    if (cr_unseal(plain, repo->keys.enc, ad, strlen(ad), raw, len) < 0) {
        cr_error_set("%s file %s failed authentication: damaged, or not written with this "
                     "vault's key",
                     kind, hex);
        err = CR_ECORRUPT;
        goto done;
    }
    if (plain[0] == 0) {
        cr_buf_reset(out);
        err = cr_buf_put(out, plain + 1, plen - 1);
    } else if (plain[0] == CR_BLOB_FLAG_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(plain + 1, plen - 1);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > CR_MAX_META_FILE) {
            cr_error_set("%s file %s is damaged: bad compressed size", kind, hex);
            err = CR_ECORRUPT;
            goto done;
        }
        if ((err = cr_zstd_decompress(out, NULL, plain + 1, plen - 1, (size_t)size)) < 0) {
            cr_error_prefix("%s file %s", kind, hex);
        }
    } else {
        cr_error_set("%s file %s is damaged: unknown flags %u", kind, hex, plain[0]);
        err = CR_ECORRUPT;
    }
done:
    free(plain);
    return err;
}

int cr_repo_load_file(cr_buf *out, cr_repo *repo, const char *kind, const cr_id *id)
{
    cr_buf raw = CR_BUF_INIT;
    char hex[CR_ID_HEX_LEN + 1], name[96];
    int err;

    if ((err = check_kind(kind)) < 0)
        return err;
    cr_id_to_hex(hex, id);
    snprintf(name, sizeof(name), "%s/%s", kind, hex);
    err = cr_store_get(repo->store, name, &raw, CR_MAX_META_FILE);
    if (err == CR_ENOTFOUND)
        cr_error_set("no %s file %s in the vault at %s", kind, hex, repo->path);
    if (err == 0)
        err = cr_repo_open_file(out, repo, kind, id, raw.ptr, raw.len);
    cr_buf_free(&raw);
    return err;
}

/* ------------------------------------------------------------ listing */

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CR_ID_LEN);
}

/* 1 if `name` is exactly 64 lowercase hex digits (the names we write). */
static int is_id_name(const char *name)
{
    size_t i;
    for (i = 0; name[i]; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return i == CR_ID_HEX_LEN;
}

typedef struct id_list {
    cr_id *ids;
    size_t n, cap;
    const char *prefix; /* required first 2 digits (data/xx), or NULL */
} id_list;

static int list_cb(const char *name, const cr_store_info *info, void *payload)
{
    id_list *l = payload;
    (void)info;
    /* Anything we did not name is not ours to list. */
    if (!is_id_name(name) || (l->prefix && strncmp(name, l->prefix, 2) != 0))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        cr_id *p = cr_realloc(l->ids, cap * sizeof(*p));
        if (!p)
            return CR_ERROR;
        l->ids = p;
        l->cap = cap;
    }
    cr_id_from_hex(&l->ids[l->n++], name);
    return 0;
}

/* A name below data/: "xx/<id>" with xx the id's first two digits. */
static int below_cb(const char *name, const cr_store_info *info, void *payload)
{
    id_list *l = payload;
    char prefix[3];
    if (strlen(name) < 4 || name[2] != '/' || strchr(name + 3, '/'))
        return 0;
    memcpy(prefix, name, 2);
    prefix[2] = '\0';
    l->prefix = prefix;
    int err = list_cb(name + 3, info, l);
    l->prefix = NULL;
    return err;
}

/* Append the ids named in folder `sub` of the vault. */
static int list_dir(id_list *l, cr_repo *repo, const char *sub, const char *prefix, int missing_ok)
{
    l->prefix = prefix;
    int err = cr_store_list(repo->store, sub, !missing_ok, list_cb, l);
    if (err == CR_ENOTFOUND) {
        cr_error_set("folder %s/%s is missing: the vault is damaged", repo->path, sub);
        err = CR_ECORRUPT;
    }
    return err;
}

typedef struct temp_walk {
    cr_repo_temp_cb fn;
    void *payload;
    size_t taken;
} temp_walk;

static int temp_cb(const char *name, const cr_store_info *info, void *payload)
{
    temp_walk *t = payload;
    if (t->fn(name, info, t->payload) == 0)
        t->taken++;
    return 0;
}

size_t cr_repo_temp_files(cr_repo *repo, int64_t min_age_s, cr_repo_temp_cb fn, void *payload)
{
    static const char *const kinds[] = {"",     "keys",   "index",    "snapshots", "locks",
                                        "hunt", "forget", "journals", "runs",
                                        "runsum"};
    temp_walk t = {fn, payload, 0};
    char sub[16];
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        cr_store_list_temp(repo->store, kinds[i], min_age_s, temp_cb, &t);
    for (int i = 0; i < 256; i++) {
        snprintf(sub, sizeof(sub), "data/%02x", i);
        cr_store_list_temp(repo->store, sub, min_age_s, temp_cb, &t);
    }
    return t.taken;
}

static int temp_remove(const char *name, const cr_store_info *info, void *payload)
{
    (void)info;
    return cr_store_delete(payload, name) == 0 ? 0 : -1;
}

size_t cr_repo_clean_temp(cr_repo *repo, int64_t min_age_s)
{
    return cr_repo_temp_files(repo, min_age_s, temp_remove, repo->store);
}

int cr_repo_list(cr_id **out, size_t *count, cr_repo *repo, const char *kind)
{
    id_list l = {NULL, 0, 0, NULL};
    int err = 0;

    *out = NULL;
    *count = 0;
    if (!strcmp(kind, "data") &&
        (err = cr_store_list_below(repo->store, "data", below_cb, &l)) != CR_EINPUT) {
        /* listed in one go (S3) */
    } else if (!strcmp(kind, "data")) {
        err = 0;
        for (int i = 0; i < 256 && err == 0; i++) {
            char sub[16], prefix[3];
            snprintf(prefix, sizeof(prefix), "%02x", i);
            snprintf(sub, sizeof(sub), "data/%s", prefix);
            /* A missing data/xx folder only means no pack there. */
            err = list_dir(&l, repo, sub, prefix, 1);
        }
    } else if (!strcmp(kind, "keys") || !strcmp(kind, "index") || !strcmp(kind, "snapshots")) {
        err = list_dir(&l, repo, kind, NULL, 0);
    } else if (!strcmp(kind, "hunt") || !strcmp(kind, "forget") || !strcmp(kind, "journals") ||
               !strcmp(kind, "runs") || !strcmp(kind, "runsum")) {
        /* absent until the first hunt, forget, recovery, job run, records summary */
        err = list_dir(&l, repo, kind, NULL, 1);
    } else {
        cr_error_set("internal error: unknown kind of vault file '%s'", kind);
        err = CR_EINPUT;
    }
    if (err < 0) {
        free(l.ids);
        return err;
    }
    if (l.n)
        qsort(l.ids, l.n, sizeof(*l.ids), id_cmp);
    *out = l.ids;
    *count = l.n;
    return 0;
}

/* ------------------------------------------------------------------ usage */

typedef struct usage_walk {
    cr_repo_usage *u;
    int packs;
} usage_walk;

static int usage_cb(const char *name, const cr_store_info *info, void *payload)
{
    usage_walk *w = payload;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    /* the objects the vault names by their hash (a data/xx folder is not one) */
    if (strlen(base) != CR_ID_HEX_LEN || strspn(base, "0123456789abcdef") != CR_ID_HEX_LEN)
        return 0;
    w->u->bytes += info->size;
    w->u->files++;
    if (w->packs)
        w->u->pack_bytes += info->size;
    if (info->mtime_ns >= w->u->since_ns)
        w->u->bytes_since += info->size;
    return 0;
}

int cr_repo_usage_get(cr_repo_usage *out, cr_repo *repo, int64_t since_ns)
{
    static const char *const kinds[] = {"keys", "index", "snapshots", "hunt",
                                        "forget", "journals", "runs", "runsum"};
    usage_walk w = {out, 0};
    cr_store_info ci;
    int err = 0;

    memset(out, 0, sizeof(*out));
    out->since_ns = since_ns;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && err == 0; i++)
        err = cr_store_list(repo->store, kinds[i], 0, usage_cb, &w);
    w.packs = 1;
    if (err == 0 && (err = cr_store_list_below(repo->store, "data", usage_cb, &w)) == CR_EINPUT) {
        /* a backend with folders: one listing per data/xx */
        err = 0;
        for (int i = 0; i < 256 && err == 0; i++) {
            char sub[16];
            snprintf(sub, sizeof(sub), "data/%02x", i);
            err = cr_store_list(repo->store, sub, 0, usage_cb, &w);
        }
    }
    if (err < 0)
        return err;
    if (cr_store_stat(repo->store, "config", &ci) == 0) {
        out->bytes += ci.size;
        out->files++;
        if (ci.mtime_ns >= since_ns)
            out->bytes_since += ci.size;
    }
    if (cr_store_is_local(repo->store)) {
        struct statvfs vf;
        if (statvfs(cr_store_location(repo->store), &vf) == 0) {
            out->space_known = 1;
            out->space_free = (uint64_t)vf.f_bavail * vf.f_frsize;
            out->space_total = (uint64_t)vf.f_blocks * vf.f_frsize;
        }
    }
    return 0;
}
