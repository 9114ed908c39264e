/*
 * Recovery plans: read a YAML plan (docs/plan.md), check it, order it.
 *
 * The plan is read with libyaml's event parser into a small tree of our own
 * (scalars, mappings, sequences, each with its line and column) rather than
 * with libyaml's document loader, for two reasons: aliases are refused at the
 * event that names them (a plan has no use for them, and a "billion laughs"
 * file expands them exponentially), and the tree is bounded while it is
 * built (file size, node count, nesting depth).
 *
 * Checking never stops at the first problem: a technician fixing a plan at
 * 3 a.m. wants the whole list at once. Every problem carries the line and
 * column it is about; they are sorted before being returned. Only a YAML
 * syntax error stops the reading (libyaml cannot go on after one).
 */
#include "recover/plan_priv.h"
#include "recover/probe_priv.h"
#include "util/util.h"
#include "util/yaml.h"

#include "cleanroom/hunt.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A service depends on at most this many others (each is checked against
 * the others for repeats). */
#define CR_PLAN_MAX_DEPENDS 1000u

/* ================================================================ the tree */

/* The YAML tree and the problem list are util/yaml.c's, shared with jobs files. */
typedef cr_ynode pn;
#define PN_SCALAR CR_YSCALAR
#define PN_MAP CR_YMAP
#define PN_SEQ CR_YSEQ

typedef struct svc_extra {
    unsigned int *dep_line, *dep_col; /* marks of the depends_on items */
} svc_extra;

typedef struct ctx {
    cr_ydoc y;
    const char *file;
    cr_plan *plan;
    svc_extra *ext;
} ctx;

static void ctx_init(ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->y.noun = "a plan";
    c->y.doc = "docs/plan.md";
    c->y.max_nodes = CR_PLAN_MAX_NODES;
    c->y.max_depth = CR_PLAN_MAX_DEPTH;
}

static void err_at(ctx *c, unsigned int line, unsigned int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void err_at(ctx *c, unsigned int line, unsigned int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_ydoc_vproblem(&c->y, line, col, 1, fmt, ap);
    va_end(ap);
}

static void warn_at(ctx *c, unsigned int line, unsigned int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warn_at(ctx *c, unsigned int line, unsigned int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_ydoc_vproblem(&c->y, line, col, 0, fmt, ap);
    va_end(ap);
}

#define ERR(c, node, ...) err_at((c), (node)->line, (node)->col, __VA_ARGS__)
#define WARN(c, node, ...) warn_at((c), (node)->line, (node)->col, __VA_ARGS__)

void cr_plan_problems_free(cr_plan_problem *p, size_t n)
{
    cr_problems_free(p, n);
}

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static void check_keys(ctx *c, const pn *map, const char *const *known, size_t nknown,
                       const char *where)
{
    cr_yaml_check_keys(&c->y, map, known, nknown, where);
}

/* The text of a scalar (a copy); NULL with an error when it is not one. */
static char *text(ctx *c, const pn *v, const char *what)
{
    if (v->type != PN_SCALAR) {
        ERR(c, v, "%s must be a text, got %s", what, cr_yaml_kind(v));
        return NULL;
    }
    char *s = cr_strdup(v->s);
    if (!s)
        c->y.oom = 1;
    return s;
}

static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* An integer in [min, max]; `what` names it in the message ("tier must be an
 * integer 0..3 (hint), got 'core'"). Returns 0 or -1 (error recorded). */
static int integer(ctx *c, const pn *v, const char *what, unsigned long min, unsigned long max,
                   const char *hint, unsigned long *out)
{
    unsigned long x;
    if (v->type != PN_SCALAR || parse_ulong(v->s, &x) < 0 || x < min || x > max) {
        if (v->type != PN_SCALAR)
            ERR(c, v, "%s must be an integer %lu..%lu%s, got %s", what, min, max, hint ? hint : "",
                cr_yaml_kind(v));
        else
            ERR(c, v, "%s must be an integer %lu..%lu%s, got '%s'", what, min, max,
                hint ? hint : "", cr_yaml_show(v->s));
        return -1;
    }
    *out = x;
    return 0;
}

int cr_plan_duration_parse(double *out, const char *s, int unit_optional)
{
    double total = 0;
    const char *p = s;
    int parts = 0, last_unit = 99;
    static const char units[] = "dhms";
    static const double mult[] = {86400, 3600, 60, 1};

    if (!s || !*s)
        return CR_EINPUT;
    while (*p == ' ')
        p++;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p))
            return CR_EINPUT;
        errno = 0;
        double v = strtod(p, &end);
        if (errno || end == p || !isfinite(v) || v < 0)
            return CR_EINPUT;
        p = end;
        while (*p == ' ')
            p++;
        if (!*p) {
            if (!unit_optional || parts > 0)
                return CR_EINPUT;
            total = v;
            parts++;
            break;
        }
        const char *u = strchr(units, tolower((unsigned char)*p));
        if (!u)
            return CR_EINPUT;
        int ui = (int)(u - units);
        /* "1h30m" yes, "30m1h" or "1h1h" no */
        if (parts > 0 && ui <= last_unit)
            return CR_EINPUT;
        last_unit = ui;
        total += v * mult[ui];
        parts++;
        p++;
        /* long unit names: "4 hours", "30 min" */
        while (isalpha((unsigned char)*p))
            p++;
        while (*p == ' ')
            p++;
    }
    if (parts == 0 || total > 1e9)
        return CR_EINPUT;
    *out = total;
    return 0;
}

/* A duration in (min, max]; zero allowed when allow_zero. */
static int duration(ctx *c, const pn *v, const char *what, int unit_optional, int allow_zero,
                    double max, double *out)
{
    double d;
    if (v->type != PN_SCALAR) {
        ERR(c, v, "%s must be a duration such as 4h, 30m, 90s or 1h30m, got %s", what,
            cr_yaml_kind(v));
        return -1;
    }
    if (cr_plan_duration_parse(&d, v->s, unit_optional) < 0) {
        if (!unit_optional && parse_ulong(v->s, &(unsigned long){0}) == 0)
            ERR(c, v, "%s needs a unit: '%sh', '%sm' or '%ss' (hours, minutes, seconds)", what,
                cr_yaml_show(v->s), cr_yaml_show(v->s), cr_yaml_show(v->s));
        else
            ERR(c, v, "%s must be a duration such as 4h, 30m, 90s or 1h30m, got '%s'", what,
                cr_yaml_show(v->s));
        return -1;
    }
    if ((d == 0 && !allow_zero) || d > max) {
        ERR(c, v, "%s must be %s %g seconds, got '%s'", what,
            allow_zero ? "between 0 and" : "more than 0 and at most", max, cr_yaml_show(v->s));
        return -1;
    }
    *out = d;
    return 0;
}

/* ============================================================ names */

typedef struct named {
    const char *name;
    int value;
} named;

static const named probe_kinds[] = {
    {"tcp", CR_PROBE_TCP},           {"http", CR_PROBE_HTTP},   {"https", CR_PROBE_HTTP},
    {"ldap", CR_PROBE_LDAP},         {"ldaps", CR_PROBE_LDAP},  {"postgres", CR_PROBE_POSTGRES},
    {"postgresql", CR_PROBE_POSTGRES}, {"pg", CR_PROBE_POSTGRES}, {"dicom", CR_PROBE_DICOM},
    {"hl7", CR_PROBE_HL7},           {"mllp", CR_PROBE_HL7},    {"dns", CR_PROBE_DNS},
    {"kerberos", CR_PROBE_KERBEROS}, {"krb5", CR_PROBE_KERBEROS}, {"smb", CR_PROBE_SMB},
    {"cifs", CR_PROBE_SMB},
};
static const named image_formats[] = {
    {"raw", CR_IMAGE_RAW},   {"qcow2", CR_IMAGE_QCOW2}, {"vmdk", CR_IMAGE_VMDK},
    {"vmdk-stream", CR_IMAGE_VMDK}, {"vmdk-flat", CR_IMAGE_VMDK_FLAT}, {"vhdx", CR_IMAGE_VHDX},
    {"vhd", CR_IMAGE_VHD},   {"vpc", CR_IMAGE_VHD},
};
static const named hypervisors[] = {
    {"kvm", CR_HYPERVISOR_KVM},         {"libvirt", CR_HYPERVISOR_KVM},
    {"qemu", CR_HYPERVISOR_KVM},        {"proxmox", CR_HYPERVISOR_PROXMOX},
    {"vmware", CR_HYPERVISOR_VMWARE},   {"esxi", CR_HYPERVISOR_VMWARE},
    {"hyperv", CR_HYPERVISOR_HYPERV},   {"hyper-v", CR_HYPERVISOR_HYPERV},
};

/* Look a name up (case-insensitive); on failure an error listing the choices. */
static int choose(ctx *c, const pn *v, const char *what, const named *tab, size_t n, int *out)
{
    const char *names[16];
    char list[256];
    size_t o = 0;
    if (v->type == PN_SCALAR) {
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(v->s, tab[i].name) == 0) {
                *out = tab[i].value;
                return 0;
            }
    }
    list[0] = '\0';
    for (size_t i = 0; i < n && i < 16; i++) {
        names[i] = tab[i].name;
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", tab[i].name);
        if (o >= sizeof(list))
            o = sizeof(list) - 1;
    }
    if (v->type != PN_SCALAR) {
        ERR(c, v, "%s must be one of %s, got %s", what, list, cr_yaml_kind(v));
    } else {
        const char *near = cr_suggest(v->s, names, n < 16 ? n : 16);
        if (near)
            ERR(c, v, "unknown %s '%s': did you mean `%s`? (one of %s)", what, cr_yaml_show(v->s), near,
                list);
        else
            ERR(c, v, "unknown %s '%s' (one of %s)", what, cr_yaml_show(v->s), list);
    }
    return -1;
}

const char *cr_plan_point_name(cr_plan_point p)
{
    switch (p) {
    case CR_PLAN_POINT_CLEAN: return "clean";
    case CR_PLAN_POINT_LATEST: return "latest";
    case CR_PLAN_POINT_ID: return "id";
    }
    return "?";
}

const char *cr_plan_target_kind_name(cr_plan_target_kind k)
{
    switch (k) {
    case CR_PLAN_TARGET_FOLDER: return "folder";
    case CR_PLAN_TARGET_IMAGE: return "image";
    case CR_PLAN_TARGET_VM: return "vm";
    }
    return "?";
}

/* A service or site name: letters (accented and other scripts too: "ch-saint-
 * étienne"), digits, '.', '_', '-'. They appear in messages, file names of
 * logs and reports, and the journal: no space, no '/', no control character,
 * no symbol or combining mark, not "." or ".."; at most 128 bytes. */
static int good_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = cr_utf8_decode(&cp, s + i, n - i);
        if (l == 0)
            return 0;
        if (!cr_utf8_is_letter(cp) && !(cp >= '0' && cp <= '9') && cp != '.' && cp != '_' &&
            cp != '-')
            return 0;
        i += l;
    }
    return 1;
}

/* ============================================================ paths */

/* Normalise an absolute path lexically: no "//", ".", "..", no trailing "/".
 * NULL (no message) if it is not absolute; c->y.oom on memory. */
static char *norm_path(ctx *c, const char *in)
{
    size_t n = strlen(in), o = 0;
    char *out;
    if (n == 0 || in[0] != '/')
        return NULL;
    if (!(out = malloc(n + 2))) {
        c->y.oom = 1;
        return NULL;
    }
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

char *cr_plan_instance_path(const cr_plan_service *svc, unsigned int i)
{
    const char *t = svc->target.path;
    const char *at = t ? strstr(t, "%n") : NULL;
    if (!t)
        return NULL;
    if (!at || svc->count <= 1)
        return cr_strdup(t);
    return cr_sprintf("%.*s%u%s", (int)(at - t), t, i, at + 2);
}

/* ============================================================ probes */

enum {
    PF_HOST = 1 << 0,
    PF_PORT = 1 << 1,
    PF_URL = 1 << 2,
    PF_HTTP = 1 << 3, /* expect_status, expect_body */
    PF_CA = 1 << 4,
    PF_LDAP = 1 << 5, /* bind_dn, base, filter, min_entries */
    PF_PASSENV = 1 << 6,
    PF_PG = 1 << 7,   /* conninfo, query, expect */
    PF_DICOM = 1 << 8,
    PF_HL7 = 1 << 9,
    PF_EXPECT = 1 << 10,
    PF_DNS = 1 << 11, /* record, type */
    PF_KRB = 1 << 12, /* realm, principal */
    PF_SMB = 1 << 13, /* user, shares */
};

static unsigned int probe_fields(cr_probe_kind k)
{
    switch (k) {
    case CR_PROBE_TCP: return PF_HOST | PF_PORT;
    case CR_PROBE_HTTP: return PF_URL | PF_HTTP | PF_CA;
    case CR_PROBE_LDAP: return PF_URL | PF_HOST | PF_LDAP | PF_PASSENV | PF_CA;
    case CR_PROBE_POSTGRES: return PF_PG | PF_PASSENV | PF_EXPECT;
    case CR_PROBE_DICOM: return PF_HOST | PF_PORT | PF_DICOM;
    case CR_PROBE_HL7: return PF_HOST | PF_PORT | PF_HL7;
    case CR_PROBE_DNS: return PF_HOST | PF_PORT | PF_DNS | PF_EXPECT;
    case CR_PROBE_KERBEROS: return PF_HOST | PF_PORT | PF_KRB | PF_PASSENV;
    case CR_PROBE_SMB: return PF_HOST | PF_PORT | PF_SMB | PF_PASSENV;
    }
    return 0;
}

typedef struct probe_key {
    const char *key;
    unsigned int field; /* 0: every kind */
    const char *kinds;  /* for the message */
} probe_key;

static const probe_key probe_keys[] = {
    {"kind", 0, NULL},
    {"name", 0, NULL},
    {"timeout", 0, NULL},
    {"retries", 0, NULL},
    {"interval", 0, NULL},
    {"host", PF_HOST, "tcp, ldap, dicom, hl7, dns, kerberos and smb"},
    {"port", PF_PORT, "tcp, dicom, hl7, dns, kerberos and smb"},
    {"url", PF_URL, "http and ldap"},
    {"expect_status", PF_HTTP, "http"},
    {"expect_body", PF_HTTP, "http"},
    {"ca_file", PF_CA, "http and ldap"},
    {"bind_dn", PF_LDAP, "ldap"},
    {"base", PF_LDAP, "ldap"},
    {"filter", PF_LDAP, "ldap"},
    {"min_entries", PF_LDAP, "ldap"},
    {"password_env", PF_PASSENV, "ldap, postgres, kerberos and smb"},
    {"conninfo", PF_PG, "postgres"},
    {"query", PF_PG, "postgres"},
    {"expect", PF_EXPECT, "postgres and dns"},
    {"record", PF_DNS, "dns"},
    {"type", PF_DNS, "dns"},
    {"realm", PF_KRB, "kerberos"},
    {"principal", PF_KRB, "kerberos"},
    {"user", PF_SMB, "smb"},
    {"shares", PF_SMB, "smb"},
    {"calling_ae", PF_DICOM, "dicom"},
    {"called_ae", PF_DICOM, "dicom"},
    {"message", PF_HL7, "hl7"},
};

static int prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A DICOM AE title: 1..16 printable ASCII characters, not only spaces, no backslash. */
static int good_ae(const char *s)
{
    size_t n = strlen(s);
    int nonspace = 0;
    if (n == 0 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\')
            return 0;
        if (s[i] != ' ')
            nonspace = 1;
    }
    return nonspace;
}

/* smb shares: a list [SYSVOL, NETLOGON] or one name, kept as "SYSVOL,NETLOGON". */
static char *share_list(ctx *c, const pn *v)
{
    cr_buf b = CR_BUF_INIT;
    size_t n = v->type == PN_SEQ ? v->n : 1;
    for (size_t i = 0; i < n; i++) {
        const pn *it = v->type == PN_SEQ ? v->kids[i] : v;
        if (it->type != PN_SCALAR || !*it->s || strpbrk(it->s, ",/\\")) {
            ERR(c, it, "shares must be a list of share names such as [SYSVOL, NETLOGON], got %s",
                it->type == PN_SCALAR ? cr_yaml_show(it->s) : cr_yaml_kind(it));
            continue;
        }
        if ((b.len && cr_buf_put(&b, ",", 1) < 0) || cr_buf_put(&b, it->s, strlen(it->s)) < 0)
            c->y.oom = 1;
    }
    char *out = NULL;
    if (!c->y.oom && b.len && cr_buf_put(&b, "", 1) == 0) {
        out = (char *)b.ptr;
        b.ptr = NULL;
    }
    cr_buf_free(&b);
    return out;
}

static void read_probe(ctx *c, const pn *node, cr_probe_spec *sp, const cr_plan *plan,
                       const char *svc)
{
    const char *known[NKEYS(probe_keys)];
    unsigned long x;
    pn *v, *k;
    int kind;

    memset(sp, 0, sizeof(*sp));
    sp->line = node->line;
    sp->col = node->col;
    sp->timeout = plan->probe_timeout;
    sp->retries = plan->probe_retries;
    sp->interval = plan->probe_interval;
    if (node->type != PN_MAP) {
        ERR(c, node,
            "a probe of '%s' must be a mapping such as {kind: tcp, host: 10.0.0.5, port: 53}, "
            "got %s",
            svc, node->type == PN_SCALAR ? cr_yaml_show(node->s) : cr_yaml_kind(node));
        return;
    }
    for (size_t i = 0; i < NKEYS(probe_keys); i++)
        known[i] = probe_keys[i].key;
    check_keys(c, node, known, NKEYS(known), "in a probe");
    if (!(v = cr_yaml_get(node, "kind", NULL))) {
        ERR(c, node, "a probe of '%s' needs `kind:` (tcp, http, ldap, postgres, dicom, hl7, dns, kerberos or smb)",
            svc);
        return;
    }
    if (choose(c, v, "probe kind", probe_kinds, NKEYS(probe_kinds), &kind) < 0)
        return;
    sp->kind = (cr_probe_kind)kind;
    const char *kw = cr_probe_kind_name(sp->kind);
    unsigned int allowed = probe_fields(sp->kind);

    /* keys that do not apply to this kind */
    for (size_t i = 0; i + 1 < node->n; i += 2) {
        k = node->kids[i];
        if (k->type != PN_SCALAR)
            continue;
        for (size_t j = 0; j < NKEYS(probe_keys); j++)
            if (probe_keys[j].field && strcmp(k->s, probe_keys[j].key) == 0 &&
                !(allowed & probe_keys[j].field))
                ERR(c, k, "`%s` does not apply to a %s probe (it is for %s probes)", k->s, kw,
                    probe_keys[j].kinds);
    }

    if ((v = cr_yaml_get(node, "name", NULL)))
        sp->name = text(c, v, "a probe's name");
    if ((v = cr_yaml_get(node, "timeout", NULL)))
        duration(c, v, "timeout", 1, 0, 3600, &sp->timeout);
    if ((v = cr_yaml_get(node, "interval", NULL)))
        duration(c, v, "interval", 1, 1, 3600, &sp->interval);
    if ((v = cr_yaml_get(node, "retries", NULL)) && integer(c, v, "retries", 0, 100, NULL, &x) == 0)
        sp->retries = (unsigned int)x;

    if ((allowed & PF_HOST) && (v = cr_yaml_get(node, "host", NULL)) &&
        (sp->host = text(c, v, "host")) && (!*sp->host || strpbrk(sp->host, " /\t"))) {
        ERR(c, v, "host must be a host name or an IP address, got '%s'", cr_yaml_show(sp->host));
    }
    if ((allowed & PF_PORT) && (v = cr_yaml_get(node, "port", NULL)) &&
        integer(c, v, "port", 1, 65535, NULL, &x) == 0)
        sp->port = (unsigned int)x;
    if ((allowed & PF_URL) && (v = cr_yaml_get(node, "url", NULL)))
        sp->url = text(c, v, "url");
    if (allowed & PF_HTTP) {
        if ((v = cr_yaml_get(node, "expect_status", NULL)) &&
            integer(c, v, "expect_status", 100, 599, " (an HTTP status)", &x) == 0)
            sp->expect_status = (int)x;
        if ((v = cr_yaml_get(node, "expect_body", NULL)))
            sp->expect_body = text(c, v, "expect_body");
    }
    if ((allowed & PF_CA) && (v = cr_yaml_get(node, "ca_file", NULL)))
        sp->ca_file = text(c, v, "ca_file");
    if (allowed & PF_LDAP) {
        if ((v = cr_yaml_get(node, "bind_dn", NULL)))
            sp->bind_dn = text(c, v, "bind_dn");
        if ((v = cr_yaml_get(node, "base", NULL)))
            sp->base = text(c, v, "base");
        if ((v = cr_yaml_get(node, "filter", NULL)))
            sp->filter = text(c, v, "filter");
        sp->min_entries = 1;
        if ((v = cr_yaml_get(node, "min_entries", NULL)) &&
            integer(c, v, "min_entries", 0, 1000000, NULL, &x) == 0)
            sp->min_entries = (unsigned int)x;
    }
    if ((allowed & PF_PASSENV) && (v = cr_yaml_get(node, "password_env", NULL)) &&
        (sp->password_env = text(c, v, "password_env"))) {
        const char *s = sp->password_env;
        int ok = *s && !isdigit((unsigned char)*s);
        for (; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '_')
                ok = 0;
        if (!ok)
            ERR(c, v,
                "password_env must name an environment variable (letters, digits, _), got '%s'",
                cr_yaml_show(sp->password_env));
    }
    if (allowed & PF_PG) {
        if ((v = cr_yaml_get(node, "conninfo", NULL)))
            sp->conninfo = text(c, v, "conninfo");
        if ((v = cr_yaml_get(node, "query", NULL)))
            sp->query = text(c, v, "query");
    }
    if ((allowed & PF_EXPECT) && (v = cr_yaml_get(node, "expect", NULL)))
        sp->expect = text(c, v, "expect");
    if (allowed & PF_DNS) {
        if ((v = cr_yaml_get(node, "record", NULL)) && (sp->record = text(c, v, "record")) &&
            (!*sp->record || strlen(sp->record) > 253 || strpbrk(sp->record, " \t/@")))
            ERR(c, v, "record must be a DNS name such as _ldap._tcp.dc._msdcs.example.org, got '%s'",
                cr_yaml_show(sp->record));
        int t;
        if ((v = cr_yaml_get(node, "type", NULL)) && (sp->rrtype = text(c, v, "type")) &&
            pr_dns_type_parse(&t, sp->rrtype) < 0)
            ERR(c, v, "type of a dns probe must be A, AAAA or SRV, got '%s'", cr_yaml_show(sp->rrtype));
        struct in_addr a;
        if (sp->host && inet_pton(AF_INET, sp->host, &a) != 1)
            ERR(c, cr_yaml_get(node, "host", NULL),
                "host of a dns probe must be the DNS server's IPv4 address, got '%s'",
                cr_yaml_show(sp->host));
    }
    if (allowed & PF_KRB) {
        if ((v = cr_yaml_get(node, "realm", NULL)) && (sp->realm = text(c, v, "realm")) &&
            (!*sp->realm || strpbrk(sp->realm, "@/ \t")))
            ERR(c, v, "realm must be a Kerberos realm such as EXAMPLE.ORG, got '%s'",
                cr_yaml_show(sp->realm));
        if ((v = cr_yaml_get(node, "principal", NULL)) && (sp->principal = text(c, v, "principal")) &&
            (!*sp->principal || strchr(sp->principal, '@')))
            ERR(c, v, "principal is given without its realm (that is `realm:`), got '%s'",
                cr_yaml_show(sp->principal));
    }
    if (allowed & PF_SMB) {
        if ((v = cr_yaml_get(node, "user", NULL)))
            sp->user = text(c, v, "user");
        if ((v = cr_yaml_get(node, "shares", NULL)))
            sp->shares = share_list(c, v);
    }
    if (allowed & PF_DICOM) {
        if ((v = cr_yaml_get(node, "calling_ae", NULL)) && (sp->calling_ae = text(c, v, "calling_ae")) &&
            !good_ae(sp->calling_ae))
            ERR(c, v, "calling_ae must be a DICOM AE title of 1 to 16 characters, got '%s'",
                cr_yaml_show(sp->calling_ae));
        if ((v = cr_yaml_get(node, "called_ae", NULL)) && (sp->called_ae = text(c, v, "called_ae")) &&
            !good_ae(sp->called_ae))
            ERR(c, v, "called_ae must be a DICOM AE title of 1 to 16 characters, got '%s'",
                cr_yaml_show(sp->called_ae));
    }
    if ((allowed & PF_HL7) && (v = cr_yaml_get(node, "message", NULL)) &&
        (sp->message = text(c, v, "message")) && strncmp(sp->message, "MSH", 3) != 0)
        ERR(c, v, "message must be an HL7 v2 message starting with an MSH segment");

    /* what each kind needs */
    switch (sp->kind) {
    case CR_PROBE_TCP:
        if (!cr_yaml_get(node, "port", NULL))
            ERR(c, node, "a tcp probe needs `port:`");
        break;
    case CR_PROBE_HTTP:
        if (!cr_yaml_get(node, "url", NULL))
            ERR(c, node, "an http probe needs `url:` (http://... or https://...)");
        else if (sp->url && !prefix_ci(sp->url, "http://") && !prefix_ci(sp->url, "https://"))
            ERR(c, cr_yaml_get(node, "url", NULL), "url of an http probe must start with http:// or "
                                           "https://, got '%s'", cr_yaml_show(sp->url));
        break;
    case CR_PROBE_LDAP:
        if (!cr_yaml_get(node, "url", NULL) && !cr_yaml_get(node, "host", NULL))
            ERR(c, node, "an ldap probe needs `url:` (ldap://... or ldaps://...) or `host:`");
        else if (sp->url && !prefix_ci(sp->url, "ldap://") && !prefix_ci(sp->url, "ldaps://") &&
                 !prefix_ci(sp->url, "ldapi://"))
            ERR(c, cr_yaml_get(node, "url", NULL),
                "url of an ldap probe must start with ldap://, ldaps:// or ldapi://, got '%s'",
                cr_yaml_show(sp->url));
        if (sp->bind_dn && !sp->password_env && cr_yaml_get(node, "bind_dn", NULL))
            WARN(c, cr_yaml_get(node, "bind_dn", NULL),
                 "bind_dn without password_env: the probe binds with an empty password");
        break;
    case CR_PROBE_POSTGRES:
        if (!cr_yaml_get(node, "conninfo", NULL))
            ERR(c, node,
                "a postgres probe needs `conninfo:` (e.g. \"host=10.0.0.7 dbname=dpi "
                "user=monitor\")");
        else if (sp->conninfo && strstr(sp->conninfo, "password="))
            ERR(c, cr_yaml_get(node, "conninfo", NULL),
                "conninfo holds a password: never write one in a plan; name an environment "
                "variable with `password_env` instead");
        break;
    case CR_PROBE_DICOM:
    case CR_PROBE_HL7:
    case CR_PROBE_SMB:
        if (!cr_yaml_get(node, "host", NULL))
            ERR(c, node, "a %s probe needs `host:`", kw);
        if (sp->kind == CR_PROBE_SMB && sp->user && !sp->password_env)
            ERR(c, cr_yaml_get(node, "user", NULL),
                "user without password_env: name the environment variable that holds the password");
        if (sp->kind == CR_PROBE_SMB && !sp->user && sp->password_env)
            ERR(c, cr_yaml_get(node, "password_env", NULL),
                "password_env without user: say whose password it is (DOMAIN\\user)");
        break;
    case CR_PROBE_DNS:
        if (!cr_yaml_get(node, "host", NULL))
            ERR(c, node, "a dns probe needs `host:` (the DNS server's IPv4 address)");
        if (!cr_yaml_get(node, "record", NULL))
            ERR(c, node, "a dns probe needs `record:` (the name to ask for, e.g. "
                         "_ldap._tcp.dc._msdcs.example.org)");
        break;
    case CR_PROBE_KERBEROS:
        if (!cr_yaml_get(node, "host", NULL))
            ERR(c, node, "a kerberos probe needs `host:` (the KDC, i.e. a domain controller)");
        if (!cr_yaml_get(node, "realm", NULL))
            ERR(c, node, "a kerberos probe needs `realm:` (e.g. EXAMPLE.ORG)");
        break;
    }
}

/* ============================================================ services */

static const char *const top_keys[] = {"version", "site",     "finess",  "lang",
                                        "vault",   "defaults", "services"};
static const char *const default_keys[] = {"restore_point", "probe_timeout", "probe_retries",
                                           "probe_interval", "max_age", "gate", "cutoff"};
static const char *const service_keys[] = {"name",   "tier",          "site",   "depends_on",
                                           "source", "restore_point", "target", "start",
                                           "probes", "rto",           "count",  "stop",
                                           "max_age", "steps",         "gate"};
static const char *const target_keys[] = {"folder", "image", "format", "disk", "vm", "hypervisor"};

/* `gate: {kev: refuse|warn}`: the known-exploited vulnerability gate (reconnect.h). */
static void read_gate(ctx *c, const pn *v, cr_plan_kev_gate *out)
{
    static const char *const gate_keys[] = {"kev"};
    const pn *k;
    if (v->type != PN_MAP) {
        ERR(c, v, "gate must be a mapping such as {kev: refuse}, got %s", cr_yaml_kind(v));
        return;
    }
    check_keys(c, v, gate_keys, 1, "in gate");
    if (!(k = cr_yaml_get(v, "kev", NULL)))
        return;
    if (k->type == PN_SCALAR && strcasecmp(k->s, "refuse") == 0)
        *out = CR_PLAN_KEV_REFUSE;
    else if (k->type == PN_SCALAR && strcasecmp(k->s, "warn") == 0)
        *out = CR_PLAN_KEV_WARN;
    else
        ERR(c, k,
            "gate kev must be refuse (a service with a known-exploited vulnerability used by "
            "ransomware is not started until acknowledged) or warn, got '%s'",
            k->type == PN_SCALAR ? cr_yaml_show(k->s) : cr_yaml_kind(k));
}

/* A cut-off time (`cutoff:`, `before:`): ns since the epoch, or 0 with an error. */
static int64_t read_cutoff(ctx *c, const pn *v, const char *what)
{
    int64_t ns = 0;
    if (v->type != PN_SCALAR || cr_time_parse(&ns, v->s) < 0 || ns <= 0) {
        ERR(c, v,
            "%s must be a time such as 2026-11-02T00:00:00Z (the incident's cut-off: restore "
            "points are chosen strictly before it), got '%s'",
            what, v->type == PN_SCALAR ? cr_yaml_show(v->s) : cr_yaml_kind(v));
        return 0;
    }
    cr_error_clear();
    return ns;
}

static void read_point(ctx *c, const pn *v, cr_plan_point *point, char **id, int allow_id)
{
    if (v->type != PN_SCALAR) {
        ERR(c, v, "restore_point must be clean, latest or a snapshot id, got %s", cr_yaml_kind(v));
        return;
    }
    if (strcasecmp(v->s, "clean") == 0) {
        *point = CR_PLAN_POINT_CLEAN;
    } else if (strcasecmp(v->s, "latest") == 0) {
        *point = CR_PLAN_POINT_LATEST;
    } else if (allow_id && v->slen >= 4 && v->slen <= CR_ID_HEX_LEN && cr_is_hex(v->s)) {
        *point = CR_PLAN_POINT_ID;
        if (!(*id = cr_strdup(v->s)))
            c->y.oom = 1;
        for (char *p = *id; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (!allow_id) {
        ERR(c, v, "the default restore_point must be clean or latest, got '%s'", cr_yaml_show(v->s));
    } else {
        static const char *const points[] = {"clean", "latest"};
        const char *near = cr_suggest(v->s, points, 2);
        ERR(c, v,
            "restore_point must be clean, latest or a snapshot id (4 to 64 hex digits, as shown "
            "by `cleanroom snapshots`), got '%s'%s%s%s",
            cr_yaml_show(v->s), near ? ": did you mean `" : "", near ? near : "", near ? "`?" : "");
    }
}

static int format_from_ext(const char *path, cr_image_format *out)
{
    static const struct {
        const char *ext;
        cr_image_format f;
    } exts[] = {{".qcow2", CR_IMAGE_QCOW2}, {".qcow", CR_IMAGE_QCOW2}, {".vmdk", CR_IMAGE_VMDK},
                {".vhdx", CR_IMAGE_VHDX},   {".vhd", CR_IMAGE_VHD},    {".img", CR_IMAGE_RAW},
                {".raw", CR_IMAGE_RAW}};
    size_t n = strlen(path);
    for (size_t i = 0; i < NKEYS(exts); i++) {
        size_t e = strlen(exts[i].ext);
        if (n > e && strcasecmp(path + n - e, exts[i].ext) == 0) {
            *out = exts[i].f;
            return 0;
        }
    }
    return -1;
}

static const char *format_word(cr_image_format f)
{
    for (size_t i = 0; i < NKEYS(image_formats); i++)
        if (image_formats[i].value == (int)f)
            return image_formats[i].name;
    return "?";
}

static void read_target(ctx *c, const pn *v, cr_plan_service *s)
{
    cr_plan_target *t = &s->target;
    pn *p = NULL, *fmt, *hyp;
    int nkinds = 0, x;

    t->line = v->line;
    t->col = v->col;
    if (v->type != PN_MAP) {
        ERR(c, v,
            "target of '%s' must be a mapping: {folder: /srv/restore/%s}, {image: FILE.qcow2} "
            "or {vm: DIR, hypervisor: kvm}",
            s->name ? s->name : "?", s->name ? s->name : "NAME");
        return;
    }
    check_keys(c, v, target_keys, NKEYS(target_keys), "in a target");
    const pn *which[3] = {cr_yaml_get(v, "folder", NULL), cr_yaml_get(v, "image", NULL), cr_yaml_get(v, "vm", NULL)};
    for (int i = 0; i < 3; i++)
        if (which[i]) {
            nkinds++;
            p = (pn *)which[i];
            t->kind = (cr_plan_target_kind)(i + 1);
        }
    if (nkinds != 1) {
        ERR(c, v,
            "target of '%s' needs exactly one of `folder:`, `image:` or `vm:`%s",
            s->name ? s->name : "?", nkinds ? " (it has several)" : "");
        t->kind = 0;
        return;
    }
    char *raw = text(c, p, "the target path");
    if (!raw)
        return;
    if (!(t->path = norm_path(c, raw)) && !c->y.oom)
        ERR(c, p, "the target path must be absolute (start with /), got '%s'", cr_yaml_show(raw));
    else if (t->path && strcmp(t->path, "/") == 0)
        ERR(c, p, "the target cannot be / (it would overwrite the whole system)");
    free(raw);

    fmt = cr_yaml_get(v, "format", NULL);
    hyp = cr_yaml_get(v, "hypervisor", NULL);
    if ((p = cr_yaml_get(v, "disk", NULL)) && t->kind == CR_PLAN_TARGET_IMAGE) {
        if ((t->disk = text(c, p, "disk")) &&
            (strncmp(t->disk, "disk", 4) != 0 || !t->disk[4] || !cr_is_hex(t->disk + 4)))
            ERR(c, p, "disk must name a disk of the snapshot: disk0, disk1..., got '%s'",
                cr_yaml_show(t->disk));
    } else if (p) {
        ERR(c, p, "`disk` is for image targets only");
    }
    if (t->kind == CR_PLAN_TARGET_IMAGE) {
        if (hyp)
            ERR(c, hyp,
                "`hypervisor` is for vm targets: write {vm: FOLDER, hypervisor: %s} to export "
                "the VM, or drop it to restore the disk image only",
                hyp->type == PN_SCALAR ? cr_yaml_show(hyp->s) : "kvm");
        cr_image_format ext = CR_IMAGE_AUTO;
        int has_ext = t->path && format_from_ext(t->path, &ext) == 0;
        if (fmt) {
            if (choose(c, fmt, "image format", image_formats, NKEYS(image_formats), &x) == 0) {
                t->format = (cr_image_format)x;
                if (has_ext && ext != t->format &&
                    !(ext == CR_IMAGE_VMDK && t->format == CR_IMAGE_VMDK_FLAT))
                    WARN(c, fmt, "format %s does not match the file name's extension (%s)",
                         format_word(t->format), format_word(ext));
                if (t->format == CR_IMAGE_VMDK_FLAT)
                    ERR(c, fmt,
                        "vmdk-flat writes two files (a descriptor and its -flat data file), "
                        "which a recovery cannot put in place as one: use vmdk "
                        "(streamOptimized), or a vm target with hypervisor: vmware");
            }
        } else if (has_ext) {
            t->format = ext;
        } else if (t->path) {
            ERR(c, v,
                "say which image format with `format:` (raw, qcow2, vmdk, vmdk-flat, vhdx, vhd): "
                "the file name has no known extension");
        }
    } else {
        if (fmt)
            ERR(c, fmt, "`format` is for image targets only");
        if (t->kind == CR_PLAN_TARGET_VM) {
            if (!hyp)
                ERR(c, v, "a vm target needs `hypervisor:` (kvm, proxmox, vmware or hyperv)");
            else if (choose(c, hyp, "hypervisor", hypervisors, NKEYS(hypervisors), &x) == 0)
                t->hypervisor = (cr_hypervisor)x;
        } else if (hyp) {
            ERR(c, hyp, "`hypervisor` is for vm targets: {vm: FOLDER, hypervisor: kvm}");
        }
    }
}

/* 1 if `cmd` names the folder or file `path` itself (not as the tail of a
 * longer path such as "$CLEANROOM_TARGET/srv/db"). */
static int names_path(const char *cmd, const char *path, size_t plen)
{
    if (plen < 2)
        return 0;
    for (const char *at = cmd; (at = strstr(at, path)); at++) {
        unsigned char before = at > cmd ? (unsigned char)at[-1] : ' ';
        unsigned char after = (unsigned char)at[plen];
        if (isalnum(before) || before == '_' || before == '}' || before == '.' || before == '/')
            continue;
        if (isalnum(after) || after == '_' || after == '-' || after == '.' || after >= 0x80)
            continue;
        return 1;
    }
    return 0;
}

/* A start or stop command that names the production target: a drill would
 * run it on production data, not on its copy. */
static void check_command(ctx *c, const pn *node, const char *key, const cr_plan_service *s)
{
    const char *cmd = strcmp(key, "start") == 0 ? s->start : s->stop;
    const char *path = s->target.path;
    if (!cmd || !path)
        return;
    const char *pct = strstr(path, "%n");
    char *head = cr_strndup(path, pct ? (size_t)(pct - path) : strlen(path));
    if (!head) {
        c->y.oom = 1;
        return;
    }
    size_t hl = strlen(head);
    while (hl > 1 && pct && head[hl - 1] == '/')
        head[--hl] = '\0';
    if (names_path(cmd, head, hl))
        WARN(c, cr_yaml_get(node, key, NULL),
             "the %s command of '%s' names its target %s: write \"$CLEANROOM_TARGET\" instead, "
             "so that a drill runs it on the restored copy (below its scratch folder), not on "
             "the production path",
             key, cr_yaml_show(s->name ? s->name : "?"), cr_yaml_show(head));
    free(head);
}

/*
 * `steps:` of a service: a list of {id, text, blocks}; text a string, or a
 * mapping {fr: ..., en: ...} (the operator's language is shown, the other
 * when it is missing).
 */
static const char *const step_keys[] = {"id", "text", "blocks"};

static void read_steps(ctx *c, const pn *v, cr_plan_service *s)
{
    if (v->type != PN_SEQ) {
        ERR(c, v, "steps must be a list, each item a manual step such as {id: seize-fsmo, text: "
                  "{fr: ..., en: ...}, blocks: true}; got %s", cr_yaml_kind(v));
        return;
    }
    if (v->n > CR_PLAN_MAX_STEPS) {
        ERR(c, v, "too many steps (%zu, at most %d)", v->n, CR_PLAN_MAX_STEPS);
        return;
    }
    if (!v->n)
        return;
    if (!(s->steps = calloc(v->n, sizeof(*s->steps)))) {
        c->y.oom = 1;
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const pn *it = v->kids[i], *f;
        cr_plan_step *st = &s->steps[s->nsteps++];
        st->line = it->line;
        st->col = it->col;
        st->blocks = 1;
        if (it->type != PN_MAP) {
            ERR(c, it, "a step is a mapping {id: ..., text: ..., blocks: true|false}, got %s",
                cr_yaml_kind(it));
            continue;
        }
        check_keys(c, it, step_keys, NKEYS(step_keys), "in a step");
        if (!(f = cr_yaml_get(it, "id", NULL))) {
            ERR(c, it, "a step needs `id:` (letters, digits, - and _), used to acknowledge it");
        } else if ((st->id = text(c, f, "a step's id"))) {
            size_t n = strlen(st->id);
            if (!n || n > 64 ||
                strspn(st->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != n)
                ERR(c, f, "a step's id is 1 to 64 letters, digits, - or _, got '%s'",
                    cr_yaml_show(st->id));
            for (size_t k = 0; k + 1 < s->nsteps; k++)
                if (s->steps[k].id && !strcmp(s->steps[k].id, st->id))
                    ERR(c, f, "step '%s' appears twice in service '%s'", st->id, s->name);
        }
        if (!(f = cr_yaml_get(it, "text", NULL))) {
            ERR(c, it, "a step needs `text:`: what the person must do (a text, or {fr: ..., "
                       "en: ...})");
        } else if (f->type == PN_MAP) {
            static const char *const langs[] = {"fr", "en"};
            const pn *t;
            check_keys(c, f, langs, 2, "in a step's text");
            if ((t = cr_yaml_get(f, "fr", NULL)))
                st->text_fr = text(c, t, "the French text of a step");
            if ((t = cr_yaml_get(f, "en", NULL)))
                st->text_en = text(c, t, "the English text of a step");
            if (!st->text_fr && !st->text_en)
                ERR(c, f, "a step's text needs fr: or en:");
        } else {
            st->text_en = text(c, f, "a step's text");
        }
        if ((f = cr_yaml_get(it, "blocks", NULL))) {
            if (f->type == PN_SCALAR && (!strcmp(f->s, "true") || !strcmp(f->s, "yes")))
                st->blocks = 1;
            else if (f->type == PN_SCALAR && (!strcmp(f->s, "false") || !strcmp(f->s, "no")))
                st->blocks = 0;
            else
                ERR(c, f, "blocks must be true or false, got '%s'", f->type == PN_SCALAR ? cr_yaml_show(f->s) : cr_yaml_kind(f));
        }
    }
}

const char *cr_plan_step_text(const cr_plan_step *st, const char *lang)
{
    int fr = lang && !strncmp(lang, "fr", 2);
    const char *a = fr ? st->text_fr : st->text_en, *b = fr ? st->text_en : st->text_fr;
    return a ? a : b ? b : "";
}

static void read_service(ctx *c, const pn *node, cr_plan_service *s, svc_extra *ex,
                         const cr_plan *plan, cr_plan_point defpoint)
{
    pn *v, *k;
    unsigned long x;

    s->tier = -1;
    s->count = 1;
    s->point = defpoint;
    s->line = node->line;
    s->col = node->col;
    if (node->type != PN_MAP) {
        ERR(c, node, "each service must be a mapping (name:, tier:, target:...), got %s",
            node->type == PN_SCALAR ? cr_yaml_show(node->s) : cr_yaml_kind(node));
        return;
    }
    check_keys(c, node, service_keys, NKEYS(service_keys), "in a service");
    if (!(v = cr_yaml_get(node, "name", &k))) {
        ERR(c, node, "a service needs `name:`");
    } else {
        s->line = v->line;
        s->col = v->col;
        if ((s->name = text(c, v, "name")) && !good_name(s->name))
            ERR(c, v,
                "service name '%s' may hold only letters (accented ones too), digits, '.', '_' "
                "and '-' (at most 128 bytes)",
                cr_yaml_show(s->name));
    }
    const char *nm = s->name ? s->name : "?";
    s->source_line = s->point_line = s->line;
    s->source_col = s->point_col = s->col;

    if (!(v = cr_yaml_get(node, "tier", NULL)))
        ERR(c, node, "service '%s' needs `tier:` (0 core infrastructure, 1 clinical and business, "
                     "2 other services, 3 workstations)", cr_yaml_show(nm));
    else if (integer(c, v, "tier", 0, 3,
                     " (0 core infrastructure, 1 clinical and business, 2 other services, "
                     "3 workstations)",
                     &x) == 0)
        s->tier = (int)x;

    if ((v = cr_yaml_get(node, "site", NULL)))
        s->site = text(c, v, "site");
    else if (plan->site && !(s->site = cr_strdup(plan->site)))
        c->y.oom = 1;

    if ((v = cr_yaml_get(node, "source", NULL))) {
        s->source_line = v->line;
        s->source_col = v->col;
        if ((s->source = text(c, v, "source")) && (!*s->source || strlen(s->source) > 255))
            ERR(c, v, "source must be a vault source name of 1 to 255 bytes");
    } else if (s->name && !(s->source = cr_strdup(s->name))) {
        c->y.oom = 1;
    }

    s->cutoff_ns = plan->cutoff_ns;
    if ((v = cr_yaml_get(node, "restore_point", NULL)) && v->type == PN_MAP) {
        /* {before: TIME}: the last clean restore point before this service's cut-off. */
        static const char *const point_keys[] = {"before"};
        const pn *b = cr_yaml_get(v, "before", NULL);
        s->point_line = v->line;
        s->point_col = v->col;
        check_keys(c, v, point_keys, 1, "in restore_point");
        s->point = CR_PLAN_POINT_CLEAN;
        if (!b)
            ERR(c, v, "restore_point as a mapping is {before: TIME}");
        else
            s->cutoff_ns = read_cutoff(c, b, "restore_point before");
    } else if (v) {
        s->point_line = v->line;
        s->point_col = v->col;
        read_point(c, v, &s->point, &s->point_id, 1);
        if (s->point == CR_PLAN_POINT_LATEST)
            WARN(c, v,
                 "restore_point latest restores the newest snapshot even if the hunt found it "
                 "compromised; prefer clean");
    }

    if ((v = cr_yaml_get(node, "depends_on", NULL))) {
        const pn *items[1];
        const pn *const *list;
        size_t n;
        if (v->type == PN_SCALAR) {
            items[0] = v;
            list = items;
            n = 1;
        } else if (v->type == PN_SEQ && v->n > CR_PLAN_MAX_DEPENDS) {
            ERR(c, v, "depends_on lists %zu services: at most %u", v->n, CR_PLAN_MAX_DEPENDS);
            n = 0;
            list = NULL;
        } else if (v->type == PN_SEQ) {
            list = (const pn *const *)v->kids;
            n = v->n;
        } else {
            ERR(c, v, "depends_on must be a list of service names, e.g. [ad, dns], got %s",
                cr_yaml_kind(v));
            n = 0;
            list = NULL;
        }
        if (n) {
            s->depends_on = calloc(n, sizeof(char *));
            ex->dep_line = calloc(n, sizeof(unsigned int));
            ex->dep_col = calloc(n, sizeof(unsigned int));
            if (!s->depends_on || !ex->dep_line || !ex->dep_col) {
                c->y.oom = 1;
                n = 0;
            }
        }
        for (size_t i = 0; i < n; i++) {
            const pn *d = list[i];
            if (d->type != PN_SCALAR || d->slen == 0) {
                ERR(c, d, "depends_on must list service names, got %s", cr_yaml_kind(d));
                continue;
            }
            int dup = 0;
            for (size_t j = 0; j < s->ndepends; j++)
                if (strcmp(s->depends_on[j], d->s) == 0)
                    dup = 1;
            if (dup) {
                WARN(c, d, "'%s' is listed twice in depends_on", cr_yaml_show(d->s));
                continue;
            }
            if (!(s->depends_on[s->ndepends] = cr_strdup(d->s))) {
                c->y.oom = 1;
                break;
            }
            ex->dep_line[s->ndepends] = d->line;
            ex->dep_col[s->ndepends] = d->col;
            s->ndepends++;
        }
    }

    if (!(v = cr_yaml_get(node, "target", NULL)))
        ERR(c, node, "service '%s' needs `target:` ({folder: DIR}, {image: FILE} or {vm: DIR, "
                     "hypervisor: kvm})", cr_yaml_show(nm));
    else
        read_target(c, v, s);

    if ((v = cr_yaml_get(node, "start", NULL)) && (s->start = text(c, v, "start")) &&
        strspn(s->start, " \t\r\n") == strlen(s->start))
        ERR(c, v, "start must be a shell command, got an empty text");
    if ((v = cr_yaml_get(node, "stop", NULL)) && (s->stop = text(c, v, "stop")) &&
        strspn(s->stop, " \t\r\n") == strlen(s->stop))
        ERR(c, v, "stop must be a shell command, got an empty text");

    check_command(c, node, "start", s);
    check_command(c, node, "stop", s);
    if (s->start && !s->stop)
        WARN(c, cr_yaml_get(node, "start", NULL),
             "'%s' has `start:` but no `stop:`: a drill leaves what it starts running (and "
             "the next drill may probe it instead of its copy); add a `stop:` command",
             cr_yaml_show(nm));

    if ((v = cr_yaml_get(node, "rto", NULL)))
        duration(c, v, "rto", 0, 0, 90 * 86400.0, &s->rto);

    s->gate_kev = plan->gate_kev;
    if ((v = cr_yaml_get(node, "gate", NULL)))
        read_gate(c, v, &s->gate_kev);

    s->max_age = plan->max_age;
    s->max_age_line = s->line;
    s->max_age_col = s->col;
    if ((v = cr_yaml_get(node, "max_age", NULL))) {
        s->max_age_line = v->line;
        s->max_age_col = v->col;
        duration(c, v, "max_age", 0, 0, 3650 * 86400.0, &s->max_age);
    }

    if ((v = cr_yaml_get(node, "count", NULL)) &&
        integer(c, v, "count", 1, CR_PLAN_MAX_COUNT, " (instances to restore)", &x) == 0) {
        s->count = (unsigned int)x;
        if (x > 1 && s->target.path && !strstr(s->target.path, "%n"))
            ERR(c, v,
                "count %lu needs `%%n` in the target path (e.g. /srv/ws-%%n.qcow2) so that the "
                "%lu copies do not overwrite each other",
                x, x);
    }
    if (s->count == 1 && s->target.path && strstr(s->target.path, "%n"))
        WARN(c, node, "the target of '%s' holds %%n but count is 1: it is restored once, with "
                      "%%n kept as is", cr_yaml_show(nm));

    if ((v = cr_yaml_get(node, "probes", NULL))) {
        if (v->type != PN_SEQ) {
            ERR(c, v, "probes must be a list, each item a probe such as {kind: tcp, host: "
                      "10.0.0.5, port: 53}; got %s", cr_yaml_kind(v));
        } else if (v->n) {
            if (!(s->probes = calloc(v->n, sizeof(*s->probes)))) {
                c->y.oom = 1;
                return;
            }
            for (size_t i = 0; i < v->n; i++)
                read_probe(c, v->kids[i], &s->probes[s->nprobes++], plan, nm);
        }
    }
    if (s->nprobes == 0)
        WARN(c, node,
             "service '%s' has no probes: the recovery cannot tell whether it is really back",
             cr_yaml_show(nm));
    if ((v = cr_yaml_get(node, "steps", NULL)))
        read_steps(c, v, s);
}

/* ============================================================ cross checks */

typedef struct byname {
    const char *name;
    size_t idx;
} byname;

static int cmp_byname(const void *pa, const void *pb)
{
    const byname *a = pa, *b = pb;
    int r = strcmp(a->name, b->name);
    if (r)
        return r;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static size_t find_service(const byname *sorted, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(sorted[mid].name, name);
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(sorted[lo].name, name) == 0 ? sorted[lo].idx : (size_t)-1;
}

/* Resolved dependency edges: deps[i] holds indexes (SIZE_MAX = unknown). */
typedef struct graph {
    size_t **deps;
} graph;

static void check_cycles(ctx *c, const cr_plan *plan, graph *g)
{
    size_t n = plan->nservices;
    unsigned char *color = calloc(n, 1);
    size_t *stack = calloc(n, sizeof(size_t)), *edge = calloc(n, sizeof(size_t));
    if (!color || !stack || !edge) {
        c->y.oom = 1;
        goto done;
    }
    for (size_t root = 0; root < n; root++) {
        if (color[root])
            continue;
        size_t sp = 0;
        stack[sp] = root;
        edge[sp] = 0;
        color[root] = 1;
        sp++;
        while (sp > 0) {
            size_t u = stack[sp - 1];
            const cr_plan_service *s = &plan->services[u];
            if (edge[sp - 1] >= s->ndepends) {
                color[u] = 2;
                sp--;
                continue;
            }
            size_t e = edge[sp - 1]++;
            size_t v = g->deps[u][e];
            if (v == (size_t)-1)
                continue;
            if (color[v] == 0) {
                color[v] = 1;
                stack[sp] = v;
                edge[sp] = 0;
                sp++;
            } else if (color[v] == 1) {
                /* the cycle is stack[at..sp-1] then back to v: name it from the service that
                 * comes first in the file, and report it at that service's dependency */
                size_t at = sp - 1;
                while (stack[at] != v)
                    at--;
                size_t len = sp - at, first = at;
                for (size_t i = at; i < sp; i++)
                    if (stack[i] < stack[first])
                        first = i;
                size_t cap = 0;
                for (size_t i = at; i < sp; i++)
                    cap += strlen(plan->services[stack[i]].name) + 4;
                cap += strlen(plan->services[stack[first]].name) + 1;
                char *msg = malloc(cap);
                if (!msg) {
                    c->y.oom = 1;
                    goto done;
                }
                size_t o = 0;
                for (size_t i = 0; i < len; i++) {
                    size_t w = stack[at + (first - at + i) % len];
                    o += (size_t)sprintf(msg + o, "%s -> ", plan->services[w].name);
                }
                sprintf(msg + o, "%s", plan->services[stack[first]].name);
                /* the edge from stack[first] to the next one on the cycle */
                size_t from = stack[first], to = stack[at + (first - at + 1) % len];
                unsigned int line = plan->services[from].line, col = plan->services[from].col;
                for (size_t j = 0; j < plan->services[from].ndepends; j++)
                    if (g->deps[from][j] == to) {
                        line = c->ext[from].dep_line[j];
                        col = c->ext[from].dep_col[j];
                        break;
                    }
                err_at(c, line, col, "dependency cycle: %s (no service of it could start first)",
                       msg);
                free(msg);
            }
        }
    }
done:
    free(color);
    free(stack);
    free(edge);
}

typedef struct tpath {
    const char *path;
    size_t idx;
} tpath;

/* Order paths so that every path inside a folder comes right after it:
 * compare with '/' lower than any other byte. */
static int cmp_tpath(const void *pa, const void *pb)
{
    const unsigned char *a = (const unsigned char *)((const tpath *)pa)->path;
    const unsigned char *b = (const unsigned char *)((const tpath *)pb)->path;
    for (;; a++, b++) {
        int x = *a == '/' ? 1 : *a ? *a + 1 : 0;
        int y = *b == '/' ? 1 : *b ? *b + 1 : 0;
        if (x != y)
            return x - y;
        if (!x)
            break;
    }
    size_t ia = ((const tpath *)pa)->idx, ib = ((const tpath *)pb)->idx;
    return ia < ib ? -1 : ia > ib;
}

static void check_targets(ctx *c, const cr_plan *plan)
{
    size_t n = 0;
    tpath *v = calloc(plan->nservices ? plan->nservices : 1, sizeof(*v));
    if (!v) {
        c->y.oom = 1;
        return;
    }
    for (size_t i = 0; i < plan->nservices; i++)
        if (plan->services[i].target.path && plan->services[i].name) {
            v[n].path = plan->services[i].target.path;
            v[n].idx = i;
            n++;
        }
    qsort(v, n, sizeof(*v), cmp_tpath);
    for (size_t i = 0; i < n; i++) {
        size_t la = strlen(v[i].path);
        for (size_t j = i + 1; j < n; j++) {
            const char *b = v[j].path;
            int same = strcmp(v[i].path, b) == 0;
            if (!same && !(strncmp(v[i].path, b, la) == 0 && b[la] == '/'))
                break;
            const cr_plan_service *sa = &plan->services[v[i].idx], *sb = &plan->services[v[j].idx];
            /* report at the one that comes later in the file */
            const cr_plan_service *first = sa, *second = sb;
            if (sb->target.line < sa->target.line ||
                (sb->target.line == sa->target.line && sb->target.col < sa->target.col)) {
                first = sb;
                second = sa;
            }
            if (same)
                err_at(c, second->target.line, second->target.col,
                       "the target %s of '%s' is the same as the target of '%s' (line %u): one "
                       "would overwrite the other; give each service its own",
                       cr_yaml_show(b), second->name, first->name, first->target.line);
            else if (second == sb)
                err_at(c, sb->target.line, sb->target.col,
                       "the target %s of '%s' is inside the target %s of '%s' (line %u): "
                       "restoring one would overwrite the other; give each service its own "
                       "folder",
                       cr_yaml_show(b), sb->name, cr_yaml_show(v[i].path), sa->name, sa->target.line);
            else
                err_at(c, sa->target.line, sa->target.col,
                       "the target %s of '%s' holds the target %s of '%s' (line %u): "
                       "restoring one would overwrite the other; give each service its own "
                       "folder",
                       cr_yaml_show(v[i].path), sa->name, cr_yaml_show(b), sb->name, sb->target.line);
        }
    }
    free(v);
}

static void check_graph(ctx *c, cr_plan *plan)
{
    size_t n = plan->nservices;
    byname *sorted = calloc(n ? n : 1, sizeof(*sorted));
    graph g = {calloc(n ? n : 1, sizeof(size_t *))};
    size_t nsorted = 0;
    const char **names = NULL;

    if (!sorted || !g.deps) {
        c->y.oom = 1;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (plan->services[i].name) {
            sorted[nsorted].name = plan->services[i].name;
            sorted[nsorted].idx = i;
            nsorted++;
        }
    qsort(sorted, nsorted, sizeof(*sorted), cmp_byname);
    /* sorted by name, then by index: each later one is reported against the first */
    for (size_t i = 1, run = 0; i < nsorted; i++) {
        if (strcmp(sorted[i].name, sorted[i - 1].name) != 0) {
            run = i;
            continue;
        }
        const cr_plan_service *a = &plan->services[sorted[run].idx];
        const cr_plan_service *b = &plan->services[sorted[i].idx];
        err_at(c, b->line, b->col, "duplicate service name '%s' (first at line %u)",
               cr_yaml_show(b->name), a->line);
    }
    if (!(names = calloc(nsorted ? nsorted : 1, sizeof(*names)))) {
        c->y.oom = 1;
        goto done;
    }
    for (size_t i = 0; i < nsorted; i++)
        names[i] = sorted[i].name;

    for (size_t i = 0; i < n; i++) {
        cr_plan_service *s = &plan->services[i];
        if (!s->ndepends)
            continue;
        if (!(g.deps[i] = calloc(s->ndepends, sizeof(size_t)))) {
            c->y.oom = 1;
            goto done;
        }
        for (size_t j = 0; j < s->ndepends; j++) {
            size_t d = find_service(sorted, nsorted, s->depends_on[j]);
            unsigned int line = c->ext[i].dep_line[j], col = c->ext[i].dep_col[j];
            g.deps[i][j] = d;
            if (d == (size_t)-1) {
                /* cr_suggest() over thousands of names is cheap enough: bounded distance */
                const char *near =
                    nsorted <= 2000 ? cr_suggest(s->depends_on[j], names, nsorted) : NULL;
                if (near)
                    err_at(c, line, col, "'%s' depends on '%s', which is not a service of this "
                                         "plan: did you mean `%s`?",
                           cr_yaml_show(s->name), cr_yaml_show(s->depends_on[j]), near);
                else
                    err_at(c, line, col,
                           "'%s' depends on '%s', which is not a service of this plan",
                           cr_yaml_show(s->name), cr_yaml_show(s->depends_on[j]));
                continue;
            }
            const cr_plan_service *ds = &plan->services[d];
            if (d == i) {
                err_at(c, line, col, "'%s' depends on itself", cr_yaml_show(s->name));
                g.deps[i][j] = (size_t)-1; /* reported; not a cycle again */
                continue;
            }
            if (s->tier >= 0 && ds->tier > s->tier)
                err_at(c, line, col,
                       "'%s' (tier %d) depends on '%s' of tier %d: a service can only depend on "
                       "services of its own tier or a lower one (lower tiers start first)",
                       cr_yaml_show(s->name), s->tier, cr_yaml_show(ds->name), ds->tier);
        }
    }
    check_cycles(c, plan, &g);
    check_targets(c, plan);
done:
    if (g.deps)
        for (size_t i = 0; i < n; i++)
            free(g.deps[i]);
    free(g.deps);
    free(sorted);
    free(names);
}

/* ============================================================ the plan */

static void service_clear(cr_plan_service *s)
{
    for (size_t i = 0; i < s->nsteps; i++) {
        free(s->steps[i].id);
        free(s->steps[i].text_fr);
        free(s->steps[i].text_en);
    }
    free(s->steps);
    free(s->name);
    free(s->site);
    for (size_t i = 0; i < s->ndepends; i++)
        free(s->depends_on[i]);
    free(s->depends_on);
    free(s->source);
    free(s->point_id);
    free(s->target.path);
    free(s->target.disk);
    free(s->start);
    free(s->stop);
    for (size_t i = 0; i < s->nprobes; i++)
        cr_probe_spec_clear(&s->probes[i]);
    free(s->probes);
}

void cr_plan_free(cr_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->nservices; i++)
        service_clear(&plan->services[i]);
    free(plan->services);
    free(plan->file);
    free(plan->site);
    free(plan->finess);
    free(plan->lang);
    free(plan->vault);
    free(plan);
}

static void read_plan(ctx *c, const pn *root, cr_plan *plan)
{
    pn *v, *svcs;
    unsigned long x;
    cr_plan_point defpoint = CR_PLAN_POINT_CLEAN;

    if (root->type != PN_MAP) {
        ERR(c, root, "a plan is a mapping with `site:` and `services:` (see docs/plan.md), got %s",
            cr_yaml_kind(root));
        return;
    }
    check_keys(c, root, top_keys, NKEYS(top_keys), "at the top of the plan");
    if ((v = cr_yaml_get(root, "version", NULL)) &&
        integer(c, v, "version", 1, 1, " (the plan format version)", &x) < 0)
        return; /* a future format: the rest would only mislead */
    if (!(v = cr_yaml_get(root, "site", NULL)))
        ERR(c, root, "the plan needs `site:` (the name of the hospital or site)");
    else if ((plan->site = text(c, v, "site")) && !good_name(plan->site))
        ERR(c, v,
            "site '%s' may hold only letters (accented ones too), digits, '.', '_' and '-' (at "
            "most 128 bytes)",
            cr_yaml_show(plan->site));
    if ((v = cr_yaml_get(root, "finess", NULL)) && (plan->finess = text(c, v, "finess"))) {
        /* FINESS: 9 characters, digits but for Corsica's 2A / 2B department. */
        size_t fl = strlen(plan->finess), ok = fl == 9;
        for (size_t i = 0; ok && i < fl; i++)
            ok = (plan->finess[i] >= '0' && plan->finess[i] <= '9') ||
                 (i == 1 && (plan->finess[i] == 'A' || plan->finess[i] == 'B'));
        if (!ok)
            ERR(c, v, "finess must be the 9-character FINESS number of the establishment (e.g. "
                      "750712184 or 2A0000013), got '%s'",
                cr_yaml_show(plan->finess));
    }
    if ((v = cr_yaml_get(root, "lang", NULL)) && (plan->lang = text(c, v, "lang")) &&
        strcmp(plan->lang, "fr") != 0 && strcmp(plan->lang, "en") != 0)
        ERR(c, v, "lang is the language of the report: fr or en, got '%s'", cr_yaml_show(plan->lang));
    if ((v = cr_yaml_get(root, "vault", NULL))) {
        plan->vault_line = v->line;
        plan->vault_col = v->col;
        if ((plan->vault = text(c, v, "vault")) && !*plan->vault)
            ERR(c, v, "vault must be the folder of the vault");
    }
    if ((v = cr_yaml_get(root, "defaults", NULL))) {
        if (v->type != PN_MAP) {
            ERR(c, v, "defaults must be a mapping (restore_point:, probe_timeout:...), got %s",
                cr_yaml_kind(v));
        } else {
            pn *d;
            check_keys(c, v, default_keys, NKEYS(default_keys), "in defaults");
            if ((d = cr_yaml_get(v, "restore_point", NULL)))
                read_point(c, d, &defpoint, NULL, 0);
            if ((d = cr_yaml_get(v, "probe_timeout", NULL)))
                duration(c, d, "probe_timeout", 1, 0, 3600, &plan->probe_timeout);
            if ((d = cr_yaml_get(v, "probe_interval", NULL)))
                duration(c, d, "probe_interval", 1, 1, 3600, &plan->probe_interval);
            if ((d = cr_yaml_get(v, "max_age", NULL)))
                duration(c, d, "max_age", 0, 0, 3650 * 86400.0, &plan->max_age);
            if ((d = cr_yaml_get(v, "gate", NULL)))
                read_gate(c, d, &plan->gate_kev);
            if ((d = cr_yaml_get(v, "cutoff", NULL)))
                plan->cutoff_ns = read_cutoff(c, d, "cutoff");
            if ((d = cr_yaml_get(v, "probe_retries", NULL)) &&
                integer(c, d, "probe_retries", 0, 100, NULL, &x) == 0)
                plan->probe_retries = (unsigned int)x;
        }
    }
    if (!(svcs = cr_yaml_get(root, "services", NULL))) {
        ERR(c, root, "the plan needs `services:`, a list of the services to restore");
        return;
    }
    if (svcs->type != PN_SEQ) {
        ERR(c, svcs, "services must be a list (each service starts with '- name: ...'), got %s",
            cr_yaml_kind(svcs));
        return;
    }
    if (svcs->n == 0) {
        ERR(c, svcs, "services is empty: the plan restores nothing");
        return;
    }
    if (svcs->n > CR_PLAN_MAX_SERVICES) {
        ERR(c, svcs, "more than %u services: split the plan", CR_PLAN_MAX_SERVICES);
        return;
    }
    plan->services = calloc(svcs->n, sizeof(*plan->services));
    c->ext = calloc(svcs->n, sizeof(*c->ext));
    if (!plan->services || !c->ext) {
        c->y.oom = 1;
        return;
    }
    for (size_t i = 0; i < svcs->n && !c->y.oom; i++) {
        plan->nservices++;
        read_service(c, svcs->kids[i], &plan->services[i], &c->ext[i], plan, defpoint);
    }
    if (!c->y.oom)
        check_graph(c, plan);
}

int cr_plan_parse_buffer(cr_plan **out, cr_plan_problem **problems, size_t *nproblems,
                         const char *file, const void *data, size_t len)
{
    ctx c;
    ctx_init(&c);
    cr_plan *plan = NULL;
    pn *root = NULL;
    int err = 0, empty;

    *out = NULL;
    if (problems)
        *problems = NULL;
    if (nproblems)
        *nproblems = 0;
    c.file = file;
    if (!data) /* libyaml asserts on a NULL input, even of length 0 */
        data = "", len = 0;
    if (!(plan = calloc(1, sizeof(*plan))) || !(plan->file = cr_strdup(file ? file : "-"))) {
        err = CR_ERROR;
        goto done;
    }
    plan->probe_timeout = 5;
    plan->probe_retries = 2;
    plan->probe_interval = 2;
    c.plan = plan;
    if (len > CR_PLAN_MAX_BYTES) {
        err_at(&c, 1, 1, "the plan is larger than %u bytes: a plan is never that large",
               CR_PLAN_MAX_BYTES);
    } else if ((root = cr_yaml_read(&c.y, data, len, &empty))) {
        read_plan(&c, root, plan);
    } else if (empty && !c.y.oom && !c.y.nerrors) {
        err_at(&c, 1, 1, "the plan is empty: it needs `site:` and `services:` (see docs/plan.md)");
    }
    if (c.y.oom) {
        cr_error_set("out of memory reading the plan %s", file ? file : "-");
        err = CR_ERROR;
        goto done;
    }
    cr_ydoc_finish(&c.y);
    if (c.y.nerrors) {
        cr_error_set("the plan %s has %d error(s)", file ? file : "-", c.y.nerrors);
        err = CR_EINPUT;
    }
done:
    if (c.ext && plan) {
        for (size_t i = 0; i < plan->nservices; i++) {
            free(c.ext[i].dep_line);
            free(c.ext[i].dep_col);
        }
    }
    free(c.ext);
    cr_ynode_free(root);
    if (err == 0) {
        *out = plan;
    } else {
        cr_plan_free(plan);
    }
    if (problems && err != CR_ERROR) {
        *problems = c.y.pr;
        if (nproblems)
            *nproblems = c.y.npr;
    } else {
        cr_plan_problems_free(c.y.pr, c.y.npr);
    }
    return err;
}

int cr_plan_load(cr_plan **out, cr_plan_problem **problems, size_t *nproblems, const char *path)
{
    cr_buf b = CR_BUF_INIT;
    int err;
    *out = NULL;
    if (problems)
        *problems = NULL;
    if (nproblems)
        *nproblems = 0;
    err = cr_fs_read_all(&b, AT_FDCWD, path, CR_PLAN_MAX_BYTES);
    if (err == CR_ECORRUPT) {
        cr_error_set("the plan %s is larger than %u bytes: a plan is never that large", path,
                     CR_PLAN_MAX_BYTES);
        err = CR_EINPUT;
        goto done;
    }
    if (err < 0) {
        if (err == CR_ENOTFOUND)
            cr_error_set("no plan file %s", path);
        else if (!*cr_error_last())
            cr_error_set("cannot read the plan %s", path);
        goto done;
    }
    err = cr_plan_parse_buffer(out, problems, nproblems, path, b.ptr ? (const void *)b.ptr : "",
                               b.len);
done:
    cr_buf_free(&b);
    return err;
}

/* ============================================================ order */

/* Min-heap of service indexes keyed by (tier, index). */
static int before(const cr_plan *p, size_t a, size_t b)
{
    if (p->services[a].tier != p->services[b].tier)
        return p->services[a].tier < p->services[b].tier;
    return a < b;
}

static void heap_push(size_t *h, size_t *n, size_t v, const cr_plan *p)
{
    size_t i = (*n)++;
    h[i] = v;
    while (i > 0 && before(p, h[i], h[(i - 1) / 2])) {
        size_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static size_t heap_pop(size_t *h, size_t *n, const cr_plan *p)
{
    size_t top = h[0], i = 0;
    h[0] = h[--(*n)];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && before(p, h[l], h[m]))
            m = l;
        if (r < *n && before(p, h[r], h[m]))
            m = r;
        if (m == i)
            break;
        size_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

int cr_plan_order(size_t **order, const cr_plan *plan)
{
    size_t n = plan->nservices, nout = 0, nheap = 0, nedges = 0;
    size_t *indeg = NULL, *heap = NULL, *out = NULL, *start = NULL, *users = NULL;
    byname *sorted = NULL;
    int err = 0;

    *order = NULL;
    indeg = calloc(n + 1, sizeof(size_t));
    heap = calloc(n + 1, sizeof(size_t));
    out = calloc(n + 1, sizeof(size_t));
    start = calloc(n + 2, sizeof(size_t));
    sorted = calloc(n + 1, sizeof(*sorted));
    if (!indeg || !heap || !out || !start || !sorted) {
        cr_error_set("out of memory ordering the plan");
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i].name = plan->services[i].name;
        sorted[i].idx = i;
        nedges += plan->services[i].ndepends;
    }
    qsort(sorted, n, sizeof(*sorted), cmp_byname);
    /* users[start[d]..start[d+1]) = the services that depend on d */
    if (!(users = calloc(nedges + 1, sizeof(size_t)))) {
        cr_error_set("out of memory ordering the plan");
        err = CR_ERROR;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < plan->services[i].ndepends; j++) {
            size_t d = find_service(sorted, n, plan->services[i].depends_on[j]);
            if (d == (size_t)-1) {
                cr_error_set("'%s' depends on '%s', which is not in the plan",
                             plan->services[i].name, plan->services[i].depends_on[j]);
                err = CR_EINPUT;
                goto done;
            }
            start[d + 1]++;
            indeg[i]++;
        }
    for (size_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    {
        size_t *fill = calloc(n + 1, sizeof(size_t));
        if (!fill) {
            cr_error_set("out of memory ordering the plan");
            err = CR_ERROR;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < plan->services[i].ndepends; j++) {
                size_t d = find_service(sorted, n, plan->services[i].depends_on[j]);
                users[start[d] + fill[d]++] = i;
            }
        free(fill);
    }
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            heap_push(heap, &nheap, i, plan);
    while (nheap > 0) {
        size_t u = heap_pop(heap, &nheap, plan);
        out[nout++] = u;
        for (size_t k = start[u]; k < start[u + 1]; k++)
            if (--indeg[users[k]] == 0)
                heap_push(heap, &nheap, users[k], plan);
    }
    if (nout != n) {
        cr_error_set("the plan's dependencies form a cycle: run `cleanroom plan check`");
        err = CR_EINPUT;
        goto done;
    }
    *order = out;
    out = NULL;
done:
    free(indeg);
    free(heap);
    free(out);
    free(start);
    free(users);
    free(sorted);
    return err;
}

/* ============================================================ the vault */

static char *short_hex(char out[9], const cr_id *id)
{
    char hex[CR_ID_HEX_LEN + 1];
    cr_id_to_hex(hex, id);
    memcpy(out, hex, 8);
    out[8] = '\0';
    return out;
}

/* Which target kinds a snapshot can be restored into; sets the message. */
static int check_kind(const cr_plan_service *svc, const cr_snapshot *snap)
{
    char sid[9];
    short_hex(sid, &snap->id);
    if (svc->target.kind == CR_PLAN_TARGET_FOLDER && snap->kind == CR_SNAPSHOT_IMAGE) {
        cr_error_set("the restore point %s of '%s' is a disk-image snapshot: restore it with "
                     "target {image: FILE} or {vm: DIR, hypervisor: kvm}, not a folder",
                     sid, svc->source);
        return CR_EINPUT;
    }
    if (svc->target.kind != CR_PLAN_TARGET_FOLDER && snap->kind != CR_SNAPSHOT_IMAGE) {
        cr_error_set("the restore point %s of '%s' holds files, not disk images: restore it "
                     "with target {folder: DIR}",
                     sid, svc->source);
        return CR_EINPUT;
    }
    if (svc->target.kind == CR_PLAN_TARGET_IMAGE && snap->ndisks > 0) {
        if (svc->target.disk) {
            for (size_t i = 0; i < snap->ndisks; i++)
                if (snap->disks[i].name && strcmp(snap->disks[i].name, svc->target.disk) == 0)
                    return 0;
            cr_error_set("the restore point %s of '%s' has no disk %s (it has %zu disk(s), "
                         "disk0 to disk%zu)",
                         sid, svc->source, svc->target.disk, snap->ndisks, snap->ndisks - 1);
            return CR_EINPUT;
        }
        if (snap->ndisks > 1) {
            cr_error_set("the restore point %s of '%s' has %zu disks: say which one with "
                         "`disk: disk0` in the target, or use a vm target",
                         sid, svc->source, snap->ndisks);
            return CR_EINPUT;
        }
    }
    return 0;
}

/* *at_target: set when the error is about the target (wrong kind of snapshot). */
static int resolve(cr_snapshot **out, char **why, cr_repo *repo, const cr_plan_service *svc,
                   int *unhunted, int *at_target)
{
    cr_clean_point *cp = NULL;
    cr_snapshot **list = NULL;
    size_t ncp = 0, nlist = 0;
    char sid[9], sid2[9], t1[48], t2[48], hex[CR_ID_HEX_LEN + 1];
    char *reason = NULL;
    int err = 0;

    *out = NULL;
    if (why)
        *why = NULL;
    if (unhunted)
        *unhunted = 0;
    if (at_target)
        *at_target = 0;
    switch (svc->point) {
    case CR_PLAN_POINT_CLEAN:
        err = cr_clean_points_before(&cp, &ncp, repo, svc->source, CR_SEV_HIGH,
                                     svc->cutoff_ns ? svc->cutoff_ns : INT64_MAX);
        if (err == 0 && ncp && cp[0].snapshots == 0 && cp[0].after_cutoff) {
            cr_time_format(t1, sizeof(t1), svc->cutoff_ns);
            cr_error_set("source '%s' has no restore point before the incident's cut-off %s: "
                         "its %zu snapshot(s) are all from after it",
                         svc->source, t1, cp[0].after_cutoff);
            err = CR_ENOTFOUND;
            goto done;
        }
        if (err == CR_ENOTFOUND || (err == 0 && ncp == 0)) {
            cr_error_set("source '%s' has no restore point in the vault", svc->source);
            err = CR_ENOTFOUND;
            goto done;
        }
        if (err < 0)
            goto done;
        if (cp[0].unhunted >= cp[0].snapshots) {
            cr_error_set("source '%s' was never hunted, so its clean restore point is not known: "
                         "run `cleanroom hunt` first",
                         svc->source);
            err = CR_ENOTFOUND;
            goto done;
        }
        if (unhunted)
            *unhunted = (int)cp[0].unhunted;
        if (!cp[0].has_clean) {
            cr_time_format(t1, sizeof(t1), cp[0].first_compromised_ns);
            if (cp[0].nreasons > 0)
                cr_error_set("source '%s' has no clean restore point: its first hunted snapshot "
                             "%s (%s) is already compromised (%s %s on %s); rebuild it, or "
                             "restore a chosen snapshot knowingly with restore_point: ID",
                             svc->source, short_hex(sid, &cp[0].first_compromised), t1,
                             cr_severity_name(cp[0].reasons[0].severity),
                             cp[0].reasons[0].indicator ? cp[0].reasons[0].indicator : "?",
                             cp[0].reasons[0].path ? cp[0].reasons[0].path : "?");
            else
                cr_error_set("source '%s' has no clean restore point: its first hunted snapshot "
                             "%s (%s) is already compromised",
                             svc->source, short_hex(sid, &cp[0].first_compromised), t1);
            err = CR_ENOTFOUND;
            goto done;
        }
        if ((err = cr_snapshot_find(out, repo, cr_id_to_hex(hex, &cp[0].clean_snapshot))) < 0)
            goto done;
        cr_time_format(t1, sizeof(t1), cp[0].clean_time_ns);
        if (cp[0].compromised && cp[0].nreasons > 0) {
            /* The finding named (rule, path, first seen), not counted. */
            const cr_finding *f = &cp[0].reasons[0];
            char t3[48], more[48] = "";
            cr_time_format(t2, sizeof(t2), cp[0].first_compromised_ns);
            cr_time_format(t3, sizeof(t3), f->first_seen_ns ? f->first_seen_ns : f->time_ns);
            if (cp[0].nreasons > 1)
                snprintf(more, sizeof(more), "; and %zu more", cp[0].nreasons - 1);
            reason = cr_sprintf("clean point %s (%s): the newest hunted snapshot before %s (%s), "
                                "the first one holding a finding at or above high (%s %s on %s, "
                                "first seen %s%s; rule set %.12s)",
                                short_hex(sid, &cp[0].clean_snapshot), t1,
                                short_hex(sid2, &cp[0].first_compromised), t2,
                                cr_severity_name(f->severity), f->indicator ? f->indicator : "?",
                                f->path ? f->path : "?", t3, more, cp[0].ruleset);
        } else if (cp[0].compromised) {
            cr_time_format(t2, sizeof(t2), cp[0].first_compromised_ns);
            reason = cr_sprintf("clean point %s (%s): the newest hunted snapshot before %s (%s), "
                                "the first one holding a finding at or above high",
                                short_hex(sid, &cp[0].clean_snapshot), t1,
                                short_hex(sid2, &cp[0].first_compromised), t2);
        } else {
            reason = cr_sprintf("clean point %s (%s): the newest hunted snapshot; no snapshot "
                                "holds a finding at or above high",
                                short_hex(sid, &cp[0].clean_snapshot), t1);
        }
        if (reason && svc->cutoff_ns && cp[0].after_cutoff) {
            /* Said in the reason, so that the journal and the report carry the cut-off. */
            char tc[48];
            cr_time_format(tc, sizeof(tc), svc->cutoff_ns);
            char *r2 = cr_sprintf("%s; before the incident's cut-off %s (%zu later snapshot(s) "
                                  "left out)",
                                  reason, tc, cp[0].after_cutoff);
            free(reason);
            reason = r2;
        }
        break;
    case CR_PLAN_POINT_LATEST:
        if ((err = cr_snapshot_list(&list, &nlist, repo, svc->source)) < 0)
            goto done;
        if (nlist == 0) {
            cr_error_set("source '%s' has no restore point in the vault", svc->source);
            err = CR_ENOTFOUND;
            goto done;
        }
        *out = list[nlist - 1];
        list[nlist - 1] = NULL;
        cr_time_format(t1, sizeof(t1), (*out)->time_ns);
        reason = cr_sprintf("latest: %s (%s), the newest snapshot of '%s', as the plan asks "
                            "(not judged by the hunt for this choice)",
                            short_hex(sid, &(*out)->id), t1, svc->source);
        break;
    case CR_PLAN_POINT_ID:
        if ((err = cr_snapshot_find(out, repo, svc->point_id)) < 0) {
            if (err == CR_ENOTFOUND)
                cr_error_set("no snapshot %s in the vault (restore_point of '%s')", svc->point_id,
                             svc->name);
            else if (err == CR_EAMBIGUOUS)
                cr_error_set("restore_point %s of '%s' matches several snapshots: give more hex "
                             "digits",
                             svc->point_id, svc->name);
            goto done;
        }
        if (strcmp((*out)->source, svc->source) != 0) {
            cr_error_set("restore_point %s of '%s' is a snapshot of source '%s', not of '%s'",
                         svc->point_id, svc->name, (*out)->source, svc->source);
            err = CR_EINPUT;
            goto done;
        }
        cr_time_format(t1, sizeof(t1), (*out)->time_ns);
        reason = cr_sprintf("snapshot %s (%s), named by the plan", short_hex(sid, &(*out)->id), t1);
        break;
    }
    if ((err = check_kind(svc, *out)) < 0) {
        if (at_target)
            *at_target = 1;
        goto done;
    }
    if (!reason) {
        cr_error_set("out of memory");
        err = CR_ERROR;
        goto done;
    }
    if (why) {
        *why = reason;
        reason = NULL;
    }
done:
    if (err < 0) {
        cr_snapshot_free(*out);
        *out = NULL;
    }
    free(reason);
    cr_clean_points_free(cp, ncp);
    cr_snapshot_list_free(list, nlist);
    return err;
}

int cr_plan_resolve(cr_snapshot **out, char **why, cr_repo *repo, const cr_plan_service *svc)
{
    return resolve(out, why, repo, svc, NULL, NULL);
}

/* "3 d 4 h", "5 h 20 min", "12 min": an age for a message. */
static void fmt_age(char *out, size_t len, double s)
{
    long long m = (long long)(s / 60);
    if (m >= 1440)
        snprintf(out, len, "%lld d %lld h", m / 1440, (m % 1440) / 60);
    else if (m >= 60)
        snprintf(out, len, "%lld h %lld min", m / 60, m % 60);
    else
        snprintf(out, len, "%lld min", m);
}

/* A restore point older than the service's max_age: backups may have stopped,
 * and everything written since would be lost. */
static void check_age(ctx *c, const cr_plan_service *s, const cr_snapshot *snap, int64_t now)
{
    double age = (double)(now - snap->time_ns) / 1e9;
    char t[48], a[48], m[48], sid[9];
    if (age <= s->max_age)
        return;
    cr_time_format(t, sizeof(t), snap->time_ns);
    fmt_age(a, sizeof(a), age);
    fmt_age(m, sizeof(m), s->max_age);
    warn_at(c, s->max_age_line, s->max_age_col,
            "the restore point of '%s' (snapshot %s, %s) is %s old, older than its max_age (%s): "
            "what was written since would be lost; check that the backups of source '%s' still "
            "run (`cleanroom snapshots --source %s`)",
            cr_yaml_show(s->name), short_hex(sid, &snap->id), t, a, m, cr_yaml_show(s->source), cr_yaml_show(s->source));
}

int cr_plan_check_vault(cr_plan_problem **problems, size_t *nproblems, const cr_plan *plan,
                        cr_repo *repo)
{
    ctx c;
    ctx_init(&c);
    int64_t now = cr_time_now_ns();
    cr_snapshot **all = NULL;
    size_t nall = 0, nsources = 0;
    const char **sources = NULL;
    int err;

    c.y.pr = *problems;
    c.y.npr = c.y.cappr = *nproblems;
    if ((err = cr_snapshot_list(&all, &nall, repo, NULL)) < 0 && err != CR_ENOTFOUND)
        goto done;
    err = 0;
    if (!(sources = calloc(nall + 1, sizeof(*sources)))) {
        c.y.oom = 1;
        goto done;
    }
    for (size_t i = 0; i < nall; i++) {
        int seen = 0;
        for (size_t j = 0; j < nsources && !seen; j++)
            seen = strcmp(sources[j], all[i]->source) == 0;
        if (!seen)
            sources[nsources++] = all[i]->source;
    }
    for (size_t i = 0; i < plan->nservices && !c.y.oom; i++) {
        const cr_plan_service *s = &plan->services[i];
        cr_snapshot *snap = NULL;
        int has = 0, unhunted = 0, at_target = 0;
        for (size_t j = 0; j < nsources && !has; j++)
            has = strcmp(sources[j], s->source) == 0;
        if (!has) {
            const char *near = cr_suggest(s->source, sources, nsources);
            if (near)
                err_at(&c, s->source_line, s->source_col,
                       "source '%s' has no restore point in the vault: did you mean `%s`?",
                       cr_yaml_show(s->source), near);
            else
                err_at(&c, s->source_line, s->source_col,
                       "source '%s' has no restore point in the vault (see `cleanroom "
                       "snapshots`)",
                       cr_yaml_show(s->source));
            continue;
        }
        cr_error_clear();
        err = resolve(&snap, NULL, repo, s, &unhunted, &at_target);
        if (err == CR_ENOTFOUND || err == CR_EAMBIGUOUS || err == CR_EINPUT) {
            if (at_target)
                err_at(&c, s->target.line, s->target.col, "%s", cr_error_last());
            else
                err_at(&c, s->point_line, s->point_col, "%s", cr_error_last());
            err = 0;
        } else if (err < 0) {
            goto done;
        } else if (unhunted > 0) {
            warn_at(&c, s->point_line, s->point_col,
                    "%d snapshot(s) of '%s' were never hunted: one of them could be compromised; "
                    "run `cleanroom hunt`",
                    unhunted, cr_yaml_show(s->source));
        }
        if (snap && s->max_age > 0)
            check_age(&c, s, snap, now);
        cr_snapshot_free(snap);
    }
done:
    if (c.y.oom) {
        cr_error_set("out of memory checking the plan against the vault");
        err = CR_ERROR;
    }
    cr_ydoc_finish(&c.y);
    *problems = c.y.pr;
    *nproblems = c.y.npr;
    cr_snapshot_list_free(all, nall);
    free(sources);
    if (err == 0 && c.y.nerrors) {
        cr_error_set("the plan %s has %d error(s) against the vault", plan->file, c.y.nerrors);
        err = CR_EINPUT;
    }
    return err;
}

/* ============================================================ this machine */

int cr_plan_check_host(cr_plan_problem **problems, size_t *nproblems, const cr_plan *plan)
{
    ctx c;
    ctx_init(&c);
    c.y.pr = *problems;
    c.y.npr = c.y.cappr = *nproblems;
    for (size_t i = 0; i < plan->nservices && !c.y.oom; i++) {
        const cr_plan_service *s = &plan->services[i];
        char *p = s->target.path ? cr_plan_instance_path(s, 1) : NULL;
        if (!p) {
            c.y.oom = s->target.path != NULL;
            continue;
        }
        /* every folder above the target, from the root down, while it exists */
        for (char *sl = strchr(p + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
            struct stat st;
            *sl = '\0';
            int there = stat(p, &st) == 0;
            if (there && S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) {
                warn_at(&c, s->target.line, s->target.col,
                        "the folder %s above the target of '%s' cannot be traversed by other "
                        "users (mode %04o): if its service runs under its own account "
                        "(postgres, openldap...), it will not reach its restored data; "
                        "chmod o+x %s, or choose a target elsewhere",
                        cr_yaml_show(p), cr_yaml_show(s->name), (unsigned int)(st.st_mode & 07777), cr_yaml_show(p));
                break;
            }
            *sl = '/';
            if (!there)
                break;
        }
        free(p);
    }
    cr_ydoc_finish(&c.y);
    *problems = c.y.pr;
    *nproblems = c.y.npr;
    if (c.y.oom) {
        cr_error_set("out of memory checking the plan's targets");
        return CR_ERROR;
    }
    return 0;
}
