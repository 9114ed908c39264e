/*
 * cr_inventory_load: what a restore point has installed, read from the
 * snapshot in the vault (file or image snapshot alike: through
 * cr_snapshot_lookup and hn_read_node, as the hunt reads them), below its
 * system root (cr_hunt_system_root).
 *
 *   /etc/os-release (or /usr/lib/os-release)  PRETTY_NAME, and for Debian the
 *                                             release codename (VERSION_CODENAME)
 *   /var/lib/dpkg/status                      installed packages, their source
 *                                             package and version (hunt's dpkg.c
 *                                             parser, the one the hunt uses)
 *   Windows/System32/config/SOFTWARE          (any case) Uninstall keys, 64- and
 *                                             32-bit views, and the Windows build,
 *                                             read in the parser sandbox by hivex
 *                                             (hn_software_examine): never in this
 *                                             process
 *   the detectors' files                      detect.c lists them
 *
 * RPM databases (/var/lib/rpm) are not read yet: librpm opens a database
 * only as files on disk, so it would have to be extracted and opened in the
 * sandbox; until then a snapshot that has one gets a warning saying its RPM
 * packages are not listed.
 *
 * A file that cannot be read (damaged, lost blob, hostile hive) becomes a
 * warning: the inventory is what could be read, and says what could not.
 */
#include "reconnect/reconnect.h"

#include "cleanroom/hunt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IV_MAX_SMALL (16u << 20)  /* text files */
#define IV_MAX_STATUS (64u << 20) /* dpkg status */
#define IV_MAX_BINARY (64u << 20) /* programs read for their version string */
#define IV_MAX_HIVE (1024u << 20)
#define IV_MAX_FORTI_FILES 1000u
#define IV_MAX_FORTI_WALK 200000u /* entries looked at: a file server's /srv is not searched whole */

typedef struct iv {
    cr_repo *repo;
    const cr_snapshot *snap;
    const char *root;
    cr_inventory *inv;
    size_t cap, capw;
} iv;

static char *full(const char *root, const char *rel)
{
    if (!strcmp(root, "/"))
        return cr_sprintf("/%s", rel);
    return cr_sprintf("%s/%s", root, rel);
}

static int warn(iv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn(iv *v, const char *fmt, ...)
{
    va_list ap;
    char *m;
    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    if (!m)
        return CR_ERROR;
    if (v->inv->nwarnings == v->capw) {
        size_t nc = v->capw ? v->capw * 2 : 8;
        char **nw = cr_realloc(v->inv->warnings, nc * sizeof(*nw));
        if (!nw) {
            free(m);
            return CR_ERROR;
        }
        v->inv->warnings = nw;
        v->capw = nc;
    }
    v->inv->warnings[v->inv->nwarnings++] = m;
    return 0;
}

static int add(iv *v, cr_inv_kind kind, const char *name, const char *version,
               const char *product, const char *evidence)
{
    if (v->inv->nitems == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        cr_inv_item *ni = cr_realloc(v->inv->items, nc * sizeof(*ni));
        if (!ni)
            return CR_ERROR;
        v->inv->items = ni;
        v->cap = nc;
    }
    cr_inv_item *it = &v->inv->items[v->inv->nitems];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->name = cr_strdup(name);
    it->version = version ? cr_strdup(version) : NULL;
    it->product = product ? cr_strdup(product) : NULL;
    it->evidence = cr_strdup(evidence);
    v->inv->nitems++;
    if (!it->name || (version && !it->version) || (product && !it->product) || !it->evidence)
        return CR_ERROR;
    return 0;
}

/* The node at rel below the root, each component matched without regard to case when
 * the exact name is absent (Windows trees). 0, or CR_ENOTFOUND; *path the full path. */
static int lookup_ci(cr_node *out, char **path, iv *v, const char *rel)
{
    char *exact = full(v->root, rel);
    int err;
    memset(out, 0, sizeof(*out));
    *path = NULL;
    if (!exact)
        return CR_ERROR;
    if ((err = cr_snapshot_lookup(out, v->repo, v->snap, exact)) == 0) {
        *path = exact;
        return 0;
    }
    cr_node_clear(out);
    free(exact);
    if (err != CR_ENOTFOUND)
        return err;
    /* Component by component, case-insensitively. */
    cr_node cur;
    cr_buf p = CR_BUF_INIT;
    memset(&cur, 0, sizeof(cur));
    if ((err = cr_snapshot_lookup(&cur, v->repo, v->snap, v->root)) < 0)
        return err;
    if (strcmp(v->root, "/") && cr_buf_put(&p, v->root, strlen(v->root)) < 0)
        err = CR_ERROR;
    const char *c = rel;
    while (!err && *c) {
        size_t k = strcspn(c, "/");
        cr_tree *t = NULL;
        const cr_node *hit = NULL;
        if (cur.type != CR_NODE_DIR || !cur.has_subtree) {
            err = CR_ENOTFOUND;
            break;
        }
        if ((err = cr_tree_load(&t, v->repo, &cur.subtree)) < 0)
            break;
        for (size_t i = 0; i < t->count && !hit; i++)
            if (strlen(t->nodes[i].name) == k && !strncasecmp(t->nodes[i].name, c, k))
                hit = &t->nodes[i];
        if (!hit) {
            err = CR_ENOTFOUND;
        } else {
            cr_node_clear(&cur);
            if ((err = cr_node_copy(&cur, hit)) == 0 &&
                (cr_buf_put(&p, "/", 1) < 0 || cr_buf_put(&p, hit->name, strlen(hit->name)) < 0))
                err = CR_ERROR;
        }
        cr_tree_free(t);
        c += k;
        while (*c == '/')
            c++;
    }
    if (!err && cr_buf_put(&p, "", 1) < 0)
        err = CR_ERROR;
    if (err) {
        cr_node_clear(&cur);
        cr_buf_free(&p);
        return err;
    }
    *out = cur;
    *path = (char *)p.ptr;
    return 0;
}

/* Read the file at rel (any case). 1 read; 0 absent; <0 only for out of memory
 * (other failures are warnings). */
static int read_rel(cr_buf *out, char **path, iv *v, const char *rel, size_t max)
{
    cr_node n;
    int err = lookup_ci(&n, path, v, rel);
    if (err < 0) {
        /* Absent, or on a damaged path: the latter said once, as a warning. */
        cr_node_clear(&n);
        free(*path);
        *path = NULL;
        if (err == CR_ENOTFOUND)
            return 0;
        return warn(v, "/%s: could not be looked up: %s", rel, cr_error_last());
    }
    if (n.type != CR_NODE_FILE) {
        cr_node_clear(&n);
        free(*path);
        *path = NULL;
        return 0;
    }
    if (n.size > max) {
        err = warn(v, "%s: too large to read (%llu bytes)", *path, (unsigned long long)n.size);
    } else if ((err = hn_read_node(out, v->repo, &n, max)) < 0) {
        err = warn(v, "%s: could not be read: %s", *path, cr_error_last());
    } else {
        cr_node_clear(&n);
        return 1;
    }
    cr_node_clear(&n);
    free(*path);
    *path = NULL;
    cr_buf_free(out);
    return err < 0 ? err : 0;
}

/* ------------------------------------------------------------ os-release */

static int os_release(iv *v)
{
    static const char *const files[] = {"etc/os-release", "usr/lib/os-release"};
    cr_buf b = CR_BUF_INIT;
    char *path = NULL;
    int rc = 0;
    for (size_t i = 0; i < 2 && rc == 0; i++)
        if ((rc = read_rel(&b, &path, v, files[i], IV_MAX_SMALL)) < 0)
            return rc;
    if (rc == 0)
        return 0;
    char *pretty = NULL, *id = NULL, *code = NULL;
    const char *p = (const char *)b.ptr, *end = p + b.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        static const char *const keys[] = {"PRETTY_NAME=", "ID=", "VERSION_CODENAME="};
        char **dst[] = {&pretty, &id, &code};
        for (int k = 0; k < 3; k++) {
            size_t kl = strlen(keys[k]);
            if ((size_t)(e - p) > kl && !memcmp(p, keys[k], kl) && !*dst[k]) {
                const char *s = p + kl, *se = e;
                if (s < se && (*s == '"' || *s == '\''))
                    s++;
                if (se > s && (se[-1] == '"' || se[-1] == '\''))
                    se--;
                if (se - s < 256)
                    *dst[k] = hn_utf8_clean(s, (size_t)(se - s));
            }
        }
        p = nl ? nl + 1 : end;
    }
    v->inv->os = pretty;
    pretty = NULL;
    /* The Debian tracker's data is per Debian release; a derivative's codename is not one. */
    if (id && !strcmp(id, "debian") && code && code[0]) {
        v->inv->suite = code;
        code = NULL;
    }
    free(pretty);
    free(id);
    free(code);
    free(path);
    cr_buf_free(&b);
    return 0;
}

/* ----------------------------------------------------------------- dpkg */

static int dpkg(iv *v)
{
    cr_buf b = CR_BUF_INIT;
    char *path = NULL;
    hn_dpkg *d = NULL;
    int err = read_rel(&b, &path, v, "var/lib/dpkg/status", IV_MAX_STATUS);
    if (err <= 0)
        return err;
    if ((err = hn_dpkg_new(&d, 0)) < 0 ||
        (err = hn_dpkg_parse_status(d, b.ptr ? (const char *)b.ptr : "", b.len)) < 0)
        goto done;
    for (size_t i = 0; i < hn_dpkg_npackages(d) && !err; i++) {
        const char *name, *version, *arch;
        char *src = NULL, *srcv = NULL;
        if (!hn_dpkg_package_present(d, i))
            continue; /* removed, its configuration files kept: nothing runs */
        hn_dpkg_package(d, i, &name, &version, &arch);
        hn_dpkg_package_source(d, i, &src, &srcv);
        if (!src || !srcv || (err = add(v, CR_INV_DEB, name, version, NULL, path)) < 0) {
            free(src);
            free(srcv);
            err = CR_ERROR;
            break;
        }
        cr_inv_item *it = &v->inv->items[v->inv->nitems - 1];
        it->source = src;
        it->source_version = srcv;
        if (arch && !(it->arch = cr_strdup(arch)))
            err = CR_ERROR;
    }
done:
    hn_dpkg_free(d);
    cr_buf_free(&b);
    free(path);
    return err;
}

/* ------------------------------------------------------------- Windows */

/* The detector a Windows program's DisplayName belongs to, or NULL. */
static const char *windows_product(const char *name)
{
    static const struct {
        const char *prefix, *product;
    } map[] = {
        {"Microsoft Exchange Server", "exchange"},
        {"Apache Tomcat", "tomcat"},
        {"Apache HTTP Server", "apache"},
        {"OpenSSH", "openssh"},
        {"Zimbra", "zimbra"},
        {"PHP ", "php"},
        {"nginx", "nginx"},
        {"Java ", "java"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strncasecmp(name, map[i].prefix, strlen(map[i].prefix)))
            return map[i].product;
    return NULL;
}

static int windows(iv *v)
{
    cr_buf b = CR_BUF_INIT;
    char *path = NULL, *ev = NULL;
    hn_autorun *a = NULL;
    size_t n = 0;
    int err = read_rel(&b, &path, v, "Windows/System32/config/SOFTWARE", IV_MAX_HIVE);
    if (err <= 0)
        return err;
    if ((err = hn_software_examine(&a, &n, b.ptr, b.len)) < 0) {
        /* Damaged, hostile (the sandboxed reader failed) or no room to read it: said, and the
         * rest of the inventory goes on. */
        err = warn(v, "%s: the registry hive could not be read: %s", path, cr_error_last());
        goto done;
    }
    const char *build = NULL, *ubr = NULL, *prod = NULL, *dver = NULL;
    for (size_t i = 0; i < n && !err; i++) {
        if (a[i].kind == HN_SOFTWARE_OS) {
            if (!strcmp(a[i].name, "CurrentBuild") || (!build && !strcmp(a[i].name, "CurrentBuildNumber")))
                build = a[i].data;
            else if (!strcmp(a[i].name, "UBR"))
                ubr = a[i].data;
            else if (!strcmp(a[i].name, "ProductName"))
                prod = a[i].data;
            else if (!strcmp(a[i].name, "DisplayVersion"))
                dver = a[i].data;
            continue;
        }
        if (a[i].kind != HN_SOFTWARE_APP || strcmp(a[i].name, "DisplayName") != 0)
            continue;
        /* One program: the values of the same key (entries of a key are adjacent). */
        const char *version = NULL;
        for (size_t k = 0; k < n; k++)
            if (a[k].kind == HN_SOFTWARE_APP && !strcmp(a[k].key, a[i].key) &&
                !strcmp(a[k].name, "DisplayVersion"))
                version = a[k].data;
        free(ev);
        if (!(ev = cr_sprintf("%s (HKLM\\SOFTWARE\\%s)", path, a[i].key))) {
            err = CR_ERROR;
            break;
        }
        if ((err = add(v, CR_INV_WINDOWS, a[i].data, version && *version ? version : NULL,
                       windows_product(a[i].data), ev)) < 0)
            break;
        cr_inv_item *it = &v->inv->items[v->inv->nitems - 1];
        if (!(it->arch = cr_strdup(strncasecmp(a[i].key, "Wow6432Node\\", 12) ? "64-bit"
                                                                               : "32-bit")))
            err = CR_ERROR;
    }
    if (!err && build) {
        unsigned long u = ubr ? strtoul(ubr, NULL, 0) : 0;
        free(v->inv->windows_build);
        v->inv->windows_build = ubr ? cr_sprintf("%s.%lu", build, u) : cr_strdup(build);
        if (!v->inv->os && prod)
            v->inv->os = dver ? cr_sprintf("%s %s", prod, dver) : cr_strdup(prod);
        if (!v->inv->windows_build)
            err = CR_ERROR;
    }
done:
    hn_autoruns_free(a, n);
    cr_buf_free(&b);
    free(path);
    free(ev);
    return err;
}

/* ------------------------------------------------------------ detectors */

static const struct detector {
    const char *id, *name;
    const char *files[6];
    size_t max;
} detectors[] = {
    {"openssh", "OpenSSH server", {"usr/sbin/sshd"}, IV_MAX_BINARY},
    {"apache", "Apache HTTP Server",
     {"usr/sbin/apache2", "usr/sbin/httpd", "usr/local/apache2/bin/httpd"}, IV_MAX_BINARY},
    {"nginx", "nginx", {"usr/sbin/nginx", "usr/local/nginx/sbin/nginx"}, IV_MAX_BINARY},
    {"php", "PHP", {"usr/bin/php", "usr/local/bin/php", "usr/sbin/php-fpm"}, IV_MAX_BINARY},
    {"tomcat", "Apache Tomcat",
     {"opt/tomcat/RELEASE-NOTES", "usr/local/tomcat/RELEASE-NOTES",
      "opt/apache-tomcat/RELEASE-NOTES"},
     IV_MAX_SMALL},
    {"java", "Java runtime", {"opt/java/openjdk/release"}, IV_MAX_SMALL},
    {"zimbra", "Zimbra Collaboration", {"opt/zimbra/.install_history"}, IV_MAX_SMALL},
    {"netscaler", "Citrix NetScaler ADC", {"nsconfig/ns.conf", "flash/nsconfig/ns.conf"},
     IV_MAX_SMALL},
    {"ivanti", "Ivanti Connect Secure (Pulse Secure)", {"home/VERSION"}, IV_MAX_SMALL},
};

static int detect_file(iv *v, const struct detector *d, const char *rel)
{
    cr_buf b = CR_BUF_INIT;
    char *path = NULL, *ver;
    int err = read_rel(&b, &path, v, rel, d->max);
    if (err <= 0)
        return err;
    if ((ver = rc_detect_version(d->id, b.ptr, b.len)))
        err = add(v, CR_INV_APP, d->name, ver, d->id, path);
    else
        err = warn(v, "%s: %s found, its version not recognised", path, d->name);
    free(ver);
    free(path);
    cr_buf_free(&b);
    return err;
}

/* The subfolders of rel that hold `file` (Java runtimes under /usr/lib/jvm, Tomcats
 * under /usr/share): each child's rel/CHILD/file tried with the detector. */
typedef struct kids {
    char **names;
    size_t n;
} kids;

static int kid_cb(const char *path, const cr_node *node, void *payload)
{
    kids *k = payload;
    const char *slash = strrchr(path, '/');
    if (node->type != CR_NODE_DIR || k->n >= 64)
        return 0;
    char **nn = cr_realloc(k->names, (k->n + 1) * sizeof(*nn));
    if (!nn)
        return CR_ERROR;
    k->names = nn;
    if (!(k->names[k->n] = cr_strdup(slash ? slash + 1 : path)))
        return CR_ERROR;
    k->n++;
    return 0;
}

static int detect_under(iv *v, const struct detector *d, const char *rel, const char *prefix,
                        const char *file)
{
    kids k = {NULL, 0};
    char *dir = full(v->root, rel);
    int err;
    if (!dir)
        return CR_ERROR;
    /* Absent or unreadable: nothing to detect there (the walk's own error is not ours). */
    (void)cr_snapshot_walk(v->repo, v->snap, dir, 0, kid_cb, &k);
    cr_error_clear();
    err = 0;
    for (size_t i = 0; i < k.n && err == 0; i++) {
        if (prefix && strncmp(k.names[i], prefix, strlen(prefix)) != 0)
            continue;
        char *r = cr_sprintf("%s/%s/%s", rel, k.names[i], file);
        err = r ? detect_file(v, d, r) : CR_ERROR;
        free(r);
    }
    for (size_t i = 0; i < k.n; i++)
        free(k.names[i]);
    free(k.names);
    free(dir);
    return err;
}

/* FortiGate configuration backups kept on this system: *.conf files (at most 4 MiB)
 * whose first line is "#config-version=", in the folders where people keep backups. */
typedef struct forti {
    iv *v;
    size_t seen, walked;
    int err, cut;
} forti;

static int forti_cb(const char *path, const cr_node *node, void *payload)
{
    forti *f = payload;
    size_t n = strlen(path);
    if (++f->walked > IV_MAX_FORTI_WALK) {
        f->cut = 1;
        return 1;
    }
    if (node->type != CR_NODE_FILE || n < 5 || strcasecmp(path + n - 5, ".conf") != 0 ||
        node->size < 16 || node->size > (4u << 20))
        return 0;
    if (++f->seen > IV_MAX_FORTI_FILES)
        return 1;
    cr_buf b = CR_BUF_INIT;
    if (hn_read_node(&b, f->v->repo, node, 4u << 20) == 0 && b.len >= 16 &&
        !memcmp(b.ptr, "#config-version=", 16)) {
        char *ver = rc_detect_version("fortios", b.ptr, b.len);
        if (ver)
            f->err = add(f->v, CR_INV_APP, "Fortinet FortiOS (configuration backup)", ver,
                         "fortios", path);
        free(ver);
    }
    cr_buf_free(&b);
    return f->err < 0 ? 1 : 0;
}

static int fortios(iv *v)
{
    static const char *const dirs[] = {"home", "root", "srv", "var/backups", "opt", "backup",
                                       "backups", "data", "Users"};
    forti f = {v, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !f.err && !f.cut; i++) {
        char *dir = full(v->root, dirs[i]);
        if (!dir)
            return CR_ERROR;
        (void)cr_snapshot_walk(v->repo, v->snap, dir, 1, forti_cb, &f);
        free(dir);
    }
    cr_error_clear();
    if (!f.err && (f.cut || f.seen > IV_MAX_FORTI_FILES))
        f.err = warn(v, "FortiGate configuration backups: the search stopped after %u entries "
                        "(%s): backups further on are not listed",
                     f.cut ? IV_MAX_FORTI_WALK : IV_MAX_FORTI_FILES,
                     f.cut ? "a large tree" : "many .conf files");
    return f.err;
}

static int detect(iv *v)
{
    int err = 0;
    for (size_t i = 0; i < sizeof(detectors) / sizeof(detectors[0]) && !err; i++)
        for (size_t k = 0; k < 6 && detectors[i].files[k] && !err; k++)
            err = detect_file(v, &detectors[i], detectors[i].files[k]);
    for (size_t i = 0; i < sizeof(detectors) / sizeof(detectors[0]) && !err; i++) {
        if (!strcmp(detectors[i].id, "java")) {
            if ((err = detect_under(v, &detectors[i], "usr/lib/jvm", NULL, "release")) == 0)
                err = detect_under(v, &detectors[i], "usr/java", NULL, "release");
        } else if (!strcmp(detectors[i].id, "tomcat")) {
            err = detect_under(v, &detectors[i], "usr/share", "tomcat", "RELEASE-NOTES");
        }
    }
    if (!err)
        err = fortios(v);
    cr_error_clear();
    return err;
}

static int rpm(iv *v)
{
    cr_node n;
    char *path = NULL;
    int err = lookup_ci(&n, &path, v, "var/lib/rpm");
    cr_node_clear(&n);
    if (err == 0)
        err = warn(v, "%s: an RPM package database: RPM packages are not listed by this version "
                      "of cleanroom (only dpkg, Windows programs and the detectors)",
                   path);
    else
        err = 0;
    free(path);
    cr_error_clear();
    return err;
}

/* ---------------------------------------------------------------- entry */

const char *cr_inv_kind_name(cr_inv_kind k)
{
    switch (k) {
    case CR_INV_DEB: return "deb";
    case CR_INV_RPM: return "rpm";
    case CR_INV_WINDOWS: return "windows";
    case CR_INV_APP: return "app";
    }
    return "?";
}

void cr_inventory_free(cr_inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->nitems; i++) {
        cr_inv_item *it = &inv->items[i];
        free(it->name);
        free(it->version);
        free(it->product);
        free(it->source);
        free(it->source_version);
        free(it->arch);
        free(it->evidence);
    }
    for (size_t i = 0; i < inv->nwarnings; i++)
        free(inv->warnings[i]);
    free(inv->items);
    free(inv->warnings);
    free(inv->os);
    free(inv->suite);
    free(inv->windows_build);
    free(inv->root);
    free(inv);
}

int cr_inventory_load(cr_inventory **out, cr_repo *repo, const cr_snapshot *snap)
{
    iv v;
    int err;
    *out = NULL;
    memset(&v, 0, sizeof(v));
    if (!repo || !snap) {
        cr_error_set("inventory: a vault and a snapshot are required");
        return CR_EINPUT;
    }
    if (!(v.inv = cr_calloc(1, sizeof(*v.inv))))
        return CR_ERROR;
    v.repo = repo;
    v.snap = snap;
    if ((err = cr_hunt_system_root(&v.inv->root, repo, snap)) < 0)
        goto done;
    v.root = v.inv->root;
    if ((err = os_release(&v)) < 0 || (err = dpkg(&v)) < 0 || (err = rpm(&v)) < 0 ||
        (err = windows(&v)) < 0 || (err = detect(&v)) < 0)
        goto done;
    *out = v.inv;
    v.inv = NULL;
done:
    cr_inventory_free(v.inv);
    return err;
}
