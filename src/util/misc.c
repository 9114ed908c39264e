/* Allocation, hex, ids and time helpers. */
#include "util/util.h"

#include <curl/curl.h>

#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void *cr_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        cr_error_set("out of memory (%zu bytes)", n);
    return p;
}

void *cr_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        cr_error_set("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *cr_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        cr_error_set("out of memory (%zu bytes)", n);
    return q;
}

char *cr_strdup(const char *s)
{
    return cr_strndup(s, strlen(s));
}

char *cr_strndup(const char *s, size_t n)
{
    char *p = cr_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cr_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        cr_error_set("out of memory");
    }
    va_end(ap);
    return s;
}

char *cr_path_norm(const char *p)
{
    char *o = cr_malloc(strlen(p) + 2), *q = o;
    const char *s = p;
    if (!o)
        return NULL;
    while (*s) {
        while (*s == '/')
            s++;
        const char *b = s;
        while (*s && *s != '/')
            s++;
        size_t l = (size_t)(s - b);
        if (l == 0 || (l == 1 && b[0] == '.'))
            continue;
        *q++ = '/';
        memcpy(q, b, l);
        q += l;
    }
    if (q == o)
        *q++ = '/';
    *q = '\0';
    return o;
}

int cr_path_covers(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (!strcmp(a, "/"))
        return 1;
    return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

char *cr_path_lexical(const char *abs)
{
    if (!abs || abs[0] != '/')
        return NULL;
    char *o = cr_malloc(strlen(abs) + 2);
    size_t n = 0;
    if (!o)
        return NULL;
    for (const char *s = abs; *s;) {
        while (*s == '/')
            s++;
        const char *b = s;
        while (*s && *s != '/')
            s++;
        size_t l = (size_t)(s - b);
        if (l == 0 || (l == 1 && b[0] == '.'))
            continue;
        if (l == 2 && b[0] == '.' && b[1] == '.') {
            while (n > 0 && o[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before the name removed */
            continue;
        }
        o[n++] = '/';
        memcpy(o + n, b, l);
        n += l;
    }
    if (n == 0)
        o[n++] = '/';
    o[n] = '\0';
    return o;
}

void cr_hex_encode(char *out, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cr_hex_decode_n(void *out, const char *hex, size_t ndigits)
{
    uint8_t *o = out;
    for (size_t i = 0; i + 1 < ndigits; i += 2) {
        int a = hexval((unsigned char)hex[i]), b = hexval((unsigned char)hex[i + 1]);
        if (a < 0 || b < 0)
            return CR_EINPUT;
        o[i / 2] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

int cr_hex_decode(void *out, size_t outlen, const char *hex)
{
    if (strlen(hex) != 2 * outlen) {
        cr_error_set("expected %zu hex digits: %.80s", 2 * outlen, hex);
        return CR_EINPUT;
    }
    if (cr_hex_decode_n(out, hex, 2 * outlen) < 0) {
        cr_error_set("not a hex identifier: %.80s", hex);
        return CR_EINPUT;
    }
    return 0;
}

bool cr_is_hex(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (hexval((unsigned char)*s) < 0)
            return false;
    return true;
}

char *cr_id_to_hex(char *out, const cr_id *id)
{
    cr_hex_encode(out, id->b, CR_ID_LEN);
    return out;
}

int cr_id_from_hex(cr_id *out, const char *hex)
{
    return cr_hex_decode(out->b, CR_ID_LEN, hex);
}

int64_t cr_time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double cr_time_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cr_time_format(char *out, size_t outlen, int64_t ns)
{
    int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac == 0) {
        snprintf(out, outlen, "%sZ", base);
    } else {
        char f[16];
        snprintf(f, sizeof(f), "%09lld", (long long)frac);
        for (int i = 8; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        snprintf(out, outlen, "%s.%sZ", base, f);
    }
}

static int parse_digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**s))
            return -1;
        v = v * 10 + (**s - '0');
        (*s)++;
    }
    *out = v;
    return 0;
}

int cr_time_parse(int64_t *out_ns, const char *str)
{
    const char *s = str;
    int Y, M, D, h = 0, m = 0, sec = 0;
    int64_t frac = 0;
    long off = 0;
    if (parse_digits(&s, 4, &Y) || *s++ != '-' || parse_digits(&s, 2, &M) || *s++ != '-' ||
        parse_digits(&s, 2, &D))
        goto bad;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (parse_digits(&s, 2, &h) || *s++ != ':' || parse_digits(&s, 2, &m))
            goto bad;
        if (*s == ':') {
            s++;
            if (parse_digits(&s, 2, &sec))
                goto bad;
            if (*s == '.' || *s == ',') {
                s++;
                int digits = 0;
                while (isdigit((unsigned char)*s)) {
                    if (digits < 9) {
                        frac = frac * 10 + (*s - '0');
                        digits++;
                    }
                    s++;
                }
                if (digits == 0)
                    goto bad;
                while (digits++ < 9)
                    frac *= 10;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s == '-' ? -1 : 1, oh, om;
            s++;
            if (parse_digits(&s, 2, &oh))
                goto bad;
            if (*s == ':')
                s++;
            if (parse_digits(&s, 2, &om))
                goto bad;
            off = sign * (oh * 3600L + om * 60L);
        }
    }
    if (*s != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        goto bad;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out_ns = ((int64_t)t - off) * 1000000000LL + frac;
    return 0;
bad:
    cr_error_set("cannot read the time '%s': use ISO 8601, e.g. 2026-11-22T03:00:00Z", str);
    return CR_EINPUT;
}

void cr_deadline(struct timespec *out, long ms)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += ms / 1000;
    out->tv_nsec += (ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

int cr_run_workers(void *(*fn)(void *), void *args, size_t stride, int n, pthread_mutex_t *mu,
                   pthread_cond_t *cond, int *left, long interval_ms, void (*tick)(void *payload),
                   void *payload)
{
    pthread_t *tids = cr_calloc((size_t)n, sizeof(*tids));
    int started = 0;
    if (!tids)
        return CR_ERROR;
    *left = n;
    for (; started < n; started++)
        if (pthread_create(&tids[started], NULL, fn, (char *)args + (size_t)started * stride) != 0)
            break;
    pthread_mutex_lock(mu);
    *left -= n - started;
    while (*left > 0) {
        struct timespec ts;
        cr_deadline(&ts, interval_ms);
        pthread_cond_timedwait(cond, mu, &ts);
        if (*left > 0 && tick) {
            pthread_mutex_unlock(mu);
            tick(payload);
            pthread_mutex_lock(mu);
        }
    }
    pthread_mutex_unlock(mu);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    if (started == 0) {
        cr_error_set("cannot start worker threads: out of resources");
        return CR_ERROR;
    }
    return started;
}

int cr_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

void cr_who(char *host, size_t hostlen, char *user, size_t userlen)
{
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    if (gethostname(host, hostlen) < 0)
        host[0] = '\0';
    host[hostlen - 1] = '\0';
    user[0] = '\0';
    if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
        snprintf(user, userlen, "%s", res->pw_name);
    else if (getenv("USER"))
        snprintf(user, userlen, "%s", getenv("USER"));
}

void cr_fmt_size(char *out, size_t len, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)v;
    size_t u = 0;
    while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%llu B", (unsigned long long)v);
    else
        snprintf(out, len, "%.1f %s", x, units[u]);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cr_curl_init(void)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        cr_error_set("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return CR_ERROR;
    }
    return 0;
}
