/*
 * Creating and opening a vault, and the encrypted metadata files (index,
 * snapshots) every other module stores through it.
 *
 * A vault is a folder (layout in vault.h and docs/format.md). `config` is
 * written last by cr_repo_init: a folder without it is not a vault, so a crash
 * during init leaves something cr_repo_open refuses rather than a half vault.
 */
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_FORMAT "cleanroom-vault"
#define MAX_CONFIG (64u * 1024)
#define DEFAULT_COMPRESSION 3

static const char *const subdirs[] = {"keys", "data", "index", "snapshots", "locks", "hunt"};

/* ------------------------------------------------------------ init */

/* 0 if `path` is an empty folder, CR_EEXISTS (with the message) otherwise. */
static int check_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int err = 0, is_vault = 0, other = 0;
    if (!d)
        return cr_error_errno("cannot open folder %s", path);
    while ((e = readdir(d))) {
        /* lost+found: the root of a freshly formatted disk is still "empty". */
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "lost+found"))
            continue;
        if (!strcmp(e->d_name, "config"))
            is_vault = 1;
        else
            other = 1;
    }
    closedir(d);
    if (is_vault) {
        cr_error_set("a vault (or something with a config file) already exists at %s: nothing "
                     "was changed",
                     path);
        err = CR_EEXISTS;
    } else if (other) {
        cr_error_set("%s is not empty: a vault is created in a new or empty folder; nothing was "
                     "changed",
                     path);
        err = CR_EEXISTS;
    }
    return err;
}

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
    char id_hex[CR_ID_HEX_LEN + 1], created[48], name[32];
    json_t *cfg = NULL;
    char *text = NULL;
    int dirfd = -1, err;
    struct stat st;

    if (!opts)
        opts = &defaults;
    if (opts->version != CR_INIT_OPTIONS_VERSION) {
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
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            cr_error_set("%s exists and is not a folder: nothing was changed", path);
            return CR_EEXISTS;
        }
        if ((err = check_empty(path)) < 0)
            return err;
    } else if (errno != ENOENT) {
        return cr_error_errno("cannot use %s", path);
    } else if ((err = cr_fs_mkdir_p(AT_FDCWD, path, 0755)) < 0) {
        return err;
    }
    dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return cr_error_errno("cannot open folder %s", path);

    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        if (mkdirat(dirfd, subdirs[i], 0755) < 0) {
            err = cr_error_errno("cannot create %s/%s", path, subdirs[i]);
            goto done;
        }
    }
    for (int i = 0; i < 256; i++) {
        snprintf(name, sizeof(name), "data/%02x", i);
        if (mkdirat(dirfd, name, 0755) < 0) {
            err = cr_error_errno("cannot create %s/%s", path, name);
            goto done;
        }
    }
    /* Make the folders durable before anything refers to them. */
    if ((err = cr_fs_fsync_dir(dirfd, "data")) < 0 || (err = cr_fs_fsync_dir(dirfd, ".")) < 0)
        goto done;

    randombytes_buf(master, sizeof(master));
    randombytes_buf(idb, sizeof(idb));
    cr_hex_encode(id_hex, idb, sizeof(idb));
    if ((err = cr_keyfile_store(NULL, dirfd, master, id_hex, passphrase, opts->kdf)) < 0)
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
    err = cr_fs_write_atomic(dirfd, "config", text, tlen, 0644, 1);
done:
    sodium_memzero(master, sizeof(master));
    json_decref(cfg);
    free(text);
    if (dirfd >= 0)
        close(dirfd);
    return err;
}

/* ------------------------------------------------------------ open */

static int read_config(cr_repo *repo)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *v;
    int err;

    err = cr_fs_read_all(&b, repo->dirfd, "config", MAX_CONFIG);
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
    repo->dirfd = -1;
    if (pthread_mutex_init(&repo->mu, NULL) != 0) {
        free(repo);
        cr_error_set("cannot create a mutex");
        return CR_ERROR;
    }
    if (!(repo->path = cr_strdup(path))) {
        err = CR_ERROR;
        goto done;
    }
    repo->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (repo->dirfd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            cr_error_set("no cleanroom vault at %s (no such folder)", path);
            err = CR_ENOTFOUND;
        } else {
            err = cr_error_errno("cannot open the vault folder %s", path);
        }
        goto done;
    }
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
    if (repo->dirfd >= 0)
        close(repo->dirfd);
    pthread_mutex_destroy(&repo->mu);
    free(repo->path);
    free(repo);
}

const char *cr_repo_path(const cr_repo *repo)
{
    return repo->path;
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
        strcmp(kind, "journals") != 0) {
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
    /* hunt/, forget/ and journals/ appeared after format version 1 was first
     * released: vaults made before have none until their first hunt, forget or recovery. */
    if ((!strcmp(kind, "hunt") || !strcmp(kind, "forget") || !strcmp(kind, "journals")) &&
        mkdirat(repo->dirfd, kind, 0755) < 0 && errno != EEXIST) {
        err = cr_error_errno("cannot create folder %s/%s of the vault", repo->path, kind);
        goto done;
    }
    err = cr_fs_write_atomic(repo->dirfd, name, sealed, z.len + CR_SEAL_OVERHEAD, 0644, 1);
    if (err == CR_EEXISTS)
        err = 0; /* same bytes, same name: already stored */
done:
    free(sealed);
    cr_buf_free(&z);
    return err;
}

int cr_repo_load_file(cr_buf *out, cr_repo *repo, const char *kind, const cr_id *id)
{
    cr_buf raw = CR_BUF_INIT;
    uint8_t hash[32], *plain = NULL;
    char ad[64], hex[CR_ID_HEX_LEN + 1], name[96];
    size_t plen;
    int err;

    if ((err = check_kind(kind)) < 0)
        return err;
    cr_id_to_hex(hex, id);
    snprintf(name, sizeof(name), "%s/%s", kind, hex);
    err = cr_fs_read_all(&raw, repo->dirfd, name, CR_MAX_META_FILE);
    if (err == CR_ENOTFOUND) {
        cr_error_set("no %s file %s in the vault at %s", kind, hex, repo->path);
        goto done;
    }
    if (err < 0)
        goto done;
    cr_sha256(hash, raw.ptr, raw.len);
    if (memcmp(hash, id->b, 32) != 0) {
        cr_error_set("%s file %s is damaged: its content does not match its name (SHA-256)", kind,
                     hex);
        err = CR_ECORRUPT;
        goto done;
    }
    if (raw.len < CR_SEAL_OVERHEAD + 1) {
        cr_error_set("%s file %s is damaged: too short", kind, hex);
        err = CR_ECORRUPT;
        goto done;
    }
    plen = raw.len - CR_SEAL_OVERHEAD;
    if (!(plain = cr_malloc(plen))) {
        err = CR_ERROR;
        goto done;
    }
    snprintf(ad, sizeof(ad), "cleanroom-%s", kind);
    if (cr_unseal(plain, repo->keys.enc, ad, strlen(ad), raw.ptr, raw.len) < 0) {
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
            char msg[256];
            snprintf(msg, sizeof(msg), "%s", cr_error_last());
            cr_error_set("%s file %s: %s", kind, hex, msg);
        }
    } else {
        cr_error_set("%s file %s is damaged: unknown flags %u", kind, hex, plain[0]);
        err = CR_ECORRUPT;
    }
done:
    free(plain);
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
} id_list;

/* Append the ids named in folder `sub` (relative to the vault); prefix: required first 2 digits. */
static int list_dir(id_list *l, cr_repo *repo, const char *sub, const char *prefix, int missing_ok)
{
    int fd = openat(repo->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *e;
    int err = 0;
    if (fd < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        err = cr_error_errno("cannot read folder %s/%s of the vault", repo->path, sub);
        if (err == CR_ENOTFOUND) {
            cr_error_set("folder %s/%s is missing: the vault is damaged", repo->path, sub);
            err = CR_ECORRUPT;
        }
        return err;
    }
    if (!(d = fdopendir(fd))) {
        close(fd);
        return cr_error_errno("cannot read folder %s/%s of the vault", repo->path, sub);
    }
    errno = 0;
    while ((e = readdir(d))) {
        /* Temporary files (".tmp-*") of writes in progress or interrupted, and
         * anything else we did not name, are not ours to list. */
        if (!is_id_name(e->d_name) || (prefix && strncmp(e->d_name, prefix, 2) != 0))
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 64;
            cr_id *p = cr_realloc(l->ids, cap * sizeof(*p));
            if (!p) {
                err = CR_ERROR;
                goto done;
            }
            l->ids = p;
            l->cap = cap;
        }
        cr_id_from_hex(&l->ids[l->n++], e->d_name);
        errno = 0;
    }
    if (errno != 0)
        err = cr_error_errno("cannot read folder %s/%s of the vault", repo->path, sub);
done:
    closedir(d);
    return err;
}

/* Hand the ".tmp-*" regular files of one folder last changed before `cutoff` to fn. */
static size_t temp_dir(cr_repo *repo, const char *sub, time_t cutoff, cr_repo_temp_cb fn,
                       void *payload)
{
    int fd = openat(repo->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *e;
    size_t taken = 0;
    if (fd < 0)
        return 0;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return 0;
    }
    while ((e = readdir(d))) {
        struct stat st;
        char rel[320];
        if (strncmp(e->d_name, ".tmp-", 5) != 0)
            continue;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_mtime >= cutoff)
            continue;
        snprintf(rel, sizeof(rel), "%s/%s", sub, e->d_name);
        if (fn(fd, e->d_name, rel, &st, payload) == 0)
            taken++;
    }
    closedir(d);
    return taken;
}

size_t cr_repo_temp_files(cr_repo *repo, int64_t min_age_s, cr_repo_temp_cb fn, void *payload)
{
    static const char *const kinds[] = {"keys",   "index",  "snapshots", "locks",
                                        "hunt",   "forget", "journals"};
    time_t cutoff = time(NULL) - (time_t)min_age_s;
    size_t taken = 0;
    char sub[16];
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        taken += temp_dir(repo, kinds[i], cutoff, fn, payload);
    for (int i = 0; i < 256; i++) {
        snprintf(sub, sizeof(sub), "data/%02x", i);
        taken += temp_dir(repo, sub, cutoff, fn, payload);
    }
    return taken;
}

static int temp_remove(int dirfd, const char *name, const char *rel, const struct stat *st,
                       void *payload)
{
    (void)rel;
    (void)st;
    (void)payload;
    return unlinkat(dirfd, name, 0) == 0 ? 0 : -1;
}

size_t cr_repo_clean_temp(cr_repo *repo, int64_t min_age_s)
{
    return cr_repo_temp_files(repo, min_age_s, temp_remove, NULL);
}

int cr_repo_list(cr_id **out, size_t *count, cr_repo *repo, const char *kind)
{
    id_list l = {NULL, 0, 0};
    int err = 0;

    *out = NULL;
    *count = 0;
    if (!strcmp(kind, "data")) {
        for (int i = 0; i < 256 && err == 0; i++) {
            char sub[16], prefix[3];
            snprintf(prefix, sizeof(prefix), "%02x", i);
            snprintf(sub, sizeof(sub), "data/%s", prefix);
            /* A missing data/xx folder only means no pack there. */
            err = list_dir(&l, repo, sub, prefix, 1);
        }
    } else if (!strcmp(kind, "keys") || !strcmp(kind, "index") || !strcmp(kind, "snapshots")) {
        err = list_dir(&l, repo, kind, NULL, 0);
    } else if (!strcmp(kind, "hunt") || !strcmp(kind, "forget") || !strcmp(kind, "journals")) {
        err = list_dir(&l, repo, kind, NULL, 1); /* absent until the first hunt, forget, recovery */
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
