/*
 * Fuzz the DICOM C-ECHO client (src/recover/probe_dicom.c) with what a peer
 * could send: the input is the whole byte stream from the server, fed to the
 * complete conversation (A-ASSOCIATE-AC/RJ, A-ABORT, P-DATA-TF with the
 * C-ECHO-RSP, A-RELEASE-RP), in one piece and then a few bytes per read. The
 * PDU and command-set parsers are also run on the raw input. Every verdict
 * must come with a message, the same bytes must give the same verdict however
 * they are split, and whatever the parser borrows must lie inside the input.
 */
#include "recover/probe_priv.h"

#include <stdlib.h>
#include <string.h>

static int echo(const uint8_t *data, size_t size, size_t chunk, char *msg, size_t msglen)
{
    pr_ctx ctx;
    pr_memio m = {.data = data, .len = size, .chunk = chunk};
    pr_io io;
    memset(&ctx, 0, sizeof(ctx));
    ctx.timeout = 5;
    ctx.deadline = 1e300; /* memory never waits */
    pr_io_memory(&io, &m);
    int rc = pr_dicom_echo(&ctx, &io, "CLEANROOM", "ANY-SCP");
    if (rc != PR_PASS && rc != PR_FAIL)
        abort(); /* only out of memory could do that */
    if (ctx.msg[0] == '\0' || strlen(ctx.msg) >= sizeof(ctx.msg))
        abort();
    if (m.pos > m.len || m.written == 0)
        abort();
    strncpy(msg, ctx.msg, msglen - 1);
    msg[msglen - 1] = '\0';
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char m1[400], m2[400];
    int a = echo(data, size, 0, m1, sizeof(m1));
    int b = echo(data, size, 1 + (size % 7), m2, sizeof(m2));
    if (a != b)
        abort();
    /* The messages may only differ by the time they quote. */
    if (a == PR_FAIL && strcmp(m1, m2) != 0)
        abort();

    pr_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    pr_dicom_pdu p;
    if (pr_dicom_parse_pdu(&p, &ctx, data, size) == PR_PASS) {
        if (p.npdv > sizeof(p.pdv) / sizeof(p.pdv[0]))
            abort();
        for (size_t i = 0; i < p.npdv; i++)
            if (p.pdv[i].data < data || p.pdv[i].data + p.pdv[i].len > data + size)
                abort();
    }
    pr_dicom_cmd c;
    if (pr_dicom_parse_command(&c, &ctx, data, size) == PR_PASS && !c.has_field)
        abort();
    char t[200];
    if (size >= 3) {
        pr_dicom_reject_text(t, sizeof(t), data[0], data[1], data[2]);
        pr_dicom_abort_text(t, sizeof(t), data[1], data[2]);
    }
    return 0;
}
