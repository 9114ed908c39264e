/*
 * UTF-8: one decoder for the library (names in plans, and any later caller).
 *
 * cr_utf8_decode follows RFC 3629: 1 to 4 bytes, no overlong form, no
 * surrogate (U+D800..U+DFFF), nothing past U+10FFFF. cr_utf8_is_letter is a
 * small table of letter blocks, not the Unicode database: a name such as
 * "ch-saint-étienne" or "лечебница" passes, a symbol, a space or a combining
 * mark (which could hide a look-alike name) does not.
 */
#include "util/util.h"

size_t cr_utf8_decode(uint32_t *cp, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c;
    size_t n;

    if (len == 0)
        return 0;
    if (p[0] < 0x80) {
        c = p[0];
        n = 1;
    } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        c = p[0] & 0x1fu;
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        c = p[0] & 0x0fu;
        n = 3;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        c = p[0] & 0x07u;
        n = 4;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    if (cp)
        *cp = c;
    return n;
}

int cr_utf8_is_letter(uint32_t c)
{
    static const struct {
        uint32_t lo, hi;
    } letters[] = {
        {'A', 'Z'},         {'a', 'z'},
        {0x00c0, 0x00d6},   {0x00d8, 0x00f6}, /* Latin-1 letters (not × and ÷) */
        {0x00f8, 0x024f},                     /* Latin-1, Extended-A and -B */
        {0x0370, 0x0373},   {0x0376, 0x0377}, {0x037b, 0x037d}, {0x0386, 0x0386},
        {0x0388, 0x03ff},                     /* Greek */
        {0x0400, 0x0481},   {0x048a, 0x052f}, /* Cyrillic */
        {0x05d0, 0x05ea},                     /* Hebrew */
        {0x0620, 0x064a},                     /* Arabic */
        {0x1e00, 0x1eff},                     /* Latin Extended Additional */
        {0x3041, 0x3096},   {0x30a1, 0x30fa}, /* kana */
        {0x4e00, 0x9fff},                     /* CJK ideographs */
        {0xac00, 0xd7a3},                     /* Hangul */
    };
    for (size_t i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
        if (c >= letters[i].lo && c <= letters[i].hi)
            return 1;
    return 0;
}
