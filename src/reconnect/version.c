/*
 * Debian version comparison (Debian Policy 5.6.12), for the dpkg packages of a
 * snapshot against the security tracker's fixed versions, and for the
 * versions the application detectors give ("8.8.15.p31", "13.1.49.13").
 *
 *   [epoch:]upstream_version[-debian_revision]
 *
 * epoch: the digits before the first ':' (none: 0), compared as a number;
 * revision: after the last '-' (none: compares as "0"); upstream: the rest.
 * Upstream and revision are compared by dpkg's verrevcmp: alternately the
 * longest run of non-digits, character by character, where letters sort
 * before non-letters and '~' before everything, even the end of the string
 * ("1.0~rc1" < "1.0"), then the longest run of digits as a number (leading
 * zeros ignored, so no overflow whatever the length).
 *
 * Why not libdpkg (libdpkg-dev's dpkg_version_compare)? Debian ships it only
 * as a static archive whose headers refuse to compile without
 * LIBDPKG_VOLATILE_API ("no stable API"), and cleanroom is also a shared
 * library. The algorithm is twenty lines; tests/unit/test_reconnect.c checks
 * it against the examples of the Policy and dpkg's own test suite.
 *
 * Input is untrusted (a snapshot's dpkg status, a detector's reading): any
 * byte string compares without reading past its end; a malformed epoch
 * ("a:1") is taken as part of the upstream version, as a string.
 */
#include "cleanroom/reconnect.h"

#include <string.h>

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* dpkg's order(): '~' first, then the end and digits, letters, then the rest. */
static int order(int c)
{
    if (is_digit(c))
        return 0;
    if (is_alpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c)
        return c + 256;
    return 0;
}

/* dpkg's verrevcmp over (pointer, length) strings. */
static int verrevcmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int first_diff = 0;
        while ((i < na && !is_digit((unsigned char)a[i])) ||
               (j < nb && !is_digit((unsigned char)b[j]))) {
            int ac = order(i < na ? (unsigned char)a[i] : 0);
            int bc = order(j < nb ? (unsigned char)b[j] : 0);
            if (ac != bc)
                return ac - bc;
            i++;
            j++;
        }
        while (i < na && a[i] == '0')
            i++;
        while (j < nb && b[j] == '0')
            j++;
        while (i < na && j < nb && is_digit((unsigned char)a[i]) && is_digit((unsigned char)b[j])) {
            if (!first_diff)
                first_diff = (unsigned char)a[i] - (unsigned char)b[j];
            i++;
            j++;
        }
        if (i < na && is_digit((unsigned char)a[i]))
            return 1;
        if (j < nb && is_digit((unsigned char)b[j]))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
}

typedef struct dv {
    const char *epoch, *up, *rev;
    size_t nepoch, nup, nrev;
} dv;

static void dv_split(dv *v, const char *s)
{
    size_t n = strlen(s);
    const char *colon = memchr(s, ':', n);
    memset(v, 0, sizeof(*v));
    v->up = s;
    v->nup = n;
    if (colon && colon > s) {
        int digits = 1;
        for (const char *p = s; p < colon; p++)
            digits &= is_digit((unsigned char)*p);
        if (digits) {
            v->epoch = s;
            v->nepoch = (size_t)(colon - s);
            v->up = colon + 1;
            v->nup = n - v->nepoch - 1;
        }
    }
    for (size_t k = v->nup; k > 0; k--)
        if (v->up[k - 1] == '-') {
            v->rev = v->up + k;
            v->nrev = v->nup - k;
            v->nup = k - 1;
            break;
        }
}

int cr_version_compare(const char *a, const char *b)
{
    dv x, y;
    int r;
    dv_split(&x, a ? a : "");
    dv_split(&y, b ? b : "");
    /* Epochs are digits only: verrevcmp compares them as numbers. */
    if ((r = verrevcmp(x.epoch ? x.epoch : "0", x.epoch ? x.nepoch : 1, y.epoch ? y.epoch : "0",
                       y.epoch ? y.nepoch : 1)) != 0)
        return r;
    if ((r = verrevcmp(x.up, x.nup, y.up, y.nup)) != 0)
        return r;
    return verrevcmp(x.rev ? x.rev : "", x.nrev, y.rev ? y.rev : "", y.nrev);
}
