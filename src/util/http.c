/*
 * The HTTP layer of the vault server and the web console (see http.h):
 * libmicrohttpd's daemon with TLS (GnuTLS inside MHD, the certificate made
 * here with OpenSSL), limits on connections, connections per address, time
 * per connection and threads, and one log path for both.
 */
#include "util/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define MAX_PEM (1u << 20)

struct cr_http {
    struct MHD_Daemon *d;
    char name[64];
    cr_http_log_fn log;
    void *log_payload;
    unsigned port;
};

/* ------------------------------------------------------------ log */

static void log_line(const cr_http *h, int refused, const char *line)
{
    if (refused)
        syslog(LOG_WARNING, "%s", line);
    if (h->log)
        h->log(refused, line, h->log_payload);
    else
        fprintf(stderr, "%s: %s\n", h->name, line);
}

void cr_http_log(const cr_http *h, int refused, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_line(h, refused, line);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    cr_http *h = cls;
    char line[512], msg[600];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    snprintf(msg, sizeof(msg), "http: %s", line);
    log_line(h, 0, msg);
}

/* ------------------------------------------------------------ addresses */

int cr_http_parse_listen(struct sockaddr_storage *ss, const char *listen)
{
    char host[128];
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char *end;
    memset(ss, 0, sizeof(*ss));
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
        goto bad;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == '\0')
        goto bad;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[strlen(host) - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            goto bad;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        goto bad;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    return 0;
bad:
    cr_error_set("cannot listen on '%s': give ADDRESS:PORT, such as 127.0.0.1:8443 or "
                 "[::1]:8443",
                 listen ? listen : "");
    return CR_EINPUT;
}

int cr_http_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

void cr_http_client(struct MHD_Connection *c, char ip[64], int *loopback)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(ip, 64, "?");
    *loopback = 0;
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, 64);
    *loopback = cr_http_addr_is_loopback(sa);
}

/* `name` (a Host header's host part, "[v6]" with its brackets) against `want`, which may be
 * written "::1" or "[::1]". */
static int host_same(const char *name, size_t len, const char *want)
{
    size_t wl = strlen(want);
    if (wl && want[0] != '[' && len == wl + 2 && name[0] == '[')
        return !strncasecmp(name + 1, want, wl);
    return len == wl && !strncasecmp(name, want, len);
}

int cr_http_host_ok(const char *host, const char *listen, const char *const *allowed,
                    size_t nallowed)
{
    size_t len;
    if (!host || !*host || strlen(host) > 300)
        return 0;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        if (!end || (end[1] && end[1] != ':'))
            return 0;
        len = (size_t)(end - host) + 1;
    } else {
        len = strcspn(host, ":");
        if (host[len] && strchr(host + len + 1, ':'))
            return 0; /* a bare IPv6 address or junk */
    }
    if (host[len] == ':' && (!host[len + 1] || strspn(host + len + 1, "0123456789") !=
                                                   strlen(host + len + 1)))
        return 0;
    for (size_t i = 0; i < nallowed; i++)
        if (allowed[i] && host_same(host, len, allowed[i]))
            return 1;
    struct sockaddr_storage ss;
    char lhost[128];
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || cr_http_parse_listen(&ss, listen) < 0) {
        cr_error_clear();
        return 0;
    }
    snprintf(lhost, sizeof(lhost), "%.*s", (int)(colon - listen), listen);
    int any = !strcmp(lhost, "0.0.0.0") || !strcmp(lhost, "[::]");
    if (!any && host_same(host, len, lhost))
        return 1;
    if (any || cr_http_addr_is_loopback((struct sockaddr *)&ss))
        return host_same(host, len, "localhost") || host_same(host, len, "127.0.0.1") ||
               host_same(host, len, "[::1]");
    return 0;
}

/* ------------------------------------------------------------ daemon */

int cr_http_start(cr_http **out, const cr_http_config *cfg)
{
    struct sockaddr_storage addr;
    cr_http *h;
    int err;

    *out = NULL;
    if ((err = cr_http_parse_listen(&addr, cfg->listen)) < 0)
        return err;
    if (!cfg->cert_pem && !cr_http_addr_is_loopback((struct sockaddr *)&addr)) {
        cr_error_set("refusing to listen on %s without TLS: passwords and session cookies "
                     "would cross the network in clear",
                     cfg->listen);
        return CR_EINPUT;
    }
    if (!(h = cr_calloc(1, sizeof(*h))))
        return CR_ERROR;
    snprintf(h->name, sizeof(h->name), "%s", cfg->name ? cfg->name : "cleanroom");
    h->log = cfg->log;
    h->log_payload = cfg->log_payload;
    /* Suspend and resume: a long answer (the console's live progress) waits for news with
     * its connection suspended, without holding one of the daemon's threads. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME |
                     (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    if (cfg->cert_pem)
        flags |= MHD_USE_TLS;
    /* MHD_OPTION_HTTPS_MEM_* are only accepted with MHD_USE_TLS: pass them last, after an
     * MHD_OPTION_END when there is no certificate. */
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, cfg->handler, cfg->handler_cls, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->timeout_s, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_NOTIFY_COMPLETED,
        cfg->completed, cfg->handler_cls, cfg->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg->cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem, MHD_OPTION_END);
    if (!h->d) {
        cr_error_set("cannot listen on %s (address in use, or not allowed)", cfg->listen);
        free(h);
        return CR_ERROR;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    /* openlog keeps the pointer it is given: a copy that outlives the daemon */
    static char ident[64];
    snprintf(ident, sizeof(ident), "%s", h->name);
    openlog(ident, LOG_PID, LOG_DAEMON);
    *out = h;
    return 0;
}

unsigned cr_http_port(const cr_http *h)
{
    return h->port;
}

void cr_http_stop(cr_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}

void cr_http_wait(volatile int *stop)
{
    while (!stop || !*stop) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------ replies */

void cr_http_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

enum MHD_Result cr_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    cr_http_common_headers(resp);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result cr_http_reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return cr_http_reply(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* ------------------------------------------------------------ TLS */

int cr_http_tls_make(const char *cert_path, const char *key_path, const char *cn)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    X509_NAME *name;
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    BIO *bio = NULL;
    char host[256] = "localhost", san[600];
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int err = CR_ERROR, fd;

    if (!(pkey = EVP_EC_gen("P-256")) || !(x = X509_new()))
        goto ssl_fail;
    gethostname(host, sizeof(host) - 1);
    randombytes_buf(serial, sizeof(serial));
    serial[0] &= 0x7f;
    if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 366 * 24 * 3600) ||
        !X509_set_pubkey(x, pkey))
        goto ssl_fail;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name))
        goto ssl_fail;
    snprintf(san, sizeof(san), "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1", host);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san)) ||
        !X509_add_ext(x, ext, -1) || !X509_sign(x, pkey, EVP_sha256()))
        goto ssl_fail;

    /* The key: 0600 from its creation, never world-readable. */
    fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = cr_error_errno("cannot create %s", key_path);
        goto done;
    }
    FILE *f = fdopen(fd, "w");
    if (!f || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 ||
        fsync(fd) != 0) {
        if (f)
            fclose(f);
        else
            close(fd);
        err = cr_error_errno("cannot write %s", key_path);
        goto done;
    }
    fclose(f);
    if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(bio, x))
        goto ssl_fail;
    char *pem;
    long plen = BIO_get_mem_data(bio, &pem);
    err = cr_fs_write_atomic(AT_FDCWD, cert_path, pem, (size_t)plen, 0644, 1);
    goto done;
ssl_fail:
    cr_error_set("cannot make the TLS certificate (OpenSSL error)");
    err = CR_ERROR;
done:
    BIO_free(bio);
    BN_free(bn);
    X509_EXTENSION_free(ext);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return err;
}

int cr_http_tls_fingerprint(char out[128], const char *cert_pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(cert_pem, (int)len);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL, h[32];
    int dlen = x ? i2d_PUBKEY(X509_get0_pubkey(x), &der) : -1;
    BIO_free(bio);
    X509_free(x);
    if (dlen <= 0) {
        cr_error_set("the TLS certificate cannot be read");
        return CR_ECORRUPT;
    }
    crypto_hash_sha256(h, der, (unsigned long long)dlen);
    OPENSSL_free(der);
    strcpy(out, "sha256//");
    sodium_bin2base64(out + 8, 120, h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int cr_http_tls_load(cr_buf *cert, cr_buf *key, const char *cert_path, const char *key_path,
                     const char *make_cn, int *made)
{
    int err;
    if (made)
        *made = 0;
    if (make_cn && access(cert_path, F_OK) != 0 && access(key_path, F_OK) != 0) {
        if ((err = cr_http_tls_make(cert_path, key_path, make_cn)) < 0)
            return err;
        if (made)
            *made = 1;
    }
    if ((err = cr_fs_read_all(cert, AT_FDCWD, cert_path, MAX_PEM)) < 0 ||
        (err = cr_fs_read_all(key, AT_FDCWD, key_path, MAX_PEM)) < 0 ||
        (err = cr_buf_put_u8(cert, 0)) < 0 || (err = cr_buf_put_u8(key, 0)) < 0) {
        cr_http_tls_clear(cert, key);
        return err;
    }
    return 0;
}

void cr_http_tls_clear(cr_buf *cert, cr_buf *key)
{
    if (key->ptr)
        sodium_memzero(key->ptr, key->len);
    cr_buf_free(key);
    cr_buf_free(cert);
}
