/*
 * Unit tests of the trust anchors (src/hunt/dpkg.c hn_dpkg_anchor*, and the
 * package judge of src/hunt/trust.c): a database is anchored on an earlier
 * one for packages at the same version, and on a .deb; what it rewrote is
 * told; the judge reports package files changed without an upgrade.
 */
#include "hunt/hunt.h"
#include "test.h"

#include <string.h>

static const char status_v1[] =
    "Package: cron\nStatus: install ok installed\nVersion: 3.0pl1-162\nArchitecture: amd64\n"
    "Conffiles:\n /etc/crontab 11111111111111111111111111111111\n"
    " /etc/cron.daily/dpkg 22222222222222222222222222222222\n\n"
    "Package: apt\nStatus: install ok installed\nVersion: 2.6.1\nArchitecture: amd64\n\n"
    "Package: gone\nStatus: deinstall ok not-installed\nVersion: 1.0\n\n";
static const char apt_sums[] =
    "33333333333333333333333333333333  usr/lib/systemd/system/apt-daily.service\n"
    "44444444444444444444444444444444  usr/bin/apt\n";

static hn_dpkg *db(const char *status, const char *sums)
{
    hn_dpkg *d = NULL;
    REQUIRE(hn_dpkg_new(&d, 0) == 0);
    REQUIRE(hn_dpkg_parse_status(d, status, strlen(status)) == 0);
    REQUIRE(hn_dpkg_parse_info(d, "apt.md5sums", sums, strlen(sums)) == 0);
    return d;
}

static void md5(uint8_t out[16], char c)
{
    char hex[33];
    memset(hex, c, 32);
    hex[32] = '\0';
    REQUIRE(cr_hex_decode_n(out, hex, 32) == 0);
}

static void test_versions(void)
{
    hn_dpkg *d = db(status_v1, apt_sums);
    CHECK(hn_dpkg_version(d, "cron") && !strcmp(hn_dpkg_version(d, "cron"), "3.0pl1-162"));
    CHECK(hn_dpkg_arch(d, "apt") && !strcmp(hn_dpkg_arch(d, "apt"), "amd64"));
    CHECK(hn_dpkg_version(d, "gone") == NULL); /* not installed */
    CHECK(hn_dpkg_version(d, "nope") == NULL);
    CHECK(hn_dpkg_is_conffile(d, "/etc/crontab"));
    CHECK(!hn_dpkg_is_conffile(d, "/usr/bin/apt"));
    CHECK(hn_dpkg_npackages(d) == 2);
    hn_dpkg_free(d);
}

/* The attack of issue 12: the unit changed and its md5 written into apt.md5sums. */
static void test_anchor_same_version(void)
{
    static const char tampered[] =
        "55555555555555555555555555555555  usr/lib/systemd/system/apt-daily.service\n"
        "44444444444444444444444444444444  usr/bin/apt\n";
    hn_dpkg *trusted = db(status_v1, apt_sums), *d = db(status_v1, tampered);
    uint8_t now[16], was[16];
    const hn_dpkg_tamper *t;
    md5(now, '5');
    md5(was, '3');
    /* Before anchoring, the snapshot vouches for itself. */
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.service", now, NULL) ==
          HN_OWNED_MATCH);
    CHECK_OK(hn_dpkg_anchor(d, trusted));
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.service", now, NULL) ==
          HN_OWNED_MODIFIED);
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.service", was, NULL) ==
          HN_OWNED_MATCH);
    REQUIRE(hn_dpkg_tampers(d, &t) == 1);
    CHECK(!strcmp(t[0].pkg, "apt") &&
          !strcmp(t[0].path, "/usr/lib/systemd/system/apt-daily.service"));
    CHECK(t[0].has_now && !memcmp(t[0].now, now, 16) && !memcmp(t[0].was, was, 16));
    CHECK(!t[0].conffile);
    hn_dpkg_free(d);
    hn_dpkg_free(trusted);
}

/* An upgrade changes the sums: not a tamper, and the new sums stand. */
static void test_anchor_upgrade(void)
{
    char status_v2[sizeof(status_v1) + 8];
    static const char upgraded[] =
        "55555555555555555555555555555555  usr/lib/systemd/system/apt-daily.service\n"
        "66666666666666666666666666666666  usr/bin/apt\n";
    const char *v = strstr(status_v1, "Version: 2.6.1");
    REQUIRE(v);
    snprintf(status_v2, sizeof(status_v2), "%.*sVersion: 2.6.2%s", (int)(v - status_v1), status_v1,
             v + strlen("Version: 2.6.1"));
    hn_dpkg *trusted = db(status_v1, apt_sums), *d = db(status_v2, upgraded);
    const hn_dpkg_tamper *t;
    uint8_t now[16];
    md5(now, '5');
    CHECK(!hn_dpkg_same_version(d, trusted, "apt"));
    CHECK(hn_dpkg_same_version(d, trusted, "cron"));
    CHECK_OK(hn_dpkg_anchor(d, trusted));
    CHECK(hn_dpkg_tampers(d, &t) == 0);
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.service", now, NULL) ==
          HN_OWNED_MATCH);
    hn_dpkg_free(d);
    hn_dpkg_free(trusted);
}

/* A version that changed while the changelog did not: rewritten. */
static void test_version_rewritten(void)
{
    static const char st1[] = "Package: tool\nStatus: install ok installed\nVersion: 1.0-1\n\n";
    static const char st2[] = "Package: tool\nStatus: install ok installed\nVersion: 1.0-2\n\n";
    static const char st3[] = "Package: tool\nStatus: install ok installed\nVersion: 1.0-1+b1\n\n";
    static const char sums1[] =
        "11111111111111111111111111111111  usr/share/doc/tool/changelog.Debian.gz\n";
    static const char sums2[] =
        "22222222222222222222222222222222  usr/share/doc/tool/changelog.Debian.gz\n";
    hn_dpkg *a = NULL, *b = NULL, *c = NULL, *e = NULL;
    REQUIRE(hn_dpkg_new(&a, 0) == 0 && hn_dpkg_new(&b, 0) == 0 && hn_dpkg_new(&c, 0) == 0 &&
            hn_dpkg_new(&e, 0) == 0);
    REQUIRE(hn_dpkg_parse_status(a, st1, strlen(st1)) == 0);
    REQUIRE(hn_dpkg_parse_info(a, "tool.md5sums", sums1, strlen(sums1)) == 0);
    /* Same changelog, new version: rewritten. */
    REQUIRE(hn_dpkg_parse_status(b, st2, strlen(st2)) == 0);
    REQUIRE(hn_dpkg_parse_info(b, "tool.md5sums", sums1, strlen(sums1)) == 0);
    CHECK_OK(hn_dpkg_anchor(b, a));
    CHECK(hn_dpkg_version_rewritten(b, "tool") &&
          !strcmp(hn_dpkg_version_rewritten(b, "tool"), "1.0-1"));
    CHECK(!hn_dpkg_unchanged(b, "tool"));
    /* A new changelog: a real upgrade. */
    REQUIRE(hn_dpkg_parse_status(c, st2, strlen(st2)) == 0);
    REQUIRE(hn_dpkg_parse_info(c, "tool.md5sums", sums2, strlen(sums2)) == 0);
    CHECK_OK(hn_dpkg_anchor(c, a));
    CHECK(hn_dpkg_version_rewritten(c, "tool") == NULL);
    /* A binary-only rebuild keeps its changelog.Debian.gz. */
    REQUIRE(hn_dpkg_parse_status(e, st3, strlen(st3)) == 0);
    REQUIRE(hn_dpkg_parse_info(e, "tool.md5sums", sums1, strlen(sums1)) == 0);
    CHECK_OK(hn_dpkg_anchor(e, a));
    CHECK(hn_dpkg_version_rewritten(e, "tool") == NULL);
    hn_dpkg_free(a);
    hn_dpkg_free(b);
    hn_dpkg_free(c);
    hn_dpkg_free(e);
}

/* A conffile sum changed in status, and a line removed from md5sums. */
static void test_anchor_conffile_and_removed(void)
{
    char status_t[sizeof(status_v1)];
    static const char fewer[] = "44444444444444444444444444444444  usr/bin/apt\n";
    snprintf(status_t, sizeof(status_t), "%s", status_v1);
    char *p = strstr(status_t, "22222222222222222222222222222222");
    REQUIRE(p);
    memset(p, '7', 32);
    hn_dpkg *trusted = db(status_v1, apt_sums), *d = db(status_t, fewer);
    const hn_dpkg_tamper *t;
    CHECK_OK(hn_dpkg_anchor(d, trusted));
    size_t n = hn_dpkg_tampers(d, &t), conf = 0, gone = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].conffile && !strcmp(t[i].path, "/etc/cron.daily/dpkg") && t[i].has_now)
            conf++;
        if (!t[i].conffile && !strcmp(t[i].path, "/usr/lib/systemd/system/apt-daily.service") &&
            !t[i].has_now)
            gone++;
    }
    CHECK(n == 2 && conf == 1 && gone == 1);
    uint8_t was[16];
    md5(was, '3');
    /* The removed sum is back from the anchor. */
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.service", was, NULL) ==
          HN_OWNED_MATCH);
    hn_dpkg_free(d);
    hn_dpkg_free(trusted);
}

/* The .deb says what the package is, whatever the database says. */
static void test_anchor_deb(void)
{
    hn_dpkg *d = db(status_v1, apt_sums);
    const char *paths[] = {"./usr/bin/apt", "./usr/share/doc/apt/README"};
    uint8_t sums[2][16];
    const hn_dpkg_tamper *t;
    md5(sums[0], '8');
    md5(sums[1], '9');
    CHECK_OK(hn_dpkg_anchor_deb(d, "apt", paths, (const uint8_t(*)[16])sums, 2));
    CHECK(hn_dpkg_from_deb(d, "apt") && !hn_dpkg_from_deb(d, "cron"));
    REQUIRE(hn_dpkg_tampers(d, &t) == 1);
    CHECK(!strcmp(t[0].path, "/usr/bin/apt") && !memcmp(t[0].was, sums[0], 16));
    CHECK(hn_dpkg_owner(d, "/usr/bin/apt", sums[0], NULL) == HN_OWNED_MATCH);
    hn_dpkg_free(d);
}

/* Hostile bytes are not a .deb. */
static void test_deb_garbage(void)
{
    hn_deb deb;
    CHECK(hn_deb_read(&deb, "!<arch>\n", 8) == CR_EINPUT);
    CHECK(hn_deb_read(&deb, "hello", 5) == CR_EINPUT);
    CHECK(deb.n == 0 && deb.package == NULL);
}

int main(void)
{
    test_versions();
    test_anchor_same_version();
    test_anchor_upgrade();
    test_anchor_conffile_and_removed();
    test_version_rewritten();
    test_anchor_deb();
    test_deb_garbage();
    return test_summary("test_trust");
}
