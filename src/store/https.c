/*
 * The https backend: a vault served by 'cleanroom server' (src/server), with
 * libcurl. Location "https://HOST:PORT/". The token comes from
 * CLEANROOM_TOKEN_FILE or CLEANROOM_TOKEN; the server is pinned by
 * CLEANROOM_SERVER_FINGERPRINT ("sha256//BASE64" of its public key, printed by
 * 'cleanroom server init') or checked against CLEANROOM_CACERT. Plain http is
 * refused: tokens never travel in clear.
 *
 * CURL handles are kept in a small pool (any thread takes one, returns it),
 * so that connections and TLS sessions are reused across requests.
 */
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL 16
#define MAX_LIST (64u * 1024 * 1024)

typedef struct https_store {
    char *base; /* "https://host:port" without the trailing '/' */
    char auth[160];
    char pin[160];
    char cacert[4096];
    pthread_mutex_t mu;
    CURL *pool[POOL];
    int npool;
} https_store;

typedef struct https_obj {
    cr_store_obj base;
    cr_store *s;
    char name[CR_STORE_MAX_NAME + 1];
} https_obj;

typedef struct resp {
    cr_buf *out;
    size_t max;
    int over;
    long long mtime_ns;
    char why[256]; /* the server's one-line reason, for refusals */
} resp;

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    if (!r->out) {
        size_t have = strlen(r->why), room = sizeof(r->why) - 1 - have;
        memcpy(r->why + have, p, len < room ? len : room);
        r->why[have + (len < room ? len : room)] = '\0';
        return len;
    }
    if (r->out->len + len > r->max) {
        r->over = 1;
        return 0;
    }
    return cr_buf_put(r->out, p, len) == 0 ? len : 0;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    static const char h[] = "x-cleanroom-mtime-ns:";
    if (len > sizeof(h) && !strncasecmp(p, h, sizeof(h) - 1))
        r->mtime_ns = strtoll(p + sizeof(h) - 1, NULL, 10);
    return len;
}

static CURL *take(https_store *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->npool)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->mu);
    if (!c && !(c = curl_easy_init()))
        return NULL;
    curl_easy_reset(c);
    return c;
}

static void give_back(https_store *h, CURL *c)
{
    pthread_mutex_lock(&h->mu);
    if (h->npool < POOL) {
        h->pool[h->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (c)
        curl_easy_cleanup(c);
}

/*
 * One request. body/blen for PUT; range "A-B" or NULL; out (bounded by max)
 * for the body of a success, else the reason is kept for the message.
 * @param[out] size_out Content-Length of a HEAD (may be NULL)
 */
static int request(cr_store *s, const char *method, const char *path, const void *body,
                   size_t blen, const char *range, cr_buf *out, size_t max, uint64_t *size_out,
                   int64_t *mtime_out)
{
    https_store *h = s->impl;
    char url[CR_STORE_MAX_NAME + 600], rng[80];
    long status = 0;
    int err = 0;

    snprintf(url, sizeof(url), "%s%s", h->base, path);
    for (int attempt = 0;; attempt++) {
        resp r = {NULL, max, 0, 0, ""};
        struct curl_slist *hdrs = NULL;
        CURL *c = take(h);
        if (!c) {
            cr_error_set("out of memory (curl)");
            return CR_ERROR;
        }
        if (out) {
            cr_buf_reset(out);
            r.out = out;
        }
        hdrs = curl_slist_append(hdrs, h->auth);
        if (range) {
            snprintf(rng, sizeof(rng), "Range: bytes=%s", range);
            hdrs = curl_slist_append(hdrs, rng);
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        if (h->pin[0]) {
            curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pin);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); /* self-signed; the pin decides */
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
            curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
        if (!strcmp(method, "HEAD")) {
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(method, "PUT")) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(hdrs);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && size_out) {
            curl_off_t cl = -1;
            curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            *size_out = cl < 0 ? 0 : (uint64_t)cl;
        }
        if (mtime_out)
            *mtime_out = r.mtime_ns;
        give_back(h, c);
        r.why[strcspn(r.why, "\n")] = '\0';
        if (cc == CURLE_WRITE_ERROR && r.over) {
            cr_error_set("%s: larger than expected (over %zu bytes)", path + 6, max);
            return CR_ECORRUPT;
        }
        if (cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
            cr_error_set("the vault server at %s is not the one pinned by "
                         "CLEANROOM_SERVER_FINGERPRINT (its TLS key differs): refusing to talk "
                         "to it",
                         h->base);
            return CR_EAUTH;
        }
        if (cc != CURLE_OK) {
            if (attempt < 3 && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
                                cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING)) {
                sleep(1u << attempt);
                continue;
            }
            cr_error_set("cannot reach the vault server at %s: %s", h->base,
                         curl_easy_strerror(cc));
            return CR_ERROR;
        }
        if ((status == 503 || status == 429) && attempt < 5) {
            sleep(1u << attempt);
            continue;
        }
        switch (status) {
        case 200:
        case 201:
        case 204:
        case 206: err = 0; break;
        case 404:
            cr_error_set("%s is missing on the vault server", path);
            err = CR_ENOTFOUND;
            break;
        case 409:
            cr_error_set("the vault server refused to replace %s: %s", path + 6, r.why);
            err = CR_EEXISTS;
            break;
        case 401:
            cr_error_set("the vault server refused the token (%s): check CLEANROOM_TOKEN_FILE",
                         r.why);
            err = CR_EAUTH;
            break;
        case 507:
            cr_error_set("the vault server's disk is full");
            err = CR_ENOSPACE;
            break;
        default:
            cr_error_set("the vault server refused %s %s: %ld %s", method, path, status, r.why);
            err = status == 400 || status == 413 || status == 416 ? CR_EINPUT : CR_ERROR;
        }
        return err;
    }
}

static int h_put(cr_store *s, const char *name, const void *data, size_t len, unsigned flags)
{
    char path[CR_STORE_MAX_NAME + 16];
    (void)flags; /* modes and immutability are the server's business */
    snprintf(path, sizeof(path), "/v1/o/%s", name);
    return request(s, "PUT", path, data, len, NULL, NULL, 0, NULL, NULL);
}

static int h_get(cr_store *s, const char *name, cr_buf *out, size_t max)
{
    char path[CR_STORE_MAX_NAME + 16];
    snprintf(path, sizeof(path), "/v1/o/%s", name);
    return request(s, "GET", path, NULL, 0, NULL, out, max, NULL, NULL);
}

static int h_stat(cr_store *s, const char *name, cr_store_info *out)
{
    char path[CR_STORE_MAX_NAME + 16];
    int64_t m = 0;
    snprintf(path, sizeof(path), "/v1/o/%s", name);
    int err = request(s, "HEAD", path, NULL, 0, NULL, NULL, 0, &out->size, &m);
    out->mtime_ns = m;
    return err;
}

static int h_list(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb,
                  void *payload)
{
    char path[CR_STORE_MAX_NAME + 32];
    cr_buf b = CR_BUF_INIT;
    snprintf(path, sizeof(path), "/v1/list/%s%s", dir, must_exist ? "?must=1" : "");
    int err = request(s, "GET", path, NULL, 0, NULL, &b, MAX_LIST, NULL, NULL);
    if (err == CR_ENOTFOUND && !must_exist)
        err = 0;
    if (err == 0 && b.len && b.ptr[b.len - 1] != '\n') {
        cr_error_set("the vault server's listing of %s is cut short", dir);
        err = CR_ECORRUPT;
    }
    for (size_t off = 0; err == 0 && off < b.len;) {
        char *line = (char *)b.ptr + off, *nl = memchr(line, '\n', b.len - off);
        *nl = '\0';
        off = (size_t)(nl - (char *)b.ptr) + 1;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) {
            cr_error_set("the vault server's listing of %s is damaged", dir);
            err = CR_ECORRUPT;
            break;
        }
        *t1 = '\0';
        cr_store_info info = {strtoull(t1 + 1, NULL, 10), strtoll(t2 + 1, NULL, 10), 0};
        if (cr_store_name_ok(line))
            err = cb(line, &info, payload);
    }
    cr_buf_free(&b);
    return err;
}

static int h_del(cr_store *s, const char *name)
{
    char path[CR_STORE_MAX_NAME + 16];
    snprintf(path, sizeof(path), "/v1/o/%s", name);
    return request(s, "DELETE", path, NULL, 0, NULL, NULL, 0, NULL, NULL);
}

static int obj_read(cr_store_obj *o, void *buf, size_t len, uint64_t off)
{
    https_obj *x = (https_obj *)o;
    char path[CR_STORE_MAX_NAME + 16], rng[64];
    cr_buf b = {buf, 0, len, len}; /* the caller's memory, bounded */
    if (len == 0)
        return 0;
    snprintf(path, sizeof(path), "/v1/o/%s", x->name);
    snprintf(rng, sizeof(rng), "%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    int err = request(x->s, "GET", path, NULL, 0, rng, &b, len, NULL, NULL);
    if (err == 0 && b.len != len) {
        cr_error_set("%s: the vault server sent %zu of %zu bytes", x->name, b.len, len);
        err = CR_ECORRUPT;
    }
    return err;
}

static void obj_close(cr_store_obj *o)
{
    free(o);
}

static int h_obj_open(cr_store_obj **out, cr_store *s, const char *name)
{
    cr_store_info info;
    int err = h_stat(s, name, &info);
    if (err < 0)
        return err;
    https_obj *o = cr_calloc(1, sizeof(*o));
    if (!o)
        return CR_ERROR;
    o->base.size = info.size;
    o->base.read = obj_read;
    o->base.close = obj_close;
    o->s = s;
    snprintf(o->name, sizeof(o->name), "%s", name);
    *out = &o->base;
    return 0;
}

static void h_free(cr_store *s)
{
    https_store *h = s->impl;
    if (!h)
        return;
    for (int i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    pthread_mutex_destroy(&h->mu);
    sodium_memzero(h->auth, sizeof(h->auth));
    free(h->base);
    free(h);
}

static const cr_store_ops https_ops = {
    .scheme = "https",
    .put = h_put,
    .get = h_get,
    .stat = h_stat,
    .list = h_list,
    .del = h_del,
    .list_temp = NULL,
    .obj_open = h_obj_open,
    .retain = NULL,
    .make_dirs = NULL,
    .free = h_free,
};

/* The token, from CLEANROOM_TOKEN_FILE or CLEANROOM_TOKEN, into h->auth. */
static int read_token(https_store *h)
{
    const char *file = getenv("CLEANROOM_TOKEN_FILE"), *tok = getenv("CLEANROOM_TOKEN");
    char buf[128] = "";
    if (file && *file) {
        cr_buf b = CR_BUF_INIT;
        int err = cr_fs_read_all(&b, AT_FDCWD, file, 4096);
        if (err < 0) {
            cr_error_prefix("cannot read the token file given by CLEANROOM_TOKEN_FILE");
            return err;
        }
        size_t n = b.len < sizeof(buf) - 1 ? b.len : sizeof(buf) - 1;
        memcpy(buf, b.ptr, n);
        buf[n] = '\0';
        sodium_memzero(b.ptr, b.len);
        cr_buf_free(&b);
    } else if (tok && *tok) {
        snprintf(buf, sizeof(buf), "%s", tok);
    } else {
        cr_error_set("a vault server needs a token: set CLEANROOM_TOKEN_FILE to the file holding "
                     "the token 'cleanroom server token add' printed (or CLEANROOM_TOKEN)");
        return CR_EINPUT;
    }
    buf[strcspn(buf, " \t\r\n")] = '\0';
    if (!buf[0]) {
        cr_error_set("the token is empty (CLEANROOM_TOKEN_FILE or CLEANROOM_TOKEN)");
        return CR_EINPUT;
    }
    snprintf(h->auth, sizeof(h->auth), "Authorization: Bearer %s", buf);
    sodium_memzero(buf, sizeof(buf));
    return 0;
}

int cr_store_https_open(cr_store *s, const char *location, unsigned flags)
{
    https_store *h;
    const char *pin = getenv("CLEANROOM_SERVER_FINGERPRINT"), *ca = getenv("CLEANROOM_CACERT");
    int err;

    if (strncmp(location, "https://", 8) != 0 || !location[8]) {
        cr_error_set("%s: a vault server is reached with https://HOST:PORT/ only", location);
        return CR_EINPUT;
    }
    if (!(h = cr_calloc(1, sizeof(*h))) || !(h->base = cr_strdup(location))) {
        free(h);
        return CR_ERROR;
    }
    pthread_mutex_init(&h->mu, NULL);
    s->impl = h;
    s->ops = &https_ops;
    size_t bl = strlen(h->base);
    while (bl > 8 && h->base[bl - 1] == '/')
        h->base[--bl] = '\0';
    if (strchr(h->base + 8, '/')) {
        cr_error_set("%s: give the server as https://HOST:PORT/ (no path)", location);
        err = CR_EINPUT;
        goto fail;
    }
    if ((err = read_token(h)) < 0)
        goto fail;
    if (pin && *pin) {
        if (strncmp(pin, "sha256//", 8) != 0 || strlen(pin) >= sizeof(h->pin)) {
            cr_error_set("CLEANROOM_SERVER_FINGERPRINT must look like sha256//BASE64 (as "
                         "'cleanroom server init' printed it)");
            err = CR_EINPUT;
            goto fail;
        }
        snprintf(h->pin, sizeof(h->pin), "%s", pin);
    } else if (ca && *ca) {
        snprintf(h->cacert, sizeof(h->cacert), "%s", ca);
    } else {
        cr_error_set("say which vault server to trust: set CLEANROOM_SERVER_FINGERPRINT (printed "
                     "by 'cleanroom server init') or CLEANROOM_CACERT");
        err = CR_EINPUT;
        goto fail;
    }
    if (flags & CR_STORE_CREATE) {
        /* A new vault there: the server must not hold one already. */
        cr_store_info info;
        err = h_stat(s, "config", &info);
        if (err == 0) {
            cr_error_set("a vault already exists at %s: nothing was changed", location);
            err = CR_EEXISTS;
            goto fail;
        }
        if (err != CR_ENOTFOUND)
            goto fail;
        cr_error_clear();
    }
    return 0;
fail:
    h_free(s);
    s->impl = NULL;
    s->ops = NULL;
    return err;
}
