/*
 * The recovery report: written from a journal made with the recovery
 * vocabulary, it states the facts of the journal (site, operator, plan hash,
 * head hash and count, restore points and why, bytes, probes, RTO met or
 * not, failures with their reasons, blocked services and by what,
 * acknowledgements, drill evidence); a hostile service name is escaped in
 * Markdown (no raw HTML, no extra table cell) and in HTML; a tampered journal
 * gives CR_ECORRUPT with its line and no file; a journal without a recovery
 * is refused.
 */
#include "test.h"

#include "cleanroom/report.h"
#include "fixture.h"
#include "util/util.h"

#include <sys/stat.h>

static char dir[PATH_MAX];

#define HOSTILE "evil<script>alert(1)</script>|x|**b**"

static void app(cr_journal *j, const char *type, const char *svc, const char *const *kv, size_t n)
{
    REQUIRE(cr_journal_append(j, type, svc, kv, n) == 0);
}

/* A recovery (or drill) of six services, one failing and one blocked by it. */
static void make_journal(const char *path, int drill)
{
    cr_journal *j = NULL;
    unlink(path);
    REQUIRE(cr_journal_open(&j, path) == 0);
    {
        const char *kv[] = {"mode", drill ? "drill" : "recover", "plan", "/etc/cleanroom/chu.yaml",
                            "plan_sha256",
                            "5f3c0d7e2a1b4c6d8e9f00112233445566778899aabbccddeeff001122334455",
                            "site", "CH Test <b>Nord</b>", "vault", "/srv/vault", "host", "cr-host-1",
                            "user", "alice", "services", "6", "resume", "no", "scratch",
                            "/var/tmp/drill-1"};
        app(j, "recover-start", NULL, kv, drill ? 10 : 9);
    }
    static const char *const svcs[][3] = {
        {"ldap", "0", "600"}, {"db", "1", "1800"}, {"dpi", "1", "900"},
        {"pacs", "2", "3600"}, {HOSTILE, "2", "0"}, {"ws", "3", "7200"},
    };
    for (size_t i = 0; i < 6; i++) {
        char snap[65];
        snprintf(snap, sizeof(snap), "%02zuab%060zu", i, i);
        const char *kv[] = {"snapshot", snap, "snapshot_time", "2026-11-20T02:00:00Z", "point",
                            "clean", "reason",
                            i == 2 ? "clean point: the newest hunted snapshot before 7c7c7c7c, "
                                     "the first compromised one"
                                   : "clean point: every snapshot hunted, no finding"};
        app(j, "point-chosen", svcs[i][0], kv, 4);
        const char *ekv[] = {"tier", svcs[i][1], "bytes", "1048576", "seconds", "12.500",
                             "rto", svcs[i][2], "rto_met", "yes"};
        app(j, "estimate", svcs[i][0], ekv, 5);
    }
    /* ldap, db, hostile: ok; dpi: probe fails; pacs: blocked by dpi; ws#1, ws#2: ok. */
    const char *okunits[][4] = {{"ldap", "0", "600", "40.250"},
                                {"db", "1", "1800", "95.000"},
                                {HOSTILE, "2", "0", "130.000"},
                                {"ws#1", "3", "7200", "150.000"},
                                {"ws#2", "3", "7200", "8000.000"}};
    for (size_t i = 0; i < 5; i++) {
        char tgt[128];
        snprintf(tgt, sizeof(tgt), "%s/srv/restore/u%zu", drill ? "/var/tmp/drill-1" : "", i);
        const char *rs[] = {"target", tgt};
        app(j, "restore-start", okunits[i][0], rs, 1);
        const char *rd[] = {"snapshot", "00ab", "target", tgt, "files", "1234", "bytes",
                            "5242880", "seconds", "3.250", "failed", "0"};
        app(j, "restore-done", okunits[i][0], rd, 6);
        const char *sc[] = {"command", "slapd -h ldap://127.0.0.1:3890/", "exit_code", "0",
                            "seconds", "0.400", "log", "/var/log/cr/ldap.log"};
        app(j, "start-command", okunits[i][0], sc, 4);
        const char *pr[] = {"probe", "ldap search", "kind", "ldap", "ok", "yes", "attempts", "1",
                            "seconds", "0.020", "message", "3 entries under dc=chu"};
        app(j, "probe", okunits[i][0], pr, 6);
        const char *met = !strcmp(okunits[i][2], "0") ? "none"
                          : !strcmp(okunits[i][0], "ws#2") ? "no" : "yes";
        const char *sd[] = {"status", "ok", "seconds", okunits[i][3], "restore_seconds", "3.250",
                            "rto", okunits[i][2], "rto_met", met, "tier", okunits[i][1]};
        app(j, "service-done", okunits[i][0], sd, 6);
    }
    {
        const char *dpi = drill ? "/var/tmp/drill-1/srv/dpi" : "/srv/dpi";
        const char *rs[] = {"target", dpi};
        app(j, "restore-start", "dpi", rs, 1);
        const char *rd[] = {"snapshot", "02ab", "target", dpi, "files", "10", "bytes",
                            "2048", "seconds", "0.500", "failed", "0"};
        app(j, "restore-done", "dpi", rd, 6);
        const char *pr[] = {"probe", "http http://127.0.0.1:8080/", "kind", "http", "ok", "no",
                            "attempts", "3", "seconds", "6.000", "message",
                            "HTTP 503 from http://127.0.0.1:8080/ (expected 200)"};
        app(j, "probe", "dpi", pr, 6);
        const char *sd[] = {"status", "failed", "seconds", "101.000", "restore_seconds", "0.500",
                            "rto", "900", "rto_met", "no", "tier", "1"};
        app(j, "service-done", "dpi", sd, 6);
        const char *bl[] = {"by", "dpi"};
        app(j, "service-blocked", "pacs", bl, 1);
        const char *sd2[] = {"status", "blocked", "seconds", "101.000", "restore_seconds", "0",
                             "rto", "3600", "rto_met", "no", "tier", "2"};
        app(j, "service-done", "pacs", sd2, 6);
    }
    if (drill) {
        const char *kv[] = {"scratch", "/var/tmp/drill-1", "removed", "yes"};
        app(j, "drill-cleanup", NULL, kv, 2);
    }
    const char *end[] = {"status", "partial", "seconds", "8001.000", "ok", "5", "failed", "1",
                         "blocked", "1"};
    app(j, "recover-end", NULL, end, 5);
    const char *ack[] = {"by", "Dr <i>Bob</i>", "message", "DPI down: paper procedure | ok"};
    app(j, "ack", "dpi", ack, 2);
    cr_journal_close(j);
}

static char *render(const char *path, unsigned int fmt)
{
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    char *out = NULL;
    REQUIRE(cr_journal_read(&e, &n, &bad, path) == 0);
    REQUIRE(cr_report_render(&out, e, n, "chu.journal", fmt, CR_REPORT_EN, 1795000000000000000LL) == 0);
    cr_journal_entries_free(e, n);
    return out;
}

static int has(const char *doc, const char *s)
{
    int ok = strstr(doc, s) != NULL;
    if (!ok)
        fprintf(stderr, "  missing: %s\n", s);
    return ok;
}

/* Pipes not preceded by a backslash. */
static size_t cells(const char *line, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\\') {
            i++;
            continue;
        }
        n += line[i] == '|';
    }
    return n;
}

/* Every row of every Markdown table has as many cells as its header. */
static void check_md_tables(const char *doc)
{
    const char *p = doc;
    size_t want = 0;
    int in = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len && p[0] == '|') {
            size_t c = cells(p, len);
            if (!in) {
                want = c;
                in = 1;
            } else if (c != want) {
                fprintf(stderr, "  row with %zu cells, header %zu: %.*s\n", c, want, (int)len, p);
                CHECK(c == want);
            }
        } else {
            in = 0;
        }
        p += len + (nl ? 1 : 0);
    }
}

static void test_facts(void)
{
    char path[PATH_MAX];
    join(path, dir, "chu.journal");
    make_journal(path, 0);
    cr_journal_entry *e = NULL;
    size_t n = 0;
    REQUIRE(cr_journal_read(&e, &n, NULL, path) == 0);
    char head[65], count[32];
    snprintf(head, sizeof(head), "%s", e[n - 1].hash);
    snprintf(count, sizeof(count), "%zu", n);
    cr_journal_entries_free(e, n);

    /* A tier's RTO target is its tightest (dpi 15 min, db 30 min), as recover prints it. */
    {
        char *md = render(path, CR_REPORT_MD);
        const char *row = strstr(md, "\n| 1 clinical and business | 2 |");
        REQUIRE(row);
        const char *eol = strchr(row + 1, '\n');
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)(eol - row), row);
        CHECK(strstr(line, "| 15 min 00 s |") != NULL);
        CHECK(strstr(line, "30 min 00 s") == NULL);
        free(md);
    }

    for (unsigned int f = CR_REPORT_MD; f <= CR_REPORT_HTML; f++) {
        char *d = render(path, f);
        int html = f == CR_REPORT_HTML;
        CHECK(has(d, "Incident recovery report"));
        CHECK(!strstr(d, "Restore test evidence"));
        CHECK(has(d, html ? "CH Test &lt;b&gt;Nord&lt;/b&gt;" : "CH Test \\<b\\>Nord\\</b\\>"));
        CHECK(has(d, "alice"));
        CHECK(has(d, "cr-host-1"));
        CHECK(has(d, "/etc/cleanroom/chu.yaml"));
        CHECK(has(d, "5f3c0d7e2a1b4c6d8e9f00112233445566778899aabbccddeeff001122334455"));
        CHECK(has(d, head));
        CHECK(has(d, count));
        CHECK(has(d, "the newest hunted snapshot before 7c7c7c7c"));
        CHECK(has(d, "02ab000000000000000000000000000000000000000000000000000000000002"));
        CHECK(has(d, "HTTP 503 from http://127.0.0.1:8080/ (expected 200)"));
        CHECK(has(d, "pacs was blocked: dpi, which it depends on, did not come back."));
        CHECK(has(d, "FAILED"));
        CHECK(has(d, "5 of 7 services back"));
        CHECK(has(d, "5.0 MiB"));
        /* Times come from the entries (one origin), never from the "seconds"
         * the recovery counted from its own later origin (95 s here). */
        CHECK(!has(d, "1 min 35 s"));
        CHECK(has(d, "ws (2 instances)"));
        CHECK(has(d, "1 of 2")); /* ws: one instance missed its RTO */
        CHECK(has(d, html ? "Dr &lt;i&gt;Bob&lt;/i&gt;" : "Dr \\<i\\>Bob\\</i\\>"));
        CHECK(has(d, html ? "paper procedure | ok" : "paper procedure \\| ok"));
        CHECK(has(d, "0 core infrastructure"));
        /* The hostile name: never raw, in both. */
        if (html) {
            CHECK(!strstr(d, "<script"));
            CHECK(!strstr(d, "<b>"));
            CHECK(!strstr(d, "<i>"));
        } else {
            for (const char *q = strchr(d, '<'); q; q = strchr(q + 1, '<'))
                CHECK(q > d && q[-1] == '\\'); /* no raw HTML in the Markdown */
        }
        if (html) {
            CHECK(has(d, "evil&lt;script&gt;alert(1)&lt;/script&gt;|x|**b**"));
            CHECK(has(d, "Content-Security-Policy"));
        } else {
            CHECK(has(d, "evil\\<script\\>alert(1)\\</script\\>\\|x\\|\\*\\*b\\*\\*"));
            check_md_tables(d);
        }
        free(d);
    }
}

static void test_drill(void)
{
    char path[PATH_MAX];
    join(path, dir, "drill.journal");
    make_journal(path, 1);
    for (unsigned int f = CR_REPORT_MD; f <= CR_REPORT_HTML; f++) {
        char *d = render(path, f);
        CHECK(has(d, "Recovery drill report"));
        CHECK(has(d, "Restore test evidence"));
        CHECK(has(d, "All 6 restore targets lie inside the scratch folder /var/tmp/drill-1"));
        CHECK(has(d, "Scratch folder removed after the drill: yes."));
        CHECK(has(d, "Measured recovery time per tier"));
        free(d);
    }
}

static void test_write_and_tamper(void)
{
    char path[PATH_MAX], out[PATH_MAX], md[PATH_MAX], html[PATH_MAX];
    struct stat st;
    join(path, dir, "w.journal");
    join(out, dir, "out");
    join(md, out, "w-report.md");
    join(html, out, "w-report.html");
    make_journal(path, 0);

    cr_report_options o = CR_REPORT_OPTIONS_INIT;
    cr_report_result r;
    o.journal = path;
    o.out_dir = out;
    CHECK_OK(cr_report_write(&r, &o));
    CHECK(r.md_path && !strcmp(r.md_path, md));
    CHECK(r.html_path && !strcmp(r.html_path, html));
    CHECK(stat(md, &st) == 0 && st.st_size > 1000);
    CHECK(stat(html, &st) == 0 && st.st_size > 1000);
    CHECK(r.entries == 46);
    cr_report_result_free(&r);
    unlink(md);
    unlink(html);

    /* Change one byte of line 5 (a digit of a size): the chain breaks there. */
    cr_buf b = CR_BUF_INIT;
    REQUIRE(cr_fs_read_all(&b, AT_FDCWD, path, 1 << 24) == 0);
    size_t line = 1, i = 0;
    for (; i < b.len && line < 5; i++)
        line += b.ptr[i] == '\n';
    char *p = memmem(b.ptr + i, b.len - i, "1048576", 7);
    REQUIRE(p);
    p[0] = '9';
    int fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0 && write(fd, b.ptr, b.len) == (ssize_t)b.len);
    close(fd);
    cr_buf_free(&b);
    CHECK(cr_report_write(&r, &o) == CR_ECORRUPT);
    CHECK(r.bad_line == 5);
    CHECK(strstr(cr_error_last(), "no report was written") != NULL);
    CHECK(r.md_path == NULL && r.html_path == NULL);
    CHECK(stat(md, &st) != 0);
    CHECK(stat(html, &st) != 0);
    cr_report_result_free(&r);

    /* No recovery in the journal. */
    cr_journal *j = NULL;
    join(path, dir, "empty.journal");
    REQUIRE(cr_journal_open(&j, path) == 0);
    const char *kv[] = {"by", "alice", "message", "hello"};
    app(j, "ack", NULL, kv, 2);
    cr_journal_close(j);
    o.journal = path;
    CHECK(cr_report_write(&r, &o) == CR_EINPUT);
    cr_report_result_free(&r);

    cr_report_lang lang;
    CHECK(cr_report_lang_parse(&lang, "en") == 0 && lang == CR_REPORT_EN);
    CHECK(cr_report_lang_parse(&lang, "fr") == 0 && lang == CR_REPORT_FR);
    CHECK(cr_report_lang_parse(&lang, "fr_FR.UTF-8") == 0 && lang == CR_REPORT_FR);
    CHECK(cr_report_lang_parse(&lang, "xx") == CR_EINPUT);
    CHECK(cr_report_lang_parse(&lang, "french") == CR_EINPUT);
}

/* French, the identity block, the data-loss window and the findings named,
 * from a context as cr_report_write builds it from the vault. */
static void test_context(void)
{
    char path[PATH_MAX];
    cr_journal_entry *e = NULL;
    size_t n = 0;
    uint64_t bad = 0;
    char *d = NULL;
    join(path, dir, "ctx.journal");
    make_journal(path, 0);
    REQUIRE(cr_journal_read(&e, &n, &bad, path) == 0);

    cr_finding f;
    memset(&f, 0, sizeof(f));
    f.severity = CR_SEV_CRITICAL;
    f.indicator = "yara:ransom_note_lockbit";
    f.path = "/srv/dpi/README-DECRYPT.txt";
    f.time_ns = f.first_seen_ns = 1795230000000000000LL; /* 2026-11-21 03:00 */
    cr_report_point pt = {0};
    pt.snapshot = "02ab000000000000000000000000000000000000000000000000000000000002";
    pt.source = "dpi";
    pt.compromised = 1;
    pt.first_compromised = "7c7c7c7c00000000000000000000000000000000000000000000000000000000";
    pt.first_compromised_ns = 1795230000000000000LL;
    pt.ruleset = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    pt.findings = &f;
    pt.nfindings = 1;
    cr_report_context c;
    memset(&c, 0, sizeof(c));
    c.lang = CR_REPORT_FR;
    c.finess = "330781196";
    c.incident = "ARS-2026-042";
    c.author = "J. Martin";
    c.role = "RSSI";
    c.points = &pt;
    c.npoints = 1;
    CHECK_OK(cr_report_render_with(&d, e, n, "chu.journal", CR_REPORT_MD, 1795000000000000000LL, &c));
    REQUIRE(d);
    CHECK(has(d, "# Rapport de reprise après incident"));
    CHECK(has(d, "330781196"));
    CHECK(has(d, "ARS-2026-042"));
    CHECK(has(d, "RSSI"));
    /* incident = the first compromised snapshot (21 Nov 03:00): from 20 Nov 02:00, 1 day */
    CHECK(has(d, "ldap : revenu au 20 nov. 02:00 — 1 jour de données à ressaisir"));
    CHECK(has(d, "yara:ransom\\_note\\_lockbit"));
    CHECK(has(d, "/srv/dpi/README-DECRYPT.txt"));
    CHECK(has(d, "a1b2c3d4e5f60718293a4b5c6d7e8f90"));
    CHECK(has(d, "ATTENTION : ce journal n'est pas scellé"));
    CHECK(!has(d, "Restore points and why"));
    free(d);
    /* The process's own language is left as it was. */
    CHECK(getenv("LANGUAGE") == NULL || strncmp(getenv("LANGUAGE"), "fr", 2) != 0);
    c.lang = CR_REPORT_EN;
    c.incident_ns = 1795400000000000000LL; /* 23 Nov 02:13, given by the operator */
    CHECK_OK(cr_report_render_with(&d, e, n, "chu.journal", CR_REPORT_MD, 1795000000000000000LL, &c));
    CHECK(has(d, "(as given by the operator)"));
    CHECK(has(d, "ldap: back to 20 Nov 02:00 — 3 days of data to re-enter"));
    free(d);
    cr_journal_entries_free(e, n);
}

int main(void)
{
    fx_scratch_new(dir, "report");
    test_facts();
    test_drill();
    test_write_and_tamper();
    test_context();
    if (getenv("CR_TEST_KEEP")) fprintf(stderr, "kept %s\n", dir); else fx_scratch_done(dir);
    return test_summary("test_report");
}
