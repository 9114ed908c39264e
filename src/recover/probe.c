/*
 * Health probes: is a restored service really back?
 *
 * cr_probe_run() checks the spec, then makes up to retries + 1 attempts, each
 * bounded by `timeout` seconds through the library's own timeouts and a
 * deadline we enforce ourselves:
 *   TCP         non-blocking connect + poll (probe_net.c)
 *   HTTP(S)     libcurl: CURLOPT_TIMEOUT_MS / CONNECTTIMEOUT_MS, NOSIGNAL
 *   LDAP        libldap: NETWORK_TIMEOUT for the connection, then the bind and
 *               the search are sent asynchronously and waited for with
 *               ldap_result() and the time left
 *   PostgreSQL  libpq: PQconnectStartParams + PQconnectPoll and a non-blocking
 *               query, each wait a poll() on the time left; connect_timeout
 *               and statement_timeout as well, for libpq's and the server's sake
 *   DICOM, HL7  our own clients over a socket with the deadline (probe_dicom.c,
 *               probe_hl7.c)
 *   DNS         libresolv builds the query and parses the answer; the UDP (and
 *               TCP) exchange is ours, with the deadline (probe_ad.c)
 *   Kerberos    libkrb5's stepwise AS exchange; we carry the messages over
 *               TCP with the deadline (probe_ad.c)
 *   SMB         libsmbclient, its per-request timeout set to what is left
 *
 * Secrets: a password only ever comes from the environment variable named in
 * the spec (password_env); it is never taken from the plan, never printed.
 * TLS is always verified (HTTP, LDAP); ca_file adds the site's own CA.
 * HTTP does not follow redirects: a health URL answers for itself, and a
 * redirect (to a login page, typically) is a status 3xx the spec can accept
 * or refuse (expect_status). Proxies from the environment are ignored: the
 * probe talks to the restored server itself.
 */
#include "recover/probe_priv.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ldap.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PR_DEFAULT_TIMEOUT 5.0
#define PR_MAX_TIMEOUT 3600.0
#define PR_HTTP_MAX_BODY (1024u * 1024)

/* ---------------------------------------------------------------- names */

static const struct {
    const char *name;
    cr_probe_kind kind;
} kind_names[] = {
    {"tcp", CR_PROBE_TCP},           {"http", CR_PROBE_HTTP},         {"ldap", CR_PROBE_LDAP},
    {"postgres", CR_PROBE_POSTGRES}, {"dicom", CR_PROBE_DICOM},       {"hl7", CR_PROBE_HL7},
    {"https", CR_PROBE_HTTP},        {"postgresql", CR_PROBE_POSTGRES}, {"pg", CR_PROBE_POSTGRES},
    {"mllp", CR_PROBE_HL7},          {"ldaps", CR_PROBE_LDAP},        {"dns", CR_PROBE_DNS},
    {"kerberos", CR_PROBE_KERBEROS}, {"smb", CR_PROBE_SMB},           {"krb5", CR_PROBE_KERBEROS},
    {"cifs", CR_PROBE_SMB},
};

const char *cr_probe_kind_name(cr_probe_kind k)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (kind_names[i].kind == k)
            return kind_names[i].name;
    return "unknown";
}

int cr_probe_kind_parse(cr_probe_kind *out, const char *name)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (strcasecmp(kind_names[i].name, name) == 0) {
            *out = kind_names[i].kind;
            return 0;
        }
    cr_error_set("unknown probe kind '%s' (known: tcp, http, ldap, postgres, dicom, hl7, dns, "
                 "kerberos, smb)", name);
    return CR_EINPUT;
}

void cr_probe_spec_init(cr_probe_spec *spec, cr_probe_kind kind)
{
    memset(spec, 0, sizeof(*spec));
    spec->kind = kind;
    spec->timeout = PR_DEFAULT_TIMEOUT;
    spec->retries = 2;
    spec->interval = 2.0;
    spec->min_entries = 1;
}

void cr_probe_spec_clear(cr_probe_spec *spec)
{
    if (!spec)
        return;
    char **strs[] = {&spec->name,     &spec->host,       &spec->url,        &spec->expect_body,
                     &spec->ca_file,  &spec->bind_dn,    &spec->password_env, &spec->base,
                     &spec->filter,   &spec->conninfo,   &spec->query,      &spec->expect,
                     &spec->calling_ae, &spec->called_ae, &spec->message, &spec->record,
                     &spec->rrtype,   &spec->realm,      &spec->principal,  &spec->user,
                     &spec->shares};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static const char *host_of(const cr_probe_spec *s)
{
    return s->host && *s->host ? s->host : "127.0.0.1";
}

static unsigned int port_of(const cr_probe_spec *s)
{
    if (s->port)
        return s->port;
    switch (s->kind) {
    case CR_PROBE_DICOM: return 104;
    case CR_PROBE_HL7: return 2575;
    case CR_PROBE_LDAP: return 389;
    case CR_PROBE_DNS: return 53;
    case CR_PROBE_KERBEROS: return 88;
    case CR_PROBE_SMB: return 445;
    default: return 0;
    }
}

/* "host:port", with brackets around an IPv6 address. */
static void host_port(char *out, size_t outlen, const char *host, unsigned int port)
{
    if (strchr(host, ':'))
        snprintf(out, outlen, "[%s]:%u", host, port);
    else
        snprintf(out, outlen, "%s:%u", host, port);
}

/* The password named by the spec, or NULL if none is wanted. */
static int get_password(const char **out, const cr_probe_spec *s)
{
    *out = NULL;
    if (!s->password_env)
        return 0;
    const char *v = getenv(s->password_env);
    if (!v) {
        cr_error_set("the environment variable %s, which should hold the password of this "
                     "probe (password_env), is not set", s->password_env);
        return CR_EINPUT;
    }
    *out = v;
    return 0;
}

/* ----------------------------------------------------------------- labels */

/* Parse a libpq conninfo; NULL on error (message in *errmsg, to PQfreemem). */
static const char *conninfo_get(PQconninfoOption *opts, const char *key)
{
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val && *o->val ? o->val : NULL;
    return NULL;
}

static void make_label(char *out, size_t outlen, const cr_probe_spec *s)
{
    char hp[300];
    switch (s->kind) {
    case CR_PROBE_TCP:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "TCP %s", hp);
        break;
    case CR_PROBE_HTTP:
        snprintf(out, outlen, "HTTP %s", s->url ? s->url : "(no url)");
        break;
    case CR_PROBE_LDAP:
        if (s->url)
            snprintf(out, outlen, "LDAP %s", s->url);
        else {
            host_port(hp, sizeof(hp), host_of(s), port_of(s));
            snprintf(out, outlen, "LDAP ldap://%s", hp);
        }
        break;
    case CR_PROBE_POSTGRES: {
        PQconninfoOption *o = PQconninfoParse(s->conninfo ? s->conninfo : "", NULL);
        const char *h = conninfo_get(o, "host"), *p = conninfo_get(o, "port"),
                   *d = conninfo_get(o, "dbname");
        snprintf(out, outlen, "PostgreSQL %s%s%s%s%s", h ? h : "(local socket)", p ? ":" : "",
                 p ? p : "", d ? "/" : "", d ? d : "");
        PQconninfoFree(o);
        break;
    }
    case CR_PROBE_DICOM:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "DICOM %s", hp);
        break;
    case CR_PROBE_HL7:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "HL7 %s", hp);
        break;
    case CR_PROBE_DNS:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "DNS %s", hp);
        break;
    case CR_PROBE_KERBEROS:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "Kerberos %s (%s)", hp, s->realm ? s->realm : "no realm");
        break;
    case CR_PROBE_SMB:
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        snprintf(out, outlen, "SMB %s", hp);
        break;
    default:
        snprintf(out, outlen, "probe");
    }
}

/* ------------------------------------------------- is it answered already? */

/* host and port of an URL's authority: "user@host:port", "[v6]:port", "host". */
static void url_address(char *host, size_t hostlen, unsigned int *port, const char *url,
                        unsigned int defport)
{
    const char *a = strstr(url, "://");
    a = a ? a + 3 : url;
    size_t alen = strcspn(a, "/?#");
    const char *at = memchr(a, '@', alen);
    while (at) { /* the last '@' ends the user info */
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
        at = memchr(a, '@', alen);
    }
    const char *colon = NULL, *h = a;
    size_t hl = alen;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb)
            return;
        h = a + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1 < a + alen && rb[1] == ':' ? rb + 1 : NULL;
    } else if ((colon = memchr(a, ':', alen))) {
        hl = (size_t)(colon - a);
    }
    unsigned long p = defport;
    if (colon) {
        char digits[8];
        size_t dl = (size_t)(a + alen - colon - 1);
        if (dl == 0 || dl >= sizeof(digits))
            return;
        memcpy(digits, colon + 1, dl);
        digits[dl] = '\0';
        char *end;
        p = strtoul(digits, &end, 10);
        if (*end || p == 0 || p > 65535)
            return;
    }
    if (hl == 0 || hl >= hostlen)
        return;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned int)p;
}

int pr_probe_address(char *host, size_t hostlen, unsigned int *port, const cr_probe_spec *s)
{
    *port = 0;
    if (hostlen)
        host[0] = '\0';
    switch (s->kind) {
    case CR_PROBE_HTTP:
        if (s->url)
            url_address(host, hostlen, port, s->url,
                        strncasecmp(s->url, "https://", 8) == 0 ? 443 : 80);
        break;
    case CR_PROBE_LDAP:
        if (s->url && strncasecmp(s->url, "ldapi://", 8) == 0)
            break; /* a Unix socket */
        if (s->url)
            url_address(host, hostlen, port, s->url,
                        strncasecmp(s->url, "ldaps://", 8) == 0 ? 636 : 389);
        else
            snprintf(host, hostlen, "%s", host_of(s)), *port = port_of(s);
        break;
    case CR_PROBE_POSTGRES: {
        PQconninfoOption *o = PQconninfoParse(s->conninfo ? s->conninfo : "", NULL);
        if (!o)
            return CR_ERROR;
        const char *h = conninfo_get(o, "hostaddr");
        const char *p = conninfo_get(o, "port");
        if (!h)
            h = conninfo_get(o, "host");
        /* no host, or one starting with '/': a Unix socket; several: the first */
        if (h && h[0] != '/' && h[0] != '@') {
            size_t hl = strcspn(h, ",");
            unsigned long pn = p ? strtoul(p, NULL, 10) : 5432;
            if (hl < hostlen && pn > 0 && pn <= 65535) {
                memcpy(host, h, hl);
                host[hl] = '\0';
                *port = (unsigned int)pn;
            }
        }
        PQconninfoFree(o);
        break;
    }
    default:
        snprintf(host, hostlen, "%s", host_of(s));
        *port = port_of(s);
    }
    if (!*port && hostlen)
        host[0] = '\0';
    return 0;
}

int pr_probe_answered(int *answered, char *addr, size_t addrlen, const cr_probe_spec *s,
                      double timeout)
{
    char host[256];
    unsigned int port;
    pr_ctx ctx;
    int fd = -1, err;

    *answered = 0;
    if (addrlen)
        addr[0] = '\0';
    if ((err = pr_probe_address(host, sizeof(host), &port, s)) < 0)
        return err;
    if (!port)
        return 0;
    host_port(addr, addrlen, host, port);
    memset(&ctx, 0, sizeof(ctx));
    ctx.start = cr_time_mono();
    ctx.timeout = timeout;
    ctx.deadline = ctx.start + timeout;
    err = pr_net_connect(&fd, &ctx, host, port);
    if (err < 0)
        return err;
    if (err == PR_PASS) {
        close(fd);
        *answered = 1;
    }
    return 0;
}

/* ------------------------------------------------------------- validation */

static int validate(const cr_probe_spec *s)
{
    const char *pw;
    int err;
    switch (s->kind) {
    case CR_PROBE_TCP:
        if (!s->port) {
            cr_error_set("a tcp probe needs a port");
            return CR_EINPUT;
        }
        break;
    case CR_PROBE_HTTP:
        if (!s->url || (strncasecmp(s->url, "http://", 7) != 0 &&
                        strncasecmp(s->url, "https://", 8) != 0)) {
            cr_error_set("an http probe needs a url starting with http:// or https://");
            return CR_EINPUT;
        }
        if (s->expect_status && (s->expect_status < 100 || s->expect_status > 599)) {
            cr_error_set("expect_status %d is not an HTTP status (100 to 599)", s->expect_status);
            return CR_EINPUT;
        }
        break;
    case CR_PROBE_LDAP:
        if (s->url && !ldap_is_ldap_url(s->url)) {
            cr_error_set("'%s' is not an LDAP URL (ldap://host:port or ldaps://host:port)",
                         s->url);
            return CR_EINPUT;
        }
        if (s->bind_dn && !s->password_env) {
            cr_error_set("an ldap probe with bind_dn needs password_env: the name of the "
                         "environment variable that holds the password");
            return CR_EINPUT;
        }
        break;
    case CR_PROBE_POSTGRES: {
        char *perr = NULL;
        PQconninfoOption *o = PQconninfoParse(s->conninfo ? s->conninfo : "", &perr);
        if (!o) {
            char t[200];
            snprintf(t, sizeof(t), "%s", perr ? perr : "out of memory");
            t[strcspn(t, "\n")] = '\0';
            PQfreemem(perr);
            cr_error_set("the postgres conninfo is not valid: %s", t);
            return CR_EINPUT;
        }
        int has_pw = conninfo_get(o, "password") != NULL;
        PQconninfoFree(o);
        if (has_pw) {
            cr_error_set("the postgres conninfo holds a password: remove it and name an "
                         "environment variable that holds it with password_env");
            return CR_EINPUT;
        }
        break;
    }
    case CR_PROBE_DICOM:
        if ((err = pr_dicom_check_ae(s->calling_ae ? s->calling_ae : "CLEANROOM", "calling")) < 0 ||
            (err = pr_dicom_check_ae(s->called_ae ? s->called_ae : "ANY-SCP", "called")) < 0)
            return err;
        break;
    case CR_PROBE_HL7: {
        char *m = NULL;
        size_t mlen;
        if ((err = pr_hl7_build_message(&m, &mlen, s->message, "CR0000000000000000")) < 0)
            return err;
        free(m);
        break;
    }
    case CR_PROBE_DNS: {
        int type;
        struct in_addr a;
        if (!s->record || !*s->record) {
            cr_error_set("a dns probe needs the name to ask for (record), e.g. "
                         "_ldap._tcp.dc._msdcs.example.org");
            return CR_EINPUT;
        }
        if (strlen(s->record) > 253) {
            cr_error_set("the DNS name to ask for is longer than 253 characters");
            return CR_EINPUT;
        }
        if ((err = pr_dns_type_parse(&type, s->rrtype ? s->rrtype : "A")) < 0)
            return err;
        if (inet_pton(AF_INET, host_of(s), &a) != 1) {
            cr_error_set("a dns probe's host must be the DNS server's IPv4 address, got '%s'",
                         host_of(s));
            return CR_EINPUT;
        }
        break;
    }
    case CR_PROBE_KERBEROS:
        if (!s->realm || !*s->realm || strpbrk(s->realm, "@/ \t")) {
            cr_error_set("a kerberos probe needs the realm (e.g. EXAMPLE.ORG, without '@')");
            return CR_EINPUT;
        }
        if (s->principal && (!*s->principal || strchr(s->principal, '@'))) {
            cr_error_set("a kerberos probe's principal is given without realm (the realm is "
                         "`realm`), got '%s'", s->principal);
            return CR_EINPUT;
        }
        break;
    case CR_PROBE_SMB:
        if (s->password_env && !s->user) {
            cr_error_set("an smb probe with password_env needs user (DOMAIN\\user or user)");
            return CR_EINPUT;
        }
        if (s->user && !s->password_env) {
            cr_error_set("an smb probe with user needs password_env: the name of the "
                         "environment variable that holds the password");
            return CR_EINPUT;
        }
        break;
    default:
        cr_error_set("unknown probe kind %d", (int)s->kind);
        return CR_EINPUT;
    }
    if (s->port > 65535) {
        cr_error_set("port %u is not a TCP port (1 to 65535)", s->port);
        return CR_EINPUT;
    }
    if (isnan(s->timeout) || s->timeout > PR_MAX_TIMEOUT || isnan(s->interval) ||
        s->interval < 0 || s->interval > PR_MAX_TIMEOUT) {
        cr_error_set("probe timeout and interval must be between 0 and %.0f seconds",
                     PR_MAX_TIMEOUT);
        return CR_EINPUT;
    }
    if (s->retries > 1000) {
        cr_error_set("at most 1000 probe retries");
        return CR_EINPUT;
    }
    if ((err = get_password(&pw, s)) < 0)
        return err;
    return 0;
}

/* -------------------------------------------------------------------- TCP */

static int run_tcp(pr_ctx *ctx, const cr_probe_spec *s)
{
    int fd = -1;
    int err = pr_net_connect(&fd, ctx, host_of(s), port_of(s));
    if (err != PR_PASS)
        return err;
    close(fd);
    return pr_pass(ctx, "connected in %.2f s", cr_time_mono() - ctx->start);
}

/* ------------------------------------------------------------------- HTTP */

typedef struct http_state {
    cr_buf body;       /**< the first PR_HTTP_MAX_BODY bytes */
    uint64_t total;    /**< bytes received */
    char reason[80];   /**< reason phrase of the last status line */
} http_state;

static size_t http_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_state *st = ud;
    size_t n = size * nmemb;
    st->total += n;
    size_t room = PR_HTTP_MAX_BODY - st->body.len;
    if (room > 0 && cr_buf_put(&st->body, ptr, n < room ? n : room) < 0)
        return 0; /* out of memory: abort the transfer */
    return n;
}

static size_t http_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    http_state *st = ud;
    size_t n = size * nmemb;
    if (n > 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 503 Service Unavailable\r\n": keep what follows the code. */
        size_t i = 5;
        while (i < n && ptr[i] != ' ')
            i++;
        while (i < n && ptr[i] == ' ')
            i++;
        while (i < n && ptr[i] != ' ' && ptr[i] != '\r' && ptr[i] != '\n')
            i++;
        while (i < n && ptr[i] == ' ')
            i++;
        size_t j = n;
        while (j > i && (ptr[j - 1] == '\r' || ptr[j - 1] == '\n' || ptr[j - 1] == ' '))
            j--;
        pr_clean_text(st->reason, sizeof(st->reason), (const uint8_t *)ptr + i, j - i, 60);
    }
    return n;
}

static const char *http_reason(long code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

static int run_http(pr_ctx *ctx, const cr_probe_spec *s)
{
    http_state st;
    char errbuf[CURL_ERROR_SIZE] = "";
    int err;
    memset(&st, 0, sizeof(st));
    st.body.max = PR_HTTP_MAX_BODY;

    if (cr_curl_init() < 0)
        return CR_ERROR;
    CURL *c = curl_easy_init();
    if (!c) {
        cr_error_set("cannot initialise libcurl (out of memory?)");
        return CR_ERROR;
    }
    long ms = (long)(pr_left(ctx) * 1000.0);
    if (ms < 1)
        ms = 1;
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cleanroom-probe/" CR_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);

    CURLcode rc = curl_easy_perform(c);
    double took = cr_time_mono() - ctx->start;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OK:
        break;
    case CURLE_OPERATION_TIMEDOUT:
        err = pr_timeout(ctx, NULL);
        goto done;
    case CURLE_COULDNT_RESOLVE_HOST:
        err = pr_fail(ctx, "cannot resolve the name: %s (check DNS, or use the address)", detail);
        goto done;
    case CURLE_COULDNT_CONNECT:
        err = pr_fail(ctx, "cannot connect: %s", detail);
        goto done;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        err = pr_fail(ctx, "TLS certificate not trusted: %s (give the CA that signed the server's "
                           "certificate with ca_file)", detail);
        goto done;
    case CURLE_SSL_CONNECT_ERROR:
        err = pr_fail(ctx, "TLS handshake failed: %s", detail);
        goto done;
    case CURLE_WRITE_ERROR:
        cr_error_set("out of memory while reading the HTTP answer");
        err = CR_ERROR;
        goto done;
    default:
        err = pr_fail(ctx, "%s", detail);
        goto done;
    }

    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const char *reason = st.reason[0] ? st.reason : http_reason(code);
    int status_ok = s->expect_status ? code == s->expect_status : (code >= 200 && code <= 399);
    if (!status_ok) {
        char want[48] = "";
        if (s->expect_status)
            snprintf(want, sizeof(want), " (expected %d)", s->expect_status);
        err = pr_fail(ctx, "%ld%s%s after %.2f s%s", code, *reason ? " " : "", reason, took, want);
        goto done;
    }
    if (s->expect_body && *s->expect_body &&
        !memmem(st.body.ptr ? (const char *)st.body.ptr : "", st.body.len, s->expect_body,
                strlen(s->expect_body))) {
        char start[100];
        pr_clean_text(start, sizeof(start), st.body.ptr ? st.body.ptr : (const uint8_t *)"",
                      st.body.len, 60);
        char *loc = NULL;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        err = pr_fail(ctx, "body does not contain '%s' (status %ld%s%s, %llu bytes, starting "
                           "'%s')",
                      s->expect_body, code, loc ? ", redirect to " : "", loc ? loc : "",
                      (unsigned long long)st.total, start);
        goto done;
    }
    err = pr_pass(ctx, "%ld%s%s in %.2f s", code, *reason ? " " : "", reason, took);
done:
    curl_easy_cleanup(c);
    cr_buf_free(&st.body);
    return err;
}

/* ------------------------------------------------------------------- LDAP */

static struct timeval tv_left(const pr_ctx *ctx)
{
    double left = pr_left(ctx);
    if (left < 0.001)
        left = 0.001;
    struct timeval tv = {.tv_sec = (time_t)left,
                         .tv_usec = (suseconds_t)((left - (double)(time_t)left) * 1e6)};
    return tv;
}

/* "Invalid credentials (49)" plus the server's diagnostic message, if any. */
static void ldap_words(char *out, size_t outlen, LDAP *ld, int rc, const char *diag)
{
    char *d = NULL;
    if (!diag && ld)
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &d);
    const char *dd = diag ? diag : d;
    char clean[160] = "";
    if (dd && *dd && strcmp(dd, "(unknown error code)") != 0)
        pr_clean_text(clean, sizeof(clean), (const uint8_t *)dd, strlen(dd), 150);
    snprintf(out, outlen, "%s (%d)%s%s", ldap_err2string(rc), rc, clean[0] ? ": " : "", clean);
    if (d)
        ldap_memfree(d);
}

/* A request could not even be sent: say why in words, connection first. */
static int ldap_send_failed(pr_ctx *ctx, LDAP *ld, int rc, const char *url, const char *what)
{
    char w[300];
    if (pr_left(ctx) <= 0)
        return pr_timeout(ctx, "connecting");
    ldap_words(w, sizeof(w), ld, rc, NULL);
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
        if (strncasecmp(url, "ldaps://", 8) == 0)
            return pr_fail(ctx, "cannot connect: %s (if the server runs, the TLS handshake "
                                "failed: is its certificate signed by a CA given with ca_file, "
                                "for this very host name?)", w);
        return pr_fail(ctx, "cannot connect: %s", w);
    }
    return pr_fail(ctx, "%s: %s", what, w);
}

/* Wait for the answer to msgid. @return PR_PASS with *res, or PR_FAIL. */
static int ldap_wait(LDAPMessage **res, pr_ctx *ctx, LDAP *ld, int msgid, const char *what)
{
    struct timeval tv = tv_left(ctx);
    *res = NULL;
    int rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, res);
    if (rc == 0) {
        ldap_abandon_ext(ld, msgid, NULL, NULL);
        return pr_timeout(ctx, what);
    }
    if (rc < 0) {
        int code = LDAP_OTHER;
        char w[300];
        ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code);
        ldap_words(w, sizeof(w), ld, code, NULL);
        if (pr_left(ctx) <= 0)
            return pr_timeout(ctx, what);
        return pr_fail(ctx, "%s: %s", what, w);
    }
    return PR_PASS;
}

/*
 * libldap does not bound everything: its TLS handshake (ldaps://) can spin
 * forever against a server that accepts and never answers. A watchdog
 * thread shuts the connection's socket down at the deadline, which makes
 * whatever libldap is doing fail at once. The socket is learnt from the
 * connection callbacks, and forgotten (under the same lock) before libldap
 * closes it, so the watchdog never touches a descriptor number that was
 * closed and reused.
 */
typedef struct ldap_watch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int fd;          /* the connection's socket, -1 when none */
    int done;        /* the attempt is over */
    int fired;       /* the deadline passed: the socket was shut down */
    double deadline; /* cr_time_mono() */
} ldap_watch;

static int watch_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
                     struct ldap_conncb *cb)
{
    ldap_watch *w = cb->lc_arg;
    int fd = -1;
    ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd);
    pthread_mutex_lock(&w->mu);
    w->fd = fd;
    if (w->fired && fd >= 0)
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static void watch_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *cb)
{
    ldap_watch *w = cb->lc_arg;
    pthread_mutex_lock(&w->mu);
    w->fd = -1;
    pthread_mutex_unlock(&w->mu);
}

static void *watch_thread(void *arg)
{
    ldap_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        double left = w->deadline - cr_time_mono();
        if (left <= 0) {
            w->fired = 1;
            if (w->fd >= 0)
                shutdown(w->fd, SHUT_RDWR);
            break;
        }
        struct timespec ts;
        cr_deadline(&ts, (long)(left * 1000.0) + 1);
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int run_ldap(pr_ctx *ctx, const cr_probe_spec *s)
{
    LDAP *ld = NULL;
    LDAPMessage *res = NULL;
    char *url = NULL, *diag = NULL, w[300], hp[300];
    const char *pw = NULL;
    int err, rc, msgid = -1, code = 0, watching = 0;
    pthread_t watcher;
    ldap_watch wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1,
                     .deadline = ctx->deadline + 0.05};
    ldap_conncb cb = {.lc_add = watch_add, .lc_del = watch_del, .lc_arg = &wd};

    if ((err = get_password(&pw, s)) < 0)
        return err;
    if (s->url)
        url = cr_strdup(s->url);
    else {
        host_port(hp, sizeof(hp), host_of(s), port_of(s));
        url = cr_sprintf("ldap://%s", hp);
    }
    if (!url)
        return CR_ERROR;
    if ((rc = ldap_initialize(&ld, url)) != LDAP_SUCCESS) {
        err = pr_fail(ctx, "cannot use the URL: %s", ldap_err2string(rc));
        goto done;
    }
    int v3 = LDAP_VERSION3, hard = LDAP_OPT_X_TLS_HARD, zero = 0;
    struct timeval tv = tv_left(ctx);
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &hard);
    if (s->ca_file)
        ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file);
    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    if (ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &cb) != LDAP_OPT_SUCCESS ||
        pthread_create(&watcher, NULL, watch_thread, &wd) != 0) {
        cr_error_set("cannot start the LDAP probe's watchdog");
        err = CR_ERROR;
        goto done;
    }
    watching = 1;

    const char *who = s->bind_dn ? s->bind_dn : "anonymous";
    if (s->bind_dn) {
        struct berval cred = {.bv_len = strlen(pw), .bv_val = (char *)pw};
        rc = ldap_sasl_bind(ld, s->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
        if (rc != LDAP_SUCCESS) {
            snprintf(w, sizeof(w), "cannot bind as %s", who);
            err = ldap_send_failed(ctx, ld, rc, url, w);
            goto done;
        }
        char what[300];
        snprintf(what, sizeof(what), "binding as %s", who);
        if ((err = ldap_wait(&res, ctx, ld, msgid, what)) != PR_PASS)
            goto done;
        rc = ldap_parse_result(ld, res, &code, NULL, &diag, NULL, NULL, 1);
        res = NULL;
        if (rc != LDAP_SUCCESS)
            code = rc;
        if (code != LDAP_SUCCESS) {
            ldap_words(w, sizeof(w), ld, code, diag);
            err = pr_fail(ctx, "bind as %s refused: %s", who, w);
            goto done;
        }
        ldap_memfree(diag);
        diag = NULL;
    }

    /* Without a base: read the root DSE, which every LDAP server answers. */
    const char *base = s->base ? s->base : "";
    int scope = s->base ? LDAP_SCOPE_SUBTREE : LDAP_SCOPE_BASE;
    const char *filter = s->filter && *s->filter ? s->filter : "(objectClass=*)";
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    int sizelimit = s->min_entries > 0 ? (int)s->min_entries : 1;
    tv = tv_left(ctx);
    rc = ldap_search_ext(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit, &msgid);
    if (rc != LDAP_SUCCESS) {
        snprintf(w, sizeof(w), "search of '%s' %s failed", base, filter);
        err = ldap_send_failed(ctx, ld, rc, url, w);
        goto done;
    }
    if ((err = ldap_wait(&res, ctx, ld, msgid, "searching")) != PR_PASS)
        goto done;
    int n = ldap_count_entries(ld, res);
    rc = ldap_parse_result(ld, res, &code, NULL, &diag, NULL, NULL, 0);
    if (rc != LDAP_SUCCESS)
        code = rc;
    if (code != LDAP_SUCCESS && !(code == LDAP_SIZELIMIT_EXCEEDED && n >= sizelimit)) {
        ldap_words(w, sizeof(w), ld, code, diag);
        err = pr_fail(ctx, "search of '%s' %s failed: %s", base, filter, w);
        goto done;
    }
    if (n < 0)
        n = 0;
    if ((unsigned)n < s->min_entries) {
        err = pr_fail(ctx, "search of '%s' %s returned %d entr%s, expected at least %u", base,
                      filter, n, n == 1 ? "y" : "ies", s->min_entries);
        goto done;
    }
    err = pr_pass(ctx, "%s%s, search returned %d entr%s in %.2f s",
                  s->bind_dn ? "bound as " : "anonymous", s->bind_dn ? s->bind_dn : "", n,
                  n == 1 ? "y" : "ies", cr_time_mono() - ctx->start);
done:
    if (diag)
        ldap_memfree(diag);
    if (res)
        ldap_msgfree(res);
    if (ld)
        ldap_unbind_ext_s(ld, NULL, NULL);
    if (watching) {
        pthread_mutex_lock(&wd.mu);
        wd.done = 1;
        pthread_cond_signal(&wd.cond);
        pthread_mutex_unlock(&wd.mu);
        pthread_join(watcher, NULL);
        if (err == PR_FAIL && wd.fired && !ctx->timed_out)
            err = pr_timeout(ctx, "waiting for the LDAP server");
    }
    pthread_mutex_destroy(&wd.mu);
    pthread_cond_destroy(&wd.cond);
    free(url);
    return err;
}

/* ------------------------------------------------------------- PostgreSQL */

/* libpq's multi-line messages on one line, cleaned. */
static void pg_oneline(char *out, size_t outlen, const char *m)
{
    char tmp[400];
    size_t n = 0;
    int space = 0;
    for (const char *p = m ? m : ""; *p && n + 1 < sizeof(tmp); p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == ' ') {
            space = 1;
            continue;
        }
        if (space && n > 0)
            tmp[n++] = ' ';
        space = 0;
        if (n + 1 < sizeof(tmp))
            tmp[n++] = *p;
    }
    pr_clean_text(out, outlen, (const uint8_t *)tmp, n, 300);
}

/* Wait until the libpq socket is ready. @return 1 ready, 0 timed out, -1 error. */
static int pg_wait(pr_ctx *ctx, PGconn *conn, short events)
{
    int fd = PQsocket(conn);
    if (fd < 0)
        return -1;
    for (;;) {
        double left = pr_left(ctx);
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int run_postgres(pr_ctx *ctx, const cr_probe_spec *s)
{
    const char *pw = NULL;
    PGconn *conn = NULL;
    PGresult *r = NULL;
    PQconninfoOption *o = NULL;
    char t[320], secs[32], opts[64], *first = NULL;
    int err, nrows = 0;
    const char *query = s->query && *s->query ? s->query : "SELECT 1";

    if ((err = get_password(&pw, s)) < 0)
        return err;
    double left = pr_left(ctx);
    /* whole seconds, rounded up (libpq takes at least 2) */
    int whole = left < 2 ? 2 : (int)left + ((double)(int)left < left);
    snprintf(secs, sizeof(secs), "%d", whole);
    snprintf(opts, sizeof(opts), "-c statement_timeout=%ld", (long)(left * 1000.0) + 1);
    o = PQconninfoParse(s->conninfo ? s->conninfo : "", NULL);
    const char *kw[6], *val[6];
    int k = 0;
    kw[k] = "dbname", val[k++] = s->conninfo ? s->conninfo : "";
    kw[k] = "connect_timeout", val[k++] = secs;
    kw[k] = "application_name", val[k++] = "cleanroom-probe";
    if (!conninfo_get(o, "options"))
        kw[k] = "options", val[k++] = opts;
    if (pw)
        kw[k] = "password", val[k++] = pw;
    kw[k] = NULL, val[k] = NULL;

    conn = PQconnectStartParams(kw, val, 1);
    if (!conn) {
        cr_error_set("out of memory");
        err = CR_ERROR;
        goto done;
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        pg_oneline(t, sizeof(t), PQerrorMessage(conn));
        err = pr_fail(ctx, "%s", t);
        goto done;
    }
    for (PostgresPollingStatusType st = PGRES_POLLING_WRITING; st != PGRES_POLLING_OK;) {
        if (st == PGRES_POLLING_FAILED) {
            pg_oneline(t, sizeof(t), PQerrorMessage(conn));
            err = pr_fail(ctx, "%s", t);
            goto done;
        }
        int w = pg_wait(ctx, conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT);
        if (w == 0) {
            err = pr_timeout(ctx, "connecting");
            goto done;
        }
        st = PQconnectPoll(conn);
    }

    if (PQsetnonblocking(conn, 1) != 0 || !PQsendQuery(conn, query)) {
        pg_oneline(t, sizeof(t), PQerrorMessage(conn));
        err = pr_fail(ctx, "cannot send the query: %s", t);
        goto done;
    }
    PQsetSingleRowMode(conn);
    for (;;) {
        int f = PQflush(conn);
        if (f == 0)
            break;
        if (f < 0 || pg_wait(ctx, conn, POLLOUT | POLLIN) <= 0) {
            err = f < 0 ? pr_fail(ctx, "cannot send the query") : pr_timeout(ctx, "sending the query");
            goto done;
        }
        PQconsumeInput(conn);
    }
    /* Take the first value of the first row; read (and drop) the rest. */
    for (;;) {
        while (PQisBusy(conn)) {
            int w = pg_wait(ctx, conn, POLLIN);
            if (w == 0) {
                err = pr_timeout(ctx, "waiting for the query");
                goto done;
            }
            if (w < 0 || !PQconsumeInput(conn)) {
                pg_oneline(t, sizeof(t), PQerrorMessage(conn));
                err = pr_fail(ctx, "connection lost during the query: %s", t);
                goto done;
            }
        }
        r = PQgetResult(conn);
        if (!r)
            break;
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_FATAL_ERROR || es == PGRES_BAD_RESPONSE || es == PGRES_NONFATAL_ERROR) {
            pg_oneline(t, sizeof(t), PQresultErrorMessage(r));
            err = pr_fail(ctx, "query failed: %s", t);
            goto done;
        }
        if ((es == PGRES_SINGLE_TUPLE || es == PGRES_TUPLES_OK) && PQntuples(r) > 0) {
            if (nrows == 0 && PQnfields(r) > 0 && !(first = cr_strdup(
                                                        PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0)))) {
                err = CR_ERROR;
                goto done;
            }
            nrows += PQntuples(r);
        }
        PQclear(r);
        r = NULL;
    }
    double took = cr_time_mono() - ctx->start;
    if (s->expect) {
        if (!first) {
            err = pr_fail(ctx, "query returned no rows, expected '%s'", s->expect);
            goto done;
        }
        if (strcmp(first, s->expect) != 0) {
            pr_clean_text(t, sizeof(t), (const uint8_t *)first, strlen(first), 100);
            err = pr_fail(ctx, "query returned '%s', expected '%s'", t, s->expect);
            goto done;
        }
    }
    if (first) {
        pr_clean_text(t, sizeof(t), (const uint8_t *)first, strlen(first), 60);
        err = pr_pass(ctx, "query returned '%s' in %.2f s", t, took);
    } else
        err = pr_pass(ctx, "query ran in %.2f s (no rows)", took);
done:
    free(first);
    PQclear(r);
    PQconninfoFree(o);
    if (conn)
        PQfinish(conn);
    return err;
}

/* ------------------------------------------------------------ DICOM, HL7 */

static int run_dicom(pr_ctx *ctx, const cr_probe_spec *s)
{
    int fd = -1;
    pr_io io;
    int err = pr_net_connect(&fd, ctx, host_of(s), port_of(s));
    if (err != PR_PASS)
        return err;
    pr_io_socket(&io, &fd);
    err = pr_dicom_echo(ctx, &io, s->calling_ae ? s->calling_ae : "CLEANROOM",
                        s->called_ae ? s->called_ae : "ANY-SCP");
    close(fd);
    return err;
}

static int run_hl7(pr_ctx *ctx, const cr_probe_spec *s)
{
    int fd = -1;
    pr_io io;
    char id[24], *msg = NULL;
    size_t msglen = 0;
    uint8_t rnd[8];
    char hex[17];
    /* A control id unique to this attempt: the ACK must echo it. */
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
        uint64_t x = (uint64_t)cr_time_now_ns() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &x, sizeof(rnd));
    }
    if (f)
        fclose(f);
    cr_hex_encode(hex, rnd, sizeof(rnd));
    snprintf(id, sizeof(id), "CR%s", hex);
    int err = pr_hl7_build_message(&msg, &msglen, s->message, id);
    if (err < 0)
        return err;
    if ((err = pr_net_connect(&fd, ctx, host_of(s), port_of(s))) == PR_PASS) {
        pr_io_socket(&io, &fd);
        err = pr_hl7_exchange(ctx, &io, (const uint8_t *)msg, msglen, id);
        close(fd);
    }
    free(msg);
    return err;
}

/* --------------------------------------------------------------------- run */

static int run_once(pr_ctx *ctx, const cr_probe_spec *s)
{
    switch (s->kind) {
    case CR_PROBE_TCP: return run_tcp(ctx, s);
    case CR_PROBE_HTTP: return run_http(ctx, s);
    case CR_PROBE_LDAP: return run_ldap(ctx, s);
    case CR_PROBE_POSTGRES: return run_postgres(ctx, s);
    case CR_PROBE_DICOM: return run_dicom(ctx, s);
    case CR_PROBE_HL7: return run_hl7(ctx, s);
    case CR_PROBE_DNS: return pr_run_dns(ctx, s);
    case CR_PROBE_KERBEROS:
    case CR_PROBE_SMB: {
        const char *pw = NULL;
        int err = get_password(&pw, s);
        if (err < 0)
            return err;
        return s->kind == CR_PROBE_KERBEROS ? pr_run_kerberos(ctx, s, pw) : pr_run_smb(ctx, s, pw);
    }
    }
    cr_error_set("unknown probe kind %d", (int)s->kind);
    return CR_EINPUT;
}

/*
 * libldap writes to its socket with write(): a server that closes the
 * connection at the wrong moment would raise SIGPIPE and kill the whole
 * recovery. The attempt runs with SIGPIPE blocked on this thread, and a
 * SIGPIPE it raised is consumed before the mask is restored (as libpq does).
 */
static void sigpipe_block(sigset_t *old, int *was_pending)
{
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, old);
    sigemptyset(&pend);
    sigpending(&pend);
    *was_pending = sigismember(&pend, SIGPIPE);
}

static void sigpipe_restore(const sigset_t *old, int was_pending)
{
    sigset_t s, pend;
    sigemptyset(&pend);
    sigpending(&pend);
    if (!was_pending && sigismember(&pend, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        while (sigtimedwait(&s, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int cancelled(const volatile int *cancel)
{
    if (cancel && *cancel) {
        cr_error_set("probe cancelled");
        return 1;
    }
    return 0;
}

int cr_probe_run(cr_probe_result *result, const cr_probe_spec *spec, const volatile int *cancel)
{
    char label[400];
    pr_ctx ctx;
    int err = 0;
    memset(result, 0, sizeof(*result));
    if ((err = validate(spec)) < 0)
        return err;
    double timeout = spec->timeout > 0 ? spec->timeout : PR_DEFAULT_TIMEOUT;
    double t0 = cr_time_mono();
    make_label(label, sizeof(label), spec);

    memset(&ctx, 0, sizeof(ctx));
    for (unsigned int attempt = 0; attempt <= spec->retries; attempt++) {
        if (cancelled(cancel))
            return CR_EINTR;
        memset(&ctx, 0, sizeof(ctx));
        ctx.start = cr_time_mono();
        ctx.timeout = timeout;
        ctx.deadline = ctx.start + timeout;
        sigset_t oldmask;
        int pending;
        sigpipe_block(&oldmask, &pending);
        err = run_once(&ctx, spec);
        sigpipe_restore(&oldmask, pending);
        if (err < 0)
            return err;
        result->attempts++;
        if (err == PR_PASS) {
            result->ok = 1;
            break;
        }
        if (attempt == spec->retries)
            break;
        /* Wait before the next attempt, looking at the cancel flag often. */
        double until = cr_time_mono() + spec->interval;
        for (double now = cr_time_mono(); now < until; now = cr_time_mono()) {
            if (cancelled(cancel))
                return CR_EINTR;
            double d = until - now;
            if (d > 0.1)
                d = 0.1;
            struct timespec ts = {0, (long)(d * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    result->seconds = cr_time_mono() - t0;
    char full[1024];
    if (result->ok && result->attempts > 1)
        snprintf(full, sizeof(full), "%s: %s (after %u failed attempt%s)", label, ctx.msg,
                 result->attempts - 1, result->attempts > 2 ? "s" : "");
    else if (!result->ok && result->attempts > 1)
        snprintf(full, sizeof(full), "%s: %s (%u attempts)", label, ctx.msg, result->attempts);
    else
        snprintf(full, sizeof(full), "%s: %s", label, ctx.msg);
    size_t n = strlen(full);
    if (n >= sizeof(result->message))
        n = sizeof(result->message) - 1;
    memcpy(result->message, full, n);
    result->message[n] = '\0';
    return 0;
}
