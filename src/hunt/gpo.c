/*
 * Group Policy in a domain controller's SYSVOL: what the domain's policies
 * make every computer run, read from the policy files themselves. Crews
 * deploy ransomware domain-wide this way (an immediate scheduled task in a
 * GPO, a startup script in NETLOGON) and add themselves to local
 * administrator groups; windows.c judges what this file reads.
 *
 * The files (given as bytes; the kind is told by the content, not the name):
 *
 *   Group Policy Preferences XML (Machine|User/Preferences/<area>/<area>.xml):
 *     ScheduledTasks.xml  each Task, TaskV2, ImmediateTask, ImmediateTaskV2
 *                         not being deleted: HN_AUTORUN_GPO_TASK, key
 *                         "ScheduledTasks\<element>", name its name, data its
 *                         command lines (v1: Properties appName + args; v2:
 *                         every Exec's Command and Arguments)
 *     Registry.xml        each Registry setting written under an autostart key
 *                         (Run, RunOnce, Winlogon, Image File Execution
 *                         Options, Services, AppInit): HN_AUTORUN_GPO_REGISTRY,
 *                         key "HIVE\key", name the value name, data the value
 *     Groups.xml          each Member of a Group: HN_AUTORUN_GPO_GROUP, key
 *                         "Groups\<group>", name the member, data its action
 *     any of them         every element with a non-empty cpassword attribute:
 *                         HN_AUTORUN_GPO_PASSWORD (the password itself is never
 *                         kept: the key to decrypt it is public, MS14-025)
 *   scripts.ini, psscripts.ini (Scripts/): each [Startup], [Shutdown], [Logon],
 *                         [Logoff] script: HN_AUTORUN_GPO_SCRIPT, key
 *                         "Scripts\<section>" (or "PSScripts\..."), name its
 *                         number, data command line and parameters
 *   GptTmpl.inf (Microsoft/Windows NT/SecEdit/): each line of [Privilege
 *                         Rights] and [Group Membership]: HN_AUTORUN_GPO_RIGHT,
 *                         key the section, name the right or group, data who
 *
 * Hostile input: at most GP_MAX_SIZE bytes; XML through libxml2 without
 * entity substitution, DTD loading or network; depth and counts bounded;
 * every text handed out clean UTF-8 without controls. Pure function of the
 * bytes: it runs in the parser sandbox's "files" child (hive.c).
 */
#include "hunt/hunt.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GP_MAX_SIZE (16u * 1024 * 1024)
#define GP_MAX_ENTRIES 20000u
#define GP_MAX_DEPTH 32
#define GP_MAX_TEXT 4096u

typedef struct gp {
    hn_autorun *a;
    size_t n, cap;
    int err;
} gp;

static int gp_add(gp *g, int kind, const char *key, const char *name, const char *data)
{
    if (g->err)
        return g->err;
    if (g->n >= GP_MAX_ENTRIES)
        return 0; /* the rest is not read; what was read stands */
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        hn_autorun *na = cr_realloc(g->a, nc * sizeof(*na));
        if (!na)
            return g->err = CR_ERROR;
        g->a = na;
        g->cap = nc;
    }
    hn_autorun *e = &g->a[g->n];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->key = hn_utf8_clean(key ? key : "", strnlen(key ? key : "", GP_MAX_TEXT));
    e->name = hn_utf8_clean(name ? name : "", strnlen(name ? name : "", GP_MAX_TEXT));
    e->data = hn_utf8_clean(data ? data : "", strnlen(data ? data : "", GP_MAX_TEXT));
    g->n++;
    if (!e->key || !e->name || !e->data)
        return g->err = CR_ERROR;
    return 0;
}

/* ------------------------------------------------------------ XML */

static const char *gp_attr(xmlNode *n, const char *name, char *buf, size_t cap)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    buf[0] = '\0';
    if (!v)
        return NULL;
    snprintf(buf, cap, "%s", (const char *)v);
    xmlFree(v);
    return buf;
}

static xmlNode *gp_child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

static void gp_text(xmlNode *n, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!n)
        return;
    xmlChar *v = xmlNodeGetContent(n);
    if (v) {
        snprintf(buf, cap, "%s", (const char *)v);
        xmlFree(v);
    }
}

/* Append "cmd args" to out (separated by "; "), as room allows. */
static void gp_cmd(char *out, size_t cap, const char *cmd, const char *args)
{
    size_t have = strlen(out);
    if (!*cmd && !*args)
        return;
    snprintf(out + have, cap - have, "%s%s%s%s", have ? "; " : "", cmd, *args ? " " : "", args);
}

static int gp_deleting(xmlNode *props)
{
    char act[8];
    return props && gp_attr(props, "action", act, sizeof(act)) && !strcasecmp(act, "D");
}

static void gp_task(gp *g, xmlNode *n)
{
    char key[64], name[512], cmd[GP_MAX_TEXT], args[GP_MAX_TEXT], all[GP_MAX_TEXT];
    xmlNode *props = gp_child(n, "Properties");
    if (!props || gp_deleting(props))
        return;
    snprintf(key, sizeof(key), "ScheduledTasks\\%s", (const char *)n->name);
    if (!gp_attr(n, "name", name, sizeof(name)) || !*name)
        gp_attr(props, "name", name, sizeof(name));
    all[0] = '\0';
    /* Version 1 tasks carry the program in attributes, version 2 a Task Scheduler task. */
    if (gp_attr(props, "appName", cmd, sizeof(cmd))) {
        gp_attr(props, "args", args, sizeof(args));
        gp_cmd(all, sizeof(all), cmd, args);
    }
    xmlNode *actions = gp_child(gp_child(props, "Task"), "Actions");
    int k = 0;
    for (xmlNode *c = actions ? actions->children : NULL; c && k < 32; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Exec"))
            continue;
        gp_text(gp_child(c, "Command"), cmd, sizeof(cmd));
        gp_text(gp_child(c, "Arguments"), args, sizeof(args));
        gp_cmd(all, sizeof(all), cmd, args);
        k++;
    }
    gp_add(g, HN_AUTORUN_GPO_TASK, key, name, all[0] ? all : "(no command line)");
}

static int gp_autostart_key(const char *key)
{
    static const char *const keys[] = {"\\currentversion\\run", "\\winlogon",
                                       "\\image file execution options", "\\services\\",
                                       "\\currentversion\\windows\\appinit", "\\policies\\explorer\\run"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        if (strcasestr(key, keys[k]))
            return 1;
    return 0;
}

static void gp_registry(gp *g, xmlNode *n)
{
    char hive[64], key[1024], name[512], value[GP_MAX_TEXT], full[1200];
    xmlNode *props = gp_child(n, "Properties");
    if (!props || gp_deleting(props))
        return;
    gp_attr(props, "hive", hive, sizeof(hive));
    if (!gp_attr(props, "key", key, sizeof(key)) || !gp_autostart_key(key))
        return;
    gp_attr(props, "name", name, sizeof(name));
    gp_attr(props, "value", value, sizeof(value));
    snprintf(full, sizeof(full), "%s\\%s", hive, key);
    gp_add(g, HN_AUTORUN_GPO_REGISTRY, full, name, value);
}

static void gp_group(gp *g, xmlNode *n)
{
    char group[512], key[600], member[512], action[16];
    xmlNode *props = gp_child(n, "Properties");
    if (!props || gp_deleting(props))
        return;
    if (!gp_attr(props, "groupName", group, sizeof(group)) || !*group)
        gp_attr(n, "name", group, sizeof(group));
    snprintf(key, sizeof(key), "Groups\\%s", group);
    xmlNode *members = gp_child(props, "Members");
    for (xmlNode *m = members ? members->children : NULL; m; m = m->next) {
        if (m->type != XML_ELEMENT_NODE || strcmp((const char *)m->name, "Member"))
            continue;
        gp_attr(m, "name", member, sizeof(member));
        if (!gp_attr(m, "action", action, sizeof(action)) || !*action)
            snprintf(action, sizeof(action), "ADD");
        char data[600];
        snprintf(data, sizeof(data), "%s %s %s", action, strcasecmp(action, "ADD") ? "from" : "to",
                 group);
        gp_add(g, HN_AUTORUN_GPO_GROUP, key, member, data);
    }
}

static void gp_walk(gp *g, xmlNode *n, const char *parent, int depth)
{
    char cp[8], who[512];
    for (; n && !g->err && depth < GP_MAX_DEPTH; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *)n->name;
        /* A stored password in any preference (user, task run-as, service, drive, data source). */
        if (gp_attr(n, "cpassword", cp, sizeof(cp)) && *cp) {
            if (!gp_attr(n, "userName", who, sizeof(who)) || !*who)
                if (!gp_attr(n, "runAs", who, sizeof(who)) || !*who)
                    if (!gp_attr(n, "accountName", who, sizeof(who)) || !*who)
                        snprintf(who, sizeof(who), "%s", parent);
            char key[300];
            snprintf(key, sizeof(key), "%s\\%s", parent, name);
            gp_add(g, HN_AUTORUN_GPO_PASSWORD, key, who, "a password stored as cpassword");
        }
        if (!strcmp(parent, "ScheduledTasks") &&
            (!strcmp(name, "Task") || !strcmp(name, "TaskV2") || !strcmp(name, "ImmediateTask") ||
             !strcmp(name, "ImmediateTaskV2")))
            gp_task(g, n);
        else if (!strcmp(name, "Registry"))
            gp_registry(g, n);
        else if (!strcmp(name, "Group") && !strcmp(parent, "Groups"))
            gp_group(g, n);
        gp_walk(g, n->children, name, depth + 1);
    }
}

static int gp_xml(gp *g, const void *data, size_t len)
{
    xmlInitParser();
    /* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading, no network. */
    xmlDoc *doc = xmlReadMemory(data, (int)len, "gpo.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    XML_PARSE_NOCDATA);
    if (!doc) {
        cr_error_set("not a readable Group Policy preference file (malformed XML)");
        return CR_ECORRUPT;
    }
    /* Windows never writes a document type declaration here; one could declare entities
     * that libxml2 expands when an attribute or a text is read (billion laughs). */
    if (xmlGetIntSubset(doc) || doc->extSubset) {
        xmlFreeDoc(doc);
        cr_error_set("a Group Policy preference file with a document type declaration (Windows "
                     "never writes one): not read");
        return CR_ECORRUPT;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root)
        gp_walk(g, root, "", 0);
    xmlFreeDoc(doc);
    return g->err;
}

/* ------------------------------------------------------------ INI (scripts.ini, GptTmpl.inf) */

static char *gp_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

typedef struct gp_script {
    char cmd[GP_MAX_TEXT], params[GP_MAX_TEXT];
    int seen;
} gp_script;

static void gp_flush_scripts(gp *g, const char *key, gp_script *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!s[i].seen)
            continue;
        char idx[16], all[GP_MAX_TEXT];
        snprintf(idx, sizeof(idx), "%zu", i);
        all[0] = '\0';
        gp_cmd(all, sizeof(all), s[i].cmd, s[i].params);
        gp_add(g, HN_AUTORUN_GPO_SCRIPT, key, idx, all);
        s[i].seen = 0;
    }
}

#define GP_MAX_SCRIPTS 64

typedef struct gp_ini_state {
    char section[128], key[160];
    int scripts, rights, ps, any;
    gp_script *s;
} gp_ini_state;

static void gp_ini_line(gp *g, gp_ini_state *st, char *line)
{
    static const char *const script_sections[] = {"Startup", "Shutdown", "Logon", "Logoff"};
    char *l = gp_trim(line);
    if (!*l || *l == ';')
        return;
    if (*l == '[') {
        char *e = strchr(l, ']');
        if (!e)
            return;
        if (st->scripts)
            gp_flush_scripts(g, st->key, st->s, GP_MAX_SCRIPTS);
        *e = '\0';
        snprintf(st->section, sizeof(st->section), "%s", l + 1);
        st->scripts = 0;
        for (size_t i = 0; i < 4; i++)
            if (!strcasecmp(st->section, script_sections[i]))
                st->scripts = 1;
        st->rights = !strcasecmp(st->section, "Privilege Rights") ||
                     !strcasecmp(st->section, "Group Membership");
        snprintf(st->key, sizeof(st->key), "%s\\%s", st->ps ? "PSScripts" : "Scripts",
                 st->section);
        st->any |= st->scripts | st->rights;
        if (!strcasecmp(st->section, "ScriptsConfig"))
            st->ps = 1;
        return;
    }
    char *eq = strchr(l, '=');
    if (!eq)
        return;
    *eq = '\0';
    char *k = gp_trim(l), *v = gp_trim(eq + 1);
    if (st->rights) {
        gp_add(g, HN_AUTORUN_GPO_RIGHT, st->section, k, v);
    } else if (st->scripts) {
        /* "0CmdLine", "0Parameters": the number first. */
        char *endp;
        unsigned long i = strtoul(k, &endp, 10);
        if (endp == k || i >= GP_MAX_SCRIPTS)
            return;
        if (!strcasecmp(endp, "CmdLine")) {
            snprintf(st->s[i].cmd, sizeof(st->s[i].cmd), "%s", v);
            st->s[i].seen = 1;
        } else if (!strcasecmp(endp, "Parameters")) {
            snprintf(st->s[i].params, sizeof(st->s[i].params), "%s", v);
            st->s[i].seen = 1;
        }
    }
}

/*
 * An INI file, line by line: each line is cut from the raw bytes first (UTF-16
 * code units or bytes) and only then made clean UTF-8, since cleaning turns
 * line ends into '?'.
 */
static int gp_ini(gp *g, const uint8_t *d, size_t len, int utf16)
{
    gp_ini_state st;
    memset(&st, 0, sizeof(st));
    if (!(st.s = cr_calloc(GP_MAX_SCRIPTS, sizeof(*st.s))))
        return CR_ERROR;
    /* psscripts.ini is told by its [ScriptsConfig] section, which may come first or last. */
    static const char psmark[] = "[ScriptsConfig]";
    if (utf16) {
        for (size_t i = 0; i + sizeof(psmark) * 2 - 2 <= len && !st.ps; i += 2) {
            size_t k = 0;
            while (psmark[k] && d[i + 2 * k] == (uint8_t)psmark[k] && d[i + 2 * k + 1] == 0)
                k++;
            st.ps = psmark[k] == '\0';
        }
    } else {
        st.ps = memmem(d, len, psmark, sizeof(psmark) - 1) != NULL;
    }
    size_t unit = utf16 ? 2 : 1, pos = 0;
    while (pos < len && !g->err) {
        size_t end = pos;
        while (end + unit <= len && !(d[end] == '\n' && (unit == 1 || d[end + 1] == 0)))
            end += unit;
        size_t stop = end > len ? len : end, cut = stop;
        if (cut >= pos + unit && d[cut - unit] == '\r' && (unit == 1 || d[cut - 1] == 0))
            cut -= unit;
        char *line = utf16 ? hn_utf16_to_utf8(d + pos, cut - pos) : hn_utf8_clean(d + pos, cut - pos);
        if (!line) {
            g->err = CR_ERROR;
            break;
        }
        gp_ini_line(g, &st, line);
        free(line);
        pos = stop + unit;
    }
    if (st.scripts && !g->err)
        gp_flush_scripts(g, st.key, st.s, GP_MAX_SCRIPTS);
    free(st.s);
    if (!g->err && !st.any) {
        cr_error_set("not a Group Policy scripts or security template file");
        return CR_ECORRUPT;
    }
    return g->err;
}

/* ------------------------------------------------------------ entry */

int hn_gpo_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    const uint8_t *d = data;
    gp g;
    int err;

    memset(&g, 0, sizeof(g));
    *out = NULL;
    *count = 0;
    if (len > GP_MAX_SIZE) {
        cr_error_set("Group Policy file too large to be one (%zu bytes)", len);
        return CR_ECORRUPT;
    }
    /* Windows writes these files in UTF-16 (with its mark) or UTF-8. */
    size_t skip = 0;
    while (skip < len && skip < 64 &&
           (d[skip] == ' ' || d[skip] == '\r' || d[skip] == '\n' || d[skip] == '\t'))
        skip++;
    int utf16 = len >= 2 && d[0] == 0xff && d[1] == 0xfe;
    int xml = utf16 ? len >= 4 && d[2] == '<' : (skip < len && d[skip] == '<') ||
                                                    (len >= 4 && !memcmp(d, "\xef\xbb\xbf<", 4));
    if (xml) {
        err = gp_xml(&g, data, len); /* libxml2 reads the encoding mark itself */
    } else {
        size_t bom = utf16 ? 2 : len >= 3 && !memcmp(d, "\xef\xbb\xbf", 3) ? 3 : 0;
        err = gp_ini(&g, d + bom, len - bom, utf16);
    }
    if (err < 0) {
        hn_autoruns_free(g.a, g.n);
        return err;
    }
    *out = g.a;
    *count = g.n;
    return 0;
}
