/*
 * cleanroom console: the clean room in a browser (docs/console.md), over the
 * HTTP layer shared with the vault server (util/http.c).
 *
 * Routes:
 *   GET  /                 302 to /index.html
 *   GET  /NAME             a file of the assets folder (HTML, CSS, JavaScript): no data in
 *                          them, served without a session
 *   GET  /api/i18n?lang=L  the texts of the pages in L (fr, en) from the gettext catalogue
 *   POST /api/login        {"user", "password"} -> session cookie and {"user","role","csrf"}
 *   GET  /api/session      who is logged in, and the CSRF token of the session
 *   POST /api/logout
 *   GET  /api/sources      the dashboard: every source, its last backup against its RPO
 *                          (cr_status_get, as `cleanroom status`), hunt verdict, clean point
 *   GET  /api/source?name=S  a source's restore points with their findings and where each
 *                          stands against the clean point (cr_clean_points)
 *   GET  /api/users        admin: the accounts
 *   POST /api/users        admin: add an account {"name", "role", "password"}
 *
 * What every request goes through, in this order:
 *   - a body only on POST, at most MAX_BODY bytes, JSON only (a cross-site form cannot
 *     send application/json without the browser asking first);
 *   - /api/ other than i18n and login: a live session (cookie cr_session, HttpOnly,
 *     Secure, SameSite=Strict; idle and absolute timeouts) or 401;
 *   - a POST with a session: the session's CSRF token in X-CSRF-Token, and an Origin,
 *     when the browser sends one, naming this host; else 403;
 *   - the route's role (lecteur < opérateur < admin) or 403;
 *   - logins: one Argon2id check at a time; after MAX_FAILS wrong passwords for an
 *     account from an address, further tries are answered 429 for a delay that doubles
 *     (the password is not even checked), and the same for an address after
 *     MAX_FAILS_IP wrong passwords whatever the account.
 * Every login, logout, refusal and action is logged with the user and the address
 * (the log callback, and syslog's authpriv facility).
 */
#include "console/console.h"
#include "util/http.h"
#include "util/i18n.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_BODY (8u * 1024)
#define MAX_SESSIONS 512
#define MAX_FAIL_SLOTS 1024
#define MAX_FAILS 5
#define MAX_FAILS_IP 20
#define FAIL_FIRST_DELAY_S 30
#define FAIL_MAX_DELAY_S 900
#define FAIL_FORGET_S 3600
#define MAX_ASSETS 64
#define MAX_ASSET_SIZE (4u * 1024 * 1024)
#define COOKIE "cr_session"

#define CSP                                                                                      \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                 \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* Every text the pages show, as gettext message ids: the pages name them in data-i18n
 * attributes or t("..."), and get them translated from /api/i18n. The words of the
 * grades are the library's (cr_rpo_grade_name), the same as `cleanroom status`. */
static const char *const texts[] = {
    /* TRANSLATORS: the button that switches the console to the other language, written
     * in that language: "Français" on the English pages, "English" on the French ones. */
    N_("Français"),
    N_("cleanroom console"),
    N_("Sign in"),
    N_("Account"),
    N_("Password"),
    N_("Wrong account or password."),
    N_("Too many wrong passwords: wait before trying again."),
    N_("The console cannot be reached."),
    N_("Dashboard"),
    N_("Signed in as"),
    N_("Sign out"),
    N_("viewer"),
    N_("operator"),
    N_("administrator"),
    N_("Source"),
    N_("Last backup"),
    N_("Age"),
    N_("RPO"),
    N_("State"),
    N_("Hunt"),
    N_("Clean point"),
    N_("late"),
    N_("on time"),
    N_("no snapshot"),
    N_("clean"),
    N_("compromised"),
    N_("not hunted"),
    N_("none"),
    N_("suspect"),
    N_("{n} d"),
    N_("{n} h"),
    N_("{n} min"),
    N_("{n} s"),
    N_("{age} ago"),
    N_("Loading…"),
    N_("No source: the vault holds no snapshot and no jobs file names one."),
    N_("The vault cannot be read right now."),
    N_("Your session has ended: sign in again."),
    N_("Late sources: {n}"),
    N_("Every source is within its RPO."),
    N_("Sources without a clean point: {n}"),
    N_("Restore points"),
    N_("Time"),
    N_("Files"),
    N_("Findings"),
    N_("clean point"),
    N_("Compromised since {time}."),
    N_("No finding at or above high: no compromise seen."),
    N_("Back to the dashboard"),
    N_("No such source in the vault."),
    N_("critical"),
    N_("high"),
    N_("medium"),
    N_("low"),
    N_("info"),
    N_("ok"),
    N_("exceeded"),
    N_("severely exceeded"),
    N_("critically exceeded"),
    N_("never backed up"),
    N_("no rpo"),
    N_("Vault: {size}, growing {growth} a day (last 7 days)"),
    N_("free space: {free} of {total}, full in about {days} days at this rate"),
    N_("free space: {free} of {total}"),
    N_("free space: unknown (vault server or S3)"),
    N_("last verify: {age} ago, no damage"),
    N_("last verify: {age} ago, FAILED"),
    N_("no verify job has run yet"),
};

typedef struct session {
    char id[65];   /* hex of 32 random bytes; "" = free slot */
    char csrf[65];
    char user[CR_CON_MAX_NAME + 1];
    time_t created, used;
} session;

typedef struct fail {
    char key[CR_CON_MAX_NAME + 70]; /* "ip\nname", or "ip" for the address' count */
    unsigned count;
    time_t last, until;
} fail;

typedef struct asset {
    char name[64];
    const char *type;
    cr_buf data;
} asset;

typedef struct con {
    cr_con_config cfg;
    const cr_console_options *opts;
    cr_http *http;
    pthread_mutex_t mu;       /* users, sessions, fails */
    pthread_mutex_t repo_mu;  /* one reader of the vault at a time */
    pthread_mutex_t hash_mu;  /* one Argon2id at a time: 64 MiB each */
    cr_con_users users;
    struct timespec users_mtime;
    session sessions[MAX_SESSIONS];
    fail fails[MAX_FAIL_SLOTS];
    size_t nfails;
    asset assets[MAX_ASSETS];
    size_t nassets;
    char *i18n[2]; /* JSON of fr, en */
    size_t nmissing; /* texts without a French translation */
} con;

typedef struct req {
    int responded;
    char ip[64];
    int loopback;
    cr_buf body;
} req;

/* ------------------------------------------------------------ log */

static void audit(con *s, int refused, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void audit(con *s, int refused, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Refusals go to syslog as warnings through the HTTP layer; the rest as notices to
     * authpriv, where a hospital's SIEM already collects logins. */
    if (!refused)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
    cr_http_log(s->http, refused, "%s", line);
}

/* ------------------------------------------------------------ accounts */

/* Reload the accounts file when it changed (an account removed is refused at once). */
static void users_refresh(con *s)
{
    struct stat st;
    if (stat(s->cfg.users, &st) != 0) {
        cr_con_users_clear(&s->users);
        memset(&s->users_mtime, 0, sizeof(s->users_mtime));
        return;
    }
    if (st.st_mtim.tv_sec == s->users_mtime.tv_sec && st.st_mtim.tv_nsec == s->users_mtime.tv_nsec)
        return;
    cr_con_users u;
    cr_con_users_clear(&s->users);
    if (cr_con_users_load(&u, s->cfg.users) < 0)
        cr_http_log(s->http, 1, "%s", cr_error_last());
    else
        s->users = u;
    s->users_mtime = st.st_mtim;
}

/* The account `name` (copied), under s->mu. */
static int user_find(con *s, const char *name, cr_con_user *out)
{
    users_refresh(s);
    for (size_t i = 0; i < s->users.n; i++)
        if (!strcmp(s->users.v[i].name, name)) {
            *out = s->users.v[i];
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------ login rate */

/* The record of `key`, or NULL when there is none and `add` is 0. */
static fail *fail_slot(con *s, const char *key, time_t now, int add)
{
    for (size_t i = 0; i < s->nfails; i++)
        if (!strcmp(s->fails[i].key, key)) {
            if (now - s->fails[i].last > FAIL_FORGET_S && now >= s->fails[i].until)
                s->fails[i].count = 0;
            return &s->fails[i];
        }
    if (!add)
        return NULL;
    size_t slot = s->nfails;
    if (slot < MAX_FAIL_SLOTS) {
        s->nfails++;
    } else {
        /* Full: the record least recently failed goes, one that is not slowed down if there
         * is one, so that wrong passwords under many names cannot wipe out a slow-down. */
        slot = 0;
        for (size_t i = 1; i < MAX_FAIL_SLOTS; i++) {
            int blocked_i = s->fails[i].until > now, blocked_s = s->fails[slot].until > now;
            if (blocked_i != blocked_s ? blocked_s : s->fails[i].last < s->fails[slot].last)
                slot = i;
        }
    }
    memset(&s->fails[slot], 0, sizeof(s->fails[slot]));
    snprintf(s->fails[slot].key, sizeof(s->fails[slot].key), "%s", key);
    return &s->fails[slot];
}

/* Seconds to wait before this account may be tried from this address again, 0: now. */
static long fail_wait(con *s, const char *ip, const char *name)
{
    char key[sizeof(((fail *)0)->key)];
    time_t now = time(NULL);
    long wait = 0;
    pthread_mutex_lock(&s->mu);
    snprintf(key, sizeof(key), "%s\n%s", ip, name);
    fail *f = fail_slot(s, key, now, 0);
    if (f && f->until > now)
        wait = (long)(f->until - now);
    f = fail_slot(s, ip, now, 0);
    if (f && f->until > now && (long)(f->until - now) > wait)
        wait = (long)(f->until - now);
    pthread_mutex_unlock(&s->mu);
    return wait;
}

static void fail_count(fail *f, unsigned limit, time_t now)
{
    f->count++;
    f->last = now;
    if (f->count >= limit) {
        long d = FAIL_FIRST_DELAY_S;
        for (unsigned i = limit; i < f->count && d < FAIL_MAX_DELAY_S; i++)
            d *= 2;
        f->until = now + (d < FAIL_MAX_DELAY_S ? d : FAIL_MAX_DELAY_S);
    }
}

static void fail_record(con *s, const char *ip, const char *name, int ok)
{
    char key[sizeof(((fail *)0)->key)];
    time_t now = time(NULL);
    pthread_mutex_lock(&s->mu);
    snprintf(key, sizeof(key), "%s\n%s", ip, name);
    /* a success clears the records it finds; only failures make records */
    fail *f = fail_slot(s, key, now, !ok);
    if (f && ok)
        f->count = 0, f->until = 0;
    else if (f)
        fail_count(f, MAX_FAILS, now);
    f = fail_slot(s, ip, now, !ok);
    if (f && ok)
        f->count = 0, f->until = 0;
    else if (f)
        fail_count(f, MAX_FAILS_IP, now);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ sessions */

static void random_hex(char out[65])
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof(raw));
    cr_hex_encode(out, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
}

/* The session of the request's cookie, copied into *out with the account's current role.
 * @return 1 if there is a live one. */
static int session_get(con *s, struct MHD_Connection *c, session *out, cr_con_user *user)
{
    const char *id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    time_t now = time(NULL);
    int found = 0;
    if (!id || strlen(id) != 64)
        return 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < MAX_SESSIONS; i++) {
        session *x = &s->sessions[i];
        if (!x->id[0] || sodium_memcmp(x->id, id, 64) != 0)
            continue;
        if (now - x->used > (time_t)s->cfg.session_idle_s ||
            now - x->created > (time_t)s->cfg.session_max_s || !user_find(s, x->user, user)) {
            sodium_memzero(x, sizeof(*x)); /* ended, or its account is gone */
            break;
        }
        x->used = now;
        *out = *x;
        found = 1;
        break;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

static int session_new(con *s, const char *user, session *out)
{
    time_t now = time(NULL);
    size_t slot = MAX_SESSIONS, oldest = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < MAX_SESSIONS; i++) {
        if (!s->sessions[i].id[0] ||
            now - s->sessions[i].used > (time_t)s->cfg.session_idle_s) {
            slot = i;
            break;
        }
        if (s->sessions[i].used < s->sessions[oldest].used)
            oldest = i;
    }
    if (slot == MAX_SESSIONS)
        slot = oldest; /* full: the least recently used session ends */
    session *x = &s->sessions[slot];
    memset(x, 0, sizeof(*x));
    random_hex(x->id);
    random_hex(x->csrf);
    snprintf(x->user, sizeof(x->user), "%s", user);
    x->created = x->used = now;
    *out = *x;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static void session_end(con *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < MAX_SESSIONS; i++)
        if (s->sessions[i].id[0] && !strcmp(s->sessions[i].id, id))
            sodium_memzero(&s->sessions[i], sizeof(s->sessions[i]));
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ replies */

static void security_headers(con *s, struct MHD_Response *r)
{
    cr_http_common_headers(r);
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (s->cfg.tls)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result reply(con *s, struct MHD_Connection *c, unsigned status, const char *type,
                             const void *data, size_t len, const char *cookie)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    security_headers(s, resp);
    if (cookie)
        MHD_add_response_header(resp, "Set-Cookie", cookie);
    if (status == 429)
        MHD_add_response_header(resp, "Retry-After", "30");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Answer JSON (takes the reference of j). */
static enum MHD_Result reply_json(con *s, struct MHD_Connection *c, unsigned status, json_t *j,
                                  const char *cookie)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return MHD_NO;
    enum MHD_Result ret =
        reply(s, c, status, "application/json; charset=utf-8", text, strlen(text), cookie);
    free(text);
    return ret;
}

/* {"error": code, "message": English words for scripts}: the pages show their own text. */
static enum MHD_Result reply_error(con *s, struct MHD_Connection *c, unsigned status,
                                   const char *code, const char *message)
{
    return reply_json(s, c, status, json_pack("{s:s, s:s}", "error", code, "message", message),
                      NULL);
}

/* ------------------------------------------------------------ assets */

static const char *asset_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"}, {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

/* Read the assets folder into memory once: what is served cannot change under the console,
 * and no request path ever reaches the filesystem. */
static int assets_load(con *s, const char *dir)
{
    DIR *d;
    struct dirent *e;
    int err = 0;
    if (!dir || !(d = opendir(dir))) {
        cr_error_set("the console's pages are not in %s (set CLEANROOM_CONSOLE_ASSETS to the "
                     "folder console/assets of cleanroom)",
                     dir ? dir : "(none)");
        return CR_ENOTFOUND;
    }
    int dfd = dirfd(d);
    while ((e = readdir(d))) {
        const char *type = asset_type(e->d_name);
        if (e->d_name[0] == '.' || !type || strlen(e->d_name) >= sizeof(s->assets[0].name))
            continue;
        if (s->nassets == MAX_ASSETS) {
            cr_error_set("more than %d files in %s", MAX_ASSETS, dir);
            err = CR_EINPUT;
            break;
        }
        asset *a = &s->assets[s->nassets];
        memset(a, 0, sizeof(*a));
        if ((err = cr_fs_read_all(&a->data, dfd, e->d_name, MAX_ASSET_SIZE)) < 0)
            break;
        memcpy(a->name, e->d_name, strlen(e->d_name) + 1); /* length checked above */
        a->type = type;
        s->nassets++;
    }
    closedir(d);
    return err;
}

static const asset *asset_find(con *s, const char *name)
{
    for (size_t i = 0; i < s->nassets; i++)
        if (!strcmp(s->assets[i].name, name))
            return &s->assets[i];
    return NULL;
}

/* ------------------------------------------------------------ i18n */

/* Both catalogues, made once before the daemon's threads start: gettext's language is the
 * process's (cr_i18n_begin is not thread-safe), a request's language is not. */
static int i18n_build(con *s)
{
    static const char *const langs[] = {"fr", "en"};
    int err = 0;
    for (int l = 0; l < 2; l++) {
        json_t *o = json_object(), *t = json_object(), *missing = json_array();
        cr_i18n_begin(langs[l]);
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            const char *tr = cr_i18n(texts[i]);
            /* gettext gives back the very msgid pointer when it has no translation */
            if (l == 0 && tr == texts[i])
                json_array_append_new(missing, json_string(texts[i]));
            json_object_set_new(t, texts[i], json_string(tr));
        }
        cr_i18n_end();
        if (l == 0)
            s->nmissing = json_array_size(missing);
        json_object_set_new(o, "lang", json_string(langs[l]));
        json_object_set_new(o, "texts", t);
        json_object_set_new(o, "missing", missing);
        if (!(s->i18n[l] = json_dumps(o, JSON_COMPACT)))
            err = CR_ERROR;
        json_decref(o);
    }
    return err;
}

/* ------------------------------------------------------------ API */

static const char *role_key(cr_console_role r)
{
    return r == CR_CONSOLE_ADMIN ? "admin" : r == CR_CONSOLE_OPERATOR ? "operator" : "viewer";
}

static json_t *session_json(const session *x, const cr_con_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "user", x->user, "role", role_key(u->role),
                     "role_name", cr_console_role_name(u->role), "csrf", x->csrf);
}

static json_t *body_json(req *r)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body.ptr, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static enum MHD_Result api_login(con *s, struct MHD_Connection *c, req *r)
{
    json_t *j = body_json(r);
    const char *name = j ? json_string_value(json_object_get(j, "user")) : NULL;
    const char *pass = j ? json_string_value(json_object_get(j, "password")) : NULL;
    cr_con_user u;
    session x;
    char cookie[160];
    enum MHD_Result ret;

    if (!name || !pass || !cr_con_name_ok(name) || strlen(pass) > CR_CON_MAX_PASSWORD) {
        ret = reply_error(s, c, 400, "bad-request", "give {\"user\": ..., \"password\": ...}");
        goto done;
    }
    long wait = fail_wait(s, r->ip, name);
    if (wait > 0) {
        audit(s, 1, "login of '%s' from %s slowed down: too many wrong passwords (%ld s to "
                    "wait)",
              name, r->ip, wait);
        ret = reply_error(s, c, 429, "slowed-down", "too many wrong passwords: wait");
        goto done;
    }
    pthread_mutex_lock(&s->mu);
    int known = user_find(s, name, &u);
    pthread_mutex_unlock(&s->mu);
    /* An unknown account costs the same Argon2id as a known one: the time of the answer
     * does not tell which accounts exist. */
    static char dummy[crypto_pwhash_STRBYTES];
    pthread_mutex_lock(&s->hash_mu);
    if (!dummy[0] && crypto_pwhash_str_alg(dummy, "cleanroom", 9,
                                            crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                            crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                            crypto_pwhash_ALG_ARGON2ID13) != 0)
        dummy[0] = '\0';
    int ok = crypto_pwhash_str_verify(known ? u.hash : dummy, pass, strlen(pass)) == 0 && known;
    pthread_mutex_unlock(&s->hash_mu);
    fail_record(s, r->ip, name, ok);
    if (!ok) {
        audit(s, 1, "wrong password for '%s' from %s%s", name, r->ip,
              known ? "" : " (no such account)");
        ret = reply_error(s, c, 401, "wrong-password", "wrong account or password");
        goto done;
    }
    session_new(s, name, &x);
    snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict",
             x.id);
    audit(s, 0, "'%s' (%s) logged in from %s", name, cr_console_role_name(u.role), r->ip);
    ret = reply_json(s, c, 200, session_json(&x, &u), cookie);
    sodium_memzero(&x, sizeof(x));
done:
    if (j) {
        /* the password's copy inside jansson is not reachable to wipe; the request body is */
        json_decref(j);
    }
    return ret;
}

static const char *verdict(const cr_source_status *x)
{
    if (!x->has_last)
        return "no snapshot";
    if (x->compromised)
        return "compromised";
    if (x->unhunted)
        return "not hunted";
    return "clean";
}

/* The dashboard: the library's status, shown; the grade words are cr_rpo_grade_name's. */
static enum MHD_Result api_sources(con *s, struct MHD_Connection *c, const session *x)
{
    cr_status st = {0};
    char t[48], hex[CR_ID_HEX_LEN + 1];
    pthread_mutex_lock(&s->repo_mu);
    int err = cr_status_get(&st, s->opts->repo, s->opts->jobs, 0);
    pthread_mutex_unlock(&s->repo_mu);
    if (err < 0) {
        cr_http_log(s->http, 1, "the dashboard of '%s' cannot read the vault: %s", x->user,
                    cr_error_last());
        return reply_error(s, c, 503, "vault-unreadable", "the vault cannot be read right now");
    }
    json_t *o = json_object(), *a = json_array();
    cr_time_format(t, sizeof(t), st.now_ns);
    json_object_set_new(o, "now", json_string(t));
    for (size_t i = 0; i < st.n; i++) {
        const cr_source_status *y = &st.sources[i];
        json_t *e = json_object();
        const char *state = y->grade == CR_RPO_OK      ? "on time"
                            : y->grade == CR_RPO_NEVER ? "never backed up"
                            : y->grade == CR_RPO_UNKNOWN ? "no rpo"
                                                          : "late";
        json_object_set_new(e, "source", json_string(y->source));
        json_object_set_new(e, "job", y->job ? json_string(y->job) : json_null());
        json_object_set_new(e, "snapshot",
                            y->has_last ? json_string(cr_id_to_hex(hex, &y->last)) : json_null());
        if (y->has_last)
            cr_time_format(t, sizeof(t), y->last_time_ns);
        json_object_set_new(e, "time", y->has_last ? json_string(t) : json_null());
        json_object_set_new(e, "age_seconds",
                            y->has_last ? json_integer(y->age_ns / 1000000000LL) : json_null());
        json_object_set_new(e, "rpo_seconds",
                            y->rpo_ns ? json_integer(y->rpo_ns / 1000000000LL) : json_null());
        json_object_set_new(e, "grade", json_string(cr_rpo_grade_name(y->grade)));
        json_object_set_new(e, "state", json_string(state));
        json_object_set_new(e, "snapshots", json_integer((json_int_t)y->snapshots));
        json_object_set_new(e, "errors", json_integer((json_int_t)y->last_errors));
        json_object_set_new(e, "suspect", json_boolean(y->suspect));
        json_object_set_new(e, "verdict", json_string(verdict(y)));
        json_object_set_new(e, "unhunted", json_integer((json_int_t)y->unhunted));
        json_object_set_new(e, "compromised", json_boolean(y->compromised));
        if (y->compromised)
            cr_time_format(t, sizeof(t), y->first_compromised_ns);
        json_object_set_new(e, "first_compromised_time",
                            y->compromised ? json_string(t) : json_null());
        json_object_set_new(e, "clean_snapshot",
                            y->has_clean ? json_string(cr_id_to_hex(hex, &y->clean))
                                         : json_null());
        if (y->has_clean)
            cr_time_format(t, sizeof(t), y->clean_time_ns);
        json_object_set_new(e, "clean_time", y->has_clean ? json_string(t) : json_null());
        json_object_set_new(e, "clean_age_seconds",
                            y->has_clean ? json_integer((st.now_ns - y->clean_time_ns) /
                                                        1000000000LL)
                                         : json_null());
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "sources", a);
    /* The vault as a whole (the same figures as `cleanroom status`). */
    const cr_vault_status *vs = &st.vault;
    json_t *v = json_object();
    json_object_set_new(v, "bytes", json_integer((json_int_t)vs->usage.bytes));
    json_object_set_new(v, "pack_bytes", json_integer((json_int_t)vs->usage.pack_bytes));
    json_object_set_new(v, "bytes_last_7_days", json_integer((json_int_t)vs->usage.bytes_since));
    json_object_set_new(v, "growth_per_day", json_real(vs->growth_per_day));
    json_object_set_new(v, "space_free", vs->usage.space_known
                                             ? json_integer((json_int_t)vs->usage.space_free)
                                             : json_null());
    json_object_set_new(v, "space_total", vs->usage.space_known
                                              ? json_integer((json_int_t)vs->usage.space_total)
                                              : json_null());
    json_object_set_new(v, "days_until_full",
                        vs->days_until_full >= 0 ? json_real(vs->days_until_full) : json_null());
    if (vs->has_verify) {
        json_t *ver = json_object();
        cr_time_format(t, sizeof(t), vs->verify_ns);
        json_object_set_new(ver, "time", json_string(t));
        json_object_set_new(ver, "age_seconds",
                            json_integer((st.now_ns - vs->verify_ns) / 1000000000LL));
        json_object_set_new(ver, "ok", json_boolean(vs->verify_outcome == CR_RUN_OK));
        json_object_set_new(ver, "problems", json_integer((json_int_t)vs->verify_problems));
        json_object_set_new(v, "last_verify", ver);
    } else {
        json_object_set_new(v, "last_verify", json_null());
    }
    json_object_set_new(o, "vault", v);
    cr_status_clear(&st);
    return reply_json(s, c, 200, o, NULL);
}

/* A source's restore points, oldest first, each with the hunt's findings and where it
 * stands against the library's clean point (cr_clean_points): the clean point itself,
 * before the first compromised snapshot, from it on, or not hunted. */
static enum MHD_Result api_source(con *s, struct MHD_Connection *c, const session *x)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0, ncp = 0;
    cr_clean_point *cp = NULL;
    char t[48], hex[CR_ID_HEX_LEN + 1];
    json_t *o = NULL, *pts;
    int err;

    if (!name || !*name || strlen(name) > 256)
        return reply_error(s, c, 400, "bad-request", "give ?name=SOURCE");
    pthread_mutex_lock(&s->repo_mu);
    if ((err = cr_snapshot_list(&snaps, &nsnaps, s->opts->repo, name)) < 0)
        goto unlock;
    if (!nsnaps) {
        err = CR_ENOTFOUND;
        goto unlock;
    }
    if (cr_clean_points(&cp, &ncp, s->opts->repo, name, CR_SEV_HIGH) < 0) {
        cr_error_clear(); /* the points are shown without the verdict */
        cp = NULL;
        ncp = 0;
    }
    o = json_object();
    pts = json_array();
    json_object_set_new(o, "source", json_string(name));
    json_object_set_new(o, "clean_snapshot", ncp && cp[0].has_clean
                                                 ? json_string(cr_id_to_hex(hex, &cp[0].clean_snapshot))
                                                 : json_null());
    if (ncp && cp[0].compromised)
        cr_time_format(t, sizeof(t), cp[0].first_compromised_ns);
    json_object_set_new(o, "first_compromised_time",
                        ncp && cp[0].compromised ? json_string(t) : json_null());
    for (size_t i = 0; i < nsnaps; i++) {
        const cr_snapshot *sn = snaps[i];
        cr_finding *f = NULL;
        size_t nf = 0;
        json_t *p = json_object(), *fa = json_array();
        int ferr = cr_findings_get(&f, &nf, NULL, s->opts->repo, sn);
        const char *state;
        if (ferr < 0)
            cr_error_clear();
        if (ferr < 0)
            state = "not hunted";
        else if (ncp && cp[0].has_clean && !memcmp(&cp[0].clean_snapshot, &sn->id, sizeof(sn->id)))
            state = "clean point";
        else if (ncp && cp[0].compromised && sn->time_ns >= cp[0].first_compromised_ns)
            state = "compromised";
        else
            state = "clean";
        cr_time_format(t, sizeof(t), sn->time_ns);
        json_object_set_new(p, "snapshot", json_string(cr_id_to_hex(hex, &sn->id)));
        json_object_set_new(p, "time", json_string(t));
        json_object_set_new(p, "state", json_string(state));
        json_object_set_new(p, "files", json_integer((json_int_t)sn->files));
        json_object_set_new(p, "bytes", json_integer((json_int_t)sn->bytes));
        for (size_t k = 0; k < nf && k < 200; k++)
            json_array_append_new(fa, json_pack("{s:s, s:s, s:s, s:s, s:s}", "path",
                                                f[k].path ? f[k].path : "", "severity",
                                                cr_severity_name(f[k].severity), "category",
                                                cr_category_name(f[k].category), "indicator",
                                                f[k].indicator ? f[k].indicator : "", "detail",
                                                f[k].detail ? f[k].detail : ""));
        json_object_set_new(p, "findings", fa);
        json_object_set_new(p, "nfindings", json_integer((json_int_t)nf));
        json_array_append_new(pts, p);
        cr_findings_free(f, nf);
    }
    json_object_set_new(o, "points", pts);
    err = 0;
unlock:
    pthread_mutex_unlock(&s->repo_mu);
    cr_clean_points_free(cp, ncp);
    cr_snapshot_list_free(snaps, nsnaps);
    if (err == CR_ENOTFOUND)
        return reply_error(s, c, 404, "no-source", "the vault has no snapshot of that source");
    if (err < 0) {
        cr_http_log(s->http, 1, "the source page of '%s' cannot read the vault: %s", x->user,
                    cr_error_last());
        return reply_error(s, c, 503, "vault-unreadable", "the vault cannot be read right now");
    }
    return reply_json(s, c, 200, o, NULL);
}

static enum MHD_Result api_users(con *s, struct MHD_Connection *c, const session *x)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    users_refresh(s);
    for (size_t i = 0; i < s->users.n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "name", s->users.v[i].name, "role",
                                           cr_console_role_name(s->users.v[i].role)));
    pthread_mutex_unlock(&s->mu);
    (void)x;
    return reply_json(s, c, 200, json_pack("{s:o}", "users", a), NULL);
}

static enum MHD_Result api_user_add(con *s, struct MHD_Connection *c, req *r, const session *x)
{
    json_t *j = body_json(r);
    const char *name = j ? json_string_value(json_object_get(j, "name")) : NULL;
    const char *role = j ? json_string_value(json_object_get(j, "role")) : NULL;
    const char *pass = j ? json_string_value(json_object_get(j, "password")) : NULL;
    cr_console_role rl;
    enum MHD_Result ret;
    int err;
    if (!name || !role || !pass || cr_console_role_parse(&rl, role) < 0) {
        ret = reply_error(s, c, 400, "bad-request",
                          "give {\"name\": ..., \"role\": ..., \"password\": ...}");
        goto done;
    }
    pthread_mutex_lock(&s->hash_mu);
    err = cr_console_user_add(s->cfg.path, name, rl, pass);
    pthread_mutex_unlock(&s->hash_mu);
    if (err < 0) {
        audit(s, 1, "'%s' could not add the account '%s': %s", x->user, name, cr_error_last());
        ret = reply_error(s, c, err == CR_EEXISTS ? 409 : err == CR_EINPUT ? 400 : 500,
                          err == CR_EEXISTS ? "exists" : "refused", cr_error_last());
        goto done;
    }
    audit(s, 0, "'%s' added the account '%s' (%s)", x->user, name, cr_console_role_name(rl));
    ret = reply_json(s, c, 201, json_pack("{s:s, s:s}", "name", name, "role",
                                          cr_console_role_name(rl)),
                     NULL);
done:
    json_decref(j);
    return ret;
}

/* ------------------------------------------------------------ dispatch */

/* A POST made by this console's own pages: same origin (when the browser says), and the
 * session's CSRF token. */
static const char *csrf_refusal(con *s, struct MHD_Connection *c, const session *x)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    if (origin && host) {
        const char *p = strstr(origin, "://");
        if (!p || strcmp(p + 3, host) != 0 ||
            strncmp(origin, s->cfg.tls ? "https://" : "http://", p + 3 - origin) != 0)
            return "the request comes from another site (Origin)";
    }
    if (!tok || strlen(tok) != 64 || sodium_memcmp(tok, x->csrf, 64) != 0)
        return "no valid CSRF token (X-CSRF-Token)";
    return NULL;
}

static enum MHD_Result route(con *s, struct MHD_Connection *c, req *r, const char *url,
                             const char *method)
{
    int post = !strcmp(method, "POST");
    session x;
    cr_con_user u;

    if (strncmp(url, "/api/", 5) != 0) {
        if (post)
            return reply_error(s, c, 405, "method", "only GET here");
        if (!strcmp(url, "/")) {
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            if (!resp)
                return MHD_NO;
            MHD_add_response_header(resp, "Location", "/index.html");
            security_headers(s, resp);
            enum MHD_Result ret = MHD_queue_response(c, 302, resp);
            MHD_destroy_response(resp);
            return ret;
        }
        const asset *a = asset_find(s, url + 1);
        if (!a)
            return reply(s, c, 404, "text/plain; charset=utf-8", "not found\n", 10, NULL);
        return reply(s, c, 200, a->type, a->data.ptr, a->data.len, NULL);
    }
    const char *api = url + 5;
    if (!strcmp(api, "i18n") && !post) {
        const char *lang = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lang");
        const char *text = s->i18n[lang && !strcmp(lang, "en") ? 1 : 0];
        return reply(s, c, 200, "application/json; charset=utf-8", text, strlen(text), NULL);
    }
    if (!strcmp(api, "login"))
        return post ? api_login(s, c, r) : reply_error(s, c, 405, "method", "POST only");

    if (!session_get(s, c, &x, &u)) {
        audit(s, 1, "%s %s from %s without a session: 401", method, url, r->ip);
        return reply_error(s, c, 401, "no-session", "sign in first (POST /api/login)");
    }
    const char *why;
    if (post && (why = csrf_refusal(s, c, &x))) {
        audit(s, 1, "%s %s by '%s' from %s refused: %s", method, url, x.user, r->ip, why);
        return reply_error(s, c, 403, "csrf", why);
    }
    static const struct {
        const char *path;
        int post;
        cr_console_role role;
    } routes[] = {
        {"session", 0, CR_CONSOLE_VIEWER}, {"logout", 1, CR_CONSOLE_VIEWER},
        {"sources", 0, CR_CONSOLE_VIEWER}, {"source", 0, CR_CONSOLE_VIEWER},
        {"users", 0, CR_CONSOLE_ADMIN},
        {"users", 1, CR_CONSOLE_ADMIN},
    };
    size_t i;
    int path_known = 0;
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(api, routes[i].path) != 0)
            continue;
        path_known = 1;
        if (routes[i].post == post)
            break;
    }
    if (i == sizeof(routes) / sizeof(routes[0]))
        return path_known ? reply_error(s, c, 405, "method", "not with this method")
                          : reply_error(s, c, 404, "not-found", "no such API");
    if (u.role < routes[i].role) {
        audit(s, 1, "%s %s by '%s' (%s) from %s refused: needs the role %s", method, url, x.user,
              cr_console_role_name(u.role), r->ip, cr_console_role_name(routes[i].role));
        return reply_error(s, c, 403, "role", "your role does not allow this");
    }
    if (!strcmp(api, "session"))
        return reply_json(s, c, 200, session_json(&x, &u), NULL);
    if (!strcmp(api, "logout")) {
        session_end(s, x.id);
        audit(s, 0, "'%s' logged out from %s", x.user, r->ip);
        return reply_json(s, c, 200, json_pack("{s:b}", "ok", 1),
                          COOKIE "=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    }
    if (!strcmp(api, "sources"))
        return api_sources(s, c, &x);
    if (!strcmp(api, "source"))
        return api_source(s, c, &x);
    if (!strcmp(api, "users"))
        return post ? api_user_add(s, c, r, &x) : api_users(s, c, &x);
    return MHD_NO;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    con *s = cls;
    req *r = *con_cls;
    (void)version;

    if (!r) {
        if (!(r = cr_calloc(1, sizeof(*r))))
            return MHD_NO;
        *con_cls = r;
        cr_http_client(c, r->ip, &r->loopback);
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
            strcmp(method, "POST") != 0) {
            r->responded = 1;
            return reply_error(s, c, 405, "method", "GET or POST only");
        }
        if (!strcmp(method, "POST")) {
            const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
            if (!type || strncmp(type, "application/json", 16) != 0) {
                r->responded = 1;
                audit(s, 1, "POST %s from %s refused: not JSON", url, r->ip);
                return reply_error(s, c, 415, "json-only", "send application/json");
            }
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
            if (cl && strtoull(cl, NULL, 10) > MAX_BODY) {
                r->responded = 1; /* refused before the body is read */
                audit(s, 1, "POST %s from %s refused: a body of %s bytes", url, r->ip, cl);
                return reply_error(s, c, 413, "too-large", "the body is too large");
            }
            r->body.max = MAX_BODY;
        }
        return MHD_YES;
    }
    if (r->responded)
        return *upload_size ? MHD_NO : MHD_YES; /* a refused body is not read */
    if (*upload_size) {
        if (strcmp(method, "POST") != 0 || r->body.len + *upload_size > MAX_BODY) {
            *upload_size = 0;
            r->responded = 1;
            return reply_error(s, c, 413, "too-large", "the body is too large");
        }
        if (cr_buf_put(&r->body, upload, *upload_size) < 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    r->responded = 1;
    return route(s, c, r, url, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    if (r->body.ptr)
        sodium_memzero(r->body.ptr, r->body.cap); /* passwords */
    cr_buf_free(&r->body);
    free(r);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ run */

static void default_log(int refused, const char *line, void *payload)
{
    (void)payload;
    fprintf(stderr, "cleanroom console: %s%s\n", refused ? "WARNING " : "", line);
}

int cr_console_run(const cr_console_options *opts)
{
    con *s = NULL;
    cr_buf cert = CR_BUF_INIT, key = CR_BUF_INIT;
    char fp[128] = "", url[300];
    int made = 0, err;

    if (!opts || !opts->repo) {
        cr_error_set("the console needs a vault");
        return CR_EINPUT;
    }
    if (!(s = cr_calloc(1, sizeof(*s))))
        return CR_ERROR;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->repo_mu, NULL);
    pthread_mutex_init(&s->hash_mu, NULL);
    s->opts = opts;
    if ((err = cr_init()) < 0 || (err = cr_con_config_load(&s->cfg, opts->config)) < 0)
        goto done;
    const char *listen = opts->listen ? opts->listen : s->cfg.listen;
    struct sockaddr_storage addr;
    if ((err = cr_http_parse_listen(&addr, listen)) < 0)
        goto done;
    if (!s->cfg.tls && !cr_http_addr_is_loopback((struct sockaddr *)&addr)) {
        cr_error_set("refusing to serve the console on %s without TLS: passwords and session "
                     "cookies would cross the network in clear (remove \"tls\": false from %s)",
                     listen, s->cfg.path);
        err = CR_EINPUT;
        goto done;
    }
    if ((err = assets_load(s, opts->assets)) < 0)
        goto done;
    if (s->cfg.tls) {
        /* The certificate's folder is the config's; made private if it is new. */
        char dir[PATH_MAX];
        const char *slash = strrchr(s->cfg.key, '/');
        if (slash && slash != s->cfg.key) {
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - s->cfg.key), s->cfg.key);
            if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                err = cr_error_errno("cannot create %s", dir);
                goto done;
            }
        }
        if ((err = cr_http_tls_load(&cert, &key, s->cfg.cert, s->cfg.key, "cleanroom console",
                                    &made)) < 0 ||
            (err = cr_http_tls_fingerprint(fp, (const char *)cert.ptr, cert.len)) < 0)
            goto done;
    }
    cr_http_config hc = {
        .listen = listen,
        .cert_pem = s->cfg.tls ? (const char *)cert.ptr : NULL,
        .key_pem = s->cfg.tls ? (const char *)key.ptr : NULL,
        .max_connections = s->cfg.max_connections,
        .max_per_ip = s->cfg.max_per_ip,
        .timeout_s = s->cfg.timeout_s,
        .threads = s->cfg.threads,
        .handler = handler,
        .handler_cls = s,
        .completed = completed,
        .name = "cleanroom-console",
        .log = opts->log ? opts->log : default_log,
        .log_payload = opts->payload,
    };
    if ((err = i18n_build(s)) < 0)
        goto done;
    if ((err = cr_http_start(&s->http, &hc)) < 0)
        goto done;
    if (s->nmissing)
        cr_http_log(s->http, 1, "%zu text(s) of the console have no French translation "
                                "(po/fr.po): they show in English",
                    s->nmissing);
    pthread_mutex_lock(&s->mu);
    users_refresh(s);
    pthread_mutex_unlock(&s->mu);
    if (!s->users.n)
        cr_http_log(s->http, 1, "no console account yet: add one with 'cleanroom console user "
                                "add NAME --role admin'");
    char host[140];
    const char *colon = strrchr(listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "[::]"))
        snprintf(host, sizeof(host), "%s", addr.ss_family == AF_INET6 ? "[::1]" : "127.0.0.1");
    snprintf(url, sizeof(url), "%s://%s:%u/", s->cfg.tls ? "https" : "http", host,
             cr_http_port(s->http));
    cr_http_log(s->http, 0, "serving the console on %s", url);
    if (opts->ready) {
        cr_console_ready info = {(int)cr_http_port(s->http), url, fp, made};
        opts->ready(&info, opts->payload);
    }
    cr_http_wait(opts->stop);
    cr_http_log(s->http, 0, "stopping");
    err = 0;
done:
    cr_http_stop(s->http);
    cr_http_tls_clear(&cert, &key);
    for (size_t i = 0; i < s->nassets; i++)
        cr_buf_free(&s->assets[i].data);
    free(s->i18n[0]);
    free(s->i18n[1]);
    cr_con_users_clear(&s->users);
    sodium_memzero(s->sessions, sizeof(s->sessions));
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->repo_mu);
    pthread_mutex_destroy(&s->hash_mu);
    free(s);
    return err;
}
