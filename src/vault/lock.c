/*
 * Vault locks: files under locks/, one per holder, so that the scheme works on
 * any file system a vault may live on (no fcntl locks, which NFS and some
 * USB file systems do not honour).
 *
 * locks/<32 random hex> = JSON {"pid":N,"hostname":"...","username":"...",
 *                               "time":"RFC 3339","exclusive":true|false}
 *
 * Acquire = write our own lock file first, then look at the others. Two
 * processes racing both see each other's file and both back off: a spurious
 * "locked" at worst, never two writers that each think they are alone.
 * A lock of this host whose process is dead (kill(pid, 0) gives ESRCH) is
 * stale and removed silently. Locks of other hosts cannot be checked, so the
 * message says how to remove one by hand. An unparseable lock file (a crash
 * while writing it would leave a temp file, not this, but a damaged disk may)
 * counts as a live lock while younger than an hour, then as stale; one whose
 * modification time is in the future (beyond a few minutes of clock skew
 * between the machines sharing the vault) has no age that can ever pass an
 * hour, and is stale too: a lock that can never expire would be a lockout.
 */
#include "vault/vault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOCK_FILE (64u * 1024)
#define UNPARSEABLE_LIVE_SECONDS 3600
#define CLOCK_SKEW_SECONDS 300

struct cr_lock {
    cr_repo *repo;
    char name[80]; /* "locks/<hex>" */
};

typedef struct lock_info {
    long long pid;
    char hostname[256];
    char username[64];
    char time[64];
    int exclusive;
} lock_info;

static int parse_lock(lock_info *li, const uint8_t *data, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr), *v;
    int ok = 0;
    memset(li, 0, sizeof(*li));
    if (!root || !json_is_object(root))
        goto done;
    v = json_object_get(root, "pid");
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT32_MAX)
        goto done;
    li->pid = json_integer_value(v);
    v = json_object_get(root, "hostname");
    if (!json_is_string(v))
        goto done;
    snprintf(li->hostname, sizeof(li->hostname), "%s", json_string_value(v));
    v = json_object_get(root, "username");
    if (json_is_string(v))
        snprintf(li->username, sizeof(li->username), "%s", json_string_value(v));
    v = json_object_get(root, "time");
    if (json_is_string(v))
        snprintf(li->time, sizeof(li->time), "%s", json_string_value(v));
    v = json_object_get(root, "exclusive");
    if (!json_is_boolean(v))
        goto done;
    li->exclusive = json_is_true(v);
    ok = 1;
done:
    json_decref(root);
    return ok;
}

static void remove_stale(cr_repo *repo, const char *name)
{
    /* Best effort: another process may be removing it at the same moment. */
    cr_store_delete(repo->store, name);
}

typedef struct name_list {
    char **v;
    size_t n, cap;
    const char *skip;   /* a name not to list (our own lock), or NULL */
    const char *prefix; /* only the names starting with it (prune's plans), or NULL: locks */
} name_list;

static int name_cb(const char *name, const cr_store_info *info, void *payload)
{
    name_list *l = payload;
    (void)info;
    /* Names starting with '.' are prune's plan files, not locks. */
    if (l->prefix ? strncmp(name, l->prefix, strlen(l->prefix)) != 0
                  : name[0] == '.' || (l->skip && !strcmp(name, l->skip)))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nv = cr_realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = cr_strdup(name)))
        return CR_ERROR;
    l->n++;
    return 0;
}

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The names of the lock files under locks/ but `skip`; with a prefix, the other files
 * under locks/ whose names start with it (then locks/ must exist). */
static int list_names(name_list *l, cr_repo *repo, const char *skip, const char *prefix)
{
    memset(l, 0, sizeof(*l));
    l->skip = skip;
    l->prefix = prefix;
    int err = cr_store_list(repo->store, "locks", prefix != NULL, name_cb, l);
    if (err < 0)
        names_free(l);
    return err;
}

int cr_lock_acquire(cr_lock **out, cr_repo *repo, int exclusive)
{
    cr_lock *lock = NULL;
    char host[256], user[64], when[48], hex[33], own[40];
    uint8_t rnd[16];
    json_t *obj = NULL;
    char *text = NULL;
    name_list l = {NULL, 0, 0, NULL, NULL};
    cr_buf b = CR_BUF_INIT;
    int err;

    *out = NULL;
    cr_who(host, sizeof(host), user, sizeof(user));
    cr_time_format(when, sizeof(when), cr_time_now_ns() / 1000000000LL * 1000000000LL);

    if (!(lock = cr_calloc(1, sizeof(*lock))))
        return CR_ERROR;
    lock->repo = repo;
    randombytes_buf(rnd, sizeof(rnd));
    cr_hex_encode(hex, rnd, sizeof(rnd));
    snprintf(own, sizeof(own), "%s", hex);
    snprintf(lock->name, sizeof(lock->name), "locks/%s", hex);

    obj = json_pack("{s:I, s:s, s:s, s:s, s:b}", "pid", (json_int_t)getpid(), "hostname", host,
                    "username", user, "time", when, "exclusive", exclusive ? 1 : 0);
    if (!obj || !(text = json_dumps(obj, JSON_COMPACT))) {
        cr_error_set("out of memory (lock)");
        err = CR_ERROR;
        goto fail_nofile;
    }
    if ((err = cr_store_put(repo->store, lock->name, text, strlen(text), CR_STORE_MUTABLE)) < 0)
        goto fail_nofile;

    if ((err = list_names(&l, repo, own, NULL)) < 0)
        goto fail;
    for (size_t i = 0; i < l.n; i++) {
        char name[300];
        lock_info li;
        snprintf(name, sizeof(name), "locks/%s", l.v[i]);
        int rerr = cr_store_get(repo->store, name, &b, MAX_LOCK_FILE);
        if (rerr == CR_ENOTFOUND)
            continue; /* released meanwhile */
        if (rerr == 0 && parse_lock(&li, b.ptr, b.len)) {
            if (!strcmp(li.hostname, host) && kill((pid_t)li.pid, 0) < 0 && errno == ESRCH) {
                remove_stale(repo, name);
                continue;
            }
        } else {
            cr_store_info st;
            if (cr_store_stat(repo->store, name, &st) < 0)
                continue;
            long long age = (long long)time(NULL) - (long long)(st.mtime_ns / 1000000000);
            if (age >= UNPARSEABLE_LIVE_SECONDS || age < -CLOCK_SKEW_SECONDS) {
                remove_stale(repo, name);
                continue;
            }
            /* Unknown holder: assume the worst, an exclusive lock. */
            cr_error_set("the vault at %s is locked: the lock file %s/%s cannot be read and is "
                         "less than an hour old. If no other cleanroom is working on this vault, "
                         "remove that file and try again",
                         repo->path, repo->path, name);
            err = CR_ELOCKED;
            goto fail;
        }
        if (exclusive || li.exclusive) {
            cr_error_set("the vault at %s is locked by another operation: process %lld on host "
                         "%s%s%s (%s lock since %s). Wait for it to finish. If that process is "
                         "truly gone, remove the file %s/%s and try again",
                         repo->path, li.pid, li.hostname, li.username[0] ? ", user " : "",
                         li.username, li.exclusive ? "exclusive" : "shared",
                         li.time[0] ? li.time : "an unknown time", repo->path, name);
            err = CR_ELOCKED;
            goto fail;
        }
    }
    names_free(&l);
    json_decref(obj);
    free(text);
    cr_buf_free(&b);
    *out = lock;
    return 0;

fail:
    cr_store_delete(repo->store, lock->name);
fail_nofile:
    names_free(&l);
    json_decref(obj);
    free(text);
    cr_buf_free(&b);
    free(lock);
    return err;
}

void cr_lock_release(cr_lock *lock)
{
    if (!lock)
        return;
    cr_store_delete(lock->repo->store, lock->name);
    free(lock);
}

/* ------------------------------------------------------------ for prune */

const char *cr_lock_id(const cr_lock *lock)
{
    return lock->name + 6; /* after "locks/" */
}

int cr_lock_live(cr_repo *repo, const char *id)
{
    char name[300], host[256], user[64];
    cr_buf b = CR_BUF_INIT;
    lock_info li;
    int live = 1, r;

    snprintf(name, sizeof(name), "locks/%s", id);
    r = cr_store_get(repo->store, name, &b, MAX_LOCK_FILE);
    if (r == CR_ENOTFOUND) {
        live = 0;
    } else if (r == 0 && parse_lock(&li, b.ptr, b.len)) {
        cr_who(host, sizeof(host), user, sizeof(user));
        if (!strcmp(li.hostname, host) && kill((pid_t)li.pid, 0) < 0 && errno == ESRCH)
            live = 0; /* its process is gone */
    }
    cr_buf_free(&b);
    return live;
}

int cr_lock_others(char ***out, size_t *count, cr_repo *repo, const cr_lock *own)
{
    name_list l;
    int err = list_names(&l, repo, own ? cr_lock_id(own) : NULL, NULL);
    *out = err < 0 ? NULL : l.v;
    *count = err < 0 ? 0 : l.n;
    return err;
}

int cr_lock_dir_names(char ***out, size_t *count, cr_repo *repo, const char *prefix)
{
    name_list l;
    int err = list_names(&l, repo, NULL, prefix);
    *out = err < 0 ? NULL : l.v;
    *count = err < 0 ? 0 : l.n;
    return err;
}
