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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_text[] =
    "usage: cleanroom status [--jobs FILE] [--json | --check] [--now ISO8601] [--notify]\n"
    "                        [--prometheus FILE]\n"
    "\n"
    "One line per source of the vault and per job of the jobs file: the newest snapshot,\n"
    "its age, the job's RPO (rpo: in the jobs file, else the one its last run recorded)\n"
    "and the grade of that age, then the outcome of the job's last run (ok, partial,\n"
    "failed, suspect: recorded in the vault by `job run`, so known on any machine that\n"
    "opens the vault). Then the vault: its size, growth over the last 7 days, free space\n"
    "and days until full at that rate (a local folder only: unknown for a vault server\n"
    "or S3), and the last verify job's result.\n"
    "Grades:\n"
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
    "                  rpo_seconds, grade, errors, snapshots, suspect, unhunted,\n"
    "                  compromised, first_compromised_time, clean_snapshot, clean_time,\n"
    "                  last_run:{outcome, time, errors, hunt, findings_high, message}}],\n"
    "                  vault:{bytes, pack_bytes, files, growth_7d_bytes, growth_per_day,\n"
    "                  free_bytes, total_bytes, days_until_full, records,\n"
    "                  records_unreadable, records_read, last_verify:{job, time,\n"
    "                  outcome, part, problems}}}\n"
    "  --check         one monitoring plugin line (Nagios, Centreon, Icinga):\n"
    "                  CLEANROOM CRITICAL - dpi: last backup 3 d ago (rpo 26 h) | perfdata\n"
    "                  (--nagios is the same)\n"
    "  --now ISO8601   judge the ages at this time instead of the clock\n"
    "  --prometheus FILE  also write node-exporter textfile metrics to FILE (replaced whole)\n"
    "  --notify        send one alert per source past its RPO (journal, and mail to its\n"
    "                  job's `notify` targets): run it from a timer\n"
    "\n"
    "Exit codes: 0 done, 1 error, 2 usage, 3 wrong passphrase, 4 damaged vault, 7 no vault;\n"
    "the grades do not change them (with --notify, an alert mail not sent exits 1).\n"
    "With --check, the plugin API's: 0 OK, 1 WARNING (a source past its RPO), 2 CRITICAL\n"
    "(a source past 2x its RPO, never backed up, or its last backup tagged suspect),\n"
    "3 UNKNOWN (the vault or the jobs file could not be read).\n";

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

static int source_code(const cr_source_status *x)
{
    int c = plugin_code(x->grade);
    if (x->last_run == CR_RUN_FAILED && c < 2)
        c = 2;
    else if (x->last_run == CR_RUN_PARTIAL && c < 1)
        c = 1;
    return x->suspect ? 2 : c;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* node-exporter textfile metrics, written whole and renamed into place (the collector
 * may read the file at any moment). @return an exit code. */
static int write_prometheus(const cr_status *st, const char *path)
{
    static const struct {
        const char *name, *help;
    } m[] = {
        {"cleanroom_last_backup_timestamp_seconds", "Time of the newest snapshot of the source."},
        {"cleanroom_last_backup_age_seconds", "Age of the newest snapshot of the source."},
        {"cleanroom_rpo_seconds", "RPO of the source's job (absent: none)."},
        {"cleanroom_rpo_grade", "0 ok or no rpo, 1 exceeded, 2 severely, 3 critically, 4 never."},
        {"cleanroom_snapshots", "Snapshots of the source."},
        {"cleanroom_suspect", "1 when the newest snapshot is tagged suspect (ransomware)."},
        {"cleanroom_compromised", "1 when a snapshot holds a finding at or above high."},
        {"cleanroom_last_run_outcome",
         "Last recorded run of the source's job: 0 never ran, 1 ok, 2 partial, 3 failed, "
         "4 suspect."},
        {"cleanroom_last_run_timestamp_seconds", "End of the last recorded run of the job."},
    };
    size_t len = strlen(path);
    char *tmp = cli_xmalloc(len + 8);
    FILE *f;
    snprintf(tmp, len + 8, "%s.tmp", path);
    if (!(f = fopen(tmp, "w"))) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return CLI_EXIT_ERROR;
    }
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", m[k].name, m[k].help, m[k].name);
        for (size_t i = 0; i < st->n; i++) {
            const cr_source_status *x = &st->sources[i];
            double v;
            int grade = x->grade == CR_RPO_EXCEEDED    ? 1
                        : x->grade == CR_RPO_SEVERELY   ? 2
                        : x->grade == CR_RPO_CRITICALLY ? 3
                        : x->grade == CR_RPO_NEVER      ? 4
                                                        : 0;
            switch (k) {
            case 0: if (!x->has_last) continue; v = (double)x->last_time_ns / 1e9; break;
            case 1: if (!x->has_last) continue; v = (double)(x->age_ns / 1000000000LL); break;
            case 2: if (!x->rpo_ns) continue; v = (double)(x->rpo_ns / 1000000000LL); break;
            case 3: v = grade; break;
            case 4: v = (double)x->snapshots; break;
            case 5: v = x->suspect; break;
            case 6: v = x->compromised; break;
            case 7: v = x->last_run; break;
            default: if (x->last_run == CR_RUN_NONE) continue; v = (double)x->last_run_ns / 1e9; break;
            }
            fprintf(f, "%s{source=\"", m[k].name);
            prom_label(f, x->source);
            fprintf(f, "\"} %.17g\n", v);
        }
    }
    /* the vault as a whole */
    const cr_vault_status *vs = &st->vault;
    fprintf(f, "# HELP cleanroom_vault_bytes Bytes the vault stores.\n"
               "# TYPE cleanroom_vault_bytes gauge\ncleanroom_vault_bytes %llu\n",
            (unsigned long long)vs->usage.bytes);
    fprintf(f, "# HELP cleanroom_vault_growth_7d_bytes Bytes written in the last 7 days.\n"
               "# TYPE cleanroom_vault_growth_7d_bytes gauge\ncleanroom_vault_growth_7d_bytes "
               "%llu\n",
            (unsigned long long)vs->usage.bytes_since);
    if (vs->usage.space_known)
        fprintf(f, "# HELP cleanroom_vault_free_bytes Free bytes of the vault's filesystem.\n"
                   "# TYPE cleanroom_vault_free_bytes gauge\ncleanroom_vault_free_bytes %llu\n",
                (unsigned long long)vs->usage.space_free);
    if (vs->days_until_full >= 0)
        fprintf(f, "# HELP cleanroom_vault_days_until_full Days of free space left at the "
                   "growth of the last 7 days.\n# TYPE cleanroom_vault_days_until_full gauge\n"
                   "cleanroom_vault_days_until_full %.17g\n",
                vs->days_until_full);
    if (vs->has_verify)
        fprintf(f, "# HELP cleanroom_last_verify_timestamp_seconds End of the last verify job.\n"
                   "# TYPE cleanroom_last_verify_timestamp_seconds gauge\n"
                   "cleanroom_last_verify_timestamp_seconds %.17g\n"
                   "# HELP cleanroom_last_verify_ok 1 when the last verify job found no damage.\n"
                   "# TYPE cleanroom_last_verify_ok gauge\ncleanroom_last_verify_ok %d\n",
                (double)vs->verify_ns / 1e9, vs->verify_outcome == CR_RUN_OK);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return CLI_EXIT_ERROR;
    }
    if (rename(tmp, path) != 0) {
        cli_error("cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return CLI_EXIT_ERROR;
    }
    free(tmp);
    return 0;
}

static json_t *vault_json(const cr_vault_status *v)
{
    json_t *o = json_object();
    char t[48];
    json_object_set_new(o, "bytes", json_integer((json_int_t)v->usage.bytes));
    json_object_set_new(o, "pack_bytes", json_integer((json_int_t)v->usage.pack_bytes));
    json_object_set_new(o, "files", json_integer((json_int_t)v->usage.files));
    json_object_set_new(o, "growth_7d_bytes", json_integer((json_int_t)v->usage.bytes_since));
    json_object_set_new(o, "growth_per_day", json_real(v->growth_per_day));
    json_object_set_new(o, "free_bytes", v->usage.space_known
                                             ? json_integer((json_int_t)v->usage.space_free)
                                             : json_null());
    json_object_set_new(o, "total_bytes", v->usage.space_known
                                              ? json_integer((json_int_t)v->usage.space_total)
                                              : json_null());
    json_object_set_new(o, "days_until_full",
                        v->days_until_full >= 0 ? json_real(v->days_until_full) : json_null());
    json_object_set_new(o, "records", json_integer((json_int_t)v->records));
    json_object_set_new(o, "records_unreadable", json_integer((json_int_t)v->records_unreadable));
    json_object_set_new(o, "records_read", json_integer((json_int_t)v->records_read));
    if (v->has_verify) {
        json_t *x = json_object();
        char part[32];
        cr_time_format(t, sizeof(t), v->verify_ns);
        snprintf(part, sizeof(part), "%u/%u", v->verify_n, v->verify_m);
        json_object_set_new(x, "job", cli_json_str(v->verify_job ? v->verify_job : ""));
        json_object_set_new(x, "time", json_string(t));
        json_object_set_new(x, "outcome", json_string(cr_run_outcome_name(v->verify_outcome)));
        json_object_set_new(x, "part", json_string(part));
        json_object_set_new(x, "problems", json_integer((json_int_t)v->verify_problems));
        json_object_set_new(o, "last_verify", x);
    } else {
        json_object_set_new(o, "last_verify", json_null());
    }
    return o;
}

static void print_vault(const cr_vault_status *v, int64_t now_ns)
{
    char a[32], b[32], c[32], t[48];
    printf("vault: %s stored in %llu file(s), %s written in the last 7 days (%s/day)",
           cli_human_size(a, sizeof(a), v->usage.bytes), (unsigned long long)v->usage.files,
           cli_human_size(b, sizeof(b), v->usage.bytes_since),
           cli_human_size(c, sizeof(c), (uint64_t)v->growth_per_day));
    if (!v->usage.space_known)
        printf(", free space unknown (a vault server or S3: ask its host)\n");
    else if (v->days_until_full >= 0)
        printf(", %s free: full in %.0f day(s) at that rate\n",
               cli_human_size(a, sizeof(a), v->usage.space_free), v->days_until_full);
    else
        printf(", %s free\n", cli_human_size(a, sizeof(a), v->usage.space_free));
    if (v->has_verify) {
        char *j = cli_escape(v->verify_job ? v->verify_job : "?");
        cr_time_format(t, sizeof(t), v->verify_ns);
        age_text(a, sizeof(a), now_ns - v->verify_ns);
        if (v->verify_job && strcmp(v->verify_job, CR_JOB_BY_HAND) == 0)
            printf("last verify: by hand, part %u/%u, %s (%s ago): %s", v->verify_n, v->verify_m, t,
                   a, v->verify_outcome == CR_RUN_OK ? "no damage" : "FAILED");
        else
            printf("last verify: job %s, part %u/%u, %s (%s ago): %s", j, v->verify_n, v->verify_m,
                   t, a, v->verify_outcome == CR_RUN_OK ? "no damage" : "FAILED");
        if (v->verify_problems)
            printf(", %llu problem(s)", (unsigned long long)v->verify_problems);
        printf("\n");
        free(j);
    } else {
        printf("last verify: none recorded (run cleanroom verify --read-data, or a job with "
               "`verify: 30` reads the whole vault monthly)\n");
    }
    if (v->records_unreadable)
        printf("warning: %zu job record(s) of the vault cannot be read (damaged or changed): "
               "run cleanroom verify\n",
               v->records_unreadable);
}

static int print_check(const cr_status *st)
{
    static const char *const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    int code = 0, bad = 0;
    for (size_t i = 0; i < st->n; i++) {
        int c = source_code(&st->sources[i]);
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
            if (source_code(x) != want)
                continue;
            e = cli_escape(x->source);
            if (x->suspect) {
                printf("%s%s: last backup tagged suspect (ransomware signals)", first ? "" : ", ",
                       e);
            } else if (plugin_code(x->grade) < want && x->last_run == CR_RUN_FAILED) {
                printf("%s%s: last run failed", first ? "" : ", ", e);
            } else if (plugin_code(x->grade) < want && x->last_run == CR_RUN_PARTIAL) {
                printf("%s%s: last run partial", first ? "" : ", ", e);
            } else if (x->grade == CR_RPO_NEVER) {
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
    enum { OPT_JOBS = CLI_OPT_FIRST_CMD, OPT_CHECK, OPT_NOW, OPT_NOTIFY, OPT_PROMETHEUS };
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"check", no_argument, NULL, OPT_CHECK},
        {"nagios", no_argument, NULL, OPT_CHECK},
        {"now", required_argument, NULL, OPT_NOW},
        {"notify", no_argument, NULL, OPT_NOTIFY},
        {"prometheus", required_argument, NULL, OPT_PROMETHEUS},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *prom = NULL;
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
        case OPT_PROMETHEUS: prom = optarg; break;
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
    if (prom && (rc = write_prometheus(&st, prom)) != 0)
        goto done;
    if (notify) {
        /* one alert per late source, to its job's targets */
        for (size_t i = 0; i < st.n; i++) {
            const cr_source_status *x = &st.sources[i];
            /* the jobs of this file only: a source known from the vault's records alone
             * belongs to another machine's jobs file, whose own status --notify says it */
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
            json_object_set_new(s, "suspect", json_boolean(x->suspect));
            json_object_set_new(s, "unhunted", json_integer((json_int_t)x->unhunted));
            json_object_set_new(s, "compromised", json_boolean(x->compromised));
            if (x->compromised)
                cr_time_format(t, sizeof(t), x->first_compromised_ns);
            json_object_set_new(s, "first_compromised_time",
                                x->compromised ? json_string(t) : json_null());
            json_object_set_new(s, "clean_snapshot",
                                x->has_clean ? json_string(cr_id_to_hex(hex, &x->clean))
                                             : json_null());
            if (x->has_clean)
                cr_time_format(t, sizeof(t), x->clean_time_ns);
            json_object_set_new(s, "clean_time", x->has_clean ? json_string(t) : json_null());
            if (x->last_run != CR_RUN_NONE) {
                json_t *lr = json_object();
                cr_time_format(t, sizeof(t), x->last_run_ns);
                json_object_set_new(lr, "outcome", json_string(cr_run_outcome_name(x->last_run)));
                json_object_set_new(lr, "time", json_string(t));
                json_object_set_new(lr, "errors", json_integer((json_int_t)x->last_run_errors));
                json_object_set_new(lr, "hunt", json_string(cr_run_hunt_name(x->last_run_hunt)));
                json_object_set_new(lr, "findings_high",
                                    json_integer((json_int_t)x->last_run_findings_high));
                json_object_set_new(lr, "message", x->last_run_message
                                                       ? cli_json_str(x->last_run_message)
                                                       : json_null());
                json_object_set_new(s, "last_run", lr);
            } else {
                json_object_set_new(s, "last_run", json_null());
            }
            json_array_append_new(a, s);
        }
        json_object_set_new(o, "sources", a);
        json_object_set_new(o, "vault", vault_json(&st.vault));
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
        if (x->suspect)
            printf("%-20s   the newest snapshot is tagged suspect: ransomware signals during "
                   "its backup\n", "");
        if (x->compromised) {
            cr_time_format(t, sizeof(t), x->first_compromised_ns);
            printf("%-20s   compromised since %s (a finding at or above high); ", "", t);
            if (x->has_clean) {
                cr_time_format(t, sizeof(t), x->clean_time_ns);
                printf("clean point %.8s %s\n", cr_id_to_hex(hex, &x->clean), t);
            } else {
                printf("no clean point\n");
            }
        } else if (x->has_last && x->unhunted) {
            printf("%-20s   %zu snapshot(s) not hunted yet\n", "", x->unhunted);
        }
        if (x->last_run != CR_RUN_NONE) {
            char *j = cli_escape(x->job ? x->job : "?");
            cr_time_format(t, sizeof(t), x->last_run_ns);
            age_text(a, sizeof(a), st.now_ns - x->last_run_ns);
            printf("%-20s   last run of job %s: %s, %s (%s ago)", "", j,
                   cr_run_outcome_name(x->last_run), t, a);
            if (x->last_run == CR_RUN_PARTIAL && x->last_run_errors)
                printf(", %llu unreadable item(s)", (unsigned long long)x->last_run_errors);
            if (x->last_run_message) {
                char *m = cli_escape(x->last_run_message);
                printf(": %s", m);
                free(m);
            }
            printf("\n");
            free(j);
        }
        free(e);
    }
    print_vault(&st.vault, st.now_ns);
    rc = notify < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
done:
    cr_status_clear(&st);
    cr_repo_free(repo);
    cr_jobs_free(jobs);
    cr_problems_free(pr, npr);
    return rc;
}
