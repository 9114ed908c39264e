/*
 * Probes of a directory: DNS, Kerberos and SMB, each through the field's
 * library, with the network under our own deadline wherever the library lets
 * us carry the bytes.
 *
 * DNS (libresolv): the query is built with res_nmkquery(), sent over UDP from
 * a socket of ours and waited for with poll() until the deadline; a truncated
 * answer is asked again over TCP (RFC 7766: two-byte length, then the
 * message). The answer is read with ns_initparse()/ns_parserr() and judged by
 * pr_dns_judge(): the reply's id and QR bit, its RCODE (NXDOMAIN, SERVFAIL,
 * REFUSED said in words), then the records of the asked type in the answer
 * section. A: 4 bytes, AAAA: 16, SRV: priority, weight, port and a target
 * name (ns_name_uncompress, bounded by the message). The judge sees arbitrary
 * bytes in fuzz/fuzz_dns.c.
 *
 * Kerberos (MIT libkrb5): an AS exchange for principal@realm with the stepwise
 * form of krb5_get_init_creds_password(), krb5_init_creds_step(): the library
 * builds each request and reads each reply, we carry them over TCP to the KDC
 * (four-byte length, then the message, RFC 4120 7.2.2) with the deadline. So
 * the library never looks for a KDC itself (no krb5.conf or DNS needed) and
 * never waits beyond the deadline. Without a password, a KDC that asks for
 * pre-authentication (the library then asks us for the password) knows the
 * principal: the KDC is up for that realm. With one, the probe gets a TGT.
 *
 * SMB (libsmbclient): list the shares of smb://host/ (negotiate, session
 * setup, IPC$, NetShareEnum), anonymously or as `user` with the password from
 * password_env, and check the named shares (SYSVOL, NETLOGON) are among them.
 * libsmbclient is synchronous and cannot be bounded from outside: the listing
 * runs in a child process killed at the deadline (see smb_child).
 */
#include "recover/probe_priv.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <krb5.h>
#include <dlfcn.h>
#include <libsmbclient.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PR_KRB_MAX_REPLY (64u * 1024)
#define PR_KRB_MAX_ROUNDS 8

/* ------------------------------------------------------------------- DNS */

static const struct {
    const char *name;
    int type;
} dns_types[] = {{"A", ns_t_a}, {"AAAA", ns_t_aaaa}, {"SRV", ns_t_srv}};

int pr_dns_type_parse(int *out, const char *name)
{
    for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
        if (strcasecmp(name, dns_types[i].name) == 0) {
            *out = dns_types[i].type;
            return 0;
        }
    cr_error_set("DNS record type '%s' is not one the probe asks for (A, AAAA or SRV)", name);
    return CR_EINPUT;
}

static const char *dns_type_name(int type)
{
    for (size_t i = 0; i < sizeof(dns_types) / sizeof(dns_types[0]); i++)
        if (dns_types[i].type == type)
            return dns_types[i].name;
    return "?";
}

static const char *rcode_words(int rcode)
{
    switch (rcode) {
    case ns_r_formerr: return "FORMERR: the server could not read the question";
    case ns_r_servfail: return "SERVFAIL: the server failed (its zone is not loaded, or it cannot reach "
                               "what it forwards to)";
    case ns_r_nxdomain: return "NXDOMAIN: no such name (check the name and the realm)";
    case ns_r_notimpl: return "NOTIMP: the server does not do this kind of query";
    case ns_r_refused: return "REFUSED: the server does not answer this question for us (is it "
                              "authoritative for this zone?)";
    default: return "an error code";
    }
}

int pr_dns_judge(pr_ctx *ctx, const uint8_t *ans, size_t len, uint16_t id, const char *name,
                 int type, const char *expect)
{
    ns_msg msg;
    ns_rr rr;
    char shown[220], one[300], list[256];
    size_t ll = 0;
    unsigned int n = 0;
    int found = 0;

    list[0] = '\0';
    if (len < NS_HFIXEDSZ || len > 65535)
        return pr_fail(ctx, "the answer is not a DNS message (%zu bytes)", len);
    if (((unsigned)ans[0] << 8 | ans[1]) != id || !(ans[2] & 0x80))
        return pr_fail(ctx, "the answer does not answer our question (wrong id or not a response)");
    if (ns_initparse(ans, (int)len, &msg) < 0)
        return pr_fail(ctx, "the answer is not a well-formed DNS message");
    int rcode = ns_msg_getflag(msg, ns_f_rcode);
    if (rcode != ns_r_noerror)
        return pr_fail(ctx, "%s %s: %s (rcode %d)", dns_type_name(type), name, rcode_words(rcode),
                       rcode);
    int count = ns_msg_count(msg, ns_s_an);
    for (int i = 0; i < count; i++) {
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
            return pr_fail(ctx, "the answer's record %d is malformed", i + 1);
        if (ns_rr_class(rr) != ns_c_in || (int)ns_rr_type(rr) != type)
            continue; /* a CNAME on the way, for instance */
        const uint8_t *rd = ns_rr_rdata(rr);
        size_t rdlen = ns_rr_rdlen(rr);
        if (type == ns_t_a || type == ns_t_aaaa) {
            size_t want = type == ns_t_a ? 4 : 16;
            if (rdlen != want)
                return pr_fail(ctx, "the answer's %s record has %zu bytes instead of %zu",
                               dns_type_name(type), rdlen, want);
            inet_ntop(type == ns_t_a ? AF_INET : AF_INET6, rd, one, sizeof(one));
        } else {
            char target[NS_MAXDNAME];
            if (rdlen < 7 || ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target,
                                                sizeof(target)) < 0)
                return pr_fail(ctx, "the answer's SRV record is malformed");
            pr_clean_text(shown, sizeof(shown), (const uint8_t *)target, strlen(target), 200);
            snprintf(one, sizeof(one), "%s:%u", shown, ns_get16(rd + 4));
            if (expect) {
                /* expect names the target host, with or without the port and the final dot */
                size_t tl = strlen(target), el = strlen(expect);
                if (el && expect[el - 1] == '.')
                    el--;
                if (tl && target[tl - 1] == '.')
                    tl--;
                if ((tl == el && strncasecmp(target, expect, el) == 0) || strcasecmp(one, expect) == 0)
                    found = 1;
            }
        }
        if (expect && type != ns_t_srv) {
            /* compare addresses as addresses: 2001:db8::1 and 2001:DB8:0::1 are one */
            uint8_t a[16];
            if (inet_pton(type == ns_t_a ? AF_INET : AF_INET6, expect, a) == 1 &&
                memcmp(a, rd, rdlen) == 0)
                found = 1;
        }
        n++;
        if (ll + strlen(one) + 3 < sizeof(list))
            ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "%s%s", ll ? ", " : "", one);
        else if (ll + 4 < sizeof(list) && !strstr(list, "..."))
            ll += (size_t)snprintf(list + ll, sizeof(list) - ll, ", ...");
    }
    if (n == 0)
        return pr_fail(ctx, "%s %s: the name exists but has no %s record", dns_type_name(type), name,
                       dns_type_name(type));
    if (expect && !found)
        return pr_fail(ctx, "%s %s: no record is '%s' (got %s)", dns_type_name(type), name, expect,
                       list);
    return pr_pass(ctx, "%s %s: %s in %.2f s", dns_type_name(type), name, list,
                   cr_time_mono() - ctx->start);
}

/* One query over TCP (after a truncated UDP answer). @return PR_PASS with *outlen, or PR_FAIL. */
static int dns_tcp(pr_ctx *ctx, const char *server, unsigned int port, const uint8_t *q,
                   size_t qlen, uint8_t *ans, size_t anscap, size_t *outlen)
{
    int fd = -1, err;
    pr_io io;
    uint8_t hdr[2], *buf = NULL;
    if ((err = pr_net_connect(&fd, ctx, server, port)) != PR_PASS)
        return err;
    pr_io_socket(&io, &fd);
    if (!(buf = malloc(qlen + 2))) {
        close(fd);
        return pr_fail(ctx, "out of memory");
    }
    buf[0] = (uint8_t)(qlen >> 8);
    buf[1] = (uint8_t)qlen;
    memcpy(buf + 2, q, qlen);
    if ((err = io.write(io.self, ctx, buf, qlen + 2)) == PR_PASS &&
        (err = pr_io_read_full(&io, ctx, hdr, 2, "before answering")) == PR_PASS) {
        size_t n = (size_t)hdr[0] << 8 | hdr[1];
        if (n > anscap)
            err = pr_fail(ctx, "the TCP answer is larger than %zu bytes", anscap);
        else if ((err = pr_io_read_full(&io, ctx, ans, n, "in the middle of its answer")) == PR_PASS)
            *outlen = n;
    }
    free(buf);
    close(fd);
    return err;
}

int pr_run_dns(pr_ctx *ctx, const cr_probe_spec *s)
{
    struct __res_state rs;
    uint8_t q[NS_PACKETSZ], ans[65535];
    struct sockaddr_in sa;
    int type, fd = -1, err;
    const char *server = s->host && *s->host ? s->host : "127.0.0.1";
    unsigned int port = s->port ? s->port : 53;
    size_t alen = 0;

    if ((err = pr_dns_type_parse(&type, s->rrtype ? s->rrtype : "A")) < 0)
        return err;
    memset(&rs, 0, sizeof(rs));
    if (res_ninit(&rs) != 0) {
        cr_error_set("cannot set up the DNS resolver library");
        return CR_ERROR;
    }
    int qlen = res_nmkquery(&rs, ns_o_query, s->record, ns_c_in, type, NULL, 0, NULL, q, sizeof(q));
    res_nclose(&rs);
    if (qlen < NS_HFIXEDSZ) {
        cr_error_set("'%s' is not a DNS name the probe can ask for", s->record);
        return CR_EINPUT;
    }
    uint16_t id = (uint16_t)(q[0] << 8 | q[1]);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, server, &sa.sin_addr) != 1) {
        cr_error_set("a dns probe's host must be the DNS server's IPv4 address, got '%s'", server);
        return CR_EINPUT;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(fd, q, (size_t)qlen, 0) != qlen) {
        err = pr_fail(ctx, "cannot send the DNS query: %s", strerror(errno));
        goto done;
    }
    /* Answers with another id (late, spoofed) are dropped; we wait for ours. */
    for (;;) {
        double left = pr_left(ctx);
        if (left <= 0) {
            err = pr_timeout(ctx, "waiting for the DNS answer (no DNS server at that address, or "
                                  "a firewall drops the query)");
            goto done;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno != EINTR) {
            err = pr_fail(ctx, "poll failed: %s", strerror(errno));
            goto done;
        }
        if (r <= 0)
            continue;
        ssize_t got = recv(fd, ans, sizeof(ans), 0);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            err = pr_fail(ctx, "%s", errno == ECONNREFUSED
                                         ? "port unreachable (no DNS server listens there)"
                                         : strerror(errno));
            goto done;
        }
        if (got >= NS_HFIXEDSZ && ((unsigned)ans[0] << 8 | ans[1]) == id && (ans[2] & 0x80)) {
            alen = (size_t)got;
            break;
        }
    }
    if (ans[2] & 0x02) { /* TC: ask again over TCP */
        if ((err = dns_tcp(ctx, server, port, q, (size_t)qlen, ans, sizeof(ans), &alen)) != PR_PASS)
            goto done;
    }
    err = pr_dns_judge(ctx, ans, alen, id, s->record, type, s->expect);
done:
    if (fd >= 0)
        close(fd);
    return err;
}

/* -------------------------------------------------------------- Kerberos */

typedef struct krb_state {
    int prompted;
} krb_state;

/* The library asks for the password only when the KDC wants pre-authentication
 * and none was given: that answer is what an "is the KDC up" probe looks for. */
static krb5_error_code krb_prompter(krb5_context kc, void *data, const char *name,
                                    const char *banner, int num_prompts, krb5_prompt prompts[])
{
    krb_state *st = data;
    st->prompted = 1;
    return KRB5_LIBOS_CANTREADPWD;
}

/* Send one request to the KDC over TCP and read its reply (malloc'd). */
static int krb_exchange(pr_ctx *ctx, const char *host, unsigned int port, const krb5_data *req,
                        uint8_t **reply, size_t *replylen)
{
    int fd = -1, err;
    pr_io io;
    uint8_t hdr[4];
    *reply = NULL;
    if ((err = pr_net_connect(&fd, ctx, host, port)) != PR_PASS)
        return err;
    pr_io_socket(&io, &fd);
    hdr[0] = (uint8_t)(req->length >> 24);
    hdr[1] = (uint8_t)(req->length >> 16);
    hdr[2] = (uint8_t)(req->length >> 8);
    hdr[3] = (uint8_t)req->length;
    if ((err = io.write(io.self, ctx, hdr, 4)) != PR_PASS ||
        (err = io.write(io.self, ctx, (const uint8_t *)req->data, req->length)) != PR_PASS ||
        (err = pr_io_read_full(&io, ctx, hdr, 4, "before answering (is it a Kerberos KDC?)")) != PR_PASS)
        goto done;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > PR_KRB_MAX_REPLY) {
        err = pr_fail(ctx, "the KDC's answer announces %u bytes (not a Kerberos reply, or larger "
                           "than %u)", n, PR_KRB_MAX_REPLY);
        goto done;
    }
    if (!(*reply = malloc(n))) {
        err = pr_fail(ctx, "out of memory");
        goto done;
    }
    if ((err = pr_io_read_full(&io, ctx, *reply, n, "in the middle of its answer")) != PR_PASS) {
        free(*reply);
        *reply = NULL;
        goto done;
    }
    *replylen = n;
done:
    close(fd);
    return err;
}

static int krb_words(pr_ctx *ctx, krb5_context kc, krb5_error_code code, const char *who,
                     const char *realm)
{
    const char *m = krb5_get_error_message(kc, code);
    char t[200];
    pr_clean_text(t, sizeof(t), (const uint8_t *)m, strlen(m), 160);
    krb5_free_error_message(kc, m);
    switch (code) {
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        return pr_fail(ctx, "the KDC does not know %s (check principal and realm): %s", who, t);
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        return pr_fail(ctx, "password refused for %s (wrong password in password_env?): %s", who, t);
    case KRB5KDC_ERR_KEY_EXP:
        return pr_fail(ctx, "the password of %s has expired: %s", who, t);
    case KRB5KDC_ERR_CLIENT_REVOKED:
        return pr_fail(ctx, "the account %s is disabled or locked: %s", who, t);
    case KRB5KDC_ERR_WRONG_REALM:
    case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
    case KRB5_REALM_UNKNOWN:
        return pr_fail(ctx, "the KDC does not serve the realm %s (check realm): %s", realm, t);
    case KRB5KRB_AP_ERR_SKEW:
        return pr_fail(ctx, "the clocks of this machine and the KDC differ too much (more than 5 "
                            "minutes): %s", t);
    default:
        return pr_fail(ctx, "Kerberos error for %s: %s", who, t);
    }
}

int pr_run_kerberos(pr_ctx *ctx, const cr_probe_spec *s, const char *password)
{
    krb5_context kc = NULL;
    krb5_principal client = NULL;
    krb5_get_init_creds_opt *opt = NULL;
    krb5_init_creds_context icc = NULL;
    krb5_error_code kerr;
    krb_state st = {0};
    char who[600];
    uint8_t *reply = NULL;
    size_t replylen = 0;
    int err;
    const char *host = s->host && *s->host ? s->host : "127.0.0.1";
    unsigned int port = s->port ? s->port : 88;
    const char *princ = s->principal && *s->principal ? s->principal : "Administrator";

    snprintf(who, sizeof(who), "%s@%s", princ, s->realm);
    if ((kerr = krb5_init_secure_context(&kc)) != 0) {
        cr_error_set("cannot set up the Kerberos library (error %ld)", (long)kerr);
        return CR_ERROR;
    }
    if ((kerr = krb5_parse_name_flags(kc, who, KRB5_PRINCIPAL_PARSE_REQUIRE_REALM, &client)) != 0) {
        cr_error_set("'%s' is not a Kerberos principal", who);
        err = CR_EINPUT;
        goto done;
    }
    if ((kerr = krb5_get_init_creds_opt_alloc(kc, &opt)) != 0) {
        err = krb_words(ctx, kc, kerr, who, s->realm);
        goto done;
    }
    krb5_get_init_creds_opt_set_forwardable(opt, 0);
    krb5_get_init_creds_opt_set_proxiable(opt, 0);
    if ((kerr = krb5_init_creds_init(kc, client, krb_prompter, &st, 0, opt, &icc)) != 0 ||
        (password && (kerr = krb5_init_creds_set_password(kc, icc, password)) != 0)) {
        err = krb_words(ctx, kc, kerr, who, s->realm);
        goto done;
    }
    for (int round = 0;; round++) {
        krb5_data in = {.magic = KV5M_DATA, .length = (unsigned int)replylen, .data = (char *)reply};
        krb5_data out = {0}, realm = {0};
        unsigned int flags = 0;
        kerr = krb5_init_creds_step(kc, icc, &in, &out, &realm, &flags);
        free(reply);
        reply = NULL;
        replylen = 0;
        krb5_free_data_contents(kc, &realm);
        if (kerr) {
            krb5_free_data_contents(kc, &out);
            if (st.prompted && !password)
                err = pr_pass(ctx, "the KDC answers for %s: %s needs pre-authentication (the "
                                   "account exists) in %.2f s",
                              s->realm, who, cr_time_mono() - ctx->start);
            else if (kerr == KRB5KRB_AP_ERR_MODIFIED || kerr == KRB5_KDCREP_MODIFIED)
                err = pr_fail(ctx, "the KDC's answer was not made with %s's key: password refused, "
                                   "or another KDC answered", who);
            else if (kerr == KRB5KDC_ERR_NONE || kerr == ASN1_BAD_ID || kerr == KRB5KRB_AP_ERR_MSG_TYPE ||
                     kerr == ASN1_BAD_LENGTH || kerr == ASN1_OVERRUN || kerr == ASN1_BAD_FORMAT)
                err = pr_fail(ctx, "the answer is not a Kerberos reply (is it a KDC?)");
            else
                err = krb_words(ctx, kc, kerr, who, s->realm);
            goto done;
        }
        if (!(flags & KRB5_INIT_CREDS_STEP_FLAG_CONTINUE)) {
            krb5_free_data_contents(kc, &out);
            if (password)
                err = pr_pass(ctx, "ticket-granting ticket for %s obtained in %.2f s", who,
                              cr_time_mono() - ctx->start);
            else
                err = pr_pass(ctx, "the KDC answers for %s, and gave a ticket for %s without "
                                   "pre-authentication (an account open to AS-REP roasting) in %.2f s",
                              s->realm, who, cr_time_mono() - ctx->start);
            goto done;
        }
        if (round >= PR_KRB_MAX_ROUNDS) {
            krb5_free_data_contents(kc, &out);
            err = pr_fail(ctx, "the KDC kept asking for more after %d exchanges", round);
            goto done;
        }
        err = krb_exchange(ctx, host, port, &out, &reply, &replylen);
        krb5_free_data_contents(kc, &out);
        if (err != PR_PASS)
            goto done;
    }
done:
    free(reply);
    if (icc)
        krb5_init_creds_free(kc, icc);
    if (opt)
        krb5_get_init_creds_opt_free(kc, opt);
    if (client)
        krb5_free_principal(kc, client);
    krb5_free_context(kc);
    return err;
}

/* -------------------------------------------------------------------- SMB */

typedef struct smb_auth {
    const char *workgroup, *user, *password;
} smb_auth;

static void copy_str(char *out, int outlen, const char *s)
{
    if (outlen > 0)
        snprintf(out, (size_t)outlen, "%s", s ? s : "");
}

/*
 * libsmbclient is loaded when an SMB probe first runs, not linked: it brings
 * about 110 of Samba's libraries, which every start of cleanroom (every
 * command, every parser sandbox child, which is cleanroom started again)
 * would otherwise load and relocate. The header still gives the types.
 */
#define SMB_FN(name) __typeof__(name) *name
static struct {
    SMB_FN(smbc_new_context);
    SMB_FN(smbc_init_context);
    SMB_FN(smbc_setDebug);
    SMB_FN(smbc_setTimeout);
    SMB_FN(smbc_setPort);
    SMB_FN(smbc_setOptionUserData);
    SMB_FN(smbc_getOptionUserData);
    SMB_FN(smbc_setFunctionAuthDataWithContext);
    SMB_FN(smbc_setOptionUseKerberos);
    SMB_FN(smbc_setOptionUseCCache);
    SMB_FN(smbc_setOptionNoAutoAnonymousLogin);
    SMB_FN(smbc_getFunctionOpendir);
    SMB_FN(smbc_getFunctionReaddir);
} smb;
static pthread_once_t smb_once = PTHREAD_ONCE_INIT;
static char smb_load_error[300];

static void smb_load(void)
{
    void *h = dlopen("libsmbclient.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(smb_load_error, sizeof(smb_load_error), "%s", dlerror());
        return;
    }
#define SMB_SYM(name)                                                                    \
    if (!(*(void **)&smb.name = dlsym(h, #name))) {                                      \
        snprintf(smb_load_error, sizeof(smb_load_error), "%s not found", #name);         \
        return;                                                                          \
    }
    SMB_SYM(smbc_new_context)
    SMB_SYM(smbc_init_context)
    SMB_SYM(smbc_setDebug)
    SMB_SYM(smbc_setTimeout)
    SMB_SYM(smbc_setPort)
    SMB_SYM(smbc_setOptionUserData)
    SMB_SYM(smbc_getOptionUserData)
    SMB_SYM(smbc_setFunctionAuthDataWithContext)
    SMB_SYM(smbc_setOptionUseKerberos)
    SMB_SYM(smbc_setOptionUseCCache)
    SMB_SYM(smbc_setOptionNoAutoAnonymousLogin)
    SMB_SYM(smbc_getFunctionOpendir)
    SMB_SYM(smbc_getFunctionReaddir)
#undef SMB_SYM
}

static void smb_auth_fn(SMBCCTX *c, const char *srv, const char *shr, char *wg, int wglen,
                        char *un, int unlen, char *pw, int pwlen)
{
    const smb_auth *a = smb.smbc_getOptionUserData(c);
    if (a->workgroup)
        copy_str(wg, wglen, a->workgroup);
    copy_str(un, unlen, a->user);
    copy_str(pw, pwlen, a->password);
}

static const char *smb_errno_words(int e, int anonymous)
{
    switch (e) {
    case ECONNREFUSED: return "connection refused (nothing listens on the SMB port)";
    case ETIMEDOUT: return "no answer in time";
    case EACCES:
    case EPERM:
        return anonymous ? "anonymous share listing refused (give user and password_env)"
                         : "logon refused (wrong user or password, or account disabled)";
    case EHOSTUNREACH: return "no route to host";
    case ENOENT:
    case ENODEV: return "no SMB server there";
    case ECONNRESET: return "the server reset the connection (SMB disabled, or a protocol it refuses)";
    case ECONNABORTED:
    case EPROTO:
    case EIO: return "the conversation broke off (not an SMB server, or one that speaks no SMB2/3)";
    default: return strerror(e);
    }
}

/*
 * The listing runs in a child process: libsmbclient is synchronous, its
 * timeout bounds each request, not a listing (which, when the server's share
 * RPC fails, falls back through other ports and protocols: 16 s seen for a
 * 5 s timeout), and it gives no socket we could shut down as the LDAP probe
 * does. The child is killed at the deadline. It does not exec: it calls
 * libsmbclient, writes what it saw to a pipe and leaves with _exit() (no
 * atexit handlers, no flush of stdio buffers inherited from us); its output
 * goes to /dev/null, where libsmbclient's own complaints belong.
 *
 * What the child writes: a 4-byte errno (0: listed), then the share names,
 * each ended by '\n' (names holding '\n' are skipped), at most
 * PR_SMB_MAX_LIST bytes.
 */
#define PR_SMB_MAX_LIST (64u * 1024)

static void smb_child(int fd, const cr_probe_spec *s, const smb_auth *a, const char *url,
                      double left)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);

    int32_t e = 0;
    SMBCCTX *sc = smb.smbc_new_context();
    SMBCFILE *dir = NULL;
    if (!sc)
        e = ENOMEM;
    if (sc) {
        smb.smbc_setDebug(sc, 0);
        int ms = (int)(left * 1000.0) + 1;
        smb.smbc_setTimeout(sc, ms < 1 ? 1 : ms);
        /* 445, SMB2 straight over TCP: without a port the library also tries
         * NetBIOS on 139, which a domain controller does not need to serve */
        smb.smbc_setPort(sc, (uint16_t)(s->port ? s->port : 445));
        smb.smbc_setOptionUserData(sc, (void *)a);
        smb.smbc_setFunctionAuthDataWithContext(sc, smb_auth_fn);
        smb.smbc_setOptionUseKerberos(sc, 0);
        smb.smbc_setOptionUseCCache(sc, 0);
        smb.smbc_setOptionNoAutoAnonymousLogin(sc, s->user != NULL);
        if (!smb.smbc_init_context(sc))
            e = -1; /* the library cannot start: smb.conf unreadable */
    }
    if (!e) {
        errno = 0;
        if (!(dir = smb.smbc_getFunctionOpendir(sc)(sc, url)))
            e = errno ? errno : EIO;
    }
    uint8_t hdr[4] = {(uint8_t)((uint32_t)e >> 24), (uint8_t)((uint32_t)e >> 16),
                      (uint8_t)((uint32_t)e >> 8), (uint8_t)e};
    (void)!write(fd, hdr, 4);
    if (dir) {
        size_t total = 0;
        struct smbc_dirent *de;
        while ((de = smb.smbc_getFunctionReaddir(sc)(sc, dir)) != NULL) {
            if (de->smbc_type != SMBC_FILE_SHARE && de->smbc_type != SMBC_IPC_SHARE)
                continue;
            size_t l = strlen(de->name);
            if (strchr(de->name, '\n') || total + l + 1 > PR_SMB_MAX_LIST)
                continue;
            de->name[l] = '\n'; /* the entry is ours until the next readdir */
            if (write(fd, de->name, l + 1) != (ssize_t)(l + 1))
                break;
            total += l + 1;
        }
    }
    _exit(0);
}

int pr_run_smb(pr_ctx *ctx, const cr_probe_spec *s, const char *password)
{
    char url[400], found[300], missing[300], user[256], wg[256];
    size_t fl = 0, ml = 0, nlen = 0;
    int err, nshares = 0, pfd[2] = {-1, -1}, status;
    uint8_t *names = NULL;
    const char *host = s->host && *s->host ? s->host : "127.0.0.1";
    smb_auth a = {NULL, "", password ? password : ""};
    pid_t pid = -1;

    found[0] = missing[0] = '\0';
    /* DOMAIN\user or user */
    if (s->user) {
        const char *bs = strchr(s->user, '\\');
        if (bs && (size_t)(bs - s->user) < sizeof(wg)) {
            memcpy(wg, s->user, (size_t)(bs - s->user));
            wg[bs - s->user] = '\0';
            a.workgroup = wg;
            snprintf(user, sizeof(user), "%s", bs + 1);
        } else
            snprintf(user, sizeof(user), "%s", s->user);
        a.user = user;
    }
    if (strchr(host, ':'))
        snprintf(url, sizeof(url), "smb://[%s]/", host);
    else
        snprintf(url, sizeof(url), "smb://%s/", host);
    /* Loaded here, before the fork: the child only calls it. */
    pthread_once(&smb_once, smb_load);
    if (smb_load_error[0]) {
        cr_error_set("the SMB probe needs libsmbclient (Debian package libsmbclient): %s",
                     smb_load_error);
        return CR_ERROR;
    }
    if (!(names = malloc(PR_SMB_MAX_LIST + 4))) {
        cr_error_set("out of memory");
        return CR_ERROR;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        err = cr_error_errno("cannot start the SMB probe");
        goto done;
    }
    if ((pid = fork()) < 0) {
        err = cr_error_errno("cannot start the SMB probe");
        goto done;
    }
    if (pid == 0) {
        close(pfd[0]);
        smb_child(pfd[1], s, &a, url, pr_left(ctx));
    }
    close(pfd[1]);
    pfd[1] = -1;
    /* Read until the child closes the pipe, or the deadline. */
    for (;;) {
        double left = pr_left(ctx);
        if (left <= 0)
            break;
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno != EINTR) {
            err = pr_fail(ctx, "poll failed: %s", strerror(errno));
            goto done;
        }
        if (r <= 0)
            continue;
        ssize_t n = read(pfd[0], names + nlen, PR_SMB_MAX_LIST + 4 - nlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        nlen += (size_t)n;
        if (nlen == PR_SMB_MAX_LIST + 4)
            break;
    }
    if (nlen < 4) {
        err = pr_left(ctx) <= 0 ? pr_timeout(ctx, "listing the shares")
                                : pr_fail(ctx, "the SMB client stopped before it could say what it "
                                               "saw");
        goto done;
    }
    int32_t e = (int32_t)((uint32_t)names[0] << 24 | (uint32_t)names[1] << 16 |
                          (uint32_t)names[2] << 8 | names[3]);
    if (e == -1) {
        err = pr_fail(ctx, "the SMB client library cannot start (is /etc/samba/smb.conf readable?)");
        goto done;
    }
    if (e != 0) {
        err = e == ETIMEDOUT ? pr_timeout(ctx, "listing the shares")
                             : pr_fail(ctx, "cannot list the shares of %s: %s", url,
                                       smb_errno_words(e, !s->user));
        goto done;
    }
    /* The names: shown (bounded) and looked up without case (SYSVOL = sysvol). */
    for (size_t i = 4; i < nlen;) {
        size_t end = i;
        while (end < nlen && names[end] != '\n')
            end++;
        char t[100];
        pr_clean_text(t, sizeof(t), names + i, end - i, 40);
        nshares++;
        if (fl + strlen(t) + 6 < sizeof(found))
            fl += (size_t)snprintf(found + fl, sizeof(found) - fl, "%s%s", fl ? ", " : "", t);
        else if (fl + 6 < sizeof(found) && !strstr(found, "..."))
            fl += (size_t)snprintf(found + fl, sizeof(found) - fl, ", ...");
        i = end + 1;
    }
    for (const char *p = s->shares ? s->shares : ""; *p;) {
        size_t l = strcspn(p, ",");
        int ok = 0;
        for (size_t i = 4; i < nlen && l;) {
            size_t end = i;
            while (end < nlen && names[end] != '\n')
                end++;
            if (end - i == l && strncasecmp((const char *)names + i, p, l) == 0)
                ok = 1;
            i = end + 1;
        }
        if (!ok && l && ml + l + 3 < sizeof(missing))
            ml += (size_t)snprintf(missing + ml, sizeof(missing) - ml, "%s%.*s", ml ? ", " : "",
                                   (int)l, p);
        p += l;
        if (*p == ',')
            p++;
    }
    if (ml)
        err = pr_fail(ctx, "share%s missing on %s: %s (shares there: %s)",
                      strchr(missing, ',') ? "s" : "", url, missing, fl ? found : "none");
    else
        err = pr_pass(ctx, "%d share%s listed%s%s (%s) in %.2f s", nshares, nshares == 1 ? "" : "s",
                      s->user ? " as " : " anonymously", s->user ? s->user : "", found,
                      cr_time_mono() - ctx->start);
done:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    free(names);
    return err;
}
