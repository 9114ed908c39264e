/*
 * Fuzz target: the parsers of the reconnection checks' offline data and the
 * detectors' version readers (src/reconnect), all fed files from a USB key or
 * a backed-up system: untrusted. The first byte picks:
 *   0 the KEV catalog (JSON), 1 the curated rules, 2 debsecan data (plain or
 *   zlib), 3 a detector (the second byte picks which) on the rest,
 *   4 Debian version comparison of two strings split at the first NUL:
 *     it must be antisymmetric and reflexive.
 * A parser either fails with CR_ECORRUPT leaving nothing, or returns entries
 * whose strings are non-NULL; a detector's version is short and plain.
 */
#include "reconnect/reconnect.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int sgn(int x)
{
    return (x > 0) - (x < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const det[] = {"openssh", "apache", "nginx",     "php",     "tomcat",
                                      "java",    "zimbra", "netscaler", "fortios", "ivanti"};
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 5) {
    case 0: {
        rc_kev_set k;
        int err = rc_kev_parse(&k, p, n);
        if (err == 0) {
            for (size_t i = 0; i < k.n; i++)
                if (!k.v[i].cve || rc_kev_find(&k, k.v[i].cve) != &k.v[i])
                    abort();
        } else if (err != CR_ECORRUPT || k.n || k.v) {
            abort();
        }
        rc_kev_clear(&k);
        break;
    }
    case 1: {
        rc_rules r;
        int err = rc_rules_parse(&r, p, n);
        if (err == 0) {
            for (size_t i = 0; i < r.n; i++)
                if (!r.v[i].cve || !r.v[i].product || !r.v[i].branch)
                    abort();
        } else if (err != CR_ECORRUPT || r.n) {
            abort();
        }
        rc_rules_clear(&r);
        break;
    }
    case 2: {
        rc_advisories a;
        int err = rc_adv_parse(&a, p, n);
        if (err == 0) {
            for (size_t i = 0; i < a.n; i++) {
                if (a.v[i].vuln >= a.nnames || !a.v[i].package)
                    abort();
                if (a.v[i].unstable)
                    (void)cr_version_compare(a.v[i].unstable, "1:9.2p1-2+deb12u2");
            }
        } else if (err != CR_ECORRUPT || a.n) {
            abort();
        }
        rc_adv_clear(&a);
        break;
    }
    case 3: {
        if (n < 1)
            break;
        char *v = rc_detect_version(det[p[0] % 10], p + 1, n - 1);
        if (v) {
            size_t l = strlen(v);
            if (l == 0 || l > 64)
                abort();
            for (size_t i = 0; i < l; i++)
                if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
                    abort();
        }
        free(v);
        break;
    }
    default: {
        char *a = malloc(n + 1), *b;
        if (!a)
            break;
        memcpy(a, p, n);
        a[n] = '\0';
        b = a + strlen(a);
        if (b < a + n)
            b++;
        if (cr_version_compare(a, a) != 0 || cr_version_compare(b, b) != 0 ||
            sgn(cr_version_compare(a, b)) != -sgn(cr_version_compare(b, a)))
            abort();
        free(a);
        break;
    }
    }
    return 0;
}
