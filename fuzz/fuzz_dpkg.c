/*
 * Fuzz target: the dpkg database parsers of src/hunt/dpkg.c (status,
 * info/<pkg>.md5sums and .list, diversions, statoverride), which read files
 * of a backed-up system: untrusted. The first byte picks the parser; the
 * rest is the file. Every path a parser accepted is then looked up.
 */
#include "hunt/hunt.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hn_dpkg *d = NULL;
    uint8_t md5[16];
    uint32_t mode;

    if (size < 1)
        return 0;
    if (hn_dpkg_new(&d, data[0] & 0x80) < 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] & 3) {
    case 0:
        hn_dpkg_parse_status(d, p, n);
        break;
    case 1:
        hn_dpkg_parse_info(d, (data[0] & 4) ? "base-files.md5sums" : "base-files:amd64.list", p, n);
        break;
    case 2:
        hn_dpkg_parse_diversions(d, p, n);
        break;
    default:
        hn_dpkg_parse_statoverride(d, p, n);
        break;
    }
    memset(md5, 0xab, sizeof(md5));
    (void)hn_dpkg_owner(d, "/etc/passwd", md5, NULL);
    (void)hn_dpkg_owner(d, "/usr/bin/x", NULL, NULL);
    (void)hn_dpkg_owner(d, "/lib/systemd/system/cron.service", md5, NULL);
    (void)hn_dpkg_statoverride(d, "/usr/bin/crontab", &mode);
    (void)hn_dpkg_count(d);
    hn_dpkg_free(d);
    return 0;
}
