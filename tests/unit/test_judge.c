/*
 * The content and name judges (judge.c) on facts built in memory: each
 * indicator fires on what it is meant for and stays quiet on the look-alikes
 * of an ordinary Debian server and of a hospital's file shares (compressed
 * package docs, libraries, certificates, Office files, DICOM images), and the
 * change-rate rule at the edges of its thresholds. No vault is needed: the
 * facts go to an in-memory cache, the rule set is assembled by hand.
 */
#include "test.h"

#include "fixture.h"
#include "hunt/hunt.h"

#include <openssl/evp.h>

static hn_cache *cache;
static uint32_t next_blob = 1;

/* ------------------------------------------------------------ fixtures */

/* log2 without libm (tests link only the library): exponent from the bits,
 * mantissa in [1, 2) through ln(m) = 2 atanh((m - 1) / (m + 1)). */
static double lg2(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ~(0x7ffull << 52)) | (1023ull << 52);
    double m, y, y2, sum = 0, term;
    memcpy(&m, &bits, sizeof(m));
    y = (m - 1) / (m + 1);
    y2 = y * y;
    term = y;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= y2;
    }
    return e + 2 * sum / 0.69314718055994530942;
}

/* A file node named after the last component of `path`, with one extent of a
 * fresh blob. */
static cr_node *file_node(const char *path, size_t size)
{
    cr_node *n = calloc(1, sizeof(*n));
    const char *slash = strrchr(path, '/');
    REQUIRE(n);
    n->type = CR_NODE_FILE;
    n->name = strdup(slash ? slash + 1 : path);
    n->mode = 0644;
    n->size = size;
    if (size) {
        n->content = calloc(1, sizeof(cr_extent));
        REQUIRE(n->content);
        n->ncontent = 1;
        n->content[0].offset = 0;
        n->content[0].len = (uint32_t)size;
        memcpy(n->content[0].id.b, &next_blob, sizeof(next_blob));
        next_blob++;
    }
    return n;
}

static void node_free(cr_node *n)
{
    cr_node_clear(n);
    free(n);
}

/* Learn the facts of `data` as scan.c does (head entropy, magic, hashes) and
 * cache them under the content id of `node`. yara: NULL-terminated rule names
 * matched under yara_id. */
static void put_facts(const cr_node *node, const uint8_t *data, size_t len, const char *yara_id,
                      const char *const *yara)
{
    hn_facts f;
    uint64_t hist[256] = {0};
    size_t head = len < HN_HEAD_BYTES ? len : HN_HEAD_BYTES;
    unsigned mdlen;

    memset(&f, 0, sizeof(f));
    hn_content_id(&f.content, node);
    f.size = len;
    for (size_t i = 0; i < head; i++)
        hist[data[i]]++;
    for (int i = 0; i < 256; i++)
        if (hist[i]) {
            double p = (double)hist[i] / (double)head;
            f.entropy -= p * lg2(p);
        }
    f.head_len = (uint32_t)head;
    f.magic_len = (uint8_t)(len < HN_MAGIC_BYTES ? len : HN_MAGIC_BYTES);
    memcpy(f.magic, data, f.magic_len);
    REQUIRE(EVP_Digest(data, len, f.md5, &mdlen, EVP_md5(), NULL));
    REQUIRE(EVP_Digest(data, len, f.sha1, &mdlen, EVP_sha1(), NULL));
    REQUIRE(EVP_Digest(data, len, f.sha256, &mdlen, EVP_sha256(), NULL));
    f.have = HN_HAVE_HEAD | HN_HAVE_MD5 | HN_HAVE_SHA1 | HN_HAVE_SHA256;
    if (yara_id) {
        f.have |= HN_HAVE_YARA;
        memcpy(f.yara_id, yara_id, CR_ID_HEX_LEN);
        while (yara && yara[f.nyara])
            f.nyara++;
        if (f.nyara) {
            f.yara = calloc(f.nyara, sizeof(char *));
            REQUIRE(f.yara);
            for (size_t i = 0; i < f.nyara; i++)
                f.yara[i] = strdup(yara[i]);
        }
    }
    REQUIRE(hn_cache_put(cache, &f) == 0);
    hn_facts_clear(&f);
}

/* `len` bytes: `prefix` (may be NULL) then pseudo-random bytes. */
static uint8_t *bytes_after(const void *prefix, size_t plen, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    REQUIRE(p);
    fill_random(p, len);
    if (prefix)
        memcpy(p, prefix, plen < len ? plen : len);
    return p;
}

/* `len` bytes of English-like text. */
static uint8_t *text_bytes(size_t len)
{
    static const char *words[] = {"patient", "admitted",  "the",   "ward",   "on",
                                  "Monday",  "with",      "fever", "and",    "was",
                                  "treated", "by",        "Dr.",   "Martin", "results",
                                  "normal,", "follow-up", "in",    "2",      "weeks.\n"};
    uint8_t *p = malloc(len + 1);
    size_t o = 0, k = 0;
    REQUIRE(p);
    while (o < len) {
        const char *w = words[(k * 7 + k / 3) % 20];
        for (size_t i = 0; w[i] && o < len; i++)
            p[o++] = (uint8_t)w[i];
        if (o < len)
            p[o++] = ' ';
        k++;
    }
    return p;
}

static hn_ctx ctx;

static void reset(void)
{
    cr_findings_free(ctx.out, ctx.nout);
    ctx.out = NULL;
    ctx.nout = ctx.capout = 0;
}

static const cr_finding *find(const char *path, const char *indicator)
{
    for (size_t i = 0; i < ctx.nout; i++)
        if (!strcmp(ctx.out[i].path, path) && !strcmp(ctx.out[i].indicator, indicator))
            return &ctx.out[i];
    return NULL;
}

/* Judge a file added at `path` with content `data`; returns the number of
 * findings. */
static size_t judge_added(const char *path, const uint8_t *data, size_t len)
{
    cr_node *n = file_node(path, len);
    put_facts(n, data, len, NULL, NULL);
    reset();
    CHECK_OK(hn_judge_file(&ctx, path, NULL, n));
    node_free(n);
    return ctx.nout;
}

/* Same, with the data freed afterwards. */
static size_t judge_added_free(const char *path, uint8_t *data, size_t len)
{
    size_t r = judge_added(path, data, len);
    free(data);
    return r;
}

/* ---------------------------------------------------------------- rules */

static hn_ruleset rs;
static char *exts[] = {"crypt", "lockbit", "locked"}; /* sorted, as rules.c keeps them */
static char *notes[] = {"how_to_decrypt.txt", "readme_for_decrypt*.txt"};

static YR_RULES *compile_rules(const char *src)
{
    YR_COMPILER *c = NULL;
    YR_RULES *r = NULL;
    REQUIRE(yr_compiler_create(&c) == ERROR_SUCCESS);
    REQUIRE(yr_compiler_add_string(c, src, NULL) == 0);
    REQUIRE(yr_compiler_get_rules(c, &r) == ERROR_SUCCESS);
    yr_compiler_destroy(c);
    return r;
}

static void setup_rules(void)
{
    static const char yara_src[] =
        "rule php_webshell { meta: category = \"malware\" severity = "
        "\"critical\" "
        "description = \"PHP web shell\\twith eval\" strings: $a = \"eval(\" "
        "condition: $a }\n"
        "rule bare_rule { strings: $a = \"xyzzy\" condition: $a }\n"
        "rule odd_meta { meta: severity = \"Medium\" category = \"persistence\" "
        "score = 80 severity = \"bogus\" strings: $a = \"plugh\" condition: $a "
        "}\n";
    static const char ioc_list[] = "# test list\n"
                                   "000000000000000000000000000000000000000000000"
                                   "0000000000000000000 zero hash\n";
    memset(&rs, 0, sizeof(rs));
    REQUIRE(hn_yara_init() == 0);
    rs.yara = compile_rules(yara_src);
    rs.yara_count = 3;
    memset(rs.yara_id, 'a', CR_ID_HEX_LEN);
    REQUIRE(hn_ioc_new(&rs.iocs) == 0);
    REQUIRE(hn_ioc_add_list(rs.iocs, "zero.txt", ioc_list, strlen(ioc_list), NULL, NULL, NULL) ==
            0);
    rs.ransom_ext = exts;
    rs.nransom_ext = 3;
    rs.ransom_notes = notes;
    rs.nransom_notes = 2;
    memset(rs.id, 'b', CR_ID_HEX_LEN);
}

/* ---------------------------------------------------------------- tests */

static void test_yara(void)
{
    const char *hits[] = {"php_webshell", "bare_rule", "odd_meta", "gone_rule", NULL};
    char other_id[CR_ID_HEX_LEN + 1];
    uint8_t *data = text_bytes(300);
    cr_node *n = file_node("/var/www/html/up.php", 300);
    const cr_finding *f;

    put_facts(n, data, 300, rs.yara_id, hits);
    reset();
    CHECK_OK(hn_judge_file(&ctx, "/var/www/html/up.php", NULL, n));
    CHECK(ctx.nout == 4);
    f = find("/var/www/html/up.php", "yara:php_webshell");
    REQUIRE(f);
    CHECK(f->category == CR_CAT_MALWARE && f->severity == CR_SEV_CRITICAL);
    CHECK(f->detail && strstr(f->detail, "PHP web shell with eval")); /* tab cleaned */
    CHECK(f->has_content && !f->evidence);
    f = find("/var/www/html/up.php", "yara:bare_rule");
    CHECK(f && f->category == CR_CAT_MALWARE && f->severity == CR_SEV_HIGH);
    CHECK(f && strstr(f->detail, "bare_rule"));
    /* the first severity meta counts; an unknown value does not override it */
    f = find("/var/www/html/up.php", "yara:odd_meta");
    CHECK(f && f->category == CR_CAT_PERSISTENCE && f->severity == CR_SEV_MEDIUM);
    /* a name not in the rule set (verdict of a compatible set): defaults */
    f = find("/var/www/html/up.php", "yara:gone_rule");
    CHECK(f && f->category == CR_CAT_MALWARE && f->severity == CR_SEV_HIGH);
    node_free(n);

    /* verdicts of another YARA rule set are not used */
    memset(other_id, 'c', CR_ID_HEX_LEN);
    other_id[CR_ID_HEX_LEN] = 0;
    n = file_node("/var/www/html/old.php", 300);
    put_facts(n, data, 300, other_id, hits);
    reset();
    CHECK_OK(hn_judge_file(&ctx, "/var/www/html/old.php", NULL, n));
    CHECK(ctx.nout == 0);
    node_free(n);

    /* a namespaced verdict and a second rule set (the metadata table follows) */
    {
        YR_COMPILER *c = NULL;
        YR_RULES *r2 = NULL, *keep = rs.yara;
        char keep_id[CR_ID_HEX_LEN + 1];
        const char *hits2[] = {"user:php_webshell", NULL};
        REQUIRE(yr_compiler_create(&c) == ERROR_SUCCESS);
        REQUIRE(yr_compiler_add_string(c,
                                       "rule php_webshell { meta: severity = \"low\" "
                                       "strings: $a = \"x\" condition: $a }",
                                       "user") == 0);
        REQUIRE(yr_compiler_get_rules(c, &r2) == ERROR_SUCCESS);
        yr_compiler_destroy(c);
        memcpy(keep_id, rs.yara_id, sizeof(keep_id));
        rs.yara = r2;
        memset(rs.yara_id, 'd', CR_ID_HEX_LEN);
        n = file_node("/srv/x.php", 300);
        put_facts(n, data, 300, rs.yara_id, hits2);
        reset();
        CHECK_OK(hn_judge_file(&ctx, "/srv/x.php", NULL, n));
        f = find("/srv/x.php", "yara:user:php_webshell");
        CHECK(ctx.nout == 1 && f && f->severity == CR_SEV_LOW);
        node_free(n);
        yr_rules_destroy(r2);
        rs.yara = keep;
        memcpy(rs.yara_id, keep_id, sizeof(keep_id));
    }
    free(data);
}

static void test_iocs(void)
{
    cr_node *n = file_node("/tmp/dropper", 1000);
    const cr_finding *f;
    uint8_t *data = bytes_after(NULL, 0, 1000);
    hn_facts *fp;

    put_facts(n, data, 1000, NULL, NULL);
    /* make its SHA-256 the listed one */
    {
        cr_id cid;
        hn_content_id(&cid, n);
        fp = hn_cache_get(cache, &cid);
        REQUIRE(fp);
        memset(fp->sha256, 0, sizeof(fp->sha256));
    }
    reset();
    CHECK_OK(hn_judge_file(&ctx, "/tmp/dropper", NULL, n));
    f = find("/tmp/dropper", "ioc:sha256");
    CHECK(ctx.nout == 1);
    CHECK(f && f->category == CR_CAT_MALWARE && f->severity == CR_SEV_CRITICAL);
    CHECK(f && strstr(f->detail, "zero.txt") && strstr(f->detail, "zero hash"));
    /* without the SHA-256 known, nothing */
    fp->have &= ~HN_HAVE_SHA256;
    reset();
    CHECK_OK(hn_judge_file(&ctx, "/tmp/dropper", NULL, n));
    CHECK(ctx.nout == 0);
    node_free(n);
    /* another content: not listed */
    CHECK(judge_added_free("/tmp/other", bytes_after(NULL, 0, 1000), 1000) == 0);
    free(data);
}

static void test_ransom_names(void)
{
    const cr_finding *f;

    /* encrypted and renamed */
    CHECK(judge_added_free("/home/ana/report.pdf.locked", bytes_after("Salted__", 8, 5000), 5000) ==
          1);
    f = find("/home/ana/report.pdf.locked", "ransomware:extension");
    CHECK(f && f->severity == CR_SEV_HIGH && f->category == CR_CAT_RANSOMWARE);
    CHECK(f && f->evidence && !strcmp(f->evidence, "locked"));
    /* case does not hide it */
    CHECK(judge_added_free("/home/ana/SCAN.JPG.LockBit", bytes_after(NULL, 0, 70000), 70000) == 1);
    f = find("/home/ana/SCAN.JPG.LockBit", "ransomware:extension");
    CHECK(f && f->severity == CR_SEV_HIGH);
    /* an empty or plainly intact file with such an extension: medium only */
    CHECK(judge_added("/var/lib/app/state.locked", (const uint8_t *)"", 0) == 1);
    f = find("/var/lib/app/state.locked", "ransomware:extension");
    CHECK(f && f->severity == CR_SEV_MEDIUM);
    CHECK(judge_added_free("/var/lib/app/notes.crypt", text_bytes(2000), 2000) == 1);
    f = find("/var/lib/app/notes.crypt", "ransomware:extension");
    CHECK(f && f->severity == CR_SEV_MEDIUM);
    /* base64 of openssl's output is text, but encrypted */
    {
        uint8_t *p = text_bytes(2000);
        memcpy(p, "U2FsdGVkX1+", 11);
        CHECK(judge_added_free("/home/ana/a.txt.crypt", p, 2000) == 1);
        f = find("/home/ana/a.txt.crypt", "ransomware:extension");
        CHECK(f && f->severity == CR_SEV_HIGH);
    }
    /* a modified file keeps being reported (nothing is carried for a changed
     * node) */
    {
        cr_node *o = file_node("/home/ana/b.crypt", 10), *n = file_node("/home/ana/b.crypt", 900);
        uint8_t *d = bytes_after(NULL, 0, 900);
        put_facts(n, d, 900, NULL, NULL);
        reset();
        CHECK_OK(hn_judge_file(&ctx, "/home/ana/b.crypt", o, n));
        f = find("/home/ana/b.crypt", "ransomware:extension");
        CHECK(ctx.nout == 1 && f && f->severity == CR_SEV_HIGH);
        node_free(o);
        node_free(n);
        free(d);
    }
    /* not an extension: the whole name, or a dot file */
    CHECK(judge_added_free("/home/ana/crypt", bytes_after(NULL, 0, 500), 500) == 0);
    CHECK(judge_added_free("/home/ana/.locked", bytes_after(NULL, 0, 500), 500) == 0);
    CHECK(judge_added_free("/home/ana/x.lockedx", bytes_after(NULL, 0, 500), 500) == 0);

    /* ransom notes, by name and pattern, in any case */
    CHECK(judge_added_free("/home/ana/HOW_TO_DECRYPT.txt", text_bytes(900), 900) == 1);
    f = find("/home/ana/HOW_TO_DECRYPT.txt", "ransomware:note");
    CHECK(f && f->severity == CR_SEV_HIGH && f->category == CR_CAT_RANSOMWARE);
    CHECK(judge_added_free("/srv/share/readme_for_decrypt_7731.txt", text_bytes(900), 900) == 1);
    CHECK(find("/srv/share/readme_for_decrypt_7731.txt", "ransomware:note"));
    CHECK(judge_added_free("/srv/share/README.txt", text_bytes(900), 900) == 0);
    /* a huge file is not a note */
    {
        cr_node *n = file_node("/srv/share/how_to_decrypt.txt", 64u * 1024 * 1024);
        reset();
        CHECK_OK(hn_judge_file(&ctx, "/srv/share/how_to_decrypt.txt", NULL, n));
        CHECK(ctx.nout == 0);
        node_free(n);
    }
    /* a folder is not judged */
    {
        cr_node d;
        memset(&d, 0, sizeof(d));
        d.type = CR_NODE_DIR;
        d.name = "x.locked";
        reset();
        CHECK_OK(hn_judge_file(&ctx, "/home/ana/x.locked", NULL, &d));
        CHECK(ctx.nout == 0);
    }
}

/* A name a package installed is the package's file. */
static void test_dpkg_owned(void)
{
    hn_dpkg *d = NULL;
    static const char md5sums[] =
        "0123456789abcdef0123456789abcdef  usr/share/doc/tool/examples/how_to_decrypt.txt\n"
        "0123456789abcdef0123456789abcdef  usr/share/tool/sample.locked\n";
    REQUIRE(hn_dpkg_new(&d, 0) == 0);
    REQUIRE(hn_dpkg_parse_info(d, "tool.md5sums", md5sums, strlen(md5sums)) == 0);
    ctx.dpkg = d;
    CHECK(judge_added_free("/usr/share/doc/tool/examples/how_to_decrypt.txt", text_bytes(900),
                           900) == 0);
    CHECK(judge_added_free("/usr/share/tool/sample.locked", bytes_after(NULL, 0, 900), 900) == 0);
    /* the same names elsewhere are not the package's */
    CHECK(judge_added_free("/srv/share/how_to_decrypt.txt", text_bytes(900), 900) == 1);
    CHECK(judge_added_free("/srv/share/sample.locked", bytes_after(NULL, 0, 900), 900) == 1);
    /* the content judges still apply to a package's file */
    CHECK(judge_added_free("/usr/share/doc/tool/manual.pdf", bytes_after(NULL, 0, 9000), 9000) ==
          1);
    ctx.dpkg = NULL;
    hn_dpkg_free(d);
}

static int has_high(void)
{
    for (size_t i = 0; i < ctx.nout; i++)
        if (ctx.out[i].severity >= CR_SEV_HIGH)
            return 1;
    return 0;
}

static void test_encrypted(void)
{
    const cr_finding *f;
    uint8_t dicm[132];

    /* encrypted in place under a structured or text name */
    CHECK(judge_added_free("/home/ana/report.pdf", bytes_after(NULL, 0, 200000), 200000) == 1);
    f = find("/home/ana/report.pdf", "ransomware:encrypted");
    CHECK(f && f->severity == CR_SEV_HIGH && f->category == CR_CAT_RANSOMWARE);
    CHECK(f && strstr(f->detail, "PDF"));
    CHECK(judge_added_free("/srv/share/Budget 2026.XLSX", bytes_after("Salted__", 8, 30000),
                           30000) == 1);
    CHECK(find("/srv/share/Budget 2026.XLSX", "ransomware:encrypted"));
    CHECK(judge_added_free("/home/ana/notes.txt", bytes_after("Salted__", 8, 4096), 4096) == 1);
    CHECK(find("/home/ana/notes.txt", "ransomware:encrypted"));
    memset(dicm, 0, sizeof(dicm));
    memcpy(dicm + 128, "DICM", 4);
    CHECK(judge_added_free("/srv/pacs/CT0001.dcm", bytes_after(NULL, 0, 100000), 100000) == 1);
    CHECK(find("/srv/pacs/CT0001.dcm", "ransomware:encrypted"));
    /* small files: an HL7 message of 400 bytes is judged, 200 bytes is too short
     * to tell */
    CHECK(judge_added_free("/srv/hl7/in/msg1.hl7", bytes_after(NULL, 0, 400), 400) == 1);
    CHECK(find("/srv/hl7/in/msg1.hl7", "ransomware:encrypted"));
    CHECK(judge_added_free("/srv/hl7/in/msg2.hl7", bytes_after(NULL, 0, 200), 200) == 0);

    /* look-alikes: the announced magic is there, compressed formats may look
     * random */
    CHECK(judge_added_free("/home/ana/report.pdf", bytes_after("%PDF-1.7\n", 9, 200000), 200000) ==
          0);
    CHECK(judge_added_free("/home/ana/letter.docx", bytes_after("PK\x03\x04", 4, 50000), 50000) ==
          0);
    CHECK(judge_added_free("/usr/share/doc/bash/changelog.Debian.gz",
                           bytes_after("\x1f\x8b\x08\x00", 4, 8000), 8000) == 0);
    CHECK(judge_added_free("/srv/pacs/CT0002.dcm", bytes_after(dicm, sizeof(dicm), 100000),
                           100000) == 0);
    CHECK(judge_added_free("/srv/pacs/CT0003.DCM", bytes_after("\x08\x00\x05\x00", 4, 9000),
                           9000) == 0);
    CHECK(judge_added_free("/home/ana/photo.jpg", bytes_after("\xff\xd8\xff\xe1", 4, 90000),
                           90000) == 0);
    CHECK(judge_added_free("/usr/share/icons/a.png", bytes_after("\x89PNG\r\n\x1a\n", 8, 5000),
                           5000) == 0);
    CHECK(judge_added_free("/srv/vid/a.mp4",
                           bytes_after("\0\0\0\x20"
                                       "ftypisom",
                                       12, 90000),
                           90000) == 0);
    /* misnamed, but a known format: a .log that is gzip, a .jpg that is WebP, a
     * password-protected .xlsx (an OLE file), an ELF named .exe */
    CHECK(judge_added_free("/var/log/app/old.log", bytes_after("\x1f\x8b\x08", 3, 9000), 9000) ==
          0);
    CHECK(judge_added_free("/home/ana/phone.jpg", bytes_after("RIFF\x10\x20\0\0WEBPVP8 ", 16, 9000),
                           9000) == 0);
    CHECK(judge_added_free("/srv/share/salaries.xlsx",
                           bytes_after("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, 9000), 9000) == 0);
    CHECK(judge_added_free("/opt/tool.exe",
                           bytes_after("\x7f"
                                       "ELF\x02\x01",
                                       6, 9000),
                           9000) == 0);
    CHECK(judge_added_free("/var/backups/db.sql", bytes_after("PGDMP\x01\x0e", 7, 90000), 90000) ==
          0);

    /* not judged: .zip (split volumes start mid-stream); a 64-bit WAV */
    CHECK(judge_added_free("/srv/share/export.zip", bytes_after(NULL, 0, 9000), 9000) == 0);
    CHECK(judge_added_free("/srv/rec/dictation.wav",
                           bytes_after("RF64\xff\xff\xff\xffWAVEds64", 16, 90000), 90000) == 0);

    /* a Debian system: no extension, or one that is not judged */
    CHECK(judge_added_free("/usr/lib/x86_64-linux-gnu/libc.so.6",
                           bytes_after("\x7f"
                                       "ELF",
                                       4, 90000),
                           90000) == 0);
    CHECK(judge_added_free("/var/lib/systemd/random-seed", bytes_after(NULL, 0, 512), 512) == 0);
    CHECK(judge_added_free("/var/cache/apt/pkgcache.bin", bytes_after(NULL, 0, 90000), 90000) == 0);
    CHECK(judge_added_free("/usr/share/keyrings/debian-archive-keyring.gpg",
                           bytes_after("\x99\x02\x0d", 3, 9000), 9000) == 0);
    CHECK(judge_added_free("/var/log/journal/0a1b/system.journal",
                           bytes_after("LPKSHHRH", 8, 90000), 90000) == 0);
    CHECK(judge_added_free("/usr/share/locale/fr/LC_MESSAGES/apt.mo",
                           bytes_after("\xde\x12\x04\x95", 4, 9000), 9000) == 0);
    CHECK(judge_added_free("/usr/lib/python3/dist-packages/__pycache__/x.cpython-311.pyc",
                           bytes_after(NULL, 0, 9000), 9000) == 0);
    CHECK(judge_added_free("/etc/machine-id", (uint8_t *)strdup("0123456789abcdef\n"), 17) == 0);
    CHECK(judge_added_free("/var/log/kern.log.1", bytes_after(NULL, 0, 9000), 9000) == 0);
    /* only the last extension counts (a ransomware suffix missing from the list is left to
     * the change rate) */
    CHECK(judge_added_free("/usr/lib/jvm/java-17-openjdk-amd64/jmods/java.sql.jmod",
                           bytes_after("JM\x01\x00PK\x03\x04", 8, 90000), 90000) == 0);
    CHECK(judge_added_free("/home/ana/scan.docx.x7k2q", bytes_after(NULL, 0, 9000), 9000) == 0);
    CHECK(judge_added_free("/home/ana/backup.tar.gpg", bytes_after(NULL, 0, 9000), 9000) == 0);
    CHECK(judge_added_free("/home/ana/contract.pdf.p7m", bytes_after("\x30\x82\x4e\x21", 4, 9000),
                           9000) == 0);
    /* a certificate: base64 text */
    {
        size_t len = 3000;
        uint8_t *p = malloc(len);
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        REQUIRE(p);
        fill_random(p, len);
        for (size_t i = 0; i < len; i++)
            p[i] = (i % 65 == 64) ? '\n' : (uint8_t)b64[p[i] % 64];
        memcpy(p, "-----BEGIN CERTIFICATE-----\n", 28);
        CHECK(judge_added_free("/etc/ssl/certs/ca.pem", p, len) == 0);
        p = malloc(len);
        REQUIRE(p);
        fill_random(p, len);
        for (size_t i = 0; i < len; i++)
            p[i] = (i % 65 == 64) ? '\n' : (uint8_t)b64[p[i] % 64];
        CHECK(judge_added_free("/home/ana/attachment.txt", p, len) == 0);
    }
    /* text in any script: CJK UTF-8 drawn uniformly from 20,000 characters */
    {
        size_t len = 30000, o = 0;
        uint8_t *p = malloc(len), r[2];
        REQUIRE(p);
        while (o + 3 <= len) {
            fill_random(r, 2);
            unsigned cp = 0x4E00 + ((unsigned)r[0] << 8 | r[1]) % 20000;
            p[o++] = (uint8_t)(0xE0 | cp >> 12);
            p[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            p[o++] = (uint8_t)(0x80 | (cp & 0x3F));
        }
        len = o;
        CHECK(judge_added_free("/home/li/notes.txt", p, len) == 0);
    }
    /* ordinary text and Office files named as such */
    CHECK(judge_added_free("/srv/share/minutes.txt", text_bytes(50000), 50000) == 0);
    CHECK(judge_added_free("/srv/hl7/in/msg3.hl7", text_bytes(700), 700) == 0);

    /* odd but not conclusive: a shell installer with an appended archive */
    {
        uint8_t *p = bytes_after(NULL, 0, 60000);
        const char *sh = "#!/bin/sh\n# self-extracting installer: the archive follows this "
                         "script\nexec tail -c +200 \"$0\" | tar xz\nexit 0\n";
        memcpy(p, sh, strlen(sh));
        CHECK(judge_added_free("/opt/install.sh", p, 60000) == 1);
        f = find("/opt/install.sh", "anomaly:entropy");
        CHECK(f && f->severity == CR_SEV_MEDIUM && f->category == CR_CAT_ANOMALY);
        CHECK(!has_high());
    }
    /* a text type at 7.0-7.5 bits per byte: bytes drawn from 160 values (7.32) */
    {
        uint8_t *p = bytes_after(NULL, 0, 20000);
        for (size_t i = 0; i < 20000; i++)
            p[i] = (uint8_t)(p[i] % 160);
        p[0] = 0x01;
        CHECK(judge_added_free("/srv/data/export.csv", p, 20000) == 1);
        f = find("/srv/data/export.csv", "anomaly:entropy");
        CHECK(f && f->severity == CR_SEV_MEDIUM);
    }
    /* no facts: nothing but names */
    {
        cr_node *n = file_node("/home/ana/unknown.pdf", 5000);
        reset();
        CHECK_OK(hn_judge_file(&ctx, "/home/ana/unknown.pdf", NULL, n));
        CHECK(ctx.nout == 0);
        node_free(n);
    }
}

static void test_near_random(void)
{
    hn_facts f;
    memset(&f, 0, sizeof(f));
    f.have = HN_HAVE_HEAD;
    f.head_len = 65536;
    f.entropy = 7.99;
    f.magic_len = HN_MAGIC_BYTES;
    fill_random(f.magic, HN_MAGIC_BYTES);
    f.magic[0] = 0x11; /* not a zlib / font / DER first byte */
    CHECK(hn_judge_near_random(&f) == 1);
    CHECK(hn_judge_near_random(NULL) == 0);
    memcpy(f.magic, "\x1f\x8b", 2);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "PK\x03\x04", 4);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "Salted__", 8);
    CHECK(hn_judge_near_random(&f) == 1);
    /* keyrings, git packs, Java modules: random by nature, not by ransomware */
    memcpy(f.magic, "\x99\x02\x0d\x04\x4e\x97\x47\xc2\x01", 9);
    CHECK(hn_judge_near_random(&f) == 0);
    f.magic[3] = 0x07; /* not an OpenPGP key version */
    CHECK(hn_judge_near_random(&f) == 1);
    memcpy(f.magic, "\xc6\xc0\x10\x04\x5a\x5b\x5c\x5d\x16", 9);
    CHECK(hn_judge_near_random(&f) == 0);
    /* gpg -e and gpg -c output: encrypted by design */
    memcpy(f.magic, "\x85\x02\x0c\x03\x11\x22\x33\x44\x55\x66\x77\x88\x01", 13);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "\x8c\x0d\x04\x09\x03\x08", 6);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "\x8c\x0d\x04\x09\x07\x08", 6); /* no such S2K type */
    CHECK(hn_judge_near_random(&f) == 1);
    memcpy(f.magic, "PACK\0\0\0\x02", 8);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "JM\x01\x00PK\x03\x04", 8);
    CHECK(hn_judge_near_random(&f) == 0);
    memcpy(f.magic, "Salted__", 8);
    f.entropy = 7.4;
    CHECK(hn_judge_near_random(&f) == 0);
    f.entropy = 7.3; /* 512 random bytes measure about 7.59 */
    f.head_len = 512;
    CHECK(hn_judge_near_random(&f) == 1);
    f.head_len = 255;
    f.entropy = 7.9;
    CHECK(hn_judge_near_random(&f) == 0);
    f.head_len = 65536;
    f.have = 0;
    CHECK(hn_judge_near_random(&f) == 0);
    f.have = HN_HAVE_HEAD;
    memcpy(f.magic,
           "#!/bin/sh\nexec tail -c +1 \"$0\" | tar xz\nexit "
           "0\n##########################",
           74);
    CHECK(hn_judge_near_random(&f) == 0);
}

static void rate(uint64_t before, uint64_t added, uint64_t modified, uint64_t removed,
                 uint64_t high, uint64_t named)
{
    hn_change_stats st;
    memset(&st, 0, sizeof(st));
    st.files_before = before;
    st.files_after = before + added - removed;
    st.added = added;
    st.modified = modified;
    st.removed = removed;
    st.modified_high_entropy = high;
    st.ransom_named = named;
    reset();
    CHECK_OK(hn_judge_change_rate(&ctx, &st));
}

static int rate_is(const char *indicator)
{
    if (!indicator)
        return ctx.nout == 0;
    return ctx.nout == 1 && !strcmp(ctx.out[0].indicator, indicator) &&
           !strcmp(ctx.out[0].path, "/") && !ctx.out[0].has_content;
}

static void test_change_rate(void)
{
    /* ransomware: >= 50 files before, >= 20 and >= 10% near-random or renamed */
    rate(50, 0, 20, 0, 20, 0);
    CHECK(rate_is("ransomware:change-rate"));
    CHECK(ctx.nout == 1 && ctx.out[0].severity == CR_SEV_CRITICAL &&
          ctx.out[0].category == CR_CAT_RANSOMWARE);
    CHECK(ctx.nout == 1 && strstr(ctx.out[0].detail, "40.0%") &&
          strstr(ctx.out[0].detail, "50 files"));
    rate(50, 0, 19, 0, 19, 0);
    CHECK(rate_is(NULL));
    rate(49, 0, 49, 0, 49, 0);
    CHECK(rate_is(NULL));
    rate(1000, 0, 100, 0, 100, 0);
    CHECK(rate_is("ransomware:change-rate"));
    rate(1000, 0, 99, 0, 99, 0);
    CHECK(rate_is(NULL));
    rate(1000, 19, 80, 0, 80, 19); /* 99 together */
    CHECK(rate_is(NULL));
    rate(1000, 19, 81, 0, 81, 19);
    CHECK(rate_is("ransomware:change-rate"));
    /* 20 files renamed with a ransomware extension are enough on any system (a server's
     * documents are a small part of its files); 19 are not */
    rate(30000, 20, 5, 20, 0, 20);
    CHECK(rate_is("ransomware:change-rate"));
    CHECK(ctx.nout == 1 && strstr(ctx.out[0].detail, "20 files got a ransomware extension"));
    rate(30000, 19, 5, 19, 0, 19);
    CHECK(rate_is(NULL));
    /* near-random files alone must be a tenth of the files: a backup repository or a
     * cache filling up on a large system is not ransomware */
    rate(30000, 2999, 0, 0, 2999, 0);
    CHECK(rate_is(NULL));
    rate(30000, 1500, 0, 0, 1500, 1499);
    CHECK(rate_is("ransomware:change-rate"));
    rate(200000, 0, 19999, 0, 19999, 0);
    CHECK(rate_is(NULL));
    rate(200000, 0, 20000, 0, 20000, 0);
    CHECK(rate_is("ransomware:change-rate"));
    /* both rules hold: only the critical one */
    rate(1000, 0, 900, 0, 900, 0);
    CHECK(rate_is("ransomware:change-rate"));

    /* anomaly: >= 100 and >= 50% of the files modified or removed */
    rate(1000, 0, 300, 200, 0, 0);
    CHECK(rate_is("anomaly:change-rate"));
    CHECK(ctx.nout == 1 && ctx.out[0].severity == CR_SEV_MEDIUM &&
          ctx.out[0].category == CR_CAT_ANOMALY);
    rate(1000, 0, 300, 199, 0, 0);
    CHECK(rate_is(NULL));
    rate(150, 0, 99, 0, 0, 0);
    CHECK(rate_is(NULL));
    rate(150, 0, 60, 40, 0, 0);
    CHECK(rate_is("anomaly:change-rate"));
    /* many files added is growth, not churn */
    rate(1000, 5000, 10, 0, 0, 0);
    CHECK(rate_is(NULL));
    /* a dist-upgrade: most files modified, few near-random */
    rate(30000, 800, 20000, 500, 40, 0);
    CHECK(rate_is("anomaly:change-rate"));
    /* nothing before (baseline-like): nothing */
    rate(0, 5000, 0, 0, 0, 0);
    CHECK(rate_is(NULL));
}

int main(void)
{
    memset(&ctx, 0, sizeof(ctx));
    REQUIRE(hn_cache_new(&cache) == 0);
    setup_rules();
    ctx.rs = &rs;
    ctx.cache = cache;
    ctx.root = "/";
    ctx.dpkg_loaded = 1; /* no dpkg database: nothing is owned by a package */

    test_yara();
    test_iocs();
    test_ransom_names();
    test_dpkg_owned();
    test_encrypted();
    test_near_random();
    test_change_rate();

    reset();
    hn_cache_free(cache);
    yr_rules_destroy(rs.yara);
    hn_ioc_free(rs.iocs);
    hn_yara_fini();
    return test_summary("test_judge");
}
