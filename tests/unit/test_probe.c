/*
 * Unit tests of the probes: the DICOM upper-layer and DIMSE parsers and the
 * HL7 / MLLP parsers with crafted bytes (good, truncated, overrunning,
 * hostile), whole conversations over an in-memory stream, and cr_probe_run's
 * spec checks, retries and cancel flag against local sockets.
 */
#include "recover/probe_priv.h"
#include "test.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ byte builder */

typedef struct bb {
    uint8_t b[4096];
    size_t n;
} bb;

static void put(bb *x, const void *d, size_t n)
{
    REQUIRE(x->n + n <= sizeof(x->b));
    memcpy(x->b + x->n, d, n);
    x->n += n;
}
static void u8(bb *x, uint8_t v) { put(x, &v, 1); }
static void be16(bb *x, uint16_t v) { u8(x, (uint8_t)(v >> 8)), u8(x, (uint8_t)v); }
static void be32(bb *x, uint32_t v) { be16(x, (uint16_t)(v >> 16)), be16(x, (uint16_t)v); }
static void le16(bb *x, uint16_t v) { u8(x, (uint8_t)v), u8(x, (uint8_t)(v >> 8)); }
static void le32(bb *x, uint32_t v) { le16(x, (uint16_t)v), le16(x, (uint16_t)(v >> 16)); }
static void item_str(bb *x, uint8_t type, const char *s)
{
    u8(x, type), u8(x, 0), be16(x, (uint16_t)strlen(s)), put(x, s, strlen(s));
}
static void append(bb *x, const bb *y) { put(x, y->b, y->n); }

/* A PDU of `type` around body. */
static bb pdu(uint8_t type, const bb *body)
{
    bb x = {.n = 0};
    u8(&x, type), u8(&x, 0), be32(&x, (uint32_t)body->n);
    append(&x, body);
    return x;
}

/* A-ASSOCIATE-AC accepting (result) presentation context pcid with transfer syntax ts. */
static bb make_ac(uint8_t pcid, uint8_t result, const char *ts, uint32_t maxpdu)
{
    bb body = {.n = 0}, pc = {.n = 0}, ui = {.n = 0};
    be16(&body, 1), be16(&body, 0);
    put(&body, "CLEANROOM       ", 16), put(&body, "ANY-SCP         ", 16);
    for (int i = 0; i < 32; i++)
        u8(&body, 0);
    item_str(&body, 0x10, PR_DICOM_UID_APP_CONTEXT);
    u8(&pc, pcid), u8(&pc, 0), u8(&pc, result), u8(&pc, 0);
    item_str(&pc, 0x40, ts);
    u8(&body, 0x21), u8(&body, 0), be16(&body, (uint16_t)pc.n), append(&body, &pc);
    u8(&ui, 0x51), u8(&ui, 0), be16(&ui, 4), be32(&ui, maxpdu);
    item_str(&ui, 0x52, "1.2.3.4");
    u8(&body, 0x50), u8(&body, 0), be16(&body, (uint16_t)ui.n), append(&body, &ui);
    return pdu(PR_PDU_ASSOCIATE_AC, &body);
}

static void elem_us(bb *x, uint16_t el, uint16_t v)
{
    le16(x, 0), le16(x, el), le32(x, 2), le16(x, v);
}

/* C-ECHO-RSP command set. */
static bb make_rsp(uint16_t field, uint16_t msgid, uint16_t status)
{
    bb rest = {.n = 0}, x = {.n = 0};
    le16(&rest, 0), le16(&rest, 0x0002), le32(&rest, 18), put(&rest, "1.2.840.10008.1.1\0", 18);
    elem_us(&rest, 0x0100, field);
    elem_us(&rest, 0x0120, msgid);
    elem_us(&rest, 0x0800, 0x0101);
    elem_us(&rest, 0x0900, status);
    le16(&x, 0), le16(&x, 0), le32(&x, 4), le32(&x, (uint32_t)rest.n);
    append(&x, &rest);
    return x;
}

/* P-DATA-TF with one PDV. */
static bb make_pdata(uint8_t pcid, uint8_t control, const bb *data)
{
    bb body = {.n = 0};
    be32(&body, (uint32_t)data->n + 2), u8(&body, pcid), u8(&body, control);
    append(&body, data);
    return pdu(PR_PDU_P_DATA, &body);
}

static bb four(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    bb x = {.n = 0};
    u8(&x, a), u8(&x, b), u8(&x, c), u8(&x, d);
    return x;
}

static int run_echo(pr_ctx *ctx, const bb *stream, size_t chunk)
{
    pr_memio m = {.data = stream->b, .len = stream->n, .chunk = chunk};
    pr_io io;
    pr_io_memory(&io, &m);
    memset(ctx, 0, sizeof(*ctx));
    ctx->timeout = 5;
    ctx->start = cr_time_mono();
    ctx->deadline = ctx->start + 5;
    return pr_dicom_echo(ctx, &io, "CLEANROOM", "ANY-SCP");
}

static void new_ctx(pr_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->timeout = 5;
    ctx->start = cr_time_mono();
    ctx->deadline = ctx->start + 5;
}

/* ------------------------------------------------------------------ DICOM */

static void test_dicom_build(void)
{
    uint8_t out[512];
    size_t n = 0;
    pr_ctx ctx;
    new_ctx(&ctx);
    CHECK_OK(pr_dicom_build_associate_rq(out, sizeof(out), &n, "CLEANROOM", "PACS"));
    CHECK(n > 74 && out[0] == 0x01);
    CHECK(((size_t)out[2] << 24 | (size_t)out[3] << 16 | (size_t)out[4] << 8 | out[5]) == n - 6);
    CHECK(out[6] == 0 && out[7] == 1);                         /* protocol version 1 */
    CHECK(memcmp(out + 10, "PACS            ", 16) == 0);      /* called, space padded */
    CHECK(memcmp(out + 26, "CLEANROOM       ", 16) == 0);      /* calling */
    CHECK(out[74] == 0x10 && out[76] == 0 && out[77] == 21);   /* application context */
    CHECK(memcmp(out + 78, PR_DICOM_UID_APP_CONTEXT, 21) == 0);
    CHECK(out[99] == 0x20 && out[103] == 1);                   /* presentation context id 1 */
    CHECK(pr_dicom_build_associate_rq(out, sizeof(out), &n, "CLEANROOM", "SEVENTEEN-CHARS-X") ==
          CR_EINPUT);
    CHECK(pr_dicom_build_associate_rq(out, sizeof(out), &n, "", "PACS") == CR_EINPUT);
    CHECK(pr_dicom_build_associate_rq(out, sizeof(out), &n, "A\\B", "PACS") == CR_EINPUT);
    CHECK(pr_dicom_build_associate_rq(out, sizeof(out), &n, "    ", "PACS") == CR_EINPUT);
    CHECK(pr_dicom_build_associate_rq(out, 40, &n, "CLEANROOM", "PACS") == CR_ERROR);

    /* The C-ECHO-RQ parses back with our own parsers. */
    CHECK_OK(pr_dicom_build_echo_rq(out, sizeof(out), &n, 7));
    pr_dicom_pdu p;
    REQUIRE(pr_dicom_parse_pdu(&p, &ctx, out, n) == PR_PASS);
    CHECK(p.type == PR_PDU_P_DATA && p.npdv == 1 && p.pdv[0].pc_id == 1 && p.pdv[0].control == 3);
    const uint8_t *c = p.pdv[0].data;
    CHECK(p.pdv[0].len == 68);
    CHECK((c[8] | c[9] << 8 | c[10] << 16 | (uint32_t)c[11] << 24) == p.pdv[0].len - 12);
    pr_dicom_cmd cmd;
    REQUIRE(pr_dicom_parse_command(&cmd, &ctx, c, p.pdv[0].len) == PR_PASS);
    CHECK(cmd.command_field == 0x0030 && !cmd.has_status);
}

static void test_dicom_parse_pdu(void)
{
    pr_ctx ctx;
    pr_dicom_pdu p;
    new_ctx(&ctx);

    bb ac = make_ac(1, 0, PR_DICOM_UID_IMPLICIT_LE, 16384);
    REQUIRE(pr_dicom_parse_pdu(&p, &ctx, ac.b, ac.n) == PR_PASS);
    CHECK(p.type == PR_PDU_ASSOCIATE_AC && p.pc_found && p.pc_result == 0 && p.ts_implicit_le);
    CHECK(p.peer_max_pdu == 16384);

    /* Transfer syntax padded with a NUL, as some implementations send it. */
    bb ac2 = make_ac(1, 0, PR_DICOM_UID_IMPLICIT_LE "\0", 0);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, ac2.b, ac2.n) == PR_PASS && p.ts_implicit_le);
    bb ac3 = make_ac(1, 0, "1.2.840.10008.1.2.1", 0);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, ac3.b, ac3.n) == PR_PASS && !p.ts_implicit_le);
    bb ac4 = make_ac(3, 0, PR_DICOM_UID_IMPLICIT_LE, 0);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, ac4.b, ac4.n) == PR_PASS && !p.pc_found);

    /* Every truncation of a good AC fails cleanly (or is a shorter valid PDU). */
    for (size_t cut = 0; cut < ac.n; cut++)
        CHECK(pr_dicom_parse_pdu(&p, &ctx, ac.b, cut) == PR_FAIL);

    /* Length field disagreeing with the bytes. */
    bb bad = ac;
    bad.b[5]++;
    CHECK(pr_dicom_parse_pdu(&p, &ctx, bad.b, bad.n) == PR_FAIL);
    CHECK(strstr(ctx.msg, "does not match") != NULL);

    /* An item whose length overruns the PDU. */
    bad = ac;
    bad.b[6 + 68 + 2] = 0xff; /* application context item length high byte */
    CHECK(pr_dicom_parse_pdu(&p, &ctx, bad.b, bad.n) == PR_FAIL);
    CHECK(strstr(ctx.msg, "overruns") != NULL);

    /* A sub-item overrunning its presentation context item. */
    bad = ac;
    size_t pc = 6 + 68 + 4 + 21; /* presentation context item */
    REQUIRE(bad.b[pc] == 0x21);
    bad.b[pc + 4 + 4 + 3] += 5; /* transfer syntax sub-item length */
    CHECK(pr_dicom_parse_pdu(&p, &ctx, bad.b, bad.n) == PR_FAIL);

    /* A maximum-length sub-item that is not 4 bytes. */
    bb body = {.n = 0}, ui = {.n = 0};
    for (int i = 0; i < 68; i++)
        u8(&body, 0);
    u8(&ui, 0x51), u8(&ui, 0), be16(&ui, 2), be16(&ui, 1);
    u8(&body, 0x50), u8(&body, 0), be16(&body, (uint16_t)ui.n), append(&body, &ui);
    bb acx = pdu(PR_PDU_ASSOCIATE_AC, &body);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, acx.b, acx.n) == PR_FAIL);

    /* A-ASSOCIATE-RJ, A-ABORT, RELEASE. */
    bb rjb = four(0, 1, 1, 7);
    bb rj = pdu(PR_PDU_ASSOCIATE_RJ, &rjb);
    REQUIRE(pr_dicom_parse_pdu(&p, &ctx, rj.b, rj.n) == PR_PASS);
    CHECK(p.result == 1 && p.source == 1 && p.reason == 7);
    char t[200];
    pr_dicom_reject_text(t, sizeof(t), p.result, p.source, p.reason);
    CHECK(strstr(t, "association rejected by the called AE (called AE title not recognised") == t);
    pr_dicom_reject_text(t, sizeof(t), 2, 3, 2);
    CHECK(strstr(t, "for now") && strstr(t, "local limit exceeded"));
    pr_dicom_reject_text(t, sizeof(t), 9, 9, 99);
    CHECK(strstr(t, "reason 99") != NULL);
    pr_dicom_abort_text(t, sizeof(t), 2, 2);
    CHECK(strstr(t, "unexpected PDU") != NULL);
    pr_dicom_abort_text(t, sizeof(t), 2, 200);
    CHECK(strstr(t, "unknown reason") != NULL);
    bb five = four(0, 1, 1, 7);
    u8(&five, 0);
    bb rj5 = pdu(PR_PDU_ASSOCIATE_RJ, &five);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, rj5.b, rj5.n) == PR_FAIL);
    bb unk = pdu(0x48, &rjb); /* 'H' of "HTTP/1.1" */
    CHECK(pr_dicom_parse_pdu(&p, &ctx, unk.b, unk.n) == PR_FAIL);
    CHECK(strstr(ctx.msg, "unknown PDU type 0x48") != NULL);

    /* P-DATA: PDV lengths. */
    bb e = {.n = 0};
    bb pd0 = pdu(PR_PDU_P_DATA, &e);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, pd0.b, pd0.n) == PR_FAIL);
    bb pdb = {.n = 0};
    be32(&pdb, 1), u8(&pdb, 1); /* PDV length 1 < 2 */
    bb pd1 = pdu(PR_PDU_P_DATA, &pdb);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, pd1.b, pd1.n) == PR_FAIL);
    bb many = {.n = 0};
    for (int i = 0; i < 17; i++)
        be32(&many, 2), u8(&many, 1), u8(&many, 1);
    bb pd17 = pdu(PR_PDU_P_DATA, &many);
    CHECK(pr_dicom_parse_pdu(&p, &ctx, pd17.b, pd17.n) == PR_FAIL);
}

static void test_dicom_command(void)
{
    pr_ctx ctx;
    pr_dicom_cmd c;
    new_ctx(&ctx);
    bb r = make_rsp(0x8030, 1, 0);
    REQUIRE(pr_dicom_parse_command(&c, &ctx, r.b, r.n) == PR_PASS);
    CHECK(c.command_field == 0x8030 && c.msgid_responded == 1 && c.has_status && c.status == 0);
    for (size_t cut = 1; cut < r.n; cut++)
        if (pr_dicom_parse_command(&c, &ctx, r.b, cut) == PR_PASS)
            CHECK(cut >= 12 + 26 + 10); /* only cuts after the command field can pass */

    bb x = {.n = 0};
    elem_us(&x, 0x0120, 1);
    elem_us(&x, 0x0100, 0x8030); /* out of order */
    CHECK(pr_dicom_parse_command(&c, &ctx, x.b, x.n) == PR_FAIL);
    CHECK(strstr(ctx.msg, "out of order") != NULL);
    bb g = {.n = 0};
    le16(&g, 8), le16(&g, 0x0016), le32(&g, 0);
    CHECK(pr_dicom_parse_command(&c, &ctx, g.b, g.n) == PR_FAIL);
    bb l = {.n = 0};
    le16(&l, 0), le16(&l, 0x0100), le32(&l, 4), le32(&l, 0x8030);
    CHECK(pr_dicom_parse_command(&c, &ctx, l.b, l.n) == PR_FAIL);
    bb o = {.n = 0};
    le16(&o, 0), le16(&o, 0x0002), le32(&o, 0xffffffffu);
    CHECK(pr_dicom_parse_command(&c, &ctx, o.b, o.n) == PR_FAIL);
    CHECK(pr_dicom_parse_command(&c, &ctx, o.b, 0) == PR_FAIL); /* no command field */
}

static void test_dicom_conversation(void)
{
    pr_ctx ctx;
    bb ac = make_ac(1, 0, PR_DICOM_UID_IMPLICIT_LE, 16384);
    bb rsp = make_rsp(0x8030, 1, 0x0000);
    bb pd = make_pdata(1, 0x03, &rsp);
    bb z = four(0, 0, 0, 0);
    bb rp = pdu(PR_PDU_RELEASE_RP, &z);
    bb ok = {.n = 0};
    append(&ok, &ac), append(&ok, &pd), append(&ok, &rp);
    CHECK(run_echo(&ctx, &ok, 0) == PR_PASS);
    CHECK(strstr(ctx.msg, "C-ECHO status 0x0000 (success)") == ctx.msg);
    CHECK(run_echo(&ctx, &ok, 1) == PR_PASS); /* one byte per read */
    CHECK(strstr(ctx.msg, "release") == NULL);

    /* Release not answered: still a pass, noted. */
    bb norel = {.n = 0};
    append(&norel, &ac), append(&norel, &pd);
    CHECK(run_echo(&ctx, &norel, 0) == PR_PASS);
    CHECK(strstr(ctx.msg, "release was not answered") != NULL);

    /* The command split over two PDVs in two PDUs. */
    bb h1 = {.n = 0}, h2 = {.n = 0};
    put(&h1, rsp.b, 20), put(&h2, rsp.b + 20, rsp.n - 20);
    bb p1 = make_pdata(1, 0x01, &h1), p2 = make_pdata(1, 0x03, &h2);
    bb split = {.n = 0};
    append(&split, &ac), append(&split, &p1), append(&split, &p2), append(&split, &rp);
    CHECK(run_echo(&ctx, &split, 0) == PR_PASS);

    /* Failures, each in words. */
    struct {
        bb stream;
        const char *want;
    } cases[8];
    size_t nc = 0;
    bb rjb = four(0, 1, 1, 3);
    cases[nc].stream = pdu(PR_PDU_ASSOCIATE_RJ, &rjb);
    cases[nc++].want = "association rejected by the called AE (calling AE title not recognised";
    bb abb = four(0, 0, 2, 1);
    cases[nc].stream = pdu(PR_PDU_ABORT, &abb);
    cases[nc++].want = "association aborted by the peer's DICOM layer (unrecognised PDU) in answer";
    cases[nc].stream = make_ac(1, 3, PR_DICOM_UID_IMPLICIT_LE, 0);
    cases[nc++].want = "Verification (C-ECHO) abstract syntax not supported";
    cases[nc].stream = make_ac(1, 0, "1.2.840.10008.1.2.1", 0);
    cases[nc++].want = "transfer syntax that was not proposed";
    bb bad = make_rsp(0x8030, 1, 0x0122);
    bb pdbad = make_pdata(1, 3, &bad);
    cases[nc].stream = ac, append(&cases[nc].stream, &pdbad);
    cases[nc++].want = "C-ECHO status 0x0122 (SOP class not supported)";
    bb wrongid = make_rsp(0x8030, 9, 0);
    bb pdw = make_pdata(1, 3, &wrongid);
    cases[nc].stream = ac, append(&cases[nc].stream, &pdw);
    cases[nc++].want = "answers message 9, not ours (1)";
    bb pdpc = make_pdata(3, 3, &rsp);
    cases[nc].stream = ac, append(&cases[nc].stream, &pdpc);
    cases[nc++].want = "presentation context 3";
    cases[nc].stream = ac;
    cases[nc++].want = "the peer closed the connection before answering the C-ECHO";
    for (size_t i = 0; i < nc; i++) {
        CHECK(run_echo(&ctx, &cases[i].stream, 0) == PR_FAIL);
        if (!strstr(ctx.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, ctx.msg, cases[i].want);
            CHECK(0);
        }
    }

    /* A huge announced PDU is refused before reading it. */
    bb huge = {.n = 0};
    u8(&huge, 2), u8(&huge, 0), be32(&huge, 0x7fffffff);
    CHECK(run_echo(&ctx, &huge, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "more than the") != NULL);

    /* Every truncation of the good conversation ends cleanly. */
    for (size_t cut = 0; cut < ac.n + pd.n; cut++) {
        bb t = {.n = 0};
        put(&t, ok.b, cut);
        CHECK(run_echo(&ctx, &t, 0) == PR_FAIL);
    }
}

/* -------------------------------------------------------------------- HL7 */

static void test_hl7_build(void)
{
    char *m = NULL;
    size_t n = 0;
    CHECK_OK(pr_hl7_build_message(&m, &n, NULL, "CR0123456789abcdef"));
    REQUIRE(m);
    CHECK(strncmp(m, "MSH|^~\\&|CLEANROOM|CLEANROOM|||", 31) == 0);
    CHECK(strstr(m, "||ADT^A01^ADT_A01|CR0123456789abcdef|T|2.5.1\r") != NULL);
    CHECK(strstr(m, "\rEVN|A01|") && strstr(m, "\rPID|") && !strchr(m, '\n'));
    CHECK(n == strlen(m) && m[n - 1] == '\r');
    free(m);

    CHECK_OK(pr_hl7_build_message(&m, &n, "MSH|^~\\&|A|B|C|D|2026||ORU^R01|OLD|P|2.3\r\nOBX|1\n\n",
                                  "NEWID"));
    CHECK(m && strcmp(m, "MSH|^~\\&|A|B|C|D|2026||ORU^R01|NEWID|P|2.3\rOBX|1\r") == 0);
    free(m);
    /* MSH-10 last field of the segment, other separator. */
    CHECK_OK(pr_hl7_build_message(&m, &n, "MSH#^~\\&#A#B#C#D#2026##ORU^R01#OLD", "X1"));
    CHECK(m && strcmp(m, "MSH#^~\\&#A#B#C#D#2026##ORU^R01#X1\r") == 0);
    free(m);
    m = NULL;
    CHECK(pr_hl7_build_message(&m, &n, "MSH|^~\\&|A|B|C\rPID|1", "X") == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "MSH-10") != NULL);
    CHECK(pr_hl7_build_message(&m, &n, "PID|1||X", "X") == CR_EINPUT);
    CHECK(pr_hl7_build_message(&m, &n, "MSHA^~\\&|A|B|C|D|E|F|G|H|I", "X") == CR_EINPUT);
    CHECK(pr_hl7_build_message(&m, &n, "MSH|^~\\&|A|B|C|D|E|F|G|H|I\x0b", "X") == CR_EINPUT);
    CHECK(pr_hl7_build_message(&m, &n, "", "X") == CR_EINPUT);
    CHECK(m == NULL);
}

static int parse_ack_str(pr_hl7_ack *a, pr_ctx *ctx, const char *s)
{
    return pr_hl7_parse_ack(a, ctx, (const uint8_t *)s, strlen(s));
}

static void test_hl7_ack(void)
{
    pr_ctx ctx;
    pr_hl7_ack a;
    new_ctx(&ctx);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E|F|||2026||ACK|1|P|2.5\rMSA|AA|CR42\r") == PR_PASS);
    CHECK(strcmp(a.code, "AA") == 0 && strcmp(a.control_id, "CR42") == 0 && a.text[0] == 0);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\nMSA|AE|CR42|unknown patient class\n") == PR_PASS);
    CHECK(strcmp(a.code, "AE") == 0 && strcmp(a.text, "unknown patient class") == 0);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\r\nMSA|AR|CR42\r\nERR|||207|E||||bad field\r\n") ==
          PR_PASS);
    CHECK(strcmp(a.code, "AR") == 0 && strcmp(a.text, "bad field") == 0);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rMSA|CE|CR42\rERR|PID^1^5^invalid\r") == PR_PASS);
    CHECK(strcmp(a.text, "PID^1^5^invalid") == 0);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rMSA|AE|CR42|evil\x1b[2Jtext\r") == PR_PASS);
    CHECK(strcmp(a.text, "evil?[2Jtext") == 0);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rMSA|AA\r") == PR_PASS && a.control_id[0] == 0);

    CHECK(parse_ack_str(&a, &ctx, "") == PR_FAIL);
    CHECK(parse_ack_str(&a, &ctx, "\r\n\r") == PR_FAIL);
    CHECK(parse_ack_str(&a, &ctx, "HTTP/1.1 200 OK\r\n") == PR_FAIL);
    CHECK(strstr(ctx.msg, "does not start with an MSH segment: 'HTTP/1.1 200 OK'") != NULL);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rPID|1\r") == PR_FAIL);
    CHECK(strstr(ctx.msg, "no MSA segment") != NULL);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rMSA|OK|1\r") == PR_FAIL);
    CHECK(strstr(ctx.msg, "unknown acknowledgment code (MSA-1) 'OK'") != NULL);
    CHECK(parse_ack_str(&a, &ctx, "MSH|^~\\&|E\rMSA\r") == PR_FAIL);
    CHECK(parse_ack_str(&a, &ctx, "MSH") == PR_FAIL);
    CHECK(parse_ack_str(&a, &ctx, "MSHA") == PR_FAIL);

    /* Long fields are cut, never overflow. */
    char big[2000];
    memset(big, 'x', sizeof(big));
    int k = snprintf(big, sizeof(big), "MSH|^~\\&|E\rMSA|AE|");
    memset(big + k, 'y', 1500);
    big[k + 1500] = '\0';
    CHECK(parse_ack_str(&a, &ctx, big) == PR_PASS);
    CHECK(strlen(a.control_id) < sizeof(a.control_id) && strstr(a.control_id, "..."));
}

static int read_frame_str(uint8_t **out, size_t *n, pr_ctx *ctx, const void *d, size_t len,
                          size_t chunk)
{
    pr_memio m = {.data = d, .len = len, .chunk = chunk};
    pr_io io;
    pr_io_memory(&io, &m);
    return pr_hl7_read_frame(out, n, ctx, &io);
}

static void test_hl7_frame(void)
{
    pr_ctx ctx;
    uint8_t *f = NULL;
    size_t n = 0;
    new_ctx(&ctx);
    static const char good[] = "\r\n\x0bMSH|x\rMSA|AA|1\r\x1c\rtrailing";
    for (size_t chunk = 0; chunk < 4; chunk++) {
        CHECK(read_frame_str(&f, &n, &ctx, good, sizeof(good) - 1, chunk) == PR_PASS);
        CHECK(f && n == 15 && memcmp(f, "MSH|x\rMSA|AA|1\r", 15) == 0);
        free(f);
        f = NULL;
    }
    CHECK(read_frame_str(&f, &n, &ctx, "", 0, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "without answering") != NULL);
    CHECK(read_frame_str(&f, &n, &ctx, "\x0bMSH|", 5, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "in the middle") != NULL);
    CHECK(read_frame_str(&f, &n, &ctx, "\x0bMSH\x1cX", 6, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "not followed by 0x0d") != NULL);
    CHECK(read_frame_str(&f, &n, &ctx, "SSH-2.0-OpenSSH\r\n", 17, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "byte 0x53") != NULL);
    CHECK(f == NULL);

    size_t biglen = PR_HL7_MAX_FRAME + 10;
    uint8_t *big = malloc(biglen);
    REQUIRE(big);
    memset(big, 'A', biglen);
    big[0] = PR_MLLP_START;
    CHECK(read_frame_str(&f, &n, &ctx, big, biglen, 0) == PR_FAIL);
    CHECK(strstr(ctx.msg, "larger than") != NULL);
    /* Exactly at the bound: the end bytes are the last two the buffer holds. */
    big[PR_HL7_MAX_FRAME - 2] = PR_MLLP_END1;
    big[PR_HL7_MAX_FRAME - 1] = PR_MLLP_END2;
    CHECK(read_frame_str(&f, &n, &ctx, big, biglen, 0) == PR_PASS);
    CHECK(n == PR_HL7_MAX_FRAME - 3);
    free(f);
    free(big);
}

static void test_hl7_exchange(void)
{
    pr_ctx ctx;
    static const char msg[] = "MSH|^~\\&|A|B|C|D|E||ADT^A01|CR1|T|2.5.1\r";
    static const char ack_ok[] = "\x0bMSH|^~\\&|P|Q\rMSA|CA|CR1\r\x1c\r";
    static const char ack_other[] = "\x0bMSH|^~\\&|P|Q\rMSA|AA|CR2\r\x1c\r";
    static const char ack_ae[] = "\x0bMSH|^~\\&|P|Q\rMSA|AE|CR1|no bed\r\x1c\r";
    struct {
        const char *in;
        int want;
        const char *text;
    } cases[] = {
        {ack_ok, PR_PASS, "ACK code CA in "},
        {ack_other, PR_FAIL, "ACK AA for message 'CR2', not for ours ('CR1')"},
        {ack_ae, PR_FAIL, "ACK code AE: no bed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pr_memio m = {.data = (const uint8_t *)cases[i].in, .len = strlen(cases[i].in)};
        pr_io io;
        pr_io_memory(&io, &m);
        new_ctx(&ctx);
        CHECK(pr_hl7_exchange(&ctx, &io, (const uint8_t *)msg, strlen(msg), "CR1") == cases[i].want);
        CHECK(strstr(ctx.msg, cases[i].text) == ctx.msg);
        CHECK(m.written == strlen(msg) + 3);
    }
}

/* ---------------------------------------------------------------- general */

static void test_clean_text(void)
{
    char out[16];
    pr_clean_text(out, sizeof(out), (const uint8_t *)"ab\ncd\x80", 6, 100);
    CHECK(strcmp(out, "ab?cd?") == 0);
    pr_clean_text(out, sizeof(out), (const uint8_t *)"0123456789abcdefghij", 20, 100);
    CHECK(strcmp(out, "0123456789ab...") == 0);
    pr_clean_text(out, sizeof(out), (const uint8_t *)"0123456789", 10, 4);
    CHECK(strcmp(out, "0123...") == 0);
    pr_clean_text(out, 4, (const uint8_t *)"0123456789", 10, 100);
    CHECK(strcmp(out, "...") == 0);
}

static void test_names(void)
{
    cr_probe_kind k;
    static const cr_probe_kind all[] = {CR_PROBE_TCP,   CR_PROBE_HTTP,  CR_PROBE_LDAP,
                                        CR_PROBE_POSTGRES, CR_PROBE_DICOM, CR_PROBE_HL7};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        CHECK_OK(cr_probe_kind_parse(&k, cr_probe_kind_name(all[i])));
        CHECK(k == all[i]);
    }
    CHECK(cr_probe_kind_parse(&k, "HTTPS") == 0 && k == CR_PROBE_HTTP);
    CHECK(cr_probe_kind_parse(&k, "postgresql") == 0 && k == CR_PROBE_POSTGRES);
    CHECK(cr_probe_kind_parse(&k, "pg") == 0 && k == CR_PROBE_POSTGRES);
    CHECK(cr_probe_kind_parse(&k, "mllp") == 0 && k == CR_PROBE_HL7);
    CHECK(cr_probe_kind_parse(&k, "gopher") == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "gopher") != NULL);
    CHECK(strcmp(cr_probe_kind_name((cr_probe_kind)99), "unknown") == 0);

    cr_probe_spec s;
    cr_probe_spec_init(&s, CR_PROBE_LDAP);
    CHECK(s.kind == CR_PROBE_LDAP && s.timeout == 5.0 && s.retries == 2 && s.interval == 2.0 &&
          s.min_entries == 1 && s.host == NULL);
    s.host = cr_strdup("h");
    s.message = cr_strdup("m");
    cr_probe_spec_clear(&s);
    CHECK(s.host == NULL && s.message == NULL);
    cr_probe_spec_clear(NULL);
}

/* A listening socket on 127.0.0.1 (accepts, never answers); its port in *port. */
static int listener(unsigned int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 8) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_run(void)
{
    cr_probe_spec s;
    cr_probe_result r;
    unsigned int port, closed;
    int lfd = listener(&port);
    int cfd = listener(&closed);
    close(cfd); /* nothing listens there now */

    /* Spec checks: CR_EINPUT before any attempt. */
    cr_probe_spec_init(&s, CR_PROBE_TCP);
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT && r.attempts == 0);
    s.kind = CR_PROBE_HTTP;
    s.url = cr_strdup("ftp://example/");
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);
    s.kind = CR_PROBE_LDAP;
    free(s.url);
    s.url = cr_strdup("not a url");
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);
    free(s.url);
    s.url = NULL;
    s.bind_dn = cr_strdup("cn=admin");
    s.password_env = cr_strdup("CR_TEST_PROBE_UNSET");
    unsetenv("CR_TEST_PROBE_UNSET");
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);
    CHECK(strstr(cr_error_last(), "CR_TEST_PROBE_UNSET") != NULL);
    cr_probe_spec_clear(&s);
    cr_probe_spec_init(&s, CR_PROBE_POSTGRES);
    s.conninfo = cr_strdup("host=x password=p");
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);
    free(s.conninfo);
    s.conninfo = cr_strdup("host='unterminated");
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);
    cr_probe_spec_clear(&s);
    cr_probe_spec_init(&s, (cr_probe_kind)42);
    CHECK(cr_probe_run(&r, &s, NULL) == CR_EINPUT);

    /* TCP: pass, refused with retries, cancelled. */
    cr_probe_spec_init(&s, CR_PROBE_TCP);
    s.port = port;
    s.interval = 0;
    CHECK_OK(cr_probe_run(&r, &s, NULL));
    CHECK(r.ok && r.attempts == 1 && strstr(r.message, "TCP 127.0.0.1:") == r.message);
    s.port = closed;
    s.retries = 2;
    CHECK_OK(cr_probe_run(&r, &s, NULL));
    CHECK(!r.ok && r.attempts == 3 && strstr(r.message, "connection refused") &&
          strstr(r.message, "(3 attempts)"));
    volatile int cancel = 1;
    CHECK(cr_probe_run(&r, &s, &cancel) == CR_EINTR && r.attempts == 0);

    /* DICOM and HL7 against a peer that never answers: bounded by the timeout. */
    cr_probe_spec_init(&s, CR_PROBE_DICOM);
    s.port = port;
    s.timeout = 0.2;
    s.retries = 1;
    s.interval = 0;
    CHECK_OK(cr_probe_run(&r, &s, NULL));
    CHECK(!r.ok && r.attempts == 2 && strstr(r.message, "timed out after 0.2 s") &&
          strstr(r.message, "(2 attempts)"));
    s.kind = CR_PROBE_HL7;
    CHECK_OK(cr_probe_run(&r, &s, NULL));
    CHECK(!r.ok && strstr(r.message, "HL7 127.0.0.1:") && strstr(r.message, "timed out"));
    cr_probe_spec_clear(&s);
    close(lfd);
}

/* The address each kind of probe tests, and "is it answered already?". */
static void test_address(void)
{
    static const struct {
        cr_probe_kind kind;
        const char *url, *host, *conninfo;
        unsigned int port;
        const char *want_host;
        unsigned int want_port;
    } cases[] = {
        {CR_PROBE_HTTP, "http://10.0.0.5/health", NULL, NULL, 0, "10.0.0.5", 80},
        {CR_PROBE_HTTP, "HTTPS://dpi.local:8443/x?y#z", NULL, NULL, 0, "dpi.local", 8443},
        {CR_PROBE_HTTP, "http://user:p@ss@[::1]:8080/", NULL, NULL, 0, "::1", 8080},
        {CR_PROBE_HTTP, "http://h:99999/", NULL, NULL, 0, "", 0},
        {CR_PROBE_LDAP, "ldaps://dc01.ght.local", NULL, NULL, 0, "dc01.ght.local", 636},
        {CR_PROBE_LDAP, "ldapi://%2fvar%2frun%2fslapd", NULL, NULL, 0, "", 0},
        {CR_PROBE_LDAP, NULL, "10.1.1.1", NULL, 0, "10.1.1.1", 389},
        {CR_PROBE_POSTGRES, NULL, NULL, "host=10.0.0.7 port=5433 dbname=x", 0, "10.0.0.7", 5433},
        {CR_PROBE_POSTGRES, NULL, NULL, "host=a,b dbname=x", 0, "a", 5432},
        {CR_PROBE_POSTGRES, NULL, NULL, "host=/run/postgresql dbname=x", 0, "", 0},
        {CR_PROBE_POSTGRES, NULL, NULL, "dbname=x", 0, "", 0},
        {CR_PROBE_TCP, NULL, NULL, NULL, 22, "127.0.0.1", 22},
        {CR_PROBE_DICOM, NULL, "pacs", NULL, 0, "pacs", 104},
        {CR_PROBE_HL7, NULL, "lis", NULL, 0, "lis", 2575},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_probe_spec s;
        char host[256];
        unsigned int port = 7;
        cr_probe_spec_init(&s, cases[i].kind);
        s.url = cases[i].url ? cr_strdup(cases[i].url) : NULL;
        s.host = cases[i].host ? cr_strdup(cases[i].host) : NULL;
        s.conninfo = cases[i].conninfo ? cr_strdup(cases[i].conninfo) : NULL;
        s.port = cases[i].port;
        CHECK_OK(pr_probe_address(host, sizeof(host), &port, &s));
        if (strcmp(host, cases[i].want_host) != 0 || port != cases[i].want_port)
            fprintf(stderr, "case %zu: got '%s' %u\n", i, host, port);
        CHECK(strcmp(host, cases[i].want_host) == 0 && port == cases[i].want_port);
        cr_probe_spec_clear(&s);
    }

    /* answered: a listener is; a closed port is not */
    unsigned int port, closed;
    int lfd = listener(&port);
    int cfd = listener(&closed);
    close(cfd);
    cr_probe_spec s;
    char addr[300];
    int answered = -1;
    cr_probe_spec_init(&s, CR_PROBE_HTTP);
    s.url = cr_sprintf("http://127.0.0.1:%u/", port);
    CHECK_OK(pr_probe_answered(&answered, addr, sizeof(addr), &s, 1.0));
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    CHECK(answered == 1 && strcmp(addr, want) == 0);
    free(s.url);
    s.url = cr_sprintf("http://127.0.0.1:%u/", closed);
    CHECK_OK(pr_probe_answered(&answered, addr, sizeof(addr), &s, 1.0));
    CHECK(answered == 0);
    cr_probe_spec_clear(&s);
    close(lfd);
}

/* A DNS reply (id 0x1234) to a question for `q` with `an` answer records. */
static size_t dns_reply(uint8_t *out, int rcode, int an, const uint8_t *body, size_t blen)
{
    static const uint8_t q[] = "\x05_ldap\x04_tcp\x02" "dc\x06_msdcs\x07" "example\x03" "org";
    size_t n = 0;
    uint8_t h[12] = {0x12, 0x34, 0x81, (uint8_t)(0x80 | rcode), 0, 1, 0, (uint8_t)an, 0, 0, 0, 0};
    memcpy(out, h, 12), n = 12;
    memcpy(out + n, q, sizeof(q)), n += sizeof(q); /* with its final 0 */
    memcpy(out + n, "\x00\x21\x00\x01", 4), n += 4;
    if (blen)
        memcpy(out + n, body, blen), n += blen;
    return n;
}

static void test_dns_judge(void)
{
    static const uint8_t srv[] = "\xc0\x0c\x00\x21\x00\x01\x00\x00\x02\x58\x00\x17"
                                 "\x00\x00\x00\x64\x01\x85\x03" "dc1\x07" "example\x03" "org";
    static const uint8_t a[] = "\xc0\x0c\x00\x01\x00\x01\x00\x00\x02\x58\x00\x04\x0a\x00\x00\x01";
    const char *name = "_ldap._tcp.dc._msdcs.example.org";
    uint8_t m[512];
    pr_ctx ctx;
    int t;

    CHECK(pr_dns_type_parse(&t, "srv") == 0 && t == 33);
    CHECK(pr_dns_type_parse(&t, "MX") == CR_EINPUT);
    memset(&ctx, 0, sizeof(ctx));
    size_t n = dns_reply(m, 0, 1, srv, sizeof(srv)); /* the name ends with the string's 0 */
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, NULL) == PR_PASS);
    CHECK(strstr(ctx.msg, "SRV _ldap._tcp.dc._msdcs.example.org: dc1.example.org:389 in") != NULL);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, "DC1.example.org.") == PR_PASS);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, "dc1.example.org:389") == PR_PASS);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, "dc2.example.org") == PR_FAIL);
    CHECK(strstr(ctx.msg, "no record is 'dc2.example.org' (got dc1.example.org:389)") != NULL);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1235, name, 33, NULL) == PR_FAIL); /* not our id */
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 1, NULL) == PR_FAIL);
    CHECK(strstr(ctx.msg, "exists but has no A record") != NULL);
    n = dns_reply(m, 0, 1, a, sizeof(a) - 1);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 1, "10.0.0.1") == PR_PASS);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 1, "10.0.0.2") == PR_FAIL);
    n = dns_reply(m, 3, 0, NULL, 0);
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, NULL) == PR_FAIL);
    CHECK(strstr(ctx.msg, "NXDOMAIN: no such name") != NULL);
    n = dns_reply(m, 0, 1, srv, 20); /* the record cut short */
    CHECK(pr_dns_judge(&ctx, m, n, 0x1234, name, 33, NULL) == PR_FAIL);
}

int main(void)
{
    test_clean_text();
    test_names();
    test_dicom_build();
    test_dicom_parse_pdu();
    test_dicom_command();
    test_dicom_conversation();
    test_hl7_build();
    test_hl7_ack();
    test_hl7_frame();
    test_hl7_exchange();
    test_run();
    test_address();
    test_dns_judge();
    return test_summary("test_probe");
}
