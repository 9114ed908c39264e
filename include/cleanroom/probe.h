/*
 * cleanroom: health probes — is a restored service really back?
 *
 * Each probe speaks the service's own protocol through the field's library
 * (libcurl for HTTP(S), libldap for LDAP, libpq for PostgreSQL, libresolv for
 * DNS, MIT libkrb5 for Kerberos, libsmbclient for SMB) or, where no
 * C library is packaged, a small client of our own (DICOM C-ECHO, HL7 v2 over
 * MLLP). A probe is tried up to `retries + 1` times, `interval` seconds apart,
 * each attempt bounded by `timeout` seconds; it never hangs longer than
 * (retries + 1) * (timeout + interval).
 */
#ifndef CLEANROOM_PROBE_H
#define CLEANROOM_PROBE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cr_probe_kind {
    CR_PROBE_TCP = 1,      /**< connect to host:port */
    CR_PROBE_HTTP = 2,     /**< GET url; status (default 200..399) and optional body match */
    CR_PROBE_LDAP = 3,     /**< bind (anonymous or DN + password) then search base/filter */
    CR_PROBE_POSTGRES = 4, /**< connect (conninfo) and run a query; optional expected value */
    CR_PROBE_DICOM = 5,    /**< A-ASSOCIATE + C-ECHO (Verification SOP class) */
    CR_PROBE_HL7 = 6,      /**< send an HL7 v2 message over MLLP, expect an ACK (MSA-1 AA or CA) */
    CR_PROBE_DNS = 7,      /**< ask a DNS server for A, AAAA or SRV records of a name */
    CR_PROBE_KERBEROS = 8, /**< AS exchange with a KDC: up (pre-authentication asked), or a TGT with a password */
    CR_PROBE_SMB = 9,      /**< list an SMB server's shares (anonymous or as a user); named shares present */
} cr_probe_kind;

/** A probe, as written in a plan (strings owned by the struct; NULL = not given). */
typedef struct cr_probe_spec {
    cr_probe_kind kind;
    char *name;          /**< label shown in reports (default: kind and target) */
    char *host;          /**< tcp, ldap (if no url), dicom, hl7; default "127.0.0.1" */
    unsigned int port;   /**< tcp, dicom (104), hl7 (2575); 0 = the protocol's default */
    char *url;           /**< http(s)://..., ldap(s)://... */
    int expect_status;   /**< http: exact status wanted; 0 = any 200..399 */
    char *expect_body;   /**< http: a substring the body must contain */
    char *ca_file;       /**< http, ldap: CA bundle to trust (TLS is always verified;
                              http never follows redirects: a 3xx is the answer) */
    char *bind_dn;       /**< ldap: NULL = anonymous */
    char *password_env;  /**< ldap, postgres, kerberos, smb: name of the environment variable holding the password
                              (never the password itself; a conninfo holding one is refused) */
    char *base;          /**< ldap: search base (subtree); NULL: read the root DSE */
    char *filter;        /**< ldap: search filter (default "(objectClass=*)") */
    unsigned int min_entries; /**< ldap: entries the search must return (default 1) */
    char *conninfo;      /**< postgres: libpq connection string ("host=... dbname=...") */
    char *query;         /**< postgres: default "SELECT 1" */
    char *expect;        /**< postgres: the first column of the first row must equal this;
                              dns: one record must be this address (A, AAAA) or target host (SRV) */
    char *calling_ae;    /**< dicom: default "CLEANROOM" */
    char *called_ae;     /**< dicom: default "ANY-SCP" */
    char *message;       /**< hl7: the message to send (segments separated by \r or \n); default a minimal ADT^A01 test message */
    char *record;        /**< dns: the name to ask for (e.g. "_ldap._tcp.dc._msdcs.example.org") */
    char *rrtype;        /**< dns: "A" (default), "AAAA" or "SRV" */
    char *realm;         /**< kerberos: the realm (e.g. "EXAMPLE.ORG") */
    char *principal;     /**< kerberos: the client principal without realm (default "Administrator") */
    char *user;          /**< smb: "DOMAIN\\user" or "user"; NULL = anonymous */
    char *shares;        /**< smb: comma-separated share names that must be listed (e.g. "SYSVOL,NETLOGON") */
    double timeout;      /**< seconds per attempt (default 5) */
    unsigned int retries;/**< extra attempts (default 2) */
    double interval;     /**< seconds between attempts (default 2) */
    unsigned int line, col; /**< where it is in the plan file (0 = unknown) */
} cr_probe_spec;

/**
 * Fill a spec with the defaults: everything NULL or 0 but `kind`, timeout 5 s,
 * retries 2, interval 2 s, min_entries 1. A spec that did not go through this
 * runs with what it holds (retries 0, interval 0 and min_entries 0 are valid
 * values; a timeout of 0 or less means 5 s).
 */
void cr_probe_spec_init(cr_probe_spec *spec, cr_probe_kind kind);

/** Release what a spec owns (not the struct); the spec can then be reused. Accepts NULL. */
void cr_probe_spec_clear(cr_probe_spec *spec);

/** "tcp", "http", "ldap", "postgres", "dicom", "hl7", "dns", "kerberos", "smb". */
const char *cr_probe_kind_name(cr_probe_kind k);
/** Parse a kind name (also "https", "postgresql", "pg", "mllp", "krb5", "cifs"). @return 0 or CR_EINPUT. */
int cr_probe_kind_parse(cr_probe_kind *out, const char *name);

/** Outcome of a probe. */
typedef struct cr_probe_result {
    int ok;              /**< 1 if the last attempt succeeded */
    unsigned int attempts;
    double seconds;      /**< total time spent */
    char message[512];   /**< what was seen, in words: "HTTP 200 in 0.03 s", "LDAP bind refused: Invalid credentials (49)" */
} cr_probe_result;

/**
 * Run a probe with its retries. Never blocks beyond its time bound.
 * @return 0 when the probe ran (result->ok says whether it passed);
 *         CR_EINPUT if the spec is incomplete (no url for http...); CR_EINTR
 *         if `cancel` became non-zero; an error.
 * @param cancel checked between attempts (may be NULL).
 */
int cr_probe_run(cr_probe_result *result, const cr_probe_spec *spec, const volatile int *cancel);

#ifdef __cplusplus
}
#endif
#endif
