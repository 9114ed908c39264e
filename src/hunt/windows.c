/*
 * Windows persistence in the file trees of snapshots: Startup folders,
 * scheduled tasks and the autostart entries of registry hives.
 *
 * Paths are relative to the system root and compared case-insensitively
 * (a Windows tree copied to Linux keeps its case, whatever it is):
 *
 *   Startup folders  /ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/<f>
 *                    /Users/<u>/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/<f>
 *                    /Documents and Settings/<u>/Start Menu/Programs/Startup/<f>   (XP)
 *   Scheduled tasks  /Windows/System32/Tasks/...  (task XML)   /Windows/Tasks/<t>.job  (XP)
 *   Hives            /Windows/System32/config/SOFTWARE, .../SYSTEM,
 *                    /Users/<u>/NTUSER.DAT, /Documents and Settings/<u>/NTUSER.DAT,
 *                    /Users/<u>/AppData/Local/Microsoft/Windows/UsrClass.dat (and XP's
 *                    .../Local Settings/Application Data/Microsoft/Windows/UsrClass.dat)
 *   WMI repository   /Windows/System32/wbem/Repository/OBJECTS.DATA (and .../FS/)
 *   BITS queue       /ProgramData/Microsoft/Network/Downloader/qmgr.db, qmgr0.dat, qmgr1.dat
 *   services' programs  any .exe, .dll, .sys that a service of the snapshot's SYSTEM
 *                    hive names (ImagePath, ServiceDll), when it changed: its version
 *   SYSVOL           Group Policy files and NETLOGON (gpo.c), wherever SYSVOL lies
 *   directory        a Samba AD DC's private/sam.ldb.d/DC=<domain>.ldb (samdb.c): see
 *                    wn_directory
 *
 * Only regular files added or changed are judged; removals report nothing.
 * A service's program that changed while the version it declares
 * (VS_VERSIONINFO, pever.c) did not is package:modified, critical: the
 * previous restore point is the anchor, as for Linux packages (trust.c).
 * In a baseline (first snapshot of a source) every item is reported at info
 * level, as an inventory.
 *
 * Startup folders: a new file is high (Windows starts it at logon), a changed
 * one medium, desktop.ini info. A shortcut (.lnk) is read for its target and
 * arguments (lnk.c), which the detail names: new, high, critical when it
 * starts a script host (wn_script_host) or an attacker's command line
 * (wn_suspicious); rewritten with the same target, info; now starting
 * something else, high. Scheduled tasks: the actions are read from
 * the task XML (UTF-16 or UTF-8; each <Exec>'s <Command> and <Arguments>, or
 * a .job file's application and parameters) for the detail. A new task is
 * high, critical when its command is suspicious (see wn_suspicious), medium
 * when it only runs a COM handler (the style of Windows' own tasks). A task
 * rewritten with the same actions (Windows does that on updates) is info.
 *
 * Hives, the WMI repository and the BITS queue are read whole (at most
 * WN_MAX_HIVE bytes) and their autostart entries (hive.c, wmi.c, bits.c) compared with those of the
 * hive's previous content, by kind, key and value name, case-insensitively as Windows does. The
 * evidence of a finding is "key\value" (stable), the detail names the command:
 *
 *   Run, RunOnce       new or changed: persistence:run-key high; critical when
 *                      the command lives where users can write or looks like
 *                      an attack (wn_user_writable, wn_suspicious)
 *   services           persistence:service medium; critical likewise
 *   WMI subscriptions  persistence:wmi-subscription critical for command-line and
 *                      script consumers, info for Windows' own, medium otherwise
 *   BITS jobs          persistence:bits-job (those with a notify command) high;
 *                      critical as Run keys, or for a script host
 *   Winlogon           persistence:winlogon critical when Shell or Userinit is
 *                      not Windows' default, info when it is
 *   user COM servers   persistence:com-hijack (UsrClass.dat) high; critical when
 *                      the server is a script host or scriptlet (wn_script_host):
 *                      per-user installers register servers in the profile, so
 *                      a user-writable folder alone proves nothing here
 *
 * An entry with the same data as before is not judged again: the findings of
 * the previous snapshot about it (ctx->prev, severity >= low) are emitted
 * again, so that a Run key added on day 3 stays flagged on day 5 after
 * Windows rewrote the hive for other reasons. The same holds for a Startup
 * file or task whose change is routine. What a hive is compared with:
 *
 *   - changed hive: its previous content. When that cannot be read, nothing
 *     can be told new: entries are judged anyway, at most medium unless the
 *     command looks like an attack (wn_suspicious), and the detail says so.
 *   - SOFTWARE or SYSTEM (or the Default profile's NTUSER.DAT) appearing after
 *     the baseline: a Windows tree that joined the backup, not something an
 *     intruder creates: an inventory at info level.
 *   - a user's UsrClass.dat appearing (a new profile's first logon, when
 *     per-user installers register their servers): nothing to compare with;
 *     each entry is medium unless it looks like an attack.
 *   - a user's NTUSER.DAT appearing (a new profile): the Default profile's
 *     hive of the same snapshot, which a new profile is copied from; what it
 *     already holds is info, the rest is judged as new.
 *
 * A hive that hivex cannot read is a warning (path + message) and
 * anomaly:bad-hive (low): a damaged hive in a restore point deserves a look,
 * and its autostart entries went unchecked. Parsed entries of the last few
 * hive contents are kept (by content id) so that the previous content of a
 * hive, judged as the new one a snapshot earlier, is not read twice.
 */
#include "hunt/hunt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WN_MAX_HIVE (512u << 20) /* bytes of a hive read */
#define WN_MAX_TASK (1u << 20)   /* bytes of a task file read */
#define WN_MAX_LNK (1u << 20)    /* bytes of a shortcut read */
#define WN_MAX_PE (256u << 20)   /* bytes of a service's program read for its version */
#define WN_MAX_ACTIONS 16        /* actions of a task read */
#define WN_MAX_CMD 4096          /* bytes of the actions kept */
#define WN_SHOW 1024             /* bytes of a command shown in a detail */
#define WN_CACHE 4               /* parsed hives kept */

enum wn_kind {
    WN_NONE,
    WN_STARTUP,
    WN_TASK,
    WN_TASK_JOB,
    WN_HIVE_SYSTEM,  /* SOFTWARE or SYSTEM */
    WN_HIVE_USER,    /* NTUSER.DAT */
    WN_HIVE_CLASSES, /* UsrClass.dat: a user's classes (COM servers) */
    WN_WMI,          /* the CIM repository's OBJECTS.DATA (WMI event subscriptions) */
    WN_BITS,         /* the BITS queue (jobs with a notify command line) */
    WN_GPO,          /* a Group Policy file of SYSVOL (gpo.c) */
    WN_NETLOGON,     /* a file of NETLOGON (SYSVOL's scripts folder) */
    WN_SAMDB,        /* a partition of a Samba AD DC's sam.ldb (samdb.c) */
};

/* ------------------------------------------------------------ paths */

/*
 * Match a path ("/a/b/c") against a pattern of components separated by '/',
 * case-insensitively; "*" is any one component, a final "**" one or more.
 */
static int wn_match(const char *path, const char *pat)
{
    const char *p = path, *q = pat;
    while (*p == '/')
        p++;
    for (;;) {
        size_t pl = strcspn(p, "/"), ql = strcspn(q, "/");
        if (ql == 2 && !strncmp(q, "**", 2) && !q[2])
            return pl > 0;
        if (pl == 0 || ql == 0)
            return pl == 0 && ql == 0;
        if (!(ql == 1 && *q == '*') && (pl != ql || strncasecmp(p, q, pl) != 0))
            return 0;
        p += pl;
        q += ql;
        if (!*p || !*q)
            return !*p && !*q;
        p++;
        q++;
    }
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/*
 * SYSVOL, wherever the domain controller keeps it: Windows'
 * /Windows/SYSVOL/domain/ (and its /Windows/SYSVOL/sysvol/<realm>/ view),
 * Samba's /var/lib/samba/sysvol/<realm>/. Below the last "sysvol" folder and
 * one more (domain or realm): Policies/<GPO>/... holds the policies, scripts/
 * is NETLOGON.
 */
static enum wn_kind wn_sysvol(const char *rel)
{
    const char *p = NULL;
    for (const char *q = rel; (q = strchr(q, '/')); q++)
        if (!strncasecmp(q, "/sysvol/", 8))
            p = q + 8;
    if (!p || !(p = strchr(p, '/')))
        return WN_NONE;
    p++;
    if (!strncasecmp(p, "scripts/", 8) && p[8])
        return WN_NETLOGON;
    if (strncasecmp(p, "policies/", 9))
        return WN_NONE;
    const char *name = base_name(rel);
    if (!strcasecmp(name, "scripts.ini") || !strcasecmp(name, "psscripts.ini") ||
        !strcasecmp(name, "GptTmpl.inf"))
        return WN_GPO;
    if (strcasestr(p, "/preferences/") && ends_with_ci(name, ".xml"))
        return WN_GPO;
    return WN_NONE;
}

/*
 * A Samba AD DC's directory: private/sam.ldb.d/DC=<domain>.ldb, the domain
 * partition, where accounts, groups and GPO links live (the DNS zones'
 * partitions, DC=DomainDnsZones and DC=ForestDnsZones, hold none of them).
 */
static int wn_samdb(const char *rel)
{
    const char *name = base_name(rel);
    size_t dl = (size_t)(name - rel);
    if (dl < 11 || strncasecmp(rel + dl - 11, "/sam.ldb.d/", 11) || strncasecmp(name, "DC=", 3) ||
        !ends_with_ci(name, ".ldb"))
        return 0;
    return strncasecmp(name, "DC=DomainDnsZones,", 18) && strncasecmp(name, "DC=ForestDnsZones,", 18);
}

static enum wn_kind wn_classify(const char *rel)
{
    static const char *const startup[] = {
        "ProgramData/Microsoft/Windows/Start Menu/Programs/Startup/*",
        "Users/*/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/*",
        "Documents and Settings/*/Start Menu/Programs/Startup/*",
    };
    enum wn_kind k = wn_sysvol(rel);
    if (k != WN_NONE)
        return k;
    if (wn_samdb(rel))
        return WN_SAMDB;
    char c = rel[0] == '/' ? rel[1] : rel[0];
    if (!c || !strchr("PpUuDdWw", c)) /* ProgramData, Users, Documents and Settings, Windows */
        return WN_NONE;
    for (size_t i = 0; i < sizeof(startup) / sizeof(startup[0]); i++)
        if (wn_match(rel, startup[i]))
            return WN_STARTUP;
    if (wn_match(rel, "Windows/System32/Tasks/**"))
        return WN_TASK;
    if (wn_match(rel, "Windows/Tasks/*") && ends_with_ci(rel, ".job"))
        return WN_TASK_JOB;
    if (wn_match(rel, "Windows/System32/config/SOFTWARE") ||
        wn_match(rel, "Windows/System32/config/SYSTEM"))
        return WN_HIVE_SYSTEM;
    if (wn_match(rel, "Users/*/NTUSER.DAT") || wn_match(rel, "Documents and Settings/*/NTUSER.DAT"))
        return WN_HIVE_USER;
    if (wn_match(rel, "Users/*/AppData/Local/Microsoft/Windows/UsrClass.dat") ||
        wn_match(rel, "Documents and Settings/*/Local Settings/Application Data/Microsoft/Windows/"
                      "UsrClass.dat"))
        return WN_HIVE_CLASSES;
    if (wn_match(rel, "Windows/System32/wbem/Repository/OBJECTS.DATA") ||
        wn_match(rel, "Windows/System32/wbem/Repository/FS/OBJECTS.DATA"))
        return WN_WMI;
    if (wn_match(rel, "ProgramData/Microsoft/Network/Downloader/*") &&
        (!strcasecmp(base_name(rel), "qmgr.db") || !strcasecmp(base_name(rel), "qmgr0.dat") ||
         !strcasecmp(base_name(rel), "qmgr1.dat")))
        return WN_BITS;
    return WN_NONE;
}

/* ------------------------------------------------------------ commands */

/* Lower-case ASCII copy with '/' as '\'. */
static char *wn_fold(const char *s)
{
    char *l = cr_strdup(s);
    if (l)
        for (char *p = l; *p; p++)
            *p = *p == '/' ? '\\' : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    return l;
}

/*
 * A command that runs from a folder ordinary users can write to: profiles,
 * temporary folders, ProgramData (except Windows Defender's platform folder,
 * which only the system writes and whose path changes with every update).
 */
static int wn_user_writable(const char *l /* folded */)
{
    /* '|'-separated; the ProgramData ones are checked for Defender's folder. */
    static const char marks[] =
        "\\users\\|\\appdata\\|\\temp\\|\\tmp\\|\\documents and settings\\|"
        "\\recycler\\|\\$recycle.bin\\|%appdata%|%localappdata%|%temp%|%tmp%|"
        "%userprofile%|%public%|\\programdata\\|%programdata%|%allusersprofile%";
    char m[32];
    for (const char *q = marks; *q;) {
        size_t k = strcspn(q, "|");
        memcpy(m, q, k);
        m[k] = '\0';
        q += k + (q[k] == '|');
        for (const char *p = l; (p = strstr(p, m));) {
            p += k;
            if (strstr(m, "programdata") || strstr(m, "allusersprofile")) {
                const char *rest = *p == '\\' ? p + 1 : p;
                if (!strncmp(rest, "microsoft\\windows defender", 26))
                    continue;
            }
            return 1;
        }
    }
    return 0;
}

/* Script hosts and system binaries used the way attackers use them. */
static int wn_suspicious(const char *l /* folded */)
{
    static const struct {
        const char *tool;
        const char *args[8];
    } rules[] = {
        {"powershell",
         {" -e ", " -ec ", "-enc", "frombase64string", "downloadstring", "downloadfile",
          "invoke-expression", "iex"}},
        {"pwsh",
         {" -e ", " -ec ", "-enc", "frombase64string", "downloadstring", "downloadfile",
          "invoke-expression", "iex"}},
        {"mshta", {"http:", "https:", "javascript:", "vbscript:"}},
        {"rundll32", {"http:", "https:", "javascript:"}},
        {"regsvr32", {"scrobj", "http:", "https:"}},
        {"certutil", {"urlcache", "-decode"}},
        {"bitsadmin", {"/transfer"}},
    };
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (!strstr(l, rules[i].tool))
            continue;
        for (size_t k = 0; k < 8 && rules[i].args[k]; k++)
            if (strstr(l, rules[i].args[k]))
                return 1;
    }
    return 0;
}

/* A script host or scriptlet: no installer registers one as a user's COM server, and no
 * program's Startup shortcut starts one. */
static int wn_script_host(const char *l /* folded */)
{
    static const char *const hosts[] = {"scrobj.dll", "mshta",   "powershell", "pwsh",
                                        "wscript",    "cscript", "cmd.exe",    "rundll32"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        if (strstr(l, hosts[i]))
            return 1;
    return 0;
}

/* The subscriptions Windows itself registers (name as hn_wmi_autoruns gives it). */
static int wn_wmi_windows(const char *name)
{
    return !strcmp(name, "NTEventLogEventConsumer \"SCM Event Log Consumer\" <- __EventFilter "
                         "\"SCM Event Log Filter\"") ||
           !strcmp(name, "NTEventLogEventConsumer \"BVTConsumer\" <- __EventFilter \"BVTFilter\"");
}

/* "explorer.exe", "C:\Windows\explorer.exe", "%SystemRoot%\explorer.exe" (sub: "", "system32\"). */
static int wn_is_windows_binary(const char *item, const char *sub, const char *exe)
{
    static const char *const roots[] = {"c:\\windows\\", "%systemroot%\\", "%windir%\\"};
    char buf[128];
    size_t n = strlen(item);
    while (n && (item[n - 1] == ' ' || item[n - 1] == '"'))
        n--;
    while (n && (*item == ' ' || *item == '"'))
        item++, n--;
    if (n == strlen(exe) && !strncmp(item, exe, n))
        return 1;
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s%s", roots[i], sub, exe);
        if (n == strlen(buf) && !strncmp(item, buf, n))
            return 1;
    }
    return 0;
}

/* Winlogon's Shell or Userinit as Windows sets them. */
static int wn_winlogon_default(const char *name, const char *l /* folded */)
{
    if (!strcasecmp(name, "Shell"))
        return wn_is_windows_binary(l, "", "explorer.exe");
    /* Userinit: a comma-separated list, "C:\Windows\system32\userinit.exe," */
    int seen = 0;
    for (const char *p = l; *p;) {
        size_t k = strcspn(p, ",");
        char item[128];
        if (k >= sizeof(item))
            return 0;
        memcpy(item, p, k);
        item[k] = '\0';
        if (strspn(item, " ") != k) {
            if (!wn_is_windows_binary(item, "system32\\", "userinit.exe"))
                return 0;
            seen = 1;
        }
        p += k;
        if (*p == ',')
            p++;
    }
    return seen;
}

/* At most WN_SHOW bytes of a command for a detail (clean, never cut inside a character). */
static const char *wn_show(char *buf, size_t cap, const char *s)
{
    size_t n = hn_text_clean(buf, cap, s, strlen(s));
    if (strlen(s) >= cap && n + 8 >= cap) { /* cut: say so, at a character boundary */
        size_t at = n > cap - 4 ? cap - 4 : n;
        while (at > 0 && ((unsigned char)buf[at] & 0xc0) == 0x80)
            at--;
        memcpy(buf + at, "...", 4);
    }
    return buf;
}

/* ------------------------------------------------------------ helpers */

static void wn_warn(hn_ctx *ctx, const char *rel, const char *what)
{
    char *full;
    if (!ctx->warning)
        return;
    if (!ctx->root || !strcmp(ctx->root, "/"))
        full = cr_strdup(rel);
    else
        full = cr_sprintf("%s%s", ctx->root, rel);
    ctx->warning(full ? full : rel, what, ctx->payload);
    free(full);
}

/* The highest previous finding (severity >= low) with this indicator and evidence, or NULL. */
static const cr_finding *wn_prev(const hn_ctx *ctx, const char *indicator, const char *evidence)
{
    const cr_finding *best = NULL;
    for (size_t i = 0; i < ctx->nprev; i++) {
        const cr_finding *f = &ctx->prev[i];
        if (f->severity < CR_SEV_LOW || !f->indicator || strcmp(f->indicator, indicator))
            continue;
        if (evidence ? !f->evidence || strcasecmp(f->evidence, evidence) : f->evidence != NULL)
            continue;
        if (!best || f->severity > best->severity)
            best = f;
    }
    return best;
}

static int wn_reemit(hn_ctx *ctx, const char *rel, const cr_finding *f, const cr_id *cid)
{
    return hn_emit(ctx, rel, f->category, f->severity, f->indicator, cid, f->evidence, "%s",
                   f->detail ? f->detail : "");
}

/* ------------------------------------------------------------ Startup */

/* What a shortcut starts, in words ("target args"), into buf; 0, or <0 when it is not a
 * readable shortcut (CR_ECORRUPT) or could not be read from the vault. */
static int wn_lnk_command(hn_ctx *ctx, const char *rel, const cr_node *node, char *buf, size_t cap,
                          int *script)
{
    cr_buf b = CR_BUF_INIT;
    hn_lnk l;
    int err;
    *buf = '\0';
    *script = 0;
    memset(&l, 0, sizeof(l));
    if ((err = hn_read_node(&b, ctx->repo, node, WN_MAX_LNK)) < 0) {
        if (err != CR_EINPUT)
            wn_warn(ctx, rel, cr_error_last());
        err = err == CR_EINPUT ? CR_ECORRUPT : err;
        goto done;
    }
    if ((err = hn_lnk_examine(&l, b.ptr, b.len)) < 0)
        goto done;
    snprintf(buf, cap, "%s%s%s", l.target ? l.target : "(target not recorded as a path)",
             l.args ? " " : "", l.args ? l.args : "");
    char *folded = wn_fold(buf);
    if (!folded) {
        err = CR_ERROR;
        goto done;
    }
    *script = wn_suspicious(folded) || (l.target && wn_script_host(folded));
    free(folded);
done:
    hn_lnk_clear(&l);
    cr_buf_free(&b);
    return err;
}

/*
 * A file in a Startup folder. A shortcut (.lnk) is read (lnk.c) for what it
 * starts: a new one is high, critical when it starts a script host or looks
 * like an attack; a shortcut rewritten with the same target and arguments is
 * info, one that now starts something else high. Other files: new high,
 * changed medium.
 */
static int wn_startup(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw)
{
    const char *ind = "persistence:startup-folder";
    const cr_finding *pf;
    char cmd[WN_SHOW], was[WN_SHOW], show[WN_SHOW], show_was[WN_SHOW];
    int is_lnk = ends_with_ci(rel, ".lnk"), script = 0, oscript, rc = -1, orc = -1, err;
    cr_id cid;

    hn_content_id(&cid, nw);
    if (!strcasecmp(base_name(rel), "desktop.ini"))
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                       "desktop.ini in a Startup folder: folder settings, starts nothing");
    if (is_lnk) {
        if ((rc = wn_lnk_command(ctx, rel, nw, cmd, sizeof(cmd), &script)) == CR_ERROR)
            return rc;
        if (rc == CR_EHOSTILE) {
            char why[512];
            hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
            return hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash", &cid,
                           NULL,
                           "shortcut in a Startup folder not read: %s; it may be crafted to "
                           "attack the tools that inspect it",
                           why);
        }
        wn_show(show, sizeof(show), cmd);
    }
    if (ctx->baseline)
        return rc == 0 ? hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                                 "shortcut in a Startup folder (inventory): Windows starts %s "
                                 "when a user logs on",
                                 show)
                       : hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                                 "in a Startup folder (inventory): Windows starts it when a "
                                 "user logs on");
    if (!old) {
        if (rc == 0)
            return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, script ? CR_SEV_CRITICAL : CR_SEV_HIGH,
                           ind, &cid, NULL,
                           "new shortcut in a Startup folder: Windows starts %s when a user "
                           "logs on%s",
                           show, script ? " (a script host or an attacker's command line)" : "");
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, &cid, NULL,
                       "new %s in a Startup folder: Windows starts it when a user logs on",
                       is_lnk ? "shortcut that cannot be read" : "file");
    }
    if (rc == 0 && (orc = wn_lnk_command(ctx, rel, old, was, sizeof(was), &oscript)) == CR_ERROR)
        return orc;
    if (rc == 0 && orc == 0 && !strcmp(cmd, was)) {
        if ((pf = wn_prev(ctx, ind, NULL)))
            return wn_reemit(ctx, rel, pf, &cid);
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                       "shortcut in a Startup folder rewritten with the same target: starts %s",
                       show);
    }
    if (rc == 0 && orc == 0) {
        cr_severity sev = script ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        if ((pf = wn_prev(ctx, ind, NULL)) && pf->severity > sev)
            return wn_reemit(ctx, rel, pf, &cid);
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                       "shortcut in a Startup folder changed: now starts %s (was %s)", show,
                       wn_show(show_was, sizeof(show_was), was));
    }
    if ((pf = wn_prev(ctx, ind, NULL)) && pf->severity >= CR_SEV_MEDIUM)
        return wn_reemit(ctx, rel, pf, &cid);
    err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_MEDIUM, ind, &cid, NULL,
                  "file in a Startup folder changed: Windows starts it when a user logs on");
    return err;
}

/* ------------------------------------------------------------ tasks */

/* The task's actions, in words. */
typedef struct wn_actions {
    int readable;         /* 1: the file was read and parsed */
    int exec;             /* number of Exec actions */
    int com;              /* number of ComHandler actions */
    char cmd[WN_MAX_CMD]; /* "command args; command args" (clean UTF-8) */
} wn_actions;

/* Append sep (as is) then n bytes of s (cleaned) to the actions, as room allows. */
static void wn_append(wn_actions *t, const char *sep, const char *s, size_t n)
{
    size_t have = strlen(t->cmd), k = strlen(sep);
    if (have + k + 1 >= sizeof(t->cmd))
        return;
    memcpy(t->cmd + have, sep, k + 1);
    have += k;
    hn_text_clean(t->cmd + have, sizeof(t->cmd) - have, s, n);
}

/* The text of <tag>...</tag> in [p, end), entities decoded (into out, cap bytes). */
static int wn_xml_text(const char *p, const char *end, const char *tag, char *out, size_t cap)
{
    char open[32], close[32];
    const char *a, *b;
    size_t o = 0;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    *out = '\0';
    if (!(a = memmem(p, (size_t)(end - p), open, strlen(open))))
        return 0;
    a += strlen(open);
    if (!(b = memmem(a, (size_t)(end - a), close, strlen(close))))
        return 0;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < b && o + 1 < cap) {
        int done = 0;
        if (*a == '&') {
            for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
                size_t k = strlen(ents[i].ent);
                if ((size_t)(b - a) >= k && !strncmp(a, ents[i].ent, k)) {
                    out[o++] = ents[i].c;
                    a += k;
                    done = 1;
                    break;
                }
            }
        }
        if (!done)
            out[o++] = *a++;
    }
    out[o] = '\0';
    return 1;
}

/* Task XML (text already UTF-8): every <Exec>'s command and arguments. */
static void wn_task_xml(wn_actions *t, const char *x, size_t n)
{
    const char *p = x, *end = x + n, *e;
    char cmd[WN_MAX_CMD], args[WN_MAX_CMD];

    t->readable = 1;
    for (const char *c = x; (c = memmem(c, (size_t)(end - c), "<ComHandler", 11)); c += 11)
        t->com++;
    while (t->exec < WN_MAX_ACTIONS && (p = memmem(p, (size_t)(end - p), "<Exec>", 6))) {
        p += 6;
        e = memmem(p, (size_t)(end - p), "</Exec>", 7);
        if (!e)
            e = end;
        if (wn_xml_text(p, e, "Command", cmd, sizeof(cmd))) {
            wn_xml_text(p, e, "Arguments", args, sizeof(args));
            wn_append(t, t->exec ? "; " : "", cmd, strlen(cmd));
            if (*args)
                wn_append(t, " ", args, strlen(args));
            t->exec++;
        }
        p = e;
    }
}

/* A .job file (Windows XP): the application name and parameters after the fixed part. */
static void wn_task_job(wn_actions *t, const uint8_t *d, size_t n)
{
    size_t off = 0x46; /* fixed-length section (0x44 bytes), running instance count */
    for (int field = 0; field < 2; field++) {
        if (off + 2 > n)
            return;
        size_t chars = (size_t)d[off] | (size_t)d[off + 1] << 8;
        off += 2;
        if (chars * 2 > n - off)
            return;
        char *s = hn_utf16_to_utf8(d + off, chars * 2);
        if (!s)
            return;
        if (field == 0) {
            t->readable = 1;
            t->exec = 1;
        }
        if (field == 0 || *s)
            wn_append(t, field ? " " : "", s, strlen(s));
        free(s);
        off += chars * 2;
    }
}

/* Read a task file; t->readable 0 when it cannot be read. A read error is warned about. */
static void wn_task_read(hn_ctx *ctx, const char *rel, const cr_node *node, int job, wn_actions *t)
{
    cr_buf b = CR_BUF_INIT;
    char *text = NULL;
    int err;

    memset(t, 0, sizeof(*t));
    if ((err = hn_read_node(&b, ctx->repo, node, WN_MAX_TASK)) < 0) {
        if (err != CR_EINPUT) /* too large: not a task Windows wrote; judged without detail */
            wn_warn(ctx, rel, cr_error_last());
        goto done;
    }
    if (job) {
        wn_task_job(t, b.ptr, b.len);
        goto done;
    }
    if (b.len >= 2 && b.ptr[0] == 0xff && b.ptr[1] == 0xfe)
        text = hn_utf16_to_utf8(b.ptr + 2, b.len - 2);
    else if (b.len >= 2 && b.ptr[0] == '<' && b.ptr[1] == 0)
        text = hn_utf16_to_utf8(b.ptr, b.len);
    else if (b.len >= 3 && !memcmp(b.ptr, "\xef\xbb\xbf", 3))
        text = hn_utf8_clean(b.ptr + 3, b.len - 3);
    else
        text = hn_utf8_clean(b.ptr, b.len);
    if (text)
        wn_task_xml(t, text, strlen(text));
done:
    free(text);
    cr_buf_free(&b);
}

static int wn_task(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw, int job)
{
    const char *ind = "persistence:scheduled-task";
    char show[WN_SHOW], show_old[WN_SHOW];
    wn_actions *t = NULL, *o = NULL;
    const cr_finding *pf;
    char *folded;
    cr_severity sev;
    cr_id cid;
    int err = 0;

    hn_content_id(&cid, nw);
    if (!strcasecmp(base_name(rel), "desktop.ini"))
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                       "desktop.ini among the scheduled tasks: folder settings, runs nothing");
    if (!(t = cr_calloc(2, sizeof(*t))))
        return CR_ERROR;
    o = t + 1;
    wn_task_read(ctx, rel, nw, job, t);
    wn_show(show, sizeof(show), t->cmd);
    if (ctx->baseline) {
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                      "scheduled task (inventory)%s%s", t->exec ? ": runs " : "",
                      t->exec ? show : "");
        goto done;
    }
    if (old) {
        wn_task_read(ctx, rel, old, job, o);
        if (t->readable && o->readable && t->exec == o->exec && t->com == o->com &&
            !strcmp(t->cmd, o->cmd)) {
            if ((pf = wn_prev(ctx, ind, NULL)))
                err = wn_reemit(ctx, rel, pf, &cid);
            else
                err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                              "scheduled task rewritten with the same actions%s%s",
                              t->exec ? ": runs " : "", t->exec ? show : "");
            goto done;
        }
    }
    if (!(folded = wn_fold(t->cmd))) {
        err = CR_ERROR;
        goto done;
    }
    sev = CR_SEV_HIGH;
    if (wn_suspicious(folded))
        sev = CR_SEV_CRITICAL;
    else if (t->readable && t->exec == 0 && t->com > 0)
        sev = CR_SEV_MEDIUM;
    free(folded);
    if ((pf = wn_prev(ctx, ind, NULL)) && pf->severity > sev) {
        err = wn_reemit(ctx, rel, pf, &cid);
        goto done;
    }
    if (!t->readable)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                      "%s scheduled task (its actions could not be read)", old ? "changed" : "new");
    else if (t->exec == 0 && t->com > 0)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                      "%s scheduled task that runs a COM handler", old ? "changed" : "new");
    else if (t->exec == 0)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                      "%s scheduled task (no program to run found in it)", old ? "changed" : "new");
    else if (old && o->readable && o->exec)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                      "scheduled task changed: now runs %s (was %s)", show,
                      wn_show(show_old, sizeof(show_old), o->cmd));
    else
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, &cid, NULL,
                      "%s scheduled task: runs %s", old ? "changed" : "new", show);
done:
    free(t);
    return err;
}

/* ------------------------------------------------------------ hives */

/* Parsed hives by content id, so that a content is parsed once across snapshots. */
static pthread_mutex_t wn_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    struct {
        int used;
        cr_id content;
        hn_autorun *a;
        size_t n;
        uint64_t tick;
    } slot[WN_CACHE];
    uint64_t tick;
} wn_cache;

static int wn_autorun_copy(hn_autorun **out, const hn_autorun *a, size_t n)
{
    *out = NULL;
    if (!n)
        return 0;
    hn_autorun *c = cr_calloc(n, sizeof(*c));
    if (!c)
        return CR_ERROR;
    for (size_t i = 0; i < n; i++) {
        c[i].kind = a[i].kind;
        if (!(c[i].key = cr_strdup(a[i].key)) || !(c[i].name = cr_strdup(a[i].name)) ||
            !(c[i].data = cr_strdup(a[i].data))) {
            hn_autoruns_free(c, i + 1);
            return CR_ERROR;
        }
    }
    *out = c;
    return 0;
}

/* 1 and a copy when the cache knows the content, 0 when not, <0 error. */
static int wn_cache_get(const cr_id *cid, hn_autorun **out, size_t *n)
{
    int found = 0, err = 0;
    pthread_mutex_lock(&wn_cache_mu);
    for (size_t i = 0; i < WN_CACHE; i++)
        if (wn_cache.slot[i].used && !memcmp(&wn_cache.slot[i].content, cid, sizeof(*cid))) {
            wn_cache.slot[i].tick = ++wn_cache.tick;
            if ((err = wn_autorun_copy(out, wn_cache.slot[i].a, wn_cache.slot[i].n)) == 0) {
                *n = wn_cache.slot[i].n;
                found = 1;
            }
            break;
        }
    pthread_mutex_unlock(&wn_cache_mu);
    return err < 0 ? err : found;
}

static void wn_cache_put(const cr_id *cid, const hn_autorun *a, size_t n)
{
    hn_autorun *c;
    if (wn_autorun_copy(&c, a, n) < 0)
        return; /* only a cache */
    pthread_mutex_lock(&wn_cache_mu);
    size_t victim = 0;
    for (size_t i = 0; i < WN_CACHE; i++) {
        if (!wn_cache.slot[i].used) {
            victim = i;
            break;
        }
        if (wn_cache.slot[i].tick < wn_cache.slot[victim].tick)
            victim = i;
    }
    hn_autoruns_free(wn_cache.slot[victim].a, wn_cache.slot[victim].n);
    wn_cache.slot[victim].used = 1;
    wn_cache.slot[victim].content = *cid;
    wn_cache.slot[victim].a = c;
    wn_cache.slot[victim].n = n;
    wn_cache.slot[victim].tick = ++wn_cache.tick;
    pthread_mutex_unlock(&wn_cache_mu);
}

/*
 * The autostart entries of a hive file: 0 with the entries; CR_ECORRUPT
 * (damaged hive, message set) or another error when they could not be read.
 */
typedef int (*wn_parse_fn)(hn_autorun **out, size_t *count, const void *data, size_t len);

static int wn_hive_read(hn_ctx *ctx, const cr_node *node, wn_parse_fn parse, hn_autorun **out,
                        size_t *n)
{
    cr_buf b = CR_BUF_INIT;
    cr_id cid;
    int err;

    *out = NULL;
    *n = 0;
    hn_content_id(&cid, node);
    if ((err = wn_cache_get(&cid, out, n)) != 0)
        return err < 0 ? err : 0;
    if ((err = hn_read_node(&b, ctx->repo, node, WN_MAX_HIVE)) == 0) {
        err = parse(out, n, b.ptr, b.len);
        if (err == 0)
            wn_cache_put(&cid, *out, *n);
    } else if (err == CR_ECORRUPT) {
        err = CR_ERROR; /* a damaged vault, not a damaged hive */
    }
    cr_buf_free(&b);
    return err;
}

/* Entries are the same item when key and value name match (case-insensitively, as in Windows). */
static int cmp_autorun(const void *a, const void *b)
{
    const hn_autorun *x = a, *y = b;
    int c = strcasecmp(x->key, y->key);
    return c ? c : strcasecmp(x->name, y->name);
}

/* A command run from the domain's own shares (\\domain\netlogon, \\domain\sysvol):
 * where a crew puts the payload a policy starts everywhere. */
static int wn_gpo_share(const char *folded)
{
    return strstr(folded, "\\netlogon\\") || strstr(folded, "\\sysvol\\");
}

/* Rights that give a program the machine (debug any process, act as the OS, load a
 * driver, read or restore any file, take ownership, impersonate). */
static int wn_gpo_right_dangerous(const char *right)
{
    static const char *const r[] = {"SeDebugPrivilege",          "SeTcbPrivilege",
                                    "SeLoadDriverPrivilege",     "SeBackupPrivilege",
                                    "SeRestorePrivilege",        "SeTakeOwnershipPrivilege",
                                    "SeImpersonatePrivilege",    "SeAssignPrimaryTokenPrivilege",
                                    "SeEnableDelegationPrivilege", "SeCreateTokenPrivilege"};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (!strcasecmp(right, r[i]))
            return 1;
    return 0;
}

static const char *wn_indicator(int kind)
{
    switch (kind) {
    case HN_AUTORUN_SERVICE:
        return "persistence:service";
    case HN_AUTORUN_WINLOGON:
        return "persistence:winlogon";
    case HN_AUTORUN_APPINIT:
        return "persistence:appinit";
    case HN_AUTORUN_IFEO:
        return "persistence:ifeo";
    case HN_AUTORUN_LSA:
        return "persistence:lsa";
    case HN_AUTORUN_PRINTMON:
        return "persistence:print-monitor";
    case HN_AUTORUN_COM:
        return "persistence:com-hijack";
    case HN_AUTORUN_WMI:
        return "persistence:wmi-subscription";
    case HN_AUTORUN_BITS:
        return "persistence:bits-job";
    case HN_AUTORUN_GPO_TASK:
        return "persistence:gpo-task";
    case HN_AUTORUN_GPO_SCRIPT:
        return "persistence:gpo-script";
    case HN_AUTORUN_GPO_REGISTRY:
        return "persistence:gpo-registry";
    case HN_AUTORUN_GPO_GROUP:
        return "persistence:gpo-group";
    case HN_AUTORUN_GPO_RIGHT:
        return "persistence:gpo-right";
    case HN_AUTORUN_GPO_PASSWORD:
        return "credential:gpp-password";
    default:
        return "persistence:run-key";
    }
}

static const char *wn_kind_words(int kind)
{
    switch (kind) {
    case HN_AUTORUN_RUNONCE:
        return "RunOnce entry";
    case HN_AUTORUN_SERVICE:
        return "service";
    case HN_AUTORUN_WINLOGON:
        return "Winlogon value";
    case HN_AUTORUN_APPINIT:
        return "AppInit value (DLLs loaded into every program)";
    case HN_AUTORUN_IFEO:
        return "Image File Execution Options value (runs a program instead of, or when, another "
               "starts or exits)";
    case HN_AUTORUN_LSA:
        return "LSA package list (DLLs loaded into lsass, which sees every password)";
    case HN_AUTORUN_PRINTMON:
        return "print monitor (a DLL the print spooler loads as SYSTEM)";
    case HN_AUTORUN_BITS:
        return "BITS job with a command (BITS runs it each time the job ends)";
    case HN_AUTORUN_WMI:
        return "WMI event subscription (WMI runs its consumer, as SYSTEM, each time its filter's "
               "event happens)";
    case HN_AUTORUN_COM:
        return "COM server of the user's classes (loaded wherever a program of this user uses "
               "the object, in place of the machine's one)";
    case HN_AUTORUN_GPO_TASK:
        return "Group Policy scheduled task (every computer the policy applies to runs it)";
    case HN_AUTORUN_GPO_SCRIPT:
        return "Group Policy script (every computer or user the policy applies to runs it)";
    case HN_AUTORUN_GPO_REGISTRY:
        return "Group Policy registry setting under an autostart key";
    case HN_AUTORUN_GPO_GROUP:
        return "Group Policy group membership";
    case HN_AUTORUN_GPO_RIGHT:
        return "Group Policy security setting";
    case HN_AUTORUN_GPO_PASSWORD:
        return "Group Policy preference with a stored password";
    default:
        return "Run key entry";
    }
}

enum wn_ref {
    WN_REF_OLD,        /* the hive's previous content */
    WN_REF_UNREADABLE, /* there was one, it could not be read */
    WN_REF_DEFAULT,    /* a new profile: the Default profile's hive */
    WN_REF_NONE,       /* a new profile without a Default profile to compare with */
    WN_REF_INVENTORY,  /* baseline, or a system hive that joined the backup */
    WN_REF_NEWCLASSES, /* a user's UsrClass.dat appearing: made at the first logon */
};

/* Judge one entry of a hive against its reference entry (NULL: none). */
static int wn_entry(hn_ctx *ctx, const char *rel, const cr_id *cid, const hn_autorun *e,
                    const hn_autorun *ref, enum wn_ref rs)
{
    const char *ind = wn_indicator(e->kind);
    char *ev, *folded = NULL;
    char show[WN_SHOW], show_old[WN_SHOW], name[256], what[512];
    const cr_finding *pf;
    cr_severity sev;
    int err = 0;

    if (!(ev = cr_sprintf("%s\\%s", e->key, e->kind == HN_AUTORUN_SERVICE ? "ImagePath" : e->name)))
        return CR_ERROR;
    hn_text_clean(name, sizeof(name), e->name, strlen(e->name));
    snprintf(what, sizeof(what), "%s \"%s\"", wn_kind_words(e->kind), name);
    wn_show(show, sizeof(show), e->data);
    if (e->kind == HN_AUTORUN_GPO_PASSWORD) {
        /* Dangerous in every restore point, old or new: the key is public (MS14-025). */
        char key[512];
        hn_text_clean(key, sizeof(key), e->key, strlen(e->key));
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_CRITICAL, ind, cid, ev,
                      "a Group Policy preference (%s) stores the password of \"%s\" as "
                      "cpassword: every domain user can read SYSVOL and decrypt it with the key "
                      "Microsoft published (MS14-025); change that password and remove the "
                      "preference",
                      key, name);
        goto done;
    }
    if (ref && !strcmp(ref->data, e->data)) {
        if (rs == WN_REF_OLD) {
            if ((pf = wn_prev(ctx, ind, ev)))
                err = wn_reemit(ctx, rel, pf, cid);
        } else {
            err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, cid, ev,
                          "%s inherited from the Default profile: %s", what, show);
        }
        goto done;
    }
    if (rs == WN_REF_INVENTORY) {
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, cid, ev, "%s (inventory): %s",
                      what, show);
        goto done;
    }
    if (!(folded = wn_fold(e->data))) {
        err = CR_ERROR;
        goto done;
    }
    switch (e->kind) {
    case HN_AUTORUN_WINLOGON:
        sev = wn_winlogon_default(e->name, folded) ? CR_SEV_INFO : CR_SEV_CRITICAL;
        break;
    case HN_AUTORUN_SERVICE:
        /* A service whose program changed runs something else at the next boot; a new
         * service is what updates install too. */
        sev = wn_user_writable(folded) || wn_suspicious(folded) ? CR_SEV_CRITICAL
              : ref                                             ? CR_SEV_HIGH
                                                                : CR_SEV_MEDIUM;
        break;
    case HN_AUTORUN_APPINIT:
        /* empty, or LoadAppInit_DLLs 0: nothing is loaded */
        sev = !*folded || !strcmp(folded, "0x00000000") ? CR_SEV_INFO : CR_SEV_CRITICAL;
        break;
    case HN_AUTORUN_IFEO:
        sev = !strcasecmp(e->name, "GlobalFlag") || !strcasecmp(e->name, "ReportingMode")
                  ? CR_SEV_HIGH
                  : CR_SEV_CRITICAL;
        break;
    case HN_AUTORUN_LSA:
        sev = CR_SEV_CRITICAL;
        break;
    case HN_AUTORUN_PRINTMON:
        sev = wn_user_writable(folded) || wn_suspicious(folded) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        break;
    case HN_AUTORUN_BITS:
        sev = wn_user_writable(folded) || wn_suspicious(folded) || wn_script_host(folded)
                  ? CR_SEV_CRITICAL
                  : CR_SEV_HIGH;
        break;
    case HN_AUTORUN_WMI:
        /* Only these two consumers run code; Windows' own subscriptions write to the
         * event log (SCM Event Log Consumer) or are test leftovers (BVTConsumer). */
        sev = !strncasecmp(e->name, "CommandLineEventConsumer ", 25) ||
                      !strncasecmp(e->name, "ActiveScriptEventConsumer ", 26)
                  ? CR_SEV_CRITICAL
              : wn_wmi_windows(e->name) ? CR_SEV_INFO
                                        : CR_SEV_MEDIUM;
        break;
    case HN_AUTORUN_COM:
        /* Per-user installers (OneDrive, Teams) register COM servers in the profile too,
         * so a folder users write to is not damning here; a script host is. */
        sev = wn_suspicious(folded) || wn_script_host(folded) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        break;
    case HN_AUTORUN_GPO_TASK:
        /* An immediate task runs once on every computer as soon as the policy applies: the
         * crews' way to start ransomware domain-wide. */
        sev = !strncmp(e->key, "ScheduledTasks\\Immediate", 24) || wn_suspicious(folded) ||
                      wn_script_host(folded) || wn_user_writable(folded) || wn_gpo_share(folded)
                  ? CR_SEV_CRITICAL
                  : CR_SEV_HIGH;
        break;
    case HN_AUTORUN_GPO_SCRIPT:
        sev = wn_suspicious(folded) || wn_user_writable(folded) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        break;
    case HN_AUTORUN_GPO_GROUP: {
        /* Adding to an administrators group is the point; removing is housekeeping. */
        int admin = strcasestr(e->key, "admin") || strcasestr(e->key, "s-1-5-32-544");
        sev = strncasecmp(e->data, "ADD ", 4) ? CR_SEV_LOW : admin ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        break;
    }
    case HN_AUTORUN_GPO_RIGHT:
        sev = !strcasecmp(e->key, "Group Membership") || wn_gpo_right_dangerous(e->name)
                  ? CR_SEV_HIGH
                  : CR_SEV_MEDIUM;
        break;
    default:
        sev = wn_user_writable(folded) || wn_suspicious(folded) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        break;
    }
    /* Maybe not new (or a profile's first logon, when installers register their
     * per-user servers): only what no legitimate program looks like stays above medium. */
    if ((rs == WN_REF_UNREADABLE || rs == WN_REF_NEWCLASSES) && sev > CR_SEV_MEDIUM &&
        !wn_suspicious(folded) && !(e->kind == HN_AUTORUN_COM && wn_script_host(folded)))
        sev = CR_SEV_MEDIUM;
    if (e->kind == HN_AUTORUN_WINLOGON && sev == CR_SEV_INFO)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev, "%s is Windows' default: %s",
                      what, show);
    else if (rs == WN_REF_UNREADABLE)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev,
                      "%s: %s (the previous copy of this hive could not be read, so it may not "
                      "be new)",
                      what, show);
    else if (rs == WN_REF_NEWCLASSES)
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev,
                      "%s in a new profile's classes: %s", what, show);
    else if (ref)
        err =
            hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev, "%s changed: now %s (was %s)",
                    what, show, wn_show(show_old, sizeof(show_old), ref->data));
    else
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev, "new %s: %s", what, show);
done:
    free(folded);
    free(ev);
    return err;
}

/* The Default profile's NTUSER.DAT for a user hive at rel; *is_default when rel is it. */
static int wn_default_profile(hn_ctx *ctx, const char *rel, int *is_default, hn_autorun **out,
                              size_t *n)
{
    const char *path;
    char *full = NULL;
    cr_node node;
    int err;

    *out = NULL;
    *n = 0;
    *is_default = 0;
    if (wn_match(rel, "Users/*/NTUSER.DAT"))
        path = "/Users/Default/NTUSER.DAT";
    else
        path = "/Documents and Settings/Default User/NTUSER.DAT";
    if (!strcasecmp(rel, path)) {
        *is_default = 1;
        return 0;
    }
    if (!ctx->snap)
        return CR_ENOTFOUND;
    if (ctx->root && strcmp(ctx->root, "/"))
        full = cr_sprintf("%s%s", ctx->root, path);
    else
        full = cr_strdup(path);
    if (!full)
        return CR_ERROR;
    err = cr_snapshot_lookup(&node, ctx->repo, ctx->snap, full);
    free(full);
    if (err < 0)
        return err;
    if (node.type == CR_NODE_FILE)
        err = wn_hive_read(ctx, &node, hn_hive_examine, out, n);
    else
        err = CR_ENOTFOUND;
    cr_node_clear(&node);
    return err;
}

static int wn_hive(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw,
                   enum wn_kind kind)
{
    hn_autorun *na = NULL, *ra = NULL;
    size_t nn = 0, rn = 0;
    enum wn_ref rs;
    cr_id cid;
    int err;

    hn_content_id(&cid, nw);
    wn_parse_fn parse = kind == WN_WMI    ? hn_wmi_examine
                        : kind == WN_BITS ? hn_bits_examine
                        : kind == WN_GPO  ? hn_gpo_examine
                                          : hn_hive_examine;
    if ((err = wn_hive_read(ctx, nw, parse, &na, &nn)) < 0) {
        char why[512], *msg;
        hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
        msg = cr_sprintf("%s not examined: %s",
                         kind == WN_WMI    ? "WMI repository"
                         : kind == WN_BITS ? "BITS queue"
                         : kind == WN_GPO  ? "Group Policy file"
                                           : "registry hive",
                         why);
        wn_warn(ctx, rel, msg ? msg : why);
        free(msg);
        if (err == CR_EHOSTILE)
            return hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash", &cid,
                           NULL,
                           "%s; its autostart entries were not checked: it may be crafted to "
                           "attack the tools that inspect it",
                           why);
        if (err != CR_ECORRUPT)
            return 0;
        return hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_LOW, "anomaly:bad-hive", &cid, NULL,
                       "%s; its autostart entries were not checked", why);
    }
    if (ctx->baseline) {
        rs = WN_REF_INVENTORY;
    } else if (old) {
        rs = wn_hive_read(ctx, old, parse, &ra, &rn) < 0 ? WN_REF_UNREADABLE : WN_REF_OLD;
    } else if (kind == WN_GPO) {
        rs = WN_REF_NONE; /* a policy file that appeared: everything in it is new */
    } else if (kind == WN_HIVE_SYSTEM || kind == WN_WMI || kind == WN_BITS) {
        rs = WN_REF_INVENTORY;
    } else if (kind == WN_HIVE_CLASSES) {
        rs = WN_REF_NEWCLASSES; /* no Default profile holds one to compare with */
    } else {
        /* Without a readable Default profile, everything in the new profile is new. */
        int is_default = 0;
        err = wn_default_profile(ctx, rel, &is_default, &ra, &rn);
        rs = is_default ? WN_REF_INVENTORY : err < 0 ? WN_REF_NONE : WN_REF_DEFAULT;
        err = 0;
    }
    if (rn)
        qsort(ra, rn, sizeof(*ra), cmp_autorun);
    for (size_t i = 0; i < nn; i++) {
        const hn_autorun *ref = rn ? bsearch(&na[i], ra, rn, sizeof(*ra), cmp_autorun) : NULL;
        if ((err = wn_entry(ctx, rel, &cid, &na[i], ref, rs)) < 0)
            goto done;
    }
done:
    hn_autoruns_free(na, nn);
    hn_autoruns_free(ra, rn);
    return err;
}

/* ------------------------------------------------------------ entry point */

/* ------------------------------------------------------------ service programs */

/*
 * The file a service's ImagePath or ServiceDll names, as a path below the
 * system root, lower-cased with '/' ("/windows/system32/svchost.exe"), into
 * out; 0 when it names none. Quotes and arguments are left out; %SystemRoot%,
 * %windir%, \SystemRoot\, \??\ and a drive letter are resolved the way the
 * service control manager does, and a path without a folder of its own
 * ("system32\drivers\x.sys") is below the Windows folder.
 */
static int wn_service_path(char *out, size_t cap, const char *cmd)
{
    char buf[1024], *l;
    const char *s = cmd, *e;
    while (*s == ' ')
        s++;
    if (*s == '"') {
        s++;
        e = strchr(s, '"');
        if (!e)
            e = s + strlen(s);
    } else {
        /* Unquoted: up to the end of a name with a program's extension, else a blank. */
        const char *x = NULL;
        static const char *const exts[] = {".exe", ".dll", ".sys"};
        for (size_t i = 0; i < 3 && !x; i++) {
            const char *q = s;
            for (; *q; q++)
                if (!strncasecmp(q, exts[i], 4) && (!q[4] || q[4] == ' ' || q[4] == ')'))
                    break;
            if (*q)
                x = q + 4;
        }
        e = x ? x : s + strcspn(s, " ");
    }
    if ((size_t)(e - s) >= sizeof(buf) || e == s)
        return 0;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    if (!(l = wn_fold(buf)))
        return -1;
    static const struct {
        const char *from, *to;
    } pre[] = {{"%systemroot%\\", "c:\\windows\\"},
               {"%windir%\\", "c:\\windows\\"},
               {"\\systemroot\\", "c:\\windows\\"},
               {"systemroot\\", "c:\\windows\\"},
               {"\\??\\", ""},
               {"system32\\", "c:\\windows\\system32\\"}};
    char *p = l;
    char res[1100];
    res[0] = '\0';
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        size_t k = strlen(pre[i].from);
        if (!strncmp(p, pre[i].from, k)) {
            snprintf(res, sizeof(res), "%s%s", pre[i].to, p + k);
            break;
        }
    }
    if (!res[0])
        snprintf(res, sizeof(res), "%s", p);
    free(l);
    if (!(res[0] >= 'a' && res[0] <= 'z' && res[1] == ':' && res[2] == '\\'))
        return 0;
    size_t o = 0;
    for (const char *q = res + 2; *q && o + 1 < cap; q++)
        out[o++] = *q == '\\' ? '/' : *q;
    out[o] = '\0';
    return o > 1;
}

/* The name of the service (owned) whose program or ServiceDll is rel in this snapshot's
 * SYSTEM hive, or NULL (also when there is no readable SYSTEM hive). */
static char *wn_service_of(hn_ctx *ctx, const char *rel)
{
    const char *root = ctx->root && strcmp(ctx->root, "/") ? ctx->root : "";
    char *full = cr_sprintf("%s/Windows/System32/config/SYSTEM", root), *folded, *name = NULL;
    hn_autorun *a = NULL;
    size_t n = 0;
    cr_node node;
    if (!full)
        return NULL;
    memset(&node, 0, sizeof(node));
    if (!ctx->snap || cr_snapshot_lookup(&node, ctx->repo, ctx->snap, full) < 0 ||
        node.type != CR_NODE_FILE || wn_hive_read(ctx, &node, hn_hive_examine, &a, &n) < 0) {
        cr_error_clear();
        goto done;
    }
    if (!(folded = wn_fold(rel)))
        goto done;
    for (char *q = folded; *q; q++)
        if (*q == '\\')
            *q = '/';
    for (size_t i = 0; i < n && !name; i++) {
        char path[1024];
        if (a[i].kind != HN_AUTORUN_SERVICE)
            continue;
        const char *dll = strstr(a[i].data, " (ServiceDll: ");
        if (wn_service_path(path, sizeof(path), a[i].data) > 0 && !strcmp(path, folded))
            name = cr_strdup(a[i].name);
        else if (dll && wn_service_path(path, sizeof(path), dll + 14) > 0 && !strcmp(path, folded))
            name = cr_strdup(a[i].name);
    }
    free(folded);
done:
    cr_node_clear(&node);
    hn_autoruns_free(a, n);
    free(full);
    return name;
}

/*
 * A program that changed since the previous restore point (which the
 * attacker cannot rewrite) while the version it declares did not: no update
 * does that. Judged for the programs and DLLs of services (this snapshot's
 * SYSTEM hive): package:modified, critical; a version resource that
 * disappeared, high. Anything else, or a version that changed, is left to the
 * other judges.
 */
static int wn_service_binary(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw)
{
    cr_buf ob = CR_BUF_INIT, nb = CR_BUF_INIT;
    hn_pe_ver ov, nv;
    cr_id oc, nc;
    char *svc = NULL;
    int err = 0;

    hn_content_id(&oc, old);
    hn_content_id(&nc, nw);
    if (!memcmp(&oc, &nc, sizeof(oc)) || !(svc = wn_service_of(ctx, rel)))
        return 0;
    if (hn_read_node(&ob, ctx->repo, old, WN_MAX_PE) < 0 ||
        hn_read_node(&nb, ctx->repo, nw, WN_MAX_PE) < 0) {
        cr_error_clear(); /* too large or unreadable: the other judges still see it */
        goto done;
    }
    /* In an image snapshot a file's content id follows the disk's chunks: the same
     * bytes may come with another id. */
    if (ob.len == nb.len && (!ob.len || !memcmp(ob.ptr, nb.ptr, ob.len)))
        goto done;
    int ofound = hn_pe_version_examine(&ov, ob.ptr, ob.len);
    int nfound = ofound > 0 ? hn_pe_version_examine(&nv, nb.ptr, nb.len) : 0;
    if (ofound == CR_EHOSTILE || nfound == CR_EHOSTILE) {
        char why[512];
        hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
        err = hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash", &nc, NULL,
                      "the version of this service program was not read: %s; it may be "
                      "crafted to attack the tools that inspect it",
                      why);
        goto done;
    }
    if (ofound <= 0) {
        cr_error_clear();
        goto done;
    }
    char name[256];
    hn_text_clean(name, sizeof(name), svc, strlen(svc));
    if (nfound <= 0) {
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, HN_IND_PACKAGE_MODIFIED, &nc, NULL,
                      "program of service \"%s\" changed and no longer declares a version "
                      "(it was %u.%u.%u.%u)",
                      name, (unsigned)(ov.file >> 48), (unsigned)(ov.file >> 32 & 0xffff),
                      (unsigned)(ov.file >> 16 & 0xffff), (unsigned)(ov.file & 0xffff));
        goto done;
    }
    if (ov.file != nv.file || ov.product != nv.product)
        goto done; /* an update */
    err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_CRITICAL, HN_IND_PACKAGE_MODIFIED, &nc, NULL,
                  "program of service \"%s\" changed since the previous restore point while its "
                  "version (%u.%u.%u.%u) did not: no update does that",
                  name, (unsigned)(nv.file >> 48), (unsigned)(nv.file >> 32 & 0xffff),
                  (unsigned)(nv.file >> 16 & 0xffff), (unsigned)(nv.file & 0xffff));
done:
    free(svc);
    cr_buf_free(&ob);
    cr_buf_free(&nb);
    return err;
}

/*
 * A file of NETLOGON: every computer of the domain can reach it, and logon
 * scripts and Group Policy tasks run from there. New: high (critical when it
 * is a program or a script host's script: what a crew drops there to deploy);
 * changed: medium; a baseline lists them (info).
 */
static int wn_netlogon(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw)
{
    const char *ind = "persistence:netlogon";
    static const char *const code[] = {".exe", ".dll", ".ps1", ".vbs", ".js", ".hta", ".scr",
                                       ".msi", ".jse", ".wsf"};
    int program = 0;
    cr_id cid;
    hn_content_id(&cid, nw);
    for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
        program |= ends_with_ci(rel, code[i]);
    if (ctx->baseline)
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, &cid, NULL,
                       "file in NETLOGON (inventory): computers of the domain can run it");
    if (!old)
        return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, program ? CR_SEV_CRITICAL : CR_SEV_HIGH, ind,
                       &cid, NULL,
                       "new %s in NETLOGON: every computer of the domain can run it (logon "
                       "scripts and Group Policy tasks start from there)",
                       program ? "program or script" : "file");
    return hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_MEDIUM, ind, &cid, NULL,
                   "file in NETLOGON changed: computers of the domain run what it now holds");
}

/* ------------------------------------------------------------ the directory */

/*
 * A Samba AD DC's directory database (samdb.c reads it in the parser
 * sandbox), item by item against the partition's previous content, as hives
 * are. The first snapshot lists what matters (info), never the plain
 * accounts: a hospital has thousands. Then, new or changed:
 *
 *   member of Domain/Enterprise/Schema Admins or Administrators   critical
 *   member of another privileged group (operators, DnsAdmins, GPCO)  high
 *   new account: medium (a computer: low); an account enabled again  high
 *   adminCount set, an SPN on a user account (kerberoastable), no
 *   pre-authentication (AS-REP roastable), constrained or resource-based
 *   delegation, a GPO link of the domain, an OU or a site           high
 *   unconstrained delegation, sIDHistory, AdminSDHolder's permissions critical
 *   krbtgt's password set (the forest recovery resets it twice)     info
 *
 * Removals report nothing. An item unchanged since the previous snapshot
 * carries the previous snapshot's findings about it forward. A partition that
 * cannot be read is a warning and anomaly:bad-hive (low); one that made the
 * reader crash, anomaly:parser-crash (high).
 */
static const char *wn_ad_indicator(int kind)
{
    switch (kind) {
    case HN_AUTORUN_AD_MEMBER:
        return "directory:privileged-member";
    case HN_AUTORUN_AD_ACCOUNT:
        return "directory:account";
    case HN_AUTORUN_AD_ADMINCOUNT:
        return "directory:admincount";
    case HN_AUTORUN_AD_SPN:
        return "directory:user-spn";
    case HN_AUTORUN_AD_DELEGATION:
        return "directory:delegation";
    case HN_AUTORUN_AD_NOPREAUTH:
        return "directory:no-preauth";
    case HN_AUTORUN_AD_SIDHISTORY:
        return "directory:sid-history";
    case HN_AUTORUN_AD_ADMINSDHOLDER:
        return "directory:adminsdholder";
    case HN_AUTORUN_AD_GPLINK:
        return "directory:gpo-link";
    default:
        return "directory:krbtgt";
    }
}

static int cmp_ad(const void *a, const void *b)
{
    const hn_autorun *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = strcasecmp(x->key, y->key);
    return c ? c : strcasecmp(x->name, y->name);
}

/* data "<value> @ <when>": the value, and the time after it (borrowed, "" when none). */
static void wn_ad_split(const char *data, char *value, size_t cap, const char **when)
{
    size_t n = hn_samdb_value_len(data);
    hn_text_clean(value, cap, data, n);
    *when = data[n] ? data + n + 3 : "";
}

static int wn_ad_entry(hn_ctx *ctx, const char *rel, const cr_id *cid, const hn_autorun *e,
                       const hn_autorun *ref, int baseline)
{
    const char *ind = wn_ad_indicator(e->kind), *when, *owhen;
    char value[WN_SHOW], old[WN_SHOW], name[256], key[256], *ev;
    cr_severity sev = CR_SEV_HIGH;
    int err = 0;

    hn_text_clean(name, sizeof(name), e->name, strlen(e->name));
    hn_text_clean(key, sizeof(key), e->key, strlen(e->key));
    wn_ad_split(e->data, value, sizeof(value), &when);
    if (!(ev = cr_sprintf("%s\\%s", e->key, e->name)))
        return CR_ERROR;
    if (baseline) {
        if (e->kind != HN_AUTORUN_AD_ACCOUNT)
            err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, cid, ev,
                          "directory (inventory): %s of \"%s\": %s (%s)", key, name, value, when);
        goto done;
    }
    if (ref) {
        size_t vl = hn_samdb_value_len(e->data);
        if (e->kind == HN_AUTORUN_AD_MEMBER ||
            (vl == hn_samdb_value_len(ref->data) && !strncmp(e->data, ref->data, vl))) {
            const cr_finding *pf = wn_prev(ctx, ind, ev);
            if (pf)
                err = wn_reemit(ctx, rel, pf, cid);
            goto done;
        }
        wn_ad_split(ref->data, old, sizeof(old), &owhen);
    }
    switch (e->kind) {
    case HN_AUTORUN_AD_MEMBER:
        sev = !strcmp(e->key, "Domain Admins") || !strcmp(e->key, "Enterprise Admins") ||
                      !strcmp(e->key, "Schema Admins") || !strcmp(e->key, "Administrators")
                  ? CR_SEV_CRITICAL
                  : CR_SEV_HIGH;
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev,
                      "\"%s\" (%s) was added to the privileged group %s at %s: check who did "
                      "it, remove the member and reset its password",
                      name, value, key, when);
        break;
    case HN_AUTORUN_AD_ACCOUNT:
        if (!ref) {
            int computer = !strcmp(e->key, "computer");
            err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, computer ? CR_SEV_LOW : CR_SEV_MEDIUM, ind,
                          cid, ev, "new %s \"%s\" (%s), created at %s", computer ? "computer account" : "account",
                          name, value, when);
        } else if (!strcmp(value, "enabled")) {
            err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, cid, ev,
                          "account \"%s\" was enabled again (it was %s): a dormant account is "
                          "what intruders revive",
                          name, old);
        }
        break;
    case HN_AUTORUN_AD_ADMINCOUNT:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, cid, ev,
                      "adminCount %s on \"%s\" (changed at %s): the account is or was in a "
                      "privileged group",
                      value, name, when);
        break;
    case HN_AUTORUN_AD_SPN:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, cid, ev,
                      "user account \"%s\" %s service principal name %s (changed at %s): any "
                      "domain user can ask a ticket for it and crack its password offline "
                      "(kerberoasting)%s%s",
                      name, ref ? "now has the" : "was given the", value, when,
                      ref ? "; it was " : "", ref ? old : "");
        break;
    case HN_AUTORUN_AD_DELEGATION:
        sev = !strncmp(value, "unconstrained", 13) ? CR_SEV_CRITICAL : CR_SEV_HIGH;
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, sev, ind, cid, ev,
                      "delegation set on \"%s\" (changed at %s): %s; the account can act as any "
                      "user who logs on to it%s%s",
                      name, when, value, ref ? "; it was " : "", ref ? old : "");
        break;
    case HN_AUTORUN_AD_NOPREAUTH:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, cid, ev,
                      "Kerberos pre-authentication turned off on \"%s\" (DONT_REQ_PREAUTH, "
                      "changed at %s): anyone can get material to crack its password offline",
                      name, when);
        break;
    case HN_AUTORUN_AD_SIDHISTORY:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_CRITICAL, ind, cid, ev,
                      "sIDHistory of \"%s\" is now %s (changed at %s): the account holds the "
                      "rights of those SIDs",
                      name, value, when);
        break;
    case HN_AUTORUN_AD_ADMINSDHOLDER:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_CRITICAL, ind, cid, ev,
                      "the permissions of AdminSDHolder changed (at %s): the domain copies them "
                      "onto every privileged account each hour",
                      when);
        break;
    case HN_AUTORUN_AD_GPLINK:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_HIGH, ind, cid, ev,
                      "GPO links of %s %s (at %s): %s%s%s; every computer below it applies "
                      "those policies",
                      name, ref ? "changed" : "added", when, value, ref ? "; they were " : "",
                      ref ? old : "");
        break;
    default:
        err = hn_emit(ctx, rel, CR_CAT_PERSISTENCE, CR_SEV_INFO, ind, cid, ev,
                      "the password of krbtgt was set at %s", value);
        break;
    }
done:
    free(ev);
    return err;
}

static int wn_directory(hn_ctx *ctx, const char *rel, const cr_node *old, const cr_node *nw)
{
    hn_autorun *na = NULL, *ra = NULL;
    size_t nn = 0, rn = 0;
    cr_id cid;
    int err;

    hn_content_id(&cid, nw);
    if ((err = wn_hive_read(ctx, nw, hn_samdb_examine, &na, &nn)) < 0) {
        char why[512], *msg;
        hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
        msg = cr_sprintf("directory database not examined: %s", why);
        wn_warn(ctx, rel, msg ? msg : why);
        free(msg);
        if (err == CR_EHOSTILE)
            return hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_HIGH, "anomaly:parser-crash", &cid,
                           NULL,
                           "%s; its accounts and groups were not checked: it may be crafted to "
                           "attack the tools that inspect it",
                           why);
        if (err != CR_ECORRUPT)
            return 0;
        return hn_emit(ctx, rel, CR_CAT_ANOMALY, CR_SEV_LOW, "anomaly:bad-hive", &cid, NULL,
                       "%s; its accounts and groups were not checked", why);
    }
    /* A partition that joined the backup after the first snapshot is an inventory too:
     * a whole new directory is not something an intruder adds. */
    int inventory = ctx->baseline || !old;
    if (old && wn_hive_read(ctx, old, hn_samdb_examine, &ra, &rn) < 0) {
        char why[512], *msg;
        hn_text_clean(why, sizeof(why), cr_error_last(), strlen(cr_error_last()));
        /* Nothing can be told new: everything is judged as new, which says more, not less. */
        msg = cr_sprintf("previous copy of the directory database not readable: %s", why);
        wn_warn(ctx, rel, msg ? msg : why);
        free(msg);
        cr_error_clear();
    }
    if (rn)
        qsort(ra, rn, sizeof(*ra), cmp_ad);
    for (size_t i = 0; i < nn; i++) {
        const hn_autorun *ref = rn ? bsearch(&na[i], ra, rn, sizeof(*ra), cmp_ad) : NULL;
        if ((err = wn_ad_entry(ctx, rel, &cid, &na[i], ref, inventory)) < 0)
            break;
    }
    hn_autoruns_free(na, nn);
    hn_autoruns_free(ra, rn);
    return err;
}

int hn_persist_windows(hn_ctx *ctx, const char *relpath, const cr_node *old_node,
                       const cr_node *new_node)
{
    enum wn_kind kind;

    if (!new_node || new_node->type != CR_NODE_FILE || !relpath)
        return 0;
    if (old_node && old_node->type == CR_NODE_FILE && !ctx->baseline &&
        (ends_with_ci(relpath, ".exe") || ends_with_ci(relpath, ".dll") ||
         ends_with_ci(relpath, ".sys"))) {
        int err = wn_service_binary(ctx, relpath, old_node, new_node);
        if (err < 0)
            return err;
    }
    if ((kind = wn_classify(relpath)) == WN_NONE)
        return 0;
    if (old_node && old_node->type != CR_NODE_FILE)
        old_node = NULL;
    switch (kind) {
    case WN_STARTUP:
        return wn_startup(ctx, relpath, old_node, new_node);
    case WN_TASK:
    case WN_TASK_JOB:
        return wn_task(ctx, relpath, old_node, new_node, kind == WN_TASK_JOB);
    case WN_HIVE_SYSTEM:
    case WN_HIVE_USER:
    case WN_HIVE_CLASSES:
    case WN_WMI:
    case WN_BITS:
    case WN_GPO:
        return wn_hive(ctx, relpath, old_node, new_node, kind);
    case WN_NETLOGON:
        return wn_netlogon(ctx, relpath, old_node, new_node);
    case WN_SAMDB:
        return wn_directory(ctx, relpath, old_node, new_node);
    default:
        return 0;
    }
}
