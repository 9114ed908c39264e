/*
 * HL7 v2 over MLLP: send one message, judge the ACK.
 *
 * MLLP (HL7 v2 Implementation Guide, appendix C): a message travels as
 * <VT> message <FS><CR>, VT = 0x0B, FS = 0x1C, CR = 0x0D. Segments end with CR.
 *
 * The default message is a minimal ADT^A01 for a made-up patient
 * "PROBE^CLEANROOM", sent with processing id T (training) so that an
 * interface engine that routes by processing id keeps it away from production
 * systems; sites that prefer their engine's own test message give it in the
 * plan (`message`). Either way MSH-10 (message control id) is replaced by one
 * generated for the attempt, and the ACK must echo it in MSA-2: an ACK for
 * someone else's message proves nothing.
 *
 * The ACK is untrusted input: the frame is bounded (PR_HL7_MAX_FRAME), text
 * taken from it is cleaned before it reaches a message, and the parser is
 * fuzzed (fuzz/fuzz_hl7.c).
 */
#include "recover/probe_priv.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MESSAGE                                                                            \
    "MSH|^~\\&|CLEANROOM|CLEANROOM|||%s||ADT^A01^ADT_A01|%s|T|2.5.1\r"                             \
    "EVN|A01|%s\r"                                                                                 \
    "PID|1||CLEANROOM-PROBE^^^CLEANROOM||PROBE^CLEANROOM\r"                                        \
    "PV1|1|N\r"

/* Copy `message` with "\r\n" and "\n" turned into "\r" and a final "\r". */
static int normalise(cr_buf *b, const char *message)
{
    int err = 0;
    for (const char *p = message; *p && err == 0; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == PR_MLLP_START || c == PR_MLLP_END1) {
            cr_error_set("the HL7 message holds a byte 0x%02x, which MLLP uses to frame messages", c);
            return CR_EINPUT;
        }
        if (c == '\r' && p[1] == '\n')
            continue;
        err = cr_buf_put_u8(b, c == '\n' ? '\r' : c);
    }
    while (err == 0 && b->len > 0 && b->ptr[b->len - 1] == '\r')
        b->len--;
    if (err == 0)
        err = cr_buf_put_u8(b, '\r');
    if (err == CR_EINPUT)
        cr_error_set("the HL7 message is larger than %u bytes", PR_HL7_MAX_MESSAGE);
    return err;
}

int pr_hl7_build_message(char **out, size_t *outlen, const char *message, const char *control_id)
{
    cr_buf src = CR_BUF_INIT, dst = CR_BUF_INIT;
    int err;
    char *def = NULL;
    *out = NULL;
    src.max = dst.max = PR_HL7_MAX_MESSAGE;
    if (!message) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y%m%d%H%M%S+0000", &tm);
        if (!(def = cr_sprintf(DEFAULT_MESSAGE, ts, "X", ts))) {
            err = CR_ERROR;
            goto done;
        }
        message = def;
    }
    if ((err = normalise(&src, message)) < 0)
        goto done;
    const char *m = (const char *)src.ptr;
    size_t n = src.len;
    if (n < 8 || memcmp(m, "MSH", 3) != 0) {
        cr_error_set("the HL7 message must start with an MSH segment");
        err = CR_EINPUT;
        goto done;
    }
    char sep = m[3];
    if (sep == '\r' || (sep >= '0' && sep <= '9') || (sep >= 'A' && sep <= 'Z') ||
        (sep >= 'a' && sep <= 'z') || sep == ' ') {
        cr_error_set("the HL7 message's MSH segment has no valid field separator after 'MSH'");
        err = CR_EINPUT;
        goto done;
    }
    /* MSH-1 is the separator itself: MSH-10 starts after the 9th separator. */
    size_t seg_end = (size_t)((const char *)memchr(m, '\r', n) - m);
    size_t f_start = 0, count = 0;
    for (size_t i = 3; i < seg_end; i++)
        if (m[i] == sep && ++count == 9) {
            f_start = i + 1;
            break;
        }
    if (count < 9) {
        cr_error_set("the HL7 message's MSH segment has no MSH-10 field (message control id)");
        err = CR_EINPUT;
        goto done;
    }
    size_t f_end = f_start;
    while (f_end < seg_end && m[f_end] != sep)
        f_end++;
    if ((err = cr_buf_put(&dst, m, f_start)) < 0 ||
        (err = cr_buf_put(&dst, control_id, strlen(control_id))) < 0 ||
        (err = cr_buf_put(&dst, m + f_end, n - f_end)) < 0) {
        if (err == CR_EINPUT)
            cr_error_set("the HL7 message is larger than %u bytes", PR_HL7_MAX_MESSAGE);
        goto done;
    }
    if (!(*out = cr_malloc(dst.len + 1))) {
        err = CR_ERROR;
        goto done;
    }
    memcpy(*out, dst.ptr, dst.len);
    (*out)[dst.len] = '\0';
    *outlen = dst.len;
    err = 0;
done:
    free(def);
    cr_buf_free(&src);
    cr_buf_free(&dst);
    return err;
}

/* ------------------------------------------------------------------ ACK */

typedef struct span {
    const uint8_t *p;
    size_t n;
} span;

/* Field `idx` (1-based, counted after the segment id) of a segment. */
static span field(span seg, uint8_t sep, unsigned idx)
{
    span r = {NULL, 0};
    size_t i = 3;
    unsigned k = 0;
    while (i < seg.n && k < idx) {
        if (seg.p[i] == sep)
            k++;
        i++;
    }
    if (k < idx)
        return r;
    size_t j = i;
    while (j < seg.n && seg.p[j] != sep)
        j++;
    r.p = seg.p + i;
    r.n = j - i;
    return r;
}

int pr_hl7_parse_ack(pr_hl7_ack *out, pr_ctx *ctx, const uint8_t *buf, size_t len)
{
    memset(out, 0, sizeof(*out));
    span segs[64];
    size_t nseg = 0, i = 0;
    while (i < len && nseg < sizeof(segs) / sizeof(segs[0])) {
        size_t j = i;
        while (j < len && buf[j] != '\r' && buf[j] != '\n')
            j++;
        if (j > i) {
            segs[nseg].p = buf + i;
            segs[nseg].n = j - i;
            nseg++;
        }
        i = j + 1;
    }
    if (nseg == 0)
        return pr_fail(ctx, "empty answer");
    if (segs[0].n < 4 || memcmp(segs[0].p, "MSH", 3) != 0) {
        char t[40];
        pr_clean_text(t, sizeof(t), segs[0].p, segs[0].n, 30);
        return pr_fail(ctx, "the answer does not start with an MSH segment: '%s'", t);
    }
    uint8_t sep = segs[0].p[3];
    if (sep == '\r' || sep == '\n' || (sep >= '0' && sep <= '9') || (sep >= 'A' && sep <= 'Z'))
        return pr_fail(ctx, "the answer's MSH segment has no valid field separator");
    span msa = {NULL, 0}, err = {NULL, 0};
    for (size_t k = 1; k < nseg; k++) {
        if (segs[k].n >= 3 && memcmp(segs[k].p, "MSA", 3) == 0 && (segs[k].n == 3 ||
                                                                   segs[k].p[3] == sep)) {
            if (!msa.p)
                msa = segs[k];
        } else if (segs[k].n >= 4 && memcmp(segs[k].p, "ERR", 3) == 0 && segs[k].p[3] == sep) {
            if (!err.p)
                err = segs[k];
        }
    }
    if (!msa.p)
        return pr_fail(ctx, "the answer has no MSA segment (not an ACK)");
    span code = field(msa, sep, 1);
    static const char *const codes[] = {"AA", "AE", "AR", "CA", "CE", "CR"};
    int known = 0;
    for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++)
        if (code.n == 2 && memcmp(code.p, codes[k], 2) == 0)
            known = 1;
    if (!known) {
        char t[40];
        pr_clean_text(t, sizeof(t), code.p ? code.p : (const uint8_t *)"", code.n, 20);
        return pr_fail(ctx, "the ACK has an unknown acknowledgment code (MSA-1) '%s'", t);
    }
    memcpy(out->code, code.p, 2);
    span id = field(msa, sep, 2);
    if (id.p)
        pr_clean_text(out->control_id, sizeof(out->control_id), id.p, id.n, 190);
    span text = field(msa, sep, 3);
    if ((!text.p || text.n == 0) && err.p) {
        /* HL7 2.5+: ERR-8 is the user message; older: ERR-1 holds the code and text. */
        text = field(err, sep, 8);
        if (!text.p || text.n == 0)
            text = field(err, sep, 1);
    }
    if (text.p)
        pr_clean_text(out->text, sizeof(out->text), text.p, text.n, 190);
    return PR_PASS;
}

int pr_hl7_read_frame(uint8_t **out, size_t *outlen, pr_ctx *ctx, const pr_io *io)
{
    uint8_t *buf = malloc(PR_HL7_MAX_FRAME);
    size_t have = 0, start = 0, scan = 0;
    int err, started = 0;
    *out = NULL;
    *outlen = 0;
    if (!buf) {
        cr_error_set("out of memory");
        return CR_ERROR;
    }
    for (;;) {
        if (have == PR_HL7_MAX_FRAME) {
            err = pr_fail(ctx, "the answer is larger than %u bytes without an end of frame",
                          PR_HL7_MAX_FRAME);
            goto done;
        }
        size_t got = 0;
        if ((err = io->read(io->self, ctx, buf + have, PR_HL7_MAX_FRAME - have, &got)) != PR_PASS)
            goto done;
        if (got == 0) {
            err = pr_fail(ctx, have == 0 ? "the peer closed the connection without answering"
                                         : "the peer closed the connection in the middle of "
                                           "its answer");
            goto done;
        }
        have += got;
        for (; scan < have; scan++) {
            uint8_t c = buf[scan];
            if (!started) {
                if (c == PR_MLLP_START) {
                    started = 1;
                    start = scan + 1;
                } else if (c != '\r' && c != '\n') {
                    err = pr_fail(ctx, "the answer does not start with an MLLP frame (byte "
                                       "0x%02x): is this port really HL7 over MLLP?", c);
                    goto done;
                }
            } else if (c == PR_MLLP_END1) {
                if (scan + 1 >= have)
                    break; /* need the next byte */
                if (buf[scan + 1] != PR_MLLP_END2) {
                    err = pr_fail(ctx, "malformed MLLP frame: end byte 0x1c not followed by 0x0d");
                    goto done;
                }
                size_t n = scan - start;
                memmove(buf, buf + start, n);
                *out = buf;
                *outlen = n;
                return PR_PASS;
            }
        }
    }
done:
    free(buf);
    return err;
}

int pr_hl7_exchange(pr_ctx *ctx, const pr_io *io, const uint8_t *msg, size_t msglen,
                    const char *control_id)
{
    uint8_t *frame = NULL, *ack = NULL;
    size_t acklen = 0;
    pr_hl7_ack a;
    int err;
    if (!(frame = cr_malloc(msglen + 3)))
        return CR_ERROR;
    frame[0] = PR_MLLP_START;
    memcpy(frame + 1, msg, msglen);
    frame[msglen + 1] = PR_MLLP_END1;
    frame[msglen + 2] = PR_MLLP_END2;
    if ((err = io->write(io->self, ctx, frame, msglen + 3)) != PR_PASS)
        goto done;
    if ((err = pr_hl7_read_frame(&ack, &acklen, ctx, io)) != PR_PASS)
        goto done;
    if ((err = pr_hl7_parse_ack(&a, ctx, ack, acklen)) != PR_PASS)
        goto done;
    if (a.code[1] != 'A') {
        err = pr_fail(ctx, "ACK code %s: %s", a.code, a.text[0] ? a.text : "(no text given)");
        goto done;
    }
    if (strcmp(a.control_id, control_id) != 0) {
        err = pr_fail(ctx, "ACK %s for message '%s', not for ours ('%s')", a.code, a.control_id,
                      control_id);
        goto done;
    }
    err = pr_pass(ctx, "ACK code %s in %.2f s", a.code, cr_time_mono() - ctx->start);
done:
    free(frame);
    free(ack);
    return err;
}
