/*
 * The S3 backend: a vault in a bucket (Ceph RGW, or any S3 service with
 * Object Lock), over libcurl with AWS Signature V4.
 *
 * Location: s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX][?lock=PERIOD]
 *   An object NAME is the key PREFIX/NAME (or NAME without a prefix).
 *   PERIOD is N followed by d (days) or y (years): see "Retention" below.
 * Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (as restic); region
 * AWS_REGION or AWS_DEFAULT_REGION, else "default" (Ceph's zonegroup).
 *
 * Requests, with the two rules RGW needs for SigV4 from libcurl: every
 * request carries x-amz-content-sha256 (the body's SHA-256), and a query is
 * written fully encoded, its parameters sorted, a sub-resource with a
 * trailing '=' ("?retention="). Every PUT carries Content-MD5 (AWS requires it
 * with Object Lock headers). One curl handle per request, connections shared
 * (a curl share handle), so any number of threads may use one store.
 * Idempotent requests are tried up to three times on network errors and 5xx.
 *
 *   put     HEAD; if the key exists, GET it and compare bytes (same: done;
 *           other: CR_EEXISTS); else PUT. Sealed objects on a store with a
 *           retention period get x-amz-object-lock-mode: COMPLIANCE and a
 *           retain-until date of now + period, "now" being the service's
 *           clock (the HEAD's Date header). Lock files (CR_STORE_MUTABLE)
 *           on a bucket with Object Lock get GOVERNANCE for one day instead:
 *           an explicit retention replaces the bucket's default COMPLIANCE
 *           one, and delete lifts GOVERNANCE (x-amz-bypass-governance-
 *           retention), so a lock file is always removable.
 *   get     GET, bounded by max; stat: HEAD (size, Last-Modified).
 *   list    ListObjectsV2, prefix "PREFIX/DIR/", delimiter '/', following
 *           continuation tokens; sub-folders (common prefixes) are listed with
 *           size 0 as the dir backend lists folders. S3 has no empty folders:
 *           `must_exist` cannot be checked and an empty folder lists nothing.
 *           list_below: the same without the delimiter (every pack in one
 *           request per thousand instead of one per data/xx folder).
 *   delete  Removes every version of the key (ListObjectVersions, then
 *           DELETE ?versionId=), newest first, so that storage is really
 *           freed and nothing older comes back. A version under COMPLIANCE
 *           retention is refused by the service: CR_ERETAINED with the date;
 *           when the newest version is refused nothing was changed. A plain
 *           DELETE (which on a versioned bucket only hides the object behind
 *           a delete marker) is never sent.
 *   read    a read (and the opening of an object, for its size) fetches a
 *           window of at least 4 MiB (Range: bytes=a-b; 206, Content-Range and
 *           the length checked); the store keeps the last 8 windows, so that
 *           opening a pack again, or reading on, costs no request.
 *   unhide  removes the delete markers that hide objects (a plain DELETE by
 *           someone with the keys: see s3_unhide).
 *   retain  HEAD; if the object is already kept until then or later, done;
 *           else PUT ?retention= (COMPLIANCE, RetainUntilDate). The service
 *           refuses to shorten a COMPLIANCE retention, so retain only extends.
 *           On a bucket without Object Lock nothing is enforced.
 *
 * Retention: opened with CR_STORE_CREATE and ?lock=PERIOD, a missing bucket is
 * created with Object Lock (x-amz-bucket-object-lock-enabled: true; versioning
 * comes with it and can never be turned off) and a default COMPLIANCE
 * retention of PERIOD (PutObjectLockConfiguration). Opened later without
 * ?lock=, the store reads the bucket's default retention and puts every
 * sealed object with it; ?lock= given again overrides it for this opening.
 *
 * XML answers (lists, errors, lock configuration) are parsed by libxml2, at
 * most S3_MAX_XML bytes, without DTDs, entities or network.
 */
#include "store/store.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S3_MAX_XML (8u << 20) /* a list page or an error */
#define S3_CONNECT_TIMEOUT_S 10L
#define S3_LOW_SPEED_TIME_S 60L /* under 1 byte/s for that long: cut */
#define S3_TRIES 3
#define S3_LOCKFILE_HOLD_S 86400 /* GOVERNANCE hold of a lock file */
#define S3_MAX_PERIOD_S (100LL * 365 * 86400)
#define S3_PREFETCH (4u << 20) /* a read fetches at least this much */
#define S3_CACHE_WINDOWS 8     /* windows kept per store (32 MiB) */

static const char EMPTY_SHA256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

typedef struct s3_store {
    char *endpoint; /* "http://host:port" */
    char *bucket;
    char *prefix;     /* "" or "some/prefix/" (with the slash) */
    char *userpwd;    /* "key:secret" for curl */
    char *sigv4;      /* "aws:amz:REGION:s3" */
    int lock_enabled; /* the bucket has Object Lock */
    int64_t period_s; /* retention of sealed objects, 0: none */
    CURLSH *share;
    pthread_mutex_t mu[CURL_LOCK_DATA_LAST];
    /* Windows of objects read lately (objects never change under a name):
     * readers open a pack again for each run of blobs they need. */
    pthread_mutex_t cache_mu;
    struct s3_window {
        char name[CR_STORE_MAX_NAME + 1];
        uint64_t size, off, used; /* object size, window start, last use */
        cr_buf data;
    } cache[S3_CACHE_WINDOWS];
    uint64_t cache_clock;
} s3_store;

typedef struct s3_obj {
    cr_store_obj base;
    cr_store *s;
    char name[CR_STORE_MAX_NAME + 1];
} s3_obj;

#define S3(s) ((s3_store *)(s)->impl)

/* ------------------------------------------------------------ one-time setup */

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static void s3_init(void)
{
    xmlInitParser();
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
    (void)h;
    (void)access;
    s3_store *st = userptr;
    pthread_mutex_lock(&st->mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    (void)h;
    s3_store *st = userptr;
    pthread_mutex_unlock(&st->mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

/* ------------------------------------------------------------ small helpers */

/* Percent-encode for a query value (SigV4's canonical form: RFC 3986 unreserved kept). */
static int query_encode(cr_buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            if (cr_buf_put_u8(b, c) < 0)
                return CR_ERROR;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (cr_buf_put(b, e, 3) < 0)
                return CR_ERROR;
        }
    }
    return 0;
}

/* "2026-12-08T13:57:03.167863261Z" or "...:03Z" or "...:03.167Z" -> Unix seconds; -1 if not that.
 */
static int64_t parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        return -1;
    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
    if (*end != 'Z' && *end != '\0')
        return -1;
    return (int64_t)timegm(&tm);
}

static void fmt_iso8601(char out[32], int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ XML */

static xmlDoc *xml_parse(const cr_buf *b)
{
    if (!b->len || b->len > S3_MAX_XML || memmem(b->ptr, b->len, "<!DOCTYPE", 9) ||
        memmem(b->ptr, b->len, "<!ENTITY", 8))
        return NULL;
    return xmlReadMemory((const char *)b->ptr, (int)b->len, "s3.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static int is_el(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static const xmlNode *xml_child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* The text of n's child `name` into out (at most outlen-1 bytes); "" if none. */
static const char *xml_text(char *out, size_t outlen, const xmlNode *n, const char *name)
{
    const xmlNode *c = xml_child(n, name);
    xmlChar *t = c ? xmlNodeGetContent(c) : NULL;
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
    xmlFree(t);
    return out;
}

/* ------------------------------------------------------------ requests */

typedef struct s3_req {
    /* in */
    const char *method; /* GET, HEAD, PUT, DELETE */
    const char *key;    /* full key, or NULL for the bucket itself */
    const char *query;  /* encoded and sorted, or NULL */
    const void *body;
    size_t body_len;
    const char *const *headers;    /* extra "Name: value" lines, NULL-terminated, or NULL */
    uint64_t range_off, range_len; /* range_len > 0: a ranged GET */
    cr_buf *out;                   /* response body (reset first), or NULL: kept for errors only */
    size_t max;                    /* bound of the response body */
    /* out */
    long status;
    int64_t mtime_s;      /* Last-Modified, -1 if none */
    int64_t length;       /* Content-Length, -1 if none */
    int64_t retain_until; /* x-amz-object-lock-retain-until-date, -1 if none */
    int64_t range_total;  /* the object's size from Content-Range, -1 if none */
    int64_t date_s;       /* the service's clock (Date), -1 if none */
    char lock_mode[16];
    char code[64];     /* S3 error code of a failed request ("" if none) */
    char message[160]; /* its message */
    int too_big;       /* the body went past max */
    size_t body_off;   /* upload position */
    cr_buf err_body;
} s3_req;

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nmemb;
    cr_buf *b = (r->out && r->status / 100 == 2) ? r->out : &r->err_body;
    size_t max = b == r->out ? r->max : 65536;
    if (b->len + n > max) {
        if (b == r->out) {
            r->too_big = 1;
            return 0; /* abort: not something we wrote */
        }
        n = max - b->len; /* an error page: keep its start */
        if (cr_buf_put(b, ptr, n) < 0)
            return 0;
        return size * nmemb;
    }
    if (cr_buf_put(b, ptr, n) < 0)
        return 0;
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nitems, left = r->body_len - r->body_off;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, (const char *)r->body + r->body_off, n);
    r->body_off += n;
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    s3_req *r = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->body_off = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    s3_req *r = ud;
    size_t n = size * nmemb;
    char line[256];
    if (n > 5 && !memcmp(ptr, "HTTP/", 5)) {
        /* A new response (after a 100 Continue): its status, its headers. */
        const char *sp = memchr(ptr, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->retain_until = -1;
        r->length = -1;
        r->range_total = -1;
        r->lock_mode[0] = '\0';
        return n;
    }
    if (n >= sizeof(line))
        return n;
    memcpy(line, ptr, n);
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    char *colon = strchr(line, ':');
    if (!colon)
        return n;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (!strcasecmp(line, "x-amz-object-lock-retain-until-date"))
        r->retain_until = parse_iso8601(v);
    else if (!strcasecmp(line, "x-amz-object-lock-mode"))
        snprintf(r->lock_mode, sizeof(r->lock_mode), "%s", v);
    else if (!strcasecmp(line, "content-length"))
        r->length = strtoll(v, NULL, 10);
    else if (!strcasecmp(line, "date"))
        r->date_s = (int64_t)curl_getdate(v, NULL);
    else if (!strcasecmp(line, "content-range")) {
        const char *slash = strchr(v, '/');
        r->range_total =
            slash && slash[1] >= '0' && slash[1] <= '9' ? strtoll(slash + 1, NULL, 10) : -1;
    }
    return n;
}

/* The S3 error code and message of a failed request's XML body. */
static void parse_error(s3_req *r)
{
    xmlDoc *doc = xml_parse(&r->err_body);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root && is_el(root, "Error")) {
        xml_text(r->code, sizeof(r->code), root, "Code");
        xml_text(r->message, sizeof(r->message), root, "Message");
        /* Only printable ASCII goes into a message. */
        for (char *p = r->message; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        for (char *p = r->code; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
    }
    xmlFreeDoc(doc);
}

static int base64(char *out, size_t outlen, const unsigned char *in, size_t n)
{
    if (outlen < 4 * ((n + 2) / 3) + 1)
        return CR_ERROR;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return 0;
}

/* One attempt. @return 0 (r->status set) or CR_ERROR (network: message set). */
static int perform_once(cr_store *s, s3_req *r, const char *url, struct curl_slist *hdrs)
{
    s3_store *st = S3(s);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *c = curl_easy_init();
    if (!c) {
        cr_error_set("cannot initialise libcurl (out of memory?)");
        return CR_ERROR;
    }
    r->status = 0;
    r->mtime_s = -1;
    r->length = -1;
    r->retain_until = -1;
    r->range_total = -1;
    r->date_s = -1;
    r->lock_mode[0] = r->code[0] = r->message[0] = '\0';
    r->too_big = 0;
    r->body_off = 0;
    if (r->out)
        cr_buf_reset(r->out);
    cr_buf_reset(&r->err_body);

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, S3_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, S3_LOW_SPEED_TIME_S);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cleanroom/" CR_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_SHARE, st->share);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, st->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, st->userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
    if (getenv("CR_S3_DEBUG"))
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }

    CURLcode rc = curl_easy_perform(c);
    curl_off_t ft = -1;
    if (curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft) == CURLE_OK && ft >= 0)
        r->mtime_s = (int64_t)ft;
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (r->too_big)
        return 0; /* the caller reports it */
    if (rc != CURLE_OK) {
        cr_error_set("cannot reach the S3 service at %s: %s", st->endpoint,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return CR_ERROR;
    }
    r->status = code;
    if (code >= 300)
        parse_error(r);
    return 0;
}

/*
 * Send a request (tried again on network errors and 5xx: every request we
 * make is idempotent). @return 0 with r->status and r->code to look at, or
 * CR_ERROR (the service could not be reached; message set).
 */
static int s3_request(cr_store *s, s3_req *r)
{
    s3_store *st = S3(s);
    struct curl_slist *hdrs = NULL, *h;
    char line[256], sha_hex[2 * SHA256_DIGEST_LENGTH + 1];
    int err = CR_ERROR;

    /* The URL: keys hold only [A-Za-z0-9._-/] (checked names), safe as they are. */
    char *u = cr_sprintf("%s/%s%s%s%s%s", st->endpoint, st->bucket, r->key ? "/" : "",
                         r->key ? r->key : "", r->query ? "?" : "", r->query ? r->query : "");
    if (!u)
        goto done;

    if (r->body_len) {
        unsigned char sha[SHA256_DIGEST_LENGTH];
        SHA256(r->body, r->body_len, sha);
        cr_hex_encode(sha_hex, sha, sizeof(sha));
    } else {
        memcpy(sha_hex, EMPTY_SHA256, sizeof(sha_hex));
    }
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha_hex);
    if (!(h = curl_slist_append(hdrs, line)))
        goto oom;
    hdrs = h;
    if (!strcmp(r->method, "PUT")) {
        unsigned char md5[MD5_DIGEST_LENGTH];
        char b64[32];
        EVP_Digest(r->body ? r->body : "", r->body_len, md5, NULL, EVP_md5(), NULL);
        base64(b64, sizeof(b64), md5, sizeof(md5));
        snprintf(line, sizeof(line), "Content-MD5: %s", b64);
        if (!(h = curl_slist_append(hdrs, line)) || !(hdrs = h) ||
            !(h = curl_slist_append(hdrs, "Content-Type: application/octet-stream")))
            goto oom;
        hdrs = h;
    }
    if (r->range_len) {
        snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)r->range_off,
                 (unsigned long long)(r->range_off + r->range_len - 1));
        if (!(h = curl_slist_append(hdrs, line)))
            goto oom;
        hdrs = h;
    }
    for (size_t i = 0; r->headers && r->headers[i]; i++) {
        if (!(h = curl_slist_append(hdrs, r->headers[i])))
            goto oom;
        hdrs = h;
    }

    for (int attempt = 1; attempt <= S3_TRIES; attempt++) {
        err = perform_once(s, r, u, hdrs);
        if (err == 0 && r->status < 500)
            break;
        if (attempt < S3_TRIES)
            usleep(200000u * (unsigned)attempt);
    }
    goto done;
oom:
    cr_error_set("out of memory");
    err = CR_ERROR;
done:
    curl_slist_free_all(hdrs);
    cr_buf_free(&r->err_body);
    free(u);
    return err;
}

/* The full key of a store name. */
static char *full_key(cr_store *s, const char *name)
{
    return cr_sprintf("%s%s", S3(s)->prefix, name);
}

/*
 * A failed request as a CR_ code with a message a technician can act on.
 * `what` says what was done ("read", "store", ...), `name` the object.
 */
static int s3_fail(cr_store *s, const s3_req *r, const char *what, const char *name)
{
    s3_store *st = S3(s);
    const char *code = r->code[0] ? r->code : "";
    char detail[240], obj[CR_STORE_MAX_NAME + 1024];
    if (r->message[0])
        snprintf(detail, sizeof(detail), "%s: %s", code[0] ? code : "error", r->message);
    else
        snprintf(detail, sizeof(detail), "%s", code[0] ? code : "error");
    /* The object, or the vault itself (name NULL: a request on the bucket). */
    snprintf(obj, sizeof(obj), "%s%s%s", s->location, name ? "/" : "", name ? name : "");

    if (r->status == 404 && !strcmp(code, "NoSuchBucket")) {
        cr_error_set("bucket '%s' does not exist at %s (create the vault with 'cleanroom init')",
                     st->bucket, st->endpoint);
        return CR_ENOTFOUND;
    }
    if (r->status == 404) {
        cr_error_set("%s is missing", obj);
        return CR_ENOTFOUND;
    }
    int64_t skew = r->date_s > 0 ? r->date_s - (int64_t)time(NULL) : 0;
    if (!strcmp(code, "RequestTimeTooSkewed") ||
        (r->status == 403 && !code[0] && (skew > 900 || skew < -900))) {
        /* A HEAD answer has no body: the service's Date tells. */
        if (!code[0])
            snprintf(detail, sizeof(detail), "HTTP 403, the service's clock is %lld s %s",
                     (long long)(skew < 0 ? -skew : skew), skew < 0 ? "behind" : "ahead");
        cr_error_set("S3 refused a request to %s: this machine's clock differs from the S3 "
                     "service's by more than 15 minutes (%s); set the time (NTP) and try again",
                     s->location, detail);
        return CR_ERROR;
    }
    if (!strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "SignatureDoesNotMatch")) {
        cr_error_set("S3 refused the credentials (%s) for %s: check AWS_ACCESS_KEY_ID and "
                     "AWS_SECRET_ACCESS_KEY",
                     detail, s->location);
        return CR_ERROR;
    }
    if (r->status == 507 || !strcmp(code, "QuotaExceeded")) {
        cr_error_set("S3 refused to %s %s: %s (the bucket or the user's quota is full)", what, obj,
                     detail);
        return CR_ENOSPACE;
    }
    if (r->status == 403) {
        /* A HEAD answer has no body: no S3 code to show. */
        cr_error_set("S3 refused to %s %s: %s (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
                     "the user's rights on bucket '%s')",
                     what, obj, code[0] ? detail : "HTTP 403 Forbidden", st->bucket);
        return CR_ERROR;
    }
    cr_error_set("S3 could not %s %s: HTTP %ld %s", what, obj, r->status, detail);
    return CR_ERROR;
}

/* ------------------------------------------------------------ operations */

/* HEAD a key. @return 0 (r filled), CR_ENOTFOUND (no message), other errors with a message. */
static int head(cr_store *s, const char *name, s3_req *r)
{
    char *key = full_key(s, name);
    int err;
    if (!key)
        return CR_ERROR;
    r->method = "HEAD";
    r->key = key;
    if ((err = s3_request(s, r)) == 0 && r->status != 200)
        err = r->status == 404 ? CR_ENOTFOUND : s3_fail(s, r, "read", name);
    free(key);
    return err;
}

static int s3_get(cr_store *s, const char *name, cr_buf *out, size_t max)
{
    char *key = full_key(s, name);
    s3_req r = {0};
    int err;
    if (!key)
        return CR_ERROR;
    r.method = "GET";
    r.key = key;
    r.out = out;
    r.max = max;
    if ((err = s3_request(s, &r)) < 0)
        goto done;
    if (r.too_big) {
        cr_error_set("%s/%s is larger than %zu bytes: not something cleanroom wrote", s->location,
                     name, max);
        err = CR_ECORRUPT;
    } else if (r.status != 200) {
        err = s3_fail(s, &r, "read", name);
    }
done:
    free(key);
    return err;
}

static int s3_put(cr_store *s, const char *name, const void *data, size_t len, unsigned flags)
{
    s3_store *st = S3(s);
    s3_req r = {0};
    char *key = NULL;
    char mode_h[64], until_h[96], until[32];
    const char *hdrs[3] = {NULL, NULL, NULL};
    int err = head(s, name, &r);

    if (err == 0) {
        /* Taken: the same bytes are a repeat, other bytes damage or an attack. */
        cr_buf have = CR_BUF_INIT;
        int g = s3_get(s, name, &have, len + 1);
        int same = g == 0 && have.len == len && (len == 0 || !memcmp(have.ptr, data, len));
        cr_buf_free(&have);
        if (same)
            return 0;
        if (g < 0 && g != CR_ECORRUPT)
            return g;
        cr_error_set("%s/%s already exists with other content: it was not replaced (the vault is "
                     "damaged, or someone planted that object); run 'cleanroom verify'",
                     s->location, name);
        return CR_EEXISTS;
    }
    if (err != CR_ENOTFOUND)
        return err;

    if (!(key = full_key(s, name)))
        return CR_ERROR;
    /* Retention counts from the service's clock (the HEAD's Date), not this
     * machine's, which may be wrong. */
    int64_t now = r.date_s > 0 ? r.date_s : (int64_t)time(NULL);
    if ((flags & CR_STORE_MUTABLE) && st->lock_enabled) {
        fmt_iso8601(until, now + S3_LOCKFILE_HOLD_S);
        snprintf(mode_h, sizeof(mode_h), "x-amz-object-lock-mode: GOVERNANCE");
        snprintf(until_h, sizeof(until_h), "x-amz-object-lock-retain-until-date: %s", until);
        hdrs[0] = mode_h;
        hdrs[1] = until_h;
    } else if (!(flags & CR_STORE_MUTABLE) && st->period_s > 0) {
        fmt_iso8601(until, now + st->period_s);
        snprintf(mode_h, sizeof(mode_h), "x-amz-object-lock-mode: COMPLIANCE");
        snprintf(until_h, sizeof(until_h), "x-amz-object-lock-retain-until-date: %s", until);
        hdrs[0] = mode_h;
        hdrs[1] = until_h;
    }
    memset(&r, 0, sizeof(r));
    r.method = "PUT";
    r.key = key;
    r.body = data;
    r.body_len = len;
    r.headers = hdrs;
    if ((err = s3_request(s, &r)) == 0 && r.status != 200)
        err = s3_fail(s, &r, "store", name);
    free(key);
    return err;
}

static int s3_stat(cr_store *s, const char *name, cr_store_info *out)
{
    s3_req r = {0};
    int err = head(s, name, &r);
    if (err == CR_ENOTFOUND)
        cr_error_set("%s/%s is missing", s->location, name);
    if (err < 0)
        return err;
    out->size = r.length >= 0 ? (uint64_t)r.length : 0;
    out->mtime_ns = r.mtime_s >= 0 ? r.mtime_s * 1000000000 : 0;
    out->retain_until_s = r.retain_until > 0 ? r.retain_until : 0;
    return 0;
}

/* Walk one ListObjectsV2 page; names relative to `pfx`. */
static int list_page(cr_store *s, xmlNode *root, const char *pfx, int deep, cr_store_list_cb cb,
                     void *payload, char *token, size_t toklen)
{
    size_t plen = strlen(pfx);
    char key[1024], buf[64];
    int err = 0;
    token[0] = '\0';
    for (xmlNode *n = root->children; n && !err; n = n->next) {
        cr_store_info info = {0, 0, 0};
        if (is_el(n, "Contents")) {
            xml_text(key, sizeof(key), n, "Key");
            info.size = strtoull(xml_text(buf, sizeof(buf), n, "Size"), NULL, 10);
            int64_t t = parse_iso8601(xml_text(buf, sizeof(buf), n, "LastModified"));
            info.mtime_ns = t > 0 ? t * 1000000000 : 0;
        } else if (is_el(n, "CommonPrefixes")) {
            xml_text(key, sizeof(key), n, "Prefix");
            size_t kl = strlen(key);
            if (kl && key[kl - 1] == '/')
                key[kl - 1] = '\0';
        } else {
            continue;
        }
        if (strncmp(key, pfx, plen) != 0)
            continue;
        const char *rel = key + plen;
        /* Anything we did not name (or deeper than this folder) is not ours to list. */
        if ((!deep && strchr(rel, '/')) || !cr_store_name_ok(rel))
            continue;
        err = cb(rel, &info, payload);
    }
    char trunc[16];
    if (!err && !strcmp(xml_text(trunc, sizeof(trunc), root, "IsTruncated"), "true")) {
        xml_text(token, toklen, root, "NextContinuationToken");
        if (!token[0]) {
            cr_error_set("S3 listing of %s is cut without a continuation token", s->location);
            err = CR_ERROR;
        }
    }
    return err;
}

/*
 * GET a listing of the bucket (`query`: encoded, sorted) and parse it: *doc
 * (free with xmlFreeDoc) and *root, an element named `root_name`. `what` and
 * `name` (NULL: the vault) say what was listed, for messages.
 */
static int get_listing(cr_store *s, const char *query, const char *root_name, const char *what,
                       const char *name, xmlDoc **doc, xmlNode **root)
{
    cr_buf body = CR_BUF_INIT;
    s3_req r = {0};
    int err;
    *doc = NULL;
    *root = NULL;
    r.method = "GET";
    r.query = query;
    r.out = &body;
    r.max = S3_MAX_XML;
    if ((err = s3_request(s, &r)) < 0)
        goto done;
    if (r.too_big) {
        cr_error_set("S3's answer to %s %s is over %u bytes: refused", what, s->location,
                     S3_MAX_XML);
        err = CR_ERROR;
        goto done;
    }
    if (r.status != 200) {
        err = s3_fail(s, &r, what, name);
        goto done;
    }
    *doc = xml_parse(&body);
    *root = *doc ? xmlDocGetRootElement(*doc) : NULL;
    if (!*root || !is_el(*root, root_name)) {
        cr_error_set("S3 answered a request to %s %s with something else than a %s", what,
                     s->location, root_name);
        xmlFreeDoc(*doc);
        *doc = NULL;
        *root = NULL;
        err = CR_ERROR;
    }
done:
    cr_buf_free(&body);
    return err;
}

/* One folder level (delimiter '/'), or every object below it (deep). */
static int list_objects(cr_store *s, const char *dir, int deep, cr_store_list_cb cb, void *payload)
{
    char *pfx = cr_sprintf("%s%s%s", S3(s)->prefix, dir, dir[0] ? "/" : "");
    char token[1024] = "";
    cr_buf q = CR_BUF_INIT;
    int err = 0;
    if (!pfx)
        return CR_ERROR;
    do {
        cr_buf_reset(&q);
        /* Sorted: continuation-token, delimiter, list-type, prefix. */
        if (token[0] && (cr_buf_put(&q, "continuation-token=", 19) < 0 ||
                         query_encode(&q, token) < 0 || cr_buf_put(&q, "&", 1) < 0)) {
            err = CR_ERROR;
            break;
        }
        if ((!deep && cr_buf_put(&q, "delimiter=%2F&", 14) < 0) ||
            cr_buf_put(&q, "list-type=2&prefix=", 19) < 0 || query_encode(&q, pfx) < 0 ||
            cr_buf_put_u8(&q, 0) < 0) {
            err = CR_ERROR;
            break;
        }
        xmlDoc *doc;
        xmlNode *root;
        if ((err = get_listing(s, (const char *)q.ptr, "ListBucketResult", "list",
                               dir[0] ? dir : NULL, &doc, &root)) < 0)
            break;
        err = list_page(s, root, pfx, deep, cb, payload, token, sizeof(token));
        xmlFreeDoc(doc);
    } while (!err && token[0]);
    cr_buf_free(&q);
    free(pfx);
    return err;
}

static int s3_list(cr_store *s, const char *dir, int must_exist, cr_store_list_cb cb, void *payload)
{
    (void)must_exist; /* S3 has no folders: an empty one cannot be told from a missing one */
    return list_objects(s, dir, 0, cb, payload);
}

static int s3_list_below(cr_store *s, const char *dir, cr_store_list_cb cb, void *payload)
{
    return list_objects(s, dir, 1, cb, payload);
}

/* The versions (and delete markers) of exactly `key`, newest first. */
typedef struct version_list {
    char (*id)[160];
    size_t n;
} version_list;

static int list_versions(cr_store *s, const char *key, version_list *out)
{
    cr_buf q = CR_BUF_INIT;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int err;
    out->id = NULL;
    out->n = 0;
    if (cr_buf_put(&q, "prefix=", 7) < 0 || query_encode(&q, key) < 0 ||
        cr_buf_put(&q, "&versions=", 11) < 0) /* with the NUL */
        return CR_ERROR;
    if ((err = get_listing(s, (const char *)q.ptr, "ListVersionsResult", "list the versions of",
                           key + strlen(S3(s)->prefix), &doc, &root)) < 0)
        goto done;
    size_t cap = 0;
    for (int latest_pass = 1; latest_pass >= 0; latest_pass--) {
        for (xmlNode *n = root->children; n; n = n->next) {
            char k[1024], id[160], latest[8];
            if (!is_el(n, "Version") && !is_el(n, "DeleteMarker"))
                continue;
            if (strcmp(xml_text(k, sizeof(k), n, "Key"), key) != 0)
                continue;
            if ((!strcmp(xml_text(latest, sizeof(latest), n, "IsLatest"), "true")) != latest_pass)
                continue;
            xml_text(id, sizeof(id), n, "VersionId");
            if (!id[0])
                continue; /* never send an empty versionId: that is a plain DELETE */
            if (out->n == cap) {
                cap = cap ? cap * 2 : 4;
                void *p = cr_realloc(out->id, cap * sizeof(*out->id));
                if (!p) {
                    err = CR_ERROR;
                    goto done;
                }
                out->id = p;
            }
            snprintf(out->id[out->n++], sizeof(out->id[0]), "%s", id);
        }
    }
done:
    xmlFreeDoc(doc);
    cr_buf_free(&q);
    return err;
}

/* Remove one version (or delete marker) of `key` by its id; r tells the answer. */
static int delete_version(cr_store *s, const char *key, const char *id, int bypass, s3_req *r)
{
    static const char *const hdrs[] = {"x-amz-bypass-governance-retention: true", NULL};
    cr_buf q = CR_BUF_INIT;
    int err;
    if (cr_buf_put(&q, "versionId=", 10) < 0 || query_encode(&q, id) < 0 ||
        cr_buf_put_u8(&q, 0) < 0) {
        cr_buf_free(&q);
        return CR_ERROR;
    }
    memset(r, 0, sizeof(*r));
    r->method = "DELETE";
    r->key = key;
    r->query = (const char *)q.ptr;
    r->headers = bypass ? hdrs : NULL;
    err = s3_request(s, r);
    r->query = NULL;
    cr_buf_free(&q);
    return err;
}

static int s3_del(cr_store *s, const char *name)
{
    s3_store *st = S3(s);
    char *key = full_key(s, name);
    version_list v = {NULL, 0};
    int err;
    if (!key)
        return CR_ERROR;
    if ((err = list_versions(s, key, &v)) < 0)
        goto done;
    if (v.n == 0) {
        cr_error_set("cannot remove %s/%s: it is missing", s->location, name);
        err = CR_ENOTFOUND;
        goto done;
    }
    for (size_t i = 0; i < v.n; i++) {
        s3_req r;
        if ((err = delete_version(s, key, v.id[i], st->lock_enabled, &r)) < 0)
            goto done;
        if (r.status == 204 || r.status == 200 || r.status == 404)
            continue;
        if (r.status == 403 && st->lock_enabled) {
            /* Most likely a retention: say until when, if the object tells. */
            s3_req h = {0};
            char until[32] = "a date the service did not give";
            if (head(s, name, &h) == 0 && h.retain_until > 0)
                fmt_iso8601(until, h.retain_until);
            cr_error_set("S3 refused to remove %s/%s: %s (%s; the object is locked until %s by "
                         "Object Lock%s)",
                         s->location, name, r.code[0] ? r.code : "AccessDenied",
                         r.message[0] ? r.message : "refused", until,
                         i == 0 ? "; nothing was removed" : "; an older version remains");
            err = CR_ERETAINED;
            goto done;
        }
        err = s3_fail(s, &r, "remove", name);
        goto done;
    }
    err = 0;
done:
    free(v.id);
    free(key);
    return err;
}

/*
 * Delete markers that hide an object (the newest "version" of a key is a
 * marker): cleanroom never makes one (its delete removes versions by id), so
 * each was put by someone else with the S3 keys, a plain DELETE that looks like
 * a deletion but leaves the locked bytes in place. Removing the marker (never
 * refused: a marker carries no retention) brings the object back.
 */
static int s3_unhide(cr_store *s, size_t *restored)
{
    const char *pfx = S3(s)->prefix;
    size_t plen = strlen(pfx);
    char key_marker[1024] = "", vid_marker[160] = "";
    cr_buf q = CR_BUF_INIT;
    int err = 0, more;
    *restored = 0;
    do {
        cr_buf_reset(&q);
        /* Sorted: key-marker, prefix, version-id-marker, versions. */
        if ((key_marker[0] && (cr_buf_put(&q, "key-marker=", 11) < 0 ||
                               query_encode(&q, key_marker) < 0 || cr_buf_put(&q, "&", 1) < 0)) ||
            cr_buf_put(&q, "prefix=", 7) < 0 || query_encode(&q, pfx) < 0 ||
            (vid_marker[0] &&
             (cr_buf_put(&q, "&version-id-marker=", 19) < 0 || query_encode(&q, vid_marker) < 0)) ||
            cr_buf_put(&q, "&versions=", 11) < 0) {
            err = CR_ERROR;
            break;
        }
        xmlDoc *doc;
        xmlNode *root;
        if ((err = get_listing(s, (const char *)q.ptr, "ListVersionsResult", "list the versions of",
                               NULL, &doc, &root)) < 0)
            break;
        for (xmlNode *n = root->children; n && !err; n = n->next) {
            char k[1024], id[160], latest[8];
            s3_req dr;
            if (!is_el(n, "DeleteMarker") ||
                strcmp(xml_text(latest, sizeof(latest), n, "IsLatest"), "true") != 0)
                continue;
            xml_text(k, sizeof(k), n, "Key");
            xml_text(id, sizeof(id), n, "VersionId");
            if (strncmp(k, pfx, plen) != 0 || !cr_store_name_ok(k + plen) || !id[0])
                continue; /* not a name of ours */
            if ((err = delete_version(s, k, id, 0, &dr)) < 0)
                break;
            if (dr.status != 204 && dr.status != 200 && dr.status != 404) {
                err = s3_fail(s, &dr, "remove the delete marker hiding", k + plen);
                break;
            }
            (*restored)++;
        }
        char t[16];
        more = !err && !strcmp(xml_text(t, sizeof(t), root, "IsTruncated"), "true");
        if (more) {
            xml_text(key_marker, sizeof(key_marker), root, "NextKeyMarker");
            xml_text(vid_marker, sizeof(vid_marker), root, "NextVersionIdMarker");
            if (!key_marker[0]) {
                cr_error_set("S3 version listing of %s is cut without a marker", s->location);
                err = CR_ERROR;
                more = 0;
            }
        }
        xmlFreeDoc(doc);
    } while (more);
    cr_buf_free(&q);
    return err;
}

/* Copy [off, off+len) of `name` from a cached window. @return 1 if found; *size too. */
static int cache_get(s3_store *st, const char *name, void *buf, size_t len, uint64_t off,
                     uint64_t *size)
{
    int found = 0;
    pthread_mutex_lock(&st->cache_mu);
    for (int i = 0; i < S3_CACHE_WINDOWS && !found; i++) {
        struct s3_window *w = &st->cache[i];
        if (!w->data.ptr || strcmp(w->name, name) != 0)
            continue;
        if (size) {
            *size = w->size;
            found = 1;
        } else if (off >= w->off && off - w->off <= w->data.len &&
                   len <= w->data.len - (off - w->off)) {
            memcpy(buf, w->data.ptr + (off - w->off), len);
            found = 1;
        }
        if (found)
            w->used = ++st->cache_clock;
    }
    pthread_mutex_unlock(&st->cache_mu);
    return found;
}

/* Keep a window (takes data over), in place of the least recently used one. */
static void cache_put(s3_store *st, const char *name, uint64_t size, uint64_t off, cr_buf *data)
{
    pthread_mutex_lock(&st->cache_mu);
    struct s3_window *w = &st->cache[0];
    for (int i = 1; i < S3_CACHE_WINDOWS; i++)
        if (st->cache[i].used < w->used)
            w = &st->cache[i];
    cr_buf_free(&w->data);
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->size = size;
    w->off = off;
    w->data = *data;
    w->used = ++st->cache_clock;
    *data = (cr_buf)CR_BUF_INIT;
    pthread_mutex_unlock(&st->cache_mu);
}

/*
 * GET a window of at least S3_PREFETCH bytes of `name` from `off` (or the
 * rest of the object, or `len` if larger), keep it in the cache, and copy
 * [off, off+len) into buf (if not NULL). `size` is the object's size if known
 * (else UINT64_MAX: then *size_out gets it, from Content-Range).
 * @return 0, CR_ENOTFOUND, CR_ECORRUPT (shorter than asked), CR_ERROR...
 */
static int fetch_window(cr_store *s, const char *name, void *buf, size_t len, uint64_t off,
                        uint64_t size, uint64_t *size_out)
{
    s3_store *st = S3(s);
    cr_buf out = CR_BUF_INIT;
    s3_req r = {0};
    char *key = full_key(s, name);
    uint64_t want = len > S3_PREFETCH ? len : S3_PREFETCH;
    int err;
    if (size != UINT64_MAX && want > size - off)
        want = size - off;
    if (!key)
        return CR_ERROR;
    r.method = "GET";
    r.key = key;
    r.range_off = off;
    r.range_len = want;
    r.out = &out;
    r.max = want;
    if ((err = s3_request(s, &r)) < 0)
        goto done;
    if (r.status == 206 && r.range_total >= 0 && (uint64_t)r.range_total >= off + out.len &&
        (out.len == want || (uint64_t)r.range_total == off + out.len) && out.len >= len) {
        size = (uint64_t)r.range_total;
    } else if (r.status == 200 && off == 0 && !r.too_big && out.len >= len) {
        size = out.len; /* the whole object (the range was not applied) */
    } else if (r.status == 416 || r.status == 206 || (r.status == 200 && !r.too_big)) {
        if (size == UINT64_MAX && off == 0 && r.status == 416) {
            /* An empty object has no byte 0: ask its size. */
            cr_store_info info;
            if ((err = s3_stat(s, name, &info)) == 0 && info.size == 0 && len == 0)
                size = 0;
            else if (err == 0)
                err = (cr_error_set("S3 answered a read of %s/%s with a bad range", s->location,
                                    name),
                       CR_ERROR);
            if (err < 0)
                goto done;
        } else {
            cr_error_set("%s/%s is shorter than expected (%zu bytes wanted at %llu)", s->location,
                         name, len, (unsigned long long)off);
            err = CR_ECORRUPT;
            goto done;
        }
    } else if (r.status == 404) {
        cr_error_set("%s/%s is missing", s->location, name);
        err = CR_ENOTFOUND;
        goto done;
    } else {
        err = r.too_big
                  ? (cr_error_set("S3 ignored the range of a read of %s/%s", s->location, name),
                     CR_ERROR)
                  : s3_fail(s, &r, "read", name);
        goto done;
    }
    if (buf && len)
        memcpy(buf, out.ptr, len);
    if (size_out)
        *size_out = size;
    if (out.len)
        cache_put(st, name, size, off, &out);
done:
    cr_buf_free(&out);
    free(key);
    return err;
}

static int obj_read(cr_store_obj *o, void *buf, size_t len, uint64_t off)
{
    s3_obj *so = (s3_obj *)o;
    if (len == 0 || cache_get(S3(so->s), so->name, buf, len, off, NULL))
        return 0;
    return fetch_window(so->s, so->name, buf, len, off, o->size, NULL);
}

static void obj_close(cr_store_obj *o)
{
    free(o);
}

/*
 * Opening reads the first window (Range: bytes=0-...): one request gives the
 * size (Content-Range) and, for most packs, every byte a reader will ask for,
 * where a HEAD and then ranged reads would take a round trip each. An object
 * read lately is opened from the cache, without a request.
 */
static int s3_obj_open(cr_store_obj **out, cr_store *s, const char *name)
{
    s3_obj *o = cr_calloc(1, sizeof(*o));
    uint64_t size = 0;
    int err = 0;
    if (!o)
        return CR_ERROR;
    if (!cache_get(S3(s), name, NULL, 0, 0, &size) &&
        (err = fetch_window(s, name, NULL, 0, 0, UINT64_MAX, &size)) < 0) {
        free(o);
        return err;
    }
    o->base.size = size;
    o->base.read = obj_read;
    o->base.close = obj_close;
    o->s = s;
    snprintf(o->name, sizeof(o->name), "%s", name);
    *out = &o->base;
    return 0;
}

static int s3_retain(cr_store *s, const char *name, int64_t until_s)
{
    s3_req r = {0};
    char *key = NULL, until[32], body[320];
    int err;
    if (!S3(s)->lock_enabled)
        return 1; /* nothing enforced */
    if ((err = head(s, name, &r)) < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("cannot keep %s/%s: it is missing", s->location, name);
        return err;
    }
    if (r.retain_until >= until_s && !strcmp(r.lock_mode, "COMPLIANCE"))
        return 0; /* already kept that long: the service would refuse to shorten it anyway */
    if (!(key = full_key(s, name)))
        return CR_ERROR;
    fmt_iso8601(until, until_s);
    snprintf(body, sizeof(body),
             "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>COMPLIANCE</Mode>"
             "<RetainUntilDate>%s</RetainUntilDate></Retention>",
             until);
    memset(&r, 0, sizeof(r));
    r.method = "PUT";
    r.key = key;
    r.query = "retention=";
    r.body = body;
    r.body_len = strlen(body);
    if ((err = s3_request(s, &r)) == 0 && r.status != 200)
        err = s3_fail(s, &r, "extend the retention of", name);
    free(key);
    return err;
}

static int64_t s3_period(const cr_store *s)
{
    return ((const s3_store *)s->impl)->period_s;
}

static void s3_free(cr_store *s)
{
    s3_store *st = s->impl;
    if (!st)
        return;
    if (st->share)
        curl_share_cleanup(st->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&st->mu[i]);
    pthread_mutex_destroy(&st->cache_mu);
    for (int i = 0; i < S3_CACHE_WINDOWS; i++)
        cr_buf_free(&st->cache[i].data);
    free(st->endpoint);
    free(st->bucket);
    free(st->prefix);
    if (st->userpwd) {
        memset(st->userpwd, 0, strlen(st->userpwd));
        free(st->userpwd);
    }
    free(st->sigv4);
    free(st);
    s->impl = NULL;
}

static const cr_store_ops s3_ops = {
    .scheme = "s3",
    .put = s3_put,
    .get = s3_get,
    .stat = s3_stat,
    .list = s3_list,
    .list_below = s3_list_below,
    .del = s3_del,
    .list_temp = NULL,
    .obj_open = s3_obj_open,
    .retain = s3_retain,
    .make_dirs = NULL,
    .period = s3_period,
    .unhide = s3_unhide,
    .free = s3_free,
};

/* ------------------------------------------------------------ opening */

/* "30d", "1y" -> seconds. @return 0 or CR_EINPUT. */
static int parse_period(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || n <= 0 || (strcmp(end, "d") && strcmp(end, "y")))
        return CR_EINPUT;
    int64_t unit = *end == 'd' ? 86400 : 365LL * 86400;
    if (n > S3_MAX_PERIOD_S / unit)
        return CR_EINPUT;
    *out = n * unit;
    return 0;
}

static int bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-' ||
              b[i] == '.'))
            return 0;
    return b[0] != '-' && b[0] != '.' && b[n - 1] != '-' && b[n - 1] != '.';
}

static int host_ok(const char *h, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || strchr(".-:[]", h[i])))
            return 0;
    return 1;
}

static int bad_location(const char *location, const char *why)
{
    cr_error_set("%s is not a valid S3 vault location (%s); the form is "
                 "s3:http(s)://HOST:PORT/BUCKET[/PREFIX][?lock=30d]",
                 location, why);
    return CR_EINPUT;
}

/* Split the location into the store's fields. */
static int parse_location(s3_store *st, const char *location, int64_t *lock_s)
{
    const char *p = location + 3, *scheme_end;
    char *copy = NULL;
    int err = 0;
    *lock_s = 0;
    if (!strncmp(p, "https://", 8))
        scheme_end = p + 8;
    else if (!strncmp(p, "http://", 7))
        scheme_end = p + 7;
    else
        return bad_location(location, "it must start with s3:http:// or s3:https://");
    const char *slash = strchr(scheme_end, '/');
    if (!slash || !host_ok(scheme_end, (size_t)(slash - scheme_end)))
        return bad_location(location, "no host, or a host with characters a host name has not");
    if (!(st->endpoint = cr_strndup(p, (size_t)(slash - p))) || !(copy = cr_strdup(slash + 1)))
        return CR_ERROR;
    char *query = strchr(copy, '?');
    if (query) {
        *query++ = '\0';
        if (strncmp(query, "lock=", 5) != 0 || parse_period(query + 5, lock_s) < 0) {
            err = bad_location(location, "the only option is ?lock=N followed by d (days) or y "
                                         "(years), e.g. ?lock=30d");
            goto done;
        }
    }
    char *pslash = strchr(copy, '/');
    if (pslash)
        *pslash++ = '\0';
    if (!bucket_name_ok(copy)) {
        err = bad_location(location, "a bucket name is 3 to 63 lowercase letters, digits, '-' "
                                     "or '.'");
        goto done;
    }
    if (pslash && pslash[0] && !cr_store_name_ok(pslash)) {
        err = bad_location(location, "the prefix after the bucket is made of letters, digits, "
                                     "'.', '_' and '-', parts separated by single '/'");
        goto done;
    }
    if (!(st->bucket = cr_strdup(copy)) ||
        !(st->prefix = cr_sprintf("%s%s", pslash && pslash[0] ? pslash : "",
                                  pslash && pslash[0] ? "/" : "")))
        err = CR_ERROR;
done:
    free(copy);
    return err;
}

/* Read the bucket's Object Lock configuration: enabled, and the default period. */
static int read_lock_config(cr_store *s, int *enabled, int64_t *period)
{
    cr_buf body = CR_BUF_INIT;
    s3_req r = {0};
    int err;
    *enabled = 0;
    *period = 0;
    r.method = "GET";
    r.query = "object-lock=";
    r.out = &body;
    r.max = 65536;
    if ((err = s3_request(s, &r)) < 0)
        goto done;
    if (r.status == 404 && strcmp(r.code, "NoSuchBucket") != 0)
        goto done; /* ObjectLockConfigurationNotFoundError: no lock */
    if (r.status != 200 || r.too_big) {
        err = s3_fail(s, &r, "read the Object Lock configuration of", NULL);
        goto done;
    }
    xmlDoc *doc = xml_parse(&body);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    char v[32];
    if (root && !strcmp(xml_text(v, sizeof(v), root, "ObjectLockEnabled"), "Enabled")) {
        *enabled = 1;
        const xmlNode *dr = xml_child(xml_child(root, "Rule"), "DefaultRetention");
        if (dr && !strcmp(xml_text(v, sizeof(v), dr, "Mode"), "COMPLIANCE")) {
            long long days = strtoll(xml_text(v, sizeof(v), dr, "Days"), NULL, 10);
            long long years = strtoll(xml_text(v, sizeof(v), dr, "Years"), NULL, 10);
            if (days > 0 && days < S3_MAX_PERIOD_S / 86400)
                *period = days * 86400;
            else if (years > 0 && years < 100)
                *period = years * 365 * 86400;
        }
    }
    xmlFreeDoc(doc);
done:
    cr_buf_free(&body);
    return err;
}

static int create_bucket(cr_store *s, int64_t lock_s)
{
    s3_store *st = S3(s);
    s3_req r = {0};
    const char *hdrs[] = {"x-amz-bucket-object-lock-enabled: true", NULL};
    char body[512];
    int err;
    r.method = "PUT";
    r.headers = lock_s ? hdrs : NULL;
    if ((err = s3_request(s, &r)) < 0)
        return err;
    if (r.status != 200)
        return s3_fail(s, &r, "create the bucket for", NULL);
    if (!lock_s)
        return 0;
    /* Whole days (or years when it divides): what PutObjectLockConfiguration takes. */
    if (lock_s % (365LL * 86400) == 0)
        snprintf(body, sizeof(body),
                 "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
                 "<Mode>COMPLIANCE</Mode><Years>%lld</Years></DefaultRetention></Rule>"
                 "</ObjectLockConfiguration>",
                 (long long)(lock_s / (365LL * 86400)));
    else
        snprintf(body, sizeof(body),
                 "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
                 "<Mode>COMPLIANCE</Mode><Days>%lld</Days></DefaultRetention></Rule>"
                 "</ObjectLockConfiguration>",
                 (long long)(lock_s / 86400));
    memset(&r, 0, sizeof(r));
    r.method = "PUT";
    r.query = "object-lock=";
    r.body = body;
    r.body_len = strlen(body);
    if ((err = s3_request(s, &r)) < 0)
        return err;
    if (r.status != 200)
        return s3_fail(s, &r, "set the Object Lock retention of", NULL);
    (void)st;
    return 0;
}

static int first_cb(const char *name, const cr_store_info *info, void *payload)
{
    (void)info;
    snprintf(payload, CR_STORE_MAX_NAME + 1, "%s", name);
    return 1;
}

int cr_store_s3_open(cr_store *s, const char *location, unsigned flags)
{
    s3_store *st;
    int64_t lock_s = 0;
    int err, mu_n = 0;
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *region = getenv("AWS_REGION");

    pthread_once(&s3_once, s3_init);
    if (cr_curl_init() < 0)
        return CR_ERROR;
    if (!(st = cr_calloc(1, sizeof(*st))))
        return CR_ERROR;
    s->impl = st;
    s->ops = &s3_ops;
    for (; mu_n < CURL_LOCK_DATA_LAST; mu_n++)
        pthread_mutex_init(&st->mu[mu_n], NULL);
    pthread_mutex_init(&st->cache_mu, NULL);
    if ((err = parse_location(st, location, &lock_s)) < 0)
        goto fail;
    if (!id || !id[0] || !secret || !secret[0]) {
        cr_error_set("the S3 vault %s needs its keys in AWS_ACCESS_KEY_ID and "
                     "AWS_SECRET_ACCESS_KEY",
                     location);
        err = CR_EINPUT;
        goto fail;
    }
    if (strchr(id, ':')) {
        cr_error_set("AWS_ACCESS_KEY_ID holds a ':': not an S3 access key");
        err = CR_EINPUT;
        goto fail;
    }
    if (!region || !region[0])
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !region[0])
        region = "default";
    if (!(st->userpwd = cr_sprintf("%s:%s", id, secret)) ||
        !(st->sigv4 = cr_sprintf("aws:amz:%s:s3", region)) || !(st->share = curl_share_init())) {
        err = CR_ERROR;
        goto fail;
    }
    curl_share_setopt(st->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(st->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(st->share, CURLSHOPT_USERDATA, st);
    curl_share_setopt(st->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(st->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);

    /* Does the bucket exist? */
    s3_req r = {0};
    r.method = "HEAD";
    if ((err = s3_request(s, &r)) < 0)
        goto fail;
    if (r.status == 404) {
        if (!(flags & CR_STORE_CREATE)) {
            cr_error_set("no cleanroom vault at %s (bucket '%s' does not exist)", location,
                         st->bucket);
            err = CR_ENOTFOUND;
            goto fail;
        }
        if ((err = create_bucket(s, lock_s)) < 0)
            goto fail;
    } else if (r.status != 200) {
        err = s3_fail(s, &r, "open", NULL);
        goto fail;
    } else if (flags & CR_STORE_CREATE) {
        /* A vault is created where nothing is: the prefix must hold nothing. */
        char first[CR_STORE_MAX_NAME + 1] = "";
        err = s3_list(s, "", 0, first_cb, first);
        if (err < 0)
            goto fail;
        if (first[0]) {
            cr_error_set("%s is not empty (it holds '%s'): a vault is created in a new bucket or "
                         "an empty prefix; nothing was changed",
                         location, first);
            err = CR_EEXISTS;
            goto fail;
        }
    }
    int64_t period = 0;
    if ((err = read_lock_config(s, &st->lock_enabled, &period)) < 0)
        goto fail;
    if (lock_s && !st->lock_enabled) {
        cr_error_set("bucket '%s' at %s has no Object Lock, so ?lock= cannot be kept: Object "
                     "Lock can only be turned on when a bucket is created; use a new bucket",
                     st->bucket, st->endpoint);
        err = CR_EINPUT;
        goto fail;
    }
    st->period_s = lock_s ? lock_s : period;
    return 0;
fail:
    s3_free(s);
    s->ops = NULL;
    return err;
}
