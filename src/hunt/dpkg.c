/*
 * The dpkg database of a snapshot: which package owns a path, and the md5 the
 * package says the file has.
 *
 * The persistence judges (persist.c) must tell a routine change (a package
 * was installed or upgraded with dpkg: its files match their md5sums) from a
 * file nobody installed. The snapshot holds the answer: dpkg keeps, under
 * /var/lib/dpkg of the system,
 *
 *   status               RFC 822 stanzas, one per package: "Package:",
 *                        "Status: install ok installed", and "Conffiles:"
 *                        continuation lines " /etc/x <md5> [obsolete]" giving
 *                        the md5 of each configuration file as shipped;
 *   info/P[:arch].md5sums "<md5>  <path without the leading slash>" for the
 *                        other files of package P;
 *   info/P[:arch].list   every path P installed (folders, symlinks, files);
 *   diversions           triples of lines: path, where it was diverted to, the
 *                        package that diverted it (":" = the administrator);
 *   statoverride         "user group mode path": modes set by dpkg-statoverride.
 *
 * hn_dpkg_load reads them once per snapshot from the vault and builds one hash
 * table path -> (package, md5 or none). A path may be listed by several
 * packages (folders, Multi-Arch: same files), so entries are chained and a
 * lookup checks all of them: a file matches when some package's md5 is its
 * md5. Entries are added in order of trust: conffiles from status, then
 * md5sums, then .list paths only when no entry has that path yet.
 *
 * usrmerge: on Debian 12 /bin, /sbin and /lib are symlinks into /usr, yet
 * packages still list "/lib/systemd/system/x" while the file may be reached
 * (and reported by the diff) as "/usr/lib/systemd/system/x", or the reverse.
 * When the snapshot's /bin or /lib is a symlink, a lookup tries both forms.
 *
 * Everything here is untrusted bytes from a backed-up system: files are read
 * with a maximum size, lines with a maximum length, the number of entries is
 * capped, and a malformed line is skipped, never fatal. A file that cannot be
 * read is warned about and the database is used without it (its paths then
 * look unowned, which errs towards reporting).
 */
#include "hunt/hunt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP_MAX_STATUS (64u * 1024 * 1024)
#define DP_MAX_INFO (16u * 1024 * 1024)
#define DP_MAX_SMALL (16u * 1024 * 1024) /* diversions, statoverride */
#define DP_MAX_ENTRIES (16u * 1024 * 1024)
#define DP_MAX_ARENA (1024u * 1024 * 1024)
#define DP_MAX_PATH 4096
#define DP_MAX_PKG_NAME 256
#define DP_MAX_INFO_FILES 200000u
#define DP_MAX_DIVERSIONS 100000u
#define DP_MAX_OVERRIDES 100000u
#define DP_MAX_VERSION 256
#define DP_MAX_PACKAGES 200000u
#define DP_MAX_TAMPERS 100000u

typedef struct dp_ent {
    uint32_t next; /* index + 1 of the next entry of the bucket; 0 ends the chain */
    uint32_t hash;
    uint32_t off, len; /* the path, in the arena */
    uint32_t pkg;      /* index into pkgs */
    uint8_t has_md5;
    uint8_t conf; /* from the Conffiles of status (a configuration file) */
    uint8_t gone; /* of a package the anchor had and this database no longer lists */
    uint8_t md5[16];
} dp_ent;

typedef struct dp_ver {
    char *name, *version, *arch;
    int from_deb; /* its sums were anchored on its .deb */
    int same;     /* at the same version in the anchor (hn_dpkg_anchor) */
    char *was;    /* another version in the anchor, with the very same changelog */
    int present;  /* its files are on disk (not "config-files": only its conffiles remain) */
    char *source; /* "Source:" of status ("openssh" or "openssh (1:9.2p1-2)"), or NULL */
} dp_ver;

typedef struct dp_div {
    char *from, *to;
    char *pkg; /* NULL: a local diversion (every package's file is diverted) */
} dp_div;

typedef struct dp_override {
    char *path;
    uint32_t mode;
} dp_override;

struct hn_dpkg {
    char **pkgs;
    size_t npkgs, cappkgs;
    char *arena;
    size_t arena_len, arena_cap;
    dp_ent *ents;
    size_t nents, capents;
    uint32_t *buckets; /* index + 1 of the first entry; nbuckets is a power of two */
    size_t nbuckets;
    dp_div *divs; /* sorted by from */
    size_t ndivs;
    dp_override *ovr; /* sorted by path */
    size_t novr;
    int usrmerge;
    int full; /* the entry cap was reached: later entries are dropped */
    dp_ver *vers; /* installed packages, sorted by name (hn_dpkg_parse_status) */
    size_t nvers, capvers;
    hn_dpkg_tamper *tampers; /* what hn_dpkg_anchor corrected */
    size_t ntampers, captampers;
};

/* ------------------------------------------------------------ table */

static uint32_t dp_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 16777619u;
    }
    return h;
}

int hn_dpkg_new(hn_dpkg **out, int usrmerge)
{
    hn_dpkg *d = cr_calloc(1, sizeof(*d));
    *out = NULL;
    if (!d)
        return CR_ERROR;
    d->nbuckets = 1024;
    if (!(d->buckets = cr_calloc(d->nbuckets, sizeof(*d->buckets)))) {
        free(d);
        return CR_ERROR;
    }
    d->usrmerge = usrmerge;
    *out = d;
    return 0;
}

void hn_dpkg_free(hn_dpkg *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->npkgs; i++)
        free(d->pkgs[i]);
    free(d->pkgs);
    free(d->arena);
    free(d->ents);
    free(d->buckets);
    for (size_t i = 0; i < d->ndivs; i++) {
        free(d->divs[i].from);
        free(d->divs[i].to);
        free(d->divs[i].pkg);
    }
    free(d->divs);
    for (size_t i = 0; i < d->novr; i++)
        free(d->ovr[i].path);
    free(d->ovr);
    for (size_t i = 0; i < d->nvers; i++) {
        free(d->vers[i].name);
        free(d->vers[i].version);
        free(d->vers[i].arch);
        free(d->vers[i].was);
        free(d->vers[i].source);
    }
    free(d->vers);
    for (size_t i = 0; i < d->ntampers; i++)
        free(d->tampers[i].path);
    free(d->tampers);
    free(d);
}

size_t hn_dpkg_count(const hn_dpkg *d)
{
    return d ? d->nents : 0;
}

static const char *ent_path(const hn_dpkg *d, const dp_ent *e)
{
    return d->arena + e->off;
}

/* First entry of `path` (index + 1), 0 if none. */
static uint32_t dp_first(const hn_dpkg *d, const char *path, size_t len)
{
    uint32_t h = dp_hash(path, len);
    for (uint32_t i = d->buckets[h & (d->nbuckets - 1)]; i; i = d->ents[i - 1].next) {
        const dp_ent *e = &d->ents[i - 1];
        if (e->hash == h && e->len == len && memcmp(ent_path(d, e), path, len) == 0)
            return i;
    }
    return 0;
}

static int dp_rehash(hn_dpkg *d)
{
    size_t nb = d->nbuckets * 2;
    uint32_t *b = cr_calloc(nb, sizeof(*b));
    if (!b)
        return CR_ERROR;
    for (size_t i = 0; i < d->nents; i++) {
        dp_ent *e = &d->ents[i];
        size_t k = e->hash & (nb - 1);
        e->next = b[k];
        b[k] = (uint32_t)(i + 1);
    }
    free(d->buckets);
    d->buckets = b;
    d->nbuckets = nb;
    return 0;
}

static int pkg_add(hn_dpkg *d, const char *name, size_t len, uint32_t *idx)
{
    /* "pkg:arch" -> "pkg": findings name the package as people know it. */
    const char *colon = memchr(name, ':', len);
    if (colon)
        len = (size_t)(colon - name);
    /* Package names are [a-z0-9+.-] (Debian policy 5.6.1); anything else is not one
     * and must not reach a finding's text. */
    int ok = len > 0 && len <= DP_MAX_PKG_NAME;
    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '+' || c == '-' || c == '.' || c == '_';
    }
    if (!ok) {
        cr_error_set("dpkg: not a package name");
        return CR_EINPUT;
    }
    if (d->npkgs && strlen(d->pkgs[d->npkgs - 1]) == len &&
        memcmp(d->pkgs[d->npkgs - 1], name, len) == 0) {
        *idx = (uint32_t)(d->npkgs - 1);
        return 0;
    }
    if (d->npkgs == d->cappkgs) {
        size_t nc = d->cappkgs ? d->cappkgs * 2 : 128;
        char **np = cr_realloc(d->pkgs, nc * sizeof(*np));
        if (!np)
            return CR_ERROR;
        d->pkgs = np;
        d->cappkgs = nc;
    }
    if (!(d->pkgs[d->npkgs] = cr_strndup(name, len)))
        return CR_ERROR;
    *idx = (uint32_t)d->npkgs++;
    return 0;
}

static const dp_div *div_find(const hn_dpkg *d, const char *path, size_t len)
{
    size_t lo = 0, hi = d->ndivs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *f = d->divs[mid].from;
        int c = strncmp(f, path, len);
        if (c == 0)
            c = f[len] ? 1 : 0;
        if (c == 0)
            return &d->divs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * Add one path of package `pkg`. only_new: skip when any entry already has the
 * path (.list paths after the md5 sources). The path must start with "/".
 */
static int dp_add(hn_dpkg *d, const char *path, size_t len, uint32_t pkg, const uint8_t *md5,
                  int only_new, int conf)
{
    if (len == 0 || len > DP_MAX_PATH || path[0] != '/' || memchr(path, '\0', len))
        return 0; /* not a path: skipped like any malformed line */
    if (d->ndivs) {
        const dp_div *dv = div_find(d, path, len);
        /* Another package's file at a diverted path lives where it was diverted to. */
        if (dv && (!dv->pkg || strcmp(dv->pkg, d->pkgs[pkg]) != 0)) {
            path = dv->to;
            len = strlen(dv->to);
        }
    }
    if (only_new && dp_first(d, path, len))
        return 0;
    if (d->nents >= DP_MAX_ENTRIES || d->arena_len + len + 1 > DP_MAX_ARENA) {
        d->full = 1;
        return 0;
    }
    if (d->arena_len + len + 1 > d->arena_cap) {
        size_t nc = d->arena_cap ? d->arena_cap * 2 : 64 * 1024;
        while (nc < d->arena_len + len + 1)
            nc *= 2;
        char *na = cr_realloc(d->arena, nc);
        if (!na)
            return CR_ERROR;
        d->arena = na;
        d->arena_cap = nc;
    }
    if (d->nents == d->capents) {
        size_t nc = d->capents ? d->capents * 2 : 1024;
        dp_ent *ne = cr_realloc(d->ents, nc * sizeof(*ne));
        if (!ne)
            return CR_ERROR;
        d->ents = ne;
        d->capents = nc;
    }
    dp_ent *e = &d->ents[d->nents];
    memset(e, 0, sizeof(*e));
    e->off = (uint32_t)d->arena_len;
    e->len = (uint32_t)len;
    e->hash = dp_hash(path, len);
    e->pkg = pkg;
    e->conf = conf ? 1 : 0;
    if (md5) {
        e->has_md5 = 1;
        memcpy(e->md5, md5, 16);
    }
    memcpy(d->arena + d->arena_len, path, len);
    d->arena[d->arena_len + len] = '\0';
    d->arena_len += len + 1;
    size_t k = e->hash & (d->nbuckets - 1);
    e->next = d->buckets[k];
    d->buckets[k] = (uint32_t)(++d->nents);
    if (d->nents > d->nbuckets / 4 * 3)
        return dp_rehash(d);
    return 0;
}

/* ------------------------------------------------------------ lines */

/* Next line of [*p, end): sets line and len (without "\n" and a trailing "\r"). */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return 0;
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    *line = s;
    *len = (size_t)(e - s);
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* 32 hex digits at s -> md5. @return 1 if they are. */
static int parse_md5(uint8_t md5[16], const char *s, size_t len)
{
    return len == 32 && cr_hex_decode_n(md5, s, 32) == 0;
}

/* A path from a dpkg file as "/..." in buf (DP_MAX_PATH + 2). @return its length, 0 if unusable. */
static size_t abs_path(char *buf, const char *s, size_t len)
{
    size_t n = 0;
    if (len == 0 || len > DP_MAX_PATH)
        return 0;
    if (s[0] != '/')
        buf[n++] = '/';
    memcpy(buf + n, s, len);
    n += len;
    while (n > 1 && buf[n - 1] == '/') /* "/etc/" -> "/etc" */
        n--;
    buf[n] = '\0';
    return n;
}

/* ------------------------------------------------------------ parsers */

typedef struct dp_conf {
    const char *path;
    size_t len;
    int has_md5;
    uint8_t md5[16];
} dp_conf;

/* One " /etc/x <md5> [obsolete|remove-on-upgrade]" line of a Conffiles field. */
static int parse_conffile(dp_conf *c, const char *s, size_t len)
{
    while (len && is_space(*s))
        s++, len--;
    while (len && is_space(s[len - 1]))
        len--;
    /* From the right: optional flag, then the md5; the path is the rest (it may hold spaces). */
    for (int round = 0; round < 2; round++) {
        size_t i = len;
        while (i && !is_space(s[i - 1]))
            i--;
        if (i == 0)
            return 0;
        const char *tok = s + i;
        size_t tlen = len - i;
        size_t j = i;
        while (j && is_space(s[j - 1]))
            j--;
        if (round == 0 && ((tlen == 8 && memcmp(tok, "obsolete", 8) == 0) ||
                           (tlen == 17 && memcmp(tok, "remove-on-upgrade", 17) == 0))) {
            len = j;
            continue;
        }
        c->has_md5 = parse_md5(c->md5, tok, tlen); /* "newconffile" has none */
        c->path = s;
        c->len = j;
        return j > 0 && s[0] == '/';
    }
    return 0;
}

static int status_ok(const char *s, size_t len)
{
    /* "Status: want flag state": a package "not-installed" owns nothing. */
    static const char ni[] = "not-installed";
    size_t n = sizeof(ni) - 1;
    while (len && is_space(s[len - 1]))
        len--;
    return len > 0 && !(len >= n && memcmp(s + len - n, ni, n) == 0);
}

static int cmp_ver(const void *a, const void *b)
{
    return strcmp(((const dp_ver *)a)->name, ((const dp_ver *)b)->name);
}

/* A version or architecture as dpkg writes them: printable ASCII without blanks. */
static int plain_word(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* Record the version of an installed package (the name without ":arch"). Bad values are skipped. */
static int ver_add(hn_dpkg *d, const char *name, size_t nlen, const char *ver, size_t vlen,
                   const char *arch, size_t alen, const char *src, size_t slen, int present)
{
    const char *colon = memchr(name, ':', nlen);
    if (colon)
        nlen = (size_t)(colon - name);
    if (!plain_word(name, nlen, DP_MAX_PKG_NAME) || !plain_word(ver, vlen, DP_MAX_VERSION) ||
        (arch && !plain_word(arch, alen, DP_MAX_PKG_NAME)) || d->nvers >= DP_MAX_PACKAGES)
        return 0;
    if (d->nvers == d->capvers) {
        size_t nc = d->capvers ? d->capvers * 2 : 256;
        dp_ver *nv = cr_realloc(d->vers, nc * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        d->vers = nv;
        d->capvers = nc;
    }
    dp_ver *v = &d->vers[d->nvers];
    v->from_deb = 0;
    v->same = 0;
    v->was = NULL;
    v->present = present;
    v->name = cr_strndup(name, nlen);
    v->version = cr_strndup(ver, vlen);
    v->arch = arch ? cr_strndup(arch, alen) : NULL;
    /* A source field that is not one plain line of bounded length is dropped. */
    int want_src = src && slen <= DP_MAX_PKG_NAME + DP_MAX_VERSION + 3 &&
                   !memchr(src, '\0', slen) && !memchr(src, '\n', slen);
    v->source = want_src ? cr_strndup(src, slen) : NULL;
    if (!v->name || !v->version || (arch && !v->arch) || (want_src && !v->source)) {
        free(v->name);
        free(v->version);
        free(v->arch);
        free(v->source);
        return CR_ERROR;
    }
    d->nvers++;
    return 0;
}

int hn_dpkg_parse_status(hn_dpkg *d, const void *data, size_t len)
{
    const char *p = data, *end = p + len, *line = NULL;
    size_t llen = 0;
    const char *pkg = NULL, *ver = NULL, *arch = NULL, *src = NULL;
    size_t pkglen = 0, verlen = 0, archlen = 0, srclen = 0;
    int ok = 0, in_conf = 0, err = 0, more = 1, present = 0;
    dp_conf *conf = NULL;
    size_t nconf = 0, capconf = 0;
    char buf[DP_MAX_PATH + 2];

    while (more) {
        more = next_line(&p, end, &line, &llen);
        int blank = 1;
        for (size_t i = 0; more && i < llen; i++)
            if (!is_space(line[i]))
                blank = 0;
        if (blank) {
            /* End of a stanza: its version, and its conffiles if it is installed. */
            if (pkg && ok && ver && (err = ver_add(d, pkg, pkglen, ver, verlen, arch, archlen, src,
                                                   srclen, present)) < 0)
                goto done;
            if (pkg && ok && nconf) {
                uint32_t idx;
                int rc = pkg_add(d, pkg, pkglen, &idx);
                if (rc == CR_ERROR) {
                    err = rc;
                    goto done;
                }
                for (size_t i = 0; rc == 0 && i < nconf; i++) {
                    size_t n = abs_path(buf, conf[i].path, conf[i].len);
                    if (n &&
                        (err = dp_add(d, buf, n, idx, conf[i].has_md5 ? conf[i].md5 : NULL, 0,
                                      1)) < 0)
                        goto done;
                }
            }
            pkg = ver = arch = src = NULL;
            ok = in_conf = present = 0;
            nconf = 0;
            continue;
        }
        if (is_space(line[0])) {
            if (!in_conf)
                continue;
            if (nconf == capconf) {
                size_t nc = capconf ? capconf * 2 : 32;
                if (nc > 1000000)
                    continue; /* absurd stanza: the rest of its conffiles are dropped */
                dp_conf *ncf = cr_realloc(conf, nc * sizeof(*ncf));
                if (!ncf) {
                    err = CR_ERROR;
                    goto done;
                }
                conf = ncf;
                capconf = nc;
            }
            if (parse_conffile(&conf[nconf], line, llen))
                nconf++;
            continue;
        }
        const char *colon = memchr(line, ':', llen);
        in_conf = 0;
        if (!colon)
            continue;
        size_t flen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = llen - flen - 1;
        while (vlen && is_space(*v))
            v++, vlen--;
        while (vlen && is_space(v[vlen - 1]))
            vlen--;
        if (flen == 7 && memcmp(line, "Package", 7) == 0) {
            pkg = v;
            pkglen = vlen;
        } else if (flen == 6 && memcmp(line, "Status", 6) == 0) {
            ok = status_ok(v, vlen);
            present = ok && !(vlen >= 12 && memcmp(v + vlen - 12, "config-files", 12) == 0);
        } else if (flen == 7 && memcmp(line, "Version", 7) == 0) {
            ver = v;
            verlen = vlen;
        } else if (flen == 12 && memcmp(line, "Architecture", 12) == 0) {
            arch = v;
            archlen = vlen;
        } else if (flen == 9 && memcmp(line, "Conffiles", 9) == 0) {
            in_conf = 1;
        } else if (flen == 6 && memcmp(line, "Source", 6) == 0) {
            src = v;
            srclen = vlen;
        }
    }
done:
    free(conf);
    if (err == 0 && d->nvers > 1)
        qsort(d->vers, d->nvers, sizeof(*d->vers), cmp_ver);
    return err;
}

/* "<pkg>[:arch].md5sums" or ".list": the package part, or 0 if `name` is neither. */
static size_t info_pkg(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n <= s || strcmp(name + n - s, suffix) != 0)
        return 0;
    return n - s;
}

int hn_dpkg_parse_info(hn_dpkg *d, const char *name, const void *data, size_t len)
{
    const char *p = data, *end = p + len, *line;
    size_t llen, plen;
    int is_list = 0, err = 0;
    uint32_t idx;
    char buf[DP_MAX_PATH + 2];

    if ((plen = info_pkg(name, ".md5sums")) == 0) {
        if ((plen = info_pkg(name, ".list")) == 0)
            return 0;
        is_list = 1;
    }
    if ((err = pkg_add(d, name, plen, &idx)) < 0)
        return err == CR_EINPUT ? 0 : err;
    while (next_line(&p, end, &line, &llen)) {
        if (is_list) {
            if (llen == 2 && memcmp(line, "/.", 2) == 0)
                continue;
            size_t n = abs_path(buf, line, llen);
            if (n && (err = dp_add(d, buf, n, idx, NULL, 1, 0)) < 0)
                break;
            continue;
        }
        /* "<md5>  <path>" (two spaces; one or more accepted). */
        uint8_t md5[16];
        if (llen < 34 || !parse_md5(md5, line, 32) || !is_space(line[32]))
            continue;
        size_t i = 32;
        while (i < llen && is_space(line[i]))
            i++;
        size_t n = abs_path(buf, line + i, llen - i);
        if (n && (err = dp_add(d, buf, n, idx, md5, 0, 0)) < 0)
            break;
    }
    return err;
}

static int cmp_div(const void *a, const void *b)
{
    return strcmp(((const dp_div *)a)->from, ((const dp_div *)b)->from);
}

int hn_dpkg_parse_diversions(hn_dpkg *d, const void *data, size_t len)
{
    const char *p = data, *end = p + len, *l[3];
    size_t ll[3];
    int err = 0;
    size_t cap = 0;
    char buf[DP_MAX_PATH + 2];

    while (d->ndivs < DP_MAX_DIVERSIONS) {
        int i;
        for (i = 0; i < 3 && next_line(&p, end, &l[i], &ll[i]); i++)
            ;
        if (i < 3)
            break;
        if (ll[0] == 0 || ll[0] > DP_MAX_PATH || ll[1] == 0 || ll[1] > DP_MAX_PATH || ll[2] == 0 ||
            ll[2] > DP_MAX_PKG_NAME || l[0][0] != '/' || l[1][0] != '/' ||
            memchr(l[2], '\0', ll[2]))
            continue;
        if (d->ndivs == cap) {
            size_t nc = cap ? cap * 2 : 16;
            dp_div *nd = cr_realloc(d->divs, nc * sizeof(*nd));
            if (!nd) {
                err = CR_ERROR;
                break;
            }
            d->divs = nd;
            cap = nc;
        }
        int local = ll[2] == 1 && l[2][0] == ':';
        size_t n = abs_path(buf, l[0], ll[0]);
        char *from = cr_strndup(buf, n);
        n = abs_path(buf, l[1], ll[1]);
        char *to = cr_strndup(buf, n);
        char *pk = local ? NULL : cr_strndup(l[2], ll[2]);
        if (!from || !to || (!local && !pk)) {
            free(from);
            free(to);
            free(pk);
            err = CR_ERROR;
            break;
        }
        if (pk && strchr(pk, ':'))
            *strchr(pk, ':') = '\0';
        d->divs[d->ndivs].from = from;
        d->divs[d->ndivs].to = to;
        d->divs[d->ndivs].pkg = pk;
        d->ndivs++;
    }
    if (d->ndivs > 1)
        qsort(d->divs, d->ndivs, sizeof(*d->divs), cmp_div);
    return err;
}

static int cmp_ovr(const void *a, const void *b)
{
    return strcmp(((const dp_override *)a)->path, ((const dp_override *)b)->path);
}

int hn_dpkg_parse_statoverride(hn_dpkg *d, const void *data, size_t len)
{
    const char *p = data, *end = p + len, *line;
    size_t llen, cap = 0;
    char buf[DP_MAX_PATH + 2];

    while (d->novr < DP_MAX_OVERRIDES && next_line(&p, end, &line, &llen)) {
        /* "user group mode path": skip two words, read the octal mode, the rest is the path. */
        size_t i = 0;
        for (int w = 0; w < 2; w++) {
            while (i < llen && !is_space(line[i]))
                i++;
            while (i < llen && is_space(line[i]))
                i++;
        }
        uint32_t mode = 0;
        size_t digits = 0;
        while (i < llen && line[i] >= '0' && line[i] <= '7' && digits < 8) {
            mode = mode * 8 + (uint32_t)(line[i++] - '0');
            digits++;
        }
        if (!digits || i >= llen || !is_space(line[i]))
            continue;
        while (i < llen && is_space(line[i]))
            i++;
        size_t n = abs_path(buf, line + i, llen - i);
        if (!n || line[i] != '/' || memchr(buf, '\0', n))
            continue;
        if (d->novr == cap) {
            size_t nc = cap ? cap * 2 : 16;
            dp_override *no = cr_realloc(d->ovr, nc * sizeof(*no));
            if (!no)
                return CR_ERROR;
            d->ovr = no;
            cap = nc;
        }
        if (!(d->ovr[d->novr].path = cr_strndup(buf, n)))
            return CR_ERROR;
        d->ovr[d->novr++].mode = mode & 07777;
    }
    if (d->novr > 1)
        qsort(d->ovr, d->novr, sizeof(*d->ovr), cmp_ovr);
    return 0;
}

/* ------------------------------------------------------------ lookups */

/* The other spelling of a path under usrmerge ("/lib/x" <-> "/usr/lib/x"), or 0. */
static size_t usrmerge_alt(char *buf, size_t cap, const char *path)
{
    static const char *const dirs[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"};
    const char *rest = path;
    int in_usr = strncmp(path, "/usr/", 5) == 0;
    if (in_usr)
        rest = path + 4;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        size_t n = strlen(dirs[i]);
        if (rest[0] == '/' && strncmp(rest + 1, dirs[i], n) == 0 &&
            (rest[n + 1] == '/' || rest[n + 1] == '\0')) {
            int w = snprintf(buf, cap, "%s%s", in_usr ? "" : "/usr", rest);
            return (w > 0 && (size_t)w < cap) ? (size_t)w : 0;
        }
    }
    return 0;
}

/* Check the entries of one spelling; updates the best answer so far. */
static void owner_one(const hn_dpkg *d, const char *path, size_t len, const uint8_t *md5,
                      hn_owned *best, const char **pkg)
{
    for (uint32_t i = dp_first(d, path, len); i; i = d->ents[i - 1].next) {
        const dp_ent *e = &d->ents[i - 1];
        if (e->gone || e->len != len || memcmp(ent_path(d, e), path, len) != 0)
            continue;
        hn_owned r;
        if (!e->has_md5 || !md5)
            r = HN_OWNED_NOSUM;
        else
            r = memcmp(e->md5, md5, 16) == 0 ? HN_OWNED_MATCH : HN_OWNED_MODIFIED;
        /* A match wins; then "modified" (some package has a sum and it differs); then no sum. */
        static const int rank[] = {0, 3, 2, 1};
        if (rank[r] > rank[*best]) {
            *best = r;
            if (pkg)
                *pkg = d->pkgs[e->pkg];
        }
    }
}

hn_owned hn_dpkg_owner(const hn_dpkg *d, const char *relpath, const uint8_t *md5, const char **pkg)
{
    hn_owned best = HN_UNOWNED;
    char alt[DP_MAX_PATH + 16];
    if (pkg)
        *pkg = NULL;
    if (!d || !relpath || !d->nents)
        return HN_UNOWNED;
    size_t len = strlen(relpath);
    while (len > 1 && relpath[len - 1] == '/')
        len--;
    if (len == 0 || len > DP_MAX_PATH)
        return HN_UNOWNED;
    owner_one(d, relpath, len, md5, &best, pkg);
    if (best != HN_OWNED_MATCH && d->usrmerge && relpath[len] == '\0') {
        size_t n = usrmerge_alt(alt, sizeof(alt), relpath);
        if (n)
            owner_one(d, alt, n, md5, &best, pkg);
    }
    return best;
}

int hn_dpkg_statoverride(const hn_dpkg *d, const char *relpath, uint32_t *mode)
{
    if (!d || !d->novr)
        return 0;
    size_t lo = 0, hi = d->novr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->ovr[mid].path, relpath);
        if (c == 0) {
            if (mode)
                *mode = d->ovr[mid].mode;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static const dp_ver *ver_find(const hn_dpkg *d, const char *pkg)
{
    size_t lo = 0, hi = d ? d->nvers : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->vers[mid].name, pkg);
        if (c == 0)
            return &d->vers[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *hn_dpkg_version(const hn_dpkg *d, const char *pkg)
{
    const dp_ver *v = pkg ? ver_find(d, pkg) : NULL;
    return v ? v->version : NULL;
}

const char *hn_dpkg_arch(const hn_dpkg *d, const char *pkg)
{
    const dp_ver *v = pkg ? ver_find(d, pkg) : NULL;
    return v ? v->arch : NULL;
}

size_t hn_dpkg_npackages(const hn_dpkg *d)
{
    return d ? d->nvers : 0;
}

void hn_dpkg_package(const hn_dpkg *d, size_t i, const char **name, const char **version,
                     const char **arch)
{
    *name = d->vers[i].name;
    *version = d->vers[i].version;
    *arch = d->vers[i].arch;
}

int hn_dpkg_package_present(const hn_dpkg *d, size_t i)
{
    return d->vers[i].present;
}

void hn_dpkg_package_source(const hn_dpkg *d, size_t i, char **name, char **version)
{
    /* "Source: openssh" or "Source: openssh (1:9.2p1-2)"; none: the package itself. */
    const dp_ver *v = &d->vers[i];
    const char *s = v->source, *sp = s ? strchr(s, ' ') : NULL;
    *name = *version = NULL;
    if (!s || !*s) {
        *name = cr_strdup(v->name);
        *version = cr_strdup(v->version);
        return;
    }
    *name = sp ? cr_strndup(s, (size_t)(sp - s)) : cr_strdup(s);
    const char *open = sp ? strchr(sp, '(') : NULL, *close = open ? strchr(open, ')') : NULL;
    *version = close && close > open + 1 ? cr_strndup(open + 1, (size_t)(close - open - 1))
                                         : cr_strdup(v->version);
}

int hn_dpkg_from_deb(const hn_dpkg *d, const char *pkg)
{
    const dp_ver *v = pkg ? ver_find(d, pkg) : NULL;
    return v ? v->from_deb : 0;
}

int hn_dpkg_is_conffile(const hn_dpkg *d, const char *relpath)
{
    char alt[DP_MAX_PATH + 16];
    size_t len;
    if (!d || !relpath || !d->nents || (len = strlen(relpath)) == 0 || len > DP_MAX_PATH)
        return 0;
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = dp_first(d, relpath, len); i; i = d->ents[i - 1].next) {
            const dp_ent *e = &d->ents[i - 1];
            if (e->conf && !e->gone && e->len == len && memcmp(ent_path(d, e), relpath, len) == 0)
                return 1;
        }
        if (round || !d->usrmerge || !(len = usrmerge_alt(alt, sizeof(alt), relpath)))
            break;
        relpath = alt;
    }
    return 0;
}

int hn_dpkg_unchanged(const hn_dpkg *d, const char *pkg)
{
    const dp_ver *v = pkg ? ver_find(d, pkg) : NULL;
    return v ? v->same : 0;
}

int hn_dpkg_same_version(const hn_dpkg *a, const hn_dpkg *b, const char *pkg)
{
    const char *x = hn_dpkg_version(a, pkg), *y = hn_dpkg_version(b, pkg);
    return x && y && strcmp(x, y) == 0;
}

size_t hn_dpkg_tampers(const hn_dpkg *d, const hn_dpkg_tamper **out)
{
    *out = d ? d->tampers : NULL;
    return d ? d->ntampers : 0;
}

/* Note what the anchor corrected. */
static int tamper_add(hn_dpkg *d, const char *pkg, const char *path, int conf, const uint8_t *was,
                      const uint8_t *now)
{
    if (d->ntampers >= DP_MAX_TAMPERS)
        return 0;
    if (d->ntampers == d->captampers) {
        size_t nc = d->captampers ? d->captampers * 2 : 16;
        hn_dpkg_tamper *nt = cr_realloc(d->tampers, nc * sizeof(*nt));
        if (!nt)
            return CR_ERROR;
        d->tampers = nt;
        d->captampers = nc;
    }
    hn_dpkg_tamper *t = &d->tampers[d->ntampers];
    memset(t, 0, sizeof(*t));
    if (!(t->path = cr_strdup(path)))
        return CR_ERROR;
    t->pkg = pkg; /* borrowed from d->pkgs, which outlives the list */
    t->conffile = conf;
    memcpy(t->was, was, 16);
    if (now) {
        t->has_now = 1;
        memcpy(t->now, now, 16);
    }
    d->ntampers++;
    return 0;
}

/* The entry of package `pkg` for a path (index + 1), 0 if none. */
static uint32_t ent_of(const hn_dpkg *d, const char *path, size_t len, const char *pkg)
{
    for (uint32_t i = dp_first(d, path, len); i; i = d->ents[i - 1].next) {
        const dp_ent *e = &d->ents[i - 1];
        if (e->len == len && memcmp(ent_path(d, e), path, len) == 0 &&
            strcmp(d->pkgs[e->pkg], pkg) == 0)
            return i;
    }
    return 0;
}

/*
 * Every Debian upgrade brings a new changelog entry (Debian policy 12.7), so a
 * package whose version changed while its changelog.Debian.gz (changelog.gz for
 * a native package) kept the same sum did not go through an upgrade: the
 * version was rewritten in status. Binary-only rebuilds ("+bN") write their
 * entry into another file and are left out.
 */
static int stale_changelog(hn_dpkg *d, const hn_dpkg *trusted, dp_ver *v, const dp_ver *tv)
{
    static const char *const names[] = {"changelog.Debian.gz", "changelog.gz"};
    char path[DP_MAX_PKG_NAME + 64];
    if (strstr(v->version, "+b"))
        return 0;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        int n = snprintf(path, sizeof(path), "/usr/share/doc/%s/%s", v->name, names[k]);
        if (n <= 0 || (size_t)n >= sizeof(path))
            return 0;
        uint32_t a = ent_of(d, path, (size_t)n, v->name);
        uint32_t b = ent_of(trusted, path, (size_t)n, v->name);
        if (!a || !b)
            continue;
        const dp_ent *x = &d->ents[a - 1], *y = &trusted->ents[b - 1];
        if (x->has_md5 && y->has_md5 && !memcmp(x->md5, y->md5, 16))
            return (v->was = cr_strdup(tv->version)) ? 0 : CR_ERROR;
        return 0; /* the first changelog listed decides */
    }
    return 0;
}

const char *hn_dpkg_version_rewritten(const hn_dpkg *d, const char *pkg)
{
    const dp_ver *v = pkg ? ver_find(d, pkg) : NULL;
    return v ? v->was : NULL;
}

int hn_dpkg_anchor(hn_dpkg *d, const hn_dpkg *trusted)
{
    uint8_t *same = NULL;
    int err = 0;
    if (!d || !trusted || !trusted->nents)
        return 0;
    /* Per package name of d: 1 when installed at the same version in both. */
    if (d->npkgs && !(same = cr_calloc(d->npkgs, 1)))
        return CR_ERROR;
    for (size_t i = 0; i < d->npkgs; i++)
        same[i] = (uint8_t)hn_dpkg_same_version(d, trusted, d->pkgs[i]);
    for (size_t i = 0; i < d->nvers; i++) {
        dp_ver *v = &d->vers[i];
        const dp_ver *tv = ver_find(trusted, v->name);
        v->same = tv && !strcmp(tv->version, v->version);
        if (tv && !v->same && (err = stale_changelog(d, trusted, v, tv)) < 0)
            goto done;
    }
    size_t n0 = d->nents;
    for (size_t i = 0; i < n0; i++) {
        dp_ent *e = &d->ents[i];
        if (!same[e->pkg])
            continue;
        const char *pkg = d->pkgs[e->pkg];
        uint32_t t = ent_of(trusted, ent_path(d, e), e->len, pkg);
        if (!t || !trusted->ents[t - 1].has_md5)
            continue;
        const dp_ent *te = &trusted->ents[t - 1];
        if (e->has_md5 && memcmp(e->md5, te->md5, 16) == 0)
            continue;
        /* The package is as it was, yet its database says otherwise now: the earlier
         * restore point is what the attacker could not rewrite. */
        char *path = cr_strndup(ent_path(d, e), e->len);
        if (!path) {
            err = CR_ERROR;
            goto done;
        }
        err = tamper_add(d, pkg, path, e->conf || te->conf, te->md5, e->has_md5 ? e->md5 : NULL);
        free(path);
        if (err < 0)
            goto done;
        e = &d->ents[i];
        memcpy(e->md5, te->md5, 16);
        e->has_md5 = 1;
    }
    /* Sums that vanished from the database of a package at the same version. */
    for (size_t i = 0; i < trusted->nents; i++) {
        const dp_ent *te = &trusted->ents[i];
        const char *pkg = trusted->pkgs[te->pkg];
        const char *tpath = ent_path(trusted, te);
        if (!te->has_md5 || !hn_dpkg_same_version(d, trusted, pkg) ||
            ent_of(d, tpath, te->len, pkg))
            continue;
        uint32_t idx;
        if ((err = pkg_add(d, pkg, strlen(pkg), &idx)) < 0 ||
            (err = tamper_add(d, d->pkgs[idx], tpath, te->conf, te->md5, NULL)) < 0)
            goto done;
        /* Straight into the table: the path is already where the diversions put it. */
        size_t nd = d->ndivs;
        d->ndivs = 0;
        err = dp_add(d, tpath, te->len, idx, te->md5, 0, te->conf);
        d->ndivs = nd;
        if (err < 0)
            goto done;
    }
    /* Packages the anchor had that this database no longer lists: their files are kept
     * aside (not owned), so that one of them still there and changed can be told. */
    for (size_t i = 0; i < trusted->nents; i++) {
        const dp_ent *te = &trusted->ents[i];
        const char *pkg = trusted->pkgs[te->pkg];
        if (!te->has_md5 || ver_find(d, pkg) || (!te->gone && !ver_find(trusted, pkg)))
            continue;
        uint32_t idx;
        if ((err = pkg_add(d, pkg, strlen(pkg), &idx)) < 0)
            goto done;
        size_t nd = d->ndivs, before = d->nents;
        d->ndivs = 0;
        err = dp_add(d, ent_path(trusted, te), te->len, idx, te->md5, 0, te->conf);
        d->ndivs = nd;
        if (err < 0)
            goto done;
        if (d->nents > before)
            d->ents[d->nents - 1].gone = 1;
    }
done:
    free(same);
    return err;
}

const char *hn_dpkg_gone_owner(const hn_dpkg *d, const char *relpath)
{
    char alt[DP_MAX_PATH + 16];
    size_t len;
    if (!d || !relpath || !d->nents || (len = strlen(relpath)) == 0 || len > DP_MAX_PATH)
        return NULL;
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = dp_first(d, relpath, len); i; i = d->ents[i - 1].next) {
            const dp_ent *e = &d->ents[i - 1];
            if (e->gone && e->len == len && memcmp(ent_path(d, e), relpath, len) == 0)
                return d->pkgs[e->pkg];
        }
        if (round || !d->usrmerge || !(len = usrmerge_alt(alt, sizeof(alt), relpath)))
            break;
        relpath = alt;
    }
    return NULL;
}

int hn_dpkg_anchor_deb(hn_dpkg *d, const char *pkg, const char *const *paths,
                       const uint8_t (*md5s)[16], size_t n)
{
    char buf[DP_MAX_PATH + 2];
    int err = 0;
    if (!d || !pkg)
        return 0;
    dp_ver *v = (dp_ver *)ver_find(d, pkg);
    if (v)
        v->from_deb = 1;
    for (size_t i = 0; i < n; i++) {
        const char *in = paths[i];
        while (in[0] == '.' && in[1] == '/')
            in += 2; /* "./usr/bin/x", as tar lists it */
        size_t len = abs_path(buf, in, strlen(in));
        if (!len)
            continue;
        const char *p = buf;
        if (d->ndivs) {
            const dp_div *dv = div_find(d, buf, len);
            if (dv && (!dv->pkg || strcmp(dv->pkg, pkg) != 0)) {
                p = dv->to;
                len = strlen(p);
            }
        }
        uint32_t k = ent_of(d, p, len, pkg);
        if (!k)
            continue; /* not installed (a path the package's scripts removed or moved) */
        dp_ent *e = &d->ents[k - 1];
        if (e->has_md5 && memcmp(e->md5, md5s[i], 16) == 0)
            continue;
        if (e->has_md5 || !e->conf) {
            /* The database says another sum than the package itself. */
            uint8_t now[16];
            int had = e->has_md5;
            if (had)
                memcpy(now, e->md5, 16);
            if ((err = tamper_add(d, d->pkgs[e->pkg], p, e->conf, md5s[i], had ? now : NULL)) < 0)
                return err;
            e = &d->ents[k - 1];
        }
        memcpy(e->md5, md5s[i], 16);
        e->has_md5 = 1;
    }
    return 0;
}

/* ------------------------------------------------------------ loading */

static void dp_warn(hn_ctx *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dp_warn(hn_ctx *ctx, const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    if (!ctx->warning)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->warning(path, msg, ctx->payload);
}

/* root + rel ("/" + "/var/lib/dpkg" -> "/var/lib/dpkg"). NULL on no memory. */
static char *root_join(const char *root, const char *rel)
{
    size_t n = strlen(root);
    while (n && root[n - 1] == '/')
        n--;
    return cr_sprintf("%.*s%s", (int)n, root, rel);
}

/* Read one file of the dpkg folder and hand it to a parser. Read errors are warned, not fatal. */
static int load_one(hn_ctx *ctx, hn_dpkg *d, const cr_node *n, const char *dir, size_t max,
                    int (*parse)(hn_dpkg *, const void *, size_t))
{
    cr_buf b = CR_BUF_INIT;
    int err = 0;
    char *path = cr_sprintf("%s/%s", dir, n->name);
    if (!path)
        return CR_ERROR;
    if (n->type != CR_NODE_FILE)
        goto done;
    int rc = hn_read_node(&b, ctx->repo, n, max);
    if (rc < 0) {
        dp_warn(ctx, path, "package database file not read, its packages are ignored: %s",
                cr_error_last());
        goto done;
    }
    err = parse(d, b.ptr ? (const void *)b.ptr : "", b.len);
done:
    cr_buf_free(&b);
    free(path);
    return err;
}

/* The database of ctx->snap as it says itself (ctx->snap may be the predecessor). */
static int load_raw(hn_dpkg **out, hn_ctx *ctx)
{
    hn_dpkg *d = NULL;
    cr_node dir, link;
    cr_tree *t = NULL, *info = NULL;
    cr_buf b = CR_BUF_INIT;
    char *dpath = NULL, *ipath = NULL, *lpath = NULL;
    int err, rc;

    *out = NULL;
    memset(&dir, 0, sizeof(dir));
    memset(&link, 0, sizeof(link));
    const char *root = ctx->root ? ctx->root : "/";
    if (!(dpath = root_join(root, "/var/lib/dpkg")) ||
        !(ipath = root_join(root, "/var/lib/dpkg/info")) || !(lpath = root_join(root, "/lib"))) {
        err = CR_ERROR;
        goto done;
    }
    /* usrmerge: /lib (or /bin) is a symlink into /usr. */
    int merged = 0;
    if (cr_snapshot_lookup(&link, ctx->repo, ctx->snap, lpath) == 0 && link.type == CR_NODE_SYMLINK)
        merged = 1;
    cr_node_clear(&link);
    lpath[strlen(lpath) - 3] = '\0';
    strcat(lpath, "bin"); /* same length as "lib" */
    if (!merged && cr_snapshot_lookup(&link, ctx->repo, ctx->snap, lpath) == 0 &&
        link.type == CR_NODE_SYMLINK)
        merged = 1;
    cr_node_clear(&link);
    if ((err = hn_dpkg_new(&d, merged)) < 0)
        goto done;

    rc = cr_snapshot_lookup(&dir, ctx->repo, ctx->snap, dpath);
    if (rc < 0 || dir.type != CR_NODE_DIR || !dir.has_subtree) {
        if (rc < 0 && rc != CR_ENOTFOUND)
            dp_warn(ctx, dpath, "package database not read: %s", cr_error_last());
        err = 0; /* no dpkg: an empty database */
        goto done;
    }
    if ((rc = cr_tree_load(&t, ctx->repo, &dir.subtree)) < 0) {
        dp_warn(ctx, dpath, "package database not read: %s", cr_error_last());
        goto done;
    }
    /* Diversions first: they redirect the paths added afterwards. */
    static const struct {
        const char *name;
        size_t max;
        int (*parse)(hn_dpkg *, const void *, size_t);
    } files[] = {{"diversions", DP_MAX_SMALL, hn_dpkg_parse_diversions},
                 {"statoverride", DP_MAX_SMALL, hn_dpkg_parse_statoverride},
                 {"status", DP_MAX_STATUS, hn_dpkg_parse_status}};
    const cr_node *info_node = NULL;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++)
        for (size_t i = 0; i < t->count; i++)
            if (strcmp(t->nodes[i].name, files[f].name) == 0 &&
                (err = load_one(ctx, d, &t->nodes[i], dpath, files[f].max, files[f].parse)) < 0)
                goto done;
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->nodes[i].name, "info") == 0 && t->nodes[i].type == CR_NODE_DIR &&
            t->nodes[i].has_subtree)
            info_node = &t->nodes[i];
    if (!info_node)
        goto done;
    if ((rc = cr_tree_load(&info, ctx->repo, &info_node->subtree)) < 0) {
        dp_warn(ctx, ipath, "package file lists not read: %s", cr_error_last());
        goto done;
    }
    /* md5sums before lists, so that a listed path only adds what no sum already says. */
    size_t done_files = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *suffix = pass == 0 ? ".md5sums" : ".list";
        for (size_t i = 0; i < info->count && done_files < DP_MAX_INFO_FILES; i++) {
            const cr_node *n = &info->nodes[i];
            if (n->type != CR_NODE_FILE || !info_pkg(n->name, suffix))
                continue;
            done_files++;
            cr_buf_reset(&b);
            if ((rc = hn_read_node(&b, ctx->repo, n, DP_MAX_INFO)) < 0) {
                char *p = cr_sprintf("%s/%s", ipath, n->name);
                dp_warn(ctx, p ? p : ipath,
                        "package file list not read, its files look unowned: %s", cr_error_last());
                free(p);
                continue;
            }
            if ((err = hn_dpkg_parse_info(d, n->name, b.ptr ? (const void *)b.ptr : "", b.len)) < 0)
                goto done;
        }
    }
    if (d->full)
        dp_warn(ctx, dpath, "%s", "package database too large: some packages' files are ignored");
done:
    if (err < 0) {
        hn_dpkg_free(d);
        d = NULL;
    }
    *out = d;
    cr_tree_free(t);
    cr_tree_free(info);
    cr_node_clear(&dir);
    cr_buf_free(&b);
    free(dpath);
    free(ipath);
    free(lpath);
    return err;
}

int hn_dpkg_load(hn_dpkg **out, hn_ctx *ctx)
{
    int err;
    *out = NULL;
    if ((err = load_raw(out, ctx)) < 0 || !*out)
        return err;
    const hn_dpkg *anchor = ctx->anchor;
    hn_dpkg *own = NULL;
    if (!anchor && ctx->pred && !ctx->baseline) {
        /* The predecessor was not hunted by this run: its database, as it was then, is the
         * anchor (its own hunt compared it with the one before it). */
        hn_ctx pc = *ctx;
        pc.snap = ctx->pred;
        pc.pred = NULL;
        pc.anchor = NULL;
        pc.dpkg = NULL;
        if ((err = load_raw(&own, &pc)) < 0)
            goto done;
        anchor = own;
    }
    if (anchor && (err = hn_dpkg_anchor(*out, anchor)) < 0)
        goto done;
    err = hn_deb_anchor(ctx, *out, anchor);
done:
    hn_dpkg_free(own);
    if (err < 0) {
        hn_dpkg_free(*out);
        *out = NULL;
    }
    return err;
}

int hn_ctx_dpkg(hn_ctx *ctx, const hn_dpkg **out)
{
    int err;
    if (!ctx->dpkg_loaded) {
        if ((err = hn_dpkg_load(&ctx->dpkg, ctx)) < 0)
            return err;
        ctx->dpkg_loaded = 1;
    }
    *out = ctx->dpkg;
    return 0;
}
