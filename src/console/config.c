/*
 * The console's files, in a folder of their own (not the vault's: the
 * console's accounts are the hospital's staff, not the vault's data):
 *
 *   console.json   {"format": "cleanroom-console", "listen": "127.0.0.1:8444",
 *                   "tls": true, "tls_cert": "tls.crt", "tls_key": "tls.key",
 *                   "users": "users.json", "session_idle_minutes": 30,
 *                   "session_max_hours": 12, "max_connections": 256,
 *                   "max_connections_per_ip": 32, "timeout_seconds": 30, "threads": 4}
 *                  every key optional; a missing file means all defaults.
 *   users.json     {"format": "cleanroom-console-users", "users": [{"name", "role",
 *                   "argon2id": "$argon2id$v=19$..."}]}, mode 0600, replaced whole.
 *
 * Checks on reading: JSON without duplicate keys, the format names, numbers in
 * range, account names from a small alphabet, roles known, hashes that are
 * Argon2id strings. Relative paths are resolved against the config's folder.
 */
#include "console/console.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FORMAT "cleanroom-console"
#define USERS_FORMAT "cleanroom-console-users"
#define MAX_CONFIG (64u * 1024)
#define MAX_USERS_FILE (4u * 1024 * 1024)

static const struct {
    const char *name;
    cr_console_role role;
} role_names[] = {
    {"lecteur", CR_CONSOLE_VIEWER},    {"opérateur", CR_CONSOLE_OPERATOR},
    {"admin", CR_CONSOLE_ADMIN},       {"operateur", CR_CONSOLE_OPERATOR},
    {"viewer", CR_CONSOLE_VIEWER},     {"operator", CR_CONSOLE_OPERATOR},
};

const char *cr_console_role_name(cr_console_role role)
{
    for (size_t i = 0; i < 3; i++)
        if (role_names[i].role == role)
            return role_names[i].name;
    return NULL;
}

int cr_console_role_parse(cr_console_role *out, const char *name)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (name && !strcmp(name, role_names[i].name)) {
            *out = role_names[i].role;
            return 0;
        }
    cr_error_set("unknown role '%s': use lecteur, opérateur or admin", name ? name : "");
    return CR_EINPUT;
}

int cr_con_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CR_CON_MAX_NAME)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* `rel` against the folder of `config`. */
static int resolve(char *out, size_t outlen, const char *config, const char *rel)
{
    const char *slash = strrchr(config, '/');
    int n = rel[0] == '/' || !slash ? snprintf(out, outlen, "%s", rel)
                                    : snprintf(out, outlen, "%.*s/%s", (int)(slash - config),
                                               config, rel);
    if (n < 0 || (size_t)n >= outlen) {
        cr_error_set("path too long: %s", rel);
        return CR_EINPUT;
    }
    return 0;
}

static int get_uint(json_t *root, const char *key, long long def, long long min, long long max,
                    unsigned *out, const char *path)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *out = (unsigned)def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        cr_error_set("%s: \"%s\" must be a whole number from %lld to %lld", path, key, min, max);
        return CR_EINPUT;
    }
    *out = (unsigned)json_integer_value(v);
    return 0;
}

static int get_str(json_t *root, const char *key, const char *def, char *out, size_t outlen,
                   const char *path)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_string(v)) {
        cr_error_set("%s: \"%s\" must be a string", path, key);
        return CR_EINPUT;
    }
    const char *s = v ? json_string_value(v) : def;
    if (strlen(s) >= outlen || !*s) {
        cr_error_set("%s: \"%s\" is empty or too long", path, key);
        return CR_EINPUT;
    }
    snprintf(out, outlen, "%s", s);
    return 0;
}

int cr_con_config_load(cr_con_config *c, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *v;
    char rel[PATH_MAX];
    int err;

    memset(c, 0, sizeof(*c));
    if (!path)
        path = CR_CONSOLE_DEFAULT_CONFIG;
    if (snprintf(c->path, sizeof(c->path), "%s", path) >= (int)sizeof(c->path)) {
        cr_error_set("path too long: %s", path);
        return CR_EINPUT;
    }
    err = cr_fs_read_all(&b, AT_FDCWD, path, MAX_CONFIG);
    if (err == CR_ENOTFOUND) {
        cr_error_clear();
        root = json_object(); /* every default */
        err = 0;
    } else if (err < 0) {
        goto done;
    } else {
        root = json_loadb((const char *)b.ptr, b.len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || !json_is_object(root)) {
            cr_error_set("%s line %d: not valid JSON (%s)", path, jerr.line, jerr.text);
            err = CR_EINPUT;
            goto done;
        }
        v = json_object_get(root, "format");
        if (!json_is_string(v) || strcmp(json_string_value(v), CONFIG_FORMAT) != 0) {
            cr_error_set("%s is not a cleanroom console config (no \"format\": \"%s\")", path,
                         CONFIG_FORMAT);
            err = CR_EINPUT;
            goto done;
        }
    }
    if (!root) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = get_str(root, "listen", "127.0.0.1:8444", c->listen, sizeof(c->listen), path)) <
        0)
        goto done;
    v = json_object_get(root, "tls");
    if (v && !json_is_boolean(v)) {
        cr_error_set("%s: \"tls\" must be true or false", path);
        err = CR_EINPUT;
        goto done;
    }
    c->tls = v ? json_is_true(v) : 1;
    static const char *const keys[] = {"tls_cert", "tls_key", "users", "plans",
                                       "drill_scratch", "restore_root"};
    static const char *const defs[] = {"tls.crt", "tls.key", "users.json", "plans", "/var/tmp",
                                       "/var/lib/cleanroom/restores"};
    char *dst[] = {c->cert, c->key, c->users, c->plans, c->scratch, c->restore_root};
    for (int i = 0; i < 6; i++)
        if ((err = get_str(root, keys[i], defs[i], rel, sizeof(rel), path)) < 0 ||
            (err = resolve(dst[i], sizeof(c->cert), path, rel)) < 0)
            goto done;
    unsigned idle_min, max_h;
    if ((err = get_uint(root, "max_connections", 256, 4, 100000, &c->max_connections, path)) <
            0 ||
        (err = get_uint(root, "max_connections_per_ip", 32, 1, 100000, &c->max_per_ip, path)) <
            0 ||
        (err = get_uint(root, "timeout_seconds", 30, 1, 3600, &c->timeout_s, path)) < 0 ||
        (err = get_uint(root, "threads", 4, 1, 64, &c->threads, path)) < 0 ||
        (err = get_uint(root, "session_idle_minutes", 30, 1, 24 * 60, &idle_min, path)) < 0 ||
        (err = get_uint(root, "session_max_hours", 12, 1, 24 * 7, &max_h, path)) < 0)
        goto done;
    /* The names the browser may use to reach the console (Host header): a page of another
     * site whose name was re-pointed at this address (DNS rebinding) names its own. */
    v = json_object_get(root, "hostnames");
    if (v && (!json_is_array(v) || json_array_size(v) > CR_CON_MAX_HOSTNAMES)) {
        cr_error_set("%s: \"hostnames\" must be a list of at most %d names or addresses", path,
                     CR_CON_MAX_HOSTNAMES);
        err = CR_EINPUT;
        goto done;
    }
    for (size_t i = 0; v && i < json_array_size(v); i++) {
        const char *h = json_string_value(json_array_get(v, i));
        if (!h || !*h || strlen(h) >= sizeof(c->hostnames[0]) || strchr(h, '/') ||
            strchr(h, ' ')) {
            cr_error_set("%s: \"hostnames\" entry %zu is not a host name or address", path,
                         i + 1);
            err = CR_EINPUT;
            goto done;
        }
        snprintf(c->hostnames[c->nhostnames++], sizeof(c->hostnames[0]), "%s", h);
    }
    c->session_idle_s = idle_min * 60;
    c->session_max_s = max_h * 3600;
done:
    json_decref(root);
    cr_buf_free(&b);
    return err;
}

/* ------------------------------------------------------------ accounts */

void cr_con_users_clear(cr_con_users *u)
{
    if (u->v)
        sodium_memzero(u->v, u->n * sizeof(*u->v));
    free(u->v);
    memset(u, 0, sizeof(*u));
}

int cr_con_users_load(cr_con_users *u, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *a, *e;
    size_t i;
    int err;

    memset(u, 0, sizeof(*u));
    err = cr_fs_read_all(&b, AT_FDCWD, path, MAX_USERS_FILE);
    if (err == CR_ENOTFOUND) {
        cr_error_clear();
        return 0;
    }
    if (err < 0)
        goto done;
    root = json_loadb((const char *)b.ptr, b.len, JSON_REJECT_DUPLICATES, &jerr);
    a = root ? json_object_get(root, "users") : NULL;
    if (!json_is_array(a) ||
        !json_is_string(json_object_get(root, "format")) ||
        strcmp(json_string_value(json_object_get(root, "format")), USERS_FORMAT) != 0) {
        cr_error_set("%s is damaged (not a console account list): nobody can log in until it "
                     "is repaired",
                     path);
        err = CR_ECORRUPT;
        goto done;
    }
    if (json_array_size(a) && !(u->v = cr_calloc(json_array_size(a), sizeof(*u->v)))) {
        err = CR_ERROR;
        goto done;
    }
    json_array_foreach(a, i, e) {
        cr_con_user *x = &u->v[u->n];
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *role = json_string_value(json_object_get(e, "role"));
        const char *hash = json_string_value(json_object_get(e, "argon2id"));
        if (!cr_con_name_ok(name) || !role || cr_console_role_parse(&x->role, role) < 0 ||
            !hash || strlen(hash) >= sizeof(x->hash) || strncmp(hash, "$argon2id$", 10) != 0) {
            cr_error_set("%s: account %zu is damaged: nobody can log in until it is repaired",
                         path, i + 1);
            err = CR_ECORRUPT;
            goto done;
        }
        snprintf(x->name, sizeof(x->name), "%s", name);
        snprintf(x->hash, sizeof(x->hash), "%s", hash);
        u->n++;
    }
done:
    json_decref(root);
    cr_buf_free(&b);
    if (err < 0)
        cr_con_users_clear(u);
    return err;
}

static int users_save(const cr_con_users *u, const char *path)
{
    json_t *root = json_pack("{s:s, s:[]}", "format", USERS_FORMAT, "users");
    json_t *a = root ? json_object_get(root, "users") : NULL;
    char *text = NULL;
    int err = CR_ERROR;
    if (!a)
        goto done;
    for (size_t i = 0; i < u->n; i++)
        if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", u->v[i].name, "role",
                                               cr_console_role_name(u->v[i].role), "argon2id",
                                               u->v[i].hash)) < 0)
            goto done;
    if (!(text = json_dumps(root, JSON_INDENT(2))))
        goto done;
    size_t len = strlen(text);
    text[len++] = '\n';
    err = cr_fs_write_atomic(AT_FDCWD, path, text, len, 0600, 0);
done:
    if (err == CR_ERROR && !text)
        cr_error_set("out of memory (console accounts)");
    json_decref(root);
    free(text);
    return err;
}

/* The folder of the users file, made private if it is new. */
static int users_dir(const char *users)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(users, '/');
    if (!slash || slash == users)
        return 0;
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - users), users);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return cr_error_errno("cannot create %s", dir);
    return 0;
}

/* The exclusive lock of the accounts file (USERS.lock, 0600), held from reading the
 * accounts to renaming the new file over them: without it, two admins adding an account
 * at once would each write the list they read, and one account would be lost. */
static int users_lock(int *fd, const char *users)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s.lock", users);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return cr_error_errno("cannot open %s", path);
    while (flock(*fd, LOCK_EX) < 0) {
        if (errno == EINTR)
            continue;
        int err = cr_error_errno("cannot lock %s", path);
        close(*fd);
        *fd = -1;
        return err;
    }
    return 0;
}

static void users_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int cr_console_user_add(const char *config, const char *name, cr_console_role role,
                        const char *password)
{
    cr_con_config c;
    cr_con_users u = {0};
    cr_con_user *nv;
    int err, lock = -1;

    if (!cr_con_name_ok(name)) {
        cr_error_set("an account name is 1 to %d letters, digits, '.', '_' or '-'",
                     CR_CON_MAX_NAME);
        return CR_EINPUT;
    }
    if (!cr_console_role_name(role)) {
        cr_error_set("unknown role");
        return CR_EINPUT;
    }
    size_t plen = password ? strlen(password) : 0;
    if (plen < CR_CON_MIN_PASSWORD || plen > CR_CON_MAX_PASSWORD) {
        cr_error_set("a console password has %d to %d characters (a phrase is easier to type "
                     "at 3 a.m. than a short cipher)",
                     CR_CON_MIN_PASSWORD, CR_CON_MAX_PASSWORD);
        return CR_EINPUT;
    }
    if ((err = cr_init()) < 0 || (err = cr_con_config_load(&c, config)) < 0)
        return err;
    if ((err = users_dir(c.users)) < 0 || (err = users_lock(&lock, c.users)) < 0 ||
        (err = cr_con_users_load(&u, c.users)) < 0)
        goto done;
    for (size_t i = 0; i < u.n; i++)
        if (!strcmp(u.v[i].name, name)) {
            cr_error_set("an account named '%s' exists: remove it first to change it", name);
            err = CR_EEXISTS;
            goto done;
        }
    if (!(nv = cr_realloc(u.v, (u.n + 1) * sizeof(*nv)))) {
        err = CR_ERROR;
        goto done;
    }
    u.v = nv;
    memset(&u.v[u.n], 0, sizeof(*nv));
    snprintf(u.v[u.n].name, sizeof(u.v[u.n].name), "%s", name);
    u.v[u.n].role = role;
    /* Argon2id with libsodium's interactive limits: a login costs ~64 MiB and a fraction of
     * a second, the right trade for a password typed at a login page (and checked one at a
     * time by the console, see console.c). */
    if (crypto_pwhash_str_alg(u.v[u.n].hash, password, plen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        cr_error_set("not enough memory to hash the password (Argon2id needs 64 MiB)");
        err = CR_ERROR;
        goto done;
    }
    u.n++;
    err = users_save(&u, c.users);
done:
    users_unlock(lock);
    cr_con_users_clear(&u);
    return err;
}

int cr_console_user_remove(const char *config, const char *name)
{
    cr_con_config c;
    cr_con_users u = {0};
    int err, lock = -1;
    if ((err = cr_con_config_load(&c, config)) < 0)
        return err;
    if ((err = users_dir(c.users)) < 0 || (err = users_lock(&lock, c.users)) < 0 ||
        (err = cr_con_users_load(&u, c.users)) < 0)
        goto done;
    for (size_t i = 0; i < u.n; i++)
        if (!strcmp(u.v[i].name, name)) {
            memmove(&u.v[i], &u.v[i + 1], (u.n - i - 1) * sizeof(*u.v));
            u.n--;
            err = users_save(&u, c.users);
            goto done;
        }
    cr_error_set("no console account named '%s'", name);
    err = CR_ENOTFOUND;
done:
    users_unlock(lock);
    cr_con_users_clear(&u);
    return err;
}
