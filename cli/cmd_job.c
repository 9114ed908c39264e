/*
 * cleanroom job: the jobs file (docs/jobs.md) — check it, list its jobs, run
 * them (backup, hunt, forget: the same library calls as those commands), and
 * write the systemd units that schedule them.
 *
 * A jobs file with any error runs nothing, installs nothing: a scheduler must
 * not start half of a file a technician was halfway through editing.
 */
#include "common.h"

#include "cleanroom/jobs.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_text[] =
    "usage: cleanroom job check [--jobs FILE]\n"
    "       cleanroom job list [--jobs FILE]\n"
    "       cleanroom job run NAME... | --all [--jobs FILE] [--time ISO8601]\n"
    "       cleanroom job install [--jobs FILE] [--unit-dir DIR] [--dry-run] [--no-enable]\n"
    "                             [--program PATH]\n"
    "       cleanroom job digest [--jobs FILE] [--now ISO8601]\n"
    "\n"
    "check    Read the jobs file and report every problem as FILE:LINE:COL: error|warning:\n"
    "         MESSAGE; then one line per job.\n"
    "list     One line per job: name, source, what it backs up, schedule, RPO, retention.\n"
    "run      Run the named jobs (or --all, in the file's order): back up the paths or\n"
    "         images as a snapshot of the job's source, hunt it (unless `hunt: false`),\n"
    "         then forget by its `retention:` rules. A failed job does not stop the next.\n"
    "         A verify job (`verify: M`) reads part N of M of the vault's packs instead.\n"
    "install  Write cleanroom-job-NAME.service and .timer for every job into the unit\n"
    "         folder (and cleanroom-digest.service and .timer with `mail: digest: daily`),\n"
    "         then (unless --no-enable or --unit-dir) run `systemctl daemon-reload`\n"
    "         and `systemctl enable --now` the timers.\n"
    "digest   Mail one summary of the alerts the runs recorded in the vault over the last\n"
    "         24 hours, and of the sources past their RPO now (nothing to say: no mail).\n"
    "         The timer of `mail: digest: daily` runs it.\n"
    "\n"
    "Options:\n"
    "  --jobs FILE      the jobs file (default: " CR_JOBS_DEFAULT_FILE ")\n"
    "  --all            run: every job\n"
    "  --time ISO8601   run: time of the restore points (default: now)\n"
    "  --unit-dir DIR   install: where to write the units (default: /etc/systemd/system;\n"
    "                   given, the timers are not enabled)\n"
    "  --dry-run        install: print the units, write nothing\n"
    "  --no-enable      install: write the units, do not call systemctl\n"
    "  --program PATH   install: the cleanroom command the units run (default: this one)\n"
    "  --now ISO8601    digest: the end of the 24 hours summed up (default: now)\n"
    "  --json           check, list, run: machine-readable output\n"
    "\n"
    "run sends one alert per event — a failed or partial backup, findings at or above high\n"
    "in the new snapshot, a failed hunt or retention — to the journal (or syslog), and by\n"
    "mail to the job's `notify: [mail, mail:ADDRESS]` targets through the file's `mail:`\n"
    "relay (with `digest: daily`, in the day's digest instead). Every run, even a failed\n"
    "one, leaves a write-once record in the vault: `cleanroom status` shows the last\n"
    "outcome of each job from any machine that opens the vault.\n"
    "\n"
    "The vault is --repo, else the file's `vault:`, else $CLEANROOM_REPO.\n"
    "\n"
    "Exit codes: 0 done, 1 error, 2 the jobs file has errors (or usage; nothing ran),\n"
    "1 also when an alert mail could not be sent,\n"
    "3 wrong passphrase, 4 damaged vault, 5 a backup saved with unreadable items (or a hunt\n"
    "could not scan everything), 6 locked, 7 no jobs file, no vault, or a path that does not\n"
    "exist, 11 a backup was saved but tagged suspect (ransomware signals). With several\n"
    "jobs, the most serious of their codes (11, then errors, then 5). A run whose record\n"
    "could not be written in the vault exits 1 (unless it has a more serious code).\n"
    "digest: 0 sent (or nothing to say), 1 the mail could not be sent, 2 no mail relay or\n"
    "no recipient in the jobs file.\n";

/* Load the file; problems on stdout for `check`, else on stderr. @return an exit code. */
static int load(cr_jobs **out, const char *file, int for_check, int *nerr, int *nwarn)
{
    cr_problem *pr = NULL;
    size_t npr = 0;
    int err, rc = 0, e = 0, w = 0;

    cr_error_clear();
    err = cr_jobs_load(out, &pr, &npr, file);
    if (err < 0 && err != CR_EINPUT) {
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (err == CR_EINPUT && npr == 0) { /* too large: no problem list */
        rc = cli_fail(err, NULL);
        goto done;
    }
    if (for_check && cli_g.json) {
        for (size_t i = 0; i < npr; i++)
            (pr[i].is_error ? e++ : w++);
    } else if (for_check) {
        cli_print_problems(file, pr, npr, &e, &w);
    } else {
        /* a run prints what is wrong where a scheduler's log keeps it */
        fflush(stdout);
        int fd = dup(1);
        if (fd >= 0 && dup2(2, 1) >= 0) {
            cli_print_problems(file, pr, npr, &e, &w);
            fflush(stdout);
            dup2(fd, 1);
        }
        if (fd >= 0)
            close(fd);
    }
    if (e) {
        char *ef = cli_escape(file);
        cli_error("the jobs file %s has %d error(s)%s", ef, e,
                  for_check ? "" : ": nothing was run");
        free(ef);
        rc = CLI_EXIT_USAGE;
    }
    if (for_check && cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", cli_json_str(file));
        json_object_set_new(o, "errors", json_integer(e));
        json_object_set_new(o, "warnings", json_integer(w));
        json_object_set_new(o, "problems", cli_problems_json(pr, npr));
        if (*out) {
            json_t *names = json_array();
            for (size_t i = 0; i < (*out)->n; i++)
                json_array_append_new(names, cli_json_str((*out)->jobs[i].name));
            json_object_set_new(o, "jobs", names);
        }
        cli_json_print(o);
    }
done:
    if (nerr)
        *nerr = e;
    if (nwarn)
        *nwarn = w;
    cr_problems_free(pr, npr);
    return rc;
}

static char *fmt_duration(int64_t ns)
{
    char b[64];
    if (ns <= 0)
        return cli_xstrdup("none");
    int64_t s = ns / 1000000000LL;
    if (s % 86400 == 0)
        snprintf(b, sizeof(b), "%lldd", (long long)(s / 86400));
    else
        snprintf(b, sizeof(b), "%lldh", (long long)(s / 3600));
    return cli_xstrdup(b);
}

static char *retention_text(const cr_job *j)
{
    char b[256] = "";
    size_t o = 0;
    const char *names[] = {"last", "hourly", "daily", "weekly", "monthly", "yearly"};
    unsigned int v[] = {j->keep_last,   j->keep_hourly,  j->keep_daily,
                        j->keep_weekly, j->keep_monthly, j->keep_yearly};
    if (!j->has_retention)
        return cli_xstrdup("keep all");
    for (int i = 0; i < 6; i++)
        if (v[i])
            o += (size_t)snprintf(b + o, sizeof(b) - o, "%s%s %u", o ? ", " : "", names[i], v[i]);
    if (j->keep_within_ns) {
        char *d = fmt_duration(j->keep_within_ns);
        snprintf(b + o, sizeof(b) - o, "%swithin %s", o ? ", " : "", d);
        free(d);
    }
    return cli_xstrdup(b);
}

static json_t *job_json(const cr_job *j)
{
    json_t *o = json_object(), *what = json_array(), *n = json_array();
    for (size_t i = 0; i < j->npaths; i++)
        json_array_append_new(what, cli_json_str(j->paths[i]));
    for (size_t i = 0; i < j->nimages; i++)
        json_array_append_new(what, cli_json_str(j->images[i]));
    for (size_t i = 0; i < j->nnotify; i++)
        json_array_append_new(n, cli_json_str(j->notify[i]));
    json_object_set_new(o, "name", cli_json_str(j->name));
    json_object_set_new(o, "source", j->source ? cli_json_str(j->source) : json_null());
    json_object_set_new(o, "verify_subset",
                        j->verify_subset ? json_integer(j->verify_subset) : json_null());
    json_object_set_new(o, j->nimages ? "images" : "paths", what);
    json_object_set_new(o, "schedule", j->schedule ? cli_json_str(j->schedule) : json_null());
    json_object_set_new(o, "on_calendar",
                        j->on_calendar ? cli_json_str(j->on_calendar) : json_null());
    json_object_set_new(o, "rpo_seconds", j->rpo_ns ? json_integer(j->rpo_ns / 1000000000LL)
                                                    : json_null());
    json_object_set_new(o, "hunt", json_boolean(j->hunt));
    if (j->ransomware_check && !j->nimages && !j->verify_subset) {
        json_t *t = json_object();
        json_object_set_new(t, "renamed", json_integer(j->ransom.renamed));
        json_object_set_new(t, "changed", json_integer(j->ransom.changed));
        json_object_set_new(t, "percent", json_integer(j->ransom.percent));
        json_object_set_new(t, "notes", json_integer(j->ransom.notes));
        json_object_set_new(o, "ransomware", t);
    } else {
        json_object_set_new(o, "ransomware", json_null());
    }
    char *r = retention_text(j);
    json_object_set_new(o, "retention", cli_json_str(r));
    free(r);
    json_object_set_new(o, "notify", n);
    return o;
}

static void print_job(const cr_job *j)
{
    if (j->verify_subset) {
        char *n = cli_escape(j->name), *sc = cli_escape(j->schedule);
        printf("%s: verify 1/%u of the vault's packs per run, schedule %s\n", n,
               j->verify_subset, sc);
        free(n);
        free(sc);
        return;
    }
    char *name = cli_escape(j->name), *src = cli_escape(j->source);
    char *sch = cli_escape(j->schedule), *rpo = fmt_duration(j->rpo_ns), *ret = retention_text(j);
    printf("%s: source %s, %zu %s, schedule %s, rpo %s, %s, %s\n", name, src,
           j->nimages ? j->nimages : j->npaths,
           j->nimages ? (j->nimages > 1 ? "images" : "image") : (j->npaths > 1 ? "paths" : "path"),
           sch, rpo, ret, j->hunt ? "hunt" : "no hunt");
    free(name);
    free(src);
    free(sch);
    free(rpo);
    free(ret);
}

static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    char *p = cli_escape(path), *m = cli_escape(message);
    cli_warn("%s: %s", p, m);
    free(p);
    free(m);
}

/* How serious an exit code is, to report the worst of several jobs. */
static int severity(int rc)
{
    return rc == CLI_EXIT_OK ? 0 : rc == CLI_EXIT_PARTIAL ? 1 : rc == CLI_EXIT_SUSPECT ? 3 : 2;
}

/* One alert per event of the run (journal always, mail to the job's mail targets). A mail
 * that cannot be sent is said, and makes the run exit 1: nobody would know otherwise. */
static int alert(cr_repo *repo, const cr_jobs *jobs, const cr_job *j, const cr_job_result *r,
                 json_t *sent)
{
    cr_alert *a = NULL;
    size_t n = 0;
    int rc = 0;
    cr_error_clear();
    if (cr_job_alerts(&a, &n, repo, j, r) < 0)
        return cli_fail(CR_ERROR, "could not decide the alerts of the job");
    for (size_t i = 0; i < n; i++) {
        cr_error_clear();
        if (cr_alert_send(jobs, j, &a[i]) < 0) {
            char *name = cli_escape(j->name);
            cli_error("job %s: %s", name, cr_error_last());
            free(name);
            rc = CLI_EXIT_ERROR;
        }
        if (sent)
            json_array_append_new(sent, json_string(cr_alert_kind_name(a[i].kind)));
    }
    free(a);
    return rc;
}

static int run_one(cr_repo *repo, const cr_jobs *jobs, const cr_job *j, int64_t time_ns,
                   const char *rules, json_t *results)
{
    cr_job_run_options o = CR_JOB_RUN_OPTIONS_INIT;
    cr_job_result r;
    char hex[CR_ID_HEX_LEN + 1];
    char *name = cli_escape(j->name);
    int err, rc;

    o.time_ns = time_ns;
    o.builtin_dir = rules;
    o.warning = on_warning;
    cr_error_clear();
    err = cr_job_run(&r, repo, j, &o);
    rc = err == 0 ? CLI_EXIT_OK : cli_exit_code(err);
    if (r.watched && r.ransom.suspect)
        rc = CLI_EXIT_SUSPECT; /* the most serious news of the night */
    json_t *x = cli_g.json ? json_object() : NULL, *alerts = x ? json_array() : NULL;
    if (x) {
        json_object_set_new(x, "alerts", alerts);
        json_object_set_new(x, "job", cli_json_str(j->name));
        json_object_set_new(x, "source", j->source ? cli_json_str(j->source) : json_null());
        json_object_set_new(x, "snapshot",
                            r.snap ? cli_json_str(cr_id_to_hex(hex, &r.snap->id)) : json_null());
        json_object_set_new(x, "errors", json_integer(r.snap ? (json_int_t)r.snap->errors : 0));
        json_object_set_new(x, "hunted", json_boolean(r.hunt == 0 || r.hunt == CR_EPARTIAL));
        json_object_set_new(x, "findings", json_integer((json_int_t)r.findings));
        json_object_set_new(x, "forgotten", json_integer((json_int_t)r.forgotten));
        json_object_set_new(x, "suspect", json_boolean(r.watched && r.ransom.suspect));
        if (j->verify_subset) {
            char part[32];
            snprintf(part, sizeof(part), "%u/%u", r.subset_n, r.subset_m);
            json_object_set_new(x, "verify_part", json_string(part));
            json_object_set_new(x, "packs_read", json_integer((json_int_t)r.packs_read));
            json_object_set_new(x, "problems", json_integer((json_int_t)r.problems));
        }
        json_object_set_new(x, "record",
                            r.record == 0 ? cli_json_str(cr_id_to_hex(hex, &r.record_id))
                                          : json_null());
        json_object_set_new(x, "outcome_recorded", json_boolean(r.record == 0));
        json_object_set_new(x, "exit", json_integer(rc == CLI_EXIT_OK && r.record < 0
                                                        ? CLI_EXIT_ERROR
                                                        : rc));
        json_object_set_new(x, "message", r.message ? cli_json_str(r.message) : json_null());
        json_array_append_new(results, x);
    } else if (j->verify_subset) {
        printf("job %s: verify of part %u/%u of the vault: %llu pack(s) read, %zu problem(s)\n",
               name, r.subset_n, r.subset_m, (unsigned long long)r.packs_read, r.problems);
    } else if (r.snap) {
        printf("job %s: snapshot %.8s of %s saved", name, cr_id_to_hex(hex, &r.snap->id),
               j->source);
        if (r.snap->errors)
            printf(" (%llu unreadable item(s))", (unsigned long long)r.snap->errors);
        if (r.hunt == 0 || r.hunt == CR_EPARTIAL)
            printf(", hunted: %llu finding(s)", (unsigned long long)r.findings);
        if (r.forget == 0)
            printf(", %zu snapshot(s) forgotten", r.forgotten);
        printf("\n");
    }
    if (r.message) {
        char *m = cli_escape(r.message);
        cli_error("job %s: %s", name, m);
        free(m);
    }
    if (r.record < 0) {
        /* without it, `status` elsewhere would not know of this run */
        char *m = cli_escape(r.record_message ? r.record_message : "");
        cli_error("job %s: %s", name, m);
        free(m);
        if (rc == CLI_EXIT_OK)
            rc = CLI_EXIT_ERROR;
    }
    if (r.watched && r.ransom.suspect) {
        char *why = cli_escape(r.ransom.reason);
        cli_warn("job %s: ransomware signals: %s; the snapshot is saved as evidence, tagged "
                 "'suspect'",
                 name, why);
        free(why);
    }
    int arc = alert(repo, jobs, j, &r, alerts);
    free(name);
    cr_job_result_clear(&r);
    /* a lost alert is an error; the job's own error says more */
    return rc == CLI_EXIT_OK ? arc : rc;
}

static int job_run(cr_jobs *jobs, char **names, int nnames, int all, int64_t time_ns)
{
    cr_repo *repo = NULL;
    const char *rules = NULL;
    json_t *results = cli_g.json ? json_array() : NULL;
    int rc = 0;

    for (int i = 0; i < nnames; i++) {
        if (!cr_jobs_find(jobs, names[i])) {
            const char **known = cli_xmalloc(sizeof(char *) * (jobs->n + 1));
            for (size_t k = 0; k < jobs->n; k++)
                known[k] = jobs->jobs[k].name;
            const char *near = cr_suggest(names[i], known, jobs->n);
            char *e = cli_escape(names[i]);
            if (near)
                rc = cli_usage_error("job", "no job named '%s' in %s: did you mean `%s`?", e,
                                     jobs->file, near);
            else
                rc = cli_usage_error("job", "no job named '%s' in %s (see `cleanroom job list`)",
                                     e, jobs->file);
            free(e);
            free(known);
            goto done;
        }
    }
    if ((!cli_g.repo || !*cli_g.repo) && jobs->vault)
        cli_g.repo = jobs->vault;
    if ((rc = cli_open_repo(&repo)) != 0)
        goto done;
    for (size_t k = 0; k < jobs->n; k++) {
        const cr_job *j = &jobs->jobs[k];
        int wanted = all;
        for (int i = 0; i < nnames && !wanted; i++)
            wanted = strcmp(names[i], j->name) == 0;
        if (!wanted)
            continue;
        if (j->hunt && !rules) {
            int r = cli_builtin_rules_dir(&rules, "run");
            if (r != 0) {
                rc = r;
                goto done;
            }
        } else if (j->ransomware_check && !rules &&
                   cli_builtin_rules_dir(&rules, NULL) != 0) {
            cli_warn("the shipped rules are not found: the ransomware signals of job %s are "
                     "not counted (set CLEANROOM_RULES)",
                     j->name);
        }
        int r = run_one(repo, jobs, j, time_ns, rules, results);
        if (severity(r) > severity(rc) || (severity(r) == severity(rc) && rc == 0))
            rc = r;
    }
done:
    if (results) {
        if (rc == 0 || json_array_size(results)) {
            json_t *o = json_object();
            json_object_set_new(o, "jobs", results);
            cli_json_print(o);
        } else {
            json_decref(results);
        }
    }
    cr_repo_free(repo);
    return rc;
}

/* The daily digest: one mail of the last 24 hours' recorded alerts and of the late sources. */
static int job_digest(cr_jobs *jobs, int64_t now_ns)
{
    cr_repo *repo = NULL;
    size_t n = 0;
    int err, rc;

    if (!jobs->mail.relay) {
        cli_error("the jobs file %s has no `mail:` section: the digest has no relay to go "
                  "through",
                  jobs->file);
        return CLI_EXIT_USAGE;
    }
    if ((!cli_g.repo || !*cli_g.repo) && jobs->vault)
        cli_g.repo = jobs->vault;
    if ((rc = cli_open_repo(&repo)) != 0)
        return rc;
    cr_error_clear();
    err = cr_digest_send(&n, repo, jobs, now_ns);
    if (err == CR_EINPUT) {
        cli_error("%s", cr_error_last());
        rc = CLI_EXIT_USAGE;
    } else if (err < 0) {
        rc = cli_fail(err, NULL);
    } else if (cli_g.json) {
        json_t *o = json_object();
        json_object_set_new(o, "events", json_integer((json_int_t)n));
        json_object_set_new(o, "sent", json_boolean(n > 0));
        rc = cli_json_print(o);
    } else if (!cli_g.quiet) {
        if (n)
            printf("digest of %zu event(s) sent\n", n);
        else
            printf("nothing to report: no digest sent\n");
    }
    cr_repo_free(repo);
    return rc;
}

static int job_install(cr_jobs *jobs, const char *file, const char *unit_dir, int dry_run,
                       int enable, const char *program)
{
    char exe[PATH_MAX], absfile[PATH_MAX];
    char **written = NULL;
    int err, rc = 0;

    if (!program) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0) {
            cli_error("cannot tell where this cleanroom command is; give it with --program PATH");
            return CLI_EXIT_ERROR;
        }
        exe[n] = '\0';
        program = exe;
    }
    if (!realpath(file, absfile)) {
        cli_error("cannot resolve the path of the jobs file %s", file);
        return CLI_EXIT_NOTFOUND;
    }
    if (dry_run) {
        for (size_t i = 0; i < jobs->n; i++) {
            char *svc = NULL, *tim = NULL;
            cr_error_clear();
            if ((err = cr_job_units(&svc, &tim, jobs, &jobs->jobs[i], program, absfile)) < 0)
                return cli_fail(err, NULL);
            printf("### %s/cleanroom-job-%s.service\n%s\n### %s/cleanroom-job-%s.timer\n%s\n",
                   unit_dir, jobs->jobs[i].name, svc, unit_dir, jobs->jobs[i].name, tim);
            free(svc);
            free(tim);
        }
        if (jobs->mail.digest == CR_DIGEST_DAILY) {
            char *svc = NULL, *tim = NULL;
            cr_error_clear();
            if ((err = cr_digest_units(&svc, &tim, jobs, program, absfile)) < 0)
                return cli_fail(err, NULL);
            printf("### %s/cleanroom-digest.service\n%s\n### %s/cleanroom-digest.timer\n%s\n",
                   unit_dir, svc, unit_dir, tim);
            free(svc);
            free(tim);
        }
        return 0;
    }
    cr_error_clear();
    if ((err = cr_jobs_install(&written, jobs, unit_dir, program, absfile)) < 0)
        return cli_fail(err, NULL);
    for (size_t i = 0; written[i]; i++)
        if (!cli_g.quiet)
            printf("wrote %s/%s\n", unit_dir, written[i]);
    cr_strv_free(written);
    if (enable) {
        cr_error_clear();
        if ((err = cr_jobs_enable(jobs)) < 0) {
            rc = cli_fail(err, "the units were written, but the timers are not enabled");
            cli_hint("systemctl daemon-reload && systemctl enable --now cleanroom-job-NAME.timer");
        } else if (!cli_g.quiet) {
            printf("enabled %zu timer(s): systemctl list-timers 'cleanroom-job-*' shows them\n",
                   jobs->n);
        }
    } else if (!cli_g.quiet) {
        printf("not enabled: systemctl daemon-reload, then systemctl enable --now "
               "cleanroom-job-NAME.timer\n");
    }
    return rc;
}

int cmd_job(int argc, char **argv)
{
    enum {
        OPT_JOBS = CLI_OPT_FIRST_CMD,
        OPT_ALL,
        OPT_TIME,
        OPT_UNIT_DIR,
        OPT_DRY_RUN,
        OPT_NO_ENABLE,
        OPT_PROGRAM,
        OPT_NOW,
    };
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"all", no_argument, NULL, OPT_ALL},
        {"time", required_argument, NULL, OPT_TIME},
        {"unit-dir", required_argument, NULL, OPT_UNIT_DIR},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"no-enable", no_argument, NULL, OPT_NO_ENABLE},
        {"program", required_argument, NULL, OPT_PROGRAM},
        {"now", required_argument, NULL, OPT_NOW},
        CLI_GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *file = CR_JOBS_DEFAULT_FILE, *unit_dir = NULL, *program = NULL, *action;
    int all = 0, dry_run = 0, no_enable = 0, c, rc = CLI_EXIT_USAGE, nerr = 0;
    int64_t time_ns = 0, now_ns = 0;
    cr_jobs *jobs = NULL;

    while ((c = cli_getopt(argc, argv, "", longopts, "job")) != -1) {
        switch (c) {
        case OPT_JOBS: file = optarg; break;
        case OPT_ALL: all = 1; break;
        case OPT_TIME:
            if (cr_time_parse(&time_ns, optarg) < 0) {
                rc = cli_usage_error("job", "--time '%s' is not a date/time; use e.g. "
                                            "2026-11-22T10:00:00Z",
                                     optarg);
                goto done;
            }
            break;
        case OPT_NOW:
            if (cr_time_parse(&now_ns, optarg) < 0) {
                rc = cli_usage_error("job", "--now '%s' is not a date/time", optarg);
                goto done;
            }
            break;
        case OPT_UNIT_DIR: unit_dir = optarg; break;
        case OPT_DRY_RUN: dry_run = 1; break;
        case OPT_NO_ENABLE: no_enable = 1; break;
        case OPT_PROGRAM: program = optarg; break;
        case CLI_OPT_HELP:
            fputs(help_text, stdout);
            rc = CLI_EXIT_OK;
            goto done;
        default: goto done;
        }
    }
    if (optind >= argc) {
        rc = cli_usage_error("job", "say what to do: check, list, run, install or digest");
        goto done;
    }
    action = argv[optind++];
    if (strcmp(action, "check") == 0 || strcmp(action, "list") == 0) {
        int check = action[0] == 'c';
        if (optind < argc) {
            rc = cli_unexpected_argument("job", argv[optind], NULL);
            goto done;
        }
        if ((rc = load(&jobs, file, check, &nerr, NULL)) != 0 || !jobs)
            goto done;
        if (cli_g.json && !check) {
            json_t *a = json_array();
            for (size_t i = 0; i < jobs->n; i++)
                json_array_append_new(a, job_json(&jobs->jobs[i]));
            json_t *o = json_object();
            json_object_set_new(o, "jobs", a);
            cli_json_print(o);
        } else if (!cli_g.json) {
            for (size_t i = 0; i < jobs->n; i++)
                print_job(&jobs->jobs[i]);
        }
        rc = CLI_EXIT_OK;
    } else if (strcmp(action, "run") == 0) {
        if (all == (optind < argc)) {
            rc = cli_usage_error("job", all ? "give job names or --all, not both"
                                            : "name the jobs to run, or --all");
            goto done;
        }
        if ((rc = load(&jobs, file, 0, NULL, NULL)) != 0)
            goto done;
        rc = job_run(jobs, argv + optind, argc - optind, all, time_ns);
    } else if (strcmp(action, "install") == 0) {
        if (optind < argc) {
            rc = cli_unexpected_argument("job", argv[optind], NULL);
            goto done;
        }
        if ((rc = load(&jobs, file, 0, NULL, NULL)) != 0)
            goto done;
        rc = job_install(jobs, file, unit_dir ? unit_dir : "/etc/systemd/system", dry_run,
                         !unit_dir && !no_enable, program);
    } else if (strcmp(action, "digest") == 0) {
        if (optind < argc) {
            rc = cli_unexpected_argument("job", argv[optind], NULL);
            goto done;
        }
        if ((rc = load(&jobs, file, 0, NULL, NULL)) != 0)
            goto done;
        rc = job_digest(jobs, now_ns);
    } else {
        static const char *const actions[] = {"check", "list", "run", "install", "digest"};
        const char *near = cr_suggest(action, actions, 5);
        char *e = cli_escape(action);
        if (near)
            rc = cli_usage_error("job", "unknown action '%s': did you mean `%s`?", e, near);
        else
            rc = cli_usage_error("job", "unknown action '%s' (check, list, run, install, "
                                        "digest)",
                                 e);
        free(e);
    }
done:
    cr_jobs_free(jobs);
    return rc;
}
