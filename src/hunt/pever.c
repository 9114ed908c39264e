/*
 * The version a Windows program declares: the VS_FIXEDFILEINFO of its
 * VS_VERSIONINFO resource (dwFileVersionMS/LS, dwProductVersionMS/LS).
 *
 * The resource directory is not walked: VS_VERSIONINFO is
 *
 *   u16 wLength, u16 wValueLength, u16 wType, WCHAR szKey[] = L"VS_VERSION_INFO",
 *   padding to a 32-bit boundary, VS_FIXEDFILEINFO (52 bytes, dwSignature
 *   0xFEEF04BD, dwStrucVersion, file MS/LS, product MS/LS, ...)
 *
 * and the key, the padding and the signature together do not happen by
 * chance, so the bytes are searched for the key and the structure checked
 * there (wValueLength 52, the signature). The first such structure counts
 * (a program has one version resource). The file must start with "MZ".
 *
 * Pure function of the bytes; bounded by the input.
 */
#include "hunt/hunt.h"

#include <string.h>

static uint32_t pv_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int hn_pe_version(hn_pe_ver *out, const void *data, size_t len)
{
    static const char key[] = "VS_VERSION_INFO";
    uint8_t pat[2 * sizeof(key)];
    const uint8_t *d = data;
    memset(out, 0, sizeof(*out));
    if (len < 64 || d[0] != 'M' || d[1] != 'Z')
        return 0;
    for (size_t i = 0; i < sizeof(key); i++) {
        pat[2 * i] = (uint8_t)key[i];
        pat[2 * i + 1] = 0;
    }
    for (size_t p = 6; p + sizeof(pat) <= len;) {
        const uint8_t *hit = memmem(d + p, len - p, pat, sizeof(pat));
        if (!hit)
            break;
        size_t k = (size_t)(hit - d), start = k - 6;
        size_t v = (k + sizeof(pat) - start + 3) / 4 * 4 + start;
        p = k + 2;
        if (k < 6 || (d[start + 2] | d[start + 3] << 8) != 52 || v + 52 > len ||
            pv_le32(d + v) != 0xfeef04bdu)
            continue;
        out->file = (uint64_t)pv_le32(d + v + 8) << 32 | pv_le32(d + v + 12);
        out->product = (uint64_t)pv_le32(d + v + 16) << 32 | pv_le32(d + v + 20);
        return 1;
    }
    return 0;
}
