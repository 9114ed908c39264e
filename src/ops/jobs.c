/*
 * Jobs: the file that says what to back up and when (docs/jobs.md), running
 * one job, and the systemd units that schedule them.
 *
 * The file:
 *
 *     vault: /srv/cleanroom/vault          # optional: the vault of the scheduled runs
 *     password_file: /etc/cleanroom/pass   # optional: its passphrase, for the scheduled runs
 *     jobs:
 *       - name: dpi                        # letters, digits, - _ . (a unit name)
 *         source: dpi-server               # default: the name
 *         paths: [/srv/dpi, /etc]          # or images: [/var/lib/libvirt/images/dpi.qcow2]
 *         exclude: ["*.tmp"]
 *         root: /                          # optional, as backup --root
 *         schedule: daily 02:00            # "every 4h", "every 30m", or systemd OnCalendar
 *         rpo: 26h                         # y m w d h, as forget --keep-within
 *         retention: {keep_daily: 14, keep_weekly: 8, keep_monthly: 12}
 *         hunt: true                       # default
 *         notify: [syslog, "mail:it-oncall@chu.example"]
 *
 * It is read by util/yaml.c, the reader of recovery plans: every problem is
 * collected with its line and column, and a file with any error runs nothing
 * (a scheduler must not start half of a file a technician was halfway through
 * editing).
 *
 * Checks: known keys only (with the closest one suggested); names present,
 * unique and fit for a unit name; sources unique (two jobs writing the same
 * source would each see the other's snapshot as its parent); exactly one of
 * paths and images; paths absolute (the units run from /); schedules and
 * durations readable; an RPO shorter than the interval between two runs
 * (warning: the source would be late every day); notification targets known.
 */
#include "cleanroom/jobs.h"
#include "cleanroom/hunt.h"
#include "util/util.h"
#include "util/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* =============================================================== freeing */

static void strv_free_n(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void job_clear(cr_job *j)
{
    free(j->name);
    free(j->source);
    strv_free_n(j->paths, j->npaths);
    strv_free_n(j->images, j->nimages);
    strv_free_n(j->excludes, j->nexcludes);
    free(j->root);
    free(j->schedule);
    free(j->on_calendar);
    strv_free_n(j->notify, j->nnotify);
}

void cr_jobs_free(cr_jobs *jobs)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < jobs->n; i++)
        job_clear(&jobs->jobs[i]);
    free(jobs->jobs);
    free(jobs->file);
    free(jobs->vault);
    free(jobs->password_file);
    free(jobs->mail.relay);
    free(jobs->mail.from);
    strv_free_n(jobs->mail.to, jobs->mail.nto);
    free(jobs->mail.user);
    free(jobs->mail.password_file);
    free(jobs->mail.password_env);
    free(jobs->mail.language);
    free(jobs->mail.ca_file);
    free(jobs->mail.digest_on_calendar);
    free(jobs);
}

const cr_job *cr_jobs_find(const cr_jobs *jobs, const char *name)
{
    for (size_t i = 0; jobs && i < jobs->n; i++)
        if (strcmp(jobs->jobs[i].name, name) == 0)
            return &jobs->jobs[i];
    return NULL;
}

/* ============================================================== schedule */

/* The characters of systemd's calendar events ("Mon..Fri *-*-* 02:00:00",
 * "hourly", "*-*-01 03:30 Europe/Paris"): a schedule made of anything else is
 * refused here rather than by systemd at install time — and nothing of it can
 * end the line of the unit file it is written into. */
static int calendar_chars(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isalnum(*p) && !strchr(" *-:/.,~+_", *p))
            return 0;
    return 1;
}

static int parse_hhmm(const char *s, unsigned int *h, unsigned int *m)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    unsigned long hh = strtoul(s, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1]))
        return -1;
    unsigned long mm = strtoul(end + 1, &end, 10);
    if (*end || hh > 23 || mm > 59)
        return -1;
    *h = (unsigned int)hh;
    *m = (unsigned int)mm;
    return 0;
}

int cr_job_schedule_parse(char **out, int64_t *interval_ns, const char *schedule)
{
    const int64_t H = 3600LL * 1000000000LL, M = 60LL * 1000000000LL;
    unsigned int h, m;
    *out = NULL;
    if (interval_ns)
        *interval_ns = 0;
    if (!schedule || !*schedule) {
        cr_error_set("the schedule is empty: write e.g. `daily 02:00` or `every 4h`");
        return CR_EINPUT;
    }
    if (strncmp(schedule, "daily ", 6) == 0) {
        if (parse_hhmm(schedule + 6, &h, &m) < 0) {
            cr_error_set("`%s`: after `daily` comes a time HH:MM (00:00 to 23:59), e.g. `daily "
                         "02:00`",
                         schedule);
            return CR_EINPUT;
        }
        if (interval_ns)
            *interval_ns = 24 * H;
        *out = cr_sprintf("*-*-* %02u:%02u:00", h, m);
        return *out ? 0 : CR_ERROR;
    }
    if (strncmp(schedule, "every ", 6) == 0) {
        const char *p = schedule + 6;
        char *end;
        unsigned long n = isdigit((unsigned char)*p) ? strtoul(p, &end, 10) : 0;
        if (n > 0 && (strcmp(end, "h") == 0 || strcmp(end, "hours") == 0 ||
                      strcmp(end, "hour") == 0) && n <= 24 && 24 % n == 0) {
            if (interval_ns)
                *interval_ns = (int64_t)n * H;
            *out = n == 24 ? cr_strdup("*-*-* 00:00:00") : cr_sprintf("*-*-* 00/%lu:00:00", n);
            return *out ? 0 : CR_ERROR;
        }
        if (n > 0 && (strcmp(end, "m") == 0 || strcmp(end, "min") == 0 ||
                      strcmp(end, "minutes") == 0) && n <= 60 && 60 % n == 0) {
            if (interval_ns)
                *interval_ns = (int64_t)n * M;
            *out = n == 60 ? cr_strdup("*-*-* *:00:00") : cr_sprintf("*-*-* *:00/%lu:00", n);
            return *out ? 0 : CR_ERROR;
        }
        /* a calendar repeats within a day: 5h would run at 0, 5, 10, 15, 20 and again at 0 */
        cr_error_set("`%s`: write `every Nh` with N dividing 24 (1, 2, 3, 4, 6, 8, 12, 24) or "
                     "`every Nm` with N dividing 60, or a systemd OnCalendar expression",
                     schedule);
        return CR_EINPUT;
    }
    if (!calendar_chars(schedule)) {
        cr_error_set("`%s` is not a schedule: write `daily 02:00`, `every 4h`, or a systemd "
                     "OnCalendar expression (man systemd.time)",
                     schedule);
        return CR_EINPUT;
    }
    if (interval_ns) {
        if (strcmp(schedule, "hourly") == 0)
            *interval_ns = H;
        else if (strcmp(schedule, "daily") == 0)
            *interval_ns = 24 * H;
        else if (strcmp(schedule, "weekly") == 0)
            *interval_ns = 7 * 24 * H;
    }
    *out = cr_strdup(schedule);
    return *out ? 0 : CR_ERROR;
}

/* ================================================================ reading */

typedef struct ctx {
    cr_ydoc y;
} ctx;

#define ERR(c, node, ...) cr_ydoc_error(&(c)->y, (node)->line, (node)->col, __VA_ARGS__)
#define WARN(c, node, ...) cr_ydoc_warning(&(c)->y, (node)->line, (node)->col, __VA_ARGS__)
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* A scalar's text (a copy), or NULL with an error. */
static char *text(ctx *c, const cr_ynode *v, const char *what)
{
    if (v->type != CR_YSCALAR) {
        ERR(c, v, "%s must be a text, got %s", what, cr_yaml_kind(v));
        return NULL;
    }
    if (!*v->s) {
        ERR(c, v, "%s is empty", what);
        return NULL;
    }
    char *s = strdup(v->s);
    if (!s)
        c->y.oom = 1;
    return s;
}

/* A list of texts; a single text is taken as a list of one. */
static void text_list(ctx *c, const cr_ynode *v, const char *what, int absolute, char ***out,
                      size_t *n)
{
    const cr_ynode *const *items = (const cr_ynode *const *)&v;
    size_t count = 1;
    if (v->type == CR_YSEQ) {
        items = (const cr_ynode *const *)v->kids;
        count = v->n;
    } else if (v->type != CR_YSCALAR) {
        ERR(c, v, "%s must be a list of texts, got %s", what, cr_yaml_kind(v));
        return;
    }
    if (count == 0) {
        ERR(c, v, "%s is an empty list", what);
        return;
    }
    if (!(*out = calloc(count, sizeof(char *)))) {
        c->y.oom = 1;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char *s = text(c, items[i], what);
        if (!s)
            continue;
        if (absolute && s[0] != '/') {
            ERR(c, items[i],
                "%s: '%s' is not an absolute path (a scheduled job runs from /; write the "
                "full path)",
                what, cr_yaml_show(s));
            free(s);
            continue;
        }
        (*out)[(*n)++] = s;
    }
}

static int boolean(ctx *c, const cr_ynode *v, const char *what, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "Yes", "On", "TRUE"};
    static const char *const no[] = {"false", "no", "off", "False", "No", "Off", "FALSE"};
    if (v->type == CR_YSCALAR) {
        for (size_t i = 0; i < NKEYS(yes); i++) {
            if (strcmp(v->s, yes[i]) == 0)
                return *out = 1, 0;
            if (strcmp(v->s, no[i]) == 0)
                return *out = 0, 0;
        }
    }
    ERR(c, v, "%s must be true or false, got %s", what,
        v->type == CR_YSCALAR ? cr_yaml_show(v->s) : cr_yaml_kind(v));
    return -1;
}

static int duration(ctx *c, const cr_ynode *v, const char *what, int64_t *out)
{
    if (v->type != CR_YSCALAR || cr_forget_duration_parse(out, v->s) < 0 || *out <= 0) {
        ERR(c, v, "%s must be a duration such as 26h, 2d, 1w (units y m w d h), got %s", what,
            v->type == CR_YSCALAR ? cr_yaml_show(v->s) : cr_yaml_kind(v));
        cr_error_clear();
        return -1;
    }
    return 0;
}

static int count(ctx *c, const cr_ynode *v, const char *what, unsigned int *out)
{
    char *end;
    unsigned long x = 0;
    if (v->type == CR_YSCALAR && isdigit((unsigned char)v->s[0])) {
        errno = 0;
        x = strtoul(v->s, &end, 10);
        if (!errno && !*end && x >= 1 && x <= 100000) {
            *out = (unsigned int)x;
            return 0;
        }
    }
    ERR(c, v, "%s must be a number from 1 to 100000, got %s", what,
        v->type == CR_YSCALAR ? cr_yaml_show(v->s) : cr_yaml_kind(v));
    return -1;
}

/* A threshold: 0 (the test off) to `max`. */
static int threshold(ctx *c, const cr_ynode *v, const char *what, unsigned int max,
                     unsigned int *out)
{
    char *end;
    unsigned long x = 0;
    if (v->type == CR_YSCALAR && isdigit((unsigned char)v->s[0])) {
        errno = 0;
        x = strtoul(v->s, &end, 10);
        if (!errno && !*end && x <= max) {
            *out = (unsigned int)x;
            return 0;
        }
    }
    ERR(c, v, "%s must be a number from 0 (off) to %u, got %s", what, max,
        v->type == CR_YSCALAR ? cr_yaml_show(v->s) : cr_yaml_kind(v));
    return -1;
}

/* `ransomware: {renamed: 20, changed: 20, percent: 10, notes: 5}` (each optional). */
static void read_ransomware(ctx *c, const cr_ynode *v, cr_job *j)
{
    static const char *const keys[] = {"renamed", "changed", "percent", "notes"};
    unsigned int *fields[] = {&j->ransom.renamed, &j->ransom.changed, &j->ransom.percent,
                              &j->ransom.notes};
    cr_ynode *x;
    if (v->type != CR_YMAP) {
        ERR(c, v, "ransomware must be a mapping of thresholds (renamed:, changed:, percent:, "
                  "notes:), got %s",
            cr_yaml_kind(v));
        return;
    }
    cr_yaml_check_keys(&c->y, v, keys, NKEYS(keys), "in ransomware");
    for (size_t i = 0; i < NKEYS(keys); i++)
        if ((x = cr_yaml_get(v, keys[i], NULL)))
            threshold(c, x, keys[i], i == 2 ? 100 : 100000000, fields[i]);
    if (!j->ransom.renamed && !j->ransom.changed && !j->ransom.notes)
        WARN(c, v, "every ransomware threshold is 0: nothing can make a snapshot suspect "
                   "(write ransomware_check: false to say so)");
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 100 || s[0] == '.' || s[0] == '-')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return 1;
}

/* As backup --source: no '/', ':' or control characters. */
static int valid_source(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':' || *p == '/')
            return 0;
    return 1;
}

static void read_retention(ctx *c, const cr_ynode *v, cr_job *j)
{
    static const char *const keys[] = {"keep_last",    "keep_hourly", "keep_daily",
                                       "keep_weekly",  "keep_monthly", "keep_yearly",
                                       "keep_within"};
    unsigned int *fields[] = {&j->keep_last,   &j->keep_hourly,  &j->keep_daily,
                              &j->keep_weekly, &j->keep_monthly, &j->keep_yearly};
    cr_ynode *x;
    int any = 0;
    if (v->type != CR_YMAP) {
        ERR(c, v, "retention must be a mapping of keep rules (keep_daily: 14 ...), got %s",
            cr_yaml_kind(v));
        return;
    }
    cr_yaml_check_keys(&c->y, v, keys, NKEYS(keys), "in retention");
    for (size_t i = 0; i < 6; i++)
        if ((x = cr_yaml_get(v, keys[i], NULL)) && count(c, x, keys[i], fields[i]) == 0)
            any = 1;
    if ((x = cr_yaml_get(v, "keep_within", NULL)) && duration(c, x, "keep_within",
                                                                &j->keep_within_ns) == 0)
        any = 1;
    if (!any && v->n == 0)
        ERR(c, v, "retention has no keep rule: give at least one (keep_daily: 14 ...), or "
                  "remove retention to keep every snapshot");
    j->has_retention = any;
}

/* A mail address as it may go into an SMTP command and a header: one '@', no
 * space, control character, angle bracket, comma, semicolon or quote. */
static int mail_address(const char *a)
{
    const char *at = strchr(a, '@');
    if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254)
        return 0;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("<>,;\"()[]\\", *p))
            return 0;
    return 1;
}

static void read_mail(ctx *c, const cr_ynode *v, cr_mail_config *m)
{
    static const char *const keys[] = {"relay", "starttls", "from", "to", "user",
                                       "password_file", "password_env", "language",
                                       "ca_file", "digest"};
    cr_ynode *x;
    if (v->type != CR_YMAP) {
        ERR(c, v, "mail must be a mapping (relay:, from:, to: ...), got %s", cr_yaml_kind(v));
        return;
    }
    cr_yaml_check_keys(&c->y, v, keys, NKEYS(keys), "in mail");
    if (!(x = cr_yaml_get(v, "relay", NULL)))
        ERR(c, v, "mail has no `relay:` (e.g. relay: smtp://smtp.chu.example:587)");
    else if ((m->relay = text(c, x, "relay")) && strncmp(m->relay, "smtp://", 7) != 0 &&
             strncmp(m->relay, "smtps://", 8) != 0)
        ERR(c, x, "relay '%s' must start with smtp:// (STARTTLS) or smtps:// (TLS)",
            cr_yaml_show(m->relay));
    m->starttls = 1;
    if ((x = cr_yaml_get(v, "starttls", NULL)))
        boolean(c, x, "starttls", &m->starttls);
    if (!(x = cr_yaml_get(v, "from", NULL)))
        ERR(c, v, "mail has no `from:` address");
    else if ((m->from = text(c, x, "from")) && !mail_address(m->from))
        ERR(c, x, "from '%s' is not a mail address", cr_yaml_show(m->from));
    if ((x = cr_yaml_get(v, "to", NULL))) {
        text_list(c, x, "to", 0, &m->to, &m->nto);
        for (size_t i = 0; i < m->nto; i++)
            if (!mail_address(m->to[i]))
                ERR(c, x->type == CR_YSEQ ? x->kids[i] : x, "to: '%s' is not a mail address",
                    cr_yaml_show(m->to[i]));
    }
    if ((x = cr_yaml_get(v, "user", NULL)))
        m->user = text(c, x, "user");
    if ((x = cr_yaml_get(v, "password_file", NULL)) &&
        (m->password_file = text(c, x, "password_file")) && m->password_file[0] != '/')
        ERR(c, x, "password_file '%s' is not an absolute path", cr_yaml_show(m->password_file));
    if ((x = cr_yaml_get(v, "password_env", NULL)))
        m->password_env = text(c, x, "password_env");
    if ((x = cr_yaml_get(v, "ca_file", NULL)) && (m->ca_file = text(c, x, "ca_file")) &&
        m->ca_file[0] != '/')
        ERR(c, x, "ca_file '%s' is not an absolute path", cr_yaml_show(m->ca_file));
    if ((x = cr_yaml_get(v, "language", NULL)) && (m->language = text(c, x, "language")) &&
        strcmp(m->language, "en") != 0 && strcmp(m->language, "fr") != 0)
        ERR(c, x, "language must be en or fr, got '%s'", cr_yaml_show(m->language));
    if ((x = cr_yaml_get(v, "digest", NULL))) {
        /* `digest: daily` or `digest: daily HH:MM` (07:00 by default); `none`: per event */
        unsigned int h = 7, mi = 0;
        if (x->type == CR_YSCALAR && strcmp(x->s, "none") == 0) {
            m->digest = CR_DIGEST_NONE;
        } else if (x->type == CR_YSCALAR && strncmp(x->s, "daily", 5) == 0 &&
                   (x->s[5] == '\0' || (x->s[5] == ' ' && parse_hhmm(x->s + 6, &h, &mi) == 0))) {
            char cal[32];
            snprintf(cal, sizeof(cal), "*-*-* %02u:%02u:00", h, mi);
            m->digest = CR_DIGEST_DAILY;
            if (!(m->digest_on_calendar = strdup(cal)))
                c->y.oom = 1;
        } else {
            ERR(c, x, "digest must be `daily`, `daily HH:MM` (one mail a day listing the "
                      "events) or `none` (one mail per event), got %s",
                x->type == CR_YSCALAR ? cr_yaml_show(x->s) : cr_yaml_kind(x));
        }
    }
}

static void read_notify(ctx *c, const cr_ynode *v, cr_job *j, const cr_mail_config *m,
                        int has_mail)
{
    text_list(c, v, "notify", 0, &j->notify, &j->nnotify);
    for (size_t i = 0; i < j->nnotify; i++) {
        const char *t = j->notify[i];
        const cr_ynode *at = v->type == CR_YSEQ ? v->kids[i] : v;
        if (strcmp(t, "syslog") == 0 || strcmp(t, "journald") == 0)
            continue;
        if (strcmp(t, "mail") == 0 || strncmp(t, "mail:", 5) == 0) {
            if (t[4] == ':' && !mail_address(t + 5))
                ERR(c, at, "notify: '%s' is not a mail address (write mail:name@example.org)",
                    cr_yaml_show(t + 5));
            else if (!has_mail)
                ERR(c, at, "notify: %s needs a `mail:` section at the top of the file (relay, "
                           "from) to send through",
                    cr_yaml_show(t));
            else if (t[4] == '\0' && m->nto == 0)
                ERR(c, at, "notify: `mail` sends to mail.to, which is empty: add `to:` to the "
                           "mail section, or write mail:ADDRESS");
            continue;
        }
        ERR(c, at, "notify: unknown target '%s' (write syslog, mail, or mail:ADDRESS)",
            cr_yaml_show(t));
    }
}

static void read_job(ctx *c, const cr_ynode *v, cr_job *j, const cr_jobs *jobs, int has_mail)
{
    static const char *const keys[] = {"name",     "source",   "paths",     "images",
                                       "exclude",  "root",     "schedule",  "rpo",
                                       "retention", "hunt",    "notify",
                                       "ransomware_check", "ransomware", "verify"};
    cr_ynode *x, *k;
    int64_t interval = 0;

    j->line = v->line;
    j->hunt = 1;
    j->ransomware_check = 1;
    j->ransom = (cr_ransom_thresholds)CR_RANSOM_THRESHOLDS_DEFAULT;
    if (v->type != CR_YMAP) {
        ERR(c, v, "a job must be a mapping (name:, paths:, schedule: ...), got %s",
            cr_yaml_kind(v));
        return;
    }
    cr_yaml_check_keys(&c->y, v, keys, NKEYS(keys), "in a job");
    if (!(x = cr_yaml_get(v, "name", NULL)))
        ERR(c, v, "this job has no `name:`");
    else if ((j->name = text(c, x, "name")) && !valid_name(j->name))
        ERR(c, x, "name '%s' may hold only letters, digits, '-', '_' and '.' (it names the "
                  "job's systemd units), at most 100",
            cr_yaml_show(j->name));
    if ((x = cr_yaml_get(v, "verify", NULL))) {
        /* a verify job: reads part of the vault, backs up nothing */
        static const char *const no[] = {"source", "paths", "images", "exclude", "root",
                                         "rpo", "retention", "hunt", "ransomware_check",
                                         "ransomware"};
        unsigned int m = 0;
        if (count(c, x, "verify (read one M-th of the packs per run)", &m) == 0) {
            if (m > 1000)
                ERR(c, x, "verify: at most 1000 parts (every pack is read once in M runs)");
            j->verify_subset = m;
        }
        j->hunt = j->ransomware_check = 0;
        for (size_t i = 0; i < NKEYS(no); i++) {
            cr_ynode *key = NULL;
            cr_yaml_get(v, no[i], &key);
            if (key)
                ERR(c, key, "a verify job backs up nothing: `%s` belongs in a job of its own",
                    no[i]);
        }
        if (!(x = cr_yaml_get(v, "schedule", NULL))) {
            ERR(c, v, "job '%s' has no `schedule:` (e.g. `daily 04:00`)", cr_yaml_show(j->name));
        } else if ((j->schedule = text(c, x, "schedule")) &&
                   cr_job_schedule_parse(&j->on_calendar, NULL, j->schedule) < 0) {
            ERR(c, x, "%s", cr_error_last());
            cr_error_clear();
        }
        if ((x = cr_yaml_get(v, "notify", NULL)))
            read_notify(c, x, j, &jobs->mail, has_mail);
        return;
    }
    if ((x = cr_yaml_get(v, "source", NULL))) {
        if ((j->source = text(c, x, "source")) && !valid_source(j->source))
            ERR(c, x, "source '%s' must be a plain name (no '/', ':' or control characters)",
                cr_yaml_show(j->source));
    } else if (j->name && !(j->source = strdup(j->name))) {
        c->y.oom = 1;
    }
    if ((x = cr_yaml_get(v, "paths", NULL)))
        text_list(c, x, "paths", 1, &j->paths, &j->npaths);
    if ((x = cr_yaml_get(v, "images", &k))) {
        text_list(c, x, "images", 1, &j->images, &j->nimages);
        if (cr_yaml_get(v, "paths", NULL))
            ERR(c, k, "a job has `paths` or `images`, not both: make two jobs (two sources)");
    }
    if (!cr_yaml_get(v, "paths", NULL) && !cr_yaml_get(v, "images", NULL))
        ERR(c, v, "job '%s' has neither `paths:` nor `images:`: what does it back up?",
            cr_yaml_show(j->name));
    if ((x = cr_yaml_get(v, "exclude", NULL)))
        text_list(c, x, "exclude", 0, &j->excludes, &j->nexcludes);
    if ((x = cr_yaml_get(v, "root", NULL))) {
        if ((j->root = text(c, x, "root")) && j->root[0] != '/')
            ERR(c, x, "root '%s' is not an absolute path", cr_yaml_show(j->root));
        if (cr_yaml_get(v, "images", NULL))
            ERR(c, x, "root applies to paths; the system volume of disk images is found by "
                      "itself");
    }
    if (!(x = cr_yaml_get(v, "schedule", NULL))) {
        ERR(c, v, "job '%s' has no `schedule:` (e.g. `daily 02:00`, `every 4h`)",
            cr_yaml_show(j->name));
    } else if ((j->schedule = text(c, x, "schedule"))) {
        if (cr_job_schedule_parse(&j->on_calendar, &interval, j->schedule) < 0) {
            if (!*cr_error_last())
                c->y.oom = 1;
            else
                ERR(c, x, "%s", cr_error_last());
            cr_error_clear();
        }
    }
    if (!(x = cr_yaml_get(v, "rpo", NULL)))
        WARN(c, v, "job '%s' has no `rpo:` (e.g. rpo: 26h): `status` cannot tell when it is "
                   "late",
             cr_yaml_show(j->name));
    else if (duration(c, x, "rpo", &j->rpo_ns) == 0 && interval > 0 && j->rpo_ns < interval)
        WARN(c, x, "the rpo (%s) is shorter than the time between two runs of the schedule: "
                   "the source will be late before every run",
             cr_yaml_show(x->s));
    if ((x = cr_yaml_get(v, "retention", NULL)))
        read_retention(c, x, j);
    if ((x = cr_yaml_get(v, "hunt", NULL)))
        boolean(c, x, "hunt", &j->hunt);
    if ((x = cr_yaml_get(v, "ransomware_check", NULL)))
        boolean(c, x, "ransomware_check", &j->ransomware_check);
    if ((x = cr_yaml_get(v, "ransomware", NULL)))
        read_ransomware(c, x, j);
    if ((x = cr_yaml_get(v, "notify", NULL)))
        read_notify(c, x, j, &jobs->mail, has_mail);
}

static void read_file_(ctx *c, const cr_ynode *root, cr_jobs *jobs)
{
    static const char *const keys[] = {"vault", "password_file", "mail", "jobs"};
    cr_ynode *x, *list;
    if (root->type != CR_YMAP) {
        ERR(c, root, "a jobs file is a mapping with a `jobs:` list, got %s",
            cr_yaml_kind(root));
        return;
    }
    cr_yaml_check_keys(&c->y, root, keys, NKEYS(keys), "at the top of the jobs file");
    if ((x = cr_yaml_get(root, "vault", NULL)) && (jobs->vault = text(c, x, "vault")) &&
        jobs->vault[0] != '/' && !cr_repo_is_remote(jobs->vault))
        /* the units run from /, and `status` from anywhere */
        ERR(c, x, "vault '%s' is not an absolute path (or a vault server's https:// address)",
            cr_yaml_show(jobs->vault));
    if ((x = cr_yaml_get(root, "password_file", NULL))) {
        if ((jobs->password_file = text(c, x, "password_file")) &&
            jobs->password_file[0] != '/')
            ERR(c, x, "password_file '%s' is not an absolute path",
                cr_yaml_show(jobs->password_file));
    }
    if ((x = cr_yaml_get(root, "mail", NULL)))
        read_mail(c, x, &jobs->mail);
    if (!(list = cr_yaml_get(root, "jobs", NULL))) {
        ERR(c, root, "the jobs file has no `jobs:` list (see docs/jobs.md)");
        return;
    }
    if (list->type != CR_YSEQ || list->n == 0) {
        ERR(c, list, "`jobs:` must be a list of jobs (lines starting with '- name:'), got %s",
            list->type == CR_YSEQ ? "an empty list" : cr_yaml_kind(list));
        return;
    }
    if (list->n > CR_JOBS_MAX_JOBS) {
        ERR(c, list, "more than %u jobs: split the file", CR_JOBS_MAX_JOBS);
        return;
    }
    if (!(jobs->jobs = calloc(list->n, sizeof(*jobs->jobs)))) {
        c->y.oom = 1;
        return;
    }
    for (size_t i = 0; i < list->n && !c->y.oom; i++) {
        cr_job *j = &jobs->jobs[jobs->n++];
        read_job(c, list->kids[i], j, jobs, cr_yaml_get(root, "mail", NULL) != NULL);
        /* repeats: quadratic in the jobs, which are few (CR_JOBS_MAX_JOBS) */
        for (size_t k = 0; k < i; k++) {
            const cr_job *o = &jobs->jobs[k];
            if (j->name && o->name && strcmp(j->name, o->name) == 0)
                ERR(c, list->kids[i], "a second job named '%s' (the first at line %u)",
                    cr_yaml_show(j->name), o->line);
            else if (j->source && o->source && strcmp(j->source, o->source) == 0)
                ERR(c, list->kids[i],
                    "job '%s' backs up the source '%s' of job '%s' (line %u): each source has "
                    "one job",
                    cr_yaml_show(j->name), cr_yaml_show(j->source), cr_yaml_show(o->name),
                    o->line);
        }
    }
}

int cr_jobs_parse(cr_jobs **out, cr_problem **problems, size_t *nproblems, const char *file,
                  const void *data, size_t len)
{
    ctx c;
    cr_jobs *jobs = NULL;
    cr_ynode *root = NULL;
    int err = 0, empty = 0;

    *out = NULL;
    if (problems)
        *problems = NULL;
    if (nproblems)
        *nproblems = 0;
    memset(&c, 0, sizeof(c));
    c.y.noun = "a jobs file";
    c.y.doc = "docs/jobs.md";
    c.y.max_nodes = CR_JOBS_MAX_NODES;
    c.y.max_depth = CR_JOBS_MAX_DEPTH;
    if (!(jobs = calloc(1, sizeof(*jobs))) || !(jobs->file = strdup(file ? file : "-"))) {
        cr_error_set("out of memory reading the jobs file");
        err = CR_ERROR;
        goto done;
    }
    if (len > CR_JOBS_MAX_BYTES)
        cr_ydoc_error(&c.y, 1, 1, "the jobs file is larger than %u bytes", CR_JOBS_MAX_BYTES);
    else if ((root = cr_yaml_read(&c.y, data, len, &empty)))
        read_file_(&c, root, jobs);
    else if (empty && !c.y.oom && !c.y.nerrors)
        cr_ydoc_error(&c.y, 1, 1, "the jobs file is empty: it needs a `jobs:` list (see "
                                  "docs/jobs.md)");
    if (c.y.oom) {
        cr_error_set("out of memory reading the jobs file %s", file ? file : "-");
        err = CR_ERROR;
        goto done;
    }
    cr_ydoc_finish(&c.y);
    if (c.y.nerrors) {
        cr_error_set("the jobs file %s has %d error(s): nothing was run", file ? file : "-",
                     c.y.nerrors);
        err = CR_EINPUT;
    }
done:
    cr_ynode_free(root);
    if (err == 0)
        *out = jobs;
    else
        cr_jobs_free(jobs);
    if (problems && err != CR_ERROR) {
        *problems = c.y.pr;
        if (nproblems)
            *nproblems = c.y.npr;
    } else {
        cr_problems_free(c.y.pr, c.y.npr);
    }
    return err;
}

int cr_jobs_load(cr_jobs **out, cr_problem **problems, size_t *nproblems, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    int err;
    *out = NULL;
    if (problems)
        *problems = NULL;
    if (nproblems)
        *nproblems = 0;
    err = cr_fs_read_all(&b, AT_FDCWD, path, CR_JOBS_MAX_BYTES);
    if (err == CR_ECORRUPT) {
        cr_error_set("the jobs file %s is larger than %u bytes", path, CR_JOBS_MAX_BYTES);
        err = CR_EINPUT;
        goto done;
    }
    if (err < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("no jobs file %s", path);
        else if (!*cr_error_last())
            cr_error_set("cannot read the jobs file %s", path);
        goto done;
    }
    err = cr_jobs_parse(out, problems, nproblems, path, b.ptr ? (const void *)b.ptr : "", b.len);
done:
    cr_buf_free(&b);
    return err;
}

/* ==================================================================== run */

void cr_job_result_clear(cr_job_result *r)
{
    if (!r)
        return;
    cr_snapshot_free(r->snap);
    free(r->message);
    free(r->record_message);
    memset(r, 0, sizeof(*r));
}

/* Keep the first failure's message: later steps overwrite the thread's slot. */
static void note(cr_job_result *r, const char *step)
{
    if (!r->message)
        r->message = cr_sprintf("%s: %s", step, *cr_error_last() ? cr_error_last() : "failed");
}

static int run_steps(cr_job_result *out, cr_repo *repo, const cr_job *job,
                     const cr_job_run_options *opts)
{
    int err = 0;

    if (job->verify_subset) {
        /* part N of M, N turning with the day: every pack read once in M days */
        cr_verify_options vo = CR_VERIFY_OPTIONS_INIT;
        cr_verify_report rep;
        int64_t now = opts->time_ns ? opts->time_ns : cr_time_now_ns();
        memset(&rep, 0, sizeof(rep));
        out->subset_m = job->verify_subset;
        out->subset_n = (unsigned int)((now / (86400LL * 1000000000LL)) % job->verify_subset) + 1;
        vo.read_data = 1;
        vo.subset_n = out->subset_n;
        vo.subset_m = out->subset_m;
        vo.threads = opts->threads;
        vo.progress = opts->progress;
        vo.payload = opts->payload;
        out->verify = cr_verify(&rep, repo, &vo);
        out->packs_read = rep.packs_read;
        out->problems = rep.nproblems;
        if (out->verify == CR_ECORRUPT && !out->message)
            out->message = cr_sprintf("verify found %zu problem(s) in part %u/%u of the vault: "
                                      "run cleanroom verify --read-data-subset %u/%u to see them",
                                      rep.nproblems, out->subset_n, out->subset_m, out->subset_n,
                                      out->subset_m);
        else if (out->verify < 0)
            note(out, "verify");
        cr_verify_report_clear(&rep);
        return out->verify;
    }

    /* 1. backup: the very functions `cleanroom backup` calls */
    if (job->nimages) {
        cr_image_backup_options io = CR_IMAGE_BACKUP_OPTIONS_INIT;
        cr_ransom_watch *rw = NULL;
        if (job->ransomware_check && opts->builtin_dir) {
            if ((out->backup = cr_ransom_watch_new(&rw, opts->builtin_dir)) < 0) {
                note(out, "backup");
                return out->backup;
            }
            cr_ransom_watch_set_thresholds(rw, &job->ransom);
            cr_ransom_watch_attach_image(rw, &io);
        }
        io.source = job->source;
        io.time_ns = opts->time_ns;
        io.threads = opts->threads;
        io.progress = opts->progress;
        io.warning = opts->warning;
        io.payload = opts->payload;
        out->backup = cr_backup_image(&out->snap, repo, (const char *const *)job->images,
                                      job->nimages, &io);
        if (rw) {
            out->watched = 1;
            cr_ransom_watch_result(rw, &out->ransom);
            cr_ransom_watch_free(rw);
        }
    } else {
        cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
        cr_ransom_watch *rw = NULL;
        if (job->ransomware_check && opts->builtin_dir) {
            if ((out->backup = cr_ransom_watch_new(&rw, opts->builtin_dir)) < 0) {
                note(out, "backup");
                return out->backup;
            }
            cr_ransom_watch_set_thresholds(rw, &job->ransom);
            cr_ransom_watch_attach(rw, &bo);
        }
        bo.source = job->source;
        bo.time_ns = opts->time_ns;
        bo.excludes = (const char *const *)job->excludes;
        bo.nexcludes = job->nexcludes;
        bo.threads = opts->threads;
        bo.root = job->root;
        bo.progress = opts->progress;
        bo.warning = opts->warning;
        bo.payload = opts->payload;
        out->backup = cr_backup(&out->snap, repo, (const char *const *)job->paths, job->npaths,
                                &bo);
        if (rw) {
            out->watched = 1;
            cr_ransom_watch_result(rw, &out->ransom);
            cr_ransom_watch_free(rw);
        }
    }
    if (out->backup < 0 && out->backup != CR_EPARTIAL) {
        note(out, "backup");
        return out->backup;
    }
    if (out->backup == CR_EPARTIAL)
        err = CR_EPARTIAL;

    /* 2. hunt: every snapshot of the source not yet hunted with the rules, i.e. the new one
     *    (and any a failed earlier run left) */
    if (job->hunt) {
        cr_hunt_options ho = CR_HUNT_OPTIONS_INIT;
        cr_hunt_stats hs;
        memset(&hs, 0, sizeof(hs));
        ho.source = job->source;
        ho.builtin_dir = opts->builtin_dir;
        ho.threads = opts->threads;
        ho.warning = opts->warning;
        ho.payload = opts->payload;
        out->hunt = cr_hunt(&hs, repo, &ho);
        out->findings = hs.findings;
        if (out->hunt < 0) {
            note(out, "hunt");
            if (out->hunt != CR_EPARTIAL || err == 0)
                err = out->hunt;
        }
    }

    /* 3. forget by the keep rules, as `cleanroom forget` does: what the hunt found at or
     *    above high is evidence, kept by any policy (if the hunt results cannot be read,
     *    nothing is forgotten); so is the snapshot just made. */
    if (job->has_retention) {
        cr_forget_options fo = CR_FORGET_OPTIONS_INIT;
        cr_forget_result fr;
        cr_id *keep = NULL;
        size_t nkeep = 0;
        memset(&fr, 0, sizeof(fr));
        out->forget = cr_hunt_evidence(&keep, &nkeep, repo, CR_SEV_HIGH);
        if (out->forget == 0 && out->snap) {
            cr_id *k = realloc(keep, (nkeep + 1) * sizeof(*k));
            if (!k) {
                cr_error_set("out of memory");
                out->forget = CR_ERROR;
            } else {
                keep = k;
                keep[nkeep++] = out->snap->id;
            }
        }
        if (out->forget == 0) {
            fo.source = job->source;
            fo.last = job->keep_last;
            fo.hourly = job->keep_hourly;
            fo.daily = job->keep_daily;
            fo.weekly = job->keep_weekly;
            fo.monthly = job->keep_monthly;
            fo.yearly = job->keep_yearly;
            fo.within_ns = job->keep_within_ns;
            fo.protect = keep;
            fo.nprotect = nkeep;
            out->forget = cr_forget(&fr, repo, &fo);
            out->forgotten = fr.nforget;
            cr_forget_result_clear(&fr);
        }
        free(keep);
        if (out->forget < 0) {
            note(out, "forget");
            if (err == 0 || err == CR_EPARTIAL)
                err = out->forget;
        }
    }
    return err;
}

int cr_job_run(cr_job_result *out, cr_repo *repo, const cr_job *job,
               const cr_job_run_options *opts)
{
    cr_job_run_options defaults = CR_JOB_RUN_OPTIONS_INIT;
    cr_alert *alerts = NULL;
    size_t nalerts = 0;
    double t0 = cr_time_mono();
    int err, rec;

    memset(out, 0, sizeof(*out));
    out->backup = out->hunt = out->forget = out->verify = out->record = 1;
    if (!opts)
        opts = &defaults;
    /* a run dated with --time is dated so in its record too (start, and start + its
     * length), like its snapshot */
    out->start_ns = opts->time_ns ? opts->time_ns : cr_time_now_ns();
    err = run_steps(out, repo, job, opts);
    out->end_ns = out->start_ns + (int64_t)((cr_time_mono() - t0) * 1e9);

    /* The record, whatever happened (a failed run is what `status` must show most), with
     * the alerts the run raises; the run's own error message is kept for the caller. */
    {
        char saved[1024];
        snprintf(saved, sizeof(saved), "%s", cr_error_last());
        cr_error_clear();
        rec = cr_job_alerts(&alerts, &nalerts, repo, job, out);
        if (rec == 0)
            rec = cr_job_record_save(&out->record_id, repo, job, out, alerts, nalerts);
        out->record = rec;
        if (rec < 0 && !(out->record_message = cr_strdup(cr_error_last())))
            out->record = CR_ERROR;
        /* Keep `status` bounded as records pile up (records.c, summaries). Not this run's
         * outcome: a summary not written now is written by a later run. */
        if (rec == 0)
            cr_job_records_compact(NULL, repo, out->end_ns);
        free(alerts);
        cr_error_set("%s", saved);
    }
    return err;
}

/* =============================================================== systemd */

/* A path written into a unit file: absolute, and nothing systemd would read as
 * a specifier (%), a quote, an escape or the end of the line. */
static int unit_safe_path(const char *p)
{
    if (!p || p[0] != '/')
        return 0;
    for (const unsigned char *s = (const unsigned char *)p; *s; s++)
        if (*s < 0x21 || *s == 0x7f || strchr("%\"'\\$;", *s))
            return 0;
    return 1;
}

/* A text for a unit's Description=: '%' starts a systemd specifier, so it is doubled. */
static char *unit_text(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == '%' ? 2 : 1;
    char *o = cr_malloc(n + 1), *q = o;
    if (!o)
        return NULL;
    for (const char *p = s; *p; p++) {
        *q++ = *p;
        if (*p == '%')
            *q++ = '%';
    }
    *q = '\0';
    return o;
}

/* What every unit of the jobs file writes: " --repo VAULT" and the password's
 * Environment= line, after checking that the paths can be written into a unit. */
static int unit_prelude(char **repo_opt, char **env, const cr_jobs *jobs, const char *program,
                        const char *jobs_file)
{
    *repo_opt = *env = NULL;
    if (!unit_safe_path(program) || !unit_safe_path(jobs_file)) {
        cr_error_set("the program (%s) and the jobs file (%s) must be absolute paths without "
                     "spaces, quotes, '%%' or '$' to be written into a systemd unit",
                     program ? program : "?", jobs_file ? jobs_file : "?");
        return CR_EINPUT;
    }
    /* a vault server's https:// address is written as it is, with the same characters */
    if (jobs->vault && !unit_safe_path(jobs->vault) &&
        !(cr_repo_is_remote(jobs->vault) && jobs->vault[0] != '/' &&
          unit_safe_path(strchr(jobs->vault, '/') ? strchr(jobs->vault, '/') : "x"))) {
        cr_error_set("the vault %s must be an absolute path (or a vault server's address) "
                     "without spaces, quotes, '%%' or '$' to be written into a systemd unit",
                     jobs->vault);
        return CR_EINPUT;
    }
    if (jobs->password_file && !unit_safe_path(jobs->password_file)) {
        cr_error_set("the password_file %s must be an absolute path without spaces, quotes, "
                     "'%%' or '$'",
                     jobs->password_file);
        return CR_EINPUT;
    }
    *repo_opt = jobs->vault ? cr_sprintf(" --repo %s", jobs->vault) : cr_strdup("");
    *env = jobs->password_file
               ? cr_sprintf("Environment=CLEANROOM_PASSWORD_FILE=%s\n", jobs->password_file)
               : cr_strdup("");
    if (!*repo_opt || !*env) {
        free(*repo_opt);
        free(*env);
        *repo_opt = *env = NULL;
        return CR_ERROR;
    }
    return 0;
}

int cr_job_units(char **service, char **timer, const cr_jobs *jobs, const cr_job *job,
                 const char *program, const char *jobs_file)
{
    char *repo_opt = NULL, *env = NULL, *source = NULL;
    int err = 0;
    *service = *timer = NULL;
    if ((err = unit_prelude(&repo_opt, &env, jobs, program, jobs_file)) < 0)
        return err;
    if (!(source = unit_text(job->source ? job->source : "none: a verify job"))) {
        err = CR_ERROR;
        goto done;
    }
    *service = cr_sprintf(
        "# Written by `cleanroom job install` from %s: edit the jobs file, then install again.\n"
        "[Unit]\n"
        "Description=cleanroom backup job %s (source %s)\n"
        "Documentation=man:cleanroom-job(1)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "%s"
        "ExecStart=%s%s job run %s --jobs %s\n"
        "Nice=10\n"
        "IOSchedulingClass=idle\n"
        "CPUSchedulingPolicy=batch\n"
        "",
        jobs_file, job->name, source, env, program, repo_opt, job->name, jobs_file);
    *timer = cr_sprintf(
        "# Written by `cleanroom job install` from %s.\n"
        "[Unit]\n"
        "Description=cleanroom backup job %s: %s\n"
        "Documentation=man:cleanroom-job(1)\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=%s\n"
        "Persistent=true\n"
        "RandomizedDelaySec=60\n"
        "Unit=cleanroom-job-%s.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n",
        jobs_file, job->name, job->schedule, job->on_calendar, job->name);
    if (!*service || !*timer)
        err = CR_ERROR;
done:
    free(repo_opt);
    free(env);
    free(source);
    if (err < 0) {
        free(*service);
        free(*timer);
        *service = *timer = NULL;
    }
    return err;
}

int cr_digest_units(char **service, char **timer, const cr_jobs *jobs, const char *program,
                    const char *jobs_file)
{
    char *repo_opt = NULL, *env = NULL;
    int err;
    *service = *timer = NULL;
    if (jobs->mail.digest != CR_DIGEST_DAILY || !jobs->mail.digest_on_calendar) {
        cr_error_set("the jobs file asks for no digest (mail: digest: daily)");
        return CR_EINPUT;
    }
    if ((err = unit_prelude(&repo_opt, &env, jobs, program, jobs_file)) < 0)
        return err;
    *service = cr_sprintf(
        "# Written by `cleanroom job install` from %s: edit the jobs file, then install again.\n"
        "[Unit]\n"
        "Description=cleanroom daily digest of the backup jobs' alerts\n"
        "Documentation=man:cleanroom-job(1)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "%s"
        "ExecStart=%s%s job digest --jobs %s\n"
        "Nice=10\n",
        jobs_file, env, program, repo_opt, jobs_file);
    *timer = cr_sprintf(
        "# Written by `cleanroom job install` from %s.\n"
        "[Unit]\n"
        "Description=cleanroom daily digest of the backup jobs' alerts\n"
        "Documentation=man:cleanroom-job(1)\n"
        "\n"
        "[Timer]\n"
        "OnCalendar=%s\n"
        "Persistent=true\n"
        "Unit=cleanroom-digest.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n",
        jobs_file, jobs->mail.digest_on_calendar);
    if (!*service || !*timer) {
        free(*service);
        free(*timer);
        *service = *timer = NULL;
        err = CR_ERROR;
    }
    free(repo_opt);
    free(env);
    return err;
}

int cr_jobs_install(char ***written, const cr_jobs *jobs, const char *unit_dir,
                    const char *program, const char *jobs_file)
{
    char **names = NULL;
    size_t n = 0;
    int dirfd = -1, err = 0;
    if (written)
        *written = NULL;
    if ((dirfd = open(unit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        err = cr_error_errno("cannot open the unit folder %s", unit_dir);
        goto done;
    }
    if (!(names = calloc(2 * jobs->n + 3, sizeof(char *)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < jobs->n; i++) {
        const cr_job *j = &jobs->jobs[i];
        char *unit[2] = {NULL, NULL};
        if ((err = cr_job_units(&unit[0], &unit[1], jobs, j, program, jobs_file)) < 0)
            goto done;
        for (int k = 0; k < 2 && err == 0; k++) {
            char *name = cr_sprintf("cleanroom-job-%s.%s", j->name, k ? "timer" : "service");
            if (!name) {
                err = CR_ERROR;
                break;
            }
            names[n++] = name;
            /* cr_fs_write_atomic's message names the file */
            err = cr_fs_write_atomic(dirfd, name, unit[k], strlen(unit[k]), 0644, 0);
        }
        free(unit[0]);
        free(unit[1]);
        if (err < 0)
            goto done;
    }
    if (jobs->mail.digest == CR_DIGEST_DAILY) {
        char *unit[2] = {NULL, NULL};
        if ((err = cr_digest_units(&unit[0], &unit[1], jobs, program, jobs_file)) < 0)
            goto done;
        for (int k = 0; k < 2 && err == 0; k++) {
            if (!(names[n++] = cr_strdup(k ? "cleanroom-digest.timer" : "cleanroom-digest.service"))) {
                err = CR_ERROR;
                break;
            }
            err = cr_fs_write_atomic(dirfd, names[n - 1], unit[k], strlen(unit[k]), 0644, 0);
        }
        free(unit[0]);
        free(unit[1]);
        if (err < 0)
            goto done;
    }
done:
    if (dirfd >= 0)
        close(dirfd);
    if (written && err == 0)
        *written = names;
    else
        strv_free_n(names, n);
    return err;
}

/* Run systemctl with `argv`; its stderr names what went wrong. */
static int systemctl(const char *const *argv)
{
    cr_proc_result r;
    int err = cr_proc_run(&r, argv, CR_PROC_CAPTURE_STDERR, 4096);
    if (err == 0 && r.exec_errno) {
        cr_error_set("cannot run systemctl (%s): enable the timers by hand", strerror(r.exec_errno));
        err = CR_ERROR;
    } else if (err == 0 && r.exit_code != 0) {
        size_t len = r.output.len;
        while (len && (r.output.ptr[len - 1] == '\n' || r.output.ptr[len - 1] == ' '))
            len--;
        cr_error_set("systemctl %s failed (exit %d): %.*s", argv[1], r.exit_code, (int)len,
                     r.output.ptr ? (const char *)r.output.ptr : "");
        err = CR_ERROR;
    }
    cr_proc_result_free(&r);
    return err;
}

int cr_jobs_enable(const cr_jobs *jobs)
{
    const char *reload[] = {"systemctl", "daemon-reload", NULL};
    const char **argv = NULL;
    char **timers = NULL;
    int err;
    if ((err = systemctl(reload)) < 0)
        return err;
    argv = calloc(jobs->n + 5, sizeof(*argv));
    timers = calloc(jobs->n + 1, sizeof(*timers));
    if (!argv || !timers) {
        err = CR_ERROR;
        goto done;
    }
    argv[0] = "systemctl";
    argv[1] = "enable";
    argv[2] = "--now";
    for (size_t i = 0; i < jobs->n; i++) {
        if (!(timers[i] = cr_sprintf("cleanroom-job-%s.timer", jobs->jobs[i].name))) {
            err = CR_ERROR;
            goto done;
        }
        argv[3 + i] = timers[i];
    }
    if (jobs->mail.digest == CR_DIGEST_DAILY)
        argv[3 + jobs->n] = "cleanroom-digest.timer";
    err = systemctl(argv);
done:
    if (timers)
        strv_free_n(timers, jobs->n);
    free(argv);
    return err;
}
