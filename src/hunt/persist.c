/*
 * Linux persistence: the places an intruder uses to come back after a reboot
 * or a password change, judged by difference between consecutive snapshots.
 *
 * hunt.c calls hn_persist_linux for every node added or changed since the
 * previous snapshot of the source (every node of the first one, the
 * baseline). The path, relative to the system root, says what the node is:
 *
 *   cron         /etc/crontab, /etc/anacrontab, the files of /etc/cron.d, the user
 *                crontabs under /var/spool/cron; the scripts of /etc/cron.{hourly,...}
 *   systemd      unit files, drop-ins and the symlinks that enable units (in
 *                *.wants/) in the system and user unit folders, and generators
 *   rc-local     /etc/rc.local, the files of /etc/init.d and /etc/rc?.d
 *   ld-preload   /etc/ld.so.preload
 *   ssh-key      .ssh/authorized_keys (and authorized_keys2) anywhere
 *   uid0         /etc/passwd: accounts with user id 0 other than root
 *   sudoers      /etc/sudoers, the files of /etc/sudoers.d
 *   pam          the files of /etc/pam.d, /etc/pam.conf, PAM modules (lib/.../security)
 *   suid         any regular file with the setuid or setgid bit
 *   webroot      scripts under /var/www, /srv/www, /srv/http, nginx's html,
 *                Tomcat's webapps
 *
 * Files made of items (crontabs, authorized_keys, sudoers, passwd, PAM
 * configuration, rc.local, ld.so.preload) are judged item by item: only items
 * of the new content that the old content did not have are new, and each new
 * one is a finding whose evidence is the item (a normalized line, a key's type,
 * fingerprint and comment, an account name). A file that changed for another
 * reason keeps the earlier findings whose item is still there: they are
 * emitted again as they were, so that their first sighting stays the day the
 * item appeared. Other files are judged whole.
 *
 * The snapshot's own dpkg database (dpkg.c) gives the context: a file of a
 * package that matches the md5 the package gives is routine (info: a package
 * was installed or upgraded); a package's file that no longer matches is
 * medium for configuration and high for programs and libraries; a file no
 * package installed is high, or critical where a single item gives an
 * intruder everything (ld.so.preload, an extra UID 0 account, a PAM module).
 * A few commands that no routine job runs (a download piped into a shell,
 * /dev/tcp, netcat with -e, base64-decoded payloads, miners), sudo rules
 * granting everything without a password and PAM rules that let anyone in or
 * run programs (pam_permit as sufficient, pam_exec, a module no package
 * installed) raise a finding to high even in a package's modified file.
 * Symlinks that enable a unit or an init script are judged by their target:
 * a package's unit is routine, one nobody installed is high. Without a
 * package database (not Debian), a change in a vendor folder (/usr/lib/...)
 * cannot be told routine or not and is medium.
 *
 * setuid/setgid files: a package's file with matching sums is routine, except
 * when the bytes stayed the same and only the bit (or the owner) changed:
 * someone ran chmod u+s on a package's program, which no package upgrade does
 * (modes set with dpkg-statoverride excepted).
 *
 * A file whose content did not change (only its mode or owner did) keeps its
 * earlier findings as they were. A file the program reading its folder skips
 * ("x.dpkg-dist", ".placeholder") is only noted.
 *
 * The first snapshot of a source is an inventory: every item that is not a
 * package's unmodified file is reported at info level, nothing higher (YARA,
 * IOC and ransomware judges still apply in full). Package files that match
 * their sums are left out of it, so a fresh Debian gives a handful of notes;
 * the scripts of web roots are left out too (thousands in a web application).
 * A package's shell or interpreter found setuid is noted (no distribution
 * ships one so).
 *
 * The bytes judged are untrusted: files are read with a maximum size, items
 * are capped in number and length, and evidence is made printable (control
 * bytes become blanks, invalid UTF-8 "?") before it is stored.
 */
#include "hunt/hunt.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PS_MAX_LINEFILE (4u * 1024 * 1024) /* crontab, authorized_keys, sudoers, PAM... */
#define PS_MAX_PASSWD (16u * 1024 * 1024)
#define PS_MAX_SCRIPT (1u * 1024 * 1024)    /* read for the suspicious-command check */
#define PS_MAX_ITEMS 20000u                 /* items read from one file */
#define PS_MAX_NEW 200u                     /* new items reported per file; then a summary */
#define PS_MAX_EVIDENCE 512                 /* bytes of evidence kept */
#define PS_MAX_LINE 65536                   /* longest logical line considered */

enum ps_kind {
    K_NONE = 0,
    K_CRONTAB,    /* lines */
    K_CRONSCRIPT, /* whole file */
    K_UNIT,       /* whole file, or a symlink (alias, mask, enabling link) */
    K_GENERATOR,  /* whole file (program run by systemd at boot) */
    K_RCLOCAL,    /* lines */
    K_INITD,      /* whole file */
    K_RCLINK,     /* symlink to an init script */
    K_PRELOAD,    /* lines (library paths) */
    K_SSHKEY,     /* lines (keys) */
    K_PASSWD,     /* lines (UID 0 accounts) */
    K_SUDOERS,    /* lines */
    K_PAM,        /* lines */
    K_PAMMOD,     /* whole file (library) */
    K_WEB,        /* whole file */
};

typedef struct ps_loc {
    enum ps_kind kind;
    int vendor;  /* a folder only packages write to (/usr/lib/...) */
    int ignored; /* the program reading the folder skips this name */
    int minor;   /* authorized_keys* that sshd does not read by default */
} ps_loc;

static const char *kind_indicator(enum ps_kind k)
{
    switch (k) {
    case K_CRONTAB:
    case K_CRONSCRIPT:
        return "persistence:cron";
    case K_UNIT:
    case K_GENERATOR:
        return "persistence:systemd";
    case K_RCLOCAL:
    case K_INITD:
    case K_RCLINK:
        return "persistence:rc-local";
    case K_PRELOAD:
        return "persistence:ld-preload";
    case K_SSHKEY:
        return "persistence:ssh-key";
    case K_PASSWD:
        return "persistence:uid0";
    case K_SUDOERS:
        return "persistence:sudoers";
    case K_PAM:
    case K_PAMMOD:
        return "persistence:pam";
    case K_WEB:
        return "persistence:webroot-script";
    case K_NONE:
        break;
    }
    return NULL;
}

#define IND_SUID "persistence:suid"

static int is_line_kind(enum ps_kind k)
{
    return k == K_CRONTAB || k == K_RCLOCAL || k == K_PRELOAD || k == K_SSHKEY || k == K_PASSWD ||
           k == K_SUDOERS || k == K_PAM;
}

/* ------------------------------------------------------------ paths */

/* The rest of s after prefix p, or NULL. */
static const char *after(const char *s, const char *p)
{
    size_t n = strlen(p);
    return strncmp(s, p, n) == 0 ? s + n : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A single path component: non-empty, no "/". */
static int one_name(const char *r)
{
    return r && *r && !strchr(r, '/');
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Names that cron, run-parts and friends skip: editor and package-manager leftovers. */
static int leftover_name(const char *name)
{
    static const char *const sfx[] = {"~",         ".dpkg-old", ".dpkg-new",    ".dpkg-dist",
                                      ".dpkg-tmp", ".dpkg-bak", ".dpkg-remove", ".ucf-old",
                                      ".ucf-new",  ".ucf-dist", ".rpmsave",     ".rpmnew",
                                      ".rpmorig",  ".swp"};
    if (name[0] == '.' || name[0] == '#')
        return 1;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
        if (ends_with(name, sfx[i]))
            return 1;
    return 0;
}

static int is_unit_name(const char *name)
{
    static const char *const sfx[] = {".service", ".socket",    ".timer", ".path",
                                      ".mount",   ".automount", ".swap",  ".target",
                                      ".slice",   ".scope",     ".device"};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
        if (ends_with(name, sfx[i]) && strlen(name) > strlen(sfx[i]))
            return 1;
    return 0;
}

/* A home folder prefix: "/root/" or "/home/<user>/"; returns the rest. */
static const char *in_home(const char *p)
{
    const char *r = after(p, "/root/");
    if (r)
        return r;
    if (!(r = after(p, "/home/")))
        return NULL;
    const char *slash = strchr(r, '/');
    return (slash && slash > r) ? slash + 1 : NULL;
}

static int classify_systemd(ps_loc *loc, const char *rest)
{
    /* rest: below a unit folder. Units, drop-ins ("x.service.d/y.conf") and links in
     * "x.target.wants/" (or .requires/.upholds); anything else is not read by systemd. */
    const char *slash = strchr(rest, '/');
    if (!slash) {
        if (is_unit_name(rest))
            loc->kind = K_UNIT;
        return loc->kind != K_NONE;
    }
    if (strchr(slash + 1, '/') || slash == rest)
        return 0;
    size_t dl = (size_t)(slash - rest);
    const char *name = slash + 1;
    if ((dl > 2 && strncmp(slash - 2, ".d", 2) == 0 && ends_with(name, ".conf")) ||
        ((dl > 6 && strncmp(slash - 6, ".wants", 6) == 0) ||
         (dl > 9 && strncmp(slash - 9, ".requires", 9) == 0) ||
         (dl > 8 && strncmp(slash - 8, ".upholds", 8) == 0)))
        loc->kind = K_UNIT;
    return loc->kind != K_NONE;
}

static int classify(ps_loc *loc, const char *p)
{
    const char *r;
    memset(loc, 0, sizeof(*loc));
    if (p[0] != '/')
        return 0;

    /* cron */
    if (strcmp(p, "/etc/crontab") == 0 || strcmp(p, "/etc/anacrontab") == 0) {
        loc->kind = K_CRONTAB;
        return 1;
    }
    if (one_name(r = after(p, "/etc/cron.d/"))) {
        loc->kind = K_CRONTAB;
        loc->ignored = leftover_name(r);
        return 1;
    }
    static const char *const periods[] = {"/etc/cron.hourly/", "/etc/cron.daily/",
                                          "/etc/cron.weekly/", "/etc/cron.monthly/",
                                          "/etc/cron.yearly/"};
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
        if (one_name(r = after(p, periods[i]))) {
            loc->kind = K_CRONSCRIPT;
            loc->ignored = leftover_name(r);
            return 1;
        }
    if (one_name(r = after(p, "/var/spool/cron/crontabs/")) ||
        one_name(r = after(p, "/var/spool/cron/tabs/")) ||
        one_name(r = after(p, "/var/spool/cron/"))) {
        loc->kind = K_CRONTAB;
        loc->ignored = leftover_name(r);
        return 1;
    }

    /* systemd */
    static const struct {
        const char *dir;
        int vendor;
    } units[] = {{"/etc/systemd/system/", 0},           {"/etc/systemd/user/", 0},
                 {"/lib/systemd/system/", 1},           {"/lib/systemd/user/", 1},
                 {"/usr/lib/systemd/system/", 1},       {"/usr/lib/systemd/user/", 1},
                 {"/usr/local/lib/systemd/system/", 0}, {"/usr/local/lib/systemd/user/", 0}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if ((r = after(p, units[i].dir))) {
            loc->vendor = units[i].vendor;
            return classify_systemd(loc, r);
        }
    if ((r = in_home(p)) && (r = after(r, ".config/systemd/user/")))
        return classify_systemd(loc, r);
    static const struct {
        const char *dir;
        int vendor;
    } gens[] = {
        {"/etc/systemd/system-generators/", 0},          {"/etc/systemd/user-generators/", 0},
        {"/lib/systemd/system-generators/", 1},          {"/lib/systemd/user-generators/", 1},
        {"/usr/lib/systemd/system-generators/", 1},      {"/usr/lib/systemd/user-generators/", 1},
        {"/usr/local/lib/systemd/system-generators/", 0}};
    for (size_t i = 0; i < sizeof(gens) / sizeof(gens[0]); i++)
        if (one_name(r = after(p, gens[i].dir))) {
            loc->kind = K_GENERATOR;
            loc->vendor = gens[i].vendor;
            return 1;
        }

    /* SysV init */
    if (strcmp(p, "/etc/rc.local") == 0 || strcmp(p, "/etc/rc.d/rc.local") == 0) {
        loc->kind = K_RCLOCAL;
        return 1;
    }
    if (one_name(r = after(p, "/etc/init.d/")) || one_name(r = after(p, "/etc/rc.d/init.d/"))) {
        loc->kind = K_INITD;
        loc->ignored = leftover_name(r);
        return 1;
    }
    r = after(p, "/etc/rc.d/rc");
    if (!r)
        r = after(p, "/etc/rc");
    if (r && ((r[0] >= '0' && r[0] <= '6') || r[0] == 'S') && strncmp(r + 1, ".d/", 3) == 0 &&
        one_name(r + 4)) {
        loc->kind = K_RCLINK;
        loc->ignored = leftover_name(r + 4);
        return 1;
    }

    if (strcmp(p, "/etc/ld.so.preload") == 0) {
        loc->kind = K_PRELOAD;
        return 1;
    }
    if (strcmp(p, "/etc/passwd") == 0) {
        loc->kind = K_PASSWD;
        return 1;
    }
    if (strcmp(p, "/etc/sudoers") == 0) {
        loc->kind = K_SUDOERS;
        return 1;
    }
    if (one_name(r = after(p, "/etc/sudoers.d/"))) {
        /* sudo skips names that end in "~" or contain a "." */
        loc->kind = K_SUDOERS;
        loc->ignored = ends_with(r, "~") || strchr(r, '.') != NULL;
        return 1;
    }
    if (strcmp(p, "/etc/pam.conf") == 0) {
        loc->kind = K_PAM;
        return 1;
    }
    if (one_name(r = after(p, "/etc/pam.d/"))) {
        loc->kind = K_PAM;
        loc->ignored = leftover_name(r);
        return 1;
    }

    /* authorized_keys anywhere: service accounts have homes outside /home too. */
    {
        const char *name = base_name(p);
        if (strncmp(name, "authorized_keys", 15) == 0 && name - p >= 6 &&
            strncmp(name - 6, "/.ssh/", 6) == 0) {
            loc->kind = K_SSHKEY;
            loc->minor =
                strcmp(name, "authorized_keys") != 0 && strcmp(name, "authorized_keys2") != 0;
            return 1;
        }
    }

    /* PAM modules: /lib/security, /lib64/security, /usr/lib{,64}/security,
     * /[usr/]lib/<triplet>/security */
    if (ends_with(p, ".so")) {
        const char *q = after(p, "/usr");
        q = q ? q : p;
        const char *lib = after(q, "/lib/");
        if (!lib)
            lib = after(q, "/lib64/");
        if (lib) {
            const char *sec = after(lib, "security/");
            if (!sec) {
                const char *slash = strchr(lib, '/');
                if (slash && slash > lib)
                    sec = after(slash + 1, "security/");
            }
            if (one_name(sec)) {
                loc->kind = K_PAMMOD;
                loc->vendor = 1;
                return 1;
            }
        }
    }

    /* web roots */
    static const char *const webroots[] = {"/var/www/", "/srv/www/", "/srv/http/",
                                           "/usr/share/nginx/html/"};
    int web = 0;
    for (size_t i = 0; i < sizeof(webroots) / sizeof(webroots[0]) && !web; i++)
        web = after(p, webroots[i]) != NULL;
    if (!web && (r = after(p, "/var/lib/tomcat"))) {
        const char *slash = strchr(r, '/');
        web = slash && after(slash, "/webapps/") != NULL;
    }
    if (web) {
        static const char *const ext[] = {".php",  ".phtml", ".php3", ".php4", ".php5", ".php7",
                                          ".phar", ".jsp",   ".jspx", ".asp",  ".aspx", ".ashx",
                                          ".asmx", ".cgi",   ".pl",   ".py",   ".sh",   ".war"};
        for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
            if (ends_with_ci(p, ext[i])) {
                loc->kind = K_WEB;
                return 1;
            }
    }
    return 0;
}

unsigned hn_persist_linux_need(const char *relpath, const cr_node *node)
{
    ps_loc loc;
    if (!node || node->type != CR_NODE_FILE)
        return 0;
    if ((node->mode & 06000) || classify(&loc, relpath))
        return HN_HAVE_MD5;
    return 0;
}

/* ------------------------------------------------------------ text */

static int blank_or_comment(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i == n || s[i] == '#';
}

/* ------------------------------------------------------------ items */

typedef struct ps_item {
    char *ev;          /* evidence: the item as reported */
    const char *why;   /* static: why it is worse than the usual (or NULL) */
    cr_severity floor; /* at least this severity (baseline aside) */
} ps_item;

typedef struct ps_items {
    ps_item *v;
    size_t n, cap;
    size_t dropped; /* beyond PS_MAX_ITEMS */
} ps_items;

static void items_clear(ps_items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i].ev);
    free(it->v);
    memset(it, 0, sizeof(*it));
}

static int items_add(ps_items *it, const char *ev, const char *why, cr_severity floor)
{
    if (it->n >= PS_MAX_ITEMS) {
        it->dropped++;
        return 0;
    }
    /* The same item twice in a file is one item. */
    for (size_t i = it->n; i-- > 0 && i + 64 >= it->n;)
        if (strcmp(it->v[i].ev, ev) == 0)
            return 0;
    if (it->n == it->cap) {
        size_t nc = it->cap ? it->cap * 2 : 32;
        ps_item *nv = cr_realloc(it->v, nc * sizeof(*nv));
        if (!nv)
            return CR_ERROR;
        it->v = nv;
        it->cap = nc;
    }
    if (!(it->v[it->n].ev = cr_strdup(ev)))
        return CR_ERROR;
    it->v[it->n].why = why;
    it->v[it->n].floor = floor;
    it->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The evidence strings of `it`, sorted, for membership tests (borrowed pointers). */
static int items_index(char ***out, const ps_items *it)
{
    *out = NULL;
    if (!it->n)
        return 0;
    char **v = cr_malloc(it->n * sizeof(*v));
    if (!v)
        return CR_ERROR;
    for (size_t i = 0; i < it->n; i++)
        v[i] = it->v[i].ev;
    qsort(v, it->n, sizeof(*v), cmp_str);
    *out = v;
    return 0;
}

static int in_index(char **idx, size_t n, const char *ev)
{
    return idx && bsearch(&ev, idx, n, sizeof(*idx), cmp_str) != NULL;
}

/* ------------------------------------------------------------ suspicious commands */

static int word_at(const char *s, const char *start, const char *w)
{
    size_t n = strlen(w);
    return strncmp(start, w, n) == 0 && (start == s || strchr(" \t;|&(`'\"/", start[-1])) &&
           (start[n] == '\0' || strchr(" \t;|&)`'\"", start[n]));
}

static int has_word(const char *s, const char *w)
{
    for (const char *p = strstr(s, w); p; p = strstr(p + 1, w))
        if (word_at(s, p, w))
            return 1;
    return 0;
}

/* A "| sh" (or bash, python...) after position p. */
static int piped_to_shell(const char *p)
{
    static const char *const sh[] = {"sh",     "bash",    "dash", "zsh",  "ksh",
                                     "python", "python3", "perl", "ruby", "php"};
    for (const char *bar = strchr(p, '|'); bar; bar = strchr(bar + 1, '|')) {
        const char *w = bar + 1;
        while (*w == ' ' || *w == '\t')
            w++;
        if (strncmp(w, "sudo ", 5) == 0)
            w += 5;
        size_t n = strcspn(w, " \t;|&)'\"");
        const char *b = w;
        for (size_t i = 0; i < n; i++)
            if (w[i] == '/')
                b = w + i + 1;
        size_t bn = n - (size_t)(b - w);
        for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++)
            if (strlen(sh[i]) == bn && strncmp(b, sh[i], bn) == 0)
                return 1;
    }
    return 0;
}

/* Why a command line (cron entry, ExecStart, script line) is not what routine jobs do, or NULL. */
static const char *suspicious(const char *s)
{
    const char *p;
    if (strstr(s, "/dev/tcp/") || strstr(s, "/dev/udp/"))
        return "it opens a network connection from the shell (/dev/tcp)";
    if (((p = strstr(s, "curl")) || (p = strstr(s, "wget"))) && piped_to_shell(p))
        return "it downloads a program and runs it";
    if (strstr(s, "base64 -d") || strstr(s, "base64 --decode") || strstr(s, "base64 -D"))
        return "it decodes and runs hidden (base64) content";
    if ((has_word(s, "nc") || has_word(s, "ncat") || has_word(s, "netcat")) &&
        (strstr(s, " -e ") || strstr(s, " -c ") || has_word(s, "mkfifo")))
        return "it gives a shell to a remote machine (netcat)";
    if (strstr(s, "socat") && (strstr(s, "exec:") || strstr(s, "EXEC:")))
        return "it gives a shell to a remote machine (socat)";
    if (strstr(s, "/dev/shm/"))
        return "it runs something from /dev/shm, a folder that lives only in memory";
    if (strstr(s, "stratum+tcp://") || strstr(s, "xmrig"))
        return "it starts a cryptocurrency miner";
    if ((has_word(s, "python") || has_word(s, "python3") || has_word(s, "perl") ||
         has_word(s, "ruby")) &&
        strstr(s, "socket") && (strstr(s, " -c ") || strstr(s, " -e ")))
        return "it opens a network connection from an inline script";
    return NULL;
}

/* Why the first suspicious line of a text is so, or NULL (also when out of memory). */
static const char *suspicious_text(const char *s, size_t n)
{
    const char *p = s, *end = s + n, *why = NULL;
    char *line = malloc(PS_MAX_LINE + 1);
    if (!line)
        return NULL;
    while (p < end && !why) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!blank_or_comment(p, len)) {
            hn_text_clean(line, PS_MAX_LINE + 1, p, len);
            why = suspicious(line);
        }
        p = nl ? nl + 1 : end;
    }
    free(line);
    return why;
}

/* ------------------------------------------------------------ item parsers */

/*
 * Logical lines of a text: "\n" or "\r\n" end a line; with `join`, a line
 * ending in a backslash continues on the next one (sudoers, PAM, shell). A
 * logical line longer than PS_MAX_LINE is cut there. Calls fn for each line.
 */
typedef int (*line_fn)(void *arg, const char *line, size_t len);

static int each_line(const char *s, size_t n, int join, line_fn fn, void *arg)
{
    cr_buf acc = CR_BUF_INIT;
    const char *p = s, *end = s + n;
    int err = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *start = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (e > start && e[-1] == '\r')
            e--;
        size_t len = (size_t)(e - start);
        int cont = join && len && start[len - 1] == '\\';
        if (cont)
            len--;
        if (acc.len + len > PS_MAX_LINE)
            len = acc.len < PS_MAX_LINE ? PS_MAX_LINE - acc.len : 0;
        if (len && (err = cr_buf_put(&acc, start, len)) < 0)
            break;
        if (cont && p < end)
            continue;
        if ((err = fn(arg, acc.ptr ? (const char *)acc.ptr : "", acc.len)) != 0)
            break;
        acc.len = 0;
    }
    cr_buf_free(&acc);
    return err;
}

typedef struct ps_parse {
    enum ps_kind kind;
    ps_items *items;
    const hn_dpkg *dpkg;          /* PAM: which modules packages installed (NULL: unknown) */
    char full[PS_MAX_LINE + 1];   /* the item, cleaned: what is judged */
    char ev[PS_MAX_EVIDENCE + 8]; /* the item as reported */
} ps_parse;

/*
 * Clean an item into ps->full and make its evidence: the item itself, or when
 * longer than PS_MAX_EVIDENCE its start and a hash of the whole, so that two
 * long items differing only at the end stay two items.
 */
static void set_item(ps_parse *ps, const char *s, size_t n)
{
    size_t len = hn_text_clean(ps->full, sizeof(ps->full), s, n);
    if (len < sizeof(ps->ev) - 8 && len <= PS_MAX_EVIDENCE) {
        memcpy(ps->ev, ps->full, len + 1);
        return;
    }
    size_t cut = PS_MAX_EVIDENCE - 24;
    while (cut > 0 && ((unsigned char)ps->full[cut] & 0xc0) == 0x80)
        cut--;
    uint8_t h[32];
    char hex[17];
    cr_sha256(h, ps->full, len);
    cr_hex_encode(hex, h, 8);
    snprintf(ps->ev, sizeof(ps->ev), "%.*s... #%s", (int)cut, ps->full, hex);
}

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* "NAME=value" (cron and anacron environment lines), with the name's length in *nlen. */
static int is_assignment(const char *s, size_t n, size_t *nlen)
{
    const char *end = s + n, *p = skip_blanks(s, end), *name = p;
    if (p == end || !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
        return 0;
    while (p < end && ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                       (*p >= '0' && *p <= '9') || *p == '_'))
        p++;
    *nlen = (size_t)(p - name);
    p = skip_blanks(p, end);
    return p < end && *p == '=';
}

static int parse_cron_line(ps_parse *ps, const char *s, size_t n)
{
    size_t nlen;
    const char *why = NULL;
    if (blank_or_comment(s, n))
        return 0;
    if (is_assignment(s, n, &nlen)) {
        /* Variables are settings, not jobs; except those that inject code into every job. */
        static const char *const bad[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "BASH_ENV",
                                          "ENV"};
        const char *name = skip_blanks(s, s + n);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) && !why; i++)
            if (strlen(bad[i]) == nlen && strncmp(name, bad[i], nlen) == 0)
                why = "it makes every job of the file load code chosen by whoever wrote it";
        if (!why)
            return 0;
    }
    set_item(ps, s, n);
    if (!why)
        why = suspicious(ps->full);
    return items_add(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO);
}

static int parse_rclocal_line(ps_parse *ps, const char *s, size_t n)
{
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    if (strcmp(ps->full, "exit 0") == 0 || strcmp(ps->full, "exit") == 0)
        return 0;
    const char *why = suspicious(ps->full);
    return items_add(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO);
}

static int parse_preload_line(ps_parse *ps, const char *s, size_t n)
{
    /* Libraries separated by blanks or ":"; "#" starts a comment. */
    const char *hash = memchr(s, '#', n);
    const char *end = hash ? hash : s + n, *p = s;
    int err = 0;
    while (p < end && !err) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ':'))
            p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != ':')
            p++;
        if (p > w) {
            set_item(ps, w, (size_t)(p - w));
            err = items_add(ps->items, ps->ev, NULL, CR_SEV_INFO);
        }
    }
    return err;
}

static int is_key_type(const char *s, size_t n)
{
    static const char *const pre[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        size_t m = strlen(pre[i]);
        if (n > m && strncmp(s, pre[i], m) == 0)
            return 1;
    }
    return 0;
}

/* "SHA256:<base64>" of a key blob given in base64, as ssh-keygen -l prints it. 0 or -1. */
static int key_fingerprint(char *out, size_t cap, const char *b64, size_t n)
{
    if (n == 0 || n > 16384 || n % 4 != 0 || cap < 7 + 44 + 1)
        return -1;
    uint8_t *raw = malloc(n / 4 * 3 + 4);
    char *in = malloc(n + 1);
    int rc = -1;
    if (!raw || !in)
        goto done;
    memcpy(in, b64, n);
    in[n] = '\0';
    int len = EVP_DecodeBlock(raw, (const unsigned char *)in, (int)n);
    if (len < 0)
        goto done;
    for (size_t i = n; i > 0 && in[i - 1] == '='; i--)
        len--; /* EVP_DecodeBlock counts the padding as bytes */
    uint8_t h[32];
    unsigned hl = 0;
    if (len < 0 || EVP_Digest(raw, (size_t)len, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
        goto done;
    unsigned char enc[48];
    int el = EVP_EncodeBlock(enc, h, 32);
    while (el > 0 && enc[el - 1] == '=')
        el--;
    snprintf(out, cap, "SHA256:%.*s", el, (const char *)enc);
    rc = 0;
done:
    free(raw);
    free(in);
    return rc;
}

static int parse_key_line(ps_parse *ps, const char *s, size_t n)
{
    const char *end = s + n, *p = skip_blanks(s, end);
    if (p == end || *p == '#')
        return 0;
    /* [options] type base64 [comment]; options may hold quoted blanks. */
    const char *w = p;
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    if (!is_key_type(w, (size_t)(p - w))) {
        int q = 0;
        p = w;
        while (p < end && (q || (*p != ' ' && *p != '\t'))) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '"')
                q = !q;
            p++;
        }
        p = skip_blanks(p, end);
        w = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
    }
    const char *type = w;
    size_t tlen = (size_t)(p - w);
    p = skip_blanks(p, end);
    const char *b64 = p;
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    size_t blen = (size_t)(p - b64);
    p = skip_blanks(p, end);
    char fp[64], t[96], c[PS_MAX_EVIDENCE / 2];
    if (!is_key_type(type, tlen) || key_fingerprint(fp, sizeof(fp), b64, blen) < 0) {
        /* Not a key sshd would accept as written; still an item (sshd's parser is not ours). */
        set_item(ps, s, n);
        return items_add(ps->items, ps->ev, NULL, CR_SEV_INFO);
    }
    hn_text_clean(t, sizeof(t), type, tlen);
    hn_text_clean(c, sizeof(c), p, (size_t)(end - p));
    snprintf(ps->ev, sizeof(ps->ev), "%s %s%s%s", t, fp, *c ? " " : "", c);
    return items_add(ps->items, ps->ev, NULL, CR_SEV_INFO);
}

static int parse_passwd_line(ps_parse *ps, const char *s, size_t n)
{
    /* name:password:uid:gid:gecos:home:shell; NIS lines (+/-) are not accounts. */
    if (!n || s[0] == '+' || s[0] == '-' || s[0] == '#')
        return 0;
    const char *c1 = memchr(s, ':', n);
    if (!c1 || c1 == s)
        return 0;
    const char *c2 = memchr(c1 + 1, ':', (size_t)(s + n - c1 - 1));
    if (!c2)
        return 0;
    const char *uid = c2 + 1, *end = s + n;
    const char *c3 = memchr(uid, ':', (size_t)(end - uid));
    if (!c3 || c3 == uid)
        return 0;
    for (const char *q = uid; q < c3; q++)
        if (*q != '0')
            return 0;
    size_t nl = (size_t)(c1 - s);
    if (nl == 4 && memcmp(s, "root", 4) == 0)
        return 0;
    set_item(ps, s, nl);
    return items_add(ps->items, ps->ev, NULL, CR_SEV_INFO);
}

static int parse_sudoers_line(ps_parse *ps, const char *s, size_t n)
{
    const char *end = s + n, *p = skip_blanks(s, end);
    if (p == end)
        return 0;
    if (*p == '#') {
        /* "#include"/"#includedir" are directives; "#1000 ALL=..." is a rule for a user id. */
        int directive =
            (end - p > 8 && strncmp(p, "#include", 8) == 0 &&
             (p[8] == ' ' || p[8] == '\t' || (end - p > 11 && strncmp(p + 8, "dir", 3) == 0)));
        int uid_rule =
            end - p > 1 && p[1] >= '0' && p[1] <= '9' && memchr(p, '=', (size_t)(end - p));
        if (!directive && !uid_rule)
            return 0;
    }
    set_item(ps, s, n);
    const char *why = NULL;
    const char *np = strstr(ps->full, "NOPASSWD");
    size_t l = strlen(ps->full);
    if (np && l >= 3 && strcmp(ps->full + l - 3, "ALL") == 0 &&
        (l == 3 || strchr(" :,", ps->full[l - 4])))
        why = "it lets the account run any command as root without a password";
    return items_add(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO);
}

/* Whether some package installed the PAM module `mod` (a name or a path). */
static int pam_module_owned(const hn_dpkg *d, const char *mod)
{
    static const char *const dirs[] = {"/lib/security", "/lib64/security", "/usr/lib/security",
                                       "/usr/lib64/security"};
    static const char *const triplets[] = {"x86_64-linux-gnu",        "i386-linux-gnu",
                                           "aarch64-linux-gnu",       "arm-linux-gnueabihf",
                                           "arm-linux-gnueabi",       "powerpc64le-linux-gnu",
                                           "s390x-linux-gnu",         "riscv64-linux-gnu",
                                           "mips64el-linux-gnuabi64", "loongarch64-linux-gnu"};
    char p[512];
    if (mod[0] == '/')
        return hn_dpkg_owner(d, mod, NULL, NULL) != HN_UNOWNED;
    if (strchr(mod, '/') || strlen(mod) > 200)
        return 0;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dirs[i], mod);
        if (hn_dpkg_owner(d, p, NULL, NULL) != HN_UNOWNED)
            return 1;
    }
    for (size_t i = 0; i < sizeof(triplets) / sizeof(triplets[0]); i++)
        for (int usr = 0; usr < 2; usr++) {
            snprintf(p, sizeof(p), "%s/lib/%s/security/%s", usr ? "/usr" : "", triplets[i], mod);
            if (hn_dpkg_owner(d, p, NULL, NULL) != HN_UNOWNED)
                return 1;
        }
    return 0;
}

static int parse_pam_line(ps_parse *ps, const char *s, size_t n)
{
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    /* "type control module [args]"; control may be "[a=b c=d]"; "@include x" includes. */
    const char *why = NULL, *e = ps->full;
    char type[32] = "", control[256] = "", mod[256] = "";
    const char *p = e;
    size_t k = strcspn(p, " ");
    if (*p != '@' && k < sizeof(type)) {
        memcpy(type, p, k);
        type[k] = '\0';
        p += k;
        p += *p == ' ';
        if (*p == '[') {
            const char *close = strchr(p, ']');
            k = close ? (size_t)(close - p) + 1 : strlen(p);
        } else {
            k = strcspn(p, " ");
        }
        if (k < sizeof(control)) {
            memcpy(control, p, k);
            control[k] = '\0';
        }
        p += k;
        p += *p == ' ';
        k = strcspn(p, " ");
        if (k < sizeof(mod)) {
            memcpy(mod, p, k);
            mod[k] = '\0';
        }
    }
    const char *t = type[0] == '-' ? type + 1 : type;
    const char *base = base_name(mod);
    if (*mod) {
        if (strcmp(base, "pam_exec.so") == 0)
            why = "it runs a program at each login (pam_exec), which can capture passwords";
        else if (strcmp(base, "pam_permit.so") == 0 &&
                 (!strcmp(t, "auth") || !strcmp(t, "account")) &&
                 (strstr(control, "sufficient") || strstr(control, "done")))
            why = "it lets anyone in without a valid password (pam_permit)";
        else if (ps->dpkg && hn_dpkg_count(ps->dpkg) && !pam_module_owned(ps->dpkg, mod))
            why = "it loads a PAM module that no package installed";
    }
    return items_add(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO);
}

static int parse_cb(void *arg, const char *s, size_t n)
{
    ps_parse *ps = arg;
    switch (ps->kind) {
    case K_CRONTAB:
        return parse_cron_line(ps, s, n);
    case K_RCLOCAL:
        return parse_rclocal_line(ps, s, n);
    case K_PRELOAD:
        return parse_preload_line(ps, s, n);
    case K_SSHKEY:
        return parse_key_line(ps, s, n);
    case K_PASSWD:
        return parse_passwd_line(ps, s, n);
    case K_SUDOERS:
        return parse_sudoers_line(ps, s, n);
    case K_PAM:
        return parse_pam_line(ps, s, n);
    default:
        return 0;
    }
}

static int parse_items(ps_items *out, enum ps_kind kind, const hn_dpkg *d, const cr_buf *b)
{
    ps_parse *ps = cr_calloc(1, sizeof(*ps));
    if (!ps)
        return CR_ERROR;
    ps->kind = kind;
    ps->items = out;
    ps->dpkg = d;
    int join = kind == K_SUDOERS || kind == K_PAM || kind == K_RCLOCAL;
    int err = each_line(b->ptr ? (const char *)b->ptr : "", b->len, join, parse_cb, ps);
    free(ps);
    return err;
}

/* ------------------------------------------------------------ context */

static int get_dpkg(hn_ctx *ctx, const hn_dpkg **out)
{
    int err = 0;
    if (!ctx->dpkg_loaded) {
        if ((err = hn_dpkg_load(&ctx->dpkg, ctx)) < 0)
            return err;
        ctx->dpkg_loaded = 1;
    }
    *out = ctx->dpkg;
    return 0;
}

static void ps_warn(hn_ctx *ctx, const char *relpath, const char *what)
{
    char msg[768];
    if (!ctx->warning)
        return;
    snprintf(msg, sizeof(msg), "not judged for persistence: %s", what);
    ctx->warning(relpath, msg, ctx->payload);
}

/*
 * Read a file judged by its content. @return 0 (read), 1 (larger than max:
 * not read), 2 (could not be read: warned), or CR_ERROR (no memory).
 */
static int read_content(cr_buf *out, hn_ctx *ctx, const char *relpath, const cr_node *n, size_t max)
{
    cr_buf_reset(out);
    if (n->size > max)
        return 1;
    int rc = hn_read_node(out, ctx->repo, n, max);
    if (rc == CR_EINPUT)
        return 1;
    if (rc < 0) {
        ps_warn(ctx, relpath, cr_error_last());
        return 2;
    }
    return 0;
}

static int md5_of(uint8_t out[16], const void *p, size_t n)
{
    unsigned len = 0;
    return EVP_Digest(p, n, out, &len, EVP_md5(), NULL) == 1 && len == 16 ? 0 : -1;
}

/* The md5 of a file's content: from the facts cache, else read here. @return 1 known, 0 not. */
static int node_md5(uint8_t md5[16], hn_ctx *ctx, const cr_node *n)
{
    return hn_node_md5(md5, ctx, n);
}

typedef struct ps_own {
    hn_owned st;
    const char *pkg;
    int known; /* the snapshot has a package database */
} ps_own;

/* Who owns `relpath`; for a listed file, whether its content matches. bytes: the content if read.
 */
static int owner_of(ps_own *o, hn_ctx *ctx, const char *relpath, const cr_node *n,
                    const cr_buf *bytes)
{
    const hn_dpkg *d;
    int err;
    memset(o, 0, sizeof(*o));
    if ((err = get_dpkg(ctx, &d)) < 0)
        return err;
    o->known = hn_dpkg_count(d) > 0;
    o->st = hn_dpkg_owner(d, relpath, NULL, &o->pkg);
    if (o->st == HN_UNOWNED || n->type != CR_NODE_FILE)
        return 0;
    uint8_t md5[16];
    int have = bytes ? md5_of(md5, bytes->ptr ? (const void *)bytes->ptr : "", bytes->len) == 0
                     : node_md5(md5, ctx, n);
    if (have)
        o->st = hn_dpkg_owner(d, relpath, md5, &o->pkg);
    return 0;
}

static int emit(hn_ctx *ctx, const char *relpath, cr_severity sev, const char *ind,
                const cr_node *n, const char *evidence, const char *detail)
{
    cr_id cid;
    const cr_id *content = NULL;
    if (n && n->type == CR_NODE_FILE) {
        hn_content_id(&cid, n);
        content = &cid;
    }
    return hn_emit(ctx, relpath, CR_CAT_PERSISTENCE, sev, ind, content, evidence, "%s", detail);
}

static int same_content(const cr_node *a, const cr_node *b)
{
    if (!a || !b || a->type != b->type)
        return 0;
    if (a->type == CR_NODE_SYMLINK)
        return strcmp(a->link_target ? a->link_target : "", b->link_target ? b->link_target : "") ==
               0;
    if (a->type != CR_NODE_FILE || a->size != b->size)
        return 0;
    cr_id x, y;
    hn_content_id(&x, a);
    hn_content_id(&y, b);
    return memcmp(&x, &y, sizeof(x)) == 0;
}

/* Emit again the previous findings of `ind` (low and above); evidence NULL for "all". */
static int reemit(hn_ctx *ctx, const char *relpath, const char *ind, const cr_node *n,
                  const ps_items *now, char **nidx, int old_known, char **oidx, size_t nold)
{
    int err = 0;
    for (size_t i = 0; i < ctx->nprev && !err; i++) {
        const cr_finding *f = &ctx->prev[i];
        if (f->severity < CR_SEV_LOW || !f->indicator || strcmp(f->indicator, ind) != 0)
            continue;
        /* Items: only those still in the new content (and not new in it, judged anew). */
        if (now && (!f->evidence || !in_index(nidx, now->n, f->evidence) ||
                    (old_known && !in_index(oidx, nold, f->evidence))))
            continue;
        err = emit(ctx, relpath, f->severity, ind, n, f->evidence, f->detail ? f->detail : "");
    }
    return err;
}

/* The highest severity of the previous whole-file findings of `ind`, or INFO. */
static cr_severity prev_max(const hn_ctx *ctx, const char *ind)
{
    cr_severity m = CR_SEV_INFO;
    for (size_t i = 0; i < ctx->nprev; i++) {
        const cr_finding *f = &ctx->prev[i];
        if (f->indicator && strcmp(f->indicator, ind) == 0 && !f->evidence && f->severity > m)
            m = f->severity;
    }
    return m;
}

static cr_severity max_sev(cr_severity a, cr_severity b)
{
    return a > b ? a : b;
}

/* What an item or file of a kind is, in words. */
static const char *noun(enum ps_kind k, int item)
{
    switch (k) {
    case K_CRONTAB:
        return item ? "cron entry" : "crontab";
    case K_CRONSCRIPT:
        return "script run by cron";
    case K_UNIT:
        return "systemd unit";
    case K_GENERATOR:
        return "systemd generator (a program run at every boot)";
    case K_RCLOCAL:
        return item ? "command run at boot (rc.local)" : "rc.local";
    case K_INITD:
        return "init script";
    case K_RCLINK:
        return "init script link";
    case K_PRELOAD:
        return item ? "library loaded into every program (ld.so.preload)" : "ld.so.preload";
    case K_SSHKEY:
        return item ? "SSH key" : "authorized_keys file";
    case K_PASSWD:
        return item ? "account with user id 0 (root rights) besides root" : "passwd file";
    case K_SUDOERS:
        return item ? "sudo rule" : "sudoers file";
    case K_PAM:
        return item ? "PAM rule" : "PAM configuration";
    case K_PAMMOD:
        return "PAM module (a library that checks passwords)";
    case K_WEB:
        return "script in a web root";
    case K_NONE:
        break;
    }
    return "file";
}

/* The severity of a new file (or new item in it) that no package installed. */
static cr_severity unowned_sev(enum ps_kind k, int added, int minor)
{
    switch (k) {
    case K_PRELOAD:
    case K_PASSWD:
    case K_PAMMOD:
        return CR_SEV_CRITICAL;
    case K_SSHKEY:
        return minor ? CR_SEV_LOW : CR_SEV_HIGH;
    case K_WEB:
        return CR_SEV_MEDIUM;
    case K_CRONTAB:
    case K_RCLOCAL:
    case K_SUDOERS:
    case K_GENERATOR:
        return CR_SEV_HIGH; /* items are new by construction; a generator is a program */
    default:
        /* New or changed, what runs at boot, login or on a schedule is high
         * (docs/hunt.md, severity policy): an admin's edit looks like an intruder's. */
        (void)added;
        return CR_SEV_HIGH;
    }
}

/* The severity of a change to a package's file (or a new item in it). */
static cr_severity modified_sev(enum ps_kind k, int minor)
{
    switch (k) {
    case K_PRELOAD:
    case K_PASSWD:
        return CR_SEV_CRITICAL;
    case K_SSHKEY:
        return minor ? CR_SEV_LOW : CR_SEV_HIGH;
    case K_GENERATOR:
    case K_PAMMOD:
        return CR_SEV_HIGH; /* programs and libraries */
    default:
        return CR_SEV_MEDIUM; /* configuration */
    }
}

static void own_words(char *out, size_t cap, const ps_own *o)
{
    switch (o->st) {
    case HN_OWNED_MATCH:
        snprintf(out, cap, "a file of package %s, matching its md5sums", o->pkg ? o->pkg : "?");
        break;
    case HN_OWNED_MODIFIED:
        snprintf(out, cap, "a file of package %s, changed since the package installed it",
                 o->pkg ? o->pkg : "?");
        break;
    case HN_OWNED_NOSUM:
        snprintf(out, cap, "a file of package %s (no checksum to compare)", o->pkg ? o->pkg : "?");
        break;
    default:
        snprintf(out, cap, "%s",
                 o->known ? "a file no package installed"
                          : "no package database in this restore point to tell");
    }
}

/* ------------------------------------------------------------ judges */

/* Files made of items: crontabs, authorized_keys, passwd, sudoers, PAM, rc.local, ld.so.preload. */
static int judge_lines(hn_ctx *ctx, const ps_loc *loc, const char *relpath, const cr_node *old,
                       const cr_node *n)
{
    const char *ind = kind_indicator(loc->kind);
    cr_buf nb = CR_BUF_INIT, ob = CR_BUF_INIT;
    ps_items ni = {0}, oi = {0};
    char **oidx = NULL, **nidx = NULL;
    char detail[1024], ow[256];
    ps_own o;
    const hn_dpkg *d = NULL;
    int err = 0, rc, old_read = 0;
    int added = !old || old->type != CR_NODE_FILE;
    size_t max = loc->kind == K_PASSWD ? PS_MAX_PASSWD : PS_MAX_LINEFILE;

    memset(&o, 0, sizeof(o));
    if ((rc = read_content(&nb, ctx, relpath, n, max)) < 0) {
        err = rc;
        goto done;
    }
    if (rc == 2)
        goto done;
    if (loc->kind != K_SSHKEY && loc->kind != K_PASSWD &&
        (err = owner_of(&o, ctx, relpath, n, rc == 0 ? &nb : NULL)) < 0)
        goto done;
    int pkgctx = loc->kind != K_SSHKEY && loc->kind != K_PASSWD; /* never packaged */
    own_words(ow, sizeof(ow), &o);
    if (!pkgctx)
        snprintf(ow, sizeof(ow), "%s", noun(loc->kind, 0));
    if (o.st == HN_OWNED_MATCH) {
        /* A package's own file as shipped: routine, whatever its lines. */
        if (!ctx->baseline) {
            snprintf(detail, sizeof(detail), "routine: %s", ow);
            err = emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
        }
        goto done;
    }
    if (rc == 1) {
        /* Too large to be a real one of these: one finding for the file. */
        snprintf(detail, sizeof(detail),
                 "%s%s too large (%llu bytes) to be read entry by entry; %s",
                 ctx->baseline ? "inventory at the first restore point: " : "", noun(loc->kind, 0),
                 (unsigned long long)n->size, ow);
        cr_severity sev = o.st == HN_UNOWNED ? unowned_sev(loc->kind, 1, loc->minor)
                                             : modified_sev(loc->kind, loc->minor);
        err = emit(ctx, relpath, ctx->baseline ? CR_SEV_INFO : sev, ind, n, NULL, detail);
        goto done;
    }
    if (loc->kind == K_PAM && (err = get_dpkg(ctx, &d)) < 0)
        goto done;
    if ((err = parse_items(&ni, loc->kind, d, &nb)) < 0)
        goto done;

    if (ctx->baseline) {
        if (loc->kind == K_PAM) {
            /* One note per file; rules on their own only when they stand out. */
            if (ni.n) {
                snprintf(detail, sizeof(detail),
                         "inventory at the first restore point: PAM configuration (%zu rules), %s",
                         ni.n, ow);
                if ((err = emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail)) < 0)
                    goto done;
            }
            for (size_t i = 0; i < ni.n && !err; i++)
                if (ni.v[i].why) {
                    snprintf(detail, sizeof(detail), "inventory at the first restore point: %s: %s",
                             noun(loc->kind, 1), ni.v[i].why);
                    err = emit(ctx, relpath, CR_SEV_INFO, ind, n, ni.v[i].ev, detail);
                }
            goto done;
        }
        size_t shown = 0;
        for (size_t i = 0; i < ni.n && !err; i++) {
            if (shown == PS_MAX_NEW)
                break;
            snprintf(detail, sizeof(detail), "inventory at the first restore point: %s in %s%s%s",
                     noun(loc->kind, 1), ow, ni.v[i].why ? "; " : "",
                     ni.v[i].why ? ni.v[i].why : "");
            err = emit(ctx, relpath, CR_SEV_INFO, ind, n, ni.v[i].ev, detail);
            shown++;
        }
        if (!err && ni.n + ni.dropped > shown) {
            snprintf(detail, sizeof(detail),
                     "inventory at the first restore point: %zu more %s entries not listed",
                     ni.n + ni.dropped - shown, noun(loc->kind, 1));
            err = emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
        }
        goto done;
    }

    /* Items of the old content are not new; earlier findings on them stand. */
    if (!added) {
        rc = read_content(&ob, ctx, relpath, old, max);
        if (rc < 0) {
            err = rc;
            goto done;
        }
        if (rc == 0) {
            old_read = 1;
            if ((err = parse_items(&oi, loc->kind, d, &ob)) < 0)
                goto done;
        }
    }
    if ((err = items_index(&oidx, &oi)) < 0 || (err = items_index(&nidx, &ni)) < 0)
        goto done;
    /* Earlier findings whose item is still there stay as they were (if the old content
     * could not be read, every flagged item still present counts as old). */
    if (!added && (err = reemit(ctx, relpath, ind, n, &ni, nidx, old_read, oidx, oi.n)) < 0)
        goto done;
    size_t shown = 0, more = 0;
    for (size_t i = 0; i < ni.n && !err; i++) {
        const ps_item *it = &ni.v[i];
        if (old_read && in_index(oidx, oi.n, it->ev))
            continue;
        if (!old_read && !added) {
            int flagged = 0;
            for (size_t j = 0; j < ctx->nprev && !flagged; j++)
                flagged = ctx->prev[j].evidence && ctx->prev[j].indicator &&
                          strcmp(ctx->prev[j].indicator, ind) == 0 &&
                          strcmp(ctx->prev[j].evidence, it->ev) == 0;
            if (flagged)
                continue;
        }
        if (shown == PS_MAX_NEW) {
            more++;
            continue;
        }
        cr_severity sev;
        if (o.st == HN_UNOWNED)
            sev = unowned_sev(loc->kind, added, loc->minor);
        else
            sev = modified_sev(loc->kind, loc->minor);
        sev = max_sev(sev, it->floor);
        if (pkgctx)
            snprintf(detail, sizeof(detail), "new %s, in %s%s%s", noun(loc->kind, 1), ow,
                     it->why ? "; " : "", it->why ? it->why : "");
        else
            snprintf(detail, sizeof(detail), "new %s: %s", noun(loc->kind, 1),
                     loc->kind == K_PASSWD ? "it has every right root has"
                     : loc->minor          ? "in a file sshd does not read by default"
                                  : "whoever holds its private key can log in as this account");
        err = emit(ctx, relpath, sev, ind, n, it->ev, detail);
        shown++;
    }
    if (!err && (more || ni.dropped)) {
        snprintf(detail, sizeof(detail), "%zu more new %s entries not listed", more + ni.dropped,
                 noun(loc->kind, 1));
        err = emit(ctx, relpath,
                   o.st == HN_UNOWNED ? unowned_sev(loc->kind, added, loc->minor)
                                      : modified_sev(loc->kind, loc->minor),
                   ind, n, NULL, detail);
    }
done:
    free(oidx);
    free(nidx);
    items_clear(&ni);
    items_clear(&oi);
    cr_buf_free(&nb);
    cr_buf_free(&ob);
    return err;
}

/* snapd writes its own mount and service units on every refresh of a snap. */
static int snapd_unit(const char *relpath, const cr_buf *b)
{
    const char *name = base_name(relpath);
    if (!after(relpath, "/etc/systemd/system/") ||
        (strncmp(name, "snap-", 5) != 0 && strncmp(name, "snap.", 5) != 0))
        return 0;
    return b->len && memmem(b->ptr, b->len, "X-Snappy=yes", 12) != NULL;
}

/* Files judged whole: cron scripts, units, generators, init scripts, PAM modules, web scripts. */
static int judge_whole(hn_ctx *ctx, const ps_loc *loc, const char *relpath, const cr_node *old,
                       const cr_node *n)
{
    const char *ind = kind_indicator(loc->kind);
    char detail[1024], ow[256];
    cr_buf b = CR_BUF_INIT;
    ps_own o;
    int err;
    int added = !old || old->type != CR_NODE_FILE;

    if (ctx->baseline && loc->kind == K_WEB)
        return 0; /* a web application's scripts are not an inventory anyone reads */
    if ((err = owner_of(&o, ctx, relpath, n, NULL)) < 0)
        return err;
    own_words(ow, sizeof(ow), &o);
    if (ctx->baseline) {
        if (o.st == HN_OWNED_MATCH || o.st == HN_OWNED_NOSUM)
            return 0;
        snprintf(detail, sizeof(detail), "inventory at the first restore point: %s, %s",
                 noun(loc->kind, 0), ow);
        return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
    }
    if (o.st == HN_OWNED_MATCH || o.st == HN_OWNED_NOSUM) {
        snprintf(detail, sizeof(detail), "routine: %s", ow);
        return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
    }
    cr_severity sev;
    const char *why = NULL;
    int snapd = 0;
    /* In a vendor folder without a package database, a package's file cannot be told
     * from another: a change there is medium. */
    if (o.st == HN_OWNED_MODIFIED)
        sev = modified_sev(loc->kind, 0);
    else if (!o.known && loc->vendor)
        sev = CR_SEV_MEDIUM;
    else
        sev = unowned_sev(loc->kind, added, 0);
    if (loc->kind == K_CRONSCRIPT || loc->kind == K_UNIT || loc->kind == K_GENERATOR ||
        loc->kind == K_INITD || loc->kind == K_RCLINK) {
        int rc = read_content(&b, ctx, relpath, n, PS_MAX_SCRIPT);
        if (rc < 0) {
            err = rc;
            goto done;
        }
        if (rc == 0) {
            if (o.st == HN_UNOWNED && loc->kind == K_UNIT && snapd_unit(relpath, &b))
                sev = CR_SEV_LOW, snapd = 1;
            else if ((why = suspicious_text(b.ptr ? (const char *)b.ptr : "", b.len)))
                sev = max_sev(sev, CR_SEV_HIGH);
        }
    }
    if (!added)
        sev = max_sev(sev, prev_max(ctx, ind));
    snprintf(detail, sizeof(detail), "%s %s, %s%s%s%s", added ? "new" : "changed",
             noun(loc->kind, 0), ow, snapd ? " (written by snapd)" : "", why ? "; " : "",
             why ? why : "");
    err = emit(ctx, relpath, sev, ind, n, NULL, detail);
done:
    cr_buf_free(&b);
    return err;
}

/* Where a symlink points, as a path relative to the system root ("" if it leaves it). */
static void link_resolve(char *out, size_t cap, const char *linkpath, const char *target)
{
    char tmp[4096 + 8];
    size_t o = 0;
    if (!target || !*target || cap < 2) {
        if (cap)
            out[0] = '\0';
        return;
    }
    if (target[0] == '/') {
        snprintf(tmp, sizeof(tmp), "%s", target);
    } else {
        const char *slash = strrchr(linkpath, '/');
        int dl = slash ? (int)(slash - linkpath) : 0;
        snprintf(tmp, sizeof(tmp), "%.*s/%s", dl, linkpath, target);
    }
    /* Normalise ".", ".." and "//". */
    const char *p = tmp;
    out[0] = '\0';
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if (o + 1 + len + 1 < cap) {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        } else {
            o = 0;
            break;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
}

static int enabling_link(const char *relpath)
{
    const char *slash = strrchr(relpath, '/');
    if (!slash)
        return 0;
    size_t dl = (size_t)(slash - relpath);
    return (dl > 6 && strncmp(slash - 6, ".wants", 6) == 0) ||
           (dl > 9 && strncmp(slash - 9, ".requires", 9) == 0) ||
           (dl > 8 && strncmp(slash - 8, ".upholds", 8) == 0);
}

/* A symlink in a persistence location: an alias, a mask, or what enables a unit or script. */
static int judge_link(hn_ctx *ctx, const ps_loc *loc, const char *relpath, const cr_node *old,
                      const cr_node *n)
{
    const char *ind = kind_indicator(loc->kind);
    const hn_dpkg *d;
    char detail[1024], target[4096 + 8], shown[PS_MAX_EVIDENCE + 8], ow[256];
    const char *pkg = NULL;
    int err;
    int added = !old || old->type != CR_NODE_SYMLINK;

    if ((err = get_dpkg(ctx, &d)) < 0)
        return err;
    ps_own o;
    memset(&o, 0, sizeof(o));
    o.known = hn_dpkg_count(d) > 0;
    o.st = hn_dpkg_owner(d, relpath, NULL, &o.pkg);
    hn_text_clean(shown, sizeof(shown), n->link_target ? n->link_target : "",
                  n->link_target ? strlen(n->link_target) : 0);
    if (o.st != HN_UNOWNED) {
        if (ctx->baseline)
            return 0;
        snprintf(detail, sizeof(detail), "routine: a symlink of package %s (to %s)",
                 o.pkg ? o.pkg : "?", shown);
        return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
    }
    link_resolve(target, sizeof(target), relpath, n->link_target);
    if (target[0] == '/' && target[1]) /* name the file itself, not "../init.d/x" */
        hn_text_clean(shown, sizeof(shown), target, strlen(target));
    int unitlike = loc->kind == K_UNIT || loc->kind == K_RCLINK;
    if (unitlike && strcmp(target, "/dev/null") == 0) {
        if (ctx->baseline)
            return 0;
        char unit[256];
        const char *bn = base_name(relpath);
        hn_text_clean(unit, sizeof(unit), bn, strlen(bn));
        snprintf(detail, sizeof(detail), "%s masked (disabled) with a link to /dev/null", unit);
        return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
    }
    hn_owned tst = hn_dpkg_owner(d, target, NULL, &pkg);
    if (unitlike) {
        int enables = loc->kind == K_RCLINK || enabling_link(relpath);
        if (tst != HN_UNOWNED) {
            if (ctx->baseline && !enables)
                return 0;
            snprintf(detail, sizeof(detail), "%s%s %s of package %s",
                     ctx->baseline ? "inventory at the first restore point: " : "routine: ",
                     enables ? "enables" : "alias of", shown, pkg ? pkg : "?");
            return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
        }
        cr_severity sev = (!o.known && loc->vendor) ? CR_SEV_MEDIUM : CR_SEV_HIGH;
        if (!added)
            sev = max_sev(sev, prev_max(ctx, ind));
        snprintf(detail, sizeof(detail), "%s%s %s, which %s",
                 ctx->baseline ? "inventory at the first restore point: " : "",
                 enables ? "enables" : "alias of", shown,
                 o.known ? "no package installed" : "no package database here can vouch for");
        return emit(ctx, relpath, ctx->baseline ? CR_SEV_INFO : sev, ind, n, NULL, detail);
    }
    /* Any other persistence file as a symlink: what it points to is what runs. */
    if (ctx->baseline && loc->kind == K_WEB)
        return 0;
    cr_severity sev = tst != HN_UNOWNED ? CR_SEV_MEDIUM : unowned_sev(loc->kind, added, loc->minor);
    if (!added)
        sev = max_sev(sev, prev_max(ctx, ind));
    if (tst != HN_UNOWNED)
        snprintf(ow, sizeof(ow), "a file of package %s", pkg ? pkg : "?");
    else
        snprintf(ow, sizeof(ow), "%s", "a file no package installed");
    snprintf(detail, sizeof(detail), "%s%s is a symlink to %s, %s",
             ctx->baseline ? "inventory at the first restore point: " : "", noun(loc->kind, 0),
             shown, ow);
    return emit(ctx, relpath, ctx->baseline ? CR_SEV_INFO : sev, ind, n, NULL, detail);
}

static int judge_location(hn_ctx *ctx, const ps_loc *loc, const char *relpath, const cr_node *old,
                          const cr_node *n)
{
    const char *ind = kind_indicator(loc->kind);
    char detail[512];
    if (same_content(old, n)) /* only metadata changed: what was true still is */
        return reemit(ctx, relpath, ind, n, NULL, NULL, 0, NULL, 0);
    if (loc->ignored) {
        const hn_dpkg *d;
        const char *pkg = NULL;
        int err;
        if (ctx->baseline)
            return 0;
        if ((err = get_dpkg(ctx, &d)) < 0)
            return err;
        int owned = hn_dpkg_owner(d, relpath, NULL, &pkg) != HN_UNOWNED;
        snprintf(detail, sizeof(detail),
                 "%s%s%s%s not used: the program reading this folder skips names like this one "
                 "(hidden, or left by an editor or the package manager)",
                 owned ? "routine: a file of package " : "", owned && pkg ? pkg : "",
                 owned ? ", " : "", noun(loc->kind, 0));
        return emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail);
    }
    if (n->type == CR_NODE_SYMLINK)
        return judge_link(ctx, loc, relpath, old, n);
    if (is_line_kind(loc->kind))
        return judge_lines(ctx, loc, relpath, old, n);
    return judge_whole(ctx, loc, relpath, old, n);
}

/* Programs that give a shell or write any file when setuid (GTFOBins); never shipped so. */
static int shell_like(const char *name)
{
    static const char *const exact[] = {
        "bash",    "sh",   "dash",  "zsh",    "ksh",  "mksh",  "csh",  "tcsh",   "fish",
        "busybox", "find", "vim",   "vi",     "nano", "less",  "more", "awk",    "gawk",
        "mawk",    "env",  "tar",   "cp",     "mv",   "nmap",  "tee",  "dd",     "sed",
        "socat",   "nc",   "ncat",  "netcat", "xxd",  "node",  "gdb",  "strace", "openssl",
        "wget",    "curl", "rsync", "zip",    "git",  "chmod", "chown"};
    static const char *const prefix[] = {"python", "perl", "ruby", "php", "lua"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strcmp(name, exact[i]))
            return 1;
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
        if (!strncmp(name, prefix[i], strlen(prefix[i])))
            return 1;
    return 0;
}

/* setuid/setgid files: new ones, and files that became so. */
static int judge_suid(hn_ctx *ctx, const char *relpath, const cr_node *old, const cr_node *n)
{
    const hn_dpkg *d;
    char detail[1024], ow[256], what[128];
    ps_own o;
    uint32_t omode = 0;
    int err;
    uint32_t bits = n->mode & 06000;
    int was = old && old->type == CR_NODE_FILE && (old->mode & 06000);
    int same = same_content(old, n);

    if (was && same && (old->mode & 06000) == bits && (!(bits & 04000) || old->uid == n->uid) &&
        (!(bits & 02000) || old->gid == n->gid))
        return reemit(ctx, relpath, IND_SUID, n, NULL, NULL, 0, NULL, 0);
    if ((err = owner_of(&o, ctx, relpath, n, NULL)) < 0 || (err = get_dpkg(ctx, &d)) < 0)
        return err;
    int override = hn_dpkg_statoverride(d, relpath, &omode) && (omode & 06000) == bits;
    own_words(ow, sizeof(ow), &o);
    snprintf(what, sizeof(what), "%s%s%s", (bits & 04000) ? "setuid" : "",
             bits == 06000 ? " and " : "", (bits & 02000) ? "setgid" : "");
    char who[96] = "";
    if (bits & 04000)
        snprintf(who, sizeof(who), " (runs as %s)", n->uid == 0 ? "root" : "its owner");
    if (ctx->baseline) {
        if (o.st == HN_OWNED_MATCH && !override && shell_like(base_name(relpath))) {
            snprintf(detail, sizeof(detail),
                     "inventory at the first restore point: %s file%s, %s; no distribution ships "
                     "this program %s: someone set the bit",
                     what, who, ow, what);
            return emit(ctx, relpath, CR_SEV_INFO, IND_SUID, n, NULL, detail);
        }
        if (o.st == HN_OWNED_MATCH || o.st == HN_OWNED_NOSUM || override)
            return 0;
        snprintf(detail, sizeof(detail), "inventory at the first restore point: %s file%s, %s",
                 what, who, ow);
        return emit(ctx, relpath, CR_SEV_INFO, IND_SUID, n, NULL, detail);
    }
    cr_severity sev;
    const char *how = was ? "changed" : old && old->type == CR_NODE_FILE ? "became" : "new";
    if (override) {
        sev = CR_SEV_INFO;
        snprintf(detail, sizeof(detail), "routine: %s file%s set by dpkg-statoverride, %s", what,
                 who, ow);
    } else if (o.st == HN_OWNED_MATCH && same) {
        /* The package's bytes, but someone set the bit (or made the file root's): a
         * classic way to keep root. (Same bytes and same bits were re-emitted above.) */
        sev = CR_SEV_HIGH;
        snprintf(detail, sizeof(detail),
                 "file became %s%s without any change to its content (%s): someone set the bit",
                 what, who, ow);
    } else if (o.st == HN_OWNED_MATCH) {
        sev = CR_SEV_INFO;
        snprintf(detail, sizeof(detail), "routine: %s file%s, %s", what, who, ow);
    } else if (o.st == HN_OWNED_NOSUM) {
        sev = CR_SEV_MEDIUM;
        snprintf(detail, sizeof(detail), "%s %s file%s, %s", how, what, who, ow);
    } else if (o.st == HN_OWNED_MODIFIED) {
        sev = CR_SEV_HIGH;
        snprintf(detail, sizeof(detail), "%s %s file%s, %s", how, what, who, ow);
    } else {
        /* Unowned. Without a package database, an update of a known one is not proof. */
        sev = (!o.known && was) ? CR_SEV_MEDIUM : CR_SEV_HIGH;
        snprintf(detail, sizeof(detail), "%s %s file%s, %s", how, what, who, ow);
    }
    if (sev > CR_SEV_INFO && was)
        sev = max_sev(sev, prev_max(ctx, IND_SUID));
    return emit(ctx, relpath, sev, IND_SUID, n, NULL, detail);
}

int hn_persist_linux(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                     const cr_node *new_node)
{
    ps_loc loc;
    int err = 0;
    if (!new_node || !relpath)
        return 0; /* removed: its findings simply end */
    if (new_node->type != CR_NODE_FILE && new_node->type != CR_NODE_SYMLINK)
        return 0;
    if (classify(&loc, relpath))
        err = judge_location(ctx, &loc, relpath, old_node, new_node);
    if (!err && new_node->type == CR_NODE_FILE && (new_node->mode & 06000))
        err = judge_suid(ctx, relpath, old_node, new_node);
    return err;
}
