/*
 * Private interfaces of the health probes (include/cleanroom/probe.h).
 *
 *   probe.c        cr_probe_run (attempts, retries, cancel), names, TCP,
 *                  HTTP(S) through libcurl, LDAP through libldap, PostgreSQL
 *                  through libpq
 *   probe_net.c    name resolution and connect bounded by a deadline, and a
 *                  byte stream (pr_io) over a socket with the same deadline
 *   probe_dicom.c  DICOM C-ECHO: our own PS3.8 upper-layer client and the
 *                  parser of what the peer sends back
 *   probe_hl7.c    HL7 v2 over MLLP: framing, the test message, the ACK parser
 *   probe_ad.c     a directory's services: DNS (libresolv), Kerberos (libkrb5),
 *                  SMB (libsmbclient)
 *
 * The DICOM and HL7 clients read the network through a pr_io, so that a
 * fuzzer can feed them any byte stream (fuzz/fuzz_dicom.c, fuzz/fuzz_hl7.c).
 * What comes from the network is untrusted: every length is checked against
 * what is left and against a fixed maximum before it is used.
 *
 * Internal functions of one attempt return PR_PASS (0), PR_FAIL (the probe
 * failed; the reason is in ctx->msg) or a negative CR_E* code (an error of
 * ours: out of memory, or CR_EINPUT for an incomplete spec, with
 * cr_error_set).
 */
#ifndef CR_RECOVER_PROBE_PRIV_H
#define CR_RECOVER_PROBE_PRIV_H

#include "cleanroom/probe.h"

#include <stddef.h>
#include <stdint.h>

#define PR_PASS 0
#define PR_FAIL 1

/** One attempt: its deadline and what it says. */
typedef struct pr_ctx {
    double start;     /**< cr_time_mono() when the attempt began */
    double deadline;  /**< cr_time_mono() value after which the attempt gives up */
    double timeout;   /**< the bound, seconds (for messages) */
    int timed_out;    /**< the failure was the deadline */
    char msg[400];    /**< what was seen, without the probe's label */
} pr_ctx;

/** Set ctx->msg (printf-style) and return PR_FAIL. */
int pr_fail(pr_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Set ctx->msg (printf-style) and return PR_PASS. */
int pr_pass(pr_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** "timed out after 5.0 s" (+ " while <what>" when what is not NULL); returns PR_FAIL. */
int pr_timeout(pr_ctx *ctx, const char *what);
/** Seconds left before the deadline (<= 0: past it). */
double pr_left(const pr_ctx *ctx);

/**
 * Copy untrusted text for a message: at most `max` bytes of src are shown,
 * control characters and bytes >= 0x80 become '?', "..." marks a cut.
 * out: outlen >= 4.
 */
void pr_clean_text(char *out, size_t outlen, const uint8_t *src, size_t srclen, size_t max);

/* ============================================================ probe.c */

/**
 * The address a probe tests: host and port (an http or ldap url's, a
 * postgres conninfo's, else host and port with the protocol's default).
 * *port = 0 when it tests no TCP address (a Unix socket, no url).
 * @return 0, or CR_ERROR (out of memory).
 */
int pr_probe_address(char *host, size_t hostlen, unsigned int *port, const cr_probe_spec *s);

/**
 * Whether something already accepts TCP connections at the address the
 * probe tests (one connect, at most `timeout` seconds). A recovery asks this
 * before a service's start command: a probe answered by a server that was
 * already there proves nothing about the restored copy.
 * @param[out] answered 1 if a connection was accepted.
 * @param[out] addr "host:port" tested ("" when the probe has no TCP address).
 * @return 0 (a refused or timed-out connect, an unknown name: *answered = 0),
 *         or an error.
 */
int pr_probe_answered(int *answered, char *addr, size_t addrlen, const cr_probe_spec *s,
                      double timeout);

/* ============================================================ probe_net.c */

/**
 * Resolve host (a numeric address or a name; the resolution itself is bounded
 * by the deadline) and connect to each address in turn until one accepts.
 * @param[out] fd a connected, non-blocking socket.
 * @return PR_PASS, PR_FAIL ("connection refused", "timed out after ...",
 *         "cannot resolve the name: ..."), or an error.
 */
int pr_net_connect(int *fd, pr_ctx *ctx, const char *host, unsigned int port);

/** A byte stream the DICOM and HL7 clients talk through. */
typedef struct pr_io {
    /**
     * Read up to len bytes (at least 1, unless the peer closed: *got = 0).
     * @return PR_PASS or PR_FAIL (reason in ctx->msg, timeout included).
     */
    int (*read)(void *self, pr_ctx *ctx, uint8_t *buf, size_t len, size_t *got);
    /** Write all len bytes. @return PR_PASS or PR_FAIL. */
    int (*write)(void *self, pr_ctx *ctx, const uint8_t *buf, size_t len);
    void *self;
} pr_io;

/** A pr_io over a connected non-blocking socket, bounded by ctx->deadline. */
void pr_io_socket(pr_io *io, int *fd);

/**
 * A pr_io that reads from memory and discards what is written (fuzzers, unit
 * tests). `self` must point to a pr_memio that outlives the pr_io.
 */
typedef struct pr_memio {
    const uint8_t *data;
    size_t len, pos;
    size_t chunk; /**< bytes per read at most (0: all that is left) */
    size_t written;
} pr_memio;
void pr_io_memory(pr_io *io, pr_memio *m);

/** Read exactly len bytes; a close before that is a failure. */
int pr_io_read_full(const pr_io *io, pr_ctx *ctx, uint8_t *buf, size_t len, const char *what);

/* ============================================================ probe_dicom.c */

#define PR_DICOM_UID_VERIFICATION "1.2.840.10008.1.1"
#define PR_DICOM_UID_APP_CONTEXT "1.2.840.10008.3.1.1.1"
#define PR_DICOM_UID_IMPLICIT_LE "1.2.840.10008.1.2"
/** The largest PDU we accept from a peer (we announce PR_DICOM_MAX_PDU for P-DATA). */
#define PR_DICOM_MAX_PDU 16384u
#define PR_DICOM_MAX_READ (64u * 1024)
/** The largest command set we reassemble from P-DATA fragments. */
#define PR_DICOM_MAX_COMMAND (64u * 1024)

enum {
    PR_PDU_ASSOCIATE_RQ = 0x01,
    PR_PDU_ASSOCIATE_AC = 0x02,
    PR_PDU_ASSOCIATE_RJ = 0x03,
    PR_PDU_P_DATA = 0x04,
    PR_PDU_RELEASE_RQ = 0x05,
    PR_PDU_RELEASE_RP = 0x06,
    PR_PDU_ABORT = 0x07,
};

/** What a peer's PDU says, as far as a C-ECHO client cares. */
typedef struct pr_dicom_pdu {
    uint8_t type;
    /* A-ASSOCIATE-AC */
    int pc_found;          /**< a presentation context item with our id was there */
    uint8_t pc_result;     /**< its result: 0 acceptance .. 4 transfer syntaxes not supported */
    int ts_implicit_le;    /**< the accepted transfer syntax is Implicit VR Little Endian */
    uint32_t peer_max_pdu; /**< the peer's maximum length (0: none, unlimited) */
    /* A-ASSOCIATE-RJ and A-ABORT */
    uint8_t result, source, reason;
    /* P-DATA-TF: the PDVs, borrowed from the input */
    size_t npdv;
    struct {
        uint8_t pc_id, control; /**< control bit 0: command, bit 1: last fragment */
        const uint8_t *data;
        size_t len;
    } pdv[16];
} pr_dicom_pdu;

/**
 * Parse one whole PDU (6-byte header included; `len` must equal 6 + its
 * length field). Every item and sub-item length is checked.
 * @return PR_PASS, or PR_FAIL with the reason in ctx->msg.
 */
int pr_dicom_parse_pdu(pr_dicom_pdu *out, pr_ctx *ctx, const uint8_t *buf, size_t len);

/** What a DIMSE response command set says. */
typedef struct pr_dicom_cmd {
    int has_field, has_status, has_msgid;
    uint16_t command_field;   /**< (0000,0100): 0x8030 for C-ECHO-RSP */
    uint16_t msgid_responded; /**< (0000,0120) */
    uint16_t status;          /**< (0000,0900) */
} pr_dicom_cmd;

/**
 * Parse a command set in Implicit VR Little Endian (group 0000 only, elements
 * in increasing order, lengths within the input).
 * @return PR_PASS, or PR_FAIL with the reason in ctx->msg.
 */
int pr_dicom_parse_command(pr_dicom_cmd *out, pr_ctx *ctx, const uint8_t *buf, size_t len);

/** Check an AE title (1 to 16 printable characters, no backslash). @return 0 or CR_EINPUT. */
int pr_dicom_check_ae(const char *ae, const char *which);

/** A-ASSOCIATE-RQ for the Verification SOP class. @return 0 or an error (no memory, AE too long). */
int pr_dicom_build_associate_rq(uint8_t *out, size_t outlen, size_t *written,
                                const char *calling_ae, const char *called_ae);
/** P-DATA-TF holding the C-ECHO-RQ command. */
int pr_dicom_build_echo_rq(uint8_t *out, size_t outlen, size_t *written, uint16_t msgid);

/** Words for an A-ASSOCIATE-RJ ("rejected permanently by the called AE (called AE title not recognised)"). */
void pr_dicom_reject_text(char *out, size_t outlen, uint8_t result, uint8_t source, uint8_t reason);
/** Words for an A-ABORT. */
void pr_dicom_abort_text(char *out, size_t outlen, uint8_t source, uint8_t reason);

/**
 * The C-ECHO conversation over io: associate, echo, release.
 * @return PR_PASS ("C-ECHO status 0x0000 (success)") or PR_FAIL, or an error.
 */
int pr_dicom_echo(pr_ctx *ctx, const pr_io *io, const char *calling_ae, const char *called_ae);

/* ============================================================ probe_hl7.c */

#define PR_MLLP_START 0x0b
#define PR_MLLP_END1 0x1c
#define PR_MLLP_END2 0x0d
/** The largest ACK frame we read. */
#define PR_HL7_MAX_FRAME (64u * 1024)
/** The largest message we send. */
#define PR_HL7_MAX_MESSAGE (1024u * 1024)

/** What an ACK says. */
typedef struct pr_hl7_ack {
    char code[3];          /**< MSA-1: "AA", "AE", "AR", "CA", "CE", "CR" */
    char control_id[200];  /**< MSA-2, cleaned */
    char text[200];        /**< MSA-3 (or ERR text when MSA-3 is empty), cleaned */
} pr_hl7_ack;

/**
 * Parse an HL7 v2 ACK (without the MLLP frame): the first segment must be MSH
 * (its 4th byte is the field separator), an MSA segment must follow.
 * Segments end with CR (LF and CR LF are accepted too).
 * @return PR_PASS (parsed; the code is not judged), or PR_FAIL.
 */
int pr_hl7_parse_ack(pr_hl7_ack *out, pr_ctx *ctx, const uint8_t *buf, size_t len);

/**
 * Read one MLLP frame (VT ... FS CR) of at most PR_HL7_MAX_FRAME bytes.
 * @param[out] out malloc'd content without the frame bytes; *outlen its length.
 */
int pr_hl7_read_frame(uint8_t **out, size_t *outlen, pr_ctx *ctx, const pr_io *io);

/**
 * The message to send: `message` (from the plan; "\n" or "\r\n" become "\r")
 * or the default test message, with MSH-10 set to `control_id`.
 * @param[out] out malloc'd, *outlen bytes (no NUL inside).
 * @return 0, or CR_EINPUT (does not start with MSH, too large), or an error.
 */
int pr_hl7_build_message(char **out, size_t *outlen, const char *message, const char *control_id);

/**
 * Send the message over io in an MLLP frame and judge the ACK: AA or CA pass;
 * AE, AR, CE, CR fail with MSA-3; MSA-2 must equal control_id.
 */
int pr_hl7_exchange(pr_ctx *ctx, const pr_io *io, const uint8_t *msg, size_t msglen,
                    const char *control_id);

/* ============================================================ probe_ad.c */

/** "A", "AAAA", "SRV" (any case) to ns_t_a, ns_t_aaaa, ns_t_srv. @return 0 or CR_EINPUT. */
int pr_dns_type_parse(int *out, const char *name);

/**
 * Judge a DNS answer to our query `id` for `name` of `type`: a response with
 * that id, RCODE NOERROR, at least one record of the type in the answer
 * section, and (expect != NULL) one equal to expect (an address for A/AAAA,
 * the target host, or host:port, for SRV).
 * @return PR_PASS or PR_FAIL (reason in ctx->msg).
 */
int pr_dns_judge(pr_ctx *ctx, const uint8_t *ans, size_t len, uint16_t id, const char *name,
                 int type, const char *expect);

/** The dns probe: s->record of type s->rrtype asked to the IPv4 server s->host:s->port (53). */
int pr_run_dns(pr_ctx *ctx, const cr_probe_spec *s);
/** The kerberos probe (password NULL: is the KDC up for the realm and the principal?). */
int pr_run_kerberos(pr_ctx *ctx, const cr_probe_spec *s, const char *password);
/** The smb probe (password for s->user; NULL with no user: anonymous). */
int pr_run_smb(pr_ctx *ctx, const cr_probe_spec *s, const char *password);

#endif
