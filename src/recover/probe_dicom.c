/*
 * DICOM C-ECHO ("DICOM ping"), written from the standard: PS3.8 (the upper
 * layer: A-ASSOCIATE, P-DATA-TF, A-RELEASE, A-ABORT PDUs, section 9.3) and
 * PS3.7 (the C-ECHO command set, section 9.3.5, Annex E; Implicit VR Little
 * Endian, PS3.5 section 7.1.3).
 *
 * The conversation:
 *   -> A-ASSOCIATE-RQ  application context 1.2.840.10008.3.1.1.1, one
 *                      presentation context (id 1): Verification SOP class
 *                      1.2.840.10008.1.1 with Implicit VR Little Endian;
 *                      user information: maximum length, implementation
 *                      class UID and version name
 *   <- A-ASSOCIATE-AC  (or -RJ / A-ABORT: reported in words)
 *   -> P-DATA-TF       C-ECHO-RQ command
 *   <- P-DATA-TF       C-ECHO-RSP command: status 0x0000 is success
 *   -> A-RELEASE-RQ
 *   <- A-RELEASE-RP
 *
 * Everything the peer sends is parsed with every length checked against what
 * is left and against fixed maxima (PR_DICOM_MAX_*); fuzz/fuzz_dicom.c runs
 * this whole conversation against arbitrary bytes.
 */
#include "recover/probe_priv.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our implementation class UID (PS3.7 D.3.3.2 makes it mandatory): a UUID
 * derived UID (PS3.5 B.2), fixed for this implementation. */
#define PR_DICOM_IMPL_UID "2.25.155039917717521277160914030427870994254"
#define PR_DICOM_IMPL_VERSION "CLEANROOM_" "010"
#define PR_DICOM_PCID 1

/* ---------------------------------------------------------------- writing */

typedef struct wr {
    uint8_t *p;
    size_t len, cap;
    int over;
} wr;

static void w_bytes(wr *w, const void *d, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, d, n);
    w->len += n;
}
static void w_u8(wr *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_be16(wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, b, 2);
}
static void w_be32(wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    w_bytes(w, b, 4);
}
static void w_le16(wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_bytes(w, b, 2);
}
static void w_le32(wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(w, b, 4);
}
/* Patch a big-endian length at `at` to the bytes written after `from`. */
static void w_patch_be16(wr *w, size_t at, size_t from)
{
    if (w->over)
        return;
    size_t n = w->len - from;
    w->p[at] = (uint8_t)(n >> 8);
    w->p[at + 1] = (uint8_t)n;
}
static void w_patch_be32(wr *w, size_t at, size_t from)
{
    if (w->over)
        return;
    size_t n = w->len - from;
    w->p[at] = (uint8_t)(n >> 24);
    w->p[at + 1] = (uint8_t)(n >> 16);
    w->p[at + 2] = (uint8_t)(n >> 8);
    w->p[at + 3] = (uint8_t)n;
}
/* An item or sub-item holding a string: type, reserved, 2-byte length, bytes. */
static void w_item_str(wr *w, uint8_t type, const char *s)
{
    w_u8(w, type);
    w_u8(w, 0);
    w_be16(w, (uint16_t)strlen(s));
    w_bytes(w, s, strlen(s));
}

/* An AE title: 1 to 16 characters of the default repertoire, no backslash. */
int pr_dicom_check_ae(const char *ae, const char *which)
{
    size_t n = strlen(ae);
    if (n == 0 || n > 16) {
        cr_error_set("the DICOM %s AE title '%s' must have 1 to 16 characters", which, ae);
        return CR_EINPUT;
    }
    int blank = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ae[i];
        if (c < 0x20 || c >= 0x7f || c == '\\') {
            cr_error_set("the DICOM %s AE title may only hold printable characters, without "
                         "backslash", which);
            return CR_EINPUT;
        }
        if (c != ' ')
            blank = 0;
    }
    if (blank) {
        cr_error_set("the DICOM %s AE title is blank", which);
        return CR_EINPUT;
    }
    return 0;
}

static void w_ae(wr *w, const char *ae)
{
    char b[16];
    memset(b, ' ', sizeof(b));
    memcpy(b, ae, strlen(ae));
    w_bytes(w, b, sizeof(b));
}

int pr_dicom_build_associate_rq(uint8_t *out, size_t outlen, size_t *written,
                                const char *calling_ae, const char *called_ae)
{
    int err;
    if ((err = pr_dicom_check_ae(called_ae, "called")) < 0 ||
        (err = pr_dicom_check_ae(calling_ae, "calling")) < 0)
        return err;
    wr w = {out, 0, outlen, 0};
    w_u8(&w, PR_PDU_ASSOCIATE_RQ);
    w_u8(&w, 0);
    w_be32(&w, 0);
    w_be16(&w, 0x0001); /* protocol version */
    w_be16(&w, 0);
    w_ae(&w, called_ae);
    w_ae(&w, calling_ae);
    uint8_t zero[32] = {0};
    w_bytes(&w, zero, sizeof(zero));
    w_item_str(&w, 0x10, PR_DICOM_UID_APP_CONTEXT);

    size_t pc = w.len;
    w_u8(&w, 0x20);
    w_u8(&w, 0);
    w_be16(&w, 0);
    w_u8(&w, PR_DICOM_PCID);
    w_u8(&w, 0);
    w_u8(&w, 0);
    w_u8(&w, 0);
    w_item_str(&w, 0x30, PR_DICOM_UID_VERIFICATION);
    w_item_str(&w, 0x40, PR_DICOM_UID_IMPLICIT_LE);
    w_patch_be16(&w, pc + 2, pc + 4);

    size_t ui = w.len;
    w_u8(&w, 0x50);
    w_u8(&w, 0);
    w_be16(&w, 0);
    w_u8(&w, 0x51);
    w_u8(&w, 0);
    w_be16(&w, 4);
    w_be32(&w, PR_DICOM_MAX_PDU);
    w_item_str(&w, 0x52, PR_DICOM_IMPL_UID);
    w_item_str(&w, 0x55, PR_DICOM_IMPL_VERSION);
    w_patch_be16(&w, ui + 2, ui + 4);

    w_patch_be32(&w, 2, 6);
    if (w.over) {
        cr_error_set("internal error: A-ASSOCIATE-RQ buffer too small");
        return CR_ERROR;
    }
    *written = w.len;
    return 0;
}

int pr_dicom_build_echo_rq(uint8_t *out, size_t outlen, size_t *written, uint16_t msgid)
{
    static const char uid[] = PR_DICOM_UID_VERIFICATION; /* 17 characters: pad to 18 */
    wr w = {out, 0, outlen, 0};
    w_u8(&w, PR_PDU_P_DATA);
    w_u8(&w, 0);
    w_be32(&w, 0);
    size_t pdv = w.len;
    w_be32(&w, 0);
    w_u8(&w, PR_DICOM_PCID);
    w_u8(&w, 0x03); /* command, last fragment */

    size_t uidlen = sizeof(uid) - 1, padded = uidlen + (uidlen & 1);
    uint32_t group_len = (uint32_t)((8 + padded) + 3 * (8 + 2) + 0);
    /* (0000,0000) CommandGroupLength UL */
    w_le16(&w, 0x0000);
    w_le16(&w, 0x0000);
    w_le32(&w, 4);
    w_le32(&w, group_len);
    /* (0000,0002) AffectedSOPClassUID UI, padded with NUL to an even length */
    w_le16(&w, 0x0000);
    w_le16(&w, 0x0002);
    w_le32(&w, (uint32_t)padded);
    w_bytes(&w, uid, uidlen);
    if (padded != uidlen)
        w_u8(&w, 0);
    /* (0000,0100) CommandField US: C-ECHO-RQ */
    w_le16(&w, 0x0000);
    w_le16(&w, 0x0100);
    w_le32(&w, 2);
    w_le16(&w, 0x0030);
    /* (0000,0110) MessageID US */
    w_le16(&w, 0x0000);
    w_le16(&w, 0x0110);
    w_le32(&w, 2);
    w_le16(&w, msgid);
    /* (0000,0800) CommandDataSetType US: no data set */
    w_le16(&w, 0x0000);
    w_le16(&w, 0x0800);
    w_le32(&w, 2);
    w_le16(&w, 0x0101);

    w_patch_be32(&w, pdv, pdv + 4);
    w_patch_be32(&w, 2, 6);
    if (w.over) {
        cr_error_set("internal error: C-ECHO-RQ buffer too small");
        return CR_ERROR;
    }
    *written = w.len;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Does the UID field (possibly padded with NUL or space) equal uid? */
static int uid_equals(const uint8_t *p, size_t n, const char *uid)
{
    while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' '))
        n--;
    return n == strlen(uid) && memcmp(p, uid, n) == 0;
}

static int parse_ac(pr_dicom_pdu *out, pr_ctx *ctx, const uint8_t *b, size_t n)
{
    /* version(2) reserved(2) called(16) calling(16) reserved(32) */
    if (n < 68)
        return pr_fail(ctx, "A-ASSOCIATE-AC too short (%zu bytes)", n);
    size_t pos = 68;
    while (pos < n) {
        if (n - pos < 4)
            return pr_fail(ctx, "A-ASSOCIATE-AC: truncated item header at byte %zu", pos);
        uint8_t type = b[pos];
        size_t ilen = be16(b + pos + 2);
        if (ilen > n - pos - 4)
            return pr_fail(ctx, "A-ASSOCIATE-AC: item 0x%02x of %zu bytes overruns the PDU", type,
                           ilen);
        const uint8_t *it = b + pos + 4;
        if (type == 0x21) {
            if (ilen < 4)
                return pr_fail(ctx, "A-ASSOCIATE-AC: presentation context item too short");
            int ours = it[0] == PR_DICOM_PCID;
            if (ours) {
                out->pc_found = 1;
                out->pc_result = it[2];
                out->ts_implicit_le = 0;
            }
            size_t sp = 4;
            while (sp < ilen) {
                if (ilen - sp < 4)
                    return pr_fail(ctx, "A-ASSOCIATE-AC: truncated sub-item header");
                size_t slen = be16(it + sp + 2);
                if (slen > ilen - sp - 4)
                    return pr_fail(ctx, "A-ASSOCIATE-AC: sub-item overruns its item");
                if (ours && it[sp] == 0x40)
                    out->ts_implicit_le = uid_equals(it + sp + 4, slen, PR_DICOM_UID_IMPLICIT_LE);
                sp += 4 + slen;
            }
        } else if (type == 0x50) {
            size_t sp = 0;
            while (sp < ilen) {
                if (ilen - sp < 4)
                    return pr_fail(ctx, "A-ASSOCIATE-AC: truncated user information sub-item");
                size_t slen = be16(it + sp + 2);
                if (slen > ilen - sp - 4)
                    return pr_fail(ctx, "A-ASSOCIATE-AC: user information sub-item overruns");
                if (it[sp] == 0x51) {
                    if (slen != 4)
                        return pr_fail(ctx, "A-ASSOCIATE-AC: maximum length sub-item of %zu bytes",
                                       slen);
                    out->peer_max_pdu = be32(it + sp + 4);
                }
                sp += 4 + slen;
            }
        } else if (type != 0x10) {
            /* Items we do not need (PS3.8 9.3.1: unknown items are ignored). */
        }
        pos += 4 + ilen;
    }
    return PR_PASS;
}

static int parse_pdata(pr_dicom_pdu *out, pr_ctx *ctx, const uint8_t *b, size_t n)
{
    size_t pos = 0;
    if (n == 0)
        return pr_fail(ctx, "P-DATA-TF without any PDV");
    while (pos < n) {
        if (n - pos < 4)
            return pr_fail(ctx, "P-DATA-TF: truncated PDV length");
        uint32_t ilen = be32(b + pos);
        if (ilen < 2 || ilen > n - pos - 4)
            return pr_fail(ctx, "P-DATA-TF: PDV of %u bytes does not fit", ilen);
        if (out->npdv == sizeof(out->pdv) / sizeof(out->pdv[0]))
            return pr_fail(ctx, "P-DATA-TF with more than %zu PDVs",
                           sizeof(out->pdv) / sizeof(out->pdv[0]));
        out->pdv[out->npdv].pc_id = b[pos + 4];
        out->pdv[out->npdv].control = b[pos + 5];
        out->pdv[out->npdv].data = b + pos + 6;
        out->pdv[out->npdv].len = ilen - 2;
        out->npdv++;
        pos += 4 + ilen;
    }
    return PR_PASS;
}

int pr_dicom_parse_pdu(pr_dicom_pdu *out, pr_ctx *ctx, const uint8_t *buf, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (len < 6)
        return pr_fail(ctx, "truncated PDU (%zu bytes)", len);
    out->type = buf[0];
    uint32_t plen = be32(buf + 2);
    if (plen != len - 6)
        return pr_fail(ctx, "PDU length %u does not match the %zu bytes received", plen, len - 6);
    const uint8_t *b = buf + 6;
    size_t n = len - 6;
    switch (out->type) {
    case PR_PDU_ASSOCIATE_AC:
        return parse_ac(out, ctx, b, n);
    case PR_PDU_ASSOCIATE_RJ:
    case PR_PDU_ABORT:
        if (n != 4)
            return pr_fail(ctx, "%s PDU of %zu bytes (4 expected)",
                           out->type == PR_PDU_ABORT ? "A-ABORT" : "A-ASSOCIATE-RJ", n);
        out->result = b[1];
        out->source = b[2];
        out->reason = b[3];
        return PR_PASS;
    case PR_PDU_RELEASE_RQ:
    case PR_PDU_RELEASE_RP:
        if (n != 4)
            return pr_fail(ctx, "A-RELEASE PDU of %zu bytes (4 expected)", n);
        return PR_PASS;
    case PR_PDU_P_DATA:
        return parse_pdata(out, ctx, b, n);
    case PR_PDU_ASSOCIATE_RQ:
        return pr_fail(ctx, "the peer sent an A-ASSOCIATE-RQ (it is not a DICOM server)");
    default:
        return pr_fail(ctx, "unknown PDU type 0x%02x (is this port really DICOM?)", out->type);
    }
}

int pr_dicom_parse_command(pr_dicom_cmd *out, pr_ctx *ctx, const uint8_t *buf, size_t len)
{
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    uint32_t last = 0;
    int first = 1;
    while (pos < len) {
        if (len - pos < 8)
            return pr_fail(ctx, "command set: truncated element header");
        uint16_t group = le16(buf + pos), elem = le16(buf + pos + 2);
        uint32_t vlen = le32(buf + pos + 4);
        uint32_t tag = ((uint32_t)group << 16) | elem;
        if (group != 0x0000)
            return pr_fail(ctx, "command set: element (%04x,%04x) outside group 0000", group, elem);
        if (!first && tag <= last)
            return pr_fail(ctx, "command set: element (%04x,%04x) out of order", group, elem);
        if (vlen > len - pos - 8)
            return pr_fail(ctx, "command set: element (%04x,%04x) of %u bytes overruns", group,
                           elem, vlen);
        const uint8_t *v = buf + pos + 8;
        if (elem == 0x0100 || elem == 0x0120 || elem == 0x0900) {
            if (vlen != 2)
                return pr_fail(ctx, "command set: element (0000,%04x) of %u bytes (2 expected)",
                               elem, vlen);
            if (elem == 0x0100) {
                out->has_field = 1;
                out->command_field = le16(v);
            } else if (elem == 0x0120) {
                out->has_msgid = 1;
                out->msgid_responded = le16(v);
            } else {
                out->has_status = 1;
                out->status = le16(v);
            }
        }
        last = tag;
        first = 0;
        pos += 8 + (size_t)vlen;
    }
    if (!out->has_field)
        return pr_fail(ctx, "command set without a command field (0000,0100)");
    return PR_PASS;
}

void pr_dicom_reject_text(char *out, size_t outlen, uint8_t result, uint8_t source, uint8_t reason)
{
    const char *who, *why = NULL;
    switch (source) {
    case 1:
        who = "the called AE";
        switch (reason) {
        case 1: why = "no reason given"; break;
        case 2: why = "application context name not supported"; break;
        case 3: why = "calling AE title not recognised: declare our calling AE title on the "
                      "server, or set calling_ae";
            break;
        case 7: why = "called AE title not recognised: check called_ae, the AE title the "
                      "server answers to";
            break;
        }
        break;
    case 2:
        who = "the peer's association control (ACSE)";
        switch (reason) {
        case 1: why = "no reason given"; break;
        case 2: why = "protocol version not supported"; break;
        }
        break;
    case 3:
        who = "the peer's presentation layer";
        switch (reason) {
        case 1: why = "temporary congestion"; break;
        case 2: why = "local limit exceeded: too many associations"; break;
        }
        break;
    default:
        who = "the peer";
    }
    char whybuf[48];
    if (!why) {
        snprintf(whybuf, sizeof(whybuf), "reason %u", reason);
        why = whybuf;
    }
    snprintf(out, outlen, "association rejected %sby %s (%s)",
             result == 2 ? "for now " : (result == 1 ? "" : "(unknown result) "), who, why);
}

void pr_dicom_abort_text(char *out, size_t outlen, uint8_t source, uint8_t reason)
{
    static const char *const reasons[] = {"reason not specified", "unrecognised PDU",
                                          "unexpected PDU", "reserved",
                                          "unrecognised PDU parameter",
                                          "unexpected PDU parameter",
                                          "invalid PDU parameter value"};
    if (source == 2)
        snprintf(out, outlen, "association aborted by the peer's DICOM layer (%s)",
                 reason < sizeof(reasons) / sizeof(reasons[0]) ? reasons[reason] : "unknown reason");
    else
        snprintf(out, outlen, "association aborted by the called AE");
}

static const char *pc_result_text(uint8_t r)
{
    switch (r) {
    case 1: return "refused by the called AE (user rejection)";
    case 2: return "refused, no reason given";
    case 3: return "abstract syntax not supported: the server does not offer Verification (C-ECHO)";
    case 4: return "transfer syntax not supported: the server refuses Implicit VR Little Endian";
    default: return "refused with an unknown result";
    }
}

static const char *status_text(uint16_t s)
{
    if (s == 0x0000)
        return "success";
    if (s == 0x0110)
        return "processing failure";
    if (s == 0x0122)
        return "SOP class not supported";
    if (s == 0x0211)
        return "unrecognised operation";
    if (s == 0x0210)
        return "duplicate invocation";
    if ((s & 0xff00) == 0xa700)
        return "refused: out of resources";
    if ((s & 0xf000) == 0xc000)
        return "unable to process";
    if ((s & 0xf000) == 0xb000)
        return "warning";
    return "failure";
}

/* Read one PDU into buf (at most PR_DICOM_MAX_READ bytes) and parse it. */
static int read_pdu(pr_dicom_pdu *pdu, pr_ctx *ctx, const pr_io *io, uint8_t *buf,
                    const char *what)
{
    int err = pr_io_read_full(io, ctx, buf, 6, what);
    if (err != PR_PASS)
        return err;
    uint32_t plen = be32(buf + 2);
    if (plen > PR_DICOM_MAX_READ - 6)
        return pr_fail(ctx, "the peer sent a PDU of %u bytes, more than the %u accepted "
                            "(is this port really DICOM?)",
                       plen, PR_DICOM_MAX_READ);
    if ((err = pr_io_read_full(io, ctx, buf + 6, plen, what)) != PR_PASS)
        return err;
    return pr_dicom_parse_pdu(pdu, ctx, buf, 6 + (size_t)plen);
}

/* An A-ASSOCIATE-RJ or A-ABORT in words (PR_FAIL), or "unexpected PDU". */
static int unexpected(pr_ctx *ctx, const pr_dicom_pdu *pdu, const char *when)
{
    char t[200];
    if (pdu->type == PR_PDU_ASSOCIATE_RJ) {
        pr_dicom_reject_text(t, sizeof(t), pdu->result, pdu->source, pdu->reason);
        return pr_fail(ctx, "%s", t);
    }
    if (pdu->type == PR_PDU_ABORT) {
        pr_dicom_abort_text(t, sizeof(t), pdu->source, pdu->reason);
        return pr_fail(ctx, "%s %s", t, when);
    }
    return pr_fail(ctx, "unexpected PDU type 0x%02x %s", pdu->type, when);
}

int pr_dicom_echo(pr_ctx *ctx, const pr_io *io, const char *calling_ae, const char *called_ae)
{
    uint8_t out[512];
    uint8_t *buf = NULL, *cmd = NULL;
    size_t n = 0, cmdlen = 0;
    pr_dicom_pdu pdu;
    pr_dicom_cmd rsp;
    int err;
    uint16_t msgid = 1;

    if ((err = pr_dicom_build_associate_rq(out, sizeof(out), &n, calling_ae, called_ae)) < 0)
        return err;
    buf = malloc(PR_DICOM_MAX_READ);
    cmd = malloc(PR_DICOM_MAX_COMMAND);
    if (!buf || !cmd) {
        cr_error_set("out of memory");
        err = CR_ERROR;
        goto done;
    }
    if ((err = io->write(io->self, ctx, out, n)) != PR_PASS)
        goto done;
    if ((err = read_pdu(&pdu, ctx, io, buf, "before answering the association request")) !=
        PR_PASS)
        goto done;
    if (pdu.type != PR_PDU_ASSOCIATE_AC) {
        err = unexpected(ctx, &pdu, "in answer to the association request");
        goto done;
    }
    if (!pdu.pc_found) {
        err = pr_fail(ctx, "association accepted, but without an answer for the Verification "
                           "presentation context");
        goto done;
    }
    if (pdu.pc_result != 0) {
        err = pr_fail(ctx, "Verification (C-ECHO) %s", pc_result_text(pdu.pc_result));
        goto done;
    }
    if (!pdu.ts_implicit_le) {
        err = pr_fail(ctx, "the server accepted Verification with a transfer syntax that was not "
                           "proposed");
        goto done;
    }

    if ((err = pr_dicom_build_echo_rq(out, sizeof(out), &n, msgid)) < 0)
        goto done;
    if (pdu.peer_max_pdu != 0 && n - 6 > pdu.peer_max_pdu) {
        err = pr_fail(ctx, "the server accepts PDUs of %u bytes only", pdu.peer_max_pdu);
        goto done;
    }
    if ((err = io->write(io->self, ctx, out, n)) != PR_PASS)
        goto done;

    /* Collect the command fragments until the last one. */
    for (int last = 0; !last;) {
        if ((err = read_pdu(&pdu, ctx, io, buf, "before answering the C-ECHO")) != PR_PASS)
            goto done;
        if (pdu.type != PR_PDU_P_DATA) {
            err = unexpected(ctx, &pdu, "in answer to the C-ECHO");
            goto done;
        }
        for (size_t i = 0; i < pdu.npdv && !last; i++) {
            if (pdu.pdv[i].pc_id != PR_DICOM_PCID) {
                err = pr_fail(ctx, "C-ECHO answer on presentation context %u, not %u",
                              pdu.pdv[i].pc_id, PR_DICOM_PCID);
                goto done;
            }
            if (!(pdu.pdv[i].control & 0x01)) {
                err = pr_fail(ctx, "C-ECHO answered with a data set, not a command");
                goto done;
            }
            if (pdu.pdv[i].len > PR_DICOM_MAX_COMMAND - cmdlen) {
                err = pr_fail(ctx, "C-ECHO answer larger than %u bytes", PR_DICOM_MAX_COMMAND);
                goto done;
            }
            memcpy(cmd + cmdlen, pdu.pdv[i].data, pdu.pdv[i].len);
            cmdlen += pdu.pdv[i].len;
            last = (pdu.pdv[i].control & 0x02) != 0;
        }
    }
    if ((err = pr_dicom_parse_command(&rsp, ctx, cmd, cmdlen)) != PR_PASS)
        goto done;
    if (rsp.command_field != 0x8030) {
        err = pr_fail(ctx, "answer to the C-ECHO is command 0x%04x, not C-ECHO-RSP (0x8030)",
                      rsp.command_field);
        goto done;
    }
    if (!rsp.has_status) {
        err = pr_fail(ctx, "C-ECHO-RSP without a status");
        goto done;
    }
    if (rsp.has_msgid && rsp.msgid_responded != msgid) {
        err = pr_fail(ctx, "C-ECHO-RSP answers message %u, not ours (%u)", rsp.msgid_responded,
                      msgid);
        goto done;
    }
    if (rsp.status != 0x0000) {
        err = pr_fail(ctx, "C-ECHO status 0x%04x (%s)", rsp.status, status_text(rsp.status));
        goto done;
    }

    /* Release politely. The echo already succeeded: a peer that mishandles the
     * release is noted, not failed. */
    char okmsg[160];
    snprintf(okmsg, sizeof(okmsg), "C-ECHO status 0x0000 (success) in %.2f s",
             cr_time_mono() - ctx->start);
    static const uint8_t release[10] = {PR_PDU_RELEASE_RQ, 0, 0, 0, 0, 4, 0, 0, 0, 0};
    if (io->write(io->self, ctx, release, sizeof(release)) != PR_PASS ||
        read_pdu(&pdu, ctx, io, buf, "before answering the release") != PR_PASS ||
        pdu.type != PR_PDU_RELEASE_RP) {
        ctx->timed_out = 0;
        err = pr_pass(ctx, "%s (the release was not answered properly)", okmsg);
        goto done;
    }
    err = pr_pass(ctx, "%s", okmsg);
done:
    free(buf);
    free(cmd);
    return err;
}
