/*
 * Fuzz the judge of DNS answers (pr_dns_judge, src/recover/probe_ad.c) with
 * what a DNS server could send back: the input is the reply, judged as the
 * answer to our query (its id taken from the input, so that the parsing of
 * records is reached) for each record type the probe asks, with and without
 * an expected value. The verdict is PR_PASS or PR_FAIL, never a crash; the
 * message is never empty and comes out printable, whatever the names in the
 * answer hold.
 */
#include "recover/probe_priv.h"

#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

static void judge(const uint8_t *data, size_t size, int type, const char *expect)
{
    pr_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.timeout = 5;
    ctx.deadline = 1e300;
    uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
    int rc = pr_dns_judge(&ctx, data, size, id, "_ldap._tcp.dc._msdcs.example.org", type, expect);
    if (rc != PR_PASS && rc != PR_FAIL)
        abort();
    size_t n = strlen(ctx.msg);
    if (n == 0 || n >= sizeof(ctx.msg))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ctx.msg[i] < 0x20 || (unsigned char)ctx.msg[i] >= 0x7f)
            abort();
    /* a wrong id is never an answer */
    memset(&ctx, 0, sizeof(ctx));
    if (size >= 2 && pr_dns_judge(&ctx, data, size, (uint16_t)(id + 1), "x.org", type, NULL) != PR_FAIL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    judge(data, size, ns_t_srv, NULL);
    judge(data, size, ns_t_srv, "dc1.example.org");
    judge(data, size, ns_t_a, NULL);
    judge(data, size, ns_t_a, "10.0.0.1");
    judge(data, size, ns_t_aaaa, "2001:db8::1");
    return 0;
}
