/*
 * Fuzz the HL7 v2 / MLLP client (src/recover/probe_hl7.c) with what a peer
 * could send back: the input is the server's byte stream, read as an MLLP
 * frame and judged as the ACK of our message (whole, then a few bytes per
 * read); the ACK parser also runs on the raw input, and the message builder
 * takes the input as a plan's message. Verdicts must not depend on how the
 * bytes are split; text taken from the peer must come out printable and
 * bounded; a built message must start with MSH, hold our control id as
 * MSH-10 and use CR only.
 */
#include "recover/probe_priv.h"

#include <stdlib.h>
#include <string.h>

#define ID "CR0123456789abcdef"

static int exchange(const uint8_t *data, size_t size, size_t chunk)
{
    static const char msg[] = "MSH|^~\\&|CLEANROOM|CLEANROOM|||2026||ADT^A01|" ID "|T|2.5.1\r";
    pr_ctx ctx;
    pr_memio m = {.data = data, .len = size, .chunk = chunk};
    pr_io io;
    memset(&ctx, 0, sizeof(ctx));
    ctx.timeout = 5;
    ctx.deadline = 1e300;
    pr_io_memory(&io, &m);
    int rc = pr_hl7_exchange(&ctx, &io, (const uint8_t *)msg, sizeof(msg) - 1, ID);
    if (rc != PR_PASS && rc != PR_FAIL)
        abort();
    if (ctx.msg[0] == '\0' || m.written != sizeof(msg) - 1 + 3)
        abort();
    return rc;
}

static void printable(const char *s, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (exchange(data, size, 0) != exchange(data, size, 1 + (size % 5)))
        abort();

    pr_ctx ctx;
    pr_hl7_ack a;
    memset(&ctx, 0, sizeof(ctx));
    if (pr_hl7_parse_ack(&a, &ctx, data, size) == PR_PASS) {
        static const char codes[] = "AA AE AR CA CE CR";
        if (strlen(a.code) != 2 || !strstr(codes, a.code))
            abort();
        printable(a.control_id, sizeof(a.control_id));
        printable(a.text, sizeof(a.text));
    }

    char *text = malloc(size + 1), *out = NULL;
    size_t outlen = 0;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (pr_hl7_build_message(&out, &outlen, text, ID) == 0) {
        if (outlen < 4 || memcmp(out, "MSH", 3) != 0 || memchr(out, '\n', outlen) ||
            out[outlen - 1] != '\r' || !strstr(out, ID) || strlen(out) != outlen)
            abort();
        free(out);
    }
    free(text);
    return 0;
}
