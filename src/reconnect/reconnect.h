/*
 * Private interface of src/reconnect: the parsers of the offline vulnerability
 * data (exposed for the unit tests and the fuzz targets) and the detectors'
 * version readers.
 *
 *   version.c    Debian version comparison (cr_version_compare)
 *   vulndata.c   KEV catalog, curated rules, Debian advisories: parse, load, import
 *   match.c      an inventory against the data (cr_vulns_match)
 *   inventory.c  what a snapshot has installed (cr_inventory_load)
 *   detect.c     the application detectors' readers of one file each
 */
#ifndef CR_RECONNECT_PRIV_H
#define CR_RECONNECT_PRIV_H

#include "cleanroom/reconnect.h"
#include "hunt/hunt.h"
#include "util/util.h"

#include <stddef.h>

/* Bounds on untrusted data files (a KEV catalog is ~1.5 MB, a tracker file ~5 MB). */
#define RC_MAX_KEV_FILE (64u << 20)
#define RC_MAX_ADV_FILE (256u << 20) /* decompressed */
#define RC_MAX_RULES_FILE (4u << 20)
#define RC_MAX_ENTRIES 2000000u
#define RC_MAX_FIELD 4096u

typedef struct rc_kev {
    char *cve, *vendor, *product, *name, *added;
    int ransomware;
} rc_kev;

typedef struct rc_kev_set {
    char *version, *released;
    rc_kev *v; /* sorted by cve */
    size_t n;
} rc_kev_set;

/** Parse a KEV catalog (CISA JSON). @return 0; CR_ECORRUPT with a message. */
int rc_kev_parse(rc_kev_set *out, const void *data, size_t len);
void rc_kev_clear(rc_kev_set *k);
const rc_kev *rc_kev_find(const rc_kev_set *k, const char *cve);

typedef struct rc_rule {
    char *cve, *product, *branch, *fixed; /* branch "*": any; fixed NULL: none known */
} rc_rule;

typedef struct rc_rules {
    char *date;
    rc_rule *v;
    size_t n;
} rc_rules;

/** Parse the curated rules (rules/reconnect/kev-rules.txt). @return 0; CR_ECORRUPT. */
int rc_rules_parse(rc_rules *out, const void *data, size_t len);
void rc_rules_clear(rc_rules *r);

typedef struct rc_adv {
    char *package;  /* source package, or binary when binary = 1 */
    uint32_t vuln;  /* index into names */
    int binary;
    int fix;        /* a fix is available */
    char *unstable; /* fixed version in unstable, or NULL */
    char **other;   /* other fixed versions */
    size_t nother;
} rc_adv;

typedef struct rc_advisories {
    char *suite, *date;
    int imported;
    char **names, **descs; /* CVE (or DSA/TEMP) names and descriptions */
    size_t nnames;
    rc_adv *v; /* sorted by package */
    size_t n;
} rc_advisories;

/**
 * Parse debsecan data (the plain text after zlib decompression; compressed
 * input is inflated first, at most RC_MAX_ADV_FILE bytes). @return 0; CR_ECORRUPT.
 */
int rc_adv_parse(rc_advisories *out, const void *data, size_t len);
void rc_adv_clear(rc_advisories *a);

const rc_kev_set *rc_vulndata_kev(const cr_vulndata *d);
const rc_rules *rc_vulndata_rules(const cr_vulndata *d);
/** The advisories of a Debian release, or NULL. */
const rc_advisories *rc_vulndata_suite(const cr_vulndata *d, const char *suite);

/** A version a detector read from a file's bytes; NULL when the file does not tell. */
char *rc_detect_version(const char *detector, const void *data, size_t len);

#endif
