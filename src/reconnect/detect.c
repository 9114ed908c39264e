/*
 * The application detectors' version readers: each gets the bytes of one
 * file of the snapshot (inventory.c says which) and returns the version it
 * tells, or NULL. Every reader is a bounded scan of untrusted bytes; what it
 * returns is a plain version string (digits, letters, '.', '-', '_', '~', '+'),
 * at most 64 bytes, so that it can be compared and printed safely.
 *
 *   detector   file(s)                                  what is read
 *   openssh    /usr/sbin/sshd                           "OpenSSH_9.2p1" in the program
 *   apache     /usr/sbin/apache2, /usr/sbin/httpd,      "Apache/2.4.49" in the program
 *              /usr/local/apache2/bin/httpd
 *   nginx      /usr/sbin/nginx, /usr/local/nginx/sbin/nginx   "nginx/1.18.0"
 *   php        /usr/bin/php, /usr/local/bin/php, /usr/sbin/php-fpm*
 *                                                       "X-Powered-By: PHP/8.1.2"
 *   tomcat     RELEASE-NOTES of /opt/tomcat, /usr/local/tomcat, /opt/apache-tomcat,
 *              /usr/share/tomcatN                      "Apache Tomcat Version 9.0.31"
 *   java       release of /usr/lib/jvm/NAME, /opt/java/openjdk, /usr/java/NAME
 *                                                       JAVA_VERSION="17.0.2"
 *   zimbra     /opt/zimbra/.install_history             the last zimbra-core and zimbra-patch
 *                                                       packages installed: release
 *                                                       "8.8.15" and patch "p31" give
 *                                                       "8.8.15.p31"
 *   netscaler  /nsconfig/ns.conf, /flash/nsconfig/ns.conf   "#NS13.1 Build 49.13" gives
 *                                                       "13.1.49.13"
 *   fortios    a FortiGate configuration backup (*.conf whose first line is
 *              "#config-version=FGT60F-7.0.6-FW-build0366-...")  "7.0.6"
 *   ivanti     /home/VERSION (Ivanti Connect Secure / Pulse Secure)   DSREL_MAJOR,
 *                                                       _MINOR, _MAINT, _BUILDNUM:
 *                                                       "22.7.2.3191"
 *   exchange   SOFTWARE hive: an Uninstall key whose DisplayName starts with
 *              "Microsoft Exchange Server"              its DisplayVersion ("15.1.2176.2")
 */
#include "reconnect/reconnect.h"

#include <stdlib.h>
#include <string.h>

#define DT_MAX_VERSION 64

static int vchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '.' || c == '-' || c == '_' || c == '~' || c == '+';
}

/* The version right after the first occurrence of `marker` that is followed by a digit:
 * the longest run of version characters, trailing dots dropped. */
static char *after(const void *data, size_t len, const char *marker)
{
    const char *p = data, *end = p + len;
    size_t m = strlen(marker);
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), marker, m);
        if (!hit)
            return NULL;
        const char *v = hit + m, *e = v;
        if (v < end && *v >= '0' && *v <= '9') {
            while (e < end && vchar((unsigned char)*e) && e - v < DT_MAX_VERSION)
                e++;
            while (e > v && (e[-1] == '.' || e[-1] == '-' || e[-1] == '_'))
                e--;
            if (e > v)
                return cr_strndup(v, (size_t)(e - v));
        }
        p = hit + 1;
    }
    return NULL;
}

/* Only digits and dots from v (e.g. "2.4.49" from "2.4.49-dev"). */
static char *numeric(char *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while ((v[n] >= '0' && v[n] <= '9') || v[n] == '.')
        n++;
    while (n && v[n - 1] == '.')
        n--;
    v[n] = '\0';
    if (n == 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* A "KEY=VALUE" (VALUE maybe quoted) line of a shell-like file. */
static char *shell_value(const void *data, size_t len, const char *key)
{
    const char *p = data, *end = p + len;
    size_t k = strlen(key);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *q = p;
        if ((size_t)(e - q) > 7 && memcmp(q, "export ", 7) == 0)
            q += 7;
        if ((size_t)(e - q) > k && memcmp(q, key, k) == 0 && q[k] == '=') {
            const char *v = q + k + 1, *ve;
            if (v < e && (*v == '"' || *v == '\''))
                v++;
            ve = v;
            while (ve < e && vchar((unsigned char)*ve) && ve - v < DT_MAX_VERSION)
                ve++;
            return ve > v ? cr_strndup(v, (size_t)(ve - v)) : NULL;
        }
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

/* Zimbra's .install_history: "TIME: INSTALLED|UPGRADED PACKAGE" lines; the last
 * zimbra-core gives the release, the last zimbra-patch the patch level. */
static char *zimbra(const void *data, size_t len)
{
    const char *p = data, *end = p + len;
    char rel[DT_MAX_VERSION] = "", patch[16] = "";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        const char *core = memmem(p, n, "zimbra-core", 11);
        const char *pat = memmem(p, n, "zimbra-patch", 12);
        const char *pk = pat ? pat : core;
        if (pk && (memmem(p, n, "INSTALLED", 9) || memmem(p, n, "UPGRADED", 8))) {
            /* The release: the first N.N.N after the package name. */
            const char *q = pk + (pat ? 12 : 11);
            while (q < e && !(*q >= '0' && *q <= '9'))
                q++;
            const char *r = q;
            int dots = 0;
            while (r < e && ((*r >= '0' && *r <= '9') || (*r == '.' && dots < 2)) &&
                   r - q < DT_MAX_VERSION - 1) {
                dots += *r == '.';
                r++;
            }
            if (dots == 2 && r > q && r[-1] != '.') {
                memcpy(rel, q, (size_t)(r - q));
                rel[r - q] = '\0';
            }
            if (pat) {
                /* ".p31" (package version) or "_P31" (zmcontrol's way). */
                for (const char *s = pat; s + 2 < e; s++)
                    if ((s[0] == '.' || s[0] == '_') && (s[1] == 'p' || s[1] == 'P') &&
                        s[2] >= '0' && s[2] <= '9') {
                        size_t d = 0;
                        while (s + 2 + d < e && s[2 + d] >= '0' && s[2 + d] <= '9' && d < 6)
                            d++;
                        snprintf(patch, sizeof(patch), "p%.*s", (int)d, s + 2);
                        break;
                    }
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (!rel[0])
        return NULL;
    return patch[0] ? cr_sprintf("%s.%s", rel, patch) : cr_strdup(rel);
}

/* NetScaler's ns.conf: "#NS13.1 Build 49.13" -> "13.1.49.13". */
static char *netscaler(const void *data, size_t len)
{
    size_t n = len < 4096 ? len : 4096;
    char *v = numeric(after(data, n, "#NS")), *b = NULL, *r;
    const char *build = memmem(data, n, " Build ", 7);
    if (!v)
        return NULL;
    if (build)
        b = numeric(after(build, (size_t)((const char *)data + n - build), " Build "));
    if (!b)
        return v;
    r = cr_sprintf("%s.%s", v, b);
    free(v);
    free(b);
    return r;
}

/* A FortiGate backup's first line: "#config-version=MODEL-7.0.6-FW-build0366-220606:...". */
static char *fortios(const void *data, size_t len)
{
    if (len < 16 || memcmp(data, "#config-version=", 16) != 0)
        return NULL;
    const char *p = (const char *)data + 16, *end = (const char *)data + (len < 256 ? len : 256);
    const char *dash = memchr(p, '-', (size_t)(end - p));
    if (!dash)
        return NULL;
    return numeric(after(dash, (size_t)(end - dash), "-"));
}

static char *ivanti(const void *data, size_t len)
{
    char *a = shell_value(data, len, "DSREL_MAJOR"), *b = shell_value(data, len, "DSREL_MINOR");
    char *c = shell_value(data, len, "DSREL_MAINT"), *d = shell_value(data, len, "DSREL_BUILDNUM");
    char *r = NULL;
    if (a && b)
        r = cr_sprintf("%s.%s.%s%s%s", a, b, c ? c : "0", d ? "." : "", d ? d : "");
    free(a);
    free(b);
    free(c);
    free(d);
    return r;
}

char *rc_detect_version(const char *detector, const void *data, size_t len)
{
    char *v = NULL;
    if (!detector || !data)
        return NULL;
    if (!strcmp(detector, "openssh"))
        v = after(data, len, "OpenSSH_");
    else if (!strcmp(detector, "apache"))
        v = numeric(after(data, len, "Apache/"));
    else if (!strcmp(detector, "nginx"))
        v = numeric(after(data, len, "nginx/"));
    else if (!strcmp(detector, "php"))
        v = after(data, len, "X-Powered-By: PHP/");
    else if (!strcmp(detector, "tomcat"))
        v = after(data, len, "Apache Tomcat Version ");
    else if (!strcmp(detector, "java"))
        v = shell_value(data, len, "JAVA_VERSION");
    else if (!strcmp(detector, "zimbra"))
        v = zimbra(data, len);
    else if (!strcmp(detector, "netscaler"))
        v = netscaler(data, len);
    else if (!strcmp(detector, "fortios"))
        v = fortios(data, len);
    else if (!strcmp(detector, "ivanti"))
        v = ivanti(data, len);
    if (v && (strlen(v) == 0 || strlen(v) > DT_MAX_VERSION)) {
        free(v);
        v = NULL;
    }
    return v;
}
