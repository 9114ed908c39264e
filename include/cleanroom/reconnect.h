/*
 * cleanroom: before reconnection — what a restore point has installed
 * (`cleanroom inventory`) and which known-exploited vulnerabilities it holds
 * (`cleanroom vulns`, the `gate: {kev: ...}` of recovery plans).
 *
 * Everything is read from the snapshot in the vault, never from a running
 * system: a restored server can be judged before it is started. The
 * vulnerability data is offline and dated: CISA's Known Exploited
 * Vulnerabilities catalog (KEV), cleanroom's curated rules that tie a KEV
 * entry to a detector and its fixed versions, and the Debian security
 * tracker's per-release fixed versions (debsecan's format). A dated copy of
 * each ships in the rules/ folder (rules/reconnect/); `kev import` and
 * `advisories import` replace them with files brought on a USB key.
 */
#ifndef CLEANROOM_RECONNECT_H
#define CLEANROOM_RECONNECT_H

#include "common.h"
#include "ops.h"
#include "repo.h"
#include "snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- inventory */

/** Where an installed item was found. */
typedef enum cr_inv_kind {
    CR_INV_DEB = 1,     /**< a Debian/Ubuntu package (dpkg status) */
    CR_INV_RPM = 2,     /**< an RPM package (not read yet: see docs/commands/inventory.md) */
    CR_INV_WINDOWS = 3, /**< a program of the SOFTWARE hive's Uninstall keys */
    CR_INV_APP = 4,     /**< an application found by a detector (files it reads) */
} cr_inv_kind;

/** One installed item. Strings are valid UTF-8 without control characters. */
typedef struct cr_inv_item {
    cr_inv_kind kind;
    char *name;           /**< package name, DisplayName, or the detector's product name */
    char *version;        /**< as installed ("1:9.2p1-2+deb12u1", "8.8.15.p31"), or NULL */
    char *product;        /**< detector id ("zimbra", "openssh", ...) when a detector knows
                               it, else NULL */
    char *source;         /**< CR_INV_DEB: the source package, else NULL */
    char *source_version; /**< CR_INV_DEB: the source package's version */
    char *arch;           /**< CR_INV_DEB: architecture; CR_INV_WINDOWS: "64-bit"/"32-bit" */
    char *evidence;       /**< the file (and key) it was read from, a full snapshot path */
} cr_inv_item;

typedef struct cr_inventory {
    char *os;            /**< "Debian GNU/Linux 12 (bookworm)", "Windows 10 Pro 22H2", or NULL */
    char *suite;         /**< Debian release codename ("bookworm"), or NULL */
    char *windows_build; /**< "19045.3803" (CurrentBuild.UBR), or NULL */
    char *root;          /**< the system root in the snapshot */
    cr_inv_item *items;
    size_t nitems;
    char **warnings; /**< what could not be read (a damaged hive, ...) */
    size_t nwarnings;
} cr_inventory;

/**
 * What `snap` has installed: dpkg packages, Windows programs and build
 * (SOFTWARE hive, read in the parser sandbox), and the applications the
 * detectors recognise (docs/commands/inventory.md lists them with the
 * files they read). A file that cannot be read is a warning, not a failure.
 * @return 0; CR_ENOTFOUND (no system root recognised); an error.
 */
int cr_inventory_load(cr_inventory **out, cr_repo *repo, const cr_snapshot *snap);
void cr_inventory_free(cr_inventory *inv);
/** "deb", "rpm", "windows", "app". */
const char *cr_inv_kind_name(cr_inv_kind k);

/* ------------------------------------------------------ vulnerability data */

typedef struct cr_vulndata cr_vulndata;

#define CR_VULNDATA_OPTIONS_VERSION 1
typedef struct cr_vulndata_options {
    unsigned int version;
    const char *builtin_dir; /**< the shipped rules/ folder (its reconnect/ holds the data) */
    const char *data_dir;    /**< where imports are kept (kev.json, advisories/SUITE); may be NULL */
} cr_vulndata_options;
#define CR_VULNDATA_OPTIONS_INIT {CR_VULNDATA_OPTIONS_VERSION, NULL, NULL}

/** The age of each piece of data, to print with every answer. */
typedef struct cr_vulndata_info {
    const char *kev_version;  /**< catalogVersion */
    const char *kev_released; /**< dateReleased */
    size_t kev_count;
    int kev_imported;        /**< 0: the shipped excerpt; 1: a full catalog imported */
    const char *kev_file;    /**< the file read */
    size_t nrules;           /**< curated rules */
    const char *rules_date;  /**< the date written in the rules file */
    size_t nsuites;          /**< Debian releases with advisories */
    const char *const *suites;
    const char *const *suite_dates; /**< date of each suite's data */
    const int *suite_imported;
} cr_vulndata_info;

/**
 * Load the KEV catalog, the curated rules and the Debian advisories: each
 * from data_dir when imported there, else the shipped copy under builtin_dir.
 * @return 0; CR_ENOTFOUND (no data at all); CR_ECORRUPT (a file is damaged); an error.
 */
int cr_vulndata_load(cr_vulndata **out, const cr_vulndata_options *opts);
void cr_vulndata_free(cr_vulndata *d);
void cr_vulndata_about(cr_vulndata_info *out, const cr_vulndata *d);

/**
 * Check a KEV catalog file (CISA's JSON format: catalogVersion, dateReleased,
 * count, vulnerabilities[] with cveID and knownRansomwareCampaignUse) and
 * keep it as data_dir/kev.json (written atomically), replacing the previous
 * one. A catalog older than the one in use is refused unless `force`.
 * @param[out] count the number of entries imported (may be NULL)
 * @return 0; CR_ECORRUPT (not a valid catalog: nothing replaced); CR_EREFUSED
 *         (older than the data in use); an error.
 */
int cr_kev_import(size_t *count, const char *data_dir, const char *builtin_dir, const char *file,
                  int force);

/**
 * Check a Debian security tracker file in debsecan's format (as fetched from
 * security-tracker.debian.org/tracker/debsecan/release/1/SUITE, zlib-compressed
 * or not) and keep it as data_dir/advisories/SUITE with its date
 * ("YYYY-MM-DD": the day it was downloaded).
 * @return 0; CR_EINPUT (bad suite name or date); CR_ECORRUPT; an error.
 */
int cr_advisories_import(size_t *count, const char *data_dir, const char *file, const char *suite,
                         const char *date);

/* -------------------------------------------------------------- matching */

/** One vulnerability an installed item holds. */
typedef struct cr_vuln_match {
    char *cve;           /**< "CVE-2022-37042" */
    int kev;             /**< 1: in the KEV catalog (known exploited) */
    int ransomware;      /**< 1: KEV says knownRansomwareCampaignUse "Known" */
    int uncertain;       /**< 1: no curated fixed version decides it (a product match only) */
    char *title;         /**< KEV vulnerabilityName, or the tracker's description */
    char *product;       /**< what matched: package or product name */
    char *installed;     /**< the installed version */
    char *fixed;         /**< the fixed version(s), "" when none is known */
    char *evidence;      /**< the snapshot file it was read from */
    char *data;          /**< "kev-rule", "debian-tracker" */
} cr_vuln_match;

/**
 * The vulnerabilities of an inventory: curated KEV rules against detected
 * products and Windows programs, Debian advisories of inv->suite against
 * dpkg packages (marked kev when the CVE is in the KEV catalog). Sorted:
 * ransomware first, then KEV, then by CVE.
 */
int cr_vulns_match(cr_vuln_match **out, size_t *count, const cr_vulndata *d,
                   const cr_inventory *inv);
void cr_vuln_matches_free(cr_vuln_match *m, size_t n);

/**
 * Compare two versions with Debian's rules (Debian Policy 5.6.12: epoch,
 * upstream version, revision; '~' sorts before anything, even the end).
 * Also used for the products' versions the detectors give.
 * @return <0, 0, >0.
 */
int cr_version_compare(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
