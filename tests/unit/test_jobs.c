/*
 * Jobs: schedules become the OnCalendar values systemd runs, or are refused;
 * RPO grades change exactly at 1x, 2x and 4x the RPO; hostile text from the
 * file cannot add a line to a unit; the YAML bounds hold. Job records are
 * written once (the store refuses other bytes under a record's name; a
 * changed record is left out), and read back as written. Ransomware
 * thresholds and the digest are read from the file, with line:column errors.
 */
#include "test.h"
#include "fixture.h"

#include "cleanroom/jobs.h"

#include <stdlib.h>
#include <string.h>

static void schedule(const char *in, const char *want, int64_t want_interval_s)
{
    char *out = NULL;
    int64_t iv = -1;
    int err = cr_job_schedule_parse(&out, &iv, in);
    if (!want) {
        CHECK(err == CR_EINPUT);
        CHECK(out == NULL);
        CHECK(*cr_error_last() != '\0');
    } else {
        CHECK(err == 0);
        CHECK(out && strcmp(out, want) == 0);
        if (out && strcmp(out, want) != 0)
            fprintf(stderr, "  %s -> %s, want %s\n", in, out, want);
        CHECK(iv == want_interval_s * 1000000000LL);
    }
    free(out);
    cr_error_clear();
}

static void grades(void)
{
    const int64_t H = 3600LL * 1000000000LL, rpo = 26 * H;
    CHECK(cr_rpo_grade_of(5 * H, 0) == CR_RPO_UNKNOWN);
    CHECK(cr_rpo_grade_of(-5 * H, rpo) == CR_RPO_OK);  /* dated in the future */
    CHECK(cr_rpo_grade_of(rpo, rpo) == CR_RPO_OK);
    CHECK(cr_rpo_grade_of(rpo + 1, rpo) == CR_RPO_EXCEEDED);
    CHECK(cr_rpo_grade_of(2 * rpo, rpo) == CR_RPO_EXCEEDED);
    CHECK(cr_rpo_grade_of(2 * rpo + 2, rpo) == CR_RPO_SEVERELY);
    CHECK(cr_rpo_grade_of(4 * rpo, rpo) == CR_RPO_SEVERELY);
    CHECK(cr_rpo_grade_of(4 * rpo + 4, rpo) == CR_RPO_CRITICALLY);
    CHECK(cr_rpo_grade_of(INT64_MAX, rpo) == CR_RPO_CRITICALLY);
    CHECK(strcmp(cr_rpo_grade_name(CR_RPO_SEVERELY), "severely exceeded") == 0);
}

static cr_jobs *parse(const char *yaml, size_t *nerr)
{
    cr_jobs *j = NULL;
    cr_problem *pr = NULL;
    size_t npr = 0;
    int err = cr_jobs_parse(&j, &pr, &npr, "t.yaml", yaml, strlen(yaml));
    *nerr = 0;
    for (size_t i = 0; i < npr; i++)
        *nerr += pr[i].is_error;
    CHECK((err == 0) == (*nerr == 0));
    cr_problems_free(pr, npr);
    return j;
}

/* The problems of a file that must not load: each "LINE:COL" of `want` is among them. */
static void problems_at(const char *yaml, const char *const *want, size_t nwant)
{
    cr_jobs *j = NULL;
    cr_problem *pr = NULL;
    size_t npr = 0;
    CHECK(cr_jobs_parse(&j, &pr, &npr, "t.yaml", yaml, strlen(yaml)) == CR_EINPUT);
    CHECK(j == NULL);
    for (size_t w = 0; w < nwant; w++) {
        int found = 0;
        for (size_t i = 0; i < npr; i++) {
            char at[32];
            snprintf(at, sizeof(at), "%u:%u", pr[i].line, pr[i].col);
            found |= pr[i].is_error && strcmp(at, want[w]) == 0;
        }
        if (!found)
            fprintf(stderr, "no error at %s\n", want[w]);
        CHECK(found);
    }
    cr_problems_free(pr, npr);
}

static void thresholds(void)
{
    size_t nerr;
    cr_ransom_thresholds t = CR_RANSOM_THRESHOLDS_DEFAULT;
    CHECK(t.renamed == 20 && t.changed == 20 && t.percent == 10 && t.notes == 5);
    CHECK_OK(cr_ransom_thresholds_parse(&t, "renamed=500,notes=0"));
    CHECK(t.renamed == 500 && t.changed == 20 && t.percent == 10 && t.notes == 0);
    CHECK(cr_ransom_thresholds_parse(&t, "percent=101") == CR_EINPUT);
    CHECK(cr_ransom_thresholds_parse(&t, "renamed=") == CR_EINPUT);
    CHECK(cr_ransom_thresholds_parse(&t, "renamed=5,") == 0 && t.renamed == 5);
    CHECK(cr_ransom_thresholds_parse(&t, "lots=5") == CR_EINPUT);
    CHECK(cr_ransom_thresholds_parse(&t, "") == CR_EINPUT);
    CHECK(t.renamed == 5 && t.notes == 0); /* a refused text changes nothing */

    cr_jobs *j = parse("mail: {relay: \"smtp://localhost:25\", from: a@b.c, to: [d@e.f],\n"
                       "       digest: daily 06:30}\n"
                       "jobs:\n  - name: a\n    paths: [/d]\n    schedule: daily 01:00\n"
                       "    rpo: 26h\n    ransomware: {renamed: 1000, percent: 50}\n"
                       "  - name: b\n    paths: [/e]\n    schedule: daily 01:00\n"
                       "    rpo: 26h\n",
                       &nerr);
    REQUIRE(j && nerr == 0);
    CHECK(j->jobs[0].ransom.renamed == 1000 && j->jobs[0].ransom.percent == 50);
    CHECK(j->jobs[0].ransom.changed == 20 && j->jobs[0].ransom.notes == 5);
    CHECK(j->jobs[1].ransom.renamed == 20 && j->jobs[1].ransom.percent == 10);
    CHECK(j->mail.digest == CR_DIGEST_DAILY);
    CHECK(j->mail.digest_on_calendar && strcmp(j->mail.digest_on_calendar, "*-*-* 06:30:00") == 0);
    char *svc = NULL, *tim = NULL;
    CHECK_OK(cr_digest_units(&svc, &tim, j, "/usr/bin/cleanroom", "/etc/j.yaml"));
    CHECK(svc && strstr(svc, "\nExecStart=/usr/bin/cleanroom job digest --jobs /etc/j.yaml\n"));
    CHECK(tim && strstr(tim, "\nOnCalendar=*-*-* 06:30:00\nPersistent=true\n"));
    free(svc);
    free(tim);
    cr_jobs_free(j);

    static const char *const at[] = {"5:27", "5:40", "8:17"};
    problems_at("jobs:\n  - name: a\n    paths: [/d]\n    schedule: daily 01:00\n"
                "    ransomware: {renamed: -1, percent: 200}\n"
                "    ransomware_check: true\n  - name: b\n    ransomware: 5\n",
                at, 3);
    static const char *const at2[] = {"1:38"};
    problems_at("mail: {relay: \"smtp://x:25\", digest: weekly, from: a@b.c}\njobs: []\n", at2, 1);
}

/* A record is written once: what a job run recorded is read back, the store refuses other
 * bytes under its name, and a record changed on disk is left out, counted. */
static void records(void)
{
    char base[PATH_MAX], vault[PATH_MAX];
    fx_scratch_new(base, "jobrec");
    join(vault, base, "vault");
    cr_repo *repo = fx_vault_new(vault, "pw");
    cr_jobs *j = NULL;
    size_t nerr, n = 0, bad = 9;
    j = parse("jobs:\n  - name: dpi\n    source: dpi-server\n    paths: [/nonexistent-x]\n"
              "    schedule: daily 01:00\n    rpo: 26h\n",
              &nerr);
    REQUIRE(j && nerr == 0);
    cr_job_run_options o = CR_JOB_RUN_OPTIONS_INIT;
    cr_job_result r;
    o.time_ns = 1765000000LL * 1000000000LL;
    CHECK(cr_job_run(&r, repo, &j->jobs[0], &o) < 0);  /* the path does not exist */
    CHECK(r.snap == NULL && r.record == 0);
    CHECK(r.start_ns == o.time_ns && r.end_ns >= r.start_ns);
    cr_id rec = r.record_id;
    cr_job_result_clear(&r);

    cr_job_record *recs = NULL;
    CHECK_OK(cr_job_records_load(&recs, &n, &bad, repo));
    REQUIRE(n == 1);
    CHECK(bad == 0);
    CHECK(memcmp(recs[0].id.b, rec.b, 32) == 0);
    CHECK(strcmp(recs[0].job, "dpi") == 0 && strcmp(recs[0].source, "dpi-server") == 0);
    CHECK(recs[0].outcome == CR_RUN_FAILED && !recs[0].has_snapshot);
    CHECK(recs[0].start_ns == o.time_ns && recs[0].rpo_ns == 26LL * 3600 * 1000000000LL);
    CHECK(recs[0].message && strstr(recs[0].message, "nonexistent-x"));
    CHECK(recs[0].nalerts == 1 && recs[0].alerts[0].kind == CR_ALERT_JOB_FAILED);
    cr_job_records_free(recs, n);

    /* the attacker with write access to the store: other bytes under the record's name */
    char hex[CR_ID_HEX_LEN + 1], name[96];
    snprintf(name, sizeof(name), "runs/%s", cr_id_to_hex(hex, &rec));
    CHECK(cr_store_put(repo->store, name, "{\"outcome\":\"ok\"}", 16, 0) == CR_EEXISTS);
    CHECK_OK(cr_job_records_load(&recs, &n, &bad, repo));
    CHECK(n == 1 && recs[0].outcome == CR_RUN_FAILED);
    cr_job_records_free(recs, n);
    /* ...or, with the folder's rights, the bytes changed in place: left out, counted */
    char path[PATH_MAX];
    pathf(path, "%s/%s", vault, name);
    chmod(path, 0644);
    int fd = open(path, O_WRONLY);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "X", 1, 30) == 1);
    close(fd);
    CHECK_OK(cr_job_records_load(&recs, &n, &bad, repo));
    CHECK(n == 0 && bad == 1);
    cr_job_records_free(recs, n);

    /* decoding: what is not a record is refused */
    cr_job_record x;
    CHECK(cr_job_record_decode(&x, "{}", 2) == CR_ECORRUPT);
    const char *v2 = "{\"type\":\"job-run\",\"version\":2}";
    CHECK(cr_job_record_decode(&x, v2, strlen(v2)) == CR_EVERSION);
    cr_jobs_free(j);
    cr_repo_free(repo);
    fx_scratch_done(base);
}

int main(void)
{
    size_t nerr;
    thresholds();
    records();
    schedule("daily 02:00", "*-*-* 02:00:00", 86400);
    schedule("daily 23:59", "*-*-* 23:59:00", 86400);
    schedule("every 4h", "*-*-* 00/4:00:00", 4 * 3600);
    schedule("every 24h", "*-*-* 00:00:00", 86400);
    schedule("every 15m", "*-*-* *:00/15:00", 900);
    schedule("hourly", "hourly", 3600);
    schedule("Mon..Fri *-*-* 22:30", "Mon..Fri *-*-* 22:30", 0);
    schedule("daily 24:00", NULL, 0);
    schedule("daily 2", NULL, 0);
    schedule("every 5h", NULL, 0);
    schedule("every 0h", NULL, 0);
    schedule("every 7m", NULL, 0);
    schedule("", NULL, 0);
    schedule("daily\nExecStart=/bin/sh", NULL, 0);
    schedule("*-*-* 02:00\n[Service]", NULL, 0);
    schedule("%n", NULL, 0);
    grades();

    /* A source with '%' (a systemd specifier) reaches the unit doubled; paths with spaces
     * or quotes are refused rather than written into ExecStart. */
    cr_jobs *j = parse("jobs:\n  - name: a\n    source: \"x%n y\"\n    paths: [/d]\n"
                       "    schedule: daily 01:00\n    rpo: 26h\n",
                       &nerr);
    REQUIRE(j && nerr == 0);
    char *svc = NULL, *tim = NULL;
    CHECK_OK(cr_job_units(&svc, &tim, j, &j->jobs[0], "/usr/bin/cleanroom", "/etc/j.yaml"));
    CHECK(svc && strstr(svc, "(source x%%n y)"));
    CHECK(tim && strstr(tim, "\nOnCalendar=*-*-* 01:00:00\nPersistent=true\n"));
    free(svc);
    free(tim);
    CHECK(cr_job_units(&svc, &tim, j, &j->jobs[0], "/usr/bin/cleanroom",
                       "/etc/my jobs.yaml") == CR_EINPUT);
    CHECK(svc == NULL && tim == NULL);
    CHECK(cr_job_units(&svc, &tim, j, &j->jobs[0], "cleanroom", "/etc/j.yaml") == CR_EINPUT);
    cr_jobs_free(j);

    /* A vault server's address goes into ExecStart as it is; one with a space does not. */
    j = parse("vault: https://vault.chu.example:8443/\njobs:\n  - name: a\n    paths: [/d]\n"
              "    schedule: hourly\n    rpo: 2h\n",
              &nerr);
    REQUIRE(j && nerr == 0);
    CHECK_OK(cr_job_units(&svc, &tim, j, &j->jobs[0], "/usr/bin/cleanroom", "/etc/j.yaml"));
    CHECK(svc && strstr(svc, "\nExecStart=/usr/bin/cleanroom --repo https://vault.chu.example:8443/ "
                             "job run a --jobs /etc/j.yaml\n"));
    free(svc);
    free(tim);
    free(j->vault);
    j->vault = strdup("https://vault.chu.example/a b");
    CHECK(cr_job_units(&svc, &tim, j, &j->jobs[0], "/usr/bin/cleanroom", "/etc/j.yaml") ==
          CR_EINPUT);
    cr_jobs_free(j);

    /* Bounds: deep nesting and a billion-laughs alias are refused, not expanded. */
    char deep[400] = "jobs: ";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    CHECK(parse(deep, &nerr) == NULL && nerr >= 1);
    CHECK(parse("a: &a [x, x]\nb: &b [*a, *a]\njobs: [*b]\n", &nerr) == NULL && nerr == 1);
    /* Two jobs of one source, a vault path that is relative: errors. */
    CHECK(parse("vault: v\njobs:\n  - {name: a, paths: /x, schedule: hourly, rpo: 2h}\n"
                "  - {name: b, source: a, paths: /y, schedule: hourly, rpo: 2h}\n",
                &nerr) == NULL &&
          nerr == 2);
    return test_summary("test_jobs");
}
