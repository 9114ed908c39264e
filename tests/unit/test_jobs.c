/*
 * Jobs: schedules become the OnCalendar values systemd runs, or are refused;
 * RPO grades change exactly at 1x, 2x and 4x the RPO; hostile text from the
 * file cannot add a line to a unit; the YAML bounds hold.
 */
#include "test.h"

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

int main(void)
{
    size_t nerr;
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
