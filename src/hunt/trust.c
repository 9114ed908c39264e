/*
 * Trust anchors: what a restore point says about itself is evidence, not
 * truth.
 *
 * An intruder who controls a system controls its package database too: they
 * can change /usr/lib/systemd/system/apt-daily-upgrade.service and write its
 * new md5 into /var/lib/dpkg/info/apt.md5sums, and a hunt that compared the
 * file with the database of the same snapshot would call it routine. Two
 * things are out of their reach:
 *
 *   - the earlier restore points: the vault is write-once, so the database of
 *     the previous snapshot, as judged when it was hunted, stays what it was.
 *     hunt.c keeps it from one snapshot to the next (hn_ctx.anchor), and
 *     hn_dpkg_load anchors each new database on it: for a package installed
 *     at the same version in both, the earlier sums replace the new ones, and
 *     every sum that differed is noted (hn_dpkg_anchor);
 *   - .deb files: those the operator gives (--packages DIR, e.g. fetched from
 *     a trusted mirror onto the clean-room machine), else those apt left in
 *     the snapshot's own /var/cache/apt/archives. A .deb is read only for a
 *     package that is new or at another version than in the anchor, and used
 *     only when its control names that package and version; the md5 of each
 *     file of its data archive then replaces the database's.
 *
 * The judge (hn_judge_package), for each node added or changed since the
 * previous snapshot (never in a baseline):
 *
 *   package:modified           a package's file whose content changed while
 *                              the package stayed at the same version: no
 *                              upgrade explains it. High; critical for a
 *                              program, a library, a script, a PAM module or
 *                              anything in a persistence place (units, cron
 *                              scripts...). A configuration file (conffile)
 *                              is the administrator's to edit: only one in a
 *                              persistence place is reported, at high.
 *   package:database-tampered  status or info/<pkg>.md5sums changed and now
 *                              gives another sum (or none) for a file of a
 *                              package at an unchanged version, or a sum that
 *                              its .deb does not give. Critical: nobody but
 *                              dpkg writes there, and dpkg only on upgrades.
 *   package:deb-mismatch       a file of an upgraded package that is not the
 *                              file of the package's .deb. Severity as for
 *                              package:modified (conffiles are left out: the
 *                              administrator's version may be kept).
 *   package:modified (high)    without a .deb: a program, library or file in a
 *                              persistence place of a new or upgraded package
 *                              that does not match its own database.
 *
 * Only files under /usr, /etc, /bin, /sbin, /lib*, /opt and /boot are
 * considered for package:modified: logs, spools, caches, homes and data are
 * not packages' files, and looking up their owner every day would cost.
 *
 * What is not protected: the baseline itself (the first restore point of a
 * source, or one the operator marks with --baseline) is believed, unless a
 * .deb says otherwise; a package upgraded to a version whose .deb is not
 * available is believed as its new database says.
 */
#include "hunt/hunt.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TR_MAX_MD5_READ (64u * 1024 * 1024)         /* md5 computed here when the cache lacks it */
#define TR_MAX_DEB (512u * 1024 * 1024)             /* a .deb read whole into memory */
#define TR_MAX_DEB_DATA (4ull * 1024 * 1024 * 1024) /* bytes unpacked from one .deb */
#define TR_MAX_DEB_FILES 200000u
#define TR_MAX_CONTROL (1u * 1024 * 1024)
#define TR_MAX_SHOWN 50 /* database findings per database file; then a summary */

/* ------------------------------------------------------------ md5 */

int hn_node_md5(uint8_t md5[16], hn_ctx *ctx, const cr_node *n)
{
    cr_id cid;
    unsigned len = 0;
    hn_content_id(&cid, n);
    hn_facts *f = ctx->cache ? hn_cache_get(ctx->cache, &cid) : NULL;
    if (f && (f->have & HN_HAVE_MD5)) {
        memcpy(md5, f->md5, 16);
        return 1;
    }
    if (n->size > TR_MAX_MD5_READ)
        return 0;
    cr_buf b = CR_BUF_INIT;
    int known =
        hn_read_node(&b, ctx->repo, n, TR_MAX_MD5_READ) == 0 &&
        EVP_Digest(b.ptr ? (const void *)b.ptr : "", b.len, md5, &len, EVP_md5(), NULL) == 1 &&
        len == 16;
    cr_buf_free(&b);
    return known;
}

/* ------------------------------------------------------------ .deb */

void hn_deb_clear(hn_deb *deb)
{
    if (!deb)
        return;
    free(deb->package);
    free(deb->version);
    for (size_t i = 0; i < deb->n; i++)
        free(deb->paths[i]);
    free(deb->paths);
    free(deb->md5);
    memset(deb, 0, sizeof(*deb));
}

static int deb_add(hn_deb *deb, const char *path, const uint8_t md5[16])
{
    if (deb->n == deb->cap) {
        size_t nc = deb->cap ? deb->cap * 2 : 64;
        char **np = cr_realloc(deb->paths, nc * sizeof(*np));
        if (!np)
            return CR_ERROR;
        deb->paths = np;
        uint8_t(*nm)[16] = cr_realloc(deb->md5, nc * sizeof(*nm));
        if (!nm)
            return CR_ERROR;
        deb->md5 = nm;
        deb->cap = nc;
    }
    if (!(deb->paths[deb->n] = cr_strdup(path)))
        return CR_ERROR;
    memcpy(deb->md5[deb->n], md5, 16);
    deb->n++;
    return 0;
}

/* "./usr/bin/x" -> "usr/bin/x"; NULL for the top folder or a path that climbs. */
static const char *tar_path(const char *p)
{
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    while (*p == '/')
        p++;
    if (!*p || strstr(p, "../") || !strcmp(p, ".."))
        return NULL;
    return p;
}

/* A field of a control file ("Package"), trimmed, or NULL. */
static char *control_field(const char *s, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *end = s + n;
    for (const char *l = s; l < end;) {
        const char *e = memchr(l, '\n', (size_t)(end - l));
        if (!e)
            e = end;
        if ((size_t)(e - l) > nl && !memcmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1, *ve = e;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                ve--;
            return cr_strndup(v, (size_t)(ve - v));
        }
        l = e + 1;
    }
    return NULL;
}

/* The data of the current entry of `a`, appended to out (at most max bytes in out). */
static int read_entry(cr_buf *out, struct archive *a, size_t max)
{
    unsigned char buf[65536];
    ssize_t r;
    int err;
    while ((r = archive_read_data(a, buf, sizeof(buf))) > 0) {
        if (out->len + (size_t)r > max) {
            cr_error_set("damaged .deb: a member larger than the package");
            return CR_EINPUT;
        }
        if ((err = cr_buf_put(out, buf, (size_t)r)) < 0)
            return err;
    }
    if (r < 0) {
        cr_error_set("damaged .deb: %s", archive_error_string(a) ? archive_error_string(a) : "?");
        return CR_EINPUT;
    }
    return 0;
}

/* One member of the ar archive (control.tar.* or data.tar.*), in memory. */
static int deb_member(hn_deb *deb, const void *data, size_t len, int control, uint64_t *budget)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    unsigned char buf[65536];
    int err = 0, rc;
    cr_buf ctl = CR_BUF_INIT;

    if (!a)
        return CR_ERROR;
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        cr_error_set("not a .deb: %s", archive_error_string(a) ? archive_error_string(a) : "?");
        err = CR_EINPUT;
        goto done;
    }
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        const char *rel = p ? tar_path(p) : NULL;
        if (!rel)
            continue;
        if (control) {
            if (strcmp(rel, "control") != 0 || archive_entry_filetype(e) != AE_IFREG)
                continue;
            if ((err = read_entry(&ctl, a, TR_MAX_CONTROL)) < 0)
                goto done;
            const char *t = ctl.ptr ? (const char *)ctl.ptr : "";
            deb->package = control_field(t, ctl.len, "Package");
            deb->version = control_field(t, ctl.len, "Version");
            continue;
        }
        uint8_t md5[16];
        const char *hl = archive_entry_hardlink(e);
        if (hl) {
            /* A hard link has the bytes of the file it links to. */
            const char *target = tar_path(hl);
            for (size_t i = deb->n; target && i > 0; i--)
                if (!strcmp(deb->paths[i - 1], target)) {
                    memcpy(md5, deb->md5[i - 1], 16);
                    if ((err = deb_add(deb, rel, md5)) < 0)
                        goto done;
                    break;
                }
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        if (deb->n >= TR_MAX_DEB_FILES) {
            cr_error_set("the .deb lists too many files");
            err = CR_EINPUT;
            goto done;
        }
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        unsigned ml = 0;
        ssize_t r = 0;
        if (!m || EVP_DigestInit_ex(m, EVP_md5(), NULL) != 1) {
            EVP_MD_CTX_free(m);
            err = CR_ERROR;
            goto done;
        }
        while ((r = archive_read_data(a, buf, sizeof(buf))) > 0) {
            if ((uint64_t)r > *budget) {
                r = -1;
                break;
            }
            *budget -= (uint64_t)r;
            EVP_DigestUpdate(m, buf, (size_t)r);
        }
        int ok = r == 0 && EVP_DigestFinal_ex(m, md5, &ml) == 1 && ml == 16;
        EVP_MD_CTX_free(m);
        if (!ok) {
            cr_error_set("damaged or oversized .deb: %s",
                         archive_error_string(a) ? archive_error_string(a) : "too large");
            err = CR_EINPUT;
            goto done;
        }
        if ((err = deb_add(deb, rel, md5)) < 0)
            goto done;
    }
    if (rc != ARCHIVE_EOF) {
        cr_error_set("damaged .deb: %s", archive_error_string(a) ? archive_error_string(a) : "?");
        err = CR_EINPUT;
    }
done:
    cr_buf_free(&ctl);
    archive_read_free(a);
    return err;
}

int hn_deb_read(hn_deb *out, const void *data, size_t len)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    cr_buf mem = CR_BUF_INIT;
    uint64_t budget = TR_MAX_DEB_DATA;
    int err = 0, rc, seen_data = 0;

    memset(out, 0, sizeof(*out));
    if (!a)
        return CR_ERROR;
    archive_read_support_format_ar(a);
    if (len < 8 || memcmp(data, "!<arch>\n", 8) != 0 ||
        archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        cr_error_set("not a .deb (no ar archive)");
        err = CR_EINPUT;
        goto done;
    }
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        int control = name && !strncmp(name, "control.tar", 11);
        int isdata = name && !strncmp(name, "data.tar", 8);
        if (!control && !isdata)
            continue;
        int64_t sz = archive_entry_size(e);
        if (sz < 0 || (uint64_t)sz > len) {
            cr_error_set("damaged .deb: member %s has a wrong size", name);
            err = CR_EINPUT;
            goto done;
        }
        cr_buf_reset(&mem);
        if ((err = read_entry(&mem, a, len)) < 0)
            goto done;
        if ((err = deb_member(out, mem.ptr ? (const void *)mem.ptr : "", mem.len, control,
                              &budget)) < 0)
            goto done;
        seen_data |= isdata;
    }
    if (rc != ARCHIVE_EOF || !seen_data || !out->package || !out->version) {
        if (rc != ARCHIVE_EOF)
            cr_error_set("damaged .deb: %s",
                         archive_error_string(a) ? archive_error_string(a) : "?");
        else
            cr_error_set("not a .deb: no data archive, or no Package and Version in its control");
        err = CR_EINPUT;
    }
done:
    if (err < 0)
        hn_deb_clear(out);
    cr_buf_free(&mem);
    archive_read_free(a);
    return err;
}

/* ------------------------------------------------------------ finding .deb files */

static void tr_warn(hn_ctx *ctx, const char *path, const char *msg)
{
    if (ctx->warning)
        ctx->warning(path, msg, ctx->payload);
}

/*
 * The file names apt gives the .deb of pkg at version (arch), into names[]
 * (each of size cap): the epoch's colon written "%3a", or the epoch left out.
 * @return how many.
 */
static int deb_names(char names[4][512], const char *pkg, const char *version, const char *arch)
{
    char v1[300], v2[300];
    size_t o = 0;
    int n = 0;
    for (const char *p = version; *p && o + 4 < sizeof(v1); p++) {
        if (*p == ':') {
            memcpy(v1 + o, "%3a", 3);
            o += 3;
        } else {
            v1[o++] = *p;
        }
    }
    v1[o] = '\0';
    const char *c = strchr(version, ':');
    snprintf(v2, sizeof(v2), "%s", c ? c + 1 : version);
    const char *arches[2] = {arch ? arch : "all", "all"};
    for (int a = 0; a < 2; a++) {
        if (a == 1 && arch && !strcmp(arch, "all"))
            break;
        snprintf(names[n++], 512, "%s_%s_%s.deb", pkg, v1, arches[a]);
        if (c)
            snprintf(names[n++], 512, "%s_%s_%s.deb", pkg, v2, arches[a]);
    }
    return n;
}

/* Read a .deb from the operator's folder. @return 0 read, 1 absent, <0 error (warned). */
static int read_trusted(cr_buf *out, hn_ctx *ctx, const char *name)
{
    int dfd = open(ctx->packages_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (dfd < 0)
        return 1;
    struct stat st;
    if (fstatat(dfd, name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
        close(dfd);
        return 1;
    }
    rc = cr_fs_read_all(out, dfd, name, TR_MAX_DEB);
    close(dfd);
    if (rc < 0) {
        char *p = cr_sprintf("%s/%s", ctx->packages_dir, name);
        tr_warn(ctx, p ? p : name, cr_error_last());
        free(p);
        return rc == CR_ERROR ? CR_ERROR : 1;
    }
    return 0;
}

/* The snapshot's /var/cache/apt/archives, listed once. */
typedef struct tr_archives {
    int loaded;
    cr_tree *t;
    char *dir; /* full snapshot path of the folder */
} tr_archives;

static const cr_node *archives_find(const tr_archives *ar, const char *name)
{
    if (!ar->t)
        return NULL;
    for (size_t i = 0; i < ar->t->count; i++)
        if (ar->t->nodes[i].type == CR_NODE_FILE && !strcmp(ar->t->nodes[i].name, name))
            return &ar->t->nodes[i];
    return NULL;
}

static int archives_load(tr_archives *ar, hn_ctx *ctx)
{
    cr_node dir;
    ar->loaded = 1;
    size_t n = strlen(ctx->root);
    while (n && ctx->root[n - 1] == '/')
        n--;
    if (!(ar->dir = cr_sprintf("%.*s/var/cache/apt/archives", (int)n, ctx->root)))
        return CR_ERROR;
    memset(&dir, 0, sizeof(dir));
    if (cr_snapshot_lookup(&dir, ctx->repo, ctx->snap, ar->dir) == 0 && dir.type == CR_NODE_DIR &&
        dir.has_subtree && cr_tree_load(&ar->t, ctx->repo, &dir.subtree) < 0) {
        tr_warn(ctx, ar->dir, cr_error_last());
        ar->t = NULL;
    }
    cr_node_clear(&dir);
    return 0;
}

int hn_deb_anchor(hn_ctx *ctx, hn_dpkg *d, const hn_dpkg *anchor)
{
    tr_archives ar = {0, NULL, NULL};
    cr_buf b = CR_BUF_INIT;
    int err = 0;
    size_t np = hn_dpkg_npackages(d);

    for (size_t i = 0; i < np && err >= 0; i++) {
        const char *pkg, *version, *arch;
        char names[4][512];
        hn_dpkg_package(d, i, &pkg, &version, &arch);
        if (anchor && hn_dpkg_same_version(d, anchor, pkg))
            continue;
        int nn = deb_names(names, pkg, version, arch), got = 0;
        const char *from = NULL;
        char *where = NULL;
        for (int k = 0; k < nn && !got; k++) {
            cr_buf_reset(&b);
            if (ctx->packages_dir) {
                int rc = read_trusted(&b, ctx, names[k]);
                if (rc < 0) {
                    err = rc;
                    break;
                }
                if (rc == 0) {
                    got = 1;
                    from = ctx->packages_dir;
                    continue;
                }
            }
            /* In a baseline the apt cache is no better than the database beside it:
             * only the operator's .deb files are used there. */
            if (!anchor)
                continue;
            if (!ar.loaded && (err = archives_load(&ar, ctx)) < 0)
                break;
            const cr_node *node = archives_find(&ar, names[k]);
            if (!node)
                continue;
            int rc = hn_read_node(&b, ctx->repo, node, TR_MAX_DEB);
            if (rc < 0) {
                char *p = cr_sprintf("%s/%s", ar.dir, names[k]);
                tr_warn(ctx, p ? p : names[k], cr_error_last());
                free(p);
                continue;
            }
            got = 1;
            from = ar.dir;
        }
        if (err < 0 || !got)
            continue;
        if (!(where = cr_sprintf("%s/%s", from, names[0]))) {
            err = CR_ERROR;
            break;
        }
        hn_deb deb;
        int rc = hn_deb_examine(&deb, b.ptr ? (const void *)b.ptr : "", b.len);
        if (rc == CR_ERROR) {
            err = rc;
        } else if (rc < 0) {
            tr_warn(ctx, where, cr_error_last());
        } else if (strcmp(deb.package, pkg) != 0 || strcmp(deb.version, version) != 0) {
            char msg[700];
            snprintf(msg, sizeof(msg),
                     "this .deb is not package %s version %s (its control says otherwise): "
                     "not used",
                     pkg, version);
            tr_warn(ctx, where, msg);
        } else {
            err = hn_dpkg_anchor_deb(d, pkg, (const char *const *)deb.paths,
                                     (const uint8_t(*)[16])deb.md5, deb.n);
        }
        hn_deb_clear(&deb);
        free(where);
    }
    cr_buf_free(&b);
    cr_tree_free(ar.t);
    free(ar.dir);
    return err;
}

/* ------------------------------------------------------------ the judge */

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int ends(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);
    return n >= m && !strcmp(s + n - m, p);
}

/* Folders packages install into (others are data, logs, spools, homes). */
static int package_area(const char *p)
{
    static const char *const areas[] = {"/usr/", "/etc/", "/bin/", "/sbin/",
                                        "/lib",  "/opt/", "/boot/"};
    for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++)
        if (starts(p, areas[i]))
            return 1;
    return 0;
}

/* A program, library or script: what runs. */
static int code_like(const char *p, const cr_node *n)
{
    static const char *const dirs[] = {
        "/bin/",         "/sbin/",          "/usr/bin/",        "/usr/sbin/",
        "/usr/libexec/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/games/"};
    static const char *const exts[] = {".so", ".py", ".pm", ".pl", ".sh", ".rb", ".php", ".lua"};
    if (n && n->type != CR_NODE_FILE)
        return 1; /* a package's file replaced by a link or something else */
    if (n && (n->mode & 0111))
        return 1;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (starts(p, dirs[i]))
            return 1;
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (ends(p, exts[i]))
            return 1;
    return strstr(p, ".so.") != NULL || strstr(p, "/security/") != NULL;
}

/* A place the persistence judges watch (units, cron, PAM...). */
static int persistence_place(const char *p, const cr_node *n)
{
    cr_node f;
    if (n && n->type == CR_NODE_FILE)
        return hn_persist_linux_need(p, n) != 0;
    memset(&f, 0, sizeof(f));
    f.type = CR_NODE_FILE;
    return hn_persist_linux_need(p, &f) != 0;
}

/* "/var/lib/dpkg/info/apt:amd64.md5sums" -> "apt" into out. @return 1 if it is one. */
static int md5sums_pkg(char *out, size_t cap, const char *p)
{
    static const char dir[] = "/var/lib/dpkg/info/";
    if (!starts(p, dir) || !ends(p, ".md5sums"))
        return 0;
    const char *name = p + sizeof(dir) - 1;
    size_t n = strlen(name) - 8;
    const char *colon = memchr(name, ':', n);
    if (colon)
        n = (size_t)(colon - name);
    if (n == 0 || n >= cap || memchr(name, '/', n))
        return 0;
    memcpy(out, name, n);
    out[n] = '\0';
    return 1;
}

static int judge_database(hn_ctx *ctx, const char *relpath, const cr_node *n)
{
    char pkg[300];
    int status = !strcmp(relpath, "/var/lib/dpkg/status");
    const hn_dpkg *d;
    const hn_dpkg_tamper *t;
    int err;
    size_t shown = 0, more = 0;

    if (!status && !md5sums_pkg(pkg, sizeof(pkg), relpath))
        return 0;
    if ((err = hn_ctx_dpkg(ctx, &d)) < 0)
        return err;
    size_t nt = hn_dpkg_tampers(d, &t);
    cr_id cid;
    const cr_id *content = NULL;
    if (n && n->type == CR_NODE_FILE) {
        hn_content_id(&cid, n);
        content = &cid;
    }
    for (size_t i = 0; i < nt; i++) {
        if (status ? !t[i].conffile : (t[i].conffile || strcmp(t[i].pkg, pkg) != 0))
            continue;
        if (shown == TR_MAX_SHOWN) {
            more++;
            continue;
        }
        char ev[4400], was[33], now[33];
        const char *v = hn_dpkg_version(d, t[i].pkg);
        cr_hex_encode(was, t[i].was, 16);
        if (t[i].has_now)
            cr_hex_encode(now, t[i].now, 16);
        snprintf(ev, sizeof(ev), "%s: %s", t[i].pkg, t[i].path);
        int deb = hn_dpkg_from_deb(d, t[i].pkg);
        if (t[i].has_now)
            err = hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_CRITICAL, HN_IND_PACKAGE_DB, content,
                          ev,
                          "the package database now gives md5 %s for %s of package %s (version "
                          "%s), where %s gives %s: someone rewrote the database, the way an "
                          "intruder hides a changed file",
                          now, t[i].path, t[i].pkg, v ? v : "?",
                          deb ? "the package's .deb" : "the previous restore point", was);
        else
            err = hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_CRITICAL, HN_IND_PACKAGE_DB, content,
                          ev,
                          "the package database no longer gives an md5 for %s of package %s "
                          "(version %s), though %s gives %s: someone removed it, the way an "
                          "intruder hides a changed file",
                          t[i].path, t[i].pkg, v ? v : "?",
                          deb ? "the package's .deb" : "the previous restore point", was);
        if (err < 0)
            return err;
        shown++;
    }
    if (more &&
        (err = hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_CRITICAL, HN_IND_PACKAGE_DB, content,
                       NULL, "%zu more files whose sums were rewritten in the package database",
                       more)) < 0)
        return err;
    /* Versions that changed without a new changelog. */
    for (size_t i = 0, np = status ? hn_dpkg_npackages(d) : 0; i < np; i++) {
        const char *name, *version, *arch, *was;
        char ev[700];
        hn_dpkg_package(d, i, &name, &version, &arch);
        if (!(was = hn_dpkg_version_rewritten(d, name)) || hn_dpkg_from_deb(d, name))
            continue;
        snprintf(ev, sizeof(ev), "%s: %s -> %s", name, was, version);
        if ((err = hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_MEDIUM, HN_IND_PACKAGE_VERSION,
                           content, ev,
                           "package %s went from version %s to %s, but its changelog in "
                           "/usr/share/doc did not change, which no Debian upgrade does: the "
                           "version may have been rewritten to pass changed files off as an "
                           "upgrade (its changed files are reported on their own)",
                           name, was, version)) < 0)
            return err;
    }
    return 0;
}

/*
 * 1 if the bytes changed. In a file snapshot two contents with different ids
 * differ (chunking is deterministic); in an image snapshot a file's extents
 * point into the disk's chunks, which change with their neighbours: there the
 * md5s are compared (the scan learns them, see hn_judge_package_need), and a
 * file whose md5 cannot be known is not called changed.
 */
static int content_changed(hn_ctx *ctx, const cr_node *old, const cr_node *n)
{
    if (!old || old->type != CR_NODE_FILE)
        return n != NULL;
    if (!n || n->type != CR_NODE_FILE)
        return n != NULL;
    cr_id a, b;
    hn_content_id(&a, old);
    hn_content_id(&b, n);
    if (!memcmp(&a, &b, sizeof(a)))
        return 0;
    if (!ctx->snap || ctx->snap->kind != CR_SNAPSHOT_IMAGE)
        return 1;
    uint8_t x[16], y[16];
    if (old->size != n->size)
        return 1;
    return hn_node_md5(x, ctx, old) && hn_node_md5(y, ctx, n) && memcmp(x, y, 16) != 0;
}

unsigned hn_judge_package_need(const cr_snapshot *s, const char *relpath, const cr_node *n)
{
    if (!s || s->kind != CR_SNAPSHOT_IMAGE || !n || n->type != CR_NODE_FILE)
        return 0;
    return package_area(relpath) ? HN_HAVE_MD5 : 0;
}

int hn_judge_package(hn_ctx *ctx, const char *relpath, const cr_node *old, const cr_node *n)
{
    const hn_dpkg *d;
    const char *pkg = NULL;
    int err;

    if (!ctx || !relpath || ctx->baseline)
        return 0;
    if (starts(relpath, "/var/lib/dpkg/"))
        return judge_database(ctx, relpath, n);
    if (!n || !package_area(relpath) || !content_changed(ctx, old, n))
        return 0;
    if ((err = hn_ctx_dpkg(ctx, &d)) < 0)
        return err;
    if (!hn_dpkg_count(d))
        return 0;
    if (hn_dpkg_owner(d, relpath, NULL, &pkg) == HN_UNOWNED || !pkg) {
        /* A package gone from the database while its file is still there, and changed:
         * removing a package removes its files. */
        const char *gone = old ? hn_dpkg_gone_owner(d, relpath) : NULL;
        if (!gone)
            return 0;
        int code = code_like(relpath, n), place = persistence_place(relpath, n);
        cr_id gcid;
        if (n->type == CR_NODE_FILE)
            hn_content_id(&gcid, n);
        return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE,
                       (code || place) ? CR_SEV_CRITICAL : CR_SEV_HIGH, HN_IND_PACKAGE_MODIFIED,
                       n->type == CR_NODE_FILE ? &gcid : NULL, NULL,
                       "this file of package %s changed since the previous restore point, while "
                       "the package database no longer lists the package: removing a package "
                       "removes its files, so the database was probably edited to hide the "
                       "change",
                       gone);
    }
    int conf = hn_dpkg_is_conffile(d, relpath);
    int place = persistence_place(relpath, n);
    int code = code_like(relpath, n);
    const char *version = hn_dpkg_version(d, pkg);
    cr_id cid;
    const cr_id *content = NULL;
    if (n->type == CR_NODE_FILE) {
        hn_content_id(&cid, n);
        content = &cid;
    }

    if (old && (ctx->dpkg_reused || hn_dpkg_unchanged(d, pkg))) {
        /* Changed while its package did not: no upgrade explains it. */
        if (conf && !place)
            return 0; /* the administrator's configuration */
        cr_severity sev = conf ? CR_SEV_HIGH : (code || place) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE, sev, HN_IND_PACKAGE_MODIFIED, content,
                       NULL,
                       "%s of package %s changed since the previous restore point, while the "
                       "package stayed at version %s: no upgrade explains it%s",
                       conf    ? "a configuration file that runs code"
                       : place ? "a file in a persistence place"
                       : code  ? "a program or library"
                               : "a file",
                       pkg, version ? version : "?",
                       conf ? "" : " (whatever the package database of this restore point says)");
    }
    const char *was = hn_dpkg_version_rewritten(d, pkg);
    if (old && was && (!conf || place) && !hn_dpkg_from_deb(d, pkg))
        return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE,
                       (code || place) ? CR_SEV_CRITICAL : CR_SEV_HIGH, HN_IND_PACKAGE_MODIFIED,
                       content, NULL,
                       "%s of package %s changed since the previous restore point, and the "
                       "package database says it went from version %s to %s, but the "
                       "package's changelog did not change: no upgrade explains it",
                       conf ? "a configuration file that runs code" : "a file", pkg, was,
                       version ? version : "?");
    /* New or upgraded: its files are the .deb's when it is known; else at least what the
     * database says for what runs (a mismatch no package upgrade leaves). */
    int deb = hn_dpkg_from_deb(d, pkg);
    if (conf || n->type != CR_NODE_FILE || (!deb && !code && !place))
        return 0;
    uint8_t md5[16];
    if (!hn_node_md5(md5, ctx, n))
        return 0;
    if (hn_dpkg_owner(d, relpath, md5, &pkg) != HN_OWNED_MODIFIED)
        return 0;
    if (!deb)
        return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE, CR_SEV_HIGH, HN_IND_PACKAGE_MODIFIED,
                       content, NULL,
                       "this %s of package %s (version %s, installed or upgraded since the "
                       "previous restore point) does not match the md5 its package database "
                       "gives",
                       place ? "file in a persistence place" : "program or library", pkg,
                       version ? version : "?");
    return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE,
                   (code || place) ? CR_SEV_CRITICAL : CR_SEV_HIGH, HN_IND_PACKAGE_DEB, content,
                   NULL,
                   "this file of package %s (version %s) is not the one of the package's .deb", pkg,
                   version ? version : "?");
}
