/*
 * cleanroom status: one line per source — its newest snapshot, how old it is,
 * and the grade of that age against the RPO of its job (the jobs file) — as
 * text, JSON, or one Nagios/Centreon plugin line (--check) whose exit code is
 * the plugin API's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 *
 * The grade is the library's (cr_status_get); this file only shows it.
 */
#include "common.h"

#include "cleanroom/jobs.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_text[] =
    "usage: cleanroom status [--jobs FILE] [--json | --check] [--now ISO8601] [--notify]\n"
    "\n"
    "One line per source of the vault and per job of the jobs file: the newest snapshot,\n"
    "its age, the job's RPO (rpo: in the jobs file) and the grade of that age:\n"
    "  ok                   age <= RPO\n"
    "  exceeded             RPO < age <= 2 x RPO\n"
    "  severely exceeded    2 x RPO < age <= 4 x RPO\n"
    "  critically exceeded  age > 4 x RPO\n"
    "  never backed up      a job whose source has no snapshot\n"
    "  no rpo               a source no job (or a job without rpo:) watches\n"
    "\n"
    "Options:\n"
    "  --jobs FILE     the jobs file with the RPOs (default: " CR_JOBS_DEFAULT_FILE ",\n"
    "                  used when it exists)\n"
    "  --json          {now, sources:[{source, job, snapshot, time, age_seconds,\n"
    "                  rpo_seconds, grade, errors, snapshots}]}\n"
    "  --check         one monitoring plugin line (Nagios, Centreon, Icinga):\n"
    "                  CLEANROOM CRITICAL - dpi: last backup 3 d ago (rpo 26 h) | perfdata\n"
    "                  (--nagios is the same)\n"
    "  --now ISO8601   judge the ages at this time instead of the clock\n"
    "  --notify        send one alert per source past its RPO (journal, and mail to its\n"
    "                  job's `notify` targets): run it from a timer\n"
    "\n"
    "Exit codes: 0 every source with an RPO is within it, 1 error (--check: 1 WARNING, a\n"
    "source exceeded its RPO), 2 usage (--check: 2 CRITICAL, a source is over 2x its RPO or\n"
    "never backed up), 3 wrong passphrase (--check: 3 UNKNOWN, the vault or the jobs file\n"
    "could not be read), 4 damaged vault, 7 no vault. Without --check the grades do not\n"
    "change the exit code; with --notify, an alert mail that could not be sent exits 1.\n";

/* "3 d", "5 h", "12 min", "40 s": the unit a person on call reads at a glance. */
static void age_text(char *b, size_t len, int64_t ns)
{
    int64_t s = ns / 1000000000LL;
    if (s < 0)
        s = 0;
    if (s >= 2 * 86400)
        snprintf(b, len, "%lld d", (long long)(s / 86400));
    else if (s >= 2 * 3600)
        snprintf(b, len, "%lld h", (long long)(s / 3600));
    else if (s >= 120)
        snprintf(b, len, "%lld min", (long long)(s / 60));
    else
        snprintf(b, len, "%lld s", (long long)s);
}

/* Plugin API: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
static int plugin_code(cr_rpo_grade g)
{
    switch (g) {
    case CR_RPO_EXCEEDED: return 1;
    case CR_RPO_SEVERELY:
    case CR_RPO_CRITICALLY:
    case CR_RPO_NEVER: return 2;
    default: return 0;
    }
}

/* A perfdata label: letters, digits, '_', '-', '.' (others become '_'). */
static void label(char *b, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 1 < len; s++)
        b[o++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'
                            ? *s
                            : '_');
    b[o] = '\0';
}

static int print_check(const cr_status *st)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    int code = 0, bad = 0;
    for (size_t i = 0; i < st->n; i++) {
        int c = plugin_code(st->sources[i].grade);
        code = c > code ? c : code;
        bad += c > 0;
    }
    printf("CLEANROOM %s - ", names[code]);
    if (!bad) {
        size_t watched = 0;
        for (size_t i = 0; i < st->n; i++)
            watched += st->sources[i].rpo_ns > 0;
        printf("%zu source(s) within their RPO", watched);
    }
    int first = 1;
    /* the worst first: the line is cut by some consoles */
    for (int want = 2; want >= 1; want--) {
        for (size_t i = 0; i < st->n; i++) {
            const cr_source_status *x = &st->sources[i];
            char *e;
            char a[32], r[32];
            if (plugin_code(x->grade) != want)
                continue;
            e = cli_escape(x->source);
            if (x->grade == CR_RPO_NEVER) {
                printf("%s%s: never backed up", first ? "" : ", ", e);
            } else {
                age_text(a, sizeof(a), x->age_ns);
                age_text(r, sizeof(r), x->rpo_ns);
                printf("%s%s: last backup %s ago (rpo %s)", first ? "" : ", ", e, a, r);
            }
            first = 0;
            free(e);
        }
    }
    printf(" |");
    for (size_t i = 0; i < st->n; i++) {
        const cr_source_status *x = &st->sources[i];
        char l[128];
        label(l, sizeof(l), x->source);
        if (!x->has_last)
            continue;
        printf(" '%s_age'=%llds", l, (long long)(x->age_ns / 1000000000LL));
        if (x->rpo_ns > 0)
            printf(";%lld;%lld", (long long)(x->rpo_ns / 1000000000LL),
                   (long long)(2 * x->rpo_ns / 1000000000LL));
    }
    printf("\n");
    return code;
}

int cmd_status(int argc, char **argv)
{
    enum { OPT_JOBS = CLI_OPT_FIRST_CMD, OPT_CHECK, OPT_NOW, OPT_NOTIFY };
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"check", no_argument, NULL, OPT_CHECK},
        {"nagios", no_argument, NULL, OPT_CHECK},
        {"now", required_argument, NULL, OPT_NOW},
        {"notify", no_argument, NULL, OPT_NOTIFY},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int check = 0, notify = 0, c, rc = CLI_EXIT_USAGE, err;
    int64_t now = 0;
    cr_jobs *jobs = NULL;
    cr_problem *pr = NULL;
    size_t npr = 0;
    cr_repo *repo = NULL;
    cr_status st = {0};

    while ((c = cli_getopt(argc, argv, "", longopts, "status")) != -1) {
        switch (c) {
        case OPT_JOBS: file = optarg; break;
        case OPT_CHECK: check = 1; break;
        case OPT_NOTIFY: notify = 1; break;
        case OPT_NOW:
            if (cr_time_parse(&now, optarg) < 0) {
                rc = cli_usage_error("status", "--now '%s' is not a date/time", optarg);
                goto done;
            }
            break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (optind < argc) {
        rc = cli_unexpected_argument("status", argv[optind], NULL);
        goto done;
    }
    if (check && cli_g.json) {
        rc = cli_usage_error("status", "--check and --json cannot be used together");
        goto done;
    }
    /* the default file is optional; a file named with --jobs must be there and sound */
    if (file || access(CR_JOBS_DEFAULT_FILE, F_OK) == 0) {
        const char *f = file ? file : CR_JOBS_DEFAULT_FILE;
        cr_error_clear();
        err = cr_jobs_load(&jobs, &pr, &npr, f);
        if (err < 0) {
            if (check) {
                printf("CLEANROOM UNKNOWN - the jobs file %s cannot be used: %s\n", f,
                       cr_error_last());
                rc = 3;
            } else {
                if (npr) {
                    int e = 0, w = 0;
                    cli_print_problems(f, pr, npr, &e, &w);
                }
                rc = cli_fail(err, NULL);
            }
            goto done;
        }
    }
    if ((!cli_g.repo || !*cli_g.repo) && jobs && jobs->vault)
        cli_g.repo = jobs->vault;
    if ((rc = cli_open_repo(&repo)) != 0) {
        if (check) {
            printf("CLEANROOM UNKNOWN - the vault cannot be opened (see the error above)\n");
            rc = 3;
        }
        goto done;
    }
    cr_error_clear();
    if ((err = cr_status_get(&st, repo, jobs, now)) < 0) {
        if (check) {
            printf("CLEANROOM UNKNOWN - %s\n", cr_error_last());
            rc = 3;
        } else {
            rc = cli_fail(err, NULL);
        }
        goto done;
    }
    if (notify) {
        /* one alert per late source, to its job's targets */
        for (size_t i = 0; i < st.n; i++) {
            const cr_source_status *x = &st.sources[i];
            if (x->grade == CR_RPO_OK || x->grade == CR_RPO_UNKNOWN || !x->job)
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
            cr_error_clear();
            if (cr_alert_send(jobs, cr_jobs_find(jobs, x->job), &a) < 0) {
                cli_error("%s", cr_error_last());
                notify = -1;
            }
        }
    }
    if (check) {
        rc = print_check(&st);
        goto done;
    }
    if (cli_g.json) {
        json_t *o = json_object(), *a = json_array();
        char t[48], hex[CR_ID_HEX_LEN + 1];
        cr_time_format(t, sizeof(t), st.now_ns);
        json_object_set_new(o, "now", json_string(t));
        for (size_t i = 0; i < st.n; i++) {
            const cr_source_status *x = &st.sources[i];
            json_t *s = json_object();
            json_object_set_new(s, "source", cli_json_str(x->source));
            json_object_set_new(s, "job", x->job ? cli_json_str(x->job) : json_null());
            json_object_set_new(s, "snapshot",
                                x->has_last ? json_string(cr_id_to_hex(hex, &x->last))
                                            : json_null());
            if (x->has_last)
                cr_time_format(t, sizeof(t), x->last_time_ns);
            json_object_set_new(s, "time", x->has_last ? json_string(t) : json_null());
            json_object_set_new(s, "age_seconds",
                                x->has_last ? json_integer(x->age_ns / 1000000000LL)
                                            : json_null());
            json_object_set_new(s, "rpo_seconds",
                                x->rpo_ns ? json_integer(x->rpo_ns / 1000000000LL)
                                          : json_null());
            json_object_set_new(s, "grade", json_string(cr_rpo_grade_name(x->grade)));
            json_object_set_new(s, "errors", json_integer((json_int_t)x->last_errors));
            json_object_set_new(s, "snapshots", json_integer((json_int_t)x->snapshots));
            json_array_append_new(a, s);
        }
        json_object_set_new(o, "sources", a);
        rc = cli_json_print(o);
        if (rc == 0 && notify < 0)
            rc = CLI_EXIT_ERROR;
        goto done;
    }
    if (st.n == 0)
        printf("no source: the vault holds no snapshot and no jobs file names one\n");
    for (size_t i = 0; i < st.n; i++) {
        const cr_source_status *x = &st.sources[i];
        char *e = cli_escape(x->source);
        char a[32], r[32], t[48], hex[CR_ID_HEX_LEN + 1];
        if (x->has_last) {
            cr_time_format(t, sizeof(t), x->last_time_ns);
            age_text(a, sizeof(a), x->age_ns);
            printf("%-20s last %.8s %s (%s ago)", e, cr_id_to_hex(hex, &x->last), t, a);
            if (x->last_errors)
                printf(", %llu unreadable item(s)", (unsigned long long)x->last_errors);
        } else {
            printf("%-20s no snapshot", e);
        }
        if (x->rpo_ns) {
            age_text(r, sizeof(r), x->rpo_ns);
            printf(", rpo %s: %s\n", r, cr_rpo_grade_name(x->grade));
        } else {
            printf(", %s\n", x->job ? "no rpo in its job" : "no job");
        }
        free(e);
    }
    rc = notify < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
done:
    cr_status_clear(&st);
    cr_repo_free(repo);
    cr_jobs_free(jobs);
    cr_problems_free(pr, npr);
    return rc;
}
