/*
 * Recovery plans: every kind of problem is reported at its line and column,
 * all at once; cycles are named; the start order respects tiers and
 * dependencies; the shipped examples are sound; hostile YAML is bounded.
 */
#include "test.h"

#include "recover/plan_priv.h"
#include "util/util.h"

#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

static cr_plan *plan;
static cr_plan_problem *pr;
static size_t npr;

static int parse(const char *yaml)
{
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    plan = NULL;
    pr = NULL;
    npr = 0;
    return cr_plan_parse_buffer(&plan, &pr, &npr, "t.yaml", yaml, strlen(yaml));
}

static void dump(void)
{
    for (size_t i = 0; i < npr; i++)
        fprintf(stderr, "  %u:%u: %s: %s\n", pr[i].line, pr[i].col,
                pr[i].is_error ? "error" : "warning", pr[i].message);
}

/* 1 if a problem at line:col (col 0: any) of that kind holds `text`. */
static int has(unsigned int line, unsigned int col, int is_error, const char *text)
{
    for (size_t i = 0; i < npr; i++)
        if (pr[i].line == line && (!col || pr[i].col == col) && pr[i].is_error == is_error &&
            strstr(pr[i].message, text))
            return 1;
    fprintf(stderr, "no %s at %u:%u with '%s'; problems:\n", is_error ? "error" : "warning",
            line, col, text);
    dump();
    return 0;
}

static size_t nerrors(void)
{
    size_t n = 0;
    for (size_t i = 0; i < npr; i++)
        n += pr[i].is_error;
    return n;
}

#define HEAD "site: t\nservices:\n"

static void test_minimal(void)
{
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n    target: {folder: /srv/a}\n"
                     "    probes: [{kind: tcp, port: 22}]\n") == 0);
    REQUIRE(plan && plan->nservices == 1);
    CHECK(npr == 0);
    const cr_plan_service *s = &plan->services[0];
    CHECK(strcmp(s->name, "a") == 0 && strcmp(s->source, "a") == 0);
    CHECK(strcmp(s->site, "t") == 0);
    CHECK(s->point == CR_PLAN_POINT_CLEAN && s->count == 1 && s->rto == 0);
    CHECK(s->target.kind == CR_PLAN_TARGET_FOLDER && strcmp(s->target.path, "/srv/a") == 0);
    CHECK(s->nprobes == 1 && s->probes[0].kind == CR_PROBE_TCP && s->probes[0].port == 22);
    CHECK(s->probes[0].timeout == 5 && s->probes[0].retries == 2 && s->probes[0].interval == 2);
    CHECK(s->line == 3 && s->col == 11);
}

static void test_fields(void)
{
    CHECK(parse("version: 1\nsite: s1\nvault: /mnt/v\n"
                "defaults: {restore_point: latest, probe_timeout: 30s, probe_retries: 0,\n"
                "           probe_interval: 1m}\n"
                "services:\n"
                "  - name: db\n"
                "    tier: 1\n"
                "    site: other\n"
                "    source: db01\n"
                "    restore_point: ABCDEF12\n"
                "    target: {image: /srv/x/../img/db.vmdk, format: vmdk, disk: disk1}\n"
                "    start: |\n      pg_ctl start\n"
                "    stop: pg_ctl stop\n"
                "    rto: 1h30m\n"
                "    probes:\n"
                "      - kind: postgresql\n"
                "        conninfo: host=x\n"
                "        timeout: 2\n"
                "      - {kind: ldaps, url: 'ldaps://dc', bind_dn: cn=x, password_env: P_W}\n"
                "  - name: ws\n"
                "    tier: 3\n"
                "    count: 50\n"
                "    target: {vm: /srv/ws-%n, hypervisor: Hyper-V}\n"
                "    probes: [{kind: http, url: 'http://x/', expect_status: 204, "
                "expect_body: ok}]\n") == 0);
    REQUIRE(plan && plan->nservices == 2);
    dump();
    CHECK(strcmp(plan->vault, "/mnt/v") == 0 && plan->vault_line == 3 && plan->vault_col == 8);
    CHECK(plan->probe_timeout == 30 && plan->probe_retries == 0 && plan->probe_interval == 60);
    const cr_plan_service *s = &plan->services[0];
    CHECK(strcmp(s->site, "other") == 0 && strcmp(s->source, "db01") == 0);
    CHECK(s->source_line == 10 && s->point_line == 11);
    CHECK(s->point == CR_PLAN_POINT_ID && strcmp(s->point_id, "abcdef12") == 0);
    CHECK(s->target.kind == CR_PLAN_TARGET_IMAGE && strcmp(s->target.path, "/srv/img/db.vmdk") == 0);
    CHECK(s->target.format == CR_IMAGE_VMDK && strcmp(s->target.disk, "disk1") == 0);
    CHECK(strcmp(s->start, "pg_ctl start\n") == 0);
    CHECK(s->stop && strcmp(s->stop, "pg_ctl stop") == 0);
    CHECK(plan->services[1].stop == NULL);
    CHECK(s->rto == 5400);
    REQUIRE(s->nprobes == 2);
    CHECK(s->probes[0].kind == CR_PROBE_POSTGRES && s->probes[0].timeout == 2 &&
          s->probes[0].retries == 0 && s->probes[0].interval == 60);
    CHECK(s->probes[1].kind == CR_PROBE_LDAP && strcmp(s->probes[1].password_env, "P_W") == 0 &&
          s->probes[1].min_entries == 1);
    const cr_plan_service *w = &plan->services[1];
    CHECK(w->point == CR_PLAN_POINT_LATEST); /* from defaults */
    CHECK(w->count == 50 && w->target.kind == CR_PLAN_TARGET_VM &&
          w->target.hypervisor == CR_HYPERVISOR_HYPERV);
    CHECK(w->probes[0].expect_status == 204 && strcmp(w->probes[0].expect_body, "ok") == 0);
    char *p7 = cr_plan_instance_path(w, 7);
    CHECK(p7 && strcmp(p7, "/srv/ws-7") == 0);
    free(p7);
    /* the defaults' latest is warned about only where written per service */
    CHECK(nerrors() == 0);
}

static void test_unknown_keys(void)
{
    CHECK(parse("site: t\nservise: []\nservices:\n"
                "  - name: a\n    teir: 0\n    dependson: [b]\n    target: {folder: /a, "
                "fromat: qcow2}\n"
                "    probes: [{kind: tcp, port: 1, hots: x}]\n"
                "  - name: b\n    tier: 0\n    target: {folder: /b}\n    password: x\n") ==
          CR_EINPUT);
    CHECK(plan == NULL);
    CHECK(has(2, 1, 1, "unknown key 'servise' at the top of the plan: did you mean `services`?"));
    CHECK(has(5, 5, 1, "did you mean `tier`?"));
    CHECK(has(6, 5, 1, "did you mean `depends_on`?"));
    CHECK(has(7, 26, 1, "did you mean `format`?"));
    CHECK(has(8, 35, 1, "did you mean `host`?"));
    CHECK(has(12, 5, 1, "password_env"));
    /* teir was unknown, so tier is also missing */
    CHECK(has(4, 5, 1, "needs `tier:`"));
}

static void test_types(void)
{
    CHECK(parse(HEAD "  - name: a\n    tier: core\n    target: {folder: /a}\n    count: many\n"
                     "    rto: 4\n    depends_on: {x: 1}\n    start: [ls]\n"
                     "  - name: b\n    tier: 7\n    target: /b\n    rto: 1h30x\n"
                     "    probes: {kind: tcp}\n"
                     "  - [not, a, mapping]\n") == CR_EINPUT);
    CHECK(has(4, 11, 1, "tier must be an integer 0..3"));
    CHECK(has(4, 11, 1, "got 'core'"));
    CHECK(has(6, 12, 1, "count must be an integer 1..10000"));
    CHECK(has(7, 10, 1, "rto needs a unit: '4h'"));
    CHECK(has(8, 17, 1, "depends_on must be a list"));
    CHECK(has(9, 12, 1, "start must be a text, got a list"));
    CHECK(has(11, 11, 1, "got '7'"));
    CHECK(has(12, 13, 1, "target of 'b' must be a mapping"));
    CHECK(has(13, 10, 1, "rto must be a duration such as 4h"));
    CHECK(has(14, 13, 1, "probes must be a list"));
    CHECK(has(15, 5, 1, "each service must be a mapping"));
}

static void test_missing_and_duplicates(void)
{
    CHECK(parse("services:\n  - tier: 0\n    target: {folder: /a}\n"
                "  - name: b\n    tier: 0\n    tier: 1\n"
                "  - name: b\n    tier: 0\n    target: {folder: /c}\n") == CR_EINPUT);
    CHECK(has(1, 1, 1, "needs `site:`"));
    CHECK(has(2, 5, 1, "a service needs `name:`"));
    CHECK(has(4, 5, 1, "service 'b' needs `target:`"));
    CHECK(has(6, 5, 1, "duplicate key 'tier' (first at line 5)"));
    CHECK(has(7, 11, 1, "duplicate service name 'b' (first at line 4)"));
    CHECK(parse("site: t\n") == CR_EINPUT && has(1, 1, 1, "needs `services:`"));
    CHECK(parse("site: t\nservices: []\n") == CR_EINPUT && has(2, 11, 1, "services is empty"));
    CHECK(parse("") == CR_EINPUT && has(1, 1, 1, "the plan is empty"));
    CHECK(parse("# only a comment\n") == CR_EINPUT && has(1, 1, 1, "the plan is empty"));
    {
        cr_plan *p = NULL;
        cr_plan_problem *q = NULL;
        size_t nq = 0;
        CHECK(cr_plan_parse_buffer(&p, &q, &nq, NULL, NULL, 0) == CR_EINPUT && p == NULL &&
              nq == 1);
        cr_plan_problems_free(q, nq);
    }
    CHECK(parse("- a\n- b\n") == CR_EINPUT && has(1, 1, 1, "a plan is a mapping"));
    CHECK(parse("version: 2\nsite: t\n") == CR_EINPUT && has(1, 10, 1, "version must be"));
}

static void test_dependencies(void)
{
    CHECK(parse(HEAD "  - name: ad\n    tier: 0\n    target: {folder: /ad}\n"
                     "    depends_on: [dpi, dsn, ad]\n"
                     "  - name: dpi\n    tier: 1\n    target: {folder: /dpi}\n"
                     "    depends_on: ad\n"
                     "  - name: dns\n    tier: 0\n    target: {folder: /dns}\n") == CR_EINPUT);
    CHECK(has(6, 18, 1, "'ad' (tier 0) depends on 'dpi' of tier 1"));
    CHECK(has(6, 23, 1, "'ad' depends on 'dsn', which is not a service of this plan: did you "
                        "mean `dns`?"));
    CHECK(has(6, 28, 1, "'ad' depends on itself"));
    CHECK(has(6, 18, 1, "dependency cycle: ad -> dpi -> ad"));
}

static void test_cycles(void)
{
    /* c -> d -> e -> c, reported once, named from the first in the file */
    CHECK(parse(HEAD "  - name: e\n    tier: 1\n    target: {folder: /e}\n    depends_on: [c]\n"
                     "  - name: c\n    tier: 1\n    target: {folder: /c}\n    depends_on: [x0, d]\n"
                     "  - name: d\n    tier: 1\n    target: {folder: /d}\n    depends_on: [e]\n"
                     "  - name: x0\n    tier: 0\n    target: {folder: /x0}\n") == CR_EINPUT);
    CHECK(has(6, 18, 1, "dependency cycle: e -> c -> d -> e"));
    size_t cycles = 0;
    for (size_t i = 0; i < npr; i++)
        cycles += strstr(pr[i].message, "cycle") != NULL;
    CHECK(cycles == 1);
    CHECK(nerrors() == 1);
    /* two separate cycles */
    CHECK(parse(HEAD "  - {name: a, tier: 0, target: {folder: /a}, depends_on: [b]}\n"
                     "  - {name: b, tier: 0, target: {folder: /b}, depends_on: [a]}\n"
                     "  - {name: c, tier: 2, target: {folder: /c}, depends_on: [c2]}\n"
                     "  - {name: c2, tier: 2, target: {folder: /c2}, depends_on: [c]}\n") ==
          CR_EINPUT);
    CHECK(has(3, 59, 1, "a -> b -> a"));
    CHECK(has(5, 59, 1, "c -> c2 -> c"));
}

static void test_targets(void)
{
    CHECK(parse(HEAD "  - {name: a, tier: 0, target: {folder: /srv/a/}}\n"
                     "  - {name: b, tier: 0, target: {folder: /srv//a/./sub}}\n"
                     "  - {name: c, tier: 0, target: {image: /srv/c.qcow2}}\n"
                     "  - {name: d, tier: 0, target: {image: /srv/x/../c.qcow2}}\n"
                     "  - {name: e, tier: 0, target: {folder: /srv/ab}}\n"
                     "  - {name: f, tier: 0, target: {folder: srv/f}}\n"
                     "  - {name: g, tier: 0, target: {folder: /}}\n"
                     "  - {name: h, tier: 0, target: {folder: /h, image: /h.img}}\n"
                     "  - {name: i, tier: 0, target: {image: /i.bin}}\n"
                     "  - {name: j, tier: 0, target: {vm: /j}}\n"
                     "  - {name: k, tier: 0, count: 3, target: {folder: /k}}\n"
                     "  - {name: l, tier: 0, target: {image: /l.qcow2, format: qcow3}}\n"
                     "  - {name: m, tier: 0, target: {folder: /m, format: raw}}\n") == CR_EINPUT);
    CHECK(has(4, 32, 1, "the target /srv/a/sub of 'b' is inside the target /srv/a of 'a' "
                        "(line 3)"));
    CHECK(has(6, 32, 1, "the target /srv/c.qcow2 of 'd' is the same as the target of 'c' "
                        "(line 5)"));
    CHECK(has(8, 41, 1, "must be absolute"));
    CHECK(has(9, 41, 1, "cannot be /"));
    CHECK(has(10, 32, 1, "exactly one of"));
    CHECK(has(11, 32, 1, "say which image format"));
    CHECK(has(12, 32, 1, "needs `hypervisor:`"));
    CHECK(has(13, 31, 1, "count 3 needs `%n`"));
    CHECK(has(14, 58, 1, "unknown image format 'qcow3': did you mean `qcow2`?"));
    CHECK(has(15, 53, 1, "`format` is for image targets only"));
    /* /srv/ab is not inside /srv/a */
    for (size_t i = 0; i < npr; i++)
        CHECK(!(pr[i].line == 7 && strstr(pr[i].message, "inside")));
    /* an outer folder later in the file */
    CHECK(parse(HEAD "  - {name: a, tier: 0, target: {folder: /srv/a/in}}\n"
                     "  - {name: b, tier: 0, target: {folder: /srv}}\n") == CR_EINPUT);
    CHECK(has(4, 32, 1, "the target /srv of 'b' holds the target /srv/a/in of 'a' (line 3)"));
}

static void test_probes(void)
{
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n    target: {folder: /a}\n    probes:\n"
                     "      - {kind: tpc, port: 1}\n"                         /* 7 */
                     "      - {port: 1}\n"                                    /* 8 */
                     "      - {kind: tcp}\n"                                  /* 9 */
                     "      - {kind: tcp, port: 70000, timeout: 0}\n"         /* 10 */
                     "      - {kind: http, url: 'ftp://x'}\n"                 /* 11 */
                     "      - {kind: http, url: 'http://x', port: 8080}\n"    /* 12 */
                     "      - {kind: ldap, base: x}\n"                        /* 13 */
                     "      - {kind: postgres, conninfo: 'password=x'}\n"     /* 14 */
                     "      - {kind: dicom, called_ae: WAY-TOO-LONG-AE-TITLE}\n" /* 15 */
                     "      - {kind: hl7, host: h, message: 'hello'}\n"       /* 16 */
                     "      - {kind: pg, conninfo: x, password_env: 'A B'}\n" /* 17 */
                     "      - {kind: tcp, port: 1, retries: -1, interval: 2x}\n" /* 18 */
                     "      - tcp\n") == CR_EINPUT);                         /* 19 */
    CHECK(has(7, 16, 1, "unknown probe kind 'tpc': did you mean `tcp`?"));
    CHECK(has(8, 9, 1, "needs `kind:`"));
    CHECK(has(9, 9, 1, "a tcp probe needs `port:`"));
    CHECK(has(10, 27, 1, "port must be an integer 1..65535"));
    CHECK(has(10, 43, 1, "timeout must be more than 0"));
    CHECK(has(11, 27, 1, "must start with http:// or https://"));
    CHECK(has(12, 39, 1, "`port` does not apply to a http probe"));
    CHECK(has(13, 9, 1, "an ldap probe needs `url:`"));
    CHECK(has(14, 36, 1, "conninfo holds a password"));
    CHECK(has(15, 34, 1, "AE title"));
    CHECK(has(15, 9, 1, "a dicom probe needs `host:`"));
    CHECK(has(16, 39, 1, "MSH segment"));
    CHECK(has(17, 47, 1, "password_env must name an environment variable"));
    CHECK(has(18, 39, 1, "retries must be an integer 0..100"));
    CHECK(has(18, 53, 1, "interval must be a duration"));
    CHECK(has(19, 9, 1, "a probe of 'a' must be a mapping"));
}

static void test_warnings_only(void)
{
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n    restore_point: latest\n"
                     "    target: {image: /a.vmdk, format: qcow2}\n") == 0);
    REQUIRE(plan != NULL);
    CHECK(has(3, 5, 0, "has no probes"));
    CHECK(has(5, 20, 0, "restore_point latest"));
    CHECK(has(6, 38, 0, "does not match the file name's extension"));
    CHECK(nerrors() == 0);
}

static void test_vmdk_flat_refused(void)
{
    /* Two files (descriptor + -flat data) cannot be put in place as one. */
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n"
                     "    target: {image: /a.vmdk, format: vmdk-flat}\n") == CR_EINPUT);
    CHECK(has(5, 38, 1, "vmdk-flat writes two files"));
}

static void test_yaml_errors(void)
{
    CHECK(parse("site: t\nservices:\n  - name: [a\n") == CR_EINPUT);
    CHECK(npr == 1 && pr[0].line >= 3 && strstr(pr[0].message, "YAML syntax"));
    /* a tab: libyaml's "cannot start any token" said in words */
    CHECK(parse("site: t\n\tservices: x\n") == CR_EINPUT);
    CHECK(npr == 1 && pr[0].line == 2 &&
          strstr(pr[0].message, "tabs are not allowed for indentation in YAML; use spaces"));
    CHECK(parse(HEAD "  - name: a\n\ttier: 0\n") == CR_EINPUT);
    CHECK(npr == 1 && pr[0].line == 4 && strstr(pr[0].message, "tabs are not allowed"));
    CHECK(parse("site: &s t\nvault: *s\nservices: []\n") == CR_EINPUT);
    CHECK(has(2, 8, 1, "aliases (*s) are not supported"));
    CHECK(parse("site: t\n---\nsite: u\n") == CR_EINPUT);
    CHECK(has(2, 1, 1, "more than one YAML document"));
    CHECK(parse("site: \"a\\0b\"\n") == CR_EINPUT);
    CHECK(has(1, 7, 1, "NUL"));

    /* a billion laughs: refused at the first alias, nothing expanded */
    char bomb[4096];
    size_t o = (size_t)snprintf(bomb, sizeof(bomb), "a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'j'; c++)
        o += (size_t)snprintf(bomb + o, sizeof(bomb) - o,
                              "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c,
                              c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    CHECK(parse(bomb) == CR_EINPUT && has(2, 8, 1, "aliases"));

    /* nesting */
    cr_buf b = CR_BUF_INIT;
    for (int i = 0; i < 100; i++)
        cr_buf_put(&b, "[", 1);
    cr_buf_put(&b, "\0", 1);
    CHECK(parse((const char *)b.ptr) == CR_EINPUT && has(1, 65, 1, "nested more than 64"));
    cr_buf_free(&b);

    /* size */
    size_t big = CR_PLAN_MAX_BYTES + 10;
    char *huge = malloc(big + 1);
    REQUIRE(huge);
    memset(huge, '#', big);
    huge[big] = '\0';
    CHECK(parse(huge) == CR_EINPUT && has(1, 1, 1, "larger than"));
    free(huge);
}

static void test_many_services(void)
{
    /* 10,001 services: refused; 3,000 in a chain: fine and ordered */
    cr_buf b = CR_BUF_INIT;
    cr_buf_put(&b, HEAD, strlen(HEAD));
    for (int i = 0; i < 10001; i++)
        cr_buf_put(&b, "  - x\n", 6);
    cr_buf_put(&b, "\0", 1);
    CHECK(parse((const char *)b.ptr) == CR_EINPUT && has(3, 3, 1, "more than 10000 services"));
    cr_buf_free(&b);

    char line[256];
    cr_buf_put(&b, HEAD, strlen(HEAD));
    for (int i = 2999; i >= 0; i--) {
        int n = snprintf(line, sizeof(line),
                         "  - {name: s%d, tier: 2, target: {folder: /r/s%d}, probes: [{kind: tcp, "
                         "port: 1}]%s",
                         i, i, i ? "" : "}\n");
        cr_buf_put(&b, line, (size_t)n);
        if (i) {
            n = snprintf(line, sizeof(line), ", depends_on: [s%d]}\n", i - 1);
            cr_buf_put(&b, line, (size_t)n);
        }
    }
    cr_buf_put(&b, "\0", 1);
    CHECK(parse((const char *)b.ptr) == 0);
    cr_buf_free(&b);
    REQUIRE(plan && plan->nservices == 3000);
    size_t *order = NULL;
    CHECK_OK(cr_plan_order(&order, plan));
    REQUIRE(order);
    int ok = 1;
    for (size_t i = 0; i < 3000; i++) /* s0 (last in the file) first */
        ok &= order[i] == 2999 - i;
    CHECK(ok);
    free(order);
}

static void test_order(void)
{
    /* file order: mail(2) ws(3) dpi(1) ad(0) db(1) dns(0) lab(1) */
    CHECK(parse(HEAD "  - {name: mail, tier: 2, target: {folder: /m}, depends_on: [ad]}\n"
                     "  - {name: ws, tier: 3, target: {folder: /w}, depends_on: [dpi]}\n"
                     "  - {name: dpi, tier: 1, target: {folder: /p}, depends_on: [db, ad]}\n"
                     "  - {name: ad, tier: 0, target: {folder: /a}}\n"
                     "  - {name: db, tier: 1, target: {folder: /d}, depends_on: [dns]}\n"
                     "  - {name: dns, tier: 0, target: {folder: /n}, depends_on: [ad]}\n"
                     "  - {name: lab, tier: 1, target: {folder: /l}}\n") == 0);
    REQUIRE(plan);
    size_t *order = NULL;
    CHECK_OK(cr_plan_order(&order, plan));
    REQUIRE(order);
    const char *want[] = {"ad", "dns", "db", "dpi", "lab", "mail", "ws"};
    for (size_t i = 0; i < 7; i++) {
        CHECK(strcmp(plan->services[order[i]].name, want[i]) == 0);
        if (strcmp(plan->services[order[i]].name, want[i]) != 0)
            fprintf(stderr, "order[%zu] = %s, want %s\n", i, plan->services[order[i]].name,
                    want[i]);
    }
    free(order);
}

static void test_durations(void)
{
    double d;
    CHECK(cr_plan_duration_parse(&d, "4h", 0) == 0 && d == 14400);
    CHECK(cr_plan_duration_parse(&d, "30m", 0) == 0 && d == 1800);
    CHECK(cr_plan_duration_parse(&d, "90s", 0) == 0 && d == 90);
    CHECK(cr_plan_duration_parse(&d, "1h30m", 0) == 0 && d == 5400);
    CHECK(cr_plan_duration_parse(&d, "1d 2h", 0) == 0 && d == 93600);
    CHECK(cr_plan_duration_parse(&d, "1.5h", 0) == 0 && d == 5400);
    CHECK(cr_plan_duration_parse(&d, "4 hours", 0) == 0 && d == 14400);
    CHECK(cr_plan_duration_parse(&d, "2.5", 1) == 0 && d == 2.5);
    CHECK(cr_plan_duration_parse(&d, "4", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "30m1h", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "1h1h", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "h", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "-1h", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "1x", 0) == CR_EINPUT);
    CHECK(cr_plan_duration_parse(&d, "", 1) == CR_EINPUT);
    CHECK(cr_str_distance("tpc", "tcp", 9) == 1);
    CHECK(cr_str_distance("depends", "depends_on", 9) == 3);
    {
        static const char *const names[] = {"snapshots", "restore", NULL, "exclude"};
        CHECK(cr_suggest("snapshot", names, 4) == names[0]);
        CHECK(cr_suggest("exlude", names, 4) == names[3]);
        CHECK(cr_suggest("RESTORE", names, 4) == names[1]);
        CHECK(cr_suggest("x", names, 4) == NULL);
        CHECK(cr_suggest("backup", names, 4) == NULL);
    }
}

static void test_unicode_names(void)
{
    /* accented letters and other alphabets are letters */
    CHECK(parse("site: ch-saint-\xc3\xa9" "tienne\nservices:\n"
                "  - name: r\xc3\xa9" "a-\xd0\xbb\xd0\xb0\xd0\xb1\n    tier: 0\n"
                "    target: {folder: /srv/rea}\n    probes: [{kind: tcp, port: 1}]\n") == 0);
    CHECK(npr == 0);
    REQUIRE(plan);
    CHECK(strcmp(plan->site, "ch-saint-\xc3\xa9" "tienne") == 0);
    /* still refused: spaces, '/', "..", symbols, combining marks (bad UTF-8 is
     * refused by the YAML reader already) */
    const char *bad[] = {"a b", "a/b", "..", "a\xe2\x82\xac", "e\xcc\x81"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char y[256];
        snprintf(y, sizeof(y),
                 "site: \"%s\"\nservices: [{name: a, tier: 0, target: {folder: /a}}]\n", bad[i]);
        CHECK(parse(y) == CR_EINPUT);
        CHECK(has(1, 7, 1, "may hold only letters"));
    }
    uint32_t cp = 0;
    CHECK(cr_utf8_decode(&cp, "\xc3\xa9", 2) == 2 && cp == 0xe9 && cr_utf8_is_letter(cp));
    CHECK(cr_utf8_decode(&cp, "\xc0\x80", 2) == 0); /* overlong */
    CHECK(cr_utf8_decode(&cp, "\xf4\x90\x80\x80", 4) == 0); /* past U+10FFFF */
    CHECK(cr_utf8_decode(&cp, "\xed\xa0\x80", 3) == 0);     /* a surrogate */
    CHECK(cr_utf8_decode(&cp, "\xc3", 1) == 0);               /* cut */
    CHECK(!cr_utf8_is_letter(0xd7) && !cr_utf8_is_letter(0x301) && !cr_utf8_is_letter(' '));
}

static void test_identity(void)
{
    /* the report's identity and language, from the plan */
    CHECK(parse("site: chu\nfiness: 750712184\nlang: fr\n"
                "services: [{name: a, tier: 0, target: {folder: /a}}]\n") == 0);
    REQUIRE(plan);
    CHECK(plan->finess && strcmp(plan->finess, "750712184") == 0);
    CHECK(plan->lang && strcmp(plan->lang, "fr") == 0);
    CHECK(parse("site: ch\nfiness: 2A0000013\nservices: [{name: a, tier: 0, target: {folder: "
                "/a}}]\n") == 0);
    CHECK(parse("site: ch\nfiness: 12345\nservices: [{name: a, tier: 0, target: {folder: "
                "/a}}]\n") == CR_EINPUT);
    CHECK(has(2, 9, 1, "9-character FINESS number"));
    CHECK(parse("site: ch\nlang: de\nservices: [{name: a, tier: 0, target: {folder: /a}}]\n") ==
          CR_EINPUT);
    CHECK(has(2, 7, 1, "fr or en"));
}

static void test_commands(void)
{
    /* a command that names the target path runs on production in a drill */
    CHECK(parse(HEAD "  - name: db\n    tier: 0\n    target: {folder: /srv/db}\n"
                     "    start: pg_ctl -D /srv/db/main start\n"
                     "    stop: pg_ctl -D \"/srv/db\" stop\n"
                     "    probes: [{kind: tcp, port: 5432}]\n") == 0);
    CHECK(has(6, 12, 0, "the start command of 'db' names its target /srv/db: write "
                        "\"$CLEANROOM_TARGET\""));
    CHECK(has(7, 11, 0, "the stop command of 'db' names its target /srv/db"));
    CHECK(npr == 2);
    /* the same written with $CLEANROOM_TARGET, or a longer path: no warning */
    CHECK(parse(HEAD "  - name: db\n    tier: 0\n    target: {folder: /srv/db}\n"
                     "    start: pg_ctl -D \"$CLEANROOM_TARGET/srv/db\" -l /srv/dbx.log start\n"
                     "    stop: pg_ctl -D \"$CLEANROOM_TARGET\" stop\n"
                     "    probes: [{kind: tcp, port: 5432}]\n") == 0);
    CHECK(npr == 0);
    /* %n targets: the folder part is what a command must not name */
    CHECK(parse(HEAD "  - name: ws\n    tier: 3\n    count: 2\n"
                     "    target: {image: /srv/ws/ws-%n.qcow2}\n"
                     "    start: boot /srv/ws/ws-$CLEANROOM_INSTANCE.qcow2\n    stop: halt\n"
                     "    probes: [{kind: tcp, port: 1}]\n") == 0);
    CHECK(has(7, 12, 0, "names its target /srv/ws/ws-"));
    /* start without stop: a drill leaves it running */
    CHECK(parse(HEAD "  - name: web\n    tier: 0\n    target: {folder: /srv/web}\n"
                     "    start: httpd -d \"$CLEANROOM_TARGET\"\n"
                     "    probes: [{kind: tcp, port: 80}]\n") == 0);
    CHECK(has(6, 12, 0, "'web' has `start:` but no `stop:`"));
    CHECK(npr == 1);
}

static void test_max_age(void)
{
    CHECK(parse("site: t\ndefaults: {max_age: 26h}\nservices:\n"
                "  - name: a\n    tier: 0\n    target: {folder: /a}\n"
                "    probes: [{kind: tcp, port: 1}]\n"
                "  - name: b\n    tier: 0\n    target: {folder: /b}\n    max_age: 1d12h\n"
                "    probes: [{kind: tcp, port: 1}]\n") == 0);
    REQUIRE(plan && plan->nservices == 2);
    CHECK(plan->max_age == 26 * 3600);
    CHECK(plan->services[0].max_age == 26 * 3600 && plan->services[0].max_age_line == 4);
    CHECK(plan->services[1].max_age == 36 * 3600 && plan->services[1].max_age_line == 11);
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n    target: {folder: /a}\n    max_age: soon\n")
          == CR_EINPUT);
    CHECK(has(6, 14, 1, "max_age must be a duration"));
    CHECK(parse(HEAD "  - name: a\n    tier: 0\n    target: {folder: /a}\n    max_age: 24\n")
          == CR_EINPUT);
    CHECK(has(6, 14, 1, "max_age needs a unit"));
}

static void test_host(void)
{
    /* a folder above a target that other users cannot traverse */
    char dir[] = "/tmp/cr-test-plan-XXXXXX", y[512];
    REQUIRE(mkdtemp(dir));
    CHECK(chmod(dir, 0700) == 0);
    snprintf(y, sizeof(y), HEAD "  - name: db\n    tier: 0\n    target: {folder: %s/srv/db}\n"
                                "    probes: [{kind: tcp, port: 1}]\n", dir);
    CHECK(parse(y) == 0 && npr == 0);
    REQUIRE(plan);
    CHECK_OK(cr_plan_check_host(&pr, &npr, plan));
    CHECK(has(5, 13, 0, "cannot be traversed by other users (mode 0700)"));
    CHECK(npr == 1 && strstr(pr[0].message, dir));
    CHECK(chmod(dir, 0711) == 0);
    CHECK(parse(y) == 0);
    CHECK_OK(cr_plan_check_host(&pr, &npr, plan));
    CHECK(npr == 0);
    rmdir(dir);
}

static void test_examples(void)
{
    /* this file is tests/unit/test_plan.c: the examples are two folders up */
    char root[PATH_MAX], path[PATH_MAX + 64];
    snprintf(root, sizeof(root), "%s", __FILE__);
    char *cut = strstr(root, "tests/unit/test_plan.c");
    REQUIRE(cut);
    *cut = '\0';
    const char *names[] = {"small-hospital.yaml", "hospital-group.yaml"};
    for (size_t i = 0; i < 2; i++) {
        cr_plan *p = NULL;
        cr_plan_problem *q = NULL;
        size_t nq = 0, *order = NULL;
        snprintf(path, sizeof(path), "%sexamples/%s", root, names[i]);
        CHECK_OK(cr_plan_load(&p, &q, &nq, path));
        CHECK(nq == 0);
        for (size_t k = 0; k < nq; k++)
            fprintf(stderr, "%s:%u:%u: %s\n", path, q[k].line, q[k].col, q[k].message);
        REQUIRE(p);
        CHECK(p->nservices >= 11);
        CHECK_OK(cr_plan_order(&order, p));
        int tiers = 1;
        for (size_t k = 1; k < p->nservices; k++)
            tiers &= p->services[order[k - 1]].tier <= p->services[order[k]].tier;
        CHECK(tiers);
        free(order);
        cr_plan_free(p);
        cr_plan_problems_free(q, nq);
    }
    cr_plan *p = NULL;
    CHECK(cr_plan_load(&p, NULL, NULL, "/nonexistent/plan.yaml") == CR_ENOTFOUND);
    CHECK(p == NULL && strstr(cr_error_last(), "/nonexistent/plan.yaml"));
}

int main(void)
{
    test_minimal();
    test_fields();
    test_unknown_keys();
    test_types();
    test_missing_and_duplicates();
    test_dependencies();
    test_cycles();
    test_targets();
    test_probes();
    test_warnings_only();
    test_vmdk_flat_refused();
    test_yaml_errors();
    test_many_services();
    test_order();
    test_durations();
    test_unicode_names();
    test_identity();
    test_commands();
    test_max_age();
    test_host();
    test_examples();
    cr_plan_free(plan);
    cr_plan_problems_free(pr, npr);
    return test_summary("test_plan");
}
