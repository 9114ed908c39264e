/*
 * Fuzz the parent's side of the parser sandbox's protocol: what a hijacked
 * child could send. The first byte chooses the decoder:
 *   0  a frame header (cr_sbx_header_check) and text cleaning;
 *   1  the hive service's answer (hn_autoruns_decode): entries with a known
 *      kind range and valid UTF-8 text without controls, or CR_EHOSTILE;
 *   2  the YARA service's answer (hn_scan_reply_decode) against a rule set of
 *      three rules: every index returned is < 3, or CR_EHOSTILE;
 *   3  the answer to a batch of contents (hn_scan_replies_check, then
 *      hn_scan_reply_next as the scanner reads it), for the count given by
 *      the next byte: a batch accepted whole reads back in exactly that many
 *      answers with indexes < 3;
 *   4  the shortcut reader's answer (hn_lnk_decode): valid text or CR_EHOSTILE;
 *   5  the PE-version reader's answer (hn_pe_version_decode): 0 or 1, or
 *      CR_EHOSTILE with nothing kept;
 *   6  the .deb reader's answer (hn_deb_decode): a package, a version and
 *      non-empty paths, or an error with nothing kept;
 *   7  the text parsers' answer (hn_persist_reply_check): accepted or
 *      CR_EHOSTILE, nothing leaked;
 *   8  the text parsers themselves, as the child runs them on a request
 *      (kind, minor, a file's bytes: hn_persist_text_serve): whatever the
 *      bytes, what the child answers is accepted by the parent's decoder.
 * Nothing may crash, leak or accept an out-of-range value.
 */
#include "fuzz_text.h"
#include "hunt/hunt.h"
#include "util/sandbox.h"

#include <stdlib.h>
#include <string.h>

static YR_RULES *three_rules(void)
{
    static YR_RULES *rules;
    YR_COMPILER *c = NULL;
    if (rules)
        return rules;
    if (hn_yara_init() < 0 || yr_compiler_create(&c) != ERROR_SUCCESS)
        abort();
    if (yr_compiler_add_string(c, "rule a { condition: true } rule b { condition: false } "
                                  "rule c { condition: filesize > 1 }", NULL) != 0 ||
        yr_compiler_get_rules(c, &rules) != ERROR_SUCCESS)
        abort();
    yr_compiler_destroy(c);
    return rules;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 9) {
    case 0: {
        uint8_t kind;
        uint16_t type;
        uint32_t len;
        char text[64];
        if (n >= CR_SBX_HEADER &&
            cr_sbx_header_check(p, ~0u, 1u << 20, &kind, &type, &len) == 0 &&
            (len > (1u << 20) || kind >= 32))
            abort();
        cr_sbx_clean_text(text, sizeof(text), p, n);
        fuzz_check_text(text);
        break;
    }
    case 1: {
        hn_autorun *a = NULL;
        size_t count = 0;
        int err = hn_autoruns_decode(&a, &count, p, n);
        if (err == 0)
            for (size_t i = 0; i < count; i++) {
                if (a[i].kind < 1 || a[i].kind > 63)
                    abort();
                fuzz_check_text(a[i].key);
                fuzz_check_text(a[i].name);
                fuzz_check_text(a[i].data);
            }
        else if (a || count)
            abort();
        hn_autoruns_free(a, count);
        break;
    }
    case 2: {
        uint32_t idx[8];
        size_t nidx = 0;
        int rc = 0;
        if (hn_scan_reply_decode(three_rules(), p, n, &rc, idx, 8, &nidx) == 0)
            for (size_t i = 0; i < nidx; i++)
                if (idx[i] >= 3)
                    abort();
        break;
    }
    case 3: {
        uint32_t idx[8];
        size_t nidx = 0, count = n ? p[0] : 0;
        int rc = 0;
        if (n == 0)
            break;
        if (hn_scan_replies_check(three_rules(), p + 1, n - 1, count, idx, 8) != 0)
            break;
        cr_rd rd;
        cr_rd_init(&rd, p + 1, n - 1);
        for (size_t k = 0; k < count; k++) {
            if (hn_scan_reply_next(three_rules(), &rd, &rc, idx, 8, &nidx) != 0)
                abort();
            for (size_t i = 0; i < nidx; i++)
                if (idx[i] >= 3)
                    abort();
        }
        if (cr_rd_left(&rd) != 0)
            abort();
        break;
    }
    case 4: {
        hn_lnk l;
        int err = hn_lnk_decode(&l, p, n);
        if (err == 0) {
            const char *t[3] = {l.target, l.args, l.workdir};
            for (int k = 0; k < 3; k++)
                if (t[k]) /* absent fields stay NULL */
                    fuzz_check_text(t[k]);
        } else if (l.target || l.args || l.workdir) {
            abort();
        }
        hn_lnk_clear(&l);
        break;
    }
    case 5: {
        hn_pe_ver v;
        int r = hn_pe_version_decode(&v, p, n);
        if (r != 0 && r != 1 && r != CR_EHOSTILE)
            abort();
        if (r <= 0 && (v.file || v.product))
            abort();
        break;
    }
    case 6: {
        hn_deb deb;
        if (hn_deb_decode(&deb, p, n) == 0) {
            if (!deb.package || !deb.version || (deb.n && (!deb.paths || !deb.md5)))
                abort();
            for (size_t i = 0; i < deb.n; i++)
                if (!deb.paths[i] || !deb.paths[i][0])
                    abort();
        } else if (deb.package || deb.version || deb.paths || deb.n) {
            abort();
        }
        hn_deb_clear(&deb);
        break;
    }
    case 7: {
        int err = hn_persist_reply_check(p, n);
        if (err != 0 && err != CR_EHOSTILE && err != CR_ERROR)
            abort();
        break;
    }
    case 8: {
        cr_buf reply = CR_BUF_INIT;
        if (hn_persist_text_serve(p, n, &reply) == 0 &&
            hn_persist_reply_check(reply.ptr, reply.len) != 0)
            abort();
        cr_buf_free(&reply);
        break;
    }
    }
    return 0;
}
