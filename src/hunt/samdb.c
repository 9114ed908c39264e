/*
 * The directory database of a Samba AD domain controller: who holds the
 * domain. Crews add themselves to Domain Admins, leave accounts behind, give
 * a user account a service principal name to crack its password offline
 * (kerberoasting), turn off Kerberos pre-authentication (AS-REP roasting),
 * set delegation to impersonate anyone, plant a privileged SID in sIDHistory,
 * rewrite the AdminSDHolder object whose permissions are copied onto every
 * privileged account, or link their GPO to the domain. windows.c judges what
 * this file reads.
 *
 * The file: one partition of sam.ldb (private/sam.ldb.d/DC=<domain>.ldb), a
 * TDB database (libtdb) whose records are ldb messages in ldb's packed format
 * (ldb_unpack_data of libldb): keys "DN=<dn>" or "GUID=<16 bytes>", records
 * whose DN starts with "@" are ldb's own (indexes, attributes) and skipped, as
 * are deleted objects (isDeleted TRUE). Both formats are read with their own
 * libraries, never by hand: tdb_check first (every offset, every chain, no
 * loop), then one read-only traversal without locks. The LMDB backend
 * (--backend-store=mdb) is not read: such a file is CR_ECORRUPT "not a TDB
 * database", which docs/hunt.md says.
 *
 * What it gives (hn_autorun entries; data is always "<value> @ <when>", and two
 * entries are the same item when kind, key and name match; their values are
 * compared up to the last " @ ": the time is shown, never compared):
 *
 *   HN_AUTORUN_AD_MEMBER       key the privileged group (Domain Admins,
 *                              Enterprise Admins, Schema Admins, Administrators,
 *                              Account/Server/Print/Backup Operators, Group
 *                              Policy Creator Owners, by SID; DnsAdmins by name),
 *                              name the member's account name (or its DN's
 *                              first value), value its SID, when the link was
 *                              last made (RMD_CHANGETIME). Links removed
 *                              (RMD_FLAGS bit 1) are not members.
 *   HN_AUTORUN_AD_ACCOUNT      key "account" or "computer", name sAMAccountName,
 *                              value "enabled" or "disabled", when whenCreated
 *   HN_AUTORUN_AD_ADMINCOUNT   adminCount non-zero: value it, when whenChanged
 *   HN_AUTORUN_AD_SPN          servicePrincipalName of a user account (not a
 *                              computer): the names sorted, joined by ", "
 *   HN_AUTORUN_AD_DELEGATION   "unconstrained" (TRUSTED_FOR_DELEGATION on an
 *                              account that is not a domain controller),
 *                              "constrained to X, Y" (msDS-AllowedToDelegateTo,
 *                              "with protocol transition" when
 *                              TRUSTED_TO_AUTH_FOR_DELEGATION), "resource-based
 *                              <hash>" (msDS-AllowedToActOnBehalfOfOtherIdentity)
 *   HN_AUTORUN_AD_NOPREAUTH    DONT_REQ_PREAUTH set: value "set"
 *   HN_AUTORUN_AD_SIDHISTORY   sIDHistory: the SIDs joined by ", "
 *   HN_AUTORUN_AD_ADMINSDHOLDER  CN=AdminSDHolder,CN=System,...: the first 16
 *                              hex digits of the SHA-256 of its nTSecurityDescriptor
 *   HN_AUTORUN_AD_GPLINK       gPLink of the domain, an OU or a site: name the
 *                              object's DN, value the links
 *   HN_AUTORUN_AD_KRBTGT       krbtgt: value the time its password was last set
 *
 * Who made a change is not in the directory (only which domain controller:
 * an invocation id), so findings name what and when, not who.
 *
 * Hostile input: at most SD_MAX_SIZE bytes, SD_MAX_RECORDS records visited,
 * SD_MAX_ENTRIES entries, SD_MAX_VALUES values of one attribute, texts cut at
 * SD_MAX_TEXT bytes and made valid UTF-8 without controls (hn_utf8_clean). A
 * database libtdb or libldb refuses is CR_ECORRUPT. Pure function of the bytes:
 * it runs in the parser sandbox's "files" child (hive.c), where libtdb opens
 * the child's scratch file (memfile.c). libldb's context is made before the
 * child is confined (hn_samdb_prepare): making it starts a tevent loop.
 */
#include "hunt/hunt.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <talloc.h>
#include <tdb.h>
#include <ldb.h>
#include <ldb_module.h>

#define SD_MAX_SIZE (1024u << 20)
#define SD_MAX_RECORDS 2000000u
#define SD_MAX_ENTRIES 100000u
#define SD_MAX_VALUES 4096u
#define SD_MAX_TEXT 4096u
#define SD_MAX_SIDS 2000000u

/* userAccountControl bits ([MS-ADTS] 2.2.16) */
#define UF_ACCOUNTDISABLE 0x2u
#define UF_WORKSTATION_TRUST_ACCOUNT 0x1000u
#define UF_SERVER_TRUST_ACCOUNT 0x2000u
#define UF_TRUSTED_FOR_DELEGATION 0x80000u
#define UF_DONT_REQUIRE_PREAUTH 0x400000u
#define UF_TRUSTED_TO_AUTH_FOR_DELEGATION 0x1000000u

/* A member link waiting for the accounts' names (known once every record is read). */
typedef struct sd_link {
    char *group, *sid, *dn_name, *when;
} sd_link;

typedef struct sd_name {
    char *sid, *sam;
} sd_name;

typedef struct sd {
    hn_autorun *a;
    size_t n, cap;
    sd_link *l;
    size_t nl, capl;
    sd_name *names;
    size_t nn, capn;
    size_t records;
    TALLOC_CTX *tmp;
    int err;
} sd;

/* ------------------------------------------------------------ libldb context */

static struct ldb_context *sd_ldb;
static pthread_once_t sd_once = PTHREAD_ONCE_INIT;

static void sd_ldb_init(void)
{
    sd_ldb = ldb_init(NULL, NULL);
}

int hn_samdb_prepare(void)
{
    pthread_once(&sd_once, sd_ldb_init);
    if (!sd_ldb) {
        cr_error_set("cannot prepare the reader of directory databases (libldb)");
        return CR_ERROR;
    }
    return 0;
}

/* ------------------------------------------------------------ helpers */

static char *sd_text(const void *p, size_t len)
{
    return hn_utf8_clean(p, len > SD_MAX_TEXT ? SD_MAX_TEXT : len);
}

static int sd_add(sd *s, int kind, const char *key, const char *name, const char *value,
                  const char *when)
{
    if (s->err)
        return s->err;
    if (s->n >= SD_MAX_ENTRIES) {
        cr_error_set("the directory database holds more than %u noteworthy items", SD_MAX_ENTRIES);
        return s->err = CR_ECORRUPT;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        hn_autorun *na = cr_realloc(s->a, nc * sizeof(*na));
        if (!na)
            return s->err = CR_ERROR;
        s->a = na;
        s->cap = nc;
    }
    hn_autorun *e = &s->a[s->n];
    char *d = cr_sprintf("%s @ %s", value, when && *when ? when : "unknown time");
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->key = sd_text(key, strlen(key));
    e->name = sd_text(name, strlen(name));
    e->data = d ? sd_text(d, strlen(d)) : NULL;
    free(d);
    s->n++;
    if (!e->key || !e->name || !e->data)
        return s->err = CR_ERROR;
    return 0;
}

/* The first value of an attribute as clean text, or NULL (absent; *oom on failure). */
static char *sd_first(const struct ldb_message *msg, const char *attr, int *oom)
{
    const struct ldb_message_element *el = ldb_msg_find_element(msg, attr);
    if (!el || el->num_values == 0)
        return NULL;
    char *t = sd_text(el->values[0].data, el->values[0].length);
    if (!t)
        *oom = 1;
    return t;
}

/* An unsigned number of an attribute (decimal, maybe written negative as a signed 32-bit). */
static int sd_number(const struct ldb_message *msg, const char *attr, uint64_t *out)
{
    const struct ldb_message_element *el = ldb_msg_find_element(msg, attr);
    char buf[32];
    if (!el || el->num_values == 0 || el->values[0].length == 0 ||
        el->values[0].length >= sizeof(buf))
        return 0;
    memcpy(buf, el->values[0].data, el->values[0].length);
    buf[el->values[0].length] = '\0';
    char *end;
    if (buf[0] == '-') {
        long long v = strtoll(buf, &end, 10);
        if (*end)
            return 0;
        *out = (uint64_t)(uint32_t)(int32_t)v;
        return 1;
    }
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end)
        return 0;
    *out = v;
    return 1;
}

/* A binary SID ([MS-DTYP] 2.4.2.2) as "S-1-5-21-...", into out; 0 when malformed. */
static int sd_sid(char *out, size_t cap, const uint8_t *p, size_t len)
{
    if (len < 8 || p[0] != 1 || p[1] > 15 || len != 8 + 4u * p[1])
        return 0;
    uint64_t auth = 0;
    for (int i = 2; i < 8; i++)
        auth = auth << 8 | p[i];
    size_t o = (size_t)snprintf(out, cap, "S-1-%llu", (unsigned long long)auth);
    for (int i = 0; i < p[1] && o < cap; i++) {
        const uint8_t *q = p + 8 + 4 * i;
        uint32_t v = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                     (uint32_t)q[3] << 24;
        o += (size_t)snprintf(out + o, cap - o, "-%u", v);
    }
    return o < cap;
}

/* "20261207223440.0Z" (generalized time) as "2026-12-07 22:34:40 UTC"; "" when not one. */
static void sd_gentime(char *out, size_t cap, const char *t)
{
    out[0] = '\0';
    if (!t || strlen(t) < 14)
        return;
    for (int i = 0; i < 14; i++)
        if (t[i] < '0' || t[i] > '9')
            return;
    snprintf(out, cap, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s UTC", t, t + 4, t + 6, t + 8, t + 10,
             t + 12);
}

/* An NTTIME (100 ns since 1601) as "2026-12-07 22:34:40 UTC"; "" when 0 or absurd. */
static void sd_nttime(char *out, size_t cap, uint64_t nt)
{
    struct tm tm;
    out[0] = '\0';
    if (nt < 116444736000000000ull || nt > 4000000000000000000ull)
        return;
    time_t t = (time_t)(nt / 10000000ull - 11644473600ull);
    if (!gmtime_r(&t, &tm))
        return;
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Is it one of the values of objectClass? */
static int sd_class(const struct ldb_message *msg, const char *cls)
{
    const struct ldb_message_element *el = ldb_msg_find_element(msg, "objectClass");
    for (unsigned i = 0; el && i < el->num_values && i < SD_MAX_VALUES; i++)
        if (el->values[i].length == strlen(cls) &&
            !strncasecmp((const char *)el->values[i].data, cls, el->values[i].length))
            return 1;
    return 0;
}

/* Every value of a text attribute, sorted, joined by ", " (NULL when absent; *oom). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sd_joined(const struct ldb_message *msg, const char *attr, int sids, int *oom)
{
    const struct ldb_message_element *el = ldb_msg_find_element(msg, attr);
    char **v = NULL, *out = NULL;
    size_t n = 0, total = 1;
    if (!el || el->num_values == 0)
        return NULL;
    size_t nv = el->num_values < SD_MAX_VALUES ? el->num_values : SD_MAX_VALUES;
    if (!(v = cr_calloc(nv, sizeof(*v))))
        goto fail;
    for (size_t i = 0; i < nv; i++) {
        char sid[200];
        if (sids) {
            if (!sd_sid(sid, sizeof(sid), el->values[i].data, el->values[i].length))
                snprintf(sid, sizeof(sid), "(malformed SID)");
            v[n] = cr_strdup(sid);
        } else {
            v[n] = sd_text(el->values[i].data, el->values[i].length);
        }
        if (!v[n])
            goto fail;
        total += strlen(v[n++]) + 2;
    }
    qsort(v, n, sizeof(*v), cmp_str);
    if (!(out = cr_malloc(total)))
        goto fail;
    out[0] = '\0';
    for (size_t i = 0, o = 0; i < n; i++)
        o += (size_t)snprintf(out + o, total - o, "%s%s", i ? ", " : "", v[i]);
    goto done;
fail:
    *oom = 1;
done:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return out;
}

/* The privileged group a SID names, or NULL. */
static const char *sd_privileged(const char *sid)
{
    static const struct {
        const char *suffix;
        int builtin;
        const char *name;
    } g[] = {{"-512", 0, "Domain Admins"},
             {"-518", 0, "Schema Admins"},
             {"-519", 0, "Enterprise Admins"},
             {"-520", 0, "Group Policy Creator Owners"},
             {"-544", 1, "Administrators"},
             {"-548", 1, "Account Operators"},
             {"-549", 1, "Server Operators"},
             {"-550", 1, "Print Operators"},
             {"-551", 1, "Backup Operators"}};
    size_t n = strlen(sid);
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        size_t k = strlen(g[i].suffix);
        if (n <= k || strcmp(sid + n - k, g[i].suffix))
            continue;
        if (g[i].builtin ? n == 12 && !strncmp(sid, "S-1-5-32", 8)
                         : !strncmp(sid, "S-1-5-21-", 9))
            return g[i].name;
    }
    return NULL;
}

/* ------------------------------------------------------------ member links */

/*
 * A stored link: "<GUID=...>;<RMD_ADDTIME=n>;<RMD_CHANGETIME=n>;<RMD_FLAGS=n>;...;
 * <SID=S-1-...>;CN=name,OU=...". libldb parses extended components only with the
 * handlers Samba registers, so the components are split here: "<NAME=VALUE>;" each,
 * then the DN. Only what is needed is kept.
 */
static int sd_link_add(sd *s, const char *group, const uint8_t *v, size_t len)
{
    char sid[200] = "", when[64] = "";
    uint64_t flags = 0, changed = 0;
    size_t i = 0;
    while (i < len && v[i] == '<') {
        size_t e = i + 1;
        while (e < len && v[e] != '>')
            e++;
        if (e >= len)
            return 0; /* not a link Samba writes: ignored */
        const char *c = (const char *)v + i + 1;
        size_t cl = e - i - 1;
        char val[200];
        const char *eq = memchr(c, '=', cl);
        if (eq) {
            size_t nl = (size_t)(eq - c), vl = cl - nl - 1;
            if (vl >= sizeof(val))
                vl = sizeof(val) - 1;
            memcpy(val, eq + 1, vl);
            val[vl] = '\0';
            if (nl == 3 && !strncasecmp(c, "SID", 3))
                snprintf(sid, sizeof(sid), "%s", val);
            else if (nl == 9 && !strncasecmp(c, "RMD_FLAGS", 9))
                flags = strtoull(val, NULL, 10);
            else if (nl == 14 && !strncasecmp(c, "RMD_CHANGETIME", 14))
                changed = strtoull(val, NULL, 10);
        }
        i = e + 1;
        if (i < len && v[i] == ';')
            i++;
    }
    if (flags & 1)
        return 0; /* a removed link, kept for replication */
    /* The DN's first value: "CN=name,..." -> "name" (escaped commas are rare: cut there). */
    const uint8_t *dn = v + i;
    size_t dl = len - i, a = 0, b;
    while (a < dl && dn[a] != '=' && dn[a] != ',')
        a++;
    a = a < dl && dn[a] == '=' ? a + 1 : 0;
    for (b = a; b < dl && dn[b] != ',' && !(dn[b] == '\\' && b + 1 < dl && dn[b + 1] == ','); b++)
        ;
    sd_nttime(when, sizeof(when), changed);
    if (s->nl == s->capl) {
        size_t nc = s->capl ? s->capl * 2 : 32;
        sd_link *nl = cr_realloc(s->l, nc * sizeof(*nl));
        if (!nl)
            return s->err = CR_ERROR;
        s->l = nl;
        s->capl = nc;
    }
    sd_link *l = &s->l[s->nl++];
    l->group = cr_strdup(group);
    l->sid = cr_strdup(sid);
    l->dn_name = sd_text(dn + a, b - a);
    l->when = cr_strdup(when);
    if (!l->group || !l->sid || !l->dn_name || !l->when)
        return s->err = CR_ERROR;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const sd_name *)a)->sid, ((const sd_name *)b)->sid);
}

/* ------------------------------------------------------------ one object */

static int sd_object(sd *s, const struct ldb_message *msg)
{
    const char *dn = ldb_dn_get_linearized(msg->dn);
    char *sam = NULL, *v = NULL, *created = NULL, *changed = NULL;
    char sid[200] = "", wcreated[64], wchanged[64];
    int oom = 0;
    uint64_t uac = 0, n;

    if (!dn || dn[0] == '@')
        return 0;
    const struct ldb_message_element *del = ldb_msg_find_element(msg, "isDeleted");
    if (del && del->num_values && del->values[0].length == 4 &&
        !strncasecmp((const char *)del->values[0].data, "TRUE", 4))
        return 0;
    sam = sd_first(msg, "sAMAccountName", &oom);
    created = sd_first(msg, "whenCreated", &oom);
    changed = sd_first(msg, "whenChanged", &oom);
    sd_gentime(wcreated, sizeof(wcreated), created);
    sd_gentime(wchanged, sizeof(wchanged), changed);
    const struct ldb_message_element *se = ldb_msg_find_element(msg, "objectSid");
    if (se && se->num_values)
        sd_sid(sid, sizeof(sid), se->values[0].data, se->values[0].length);
    if (oom)
        goto oom;

    /* Names of SIDs, for the members of privileged groups. */
    if (sid[0] && sam && s->nn < SD_MAX_SIDS) {
        if (s->nn == s->capn) {
            size_t nc = s->capn ? s->capn * 2 : 256;
            sd_name *nn = cr_realloc(s->names, nc * sizeof(*nn));
            if (!nn)
                goto oom;
            s->names = nn;
            s->capn = nc;
        }
        s->names[s->nn].sid = cr_strdup(sid);
        s->names[s->nn].sam = cr_strdup(sam);
        s->nn++;
        if (!s->names[s->nn - 1].sid || !s->names[s->nn - 1].sam)
            goto oom;
    }

    /* Members of a privileged group. */
    const char *group = sid[0] ? sd_privileged(sid) : NULL;
    if (!group && sam && !strcasecmp(sam, "DnsAdmins") && sd_class(msg, "group"))
        group = "DnsAdmins";
    if (group) {
        const struct ldb_message_element *m = ldb_msg_find_element(msg, "member");
        for (unsigned i = 0; m && i < m->num_values && i < SD_MAX_VALUES * 16; i++)
            if (sd_link_add(s, group, m->values[i].data, m->values[i].length) < 0)
                goto done;
    }

    /* Accounts. */
    if (sam && sd_class(msg, "user")) {
        int computer = sd_class(msg, "computer");
        sd_number(msg, "userAccountControl", &uac);
        if (sd_add(s, HN_AUTORUN_AD_ACCOUNT, computer ? "computer" : "account", sam,
                   uac & UF_ACCOUNTDISABLE ? "disabled" : "enabled", wcreated) < 0)
            goto done;
        if (sd_number(msg, "adminCount", &n) && n) {
            char num[32];
            snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
            if (sd_add(s, HN_AUTORUN_AD_ADMINCOUNT, "adminCount", sam, num, wchanged) < 0)
                goto done;
        }
        if (!computer && !(uac & (UF_WORKSTATION_TRUST_ACCOUNT | UF_SERVER_TRUST_ACCOUNT)) &&
            (v = sd_joined(msg, "servicePrincipalName", 0, &oom))) {
            if (sd_add(s, HN_AUTORUN_AD_SPN, "servicePrincipalName", sam, v, wchanged) < 0)
                goto done;
            free(v);
            v = NULL;
        }
        if (oom)
            goto oom;
        /* Delegation: a domain controller delegates by design. */
        char *to = sd_joined(msg, "msDS-AllowedToDelegateTo", 0, &oom);
        const struct ldb_message_element *rb =
            ldb_msg_find_element(msg, "msDS-AllowedToActOnBehalfOfOtherIdentity");
        char rbcd[96] = "";
        if (rb && rb->num_values) {
            unsigned char h[crypto_hash_sha256_BYTES];
            char hex[2 * crypto_hash_sha256_BYTES + 1];
            crypto_hash_sha256(h, rb->values[0].data, rb->values[0].length);
            cr_hex_encode(hex, h, 8);
            snprintf(rbcd, sizeof(rbcd), "resource-based %s", hex);
        }
        int unconstrained = (uac & UF_TRUSTED_FOR_DELEGATION) && !(uac & UF_SERVER_TRUST_ACCOUNT);
        if (unconstrained || to || rbcd[0]) {
            char *d = cr_sprintf("%s%s%s%s%s%s%s", unconstrained ? "unconstrained" : "",
                                 unconstrained && (to || rbcd[0]) ? "; " : "",
                                 to ? "constrained to " : "", to ? to : "",
                                 to && (uac & UF_TRUSTED_TO_AUTH_FOR_DELEGATION)
                                     ? " with protocol transition"
                                     : "",
                                 to && rbcd[0] ? "; " : "", rbcd);
            free(to);
            if (!d || sd_add(s, HN_AUTORUN_AD_DELEGATION, "delegation", sam, d, wchanged) < 0) {
                free(d);
                if (!s->err)
                    s->err = CR_ERROR;
                goto done;
            }
            free(d);
        } else {
            free(to);
        }
        if (oom)
            goto oom;
        if ((uac & UF_DONT_REQUIRE_PREAUTH) &&
            sd_add(s, HN_AUTORUN_AD_NOPREAUTH, "DONT_REQ_PREAUTH", sam, "set", wchanged) < 0)
            goto done;
        if ((v = sd_joined(msg, "sIDHistory", 1, &oom))) {
            if (sd_add(s, HN_AUTORUN_AD_SIDHISTORY, "sIDHistory", sam, v, wchanged) < 0)
                goto done;
            free(v);
            v = NULL;
        }
        if (oom)
            goto oom;
        if (!strcasecmp(sam, "krbtgt") && sd_number(msg, "pwdLastSet", &n)) {
            char when[64];
            sd_nttime(when, sizeof(when), n);
            if (sd_add(s, HN_AUTORUN_AD_KRBTGT, "pwdLastSet", sam, when[0] ? when : "never",
                       when) < 0)
                goto done;
        }
    }

    /* GPO links of the domain, OUs and sites. */
    if ((v = sd_first(msg, "gPLink", &oom)) && *v) {
        char *name = sd_text(dn, strlen(dn));
        if (!name || sd_add(s, HN_AUTORUN_AD_GPLINK, "gPLink", name, v, wchanged) < 0) {
            free(name);
            if (!s->err)
                s->err = CR_ERROR;
            goto done;
        }
        free(name);
    }
    free(v);
    v = NULL;
    if (oom)
        goto oom;

    /* AdminSDHolder: its permissions are stamped on every privileged account each hour. */
    if (!strncasecmp(dn, "CN=AdminSDHolder,CN=System,", 27)) {
        const struct ldb_message_element *sde = ldb_msg_find_element(msg, "nTSecurityDescriptor");
        unsigned char h[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        if (sde && sde->num_values)
            crypto_hash_sha256(h, sde->values[0].data, sde->values[0].length);
        else
            crypto_hash_sha256(h, (const unsigned char *)"", 0);
        cr_hex_encode(hex, h, 8);
        if (sd_add(s, HN_AUTORUN_AD_ADMINSDHOLDER, "nTSecurityDescriptor", "AdminSDHolder", hex,
                   wchanged) < 0)
            goto done;
    }
    goto done;
oom:
    s->err = CR_ERROR;
done:
    free(v);
    free(sam);
    free(created);
    free(changed);
    return s->err;
}

static int sd_record(struct tdb_context *tdb, TDB_DATA key, TDB_DATA data, void *ud)
{
    sd *s = ud;
    (void)tdb;
    if (++s->records > SD_MAX_RECORDS) {
        cr_error_set("the directory database holds more than %u records", SD_MAX_RECORDS);
        s->err = CR_ECORRUPT;
        return -1;
    }
    /* ldb's own records (indexes, attribute lists, the base info) */
    if (key.dsize >= 4 && !memcmp(key.dptr, "DN=@", 4))
        return 0;
    struct ldb_message *msg = ldb_msg_new(s->tmp);
    struct ldb_val val = {.data = data.dptr, .length = data.dsize};
    if (!msg) {
        s->err = CR_ERROR;
        return -1;
    }
    if (ldb_unpack_data(sd_ldb, &val, msg) != 0 || !msg->dn) {
        talloc_free(msg);
        cr_error_set("a record of the directory database is damaged");
        s->err = CR_ECORRUPT;
        return -1;
    }
    sd_object(s, msg);
    talloc_free(msg);
    return s->err ? -1 : 0;
}

/* After every record: the members of privileged groups, by name. */
static int sd_members(sd *s)
{
    if (s->nn)
        qsort(s->names, s->nn, sizeof(*s->names), cmp_name);
    for (size_t i = 0; i < s->nl && !s->err; i++) {
        sd_link *l = &s->l[i];
        sd_name k = {.sid = l->sid, .sam = NULL};
        const sd_name *f = l->sid[0] && s->nn
                               ? bsearch(&k, s->names, s->nn, sizeof(*s->names), cmp_name)
                               : NULL;
        const char *name = f ? f->sam : *l->dn_name ? l->dn_name : l->sid;
        sd_add(s, HN_AUTORUN_AD_MEMBER, l->group, name, l->sid[0] ? l->sid : "(no SID)", l->when);
    }
    return s->err;
}

static void sd_clear(sd *s)
{
    for (size_t i = 0; i < s->nl; i++) {
        free(s->l[i].group);
        free(s->l[i].sid);
        free(s->l[i].dn_name);
        free(s->l[i].when);
    }
    free(s->l);
    for (size_t i = 0; i < s->nn; i++) {
        free(s->names[i].sid);
        free(s->names[i].sam);
    }
    free(s->names);
    talloc_free(s->tmp);
}

int hn_samdb_record(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    sd s;
    int err;
    *out = NULL;
    *count = 0;
    if ((err = hn_samdb_prepare()) < 0)
        return err;
    memset(&s, 0, sizeof(s));
    if (!(s.tmp = talloc_new(NULL)))
        return CR_ERROR;
    TDB_DATA key = {.dptr = (unsigned char *)"DN=x", .dsize = 4};
    TDB_DATA val = {.dptr = (unsigned char *)data, .dsize = len};
    sd_record(NULL, key, val, &s);
    if (!s.err)
        sd_members(&s);
    err = s.err;
    sd_clear(&s);
    if (err) {
        hn_autoruns_free(s.a, s.n);
        return err;
    }
    *out = s.a;
    *count = s.n;
    return 0;
}

int hn_samdb_autoruns(hn_autorun **out, size_t *count, const void *data, size_t len)
{
    hn_memfile m;
    struct tdb_context *tdb = NULL;
    sd s;
    int err;

    *out = NULL;
    *count = 0;
    memset(&s, 0, sizeof(s));
    if (len > SD_MAX_SIZE) {
        cr_error_set("directory database too large to examine (%zu bytes)", len);
        return CR_EINPUT;
    }
    if (len < 8 || memcmp(data, "TDB file", 8) != 0) {
        cr_error_set("not a TDB database (a sam.ldb partition of another backend, such as "
                     "LMDB, is not read)");
        return CR_ECORRUPT;
    }
    if ((err = hn_samdb_prepare()) < 0)
        return err;
    if ((err = hn_memfile_open(&m, data, len, 0)) < 0)
        return err;
    if (!(s.tmp = talloc_new(NULL))) {
        err = CR_ERROR;
        goto done;
    }
    tdb = tdb_open(hn_memfile_path(&m), 0, TDB_NOLOCK | TDB_NOMMAP | TDB_NOSYNC, O_RDONLY, 0);
    if (!tdb) {
        cr_error_set("the directory database is damaged (libtdb cannot open it)");
        err = CR_ECORRUPT;
        goto done;
    }
    if (tdb_check(tdb, NULL, NULL) != 0) {
        cr_error_set("the directory database is damaged (libtdb's check failed)");
        err = CR_ECORRUPT;
        goto done;
    }
    if (tdb_traverse_read(tdb, sd_record, &s) < 0 && !s.err) {
        cr_error_set("the directory database is damaged (its records cannot be walked)");
        s.err = CR_ECORRUPT;
    }
    if (!s.err)
        sd_members(&s);
    err = s.err;
done:
    if (tdb)
        tdb_close(tdb);
    hn_memfile_close(&m);
    sd_clear(&s);
    if (err) {
        hn_autoruns_free(s.a, s.n);
        return err;
    }
    *out = s.a;
    *count = s.n;
    return 0;
}

size_t hn_samdb_value_len(const char *data)
{
    const char *at = NULL;
    for (const char *p = data; (p = strstr(p, " @ ")); p++)
        at = p;
    return at ? (size_t)(at - data) : strlen(data);
}
