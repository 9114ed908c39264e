/*
 * The reconnection checks' pure parts: Debian version comparison (against the
 * examples of Debian Policy 5.6.12 and of dpkg's own tests), the KEV catalog,
 * curated rules and debsecan parsers (what they refuse), and the detectors'
 * version readers.
 */
#include "reconnect/reconnect.h"
#include "test.h"

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* a < b, and the reverse, and each equal to itself. */
static void lt(const char *a, const char *b)
{
    int ab = sign(cr_version_compare(a, b)), ba = sign(cr_version_compare(b, a));
    if (ab != -1 || ba != 1)
        fprintf(stderr, "expected %s < %s (got %d, %d)\n", a, b, ab, ba);
    CHECK(ab == -1);
    CHECK(ba == 1);
    CHECK(cr_version_compare(a, a) == 0);
}

static void eq(const char *a, const char *b)
{
    if (cr_version_compare(a, b) != 0)
        fprintf(stderr, "expected %s == %s\n", a, b);
    CHECK(cr_version_compare(a, b) == 0);
}

static void test_version(void)
{
    /* The tilde sorts before anything, even the end of a part. */
    lt("1.0~rc1", "1.0");
    lt("1.0~~", "1.0~~a");
    lt("1.0~~a", "1.0~");
    lt("1.0~", "1.0");
    lt("1.0", "1.0a");
    lt("1.0a", "1.0+");
    lt("1.0~rc1-1", "1.0-1");
    /* Epochs win over everything; no epoch is 0. */
    lt("2.0", "1:0.1");
    lt("1:9.9", "2:0.0");
    eq("0:1.0", "1.0");
    eq("00:1.0", "0:1.0");
    /* Revisions: the last hyphen; none compares as "0" does. */
    lt("1.0-1", "1.0-2");
    lt("1.0-9", "1.0-10");
    eq("1.0", "1.0-0");
    lt("1.0-1", "1.0-1+deb12u1");
    lt("1:9.2p1-2+deb12u2", "1:9.2p1-2+deb12u3");
    lt("1:9.2p1-2+deb12u3", "1:9.7p1-7");
    lt("1.2-3-4", "1.2-3-5"); /* upstream "1.2-3" */
    /* Numbers as numbers, leading zeros ignored, any length without overflow. */
    lt("1.9", "1.10");
    eq("1.010", "1.10");
    lt("1.99999999999999999999999", "1.100000000000000000000000");
    /* Letters before non-letters. */
    lt("1.0a", "1.0.");
    lt("2.4.49", "2.4.50");
    /* Detectors' versions. */
    lt("8.8.15.p31", "8.8.15.p33");
    lt("8.8.15", "8.8.15.p33");
    lt("8.8.15.p9", "8.8.15.p10");
    lt("13.1.49.13", "13.1.49.15");
    lt("15.1.2176.2", "15.1.2176.9");
    /* A malformed epoch is part of the upstream version. */
    lt("a:1", "b:1");
    eq("", "0");
    CHECK(cr_version_compare(NULL, "") == 0);
}

static const char kev_ok[] =
    "{\"catalogVersion\": \"2026.12.07\", \"dateReleased\": \"2026-12-07T00:00:00.000Z\", "
    "\"count\": 2, \"vulnerabilities\": ["
    "{\"cveID\": \"CVE-2022-37042\", \"vendorProject\": \"Synacor\", \"product\": \"Zimbra\", "
    "\"vulnerabilityName\": \"x\", \"knownRansomwareCampaignUse\": \"Known\", \"cwes\": []},"
    "{\"cveID\": \"CVE-2021-26855\", \"knownRansomwareCampaignUse\": \"Unknown\"}]}";

static void test_kev(void)
{
    rc_kev_set k;
    CHECK_OK(rc_kev_parse(&k, kev_ok, strlen(kev_ok)));
    CHECK(k.n == 2);
    const rc_kev *z = rc_kev_find(&k, "CVE-2022-37042");
    CHECK(z && z->ransomware == 1);
    const rc_kev *e = rc_kev_find(&k, "CVE-2021-26855");
    CHECK(e && e->ransomware == 0);
    CHECK(rc_kev_find(&k, "CVE-2000-0001") == NULL);
    rc_kev_clear(&k);

    static const char *const bad[] = {
        "",
        "[]",
        "{\"vulnerabilities\": []}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"count\": 1, \"vulnerabilities\": []}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"vulnerabilities\": [{\"cveID\": "
        "\"CVE-2022-1\", \"knownRansomwareCampaignUse\": \"Known\"}]}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"vulnerabilities\": [{\"cveID\": "
        "\"CVE-2022-12345\", \"knownRansomwareCampaignUse\": \"Yes\"}]}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"vulnerabilities\": [{\"cveID\": "
        "\"CVE-2022-12345\"}]}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"vulnerabilities\": [{\"cveID\": "
        "\"CVE-2022-12345\", \"knownRansomwareCampaignUse\": \"Known\"}, {\"cveID\": "
        "\"CVE-2022-12345\", \"knownRansomwareCampaignUse\": \"Known\"}]}",
        "{\"catalogVersion\": 1, \"dateReleased\": \"2\", \"vulnerabilities\": []}",
        "{\"catalogVersion\": \"1\", \"dateReleased\": \"2\", \"vulnerabilities\": [7]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = rc_kev_parse(&k, bad[i], strlen(bad[i]));
        if (rc != CR_ECORRUPT)
            fprintf(stderr, "bad KEV %zu accepted\n", i);
        CHECK(rc == CR_ECORRUPT);
        CHECK(k.n == 0 && k.v == NULL);
    }
}

static void test_rules(void)
{
    static const char ok[] = "# c\ndate 2026-12-07\nCVE-2022-37042 zimbra 8.8.15 8.8.15.p33\n"
                             "\n  CVE-2024-21887\tivanti * -   # any\n";
    rc_rules r;
    CHECK_OK(rc_rules_parse(&r, ok, strlen(ok)));
    CHECK(r.n == 2 && r.date && !strcmp(r.date, "2026-12-07"));
    CHECK(r.n == 2 && !strcmp(r.v[0].fixed, "8.8.15.p33") && r.v[1].fixed == NULL &&
          !strcmp(r.v[1].branch, "*"));
    rc_rules_clear(&r);
    static const char *const bad[] = {
        "CVE-2022-37042 zimbra 8.8.15 8.8.15.p33\n", /* no date */
        "date 2026-12-07\nCVE-2022-37042 zimbra 8.8.15\n",
        "date 2026-12-7\n",
        "date 2026-12-07\nCVE-22-1 zimbra 1 2\n",
        "date 2026-12-07\nCVE-2022-37042 zim\001bra 1 2\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(rc_rules_parse(&r, bad[i], strlen(bad[i])) == CR_ECORRUPT);
        CHECK(r.n == 0);
    }
}

static void test_advisories(void)
{
    static const char ok[] = "VERSION 1\nCVE-2024-6387,,regreSSHion, with a comma\nCVE-2023-1,,y\n"
                             "\nopenssh,0, HRF,1:9.7p1-7,1:9.2p1-2+deb12u3 1:8.4p1-5+deb11u3\n"
                             "libssl3,1,BL F,,\n\nopenssh,openssh-server\n";
    rc_advisories a;
    CHECK_OK(rc_adv_parse(&a, ok, strlen(ok)));
    CHECK(a.nnames == 2 && !strcmp(a.descs[0], "regreSSHion, with a comma"));
    REQUIRE(a.n == 2);
    CHECK(!strcmp(a.v[0].package, "libssl3") && a.v[0].binary && !a.v[0].unstable);
    CHECK(!strcmp(a.v[1].package, "openssh") && !a.v[1].binary && a.v[1].nother == 2 &&
          !strcmp(a.v[1].other[1], "1:8.4p1-5+deb11u3") && a.v[1].fix);
    rc_adv_clear(&a);
    static const char *const bad[] = {
        "",
        "VERSION 2\n",
        "VERSION 1\nCVE-1,,x\n\nopenssh,1, HRF,1,\n", /* vulnerability 1 of 1 */
        "VERSION 1\nCVE-1,,x\n\nopenssh,0,HRF,1,\n",  /* flags are 4 characters */
        "VERSION 1\nCVE-1,,x\n\nopenssh,x, HRF,1,\n",
        "VERSION 1\nCVE-1,,x\n\nopenssh,0, HRF,1\n",
        "VERSION 1\nCVE 1,,x\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = rc_adv_parse(&a, bad[i], strlen(bad[i]));
        if (rc != CR_ECORRUPT)
            fprintf(stderr, "bad advisories %zu accepted\n", i);
        CHECK(rc == CR_ECORRUPT);
    }
    /* zlib that ends early. */
    static const unsigned char cut[] = {0x78, 0x9c, 0x0b, 0x73, 0x0d};
    CHECK(rc_adv_parse(&a, cut, sizeof(cut)) == CR_ECORRUPT);
}

static void detect(const char *det, const char *data, const char *want)
{
    char *v = rc_detect_version(det, data, strlen(data));
    if (want ? !v || strcmp(v, want) : v != NULL)
        fprintf(stderr, "%s on \"%s\": got %s, want %s\n", det, data, v ? v : "NULL",
                want ? want : "NULL");
    CHECK(want ? v && !strcmp(v, want) : v == NULL);
    free(v);
}

static void test_detect(void)
{
    static const char bin[] = "\177ELF\0OpenSSH_\0OpenSSH_9.2p1 Debian";
    char *b = rc_detect_version("openssh", bin, sizeof(bin) - 1);
    CHECK(b && !strcmp(b, "9.2p1")); /* past NUL bytes and a marker without a version */
    free(b);
    detect("openssh", "OpenSSH_ only", NULL);
    detect("apache", "Apache/2.4.49 (Unix)", "2.4.49");
    detect("nginx", "nginx/1.18.0", "1.18.0");
    detect("php", "X-Powered-By: PHP/8.1.2-1ubuntu2", "8.1.2-1ubuntu2");
    detect("tomcat", "\nApache Tomcat Version 9.0.31\n", "9.0.31");
    detect("java", "IMPLEMENTOR=x\nJAVA_VERSION=\"17.0.2\"\n", "17.0.2");
    detect("zimbra",
           "1: INSTALLED zimbra-core_8.8.15.1579073452.UBUNTU18.64_amd64.deb\n"
           "2: UPGRADED zimbra-patch_8.8.15.1656405690.p31-2.u18_amd64.deb\n",
           "8.8.15.p31");
    detect("zimbra", "1: INSTALLED zimbra-core-9.0.0_GA_3924.RHEL8_64\n", "9.0.0");
    detect("zimbra", "1: REMOVED zimbra-core-9.0.0_GA_3924.RHEL8_64\n", NULL);
    detect("netscaler", "#NS13.1 Build 49.13\nset ns config\n", "13.1.49.13");
    detect("fortios", "#config-version=FGT60F-7.0.6-FW-build0366-220606:opmode=0:vdom=0\n", "7.0.6");
    detect("fortios", "config system global\n", NULL);
    detect("ivanti", "export DSREL_MAJOR=22\nexport DSREL_MINOR=7\nexport DSREL_MAINT=2\n"
                     "export DSREL_BUILDNUM=3191\n",
           "22.7.2.3191");
    detect("nothing", "x", NULL);
    /* A version never runs on: at most 64 characters. */
    char longv[200] = "OpenSSH_9";
    memset(longv + 9, '9', 150);
    longv[159] = '\0';
    char *v = rc_detect_version("openssh", longv, strlen(longv));
    CHECK(v && strlen(v) <= 64);
    free(v);
}

int main(void)
{
    test_version();
    test_kev();
    test_rules();
    test_advisories();
    test_detect();
    return test_summary("test_reconnect");
}
