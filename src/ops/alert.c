/*
 * Alerts: one event (a failed or partial job, a late source, findings at or
 * above high, ransomware signals) becomes one journal entry and, for the
 * `mail` targets of its job, one mail — never one per file.
 *
 * The journal: journald's native protocol (a datagram of KEY=VALUE lines on
 * /run/systemd/journal/socket), so that the fields are structured and the
 * MESSAGE_ID stable (`journalctl MESSAGE_ID=...` finds every alert of a kind
 * across versions); when there is no journald, syslog(3) with the same words.
 *
 * The mail: libcurl's SMTP, STARTTLS required unless the relay is smtps://
 * (TLS from the start) or `starttls: false` says the relay is trusted without
 * it. Every header value that comes from the vault or the jobs file (a source
 * name) is in the Subject only, encoded as an RFC 2047 word (base64), and the
 * body is base64: nothing in them can end a header or the message early.
 * Addresses were checked when the jobs file was read.
 */
#include "cleanroom/jobs.h"
#include "cleanroom/hunt.h"
#include "util/i18n.h"
#include "util/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

const char *cr_alert_kind_name(cr_alert_kind k)
{
    switch (k) {
    case CR_ALERT_JOB_FAILED: return "job-failed";
    case CR_ALERT_JOB_PARTIAL: return "job-partial";
    case CR_ALERT_RPO: return "rpo";
    case CR_ALERT_FINDINGS: return "findings";
    case CR_ALERT_RANSOMWARE: return "ransomware";
    case CR_ALERT_HUNT_FAILED: return "hunt-failed";
    case CR_ALERT_VERIFY: return "verify";
    }
    return "alert";
}

/* Stable MESSAGE_IDs (128-bit, as journald wants): never change them, monitoring
 * rules match on them. Listed in docs/jobs.md. */
static const char *message_id(cr_alert_kind k)
{
    switch (k) {
    case CR_ALERT_JOB_FAILED: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e801";
    case CR_ALERT_JOB_PARTIAL: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e802";
    case CR_ALERT_RPO: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e803";
    case CR_ALERT_FINDINGS: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e804";
    case CR_ALERT_RANSOMWARE: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e805";
    case CR_ALERT_HUNT_FAILED: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e806";
    case CR_ALERT_VERIFY: return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e807";
    }
    return "3c1f6d0e8a2b4f7c9e51d2a7b6c4e800";
}

/* syslog priorities: a late or failed backup is an error, a partial one a
 * warning, what the hunt or the ransomware signals saw is critical. */
static int priority(cr_alert_kind k)
{
    switch (k) {
    case CR_ALERT_FINDINGS:
    case CR_ALERT_RANSOMWARE: return LOG_CRIT;
    case CR_ALERT_JOB_PARTIAL: return LOG_WARNING;
    default: return LOG_ERR;
    }
}

/* "3 d", "27 h", "40 min" */
static void age_text(char *b, size_t len, int64_t ns)
{
    int64_t s = ns / 1000000000LL;
    if (s >= 2 * 86400)
        snprintf(b, len, "%lld d", (long long)(s / 86400));
    else if (s >= 2 * 3600)
        snprintf(b, len, "%lld h", (long long)(s / 3600));
    else
        snprintf(b, len, "%lld min", (long long)(s / 60));
}

/* The one-line summary (journal MESSAGE, mail Subject) in the current language. */
static char *summary(const cr_alert *a)
{
    char age[32], rpo[32];
    switch (a->kind) {
    case CR_ALERT_JOB_FAILED:
        return cr_sprintf(_("%s: the backup failed, no restore point was saved"), a->source);
    case CR_ALERT_JOB_PARTIAL:
        return cr_sprintf(_("%s: backup saved with %llu unreadable item(s)"), a->source,
                          (unsigned long long)a->count);
    case CR_ALERT_RPO:
        age_text(age, sizeof(age), a->age_ns);
        age_text(rpo, sizeof(rpo), a->rpo_ns);
        if (!*a->snapshot)
            return cr_sprintf(_("%s: never backed up (RPO %s)"), a->source, rpo);
        return cr_sprintf(_("%s: last backup %s ago, RPO %s (%s)"), a->source, age, rpo,
                          a->grade ? _(a->grade) : "");
    case CR_ALERT_FINDINGS:
        return cr_sprintf(_("%s: the hunt found %llu finding(s) at or above high in the new "
                            "snapshot"),
                          a->source, (unsigned long long)a->count);
    case CR_ALERT_RANSOMWARE:
        return cr_sprintf(_("%s: ransomware signals in the backup, snapshot tagged suspect"),
                          a->source);
    case CR_ALERT_HUNT_FAILED:
        return cr_sprintf(_("%s: the hunt or the retention of the backup job failed"),
                          a->source);
    case CR_ALERT_VERIFY:
        return cr_sprintf(_("%s: the vault check found damage or could not run"), a->source);
    }
    return cr_sprintf("%s", a->source);
}

/* What to do, for the body of the mail. */
static const char *advice(cr_alert_kind k)
{
    switch (k) {
    case CR_ALERT_JOB_FAILED:
        return _("Run the job by hand (cleanroom job run NAME) and read its error; until a "
                 "backup succeeds, the restore point of this system gets older.");
    case CR_ALERT_JOB_PARTIAL:
        return _("The snapshot was saved, but some files are missing from it: the job's log "
                 "(journalctl -u cleanroom-job-NAME) names them.");
    case CR_ALERT_RPO:
        return _("No recent restore point: check the job's timer (systemctl list-timers "
                 "'cleanroom-job-*') and its last run (cleanroom status).");
    case CR_ALERT_FINDINGS:
        return _("Treat this system as possibly compromised: cleanroom findings and "
                 "cleanroom clean-point name what was found and the last clean restore point.");
    case CR_ALERT_RANSOMWARE:
        return _("Files were encrypted or renamed as ransomware does: isolate the system now. "
                 "The snapshot is kept as evidence; cleanroom clean-point names the last clean "
                 "one.");
    case CR_ALERT_VERIFY:
        return _("Some restore points may no longer be restorable in full: run cleanroom verify "
                 "--read-data, which names the damaged packs and the files they hold.");
    case CR_ALERT_HUNT_FAILED:
        return _("The backup was saved but was not judged (or not thinned): run cleanroom "
                 "hunt, or cleanroom forget, by hand and read the error.");
    }
    return "";
}

/* ================================================================ journal */

/* One KEY=VALUE line; newlines in the value become spaces (the simple form of
 * the native protocol takes one line per field). */
static int field(cr_buf *b, const char *key, const char *value)
{
    int err;
    if (!value || !*value)
        return 0;
    if ((err = cr_buf_put(b, key, strlen(key))) < 0 || (err = cr_buf_put_u8(b, '=')) < 0)
        return err;
    for (const char *p = value; *p; p++)
        if ((err = cr_buf_put_u8(b, *p == '\n' || *p == '\r' ? ' ' : (uint8_t)*p)) < 0)
            return err;
    return cr_buf_put_u8(b, '\n');
}

static int journal(const cr_alert *a, const char *message)
{
    const char *path = getenv("CLEANROOM_JOURNAL_SOCKET");
    int own = path && *path; /* a socket of our own (tests): no syslog fallback */
    cr_buf b = CR_BUF_INIT;
    char prio[4], count[32];
    struct sockaddr_un sa;
    int fd = -1, err = 0;

    if (!path || !*path)
        path = "/run/systemd/journal/socket";
    snprintf(prio, sizeof(prio), "%d", priority(a->kind));
    snprintf(count, sizeof(count), "%llu", (unsigned long long)a->count);
    if ((err = field(&b, "MESSAGE", message)) < 0 ||
        (err = field(&b, "MESSAGE_ID", message_id(a->kind))) < 0 ||
        (err = field(&b, "PRIORITY", prio)) < 0 ||
        (err = field(&b, "SYSLOG_IDENTIFIER", "cleanroom")) < 0 ||
        (err = field(&b, "CLEANROOM_EVENT", cr_alert_kind_name(a->kind))) < 0 ||
        (err = field(&b, "CLEANROOM_SOURCE", a->source)) < 0 ||
        (err = field(&b, "CLEANROOM_JOB", a->job)) < 0 ||
        (err = field(&b, "CLEANROOM_SNAPSHOT", a->snapshot)) < 0 ||
        (err = field(&b, "CLEANROOM_COUNT", a->count ? count : NULL)) < 0 ||
        (err = field(&b, "CLEANROOM_DETAIL", a->detail)) < 0)
        goto done;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) < sizeof(sa.sun_path) &&
        (fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
        memcpy(sa.sun_path, path, strlen(path));
        if (sendto(fd, b.ptr, b.len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) ==
            (ssize_t)b.len)
            goto done;
    }
    if (own)
        goto done;
    /* no journald: syslog, with the id and the event in the text */
    openlog("cleanroom", LOG_PID, LOG_DAEMON);
    syslog(priority(a->kind), "%s [MESSAGE_ID=%s CLEANROOM_EVENT=%s]", message,
           message_id(a->kind), cr_alert_kind_name(a->kind));
    closelog();
done:
    if (fd >= 0)
        close(fd);
    cr_buf_free(&b);
    return err;
}

/* =================================================================== mail */

typedef struct upload {
    const char *data;
    size_t len, off;
} upload;

static size_t read_cb(char *buf, size_t size, size_t n, void *p)
{
    upload *u = p;
    size_t room = size * n, left = u->len - u->off;
    size_t k = left < room ? left : room;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

/* base64 of `s`, cut in lines of 76 characters ending in CRLF. */
static int put_base64_lines(cr_buf *b, const char *s, size_t len)
{
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = cr_malloc(b64len);
    int err = 0;
    if (!b64)
        return CR_ERROR;
    sodium_bin2base64(b64, b64len, (const unsigned char *)s, len,
                      sodium_base64_VARIANT_ORIGINAL);
    for (size_t o = 0, n = strlen(b64); o < n && err == 0; o += 76) {
        size_t k = n - o < 76 ? n - o : 76;
        if ((err = cr_buf_put(b, b64 + o, k)) == 0)
            err = cr_buf_put(b, "\r\n", 2);
    }
    free(b64);
    return err;
}

static char *password(const cr_mail_config *m)
{
    if (m->password_file) {
        cr_buf b = CR_BUF_INIT;
        if (cr_fs_read_all(&b, AT_FDCWD, m->password_file, 4096) < 0) {
            cr_error_set("cannot read the SMTP password file %s", m->password_file);
            cr_buf_free(&b);
            return NULL;
        }
        size_t n = 0;
        while (n < b.len && b.ptr[n] != '\n' && b.ptr[n] != '\r')
            n++;
        char *p = cr_strndup(b.ptr ? (const char *)b.ptr : "", n);
        sodium_memzero(b.ptr, b.len);
        cr_buf_free(&b);
        return p;
    }
    if (m->password_env) {
        const char *v = getenv(m->password_env);
        if (!v) {
            cr_error_set("the SMTP password variable %s is not set", m->password_env);
            return NULL;
        }
        return cr_strdup(v);
    }
    return cr_strdup("");
}

static int send_mail(const cr_mail_config *m, const char *const *to, size_t nto,
                     const char *event, const char *subject, const char *body)
{
    cr_buf msg = CR_BUF_INIT;
    struct curl_slist *rcpt = NULL;
    CURL *curl = NULL;
    char date[64], from[300], *pass = NULL;
    unsigned char rnd[12];
    char id[25];
    time_t now = time(NULL);
    struct tm tm;
    int err = 0;
    CURLcode rc;

    if ((err = cr_curl_init()) < 0)
        return err;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));
    /* headers: only checked addresses and our own words; the subject is encoded */
    char *head = cr_sprintf("From: cleanroom <%s>\r\nTo: ", m->from);
    if (!head || (err = cr_buf_put(&msg, head, strlen(head))) < 0)
        goto done_oom;
    for (size_t i = 0; i < nto; i++) {
        if ((i && (err = cr_buf_put(&msg, ", ", 2)) < 0) ||
            (err = cr_buf_put(&msg, to[i], strlen(to[i]))) < 0)
            goto done_oom;
    }
    free(head);
    head = cr_sprintf("\r\nDate: %s\r\nMessage-ID: <%s.cleanroom@%s>\r\n"
                      "Subject: =?UTF-8?B?",
                      date, id, strchr(m->from, '@') + 1);
    if (!head || (err = cr_buf_put(&msg, head, strlen(head))) < 0)
        goto done_oom;
    {
        /* one encoded word per line holds at most 75 characters: long subjects are cut */
        size_t sl = strlen(subject) > 42 * 3 ? 42 * 3 : strlen(subject);
        while (sl > 0 && ((unsigned char)subject[sl] & 0xc0) == 0x80)
            sl--; /* never cut a UTF-8 character in two */
        size_t b64len = sodium_base64_encoded_len(sl, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = cr_malloc(b64len);
        if (!b64)
            goto done_oom;
        sodium_bin2base64(b64, b64len, (const unsigned char *)subject, sl,
                          sodium_base64_VARIANT_ORIGINAL);
        err = cr_buf_put(&msg, b64, strlen(b64));
        free(b64);
        if (err < 0)
            goto done_oom;
    }
    free(head);
    head = cr_sprintf("?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                      "Content-Transfer-Encoding: base64\r\nX-Cleanroom-Event: %s\r\n"
                      "Auto-Submitted: auto-generated\r\n\r\n",
                      event);
    if (!head || (err = cr_buf_put(&msg, head, strlen(head))) < 0 ||
        (err = put_base64_lines(&msg, body, strlen(body))) < 0)
        goto done_oom;
    free(head);
    head = NULL;

    if (!(pass = password(m))) {
        err = CR_ERROR;
        goto done;
    }
    if (!(curl = curl_easy_init()))
        goto done_oom;
    snprintf(from, sizeof(from), "<%s>", m->from);
    for (size_t i = 0; i < nto; i++) {
        char r[300];
        snprintf(r, sizeof(r), "<%s>", to[i]);
        struct curl_slist *n = curl_slist_append(rcpt, r);
        if (!n)
            goto done_oom;
        rcpt = n;
    }
    upload up = {(const char *)msg.ptr, msg.len, 0};
    curl_easy_setopt(curl, CURLOPT_URL, m->relay);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (strncmp(m->relay, "smtp://", 7) == 0 && m->starttls)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (m->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, m->ca_file);
    if (m->user) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, m->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, pass);
    }
    if ((rc = curl_easy_perform(curl)) != CURLE_OK) {
        cr_error_set("the alert mail could not be sent through %s: %s%s", m->relay,
                     curl_easy_strerror(rc),
                     rc == CURLE_USE_SSL_FAILED
                         ? " (the relay does not offer STARTTLS: use smtps://, or starttls: "
                           "false for a relay trusted without it)"
                         : "");
        err = CR_ERROR;
    }
    goto done;
done_oom:
    cr_error_set("out of memory writing the alert mail");
    err = CR_ERROR;
done:
    free(head);
    if (pass) {
        sodium_memzero(pass, strlen(pass));
        free(pass);
    }
    curl_slist_free_all(rcpt);
    if (curl)
        curl_easy_cleanup(curl);
    cr_buf_free(&msg);
    return err;
}

int cr_alert_send(const cr_jobs *cfg, const cr_job *job, const cr_alert *a)
{
    const cr_mail_config *m = cfg ? &cfg->mail : NULL;
    const char **to = NULL;
    size_t nto = 0;
    char *subject = NULL, *msg = NULL, *body = NULL;
    int err = 0, mail = 0;

    /* the journal in English: what an administrator greps for, whatever the mail's language */
    cr_i18n_begin("en");
    msg = summary(a);
    cr_i18n_end();
    if (!msg)
        return CR_ERROR;
    if ((err = journal(a, msg)) < 0)
        goto done;

    /* recipients: the job's mail targets; without a job, mail.to. With a daily digest, the
     * journal only: the digest mails the day's events at once (cr_digest_send). */
    if (m && m->relay && m->digest == CR_DIGEST_NONE) {
        to = calloc((job ? job->nnotify : 0) + m->nto + 1, sizeof(*to));
        if (!to) {
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; job && i < job->nnotify; i++) {
            if (strncmp(job->notify[i], "mail:", 5) == 0) {
                to[nto++] = job->notify[i] + 5;
                mail = 1;
            } else if (strcmp(job->notify[i], "mail") == 0) {
                for (size_t k = 0; k < m->nto; k++)
                    to[nto++] = m->to[k];
                mail = 1;
            }
        }
        if (!job) {
            for (size_t k = 0; k < m->nto; k++)
                to[nto++] = m->to[k];
            mail = nto > 0;
        }
    }
    if (!mail)
        goto done;
    cr_i18n_begin(m->language ? m->language : "en");
    subject = summary(a);
    if (subject)
        body = cr_sprintf("%s\n\n%s%s%s%s%s%s%s%s\n\n%s\n\n-- \ncleanroom %s\n", subject,
                          a->job ? _("Job: ") : "", a->job ? a->job : "", a->job ? "\n" : "",
                          *a->snapshot ? _("Snapshot: ") : "", a->snapshot,
                          *a->snapshot ? "\n" : "", a->detail ? _("Detail: ") : "",
                          a->detail ? a->detail : "", advice(a->kind), CR_VERSION_STRING);
    cr_i18n_end();
    if (!subject || !body) {
        err = CR_ERROR;
        goto done;
    }
    {
        char *full = cr_sprintf("[cleanroom] %s", subject);
        if (!full) {
            err = CR_ERROR;
            goto done;
        }
        err = send_mail(m, to, nto, cr_alert_kind_name(a->kind), full, body);
        free(full);
    }
done:
    free(to);
    free(msg);
    free(subject);
    free(body);
    return err;
}

/* ================================================================= policy */

int cr_job_alerts(cr_alert **out, size_t *n, cr_repo *repo, const cr_job *job,
                  const cr_job_result *r)
{
    cr_alert *a = cr_calloc(5, sizeof(*a));
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (!a)
        return CR_ERROR;
    for (int i = 0; i < 5; i++) {
        a[i].job = job->name;
        a[i].source = job->source ? job->source : job->name;
        if (r->snap)
            cr_id_to_hex(a[i].snapshot, &r->snap->id);
    }
    if (job->verify_subset) {
        if (r->verify != 0) {
            a[k].kind = CR_ALERT_VERIFY;
            a[k].count = r->problems;
            a[k++].detail = r->message;
        }
    } else if (!r->snap) {
        a[k].kind = CR_ALERT_JOB_FAILED;
        a[k++].detail = r->message;
    } else {
        if (r->watched && r->ransom.suspect) {
            a[k].kind = CR_ALERT_RANSOMWARE;
            a[k].count = r->ransom.ransom_named + r->ransom.near_random;
            a[k++].detail = r->ransom.reason;
        }
        if (r->backup == CR_EPARTIAL) {
            a[k].kind = CR_ALERT_JOB_PARTIAL;
            a[k++].count = r->snap->errors;
        }
        if (r->findings && (r->hunt == 0 || r->hunt == CR_EPARTIAL)) {
            /* the hunt counts every finding; an alert is for those at or above high */
            cr_finding *f = NULL;
            size_t nf = 0;
            cr_findings_query q = {job->source, &r->snap->id, CR_SEV_HIGH};
            if (cr_findings_list(&f, &nf, NULL, repo, &q) == 0 && nf) {
                a[k].kind = CR_ALERT_FINDINGS;
                a[k++].count = nf;
            }
            cr_findings_free(f, nf);
            cr_error_clear();
        }
        if ((r->hunt < 0 && r->hunt != CR_EPARTIAL) || r->forget < 0) {
            a[k].kind = CR_ALERT_HUNT_FAILED;
            a[k++].detail = r->message;
        }
    }
    if (!k) {
        free(a);
        return 0;
    }
    *out = a;
    *n = k;
    return 0;
}

/* ================================================================= digest */

/* Append printf-style text to b. @return 0 or CR_ERROR (out of memory). */
static int buf_printf(cr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(cr_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CR_ERROR;
    n = cr_buf_put(b, s, (size_t)n);
    free(s);
    return n;
}

/* Add `addr` to to[0..*n) unless it is there already. */
static void add_rcpt(const char **to, size_t *n, const char *addr)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(to[i], addr) == 0)
            return;
    to[(*n)++] = addr;
}

int cr_digest_send(size_t *nevents, cr_repo *repo, const cr_jobs *jobs, int64_t now_ns)
{
    const cr_mail_config *m = &jobs->mail;
    cr_job_record *recs = NULL;
    size_t nrecs = 0, nto = 0, nev = 0, maxto = m->nto;
    cr_status st = {0};
    const char **to = NULL;
    cr_buf lines = CR_BUF_INIT;
    char *subject = NULL, *body = NULL, since_t[48];
    int err;

    if (nevents)
        *nevents = 0;
    if (!now_ns)
        now_ns = cr_time_now_ns();
    const int64_t since_ns = now_ns - CR_DIGEST_PERIOD_NS;
    if (!m->relay) {
        cr_error_set("the jobs file has no mail relay (mail: relay:) to send the digest through");
        return CR_EINPUT;
    }
    for (size_t i = 0; i < jobs->n; i++)
        maxto += jobs->jobs[i].nnotify;
    if (!(to = calloc(maxto + 1, sizeof(*to)))) {
        cr_error_set("out of memory");
        return CR_ERROR;
    }
    /* everyone who would have had a mail of an event: mail.to, and the mail:ADDRESS
     * targets of the jobs */
    for (size_t i = 0; i < jobs->n; i++)
        for (size_t k = 0; k < jobs->jobs[i].nnotify; k++) {
            const char *t = jobs->jobs[i].notify[k];
            if (strcmp(t, "mail") == 0)
                for (size_t r = 0; r < m->nto; r++)
                    add_rcpt(to, &nto, m->to[r]);
            else if (strncmp(t, "mail:", 5) == 0)
                add_rcpt(to, &nto, t + 5);
        }
    for (size_t r = 0; r < m->nto; r++)
        add_rcpt(to, &nto, m->to[r]);
    if (!nto) {
        cr_error_set("nobody to send the digest to: give mail.to, or mail targets in the jobs");
        err = CR_EINPUT;
        goto done;
    }
    if ((err = cr_job_records_load(&recs, &nrecs, NULL, repo)) < 0 ||
        (err = cr_status_get(&st, repo, jobs, now_ns)) < 0)
        goto done;

    cr_i18n_begin(m->language ? m->language : "en");
    /* the alerts the runs of the period raised, oldest first, each as its mail's subject */
    for (size_t i = 0; i < nrecs && err == 0; i++) {
        const cr_job_record *r = &recs[i];
        if (r->end_ns < since_ns || r->end_ns >= now_ns)
            continue;
        for (size_t k = 0; k < r->nalerts && err == 0; k++) {
            cr_alert a = {0};
            char t[48], *s;
            a.kind = r->alerts[k].kind;
            a.job = r->job;
            a.source = r->source ? r->source : r->job;
            a.count = r->alerts[k].count;
            a.detail = r->alerts[k].detail;
            if (!(s = summary(&a))) {
                err = CR_ERROR;
                break;
            }
            cr_time_format(t, sizeof(t), r->end_ns);
            err = buf_printf(&lines, "- %s  %s\n", t, s);
            if (err == 0 && a.detail)
                err = buf_printf(&lines, "  %s%s\n", _("Detail: "), a.detail);
            free(s);
            nev++;
        }
    }
    /* then every source of a job of this file past its RPO now (a source only the records
     * name belongs to another jobs file, which has its own digest) */
    for (size_t i = 0; i < st.n && err == 0; i++) {
        const cr_source_status *x = &st.sources[i];
        char *s;
        if (x->grade == CR_RPO_OK || x->grade == CR_RPO_UNKNOWN || !x->job ||
            !cr_jobs_find(jobs, x->job))
            continue;
        cr_alert a = {0};
        a.kind = CR_ALERT_RPO;
        a.source = x->source;
        a.job = x->job;
        a.age_ns = x->age_ns;
        a.rpo_ns = x->rpo_ns;
        a.grade = cr_rpo_grade_name(x->grade);
        if (x->has_last)
            cr_id_to_hex(a.snapshot, &x->last);
        if (!(s = summary(&a))) {
            err = CR_ERROR;
            break;
        }
        err = buf_printf(&lines, "- %s\n", s);
        free(s);
        nev++;
    }
    cr_time_format(since_t, sizeof(since_t), since_ns);
    if (err == 0 && nev) {
        subject = cr_sprintf(_("[cleanroom] daily digest: %zu event(s)"), nev);
        body = cr_sprintf(_("%zu event(s) since %s:\n\n%.*s\ncleanroom status shows the "
                            "state of every source.\n\n-- \ncleanroom %s\n"),
                          nev, since_t, (int)lines.len, lines.ptr ? (const char *)lines.ptr : "",
                          CR_VERSION_STRING);
        if (!subject || !body)
            err = CR_ERROR;
    }
    cr_i18n_end();
    if (err < 0) {
        cr_error_set("out of memory writing the digest");
        goto done;
    }
    if (nev)
        err = send_mail(m, to, nto, "digest", subject, body);
    if (err == 0 && nevents)
        *nevents = nev;
done:
    free(subject);
    free(body);
    free(to);
    cr_buf_free(&lines);
    cr_status_clear(&st);
    cr_job_records_free(recs, nrecs);
    return err;
}
