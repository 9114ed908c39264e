/*
 * The rule set of a hunt: YARA rules compiled once, the shipped ransomware
 * data files, the hash IOC lists, and the ids that say when two hunts judged
 * with the same rules.
 *
 * YARA. Rule files are the *.yar / *.yara files of builtin_dir/yara/ and of
 * every folder in opts->rules (searched recursively, hidden entries skipped,
 * sorted by relative path so that the order never depends on the file
 * system), plus the files named directly in opts->rules, whatever their
 * extension. A file reached twice (a folder and a file in it) is compiled
 * once. Each file is read here (bounded, no NUL byte) and compiled from
 * those bytes, so that what is hashed is exactly what is compiled.
 *
 * Namespaces. Like the `yara` command, every file is compiled in the
 * default namespace, so rule names are plain identifiers and a rule may use
 * a rule of an earlier file. Only when two files define the same identifier
 * (two rule packs from different sources) is that compile redone: each file
 * is compiled alone to learn its identifiers, and a file that redefines one
 * of an earlier file goes into its own namespace, named after the file
 * ("more/extra" for more/extra.yar), so that both packs still load. The
 * choice depends only on the files' contents and order. YARA's include
 * directive is disabled: an included file would escape the rule-set id; a
 * technician gives the folder instead.
 *
 * Names. The indicator of a YARA finding is "yara:<name>": the rule's
 * identifier, or "namespace:identifier" for a rule of a file that had to get
 * its own namespace (the form scan.c stores in hn_facts.yara). Meta
 * "category" (malware, ransomware, persistence, anomaly; default malware),
 * "severity" (info, low, medium, high, critical; default high) and
 * "description" are read once (hn_ruleset_rule, hn_ruleset_rule_by_name);
 * an unknown value is warned about and the default used.
 *
 * Errors. libyara reports errors and warnings through a callback with a line
 * number; the file name is ours (the current file). The first errors become
 * a CR_EINPUT message like "rules/x.yar line 12: syntax error, unexpected
 * identifier"; warnings ("... is slowing down scanning") go to opts->warning.
 *
 * Ids. yara_id = SHA-256 over the libyara version and, for each rule file in
 * compile order, its path-independent name ("builtin/webshells.yar" for the
 * shipped pack, the path below a folder given, the base name of a file given
 * directly) and its bytes: moving the rules folder keeps the id, editing a
 * rule changes it. id = SHA-256 over HN_ENGINE_VERSION, yara_id, the bytes
 * of the two data files and the IOC lists' fingerprint.
 *
 * Data files (builtin_dir): ransomware-extensions.txt has one extension per
 * line (leading dot optional), ransom-notes.txt one file name or fnmatch(3)
 * pattern per line; '#' at the start of a line makes a comment ("\#" for a
 * name that starts with '#'), blanks around entries are dropped, entries are
 * lowercased (ASCII) and matched against lowercased names. builtin_dir NULL
 * means no built-in rules nor data; a builtin_dir without one of its files
 * is an error (a broken installation must not hunt with half the rules).
 *
 * libyara is process-wide: hn_yara_init/hn_yara_fini keep a reference count
 * under a mutex. hn_ruleset_load takes a reference and hn_ruleset_free gives
 * it back, so a rule set can always be destroyed safely.
 */
#include "hunt/hunt.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define RULE_FILE_MAX (16u * 1024 * 1024)    /* bytes of one rule file */
#define RULE_TOTAL_MAX (256u * 1024 * 1024)  /* bytes of all rule files */
#define RULE_FILES_MAX 20000                 /* rule files in a set */
#define RULE_DIR_DEPTH 16                    /* folder nesting searched */
#define DATA_FILE_MAX (1u * 1024 * 1024)     /* a data file */
#define DATA_ENTRY_MAX 128                   /* bytes of one extension or note name */
#define IOC_FILE_MAX (1024ull * 1024 * 1024) /* an IOC list */
#define COMPILE_ERRORS_SHOWN 3
#define COMPILE_WARNINGS_MAX 20
#define META_TEXT_MAX 300

/* ------------------------------------------------------------ libyara */

static pthread_mutex_t yara_mu = PTHREAD_MUTEX_INITIALIZER;
static int yara_refs;

int hn_yara_init(void)
{
    int err = 0;
    pthread_mutex_lock(&yara_mu);
    if (yara_refs == 0) {
        int rc = yr_initialize();
        if (rc != ERROR_SUCCESS) {
            cr_error_set("cannot initialise the YARA library (error %d)", rc);
            err = CR_ERROR;
            goto done;
        }
    }
    yara_refs++;
done:
    pthread_mutex_unlock(&yara_mu);
    return err;
}

void hn_yara_fini(void)
{
    pthread_mutex_lock(&yara_mu);
    if (yara_refs > 0 && --yara_refs == 0)
        yr_finalize();
    pthread_mutex_unlock(&yara_mu);
}

/* ------------------------------------------------------------ rule files */

typedef struct rule_file {
    char *path; /* to open, and in messages */
    char *name; /* path-independent: relative path below the folder, or base name */
    char *ns;   /* YARA namespace: name without extension, made unique */
    dev_t dev;
    ino_t ino;
} rule_file;

typedef struct file_list {
    rule_file *f;
    size_t n, cap;
} file_list;

static void files_free(file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->f[i].path);
        free(l->f[i].name);
        free(l->f[i].ns);
    }
    free(l->f);
    memset(l, 0, sizeof(*l));
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int has_rule_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name && (strcasecmp(dot, ".yar") == 0 || strcasecmp(dot, ".yara") == 0);
}

static int files_add(file_list *l, const char *path, const char *name, const struct stat *st)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->f[i].dev == st->st_dev && l->f[i].ino == st->st_ino)
            return 0; /* reached twice: compiled once */
    if (l->n >= RULE_FILES_MAX) {
        cr_error_set("too many YARA rule files (more than %d)", RULE_FILES_MAX);
        return CR_EINPUT;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        rule_file *f = cr_realloc(l->f, cap * sizeof(*f));
        if (!f)
            return CR_ERROR;
        l->f = f;
        l->cap = cap;
    }
    rule_file *f = &l->f[l->n];
    memset(f, 0, sizeof(*f));
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    if (!(f->path = cr_strdup(path)) || !(f->name = cr_strdup(name))) {
        free(f->path);
        free(f->name);
        return CR_ERROR;
    }
    l->n++;
    return 0;
}

/* Relative paths of the rule files below a folder (appended to *rel). */
typedef struct str_list {
    char **s;
    size_t n, cap;
} str_list;

static void strs_free(str_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof(*l));
}

static int strs_add(str_list *l, char *s)
{
    if (!s)
        return CR_ERROR;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **p = cr_realloc(l->s, cap * sizeof(*p));
        if (!p) {
            free(s);
            return CR_ERROR;
        }
        l->s = p;
        l->cap = cap;
    }
    l->s[l->n++] = s;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder being searched, to skip a link back to one of them. */
typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

static int walk(str_list *out, const char *root, const char *rel, dir_id *up, int depth)
{
    char *dir = rel[0] ? cr_sprintf("%s/%s", root, rel) : cr_strdup(root);
    DIR *d = NULL;
    int err = 0;
    if (!dir)
        return CR_ERROR;
    if (depth >= RULE_DIR_DEPTH) {
        cr_error_set("rule folder %s is nested too deeply (more than %d levels)", dir,
                     RULE_DIR_DEPTH);
        err = CR_EINPUT;
        goto done;
    }
    if (!(d = opendir(dir))) {
        err = cr_error_errno("cannot read the rule folder %s", dir);
        if (err == CR_ENOTFOUND)
            err = CR_EINPUT;
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = rel[0] ? cr_sprintf("%s/%s", rel, de->d_name) : cr_strdup(de->d_name);
        char *full = sub ? cr_sprintf("%s/%s", root, sub) : NULL;
        struct stat st;
        if (!sub || !full) {
            free(sub);
            free(full);
            err = CR_ERROR;
            goto done;
        }
        if (stat(full, &st) < 0) {
            /* a dangling link or an entry removed meanwhile: not a rule file */
            free(sub);
            free(full);
            continue;
        }
        free(full);
        if (S_ISDIR(st.st_mode)) {
            int loop = 0;
            for (int k = 0; k <= depth && !loop; k++)
                loop = up[k].dev == st.st_dev && up[k].ino == st.st_ino;
            if (loop) { /* a link to a folder above: already searched */
                free(sub);
                continue;
            }
            up[depth + 1].dev = st.st_dev;
            up[depth + 1].ino = st.st_ino;
            err = walk(out, root, sub, up, depth + 1);
            free(sub);
            if (err < 0)
                goto done;
        } else if (S_ISREG(st.st_mode) && has_rule_ext(de->d_name)) {
            if (out->n >= RULE_FILES_MAX) {
                free(sub);
                cr_error_set("too many YARA rule files under %s (more than %d)", root,
                             RULE_FILES_MAX);
                err = CR_EINPUT;
                goto done;
            }
            if ((err = strs_add(out, sub)) < 0)
                goto done;
        } else {
            free(sub);
        }
    }
done:
    if (d)
        closedir(d);
    free(dir);
    return err;
}

/* Add a rule file (unless must_be_dir), or the rule files of a folder, sorted by relative path. */
static int gather(file_list *l, const char *path, int must_be_dir)
{
    struct stat st;
    str_list rel = {0};
    int err = 0;
    if (stat(path, &st) < 0) {
        err = cr_error_errno("cannot find the YARA rules %s", path);
        if (err == CR_ENOTFOUND)
            err = CR_EINPUT;
        goto done;
    }
    if (S_ISREG(st.st_mode) && !must_be_dir) {
        err = files_add(l, path, base_name(path), &st);
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        cr_error_set("%s is not a YARA rule file nor a folder of rule files", path);
        err = CR_EINPUT;
        goto done;
    }
    dir_id up[RULE_DIR_DEPTH + 1];
    up[0].dev = st.st_dev;
    up[0].ino = st.st_ino;
    if ((err = walk(&rel, path, "", up, 0)) < 0)
        goto done;
    if (rel.n > 1) /* an empty folder: qsort of a NULL array is undefined */
        qsort(rel.s, rel.n, sizeof(*rel.s), str_cmp);
    for (size_t i = 0; i < rel.n; i++) {
        char *full = cr_sprintf("%s/%s", path, rel.s[i]);
        struct stat fst;
        if (!full) {
            err = CR_ERROR;
            goto done;
        }
        if (stat(full, &fst) < 0) {
            err = cr_error_errno("cannot read the YARA rule file %s", full);
            free(full);
            goto done;
        }
        err = files_add(l, full, rel.s[i], &fst);
        free(full);
        if (err < 0)
            goto done;
    }
done:
    strs_free(&rel);
    return err;
}

/* The namespace each file gets if it must have its own: its name without the extension, unique. */
static int name_spaces(file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *name = l->f[i].name;
        const char *dot = strrchr(name, '.');
        const char *slash = strrchr(name, '/');
        size_t len = (dot && (!slash || dot > slash + 1) && dot != name) ? (size_t)(dot - name)
                                                                         : strlen(name);
        char *ns = cr_strndup(name, len);
        if (!ns)
            return CR_ERROR;
        for (int k = 2;; k++) {
            size_t j;
            for (j = 0; j < i && strcmp(l->f[j].ns, ns) != 0; j++)
                ;
            if (j == i && strcmp(ns, "default") != 0)
                break;
            free(ns);
            if (!(ns = cr_sprintf("%.*s~%d", (int)len, name, k)))
                return CR_ERROR;
        }
        l->f[i].ns = ns;
    }
    return 0;
}

/* Read a regular file of at most `max` bytes, NUL-terminated. */
static int read_file(cr_buf *out, const char *path, size_t max, const char *what)
{
    struct stat st;
    int err;
    if (stat(path, &st) < 0) {
        err = cr_error_errno("cannot read the %s %s", what, path);
        return err == CR_ENOTFOUND ? CR_EINPUT : err;
    }
    if (!S_ISREG(st.st_mode)) {
        cr_error_set("the %s %s is not a regular file", what, path);
        return CR_EINPUT;
    }
    if ((err = cr_fs_read_all(out, AT_FDCWD, path, max)) < 0) {
        if (err == CR_ECORRUPT) {
            cr_error_set("the %s %s is larger than the limit of %zu MiB", what, path,
                         max / (1024 * 1024));
            err = CR_EINPUT;
        }
        return err == CR_ENOTFOUND ? CR_EINPUT : err;
    }
    if ((err = cr_buf_put_u8(out, 0)) < 0)
        return err;
    out->len--;
    return 0;
}

static void sha_u64(EVP_MD_CTX *ctx, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    EVP_DigestUpdate(ctx, b, 8);
}

static void sha_bytes(EVP_MD_CTX *ctx, const void *p, size_t n)
{
    sha_u64(ctx, n);
    EVP_DigestUpdate(ctx, p, n);
}

static void sha_str(EVP_MD_CTX *ctx, const char *s)
{
    sha_bytes(ctx, s, strlen(s));
}

static int sha_final_hex(EVP_MD_CTX *ctx, char *hex)
{
    uint8_t d[32];
    unsigned dl = 0;
    if (!EVP_DigestFinal_ex(ctx, d, &dl) || dl != 32) {
        cr_error_set("SHA-256 failed");
        return CR_ERROR;
    }
    cr_hex_encode(hex, d, 32);
    return 0;
}

/* ------------------------------------------------------------ compiling */

typedef struct compile_ctx {
    const char *file; /* display path of the file being compiled */
    char msg[900];    /* the first errors, for cr_error_set */
    size_t errors;
    int includes;  /* an include directive was refused */
    int duplicate; /* an identifier was defined twice */
    int quiet;     /* warnings are not kept (trial compiles) */
    char *warn_file[COMPILE_WARNINGS_MAX];
    char *warn_msg[COMPILE_WARNINGS_MAX];
    size_t warnings;
} compile_ctx;

static void cc_reset(compile_ctx *c, int quiet)
{
    for (size_t i = 0; i < c->warnings && i < COMPILE_WARNINGS_MAX; i++) {
        free(c->warn_file[i]);
        free(c->warn_msg[i]);
    }
    memset(c, 0, sizeof(*c));
    c->quiet = quiet;
}

static void compile_cb(int level, const char *file_name, int line, const YR_RULE *rule,
                       const char *message, void *user)
{
    compile_ctx *c = user;
    const char *file = c->file ? c->file : file_name ? file_name : "(rules)";
    const char *m = message ? message : level == YARA_ERROR_LEVEL_ERROR ? "error" : "warning";
    char one[700];
    (void)rule;
    if (level == YARA_ERROR_LEVEL_ERROR) {
        if (strstr(m, "includes are disabled"))
            c->includes = 1;
        if (strstr(m, "duplicated identifier"))
            c->duplicate = 1;
        if (line > 0)
            snprintf(one, sizeof(one), "%s line %d: %s", file, line, m);
        else
            snprintf(one, sizeof(one), "%s: %s", file, m);
        if (c->errors < COMPILE_ERRORS_SHOWN) {
            size_t l = strlen(c->msg);
            snprintf(c->msg + l, sizeof(c->msg) - l, "%s%s", l ? "; " : "", one);
        }
        c->errors++;
        return;
    }
    if (c->quiet)
        return;
    if (c->warnings < COMPILE_WARNINGS_MAX) {
        if (line > 0)
            snprintf(one, sizeof(one), "line %d: %s", line, m);
        else
            snprintf(one, sizeof(one), "%s", m);
        c->warn_file[c->warnings] = strdup(file);
        c->warn_msg[c->warnings] = strdup(one);
    }
    c->warnings++;
}

/* Give the kept warnings to the caller. */
static void cc_flush(compile_ctx *c, const cr_hunt_options *opts)
{
    if (!opts->warning)
        return;
    for (size_t i = 0; i < c->warnings && i < COMPILE_WARNINGS_MAX; i++)
        if (c->warn_file[i] && c->warn_msg[i])
            opts->warning(c->warn_file[i], c->warn_msg[i], opts->payload);
    if (c->warnings > COMPILE_WARNINGS_MAX) {
        char msg[120];
        snprintf(msg, sizeof(msg), "%zu more YARA compiler warnings (not shown)",
                 c->warnings - COMPILE_WARNINGS_MAX);
        opts->warning("YARA rules", msg, opts->payload);
    }
}

/* The message of a failed compile. */
static void cc_error(const compile_ctx *c)
{
    if (c->errors > COMPILE_ERRORS_SHOWN)
        cr_error_set("%s (and %zu more errors)", c->msg, c->errors - COMPILE_ERRORS_SHOWN);
    else if (c->includes)
        cr_error_set("%s (include is not supported: give every rule file, or their folder, "
                     "instead)",
                     c->msg);
    else
        cr_error_set("%s", c->msg[0] ? c->msg : "the YARA rules do not compile");
}

/*
 * Compile texts[from..to) into *out (or just check them if out is NULL),
 * file i in namespace ns[i] (NULL: "default"). Errors are left in *cc.
 */
static int compile_pass(YR_RULES **out, compile_ctx *cc, const file_list *files,
                        const cr_buf *texts, char *const *ns, size_t from, size_t to)
{
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    int err = 0, rc;
    if ((rc = yr_compiler_create(&comp)) != ERROR_SUCCESS) {
        cr_error_set("cannot create a YARA compiler (error %d)", rc);
        return CR_ERROR;
    }
    yr_compiler_set_callback(comp, compile_cb, cc);
    yr_compiler_set_include_callback(comp, NULL, NULL, NULL); /* includes are disabled */
    /* The external variables LOKI and THOR define for every scanned file (scan.c sets
     * them per file): collections written for those scanners load unchanged. */
    for (size_t i = 0; i < HN_YARA_NEXTERNALS; i++)
        if ((rc = yr_compiler_define_string_variable(comp, hn_yara_externals[i], "")) !=
            ERROR_SUCCESS) {
            cr_error_set("cannot define the YARA external variable %s (error %d)",
                         hn_yara_externals[i], rc);
            yr_compiler_destroy(comp);
            return CR_ERROR;
        }
    for (size_t i = from; i < to; i++) {
        cc->file = files->f[i].path;
        if (yr_compiler_add_string(comp, (const char *)texts[i].ptr, ns ? ns[i] : NULL) > 0 ||
            cc->errors) {
            cc_error(cc);
            err = CR_EINPUT;
            goto done;
        }
    }
    if ((rc = yr_compiler_get_rules(comp, &rules)) != ERROR_SUCCESS) {
        cr_error_set("cannot build the compiled YARA rules (error %d)", rc);
        err = CR_ERROR;
        goto done;
    }
    *out = rules;
done:
    yr_compiler_destroy(comp);
    return err;
}

/*
 * Namespaces when identifiers clash: each file in "default" unless one of
 * its rules has the identifier of a rule of an earlier file; then in its own
 * namespace (its name without the extension). Each file is compiled alone
 * to learn its identifiers.
 */
static int assign_namespaces(char **ns, const file_list *files, const cr_buf *texts)
{
    str_list used = {0}, mine = {0};
    char **merged = NULL;
    int err = 0;
    for (size_t i = 0; i < files->n; i++) {
        compile_ctx cc;
        YR_RULES *r = NULL;
        const YR_RULE *rule;
        memset(&cc, 0, sizeof(cc));
        cc.quiet = 1;
        if ((err = compile_pass(&r, &cc, files, texts, NULL, i, i + 1)) < 0)
            goto done;
        yr_rules_foreach(r, rule)
        {
            if ((err = strs_add(&mine, cr_strdup(rule->identifier))) < 0)
                break;
        }
        yr_rules_destroy(r);
        if (err < 0)
            goto done;
        qsort(mine.s, mine.n, sizeof(*mine.s), str_cmp);
        int clash = 0;
        for (size_t k = 0; k < mine.n && !clash; k++)
            clash = used.n && bsearch(&mine.s[k], used.s, used.n, sizeof(*used.s), str_cmp);
        if (clash) {
            if (!(ns[i] = cr_strdup(files->f[i].ns))) {
                err = CR_ERROR;
                goto done;
            }
            strs_free(&mine);
            continue;
        }
        /* merge this file's identifiers into the sorted `used` */
        size_t total = used.n + mine.n, a = 0, b = 0, o = 0;
        if (!(merged = cr_malloc((total ? total : 1) * sizeof(*merged)))) {
            err = CR_ERROR;
            goto done;
        }
        while (a < used.n || b < mine.n)
            merged[o++] = (b == mine.n || (a < used.n && strcmp(used.s[a], mine.s[b]) <= 0))
                              ? used.s[a++]
                              : mine.s[b++];
        free(used.s);
        used.s = merged;
        used.n = used.cap = total;
        merged = NULL;
        free(mine.s);
        memset(&mine, 0, sizeof(mine));
    }
done:
    strs_free(&used);
    strs_free(&mine);
    free(merged);
    return err;
}

static int parse_severity(cr_severity *out, const char *s)
{
    static const struct {
        const char *name;
        cr_severity sev;
    } names[] = {{"info", CR_SEV_INFO},        {"informational", CR_SEV_INFO},
                 {"low", CR_SEV_LOW},          {"medium", CR_SEV_MEDIUM},
                 {"moderate", CR_SEV_MEDIUM},  {"high", CR_SEV_HIGH},
                 {"critical", CR_SEV_CRITICAL}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].sev;
            return 0;
        }
    return -1;
}

static int parse_category(cr_category *out, const char *s)
{
    static const char *const names[] = {"malware", "ransomware", "persistence", "anomaly"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (cr_category)(i + 1);
            return 0;
        }
    return -1;
}

static int info_name_cmp(const void *a, const void *b)
{
    const hn_rule_info *x = *(hn_rule_info *const *)a, *y = *(hn_rule_info *const *)b;
    return strcmp(x->name, y->name);
}

/*
 * Names and meta of every rule of rs->yara. The name is the identifier for a
 * rule of the default namespace, else "namespace:identifier" (the form
 * scan.c stores in hn_facts.yara).
 */
static int rule_infos(hn_ruleset *rs, const cr_hunt_options *opts)
{
    const YR_RULE *rule;
    size_t n = 0, shown = 0;
    yr_rules_foreach(rs->yara, rule) n++;
    rs->rule_info = cr_calloc(n ? n : 1, sizeof(*rs->rule_info));
    rs->rule_by_name = cr_calloc(n ? n : 1, sizeof(*rs->rule_by_name));
    if (!rs->rule_info || !rs->rule_by_name)
        return CR_ERROR;
    rs->nrule_info = n;
    size_t i = 0;
    yr_rules_foreach(rs->yara, rule)
    {
        hn_rule_info *ri = &rs->rule_info[i];
        rs->rule_by_name[i++] = ri;
        ri->rule = rule;
        ri->category = CR_CAT_MALWARE;
        ri->severity = CR_SEV_HIGH;
        const char *ns = rule->ns ? rule->ns->name : NULL;
        const char *id = rule->identifier ? rule->identifier : "";
        ri->name =
            (ns && *ns && strcmp(ns, "default") != 0) ? cr_sprintf("%s:%s", ns, id) : cr_strdup(id);
        if (!ri->name)
            return CR_ERROR;
        if (!RULE_IS_PRIVATE(rule))
            rs->yara_count++;
        const YR_META *meta;
        yr_rule_metas_foreach(rule, meta)
        {
            if (meta->type != META_TYPE_STRING || !meta->identifier || !meta->string)
                continue;
            const char *bad = NULL;
            if (strcasecmp(meta->identifier, "severity") == 0) {
                if (parse_severity(&ri->severity, meta->string) < 0)
                    bad = "info, low, medium, high or critical; high is used";
            } else if (strcasecmp(meta->identifier, "category") == 0) {
                if (parse_category(&ri->category, meta->string) < 0)
                    bad = "malware, ransomware, persistence or anomaly; malware is used";
            } else if (strcasecmp(meta->identifier, "description") == 0 && !ri->description) {
                char text[META_TEXT_MAX + 1];
                hn_text_clean(text, sizeof(text), meta->string, strlen(meta->string));
                if (text[0] && !(ri->description = cr_strdup(text)))
                    return CR_ERROR;
            }
            if (bad && opts->warning && shown++ < COMPILE_WARNINGS_MAX) {
                char msg[500], val[64];
                hn_text_clean(val, sizeof(val), meta->string, strlen(meta->string));
                snprintf(msg, sizeof(msg), "rule %s: unknown %s \"%s\" (expected %s)", ri->name,
                         meta->identifier, val, bad);
                opts->warning("YARA rules", msg, opts->payload);
            }
        }
    }
    qsort(rs->rule_by_name, n, sizeof(*rs->rule_by_name), info_name_cmp);
    return 0;
}

const char *const hn_yara_externals[HN_YARA_NEXTERNALS] = {"filename", "filepath", "extension",
                                                            "filetype", "owner"};

/*
 * File type words, as LOKI derives them from signature-base's
 * misc/file-type-signatures.txt: the signatures in the file's order, each
 * kept at its first place with its last word (LOKI reads them into a dict),
 * the first that the content starts with wins; else "UNKNOWN".
 */
const char *hn_filetype(const uint8_t *magic, size_t len)
{
    static const struct {
        const char *hex, *word;
    } sigs[] = {
        {"1F8B08", "GZIP"},          {"25504446", "PDF"},
        {"300000004C664C65", "EVT"}, {"504B030414000600", "Office"},
        {"504B030414000800", "JAR"}, {"504B537058", "PKSFX"},
        {"377ABCAF271C", "7Zip"},    {"46756E6374696F6E", "VBS"},
        {"425A68", "BZip2"},         {"5F27A889", "JAR"},
        {"FFD8FF", "JPEG"},          {"504B0506", "PKZIP"},
        {"526172211A07", "RAR"},     {"57696E5A6970", "WinZIP"},
        {"72656766", "Registry Hive"}, {"7B5C72746631", "RTF"},
        {"7573746172", "TAR"},       {"D4C3B2A1", "WINPCAP"},
        {"A1B2C3D4", "LIBPCAP"},     {"A1B2CD34", "LIBPCAP"},
        {"CAFEBABE", "Class"},       {"FF4B455942202020", "SYS Keyboard Driver"},
        {"FFFE3C003F0078006D006C", "Windows At Job"}, {"3C3F706870", "PHP"},
        {"0D444F43", "DOC"},         {"234469736B2044", "VMDK"},
        {"456C6646696C", "EVTX"},    {"414553", "AESCrypt"},
        {"434F5744", "VMDK"},        {"3C3F786D", "XML"},
        {"3C3F584D", "XML"},         {"435753", "CWS"},
        {"5A5753", "ZWS"},           {"474946", "GIF"},
        {"46494C45", "NTFS MFT"},    {"4A4152435300", "JARCS"},
        {"4B444D", "VMDK"},          {"4C00000001140200", "LNK"},
        {"4D534346", "CAB"},         {"504B0304", "ZIP"},
        {"FFFE3C00250040", "JSP"},   {"5F434153455F", "Encase File"},
        {"636F6E6563746978", "VHD"}, {"D0CF11E0A1B11AE1", "OLE"},
        {"FFFFFFFF", "SYS"},         {"23212F", "UNIX SCRIPT"},
        {"4D444D50", "MDMP"},        {"465753", "FWS (Flash)"},
        {"7F45", "ELF"},             {"2321", "Script"},
        {"60EA", "ARJ"},             {"1F9D", "TARZ"},
        {"1FA0", "TARZ"},            {"3C25", "JSP"},
        {"4D5A", "EXE"},             {"FFFE", "Windows Registry File"},
        {"E8", "SYS"},               {"E9", "SYS"},
        {"EB", "SYS"}};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        const char *h = sigs[i].hex;
        size_t n = strlen(h), k = 0;
        int ok = 1;
        for (; ok && k < n / 2; k++) {
            unsigned v;
            char two[3] = {h[2 * k], h[2 * k + 1], 0};
            v = (unsigned)strtoul(two, NULL, 16);
            ok = k < len && magic[k] == v;
        }
        if (ok)
            return sigs[i].word;
    }
    return "UNKNOWN";
}

/* 1 if a rule text names one of the external variables (as a word): the verdicts of its
 * rules then depend on the file's path and owner, not only on its bytes. */
static int uses_externals(const cr_buf *b)
{
    const char *s = (const char *)b->ptr;
    for (size_t k = 0; k < HN_YARA_NEXTERNALS; k++) {
        const char *w = hn_yara_externals[k];
        size_t n = strlen(w);
        for (const char *p = b->len ? memmem(s, b->len, w, n) : NULL; p;
             p = (size_t)(p - s) + 1 < b->len ? memmem(p + 1, b->len - (size_t)(p - s) - 1, w, n)
                                               : NULL) {
            char before = p > s ? p[-1] : ' ';
            char after = (size_t)(p - s) + n < b->len ? p[n] : ' ';
            int word = !(before == '_' || before == '$' || before == '.' || isalnum((unsigned char)before)) &&
                       !(after == '_' || isalnum((unsigned char)after));
            if (word)
                return 1;
        }
    }
    return 0;
}

/* Rules a file declares ("rule NAME", "private rule", "global rule"), for the count of
 * rules left out when the file does not compile. */
static size_t count_rule_decls(const cr_buf *b)
{
    const char *s = (const char *)b->ptr, *end = s + b->len;
    size_t n = 0;
    for (const char *p = s; p + 5 <= end; p++) {
        if (memcmp(p, "rule", 4) != 0 || (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) ||
            !(p[4] == ' ' || p[4] == '\t'))
            continue;
        /* the line up to here holds only blanks and modifiers */
        const char *l = p;
        while (l > s && l[-1] != '\n')
            l--;
        int ok = 1;
        for (const char *q = l; q < p && ok; q++)
            ok = *q == ' ' || *q == '\t' || isalpha((unsigned char)*q);
        if (ok)
            n++;
    }
    return n;
}

/*
 * --skip-broken-rules: each file compiled alone; those that do not compile are
 * dropped from `files` (and texts), each named with its error through
 * opts->warning, and counted in rs.
 */
static int drop_broken(hn_ruleset *rs, file_list *files, cr_buf *texts,
                       const cr_hunt_options *opts)
{
    size_t o = 0;
    for (size_t i = 0; i < files->n; i++) {
        compile_ctx cc;
        YR_RULES *r = NULL;
        memset(&cc, 0, sizeof(cc));
        cc.quiet = 1;
        int err = compile_pass(&r, &cc, files, texts, NULL, i, i + 1);
        if (r)
            yr_rules_destroy(r);
        cc_reset(&cc, 0);
        if (err == CR_EINPUT) {
            size_t nr = count_rule_decls(&texts[i]);
            char msg[1200];
            snprintf(msg, sizeof(msg), "rule file left out (%zu rule(s)): %s", nr,
                     cr_error_last());
            if (opts->warning)
                opts->warning(files->f[i].path, msg, opts->payload);
            rs->yara_files_skipped++;
            rs->yara_rules_skipped += nr;
            free(files->f[i].path);
            free(files->f[i].name);
            free(files->f[i].ns);
            cr_buf_free(&texts[i]);
            continue;
        }
        if (err < 0)
            return err;
        files->f[o] = files->f[i];
        texts[o] = texts[i];
        o++;
    }
    files->n = o;
    cr_error_clear();
    return 0;
}

static int compile_rules(hn_ruleset *rs, file_list *files, const cr_hunt_options *opts)
{
    compile_ctx cc;
    cr_buf *texts = NULL;
    char **ns = NULL;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    size_t total = 0;
    int err = 0;
    memset(&cc, 0, sizeof(cc));
    if (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        cr_error_set("SHA-256 failed");
        err = CR_ERROR;
        goto done;
    }
    sha_str(sha, "cleanroom-yara-rules");
    sha_str(sha, YR_VERSION);
    sha_str(sha, "externals:filename,filepath,extension,filetype,owner");
    texts = cr_calloc(files->n + 1, sizeof(*texts));
    ns = cr_calloc(files->n + 1, sizeof(*ns));
    if (!texts || !ns) {
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < files->n; i++) {
        rule_file *f = &files->f[i];
        if ((err = read_file(&texts[i], f->path, RULE_FILE_MAX, "YARA rule file")) < 0)
            goto done;
        total += texts[i].len;
        if (total > RULE_TOTAL_MAX) {
            cr_error_set("the YARA rule files are larger than %u MiB in all",
                         RULE_TOTAL_MAX / (1024 * 1024));
            err = CR_EINPUT;
            goto done;
        }
        if (memchr(texts[i].ptr, 0, texts[i].len)) {
            cr_error_set("%s is not a YARA rule file (it holds binary data; compiled rules "
                         "made by yarac are not accepted, give the source .yar file)",
                         f->path);
            err = CR_EINPUT;
            goto done;
        }
    }
    if (opts->version >= 3 && opts->skip_broken_rules &&
        (err = drop_broken(rs, files, texts, opts)) < 0)
        goto done;
    sha_u64(sha, files->n);
    for (size_t i = 0; i < files->n; i++) {
        sha_str(sha, files->f[i].name);
        sha_bytes(sha, texts[i].ptr, texts[i].len);
        rs->yara_externals |= uses_externals(&texts[i]);
    }
    if ((err = sha_final_hex(sha, rs->yara_id)) < 0 || files->n == 0)
        goto done;
    /* Every file in the default namespace; own namespaces only where identifiers clash. */
    err = compile_pass(&rs->yara, &cc, files, texts, NULL, 0, files->n);
    if (err == CR_EINPUT && cc.duplicate) {
        cc_reset(&cc, 0);
        if ((err = assign_namespaces(ns, files, texts)) < 0)
            goto done;
        err = compile_pass(&rs->yara, &cc, files, texts, ns, 0, files->n);
    }
    if (err < 0)
        goto done;
    cc_flush(&cc, opts);
    err = rule_infos(rs, opts);
done:
    cc_reset(&cc, 0);
    for (size_t i = 0; texts && i < files->n; i++)
        cr_buf_free(&texts[i]);
    free(texts);
    for (size_t i = 0; ns && i < files->n; i++)
        free(ns[i]);
    free(ns);
    EVP_MD_CTX_free(sha);
    return err;
}

/* ------------------------------------------------------------ data files */

/* Parse one data file: one entry per line. `ext`: extensions (else note names). */
static int parse_data(char ***out, size_t *count, const char *path, const cr_buf *b, int ext)
{
    const char *s = (const char *)b->ptr;
    size_t pos = 0, line = 0, n = 0, cap = 0;
    char **v = NULL;
    int err = 0;
    while (pos < b->len) {
        const char *nl = memchr(s + pos, '\n', b->len - pos);
        size_t e = nl ? (size_t)(nl - s) : b->len, i = pos;
        pos = nl ? e + 1 : b->len;
        line++;
        while (i < e && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
            i++;
        while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
            e--;
        if (i == e || s[i] == '#')
            continue;
        if (ext && s[i] == '.')
            i++;
        size_t len = e - i;
        const char *why = NULL;
        if (len == 0 || len > DATA_ENTRY_MAX)
            why = "empty or too long";
        for (size_t k = i; k < e && !why; k++) {
            unsigned char c = (unsigned char)s[k];
            if (c < 0x20 || c == 0x7f || c == '/')
                why = "it holds a control character or '/'";
            else if (ext && (c == '.' || c == ' ' || c == '\\' || c == '*' || c == '?' || c == '['))
                why = "an extension is the text after the last dot, without blanks or patterns";
        }
        if (why) {
            cr_error_set("%s line %zu: \"%.*s\" is not usable: %s", path, line,
                         (int)(len > 60 ? 60 : len), s + i, why);
            err = CR_EINPUT;
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = cr_realloc(v, cap * sizeof(*nv));
            if (!nv) {
                err = CR_ERROR;
                goto done;
            }
            v = nv;
        }
        char *entry = cr_strndup(s + i, len);
        if (!entry) {
            err = CR_ERROR;
            goto done;
        }
        for (char *p = entry; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        v[n++] = entry;
    }
    if (n > 1) /* qsort(NULL, 0) is undefined */
        qsort(v, n, sizeof(*v), str_cmp);
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (w && strcmp(v[w - 1], v[r]) == 0) {
            free(v[r]);
            continue;
        }
        v[w++] = v[r];
    }
    n = w;
done:
    if (err < 0) {
        for (size_t k = 0; k < n; k++)
            free(v[k]);
        free(v);
        return err;
    }
    *out = v;
    *count = n;
    return 0;
}

static int load_data(hn_ruleset *rs, EVP_MD_CTX *sha, const char *dir)
{
    static const char *const names[2] = {"ransomware-extensions.txt", "ransom-notes.txt"};
    cr_buf b = CR_BUF_INIT;
    int err = 0;
    for (int k = 0; k < 2; k++) {
        char *path = cr_sprintf("%s/%s", dir, names[k]);
        if (!path) {
            err = CR_ERROR;
            goto done;
        }
        err = read_file(&b, path, DATA_FILE_MAX, "data file");
        if (err == CR_EINPUT && access(path, F_OK) < 0)
            cr_error_set("the shipped rules folder %s has no %s: the installation is "
                         "incomplete (reinstall cleanroom, or point CLEANROOM_RULES to a "
                         "complete rules folder)",
                         dir, names[k]);
        if (err == 0)
            err = parse_data(k ? &rs->ransom_notes : &rs->ransom_ext,
                             k ? &rs->nransom_notes : &rs->nransom_ext, path, &b, k == 0);
        free(path);
        if (err < 0)
            goto done;
        sha_str(sha, names[k]);
        sha_bytes(sha, b.ptr, b.len);
    }
done:
    cr_buf_free(&b);
    return err;
}

static int load_iocs(hn_ruleset *rs, const cr_hunt_options *opts)
{
    cr_buf b = CR_BUF_INIT;
    int err = 0;
    for (size_t i = 0; i < opts->niocs; i++) {
        const char *path = opts->iocs[i];
        size_t bad = 0, before = hn_ioc_count(rs->iocs);
        if (!path) {
            cr_error_set("an IOC list path is missing");
            err = CR_EINPUT;
            goto done;
        }
        if ((err = read_file(&b, path, IOC_FILE_MAX, "IOC list")) < 0)
            goto done;
        err = hn_ioc_add_list(rs->iocs, base_name(path), b.ptr, b.len, &bad, opts->warning,
                              opts->payload);
        if (err < 0)
            goto done;
        if (hn_ioc_count(rs->iocs) == before && bad == 0 && opts->warning)
            opts->warning(path, "no new MD5, SHA-1 or SHA-256 hash in this IOC list",
                          opts->payload);
    }
done:
    cr_buf_free(&b);
    return err;
}

/* ------------------------------------------------------------ the rule set */

int hn_ruleset_load(hn_ruleset **out, const cr_hunt_options *opts)
{
    hn_ruleset *rs = NULL;
    file_list files = {0};
    EVP_MD_CTX *sha = NULL;
    int err, yara_ref = 0;
    *out = NULL;
    if (!opts) {
        cr_error_set("no hunt options");
        return CR_EINPUT;
    }
    if ((err = hn_yara_init()) < 0)
        return err;
    yara_ref = 1;
    if (!(rs = cr_calloc(1, sizeof(*rs)))) {
        err = CR_ERROR;
        goto done;
    }
    rs->yara_ref = 1;
    yara_ref = 0;
    if ((err = hn_ioc_new(&rs->iocs)) < 0)
        goto done;

    /* The rule files, in a fixed order: built-in first, then the user's. */
    if (opts->builtin_dir) {
        struct stat st;
        char *ydir = cr_sprintf("%s/yara", opts->builtin_dir);
        if (!ydir) {
            err = CR_ERROR;
            goto done;
        }
        if (stat(opts->builtin_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cr_error_set("the shipped rules folder %s is missing: reinstall cleanroom, or point "
                         "CLEANROOM_RULES to the rules folder",
                         opts->builtin_dir);
            err = CR_EINPUT;
        } else if (stat(ydir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cr_error_set("the shipped rules folder %s has no yara/ folder: the installation "
                         "is incomplete",
                         opts->builtin_dir);
            err = CR_EINPUT;
        } else {
            size_t first = files.n;
            err = gather(&files, ydir, 1);
            /* the built-in pack is named "builtin/<file>" in the id */
            for (size_t i = first; err == 0 && i < files.n; i++) {
                char *n = cr_sprintf("builtin/%s", files.f[i].name);
                if (!n) {
                    err = CR_ERROR;
                    break;
                }
                free(files.f[i].name);
                files.f[i].name = n;
            }
        }
        free(ydir);
        if (err < 0)
            goto done;
    }
    for (size_t i = 0; i < opts->nrules; i++) {
        if (!opts->rules[i]) {
            cr_error_set("a YARA rule path is missing");
            err = CR_EINPUT;
            goto done;
        }
        if ((err = gather(&files, opts->rules[i], 0)) < 0)
            goto done;
    }
    /* Namespaces: the path-independent name without its extension. */
    if ((err = name_spaces(&files)) < 0)
        goto done;
    if ((err = compile_rules(rs, &files, opts)) < 0)
        goto done;

    /* Data files and IOC lists, then the id of everything. */
    if (!(sha = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL)) {
        cr_error_set("SHA-256 failed");
        err = CR_ERROR;
        goto done;
    }
    sha_str(sha, HN_ENGINE_VERSION);
    sha_str(sha, rs->yara_id);
    if (opts->builtin_dir) {
        if ((err = load_data(rs, sha, opts->builtin_dir)) < 0)
            goto done;
    } else {
        sha_str(sha, "no shipped data files");
    }
    if ((err = load_iocs(rs, opts)) < 0)
        goto done;
    sha_str(sha, "ioc-lists");
    hn_ioc_fingerprint(rs->iocs, sha);
    if ((err = sha_final_hex(sha, rs->id)) < 0)
        goto done;
    *out = rs;
    rs = NULL;
done:
    EVP_MD_CTX_free(sha);
    files_free(&files);
    hn_ruleset_free(rs);
    if (yara_ref)
        hn_yara_fini();
    return err;
}

int hn_ruleset_load_names(hn_ruleset **out, const char *builtin_dir)
{
    hn_ruleset *rs = NULL;
    EVP_MD_CTX *sha = NULL;
    int err = 0;
    *out = NULL;
    if (!(rs = cr_calloc(1, sizeof(*rs))) || !(sha = EVP_MD_CTX_new()) ||
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        cr_error_set("out of memory loading the ransomware names");
        err = CR_ERROR;
        goto done;
    }
    err = load_data(rs, sha, builtin_dir);
done:
    EVP_MD_CTX_free(sha);
    if (err < 0)
        hn_ruleset_free(rs);
    else
        *out = rs;
    return err;
}

void hn_ruleset_free(hn_ruleset *rs)
{
    if (!rs)
        return;
    if (rs->yara)
        yr_rules_destroy(rs->yara);
    for (size_t i = 0; i < rs->nrule_info; i++) {
        free((char *)rs->rule_info[i].name);
        free((char *)rs->rule_info[i].description);
    }
    free(rs->rule_info);
    free(rs->rule_by_name);
    hn_ioc_free(rs->iocs);
    for (size_t i = 0; i < rs->nransom_ext; i++)
        free(rs->ransom_ext[i]);
    free(rs->ransom_ext);
    for (size_t i = 0; i < rs->nransom_notes; i++)
        free(rs->ransom_notes[i]);
    free(rs->ransom_notes);
    if (rs->yara_ref)
        hn_yara_fini();
    free(rs);
}

const hn_rule_info *hn_ruleset_rule(const hn_ruleset *rs, const YR_RULE *rule)
{
    if (!rs || !rs->yara || !rule || rule < rs->yara->rules_table)
        return NULL;
    size_t i = (size_t)(rule - rs->yara->rules_table);
    return i < rs->nrule_info ? &rs->rule_info[i] : NULL;
}

const hn_rule_info *hn_ruleset_rule_by_name(const hn_ruleset *rs, const char *name)
{
    if (!rs || !name)
        return NULL;
    size_t lo = 0, hi = rs->nrule_info;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rs->rule_by_name[mid]->name, name);
        if (c == 0)
            return rs->rule_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The last path component of `name`, lowercased (ASCII) into buf; NULL if too long or empty. */
static const char *lower_base(char *buf, size_t buflen, const char *name)
{
    const char *b = base_name(name);
    size_t n = strlen(b);
    if (n == 0 || n >= buflen)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        buf[i] = (b[i] >= 'A' && b[i] <= 'Z') ? (char)(b[i] - 'A' + 'a') : b[i];
    return buf;
}

const char *hn_ruleset_ransom_ext(const hn_ruleset *rs, const char *name)
{
    char ext[DATA_ENTRY_MAX + 1];
    if (!rs || !name || rs->nransom_ext == 0)
        return NULL;
    const char *b = base_name(name);
    const char *dot = strrchr(b, '.');
    if (!dot || dot == b || !dot[1]) /* no extension, or a hidden file's name */
        return NULL;
    size_t n = strlen(dot + 1);
    if (n > DATA_ENTRY_MAX)
        return NULL;
    for (size_t i = 0; i <= n; i++) {
        char c = dot[1 + i];
        ext[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    size_t lo = 0, hi = rs->nransom_ext;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(rs->ransom_ext[mid], ext);
        if (c == 0)
            return rs->ransom_ext[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int hn_ruleset_ransom_note(const hn_ruleset *rs, const char *name)
{
    char buf[512];
    if (!rs || !name)
        return 0;
    const char *b = lower_base(buf, sizeof(buf), name);
    if (!b)
        return 0;
    for (size_t i = 0; i < rs->nransom_notes; i++) {
        const char *p = rs->ransom_notes[i];
        if (strpbrk(p, "*?[\\") ? fnmatch(p, b, 0) == 0 : strcmp(p, b) == 0)
            return 1;
    }
    return 0;
}
