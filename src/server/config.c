/*
 * The vault server's files: its config (server/server.json), its TLS key and
 * self-signed certificate (util/http.c), and its tokens (server/tokens.json: only
 * the SHA-256 of each token is kept, with its label, role and sources).
 */
#include "server/server.h"
#include "util/http.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_FORMAT "cleanroom-server"
#define MAX_CONFIG (64u * 1024)
#define MAX_TOKENS_FILE (4u * 1024 * 1024)

const char *cr_token_role_name(cr_token_role role)
{
    switch (role) {
    case CR_ROLE_READ: return "read";
    case CR_ROLE_BACKUP: return "backup";
    case CR_ROLE_ADMIN: return "admin";
    }
    return NULL;
}

int cr_token_role_parse(cr_token_role *out, const char *name)
{
    for (int r = CR_ROLE_READ; r <= CR_ROLE_ADMIN; r++)
        if (name && !strcmp(name, cr_token_role_name((cr_token_role)r))) {
            *out = (cr_token_role)r;
            return 0;
        }
    cr_error_set("unknown role '%s': use backup, read or admin", name ? name : "");
    return CR_EINPUT;
}

/* ------------------------------------------------------------ paths */

/* `rel` resolved against the folder of the config file. */
static int resolve(char *out, size_t outlen, const char *config, const char *rel)
{
    if (rel[0] == '/') {
        if (snprintf(out, outlen, "%s", rel) >= (int)outlen)
            goto too_long;
        return 0;
    }
    const char *slash = strrchr(config, '/');
    int n = slash ? snprintf(out, outlen, "%.*s/%s", (int)(slash - config), config, rel)
                  : snprintf(out, outlen, "%s", rel);
    if (n >= (int)outlen)
        goto too_long;
    return 0;
too_long:
    cr_error_set("path too long: %s", rel);
    return CR_EINPUT;
}

/* ------------------------------------------------------------ config */

void cr_srv_config_clear(cr_srv_config *c)
{
    free(c->storage);
    free(c->listen);
    memset(c, 0, sizeof(*c));
}

static int get_int(json_t *root, const char *key, long long def, long long min, long long max,
                   long long *out, const char *path)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        cr_error_set("%s: \"%s\" must be a whole number from %lld to %lld", path, key, min, max);
        return CR_EINPUT;
    }
    *out = json_integer_value(v);
    return 0;
}

int cr_srv_config_load(cr_srv_config *c, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *v;
    long long x;
    int err;

    memset(c, 0, sizeof(*c));
    if ((err = cr_fs_read_all(&b, AT_FDCWD, path, MAX_CONFIG)) < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("no server config at %s: make one with 'cleanroom server init DIR'",
                         path);
        goto done;
    }
    root = json_loadb((const char *)b.ptr, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        cr_error_set("%s line %d: not valid JSON (%s)", path, jerr.line, jerr.text);
        err = CR_EINPUT;
        goto done;
    }
    v = json_object_get(root, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), CONFIG_FORMAT) != 0) {
        cr_error_set("%s is not a cleanroom server config (no \"format\": \"%s\")", path,
                     CONFIG_FORMAT);
        err = CR_EINPUT;
        goto done;
    }
    snprintf(c->path, sizeof(c->path), "%s", path);
    v = json_object_get(root, "storage");
    if (!json_is_string(v) || !json_string_length(v)) {
        cr_error_set("%s: \"storage\" (the vault's folder or s3: location) is missing", path);
        err = CR_EINPUT;
        goto done;
    }
    const char *st = json_string_value(v);
    char full[PATH_MAX];
    if (strncmp(st, "s3:", 3) != 0) {
        if ((err = resolve(full, sizeof(full), path, st)) < 0)
            goto done;
        st = full;
    }
    v = json_object_get(root, "listen");
    if (!(c->storage = cr_strdup(st)) ||
        !(c->listen = cr_strdup(json_is_string(v) ? json_string_value(v) : "127.0.0.1:8443"))) {
        err = CR_ERROR;
        goto done;
    }
    static const char *const files[] = {"tls_cert", "tls_key", "tokens"};
    static const char *const defaults[] = {"tls.crt", "tls.key", "tokens.json"};
    char *dst[] = {c->cert, c->key, c->tokens};
    for (int i = 0; i < 3; i++) {
        v = json_object_get(root, files[i]);
        if ((err = resolve(dst[i], sizeof(c->cert), path,
                           json_is_string(v) ? json_string_value(v) : defaults[i])) < 0)
            goto done;
    }
    if ((err = get_int(root, "max_connections", 512, 4, 100000, &x, path)) < 0)
        goto done;
    c->max_connections = (unsigned)x;
    if ((err = get_int(root, "max_connections_per_ip", 64, 1, 100000, &x, path)) < 0)
        goto done;
    c->max_per_ip = (unsigned)x;
    if ((err = get_int(root, "timeout_seconds", 30, 1, 3600, &x, path)) < 0)
        goto done;
    c->timeout_s = (unsigned)x;
    if ((err = get_int(root, "max_upload_memory_mib", 2048, 64, 1 << 20, &x, path)) < 0)
        goto done;
    c->max_inflight = (uint64_t)x << 20;
    if ((err = get_int(root, "threads", 4, 1, 64, &x, path)) < 0)
        goto done;
    c->threads = (unsigned)x;
    if ((err = get_int(root, "max_refusals_per_minute", 60, 1, 1000000, &x, path)) < 0)
        goto done;
    c->max_refusals = (unsigned)x;
    v = json_object_get(root, "immutable");
    c->immutable = v ? json_is_true(v) : 1;
done:
    json_decref(root);
    cr_buf_free(&b);
    if (err < 0)
        cr_srv_config_clear(c);
    return err;
}

/* ------------------------------------------------------------ TLS */

/* ------------------------------------------------------------ init */

int cr_server_init(cr_server_init_result *out, const char *dir, const char *passphrase,
                   const cr_init_options *vault_opts)
{
    char sdir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16], cfgpath[PATH_MAX];
    json_t *cfg = NULL;
    char *text = NULL;
    cr_buf pem = CR_BUF_INIT;
    struct stat st;
    int err;

    memset(out, 0, sizeof(*out));
    if (!dir || !*dir) {
        cr_error_set("no folder given");
        return CR_EINPUT;
    }
    if (snprintf(sdir, sizeof(sdir), "%s/server", dir) >= (int)sizeof(sdir) ||
        snprintf(cfgpath, sizeof(cfgpath), "%s/server.json", sdir) >= (int)sizeof(cfgpath)) {
        cr_error_set("path too long: %s", dir);
        return CR_EINPUT;
    }
    if (stat(cfgpath, &st) == 0) {
        /* Set up already: say where, and the fingerprint to pin (nothing is changed). */
        cr_srv_config c;
        snprintf(out->config, sizeof(out->config), "%s", cfgpath);
        if (cr_srv_config_load(&c, cfgpath) == 0) {
            if (cr_fs_read_all(&pem, AT_FDCWD, c.cert, 1u << 20) == 0)
                cr_http_tls_fingerprint(out->fingerprint, (const char *)pem.ptr, pem.len);
            cr_srv_config_clear(&c);
            cr_buf_free(&pem);
        }
        cr_error_set("%s already exists: the server is set up (nothing was changed)", cfgpath);
        return CR_EEXISTS;
    }
    /* The vault first: a new vault needs an empty folder. */
    char vcfg[PATH_MAX];
    snprintf(vcfg, sizeof(vcfg), "%s/config", dir);
    if (stat(vcfg, &st) != 0) {
        if (!passphrase) {
            cr_error_set("there is no vault in %s: give a passphrase to create one", dir);
            return CR_ENOTFOUND;
        }
        if ((err = cr_repo_init(dir, passphrase, vault_opts)) < 0)
            return err;
        out->vault_created = 1;
    }
    if (mkdir(sdir, 0700) < 0 && errno != EEXIST)
        return cr_error_errno("cannot create %s", sdir);
    snprintf(cert, sizeof(cert), "%s/tls.crt", sdir);
    snprintf(key, sizeof(key), "%s/tls.key", sdir);
    if (stat(cert, &st) != 0 && (err = cr_http_tls_make(cert, key, "cleanroom vault server")) < 0)
        goto done;
    if ((err = cr_fs_read_all(&pem, AT_FDCWD, cert, 1u << 20)) < 0 ||
        (err = cr_http_tls_fingerprint(out->fingerprint, (const char *)pem.ptr, pem.len)) < 0)
        goto done;
    cfg = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:b}", "format",
                    CONFIG_FORMAT, "version", 1, "storage", "..", "listen", "127.0.0.1:8443",
                    "tls_cert", "tls.crt", "tls_key", "tls.key", "tokens", "tokens.json",
                    "max_connections", 512, "max_connections_per_ip", 64, "timeout_seconds", 30,
                    "max_upload_memory_mib", 2048, "immutable", 1);
    if (!cfg || !(text = json_dumps(cfg, JSON_INDENT(2)))) {
        err = CR_ERROR;
        goto done;
    }
    size_t tlen = strlen(text);
    text[tlen++] = '\n';
    if ((err = cr_fs_write_atomic(AT_FDCWD, cfgpath, text, tlen, 0600, 1)) < 0)
        goto done;
    snprintf(out->config, sizeof(out->config), "%s", cfgpath);
done:
    json_decref(cfg);
    free(text);
    cr_buf_free(&pem);
    return err;
}

/* ------------------------------------------------------------ tokens */

void cr_srv_tokens_clear(cr_srv_tokens *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

int cr_srv_tokens_load(cr_srv_tokens *t, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    json_error_t jerr;
    json_t *root = NULL, *e;
    size_t i;
    int err;

    memset(t, 0, sizeof(*t));
    err = cr_fs_read_all(&b, AT_FDCWD, path, MAX_TOKENS_FILE);
    if (err == CR_ENOTFOUND) {
        cr_error_clear();
        return 0; /* no token yet */
    }
    if (err < 0)
        goto done;
    root = json_loadb((const char *)b.ptr, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_array(json_object_get(root, "tokens"))) {
        cr_error_set("%s is damaged (not a token list): no token is accepted until it is "
                     "repaired",
                     path);
        err = CR_ECORRUPT;
        goto done;
    }
    json_t *a = json_object_get(root, "tokens");
    if (json_array_size(a) && !(t->v = cr_calloc(json_array_size(a), sizeof(*t->v)))) {
        err = CR_ERROR;
        goto done;
    }
    json_array_foreach(a, i, e) {
        cr_srv_token *k = &t->v[t->n];
        const char *hash = json_string_value(json_object_get(e, "sha256"));
        const char *role = json_string_value(json_object_get(e, "role"));
        json_t *src = json_object_get(e, "sources"), *s;
        size_t j;
        if (!hash || strlen(hash) != 64 || cr_hex_decode(k->hash, 32, hash) < 0 || !role ||
            cr_token_role_parse(&k->info.role, role) < 0) {
            cr_error_set("%s: token %zu is damaged", path, i + 1);
            err = CR_ECORRUPT;
            goto done;
        }
        memcpy(k->info.id, hash, 16);
        snprintf(k->info.label, sizeof(k->info.label), "%s",
                 json_string_value(json_object_get(e, "label")) ?: "");
        k->info.created_s = json_integer_value(json_object_get(e, "created"));
        k->info.expires_s = json_integer_value(json_object_get(e, "expires"));
        k->info.revoked = json_is_true(json_object_get(e, "revoked"));
        json_array_foreach(src, j, s) {
            size_t l = strlen(k->info.sources);
            snprintf(k->info.sources + l, sizeof(k->info.sources) - l, "%s%s", l ? "," : "",
                     json_string_value(s) ?: "");
        }
        t->n++;
    }
done:
    json_decref(root);
    cr_buf_free(&b);
    if (err < 0)
        cr_srv_tokens_clear(t);
    return err;
}

static int tokens_save(const cr_srv_tokens *t, const char *path)
{
    json_t *root = json_object(), *a = json_array();
    char hex[65], *text = NULL;
    int err = CR_ERROR;
    if (!root || !a)
        goto done;
    for (size_t i = 0; i < t->n; i++) {
        const cr_srv_token *k = &t->v[i];
        json_t *src = json_array();
        char tmp[sizeof(k->info.sources)], *save = NULL;
        snprintf(tmp, sizeof(tmp), "%s", k->info.sources);
        for (char *p = strtok_r(tmp, ",", &save); p; p = strtok_r(NULL, ",", &save))
            json_array_append_new(src, json_string(p));
        cr_hex_encode(hex, k->hash, 32);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:b}", "sha256", hex,
                                           "label", k->info.label, "role",
                                           cr_token_role_name(k->info.role), "sources", src,
                                           "created", (json_int_t)k->info.created_s, "expires",
                                           (json_int_t)k->info.expires_s, "revoked",
                                           k->info.revoked));
    }
    json_object_set_new(root, "tokens", a);
    a = NULL;
    if (!(text = json_dumps(root, JSON_INDENT(2))))
        goto done;
    size_t tlen = strlen(text);
    text[tlen++] = '\n';
    err = cr_fs_write_atomic(AT_FDCWD, path, text, tlen, 0600, 0);
done:
    if (err == CR_ERROR && !text)
        cr_error_set("out of memory (tokens)");
    json_decref(a);
    json_decref(root);
    free(text);
    return err;
}

int cr_server_token_add(char token_out[80], const char *config, cr_token_role role,
                        const char *const *sources, size_t nsources, const char *label,
                        int64_t expires_s)
{
    cr_srv_config c;
    cr_srv_tokens t;
    uint8_t raw[32];
    int err;

    token_out[0] = '\0';
    if (!label || !*label || strlen(label) >= sizeof(t.v->info.label)) {
        cr_error_set("give the token a label (--name) of 1 to 127 bytes: it names the token in "
                     "the server's log");
        return CR_EINPUT;
    }
    if (!cr_token_role_name(role)) {
        cr_error_set("unknown role");
        return CR_EINPUT;
    }
    if ((err = cr_srv_config_load(&c, config)) < 0)
        return err;
    if ((err = cr_srv_tokens_load(&t, c.tokens)) < 0)
        goto done;
    for (size_t i = 0; i < t.n; i++)
        if (!t.v[i].info.revoked && !strcmp(t.v[i].info.label, label)) {
            cr_error_set("a token labelled '%s' exists: choose another label or revoke it first",
                         label);
            err = CR_EEXISTS;
            goto done;
        }
    cr_srv_token *nv = cr_realloc(t.v, (t.n + 1) * sizeof(*nv));
    if (!nv) {
        err = CR_ERROR;
        goto done;
    }
    t.v = nv;
    cr_srv_token *k = &t.v[t.n];
    memset(k, 0, sizeof(*k));
    randombytes_buf(raw, sizeof(raw));
    strcpy(token_out, "crt_");
    cr_hex_encode(token_out + 4, raw, sizeof(raw));
    crypto_hash_sha256(k->hash, (const unsigned char *)token_out, strlen(token_out));
    k->info.role = role;
    snprintf(k->info.label, sizeof(k->info.label), "%s", label);
    for (size_t i = 0; i < nsources; i++) {
        size_t l = strlen(k->info.sources);
        if (strchr(sources[i], ',') || l + strlen(sources[i]) + 2 > sizeof(k->info.sources)) {
            cr_error_set("source name '%s' cannot be given to a token (comma, or too many)",
                         sources[i]);
            err = CR_EINPUT;
            goto done;
        }
        snprintf(k->info.sources + l, sizeof(k->info.sources) - l, "%s%s", l ? "," : "",
                 sources[i]);
    }
    k->info.created_s = (int64_t)time(NULL);
    k->info.expires_s = expires_s;
    t.n++;
    err = tokens_save(&t, c.tokens);
done:
    sodium_memzero(raw, sizeof(raw));
    if (err < 0) {
        sodium_memzero(token_out, 80);
        token_out[0] = '\0';
    }
    cr_srv_tokens_clear(&t);
    cr_srv_config_clear(&c);
    return err;
}

int cr_server_token_list(cr_token_info **out, size_t *n, const char *config)
{
    cr_srv_config c;
    cr_srv_tokens t;
    int err;
    *out = NULL;
    *n = 0;
    if ((err = cr_srv_config_load(&c, config)) < 0)
        return err;
    if ((err = cr_srv_tokens_load(&t, c.tokens)) == 0 && t.n) {
        if (!(*out = cr_calloc(t.n, sizeof(**out)))) {
            err = CR_ERROR;
        } else {
            for (size_t i = 0; i < t.n; i++)
                (*out)[i] = t.v[i].info;
            *n = t.n;
        }
    }
    cr_srv_tokens_clear(&t);
    cr_srv_config_clear(&c);
    return err;
}

int cr_server_token_revoke(const char *config, const char *label_or_id)
{
    cr_srv_config c;
    cr_srv_tokens t;
    size_t found = (size_t)-1, matches = 0;
    int err;
    if ((err = cr_srv_config_load(&c, config)) < 0)
        return err;
    if ((err = cr_srv_tokens_load(&t, c.tokens)) < 0)
        goto done;
    for (size_t i = 0; i < t.n; i++) {
        if (t.v[i].info.revoked)
            continue;
        if (!strcmp(t.v[i].info.label, label_or_id) ||
            (strlen(label_or_id) >= 4 &&
             !strncmp(t.v[i].info.id, label_or_id, strlen(label_or_id)))) {
            found = i;
            matches++;
        }
    }
    if (matches == 0) {
        cr_error_set("no token labelled or numbered '%s' (see 'cleanroom server token list')",
                     label_or_id);
        err = CR_ENOTFOUND;
        goto done;
    }
    if (matches > 1) {
        cr_error_set("'%s' names %zu tokens: give more of the id", label_or_id, matches);
        err = CR_EAMBIGUOUS;
        goto done;
    }
    t.v[found].info.revoked = 1;
    err = tokens_save(&t, c.tokens);
done:
    cr_srv_tokens_clear(&t);
    cr_srv_config_clear(&c);
    return err;
}
