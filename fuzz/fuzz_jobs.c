/*
 * Fuzz target: the jobs file parser and checker (YAML from memory), and the
 * systemd units of what it accepts. Whatever the input, it returns jobs or
 * problems, never both missing; a job that loads has a name, a source, paths
 * or images (not both), an OnCalendar value, and units that are written
 * without a stray line: nothing from the file may end a unit line early.
 */
#include "cleanroom/jobs.h"

#include <stdlib.h>
#include <string.h>

static void one_line_values(const char *unit)
{
    /* every line is a comment, a section, empty, or KEY=VALUE */
    const char *p = unit;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len && p[0] != '#' && p[0] != '[' && !memchr(p, '=', len))
            abort();
        p += len + (nl ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cr_jobs *jobs = NULL;
    cr_problem *pr = NULL;
    size_t npr = 0;
    int err = cr_jobs_parse(&jobs, &pr, &npr, "fuzz.yaml", data, size);
    if (err == CR_EINPUT && (jobs || npr == 0))
        abort();
    for (size_t i = 0; i < npr; i++)
        if (!pr[i].message || !pr[i].message[0])
            abort();
    if (err == 0) {
        if (!jobs || jobs->n == 0)
            abort();
        for (size_t i = 0; i < jobs->n; i++) {
            const cr_job *j = &jobs->jobs[i];
            char *svc = NULL, *tim = NULL;
            if (!j->name || !j->on_calendar)
                abort();
            if (j->verify_subset ? (j->source || j->npaths || j->nimages)
                                 : (!j->source || (!j->npaths == !j->nimages)))
                abort();
            if (cr_job_units(&svc, &tim, jobs, j, "/usr/bin/cleanroom", "/etc/cleanroom/j.yaml") ==
                0) {
                one_line_values(svc);
                one_line_values(tim);
            }
            free(svc);
            free(tim);
        }
    }
    cr_jobs_free(jobs);
    cr_problems_free(pr, npr);
    return 0;
}
