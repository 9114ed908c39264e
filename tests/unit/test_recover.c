/*
 * The recovery scheduler (cr_recover_schedule): tiers finish before the next
 * starts, dependencies must be OK, failures block dependents transitively,
 * instances of a service are units of their own, the parallel limit holds.
 * Also the plan's `stop:` key, the default journal paths, and that an
 * acknowledgement needs a recovery in its journal.
 */
#include "test.h"

#include "recover/plan_priv.h"
#include "util/util.h"

#include "cleanroom/recover.h"

#include <unistd.h>

static cr_plan *plan;

static void parse(const char *yaml)
{
    cr_plan_problem *pr = NULL;
    size_t npr = 0;
    cr_plan_free(plan);
    plan = NULL;
    int err = cr_plan_parse_buffer(&plan, &pr, &npr, "t.yaml", yaml, strlen(yaml));
    for (size_t i = 0; i < npr; i++)
        if (pr[i].is_error)
            fprintf(stderr, "  %u:%u: %s\n", pr[i].line, pr[i].col, pr[i].message);
    cr_plan_problems_free(pr, npr);
    REQUIRE(err == 0 && plan);
}

static size_t svc(const char *name)
{
    for (size_t i = 0; i < plan->nservices; i++)
        if (strcmp(plan->services[i].name, name) == 0)
            return i;
    REQUIRE(!"no such service");
    return 0;
}

/* Units in plan order, one per instance. */
static cr_recover_unit units[32];
static size_t nunits;

static void make_units(void)
{
    nunits = 0;
    for (size_t i = 0; i < plan->nservices; i++)
        for (unsigned int k = 1; k <= plan->services[i].count; k++) {
            units[nunits].service = i;
            units[nunits].instance = k;
            units[nunits].state = CR_UNIT_WAITING;
            units[nunits].blocked_by = 0;
            nunits++;
        }
}

static size_t unit_of(const char *name)
{
    size_t s = svc(name);
    for (size_t u = 0; u < nunits; u++)
        if (units[u].service == s)
            return u;
    return SIZE_MAX;
}

/* "a,b": the names of the units ready now (max 16). */
static char ready_names[256];
static size_t sched(size_t max)
{
    size_t ready[32];
    size_t n = cr_recover_schedule(ready, max, plan, units, nunits);
    ready_names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const cr_recover_unit *u = &units[ready[i]];
        char one[64];
        if (plan->services[u->service].count > 1)
            snprintf(one, sizeof(one), "%s%s#%u", i ? "," : "", plan->services[u->service].name,
                     u->instance);
        else
            snprintf(one, sizeof(one), "%s%s", i ? "," : "", plan->services[u->service].name);
        strcat(ready_names, one);
    }
    return n;
}

static void set(const char *name, cr_unit_state st)
{
    units[unit_of(name)].state = st;
}

static const char *hospital =
    "site: t\n"
    "services:\n"
    "  - {name: ad, tier: 0, target: {folder: /r/ad}}\n"
    "  - {name: dns, tier: 0, depends_on: [ad], target: {folder: /r/dns}}\n"
    "  - {name: dhcp, tier: 0, target: {folder: /r/dhcp}}\n"
    "  - {name: db, tier: 1, target: {folder: /r/db}}\n"
    "  - {name: dpi, tier: 1, depends_on: [db, ad], target: {folder: /r/dpi}}\n"
    "  - {name: pacs, tier: 1, depends_on: [dpi], target: {folder: /r/pacs}}\n"
    "  - {name: mail, tier: 2, target: {folder: /r/mail}}\n"
    "  - {name: ws, tier: 3, depends_on: [dpi], count: 3, target: {folder: /r/ws%n}}\n";

static void test_tiers_and_dependencies(void)
{
    parse(hospital);
    make_units();
    CHECK(nunits == 10);
    /* Tier 0 first; dns waits for ad. */
    CHECK(sched(16) == 2 && strcmp(ready_names, "ad,dhcp") == 0);
    CHECK(sched(1) == 1 && strcmp(ready_names, "ad") == 0); /* the parallel limit */
    set("ad", CR_UNIT_RUNNING);
    set("dhcp", CR_UNIT_RUNNING);
    CHECK(sched(16) == 0);
    set("ad", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "dns") == 0);
    set("dns", CR_UNIT_RUNNING);
    set("dhcp", CR_UNIT_OK);
    /* db (tier 1, no deps) still waits: dns of tier 0 is not finished. */
    CHECK(sched(16) == 0);
    set("dns", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "db") == 0);
    set("db", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "dpi") == 0);
    set("dpi", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "pacs") == 0);
    set("pacs", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "mail") == 0);
    set("mail", CR_UNIT_OK);
    /* Three instances of the workstations, each a unit; the limit holds. */
    CHECK(sched(16) == 3 && strcmp(ready_names, "ws#1,ws#2,ws#3") == 0);
    CHECK(sched(2) == 2 && strcmp(ready_names, "ws#1,ws#2") == 0);
}

/* A service back but waiting for a person's step (CR_UNIT_STEP) holds its dependents and the
 * next tiers, without blocking them: once acknowledged (OK), they start. */
static void test_step_holds(void)
{
    parse(hospital);
    make_units();
    set("ad", CR_UNIT_STEP);
    set("dhcp", CR_UNIT_OK);
    CHECK(sched(16) == 0); /* dns depends on ad; tier 1 waits for tier 0 */
    CHECK(units[unit_of("dns")].state == CR_UNIT_WAITING);
    CHECK(units[unit_of("dpi")].state == CR_UNIT_WAITING);
    set("ad", CR_UNIT_OK);
    CHECK(sched(16) == 1 && strcmp(ready_names, "dns") == 0);
}

static void test_failure_blocks_dependents(void)
{
    parse(hospital);
    make_units();
    set("ad", CR_UNIT_OK);
    set("dhcp", CR_UNIT_OK);
    set("dns", CR_UNIT_FAILED);
    /* A failure in tier 0 does not stop tier 1: db and dpi do not need dns. */
    CHECK(sched(16) == 1 && strcmp(ready_names, "db") == 0);
    set("db", CR_UNIT_FAILED);
    /* dpi needs db: blocked, and so are pacs and the workstations, transitively. */
    CHECK(sched(16) == 1 && strcmp(ready_names, "mail") == 0);
    CHECK(units[unit_of("dpi")].state == CR_UNIT_BLOCKED);
    CHECK(units[unit_of("dpi")].blocked_by == svc("db"));
    CHECK(units[unit_of("pacs")].state == CR_UNIT_BLOCKED);
    CHECK(units[unit_of("pacs")].blocked_by == svc("dpi"));
    size_t ws = unit_of("ws");
    for (size_t k = 0; k < 3; k++) {
        CHECK(units[ws + k].state == CR_UNIT_BLOCKED);
        CHECK(units[ws + k].blocked_by == svc("dpi"));
    }
    CHECK(units[unit_of("mail")].state == CR_UNIT_WAITING);
    set("mail", CR_UNIT_OK);
    CHECK(sched(16) == 0);
}

static void test_instances_all_needed(void)
{
    parse("site: t\n"
          "services:\n"
          "  - {name: ws, tier: 2, count: 2, target: {folder: /r/ws%n}}\n"
          "  - {name: after, tier: 2, depends_on: [ws], target: {folder: /r/after}}\n");
    make_units();
    CHECK(sched(16) == 2 && strcmp(ready_names, "ws#1,ws#2") == 0);
    units[0].state = CR_UNIT_OK;
    units[1].state = CR_UNIT_RUNNING;
    CHECK(sched(16) == 0); /* one instance is not enough */
    units[1].state = CR_UNIT_FAILED;
    CHECK(sched(16) == 0);
    CHECK(units[2].state == CR_UNIT_BLOCKED);
}

static void test_stop_key_and_paths(void)
{
    parse("site: t\n"
          "services:\n"
          "  - {name: a, tier: 0, target: {folder: /r/a}, start: 'run', stop: 'halt now'}\n"
          "  - {name: b, tier: 0, target: {folder: /r/b}}\n");
    CHECK(plan->services[0].stop && strcmp(plan->services[0].stop, "halt now") == 0);
    CHECK(plan->services[1].stop == NULL);
    cr_plan_problem *pr = NULL;
    size_t npr = 0;
    cr_plan *p2 = NULL;
    const char *bad =
        "site: t\nservices:\n  - {name: a, tier: 0, target: {folder: /r}, stop: '  '}\n";
    CHECK(cr_plan_parse_buffer(&p2, &pr, &npr, "t.yaml", bad, strlen(bad)) == CR_EINPUT);
    int found = 0;
    for (size_t i = 0; i < npr; i++)
        found |= pr[i].is_error && pr[i].line == 3 &&
                 strstr(pr[i].message, "stop must be a shell command");
    CHECK(found);
    cr_plan_problems_free(pr, npr);
    cr_plan_free(p2);

    char *j = cr_recover_journal_path("/etc/plans/site.yaml", 0);
    CHECK(j && strcmp(j, "/etc/plans/site.journal") == 0);
    free(j);
    j = cr_recover_journal_path("plan.yml", 0);
    CHECK(j && strcmp(j, "plan.journal") == 0);
    free(j);
    j = cr_recover_journal_path("/p/x.yaml", 1);
    CHECK(j && strncmp(j, "/p/x-drill-2", 12) == 0 && strstr(j, "Z.journal"));
    free(j);
}

static void test_ack_needs_a_recovery(void)
{
    char dir[] = "/tmp/cr-test-ack-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char *j = cr_sprintf("%s/plan.journal", dir);
    /* no journal: refused, nothing created */
    CHECK(cr_recover_ack(NULL, j, "web", "Jeanne Martin, IT", "ok") == CR_ENOTFOUND);
    CHECK(strstr(cr_error_last(), "no recovery was run with the journal") != NULL);
    CHECK(access(j, F_OK) != 0);
    /* a journal without a recovery in it: refused too */
    cr_journal *jj = NULL;
    CHECK_OK(cr_journal_open(&jj, j));
    const char *kv[] = {"k", "v"};
    CHECK_OK(cr_journal_append(jj, "note", NULL, kv, 1));
    cr_journal_close(jj);
    CHECK(cr_recover_ack(NULL, j, NULL, "x", "y") == CR_ENOTFOUND);
    /* after a recovery started: appended, with who */
    CHECK_OK(cr_journal_open(&jj, j));
    const char *kv2[] = {"mode", "recover"};
    CHECK_OK(cr_journal_append(jj, "recover-start", NULL, kv2, 1));
    cr_journal_close(jj);
    CHECK_OK(cr_recover_ack(NULL, j, "web", "Jeanne Martin, IT", "login works"));
    cr_journal_entry *e = NULL;
    size_t n = 0;
    CHECK_OK(cr_journal_read(&e, &n, NULL, j));
    CHECK(n == 3 && strcmp(e[2].type, "ack") == 0 &&
          strcmp(e[2].values[0], "Jeanne Martin, IT") == 0);
    cr_journal_entries_free(e, n);
    unlink(j);
    rmdir(dir);
    free(j);
}

int main(void)
{
    test_tiers_and_dependencies();
    test_step_holds();
    test_failure_blocks_dependents();
    test_instances_all_needed();
    test_stop_key_and_paths();
    test_ack_needs_a_recovery();
    cr_plan_free(plan);
    return test_summary("test_recover");
}
