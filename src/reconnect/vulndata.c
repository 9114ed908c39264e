/*
 * The offline vulnerability data of the reconnection checks: parse, load, import.
 *
 * Three files, each shipped dated under BUILTIN/reconnect/ and replaceable by
 * an import into DATA (the newer copy is never silently overridden by the
 * shipped one: an imported file, when present, is the one used):
 *
 *   kev.json           CISA's Known Exploited Vulnerabilities catalog, its own
 *                      JSON: {"title", "catalogVersion", "dateReleased",
 *                      "count", "vulnerabilities": [{"cveID", "vendorProject",
 *                      "product", "vulnerabilityName", "dateAdded",
 *                      "shortDescription", "requiredAction", "dueDate",
 *                      "knownRansomwareCampaignUse": "Known"|"Unknown",
 *                      "notes", "cwes": []}]}. Checked: an object; catalogVersion
 *                      and dateReleased strings; vulnerabilities an array of
 *                      objects each with a cveID "CVE-YYYY-N..." (at most 32
 *                      bytes), strings where strings are due, ransomware use
 *                      Known or Unknown; count, when present, equal to the
 *                      number of entries; no cveID twice. The shipped file is an
 *                      excerpt (the entries the curated rules use); `kev import`
 *                      brings the full catalog.
 *   kev-rules.txt      cleanroom's curated rules (KEV has no versions): lines
 *                      "CVE PRODUCT BRANCH FIXED" (whitespace-separated; '#'
 *                      comments; one "date YYYY-MM-DD" line). BRANCH "*" and
 *                      FIXED "-": every version matches, reported uncertain.
 *   debsecan/SUITE     the Debian security tracker's per-release data in
 *                      debsecan's format (zlib-compressed as served, or plain):
 *                        "VERSION 1"
 *                        NAME,FLAGS,DESCRIPTION           one per vulnerability
 *                        (empty line)
 *                        PACKAGE,VNUM,FLAGS,UNSTABLE_FIXED,OTHER_FIXED...
 *                          FLAGS[0] 'B' binary package (else source),
 *                          [1] urgency ' 'LMH, [2] remote ' '?R, [3] 'F' fix available;
 *                          OTHER_FIXED space-separated versions
 *                        (empty line)
 *                        SOURCE,BINARY BINARY...           (not used here)
 *                      beside SUITE.date holding the day the data was fetched.
 *
 * All three are untrusted (a USB key): bounded sizes, counts and field
 * lengths; a malformed file is refused whole (CR_ECORRUPT), never half used.
 */
#include "reconnect/reconnect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------ KEV */

void rc_kev_clear(rc_kev_set *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].cve);
        free(k->v[i].vendor);
        free(k->v[i].product);
        free(k->v[i].name);
        free(k->v[i].added);
    }
    free(k->v);
    free(k->version);
    free(k->released);
    memset(k, 0, sizeof(*k));
}

static int cve_ok(const char *s)
{
    size_t n = strlen(s), d = 0;
    if (n > 32 || strncmp(s, "CVE-", 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9')
            d++;
        else if (s[i] != '-' || i != 8)
            return 0;
    }
    return n >= 13 && s[8] == '-' && d >= 8;
}

/* A string member (clean UTF-8, bounded); `need`: missing is an error. */
static int kev_str(char **out, json_t *o, const char *key, int need)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return need ? -1 : 0;
    if (!json_is_string(v) || json_string_length(v) > RC_MAX_FIELD)
        return -1;
    *out = hn_utf8_clean(json_string_value(v), json_string_length(v));
    return *out ? 0 : CR_ERROR;
}

static int cmp_kev(const void *a, const void *b)
{
    return strcmp(((const rc_kev *)a)->cve, ((const rc_kev *)b)->cve);
}

int rc_kev_parse(rc_kev_set *out, const void *data, size_t len)
{
    json_error_t je;
    json_t *root = NULL, *arr, *cnt;
    int err = CR_ECORRUPT;
    memset(out, 0, sizeof(*out));
    if (len > RC_MAX_KEV_FILE) {
        cr_error_set("the KEV catalog is too large (%zu bytes, at most %u)", len, RC_MAX_KEV_FILE);
        return CR_ECORRUPT;
    }
    if (!(root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je))) {
        cr_error_set("not a KEV catalog: invalid JSON at line %d (%s)", je.line, je.text);
        return CR_ECORRUPT;
    }
    arr = json_object_get(root, "vulnerabilities");
    if (!json_is_object(root) || !json_is_array(arr) || json_array_size(arr) > RC_MAX_ENTRIES) {
        cr_error_set("not a KEV catalog: no \"vulnerabilities\" list");
        goto done;
    }
    if ((err = kev_str(&out->version, root, "catalogVersion", 1)) < 0 ||
        (err = kev_str(&out->released, root, "dateReleased", 1)) < 0) {
        if (err == -1)
            cr_error_set("not a KEV catalog: no catalogVersion or dateReleased");
        err = err == -1 ? CR_ECORRUPT : err;
        goto done;
    }
    cnt = json_object_get(root, "count");
    if (cnt && (!json_is_integer(cnt) || json_integer_value(cnt) < 0 ||
                (size_t)json_integer_value(cnt) != json_array_size(arr))) {
        cr_error_set("the KEV catalog is incomplete: \"count\" says %lld entries, it holds %zu",
                     cnt && json_is_integer(cnt) ? (long long)json_integer_value(cnt) : -1LL,
                     json_array_size(arr));
        err = CR_ECORRUPT;
        goto done;
    }
    if (json_array_size(arr) && !(out->v = cr_calloc(json_array_size(arr), sizeof(rc_kev)))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *e = json_array_get(arr, i);
        rc_kev *k = &out->v[out->n];
        char *rw = NULL;
        if (!json_is_object(e)) {
            cr_error_set("the KEV catalog's entry %zu is not an object", i + 1);
            err = CR_ECORRUPT;
            goto done;
        }
        out->n++;
        if ((err = kev_str(&k->cve, e, "cveID", 1)) < 0 ||
            (err = kev_str(&k->vendor, e, "vendorProject", 0)) < 0 ||
            (err = kev_str(&k->product, e, "product", 0)) < 0 ||
            (err = kev_str(&k->name, e, "vulnerabilityName", 0)) < 0 ||
            (err = kev_str(&k->added, e, "dateAdded", 0)) < 0 ||
            (err = kev_str(&rw, e, "knownRansomwareCampaignUse", 1)) < 0) {
            if (err == -1)
                cr_error_set("the KEV catalog's entry %zu lacks a cveID or "
                             "knownRansomwareCampaignUse, or has a field of the wrong type",
                             i + 1);
            err = err == -1 ? CR_ECORRUPT : err;
            goto done;
        }
        if (!cve_ok(k->cve) || (strcmp(rw, "Known") != 0 && strcmp(rw, "Unknown") != 0)) {
            cr_error_set("the KEV catalog's entry %zu is malformed (cveID \"%s\", "
                         "knownRansomwareCampaignUse \"%s\")",
                         i + 1, k->cve, rw);
            free(rw);
            err = CR_ECORRUPT;
            goto done;
        }
        k->ransomware = strcmp(rw, "Known") == 0;
        free(rw);
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_kev);
    for (size_t i = 1; i < out->n; i++)
        if (strcmp(out->v[i - 1].cve, out->v[i].cve) == 0) {
            cr_error_set("the KEV catalog lists %s twice", out->v[i].cve);
            err = CR_ECORRUPT;
            goto done;
        }
    err = 0;
done:
    json_decref(root);
    if (err < 0)
        rc_kev_clear(out);
    return err;
}

const rc_kev *rc_kev_find(const rc_kev_set *k, const char *cve)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(k->v[mid].cve, cve);
        if (c == 0)
            return &k->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---------------------------------------------------------------- lines */

/* The next line of [*p, end) without its '\n' (and '\r'); 0 at the end. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return 0;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    *line = *p;
    *len = (size_t)(e - *p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl ? nl + 1 : end;
    return 1;
}

/* A plain word: printable ASCII without spaces or commas, 1..max bytes. */
static int plain(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == ',')
            return 0;
    return 1;
}

static int is_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- rules */

void rc_rules_clear(rc_rules *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].cve);
        free(r->v[i].product);
        free(r->v[i].branch);
        free(r->v[i].fixed);
    }
    free(r->v);
    free(r->date);
    memset(r, 0, sizeof(*r));
}

int rc_rules_parse(rc_rules *out, const void *data, size_t len)
{
    const char *p = data, *end = p + len, *line;
    size_t llen, cap = 0, lineno = 0;
    int err = 0;
    memset(out, 0, sizeof(*out));
    if (len > RC_MAX_RULES_FILE) {
        cr_error_set("the curated rules file is too large (%zu bytes)", len);
        return CR_ECORRUPT;
    }
    while (next_line(&p, end, &line, &llen)) {
        const char *w[5];
        size_t wl[5], nw = 0, i = 0;
        lineno++;
        while (i < llen && nw < 5) {
            while (i < llen && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i >= llen || line[i] == '#')
                break;
            w[nw] = line + i;
            while (i < llen && line[i] != ' ' && line[i] != '\t')
                i++;
            wl[nw] = (size_t)(line + i - w[nw]);
            nw++;
        }
        if (nw == 0)
            continue;
        for (size_t k = 0; k < nw; k++)
            if (!plain(w[k], wl[k], 128)) {
                cr_error_set("curated rules, line %zu: unexpected characters", lineno);
                err = CR_ECORRUPT;
                goto done;
            }
        if (nw == 2 && wl[0] == 4 && memcmp(w[0], "date", 4) == 0) {
            free(out->date);
            if (!(out->date = cr_strndup(w[1], wl[1]))) {
                err = CR_ERROR;
                goto done;
            }
            if (!is_date(out->date)) {
                cr_error_set("curated rules, line %zu: the date is not YYYY-MM-DD", lineno);
                err = CR_ECORRUPT;
                goto done;
            }
            continue;
        }
        if (nw != 4) {
            cr_error_set("curated rules, line %zu: expected \"CVE PRODUCT BRANCH FIXED\"", lineno);
            err = CR_ECORRUPT;
            goto done;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            rc_rule *nv = nc > 100000 ? NULL : cr_realloc(out->v, nc * sizeof(*nv));
            if (!nv) {
                cr_error_set("curated rules: too many rules");
                err = nc > 100000 ? CR_ECORRUPT : CR_ERROR;
                goto done;
            }
            out->v = nv;
            cap = nc;
        }
        rc_rule *r = &out->v[out->n];
        memset(r, 0, sizeof(*r));
        out->n++;
        r->cve = cr_strndup(w[0], wl[0]);
        r->product = cr_strndup(w[1], wl[1]);
        r->branch = cr_strndup(w[2], wl[2]);
        r->fixed = wl[3] == 1 && w[3][0] == '-' ? NULL : cr_strndup(w[3], wl[3]);
        if (!r->cve || !r->product || !r->branch || (!r->fixed && !(wl[3] == 1 && w[3][0] == '-'))) {
            err = CR_ERROR;
            goto done;
        }
        if (!cve_ok(r->cve)) {
            cr_error_set("curated rules, line %zu: \"%s\" is not a CVE id", lineno, r->cve);
            err = CR_ECORRUPT;
            goto done;
        }
    }
    if (!out->date) {
        cr_error_set("the curated rules file has no \"date YYYY-MM-DD\" line");
        err = CR_ECORRUPT;
    }
done:
    if (err < 0)
        rc_rules_clear(out);
    return err;
}

/* ------------------------------------------------------------ advisories */

void rc_adv_clear(rc_advisories *a)
{
    for (size_t i = 0; i < a->nnames; i++) {
        free(a->names[i]);
        free(a->descs[i]);
    }
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].package);
        free(a->v[i].unstable);
        for (size_t k = 0; k < a->v[i].nother; k++)
            free(a->v[i].other[k]);
        free(a->v[i].other);
    }
    free(a->names);
    free(a->descs);
    free(a->v);
    free(a->suite);
    free(a->date);
    memset(a, 0, sizeof(*a));
}

/* Inflate zlib data into out, at most RC_MAX_ADV_FILE bytes. */
static int inflate_all(cr_buf *out, const void *data, size_t len)
{
    z_stream z;
    uint8_t chunk[65536];
    int rc, err = 0;
    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK)
        return CR_ERROR;
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            cr_error_set("the advisories file is not valid zlib data (%s)",
                         z.msg ? z.msg : "damaged");
            err = CR_ECORRUPT;
            break;
        }
        size_t got = sizeof(chunk) - z.avail_out;
        if (out->len + got > RC_MAX_ADV_FILE) {
            cr_error_set("the advisories file is too large once decompressed");
            err = CR_ECORRUPT;
            break;
        }
        if (cr_buf_put(out, chunk, got) < 0) {
            err = CR_ERROR;
            break;
        }
        if (rc == Z_OK && z.avail_in == 0 && got == 0) {
            cr_error_set("the advisories file is cut short (zlib data ends early)");
            err = CR_ECORRUPT;
            break;
        }
    } while (rc != Z_STREAM_END);
    inflateEnd(&z);
    return err;
}

static int cmp_adv(const void *a, const void *b)
{
    const rc_adv *x = a, *y = b;
    int c = strcmp(x->package, y->package);
    return c ? c : (x->vuln > y->vuln) - (x->vuln < y->vuln);
}

/* A field of a comma-separated line: the next up to ',' (or the rest when last). */
static int field(const char **p, const char *end, const char **f, size_t *n, int last)
{
    const char *c = last ? NULL : memchr(*p, ',', (size_t)(end - *p));
    if (!last && !c)
        return 0;
    *f = *p;
    *n = (size_t)((c ? c : end) - *p);
    *p = c ? c + 1 : end;
    return 1;
}

static int adv_parse_text(rc_advisories *out, const char *p, const char *end)
{
    const char *line;
    size_t llen, capn = 0, capv = 0, lineno = 1;
    if (!next_line(&p, end, &line, &llen) || llen != 9 || memcmp(line, "VERSION 1", 9) != 0) {
        cr_error_set("not Debian security tracker data (debsecan's \"VERSION 1\" is missing)");
        return CR_ECORRUPT;
    }
    /* Vulnerabilities: NAME,FLAGS,DESCRIPTION */
    while (next_line(&p, end, &line, &llen)) {
        const char *q = line, *le = line + llen, *name, *flags, *desc;
        size_t nn, nf, nd;
        lineno++;
        if (llen == 0)
            break;
        if (!field(&q, le, &name, &nn, 0) || !field(&q, le, &flags, &nf, 0) ||
            !field(&q, le, &desc, &nd, 1) || !plain(name, nn, 64) || nd > RC_MAX_FIELD) {
            cr_error_set("advisories, line %zu: malformed vulnerability line", lineno);
            return CR_ECORRUPT;
        }
        if (out->nnames == capn) {
            size_t nc = capn ? capn * 2 : 1024;
            if (nc > RC_MAX_ENTRIES) {
                cr_error_set("advisories: implausibly many vulnerabilities");
                return CR_ECORRUPT;
            }
            char **a = cr_realloc(out->names, nc * sizeof(*a));
            if (a)
                out->names = a;
            char **b = a ? cr_realloc(out->descs, nc * sizeof(*b)) : NULL;
            if (!b)
                return CR_ERROR;
            out->descs = b;
            capn = nc;
        }
        out->names[out->nnames] = cr_strndup(name, nn);
        out->descs[out->nnames] = hn_utf8_clean(desc, nd);
        out->nnames++;
        if (!out->names[out->nnames - 1] || !out->descs[out->nnames - 1])
            return CR_ERROR;
    }
    /* Packages: PACKAGE,VNUM,FLAGS,UNSTABLE,OTHER... */
    while (next_line(&p, end, &line, &llen)) {
        const char *q = line, *le = line + llen, *pkg, *vnum, *flags, *uns, *oth;
        size_t np, nv, nf, nu, no;
        lineno++;
        if (llen == 0)
            break;
        if (!field(&q, le, &pkg, &np, 0) || !field(&q, le, &vnum, &nv, 0) ||
            !field(&q, le, &flags, &nf, 0) || !field(&q, le, &uns, &nu, 0) ||
            !field(&q, le, &oth, &no, 1) || !plain(pkg, np, 256) || nv == 0 || nv > 9 ||
            nf != 4 || nu > 256 || no > RC_MAX_FIELD || (nu && !plain(uns, nu, 256))) {
            cr_error_set("advisories, line %zu: malformed package line", lineno);
            return CR_ECORRUPT;
        }
        uint32_t vi = 0;
        for (size_t k = 0; k < nv; k++) {
            if (vnum[k] < '0' || vnum[k] > '9') {
                cr_error_set("advisories, line %zu: malformed vulnerability number", lineno);
                return CR_ECORRUPT;
            }
            vi = vi * 10 + (uint32_t)(vnum[k] - '0');
        }
        if (vi >= out->nnames) {
            cr_error_set("advisories, line %zu: names vulnerability %u of %zu", lineno, vi,
                         out->nnames);
            return CR_ECORRUPT;
        }
        if (out->n == capv) {
            size_t nc = capv ? capv * 2 : 4096;
            if (nc > RC_MAX_ENTRIES) {
                cr_error_set("advisories: implausibly many package lines");
                return CR_ECORRUPT;
            }
            rc_adv *a = cr_realloc(out->v, nc * sizeof(*a));
            if (!a)
                return CR_ERROR;
            out->v = a;
            capv = nc;
        }
        rc_adv *a = &out->v[out->n];
        memset(a, 0, sizeof(*a));
        out->n++;
        a->vuln = vi;
        a->binary = flags[0] == 'B';
        a->fix = flags[3] == 'F';
        if (!(a->package = cr_strndup(pkg, np)) || (nu && !(a->unstable = cr_strndup(uns, nu))))
            return CR_ERROR;
        for (size_t k = 0; k < no;) {
            while (k < no && oth[k] == ' ')
                k++;
            size_t s = k;
            while (k < no && oth[k] != ' ')
                k++;
            if (k == s)
                break;
            if (!plain(oth + s, k - s, 256) || a->nother >= 64) {
                cr_error_set("advisories, line %zu: malformed fixed versions", lineno);
                return CR_ECORRUPT;
            }
            char **o = cr_realloc(a->other, (a->nother + 1) * sizeof(*o));
            if (!o)
                return CR_ERROR;
            a->other = o;
            if (!(a->other[a->nother] = cr_strndup(oth + s, k - s)))
                return CR_ERROR;
            a->nother++;
        }
    }
    /* The source-to-binary section is not needed: dpkg status names each binary's source. */
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_adv);
    return 0;
}

int rc_adv_parse(rc_advisories *out, const void *data, size_t len)
{
    cr_buf b = CR_BUF_INIT;
    int err;
    memset(out, 0, sizeof(*out));
    if (len > RC_MAX_ADV_FILE) {
        cr_error_set("the advisories file is too large (%zu bytes)", len);
        return CR_ECORRUPT;
    }
    /* zlib's header: CMF 0x78 and a check multiple of 31. */
    if (len >= 2 && ((const uint8_t *)data)[0] == 0x78 &&
        ((((const uint8_t *)data)[0] << 8) | ((const uint8_t *)data)[1]) % 31 == 0) {
        if ((err = inflate_all(&b, data, len)) < 0)
            goto done;
        data = b.ptr;
        len = b.len;
    }
    err = adv_parse_text(out, data ? data : "", (const char *)(data ? data : "") + len);
done:
    cr_buf_free(&b);
    if (err < 0)
        rc_adv_clear(out);
    return err;
}

/* ----------------------------------------------------------------- load */

struct cr_vulndata {
    rc_kev_set kev;
    int kev_imported;
    char *kev_file;
    rc_rules rules;
    rc_advisories *adv;
    size_t nadv;
    const char **suites, **suite_dates;
    int *suite_imported;
};

/* Read a whole local file, at most max bytes. */
static int read_file(cr_buf *out, const char *path, size_t max)
{
    int err = cr_fs_read_all(out, AT_FDCWD, path, max);
    if (err == CR_ENOTFOUND || (err < 0 && errno == ENOENT))
        return CR_ENOTFOUND;
    return err;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The KEV catalog in use: the imported one when there is one, else the shipped excerpt. */
static int load_kev(cr_vulndata *d, const cr_vulndata_options *o)
{
    cr_buf b = CR_BUF_INIT;
    char *imp = o->data_dir ? cr_sprintf("%s/kev.json", o->data_dir) : NULL;
    char *shp = o->builtin_dir ? cr_sprintf("%s/reconnect/kev.json", o->builtin_dir) : NULL;
    int err;
    if ((o->data_dir && !imp) || (o->builtin_dir && !shp)) {
        err = CR_ERROR;
        goto done;
    }
    d->kev_imported = imp && exists(imp);
    const char *use = d->kev_imported ? imp : shp;
    if (!use) {
        cr_error_set("no KEV catalog: neither the shipped rules folder nor a data folder given");
        err = CR_ENOTFOUND;
        goto done;
    }
    if ((err = read_file(&b, use, RC_MAX_KEV_FILE)) < 0 ||
        (err = rc_kev_parse(&d->kev, b.ptr ? (const char *)b.ptr : "", b.len)) < 0) {
        cr_error_set("%s: %s", use, cr_error_last());
        goto done;
    }
    if (!(d->kev_file = cr_strdup(use)))
        err = CR_ERROR;
done:
    cr_buf_free(&b);
    free(imp);
    free(shp);
    return err;
}

static int load_rules(cr_vulndata *d, const cr_vulndata_options *o)
{
    cr_buf b = CR_BUF_INIT;
    int err = 0;
    if (!o->builtin_dir)
        return 0;
    char *p = cr_sprintf("%s/reconnect/kev-rules.txt", o->builtin_dir);
    if (!p)
        return CR_ERROR;
    if ((err = read_file(&b, p, RC_MAX_RULES_FILE)) < 0 ||
        (err = rc_rules_parse(&d->rules, b.ptr ? (const char *)b.ptr : "", b.len)) < 0)
        cr_error_set("%s: %s", p, cr_error_last());
    cr_buf_free(&b);
    free(p);
    return err;
}

/* A suite name: lowercase letters, digits and '-' (bookworm, bookworm-security is not one). */
static int suite_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* One suite's advisories from dir/SUITE and dir/SUITE.date. */
static int load_suite(cr_vulndata *d, const char *dir, const char *suite, int imported)
{
    for (size_t i = 0; i < d->nadv; i++)
        if (!strcmp(d->adv[i].suite, suite))
            return 0; /* an imported copy came first */
    cr_buf b = CR_BUF_INIT, t = CR_BUF_INIT;
    char *p = cr_sprintf("%s/%s", dir, suite), *pd = cr_sprintf("%s/%s.date", dir, suite);
    int err;
    rc_advisories a;
    memset(&a, 0, sizeof(a));
    if (!p || !pd) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = read_file(&b, p, RC_MAX_ADV_FILE)) < 0 ||
        (err = rc_adv_parse(&a, b.ptr ? (const char *)b.ptr : "", b.len)) < 0) {
        cr_error_set("%s: %s", p, cr_error_last());
        goto done;
    }
    if ((err = read_file(&t, pd, 64)) < 0 || cr_buf_put(&t, "", 1) < 0) {
        cr_error_set("%s: the date of the advisories is missing (%s.date)", p, suite);
        err = err < 0 ? CR_ECORRUPT : CR_ERROR;
        goto done;
    }
    char *nl = strchr((char *)t.ptr, '\n');
    if (nl)
        *nl = '\0';
    if (!is_date((char *)t.ptr)) {
        cr_error_set("%s.date: not a date (YYYY-MM-DD)", p);
        err = CR_ECORRUPT;
        goto done;
    }
    rc_advisories *na = cr_realloc(d->adv, (d->nadv + 1) * sizeof(*na));
    if (!na || !(a.suite = cr_strdup(suite)) || !(a.date = cr_strdup((char *)t.ptr))) {
        if (na)
            d->adv = na;
        err = CR_ERROR;
        goto done;
    }
    d->adv = na;
    a.imported = imported;
    d->adv[d->nadv++] = a;
    memset(&a, 0, sizeof(a));
done:
    rc_adv_clear(&a);
    cr_buf_free(&b);
    cr_buf_free(&t);
    free(p);
    free(pd);
    return err;
}

static int load_advisories(cr_vulndata *d, const char *dir, int imported)
{
    DIR *dh;
    struct dirent *e;
    int err = 0;
    if (!dir || !(dh = opendir(dir)))
        return 0;
    while (!err && (e = readdir(dh))) {
        if (!suite_ok(e->d_name))
            continue;
        err = load_suite(d, dir, e->d_name, imported);
    }
    closedir(dh);
    return err;
}

void cr_vulndata_free(cr_vulndata *d)
{
    if (!d)
        return;
    rc_kev_clear(&d->kev);
    rc_rules_clear(&d->rules);
    for (size_t i = 0; i < d->nadv; i++)
        rc_adv_clear(&d->adv[i]);
    free(d->adv);
    free(d->suites);
    free(d->suite_dates);
    free(d->suite_imported);
    free(d->kev_file);
    free(d);
}

int cr_vulndata_load(cr_vulndata **out, const cr_vulndata_options *o)
{
    cr_vulndata *d;
    char *imp = NULL, *shp = NULL;
    int err;
    *out = NULL;
    if (!o) {
        cr_error_set("vulnerability data: no options");
        return CR_EINPUT;
    }
    if (!(d = cr_calloc(1, sizeof(*d))))
        return CR_ERROR;
    if ((err = load_kev(d, o)) < 0 || (err = load_rules(d, o)) < 0)
        goto done;
    if ((o->data_dir && !(imp = cr_sprintf("%s/advisories", o->data_dir))) ||
        (o->builtin_dir && !(shp = cr_sprintf("%s/reconnect/debsecan", o->builtin_dir)))) {
        err = CR_ERROR;
        goto done;
    }
    if ((err = load_advisories(d, imp, 1)) < 0 || (err = load_advisories(d, shp, 0)) < 0)
        goto done;
    if (d->nadv && (!(d->suites = cr_calloc(d->nadv, sizeof(char *))) ||
                    !(d->suite_dates = cr_calloc(d->nadv, sizeof(char *))) ||
                    !(d->suite_imported = cr_calloc(d->nadv, sizeof(int))))) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < d->nadv; i++) {
        d->suites[i] = d->adv[i].suite;
        d->suite_dates[i] = d->adv[i].date;
        d->suite_imported[i] = d->adv[i].imported;
    }
    *out = d;
    d = NULL;
done:
    free(imp);
    free(shp);
    cr_vulndata_free(d);
    return err;
}

void cr_vulndata_about(cr_vulndata_info *out, const cr_vulndata *d)
{
    memset(out, 0, sizeof(*out));
    out->kev_version = d->kev.version;
    out->kev_released = d->kev.released;
    out->kev_count = d->kev.n;
    out->kev_imported = d->kev_imported;
    out->kev_file = d->kev_file;
    out->nrules = d->rules.n;
    out->rules_date = d->rules.date;
    out->nsuites = d->nadv;
    out->suites = d->suites;
    out->suite_dates = d->suite_dates;
    out->suite_imported = d->suite_imported;
}

/* Accessors for match.c. */
const rc_kev_set *rc_vulndata_kev(const cr_vulndata *d)
{
    return &d->kev;
}

const rc_rules *rc_vulndata_rules(const cr_vulndata *d)
{
    return &d->rules;
}

const rc_advisories *rc_vulndata_suite(const cr_vulndata *d, const char *suite)
{
    for (size_t i = 0; suite && i < d->nadv; i++)
        if (!strcmp(d->adv[i].suite, suite))
            return &d->adv[i];
    return NULL;
}

/* --------------------------------------------------------------- import */

/* Write data as dir/name durably, creating dir. */
static int keep(const char *dir, const char *name, const void *data, size_t len)
{
    int err, fd;
    if ((err = cr_fs_mkdir_p(AT_FDCWD, dir, 0755)) < 0)
        return err;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        cr_error_set("cannot open the data folder %s: %s", dir, strerror(errno));
        return CR_ERROR;
    }
    err = cr_fs_write_atomic(fd, name, data, len, 0644, 0);
    close(fd);
    return err;
}

int cr_kev_import(size_t *count, const char *data_dir, const char *builtin_dir, const char *file,
                  int force)
{
    cr_buf b = CR_BUF_INIT;
    rc_kev_set k;
    cr_vulndata *cur = NULL;
    int err;
    memset(&k, 0, sizeof(k));
    if (count)
        *count = 0;
    if (!data_dir || !file) {
        cr_error_set("kev import: a data folder and a file are required");
        return CR_EINPUT;
    }
    if ((err = read_file(&b, file, RC_MAX_KEV_FILE)) < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("%s: no such file", file);
        goto done;
    }
    if ((err = rc_kev_parse(&k, b.ptr ? (const char *)b.ptr : "", b.len)) < 0) {
        cr_error_set("%s: %s", file, cr_error_last());
        goto done;
    }
    /* dateReleased is ISO 8601 ("2026-12-01T17:00:03.0000Z"): newer sorts later. */
    cr_vulndata_options o = CR_VULNDATA_OPTIONS_INIT;
    o.data_dir = data_dir;
    o.builtin_dir = builtin_dir;
    cr_error_clear();
    if (!force && load_kev(cur = cr_calloc(1, sizeof(*cur)), &o) == 0 && cur->kev.released &&
        strcmp(k.released, cur->kev.released) < 0) {
        cr_error_set("%s is older (released %s) than the KEV catalog in use (released %s): "
                     "nothing replaced",
                     file, k.released, cur->kev.released);
        err = CR_EREFUSED;
        goto done;
    }
    if ((err = keep(data_dir, "kev.json", b.ptr, b.len)) < 0)
        goto done;
    if (count)
        *count = k.n;
done:
    cr_vulndata_free(cur);
    rc_kev_clear(&k);
    cr_buf_free(&b);
    return err;
}

int cr_advisories_import(size_t *count, const char *data_dir, const char *file, const char *suite,
                         const char *date)
{
    cr_buf b = CR_BUF_INIT;
    rc_advisories a;
    char *dir = NULL, *dname = NULL, *dline = NULL;
    int err;
    memset(&a, 0, sizeof(a));
    if (count)
        *count = 0;
    if (!data_dir || !file || !suite || !suite_ok(suite)) {
        cr_error_set("advisories import: the Debian release must be a codename such as "
                     "bookworm (got \"%s\")",
                     suite ? suite : "");
        return CR_EINPUT;
    }
    if (!date || !is_date(date)) {
        cr_error_set("advisories import: the date must be YYYY-MM-DD (got \"%s\")",
                     date ? date : "");
        return CR_EINPUT;
    }
    if ((err = read_file(&b, file, RC_MAX_ADV_FILE)) < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("%s: no such file", file);
        goto done;
    }
    if ((err = rc_adv_parse(&a, b.ptr ? (const char *)b.ptr : "", b.len)) < 0) {
        cr_error_set("%s: %s", file, cr_error_last());
        goto done;
    }
    if (!(dir = cr_sprintf("%s/advisories", data_dir)) || !(dname = cr_sprintf("%s.date", suite)) ||
        !(dline = cr_sprintf("%s\n", date))) {
        err = CR_ERROR;
        goto done;
    }
    /* The data first, then its date: a crash between leaves the new data with the old date,
     * which errs towards calling it older than it is. */
    if ((err = keep(dir, suite, b.ptr, b.len)) < 0 ||
        (err = keep(dir, dname, dline, strlen(dline))) < 0)
        goto done;
    if (count)
        *count = a.n;
done:
    rc_adv_clear(&a);
    cr_buf_free(&b);
    free(dir);
    free(dname);
    free(dline);
    return err;
}
