/*
 * cleanroom server: the vault's storage served over HTTPS (libmicrohttpd with
 * GnuTLS), so that production machines can add to the vault and read it, and
 * never remove, replace or hide anything.
 *
 * API (docs/commands/server.md), every request with "Authorization: Bearer TOKEN":
 *   HEAD /v1/o/NAME       size (Content-Length) and X-Cleanroom-Mtime-Ns
 *   GET  /v1/o/NAME       the object, or "Range: bytes=A-B" of it (206)
 *   PUT  /v1/o/NAME       create it: 201; the same bytes again: 201; other bytes: 409
 *   DELETE /v1/o/NAME     admin (loopback), or a backup token's own lock
 *   GET  /v1/list/DIR     "NAME\tSIZE\tMTIME_NS\n" per object; ?must=1: 404 if absent
 * What each role may do is rules.c; every refusal is logged with the token's
 * label (stderr and syslog), and a token refused too often is slowed to 429.
 */
#include "server/server.h"
#include "util/http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LOCKS_HELD 4096
#define MAX_TOKEN_SLOTS 1024

typedef struct held_lock {
    char name[CR_STORE_MAX_NAME + 1];
    char token[17];
} held_lock;

typedef struct refusal {
    char token[17]; /* "" for requests without a valid token: counted per address */
    char ip[64];
    int64_t minute;
    unsigned count;
} refusal;

typedef struct srv {
    cr_srv_config cfg;
    cr_store *store;
    const cr_server_options *opts;
    cr_http *http;
    pthread_mutex_t mu; /* tokens, held, refusals */
    cr_srv_tokens tokens;
    struct timespec tokens_mtime;
    int tokens_bad; /* the tokens file is damaged: nothing is accepted */
    held_lock *held;
    size_t nheld;
    refusal refs[MAX_TOKEN_SLOTS];
    size_t nrefs;
    atomic_uint_fast64_t inflight;
} srv;

typedef struct req {
    int responded;
    cr_srv_op op;
    cr_srv_kind kind;
    char name[CR_STORE_MAX_NAME + 1];
    char ip[64];
    int loopback;
    cr_token_info tok;
    cr_buf body;
    uint64_t expect, reserved;
} req;

/* ------------------------------------------------------------ log */

#define srv_log(s, refused, ...) cr_http_log((s)->http, refused, __VA_ARGS__)

/* ------------------------------------------------------------ tokens */

/* Reload the tokens file when it changed (a revoke takes effect at once). Under s->mu. */
static void tokens_refresh(srv *s)
{
    struct stat st;
    if (stat(s->cfg.tokens, &st) != 0) {
        if (s->tokens.n || s->tokens_bad) {
            cr_srv_tokens_clear(&s->tokens);
            s->tokens_bad = 0;
        }
        memset(&s->tokens_mtime, 0, sizeof(s->tokens_mtime));
        return;
    }
    if (st.st_mtim.tv_sec == s->tokens_mtime.tv_sec &&
        st.st_mtim.tv_nsec == s->tokens_mtime.tv_nsec)
        return;
    cr_srv_tokens t;
    if (cr_srv_tokens_load(&t, s->cfg.tokens) < 0) {
        srv_log(s, 1, "%s", cr_error_last());
        cr_srv_tokens_clear(&s->tokens);
        s->tokens_bad = 1;
    } else {
        cr_srv_tokens_clear(&s->tokens);
        s->tokens = t;
        s->tokens_bad = 0;
    }
    s->tokens_mtime = st.st_mtim;
}

/* The token of the request, into r->tok. @return 0, or 401 with *why. */
static int authenticate(srv *s, struct MHD_Connection *c, req *r, const char **why)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    uint8_t hash[32];
    int status = 401;
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        *why = "no token (Authorization: Bearer ...)";
        return 401;
    }
    crypto_hash_sha256(hash, (const unsigned char *)h + 7, strlen(h + 7));
    *why = "unknown token";
    pthread_mutex_lock(&s->mu);
    tokens_refresh(s);
    for (size_t i = 0; i < s->tokens.n; i++) {
        const cr_srv_token *t = &s->tokens.v[i];
        if (sodium_memcmp(t->hash, hash, 32) != 0)
            continue;
        r->tok = t->info;
        if (t->info.revoked)
            *why = "token revoked";
        else if (t->info.expires_s && (int64_t)time(NULL) >= t->info.expires_s)
            *why = "token expired";
        else
            status = 0;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return status;
}

/* Count a refusal; 1 if this token (or address, without a token) is over its rate. */
static int refusal_over(srv *s, const req *r)
{
    int64_t minute = (int64_t)time(NULL) / 60;
    int over = 0;
    size_t slot = s->nrefs;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nrefs; i++)
        if (!strcmp(s->refs[i].token, r->tok.id) && !strcmp(s->refs[i].ip, r->ip)) {
            slot = i;
            break;
        }
    if (slot == s->nrefs) {
        if (s->nrefs < MAX_TOKEN_SLOTS)
            s->nrefs++;
        else
            slot = (size_t)randombytes_uniform(MAX_TOKEN_SLOTS);
        memset(&s->refs[slot], 0, sizeof(s->refs[slot]));
        snprintf(s->refs[slot].token, sizeof(s->refs[slot].token), "%s", r->tok.id);
        snprintf(s->refs[slot].ip, sizeof(s->refs[slot].ip), "%s", r->ip);
    }
    refusal *f = &s->refs[slot];
    if (f->minute != minute) {
        f->minute = minute;
        f->count = 0;
    }
    over = ++f->count > s->cfg.max_refusals;
    pthread_mutex_unlock(&s->mu);
    return over;
}

/* ------------------------------------------------------------ replies */

#define reply_text cr_http_reply_text

/* Refuse: log with the token's label, answer status and why (429 when refused too often). */
static enum MHD_Result refuse(srv *s, struct MHD_Connection *c, req *r, const char *method,
                              const char *what, unsigned status, const char *why)
{
    char text[512];
    r->responded = 1;
    if (refusal_over(s, r))
        status = 429;
    srv_log(s, 1, "refused %s %s from %s (token %s%s%s): %u %s", method, what, r->ip,
            r->tok.label[0] ? "'" : "", r->tok.label[0] ? r->tok.label : "none",
            r->tok.label[0] ? "'" : "", status, why);
    snprintf(text, sizeof(text), "%s\n",
             status == 429 ? "too many refused requests: wait a minute" : why);
    return reply_text(c, status, text);
}

/* ------------------------------------------------------------ GET / HEAD */

typedef struct obj_reader {
    cr_store_obj *obj;
    uint64_t start, len;
} obj_reader;

static ssize_t obj_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    obj_reader *o = cls;
    if (pos >= o->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = o->len - pos < max ? (size_t)(o->len - pos) : max;
    if (cr_store_obj_read(o->obj, buf, n, o->start + pos) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return (ssize_t)n;
}

static void obj_free(void *cls)
{
    obj_reader *o = cls;
    cr_store_obj_close(o->obj);
    free(o);
}

static enum MHD_Result do_get(srv *s, struct MHD_Connection *c, req *r, const char *method)
{
    cr_store_obj *obj;
    cr_store_info info;
    int err = cr_store_obj_open(&obj, s->store, r->name);
    if (err == CR_ENOTFOUND)
        return reply_text(c, MHD_HTTP_NOT_FOUND, "no such object\n");
    if (err < 0) {
        srv_log(s, 0, "cannot read %s: %s", r->name, cr_error_last());
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the vault host cannot read it\n");
    }
    obj_reader *o = cr_calloc(1, sizeof(*o));
    if (!o) {
        cr_store_obj_close(obj);
        return MHD_NO;
    }
    o->obj = obj;
    o->len = cr_store_obj_size(obj);
    unsigned status = MHD_HTTP_OK;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    uint64_t size = o->len;
    if (range && r->op == SRV_GET) {
        if (cr_srv_parse_range(&o->start, &o->len, range, size) < 0) {
            obj_free(o);
            (void)method;
            return reply_text(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
        }
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(o->len, 256 * 1024, obj_cb, o,
                                                                  obj_free);
    if (!resp) {
        obj_free(o);
        return MHD_NO;
    }
    char v[96];
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        snprintf(v, sizeof(v), "bytes %llu-%llu/%llu", (unsigned long long)o->start,
                 (unsigned long long)(o->start + o->len - 1), (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", v);
    }
    if (cr_store_stat(s->store, r->name, &info) == 0) {
        snprintf(v, sizeof(v), "%lld", (long long)info.mtime_ns);
        MHD_add_response_header(resp, "X-Cleanroom-Mtime-Ns", v);
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ------------------------------------------------------------ LIST */

static int list_cb(const char *name, const cr_store_info *info, void *payload)
{
    cr_buf *b = payload;
    char line[CR_STORE_MAX_NAME + 64];
    int n = snprintf(line, sizeof(line), "%s\t%llu\t%lld\n", name,
                     (unsigned long long)info->size, (long long)info->mtime_ns);
    return cr_buf_put(b, line, (size_t)n);
}

static enum MHD_Result do_list(srv *s, struct MHD_Connection *c, req *r)
{
    const char *must = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "must");
    cr_buf b = CR_BUF_INIT;
    int err = cr_store_list(s->store, r->name, must && !strcmp(must, "1"), list_cb, &b);
    enum MHD_Result ret;
    if (err == CR_ENOTFOUND) {
        ret = reply_text(c, MHD_HTTP_NOT_FOUND, "no such folder\n");
    } else if (err < 0) {
        srv_log(s, 0, "cannot list %s: %s", r->name, cr_error_last());
        ret = reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the vault host cannot list it\n");
    } else {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(b.len, b.ptr, MHD_RESPMEM_MUST_COPY);
        if (!resp) {
            cr_buf_free(&b);
            return MHD_NO;
        }
        ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
    }
    cr_buf_free(&b);
    return ret;
}

/* ------------------------------------------------------------ PUT / DELETE */

static enum MHD_Result do_put(srv *s, struct MHD_Connection *c, req *r, const char *method)
{
    const char *why = NULL;
    int st;
    if (r->body.len != r->expect)
        return refuse(s, c, r, method, r->name, 400, "the body is shorter than Content-Length");
    if ((st = cr_srv_check_body(r->kind, r->name, r->body.ptr, r->body.len, &why)) != 0)
        return refuse(s, c, r, method, r->name, (unsigned)st, why);
    unsigned flags = r->kind == SRV_LOCK || r->kind == SRV_PLAN ? CR_STORE_MUTABLE
                     : r->kind == SRV_KEY                       ? CR_STORE_PRIVATE
                                                                : 0;
    int err = cr_store_put(s->store, r->name, r->body.ptr, r->body.len, flags);
    if (err == CR_EEXISTS)
        return refuse(s, c, r, method, r->name, 409,
                      "an object with that name and other bytes exists: it is never replaced "
                      "(an attempt to overwrite the vault)");
    if (err < 0) {
        srv_log(s, 0, "cannot store %s: %s", r->name, cr_error_last());
        return reply_text(c, err == CR_ENOSPACE ? MHD_HTTP_INSUFFICIENT_STORAGE
                                                : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          err == CR_ENOSPACE ? "the vault host's disk is full\n"
                                             : "the vault host cannot store it\n");
    }
    if (r->kind == SRV_LOCK) {
        pthread_mutex_lock(&s->mu);
        if (s->nheld == MAX_LOCKS_HELD) {
            /* The oldest record goes (a client that died long ago): its lock file stays for
             * the vault host's admin to remove. */
            memmove(s->held, s->held + 1, (s->nheld - 1) * sizeof(*s->held));
            s->nheld--;
        }
        held_lock *h = cr_realloc(s->held, (s->nheld + 1) * sizeof(*h));
        if (h) {
            s->held = h;
            snprintf(h[s->nheld].name, sizeof(h[0].name), "%s", r->name);
            snprintf(h[s->nheld].token, sizeof(h[0].token), "%s", r->tok.id);
            s->nheld++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (r->kind != SRV_LOCK)
        srv_log(s, 0, "stored %s (%zu bytes) for token '%s' from %s", r->name, r->body.len,
                r->tok.label, r->ip);
    return reply_text(c, MHD_HTTP_CREATED, "stored\n");
}

static enum MHD_Result do_delete(srv *s, struct MHD_Connection *c, req *r, const char *method)
{
    if (r->tok.role != CR_ROLE_ADMIN) {
        /* A backup token releases the locks it took, nothing else. */
        int own = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->nheld; i++)
            if (!strcmp(s->held[i].name, r->name) && !strcmp(s->held[i].token, r->tok.id)) {
                own = 1;
                memmove(&s->held[i], &s->held[i + 1], (s->nheld - i - 1) * sizeof(*s->held));
                s->nheld--; /* oldest first, kept in order */
                break;
            }
        pthread_mutex_unlock(&s->mu);
        if (!own)
            return refuse(s, c, r, method, r->name, 403,
                          "a backup token removes only the locks it took");
    }
    int err = cr_store_delete(s->store, r->name);
    if (err == CR_ENOTFOUND)
        return reply_text(c, MHD_HTTP_NOT_FOUND, "no such object\n");
    if (err < 0) {
        srv_log(s, 0, "cannot remove %s: %s", r->name, cr_error_last());
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the vault host cannot remove it\n");
    }
    if (r->kind != SRV_LOCK)
        srv_log(s, 0, "removed %s for admin token '%s'", r->name, r->tok.label);
    return reply_text(c, MHD_HTTP_NO_CONTENT, "");
}

/* ------------------------------------------------------------ dispatch */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    req *r = *con_cls;
    const char *why = NULL;
    int st;
    (void)version;

    if (!r) {
        /* First call: headers only. Every refusal is decided here, before any body is read. */
        if (!(r = cr_calloc(1, sizeof(*r))))
            return MHD_NO;
        *con_cls = r;
        cr_http_client(c, r->ip, &r->loopback);
        if ((st = authenticate(s, c, r, &why)) != 0)
            return refuse(s, c, r, method, url, (unsigned)st, why);
        if ((st = cr_srv_parse(&r->op, &r->kind, r->name, method, url, &why)) != 0)
            return refuse(s, c, r, method, url, (unsigned)st, why);
        if ((st = cr_srv_allowed(r->tok.role, r->op, r->kind, r->loopback, &why)) != 0)
            return refuse(s, c, r, method, r->name, (unsigned)st, why);
        if (r->op != SRV_PUT)
            return MHD_YES; /* answered on the next call */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        char *end;
        errno = 0;
        unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
        if (!cl || errno || *end || cl[0] < '0' || cl[0] > '9')
            return refuse(s, c, r, method, r->name, 411, "a PUT needs a Content-Length");
        if (n > cr_srv_max_body(r->kind))
            return refuse(s, c, r, method, r->name, 413, "the body is larger than any object");
        uint64_t before = atomic_fetch_add(&s->inflight, n);
        r->reserved = n;
        if (before + n > s->cfg.max_inflight) {
            r->responded = 1;
            srv_log(s, 1, "busy: %s from %s waits (uploads in memory at the limit)", r->name,
                    r->ip);
            return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                              "the vault server is busy: try again\n");
        }
        r->expect = n;
        r->body.max = (size_t)n;
        if (n && cr_buf_grow(&r->body, (size_t)n) < 0)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->responded) {
        /* A refused body is not read: the connection is closed instead. */
        if (*upload_size)
            return MHD_NO;
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->op != SRV_PUT) {
            *upload_size = 0;
            return refuse(s, c, r, method, r->name, 400, "this request takes no body");
        }
        if (r->body.len + *upload_size > r->expect) {
            *upload_size = 0;
            return refuse(s, c, r, method, r->name, 400, "the body is longer than Content-Length");
        }
        cr_buf_put(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    r->responded = 1;
    switch (r->op) {
    case SRV_GET:
    case SRV_HEAD: return do_get(s, c, r, method);
    case SRV_LIST: return do_list(s, c, r);
    case SRV_PUT: return do_put(s, c, r, method);
    case SRV_DELETE: return do_delete(s, c, r, method);
    }
    return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    req *r = *con_cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    if (r->reserved)
        atomic_fetch_sub(&s->inflight, r->reserved);
    cr_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

static void default_log(int refused, const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "cleanroom server: %s%s\n", refused ? "WARNING " : "", line);
}

int cr_server_run(const char *config, const cr_server_options *opts)
{
    static const cr_server_options defaults = {0};
    srv s;
    cr_buf cert = CR_BUF_INIT, key = CR_BUF_INIT;
    int err;

    if (!opts)
        opts = &defaults;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    s.opts = opts;
    if ((err = cr_init()) < 0 || (err = cr_srv_config_load(&s.cfg, config)) < 0)
        goto done;
    const char *listen = opts->listen ? opts->listen : s.cfg.listen;
    struct sockaddr_storage addr;
    if ((err = cr_http_parse_listen(&addr, listen)) < 0)
        goto done;
    if ((err = cr_store_open(&s.store, s.cfg.storage, s.cfg.immutable ? CR_STORE_IMMUTABLE : 0)) <
        0)
        goto done;
    if ((err = cr_http_tls_load(&cert, &key, s.cfg.cert, s.cfg.key, NULL, NULL)) < 0)
        goto done;
    cr_http_config hc = {
        .listen = listen,
        .cert_pem = (const char *)cert.ptr,
        .key_pem = (const char *)key.ptr,
        .max_connections = s.cfg.max_connections,
        .max_per_ip = s.cfg.max_per_ip,
        .timeout_s = s.cfg.timeout_s,
        .threads = s.cfg.threads,
        .handler = handler,
        .handler_cls = &s,
        .completed = completed,
        .name = "cleanroom-server",
        .log = opts->log ? opts->log : default_log,
        .log_payload = opts->payload,
    };
    if ((err = cr_http_start(&s.http, &hc)) < 0)
        goto done;
    /* A damaged tokens file is said at once, not at the first request. */
    pthread_mutex_lock(&s.mu);
    tokens_refresh(&s);
    pthread_mutex_unlock(&s.mu);
    srv_log(&s, 0, "serving the vault at %s on %s, port %u", s.cfg.storage, listen,
            cr_http_port(s.http));
    if (opts->ready)
        opts->ready((int)cr_http_port(s.http), opts->payload);
    cr_http_wait(opts->stop);
    srv_log(&s, 0, "stopping");
    err = 0;
done:
    cr_http_stop(s.http);
    cr_http_tls_clear(&cert, &key);
    cr_store_free(s.store);
    cr_srv_tokens_clear(&s.tokens);
    free(s.held);
    cr_srv_config_clear(&s.cfg);
    pthread_mutex_destroy(&s.mu);
    return err;
}
