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
#include "util/sandbox.h"

#include <openssl/evp.h>
#include <fnmatch.h>
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
    K_SHELLRC,    /* lines: shell startup files (profile, bashrc...) */
    K_SSHRC,      /* lines: ~/.ssh/rc, /etc/ssh/sshrc (run at each SSH login) */
    K_SSHD,       /* lines: sshd_config directives that let someone in or run a program */
    K_ENV,        /* lines: /etc/environment & co: variables that inject code */
    K_LDCONF,     /* lines: library folders of the dynamic linker */
    K_UDEV,       /* lines: udev rules that run programs */
    K_APTHOOK,    /* items: commands APT runs around package operations */
    K_LOGROTATE,  /* lines: commands of logrotate's scripts */
    K_MODLOAD,    /* lines: kernel modules loaded at boot; modprobe install commands */
    K_PTH,        /* lines: import lines of Python .pth files */
    K_GROUP,      /* lines: members of privileged groups */
    K_SYSSHELL,   /* lines: system accounts with a login shell (/etc/passwd, second look) */
    K_SHADOW,     /* lines: root's password, empty passwords */
    K_HTACCESS,   /* lines: directives that make files run as scripts */
    K_AUTOSTART,  /* whole file: desktop autostart entries */
    K_MOTD,       /* whole file: update-motd.d scripts (run at each login) */
    K_NETHOOK,    /* whole file: scripts run at network events */
    K_UPSTART,    /* whole file: upstart jobs */
    K_ATJOB,      /* whole file: at jobs */
    K_PYSTART,    /* whole file: sitecustomize.py, usercustomize.py */
    K_LAST = K_PYSTART
};

typedef struct ps_loc {
    enum ps_kind kind;
    enum ps_kind also; /* a second judge of the same file (/etc/passwd), or K_NONE */
    int vendor;  /* a folder only packages write to (/usr/lib/...) */
    int ignored; /* the program reading the folder skips this name */
    int minor;   /* authorized_keys* that sshd does not read by default; modprobe.d */
    int home;    /* a shell startup file in a home folder (compared with /etc/skel) */
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
    case K_SHELLRC:
        return "persistence:shell-startup";
    case K_SSHRC:
        return "persistence:ssh-rc";
    case K_SSHD:
        return "persistence:sshd-config";
    case K_ENV:
        return "persistence:environment";
    case K_LDCONF:
        return "persistence:ld-so-conf";
    case K_UDEV:
        return "persistence:udev";
    case K_APTHOOK:
        return "persistence:apt-hook";
    case K_LOGROTATE:
        return "persistence:logrotate";
    case K_MODLOAD:
        return "persistence:kernel-module";
    case K_PTH:
    case K_PYSTART:
        return "persistence:python-startup";
    case K_GROUP:
        return "persistence:privileged-group";
    case K_SYSSHELL:
        return "persistence:system-account-shell";
    case K_SHADOW:
        return "persistence:password";
    case K_HTACCESS:
        return "persistence:webroot-config";
    case K_AUTOSTART:
        return "persistence:autostart";
    case K_MOTD:
        return "persistence:motd";
    case K_NETHOOK:
        return "persistence:network-hook";
    case K_UPSTART:
        return "persistence:upstart";
    case K_ATJOB:
        return "persistence:at";
    case K_NONE:
        break;
    }
    return NULL;
}

#define IND_SUID "persistence:suid"

static int is_line_kind(enum ps_kind k)
{
    return k == K_CRONTAB || k == K_RCLOCAL || k == K_PRELOAD || k == K_SSHKEY || k == K_PASSWD ||
           k == K_SUDOERS || k == K_PAM || k == K_SHELLRC || k == K_SSHRC || k == K_SSHD ||
           k == K_ENV || k == K_LDCONF || k == K_UDEV || k == K_APTHOOK || k == K_LOGROTATE ||
           k == K_MODLOAD || k == K_PTH || k == K_GROUP || k == K_SYSSHELL || k == K_SHADOW ||
           k == K_HTACCESS;
}

/* Files that are not a package's: accounts and their secrets, users' own files. */
static int never_packaged(enum ps_kind k)
{
    return k == K_SSHKEY || k == K_PASSWD || k == K_GROUP || k == K_SYSSHELL || k == K_SHADOW;
}

/* Kinds whose first-snapshot inventory is one note per file, not one per line: their
 * files are long (a bashrc) or their items secret (password hashes). */
static int one_note_inventory(enum ps_kind k)
{
    return k == K_PAM || k == K_SHELLRC || k == K_SSHRC || k == K_LOGROTATE || k == K_SHADOW ||
           k == K_UDEV || k == K_APTHOOK || k == K_HTACCESS;
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

/* Names run-parts runs (Debian: letters, digits, "_" and "-" only): others are skipped. */
static int run_parts_skips(const char *name)
{
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            return 1;
    return 0;
}

/*
 * The places added for issue "hunt you can trust" (docs/hunt.md, "Persistence
 * places") that are a file, or any file directly in a folder: shell startup
 * files, sshd and its rc files, the environment and the dynamic linker's
 * folders, udev, APT hooks, logrotate scripts, kernel modules, privileged
 * groups, passwords, desktop autostart, motd scripts, network hooks, upstart
 * jobs and at jobs. A folder's entry says which names its reader skips.
 */
enum pl_match { PL_FILE, PL_DIR };
enum pl_skip {
    PL_NONE,     /* every name is read */
    PL_LEFTOVER, /* editor and package-manager leftovers are skipped (leftover_name) */
    PL_SUFFIX,   /* only names ending in `suffix` are read */
    PL_SUFFIXL,  /* only names ending in `suffix`, leftovers skipped */
    PL_RUNPARTS, /* run-parts: names with other than letters, digits, "_", "-" skipped */
    PL_APT,      /* APT's Dir::Ignore-Files-Silently */
    PL_DOT,      /* names starting with a dot skipped (atd's .SEQ) */
};
static const struct place {
    const char *path;
    enum ps_kind kind;
    unsigned char match, skip, vendor, minor;
    const char *suffix;
} places[] = {
    {"/etc/profile", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/bash.bashrc", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/bash.bash_logout", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/zsh/zshrc", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/zsh/zshenv", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/zsh/zprofile", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/zsh/zlogin", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/zsh/zlogout", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/csh.cshrc", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/csh.login", K_SHELLRC, PL_FILE, PL_NONE, 0, 0, NULL},
    /* /etc/profile runs the *.sh files of /etc/profile.d */
    {"/etc/profile.d/", K_SHELLRC, PL_DIR, PL_SUFFIXL, 0, 0, ".sh"},
    {"/etc/ssh/sshrc", K_SSHRC, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/ssh/sshd_config", K_SSHD, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/ssh/sshd_config.d/", K_SSHD, PL_DIR, PL_SUFFIX, 0, 0, ".conf"},
    {"/etc/environment", K_ENV, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/security/pam_env.conf", K_ENV, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/environment.d/", K_ENV, PL_DIR, PL_SUFFIX, 0, 0, ".conf"},
    {"/etc/ld.so.conf", K_LDCONF, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/ld.so.conf.d/", K_LDCONF, PL_DIR, PL_SUFFIX, 0, 0, ".conf"},
    {"/etc/udev/rules.d/", K_UDEV, PL_DIR, PL_SUFFIX, 0, 0, ".rules"},
    {"/lib/udev/rules.d/", K_UDEV, PL_DIR, PL_SUFFIX, 1, 0, ".rules"},
    {"/usr/lib/udev/rules.d/", K_UDEV, PL_DIR, PL_SUFFIX, 1, 0, ".rules"},
    {"/etc/apt/apt.conf", K_APTHOOK, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/apt/apt.conf.d/", K_APTHOOK, PL_DIR, PL_APT, 0, 0, NULL},
    {"/etc/logrotate.conf", K_LOGROTATE, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/logrotate.d/", K_LOGROTATE, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/modules", K_MODLOAD, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/modules-load.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 0, 0, ".conf"},
    {"/lib/modules-load.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 1, 0, ".conf"},
    {"/usr/lib/modules-load.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 1, 0, ".conf"},
    /* modprobe.d: only install and remove commands are items (minor) */
    {"/etc/modprobe.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 0, 1, ".conf"},
    {"/lib/modprobe.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 1, 1, ".conf"},
    {"/usr/lib/modprobe.d/", K_MODLOAD, PL_DIR, PL_SUFFIX, 1, 1, ".conf"},
    {"/etc/group", K_GROUP, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/shadow", K_SHADOW, PL_FILE, PL_NONE, 0, 0, NULL},
    {"/etc/xdg/autostart/", K_AUTOSTART, PL_DIR, PL_SUFFIX, 0, 0, ".desktop"},
    {"/etc/update-motd.d/", K_MOTD, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/NetworkManager/dispatcher.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/NetworkManager/dispatcher.d/pre-up.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/NetworkManager/dispatcher.d/pre-down.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/NetworkManager/dispatcher.d/no-wait.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/usr/lib/NetworkManager/dispatcher.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 1, 0, NULL},
    {"/usr/lib/NetworkManager/dispatcher.d/pre-up.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 1, 0, NULL},
    {"/usr/lib/NetworkManager/dispatcher.d/pre-down.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 1, 0,
     NULL},
    {"/usr/lib/NetworkManager/dispatcher.d/no-wait.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 1, 0,
     NULL},
    /* ifupdown and ppp use run-parts; dhclient sources every file of its hook folders */
    {"/etc/network/if-up.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/network/if-pre-up.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/network/if-down.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/network/if-post-down.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/ppp/ip-up.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/ppp/ip-down.d/", K_NETHOOK, PL_DIR, PL_RUNPARTS, 0, 0, NULL},
    {"/etc/dhcp/dhclient-enter-hooks.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/dhcp/dhclient-exit-hooks.d/", K_NETHOOK, PL_DIR, PL_LEFTOVER, 0, 0, NULL},
    {"/etc/init/", K_UPSTART, PL_DIR, PL_SUFFIX, 0, 0, ".conf"},
    {"/var/spool/cron/atjobs/", K_ATJOB, PL_DIR, PL_DOT, 0, 0, NULL},
    {"/var/spool/at/", K_ATJOB, PL_DIR, PL_DOT, 0, 0, NULL},
};

/* Whether the reader of a place's folder skips `name`. */
static int place_skips(const struct place *pl, const char *name)
{
    switch (pl->skip) {
    case PL_LEFTOVER:
        return leftover_name(name);
    case PL_SUFFIX:
        return !ends_with(name, pl->suffix);
    case PL_SUFFIXL:
        return leftover_name(name) || !ends_with(name, pl->suffix);
    case PL_RUNPARTS:
        return run_parts_skips(name);
    case PL_APT:
        return leftover_name(name) || ends_with(name, ".disabled") || ends_with(name, ".bak") ||
               ends_with(name, ".save") || ends_with(name, ".orig") ||
               ends_with(name, ".distUpgrade");
    case PL_DOT:
        return name[0] == '.';
    default:
        return 0;
    }
}

static int classify_more(ps_loc *loc, const char *p)
{
    static const char *const shell_home[] = {".bashrc",   ".bash_profile", ".bash_login",
                                             ".bash_logout", ".profile",   ".zshrc",
                                             ".zshenv",   ".zprofile",    ".zlogin",
                                             ".zlogout",  ".cshrc",       ".tcshrc"};
    const char *r = NULL, *home;

    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        const struct place *pl = &places[i];
        if (pl->match == PL_FILE ? strcmp(p, pl->path) != 0 : !one_name(r = after(p, pl->path)))
            continue;
        loc->kind = pl->kind;
        loc->vendor = pl->vendor;
        loc->minor = pl->minor;
        loc->ignored = pl->match == PL_DIR && place_skips(pl, r);
        return 1;
    }
    /* Home folders (and their model, /etc/skel). */
    home = in_home(p);
    if (!home && (r = after(p, "/etc/skel/")))
        home = r;
    for (size_t i = 0; home && i < sizeof(shell_home) / sizeof(shell_home[0]); i++)
        if (!strcmp(home, shell_home[i])) {
            loc->kind = K_SHELLRC;
            loc->home = !after(p, "/etc/skel/");
            return 1;
        }
    if (ends_with(p, "/.ssh/rc") && strlen(p) > 8) {
        loc->kind = K_SSHRC;
        return 1;
    }
    if ((home = in_home(p))) {
        if (!strcmp(home, ".pam_environment")) {
            loc->kind = K_ENV;
            return 1;
        }
        if (one_name(r = after(home, ".config/environment.d/"))) {
            loc->kind = K_ENV;
            loc->ignored = !ends_with(r, ".conf");
            return 1;
        }
        if (one_name(r = after(home, ".config/autostart/"))) {
            loc->kind = K_AUTOSTART;
            loc->ignored = !ends_with(r, ".desktop");
            return 1;
        }
    }

    /* Python: .pth files and sitecustomize run at every start of the interpreter;
     * web server per-folder settings, wherever the web root is. */
    const char *name = base_name(p);
    size_t dl = (size_t)(name - p);
    const char *py = strstr(p, "/python");
    int pydir = py && py < name && dl >= 15 &&
                (!strncmp(name - 15, "/dist-packages/", 15) ||
                 !strncmp(name - 15, "/site-packages/", 15));
    if (pydir && ends_with(name, ".pth")) {
        loc->kind = K_PTH;
        return 1;
    }
    if (py && (!strcmp(name, "sitecustomize.py") || !strcmp(name, "usercustomize.py"))) {
        loc->kind = K_PYSTART;
        return 1;
    }
    if (!strcmp(name, ".htaccess") || !strcmp(name, ".user.ini")) {
        loc->kind = K_HTACCESS;
        return 1;
    }
    return 0;
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
    if ((r = in_home(p)) && (r = after(r, ".local/share/systemd/user/")))
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
        loc->also = K_SYSSHELL;
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

    if (classify_more(loc, p))
        return 1;

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
                                          ".asmx", ".cgi",   ".pl",   ".py",   ".sh",   ".war",
                                          ".inc"};
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
    char *why;         /* why it is worse than the usual (or NULL) */
    cr_severity floor; /* at least this severity (baseline aside) */
    char *pam_module;  /* PAM: the module a rule loads, for pam_judge (or NULL) */
} ps_item;

typedef struct ps_items {
    ps_item *v;
    size_t n, cap;
    size_t dropped; /* beyond PS_MAX_ITEMS */
} ps_items;

static void items_clear(ps_items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].ev);
        free(it->v[i].why);
        free(it->v[i].pam_module);
    }
    free(it->v);
    memset(it, 0, sizeof(*it));
}

static int items_add_pam(ps_items *it, const char *ev, const char *why, cr_severity floor,
                         const char *pam_module)
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
    ps_item *x = &it->v[it->n];
    memset(x, 0, sizeof(*x));
    if (!(x->ev = cr_strdup(ev)) || (why && !(x->why = cr_strdup(why))) ||
        (pam_module && !(x->pam_module = cr_strdup(pam_module)))) {
        free(x->ev);
        free(x->why);
        return CR_ERROR;
    }
    x->floor = floor;
    it->n++;
    return 0;
}

static int items_add(ps_items *it, const char *ev, const char *why, cr_severity floor)
{
    return items_add_pam(it, ev, why, floor, NULL);
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
    int minor;                    /* the location's minor flag (modprobe.d) */
    char script[16];              /* logrotate: the script block being read, or "" */
    ps_items *items;
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
/* Whether a package installed the PAM module a rule names (by path, or by name in the
 * module folders). */
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
    }
    /* Whether a package installed the module is the package database's to say (pam_judge,
     * in the clean room's process: the parser may run in the sandbox, which has none). */
    return items_add_pam(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO,
                         *mod && !why ? mod : NULL);
}

/* PAM rules loading a module no package installed (with a package database to tell). */
static int pam_judge(ps_items *it, const hn_dpkg *d)
{
    if (!d || !hn_dpkg_count(d))
        return 0;
    for (size_t i = 0; i < it->n; i++) {
        ps_item *x = &it->v[i];
        if (x->why || !x->pam_module || pam_module_owned(d, x->pam_module))
            continue;
        if (!(x->why = cr_strdup("it loads a PAM module that no package installed")))
            return CR_ERROR;
        x->floor = CR_SEV_HIGH;
    }
    return 0;
}

/* The first word of a line (after blanks), lower-cased into w; the rest after it. */
static const char *first_word(char *w, size_t cap, const char *s)
{
    size_t i = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    while (*s && *s != ' ' && *s != '\t' && *s != '=' && i + 1 < cap) {
        w[i++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
        s++;
    }
    w[i] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Lines of shell code that do nothing by themselves. */
static int shell_structure(const char *s)
{
    static const char *const w[] = {"fi", "done", "esac", "then", "else", "do", "{", "}",
                                    ";;", "exit 0", "return 0", ":", "true"};
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        if (!strcmp(s, w[i]))
            return 1;
    return 0;
}

/* Shell startup files and SSH rc files: every line of code is an item. */
static int parse_shell_line(ps_parse *ps, const char *s, size_t n)
{
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    if (shell_structure(ps->full))
        return 0;
    const char *why = suspicious(ps->full);
    return items_add(ps->items, ps->ev, why, why ? CR_SEV_HIGH : CR_SEV_INFO);
}

/* 1 if every word of an AuthorizedKeysFile value is sshd's default or "none". */
static int sshd_default_keyfiles(const char *s)
{
    int words = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '=')
            s++;
        size_t k = strcspn(s, " \t");
        if (!k)
            break;
        if (!((k == 4 && !strncmp(s, "none", 4)) ||
              (k == 20 && !strncmp(s, ".ssh/authorized_keys", 20)) ||
              (k == 21 && !strncmp(s, ".ssh/authorized_keys2", 21))))
            return 0;
        words++;
        s += k;
    }
    return words > 0;
}

/* sshd_config: the directives that let someone in, or make sshd run a program. */
static int parse_sshd_line(ps_parse *ps, const char *s, size_t n)
{
    static const struct {
        const char *kw;
        const char *why;
    } kws[] = {
        {"authorizedkeysfile", "it moves the files of keys that may log in"},
        {"authorizedkeyscommand", "sshd runs this program to learn which keys may log in"},
        {"authorizedkeyscommanduser", "the account that runs the keys command"},
        {"authorizedprincipalsfile", "it names who may log in with certificates"},
        {"authorizedprincipalscommand", "sshd runs this program to learn who may log in"},
        {"trustedusercakeys", "every key signed by this authority may log in"},
        {"forcecommand", "sshd runs this command at each login"},
        {"subsystem", "sshd runs this program for a subsystem (sftp)"},
        {"permitemptypasswords", "accounts without a password may log in"},
        {"permituserenvironment", "users' files may set LD_PRELOAD and the like for sshd"},
        {"permitrootlogin", "root may log in"},
        {"include", "sshd reads its settings from another file too"},
    };
    char w[64];
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    const char *rest = first_word(w, sizeof(w), ps->full);
    for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++)
        if (!strcmp(w, kws[i].kw)) {
            /* Settings that only close doors are not items. */
            if ((!strcmp(w, "permitemptypasswords") || !strcmp(w, "permituserenvironment")) &&
                strncasecmp(rest, "yes", 3) != 0)
                return 0;
            if (!strcmp(w, "permitrootlogin") && strncasecmp(rest, "yes", 3) != 0)
                return 0;
            /* sshd's default key files, or none at all, move nothing. */
            if (!strcmp(w, "authorizedkeysfile") && sshd_default_keyfiles(rest))
                return 0;
            /* Debian's own Include, of the folder judged as sshd's already. */
            if (!strcmp(w, "include") && (!strcmp(rest, "/etc/ssh/sshd_config.d/*.conf") ||
                                          !strcmp(rest, "sshd_config.d/*.conf")))
                return 0;
            return items_add(ps->items, ps->ev, kws[i].why, CR_SEV_HIGH);
        }
    return 0;
}

/* Variables that make every program (or every shell) load or run code. */
static const char *env_danger(const char *name, size_t n, cr_severity *floor)
{
    static const char *const crit[] = {"LD_PRELOAD", "LD_AUDIT"};
    static const char *const high[] = {"LD_LIBRARY_PATH", "BASH_ENV",      "ENV",
                                       "PROMPT_COMMAND",  "PYTHONSTARTUP", "PYTHONPATH",
                                       "PERL5OPT",        "PERL5LIB",      "NODE_OPTIONS",
                                       "RUBYOPT"};
    for (size_t i = 0; i < sizeof(crit) / sizeof(crit[0]); i++)
        if (strlen(crit[i]) == n && !strncmp(name, crit[i], n)) {
            *floor = CR_SEV_CRITICAL;
            return "it makes every program load a library chosen by whoever wrote it";
        }
    for (size_t i = 0; i < sizeof(high) / sizeof(high[0]); i++)
        if (strlen(high[i]) == n && !strncmp(name, high[i], n)) {
            *floor = CR_SEV_HIGH;
            return "it makes programs or shells load code chosen by whoever wrote it";
        }
    return NULL;
}

/* /etc/environment ("NAME=value"), pam_env.conf ("NAME DEFAULT=..."), environment.d. */
static int parse_env_line(ps_parse *ps, const char *s, size_t n)
{
    const char *end = s + n, *p = skip_blanks(s, end);
    cr_severity floor = CR_SEV_INFO;
    if (p == end || *p == '#')
        return 0;
    if (end - p > 7 && !strncmp(p, "export", 6) && (p[6] == ' ' || p[6] == '\t'))
        p = skip_blanks(p + 6, end);
    const char *name = p;
    while (p < end && *p != '=' && *p != ' ' && *p != '\t')
        p++;
    const char *why = env_danger(name, (size_t)(p - name), &floor);
    if (!why)
        return 0;
    set_item(ps, s, n);
    return items_add(ps->items, ps->ev, why, floor);
}

static int parse_ldconf_line(ps_parse *ps, const char *s, size_t n)
{
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    return items_add(ps->items, ps->ev,
                     "programs look for their libraries in this folder before the system's",
                     CR_SEV_INFO);
}

/* udev: rules that run a program (RUN, PROGRAM, IMPORT{program}). */
static int parse_udev_line(ps_parse *ps, const char *s, size_t n)
{
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    const char *f = ps->full;
    if (!strstr(f, "RUN+=") && !strstr(f, "RUN=") && !strstr(f, "RUN{") &&
        !strstr(f, "PROGRAM=") && !strstr(f, "PROGRAM==") && !strstr(f, "IMPORT{program}"))
        return 0;
    const char *why = suspicious(f);
    return items_add(ps->items, ps->ev, why ? why : "udev runs this program as root when a device appears",
                     why ? CR_SEV_HIGH : CR_SEV_INFO);
}

/* logrotate: the commands of prerotate/postrotate/firstaction/lastaction/preremove. */
static int parse_logrotate_line(ps_parse *ps, const char *s, size_t n)
{
    static const char *const blocks[] = {"prerotate", "postrotate", "firstaction", "lastaction",
                                         "preremove"};
    char w[32], ev[PS_MAX_EVIDENCE + 8];
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    first_word(w, sizeof(w), ps->full);
    if (!ps->script[0]) {
        for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
            if (!strcmp(w, blocks[i]))
                snprintf(ps->script, sizeof(ps->script), "%s", blocks[i]);
        return 0;
    }
    if (!strcmp(w, "endscript")) {
        ps->script[0] = '\0';
        return 0;
    }
    if (shell_structure(ps->full))
        return 0;
    snprintf(ev, sizeof(ev), "%s: %.480s", ps->script, ps->ev);
    const char *why = suspicious(ps->full);
    return items_add(ps->items, ev, why ? why : "logrotate runs this command as root",
                     why ? CR_SEV_HIGH : CR_SEV_INFO);
}

/* modules-load.d: module names; modprobe.d: the commands of install and remove. */
static int parse_modload_line(ps_parse *ps, const char *s, size_t n)
{
    char w[32];
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    if (blank_or_comment(s, n))
        return 0;
    set_item(ps, s, n);
    if (ps->minor) {
        first_word(w, sizeof(w), ps->full);
        if (strcmp(w, "install") && strcmp(w, "remove"))
            return 0;
        const char *why = suspicious(ps->full);
        return items_add(ps->items, ps->ev,
                         why ? why : "modprobe runs this command as root instead of loading the module",
                         why ? CR_SEV_HIGH : CR_SEV_INFO);
    }
    return items_add(ps->items, ps->ev, "a kernel module loaded at every boot", CR_SEV_INFO);
}

/* .pth: "import" lines are run by every start of Python; other lines only add folders. */
static int parse_pth_line(ps_parse *ps, const char *s, size_t n)
{
    if (n < 7 || (strncmp(s, "import ", 7) && strncmp(s, "import\t", 7)))
        return 0;
    set_item(ps, s, n);
    const char *why = suspicious(ps->full);
    return items_add(ps->items, ps->ev, why ? why : "Python runs this line at every start",
                     CR_SEV_INFO);
}

/* /etc/group: members of groups that give root or read every log or secret. */
static int parse_group_line(ps_parse *ps, const char *s, size_t n)
{
    static const char *const priv[] = {"root",  "sudo",   "wheel",   "adm",     "admin",
                                       "shadow", "disk",  "docker",  "lxd",     "libvirt",
                                       "kmem",  "staff"};
    char name[64], ev[PS_MAX_EVIDENCE + 8];
    const char *end = s + n, *c1, *c2, *c3;
    if (!n || s[0] == '#' || s[0] == '+' || s[0] == '-')
        return 0;
    if (!(c1 = memchr(s, ':', n)) || !(c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))) ||
        !(c3 = memchr(c2 + 1, ':', (size_t)(end - c2 - 1))))
        return 0;
    size_t nl = (size_t)(c1 - s);
    if (nl == 0 || nl >= sizeof(name))
        return 0;
    memcpy(name, s, nl);
    name[nl] = '\0';
    int gid0 = c3 > c2 + 1;
    for (const char *q = c2 + 1; q < c3; q++)
        if (*q != '0')
            gid0 = 0;
    if (gid0 && strcmp(name, "root") != 0) {
        snprintf(ev, sizeof(ev), "group %.60s has group id 0", name);
        hn_text_clean(ps->ev, sizeof(ps->ev), ev, strlen(ev));
        int err = items_add(ps->items, ps->ev, "its members have the rights of root's group",
                            CR_SEV_HIGH);
        if (err)
            return err;
    }
    int privileged = gid0;
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]) && !privileged; i++)
        privileged = !strcmp(name, priv[i]);
    if (!privileged)
        return 0;
    for (const char *m = c3 + 1; m < end;) {
        const char *e = memchr(m, ',', (size_t)(end - m));
        if (!e)
            e = end;
        const char *a = skip_blanks(m, e), *b = e;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            snprintf(ev, sizeof(ev), "%s: %.*s", name, (int)(b - a > 200 ? 200 : b - a), a);
            hn_text_clean(ps->ev, sizeof(ps->ev), ev, strlen(ev));
            int err = items_add(ps->items, ps->ev,
                                !strcmp(name, "adm") || !strcmp(name, "shadow")
                                    ? "its members read the system's logs or password hashes"
                                    : "its members can become root",
                                CR_SEV_INFO);
            if (err)
                return err;
        }
        m = e + 1;
    }
    return 0;
}

/* /etc/passwd, second look: system accounts (user id below 1000) with a login shell. */
static int parse_sysshell_line(ps_parse *ps, const char *s, size_t n)
{
    static const char *const shells[] = {"sh",  "bash", "dash", "zsh",  "ksh",     "mksh",
                                         "csh", "tcsh", "fish", "rbash", "busybox", "python",
                                         "python3", "perl"};
    const char *f[7], *end = s + n;
    size_t k = 0;
    char ev[PS_MAX_EVIDENCE + 8];
    if (!n || s[0] == '+' || s[0] == '-' || s[0] == '#')
        return 0;
    f[k++] = s;
    for (const char *q = s; q < end && k < 7; q++)
        if (*q == ':')
            f[k++] = q + 1;
    if (k < 7)
        return 0;
    long uid = 0;
    const char *u = f[2];
    if (*u == ':' )
        return 0;
    for (; *u != ':'; u++) {
        if (*u < '0' || *u > '9' || uid > 100000)
            return 0;
        uid = uid * 10 + (*u - '0');
    }
    if (uid == 0 || uid >= 1000)
        return 0; /* user id 0 is the uid0 judge's; 1000 and up are people */
    const char *sh = f[6];
    size_t sl = (size_t)(end - sh);
    const char *b = sh;
    for (size_t i = 0; i < sl; i++)
        if (sh[i] == '/')
            b = sh + i + 1;
    size_t bl = (size_t)(end - b);
    int login = 0;
    for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]) && !login; i++)
        login = strlen(shells[i]) == bl && !strncmp(b, shells[i], bl);
    if (!login)
        return 0;
    snprintf(ev, sizeof(ev), "%.*s (user id %ld): %.*s", (int)(f[1] - 1 - s > 100 ? 100 : f[1] - 1 - s),
             s, uid, (int)(sl > 200 ? 200 : sl), sh);
    hn_text_clean(ps->ev, sizeof(ps->ev), ev, strlen(ev));
    return items_add(ps->items, ps->ev,
                     "a service account that can log in with a shell (they normally cannot)",
                     CR_SEV_INFO);
}

/* /etc/shadow: root's password hash (as a fingerprint, never the hash), empty passwords. */
static int parse_shadow_line(ps_parse *ps, const char *s, size_t n)
{
    const char *end = s + n, *c1, *c2;
    char ev[160];
    if (!n || s[0] == '#' || !(c1 = memchr(s, ':', n)) || c1 == s)
        return 0;
    c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
    if (!c2)
        c2 = end;
    size_t nl = (size_t)(c1 - s), hl = (size_t)(c2 - c1 - 1);
    if (nl > 64)
        return 0;
    if (hl == 0) {
        snprintf(ev, sizeof(ev), "%.*s: no password (empty field)", (int)nl, s);
        hn_text_clean(ps->ev, sizeof(ps->ev), ev, strlen(ev));
        return items_add(ps->items, ps->ev, "anyone may log in as this account without a password",
                         CR_SEV_HIGH);
    }
    if (nl != 4 || memcmp(s, "root", 4) != 0 || c1[1] == '!' || c1[1] == '*')
        return 0;
    uint8_t h[32];
    char hex[17];
    cr_sha256(h, c1 + 1, hl);
    cr_hex_encode(hex, h, 8);
    snprintf(ev, sizeof(ev), "root: password set (hash fingerprint %s)", hex);
    memcpy(ps->ev, ev, strlen(ev) + 1);
    return items_add(ps->items, ps->ev,
                     "root's password changed: whoever set it can log in as root", CR_SEV_INFO);
}

/* .htaccess / .user.ini: directives that make files of the folder run as scripts. */
static int parse_htaccess_line(ps_parse *ps, const char *s, size_t n)
{
    char w[64];
    if (blank_or_comment(s, n) || (n && s[0] == ';'))
        return 0;
    set_item(ps, s, n);
    const char *rest = first_word(w, sizeof(w), ps->full);
    char low[512];
    size_t i = 0;
    for (; rest[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)((rest[i] >= 'A' && rest[i] <= 'Z') ? rest[i] + 32 : rest[i]);
    low[i] = '\0';
    int run = 0;
    if (!strcmp(w, "addtype") || !strcmp(w, "addhandler") || !strcmp(w, "sethandler") ||
        !strcmp(w, "forcetype") || !strcmp(w, "action"))
        run = strstr(low, "php") || strstr(low, "cgi-script") || strstr(low, "x-httpd") ||
              strstr(low, "python") || strstr(low, "perl") || strstr(low, "server-parsed");
    if (strstr(ps->full, "auto_prepend_file") || strstr(ps->full, "auto_append_file"))
        run = 1;
    if (!run)
        return 0;
    return items_add(ps->items, ps->ev,
                     "it makes files of this folder run as scripts (an uploaded .jpg runs as PHP) "
                     "or adds code to every script",
                     CR_SEV_INFO);
}

/*
 * APT configuration: commands run around package operations
 * (DPkg::Pre-Invoke, DPkg::Post-Invoke, APT::Update::Pre-Invoke,
 * DPkg::Pre-Install-Pkgs...), written flat ("DPkg::Post-Invoke {"cmd";};")
 * or nested ("DPkg { Post-Invoke { "cmd"; }; };"). Tokens: names, quoted
 * strings, "{", "}", ";"; comments "//", "#" and C style. Each string under
 * a name ending in one of the hook names is an item "NAME: string".
 */
static int parse_apt(ps_parse *ps, const char *s, size_t n)
{
    enum { DEPTH = 16 };
    char scope[DEPTH][96], pending[96] = "";
    int depth = 0, err = 0;
    const char *p = s, *end = s + n;
    static const char *const hooks[] = {"pre-invoke", "post-invoke", "post-invoke-success",
                                        "pre-install-pkgs", "pre-invoke-success"};
    while (p < end && !err) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            p++;
        } else if (c == '#' || (c == '/' && p + 1 < end && p[1] == '/')) {
            while (p < end && *p != '\n')
                p++;
        } else if (c == '/' && p + 1 < end && p[1] == '*') {
            const char *e = p + 2;
            while (e + 1 < end && !(e[0] == '*' && e[1] == '/'))
                e++;
            p = e + 2 <= end ? e + 2 : end;
        } else if (c == '{') {
            if (depth < DEPTH)
                snprintf(scope[depth], sizeof(scope[depth]), "%s", pending);
            depth++;
            pending[0] = '\0';
            p++;
        } else if (c == '}') {
            if (depth > 0)
                depth--;
            pending[0] = '\0';
            p++;
        } else if (c == ';') {
            pending[0] = '\0';
            p++;
        } else if (c == '"') {
            const char *b = ++p;
            while (p < end && *p != '"')
                p++;
            size_t len = (size_t)(p - b);
            if (p < end)
                p++;
            /* The full name: scopes, then the pending name (either may hold "::"). */
            char full[512] = "";
            for (int i = 0; i < depth && i < DEPTH; i++)
                if (scope[i][0]) {
                    strncat(full, scope[i], sizeof(full) - strlen(full) - 3);
                    strcat(full, "::");
                }
            strncat(full, pending, sizeof(full) - strlen(full) - 1);
            size_t fl = strlen(full);
            while (fl >= 2 && full[fl - 1] == ':' && full[fl - 2] == ':')
                full[fl -= 2] = '\0';
            const char *last = full;
            for (const char *q = strstr(full, "::"); q; q = strstr(q + 2, "::"))
                last = q + 2;
            int hook = 0;
            for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]) && !hook; i++)
                hook = !strcasecmp(last, hooks[i]);
            if (hook) {
                char ev[PS_MAX_EVIDENCE + 8];
                char val[PS_MAX_EVIDENCE];
                hn_text_clean(val, sizeof(val), b, len);
                snprintf(ev, sizeof(ev), "%.100s: %.400s", full, val);
                hn_text_clean(ps->ev, sizeof(ps->ev), ev, strlen(ev));
                hn_text_clean(ps->full, sizeof(ps->full), b, len);
                const char *why = suspicious(ps->full);
                err = items_add(ps->items, ps->ev,
                                why ? why : "APT runs this command as root at every package "
                                            "operation",
                                why ? CR_SEV_HIGH : CR_SEV_INFO);
            }
        } else if (c == '\0' || c == '\f' || c == '\v') {
            p++; /* not APT syntax: a separator (strchr below would stop on a NUL) */
        } else {
            const char *b = p;
            p++; /* at least one byte: c is none of the separators */
            while (p < end && *p && !strchr(" \t\r\n{};\"#", *p))
                p++;
            size_t len = (size_t)(p - b);
            if (len >= sizeof(pending))
                len = sizeof(pending) - 1;
            memcpy(pending, b, len);
            pending[len] = '\0';
        }
    }
    return err;
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
    case K_SHELLRC:
    case K_SSHRC:
        return parse_shell_line(ps, s, n);
    case K_SSHD:
        return parse_sshd_line(ps, s, n);
    case K_ENV:
        return parse_env_line(ps, s, n);
    case K_LDCONF:
        return parse_ldconf_line(ps, s, n);
    case K_UDEV:
        return parse_udev_line(ps, s, n);
    case K_LOGROTATE:
        return parse_logrotate_line(ps, s, n);
    case K_MODLOAD:
        return parse_modload_line(ps, s, n);
    case K_PTH:
        return parse_pth_line(ps, s, n);
    case K_GROUP:
        return parse_group_line(ps, s, n);
    case K_SYSSHELL:
        return parse_sysshell_line(ps, s, n);
    case K_SHADOW:
        return parse_shadow_line(ps, s, n);
    case K_HTACCESS:
        return parse_htaccess_line(ps, s, n);
    default:
        return 0;
    }
}

/* The items of one file's bytes: the parsing proper, in the sandbox's "files" child. */
static int parse_items_here(ps_items *out, enum ps_kind kind, int minor, const void *data,
                            size_t len)
{
    ps_parse *ps = cr_calloc(1, sizeof(*ps));
    if (!ps)
        return CR_ERROR;
    ps->kind = kind;
    ps->minor = minor;
    ps->items = out;
    int join = kind == K_SUDOERS || kind == K_PAM || kind == K_RCLOCAL || kind == K_SHELLRC ||
               kind == K_SSHRC || kind == K_UDEV || kind == K_LOGROTATE || kind == K_MODLOAD;
    int err = kind == K_APTHOOK ? parse_apt(ps, data ? data : "", len)
                                : each_line(data ? data : "", len, join, parse_cb, ps);
    free(ps);
    return err;
}

/*
 * The text parsers in the sandbox. Request: u8 kind, u8 minor, the bytes.
 * Answer: varint n, n x {str evidence, str why ("": none), u8 floor,
 * str PAM module ("": none)}, varint dropped.
 */
#define PS_SBX_MAX_WHY 512
#define PS_SBX_MAX_MODULE 256

int hn_persist_text_serve(const void *data, size_t len, cr_buf *reply)
{
    const uint8_t *p = data;
    ps_items it;
    int err;
    memset(&it, 0, sizeof(it));
    if (len < 2 || p[0] == K_NONE || p[0] > K_LAST || !is_line_kind((enum ps_kind)p[0]) ||
        p[1] > 1) {
        cr_error_set("bad request");
        return CR_EINPUT;
    }
    if ((err = parse_items_here(&it, (enum ps_kind)p[0], p[1], p + 2, len - 2)) < 0)
        goto done;
    if ((err = cr_buf_put_varint(reply, it.n)) < 0)
        goto done;
    for (size_t i = 0; i < it.n; i++) {
        const ps_item *x = &it.v[i];
        if ((err = cr_buf_put_str(reply, x->ev)) < 0 ||
            (err = cr_buf_put_str(reply, x->why ? x->why : "")) < 0 ||
            (err = cr_buf_put_u8(reply, (uint8_t)x->floor)) < 0 ||
            (err = cr_buf_put_str(reply, x->pam_module ? x->pam_module : "")) < 0)
            goto done;
    }
    err = cr_buf_put_varint(reply, it.dropped);
done:
    items_clear(&it);
    return err;
}

/* A text of the child's answer, bounded and made printable: NULL when malformed. */
static char *text_decode(cr_rd *rd, size_t max)
{
    const uint8_t *p;
    size_t n;
    char *out;
    if (cr_rd_bytes(rd, &p, &n, max) < 0 || !(out = cr_malloc(n + 1)))
        return NULL;
    cr_sbx_clean_text(out, n + 1, p, n);
    return out;
}

static int items_decode(ps_items *out, const void *data, size_t len)
{
    cr_rd rd;
    uint64_t n, dropped;
    int err = CR_EHOSTILE;
    cr_rd_init(&rd, data, len);
    memset(out, 0, sizeof(*out));
    if (cr_rd_varint(&rd, &n) < 0 || n > PS_MAX_ITEMS)
        goto bad;
    for (uint64_t i = 0; i < n; i++) {
        char *ev = text_decode(&rd, PS_MAX_EVIDENCE + 8), *why = NULL, *mod = NULL;
        uint8_t floor = 0;
        if (!ev || !(why = text_decode(&rd, PS_SBX_MAX_WHY)) || cr_rd_u8(&rd, &floor) < 0 ||
            floor > CR_SEV_CRITICAL || !(mod = text_decode(&rd, PS_SBX_MAX_MODULE))) {
            free(ev);
            free(why);
            goto bad;
        }
        err = items_add_pam(out, ev, *why ? why : NULL, (cr_severity)floor, *mod ? mod : NULL);
        free(ev);
        free(why);
        free(mod);
        if (err < 0)
            goto done;
        err = CR_EHOSTILE;
    }
    if (cr_rd_varint(&rd, &dropped) < 0 || cr_rd_left(&rd) || dropped > UINT32_MAX)
        goto bad;
    out->dropped += (size_t)dropped;
    return 0;
bad:
    cr_error_set("the text reader's answer is malformed");
done:
    items_clear(out);
    return err;
}

int hn_persist_reply_check(const void *data, size_t len)
{
    ps_items it;
    int err = items_decode(&it, data, len);
    items_clear(&it);
    return err;
}

/*
 * The items of a file of one of the line kinds into `out` (empty), read by
 * the sandbox's "files" child (in-process with CLEANROOM_SANDBOX=off). @return 0, CR_ERROR
 * (memory), CR_EHOSTILE (the bytes made the reader crash, hang or misbehave:
 * no items).
 */
static int parse_items(ps_items *out, enum ps_kind kind, int minor, const hn_dpkg *d,
                       const cr_buf *b)
{
    cr_buf req = CR_BUF_INIT, reply = CR_BUF_INIT;
    int err;
    if (!cr_sbx_enabled()) {
        err = parse_items_here(out, kind, minor, b->ptr, b->len);
    } else if ((err = cr_buf_put_u8(&req, (uint8_t)kind)) < 0 ||
               (err = cr_buf_put_u8(&req, (uint8_t)(minor != 0))) < 0 ||
               (b->len && (err = cr_buf_put(&req, b->ptr, b->len)) < 0) ||
               (err = hn_text_examine(req.ptr, req.len, &reply)) < 0 ||
               (err = items_decode(out, reply.ptr, reply.len)) < 0) {
        goto done;
    }
    if (err == 0 && kind == K_PAM)
        err = pam_judge(out, d);
done:
    cr_buf_free(&req);
    cr_buf_free(&reply);
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

/* A file whose bytes made the sandboxed text reader crash, hang or misbehave. */
static int parser_crash(hn_ctx *ctx, const char *relpath, const cr_node *n, const char *what)
{
    char why[512];
    cr_id cid;
    hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
    hn_content_id(&cid, n);
    return hn_emit(ctx, relpath, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash", &cid, NULL,
                   "%s not read: %s; its entries were not checked: it may be crafted to attack "
                   "the tools that inspect it",
                   what, why);
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
    case K_SHELLRC:
        return item ? "line of a shell startup file (run at each login or shell)"
                    : "shell startup file";
    case K_SSHRC:
        return item ? "command run at each SSH login (ssh rc)" : "SSH rc file";
    case K_SSHD:
        return item ? "sshd setting" : "sshd configuration";
    case K_ENV:
        return item ? "variable given to every login" : "environment file";
    case K_LDCONF:
        return item ? "library folder of the dynamic linker" : "ld.so configuration";
    case K_UDEV:
        return item ? "udev rule that runs a program" : "udev rules file";
    case K_APTHOOK:
        return item ? "command APT runs around package operations" : "APT configuration";
    case K_LOGROTATE:
        return item ? "command of a logrotate script" : "logrotate configuration";
    case K_MODLOAD:
        return item ? "kernel module setting" : "kernel module configuration";
    case K_PTH:
        return item ? "line Python runs at every start (.pth)" : "Python .pth file";
    case K_PYSTART:
        return "Python startup module (run at every start of Python)";
    case K_GROUP:
        return item ? "member of a privileged group" : "group file";
    case K_SYSSHELL:
        return item ? "system account with a login shell" : "passwd file";
    case K_SHADOW:
        return item ? "password setting" : "shadow file";
    case K_HTACCESS:
        return item ? "web server directive that runs files as scripts"
                    : "web server folder settings (.htaccess, .user.ini)";
    case K_AUTOSTART:
        return "desktop autostart entry (run at each graphical login)";
    case K_MOTD:
        return "motd script (run as root at each login)";
    case K_NETHOOK:
        return "network hook script (run as root at network events)";
    case K_UPSTART:
        return "upstart job";
    case K_ATJOB:
        return "at job (a command scheduled to run once)";
    case K_NONE:
        break;
    }
    return "file";
}

/* Kinds added for the places that run code at boot, login, a network or package event:
 * anything new there, or changed in a package's file, is at least high. */
static int runs_code_kind(enum ps_kind k)
{
    return k >= K_SHELLRC;
}

/* The severity of a new file (or new item in it) that no package installed. */
static cr_severity unowned_sev(enum ps_kind k, int added, int minor)
{
    if (runs_code_kind(k))
        return CR_SEV_HIGH;
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
    if (runs_code_kind(k))
        return CR_SEV_HIGH;
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

/* The snapshot path of a path relative to the system root (free()). */
static char *snap_path_of(const hn_ctx *ctx, const char *relpath)
{
    const char *root = ctx->root ? ctx->root : "/";
    return strcmp(root, "/") == 0 ? cr_strdup(relpath) : cr_sprintf("%s%s", root, relpath);
}

/* /etc/skel/NAME for a home folder's startup file NAME. @return 0 (found, a file), -1. */
static int skel_model(cr_node *out, hn_ctx *ctx, const char *relpath)
{
    char *rel = cr_sprintf("/etc/skel/%s", base_name(relpath));
    char *p = rel ? snap_path_of(ctx, rel) : NULL;
    int rc = -1;
    if (p && cr_snapshot_lookup(out, ctx->repo, ctx->snap, p) == 0) {
        if (out->type == CR_NODE_FILE)
            rc = 0;
        else
            cr_node_clear(out);
    }
    cr_error_clear();
    free(rel);
    free(p);
    return rc;
}

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
    cr_node skel;

    memset(&skel, 0, sizeof(skel));
    memset(&o, 0, sizeof(o));
    if ((rc = read_content(&nb, ctx, relpath, n, max)) < 0) {
        err = rc;
        goto done;
    }
    if (rc == 2)
        goto done;
    if (!never_packaged(loc->kind) &&
        (err = owner_of(&o, ctx, relpath, n, rc == 0 ? &nb : NULL)) < 0)
        goto done;
    int pkgctx = !never_packaged(loc->kind);
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
    if ((err = parse_items(&ni, loc->kind, loc->minor, d, &nb)) == CR_EHOSTILE) {
        err = parser_crash(ctx, relpath, n, noun(loc->kind, 0));
        goto done;
    }
    if (err < 0)
        goto done;

    if (ctx->baseline) {
        if (one_note_inventory(loc->kind)) {
            /* One note per file; rules on their own only when they stand out. */
            if (ni.n) {
                snprintf(detail, sizeof(detail),
                         "inventory at the first restore point: %s (%zu entries), %s",
                         noun(loc->kind, 0), ni.n, ow);
                if ((err = emit(ctx, relpath, CR_SEV_INFO, ind, n, NULL, detail)) < 0)
                    goto done;
            }
            for (size_t i = 0; i < ni.n && !err; i++)
                if (ni.v[i].why && ni.v[i].floor >= CR_SEV_HIGH) {
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

    /* Items of the old content are not new; earlier findings on them stand. A new
     * shell startup file in a home folder is compared with its model in /etc/skel,
     * which useradd copies: only what differs from it is new. */
    const cr_node *model = old;
    if (added && loc->home && skel_model(&skel, ctx, relpath) == 0) {
        model = &skel;
        added = 0;
    }
    if (!added) {
        rc = read_content(&ob, ctx, relpath, model, max);
        if (rc < 0) {
            err = rc;
            goto done;
        }
        if (rc == 0) {
            old_read = 1;
            /* An old content that crashes the reader now is as one that cannot be read. */
            if ((err = parse_items(&oi, loc->kind, loc->minor, d, &ob)) == CR_EHOSTILE) {
                items_clear(&oi);
                old_read = 0;
                err = 0;
            }
            if (err < 0)
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
                     it->why                ? it->why
                     : loc->kind == K_PASSWD ? "it has every right root has"
                     : loc->minor            ? "in a file sshd does not read by default"
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
    cr_node_clear(&skel);
    free(oidx);
    free(nidx);
    items_clear(&ni);
    items_clear(&oi);
    cr_buf_free(&nb);
    cr_buf_free(&ob);
    return err;
}

/*
 * Lines of code in `nb` that `ob` did not have (a script's commands; for a
 * unit, only the lines that make systemd run something: Exec*=). The first
 * is copied into `first` (cleaned). @return how many, or CR_ERROR.
 */
static int new_code_lines(char *first, size_t cap, const cr_buf *ob, const cr_buf *nb, int unit)
{
    ps_items oi = {0}, ni = {0};
    char **oidx = NULL;
    int err, count = 0;
    first[0] = '\0';
    if ((err = parse_items(&oi, K_SSHRC, 0, NULL, ob)) < 0 ||
        (err = parse_items(&ni, K_SSHRC, 0, NULL, nb)) < 0 || (err = items_index(&oidx, &oi)) < 0)
        goto done;
    for (size_t i = 0; i < ni.n; i++) {
        const char *l = ni.v[i].ev;
        if (in_index(oidx, oi.n, l))
            continue;
        if (unit && strncmp(l, "Exec", 4) != 0)
            continue;
        if (!count++)
            snprintf(first, cap, "%s", l);
    }
    err = count;
done:
    free(oidx);
    items_clear(&oi);
    items_clear(&ni);
    return err;
}

/* Why a web script's content looks hidden (obfuscated PHP), or NULL. */
static const char *php_obfuscated(const cr_buf *b)
{
    static const char *const pairs[][2] = {
        {"eval(", "base64_decode"}, {"eval(", "gzinflate"},   {"eval(", "gzuncompress"},
        {"eval(", "str_rot13"},     {"eval(", "gzdecode"},    {"assert(", "base64_decode"},
        {"eval(", "\\x"},           {"create_function", "base64_decode"},
        {"preg_replace", "/e\""},   {"eval(", "$_POST"},      {"eval(", "$_GET"},
        {"eval(", "$_REQUEST"},     {"eval(", "$_COOKIE"},    {"assert(", "$_POST"},
        {"system(", "$_"},          {"shell_exec(", "$_"},    {"passthru(", "$_"}};
    if (!b->len || !memmem(b->ptr, b->len, "<?", 2))
        return NULL;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (memmem(b->ptr, b->len, pairs[i][0], strlen(pairs[i][0])) &&
            memmem(b->ptr, b->len, pairs[i][1], strlen(pairs[i][1])))
            return "its code is hidden (eval of decoded or request data), as web shells do";
    /* A long run of base64 or hex in a script is a packed payload. */
    size_t run = 0;
    for (size_t i = 0; i < b->len; i++) {
        uint8_t c = b->ptr[i];
        int b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=' || c == '\\';
        run = b64 ? run + 1 : 0;
        if (run >= 2000)
            return "it holds a long encoded payload (2000 bytes or more of base64 or hex)";
    }
    return NULL;
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
    char newline[PS_MAX_EVIDENCE + 8] = "", more[64] = "";
    if (loc->kind == K_CRONSCRIPT || loc->kind == K_UNIT || loc->kind == K_GENERATOR ||
        loc->kind == K_INITD || loc->kind == K_RCLINK || loc->kind == K_WEB ||
        runs_code_kind(loc->kind)) {
        int rc = read_content(&b, ctx, relpath, n, PS_MAX_SCRIPT);
        if (rc < 0) {
            err = rc;
            goto done;
        }
        if (rc == 0) {
            if (o.st == HN_UNOWNED && loc->kind == K_UNIT && snapd_unit(relpath, &b))
                sev = CR_SEV_LOW, snapd = 1;
            else if (loc->kind == K_WEB && (why = php_obfuscated(&b)))
                sev = max_sev(sev, CR_SEV_HIGH);
            else if (loc->kind != K_WEB &&
                     (why = suspicious_text(b.ptr ? (const char *)b.ptr : "", b.len)))
                sev = max_sev(sev, CR_SEV_HIGH);
        }
        /* Changed in place: the lines it gained are the items judged. A command added to
         * a script, or a new Exec line in a unit, runs at the next boot or schedule. */
        if (rc == 0 && !added && loc->kind != K_WEB && !snapd) {
            cr_buf ob = CR_BUF_INIT;
            int orc = read_content(&ob, ctx, relpath, old, PS_MAX_SCRIPT);
            int nl = orc == 0 ? new_code_lines(newline, sizeof(newline), &ob, &b,
                                               loc->kind == K_UNIT)
                              : 0;
            cr_buf_free(&ob);
            if (nl == CR_EHOSTILE) {
                err = parser_crash(ctx, relpath, n, noun(loc->kind, 0));
                goto done;
            }
            if (orc < 0 || nl < 0) {
                err = orc < 0 ? orc : nl;
                goto done;
            }
            if (nl > 0) {
                sev = max_sev(sev, CR_SEV_HIGH);
                if (nl > 1)
                    snprintf(more, sizeof(more), " (and %d more)", nl - 1);
            }
        }
    }
    if (!added)
        sev = max_sev(sev, prev_max(ctx, ind));
    snprintf(detail, sizeof(detail), "%s %s, %s%s%s%s%s%s%s", added ? "new" : "changed",
             noun(loc->kind, 0), ow, snapd ? " (written by snapd)" : "", why ? "; " : "",
             why ? why : "", newline[0] ? "; new line: " : "", newline, more);
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

void hn_persist_ctx_clear(hn_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nsshd_keyfiles; i++)
        free(ctx->sshd_keyfiles[i]);
    free(ctx->sshd_keyfiles);
    ctx->sshd_keyfiles = NULL;
    ctx->nsshd_keyfiles = 0;
    for (size_t i = 0; i < ctx->nsshd_files; i++)
        free(ctx->sshd_files[i]);
    free(ctx->sshd_files);
    ctx->sshd_files = NULL;
    ctx->nsshd_files = 0;
    ctx->sshd_loaded = 0;
}

/*
 * The sshd configuration of the snapshot, read as sshd reads it: the main
 * file /etc/ssh/sshd_config and every file its Include directives name,
 * anywhere (also inside Match blocks), recursively, in order. An Include
 * path not starting with "/" is below /etc/ssh; a wildcard is allowed in its
 * last component (Debian's Include of sshd_config.d/STAR.conf), matched
 * with fnmatch as glob(3) would, in name order. Bounded: SSHD_MAX_FILES files
 * read, SSHD_MAX_DEPTH levels of Include, 16 patterns kept.
 *
 * Kept in ctx: the AuthorizedKeysFile patterns other than sshd's defaults,
 * from any of these files and any Match block (a key file moved elsewhere,
 * "/etc/ssh/keys/%u" or ".ssh/.k", is judged as authorized_keys; relative
 * patterns are below a home folder), and the included files outside
 * /etc/ssh/sshd_config.d/NAME.conf (which classify() already knows), so that an
 * "Include /etc/ssh/extra" is judged as sshd configuration too.
 */
#define SSHD_MAX_FILES 64
#define SSHD_MAX_DEPTH 16

typedef struct sshd_walk {
    hn_ctx *ctx;
    size_t files; /* files read so far */
} sshd_walk;

static int sshd_read_conf(sshd_walk *w, const char *relpath, int depth);

static int strv_add(char ***v, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && !strncmp((*v)[i], s, len))
            return 0;
    char **nv = cr_realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return CR_ERROR;
    *v = nv;
    if (!(nv[*n] = cr_strndup(s, len)))
        return CR_ERROR;
    (*n)++;
    return 0;
}

/* One Include word: a file, or a last component with wildcards. */
static int sshd_include(sshd_walk *w, const char *word, size_t wl, int depth)
{
    char *rel = NULL, *dirp = NULL, **names = NULL;
    size_t nnames = 0;
    cr_node dn;
    cr_tree *t = NULL;
    int err = 0;
    memset(&dn, 0, sizeof(dn));
    rel = word[0] == '/' ? cr_strndup(word, wl) : cr_sprintf("/etc/ssh/%.*s", (int)wl, word);
    if (!rel)
        return CR_ERROR;
    char *slash = strrchr(rel, '/');
    if (!strpbrk(slash + 1, "*?[")) {
        if (strpbrk(rel, "*?[") == NULL)
            err = sshd_read_conf(w, rel, depth + 1);
        goto done; /* wildcards in folders: not followed */
    }
    if (strpbrk(rel, "*?[") < slash)
        goto done;
    *slash = '\0';
    if (!(dirp = snap_path_of(w->ctx, rel[0] ? rel : "/"))) {
        err = CR_ERROR;
        goto done;
    }
    if (cr_snapshot_lookup(&dn, w->ctx->repo, w->ctx->snap, dirp) < 0 || dn.type != CR_NODE_DIR ||
        !dn.has_subtree || cr_tree_load(&t, w->ctx->repo, &dn.subtree) < 0)
        goto done; /* no such folder: nothing included */
    for (size_t i = 0; i < t->count && nnames < SSHD_MAX_FILES; i++)
        if (t->nodes[i].name[0] != '.' && fnmatch(slash + 1, t->nodes[i].name, 0) == 0) {
            char *f = cr_sprintf("%s/%s", rel, t->nodes[i].name);
            if (!f || (err = strv_add(&names, &nnames, f, strlen(f))) < 0) {
                free(f);
                err = CR_ERROR;
                goto done;
            }
            free(f);
        }
    if (nnames)
        qsort(names, nnames, sizeof(*names), cmp_str);
    for (size_t i = 0; i < nnames && !err; i++)
        err = sshd_read_conf(w, names[i], depth + 1);
done:
    cr_error_clear();
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    cr_tree_free(t);
    cr_node_clear(&dn);
    free(dirp);
    free(rel);
    return err;
}

/* Read one configuration file of sshd (relpath relative to the root). */
static int sshd_read_conf(sshd_walk *w, const char *relpath, int depth)
{
    hn_ctx *ctx = w->ctx;
    cr_node n;
    cr_buf b = CR_BUF_INIT;
    char *p = NULL;
    int err = 0;
    memset(&n, 0, sizeof(n));
    if (depth > SSHD_MAX_DEPTH || w->files >= SSHD_MAX_FILES)
        return 0;
    w->files++;
    /* Files of sshd_config.d (NAME.conf) and the main file are classified already. */
    if (depth > 0 && !(strncmp(relpath, "/etc/ssh/sshd_config.d/", 23) == 0 &&
                       !strchr(relpath + 23, '/') && ends_with(relpath, ".conf")) &&
        (err = strv_add(&ctx->sshd_files, &ctx->nsshd_files, relpath, strlen(relpath))) < 0)
        return err;
    if (!(p = snap_path_of(ctx, relpath)))
        return CR_ERROR;
    if (cr_snapshot_lookup(&n, ctx->repo, ctx->snap, p) < 0 || n.type != CR_NODE_FILE ||
        hn_read_node(&b, ctx->repo, &n, PS_MAX_LINEFILE) < 0)
        goto done; /* none, or unreadable: nothing more */
    const char *s = b.ptr ? (const char *)b.ptr : "", *end = s + b.len;
    while (s < end && !err) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end, *q = skip_blanks(s, e);
        s = nl ? nl + 1 : end;
        int inc = 0;
        if (e - q > 18 && strncasecmp(q, "AuthorizedKeysFile", 18) == 0 &&
            (q[18] == ' ' || q[18] == '\t' || q[18] == '='))
            q += 18;
        else if (e - q > 7 && strncasecmp(q, "Include", 7) == 0 &&
                 (q[7] == ' ' || q[7] == '\t' || q[7] == '='))
            q += 7, inc = 1;
        else
            continue;
        while (q < e && !err) {
            while (q < e && (*q == ' ' || *q == '\t' || *q == '=' || *q == '\r'))
                q++;
            const char *wd = q;
            while (q < e && *q != ' ' && *q != '\t' && *q != '\r')
                q++;
            size_t wl = (size_t)(q - wd);
            if (!wl || wl > 512 || memchr(wd, '\0', wl))
                continue;
            if (inc) {
                err = sshd_include(w, wd, wl, depth);
                continue;
            }
            if ((wl == 4 && !strncmp(wd, "none", 4)) ||
                (wl == 20 && !strncmp(wd, ".ssh/authorized_keys", 20)) ||
                (wl == 21 && !strncmp(wd, ".ssh/authorized_keys2", 21)) ||
                ctx->nsshd_keyfiles >= 16)
                continue;
            err = strv_add(&ctx->sshd_keyfiles, &ctx->nsshd_keyfiles, wd, wl);
        }
    }
done:
    cr_error_clear();
    cr_node_clear(&n);
    cr_buf_free(&b);
    free(p);
    return err;
}

static int sshd_keyfiles_load(hn_ctx *ctx)
{
    sshd_walk w = {ctx, 0};
    if (ctx->sshd_loaded)
        return 0;
    ctx->sshd_loaded = 1;
    return sshd_read_conf(&w, "/etc/ssh/sshd_config", 0);
}

/* A file sshd_config Includes that classify() does not know as sshd's. */
static int sshd_included(hn_ctx *ctx, const char *relpath, int *err)
{
    if ((*err = sshd_keyfiles_load(ctx)) < 0)
        return 0;
    for (size_t i = 0; i < ctx->nsshd_files; i++)
        if (!strcmp(ctx->sshd_files[i], relpath))
            return 1;
    return 0;
}

/* Does path s match sshd's pattern pat? %u: one name; %h: a home folder (any folders);
 * %%: "%"; %U (the user id) one name. */
static int sshd_match(const char *pat, const char *s)
{
    for (;;) {
        if (pat[0] == '%' && (pat[1] == 'u' || pat[1] == 'U')) {
            size_t k = strcspn(s, "/");
            for (size_t i = 1; i <= k; i++)
                if (sshd_match(pat + 2, s + i))
                    return 1;
            return 0;
        }
        if (pat[0] == '%' && pat[1] == 'h') {
            if (*s != '/')
                return 0;
            for (const char *q = s + 1; *q; q++)
                if (*q == '/' && sshd_match(pat + 2, q))
                    return 1;
            return 0;
        }
        if (pat[0] == '%' && pat[1] == '%')
            pat++;
        if (!*pat)
            return !*s;
        if (*pat != *s)
            return 0;
        pat++;
        s++;
    }
}

/* A key file that sshd_config's AuthorizedKeysFile points to. */
static int sshd_keyfile(hn_ctx *ctx, const char *relpath, int *err)
{
    if ((*err = sshd_keyfiles_load(ctx)) < 0)
        return 0;
    for (size_t i = 0; i < ctx->nsshd_keyfiles; i++) {
        const char *pat = ctx->sshd_keyfiles[i];
        char buf[600];
        if (pat[0] != '/' && strncmp(pat, "%h", 2) != 0) {
            snprintf(buf, sizeof(buf), "%%h/%s", pat);
            pat = buf;
        }
        if (sshd_match(pat, relpath))
            return 1;
    }
    return 0;
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
    if (classify(&loc, relpath)) {
        err = judge_location(ctx, &loc, relpath, old_node, new_node);
        if (!err && loc.also != K_NONE) {
            loc.kind = loc.also;
            loc.also = K_NONE;
            err = judge_location(ctx, &loc, relpath, old_node, new_node);
        }
    } else if (sshd_keyfile(ctx, relpath, &err)) {
        memset(&loc, 0, sizeof(loc));
        loc.kind = K_SSHKEY;
        err = judge_location(ctx, &loc, relpath, old_node, new_node);
    } else if (!err && sshd_included(ctx, relpath, &err)) {
        memset(&loc, 0, sizeof(loc));
        loc.kind = K_SSHD;
        err = judge_location(ctx, &loc, relpath, old_node, new_node);
    }
    if (!err && new_node->type == CR_NODE_FILE && (new_node->mode & 06000))
        err = judge_suid(ctx, relpath, old_node, new_node);
    return err;
}
