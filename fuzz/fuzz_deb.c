/*
 * Fuzz target: the .deb reader of src/hunt/trust.c (an ar archive holding
 * compressed tar archives), which reads packages from a backed-up system's
 * apt cache: untrusted. What it accepted is then used to anchor a small
 * package database, as the hunt does.
 */
#include "hunt/hunt.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char status[] = "Package: sysd\nStatus: install ok installed\nVersion: 1.1-1\n"
                                 "Architecture: all\nConffiles:\n /etc/cron.daily/sysd "
                                 "0123456789abcdef0123456789abcdef\n\n";
    static const char sums[] = "0123456789abcdef0123456789abcdef  usr/bin/sysd-tool\n";
    hn_deb deb;
    hn_dpkg *d = NULL;

    if (hn_deb_read(&deb, data, size) < 0)
        return 0;
    if (hn_dpkg_new(&d, 0) == 0 && hn_dpkg_parse_status(d, status, sizeof(status) - 1) == 0 &&
        hn_dpkg_parse_info(d, "sysd.md5sums", sums, sizeof(sums) - 1) == 0) {
        const hn_dpkg_tamper *t;
        hn_dpkg_anchor_deb(d, deb.package, (const char *const *)deb.paths,
                           (const uint8_t(*)[16])deb.md5, deb.n);
        (void)hn_dpkg_tampers(d, &t);
        (void)hn_dpkg_owner(d, "/usr/bin/sysd-tool", deb.n ? deb.md5[0] : NULL, NULL);
    }
    hn_dpkg_free(d);
    hn_deb_clear(&deb);
    return 0;
}
