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
 *   GET  /api/plans        the recovery plans of the plans folder, each with its check
 *   GET  /api/plan?name=P  a plan: `plan check`'s problems with line numbers, its services
 *                          by tier, the start order, its drills (journals) and the live one
 *   POST /api/drill        opérateur: start a drill of {"plan": P} (202, its id); one at a
 *                          time; it runs on a thread of its own, never a server thread
 *   GET  /api/drill?id=D   a drill's state; /api/drill/events?id=D: its journal entries and
 *                          progress as Server-Sent Events, from the start, live, ending with
 *                          a "drill-end" event
 *   POST /api/restore      opérateur: a guided restore {"source", "snapshot", "target",
 *                          "confirm" (the source's name typed again), "accept_risk"} into a
 *                          new folder of restore_root, on a thread of its own (202, its id);
 *                          GET /api/restore?id=R, /api/restore/events?id=R as for drills
 *   GET  /api/report?plan=P&journal=J&lang=fr|en&format=html|md[&download=1]
 *                          the report of a drill journal (cr_report_write: verified first)
 *
 * Long work (drills) runs on threads of its own. A live stream never holds a server
 * thread while it waits: its connection is suspended (MHD_suspend_connection) until the
 * drill has news, then resumed by the drill's thread.
 *
 * What every request goes through, in this order:
 *   - a Host header naming this console (cr_http_host_ok: the config's "hostnames", the
 *     listen address, loopback names on loopback), else 421: a page of another site whose
 *     name was re-pointed at this address (DNS rebinding) is not answered;
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
#define MAX_PLANS 256
#define MAX_DRILLS 16
#define MAX_DRILL_EVENTS 20000
#define MAX_REPORT (64u * 1024 * 1024)

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
    N_("Plans"),
    N_("Plan"),
    N_("Site"),
    N_("Services"),
    N_("Check"),
    N_("No error"),
    N_("{n} error(s)"),
    N_("{n} warning(s)"),
    N_("error"),
    N_("warning"),
    N_("line {line}"),
    N_("No plan: put plan files (.yaml) in the console's plans folder."),
    N_("No such plan."),
    N_("Tier {n}"),
    N_("depends on {list}"),
    N_("Start order"),
    N_("Start a drill"),
    N_("A drill restores every service of the plan below a scratch folder, measures the RTO and removes it: no production target is touched."),
    N_("Drills"),
    N_("No drill yet."),
    N_("running"),
    N_("finished"),
    N_("failed"),
    N_("Drill"),
    N_("Live progress"),
    N_("Back to the plan"),
    N_("Report"),
    N_("Report (HTML)"),
    N_("Download (Markdown)"),
    N_("Download (HTML)"),
    N_("The plan has errors: fix them before a drill."),
    N_("A drill is already running."),
    N_("Your role does not allow this."),
    N_("waiting"),
    N_("restoring"),
    N_("starting"),
    N_("probing"),
    N_("done"),
    N_("blocked"),
    N_("Elapsed {t}"),
    N_("ETA {t}"),
    N_("Service"),
    N_("Tier"),
    N_("Phase"),
    N_("Progress"),
    N_("Status"),
    N_("hunt record missing"),
    N_("Open findings at or above high: {n}"),
    N_("Restore points by day"),
    N_("The drill ended: {ok} service(s) back, {failed} failed, {blocked} blocked."),
    N_("Restore"),
    N_("Guided restore"),
    N_("1. Source"),
    N_("2. Restore point"),
    N_("3. Target folder"),
    N_("4. Confirm"),
    N_("Choose a source"),
    N_("This restore point is not the clean point: it may hold what the attacker left."),
    N_("The hunt flags this restore point: I accept the risk."),
    N_("A new folder of the console's restore folder."),
    N_("Type the source's name to confirm:"),
    N_("Start the restore"),
    N_("The restore ended: {files} file(s)."),
    N_("The restore gate refuses this restore point."),
    N_("The target folder holds data: choose a new name."),
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

struct con;

/* A drill started from the console: the plan, the thread that runs it, and every event
 * it sent (its journal entries and progress), as Server-Sent Events messages, for each
 * viewer to read from the start. */
typedef struct drill {
    struct con *s;
    char id[NAME_MAX + 1]; /* the journal's file name */
    char plan_name[CR_CON_MAX_NAME + 1];
    char plan_file[PATH_MAX], journal[PATH_MAX], scratch[PATH_MAX + 32];
    char user[CR_CON_MAX_NAME + 1];
    cr_plan *plan;
    pthread_t th;
    int refs;           /* live streams reading it (under the console's mu): kept meanwhile */
    pthread_mutex_t mu; /* what follows */
    char **ev;
    size_t nev, cap;
    size_t nprogress_dropped;
    int done, err;
    char message[512];
    cr_recover_result res;
    struct MHD_Connection **waiting; /* suspended streams to resume at the next event */
    size_t nwaiting, capwaiting;
    /* A guided restore runs on the same machinery (kind 1): */
    int kind;                      /* 0 drill, 1 restore */
    char source[257];
    cr_snapshot *snap;
    char target[PATH_MAX + NAME_MAX + 2];
    int accepted_risk;
    double last_progress;
    cr_restore_stats rstats;
} drill;

typedef struct con {
    cr_con_config cfg;
    const char *listen;
    const char *hostnames[CR_CON_MAX_HOSTNAMES];
    volatile int cancel;      /* stopping: drills stop, streams end */
    drill *drills[MAX_DRILLS]; /* under mu; newest last */
    size_t ndrills;
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

/* A source's restore points, oldest first, each with the library's verdict on it: the
 * restore gate (cr_restore_gate_check, the policy of `restore`) says whether it was
 * hunted and which findings at or above high it holds (its open findings), and the
 * clean point is cr_clean_points's. Nothing is judged here. */
static enum MHD_Result api_source(con *s, struct MHD_Connection *c, const session *x)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    cr_snapshot **snaps = NULL;
    size_t nsnaps = 0, ncp = 0, open_total = 0;
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
        cr_error_clear(); /* the points are shown without the clean point */
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
    json_object_set_new(o, "first_compromised_snapshot",
                        ncp && cp[0].compromised
                            ? json_string(cr_id_to_hex(hex, &cp[0].first_compromised))
                            : json_null());
    for (size_t i = 0; i < nsnaps; i++) {
        const cr_snapshot *sn = snaps[i];
        cr_restore_gate *g = NULL;
        cr_restore_gate_options go = CR_RESTORE_GATE_OPTIONS_INIT;
        json_t *p = json_object(), *fa = json_array(), *open = json_array();
        const char *state;
        int gerr = cr_restore_gate_check(&g, s->opts->repo, sn, &go);
        if (gerr < 0)
            cr_error_clear();
        int is_clean = ncp && cp[0].has_clean &&
                       !memcmp(&cp[0].clean_snapshot, &sn->id, sizeof(sn->id));
        /* The words are the gate's cases: hunted and refused (a finding at or above high, or
         * its record gone), hunted and passed, never hunted or unreadable. */
        if (gerr < 0 || !g || g->hunt == CR_GATE_NEVER || g->hunt == CR_GATE_UNREADABLE)
            state = "not hunted";
        else if (g->hunt == CR_GATE_MISSING)
            state = "hunt record missing";
        else if (is_clean)
            state = "clean point";
        else if (g->refused)
            state = "compromised";
        else
            state = "clean";
        cr_time_format(t, sizeof(t), sn->time_ns);
        json_object_set_new(p, "snapshot", json_string(cr_id_to_hex(hex, &sn->id)));
        json_object_set_new(p, "time", json_string(t));
        json_object_set_new(p, "state", json_string(state));
        json_object_set_new(p, "clean_point", json_boolean(is_clean));
        json_object_set_new(p, "files", json_integer((json_int_t)sn->files));
        json_object_set_new(p, "bytes", json_integer((json_int_t)sn->bytes));
        for (size_t k = 0; g && k < g->nfindings && k < 200; k++) {
            const cr_finding *f = &g->findings[k];
            json_array_append_new(fa, json_pack("{s:s, s:s, s:s, s:s, s:s}", "path",
                                                f->path ? f->path : "", "severity",
                                                cr_severity_name(f->severity), "category",
                                                cr_category_name(f->category), "indicator",
                                                f->indicator ? f->indicator : "", "detail",
                                                f->detail ? f->detail : ""));
        }
        for (size_t k = 0; g && k < g->nflagged && k < 200; k++) {
            const cr_finding *f = g->flagged[k];
            json_array_append_new(open, json_pack("{s:s, s:s, s:s, s:s}", "path",
                                                  f->path ? f->path : "", "severity",
                                                  cr_severity_name(f->severity), "indicator",
                                                  f->indicator ? f->indicator : "", "detail",
                                                  f->detail ? f->detail : ""));
        }
        json_object_set_new(p, "findings", fa);
        json_object_set_new(p, "nfindings", json_integer(g ? (json_int_t)g->nfindings : 0));
        json_object_set_new(p, "open_high", open);
        json_object_set_new(p, "nopen_high", json_integer(g ? (json_int_t)g->nflagged : 0));
        if (i == nsnaps - 1 && g)
            open_total = g->nflagged;
        json_array_append_new(pts, p);
        cr_restore_gate_free(g);
    }
    json_object_set_new(o, "points", pts);
    /* The findings still open: those of the newest restore point. */
    json_object_set_new(o, "open_high", json_integer((json_int_t)open_total));
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

/* ------------------------------------------------------------ plans */

/* A plan's name: its file name in the plans folder without ".yaml"/".yml". Only names of
 * the accounts' alphabet, not starting with '.', ever reach a path. */
static int plan_file(con *s, const char *name, char *out, size_t outlen)
{
    static const char *const exts[] = {".yaml", ".yml"};
    if (!name || !cr_con_name_ok(name) || name[0] == '.')
        return CR_EINPUT;
    for (int i = 0; i < 2; i++) {
        int n = snprintf(out, outlen, "%s/%s%s", s->cfg.plans, name, exts[i]);
        if (n < 0 || (size_t)n >= outlen)
            return CR_EINPUT; /* (never a shortened path) */
        if (access(out, R_OK) == 0)
            return 0;
    }
    return CR_ENOTFOUND;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The plans' names, sorted (free each and the array). */
static size_t plan_names(con *s, char ***out)
{
    DIR *d = opendir(s->cfg.plans);
    struct dirent *e;
    char **v = NULL;
    size_t n = 0;
    *out = NULL;
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < MAX_PLANS) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".yaml") != 0 && strcmp(dot, ".yml") != 0))
            continue;
        char name[NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(dot - e->d_name), e->d_name);
        if (!cr_con_name_ok(name) || name[0] == '.')
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv || !(nv[n] = strdup(name))) {
            v = nv ? nv : v;
            break;
        }
        v = nv;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), str_cmp);
    *out = v;
    return n;
}

/* Load and check a plan as `plan check` does (the file, then the vault); *plan is NULL
 * when it has errors. @return 0, CR_ENOTFOUND, or an error reading it. */
static int plan_checked(con *s, const char *file, cr_plan **plan, json_t **problems,
                        int *nerrors, int *nwarnings)
{
    cr_plan_problem *pr = NULL;
    size_t npr = 0;
    int err = cr_plan_load(plan, &pr, &npr, file);
    *nerrors = *nwarnings = 0;
    if (err == 0) {
        pthread_mutex_lock(&s->repo_mu);
        err = cr_plan_check_vault(&pr, &npr, *plan, s->opts->repo);
        pthread_mutex_unlock(&s->repo_mu);
    }
    if (err == CR_EINPUT) {
        cr_error_clear();
        err = 0; /* errors are in the problems */
    }
    *problems = json_array();
    for (size_t i = 0; i < npr; i++) {
        json_array_append_new(*problems, json_pack("{s:i, s:i, s:s, s:s}", "line",
                                                   (int)pr[i].line, "col", (int)pr[i].col,
                                                   "level", pr[i].is_error ? "error" : "warning",
                                                   "message", pr[i].message ? pr[i].message : ""));
        if (pr[i].is_error)
            ++*nerrors;
        else
            ++*nwarnings;
    }
    cr_plan_problems_free(pr, npr);
    if (*nerrors && *plan) {
        cr_plan_free(*plan);
        *plan = NULL;
    }
    return err;
}

static enum MHD_Result api_plans(con *s, struct MHD_Connection *c)
{
    char **names = NULL;
    size_t n = plan_names(s, &names);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char file[PATH_MAX];
        cr_plan *plan = NULL;
        json_t *pr = NULL;
        int ne = 0, nw = 0;
        if (plan_file(s, names[i], file, sizeof(file)) == 0 &&
            plan_checked(s, file, &plan, &pr, &ne, &nw) == 0)
            json_array_append_new(a, json_pack("{s:s, s:s?, s:i, s:i, s:i}", "name", names[i],
                                               "site", plan ? plan->site : NULL, "services",
                                               plan ? (int)plan->nservices : 0, "errors", ne,
                                               "warnings", nw));
        else
            cr_error_clear();
        json_decref(pr);
        cr_plan_free(plan);
        free(names[i]);
    }
    free(names);
    return reply_json(s, c, 200, json_pack("{s:o}", "plans", a), NULL);
}

/* Journals of drills of plan `name` in the plans folder (NAME-drill-*.journal), newest
 * first. */
static json_t *plan_drills(con *s, const char *name)
{
    DIR *d = opendir(s->cfg.plans);
    struct dirent *e;
    char prefix[CR_CON_MAX_NAME + 16];
    char **v = NULL;
    size_t n = 0;
    json_t *a = json_array();
    snprintf(prefix, sizeof(prefix), "%s-drill-", name);
    while (d && (e = readdir(d)) && n < 1000) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 8 ||
            strcmp(e->d_name + len - 8, ".journal") != 0)
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv)
            break;
        v = nv;
        if (!(v[n] = strdup(e->d_name)))
            break;
        n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), str_cmp);
    for (size_t i = n; i-- > 0;) {
        int running = 0;
        pthread_mutex_lock(&s->mu);
        for (size_t k = 0; k < s->ndrills; k++)
            if (!strcmp(s->drills[k]->id, v[i])) {
                pthread_mutex_lock(&s->drills[k]->mu);
                running = !s->drills[k]->done;
                pthread_mutex_unlock(&s->drills[k]->mu);
            }
        pthread_mutex_unlock(&s->mu);
        json_array_append_new(a, json_pack("{s:s, s:b}", "journal", v[i], "running", running));
        free(v[i]);
    }
    free(v);
    return a;
}

static enum MHD_Result api_plan(con *s, struct MHD_Connection *c)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    char file[PATH_MAX];
    cr_plan *plan = NULL;
    json_t *pr = NULL, *svcs, *order;
    size_t *ord = NULL;
    int ne, nw, err;
    if ((err = plan_file(s, name, file, sizeof(file))) < 0)
        return reply_error(s, c, 404, "no-plan", "no such plan in the plans folder");
    if ((err = plan_checked(s, file, &plan, &pr, &ne, &nw)) < 0) {
        cr_http_log(s->http, 1, "the plan %s cannot be read: %s", file, cr_error_last());
        return reply_error(s, c, 503, "plan-unreadable", "the plan cannot be read");
    }
    svcs = json_array();
    order = json_array();
    for (size_t i = 0; plan && i < plan->nservices; i++) {
        const cr_plan_service *sv = &plan->services[i];
        json_t *dep = json_array();
        for (size_t k = 0; k < sv->ndepends; k++)
            json_array_append_new(dep, json_string(sv->depends_on[k]));
        json_array_append_new(svcs, json_pack("{s:s, s:i, s:o, s:s, s:s, s:f, s:i}", "name",
                                              sv->name, "tier", sv->tier, "depends_on", dep,
                                              "source", sv->source ? sv->source : sv->name,
                                              "target", cr_plan_target_kind_name(sv->target.kind),
                                              "rto_seconds", sv->rto, "count", (int)sv->count));
    }
    if (plan && cr_plan_order(&ord, plan) == 0)
        for (size_t i = 0; i < plan->nservices; i++)
            json_array_append_new(order, json_string(plan->services[ord[i]].name));
    cr_error_clear();
    free(ord);
    json_t *o = json_pack("{s:s, s:s?, s:i, s:i, s:o, s:o, s:o, s:o}", "name", name, "site",
                          plan ? plan->site : NULL, "errors", ne, "warnings", nw, "problems",
                          pr, "services", svcs, "order", order, "drills",
                          plan_drills(s, name));
    cr_plan_free(plan);
    return reply_json(s, c, 200, o, NULL);
}

/* ------------------------------------------------------------ drills */

/* Under d->mu: wake every stream waiting for news. */
static void drill_wake(drill *d)
{
    for (size_t i = 0; i < d->nwaiting; i++)
        MHD_resume_connection(d->waiting[i]);
    d->nwaiting = 0;
}

/* Append one SSE message: {"type", "service", "kv": {...}}, the journal's own words. */
static void drill_push(drill *d, const char *type, const char *service, const char *const *kv,
                       size_t nkv)
{
    json_t *o = json_object(), *k = json_object();
    for (size_t i = 0; i < nkv; i++)
        json_object_set_new(k, kv[2 * i], json_string(kv[2 * i + 1] ? kv[2 * i + 1] : ""));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "service", service ? json_string(service) : json_null());
    json_object_set_new(o, "kv", k);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    size_t len = strlen(text) + 16;
    char *msg = malloc(len);
    if (msg)
        snprintf(msg, len, "data: %s\n\n", text);
    free(text);
    pthread_mutex_lock(&d->mu);
    int progress = !strcmp(type, "progress");
    /* Bounded: past the limit, progress (not journaled, outdated a second later) is
     * dropped; journal entries are kept. */
    if (!msg || (progress && d->nev >= MAX_DRILL_EVENTS) || d->nev >= 2 * MAX_DRILL_EVENTS) {
        d->nprogress_dropped++;
        free(msg);
    } else {
        if (d->nev == d->cap) {
            size_t nc = d->cap ? 2 * d->cap : 256;
            char **nv = realloc(d->ev, nc * sizeof(*nv));
            if (!nv) {
                free(msg);
                msg = NULL;
            } else {
                d->ev = nv;
                d->cap = nc;
            }
        }
        if (msg)
            d->ev[d->nev++] = msg;
    }
    drill_wake(d);
    pthread_mutex_unlock(&d->mu);
}

/* cr_recover_run's events: every journal entry, and progress. */
static void drill_event(const char *type, const char *service, const char *const *kv, size_t nkv,
                        void *payload)
{
    drill_push(payload, type, service, kv, nkv);
}

static void *drill_main(void *arg)
{
    drill *d = arg;
    con *s = d->s;
    cr_recover_options ro = CR_RECOVER_OPTIONS_INIT;
    ro.journal = d->journal;
    ro.plan_file = d->plan_file;
    ro.drill = 1;
    ro.scratch = d->scratch;
    ro.cancel = &s->cancel;
    ro.event = drill_event;
    ro.payload = d;
    cr_recover_result res;
    memset(&res, 0, sizeof(res));
    cr_error_clear();
    int err = cr_recover_run(&res, s->opts->repo, d->plan, &ro);
    const char *status = err == 0 && !res.waiting ? "ok"
                         : err == 0              ? "waiting"
                         : err == CR_EPARTIAL    ? "partial"
                         : err == CR_EINTR       ? "cancelled"
                                                 : "failed";
    char ok[24], failed[24], blocked[24], waiting[24], secs[32], msg[512];
    snprintf(ok, sizeof(ok), "%zu", res.ok);
    snprintf(failed, sizeof(failed), "%zu", res.failed);
    snprintf(blocked, sizeof(blocked), "%zu", res.blocked);
    snprintf(waiting, sizeof(waiting), "%zu", res.waiting);
    snprintf(secs, sizeof(secs), "%.1f", res.seconds);
    snprintf(msg, sizeof(msg), "%s", err < 0 && err != CR_EPARTIAL ? cr_error_last() : "");
    if (err < 0 && err != CR_EPARTIAL)
        rmdir(d->scratch); /* made here; empty when the drill did not start */
    audit(s, err < 0, "the drill of the plan '%s' started by '%s' ended: %s (%zu ok, %zu failed, "
                      "%zu blocked) journal %s%s%s",
          d->plan_name, d->user, status, res.ok, res.failed, res.blocked, d->journal,
          msg[0] ? ": " : "", msg);
    const char *kv[] = {"status", status, "ok", ok, "failed", failed, "blocked", blocked,
                        "waiting", waiting, "seconds", secs, "message", msg};
    pthread_mutex_lock(&d->mu);
    d->res = res;
    d->err = err;
    snprintf(d->message, sizeof(d->message), "%s", msg);
    pthread_mutex_unlock(&d->mu);
    drill_push(d, "drill-end", NULL, kv, 7);
    pthread_mutex_lock(&d->mu);
    d->done = 1;
    drill_wake(d);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static void drill_free(drill *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nev; i++)
        free(d->ev[i]);
    free(d->ev);
    free(d->waiting);
    cr_plan_free(d->plan);
    cr_snapshot_free(d->snap);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* The drill of that id (under s->mu). */
static drill *drill_find(con *s, const char *id)
{
    for (size_t i = 0; id && i < s->ndrills; i++)
        if (!strcmp(s->drills[i]->id, id))
            return s->drills[i];
    return NULL;
}

/* 1 if a drill or a restore runs: one long job at a time, so that two never compete for
 * the disk of the clean room. */
static int jobs_busy(con *s)
{
    int busy = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ndrills; i++) {
        pthread_mutex_lock(&s->drills[i]->mu);
        busy |= !s->drills[i]->done;
        pthread_mutex_unlock(&s->drills[i]->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return busy;
}

/*
 * Keep a new job (drill or restore) and start its thread, unless one runs
 * (checked again here, under the lock: two requests may both have passed
 * jobs_busy). @return 1 if started, 0 if another job runs, -1 if it cannot start.
 */
static int job_start(con *s, drill *d, void *(*fn)(void *))
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ndrills; i++) {
        pthread_mutex_lock(&s->drills[i]->mu);
        int running = !s->drills[i]->done;
        pthread_mutex_unlock(&s->drills[i]->mu);
        if (running) {
            pthread_mutex_unlock(&s->mu);
            return 0;
        }
    }
    if (s->ndrills == MAX_DRILLS) {
        /* the oldest finished job no stream reads leaves memory (its journal and report stay) */
        size_t k = 0;
        while (k < s->ndrills && (!s->drills[k]->done || s->drills[k]->refs))
            k++;
        if (k < s->ndrills) {
            pthread_join(s->drills[k]->th, NULL);
            drill_free(s->drills[k]);
            memmove(&s->drills[k], &s->drills[k + 1], (s->ndrills - k - 1) * sizeof(drill *));
            s->ndrills--;
        }
    }
    int started = s->ndrills < MAX_DRILLS && pthread_create(&d->th, NULL, fn, d) == 0;
    if (started)
        s->drills[s->ndrills++] = d;
    pthread_mutex_unlock(&s->mu);
    return started ? 1 : -1;
}

static enum MHD_Result api_drill_start(con *s, struct MHD_Connection *c, req *r,
                                       const session *x)
{
    json_t *j = body_json(r);
    const char *name = j ? json_string_value(json_object_get(j, "plan")) : NULL;
    char file[PATH_MAX];
    cr_plan *plan = NULL;
    json_t *pr = NULL;
    drill *d = NULL;
    char *journal = NULL;
    enum MHD_Result ret;
    int ne, nw, err;

    if (!name || plan_file(s, name, file, sizeof(file)) < 0) {
        ret = reply_error(s, c, 404, "no-plan", "give {\"plan\": NAME} of a plan of the folder");
        goto done;
    }
    if ((err = plan_checked(s, file, &plan, &pr, &ne, &nw)) < 0 || !plan) {
        audit(s, 1, "'%s' could not start a drill of the plan '%s': %s", x->user, name,
              err < 0 ? cr_error_last() : "the plan has errors");
        ret = reply_json(s, c, 422, json_pack("{s:s, s:s, s:O}", "error", "plan-errors",
                                              "message", "the plan has errors: fix them first",
                                              "problems", pr ? pr : json_null()),
                         NULL);
        goto done;
    }
    if (jobs_busy(s)) {
        ret = reply_error(s, c, 409, "drill-running", "a drill or a restore is already running");
        goto done;
    }
    if (!(d = cr_calloc(1, sizeof(*d))) || !(journal = cr_recover_journal_path(file, 1))) {
        ret = reply_error(s, c, 500, "no-memory", "out of memory");
        goto done;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->s = s;
    const char *base = strrchr(journal, '/');
    snprintf(d->id, sizeof(d->id), "%s", base ? base + 1 : journal);
    snprintf(d->journal, sizeof(d->journal), "%s", journal);
    snprintf(d->plan_file, sizeof(d->plan_file), "%s", file);
    snprintf(d->plan_name, sizeof(d->plan_name), "%s", name);
    snprintf(d->user, sizeof(d->user), "%s", x->user);
    snprintf(d->scratch, sizeof(d->scratch), "%s/cleanroom-drill-XXXXXX", s->cfg.scratch);
    if (!mkdtemp(d->scratch)) {
        audit(s, 1, "'%s' could not start a drill of the plan '%s': cannot create a scratch "
                    "folder in %s (%s)",
              x->user, name, s->cfg.scratch, strerror(errno));
        ret = reply_error(s, c, 500, "no-scratch", "cannot create the drill's scratch folder");
        goto done;
    }
    d->plan = plan;
    plan = NULL;
    if ((err = job_start(s, d, drill_main)) <= 0) {
        rmdir(d->scratch);
        ret = err == 0 ? reply_error(s, c, 409, "drill-running",
                                     "a drill or a restore is already running")
                       : reply_error(s, c, 503, "busy", "the drill could not be started");
        goto done;
    }
    audit(s, 0, "'%s' started a drill of the plan '%s' (journal %s, scratch %s)", x->user, name,
          d->journal, d->scratch);
    ret = reply_json(s, c, 202, json_pack("{s:s, s:s}", "id", d->id, "plan", name), NULL);
    d = NULL;
done:
    if (d)
        drill_free(d);
    free(journal);
    cr_plan_free(plan);
    json_decref(pr);
    json_decref(j);
    return ret;
}

static enum MHD_Result api_drill(con *s, struct MHD_Connection *c)
{
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    json_t *o = NULL;
    pthread_mutex_lock(&s->mu);
    drill *d = drill_find(s, id);
    if (d) {
        pthread_mutex_lock(&d->mu);
        o = json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:f, s:s, s:i}", "id", d->id,
                      "plan", d->plan_name, "user", d->user, "running", !d->done, "ok",
                      (int)d->res.ok, "failed", (int)d->res.failed, "blocked",
                      (int)d->res.blocked, "waiting", (int)d->res.waiting, "seconds",
                      d->res.seconds, "message", d->message, "events", (int)d->nev);
        json_object_set_new(o, "kind", json_string(d->kind ? "restore" : "drill"));
        if (d->kind) {
            json_object_set_new(o, "source", json_string(d->source));
            json_object_set_new(o, "files", json_integer((json_int_t)d->rstats.files));
            json_object_set_new(o, "bytes", json_integer((json_int_t)d->rstats.bytes));
            json_object_set_new(o, "failed_items", json_integer((json_int_t)d->rstats.failed));
            json_object_set_new(o, "accepted_risk", json_boolean(d->accepted_risk));
        }
        pthread_mutex_unlock(&d->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (!o)
        return reply_error(s, c, 404, "no-drill", "no such drill in this console");
    return reply_json(s, c, 200, o, NULL);
}

typedef struct stream {
    con *s;
    drill *d;
    struct MHD_Connection *c;
    size_t idx, off; /* next message, and bytes of it already sent */
} stream;

/* MHD's content reader of a live stream: what is new, else suspend the connection until
 * the drill's thread has news (drill_wake), else the end. Never waits on a server thread. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *e = cls;
    drill *d = e->d;
    size_t n = 0;
    (void)pos;
    pthread_mutex_lock(&d->mu);
    while (e->idx < d->nev && n < max) {
        const char *m = d->ev[e->idx] + e->off;
        size_t len = strlen(m), k = len < max - n ? len : max - n;
        memcpy(buf + n, m, k);
        n += k;
        e->off += k;
        if (k == len) {
            e->idx++;
            e->off = 0;
        }
    }
    if (n == 0) {
        if (d->done || e->s->cancel) {
            pthread_mutex_unlock(&d->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (d->nwaiting == d->capwaiting) {
            size_t nc = d->capwaiting ? 2 * d->capwaiting : 16;
            struct MHD_Connection **nv = realloc(d->waiting, nc * sizeof(*nv));
            if (!nv) {
                pthread_mutex_unlock(&d->mu);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            d->waiting = nv;
            d->capwaiting = nc;
        }
        d->waiting[d->nwaiting++] = e->c;
        MHD_suspend_connection(e->c);
    }
    pthread_mutex_unlock(&d->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream *e = cls;
    pthread_mutex_lock(&e->s->mu);
    e->d->refs--;
    pthread_mutex_unlock(&e->s->mu);
    free(e);
}

static enum MHD_Result api_drill_events(con *s, struct MHD_Connection *c, const session *x)
{
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    stream *e;
    if (!(e = cr_calloc(1, sizeof(*e))))
        return MHD_NO;
    pthread_mutex_lock(&s->mu);
    drill *d = drill_find(s, id);
    if (d)
        d->refs++; /* kept in memory while this stream reads it (stream_free) */
    pthread_mutex_unlock(&s->mu);
    if (!d) {
        free(e);
        return reply_error(s, c, 404, "no-drill", "no such drill in this console");
    }
    e->s = s;
    e->d = d;
    e->c = c;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, e, stream_free);
    if (!resp) {
        stream_free(e);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    security_headers(s, resp);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    (void)x;
    return ret;
}

/* ------------------------------------------------------------ guided restore */

static void restore_progress(const cr_progress *p, void *payload)
{
    drill *d = payload;
    double now = cr_time_mono();
    pthread_mutex_lock(&d->mu);
    int skip = now - d->last_progress < 0.5 && p->bytes_done < p->bytes_total;
    if (!skip)
        d->last_progress = now;
    pthread_mutex_unlock(&d->mu);
    if (skip)
        return;
    char b1[24], b2[24], b3[24], b4[24], b5[32];
    snprintf(b1, sizeof(b1), "%llu", (unsigned long long)p->bytes_done);
    snprintf(b2, sizeof(b2), "%llu", (unsigned long long)p->bytes_total);
    snprintf(b3, sizeof(b3), "%llu", (unsigned long long)p->files_done);
    snprintf(b4, sizeof(b4), "%llu", (unsigned long long)p->files_total);
    snprintf(b5, sizeof(b5), "%.1f", p->elapsed);
    const char *kv[] = {"phase", "restore", "bytes_done", b1, "bytes_total", b2,
                        "files_done", b3, "files_total", b4, "elapsed", b5};
    drill_push(d, "progress", d->source, kv, 6);
}

static void restore_warning(const char *path, const char *message, void *payload)
{
    const char *kv[] = {"path", path ? path : "", "message", message ? message : ""};
    drill_push(payload, "warning", ((drill *)payload)->source, kv, 2);
}

static void *restore_main(void *arg)
{
    drill *d = arg;
    con *s = d->s;
    char hex[CR_ID_HEX_LEN + 1], files[24], bytes[24], failed[24], msg[512];
    cr_restore_options ro = CR_RESTORE_OPTIONS_INIT;
    cr_restore_stats st;
    memset(&st, 0, sizeof(st));
    const char *kv0[] = {"snapshot", cr_id_to_hex(hex, &d->snap->id), "target", d->target,
                         "accepted_risk", d->accepted_risk ? "1" : "0"};
    drill_push(d, "restore-start", d->source, kv0, 3);
    ro.target = d->target;
    ro.progress = restore_progress;
    ro.warning = restore_warning;
    ro.payload = d;
    cr_error_clear();
    int err = cr_restore(&st, s->opts->repo, d->snap, &ro);
    const char *status = err == 0 ? "ok" : err == CR_EPARTIAL ? "partial" : "failed";
    snprintf(files, sizeof(files), "%llu", (unsigned long long)st.files);
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)st.bytes);
    snprintf(failed, sizeof(failed), "%llu", (unsigned long long)st.failed);
    snprintf(msg, sizeof(msg), "%s", err < 0 ? cr_error_last() : "");
    audit(s, err < 0, "the restore of %s (snapshot %.8s) into %s started by '%s' ended: %s "
                      "(%s files, %s bytes, %s failed)%s%s",
          d->source, hex, d->target, d->user, status, files, bytes, failed, msg[0] ? ": " : "",
          msg);
    pthread_mutex_lock(&d->mu);
    d->rstats = st;
    d->err = err;
    snprintf(d->message, sizeof(d->message), "%s", msg);
    pthread_mutex_unlock(&d->mu);
    const char *kv[] = {"status", status, "files", files, "bytes", bytes, "failed", failed,
                        "message", msg};
    drill_push(d, "restore-end", d->source, kv, 5);
    pthread_mutex_lock(&d->mu);
    d->done = 1;
    drill_wake(d);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* POST /api/restore {source, snapshot, target, confirm, accept_risk}: the restore gate
 * (cr_restore_gate_check, the policy of `cleanroom restore`) decides; a restore point it
 * refuses goes only with accept_risk, and every restore needs the source's name typed
 * again. The target is a new folder NAME inside the config's restore_root: a browser never
 * names a path on the host. */
static enum MHD_Result api_restore_start(con *s, struct MHD_Connection *c, req *r,
                                         const session *x)
{
    json_t *j = body_json(r);
    const char *source = j ? json_string_value(json_object_get(j, "source")) : NULL;
    const char *snap_hex = j ? json_string_value(json_object_get(j, "snapshot")) : NULL;
    const char *target = j ? json_string_value(json_object_get(j, "target")) : NULL;
    const char *confirm = j ? json_string_value(json_object_get(j, "confirm")) : NULL;
    int accept_risk = j ? json_is_true(json_object_get(j, "accept_risk")) : 0;
    cr_snapshot **snaps = NULL, *snap = NULL;
    size_t nsnaps = 0;
    cr_restore_gate *g = NULL;
    cr_restore_gate_options go = CR_RESTORE_GATE_OPTIONS_INIT;
    cr_target_entries te;
    drill *d = NULL;
    char path[PATH_MAX + NAME_MAX + 2], hex[CR_ID_HEX_LEN + 1];
    enum MHD_Result ret;
    int err;

    memset(&te, 0, sizeof(te));
    if (!source || !*source || strlen(source) > 256 || !snap_hex || !target || !confirm) {
        ret = reply_error(s, c, 400, "bad-request",
                          "give {\"source\", \"snapshot\", \"target\", \"confirm\"}");
        goto done;
    }
    if (strcmp(confirm, source) != 0) {
        audit(s, 1, "'%s' asked for a restore of %s without typing its name to confirm", x->user,
              source);
        ret = reply_error(s, c, 400, "confirm", "type the source's name to confirm");
        goto done;
    }
    if (!cr_con_name_ok(target) || target[0] == '.') {
        ret = reply_error(s, c, 400, "target",
                          "the target is a new folder name: letters, digits, '.', '_', '-'");
        goto done;
    }
    go.accept_risk = accept_risk;
    pthread_mutex_lock(&s->repo_mu);
    err = cr_snapshot_list(&snaps, &nsnaps, s->opts->repo, source);
    for (size_t i = 0; err == 0 && i < nsnaps; i++)
        if (!strcmp(cr_id_to_hex(hex, &snaps[i]->id), snap_hex)) {
            snap = snaps[i];
            snaps[i] = NULL; /* kept by the job */
            break;
        }
    if (snap)
        err = cr_restore_gate_check(&g, s->opts->repo, snap, &go);
    pthread_mutex_unlock(&s->repo_mu);
    if (err < 0 || !snap) {
        cr_error_clear();
        ret = reply_error(s, c, 404, "no-snapshot", "no such restore point of that source");
        goto done;
    }
    if (g->refused) {
        audit(s, 1, "the restore of %s (snapshot %.8s) asked by '%s' is refused by the restore "
                    "gate: %zu finding(s) at or above high%s",
              source, snap_hex, x->user, g->nflagged,
              g->hunt == CR_GATE_MISSING ? ", its hunt record is missing" : "");
        ret = reply_json(s, c, 409, json_pack("{s:s, s:s, s:i}", "error", "refused", "message",
                                              "the restore gate refuses this restore point "
                                              "(accept the risk to go on)",
                                              "flagged", (int)g->nflagged),
                         NULL);
        goto done;
    }
    if ((err = cr_fs_mkdir_p(AT_FDCWD, s->cfg.restore_root, 0750)) < 0) {
        audit(s, 1, "the restore folder %s cannot be made: %s", s->cfg.restore_root,
              cr_error_last());
        ret = reply_error(s, c, 500, "restore-root", "the restore folder cannot be made");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/%s", s->cfg.restore_root, target);
    err = cr_restore_target_check(&te, path, 5);
    if (err < 0) {
        cr_error_clear();
        ret = reply_error(s, c, 409, "target-not-empty",
                          "the target folder holds data: choose a new name");
        goto done;
    }
    if (jobs_busy(s)) {
        ret = reply_error(s, c, 409, "busy", "a drill or a restore is already running");
        goto done;
    }
    if (!(d = cr_calloc(1, sizeof(*d)))) {
        ret = reply_error(s, c, 500, "no-memory", "out of memory");
        goto done;
    }
    pthread_mutex_init(&d->mu, NULL);
    d->s = s;
    d->kind = 1;
    d->snap = snap;
    snap = NULL;
    d->accepted_risk = g->accepted_risk;
    snprintf(d->source, sizeof(d->source), "%s", source);
    snprintf(d->target, sizeof(d->target), "%s", path);
    snprintf(d->user, sizeof(d->user), "%s", x->user);
    char t[48];
    cr_time_format(t, sizeof(t), cr_time_now_ns());
    snprintf(d->id, sizeof(d->id), "restore-%s-%.8s", t, snap_hex);
    for (char *p = d->id; *p; p++)
        if (*p == ':')
            *p = '-';
    if ((err = job_start(s, d, restore_main)) <= 0) {
        ret = err == 0 ? reply_error(s, c, 409, "busy", "a drill or a restore is already running")
                       : reply_error(s, c, 503, "busy", "the restore could not be started");
        goto done;
    }
    audit(s, !!g->accepted_risk,
          "'%s' started a restore of %s (snapshot %.8s%s) into %s", x->user, source, snap_hex,
          g->accepted_risk ? ", FLAGGED BY THE HUNT: risk accepted" : "", path);
    ret = reply_json(s, c, 202, json_pack("{s:s, s:s, s:s}", "id", d->id, "source", source,
                                          "target", path),
                     NULL);
    d = NULL;
done:
    if (d)
        drill_free(d);
    cr_target_entries_clear(&te);
    cr_restore_gate_free(g);
    cr_snapshot_free(snap);
    cr_snapshot_list_free(snaps, nsnaps);
    json_decref(j);
    return ret;
}

/* ------------------------------------------------------------ reports */

static enum MHD_Result api_report(con *s, struct MHD_Connection *c, const session *x)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "plan");
    const char *jn = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "journal");
    const char *lang = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lang");
    const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    const char *dl = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
    char file[PATH_MAX], journal[PATH_MAX + NAME_MAX + 2], outdir[PATH_MAX + 16];
    char prefix[CR_CON_MAX_NAME + 16];
    cr_report_options ro = CR_REPORT_OPTIONS_INIT;
    cr_report_result res;
    cr_buf b = CR_BUF_INIT;
    int md = format && !strcmp(format, "md"), err;
    size_t jl = jn ? strlen(jn) : 0;

    memset(&res, 0, sizeof(res));
    if (plan_file(s, name, file, sizeof(file)) < 0)
        return reply_error(s, c, 404, "no-plan", "no such plan in the plans folder");
    /* a drill journal of that plan, by its file name only */
    snprintf(prefix, sizeof(prefix), "%.64s-drill-", name);
    if (!jn || jl > NAME_MAX || jl < 9 || strncmp(jn, prefix, strlen(prefix)) != 0 ||
        strcmp(jn + jl - 8, ".journal") != 0 || strchr(jn, '/') ||
        strspn(jn, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != jl)
        return reply_error(s, c, 400, "bad-request", "give ?plan=P&journal=P-drill-TIME.journal");
    snprintf(journal, sizeof(journal), "%s/%s", s->cfg.plans, jn);
    pthread_mutex_lock(&s->mu);
    drill *d = drill_find(s, jn);
    int running = 0;
    if (d) {
        pthread_mutex_lock(&d->mu);
        running = !d->done;
        pthread_mutex_unlock(&d->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (running)
        return reply_error(s, c, 409, "drill-running", "the drill is still running");
    ro.lang = lang && !strcmp(lang, "en") ? CR_REPORT_EN : CR_REPORT_FR;
    ro.lang_given = 1;
    ro.formats = md ? CR_REPORT_MD : CR_REPORT_HTML;
    ro.journal = journal;
    ro.repo = s->opts->repo;
    snprintf(outdir, sizeof(outdir), "%s/reports/%s", s->cfg.plans,
             ro.lang == CR_REPORT_EN ? "en" : "fr");
    if ((err = cr_fs_mkdir_p(AT_FDCWD, outdir, 0750)) < 0)
        goto fail;
    ro.out_dir = outdir;
    /* repo_mu also keeps two reports apart: each switches gettext's language, which is
     * the process's (cr_i18n_begin is not thread-safe). */
    pthread_mutex_lock(&s->repo_mu);
    err = cr_report_write(&res, &ro);
    pthread_mutex_unlock(&s->repo_mu);
    if (err < 0)
        goto fail;
    if ((err = cr_fs_read_all(&b, AT_FDCWD, md ? res.md_path : res.html_path, MAX_REPORT)) < 0)
        goto fail;
    audit(s, 0, "'%s' read the %s report of %s", x->user,
          ro.lang == CR_REPORT_EN ? "English" : "French", jn);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.ptr, MHD_RESPMEM_MUST_COPY);
    cr_buf_free(&b);
    cr_report_result_free(&res);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            md ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8");
    security_headers(s, resp);
    if (dl && !strcmp(dl, "1")) {
        char cd[NAME_MAX + 64];
        snprintf(cd, sizeof(cd), "attachment; filename=\"%.*s-report-%s.%s\"", (int)(jl - 8), jn,
                 ro.lang == CR_REPORT_EN ? "en" : "fr", md ? "md" : "html");
        MHD_add_response_header(resp, "Content-Disposition", cd);
    }
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
fail:
    cr_buf_free(&b);
    cr_report_result_free(&res);
    audit(s, 1, "the report of %s asked by '%s' cannot be made: %s", jn, x->user,
          cr_error_last());
    if (err == CR_ENOTFOUND)
        return reply_error(s, c, 404, "no-journal", "no such drill journal");
    if (err == CR_ECORRUPT)
        return reply_error(s, c, 409, "journal-damaged",
                           "the journal is damaged: no report is made from it");
    return reply_error(s, c, 500, "report", "the report cannot be made");
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
        {"plans", 0, CR_CONSOLE_VIEWER}, {"plan", 0, CR_CONSOLE_VIEWER},
        {"drill", 0, CR_CONSOLE_VIEWER}, {"drill", 1, CR_CONSOLE_OPERATOR},
        {"drill/events", 0, CR_CONSOLE_VIEWER}, {"report", 0, CR_CONSOLE_VIEWER},
        {"restore", 0, CR_CONSOLE_VIEWER}, {"restore", 1, CR_CONSOLE_OPERATOR},
        {"restore/events", 0, CR_CONSOLE_VIEWER},
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
    if (!strcmp(api, "plans"))
        return api_plans(s, c);
    if (!strcmp(api, "plan"))
        return api_plan(s, c);
    if (!strcmp(api, "drill"))
        return post ? api_drill_start(s, c, r, &x) : api_drill(s, c);
    if (!strcmp(api, "drill/events") || !strcmp(api, "restore/events"))
        return api_drill_events(s, c, &x);
    if (!strcmp(api, "restore"))
        return post ? api_restore_start(s, c, r, &x) : api_drill(s, c);
    if (!strcmp(api, "report"))
        return api_report(s, c, &x);
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
        const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
        if (!cr_http_host_ok(host, s->listen, s->hostnames, s->cfg.nhostnames)) {
            r->responded = 1;
            char h[80];
            snprintf(h, sizeof(h), "%s", host ? host : "(none)");
            for (char *p = h; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                    *p = '?';
            audit(s, 1, "%s %s from %s refused: the Host '%s' is not a name of this console "
                        "(DNS rebinding?); add it to \"hostnames\" in %s if it is",
                  method, url, r->ip, h, s->cfg.path);
            return reply_error(s, c, 421, "host", "this console does not answer to that name");
        }
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
    s->listen = listen;
    for (size_t i = 0; i < s->cfg.nhostnames; i++)
        s->hostnames[i] = s->cfg.hostnames[i];
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
    /* Drills stop between steps (their journal says so); every live stream is resumed and
     * ends, since MHD must not be stopped with a connection suspended. */
    s->cancel = 1;
    for (size_t i = 0; i < s->ndrills; i++)
        pthread_join(s->drills[i]->th, NULL);
    cr_http_stop(s->http);
    for (size_t i = 0; i < s->ndrills; i++)
        drill_free(s->drills[i]);
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
